//! Connection life with auto-reconnect: a client survives its server
//! restarting, reports every state change, restores its subscriptions, and
//! treats calls made while down as configured (fail fast, or wait up to their
//! timeout); it gives up after its maximum attempts. A call whose connection
//! drops before its reply is sent again only if it is idempotent, and then at
//! most four times in all. Nothing hangs.

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dotrpc::{
    CallContext, Error, ErrorKind, Peer, Router, Server,
    peer::{ConnectionEvent, Reconnect, WhileDown},
    rpc_api,
};
use support::{bounded, demo};
use tokio::sync::mpsc;

async fn serve_at(addr: SocketAddr) -> Server {
    // The port was just freed by the previous server; the listener may need a
    // moment to be bindable again.
    bounded(async {
        loop {
            match Server::builder(Peer::builder().router(demo::router()))
                .bind(addr)
                .await
            {
                Ok(server) => return server,
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    })
    .await
}

type Events = Arc<Mutex<Vec<ConnectionEvent>>>;

/// A reconnecting client that records its events and subscribes to ticks on
/// every connection.
async fn client(
    addr: SocketAddr,
    policy: Reconnect,
) -> (Peer, Events, mpsc::UnboundedReceiver<u64>) {
    let events: Events = Arc::default();
    let (ticks, received) = mpsc::unbounded_channel();
    let router = Arc::new(Router::new());
    router.set_handler("events.tick", move |i: u64| {
        let ticks = ticks.clone();
        async move {
            let _ = ticks.send(i);
        }
    });
    let seen = Arc::clone(&events);
    let peer = Peer::builder()
        .router(router)
        .reconnect(policy)
        .on_event(move |event| seen.lock().unwrap().push(event.clone()))
        .on_connected(|peer| {
            // The server forgets subscriptions with the connection.
            let _ = peer.notify("events.subscribe", (1,)).send();
        })
        .connect(addr)
        .await
        .unwrap();
    (peer, events, received)
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    bounded(async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    assert!(done(), "{what}");
}

fn fast() -> Reconnect {
    Reconnect::new()
        .initial_backoff(Duration::from_millis(20))
        .max_backoff(Duration::from_millis(100))
}

#[tokio::test]
async fn a_client_reconnects_after_the_server_restarts_and_resubscribes() {
    let server = serve_at("127.0.0.1:0".parse().unwrap()).await;
    let addr = support::addr(&server);
    let (peer, events, mut ticks) = client(addr, fast()).await;
    assert_eq!(bounded(peer.call::<i64>("add", (1, 2))).await.unwrap(), 3);
    assert_eq!(
        bounded(ticks.recv()).await,
        Some(0),
        "subscribed on connect"
    );

    let pending = tokio::spawn(peer.call::<u64>("sleep", (60_000,)).into_future());
    wait_until("the call is pending", || peer.pending_calls() == 1).await;
    server.shutdown(Duration::from_millis(10)).await;
    let error = bounded(pending).await.unwrap().unwrap_err();
    assert_eq!(
        error.kind(),
        ErrorKind::Disconnected,
        "calls pending at the drop fail: {error:?}"
    );

    wait_until("the peer is down", || !peer.is_connected()).await;
    let error = bounded(peer.call::<i64>("add", (1, 2))).await.unwrap_err();
    assert_eq!(
        error.kind(),
        ErrorKind::Disconnected,
        "fail fast while down: {error:?}"
    );
    assert!(!peer.is_closed(), "down, but not closed for good");

    let server = serve_at(addr).await;
    wait_until("the peer is back", || peer.is_connected()).await;
    assert_eq!(bounded(peer.call::<i64>("add", (2, 2))).await.unwrap(), 4);
    assert_eq!(
        bounded(ticks.recv()).await,
        Some(0),
        "subscribed again on reconnect"
    );

    let events = events.lock().unwrap().clone();
    assert_eq!(
        events[..2],
        [ConnectionEvent::Connecting, ConnectionEvent::Connected]
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ConnectionEvent::Disconnected { .. })),
        "{events:?}"
    );
    assert!(
        events.contains(&ConnectionEvent::Reconnecting { attempt: 1 }),
        "{events:?}"
    );
    assert_eq!(
        events.last(),
        Some(&ConnectionEvent::Connected),
        "{events:?}"
    );

    peer.close();
    assert!(peer.is_closed());
    bounded(peer.closed()).await;
    server.shutdown(Duration::from_secs(1)).await;
    drop(peer);
    support::no_tasks_left().await;
}

#[tokio::test]
async fn calls_made_while_down_can_wait_up_to_their_timeout() {
    let server = serve_at("127.0.0.1:0".parse().unwrap()).await;
    let addr = support::addr(&server);
    let (peer, _events, _ticks) = client(addr, fast().while_down(WhileDown::Wait)).await;
    server.shutdown(Duration::from_millis(10)).await;
    wait_until("the peer is down", || !peer.is_connected()).await;

    let too_short = bounded(
        peer.call::<i64>("add", (1, 1))
            .timeout(Duration::from_millis(30)),
    )
    .await;
    assert!(matches!(too_short, Err(Error::Timeout)), "{too_short:?}");

    let waiting = tokio::spawn(
        peer.call::<i64>("add", (20, 22))
            .timeout(Duration::from_secs(5))
            .into_future(),
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    let server = serve_at(addr).await;
    assert_eq!(
        bounded(waiting).await.unwrap().unwrap(),
        42,
        "the call waited for the reconnect"
    );

    peer.close();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn reconnecting_gives_up_after_its_maximum_attempts() {
    let server = serve_at("127.0.0.1:0".parse().unwrap()).await;
    let addr = support::addr(&server);
    let policy = Reconnect::new()
        .initial_backoff(Duration::from_millis(5))
        .max_attempts(3)
        .while_down(WhileDown::Wait);
    let (peer, events, _ticks) = client(addr, policy).await;
    server.shutdown(Duration::from_millis(10)).await;
    wait_until("the peer is down", || !peer.is_connected()).await;
    // A call made while down waits for a reconnect, and must not outlive the
    // giving up.
    let waiting = tokio::spawn(peer.call::<i64>("add", (1, 1)).into_future());

    bounded(peer.closed()).await;
    assert!(peer.is_closed());
    let error = bounded(waiting).await.unwrap().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Disconnected, "{error:?}");
    let events = events.lock().unwrap().clone();
    assert!(
        events.contains(&ConnectionEvent::Reconnecting { attempt: 3 }),
        "{events:?}"
    );
    assert_eq!(
        events.last(),
        Some(&ConnectionEvent::GaveUp { attempts: 3 }),
        "{events:?}"
    );
}

#[tokio::test]
async fn closing_a_reconnecting_peer_stops_it_for_good() {
    let server = serve_at("127.0.0.1:0".parse().unwrap()).await;
    let addr = support::addr(&server);
    let (peer, events, _ticks) = client(addr, fast()).await;
    peer.close();
    bounded(peer.closed()).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let events = events.lock().unwrap().clone();
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, ConnectionEvent::Reconnecting { .. })),
        "{events:?}"
    );
    wait_until("the server saw the client go", || {
        server.connection_count() == 0
    })
    .await;
    server.shutdown(Duration::from_secs(1)).await;
}

