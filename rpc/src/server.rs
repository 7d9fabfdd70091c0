//! [`Server`]: bind, accept, one [`Peer`] per connection, broadcast, shutdown.
//!
//! The accept loop is a task that takes a permit from a semaphore of
//! `max_connections` before each accept, so at the limit new connections wait
//! in the listener's backlog instead of being served with no bound. Each
//! accepted stream becomes a peer built from the server's [`PeerBuilder`] (so
//! all connections share one router); the server keeps every live peer, which
//! is how it can call or notify a client later and [`broadcast`] to all. A
//! closed connection is forgotten at once.
//!
//! [`Server::shutdown`] stops accepting, lets every connection finish the calls
//! it is running (reading nothing new) for up to a grace period, then closes
//! what is left; when it returns, no task of the server is left. Dropping a
//! `Server` closes everything at once.
//!
//! [`broadcast`]: Server::broadcast

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use dashmap::DashMap;
use serde::Serialize;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::error::DisconnectReason;
use crate::message::notification_frame;
use crate::peer::{Peer, PeerBuilder};
use crate::router::Router;
use crate::transport::{self, Accepted};

/// Called with each new connection's peer, before it is served.
type OnConnect = Arc<dyn Fn(&Peer) + Send + Sync>;

/// Where a server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ListenAddr {
    /// A TCP address (with the port the system chose, if `:0` was asked).
    Tcp(SocketAddr),
    /// A Unix socket file.
    Unix(PathBuf),
}

impl ListenAddr {
    /// The TCP address, if this is one.
    pub fn as_tcp(&self) -> Option<SocketAddr> {
        match self {
            ListenAddr::Tcp(addr) => Some(*addr),
            ListenAddr::Unix(_) => None,
        }
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Tcp(addr) => write!(f, "{addr}"),
            ListenAddr::Unix(path) => write!(f, "unix://{}", path.display()),
        }
    }
}

/// Configures a [`Server`]; made by [`Server::builder`].
#[derive(Clone)]
pub struct ServerBuilder {
    peer: PeerBuilder,
    max_connections: usize,
    on_connect: Option<OnConnect>,
}

impl fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("peer", &self.peer)
            .field("max_connections", &self.max_connections)
            .finish_non_exhaustive()
    }
}

impl ServerBuilder {
    /// At most this many connections are served at once (default 10 000);
    /// further ones wait in the listener's backlog until one closes.
    ///
    /// # Panics
    ///
    /// If `limit` is 0.
    pub fn max_connections(mut self, limit: usize) -> Self {
        assert!(limit > 0, "max_connections must be at least 1");
        self.max_connections = limit;
        self
    }

    /// Called with the peer of each new connection before it is served, so the
    /// server can keep a handle to call or notify that client.
    pub fn on_connect(mut self, callback: impl Fn(&Peer) + Send + Sync + 'static) -> Self {
        self.on_connect = Some(Arc::new(callback));
        self
    }

    /// Binds a TCP address and starts accepting.
    ///
    /// # Errors
    ///
    /// `Transport` if the address cannot be bound.
    pub async fn bind_tcp(self, addr: impl ToSocketAddrs) -> crate::Result<Server> {
        let listener = TcpListener::bind(addr).await?;
        let local = ListenAddr::Tcp(listener.local_addr()?);
        Ok(self.start(Listener::Tcp(listener), local))
    }

    /// Binds a TCP address for TLS connections (feature `tls`) and starts
    /// accepting. With a client-certificate verifier in `config` (mutual TLS),
    /// each connection's identity is the chain its client presented:
    /// [`tls::ClientCertificates`](crate::tls::ClientCertificates).
    ///
    /// # Errors
    ///
    /// `Transport` if the address cannot be bound.
    #[cfg(feature = "tls")]
    pub async fn bind_tls(
        self,
        addr: impl ToSocketAddrs,
        config: Arc<crate::tls::rustls::ServerConfig>,
    ) -> crate::Result<Server> {
        let listener = TcpListener::bind(addr).await?;
        let local = ListenAddr::Tcp(listener.local_addr()?);
        Ok(self.start(
            Listener::Tls(listener, transport::tls::acceptor(config)),
            local,
        ))
    }

    /// Binds a Unix socket file (made `0600`) and starts accepting. The file
    /// is removed when the server stops.
    ///
    /// # Errors
    ///
    /// `Transport` if the path cannot be bound (it exists, say).
    #[cfg(unix)]
    pub async fn bind_unix(self, path: impl Into<PathBuf>) -> crate::Result<Server> {
        let path = path.into();
        let listener = transport::unix::bind(&path)?;
        Ok(self.start(Listener::Unix(listener), ListenAddr::Unix(path)))
    }

