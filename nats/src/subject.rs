//! How a call is written as a NATS message, and back: subjects, headers,
//! payloads and error codes. The one place that knows the NATS side of the
//! mapping (README, "Calling a dotrpc service from any NATS client").
//!
//! | msgpack-rpc                  | NATS message                                        |
//! |------------------------------|-----------------------------------------------------|
//! | request `math.add [1, 2]`    | on `PREFIX.math.add`, a reply subject, body `[1, 2]` |
//! | its deadline (dotrpc only)   | header `Dotrpc-Deadline-Ms: n`                       |
//! | a stream call's first window | header `Dotrpc-Credit: n` (the rest: [`super::streams`]) |
//! | its trace context            | headers `traceparent`, `tracestate` (W3C Trace Context) |
//! | notification                 | the same subject, no reply subject                   |
//! | success                      | body: the msgpack result                             |
//! | error object                 | headers `Nats-Service-Error-Code`, `Nats-Service-Error`; body: the msgpack `{"code", "message", "data"?}` |
//! | event pushed by a service    | on `PREFIX.path`, header `Dotrpc-Push: 1`            |

use async_nats::HeaderMap;
use bytes::Bytes;

use dotrpc::error::ErrorKind;
use dotrpc::handler::{ErrorObject, Params};
use dotrpc::observe::TraceContext;
use dotrpc::peer::ErrorFormat;
use dotrpc::protocol::MAX_CREDIT;
use dotrpc::transport::Metadata;
use dotrpc::transport::{Limits, check_frame};

/// The deadline of a call, in milliseconds from when it was sent.
pub(crate) const DEADLINE_HEADER: &str = "Dotrpc-Deadline-Ms";
/// A request for a stream call: the first window of answer items (0 for a
/// call that streams only its input).
pub(crate) const CREDIT_HEADER: &str = "Dotrpc-Credit";
/// Marks an event a service published for its clients, which the service's
/// own instances (subscribed to the same subjects) pass over.
pub(crate) const PUSH_HEADER: &str = "Dotrpc-Push";
/// The NATS services protocol's error headers (ADR-32).
pub(crate) const ERROR_HEADER: &str = "Nats-Service-Error";
pub(crate) const ERROR_CODE_HEADER: &str = "Nats-Service-Error-Code";

/// The subject a path is served on under `prefix`.
pub(crate) fn subject(prefix: &str, path: &str) -> String {
    format!("{prefix}.{path}")
}

/// Whether `path` can be part of a subject: dot-separated tokens, none
/// empty, no wildcards or whitespace.
pub(crate) fn valid_path(path: &str) -> bool {
    dotrpc::transport::is_subject_path(path)
}

/// The headers of an error reply carrying `error`: an encoded error object,
/// its words as `ErrorFormat::Message` writes them (`"Code: message"`), or
/// any value a foreign handler answered with.
pub(crate) fn error_headers(error: &[u8]) -> HeaderMap {
    let value = rmpv::decode::read_value(&mut &error[..]).ok();
    let field = |name: &str| {
        value
            .as_ref()?
            .as_map()?
            .iter()
            .find(|(key, _)| key.as_str() == Some(name))?
            .1
            .as_str()
            .map(str::to_owned)
    };
    if let Some(message) = field("message") {
        return headers_of(&message, field("code").as_deref());
    }
    match value.as_ref().and_then(rmpv::Value::as_str) {
        // Words that begin with a known code keep its status.
        Some(words) => match words.split_once(": ") {
            Some((code, message)) if ErrorKind::of_code(code).is_some() => {
                headers_of(message, Some(code))
            }
            _ => headers_of(words, None),
        },
        None => headers_of("error", None),
    }
}

/// The headers of an error reply carrying `error`, whatever format its
/// body is written in.
pub(crate) fn object_headers(error: &ErrorObject) -> HeaderMap {
    headers_of(&error.message, Some(&error.code))
}

fn headers_of(message: &str, code: Option<&str>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    // Header values are one line.
    let message = message.replace(['\r', '\n'], " ");
    headers.insert(ERROR_HEADER, message.as_str());
    headers.insert(
        ERROR_CODE_HEADER,
        ErrorKind::status_of(code).to_string().as_str(),
    );
    headers
}

/// `error` encoded as it travels in a response, in `format`: the peer's
/// own for what a service answers its callers, `Object` for what a caller
/// answers its own peer.
pub(crate) fn encoded_error(error: &ErrorObject, format: ErrorFormat) -> Bytes {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, &error.to_wire(format)).expect("writing to a Vec succeeds");
    out.into()
}

