//! The `dotrpc` binary, driven as a user would: against the demo API served
//! in-process over TCP, WebSocket and a Unix socket, and against Neovim over `exec:`.

#[allow(dead_code)]
mod binary;
#[path = "../../examples/demo_server/api.rs"]
#[allow(dead_code, unreachable_pub)]
mod demo;

use std::time::Duration;

use binary::{LIMIT, dotrpc, run};
use dotrpc::{Peer, Server};
use tokio::runtime::Runtime;

/// The demo server on its own runtime, so the test thread can block on the
/// binary; shut down when dropped.
struct DemoServer {
    runtime: Runtime,
    server: Option<Server>,
    addr: String,
}

impl DemoServer {
    fn tcp() -> Self {
        let runtime = Runtime::new().unwrap();
        let server = runtime
            .block_on(Server::builder(Peer::builder().router(demo::router())).bind("127.0.0.1:0"))
            .unwrap();
        let addr = server.local_addr().to_string();
        DemoServer {
            runtime,
            server: Some(server),
            addr,
        }
    }

    fn unix(path: &std::path::Path) -> Self {
        let runtime = Runtime::new().unwrap();
        let server = runtime
            .block_on(
                Server::builder(Peer::builder().router(demo::router()))
                    .bind(dotrpc::Address::unix(path)),
            )
            .unwrap();
        let addr = format!("unix://{}", path.display());
        DemoServer {
            runtime,
            server: Some(server),
            addr,
        }
    }

    fn ws() -> Self {
        use dotrpc::transport::websocket::Origins;

        let runtime = Runtime::new().unwrap();
        let server = runtime
            .block_on(
                Server::builder(Peer::builder().router(demo::router()))
                    .origins(Origins::same_origin())
                    .bind("ws://127.0.0.1:0/"),
            )
            .unwrap();
        let addr = format!("ws://{}/rpc", server.local_addr().as_tcp().unwrap());
        DemoServer {
            runtime,
            server: Some(server),
            addr,
        }
    }

    fn connections(&self) -> usize {
        self.server.as_ref().unwrap().connections().len()
    }

    /// Waits (bounded) until the server has let go of every connection: a
    /// client that exited is forgotten once its end of the socket is read.
    fn wait_until_no_connections(&self) {
        let deadline = std::time::Instant::now() + LIMIT;
        while self.connections() > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the connection stayed"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.runtime
                .block_on(server.shutdown(Duration::from_secs(1)));
        }
    }
}

#[test]
fn call_prints_results_as_json() {
    let server = DemoServer::tcp();
    let a = server.addr.as_str();
    assert_eq!(
        run(&["call", a, "add", "40", "2"]),
        (0, "42\n".into(), String::new())
    );
    assert_eq!(run(&["call", a, "add", "-40", "-2"]).1, "-42\n");
    let tcp_form = format!("tcp://{a}");
    assert_eq!(
        run(&["call", &tcp_form, "math.stats.mean", "[1, 2, 6]"]).1,
        "3.0\n"
    );
    assert_eq!(
        run(&[
            "call",
            "-c",
            a,
            "echo",
            r#"{"b": {"$bin": "AP8="}, "e": {"$ext": [5, "AQI="]}, "n": [null, true, -1.5]}"#
        ])
        .1,
        "{\"b\":{\"$bin\":\"AP8=\"},\"e\":{\"$ext\":[5,\"AQI=\"]},\"n\":[null,true,-1.5]}\n"
    );
    // Indented unless --compact.
    assert_eq!(run(&["call", a, "echo", "[1]"]).1, "[\n  1\n]\n");
    // Arguments as one JSON array on stdin.
    dotrpc(&["call", a, "math.div", "-"])
        .write_stdin("[1, 4]")
        .assert()
        .success()
        .stdout("0.25\n");
}

