//! A real nats-server for the NATS tests: installed by the workspace's
//! `scripts/nats-server.sh` where missing, started on a free port of
//! 127.0.0.1 with a scratch directory of its own, killed when dropped.
//! A test may give it a configuration (credentials, TLS, permissions),
//! written into that directory, or start three as a cluster.
//!
//! It lives in this crate, not in the workspace's `tests/support`, so that
//! the crate's own tests build from its published package; the workspace's
//! tests and the CLI's include this file. Outside the workspace (no script),
//! a `nats-server` on `PATH` is used.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running nats-server.
pub struct NatsServer {
    child: Child,
    dir: PathBuf,
    pub url: String,
    /// How it was started, to start it again on its port.
    config: Option<String>,
    args: Vec<String>,
}

/// How a server is started: its port (a free one if `None`), a
/// configuration, further arguments.
struct Setup<'a> {
    port: Option<u16>,
    config: Option<&'a str>,
    args: &'a [String],
    dir: Option<PathBuf>,
}

impl NatsServer {
    /// Starts one, or says loudly why it cannot and returns `None` (only
    /// when installing nats-server failed).
    pub fn start() -> Option<NatsServer> {
        let binary = installed_or_skip()?;
        Some(NatsServer::start_with(
            &binary,
            Setup {
                port: None,
                config: None,
                args: &[],
                dir: None,
            },
        ))
    }

    /// A scratch directory for a server yet to start, where a test writes
    /// what its configuration names (certificates).
    pub fn scratch() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "dotrpc-nats-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Starts one with `config` (nats-server's configuration format) in
    /// `dir` (from [`scratch`](NatsServer::scratch)), or says loudly why it
    /// cannot and returns `None`.
    pub fn start_configured(dir: PathBuf, config: &str) -> Option<NatsServer> {
        let binary = installed_or_skip()?;
        Some(NatsServer::start_with(
            &binary,
            Setup {
                port: None,
                config: Some(config),
                args: &[],
                dir: Some(dir),
            },
        ))
    }

    /// Three servers routed to each other as one cluster, the first not
    /// started (a seed that is down; [`Port::start`] starts it). Returns
    /// the three URLs, the two servers running, and the first one's port.
    pub fn cluster() -> Option<(Vec<String>, NatsServer, NatsServer, Port)> {
        let binary = installed_or_skip()?;
        // Free ports, taken for a moment to learn them.
        let free = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        };
        let clients: Vec<u16> = (0..3).map(|_| free()).collect();
        let routes: Vec<u16> = (0..3).map(|_| free()).collect();
        let all_routes = routes
            .iter()
            .map(|port| format!("nats://127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(",");
        let node = |n: usize| {
            let args = vec![
                "--cluster_name".to_owned(),
                "dotrpc".to_owned(),
                "--cluster".to_owned(),
                format!("nats://127.0.0.1:{}", routes[n]),
                "--routes".to_owned(),
                all_routes.clone(),
            ];
            NatsServer::start_with(
                &binary,
                Setup {
                    port: Some(clients[n]),
                    config: None,
                    args: &args,
                    dir: None,
                },
            )
        };
        let urls = clients
            .iter()
            .map(|port| format!("nats://127.0.0.1:{port}"))
            .collect();
        let down = Port {
            port: clients[0],
            args: vec![
                "--cluster_name".to_owned(),
                "dotrpc".to_owned(),
                "--cluster".to_owned(),
                format!("nats://127.0.0.1:{}", routes[0]),
                "--routes".to_owned(),
                all_routes.clone(),
            ],
        };
        Some((urls, node(1), node(2), down))
    }

    /// Its scratch directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Starts one at `binary` as `setup` says.
    fn start_with(binary: &str, setup: Setup<'_>) -> NatsServer {
        let dir = setup.dir.unwrap_or_else(NatsServer::scratch);
        for stale in std::fs::read_dir(&dir).unwrap().flatten() {
            if stale.file_name().to_string_lossy().ends_with(".ports") {
                let _ = std::fs::remove_file(stale.path());
            }
        }
        let port = setup.port.map_or("-1".to_owned(), |p| p.to_string());
        let mut command = Command::new(binary);
        if let Some(config) = setup.config {
            let file = dir.join("nats.conf");
            std::fs::write(&file, config).unwrap();
            command.arg("-c").arg(file);
        }
        let log = std::fs::File::create(dir.join("nats.log")).unwrap();
        let child = command
            .args(["-a", "127.0.0.1", "-p", &port, "--ports_file_dir"])
            .arg(&dir)
            .args(setup.args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("nats-server starts");
        let ports = dir.join(format!("nats-server_{}.ports", child.id()));
        let started = Instant::now();
        let url = loop {
            let text = std::fs::read_to_string(&ports).unwrap_or_default();
            // `tls://` for a server that requires TLS.
            if let Some(at) = text.find("nats://").or_else(|| text.find("tls://")) {
                break text[at..]
                    .chars()
                    .take_while(|c| *c != '"')
                    .collect::<String>();
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "nats-server did not write its ports file; its log:\n{}",
                std::fs::read_to_string(dir.join("nats.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        NatsServer {
            child,
            dir,
            url,
            config: setup.config.map(str::to_owned),
            args: setup.args.to_vec(),
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.url.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// Kills it (a broker going down); [`resume`](NatsServer::resume)
    /// starts another on the same port.
    pub fn pause(&mut self) {
        self.stop();
    }

    /// Starts a new server on the port of the one paused, as it was.
    pub fn resume(&mut self) {
        let binary = installed().expect("installed before");
        let mut fresh = NatsServer::start_with(
            &binary,
            Setup {
                port: Some(self.port()),
                config: self.config.as_deref(),
                args: &self.args,
                dir: None,
            },
        );
        std::mem::swap(self, &mut fresh);
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A cluster node not started yet: [`start`](Port::start) starts it.
pub struct Port {
    port: u16,
    args: Vec<String>,
}

impl Port {
    pub fn start(self) -> NatsServer {
        let binary = installed().expect("installed before");
        NatsServer::start_with(
            &binary,
            Setup {
                port: Some(self.port),
                config: None,
                args: &self.args,
                dir: None,
            },
        )
    }
}

static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The path of nats-server, installed by the project's script if missing.
/// [`installed`], or `None` after saying loudly why the test skips.
fn installed_or_skip() -> Option<String> {
    installed()
        .inspect_err(|why| {
            eprintln!("SKIPPED: nats-server is not installed and installing it failed: {why}");
        })
        .ok()
}

/// The nats-server to run: the pinned one the workspace's script installs
/// (and prints the path of), else one on `PATH`.
fn installed() -> Result<String, String> {
    // The workspace's scripts, from this package or from one inside it (cli/).
    let package = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(script) = package
        .ancestors()
        .map(|dir| dir.join("scripts/nats-server.sh"))
        .find(|script| script.exists())
    else {
        return on_path();
    };
    let script = script.display();
    let out = Command::new(script.to_string())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("{script} exited with {}", out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A `nats-server` on `PATH`, for this crate's tests run from its package.
fn on_path() -> Result<String, String> {
    let found = Command::new("nats-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if found {
        Ok("nats-server".to_owned())
    } else {
        Err("no scripts/nats-server.sh above this package, and no nats-server on PATH".to_owned())
    }
}
