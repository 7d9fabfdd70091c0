//! [`ServerBuilder`]: what a server's connections share (limits, the
//! connection hook, TLS and WebSocket settings), and where it listens.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{AcceptLoop, DEFAULT_BACKLOG, OnConnect, Server, Shared};
use crate::builder::PeerBuilder;
use crate::client::Members;
use crate::peer::Peer;
use crate::transport::listener::{ListenAddr, Listener};
use crate::transport::{self, Address, Scheme, ToAddress};

/// Configures a [`Server`]; made by [`Server::builder`].
#[derive(Clone)]
pub struct ServerBuilder {
    peer: PeerBuilder,
    max_connections: usize,
    backlog: u32,
    on_connect: Option<OnConnect>,
    /// How `tls://` and `wss://` connections are taken.
    #[cfg(feature = "tls")]
    tls: Option<Arc<transport::tls::rustls::ServerConfig>>,
    /// The pages `ws://` and `wss://` connections may come from.
    #[cfg(feature = "websocket")]
    origins: transport::websocket::Origins,
}

impl fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("peer", &self.peer)
            .field("max_connections", &self.max_connections)
            .field("backlog", &self.backlog)
            .finish_non_exhaustive()
    }
}

impl ServerBuilder {
    /// See [`Server::builder`].
    pub(super) fn new(peer: PeerBuilder) -> ServerBuilder {
        ServerBuilder {
            peer,
            max_connections: 10_000,
            backlog: DEFAULT_BACKLOG,
            on_connect: None,
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "websocket")]
            origins: transport::websocket::Origins::default(),
        }
    }

    /// At most this many connections are served at once (default 10 000);
    /// further ones wait in the listen backlog until one closes.
    ///
    /// # Panics
    ///
    /// If `limit` is 0.
    pub fn max_connections(mut self, limit: usize) -> Self {
        assert!(limit > 0, "max_connections must be at least 1");
        self.max_connections = limit;
        self
    }

    /// How many connections the system may hold for the server before it
    /// accepts them (default 1024, capped by the system's
    /// `net.core.somaxconn`), for TCP, TLS and Unix sockets alike. Clients of
    /// a burst larger than the backlog (a restart with many reconnecting
    /// clients) see their connection dropped by the kernel and retried, so
    /// size it for the largest burst expected.
    ///
    /// # Panics
    ///
    /// If `backlog` is 0.
    pub fn backlog(mut self, backlog: u32) -> Self {
        assert!(backlog > 0, "the backlog must be at least 1");
        self.backlog = backlog;
        self
    }

    /// Called with the peer of each new connection before it is served, so the
    /// server can keep a handle to call or notify that client.
    pub fn on_connect(mut self, callback: impl Fn(&Peer) + Send + Sync + 'static) -> Self {
        self.on_connect = Some(Arc::new(callback));
        self
    }

    /// How the server takes `tls://` and `wss://` connections (feature
    /// `tls`): its certificate, and for mutual TLS a client-certificate
    /// verifier, whose chain becomes each connection's identity
    /// ([`tls::ClientCertificates`](crate::transport::tls::ClientCertificates)).
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: Arc<transport::tls::rustls::ServerConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// Which web pages may open `ws://` and `wss://` connections (feature
    /// `websocket`), by the origin their browser sends with the upgrade
    /// request; [`Origins::same_origin()`](crate::transport::websocket::Origins::same_origin)
    /// (pages this server serves) unless set.
    #[cfg(feature = "websocket")]
    pub fn origins(mut self, origins: transport::websocket::Origins) -> Self {
        self.origins = origins;
        self
    }

    /// Binds `addr` and starts accepting: `tcp://host:port` (or
    /// `host:port`, or a `SocketAddr`; `:0` lets the system choose the
    /// port, which [`Server::local_addr`] tells), `tls://host:port`,
    /// `ws://host:port/` (any path is served), `wss://host:port/`, or
    /// `unix:/path` (a socket file made `0600`, removed when the server
    /// stops). TLS takes the configuration given to `tls` (feature `tls`);
    /// WebSocket admits the `origins` set (feature `websocket`), and an
    /// upgrade must complete within the peer's message timeout.
    ///
    /// # Errors
    ///
    /// `Transport` if the address is not one a server listens on (a NATS
    /// service is a `dotrpc_nats::NatsService`), needs a
    /// feature this build lacks or a TLS configuration none was given, or
    /// cannot be bound.
    pub async fn bind(self, addr: impl ToAddress) -> crate::error::Result<Server> {
        let address = addr.to_address()?;
        let scheme = match &address {
            Address::Tcp(_) => Scheme::Tcp,
            Address::Tls(_) => Scheme::Tls,
            Address::Ws(_) => Scheme::Ws,
            Address::Wss(_) => Scheme::Wss,
            #[cfg(unix)]
            Address::Unix(path) => {
                let listener = transport::unix::bind(path, self.backlog)?;
                return self.listen_unix(listener);
            }
            Address::Nats { .. } | Address::Exec(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "a server cannot listen on {address}: serve NATS with dotrpc_nats::NatsService, \
                         and a child process with PeerBuilder::stdio in the child"
                    ),
                )
                .into());
            }
            #[allow(unreachable_patterns)]
            other => return Err(crate::builder::unsupported(other).into()),
        };
        let host_port = address
            .authority()
            .expect("only addresses over TCP are left");
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host(host_port).await?.collect();
        let listener = transport::tcp::bind(&addrs, self.backlog)?;
        self.listen(listener, scheme)
    }

    /// Starts accepting `scheme` connections on a TCP listener the caller
    /// has already bound (with the backlog it chose), as
    /// [`bind`](ServerBuilder::bind) would on the address.
    ///
    /// # Errors
    ///
    /// `Transport` if the listener has no local address, or `scheme` needs
    /// a feature this build lacks or a TLS configuration none was given.
    pub fn listen(
        self,
        listener: tokio::net::TcpListener,
        scheme: Scheme,
    ) -> crate::error::Result<Server> {
        let listener = match scheme {
            Scheme::Tcp => Listener::Tcp(listener),
            #[cfg(feature = "tls")]
            Scheme::Tls => Listener::Tls(listener, transport::tls::acceptor(self.server_tls()?)),
            #[cfg(feature = "websocket")]
            Scheme::Ws => Listener::WebSocket(listener, Arc::new(self.upgrade())),
            #[cfg(all(feature = "websocket", feature = "tls"))]
            Scheme::Wss => {
                let mut upgrade = self.upgrade();
                upgrade.tls = Some(transport::tls::acceptor(self.server_tls()?));
                Listener::WebSocket(listener, Arc::new(upgrade))
            }
            #[allow(unreachable_patterns)]
            scheme => {
                let local = listener.local_addr()?;
                let address = match scheme {
                    Scheme::Tls => Address::Tls(local.to_string()),
                    Scheme::Ws => Address::Ws(format!("ws://{local}/")),
                    _ => Address::Wss(format!("wss://{local}/")),
                };
                return Err(crate::builder::unsupported(&address).into());
            }
        };
        self.listen_on(listener)
    }

    /// The TLS configuration a `tls://` or `wss://` listener needs.
    #[cfg(feature = "tls")]
    fn server_tls(&self) -> io::Result<Arc<transport::tls::rustls::ServerConfig>> {
        self.tls.clone().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "a TLS listener needs a TLS configuration: ServerBuilder::tls(config)",
            )
        })
    }

    /// How this server's WebSocket connections are upgraded.
    #[cfg(feature = "websocket")]
    fn upgrade(&self) -> transport::websocket::Upgrade {
        let options = self.peer.options();
        transport::websocket::Upgrade {
            origins: self.origins.clone(),
            max_message_size: options.limits.max_message_size,
            timeout: options
                .message_timeout
                .unwrap_or(transport::websocket::UPGRADE_TIMEOUT),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// Starts accepting on a Unix socket listener the caller has already
    /// bound. Its socket file is removed when the server stops.
    ///
    /// # Errors
    ///
    /// `Transport` if the listener is not bound to a path.
    #[cfg(unix)]
    pub fn listen_unix(self, listener: tokio::net::UnixListener) -> crate::error::Result<Server> {
        self.listen_on(Listener::Unix(listener))
    }

    /// A server that accepts nothing itself: connections accepted
    /// elsewhere are handed to it, by `dotrpc::axum::upgrade` (feature
    /// `axum`) or by [`Server::serve_transport`]. It serves them as a listening
    /// server serves its own: one router, the connection limit,
    /// `on_connect`, broadcast and shutdown. Its
    /// [`local_addr`](Server::local_addr) is [`ListenAddr::External`].
    pub fn without_listener(self) -> Server {
        self.start(ListenAddr::External, None)
    }

    fn listen_on(self, listener: Listener) -> crate::error::Result<Server> {
        let local = listener.local_addr()?;
        tracing::info!(listen = %local, "serving");
        Ok(self.start(local, Some(listener)))
    }

    fn start(self, local: ListenAddr, listener: Option<Listener>) -> Server {
        let (options, dispatcher) = self.peer.into_parts();
        let router = Arc::clone(&dispatcher.router);
        let shared = Arc::new(Shared {
            peers: Members::default(),
            stop: CancellationToken::new(),
            tasks: TaskTracker::new(),
            options,
            dispatcher,
            permits: Arc::new(Semaphore::new(self.max_connections)),
            max_connections: self.max_connections,
            on_connect: self.on_connect,
        });
        if let Some(listener) = listener {
            let accept = AcceptLoop {
                listener,
                shared: Arc::clone(&shared),
            };
            shared.tasks.spawn(accept.run());
        }
        Server {
            local,
            router,
            shared,
        }
    }
}
