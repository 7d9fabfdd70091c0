//! Between two dotrpc peers, giving up on a call reaches the handler running
//! it (`rpc.cancel`), and a call's timeout travels with it as a deadline the
//! handler can read, that calls it makes inherit, and past which it is
//! dropped. A foreign msgpack-rpc peer is sent none of this.

mod support;

use std::sync::Arc;
use std::time::Duration;

use dotrpc::{CallContext, Error, Peer, Router, Value, rpc_api};
use support::bounded;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Tells a channel when it is dropped: how a test sees a handler dropped.
struct DropSignal(mpsc::UnboundedSender<&'static str>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        let _ = self.0.send("dropped");
    }
}

/// A server whose methods report what their handlers see.
#[rpc_api]
pub trait Watched {
    /// Holds until dropped, reporting "started" and then "dropped".
    async fn hold(&self);
    /// The caller's remaining time, in milliseconds.
    async fn remaining(&self, ctx: CallContext) -> Option<u64>;
    /// Asks the caller back for *its* handler's remaining time.
    async fn ask_back(&self, ctx: CallContext) -> Result<Option<u64>, String>;
    /// The same, by a stream call and by an upload back to the caller.
    async fn stream_back(&self, ctx: CallContext) -> Result<(Option<u64>, Option<u64>), String>;
}

