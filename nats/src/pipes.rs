//! A NATS connection as a message transport: subscriptions in, publishes
//! out, each side of the mapping ([`Side`]: the caller's or the service's)
//! deciding what a message or a frame becomes.
//!
//! Inbound, a caller's source polls its subscriptions itself. A service's
//! reads a bounded channel that two tasks fill: its [intake](super::intake),
//! with the calls, and a [`pump`] with the messages of its stream calls
//! (subscribed on the connection that publishes, as NATS answers "no
//! responders" only there); when the service leaves, both drain, and once
//! both have ended the peer answers what it read and closes. Either way a
//! peer that stops reading (its handlers all busy) holds messages back in
//! NATS's buffers or the server's. Frames a side answers itself (a hello, a
//! call that cannot be sent) come back through an unbounded channel of their
//! own: the sink and the publisher must never wait on the reader they feed.
//! It is bounded all the same, by what is in flight: each frame on it ends
//! one call or stream of the peer's (or is the one hello), so it never holds
//! more than the peer has calls and streams open.
//!
//! Outbound, the sink turns each frame into a [`Publish`] and hands it to
//! the NATS client right there (its queue has room nearly always; when it
//! has not, the sink waits, and the peer's queue and its limits take the
//! strain). What the reading side and the periodic work publish (a cancel,
//! a credit, a ping) goes to one publisher task, in order, through a bounded
//! queue: when it is full the source holds what it has and reads no further
//! message until there is room. A publish that fails fails its call, or
//! answers its caller with an error, rather than vanishing.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use async_nats::{Client, HeaderMap, Subject, Subscriber};
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::{SelectAll, select_all};
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, PollSender};

use super::intake::Intake;
use super::options::ServerWord;
use super::subject::{self, encoded_error};
use dotrpc::handler::ErrorObject;
use dotrpc::peer::ErrorFormat;
use dotrpc::transport::{FrameSink, FrameSource, Transport};
use dotrpc::transport::{Frames, MsgId, response_frame};

/// Messages the intake hands over ahead of the peer's reading.
const INBOUND_CAPACITY: usize = 64;

/// Messages the reading side and the periodic work queue for the
/// publisher ahead of it.
const PUBLISH_CAPACITY: usize = 64;

/// One side of the mapping between NATS messages and msgpack-rpc frames.
pub(crate) trait Side: Send + Sync + 'static {
    /// What a message from a subscription becomes: frames for the peer
    /// (`Answer`), in order, and messages to publish.
    fn inbound(&self, message: async_nats::Message, out: &mut Vec<Outbound>);

    /// What a frame the peer sends becomes.
    fn outbound(&self, frame: Bytes) -> Outbound;

    /// How often [`tick`](Side::tick) runs, if the side has periodic work.
    fn tick_every(&self) -> Option<Duration> {
        None
    }

    /// The periodic work: pings, and calls that waited too long.
    fn tick(&self, _out: &mut Vec<Outbound>) {}

    /// What the server said (a refused publish or subscription).
    fn heard(&self, _word: &ServerWord, _out: &mut Vec<Outbound>) {}

    /// The subjects this side wants subscribed, besides those it was
    /// given: asked again when the connection to NATS is back, and those
    /// not yet subscribed are (event paths the router took since).
    fn subjects(&self) -> Vec<String> {
        Vec::new()
    }
}

/// What a frame the peer sends (or a message, or a tick) becomes.
pub(crate) enum Outbound {
    /// A message to publish.
    Publish(Publish),
    /// A frame for the peer itself, answered here.
    Answer(Bytes),
    /// Nothing: it means nothing on NATS.
    Drop,
}

/// A message to publish, and what to do if it cannot be. Subjects are
/// shared bytes: built once, never copied on the way to the client.
pub(crate) struct Publish {
    pub(crate) subject: Subject,
    pub(crate) reply: Option<Subject>,
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
    /// The caller waiting on the subject published to gets an error
    /// instead (a reply), written in this format.
    ErrorReply(ErrorFormat),
}

/// How the source gets the subscriptions' messages.
pub(crate) enum Inbound {
    /// Polled by the source itself; the side's [`subjects`](Side::subjects)
    /// among them, named.
    Direct(Vec<Subscriber>, HashSet<String>),
    /// From an intake and a subscription of the publishing connection's,
    /// which both drain when the token fires.
    Intake(Box<Intake>, Subscriber, CancellationToken),
}

