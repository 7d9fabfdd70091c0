//! A NATS connection as a message transport: subscriptions in, publishes
//! out, each side of the mapping ([`Side`]: the caller's or the service's)
//! deciding what a message or a frame becomes.
//!
//! Inbound, one task per subscription ([`pump`]) forwards its messages into
//! one bounded channel that the peer's source reads, so a peer that stops
//! reading (its handlers all busy) holds the messages back in NATS's own
//! buffers; a pump asked to drain unsubscribes, forwards what NATS had
//! already sent, and ends, and when every pump has ended the source reads
//! the end of the stream: the peer answers what it read and closes. Frames
//! a side answers itself (a hello, a call that cannot be sent) come back
//! through a second, unbounded channel.
//!
//! Outbound, the sink turns each frame into a [`Publish`] and hands it to one
//! writer task (a bounded channel: a slow NATS connection pushes back on the
//! peer's queue, whose limits then apply). A publish that fails fails its
//! call, or answers its caller with an error, rather than vanishing.

use std::io;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use async_nats::{Client, HeaderMap, Subscriber};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, PollSender};

use super::subject::{self, encoded_error};
use crate::message::{ErrorObject, Frames, MsgId, response_frame};
use crate::transport::{FrameSink, FrameSource, Transport};

/// Messages waiting for the peer to read them, per transport.
const INBOUND_CAPACITY: usize = 1024;
/// Publishes waiting for the NATS connection.
const OUTBOUND_CAPACITY: usize = 1024;

/// One side of the mapping between NATS messages and msgpack-rpc frames.
pub(crate) trait Side: Send + Sync + 'static {
    /// The frame a message from a subscription becomes, if any.
    fn inbound(&self, message: async_nats::Message) -> Option<Bytes>;

    /// What a frame the peer sends becomes.
    fn outbound(&self, frame: Bytes) -> Outbound;
}

/// What a frame the peer sends becomes.
pub(crate) enum Outbound {
    /// A message to publish.
    Publish(Publish),
    /// A frame for the peer itself, answered here.
    Answer(Bytes),
    /// Nothing: it means nothing on NATS.
    Drop,
}

/// A message to publish, and what to do if it cannot be.
pub(crate) struct Publish {
    pub(crate) subject: String,
    pub(crate) reply: Option<String>,
    pub(crate) headers: Option<HeaderMap>,
    pub(crate) payload: Bytes,
    pub(crate) on_failure: OnFailure,
}

/// What a failed publish turns into.
pub(crate) enum OnFailure {
    /// Nothing waits for it (an event).
    Nothing,
    /// The call with this msgid fails (a request of the caller's).
    FailCall(MsgId),
    /// The caller waiting on this subject gets an error instead (a reply).
    ErrorReply,
}

/// A transport over `client`: messages from `subscribers` in, publishes
/// out. Cancelling `drain` drains the subscriptions, after which the source
/// ends. Returns the writer task too: it ends once the peer has closed and
/// everything it sent is handed to the NATS connection.
pub(crate) fn transport(
    client: Client,
    side: Arc<dyn Side>,
    subscribers: Vec<Subscriber>,
    drain: CancellationToken,
) -> (Transport, JoinHandle<()>) {
    let (messages_tx, messages) = mpsc::channel(INBOUND_CAPACITY);
    for subscriber in subscribers {
        tokio::spawn(pump(subscriber, messages_tx.clone(), drain.clone()));
    }
    drop(messages_tx);
    let (answers_tx, answers) = mpsc::unbounded_channel();
    let (publish_tx, publish_rx) = mpsc::channel(OUTBOUND_CAPACITY);
    let writer = tokio::spawn(write(client, publish_rx, answers_tx.clone()));
    let source = Source {
        side: Arc::clone(&side),
        messages,
        answers,
    };
    let sink = Sink {
        side,
        publish: PollSender::new(publish_tx),
        answers: answers_tx,
    };
    (Transport::from_frames(source, sink), writer)
}

