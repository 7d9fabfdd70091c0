//! [`Call`]: one outgoing call, from encoding to decoded result, in any mode.
//!
//! The call's method and params are encoded once, when the call is made,
//! straight from the caller's types ([`Outgoing`]). What happens next is the
//! caller's choice, the same for typed stubs and dynamic calls:
//!
//! | mode | how | result |
//! |---|---|---|
//! | await | `call.await` (optionally `.timeout(d)` first) | `Result<R, Error<E>>` |
//! | blocking | `call.wait()` / `call.wait_timeout(d)` from a plain thread | `Result<R, Error<E>>` |
//! | callback | `call.callback(f)` | `f` runs once with the result |
//! | handle | `call.spawn()` | an [`AsyncResult`] to poll, wait on, await or cancel |
//! | notify | `call.notify()` | sent one-way ([`Notify`]); no reply is asked for |
//!
//! Awaiting runs a [`CallFuture`], written by hand so that an awaited call
//! allocates nothing of its own beyond its transaction: it opens a
//! transaction (which gives the msgid), queues the request on the connection
//! and waits for the response, the timeout or the connection's end.
//! Dropping it at any point removes the transaction, so a late reply is
//! discarded, never delivered to another call, and a dotrpc peer is told to
//! stop the handler. The other modes run that same future as a task.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Sleep;

use super::handle::AsyncResult;
use super::notify::Notify;
use super::send::{self, Lasts};
use crate::codec::CodecError;
use crate::deadline;
use crate::error::{DisconnectReason, Error, FromRemote, RemoteError};
use crate::message::{MsgId, Outgoing, Response, SHARE_AT, decode_with_frame};
use crate::observe::ClientCall;
use crate::peer::{Link, Peer};
use crate::protocol::{self, Feature};
use crate::transaction::Pending;

/// An outgoing call of `method`, returning `R` or failing with
/// [`Error<E>`](Error), sent in the mode its caller picks:
///
/// | mode | how | result |
/// |---|---|---|
/// | await | `call.await` (optionally `.timeout(d)` first) | `Result<R, Error<E>>` |
/// | blocking | [`wait`](Call::wait) / [`wait_timeout`](Call::wait_timeout) from a plain thread | `Result<R, Error<E>>` |
/// | callback | [`callback(f)`](Call::callback) | `f` runs once with the result |
/// | handle | [`spawn`](Call::spawn) | an [`AsyncResult`] to poll, wait on, await or cancel |
/// | notify | [`notify`](Call::notify) | sent one-way; no reply is asked for |
#[must_use = "a call does nothing until it is awaited, waited on, spawned, given a callback or sent with `notify`"]
pub struct Call<R, E = RemoteError> {
    peer: Peer,
    /// The encoded call, or why it could not be encoded.
    outgoing: Result<Outgoing, CodecError>,
    timeout: Option<Duration>,
    /// Safe to send again after its connection dropped.
    idempotent: bool,
    _result: PhantomData<fn() -> (R, E)>,
}

impl<R, E> Call<R, E> {
    /// A call of `method` with positional `params`, encoded now.
    pub(crate) fn new<P: Serialize + ?Sized>(peer: Peer, method: &str, params: &P) -> Self {
        Call::from_outgoing(peer, Outgoing::new(Arc::from(method), params))
    }

    /// A call already encoded (by a generated stub).
    pub(crate) fn from_outgoing(peer: Peer, outgoing: Result<Outgoing, CodecError>) -> Self {
        Call {
            peer,
            outgoing,
            timeout: None,
            idempotent: false,
            _result: PhantomData,
        }
    }

