//! A web page that calls the demo API from the browser: an axum server
//! serves the page and, at `/rpc`, the API over WebSocket; the page uses the
//! TypeScript client (`clients/typescript`) to call nested methods, show an
//! application error, answer a call from the server, list the events the
//! server pushes, and take the items of a stream.
//!
//! ```text
//! scripts/typescript.sh        # builds the client the page imports
//! cargo run --example browser -- --listen 127.0.0.1:8080
//! ```
//!
//! The first line on stdout is `LISTENING http://127.0.0.1:PORT/`; open it
//! in a browser. It serves until SIGTERM or Ctrl-C. `tests/browser.rs`
//! loads the page in headless Chromium and checks what it shows.

#[path = "../demo_server/api.rs"]
mod api;
mod app;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use dotrpc::{Peer, Server};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen = parse_args()?;
    let modules =
        app::Modules::of(&Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/typescript"));
    if !modules.built() {
        return Err("the TypeScript client is not built: run scripts/typescript.sh first".into());
    }
    // Connections come from axum's route, not from a listener of its own.
    let rpc = Server::builder(Peer::builder().router(api::router())).without_listener();
    let app = app::app(&rpc, modules);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("LISTENING http://{}/", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        if let Err(error) = wait_for_signal().await {
            eprintln!("cannot wait for signals ({error}); stopping");
        }
    })
    .await?;
    eprintln!("shutting down");
    rpc.shutdown(Duration::from_secs(5)).await;
    Ok(())
}

fn parse_args() -> Result<String, String> {
    let mut args = std::env::args().skip(1);
    let mut listen = "127.0.0.1:8080".to_owned();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => {
                listen = args
                    .next()
                    .ok_or("--listen needs a value, such as 127.0.0.1:0")?;
            }
            "--help" | "-h" => {
                println!("usage: browser [--listen HOST:PORT] (default 127.0.0.1:8080)");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument `{other}`; try --help")),
        }
    }
    Ok(listen)
}

async fn wait_for_signal() -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => Ok(()),
        result = tokio::signal::ctrl_c() => result,
    }
}
