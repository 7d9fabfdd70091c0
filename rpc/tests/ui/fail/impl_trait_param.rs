#[dotrpc::rpc_api]
pub trait Greeter {
    async fn greet(&self, name: impl Into<String>) -> String;
}

fn main() {}
