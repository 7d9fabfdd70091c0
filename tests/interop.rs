//! Peers nobody on the project wrote the library of call a dotrpc server and
//! serve a dotrpc client:
//!
//! * Python with only the plain `msgpack` package (`tests/interop/peer.py`,
//!   and `streams.py` for streams; installed by `scripts/python-env.sh`);
//! * Node with the published msgpack-rpc library `msgpack5rpc`
//!   (`tests/interop/node/peer.js`, pinned by its package-lock.json and
//!   installed by `scripts/node-env.sh`).

mod support;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use dotrpc::{Error, Peer, Router, Value};
use support::{bounded, demo};
use tokio::io::{AsyncBufReadExt, BufReader};

/// The venv's python, created on first use by the project's own script.
fn python() -> &'static PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(support::python)
}

fn peer_script() -> String {
    format!("{}/tests/interop/peer.py", env!("CARGO_MANIFEST_DIR"))
}

/// The Node packages' folder, installed on first use by the project's script.
fn node_modules() -> &'static PathBuf {
    static NODE_MODULES: OnceLock<PathBuf> = OnceLock::new();
    NODE_MODULES.get_or_init(|| {
        let root = env!("CARGO_MANIFEST_DIR");
        let output = std::process::Command::new(format!("{root}/scripts/node-env.sh"))
            .output()
            .expect("run scripts/node-env.sh");
        assert!(
            output.status.success(),
            "scripts/node-env.sh failed; the interop tests need node and npm:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
    })
}

/// How to start each foreign peer in a mode (`client HOST PORT` or `server`).
fn foreign(language: &str, args: &[&str]) -> tokio::process::Command {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut command = match language {
        "python" => {
            let mut command = tokio::process::Command::new(python());
            command.arg(peer_script());
            command
        }
        "node" => {
            let mut command = tokio::process::Command::new("node");
            command
                .arg(format!("{root}/tests/interop/node/peer.js"))
                .env("NODE_PATH", node_modules());
            command
        }
        other => unreachable!("no {other} peer"),
    };
    command.args(args).kill_on_drop(true);
    command
}

/// Runs the foreign client's own checks against the demo server.
async fn foreign_client_calls_a_dotrpc_server(language: &str) {
    let server = support::tcp_server(demo::router()).await;
    let port = support::addr(&server).port().to_string();
    let output = bounded(foreign(language, &["client", "127.0.0.1", &port]).output())
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "the {language} client's checks failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_python_client_calls_a_dotrpc_server() {
    foreign_client_calls_a_dotrpc_server("python").await;
}

/// `tests/interop/streams.py`: streams as the README's "Streams on the
/// wire" describes them, in plain msgpack: credit granted as items come, a
/// cancel midway, an input stream sent within the room granted.
#[tokio::test]
async fn a_python_peer_streams_both_ways_with_plain_msgpack() {
    let server = support::tcp_server(demo::router()).await;
    let port = support::addr(&server).port().to_string();
    let script = format!("{}/tests/interop/streams.py", env!("CARGO_MANIFEST_DIR"));
    let output = bounded(
        tokio::process::Command::new(python())
            .args([script.as_str(), "127.0.0.1", &port])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "the Python stream checks failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_node_msgpack5rpc_client_calls_a_dotrpc_server() {
    foreign_client_calls_a_dotrpc_server("node").await;
}

#[tokio::test]
async fn a_dotrpc_client_calls_a_python_server() {
    dotrpc_client_calls_a_foreign_server("python").await;
}

#[tokio::test]
async fn a_dotrpc_client_calls_a_node_msgpack5rpc_server() {
    dotrpc_client_calls_a_foreign_server("node").await;
}

/// The same checks against each foreign server, which answers errors in its
/// own shapes: a bare string, and a `[type, message]` pair.
async fn dotrpc_client_calls_a_foreign_server(language: &str) {
    let mut child = foreign(language, &["server"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = bounded(lines.next_line())
        .await
        .unwrap()
        .expect("the server prints LISTENING PORT");
    let port: u16 = first
        .strip_prefix("LISTENING ")
        .expect(&first)
        .parse()
        .unwrap();

    let (greetings, mut greeted) = tokio::sync::mpsc::unbounded_channel();
    let router = Arc::new(Router::new());
    router.set_handler("client.version", || async { "dotrpc" });
    router.set_handler("greeting", move |text: String| {
        let greetings = greetings.clone();
        async move {
            let _ = greetings.send(text);
        }
    });
    // Every call below is traced and the one after has a timeout: a foreign
    // server still sees four-item requests (its script unpacks four items
    // and would fail on a fifth).
    let traces = support::otel::capture();
    let traced = tracing::info_span!("interop").entered();
    let peer = Peer::builder()
        .router(router)
        .connect(format!("127.0.0.1:{port}"))
        .await
        .unwrap();

    assert_eq!(bounded(peer.call::<i64>("add", (40, 2))).await.unwrap(), 42);
    let timed = peer
        .call::<i64>("add", (1, 2))
        .timeout(Duration::from_secs(5));
    assert_eq!(bounded(timed).await.unwrap(), 3);
    assert_eq!(
        bounded(peer.call::<f64>("math.div", (1.0, 4.0)))
            .await
            .unwrap(),
        0.25
    );

    // Python answers with bare strings and [type, message] pairs: surfaced as they came.
    let error = bounded(peer.call::<f64>("math.div", (1.0, 0.0)))
        .await
        .unwrap_err();
    let Error::Remote(remote) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(
        (remote.code(), remote.message()),
        (None, "division by zero")
    );
    let error = bounded(peer.call::<()>("no.such", ())).await.unwrap_err();
    let Error::Remote(remote) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(remote.message(), "unknown method no.such");
    assert_eq!(
        *remote.raw(),
        Value::Array(vec![
            "NoMethodError".into(),
            "unknown method no.such".into()
        ])
    );

    let blob = Value::Map(vec![
        ("bytes".into(), Value::Binary(vec![0, 255])),
        ("n".into(), Value::from(-7)),
    ]);
    assert_eq!(
        bounded(peer.call::<Value>("echo", (blob.clone(),)))
            .await
            .unwrap(),
        blob
    );

    if language == "node" {
        // Replies come back in the order the server finishes, not the order sent.
        let slow = peer.call::<String>("slow_then_fast", ("slow", 200)).spawn();
        let fast = peer.call::<String>("slow_then_fast", ("fast", 0));
        assert_eq!(bounded(fast).await.unwrap(), "fast");
        assert_eq!(slow.try_take().map(|r| r.is_ok()), None);
        assert_eq!(bounded(slow).await.unwrap(), "slow");
    }

    // The server calls the dotrpc client back before it answers.
    assert_eq!(
        bounded(peer.call::<String>("ask_client", ()))
            .await
            .unwrap(),
        "client says dotrpc"
    );

    peer.notify("greet", ("dotrpc",)).await.unwrap();
    assert_eq!(bounded(greeted.recv()).await.unwrap(), "hello, dotrpc");

    peer.close();
    let status = bounded(child.wait()).await.unwrap();
    let mut errors = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut child.stderr.take().unwrap(), &mut errors)
        .await
        .unwrap();
    assert!(
        status.success(),
        "the {language} server's checks failed:\n{errors}"
    );
    drop(traced);
    assert!(
        traces
            .spans()
            .iter()
            .any(|span| span.name == "interop" && span.span_context.is_valid()),
        "the calls were made inside a recorded OpenTelemetry span"
    );
}
