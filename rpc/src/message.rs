//! Frames ↔ msgpack-rpc messages.
//!
//! The second stage of the inbound flow, and the last of the outbound one. A
//! frame (one whole msgpack value, from [`codec`](crate::codec)) is checked
//! against the three shapes of the msgpack-rpc spec:
//!
//! | message      | shape                                   |
//! |--------------|-----------------------------------------|
//! | request      | `[0, msgid, method, params]`            |
//! | response     | `[1, msgid, error, result]`             |
//! | notification | `[2, method, params]`                   |
//!
//! Params, results and errors stay raw bytes (slices of the frame, no copy) so
//! they can be decoded straight into the handler's or the caller's types.
//!
//! Between two dotrpc peers that agreed on it (see `rpc.hello` in
//! [`peer`](crate::Peer)), a request may carry a fifth item, a map of call
//! metadata: `[0, msgid, method, params, {"deadline_ms": n}]`. It is never
//! sent to other peers.
//!
//! Outbound, the caller's values are serialized straight into the frame. A
//! request is encoded before its msgid is known: the msgid is always written as
//! a `uint32` (valid msgpack, accepted by every decoder) and patched in place
//! by `set_msgid` when the transaction is opened.

use std::fmt;

use std::sync::Arc;

use bytes::Bytes;
use rmpv::Value;
use serde::Serialize;

use crate::codec::{CodecError, value_len};
use crate::error::{ErrorFormat, ErrorObject};

/// A msgpack-rpc message id; it wraps around at `u32::MAX`.
pub type MsgId = u32;

const REQUEST: u8 = 0;
const RESPONSE: u8 = 1;
const NOTIFICATION: u8 = 2;

/// Where the `uint32` msgid sits in a frame made by [`request_frame`].
const MSGID_AT: std::ops::Range<usize> = 3..7;

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
    /// Matches the response to this request.
    pub msgid: MsgId,
    /// The dot-joined path, such as `"math.stats.mean"` (shared, as the
    /// handler's context holds it too).
    pub method: Arc<str>,
    /// The positional params, still encoded.
    pub params: Params,
    /// How long the caller will wait, if it said (dotrpc peers only).
    pub deadline_ms: Option<u64>,
}

/// The answer to a request.
#[derive(Debug, Clone)]
pub struct Response {
    /// The msgid of the request this answers.
    pub msgid: MsgId,
    /// The encoded error value, if the call failed (`None` for nil).
    pub error: Option<Bytes>,
    /// The encoded result value (nil when the call failed).
    pub result: Bytes,
}

/// A one-way event.
#[derive(Debug, Clone)]
pub struct Notification {
    /// The dot-joined path.
    pub method: Arc<str>,
    /// The positional params, still encoded.
    pub params: Params,
}

/// Positional params as they came: one encoded msgpack array.
///
/// Typed handlers decode them straight into their argument types; the dynamic
/// path reads them as [`Value`]s with [`Params::values`], byte-exact (a str
/// whose bytes are not UTF-8 stays such a str, ext types stay ext types).
#[derive(Clone, PartialEq, Eq)]
pub struct Params {
    raw: Bytes,
    len: u32,
    /// Where the first item starts, after the array header.
    items_at: usize,
}

impl Params {
    /// Takes `raw` as params if it is exactly one msgpack array.
    ///
    /// # Errors
    ///
    /// [`CodecError::Malformed`] if `raw` is not one whole array.
    pub fn from_bytes(raw: Bytes) -> Result<Self, CodecError> {
        let mut reader: &[u8] = &raw;
        let len = rmp::decode::read_array_len(&mut reader)
            .map_err(|_| CodecError::Malformed("params must be an array".into()))?;
        let items_at = raw.len() - reader.len();
        if value_len(&raw)? != raw.len() {
            return Err(CodecError::Malformed(
                "params must be exactly one array".into(),
            ));
        }
        Ok(Params { raw, len, items_at })
    }

    /// Encodes `values` as params.
    pub fn from_values(values: &[Value]) -> Self {
        let mut raw = Vec::new();
        write_value(&mut raw, &Value::Array(values.to_vec()));
        Params {
            len: values.len() as u32,
            items_at: array_header_len(values.len()),
            raw: raw.into(),
        }
    }

    /// How many params there are.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether there are no params.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The whole encoded array.
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }

    /// The encoded items, after the array header.
    pub(crate) fn items(&self) -> &[u8] {
        &self.raw[self.items_at..]
    }

    /// The params as dynamic values, byte-exact.
    ///
    /// # Errors
    ///
    /// [`CodecError`] if the bytes do not decode (they were checked to be one
    /// well-formed array, so this only happens past rmpv's own limits).
    pub fn values(&self) -> Result<Vec<Value>, CodecError> {
        let mut reader = self.items();
        (0..self.len)
            .map(|_| {
                rmpv::decode::read_value(&mut reader).map_err(|e| CodecError::Serde(e.to_string()))
            })
            .collect()
    }
}

