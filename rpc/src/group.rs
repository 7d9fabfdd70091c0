//! [`Group`]: a set of connected peers to push events to, such as the
//! subscribers of a topic or the members of a chat room.
//!
//! A handler adds its caller (`group.insert(ctx.peer())`); an event is
//! encoded once and queued to every member; a member leaves the group the
//! moment its connection closes (a watcher task per member, which ends with
//! it), so a broadcast never waits on, or counts, a client that is gone.

use std::sync::Arc;

use serde::Serialize;

use crate::client::{ApiBroadcast, ApiClient, Members, NotifyAll};
use crate::peer::Peer;

/// A set of peers to notify together, such as the subscribers of a topic or
/// the members of a chat room. Cheap to clone; clones share members.
///
/// A handler adds its caller (`group.insert(ctx.peer())`); an event is
/// encoded once and queued to every member; a member leaves the group the
/// moment its connection closes, so a notification never waits on, or
/// counts, a client that is gone.
///
/// Events go out typed through [`broadcast`](Group::broadcast), which checks them
/// against the API the members serve, or by path with
/// [`notify`](Group::notify).
#[derive(Clone, Debug, Default)]
pub struct Group {
    members: Members,
}

impl Group {
    /// An empty group.
    pub fn new() -> Self {
        Group::default()
    }

    /// Adds `peer`; returns `false` if it was already a member or its
    /// connection is closed. It leaves by itself when its connection closes.
    pub fn insert(&self, peer: &Peer) -> bool {
        let members = self.members.map();
        if peer.is_closed() || members.insert(peer.id(), peer.clone()).is_some() {
            return false;
        }
        let members = Arc::downgrade(members);
        let (id, closed) = (peer.id(), peer.closed());
        peer.runtime().spawn(async move {
            closed.await;
            if let Some(members) = members.upgrade() {
                members.remove(&id);
            }
        });
        true
    }

    /// Removes `peer`; returns whether it was a member.
    pub fn remove(&self, peer: &Peer) -> bool {
        self.members.map().remove(&peer.id()).is_some()
    }

    /// Whether `peer` is a member.
    pub fn contains(&self, peer: &Peer) -> bool {
        self.members.map().contains_key(&peer.id())
    }

    /// How many members there are.
    pub fn len(&self) -> usize {
        self.members.map().len()
    }

    /// Whether there are no members.
    pub fn is_empty(&self) -> bool {
        self.members.map().is_empty()
    }

    /// The members.
    pub fn peers(&self) -> Vec<Peer> {
        self.members
            .map()
            .iter()
            .map(|entry| entry.value().clone())
            .collect()
    }

    /// The events of the API `C` (a generated `XxxClient`), under its own
    /// namespace, sent to every member: each event method encodes its event
    /// once and returns a [`NotifyAll`] to await (waiting for room in each
    /// member's queue) or `send` at once; both give how many members it was
    /// queued for.
    ///
    /// ```
    /// #[dotrpc::rpc_api(namespace = "ui")]
    /// pub trait Ui {
    ///     /// Shows a notice.
    ///     #[rpc(event)]
    ///     async fn notice(&self, topic: String, text: String);
    /// }
    ///
    /// # #[tokio::main] async fn main() -> dotrpc::Result<()> {
    /// let room = dotrpc::Group::new();
    /// let reached = room.broadcast::<UiClient>().notice("news".into(), "hello".into()).await?;
    /// assert_eq!(reached, 0, "nobody joined yet");
    /// # Ok(()) }
    /// ```
    pub fn broadcast<C: ApiClient>(&self) -> C::Broadcast {
        self.broadcast_at::<C>(C::NAMESPACE.unwrap_or(""))
    }

    /// As [`broadcast`](Group::broadcast), with the API's paths under
    /// `prefix`.
    pub fn broadcast_at<C: ApiClient>(&self, prefix: &str) -> C::Broadcast {
        C::Broadcast::with_members(self.members.clone(), prefix)
    }

    /// The notification `method(params)` to every member, encoded once: to
    /// await (waiting for room) or `send` at once. Members whose connection
    /// is gone are dropped from the group.
    pub fn notify(&self, method: &str, params: impl Serialize) -> NotifyAll {
        self.members.notify(method, params)
    }
}
