//! The options of a peer's connections, held once per session and shared by
//! every connection it makes (see [`PeerBuilder`](crate::PeerBuilder) for
//! each, with its default).

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Duration;

use super::Peer;
use crate::codec::Limits;
use crate::error::DisconnectReason;

/// The callback registered with `PeerBuilder::on_event`.
pub(crate) type EventCallback = Arc<dyn Fn(&ConnectionEvent) + Send + Sync>;

/// The hook registered with `PeerBuilder::on_connected`.
pub(crate) type ConnectedHook = Arc<dyn Fn(&Peer) + Send + Sync>;

/// Everything a session and its connections are configured with.
#[derive(Clone)]
pub(crate) struct Options {
    pub(crate) limits: Limits,
    pub(crate) max_concurrent_handlers: usize,
    pub(crate) max_queued_calls: usize,
    /// Sends that are awaited wait while more than this many bytes are queued.
    pub(crate) send_high_water: usize,
    /// Past this many bytes queued, the connection is closed.
    pub(crate) max_queued_bytes: usize,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) message_timeout: Option<Duration>,
    pub(crate) close_flush_timeout: Duration,
    pub(crate) on_event: Option<EventCallback>,
    /// Whether to announce this peer with `rpc.hello` on start; `None` lets
    /// the way it starts decide (yes for the side that connects).
    pub(crate) handshake: Option<bool>,
    pub(crate) on_connected: Option<ConnectedHook>,
    pub(crate) reconnect: Option<Reconnect>,
    /// The timeout of calls that set none.
    pub(crate) call_timeout: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            limits: Limits::default(),
            max_concurrent_handlers: 128,
            max_queued_calls: 256,
            send_high_water: 1024 * 1024,
            max_queued_bytes: 64 * 1024 * 1024,
            idle_timeout: None,
            message_timeout: Some(Duration::from_secs(30)),
            close_flush_timeout: Duration::from_secs(1),
            on_event: None,
            handshake: None,
            on_connected: None,
            reconnect: None,
            call_timeout: None,
        }
    }
}

impl Options {
    pub(crate) fn emit(&self, event: &ConnectionEvent) {
        if let Some(callback) = &self.on_event {
            callback(event);
        }
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("limits", &self.limits)
            .field("max_concurrent_handlers", &self.max_concurrent_handlers)
            .field("max_queued_calls", &self.max_queued_calls)
            .field("send_high_water", &self.send_high_water)
            .field("max_queued_bytes", &self.max_queued_bytes)
            .field("idle_timeout", &self.idle_timeout)
            .field("message_timeout", &self.message_timeout)
            .field("reconnect", &self.reconnect)
            .field("call_timeout", &self.call_timeout)
            .finish_non_exhaustive()
    }
}

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
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let doubled = self
            .initial_backoff
            .saturating_mul(1u32 << (attempt - 1).min(16));
        let base = doubled.min(self.max_backoff);
        // A fresh RandomState is randomly keyed: enough jitter, no dependency.
        let noise = RandomState::new().hash_one(attempt) % 401;
        base.mul_f64(0.8 + noise as f64 / 1000.0)
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
