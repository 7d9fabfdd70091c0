//! [`Server`]: bind an [`Address`] (or take a bound listener), accept, one [`Peer`] per
//! connection, broadcast, shutdown.
//!
//! The accept loop is a task that takes a permit from a semaphore of
//! `max_connections` before each accept, so at the limit new connections wait
//! in the listen backlog instead of being served with no bound. Accepting
//! does nothing but take the socket off the queue: the rest (a TLS
//! handshake, starting the peer) happens in the connection's own task, so a
//! burst of clients is taken in as fast as it arrives, and the backlog is
//! sized for bursts (1024 by default). Every connection shares one set of
//! options and one dispatcher, so one router; the server keeps every live
//! peer, which is how it can call or notify a client later and
//! [`broadcast`] to all. A closed connection is forgotten at once.
//!
//! Connections accepted elsewhere (by an axum route, `dotrpc::axum`, or
//! any listener of the application's own) are handed to
//! [`Server::serve_transport`] and served the same way: what a connection
//! needs (options, dispatcher, the connection limit, the registry of live
//! peers, the tasks to wait for) is one `Shared` value, whoever accepted it.
//!
//! [`Server::shutdown`] stops accepting, lets every connection finish the calls
//! it is running (reading nothing new) for up to a grace period, then closes
//! what is left; when it returns, no task of the server is left.
//! [`Server::serve_until`] does the same when a signal comes. Dropping a
//! `Server` closes everything at once.
//!
//! [`broadcast`]: Server::broadcast

use std::fmt;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::builder::PeerBuilder;
use crate::client::{ApiBroadcast, ApiClient, Members, NotifyAll};
use crate::dispatch::Dispatcher;
use crate::error::DisconnectReason;
use crate::peer::{Options, Peer};
use crate::router::Router;
use crate::transport;
use crate::transport::listener::{Accepted, Incoming, ListenAddr, Listener};

mod builder;

pub use builder::ServerBuilder;

/// Called with each new connection's peer, before it is served.
type OnConnect = Arc<dyn Fn(&Peer) + Send + Sync>;

/// The listen backlog servers ask for by default; the kernel caps it at
/// `net.core.somaxconn`.
const DEFAULT_BACKLOG: u32 = 1024;

/// A running server: it accepts connections and serves each with a [`Peer`]
/// built from its [`PeerBuilder`], all sharing one router.
///
/// Accepting does nothing but take the socket off the listen queue (sized
/// for bursts, [`ServerBuilder::backlog`]); the rest, a TLS handshake
/// included, happens in the connection's own task. At `max_connections`,
/// new connections wait in the backlog. The server keeps every live peer
/// ([`connections`](Server::connections)) to call or notify clients later
/// and to [`broadcast`](Server::broadcast) to all; a closed connection is
/// forgotten at once.
///
/// Keep it for as long as it should serve: dropping it closes every
/// connection at once. [`shutdown`](Server::shutdown) stops accepting and
/// lets running calls answer for a grace period, and
/// [`serve_until`](Server::serve_until) does so when a signal comes.
#[must_use = "a server stops serving when it is dropped; keep it, or await `serve_until`"]
pub struct Server {
    local: ListenAddr,
    router: Arc<Router>,
    shared: Arc<Shared>,
}

/// What every connection of a server shares, whoever accepted it.
pub(crate) struct Shared {
    /// Every live connection, by peer id; removed as soon as it closes.
    peers: Members,
    /// Cancelled to stop accepting.
    stop: CancellationToken,
    /// The accept loop, and a task per connection that forgets it when it
    /// closes.
    tasks: TaskTracker,
    /// Every connection's options and dispatcher, made once.
    options: Arc<Options>,
    dispatcher: Arc<Dispatcher>,
    /// One permit per live connection, `max_connections` in all.
    permits: Arc<Semaphore>,
    max_connections: usize,
    on_connect: Option<OnConnect>,
}

impl Shared {
    /// Room for one more connection, unless the server is stopping or at
    /// its connection limit.
    pub(crate) fn admit(&self) -> crate::error::Result<OwnedSemaphorePermit> {
        if self.stop.is_cancelled() {
            return Err(crate::error::Error::Disconnected {
                reason: DisconnectReason::Shutdown,
            });
        }
        Arc::clone(&self.permits)
            .try_acquire_owned()
            .map_err(|_| crate::error::Error::Overloaded {
                message: format!(
                    "the server serves at most {} connections",
                    self.max_connections
                ),
            })
    }

    /// The largest message a connection takes.
    #[cfg(feature = "axum")]
    pub(crate) fn max_message_size(&self) -> usize {
        self.options.limits.max_message_size
    }

    /// Serves an established connection; a task of the server forgets it
    /// and frees its permit when it closes.
    pub(crate) fn serve(
        self: &Arc<Self>,
        permit: OwnedSemaphorePermit,
        accepted: Accepted,
    ) -> Peer {
        let Accepted {
            transport,
            remote,
            identity,
        } = accepted;
        let peer = Peer::start(
            Arc::clone(&self.options),
            Arc::clone(&self.dispatcher) as _,
            transport,
            identity,
        );
        tracing::debug!(peer = peer.id(), %remote, "accepted");
        self.peers.map().insert(peer.id(), peer.clone());
        // Registered first, checked second: a shutdown that began meanwhile
        // either saw this peer in the registry or is seen here.
        if self.stop.is_cancelled() {
            peer.close_with(DisconnectReason::Shutdown);
        }
        if let Some(on_connect) = &self.on_connect {
            on_connect(&peer);
        }
        let (id, closed, shared) = (peer.id(), peer.closed(), Arc::clone(self));
        self.tasks.spawn(async move {
            closed.await;
            shared.peers.map().remove(&id);
            drop(permit);
        });
        peer
    }
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
    ///     .bind("127.0.0.1:9000")
    ///     .await?;
    /// println!("listening on {}", server.local_addr());
    /// # Ok(()) }
    /// ```
    pub fn builder(peer: PeerBuilder) -> ServerBuilder {
        ServerBuilder::new(peer)
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
            .map()
            .iter()
            .map(|entry| entry.value().clone())
            .collect()
    }

