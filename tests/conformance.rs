//! The conformance suite (`conformance/`, a Python runner with plain
//! `msgpack`, cases named after the sections of PROTOCOL.md) against the
//! conformance API served in-process: over TCP, over WebSocket, and as a
//! service on a real nats-server. Every case must pass.

mod support;

use std::time::Duration;

use dotrpc::nats::NatsService;
use dotrpc::{Peer, Server};
use support::demo;
use support::nats::NatsServer;

/// Runs `conformance/run.sh ADDR`; returns its output once it has passed
/// every case, and at least `at_least` of them.
async fn conformance(address: String, at_least: usize) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/conformance/run.sh");
    let output = tokio::time::timeout(
        Duration::from_secs(300),
        tokio::process::Command::new(script)
            .arg(&address)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the suite ends within five minutes")
    .expect("conformance/run.sh runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stdout.lines().last().unwrap_or_default().to_owned();
    let passed: usize = last
        .strip_prefix("conformance: ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no summary line:\n{stdout}\n{stderr}"));
    assert!(
        output.status.success() && last.ends_with(" 0 failed"),
        "{address}:\n{}\n{stderr}",
        stdout
            .lines()
            .filter(|line| !line.starts_with("ok "))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        passed >= at_least,
        "{address}: only {passed} cases ran\n{stdout}"
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_over_tcp_passes_every_case() {
    let server = Server::builder(Peer::builder().router(demo::router()))
        .bind_tcp("127.0.0.1:0")
        .await
        .unwrap();
    let address = format!("tcp://{}", server.local_addr());
    conformance(address, 120).await;
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_over_websocket_passes_every_case() {
    let server = Server::builder(Peer::builder().router(demo::router()))
        .bind_ws(
            "127.0.0.1:0",
            dotrpc::transport::websocket::Origins::same_origin(),
        )
        .await
        .unwrap();
    let address = format!("ws://{}/", server.local_addr());
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
