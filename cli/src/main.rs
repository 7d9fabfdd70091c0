//! `dotrpc`: call, notify, describe, listen to and load-test msgpack-rpc
//! peers from the shell, as `grpcurl` does for gRPC.
//!
//! Every subcommand connects, does one thing and exits with a status that
//! says how it went (see `dotrpc --help`). Failures are one line on stderr.

mod bench;
mod describe;
mod histogram;
mod json;
mod python;
mod target;
mod tls;
mod typescript;

use std::io::Read as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use dotrpc::Address;
use dotrpc::{ErrorKind, Peer, Router, Value, handler::IntoReply};
use target::Connection;

const EXIT_STATUS: &str = "\
Exit status:
  0  success
  1  the peer answered with an error (application, internal, refused, ...)
  2  bad usage: arguments, address or JSON
  3  could not connect, the connection was lost, or no NATS instance serves the path
  4  timed out
  5  no such method at the peer (UnknownApi)
  6  the peer refused the arguments (InvalidParams)";

const ADDRESSES: &str = "\
ADDR is one of:
  host:port, tcp://host:port   a TCP server
  unix:///path/to/socket       a Unix socket
  exec:COMMAND ARGS            a child process over its stdin and stdout (run with sh -c)
  nats://host:port/prefix      the service under prefix on a NATS server
  nats://a:4222,b:4222/prefix  the same, through the first server of a seed list that answers
                               (credentials in the URL: nats://user:password@host:port/prefix)
  ws://host:port/path          a WebSocket server
  tls://host:port              a TCP server over TLS (see --ca, --server-name, --cert, --key)
  wss://host:port/path         a WebSocket server over TLS

Arguments are JSON values: 42, 1.5, '\"text\"', '[1, 2]', '{\"k\": null}';
bytes are {\"$bin\": \"<base64>\"}, ext values {\"$ext\": [type, \"<base64>\"]}.";

/// Talk msgpack-rpc to any peer: dotrpc servers, Neovim, Python or Node.
#[derive(Debug, Parser)]
#[command(name = "dotrpc", version, after_help = format!("{ADDRESSES}\n\n{EXIT_STATUS}"))]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Call PATH with arguments and print the result as JSON.
    #[command(after_help = format!("{ADDRESSES}\n\n{EXIT_STATUS}\n\nExample:\n  dotrpc call 127.0.0.1:7000 math.div 1 4\n  echo '[1, 4]' | dotrpc call 127.0.0.1:7000 math.div -\n  dotrpc call 'exec:nvim --embed --headless' nvim_eval '\"1+2\"'"))]
    Call {
        #[command(flatten)]
        call: CallArgs,
        /// Print the result on one line instead of indented.
        #[arg(long, short)]
        compact: bool,
    },
    /// Send PATH a one-way notification; nothing comes back.
    #[command(after_help = format!("{ADDRESSES}\n\n{EXIT_STATUS}\n\nExample:\n  dotrpc notify 127.0.0.1:7000 log '\"hello\"'"))]
    Notify {
        #[command(flatten)]
        call: CallArgs,
    },
    /// Print the peer's API from rpc.describe: its namespace tree, signatures, docs and types.
    #[command(after_help = format!("{ADDRESSES}\n\n{EXIT_STATUS}\n\nExample:\n  dotrpc describe 127.0.0.1:7000 --json\n  dotrpc describe ws://127.0.0.1:8080/rpc --typescript --name DemoApi > api.ts\n  dotrpc describe 127.0.0.1:7000 --python --name DemoApi > demo_api.py"))]
    Describe {
        #[command(flatten)]
        connect: ConnectArgs,
        /// Print the description as JSON instead of a tree.
        #[arg(long, conflicts_with_all = ["typescript", "python"])]
        json: bool,
        /// Print TypeScript declarations of the API and its types, for the
        /// typed client of clients/typescript (`connect<Api>(url)`).
        #[arg(long, conflicts_with = "python")]
        typescript: bool,
        /// Print a typed Python module of the API and its types: TypedDicts,
        /// unions and a Protocol class per namespace.
        #[arg(long)]
        python: bool,
        /// The name of the API's interface (TypeScript) or protocol class
        /// (Python).
        #[arg(long, default_value = "Api")]
        name: String,
    },
    /// Compare two versions of an API: what each change breaks, and whom.
    #[command(after_help = format!("OLD and NEW are each a saved description (a file written by\n`dotrpc describe ADDR --json`) or the address of a live peer.\n\n{ADDRESSES}\n\nEvery difference is printed with whom it breaks: older callers of the new\nserver (what a deploy must not break), newer callers of an old server, both,\nonly code generated from the description, or nobody.\n\nExit status:\n  0  nothing breaks older callers of NEW\n  1  something does\n  2  bad usage: arguments, or a file that is not a description\n  3  could not connect\n\nExample:\n  dotrpc describe 127.0.0.1:7000 --json > api.json\n  dotrpc compat api.json 127.0.0.1:7001"))]
    Compat {
        /// The old version: a saved description, or an address.
        old: String,
        /// The new version: a saved description, or an address.
        new: String,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        wait: Wait,
    },
    /// Print incoming notifications as JSON lines, optionally after a subscribe call.
    #[command(after_help = format!("{ADDRESSES}\n\n{EXIT_STATUS}\n\nEach line is {{\"method\": PATH, \"params\": [..]}}. Incoming calls are answered\nwith UnknownApi. Stops at --count, at --for, or when the peer closes.\n\nExample:\n  dotrpc listen 127.0.0.1:7000 events.subscribe 3 --notify --count 3"))]
    Listen {
        #[command(flatten)]
        connect: ConnectArgs,
        /// A method to call first (a subscription), with JSON arguments.
        #[arg(allow_negative_numbers = true)]
        subscribe: Vec<String>,
        /// Send the subscription as a notification instead of a call.
        #[arg(long)]
        notify: bool,
        /// Stop after this many notifications.
        #[arg(long)]
        count: Option<u64>,
        /// Stop after this many seconds.
        #[arg(long = "for", value_name = "SECONDS")]
        duration: Option<f64>,
    },
    /// Load-test PATH: many calls in flight for a while, then a latency histogram.
    #[command(after_help = format!("{ADDRESSES}\n\n{EXIT_STATUS}\n\nExample:\n  dotrpc bench 127.0.0.1:7000 add 1 2 --concurrency 64 --duration 10"))]
    Bench(bench::BenchArgs),
}

/// Where to connect and how long to wait.
#[derive(Debug, Args)]
struct ConnectArgs {
    /// The peer's address (see below).
    addr: String,
    #[command(flatten)]
    wait: Wait,
    #[command(flatten)]
    tls: tls::TlsArgs,
}

/// How long to wait.
#[derive(Debug, Clone, Copy, Args)]
struct Wait {
    /// Seconds to wait for the connection, and for each answer.
    #[arg(
        long,
        default_value_t = 10.0,
        value_name = "SECONDS",
        allow_negative_numbers = true
    )]
    timeout: f64,
}

