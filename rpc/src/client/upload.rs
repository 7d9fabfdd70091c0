//! [`Upload`]: a call that sends a stream of items as its input.

use std::fmt;
use std::future::poll_fn;
use std::marker::PhantomData;
use std::sync::{Arc, LazyLock};
use std::task::Poll;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::call::{decode_response, lift};
use crate::codec::CodecError;
use crate::error::{Error, FromRemote, RemoteError};
use crate::message::{Metadata, MsgId, Outgoing, Response};
use crate::peer::protocol;
use crate::peer::{Link, Peer};
use crate::stream::{self, Credit, Refusal, Way};
use crate::transaction::Pending;

/// The method name of the input's end, made once.
static INPUT_END: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from(stream::INPUT_END));

/// A call whose input is a stream of `T`s ([`Peer::upload`]), answered
/// with an `R` once the handler has taken what it needs.
///
/// The request goes out when the upload is made. [`send`](Upload::send)
/// waits until the handler has room for the item (it grants a window and
/// more as it takes them: a slow handler holds back this upload only), then
/// queues it; [`finish`](Upload::finish) ends the input and waits for the
/// answer. If the handler answers before the input ends, `send` fails with
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
    state: Result<Open, Option<Error>>,
    _types: PhantomData<fn(T) -> (R, E)>,
}

struct Open {
    link: Arc<Link>,
    method: Arc<str>,
    pending: Pending,
    credit: Arc<Credit>,
    /// The answer, if it came before `finish`.
    answer: Option<Result<Response, Error>>,
    /// Whether the call's answer came: nothing is left to cancel.
    settled: bool,
}

impl<T, R, E> Upload<T, R, E> {
    pub(crate) fn new(peer: &Peer, outgoing: Result<Outgoing, CodecError>) -> Self {
        let state = outgoing
            .map_err(Error::Codec)
            .and_then(|outgoing| Open::send(peer, &outgoing))
            .map_err(Some);
        Upload {
            state,
            _types: PhantomData,
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
    fn send(peer: &Peer, outgoing: &Outgoing) -> Result<Open, Error> {
        outgoing.check_size(peer.max_message_size())?;
        let link = peer.link();
        let pending = link.transactions().open()?;
        let msgid = pending.msgid();
        let credit = link.streams.produce((msgid, Way::Input), 0);
        if let Err(error) =
            link.push(|frames| frames.push_request(outgoing, msgid, &Metadata::default()))
        {
            link.streams.stop_producing((msgid, Way::Input));
            return Err(error);
        }
        Ok(Open {
            link,
            method: Arc::clone(outgoing.method_arc()),
            pending,
            credit,
            answer: None,
            settled: false,
        })
    }

    fn msgid(&self) -> MsgId {
        self.pending.msgid()
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
    /// gone (the call may have run); `Codec` if the item does not encode or is too large; the
    /// error the upload could not be sent with, once.
    pub async fn send(&mut self, item: &T) -> Result<(), Error<E>> {
        let open = match &mut self.state {
            Ok(open) => open,
            Err(error) => return Err(error.take().map_or(Error::Cancelled, lift)),
        };
        if let Some(answer) = &open.answer {
            return Err(stopped(answer));
        }
        let room = poll_fn(|cx| {
            if let Poll::Ready(answer) = open.pending.poll_outcome(cx) {
                open.settled = true;
                open.answer = Some(answer);
                return Poll::Ready(Err(None));
            }
            open.credit.poll_room(cx).map_err(Some)
        })
        .await;
        match room {
            Ok(()) => {}
            Err(None) => return Err(stopped(open.answer.as_ref().expect("answered"))),
            // Answered: `finish` takes the answer.
            Err(Some(Refusal::Answered)) => return Err(Error::Cancelled),
            Err(Some(Refusal::Closed)) => return Err(lift(open.link.disconnected())),
            Err(Some(Refusal::Overgranted)) => {
                return Err(Error::Misuse {
                    message: "the handler granted more room than a stream may have",
                });
            }
        }
        if !open.link.has_room() {
            open.link.room().await;
        }
        // Encoded straight into the connection's queue.
        let (max, msgid) = (open.link.options.limits.max_message_size, open.msgid());
        let mut encoded = Ok(());
        open.link
            .push(|frames| encoded = frames.push_item(stream::INPUT, msgid, item, max))
            .map_err(lift)?;
        encoded.map_err(Error::Codec)?;
        open.credit.used_one();
        Ok(())
    }

    /// Ends the input and waits for the call's answer.
    ///
    /// # Errors
    ///
    /// As a call: the handler's error, `Disconnected`, and so on.
    pub async fn finish(mut self) -> Result<R, Error<E>> {
        let mut open = match std::mem::replace(&mut self.state, Err(None)) {
            Ok(open) => open,
            Err(error) => return Err(error.map_or(Error::Cancelled, lift)),
        };
        if open.answer.is_none() {
            let end = Outgoing::new(Arc::clone(&INPUT_END), &(open.msgid(),));
            if let Ok(end) = end {
                let _ = open.link.push(|frames| frames.push_notification(&end));
            }
        }
        // From here it is an ordinary call: dropped before its answer, it
        // is cancelled.
        let answer = match open.answer.take() {
            Some(answer) => answer,
            None => poll_fn(|cx| open.pending.poll_outcome(cx)).await,
        };
        open.settled = true;
        answer
            .map_err(lift)
            .and_then(|response| decode_response(&open.method, response))
    }

    /// How many items were sent so far.
    pub fn sent(&self) -> u64 {
        self.state.as_ref().map_or(0, |open| open.credit.used())
    }
}

/// Why no more items may be sent once the call has its outcome: the
/// connection's end, or (the handler answered) `Cancelled`.
fn stopped<E>(answer: &Result<Response, Error>) -> Error<E> {
    match answer {
        Err(Error::Disconnected { reason }) => Error::Disconnected {
            reason: reason.clone(),
        },
        _ => Error::Cancelled,
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.link.streams.stop_producing((self.msgid(), Way::Input));
        if !self.settled && self.link.reason().is_none() {
            let _ = self.link.push_frame(&protocol::cancel(self.msgid()));
        }
    }
}

impl<T, R, E> fmt::Debug for Upload<T, R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Upload");
        match &self.state {
            Ok(open) => debug
                .field("msgid", &open.msgid())
                .field("sent", &open.credit.used()),
            Err(_) => debug.field("state", &"failed"),
        };
        debug.finish_non_exhaustive()
    }
}
