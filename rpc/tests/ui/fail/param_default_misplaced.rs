#[dotrpc::rpc_api]
pub trait Calc {
    fn scale(&self, #[rpc(default)] factor: u8, value: u8) -> u8;
    fn page(&self, query: String, #[rpc(defualt)] size: u8) -> u8;
    async fn feed(&self, #[rpc(default)] out: dotrpc::ItemSink<u8>);
}

fn main() {}
