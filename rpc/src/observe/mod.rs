//! What a call leaves behind for the people running it: a span on each side
//! that joins one trace across processes, and numbers per method.
//!
//! # Spans
//!
//! With a [`tracing`] subscriber that records `INFO`, every call has two
//! spans, one on each side:
//!
//! | span          | where                    | fields |
//! |---------------|--------------------------|--------|
//! | `rpc.call`    | the caller, while it waits | `otel.name` (the path), `otel.kind = "client"`, `rpc.system = "dotrpc"`, `rpc.service` (the namespace), `rpc.method` (the last name), `peer`, `msgid`; on failure `otel.status_code = "ERROR"`, `otel.status_description`, `error.type` (the error's kind) |
//! | `rpc.handle`  | the handler, while it runs | the same, with `otel.kind = "server"` |
//!
//! The `otel.*` fields are the ones `tracing-opentelemetry` turns into an
//! OpenTelemetry span's name, kind and status, and the `rpc.*` ones follow
//! OpenTelemetry's conventions for RPC spans, so a backend shows dotrpc
//! calls as it shows gRPC calls.
//!
//! # Trace context across processes
//!
//! With the `otel` feature, a request sent inside a span that OpenTelemetry
//! knows carries that span's W3C trace context (`traceparent`, and
//! `tracestate` when there is one) to the other side: in the request's call
//! metadata to a dotrpc peer that announced `trace` in its `rpc.hello`, in
//! the `traceparent`/`tracestate` headers over NATS. The handler's
//! `rpc.handle` span becomes that span's child, and the calls the handler
//! makes continue the trace. Foreign msgpack-rpc peers are sent nothing
//! extra. Without a subscriber, nothing is created, sent or parsed beyond a
//! check of one flag per call.
//!
//! # Metrics
//!
//! With the `metrics` feature, each side counts its calls through the
//! [`metrics`](https://docs.rs/metrics) facade, labelled by `method` (the
//! path); see [`names`] for the full list. Nothing is counted until the
//! application installs a recorder (a Prometheus exporter, say).

mod span;

#[cfg(feature = "metrics")]
mod meter;
#[cfg(not(feature = "metrics"))]
#[path = "no_meter.rs"]
mod meter;

#[cfg(feature = "otel")]
mod otel;

pub use crate::message::TraceContext;
pub(crate) use meter::{CallMeter, Traffic};
pub(crate) use span::{call_span, failed, handle_span, outgoing_trace};

/// Counts a call a server refused before it could start, as started and
/// finished with `outcome` (an error code): for transports that check a
/// request themselves (NATS, a body that is not a params array) and answer
/// it without the peer ever seeing it. Nothing without the `metrics`
/// feature.
pub fn refused(method: &str, outcome: &str) {
    CallMeter::refused(Side::Server, method, outcome);
}

/// Which side of a call a number is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// The side that made the call.
    Client,
    /// The side that handled it.
    Server,
}

/// The names of the metrics dotrpc records, with the `metrics` feature.
///
/// | metric | kind | labels |
/// |--------|------|--------|
/// | `dotrpc.client.calls.started`, `dotrpc.server.calls.started` | counter | `method` |
/// | `dotrpc.client.calls.finished`, `dotrpc.server.calls.finished` | counter | `method`, `outcome` |
/// | `dotrpc.client.calls.in_flight`, `dotrpc.server.calls.in_flight` | gauge | `method` |
/// | `dotrpc.client.call.duration`, `dotrpc.server.call.duration` | histogram, seconds | `method` |
/// | `dotrpc.bytes.received`, `dotrpc.bytes.sent` | counter, bytes | |
/// | `dotrpc.connection.bytes.received`, `dotrpc.connection.bytes.sent` | histogram, bytes per connection, recorded when it closes | |
///
/// `outcome` is `ok`, or the kind of the error: a wire code (`Application`,
/// `UnknownApi`, `InvalidParams`, `Timeout`, `Cancelled`, `Unauthorized`,
/// ...) or one of the caller's own kinds (`Disconnected`, `Transport`,
/// `Codec`, `Foreign`, `Misuse`). A client call given up on (dropped) ends
/// `Cancelled`. Bytes are msgpack-rpc messages, without a transport's own
/// framing.
pub mod names {
    /// Calls made.
    pub const CLIENT_STARTED: &str = "dotrpc.client.calls.started";
    /// Calls made that ended, by `outcome`.
    pub const CLIENT_FINISHED: &str = "dotrpc.client.calls.finished";
    /// Calls made and not yet ended.
    pub const CLIENT_IN_FLIGHT: &str = "dotrpc.client.calls.in_flight";
    /// From sending a call to its outcome, in seconds.
    pub const CLIENT_DURATION: &str = "dotrpc.client.call.duration";
    /// Calls received.
    pub const SERVER_STARTED: &str = "dotrpc.server.calls.started";
    /// Calls received and answered, by `outcome`.
    pub const SERVER_FINISHED: &str = "dotrpc.server.calls.finished";
    /// Calls received and not yet answered.
    pub const SERVER_IN_FLIGHT: &str = "dotrpc.server.calls.in_flight";
    /// From a call's arrival to its answer, in seconds.
    pub const SERVER_DURATION: &str = "dotrpc.server.call.duration";
    /// Message bytes read, on every connection.
    pub const BYTES_RECEIVED: &str = "dotrpc.bytes.received";
    /// Message bytes written, on every connection.
    pub const BYTES_SENT: &str = "dotrpc.bytes.sent";
    /// Message bytes one connection read in its life.
    pub const CONNECTION_BYTES_RECEIVED: &str = "dotrpc.connection.bytes.received";
    /// Message bytes one connection wrote in its life.
    pub const CONNECTION_BYTES_SENT: &str = "dotrpc.connection.bytes.sent";
}

/// A call this side made, observed from when it is made to its end: its
/// span (when `INFO` is enabled) and its meter, which counts `Cancelled` if
/// the call is dropped before it ends.
pub(crate) struct ClientCall {
    pub(crate) span: Option<tracing::Span>,
    meter: Option<CallMeter>,
}

impl ClientCall {
    /// Starts observing a call to `method` on connection `peer`; counted
    /// by the meter under `metered` (`None` for a call that could not be
    /// encoded, which is never sent).
    pub(crate) fn start(
        peer: u64,
        method: &str,
        metered: Option<&std::sync::Arc<str>>,
    ) -> ClientCall {
        ClientCall {
            span: call_span(peer, method),
            meter: metered.map(|method| CallMeter::start(Side::Client, method)),
        }
    }

    /// The call is being sent as `msgid`: its span records it, and is
    /// current while the guard lives (the trace context sent is its).
    pub(crate) fn sent(&self, msgid: u32) -> Option<tracing::span::Entered<'_>> {
        let span = self.span.as_ref()?;
        span.record("msgid", msgid);
        Some(span.enter())
    }

    /// The call ended: `Ok`, or failed with `kind`. Told once.
    pub(crate) fn ended(&mut self, failed: Option<crate::error::ErrorKind>) {
        let outcome = failed.map_or("ok", crate::error::ErrorKind::outcome);
        if let Some(meter) = self.meter.take() {
            meter.finish(outcome);
        }
        if let (Some(span), Some(_)) = (&self.span, failed) {
            self::failed(span, outcome, &outcome);
        }
    }
}