    /// Fails the call with [`Error::Timeout`] if no reply comes within
    /// `timeout`; its transaction is removed then. Overrides the API's default.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the timeout unless one is already set (the API's default).
    pub(crate) fn default_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = self.timeout.or(timeout);
        self
    }

    /// The same call, with its application error decoded as `F`: what a
    /// dynamic call does to get a typed error back
    /// (`peer.call::<f64>("math.div", (1, 0)).typed_error::<MathError>()`).
    pub fn typed_error<F>(self) -> Call<R, F> {
        Call {
            peer: self.peer,
            outgoing: self.outgoing,
            timeout: self.timeout,
            idempotent: self.idempotent,
            _result: PhantomData,
        }
    }

    /// Marks the call as safe to repeat (what `#[rpc(idempotent)]` does for a
    /// stub's method). On a peer that reconnects and waits while down
    /// ([`WhileDown::Wait`](crate::peer::WhileDown::Wait)), a call whose connection
    /// drops before its reply is sent again on the next connection, within
    /// its timeout, up to three more times; any other call that was already
    /// sent fails with `Disconnected`, since it may have run.
    pub fn idempotent(mut self) -> Self {
        self.idempotent = true;
        self
    }

    /// The path this call goes to (empty if it could not be encoded).
    pub fn method(&self) -> &str {
        self.outgoing.as_ref().map_or("", Outgoing::method)
    }

    /// Sends the call as a notification instead: no reply is asked for or
    /// awaited. Await the [`Notify`] to go at the other side's pace, or
    /// [`send`](Notify::send) it at once.
    pub fn notify(self) -> Notify {
        Notify::new(self.peer, self.outgoing)
    }
}

impl<R, E> Call<R, E>
where
    R: DeserializeOwned + Send + 'static,
    E: FromRemote + Send + 'static,
{
    /// The call as a future that tells `opened` its msgid once it is sent.
    fn run(self, opened: Option<Arc<OnceLock<MsgId>>>) -> CallFuture<R, E> {
        let metered = self.outgoing.as_ref().ok().map(Outgoing::method_arc);
        let observed = ClientCall::start(self.peer.id(), self.method(), metered);
        CallFuture {
            state: State::Start {
                peer: self.peer,
                outgoing: self.outgoing,
                timeout: self.timeout,
                idempotent: self.idempotent,
            },
            opened,
            observed,
            _result: PhantomData,
        }
    }

    /// Blocks this (non-async) thread until the call's outcome, running the
    /// call on the peer's runtime. With a timeout set, waits at most that long.
    ///
    /// # Errors
    ///
    /// As awaiting the call; also [`Error::Misuse`] when called on a tokio
    /// runtime's worker thread (inside a task, or in the `block_on` of a
    /// current-thread runtime), where blocking would stall or deadlock the
    /// runtime: `.await` there instead. Plain threads and closures run by
    /// `tokio::task::spawn_blocking` may wait.
    pub fn wait(self) -> Result<R, Error<E>> {
        super::may_block()?;
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        let runtime = self.peer.runtime().clone();
        // Made here, so that its span is a child of this thread's.
        let call = self.into_future();
        runtime.spawn(async move {
            let _ = sender.send(call.await);
        });
        // The sender is dropped without sending only if the runtime shut down.
        receiver.recv().unwrap_or_else(|_| {
            Err(Error::Disconnected {
                reason: DisconnectReason::Closed,
            })
        })
    }

    /// [`wait`](Call::wait) with a timeout: fails with [`Error::Timeout`] if
    /// no reply comes within `timeout`.
    ///
    /// # Errors
    ///
    /// As [`wait`](Call::wait).
    pub fn wait_timeout(self, timeout: Duration) -> Result<R, Error<E>> {
        self.timeout(timeout).wait()
    }

    /// Runs the call on the peer's runtime and calls `callback` exactly once
    /// with its outcome: the result, the remote error, a timeout, a
    /// disconnect, or `Cancelled` if the runtime shuts down first. The
    /// callback is in place before the request is sent, so no reply can race
    /// past it. It runs on a runtime thread: keep it short and non-blocking.
    pub fn callback<F>(self, callback: F)
    where
        F: FnOnce(Result<R, Error<E>>) + Send + 'static,
    {
        let once = Once(Some(callback), PhantomData);
        let runtime = self.peer.runtime().clone();
        let call = self.into_future();
        runtime.spawn(async move {
            let outcome = call.await;
            once.call(outcome);
        });
    }

    /// Runs the call on the peer's runtime and returns a handle to poll, wait
    /// on, await or cancel. Dropping the handle cancels the call.
    pub fn spawn(self) -> AsyncResult<R, E> {
        let runtime = self.peer.runtime().clone();
        AsyncResult::spawn(&runtime, |opened| self.run(Some(opened)))
    }
}

