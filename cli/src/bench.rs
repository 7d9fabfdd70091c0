//! `dotrpc bench`: a load generator for one method.
//!
//! `--connections` connections share `--concurrency` callers, each making one
//! call at a time, for a warm-up and then `--duration` seconds. A progress
//! line updates every second; the report gives throughput, errors by kind,
//! percentiles and a histogram.

use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use dotrpc::{Router, Value};

use crate::histogram::Histogram;
use crate::{CallArgs, Failure};

/// Options of `dotrpc bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    #[command(flatten)]
    call: CallArgs,
    /// Calls in flight at once, spread over the connections.
    #[arg(long, short = 'c', default_value_t = 16)]
    concurrency: usize,
    /// Connections to open.
    #[arg(long, default_value_t = 1)]
    connections: usize,
    /// Seconds to measure for, after the warm-up.
    #[arg(long, short = 'd', default_value_t = 5.0, value_name = "SECONDS")]
    duration: f64,
    /// Seconds of calls before measuring starts.
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    warmup: f64,
    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// What the callers share while they run.
#[derive(Debug, Default)]
struct Progress {
    measuring: AtomicBool,
    stop: AtomicBool,
    calls: AtomicU64,
    errors: AtomicU64,
}

/// What one caller measured.
#[derive(Debug, Default)]
struct Tally {
    latencies: Histogram,
    errors: BTreeMap<String, u64>,
    first_error: Option<String>,
}

fn seconds(name: &str, secs: f64, allow_zero: bool) -> Result<Duration, Failure> {
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| allow_zero || !d.is_zero())
        .ok_or_else(|| Failure::usage(format!("--{name} {secs} is not a valid number of seconds")))
}

pub(crate) async fn run(args: BenchArgs) -> Result<(), Failure> {
    let duration = seconds("duration", args.duration, false)?;
    let warmup = seconds("warmup", args.warmup, true)?;
    if args.concurrency == 0 || args.connections == 0 {
        return Err(Failure::usage(
            "--concurrency and --connections must be at least 1",
        ));
    }
    if args.connections > args.concurrency {
        return Err(Failure::usage("--connections cannot exceed --concurrency"));
    }
    let params: Arc<Vec<Value>> = Arc::new(args.call.params()?);
    let timeout = args.call.connect.timeout()?;
    let path: Arc<str> = args.call.path.as_str().into();

    let mut connections = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        let (_, connection) = args.call.connect.connect(Arc::new(Router::new())).await?;
        connections.push(connection);
    }
    // One call first, so a wrong path or params fail fast and clearly.
    if let Err(error) = connections[0]
        .peer
        .call::<Value>(&path, &*params)
        .timeout(timeout)
        .await
    {
        for connection in connections {
            connection.close().await;
        }
        return Err(Failure::call(&path, &error));
    }

    let progress = Arc::new(Progress::default());
    let callers: Vec<_> = (0..args.concurrency)
        .map(|i| {
            let peer = connections[i % connections.len()].peer.clone();
            let (progress, path, params) = (progress.clone(), path.clone(), params.clone());
            tokio::spawn(async move {
                let mut tally = Tally::default();
                while !progress.stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let outcome = peer.call::<Value>(&path, &*params).timeout(timeout).await;
                    if !progress.measuring.load(Ordering::Relaxed) {
                        continue;
                    }
                    match outcome {
                        Ok(_) => {
                            tally.latencies.record(started.elapsed());
                            progress.calls.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(error) => {
                            progress.errors.fetch_add(1, Ordering::Relaxed);
                            *tally
                                .errors
                                .entry(format!("{:?}", error.kind()))
                                .or_default() += 1;
                            tally.first_error.get_or_insert_with(|| error.to_string());
                        }
                    }
                }
                tally
            })
        })
        .collect();

    tokio::time::sleep(warmup).await;
    progress.measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    show_progress(&progress, started, duration).await;
    progress.stop.store(true, Ordering::Relaxed);
    progress.measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed();

    let mut total = Tally::default();
    for caller in callers {
        let tally = caller
            .await
            .map_err(|e| Failure::usage(format!("a caller failed: {e}")))?;
        total.latencies.merge(&tally.latencies);
        for (kind, count) in tally.errors {
            *total.errors.entry(kind).or_default() += count;
        }
        if total.first_error.is_none() {
            total.first_error = tally.first_error;
        }
    }
    for connection in connections {
        connection.close().await;
    }
    if args.json {
        println!("{}", report_json(&args, &total, elapsed));
    } else {
        print!("{}", report_text(&args, &total, elapsed));
    }
    Ok(())
}

