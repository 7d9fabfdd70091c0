//! Streams over NATS, against a real nats-server on 127.0.0.1 (each test
//! starts its own): every direction through the typed clients, credit per
//! stream, a cancel that reaches the producer on the instance (even before
//! the first item), a caller that vanishes, a draining instance, a broker
//! restart in the middle of a stream, and hostile stream messages. An
//! instance whose process dies mid-stream is in `nats_scale.rs`.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dotrpc::{Error, ErrorKind, Peer, Router};
use dotrpc_nats::{ConnectNats, NatsService, async_nats};
use futures_util::StreamExt;
use support::bounded;
use support::demo::DemoClient;
use support::nats::NatsServer;
use tokio::sync::mpsc;

/// The ping interval is half of this: short, so that what pings find is
/// found quickly.
const CALL_TIMEOUT: Duration = Duration::from_millis(600);

/// The demo API, and the stream tests' producers beside it.
fn router(dropped: mpsc::UnboundedSender<&'static str>, sent: Arc<AtomicU64>) -> Arc<Router> {
    let router = support::demo::router();
    support::streams::add_producers(&router, dropped, sent);
    router
}

struct Fixture {
    call_timeout: Duration,
    nats: NatsServer,
    service: NatsService,
    dropped: mpsc::UnboundedReceiver<&'static str>,
    sent: Arc<AtomicU64>,
}

async fn fixture() -> Option<Fixture> {
    fixture_with(CALL_TIMEOUT).await
}

/// With `call_timeout` on both sides.
async fn fixture_with(call_timeout: Duration) -> Option<Fixture> {
    let nats = NatsServer::start()?;
    let (tell, dropped) = mpsc::unbounded_channel();
    let sent = Arc::new(AtomicU64::new(0));
    let peer = Peer::builder()
        .router(router(tell, Arc::clone(&sent)))
        .call_timeout(Some(call_timeout));
    let service = NatsService::builder(peer, "demo")
        .start(&nats.url)
        .await
        .unwrap();
    Some(Fixture {
        call_timeout,
        nats,
        service,
        dropped,
        sent,
    })
}

