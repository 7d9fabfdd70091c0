//! The demo server: a fixed API that tests, peers in other languages and tools
//! use as their counterpart.
//!
//! ```text
//! cargo run --release --example demo_server -- --listen 127.0.0.1:0
//! ```
//!
//! The first line on stdout is `LISTENING 127.0.0.1:PORT`. It serves until
//! SIGTERM or Ctrl-C, then shuts down gracefully (running calls get up to five
//! seconds to answer).
//!
//! | call | result / error |
//! |---|---|
//! | `add(a, b)` (i64) | `a + b` |
//! | `math.div(a, b)` (f64) | `a / b`; `b == 0` → `{"code": "Application", "message": "division by zero"}` |
//! | `math.stats.mean(values)` | the mean, a float |
//! | `echo(x)` | `x`, byte-exact for any msgpack value |
//! | `sleep(ms)` | waits `ms`, returns `ms`; calls on one connection run concurrently |
//! | `stats.notifications()` | how many `log` notifications arrived so far |
//! | notification `events.subscribe(n)` | sends notifications `events.tick [i]`, i in 0..n, to that connection |
//! | notification `log(msg)` | counted; never answered |
//!
//! Unknown methods get `UnknownApi`; wrong params get `InvalidParams`.

mod api;

use std::time::Duration;

use dotrpc::{Peer, Server};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen = parse_listen()?;
    let server = Server::builder(Peer::builder().router(api::router()))
        .bind_tcp(&listen)
        .await?;
    println!("LISTENING {}", server.local_addr());
    let signal = async {
        if let Err(error) = wait_for_signal().await {
            eprintln!("cannot wait for signals ({error}); stopping");
        }
        eprintln!("shutting down");
    };
    server.serve_until(signal, Duration::from_secs(5)).await;
    Ok(())
}

fn parse_listen() -> Result<String, String> {
    let mut args = std::env::args().skip(1);
    let mut listen = "127.0.0.1:9000".to_string();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => {
                listen = args
                    .next()
                    .ok_or("--listen needs an address, such as 127.0.0.1:0")?
            }
            "--help" | "-h" => {
                println!("usage: demo_server [--listen HOST:PORT]   (default 127.0.0.1:9000)");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument `{other}`; try --help")),
        }
    }
    Ok(listen)
}

async fn wait_for_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = term.recv() => Ok(()),
            result = tokio::signal::ctrl_c() => result,
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await
}
