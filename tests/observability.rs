//! Observability: one trace follows a call across processes (over TCP and
//! over NATS), spans carry OpenTelemetry's RPC attributes and error status,
//! and each side counts its calls per method and outcome.
//!
//! Spans are read from an in-memory OpenTelemetry exporter, metrics from a
//! `metrics` recorder installed for the test's thread; each test runs on a
//! current-thread runtime, so every task of it sees both.

mod support;

use std::sync::Arc;
use std::time::Duration;

use dotrpc::{Error, ErrorKind, Peer, Router};
use dotrpc_nats::{ConnectNats, NatsService};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry_sdk::trace::SpanData;
use support::otel::{self, Traces, attribute};
use support::{bounded, tcp_server};

/// B: the last hop. Doubles, and fails for negative numbers.
fn b_router() -> Arc<Router> {
    let router = Router::new();
    router.set_handler("stats.double", |x: i64| async move {
        if x < 0 {
            Err(format!("{x} is negative"))
        } else {
            Ok(x * 2)
        }
    });
    Arc::new(router)
}

/// A: the middle hop. `relay(x)` asks B to double `x`.
fn a_router(b: Peer) -> Arc<Router> {
    let router = Router::new();
    router.set_handler("relay", move |x: i64| {
        let b = b.clone();
        async move {
            b.call::<i64>("stats.double", (x,))
                .timeout(Duration::from_secs(5))
                .await
        }
    });
    Arc::new(router)
}

/// Calls `relay(x)` on A from a fresh client, inside a span of its own.
async fn relay_through(a: &dotrpc::Server, x: i64) -> Result<i64, Error> {
    let client = Peer::builder().connect(support::addr(a)).await.unwrap();
    agreed(&client).await;
    let call = async {
        client
            .call::<i64>("relay", (x,))
            .timeout(Duration::from_secs(5))
            .await
    };
    let outcome = bounded(tracing::Instrument::instrument(
        call,
        tracing::info_span!("request"),
    ))
    .await;
    client.close();
    outcome
}

