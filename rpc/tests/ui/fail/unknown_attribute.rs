#[dotrpc::rpc_api]
pub trait Log {
    #[rpc(evnet)]
    async fn line(&self, text: String);
}

fn main() {}
