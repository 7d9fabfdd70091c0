//! [`Peer`]: one end of a connection, the same type on both sides.
//!
//! A peer owns two tasks: a [reader](reader) that splits inbound bytes into
//! messages, completes calls with responses and runs handlers for requests and
//! notifications, and a [writer](writer) that sends queued frames. Either side
//! can call, notify and serve at once.
//!
//! Ownership: the tasks share a `Connection`; user code holds [`Peer`] handles
//! (cheap clones of one `Arc` to a session, `Handle`). The session lives while
//! any `Peer` handle does; dropping the last one closes it. Handlers get a
//! `Peer` through their [`CallContext`](crate::CallContext), and a server
//! keeps one per connection, so both can call back. A session has one
//! connection at a time: the same one for its whole life, or, for a peer
//! built with [`Reconnect`], a new one after each reconnect (see `state`).
//!
//! Closing, for whatever reason, happens once ([`Connection::close`]): the
//! reason is recorded, every pending call fails with `Disconnected`, the
//! connection-state callback hears of it, and both tasks stop.

mod protocol;
mod reader;
mod state;
mod writer;

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::ToSocketAddrs;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub(crate) use protocol::{Feature, cancel as cancel_frame};
#[cfg(feature = "tls")]
pub(crate) use state::Streams;
pub use state::{ConnectionEvent, Reconnect, WhileDown};

use crate::client::Call;
use crate::codec::Limits;
use crate::error::{DisconnectReason, Error};
use crate::message::notification_frame;
use crate::router::Router;
use crate::transaction::Transactions;

/// Options of one connection. See [`PeerBuilder`] for each.
#[derive(Clone)]
pub(crate) struct PeerOptions {
    pub(crate) limits: Limits,
    pub(crate) max_concurrent_handlers: usize,
    pub(crate) max_queued_calls: usize,
    pub(crate) max_queued_bytes: usize,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) message_timeout: Option<Duration>,
    pub(crate) close_flush_timeout: Duration,
    pub(crate) on_event: Option<state::EventCallback>,
    /// Whether to announce this peer with `rpc.hello` on start; `None` lets
    /// the transport decide (yes for the side that connects).
    pub(crate) handshake: Option<bool>,
    pub(crate) on_connected: Option<state::ConnectedHook>,
    pub(crate) reconnect: Option<Reconnect>,
    pub(crate) authorize: Option<Authorize>,
    pub(crate) error_format: crate::ErrorFormat,
}

/// The hook registered with [`PeerBuilder::authorize`].
pub(crate) type Authorize =
    Arc<dyn Fn(&crate::CallContext) -> Result<(), crate::ErrorObject> + Send + Sync>;

impl Default for PeerOptions {
    fn default() -> Self {
        PeerOptions {
            limits: Limits::default(),
            max_concurrent_handlers: 128,
            max_queued_calls: 256,
            max_queued_bytes: 64 * 1024 * 1024,
            idle_timeout: None,
            message_timeout: Some(Duration::from_secs(30)),
            close_flush_timeout: Duration::from_secs(1),
            error_format: crate::ErrorFormat::Object,
            on_event: None,
            handshake: None,
            on_connected: None,
            reconnect: None,
            authorize: None,
        }
    }
}

impl fmt::Debug for PeerOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerOptions")
            .field("limits", &self.limits)
            .field("max_concurrent_handlers", &self.max_concurrent_handlers)
            .field("max_queued_calls", &self.max_queued_calls)
            .field("max_queued_bytes", &self.max_queued_bytes)
            .field("idle_timeout", &self.idle_timeout)
            .field("message_timeout", &self.message_timeout)
            .field("close_flush_timeout", &self.close_flush_timeout)
            .finish_non_exhaustive()
    }
}

/// What a connection's tasks share.
pub(crate) struct Connection {
    id: u64,
    /// Frames for the writer; the writer is the only receiver.
    outbox: mpsc::UnboundedSender<Bytes>,
    /// Bytes queued in `outbox` and not yet written; past
    /// `max_queued_bytes` the other side is taken to have stopped reading.
    queued_bytes: std::sync::atomic::AtomicUsize,
    transactions: Arc<Transactions>,
    /// Cancelled exactly when the connection closes; both tasks stop on it.
    shutdown: CancellationToken,
    /// Cancelled to stop reading new messages and close once handlers finish.
    drain: CancellationToken,
    /// The reader and writer; `closed()` waits for both.
    tasks: TaskTracker,
    reason: OnceLock<DisconnectReason>,
    options: PeerOptions,
    /// What the other side said it understands (see [`protocol`]).
    remote_features: protocol::Features,
    /// Whether this side has sent its `rpc.hello`.
    hello_sent: std::sync::atomic::AtomicBool,
}

