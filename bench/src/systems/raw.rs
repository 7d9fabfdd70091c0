//! The floor: msgpack-rpc-shaped messages over tokio TCP with no framework.
//! The server answers each connection's messages in one loop, without a task
//! per call; the clients are plain loops (a window of calls for `pipe` and
//! `conns`), writing what they have in one `write_all`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{Buf as _, BytesMut};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use super::Served;
use crate::raw_wire::{self, Message};
use crate::workload::{self, Measurement, Phase, Plan};

pub(crate) async fn serve() -> Result<Served, String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let notes = Arc::new(AtomicU64::new(0));
    let accept = tokio::task::spawn_local(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let _ = socket.set_nodelay(true);
            tokio::task::spawn_local(serve_connection(socket, notes.clone()));
        }
    });
    Ok(Served {
        port,
        _keep: Box::new(accept),
    })
}

async fn serve_connection(mut socket: TcpStream, notes: Arc<AtomicU64>) -> std::io::Result<()> {
    let mut input = BytesMut::with_capacity(64 * 1024);
    let mut output = Vec::with_capacity(64 * 1024);
    let mut result = Vec::with_capacity(16);
    loop {
        if socket.read_buf(&mut input).await? == 0 {
            return Ok(());
        }
        while let Some((message, used)) = raw_wire::parse(&input)? {
            match message {
                Message::Request {
                    msgid,
                    method,
                    params,
                } => {
                    result.clear();
                    match method {
                        "add" => {
                            let (a, b) = raw_wire::read_two_ints(params)?;
                            rmp::encode::write_sint(&mut result, a + b).expect("a Vec");
                        }
                        "echo" => {
                            let data = raw_wire::read_one_bin(params)?;
                            rmp::encode::write_bin(&mut result, data).expect("a Vec");
                        }
                        "count" => {
                            rmp::encode::write_uint(&mut result, notes.load(Ordering::Relaxed))
                                .expect("a Vec");
                        }
                        _ => result.push(0xc0),
                    }
                    raw_wire::response(&mut output, msgid, &result);
                }
                Message::Notification { method: "note" } => {
                    notes.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
            input.advance(used);
        }
        if !output.is_empty() {
            socket.write_all(&output).await?;
            output.clear();
        }
    }
}

/// One client connection: a socket and its read buffer.
struct Conn {
    socket: TcpStream,
    input: BytesMut,
    output: Vec<u8>,
    params: Vec<u8>,
    next_msgid: u32,
}

impl Conn {
    async fn open(port: u16) -> Result<Conn, String> {
        let socket = TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| e.to_string())?;
        socket.set_nodelay(true).map_err(|e| e.to_string())?;
        Ok(Conn {
            socket,
            input: BytesMut::with_capacity(64 * 1024),
            output: Vec::with_capacity(64 * 1024),
            params: Vec::with_capacity(16),
            next_msgid: 0,
        })
    }

    /// Queues an `add` request.
    fn queue_add(&mut self, a: i64, b: i64) {
        self.params.clear();
        raw_wire::two_ints(&mut self.params, a, b);
        self.next_msgid = self.next_msgid.wrapping_add(1);
        raw_wire::request(&mut self.output, self.next_msgid, "add", &self.params);
    }

    async fn flush(&mut self) -> Result<(), String> {
        self.socket
            .write_all(&self.output)
            .await
            .map_err(|e| e.to_string())?;
        self.output.clear();
        Ok(())
    }

    /// Reads until at least one response is whole; returns how many were
    /// consumed (their results are not needed beyond a shape check).
    async fn read_responses(&mut self) -> Result<usize, String> {
        loop {
            let mut responses = 0;
            while let Some((message, used)) =
                raw_wire::parse(&self.input).map_err(|e| e.to_string())?
            {
                if !matches!(message, Message::Response { .. }) {
                    return Err(format!("unexpected {message:?}"));
                }
                self.input.advance(used);
                responses += 1;
            }
            if responses > 0 {
                return Ok(responses);
            }
            self.read_more().await?;
        }
    }

    /// Reads what the server has sent so far into the input buffer.
    async fn read_more(&mut self) -> Result<(), String> {
        match self.socket.read_buf(&mut self.input).await {
            Ok(0) => Err("the server closed".into()),
            Ok(_) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// One call, waiting for its answer; returns the result's bytes.
    async fn call(&mut self, method: &str, params: &[u8]) -> Result<Vec<u8>, String> {
        self.next_msgid = self.next_msgid.wrapping_add(1);
        raw_wire::request(&mut self.output, self.next_msgid, method, params);
        self.flush().await?;
        loop {
            if let Some((message, used)) =
                raw_wire::parse(&self.input).map_err(|e| e.to_string())?
            {
                let Message::Response { result, .. } = message else {
                    return Err(format!("unexpected {message:?}"));
                };
                let result = result.to_vec();
                self.input.advance(used);
                return Ok(result);
            }
            self.read_more().await?;
        }
    }

    async fn add(&mut self, a: i64, b: i64) -> Result<(), String> {
        self.queue_add(a, b);
        self.flush().await?;
        self.read_responses().await.map(drop)
    }

    async fn count(&mut self) -> Result<u64, String> {
        let result = self.call("count", &[0x90]).await?;
        rmp::decode::read_int(&mut &result[..]).map_err(|e| e.to_string())
    }
}

/// Runs one workload with hand-written loops.
pub(crate) async fn run(workload: &str, port: u16, plan: Plan) -> Result<Measurement, String> {
    let measurement = Measurement::new("raw", workload);
    match workload {
        "lat" => {
            let mut conn = Conn::open(port).await?;
            for i in 0..plan.warmup_calls {
                conn.add(i as i64, 1).await?;
            }
            let mut latencies = Vec::with_capacity(plan.lat_calls);
            let (elapsed, allocs) = workload::counting_allocs(plan.lat_calls, async {
                let started = Instant::now();
                for i in 0..plan.lat_calls {
                    let call = Instant::now();
                    conn.add(i as i64, 1).await?;
                    latencies.push(call.elapsed());
                }
                Ok::<_, String>(started.elapsed())
            })
            .await;
            let mut m = measurement
                .rate(plan.lat_calls as u64, elapsed?)
                .latencies(latencies);
            m.client_allocs_per_call = Some(allocs);
            Ok(m)
        }
        "pipe" => windows(port, 1, workload::PIPE_IN_FLIGHT, plan.seconds)
            .await
            .map(|(calls, elapsed)| measurement.rate(calls, elapsed)),
        "conns" => windows(
            port,
            workload::CONNS,
            workload::CONNS_IN_FLIGHT,
            plan.seconds,
        )
        .await
        .map(|(calls, elapsed)| measurement.rate(calls, elapsed)),
        // The floor of both: the bytes borrowed from the read buffer.
        "bulk" | "bulk_vec" => {
            let mut conn = Conn::open(port).await?;
            let mut params = vec![0x91];
            rmp::encode::write_bin(&mut params, &vec![0xa5; workload::BULK_BYTES]).expect("a Vec");
            conn.call("echo", &params).await?;
            let started = Instant::now();
            let mut calls = 0;
            while started.elapsed().as_secs_f64() < plan.seconds {
                let back = conn.call("echo", &params).await?;
                if back.len() != params.len() - 1 {
                    return Err(format!("echo gave {} bytes", back.len()));
                }
                calls += 1;
            }
            let mut m = measurement.rate(calls, started.elapsed());
            m.per_second =
                calls as f64 * (workload::BULK_BYTES as f64 / (1 << 20) as f64) / m.seconds;
            Ok(m)
        }
        // The floor of both: written 256 at a time.
        "notify" | "notify_await" => {
            let mut conn = Conn::open(port).await?;
            let before = conn.count().await?;
            let started = Instant::now();
            let mut sent = 0;
            while sent < plan.notes {
                let batch = (plan.notes - sent).min(256);
                for _ in 0..batch {
                    raw_wire::notification(&mut conn.output, "note", &[0x90]);
                }
                conn.flush().await?;
                sent += batch;
            }
            loop {
                let received = conn.count().await? - before;
                if received >= plan.notes {
                    break;
                }
                if started.elapsed() > Duration::from_secs(30) {
                    return Err(format!("only {received} of {} notes arrived", plan.notes));
                }
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            Ok(measurement.rate(plan.notes, started.elapsed()))
        }
        "idle" => {
            let mut conns = Vec::with_capacity(plan.idle_connections);
            for _ in 0..plan.idle_connections {
                let mut conn = Conn::open(port).await?;
                conn.add(1, 2).await?;
                conns.push(conn);
            }
            workload::hold_until_told(conns).await
        }
        "stream" | "slow" => Ok(Measurement {
            unsupported: Some("no streams".into()),
            ..measurement
        }),
        "nested" => Ok(Measurement {
            unsupported: Some("dotrpc only".into()),
            ..measurement
        }),
        other => Err(format!("unknown workload {other:?}")),
    }
}

/// `connections` sockets, each keeping `window` calls in flight: every
/// answer read sends one more call, for `seconds` after a short warm-up.
async fn windows(
    port: u16,
    connections: usize,
    window: usize,
    seconds: f64,
) -> Result<(u64, Duration), String> {
    let phase = std::rc::Rc::new(Phase::default());
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let mut conn = Conn::open(port).await?;
        let phase = phase.clone();
        tasks.push(tokio::task::spawn_local(async move {
            for i in 0..window {
                conn.queue_add(i as i64, 1);
            }
            conn.flush().await?;
            let mut outstanding = window;
            while outstanding > 0 {
                let answered = conn.read_responses().await?;
                outstanding -= answered;
                phase.count(answered as u64);
                if !phase.stopping() {
                    for i in 0..answered {
                        conn.queue_add(i as i64, 1);
                    }
                    outstanding += answered;
                    conn.flush().await?;
                }
            }
            Ok::<(), String>(())
        }));
    }
    let (calls, elapsed) = phase.run(seconds).await;
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    Ok((calls, elapsed))
}
