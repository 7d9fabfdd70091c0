//! The orchestrator: starts each system's server and client as separate
//! processes (pinned to CPUs 0 and 1 where `taskset` exists), collects the
//! client's measurement and the server's allocations and memory, and prints
//! the medians side by side with the ratios to `raw` and to the best peer.

use std::collections::BTreeMap;
use std::io::{BufReader, Write as _};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use crate::systems;
use crate::workload::{self, Measurement};

#[derive(Debug)]
struct Options {
    quick: bool,
    reps: usize,
    systems: Vec<String>,
    workloads: Vec<String>,
    json: Option<String>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        quick: false,
        reps: 5,
        systems: systems::ALL.iter().map(|s| s.to_string()).collect(),
        workloads: workload::ALL.iter().map(|s| s.to_string()).collect(),
        json: None,
    };
    let all_args = args;
    let mut args = all_args.iter();
    let list = |value: Option<&String>, known: &[&str]| -> Result<Vec<String>, String> {
        let value = value.ok_or("a list is missing")?;
        let items: Vec<String> = value.split(',').map(str::to_owned).collect();
        match items.iter().find(|i| !known.contains(&i.as_str())) {
            Some(unknown) => Err(format!("unknown {unknown:?}; known: {}", known.join(","))),
            None => Ok(items),
        }
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--reps" => {
                options.reps = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n > 0)
                    .ok_or("--reps needs a positive number")?;
            }
            "--systems" => options.systems = list(args.next(), &systems::ALL)?,
            "--workloads" => options.workloads = list(args.next(), &workload::ALL)?,
            "--json" => options.json = Some(args.next().ok_or("--json needs a FILE")?.clone()),
            other => return Err(format!("unknown argument {other:?}\n{}", crate::USAGE)),
        }
    }
    if options.quick && !all_args.iter().any(|a| a == "--reps") {
        options.reps = 1;
    }
    Ok(options)
}

/// How to start a process on one CPU, where that can be done.
#[derive(Debug, Clone)]
struct Launcher {
    exe: std::path::PathBuf,
    pin: bool,
}

impl Launcher {
    fn command(&self, cpu: usize, args: &[&str]) -> Command {
        let mut command = if self.pin {
            let mut command = Command::new("taskset");
            command.arg("-c").arg(cpu.to_string()).arg(&self.exe);
            command
        } else {
            Command::new(&self.exe)
        };
        command
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        command
    }
}

/// A server process, and the pipes to ask it for its allocation count.
struct ServerProcess {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    port: u16,
}

