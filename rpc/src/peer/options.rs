//! The options of a peer's connections, held once per session and shared by
//! every connection it makes (see [`PeerBuilder`](crate::PeerBuilder) for
//! each, with its default).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::Peer;
use super::session::{ConnectionEvent, Reconnect};
use crate::codec::Limits;

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
