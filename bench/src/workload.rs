//! The workloads, and the client process that runs one of them.
//!
//! Every framework's client implements [`Rpc`] and gets the same drivers;
//! the raw baseline has its own (`systems::raw`), since a hand-written loop
//! with no multiplexing is the point of it.

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;

use crate::systems;

/// The workloads, in table order.
pub(crate) const ALL: [&str; 11] = [
    "lat",
    "pipe",
    "conns",
    "bulk",
    "bulk_vec",
    "notify",
    "notify_await",
    "stream",
    "slow",
    "idle",
    "nested",
];

/// `slow`: items of this many bytes, taken this many times at this pace,
/// then not at all while the server's memory is read.
pub(crate) const SLOW_ITEM_BYTES: u64 = 64 << 10;
pub(crate) const SLOW_TAKEN: usize = 50;
pub(crate) const SLOW_EVERY: Duration = Duration::from_millis(5);

/// How much of each workload to run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    pub(crate) warmup_calls: usize,
    pub(crate) lat_calls: usize,
    pub(crate) seconds: f64,
    pub(crate) notes: u64,
    pub(crate) idle_connections: usize,
}

impl Plan {
    pub(crate) fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                warmup_calls: 500,
                lat_calls: 3_000,
                seconds: 0.3,
                notes: 20_000,
                idle_connections: 100,
            }
        } else {
            Plan {
                warmup_calls: 2_000,
                lat_calls: 20_000,
                seconds: 1.5,
                notes: 200_000,
                idle_connections: 1_000,
            }
        }
    }
}

/// Pipelined calls per connection in `pipe`, and connections and calls per
/// connection in `conns`.
pub(crate) const PIPE_IN_FLIGHT: usize = 256;
pub(crate) const CONNS: usize = 16;
pub(crate) const CONNS_IN_FLIGHT: usize = 32;
/// The `bulk` blob.
pub(crate) const BULK_BYTES: usize = 1 << 20;

/// A framework's client, as the drivers use it.
pub(crate) trait Rpc: Clone + 'static {
    fn add(&self, a: i64, b: i64) -> impl Future<Output = Result<i64, String>>;
    /// Echoes `data`; returns how many bytes came back.
    fn echo(&self, data: Bytes) -> impl Future<Output = Result<usize, String>>;
    /// The same, with the byte type serde's tutorials teach
    /// (`serde_bytes::ByteBuf`) both ways; the other systems' `echo` is one
    /// already.
    fn echo_vec(&self, data: Bytes) -> impl Future<Output = Result<usize, String>> {
        self.echo(data)
    }
    /// Sends one `note` notification; `None` if the system has none.
    fn note(&self) -> Option<Result<(), String>>;
    /// Sends one `note` notification the way its documentation says to
    /// wait for the send (dotrpc: awaited, waiting for room when the queue
    /// is full); `None` if the system has no such way.
    fn note_awaited(&self) -> impl Future<Output = Option<Result<(), String>>>;
    fn count(&self) -> impl Future<Output = Result<u64, String>>;
    /// Takes a stream of `n` integers from the server; how many came.
    /// `None` if the system has no streams.
    fn items(&self, n: u64) -> impl Future<Output = Option<Result<u64, String>>>;
    /// Opens a stream of [`SLOW_ITEM_BYTES`]-byte items far longer than it
    /// will read, takes [`SLOW_TAKEN`] of them one every [`SLOW_EVERY`],
    /// and returns it still open, no longer read. `None` if the system has
    /// no streams.
    fn slow(&self) -> impl Future<Output = Option<Result<Box<dyn std::any::Any>, String>>>;
}