/// A transport over `client`: messages from the subscriptions in,
/// publishes out.
pub(crate) fn transport(
    client: Client,
    side: Arc<dyn Side>,
    inbound: Inbound,
    words: Option<mpsc::Receiver<ServerWord>>,
) -> Transport {
    let mut subscribed = HashSet::new();
    let messages = match inbound {
        Inbound::Direct(subscribers, subjects) => {
            subscribed = subjects;
            Messages::Direct(select_all(subscribers))
        }
        Inbound::Intake(intake, subscriber, drain) => {
            let (messages_tx, messages) = mpsc::channel(INBOUND_CAPACITY);
            tokio::spawn(pump(subscriber, messages_tx.clone(), drain.clone()));
            tokio::spawn(intake.run(messages_tx, drain));
            Messages::Pumped(messages)
        }
    };
    let (answers_tx, answers) = mpsc::unbounded_channel();
    let (publishes, to_publish) = mpsc::channel(PUBLISH_CAPACITY);
    tokio::spawn(publisher(client.clone(), to_publish, answers_tx.clone()));
    if let Some(every) = side.tick_every() {
        tokio::spawn(tick(
            Arc::clone(&side),
            every,
            publishes.clone(),
            answers_tx.clone(),
        ));
    }
    let (added_tx, added) = mpsc::channel(16);
    let source = Source {
        side: Arc::clone(&side),
        client: client.clone(),
        messages,
        answers,
        publishes: PollSender::new(publishes),
        unsent: VecDeque::new(),
        words,
        subscribed,
        added,
        added_tx,
        ready: VecDeque::new(),
        out: Vec::new(),
    };
    let sink = Sink {
        side,
        client,
        publishing: None,
        flushing: None,
        answers: answers_tx,
    };
    Transport::from_frames(source, sink)
}

/// Forwards the messages of `subscriber` until it ends or the source is
/// gone; when `drain` fires, unsubscribes first and forwards what NATS had
/// already sent. (async-nats forgets the subscription before the server has
/// taken the UNSUB, so a message on its way may be lost: for a stream's
/// messages, which the stream protocol counts, that is a loss it sees; calls
/// come through the intake, which waits for the server.)
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

/// Publishes what the reading side and the periodic work send, one after
/// another, until both are gone.
async fn publisher(
    client: Client,
    mut publishes: mpsc::Receiver<Publish>,
    answers: mpsc::UnboundedSender<Bytes>,
) {
    while let Some(message) = publishes.recv().await {
        publish(client.clone(), message, answers.clone()).await;
    }
}

/// Runs the side's periodic work every `every`, until the peer stops
/// reading (the source is gone).
async fn tick(
    side: Arc<dyn Side>,
    every: Duration,
    publishes: mpsc::Sender<Publish>,
    answers: mpsc::UnboundedSender<Bytes>,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut out = Vec::new();
    loop {
        tokio::select! {
            () = answers.closed() => return,
            _ = ticks.tick() => {}
        }
        side.tick(&mut out);
        for outbound in out.drain(..) {
            match outbound {
                Outbound::Publish(message) => {
                    if publishes.send(message).await.is_err() {
                        return;
                    }
                }
                Outbound::Answer(frame) => {
                    let _ = answers.send(frame);
                }
                Outbound::Drop => {}
            }
        }
    }
}

/// Publishes one message; if that fails, fails its call or answers its
/// caller with the error.
async fn publish(client: Client, publish: Publish, answers: mpsc::UnboundedSender<Bytes>) {
    let Publish {
        subject,
        reply,
        headers,
        payload,
        on_failure,
    } = publish;
    let sent = match (reply, headers) {
        (None, None) => client.publish(subject.clone(), payload).await,
        (None, Some(headers)) => {
            client
                .publish_with_headers(subject.clone(), headers, payload)
                .await
        }
        (Some(reply), None) => {
            client
                .publish_with_reply(subject.clone(), reply, payload)
                .await
        }
        (Some(reply), Some(headers)) => {
            client
                .publish_with_reply_and_headers(subject.clone(), reply, headers, payload)
                .await
        }
    };
    let Err(error) = sent else { return };
    tracing::warn!(%error, "publishing on NATS failed");
    let failure = ErrorObject::internal(format!("publishing on NATS failed: {error}"));
    match on_failure {
        OnFailure::Nothing => {}
        OnFailure::FailCall(msgid) => {
            let body = encoded_error(&failure, ErrorFormat::Object);
            let _ = answers.send(response_frame(msgid, Err(&body)));
        }
        OnFailure::ErrorReply(format) => {
            let _ = reply_error(&client, Some(subject), &failure, format).await;
        }
    }
}

