//! [`ItemStream`]: the receiving end of a stream call.

use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use serde::de::DeserializeOwned;
use tokio::time::Sleep;

use super::call::{decode_response, lift};
use super::send;
use crate::codec::CodecError;
use crate::error::{Error, FromRemote, RemoteError};
use crate::message::{MsgId, Outgoing, Params, Response};
use crate::observe::ClientCall;
use crate::peer::{Consumer, Peer, Producer};
use crate::protocol;
use crate::stream::{MAX_WINDOW, Received, Way};
use crate::transaction::Pending;

/// How many items a stream call lets its handler send ahead by default.
pub const DEFAULT_WINDOW: u32 = 32;

/// The items of a stream call ([`Peer::stream`]), as a
/// [`Stream`](futures_util::Stream) of `Result<T, Error<E>>`.
///
/// The call is sent when the stream is first polled, granting the handler
/// room for [`window`](ItemStream::window) items; as items are taken, more
/// room is granted, so a consumer that reads slowly holds back its own
/// stream only, and at most a window of items waits here. The stream ends
/// (`None`) when the handler ends it; an error the handler ends it with
/// comes as the last item (`Err(Error::Remote(e))`), as does
/// `Disconnected` if the connection drops first. The one error that does
/// not end it is [`Error::Lagged`]: a handler that keeps only the latest
/// items dropped that many. Dropping the stream
/// cancels the call: the handler is dropped, and nothing more is sent.
#[must_use = "streams do nothing unless polled"]
pub struct ItemStream<T, E = RemoteError> {
    state: State,
    /// The peer's runtime, for a blocking iterator.
    runtime: tokio::runtime::Handle,
    window: u32,
    /// For the first item (or the end): `Timeout` if it does not come in time.
    timeout: Option<Duration>,
    timer: Option<Pin<Box<Sleep>>>,
    _item: PhantomData<fn() -> (T, E)>,
}

enum State {
    /// Not sent yet.
    Start {
        peer: Peer,
        outgoing: Result<Outgoing, CodecError>,
    },
    Open(Open),
    /// Ended; the error that ended it, if it is still to be told.
    Done(Option<Error>),
}

/// A stream call that was sent.
pub(crate) struct Open {
    method: Arc<str>,
    /// The call's transaction: its answer is the end.
    pending: Pending,
    /// The answer's items.
    items: Consumer,
    /// The answer, once in: told after the items that came before it.
    end: Option<Result<Response, Error>>,
    /// Whether the answer came (nothing is left to cancel).
    answered: bool,
    /// Its span and meter.
    observed: ClientCall,
}

impl<T, E> ItemStream<T, E> {
    pub(crate) fn new(peer: Peer, outgoing: Result<Outgoing, CodecError>) -> Self {
        ItemStream {
            runtime: peer.runtime().clone(),
            state: State::Start { peer, outgoing },
            window: DEFAULT_WINDOW,
            timeout: None,
            timer: None,
            _item: PhantomData,
        }
    }

    /// Lets the handler send up to `window` items ahead of what was taken
    /// (default [`DEFAULT_WINDOW`], at most 65 536, at least 1). Set before
    /// the first poll.
    pub fn window(mut self, window: u32) -> Self {
        self.window = window.clamp(1, MAX_WINDOW);
        self
    }