/// One measurement, printed by the client as a JSON line.
#[derive(Debug, Default, Clone, Serialize, serde::Deserialize)]
pub(crate) struct Measurement {
    pub(crate) system: String,
    pub(crate) workload: String,
    /// Calls (or notifications) counted.
    pub(crate) calls: u64,
    pub(crate) seconds: f64,
    /// Calls (or notifications received, or MiB for `bulk`) per second.
    pub(crate) per_second: f64,
    pub(crate) p50_us: Option<f64>,
    pub(crate) p99_us: Option<f64>,
    pub(crate) p999_us: Option<f64>,
    /// Allocations the client made per call.
    pub(crate) client_allocs_per_call: Option<f64>,
    /// Allocations the server made per call (filled in by the orchestrator).
    pub(crate) server_allocs_per_call: Option<f64>,
    /// Server memory per idle connection (`idle`, filled in by the orchestrator).
    pub(crate) kib_per_connection: Option<f64>,
    /// `nested`: time per call five namespaces deep over time per flat call,
    /// measured in alternating blocks on one connection.
    pub(crate) nested_over_flat: Option<f64>,
    /// Why there is no number (a system without notifications).
    pub(crate) unsupported: Option<String>,
}

impl Measurement {
    pub(crate) fn new(system: &str, workload: &str) -> Self {
        Measurement {
            system: system.to_owned(),
            workload: workload.to_owned(),
            ..Measurement::default()
        }
    }

    pub(crate) fn rate(mut self, calls: u64, elapsed: Duration) -> Self {
        self.calls = calls;
        self.seconds = elapsed.as_secs_f64();
        self.per_second = calls as f64 / self.seconds;
        self
    }

