use dotrpc::ItemSink;

#[dotrpc::rpc_api]
pub trait Feeds {
    /// Two answer streams: one each way at most.
    async fn both(&self, out: ItemSink<u64>, more: ItemSink<u64>);
    /// Sending waits: a stream method is async.
    fn plain(&self, out: ItemSink<u64>);
    /// An event has no caller to stream with.
    #[rpc(event)]
    async fn event(&self, out: ItemSink<u64>);
    /// The items are the answer: no other result.
    async fn answer(&self, out: ItemSink<u64>) -> u64;
    /// Never sent again.
    #[rpc(idempotent)]
    async fn again(&self, out: ItemSink<u64>) -> Result<(), String>;
}

fn main() {}