    fn start(mut self, listener: Listener, local: ListenAddr) -> Server {
        let router = self.peer.shared_router();
        let shared = Arc::new(Shared {
            peers: DashMap::new(),
            stop: CancellationToken::new(),
        });
        let accept = AcceptLoop {
            listener,
            shared: Arc::clone(&shared),
            peer: self.peer,
            permits: Arc::new(Semaphore::new(self.max_connections)),
            on_connect: self.on_connect,
        };
        tracing::info!(listen = %local, "serving");
        Server {
            local,
            router,
            shared,
            accept: Some(tokio::spawn(accept.run())),
        }
    }
}

/// A running server. See the [module docs](self).
pub struct Server {
    local: ListenAddr,
    router: Arc<Router>,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

struct Shared {
    /// Every live connection, by peer id; removed as soon as it closes.
    peers: DashMap<u64, Peer>,
    /// Cancelled to stop accepting.
    stop: CancellationToken,
}

impl Server {
    /// A server whose connections are built from `peer` (its router, limits
    /// and callbacks).
    ///
    /// ```no_run
    /// # #[tokio::main] async fn main() -> dotrpc::Result<()> {
    /// use std::sync::Arc;
    /// let router = Arc::new(dotrpc::Router::new());
    /// router.set_handler("add", |a: i64, b: i64| async move { a + b });
    /// let server = dotrpc::Server::builder(dotrpc::Peer::builder().router(router))
    ///     .bind_tcp("127.0.0.1:9000")
    ///     .await?;
    /// println!("listening on {}", server.local_addr());
    /// # Ok(()) }
    /// ```
    pub fn builder(mut peer: PeerBuilder) -> ServerBuilder {
        // Every connection shares one router, so handlers added later reach all.
        let _ = peer.shared_router();
        ServerBuilder {
            peer,
            max_connections: 10_000,
            on_connect: None,
        }
    }

    /// The router every connection shares: handlers added here serve all
    /// connections, current and future.
    pub fn router(&self) -> &Arc<Router> {
        &self.router
    }

    /// Where the server listens.
    pub fn local_addr(&self) -> &ListenAddr {
        &self.local
    }

    /// The peers of all live connections.
    pub fn connections(&self) -> Vec<Peer> {
        self.shared
            .peers
            .iter()
            .map(|entry| entry.value().clone())
            .collect()
    }

    /// How many connections are live.
    pub fn connection_count(&self) -> usize {
        self.shared.peers.len()
    }

    /// Sends the notification `method(params)` to every connected client;
    /// returns how many it was queued for. The message is encoded once.
    ///
    /// # Errors
    ///
    /// `Codec` if `params` do not serialize as an array.
    pub fn broadcast(&self, method: &str, params: impl Serialize) -> crate::Result<usize> {
        let frame = Bytes::from(notification_frame(method, &params)?);
        Ok(crate::group::send_to_all(&self.shared.peers, &frame))
    }

    /// Stops accepting, lets running calls answer for up to `grace` (reading
    /// nothing new), then closes every connection. Calls that had not answered
    /// fail at their callers with `Disconnected`. Returns once every task of
    /// the server has ended.
    pub async fn shutdown(mut self, grace: Duration) {
        self.shared.stop.cancel();
        let peers = self.connections();
        for peer in &peers {
            peer.drain();
        }
        let all_closed = async {
            for peer in &peers {
                peer.closed().await;
            }
        };
        if tokio::time::timeout(grace, all_closed).await.is_err() {
            tracing::warn!(
                ?grace,
                "calls still running after the grace period; closing"
            );
            for peer in &peers {
                peer.close_with(DisconnectReason::Shutdown);
            }
            for peer in &peers {
                peer.closed().await;
            }
        }
        drop(peers);
        if let Some(accept) = self.accept.take() {
            let _ = accept.await;
        }
        self.remove_socket_file();
    }

