//! The Python client (`clients/python`) against the demo API: the package
//! is installed into the project's pinned Python environment
//! (`scripts/python-env.sh`), a pinned `mypy --strict` checks it and the
//! code that uses its typed proxies, and its pytest suite runs against the
//! demo server over TCP, a Unix socket, WebSocket and NATS, and against
//! scripted servers of its own that break the protocol.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use dotrpc::transport::websocket::Origins;
use dotrpc::{Peer, Server};
use dotrpc_nats::NatsService;
use support::demo;
use support::nats::NatsServer;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The environment's python, with the package installed (once per run of
/// this file's tests) from a copy of its sources, so the build leaves
/// nothing in the repository.
fn install() -> PathBuf {
    static INSTALLED: OnceLock<PathBuf> = OnceLock::new();
    INSTALLED.get_or_init(install_now).clone()
}

fn install_now() -> PathBuf {
    let python = support::python();
    let copy = std::env::temp_dir().join(format!("dotrpc-python-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&copy);
    copy_tree(
        &Path::new(ROOT).join("clients/python"),
        &copy,
        &["tests", "examples"],
    );
    let installed = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(["--no-deps", "--no-build-isolation", "--force-reinstall"])
        .arg(&copy)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("run pip");
    let _ = std::fs::remove_dir_all(&copy);
    assert!(
        installed.status.success(),
        "pip install clients/python failed:\n{}",
        String::from_utf8_lossy(&installed.stderr)
    );
    python
}

fn copy_tree(from: &Path, to: &Path, skip: &[&str]) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if skip.contains(&name.as_ref()) || name == "__pycache__" {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &to.join(&*name), &[]);
        } else {
            std::fs::copy(entry.path(), to.join(&*name)).unwrap();
        }
    }
}

#[test]
fn mypy_strict_passes_the_package_and_code_using_its_typed_proxies() {
    let python = install();
    let output = Command::new(&python)
        .args(["-m", "mypy", "--strict", "--no-error-summary"])
        .arg("--cache-dir")
        .arg(format!("{ROOT}/target/mypy-cache"))
        .args(["dotrpc", "tests/test_typed.py"])
        .current_dir(format!("{ROOT}/clients/python"))
        .env(
            "MYPYPATH",
            format!("{ROOT}/tests/interop/typed:{ROOT}/clients/python/tests"),
        )
        .output()
        .expect("run mypy");
    assert!(
        output.status.success(),
        "mypy --strict refuses the Python client:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_clients_suite_passes_against_the_demo_server() {
    let python = tokio::task::spawn_blocking(install).await.unwrap();
    let router = demo::router();
    let serve = || Server::builder(Peer::builder().router(Arc::clone(&router)));
    let tcp = serve().bind("127.0.0.1:0").await.unwrap();
    let socket = std::env::temp_dir().join(format!("dotrpc-python-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&socket);
    let unix = serve().bind(dotrpc::Address::unix(&socket)).await.unwrap();
    let ws = serve()
        .origins(Origins::same_origin())
        .bind("ws://127.0.0.1:0/")
        .await
        .unwrap();
    let nats = NatsServer::start();
    let service = match &nats {
        Some(nats) => Some(
            NatsService::builder(Peer::builder().router(Arc::clone(&router)), "demo")
                .start(&nats.url)
                .await
                .unwrap(),
        ),
        None => None,
    };

    let report_path =
        std::env::temp_dir().join(format!("dotrpc-pytest-{}.txt", std::process::id()));
    let mut suite = tokio::process::Command::new(&python);
    suite
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs"])
        .current_dir(format!("{ROOT}/clients/python"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("DOTRPC_TCP", format!("tcp://{}", tcp.local_addr()))
        .env("DOTRPC_UNIX", format!("unix:{}", socket.display()))
        .env("DOTRPC_WS", format!("ws://{}/rpc", support::addr(&ws)))
        .stdout(std::fs::File::create(&report_path).unwrap())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true);
    if let Some(nats) = &nats {
        suite.env("DOTRPC_NATS", format!("{}/demo", nats.url));
    }
    let mut suite = suite.spawn().unwrap();
    let status = tokio::time::timeout(Duration::from_secs(240), suite.wait()).await;
    let report = std::fs::read_to_string(&report_path).unwrap_or_default();
    let _ = std::fs::remove_file(&report_path);
    let status = status
        .unwrap_or_else(|_| panic!("the suite ran for over four minutes:\n{report}"))
        .unwrap();
    assert!(
        status.success(),
        "the Python client's suite failed:\n{report}"
    );
    // Every test ran: none skipped, unless NATS could not be installed.
    let summary = report.lines().last().unwrap_or_default();
    assert!(summary.contains(" passed"), "{report}");
    if nats.is_some() {
        assert!(!summary.contains("skipped"), "{report}");
    }

    if let Some(service) = service {
        service.drain(Duration::from_secs(1)).await;
    }
    tcp.shutdown(Duration::from_secs(1)).await;
    unix.shutdown(Duration::from_secs(1)).await;
    ws.shutdown(Duration::from_secs(1)).await;
    let _ = std::fs::remove_file(&socket);
}
