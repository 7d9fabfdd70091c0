//! dotrpc: the API as `#[rpc_api]` traits, typed stubs on the client.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use dotrpc::{Blob, ItemSink, Peer, Server, rpc_api};
use serde_bytes::ByteBuf;

use super::Served;
use crate::workload::{Measurement, Plan, Rpc, SLOW_EVERY, SLOW_ITEM_BYTES, SLOW_TAKEN};

/// The benchmark's API.
#[rpc_api]
pub(crate) trait Bench {
    /// Adds.
    async fn add(&self, a: i64, b: i64) -> i64;
    /// Gives the bytes back (a `Blob`: received and sent without a copy).
    async fn echo(&self, data: Blob) -> Blob;
    /// Gives the bytes back, as a user who follows serde's tutorials
    /// writes it: `serde_bytes::ByteBuf` both ways.
    async fn echo_vec(&self, data: ByteBuf) -> ByteBuf;
    /// Counted. A plain `fn`: answered where it arrives, with no future.
    #[rpc(event)]
    fn note(&self);
    /// How many notes arrived.
    async fn count(&self) -> u64;
    /// The integers `0..n`, as a stream.
    async fn items(&self, n: u64, out: ItemSink<u64>) -> Result<(), String>;
    /// `n` blobs of `size` bytes, as a stream.
    async fn blobs(&self, n: u64, size: u64, out: ItemSink<Blob>) -> Result<(), String>;
    /// The first of five nested namespaces.
    #[rpc(nested)]
    fn a(&self) -> &impl A;
}

/// `a`.
#[rpc_api]
pub(crate) trait A {
    /// `a.b`.
    #[rpc(nested)]
    fn b(&self) -> &impl B;
}

/// `a.b`.
#[rpc_api]
pub(crate) trait B {
    /// `a.b.c`.
    #[rpc(nested)]
    fn c(&self) -> &impl C;
}

/// `a.b.c`.
#[rpc_api]
pub(crate) trait C {
    /// `a.b.c.d`.
    #[rpc(nested)]
    fn d(&self) -> &impl D;
}

/// `a.b.c.d`.
#[rpc_api]
pub(crate) trait D {
    /// `a.b.c.d.e`.
    #[rpc(nested)]
    fn e(&self) -> &impl E;
}

/// `a.b.c.d.e`.
#[rpc_api]
pub(crate) trait E {
    /// The same add, five namespaces deep.
    async fn add(&self, a: i64, b: i64) -> i64;
}

/// One implementation serves every level.
#[derive(Debug, Default)]
struct Impl {
    notes: AtomicU64,
}

impl Bench for Impl {
    type A = Impl;
    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
    async fn echo_vec(&self, data: ByteBuf) -> ByteBuf {
        data
    }
    async fn echo(&self, data: Blob) -> Blob {
        data
    }
    fn note(&self) {
        self.notes.fetch_add(1, Ordering::Relaxed);
    }
    async fn count(&self) -> u64 {
        self.notes.load(Ordering::Relaxed)
    }
    async fn items(&self, n: u64, mut out: ItemSink<u64>) -> Result<(), String> {
        for i in 0..n {
            out.send(&i).await.map_err(|e| e.to_string())?;
        }
        Ok(())
    }
    async fn blobs(&self, n: u64, size: u64, mut out: ItemSink<Blob>) -> Result<(), String> {
        let blob = Blob::from(vec![7u8; size as usize]);
        for _ in 0..n {
            out.send(&blob).await.map_err(|e| e.to_string())?;
        }
        Ok(())
    }
    fn a(&self) -> &Impl {
        self
    }
}

impl A for Impl {
    type B = Impl;
    fn b(&self) -> &Impl {
        self
    }
}

impl B for Impl {
    type C = Impl;
    fn c(&self) -> &Impl {
        self
    }
}

impl C for Impl {
    type D = Impl;
    fn d(&self) -> &Impl {
        self
    }
}

impl D for Impl {
    type E = Impl;
    fn e(&self) -> &Impl {
        self
    }
}

impl E for Impl {
    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
}

pub(crate) async fn serve() -> Result<Served, String> {
    let server = Server::builder(Peer::builder().serve(BenchService(Impl::default())))
        .bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    served(server)
}

/// `dotrpc-ws`: the same over WebSocket, one message per binary message.
pub(crate) async fn serve_ws() -> Result<Served, String> {
    let server = Server::builder(Peer::builder().serve(BenchService(Impl::default())))
        .bind("ws://127.0.0.1:0/")
        .await
        .map_err(|e| e.to_string())?;
    served(server)
}

fn served(server: Server) -> Result<Served, String> {
    let port = server.local_addr().as_tcp().expect("TCP").port();
    Ok(Served {
        port,
        _keep: Box::new(server),
    })
}

