//! Limits a server operator relies on, over raw sockets: a connection that
//! sends nothing past the idle timeout, trickles a message past the message
//! timeout, or stops reading its replies past the write-queue limit is
//! closed, with the reason reported, while other connections carry on.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use dotrpc::{Peer, PeerBuilder, Server, Value, error::DisconnectReason, peer::ConnectionEvent};
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
        Server::builder(template).bind("127.0.0.1:0").await.unwrap(),
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
    let server = Server::builder(template).bind("127.0.0.1:0").await.unwrap();
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
        .connect(support::addr(&server))
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

/// Opens `n` connections to a server all at once (no waves) and has each
/// make one call; every one must be answered within the bound. With the
/// system's listen backlog of 128 a burst this size lost half its
/// connections in the accept queue (clients that believed they were
/// connected, waiting forever for an answer).
async fn burst<F, Fut>(n: usize, connect: F) -> Vec<Peer>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = dotrpc::Result<Peer>> + Send + 'static,
{
    let calls: Vec<_> = (0..n)
        .map(|i| {
            let connect = connect();
            tokio::spawn(async move {
                let peer = connect.await.expect("connected");
                let sum: i64 = peer.call("add", (i as i64, 1)).await.expect("answered");
                assert_eq!(sum, i as i64 + 1);
                peer
            })
        })
        .collect();
    let mut peers = Vec::with_capacity(n);
    for call in calls {
        peers.push(bounded(call).await.expect("the call's task"));
    }
    peers
}

/// Drops `peers` and waits until the server has forgotten every one.
async fn all_leave(server: &Server, peers: Vec<Peer>) {
    assert_eq!(server.connection_count(), peers.len());
    drop(peers);
    bounded(async {
        while server.connection_count() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_simultaneous_tcp_connections_are_all_answered_and_leave_nothing() {
    let server = support::tcp_server(demo::router()).await;
    let addr = support::addr(&server);
    let peers = burst(1_000, move || {
        Peer::builder().handshake(false).connect(addr)
    })
    .await;
    all_leave(&server, peers).await;
    let peer = dotrpc::connect(addr).await.unwrap();
    assert_eq!(bounded(peer.call::<i64>("add", (1, 2))).await.unwrap(), 3);
    peer.close();
    server.shutdown(Duration::from_secs(1)).await;
    support::no_tasks_left().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_simultaneous_unix_connections_are_all_answered() {
    let dir = std::env::temp_dir().join(format!("dotrpc-burst-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("burst.sock");
    let _ = std::fs::remove_file(&path);
    let server = Server::builder(Peer::builder().router(demo::router()))
        .bind(dotrpc::Address::unix(&path))
        .await
        .unwrap();
    let at = path.clone();
    let peers = burst(1_000, move || {
        let at = at.clone();
        async move {
            Peer::builder()
                .handshake(false)
                .connect(dotrpc::Address::unix(at))
                .await
        }
    })
    .await;
    all_leave(&server, peers).await;
    server.shutdown(Duration::from_secs(1)).await;
    let _ = std::fs::remove_dir(&dir);
}

#[test]
fn the_listen_backlog_is_sized_for_bursts() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = Server::builder(Peer::builder())
            .backlog(777)
            .bind("127.0.0.1:0")
            .await
            .unwrap();
        let port = support::addr(&server).port();
        assert_eq!(listen_backlog(port), 777);
        let default = support::tcp_server(demo::router()).await;
        let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .expect("Linux reports somaxconn")
            .trim()
            .parse()
            .unwrap();
        assert_eq!(
            listen_backlog(support::addr(&default).port()),
            somaxconn.min(1024)
        );
        server.shutdown(Duration::from_secs(1)).await;
        default.shutdown(Duration::from_secs(1)).await;
    });
}

/// The backlog of the TCP listener on `port`, as `ss -ltn` (iproute2)
/// reports it: a listener's Send-Q.
fn listen_backlog(port: u16) -> u32 {
    let out = std::process::Command::new("ss")
        .args(["-ltnH", &format!("sport = :{port}")])
        .output()
        .expect("ss (iproute2) runs");
    let text = String::from_utf8(out.stdout).unwrap();
    text.split_whitespace()
        .nth(2)
        .and_then(|q| q.parse().ok())
        .unwrap_or_else(|| panic!("no listener on port {port} in `ss` output: {text:?}"))
}