/// Answers the caller waiting on `reply` with `error`, written in
/// `format`.
pub(crate) async fn reply_error(
    client: &Client,
    reply: Option<Subject>,
    error: &ErrorObject,
    format: ErrorFormat,
) -> Result<(), async_nats::PublishError> {
    let Some(reply) = reply else { return Ok(()) };
    let body = encoded_error(error, format);
    client
        .publish_with_headers(reply, subject::object_headers(error), body)
        .await
}

struct Source {
    side: Arc<dyn Side>,
    /// Subscribes to the side's subjects added since connecting.
    client: Client,
    messages: Messages,
    answers: mpsc::UnboundedReceiver<Bytes>,
    /// The publisher's queue, for what messages make the side send (a
    /// cancel, a credit, a ping).
    publishes: PollSender<Publish>,
    /// What the side sent that the publisher's queue had no room for yet.
    unsent: VecDeque<Publish>,
    /// What the server says, if the side hears it.
    words: Option<mpsc::Receiver<ServerWord>>,
    /// The side's subjects subscribed so far.
    subscribed: HashSet<String>,
    /// Subscriptions made since, on their way in.
    added: mpsc::Receiver<Subscriber>,
    added_tx: mpsc::Sender<Subscriber>,
    /// Frames a message became, to read before the next message.
    ready: VecDeque<Bytes>,
    /// What a message becomes, reused.
    out: Vec<Outbound>,
}

enum Messages {
    Direct(SelectAll<Subscriber>),
    Pumped(mpsc::Receiver<async_nats::Message>),
}

impl Source {
    /// Acts on what the server said.
    fn hear(&mut self, word: &ServerWord) {
        if *word == ServerWord::Reconnected {
            return self.subscribe_new();
        }
        self.side.heard(word, &mut self.out);
        self.take_out();
    }

    /// Subscribes to the side's subjects not subscribed yet, on a task of
    /// their own; the subscriptions come in through `added`.
    fn subscribe_new(&mut self) {
        if !matches!(self.messages, Messages::Direct(_)) {
            return;
        }
        let new: Vec<String> = self
            .side
            .subjects()
            .into_iter()
            .filter(|subject| self.subscribed.insert(subject.clone()))
            .collect();
        if new.is_empty() {
            return;
        }
        tracing::debug!(?new, "subscribing to events served since connecting");
        let (client, added) = (self.client.clone(), self.added_tx.clone());
        tokio::spawn(async move {
            for subject in new {
                match client.subscribe(subject.clone()).await {
                    Ok(subscriber) => {
                        if added.send(subscriber).await.is_err() {
                            return;
                        }
                    }
                    Err(error) => tracing::warn!(%error, subject, "cannot subscribe"),
                }
            }
        });
    }

    /// Queues the frames of `out`, and its messages for the publisher.
    fn take_out(&mut self) {
        for outbound in self.out.drain(..) {
            match outbound {
                Outbound::Answer(frame) => self.ready.push_back(frame),
                Outbound::Publish(message) => self.unsent.push_back(message),
                Outbound::Drop => {}
            }
        }
    }

    /// Hands what is unsent to the publisher, as far as its queue has room;
    /// ready once all of it is.
    fn poll_unsent(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        while !self.unsent.is_empty() {
            if ready!(self.publishes.poll_reserve(cx)).is_err() {
                // The publisher is gone: the transport is ending.
                self.unsent.clear();
                break;
            }
            if let Some(message) = self.unsent.pop_front() {
                let _ = self.publishes.send_item(message);
            }
        }
        Poll::Ready(())
    }
}

impl FrameSource for Source {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        if let Poll::Ready(Some(frame)) = self.answers.poll_recv(cx) {
            return Poll::Ready(Some(Ok(frame)));
        }
        while let Some(Poll::Ready(Some(word))) =
            self.words.as_mut().map(|words| words.poll_recv(cx))
        {
            self.hear(&word);
        }
        while let Poll::Ready(Some(subscriber)) = self.added.poll_recv(cx) {
            if let Messages::Direct(subscribers) = &mut self.messages {
                subscribers.push(subscriber);
            }
        }
        loop {
            if let Some(frame) = self.ready.pop_front() {
                return Poll::Ready(Some(Ok(frame)));
            }
            // No further message until what the last ones sent has room.
            ready!(self.poll_unsent(cx));
            let message = match &mut self.messages {
                Messages::Direct(subscribers) => ready!(subscribers.poll_next_unpin(cx)),
                Messages::Pumped(messages) => ready!(messages.poll_recv(cx)),
            };
            match message {
                Some(message) => {
                    self.side.inbound(message, &mut self.out);
                    self.take_out();
                }
                // Every subscription has ended (drained, or the client
                // closed): the end of the stream.
                None => return Poll::Ready(None),
            }
        }
    }
}

