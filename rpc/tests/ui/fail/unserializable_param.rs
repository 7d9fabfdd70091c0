pub struct NotSerde;

#[dotrpc::rpc_api]
pub trait Log {
    async fn line(&self, text: NotSerde);
}

fn main() {}
