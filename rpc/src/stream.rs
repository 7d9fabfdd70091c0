//! Streams: a call whose answer is a sequence of items, each stream with
//! its own flow control. This module holds a connection's stream state; the
//! consumer is [`ItemStream`](crate::ItemStream), the producer
//! [`ItemSink`](crate::ItemSink).
//!
//! On the wire a stream is a call and notifications, plain msgpack-rpc. A
//! call may answer with a stream of items:
//!
//! * the caller opens it with a request whose call metadata grants a first
//!   window of items, `[0, id, method, params, {"credit": n}]`;
//! * the handler sends each item as `[2, "rpc.item", [id, item]]`, one per
//!   credit; with no credit left it waits;
//! * the caller grants more as it takes items, `[2, "rpc.credit", [id, n]]`;
//! * the handler ends the stream by answering the request: a result of nil
//!   for the end, an error object for an end with an error;
//! * the caller stops it early with `[2, "rpc.cancel", [id]]`: the handler
//!   is dropped and nothing more is sent, not even the answer;
//! * a handler that keeps only the latest items when the caller falls
//!   behind says how many it dropped before the next item it sends,
//!   `[2, "rpc.lagged", [id, n]]` (it uses no credit).
//!
//! A call may also take a stream of items as its input, the other way:
//!
//! * the handler grants room, `[2, "rpc.input_credit", [id, n]]` (the
//!   caller sends nothing before);
//! * the caller sends each item as `[2, "rpc.input", [id, item]]`, one per
//!   credit, and ends the input with `[2, "rpc.input_end", [id]]`;
//! * the handler answers the request as any call; once it has, the caller
//!   stops sending. A caller that gives up sends `rpc.cancel`.
//!
//! A call may do both (a conversation). `id` is always the msgid of the
//! call, which the caller chose, so each message's name says whose msgid it
//! is: `rpc.item`, `rpc.input_credit` go to the caller, `rpc.credit`,
//! `rpc.input`, `rpc.input_end` to the handler.
//!
//! Each stream is held back by its own consumer only: items are sent only
//! against credit, so a slow consumer leaves the connection free for every
//! other stream and call, and no side holds more than the window of one
//! stream's items. A producer that sends beyond the credit, or a consumer
//! that grants more than [`MAX_WINDOW`] items ahead, ends that stream with
//! an error and nothing else. Items or credit for a stream that is not
//! open (one just cancelled, or a made-up id) are dropped.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::task::AtomicWaker;

use crate::error::DisconnectReason;
use crate::message::{MsgId, Outgoing, Params, notification_frame};

/// An item of a call's answer: `[id, item]`.
pub(crate) const ITEM: &str = "rpc.item";
/// Room for more items of a call's answer: `[id, n]`.
pub(crate) const CREDIT: &str = "rpc.credit";
/// Items of a call's answer dropped to keep it current: `[id, n]`.
pub(crate) const LAGGED: &str = "rpc.lagged";
/// An item of a call's input: `[id, item]`.
pub(crate) const INPUT: &str = "rpc.input";
/// Room for more items of a call's input: `[id, n]`.
pub(crate) const INPUT_CREDIT: &str = "rpc.input_credit";
/// The end of a call's input: `[id]`.
pub(crate) const INPUT_END: &str = "rpc.input_end";

/// Which of a call's streams: its answer, or its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Way {
    Answer,
    Input,
}

/// What became of an item that arrived for a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    Taken,
    /// No such stream is being consumed (cancelled a moment ago, or never).
    NoStream,
    /// The producer sent beyond the `window` it was granted.
    Overrun {
        window: usize,
    },
}

/// A stream: its call's msgid, and which way it goes.
type Key = (MsgId, Way);

/// The most items a consumer may have asked for and not yet received.
pub(crate) const MAX_WINDOW: u32 = crate::message::MAX_CREDIT;

/// The streams of one connection, by their call's msgid and way.
#[derive(Default)]
pub(crate) struct Streams {
    /// Set once no more credit can come: streams started after end when
    /// they run out of room too.
    draining: AtomicBool,
    /// How many streams this side sends, so that the answer to every call
    /// need not look for an input stream to end (see [`answered`](Streams::answered)).
    producing_count: AtomicUsize,
    /// Streams this side sends: their credit.
    producing: Mutex<HashMap<Key, Arc<Credit>>>,
    /// Streams this side receives: their items.
    consuming: Mutex<HashMap<Key, Arc<Inbox>>>,
}

