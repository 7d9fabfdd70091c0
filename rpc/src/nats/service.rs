//! The serving side over NATS: requests from one queue subscription on
//! `PREFIX.>` become requests to the service's peer, under msgids of its
//! own; its responses are published to the requests' reply subjects, its
//! events on the events' subjects. Every request's outcome is counted per
//! path, for `$SRV.STATS`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_nats::Client;
use bytes::Bytes;

use super::pipes::{OnFailure, Outbound, Publish, Side, reply_error};
use super::subject::{self, encoded_error, params_of};
use crate::codec::Limits;
use crate::message::{
    ErrorObject, Message, MsgId, raw_notification_frame, request_frame, response_frame,
};
use crate::observe::{self, CallMeter};
use crate::peer::protocol::HELLO;

/// Paths counted apart in the stats; calls to further paths (a caller
/// trying names at random, say) are counted together.
const MAX_COUNTED_PATHS: usize = 1024;
/// Where the calls beyond those are counted.
const OTHER_PATHS: &str = "(other)";
/// The paths of dotrpc's own protocol (`rpc.hello`, `rpc.cancel`).
const PROTOCOL_PREFIX: &str = "rpc.";

/// The service's side of the mapping.
pub(crate) struct Service {
    pub(crate) prefix: Arc<str>,
    pub(crate) limits: Limits,
    pub(crate) client: Client,
    next_msgid: AtomicU32,
    waiting: Mutex<HashMap<MsgId, Waiting>>,
    stats: Mutex<BTreeMap<String, PathStats>>,
}

/// A request the peer is handling.
struct Waiting {
    reply: async_nats::Subject,
    path: String,
    since: Instant,
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
    pub(crate) fn new(prefix: Arc<str>, limits: Limits, client: Client) -> Self {
        Service {
            prefix,
            limits,
            client,
            next_msgid: AtomicU32::new(0),
            waiting: Mutex::default(),
            stats: Mutex::default(),
        }
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
    fn refuse(&self, path: &str, reply: Option<async_nats::Subject>, error: ErrorObject) {
        tracing::debug!(path, message = %error.message, "request refused");
        CallMeter::refused(observe::Side::Server, path, &error.code);
        let headers = subject::error_headers(&encoded_error(&error));
        self.record(path, Duration::ZERO, Some(&headers));
        let client = self.client.clone();
        tokio::spawn(async move {
            let _ = reply_error(&client, reply, &error).await;
        });
    }
}

impl Side for Service {
    fn inbound(&self, message: async_nats::Message) -> Option<Bytes> {
        if subject::is_push(&message) {
            // An event some instance published for the clients.
            return None;
        }
        let path = message
            .subject
            .strip_prefix(&*self.prefix)?
            .strip_prefix('.')?;
        let reply = message.reply.clone();
        let params = match params_of(&message.payload, &self.limits) {
            Ok(params) => params,
            Err(reason) => {
                self.refuse(path, reply, ErrorObject::invalid_params(reason));
                return None;
            }
        };
        let Some(reply) = reply else {
            // The protocol's own notifications are between two peers on one
            // connection; here every caller shares the service's, and one
            // caller's `rpc.cancel` would cancel another's call.
            if path.starts_with(PROTOCOL_PREFIX) {
                tracing::debug!(path, "protocol notification over NATS ignored");
                return None;
            }
            let frame = raw_notification_frame(path, &params);
            return subject::within_limits(frame, &self.limits)
                .inspect_err(|reason| tracing::debug!(path, %reason, "notification dropped"))
                .ok();
        };
        let msgid = self.next_msgid.fetch_add(1, Ordering::Relaxed);
        let metadata = subject::metadata_of(message.headers.as_ref());
        let frame = request_frame(msgid, path, &params, &metadata);
        let frame = match subject::within_limits(frame, &self.limits) {
            Ok(frame) => frame,
            Err(reason) => {
                self.refuse(path, Some(reply), ErrorObject::invalid_params(reason));
                return None;
            }
        };
        let waiting = Waiting {
            reply,
            path: path.to_owned(),
            since: Instant::now(),
        };
        lock(&self.waiting).insert(msgid, waiting);
        Some(frame)
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
                let (headers, payload) = match response.outcome() {
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
                Outbound::Publish(Publish {
                    subject: waiting.reply,
                    reply: None,
                    headers,
                    payload,
                    on_failure: OnFailure::ErrorReply,
                })
            }
            Message::Notification(notification) => {
                let path = notification.method();
                if path == HELLO || !subject::valid_path(path) {
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
                Outbound::Answer(response_frame(request.msgid(), Err(&encoded_error(&error))))
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
