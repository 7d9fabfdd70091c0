//! What everyone using one connection shares ([`Link`]): its outgoing
//! queue and the back-pressure on it, its pending calls, its streams, the
//! other side's features, and how it ended. Callers, handlers and streams
//! push encoded messages here; the connection's task (`connection`) writes
//! them and is the only reader of the queue.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::Waker;
use std::time::Instant;

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::options::{ConnectionEvent, Options};
use crate::error::{DisconnectReason, Error};
use crate::message::{Frames, Params};
use crate::protocol::{self, Feature, Features};
use crate::stream::Streams;
use crate::transaction::Transactions;

/// What everyone using one connection shares: its outgoing queue, its
/// pending calls, and how it ended.
pub(crate) struct Link {
    pub(crate) id: u64,
    pub(crate) options: Arc<Options>,
    outbox: Outbox,
    transactions: Arc<Transactions>,
    /// Set once, when the connection closes.
    reason: OnceLock<DisconnectReason>,
    /// Stop reading; close once the calls already read are answered.
    draining: AtomicBool,
    /// Cancelled when the connection's task has ended.
    finished: CancellationToken,
    /// What the other side said it understands.
    remote_features: Features,
    hello_sent: AtomicBool,
    /// The streams of its calls, both ways.
    pub(crate) streams: Streams,
}

/// The outgoing queue, and how the connection task is told about it.
struct Outbox {
    queue: Mutex<Frames>,
    /// Bytes queued and not yet written, including what the task is writing.
    queued: AtomicUsize,
    /// The connection task.
    task: AtomicWaker,
    /// Whether the task will look at the queue before it sleeps: pushers
    /// that see it set need not wake it.
    task_will_look: AtomicBool,
    /// Awaited sends wait while more than this is queued: the send buffer,
    /// at most half of the queue limit.
    high_water: usize,
    /// Woken when `queued` falls to the high-water mark or the link closes.
    room: Notify,
    /// Bytes written since the connection began.
    written: AtomicU64,
    /// When the queue last rose above the high-water mark, and what
    /// `written` was then: if it has not moved when the queue limit is
    /// passed, nothing was read all that time; the other side stopped
    /// reading.
    above_high_water: Mutex<(Instant, u64)>,
}

impl Link {
    pub(super) fn new(id: u64, options: Arc<Options>) -> Self {
        let high_water = options.send_high_water.min(options.max_queued_bytes / 2);
        Link {
            id,
            options,
            outbox: Outbox {
                queue: Mutex::new(Frames::new()),
                queued: AtomicUsize::new(0),
                task: AtomicWaker::new(),
                task_will_look: AtomicBool::new(false),
                high_water,
                room: Notify::new(),
                written: AtomicU64::new(0),
                above_high_water: Mutex::new((Instant::now(), 0)),
            },
            transactions: Arc::default(),
            reason: OnceLock::new(),
            draining: AtomicBool::new(false),
            finished: CancellationToken::new(),
            remote_features: Features::default(),
            hello_sent: AtomicBool::new(false),
            streams: Streams::default(),
        }
    }

    /// Closes the connection once; later calls do nothing.
    pub(crate) fn close(&self, reason: DisconnectReason) {
        if self.reason.set(reason.clone()).is_err() {
            return;
        }
        match &reason {
            DisconnectReason::Closed | DisconnectReason::Eof | DisconnectReason::Shutdown => {
                tracing::debug!(peer = self.id, %reason, "connection closed");
            }
            _ => tracing::warn!(peer = self.id, %reason, "connection closed"),
        }
        self.transactions.fail_all(reason.clone());
        self.streams.close(&reason);
        self.outbox.room.notify_waiters();
        self.outbox.task.wake();
        self.options.emit(&ConnectionEvent::Disconnected { reason });
    }

    /// Stops reading new messages and closes once the calls already read
    /// have answered.
    pub(crate) fn drain(&self) {
        self.draining.store(true, Ordering::Release);
        self.outbox.task.wake();
    }

    /// Why the connection closed, once it has.
    pub(crate) fn reason(&self) -> Option<&DisconnectReason> {
        self.reason.get()
    }

    pub(crate) fn disconnected(&self) -> Error {
        Error::Disconnected {
            reason: self
                .reason
                .get()
                .cloned()
                .unwrap_or(DisconnectReason::Closed),
        }
    }

    /// Queues what `encode` writes, at once (no waiting for room); wakes the
    /// task to write it.
    ///
    /// # Errors
    ///
    /// `Disconnected` if the connection is closed, or if this pushes the
    /// queue past `max_queued_bytes` (which closes it).
    pub(crate) fn push(&self, encode: impl FnOnce(&mut Frames)) -> Result<(), Error> {
        if self.reason.get().is_some() {
            return Err(self.disconnected());
        }
        let outbox = &self.outbox;
        let (added, queued) = {
            let mut queue = outbox
                .queue
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let before = queue.len();
            encode(&mut queue);
            let added = queue.len() - before;
            // Counted before the lock is let go, so the task cannot write
            // (and subtract) these bytes before they are added.
            (
                added,
                outbox.queued.fetch_add(added, Ordering::AcqRel) + added,
            )
        };
        if queued > outbox.high_water && queued - added <= outbox.high_water {
            let written = outbox.written.load(Ordering::Acquire);
            *outbox.lock_above_high_water() = (Instant::now(), written);
        }
        if queued > self.options.max_queued_bytes {
            let (since, written_then) = *outbox.lock_above_high_water();
            let stopped = outbox.written.load(Ordering::Acquire) == written_then;
            self.close(DisconnectReason::Backlog {
                queued,
                stalled_for: stopped.then(|| since.elapsed()),
            });
            return Err(self.disconnected());
        }
        if !self.outbox.task_will_look.swap(true, Ordering::AcqRel) {
            self.outbox.task.wake();
        }
        Ok(())
    }