impl Streams {
    /// Starts producing the stream of call `msgid`, with `credit` items
    /// granted so far.
    pub(crate) fn produce(&self, key: Key, credit: u32) -> Arc<Credit> {
        let credit = credit.min(MAX_WINDOW);
        let credit = Arc::new(Credit {
            msgid: key.0,
            granted: AtomicU64::new(u64::from(credit)),
            used: AtomicU64::new(0),
            refused: AtomicU8::new(0),
            no_more: AtomicBool::new(self.draining.load(Ordering::Acquire)),
            waker: AtomicWaker::new(),
            backlog: Mutex::new(Backlog {
                frames: VecDeque::new(),
                dropped: 0,
                keep: credit.max(1) as usize,
            }),
        });
        let mut producing = lock(&self.producing);
        producing.insert(key, Arc::clone(&credit));
        self.producing_count
            .store(producing.len(), Ordering::Release);
        credit
    }

    pub(crate) fn stop_producing(&self, key: Key) {
        let mut producing = lock(&self.producing);
        producing.remove(&key);
        self.producing_count
            .store(producing.len(), Ordering::Release);
    }

    /// The call `msgid` this side made was answered: its input, if it sends
    /// one, is over. Inlined: for a connection that sends no stream, every
    /// answer costs one load.
    #[inline]
    pub(crate) fn answered(&self, msgid: MsgId) {
        if self.producing_count.load(Ordering::Acquire) != 0 {
            self.end_input(msgid);
        }
    }

    #[inline(never)]
    fn end_input(&self, msgid: MsgId) {
        if let Some(credit) = lock(&self.producing).get(&(msgid, Way::Input)) {
            credit.refuse(Refusal::Answered);
        }
    }

    /// The consumer of `key` grants `n` more items: the producer may go on,
    /// and items it kept for want of room (see [`Credit::offer`]) are
    /// returned, to be sent now. `None` if no such stream is being produced.
    ///
    /// The held items released are handed to `push` before the producer is
    /// woken: a producer waiting for its held items to go
    /// ([`Credit::poll_flushed`]) finds them queued, not on their way.
    pub(crate) fn grant(
        &self,
        key: Key,
        n: u32,
        mut push: impl FnMut(&Bytes),
    ) -> Option<Vec<Bytes>> {
        let credit = lock(&self.producing).get(&key).cloned()?;
        credit.granted.fetch_add(u64::from(n), Ordering::AcqRel);
        let released = {
            let mut backlog = lock(&credit.backlog);
            let released = credit.flush(&mut backlog).unwrap_or_default();
            released.iter().for_each(&mut push);
            released
        };
        credit.waker.wake();
        Some(released)
    }

    /// Starts consuming the stream of call `msgid`, taking at most `window`
    /// items ahead of the consumer.
    pub(crate) fn consume(&self, key: Key, window: u32) -> Arc<Inbox> {
        let inbox = Arc::new(Inbox {
            items: Mutex::new(Held::default()),
            window: window as usize,
            granted: AtomicU64::new(u64::from(window)),
            received: AtomicU64::new(0),
            overflowed: AtomicBool::new(false),
            ended: AtomicBool::new(false),
            cut: OnceLock::new(),
            waker: AtomicWaker::new(),
        });
        lock(&self.consuming).insert(key, Arc::clone(&inbox));
        inbox
    }

    pub(crate) fn stop_consuming(&self, key: Key) {
        lock(&self.consuming).remove(&key);
    }

    /// An item of stream `key` arrived; `false` if no such stream is being
    /// consumed (it was cancelled, or never was).
    pub(crate) fn deliver(&self, key: Key, item: Params) -> Delivery {
        let Some(inbox) = lock(&self.consuming).get(&key).cloned() else {
            return Delivery::NoStream;
        };
        if inbox.push(item) {
            Delivery::Taken
        } else {
            Delivery::Overrun {
                window: inbox.window,
            }
        }
    }

    /// Stream `key`'s producer dropped `n` items to keep it current;
    /// `false` if no such stream is being consumed.
    pub(crate) fn lagged(&self, key: Key, n: u64) -> bool {
        let Some(inbox) = lock(&self.consuming).get(&key).cloned() else {
            return false;
        };
        inbox.push_lagged(n);
        true
    }

