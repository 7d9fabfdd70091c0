//! Every call mode, typed stubs and dynamic calls alike, with its edge
//! cases: await with per-API and per-call timeouts, blocking waits from plain
//! threads and `spawn_blocking` (and the error on a runtime worker thread),
//! callbacks called exactly once on each outcome, and handles through each
//! status.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dotrpc::runtime::BackgroundRuntime as Runtime;
use dotrpc::{Error, ErrorKind, Peer, client::CallStatus, rpc_api};
use support::{LIMIT, bounded, demo};

/// A slow API, nested, to see per-API defaults reach nested namespaces.
#[rpc_api]
pub trait Slow {
    /// Sleeps `ms`, returns it.
    async fn sleep(&self, ms: u64) -> u64;
    /// Nested.
    #[rpc(nested)]
    fn inner(&self) -> &impl SlowInner;
}

/// The nested slow API.
#[rpc_api]
pub trait SlowInner {
    /// Sleeps `ms`, returns it.
    async fn sleep(&self, ms: u64) -> u64;
}

struct Sleeper;

impl SlowInner for Sleeper {
    async fn sleep(&self, ms: u64) -> u64 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    }
}

struct MySlow(Sleeper);

impl Slow for MySlow {
    type Inner = Sleeper;
    async fn sleep(&self, ms: u64) -> u64 {
        self.0.sleep(ms).await
    }
    fn inner(&self) -> &Sleeper {
        &self.0
    }
}

fn slow_pair() -> (Peer, Peer) {
    dotrpc::memory_pair(
        Peer::builder(),
        Peer::builder().serve(SlowService(MySlow(Sleeper))),
    )
}