struct MyWatched(mpsc::UnboundedSender<&'static str>);

impl Watched for MyWatched {
    async fn hold(&self) {
        let _guard = DropSignal(self.0.clone());
        let _ = self.0.send("started");
        std::future::pending::<()>().await;
    }
    async fn remaining(&self, ctx: CallContext) -> Option<u64> {
        ctx.remaining().map(|left| left.as_millis() as u64)
    }
    async fn ask_back(&self, ctx: CallContext) -> Result<Option<u64>, String> {
        // No timeout of its own: it inherits the deadline of the call it serves.
        ctx.peer()
            .call("client.remaining", ())
            .await
            .map_err(|e| e.to_string())
    }
    async fn stream_back(&self, ctx: CallContext) -> Result<(Option<u64>, Option<u64>), String> {
        let peer = ctx.peer();
        let mut items = peer.stream::<Option<u64>>("client.remaining_items", ());
        let streamed = items.next().await.ok_or("no item")?;
        let uploaded = peer
            .upload::<u8, Option<u64>>("client.remaining_upload", ())
            .finish()
            .await;
        Ok((
            streamed.map_err(|e| e.to_string())?,
            uploaded.map_err(|e| e.to_string())?,
        ))
    }
}

async fn watched_server() -> (dotrpc::Server, mpsc::UnboundedReceiver<&'static str>) {
    let (events, seen) = mpsc::unbounded_channel();
    let server = dotrpc::Server::builder(Peer::builder().serve(WatchedService(MyWatched(events))))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    (server, seen)
}

async fn dotrpc_client(server: &dotrpc::Server) -> Peer {
    let router = Arc::new(Router::new());
    let remaining = |ctx: &CallContext| ctx.remaining().map(|left| left.as_millis() as u64);
    router.set_handler("client.remaining", move |ctx: CallContext| async move {
        remaining(&ctx)
    });
    router.set_handler(
        "client.remaining_items",
        move |ctx: CallContext| async move {
            ctx.stream::<Option<u64>>()?.send(&remaining(&ctx)).await?;
            Ok::<(), Error>(())
        },
    );
    router.set_handler(
        "client.remaining_upload",
        move |ctx: CallContext| async move { remaining(&ctx) },
    );
    let peer = Peer::builder()
        .router(router)
        .connect(support::addr(server))
        .await
        .unwrap();
    bounded(async {
        while !peer.speaks_dotrpc() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    peer
}

#[tokio::test]
async fn cancelling_a_handle_drops_the_handler_on_a_dotrpc_server() {
    let (server, mut seen) = watched_server().await;
    let peer = dotrpc_client(&server).await;
    let watched: WatchedClient = peer.client();

    let handle = watched.hold().spawn();
    assert_eq!(bounded(seen.recv()).await, Some("started"));
    handle.cancel();
    assert_eq!(
        bounded(seen.recv()).await,
        Some("dropped"),
        "the server handler observed the cancel"
    );
    assert_eq!(peer.pending_calls(), 0);
    peer.close();
    server.shutdown(Duration::from_secs(1)).await;
    drop((peer, watched, handle));
    support::no_tasks_left().await;
}

#[tokio::test]
async fn a_timed_out_or_dropped_call_drops_the_handler_too() {
    let (server, mut seen) = watched_server().await;
    let peer = dotrpc_client(&server).await;
    let watched: WatchedClient = peer.client();

    let timed_out = bounded(watched.hold().timeout(Duration::from_millis(30))).await;
    assert!(matches!(timed_out, Err(Error::Timeout)));
    assert_eq!(bounded(seen.recv()).await, Some("started"));
    assert_eq!(bounded(seen.recv()).await, Some("dropped"));

    let call = tokio::spawn(watched.hold().into_future());
    assert_eq!(bounded(seen.recv()).await, Some("started"));
    call.abort();
    assert_eq!(bounded(seen.recv()).await, Some("dropped"));
    peer.close();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_deadline_travels_with_the_call_and_is_inherited_by_calls_back() {
    let (server, _seen) = watched_server().await;
    let peer = dotrpc_client(&server).await;
    let watched: WatchedClient = peer.client();

    assert_eq!(
        bounded(watched.remaining()).await.unwrap(),
        None,
        "no timeout, no deadline"
    );
    let left = bounded(watched.remaining().timeout(Duration::from_secs(5)))
        .await
        .unwrap()
        .unwrap();
    assert!(left > 0 && left <= 5_000, "{left}");

    // The server's handler calls the client back without a timeout of its own;
    // the client's handler sees the deadline of the original call.
    let inherited = bounded(watched.ask_back().timeout(Duration::from_secs(3)))
        .await
        .unwrap()
        .unwrap();
    assert!(inherited > 0 && inherited <= 3_000, "{inherited}");

    // So do a stream call and an upload it makes: every call mode sends
    // the same way.
    let (streamed, uploaded) = bounded(watched.stream_back().timeout(Duration::from_secs(3)))
        .await
        .unwrap();
    for left in [streamed, uploaded] {
        let left = left.expect("a deadline was inherited");
        assert!(left > 0 && left <= 3_000, "{left}");
    }
    assert_eq!(
        bounded(watched.stream_back()).await.unwrap(),
        (None, None),
        "no deadline to inherit, none sent: a stream's life is its own"
    );
    peer.close();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_handler_past_its_deadline_is_dropped_and_answers_timeout() {
    let (server, mut seen) = watched_server().await;
    // A hand-written dotrpc request with a 20 ms deadline, and no hello: the
    // server honours a deadline whoever sends it.
    let mut stream = tokio::net::TcpStream::connect(support::addr(&server))
        .await
        .unwrap();
    let mut request = Vec::new();
    let value = Value::Array(vec![
        0.into(),
        9.into(),
        "hold".into(),
        Value::Array(vec![]),
        Value::Map(vec![("deadline_ms".into(), 20.into())]),
    ]);
    rmpv::encode::write_value(&mut request, &value).unwrap();
    stream.write_all(&request).await.unwrap();
    assert_eq!(bounded(seen.recv()).await, Some("started"));
    assert_eq!(bounded(seen.recv()).await, Some("dropped"));

    let reply = support::read_messages(&mut stream, 1).await.remove(0);
    assert_eq!(reply[1].as_u64(), Some(9));
    assert_eq!(reply[2]["code"].as_str(), Some("Timeout"));
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_foreign_server_gets_one_hello_and_nothing_it_does_not_understand() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let foreign = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        // hello, the request that times out, then `next`, which is answered.
        let frames = support::read_messages(&mut stream, 3).await;
        let msgid = frames[2][1].as_u64().unwrap();
        let mut reply = Vec::new();
        rmpv::encode::write_value(
            &mut reply,
            &Value::Array(vec![1.into(), msgid.into(), Value::Nil, "ok".into()]),
        )
        .unwrap();
        stream.write_all(&reply).await.unwrap();
        // Anything more before the client closes would be a message too many.
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest).await;
        (frames, rest)
    });

    let peer = Peer::builder().connect(addr).await.unwrap();
    let slow = peer
        .call::<String>("slow", ())
        .timeout(Duration::from_millis(30));
    assert!(matches!(bounded(slow).await, Err(Error::Timeout)));
    assert_eq!(
        bounded(peer.call::<String>("next", ())).await.unwrap(),
        "ok"
    );
    assert!(!peer.speaks_dotrpc());
    peer.close();

    let (frames, rest) = bounded(foreign).await.unwrap();
    assert_eq!(frames[0][0].as_u64(), Some(2), "a notification");
    assert_eq!(frames[0][1].as_str(), Some("rpc.hello"));
    let request = frames[1].as_array().unwrap();
    assert_eq!(
        request.len(),
        4,
        "a plain msgpack-rpc request, no deadline item"
    );
    assert_eq!(request[2].as_str(), Some("slow"));
    assert_eq!(frames[2][2].as_str(), Some("next"));
    assert!(rest.is_empty(), "no rpc.cancel or anything else: {rest:?}");
}

#[tokio::test]
async fn no_handshake_means_not_even_a_hello() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let foreign = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        support::read_messages(&mut stream, 1).await
    });
    let peer = Peer::builder()
        .handshake(false)
        .connect(addr)
        .await
        .unwrap();
    peer.notify("first", ()).await.unwrap();
    let frames = bounded(foreign).await.unwrap();
    assert_eq!(frames[0][1].as_str(), Some("first"));
}

use std::future::IntoFuture;
