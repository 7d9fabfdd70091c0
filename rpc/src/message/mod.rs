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
mod splice;
mod value;

use bytes::Bytes;

use crate::codec::{CodecError, value_len};

pub use encoded::Encoded;
pub(crate) use error_object::code;
pub use error_object::{ErrorFormat, ErrorObject};
pub use frames::Frames;
pub(crate) use frames::notification_frame;
#[cfg(feature = "nats")]
pub(crate) use frames::stream_frame;
#[cfg(feature = "nats")]
pub(crate) use frames::{raw_notification_frame, request_frame, response_frame};
pub use metadata::TraceContext;
use metadata::{CREDIT_KEY, DEADLINE_KEY, TRACEPARENT_KEY, TRACESTATE_KEY};
pub(crate) use metadata::{MAX_CREDIT, Metadata};
pub(crate) use outgoing::{Outgoing, ParamsWriter};
pub use params::Params;
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
    #[cfg(feature = "nats")]
    pub(crate) fn outcome(&self) -> Result<Bytes, Bytes> {
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

impl Message {
    /// Parses one frame (one whole msgpack value).
    ///
    /// # Errors
    ///
    /// [`CodecError::Malformed`] naming what is wrong when the frame is not one
    /// of the three message shapes.
    pub fn parse(frame: Bytes) -> Result<Message, CodecError> {
        match Parsed::from_frame(frame)? {
            Parsed::Message(message) => Ok(message),
            Parsed::Defect(defect) => Err(CodecError::Malformed(defect.reason)),
        }
    }
}

/// What a frame is: a message, or one whose shape is right but whose params
/// or call metadata are wrong, which is pinned on that one call or event
/// rather than on the connection.
#[derive(Debug)]
pub(crate) enum Parsed {
    Message(Message),
    Defect(Defect),
}

/// A request or a notification that names itself but cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Defect {
    /// The request's msgid, to answer; `None` for a notification, which is
    /// dropped.
    pub(crate) msgid: Option<MsgId>,
    pub(crate) method: String,
    /// What is wrong, for the answer.
    pub(crate) reason: String,
}

