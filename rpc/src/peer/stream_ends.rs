//! The two ends of a stream on one connection, whichever way it runs:
//! [`Producer`] sends items into the room the other side granted, and
//! [`Consumer`] takes the items that arrive and grants room again. A
//! handler's [`ItemSink`](crate::ItemSink) and a caller's
//! [`Upload`](crate::Upload) and [`Conversation`](crate::Conversation)
//! send with a `Producer`; a caller's [`ItemStream`](crate::ItemStream)
//! and a handler's [`ItemReceiver`](crate::ItemReceiver) take with a
//! `Consumer`. Both work on a connection's [`Link`]: their state (credit,
//! inbox) is registered in its streams, where the connection's task
//! delivers the other side's stream messages (`crate::stream`).

use std::future::poll_fn;
use std::sync::{Arc, LazyLock};

use serde::Serialize;

use super::link::Link;
use crate::error::Error;
use crate::message::{MsgId, Outgoing};
use crate::protocol;
use crate::stream::{Credit, Inbox, MAX_WINDOW, Refusal, Way};

/// The method names of the messages the ends send, made once.
static INPUT_END: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from(protocol::INPUT_END));
static CREDIT: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from(protocol::CREDIT));
static INPUT_CREDIT: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from(protocol::INPUT_CREDIT));

/// The sending side of one stream: the room the other side granted, and
/// the items sent into it.
pub(crate) struct Producer {
    pub(crate) link: Arc<Link>,
    pub(crate) msgid: MsgId,
    way: Way,
    pub(crate) credit: Arc<Credit>,
}

impl Producer {
    /// Starts sending the `way` stream of call `msgid`, with `credit` items
    /// granted so far.
    pub(crate) fn open(link: Arc<Link>, msgid: MsgId, way: Way, credit: u32) -> Producer {
        let credit = link.streams.produce((msgid, way), credit);
        Producer {
            link,
            msgid,
            way,
            credit,
        }
    }

    /// Sends one item once there is room for it (the other side's and the
    /// connection's), encoded straight into the connection's queue.
    pub(crate) async fn send<T: Serialize + ?Sized>(&self, item: &T) -> crate::error::Result<()> {
        poll_fn(|cx| self.credit.poll_room(cx))
            .await
            .map_err(|refusal| self.refused(refusal))?;
        if !self.link.has_room() {
            self.link.room().await;
        }
        let method = match self.way {
            Way::Answer => protocol::ITEM,
            Way::Input => protocol::INPUT,
        };
        let max = self.link.options.limits.max_message_size;
        let mut encoded = Ok(());
        self.link.push(|frames| {
            encoded = frames.push_item(method, self.msgid, item, max);
        })?;
        encoded?;
        self.credit.used_one();
        Ok(())
    }

    /// Ends an input stream: `rpc.input_end`.
    pub(crate) fn end_input(&self) {
        if let Ok(end) = Outgoing::new(Arc::clone(&INPUT_END), &(self.msgid,)) {
            let _ = self.link.push(|frames| frames.push_notification(&end));
        }
    }

    /// The error a send that may not go fails with.
    pub(crate) fn refused(&self, refusal: Refusal) -> Error {
        match refusal {
            Refusal::Closed => self.link.disconnected(),
            // The call was answered, which ends its input.
            Refusal::Answered => Error::Cancelled,
            Refusal::Overgranted => Error::Misuse {
                message: "the other side granted more room than a stream may have",
            },
        }
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.link.streams.stop_producing((self.msgid, self.way));
    }
}

/// The receiving side of one stream: the items that arrived, and the room
/// granted for more. Room is granted again once half the window was
/// taken, so the producer never waits on a consumer that keeps up, and at
/// most a window of items waits here.
pub(crate) struct Consumer {
    pub(crate) link: Arc<Link>,
    pub(crate) msgid: MsgId,
    way: Way,
    inbox: Arc<Inbox>,
    window: u32,
    /// Items taken since room was last granted.
    taken: u32,
}

impl Consumer {
    /// Starts taking the `way` stream of call `msgid` with room for
    /// `window` items (1 to [`MAX_WINDOW`]), counted as granted: the
    /// caller tells the first window in its request, a handler with
    /// [`send_grant`](Consumer::send_grant).
    pub(crate) fn open(link: Arc<Link>, msgid: MsgId, way: Way, window: u32) -> Consumer {
        let window = window.clamp(1, MAX_WINDOW);
        let inbox = link.streams.consume((msgid, way), window);
        Consumer {
            link,
            msgid,
            way,
            inbox,
            window,
            taken: 0,
        }
    }

    /// What arrived, and how the stream stands.
    pub(crate) fn inbox(&self) -> &Inbox {
        &self.inbox
    }

    /// The room the stream grants at a time.
    pub(crate) fn window(&self) -> u32 {
        self.window
    }

    /// Counts an item taken, and grants the room taken again once it is
    /// half the window.
    pub(crate) fn took_one(&mut self) {
        self.taken += 1;
        if self.taken >= self.window.div_ceil(2) {
            self.inbox.grant(self.taken);
            self.send_grant(self.taken);
            self.taken = 0;
        }
    }

    /// Tells the producer it has room for `n` more items (`rpc.credit` for
    /// an answer, `rpc.input_credit` for an input).
    pub(crate) fn send_grant(&self, n: u32) {
        let method = match self.way {
            Way::Answer => &CREDIT,
            Way::Input => &INPUT_CREDIT,
        };
        if let Ok(grant) = Outgoing::new(Arc::clone(method), &(self.msgid, n)) {
            let _ = self.link.push(|frames| frames.push_notification(&grant));
        }
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.link.streams.stop_consuming((self.msgid, self.way));
    }
}
