//! [`Call`]: one outgoing call, from encoding to decoded result.
//!
//! The request is encoded once, when the call is made, straight from the
//! caller's types; awaiting it opens a transaction (which fills in the msgid),
//! queues the frame and waits for the response, a timeout or the connection's
//! end. Dropping the future at any point removes the transaction, so a late
//! reply is discarded, never delivered to another call.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::codec::CodecError;
use crate::error::{Error, FromRemote, RemoteError};
use crate::message::{Response, request_frame, set_msgid};
use crate::peer::Peer;
use crate::transaction::sender_dropped;

/// An outgoing call of `method`, returning `R` or failing with
/// [`Error<E>`](Error).
///
/// Await it for the result; set a [`timeout`](Call::timeout) first if the call
/// must not wait forever; or send it as a one-way [`notify`](Call::notify).
#[must_use = "a call does nothing until it is awaited or sent with `notify`"]
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
    /// `timeout`; its transaction is removed then.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The path this call goes to.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// Sends the call as a notification: no reply is asked for or awaited.
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

impl<R: DeserializeOwned, E: FromRemote> Call<R, E> {
    async fn send(self) -> Result<R, Error<E>> {
        let mut frame = self.frame?;
        let transactions = self.peer.transactions();
        let (pending, receiver) = transactions.open().map_err(lift)?;
        set_msgid(&mut frame, pending.msgid());
        tracing::Span::current().record("msgid", pending.msgid());
        let started = std::time::Instant::now();
        self.peer.send(frame.into()).map_err(lift)?;
        let waited = match self.timeout {
            Some(timeout) => tokio::time::timeout(timeout, receiver)
                .await
                .map_err(|_| Error::Timeout)?,
            None => receiver.await,
        };
        let outcome = waited.unwrap_or_else(|_| Err(sender_dropped(transactions.closed_reason())));
        drop(pending);
        let response = outcome.map_err(lift)?;
        tracing::debug!(
            elapsed_us = started.elapsed().as_micros() as u64,
            ok = response.error.is_none(),
            "answered"
        );
        decode_response(&self.method, response)
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
        let span = tracing::debug_span!(
            "rpc.call",
            peer = self.peer.id(),
            method = %self.method,
            msgid = tracing::field::Empty
        );
        Box::pin(self.send().instrument(span))
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