impl fmt::Debug for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Params")
            .field("len", &self.len)
            .field("bytes", &self.raw.len())
            .finish()
    }
}

fn array_header_len(len: usize) -> usize {
    match len {
        0..=15 => 1,
        16..=0xffff => 3,
        _ => 5,
    }
}

impl Message {
    /// Parses one frame.
    ///
    /// # Errors
    ///
    /// [`CodecError::Malformed`] naming what is wrong when the frame is not one
    /// of the three message shapes.
    pub fn parse(frame: Bytes) -> Result<Message, CodecError> {
        let mut reader: &[u8] = &frame;
        let len = rmp::decode::read_array_len(&mut reader)
            .map_err(|_| malformed("a message must be an array"))?;
        let kind: u8 = rmp::decode::read_int(&mut reader)
            .map_err(|_| malformed("message type must be 0, 1 or 2"))?;
        let message = match (kind, len) {
            (REQUEST, 4) => {
                let msgid = read_msgid(&mut reader)?;
                let method = read_method(&mut reader)?;
                let params = rest_as_params(&frame, reader)?;
                Message::Request(Request {
                    msgid,
                    method,
                    params,
                    deadline_ms: None,
                })
            }
            (REQUEST, 5) => {
                let msgid = read_msgid(&mut reader)?;
                let method = read_method(&mut reader)?;
                let params_at = frame.len() - reader.len();
                let params_len =
                    value_len(reader).map_err(|_| malformed("params are not a value"))?;
                let params = Params::from_bytes(frame.slice(params_at..params_at + params_len))?;
                let meta = rmpv::decode::read_value(&mut &reader[params_len..])
                    .map_err(|_| malformed("call metadata is not a value"))?;
                let deadline_ms = meta
                    .as_map()
                    .ok_or_else(|| malformed("call metadata must be a map"))?
                    .iter()
                    .find(|(key, _)| key.as_str() == Some("deadline_ms"))
                    .and_then(|(_, value)| value.as_u64());
                Message::Request(Request {
                    msgid,
                    method,
                    params,
                    deadline_ms,
                })
            }
            (RESPONSE, 4) => {
                let msgid = read_msgid(&mut reader)?;
                let error_at = frame.len() - reader.len();
                let error_len =
                    value_len(reader).map_err(|_| malformed("response error is not a value"))?;
                let result_at = error_at + error_len;
                let error = (frame[error_at] != 0xc0).then(|| frame.slice(error_at..result_at));
                let result = frame.slice(result_at..);
                Message::Response(Response {
                    msgid,
                    error,
                    result,
                })
            }
            (NOTIFICATION, 3) => {
                let method = read_method(&mut reader)?;
                let params = rest_as_params(&frame, reader)?;
                Message::Notification(Notification { method, params })
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
        Ok(message)
    }
}

fn malformed(what: &str) -> CodecError {
    CodecError::Malformed(what.to_owned())
}

fn read_msgid(reader: &mut &[u8]) -> Result<MsgId, CodecError> {
    rmp::decode::read_int(reader).map_err(|_| malformed("msgid must be an unsigned 32-bit integer"))
}

/// Reads the method name: a str (or, from peers on the old spec, a bin) that is
/// valid UTF-8.
fn read_method(reader: &mut &[u8]) -> Result<Arc<str>, CodecError> {
    let marker =
        rmp::decode::read_marker(reader).map_err(|_| malformed("method must be a string"))?;
    use rmp::Marker;
    let len = match marker {
        Marker::FixStr(n) => u32::from(n),
        Marker::Str8 | Marker::Bin8 => u32::from(take::<1>(reader)?[0]),
        Marker::Str16 | Marker::Bin16 => u32::from(u16::from_be_bytes(take::<2>(reader)?)),
        Marker::Str32 | Marker::Bin32 => u32::from_be_bytes(take::<4>(reader)?),
        _ => return Err(malformed("method must be a string")),
    } as usize;
    let bytes = reader
        .get(..len)
        .ok_or_else(|| malformed("method ends early"))?;
    *reader = &reader[len..];
    std::str::from_utf8(bytes)
        .map(Arc::from)
        .map_err(|_| malformed("method is not valid UTF-8"))
}

fn take<const N: usize>(reader: &mut &[u8]) -> Result<[u8; N], CodecError> {
    let bytes: [u8; N] = reader
        .get(..N)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| malformed("message ends early"))?;
    *reader = &reader[N..];
    Ok(bytes)
}

/// The last item of a frame, checked to be the params array.
fn rest_as_params(frame: &Bytes, rest: &[u8]) -> Result<Params, CodecError> {
    Params::from_bytes(frame.slice(frame.len() - rest.len()..))
}

/// Encodes `value` byte-exact: unlike `rmpv::encode::write_value`, a str whose
/// bytes are not UTF-8 (as older peers send binary data) stays a str.
pub(crate) fn write_value(out: &mut Vec<u8>, value: &Value) {
    use rmp::encode;
    // Writes into a Vec cannot fail.
    const INFALLIBLE: &str = "writing to a Vec cannot fail";
    match value {
        Value::String(s) => {
            let bytes = s.as_bytes();
            encode::write_str_len(out, bytes.len() as u32).expect(INFALLIBLE);
            out.extend_from_slice(bytes);
        }
        Value::Array(items) => {
            encode::write_array_len(out, items.len() as u32).expect(INFALLIBLE);
            items.iter().for_each(|item| write_value(out, item));
        }
        Value::Map(entries) => {
            encode::write_map_len(out, entries.len() as u32).expect(INFALLIBLE);
            for (key, item) in entries {
                write_value(out, key);
                write_value(out, item);
            }
        }
        other => rmpv::encode::write_value(out, other).expect(INFALLIBLE),
    }
}

/// Serializes `value` onto `out` as msgpack, structs as maps (field names on the
/// wire, so peers in other languages see named fields).
///
/// # Errors
///
/// [`CodecError::Serde`] if `value`'s `Serialize` fails.
pub(crate) fn encode_value<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    value: &T,
) -> Result<(), CodecError> {
    value
        .serialize(&mut rmp_serde::Serializer::new(out).with_struct_map())
        .map_err(|e| CodecError::Serde(e.to_string()))
}

