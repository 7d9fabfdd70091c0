//! dotrpc's extensions to msgpack-rpc: every `rpc.*` name, the features a
//! peer announces, and the control messages read into one [`Control`].
//!
//! A peer that connects announces itself with one notification,
//! `rpc.hello [{"dotrpc": 1, "features": ["cancel", "deadline", "trace"]}]`. Other
//! msgpack-rpc peers never answer notifications, so they ignore it; a dotrpc
//! peer answers with its own hello. From then on, and only then, each side
//! may use what the other listed:
//!
//! * `cancel`: a caller that gives up on a call (dropped, cancelled, timed
//!   out) sends `rpc.cancel [msgid]`, and the handler running it is dropped;
//! * `deadline`: a request with a timeout carries it in its call metadata
//!   (a fifth item, `{"deadline_ms": n}`; `message`'s metadata codec reads
//!   and writes the keys); the handler sees it in its context, calls it makes
//!   inherit it, and it is dropped when the deadline passes;
//! * `trace`: a request made inside a traced span carries the W3C trace
//!   context in the same map, `{"traceparent": s, "tracestate": s}`, and the
//!   handler's span continues that trace.
//!
//! Streams (see `crate::stream` for their rules) are a call and these
//! notifications, each naming the call by its msgid, `id`:
//!
//! | name | params | sent by |
//! |---|---|---|
//! | `rpc.item` | `[id, item]` | the handler: an item of the answer |
//! | `rpc.credit` | `[id, n]` | the caller: room for `n` more answer items |
//! | `rpc.lagged` | `[id, n]` | the handler: `n` answer items dropped |
//! | `rpc.input_credit` | `[id, n]` | the handler: room for `n` more input items |
//! | `rpc.input` | `[id, item]` | the caller: an item of the input |
//! | `rpc.input_end` | `[id]` | the caller: the input is over |
//!
//! `rpc.describe` is a call, answered by the router with the API's
//! description.
//!
//! The names, [`Control::parse`] and the frames of the messages dotrpc
//! sends by itself ([`hello`], [`cancel`], [`lagged`]) are public for
//! transports that carry control messages in an envelope of their own (the
//! NATS transport, `dotrpc-nats`, maps stream credit to headers and back);
//! the connection is the only other reader.
//!
//! So a foreign peer receives at most the one hello, and never a message or
//! a request shape it does not understand, unless it is made a stream call:
//! a stream call always carries its first window (`{"credit": n}`, and an
//! upload `{"credit": 0}`), since only a peer that serves stream methods
//! answers one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use bytes::Bytes;
use rmpv::Value;

pub use crate::message::MAX_CREDIT;
use crate::message::{MsgId, Outgoing, Params, encode_notification};

/// What every name of dotrpc's own begins with; no application path does.
pub const PREFIX: &str = "rpc.";
/// The greeting, `[{"dotrpc": 1, "features": [..]}]`.
pub const HELLO: &str = "rpc.hello";
/// A caller gave up on a call: `[id]`.
pub const CANCEL: &str = "rpc.cancel";
/// The call that answers with the API's description.
pub const DESCRIBE: &str = "rpc.describe";
/// An item of a call's answer: `[id, item]`.
pub const ITEM: &str = "rpc.item";
/// Room for more items of a call's answer: `[id, n]`.
pub const CREDIT: &str = "rpc.credit";
/// Items of a call's answer dropped to keep it current: `[id, n]`.
pub const LAGGED: &str = "rpc.lagged";
/// An item of a call's input: `[id, item]`.
pub const INPUT: &str = "rpc.input";
/// Room for more items of a call's input: `[id, n]`.
pub const INPUT_CREDIT: &str = "rpc.input_credit";
/// The end of a call's input: `[id]`.
pub const INPUT_END: &str = "rpc.input_end";

