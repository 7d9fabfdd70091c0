#[dotrpc::rpc_api]
pub struct Log;

fn main() {}
