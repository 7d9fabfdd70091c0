//! [`AsyncResult`]: a call running in the background, to poll, wait on,
//! await or cancel (epyrpc's AsyncResult).
//!
//! The call runs as a task on the peer's runtime and leaves its outcome in a
//! shared slot; the handle reads the slot. Its status follows one path:
//! `Pending`, then exactly one of `Done`, `Failed`, `TimedOut`, `Cancelled`.
//! Cancelling (or dropping the handle) aborts the task, which removes the
//! call's transaction at once.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::task::AbortHandle;

use crate::error::{Error, RemoteError};
use crate::message::MsgId;

/// Where a call run by [`Call::spawn`](crate::Call::spawn) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CallStatus {
    /// No outcome yet.
    Pending,
    /// The call returned a result.
    Done,
    /// The call failed: a remote error, a disconnect, a codec error.
    Failed,
    /// No reply came within the call's timeout.
    TimedOut,
    /// The call was cancelled.
    Cancelled,
}

impl CallStatus {
    fn of<R, E>(outcome: &Result<R, Error<E>>) -> Self {
        match outcome {
            Ok(_) => CallStatus::Done,
            Err(Error::Timeout) => CallStatus::TimedOut,
            Err(Error::Cancelled) => CallStatus::Cancelled,
            Err(_) => CallStatus::Failed,
        }
    }
}

enum State<R, E> {
    Pending,
    Ready(Result<R, Error<E>>),
    /// The outcome was taken; its status is remembered.
    Taken(CallStatus),
}

/// The slot the call's task fills and the handle reads.
struct Slot<R, E> {
    state: Mutex<State<R, E>>,
    /// Wakes blocking waiters.
    ready: Condvar,
    /// Wakes an awaiting handle.
    notify: Notify,
    msgid: Arc<OnceLock<MsgId>>,
    /// How long the call took, once it is over.
    took: OnceLock<Duration>,
    started: Instant,
}

impl<R, E> Slot<R, E> {
    fn lock(&self) -> MutexGuard<'_, State<R, E>> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records the outcome, unless one is already there (first one wins).
    fn complete(&self, outcome: Result<R, Error<E>>) {
        let mut state = self.lock();
        if matches!(*state, State::Pending) {
            *state = State::Ready(outcome);
            let _ = self.took.set(self.started.elapsed());
            drop(state);
            self.ready.notify_all();
            self.notify.notify_one();
        }
    }

    fn take(&self) -> Option<Result<R, Error<E>>> {
        let mut state = self.lock();
        take_from(&mut state)
    }
}

fn take_from<R, E>(state: &mut State<R, E>) -> Option<Result<R, Error<E>>> {
    match std::mem::replace(state, State::Pending) {
        State::Ready(outcome) => {
            *state = State::Taken(CallStatus::of(&outcome));
            Some(outcome)
        }
        other => {
            *state = other;
            None
        }
    }
}

/// A call running in the background; made by
/// [`Call::spawn`](crate::Call::spawn).
///
/// Poll it ([`status`](AsyncResult::status),
/// [`try_take`](AsyncResult::try_take)), wait for it from a plain thread
/// ([`wait_timeout`](AsyncResult::wait_timeout)), `.await` it, or
/// [`cancel`](AsyncResult::cancel) it. Dropping the handle cancels the call.
pub struct AsyncResult<R, E = RemoteError> {
    slot: Arc<Slot<R, E>>,
    task: AbortHandle,
}

