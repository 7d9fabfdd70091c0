//! [`Conversation`]: a call that streams both ways.

use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::Stream;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::call::lift;
use super::stream::ItemStream;
use crate::codec::CodecError;
use crate::error::{Error, FromRemote, RemoteError};
use crate::message::Outgoing;
use crate::peer::{Peer, Producer};

/// A call that sends a stream of `I`s and answers with a stream of `O`s
/// ([`Peer::conversation`]): a chat, a query refined as results come.
///
/// Nothing is sent until the conversation is used, as for a
/// [`Call`](crate::Call) or an [`ItemStream`]: the request goes out with the
/// first [`send`](Conversation::send), [`end_input`](Conversation::end_input)
/// or read of an answer. `send` waits until the handler has room for the
/// item, then queues it; [`end_input`](Conversation::end_input) says there
/// is no more. The answers are a [`Stream`](futures_util::Stream) of
/// `Result<O, Error<E>>` (and an inherent [`next`](Conversation::next)),
/// each way with its own flow control, exactly as an [`ItemStream`]. The
/// handler's answer ends both ways; dropping the conversation cancels it.
///
/// Read the answers while sending: a handler whose answers fill their
/// window waits, takes no more input, and so a caller that only sends waits
/// too (bounded buffers both ways, as in any streaming RPC).
#[must_use = "a conversation is cancelled when dropped"]
pub struct Conversation<I, O, E = RemoteError> {
    /// What to send, until the conversation is first used.
    unsent: Option<(Peer, Result<Outgoing, CodecError>)>,
    /// The answers (an ended stream until the call is sent).
    answers: ItemStream<O, E>,
    /// The input, unless the call could not be sent or its input ended.
    input: Option<Producer>,
    _input: PhantomData<fn(I)>,
}

impl<I, O, E> Conversation<I, O, E> {
    /// The same conversation, with its application error decoded as `F`.
    pub fn typed_error<F>(self) -> Conversation<I, O, F> {
        Conversation {
            unsent: self.unsent,
            answers: self.answers.typed_error(),
            input: self.input,
            _input: PhantomData,
        }
    }
}

impl<I, O, E> Conversation<I, O, E>
where
    O: DeserializeOwned,
    E: FromRemote,
{
    pub(crate) fn new(peer: &Peer, outgoing: Result<Outgoing, CodecError>, window: u32) -> Self {
        Conversation {
            answers: ItemStream::opened(Err(Error::Cancelled), peer.runtime().clone(), window),
            unsent: Some((peer.clone(), outgoing)),
            input: None,
            _input: PhantomData,
        }
    }

    /// Sends the call, if it was not sent yet.
    fn open(&mut self) {
        let Some((peer, outgoing)) = self.unsent.take() else {
            return;
        };
        let window = self.answers.window_granted();
        let opened = outgoing
            .map_err(Error::Codec)
            .and_then(|outgoing| ItemStream::<O, E>::open(&peer, &outgoing, window, true));
        let (open, input) = match opened {
            Ok((open, input)) => (Ok(open), input),
            Err(error) => (Err(error), None),
        };
        self.answers = ItemStream::opened(open, peer.runtime().clone(), window);
        self.input = input;
    }
}

impl<I, O, E> Conversation<I, O, E>
where
    I: Serialize,
    O: DeserializeOwned,
    E: FromRemote,
{
    /// Sends one item, once the handler has room for it.
    ///
    /// # Errors
    ///
    /// `Cancelled` if the handler already answered or the input was ended;
    /// `Disconnected` if the connection is gone; `Codec` if the item does
    /// not encode or is too large.
    pub async fn send(&mut self, item: &I) -> Result<(), Error<E>> {
        self.open();
        match &self.input {
            Some(input) => input.send(item).await.map_err(lift),
            None => Err(Error::Cancelled),
        }
    }

    /// Says the input is over; the answers go on until the handler ends
    /// them. Later sends fail with `Cancelled`.
    pub fn end_input(&mut self) {
        self.open();
        if let Some(input) = self.input.take() {
            input.end_input();
        }
    }

    /// The next answer; `None` once the handler ended the conversation.
    pub async fn next(&mut self) -> Option<Result<O, Error<E>>> {
        self.open();
        self.answers.next().await
    }
}

impl<I, O, E> Stream for Conversation<I, O, E>
where
    O: DeserializeOwned,
    E: FromRemote,
{
    type Item = Result<O, Error<E>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        this.open();
        Pin::new(&mut this.answers).poll_next(cx)
    }
}

impl<I, O, E> fmt::Debug for Conversation<I, O, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conversation")
            .field("sent", &self.unsent.is_none())
            .field("answers", &self.answers)
            .field("input_ended", &self.input.is_none())
            .finish()
    }
}
