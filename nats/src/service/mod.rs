//! The serving side over NATS: requests from one queue subscription on
//! `PREFIX.>` become requests to the service's peer, under msgids of its
//! own; its responses are published to the requests' reply subjects, its
//! events on the events' subjects. Every request's outcome is counted per
//! path, for `$SRV.STATS`.
//!
//! A stream call's messages go to its reply subject too, naming a subject
//! of this instance for the call (`<control>.<msgid>`, subscribed apart
//! from the queue group) where the caller sends credit, input and cancels;
//! see [`super::streams`].

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_nats::{Client, StatusCode, Subject};
use bytes::Bytes;

use super::options::ServerWord;
use super::pipes::{OnFailure, Outbound, Publish, Side};
use super::streams::{self, Arrived, Body, Kind, Tally};
use super::subject::{self, encoded_error, params_of};
use crate::lock;
use dotrpc::handler::ErrorObject;
use dotrpc::observe;
use dotrpc::peer::ErrorFormat;
use dotrpc::protocol::{self, CREDIT, INPUT, INPUT_END};
use dotrpc::transport::{
    Limits, Message, MsgId, Notification, notification_frame, request_frame, response_frame,
};

/// Paths counted apart in the stats; calls to further paths (a caller
/// trying names at random, say) are counted together.
const MAX_COUNTED_PATHS: usize = 1024;
/// Where the calls beyond those are counted.
const OTHER_PATHS: &str = "(other)";
/// The service's side of the mapping.
pub(crate) struct Service {
    pub(crate) prefix: Arc<str>,
    pub(crate) limits: Limits,
    /// How the peer writes errors: the errors this side answers callers
    /// with are written the same way.
    format: ErrorFormat,
    /// This instance's subjects for its stream calls' messages, with the
    /// trailing dot: `<control><msgid>`.
    pub(crate) control: String,
    /// How often the stream calls are pinged.
    ping_every: Duration,
    next_msgid: AtomicU32,
    /// Set when the instance begins to drain: from then on each answer is
    /// counted in `answered_draining`.
    pub(crate) draining: AtomicBool,
    pub(crate) answered_draining: AtomicU64,
    waiting: Mutex<HashMap<MsgId, Waiting>>,
    stats: Mutex<BTreeMap<String, PathStats>>,
}

/// A request the peer is handling.
struct Waiting {
    reply: async_nats::Subject,
    path: String,
    since: Instant,
    /// A stream call's state.
    stream: Option<Box<StreamCall>>,
}

/// What this instance keeps of a stream call.
struct StreamCall {
    /// Its subject for the call, where the caller sends.
    subject: Subject,
    tally: Tally,
}

/// The outcomes of the requests to one path.
#[derive(Debug, Clone, Default)]
pub(crate) struct PathStats {
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) processing: Duration,
    pub(crate) last_error: String,
}

impl Service {
    pub(crate) fn new(
        prefix: Arc<str>,
        limits: Limits,
        format: ErrorFormat,
        client: &Client,
        call_timeout: Duration,
    ) -> Self {
        Service {
            prefix,
            limits,
            format,
            control: format!("{}.", client.new_inbox()),
            ping_every: streams::ping_every(call_timeout),
            next_msgid: AtomicU32::new(0),
            draining: AtomicBool::new(false),
            answered_draining: AtomicU64::new(0),
            waiting: Mutex::default(),
            stats: Mutex::default(),
        }
    }

    /// The calls in hand, as `path reply-subject`, for a drain's log.
    pub(crate) fn in_hand(&self) -> Vec<String> {
        lock(&self.waiting)
            .values()
            .map(|call| format!("{} {}", call.path, call.reply))
            .collect()
    }

    /// The stats so far, by path.
    pub(crate) fn stats(&self) -> BTreeMap<String, PathStats> {
        lock(&self.stats).clone()
    }

    /// Counts one request's outcome; an error as its reply's headers say it.
    fn record(&self, path: &str, took: Duration, error: Option<&async_nats::HeaderMap>) {
        let mut stats = lock(&self.stats);
        let key = if stats.contains_key(path) || stats.len() < MAX_COUNTED_PATHS {
            path
        } else {
            OTHER_PATHS
        };
        // A path seen before is found without making its key again.
        if !stats.contains_key(key) {
            stats.insert(key.to_owned(), PathStats::default());
        }
        let entry = stats.get_mut(key).expect("inserted above");
        entry.requests += 1;
        entry.processing += took;
        if let Some(error) = error {
            entry.errors += 1;
            // As NATS services write it: "code:message".
            let header = |name| error.get(name).map_or("", |value| value.as_str());
            entry.last_error = format!(
                "{}:{}",
                header(subject::ERROR_CODE_HEADER),
                header(subject::ERROR_HEADER)
            );
        }
    }