impl ServerProcess {
    fn start(launcher: &Launcher, system: &str) -> Result<ServerProcess, String> {
        let mut child = launcher
            .command(0, &["serve", system])
            .spawn()
            .map_err(|e| format!("cannot start the {system} server: {e}"))?;
        let stdin = child.stdin.take().expect("piped");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let line = read_line(&mut stdout)?;
        let port = line
            .strip_prefix("LISTENING ")
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| format!("the {system} server said {line:?}"))?;
        Ok(ServerProcess {
            child,
            stdin,
            stdout,
            port,
        })
    }

    fn allocations(&mut self) -> Result<u64, String> {
        writeln!(self.stdin, "allocs").map_err(|e| e.to_string())?;
        let line = read_line(&mut self.stdout)?;
        line.parse().map_err(|_| format!("allocs: {line:?}"))
    }

    /// Resident memory, from /proc (Linux); `None` elsewhere.
    fn rss_kib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    fn stop(mut self) {
        drop(self.stdin);
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_line(reader: &mut impl std::io::BufRead) -> Result<String, String> {
    let mut line = String::new();
    match reader.read_line(&mut line) {
        Ok(0) => Err("the process ended without a word".into()),
        Ok(_) => Ok(line.trim().to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

/// Runs one system's client for one workload against a fresh server.
fn run_one(
    launcher: &Launcher,
    system: &str,
    workload: &str,
    quick: bool,
) -> Result<Measurement, String> {
    let mut server = ServerProcess::start(launcher, system)?;
    let port = server.port.to_string();
    let mut args = vec!["client", system, workload, &port];
    if quick {
        args.push("quick");
    }
    let allocs_before = server.allocations()?;
    let rss_before = server.rss_kib();
    let mut client = launcher
        .command(1, &args)
        .spawn()
        .map_err(|e| format!("cannot start the {system} client: {e}"))?;
    let mut stdout = BufReader::new(client.stdout.take().expect("piped"));
    let mut rss_per_connection = None;
    // `idle` and `slow` clients say READY while they hold what is measured
    // (a system without streams answers `slow` with its measurement).
    let mut first = None;
    if workload == "idle" || workload == "slow" {
        let ready = read_line(&mut stdout)?;
        match ready
            .strip_prefix("READY ")
            .and_then(|n| n.parse::<f64>().ok())
        {
            Some(held) => {
                // Let the server settle: the last handshake, or the stream
                // filling what room it has.
                std::thread::sleep(Duration::from_millis(200));
                rss_per_connection = server
                    .rss_kib()
                    .zip(rss_before)
                    .map(|(after, before)| (after - before) / held);
                drop(client.stdin.take());
            }
            None => first = Some(ready),
        }
    }
    let line = match first {
        Some(line) => Ok(line),
        None => read_line(&mut stdout),
    };
    let status = client.wait().map_err(|e| e.to_string())?;
    let allocs_after = server.allocations();
    server.stop();
    let line = line?;
    if !status.success() {
        return Err(format!("the {system} client failed on {workload}: {line}"));
    }
    let mut measurement: Measurement =
        serde_json::from_str(&line).map_err(|e| format!("{system} {workload}: {e}: {line}"))?;
    measurement.system = system.to_owned();
    measurement.workload = workload.to_owned();
    measurement.kib_per_connection = rss_per_connection;
    if measurement.calls > 0 && workload != "idle" && workload != "slow" {
        measurement.server_allocs_per_call =
            Some((allocs_after? - allocs_before) as f64 / measurement.calls as f64);
    }
    Ok(measurement)
}

pub(crate) fn main(args: &[String]) -> Result<(), String> {
    let options = parse(args)?;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let has_taskset = Command::new("taskset")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let launcher = Launcher {
        exe: std::env::current_exe().map_err(|e| e.to_string())?,
        pin: has_taskset && cpus >= 2,
    };
    eprintln!(
        "dotrpc-bench: {} repetition(s), {} CPUs, {}",
        options.reps,
        cpus,
        if launcher.pin {
            "server on CPU 0, client on CPU 1"
        } else {
            "not pinned (no taskset or one CPU)"
        }
    );
    let mut all = Vec::new();
    let mut failures = 0;
    for rep in 0..options.reps {
        for workload in &options.workloads {
            for system in &options.systems {
                if workload == "nested" && system != "dotrpc" {
                    continue;
                }
                eprint!(
                    "\rrep {}/{}: {workload:<7} {system:<12}",
                    rep + 1,
                    options.reps
                );
                let measurement = run_one(&launcher, system, workload, options.quick)
                    .unwrap_or_else(|error| {
                        eprintln!("\n{system} {workload} failed: {error}");
                        failures += 1;
                        Measurement {
                            unsupported: Some(format!("failed: {error}")),
                            ..Measurement::new(system, workload)
                        }
                    });
                all.push((rep, measurement));
            }
        }
    }
    eprintln!();
    let lines: Vec<String> = all
        .iter()
        .map(|(rep, m)| {
            let mut value = serde_json::to_value(m).expect("plain data");
            value["rep"] = (*rep).into();
            value.to_string()
        })
        .chain(summary(&all, &options).iter().map(|row| row.to_string()))
        .collect();
    print!("{}", table(&all, &options));
    println!();
    for line in &lines {
        println!("{line}");
    }
    if let Some(path) = &options.json {
        std::fs::write(path, lines.join("\n") + "\n").map_err(|e| format!("{path}: {e}"))?;
    }
    match failures {
        0 => Ok(()),
        n => Err(format!("{n} measurement(s) failed; see above")),
    }
}

/// One row of the table: a workload's metric, and which way is better.
struct Metric {
    workload: &'static str,
    name: &'static str,
    higher_is_better: bool,
    value: fn(&Measurement) -> Option<f64>,
    target: Option<f64>,
}

/// The targets are the core issue's: ratios to the raw floor.
const METRICS: [Metric; 15] = [
    Metric {
        workload: "lat",
        name: "p50 µs",
        higher_is_better: false,
        value: |m| m.p50_us,
        target: Some(1.10),
    },
    Metric {
        workload: "lat",
        name: "p99 µs",
        higher_is_better: false,
        value: |m| m.p99_us,
        target: Some(1.25),
    },
    Metric {
        workload: "lat",
        name: "p999 µs",
        higher_is_better: false,
        value: |m| m.p999_us,
        target: None,
    },
    Metric {
        workload: "pipe",
        name: "calls/s",
        higher_is_better: true,
        value: |m| Some(m.per_second),
        target: Some(0.60),
    },
    Metric {
        workload: "conns",
        name: "calls/s",
        higher_is_better: true,
        value: |m| Some(m.per_second),
        target: Some(0.50),
    },
    Metric {
        workload: "bulk",
        name: "MiB/s",
        higher_is_better: true,
        value: |m| Some(m.per_second),
        target: Some(0.85),
    },
    Metric {
        workload: "bulk_vec",
        name: "MiB/s",
        higher_is_better: true,
        value: |m| Some(m.per_second),
        target: Some(0.80),
    },
    Metric {
        workload: "notify",
        name: "notes/s",
        higher_is_better: true,
        value: |m| Some(m.per_second),
        target: Some(0.40),
    },
    Metric {
        workload: "notify_await",
        name: "notes/s",
        higher_is_better: true,
        value: |m| Some(m.per_second),
        target: Some(0.50),
    },
    Metric {
        workload: "stream",
        name: "items/s",
        higher_is_better: true,
        value: |m| Some(m.per_second),
        target: None,
    },
    Metric {
        workload: "slow",
        name: "server KiB held",
        higher_is_better: false,
        value: |m| m.kib_per_connection,
        target: None,
    },
    Metric {
        workload: "idle",
        name: "KiB/conn",
        higher_is_better: false,
        value: |m| m.kib_per_connection,
        target: Some(1.25),
    },
    Metric {
        workload: "nested",
        name: "5 deep/flat",
        higher_is_better: false,
        value: |m| m.nested_over_flat,
        target: Some(1.03),
    },
    Metric {
        workload: "lat",
        name: "client allocs/call",
        higher_is_better: false,
        value: |m| m.client_allocs_per_call,
        target: None,
    },
    Metric {
        workload: "lat",
        name: "server allocs/call",
        higher_is_better: false,
        value: |m| m.server_allocs_per_call,
        target: None,
    },
];

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

fn values(all: &[(usize, Measurement)], system: &str, metric: &Metric) -> Vec<(usize, f64)> {
    all.iter()
        .filter(|(_, m)| {
            m.system == system && m.workload == metric.workload && m.unsupported.is_none()
        })
        .filter_map(|(rep, m)| Some((*rep, (metric.value)(m)?)))
        .collect()
}

/// The ratio dotrpc/raw: per repetition (the two measured back to back),
/// then the median of those.
fn ratio_to_raw(all: &[(usize, Measurement)], metric: &Metric) -> Option<f64> {
    if metric.workload == "nested" {
        // Nested is measured against flat calls inside one process.
        return median(
            values(all, "dotrpc", metric)
                .into_iter()
                .map(|(_, v)| v)
                .collect(),
        );
    }
    let raw: BTreeMap<usize, f64> = values(all, "raw", metric).into_iter().collect();
    median(
        values(all, "dotrpc", metric)
            .into_iter()
            // A ratio to (next to) nothing says nothing: raw's server makes
            // no allocations per call, only a few at start.
            .filter_map(|(rep, v)| Some(v / raw.get(&rep).filter(|r| **r >= 0.5)?))
            .collect(),
    )
}

/// dotrpc against the best of the other frameworks (not raw), as a ratio in
/// which above 1 means dotrpc is ahead.
fn versus_best_peer(
    all: &[(usize, Measurement)],
    metric: &Metric,
    options: &Options,
) -> Option<(f64, String)> {
    let ours = median(
        values(all, "dotrpc", metric)
            .into_iter()
            .map(|(_, v)| v)
            .collect(),
    )?;
    let best = options
        .systems
        .iter()
        .filter(|s| !s.starts_with("dotrpc") && *s != "raw")
        .filter_map(|s| {
            Some((
                median(values(all, s, metric).into_iter().map(|(_, v)| v).collect())?,
                s.clone(),
            ))
        })
        .min_by(|a, b| {
            if metric.higher_is_better {
                b.0.total_cmp(&a.0)
            } else {
                a.0.total_cmp(&b.0)
            }
        })?;
    let advantage = if metric.higher_is_better {
        ours / best.0
    } else {
        best.0 / ours
    };
    Some((advantage, best.1))
}

fn summary(all: &[(usize, Measurement)], options: &Options) -> Vec<serde_json::Value> {
    METRICS
        .iter()
        .filter(|m| options.workloads.iter().any(|w| w == m.workload))
        .map(|metric| {
            let medians: BTreeMap<&str, Option<f64>> = options
                .systems
                .iter()
                .map(|s| {
                    (
                        s.as_str(),
                        median(values(all, s, metric).into_iter().map(|(_, v)| v).collect()),
                    )
                })
                .collect();
            let ratio = ratio_to_raw(all, metric);
            let met = ratio.zip(metric.target).map(|(r, t)| {
                if metric.higher_is_better {
                    r >= t
                } else {
                    r <= t
                }
            });
            let peer = versus_best_peer(all, metric, options);
            serde_json::json!({
                "summary": metric.workload,
                "metric": metric.name,
                "medians": medians,
                "dotrpc_over_raw": ratio,
                "target": metric.target,
                "target_met": met,
                "dotrpc_advantage_over_best_peer": peer.as_ref().map(|p| p.0),
                "best_peer": peer.map(|p| p.1),
            })
        })
        .collect()
}

fn format_value(value: Option<f64>) -> String {
    match value {
        None => "-".into(),
        Some(v) if v >= 100_000.0 => format!("{:.0}k", v / 1000.0),
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.2}"),
    }
}

fn table(all: &[(usize, Measurement)], options: &Options) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = write!(out, "{:<7} {:<19}", "", "metric");
    for system in &options.systems {
        let _ = write!(out, " {system:>11}");
    }
    let _ = writeln!(
        out,
        "  {:>10} {:>7} {:>6}  vs best peer",
        "dotrpc/raw", "target", "met"
    );
    for (row, metric) in summary(all, options).iter().zip(
        METRICS
            .iter()
            .filter(|m| options.workloads.iter().any(|w| w == m.workload)),
    ) {
        let _ = write!(out, "{:<7} {:<19}", metric.workload, metric.name);
        for system in &options.systems {
            let value = if metric.workload == "nested" && system != "dotrpc" {
                None
            } else {
                row["medians"][system.as_str()].as_f64()
            };
            let _ = write!(out, " {:>11}", format_value(value));
        }
        let ratio = row["dotrpc_over_raw"].as_f64().map(|r| format!("{r:.2}x"));
        let target = metric.target.map(|t| {
            format!(
                "{}{t:.2}",
                if metric.higher_is_better { ">=" } else { "<=" }
            )
        });
        let met = match row["target_met"].as_bool() {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "",
        };
        let peer = match (
            row["dotrpc_advantage_over_best_peer"].as_f64(),
            row["best_peer"].as_str(),
        ) {
            (Some(a), Some(p)) if a >= 1.0 => format!("ahead {a:.2}x of {p}"),
            (Some(a), Some(p)) => format!("behind {p} ({a:.2}x)"),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "  {:>10} {:>7} {met:>6}  {peer}",
            ratio.unwrap_or_else(|| "-".into()),
            target.unwrap_or_default()
        );
    }
    out
}
