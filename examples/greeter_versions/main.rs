//! One instance of the greeter API, version 1 or 2 (`api.rs`), serving on
//! NATS as the service `greeter`: what a rolling upgrade replaces one by
//! one. Prints `NATS greeter v1` (or `v2`) once subscribed; on SIGTERM it
//! drains (stops taking calls, answers those it has) and exits.
//!
//! ```text
//! cargo run --example greeter_versions -- --version 2 --nats nats://127.0.0.1:4222
//! ```

mod api;

use std::time::Duration;

use dotrpc::Peer;
use dotrpc_nats::NatsService;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (version, url) = parse_args()?;
    // RUST_LOG=dotrpc_nats=debug tells the drain's story.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .init();
    }
    let builder = match version {
        1 => Peer::builder().serve(api::v1::GreeterService(api::v1::Server)),
        _ => Peer::builder().serve(api::v2::GreeterService(api::v2::Server)),
    };
    let service = NatsService::builder(builder, "greeter")
        .version(&format!("{version}.0.0"))
        .start(url.as_str())
        .await?;
    println!("NATS {} v{version}", service.prefix());
    wait_for_signal().await?;
    service.drain(Duration::from_secs(5)).await;
    Ok(())
}

/// `--version 1|2 --nats URL`.
fn parse_args() -> Result<(u8, String), String> {
    let mut args = std::env::args().skip(1);
    let (mut version, mut url) = (None, None);
    while let Some(arg) = args.next() {
        let value = args.next().ok_or(format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--version" => version = Some(value),
            "--nats" => url = Some(value),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let usage = "usage: greeter_versions --version 1|2 --nats nats://HOST:PORT";
    let version = match version.as_deref() {
        Some("1") => 1,
        Some("2") => 2,
        _ => return Err(usage.into()),
    };
    Ok((version, url.ok_or(usage)?))
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