impl<R, E> IntoFuture for Call<R, E>
where
    R: DeserializeOwned + Send + 'static,
    E: FromRemote + Send + 'static,
{
    type Output = Result<R, Error<E>>;
    type IntoFuture = CallFuture<R, E>;

    fn into_future(self) -> CallFuture<R, E> {
        self.run(None)
    }
}

impl<R, E> fmt::Debug for Call<R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("method", &self.method())
            .field("timeout", &self.timeout)
            .field("idempotent", &self.idempotent)
            .finish_non_exhaustive()
    }
}

/// An awaited [`Call`]: it opens the call's transaction (which gives the
/// msgid), queues the request on the connection and waits for the response,
/// the timeout or the connection's end. Written by hand, so that awaiting a
/// call allocates nothing of its own. Dropping it at any point removes the
/// transaction, so a late reply is discarded, never delivered to another
/// call, and a dotrpc peer is told to stop the handler.
#[must_use = "futures do nothing unless awaited"]
pub struct CallFuture<R, E = RemoteError> {
    state: State,
    /// Learns the msgid once the request is queued (for `AsyncResult`).
    opened: Option<Arc<OnceLock<MsgId>>>,
    /// Its span and meter (not counted if its params could not be encoded).
    observed: ClientCall,
    _result: PhantomData<fn() -> (R, E)>,
}

enum State {
    /// Not sent yet.
    Start {
        peer: Peer,
        outgoing: Result<Outgoing, CodecError>,
        timeout: Option<Duration>,
        idempotent: bool,
    },
    /// A reconnecting peer that is down: waiting for it to be up, then
    /// sending (rare, so boxed).
    Reconnecting {
        until: Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>,
        next: Box<Resend>,
    },
    /// Sent; waiting for the response, the timeout or the connection's end.
    Waiting(Waiting),
    Done,
}

/// How many times in all an idempotent call is sent, at most.
const MAX_SENDS: u8 = 4;

/// What it takes to send a call (again) once a reconnecting peer is up.
struct Resend {
    peer: Peer,
    outgoing: Outgoing,
    deadline: Option<tokio::time::Instant>,
    idempotent: bool,
    /// How many times it was sent so far.
    sent: u8,
}

impl Resend {
    /// Waits for the next connection, within the call's deadline.
    fn after_reconnect(self: Box<Self>) -> State {
        let (peer, timeout) = (self.peer.clone(), self.remaining());
        State::Reconnecting {
            until: Box::pin(async move { peer.until_connected(timeout).await }),
            next: self,
        }
    }

    fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|deadline| deadline.saturating_duration_since(tokio::time::Instant::now()))
    }

    /// Sends the call on the connection that is up now (once it was waited
    /// for: no more waiting on this attempt).
    fn send(self, observed: &ClientCall) -> Result<State, Error> {
        let timeout = self.remaining();
        let Resend {
            peer,
            outgoing,
            idempotent,
            sent,
            ..
        } = self;
        attempt(peer, outgoing, timeout, idempotent, sent, false, observed)
    }
}

