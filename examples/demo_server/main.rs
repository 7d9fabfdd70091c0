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
//! With `--nats nats://HOST:PORT` it also serves the API on NATS, as one
//! instance of the service under `--prefix` (default `demo`): `add` is
//! answered on `demo.add`. Once subscribed it prints `NATS demo` (the
//! prefix); on SIGTERM it drains (stops taking calls, answers those it has).
//! With `--nats` and no `--listen`, it serves on NATS alone. With `--ws
//! HOST:PORT` it also serves the API over WebSocket (any path; one
//! msgpack-rpc message per binary message) and prints `WS ws://HOST:PORT/`.
//!
//! | call | result / error |
//! |---|---|
//! | `add(a, b)` (i64) | `a + b` |
//! | `math.div(a, b)` (f64) | `a / b`; `b == 0` → `{"code": "Application", "message": "division by zero"}` |
//! | `math.round(x, digits?)` (f64) | `x` rounded to `digits` places; `digits` may be left out (0) |
//! | `math.stats.mean(values)` | the mean, a float |
//! | `echo(x)` | `x`, byte-exact for any msgpack value |
//! | `sleep(ms)` | waits `ms`, returns `ms`; calls on one connection run concurrently |
//! | `count(n, delay_ms)` | a stream of the integers `0..n`, one every `delay_ms` ms |
//! | `sum(stream of i64)` | the total of the items the caller sends (wrapping) |
//! | `double(stream of i64)` | both ways: each item the caller sends, doubled |
//! | `greet()` | calls the caller's `client.name()` and returns `"hello, NAME"`; its failure → `Application` |
//! | `stats.notifications()` | how many `log` notifications arrived so far |
//! | `shop.quote(order)` | an order's `{total_cents, items, ship_to}`: nested structs and enums; an empty order or an unknown discount code → `Application` with a `ShopError` |
//! | notification `events.subscribe(n)` | sends notifications `events.tick [i]`, i in 0..n, to that connection (over NATS: published for every client) |
//! | notification `log(msg)` | counted; never answered |
//!
//! Unknown methods get `UnknownApi`; wrong params get `InvalidParams`.
//!
//! With `RUST_LOG` set (`RUST_LOG=dotrpc=debug`), it logs to stderr: a
//! NATS instance tells its drain there, call by call.

mod api;

use std::sync::Arc;
use std::time::Duration;

use dotrpc::{Peer, Server};
use dotrpc_nats::NatsService;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
    let router = api::router();
    let server = match &args.listen {
        Some(listen) => {
            let server = Server::builder(Peer::builder().router(Arc::clone(&router)))
                .bind(listen)
                .await?;
            println!("LISTENING {}", server.local_addr());
            Some(server)
        }
        None => None,
    };
    let ws = match &args.ws {
        Some(addr) => {
            let server = Server::builder(Peer::builder().router(Arc::clone(&router)))
                .origins(dotrpc::transport::websocket::Origins::same_origin())
                .bind(format!("ws://{addr}/"))
                .await?;
            println!("WS {}", server.local_addr());
            Some(server)
        }
        None => None,
    };
    let nats = match &args.nats {
        Some(url) => {
            let service = NatsService::builder(Peer::builder().router(router), &args.prefix)
                .version(env!("CARGO_PKG_VERSION"))
                .description("the dotrpc demo API")
                .start(url)
                .await?;
            println!("NATS {}", service.prefix());
            Some(service)
        }
        None => None,
    };
    if let Err(error) = wait_for_signal().await {
        eprintln!("cannot wait for signals ({error}); stopping");
    }
    eprintln!("shutting down");
    let grace = Duration::from_secs(5);
    let stop_nats = async {
        if let Some(service) = nats {
            service.drain(grace).await;
        }
    };
    let stop_tcp = async {
        if let Some(server) = server {
            server.shutdown(grace).await;
        }
    };
    let stop_ws = async {
        if let Some(server) = ws {
            server.shutdown(grace).await;
        }
    };
    tokio::join!(stop_nats, stop_tcp, stop_ws);
    Ok(())
}

/// What the command line asks for.
struct Args {
    listen: Option<String>,
    ws: Option<String>,
    nats: Option<String>,
    prefix: String,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let (mut listen, mut ws, mut nats, mut prefix) = (None, None, None, "demo".to_owned());
    while let Some(arg) = args.next() {
        let mut value = |example: &str| {
            args.next()
                .ok_or(format!("{arg} needs a value, such as {example}"))
        };
        match arg.as_str() {
            "--listen" => listen = Some(value("127.0.0.1:0")?),
            "--ws" => ws = Some(value("127.0.0.1:0")?),
            "--nats" => nats = Some(value("nats://127.0.0.1:4222")?),
            "--prefix" => prefix = value("demo")?,
            "--help" | "-h" => {
                println!(
                    "usage: demo_server [--listen HOST:PORT] [--ws HOST:PORT] [--nats nats://HOST:PORT [--prefix P]]\n\
                     (default: --listen 127.0.0.1:9000; --prefix demo)"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument `{other}`; try --help")),
        }
    }
    if listen.is_none() && nats.is_none() && ws.is_none() {
        listen = Some("127.0.0.1:9000".to_owned());
    }
    Ok(Args {
        listen,
        ws,
        nats,
        prefix,
    })
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