impl<R, E> AsyncResult<R, E>
where
    R: Send + 'static,
    E: Send + 'static,
{
    /// Runs the future `make` builds (given where to put the msgid) on `runtime`.
    pub(crate) fn spawn<F, Fut>(runtime: &tokio::runtime::Handle, make: F) -> Self
    where
        F: FnOnce(Arc<OnceLock<MsgId>>) -> Fut,
        Fut: Future<Output = Result<R, Error<E>>> + Send + 'static,
    {
        let slot = Arc::new(Slot {
            state: Mutex::new(State::Pending),
            ready: Condvar::new(),
            notify: Notify::new(),
            msgid: Arc::new(OnceLock::new()),
            took: OnceLock::new(),
            started: Instant::now(),
        });
        let call = make(Arc::clone(&slot.msgid));
        let filled = Arc::clone(&slot);
        let task = runtime
            .spawn(async move { filled.complete(call.await) })
            .abort_handle();
        AsyncResult { slot, task }
    }
}

impl<R, E> AsyncResult<R, E> {
    /// Where the call stands.
    pub fn status(&self) -> CallStatus {
        match &*self.slot.lock() {
            State::Pending => CallStatus::Pending,
            State::Ready(outcome) => CallStatus::of(outcome),
            State::Taken(status) => *status,
        }
    }

    /// The request's msgid, once it has been sent.
    pub fn msgid(&self) -> Option<MsgId> {
        self.slot.msgid.get().copied()
    }

    /// How long the call has been running, or took if it is over.
    pub fn elapsed(&self) -> Duration {
        self.slot
            .took
            .get()
            .copied()
            .unwrap_or_else(|| self.slot.started.elapsed())
    }

    /// The outcome if the call is over (and it was not taken before).
    pub fn try_take(&self) -> Option<Result<R, Error<E>>> {
        self.slot.take()
    }

    /// Blocks this (non-async) thread until the outcome or `timeout`, as
    /// [`Call::wait_timeout`](crate::Call::wait_timeout) does: the outcome,
    /// or `Err(Error::Timeout)` if the call is still pending then. Unlike a
    /// `Call`'s, this call goes on (its [`status`](AsyncResult::status)
    /// stays `Pending`): wait again, [`cancel`](AsyncResult::cancel) it, or
    /// drop the handle. A call that timed out by its own timeout gives
    /// `Timeout` too, with the status `TimedOut`.
    ///
    /// # Errors
    ///
    /// The call's own error; `Timeout` as above; `Misuse` on a tokio
    /// runtime's worker thread, where blocking would stall or deadlock the
    /// runtime (`.await` the handle there instead; plain threads and
    /// `spawn_blocking` closures may wait), and once the outcome was taken
    /// (by `try_take` or an earlier wait).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<R, Error<E>> {
        super::may_block()?;
        let deadline = Instant::now() + timeout;
        let mut state = self.slot.lock();
        loop {
            if let Some(outcome) = take_from(&mut state) {
                return outcome;
            }
            if matches!(*state, State::Taken(_)) {
                return Err(Error::Misuse {
                    message: "the outcome of this call was taken already",
                });
            }
            let Some(left) = deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
            else {
                return Err(Error::Timeout);
            };
            state = self
                .slot
                .ready
                .wait_timeout(state, left)
                .map(|(state, _)| state)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
        }
    }

    /// Cancels the call: its transaction is removed and its status becomes
    /// `Cancelled`, unless it was already over.
    pub fn cancel(&self) {
        self.task.abort();
        self.slot.complete(Err(Error::Cancelled));
    }
}

impl<R, E> Drop for AsyncResult<R, E> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<R, E> IntoFuture for AsyncResult<R, E>
where
    R: Send + 'static,
    E: Send + 'static,
{
    type Output = Result<R, Error<E>>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    /// Waits for the outcome. If it was already taken with
    /// [`try_take`](AsyncResult::try_take), resolves to `Cancelled`.
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            loop {
                if let Some(outcome) = self.slot.take() {
                    return outcome;
                }
                if matches!(*self.slot.lock(), State::Taken(_)) {
                    return Err(Error::Cancelled);
                }
                self.slot.notify.notified().await;
            }
        })
    }
}

impl<R, E> fmt::Debug for AsyncResult<R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResult")
            .field("status", &self.status())
            .field("msgid", &self.msgid())
            .field("elapsed", &self.elapsed())
            .finish()
    }
}