impl Connection {
    /// Closes the connection once; later calls do nothing.
    pub(crate) fn close(&self, reason: DisconnectReason) {
        if self.reason.set(reason.clone()).is_err() {
            return;
        }
        match &reason {
            DisconnectReason::Closed | DisconnectReason::Eof | DisconnectReason::Shutdown => {
                tracing::debug!(peer = self.id, %reason, "connection closed");
            }
            DisconnectReason::Transport(_)
            | DisconnectReason::Protocol(_)
            | DisconnectReason::Idle { .. }
            | DisconnectReason::Stalled { .. }
            | DisconnectReason::Backlog { .. } => {
                tracing::warn!(peer = self.id, %reason, "connection closed");
            }
        }
        self.shutdown.cancel();
        self.transactions.fail_all(reason.clone());
        self.emit(ConnectionEvent::Disconnected { reason });
    }

    fn emit(&self, event: ConnectionEvent) {
        if let Some(callback) = &self.options.on_event {
            callback(&event);
        }
    }

    /// Queues a frame for the writer; closes the connection instead if the
    /// other side has let too much pile up unread.
    pub(crate) fn send(&self, frame: Bytes) -> Result<(), Error> {
        if let Some(reason) = self.reason.get() {
            return Err(Error::Disconnected {
                reason: reason.clone(),
            });
        }
        let queued = self.queued_bytes.fetch_add(frame.len(), Ordering::AcqRel) + frame.len();
        if queued > self.options.max_queued_bytes {
            let reason = DisconnectReason::Backlog { queued };
            self.close(reason.clone());
            return Err(Error::Disconnected { reason });
        }
        self.outbox.send(frame).map_err(|_| Error::Disconnected {
            reason: DisconnectReason::Closed,
        })
    }

    pub(crate) fn transactions(&self) -> &Arc<Transactions> {
        &self.transactions
    }

    /// Whether the other side said it understands `feature`.
    pub(crate) fn remote_has(&self, feature: protocol::Feature) -> bool {
        self.remote_features.has(feature)
    }

    /// Sends this peer's `rpc.hello`, once.
    fn say_hello(&self) {
        if !self.hello_sent.swap(true, Ordering::AcqRel) {
            let _ = self.send(protocol::hello());
        }
    }

    /// The other side said hello: learn what it understands, and answer.
    pub(crate) fn heard_hello(&self, hello: &crate::message::Params) {
        self.remote_features.learn(hello);
        self.say_hello();
    }
}

/// The session every `Peer` clone shares; the last one dropped closes it.
pub(crate) struct Handle {
    /// Stable for the session's life, whatever connection it is on.
    id: u64,
    /// The connection in use; replaced only by a reconnect.
    current: RwLock<Arc<Connection>>,
    router: Arc<Router>,
    runtime: tokio::runtime::Handle,
    options: PeerOptions,
    /// Cancelled when the session is over for good: closed by this side, or
    /// reconnecting gave up.
    ended: CancellationToken,
    /// Wakes calls waiting for a reconnect.
    reconnected: tokio::sync::Notify,
    /// Makes new connections share the session's `Weak<Handle>`.
    this: Weak<Handle>,
    /// Who the other side is, once a handler has said (a login).
    identity: RwLock<Option<Arc<dyn std::any::Any + Send + Sync>>>,
}

