//! Where the peer is: `ADDR` on the command line.
//!
//! | form | meaning |
//! |---|---|
//! | `host:port`, `tcp://host:port` | a TCP server |
//! | `unix:///path/to/socket` | a Unix socket |
//! | `exec:COMMAND ARGS` | a child process over its stdin and stdout, started with `sh -c` |
//! | `nats://host:port/prefix` | the service under `prefix` on a NATS server |
//! | `nats://a:4222,b:4222/prefix` | the same, through the first server of a seed list that answers |
//! | `ws://host:port/path` | a WebSocket server (one message per binary message) |

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use dotrpc::nats::NatsAddr;
use dotrpc::{Peer, PeerBuilder};
use tokio::process::Child;

/// A parsed `ADDR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Tcp(String),
    Unix(PathBuf),
    Exec(String),
    Nats(NatsAddr),
    WebSocket(String),
}

impl Target {
    pub(crate) fn parse(addr: &str) -> Result<Target, String> {
        let bad = |why: &str| {
            format!(
                "bad address {addr:?}: {why}; expected host:port, tcp://host:port, unix:///path, \
                 exec:COMMAND, nats://host:port/prefix or ws://host:port/path"
            )
        };
        if addr.starts_with("nats://") {
            return addr.parse().map(Target::Nats).map_err(|e| e.to_string());
        }
        if addr.starts_with("ws://") {
            return Ok(Target::WebSocket(addr.to_owned()));
        }
        if let Some(command) = addr.strip_prefix("exec:") {
            return match command.trim() {
                "" => Err(bad("no command after exec:")),
                command => Ok(Target::Exec(command.to_owned())),
            };
        }
        if let Some(path) = addr.strip_prefix("unix://") {
            return match path {
                "" => Err(bad("no path after unix://")),
                path => Ok(Target::Unix(PathBuf::from(path))),
            };
        }
        let host_port = addr.strip_prefix("tcp://").unwrap_or(addr);
        if let Some((scheme, _)) = host_port.split_once("://") {
            return Err(bad(&format!("unknown scheme {scheme}://")));
        }
        let (host, port) = host_port.rsplit_once(':').ok_or_else(|| bad("no port"))?;
        if host.is_empty() {
            return Err(bad("no host"));
        }
        port.parse::<u16>()
            .map_err(|_| bad(&format!("{port:?} is not a port number")))?;
        Ok(Target::Tcp(host_port.to_owned()))
    }

    /// Connects (or starts the child) within `timeout`. The child, if any, is
    /// killed when the returned [`Connection`] is dropped.
    pub(crate) async fn connect(
        &self,
        builder: PeerBuilder,
        timeout: Duration,
    ) -> Result<Connection, String> {
        let failed = |e: &dyn fmt::Display| format!("cannot connect to {self}: {e}");
        let connect = async {
            match self {
                Target::Tcp(addr) => builder
                    .connect_tcp(addr.as_str())
                    .await
                    .map(|peer| (peer, None)),
                Target::Unix(path) => builder.connect_unix(path).await.map(|peer| (peer, None)),
                Target::WebSocket(url) => builder.connect_ws(url).await.map(|peer| (peer, None)),
                Target::Nats(addr) => builder
                    .connect_nats(&addr.url, &addr.prefix)
                    .await
                    .map(|peer| (peer, None)),
                Target::Exec(command) => {
                    let mut child = tokio::process::Command::new("sh");
                    child.arg("-c").arg(format!("exec {command}"));
                    builder
                        .spawn_child(child)
                        .map(|(peer, child)| (peer, Some(child)))
                }
            }
        };
        let (peer, child) = tokio::time::timeout(timeout, connect)
            .await
            .map_err(|_| failed(&format!("no connection within {timeout:?}")))?
            .map_err(|e| failed(&crate::chain(&e)))?;
        Ok(Connection { peer, child })
    }

    /// Whether the peer at the other end may be something other than a dotrpc
    /// peer, which would answer dotrpc's `rpc.hello` with an error event.
    pub(crate) fn is_child(&self) -> bool {
        matches!(self, Target::Exec(_))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Tcp(addr) => write!(f, "tcp://{addr}"),
            Target::Unix(path) => write!(f, "unix://{}", path.display()),
            Target::Exec(command) => write!(f, "exec:{command}"),
            Target::Nats(addr) => write!(f, "{addr}"),
            Target::WebSocket(url) => f.write_str(url),
        }
    }
}

/// A connected peer, and the child process behind it for `exec:`.
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) peer: Peer,
    child: Option<Child>,
}

impl Connection {
    /// Flushes what is queued, closes, and ends the child.
    pub(crate) async fn close(mut self) {
        self.peer.close();
        let _ = tokio::time::timeout(Duration::from_secs(1), self.peer.closed()).await;
        if let Some(child) = &mut self.child {
            let _ = child.kill().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_address_form_parses() {
        assert_eq!(
            Target::parse("127.0.0.1:80").unwrap(),
            Target::Tcp("127.0.0.1:80".into())
        );
        assert_eq!(
            Target::parse("tcp://localhost:9").unwrap(),
            Target::Tcp("localhost:9".into())
        );
        assert_eq!(
            Target::parse("[::1]:7").unwrap(),
            Target::Tcp("[::1]:7".into())
        );
        assert_eq!(
            Target::parse("unix:///tmp/s.sock").unwrap(),
            Target::Unix("/tmp/s.sock".into())
        );
        assert_eq!(
            Target::parse("ws://127.0.0.1:8080/rpc").unwrap(),
            Target::WebSocket("ws://127.0.0.1:8080/rpc".into())
        );
        assert_eq!(
            Target::parse("exec:nvim --embed --headless").unwrap(),
            Target::Exec("nvim --embed --headless".into())
        );
        assert_eq!(
            Target::parse("nats://127.0.0.1:4222/demo.v1").unwrap(),
            Target::Nats(NatsAddr {
                url: "nats://127.0.0.1:4222".into(),
                prefix: "demo.v1".into()
            })
        );
        assert_eq!(
            Target::parse("nats://127.0.0.1:4222,127.0.0.1:4223/demo").unwrap(),
            Target::Nats(NatsAddr {
                url: "nats://127.0.0.1:4222,127.0.0.1:4223".into(),
                prefix: "demo".into()
            })
        );
    }

    #[test]
    fn bad_addresses_say_what_is_wrong() {
        let error = |addr| Target::parse(addr).unwrap_err();
        assert!(error("localhost").contains("no port"));
        assert!(error("localhost:http").contains("\"http\" is not a port number"));
        assert!(error("http://x:1").contains("unknown scheme http://"));
        assert!(error(":80").contains("no host"));
        assert!(error("exec: ").contains("no command"));
        assert!(error("unix://").contains("no path"));
        assert!(error("nats://127.0.0.1:4222").contains("the prefix is missing"));
        assert!(error("nats://127.0.0.1:4222/a.*").contains("subject tokens"));
    }
}
