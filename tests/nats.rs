//! Serving and calling over NATS, against a real nats-server on 127.0.0.1
//! (installed by `scripts/nats-server.sh`; each test starts its own and
//! stops it). Typed clients and every call mode, errors of every kind,
//! deadlines that travel, events to every client, calls shared by the
//! instances of a queue group, draining that loses nothing, the NATS
//! services protocol, and hostile or oversized messages.

mod support;

use std::time::Duration;

use dotrpc::{Blob, CallContext, ErrorKind, Peer, rpc_api};
use dotrpc_nats::{ConnectNats, NatsService, async_nats};
use support::bounded;
use support::nats::NatsServer;
use tokio::sync::mpsc;

/// A calculator three levels deep, with a typed error and a slow call.
#[rpc_api(namespace = "calc")]
pub trait Calc {
    async fn add(&self, a: i64, b: i64) -> i64;
    async fn div(&self, a: i64, b: i64) -> Result<i64, CalcError>;
    /// Answers which instance ran it, after `ms`.
    async fn who(&self, ms: u64) -> String;
    /// The deadline the handler sees, in ms from when it ran.
    async fn deadline(&self, ctx: CallContext) -> Option<u64>;
    /// Takes a blob, answers its length.
    async fn size(&self, data: Blob) -> usize;
    /// Answers a blob of `n` bytes.
    async fn make(&self, n: usize) -> Blob;
    #[rpc(event)]
    async fn log(&self, line: String);
    #[rpc(nested)]
    fn stats(&self) -> &impl Stats;
}

#[rpc_api]
pub trait Stats {
    async fn mean(&self, values: Vec<f64>) -> f64;
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, thiserror::Error)]
pub enum CalcError {
    #[error("division by zero")]
    DivisionByZero,
}

/// What the clients serve: the events a service pushes.
#[rpc_api(namespace = "ui")]
pub trait Ui {
    #[rpc(event)]
    async fn tick(&self, n: u64);
}

struct Instance {
    name: String,
    logs: mpsc::UnboundedSender<String>,
    stats: MyStats,
}

struct MyStats;

impl Stats for MyStats {
    async fn mean(&self, values: Vec<f64>) -> f64 {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

impl Calc for Instance {
    type Stats = MyStats;
    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
    async fn div(&self, a: i64, b: i64) -> Result<i64, CalcError> {
        a.checked_div(b).ok_or(CalcError::DivisionByZero)
    }
    async fn who(&self, ms: u64) -> String {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        self.name.clone()
    }
    async fn deadline(&self, ctx: CallContext) -> Option<u64> {
        ctx.remaining().map(|left| left.as_millis() as u64)
    }
    async fn size(&self, data: Blob) -> usize {
        data.len()
    }
    async fn make(&self, n: usize) -> Blob {
        Blob::from(vec![7u8; n])
    }
    async fn log(&self, line: String) {
        let _ = self.logs.send(line);
    }
    fn stats(&self) -> &MyStats {
        &self.stats
    }
}

/// An instance named `name` serving `Calc` under `prefix`; the lines logged
/// to it arrive on the receiver.
async fn instance(
    nats: &NatsServer,
    prefix: &str,
    name: &str,
) -> (NatsService, mpsc::UnboundedReceiver<String>) {
    let (logs, lines) = mpsc::unbounded_channel();
    let api = CalcService(Instance {
        name: name.to_owned(),
        logs,
        stats: MyStats,
    });
    let service = NatsService::builder(Peer::builder().serve(api), prefix)
        .version("1.2.3")
        .description("a calculator")
        .start(&nats.url)
        .await
        .unwrap();
    (service, lines)
}

async fn client(nats: &NatsServer, prefix: &str) -> Peer {
    Peer::builder()
        .connect_nats(&nats.url, prefix)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_calls_work_in_every_mode_over_nats() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let (service, mut lines) = instance(&nats, "demo", "a").await;
    let peer = client(&nats, "demo").await;
    let calc = peer.client::<CalcClient>();

    assert_eq!(bounded(calc.add(2, 3)).await.unwrap(), 5);
    assert_eq!(
        bounded(calc.stats.mean(vec![1.0, 2.0, 6.0])).await.unwrap(),
        3.0
    );
    assert_eq!(
        bounded(calc.add(1, 1).timeout(Duration::from_secs(5)))
            .await
            .unwrap(),
        2
    );
    let waited = {
        let calc = calc.clone();
        bounded(tokio::task::spawn_blocking(move || calc.add(20, 22).wait()))
            .await
            .unwrap()
    };
    assert_eq!(waited.unwrap(), 42);
    let (tx, mut rx) = mpsc::unbounded_channel();
    calc.add(4, 4).callback(move |result| {
        let _ = tx.send(result);
    });
    assert_eq!(bounded(rx.recv()).await.unwrap().unwrap(), 8);
    let handle = calc.add(5, 5).spawn();
    assert_eq!(bounded(handle).await.unwrap(), 10);

    // Errors: typed, unknown path, bad params.
    let error = bounded(calc.div(1, 0)).await.unwrap_err();
    assert!(
        matches!(error, dotrpc::Error::Remote(CalcError::DivisionByZero)),
        "{error:?}"
    );
    let error = bounded(peer.call::<i64>("calc.nothing", (1,)))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::UnknownApi, "{error}");
    let error = bounded(peer.call::<i64>("calc.add", ("x",)))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidParams, "{error}");