    /// Fails with [`Error::Timeout`] (and cancels the call) if neither the
    /// first item nor the end comes within `timeout`. Later items may take
    /// as long as they take.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The next item; `None` once the stream ended. (The same as
    /// `StreamExt::next`, without the import.)
    pub async fn next(&mut self) -> Option<Result<T, Error<E>>>
    where
        T: DeserializeOwned,
        E: FromRemote,
    {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// The same stream, with the error it may end with decoded as `F`.
    pub fn typed_error<F>(self) -> ItemStream<T, F> {
        ItemStream {
            state: self.state,
            runtime: self.runtime,
            window: self.window,
            timeout: self.timeout,
            timer: self.timer,
            _item: PhantomData,
        }
    }
}

impl<T, E> ItemStream<T, E>
where
    T: DeserializeOwned + Send + 'static,
    E: FromRemote + Send + 'static,
{
    /// The items as a blocking iterator, for plain threads: the stream runs
    /// on the peer's runtime, and each `next()` waits for an item. Dropping
    /// the iterator cancels the call, as dropping the stream does. Items
    /// are flat: `let all: Vec<T> = stream.blocking_iter().collect::<Result<_, _>>()?;`.
    ///
    /// On a tokio runtime's worker thread, where blocking would stall the
    /// runtime, its one item is `Err(Error::Misuse)`: use the stream there.
    pub fn blocking_iter(self) -> BlockingItems<T, E> {
        if let Err(misuse) = super::may_block() {
            return BlockingItems {
                received: None,
                refused: Some(misuse),
            };
        }
        // Room for one item here: the stream's window does the rest.
        let (items, received) = tokio::sync::mpsc::channel(1);
        let mut stream = self;
        stream.runtime.clone().spawn(async move {
            while let Some(item) = stream.next().await {
                if items.send(item).await.is_err() {
                    break;
                }
            }
        });
        BlockingItems {
            received: Some(received),
            refused: None,
        }
    }
}

/// The items of an [`ItemStream`], one blocking `next()` at a time; made by
/// [`ItemStream::blocking_iter`]. Each is `Ok(item)`, or the error that
/// ends the stream (then `None`): collect them with
/// `.collect::<Result<Vec<_>, _>>()`.
pub struct BlockingItems<T, E = RemoteError> {
    received: Option<tokio::sync::mpsc::Receiver<Result<T, Error<E>>>>,
    /// Why there are no items: the iterator was made where it may not block.
    refused: Option<Error<E>>,
}

impl<T, E> Iterator for BlockingItems<T, E> {
    type Item = Result<T, Error<E>>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(refused) = self.refused.take() {
            return Some(Err(refused));
        }
        self.received.as_mut()?.blocking_recv()
    }
}

impl<T, E> fmt::Debug for BlockingItems<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingItems").finish_non_exhaustive()
    }
}

