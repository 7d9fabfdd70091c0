//! Handlers registered at run time by namespace path, with no `#[rpc_api]`:
//! typed closures, a namespace view, and the `UnknownApi` a missing path gets.
//! Run it with `cargo run --example runtime_handlers`.

use std::sync::Arc;
use std::time::Duration;

use dotrpc::{Error, Peer, Router, Server};

#[tokio::main]
async fn main() -> dotrpc::Result<()> {
    // The server's API: handlers by dot-joined path; a namespace is a prefix.
    let router = Arc::new(Router::new());
    router.set_handler("add", |a: i64, b: i64| async move { a + b });
    let math = router.namespace("math");
    math.set_handler("div", |a: f64, b: f64| async move {
        if b == 0.0 {
            Err("division by zero".to_string())
        } else {
            Ok(a / b)
        }
    });
    math.namespace("stats")
        .set_handler("mean", |xs: Vec<f64>| async move {
            xs.iter().sum::<f64>() / xs.len().max(1) as f64
        });

    let server = Server::builder(Peer::builder().router(router))
        .bind("127.0.0.1:0")
        .await?;
    let addr = server.local_addr().as_tcp().expect("a TCP server");
    println!("server listening on {addr}");

    // A client: calls are typed by the result the caller asks for.
    let peer = dotrpc::connect(addr).await?;
    let sum: i64 = peer.call("add", (1, 2)).await?;
    println!("add(1, 2) = {sum}");

    let mean: f64 = peer
        .call("math.stats.mean", (vec![1.0, 2.0, 4.5],))
        .timeout(Duration::from_secs(1))
        .await?;
    println!("math.stats.mean([1, 2, 4.5]) = {mean}");

    match peer.call::<f64>("math.div", (1.0, 0.0)).await {
        Err(Error::Remote(error)) => println!("math.div(1, 0) failed: {}", error.message()),
        other => println!("math.div(1, 0) = {other:?}"),
    }

    match peer.call::<()>("math.pow", (2, 8)).await {
        Err(error @ Error::UnknownApi { .. }) => println!("math.pow: {error}"),
        other => println!("math.pow = {other:?}"),
    }

    peer.close();
    server.shutdown(Duration::from_secs(1)).await;
    Ok(())
}
