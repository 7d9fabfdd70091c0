//! The calling side over NATS: a peer's requests become requests on the
//! service's subjects, with replies to an inbox of the peer's own; the
//! events it serves become subscriptions.
//!
//! Each request's reply subject is the inbox and its msgid
//! (`_INBOX.<id>.<msgid>`), so a reply finds its call with no table here:
//! the peer's own transactions match it, as on any connection. The broker's
//! "no responders" status becomes `NoResponders` at once; a call to an
//! instance that dies meanwhile waits for its timeout, which over NATS
//! every call has (the peer's `call_timeout`, 10 s unless set).
//!
//! A stream call also keeps a little state here (see [`super::streams`]):
//! the subject of the instance that took it, and the counts that make
//! NATS's at-most-once delivery visible.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_nats::{StatusCode, Subject};
use bytes::Bytes;

use super::options::ServerWord;
use super::pipes::{OnFailure, Outbound, Publish, Side};
use super::streams::{self, Arrived, Body, Kind, Tally};
use super::subject::{self, encoded_error, params_of};
use crate::lock;
use dotrpc::Router;
use dotrpc::error::code;
use dotrpc::handler::ErrorObject;
use dotrpc::peer::ErrorFormat;
use dotrpc::protocol::{self, HELLO, INPUT_CREDIT, ITEM, LAGGED};
use dotrpc::transport::{
    Limits, Message, MsgId, Notification, check_frame, notification_frame, response_frame,
};

/// The caller's side of the mapping.
pub(crate) struct Caller {
    pub(crate) prefix: Arc<str>,
    /// The reply subjects' prefix, with its trailing dot.
    pub(crate) inbox: String,
    pub(crate) limits: Limits,
    /// The events it receives are those this router serves.
    router: Arc<Router>,
    /// Subscribed to every subject under the prefix (the router has a
    /// fallback): only what a service pushed is an event then, not the
    /// other callers' requests.
    pub(crate) everything: bool,
    /// How long a stream call waits for an instance to take it.
    pub(crate) call_timeout: Duration,
    /// The stream calls under way, by msgid.
    pub(crate) streams: Mutex<HashMap<MsgId, Stream>>,
    /// The last requests sent, with their subjects: when the server refuses
    /// to carry a subject (its permissions), those calls fail at once.
    /// Answered ones are not taken out; failing them again is a no-op.
    recent: Mutex<VecDeque<(MsgId, Subject)>>,
}

/// Requests remembered for a refusal, at most: a refusal comes within a
/// round trip of its request.
const RECENT: usize = 4096;

/// A stream call under way.
pub(crate) struct Stream {
    /// The subject of the instance that took the call, once it said.
    instance: Option<Subject>,
    tally: Tally,
    /// Cancelled before the instance said where it is: the cancel goes
    /// out when it does.
    cancelled: bool,
    sent: Instant,
}

impl Caller {
    /// The caller's side, for a peer whose replies come to `inbox`.
    pub(crate) fn new(
        prefix: Arc<str>,
        inbox: String,
        limits: Limits,
        router: Arc<Router>,
        call_timeout: Duration,
    ) -> Caller {
        Caller {
            prefix,
            inbox,
            limits,
            everything: router.has_fallback(),
            router,
            call_timeout,
            streams: Mutex::default(),
            recent: Mutex::new(VecDeque::with_capacity(RECENT)),
        }
    }

    /// The reply subject of call `msgid`.
    fn reply_subject(&self, msgid: MsgId) -> Subject {
        format!("{}{msgid}", self.inbox).into()
    }

    /// A stream message from the instance that took call `msgid`.
    fn instance_said(
        &self,
        msgid: MsgId,
        kind: Kind,
        message: async_nats::Message,
        out: &mut Vec<Outbound>,
    ) {
        let mut streams = lock(&self.streams);
        // Over (answered, or cancelled), or never a stream of this peer's.
        let Some(stream) = streams.get_mut(&msgid) else {
            return;
        };
        stream.tally.heard();
        if stream.instance.is_none() {
            let Some(instance) = message.reply.clone() else {
                return;
            };
            if stream.cancelled {
                out.push(Outbound::Publish(Kind::Cancel.publish(
                    instance,
                    self.reply_subject(msgid),
                    Bytes::new(),
                )));
                streams.remove(&msgid);
                return;
            }
            stream.instance = Some(instance);
        }
        let body = &message.payload;
        let frame = match kind {
            Kind::Item => match stream.tally.receive_item(body, &self.limits) {
                Arrived::Item { lost, item } => {
                    self.lost(msgid, stream, lost, out);
                    streams::peer_frame(ITEM, msgid, Body::Item(&item))
                }
                Arrived::Old => return,
                Arrived::Malformed(reason) => return self.refuse(streams, msgid, &reason, out),
            },
            Kind::Lagged => match streams::count(body) {
                Some(n) => streams::peer_frame(LAGGED, msgid, Body::Count(n)),
                None => return,
            },
            Kind::InputCredit => match stream.tally.granted_total(body) {
                Some(n) => streams::peer_frame(INPUT_CREDIT, msgid, Body::Count(n)),
                None => return,
            },
            Kind::Ping => {
                let Some(pinged) = stream.tally.read_ping(body) else {
                    return;
                };
                self.lost(msgid, stream, pinged.lost, out);
                if pinged.credit == 0 {
                    return;
                }
                streams::peer_frame(INPUT_CREDIT, msgid, Body::Count(pinged.credit))
            }
            // The caller's own kinds, sent back at it: nonsense.
            Kind::Credit | Kind::Input | Kind::InputEnd | Kind::Cancel => return,
        };
        match subject::within_limits(frame, &self.limits) {
            Ok(frame) => out.push(Outbound::Answer(frame)),
            Err(reason) => self.refuse(streams, msgid, &reason, out),
        }
    }

