//! Every transport carries calls in both directions and notifications both
//! ways: TCP, Unix sockets, a child process over stdio, and in memory.

mod support;

use std::time::Duration;

use dotrpc::{DisconnectReason, Peer};
use support::{bounded, client_builder, exercise, scenario};

#[tokio::test]
async fn tcp_round_trip_in_both_directions() {
    let server = support::tcp_server(scenario::server_router()).await;
    let (builder, mut pongs) = client_builder();
    let client = builder.connect_tcp(support::addr(&server)).await.unwrap();
    exercise(&client, &mut pongs).await;
    assert_eq!(server.connection_count(), 1);
    client.close();
    server.shutdown(Duration::from_secs(1)).await;
}

#[cfg(unix)]
#[tokio::test]
async fn unix_socket_round_trip_in_both_directions() {
    use std::os::unix::fs::PermissionsExt;

    let dir = std::env::temp_dir().join(format!("dotrpc-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("transports.sock");
    let _ = std::fs::remove_file(&path);
    let server = dotrpc::Server::builder(Peer::builder().router(scenario::server_router()))
        .bind_unix(&path)
        .await
        .unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the socket file must be private to its owner");

    let (builder, mut pongs) = client_builder();
    let client = builder.connect_unix(&path).await.unwrap();
    exercise(&client, &mut pongs).await;
    client.close();
    server.shutdown(Duration::from_secs(1)).await;
    assert!(!path.exists(), "shutdown removes the socket file");
    let _ = std::fs::remove_dir(&dir);
}

#[tokio::test]
async fn child_process_over_stdio_round_trip_in_both_directions() {
    let (builder, mut pongs) = client_builder();
    let command = tokio::process::Command::new(env!("CARGO_BIN_EXE_dotrpc-stdio-peer"));
    let (client, mut child) = builder.spawn_child(command).unwrap();
    exercise(&client, &mut pongs).await;

    // Closing our end closes the child's stdin; it exits by itself.
    client.close();
    let status = bounded(child.wait()).await.unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn memory_pair_round_trip_in_both_directions() {
    let (builder, mut pongs) = client_builder();
    let (client, server) =
        dotrpc::memory_pair(builder, Peer::builder().router(scenario::server_router()));
    exercise(&client, &mut pongs).await;

    // And the other way round: the server side calls the client.
    let name: String = bounded(server.call("parent.name", ())).await.unwrap();
    assert_eq!(name, "the test");

    drop(server);
    assert_eq!(bounded(client.closed()).await, DisconnectReason::Eof);
}
