//! [`Call`]: one outgoing call, from encoding to decoded result, in any mode.
//!
//! The request is encoded once, when the call is made, straight from the
//! caller's types. What happens next is the caller's choice, the same for
//! typed stubs and dynamic calls:
//!
//! | mode | how | result |
//! |---|---|---|
//! | await | `call.await` (optionally `.timeout(d)` first) | `Result<R, Error<E>>` |
//! | blocking | `call.wait()` / `call.wait_timeout(d)` from a plain thread | `Result<R, Error<E>>` |
//! | callback | `call.callback(f)` | `f` runs once with the result |
//! | handle | `call.spawn()` | an [`AsyncResult`] to poll, wait on, await or cancel |
//! | notify | `call.notify()` | sent one-way; no reply is asked for |
//!
//! Awaiting opens a transaction (which fills in the msgid), queues the frame
//! and waits for the response, the timeout or the connection's end. Dropping
//! the future at any point removes the transaction, so a late reply is
//! discarded, never delivered to another call. The other modes run that same
//! future as a task on the peer's runtime.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use super::handle::AsyncResult;
use crate::codec::CodecError;
use crate::error::{DisconnectReason, Error, FromRemote, RemoteError};
use crate::handler::inherited_deadline;
use crate::message::{MsgId, Response, add_deadline, request_frame, set_msgid};
use crate::peer::{Connection, Feature, Peer, cancel_frame};

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
    method: String,
    /// The encoded request with msgid 0, or why it could not be encoded.
    frame: Result<Vec<u8>, CodecError>,
    timeout: Option<Duration>,
    _result: PhantomData<fn() -> (R, E)>,
}

impl<R, E> Call<R, E> {
    pub(crate) fn new<P: Serialize + ?Sized>(peer: Peer, method: &str, params: &P) -> Self {
        Call::from_frame(peer, method.to_owned(), request_frame(method, params))
    }