impl<T, E> ItemStream<T, E>
where
    T: DeserializeOwned,
    E: FromRemote,
{
    /// Sends the call: its transaction, its inbox (and, for a call that
    /// also sends items, the credit for them), then the request with the
    /// first window.
    pub(crate) fn open(
        peer: &Peer,
        outgoing: &Outgoing,
        window: u32,
        with_input: bool,
    ) -> Result<(Open, Option<Producer>), Error> {
        let (sent, observed) = send::streaming(peer, outgoing, window, |link, msgid| {
            let items = Consumer::open(Arc::clone(link), msgid, Way::Answer, window);
            let input = with_input.then(|| Producer::open(Arc::clone(link), msgid, Way::Input, 0));
            (items, input)
        })?;
        let (items, input) = sent.streams;
        let open = Open {
            method: Arc::clone(outgoing.method_arc()),
            pending: sent.pending,
            items,
            end: None,
            answered: false,
            observed,
        };
        Ok((open, input))
    }

    /// A stream already sent.
    pub(crate) fn opened(
        open: Result<Open, Error>,
        runtime: tokio::runtime::Handle,
        window: u32,
    ) -> Self {
        ItemStream {
            state: match open {
                Ok(open) => State::Open(open),
                Err(error) => State::Done(Some(error)),
            },
            runtime,
            window,
            timeout: None,
            timer: None,
            _item: PhantomData,
        }
    }

    /// The room the stream grants its handler.
    pub(crate) fn window_granted(&self) -> u32 {
        self.window
    }

    /// The next item, word of items dropped, the end, or `Pending`.
    fn poll_open(open: &mut Open, cx: &mut Context<'_>) -> Poll<Option<Result<T, Error<E>>>> {
        loop {
            let received = match open.items.inbox().pop() {
                Some(received) => Some(received),
                None if open.items.inbox().overflowed() => {
                    return Poll::Ready(Some(Err(Error::Codec(CodecError::Serde(format!(
                        "stream `{}`: the handler sent more items than it was given room for",
                        open.method
                    ))))));
                }
                None => match open.end.take() {
                    Some(Ok(response)) => {
                        return Poll::Ready(
                            decode_response::<rmpv::Value, E>(&open.method, response)
                                .err()
                                .map(Err),
                        );
                    }
                    Some(Err(error)) => return Poll::Ready(Some(Err(lift(error)))),
                    None => match open.items.inbox().poll_item(cx) {
                        Poll::Ready(received) => received,
                        Poll::Pending => None,
                    },
                },
            };
            match received {
                Some(Received::Item(item)) => {
                    // Once answered, the handler is done: no more room.
                    if !open.answered {
                        open.items.took_one();
                    }
                    return Poll::Ready(Some(decode_item(&open.method, &item)));
                }
                Some(Received::Lagged(skipped)) => {
                    return Poll::Ready(Some(Err(Error::Lagged { skipped })));
                }
                None => {}
            }
            match open.pending.poll_outcome(cx) {
                // The items sent before the answer are all in the inbox:
                // they arrived first, on the same connection.
                Poll::Ready(outcome) => {
                    open.answered = true;
                    open.end = Some(outcome);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl Open {
    pub(crate) fn msgid(&self) -> MsgId {
        self.pending.msgid()
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        // Given up on before its end: the handler is stopped.
        let link = &self.items.link;
        if !self.answered && link.reason().is_none() {
            let _ = link.push_frame(&protocol::cancel(self.msgid()));
        }
    }
}

fn decode_item<T: DeserializeOwned, E>(method: &str, item: &Params) -> Result<T, Error<E>> {
    rmp_serde::from_slice::<(MsgId, T)>(item.as_bytes())
        .map(|(_, item)| item)
        .map_err(|e| Error::Codec(CodecError::Serde(format!("an item of `{method}`: {e}"))))
}

impl<T, E> Stream for ItemStream<T, E>
where
    T: DeserializeOwned,
    E: FromRemote,
{
    type Item = Result<T, Error<E>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // Every field is `Unpin`: the timer is boxed.
        let this = self.get_mut();
        if let State::Start { peer, outgoing } = &this.state {
            this.state = match outgoing
                .as_ref()
                .map_err(|e| Error::Codec(e.clone()))
                .and_then(|outgoing| Self::open(peer, outgoing, this.window, false))
            {
                Ok((open, _)) => State::Open(open),
                Err(error) => State::Done(Some(error)),
            };
            this.timer = this.timeout.map(|t| Box::pin(tokio::time::sleep(t)));
        }
        let outcome = match &mut this.state {
            State::Start { .. } => unreachable!("sent above"),
            State::Done(error) => return Poll::Ready(error.take().map(|e| Err(lift(e)))),
            State::Open(open) => Self::poll_open(open, cx),
        };
        match outcome {
            Poll::Ready(Some(Ok(item))) => {
                this.timer = None;
                Poll::Ready(Some(Ok(item)))
            }
            // Word of dropped items: the stream goes on.
            Poll::Ready(Some(Err(Error::Lagged { skipped }))) => {
                Poll::Ready(Some(Err(Error::Lagged { skipped })))
            }
            Poll::Ready(other) => {
                this.timer = None;
                // Ended: an error ends it too (the call is cancelled if it
                // was still running).
                if let State::Open(open) = &mut this.state {
                    open.observed.ended(
                        other
                            .as_ref()
                            .and_then(|r| r.as_ref().err())
                            .map(Error::kind),
                    );
                }
                this.state = State::Done(None);
                Poll::Ready(other)
            }
            Poll::Pending => {
                if let Some(timer) = &mut this.timer
                    && timer.as_mut().poll(cx).is_ready()
                {
                    this.timer = None;
                    if let State::Open(open) = &mut this.state {
                        open.observed.ended(Some(crate::error::ErrorKind::Timeout));
                    }
                    this.state = State::Done(None);
                    return Poll::Ready(Some(Err(Error::Timeout)));
                }
                Poll::Pending
            }
        }
    }
}

impl<T, E> fmt::Debug for ItemStream<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Start { .. } => "not sent",
            State::Open(_) => "open",
            State::Done(_) => "ended",
        };
        f.debug_struct("ItemStream")
            .field("state", &state)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}
