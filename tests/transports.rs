//! Every transport carries calls in both directions and notifications both
//! ways: TCP, Unix sockets, a child process over stdio, and in memory.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use dotrpc::transport::{FrameSink, FrameSource, Frames, Transport};
use dotrpc::{Peer, Router, error::DisconnectReason};
use serde::{Serialize, de::DeserializeOwned};
use support::{bounded, client_builder, exercise, scenario};
use tokio::io::AsyncReadExt;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

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

// Who writes a request: its caller, when the call is alone in flight and the
// connection's task is idle; the task otherwise, and whenever the transport
// cannot take the request at once.

/// What the watched sink does when the caller's own task sends.
#[derive(Clone, Copy, PartialEq)]
enum FromCaller {
    Take,
    /// Takes nothing, as a transport whose buffer is full.
    Refuse,
    Fail,
}

/// A channel sink that notes the task that sent each request.
struct WatchedSink {
    inner: ChannelSink,
    watch: Arc<Mutex<Watch>>,
}

struct Watch {
    caller: Option<tokio::task::Id>,
    from_caller: FromCaller,
    /// For each request sent, whether its caller's task sent it.
    requests: Vec<bool>,
}

impl FrameSink for WatchedSink {
    fn poll_send(&mut self, _: &mut Context<'_>, frames: &mut Frames) -> Poll<std::io::Result<()>> {
        let mut watch = self.watch.lock().unwrap();
        let by_caller = watch.caller.is_some() && tokio::task::try_id() == watch.caller;
        if by_caller && watch.from_caller == FromCaller::Refuse {
            return Poll::Pending;
        }
        if by_caller && watch.from_caller == FromCaller::Fail {
            return Poll::Ready(Err(std::io::Error::other("the caller's write broke")));
        }
        let Some(sender) = &self.inner.0 else {
            return Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into()));
        };
        while let Some(frame) = frames.pop_frame() {
            // `[0, msgid, method, params, ...]`: a request.
            if frame.get(1) == Some(&0) {
                watch.requests.push(by_caller);
            }
            if sender.send(frame).is_err() {
                return Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into()));
            }
        }
        Poll::Ready(Ok(()))
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.inner.poll_close(cx)
    }
}

/// A client whose sink is watched, and a server that adds and can hold a
/// call (`hold`) until `release` is notified.
fn watched(from_caller: FromCaller) -> (Peer, Peer, Arc<Mutex<Watch>>, Arc<Notify>) {
    let (to_server, from_client) = mpsc::unbounded_channel();
    let (to_client, from_server) = mpsc::unbounded_channel();
    let watch = Arc::new(Mutex::new(Watch {
        caller: None,
        from_caller,
        requests: Vec::new(),
    }));
    let sink = WatchedSink {
        inner: ChannelSink(Some(to_server)),
        watch: Arc::clone(&watch),
    };
    let client = Peer::builder().spawn(Transport::from_frames(ChannelSource(from_server), sink));
    let release = Arc::new(Notify::new());
    let router = Arc::new(Router::new());
    router.set_handler("add", |a: i64, b: i64| async move { a + b });
    let held = Arc::clone(&release);
    router.set_handler("hold", move || {
        let held = Arc::clone(&held);
        async move { held.notified().await }
    });
    let server = Peer::builder().router(router).spawn(Transport::from_frames(
        ChannelSource(from_client),
        ChannelSink(Some(to_client)),
    ));
    (client, server, watch, release)
}

/// Calls `method` from a task of its own, noted as the caller's (from then
/// on), and returns the task.
fn spawn_as_caller<R: DeserializeOwned + Send + 'static>(
    client: &Peer,
    watch: &Arc<Mutex<Watch>>,
    method: &'static str,
    params: impl Serialize + Send + 'static,
) -> JoinHandle<Result<R, dotrpc::Error>> {
    let (client, watch) = (client.clone(), Arc::clone(watch));
    tokio::spawn(async move {
        watch.lock().unwrap().caller = Some(tokio::task::id());
        client.call::<R>(method, params).await
    })
}

/// [`spawn_as_caller`], and its outcome.
async fn call_as_caller<R: DeserializeOwned + Send + 'static>(
    client: &Peer,
    watch: &Arc<Mutex<Watch>>,
    method: &'static str,
    params: impl Serialize + Send + 'static,
) -> Result<R, dotrpc::Error> {
    bounded(spawn_as_caller(client, watch, method, params))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_call_alone_in_flight_is_written_by_its_caller() {
    let (client, _server, watch, _) = watched(FromCaller::Take);
    let sum: i64 = call_as_caller(&client, &watch, "add", (1, 2))
        .await
        .unwrap();
    assert_eq!(sum, 3);
    assert_eq!(watch.lock().unwrap().requests, [true]);
    client.close();
}

#[tokio::test]
async fn a_call_beside_others_in_flight_is_left_to_the_connection() {
    let (client, _server, watch, release) = watched(FromCaller::Take);
    let held = spawn_as_caller::<()>(&client, &watch, "hold", ());
    // The held call is in flight once its request is sent.
    for _ in 0..1000 {
        if !watch.lock().unwrap().requests.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let sum: i64 = call_as_caller(&client, &watch, "add", (1, 2))
        .await
        .unwrap();
    assert_eq!(sum, 3);
    release.notify_one();
    bounded(held).await.unwrap().unwrap();
    // The held call was alone and went at once; the sum was not alone.
    assert_eq!(watch.lock().unwrap().requests, [true, false]);
    client.close();
}

#[tokio::test]
async fn a_request_the_transport_cannot_take_at_once_goes_with_the_connection() {
    let (client, _server, watch, release) = watched(FromCaller::Refuse);
    release.notify_one();
    call_as_caller::<()>(&client, &watch, "hold", ())
        .await
        .unwrap();
    assert_eq!(watch.lock().unwrap().requests, [false]);
    client.close();
}

#[tokio::test]
async fn a_callers_failed_write_closes_the_connection_and_fails_the_call() {
    let (client, _server, watch, _) = watched(FromCaller::Fail);
    let error = call_as_caller::<()>(&client, &watch, "hold", ())
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("the caller's write broke"),
        "{error}"
    );
    let reason = bounded(client.closed()).await;
    assert!(
        matches!(&reason, DisconnectReason::Transport(why) if why.contains("the caller's write broke")),
        "{reason:?}"
    );
}

/// Callers on several threads, each waiting for its reply before its next
/// call, so that a call is now alone in flight and now not, and the queue
/// passes between callers that write and the task: every call is answered,
/// and events sent meanwhile all arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn callers_and_the_task_share_a_connection_without_losing_a_message() {
    let server = support::tcp_server(scenario::server_router()).await;
    let (builder, mut pongs) = client_builder();
    let client = builder.connect(support::addr(&server)).await.unwrap();
    let callers: Vec<_> = (0..8i64)
        .map(|caller| {
            let client = client.clone();
            tokio::spawn(async move {
                for n in 0..200i64 {
                    let sum: i64 = client.call("add", (caller, n)).await.unwrap();
                    assert_eq!(sum, caller + n);
                }
            })
        })
        .collect();
    for n in 0..100u32 {
        client.notify("ping", (n,)).await.unwrap();
    }
    for caller in callers {
        bounded(caller).await.unwrap();
    }
    let mut heard = Vec::new();
    while heard.len() < 100 {
        heard.push(bounded(pongs.recv()).await.unwrap());
    }
    heard.sort_unstable();
    assert_eq!(heard, (0..100).collect::<Vec<_>>());
    client.close();
    server.shutdown(Duration::from_secs(1)).await;
}
