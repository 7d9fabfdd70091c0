//! [`Conversation`]: a call that streams both ways.

use std::fmt;
use std::future::poll_fn;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};

use futures_util::Stream;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::call::lift;
use super::stream::ItemStream;
use crate::codec::CodecError;
use crate::error::{Error, FromRemote, RemoteError};
use crate::message::{MsgId, Outgoing};
use crate::peer::{Link, Peer};
use crate::stream::{self, Credit, Refusal, Way};

/// The method name of the input's end, made once.
static INPUT_END: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from(stream::INPUT_END));

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
    /// The input, unless the call could not be sent.
    input: Option<Input>,
    _input: PhantomData<fn(I)>,
}

struct Input {
    link: Arc<Link>,
    msgid: MsgId,
    credit: Arc<Credit>,
    ended: bool,
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
            Ok((open, credit)) => {
                let input = credit.map(|credit| Input {
                    link: peer.link(),
                    msgid: open.msgid(),
                    credit,
                    ended: false,
                });
                (Ok(open), input)
            }
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
        let Some(input) = self.input.as_mut().filter(|input| !input.ended) else {
            return Err(Error::Cancelled);
        };
        match poll_fn(|cx| input.credit.poll_room(cx)).await {
            Ok(()) => {}
            Err(Refusal::Answered) => return Err(Error::Cancelled),
            Err(Refusal::Closed) => return Err(lift(input.link.disconnected())),
            Err(Refusal::Overgranted) => {
                return Err(Error::Misuse {
                    message: "the handler granted more room than a stream may have",
                });
            }
        }
        if !input.link.has_room() {
            input.link.room().await;
        }
        let max = input.link.options.limits.max_message_size;
        let mut encoded = Ok(());
        input
            .link
            .push(|frames| encoded = frames.push_item(stream::INPUT, input.msgid, item, max))
            .map_err(lift)?;
        encoded.map_err(Error::Codec)?;
        input.credit.used_one();
        Ok(())
    }

    /// Says the input is over; the answers go on until the handler ends
    /// them. Later sends fail with `Cancelled`.
    pub fn end_input(&mut self) {
        let Some(input) = self.input.as_mut().filter(|input| !input.ended) else {
            return;
        };
        input.ended = true;
        if let Ok(end) = Outgoing::new(Arc::clone(&INPUT_END), &(input.msgid,)) {
            let _ = input.link.push(|frames| frames.push_notification(&end));
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

impl Drop for Input {
    fn drop(&mut self) {
        self.link.streams.stop_producing((self.msgid, Way::Input));
    }
}

impl<I, O, E> fmt::Debug for Conversation<I, O, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conversation")
            .field("answers", &self.answers)
            .field("input_ended", &self.input.as_ref().is_none_or(|i| i.ended))
            .finish()
    }
}
