//! Stream params in both forms: the answer (`ItemSink`) and the input
//! (`ItemReceiver`), or both, anywhere among the wire params, with a
//! context first.

use dotrpc::{CallContext, Conversation, ItemReceiver, ItemSink, ItemStream, Peer, Upload};

#[dotrpc::rpc_api]
pub trait Feeds {
    async fn ticks(&self, every_ms: u64, out: ItemSink<u64>, limit: u32) -> Result<(), String>;
    async fn total(&self, ctx: CallContext, input: ItemReceiver<i64>) -> i64;
    /// Both ways: a conversation.
    async fn echo(&self, input: ItemReceiver<String>, out: ItemSink<String>);
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
        let _: Conversation<String, String> = feeds.echo();
        let _: ItemStream<String> = peer.client::<CounterClient>().up();
    }
    let _ = typed;
}
