//! A generated client's `with_timeout` and `peer` need no import of
//! `dotrpc::ApiClient`; an API whose own methods have those names keeps them
//! (the helpers stay reachable through the trait).
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
}

pub fn store(peer: &dotrpc::Peer) -> StoreClient {
    let store = peer
        .client::<StoreClient>()
        .with_timeout(Duration::from_secs(1));
    let _: &dotrpc::Peer = store.peer();
    store
}

pub fn odd(peer: &dotrpc::Peer) -> (dotrpc::Call<String>, dotrpc::Call<u64>, OddClient) {
    let odd = peer.client::<OddClient>();
    let timed = dotrpc::ApiClient::with_timeout(odd.clone(), Duration::from_secs(1));
    (odd.peer(), odd.with_timeout(5), timed)
}

fn main() {}
