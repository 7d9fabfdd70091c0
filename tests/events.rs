//! `#[rpc(event)]` methods: the stub sends a notification, the server runs
//! the method and never answers; a method taking a `CallContext` sees the
//! call and can call or notify its caller back; blocking methods run off the
//! runtime threads.

mod support;

use std::sync::Mutex;

use dotrpc::{CallContext, Peer, rpc_api};
use support::bounded;
use tokio::sync::mpsc;

/// A log that records lines and tells the caller who it is.
#[rpc_api]
pub trait Log {
    /// Appends a line; one-way.
    #[rpc(event)]
    async fn line(&self, text: String);
    /// How many lines arrived so far.
    async fn count(&self) -> usize;
    /// Sees its context: the msgid, and whether a reply is expected.
    async fn whoami(&self, ctx: CallContext, tag: String) -> (String, bool, String);
    /// Calls the caller back, then answers.
    async fn greet_back(&self, ctx: CallContext) -> Result<String, String>;
    /// Runs on the blocking pool; answers the sum and the thread it ran on.
    #[rpc(blocking)]
    fn checksum(&self, data: Vec<u8>) -> (u32, String);
}

#[derive(Default)]
struct MyLog {
    lines: Mutex<Vec<String>>,
    seen: Mutex<Option<mpsc::UnboundedSender<String>>>,
}

impl Log for MyLog {
    async fn line(&self, text: String) {
        if let Some(seen) = &*self.seen.lock().unwrap() {
            let _ = seen.send(text.clone());
        }
        self.lines.lock().unwrap().push(text);
    }
    async fn count(&self) -> usize {
        self.lines.lock().unwrap().len()
    }
    async fn whoami(&self, ctx: CallContext, tag: String) -> (String, bool, String) {
        (ctx.method().to_owned(), ctx.expects_reply(), tag)
    }
    async fn greet_back(&self, ctx: CallContext) -> Result<String, String> {
        let name: String = ctx
            .peer()
            .call("client.name", ())
            .await
            .map_err(|e| e.to_string())?;
        Ok(format!("hello, {name}"))
    }
    fn checksum(&self, data: Vec<u8>) -> (u32, String) {
        let sum = data.iter().map(|b| u32::from(*b)).sum();
        (sum, format!("{:?}", std::thread::current().id()))
    }
}

#[tokio::test]
async fn events_are_one_way_and_reach_the_method() {
    let (seen, mut lines) = mpsc::unbounded_channel();
    let log = MyLog {
        seen: Mutex::new(Some(seen)),
        ..MyLog::default()
    };
    let (client, server) =
        dotrpc::memory_pair(Peer::builder(), Peer::builder().serve(LogService(log)));
    let log: LogClient = client.client();

    log.line("first".into()).await.unwrap();
    log.line("second".into()).await.unwrap();
    assert_eq!(bounded(lines.recv()).await.unwrap(), "first");
    assert_eq!(bounded(lines.recv()).await.unwrap(), "second");
    assert_eq!(bounded(log.count()).await.unwrap(), 2);
    // Nothing was ever waiting for a reply to the events.
    assert_eq!(client.pending_calls(), 0);
    assert_eq!(client.late_replies(), 0);
    drop(server);
}

#[tokio::test]
async fn a_context_param_sees_the_call_and_is_not_on_the_wire() {
    let (client, _server) = dotrpc::memory_pair(
        Peer::builder(),
        Peer::builder().serve(LogService(MyLog::default())),
    );
    let log: LogClient = client.client();
    let (method, expects_reply, tag) = bounded(log.whoami("t1".into())).await.unwrap();
    assert_eq!(
        (method.as_str(), expects_reply, tag.as_str()),
        ("whoami", true, "t1")
    );
    // On the wire, whoami takes exactly one param.
    let error = bounded(client.call::<()>("whoami", ())).await.unwrap_err();
    assert!(
        error.to_string().contains("whoami expects 1 param, got 0"),
        "{error}"
    );
}

#[tokio::test]
async fn a_method_calls_its_caller_back_through_the_context() {
    let caller = Peer::builder().router({
        let router = std::sync::Arc::new(dotrpc::Router::new());
        router.set_handler("client.name", || async { "neck" });
        router
    });
    let (client, _server) =
        dotrpc::memory_pair(caller, Peer::builder().serve(LogService(MyLog::default())));
    let log: LogClient = client.client();
    assert_eq!(bounded(log.greet_back()).await.unwrap(), "hello, neck");
}

#[tokio::test(flavor = "current_thread")]
async fn blocking_methods_run_off_the_runtime_thread() {
    let (client, _server) = dotrpc::memory_pair(
        Peer::builder(),
        Peer::builder().serve(LogService(MyLog::default())),
    );
    let log: LogClient = client.client();
    let (sum, thread) = bounded(log.checksum(vec![1, 2, 3])).await.unwrap();
    assert_eq!(sum, 6);
    // The single runtime thread is this one; the method ran elsewhere.
    assert_ne!(thread, format!("{:?}", std::thread::current().id()));
}