    /// Ends stream call `msgid`, which brought what this peer cannot take:
    /// the consumer gets the reason as the stream's error, and the instance
    /// is told to stop.
    fn refuse(
        &self,
        mut streams: MutexGuard<'_, HashMap<MsgId, Stream>>,
        msgid: MsgId,
        reason: &str,
        out: &mut Vec<Outbound>,
    ) {
        let Some(stream) = streams.remove(&msgid) else {
            return;
        };
        drop(streams);
        if let Some(instance) = stream.instance {
            out.push(Outbound::Publish(Kind::Cancel.publish(
                instance,
                self.reply_subject(msgid),
                Bytes::new(),
            )));
        }
        let error = ErrorObject::internal(format!("the stream was refused: {reason}"));
        out.push(Outbound::Answer(response_frame(
            msgid,
            Err(&encoded_error(&error, ErrorFormat::Object)),
        )));
    }

    /// Items of stream `msgid` lost on NATS: the consumer is told, and the
    /// instance gets their credit back (the consumer, which never took
    /// them, will not grant it).
    fn lost(&self, msgid: MsgId, stream: &mut Stream, lost: u64, out: &mut Vec<Outbound>) {
        if lost == 0 {
            return;
        }
        tracing::warn!(msgid, lost, "stream items lost on NATS");
        out.push(Outbound::Answer(streams::peer_frame(
            LAGGED,
            msgid,
            Body::Count(lost),
        )));
        if let Some(instance) = stream.instance.clone() {
            let total = stream.tally.grant(lost);
            out.push(Outbound::Publish(Kind::Credit.publish(
                instance,
                self.reply_subject(msgid),
                total,
            )));
        }
    }

    /// Whether "no responders" to call `msgid` means no instance has it: a
    /// plain call, or a stream call no instance took, at once; a stream
    /// call's instance, only when it is gone for good (see
    /// [`Tally::nobody`]).
    fn instance_gone(&self, msgid: MsgId) -> bool {
        let mut streams = lock(&self.streams);
        match streams.get_mut(&msgid) {
            Some(stream) if stream.instance.is_some() => {
                stream.tally.nobody(streams::ping_every(self.call_timeout))
            }
            _ => true,
        }
    }

    /// A stream notification of the peer's (credit, input, its end, a
    /// cancel): sent to the instance that took the call.
    fn tell_instance(&self, kind: Kind, notification: &Notification) -> Outbound {
        let params = notification.params();
        let Some(msgid) = protocol::stream_id(params) else {
            return Outbound::Drop;
        };
        let mut streams = lock(&self.streams);
        let Some(stream) = streams.get_mut(&msgid) else {
            // Not a stream, or over: a plain call is not cancelled over
            // NATS (which instance has it is not known). One given up
            // unanswered is worth a word: if its instance never answers,
            // this says which request it was.
            if kind == Kind::Cancel {
                tracing::debug!(
                    msgid,
                    reply = %self.reply_subject(msgid),
                    "call given up unanswered (timed out or dropped)"
                );
            }
            return Outbound::Drop;
        };
        let body = match kind {
            Kind::Credit => match protocol::count(params) {
                Some((_, n)) => stream.tally.grant(n.into()),
                None => return Outbound::Drop,
            },
            Kind::Input => match protocol::item(params) {
                Some((_, item)) => stream.tally.send_item(item),
                None => return Outbound::Drop,
            },
            Kind::InputEnd => streams::count_body(stream.tally.sent()),
            Kind::Cancel => {
                let Some(instance) = stream.instance.clone() else {
                    // Sent when the instance says where it is.
                    stream.cancelled = true;
                    return Outbound::Drop;
                };
                streams.remove(&msgid);
                return Outbound::Publish(Kind::Cancel.publish(
                    instance,
                    self.reply_subject(msgid),
                    Bytes::new(),
                ));
            }
            Kind::Item | Kind::Lagged | Kind::InputCredit | Kind::Ping => {
                return Outbound::Drop;
            }
        };
        // Credit before the instance said where it is goes with the next
        // grant or ping, as a total; input waits for the instance's credit.
        let Some(instance) = stream.instance.clone() else {
            return Outbound::Drop;
        };
        Outbound::Publish(kind.publish(instance, self.reply_subject(msgid), body))
    }

