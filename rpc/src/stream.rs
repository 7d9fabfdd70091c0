//! Streams: a call whose answer is a sequence of items, each stream with
//! its own flow control. This module holds a connection's stream state; the
//! consumer is [`ItemStream`](crate::ItemStream), the producer
//! [`ItemSink`](crate::ItemSink).
//!
//! On the wire a stream is a call and notifications, plain msgpack-rpc:
//!
//! * the caller opens it with a request whose call metadata grants a first
//!   window of items, `[0, id, method, params, {"credit": n}]`;
//! * the handler sends each item as `[2, "rpc.item", [id, item]]`, one per
//!   credit; with no credit left it waits;
//! * the caller grants more as it takes items, `[2, "rpc.credit", [id, n]]`;
//! * the handler ends the stream by answering the request: a result of nil
//!   for the end, an error object for an end with an error;
//! * the caller stops it early with `[2, "rpc.cancel", [id]]`: the handler
//!   is dropped and nothing more is sent, not even the answer.
//!
//! Each stream is held back by its own consumer only: items are sent only
//! against credit, so a slow consumer leaves the connection free for every
//! other stream and call, and no side holds more than the window of one
//! stream's items. A producer that sends beyond the credit, or a consumer
//! that grants more than [`MAX_WINDOW`] items ahead, ends that stream with
//! an error and nothing else. Items or credit for a stream that is not
//! open (one just cancelled, or a made-up id) are dropped.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;

use crate::message::{MsgId, Params};

/// The notification that carries one item: `[id, item]`.
pub(crate) const ITEM: &str = "rpc.item";
/// The notification that grants more items: `[id, n]`.
pub(crate) const CREDIT: &str = "rpc.credit";

/// The most items a consumer may have asked for and not yet received.
pub(crate) const MAX_WINDOW: u32 = 1 << 16;

/// The streams of one connection, by the msgid of their call.
#[derive(Default)]
pub(crate) struct Streams {
    /// Streams this side produces (it is answering their calls).
    producing: Mutex<HashMap<MsgId, Arc<Credit>>>,
    /// Streams this side consumes (it made their calls).
    consuming: Mutex<HashMap<MsgId, Arc<Inbox>>>,
}

impl Streams {
    /// Starts producing the stream of call `msgid`, with `credit` items
    /// granted so far.
    pub(crate) fn produce(&self, msgid: MsgId, credit: u32) -> Arc<Credit> {
        let credit = Arc::new(Credit {
            granted: AtomicU64::new(u64::from(credit.min(MAX_WINDOW))),
            refused: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        });
        lock(&self.producing).insert(msgid, Arc::clone(&credit));
        credit
    }

    pub(crate) fn stop_producing(&self, msgid: MsgId) {
        lock(&self.producing).remove(&msgid);
    }

    /// The consumer of `msgid` grants `n` more items; `false` if no such
    /// stream is being produced.
    pub(crate) fn grant(&self, msgid: MsgId, n: u32) -> bool {
        let Some(credit) = lock(&self.producing).get(&msgid).cloned() else {
            return false;
        };
        credit.granted.fetch_add(u64::from(n), Ordering::AcqRel);
        credit.waker.wake();
        true
    }

    /// Starts consuming the stream of call `msgid`, taking at most `window`
    /// items ahead of the consumer.
    pub(crate) fn consume(&self, msgid: MsgId, window: u32) -> Arc<Inbox> {
        let inbox = Arc::new(Inbox {
            items: Mutex::new(VecDeque::new()),
            window: window as usize,
            overflowed: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        });
        lock(&self.consuming).insert(msgid, Arc::clone(&inbox));
        inbox
    }

    pub(crate) fn stop_consuming(&self, msgid: MsgId) {
        lock(&self.consuming).remove(&msgid);
    }

    /// An item of stream `msgid` arrived; `false` if no such stream is
    /// being consumed (it was cancelled, or never was).
    pub(crate) fn deliver(&self, msgid: MsgId, item: Params) -> bool {
        let Some(inbox) = lock(&self.consuming).get(&msgid).cloned() else {
            return false;
        };
        inbox.push(item);
        true
    }

    /// The connection closed: producers waiting for credit stop waiting.
    pub(crate) fn close(&self) {
        for credit in lock(&self.producing).values() {
            credit.refused.store(true, Ordering::Release);
            credit.waker.wake();
        }
    }
}

/// The stream a `rpc.item` or `rpc.credit` is for: its first param.
pub(crate) fn stream_id(params: &Params) -> Option<MsgId> {
    if params.is_empty() {
        return None;
    }
    rmp::decode::read_int(&mut params.items()).ok()
}

/// The `n` of a `rpc.credit [id, n]` (at most `u32::MAX`).
pub(crate) fn granted(params: &Params) -> Option<(MsgId, u32)> {
    if params.len() != 2 {
        return None;
    }
    let mut items = params.items();
    let msgid = rmp::decode::read_int(&mut items).ok()?;
    let n: u64 = rmp::decode::read_int(&mut items).ok()?;
    Some((msgid, u32::try_from(n).unwrap_or(u32::MAX)))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What a producer may send: the items its consumer granted.
pub(crate) struct Credit {
    /// Every item granted since the stream opened.
    granted: AtomicU64,
    /// Set when sending must stop: the connection closed.
    refused: AtomicBool,
    waker: AtomicWaker,
}

/// Why a producer may not send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The connection closed.
    Closed,
    /// The consumer granted more than [`MAX_WINDOW`] items ahead.
    Overgranted,
}