#[test]
fn failures_are_one_line_with_a_status_by_kind() {
    let server = DemoServer::tcp();
    let a = server.addr.as_str();
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["call", a, "math.div", "1", "0"],
            1,
            "dotrpc: math.div failed: Application: division by zero\n",
        ),
        (
            &["call", a, "no.such"],
            5,
            "dotrpc: no.such failed: no handler for `no.such` on the peer\n",
        ),
        (
            &["call", a, "add", "1"],
            6,
            "dotrpc: add failed: invalid params for `add`: add expects 2 params, got 1\n",
        ),
        (
            &["call", a, "sleep", "5000", "--timeout", "0.2"],
            4,
            "dotrpc: sleep failed: call timed out\n",
        ),
        (
            &["call", a, "add", "one", "2"],
            2,
            "dotrpc: argument 1 is not JSON (expected value at line 1 column 1): one; quote strings as '\"text\"'\n",
        ),
        (
            &["call", "nowhere", "add"],
            2,
            "dotrpc: bad address `nowhere`: no port; expected host:port, tcp://host:port, tls://host:port, unix:/path, ws://host:port/path, wss://host:port/path, nats://host:port/prefix or exec:COMMAND\n",
        ),
        (
            &["call", "ftp://x:1", "add"],
            2,
            "dotrpc: bad address `ftp://x:1`: unknown scheme `ftp://`; expected host:port, tcp://host:port, tls://host:port, unix:/path, ws://host:port/path, wss://host:port/path, nats://host:port/prefix or exec:COMMAND\n",
        ),
        (
            &["call", a, "add", "--timeout", "-1"],
            2,
            "dotrpc: --timeout -1 is not a positive number of seconds\n",
        ),
    ];
    for (args, status, stderr) in cases {
        assert_eq!(
            run(args),
            (*status, String::new(), (*stderr).to_owned()),
            "{args:?}"
        );
    }

    // Nothing listens on a port just freed.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let (status, stdout, stderr) = run(&["call", &format!("127.0.0.1:{port}"), "add"]);
    assert_eq!((status, stdout.as_str()), (3, ""));
    assert_eq!(
        stderr,
        format!(
            "dotrpc: cannot connect to tcp://127.0.0.1:{port}: transport error: Connection refused (os error 111)\n"
        )
    );

    dotrpc(&["call", a, "math.div", "-"])
        .write_stdin("{\"a\": 1}")
        .assert()
        .code(2)
        .stderr("dotrpc: stdin must hold a JSON array of arguments\n");
}

#[test]
fn notify_is_delivered_before_the_tool_exits() {
    let server = DemoServer::tcp();
    let a = server.addr.as_str();
    assert_eq!(
        run(&["notify", a, "log", "\"one\""]),
        (0, String::new(), String::new())
    );
    assert_eq!(run(&["notify", a, "log", "\"two\""]).0, 0);
    assert_eq!(run(&["call", a, "stats.notifications"]).1, "2\n");
}

#[test]
fn describe_prints_the_namespace_tree_or_json() {
    let server = DemoServer::tcp();
    let a = server.addr.as_str();
    let (status, tree, _) = run(&["describe", a]);
    assert_eq!(status, 0);
    assert!(
        tree.contains("math\n  div(a: f64, b: f64) -> Result<f64, String>\n      Divides; by zero is an application error.\n  round(x: f64, digits: Option<u8>) -> f64\n      Rounds `x` to `digits` decimal places; `digits` may be left out (0),\n  stats\n    mean(values: Vec<f64>) -> Result<f64, String>\n"),
        "{tree}"
    );
    assert!(
        tree.contains("events\n  event subscribe(n: u64)\n"),
        "{tree}"
    );
    // Then the shapes of the types the methods name.
    for shape in [
        "\ntypes\n",
        "  Item { sku: String, price_cents: u64, kind: Kind, tags?: Vec<String> }\n",
        "  Kind = Book | Toy { min_age: u8 } | Food(String, bool) | Gift(Item)\n",
        "  Order { lines: Vec<Line>, discount?: Option<Discount>, ship_to: Address }\n",
    ] {
        assert!(tree.contains(shape), "{shape}\n{tree}");
    }

    let (status, json, _) = run(&["describe", a, "--json"]);
    assert_eq!(status, 0);
    let description: dotrpc::Description = serde_json::from_str(&json).unwrap();
    let add = description.method("add").unwrap();
    assert_eq!((add.params.len(), add.returns.as_str()), (2, "i64"));
    assert_eq!(description.version, 2);
    assert!(description.types.contains_key("Order"), "{json}");
}