    /// How many connections are live.
    pub fn connection_count(&self) -> usize {
        self.shared.peers.map().len()
    }

    /// Serves a connection accepted elsewhere (a listener of the
    /// application's own, a WebSocket upgraded by its web framework) as
    /// this server's own: with its router and options, counted against
    /// its connection limit, announced to `on_connect`, reached by
    /// broadcast, closed by shutdown. `remote` names the other end in logs.
    /// Mostly for servers made
    /// [`without_listener`](ServerBuilder::without_listener).
    ///
    /// # Errors
    ///
    /// `Overloaded` at the connection limit, `Disconnected` once the server
    /// is shutting down; the transport is dropped, which closes it.
    pub fn serve_transport(
        &self,
        transport: transport::Transport,
        remote: impl Into<String>,
    ) -> crate::error::Result<Peer> {
        let permit = self.shared.admit()?;
        let accepted = Accepted {
            transport,
            remote: remote.into(),
            identity: None,
        };
        Ok(self.shared.serve(permit, accepted))
    }

    /// What its connections share, for integrations that accept them.
    #[cfg(feature = "axum")]
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The notification `method(params)` to every connected client, encoded
    /// once: to await (waiting for room in each client's queue) or `send`
    /// at once; both give how many clients it was queued for.
    pub fn notify(&self, method: &str, params: impl Serialize) -> NotifyAll {
        self.shared.peers.notify(method, params)
    }

    /// The events of the API `C` (a generated `XxxClient`), under its own
    /// namespace, sent to every connected client: each event method encodes
    /// its event once and returns a [`NotifyAll`] (await it, or `send` it).
    pub fn broadcast<C: ApiClient>(&self) -> C::Broadcast {
        self.broadcast_at::<C>(C::NAMESPACE.unwrap_or(""))
    }

    /// As [`broadcast`](Server::broadcast), with the API's paths under
    /// `prefix`.
    pub fn broadcast_at<C: ApiClient>(&self, prefix: &str) -> C::Broadcast {
        C::Broadcast::with_members(self.shared.peers.clone(), prefix)
    }

    /// Serves until `signal` completes (a Ctrl-C, SIGTERM, or a message from
    /// anywhere), then shuts down as [`shutdown`](Server::shutdown) does,
    /// giving running calls up to `grace` to answer.
    ///
    /// ```no_run
    /// # #[tokio::main] async fn main() -> dotrpc::Result<()> {
    /// let server = dotrpc::Server::builder(dotrpc::Peer::builder())
    ///     .bind("127.0.0.1:9000")
    ///     .await?;
    /// let ctrl_c = async {
    ///     let _ = tokio::signal::ctrl_c().await;
    /// };
    /// server.serve_until(ctrl_c, std::time::Duration::from_secs(5)).await;
    /// # Ok(()) }
    /// ```
    pub async fn serve_until(self, signal: impl Future<Output = ()>, grace: Duration) {
        signal.await;
        self.shutdown(grace).await;
    }

    /// Stops accepting, lets running calls answer for up to `grace` (reading
    /// nothing new), then closes every connection. Calls that had not answered
    /// fail at their callers with `Disconnected`. Returns once every task of
    /// the server has ended.
    pub async fn shutdown(self, grace: Duration) {
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
        self.shared.tasks.close();
        self.shared.tasks.wait().await;
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
        if self.shared.tasks.is_closed() {
            return; // shut down already
        }
        self.shared.tasks.close();
        self.shared.stop.cancel();
        for peer in self.connections() {
            peer.close_with(DisconnectReason::Shutdown);
        }
        self.shared.peers.map().clear();
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

/// The accept task; it ends when the server stops accepting.
struct AcceptLoop {
    listener: Listener,
    shared: Arc<Shared>,
}

impl AcceptLoop {
    async fn run(self) {
        let stop = self.shared.stop.clone();
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                accepted = self.accept_within_limit() => match accepted {
                    Ok((permit, incoming)) => {
                        let shared = Arc::clone(&self.shared);
                        self.shared.tasks.spawn(establish(shared, permit, incoming));
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
    }

    async fn accept_within_limit(&self) -> io::Result<(OwnedSemaphorePermit, Incoming)> {
        let permit = Arc::clone(&self.shared.permits)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        Ok((permit, self.listener.accept().await?))
    }
}

/// Completes a connection (a TLS handshake, a WebSocket upgrade) in its own
/// task, off the accept loop, then serves it.
async fn establish(shared: Arc<Shared>, permit: OwnedSemaphorePermit, incoming: Incoming) {
    match incoming.establish().await {
        Ok(accepted) => drop(shared.serve(permit, accepted)),
        Err(error) => tracing::debug!(%error, "connection failed before it was served"),
    }
}
