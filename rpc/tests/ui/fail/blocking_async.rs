#[dotrpc::rpc_api]
pub trait Disk {
    #[rpc(blocking)]
    async fn read(&self, path: String) -> Vec<u8>;
}

fn main() {}
