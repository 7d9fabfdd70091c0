//! Every transport carries calls in both directions and notifications both
//! ways: TCP, Unix sockets, a child process over stdio, and in memory.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use dotrpc::transport::{FrameSink, FrameSource, Frames, Transport};
use dotrpc::{Peer, error::DisconnectReason};
use support::{bounded, client_builder, exercise, scenario};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

#[tokio::test]
async fn tcp_round_trip_in_both_directions() {
    let server = support::tcp_server(scenario::server_router()).await;
    let (builder, mut pongs) = client_builder();
    let client = builder.connect(support::addr(&server)).await.unwrap();
    exercise(&client, &mut pongs).await;
    assert_eq!(server.connection_count(), 1);
    client.close();
    server.shutdown(Duration::from_secs(1)).await;
}

#[cfg(unix)]
#[tokio::test]
async fn unix_socket_round_trip_in_both_directions() {
    use std::os::unix::fs::PermissionsExt;

    let dir = std::env::temp_dir().join(format!("dotrpc-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("transports.sock");
    let _ = std::fs::remove_file(&path);
    let server = dotrpc::Server::builder(Peer::builder().router(scenario::server_router()))
        .bind(dotrpc::Address::unix(&path))
        .await
        .unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the socket file must be private to its owner");

    let (builder, mut pongs) = client_builder();
    let client = builder.connect(dotrpc::Address::unix(&path)).await.unwrap();
    exercise(&client, &mut pongs).await;
    client.close();
    server.shutdown(Duration::from_secs(1)).await;
    assert!(!path.exists(), "shutdown removes the socket file");
    let _ = std::fs::remove_dir(&dir);
}

#[tokio::test]
async fn child_process_over_stdio_round_trip_in_both_directions() {
    let (builder, mut pongs) = client_builder();
    let command = tokio::process::Command::new(env!("CARGO_BIN_EXE_dotrpc-stdio-peer"));
    let (client, mut child) = builder.spawn_child(command).unwrap();
    exercise(&client, &mut pongs).await;

    // Closing our end closes the child's stdin; it exits by itself.
    client.close();
    let status = bounded(child.wait()).await.unwrap();
    assert!(status.success(), "{status}");
}

/// One `Address` names every transport: a server's local address is one a
/// client dials, and `exec:` starts a child that ends with its connection.
#[tokio::test]
async fn every_transport_is_dialled_by_its_address() {
    let server = support::tcp_server(scenario::server_router()).await;
    let (builder, mut pongs) = client_builder();
    let client = builder.connect(server.local_addr()).await.unwrap();
    exercise(&client, &mut pongs).await;
    client.close();
    server.shutdown(Duration::from_secs(1)).await;

    let (builder, mut pongs) = client_builder();
    let child = format!("exec:{}", env!("CARGO_BIN_EXE_dotrpc-stdio-peer"));
    let client = builder.connect(child.as_str()).await.unwrap();
    exercise(&client, &mut pongs).await;
    client.close();
    assert_eq!(
        bounded(client.closed()).await,
        DisconnectReason::Closed,
        "the child's end of the connection"
    );

    let refused = Peer::builder().connect("exec: ").await.unwrap_err();
    assert!(
        support::chain(&refused).contains("no command after exec:"),
        "{refused}"
    );
    // NATS is its own crate's: the core says where to go, dialling nothing.
    let nats = Peer::builder()
        .connect("nats://127.0.0.1:4222/demo")
        .await
        .unwrap_err();
    assert!(
        support::chain(&nats).contains("through the dotrpc-nats crate"),
        "{nats}"
    );
    let server = dotrpc::Server::builder(Peer::builder());
    for nowhere in ["nats://127.0.0.1:4222/demo", "exec:cat"] {
        let error = server.clone().bind(nowhere).await.unwrap_err();
        assert!(
            support::chain(&error).contains("a server cannot listen on"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn a_child_closed_mid_stream_always_reads_closed_by_the_peer() {
    // Whether the child first reads the end of its stdin or writes into its
    // closed stdout is a race; the reason must not depend on who wins.
    for round in 0..8 {
        let ticks = Arc::new(AtomicU64::new(0));
        let router = Arc::new(dotrpc::Router::new());
        let counter = Arc::clone(&ticks);
        router.set_handler("tick", move |_: u64| {
            counter.fetch_add(1, Ordering::Relaxed);
            async {}
        });
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_dotrpc-stdio-peer"));
        command.arg("--chatty").stderr(std::process::Stdio::piped());
        let (parent, mut child) = Peer::builder().router(router).spawn_child(command).unwrap();
        bounded(async {
            while ticks.load(Ordering::Relaxed) < 100 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
        parent.close();
        let mut said = String::new();
        let mut stderr = child.stderr.take().unwrap();
        bounded(stderr.read_to_string(&mut said)).await.unwrap();
        let status = bounded(child.wait()).await.unwrap();
        assert!(status.success(), "round {round}: {status}");
        assert_eq!(
            said.trim(),
            "closed: connection closed by the peer",
            "round {round}"
        );
    }
}

#[tokio::test]
async fn memory_pair_round_trip_in_both_directions() {
    let (builder, mut pongs) = client_builder();
    let (client, server) =
        dotrpc::memory_pair(builder, Peer::builder().router(scenario::server_router()));
    exercise(&client, &mut pongs).await;

    // And the other way round: the server side calls the client.
    let name: String = bounded(server.call("parent.name", ())).await.unwrap();
    assert_eq!(name, "the test");

    drop(server);
    assert_eq!(bounded(client.closed()).await, DisconnectReason::Eof);
}

/// One direction of an in-process message transport: each channel item is
/// one whole message, as a broker or WebSocket would carry them.
struct ChannelSource(mpsc::UnboundedReceiver<Bytes>);

impl FrameSource for ChannelSource {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<std::io::Result<Bytes>>> {
        self.0.poll_recv(cx).map(|frame| frame.map(Ok))
    }
}

struct ChannelSink(Option<mpsc::UnboundedSender<Bytes>>);

impl FrameSink for ChannelSink {
    fn poll_send(&mut self, _: &mut Context<'_>, frames: &mut Frames) -> Poll<std::io::Result<()>> {
        let Some(sender) = &self.0 else {
            return Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into()));
        };
        while let Some(frame) = frames.pop_frame() {
            if sender.send(frame).is_err() {
                return Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into()));
            }
        }
        Poll::Ready(Ok(()))
    }

    fn poll_close(&mut self, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.0 = None;
        Poll::Ready(Ok(()))
    }
}

/// Two ends of a message transport over channels; also a sender straight
/// into the second end, for frames no peer would send.
fn channel_pair() -> (Transport, Transport, mpsc::UnboundedSender<Bytes>) {
    let (to_b, from_a) = mpsc::unbounded_channel();
    let (to_a, from_b) = mpsc::unbounded_channel();
    let raw = to_b.clone();
    (
        Transport::from_frames(ChannelSource(from_b), ChannelSink(Some(to_b))),
        Transport::from_frames(ChannelSource(from_a), ChannelSink(Some(to_a))),
        raw,
    )
}

#[tokio::test]
async fn a_message_transport_plugs_in_at_the_frame_seam() {
    let (a, b, _) = channel_pair();
    let (builder, mut pongs) = client_builder();
    let client = builder.spawn(a);
    let server = Peer::builder().router(scenario::server_router()).spawn(b);
    exercise(&client, &mut pongs).await;
    let name: String = bounded(server.call("parent.name", ())).await.unwrap();
    assert_eq!(name, "the test");
    client.close();
    assert_eq!(bounded(server.closed()).await, DisconnectReason::Eof);
}

#[tokio::test]
async fn a_message_that_is_not_one_whole_value_closes_only_its_connection() {
    let (a, b, raw) = channel_pair();
    let client = Peer::builder().spawn(a);
    let server = Peer::builder().router(scenario::server_router()).spawn(b);
    assert_eq!(bounded(client.call::<i64>("add", (1, 2))).await.unwrap(), 3);
    // Two messages in one unit: a message transport carries exactly one.
    raw.send(Bytes::from_static(&[0x93, 0x02, 0xa1, b'x', 0x90, 0xc0]))
        .unwrap();
    let reason = bounded(server.closed()).await;
    assert!(
        matches!(&reason, DisconnectReason::Protocol(why) if why.contains("after a whole message")),
        "{reason:?}"
    );
    client.close();
}