/// A method and its arguments.
#[derive(Debug, Args)]
struct CallArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// The method's dot-joined path, e.g. math.stats.mean.
    path: String,
    /// Arguments, each a JSON value; a single - reads a JSON array from stdin.
    #[arg(allow_negative_numbers = true)]
    args: Vec<String>,
}

/// Why a command failed: one line for stderr and the exit status.
#[derive(Debug)]
struct Failure {
    status: u8,
    message: String,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Self {
        Failure {
            status: 2,
            message: message.into(),
        }
    }

    fn connect(message: impl Into<String>) -> Self {
        Failure {
            status: 3,
            message: message.into(),
        }
    }

    /// A failed call, with the status its error kind maps to.
    /// Stopped by Ctrl-C (as shells report a SIGINT).
    fn interrupted() -> Self {
        Failure {
            status: 130,
            message: "interrupted".into(),
        }
    }

    fn call(path: &str, error: &dotrpc::Error) -> Self {
        let status = match error.kind() {
            ErrorKind::Transport | ErrorKind::Disconnected | ErrorKind::NoResponders => 3,
            ErrorKind::Timeout => 4,
            ErrorKind::UnknownApi => 5,
            ErrorKind::InvalidParams => 6,
            _ => 1,
        };
        let message = match error {
            dotrpc::Error::Remote(remote) | dotrpc::Error::Foreign(remote) => {
                format!("{path} failed: {remote}")
            }
            other => format!("{path} failed: {}", chain(other)),
        };
        Failure { status, message }
    }
}

