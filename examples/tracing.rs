//! One trace across three processes' worth of peers: a client calls A, and
//! A's handler calls B; each call's span is a child of the one before, over
//! the wire. Over TCP by default; with `--nats nats://127.0.0.1:4222`, A
//! calls B over NATS.
//!
//! The spans go to OpenTelemetry through `tracing-opentelemetry` (dotrpc's
//! `otel` feature), and here to an in-memory exporter, printed at the end.
//! An application would install an OTLP or stdout exporter instead.
//!
//! ```text
//! cargo run --example tracing [-- --nats nats://127.0.0.1:4222]
//! ```

use std::sync::Arc;
use std::time::Duration;

use dotrpc::{Peer, Router, Server};
use dotrpc_nats::{ConnectNats, NatsService};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

#[tokio::main]
async fn main() -> dotrpc::Result<()> {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("example")))
        .with(tracing_subscriber::filter::LevelFilter::INFO);
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");

    // B: the last hop.
    let b = Router::new();
    b.set_handler("stats.double", |x: i64| async move { x * 2 });
    let b = Peer::builder().router(Arc::new(b));
    let nats = std::env::args().skip_while(|arg| arg != "--nats").nth(1);
    let (to_b, b_server, b_service) = match &nats {
        Some(url) => {
            let service = NatsService::builder(b, "b").start(url).await?;
            let to_b = Peer::builder().connect_nats(url, "b").await?;
            (to_b, None, Some(service))
        }
        None => {
            let server = Server::builder(b).bind("127.0.0.1:0").await?;
            let addr = server.local_addr().as_tcp().expect("TCP");
            let to_b = Peer::builder().connect(addr).await?;
            (to_b, Some(server), None)
        }
    };

    // A: the middle hop, which asks B.
    let a = Router::new();
    let b_client = to_b.clone();
    a.set_handler("relay", move |x: i64| {
        let b = b_client.clone();
        async move { b.call::<i64>("stats.double", (x,)).await }
    });
    let a = Server::builder(Peer::builder().router(Arc::new(a)))
        .bind("127.0.0.1:0")
        .await?;

    // The client. Trace context goes only to a peer that said it takes it
    // (its `rpc.hello`): wait for that before the first call.
    let client = Peer::builder()
        .connect(a.local_addr().as_tcp().expect("TCP"))
        .await?;
    for peer in [&client, &to_b] {
        while !peer.speaks_dotrpc() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    // The call's span is made where the call is awaited: inside `request`.
    let answer = async { client.call::<i64>("relay", (21,)).await }
        .instrument(tracing::info_span!("request"))
        .await?;
    println!("relay(21) = {answer}");

    client.close();
    to_b.close();
    a.shutdown(Duration::from_secs(1)).await;
    if let Some(server) = b_server {
        server.shutdown(Duration::from_secs(1)).await;
    }
    if let Some(service) = b_service {
        service.drain(Duration::from_secs(1)).await;
    }

    // Spans end as their last handle goes; give the handlers' a moment.
    let mut spans = Vec::new();
    for _ in 0..100 {
        spans = exporter.get_finished_spans().expect("spans");
        if spans.len() >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    spans.sort_by_key(|span| span.start_time);
    println!(
        "{:<14} {:<8} {:<32} {:<16} parent",
        "span", "kind", "trace id", "span id"
    );
    for span in &spans {
        println!(
            "{:<14} {:<8} {:<32} {:<16} {}",
            span.name,
            format!("{:?}", span.span_kind),
            span.span_context.trace_id(),
            span.span_context.span_id(),
            span.parent_span_id
        );
    }
    let traces: std::collections::HashSet<_> = spans
        .iter()
        .map(|span| span.span_context.trace_id())
        .collect();
    assert_eq!((spans.len(), traces.len()), (5, 1), "five spans, one trace");
    println!("one trace id across {} spans", spans.len());
    Ok(())
}
