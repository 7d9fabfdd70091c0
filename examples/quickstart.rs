//! Quickstart: a nested API written as Rust traits, served over TCP and
//! called through its typed client, in one process.
//! Run it with `cargo run --example quickstart`.

use std::time::Duration;

use dotrpc::{Error, Peer, Server, rpc_api};
use serde::{Deserialize, Serialize};

/// A calculator, with math nested under it.
#[rpc_api]
pub trait Calculator {
    /// Adds two numbers.
    async fn add(&self, a: i64, b: i64) -> i64;
    /// Math, reached as `calc.math.div(..)`; on the wire, `"math.div"`.
    #[rpc(nested)]
    fn math(&self) -> &impl Math;
    /// A one-way event.
    #[rpc(event)]
    async fn log(&self, line: String);
}

/// The nested API.
#[rpc_api]
pub trait Math {
    /// Divides `a` by `b`.
    async fn div(&self, a: f64, b: f64) -> Result<f64, MathError>;
}

/// The typed error of `Math::div`, sent back to the caller as itself.
#[derive(Debug, Serialize, Deserialize)]
pub enum MathError {
    /// `b` was zero.
    DivisionByZero,
}

impl std::fmt::Display for MathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("division by zero")
    }
}

// The server's implementation.

#[derive(Default)]
struct MyMath;

impl Math for MyMath {
    async fn div(&self, a: f64, b: f64) -> Result<f64, MathError> {
        if b == 0.0 {
            Err(MathError::DivisionByZero)
        } else {
            Ok(a / b)
        }
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

    async fn log(&self, line: String) {
        println!("server log: {line}");
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let api = CalculatorService(MyCalculator::default());
    let server = Server::builder(Peer::builder().serve(api))
        .bind("127.0.0.1:0")
        .await?;
    let addr = server.local_addr().as_tcp().expect("a TCP server");

    let peer = dotrpc::connect(addr).await?;
    let calc: CalculatorClient = peer.client();

    println!("add(1, 2) = {}", calc.add(1, 2).await?);
    let quarter = calc
        .math
        .div(1.0, 4.0)
        .timeout(Duration::from_secs(1))
        .await?;
    println!("math.div(1, 4) = {quarter}");
    match calc.math.div(1.0, 0.0).await {
        Err(Error::Remote(MathError::DivisionByZero)) => {
            println!("math.div(1, 0) failed: division by zero")
        }
        other => println!("math.div(1, 0) = {other:?}"),
    }
    calc.log("hello from the client".into()).await?;

    // The API describes itself over the wire.
    // (with the shape of every type it takes and gives).
    let described: dotrpc::Description = peer.call("rpc.describe", ()).await?;
    for method in &described.methods {
        println!(
            "described: {} ({} params) -> {}",
            method.path,
            method.params.len(),
            method.returns
        );
    }
    for (name, shape) in &described.types {
        println!("described type: {}", shape.declaration(name));
    }

    peer.close();
    server.shutdown(Duration::from_secs(1)).await;
    Ok(())
}