impl Handle {
    fn current(&self) -> Arc<Connection> {
        Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    pub(crate) fn emit(&self, event: &ConnectionEvent) {
        if let Some(callback) = &self.options.on_event {
            callback(event);
        }
    }

    /// Ends the session for good: no more reconnects; the connection closes.
    pub(crate) fn end(&self) {
        self.ended.cancel();
        self.current().close(DisconnectReason::Closed);
        self.reconnected.notify_waiters();
    }

    /// Puts a freshly dialled connection in place (after a reconnect).
    pub(crate) fn replace_connection(
        &self,
        reader: Box<dyn AsyncRead + Send + Unpin>,
        writer: Box<dyn AsyncWrite + Send + Unpin>,
    ) -> Arc<Connection> {
        let connection = start_connection(&self.options, self.this.clone(), reader, writer);
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::clone(&connection);
        self.reconnected.notify_waiters();
        if let (Some(hook), Some(handle)) = (&self.options.on_connected, self.this.upgrade()) {
            hook(&Peer { handle });
        }
        connection
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.ended.cancel();
        self.current().close(DisconnectReason::Closed);
    }
}

/// One end of a msgpack-rpc connection: call, notify and serve.
///
/// Cheap to clone; all clones are the same peer. The connection closes when
/// [`close`](Peer::close) is called, when the other side closes it, or when
/// the last clone is dropped (handlers running on the connection hold a clone
/// in their context until they answer). A peer built with
/// [`PeerBuilder::reconnect`] redials when its connection drops.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> dotrpc::Result<()> {
/// use std::sync::Arc;
/// let router = Arc::new(dotrpc::Router::new());
/// router.set_handler("math.div", |a: f64, b: f64| async move { a / b });
/// let (client, _server) = dotrpc::memory_pair(dotrpc::Peer::builder(), dotrpc::Peer::builder().router(router));
/// let half: f64 = client.call("math.div", (1.0, 2.0)).await?;
/// assert_eq!(half, 0.5);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Peer {
    handle: Arc<Handle>,
}

impl Peer {
    /// Options for a new connection: router, limits, callbacks, transport.
    pub fn builder() -> PeerBuilder {
        PeerBuilder::default()
    }

    /// The connection in use now; a call takes it once and uses it
    /// throughout, even if a reconnect replaces it meanwhile.
    pub(crate) fn connection(&self) -> Arc<Connection> {
        self.handle.current()
    }

    /// Starts a call of `method` with positional `params`; the returned
    /// [`Call`] is awaited (optionally with a [`timeout`](Call::timeout)), or
    /// sent as a notification.
    ///
    /// `params` must serialize as an array: a tuple such as `(a, b)` or `(a,)`,
    /// a `Vec`, a slice, or `()` for none. They are encoded now, straight from
    /// the caller's types.
    pub fn call<R: DeserializeOwned>(&self, method: &str, params: impl Serialize) -> Call<R> {
        Call::new(self.clone(), method, &params)
    }

    /// Sends a notification (a one-way event; no reply).
    ///
    /// # Errors
    ///
    /// `Codec` if `params` do not serialize as an array; `Disconnected` if the
    /// connection is gone.
    pub fn notify(&self, method: &str, params: impl Serialize) -> crate::Result<()> {
        let frame = notification_frame(method, &params)?;
        self.connection().send(frame.into())
    }

    pub(crate) fn send(&self, frame: Bytes) -> crate::Result<()> {
        self.connection().send(frame)
    }

    /// The runtime this peer's tasks run on.
    pub(crate) fn runtime(&self) -> &tokio::runtime::Handle {
        &self.handle.runtime
    }

    /// For a reconnecting peer whose calls wait while it is down: waits until
    /// a connection is up, the peer ends, or `timeout` passes. Otherwise
    /// returns at once (a call on a closed connection then fails as usual).
    pub(crate) async fn until_connected(&self, timeout: Option<Duration>) -> crate::Result<()> {
        let waits = self
            .handle
            .options
            .reconnect
            .as_ref()
            .is_some_and(|r| r.while_down == WhileDown::Wait);
        if !waits {
            return Ok(());
        }
        let wait = async {
            loop {
                let notified = self.handle.reconnected.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if self.connection().reason.get().is_none() || self.handle.ended.is_cancelled() {
                    return;
                }
                notified.await;
            }
        };
        match timeout {
            Some(timeout) => tokio::time::timeout(timeout, wait)
                .await
                .map_err(|_| crate::Error::Timeout),
            None => {
                wait.await;
                Ok(())
            }
        }
    }

    /// Whether the other side has said it is a dotrpc peer (its `rpc.hello`
    /// arrived), so that calls given up on are cancelled there too and
    /// timeouts travel with calls as deadlines. Never true for other
    /// msgpack-rpc peers, which are sent nothing they do not understand.
    pub fn speaks_dotrpc(&self) -> bool {
        self.connection().remote_has(protocol::Feature::Hello)
    }

