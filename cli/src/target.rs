//! Where the peer is: `ADDR` on the command line, a [`dotrpc::Address`]
//! (its docs list the forms: `host:port`, `tcp://`, `tls://`, `unix:`,
//! `ws://`, `wss://`, `nats://host:port/prefix`, `exec:COMMAND`), parsed
//! and dialled by the library as any program's would be: `nats://` by
//! `dotrpc-nats`, the rest by `dotrpc`. Only `exec:` is dialled here, to
//! keep the child for [`Connection::close`].

use std::time::Duration;

use dotrpc::{Address, Peer, PeerBuilder};
use dotrpc_nats::ConnectNats;
use tokio::process::Child;

/// Reads `ADDR`.
pub(crate) fn parse(addr: &str) -> Result<Address, String> {
    addr.parse().map_err(|e: std::io::Error| e.to_string())
}

/// Whether the peer at the other end may be something other than a dotrpc
/// peer, which would answer dotrpc's `rpc.hello` with an error event.
pub(crate) fn is_child(address: &Address) -> bool {
    matches!(address, Address::Exec(_))
}

/// Connects (or starts the child) within `timeout`. The child, if any, is
/// killed when the returned [`Connection`] is closed or dropped.
pub(crate) async fn connect(
    address: &Address,
    builder: PeerBuilder,
    timeout: Duration,
) -> Result<Connection, String> {
    let failed = |e: &dyn std::fmt::Display| format!("cannot connect to {address}: {e}");
    let connect = async {
        match address {
            Address::Exec(command) => {
                let mut child = tokio::process::Command::new("sh");
                child.arg("-c").arg(format!("exec {command}"));
                builder
                    .spawn_child(child)
                    .map(|(peer, child)| (peer, Some(child)))
            }
            Address::Nats { servers, prefix } => builder
                .connect_nats(servers.as_str(), prefix)
                .await
                .map(|peer| (peer, None)),
            address => builder.connect(address).await.map(|peer| (peer, None)),
        }
    };
    let (peer, child) = tokio::time::timeout(timeout, connect)
        .await
        .map_err(|_| failed(&format!("no connection within {timeout:?}")))?
        .map_err(|e| failed(&crate::chain(&e)))?;
    Ok(Connection { peer, child })
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
    fn addresses_are_the_library_s() {
        assert_eq!(
            parse("127.0.0.1:80").unwrap(),
            Address::Tcp("127.0.0.1:80".into())
        );
        assert!(is_child(&parse("exec:cat").unwrap()));
        assert!(!is_child(&parse("ws://127.0.0.1:1/").unwrap()));
        let error = parse("nats://127.0.0.1:4222/a.*").unwrap_err();
        assert!(error.contains("subject tokens"), "{error}");
    }
}
