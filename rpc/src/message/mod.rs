//! Frames ↔ msgpack-rpc messages: the one module that knows the wire layout.
//!
//! Every frame given to [`Message::parse`] must be exactly one whole msgpack
//! value within the limits, as the codec's framer (or, for message
//! transports, [`codec::check_frame`](crate::codec)) guarantees; the parts of
//! it are then measured without further bounds checks of their own.
//!
//! The second stage of the inbound flow and the last of the outbound one. A
//! frame (one whole msgpack value, from the [`codec`](crate::codec)'s framer or
//! a message transport) is checked against the three shapes of the spec:
//!
//! | message      | shape                                   |
//! |--------------|-----------------------------------------|
//! | request      | `[0, msgid, method, params]`            |
//! | response     | `[1, msgid, error, result]`             |
//! | notification | `[2, method, params]`                   |
//!
//! Inbound, params, results and errors stay raw bytes (slices of the frame, no
//! copy) so they are decoded once, straight into the handler's or the
//! caller's types. Outbound, an [`Outgoing`] call (its method and encoded
//! params) becomes a request or a notification only when it is written into
//! the connection's [`Frames`] queue, where responses are encoded too; no
//! other module writes or patches message bytes.
//!
//! A request may carry a fifth item, a map of call metadata (its deadline,
//! its trace context, a stream call's first window: see [`metadata`]):
//! `[0, msgid, method, params, {"deadline_ms": n, "traceparent": s}]`.
//! Deadlines and trace context are sent only to dotrpc peers that said, in
//! the `rpc.hello` handshake, that they take them; a first window goes with
//! every stream call; unknown keys are ignored, and nil is no metadata.
//!
//! A frame whose first items name a call (a request's msgid and method, a
//! notification's method) but whose params or metadata are wrong is a
//! [`Defect`] of that call ([`Parsed`]): the connection answers or drops
//! that call alone. Only a frame that names no call is an error here, which
//! closes the connection.
//!
//! Errors travel as [`ErrorObject`]s, `{"code", "message", "data"?}`, or as
//! plain strings for peers that show nothing else ([`ErrorFormat`]).

mod encoded;
mod error_object;
mod frames;
mod metadata;
mod outgoing;
mod params;
mod parse;
mod read;
mod splice;
mod value;

use bytes::Bytes;

pub use encoded::Encoded;
pub use error_object::code;
pub use error_object::{ErrorFormat, ErrorObject};
pub use frames::Frames;
pub(crate) use frames::encode_notification;
pub use frames::{notification_frame, request_frame, response_frame, stream_frame};
pub use metadata::TraceContext;
use metadata::{CREDIT_KEY, DEADLINE_KEY, TRACEPARENT_KEY, TRACESTATE_KEY};
pub use metadata::{MAX_CREDIT, Metadata};
pub(crate) use outgoing::{Outgoing, ParamsWriter};
pub use params::Params;
pub(crate) use parse::{Defect, Parsed};
pub(crate) use splice::lend;
pub(crate) use value::{
    FrameGuard, SHARE_AT, decode_with_frame, encode_result, encode_value, from_value,
    share_or_copy, to_value, write_str_len, write_value,
};

/// A msgpack-rpc message id; it wraps around at `u32::MAX`.
pub type MsgId = u32;

const REQUEST: u8 = 0;
const RESPONSE: u8 = 1;
const NOTIFICATION: u8 = 2;

/// One parsed msgpack-rpc message.
#[derive(Debug, Clone)]
pub enum Message {
    /// `[0, msgid, method, params]`: a call that expects a response.
    Request(Request),
    /// `[1, msgid, error, result]`: the answer to a request.
    Response(Response),
    /// `[2, method, params]`: a one-way event.
    Notification(Notification),
}

/// A call that expects a response.
#[derive(Debug, Clone)]
pub struct Request {
    msgid: MsgId,
    invocation: Invocation,
    metadata: Metadata,
}

impl Request {
    /// Matches the response to this request.
    pub fn msgid(&self) -> MsgId {
        self.msgid
    }

