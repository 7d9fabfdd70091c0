// A group (or a server) sends an API's events to many peers: what it gives
// is a broadcast, and the method says so. One peer's client comes from that
// peer: `peer.client::<FeedClient>()`.

#[dotrpc::rpc_api]
pub trait Feed {
    #[rpc(event)]
    async fn news(&self, line: String);
}

fn main() {
    let group = dotrpc::Group::new();
    let _: FeedBroadcast = group.broadcast::<FeedClient>();
    let _ = group.client::<FeedClient>();
}