    /// Records who the other side is (typically from a login handler, through
    /// its context's peer), for [`PeerBuilder::authorize`] and handlers to
    /// read back with [`identity`](Peer::identity). Replaces any earlier one.
    pub fn set_identity<T: std::any::Any + Send + Sync>(&self, identity: T) {
        *self
            .handle
            .identity
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Arc::new(identity));
    }

    /// Who the other side is, if [`set_identity`](Peer::set_identity) said so
    /// with a `T`.
    pub fn identity<T: std::any::Any + Send + Sync>(&self) -> Option<Arc<T>> {
        let identity = self
            .handle
            .identity
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        identity.and_then(|any| any.downcast::<T>().ok())
    }

    /// Forgets who the other side is (a logout).
    pub fn clear_identity(&self) {
        *self
            .handle
            .identity
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
    }

    /// The largest message this peer accepts, and so sends.
    pub(crate) fn max_message_size(&self) -> usize {
        self.handle.options.limits.max_message_size
    }

    /// The router that serves this peer's inbound calls.
    pub fn router(&self) -> &Arc<Router> {
        &self.handle.router
    }

    /// A number that tells this peer apart from others in logs; it stays the
    /// same across reconnects.
    pub fn id(&self) -> u64 {
        self.handle.id
    }

    /// Closes with a given reason (a server shutting down says so).
    pub(crate) fn close_with(&self, reason: DisconnectReason) {
        self.connection().close(reason);
    }

    /// Closes the peer now (and stops any reconnecting): pending calls fail
    /// with `Disconnected`, queued frames are flushed (for up to a second),
    /// handlers are stopped.
    pub fn close(&self) {
        self.handle.end();
    }

    /// Stops reading new messages and closes the connection once the handlers
    /// already running have answered.
    pub fn drain(&self) {
        self.connection().drain.cancel();
    }

    /// Whether the peer is closed for good: its connection is closed (or
    /// closing) and, for a reconnecting peer, it will not reconnect.
    pub fn is_closed(&self) -> bool {
        let down = self.connection().reason.get().is_some();
        down && (self.handle.options.reconnect.is_none() || self.handle.ended.is_cancelled())
    }

    /// Whether a connection is up now.
    pub fn is_connected(&self) -> bool {
        self.connection().reason.get().is_none()
    }

    /// Why the connection closed, once it has.
    pub fn disconnect_reason(&self) -> Option<DisconnectReason> {
        self.connection().reason.get().cloned()
    }

    /// Waits until the peer is closed for good (for a reconnecting peer, until
    /// it is closed or gives up) and its tasks have ended. Does not keep the
    /// peer open while waiting.
    pub fn closed(&self) -> impl Future<Output = DisconnectReason> + Send + 'static {
        let reconnects = self.handle.options.reconnect.is_some();
        let (ended, handle, first) = (
            self.handle.ended.clone(),
            Arc::downgrade(&self.handle),
            self.connection(),
        );
        async move {
            if !reconnects {
                return closed(first).await;
            }
            ended.cancelled().await;
            let last = handle.upgrade().map_or(first, |handle| handle.current());
            closed(last).await
        }
    }

    /// How many calls made through this peer await a response.
    pub fn pending_calls(&self) -> usize {
        self.connection().transactions().len()
    }

    /// How many responses arrived after their call had given up (timed out or
    /// was dropped); they were discarded.
    pub fn late_replies(&self) -> u64 {
        self.connection().transactions().late_replies()
    }

    /// A peer on no connection, already closed.
    #[cfg(test)]
    pub(crate) fn detached() -> Peer {
        let (reader, writer) = tokio::io::duplex(64);
        let peer = Peer::builder().spawn(reader, writer);
        peer.close();
        peer
    }
}

async fn closed(connection: Arc<Connection>) -> DisconnectReason {
    connection.shutdown.cancelled().await;
    connection.tasks.wait().await;
    connection
        .reason
        .get()
        .cloned()
        .unwrap_or(DisconnectReason::Closed)
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peer")
            .field("id", &self.id())
            .field("connected", &self.is_connected())
            .field("pending_calls", &self.pending_calls())
            .field("closed", &self.disconnect_reason())
            .finish()
    }
}

/// Builds a [`Peer`]: its router, limits and callbacks, then the transport.
#[derive(Debug, Clone, Default)]
pub struct PeerBuilder {
    router: Option<Arc<Router>>,
    options: PeerOptions,
}

