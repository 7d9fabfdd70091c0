//! Connection-state events and the callback that hears them.
//!
//! A peer reports `Connected` when its tasks start and `Disconnected` (with the
//! reason: closed by either side, a transport failure, or a malformed or
//! oversized message) exactly once when it closes.

use std::sync::Arc;

use crate::error::DisconnectReason;

/// A change in a connection's state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionEvent {
    /// The connection is up; calls can be made.
    Connected,
    /// The connection is gone; pending calls have failed with this reason.
    Disconnected {
        /// Why it ended.
        reason: DisconnectReason,
    },
}

/// The callback registered with [`PeerBuilder::on_event`](super::PeerBuilder::on_event).
pub(crate) type EventCallback = Arc<dyn Fn(&ConnectionEvent) + Send + Sync>;
