//! The W3C trace context of OpenTelemetry spans, through
//! `tracing-opentelemetry`: read from the current span for a call sent,
//! made the parent of a handler's span for a call received.
//!
//! The `traceparent` text is written and read here, not by an
//! OpenTelemetry propagator: the wire keeps the two strings as they are,
//! whatever propagators the application set up for its other protocols.

use std::str::FromStr;

use opentelemetry::Context;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::message::TraceContext;

/// The current span's trace context, if OpenTelemetry knows the span.
pub(super) fn current_context() -> Option<TraceContext> {
    let context = Span::current().context();
    let span = context.span();
    let span = span.span_context();
    if !span.is_valid() {
        return None;
    }
    let traceparent = format!(
        "00-{}-{}-{:02x}",
        span.trace_id(),
        span.span_id(),
        span.trace_flags().to_u8()
    );
    let tracestate = span.trace_state().header();
    TraceContext::new(&traceparent, Some(&tracestate))
}

/// Makes the remote span `parent` names the parent of `span`, which must
/// not have been entered yet.
pub(super) fn continue_trace(span: &Span, parent: &TraceContext) {
    let Some(remote) = span_context(parent) else {
        return;
    };
    if let Err(error) = span.set_parent(Context::new().with_remote_span_context(remote)) {
        tracing::debug!(%error, "the caller's trace context was not applied");
    }
}

/// The remote span a well-formed trace context names.
fn span_context(parent: &TraceContext) -> Option<SpanContext> {
    let mut fields = parent.traceparent().split('-').skip(1);
    let trace_id = TraceId::from_hex(fields.next()?).ok()?;
    let span_id = SpanId::from_hex(fields.next()?).ok()?;
    let flags = u8::from_str_radix(fields.next()?, 16).ok()?;
    let state = parent
        .tracestate()
        .and_then(|state| TraceState::from_str(state).ok())
        .unwrap_or_default();
    // Only the sampled bit is defined; others are not passed on.
    let flags = TraceFlags::new(flags) & TraceFlags::SAMPLED;
    Some(SpanContext::new(trace_id, span_id, flags, true, state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_names_its_remote_span() {
        let parent = TraceContext::new(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            Some("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"),
        )
        .unwrap();
        let remote = span_context(&parent).unwrap();
        assert_eq!(
            format!("{}-{}", remote.trace_id(), remote.span_id()),
            "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"
        );
        assert!(remote.is_sampled() && remote.is_remote());
        assert_eq!(remote.trace_state().get("rojo"), Some("00f067aa0ba902b7"));
    }

    #[test]
    fn no_span_no_context() {
        assert_eq!(current_context(), None);
    }
}
