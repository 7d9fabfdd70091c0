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
use crate::handler::Producer;
use crate::message::Outgoing;
use crate::peer::Peer;

/// A call that sends a stream of `I`s and answers with a stream of `O`s
/// ([`Peer::conversation`]): a chat, a query refined as results come.
///
/// [`send`](Conversation::send) waits until the handler has room for the
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
    answers: ItemStream<O, E>,
    /// The input, unless the call could not be sent or its input ended.
    input: Option<Producer>,
    _input: PhantomData<fn(I)>,
}

impl<I, O, E> Conversation<I, O, E>
where
    O: DeserializeOwned,
    E: FromRemote,
{
    pub(crate) fn new(peer: &Peer, outgoing: Result<Outgoing, CodecError>, window: u32) -> Self {
        let opened = outgoing
            .map_err(Error::Codec)
            .and_then(|outgoing| ItemStream::<O, E>::open(peer, &outgoing, window, true));
        let (open, input) = match opened {
            Ok((open, input)) => (Ok(open), input),
            Err(error) => (Err(error), None),
        };
        Conversation {
            answers: ItemStream::opened(open, peer.runtime().clone(), window),
            input,
            _input: PhantomData,
        }
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
        match &self.input {
            Some(input) => input.send(item).await.map_err(lift),
            None => Err(Error::Cancelled),
        }
    }

    /// Says the input is over; the answers go on until the handler ends
    /// them. Later sends fail with `Cancelled`.
    pub fn end_input(&mut self) {
        if let Some(input) = self.input.take() {
            input.end_input();
        }
    }

    /// The next answer; `None` once the handler ended the conversation.
    pub async fn next(&mut self) -> Option<Result<O, Error<E>>> {
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
        Pin::new(&mut self.get_mut().answers).poll_next(cx)
    }
}

impl<I, O, E> fmt::Debug for Conversation<I, O, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conversation")
            .field("answers", &self.answers)
            .field("input_ended", &self.input.is_none())
            .finish()
    }
}
