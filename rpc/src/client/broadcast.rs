//! Events sent to many peers at once: the set of peers a [`Group`] or a
//! [`Server`] sends to, the typed stubs that send an API's events to all of
//! them ([`ApiBroadcast`]), and the event on its way ([`NotifyAll`]).
//!
//! An event is encoded once, into one frame that every member's queue
//! shares; a member whose connection is gone is dropped from the set as it
//! is found, so a broadcast never counts, or waits on, a peer that left.
//! As for one peer's event ([`Notify`](crate::Notify)), awaiting it waits
//! for room in each member's queue (their own high-water marks), and
//! [`send`](NotifyAll::send) queues it at once.
//!
//! [`Group`]: crate::Group
//! [`Server`]: crate::Server

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use dashmap::DashMap;
use serde::Serialize;

use super::args::{Args, Paths};
use crate::message::{Outgoing, encode_notification};
use crate::peer::Peer;

/// Peers by id: the members of a [`Group`](crate::Group), or the live
/// connections of a [`Server`](crate::Server). Clones share the set.
#[derive(Clone, Debug, Default)]
pub struct Members(Arc<DashMap<u64, Peer>>);

impl Members {
    /// The set itself.
    pub(crate) fn map(&self) -> &Arc<DashMap<u64, Peer>> {
        &self.0
    }

    /// Queues `frame` to every member; returns how many it was queued for.
    /// Members whose connection is gone leave the set.
    pub(crate) fn send(&self, frame: &Bytes) -> usize {
        let mut gone = Vec::new();
        let mut sent = 0;
        for entry in self.0.iter() {
            match entry.value().link().push_frame(frame) {
                Ok(()) => sent += 1,
                Err(_) => gone.push(*entry.key()),
            }
        }
        for id in gone {
            self.0.remove(&id);
        }
        sent
    }

    /// Queues `frame` to every member once its queue has room; returns how
    /// many it was queued for. A member that stops reading is waited for
    /// until its connection's own stall limit cuts it off.
    async fn send_with_room(&self, frame: &Bytes) -> usize {
        let members: Vec<(u64, Peer)> = self
            .0
            .iter()
            .map(|entry| (*entry.key(), entry.value().clone()))
            .collect();
        let sends = members.iter().map(|(id, peer)| async move {
            let link = peer.link();
            if !link.has_room() {
                link.room().await;
            }
            (*id, link.push_frame(frame).is_ok())
        });
        let mut sent = 0;
        for (id, queued) in futures_util::future::join_all(sends).await {
            if queued {
                sent += 1;
            } else {
                self.0.remove(&id);
            }
        }
        sent
    }

    /// The notification `method(params)` to every member, encoded once.
    pub(crate) fn notify(&self, method: &str, params: impl Serialize) -> NotifyAll {
        let frame = Outgoing::new(method.into(), &params)
            .map(|outgoing| encode_notification(&outgoing))
            .map_err(crate::error::Error::from);
        NotifyAll {
            members: self.clone(),
            frame,
        }
    }
}

/// An event for every member of a set, encoded once; made by the event
/// methods of a generated `XxxBroadcast` (from `broadcast::<XxxClient>()`
/// on a [`Group`](crate::Group), a [`Server`](crate::Server) or a NATS
/// service) and by `notify` on a group or a server.
///
/// As for one peer's [`Notify`](crate::Notify): `.await` it to wait for
/// room in each member's queue first (back-pressure; a member that stops
/// reading is waited for until its own connection's stall limit cuts it
/// off, `PeerBuilder::send_buffer`), or [`send`](NotifyAll::send) it at
/// once. Either gives how many members it was queued for.
#[must_use = "an event is sent only when awaited or given to `send`"]
#[derive(Debug)]
pub struct NotifyAll {
    members: Members,
    frame: crate::error::Result<Bytes>,
}

impl NotifyAll {
    /// Queues the event to every member now, without waiting for room;
    /// returns how many it was queued for.
    ///
    /// # Errors
    ///
    /// `Codec` if a param does not serialize.
    pub fn send(self) -> crate::error::Result<usize> {
        Ok(self.members.send(&self.frame?))
    }
}

impl IntoFuture for NotifyAll {
    type Output = crate::error::Result<usize>;
    type IntoFuture = Pin<Box<dyn Future<Output = crate::error::Result<usize>> + Send>>;

    /// Waits for room in each member's queue, queues the event there, and
    /// gives how many members it was queued for.
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let frame = self.frame?;
            Ok(self.members.send_with_room(&frame).await)
        })
    }
}

/// The events of an API, sent to every member of a [`Group`](crate::Group)
/// or every connection of a [`Server`](crate::Server) at once: what
/// `group.broadcast::<XxxClient>()` returns (`XxxBroadcast`, generated by
/// `#[rpc_api]` beside the client). Its event methods are the client's,
/// nested namespaces included; each encodes its event once and returns a
/// [`NotifyAll`] to await (waiting for room) or `send`. It has no calls: a
/// reply comes from one peer, so calls go through one peer's client.
pub trait ApiBroadcast: Clone + Sized {
    /// A stub sending to `members`, with every path under `prefix`.
    #[doc(hidden)]
    fn with_members(members: Members, prefix: &str) -> Self;
}

/// The state shared by a generated broadcast stub: whom it sends to and the
/// paths of its events.
#[derive(Clone, Debug)]
pub struct BroadcastBase {
    members: Members,
    paths: Paths,
}

impl BroadcastBase {
    /// A base sending to `members` under `prefix`, for an API level with
    /// `methods` methods.
    pub fn new(members: Members, prefix: &str, methods: usize) -> Self {
        BroadcastBase {
            members,
            paths: Paths::new(prefix, methods),
        }
    }

    /// Starts the event of method number `index`, named `name`, with
    /// `count` params.
    pub fn args(&self, index: usize, name: &str, count: u32) -> Args<'_, BroadcastBase> {
        Args::new(self, self.paths.get(index, name), count)
    }
}

impl Args<'_, BroadcastBase> {
    /// The event, to every member, encoded once.
    pub fn notify_all(self) -> NotifyAll {
        let (base, outgoing) = self.finish();
        NotifyAll {
            members: base.members.clone(),
            frame: outgoing
                .map(|outgoing| encode_notification(&outgoing))
                .map_err(crate::error::Error::from),
        }
    }
}
