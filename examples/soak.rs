//! A bounded soak: many reconnecting clients make mixed calls (answered,
//! timed out, cancelled), send events and receive pushed ones, while the
//! server restarts underneath them; then it checks that every call was
//! answered or failed with an expected kind, that no call is left pending,
//! that the server forgot every client, and that memory came back near its
//! baseline. Exits non-zero if any check fails.
//!
//! ```text
//! cargo run --release --example soak -- --seconds 60 --clients 32
//! ```
//!
//! CI runs `--seconds 5`. Prints a summary and one JSON line.

#[path = "demo_server/api.rs"]
mod api;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dotrpc::{
    Error, ErrorKind, Peer, Server, Value,
    peer::{Reconnect, WhileDown},
};

#[derive(Debug, Clone, Copy)]
struct Options {
    seconds: u64,
    clients: usize,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        seconds: 10,
        clients: 16,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> Result<u64, String> {
            args.next()
                .and_then(|v| v.parse().ok())
                .ok_or(format!("{name} needs a number"))
        };
        match arg.as_str() {
            "--seconds" => options.seconds = number("--seconds")?,
            "--clients" => options.clients = number("--clients")? as usize,
            other => {
                return Err(format!(
                    "unknown argument `{other}`; use --seconds N --clients N"
                ));
            }
        }
    }
    Ok(options)
}

/// Resident memory of this process, in KiB (Linux), if known.
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Outcomes by name: "ok", or an error kind.
type Tally = Arc<Mutex<BTreeMap<String, u64>>>;

fn record<T>(tally: &Tally, outcome: &Result<T, Error>) {
    let key = match outcome {
        Ok(_) => "ok".to_owned(),
        Err(error) => format!("{:?}", error.kind()),
    };
    *tally.lock().unwrap().entry(key).or_default() += 1;
}

/// A small, seeded pseudo-random sequence (xorshift), so runs vary cheaply.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % sides
    }
}

