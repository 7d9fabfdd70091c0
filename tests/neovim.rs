//! Neovim, the best-known msgpack-rpc peer, in both directions: a dotrpc
//! client drives `nvim --embed` over stdio, and Neovim connects to a dotrpc
//! server with `sockconnect(.., {'rpc': v:true})` and calls nested paths.
//!
//! `scripts/neovim.sh` installs Neovim where it is missing; only where that
//! fails are these tests skipped, loudly.

mod support;

#[path = "../examples/neovim/api.rs"]
#[allow(dead_code)]
mod nvim_api;

use std::sync::OnceLock;
use std::time::Duration;

use dotrpc::{Error, Ext, Peer, Value};
use nvim_api::{Buffer, Events, NvimClient, NvimEventsService};
use support::bounded;
use tokio::sync::mpsc;

/// The `nvim` to run, or `None` (with the reason printed) if it cannot be had.
fn nvim() -> Option<&'static str> {
    static NVIM: OnceLock<Option<String>> = OnceLock::new();
    NVIM.get_or_init(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/neovim.sh");
        match std::process::Command::new(script).output() {
            Ok(output) if output.status.success() => {
                Some(String::from_utf8(output.stdout).unwrap().trim().to_owned())
            }
            Ok(output) => {
                eprintln!(
                    "\n!!! SKIPPED: Neovim could not be installed; these tests did not run:\n{}\n",
                    String::from_utf8_lossy(&output.stderr)
                );
                None
            }
            Err(error) => {
                eprintln!("\n!!! SKIPPED: cannot run {script}: {error}\n");
                None
            }
        }
    })
    .as_deref()
}

struct Embedded {
    peer: Peer,
    nvim: NvimClient,
    events: mpsc::UnboundedReceiver<String>,
    child: tokio::process::Child,
}

fn embed(nvim: &str) -> Embedded {
    let (sender, events) = mpsc::unbounded_channel();
    let mut command = tokio::process::Command::new(nvim);
    command.args(["--embed", "--headless", "--clean", "-n"]);
    let (peer, child) = Peer::builder()
        .serve(NvimEventsService(Events(sender)))
        .handshake(false)
        .spawn_child(command)
        .unwrap();
    let nvim = peer.client::<NvimClient>().with_timeout(support::LIMIT);
    Embedded {
        peer,
        nvim,
        events,
        child,
    }
}

impl Embedded {
    async fn close(mut self) {
        self.peer.close();
        self.child.kill().await.unwrap();
    }
}

#[tokio::test]
async fn a_dotrpc_client_drives_embedded_neovim() {
    let Some(nvim) = nvim() else { return };
    let Embedded {
        peer,
        nvim,
        mut events,
        child,
    } = embed(nvim);

    let (channel, metadata) = bounded(nvim.nvim_get_api_info()).await.unwrap();
    assert!(channel > 0);
    // The metadata names the ext types the handles use.
    let types = metadata["types"].clone();
    assert_eq!(types["Buffer"]["id"], Value::from(0));
    assert_eq!(types["Window"]["id"], Value::from(1));

    assert_eq!(
        bounded(nvim.nvim_eval("[1 + 2, 'x', {'k': v:true}]".into()))
            .await
            .unwrap(),
        Value::Array(vec![
            Value::from(3),
            Value::from("x"),
            Value::Map(vec![(Value::from("k"), Value::from(true))]),
        ])
    );

    // Handles are ext values, and go back exactly as they came.
    let window = bounded(nvim.nvim_get_current_win()).await.unwrap();
    assert_eq!(window.0.tag(), 1);
    let buffer = bounded(nvim.nvim_get_current_buf()).await.unwrap();
    assert_eq!((buffer.0.tag(), buffer.number()), (0, Some(1)));
    assert_eq!(
        bounded(nvim.nvim_win_get_buf(window)).await.unwrap(),
        buffer
    );

    assert!(
        bounded(nvim.nvim_buf_attach(buffer.clone(), false, Default::default()))
            .await
            .unwrap()
    );
    let lines = vec!["one".to_owned(), "two".to_owned(), "ünïcode".to_owned()];
    bounded(nvim.nvim_buf_set_lines(buffer.clone(), 0, -1, true, lines.clone()))
        .await
        .unwrap();
    assert_eq!(
        bounded(nvim.nvim_buf_get_lines(buffer.clone(), 0, -1, true))
            .await
            .unwrap(),
        lines
    );
    assert_eq!(
        bounded(events.recv()).await.unwrap(),
        r#"buffer 1: lines 0..1 became ["one", "two", "ünïcode"]"#
    );

    // A handle Neovim never issued is its error, not ours.
    let error = bounded(nvim.nvim_buf_get_lines(Buffer(Ext::from_int(0, 999)), 0, -1, true))
        .await
        .unwrap_err();
    let Error::Remote(remote) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(remote.message(), "Invalid buffer id: 999");
    assert_eq!(nvim_api::error_kind(remote), "Validation");

    let error = bounded(nvim.nvim_eval("no_such_variable".into()))
        .await
        .unwrap_err();
    let Error::Remote(remote) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(nvim_api::error_kind(remote), "Exception");
    assert_eq!(
        error.to_string(),
        "remote error: Vim:E121: Undefined variable: no_such_variable"
    );

    bounded(nvim.nvim_command(format!("call rpcnotify({channel}, 'greeting', 'hi', 3)")))
        .await
        .unwrap();
    assert_eq!(
        bounded(events.recv()).await.unwrap(),
        r#"greeting "hi" (3)"#
    );

    // A call whose answer does not come in time fails alone; the session goes on.
    let slow = nvim
        .nvim_command("sleep 300m".into())
        .timeout(Duration::from_millis(50));
    assert!(matches!(bounded(slow).await, Err(Error::Timeout)));
    assert_eq!(
        bounded(nvim.nvim_eval("40 + 2".into())).await.unwrap(),
        Value::from(42)
    );

    Embedded {
        peer,
        nvim,
        events,
        child,
    }
    .close()
    .await;
}