    /// Percentiles of `latencies` (sorted here).
    pub(crate) fn latencies(mut self, mut latencies: Vec<Duration>) -> Self {
        latencies.sort_unstable();
        let at = |q: f64| {
            let i = ((q * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len()) - 1;
            latencies[i].as_secs_f64() * 1e6
        };
        self.p50_us = Some(at(0.5));
        self.p99_us = Some(at(0.99));
        self.p999_us = Some(at(0.999));
        self
    }
}

/// Counts allocations made while `f` runs, per call.
pub(crate) async fn counting_allocs<T>(calls: usize, f: impl Future<Output = T>) -> (T, f64) {
    let before = crate::alloc::count();
    let out = f.await;
    let allocs = (crate::alloc::count() - before) as f64 / calls.max(1) as f64;
    (out, allocs)
}

/// `dotrpc-bench client SYSTEM WORKLOAD PORT [quick]`.
pub(crate) fn client_main(args: &[String]) -> Result<(), String> {
    let [system, workload, port, rest @ ..] = args else {
        return Err("client needs SYSTEM WORKLOAD PORT".into());
    };
    let port: u16 = port.parse().map_err(|_| format!("bad port {port}"))?;
    let plan = Plan::new(rest.iter().any(|a| a == "quick"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let local = tokio::task::LocalSet::new();
    let measurement = local.block_on(&runtime, async {
        match system.as_str() {
            "raw" => systems::raw::run(workload, port, plan).await,
            "dotrpc" if workload == "nested" => systems::dotrpc::nested(port, plan).await,
            "dotrpc" => drive(system, workload, plan, || systems::dotrpc::connect(port)).await,
            "dotrpc-ws" => {
                drive(system, workload, plan, || systems::dotrpc::connect_ws(port)).await
            }
            "tarpc" => drive(system, workload, plan, || systems::tarpc::connect(port)).await,
            "jsonrpsee" => {
                drive(system, workload, plan, || systems::jsonrpsee::connect(port)).await
            }
            "msgpack-rpc" => {
                drive(system, workload, plan, || {
                    systems::msgpack_rpc::connect(port)
                })
                .await
            }
            other => Err(format!("unknown system {other:?}")),
        }
    })?;
    println!(
        "{}",
        serde_json::to_string(&measurement).expect("plain data")
    );
    Ok(())
}

/// Waits until the server counted `notes` more notes than `before`.
async fn arrived<R: Rpc>(
    client: &R,
    before: u64,
    notes: u64,
    started: Instant,
) -> Result<(), String> {
    loop {
        let received = client.count().await?;
        if received >= before + notes {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(30) {
            return Err(format!(
                "only {} of {notes} notes arrived",
                received - before
            ));
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

/// Runs `workload` with a framework's client.
async fn drive<R, F, Fut>(
    system: &str,
    workload: &str,
    plan: Plan,
    connect: F,
) -> Result<Measurement, String>
where
    R: Rpc,
    F: Fn() -> Fut,
    Fut: Future<Output = Result<R, String>>,
{
    let measurement = Measurement::new(system, workload);
    match workload {
        "lat" => {
            let client = connect().await?;
            for i in 0..plan.warmup_calls {
                client.add(i as i64, 1).await?;
            }
            let mut latencies = Vec::with_capacity(plan.lat_calls);
            let (result, allocs) = counting_allocs(plan.lat_calls, async {
                let started = Instant::now();
                for i in 0..plan.lat_calls {
                    let call = Instant::now();
                    let sum = client.add(i as i64, 1).await?;
                    latencies.push(call.elapsed());
                    if sum != i as i64 + 1 {
                        return Err(format!("add gave {sum}"));
                    }
                }
                Ok::<_, String>(started.elapsed())
            })
            .await;
            let elapsed = result?;
            let mut m = measurement
                .rate(plan.lat_calls as u64, elapsed)
                .latencies(latencies);
            m.client_allocs_per_call = Some(allocs);
            Ok(m)
        }
        "pipe" => {
            let client = connect().await?;
            let (calls, elapsed) = in_flight(vec![client], PIPE_IN_FLIGHT, plan.seconds).await?;
            Ok(measurement.rate(calls, elapsed))
        }
        "conns" => {
            let mut clients = Vec::new();
            for _ in 0..CONNS {
                clients.push(connect().await?);
            }
            let (calls, elapsed) = in_flight(clients, CONNS_IN_FLIGHT, plan.seconds).await?;
            Ok(measurement.rate(calls, elapsed))
        }
        "bulk" | "bulk_vec" => {
            let client = connect().await?;
            let blob = Bytes::from(vec![0xa5; BULK_BYTES]);
            let echo = |blob| async {
                match workload {
                    "bulk" => client.echo(blob).await,
                    _ => client.echo_vec(blob).await,
                }
            };
            echo(blob.clone()).await?;
            let started = Instant::now();
            let mut calls = 0;
            while started.elapsed().as_secs_f64() < plan.seconds {
                let back = echo(blob.clone()).await?;
                if back != BULK_BYTES {
                    return Err(format!("echo gave {back} bytes"));
                }
                calls += 1;
            }
            let mut m = measurement.rate(calls, started.elapsed());
            m.per_second = calls as f64 * (BULK_BYTES as f64 / (1 << 20) as f64) / m.seconds;
            Ok(m)
        }
        "notify" => {
            let client = connect().await?;
            let before = client.count().await?;
            let started = Instant::now();
            for sent in 0..plan.notes {
                match client.note() {
                    None => {
                        return Ok(Measurement {
                            unsupported: Some("no notifications".into()),
                            ..measurement
                        });
                    }
                    Some(sent) => sent?,
                }
                // Let the connection's tasks run every 256 notes, as the raw
                // baseline writes 256 at a time; a producer that yields after
                // every one would measure its scheduler instead.
                if sent % 256 == 255 {
                    if started.elapsed() > Duration::from_secs(30) {
                        return Err("notifications did not go out in 30 s".into());
                    }
                    tokio::task::yield_now().await;
                }
            }
            arrived(&client, before, plan.notes, started).await?;
            Ok(measurement.rate(plan.notes, started.elapsed()))
        }
        "notify_await" => {
            let client = connect().await?;
            let before = client.count().await?;
            let started = Instant::now();
            // Awaited one after another, with nothing else to pace them:
            // waiting for room is the back-pressure.
            for sent in 0..plan.notes {
                match client.note_awaited().await {
                    None => {
                        return Ok(Measurement {
                            unsupported: Some("no awaited notifications".into()),
                            ..measurement
                        });
                    }
                    Some(sent) => sent?,
                }
                // The clock is read as often as `notify` reads it.
                if sent % 256 == 255 && started.elapsed() > Duration::from_secs(30) {
                    return Err("notifications did not go out in 30 s".into());
                }
            }
            arrived(&client, before, plan.notes, started).await?;
            Ok(measurement.rate(plan.notes, started.elapsed()))
        }
        "stream" => {
            let client = connect().await?;
            let started = Instant::now();
            match client.items(plan.notes).await {
                None => Ok(Measurement {
                    unsupported: Some("no streams".into()),
                    ..measurement
                }),
                Some(Ok(n)) if n == plan.notes => Ok(measurement.rate(n, started.elapsed())),
                Some(Ok(n)) => Err(format!("{n} of {} items came", plan.notes)),
                Some(Err(error)) => Err(error),
            }
        }
        "slow" => {
            let client = connect().await?;
            match client.slow().await {
                None => Ok(Measurement {
                    unsupported: Some("no streams".into()),
                    ..measurement
                }),
                Some(held) => hold_until_told(vec![(client, held?)]).await,
            }
        }
        "idle" => {
            let mut clients = Vec::with_capacity(plan.idle_connections);
            for _ in 0..plan.idle_connections {
                let client = connect().await?;
                client.add(1, 2).await?;
                clients.push(client);
            }
            hold_until_told(clients).await
        }
        "nested" => Ok(Measurement {
            unsupported: Some("dotrpc only".into()),
            ..measurement
        }),
        other => Err(format!("unknown workload {other:?}")),
    }
}

/// Holds the idle connections open: prints `READY`, waits for stdin to
/// close (the orchestrator reads the server's memory meanwhile).
pub(crate) async fn hold_until_told<T>(held: Vec<T>) -> Result<Measurement, String> {
    println!("READY {}", held.len());
    tokio::task::spawn_blocking(|| {
        let mut sink = String::new();
        let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut sink);
    })
    .await
    .map_err(|e| e.to_string())?;
    drop(held);
    Ok(Measurement::new("", "idle"))
}

/// What the callers of a throughput run share: whether their calls count
/// yet, whether to stop, and how many have counted.
#[derive(Debug, Default)]
pub(crate) struct Phase {
    measuring: Cell<bool>,
    stop: Cell<bool>,
    calls: Cell<u64>,
}

impl Phase {
    pub(crate) fn stopping(&self) -> bool {
        self.stop.get()
    }

    /// Counts `n` answered calls, if the measured part has begun.
    pub(crate) fn count(&self, n: u64) {
        if self.measuring.get() {
            self.calls.set(self.calls.get() + n);
        }
    }

    /// Warms up for a fifth of `seconds`, counts for `seconds`, then tells
    /// the callers to stop; returns the calls counted and the time taken.
    pub(crate) async fn run(&self, seconds: f64) -> (u64, Duration) {
        tokio::time::sleep(Duration::from_secs_f64(seconds / 5.0)).await;
        self.measuring.set(true);
        let started = Instant::now();
        tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
        self.measuring.set(false);
        self.stop.set(true);
        (self.calls.get(), started.elapsed())
    }
}

/// `per_client` callers on each client, each making one call at a time, for
/// `seconds` after a short warm-up; returns calls completed and the time.
async fn in_flight<R: Rpc>(
    clients: Vec<R>,
    per_client: usize,
    seconds: f64,
) -> Result<(u64, Duration), String> {
    let phase = Rc::new(Phase::default());
    let mut callers = Vec::new();
    for client in &clients {
        for _ in 0..per_client {
            let (client, phase) = (client.clone(), phase.clone());
            callers.push(tokio::task::spawn_local(async move {
                let mut i = 0i64;
                while !phase.stopping() {
                    client.add(i, 1).await?;
                    i += 1;
                    phase.count(1);
                }
                Ok::<(), String>(())
            }));
        }
    }
    let (calls, elapsed) = phase.run(seconds).await;
    for caller in callers {
        caller.await.map_err(|e| e.to_string())??;
    }
    Ok((calls, elapsed))
}
