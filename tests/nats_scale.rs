//! One API served by several processes over NATS: the demo server
//! (`examples/demo_server`) started as real processes behind one prefix on a
//! real nats-server. The calls are shared, an instance killed with SIGKILL
//! loses only its own calls (which time out, by kind, at their deadline)
//! and ends its streams (`NoResponders`, found by a ping), a rolling
//! restart under load loses none, a rolling upgrade from one version of an
//! API to the next (`examples/greeter_versions`) fails none of the calls
//! both versions take, and a client written with a Python NATS library and
//! plain msgpack calls the API, streams included, with the payloads the
//! README documents.

mod support;

// Only the clients: the servers run in the example's processes.
#[allow(dead_code)]
#[path = "../examples/greeter_versions/api.rs"]
mod greeter;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dotrpc::{ErrorKind, Peer};
use dotrpc_nats::{ConnectNats, async_nats};
use futures_util::StreamExt;
use support::bounded;
use support::nats::NatsServer;

/// An example cargo built beside this test.
fn example(name: &str) -> PathBuf {
    let test = std::env::current_exe().unwrap();
    let dir = test.parent().unwrap().parent().unwrap();
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: cargo test builds the examples",
        path.display()
    );
    path
}

/// One demo-server process serving on NATS; killed when dropped. Its
/// debug log (its drain, call by call) goes to a file of the test's.
struct Instance {
    child: Child,
}

impl Instance {
    /// Starts one and waits (bounded) for its `NATS demo` line.
    fn start(url: &str) -> Instance {
        Instance::start_logging(url, Stdio::null())
    }

    /// As [`start`](Instance::start), logging to `log`.
    fn start_logging(url: &str, log: impl Into<Stdio>) -> Instance {
        let mut demo = Command::new(example("demo_server"));
        demo.args(["--nats", url, "--prefix", "demo"]).stderr(log);
        Instance::spawn(demo, "NATS demo")
    }

    /// Starts `command` and waits (bounded) for it to print `ready`.
    fn spawn(mut command: Command, ready: &str) -> Instance {
        let mut child = command
            .env("RUST_LOG", "dotrpc_nats=debug")
            .stdout(Stdio::piped())
            .spawn()
            .expect("the instance starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the instance prints a line");
        assert_eq!(
            line.trim(),
            ready,
            "the instance did not start serving on NATS (built before it could? \
             `cargo build --examples` rebuilds it)"
        );
        Instance { child }
    }

    /// One instance of version `version` of the greeter API, logging to
    /// `log`.
    fn greeter(url: &str, version: u8, log: impl Into<Stdio>) -> Instance {
        let mut greeter = Command::new(example("greeter_versions"));
        greeter
            .args(["--version", &version.to_string(), "--nats", url])
            .stderr(log);
        Instance::spawn(greeter, &format!("NATS greeter v{version}"))
    }

