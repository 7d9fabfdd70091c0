//! Streams: a handler answers with items (`ctx.stream()`), the caller takes
//! them from an `ItemStream`, each stream with its own credit. The end, an
//! end with an error, a cancel and a dropped connection are four different
//! things; a slow reader holds back its own stream only; hostile credit or
//! items close nothing but their stream.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dotrpc::{Error, ErrorKind, Peer, PeerBuilder, error::DisconnectReason};
use futures_util::StreamExt;
use support::streams::router;
use support::{bounded, no_tasks_left};
use tokio::sync::mpsc;

struct Fixture {
    client: Peer,
    server: Peer,
    dropped: mpsc::UnboundedReceiver<&'static str>,
    sent: Arc<AtomicU64>,
}

fn fixture(client: PeerBuilder) -> Fixture {
    let (tell, dropped) = mpsc::unbounded_channel();
    let sent = Arc::new(AtomicU64::new(0));
    let (client, server) = dotrpc::memory_pair(
        client,
        Peer::builder().router(router(tell, Arc::clone(&sent))),
    );
    Fixture {
        client,
        server,
        dropped,
        sent,
    }
}

#[tokio::test]
async fn items_arrive_in_order_then_the_stream_ends() {
    let f = fixture(Peer::builder());
    // A window smaller than the stream: room is granted again as items go.
    let items: Vec<u64> = bounded(
        f.client
            .stream::<u64>("count", (1000,))
            .window(8)
            .map(Result::unwrap)
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(items, (0..1000).collect::<Vec<_>>());
    let none: Vec<_> = bounded(f.client.stream::<u64>("count", (0,)).collect::<Vec<_>>()).await;
    assert!(none.is_empty());
    f.client.close();
    no_tasks_left().await;
}

#[tokio::test]
async fn an_end_with_an_error_is_typed_and_comes_last() {
    let f = fixture(Peer::builder());
    let mut stream = f
        .client
        .stream::<u64>("fail_after", (2,))
        .typed_error::<String>();
    assert_eq!(bounded(stream.next()).await.unwrap().unwrap(), 0);
    assert_eq!(bounded(stream.next()).await.unwrap().unwrap(), 1);
    match bounded(stream.next()).await {
        Some(Err(Error::Remote(message))) => assert_eq!(message, "failed after 2"),
        other => panic!("{other:?}"),
    }
    assert!(bounded(stream.next()).await.is_none());

    // Unknown paths and calls that are not streams end at once.
    let mut unknown = f.client.stream::<u64>("no.such", ());
    let error = bounded(unknown.next()).await.unwrap().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::UnknownApi);
    f.client.close();
}