/// An error and its causes, on one line: `transport error: Connection refused`.
fn chain(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

impl ConnectArgs {
    fn timeout(&self) -> Result<Duration, Failure> {
        Duration::try_from_secs_f64(self.wait.timeout)
            .ok()
            .filter(|t| !t.is_zero())
            .ok_or_else(|| {
                Failure::usage(format!(
                    "--timeout {} is not a positive number of seconds",
                    self.wait.timeout
                ))
            })
    }

    /// Connects with `router` serving what the peer sends.
    async fn connect(&self, router: Arc<Router>) -> Result<(Address, Connection), Failure> {
        let target = target::parse(&self.addr).map_err(Failure::usage)?;
        // A child may well be a foreign peer (Neovim answers the dotrpc hello
        // with an error event), so only dotrpc-shaped addresses get one.
        let builder = Peer::builder()
            .router(router)
            .handshake(!target::is_child(&target))
            // One handler at a time: `listen` prints notifications in order.
            .max_concurrent_handlers(1);
        let builder = self.tls.apply(&target, builder).map_err(Failure::usage)?;
        let connection = target::connect(&target, builder, self.timeout()?)
            .await
            .map_err(Failure::connect)?;
        Ok((target, connection))
    }
}

impl CallArgs {
    fn params(&self) -> Result<Vec<Value>, Failure> {
        if self.args.len() == 1 && self.args[0] == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Failure::usage(format!("cannot read stdin: {e}")))?;
            return json::parse_arg_array(&text).map_err(Failure::usage);
        }
        parse_args(&self.args)
    }
}

fn parse_args(args: &[String]) -> Result<Vec<Value>, Failure> {
    args.iter()
        .enumerate()
        .map(|(i, text)| json::parse_arg(i + 1, text).map_err(Failure::usage))
        .collect()
}

async fn call(args: &CallArgs, compact: bool) -> Result<(), Failure> {
    let params = args.params()?;
    let (target, connection) = args.connect.connect(Arc::new(Router::new())).await?;
    // A dotrpc peer says which methods stream; other peers are called plainly.
    let streams = if target::is_child(&target) {
        None
    } else {
        described_streams(&connection.peer, &args.path, args.connect.timeout()?).await
    };
    let outcome = match streams {
        Some(Streams::Answer) => {
            let printed = print_items(&connection.peer, args, &params).await;
            connection.close().await;
            return printed;
        }
        Some(Streams::Input) => upload_stdin(&connection.peer, args, &params).await,
        Some(Streams::Both) => {
            let talked = converse(&connection.peer, args, &params).await;
            connection.close().await;
            return talked;
        }
        None => {
            connection
                .peer
                .call::<Value>(&args.path, &params)
                .timeout(args.connect.timeout()?)
                .await
        }
    };
    connection.close().await;
    let result = outcome.map_err(|e| Failure::call(&args.path, &e))?;
    let json = json::to_json(&result);
    if compact {
        println!("{json}");
    } else {
        println!("{json:#}");
    }
    Ok(())
}

/// Which streams a described method has.
enum Streams {
    /// It answers with items.
    Answer,
    /// It takes items as its input.
    Input,
    /// Both: a conversation.
    Both,
}

