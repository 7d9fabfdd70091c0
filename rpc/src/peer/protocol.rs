//! dotrpc's extensions to msgpack-rpc, used only between dotrpc peers.
//!
//! A peer that connects announces itself with one notification,
//! `rpc.hello [{"dotrpc": 1, "features": ["cancel", "deadline", "trace"]}]`. Other
//! msgpack-rpc peers never answer notifications, so they ignore it; a dotrpc
//! peer answers with its own hello. From then on, and only then, each side
//! may use what the other listed:
//!
//! * `cancel`: a caller that gives up on a call (dropped, cancelled, timed
//!   out) sends `rpc.cancel [msgid]`, and the handler running it is dropped;
//! * `deadline`: a request with a timeout carries it as a fifth item,
//!   `{"deadline_ms": n}`; the handler sees it in its context, calls it makes
//!   inherit it, and it is dropped when the deadline passes;
//! * `trace`: a request made inside a traced span carries the W3C trace
//!   context in the same map, `{"traceparent": s, "tracestate": s}`, and the
//!   handler's span continues that trace.
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

use crate::message::{MsgId, Outgoing, Params, notification_frame};

pub(crate) const HELLO: &str = "rpc.hello";
pub(crate) const CANCEL: &str = "rpc.cancel";

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
pub(crate) fn hello() -> Bytes {
    let info = Value::Map(vec![
        ("dotrpc".into(), 1.into()),
        (
            "features".into(),
            Value::Array(vec!["cancel".into(), "deadline".into(), "trace".into()]),
        ),
    ]);
    let hello = Outgoing::new(Arc::from(HELLO), &[info]).expect("a hello encodes");
    notification_frame(&hello)
}

/// `rpc.cancel [msgid]`.
pub(crate) fn cancel(msgid: MsgId) -> Bytes {
    let cancel = Outgoing::new(Arc::from(CANCEL), &(msgid,)).expect("a cancel encodes");
    notification_frame(&cancel)
}

/// The msgid a `rpc.cancel` names.
pub(crate) fn cancelled_msgid(params: &Params) -> Option<MsgId> {
    let values = params.values().ok()?;
    values
        .first()?
        .as_u64()
        .and_then(|id| MsgId::try_from(id).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;

    fn params_of(frame: Bytes) -> Params {
        match Message::parse(frame).unwrap() {
            Message::Notification(n) => n.params().clone(),
            other => panic!("{other:?}"),
        }
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
    fn a_cancel_names_its_msgid() {
        assert_eq!(cancelled_msgid(&params_of(cancel(42))), Some(42));
        assert_eq!(cancelled_msgid(&Params::from_values(&["x".into()])), None);
    }
}
