//! A generated client's `with_timeout`, `peer` and `describe` need no
//! import of `dotrpc::client::ApiClient`; an API whose own methods have those names
//! keeps them (the helpers stay reachable through the trait).
#![deny(warnings)]

use std::time::Duration;

#[dotrpc::rpc_api]
pub trait Store {
    async fn get(&self, key: String) -> Option<String>;
}

#[dotrpc::rpc_api]
pub trait Odd {
    async fn peer(&self) -> String;
    async fn with_timeout(&self, ms: u64) -> u64;
    async fn describe(&self) -> String;
}

pub fn store(peer: &dotrpc::Peer) -> StoreClient {
    let store = peer
        .client::<StoreClient>()
        .with_timeout(Duration::from_secs(1));
    let _: &dotrpc::Peer = store.peer();
    let described: dotrpc::Description = StoreClient::describe("");
    assert_eq!(described.methods[0].path, "get");
    store
}

pub fn odd(
    peer: &dotrpc::Peer,
) -> (
    dotrpc::Call<String>,
    dotrpc::Call<u64>,
    dotrpc::Call<String>,
    OddClient,
) {
    let odd = peer.client::<OddClient>();
    let timed = dotrpc::client::ApiClient::with_timeout(odd.clone(), Duration::from_secs(1));
    let _ = <OddClient as dotrpc::client::ApiClient>::describe("");
    (odd.peer(), odd.with_timeout(5), odd.describe(), timed)
}

fn main() {}
