//! Reading a frame: which of the three shapes it is, and what of it is
//! pinned on one call ([`Parsed`]: a message, or a [`Defect`] of the call
//! its first items name).

use bytes::Bytes;

use super::metadata::Metadata;
use super::read::{malformed, read_str_len};
use super::{
    Invocation, Message, MsgId, NOTIFICATION, Notification, Params, REQUEST, RESPONSE, Request,
    Response,
};
use crate::codec::{CodecError, value_len};

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
    // Paths are ASCII in practice: that look is a fraction of the full check.
    if !bytes.is_ascii() {
        std::str::from_utf8(bytes).map_err(|_| malformed("method is not valid UTF-8"))?;
    }
    let start = frame.len() - reader.len();
    *reader = &reader[len..];
    Ok(start..start + len)
}

#[cfg(test)]
mod tests {
    use super::super::*;
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

    #[test]
    fn a_method_must_be_utf8_and_need_not_be_ascii() {
        let request = |method: Value| {
            frame(Value::Array(vec![
                0.into(),
                1.into(),
                method,
                Value::Array(vec![]),
            ]))
        };
        let error = Message::parse(request(Value::Binary(vec![b'a', 0xff]))).unwrap_err();
        assert!(error.to_string().contains("not valid UTF-8"), "{error}");
        match Message::parse(request("π.add".into())).unwrap() {
            Message::Request(request) => assert_eq!(request.method(), "π.add"),
            other => panic!("{other:?}"),
        }
    }
}