/// The declarations the TypeScript client's tests compile against are the
/// ones `describe --typescript` writes for the demo API, exactly; run with
/// `DOTRPC_BLESS=1` to write them again after changing either.
#[test]
fn describe_writes_the_typescript_declarations_the_client_is_tested_with() {
    // Over WebSocket, the address a web page's developer has at hand.
    let server = DemoServer::ws();
    let (status, declarations, stderr) = run(&[
        "describe",
        server.addr.as_str(),
        "--typescript",
        "--name",
        "DemoApi",
    ]);
    assert_eq!(status, 0, "{stderr}");
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../clients/typescript/test/demo_api.ts"
    );
    if std::env::var_os("DOTRPC_BLESS").is_some() {
        std::fs::write(path, &declarations).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap();
    assert_eq!(
        declarations, committed,
        "{path} is not what describe --typescript writes; DOTRPC_BLESS=1 rewrites it"
    );

    let (status, _, stderr) = run(&[
        "describe",
        server.addr.as_str(),
        "--typescript",
        "--name",
        "not-a-name",
    ]);
    assert_eq!(status, 2);
    assert!(stderr.contains("not a TypeScript identifier"), "{stderr}");
}

/// The Python module `describe --python` writes for the demo API is the one
/// committed beside the code that uses it (`DOTRPC_BLESS=1` rewrites it),
/// and a pinned `mypy --strict` passes that code and catches each mistake in
/// `misuses.py`, and nothing else.
#[test]
fn describe_writes_a_python_module_mypy_checks() {
    let server = DemoServer::tcp();
    let (status, module, stderr) = run(&[
        "describe",
        server.addr.as_str(),
        "--python",
        "--name",
        "DemoApi",
    ]);
    assert_eq!(status, 0, "{stderr}");
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let typed = format!("{root}/tests/interop/typed");
    let path = format!("{typed}/demo_api.py");
    if std::env::var_os("DOTRPC_BLESS").is_some() {
        std::fs::write(&path, &module).unwrap();
    }
    assert_eq!(
        module,
        std::fs::read_to_string(&path).unwrap(),
        "{path} is not what describe --python writes; DOTRPC_BLESS=1 rewrites it"
    );
    let (status, _, stderr) = run(&[
        "describe",
        server.addr.as_str(),
        "--python",
        "--name",
        "class",
    ]);
    assert_eq!(status, 2);
    assert!(stderr.contains("not a Python identifier"), "{stderr}");

    let env = std::process::Command::new(format!("{root}/scripts/python-env.sh"))
        .output()
        .expect("run scripts/python-env.sh");
    assert!(
        env.status.success(),
        "scripts/python-env.sh failed; this test needs python3 with venv and pip:\n{}",
        String::from_utf8_lossy(&env.stderr)
    );
    let python = String::from_utf8(env.stdout).unwrap().trim().to_owned();
    let cache = format!("{root}/target/mypy-cache");
    let mypy = |file: &str| {
        let output = std::process::Command::new(&python)
            .args([
                "-m",
                "mypy",
                "--strict",
                "--cache-dir",
                &cache,
                "--no-error-summary",
                file,
            ])
            .current_dir(&typed)
            .output()
            .expect("run mypy");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    let (passed, report) = mypy("uses.py");
    assert!(passed, "mypy --strict refuses uses.py:\n{report}");
    let (passed, report) = mypy("misuses.py");
    assert!(!passed, "mypy --strict passes misuses.py");
    let misuses = std::fs::read_to_string(format!("{typed}/misuses.py")).unwrap();
    let marked: Vec<usize> = misuses
        .lines()
        .enumerate()
        .filter(|(_, line)| line.ends_with("# error"))
        .map(|(i, _)| i + 1)
        .collect();
    let mut reported: Vec<usize> = report
        .lines()
        .filter(|line| line.contains(": error:"))
        .filter_map(|line| {
            line.strip_prefix("misuses.py:")?
                .split(':')
                .next()?
                .parse()
                .ok()
        })
        .collect();
    reported.dedup();
    assert_eq!(reported, marked, "{report}");
}

#[test]
fn call_prints_a_streams_items_uploads_stdin_and_converses() {
    let server = DemoServer::tcp();
    let a = server.addr.as_str();
    let (status, lines, stderr) = run(&["call", a, "count", "4", "0"]);
    assert_eq!((status, stderr.as_str()), (0, ""));
    assert_eq!(lines, "0\n1\n2\n3\n");

    let output = dotrpc(&["call", a, "sum"])
        .write_stdin("1\n2\n\n39\n")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(String::from_utf8(output.stdout).unwrap(), "42\n");

    let output = dotrpc(&["call", a, "sum"])
        .write_stdin("1\nnot json\n")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(6), "refused arguments");

    // Both ways: stdin's lines out, the answers printed as they come.
    let output = dotrpc(&["call", a, "double"])
        .write_stdin((1..=100).map(|i| format!("{i}\n")).collect::<String>())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let doubled: String = (1..=100).map(|i| format!("{}\n", i * 2)).collect();
    assert_eq!(String::from_utf8(output.stdout).unwrap(), doubled);
}