    /// The response a reply to `msgid` becomes.
    fn response(&self, msgid: MsgId, reply: async_nats::Message) -> Bytes {
        let error = |error: ErrorObject| {
            response_frame(msgid, Err(&encoded_error(&error, ErrorFormat::Object)))
        };
        if let Some(status) = reply.status {
            if status == StatusCode::NO_RESPONDERS {
                return error(ErrorObject::new(
                    code::NO_RESPONDERS,
                    "no instance is subscribed to the subject",
                ));
            }
            if !status.is_success() {
                let said = reply.description.unwrap_or_default();
                return error(ErrorObject::internal(format!(
                    "NATS status {status} {said}"
                )));
            }
        }
        let service_error = reply
            .headers
            .as_ref()
            .and_then(|headers| headers.get(subject::ERROR_CODE_HEADER))
            .map(|status| status.as_str().to_owned());
        let body = &reply.payload;
        let well_formed = !body.is_empty() && check_frame(body, &self.limits).is_ok();
        match service_error {
            Some(_) if well_formed => response_frame(msgid, Err(body)),
            // A foreign NATS service: the error is in the headers alone.
            Some(status) => {
                let said = reply
                    .headers
                    .as_ref()
                    .and_then(|headers| headers.get(subject::ERROR_HEADER))
                    .map_or("", |message| message.as_str());
                error(ErrorObject::new(format!("NATS {status}"), said))
            }
            None if well_formed => response_frame(msgid, Ok(body)),
            None if body.is_empty() => response_frame(msgid, Ok(&[0xc0])),
            None => error(ErrorObject::internal(format!(
                "the reply is not one msgpack value within the limits ({} bytes)",
                body.len()
            ))),
        }
    }
}

impl Side for Caller {
    /// The subjects of the events the router serves; with a fallback,
    /// everything under the prefix.
    fn subjects(&self) -> Vec<String> {
        if self.everything {
            return vec![subject::subject(&self.prefix, ">")];
        }
        self.router
            .paths()
            .into_iter()
            .filter(|path| !path.starts_with("rpc.") && subject::valid_path(path))
            .map(|path| subject::subject(&self.prefix, &path))
            .collect()
    }

    /// A refused publish fails the calls sent on its subject, at once and
    /// by kind, rather than at their timeout.
    fn heard(&self, word: &ServerWord, out: &mut Vec<Outbound>) {
        match word {
            ServerWord::MayNotPublish(refused) => {
                let error = ErrorObject::unauthorized(format!(
                    "the NATS server does not let this client publish on `{refused}`"
                ));
                let error = encoded_error(&error, ErrorFormat::Object);
                lock(&self.recent).retain(|(msgid, subject)| {
                    if subject.as_str() != refused {
                        return true;
                    }
                    out.push(Outbound::Answer(response_frame(*msgid, Err(&error))));
                    false
                });
            }
            ServerWord::MayNotSubscribe(refused) => tracing::warn!(
                subject = %refused,
                "the NATS server does not let this client subscribe: what comes there is lost"
            ),
            ServerWord::Reconnected => {}
        }
    }