/// The body of a request or an event as params: exactly one msgpack array
/// within `limits`; an empty body is no params.
pub(crate) fn params_of(body: &Bytes, limits: &Limits) -> Result<Params, String> {
    if body.is_empty() {
        return Ok(Params::from_values(&[]));
    }
    check_frame(body, limits).map_err(|e| format!("the body is not msgpack: {e}"))?;
    Params::from_bytes(body.clone())
        .map_err(|_| "the body must be the msgpack array of params".to_owned())
}

/// `frame` if the peer takes it. A body is checked alone first; the message
/// built around it is a few bytes longer and one level deeper, so it is
/// checked again, whole: a frame the peer refused would close the
/// connection every caller of a service shares.
pub(crate) fn within_limits(frame: Bytes, limits: &Limits) -> Result<Bytes, String> {
    match check_frame(&frame, limits) {
        Ok(()) => Ok(frame),
        Err(error) => Err(format!(
            "the message would pass this peer's limits: {error}"
        )),
    }
}

/// Whether a message is an event a service pushed.
pub(crate) fn is_push(message: &async_nats::Message) -> bool {
    message
        .headers
        .as_ref()
        .is_some_and(|headers| headers.get(PUSH_HEADER).is_some())
}

/// The W3C Trace Context headers, as other NATS clients that trace name
/// them.
pub(crate) const TRACEPARENT_HEADER: &str = "traceparent";
pub(crate) const TRACESTATE_HEADER: &str = "tracestate";

/// The headers a request carries its call metadata in, if it has any.
pub(crate) fn call_headers(
    deadline_ms: Option<u64>,
    trace: Option<&TraceContext>,
    credit: Option<u32>,
) -> Option<HeaderMap> {
    if deadline_ms.is_none() && trace.is_none() && credit.is_none() {
        return None;
    }
    let mut headers = HeaderMap::new();
    if let Some(ms) = deadline_ms {
        headers.insert(DEADLINE_HEADER, ms.to_string().as_str());
    }
    if let Some(credit) = credit {
        headers.insert(CREDIT_HEADER, credit.to_string().as_str());
    }
    if let Some(trace) = trace {
        headers.insert(TRACEPARENT_HEADER, trace.traceparent());
        if let Some(state) = trace.tracestate() {
            headers.insert(TRACESTATE_HEADER, state);
        }
    }
    Some(headers)
}