    /// Answers a request that never reaches the peer with `error`.
    fn refuse(
        &self,
        path: &str,
        reply: Option<async_nats::Subject>,
        error: ErrorObject,
        out: &mut Vec<Outbound>,
    ) {
        tracing::debug!(path, message = %error.message, "request refused");
        observe::refused(path, &error.code);
        self.record(path, Duration::ZERO, Some(&subject::object_headers(&error)));
        if let Some(reply) = reply {
            out.push(Outbound::Publish(self.error_reply(reply, &error)));
        }
    }

    /// The reply that answers the caller waiting on `reply` with `error`,
    /// written in the peer's error format, with NATS's error headers.
    fn error_reply(&self, reply: Subject, error: &ErrorObject) -> Publish {
        Publish {
            subject: reply,
            reply: None,
            headers: Some(subject::object_headers(error)),
            payload: encoded_error(error, self.format),
            on_failure: OnFailure::Nothing,
        }
    }
}

impl Service {
    /// This instance's subject for call `msgid`'s stream messages.
    fn control_subject(&self, msgid: MsgId) -> Subject {
        format!("{}{msgid}", self.control).into()
    }

    /// A message to this instance's subject for stream call `msgid`: from
    /// its caller, or NATS saying the caller is gone.
    fn caller_said(&self, msgid: MsgId, message: async_nats::Message, out: &mut Vec<Outbound>) {
        let mut waiting = lock(&self.waiting);
        let Some(call) = waiting.get_mut(&msgid) else {
            drop(waiting);
            return self.no_such_stream(message, out);
        };
        let Some(StreamCall { tally, .. }) = call.stream.as_deref_mut() else {
            return;
        };
        let body = &message.payload;
        let frame = if message.status == Some(StatusCode::NO_RESPONDERS) {
            // What this instance sent the caller found nobody: it is gone,
            // if it stays so (see `Tally::nobody`).
            if !tally.nobody(self.ping_every) {
                return;
            }
            None
        } else {
            tally.heard();
            match Kind::of_message(&message).flatten() {
                Some(Kind::Credit) => match tally.granted_total(body) {
                    Some(n) => Some(streams::peer_frame(CREDIT, msgid, Body::Count(n))),
                    None => return,
                },
                Some(Kind::Ping) => match tally.read_ping(body) {
                    Some(pinged) if pinged.lost > 0 => {
                        let error = ErrorObject::internal(format!(
                            "{} items of the input were lost on NATS",
                            pinged.lost
                        ));
                        return self.end_stream(waiting, msgid, Some(error), out);
                    }
                    Some(pinged) if pinged.credit > 0 => Some(streams::peer_frame(
                        CREDIT,
                        msgid,
                        Body::Count(pinged.credit),
                    )),
                    _ => return,
                },
                Some(Kind::Input) => match tally.receive_item(body, &self.limits) {
                    Arrived::Item { lost: 0, item } => {
                        Some(streams::peer_frame(INPUT, msgid, Body::Item(&item)))
                    }
                    Arrived::Item { lost, .. } => {
                        let error = ErrorObject::internal(format!(
                            "{lost} items of the input were lost on NATS"
                        ));
                        return self.end_stream(waiting, msgid, Some(error), out);
                    }
                    Arrived::Old => return,
                    Arrived::Malformed(reason) => {
                        let error = ErrorObject::invalid_params(reason);
                        return self.end_stream(waiting, msgid, Some(error), out);
                    }
                },
                // An end without a count (a peer that does not say) is
                // taken as it is.
                Some(Kind::InputEnd) => match streams::count(body).map(|n| tally.lost_of(n)) {
                    Some(lost @ 1..) => {
                        let error = ErrorObject::internal(format!(
                            "the last {lost} items of the input were lost on NATS"
                        ));
                        return self.end_stream(waiting, msgid, Some(error), out);
                    }
                    _ => Some(streams::peer_frame(INPUT_END, msgid, Body::Empty)),
                },
                Some(Kind::Cancel) => None,
                _ => return,
            }
        };
        match frame {
            Some(frame) => match subject::within_limits(frame, &self.limits) {
                Ok(frame) => out.push(Outbound::Answer(frame)),
                Err(reason) => {
                    let error = ErrorObject::invalid_params(reason);
                    self.end_stream(waiting, msgid, Some(error), out);
                }
            },
            // Cancelled, or the caller is gone.
            None => self.end_stream(waiting, msgid, None, out),
        }
    }

