//! [`ItemReceiver`]: how a handler takes the stream of items its call
//! brings.

use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::Stream;
use serde::de::DeserializeOwned;

use crate::codec::CodecError;
use crate::error::Error;
use crate::message::MsgId;
use crate::peer::{Consumer, Link};
use crate::stream::{Received, Way};

/// The items a call brings as its input, made by
/// [`CallContext::receive`](crate::CallContext::receive): a
/// [`Stream`](futures_util::Stream) of `Result<T, Error>` that ends
/// (`None`) when the caller ends its input.
///
/// The caller sends only what this side has room for (the window, granted
/// again as items are taken), so however fast it is, at most a window of
/// items waits here. The handler's answer is the call's answer: it may
/// come before the input ends, which tells the caller to stop.
///
/// ```
/// # use dotrpc::{CallContext, Router};
/// let router = Router::new();
/// // `sum(stream of i64)`: the total of the items.
/// router.set_handler("sum", |ctx: CallContext| async move {
///     let mut items = ctx.receive::<i64>(64)?;
///     let mut total = 0i64;
///     while let Some(item) = items.next().await {
///         total = total.wrapping_add(item?);
///     }
///     Ok::<i64, dotrpc::Error>(total)
/// });
/// ```
pub struct ItemReceiver<T> {
    input: Consumer,
    done: bool,
    _item: PhantomData<fn() -> T>,
}

impl<T> ItemReceiver<T> {
    /// Takes the input of call `msgid`, granting room for `window` items.
    pub(crate) fn open(link: Arc<Link>, msgid: MsgId, window: u32) -> Self {
        let input = Consumer::open(link, msgid, Way::Input, window);
        // The first window: the inbox counted it when it opened.
        input.send_grant(input.window());
        ItemReceiver {
            input,
            done: false,
            _item: PhantomData,
        }
    }

    /// The next item; `None` once the caller ended its input. (The same as
    /// `StreamExt::next`, without the import.)
    pub async fn next(&mut self) -> Option<crate::error::Result<T>>
    where
        T: DeserializeOwned,
    {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }
}

impl<T: DeserializeOwned> Stream for ItemReceiver<T> {
    type Item = crate::error::Result<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let input = &mut this.input;
        let outcome = match input.inbox().poll_item(cx) {
            // Word of lag names answers only, so never comes here.
            Poll::Ready(Some(Received::Lagged(_))) => Some(Err(Error::Codec(CodecError::Serde(
                "the caller said it dropped input items, which an input cannot".into(),
            )))),
            Poll::Ready(Some(Received::Item(item))) => {
                input.took_one();
                Some(
                    rmp_serde::from_slice::<(MsgId, T)>(item.as_bytes())
                        .map(|(_, item)| item)
                        .map_err(|e| {
                            Error::Codec(CodecError::Serde(format!("an input item: {e}")))
                        }),
                )
            }
            Poll::Ready(None) | Poll::Pending => {
                let inbox = input.inbox();
                if inbox.overflowed() {
                    Some(Err(Error::Codec(CodecError::Serde(
                        "the caller sent more input items than it was given room for".into(),
                    ))))
                } else if inbox.ended() {
                    None
                } else if let Some(reason) = inbox.cut() {
                    Some(Err(Error::Disconnected {
                        reason: reason.clone(),
                    }))
                } else if input.link.reason().is_some() {
                    Some(Err(input.link.disconnected()))
                } else {
                    return Poll::Pending;
                }
            }
        };
        if !matches!(outcome, Some(Ok(_))) {
            this.done = true;
        }
        Poll::Ready(outcome)
    }
}

impl<T> fmt::Debug for ItemReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ItemReceiver")
            .field("msgid", &self.input.msgid)
            .field("window", &self.input.window())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
