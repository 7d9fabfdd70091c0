#[dotrpc::rpc_api]
pub trait Log {
    #[rpc(event)]
    async fn line(&self, text: String) -> bool;
}

fn main() {}
