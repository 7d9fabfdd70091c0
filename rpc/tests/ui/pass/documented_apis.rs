//! Generated items carry docs and pass `deny(missing_docs)` and `deny(warnings)`
//! in the user's crate, in both forms, on edition 2024.
#![deny(missing_docs, warnings)]

use dotrpc::rpc_api;

/// A calculator.
#[rpc_api(namespace = "calc")]
pub trait Calculator {
    /// Adds.
    async fn add(&self, a: i64, b: i64) -> i64;
    /// Logs.
    #[rpc(event)]
    async fn log(&self, line: String);
    /// Math.
    #[rpc(nested)]
    fn math(&self) -> &impl Math;
}

/// Math.
#[rpc_api]
pub trait Math {
    /// Divides.
    fn div(&self, a: f64, b: f64) -> Result<f64, String>;
}

/// A counter.
#[derive(Debug, Default)]
pub struct Counter;

#[rpc_api]
impl Counter {
    /// Counts.
    async fn count(&self) -> u64 {
        1
    }
}

fn main() {
    let _ = CalculatorClient::clone;
    let _ = CounterClient::count;
    let _ = MathClient::div;
}
