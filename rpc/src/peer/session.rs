//! A session: what every handle of one peer shares, and the life of its
//! connections (state events, reconnecting with backoff).
//!
//! A session has one connection at a time: the same one for its whole life,
//! or, for a peer built with [`Reconnect`], a new one after each drop. It
//! reports `Connecting` before it dials, `Connected` when a connection is up,
//! and `Disconnected` (with the reason) exactly once per connection. A
//! reconnecting session is watched by a supervisor task: when its connection
//! ends for any reason but this side closing it, the supervisor redials with
//! exponential backoff and jitter, reporting `Reconnecting { attempt }`, until
//! a connection is up again (the dispatcher, so every served API, carries
//! over; the `on_connected` hook restores the user's subscriptions) or it
//! gives up after the maximum attempts (`GaveUp`), which ends the session.
//!
//! The session lives while any `Peer` handle does; dropping the last one
//! closes its connection. Connections and the supervisor hold it weakly, so
//! they never keep it alive by themselves.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, RwLock, Weak};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::connection::{Connection, Dispatch};
use super::link::Link;
use super::options::{ConnectionEvent, Options, Reconnect};
use super::{Peer, WeakPeer};
use crate::error::DisconnectReason;
use crate::transport::{Identity, Transport};

/// Dials the same place again, for a reconnect.
pub(crate) type Connector =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = io::Result<Transport>> + Send>> + Send + Sync>;

/// The state every `Peer` handle of one peer shares.
pub(crate) struct Session {
    /// Stable for the session's life, whatever connection it is on.
    pub(crate) id: u64,
    /// The connection in use; replaced only by a reconnect.
    current: RwLock<Arc<Link>>,
    pub(crate) options: Arc<Options>,
    pub(crate) dispatch: Arc<dyn Dispatch>,
    pub(crate) runtime: tokio::runtime::Handle,
    /// Cancelled when the session is over for good: closed by this side, or
    /// reconnecting gave up.
    pub(crate) ended: CancellationToken,
    /// Wakes calls waiting for a reconnect.
    pub(crate) reconnected: Notify,
    /// Who the other side is, once a handler (or the transport) has said.
    pub(crate) identity: RwLock<Option<Identity>>,
}

impl Session {
    /// Starts a session on its first connection, on the current runtime.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub(crate) fn start(
        options: Arc<Options>,
        dispatch: Arc<dyn Dispatch>,
        transport: Transport,
        identity: Option<Identity>,
    ) -> Arc<Session> {
        let runtime = tokio::runtime::Handle::current();
        let mut first = None;
        let session = Arc::new_cyclic(|this: &Weak<Session>| {
            let (link, connection) =
                new_link(&options, WeakPeer::new(this.clone()), &dispatch, transport);
            first = Some(connection);
            Session {
                id: link.id,
                current: RwLock::new(link),
                options,
                dispatch,
                runtime,
                ended: CancellationToken::new(),
                reconnected: Notify::new(),
                identity: RwLock::new(identity),
            }
        });
        // Only now can its calls reach the session.
        if let Some(connection) = first {
            connection.spawn(&session.runtime);
        }
        session
    }

    /// The connection in use now.
    pub(crate) fn current(&self) -> Arc<Link> {
        Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    /// Ends the session for good: no more reconnects; the connection closes.
    pub(crate) fn end(&self) {
        self.ended.cancel();
        self.current().close(DisconnectReason::Closed);
        self.reconnected.notify_waiters();
    }

    /// Puts a freshly dialled connection in place (after a reconnect).
    fn replace(self: &Arc<Self>, transport: Transport) -> Arc<Link> {
        let (link, connection) = new_link(
            &self.options,
            Peer::downgrade(self),
            &self.dispatch,
            transport,
        );
        connection.spawn(&self.runtime);
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::clone(&link);
        self.reconnected.notify_waiters();
        if let Some(hook) = &self.options.on_connected {
            hook(&Peer::from_session(Arc::clone(self)));
        }
        link
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.ended.cancel();
        self.current().close(DisconnectReason::Closed);
    }
}

/// A connection over `transport` for `session`, its hello queued, not yet
/// started.
fn new_link(
    options: &Arc<Options>,
    session: WeakPeer,
    dispatch: &Arc<dyn Dispatch>,
    transport: Transport,
) -> (Arc<Link>, Connection) {
    let opened = transport.open(options.limits);
    let (link, connection) =
        Connection::new(opened, Arc::clone(options), session, Arc::clone(dispatch));
    if options.handshake == Some(true) {
        link.say_hello();
    }
    (link, connection)
}

/// Watches a reconnecting session; redials when its connection ends unless
/// this side closed it.
pub(crate) struct Supervisor {
    pub(crate) session: Weak<Session>,
    pub(crate) connector: Connector,
    pub(crate) policy: Reconnect,
}

impl Supervisor {
    pub(crate) async fn run(self, mut link: Arc<Link>) {
        loop {
            link.closed().await;
            let Some(session) = self.session.upgrade() else {
                return;
            };
            if session.ended.is_cancelled() {
                return;
            }
            let ended = session.ended.clone();
            drop(session);
            match self.redial(&ended).await {
                Some(next) => link = next,
                None => return,
            }
        }
    }

    /// Dials until a connection is up (and in place), or gives up.
    async fn redial(&self, ended: &CancellationToken) -> Option<Arc<Link>> {
        let emit = |event: ConnectionEvent| {
            if let Some(session) = self.session.upgrade() {
                session.options.emit(&event);
            }
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            if self.policy.max_attempts.is_some_and(|max| attempt > max) {
                emit(ConnectionEvent::GaveUp {
                    attempts: attempt - 1,
                });
                if let Some(session) = self.session.upgrade() {
                    session.end();
                }
                return None;
            }
            emit(ConnectionEvent::Reconnecting { attempt });
            tokio::select! {
                () = ended.cancelled() => return None,
                () = tokio::time::sleep(self.policy.backoff(attempt)) => {}
            }
            emit(ConnectionEvent::Connecting);
            let dialled = tokio::select! {
                () = ended.cancelled() => return None,
                dialled = (self.connector)() => dialled,
            };
            match dialled {
                Ok(transport) => {
                    let session = self.session.upgrade()?;
                    let link = session.replace(transport);
                    tracing::info!(peer = session.id, attempt, "reconnected");
                    return Some(link);
                }
                Err(error) => tracing::debug!(attempt, %error, "reconnect attempt failed"),
            }
        }
    }
}