/// Sends a call (for the `sent + 1`-th time). On a peer that reconnects
/// and waits while down, and if `may_wait`, a call waits for the connection
/// first when it is down; an idempotent one that finds the connection gone
/// as it is queued waits for the next one too. Inlined: the state it
/// returns is then built in place rather than moved.
#[inline]
fn attempt(
    peer: Peer,
    outgoing: Outgoing,
    timeout: Option<Duration>,
    idempotent: bool,
    sent: u8,
    may_wait: bool,
    observed: &ClientCall,
) -> Result<State, Error> {
    let resend = |peer, outgoing, deadline, sent| {
        Box::new(Resend {
            peer,
            outgoing,
            deadline,
            idempotent,
            sent,
        })
    };
    let deadline = || timeout.map(|t| tokio::time::Instant::now() + t);
    if may_wait && peer.waits_while_down() {
        return Ok(resend(peer, outgoing, deadline(), sent).after_reconnect());
    }
    let may_resend = idempotent && sent + 1 < MAX_SENDS && peer.waits_for_reconnect();
    match send(&peer, &outgoing, timeout, observed) {
        Ok(mut waiting) => {
            // Kept only for a call that may be sent again.
            if may_resend {
                let deadline = waiting.timer.as_ref().map(|timer| timer.deadline());
                waiting.again = Some(resend(peer, outgoing, deadline, sent + 1));
            }
            Ok(State::Waiting(waiting))
        }
        Err(Error::Disconnected { .. }) if may_resend => {
            Ok(resend(peer, outgoing, deadline(), sent + 1).after_reconnect())
        }
        Err(error) => Err(error),
    }
}

struct Waiting {
    link: Arc<Link>,
    /// Set once the outcome is in: nothing is left to cancel.
    answered: bool,
    /// The transaction: polled for the outcome, removed when dropped.
    pending: Pending,
    method: Arc<str>,
    timer: Option<Pin<Box<Sleep>>>,
    /// For an idempotent call on a peer that waits while down: sent again
    /// if the connection drops first.
    again: Option<Box<Resend>>,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        // Given up on before its reply (a timeout, or dropped): a dotrpc
        // peer stops the handler.
        if !self.answered && self.link.remote_has(Feature::Cancel) {
            let _ = self
                .link
                .push_frame(&protocol::cancel(self.pending.msgid()));
        }
    }
}

impl<R, E> Future for CallFuture<R, E>
where
    R: DeserializeOwned,
    E: FromRemote,
{
    type Output = Result<R, Error<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Every field is `Unpin`: the timer is boxed.
        let this = self.get_mut();
        let _entered = this.observed.span.as_ref().map(tracing::Span::enter);
        let outcome = std::task::ready!(Self::poll_outcome(
            &mut this.state,
            &this.observed,
            this.opened.as_ref(),
            cx
        ));
        drop(_entered);
        // The application error's type need not be `Display`: its kind says
        // what failed, the server's span says how.
        this.observed.ended(outcome.as_ref().err().map(Error::kind));
        Poll::Ready(outcome)
    }
}