impl Parsed {
    /// Parses one frame; what the frame's first items pin on one call
    /// (a request's msgid and method, an event's method) makes any later
    /// fault a [`Defect`] of that call.
    ///
    /// # Errors
    ///
    /// [`CodecError::Malformed`] when the frame cannot be pinned on a call:
    /// not an array, an unknown type or shape, no msgid or method.
    pub(crate) fn from_frame(frame: Bytes) -> Result<Parsed, CodecError> {
        let mut reader: &[u8] = &frame;
        // Every dotrpc message, and nearly every other peer's, starts with a
        // fixarray and a fixint type: two bytes, read as such.
        let (len, kind) = match reader {
            [array @ 0x93..=0x95, kind @ 0..=2, ..] => {
                reader = &reader[2..];
                (u32::from(array & 0x0f), *kind)
            }
            _ => {
                let len = rmp::decode::read_array_len(&mut reader)
                    .map_err(|_| malformed("a message must be an array"))?;
                let kind = rmp::decode::read_int(&mut reader)
                    .map_err(|_| malformed("message type must be 0, 1 or 2"))?;
                (len, kind)
            }
        };
        let at = |reader: &[u8]| frame.len() - reader.len();
        let message = match (kind, len) {
            (REQUEST, 4 | 5) => {
                let msgid = read_msgid(&mut reader)?;
                let method = read_method(&frame, &mut reader)?;
                let defect = |reason: String| {
                    let method = String::from_utf8_lossy(&frame[method.clone()]).into_owned();
                    Parsed::Defect(Defect {
                        msgid: Some(msgid),
                        method,
                        reason,
                    })
                };
                let params_at = at(reader);
                // Four items: the params are the rest of the frame.
                let params_len = match len {
                    5 => value_len(reader)?,
                    _ => reader.len(),
                };
                // A fifth item of nil is no metadata, as four items are.
                let metadata = match len {
                    5 if reader[params_len..] != [0xc0] => {
                        match Metadata::read(&reader[params_len..]) {
                            Ok(metadata) => metadata,
                            Err(error) => return Ok(defect(reason(error))),
                        }
                    }
                    _ => Metadata::default(),
                };
                let params = match Params::within(frame.clone(), params_at..params_at + params_len)
                {
                    Ok(params) => params,
                    Err(error) => return Ok(defect(reason(error))),
                };
                Message::Request(Request {
                    msgid,
                    invocation: Invocation { method, params },
                    metadata,
                })
            }
            (RESPONSE, 4) => {
                let msgid = read_msgid(&mut reader)?;
                let error_at = at(reader);
                let (error, result_at) = match reader.first() {
                    Some(0xc0) => (None, error_at + 1),
                    _ => {
                        let result_at = error_at + value_len(reader)?;
                        (Some(error_at..result_at), result_at)
                    }
                };
                Message::Response(Response {
                    msgid,
                    frame,
                    error,
                    result_at,
                })
            }
            (NOTIFICATION, 3) => {
                let method = read_method(&frame, &mut reader)?;
                let params_at = at(reader);
                let end = frame.len();
                let params = match Params::within(frame.clone(), params_at..end) {
                    Ok(params) => params,
                    Err(error) => {
                        return Ok(Parsed::Defect(Defect {
                            msgid: None,
                            method: String::from_utf8_lossy(&frame[method]).into_owned(),
                            reason: reason(error),
                        }));
                    }
                };
                Message::Notification(Notification {
                    invocation: Invocation { method, params },
                })
            }
            (REQUEST | RESPONSE | NOTIFICATION, n) => {
                return Err(CodecError::Malformed(format!(
                    "message of type {kind} with {n} items"
                )));
            }
            (other, _) => {
                return Err(CodecError::Malformed(format!(
                    "unknown message type {other}"
                )));
            }
        };
        Ok(Parsed::Message(message))
    }
}

/// What a defect's answer says: the fault itself, without the words that
/// would call the whole message malformed.
fn reason(error: CodecError) -> String {
    match error {
        CodecError::Malformed(reason) => reason,
        other => other.to_string(),
    }
}

fn malformed(what: &str) -> CodecError {
    CodecError::Malformed(what.to_owned())
}

fn read_msgid(reader: &mut &[u8]) -> Result<MsgId, CodecError> {
    let (msgid, len) = match **reader {
        [n @ 0x00..=0x7f, ..] => (u32::from(n), 1),
        [0xcc, n, ..] => (u32::from(n), 2),
        [0xcd, a, b, ..] => (u32::from(u16::from_be_bytes([a, b])), 3),
        [0xce, a, b, c, d, ..] => (u32::from_be_bytes([a, b, c, d]), 5),
        // Other encodings of a small integer are valid msgpack too.
        _ => {
            return rmp::decode::read_int(reader)
                .map_err(|_| malformed("msgid must be an unsigned 32-bit integer"));
        }
    };
    *reader = &reader[len..];
    Ok(msgid)
}

/// Reads the method name: a str (or, from peers on the old spec, a bin) that
/// is valid UTF-8; returns where it lies in `frame`.
fn read_method(frame: &[u8], reader: &mut &[u8]) -> Result<std::ops::Range<usize>, CodecError> {
    let len = read_str_len(reader).ok_or_else(|| malformed("method must be a string"))?;
    let bytes = reader
        .get(..len)
        .ok_or_else(|| malformed("method ends early"))?;
    std::str::from_utf8(bytes).map_err(|_| malformed("method is not valid UTF-8"))?;
    let start = frame.len() - reader.len();
    *reader = &reader[len..];
    Ok(start..start + len)
}