/// What `rpc.describe` says `path` streams, if the peer describes itself
/// and the method streams.
async fn described_streams(peer: &dotrpc::Peer, path: &str, timeout: Duration) -> Option<Streams> {
    let description = peer
        .call::<dotrpc::Description>("rpc.describe", ())
        .timeout(timeout)
        .await
        .ok()?;
    let method = description.methods.into_iter().find(|m| m.path == path)?;
    match (method.stream, method.input) {
        (Some(_), Some(_)) => Some(Streams::Both),
        (Some(_), None) => Some(Streams::Answer),
        (None, Some(_)) => Some(Streams::Input),
        (None, None) => None,
    }
}

/// Prints a stream's items as JSON lines as they come, until it ends, it
/// fails, or Ctrl-C (which cancels it: the handler is stopped).
async fn print_items(
    peer: &dotrpc::Peer,
    args: &CallArgs,
    params: &[Value],
) -> Result<(), Failure> {
    use std::io::Write as _;

    let mut items = peer
        .stream::<Value>(&args.path, params)
        .timeout(args.connect.timeout()?);
    let mut stdout = std::io::stdout().lock();
    loop {
        let item = tokio::select! {
            item = items.next() => item,
            _ = tokio::signal::ctrl_c() => return Err(Failure::interrupted()),
        };
        match item {
            None => return Ok(()),
            Some(Ok(item)) => {
                // A reader that went away (`| head`) ends the stream.
                if writeln!(stdout, "{}", json::to_json(&item)).is_err() || stdout.flush().is_err()
                {
                    return Ok(());
                }
            }
            Some(Err(error)) => return Err(Failure::call(&args.path, &error)),
        }
    }
}

/// A conversation: stdin's lines go out as the input, the answers are
/// printed as JSON lines as they come, until the handler ends it.
async fn converse(peer: &dotrpc::Peer, args: &CallArgs, params: &[Value]) -> Result<(), Failure> {
    use std::io::Write as _;
    use tokio::io::AsyncBufReadExt as _;

    let failed = |error: dotrpc::Error| Failure::call(&args.path, &error);
    let mut chat = peer.conversation::<Value, Value>(&args.path, params);
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut input_open = true;
    let mut stdout = std::io::stdout().lock();
    loop {
        tokio::select! {
            line = lines.next_line(), if input_open => match line {
                Ok(Some(line)) if line.trim().is_empty() => {}
                Ok(Some(line)) => {
                    let item = json::parse_arg(0, &line).map_err(|message| {
                        Failure::usage(format!("stdin: {message}"))
                    })?;
                    // The answers already here are printed first: a handler
                    // whose answers fill their window takes no more input.
                    while let Some(answer) = ready_now(&mut chat) {
                        match answer {
                            Some(Ok(answer)) => {
                                let _ = writeln!(stdout, "{}", json::to_json(&answer));
                            }
                            Some(Err(error)) => return Err(failed(error)),
                            None => return Ok(()),
                        }
                    }
                    match chat.send(&item).await {
                        // It ended the conversation: its answers say how.
                        Err(dotrpc::Error::Cancelled) => input_open = false,
                        other => other.map_err(failed)?,
                    }
                }
                Ok(None) | Err(_) => {
                    chat.end_input();
                    input_open = false;
                }
            },
            answer = chat.next() => match answer {
                None => return Ok(()),
                Some(Ok(answer)) => {
                    if writeln!(stdout, "{}", json::to_json(&answer)).is_err() || stdout.flush().is_err() {
                        return Ok(());
                    }
                }
                Some(Err(error)) => return Err(failed(error)),
            },
            _ = tokio::signal::ctrl_c() => return Err(Failure::interrupted()),
        }
    }
}

/// The conversation's next answer if it is already here (`Some`), without
/// waiting.
fn ready_now(
    chat: &mut dotrpc::Conversation<Value, Value>,
) -> Option<Option<Result<Value, dotrpc::Error>>> {
    let mut next = std::pin::pin!(chat.next());
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::future::Future::poll(next.as_mut(), &mut cx) {
        std::task::Poll::Ready(answer) => Some(answer),
        std::task::Poll::Pending => None,
    }
}

