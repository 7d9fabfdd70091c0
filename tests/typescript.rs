//! The TypeScript client (`clients/typescript`) against the demo API: its
//! own Node test suite (`clients/typescript/test`), built by
//! `scripts/typescript.sh` with its pinned compiler, run against the demo
//! server over TCP and over WebSocket: nested calls, errors, timeouts,
//! notifications both ways, typed events, handlers the server calls, and
//! reconnection.

mod support;

use std::sync::Arc;
use std::time::Duration;

use dotrpc::transport::websocket::Origins;
use dotrpc::{Peer, Server};
use support::demo;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typescript_clients_suite_passes_against_the_demo_server() {
    let client = tokio::task::spawn_blocking(support::typescript_client)
        .await
        .unwrap();
    let router = demo::router();
    let tcp = Server::builder(Peer::builder().router(Arc::clone(&router)))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let ws = Server::builder(Peer::builder().router(router))
        .origins(Origins::same_origin())
        .bind("ws://127.0.0.1:0/")
        .await
        .unwrap();

    // The report goes to a file, so that it can be shown even if the suite
    // has to be stopped.
    let report_path = std::env::temp_dir().join(format!("dotrpc-ts-{}.tap", std::process::id()));
    let mut suite = tokio::process::Command::new("node")
        .args([
            "--experimental-websocket",
            "--test",
            "--test-reporter=tap",
            "dist/test/client.test.js",
        ])
        .current_dir(&client)
        .env("DOTRPC_TCP", tcp.local_addr().to_string())
        .env("DOTRPC_WS", format!("ws://{}/rpc", support::addr(&ws)))
        .stdout(std::fs::File::create(&report_path).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(120), suite.wait()).await;
    let report = std::fs::read_to_string(&report_path).unwrap_or_default();
    let _ = std::fs::remove_file(&report_path);
    let status = status
        .unwrap_or_else(|_| panic!("the suite ran for over two minutes:\n{report}"))
        .unwrap();
    assert!(
        status.success(),
        "the TypeScript client's suite failed:\n{report}"
    );
    // Every test ran: none was skipped or left out.
    assert!(report.contains("# fail 0"), "{report}");
    assert!(report.contains("# tests 22"), "{report}");

    tcp.shutdown(Duration::from_secs(1)).await;
    ws.shutdown(Duration::from_secs(1)).await;
}