/// Forwards the messages of `subscriber` until it ends or the source is
/// gone; when `drain` fires, unsubscribes first and forwards what NATS had
/// already sent.
async fn pump(
    mut subscriber: Subscriber,
    messages: mpsc::Sender<async_nats::Message>,
    drain: CancellationToken,
) {
    let mut draining = false;
    loop {
        let message = tokio::select! {
            () = messages.closed() => return,
            () = drain.cancelled(), if !draining => {
                draining = true;
                if subscriber.drain().await.is_err() {
                    return;
                }
                continue;
            }
            message = subscriber.next() => message,
        };
        let Some(message) = message else { return };
        if messages.send(message).await.is_err() {
            return;
        }
    }
}

/// Publishes in order; a publish that fails fails its call or answers its
/// caller with the error.
async fn write(
    client: Client,
    mut publishes: mpsc::Receiver<Publish>,
    answers: mpsc::UnboundedSender<Bytes>,
) {
    while let Some(publish) = publishes.recv().await {
        let Publish {
            subject,
            reply,
            headers,
            payload,
            on_failure,
        } = publish;
        let sent = match (reply.clone(), headers) {
            (None, None) => client.publish(subject, payload).await,
            (None, Some(headers)) => client.publish_with_headers(subject, headers, payload).await,
            (Some(reply), None) => client.publish_with_reply(subject, reply, payload).await,
            (Some(reply), Some(headers)) => {
                client
                    .publish_with_reply_and_headers(subject, reply, headers, payload)
                    .await
            }
        };
        let Err(error) = sent else { continue };
        tracing::warn!(%error, "publishing on NATS failed");
        let failure = ErrorObject::internal(format!("publishing on NATS failed: {error}"));
        match on_failure {
            OnFailure::Nothing => {}
            OnFailure::FailCall(msgid) => {
                let _ = answers.send(response_frame(msgid, Err(&encoded_error(&failure))));
            }
            OnFailure::ErrorReply => {
                let _ = reply_error(&client, reply, &failure).await;
            }
        }
    }
}

/// Answers the caller waiting on `reply` with `error`.
pub(crate) async fn reply_error(
    client: &Client,
    reply: Option<String>,
    error: &ErrorObject,
) -> Result<(), async_nats::PublishError> {
    let Some(reply) = reply else { return Ok(()) };
    let body = encoded_error(error);
    let headers = subject::error_headers(&body);
    client.publish_with_headers(reply, headers, body).await
}

struct Source {
    side: Arc<dyn Side>,
    messages: mpsc::Receiver<async_nats::Message>,
    answers: mpsc::UnboundedReceiver<Bytes>,
}

impl FrameSource for Source {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        if let Poll::Ready(Some(frame)) = self.answers.poll_recv(cx) {
            return Poll::Ready(Some(Ok(frame)));
        }
        loop {
            match ready!(self.messages.poll_recv(cx)) {
                Some(message) => {
                    if let Some(frame) = self.side.inbound(message) {
                        return Poll::Ready(Some(Ok(frame)));
                    }
                }
                // Every subscription has ended (drained, or the client
                // closed): the end of the stream.
                None => return Poll::Ready(None),
            }
        }
    }
}

struct Sink {
    side: Arc<dyn Side>,
    publish: PollSender<Publish>,
    answers: mpsc::UnboundedSender<Bytes>,
}

impl FrameSink for Sink {
    fn poll_send(&mut self, cx: &mut Context<'_>, frames: &mut Frames) -> Poll<io::Result<()>> {
        while !frames.is_empty() {
            ready!(self.publish.poll_reserve(cx))
                .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the NATS writer ended"))?;
            let Some(frame) = frames.pop_frame() else {
                break;
            };
            match self.side.outbound(frame) {
                Outbound::Publish(publish) => {
                    self.publish.send_item(publish).map_err(|_| {
                        io::Error::new(io::ErrorKind::BrokenPipe, "the NATS writer ended")
                    })?;
                }
                Outbound::Answer(frame) => {
                    self.publish.abort_send();
                    let _ = self.answers.send(frame);
                }
                Outbound::Drop => {
                    self.publish.abort_send();
                }
            }
        }
        Poll::Ready(Ok(()))
    }

    fn poll_close(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.publish.close();
        Poll::Ready(Ok(()))
    }
}
