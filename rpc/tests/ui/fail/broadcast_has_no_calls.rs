// A broadcast stub sends events only: a reply comes from one peer, so a call
// goes through one peer's client.

#[dotrpc::rpc_api]
pub trait Feed {
    #[rpc(event)]
    async fn news(&self, line: String);
    async fn subscribers(&self) -> u64;
}

fn main() {
    let group = dotrpc::Group::new();
    let _ = group.broadcast::<FeedClient>().news("fine".into());
    let _ = group.broadcast::<FeedClient>().subscribers();
}
