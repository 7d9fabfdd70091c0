//! A consumer's side of a stream: the items received and not yet taken,
//! and the credit that bounds them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;

use crate::error::DisconnectReason;
use crate::message::Params;
use crate::sync::lock;

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
    /// An inbox holding at most `window` items, that many granted.
    pub(super) fn new(window: u32) -> Self {
        Inbox {
            items: Mutex::new(Held::default()),
            window: window as usize,
            granted: AtomicU64::new(u64::from(window)),
            received: AtomicU64::new(0),
            overflowed: AtomicBool::new(false),
            ended: AtomicBool::new(false),
            cut: OnceLock::new(),
            waker: AtomicWaker::new(),
        }
    }

    /// The most items it holds.
    pub(super) fn window(&self) -> usize {
        self.window
    }

    /// The producer ended the stream.
    pub(super) fn end(&self) {
        self.ended.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Nothing more can arrive, for `reason` (the first reason stays).
    pub(super) fn cut_off(&self, reason: &DisconnectReason) {
        let _ = self.cut.set(reason.clone());
        self.waker.wake();
    }

    /// `false` if the item is beyond the room granted (it is dropped, and
    /// the stream is marked overflowed).
    pub(super) fn push(&self, item: Params) -> bool {
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
    pub(super) fn push_lagged(&self, dropped: u64) {
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