/// Prints the calls made so far once a second until the run is over.
async fn show_progress(progress: &Progress, started: Instant, duration: Duration) {
    let live = std::io::stderr().is_terminal();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut last = 0;
    let end = tokio::time::Instant::now() + duration;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = tokio::time::sleep_until(end) => break,
        }
        let calls = progress.calls.load(Ordering::Relaxed);
        let line = format!(
            "{:5.1} s  {calls:>10} calls  {:>9} calls/s  {} errors",
            started.elapsed().as_secs_f64(),
            calls - last,
            progress.errors.load(Ordering::Relaxed),
        );
        last = calls;
        let mut stderr = std::io::stderr().lock();
        let _ = if live {
            write!(stderr, "\r{line}")
        } else {
            writeln!(stderr, "{line}")
        };
    }
    if live {
        eprintln!();
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

const QUANTILES: [(&str, f64); 5] = [
    ("p50", 0.5),
    ("p90", 0.9),
    ("p99", 0.99),
    ("p99.9", 0.999),
    ("p99.99", 0.9999),
];

fn report_text(args: &BenchArgs, tally: &Tally, elapsed: Duration) -> String {
    use std::fmt::Write as _;
    let h = &tally.latencies;
    let mut out = String::new();
    let rate = h.count() as f64 / elapsed.as_secs_f64();
    let _ = writeln!(
        out,
        "{} on {} connection(s), {} in flight, {:.1} s: {} calls, {rate:.0} calls/s",
        args.call.path,
        args.connections,
        args.concurrency,
        elapsed.as_secs_f64(),
        h.count()
    );
    let errors: u64 = tally.errors.values().sum();
    if errors > 0 {
        let kinds: Vec<String> = tally
            .errors
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let _ = writeln!(out, "errors: {errors} ({})", kinds.join(", "));
        if let Some(first) = &tally.first_error {
            let _ = writeln!(out, "first error: {first}");
        }
    }
    if h.count() == 0 {
        return out;
    }
    let _ = write!(out, "latency µs: min {:.1}", micros(h.min()));
    for (name, q) in QUANTILES {
        let _ = write!(out, "  {name} {:.1}", micros(h.quantile(q)));
    }
    let _ = writeln!(out, "  max {:.1}", micros(h.max()));
    let rows = h.rows();
    let widest = rows.iter().map(|r| r.2).max().unwrap_or(1);
    for (from, to, count) in rows {
        let bar = "#".repeat(((count * 40).div_ceil(widest)) as usize);
        let _ = writeln!(
            out,
            "  {:>8} - {:<8} µs {count:>10}  {bar}",
            micros(from),
            micros(to)
        );
    }
    out
}

fn report_json(args: &BenchArgs, tally: &Tally, elapsed: Duration) -> serde_json::Value {
    let h = &tally.latencies;
    let mut latency = serde_json::Map::new();
    latency.insert("min".into(), micros(h.min()).into());
    for (name, q) in QUANTILES {
        latency.insert(name.into(), micros(h.quantile(q)).into());
    }
    latency.insert("max".into(), micros(h.max()).into());
    serde_json::json!({
        "path": args.call.path,
        "connections": args.connections,
        "concurrency": args.concurrency,
        "seconds": elapsed.as_secs_f64(),
        "calls": h.count(),
        "calls_per_second": h.count() as f64 / elapsed.as_secs_f64(),
        "errors": tally.errors,
        "latency_us": latency,
    })
}
