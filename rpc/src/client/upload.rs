//! [`Upload`]: a call that sends a stream of items as its input.

use std::fmt;
use std::future::poll_fn;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::call::{decode_response, lift};
use super::send;
use crate::codec::CodecError;
use crate::error::{Error, FromRemote, RemoteError};
use crate::message::Outgoing;
use crate::observe::ClientCall;
use crate::peer::{Peer, Producer};
use crate::protocol;
use crate::stream::Way;
use crate::transaction::Pending;

/// A call whose input is a stream of `T`s ([`Peer::upload`]), answered
/// with an `R` once the handler has taken what it needs.
///
/// Nothing is sent until the upload is used, as for a [`Call`](crate::Call)
/// or an [`ItemStream`](crate::ItemStream): the request goes out with the
/// first [`send`](Upload::send) (or [`finish`](Upload::finish), for an empty
/// input), so making one starts no handler. `send` waits until the handler
/// has room for the item (it grants a window and more as it takes them: a
/// slow handler holds back this upload only), then queues it; `finish` ends
/// the input and waits for the answer. If the handler answers before the input ends, `send` fails with
/// [`Error::Cancelled`] and `finish` gives the answer. Dropping an unfinished
/// upload cancels the call.
///
/// ```no_run
/// # async fn run(peer: dotrpc::Peer) -> Result<(), dotrpc::Error> {
/// let mut upload = peer.upload::<i64, i64>("sum", ());
/// for i in 1..=100 {
///     upload.send(&i).await?;
/// }
/// assert_eq!(upload.finish().await?, 5050);
/// # Ok(()) }
/// ```
#[must_use = "an upload is cancelled when dropped unfinished"]
pub struct Upload<T, R, E = RemoteError> {
    state: State,
    _types: PhantomData<fn(T) -> (R, E)>,
}

/// Where an upload stands.
enum State {
    /// Made, not used yet: nothing sent.
    Unsent(Peer, Result<Outgoing, CodecError>),
    Open(Open),
    /// It could not be sent, or it is over; the error is given once.
    Failed(Option<Error>),
}

struct Open {
    input: Producer,
    method: Arc<str>,
    pending: Pending,
    /// Whether the call's answer came: nothing is left to cancel.
    settled: bool,
    /// Its span and meter.
    observed: ClientCall,
}

impl<T, R, E> Upload<T, R, E> {
    pub(crate) fn new(peer: &Peer, outgoing: Result<Outgoing, CodecError>) -> Self {
        Upload {
            state: State::Unsent(peer.clone(), outgoing),
            _types: PhantomData,
        }
    }

    /// The open call, sending its request first if it was not sent yet.
    fn open(&mut self) -> Result<&mut Open, Error> {
        if let State::Unsent(..) = self.state {
            let State::Unsent(peer, outgoing) =
                std::mem::replace(&mut self.state, State::Failed(None))
            else {
                unreachable!("matched above");
            };
            self.state = match outgoing
                .map_err(Error::Codec)
                .and_then(|outgoing| Open::send(&peer, &outgoing))
            {
                Ok(open) => State::Open(open),
                Err(error) => State::Failed(Some(error)),
            };
        }
        match &mut self.state {
            State::Open(open) => Ok(open),
            State::Failed(error) => Err(error.take().unwrap_or(Error::Cancelled)),
            State::Unsent(..) => unreachable!("sent above"),
        }
    }

    /// The same upload, with its application error decoded as `F`.
    pub fn typed_error<F>(self) -> Upload<T, R, F> {
        Upload {
            state: self.state,
            _types: PhantomData,
        }
    }
}

impl Open {
    /// Sends the request, its input's credit registered first (room may be
    /// granted as soon as it arrives). Observed as a call is: its span (the
    /// trace context sent on is this span's) and its meter, from here to
    /// its answer.
    fn send(peer: &Peer, outgoing: &Outgoing) -> Result<Open, Error> {
        // No room for answer items: the credit only marks a stream call,
        // for transports that map calls to something else (NATS).
        let (sent, observed) = send::streaming(peer, outgoing, 0, |link, msgid| {
            Producer::open(Arc::clone(link), msgid, Way::Input, 0)
        })?;
        Ok(Open {
            input: sent.streams,
            method: Arc::clone(outgoing.method_arc()),
            pending: sent.pending,
            settled: false,
            observed,
        })
    }
}

impl<T, R, E> Upload<T, R, E>
where
    T: Serialize,
    R: DeserializeOwned,
    E: FromRemote,
{
    /// Sends one item, once the handler has room for it.
    ///
    /// # Errors
    ///
    /// `Cancelled` if the handler already answered (take its answer with
    /// [`finish`](Upload::finish)); `Disconnected` if the connection is
    /// gone (the call may have run); `Codec` if the item does not encode or
    /// is too large; the error the upload could not be sent with, once.
    pub async fn send(&mut self, item: &T) -> Result<(), Error<E>> {
        let open = self.open().map_err(lift)?;
        open.input.send(item).await.map_err(lift)
    }

    /// Ends the input and waits for the call's answer.
    ///
    /// # Errors
    ///
    /// As a call: the handler's error, `Disconnected`, and so on.
    pub async fn finish(mut self) -> Result<R, Error<E>> {
        self.open().map_err(lift)?;
        let State::Open(mut open) = std::mem::replace(&mut self.state, State::Failed(None)) else {
            unreachable!("opened above");
        };
        // A handler that answered already drops the end as a stray.
        open.input.end_input();
        // From here it is an ordinary call: dropped before its answer, it
        // is cancelled.
        let answer = poll_fn(|cx| open.pending.poll_outcome(cx)).await;
        open.settled = true;
        let answer = answer
            .map_err(lift)
            .and_then(|response| decode_response(&open.method, response));
        open.observed.ended(answer.as_ref().err().map(Error::kind));
        answer
    }

    /// How many items were sent so far.
    pub fn sent(&self) -> u64 {
        match &self.state {
            State::Open(open) => open.input.credit.used(),
            State::Unsent(..) | State::Failed(_) => 0,
        }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        let link = &self.input.link;
        if !self.settled && link.reason().is_none() {
            let _ = link.push_frame(&protocol::cancel(self.input.msgid));
        }
    }
}

impl<T, R, E> fmt::Debug for Upload<T, R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Upload");
        match &self.state {
            State::Open(open) => debug
                .field("msgid", &open.input.msgid)
                .field("sent", &open.input.credit.used()),
            State::Unsent(..) => debug.field("state", &"not sent yet"),
            State::Failed(_) => debug.field("state", &"failed"),
        };
        debug.finish_non_exhaustive()
    }
}
