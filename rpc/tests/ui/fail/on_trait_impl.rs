#[dotrpc::rpc_api]
pub trait Log {
    async fn line(&self, text: String);
}

struct MyLog;

#[dotrpc::rpc_api]
impl Log for MyLog {
    async fn line(&self, _text: String) {}
}

fn main() {}
