//! The two spans of a call, and the trace context that links them.
//!
//! Each is made only when a subscriber would record it: a disabled level
//! costs one comparison, not a span per call.

use tracing::field::Empty;
use tracing::{Level, Span};

use crate::message::{MsgId, TraceContext};

/// A call's span: `$name` on the `$kind` side, the fields the module docs
/// list. One macro for both, as `tracing` wants a span's name and fields
/// written out where it is made.
macro_rules! rpc_span {
    ($name:literal, $kind:literal, $peer:expr, $path:expr, $msgid:expr) => {{
        let path: &str = $path;
        let span = tracing::info_span!(
            $name,
            otel.name = path,
            otel.kind = $kind,
            rpc.system = "dotrpc",
            rpc.service = Empty,
            rpc.method = Empty,
            peer = $peer,
            msgid = $msgid,
            otel.status_code = Empty,
            otel.status_description = Empty,
            error.type = Empty,
        );
        name(&span, path);
        span
    }};
}

/// The span of a call this side makes, a child of the current span.
pub(crate) fn call_span(peer: u64, path: &str) -> Option<Span> {
    // The msgid is recorded once the call is sent.
    tracing::level_enabled!(Level::INFO).then(|| rpc_span!("rpc.call", "client", peer, path, Empty))
}

/// The span of a call this side handles: a child of the caller's span when
/// the call carried its trace context, else of the current span. Inlined,
/// so that with `INFO` off a call pays for one level check and nothing
/// else.
#[inline]
pub(crate) fn handle_span(
    peer: u64,
    path: &str,
    msgid: Option<MsgId>,
    parent: Option<&TraceContext>,
) -> Option<Span> {
    tracing::level_enabled!(Level::INFO).then(|| new_handle_span(peer, path, msgid, parent))
}

#[inline(never)]
fn new_handle_span(
    peer: u64,
    path: &str,
    msgid: Option<MsgId>,
    parent: Option<&TraceContext>,
) -> Span {
    let span = rpc_span!("rpc.handle", "server", peer, path, msgid);
    #[cfg(feature = "otel")]
    if let Some(parent) = parent {
        super::otel::continue_trace(&span, parent);
    }
    #[cfg(not(feature = "otel"))]
    let _ = parent;
    span
}

/// `rpc.service` and `rpc.method` from a path: `math.stats` and `mean` for
/// `math.stats.mean`; a top-level method has no service.
fn name(span: &Span, path: &str) {
    match path.rsplit_once('.') {
        Some((service, method)) => {
            span.record("rpc.service", service);
            span.record("rpc.method", method);
        }
        None => {
            span.record("rpc.method", path);
        }
    }
}

/// Marks the current call's span failed with an error of kind `kind`
/// (`outcome`, as the metrics name it).
pub(crate) fn failed(span: &Span, kind: &str, message: &dyn std::fmt::Display) {
    // In this order: `tracing-opentelemetry` reads the code as an error
    // with no description, the description as an error with it.
    span.record("otel.status_code", "ERROR");
    span.record("otel.status_description", tracing::field::display(message));
    span.record("error.type", kind);
}

/// The trace context a request sent now carries: the current span's, if
/// OpenTelemetry knows it (the `otel` feature).
pub(crate) fn outgoing_trace() -> Option<TraceContext> {
    #[cfg(feature = "otel")]
    {
        if !tracing::dispatcher::has_been_set() {
            return None;
        }
        super::otel::current_context()
    }
    #[cfg(not(feature = "otel"))]
    None
}
