//! Back-pressure on sends: a producer that awaits its sends goes at the
//! receiver's pace with bounded memory on both sides; one that sends without
//! waiting is closed past `max_queued_bytes`, and the reason says whether the
//! other side stopped reading or reads slower than it is sent to. Calls read
//! but not yet run when that happens are dropped with the connection.

mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use dotrpc::transport::{FrameSink, FrameSource, Frames, Transport};
use dotrpc::{Peer, Router, error::DisconnectReason, peer::ConnectionEvent};
use support::bounded;

/// How many events the pacing test sends.
const EVENTS: u64 = 10_000_000;

/// What the slow counter has seen: the next number it expects, and whether
/// every number came in order.
#[derive(Default)]
struct Counted {
    next: AtomicU64,
    out_of_order: AtomicU64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_million_awaited_events_arrive_all_in_order_with_bounded_memory() {
    let counted = Arc::new(Counted::default());
    let router = Arc::new(Router::new());
    let seen = Arc::clone(&counted);
    router.set_handler("count", move |i: u64| {
        let seen = Arc::clone(&seen);
        async move {
            if seen.next.fetch_add(1, Ordering::Relaxed) != i {
                seen.out_of_order.fetch_add(1, Ordering::Relaxed);
            }
            // The consumer is slower than the producer: now and then it
            // stops for a while.
            if i.is_multiple_of(100_000) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });
    // One handler at a time: handled in arrival order.
    let server_side = Peer::builder().router(router).max_concurrent_handlers(1);
    let server = dotrpc::Server::builder(server_side)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let send_buffer = 256 * 1024;
    let client = Peer::builder()
        .send_buffer(send_buffer)
        .connect(support::addr(&server))
        .await
        .unwrap();

    let rss_before = rss_kib();
    let mut most_queued = 0;
    let producer = async {
        for i in 0..EVENTS {
            client.notify("count", (i,)).await.unwrap();
            if i.is_multiple_of(4096) {
                most_queued = most_queued.max(client.queued_bytes());
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(600), producer)
        .await
        .expect("the producer finished");
    tokio::time::timeout(Duration::from_secs(60), async {
        while counted.next.load(Ordering::Relaxed) < EVENTS {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("every event was handled");

    assert_eq!(counted.next.load(Ordering::Relaxed), EVENTS);
    assert_eq!(counted.out_of_order.load(Ordering::Relaxed), 0, "in order");
    // The producer never queued much past its send buffer (one event of
    // slack per send that found room).
    assert!(
        most_queued <= send_buffer + 64,
        "{most_queued} bytes were queued"
    );
    // Unbounded queues would hold the ~150 MB the events take on the wire.
    if let (Some(before), Some(after)) = (rss_before, rss_kib()) {
        assert!(
            after < before + 64 * 1024,
            "RSS grew from {before} to {after} KiB"
        );
    }
    client.close();
    server.shutdown(Duration::from_secs(1)).await;
}

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// How fast the far end of a test transport reads: it takes frames only
/// as the test allows them, so "slow but reading" and "stopped" are exact.
#[derive(Default)]
struct Pace {
    allowance: AtomicU64,
    taken: AtomicU64,
    waker: Mutex<Option<Waker>>,
}

impl Pace {
    /// Lets the reader take `frames` more frames.
    fn allow(&self, frames: u64) {
        self.allowance.fetch_add(frames, Ordering::SeqCst);
        if let Some(waker) = self.waker.lock().unwrap().take() {
            waker.wake();
        }
    }
}

/// A message transport's far end that reads at the test's pace.
struct PacedReader(Arc<Pace>);

impl FrameSink for PacedReader {
    fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        frames: &mut Frames,
    ) -> Poll<std::io::Result<()>> {
        let pace = &self.0;
        *pace.waker.lock().unwrap() = Some(cx.waker().clone());
        while !frames.is_empty() {
            let allowed = pace.allowance.load(Ordering::SeqCst);
            if allowed == 0 {
                return Poll::Pending;
            }
            pace.allowance.store(allowed - 1, Ordering::SeqCst);
            frames.pop_frame();
            pace.taken.fetch_add(1, Ordering::SeqCst);
        }
        Poll::Ready(Ok(()))
    }

    fn poll_close(&mut self, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A source that never sends anything and never ends.
struct Silent;

impl FrameSource for Silent {
    fn poll_frame(&mut self, _: &mut Context<'_>) -> Poll<Option<std::io::Result<Bytes>>> {
        Poll::Pending
    }
}

/// A peer over a transport whose other end reads at `pace`, with a small
/// queue limit; returns it and the reason its connection closed with.
fn peer_reading(pace: &Arc<Pace>) -> (Peer, Arc<Mutex<Option<DisconnectReason>>>) {
    let reason = Arc::new(Mutex::new(None));
    let seen = Arc::clone(&reason);
    let peer = Peer::builder()
        .handshake(false)
        .send_buffer(16 * 1024)
        .max_queued_bytes(64 * 1024)
        .on_event(move |event| {
            if let ConnectionEvent::Disconnected { reason } = event {
                *seen.lock().unwrap() = Some(reason.clone());
            }
        })
        .spawn(Transport::from_frames(
            Silent,
            PacedReader(Arc::clone(pace)),
        ));
    (peer, reason)
}

#[tokio::test]
async fn an_awaited_send_waits_for_room_and_goes_on_when_there_is() {
    let pace = Arc::new(Pace::default());
    let (peer, reason) = peer_reading(&pace);
    // A reader that takes 16 frames every millisecond.
    let reader = tokio::spawn({
        let pace = Arc::clone(&pace);
        async move {
            loop {
                pace.allow(16);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    });
    // Over four times the queue limit in all, awaited: nothing is dropped,
    // the queue never grows past the send buffer, the connection stays up.
    const SENT: u64 = 5_000;
    for i in 0..SENT {
        bounded(peer.notify("tick", (i, "padding to fill the queue faster")))
            .await
            .unwrap();
        assert!(peer.queued_bytes() <= 16 * 1024 + 128);
    }
    assert!(peer.is_connected(), "{:?}", reason.lock().unwrap());
    bounded(async {
        while pace.taken.load(Ordering::SeqCst) < SENT {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    reader.abort();
    peer.close();
}

/// Awaited, an event to a group waits for room in each member's queue, as
/// one peer's does: a slow member holds the broadcast back instead of being
/// cut off for a queue past its limit.
#[tokio::test]
async fn an_awaited_broadcast_waits_for_room_in_every_members_queue() {
    let (fast, slow) = (Arc::new(Pace::default()), Arc::new(Pace::default()));
    let ((fast_peer, fast_reason), (slow_peer, slow_reason)) =
        (peer_reading(&fast), peer_reading(&slow));
    let group = dotrpc::Group::new();
    group.insert(&fast_peer);
    group.insert(&slow_peer);
    let reader = tokio::spawn({
        let (fast, slow) = (Arc::clone(&fast), Arc::clone(&slow));
        async move {
            loop {
                fast.allow(64);
                slow.allow(4);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    });
    const SENT: u64 = 3_000;
    for i in 0..SENT {
        let reached = bounded(group.notify("tick", (i, "padding to fill the queue faster")))
            .await
            .unwrap();
        assert_eq!(reached, 2);
        for peer in [&fast_peer, &slow_peer] {
            assert!(peer.queued_bytes() <= 16 * 1024 + 128);
        }
    }
    assert!(
        fast_peer.is_connected(),
        "{:?}",
        fast_reason.lock().unwrap()
    );
    assert!(
        slow_peer.is_connected(),
        "{:?}",
        slow_reason.lock().unwrap()
    );
    bounded(async {
        while slow.taken.load(Ordering::SeqCst) < SENT {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    assert_eq!(fast.taken.load(Ordering::SeqCst), SENT);
    reader.abort();
    fast_peer.close();
    slow_peer.close();
}

#[tokio::test]
async fn sends_that_do_not_wait_close_a_slow_reader_saying_it_reads_slowly() {
    let pace = Arc::new(Pace::default());
    let (peer, reason) = peer_reading(&pace);
    let failed = bounded(async {
        let mut sent = 0u64;
        loop {
            // Ten sent for each one read: reading, but slower.
            for _ in 0..10 {
                if let Err(error) = peer.notify("tick", (sent, "padding")).send() {
                    return error;
                }
                sent += 1;
            }
            pace.allow(1);
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_eq!(failed.kind(), dotrpc::ErrorKind::Disconnected);
    let reason = reason.lock().unwrap().clone().expect("a reason");
    assert!(
        matches!(reason, DisconnectReason::Backlog { stalled_for: None, queued } if queued > 64 * 1024),
        "{reason:?}"
    );
    assert!(
        reason
            .to_string()
            .contains("reads slower than it is sent to"),
        "{reason}"
    );
}

#[tokio::test]
async fn sends_that_do_not_wait_close_a_stopped_reader_saying_it_stopped() {
    let pace = Arc::new(Pace::default());
    let (peer, reason) = peer_reading(&pace);
    let failed = bounded(async {
        let mut i = 0u64;
        loop {
            if let Err(error) = peer.notify("tick", (i, "padding")).send() {
                return error;
            }
            i += 1;
            if i.is_multiple_of(100) {
                tokio::task::yield_now().await;
            }
        }
    })
    .await;
    assert_eq!(failed.kind(), dotrpc::ErrorKind::Disconnected);
    let reason = reason.lock().unwrap().clone().expect("a reason");
    assert!(
        matches!(
            reason,
            DisconnectReason::Backlog {
                stalled_for: Some(_),
                ..
            }
        ),
        "{reason:?}"
    );
    assert!(reason.to_string().contains("stopped reading"), "{reason}");
    // An awaited send on the closed connection fails rather than waits.
    assert!(bounded(peer.notify("late", ())).await.is_err());
}

/// A source that has `frames` ready at once, then nothing more.
struct Burst(std::collections::VecDeque<Bytes>);

impl FrameSource for Burst {
    fn poll_frame(&mut self, _: &mut Context<'_>) -> Poll<Option<std::io::Result<Bytes>>> {
        match self.0.pop_front() {
            Some(frame) => Poll::Ready(Some(Ok(frame))),
            None => Poll::Pending,
        }
    }
}

#[tokio::test]
async fn calls_still_buffered_when_replies_overrun_the_queue_are_not_run() {
    const CALLS: u32 = 200;
    let burst = (0..CALLS)
        .map(|msgid| {
            let mut frame = Vec::new();
            rmp::encode::write_array_len(&mut frame, 4).unwrap();
            rmp::encode::write_uint(&mut frame, 0).unwrap();
            rmp::encode::write_uint(&mut frame, msgid.into()).unwrap();
            rmp::encode::write_str(&mut frame, "big").unwrap();
            rmp::encode::write_array_len(&mut frame, 0).unwrap();
            Bytes::from(frame)
        })
        .collect();
    let ran = Arc::new(AtomicU64::new(0));
    let router = Arc::new(Router::new());
    let counter = Arc::clone(&ran);
    router.set_handler("big", move || {
        counter.fetch_add(1, Ordering::SeqCst);
        async { "x".repeat(20 * 1024) }
    });
    let peer = Peer::builder()
        .handshake(false)
        .router(router)
        .max_queued_bytes(64 * 1024)
        .spawn(Transport::from_frames(
            Burst(burst),
            PacedReader(Arc::new(Pace::default())),
        ));
    let reason = bounded(peer.closed()).await;
    assert!(
        matches!(reason, DisconnectReason::Backlog { .. }),
        "{reason:?}"
    );
    // Four 20 KiB replies overrun 64 KiB; the calls read with them in the
    // same batch but not yet run are dropped with the connection.
    let ran = ran.load(Ordering::SeqCst);
    assert!(ran < 8, "{ran} of {CALLS} calls ran");
    peer.close();
}

/// Awaited notifications count against the task's cooperative budget, as
/// tokio's channels do: a task that sends one after another yields now and
/// then (the connection it feeds writes meanwhile), even with room to spare.
#[tokio::test(flavor = "current_thread")]
async fn awaited_notifications_let_other_tasks_run() {
    let (client, server) = dotrpc::memory_pair(Peer::builder(), Peer::builder());
    let ran = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&ran);
    tokio::spawn(async move { flag.store(true, Ordering::Release) });
    let mut sent = 0;
    while !ran.load(Ordering::Acquire) && sent < 10_000 {
        client.notify("note", (sent,)).await.unwrap();
        sent += 1;
    }
    assert!(
        ran.load(Ordering::Acquire),
        "{sent} notifications were sent without yielding once"
    );
    assert!(sent <= 1_000, "yielded only after {sent}");
    client.close();
    server.close();
}