/// Sends the JSON values on stdin, one per line, as a call's input
/// stream, then waits for its answer.
async fn upload_stdin(
    peer: &dotrpc::Peer,
    args: &CallArgs,
    params: &[Value],
) -> Result<Value, dotrpc::Error> {
    use tokio::io::AsyncBufReadExt as _;

    let mut upload = peer.upload::<Value, Value>(&args.path, params);
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await.map_err(dotrpc::Error::from)? {
        if line.trim().is_empty() {
            continue;
        }
        let item = json::parse_arg(0, &line).map_err(|message| dotrpc::Error::InvalidParams {
            method: args.path.clone(),
            reason: format!("stdin: {message}"),
        })?;
        match upload.send(&item).await {
            Ok(()) => {}
            // It answered already: its answer is what matters.
            Err(dotrpc::Error::Cancelled) => break,
            Err(error) => return Err(error),
        }
    }
    upload.finish().await
}

async fn notify(args: &CallArgs) -> Result<(), Failure> {
    let params = args.params()?;
    let (_, connection) = args.connect.connect(Arc::new(Router::new())).await?;
    let sent = connection.peer.notify(&args.path, &params).await;
    // Closing flushes the notification before the connection ends.
    connection.close().await;
    sent.map_err(|e| Failure::call(&args.path, &e))
}

async fn listen(
    connect: &ConnectArgs,
    subscribe: &[String],
    as_notification: bool,
    count: Option<u64>,
    duration: Option<f64>,
) -> Result<(), Failure> {
    let subscription = match subscribe.split_first() {
        Some((path, args)) => Some((path.clone(), parse_args(args)?)),
        None => None,
    };
    let duration = duration
        .map(|secs| {
            Duration::try_from_secs_f64(secs)
                .map_err(|_| Failure::usage(format!("--for {secs} is not a number of seconds")))
        })
        .transpose()?;
    let (lines, mut received) = tokio::sync::mpsc::unbounded_channel();
    let router = Arc::new(Router::new());
    // Notifications are printed; calls are declined, so they get UnknownApi.
    router.set_fallback(move |ctx, params| {
        let printed = !ctx.expects_reply() && {
            let params = params.values().unwrap_or_default();
            let line = serde_json::json!({
                "method": ctx.method(),
                "params": json::to_json(&Value::Array(params)),
            });
            lines.send(line.to_string()).is_ok()
        };
        async move { printed.then(|| ().into_reply()) }
    });
    let (_, connection) = connect.connect(router).await?;
    if let Some((path, params)) = subscription {
        let peer = &connection.peer;
        let done = if as_notification {
            peer.notify(&path, &params).await
        } else {
            peer.call::<Value>(&path, &params)
                .timeout(connect.timeout()?)
                .await
                .map(drop)
        };
        if let Err(error) = done {
            connection.close().await;
            return Err(Failure::call(&path, &error));
        }
    }
    let mut printed = 0;
    let deadline = duration.map(|d| tokio::time::Instant::now() + d);
    let closed = connection.peer.closed();
    tokio::pin!(closed);
    loop {
        if count.is_some_and(|count| printed >= count) {
            break;
        }
        let timer = async {
            match deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            line = received.recv() => match line {
                Some(line) => {
                    println!("{line}");
                    printed += 1;
                }
                None => break,
            },
            _ = timer => break,
            reason = &mut closed => {
                // Print what arrived before the close, then stop.
                while let Ok(line) = received.try_recv() {
                    println!("{line}");
                }
                connection.close().await;
                return match reason {
                    dotrpc::error::DisconnectReason::Closed => Ok(()),
                    reason => Err(Failure::connect(format!("the connection ended: {reason}"))),
                };
            }
        }
    }
    connection.close().await;
    Ok(())
}

