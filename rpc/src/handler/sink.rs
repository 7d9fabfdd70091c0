//! [`ItemSink`]: how a handler answers with a stream of items.

use std::fmt;
use std::future::poll_fn;
use std::marker::PhantomData;
use std::sync::{Arc, LazyLock};

use serde::Serialize;

use crate::codec::CodecError;
use crate::error::Error;
use crate::message::{MsgId, Outgoing, notification_frame};
use crate::peer::Link;
use crate::stream::{self, Credit, Refusal, Way};

/// The method name of every item, made once.
static ITEM: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from(stream::ITEM));

/// The sending end of a stream a handler answers with, made by
/// [`CallContext::stream`](crate::CallContext::stream).
///
/// [`send`](ItemSink::send) waits until the caller has room for the item
/// (each stream has its own window, so a slow reader holds back its own
/// stream only), then queues it. The handler's answer ends the stream: `Ok`
/// ends it, an error ends it with that error, told apart from a cancel and
/// from a dropped connection. If the caller drops its end, the handler is
/// dropped where it waits (its destructors run); nothing more is sent.
///
/// ```
/// # use dotrpc::{CallContext, Router};
/// let router = Router::new();
/// // `count(n)`: the integers 0..n, as the caller takes them.
/// router.set_handler("count", |ctx: CallContext, n: u64| async move {
///     let mut items = ctx.stream::<u64>()?;
///     for i in 0..n {
///         items.send(&i).await?;
///     }
///     Ok::<(), dotrpc::Error>(())
/// });
/// ```
pub struct ItemSink<T> {
    link: Arc<Link>,
    msgid: MsgId,
    credit: Arc<Credit>,
    _item: PhantomData<fn(T)>,
}

impl<T: Serialize> ItemSink<T> {
    pub(crate) fn open(link: Arc<Link>, msgid: MsgId, credit: u32) -> Self {
        let credit = link.streams.produce((msgid, Way::Answer), credit);
        ItemSink {
            link,
            msgid,
            credit,
            _item: PhantomData,
        }
    }

    /// The item as its message, within the maximum message size.
    fn encode(&self, item: &T) -> crate::Result<Outgoing> {
        let outgoing = Outgoing::new(Arc::clone(&ITEM), &(self.msgid, item))?;
        let max = self.link.options.limits.max_message_size;
        if outgoing.max_frame_len() > max {
            return Err(Error::Codec(CodecError::TooLarge {
                size: outgoing.max_frame_len() as u64,
                max,
            }));
        }
        Ok(outgoing)
    }

    fn refused(&self, refusal: Refusal) -> Error {
        match refusal {
            // An answer stream is never refused for an answer: it is one.
            Refusal::Closed | Refusal::Answered => self.link.disconnected(),
            Refusal::Overgranted => Error::Misuse {
                message: "the caller granted more room than a stream may have",
            },
        }
    }

    /// Sends one item, once the caller has room for it and the connection
    /// is below its send buffer.
    ///
    /// # Errors
    ///
    /// `Disconnected` if the connection is gone; `Codec` if the item does
    /// not encode or is larger than the maximum message size; `Misuse` if
    /// the caller granted more room than a stream may have (65 536 items
    /// ahead): returning the error ends the stream with it.
    pub async fn send(&mut self, item: &T) -> crate::Result<()> {
        poll_fn(|cx| self.credit.poll_room(cx))
            .await
            .map_err(|refusal| self.refused(refusal))?;
        if !self.link.has_room() {
            self.link.room().await;
        }
        // Encoded straight into the connection's queue.
        let max = self.link.options.limits.max_message_size;
        let mut encoded = Ok(());
        self.link.push(|frames| {
            encoded = frames.push_item(stream::ITEM, self.msgid, item, max);
        })?;
        encoded?;
        self.credit.used_one();
        Ok(())
    }

    /// Sends one item if the caller has room for it, and never waits: for
    /// feeds where the latest item matters more than every item. Without
    /// room, the item is held, and so are the latest ones after it, up to
    /// the caller's first window; older ones are dropped. When room comes,
    /// the caller is told how many were dropped
    /// ([`Error::Lagged`](crate::Error::Lagged), which does not end the
    /// stream) before the items held. A stream is sent either with this or
    /// with [`send`](ItemSink::send), not both.
    ///
    /// # Errors
    ///
    /// As [`send`](ItemSink::send).
    pub fn send_latest(&mut self, item: &T) -> crate::Result<()> {
        let outgoing = self.encode(item)?;
        let frames = self
            .credit
            .offer(notification_frame(&outgoing))
            .map_err(|refusal| self.refused(refusal))?;
        for frame in &frames {
            self.link.push_frame(frame)?;
        }
        Ok(())
    }

    /// How many items were sent so far.
    pub fn sent(&self) -> u64 {
        self.credit.used()
    }
}

impl<T> Drop for ItemSink<T> {
    fn drop(&mut self) {
        self.link.streams.stop_producing((self.msgid, Way::Answer));
        // Items held by `send_latest` are not sent: the caller is told,
        // before the stream's end.
        if let Some(lagged) = self.credit.last_word() {
            let _ = self.link.push_frame(&lagged);
        }
    }
}

impl<T> fmt::Debug for ItemSink<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ItemSink")
            .field("msgid", &self.msgid)
            .field("sent", &self.credit.used())
            .finish_non_exhaustive()
    }
}
