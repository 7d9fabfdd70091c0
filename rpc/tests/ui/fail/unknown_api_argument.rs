#[dotrpc::rpc_api(prefix = "x")]
pub trait Log {
    async fn line(&self, text: String);
}

fn main() {}