/// A publish (or a flush) under way: a publish is nearly always done in its
/// first poll.
type Publishing = Pin<Box<dyn Future<Output = ()> + Send>>;

struct Sink {
    side: Arc<dyn Side>,
    client: Client,
    publishing: Option<Publishing>,
    /// The flush on close, once begun.
    flushing: Option<Publishing>,
    answers: mpsc::UnboundedSender<Bytes>,
}

impl Sink {
    /// Waits for the publish under way, if any.
    fn poll_published(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(publishing) = &mut self.publishing {
            ready!(publishing.as_mut().poll(cx));
            self.publishing = None;
        }
        Poll::Ready(())
    }
}

impl FrameSink for Sink {
    fn poll_send(&mut self, cx: &mut Context<'_>, frames: &mut Frames) -> Poll<io::Result<()>> {
        loop {
            ready!(self.poll_published(cx));
            let Some(frame) = frames.pop_frame() else {
                return Poll::Ready(Ok(()));
            };
            match self.side.outbound(frame) {
                Outbound::Publish(message) => {
                    let answers = self.answers.clone();
                    self.publishing =
                        Some(Box::pin(publish(self.client.clone(), message, answers)));
                }
                Outbound::Answer(frame) => {
                    let _ = self.answers.send(frame);
                }
                Outbound::Drop => {}
            }
        }
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_published(cx));
        // What was handed to the client leaves before the peer says it has
        // closed: a program that exits right after gets its last publishes
        // out.
        let flushing = self.flushing.get_or_insert_with(|| {
            let client = self.client.clone();
            Box::pin(async move {
                if let Err(error) = client.flush().await {
                    tracing::debug!(%error, "flushing to NATS failed");
                }
            })
        });
        ready!(flushing.as_mut().poll(cx));
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_server::NatsServer;
    use dotrpc::transport::Message;

    /// A message one byte over what the server takes.
    fn too_large(client: &Client) -> Bytes {
        Bytes::from(vec![0u8; client.server_info().max_payload + 1])
    }

    #[tokio::test]
    async fn a_reply_that_cannot_be_published_answers_its_caller_with_an_error() {
        let Some(nats) = NatsServer::start() else {
            return;
        };
        let client = async_nats::connect(&nats.url).await.unwrap();
        let waiting_caller = client.new_inbox();
        let mut caller = client.subscribe(waiting_caller.clone()).await.unwrap();
        client.flush().await.unwrap();
        let reply = Publish {
            subject: waiting_caller.into(),
            reply: None,
            headers: None,
            payload: too_large(&client),
            on_failure: OnFailure::ErrorReply(ErrorFormat::Object),
        };
        let (answers, _) = mpsc::unbounded_channel();
        publish(client.clone(), reply, answers).await;
        let answer = tokio::time::timeout(Duration::from_secs(10), caller.next())
            .await
            .expect("the caller is answered")
            .unwrap();
        let headers = answer.headers.expect("error headers");
        assert_eq!(
            headers.get(subject::ERROR_CODE_HEADER).unwrap().as_str(),
            "500"
        );
        let error: rmpv::Value = rmpv::decode::read_value(&mut &answer.payload[..]).unwrap();
        assert_eq!(error["code"].as_str(), Some("Internal"), "{error}");
    }

    #[tokio::test]
    async fn a_request_that_cannot_be_published_fails_its_call() {
        let Some(nats) = NatsServer::start() else {
            return;
        };
        let client = async_nats::connect(&nats.url).await.unwrap();
        let request = Publish {
            subject: "demo.add".into(),
            reply: Some(client.new_inbox().into()),
            headers: None,
            payload: too_large(&client),
            on_failure: OnFailure::FailCall(7),
        };
        let (answers, mut answered) = mpsc::unbounded_channel();
        publish(client, request, answers).await;
        let frame = answered.try_recv().expect("the call's failure");
        match Message::parse(frame).unwrap() {
            Message::Response(response) => {
                assert_eq!(response.msgid(), 7);
                assert!(response.error().is_some());
            }
            other => panic!("{other:?}"),
        }
    }
}