impl PeerBuilder {
    /// The router that serves inbound calls (default: an empty one, which
    /// answers every call with `UnknownApi`).
    pub fn router(mut self, router: Arc<Router>) -> Self {
        self.router = Some(router);
        self
    }

    /// Serves `api` (generated by `#[rpc_api]`) on this peer's router, under
    /// the API's own namespace; see [`Router::serve`]. Creates the router if
    /// none was given.
    pub fn serve<A: crate::Api>(self, api: A) -> Self {
        let prefix = A::NAMESPACE.unwrap_or("");
        self.serve_at(prefix, api)
    }

    /// Serves `api` under `prefix`; see [`Router::serve_at`].
    pub fn serve_at<A: crate::Api>(mut self, prefix: &str, api: A) -> Self {
        self.router
            .get_or_insert_with(Arc::default)
            .serve_at(prefix, api);
        self
    }

    /// The largest message accepted, in bytes (default 16 MiB). A larger one
    /// closes the connection with a `Protocol` reason.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.options.limits.max_message_size = bytes;
        self
    }

    /// The deepest nesting of arrays and maps accepted (default 128).
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.options.limits.max_depth = depth;
        self
    }

    /// How many handlers may run at once on this connection (default 128;
    /// `1` handles calls strictly in order). Further calls wait (see
    /// [`max_queued_calls`](PeerBuilder::max_queued_calls)); past that the
    /// reader stops reading, which pushes back on the sender through the
    /// transport.
    ///
    /// # Panics
    ///
    /// If `limit` is 0.
    pub fn max_concurrent_handlers(mut self, limit: usize) -> Self {
        assert!(limit > 0, "max_concurrent_handlers must be at least 1");
        self.options.max_concurrent_handlers = limit;
        self
    }

    /// How many calls may wait, in arrival order, while every handler slot
    /// is taken (default 256). While calls wait the reader keeps reading, so
    /// replies still arrive (a handler calling back its caller gets its
    /// answer); when this many wait, it stops reading.
    ///
    /// # Panics
    ///
    /// If `limit` is 0.
    pub fn max_queued_calls(mut self, limit: usize) -> Self {
        assert!(limit > 0, "max_queued_calls must be at least 1");
        self.options.max_queued_calls = limit;
        self
    }

    /// How many bytes of frames may wait to be written (default 64 MiB). A
    /// peer that stops reading lets them pile up; past the limit its
    /// connection is closed (`DisconnectReason::Backlog`), so one slow client
    /// cannot take the server's memory.
    pub fn max_queued_bytes(mut self, bytes: usize) -> Self {
        self.options.max_queued_bytes = bytes;
        self
    }

    /// Closes the connection if nothing at all arrives for `timeout`
    /// (default: never, as a client waiting for events is idle by design).
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.options.idle_timeout = timeout;
        self
    }

    /// Closes the connection if a message, once begun, is not complete within
    /// `timeout` (default 30 s): a peer trickling bytes holds no connection.
    pub fn message_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.options.message_timeout = timeout;
        self
    }

    /// Whether to announce this peer with one `rpc.hello` notification when it
    /// starts, so that another dotrpc peer can agree to cancellation and
    /// deadlines (foreign peers ignore it). Default: yes for the side that
    /// connects (`connect_*`, `spawn_child`, the first of a `memory_pair`),
    /// no otherwise (that side answers a hello it receives). Turn it off for a
    /// peer that must receive nothing but its own protocol.
    pub fn handshake(mut self, announce: bool) -> Self {
        self.options.handshake = Some(announce);
        self
    }

    /// How errors this peer answers with are written: dotrpc's object (the
    /// default), or a plain message for peers such as Neovim that show
    /// nothing else. See [`ErrorFormat`](crate::ErrorFormat).
    pub fn error_format(mut self, format: crate::ErrorFormat) -> Self {
        self.options.error_format = format;
        self
    }

    /// Announces unless told otherwise: the default of connecting sides.
    pub(crate) fn connecting(mut self) -> Self {
        self.options.handshake.get_or_insert(true);
        self
    }

    /// Called on every change of connection state, with the reason when the
    /// connection ends (including a malformed or oversized message).
    pub fn on_event(mut self, callback: impl Fn(&ConnectionEvent) + Send + Sync + 'static) -> Self {
        self.options.on_event = Some(Arc::new(callback));
        self
    }

    /// Decides, before each inbound request or notification is handled,
    /// whether this connection may call its path; an `Err` is the answer
    /// instead (use code `Unauthorized`), and the handler does not run. With
    /// [`Peer::identity`] it gives "log in first" and per-path access:
    ///
    /// ```
    /// use dotrpc::{ErrorObject, Peer, error::code};
    /// struct User { admin: bool }
    /// let builder = Peer::builder().authorize(|ctx| {
    ///     let user = ctx.peer().identity::<User>();
    ///     match (ctx.method(), user) {
    ///         ("login" | "rpc.describe", _) => Ok(()),
    ///         (_, None) => Err(ErrorObject::new(code::UNAUTHORIZED, "log in first")),
    ///         (path, Some(user)) if path.starts_with("public.") || user.admin => Ok(()),
    ///         _ => Err(ErrorObject::new(code::UNAUTHORIZED, "admins only")),
    ///     }
    /// });
    /// ```
    pub fn authorize(
        mut self,
        hook: impl Fn(&crate::CallContext) -> Result<(), crate::ErrorObject> + Send + Sync + 'static,
    ) -> Self {
        self.options.authorize = Some(Arc::new(hook));
        self
    }

    /// Called with the peer each time a connection is up: once at first, and
    /// again after every reconnect, to restore what the other side forgot
    /// (subscriptions, a login). Runs on the runtime: spawn anything that
    /// awaits.
    pub fn on_connected(mut self, hook: impl Fn(&Peer) + Send + Sync + 'static) -> Self {
        self.options.on_connected = Some(Arc::new(hook));
        self
    }

    /// Redials when the connection drops (for any reason but this side
    /// closing it), with exponential backoff and jitter, up to a maximum of
    /// attempts if one is set. Calls pending when it drops fail with
    /// `Disconnected`; calls made while it is down fail fast or wait, as the
    /// policy says. The router, so every API served, carries over. Applies to
    /// `connect_tcp` and `connect_unix`.
    pub fn reconnect(mut self, policy: Reconnect) -> Self {
        self.options.reconnect = Some(policy);
        self
    }

    /// The router this builder's peers will share, made now if none was given.
    pub(crate) fn shared_router(&mut self) -> Arc<Router> {
        Arc::clone(self.router.get_or_insert_with(Arc::default))
    }

    /// Starts a peer over any byte stream halves. Must be called within a
    /// tokio runtime.
    pub fn spawn<R, W>(self, reader: R, writer: W) -> Peer
    where
        R: AsyncRead + Send + Unpin + 'static,
        W: AsyncWrite + Send + Unpin + 'static,
    {
        let router = self.router.unwrap_or_default();
        let options = self.options;
        let handle = Arc::new_cyclic(|this: &Weak<Handle>| {
            let connection = start_connection(&options, this.clone(), reader, writer);
            Handle {
                id: connection.id,
                current: RwLock::new(connection),
                router,
                runtime: tokio::runtime::Handle::current(),
                options,
                ended: CancellationToken::new(),
                reconnected: tokio::sync::Notify::new(),
                this: this.clone(),
                identity: RwLock::new(None),
            }
        });
        let peer = Peer { handle };
        if let Some(hook) = &peer.handle.options.on_connected {
            hook(&peer);
        }
        peer
    }

    /// Starts a peer over dialled streams; with [`reconnect`](Self::reconnect)
    /// set, a supervisor redials with `connector` whenever the connection drops.
    async fn dial(self, connector: state::Connector) -> crate::Result<Peer> {
        if let Some(callback) = &self.options.on_event {
            callback(&ConnectionEvent::Connecting);
        }
        let (reader, writer) = connector().await?;
        let policy = self.options.reconnect.clone();
        let peer = self.connecting().spawn(reader, writer);
        if let Some(policy) = policy {
            let supervisor = state::Supervisor {
                handle: Arc::downgrade(&peer.handle),
                connector,
                policy,
            };
            peer.handle.runtime.spawn(supervisor.run(peer.connection()));
        }
        Ok(peer)
    }

    /// Connects over TCP (with `TCP_NODELAY`).
    ///
    /// # Errors
    ///
    /// `Transport` if the connection cannot be made.
    pub async fn connect_tcp(self, addr: impl ToSocketAddrs) -> crate::Result<Peer> {
        // Resolved once: a reconnect dials the same addresses.
        let addrs: Arc<[std::net::SocketAddr]> = tokio::net::lookup_host(addr).await?.collect();
        let connector: state::Connector = Arc::new(move || {
            let addrs = Arc::clone(&addrs);
            Box::pin(async move {
                let stream = crate::transport::tcp::connect(&addrs[..]).await?;
                let (reader, writer) = stream.into_split();
                Ok((Box::new(reader) as _, Box::new(writer) as _))
            })
        });
        self.dial(connector).await
    }

    /// Connects over TLS (feature `tls`), verifying the server as `server_name`
    /// with `config` (its root certificates, and a client certificate for
    /// mutual TLS). Reconnects, if asked, dial and verify the same way.
    ///
    /// # Errors
    ///
    /// `Transport` if the connection or the handshake fails (an untrusted
    /// certificate, say), or `server_name` is not a valid DNS name or IP.
    #[cfg(feature = "tls")]
    pub async fn connect_tls(
        self,
        addr: impl ToSocketAddrs,
        server_name: &str,
        config: Arc<crate::tls::rustls::ClientConfig>,
    ) -> crate::Result<Peer> {
        use crate::tls::rustls::pki_types::ServerName;
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let addrs: Arc<[std::net::SocketAddr]> = tokio::net::lookup_host(addr).await?.collect();
        let connector: state::Connector = Arc::new(move || {
            let (addrs, name, config) = (Arc::clone(&addrs), name.clone(), Arc::clone(&config));
            Box::pin(async move { crate::transport::tls::connect(&addrs, name, config).await })
        });
        self.dial(connector).await
    }

    /// Connects to a Unix socket.
    ///
    /// # Errors
    ///
    /// `Transport` if the connection cannot be made.
    #[cfg(unix)]
    pub async fn connect_unix(self, path: impl AsRef<Path>) -> crate::Result<Peer> {
        let path: Arc<Path> = path.as_ref().into();
        let connector: state::Connector = Arc::new(move || {
            let path = Arc::clone(&path);
            Box::pin(async move {
                let stream = tokio::net::UnixStream::connect(&*path).await?;
                let (reader, writer) = stream.into_split();
                Ok((Box::new(reader) as _, Box::new(writer) as _))
            })
        });
        self.dial(connector).await
    }

    /// Starts `command` as a child process and talks to it over its stdin and
    /// stdout. The child is killed when the returned [`Child`] is dropped.
    ///
    /// [`Child`]: tokio::process::Child
    ///
    /// # Errors
    ///
    /// `Transport` if the process cannot be started.
    pub fn spawn_child(
        self,
        command: tokio::process::Command,
    ) -> crate::Result<(Peer, tokio::process::Child)> {
        crate::transport::stdio::spawn_child(self.connecting(), command)
    }

    /// Serves (and calls) over this process's own stdin and stdout, as a child
    /// of another program. Nothing else may write to stdout.
    pub fn stdio(self) -> Peer {
        self.spawn(tokio::io::stdin(), tokio::io::stdout())
    }
}

