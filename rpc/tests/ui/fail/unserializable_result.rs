// A result crosses the wire too.

pub struct Handle(std::fs::File);

#[dotrpc::rpc_api]
pub trait Files {
    fn open(&self, path: String) -> Handle;
}

fn main() {}