/// Waits (bounded) for the other side's `rpc.hello`: calls sent before it
/// arrives carry no call metadata, as the other side might be a foreign
/// peer.
async fn agreed(peer: &Peer) {
    bounded(async {
        while !peer.speaks_dotrpc() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
}

/// The five spans of one relayed call, checked for one trace and the
/// right parents: request → client's rpc.call → A's rpc.handle → A's
/// rpc.call → B's rpc.handle.
async fn assert_one_trace(traces: &Traces, b_path: &str) -> [SpanData; 5] {
    traces.ended(5).await;
    let request = traces.span("request", SpanKind::Internal);
    let client_call = traces.span("relay", SpanKind::Client);
    let a_handle = traces.span("relay", SpanKind::Server);
    let a_call = traces.span(b_path, SpanKind::Client);
    let b_handle = traces.span(b_path, SpanKind::Server);
    let trace_id = request.span_context.trace_id();
    for span in [&client_call, &a_handle, &a_call, &b_handle] {
        assert_eq!(span.span_context.trace_id(), trace_id, "{}", span.name);
    }
    let parent = |child: &SpanData, parent: &SpanData, remote: bool| {
        assert_eq!(
            (child.parent_span_id, child.parent_span_is_remote),
            (parent.span_context.span_id(), remote),
            "{} {:?} is a child of {} {:?}",
            child.name,
            child.span_kind,
            parent.name,
            parent.span_kind
        );
    };
    parent(&client_call, &request, false);
    parent(&a_handle, &client_call, true);
    parent(&a_call, &a_handle, false);
    parent(&b_handle, &a_call, true);
    [request, client_call, a_handle, a_call, b_handle]
}

/// A and B over TCP, A connected to B.
struct TcpChain {
    a: dotrpc::Server,
    b: dotrpc::Server,
    to_b: Peer,
}

impl TcpChain {
    async fn start() -> TcpChain {
        let b = tcp_server(b_router()).await;
        let to_b = Peer::builder().connect(support::addr(&b)).await.unwrap();
        agreed(&to_b).await;
        let a = tcp_server(a_router(to_b.clone())).await;
        TcpChain { a, b, to_b }
    }

    async fn stop(self) {
        self.to_b.close();
        self.a.shutdown(Duration::from_secs(1)).await;
        self.b.shutdown(Duration::from_secs(1)).await;
    }
}

#[tokio::test]
async fn one_trace_follows_a_call_from_a_client_through_a_to_b_over_tcp() {
    let traces = otel::capture();
    let chain = TcpChain::start().await;
    let a = &chain.a;

    assert_eq!(relay_through(a, 21).await.unwrap(), 42);
    let [_, client_call, a_handle, _, b_handle] = assert_one_trace(&traces, "stats.double").await;

    for (span, system) in [(&client_call, "dotrpc"), (&b_handle, "dotrpc")] {
        assert_eq!(attribute(span, "rpc.system").as_deref(), Some(system));
    }
    assert_eq!(
        attribute(&b_handle, "rpc.service").as_deref(),
        Some("stats")
    );
    assert_eq!(
        attribute(&b_handle, "rpc.method").as_deref(),
        Some("double")
    );
    assert_eq!(
        attribute(&a_handle, "rpc.service"),
        None,
        "a top-level method"
    );
    assert_eq!(attribute(&a_handle, "rpc.method").as_deref(), Some("relay"));
    assert_eq!(b_handle.status, Status::Unset);

    chain.stop().await;
}

#[tokio::test]
async fn a_failing_call_marks_every_span_on_its_way_back_as_an_error() {
    let traces = otel::capture();
    let chain = TcpChain::start().await;
    let a = &chain.a;

    let error = relay_through(a, -1).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Remote);
    let [request, client_call, a_handle, a_call, b_handle] =
        assert_one_trace(&traces, "stats.double").await;
    assert_eq!(
        b_handle.status,
        Status::error("-1 is negative"),
        "the server's span says how"
    );
    for span in [&client_call, &a_handle, &a_call, &b_handle] {
        assert!(
            matches!(span.status, Status::Error { .. }),
            "{} {:?}: {:?}",
            span.name,
            span.span_kind,
            span.status
        );
        assert_eq!(
            attribute(span, "error.type").as_deref(),
            Some("Application")
        );
    }
    assert_eq!(
        request.status,
        Status::Unset,
        "the caller's own span is its own"
    );

    chain.stop().await;
}

#[tokio::test]
async fn one_trace_follows_a_call_from_a_client_through_a_to_b_over_nats() {
    let Some(nats) = support::nats::NatsServer::start() else {
        return;
    };
    let traces = otel::capture();
    let b = NatsService::builder(Peer::builder().router(b_router()), "b")
        .start(&nats.url)
        .await
        .unwrap();
    let to_b = Peer::builder().connect_nats(&nats.url, "b").await.unwrap();
    let a = tcp_server(a_router(to_b.clone())).await;

    let (snapshotter, _recording) = record_metrics();
    assert_eq!(relay_through(&a, 4).await.unwrap(), 8);
    assert_one_trace(&traces, "stats.double").await;

    // A request no handler sees (its body is not a params array) is
    // counted like the others, as $SRV.STATS counts it.
    let nats_client = dotrpc_nats::async_nats::connect(&nats.url).await.unwrap();
    let refused = bounded(nats_client.request("b.stats.double", vec![0xc1].into()))
        .await
        .unwrap();
    assert!(refused.headers.is_some(), "an error reply");
    let recorded = snapshotter.snapshot().into_vec();
    let finished = dotrpc::observe::names::SERVER_FINISHED;
    for (outcome, n) in [("ok", 2), ("InvalidParams", 1)] {
        // Two answered: A's `relay` and B's `stats.double`.
        let labels = [("outcome", outcome)];
        assert_eq!(counter(&recorded, finished, &labels), n, "{outcome}");
    }
    // B's instance reports the same numbers in $SRV.STATS.
    let stats = bounded(nats_client.request("$SRV.STATS.b", "".into()))
        .await
        .unwrap();
    let stats: serde_json::Value = serde_json::from_slice(&stats.payload).unwrap();
    let double = stats["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|endpoint| endpoint["name"] == "stats.double")
        .unwrap();
    let counted = |labels: &[(&str, &str)]| counter(&recorded, finished, labels);
    let on_b = [("method", "stats.double")];
    assert_eq!(double["num_requests"], counted(&on_b));
    let failed_on_b = [("method", "stats.double"), ("outcome", "InvalidParams")];
    assert_eq!(double["num_errors"], counted(&failed_on_b));
    assert_eq!(
        (
            double["num_requests"].as_u64(),
            double["num_errors"].as_u64()
        ),
        (Some(2), Some(1))
    );

    to_b.close();
    a.shutdown(Duration::from_secs(1)).await;
    b.drain(Duration::from_secs(1)).await;
}

/// How `ping` is called.
#[derive(Debug, Clone, Copy)]
enum Mode {
    Call,
    /// An upload with no items.
    Upload,
    /// A stream call, ended with no items.
    Stream,
}

/// The request a dotrpc peer (a raw socket that answers the client's hello)
/// receives for `ping()` made in `mode`, with spans recorded or not.
async fn request_received(traced: bool, mode: Mode) -> Vec<dotrpc::Value> {
    use tokio::io::AsyncWriteExt;
    let _serial = (!traced).then(otel::serial);
    let traces = traced.then(otel::capture);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = Peer::builder()
        .connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (mut socket, _) = bounded(listener.accept()).await.unwrap();
    // The client's hello, which lists `trace`, sent back as this peer's.
    let hello = support::read_messages(&mut socket, 1).await.remove(0);
    assert!(hello.to_string().contains("trace"), "{hello}");
    let mut bytes = Vec::new();
    rmpv::encode::write_value(&mut bytes, &hello).unwrap();
    socket.write_all(&bytes).await.unwrap();
    agreed(&client).await;

    let call = match mode {
        Mode::Call => tokio::spawn(client.call::<()>("ping", ()).into_future()),
        Mode::Upload => tokio::spawn(client.upload::<i64, ()>("ping", ()).finish()),
        Mode::Stream => {
            let mut items = client.stream::<i64>("ping", ());
            tokio::spawn(async move { items.next().await.transpose().map(|_| ()) })
        }
    };
    let request = support::read_messages(&mut socket, 1).await.remove(0);
    let msgid = request[1].clone();
    let mut bytes = Vec::new();
    let response = dotrpc::Value::Array(vec![
        1.into(),
        msgid,
        dotrpc::Value::Nil,
        dotrpc::Value::Nil,
    ]);
    rmpv::encode::write_value(&mut bytes, &response).unwrap();
    socket.write_all(&bytes).await.unwrap();
    bounded(call).await.unwrap().unwrap();
    client.close();
    if let Some(traces) = traces {
        let sent = traces.span("ping", SpanKind::Client).span_context;
        let metadata = &request.as_array().unwrap()[4];
        assert_eq!(
            metadata["traceparent"].as_str(),
            Some(format!("00-{}-{}-01", sent.trace_id(), sent.span_id()).as_str()),
            "the traceparent names the caller's span"
        );
    }
    request.as_array().unwrap().clone()
}

#[tokio::test]
async fn trace_context_is_sent_only_when_a_span_is_recorded() {
    let untraced = request_received(false, Mode::Call).await;
    assert_eq!(untraced.len(), 4, "no metadata: {untraced:?}");
    let traced = request_received(true, Mode::Call).await;
    assert_eq!(traced.len(), 5, "{traced:?}");
    let keys: Vec<_> = traced[4]
        .as_map()
        .unwrap()
        .iter()
        .map(|(key, _)| key.as_str().unwrap())
        .collect();
    assert_eq!(keys, ["traceparent"], "no deadline was set, no tracestate");
}

/// Uploads and streams carry the trace context as a call does (beside the
/// credit that marks them as stream calls): every mode sends the same way.
#[tokio::test]
async fn uploads_and_streams_carry_the_trace_context() {
    let keys = |request: &[dotrpc::Value]| -> Vec<String> {
        let mut keys: Vec<String> = request[4]
            .as_map()
            .unwrap()
            .iter()
            .map(|(key, _)| key.as_str().unwrap().to_owned())
            .collect();
        keys.sort();
        keys
    };
    for mode in [Mode::Upload, Mode::Stream] {
        let untraced = request_received(false, mode).await;
        assert_eq!(keys(&untraced), ["credit"], "{mode:?}: {untraced:?}");
        let traced = request_received(true, mode).await;
        assert_eq!(
            keys(&traced),
            ["credit", "traceparent"],
            "{mode:?}: {traced:?}"
        );
    }
}

/// A `metrics` recorder for this thread. Never freed: dotrpc keeps each
/// method's handles by the address of the recorder they came from, which a
/// recorder freed by an earlier test could share.
fn record_metrics() -> (Snapshotter, metrics::LocalRecorderGuard<'static>) {
    let recorder: &'static DebuggingRecorder = Box::leak(Box::new(DebuggingRecorder::new()));
    (
        recorder.snapshotter(),
        metrics::set_default_local_recorder(recorder),
    )
}

type Recorded = Vec<(
    metrics_util::CompositeKey,
    Option<metrics::Unit>,
    Option<metrics::SharedString>,
    DebugValue,
)>;

/// What was recorded, summed over the metrics called `name` that have
/// `labels` (a histogram counts its samples).
fn counter(recorded: &Recorded, name: &str, labels: &[(&str, &str)]) -> u64 {
    recorded
        .iter()
        .filter(|(key, _, _, _)| {
            let key = key.key();
            key.name() == name
                && labels.iter().all(|(k, v)| {
                    key.labels()
                        .any(|label| label.key() == *k && label.value() == *v)
                })
        })
        .map(|(_, _, _, value)| match value {
            DebugValue::Counter(n) => *n,
            DebugValue::Histogram(values) => values.len() as u64,
            DebugValue::Gauge(value) => value.into_inner() as u64,
        })
        .sum()
}

#[tokio::test]
async fn each_side_counts_its_calls_by_method_and_outcome() {
    use dotrpc::observe::names;
    let _serial = otel::serial();
    let (snapshotter, _recording) = record_metrics();

    let router = b_router();
    router.set_handler("slow", || async {
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let b = tcp_server(router).await;
    let client = Peer::builder().connect(support::addr(&b)).await.unwrap();
    for x in [1, 2, 3, -1] {
        let _ = bounded(client.call::<i64>("stats.double", (x,))).await;
    }
    let timed_out = client
        .call::<()>("slow", ())
        .timeout(Duration::from_millis(50))
        .await;
    assert_eq!(timed_out.unwrap_err().kind(), ErrorKind::Timeout);
    // Given up on by dropping it, with no timeout of its own.
    let dropped = tokio::time::timeout(
        Duration::from_millis(50),
        client.call::<()>("slow", ()).into_future(),
    );
    assert!(dropped.await.is_err());
    let unknown = bounded(client.call::<()>("nobody.home", ())).await;
    assert_eq!(unknown.unwrap_err().kind(), ErrorKind::UnknownApi);
    client.close();
    bounded(client.closed()).await;
    b.shutdown(Duration::from_secs(1)).await;

    let recorded = snapshotter.snapshot().into_vec();
    let double = [("method", "stats.double")];
    for (started, finished, duration) in [
        (
            names::CLIENT_STARTED,
            names::CLIENT_FINISHED,
            names::CLIENT_DURATION,
        ),
        (
            names::SERVER_STARTED,
            names::SERVER_FINISHED,
            names::SERVER_DURATION,
        ),
    ] {
        assert_eq!(counter(&recorded, started, &double), 4, "{started}");
        let ok = [("method", "stats.double"), ("outcome", "ok")];
        let failed = [("method", "stats.double"), ("outcome", "Application")];
        assert_eq!(counter(&recorded, finished, &ok), 3, "{finished}");
        assert_eq!(counter(&recorded, finished, &failed), 1, "{finished}");
        assert_eq!(counter(&recorded, duration, &double), 4, "{duration}");
        let unknown = [("method", "nobody.home"), ("outcome", "UnknownApi")];
        assert_eq!(counter(&recorded, finished, &unknown), 1, "{finished}");
    }
    // The caller saw one timeout and dropped one call. The timeout also
    // travelled as the handler's deadline: the handler stops at it, or at
    // the caller's cancel, whichever comes first; the dropped call was
    // cancelled.
    let slow =
        |side, outcome| counter(&recorded, side, &[("method", "slow"), ("outcome", outcome)]);
    assert_eq!(slow(names::CLIENT_FINISHED, "Timeout"), 1);
    assert_eq!(slow(names::CLIENT_FINISHED, "Cancelled"), 1);
    let server = (
        slow(names::SERVER_FINISHED, "Timeout"),
        slow(names::SERVER_FINISHED, "Cancelled"),
    );
    assert!(server == (1, 1) || server == (0, 2), "{server:?}");
    for in_flight in [names::CLIENT_IN_FLIGHT, names::SERVER_IN_FLIGHT] {
        assert_eq!(counter(&recorded, in_flight, &[]), 0, "{in_flight}");
    }
    assert!(counter(&recorded, names::BYTES_SENT, &[]) > 0);
    assert!(counter(&recorded, names::BYTES_RECEIVED, &[]) > 0);
    // Two connections (the client's and the server's end), each recorded
    // once as it closed.
    assert_eq!(counter(&recorded, names::CONNECTION_BYTES_SENT, &[]), 2);
    support::no_tasks_left().await;
}

/// Streams both ways are calls to the metrics: a stream of answers, read to
/// its end or dropped, and an upload, finished or dropped unfinished.
#[tokio::test]
async fn stream_calls_are_counted_as_calls_are() {
    use dotrpc::observe::names;
    let _serial = otel::serial();
    let (snapshotter, _recording) = record_metrics();

    let router = Arc::new(Router::new());
    router.set_handler("ping", || async {});
    router.set_handler("feed", |ctx: dotrpc::CallContext, n: u64| async move {
        let mut items = ctx.stream::<u64>()?;
        for i in 0..n {
            items.send(&i).await?;
        }
        Ok::<(), Error>(())
    });
    router.set_handler("sum", |ctx: dotrpc::CallContext| async move {
        let mut items = ctx.receive::<i64>(4)?;
        let mut total = 0;
        while let Some(item) = items.next().await {
            total += item?;
        }
        Ok::<i64, Error>(total)
    });
    let b = tcp_server(router).await;
    let client = Peer::builder().connect(support::addr(&b)).await.unwrap();
    let mut whole = client.stream::<u64>("feed", (3,));
    while let Some(item) = bounded(whole.next()).await {
        item.unwrap();
    }
    let mut dropped = client.stream::<u64>("feed", (1_000_000,)).window(2);
    bounded(dropped.next()).await.unwrap().unwrap();
    drop(dropped);
    let mut sum = client.upload::<i64, i64>("sum", ());
    bounded(sum.send(&2)).await.unwrap();
    assert_eq!(bounded(sum.finish()).await.unwrap(), 2);
    let mut unfinished = client.upload::<i64, i64>("sum", ());
    bounded(unfinished.send(&2)).await.unwrap();
    drop(unfinished);
    // Answered after the cancel was read (in order on one connection), so
    // the server counts the cancel before it shuts down.
    bounded(client.call::<()>("ping", ())).await.unwrap();
    client.close();
    bounded(client.closed()).await;
    b.shutdown(Duration::from_secs(1)).await;

    let recorded = snapshotter.snapshot().into_vec();
    for finished in [names::CLIENT_FINISHED, names::SERVER_FINISHED] {
        for method in ["feed", "sum"] {
            let outcome = |outcome| {
                counter(
                    &recorded,
                    finished,
                    &[("method", method), ("outcome", outcome)],
                )
            };
            assert_eq!(
                (outcome("ok"), outcome("Cancelled")),
                (1, 1),
                "{finished} {method}"
            );
        }
    }
    for in_flight in [names::CLIENT_IN_FLIGHT, names::SERVER_IN_FLIGHT] {
        assert_eq!(counter(&recorded, in_flight, &[]), 0, "{in_flight}");
    }
    support::no_tasks_left().await;
}

#[test]
fn calls_waited_on_or_given_a_callback_are_children_of_the_callers_span() {
    let traces = otel::capture();
    let runtime = dotrpc::runtime::BackgroundRuntime::new().unwrap();
    let server = runtime.block_on(tcp_server(b_router()));
    let client = runtime
        .block_on(Peer::builder().connect(support::addr(&server)))
        .unwrap();
    let request = tracing::info_span!("request");
    let request_context = {
        use opentelemetry::trace::TraceContextExt;
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        request.context().span().span_context().clone()
    };
    request.in_scope(|| {
        let doubled = client.call::<i64>("stats.double", (2,)).wait();
        assert_eq!(doubled.unwrap(), 4);
        let (sender, receiver) = std::sync::mpsc::channel();
        client
            .call::<i64>("stats.double", (3,))
            .callback(move |outcome| sender.send(outcome).unwrap());
        assert_eq!(receiver.recv_timeout(support::LIMIT).unwrap().unwrap(), 6);
    });
    drop(request);

    // This thread's subscriber sees the spans made on it: the calls' spans
    // are, and end on the runtime's thread once the calls are done. (Not
    // `request`: the runtime's thread, which has no subscriber of its own,
    // cannot tell this one that the last child of `request` is gone.)
    let started = std::time::Instant::now();
    while traces.spans().len() < 2 && started.elapsed() < support::LIMIT {
        std::thread::sleep(Duration::from_millis(2));
    }
    let calls: Vec<SpanData> = traces
        .spans()
        .into_iter()
        .filter(|span| span.span_kind == SpanKind::Client)
        .collect();
    assert_eq!(calls.len(), 2, "both calls' spans were recorded");
    for call in &calls {
        assert_eq!(call.parent_span_id, request_context.span_id());
        assert_eq!(call.span_context.trace_id(), request_context.trace_id());
    }
    client.close();
    runtime.block_on(server.shutdown(Duration::from_secs(1)));
}
