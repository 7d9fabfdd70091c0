//! The `dotrpc` binary against a service on NATS (`nats://host:port/prefix`):
//! the demo API served in-process by a `NatsService` on a real nats-server
//! started for the test.

#[path = "../../examples/demo_server/api.rs"]
#[allow(dead_code, unreachable_pub)]
mod demo;

#[allow(dead_code)]
mod binary;
#[path = "../../nats/src/test_server.rs"]
#[allow(dead_code, unreachable_pub)]
mod nats_server;

use std::time::Duration;

use binary::{dotrpc, run};
use dotrpc::Peer;
use dotrpc_nats::NatsService;
use nats_server::NatsServer;

/// The demo service on its own runtime; drained when dropped.
struct DemoService {
    runtime: tokio::runtime::Runtime,
    service: Option<NatsService>,
}

impl DemoService {
    fn start(nats: &NatsServer) -> Self {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let service = runtime
            .block_on(
                NatsService::builder(Peer::builder().router(demo::router()), "demo")
                    .start(&nats.url),
            )
            .unwrap();
        DemoService {
            runtime,
            service: Some(service),
        }
    }
}

impl Drop for DemoService {
    fn drop(&mut self) {
        if let Some(service) = self.service.take() {
            self.runtime.block_on(service.drain(Duration::from_secs(1)));
        }
    }
}

#[test]
fn every_subcommand_takes_a_nats_address() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let _service = DemoService::start(&nats);
    let addr = format!("{}/demo", nats.url);
    let a = addr.as_str();

    assert_eq!(
        run(&["call", a, "add", "40", "2"]),
        (0, "42\n".into(), String::new())
    );
    assert_eq!(run(&["call", a, "math.stats.mean", "[1, 2, 6]"]).1, "3.0\n");
    let (status, _, stderr) = run(&["call", a, "math.div", "1", "0"]);
    assert_eq!(
        (status, stderr.as_str()),
        (
            1,
            "dotrpc: math.div failed: Application: division by zero\n"
        )
    );

    // A notification reaches the one instance, which counts it.
    assert_eq!(run(&["notify", a, "log", "\"hi\""]).0, 0);
    // It went out on another connection than the call that asks: poll, bounded.
    let counted = (0..50).find_map(|_| {
        let counted: u64 = run(&["call", a, "stats.notifications"])
            .1
            .trim()
            .parse()
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        (counted >= 1).then_some(counted)
    });
    assert!(counted.is_some(), "the notification never arrived");

    let (status, tree, _) = run(&["describe", a]);
    assert_eq!(status, 0);
    assert!(tree.contains("add(a: i64, b: i64) -> i64"), "{tree}");

    // Pushed events, received through the fallback's subscription.
    let (status, lines, stderr) = run(&[
        "listen",
        a,
        "events.subscribe",
        "3",
        "--notify",
        "--count",
        "3",
    ]);
    assert_eq!(status, 0, "{stderr}");
    assert_eq!(
        lines,
        "{\"method\":\"events.tick\",\"params\":[0]}\n\
         {\"method\":\"events.tick\",\"params\":[1]}\n\
         {\"method\":\"events.tick\",\"params\":[2]}\n"
    );

    // Streams: items as JSON lines, stdin as the input stream, both.
    assert_eq!(
        run(&["call", a, "count", "3", "0"]),
        (0, "0\n1\n2\n".into(), String::new())
    );
    let stdin = |method: &str, input: &str| {
        let output = dotrpc(&["call", a, method])
            .write_stdin(input)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8(output.stdout).unwrap(),
        )
    };
    assert_eq!(stdin("sum", "1\n2\n3\n"), (Some(0), "6\n".into()));
    assert_eq!(stdin("double", "1\n2\n"), (Some(0), "2\n4\n".into()));

    let (status, report, stderr) = run(&["bench", a, "add", "1", "2", "--duration", "0.5"]);
    assert_eq!(status, 0, "{stderr}");
    assert!(report.contains("p50"), "{report}");

    // Nobody serves the prefix: exit status 3, at once.
    let nobody = format!("{}/nobody", nats.url);
    let (status, _, stderr) = run(&["call", &nobody, "add", "1", "2"]);
    assert_eq!(
        (status, stderr.as_str()),
        (3, "dotrpc: add failed: no instance is serving `add`\n")
    );
}
