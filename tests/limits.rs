//! Limits a server operator relies on, over raw sockets: a connection that
//! sends nothing past the idle timeout, trickles a message past the message
//! timeout, or stops reading its replies past the write-queue limit is
//! closed, with the reason reported, while other connections carry on.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use dotrpc::{ConnectionEvent, DisconnectReason, Peer, PeerBuilder, Server, Value};
use support::{bounded, demo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type Reasons = Arc<Mutex<Vec<DisconnectReason>>>;

async fn server_with(configure: impl FnOnce(PeerBuilder) -> PeerBuilder) -> (Server, Reasons) {
    let reasons: Reasons = Arc::default();
    let seen = Arc::clone(&reasons);
    let template = configure(Peer::builder().router(demo::router())).on_event(move |event| {
        if let ConnectionEvent::Disconnected { reason } = event {
            seen.lock().unwrap().push(reason.clone());
        }
    });
    (
        Server::builder(template)
            .bind_tcp("127.0.0.1:0")
            .await
            .unwrap(),
        reasons,
    )
}

/// Reads until the server closes the stream (EOF or reset).
async fn until_closed(stream: &mut TcpStream) {
    let mut sink = vec![0; 64 * 1024];
    bounded(async {
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_idle_timeout() {
    let (server, reasons) = server_with(|b| b.idle_timeout(Some(Duration::from_millis(50)))).await;
    let mut silent = TcpStream::connect(support::addr(&server)).await.unwrap();
    until_closed(&mut silent).await;
    assert_eq!(
        support::first_reason(&reasons).await,
        DisconnectReason::Idle {
            after: Duration::from_millis(50)
        }
    );
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_trickled_message_is_cut_off_after_the_message_timeout() {
    let (server, reasons) =
        server_with(|b| b.message_timeout(Some(Duration::from_millis(50)))).await;
    let good = dotrpc::connect(support::addr(&server)).await.unwrap();
    let mut trickle = TcpStream::connect(support::addr(&server)).await.unwrap();
    // The first bytes of `[0, 1, "add", [1, 2]]`, and then nothing more.
    trickle.write_all(&[0x94, 0x00, 0x01]).await.unwrap();
    until_closed(&mut trickle).await;
    assert_eq!(
        support::first_reason(&reasons).await,
        DisconnectReason::Stalled {
            after: Duration::from_millis(50)
        }
    );
    // A connection that is quiet between whole messages is not stalled.
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(bounded(good.call::<i64>("add", (1, 2))).await.unwrap(), 3);
    good.close();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_client_that_stops_reading_its_replies_is_closed_and_others_carry_on() {
    let (server, reasons) = server_with(|b| b.max_queued_bytes(1024 * 1024)).await;
    let good = dotrpc::connect(support::addr(&server)).await.unwrap();

    // 1 024 echoes of 64 KiB each (64 MiB of replies), never read.
    let mut greedy = TcpStream::connect(support::addr(&server)).await.unwrap();
    let blob = Value::Binary(vec![7; 64 * 1024]);
    let mut request = Vec::new();
    for msgid in 0..1024u32 {
        let message = Value::Array(vec![
            0.into(),
            msgid.into(),
            "echo".into(),
            Value::Array(vec![blob.clone()]),
        ]);
        rmpv::encode::write_value(&mut request, &message).unwrap();
    }
    // The server may close the connection before all of it is written.
    let _ = bounded(greedy.write_all(&request)).await;

    // 64 MiB of replies were owed; the 1 MiB queue bound keeps the server's
    // memory far below that.
    let rss_kib = || {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
    };
    let reason = support::first_reason(&reasons).await;
    assert!(
        matches!(reason, DisconnectReason::Backlog { queued, stalled_for: Some(_) } if queued > 1024 * 1024),
        "{reason:?}"
    );
    if let Some(rss) = rss_kib() {
        // The test process holds the 64 MiB request it wrote (about 76 MiB in
        // all, measured); queueing the 64 MiB of owed replies as well would
        // pass 140 MiB.
        assert!(rss < 160 * 1024, "RSS grew to {rss} KiB");
    }
    assert_eq!(bounded(good.call::<i64>("add", (2, 2))).await.unwrap(), 4);
    good.close();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_result_too_large_to_send_is_an_error_for_that_call_only() {
    let router = Arc::new(dotrpc::Router::new());
    router.set_handler("big", |n: usize| async move { Value::Binary(vec![0; n]) });
    let template = Peer::builder().router(router).max_message_size(64 * 1024);
    let server = Server::builder(template)
        .bind_tcp("127.0.0.1:0")
        .await
        .unwrap();
    let peer = dotrpc::connect(support::addr(&server)).await.unwrap();

    let error = bounded(peer.call::<Value>("big", (200_000,)))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, dotrpc::Error::Internal { message } if message.contains("exceeds the maximum message size")),
        "{error:?}"
    );
    let small = bounded(peer.call::<Value>("big", (10,))).await.unwrap();
    assert_eq!(small, Value::Binary(vec![0; 10]), "the connection lives on");
    peer.close();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_request_too_large_to_send_fails_before_it_is_sent() {
    let server = support::tcp_server(demo::router()).await;
    let peer = Peer::builder()
        .max_message_size(1024)
        .connect_tcp(support::addr(&server))
        .await
        .unwrap();
    let error = bounded(peer.call::<Value>("echo", (Value::Binary(vec![1; 4096]),)))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            dotrpc::Error::Codec(dotrpc::transport::CodecError::TooLarge { .. })
        ),
        "{error:?}"
    );
    assert_eq!(peer.pending_calls(), 0);
    assert_eq!(bounded(peer.call::<i64>("add", (1, 1))).await.unwrap(), 2);
    peer.close();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_thousand_connections_opened_and_dropped_leave_nothing_behind() {
    let server = support::tcp_server(demo::router()).await;
    let addr = support::addr(&server);
    // Waves of 100 concurrent connects: this machine's loopback stack drops
    // part of a burst of 1 000 simultaneous connects before the server can
    // accept them (the clients believe they are connected), which would test
    // the sandbox rather than the server.
    let mut streams = Vec::new();
    for wave in 1..=10 {
        let connects: Vec<_> = (0..100)
            .map(|_| tokio::spawn(TcpStream::connect(addr)))
            .collect();
        for connect in connects {
            streams.push(bounded(connect).await.unwrap().unwrap());
        }
        bounded(async {
            while server.connection_count() < wave * 100 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
    }
    assert_eq!(server.connection_count(), 1_000);
    drop(streams);
    bounded(async {
        while server.connection_count() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let peer = dotrpc::connect(addr).await.unwrap();
    assert_eq!(bounded(peer.call::<i64>("add", (1, 2))).await.unwrap(), 3);
    peer.close();
    server.shutdown(Duration::from_secs(1)).await;
    support::no_tasks_left().await;
}
