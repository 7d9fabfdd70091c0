//! `#[rpc_api]` APIs nested three deep, in both forms (trait and impl block),
//! over the in-memory and TCP transports; renamed methods and namespaces;
//! several root namespaces on one peer.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dotrpc::{Error, Peer, rpc_api};
use support::bounded;

// ---- The trait form: the contract, implemented by the server.

/// The top of a three-level API.
#[rpc_api]
pub trait Calculator {
    /// Adds two numbers.
    async fn add(&self, a: i64, b: i64) -> i64;
    /// Math, reached as `calc.math.*`.
    #[rpc(nested)]
    fn math(&self) -> &impl Math;
}

/// The second level.
#[rpc_api]
pub trait Math {
    /// Divides; dividing by zero is an application error.
    async fn div(&self, a: f64, b: f64) -> Result<f64, String>;
    /// Renamed on the wire.
    #[rpc(nested, name = "statistics")]
    fn stats(&self) -> &impl Stats;
}

/// The third level.
#[rpc_api]
pub trait Stats {
    /// The mean of some values.
    fn mean(&self, values: Vec<f64>) -> f64;
    /// A plain `fn` renamed on the wire.
    #[rpc(name = "count")]
    fn len(&self, values: Vec<f64>) -> usize;
}

#[derive(Default)]
struct MyStats;

impl Stats for MyStats {
    fn mean(&self, values: Vec<f64>) -> f64 {
        values.iter().sum::<f64>() / values.len() as f64
    }
    fn len(&self, values: Vec<f64>) -> usize {
        values.len()
    }
}

#[derive(Default)]
struct MyMath {
    stats: MyStats,
}

impl Math for MyMath {
    type Stats = MyStats;
    async fn div(&self, a: f64, b: f64) -> Result<f64, String> {
        if b == 0.0 {
            Err("division by zero".into())
        } else {
            Ok(a / b)
        }
    }
    fn stats(&self) -> &MyStats {
        &self.stats
    }
}

#[derive(Default)]
struct MyCalculator {
    math: MyMath,
}

impl Calculator for MyCalculator {
    type Math = MyMath;
    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
    fn math(&self) -> &MyMath {
        &self.math
    }
}

async fn check_calculator(calc: &CalculatorClient) {
    assert_eq!(bounded(calc.add(1, 2)).await.unwrap(), 3);
    assert_eq!(bounded(calc.math.div(1.0, 4.0)).await.unwrap(), 0.25);
    let error = bounded(calc.math.div(1.0, 0.0)).await.unwrap_err();
    assert!(
        matches!(&error, Error::Remote(message) if message == "division by zero"),
        "{error:?}"
    );
    assert_eq!(
        bounded(calc.math.stats.mean(vec![1.0, 2.0, 6.0]))
            .await
            .unwrap(),
        3.0
    );
    assert_eq!(
        bounded(calc.math.stats.len(vec![1.0, 2.0])).await.unwrap(),
        2
    );
}

#[tokio::test]
async fn a_nested_trait_api_over_memory() {
    let (client, _server) = dotrpc::memory_pair(
        Peer::builder(),
        Peer::builder().serve(CalculatorService(MyCalculator::default())),
    );
    check_calculator(&client.client::<CalculatorClient>()).await;
    let paths = _server.router().paths();
    assert_eq!(
        paths,
        [
            "add",
            "math.div",
            "math.statistics.count",
            "math.statistics.mean"
        ]
    );
}

#[tokio::test]
async fn a_nested_trait_api_over_tcp() {
    let server =
        dotrpc::Server::builder(Peer::builder().serve(CalculatorService(MyCalculator::default())))
            .bind("127.0.0.1:0")
            .await
            .unwrap();
    let peer = dotrpc::connect(support::addr(&server)).await.unwrap();
    check_calculator(&peer.client()).await;
    // The wire names are the dot-joined paths: a dynamic call reaches them too.
    let mean: f64 = bounded(peer.call("math.statistics.mean", (vec![2.0, 4.0],)))
        .await
        .unwrap();
    assert_eq!(mean, 3.0);
    peer.close();
    server.shutdown(Duration::from_secs(1)).await;
}

// ---- The impl-block form: one type is the handler and the source of the stub.

