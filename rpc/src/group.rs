//! [`Group`]: a set of connected peers to push events to, such as the
//! subscribers of a topic or the members of a chat room.
//!
//! A handler adds its caller (`group.insert(ctx.peer())`); an event is
//! encoded once and queued to every member; a member leaves the group the
//! moment its connection closes (a watcher task per member, which ends with
//! it), so a broadcast never waits on, or counts, a client that is gone.

use std::sync::{Arc, Weak};

use bytes::Bytes;
use dashmap::DashMap;
use serde::Serialize;

use crate::message::{Outgoing, notification_frame};
use crate::peer::Peer;

/// A set of peers to notify together, such as the subscribers of a topic or
/// the members of a chat room. Cheap to clone; clones share members.
///
/// A handler adds its caller (`group.insert(ctx.peer())`); an event is
/// encoded once and queued to every member; a member leaves the group the
/// moment its connection closes, so a notification never waits on, or
/// counts, a client that is gone.
#[derive(Clone, Debug, Default)]
pub struct Group {
    members: Arc<DashMap<u64, Peer>>,
}

impl Group {
    /// An empty group.
    pub fn new() -> Self {
        Group::default()
    }

    /// Adds `peer`; returns `false` if it was already a member or its
    /// connection is closed. It leaves by itself when its connection closes.
    pub fn insert(&self, peer: &Peer) -> bool {
        if peer.is_closed() || self.members.insert(peer.id(), peer.clone()).is_some() {
            return false;
        }
        let members: Weak<DashMap<u64, Peer>> = Arc::downgrade(&self.members);
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
        self.members.remove(&peer.id()).is_some()
    }

    /// Whether `peer` is a member.
    pub fn contains(&self, peer: &Peer) -> bool {
        self.members.contains_key(&peer.id())
    }

    /// How many members there are.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether there are no members.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The members.
    pub fn peers(&self) -> Vec<Peer> {
        self.members
            .iter()
            .map(|entry| entry.value().clone())
            .collect()
    }

    /// Sends the notification `method(params)` to every member, encoded once;
    /// returns how many it was queued for. Members whose connection is gone
    /// are dropped from the group.
    ///
    /// # Errors
    ///
    /// `Codec` if `params` do not serialize as an array.
    pub fn notify(&self, method: &str, params: impl Serialize) -> crate::Result<usize> {
        let frame = notification_frame(&Outgoing::new(method.into(), &params)?);
        Ok(send_to_all(&self.members, &frame))
    }
}

/// Queues `frame` to every peer in `peers`, dropping those that are gone.
pub(crate) fn send_to_all(peers: &DashMap<u64, Peer>, frame: &Bytes) -> usize {
    let mut gone = Vec::new();
    let mut sent = 0;
    for entry in peers.iter() {
        match entry.value().link().push_frame(frame) {
            Ok(()) => sent += 1,
            Err(_) => gone.push(*entry.key()),
        }
    }
    for id in gone {
        peers.remove(&id);
    }
    sent
}