use std::future::IntoFuture;

/// An API whose method drops its caller's connection instead of answering,
/// its first few times.
#[rpc_api]
pub trait Flaky {
    /// How many times it ran, once it answers.
    #[rpc(idempotent)]
    async fn count(&self, ctx: CallContext) -> u64;
}

struct MyFlaky {
    runs: Arc<AtomicU64>,
    /// How many of the first runs drop the connection.
    drops: u64,
}

impl Flaky for MyFlaky {
    async fn count(&self, ctx: CallContext) -> u64 {
        let run = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
        if run <= self.drops {
            ctx.peer().close();
            std::future::pending::<()>().await;
        }
        run
    }
}

/// A server of `Flaky` whose first `drops` runs drop the connection, and a
/// client that reconnects with `policy`; the runs so far.
async fn flaky(drops: u64, policy: Reconnect) -> (Server, Peer, Arc<AtomicU64>) {
    let runs = Arc::new(AtomicU64::new(0));
    let api = MyFlaky {
        runs: Arc::clone(&runs),
        drops,
    };
    let server = Server::builder(Peer::builder().serve(FlakyService(api)))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let peer = Peer::builder()
        .reconnect(policy)
        .connect(support::addr(&server))
        .await
        .unwrap();
    (server, peer, runs)
}

#[tokio::test]
async fn an_idempotent_call_is_sent_again_on_the_next_connection() {
    let (server, peer, _runs) = flaky(1, fast().while_down(WhileDown::Wait)).await;
    let client = peer
        .client::<FlakyClient>()
        .with_timeout(Duration::from_secs(10));
    // The first run dropped the connection; the second answered.
    assert_eq!(bounded(client.count()).await.unwrap(), 2);

    // The same for a dynamic call marked idempotent.
    let (server2, peer2, runs2) = flaky(1, fast().while_down(WhileDown::Wait)).await;
    let ran: u64 = bounded(peer2.call("count", ()).idempotent()).await.unwrap();
    assert_eq!((ran, runs2.load(Ordering::SeqCst)), (2, 2));

    for (peer, server) in [(peer, server), (peer2, server2)] {
        peer.close();
        server.shutdown(Duration::from_secs(1)).await;
    }
}

#[tokio::test]
async fn a_call_not_marked_idempotent_fails_rather_than_runs_twice() {
    let (server, peer, runs) = flaky(1, fast().while_down(WhileDown::Wait)).await;
    let error = bounded(peer.call::<u64>("count", ())).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Disconnected, "{error:?}");
    // The next call (made while down, so it waits) is the second run: the
    // first call was not sent again.
    let ran: u64 = bounded(peer.call("count", ()).timeout(Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!((ran, runs.load(Ordering::SeqCst)), (2, 2));
    peer.close();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn an_idempotent_call_is_sent_at_most_four_times() {
    let (server, peer, runs) = flaky(u64::MAX, fast().while_down(WhileDown::Wait)).await;
    let error = bounded(peer.client::<FlakyClient>().count())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Disconnected, "{error:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 4);
    peer.close();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn an_idempotent_call_is_sent_again_only_within_its_timeout() {
    // Reconnecting takes at least 500 ms; the call has 100.
    let slow = Reconnect::new()
        .initial_backoff(Duration::from_millis(500))
        .while_down(WhileDown::Wait);
    let (server, peer, runs) = flaky(1, slow).await;
    let outcome = bounded(
        peer.client::<FlakyClient>()
            .count()
            .timeout(Duration::from_millis(100)),
    )
    .await;
    assert!(matches!(outcome, Err(Error::Timeout)), "{outcome:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    peer.close();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn calls_that_fail_fast_while_down_are_not_sent_again() {
    let (server, peer, runs) = flaky(1, fast()).await;
    let error = bounded(peer.client::<FlakyClient>().count())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Disconnected, "{error:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1, "not sent again");
    peer.close();
    server.shutdown(Duration::from_secs(1)).await;
}
