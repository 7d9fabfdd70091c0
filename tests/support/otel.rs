//! OpenTelemetry spans, captured in memory for the thread that asks: what
//! the observability tests read traces from.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing_subscriber::layer::SubscriberExt;

/// Spans recorded while this lives, on this thread (a test on a
/// current-thread runtime: every task of it).
pub struct Traces {
    exporter: InMemorySpanExporter,
    _provider: SdkTracerProvider,
    _guard: tracing::subscriber::DefaultGuard,
    /// Dropped last.
    _serial: Serial,
}

/// A turn of the tests that record spans or metrics; see [`serial`]. Held
/// for a whole test, which has its thread to itself: nothing on that
/// thread ever waits for it.
pub struct Serial(#[allow(dead_code)] std::sync::MutexGuard<'static, ()>);

/// Holds off the other tests of this binary that record spans or metrics
/// for the current thread. `tracing` caches whether each call site is
/// enabled across threads, and a subscriber set for one thread while
/// another thread first reaches a call site can be missed (the spans of
/// that test are then never made).
pub fn serial() -> Serial {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    Serial(
        SERIAL
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()),
    )
}

/// Starts recording every `INFO` span as an OpenTelemetry span.
pub fn capture() -> Traces {
    let serial = serial();
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("dotrpc-tests")))
        .with(tracing_subscriber::filter::LevelFilter::INFO);
    let guard = tracing::subscriber::set_default(subscriber);
    Traces {
        exporter,
        _provider: provider,
        _guard: guard,
        _serial: serial,
    }
}

impl Traces {
    /// The spans that ended so far, in the order they ended.
    pub fn spans(&self) -> Vec<SpanData> {
        self.exporter.get_finished_spans().unwrap()
    }

    /// Waits (bounded) until at least `n` spans ended: a span ends when
    /// the last of its handles is dropped, which for a handler's span may
    /// come just after its reply went out.
    pub async fn ended(&self, n: usize) {
        let waited = tokio::time::timeout(super::LIMIT, async {
            while self.spans().len() < n {
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
        })
        .await;
        assert!(
            waited.is_ok(),
            "{n} spans did not end: {:#?}",
            names(&self.spans())
        );
    }

    /// The one ended span called `name` of `kind`.
    pub fn span(&self, name: &str, kind: opentelemetry::trace::SpanKind) -> SpanData {
        let spans = self.spans();
        let mut found = spans
            .iter()
            .filter(|s| s.name == name && s.span_kind == kind);
        let span = found
            .next()
            .unwrap_or_else(|| panic!("no {kind:?} span {name} in {:#?}", names(&spans)));
        assert!(found.next().is_none(), "one {kind:?} span {name}");
        span.clone()
    }
}

fn names(spans: &[SpanData]) -> Vec<String> {
    spans
        .iter()
        .map(|s| format!("{} {:?}", s.name, s.span_kind))
        .collect()
}

/// A span's attribute, as text.
pub fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}