    fn inbound(&self, message: async_nats::Message, out: &mut Vec<Outbound>) {
        if let Some(token) = message.subject.strip_prefix(self.inbox.as_str()) {
            let Ok(msgid) = token.parse() else { return };
            match Kind::of_message(&message) {
                Some(Some(kind)) => return self.instance_said(msgid, kind, message, out),
                Some(None) => return tracing::debug!(msgid, "stream message of no known kind"),
                None => {}
            }
            if message.status == Some(StatusCode::NO_RESPONDERS) && !self.instance_gone(msgid) {
                return;
            }
            // The answer: a stream call is over, after the items it says
            // it sent.
            if let Some(stream) = lock(&self.streams).remove(&msgid) {
                let sent = message
                    .headers
                    .as_ref()
                    .and_then(|headers| headers.get(streams::ITEMS_HEADER))
                    .and_then(|n| n.as_str().parse().ok());
                let lost = sent.map_or(0, |sent| stream.tally.lost_of(sent));
                if lost > 0 {
                    tracing::warn!(msgid, lost, "the last items of a stream were lost on NATS");
                    out.push(Outbound::Answer(streams::peer_frame(
                        LAGGED,
                        msgid,
                        Body::Count(lost),
                    )));
                }
            }
            let response = self.response(msgid, message);
            out.push(Outbound::Answer(
                subject::within_limits(response, &self.limits).unwrap_or_else(|reason| {
                    let error = ErrorObject::internal(format!("the reply was refused: {reason}"));
                    response_frame(msgid, Err(&encoded_error(&error, ErrorFormat::Object)))
                }),
            ));
            return;
        }
        // An event the client serves.
        if self.everything && (!subject::is_push(&message) || message.reply.is_some()) {
            return;
        }
        let Some(path) = message
            .subject
            .strip_prefix(&*self.prefix)
            .and_then(|rest| rest.strip_prefix('.'))
        else {
            return;
        };
        let frame = params_of(&message.payload, &self.limits)
            .map(|params| notification_frame(path, &params))
            .and_then(|frame| subject::within_limits(frame, &self.limits));
        match frame {
            Ok(frame) => out.push(Outbound::Answer(frame)),
            Err(reason) => {
                tracing::warn!(subject = %message.subject, %reason, "event dropped");
            }
        }
    }

    fn tick_every(&self) -> Option<Duration> {
        Some(streams::ping_every(self.call_timeout))
    }

    /// Pings the instance of every stream call, and fails those no instance
    /// took within the call timeout.
    fn tick(&self, out: &mut Vec<Outbound>) {
        let mut streams = lock(&self.streams);
        streams.retain(|&msgid, stream| match &stream.instance {
            Some(instance) => {
                out.push(Outbound::Publish(Kind::Ping.publish(
                    instance.clone(),
                    self.reply_subject(msgid),
                    stream.tally.ping(),
                )));
                true
            }
            None if stream.sent.elapsed() < self.call_timeout => true,
            None => {
                if !stream.cancelled {
                    let error = ErrorObject::new(
                        code::TIMEOUT,
                        "no instance took the stream call within the call timeout",
                    );
                    out.push(Outbound::Answer(response_frame(
                        msgid,
                        Err(&encoded_error(&error, ErrorFormat::Object)),
                    )));
                }
                false
            }
        });
    }

    fn outbound(&self, frame: Bytes) -> Outbound {
        let Ok(message) = Message::parse(frame) else {
            return Outbound::Drop;
        };
        match message {
            Message::Request(request) => {
                let msgid = request.msgid();
                if !subject::valid_path(request.method()) {
                    let error = ErrorObject::unknown_api(format!(
                        "`{}` cannot be a NATS subject",
                        request.method()
                    ));
                    return Outbound::Answer(response_frame(
                        msgid,
                        Err(&encoded_error(&error, ErrorFormat::Object)),
                    ));
                }
                let credit = request.credit();
                if let Some(credit) = credit {
                    let stream = Stream {
                        instance: None,
                        tally: Tally::new(u64::from(credit), 0),
                        cancelled: false,
                        sent: Instant::now(),
                    };
                    lock(&self.streams).insert(msgid, stream);
                }
                let headers = subject::call_headers(request.deadline_ms(), request.trace(), credit);
                let subject: Subject = subject::subject(&self.prefix, request.method()).into();
                {
                    let mut recent = lock(&self.recent);
                    if recent.len() == RECENT {
                        recent.pop_front();
                    }
                    recent.push_back((msgid, subject.clone()));
                }
                Outbound::Publish(Publish {
                    subject,
                    reply: Some(format!("{}{msgid}", self.inbox).into()),
                    headers,
                    payload: request.params().to_bytes(),
                    on_failure: OnFailure::FailCall(msgid),
                })
            }
            Message::Notification(notification) => match notification.method() {
                // NATS stands in for the service: it carries deadlines and
                // trace context (as headers), not cancels (which instance
                // ran the call?).
                // What NATS stands in for: deadlines and trace context travel as
                // headers; a cancel reaches a stream's instance, and for a plain
                // call only this side (which logs it).
                HELLO => Outbound::Answer(protocol::hello()),
                method if method.starts_with("rpc.") => match Kind::of_method(method) {
                    Some(kind) => self.tell_instance(kind, &notification),
                    None => Outbound::Drop,
                },
                path if subject::valid_path(path) => Outbound::Publish(Publish {
                    subject: subject::subject(&self.prefix, path).into(),
                    reply: None,
                    headers: None,
                    payload: notification.params().to_bytes(),
                    on_failure: OnFailure::Nothing,
                }),
                path => {
                    tracing::warn!(path, "event not sent: the path cannot be a NATS subject");
                    Outbound::Drop
                }
            },
            // Nothing calls a client over NATS, so it has nothing to answer.
            Message::Response(_) => Outbound::Drop,
        }
    }
}

#[cfg(test)]
mod tests;
