//! Connection life: state events, and reconnecting with backoff.
//!
//! A peer reports `Connecting` before it dials, `Connected` when a connection
//! is up, and `Disconnected` (with the reason: closed by either side, a
//! transport failure, a malformed or oversized message) exactly once per
//! connection. A peer built with [`Reconnect`] is watched by a supervisor
//! task: when its connection ends for any reason but this side closing it,
//! the supervisor redials with exponential backoff and jitter, reporting
//! `Reconnecting { attempt }`, until a connection is up again (the router,
//! so every served API, carries over; the `on_connected` hook restores the
//! user's subscriptions) or it gives up after the maximum attempts
//! (`GaveUp`), which closes the peer for good.
//!
//! The supervisor holds the peer weakly: dropping the last `Peer` handle
//! still closes everything, and the supervisor ends with it.

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::BuildHasher;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use super::{Connection, Handle, Peer, closed};
use crate::error::DisconnectReason;

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

/// The callback registered with [`PeerBuilder::on_event`](super::PeerBuilder::on_event).
pub(crate) type EventCallback = Arc<dyn Fn(&ConnectionEvent) + Send + Sync>;

/// The hook registered with [`PeerBuilder::on_connected`](super::PeerBuilder::on_connected).
pub(crate) type ConnectedHook = Arc<dyn Fn(&Peer) + Send + Sync>;

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
/// [`PeerBuilder::reconnect`](super::PeerBuilder::reconnect).
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

/// Halves of a freshly dialled connection.
pub(crate) type Streams = (
    Box<dyn AsyncRead + Send + Unpin>,
    Box<dyn AsyncWrite + Send + Unpin>,
);

/// Dials the same place again.
pub(crate) type Connector =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = io::Result<Streams>> + Send>> + Send + Sync>;

/// Watches a reconnecting peer; redials when its connection ends unless this
/// side closed it.
pub(crate) struct Supervisor {
    pub(crate) handle: Weak<Handle>,
    pub(crate) connector: Connector,
    pub(crate) policy: Reconnect,
}

impl Supervisor {
    pub(crate) async fn run(self, mut connection: Arc<Connection>) {
        loop {
            closed(Arc::clone(&connection)).await;
            let Some(handle) = self.handle.upgrade() else {
                return;
            };
            if handle.ended.is_cancelled() {
                return;
            }
            let ended = handle.ended.clone();
            drop(handle);
            match self.redial(&ended).await {
                Some(next) => connection = next,
                None => return,
            }
        }
    }

    /// Dials until a connection is up (and in place), or gives up.
    async fn redial(&self, ended: &tokio_util::sync::CancellationToken) -> Option<Arc<Connection>> {
        let emit = |event: ConnectionEvent| {
            if let Some(handle) = self.handle.upgrade() {
                handle.emit(&event);
            }
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            if self.policy.max_attempts.is_some_and(|max| attempt > max) {
                emit(ConnectionEvent::GaveUp {
                    attempts: attempt - 1,
                });
                if let Some(handle) = self.handle.upgrade() {
                    handle.end();
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
                Ok((reader, writer)) => {
                    let handle = self.handle.upgrade()?;
                    let connection = handle.replace_connection(reader, writer);
                    tracing::info!(peer = handle.id, attempt, "reconnected");
                    return Some(connection);
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
