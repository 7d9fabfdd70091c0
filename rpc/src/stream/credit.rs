//! A producer's side of a stream: the credit its consumer granted, and
//! the items a producer that keeps only the latest holds for want of it.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::task::AtomicWaker;

use super::MAX_WINDOW;
use crate::message::MsgId;
use crate::protocol;
use crate::sync::lock;

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
    /// The credit of call `msgid`'s stream, `granted` items so far; with
    /// `no_more`, no more will come.
    pub(super) fn new(msgid: MsgId, granted: u32, no_more: bool) -> Self {
        Credit {
            msgid,
            granted: AtomicU64::new(u64::from(granted)),
            used: AtomicU64::new(0),
            refused: AtomicU8::new(0),
            no_more: AtomicBool::new(no_more),
            waker: AtomicWaker::new(),
            backlog: Mutex::new(Backlog {
                frames: VecDeque::new(),
                dropped: 0,
                keep: granted.max(1) as usize,
            }),
        }
    }

    /// The consumer grants `n` more items: the producer may go on, and
    /// items it kept for want of room (see [`offer`](Credit::offer)) are
    /// returned, to be sent now. They are handed to `push` before the
    /// producer is woken: a producer waiting for its held items to go
    /// ([`poll_flushed`](Credit::poll_flushed)) finds them queued, not on
    /// their way.
    pub(super) fn grant(&self, n: u32, push: impl FnMut(&Bytes)) -> Vec<Bytes> {
        self.granted.fetch_add(u64::from(n), Ordering::AcqRel);
        let released = {
            let mut backlog = lock(&self.backlog);
            let released = self.flush(&mut backlog).unwrap_or_default();
            released.iter().for_each(push);
            released
        };
        self.waker.wake();
        released
    }

    /// No more credit will come; wakes the producer if it waits for some.
    pub(super) fn refuse_more(&self) {
        self.no_more.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Stops the producer (the first reason stays), waking it if it waits.
    pub(super) fn refuse(&self, refusal: Refusal) {
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
                out.push(protocol::lagged(self.msgid, backlog.dropped));
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
        (dropped > 0).then(|| protocol::lagged(self.msgid, dropped))
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