/// Waits (bounded) until `peer` has no pending calls: aborted tasks drop
/// their transactions as soon as the runtime gets to them.
async fn no_pending(peer: &Peer) {
    bounded(async {
        while peer.pending_calls() > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_per_api_timeout_reaches_nested_namespaces_and_a_call_can_override_it() {
    let (client, _server) = slow_pair();
    let slow = client
        .client::<SlowClient>()
        .with_timeout(Duration::from_millis(30));

    assert_eq!(
        bounded(slow.sleep(0)).await.unwrap(),
        0,
        "a reply before the timeout"
    );
    assert!(matches!(
        bounded(slow.sleep(300)).await,
        Err(Error::Timeout)
    ));
    assert!(matches!(
        bounded(slow.inner.sleep(300)).await,
        Err(Error::Timeout)
    ));
    let overridden = bounded(slow.inner.sleep(60).timeout(Duration::from_secs(5))).await;
    assert_eq!(overridden.unwrap(), 60, "the per-call timeout wins");
    no_pending(&client).await;
}

#[tokio::test]
async fn a_blocking_wait_on_a_runtime_thread_is_an_error_not_a_deadlock() {
    let (client, _server) = slow_pair();
    let error = client.call::<u64>("sleep", (0,)).wait().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Misuse);
    assert!(error.to_string().contains("use `.await` there"), "{error}");

    let handle = client.client::<SlowClient>().sleep(0).spawn();
    let waited = handle.wait_timeout(Duration::from_secs(1));
    assert_eq!(waited.unwrap_err().kind(), ErrorKind::Misuse);
}

/// The blocking pool is where tokio says blocking work goes: waiting there
/// works on either kind of runtime, a call and a handle alike.
async fn spawn_blocking_closures_wait() {
    let (client, _server) = slow_pair();
    let slow = client.client::<SlowClient>();
    let (waited, handled) = bounded(tokio::task::spawn_blocking(move || {
        let waited = slow.sleep(1).wait();
        let handled = slow
            .inner
            .sleep(2)
            .spawn()
            .wait_timeout(Duration::from_secs(10));
        (waited, handled)
    }))
    .await
    .unwrap();
    assert_eq!(waited.unwrap(), 1);
    assert_eq!(handled.unwrap(), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn spawn_blocking_closures_may_wait_on_a_current_thread_runtime() {
    spawn_blocking_closures_wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_blocking_closures_may_wait_on_a_multi_thread_runtime() {
    spawn_blocking_closures_wait().await;
}

#[test]
fn plain_threads_wait_for_calls_on_a_background_runtime() {
    let runtime = Runtime::new().unwrap();
    let server = runtime.block_on(support::tcp_server(demo::router()));
    let peer = runtime
        .block_on(Peer::builder().connect(support::addr(&server)))
        .unwrap();

    let sum: i64 = peer.call("add", (2, 3)).wait().unwrap();
    assert_eq!(sum, 5);
    let late = peer
        .call::<u64>("sleep", (500,))
        .wait_timeout(Duration::from_millis(20));
    assert!(matches!(late, Err(Error::Timeout)), "{late:?}");

    // Several plain threads at once.
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let peer = peer.clone();
            std::thread::spawn(move || {
                peer.call::<i64>("add", (i, 100))
                    .wait_timeout(LIMIT)
                    .unwrap()
            })
        })
        .collect();
    let sums: Vec<i64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(sums, vec![100, 101, 102, 103]);

    peer.close();
    runtime.block_on(server.shutdown(Duration::from_secs(1)));
}

/// A callback of the shape `Call::callback` takes, for `u64` results.
type Callback = Box<dyn FnOnce(Result<u64, Error>) + Send>;

/// Records callback outcomes (by kind) and counts how often callbacks ran.
struct Recorder {
    calls: Arc<AtomicUsize>,
    sender: std::sync::mpsc::Sender<Result<u64, ErrorKind>>,
}

impl Recorder {
    fn new() -> (Recorder, std::sync::mpsc::Receiver<Result<u64, ErrorKind>>) {
        let (sender, outcomes) = std::sync::mpsc::channel();
        (
            Recorder {
                calls: Arc::default(),
                sender,
            },
            outcomes,
        )
    }

    fn callback(&self) -> Callback {
        let (sender, calls) = (self.sender.clone(), Arc::clone(&self.calls));
        Box::new(move |outcome| {
            calls.fetch_add(1, Ordering::SeqCst);
            let _ = sender.send(outcome.map_err(|e| e.kind()));
        })
    }
}

#[test]
fn callbacks_run_exactly_once_on_every_outcome() {
    let runtime = Runtime::new().unwrap();
    let server = runtime.block_on(support::tcp_server(demo::router()));
    let peer = runtime
        .block_on(Peer::builder().connect(support::addr(&server)))
        .unwrap();
    let (recorder, outcomes) = Recorder::new();
    let callback = || recorder.callback();

    peer.call::<u64>("sleep", (1,)).callback(callback());
    assert_eq!(outcomes.recv_timeout(LIMIT).unwrap(), Ok(1), "a result");
    peer.call::<u64>("math.div", (1.0, 0.0))
        .callback(callback());
    assert_eq!(
        outcomes.recv_timeout(LIMIT).unwrap(),
        Err(ErrorKind::Remote),
        "a remote error"
    );
    peer.call::<u64>("sleep", (500,))
        .timeout(Duration::from_millis(10))
        .callback(callback());
    assert_eq!(
        outcomes.recv_timeout(LIMIT).unwrap(),
        Err(ErrorKind::Timeout),
        "a timeout"
    );
    peer.call::<u64>("sleep", (60_000,)).callback(callback());
    while peer.pending_calls() == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    peer.close();
    assert_eq!(
        outcomes.recv_timeout(LIMIT).unwrap(),
        Err(ErrorKind::Disconnected),
        "a disconnect"
    );

    // A callback whose runtime stops first still runs, with `Cancelled`.
    let peer = runtime
        .block_on(Peer::builder().connect(support::addr(&server)))
        .unwrap();
    peer.call::<u64>("sleep", (60_000,)).callback(callback());
    while peer.pending_calls() == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    drop(server);
    drop(runtime);
    let last = outcomes.recv_timeout(LIMIT).unwrap();
    assert!(
        matches!(last, Err(ErrorKind::Cancelled | ErrorKind::Disconnected)),
        "{last:?}"
    );

    assert!(
        outcomes.recv_timeout(Duration::from_millis(50)).is_err(),
        "no callback ran twice"
    );
    assert_eq!(recorder.calls.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn handles_go_from_pending_to_done_failed_timed_out_or_cancelled() {
    let (client, _server) =
        dotrpc::memory_pair(Peer::builder(), Peer::builder().router(demo::router()));

    let done = client.call::<u64>("sleep", (20,)).spawn();
    assert_eq!(done.status(), CallStatus::Pending);
    assert_eq!(bounded(done).await.unwrap(), 20);

    let handle = client.call::<u64>("sleep", (10,)).spawn();
    bounded(async {
        while handle.status() == CallStatus::Pending {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    assert_eq!(handle.status(), CallStatus::Done);
    assert!(handle.msgid().is_some());
    assert!(handle.elapsed() >= Duration::from_millis(10));
    assert_eq!(handle.try_take().unwrap().unwrap(), 10);
    assert!(handle.try_take().is_none(), "the outcome is taken once");
    assert_eq!(handle.status(), CallStatus::Done, "and the status stays");

    let failed = client.call::<u64>("math.div", (1.0, 0.0)).spawn();
    assert!(matches!(bounded(failed).await, Err(Error::Remote(_))));

    let timed_out = client
        .call::<u64>("sleep", (500,))
        .timeout(Duration::from_millis(5))
        .spawn();
    bounded(async {
        while timed_out.status() == CallStatus::Pending {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    assert_eq!(timed_out.status(), CallStatus::TimedOut);

    let cancelled = client.call::<u64>("sleep", (60_000,)).spawn();
    bounded(async {
        while cancelled.msgid().is_none() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    cancelled.cancel();
    assert_eq!(cancelled.status(), CallStatus::Cancelled);
    assert!(matches!(bounded(cancelled).await, Err(Error::Cancelled)));
    no_pending(&client).await;

    // Dropping a handle cancels its call too.
    drop(client.call::<u64>("sleep", (60_000,)).spawn());
    no_pending(&client).await;
}

#[test]
fn a_handle_is_polled_and_waited_on_from_a_plain_thread() {
    let runtime = Runtime::new().unwrap();
    let (client, _server) = runtime.block_on(async {
        dotrpc::memory_pair(Peer::builder(), Peer::builder().router(demo::router()))
    });
    let handle = client.call::<u64>("sleep", (30,)).spawn();
    // "Wait with a bound" has one shape everywhere: `Timeout` when the
    // bound passes first; a handle's call goes on.
    let early = handle.wait_timeout(Duration::from_millis(1));
    assert_eq!(early.unwrap_err().kind(), ErrorKind::Timeout);
    assert_eq!(handle.status(), CallStatus::Pending, "still running");
    let mut polls = 0;
    while handle.status() == CallStatus::Pending && polls < 1_000 {
        polls += 1;
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(handle.wait_timeout(LIMIT).unwrap(), 30);
    assert_eq!(client.pending_calls(), 0);
    // Taken once; a second wait says so rather than time out.
    let again = handle.wait_timeout(LIMIT).unwrap_err();
    assert_eq!(again.kind(), ErrorKind::Misuse);
}
