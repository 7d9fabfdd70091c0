//! [`ItemSink`]: how a handler answers with a stream of items.

use std::fmt;
use std::future::poll_fn;
use std::marker::PhantomData;
use std::sync::{Arc, LazyLock};

use serde::Serialize;

use crate::message::{MsgId, Outgoing, encode_notification};
use crate::peer::{Link, Producer};
use crate::protocol;
use crate::stream::Way;

/// The method name of an answer's items, made once.
static ITEM: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from(protocol::ITEM));

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
    producer: Producer,
    _item: PhantomData<fn(T)>,
}

impl<T: Serialize> ItemSink<T> {
    pub(crate) fn open(link: Arc<Link>, msgid: MsgId, credit: u32) -> Self {
        ItemSink {
            producer: Producer::open(link, msgid, Way::Answer, credit),
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
    pub async fn send(&mut self, item: &T) -> crate::error::Result<()> {
        self.producer.send(item).await
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
    /// Items still held when the stream ends (the handler returns, or the
    /// sink is dropped) are not sent: the caller is told how many, as lag.
    /// To deliver the freshest ones first, [`flush`](ItemSink::flush)
    /// before returning.
    ///
    /// # Errors
    ///
    /// As [`send`](ItemSink::send).
    pub fn send_latest(&mut self, item: &T) -> crate::error::Result<()> {
        let p = &self.producer;
        let outgoing = Outgoing::new(Arc::clone(&ITEM), &(p.msgid, item))?;
        outgoing.check_size(p.link.options.limits.max_message_size)?;
        let frames = p
            .credit
            .offer(encode_notification(&outgoing))
            .map_err(|refusal| p.refused(refusal))?;
        for frame in &frames {
            p.link.push_frame(frame)?;
        }
        Ok(())
    }

    /// Waits until the items [`send_latest`](ItemSink::send_latest) holds
    /// for want of room have gone, as the caller makes room: what a
    /// handler awaits before it returns, so that its stream ends with the
    /// latest items rather than word that they were dropped. Nothing to do
    /// for a stream sent with [`send`](ItemSink::send).
    ///
    /// ```
    /// # use dotrpc::{CallContext, Router};
    /// let router = Router::new();
    /// router.set_handler("prices", |ctx: CallContext, ticks: u64| async move {
    ///     let mut items = ctx.stream::<u64>()?;
    ///     for price in 0..ticks {
    ///         items.send_latest(&price)?;
    ///     }
    ///     items.flush().await // the last prices reach the caller
    /// });
    /// ```
    ///
    /// # Errors
    ///
    /// `Disconnected` if the connection is gone; `Cancelled` if the caller
    /// cancelled the stream.
    pub async fn flush(&mut self) -> crate::error::Result<()> {
        let p = &self.producer;
        poll_fn(|cx| p.credit.poll_flushed(cx))
            .await
            .map_err(|refusal| p.refused(refusal))
    }

    /// How many items were sent so far.
    pub fn sent(&self) -> u64 {
        self.producer.credit.used()
    }
}

impl<T> Drop for ItemSink<T> {
    fn drop(&mut self) {
        // Items held by `send_latest` are not sent: the caller is told,
        // before the stream's end.
        if let Some(lagged) = self.producer.credit.last_word() {
            let _ = self.producer.link.push_frame(&lagged);
        }
    }
}

impl<T> fmt::Debug for ItemSink<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ItemSink")
            .field("msgid", &self.producer.msgid)
            .field("sent", &self.producer.credit.used())
            .finish_non_exhaustive()
    }
}
