//! A dotrpc peer serving over its own stdin/stdout, the child in the stdio
//! transport tests. It serves the shared scenario API and exits when its stdin
//! closes.
//!
//! With `--chatty` it also sends `tick` events to its parent as fast as the
//! parent reads them, and at the end prints why its connection closed to
//! stderr (`closed: <reason>`): a test closes the parent's end mid-stream and
//! checks what the child saw.

#[path = "scenario.rs"]
mod scenario;

use dotrpc::Peer;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let peer = Peer::builder().router(scenario::server_router()).stdio();
    if std::env::args().any(|arg| arg == "--chatty") {
        let ticker = peer.clone();
        tokio::spawn(async move {
            let mut n = 0u64;
            while ticker.notify("tick", (n,)).await.is_ok() {
                n += 1;
            }
        });
        let reason = peer.closed().await;
        eprintln!("closed: {reason}");
    } else {
        peer.closed().await;
    }
}
