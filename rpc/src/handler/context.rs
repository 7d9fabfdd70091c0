//! [`CallContext`]: what a handler knows about the call it answers.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::receiver::ItemReceiver;
use super::sink::ItemSink;
use crate::message::MsgId;
use crate::peer::Peer;

/// What a handler knows about the call it is answering.
#[derive(Clone)]
pub struct CallContext {
    msgid: Option<MsgId>,
    method: Arc<str>,
    peer: Peer,
    deadline: Option<Instant>,
    /// The first window of items the call's metadata granted, if any.
    credit: Option<u32>,
}

/// The context of one inbound call.
pub(crate) fn new_context(
    msgid: Option<MsgId>,
    method: Arc<str>,
    peer: Peer,
    deadline: Option<Instant>,
    credit: Option<u32>,
) -> CallContext {
    CallContext {
        msgid,
        method,
        peer,
        deadline,
        credit,
    }
}

impl CallContext {
    /// When the caller stops waiting, if it said so (a dotrpc caller that set
    /// a timeout). The handler is dropped then, and calls it makes meanwhile
    /// inherit the deadline.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// How long the caller will still wait, if it said so.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|deadline| deadline.saturating_duration_since(Instant::now()))
    }

    /// The request's msgid; `None` for a notification.
    pub fn msgid(&self) -> Option<MsgId> {
        self.msgid
    }

    /// Whether the caller waits for a reply (a request, not a notification).
    pub fn expects_reply(&self) -> bool {
        self.msgid.is_some()
    }

    /// The dot-joined path that was called.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The path, shared.
    pub(crate) fn method_arc(&self) -> &Arc<str> {
        &self.method
    }

    /// The peer that made the call, to call or notify it back.
    ///
    /// Calling back into the caller from inside a handler is safe: the
    /// connection keeps reading while handlers run, so the reply can arrive.
    pub fn peer(&self) -> &Peer {
        &self.peer
    }

    /// Answers this call with a stream of items: the returned sink sends
    /// them as the caller grants room, and the handler's own answer (`Ok`
    /// of nothing, or an error) ends the stream. See [`ItemSink`].
    ///
    /// # Errors
    ///
    /// `Misuse` for a notification, which has no caller to stream to.
    pub fn stream<T: Serialize>(&self) -> crate::error::Result<ItemSink<T>> {
        let msgid = self.msgid.ok_or(crate::error::Error::Misuse {
            message: "a notification cannot answer with a stream: only a call can",
        })?;
        // Without a first window the stream starts with no room: a foreign
        // caller may grant it with `rpc.credit` alone.
        Ok(ItemSink::open(
            self.peer.link(),
            msgid,
            self.credit.unwrap_or(0),
        ))
    }

    /// Takes the stream of items this call brings as its input (the caller
    /// sent it with [`Peer::upload`](crate::Peer::upload)), letting the
    /// caller send `window` items ahead of what the handler took (at most
    /// 65 536). See [`ItemReceiver`].
    ///
    /// # Errors
    ///
    /// `Misuse` for a notification, which brings no stream.
    pub fn receive<T: DeserializeOwned>(
        &self,
        window: u32,
    ) -> crate::error::Result<ItemReceiver<T>> {
        let msgid = self.msgid.ok_or(crate::error::Error::Misuse {
            message: "a notification brings no stream: only a call can",
        })?;
        Ok(ItemReceiver::open(self.peer.link(), msgid, window))
    }
}

impl fmt::Debug for CallContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallContext")
            .field("msgid", &self.msgid)
            .field("method", &self.method)
            .field("deadline", &self.deadline)
            .finish()
    }
}
