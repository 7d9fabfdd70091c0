//! What everyone using one connection shares ([`Link`]): its outgoing
//! queue and the back-pressure on it, its way out (the [`Writer`]), its
//! pending calls, its streams, the other side's features, and how it ended.
//! Callers, handlers and streams push encoded messages here, and the
//! connection's task (`connection`) writes them, in batches; except the
//! request of a call alone in flight, which its caller writes at once when
//! the task is idle, rather than wake the task for one message.

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, TryLockError};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::options::{ConnectionEvent, Options};
use super::writer::Writer;
use crate::error::{DisconnectReason, Error};
use crate::message::{Frames, Params};
use crate::protocol::{self, Feature, Features};
use crate::stream::Streams;
use crate::transaction::Transactions;
use crate::transport::FrameSink;

/// What everyone using one connection shares: its outgoing queue, its
/// pending calls, and how it ended.
pub(crate) struct Link {
    pub(crate) id: u64,
    pub(crate) options: Arc<Options>,
    outbox: Outbox,
    /// Held by whoever writes: the task, or a pusher that found it idle.
    /// Dropped when the task ends, which closes the transport (a child's
    /// stdin, say) however long the link itself lives on.
    writer: Mutex<Option<Writer>>,
    /// Whether the writer holds something for the task: frames or a flush
    /// the transport would not take at once, or a pusher's failed write.
    /// Set and cleared under the writer's lock; read without it, so that a
    /// turn with nothing to write takes no lock.
    writer_owes: AtomicBool,
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
    /// Whether the queue is seen to: the task will look at it before it
    /// sleeps, or a pusher is writing it. A pusher that sets it writes (or
    /// wakes the task); one that sees it set leaves its message to them.
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
    /// A link whose messages go to `sink` (none: they stay queued).
    pub(super) fn new(id: u64, options: Arc<Options>, sink: Option<Box<dyn FrameSink>>) -> Self {
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
            writer: Mutex::new(sink.map(Writer::new)),
            writer_owes: AtomicBool::new(false),
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
        self.push_then(encode, false)
    }

    /// Queues a call's request, as [`push`](Link::push) does; when it is the
    /// only call in flight and the task sleeps, writes it here and now
    /// instead of handing it to the task: a caller that waits for each
    /// reply before its next call never waits for the task to be scheduled.
    /// With others in flight the task writes, so that pipelined requests
    /// share a write.
    ///
    /// # Errors
    ///
    /// As [`push`](Link::push).
    pub(crate) fn push_call(&self, encode: impl FnOnce(&mut Frames)) -> Result<(), Error> {
        let alone = self.transactions.in_flight() <= 1;
        self.push_then(encode, alone)
    }

    fn push_then(&self, encode: impl FnOnce(&mut Frames), write_now: bool) -> Result<(), Error> {
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
            if write_now {
                self.write_now();
            } else {
                self.outbox.task.wake();
            }
        }
        Ok(())
    }

    /// The queue is this pusher's to see to (it set `task_will_look`):
    /// writes it as far as the transport takes without waiting, within a
    /// tokio runtime, and leaves the rest to the connection's task, woken.
    /// A plain thread always hands over: a transport may need a runtime.
    fn write_now(&self) {
        let outbox = &self.outbox;
        if tokio::runtime::Handle::try_current().is_err() {
            outbox.task.wake();
            return;
        }
        let mut writer = match self.writer.try_lock() {
            Ok(writer) => writer,
            // Busy: the task is writing (and looks at the queue again
            // before it sleeps), or a pusher that has not yet handed the
            // flag back. Poisoned: a sink panicked, which the task meets.
            Err(TryLockError::WouldBlock | TryLockError::Poisoned(_)) => {
                outbox.task.wake();
                return;
            }
        };
        let Some(writer) = writer.as_mut() else {
            // The task has ended (or never began): nothing writes any more.
            return;
        };
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            let take = |sending: &mut Frames| outbox.take(sending);
            let sent = writer.send(&mut cx, take, |n| outbox.wrote(n));
            let done = matches!(sent, Poll::Ready(Ok(())));
            self.writer_owes.store(!done, Ordering::SeqCst);
            if !done {
                if let Poll::Ready(Err(error)) = sent {
                    writer.fail(error);
                }
                // The rest waits for the transport (the task waits for it
                // with a waker of its own), or the task ends the connection.
                outbox.task.wake();
                return;
            }
            // All written. Pushes meanwhile saw the flag set and left their
            // messages here: hand it back, then look once more, unless a
            // pusher took it since (and writes, or wakes the task).
            outbox.task_will_look.store(false, Ordering::SeqCst);
            if outbox.queued.load(Ordering::SeqCst) == 0
                || outbox.task_will_look.swap(true, Ordering::AcqRel)
            {
                return;
            }
        }
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

    /// Writes what is queued: `Ready(Ok)` once everything is written and
    /// flushed, `Ready(Err)` if the transport failed (here, or in a write
    /// a pusher made).
    pub(super) fn poll_write(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let outbox = &self.outbox;
        // Each look at the queue may come before a push: from then on, a
        // push must see to its message itself.
        outbox.task_will_look.store(false, Ordering::SeqCst);
        if outbox.queued.load(Ordering::SeqCst) == 0 && !self.writer_owes.load(Ordering::SeqCst) {
            return Poll::Ready(Ok(()));
        }
        let take = |sending: &mut Frames| {
            outbox.task_will_look.store(false, Ordering::SeqCst);
            outbox.take(sending)
        };
        let mut writer = self.lock_writer();
        let Some(writer) = writer.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let sent = writer.send(cx, take, |n| outbox.wrote(n));
        self.writer_owes
            .store(!matches!(sent, Poll::Ready(Ok(()))), Ordering::SeqCst);
        sent
    }

    /// Closes the transport's outbound half.
    pub(super) fn poll_close(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.lock_writer().as_mut() {
            Some(writer) => writer.poll_close(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    /// Bytes written since the connection began.
    pub(super) fn bytes_written(&self) -> u64 {
        self.outbox.written.load(Ordering::Acquire)
    }

    fn lock_writer(&self) -> std::sync::MutexGuard<'_, Option<Writer>> {
        self.writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The connection's task has ended: the transport is let go of.
    pub(super) fn finish(&self) {
        let writer = self.lock_writer().take();
        drop(writer);
        self.finished.cancel();
    }
}

impl Outbox {
    /// Swaps what is queued into `sending` (which is empty); `false` if
    /// nothing was. (Pushed bytes are counted before the pusher lets go of
    /// the queue.)
    fn take(&self, sending: &mut Frames) -> bool {
        if self.queued.load(Ordering::SeqCst) == 0 {
            return false;
        }
        let mut queue = self
            .queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        std::mem::swap(&mut *queue, sending);
        true
    }

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
        Arc::new(Link::new(0, Arc::new(options), None))
    }

    /// Everything queued so far.
    pub(crate) fn take_queued(&self) -> Frames {
        let mut queue = self.outbox.queue.lock().unwrap();
        self.outbox.queued.store(0, Ordering::Release);
        std::mem::take(&mut *queue)
    }
}
