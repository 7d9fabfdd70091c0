//! The accepting side: listeners a server takes connections from.
//!
//! Accepting is split in two so that a burst of connections is taken off the
//! listen queue as fast as it comes: [`Listener::accept`] only takes the
//! socket (the accept loop's whole share of the work), and
//! [`Incoming::establish`] does the rest (a TLS handshake) in the
//! connection's own task.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
#[cfg(any(feature = "tls", feature = "websocket"))]
use std::sync::Arc;

use tokio::net::TcpListener;

use super::address::{Address, ToAddress};
use super::{Identity, Transport, tcp};

/// Where a server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ListenAddr {
    /// A TCP address (with the port the system chose, if `:0` was asked).
    Tcp(SocketAddr),
    /// A TCP address taking TLS connections.
    Tls(SocketAddr),
    /// A TCP address taking WebSocket connections.
    Ws(SocketAddr),
    /// A TCP address taking WebSocket connections over TLS.
    Wss(SocketAddr),
    /// A Unix socket file.
    Unix(PathBuf),
    /// Nowhere: the server's connections are accepted elsewhere and handed
    /// to it ([`ServerBuilder::without_listener`](crate::ServerBuilder::without_listener)).
    External,
}

impl ListenAddr {
    /// The TCP address, if the server listens on one (for TCP, TLS or
    /// WebSocket connections).
    pub fn as_tcp(&self) -> Option<SocketAddr> {
        match self {
            ListenAddr::Tcp(addr)
            | ListenAddr::Tls(addr)
            | ListenAddr::Ws(addr)
            | ListenAddr::Wss(addr) => Some(*addr),
            ListenAddr::Unix(_) | ListenAddr::External => None,
        }
    }
}

/// `127.0.0.1:4242` for TCP (as a socket address prints), and the
/// [`Address`] a client connects to for the others: `ws://127.0.0.1:4242/`,
/// `unix:///run/x.sock`.
impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Tcp(addr) => write!(f, "{addr}"),
            ListenAddr::External => f.write_str("external"),
            other => match other.to_address() {
                Ok(address) => write!(f, "{address}"),
                Err(_) => unreachable!("every other listen address is an address"),
            },
        }
    }
}

/// The address a client connects to, for every server but one without a
/// listener.
impl ToAddress for ListenAddr {
    fn to_address(&self) -> io::Result<Address> {
        Ok(match self {
            ListenAddr::Tcp(addr) => Address::Tcp(addr.to_string()),
            ListenAddr::Tls(addr) => Address::Tls(addr.to_string()),
            ListenAddr::Ws(addr) => Address::Ws(format!("ws://{addr}/")),
            ListenAddr::Wss(addr) => Address::Wss(format!("wss://{addr}/")),
            ListenAddr::Unix(path) => Address::Unix(path.clone()),
            ListenAddr::External => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a server without a listener has no address of its own",
                ));
            }
        })
    }
}

/// A bound listener.
pub(crate) enum Listener {
    Tcp(TcpListener),
    #[cfg(unix)]
    Unix(tokio::net::UnixListener),
    #[cfg(feature = "tls")]
    Tls(TcpListener, tokio_rustls::TlsAcceptor),
    #[cfg(feature = "websocket")]
    WebSocket(TcpListener, Arc<super::websocket::Upgrade>),
}

impl Listener {
    /// Where it listens.
    pub(crate) fn local_addr(&self) -> io::Result<ListenAddr> {
        match self {
            Listener::Tcp(listener) => Ok(ListenAddr::Tcp(listener.local_addr()?)),
            #[cfg(unix)]
            Listener::Unix(listener) => {
                let addr = listener.local_addr()?;
                let path = addr.as_pathname().ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidInput, "an unnamed Unix socket")
                })?;
                Ok(ListenAddr::Unix(path.to_owned()))
            }
            #[cfg(feature = "tls")]
            Listener::Tls(listener, _) => Ok(ListenAddr::Tls(listener.local_addr()?)),
            #[cfg(feature = "websocket")]
            Listener::WebSocket(listener, upgrade) => {
                let addr = listener.local_addr()?;
                #[cfg(feature = "tls")]
                if upgrade.tls.is_some() {
                    return Ok(ListenAddr::Wss(addr));
                }
                let _ = upgrade;
                Ok(ListenAddr::Ws(addr))
            }
        }
    }

    /// Takes the next connection off the listen queue, doing nothing else.
    pub(crate) async fn accept(&self) -> io::Result<Incoming> {
        match self {
            Listener::Tcp(listener) => {
                let (stream, remote) = tcp::accept(listener).await?;
                Ok(Incoming {
                    remote: remote.to_string(),
                    kind: Kind::Ready(tcp::transport(stream)),
                })
            }
            #[cfg(unix)]
            Listener::Unix(listener) => {
                let (stream, _) = listener.accept().await?;
                Ok(Incoming {
                    remote: "unix".into(),
                    kind: Kind::Ready(super::unix::transport(stream)),
                })
            }
            #[cfg(feature = "tls")]
            Listener::Tls(listener, acceptor) => {
                let (stream, remote) = tcp::accept(listener).await?;
                Ok(Incoming {
                    remote: remote.to_string(),
                    kind: Kind::Tls(stream, acceptor.clone()),
                })
            }
            #[cfg(feature = "websocket")]
            Listener::WebSocket(listener, upgrade) => {
                let (stream, remote) = tcp::accept(listener).await?;
                Ok(Incoming {
                    remote: remote.to_string(),
                    kind: Kind::WebSocket(stream, Arc::clone(upgrade)),
                })
            }
        }
    }
}

/// A connection taken off the listen queue, perhaps with a handshake to do.
pub(crate) struct Incoming {
    remote: String,
    kind: Kind,
}

enum Kind {
    Ready(Transport),
    #[cfg(feature = "tls")]
    Tls(tokio::net::TcpStream, tokio_rustls::TlsAcceptor),
    #[cfg(feature = "websocket")]
    WebSocket(tokio::net::TcpStream, Arc<super::websocket::Upgrade>),
}

/// An established connection, ready for a peer.
pub(crate) struct Accepted {
    pub(crate) transport: Transport,
    /// A name for the other end, for logs.
    pub(crate) remote: String,
    pub(crate) identity: Option<Identity>,
}

impl Incoming {
    /// Completes the connection (the TLS handshake or the WebSocket
    /// upgrade, if any).
    pub(crate) async fn establish(self) -> io::Result<Accepted> {
        match self.kind {
            Kind::Ready(transport) => Ok(Accepted {
                transport,
                remote: self.remote,
                identity: None,
            }),
            #[cfg(feature = "tls")]
            Kind::Tls(stream, acceptor) => {
                let (transport, certificates) = super::tls::accept(stream, &acceptor).await?;
                Ok(Accepted {
                    transport,
                    remote: self.remote,
                    identity: certificates.map(|chain| Arc::new(chain) as Identity),
                })
            }
            #[cfg(feature = "websocket")]
            Kind::WebSocket(stream, upgrade) => {
                let (transport, identity) = super::websocket::accept(stream, &upgrade).await?;
                Ok(Accepted {
                    transport,
                    remote: self.remote,
                    identity,
                })
            }
        }
    }
}