/// Starts one connection of a session: its shared state and its two tasks.
fn start_connection<R, W>(
    options: &PeerOptions,
    session: Weak<Handle>,
    reader: R,
    writer: W,
) -> Arc<Connection>
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let (outbox, inbox) = mpsc::unbounded_channel();
    let connection = Arc::new(Connection {
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        outbox,
        queued_bytes: std::sync::atomic::AtomicUsize::new(0),
        transactions: Arc::default(),
        shutdown: CancellationToken::new(),
        drain: CancellationToken::new(),
        tasks: TaskTracker::new(),
        reason: OnceLock::new(),
        options: options.clone(),
        remote_features: protocol::Features::default(),
        hello_sent: std::sync::atomic::AtomicBool::new(false),
    });
    connection
        .tasks
        .spawn(writer::Writer::new(Arc::clone(&connection), inbox, writer).run());
    connection
        .tasks
        .spawn(reader::Reader::new(Arc::clone(&connection), session, reader).run());
    connection.tasks.close();
    if connection.options.handshake == Some(true) {
        connection.say_hello();
    }
    connection.emit(ConnectionEvent::Connected);
    connection
}

/// Two peers joined in memory, for tests and in-process use.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (a, b) = dotrpc::memory_pair(dotrpc::Peer::builder(), dotrpc::Peer::builder());
/// # drop((a, b)); }
/// ```
pub fn memory_pair(a: PeerBuilder, b: PeerBuilder) -> (Peer, Peer) {
    crate::transport::memory::pair(a, b)
}
