//! [`ItemSink`]: how a handler answers with a stream of items.

use std::fmt;
use std::future::poll_fn;
use std::marker::PhantomData;
use std::sync::{Arc, LazyLock};

use serde::Serialize;

use crate::codec::CodecError;
use crate::error::Error;
use crate::message::{MsgId, Outgoing};
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
    sent: u64,
    _item: PhantomData<fn(T)>,
}

impl<T: Serialize> ItemSink<T> {
    pub(crate) fn open(link: Arc<Link>, msgid: MsgId, credit: u32) -> Self {
        let credit = link.streams.produce((msgid, Way::Answer), credit);
        ItemSink {
            link,
            msgid,
            credit,
            sent: 0,
            _item: PhantomData,
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
        let sent = self.sent;
        poll_fn(|cx| self.credit.poll_room(sent, cx))
            .await
            .map_err(|refusal| match refusal {
                Refusal::Closed => self.link.disconnected(),
                Refusal::Overgranted => Error::Misuse {
                    message: "the caller granted more room than a stream may have",
                },
            })?;
        let outgoing = Outgoing::new(Arc::clone(&ITEM), &(self.msgid, item))?;
        let max = self.link.options.limits.max_message_size;
        if outgoing.max_frame_len() > max {
            return Err(Error::Codec(CodecError::TooLarge {
                size: outgoing.max_frame_len() as u64,
                max,
            }));
        }
        if !self.link.has_room() {
            self.link.room().await;
        }
        self.link
            .push(|frames| frames.push_notification(&outgoing))?;
        self.sent += 1;
        Ok(())
    }

    /// How many items were sent so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }
}

impl<T> Drop for ItemSink<T> {
    fn drop(&mut self) {
        self.link.streams.stop_producing((self.msgid, Way::Answer));
    }
}

impl<T> fmt::Debug for ItemSink<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ItemSink")
            .field("msgid", &self.msgid)
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}
