//! [`Notify`]: a one-way message about to be sent, at once or at the other
//! side's pace.
//!
//! A notification is never answered, so the only thing a sender can wait for
//! is room: awaiting a `Notify` waits while the connection's outgoing queue
//! holds more than its high-water mark (`PeerBuilder::send_buffer`), then
//! queues the message. A tight loop of awaited sends therefore goes exactly
//! as fast as the other side reads, with bounded memory on both sides.
//! [`send`](Notify::send) queues at once instead, for fire-and-forget; a
//! queue that then passes `max_queued_bytes` closes the connection.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::send;
use crate::codec::CodecError;
use crate::message::Outgoing;
use crate::peer::{Link, Peer};

/// A notification to send; made by [`Peer::notify`], by an event method of
/// a generated client, or by [`Call::notify`](crate::Call::notify).
///
/// `.await` it to wait for room first (back-pressure), or
/// [`send`](Notify::send) it at once.
#[must_use = "a notification is sent only when awaited or given to `send`"]
#[derive(Debug)]
pub struct Notify {
    peer: Peer,
    outgoing: Result<Outgoing, CodecError>,
}

impl Notify {
    pub(crate) fn new(peer: Peer, outgoing: Result<Outgoing, CodecError>) -> Self {
        Notify { peer, outgoing }
    }

    /// Queues the notification now, without waiting for room. Ignore the
    /// result (`let _ = ...send();`) for fire-and-forget that does not care
    /// whether the connection is still up.
    ///
    /// # Errors
    ///
    /// `Codec` if the params could not be encoded or the message is larger
    /// than the maximum message size; `Disconnected` if the connection is
    /// gone, or if this message makes the queue pass `max_queued_bytes`
    /// (which closes it).
    pub fn send(self) -> crate::error::Result<()> {
        send::notification(&self.peer.link(), &self.outgoing?)
    }
}

impl IntoFuture for Notify {
    type Output = crate::error::Result<()>;
    type IntoFuture = NotifyFuture;

    /// Waits while the connection's queue is above its high-water mark, then
    /// queues the notification.
    fn into_future(self) -> NotifyFuture {
        NotifyFuture(match self.outgoing {
            Ok(outgoing) => Inner::Unsent {
                // Looked up once: with room, this is a `send`.
                link: self.peer.link(),
                outgoing,
            },
            Err(error) => Inner::Done(Some(Err(error.into()))),
        })
    }
}

/// An awaited [`Notify`].
///
/// Each send counts against the task's cooperative budget, as tokio's own
/// channels do: a task that awaits one notification after another yields
/// now and then, so the connection it feeds writes while it sends, rather
/// than only once its queue is full.
#[must_use = "futures do nothing unless awaited"]
pub struct NotifyFuture(Inner);

enum Inner {
    /// Not queued yet.
    Unsent { link: Arc<Link>, outgoing: Outgoing },
    /// The queue was full: waiting for room, then queued (rare, so boxed).
    Waiting(Pin<Box<dyn Future<Output = crate::error::Result<()>> + Send>>),
    /// Queued, or could not be; the outcome until it is taken.
    Done(Option<crate::error::Result<()>>),
}

impl Future for NotifyFuture {
    type Output = crate::error::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.get_mut().0;
        match inner {
            Inner::Unsent { .. } => {
                let coop = std::task::ready!(tokio::task::coop::poll_proceed(cx));
                coop.made_progress();
                // Taken out, so that it is sent once.
                let Inner::Unsent { link, outgoing } = std::mem::replace(inner, Inner::Done(None))
                else {
                    unreachable!("matched above");
                };
                if link.has_room() {
                    return Poll::Ready(send::notification(&link, &outgoing));
                }
                let mut waiting: Pin<Box<dyn Future<Output = _> + Send>> = Box::pin(async move {
                    link.room().await;
                    send::notification(&link, &outgoing)
                });
                let polled = waiting.as_mut().poll(cx);
                *inner = Inner::Waiting(waiting);
                polled
            }
            Inner::Waiting(future) => future.as_mut().poll(cx),
            Inner::Done(outcome) => Poll::Ready(
                outcome
                    .take()
                    .expect("a NotifyFuture was polled after it completed"),
            ),
        }
    }
}

impl std::fmt::Debug for NotifyFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.0 {
            Inner::Unsent { .. } => "unsent",
            Inner::Waiting(_) => "waiting for room",
            Inner::Done(_) => "done",
        };
        f.debug_tuple("NotifyFuture").field(&state).finish()
    }
}