/// A value as it goes on the wire (structs as maps, enums by variant name),
/// as a dynamic [`Value`]: what error objects carry as `data`, so that peers
/// in other languages read field and variant names.
///
/// # Errors
///
/// [`CodecError::Serde`] if `value`'s `Serialize` fails.
pub(crate) fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, CodecError> {
    let mut bytes = Vec::new();
    encode_value(&mut bytes, value)?;
    rmpv::decode::read_value(&mut &bytes[..]).map_err(|e| CodecError::Serde(e.to_string()))
}

/// The inverse of [`to_value`].
///
/// # Errors
///
/// [`CodecError::Serde`] if the value does not fit `T`.
pub(crate) fn from_value<T: serde::de::DeserializeOwned>(value: &Value) -> Result<T, CodecError> {
    let mut bytes = Vec::new();
    write_value(&mut bytes, value);
    rmp_serde::from_slice(&bytes).map_err(|e| CodecError::Serde(e.to_string()))
}

/// Serializes params; they must encode as an array (a tuple, `Vec`, slice or
/// array), and `()` is taken as no params.
fn encode_params<T: Serialize + ?Sized>(out: &mut Vec<u8>, params: &T) -> Result<(), CodecError> {
    let start = out.len();
    encode_value(out, params)?;
    match out.get(start) {
        Some(0xc0) => {
            out.truncate(start);
            out.push(0x90);
            Ok(())
        }
        Some(0x90..=0x9f | 0xdc | 0xdd) => Ok(()),
        _ => Err(CodecError::Serde(
            "params must serialize as an array: pass a tuple such as `(a, b)` or `(a,)`".into(),
        )),
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    rmp::encode::write_str(out, s).expect("writing to a Vec cannot fail");
}

/// Encodes a request with msgid 0; [`set_msgid`] fills in the real one.
///
/// # Errors
///
/// [`CodecError::Serde`] if the params do not serialize as an array.
pub(crate) fn request_frame<P: Serialize + ?Sized>(
    method: &str,
    params: &P,
) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(16 + method.len());
    out.extend_from_slice(&[0x94, REQUEST, 0xce, 0, 0, 0, 0]);
    write_str(&mut out, method);
    encode_params(&mut out, params)?;
    Ok(out)
}

/// Starts a request whose `count` params the caller appends one by one
/// with [`encode_value`]; msgid 0, as [`request_frame`].
pub(crate) fn request_head(method: &str, count: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + method.len());
    out.extend_from_slice(&[0x94, REQUEST, 0xce, 0, 0, 0, 0]);
    write_str(&mut out, method);
    rmp::encode::write_array_len(&mut out, count).expect("writing to a Vec cannot fail");
    out
}

