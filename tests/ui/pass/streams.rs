//! Stream params in both forms: the answer (`ItemSink`) and the input
//! (`ItemReceiver`), anywhere among the wire params, with a context first.

use dotrpc::{CallContext, ItemReceiver, ItemSink, ItemStream, Peer, Upload};

#[dotrpc::rpc_api]
pub trait Feeds {
    async fn ticks(&self, every_ms: u64, out: ItemSink<u64>, limit: u32) -> Result<(), String>;
    async fn total(&self, ctx: CallContext, input: ItemReceiver<i64>) -> i64;
}

pub struct Counter;

#[dotrpc::rpc_api]
impl Counter {
    async fn up(&self, mut out: ItemSink<String>) {
        let _ = out.send(&"one".to_owned()).await;
    }
}

fn main() {
    fn typed(peer: Peer) {
        let feeds = peer.client::<FeedsClient>();
        let _: ItemStream<u64, String> = feeds.ticks(10, 3);
        let _: Upload<i64, i64> = feeds.total();
        let _: ItemStream<String> = peer.client::<CounterClient>().up();
    }
    let _ = typed;
}
