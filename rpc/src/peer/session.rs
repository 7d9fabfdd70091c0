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

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::BuildHasher;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::Peer;
use super::connection::{Connection, Dispatch, Link};
use super::options::Options;
use crate::error::DisconnectReason;
use crate::transport::{Transport, listener::Identity};

/// A change in a connection's state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionEvent {
    /// About to dial.
    Connecting,
    /// A connection is up; calls can be made.
    Connected,
    /// The connection is gone; calls pending on it have failed with this
    /// reason.
    Disconnected {
        /// Why it ended.
        reason: DisconnectReason,
    },
    /// Waiting before redialling, for the `attempt`-th time since the last
    /// connection ended.
    Reconnecting {
        /// 1 for the first attempt.
        attempt: u32,
    },
    /// Reconnecting gave up after this many attempts; the peer is closed.
    GaveUp {
        /// How many attempts were made.
        attempts: u32,
    },
}

/// What happens to calls made while a reconnecting peer is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum WhileDown {
    /// Fail at once with `Disconnected` (the default).
    #[default]
    FailFast,
    /// Wait for the connection to be back, up to the call's timeout (without
    /// one, until reconnecting succeeds or gives up).
    Wait,
}

/// How a peer reconnects when its connection drops; see
/// [`PeerBuilder::reconnect`](crate::PeerBuilder::reconnect).
///
/// The wait before attempt `n` is `initial_backoff * 2^(n-1)`, at most
/// `max_backoff`, with ±20 % jitter so that many clients of one restarted
/// server do not redial in step.
#[derive(Debug, Clone)]
pub struct Reconnect {
    pub(crate) initial_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) max_attempts: Option<u32>,
    pub(crate) while_down: WhileDown,
}

impl Default for Reconnect {
    fn default() -> Self {
        Reconnect {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            max_attempts: None,
            while_down: WhileDown::FailFast,
        }
    }
}

impl Reconnect {
    /// Reconnecting with the defaults: 100 ms doubling to at most 5 s, no
    /// attempt limit, calls made while down fail fast.
    pub fn new() -> Self {
        Reconnect::default()
    }

    /// The wait before the first attempt.
    pub fn initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// The longest wait between attempts.
    pub fn max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// Gives up (and closes the peer) after this many failed attempts in a
    /// row.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// What calls made while down do.
    pub fn while_down(mut self, policy: WhileDown) -> Self {
        self.while_down = policy;
        self
    }

    /// The wait before attempt `attempt` (1-based), with jitter.
    fn backoff(&self, attempt: u32) -> Duration {
        let doubled = self
            .initial_backoff
            .saturating_mul(1u32 << (attempt - 1).min(16));
        let base = doubled.min(self.max_backoff);
        // A fresh RandomState is randomly keyed: enough jitter, no dependency.
        let noise = RandomState::new().hash_one(attempt) % 401;
        base.mul_f64(0.8 + noise as f64 / 1000.0)
    }
}

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
            let (link, connection) = new_link(&options, this.clone(), &dispatch, transport);
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
            Arc::downgrade(self),
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
    session: Weak<Session>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_with_bounded_jitter() {
        let policy = Reconnect::new()
            .initial_backoff(Duration::from_millis(100))
            .max_backoff(Duration::from_millis(1_000));
        for (attempt, base) in [
            (1, 100u64),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1_000),
            (30, 1_000),
        ] {
            let wait = policy.backoff(attempt).as_millis() as u64;
            assert!(
                wait >= base * 8 / 10 && wait <= base * 12 / 10,
                "attempt {attempt}: {wait} ms"
            );
        }
    }
}
