//! The conformance suite (`conformance/`, a Python runner with plain
//! `msgpack`, cases named after the sections of PROTOCOL.md) against the
//! conformance API served in-process: over TCP, over WebSocket, and as a
//! service on a real nats-server; and its client side
//! (`conformance/clients.py`, a scripted server) against every client in
//! the repository: Rust's and TypeScript's, through their drivers in
//! `conformance/drivers`. Every case must pass.

mod support;

use std::time::Duration;

use dotrpc::{Peer, Server};
use dotrpc_nats::NatsService;
use support::demo;
use support::nats::NatsServer;

/// Runs `conformance/run.sh ADDR`, the server side; returns its output once
/// it has passed every case, and at least `at_least` of them.
async fn conformance(address: String, at_least: usize) -> String {
    suite("run.sh", &[&address], "conformance: ", at_least).await
}

/// Runs `conformance/clients.sh DRIVER...`, the client side; returns its
/// output once the client has passed every scenario, and at least
/// `at_least` of them.
async fn client_conformance(driver: &[&str], at_least: usize) -> String {
    suite("clients.sh", driver, "conformance (client): ", at_least).await
}

/// Runs `conformance/SCRIPT ARGS`, whose last line is `SUMMARY N passed, M
/// failed`.
async fn suite(script: &str, args: &[&str], summary: &str, at_least: usize) -> String {
    let script = format!("{}/conformance/{script}", env!("CARGO_MANIFEST_DIR"));
    let output = tokio::time::timeout(
        Duration::from_secs(300),
        tokio::process::Command::new(&script)
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the suite ends within five minutes")
    .unwrap_or_else(|error| panic!("{script} runs: {error}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stdout.lines().last().unwrap_or_default().to_owned();
    let passed: usize = last
        .strip_prefix(summary)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no summary line:\n{stdout}\n{stderr}"));
    assert!(
        output.status.success() && last.ends_with(" 0 failed"),
        "{args:?}:\n{}\n{stderr}",
        stdout
            .lines()
            .filter(|line| !line.starts_with("ok "))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        passed >= at_least,
        "{args:?}: only {passed} cases ran\n{stdout}"
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_over_tcp_passes_every_case() {
    let server = Server::builder(Peer::builder().router(demo::router()))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let address = format!("tcp://{}", server.local_addr());
    conformance(address, 120).await;
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_over_websocket_passes_every_case() {
    let server = Server::builder(Peer::builder().router(demo::router()))
        .bind("ws://127.0.0.1:0/")
        .await
        .unwrap();
    let address = server.local_addr().to_string();
    conformance(address, 120).await;
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_on_nats_passes_every_case() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let service = NatsService::builder(Peer::builder().router(demo::router()), "demo")
        .start(&nats.url)
        .await
        .unwrap();
    conformance(format!("{}/demo", nats.url), 25).await;
    service.drain(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_client_passes_every_client_case() {
    client_conformance(&[env!("CARGO_BIN_EXE_dotrpc-conformance-client")], 12).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typescript_client_passes_every_client_case() {
    tokio::task::spawn_blocking(support::typescript_client)
        .await
        .unwrap();
    let driver = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/conformance/drivers/typescript.mjs"
    );
    client_conformance(&["node", driver], 12).await;
}