impl Fixture {
    async fn client(&self) -> Peer {
        Peer::builder()
            .call_timeout(Some(self.call_timeout))
            .connect_nats(&self.nats.url, "demo")
            .await
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_go_every_way_over_nats_through_the_typed_clients() {
    let Some(fixture) = fixture().await else {
        return;
    };
    let client = fixture.client().await;
    let demo = client.client::<DemoClient>();

    // Answers, and input, many times their windows, in order.
    support::count_then_sum(&client, 500, 300).await;

    // Both ways at once.
    let mut double = demo.double();
    for i in 0..50i64 {
        bounded(double.send(&i)).await.unwrap();
        let answer = bounded(double.next()).await.unwrap().unwrap();
        assert_eq!(answer, i * 2);
    }
    double.end_input();
    assert!(bounded(double.next()).await.is_none(), "the end");

    // The end with an error, after the items, told apart from the end.
    let mut failing = client
        .stream::<u64>("fail_after", (3,))
        .typed_error::<String>();
    for i in 0..3 {
        assert_eq!(bounded(failing.next()).await.unwrap().unwrap(), i);
    }
    match bounded(failing.next()).await {
        Some(Err(Error::Remote(message))) => assert_eq!(message, "failed after 3"),
        other => panic!("{other:?}"),
    }
    assert!(bounded(failing.next()).await.is_none());

    // From a plain thread.
    let blocking = client.stream::<u64>("count", (20, 0)).window(2);
    let items = tokio::task::spawn_blocking(move || {
        blocking.blocking_iter().collect::<dotrpc::Result<Vec<_>>>()
    });
    assert_eq!(
        bounded(items).await.unwrap().unwrap(),
        (0..20).collect::<Vec<u64>>()
    );

    // No instance at all: at once, as for a call.
    let lonely = Peer::builder()
        .connect_nats(&fixture.nats.url, "nobody")
        .await
        .unwrap();
    let mut nowhere = lonely.stream::<u64>("count", (1, 0));
    let error = bounded(nowhere.next()).await.unwrap().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NoResponders);
    fixture.service.drain(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_holds_back_only_its_own_stream() {
    let Some(fixture) = fixture().await else {
        return;
    };
    let client = fixture.client().await;
    // Opened, one item taken, then left unread.
    let mut slow = client.stream::<u64>("counted", ()).window(8);
    assert_eq!(bounded(slow.next()).await.unwrap().unwrap(), 0);
    // Meanwhile another stream and calls on the same peer go at full speed.
    let mut fast = client.stream::<u64>("count", (5000, 0)).window(64);
    let mut taken = 0u64;
    while let Some(item) = bounded(fast.next()).await {
        assert_eq!(item.unwrap(), taken);
        taken += 1;
    }
    assert_eq!(taken, 5000);
    let sum: i64 = bounded(client.call("add", (2, 3))).await.unwrap();
    assert_eq!(sum, 5);
    // The slow stream's producer never got past what was taken plus the
    // window, however long it had.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = fixture.sent.load(Ordering::SeqCst);
    assert!(sent <= 1 + 8, "sent {sent} with 1 taken and a window of 8");
    drop(slow);
    fixture.service.drain(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_reaches_the_producer_on_the_instance() {
    let Some(mut fixture) = fixture().await else {
        return;
    };
    let client = fixture.client().await;

    // After a few items.
    let mut forever = client.stream::<u64>("forever", ()).window(4);
    for i in 0..10 {
        assert_eq!(bounded(forever.next()).await.unwrap().unwrap(), i);
    }
    drop(forever);
    assert_eq!(bounded(fixture.dropped.recv()).await, Some("forever"));

    // Before the first item: the cancel waits for the instance to say
    // where it is, which it does as soon as it takes the call.
    let mut silent = client
        .stream::<u64>("silent", ())
        .timeout(Duration::from_millis(100));
    let error = bounded(silent.next()).await.unwrap().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout);
    drop(silent);
    assert_eq!(bounded(fixture.dropped.recv()).await, Some("silent"));

    // Later calls are not disturbed.
    let sum: i64 = bounded(client.call("add", (1, 1))).await.unwrap();
    assert_eq!(sum, 2);
    fixture.service.drain(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_vanishes_stops_its_streams_on_the_instance() {
    let Some(mut fixture) = fixture().await else {
        return;
    };
    // A caller on its own NATS connection, which goes away without a word
    // (as a process that dies).
    let connection = async_nats::connect(&fixture.nats.url).await.unwrap();
    let client = Peer::builder()
        .call_timeout(Some(CALL_TIMEOUT))
        .connect_nats_with(connection.clone(), "demo")
        .await
        .unwrap();
    let mut forever = client.stream::<u64>("forever", ()).window(4);
    assert_eq!(bounded(forever.next()).await.unwrap().unwrap(), 0);
    client.close();
    client.closed().await;
    drop(connection);
    // The instance pings its callers: the answer "no responders" tells it.
    assert_eq!(bounded(fixture.dropped.recv()).await, Some("forever"));
    drop(forever);
    fixture.service.drain(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_stream_messages_end_at_most_their_own_stream() {
    let Some(mut fixture) = fixture().await else {
        return;
    };
    let client = fixture.client().await;
    let nats = async_nats::connect(&fixture.nats.url).await.unwrap();
    // A foreign caller opens a stream by hand, as the README says.
    let inbox = nats.new_inbox();
    let mut replies = nats.subscribe(format!("{inbox}.>")).await.unwrap();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Dotrpc-Credit", "2");
    nats.publish_with_reply_and_headers(
        "demo.forever",
        format!("{inbox}.1"),
        headers,
        bytes::Bytes::new(),
    )
    .await
    .unwrap();
    let mut messages = Vec::new();
    let mut instance = None;
    for _ in 0..3 {
        let message = bounded(replies.next()).await.unwrap();
        let kind = message.headers.as_ref().unwrap().get("Dotrpc-Stream");
        messages.push(kind.unwrap().as_str().to_owned());
        instance = message.reply.clone();
    }
    // The ping saying where the instance is, then the two items granted
    // (in whichever order NATS delivered them).
    messages.sort();
    assert_eq!(messages, ["item", "item", "ping"]);
    let instance = instance.unwrap();
    let stream = |kind: &str| {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Dotrpc-Stream", kind);
        headers
    };
    // Nonsense: an unknown kind, credit that is not a number, a stream id
    // nobody has, credit far beyond the window.
    for (subject, kind, body) in [
        (instance.to_string(), "teleport", vec![1]),
        (instance.to_string(), "credit", vec![0xa1, b'x']),
        (format!("{instance}999"), "credit", vec![5]),
        (
            instance.to_string(),
            "credit",
            vec![0xce, 0xff, 0xff, 0xff, 0xff],
        ),
    ] {
        nats.publish_with_headers(subject, stream(kind), body.into())
            .await
            .unwrap();
    }
    // The credit overflow ended that stream, with an error, and only it.
    assert_eq!(bounded(fixture.dropped.recv()).await, Some("forever"));
    let sum: i64 = bounded(client.call("add", (4, 5))).await.unwrap();
    assert_eq!(sum, 9);
    let counted: Vec<u64> = client
        .stream::<u64>("count", (3, 0))
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(counted, [0, 1, 2]);
    fixture.service.drain(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_instance_ends_its_streams_instead_of_waiting_out_the_grace() {
    let Some(mut fixture) = fixture().await else {
        return;
    };
    let client = fixture.client().await;
    let mut forever = client.stream::<u64>("forever", ()).window(4);
    assert_eq!(bounded(forever.next()).await.unwrap().unwrap(), 0);
    let started = std::time::Instant::now();
    bounded(fixture.service.drain(Duration::from_secs(30))).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(bounded(fixture.dropped.recv()).await, Some("forever"));
    // The items it had room for, then an end by error: never a clean end.
    let mut items = 1;
    let error = loop {
        match bounded(forever.next()).await {
            Some(Ok(_)) => items += 1,
            Some(Err(error)) => break error,
            None => panic!("a drained stream ended as if complete"),
        }
    };
    // Whichever comes first: the handler's error, or NATS saying the
    // instance's subject for the stream is gone (a grant found nobody).
    assert!(
        matches!(error.kind(), ErrorKind::NoResponders | ErrorKind::Internal),
        "{error:?}"
    );
    assert!(items <= 1 + 4, "{items} items with a window of 4");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn across_a_broker_restart_a_stream_goes_on_and_loses_nothing_silently() {
    // Pings a second apart: each side's client reconnects within it.
    let Some(mut fixture) = fixture_with(Duration::from_secs(2)).await else {
        return;
    };
    let client = fixture.client().await;
    // An item every 5 ms; the broker goes away for a while in the middle.
    let n = 300;
    let mut count = client.stream::<u64>("count", (n, 5)).window(16);
    let (mut expected, mut lost) = (0u64, 0u64);
    for _ in 0..20 {
        assert_eq!(bounded(count.next()).await.unwrap().unwrap(), expected);
        expected += 1;
    }
    fixture.nats.pause();
    tokio::time::sleep(Duration::from_millis(200)).await;
    fixture.nats.resume();
    // Every item comes in order, or is counted as lost (those on their way
    // while the broker was down): never a gap nobody hears of, and the
    // stream goes on to its end.
    while let Some(item) = bounded(count.next()).await {
        match item {
            Ok(item) => {
                assert_eq!(item, expected, "an item out of its place");
                expected += 1;
            }
            Err(Error::Lagged { skipped }) => {
                expected += skipped;
                lost += skipped;
            }
            Err(error) => panic!("the stream failed at {expected}: {error}"),
        }
    }
    assert_eq!(expected, n, "every item came or was counted as lost");
    assert!(lost <= 16 + 1, "at most a window lost: {lost}");
    fixture.service.drain(Duration::from_secs(1)).await;
}
