//! A peer nobody on the project wrote the library of: a Python msgpack-rpc
//! client and server using only the plain `msgpack` package
//! (`tests/interop/peer.py`, installed by `scripts/python-env.sh`) calls a
//! dotrpc server and is called by a dotrpc client.

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
    PYTHON.get_or_init(|| {
        let root = env!("CARGO_MANIFEST_DIR");
        let output = std::process::Command::new(format!("{root}/scripts/python-env.sh"))
            .output()
            .expect("run scripts/python-env.sh");
        assert!(
            output.status.success(),
            "scripts/python-env.sh failed; the interop tests need python3 with venv and pip:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
    })
}

fn peer_script() -> String {
    format!("{}/tests/interop/peer.py", env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test]
async fn a_python_client_calls_a_dotrpc_server() {
    let server = support::tcp_server(demo::router()).await;
    let port = support::addr(&server).port().to_string();
    let mut child = tokio::process::Command::new(python());
    child
        .args([peer_script().as_str(), "client", "127.0.0.1", &port])
        .kill_on_drop(true);
    let output = bounded(child.output()).await.unwrap();
    assert!(
        output.status.success(),
        "the Python client's checks failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_dotrpc_client_calls_a_python_server() {
    let mut child = tokio::process::Command::new(python())
        .args([peer_script().as_str(), "server"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
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
    let peer = Peer::builder()
        .router(router)
        .connect_tcp(("127.0.0.1", port))
        .await
        .unwrap();

    assert_eq!(bounded(peer.call::<i64>("add", (40, 2))).await.unwrap(), 42);
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

    // The Python server calls the dotrpc client back before it answers.
    assert_eq!(
        bounded(peer.call::<String>("ask_client", ()))
            .await
            .unwrap(),
        "client says dotrpc"
    );

    peer.notify("greet", ("dotrpc",)).unwrap();
    assert_eq!(bounded(greeted.recv()).await.unwrap(), "hello, dotrpc");

    peer.close();
    let status = bounded(child.wait()).await.unwrap();
    let mut errors = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut child.stderr.take().unwrap(), &mut errors)
        .await
        .unwrap();
    assert!(
        status.success(),
        "the Python server's checks failed:\n{errors}"
    );
}
