// `idempotent` is for calls: not for events (no reply, never sent again) and
// not for nested accessors.

#[dotrpc::rpc_api]
pub trait Store {
    #[rpc(event, idempotent)]
    async fn log(&self, line: String);
    #[rpc(nested, idempotent)]
    fn inner(&self) -> &impl Inner;
}

#[dotrpc::rpc_api]
pub trait Inner {
    #[rpc(idempotent)]
    async fn get(&self) -> u64;
}

fn main() {}