#[tokio::test]
async fn dropping_the_stream_drops_its_producer_and_nothing_else() {
    let mut f = fixture(Peer::builder());
    let mut forever = f.client.stream::<u64>("forever", ());
    assert_eq!(bounded(forever.next()).await.unwrap().unwrap(), 0);
    drop(forever);
    assert_eq!(bounded(f.dropped.recv()).await, Some("forever"));
    // The connection goes on.
    let items: Vec<u64> = bounded(
        f.client
            .stream::<u64>("count", (3,))
            .map(Result::unwrap)
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(items, [0, 1, 2]);
    f.client.close();
    no_tasks_left().await;
}

#[tokio::test]
async fn a_slow_reader_holds_back_its_own_stream_only() {
    let f = fixture(Peer::builder());
    let window = 16;
    let mut slow = f.client.stream::<u64>("counted", ()).window(window);
    let mut taken = 0;
    for _ in 0..5 {
        bounded(slow.next()).await.unwrap().unwrap();
        taken += 1;
    }
    // Meanwhile a fast stream on the same connection runs to its end.
    let fast: Vec<u64> = bounded(
        f.client
            .stream::<u64>("count", (20_000,))
            .map(Result::unwrap)
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(fast.len(), 20_000);
    // The slow stream's producer went no further than its window allows:
    // what is buffered anywhere is bounded by it, however long it waits.
    let sent = f.sent.load(Ordering::SeqCst);
    assert!(
        sent <= taken + u64::from(window),
        "{sent} sent for {taken} taken with a window of {window}"
    );
    drop(slow);
    f.client.close();
    no_tasks_left().await;
}

#[tokio::test]
async fn a_producer_keeping_the_latest_drops_the_oldest_and_says_how_many() {
    let f = fixture(Peer::builder());
    let n = 2_000;
    let mut latest = f.client.stream::<u64>("latest", (n,)).window(4);
    let (mut taken, mut skipped, mut lags) = (Vec::new(), 0, 0);
    // The first item, then a pause: the handler runs far ahead.
    taken.push(bounded(latest.next()).await.unwrap().unwrap());
    tokio::time::sleep(Duration::from_millis(50)).await;
    while let Some(item) = bounded(latest.next()).await {
        match item {
            Ok(item) => taken.push(item),
            // Word of dropped items does not end the stream.
            Err(Error::Lagged { skipped: n }) => {
                skipped += n;
                lags += 1;
            }
            Err(other) => panic!("{other}"),
        }
    }
    assert!(lags > 0, "the consumer fell behind, and was told");
    assert_eq!(
        taken.len() as u64 + skipped,
        n,
        "every item is taken or counted"
    );
    assert!(taken.windows(2).all(|w| w[0] < w[1]), "in order: {taken:?}");
    f.client.close();
    no_tasks_left().await;
}

/// A handler that keeps the latest items and returns at once delivers the
/// freshest ones when it flushes before returning: the stream ends with the
/// last item, not with word that it was dropped.
#[tokio::test]
async fn a_flushed_latest_stream_ends_with_its_freshest_items() {
    let f = fixture(Peer::builder());
    let n = 1_000;
    let mut latest = f.client.stream::<u64>("latest_flushed", (n,)).window(4);
    let first = bounded(latest.next()).await.unwrap().unwrap();
    // The handler has sent all it will, and waits in `flush`.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (mut last, mut skipped) = (first, 0);
    while let Some(item) = bounded(latest.next()).await {
        match item {
            Ok(item) => last = item,
            Err(Error::Lagged { skipped: n }) => skipped += n,
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!(last, n - 1, "the freshest item came last");
    assert!(skipped > 0, "older ones were dropped, and counted");
    f.client.close();
    no_tasks_left().await;
}

#[tokio::test]
async fn a_dropped_connection_ends_the_stream_with_disconnected() {
    let f = fixture(Peer::builder());
    let mut forever = f.client.stream::<u64>("forever", ()).window(4);
    assert_eq!(bounded(forever.next()).await.unwrap().unwrap(), 0);
    f.server.close();
    let end = bounded(async {
        loop {
            match forever.next().await {
                Some(Ok(_)) => continue,
                other => break other,
            }
        }
    })
    .await;
    match end {
        Some(Err(Error::Disconnected { reason })) => assert_eq!(reason, DisconnectReason::Eof),
        other => panic!("{other:?}"),
    }
    assert!(bounded(forever.next()).await.is_none());
    no_tasks_left().await;
}

#[tokio::test]
async fn a_timeout_bounds_the_wait_for_the_first_item() {
    let mut f = fixture(Peer::builder());
    let mut silent = f
        .client
        .stream::<u64>("silent", ())
        .timeout(Duration::from_millis(50));
    let error = bounded(silent.next()).await.unwrap().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout);
    assert!(bounded(silent.next()).await.is_none());
    assert_eq!(bounded(f.dropped.recv()).await, Some("silent"), "cancelled");
    f.client.close();
    no_tasks_left().await;
}

#[tokio::test]
async fn an_upload_sends_its_items_as_the_handler_takes_them() {
    let f = fixture(Peer::builder());
    let mut upload = f.client.upload::<i64, i64>("sum", ());
    for i in 1..=1000 {
        bounded(upload.send(&i)).await.unwrap();
    }
    assert_eq!(upload.sent(), 1000);
    assert_eq!(bounded(upload.finish()).await.unwrap(), 500_500);
    // No items at all.
    let empty = f.client.upload::<i64, i64>("sum", ());
    assert_eq!(bounded(empty.finish()).await.unwrap(), 0);
    f.client.close();
    no_tasks_left().await;
}

/// Made and not used, an upload or a conversation sends nothing (as a call
/// or an `ItemStream`): no handler starts until the first send or read.
#[tokio::test]
async fn uploads_and_conversations_are_sent_when_first_used() {
    let started = Arc::new(AtomicU64::new(0));
    let router = Arc::new(dotrpc::Router::new());
    for path in ["upload", "talk"] {
        let started = Arc::clone(&started);
        router.set_handler(path, move |ctx: dotrpc::CallContext| {
            started.fetch_add(1, Ordering::SeqCst);
            async move {
                let mut input = ctx.receive::<i64>(4)?;
                let mut total = 0;
                while let Some(item) = input.next().await {
                    total += item?;
                }
                Ok::<i64, Error>(total)
            }
        });
    }
    let (client, _server) = dotrpc::memory_pair(Peer::builder(), Peer::builder().router(router));
    let mut upload = client.upload::<i64, i64>("upload", ());
    let mut talk = client.conversation::<i64, i64>("talk", ());
    // A round trip: anything sent before it has been handled by now.
    bounded(client.call::<()>("rpc.describe", ())).await.ok();
    assert_eq!(started.load(Ordering::SeqCst), 0, "nothing sent yet");
    bounded(upload.send(&2)).await.unwrap();
    talk.end_input();
    assert_eq!(bounded(upload.finish()).await.unwrap(), 2);
    assert!(bounded(talk.next()).await.is_none(), "answered, no items");
    assert_eq!(started.load(Ordering::SeqCst), 2);
    client.close();
}

#[tokio::test]
async fn a_handler_that_answers_early_stops_the_upload() {
    let f = fixture(Peer::builder());
    let mut upload = f.client.upload::<i64, Vec<i64>>("take", (3,));
    let mut refused = None;
    for i in 0..1000 {
        if let Err(error) = bounded(upload.send(&i)).await {
            refused = Some(error);
            break;
        }
    }
    let refused = refused.expect("the handler answered before the input ended");
    assert_eq!(refused.kind(), ErrorKind::Cancelled, "{refused}");
    assert_eq!(bounded(upload.finish()).await.unwrap(), [0, 1, 2]);
    f.client.close();
    no_tasks_left().await;
}

#[tokio::test]
async fn dropping_an_unfinished_upload_drops_its_handler() {
    let mut f = fixture(Peer::builder());
    let mut upload = f.client.upload::<i64, i64>("sum_guarded", ());
    bounded(upload.send(&1)).await.unwrap();
    drop(upload);
    assert_eq!(bounded(f.dropped.recv()).await, Some("sum_guarded"));

    // And a dropped connection fails the next send.
    let mut upload = f.client.upload::<i64, i64>("sum", ());
    bounded(upload.send(&1)).await.unwrap();
    f.server.close();
    let failed = bounded(async {
        loop {
            if let Err(error) = upload.send(&1).await {
                break error;
            }
        }
    })
    .await;
    assert_eq!(failed.kind(), ErrorKind::Disconnected, "{failed}");
    no_tasks_left().await;
}

#[tokio::test]
async fn a_conversation_streams_both_ways_on_one_call() {
    let f = fixture(Peer::builder());
    let mut chat = f.client.conversation::<i64, i64>("doubles", ());
    for i in 1..=3 {
        bounded(chat.send(&i)).await.unwrap();
        // Each answer comes while the input goes on.
        assert_eq!(bounded(chat.next()).await.unwrap().unwrap(), i * 2);
    }
    // Fewer than the answer window: the handler never waits for room while
    // this side is not reading (past it, both sides would wait).
    for i in 4..=20 {
        bounded(chat.send(&i)).await.unwrap();
    }
    chat.end_input();
    let rest: Vec<i64> = bounded(async {
        let mut rest = Vec::new();
        while let Some(item) = chat.next().await {
            rest.push(item.unwrap());
        }
        rest
    })
    .await;
    assert_eq!(rest, (4..=20).map(|i| i * 2).collect::<Vec<_>>());
    assert_eq!(
        bounded(chat.send(&1)).await.unwrap_err().kind(),
        ErrorKind::Cancelled,
        "the input was ended"
    );

    // A handler that answers ends the input: sending stops.
    let mut early = f.client.conversation::<i64, i64>("take", (2,));
    let refused = bounded(async {
        for i in 0.. {
            if let Err(error) = early.send(&i).await {
                return error;
            }
        }
        unreachable!()
    })
    .await;
    assert_eq!(refused.kind(), ErrorKind::Cancelled, "{refused}");
    f.client.close();
    no_tasks_left().await;
}

/// A raw msgpack-rpc client over TCP, to send what dotrpc's own never would.
struct Raw(tokio::net::TcpStream, Vec<u8>);

impl Raw {
    async fn connect(server: &dotrpc::Server) -> Raw {
        let stream = tokio::net::TcpStream::connect(support::addr(server));
        Raw(stream.await.unwrap(), Vec::new())
    }

    async fn send(&mut self, value: rmpv::Value) {
        use tokio::io::AsyncWriteExt;
        let mut bytes = Vec::new();
        rmpv::encode::write_value(&mut bytes, &value).unwrap();
        self.0.write_all(&bytes).await.unwrap();
    }

    /// The next message, or `None` at the end of the connection.
    async fn receive(&mut self) -> Option<rmpv::Value> {
        use tokio::io::AsyncReadExt;
        loop {
            let mut reader = &self.1[..];
            if let Ok(value) = rmpv::decode::read_value(&mut reader) {
                let used = self.1.len() - reader.len();
                self.1.drain(..used);
                return Some(value);
            }
            let mut chunk = [0; 4096];
            let n = self.0.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            self.1.extend_from_slice(&chunk[..n]);
        }
    }

    /// Reads until the connection ends.
    async fn until_end(&mut self) {
        while self.receive().await.is_some() {}
    }

    /// The next message that is not the server's hello.
    async fn receive_message(&mut self) -> rmpv::Value {
        loop {
            let message = bounded(self.receive())
                .await
                .expect("the connection is open");
            if message[1].as_str() != Some("rpc.hello") {
                return message;
            }
        }
    }
}

fn request(msgid: u32, method: &str, params: Vec<rmpv::Value>, credit: Option<u32>) -> rmpv::Value {
    let mut message = vec![
        0.into(),
        msgid.into(),
        method.into(),
        rmpv::Value::Array(params),
    ];
    if let Some(credit) = credit {
        message.push(rmpv::Value::Map(vec![("credit".into(), credit.into())]));
    }
    rmpv::Value::Array(message)
}

fn notification(method: &str, params: Vec<rmpv::Value>) -> rmpv::Value {
    rmpv::Value::Array(vec![2.into(), method.into(), rmpv::Value::Array(params)])
}

async fn tcp_server() -> (dotrpc::Server, mpsc::UnboundedReceiver<&'static str>) {
    let (tell, dropped) = mpsc::unbounded_channel();
    let server = support::tcp_server(router(tell, Arc::new(AtomicU64::new(0)))).await;
    (server, dropped)
}

/// A server that runs `handlers` calls per connection and queues `queued`.
async fn limited_tcp_server(
    handlers: usize,
    queued: usize,
) -> (dotrpc::Server, mpsc::UnboundedReceiver<&'static str>) {
    let (tell, dropped) = mpsc::unbounded_channel();
    let server = dotrpc::Server::builder(
        Peer::builder()
            .router(router(tell, Arc::new(AtomicU64::new(0))))
            .max_concurrent_handlers(handlers)
            .max_queued_calls(queued),
    )
    .bind("127.0.0.1:0")
    .await
    .unwrap();
    (server, dropped)
}

#[tokio::test]
async fn a_foreign_consumer_grants_credit_with_notifications() {
    let (server, _) = tcp_server().await;
    let mut raw = Raw::connect(&server).await;
    // No credit in the request: nothing comes until it is granted.
    raw.send(request(5, "count", vec![3.into()], None)).await;
    raw.send(notification("rpc.credit", vec![5.into(), 2.into()]))
        .await;
    for i in 0..2 {
        let item = raw.receive_message().await;
        assert_eq!(item, notification("rpc.item", vec![5.into(), i.into()]));
    }
    raw.send(notification("rpc.credit", vec![5.into(), 1.into()]))
        .await;
    assert_eq!(
        raw.receive_message().await,
        notification("rpc.item", vec![5.into(), 2.into()])
    );
    let end = raw.receive_message().await;
    assert_eq!(end[0], rmpv::Value::from(1));
    assert_eq!(end[1], rmpv::Value::from(5));
    assert_eq!(end[2], rmpv::Value::Nil, "{end}");
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn hostile_credit_and_stray_items_close_nothing_but_their_stream() {
    let (server, mut dropped) = tcp_server().await;
    let mut raw = Raw::connect(&server).await;
    // More credit than a stream may have ends that stream with an error.
    raw.send(request(1, "forever", vec![], Some(1))).await;
    assert_eq!(
        raw.receive_message().await,
        notification("rpc.item", vec![1.into(), 0.into()])
    );
    raw.send(notification("rpc.credit", vec![1.into(), u32::MAX.into()]))
        .await;
    let end = raw.receive_message().await;
    assert_eq!(end[1], rmpv::Value::from(1));
    assert!(end[2].is_map(), "an error ends it: {end}");
    assert_eq!(bounded(dropped.recv()).await, Some("forever"));

    // Items and credit for streams that are not open, and malformed ones,
    // are dropped.
    raw.send(notification("rpc.item", vec![77.into(), 1.into()]))
        .await;
    raw.send(notification("rpc.credit", vec![78.into(), 5.into()]))
        .await;
    raw.send(notification("rpc.credit", vec!["x".into()])).await;
    raw.send(notification("rpc.item", vec![])).await;
    raw.send(request(2, "count", vec![2.into()], Some(8))).await;
    for i in 0..2 {
        assert_eq!(
            raw.receive_message().await,
            notification("rpc.item", vec![2.into(), i.into()])
        );
    }
    let end = raw.receive_message().await;
    assert_eq!((end[1].as_u64(), end[2].is_nil()), (Some(2), true), "{end}");

    // Input beyond the room granted ends that input with an error; the
    // end of an input nobody takes is dropped.
    raw.send(notification("rpc.input_end", vec![99.into()]))
        .await;
    raw.send(request(3, "sum", vec![], None)).await;
    let grant = raw.receive_message().await;
    assert_eq!(
        grant,
        notification("rpc.input_credit", vec![3.into(), 8.into()])
    );
    for i in 0..20 {
        raw.send(notification("rpc.input", vec![3.into(), i.into()]))
            .await;
    }
    let end = loop {
        let message = raw.receive_message().await;
        if message[0] == rmpv::Value::from(1) {
            break message;
        }
    };
    assert_eq!(end[1], rmpv::Value::from(3));
    assert!(end[2].is_map(), "an error ends it: {end}");
    // It says what was wrong, by kind: the caller overran its room.
    assert_eq!(end[2]["code"].as_str(), Some("InvalidParams"), "{end}");
    assert!(
        end[2]["message"]
            .as_str()
            .unwrap()
            .contains("beyond the room"),
        "{end}"
    );
    assert_eq!(server.connection_count(), 1);
    server.shutdown(Duration::from_secs(1)).await;
}

/// What can be pinned on one call ends only that call, with an answer that
/// says what was wrong; the connection, and every other call on it, go on:
/// a first window out of range or not a number, a fifth item that is not a
/// map (nil is none), params that are not an array, and stream messages
/// whose params are not an array.
#[tokio::test]
async fn malformed_calls_and_events_end_only_themselves() {
    let (server, _dropped) = tcp_server().await;
    let mut raw = Raw::connect(&server).await;
    let with_metadata = |msgid: u32, method: &str, params: Vec<rmpv::Value>, fifth| {
        let mut items = request(msgid, method, params, None)
            .as_array()
            .unwrap()
            .clone();
        items.push(fifth);
        rmpv::Value::Array(items)
    };
    let refused = |answer: &rmpv::Value, msgid: u32, words: &str| {
        assert_eq!(answer[0], rmpv::Value::from(1), "{answer}");
        assert_eq!(answer[1], rmpv::Value::from(msgid), "{answer}");
        assert_eq!(
            answer[2]["code"].as_str(),
            Some("InvalidParams"),
            "{answer}"
        );
        let message = answer[2]["message"].as_str().unwrap();
        assert!(message.contains(words), "{answer}");
    };
    // First windows that cannot be one.
    let windows: Vec<rmpv::Value> = vec![
        65_537.into(),
        4_294_967_296u64.into(),
        "lots".into(),
        (-1).into(),
        1.5.into(),
        rmpv::Value::Nil,
    ];
    for (msgid, window) in (10..).zip(windows) {
        let credit = rmpv::Value::Map(vec![("credit".into(), window)]);
        raw.send(with_metadata(msgid, "count", vec![3.into()], credit))
            .await;
        refused(&raw.receive_message().await, msgid, "credit");
    }
    // Stream messages and events whose params are not an array: dropped.
    raw.send(rmpv::Value::Array(vec![
        2.into(),
        "rpc.credit".into(),
        "garbage".into(),
    ]))
    .await;
    raw.send(rmpv::Value::Array(vec![
        2.into(),
        "rpc.input".into(),
        rmpv::Value::Map(vec![("a".into(), 1.into())]),
    ]))
    .await;
    raw.send(rmpv::Value::Array(vec![
        2.into(),
        "rpc.cancel".into(),
        "x".into(),
    ]))
    .await;
    raw.send(rmpv::Value::Array(vec![
        2.into(),
        "no.such.event".into(),
        "garbage".into(),
    ]))
    .await;
    // A fifth item of nil is no metadata (the stream starts with no room,
    // as without a fifth item); another fifth item that is not a map, or
    // params that are not an array, refuse their call.
    raw.send(with_metadata(20, "count", vec![1.into()], rmpv::Value::Nil))
        .await;
    raw.send(notification("rpc.credit", vec![20.into(), 1.into()]))
        .await;
    assert_eq!(
        raw.receive_message().await,
        notification("rpc.item", vec![20.into(), 0.into()])
    );
    let end = raw.receive_message().await;
    assert_eq!(
        (end[1].as_u64(), end[2].is_nil()),
        (Some(20), true),
        "{end}"
    );
    raw.send(with_metadata(21, "count", vec![2.into()], "x".into()))
        .await;
    refused(&raw.receive_message().await, 21, "fifth item");
    raw.send(rmpv::Value::Array(vec![
        0.into(),
        22.into(),
        "count".into(),
        "not an array".into(),
    ]))
    .await;
    refused(&raw.receive_message().await, 22, "params must be an array");
    // The connection went on throughout.
    raw.send(request(23, "count", vec![1.into()], Some(4)))
        .await;
    assert_eq!(
        raw.receive_message().await,
        notification("rpc.item", vec![23.into(), 0.into()])
    );
    let end = raw.receive_message().await;
    assert_eq!(
        (end[1].as_u64(), end[2].is_nil()),
        (Some(23), true),
        "{end}"
    );
    assert_eq!(server.connection_count(), 1);
    server.shutdown(Duration::from_secs(1)).await;
}

/// Streams are calls: a peer that opens thousands holds back its own
/// connection (its handlers are bounded, the rest refused) and nothing
/// else; shutting down drops every stream it opened.
#[tokio::test]
async fn a_flood_of_streams_holds_back_only_its_own_connection() {
    let (server, _) = limited_tcp_server(4, 8).await;
    let mut flood = Raw::connect(&server).await;
    for msgid in 0..2_000 {
        flood
            .send(request(msgid, "silent", vec![], Some(1_000)))
            .await;
    }
    let other = Peer::builder()
        .connect(support::addr(&server))
        .await
        .unwrap();
    let items: Vec<u64> = bounded(
        other
            .stream::<u64>("count", (100,))
            .map(Result::unwrap)
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(items.len(), 100, "another connection is served as usual");
    assert_eq!(server.connection_count(), 2);
    other.close();
    bounded(server.shutdown(Duration::from_millis(100))).await;
    // The flood's connection was closed with its handlers: its end is read
    // (within the bound).
    bounded(flood.until_end()).await;
}

/// More streams than a connection runs and queues: were reading to stop,
/// the credit the running ones wait for would never be read. It reads on
/// and refuses the streams beyond the queue at once, and the others run
/// to their end.
#[tokio::test]
async fn streams_beyond_the_queue_are_refused_rather_than_stall_the_others() {
    let (server, _) = limited_tcp_server(2, 2).await;
    let client = Peer::builder()
        .connect(support::addr(&server))
        .await
        .unwrap();
    // Two run, two wait; each runs out of room long before its end.
    let streams: Vec<_> = (0..5)
        .map(|_| {
            client
                .stream::<u64>("count", (100,))
                .window(4)
                .collect::<Vec<_>>()
        })
        .collect();
    let ends = bounded(futures_util::future::join_all(streams)).await;
    let (mut complete, mut refused) = (0, 0);
    for items in ends {
        match &items[..] {
            [Err(error)] => {
                assert_eq!(error.kind(), ErrorKind::Overloaded, "{error}");
                refused += 1;
            }
            items => {
                assert_eq!(items.len(), 100);
                assert!(items.iter().all(Result::is_ok));
                complete += 1;
            }
        }
    }
    assert_eq!((complete, refused), (4, 1));
    client.close();
    bounded(server.shutdown(Duration::from_secs(1))).await;
}

/// The same, in plain msgpack-rpc: with a stream open and the queue full,
/// an event is dropped (never run, not even once the queue empties) and a
/// request is answered `Overloaded` at once.
#[tokio::test]
async fn with_streams_open_a_full_queue_drops_events_and_refuses_requests() {
    let (server, mut dropped) = limited_tcp_server(1, 1).await;
    let mut raw = Raw::connect(&server).await;
    // One stream runs (its first item shows it is open), one waits.
    raw.send(request(1, "forever", vec![], Some(1))).await;
    assert_eq!(
        raw.receive_message().await,
        notification("rpc.item", vec![1.into(), 0.into()])
    );
    raw.send(request(2, "forever", vec![], Some(1))).await;
    // Neither of these fits. Were the event ever run, `silent` would say
    // so when dropped.
    raw.send(notification("silent", vec![])).await;
    raw.send(request(3, "count", vec![1.into()], Some(1))).await;
    let refused = raw.receive_message().await;
    assert_eq!(
        (refused[0].as_u64(), refused[1].as_u64()),
        (Some(1), Some(3)),
        "{refused}"
    );
    assert_eq!(refused[2]["code"].as_str(), Some("Overloaded"), "{refused}");
    // Cancelling the running stream lets the waiting one start.
    raw.send(notification("rpc.cancel", vec![1.into()])).await;
    assert_eq!(bounded(dropped.recv()).await, Some("forever"));
    assert_eq!(
        raw.receive_message().await,
        notification("rpc.item", vec![2.into(), 0.into()])
    );
    raw.send(notification("rpc.cancel", vec![2.into()])).await;
    assert_eq!(bounded(dropped.recv()).await, Some("forever"));
    // Calls start in arrival order: once a later call is answered, nothing
    // waits any more, and the event never ran.
    raw.send(request(4, "count", vec![1.into()], Some(1))).await;
    assert_eq!(
        raw.receive_message().await,
        notification("rpc.item", vec![4.into(), 0.into()])
    );
    let end = raw.receive_message().await;
    assert_eq!((end[1].as_u64(), end[2].is_nil()), (Some(4), true), "{end}");
    assert!(dropped.try_recv().is_err(), "the dropped event never ran");
    server.shutdown(Duration::from_secs(1)).await;
}

/// A caller that goes away mid-stream can grant no more room: its
/// producer, waiting for room, ends at once instead of waiting forever.
#[tokio::test]
async fn a_caller_that_hangs_up_ends_the_streams_it_was_sent() {
    let (server, mut dropped) = tcp_server().await;
    let mut raw = Raw::connect(&server).await;
    raw.send(request(1, "forever", vec![], Some(1))).await;
    assert_eq!(
        raw.receive_message().await,
        notification("rpc.item", vec![1.into(), 0.into()])
    );
    drop(raw);
    assert_eq!(bounded(dropped.recv()).await, Some("forever"));
    bounded(async {
        while server.connection_count() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    server.shutdown(Duration::from_secs(1)).await;
}

/// A caller that stops sending (a half-close, or a WebSocket close) in the
/// middle of an upload can send no more input: the handler's input ends
/// with `Disconnected`, at once (its answer says so, if anyone reads it), and the connection closes rather than wait
/// for input that cannot come.
#[tokio::test]
async fn a_caller_that_stops_sending_mid_upload_ends_the_upload() {
    use tokio::io::AsyncWriteExt;
    let (server, mut dropped) = tcp_server().await;
    let mut raw = Raw::connect(&server).await;
    raw.send(request(1, "sum_guarded", vec![], Some(0))).await;
    assert_eq!(
        raw.receive_message().await,
        notification("rpc.input_credit", vec![1.into(), 4.into()])
    );
    raw.send(notification("rpc.input", vec![1.into(), 5.into()]))
        .await;
    raw.0.shutdown().await.unwrap();
    assert_eq!(bounded(dropped.recv()).await, Some("sum_guarded"));
    let answer = raw.receive_message().await;
    assert_eq!(answer[1], 1.into(), "{answer}");
    let message = answer[2]["message"].as_str().unwrap_or_default();
    assert!(message.contains("closed by the peer"), "{answer}");
    bounded(raw.until_end()).await;
    server.shutdown(Duration::from_secs(1)).await;
}

/// A server that shuts down reads no more, so no more room can come: a
/// stream that runs out of it ends at once, not at the end of the grace
/// period.
#[tokio::test]
async fn shutting_down_ends_streams_that_run_out_of_room() {
    let (server, mut dropped) = tcp_server().await;
    let client = Peer::builder()
        .connect(support::addr(&server))
        .await
        .unwrap();
    let mut forever = client.stream::<u64>("forever", ()).window(4);
    assert_eq!(bounded(forever.next()).await.unwrap().unwrap(), 0);
    // A grace far longer than the test's bound: the stream must not use it.
    bounded(server.shutdown(Duration::from_secs(60))).await;
    assert_eq!(bounded(dropped.recv()).await, Some("forever"));
    let end = bounded(async {
        loop {
            match forever.next().await {
                Some(Ok(_)) => continue,
                other => break other,
            }
        }
    })
    .await;
    assert!(matches!(end, Some(Err(_))), "{end:?}");
    client.close();
}

/// Nor can more input: an upload whose input has not ended by the
/// shutdown ends then, with an error, rather than at the end of the grace.
#[tokio::test]
async fn shutting_down_ends_uploads_that_wait_for_input() {
    let (server, mut dropped) = tcp_server().await;
    let client = Peer::builder()
        .connect(support::addr(&server))
        .await
        .unwrap();
    let mut upload = client.upload::<i64, i64>("sum_guarded", ());
    // Sent once the handler grants room: it waits for more.
    bounded(upload.send(&1)).await.unwrap();
    bounded(server.shutdown(Duration::from_secs(60))).await;
    assert_eq!(bounded(dropped.recv()).await, Some("sum_guarded"));
    let answer = bounded(upload.finish()).await;
    assert!(answer.is_err(), "{answer:?}");
    client.close();
}

#[tokio::test]
async fn a_foreign_caller_uploads_with_notifications() {
    let (server, _) = tcp_server().await;
    let mut raw = Raw::connect(&server).await;
    raw.send(request(9, "sum", vec![], None)).await;
    assert_eq!(
        raw.receive_message().await,
        notification("rpc.input_credit", vec![9.into(), 8.into()])
    );
    for i in 1..=5 {
        raw.send(notification("rpc.input", vec![9.into(), i.into()]))
            .await;
    }
    raw.send(notification("rpc.input_end", vec![9.into()]))
        .await;
    // Room is granted again as the handler takes items; then the answer.
    let answer = loop {
        let message = raw.receive_message().await;
        if message[1].as_str() != Some("rpc.input_credit") {
            break message;
        }
    };
    assert_eq!(
        answer,
        rmpv::Value::Array(vec![1.into(), 9.into(), rmpv::Value::Nil, 15.into()])
    );
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn rpc_api_methods_answer_with_and_take_streams_through_typed_clients() {
    use support::demo::{DemoClient, router};

    let (client, _server) = dotrpc::memory_pair(Peer::builder(), Peer::builder().router(router()));
    let demo = client.client::<DemoClient>();
    // `count(n, delay_ms, items: ItemSink<u64>)`: the client gets an ItemStream<u64, String>.
    let mut counted = Vec::new();
    let mut count = demo.count(5, 0).window(2);
    while let Some(item) = bounded(count.next()).await {
        counted.push(item.unwrap());
    }
    assert_eq!(counted, [0, 1, 2, 3, 4]);
    // `sum(items: ItemReceiver<i64>)`: the client gets an Upload<i64, i64, String>.
    let mut sum = demo.sum();
    for i in 1..=100 {
        bounded(sum.send(&i)).await.unwrap();
    }
    assert_eq!(bounded(sum.finish()).await.unwrap(), 5050);

    // rpc.describe tells them apart, and the stream is not a wire param.
    let methods = bounded(client.call::<dotrpc::Description>("rpc.describe", ()))
        .await
        .unwrap()
        .methods;
    let count = methods.iter().find(|m| m.path == "count").unwrap();
    assert_eq!(count.stream.as_deref(), Some("u64"));
    assert_eq!(count.input, None);
    assert_eq!(
        count
            .params
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["n", "delay_ms"]
    );
    let sum = methods.iter().find(|m| m.path == "sum").unwrap();
    assert_eq!(
        (sum.stream.as_deref(), sum.input.as_deref()),
        (None, Some("i64"))
    );
    assert!(sum.params.is_empty());
    client.close();
    no_tasks_left().await;
}

#[tokio::test]
async fn streams_work_over_tcp_unix_and_websocket() {
    use dotrpc::Server;
    use dotrpc::transport::websocket::Origins;
    use support::demo::router;

    let builder = || Server::builder(Peer::builder().router(router()));
    let socket = std::env::temp_dir().join(format!("dotrpc-streams-{}.sock", std::process::id()));
    let tcp = builder().bind("127.0.0.1:0").await.unwrap();
    let unix = builder()
        .bind(dotrpc::Address::unix(&socket))
        .await
        .unwrap();
    let ws = builder()
        .origins(Origins::same_origin())
        .bind("ws://127.0.0.1:0/")
        .await
        .unwrap();
    let clients = [
        Peer::builder().connect(support::addr(&tcp)).await.unwrap(),
        Peer::builder()
            .connect(dotrpc::Address::unix(&socket))
            .await
            .unwrap(),
        Peer::builder()
            .connect(&format!("ws://{}/rpc", support::addr(&ws)))
            .await
            .unwrap(),
    ];
    for client in &clients {
        support::count_then_sum(client, 100, 50).await;
        client.close();
    }
    for server in [tcp, unix, ws] {
        server.shutdown(Duration::from_secs(1)).await;
    }
}

/// Runs `f` on a worker thread of the current runtime.
fn runtime_worker<R: Send + 'static>(
    f: impl FnOnce() -> R + Send + 'static,
) -> tokio::task::JoinHandle<R> {
    tokio::spawn(async move { f() })
}

/// A plain thread (no async) takes a stream's items one blocking `next()`
/// at a time; dropping the iterator cancels the call.
#[test]
fn a_plain_thread_iterates_a_stream_and_drops_it_midway() {
    let runtime = dotrpc::runtime::BackgroundRuntime::new().unwrap();
    let (tell, mut dropped) = mpsc::unbounded_channel();
    let (client, _server) = runtime.block_on(async {
        dotrpc::memory_pair(
            Peer::builder(),
            Peer::builder().router(router(tell, Arc::new(AtomicU64::new(0)))),
        )
    });
    // Flat items: collected into one Result.
    let items: dotrpc::Result<Vec<u64>> = client
        .stream::<u64>("count", (50,))
        .blocking_iter()
        .collect();
    assert_eq!(items.unwrap(), (0..50).collect::<Vec<_>>());

    let mut forever = client.stream::<u64>("forever", ()).blocking_iter();
    assert_eq!(forever.next().unwrap().unwrap(), 0);
    assert_eq!(forever.next().unwrap().unwrap(), 1);
    drop(forever);
    let seen = runtime.block_on(async move { bounded(dropped.recv()).await });
    assert_eq!(seen, Some("forever"));
    // On a runtime's worker thread, where it may not block, its one item
    // says so.
    let client_in = client.clone();
    let refused = runtime.block_on(async move {
        let on_a_worker = runtime_worker(move || {
            client_in
                .stream::<u64>("count", (5,))
                .blocking_iter()
                .map(|item| item.map_err(|error| error.kind()))
                .collect::<Vec<_>>()
        });
        bounded(on_a_worker).await.unwrap()
    });
    assert_eq!(refused, [Err(dotrpc::ErrorKind::Misuse)]);
    client.close();
}

/// An API's own error type holds a `StreamError`, so stream errors
/// propagate with `?` in its methods (no `if send(..).is_err()`, no
/// `while let Some(Ok(..))` that takes a broken input for its end).
mod typed_errors {
    use dotrpc::{ItemReceiver, ItemSink, handler::StreamError, rpc_api};
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, Serialize, Deserialize)]
    pub(crate) enum TallyError {
        Negative(i64),
        Stream(StreamError),
    }

    impl std::fmt::Display for TallyError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{self:?}")
        }
    }

    impl From<dotrpc::Error> for TallyError {
        fn from(error: dotrpc::Error) -> Self {
            TallyError::Stream(error.into())
        }
    }

    #[rpc_api]
    pub(crate) trait Tally {
        /// Echoes the items while they are positive.
        async fn positive(
            &self,
            items: ItemReceiver<i64>,
            echo: ItemSink<i64>,
        ) -> Result<(), TallyError>;
    }

    struct Tallier;

    impl Tally for Tallier {
        async fn positive(
            &self,
            mut items: ItemReceiver<i64>,
            mut echo: ItemSink<i64>,
        ) -> Result<(), TallyError> {
            while let Some(item) = items.next().await {
                let item = item?;
                if item < 0 {
                    return Err(TallyError::Negative(item));
                }
                echo.send(&item).await?;
            }
            Ok(())
        }
    }

    #[tokio::test]
    async fn stream_errors_propagate_with_question_marks_into_an_apis_own_error() {
        let (client, _server) = dotrpc::memory_pair(
            Peer::builder(),
            Peer::builder().serve(TallyService(Tallier)),
        );
        // Items that do not decode as the handler's: its `item?` ends the
        // call with the API's error, saying why.
        let mut talk = client
            .conversation::<&str, i64>("positive", ())
            .typed_error::<TallyError>();
        bounded(talk.send(&"seven")).await.unwrap();
        talk.end_input();
        let ended = loop {
            match bounded(talk.next()).await {
                Some(Ok(_)) => continue,
                Some(Err(error)) => break error,
                None => panic!("the stream ended without the error"),
            }
        };
        match ended {
            Error::Remote(TallyError::Stream(broken)) => {
                assert_eq!(broken.kind(), ErrorKind::Codec, "{broken}");
            }
            other => panic!("{other:?}"),
        }
        // The typed client, as usual.
        let tally = client.client::<TallyClient>();
        let mut talk = tally.positive();
        for i in [3, 4] {
            bounded(talk.send(&i)).await.unwrap();
            assert_eq!(bounded(talk.next()).await.unwrap().unwrap(), i);
        }
        bounded(talk.send(&-1)).await.unwrap();
        match bounded(talk.next()).await {
            Some(Err(Error::Remote(TallyError::Negative(-1)))) => {}
            other => panic!("{other:?}"),
        }
        client.close();
    }
}
