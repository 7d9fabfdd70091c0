//! Call metadata: what a request between two dotrpc peers may carry beyond
//! msgpack-rpc's four items, as a fifth item, a map:
//!
//! | key           | value                                                  |
//! |---------------|--------------------------------------------------------|
//! | `deadline_ms` | unsigned int: how long the caller will wait            |
//! | `traceparent` | string: the caller's span, W3C Trace Context `traceparent` |
//! | `tracestate`  | string: W3C `tracestate`, only with a `traceparent`    |
//! | `credit`      | unsigned int: a stream call's first window of items    |
//!
//! `deadline_ms` and the trace context are sent only to a peer whose
//! `rpc.hello` listed the feature (`deadline`, `trace`), and only when they
//! have a value; a request with none has four items (or a fifth item of
//! nil). `credit` opens a stream call (see `crate::stream`), which only a
//! dotrpc peer serves. Unknown keys are skipped, and a trace context that is
//! not well formed is dropped (the call then starts a new trace, as the W3C
//! spec asks), never refused. A fifth item that is not a map, or a
//! `deadline_ms` or `credit` that is not a whole number in range, is refused:
//! the call is answered with the reason (see `message::Parsed`), and the
//! connection goes on.

use crate::codec::{CodecError, value_len};

use super::read::{malformed, read_str_len};

pub(super) const DEADLINE_KEY: &str = "deadline_ms";
pub(super) const TRACEPARENT_KEY: &str = "traceparent";
pub(super) const TRACESTATE_KEY: &str = "tracestate";
pub(super) const CREDIT_KEY: &str = "credit";

/// The most items a stream's consumer may grant ahead, the first window
/// included.
pub const MAX_CREDIT: u32 = 1 << 16;

/// The longest `tracestate` passed on; the W3C spec asks for at least 512
/// bytes to be kept and lets longer ones be dropped.
const MAX_TRACESTATE: usize = 1024;

/// The call metadata of one request (its fifth item): what a transport that
/// carries it in an envelope of its own (NATS headers) reads and writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metadata {
    /// How long the handler has, in milliseconds from when it receives the
    /// call.
    pub deadline_ms: Option<u64>,
    /// The caller's W3C trace context.
    pub trace: Option<TraceContext>,
    /// The first window of a stream call's items (at most [`MAX_CREDIT`]).
    pub credit: Option<u32>,
}

impl Metadata {
    /// Whether there is none (a request of four items).
    pub fn is_empty(&self) -> bool {
        self.deadline_ms.is_none() && self.trace.is_none() && self.credit.is_none()
    }

    /// Reads the map of a five-item request.
    pub(super) fn read(mut reader: &[u8]) -> Result<Metadata, CodecError> {
        let entries = rmp::decode::read_map_len(&mut reader).map_err(|_| {
            malformed("call metadata (a request's fifth item) must be a map or nil")
        })?;
        let mut metadata = Metadata::default();
        let (mut traceparent, mut tracestate) = (None, None);
        for _ in 0..entries {
            let key_len = value_len(reader)?;
            let (key, rest) = reader.split_at(key_len);
            let value_len = value_len(rest)?;
            let (value, rest) = rest.split_at(value_len);
            reader = rest;
            let mut key_reader = key;
            let key = read_str_len(&mut key_reader).and_then(|len| key_reader.get(..len));
            match key {
                Some(key) if key == DEADLINE_KEY.as_bytes() => {
                    let ms = rmp::decode::read_int(&mut &value[..]).map_err(|_| {
                        malformed("`deadline_ms` must be a whole number of milliseconds")
                    })?;
                    metadata.deadline_ms = Some(ms);
                }
                Some(key) if key == TRACEPARENT_KEY.as_bytes() => traceparent = str_of(value),
                Some(key) if key == TRACESTATE_KEY.as_bytes() => tracestate = str_of(value),
                Some(key) if key == CREDIT_KEY.as_bytes() => {
                    let credit = rmp::decode::read_int::<u64, _>(&mut &value[..])
                        .ok()
                        .filter(|&n| n <= u64::from(MAX_CREDIT));
                    let credit = credit.ok_or_else(|| {
                        malformed(&format!(
                            "`credit` must be a whole number of items from 0 to {MAX_CREDIT}"
                        ))
                    })?;
                    metadata.credit = Some(credit as u32);
                }
                _ => {}
            }
        }
        metadata.trace = traceparent.and_then(|parent| TraceContext::new(parent, tracestate));
        Ok(metadata)
    }
}

/// The string a msgpack value holds, if it is one.
fn str_of(mut value: &[u8]) -> Option<&str> {
    let len = read_str_len(&mut value)?;
    std::str::from_utf8(value.get(..len)?).ok()
}

/// The trace context a call carries across processes, as the W3C Trace
/// Context headers spell it: `traceparent` names the caller's span,
/// `tracestate` carries vendors' data along.
///
/// One pointer wide, so that a request without one stays as small as it
/// was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext(Box<Headers>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Headers {
    traceparent: Box<str>,
    tracestate: Option<Box<str>>,
}

impl TraceContext {
    /// A trace context, if `traceparent` is well formed: version `00` is
    /// `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`, lowercase,
    /// neither id all zeros; a later version must start with those fields.
    /// A `tracestate` over 1 024 bytes is dropped.
    pub fn new(traceparent: &str, tracestate: Option<&str>) -> Option<TraceContext> {
        if !well_formed(traceparent) {
            return None;
        }
        Some(TraceContext(Box::new(Headers {
            traceparent: traceparent.into(),
            tracestate: tracestate
                .filter(|state| !state.is_empty() && state.len() <= MAX_TRACESTATE)
                .map(Into::into),
        })))
    }

    /// The `traceparent` header's value.
    pub fn traceparent(&self) -> &str {
        &self.0.traceparent
    }

    /// The `tracestate` header's value, if there was one.
    pub fn tracestate(&self) -> Option<&str> {
        self.0.tracestate.as_deref()
    }
}

fn well_formed(traceparent: &str) -> bool {
    let fields: Vec<&str> = traceparent.splitn(5, '-').collect();
    let hex = |field: &str, len: usize| {
        field.len() == len
            && field
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let nonzero = |field: &str| field.bytes().any(|b| b != b'0');
    match fields[..] {
        [version, trace_id, parent_id, flags, ..] => {
            hex(version, 2)
                && version != "ff"
                && hex(trace_id, 32)
                && nonzero(trace_id)
                && hex(parent_id, 16)
                && nonzero(parent_id)
                && hex(flags, 2)
                // Version 00 has exactly these four fields.
                && (version != "00" || fields.len() == 4)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_traceparent_is_kept_only_when_well_formed() {
        let context = TraceContext::new(PARENT, Some("congo=t61rcWkgMzE")).unwrap();
        assert_eq!(context.traceparent(), PARENT);
        assert_eq!(context.tracestate(), Some("congo=t61rcWkgMzE"));
        assert!(TraceContext::new(&format!("cc{}-what-comes-next", &PARENT[2..]), None).is_some());
        for bad in [
            "",
            "00-ab-cd-01",
            &PARENT.to_uppercase(),
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            &format!("ff{}", &PARENT[2..]),
            &format!("{PARENT}-extra"),
            &PARENT[..54],
        ] {
            assert_eq!(TraceContext::new(bad, None), None, "{bad}");
        }
        let long = "k=".to_owned() + &"v".repeat(MAX_TRACESTATE);
        let context = TraceContext::new(PARENT, Some(&long)).unwrap();
        assert_eq!(
            context.tracestate(),
            None,
            "an oversized tracestate is dropped"
        );
    }
}
