//! Streams: a call whose answer is a sequence of items, each stream with
//! its own flow control. This module holds a connection's stream state
//! (what producers may send, `credit`; what consumers hold, `inbox`), and
//! takes the other side's stream messages ([`Streams::hear`]); the names
//! are `crate::protocol`'s. The ends that use this state sit above it, on
//! a connection's link (`peer::stream_ends`: a `Producer` and a `Consumer`,
//! which [`ItemSink`](crate::ItemSink), [`ItemStream`](crate::ItemStream),
//! [`ItemReceiver`](crate::ItemReceiver) and the caller's input ends are
//! made of): they push messages on the link, which holds this state.
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

mod credit;
mod inbox;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

pub(crate) use credit::{Credit, Refusal};
pub(crate) use inbox::{Inbox, Received};

use crate::error::DisconnectReason;
use crate::message::{MsgId, Params};
use crate::protocol::StreamMessage;
use crate::sync::lock;

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

/// What a connection still has to do about a stream message it received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Heard {
    /// Nothing: it was taken.
    Taken,
    /// Nothing: it was dropped as moot, for this reason (the stream was
    /// cancelled a moment ago, or never opened).
    Dropped(&'static str),
    /// Call `msgid`'s caller sent input items beyond the `window` it was
    /// given: the call must end, saying so.
    InputOverrun { msgid: MsgId, window: usize },
    /// Room for `n` items of call `msgid`'s answer, which is not produced
    /// yet (its handler has not started): the call keeps it until it does.
    EarlyCredit { msgid: MsgId, n: u32 },
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
        let credit = Arc::new(Credit::new(
            key.0,
            credit.min(MAX_WINDOW),
            self.draining.load(Ordering::Acquire),
        ));
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

    /// The consumer of `key` grants `n` more items: see [`Credit::grant`].
    /// `None` if no such stream is being produced.
    pub(crate) fn grant(&self, key: Key, n: u32, push: impl FnMut(&Bytes)) -> Option<Vec<Bytes>> {
        let credit = lock(&self.producing).get(&key).cloned()?;
        Some(credit.grant(n, push))
    }

    /// Starts consuming the stream of call `msgid`, taking at most `window`
    /// items ahead of the consumer.
    pub(crate) fn consume(&self, key: Key, window: u32) -> Arc<Inbox> {
        let inbox = Arc::new(Inbox::new(window));
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
                window: inbox.window(),
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
        inbox.end();
        true
    }

    /// One of the streams' own messages from the other side: taken here,
    /// and what the connection still has to do about it. `push` queues the
    /// items that room granted releases.
    pub(crate) fn hear(&self, message: StreamMessage<'_>, push: impl FnMut(&Bytes)) -> Heard {
        match message {
            StreamMessage::Item(msgid, params) => self.hear_item((msgid, Way::Answer), params),
            StreamMessage::Input(msgid, params) => self.hear_item((msgid, Way::Input), params),
            StreamMessage::Credit(msgid, n) => match self.grant((msgid, Way::Answer), n, push) {
                Some(_) => Heard::Taken,
                None => Heard::EarlyCredit { msgid, n },
            },
            StreamMessage::InputCredit(msgid, n) => {
                match self.grant((msgid, Way::Input), n, push) {
                    Some(_) => Heard::Taken,
                    None => Heard::Dropped("room for the input of no open call"),
                }
            }
            StreamMessage::Lagged(msgid, n) => {
                if self.lagged((msgid, Way::Answer), u64::from(n)) {
                    Heard::Taken
                } else {
                    Heard::Dropped("word of lag for no open stream")
                }
            }
            StreamMessage::InputEnd(msgid) => {
                if self.end((msgid, Way::Input)) {
                    Heard::Taken
                } else {
                    Heard::Dropped("the end of no open input")
                }
            }
        }
    }

    fn hear_item(&self, key: Key, params: &Params) -> Heard {
        match self.deliver(key, params.clone()) {
            Delivery::Taken => Heard::Taken,
            Delivery::NoStream => Heard::Dropped("an item of no open stream"),
            // A caller that sends more input than it was granted breaks
            // the protocol on that call. (Answer items beyond their room
            // end their stream at the consumer.)
            Delivery::Overrun { window } if key.1 == Way::Input => Heard::InputOverrun {
                msgid: key.0,
                window,
            },
            Delivery::Overrun { .. } => Heard::Taken,
        }
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
            inbox.cut_off(reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::{Context, Poll, Waker};

    fn item(n: i64) -> Params {
        Params::from_values(&[1.into(), n.into()])
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
        assert_eq!(released, [crate::protocol::lagged(4, 2), frame(4)]);
        assert_eq!(credit.used(), 3);
        assert_eq!(
            credit.last_word(),
            Some(crate::protocol::lagged(4, 1)),
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

    #[test]
    fn each_stream_message_is_heard_by_its_stream() {
        let streams = Streams::default();
        let pushed = std::cell::Cell::new(0);
        let push = |_: &Bytes| pushed.set(pushed.get() + 1);
        let answer = streams.consume((1, Way::Answer), 1);
        let input = streams.consume((2, Way::Input), 1);
        let item = item(0);
        assert_eq!(
            streams.hear(StreamMessage::Item(1, &item), &push),
            Heard::Taken
        );
        assert_eq!(answer.pop(), Some(Received::Item(item.clone())));
        assert_eq!(
            streams.hear(StreamMessage::Item(9, &item), &push),
            Heard::Dropped("an item of no open stream")
        );
        assert_eq!(
            streams.hear(StreamMessage::Item(1, &item), &push),
            Heard::Taken,
            "an answer overrun ends its stream at the consumer"
        );
        assert!(answer.overflowed());
        assert_eq!(
            streams.hear(StreamMessage::Input(2, &item), &push),
            Heard::Taken
        );
        assert_eq!(
            streams.hear(StreamMessage::Input(2, &item), &push),
            Heard::InputOverrun {
                msgid: 2,
                window: 1
            }
        );
        assert_eq!(
            streams.hear(StreamMessage::Lagged(1, 3), &push),
            Heard::Taken
        );
        assert_eq!(
            streams.hear(StreamMessage::InputEnd(2), &push),
            Heard::Taken
        );
        assert!(input.ended());
        assert_eq!(
            streams.hear(StreamMessage::InputEnd(1), &push),
            Heard::Dropped("the end of no open input")
        );

        let credit = streams.produce((3, Way::Answer), 0);
        assert_eq!(credit.offer(Bytes::from_static(b"x")), Ok(vec![]), "held");
        assert_eq!(
            streams.hear(StreamMessage::Credit(3, 2), &push),
            Heard::Taken
        );
        assert_eq!(pushed.get(), 1, "the held item goes once room comes");
        assert_eq!(
            streams.hear(StreamMessage::Credit(4, 2), &push),
            Heard::EarlyCredit { msgid: 4, n: 2 },
            "kept by a call whose handler has not started"
        );
        assert_eq!(
            streams.hear(StreamMessage::InputCredit(4, 2), &push),
            Heard::Dropped("room for the input of no open call")
        );
    }
}