    /// A caller's ping for a call this instance no longer has: its end went
    /// out and was lost on the way, or the caller pings a made-up call.
    /// Either way, an error reply ends it rather than leaving it waiting.
    fn no_such_stream(&self, message: async_nats::Message, out: &mut Vec<Outbound>) {
        if Kind::of_message(&message).flatten() != Some(Kind::Ping) {
            return;
        }
        let Some(reply) = message.reply else { return };
        let error = ErrorObject::internal(
            "the instance has no such stream call: it ended, and its end was lost on NATS",
        );
        out.push(Outbound::Publish(self.error_reply(reply, &error)));
    }

    /// Stops stream call `msgid` here: its handler is dropped (the peer
    /// sends nothing more for it), and the caller, unless it gave up, is
    /// answered with `error`.
    fn end_stream(
        &self,
        mut waiting: MutexGuard<'_, HashMap<MsgId, Waiting>>,
        msgid: MsgId,
        error: Option<ErrorObject>,
        out: &mut Vec<Outbound>,
    ) {
        let Some(call) = waiting.remove(&msgid) else {
            return;
        };
        drop(waiting);
        out.push(Outbound::Answer(protocol::cancel(msgid)));
        let took = call.since.elapsed();
        let Some(error) = error else {
            tracing::debug!(path = call.path, "stream call cancelled by its caller");
            self.record(&call.path, took, None);
            return;
        };
        tracing::debug!(path = call.path, message = %error.message, "stream call ended");
        let publish = self.error_reply(call.reply, &error);
        self.record(&call.path, took, publish.headers.as_ref());
        out.push(Outbound::Publish(publish));
    }

    /// A stream notification of the peer's (an item, word of lag, credit
    /// for the input): sent to the caller of the call.
    fn tell_caller(&self, kind: Kind, notification: &Notification) -> Outbound {
        let params = notification.params();
        let Some(msgid) = protocol::stream_id(params) else {
            return Outbound::Drop;
        };
        let mut waiting = lock(&self.waiting);
        let Some(call) = waiting.get_mut(&msgid) else {
            return Outbound::Drop;
        };
        let Some(StreamCall { subject, tally }) = call.stream.as_deref_mut() else {
            return Outbound::Drop;
        };
        let body = match (kind, protocol::count(params).map(|(_, n)| u64::from(n))) {
            (Kind::Item, _) => match protocol::item(params) {
                Some((_, item)) => tally.send_item(item),
                None => return Outbound::Drop,
            },
            (Kind::Lagged, Some(n)) => streams::count_body(n),
            (Kind::InputCredit, Some(n)) => tally.grant(n),
            _ => return Outbound::Drop,
        };
        Outbound::Publish(kind.publish(call.reply.clone(), subject.clone(), body))
    }
}

impl Side for Service {
    /// A refusal is the deployment's mistake, not a caller's: said loudly.
    fn heard(&self, word: &ServerWord, _out: &mut Vec<Outbound>) {
        match word {
            ServerWord::MayNotPublish(subject) => tracing::warn!(
                subject = %subject,
                "the NATS server does not let this instance publish there: \
                 answers and events to it are lost (check the instance's permissions)"
            ),
            ServerWord::MayNotSubscribe(subject) => tracing::warn!(
                subject = %subject,
                "the NATS server does not let this instance subscribe there"
            ),
            ServerWord::Reconnected => {}
        }
    }

