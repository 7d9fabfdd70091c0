//! `dotrpc-bench nats`: what serving over NATS costs and what it buys, on a
//! real nats-server (installed by `scripts/nats-server.sh`) on 127.0.0.1.
//!
//! * **hop**: sequential `add` calls to one instance process, over direct
//!   TCP and over NATS (client → broker → instance → broker → client), in
//!   alternating runs; the ratio of the medians is the price of the hop.
//!   Beside them, the same call as plain async-nats request and reply (a
//!   subscriber in the instance that decodes, adds and answers): the floor
//!   any NATS RPC has on this machine, so what dotrpc adds is visible.
//! * **stream**: one stream of `STREAM_ITEMS` integers from one instance
//!   (window `STREAM_WINDOW`), over direct TCP and over NATS, beside plain
//!   async-nats: a subscriber in the instance that publishes as many
//!   integers to the requester's inbox as fast as it can, with no flow
//!   control or numbering (the floor of any stream over NATS; what the
//!   subscriber could not take in time is lost, and counted).
//! * **scale**: throughput of `work` (a handler that waits 2 ms, work that
//!   needs no CPU here) with 1, 2 and 4 instance processes in one queue
//!   group, each taking `HANDLERS_PER_INSTANCE` calls at once, under more
//!   callers than all of them take; the target is at least 0.85 × N of one
//!   instance's throughput at N = 2 and 4.
//! * **rolling**: a deploy under load. Three instances serve
//!   `ROLLING_CALLERS` callers (`work` in a loop) and `ROLLING_STREAMS`
//!   consumers of slow streams (`ticks`); one instance at a time is drained
//!   and replaced, `ROLLING_RESTARTS` times. Every call must succeed; a
//!   stream whose instance leaves ends early, by kind, and is counted so.
//!
//! ```text
//! cargo run --release -p dotrpc-bench -- nats [--quick] [--json FILE]
//! ```

use std::io::{BufRead, BufReader, Write as _};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dotrpc::Peer;
use dotrpc_nats::{ConnectNats, NatsService};

use crate::workload::Measurement;

/// The subject prefix the instances serve under.
const PREFIX: &str = "bench";
/// Calls one instance handles at once (`max_concurrent_handlers`).
const HANDLERS_PER_INSTANCE: usize = 4;
/// How long `work` waits.
const WORK: Duration = Duration::from_millis(2);
/// Callers in the scale runs: more than 4 instances take at once.
const CALLERS: usize = 64;
/// The items of one stream run, and the room the consumer grants.
const STREAM_ITEMS: u64 = 100_000;
const STREAM_WINDOW: u32 = 1024;
/// The rolling restart: callers in a loop, stream consumers, restarts.
const ROLLING_CALLERS: usize = 28;
const ROLLING_STREAMS: usize = 4;
const ROLLING_RESTARTS: usize = 10;
/// A `ticks` stream of the rolling restart: items, and the pause between.
const TICKS: u64 = 50;
const TICK_EVERY_MS: u64 = 10;

/// A nats-server on a free port; killed when dropped.
struct Broker {
    child: Child,
    dir: PathBuf,
    url: String,
}