    /// Queues a frame encoded elsewhere.
    ///
    /// # Errors
    ///
    /// As [`push`](Link::push).
    pub(crate) fn push_frame(&self, frame: &Bytes) -> Result<(), Error> {
        self.push(|frames| frames.push_frame(frame))
    }

    /// Waits until at most `send_high_water` bytes are queued (or the link
    /// closes): what a sender that goes at the other side's pace awaits
    /// before it pushes.
    pub(crate) async fn room(&self) {
        let high_water = self.outbox.high_water;
        loop {
            let notified = self.outbox.room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.outbox.queued.load(Ordering::Acquire) <= high_water
                || self.reason.get().is_some()
            {
                return;
            }
            notified.await;
        }
    }

    /// Bytes queued and not yet written.
    pub(crate) fn queued_bytes(&self) -> usize {
        self.outbox.queued.load(Ordering::Acquire)
    }

    /// Whether an awaited send may go now without waiting for room.
    pub(crate) fn has_room(&self) -> bool {
        self.queued_bytes() <= self.outbox.high_water
    }

    pub(crate) fn transactions(&self) -> &Arc<Transactions> {
        &self.transactions
    }

    /// Whether the other side said it understands `feature`.
    pub(crate) fn remote_has(&self, feature: Feature) -> bool {
        self.remote_features.has(feature)
    }

    /// The other side's hello arrived: what it lists is what it takes.
    pub(super) fn heard_hello(&self, hello: &Params) {
        self.remote_features.learn(hello);
        self.say_hello();
    }

    /// Sends this peer's `rpc.hello`, once.
    pub(crate) fn say_hello(&self) {
        if !self.hello_sent.swap(true, Ordering::AcqRel) {
            let _ = self.push_frame(&protocol::hello());
        }
    }

    /// Waits until the connection's task has ended; returns why it closed.
    pub(crate) fn closed(
        self: &Arc<Self>,
    ) -> impl Future<Output = DisconnectReason> + Send + 'static {
        let link = Arc::clone(self);
        async move {
            link.finished.cancelled().await;
            link.reason
                .get()
                .cloned()
                .unwrap_or(DisconnectReason::Closed)
        }
    }
}

/// What only the connection's task does with its link.
impl Link {
    /// The task will look at the queue before it sleeps, and is woken by
    /// `waker` when it should look again.
    pub(super) fn task_looks(&self, waker: &Waker) {
        self.outbox.task.register(waker);
        self.outbox.task_will_look.store(true, Ordering::SeqCst);
    }

    /// Whether to stop reading and close once the calls read are answered.
    pub(super) fn draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Swaps what is queued into `sending` (which is empty); `false` if
    /// nothing was. From here on, a push must wake the task: this look at
    /// the queue may come before it. (Pushed bytes are counted before the
    /// pusher lets go of the queue.)
    pub(super) fn take_queue(&self, sending: &mut Frames) -> bool {
        let outbox = &self.outbox;
        outbox.task_will_look.store(false, Ordering::SeqCst);
        if outbox.queued.load(Ordering::SeqCst) == 0 {
            return false;
        }
        let mut queue = outbox
            .queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        std::mem::swap(&mut *queue, sending);
        true
    }

    /// `n` bytes taken from the queue were written.
    pub(super) fn wrote(&self, n: usize) {
        self.outbox.wrote(n);
    }

    /// The connection's task has ended.
    pub(super) fn finish(&self) {
        self.finished.cancel();
    }
}

impl Outbox {
    /// `n` bytes were written; senders waiting for room hear of it once the
    /// queue is down to the high-water mark.
    fn wrote(&self, n: usize) {
        self.written.fetch_add(n as u64, Ordering::AcqRel);
        let before = self.queued.fetch_sub(n, Ordering::AcqRel);
        if before > self.high_water && before - n <= self.high_water {
            self.room.notify_waiters();
        }
    }

    fn lock_above_high_water(&self) -> std::sync::MutexGuard<'_, (Instant, u64)> {
        self.above_high_water
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
impl Link {
    /// A link with no connection task: what is pushed stays queued, for a
    /// test to look at.
    pub(crate) fn unconnected(options: Options) -> Arc<Link> {
        Arc::new(Link::new(0, Arc::new(options)))
    }

    /// Everything queued so far.
    pub(crate) fn take_queued(&self) -> Frames {
        let mut queue = self.outbox.queue.lock().unwrap();
        self.outbox.queued.store(0, Ordering::Release);
        std::mem::take(&mut *queue)
    }
}