/// The length of a str (or bin) whose header starts `reader`, which is moved
/// past the header; `None` for anything else.
fn read_str_len(reader: &mut &[u8]) -> Option<usize> {
    use rmp::Marker;
    if let [first @ 0xa0..=0xbf, ..] = **reader {
        *reader = &reader[1..];
        return Some(usize::from(first & 0x1f));
    }
    let len = match rmp::decode::read_marker(reader).ok()? {
        Marker::FixStr(n) => u32::from(n),
        Marker::Str8 | Marker::Bin8 => u32::from(take::<1>(reader)?[0]),
        Marker::Str16 | Marker::Bin16 => u32::from(u16::from_be_bytes(take::<2>(reader)?)),
        Marker::Str32 | Marker::Bin32 => u32::from_be_bytes(take::<4>(reader)?),
        _ => return None,
    };
    Some(len as usize)
}

fn take<const N: usize>(reader: &mut &[u8]) -> Option<[u8; N]> {
    let bytes: [u8; N] = reader.get(..N)?.try_into().ok()?;
    *reader = &reader[N..];
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmpv::Value;
    use std::sync::Arc;

    fn frame(value: Value) -> Bytes {
        let mut out = Vec::new();
        write_value(&mut out, &value);
        out.into()
    }

    /// Everything `frames` holds, as one byte string.
    fn drain(frames: &mut Frames) -> Bytes {
        use bytes::Buf;
        frames.copy_to_bytes(frames.remaining())
    }

    fn request(method: &str, params: &impl serde::Serialize, msgid: MsgId) -> Bytes {
        let outgoing = Outgoing::new(Arc::from(method), params).unwrap();
        let mut frames = Frames::new();
        frames.push_request(&outgoing, msgid, &Metadata::default());
        drain(&mut frames)
    }

    #[test]
    fn what_one_call_names_is_pinned_on_it_and_nil_metadata_is_none() {
        let parse = |value: Value| Parsed::from_frame(frame(value)).unwrap();
        let call = |params: Value, fifth: Option<Value>| {
            let mut items = vec![0.into(), 9.into(), "add".into(), params];
            items.extend(fifth);
            parse(Value::Array(items))
        };
        let Parsed::Message(Message::Request(request)) =
            call(Value::Array(vec![1.into()]), Some(Value::Nil))
        else {
            panic!("a fifth item of nil is no metadata");
        };
        assert!(request.into_parts().2.is_empty());
        let defect = |parsed: Parsed| match parsed {
            Parsed::Defect(defect) => defect,
            other => panic!("{other:?}"),
        };
        let refused = defect(call(Value::Array(vec![]), Some("x".into())));
        assert_eq!((refused.msgid, refused.method.as_str()), (Some(9), "add"));
        assert!(refused.reason.contains("map or nil"), "{refused:?}");
        let refused = defect(call("x".into(), None));
        assert!(
            refused.reason.contains("params must be an array"),
            "{refused:?}"
        );
        for window in [
            Value::from(65_537),
            "lots".into(),
            Value::from(-1),
            1.5.into(),
        ] {
            let metadata = Value::Map(vec![("credit".into(), window)]);
            let refused = defect(call(Value::Array(vec![]), Some(metadata)));
            assert!(refused.reason.contains("`credit`"), "{refused:?}");
        }
        let event = defect(parse(Value::Array(vec![
            2.into(),
            "rpc.credit".into(),
            "garbage".into(),
        ])));
        assert_eq!((event.msgid, event.method.as_str()), (None, "rpc.credit"));
        // What names no call is still the connection's to refuse.
        assert!(Parsed::from_frame(frame(Value::Array(vec![0.into(), "x".into()]))).is_err());
        assert!(Message::parse(frame(Value::Array(vec![2.into(), "e".into(), 1.into()]))).is_err());
    }

    #[test]
    fn requests_round_trip() {
        let Message::Request(request) =
            Message::parse(request("math.div", &(1.0, 2.5), 0xdead_beef)).unwrap()
        else {
            panic!("not a request")
        };
        assert_eq!(request.msgid(), 0xdead_beef);
        assert_eq!(request.method(), "math.div");
        assert_eq!(
            request.params().values().unwrap(),
            vec![Value::from(1.0), Value::from(2.5)]
        );
        assert_eq!(request.deadline_ms(), None);
    }

    #[test]
    fn metadata_travels_as_a_fifth_item_and_unknown_keys_are_skipped() {
        let outgoing = Outgoing::new(Arc::from("slow"), &(1,)).unwrap();
        let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let sent = [
            Metadata {
                deadline_ms: Some(250),
                ..Metadata::default()
            },
            Metadata {
                trace: TraceContext::new(parent, None),
                ..Metadata::default()
            },
            Metadata {
                deadline_ms: Some(1),
                trace: TraceContext::new(parent, Some("a=1,b=2")),
                credit: None,
            },
            Metadata {
                credit: Some(32),
                ..Metadata::default()
            },
        ];
        for metadata in sent {
            let mut frames = Frames::new();
            frames.push_request(&outgoing, 7, &metadata);
            let Message::Request(request) = Message::parse(drain(&mut frames)).unwrap() else {
                panic!("not a request")
            };
            assert_eq!(request.msgid(), 7);
            assert_eq!(request.metadata, metadata);
            assert_eq!(request.params().values().unwrap(), vec![Value::from(1)]);
        }

        let later = Value::Array(vec![
            0.into(),
            1.into(),
            "m".into(),
            Value::Array(vec![]),
            Value::Map(vec![
                (TRACEPARENT_KEY.into(), "00-ab-cd-01".into()),
                (TRACESTATE_KEY.into(), 5.into()),
                (DEADLINE_KEY.into(), 9.into()),
                (Value::from(3), Value::Array(vec![1.into()])),
            ]),
        ]);
        let Message::Request(request) = Message::parse(frame(later)).unwrap() else {
            panic!("not a request")
        };
        assert_eq!(request.deadline_ms(), Some(9));
        assert_eq!(request.trace(), None, "a malformed traceparent is dropped");
    }

    #[test]
    fn one_outgoing_call_becomes_a_request_or_a_notification() {
        let outgoing = Outgoing::new(Arc::from("log"), &("hi",)).unwrap();
        let mut frames = Frames::new();
        frames.push_notification(&outgoing);
        frames.push_request(&outgoing, 3, &Metadata::default());
        let bytes = drain(&mut frames);
        let mut decoder = crate::codec::FrameDecoder::default();
        let mut buffer = bytes::BytesMut::from(&bytes[..]);
        let first = decoder.decode(&mut buffer).unwrap().unwrap();
        let second = decoder.decode(&mut buffer).unwrap().unwrap();
        let Message::Notification(n) = Message::parse(first).unwrap() else {
            panic!("not a notification")
        };
        assert_eq!((n.method(), n.params().len()), ("log", 1));
        let Message::Request(r) = Message::parse(second).unwrap() else {
            panic!("not a request")
        };
        assert_eq!((r.method(), r.msgid()), ("log", 3));
    }

    #[test]
    fn unit_params_are_an_empty_array_and_scalars_are_refused() {
        let outgoing = Outgoing::new(Arc::from("tick"), &()).unwrap();
        assert_eq!(&outgoing.params()[..], &[0x90]);
        assert!(Outgoing::new(Arc::from("tick"), &5).is_err());
    }

    #[test]
    fn responses_carry_either_an_error_or_a_result() {
        let mut frames = Frames::new();
        frames.push_response(9, Ok(&Encoded::from(vec![0x2a])), ErrorFormat::Object);
        let Message::Response(r) = Message::parse(drain(&mut frames)).unwrap() else {
            panic!()
        };
        assert_eq!((r.msgid(), r.error(), r.result()), (9, None, &[0x2a][..]));

        let error = ErrorObject::new(code::UNKNOWN_API, "no");
        frames.push_response(10, Err(&error), ErrorFormat::Object);
        let Message::Response(r) = Message::parse(drain(&mut frames)).unwrap() else {
            panic!()
        };
        let sent = rmpv::decode::read_value(&mut r.error().unwrap()).unwrap();
        assert_eq!(sent, error.to_value());
        assert_eq!(r.result(), &[0xc0]);
    }

    #[test]
    fn errors_can_be_written_as_plain_messages() {
        let error = ErrorObject::new(code::UNKNOWN_API, "unknown method x");
        let mut frames = Frames::new();
        frames.push_response(3, Err(&error), ErrorFormat::Message);
        let bytes = drain(&mut frames);
        let value = rmpv::decode::read_value(&mut &bytes[..]).unwrap();
        assert_eq!(
            value,
            Value::Array(vec![
                Value::from(1),
                Value::from(3),
                Value::from("UnknownApi: unknown method x"),
                Value::Nil,
            ])
        );
    }

    #[test]
    fn wrong_shapes_are_malformed() {
        let cases = [
            Value::Array(vec![0.into()]),
            Value::Array(vec![7.into(), 1.into(), 2.into(), 3.into()]),
            Value::Map(vec![(0.into(), 1.into())]),
            Value::Array(vec![
                0.into(),
                "one".into(),
                "m".into(),
                Value::Array(vec![]),
            ]),
            Value::Array(vec![
                0.into(),
                (-1).into(),
                "m".into(),
                Value::Array(vec![]),
            ]),
            Value::Array(vec![0.into(), 1.into(), 5.into(), Value::Array(vec![])]),
            Value::Array(vec![2.into(), "m".into(), 5.into()]),
            Value::Array(vec![
                0.into(),
                (u64::from(u32::MAX) + 1).into(),
                "m".into(),
                Value::Array(vec![]),
            ]),
            Value::Array(vec![
                0.into(),
                1.into(),
                "m".into(),
                Value::Array(vec![]),
                Value::from("not a map"),
            ]),
            Value::Array(vec![
                0.into(),
                1.into(),
                Value::Binary(vec![0xff, 0xfe]),
                Value::Array(vec![]),
            ]),
        ];
        for case in cases {
            assert!(
                Message::parse(frame(case.clone())).is_err(),
                "{case} parsed"
            );
        }
    }

    #[test]
    fn any_encoding_of_the_type_and_msgid_is_read() {
        // [0, 5, "m", []] with the type as uint8 and the msgid as int16.
        let long = [0x94, 0xcc, 0x00, 0xd1, 0x00, 0x05, 0xa1, b'm', 0x90];
        let Message::Request(r) = Message::parse(Bytes::copy_from_slice(&long)).unwrap() else {
            panic!("not a request")
        };
        assert_eq!((r.msgid(), r.method()), (5, "m"));
        for msgid in [0u32, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x1_0000, u32::MAX] {
            let Message::Request(r) = Message::parse(request("m", &(), msgid)).unwrap() else {
                panic!("not a request")
            };
            assert_eq!(r.msgid(), msgid);
        }
    }

    #[test]
    fn methods_sent_as_bin_by_old_peers_are_accepted() {
        let old = Value::Array(vec![
            2.into(),
            Value::Binary(b"log".to_vec()),
            Value::Array(vec![]),
        ]);
        let Message::Notification(n) = Message::parse(frame(old)).unwrap() else {
            panic!()
        };
        assert_eq!(n.method(), "log");
    }

    #[test]
    fn params_values_are_byte_exact() {
        let odd = Value::Array(vec![
            rmpv::decode::read_value(&mut &[0xa2, 0xff, 0xfe][..]).unwrap(),
            Value::Ext(3, vec![1, 2]),
            Value::from(u64::MAX),
            Value::from(i64::MIN),
        ]);
        let request = Value::Array(vec![0.into(), 1.into(), "echo".into(), odd.clone()]);
        let Message::Request(r) = Message::parse(frame(request)).unwrap() else {
            panic!()
        };
        assert_eq!(Value::Array(r.params().values().unwrap()), odd);
        assert_eq!(&Params::from_values(odd.as_array().unwrap()), r.params());
    }
}