impl<R, E> CallFuture<R, E>
where
    R: DeserializeOwned,
    E: FromRemote,
{
    /// Drives the call to its outcome, telling `opened` the msgid once it
    /// is sent.
    fn poll_outcome(
        state: &mut State,
        observed: &ClientCall,
        opened: Option<&Arc<OnceLock<MsgId>>>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<R, Error<E>>> {
        loop {
            // Waiting is polled in place: it is what most polls find.
            if let State::Waiting(waiting) = state {
                let outcome = match waiting.pending.poll_outcome(cx) {
                    Poll::Ready(outcome) => outcome,
                    Poll::Pending => {
                        if let Some(timer) = &mut waiting.timer
                            && timer.as_mut().poll(cx).is_ready()
                        {
                            *state = State::Done;
                            return Poll::Ready(Err(Error::Timeout));
                        }
                        return Poll::Pending;
                    }
                };
                waiting.answered = true;
                if let Err(Error::Disconnected { reason }) = &outcome
                    && *reason != DisconnectReason::Closed
                    && let Some(again) = waiting.again.take()
                {
                    *state = again.after_reconnect();
                    continue;
                }
                let decoded = outcome
                    .map_err(lift)
                    .and_then(|response| decode_response(&waiting.method, response));
                *state = State::Done;
                return Poll::Ready(decoded);
            }
            match std::mem::replace(state, State::Done) {
                State::Start {
                    peer,
                    outgoing,
                    timeout,
                    idempotent,
                } => {
                    let timeout = deadline::effective_timeout(timeout);
                    // Matched rather than `map_err`ed: the state is not moved
                    // through a second `Result`.
                    match attempt(peer, outgoing?, timeout, idempotent, 0, true, observed) {
                        Ok(next) => *state = next,
                        Err(error) => return Poll::Ready(Err(lift(error))),
                    }
                }
                State::Reconnecting { mut until, next } => match until.as_mut().poll(cx) {
                    Poll::Pending => {
                        *state = State::Reconnecting { until, next };
                        return Poll::Pending;
                    }
                    Poll::Ready(waited) => {
                        waited.map_err(lift)?;
                        *state = (*next).send(observed).map_err(lift)?;
                    }
                },
                State::Waiting(_) => unreachable!("polled in place above"),
                State::Done => panic!("a CallFuture was polled after it completed"),
            }
            if let State::Waiting(waiting) = &*state
                && let Some(opened) = opened
            {
                let _ = opened.set(waiting.pending.msgid());
            }
        }
    }
}

/// Sends the call (see `send::request`), to be waited for.
#[inline]
fn send(
    peer: &Peer,
    outgoing: &Outgoing,
    timeout: Option<Duration>,
    observed: &ClientCall,
) -> Result<Waiting, Error> {
    let sent = send::request(
        peer,
        outgoing,
        Lasts::Call(timeout),
        None,
        observed,
        |_, _| (),
    )?;
    Ok(Waiting {
        link: sent.link,
        answered: false,
        pending: sent.pending,
        method: Arc::clone(outgoing.method_arc()),
        timer: sent.timeout.map(|t| Box::pin(tokio::time::sleep(t))),
        again: None,
    })
}

/// Calls a callback exactly once: with the outcome, or with `Cancelled` if
/// it is dropped first (its task was dropped with the runtime).
struct Once<F, T, E>(Option<F>, PhantomData<fn(T, E)>)
where
    F: FnOnce(Result<T, Error<E>>);

impl<F, T, E> Once<F, T, E>
where
    F: FnOnce(Result<T, Error<E>>),
{
    fn call(mut self, outcome: Result<T, Error<E>>) {
        if let Some(callback) = self.0.take() {
            callback(outcome);
        }
    }
}

impl<F, T, E> Drop for Once<F, T, E>
where
    F: FnOnce(Result<T, Error<E>>),
{
    fn drop(&mut self) {
        if let Some(callback) = self.0.take() {
            callback(Err(Error::Cancelled));
        }
    }
}

/// Transaction and transport errors carry no application error.
pub(crate) fn lift<E>(error: Error) -> Error<E> {
    match error {
        Error::Remote(remote) | Error::Foreign(remote) => Error::Foreign(remote),
        other => other.map_remote(|_| unreachable!("only Remote carries an application error")),
    }
}

pub(crate) fn decode_response<R: DeserializeOwned, E: FromRemote>(
    method: &str,
    response: Response,
) -> Result<R, Error<E>> {
    if let Some(mut error) = response.error() {
        let value =
            rmpv::decode::read_value(&mut error).map_err(|e| CodecError::Serde(e.to_string()))?;
        return Err(RemoteError::from_value(value).into_error(method));
    }
    let result = response.result();
    // Large results may hold Blobs, which then share the frame; small ones
    // are not worth telling the decoder about it.
    let decoded = if result.len() >= SHARE_AT {
        decode_with_frame(response.frame(), || rmp_serde::from_slice(result))
    } else {
        rmp_serde::from_slice(result)
    };
    decoded.map_err(|e| Error::Codec(CodecError::Serde(format!("result of `{method}`: {e}"))))
}

impl<R, E> fmt::Debug for CallFuture<R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Start { .. } => "start",
            State::Reconnecting { .. } => "waiting for a reconnect",
            State::Waiting(_) => "waiting for the reply",
            State::Done => "done",
        };
        f.debug_struct("CallFuture").field("state", &state).finish()
    }
}
