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

use std::sync::Arc;

use async_nats::StatusCode;
use bytes::Bytes;
use rmpv::Value;

use super::pipes::{OnFailure, Outbound, Publish, Side};
use super::subject::{self, encoded_error, params_of};
use crate::codec::{Limits, check_frame};
use crate::message::{
    ErrorObject, Message, MsgId, Outgoing, code, notification_frame, raw_notification_frame,
    response_frame,
};
use crate::peer::protocol::{CANCEL, HELLO};

/// The caller's side of the mapping.
pub(crate) struct Caller {
    pub(crate) prefix: Arc<str>,
    /// The reply subjects' prefix, with its trailing dot.
    pub(crate) inbox: String,
    pub(crate) limits: Limits,
    /// Subscribed to every subject under the prefix (the router has a
    /// fallback): only what a service pushed is an event then, not the
    /// other callers' requests.
    pub(crate) everything: bool,
}

impl Caller {
    /// The response a reply to `msgid` becomes.
    fn response(&self, msgid: MsgId, reply: async_nats::Message) -> Bytes {
        let error = |error: ErrorObject| response_frame(msgid, Err(&encoded_error(&error)));
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
    fn inbound(&self, message: async_nats::Message) -> Option<Bytes> {
        if let Some(token) = message.subject.strip_prefix(self.inbox.as_str()) {
            let msgid = token.parse().ok()?;
            let response = self.response(msgid, message);
            return Some(
                subject::within_limits(response, &self.limits).unwrap_or_else(|reason| {
                    let error = ErrorObject::internal(format!("the reply was refused: {reason}"));
                    response_frame(msgid, Err(&encoded_error(&error)))
                }),
            );
        }
        // An event the client serves.
        if self.everything && (!subject::is_push(&message) || message.reply.is_some()) {
            return None;
        }
        let path = message
            .subject
            .strip_prefix(&*self.prefix)?
            .strip_prefix('.')?;
        let frame = params_of(&message.payload, &self.limits)
            .map(|params| raw_notification_frame(path, &params))
            .and_then(|frame| subject::within_limits(frame, &self.limits));
        match frame {
            Ok(frame) => Some(frame),
            Err(reason) => {
                tracing::warn!(subject = %message.subject, %reason, "event dropped");
                None
            }
        }
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
                    return Outbound::Answer(response_frame(msgid, Err(&encoded_error(&error))));
                }
                let headers = subject::call_headers(request.deadline_ms(), request.trace());
                Outbound::Publish(Publish {
                    subject: subject::subject(&self.prefix, request.method()).into(),
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
                HELLO => Outbound::Answer(nats_hello()),
                CANCEL => Outbound::Drop,
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

/// The hello NATS answers a caller's with: it carries deadlines and trace
/// context.
fn nats_hello() -> Bytes {
    let info = Value::Map(vec![
        ("dotrpc".into(), 1.into()),
        (
            "features".into(),
            Value::Array(vec!["deadline".into(), "trace".into()]),
        ),
    ]);
    let hello = Outgoing::new(Arc::from(HELLO), &[info]).expect("a hello encodes");
    notification_frame(&hello)
}