#[tokio::test]
async fn neovim_calls_a_dotrpc_server() {
    let Some(nvim) = nvim() else { return };
    let router = support::demo::router();
    // A handler that calls back into Neovim, its caller, before it answers.
    router.set_handler(
        "editor.ask",
        |ctx: dotrpc::CallContext, expr: String| async move {
            ctx.peer()
                .call::<Value>("nvim_eval", (expr,))
                .timeout(support::LIMIT)
                .await
                .map_err(|e| e.to_string())
        },
    );
    // Neovim shows only string (or its own `[type, message]`) errors.
    let server = dotrpc::Server::builder(
        Peer::builder()
            .router(router)
            .error_format(dotrpc::peer::ErrorFormat::Message),
    )
    .bind("127.0.0.1:0")
    .await
    .unwrap();
    let addr = support::addr(&server);

    let embedded = embed(nvim);
    let nvim = &embedded.nvim;
    let eval = |expr: String| async move { bounded(nvim.nvim_eval(expr)).await.unwrap() };
    let channel = eval(format!("sockconnect('tcp', '{addr}', {{'rpc': v:true}})")).await;
    let channel = channel.as_i64().expect("a channel id");
    assert!(channel > 0);

    let request = |args: &str| format!("rpcrequest({channel}, {args})");
    assert_eq!(eval(request("'add', 40, 2")).await, Value::from(42));
    assert_eq!(
        eval(request("'math.stats.mean', [1.0, 2.0, 6.0]")).await,
        Value::from(3.0)
    );
    assert_eq!(
        eval(request("'echo', {'nested': {'list': [1, 'two', v:null]}}")).await,
        eval("{'nested': {'list': [1, 'two', v:null]}}".into()).await
    );
    assert_eq!(
        eval(request("'editor.ask', '6 * 7'")).await,
        Value::from(42)
    );

    // Errors reach Neovim as exceptions carrying dotrpc's message, and
    // Neovim passes them on to its own caller (this test) as its errors.
    let failure = |args: &str| {
        let expr = request(args);
        async move {
            match bounded(nvim.nvim_eval(expr)).await {
                Err(Error::Remote(error)) => error.message().to_owned(),
                other => panic!("expected Neovim's error, got {other:?}"),
            }
        }
    };
    assert_eq!(
        failure("'math.div', 1.0, 0.0").await,
        format!(
            "Vim:Error invoking 'math.div' on channel {channel}:\nApplication: division by zero"
        )
    );
    let unknown = failure("'no.such.method'").await;
    assert!(
        unknown.ends_with("UnknownApi: no handler for `no.such.method`"),
        "{unknown}"
    );
    let arity = failure("'add', 1").await;
    assert!(
        arity.ends_with("InvalidParams: add expects 2 params, got 1"),
        "{arity}"
    );

    // Notifications from Neovim reach the server's handler, in order.
    eval(format!("rpcnotify({channel}, 'log', 'from neovim')")).await;
    assert_eq!(eval(request("'stats.notifications'")).await, Value::from(1));

    assert_eq!(server.connections().len(), 1);
    eval(format!("chanclose({channel})")).await;
    embedded.close().await;
    server.shutdown(Duration::from_secs(1)).await;
}