/// One of dotrpc's own notifications, read: the connection acts on it and
/// never looks at the name again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Control<'a> {
    /// The other side's hello, to learn its features from.
    Hello(&'a Params),
    /// The caller gave up on call `id`.
    Cancel(MsgId),
    /// About one of a call's streams.
    Stream(StreamMessage<'a>),
}

/// A message about one of call `id`'s streams.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StreamMessage<'a> {
    /// An item of call `id`'s answer; `params` are `[id, item]`.
    Item(MsgId, &'a Params),
    /// Room for `n` more items of call `id`'s answer.
    Credit(MsgId, u32),
    /// `n` items of call `id`'s answer were dropped to keep it current.
    Lagged(MsgId, u32),
    /// An item of call `id`'s input; `params` are `[id, item]`.
    Input(MsgId, &'a Params),
    /// Room for `n` more items of call `id`'s input.
    InputCredit(MsgId, u32),
    /// Call `id`'s input is over.
    InputEnd(MsgId),
}

/// A control message whose params are not what its name asks for: dropped,
/// saying this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

impl<'a> Control<'a> {
    /// Reads the notification `method(params)`: `None` if `method` is not
    /// one of dotrpc's control messages (it is then an ordinary event).
    pub fn parse(method: &[u8], params: &'a Params) -> Option<Result<Self, Malformed>> {
        let rest = method.strip_prefix(PREFIX.as_bytes())?;
        let named = |full: &str| rest == &full.as_bytes()[PREFIX.len()..];
        let stream = |message: Option<StreamMessage<'a>>, malformed| {
            message.map(Control::Stream).ok_or(Malformed(malformed))
        };
        let control = if named(HELLO) {
            Ok(Control::Hello(params))
        } else if named(CANCEL) {
            stream_id(params)
                .map(Control::Cancel)
                .ok_or(Malformed("a cancel without a msgid"))
        } else if named(ITEM) {
            let item = stream_id(params).map(|id| StreamMessage::Item(id, params));
            stream(item, "a stream item without a stream id")
        } else if named(CREDIT) {
            let credit = count(params).map(|(id, n)| StreamMessage::Credit(id, n));
            stream(credit, "malformed stream credit")
        } else if named(LAGGED) {
            let lagged = count(params).map(|(id, n)| StreamMessage::Lagged(id, n));
            stream(lagged, "malformed word of lag")
        } else if named(INPUT) {
            let input = stream_id(params).map(|id| StreamMessage::Input(id, params));
            stream(input, "an input item without a stream id")
        } else if named(INPUT_CREDIT) {
            let credit = count(params).map(|(id, n)| StreamMessage::InputCredit(id, n));
            stream(credit, "malformed input credit")
        } else if named(INPUT_END) {
            let end = stream_id(params).map(StreamMessage::InputEnd);
            stream(end, "the end of an input without a stream id")
        } else {
            return None;
        };
        Some(control)
    }
}

/// The call a control message is about: its first param.
pub fn stream_id(params: &Params) -> Option<MsgId> {
    if params.is_empty() {
        return None;
    }
    rmp::decode::read_int(&mut params.items()).ok()
}

/// The `[id, item]` of an item or an input item: the call's id and the
/// item, still encoded.
pub fn item(params: &Params) -> Option<(MsgId, &[u8])> {
    if params.len() != 2 {
        return None;
    }
    let mut items = params.items();
    let msgid = rmp::decode::read_int(&mut items).ok()?;
    Some((msgid, items))
}

/// The `[id, n]` of credit or word of lag (`n` at most `u32::MAX`).
pub fn count(params: &Params) -> Option<(MsgId, u32)> {
    if params.len() != 2 {
        return None;
    }
    let mut items = params.items();
    let msgid = rmp::decode::read_int(&mut items).ok()?;
    let n: u64 = rmp::decode::read_int(&mut items).ok()?;
    Some((msgid, u32::try_from(n).unwrap_or(u32::MAX)))
}

/// What the other side said it understands.
#[derive(Debug, Default)]
pub(crate) struct Features(AtomicU8);

/// One extension.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Feature {
    Cancel = 1,
    Deadline = 2,
    Trace = 4,
    /// Not an extension: set once any hello has arrived.
    Hello = 128,
}

impl Features {
    pub(crate) fn has(&self, feature: Feature) -> bool {
        self.0.load(Ordering::Acquire) & feature as u8 != 0
    }

    /// Records the features a hello lists; unknown ones are ignored.
    pub(crate) fn learn(&self, hello: &Params) {
        let listed = hello
            .values()
            .ok()
            .and_then(|values| values.into_iter().next())
            .and_then(|info| {
                let features = info
                    .as_map()?
                    .iter()
                    .find(|(key, _)| key.as_str() == Some("features"))?
                    .1
                    .as_array()?
                    .clone();
                Some(features)
            })
            .unwrap_or_default();
        let bits = listed
            .iter()
            .fold(Feature::Hello as u8, |bits, name| match name.as_str() {
                Some("cancel") => bits | Feature::Cancel as u8,
                Some("deadline") => bits | Feature::Deadline as u8,
                Some("trace") => bits | Feature::Trace as u8,
                _ => bits,
            });
        self.0.store(bits, Ordering::Release);
    }
}

/// This peer's hello.
pub fn hello() -> Bytes {
    let info = Value::Map(vec![
        ("dotrpc".into(), 1.into()),
        (
            "features".into(),
            Value::Array(vec!["cancel".into(), "deadline".into(), "trace".into()]),
        ),
    ]);
    notification(HELLO, &[info])
}

/// `rpc.cancel [id]`.
pub fn cancel(msgid: MsgId) -> Bytes {
    notification(CANCEL, &(msgid,))
}

/// `rpc.lagged [id, n]`.
pub fn lagged(msgid: MsgId, dropped: u64) -> Bytes {
    notification(LAGGED, &(msgid, dropped))
}

/// A control message with params that always encode.
fn notification(method: &str, params: &impl serde::Serialize) -> Bytes {
    let message = Outgoing::new(Arc::from(method), params).expect("control params encode");
    encode_notification(&message)
}