    /// A call whose request frame (msgid 0) is already encoded.
    pub(crate) fn from_frame(
        peer: Peer,
        method: String,
        frame: Result<Vec<u8>, CodecError>,
    ) -> Self {
        Call {
            peer,
            method,
            frame,
            timeout: None,
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

    /// The path this call goes to.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// Sends the call as a notification: no reply is asked for or awaited.
    /// Ignore the result (`let _ = call.notify();`) for fire-and-forget that
    /// does not care whether the connection is still up.
    ///
    /// # Errors
    ///
    /// `Codec` if the params could not be encoded; `Disconnected` if the
    /// connection is gone.
    pub fn notify(self) -> Result<(), Error<E>> {
        let mut frame = self.frame?;
        // A request `[0, msgid, method, params]` starts with the 7 bytes
        // `0x94 0x00 0xce <msgid>`; a notification `[2, method, params]` is the
        // same from the method on, after the 2 bytes `0x93 0x02`.
        frame[5] = 0x93;
        frame[6] = 0x02;
        let frame = Bytes::from(frame).slice(5..);
        self.peer.send(frame).map_err(lift)
    }
}

impl<R, E> Call<R, E>
where
    R: DeserializeOwned + Send + 'static,
    E: FromRemote + Send + 'static,
{
    /// Sends the request and waits for the outcome; `opened` learns the
    /// msgid once the transaction is open.
    pub(crate) async fn send(self, opened: Option<Arc<OnceLock<MsgId>>>) -> Result<R, Error<E>> {
        let mut frame = self.frame?;
        let timeout = effective_timeout(self.timeout);
        // A reconnecting peer may hold calls made while it is down; the wait
        // counts against the call's timeout.
        let waiting_since = std::time::Instant::now();
        self.peer.until_connected(timeout).await.map_err(lift)?;
        let timeout = timeout.map(|t| t.saturating_sub(waiting_since.elapsed()));
        let connection = self.peer.connection();
        let transactions = connection.transactions();
        let (pending, receiver) = transactions.open().map_err(lift)?;
        let msgid = pending.msgid();
        set_msgid(&mut frame, msgid);
        if let (Some(timeout), true) = (timeout, connection.remote_has(Feature::Deadline)) {
            add_deadline(
                &mut frame,
                timeout.as_millis().try_into().unwrap_or(u64::MAX),
            );
        }
        if let Some(opened) = opened {
            let _ = opened.set(msgid);
        }
        tracing::Span::current().record("msgid", msgid);
        let started = std::time::Instant::now();
        let max = self.peer.max_message_size();
        if frame.len() > max {
            return Err(Error::Codec(CodecError::TooLarge {
                size: frame.len() as u64,
                max,
            }));
        }
        connection.send(frame.into()).map_err(lift)?;
        // From here, giving up (a timeout, or this future dropped) tells a
        // dotrpc peer to stop the handler.
        let mut unanswered = CancelOnDrop {
            connection: &connection,
            msgid: Some(msgid),
        };
        let waited = match timeout {
            Some(timeout) => tokio::time::timeout(timeout, receiver)
                .await
                .map_err(|_| Error::Timeout)?,
            None => receiver.await,
        };
        unanswered.msgid = None;
        let outcome = waited.unwrap_or_else(|_| Err(transactions.disconnected()));
        drop(pending);
        let response = outcome.map_err(lift)?;
        tracing::debug!(
            elapsed_us = started.elapsed().as_micros() as u64,
            ok = response.error.is_none(),
            "answered"
        );
        decode_response(&self.method, response)
    }

    /// The call as a future for the peer's runtime, in its tracing span.
    fn traced(
        self,
        opened: Option<Arc<OnceLock<MsgId>>>,
    ) -> impl Future<Output = Result<R, Error<E>>> + Send {
        let span = tracing::debug_span!(
            "rpc.call",
            peer = self.peer.id(),
            method = %self.method,
            msgid = tracing::field::Empty
        );
        self.send(opened).instrument(span)
    }

    /// Blocks this (non-async) thread until the call's outcome, running the
    /// call on the peer's runtime. With a timeout set, waits at most that long.
    ///
    /// # Errors
    ///
    /// As awaiting the call; also [`Error::Misuse`] when called on a thread of
    /// a tokio runtime, where blocking could deadlock: `.await` there instead.
    pub fn wait(self) -> Result<R, Error<E>> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(Error::Misuse {
                message: "a blocking wait was called on a tokio runtime thread, where it could deadlock; \
                          use `.await` there, and `.wait()` from plain threads",
            });
        }
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        let runtime = self.peer.runtime().clone();
        runtime.spawn(async move {
            let _ = sender.send(self.traced(None).await);
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
        runtime.spawn(async move {
            let outcome = self.traced(None).await;
            once.call(outcome);
        });
    }

    /// Runs the call on the peer's runtime and returns a handle to poll, wait
    /// on, await or cancel. Dropping the handle cancels the call.
    pub fn spawn(self) -> AsyncResult<R, E> {
        let runtime = self.peer.runtime().clone();
        AsyncResult::spawn(&runtime, |opened| self.traced(Some(opened)))
    }
}

/// The call's own timeout, shortened to the deadline it inherits when made
/// from inside a handler whose caller set one.
fn effective_timeout(own: Option<Duration>) -> Option<Duration> {
    let inherited = inherited_deadline()
        .map(|deadline| deadline.saturating_duration_since(std::time::Instant::now()));
    match (own, inherited) {
        (Some(own), Some(inherited)) => Some(own.min(inherited)),
        (own, inherited) => own.or(inherited),
    }
}

/// Sends `rpc.cancel` for a call given up on before its reply, to a peer
/// that understands it.
struct CancelOnDrop<'c> {
    connection: &'c Connection,
    /// `None` once the call has its outcome.
    msgid: Option<MsgId>,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(msgid) = self.msgid
            && self.connection.remote_has(Feature::Cancel)
        {
            let _ = self.connection.send(cancel_frame(msgid));
        }
    }
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
fn lift<E>(error: Error) -> Error<E> {
    match error {
        Error::Remote(remote) | Error::Foreign(remote) => Error::Foreign(remote),
        other => other.map_remote(|_| unreachable!("only Remote carries an application error")),
    }
}

fn decode_response<R: DeserializeOwned, E: FromRemote>(
    method: &str,
    response: Response,
) -> Result<R, Error<E>> {
    if let Some(error) = response.error {
        let value = rmpv::decode::read_value(&mut &error[..])
            .map_err(|e| CodecError::Serde(e.to_string()))?;
        return Err(RemoteError::from_value(value).into_error(method));
    }
    rmp_serde::from_slice(&response.result)
        .map_err(|e| Error::Codec(CodecError::Serde(format!("result of `{method}`: {e}"))))
}

impl<R, E> IntoFuture for Call<R, E>
where
    R: DeserializeOwned + Send + 'static,
    E: FromRemote + Send + 'static,
{
    type Output = Result<R, Error<E>>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.traced(None))
    }
}

impl<R, E> fmt::Debug for Call<R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("method", &self.method)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}
