//! Every error kind a caller can meet, over a real TCP connection to the demo
//! API: unknown API, invalid params, application errors, panics, timeouts with
//! late replies, and disconnects.

mod support;

use std::sync::Arc;
use std::time::Duration;

use dotrpc::{Error, ErrorKind, Peer, Router, error::DisconnectReason};
use support::{bounded, demo};

#[tokio::test]
async fn each_error_kind_reaches_the_caller() {
    let server = support::tcp_server(demo::router()).await;
    let peer = dotrpc::connect(support::addr(&server)).await.unwrap();

    let error = bounded(peer.call::<i64>("math.pow", (2, 3)))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::UnknownApi { method } if method == "math.pow"),
        "{error:?}"
    );

    let error = bounded(peer.call::<i64>("add", (1,))).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid params for `add`: add expects 2 params, got 1"
    );

    let error = bounded(peer.call::<i64>("add", (1, "two")))
        .await
        .unwrap_err();
    let Error::InvalidParams { reason, .. } = &error else {
        panic!("{error:?}")
    };
    assert!(reason.starts_with("add: param 2: "), "{reason}");

    let error = bounded(peer.call::<f64>("math.div", (1.0, 0.0)))
        .await
        .unwrap_err();
    let Error::Remote(remote) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(
        (remote.code(), remote.message()),
        (Some("Application"), "division by zero")
    );

    let error = bounded(peer.call::<String>("add", (1, 2)))
        .await
        .unwrap_err();
    assert_eq!(
        error.kind(),
        ErrorKind::Codec,
        "an i64 result is not a String: {error:?}"
    );

    peer.close();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_panicking_handler_answers_internal_and_the_connection_lives_on() {
    let router = Arc::new(Router::new());
    router.set_handler("boom", |n: i64| async move {
        assert!(n < 0, "n must be negative, got {n}");
        n
    });
    router.set_handler(
        "boom_blocking",
        dotrpc::blocking(|| -> i64 { panic!("blocking kaboom") }),
    );
    let server = support::tcp_server(router).await;
    let peer = dotrpc::connect(support::addr(&server)).await.unwrap();

    let error = bounded(peer.call::<i64>("boom", (1,))).await.unwrap_err();
    let Error::Internal { message } = &error else {
        panic!("{error:?}")
    };
    assert!(message.contains("n must be negative, got 1"), "{message}");

    let error = bounded(peer.call::<i64>("boom_blocking", ()))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::Internal { message } if message.contains("blocking kaboom")),
        "{error:?}"
    );

    assert_eq!(bounded(peer.call::<i64>("boom", (-5,))).await.unwrap(), -5);
    peer.close();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_timed_out_call_removes_its_transaction_and_its_late_reply_is_counted() {
    let server = support::tcp_server(demo::router()).await;
    // Without the handshake the server does not learn of the timeout (as
    // with a foreign peer), so its reply still comes, late.
    let peer = Peer::builder()
        .handshake(false)
        .connect(support::addr(&server))
        .await
        .unwrap();

    let error = bounded(
        peer.call::<u64>("sleep", (200,))
            .timeout(Duration::from_millis(20)),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, Error::Timeout), "{error:?}");
    assert_eq!(peer.pending_calls(), 0);

    // Replies come in the order handlers finish; when the 250 ms sleep
    // answers, the late 200 ms reply has arrived and been dropped.
    assert_eq!(
        bounded(peer.call::<u64>("sleep", (250,))).await.unwrap(),
        250
    );
    assert_eq!(peer.late_replies(), 1);
    assert_eq!(peer.pending_calls(), 0);

    peer.close();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn pending_calls_fail_at_once_when_the_peer_disconnects() {
    let (client, server) =
        dotrpc::memory_pair(Peer::builder(), Peer::builder().router(demo::router()));
    let calls: Vec<_> = (0..10)
        .map(|_| tokio::spawn(client.call::<u64>("sleep", (60_000,)).into_future()))
        .collect();
    // Wait until all ten are in flight.
    bounded(async {
        while client.pending_calls() < 10 {
            tokio::task::yield_now().await;
        }
    })
    .await;

    server.close();
    for call in calls {
        let error = bounded(call).await.unwrap().unwrap_err();
        assert!(
            matches!(
                error,
                Error::Disconnected {
                    reason: DisconnectReason::Eof
                }
            ),
            "{error:?}"
        );
        // `Eof`: the server side closed the connection, this side saw it end.
    }
    assert_eq!(client.pending_calls(), 0);

    let error = client.call::<i64>("add", (1, 2)).await.unwrap_err();
    assert_eq!(
        error.kind(),
        ErrorKind::Disconnected,
        "calls after the end fail at once"
    );
}

use std::future::IntoFuture;

/// An application error with a `Display` that is not its serialized form.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum MathError {
    /// What went wrong, and where.
    Overflow {
        /// Where.
        at: u32,
    },
}

impl std::fmt::Display for MathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MathError::Overflow { at } => write!(f, "overflow at {at}"),
        }
    }
}

/// The same error, from a generated method.
#[derive(Debug, Default)]
pub struct Checked;

#[dotrpc::rpc_api]
impl Checked {
    /// Always overflows.
    fn overflow(&self) -> Result<u32, MathError> {
        Err(MathError::Overflow { at: 3 })
    }
}

#[tokio::test]
async fn an_application_error_reads_the_same_from_a_macro_method_and_a_closure() {
    let router = Arc::new(Router::new());
    router.serve_at("macro", Checked);
    router.set_handler("closure.overflow", || async {
        Err::<u32, _>(MathError::Overflow { at: 3 })
    });
    let server = support::tcp_server(router).await;
    let peer = dotrpc::connect(support::addr(&server)).await.unwrap();

    for path in ["macro.overflow", "closure.overflow"] {
        // A typed caller gets its `E` back.
        let typed = bounded(peer.call::<u32>(path, ()).typed_error::<MathError>())
            .await
            .unwrap_err();
        assert!(
            matches!(typed, Error::Remote(MathError::Overflow { at: 3 })),
            "{path}: {typed:?}"
        );
        // Any other caller reads the Display as the message, and the value
        // as data.
        let Error::Remote(remote) = bounded(peer.call::<u32>(path, ())).await.unwrap_err() else {
            panic!("{path}: not a remote error")
        };
        assert_eq!(remote.code(), Some("Application"), "{path}");
        assert_eq!(remote.message(), "overflow at 3", "{path}");
        let data = remote.data().expect("data");
        assert_eq!(data["Overflow"]["at"], dotrpc::Value::from(3), "{path}");
    }
    peer.close();
    server.shutdown(Duration::from_secs(1)).await;
}

#[test]
fn an_error_prints_one_level_and_leaves_its_cause_to_source() {
    use std::error::Error as _;
    let error: Error = Error::from(std::io::Error::new(
        std::io::ErrorKind::ConnectionRefused,
        "refused",
    ));
    assert_eq!(error.to_string(), "transport error");
    assert_eq!(
        error.source().map(ToString::to_string).as_deref(),
        Some("refused")
    );
}
