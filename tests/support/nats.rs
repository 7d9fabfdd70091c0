//! A real nats-server for the NATS tests: installed by
//! `scripts/nats-server.sh` where missing, started on a free port of
//! 127.0.0.1 with a scratch directory of its own, killed when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running nats-server.
pub struct NatsServer {
    child: Child,
    dir: PathBuf,
    pub url: String,
}

impl NatsServer {
    /// Starts one, or says loudly why it cannot and returns `None` (only
    /// when installing nats-server failed).
    pub fn start() -> Option<NatsServer> {
        let binary = match installed() {
            Ok(path) => path,
            Err(why) => {
                eprintln!("SKIPPED: nats-server is not installed and installing it failed: {why}");
                return None;
            }
        };
        Some(NatsServer::start_with(&binary, None))
    }

    /// Starts one at `binary`, on `port` (a free one if `None`).
    fn start_with(binary: &str, port: Option<u16>) -> NatsServer {
        let dir = std::env::temp_dir().join(format!(
            "dotrpc-nats-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let port = port.map_or("-1".to_owned(), |p| p.to_string());
        let child = Command::new(binary)
            .args(["-a", "127.0.0.1", "-p", &port, "--ports_file_dir"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        let ports = dir.join(format!("nats-server_{}.ports", child.id()));
        let started = Instant::now();
        let url = loop {
            let text = std::fs::read_to_string(&ports).unwrap_or_default();
            if let Some(at) = text.find("nats://") {
                break text[at..]
                    .chars()
                    .take_while(|c| *c != '"')
                    .collect::<String>();
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "nats-server did not write its ports file"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        NatsServer { child, dir, url }
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

    /// Starts a new server on the port of the one paused.
    pub fn resume(&mut self) {
        let binary = installed().expect("installed before");
        let mut fresh = NatsServer::start_with(&binary, Some(self.port()));
        std::mem::swap(self, &mut fresh);
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
fn installed() -> Result<String, String> {
    // The workspace's scripts, from this package or from one inside it (cli/).
    let package = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = package
        .ancestors()
        .map(|dir| dir.join("scripts/nats-server.sh"))
        .find(|script| script.exists())
        .ok_or("scripts/nats-server.sh not found")?;
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
