//! Helpers shared by the integration tests.

#![allow(dead_code, unreachable_pub)]

#[path = "scenario.rs"]
pub mod scenario;

#[path = "../../examples/demo_server/api.rs"]
pub mod demo;

#[path = "../../nats/src/test_server.rs"]
pub mod nats;

#[path = "otel.rs"]
pub mod otel;

#[path = "streams.rs"]
pub mod streams;

use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use dotrpc::{Peer, Router, Server};
use tokio::sync::mpsc;

/// Runs one of the project's install scripts (`scripts/NAME`), which print
/// what they installed; fails the test, saying what it `needs`, if the
/// script does.
pub fn installed(name: &str, needs: &str) -> String {
    let root = env!("CARGO_MANIFEST_DIR");
    let output = std::process::Command::new(format!("{root}/scripts/{name}"))
        .output()
        .unwrap_or_else(|e| panic!("run scripts/{name}: {e}"));
    assert!(
        output.status.success(),
        "scripts/{name} failed; {needs}:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// Builds the TypeScript client (`clients/typescript`) with the project's
/// script; returns its folder.
pub fn typescript_client() -> String {
    installed("typescript.sh", "the TypeScript client needs node and npm")
}

/// The project's pinned Python environment's python, made on first use.
pub fn python() -> std::path::PathBuf {
    installed(
        "python-env.sh",
        "the Python tests need python3 with venv and pip",
    )
    .into()
}

/// Every await that could hang in a test is bounded by this.
pub const LIMIT: Duration = Duration::from_secs(10);

/// Awaits `future`, failing the test if it takes longer than [`LIMIT`].
pub async fn bounded<T>(future: impl IntoFuture<Output = T>) -> T {
    tokio::time::timeout(LIMIT, future)
        .await
        .expect("the test timed out")
}

/// Streams the demo API's way on `client`: `count(n)` with a window of 4,
/// then an upload of `1..=up_to` to `sum`; checks every item and the total.
pub async fn count_then_sum(client: &Peer, n: u64, up_to: i64) {
    let demo = client.client::<demo::DemoClient>();
    let mut count = demo.count(n, 0).window(4);
    let mut items = Vec::new();
    while let Some(item) = bounded(count.next()).await {
        items.push(item.unwrap());
    }
    assert_eq!(items, (0..n).collect::<Vec<_>>());
    let mut sum = demo.sum();
    for i in 1..=up_to {
        bounded(sum.send(&i)).await.unwrap();
    }
    assert_eq!(sum.sent(), up_to as u64);
    assert_eq!(
        bounded(sum.finish()).await.unwrap(),
        up_to * (up_to + 1) / 2
    );
}

/// Waits (bounded) until no task spawned on this test's runtime is alive:
/// what a test calls after closing everything, to prove nothing leaked.
pub async fn no_tasks_left() {
    let metrics = tokio::runtime::Handle::current().metrics();
    let settled = tokio::time::timeout(LIMIT, async {
        while metrics.num_alive_tasks() > 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    assert!(
        settled.is_ok(),
        "{} tasks still alive",
        metrics.num_alive_tasks()
    );
}

/// Reads `n` whole msgpack messages from a raw socket.
pub async fn read_messages(stream: &mut tokio::net::TcpStream, n: usize) -> Vec<dotrpc::Value> {
    use tokio::io::AsyncReadExt;
    let mut decoder = dotrpc::transport::FrameDecoder::default();
    let mut buffer = bytes::BytesMut::new();
    let mut messages = Vec::new();
    bounded(async {
        while messages.len() < n {
            while let Some(frame) = decoder.decode(&mut buffer).unwrap() {
                messages.push(rmpv::decode::read_value(&mut &frame[..]).unwrap());
            }
            if messages.len() < n {
                let read = stream.read_buf(&mut buffer).await.unwrap();
                assert!(read > 0, "closed after {} messages", messages.len());
            }
        }
    })
    .await;
    messages
}

/// Waits (bounded) for the first disconnect reason a test recorded.
pub async fn first_reason(
    reasons: &std::sync::Mutex<Vec<dotrpc::error::DisconnectReason>>,
) -> dotrpc::error::DisconnectReason {
    bounded(async {
        loop {
            if let Some(reason) = reasons.lock().unwrap().first().cloned() {
                return reason;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
}

/// A server on 127.0.0.1 with an ephemeral port.
pub async fn tcp_server(router: Arc<Router>) -> Server {
    Server::builder(Peer::builder().router(router))
        .bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0")
}

/// The port-bearing address of a TCP server.
/// An error and every cause under it, as a person reads them.
#[allow(dead_code)]
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        text = format!("{text}: {error}");
        cause = error.source();
    }
    text
}

pub fn addr(server: &Server) -> std::net::SocketAddr {
    server.local_addr().as_tcp().expect("a TCP server")
}

/// The client side of the scenario: serves `parent.name` and forwards `pong`
/// notifications into the returned channel.
pub fn client_builder() -> (dotrpc::PeerBuilder, mpsc::UnboundedReceiver<u32>) {
    let (pongs, received) = mpsc::unbounded_channel();
    let router = Arc::new(Router::new());
    router.set_handler("parent.name", || async { "the test" });
    router.set_handler("pong", move |n: u32| {
        let pongs = pongs.clone();
        async move {
            let _ = pongs.send(n);
        }
    });
    (Peer::builder().router(router), received)
}

/// Calls in both directions and notifications both ways, over whatever
/// transport `client` runs on.
pub async fn exercise(client: &Peer, pongs: &mut mpsc::UnboundedReceiver<u32>) {
    let sum: i64 = bounded(client.call("add", (40, 2))).await.expect("add");
    assert_eq!(sum, 42);

    let answer: String = bounded(client.call("ask_parent", ()))
        .await
        .expect("ask_parent");
    assert_eq!(answer, "my parent is the test");

    client.notify("ping", (7,)).await.expect("ping");
    assert_eq!(bounded(pongs.recv()).await, Some(7));
}