impl Credit {
    /// Ready once an item beyond the `sent` ones may go.
    pub(crate) fn poll_room(&self, sent: u64, cx: &mut Context<'_>) -> Poll<Result<(), Refusal>> {
        if let Some(ready) = self.room(sent) {
            return Poll::Ready(ready);
        }
        self.waker.register(cx.waker());
        match self.room(sent) {
            Some(ready) => Poll::Ready(ready),
            None => Poll::Pending,
        }
    }

    fn room(&self, sent: u64) -> Option<Result<(), Refusal>> {
        if self.refused.load(Ordering::Acquire) {
            return Some(Err(Refusal::Closed));
        }
        let ahead = self.granted.load(Ordering::Acquire).saturating_sub(sent);
        match ahead {
            0 => None,
            ahead if ahead > u64::from(MAX_WINDOW) => Some(Err(Refusal::Overgranted)),
            _ => Some(Ok(())),
        }
    }
}

/// The items a consumer has received and not yet taken.
pub(crate) struct Inbox {
    items: Mutex<VecDeque<Params>>,
    window: usize,
    /// The producer sent more than the window.
    overflowed: AtomicBool,
    waker: AtomicWaker,
}

impl Inbox {
    fn push(&self, item: Params) {
        {
            let mut items = lock(&self.items);
            if items.len() >= self.window {
                self.overflowed.store(true, Ordering::Release);
            } else {
                items.push_back(item);
            }
        }
        self.waker.wake();
    }

    /// The next item, or `Pending` with the waker registered.
    pub(crate) fn poll_item(&self, cx: &mut Context<'_>) -> Poll<Option<Params>> {
        if let Some(item) = lock(&self.items).pop_front() {
            return Poll::Ready(Some(item));
        }
        self.waker.register(cx.waker());
        match lock(&self.items).pop_front() {
            Some(item) => Poll::Ready(Some(item)),
            None => Poll::Pending,
        }
    }

    /// The next item, if one is here.
    pub(crate) fn pop(&self) -> Option<Params> {
        lock(&self.items).pop_front()
    }

    /// Whether the producer sent more items than it was granted.
    pub(crate) fn overflowed(&self) -> bool {
        self.overflowed.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    fn item(n: i64) -> Params {
        Params::from_values(&[1.into(), n.into()])
    }

    #[test]
    fn ids_and_grants_are_read_from_the_params() {
        assert_eq!(stream_id(&item(5)), Some(1));
        assert_eq!(stream_id(&Params::from_values(&[])), None);
        assert_eq!(stream_id(&Params::from_values(&["x".into()])), None);
        let credit = |values: &[rmpv::Value]| granted(&Params::from_values(values));
        assert_eq!(credit(&[4.into(), 16.into()]), Some((4, 16)));
        assert_eq!(credit(&[4.into(), u64::MAX.into()]), Some((4, u32::MAX)));
        assert_eq!(credit(&[4.into(), (-1).into()]), None);
        assert_eq!(credit(&[4.into()]), None);
    }

    #[test]
    fn a_producer_sends_only_what_was_granted() {
        let streams = Streams::default();
        let credit = streams.produce(7, 2);
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(credit.poll_room(0, &mut cx), Poll::Ready(Ok(())));
        assert_eq!(credit.poll_room(1, &mut cx), Poll::Ready(Ok(())));
        assert_eq!(credit.poll_room(2, &mut cx), Poll::Pending);
        assert!(streams.grant(7, 1));
        assert_eq!(credit.poll_room(2, &mut cx), Poll::Ready(Ok(())));
        assert!(!streams.grant(8, 1), "no such stream");

        assert!(streams.grant(7, MAX_WINDOW));
        assert_eq!(
            credit.poll_room(3, &mut cx),
            Poll::Ready(Err(Refusal::Overgranted))
        );
        streams.stop_producing(7);
        assert!(!streams.grant(7, 1), "stopped");
    }

    #[test]
    fn a_closed_connection_refuses_waiting_producers() {
        let streams = Streams::default();
        let credit = streams.produce(1, 0);
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(credit.poll_room(0, &mut cx), Poll::Pending);
        streams.close();
        assert_eq!(
            credit.poll_room(0, &mut cx),
            Poll::Ready(Err(Refusal::Closed))
        );
    }

    #[test]
    fn a_consumer_holds_at_most_its_window() {
        let streams = Streams::default();
        let inbox = streams.consume(3, 2);
        assert!(streams.deliver(3, item(0)));
        assert!(streams.deliver(3, item(1)));
        assert!(!inbox.overflowed());
        assert!(streams.deliver(3, item(2)), "beyond the window");
        assert!(inbox.overflowed());
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(inbox.poll_item(&mut cx), Poll::Ready(Some(item(0))));
        assert_eq!(inbox.pop(), Some(item(1)));
        assert_eq!(inbox.poll_item(&mut cx), Poll::Pending);
        streams.stop_consuming(3);
        assert!(!streams.deliver(3, item(3)), "not consumed any more");
    }
}