    // One-way events reach the instance.
    calc.log("hello".into()).send().unwrap();
    assert_eq!(bounded(lines.recv()).await.unwrap(), "hello");

    // The timeout travels and is the handler's deadline; without one, the
    // default of 10 s does.
    let left = bounded(calc.deadline().timeout(Duration::from_millis(3_000)))
        .await
        .unwrap()
        .expect("a deadline");
    assert!((1_000..=3_000).contains(&left), "{left} ms left");
    let left = bounded(calc.deadline()).await.unwrap().expect("a deadline");
    assert!((5_000..=10_000).contains(&left), "{left} ms left");

    // A NATS address, as the CLI and `dotrpc::Address` write it.
    let by_address = bounded(dotrpc_nats::connect(&format!("{}/demo", nats.url)))
        .await
        .unwrap();
    let calc = by_address.client::<CalcClient>();
    assert_eq!(bounded(calc.add(40, 2)).await.unwrap(), 42);
    by_address.close();
    let error = dotrpc_nats::connect("tcp://127.0.0.1:1").await.unwrap_err();
    assert!(support::chain(&error).contains("is not nats://"), "{error}");

    peer.close();
    bounded(service.drain(Duration::from_secs(5))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_nobody_serves_fails_at_once_with_no_responders() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let peer = client(&nats, "nobody").await;
    let started = std::time::Instant::now();
    let error = bounded(peer.client::<CalcClient>().add(1, 2))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NoResponders, "{error}");
    assert!(error.to_string().contains("calc.add"), "{error}");
    // At once: not after the call's 10 s timeout.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    peer.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_instances_of_a_queue_group_share_the_calls() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let (mut services, mut logs) = (Vec::new(), Vec::new());
    for name in ["a", "b", "c"] {
        let (service, lines) = instance(&nats, "demo", name).await;
        services.push(service);
        logs.push(lines);
    }
    let peer = client(&nats, "demo").await;
    let calc = peer.client::<CalcClient>();
    // Each one-way call reaches exactly one instance.
    for i in 0..30 {
        calc.log(format!("line {i}")).await.unwrap();
    }
    let mut received = 0;
    let started = std::time::Instant::now();
    while received < 30 && started.elapsed() < Duration::from_secs(10) {
        for lines in &mut logs {
            while lines.try_recv().is_ok() {
                received += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    for lines in &mut logs {
        while lines.try_recv().is_ok() {
            received += 1;
        }
    }
    assert_eq!(
        received, 30,
        "every event reached one instance, and only one"
    );
    let calls: Vec<_> = (0..300).map(|_| calc.who(0)).collect();
    let answers = bounded(futures_util::future::join_all(
        calls.into_iter().map(std::future::IntoFuture::into_future),
    ))
    .await;
    let mut counts = std::collections::BTreeMap::new();
    for answer in answers {
        *counts.entry(answer.unwrap()).or_insert(0) += 1;
    }
    assert_eq!(
        counts.len(),
        3,
        "every instance answers a share: {counts:?}"
    );
    peer.close();
    for service in services {
        bounded(service.drain(Duration::from_secs(5))).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_instance_answers_what_it_has_and_the_others_take_the_rest() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let (first, _) = instance(&nats, "demo", "first").await;
    let (second, _) = instance(&nats, "demo", "second").await;
    let peer = client(&nats, "demo").await;
    let calc = peer.client::<CalcClient>();
    // Slow calls in flight on both, then one instance leaves.
    let calls: Vec<_> = (0..100).map(|_| calc.who(200).spawn()).collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    bounded(first.drain(Duration::from_secs(5))).await;
    let more: Vec<_> = (0..50).map(|_| calc.who(0).spawn()).collect();
    let mut by = std::collections::BTreeMap::new();
    for call in calls.into_iter().chain(more) {
        let who = bounded(call).await.expect("no call is lost");
        *by.entry(who).or_insert(0) += 1;
    }
    assert!(by.get("first").copied().unwrap_or(0) > 0, "{by:?}");
    // After the drain, only the second answers.
    let after: Vec<_> = (0..20).map(|_| calc.who(0)).collect();
    for who in bounded(futures_util::future::join_all(
        after.into_iter().map(std::future::IntoFuture::into_future),
    ))
    .await
    {
        assert_eq!(who.unwrap(), "second");
    }
    peer.close();
    bounded(second.drain(Duration::from_secs(5))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_pushed_by_a_service_reach_every_client_in_order() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let (service, _) = instance(&nats, "demo", "a").await;
    let mut clients = Vec::new();
    let mut receivers = Vec::new();
    for _ in 0..3 {
        let (tx, rx) = mpsc::unbounded_channel();
        let ui = UiService(Recorder(tx));
        clients.push(
            Peer::builder()
                .serve(ui)
                .connect_nats(&nats.url, "demo")
                .await
                .unwrap(),
        );
        receivers.push(rx);
    }
    let ui = service.broadcast::<UiClient>();
    for n in 0..100 {
        assert_eq!(bounded(ui.tick(n)).await.unwrap(), 1);
    }
    for rx in &mut receivers {
        for n in 0..100 {
            assert_eq!(bounded(rx.recv()).await.unwrap(), n);
        }
    }
    // The service's own instances pass its pushes over: none reached the
    // calculator as an unknown call.
    assert_eq!(service.router().unhandled_notifications(), 0);
    for client in clients {
        client.close();
    }
    bounded(service.drain(Duration::from_secs(5))).await;
}

struct Recorder(mpsc::UnboundedSender<u64>);

impl Ui for Recorder {
    async fn tick(&self, n: u64) {
        let _ = self.0.send(n);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_answer_the_nats_services_protocol_with_the_description() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let (service, _) = instance(&nats, "demo", "a").await;
    let peer = client(&nats, "demo").await;
    bounded(peer.client::<CalcClient>().add(1, 2))
        .await
        .unwrap();
    let _ = bounded(peer.client::<CalcClient>().div(1, 0)).await;
    let nats_client = async_nats::connect(&nats.url).await.unwrap();
    let ask = |subject: String| {
        let nats_client = nats_client.clone();
        async move {
            let reply = bounded(nats_client.request(subject, "".into()))
                .await
                .unwrap();
            serde_json::from_slice::<serde_json::Value>(&reply.payload).unwrap()
        }
    };
    let info = ask(format!("$SRV.INFO.demo.{}", service.id())).await;
    assert_eq!(info["type"], "io.nats.micro.v1.info_response");
    assert_eq!(
        (info["name"].as_str(), info["version"].as_str()),
        (Some("demo"), Some("1.2.3"))
    );
    assert_eq!(info["description"], "a calculator");
    let described: dotrpc::Description =
        serde_json::from_str(info["metadata"]["dotrpc.describe"].as_str().unwrap()).unwrap();
    assert!(
        described.method("calc.stats.mean").is_some(),
        "{described:?}"
    );
    let endpoints = info["endpoints"].as_array().unwrap();
    let add = endpoints.iter().find(|e| e["name"] == "calc.add").unwrap();
    assert_eq!(add["subject"], "demo.calc.add");
    assert_eq!(add["metadata"]["params"], "a: i64, b: i64");

    let ping = ask("$SRV.PING".into()).await;
    assert_eq!(ping["id"].as_str(), Some(service.id()));

    let stats = ask("$SRV.STATS.demo".into()).await;
    let endpoint = |name: &str| {
        stats["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(endpoint("calc.add")["num_requests"], 1);
    assert_eq!(endpoint("calc.div")["num_errors"], 1);
    assert_eq!(endpoint("calc.div")["last_error"], "422:division by zero");

    // The replies follow the protocol's schema: async-nats's own types read them.
    use async_nats::service::{Info, PingResponse, Stats};
    let raw = |subject: &str| {
        let nats_client = nats_client.clone();
        let subject = subject.to_owned();
        async move {
            bounded(nats_client.request(subject, "".into()))
                .await
                .unwrap()
                .payload
        }
    };
    let info: Info = serde_json::from_slice(&raw("$SRV.INFO.demo").await).unwrap();
    assert_eq!(
        (info.name.as_str(), info.id.as_str()),
        ("demo", service.id())
    );
    assert!(
        info.endpoints
            .iter()
            .any(|e| e.subject == "demo.calc.stats.mean")
    );
    let ping: PingResponse = serde_json::from_slice(&raw("$SRV.PING.demo").await).unwrap();
    assert_eq!(ping.version, "1.2.3");
    let stats: Stats = serde_json::from_slice(&raw("$SRV.STATS.demo").await).unwrap();
    let div = stats
        .endpoints
        .iter()
        .find(|e| e.name == "calc.div")
        .unwrap();
    assert_eq!((div.requests, div.errors), (1, 1));
    let last = div.last_error.as_ref().expect("the last error");
    assert_eq!((last.code, last.status.as_str()), (422, "division by zero"));
    peer.close();
    bounded(service.drain(Duration::from_secs(5))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_calls_and_replies_fail_alone() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let (service, _) = instance(&nats, "demo", "a").await;
    let peer = client(&nats, "demo").await;
    let calc = peer.client::<CalcClient>();
    // nats-server's default max_payload is 1 MiB.
    let error = bounded(calc.size(Blob::from(vec![1u8; 2 << 20])))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Codec, "{error}");
    assert!(
        error.to_string().contains("large") || format!("{error:?}").contains("TooLarge"),
        "{error:?}"
    );
    let error = bounded(calc.make(2 << 20)).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Internal, "{error}");
    // Both sides live on.
    assert_eq!(
        bounded(calc.size(Blob::from(vec![1u8; 1000])))
            .await
            .unwrap(),
        1000
    );
    assert_eq!(bounded(calc.add(1, 2)).await.unwrap(), 3);
    peer.close();
    bounded(service.drain(Duration::from_secs(5))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_and_foreign_cancels_harm_nothing() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let (service, _) = instance(&nats, "demo", "a").await;
    let raw = async_nats::connect(&nats.url).await.unwrap();
    // 128 nested arrays: as deep as a body may be alone, one level too deep
    // inside a message; it must not reach (and close) the shared connection.
    let mut deep = vec![0x91u8; 128];
    deep.push(0x01);
    for body in [&[0xc1u8][..], &[0x92, 0x01][..], &[0x05][..], &deep[..]] {
        let reply = bounded(raw.request("demo.calc.add", body.to_vec().into()))
            .await
            .unwrap();
        let headers = reply.headers.expect("error headers");
        assert_eq!(
            headers.get("Nats-Service-Error-Code").unwrap().as_str(),
            "400"
        );
        let error: rmpv::Value = rmpv::decode::read_value(&mut &reply.payload[..]).unwrap();
        assert_eq!(error["code"].as_str(), Some("InvalidParams"), "{error}");
    }
    let peer = client(&nats, "demo").await;
    let calc = peer.client::<CalcClient>();
    assert_eq!(bounded(calc.add(1, 2)).await.unwrap(), 3);
    // Another caller cannot cancel this one's calls: the protocol's
    // notifications are not taken from NATS.
    let slow = calc.who(300).spawn();
    tokio::time::sleep(Duration::from_millis(50)).await;
    for msgid in 0..10u8 {
        // `[msgid]`, as `rpc.cancel` takes it.
        raw.publish("demo.rpc.cancel", vec![0x91, msgid].into())
            .await
            .unwrap();
    }
    raw.flush().await.unwrap();
    assert_eq!(bounded(slow).await.unwrap(), "a");
    peer.close();
    bounded(service.drain(Duration::from_secs(5))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_fail_by_kind_while_the_broker_restarts_then_work_again() {
    let Some(mut nats) = NatsServer::start() else {
        return;
    };
    let (service, _) = instance(&nats, "demo", "a").await;
    let peer = Peer::builder()
        .call_timeout(Some(Duration::from_millis(500)))
        .connect_nats(&nats.url, "demo")
        .await
        .unwrap();
    let calc = peer.client::<CalcClient>();
    assert_eq!(bounded(calc.add(1, 2)).await.unwrap(), 3);
    nats.pause();
    // While the broker is away, calls fail by kind at their timeout.
    for _ in 0..3 {
        let error = bounded(calc.add(1, 2)).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    }
    nats.resume();
    // Both clients reconnect (bounded: within a few seconds), the service
    // subscribes again, and calls work.
    let started = std::time::Instant::now();
    let answered = loop {
        match bounded(calc.add(1, 2)).await {
            Ok(sum) => break sum,
            Err(error) => assert!(
                matches!(error.kind(), ErrorKind::Timeout | ErrorKind::NoResponders),
                "{error}"
            ),
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "calls never worked again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(answered, 3);
    peer.close();
    bounded(service.drain(Duration::from_secs(5))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_handlers_and_the_fallback_are_served_as_on_tcp() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let (service, _) = instance(&nats, "demo", "a").await;
    let peer = client(&nats, "demo").await;
    // Added after the service started: served at once, on the same subject tree.
    service
        .router()
        .namespace("admin")
        .set_handler("version", || async { "1.2.3" });
    service.router().set_fallback(|ctx, _params| async move {
        let path = ctx.method().to_owned();
        path.starts_with("legacy.")
            .then(|| dotrpc::handler::IntoReply::into_reply(format!("moved: {path}")))
    });
    // A handler cannot call its caller back over NATS: it learns so at once.
    service
        .router()
        .set_handler("admin.callback", |ctx: CallContext| async move {
            let answer = ctx.peer().call::<String>("client.name", ()).await;
            answer.map_err(|error| error.to_string())
        });
    let error = bounded(peer.call::<String>("admin.callback", ()))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("cannot call its callers"),
        "{error}"
    );
    let version: String = bounded(peer.call("admin.version", ())).await.unwrap();
    assert_eq!(version, "1.2.3");
    let moved: String = bounded(peer.call("legacy.add", (1, 2))).await.unwrap();
    assert_eq!(moved, "moved: legacy.add");
    let error = bounded(peer.call::<()>("other.thing", ()))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::UnknownApi, "{error}");
    peer.close();
    bounded(service.drain(Duration::from_secs(5))).await;
}
