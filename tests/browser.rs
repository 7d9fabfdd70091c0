//! A real browser: Debian's Chromium, headless, driven by playwright-core,
//! loads the browser example's page (examples/browser) from an axum server
//! on 127.0.0.1. The page calls the demo API through the TypeScript client
//! over WebSocket; the test checks what the page shows: the results of
//! nested calls, the application error, the answer to the server's call to
//! the page, and the events the server pushed.
//!
//! Chromium and the driver are installed by the project's scripts
//! (`scripts/chromium.sh`, `scripts/node-env.sh tests/browser`); if an
//! install fails, the test says so loudly and skips.

mod support;

#[path = "../examples/browser/app.rs"]
mod app;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use dotrpc::{Peer, Server};
use support::{bounded, demo};

/// Runs one of the project's install scripts; its output, or why it failed.
fn install(script: &str, args: &[&str]) -> Result<String, String> {
    let root = env!("CARGO_MANIFEST_DIR");
    let output = std::process::Command::new(format!("{root}/scripts/{script}"))
        .args(args)
        .output()
        .map_err(|e| format!("cannot run scripts/{script}: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(format!(
            "scripts/{script} {} failed:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_shows_the_results_errors_and_events_of_the_example_page() {
    let installs = tokio::task::spawn_blocking(|| {
        Ok::<_, String>((
            install("chromium.sh", &[])?,
            install("node-env.sh", &["tests/browser"])?,
        ))
    })
    .await
    .unwrap();
    let (chromium, node_modules) = match installs {
        Ok(paths) => paths,
        Err(why) => {
            eprintln!(
                "\n==== SKIPPED: the browser test could not install what it needs ====\n{why}\n"
            );
            return;
        }
    };
    let client = tokio::task::spawn_blocking(|| install("typescript.sh", &[]))
        .await
        .unwrap()
        .unwrap_or_else(|why| panic!("{why}"));

    let rpc = Server::builder(Peer::builder().router(demo::router())).without_listener();
    let modules = app::Modules::of(Path::new(&client));
    assert!(modules.built(), "scripts/typescript.sh built the client");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let web = tokio::spawn(
        axum::serve(
            listener,
            app::app(&rpc, modules).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = stopped.await;
        })
        .into_future(),
    );

    let driver = tokio::process::Command::new("node")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/browser/drive.cjs"
        ))
        .args([&url, &chromium])
        .env("NODE_PATH", &node_modules)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(90), driver)
        .await
        .expect("the browser ran for over 90 s")
        .unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the browser driver failed:\n{log}");
    let shown: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("the driver printed no JSON ({e}):\n{log}"));
    let field = |name: &str| shown[name].as_str().unwrap_or_default().to_owned();
    assert_eq!(field("done"), "yes", "{shown}\n{log}");
    assert_eq!(field("status"), "connected", "{shown}");
    assert_eq!(field("add"), "42", "{shown}");
    assert_eq!(field("mean"), "3", "{shown}");
    assert_eq!(field("error"), "Application: division by zero", "{shown}");
    assert_eq!(field("greet"), "hello, the browser page", "{shown}");
    assert_eq!(field("events"), "0 1 2", "{shown}");
    assert_eq!(field("stream"), "0 1 2", "{shown}");
    assert!(!log.contains("page error"), "{log}");

    // The browser is gone, and so is its connection.
    bounded(async {
        while rpc.connection_count() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    rpc.shutdown(Duration::from_secs(1)).await;
    let _ = stop.send(());
    bounded(web).await.unwrap().unwrap();
}