impl Broker {
    fn start() -> Result<Broker, String> {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/nats-server.sh");
        let out = Command::new(script)
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("{script}: {e}"))?;
        if !out.status.success() {
            return Err(format!("{script} could not install nats-server"));
        }
        let binary = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let dir = std::env::temp_dir().join(format!("dotrpc-bench-nats-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let child = Command::new(&binary)
            .args(["-a", "127.0.0.1", "-p", "-1", "--ports_file_dir"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {binary}: {e}"))?;
        let ports = dir.join(format!("nats-server_{}.ports", child.id()));
        let started = Instant::now();
        let url = loop {
            let text = std::fs::read_to_string(&ports).unwrap_or_default();
            if let Some(at) = text.find("nats://") {
                break text[at..].chars().take_while(|c| *c != '"').collect();
            }
            if started.elapsed() > Duration::from_secs(10) {
                return Err("nats-server did not start".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Ok(Broker { child, dir, url })
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One instance process (`dotrpc-bench nats-serve URL`); ends when its
/// stdin closes, killed if it lingers.
struct Instance {
    child: Child,
    tcp_port: u16,
}

impl Instance {
    fn start(url: &str) -> Result<Instance, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = Command::new(exe)
            .args(["nats-serve", url])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start an instance: {e}"))?;
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        stdout.read_line(&mut line).map_err(|e| e.to_string())?;
        let tcp_port = line
            .trim()
            .strip_prefix("LISTENING ")
            .and_then(|port| port.parse().ok())
            .ok_or_else(|| format!("the instance said {line:?}"))?;
        Ok(Instance { child, tcp_port })
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `dotrpc-bench nats-serve URL`: serves `add` and `work` on NATS (prefix
/// `bench`) and on TCP; prints `LISTENING PORT` once both are up; drains
/// and exits when stdin closes.
pub(crate) fn serve_main(args: &[String]) -> Result<(), String> {
    let url = args.first().ok_or("nats-serve needs a URL")?.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let router = Arc::new(dotrpc::Router::new());
        router
            .set_handler("add", |a: i64, b: i64| async move { a + b })
            .set_handler("work", || async {
                tokio::time::sleep(WORK).await;
            })
            .set_handler("count", |ctx: dotrpc::CallContext, n: u64| async move {
                let mut items = ctx.stream::<u64>()?;
                for i in 0..n {
                    items.send(&i).await?;
                }
                Ok::<(), dotrpc::Error>(())
            })
            .set_handler(
                "ticks",
                |ctx: dotrpc::CallContext, n: u64, every_ms: u64| async move {
                    let mut items = ctx.stream::<u64>()?;
                    for i in 0..n {
                        tokio::time::sleep(Duration::from_millis(every_ms)).await;
                        items.send(&i).await?;
                    }
                    Ok::<(), dotrpc::Error>(())
                },
            );
        let builder = || {
            Peer::builder()
                .router(Arc::clone(&router))
                .max_concurrent_handlers(HANDLERS_PER_INSTANCE)
        };
        let tcp = dotrpc::Server::builder(builder())
            .bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let service = NatsService::builder(builder(), PREFIX)
            .start(&url)
            .await
            .map_err(|e| e.to_string())?;
        // The floor: plain request and reply, no dotrpc on either side.
        let raw = service.nats_client().clone();
        let mut adds = raw
            .subscribe(format!("{PREFIX}-raw.add"))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            while let Some(request) = futures::StreamExt::next(&mut adds).await {
                let (a, b): (i64, i64) =
                    rmp_serde::from_slice(&request.payload).unwrap_or_default();
                if let Some(reply) = request.reply {
                    let sum = rmp_serde::to_vec(&(a + b)).expect("an integer encodes");
                    let _ = raw.publish(reply, sum.into()).await;
                }
            }
        });
        // The floor of a stream: as many publishes as asked for, then an
        // empty message for the end.
        let raw = service.nats_client().clone();
        let mut counts = raw
            .subscribe(format!("{PREFIX}-raw.count"))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            while let Some(request) = futures::StreamExt::next(&mut counts).await {
                let n: u64 = rmp_serde::from_slice(&request.payload).unwrap_or_default();
                let Some(reply) = request.reply else { continue };
                for i in 0..n {
                    let item = rmp_serde::to_vec(&i).expect("an integer encodes");
                    let _ = raw.publish(reply.clone(), item.into()).await;
                }
                let _ = raw.publish(reply, bytes::Bytes::new()).await;
            }
        });
        let port = tcp.local_addr().to_string();
        let port = port.rsplit(':').next().unwrap_or_default().to_owned();
        println!("LISTENING {port}");
        std::io::stdout().flush().map_err(|e| e.to_string())?;
        // Until stdin closes.
        let _ = tokio::task::spawn_blocking(|| std::io::stdin().lines().count()).await;
        service.drain(Duration::from_secs(2)).await;
        tcp.shutdown(Duration::from_secs(1)).await;
        Ok(())
    })
}

/// `dotrpc-bench nats [--quick] [--json FILE]`.
pub(crate) fn main(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    let json = args
        .iter()
        .position(|a| a == "--json")
        .map(|i| args.get(i + 1).cloned().ok_or("--json needs a FILE"))
        .transpose()?;
    let (reps, calls, seconds) = if quick {
        (1, 1_000, 0.5)
    } else {
        (5, 5_000, 2.0)
    };
    let broker = Broker::start()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut lines = Vec::new();

    // The hop: one instance, TCP and NATS runs alternating.
    let instance = Instance::start(&broker.url)?;
    let (tcp, nats, raw) = runtime.block_on(async {
        let tcp = Peer::builder()
            .connect(format!("127.0.0.1:{}", instance.tcp_port))
            .await
            .map_err(|e| e.to_string())?;
        let nats = Peer::builder()
            .connect_nats(&broker.url, PREFIX)
            .await
            .map_err(|e| e.to_string())?;
        let raw = dotrpc_nats::async_nats::connect(&broker.url)
            .await
            .map_err(|e| e.to_string())?;
        let (mut tcp_runs, mut nats_runs, mut raw_runs) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..reps {
            tcp_runs.push(latency(&tcp, "tcp", calls).await?);
            nats_runs.push(latency(&nats, "nats", calls).await?);
            raw_runs.push(raw_latency(&raw, calls).await?);
        }
        tcp.close();
        nats.close();
        Ok::<_, String>((median(tcp_runs), median(nats_runs), median(raw_runs)))
    })?;
    drop(instance);
    let p50 = |m: &Measurement| m.p50_us.unwrap_or(0.0);
    let p99 = |m: &Measurement| m.p99_us.unwrap_or(0.0);
    println!("add, sequential, one instance ({reps} runs each, medians)");
    for (name, m) in [
        ("direct TCP", &tcp),
        ("dotrpc over NATS", &nats),
        ("async-nats request", &raw),
    ] {
        println!("  {name:<20} p50 {:7.1} µs   p99 {:7.1} µs", p50(m), p99(m));
    }
    println!(
        "  the broker hop: {:.2}× the latency of direct TCP",
        p50(&nats) / p50(&tcp)
    );
    println!(
        "  dotrpc over NATS: {:.2}× plain async-nats request and reply",
        p50(&nats) / p50(&raw)
    );
    lines.extend([tcp, nats, raw]);

    // One stream: TCP, NATS and plain NATS runs alternating.
    let instance = Instance::start(&broker.url)?;
    let items = if quick {
        STREAM_ITEMS / 10
    } else {
        STREAM_ITEMS
    };
    let (tcp, nats, raw) = runtime.block_on(async {
        let tcp = Peer::builder()
            .connect(format!("127.0.0.1:{}", instance.tcp_port))
            .await
            .map_err(|e| e.to_string())?;
        let nats = Peer::builder()
            .connect_nats(&broker.url, PREFIX)
            .await
            .map_err(|e| e.to_string())?;
        let raw = dotrpc_nats::async_nats::connect(&broker.url)
            .await
            .map_err(|e| e.to_string())?;
        let (mut tcp_runs, mut nats_runs, mut raw_runs) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..reps {
            tcp_runs.push(stream(&tcp, "tcp", items).await?);
            nats_runs.push(stream(&nats, "nats", items).await?);
            raw_runs.push(raw_stream(&raw, items).await?);
        }
        tcp.close();
        nats.close();
        Ok::<_, String>((
            median_by_rate(tcp_runs),
            median_by_rate(nats_runs),
            median_by_rate(raw_runs),
        ))
    })?;
    drop(instance);
    println!(
        "\none stream of {items} integers, window {STREAM_WINDOW}, one instance ({reps} runs each, medians)"
    );
    for (name, m) in [
        ("direct TCP", &tcp),
        ("dotrpc over NATS", &nats),
        ("async-nats publish", &raw),
    ] {
        let lost = items - m.calls;
        let lost = if lost > 0 {
            format!("   {lost} of {items} lost (nothing holds the publisher back)")
        } else {
            String::new()
        };
        println!("  {name:<20} {:10.0} items/s{lost}", m.per_second);
    }
    println!(
        "  over NATS: {:.2}× direct TCP, {:.2}× plain publishes with no flow control",
        nats.per_second / tcp.per_second,
        nats.per_second / raw.per_second
    );
    lines.extend([tcp, nats, raw]);

    // Scale: 1, 2 and 4 instances.
    println!(
        "\nwork (waits {WORK:?}), {CALLERS} callers, {HANDLERS_PER_INSTANCE} handlers per instance"
    );
    let mut one = None;
    for n in [1usize, 2, 4] {
        let instances = (0..n)
            .map(|_| Instance::start(&broker.url))
            .collect::<Result<Vec<_>, _>>()?;
        let mut runs = Vec::new();
        for _ in 0..reps {
            runs.push(runtime.block_on(throughput(&broker.url, n, seconds))?);
        }
        drop(instances);
        let run = median_by_rate(runs);
        let per_second = run.per_second;
        let base = *one.get_or_insert(per_second);
        let ratio = per_second / base;
        let verdict = if n == 1 {
            String::new()
        } else {
            let target = 0.85 * n as f64;
            format!(
                "   target ≥ {target:.2}× : {}",
                if ratio >= target { "met" } else { "NOT met" }
            )
        };
        println!("  {n} instance(s): {per_second:8.0} calls/s   {ratio:.2}× one instance{verdict}");
        lines.push(run);
    }

    // A deploy: three instances replaced one at a time, under load.
    let restarts = if quick { 3 } else { ROLLING_RESTARTS };
    let report = runtime.block_on(rolling(&broker.url, restarts))?;
    println!(
        "\nrolling restart: 3 instances, {restarts} restarts (drain, replace), {ROLLING_CALLERS} callers, \
         {ROLLING_STREAMS} stream consumers"
    );
    println!("{report}");
    if report.calls_failed() > 0 {
        return Err(format!(
            "{} calls failed in the rolling restart",
            report.calls_failed()
        ));
    }
    lines.push(Measurement::new("nats x3", "nats-rolling").rate(report.calls_ok, report.elapsed));

    let text: Vec<String> = lines
        .iter()
        .map(|m| serde_json::to_string(m).expect("measurements serialize"))
        .collect();
    println!();
    for line in &text {
        println!("{line}");
    }
    if let Some(path) = json {
        let mut file = std::fs::File::create(&path).map_err(|e| format!("{path}: {e}"))?;
        for line in &text {
            writeln!(file, "{line}").map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// `calls` sequential `add` calls.
async fn latency(peer: &Peer, system: &str, calls: usize) -> Result<Measurement, String> {
    for i in 0..calls / 10 {
        peer.call::<i64>("add", (i, 1))
            .await
            .map_err(|e| e.to_string())?;
    }
    let mut latencies = Vec::with_capacity(calls);
    let started = Instant::now();
    for i in 0..calls {
        let call = Instant::now();
        let sum = peer
            .call::<i64>("add", (i, 1))
            .await
            .map_err(|e| e.to_string())?;
        if sum != i as i64 + 1 {
            return Err(format!("add({i}, 1) answered {sum}"));
        }
        latencies.push(call.elapsed());
    }
    Ok(Measurement::new(system, "nats-hop")
        .rate(calls as u64, started.elapsed())
        .latencies(latencies))
}

/// `calls` sequential plain NATS requests for the raw subscriber's `add`.
async fn raw_latency(
    client: &dotrpc_nats::async_nats::Client,
    calls: usize,
) -> Result<Measurement, String> {
    let subject = format!("{PREFIX}-raw.add");
    let request = |i: usize| {
        let body = rmp_serde::to_vec(&(i, 1)).expect("integers encode");
        client.request(subject.clone(), body.into())
    };
    for i in 0..calls / 10 {
        request(i).await.map_err(|e| e.to_string())?;
    }
    let mut latencies = Vec::with_capacity(calls);
    let started = Instant::now();
    for i in 0..calls {
        let call = Instant::now();
        let reply = request(i).await.map_err(|e| e.to_string())?;
        let sum: i64 = rmp_serde::from_slice(&reply.payload).map_err(|e| e.to_string())?;
        if sum != i as i64 + 1 {
            return Err(format!("add({i}, 1) answered {sum}"));
        }
        latencies.push(call.elapsed());
    }
    Ok(Measurement::new("async-nats", "nats-hop")
        .rate(calls as u64, started.elapsed())
        .latencies(latencies))
}

/// One `count` stream of `items`, taken as it comes.
async fn stream(peer: &Peer, system: &str, items: u64) -> Result<Measurement, String> {
    let started = Instant::now();
    let mut stream = peer.stream::<u64>("count", (items,)).window(STREAM_WINDOW);
    let mut expected = 0;
    while let Some(item) = stream.next().await {
        let item = item.map_err(|e| e.to_string())?;
        if item != expected {
            return Err(format!("item {expected} was {item}"));
        }
        expected += 1;
    }
    if expected != items {
        return Err(format!("{expected} of {items} items came"));
    }
    Ok(Measurement::new(system, "nats-stream").rate(items, started.elapsed()))
}

/// The raw subscriber's `items` publishes, counted until the empty end.
async fn raw_stream(
    client: &dotrpc_nats::async_nats::Client,
    items: u64,
) -> Result<Measurement, String> {
    use futures::StreamExt;

    let inbox = client.new_inbox();
    let mut received = client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| e.to_string())?;
    client.flush().await.map_err(|e| e.to_string())?;
    let started = Instant::now();
    let request = rmp_serde::to_vec(&items).expect("an integer encodes");
    client
        .publish_with_reply(format!("{PREFIX}-raw.count"), inbox, request.into())
        .await
        .map_err(|e| e.to_string())?;
    let mut counted = 0u64;
    // Core NATS drops what a subscriber cannot take in time, the end too:
    // a second of silence ends the run, and what was lost is said.
    let idle = Duration::from_secs(1);
    let mut last = started.elapsed();
    while let Ok(Some(message)) = tokio::time::timeout(idle, received.next()).await {
        if message.payload.is_empty() {
            break;
        }
        let _: u64 = rmp_serde::from_slice(&message.payload).map_err(|e| e.to_string())?;
        counted += 1;
        last = started.elapsed();
    }
    Ok(Measurement::new("async-nats", "nats-stream").rate(counted, last))
}

/// `CALLERS` callers calling `work` for `seconds`, spread by the queue group
/// over `instances`.
async fn throughput(url: &str, instances: usize, seconds: f64) -> Result<Measurement, String> {
    let peer = Peer::builder()
        .connect_nats(url, PREFIX)
        .await
        .map_err(|e| e.to_string())?;
    // Warm up: every instance has answered.
    for _ in 0..(instances * 20) {
        peer.call::<()>("work", ())
            .await
            .map_err(|e| e.to_string())?;
    }
    let (stop, done) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let started = Instant::now();
    let callers: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (peer, stop, done) = (peer.clone(), Arc::clone(&stop), Arc::clone(&done));
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    peer.call::<()>("work", ())
                        .await
                        .map_err(|e| e.to_string())?;
                    done.fetch_add(1, Ordering::Relaxed);
                }
                Ok::<_, String>(())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let counted = done.load(Ordering::Relaxed);
    for caller in callers {
        caller.await.map_err(|e| e.to_string())??;
    }
    peer.close();
    Ok(Measurement::new(&format!("nats x{instances}"), "nats-scale").rate(counted, elapsed))
}

/// What a rolling restart did to the calls and streams under way.
#[derive(Debug, Default)]
struct Rolling {
    calls_ok: u64,
    /// Failed calls, by error kind.
    calls_failed: std::collections::BTreeMap<String, u64>,
    streams_completed: u64,
    /// Streams that ended early, by error kind.
    streams_ended: std::collections::BTreeMap<String, u64>,
    elapsed: Duration,
}

impl Rolling {
    fn calls_failed(&self) -> u64 {
        self.calls_failed.values().sum()
    }
}

impl std::fmt::Display for Rolling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kinds = |map: &std::collections::BTreeMap<String, u64>| {
            if map.is_empty() {
                "none".to_owned()
            } else {
                let kinds: Vec<_> = map.iter().map(|(k, n)| format!("{n} {k}")).collect();
                kinds.join(", ")
            }
        };
        writeln!(
            f,
            "  calls:   {} answered, {} failed ({}) in {:.1} s",
            self.calls_ok,
            self.calls_failed(),
            kinds(&self.calls_failed),
            self.elapsed.as_secs_f64()
        )?;
        write!(
            f,
            "  streams: {} completed, {} ended early by their instance leaving ({})",
            self.streams_completed,
            self.streams_ended.values().sum::<u64>(),
            kinds(&self.streams_ended)
        )
    }
}

/// Three instances, `restarts` times one of them drained and replaced,
/// under `ROLLING_CALLERS` callers and `ROLLING_STREAMS` stream consumers.
async fn rolling(url: &str, restarts: usize) -> Result<Rolling, String> {
    let spawn = |url: String| tokio::task::spawn_blocking(move || Instance::start(&url));
    let mut instances = Vec::new();
    for _ in 0..3 {
        instances.push(spawn(url.to_owned()).await.map_err(|e| e.to_string())??);
    }
    let peer = Peer::builder()
        .connect_nats(url, PREFIX)
        .await
        .map_err(|e| e.to_string())?;
    let stop = Arc::new(AtomicBool::new(false));
    let report = Arc::new(std::sync::Mutex::new(Rolling::default()));
    let kind = |error: &dotrpc::Error| format!("{:?}", error.kind());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..ROLLING_CALLERS {
        let (peer, stop, report) = (peer.clone(), Arc::clone(&stop), Arc::clone(&report));
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let outcome = peer.call::<()>("work", ()).await;
                let mut report = report.lock().expect("not poisoned");
                match outcome {
                    Ok(()) => report.calls_ok += 1,
                    Err(error) => *report.calls_failed.entry(kind(&error)).or_default() += 1,
                }
            }
        }));
    }
    for _ in 0..ROLLING_STREAMS {
        let (peer, stop, report) = (peer.clone(), Arc::clone(&stop), Arc::clone(&report));
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let mut ticks = peer.stream::<u64>("ticks", (TICKS, TICK_EVERY_MS));
                let mut ended = None;
                while let Some(item) = futures::StreamExt::next(&mut ticks).await {
                    if let Err(error) = item {
                        ended = Some(kind(&error));
                        break;
                    }
                }
                let mut report = report.lock().expect("not poisoned");
                match ended {
                    None => report.streams_completed += 1,
                    Some(kind) => *report.streams_ended.entry(kind).or_default() += 1,
                }
            }
        }));
    }
    for _ in 0..restarts {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let old = instances.remove(0);
        tokio::task::spawn_blocking(move || drop(old))
            .await
            .map_err(|e| e.to_string())?;
        instances.push(spawn(url.to_owned()).await.map_err(|e| e.to_string())??);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.map_err(|e| e.to_string())?;
    }
    peer.close();
    tokio::task::spawn_blocking(move || drop(instances))
        .await
        .map_err(|e| e.to_string())?;
    let mut report = std::mem::take(&mut *report.lock().expect("not poisoned"));
    report.elapsed = started.elapsed();
    Ok(report)
}

fn median(mut runs: Vec<Measurement>) -> Measurement {
    runs.sort_by(|a, b| a.p50_us.partial_cmp(&b.p50_us).expect("no NaN"));
    runs.swap_remove(runs.len() / 2)
}

fn median_by_rate(mut runs: Vec<Measurement>) -> Measurement {
    runs.sort_by(|a, b| a.per_second.partial_cmp(&b.per_second).expect("no NaN"));
    runs.swap_remove(runs.len() / 2)
}
