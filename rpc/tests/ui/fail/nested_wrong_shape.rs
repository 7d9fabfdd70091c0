#[dotrpc::rpc_api]
pub trait Outer {
    #[rpc(nested)]
    fn inner(&self) -> u32;
}

fn main() {}