    fn inbound(&self, message: async_nats::Message, out: &mut Vec<Outbound>) {
        if let Some(token) = message.subject.strip_prefix(self.control.as_str()) {
            if let Ok(msgid) = token.parse() {
                self.caller_said(msgid, message, out);
            }
            return;
        }
        if subject::is_push(&message) {
            // An event some instance published for the clients.
            return;
        }
        let Some(path) = message
            .subject
            .strip_prefix(&*self.prefix)
            .and_then(|rest| rest.strip_prefix('.'))
        else {
            return;
        };
        let reply = message.reply.clone();
        let params = match params_of(&message.payload, &self.limits) {
            Ok(params) => params,
            Err(reason) => {
                self.refuse(path, reply, ErrorObject::invalid_params(reason), out);
                return;
            }
        };
        let Some(reply) = reply else {
            // The protocol's own notifications are between two peers on one
            // connection; here every caller shares the service's, and one
            // caller's `rpc.cancel` would cancel another's call.
            if path.starts_with(protocol::PREFIX) {
                tracing::debug!(path, "protocol notification over NATS ignored");
                return;
            }
            let frame = notification_frame(path, &params);
            match subject::within_limits(frame, &self.limits) {
                Ok(frame) => out.push(Outbound::Answer(frame)),
                Err(reason) => tracing::debug!(path, %reason, "notification dropped"),
            }
            return;
        };
        let msgid = self.next_msgid.fetch_add(1, Ordering::Relaxed);
        let metadata = match subject::metadata_of(message.headers.as_ref()) {
            Ok(metadata) => metadata,
            Err(reason) => {
                self.refuse(path, Some(reply), ErrorObject::invalid_params(reason), out);
                return;
            }
        };
        let frame = request_frame(msgid, path, &params, &metadata);
        let frame = match subject::within_limits(frame, &self.limits) {
            Ok(frame) => frame,
            Err(reason) => {
                self.refuse(path, Some(reply), ErrorObject::invalid_params(reason), out);
                return;
            }
        };
        // A stream call: the caller learns where this instance is at once.
        let stream = metadata.credit.map(|credit| {
            let call = StreamCall {
                subject: self.control_subject(msgid),
                tally: Tally::new(0, u64::from(credit)),
            };
            out.push(Outbound::Publish(Kind::Ping.publish(
                reply.clone(),
                call.subject.clone(),
                call.tally.ping(),
            )));
            Box::new(call)
        });
        let waiting = Waiting {
            reply,
            path: path.to_owned(),
            since: Instant::now(),
            stream,
        };
        lock(&self.waiting).insert(msgid, waiting);
        out.push(Outbound::Answer(frame));
    }

    fn tick_every(&self) -> Option<Duration> {
        Some(self.ping_every)
    }

    /// Pings the caller of every stream call: one that is gone shows as a
    /// "no responders" status on the call's subject here.
    fn tick(&self, out: &mut Vec<Outbound>) {
        for call in lock(&self.waiting).values() {
            if let Some(stream) = &call.stream {
                out.push(Outbound::Publish(Kind::Ping.publish(
                    call.reply.clone(),
                    stream.subject.clone(),
                    stream.tally.ping(),
                )));
            }
        }
    }

    fn outbound(&self, frame: Bytes) -> Outbound {
        let Ok(message) = Message::parse(frame) else {
            return Outbound::Drop;
        };
        match message {
            Message::Response(response) => {
                let Some(waiting) = lock(&self.waiting).remove(&response.msgid()) else {
                    return Outbound::Drop;
                };
                let took = waiting.since.elapsed();
                if self.draining.load(Ordering::Relaxed) {
                    self.answered_draining.fetch_add(1, Ordering::Relaxed);
                }
                let (mut headers, payload) = match response.outcome() {
                    Ok(result) => {
                        self.record(&waiting.path, took, None);
                        (None, result)
                    }
                    Err(error) => {
                        let headers = subject::error_headers(&error);
                        self.record(&waiting.path, took, Some(&headers));
                        (Some(headers), error)
                    }
                };
                // The end of a stream says how many items came before it.
                if let Some(stream) = waiting.stream.as_deref().filter(|s| s.tally.sent() > 0) {
                    headers
                        .get_or_insert_with(async_nats::HeaderMap::new)
                        .insert(
                            streams::ITEMS_HEADER,
                            stream.tally.sent().to_string().as_str(),
                        );
                }
                Outbound::Publish(Publish {
                    subject: waiting.reply,
                    reply: None,
                    headers,
                    payload,
                    on_failure: OnFailure::ErrorReply(self.format),
                })
            }
            Message::Notification(notification) => {
                let path = notification.method();
                if path.starts_with(protocol::PREFIX) {
                    return match Kind::of_method(path) {
                        Some(kind) => self.tell_caller(kind, &notification),
                        None => Outbound::Drop,
                    };
                }
                if !subject::valid_path(path) {
                    return Outbound::Drop;
                }
                let mut headers = async_nats::HeaderMap::new();
                headers.insert(subject::PUSH_HEADER, "1");
                Outbound::Publish(Publish {
                    subject: subject::subject(&self.prefix, path).into(),
                    reply: None,
                    headers: Some(headers),
                    payload: notification.params().to_bytes(),
                    on_failure: OnFailure::Nothing,
                })
            }
            // A caller over NATS has no address to call back: the call
            // fails at once.
            Message::Request(request) => {
                let error = ErrorObject::internal(
                    "a NATS service cannot call its callers; push events to them instead",
                );
                let body = encoded_error(&error, ErrorFormat::Object);
                Outbound::Answer(response_frame(request.msgid(), Err(&body)))
            }
        }
    }
}

#[cfg(test)]
mod tests;