    /// Stream `key`'s producer ended it; `false` if no such stream is
    /// being consumed.
    pub(crate) fn end(&self, key: Key) -> bool {
        let Some(inbox) = lock(&self.consuming).get(&key).cloned() else {
            return false;
        };
        inbox.ended.store(true, Ordering::Release);
        inbox.waker.wake();
        true
    }

    /// Whether any stream is open on the connection, either way.
    pub(crate) fn any_open(&self) -> bool {
        self.producing_count.load(Ordering::Acquire) != 0 || !lock(&self.consuming).is_empty()
    }

    /// No more credit can come (the connection reads nothing new): each
    /// producer may still use the room it has, and ends when it would wait
    /// for more.
    /// So are consumers: an input not ended by now never will be.
    pub(crate) fn drain(&self) {
        self.draining.store(true, Ordering::Release);
        for credit in lock(&self.producing).values() {
            credit.refuse_more();
        }
        self.cut(&DisconnectReason::Shutdown);
    }

    /// Nothing more is read (the other side closed, or the connection
    /// did): producers waiting for credit and consumers waiting for items
    /// stop waiting.
    pub(crate) fn close(&self, reason: &DisconnectReason) {
        for credit in lock(&self.producing).values() {
            credit.refuse(Refusal::Closed);
        }
        self.cut(reason);
    }