    /// SIGKILL: no draining, no goodbye.
    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits (bounded) for it to drain and exit cleanly.
    fn terminate(mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "the instance exited with {status}");
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "the instance did not exit"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How many `add` calls each instance answered, from `$SRV.STATS` (every
/// instance answers; replies are gathered for a moment).
async fn adds_per_instance(url: &str) -> Vec<u64> {
    let client = async_nats::connect(url).await.unwrap();
    let inbox = client.new_inbox();
    let mut replies = client.subscribe(inbox.clone()).await.unwrap();
    client
        .publish_with_reply("$SRV.STATS.demo", inbox, "".into())
        .await
        .unwrap();
    let mut counts = Vec::new();
    let deadline = tokio::time::sleep(Duration::from_millis(500));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            () = &mut deadline => break,
            reply = replies.next() => {
                let stats: serde_json::Value = serde_json::from_slice(&reply.unwrap().payload).unwrap();
                let add = stats["endpoints"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|e| e["name"] == "add")
                    .map_or(0, |e| e["num_requests"].as_u64().unwrap());
                counts.push(add);
            }
        }
    }
    counts.sort_unstable();
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_share_the_calls() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let instances: Vec<_> = (0..3).map(|_| Instance::start(&nats.url)).collect();
    let peer = Peer::builder()
        .connect_nats(&nats.url, "demo")
        .await
        .unwrap();
    for chunk in 0..30 {
        let calls: Vec<_> = (0..100)
            .map(|i| peer.call::<i64>("add", (chunk, i)).into_future())
            .collect();
        for (i, result) in bounded(futures_util::future::join_all(calls))
            .await
            .into_iter()
            .enumerate()
        {
            assert_eq!(result.unwrap(), chunk + i as i64);
        }
    }
    let counts = adds_per_instance(&nats.url).await;
    assert_eq!(
        counts.len(),
        3,
        "every instance answers $SRV.STATS: {counts:?}"
    );
    assert_eq!(counts.iter().sum::<u64>(), 3000, "{counts:?}");
    assert!(counts[0] > 0, "every instance answered a share: {counts:?}");
    peer.close();
    drop(instances);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instance_loses_only_its_own_calls_which_time_out() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let mut instances: Vec<_> = (0..3).map(|_| Instance::start(&nats.url)).collect();
    let timeout = Duration::from_secs(2);
    let peer = Peer::builder()
        .call_timeout(Some(timeout))
        .connect_nats(&nats.url, "demo")
        .await
        .unwrap();
    // 300 calls of 500 ms in flight, spread over the three.
    let calls: Vec<_> = (0..300)
        .map(|_| {
            let call = peer.call::<u64>("sleep", (500,));
            tokio::spawn(async move {
                let started = Instant::now();
                (call.await, started.elapsed())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(150)).await;
    instances.remove(0).kill();
    let (mut answered, mut timed_out) = (0, 0);
    for call in calls {
        match bounded(call).await.unwrap() {
            (Ok(500), _) => answered += 1,
            (Err(error), took) => {
                assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
                assert!(
                    took >= timeout && took < timeout + Duration::from_secs(2),
                    "{took:?}"
                );
                timed_out += 1;
            }
            (Ok(other), _) => panic!("{other}"),
        }
    }
    // The killed instance had about a third; the survivors answered theirs.
    assert!(
        timed_out > 0 && answered >= 150,
        "answered {answered}, timed out {timed_out}"
    );
    // Later calls go to the survivors.
    let later: Vec<_> = (0..100)
        .map(|_| peer.call::<i64>("add", (1, 2)).into_future())
        .collect();
    for result in bounded(futures_util::future::join_all(later)).await {
        assert_eq!(result.unwrap(), 3);
    }
    peer.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_whose_instance_is_killed_ends_with_no_responders() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let instance = Instance::start(&nats.url);
    let timeout = Duration::from_secs(1);
    let peer = Peer::builder()
        .call_timeout(Some(timeout))
        .connect_nats(&nats.url, "demo")
        .await
        .unwrap();
    // An item every 20 ms, for minutes: far longer than the call timeout,
    // which does not bound a stream.
    let mut count = peer.stream::<u64>("count", (100_000, 20));
    for i in 0..3 {
        assert_eq!(bounded(count.next()).await.unwrap().unwrap(), i);
    }
    let killed = Instant::now();
    instance.kill();
    // Items already on the way may still come; then the end, by kind:
    // NATS finds nobody for two of the caller's messages a ping interval
    // (half the call timeout) apart, a call timeout or so after the kill.
    let error = loop {
        match bounded(count.next()).await {
            Some(Ok(_)) => continue,
            Some(Err(error)) => break error,
            None => panic!("the stream ended as if the handler ended it"),
        }
    };
    assert_eq!(error.kind(), ErrorKind::NoResponders, "{error}");
    assert!(killed.elapsed() < timeout * 3, "{:?}", killed.elapsed());
    assert!(bounded(count.next()).await.is_none());
    peer.close();
}

/// Where each instance of a test logs: a scratch folder, removed when the
/// test passes and printed when it fails.
struct Logs {
    dir: PathBuf,
    started: Instant,
}

impl Logs {
    fn new(test: &str) -> Logs {
        let dir = std::env::temp_dir().join(format!("dotrpc-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Logs {
            dir,
            started: Instant::now(),
        }
    }

    /// A log file for instance `n`.
    fn file(&self, n: usize) -> std::fs::File {
        std::fs::File::create(self.dir.join(format!("instance-{n}.log"))).unwrap()
    }

    /// Milliseconds since the test began, for the timeline.
    fn at(&self) -> u128 {
        self.started.elapsed().as_millis()
    }

    /// Every instance's log, for a failure's message.
    fn story(&self) -> String {
        let mut files: Vec<_> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        files.sort();
        files
            .iter()
            .map(|file| {
                let text = std::fs::read_to_string(file).unwrap_or_default();
                format!("--- {}\n{text}", file.display())
            })
            .collect()
    }
}

impl Drop for Logs {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Callers calling in a loop until stopped, each round's outcomes told
/// apart: what a deploy must not fail.
struct Load {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
    failures: Arc<std::sync::Mutex<Vec<String>>>,
    callers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// Starts `callers` tasks, each calling `round(its number)` over and
    /// over; a round gives the outcome of each of its calls.
    fn start<F, Round>(callers: usize, logs: &Arc<Logs>, round: F) -> Load
    where
        F: Fn(usize) -> Round + Clone + Send + 'static,
        Round: std::future::Future<Output = Vec<Result<(), String>>> + Send,
    {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicUsize::new(0));
        let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
        let callers = (0..callers)
            .map(|n| {
                let (stop, done, failures) = (stop.clone(), done.clone(), failures.clone());
                let (round, logs) = (round.clone(), Arc::clone(logs));
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let began = logs.at();
                        for outcome in round(n).await {
                            match outcome {
                                Ok(()) => {
                                    done.fetch_add(1, Ordering::Relaxed);
                                }
                                Err(failure) => failures.lock().unwrap().push(format!(
                                    "a round begun at {began} ms, ended at {} ms: {failure}",
                                    logs.at()
                                )),
                            }
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            done,
            failures,
            callers,
        }
    }

    /// Stops the callers (each ends its round) and checks that no call
    /// failed, and that more than `at_least` were made; a failure is told
    /// with the `timeline` and the instances' `logs`.
    async fn stop_with_no_failure(self, timeline: &[String], logs: &Logs, at_least: usize) {
        self.stop.store(true, Ordering::Relaxed);
        for caller in self.callers {
            bounded(caller).await.unwrap();
        }
        let failures = std::mem::take(&mut *self.failures.lock().unwrap());
        let done = self.done.load(Ordering::Relaxed);
        assert!(
            failures.is_empty(),
            "{} of {} calls failed:\n{}\n\ntimeline:\n{}\n\n{}",
            failures.len(),
            done + failures.len(),
            failures.join("\n"),
            timeline.join("\n"),
            logs.story()
        );
        assert!(done > at_least, "the load went on throughout: {done} calls");
    }
}

/// Replaces each of `instances` in turn, as a deploy does: every 300 ms
/// the oldest is drained (SIGTERM) and, once it has exited, `start` makes
/// its successor, logging to a file of its own; then the load goes on for
/// 300 ms more. Returns what happened when.
async fn replace_one_by_one(
    instances: &mut Vec<Instance>,
    logs: &Logs,
    start: impl Fn(std::fs::File) -> Instance + Clone + Send + 'static,
) -> Vec<String> {
    let first = instances.len();
    let mut timeline = Vec::new();
    for n in first..2 * first {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let old = instances.remove(0);
        let gone = n - first;
        timeline.push(format!("{} ms: SIGTERM to instance {gone}", logs.at()));
        tokio::task::spawn_blocking(move || old.terminate())
            .await
            .unwrap();
        timeline.push(format!("{} ms: instance {gone} exited", logs.at()));
        let (start, log) = (start.clone(), logs.file(n));
        instances.push(
            tokio::task::spawn_blocking(move || start(log))
                .await
                .unwrap(),
        );
        timeline.push(format!("{} ms: instance {n} serving", logs.at()));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    timeline
}

/// A rolling restart as a deploy does it, under load: each of three
/// instances in turn is drained (SIGTERM) and replaced. No call may fail.
/// If one does, the failure tells its story: the caller's log (captured by
/// the test harness) names each call given up unanswered by its reply
/// subject, and each instance's log says when it drained and every call it
/// took after its unsubscription and answered while draining.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_under_load_loses_no_call() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("dotrpc_nats=debug")
        .with_test_writer()
        .try_init();
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let logs = Arc::new(Logs::new("rolling-restart"));
    let mut instances: Vec<_> = (0..3)
        .map(|n| Instance::start_logging(&nats.url, logs.file(n)))
        .collect();
    let peer = Peer::builder()
        .connect_nats(&nats.url, "demo")
        .await
        .unwrap();
    // Steady load: 16 callers, each call taking 20 ms in its handler.
    let load = Load::start(16, &logs, {
        let peer = peer.clone();
        move |_| {
            let peer = peer.clone();
            async move {
                match peer.call::<u64>("sleep", (20,)).await {
                    Ok(20) => vec![Ok(())],
                    other => vec![Err(format!("{other:?}"))],
                }
            }
        }
    });
    let url = nats.url.clone();
    let timeline = replace_one_by_one(&mut instances, &logs, move |log| {
        Instance::start_logging(&url, log)
    })
    .await;
    load.stop_with_no_failure(&timeline, &logs, 500).await;
    peer.close();
}

/// A rolling upgrade as a deploy does it, under load: three instances of
/// version 1 of an API are replaced one by one (SIGTERM, then version 2 in
/// its place) while callers built against either version call it. Every
/// call both versions take succeeds, whichever version answers it; what
/// only version 2 has fails clearly before the upgrade and works after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_upgrade_fails_no_call_both_versions_take() {
    use greeter::{v1, v2};
    let _ = tracing_subscriber::fmt()
        .with_env_filter("dotrpc_nats=debug")
        .with_test_writer()
        .try_init();
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let logs = Arc::new(Logs::new("rolling-upgrade"));
    let mut instances: Vec<_> = (0..3)
        .map(|n| Instance::greeter(&nats.url, 1, logs.file(n)))
        .collect();
    let peer = Peer::builder()
        .connect_nats(&nats.url, "greeter")
        .await
        .unwrap();
    let (old, new) = (
        peer.client::<v1::GreeterClient>(),
        peer.client::<v2::GreeterClient>(),
    );
    let error = bounded(new.goodbye("x".into())).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::UnknownApi, "{error}");
    assert!(error.to_string().contains("goodbye"), "{error}");
    let upgraded = new.clone();

    // Half the callers are built against version 1, half against version
    // 2; each round calls what both versions take, and each answer must be
    // one of the versions' answers.
    let load = Load::start(8, &logs, move |n| {
        let (old, new) = (old.clone(), new.clone());
        async move {
            let outcomes = if n % 2 == 0 {
                let ann = v1::Person { name: "ann".into() };
                vec![
                    old.greet("ann".into()).await.map(|g| g == "hello ann"),
                    old.farewell("ann".into())
                        .await
                        .map(|f| f == "bye ann" || f == "goodbye ann"),
                    old.introduce(ann.clone()).await.map(|p| p == ann),
                    old.admin.uptime().await.map(|u| u == 1 || u == 2),
                    old.shout("hey".into()).await.map(|s| s == "HEY"),
                ]
            } else {
                let bea = v2::Person {
                    name: "bea".into(),
                    age: 40,
                    nickname: None,
                };
                let read_by_v1 = v2::Person {
                    age: 0,
                    ..bea.clone()
                };
                vec![
                    new.shout("hey".into(), None).await.map(|s| s == "HEY"),
                    new.introduce(bea.clone())
                        .await
                        .map(|p| p == bea || p == read_by_v1),
                ]
            };
            outcomes
                .into_iter()
                .map(|outcome| match outcome {
                    Ok(true) => Ok(()),
                    Ok(false) => Err("an answer neither version gives".to_owned()),
                    Err(error) => Err(error.to_string()),
                })
                .collect()
        }
    });
    let url = nats.url.clone();
    let timeline = replace_one_by_one(&mut instances, &logs, move |log| {
        Instance::greeter(&url, 2, log)
    })
    .await;
    load.stop_with_no_failure(&timeline, &logs, 200).await;
    assert_eq!(
        bounded(upgraded.goodbye("x".into())).await.unwrap(),
        "goodbye x",
        "upgraded, version 2's own method answers"
    );
    peer.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_nats_client_calls_the_demo_api_with_plain_msgpack() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let _instance = Instance::start(&nats.url);
    let root = env!("CARGO_MANIFEST_DIR");
    let python = Command::new(format!("{root}/scripts/python-env.sh"))
        .output()
        .expect("run scripts/python-env.sh");
    assert!(python.status.success(), "scripts/python-env.sh failed");
    let python = String::from_utf8(python.stdout).unwrap();
    let url = nats.url.clone();
    let output = bounded(tokio::task::spawn_blocking(move || {
        Command::new(python.trim())
            .arg(format!("{root}/tests/interop/nats_client.py"))
            .args([&url, "demo"])
            .output()
            .unwrap()
    }))
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("ok ")).count(),
        12,
        "{stdout}"
    );
}