/// The call metadata a request's headers carry: its deadline in
/// milliseconds, its trace context, a stream call's first window.
pub(crate) fn metadata_of(headers: Option<&HeaderMap>) -> Result<Metadata, String> {
    let Some(headers) = headers else {
        return Ok(Metadata::default());
    };
    let header = |name| headers.get(name).map(|value| value.as_str());
    // As in a request's metadata map: a deadline or a first window that is
    // not a whole number in range refuses the call; a malformed trace
    // context is dropped.
    let deadline_ms = header(DEADLINE_HEADER)
        .map(|ms| {
            ms.trim().parse::<u64>().map_err(|_| {
                format!("`{DEADLINE_HEADER}: {ms}` must be a whole number of milliseconds")
            })
        })
        .transpose()?;
    let credit = header(CREDIT_HEADER)
        .map(|n| {
            n.trim()
                .parse::<u32>()
                .ok()
                .filter(|&n| n <= MAX_CREDIT)
                .ok_or_else(|| {
                    format!("`{CREDIT_HEADER}: {n}` must be a whole number of items from 0 to {MAX_CREDIT}")
                })
        })
        .transpose()?;
    let mut metadata = Metadata::default();
    metadata.deadline_ms = deadline_ms;
    metadata.trace = header(TRACEPARENT_HEADER)
        .and_then(|parent| TraceContext::new(parent, header(TRACESTATE_HEADER)));
    metadata.credit = credit;
    Ok(metadata)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_with_wildcards_or_empty_tokens_are_not_subjects() {
        assert!(valid_path("math.stats.mean"));
        for bad in ["", "a..b", ".a", "a.", "a.*", "a.>", "a b"] {
            assert!(!valid_path(bad), "{bad:?}");
        }
    }

    #[test]
    fn call_metadata_travels_as_headers() {
        assert!(
            call_headers(None, None, None).is_none(),
            "no metadata, no headers"
        );
        let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let mut sent = Metadata::default();
        sent.deadline_ms = Some(1500);
        sent.trace = TraceContext::new(parent, Some("k=v"));
        sent.credit = Some(16);
        let headers = call_headers(sent.deadline_ms, sent.trace.as_ref(), sent.credit).unwrap();
        assert_eq!(headers.get(TRACEPARENT_HEADER).unwrap().as_str(), parent);
        assert_eq!(metadata_of(Some(&headers)), Ok(sent));

        // A malformed trace context is dropped; a deadline or a first
        // window that cannot be one refuses the call.
        let mut foreign = HeaderMap::new();
        foreign.insert(TRACEPARENT_HEADER, "not-a-traceparent");
        assert_eq!(metadata_of(Some(&foreign)), Ok(Metadata::default()));
        assert_eq!(metadata_of(None), Ok(Metadata::default()));
        for (header, value) in [
            (DEADLINE_HEADER, "soon"),
            (CREDIT_HEADER, "-1"),
            (CREDIT_HEADER, "65537"),
            (CREDIT_HEADER, "lots"),
        ] {
            let mut bad = HeaderMap::new();
            bad.insert(header, value);
            let refused = metadata_of(Some(&bad)).unwrap_err();
            assert!(refused.contains(header), "{refused}");
        }
    }

    #[test]
    fn error_replies_carry_the_message_and_a_status() {
        let object = ErrorObject::unknown_api("no handler\nfor `x`");
        let error = encoded_error(&object, ErrorFormat::Object);
        for headers in [error_headers(&error), object_headers(&object)] {
            assert_eq!(
                headers.get(ERROR_HEADER).unwrap().as_str(),
                "no handler for `x`"
            );
            assert_eq!(headers.get(ERROR_CODE_HEADER).unwrap().as_str(), "404");
        }
        // Written as a message, the body is the error's words; the headers,
        // made from the object, keep its status.
        let message = encoded_error(&object, ErrorFormat::Message);
        let words: rmpv::Value = rmpv::decode::read_value(&mut &message[..]).unwrap();
        assert_eq!(words.as_str(), Some("UnknownApi: no handler\nfor `x`"));
        // Read back from such words (a handler's error, as the peer wrote
        // it), the status is the code's too.
        let headers = error_headers(&message);
        assert_eq!(
            headers.get(ERROR_HEADER).unwrap().as_str(),
            "no handler for `x`"
        );
        assert_eq!(headers.get(ERROR_CODE_HEADER).unwrap().as_str(), "404");
        let unknown = error_headers(&[0xa9, b'N', b'o', b'p', b'e', b':', b' ', b'b', b'a', b'd']);
        assert_eq!(unknown.get(ERROR_HEADER).unwrap().as_str(), "Nope: bad");
        assert_eq!(unknown.get(ERROR_CODE_HEADER).unwrap().as_str(), "500");
        let foreign = error_headers(&[0xa3, b'b', b'a', b'd']);
        assert_eq!(foreign.get(ERROR_HEADER).unwrap().as_str(), "bad");
        assert_eq!(foreign.get(ERROR_CODE_HEADER).unwrap().as_str(), "500");
    }

    #[test]
    fn a_body_at_the_depth_limit_makes_a_message_past_it() {
        let limits = Limits {
            max_message_size: 1024,
            max_depth: 3,
        };
        // [[[1]]]: three levels, as deep as allowed.
        let body = Bytes::from_static(&[0x91, 0x91, 0x91, 0x01]);
        let params = params_of(&body, &limits).unwrap();
        let frame = dotrpc::transport::notification_frame("a", &params);
        assert!(within_limits(frame, &limits).is_err());
        let shallow = params_of(&Bytes::from_static(&[0x91, 0x91, 0x01]), &limits).unwrap();
        let frame = dotrpc::transport::notification_frame("a", &shallow);
        assert!(within_limits(frame, &limits).is_ok());
    }

    #[test]
    fn a_body_is_one_array_of_params_or_nothing() {
        let limits = Limits::default();
        assert_eq!(params_of(&Bytes::new(), &limits).unwrap().len(), 0);
        assert_eq!(
            params_of(&Bytes::from_static(&[0x92, 1, 2]), &limits)
                .unwrap()
                .len(),
            2
        );
        assert!(params_of(&Bytes::from_static(&[0x01]), &limits).is_err());
        assert!(params_of(&Bytes::from_static(&[0x92, 1]), &limits).is_err());
        assert!(params_of(&Bytes::from_static(&[0x91, 1, 2]), &limits).is_err());
    }
}
