//! A plain-threads program (as a GUI or a script would be): no `async` in
//! sight. An event loop runs on a background thread; this thread makes
//! blocking calls with timeouts, a callback call, and polls a handle, with
//! connection-state callbacks printing as they come, and survives the server
//! restarting underneath it.
//! Run it with `cargo run --example blocking_client`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use dotrpc::runtime::BackgroundRuntime;
use dotrpc::{
    Peer, Router, Server,
    client::CallStatus,
    peer::{ConnectionEvent, Reconnect, WhileDown},
};

/// Starts the server this program talks to (its own, to stay self-contained).
fn start_server(runtime: &BackgroundRuntime, addr: SocketAddr) -> Server {
    let router = Arc::new(Router::new());
    router.set_handler("add", |a: i64, b: i64| async move { a + b });
    router.set_handler("sleep", |ms: u64| async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    });
    // The port of a server that just stopped can take a moment to free.
    for _ in 0..100 {
        let builder = Server::builder(Peer::builder().router(Arc::clone(&router)));
        match runtime.block_on(builder.bind(addr)) {
            Ok(server) => return server,
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    panic!("cannot bind {addr}");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = BackgroundRuntime::new()?;
    let server = start_server(&runtime, "127.0.0.1:0".parse()?);
    let addr = server.local_addr().as_tcp().expect("a TCP server");

    // Status callbacks print, and tell this thread when the connection drops.
    let (dropped, drops) = std::sync::mpsc::channel();
    let connect = Peer::builder()
        .on_event(move |event| {
            println!("[status] {event:?}");
            if matches!(event, ConnectionEvent::Disconnected { .. }) {
                let _ = dropped.send(());
            }
        })
        .reconnect(
            Reconnect::new()
                .initial_backoff(Duration::from_millis(50))
                .while_down(WhileDown::Wait),
        )
        .connect(addr);
    let peer = runtime.block_on(connect)?;

    // A blocking call with a timeout.
    let sum: i64 = peer
        .call("add", (1, 2))
        .wait_timeout(Duration::from_secs(1))?;
    println!("add(1, 2) = {sum}");

    // A callback, called exactly once, on the event loop's thread.
    let (done, outcome) = std::sync::mpsc::channel();
    peer.call::<i64>("add", (3, 4)).callback(move |result| {
        let _ = done.send(result);
    });
    println!(
        "add(3, 4) by callback = {}",
        outcome.recv_timeout(Duration::from_secs(1))??
    );

    // A handle, polled while this thread does other work.
    let handle = peer.call::<u64>("sleep", (120,)).spawn();
    let mut polls = 0;
    while handle.status() == CallStatus::Pending && polls < 100 {
        polls += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    println!(
        "sleep(120): {:?} after {} polls, msgid {:?}, took {:?}",
        handle.status(),
        polls,
        handle.msgid(),
        handle.elapsed()
    );

    println!("-- stopping the server");
    runtime.block_on(server.shutdown(Duration::from_secs(1)));
    // A call sent before the client notices the drop would fail with
    // `Disconnected` (a call already sent is never sent again: it may have
    // run). Once the client knows it is down, calls wait for the reconnect.
    drops.recv_timeout(Duration::from_secs(5))?;
    let waiting = std::thread::spawn({
        let peer = peer.clone();
        move || {
            peer.call::<i64>("add", (5, 6))
                .wait_timeout(Duration::from_secs(5))
        }
    });
    println!("-- starting it again on {addr}");
    let server = start_server(&runtime, addr);

    // Made while the client was down: it waited (policy `WhileDown::Wait`).
    let sum = waiting.join().expect("the calling thread")?;
    println!("add(5, 6) after the restart = {sum}");

    peer.close();
    runtime.block_on(server.shutdown(Duration::from_secs(1)));
    Ok(())
}