/// Joins a namespace prefix and a name into a method's wire path:
/// `join("math", "div") == "math.div"`, `join("", "add") == "add"`.
pub(crate) fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;

    #[test]
    fn join_leaves_the_root_bare() {
        assert_eq!(join("", "add"), "add");
        assert_eq!(join("head.math", "div"), "head.math.div");
    }

    fn params_of(frame: Bytes) -> Params {
        match Message::parse(frame).unwrap() {
            Message::Notification(n) => n.params().clone(),
            other => panic!("{other:?}"),
        }
    }

    fn parse<'a>(method: &str, params: &'a Params) -> Option<Result<Control<'a>, Malformed>> {
        Control::parse(method.as_bytes(), params)
    }

    #[test]
    fn an_item_is_its_id_and_the_item_still_encoded() {
        let params = Params::from_values(&[7.into(), vec![Value::from(1), "a".into()].into()]);
        let (msgid, encoded) = item(&params).expect("an item");
        assert_eq!(msgid, 7);
        let value = rmpv::decode::read_value(&mut &encoded[..]).unwrap();
        assert_eq!(value, Value::Array(vec![1.into(), "a".into()]));
        // Anything but `[id, item]` is none.
        for wrong in [
            vec![],
            vec![7.into()],
            vec!["x".into(), 1.into()],
            vec![7.into(), 1.into(), 2.into()],
        ] {
            assert_eq!(item(&Params::from_values(&wrong)), None, "{wrong:?}");
        }
        assert_eq!(
            count(&Params::from_values(&[7.into(), u64::MAX.into()])),
            Some((7, u32::MAX))
        );
    }

    #[test]
    fn a_hello_teaches_the_features_it_lists() {
        let features = Features::default();
        assert!(!features.has(Feature::Cancel));
        features.learn(&params_of(hello()));
        assert!(features.has(Feature::Cancel) && features.has(Feature::Deadline));
        assert!(features.has(Feature::Trace));

        let partial = Params::from_values(&[Value::Map(vec![(
            "features".into(),
            Value::Array(vec!["cancel".into(), "teleport".into()]),
        )])]);
        features.learn(&partial);
        assert!(features.has(Feature::Cancel) && !features.has(Feature::Deadline));
        assert!(!features.has(Feature::Trace));
    }

    #[test]
    fn every_control_message_is_read_by_its_name() {
        let one = Params::from_values(&[7.into()]);
        let pair = Params::from_values(&[7.into(), 16.into()]);
        assert_eq!(
            parse(CANCEL, &params_of(cancel(42))),
            Some(Ok(Control::Cancel(42)))
        );
        assert_eq!(parse(HELLO, &one), Some(Ok(Control::Hello(&one))));
        let stream = |message| Some(Ok(Control::Stream(message)));
        assert_eq!(parse(ITEM, &pair), stream(StreamMessage::Item(7, &pair)));
        assert_eq!(parse(INPUT, &pair), stream(StreamMessage::Input(7, &pair)));
        assert_eq!(parse(CREDIT, &pair), stream(StreamMessage::Credit(7, 16)));
        assert_eq!(parse(LAGGED, &pair), stream(StreamMessage::Lagged(7, 16)));
        assert_eq!(
            parse(INPUT_CREDIT, &pair),
            stream(StreamMessage::InputCredit(7, 16))
        );
        assert_eq!(parse(INPUT_END, &one), stream(StreamMessage::InputEnd(7)));
        assert_eq!(
            parse(LAGGED, &params_of(lagged(3, 2))),
            stream(StreamMessage::Lagged(3, 2))
        );
        // Not control messages: the application's, or a call.
        for method in [
            "math.add",
            "rpc.describe",
            "rpc.teleport",
            "rpc",
            "rpc.hello2",
        ] {
            assert_eq!(parse(method, &one), None, "{method}");
        }
    }

    #[test]
    fn control_messages_with_the_wrong_params_are_malformed() {
        let empty = Params::from_values(&[]);
        let text = Params::from_values(&["x".into()]);
        let negative = Params::from_values(&[4.into(), (-1).into()]);
        let huge = Params::from_values(&[4.into(), u64::MAX.into()]);
        for method in [CANCEL, ITEM, INPUT, INPUT_END] {
            assert!(matches!(parse(method, &empty), Some(Err(_))), "{method}");
            assert!(matches!(parse(method, &text), Some(Err(_))), "{method}");
        }
        for method in [CREDIT, LAGGED, INPUT_CREDIT] {
            assert!(matches!(parse(method, &negative), Some(Err(_))), "{method}");
            assert!(matches!(parse(method, &text), Some(Err(_))), "{method}");
        }
        assert_eq!(
            parse(CREDIT, &huge),
            Some(Ok(Control::Stream(StreamMessage::Credit(4, u32::MAX)))),
            "clamped"
        );
    }
}