    /// Every stream being consumed gets nothing more, for `reason`.
    fn cut(&self, reason: &DisconnectReason) {
        for inbox in lock(&self.consuming).values() {
            let _ = inbox.cut.set(reason.clone());
            inbox.waker.wake();
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
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What a producer may send: the items its consumer granted.
pub(crate) struct Credit {
    msgid: MsgId,
    /// Every item granted since the stream opened.
    granted: AtomicU64,
    /// Every item sent since the stream opened.
    used: AtomicU64,
    /// Set when sending must stop: a [`Refusal`] as a number, 0 for none.
    refused: AtomicU8,
    /// Set when no more credit can come: out of room is the end.
    no_more: AtomicBool,
    waker: AtomicWaker,
    /// What a producer that keeps only the latest items holds back.
    backlog: Mutex<Backlog>,
}

/// The items a producer that keeps only the latest holds for want of room.
struct Backlog {
    /// Encoded `rpc.item` frames, oldest first.
    frames: VecDeque<Bytes>,
    /// Items dropped since the consumer was last told.
    dropped: u64,
    /// The most items held: the consumer's first window.
    keep: usize,
}

/// Why a producer may not send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The connection closed.
    Closed = 1,
    /// The consumer granted more than [`MAX_WINDOW`] items ahead.
    Overgranted = 2,
    /// The call was answered, which ends its input.
    Answered = 3,
}

impl Credit {
    /// No more credit will come; wakes the producer if it waits for some.
    fn refuse_more(&self) {
        self.no_more.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Stops the producer (the first reason stays), waking it if it waits.
    fn refuse(&self, refusal: Refusal) {
        let _ =
            self.refused
                .compare_exchange(0, refusal as u8, Ordering::AcqRel, Ordering::Acquire);
        self.waker.wake();
    }

    /// Ready once one more item may go; the caller then sends it and counts
    /// it with [`used_one`](Credit::used_one).
    pub(crate) fn poll_room(&self, cx: &mut Context<'_>) -> Poll<Result<(), Refusal>> {
        if let Some(ready) = self.room() {
            return Poll::Ready(ready);
        }
        self.waker.register(cx.waker());
        match self.room() {
            Some(ready) => Poll::Ready(ready),
            None => Poll::Pending,
        }
    }

    /// Counts an item sent.
    pub(crate) fn used_one(&self) {
        self.used.fetch_add(1, Ordering::AcqRel);
    }

    /// Items sent so far.
    pub(crate) fn used(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }

    /// An item from a producer that keeps only the latest: the frames to
    /// send now (the item, after word of what was dropped, if there is
    /// room), or none, the item held until room is granted, the oldest held
    /// one dropped if there are too many.
    pub(crate) fn offer(&self, item: Bytes) -> Result<Vec<Bytes>, Refusal> {
        let mut backlog = lock(&self.backlog);
        backlog.frames.push_back(item);
        if backlog.frames.len() > backlog.keep {
            backlog.frames.pop_front();
            backlog.dropped += 1;
        }
        self.flush(&mut backlog)
    }

    fn flush(&self, backlog: &mut Backlog) -> Result<Vec<Bytes>, Refusal> {
        let mut out = Vec::new();
        while !backlog.frames.is_empty() {
            match self.room() {
                None => break,
                Some(Err(refusal)) => return Err(refusal),
                Some(Ok(())) => {}
            }
            if backlog.dropped > 0 {
                out.push(lagged_frame(self.msgid, backlog.dropped));
                backlog.dropped = 0;
            }
            out.extend(backlog.frames.pop_front());
            self.used_one();
        }
        Ok(out)
    }

    /// Ready once no item is held any more (every one sent as room came),
    /// or sending must stop.
    pub(crate) fn poll_flushed(&self, cx: &mut Context<'_>) -> Poll<Result<(), Refusal>> {
        let flushed = || {
            let backlog = lock(&self.backlog);
            if backlog.frames.is_empty() {
                return Some(Ok(()));
            }
            match self.room() {
                Some(Err(refusal)) => Some(Err(refusal)),
                _ => None,
            }
        };
        if let Some(ready) = flushed() {
            return Poll::Ready(ready);
        }
        self.waker.register(cx.waker());
        match flushed() {
            Some(ready) => Poll::Ready(ready),
            None => Poll::Pending,
        }
    }

    /// The stream is ending: word of every item dropped or still held,
    /// which will not be sent, if there are any.
    pub(crate) fn last_word(&self) -> Option<Bytes> {
        let backlog = lock(&self.backlog);
        let dropped = backlog.dropped + backlog.frames.len() as u64;
        (dropped > 0).then(|| lagged_frame(self.msgid, dropped))
    }

    fn room(&self) -> Option<Result<(), Refusal>> {
        let sent = self.used();
        match self.refused.load(Ordering::Acquire) {
            0 => {}
            1 => return Some(Err(Refusal::Closed)),
            2 => return Some(Err(Refusal::Overgranted)),
            _ => return Some(Err(Refusal::Answered)),
        }
        let ahead = self.granted.load(Ordering::Acquire).saturating_sub(sent);
        match ahead {
            0 if self.no_more.load(Ordering::Acquire) => Some(Err(Refusal::Closed)),
            0 => None,
            ahead if ahead > u64::from(MAX_WINDOW) => Some(Err(Refusal::Overgranted)),
            _ => Some(Ok(())),
        }
    }
}

/// `rpc.lagged [msgid, dropped]`.
fn lagged_frame(msgid: MsgId, dropped: u64) -> Bytes {
    let lagged = Outgoing::new(Arc::from(LAGGED), &(msgid, dropped)).expect("two integers encode");
    notification_frame(&lagged)
}

/// What a consumer receives: an item, or word that items were dropped.
#[derive(Debug, PartialEq)]
pub(crate) enum Received {
    Item(Params),
    Lagged(u64),
}

/// The items a consumer has received and not yet taken.
pub(crate) struct Inbox {
    items: Mutex<Held>,
    window: usize,
    /// Every item granted to the producer since the stream opened (the
    /// first window included), and every item it sent; one more sent than
    /// granted is an overrun, however fast the consumer takes them. Word
    /// of lag counts as room granted: over NATS the caller grants the room
    /// of lost items again below the inbox, and a producer that keeps only
    /// the latest items is owed nothing for those it dropped unsent.
    granted: AtomicU64,
    received: AtomicU64,
    /// The producer sent more than it was granted.
    overflowed: AtomicBool,
    /// The producer ended the stream (input streams; an answer stream ends
    /// with the call's answer).
    ended: AtomicBool,
    /// Why nothing more can arrive, if the connection stopped reading.
    cut: OnceLock<DisconnectReason>,
    waker: AtomicWaker,
}

/// What an inbox holds, and how many of those are items.
#[derive(Default)]
struct Held {
    received: VecDeque<Received>,
    items: usize,
}

impl Held {
    fn pop_front(&mut self) -> Option<Received> {
        let received = self.received.pop_front()?;
        if let Received::Item(_) = received {
            self.items -= 1;
        }
        Some(received)
    }
}

impl Inbox {
    /// `false` if the item is beyond the room granted (it is dropped, and
    /// the stream is marked overflowed).
    fn push(&self, item: Params) -> bool {
        let received = self.received.fetch_add(1, Ordering::AcqRel) + 1;
        let overrun = received > self.granted.load(Ordering::Acquire);
        let taken = {
            let mut held = lock(&self.items);
            if overrun || held.items >= self.window {
                self.overflowed.store(true, Ordering::Release);
                false
            } else {
                held.received.push_back(Received::Item(item));
                held.items += 1;
                true
            }
        };
        self.waker.wake();
        taken
    }

    /// The consumer grants `n` more items (beyond the first window, which
    /// opening the stream counted).
    pub(crate) fn grant(&self, n: u32) {
        self.granted.fetch_add(u64::from(n), Ordering::AcqRel);
    }

    /// Word of dropped items: joined to the word before it if no item came
    /// between, so however often it comes, it takes no more room than the
    /// items do.
    fn push_lagged(&self, dropped: u64) {
        self.granted.fetch_add(dropped, Ordering::AcqRel);
        {
            let mut held = lock(&self.items);
            match held.received.back_mut() {
                Some(Received::Lagged(before)) => *before = before.saturating_add(dropped),
                _ => held.received.push_back(Received::Lagged(dropped)),
            }
        }
        self.waker.wake();
    }

    /// The next thing received, or `Pending` with the waker registered.
    pub(crate) fn poll_item(&self, cx: &mut Context<'_>) -> Poll<Option<Received>> {
        if let Some(item) = lock(&self.items).pop_front() {
            return Poll::Ready(Some(item));
        }
        self.waker.register(cx.waker());
        match lock(&self.items).pop_front() {
            Some(item) => Poll::Ready(Some(item)),
            None => Poll::Pending,
        }
    }

    /// The next thing received, if there is one.
    pub(crate) fn pop(&self) -> Option<Received> {
        lock(&self.items).pop_front()
    }

    /// Whether the producer sent more items than it was granted.
    pub(crate) fn overflowed(&self) -> bool {
        self.overflowed.load(Ordering::Acquire)
    }

    /// Whether the producer ended the stream (it may have items left).
    pub(crate) fn ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// Why nothing more will arrive, if the connection stopped reading
    /// before the producer ended the stream.
    pub(crate) fn cut(&self) -> Option<&DisconnectReason> {
        self.cut.get()
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
        let credit = streams.produce((7, Way::Answer), 2);
        let mut cx = Context::from_waker(Waker::noop());
        for _ in 0..2 {
            assert_eq!(credit.poll_room(&mut cx), Poll::Ready(Ok(())));
            credit.used_one();
        }
        assert_eq!(credit.poll_room(&mut cx), Poll::Pending);
        assert_eq!(streams.grant((7, Way::Answer), 1, |_| {}), Some(vec![]));
        assert_eq!(credit.poll_room(&mut cx), Poll::Ready(Ok(())));
        credit.used_one();
        assert_eq!(
            streams.grant((8, Way::Answer), 1, |_| {}),
            None,
            "no such stream"
        );
        assert_eq!(
            streams.grant((7, Way::Input), 1, |_| {}),
            None,
            "the other way"
        );

        assert!(
            streams
                .grant((7, Way::Answer), MAX_WINDOW + 1, |_| {})
                .is_some()
        );
        assert_eq!(
            credit.poll_room(&mut cx),
            Poll::Ready(Err(Refusal::Overgranted))
        );
        streams.stop_producing((7, Way::Answer));
        assert_eq!(streams.grant((7, Way::Answer), 1, |_| {}), None, "stopped");
    }

    #[test]
    fn a_producer_keeping_the_latest_drops_the_oldest_and_says_so() {
        let streams = Streams::default();
        let key = (4, Way::Answer);
        let credit = streams.produce(key, 2);
        let frame = |n: u8| Bytes::from(vec![n]);
        // Room for two: sent at once.
        assert_eq!(credit.offer(frame(0)), Ok(vec![frame(0)]));
        assert_eq!(credit.offer(frame(1)), Ok(vec![frame(1)]));
        // No room: the latest two are kept, the older ones dropped.
        for n in 2..6 {
            assert_eq!(credit.offer(frame(n)), Ok(vec![]));
        }
        let released = streams.grant(key, 1, |_| {}).unwrap();
        assert_eq!(released, [lagged_frame(4, 2), frame(4)]);
        assert_eq!(credit.used(), 3);
        assert_eq!(
            credit.last_word(),
            Some(lagged_frame(4, 1)),
            "one still held when the stream ends"
        );
        assert_eq!(streams.grant(key, 5, |_| {}).unwrap(), [frame(5)]);
        assert_eq!(credit.last_word(), None);
    }

    #[test]
    fn an_answer_ends_the_input_of_its_call_only() {
        let streams = Streams::default();
        let input = streams.produce((5, Way::Input), 1);
        let answer = streams.produce((5, Way::Answer), 1);
        let other = streams.produce((6, Way::Input), 1);
        streams.answered(5);
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(
            input.poll_room(&mut cx),
            Poll::Ready(Err(Refusal::Answered))
        );
        assert_eq!(answer.poll_room(&mut cx), Poll::Ready(Ok(())));
        assert_eq!(other.poll_room(&mut cx), Poll::Ready(Ok(())));
    }

    #[test]
    fn a_draining_connection_lets_producers_use_the_room_they_have() {
        let streams = Streams::default();
        let credit = streams.produce((2, Way::Answer), 1);
        streams.drain();
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(credit.poll_room(&mut cx), Poll::Ready(Ok(())));
        credit.used_one();
        assert_eq!(credit.poll_room(&mut cx), Poll::Ready(Err(Refusal::Closed)));
    }

    #[test]
    fn a_closed_connection_refuses_waiting_producers() {
        let streams = Streams::default();
        let credit = streams.produce((1, Way::Input), 0);
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(credit.poll_room(&mut cx), Poll::Pending);
        streams.close(&DisconnectReason::Closed);
        assert_eq!(credit.poll_room(&mut cx), Poll::Ready(Err(Refusal::Closed)));
    }

    #[test]
    fn a_consumer_holds_at_most_its_window() {
        let streams = Streams::default();
        let key = (3, Way::Input);
        let inbox = streams.consume(key, 2);
        assert_eq!(streams.deliver(key, item(0)), Delivery::Taken);
        assert_eq!(streams.deliver(key, item(1)), Delivery::Taken);
        assert!(!inbox.overflowed());
        assert_eq!(
            streams.deliver(key, item(2)),
            Delivery::Overrun { window: 2 },
            "beyond the window"
        );
        assert!(inbox.overflowed());
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(
            inbox.poll_item(&mut cx),
            Poll::Ready(Some(Received::Item(item(0))))
        );
        assert!(streams.lagged(key, 3));
        assert!(streams.lagged(key, 4));
        assert_eq!(inbox.pop(), Some(Received::Item(item(1))));
        assert_eq!(inbox.pop(), Some(Received::Lagged(7)), "joined");
        assert_eq!(inbox.poll_item(&mut cx), Poll::Pending);
        assert!(!inbox.ended());
        assert!(streams.end(key));
        assert!(inbox.ended());
        streams.stop_consuming(key);
        assert_eq!(
            streams.deliver(key, item(3)),
            Delivery::NoStream,
            "not consumed any more"
        );
        assert!(!streams.end(key));
    }

    #[test]
    fn an_answer_stream_holds_its_producer_to_the_credit_granted() {
        let streams = Streams::default();
        let key = (4, Way::Answer);
        let inbox = streams.consume(key, 2);
        assert_eq!(streams.deliver(key, item(0)), Delivery::Taken);
        assert_eq!(streams.deliver(key, item(1)), Delivery::Taken);
        assert_eq!(inbox.pop(), Some(Received::Item(item(0))));
        assert_eq!(
            streams.deliver(key, item(2)),
            Delivery::Overrun { window: 2 },
            "room in the inbox is not credit"
        );

        let inbox = streams.consume(key, 2);
        for n in 0..2 {
            assert_eq!(streams.deliver(key, item(n)), Delivery::Taken);
        }
        assert_eq!(inbox.pop(), Some(Received::Item(item(0))));
        inbox.grant(1);
        assert_eq!(streams.deliver(key, item(2)), Delivery::Taken, "granted");
        assert!(streams.lagged(key, 2));
        for _ in 0..3 {
            inbox.pop();
        }
        for n in 3..5 {
            assert_eq!(
                streams.deliver(key, item(n)),
                Delivery::Taken,
                "lost items' room"
            );
        }
        assert_eq!(
            streams.deliver(key, item(5)),
            Delivery::Overrun { window: 2 }
        );
    }
}
