#[dotrpc::rpc_api]
pub trait Counter {
    async fn consume(self) -> u64;
}

fn main() {}