async fn start_server(addr: SocketAddr) -> Server {
    for _ in 0..200 {
        match Server::builder(Peer::builder().router(api::router()))
            .bind(addr)
            .await
        {
            Ok(server) => return server,
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    panic!("cannot bind {addr}");
}

/// One client: mixed operations until `until`.
async fn client(addr: SocketAddr, until: Instant, seed: u64, tally: Tally, pushed: Tally) -> Peer {
    let router = Arc::new(dotrpc::Router::new());
    router.set_handler("events.tick", move |_i: u64| {
        let pushed = Arc::clone(&pushed);
        async move {
            *pushed
                .lock()
                .unwrap()
                .entry("events.tick".into())
                .or_default() += 1;
        }
    });
    let peer = Peer::builder()
        .router(router)
        .reconnect(
            Reconnect::new()
                .initial_backoff(Duration::from_millis(20))
                .max_backoff(Duration::from_millis(200))
                .while_down(WhileDown::Wait),
        )
        .connect(addr)
        .await
        .expect("the first connection");
    let mut dice = Dice(seed | 1);
    let blob = Value::Binary(vec![7; 1024]);
    while Instant::now() < until {
        match dice.roll(6) {
            0 => record(
                &tally,
                &peer
                    .call::<i64>("add", (1, 2))
                    .timeout(Duration::from_secs(2))
                    .await,
            ),
            1 => record(
                &tally,
                &peer
                    .call::<Value>("echo", (blob.clone(),))
                    .timeout(Duration::from_secs(2))
                    .await,
            ),
            // Times out on purpose: the reply comes after the caller gave up.
            2 => record(
                &tally,
                &peer
                    .call::<u64>("sleep", (50,))
                    .timeout(Duration::from_millis(5))
                    .await,
            ),
            // Cancelled on purpose.
            3 => {
                let handle = peer.call::<u64>("sleep", (1_000,)).spawn();
                tokio::time::sleep(Duration::from_millis(2)).await;
                handle.cancel();
                record(&tally, &handle.await);
            }
            4 => record(&tally, &peer.notify("log", ("soak",)).await),
            _ => record(&tally, &peer.notify("events.subscribe", (2,)).await),
        }
        if dice.roll(50) == 0 {
            tokio::task::yield_now().await;
        }
    }
    peer
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = options()?;
    let server = start_server("127.0.0.1:0".parse()?).await;
    let addr = server.local_addr().as_tcp().expect("a TCP server");
    let baseline = rss_kib();
    let started = Instant::now();
    let until = started + Duration::from_secs(options.seconds);
    let (tally, pushed): (Tally, Tally) = (Arc::default(), Arc::default());

    let clients: Vec<_> = (0..options.clients)
        .map(|i| {
            tokio::spawn(client(
                addr,
                until,
                0x9e37_79b9 * (i as u64 + 1),
                Arc::clone(&tally),
                Arc::clone(&pushed),
            ))
        })
        .collect();

    // Restart the server twice during the run, under the clients' feet;
    // every client must come back each time.
    let mut server = server;
    let mut restarts = 0;
    let mut reconnected = Vec::new();
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_secs(options.seconds) / 3).await;
        server.shutdown(Duration::from_millis(200)).await;
        server = start_server(addr).await;
        restarts += 1;
        let back_by = Instant::now() + Duration::from_secs(10);
        while server.connection_count() < options.clients && Instant::now() < back_by {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        reconnected.push(server.connection_count());
    }

    let mut peers = Vec::new();
    for client in clients {
        peers.push(tokio::time::timeout(Duration::from_secs(30), client).await??);
    }
    let mut failures = Vec::new();
    for (restart, back) in reconnected.iter().enumerate() {
        if *back < options.clients {
            failures.push(format!(
                "after restart {}, only {back} of {} clients reconnected",
                restart + 1,
                options.clients
            ));
        }
    }
    // Give replies in flight a moment to land, then nothing may be pending.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pending: usize = peers.iter().map(Peer::pending_calls).sum();
    if pending != 0 {
        failures.push(format!("{pending} calls still pending"));
    }
    for peer in &peers {
        peer.close();
    }
    for peer in &peers {
        tokio::time::timeout(Duration::from_secs(10), peer.closed()).await?;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.connection_count() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if server.connection_count() != 0 {
        failures.push(format!(
            "the server still holds {} connections",
            server.connection_count()
        ));
    }
    server.shutdown(Duration::from_secs(1)).await;
    drop(peers);

    let tally = tally.lock().unwrap().clone();
    let expected = [
        "ok".to_owned(),
        format!("{:?}", ErrorKind::Timeout),
        format!("{:?}", ErrorKind::Cancelled),
        format!("{:?}", ErrorKind::Disconnected),
    ];
    for (outcome, count) in &tally {
        if !expected.contains(outcome) {
            failures.push(format!("{count} operations ended with {outcome}"));
        }
    }
    let operations: u64 = tally.values().sum();
    if tally.get("ok").copied().unwrap_or(0) < operations / 2 {
        failures.push("fewer than half the operations succeeded".into());
    }
    // The allocator keeps some of what it was given; allow for that.
    let after = rss_kib();
    if let (Some(before), Some(after)) = (baseline, after)
        && after > before * 3 / 2 + 32 * 1024
    {
        failures.push(format!("memory grew from {before} KiB to {after} KiB"));
    }

    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "soak: {operations} operations by {} clients in {elapsed:.1} s, {restarts} server restarts",
        options.clients
    );
    for (restart, back) in reconnected.iter().enumerate() {
        println!(
            "  restart {}: {back} of {} clients reconnected",
            restart + 1,
            options.clients
        );
    }
    for (outcome, count) in &tally {
        println!("  {outcome:<14} {count}");
    }
    println!(
        "  pushed events  {}",
        pushed.lock().unwrap().values().sum::<u64>()
    );
    println!("  rss            {baseline:?} KiB -> {after:?} KiB");
    let outcomes: Vec<String> = tally.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
    println!(
        "{{\"soak_seconds\":{elapsed:.1},\"clients\":{},\"operations\":{operations},\"restarts\":{restarts},\"reconnected\":{reconnected:?},\"outcomes\":{{{}}},\"rss_kib_before\":{},\"rss_kib_after\":{},\"failures\":{}}}",
        options.clients,
        outcomes.join(","),
        baseline.unwrap_or(0),
        after.unwrap_or(0),
        failures.len()
    );
    if failures.is_empty() {
        println!("soak: every check passed");
        Ok(())
    } else {
        for failure in &failures {
            eprintln!("soak: FAILED: {failure}");
        }
        std::process::exit(1)
    }
}