#[test]
fn ctrl_c_cancels_a_stream_cleanly() {
    let server = DemoServer::tcp();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dotrpc"))
        .args(["call", server.addr.as_str(), "count", "100000", "20"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The first item is printed: the stream is running.
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
    assert_eq!(first, "0\n");
    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let deadline = std::time::Instant::now() + LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running after Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(130));
    // The server forgets the connection: nothing is left running for it.
    server.wait_until_no_connections();
}

#[test]
fn listen_prints_notifications_in_order_after_subscribing() {
    let server = DemoServer::tcp();
    let a = server.addr.as_str();
    let (status, lines, stderr) = run(&[
        "listen",
        a,
        "events.subscribe",
        "20",
        "--notify",
        "--count",
        "20",
    ]);
    assert_eq!((status, stderr.as_str()), (0, ""));
    let expected: String = (0..20)
        .map(|i| format!("{{\"method\":\"events.tick\",\"params\":[{i}]}}\n"))
        .collect();
    assert_eq!(lines, expected);
    // --for ends a quiet listen.
    assert_eq!(
        run(&["listen", a, "--for", "0.2"]),
        (0, String::new(), String::new())
    );
}

#[test]
fn unix_socket_addresses_work() {
    let dir = std::env::temp_dir().join(format!("dotrpc-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let server = DemoServer::unix(&dir.join("demo.sock"));
    assert_eq!(run(&["call", &server.addr, "add", "1", "2"]).1, "3\n");
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bench_reports_throughput_and_percentiles() {
    let server = DemoServer::tcp();
    let a = server.addr.as_str();
    let (status, report, progress) = run(&[
        "bench",
        a,
        "add",
        "1",
        "2",
        "--concurrency",
        "4",
        "--connections",
        "2",
        "--duration",
        "1.2",
        "--warmup",
        "0.1",
        "--json",
    ]);
    assert_eq!(status, 0, "{progress}");
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert!(report["calls"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(report["errors"], serde_json::json!({}));
    let latency = &report["latency_us"];
    assert!(
        latency["p50"].as_f64() <= latency["p99"].as_f64(),
        "{report}"
    );
    assert!(
        latency["min"].as_f64() <= latency["p50"].as_f64(),
        "{report}"
    );
    assert!(
        progress.contains(" calls/s "),
        "the progress line: {progress}"
    );

    let (status, text, _) = run(&["bench", a, "add", "1", "2", "-d", "0.3", "--warmup", "0"]);
    assert_eq!(status, 0);
    assert!(
        text.starts_with("add on 1 connection(s), 16 in flight"),
        "{text}"
    );
    assert!(text.contains("latency µs: min "), "{text}");
    // A bad call fails before the load starts.
    let (status, _, stderr) = run(&["bench", a, "add", "1"]);
    assert_eq!(
        (status, stderr.as_str()),
        (
            6,
            "dotrpc: add failed: invalid params for `add`: add expects 2 params, got 1\n"
        )
    );
    // Every connection the runs made ends with them.
    server.wait_until_no_connections();
}

#[test]
fn every_subcommand_has_complete_help() {
    let (status, top, _) = run(&["--help"]);
    assert_eq!(status, 0);
    for subcommand in ["call", "notify", "describe", "listen", "bench"] {
        assert!(top.contains(subcommand), "{top}");
        let (status, help, _) = run(&[subcommand, "--help"]);
        assert_eq!(status, 0);
        for needle in [
            "Usage: dotrpc",
            "<ADDR>",
            "--timeout",
            "ADDR is one of",
            "exec:COMMAND",
            "Exit status",
            "Example:",
        ] {
            assert!(
                help.contains(needle),
                "`dotrpc {subcommand} --help` lacks {needle:?}:\n{help}"
            );
        }
    }
    let (status, _, stderr) = run(&["call"]);
    assert_eq!(status, 2);
    assert!(
        stderr.contains("required arguments were not provided"),
        "{stderr}"
    );
}

#[test]
fn exec_addresses_drive_a_child_such_as_neovim() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/neovim.sh");
    let installed = std::process::Command::new(script).output().unwrap();
    if !installed.status.success() {
        eprintln!(
            "\n!!! SKIPPED: Neovim could not be installed, so exec: was not tested:\n{}\n",
            String::from_utf8_lossy(&installed.stderr)
        );
        return;
    }
    let nvim = String::from_utf8(installed.stdout).unwrap();
    let addr = format!("exec:{} --embed --headless --clean", nvim.trim());
    assert_eq!(
        run(&["call", &addr, "nvim_eval", "\"1+2\""]),
        (0, "3\n".into(), String::new())
    );
    // Handles come back tagged, and go back in as they came.
    assert_eq!(
        run(&["call", "-c", &addr, "nvim_get_current_buf"]).1,
        "{\"$ext\":[0,\"AQ==\"]}\n"
    );
    assert_eq!(
        run(&[
            "call",
            &addr,
            "nvim_buf_line_count",
            r#"{"$ext": [0, "AQ=="]}"#
        ])
        .1,
        "1\n"
    );
    assert_eq!(
        run(&["call", &addr, "nvim_eval", "\"nope\""]),
        (
            1,
            String::new(),
            "dotrpc: nvim_eval failed: Vim:E121: Undefined variable: nope\n".into()
        )
    );
}

/// `compat` compares a saved description with a live server, and two saved
/// versions each way: a removed method and a new required param break
/// older callers (exit 1), an added method only newer ones (exit 0).
#[test]
fn compat_says_whom_each_change_breaks() {
    let server = DemoServer::tcp();
    let a = server.addr.as_str();
    let dir = std::env::temp_dir().join(format!("dotrpc-compat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (status, saved, _) = run(&["describe", a, "--json"]);
    assert_eq!(status, 0);
    let v1 = dir.join("v1.json");
    std::fs::write(&v1, &saved).unwrap();
    let v1 = v1.to_str().unwrap();
    assert_eq!(
        run(&["compat", v1, a]),
        (0, "no changes\n".into(), String::new())
    );

    // v2: math.round is gone, add takes a third, required param, and a
    // method is added.
    let mut v2: dotrpc::Description = serde_json::from_str(&saved).unwrap();
    v2.methods.retain(|m| m.path != "math.round");
    let add = v2.methods.iter_mut().find(|m| m.path == "add").unwrap();
    add.params
        .push(dotrpc::schema::ParamDescription::new("c", "i64"));
    v2.methods
        .push(dotrpc::schema::MethodDescription::new("math.floor"));
    let v2_path = dir.join("v2.json");
    std::fs::write(&v2_path, serde_json::to_string(&v2).unwrap()).unwrap();
    let v2 = v2_path.to_str().unwrap();

    let (status, report, stderr) = run(&["compat", v1, v2]);
    assert_eq!(status, 1, "{report}{stderr}");
    assert!(
        report.contains("breaks older callers   add: param 3 `c` added, required\n"),
        "{report}"
    );
    assert!(
        report.contains("breaks older callers   math.round: removed\n"),
        "{report}"
    );
    assert!(
        report.contains("breaks newer callers   math.floor: added"),
        "{report}"
    );
    assert!(stderr.contains("breaks callers of"), "{stderr}");

    let (status, json, _) = run(&["compat", v2, v1, "--json"]);
    assert_eq!(status, 1, "math.floor is gone, add takes one param fewer");
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["breaks_older_callers"], true);
    let classes: Vec<&str> = json["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["breaks"].as_str().unwrap())
        .collect();
    assert!(classes.contains(&"older_callers"), "{json}");
    assert!(
        classes.contains(&"newer_callers"),
        "math.round comes back: {json}"
    );

    // Types are judged by their shapes: a field a server reads becomes
    // required (older callers break), one it writes is added (only newer
    // callers of an old server lack it).
    let field = |name: &str, ty: dotrpc::schema::Type| dotrpc::schema::Field {
        name: name.into(),
        ty,
        optional: false,
    };
    let mut v4: dotrpc::Description = serde_json::from_str(&saved).unwrap();
    let Some(dotrpc::schema::TypeDef::Struct(order)) = v4.types.get_mut("Order") else {
        panic!("Order is a struct: {saved}")
    };
    order.push(field("coupon", dotrpc::schema::Type::String));
    let Some(dotrpc::schema::TypeDef::Struct(quote)) = v4.types.get_mut("Quote") else {
        panic!("Quote is a struct: {saved}")
    };
    quote.push(field("tax_cents", dotrpc::schema::Type::U64));
    let v4_path = dir.join("v4.json");
    std::fs::write(&v4_path, serde_json::to_string(&v4).unwrap()).unwrap();
    let (status, report, _) = run(&["compat", v1, v4_path.to_str().unwrap()]);
    assert_eq!(status, 1, "{report}");
    assert!(
        report.contains(
            "breaks older callers   shop.quote: param 1 `order` (`Order`): `Order.coupon`: required by the reader, and not written\n"
        ),
        "{report}"
    );
    assert!(
        report.contains(
            "breaks newer callers   shop.quote: result `Quote`: `Quote.tax_cents`: required by the reader, and not written\n"
        ),
        "{report}"
    );

    // Only an added method: nothing breaks older callers.
    let mut v3: dotrpc::Description = serde_json::from_str(&saved).unwrap();
    v3.methods
        .push(dotrpc::schema::MethodDescription::new("math.floor"));
    let v3_path = dir.join("v3.json");
    std::fs::write(&v3_path, serde_json::to_string(&v3).unwrap()).unwrap();
    assert_eq!(run(&["compat", v1, v3_path.to_str().unwrap()]).0, 0);

    let junk = dir.join("junk.json");
    std::fs::write(&junk, "{\"not\": \"a description\"}").unwrap();
    let (status, _, stderr) = run(&["compat", junk.to_str().unwrap(), a]);
    assert_eq!(status, 2);
    assert!(stderr.contains("is not a description"), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}