/// A counter, three levels deep.
#[derive(Debug, Default)]
pub struct Counter {
    hits: AtomicU64,
    inner: Inner,
}

#[rpc_api]
impl Counter {
    /// Counts a hit and returns the total.
    async fn hit(&self) -> u64 {
        self.hits.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The inner level.
    #[rpc(nested)]
    fn inner(&self) -> &Inner {
        &self.inner
    }

    /// Not part of the API.
    #[rpc(skip)]
    pub fn total(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }
}

/// The second level of the counter.
#[derive(Debug, Default)]
pub struct Inner {
    innermost: Innermost,
}

#[rpc_api]
impl Inner {
    /// Echoes a word.
    fn word(&self, word: String) -> String {
        word
    }

    #[rpc(nested, name = "deepest")]
    fn innermost(&self) -> &Innermost {
        &self.innermost
    }
}

/// The third level.
#[derive(Debug, Default)]
pub struct Innermost;

#[rpc_api]
impl Innermost {
    /// Fails with a typed error on negative input.
    async fn sqrt(&self, x: f64) -> Result<f64, SqrtError> {
        if x < 0.0 {
            Err(SqrtError::Negative { x })
        } else {
            Ok(x.sqrt())
        }
    }
}

/// The typed error of `Innermost::sqrt`.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum SqrtError {
    /// The input was negative.
    Negative {
        /// The input.
        x: f64,
    },
}

impl std::fmt::Display for SqrtError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SqrtError::Negative { x } => write!(f, "no square root of the negative {x}"),
        }
    }
}

#[tokio::test]
async fn a_nested_impl_block_api_over_memory_and_tcp() {
    let (peer, server_side) =
        dotrpc::memory_pair(Peer::builder(), Peer::builder().serve(Counter::default()));
    let counter = peer.client::<CounterClient>();
    assert_eq!(bounded(counter.hit()).await.unwrap(), 1);
    assert_eq!(
        bounded(counter.inner.word("hello".into())).await.unwrap(),
        "hello"
    );
    assert_eq!(
        bounded(counter.inner.innermost.sqrt(9.0)).await.unwrap(),
        3.0
    );
    let error = bounded(counter.inner.innermost.sqrt(-1.0))
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::Remote(SqrtError::Negative { x }) if x == -1.0),
        "{error:?}"
    );
    assert_eq!(
        server_side.router().paths(),
        ["hit", "inner.deepest.sqrt", "inner.word"]
    );

    let server = dotrpc::Server::builder(Peer::builder().serve(Counter::default()))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let peer = dotrpc::connect(support::addr(&server)).await.unwrap();
    let counter: CounterClient = peer.client();
    assert_eq!(bounded(counter.hit()).await.unwrap(), 1);
    assert_eq!(
        bounded(counter.inner.innermost.sqrt(16.0)).await.unwrap(),
        4.0
    );
    peer.close();
    server.shutdown(Duration::from_secs(1)).await;
}

// ---- Several root namespaces on one peer (epyrpc's ApiArb).

/// A head.
#[rpc_api(namespace = "head")]
pub trait Head {
    /// Nods.
    async fn nod(&self, times: u32) -> String;
}

struct MyHead;

impl Head for MyHead {
    async fn nod(&self, times: u32) -> String {
        "nod ".repeat(times as usize).trim_end().to_owned()
    }
}

#[tokio::test]
async fn several_apis_share_one_peer_under_their_namespaces() {
    let server = Peer::builder()
        .serve(HeadService(MyHead))
        .serve_at("tools", Counter::default())
        .serve_at("calc", CalculatorService(MyCalculator::default()));
    let (peer, _server) = dotrpc::memory_pair(Peer::builder(), server);

    let head: HeadClient = peer.client();
    assert_eq!(bounded(head.nod(2)).await.unwrap(), "nod nod");
    let tools: CounterClient = peer.client_at("tools");
    assert_eq!(bounded(tools.inner.word("x".into())).await.unwrap(), "x");
    check_calculator(&peer.client_at("calc")).await;

    // The API's own namespace is only the default: the root has no `nod`.
    let at_root: HeadClient = peer.client_at("");
    let error = bounded(at_root.nod(1)).await.unwrap_err();
    assert!(
        matches!(&error, Error::UnknownApi { method } if method == "nod"),
        "{error:?}"
    );
}