/// Adds call metadata (the caller's deadline) to a frame made by
/// [`request_frame`] or [`request_head`]: only for dotrpc peers.
pub(crate) fn add_deadline(frame: &mut Vec<u8>, deadline_ms: u64) {
    frame[0] = 0x95;
    rmp::encode::write_map_len(frame, 1).expect("writing to a Vec cannot fail");
    write_str(frame, "deadline_ms");
    rmp::encode::write_uint(frame, deadline_ms).expect("writing to a Vec cannot fail");
}

/// Writes `msgid` into a frame made by [`request_frame`].
pub(crate) fn set_msgid(frame: &mut [u8], msgid: MsgId) {
    frame[MSGID_AT].copy_from_slice(&msgid.to_be_bytes());
}

/// Encodes a notification.
///
/// # Errors
///
/// [`CodecError::Serde`] if the params do not serialize as an array.
pub(crate) fn notification_frame<P: Serialize + ?Sized>(
    method: &str,
    params: &P,
) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(16 + method.len());
    out.extend_from_slice(&[0x93, NOTIFICATION]);
    write_str(&mut out, method);
    encode_params(&mut out, params)?;
    Ok(out)
}

/// Encodes a response carrying an already encoded result value.
pub(crate) fn response_frame(
    msgid: MsgId,
    outcome: Result<&[u8], &ErrorObject>,
    error_format: ErrorFormat,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    out.extend_from_slice(&[0x94, RESPONSE]);
    rmp::encode::write_uint(&mut out, u64::from(msgid)).expect("writing to a Vec cannot fail");
    match outcome {
        Ok(result) => {
            out.push(0xc0);
            out.extend_from_slice(result);
        }
        Err(error) => {
            write_value(&mut out, &error.to_wire(error_format));
            out.push(0xc0);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(value: Value) -> Bytes {
        let mut out = Vec::new();
        write_value(&mut out, &value);
        out.into()
    }

    #[test]
    fn requests_round_trip_with_a_patched_msgid() {
        let mut bytes = request_frame("math.div", &(1.0, 2.5)).unwrap();
        set_msgid(&mut bytes, 0xdead_beef);
        let Message::Request(request) = Message::parse(bytes.into()).unwrap() else {
            panic!("not a request")
        };
        assert_eq!(request.msgid, 0xdead_beef);
        assert_eq!(&*request.method, "math.div");
        assert_eq!(
            request.params.values().unwrap(),
            vec![Value::from(1.0), Value::from(2.5)]
        );
    }

    #[test]
    fn a_deadline_travels_as_a_fifth_item() {
        let mut bytes = request_frame("slow", &(1,)).unwrap();
        set_msgid(&mut bytes, 7);
        add_deadline(&mut bytes, 250);
        let Message::Request(request) = Message::parse(bytes.into()).unwrap() else {
            panic!("not a request")
        };
        assert_eq!((request.msgid, request.deadline_ms), (7, Some(250)));
        assert_eq!(request.params.values().unwrap(), vec![Value::from(1)]);
    }

    #[test]
    fn unit_params_are_an_empty_array_and_scalars_are_refused() {
        let bytes = notification_frame("tick", &()).unwrap();
        let Message::Notification(n) = Message::parse(bytes.into()).unwrap() else {
            panic!("not a notification")
        };
        assert!(n.params.is_empty());
        assert!(request_frame("tick", &5).is_err());
    }

    #[test]
    fn responses_carry_either_an_error_or_a_result() {
        let ok = response_frame(9, Ok(&[0x2a]), ErrorFormat::Object);
        let Message::Response(r) = Message::parse(ok.into()).unwrap() else {
            panic!()
        };
        assert_eq!((r.msgid, r.error, &r.result[..]), (9, None, &[0x2a][..]));

        let failed = response_frame(
            10,
            Err(&ErrorObject::new("UnknownApi", "no")),
            ErrorFormat::Object,
        );
        let Message::Response(r) = Message::parse(failed.into()).unwrap() else {
            panic!()
        };
        let error = rmpv::decode::read_value(&mut &r.error.unwrap()[..]).unwrap();
        assert_eq!(error, ErrorObject::new("UnknownApi", "no").to_value());
        assert_eq!(&r.result[..], &[0xc0]);
    }

    #[test]
    fn errors_can_be_written_as_plain_messages() {
        let error = ErrorObject::new("UnknownApi", "unknown method x");
        let frame = response_frame(3, Err(&error), ErrorFormat::Message);
        let value = rmpv::decode::read_value(&mut &frame[..]).unwrap();
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
        ];
        for case in cases {
            assert!(
                Message::parse(frame(case.clone())).is_err(),
                "{case} parsed"
            );
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
        assert_eq!(&*n.method, "log");
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
        assert_eq!(Value::Array(r.params.values().unwrap()), odd);
        assert_eq!(Params::from_values(odd.as_array().unwrap()), r.params);
    }
}
