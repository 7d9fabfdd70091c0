//! A dotrpc peer serving over its own stdin/stdout, the child in the stdio
//! transport tests. It serves the shared scenario API and exits when its stdin
//! closes.

#[path = "scenario.rs"]
mod scenario;

use dotrpc::Peer;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let peer = Peer::builder().router(scenario::server_router()).stdio();
    peer.closed().await;
}