    /// The dot-joined path, such as `"math.stats.mean"`.
    pub fn method(&self) -> &str {
        self.invocation.method_str()
    }

    /// The positional params, still encoded.
    pub fn params(&self) -> &Params {
        &self.invocation.params
    }

    /// How long the caller will wait, if it said (dotrpc peers only).
    pub fn deadline_ms(&self) -> Option<u64> {
        self.metadata.deadline_ms
    }

    /// The caller's trace context, if it sent one (dotrpc peers only).
    pub fn trace(&self) -> Option<&TraceContext> {
        self.metadata.trace.as_ref()
    }

    /// The first window of items the caller of a stream call grants.
    pub fn credit(&self) -> Option<u32> {
        self.metadata.credit
    }

    pub(crate) fn into_parts(self) -> (MsgId, Invocation, Metadata) {
        (self.msgid, self.invocation, self.metadata)
    }
}

/// The answer to a request.
#[derive(Debug, Clone)]
pub struct Response {
    msgid: MsgId,
    /// The whole frame; the error and the result lie in it.
    frame: Bytes,
    /// Where the error value lies, unless it is nil.
    error: Option<std::ops::Range<usize>>,
    result_at: usize,
}

impl Response {
    /// The msgid of the request this answers.
    pub fn msgid(&self) -> MsgId {
        self.msgid
    }

    /// The encoded error value, if the call failed (`None` for nil).
    pub fn error(&self) -> Option<&[u8]> {
        self.error.clone().map(|range| &self.frame[range])
    }

    /// The encoded result value (nil when the call failed).
    pub fn result(&self) -> &[u8] {
        &self.frame[self.result_at..]
    }

    /// The encoded result (`Ok`) or error (`Err`), shared with the frame.
    pub fn outcome(&self) -> Result<Bytes, Bytes> {
        match self.error.clone() {
            Some(range) => Err(self.frame.slice(range)),
            None => Ok(self.frame.slice(self.result_at..)),
        }
    }

    /// The frame the response came in, shared.
    pub(crate) fn frame(&self) -> &Bytes {
        &self.frame
    }

    #[cfg(test)]
    pub(crate) fn ok(msgid: MsgId, result: Bytes) -> Self {
        Response {
            msgid,
            frame: result,
            error: None,
            result_at: 0,
        }
    }
}

/// A one-way event.
#[derive(Debug, Clone)]
pub struct Notification {
    invocation: Invocation,
}

impl Notification {
    /// The dot-joined path.
    pub fn method(&self) -> &str {
        self.invocation.method_str()
    }

    /// The positional params, still encoded.
    pub fn params(&self) -> &Params {
        &self.invocation.params
    }

    pub(crate) fn into_invocation(self) -> Invocation {
        self.invocation
    }
}

/// The method and params of a request or notification, as they came: both
/// in the one frame the params share (no slice of its own for the method).
/// The method was checked to be UTF-8 when the frame was parsed.
///
/// The router looks handlers up by the method's bytes, so routing a call
/// allocates nothing; the name becomes a `String` only for unknown paths.
#[derive(Clone)]
pub(crate) struct Invocation {
    /// Where the method lies in the params' buffer.
    method: std::ops::Range<usize>,
    pub(crate) params: Params,
}

impl Invocation {
    #[cfg(test)]
    pub(crate) fn new(method: &str, params: &[rmpv::Value]) -> Self {
        let mut frame = method.as_bytes().to_vec();
        let encoded = Params::from_values(params);
        frame.extend_from_slice(encoded.as_bytes());
        let range = method.len()..frame.len();
        let params = Params::within(frame.into(), range).expect("an array");
        Invocation {
            method: 0..method.len(),
            params,
        }
    }

    pub(crate) fn method_bytes(&self) -> &[u8] {
        &self.params.buffer()[self.method.clone()]
    }

    pub(crate) fn method_str(&self) -> &str {
        // Checked when the frame was parsed; never fails.
        std::str::from_utf8(self.method_bytes()).unwrap_or_default()
    }
}

impl std::fmt::Debug for Invocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invocation")
            .field("method", &self.method_str())
            .field("params", &self.params)
            .finish()
    }
}