/// How `describe` prints the API.
enum DescribeFormat {
    Tree,
    Json,
    TypeScript { name: String },
    Python { name: String },
}

/// The peer's description, from `rpc.describe`.
async fn described(connect: &ConnectArgs) -> Result<dotrpc::Description, Failure> {
    let (_, connection) = connect.connect(Arc::new(Router::new())).await?;
    let outcome = connection
        .peer
        .call::<dotrpc::Description>("rpc.describe", ())
        .timeout(connect.timeout()?)
        .await;
    connection.close().await;
    outcome.map_err(|e| Failure::call("rpc.describe", &e))
}

async fn describe(connect: &ConnectArgs, format: DescribeFormat) -> Result<(), Failure> {
    let description = described(connect).await?;
    match format {
        DescribeFormat::Tree => print!("{}", describe::tree(&description)),
        DescribeFormat::Json => {
            let json =
                serde_json::to_string_pretty(&description).expect("descriptions are plain data");
            println!("{json}");
        }
        DescribeFormat::TypeScript { name } => {
            print!("{}", typescript::declarations(&description, &name));
        }
        DescribeFormat::Python { name } => {
            print!("{}", python::module(&description, &name));
        }
    }
    Ok(())
}

/// A version of an API for `compat`: a saved description if `source` is a
/// file, else the description of the peer at that address.
async fn version(source: &str, wait: Wait) -> Result<dotrpc::Description, Failure> {
    if std::path::Path::new(source).is_file() {
        let text = std::fs::read_to_string(source)
            .map_err(|e| Failure::usage(format!("cannot read {source}: {e}")))?;
        return serde_json::from_str(&text).map_err(|e| {
            Failure::usage(format!(
                "{source} is not a description (dotrpc describe --json): {e}"
            ))
        });
    }
    let connect = ConnectArgs {
        addr: source.to_owned(),
        wait,
        tls: tls::TlsArgs::default(),
    };
    described(&connect).await
}

async fn compat(old: &str, new: &str, json: bool, wait: Wait) -> Result<(), Failure> {
    let report = dotrpc::compat::compare(&version(old, wait).await?, &version(new, wait).await?);
    if json {
        let json = serde_json::json!({
            "breaks_older_callers": report.breaks_older_callers(),
            "changes": report.changes,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&json).expect("a report is plain data")
        );
    } else {
        print!("{report}");
    }
    if report.breaks_older_callers() {
        return Err(Failure {
            status: 1,
            message: format!("{new} breaks callers of {old}"),
        });
    }
    Ok(())
}

async fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Call {
            call: args,
            compact,
        } => call(&args, compact).await,
        Command::Notify { call } => notify(&call).await,
        Command::Describe {
            connect,
            json,
            typescript,
            python,
            name,
        } => {
            let format = match (json, typescript, python) {
                (true, _, _) => DescribeFormat::Json,
                (_, true, _) if !typescript::is_identifier(&name) => {
                    return Err(Failure::usage(format!(
                        "--name {name:?} is not a TypeScript identifier"
                    )));
                }
                (_, true, _) => DescribeFormat::TypeScript { name },
                (_, _, true) if !python::is_identifier(&name) => {
                    return Err(Failure::usage(format!(
                        "--name {name:?} is not a Python identifier"
                    )));
                }
                (_, _, true) => DescribeFormat::Python { name },
                _ => DescribeFormat::Tree,
            };
            describe(&connect, format).await
        }
        Command::Listen {
            connect,
            subscribe,
            notify,
            count,
            duration,
        } => listen(&connect, &subscribe, notify, count, duration).await,
        Command::Compat {
            old,
            new,
            json,
            wait,
        } => compat(&old, &new, json, wait).await,
        Command::Bench(args) => bench::run(args).await,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("dotrpc: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let outcome = runtime.block_on(run(cli));
    runtime.shutdown_timeout(Duration::from_secs(1));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("dotrpc: {}", failure.message);
            ExitCode::from(failure.status)
        }
    }
}
