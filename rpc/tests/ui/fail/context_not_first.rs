use dotrpc::CallContext;

#[dotrpc::rpc_api]
pub trait Log {
    async fn line(&self, text: String, ctx: CallContext);
}

fn main() {}