/// The room a stream's consumer grants. Throughput grows with it up to a
/// point: 256 items ahead reached 0.40x the notify rate, 1 024 0.65x.
const STREAM_WINDOW: u32 = 1024;

/// The room the slow reader of `slow` grants.
const SLOW_WINDOW: u32 = 16;

/// A connection's typed client.
#[derive(Clone, Debug)]
pub(crate) struct Client {
    api: BenchClient,
    _peer: Arc<Peer>,
}

pub(crate) async fn connect(port: u16) -> Result<Client, String> {
    let peer = dotrpc::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    Ok(client(peer))
}

pub(crate) async fn connect_ws(port: u16) -> Result<Client, String> {
    let peer = Peer::builder()
        .connect(&format!("ws://127.0.0.1:{port}/"))
        .await
        .map_err(|e| e.to_string())?;
    Ok(client(peer))
}

fn client(peer: Peer) -> Client {
    Client {
        api: peer.client(),
        _peer: Arc::new(peer),
    }
}

/// `nested`: the same `add`, flat and five namespaces deep, in alternating
/// blocks on one connection, so both see the same machine at the same time.
pub(crate) async fn nested(port: u16, plan: Plan) -> Result<Measurement, String> {
    const BLOCK: usize = 500;
    let client = connect(port).await?;
    let deep = &client.api.a.b.c.d.e;
    let (mut flat_time, mut deep_time) = (Duration::ZERO, Duration::ZERO);
    let mut latencies = Vec::with_capacity(plan.lat_calls);
    for round in 0..(plan.warmup_calls + plan.lat_calls).div_ceil(BLOCK) {
        let measuring = round * BLOCK >= plan.warmup_calls;
        let started = Instant::now();
        for i in 0..BLOCK as i64 {
            client.api.add(i, 1).await.map_err(|e| e.to_string())?;
        }
        let flat = started.elapsed();
        let started = Instant::now();
        for i in 0..BLOCK as i64 {
            let call = Instant::now();
            let sum = deep.add(i, 1).await.map_err(|e| e.to_string())?;
            if measuring {
                latencies.push(call.elapsed());
            }
            if sum != i + 1 {
                return Err(format!("a.b.c.d.e.add gave {sum}"));
            }
        }
        if measuring {
            flat_time += flat;
            deep_time += started.elapsed();
        }
    }
    let calls = latencies.len() as u64;
    let mut m = Measurement::new("dotrpc", "nested")
        .rate(calls, deep_time)
        .latencies(latencies);
    m.nested_over_flat = Some(deep_time.as_secs_f64() / flat_time.as_secs_f64());
    Ok(m)
}

impl Rpc for Client {
    async fn add(&self, a: i64, b: i64) -> Result<i64, String> {
        self.api.add(a, b).await.map_err(|e| e.to_string())
    }

    async fn echo(&self, data: Bytes) -> Result<usize, String> {
        let back = self.api.echo(Blob::from(data)).await;
        back.map(|blob| blob.len()).map_err(|e| e.to_string())
    }

    /// The bytes made owned, as tarpc's and jsonrpsee's `echo` make them.
    async fn echo_vec(&self, data: Bytes) -> Result<usize, String> {
        let back = self.api.echo_vec(ByteBuf::from(data.to_vec())).await;
        back.map(|bytes| bytes.len()).map_err(|e| e.to_string())
    }

    fn note(&self) -> Option<Result<(), String>> {
        Some(self.api.note().send().map_err(|e| e.to_string()))
    }

    async fn note_awaited(&self) -> Option<Result<(), String>> {
        Some(self.api.note().await.map_err(|e| e.to_string()))
    }

    async fn items(&self, n: u64) -> Option<Result<u64, String>> {
        let mut items = self.api.items(n).window(STREAM_WINDOW);
        let mut taken = 0;
        while let Some(item) = items.next().await {
            if let Err(error) = item {
                return Some(Err(error.to_string()));
            }
            taken += 1;
        }
        Some(Ok(taken))
    }

    async fn slow(&self) -> Option<Result<Box<dyn std::any::Any>, String>> {
        let mut blobs = self
            .api
            .blobs(1_000_000, SLOW_ITEM_BYTES)
            .window(SLOW_WINDOW);
        for _ in 0..SLOW_TAKEN {
            match blobs.next().await {
                Some(Ok(_)) => tokio::time::sleep(SLOW_EVERY).await,
                Some(Err(error)) => return Some(Err(error.to_string())),
                None => return Some(Err("the stream ended".into())),
            }
        }
        Some(Ok(Box::new(blobs)))
    }

    async fn count(&self) -> Result<u64, String> {
        self.api.count().await.map_err(|e| e.to_string())
    }
}