    fn remove_socket_file(&self) {
        if let ListenAddr::Unix(path) = &self.local {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.accept.is_none() {
            return;
        }
        self.shared.stop.cancel();
        for peer in self.connections() {
            peer.close_with(DisconnectReason::Shutdown);
        }
        self.shared.peers.clear();
        self.remove_socket_file();
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("local", &self.local)
            .field("connections", &self.connection_count())
            .finish()
    }
}

enum Listener {
    Tcp(TcpListener),
    #[cfg(unix)]
    Unix(tokio::net::UnixListener),
    #[cfg(feature = "tls")]
    Tls(TcpListener, tokio_rustls::TlsAcceptor),
}

/// What is done to a connection once it is up, before it is served: the
/// identity a TLS client certificate gives it.
type Setup = Box<dyn FnOnce(&Peer) + Send>;

/// An accepted connection, perhaps with a handshake still to do.
enum Incoming {
    Ready(Accepted),
    #[cfg(feature = "tls")]
    Tls(
        tokio::net::TcpStream,
        std::net::SocketAddr,
        tokio_rustls::TlsAcceptor,
    ),
}

impl Listener {
    async fn accept(&self) -> io::Result<Incoming> {
        match self {
            Listener::Tcp(listener) => {
                let (stream, remote) = transport::tcp::accept(listener).await?;
                Ok(Incoming::Ready(transport::tcp::ready(stream, remote)))
            }
            #[cfg(unix)]
            Listener::Unix(listener) => {
                transport::unix::accept(listener).await.map(Incoming::Ready)
            }
            #[cfg(feature = "tls")]
            Listener::Tls(listener, acceptor) => {
                let (stream, remote) = transport::tcp::accept(listener).await?;
                Ok(Incoming::Tls(stream, remote, acceptor.clone()))
            }
        }
    }
}

impl Incoming {
    /// Completes the connection (the TLS handshake, if any).
    async fn establish(self) -> io::Result<(Accepted, Option<Setup>)> {
        match self {
            Incoming::Ready(accepted) => Ok((accepted, None)),
            #[cfg(feature = "tls")]
            Incoming::Tls(stream, remote, acceptor) => {
                let ((reader, writer), certificates) =
                    transport::tls::accept(stream, &acceptor).await?;
                let accepted = Accepted {
                    reader,
                    writer,
                    remote: remote.to_string(),
                };
                let setup: Option<Setup> = certificates
                    .map(|chain| Box::new(move |peer: &Peer| peer.set_identity(chain)) as Setup);
                Ok((accepted, setup))
            }
        }
    }
}

/// The accept task; it ends when the server stops accepting and every
/// connection it started has closed.
struct AcceptLoop {
    listener: Listener,
    shared: Arc<Shared>,
    peer: PeerBuilder,
    /// One permit per live connection.
    permits: Arc<Semaphore>,
    on_connect: Option<OnConnect>,
}

impl AcceptLoop {
    async fn run(self) {
        // One task per connection: completes it, serves it, and on close
        // forgets it and frees its permit.
        let mut connections = JoinSet::new();
        let stop = self.shared.stop.clone();
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                accepted = self.accept_within_limit() => match accepted {
                    Ok((permit, incoming)) => {
                        let (builder, shared, on_connect) =
                            (self.peer.clone(), Arc::clone(&self.shared), self.on_connect.clone());
                        connections.spawn(async move {
                            let (accepted, setup) = match incoming.establish().await {
                                Ok(established) => established,
                                Err(error) => {
                                    tracing::debug!(%error, "connection failed before it was served");
                                    return;
                                }
                            };
                            let peer = serve(builder, &shared, on_connect.as_ref(), accepted, setup);
                            let (id, closed) = (peer.id(), peer.closed());
                            drop(peer);
                            closed.await;
                            shared.peers.remove(&id);
                            drop(permit);
                        });
                    }
                    Err(error) => {
                        // Typically out of file descriptors: back off briefly
                        // rather than spin.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        }
        drop(self.listener);
        while connections.join_next().await.is_some() {}
    }

    async fn accept_within_limit(&self) -> io::Result<(OwnedSemaphorePermit, Incoming)> {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        Ok((permit, self.listener.accept().await?))
    }
}

/// Starts serving an established connection and registers its peer.
fn serve(
    builder: PeerBuilder,
    shared: &Shared,
    on_connect: Option<&OnConnect>,
    accepted: Accepted,
    setup: Option<Setup>,
) -> Peer {
    let peer = builder.spawn(accepted.reader, accepted.writer);
    tracing::debug!(peer = peer.id(), remote = %accepted.remote, "accepted");
    if let Some(setup) = setup {
        setup(&peer);
    }
    shared.peers.insert(peer.id(), peer.clone());
    // Registered first, checked second: a shutdown that began meanwhile either
    // saw this peer in the registry or is seen here.
    if shared.stop.is_cancelled() {
        peer.close_with(DisconnectReason::Shutdown);
    }
    if let Some(on_connect) = on_connect {
        on_connect(&peer);
    }
    peer
}
