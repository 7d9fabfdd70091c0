//! msgid → waiter: the table that matches responses to calls.
//!
//! A call opens a transaction ([`Transactions::open`]) and gets a [`Pending`]
//! guard, which it polls for the outcome. The connection completes it by
//! msgid when the response comes. The table holds each call's slot itself (a
//! waker while it waits, the outcome once it is in), so a call allocates
//! nothing here; it is split into shards by msgid so that callers on other
//! threads rarely wait for the connection's task. It knows nothing of sockets
//! or clocks; its invariants:
//!
//! * an entry lives exactly as long as its [`Pending`] guard: dropping the guard
//!   (the call was cancelled, dropped or timed out) removes it, so a late reply
//!   finds nothing, is counted in [`Transactions::late_replies`], and is never
//!   delivered to another call;
//! * msgids wrap around at `u32::MAX` and skip ids still in use;
//! * once [`Transactions::fail_all`] has run, every pending call has failed with
//!   `Disconnected` and every later `open` fails the same way: no call can wait
//!   on a connection that is gone.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};

use crate::error::{DisconnectReason, Error};
use crate::message::{MsgId, Response};

/// What a waiter receives: the response, or why none will come.
pub(crate) type Outcome = Result<Response, Error>;

/// How many shards the table has (a power of two).
const SHARDS: usize = 8;

/// Hashes msgids by one multiplication (Fibonacci hashing), which spreads
/// sequential ids over the whole hash, high bits included. A keyed hash
/// would cost a few hundred instructions per call to defend against keys
/// chosen to collide, and this side chooses every msgid in the table.
#[derive(Debug, Default, Clone, Copy)]
struct MsgIdHasher(u64);

impl Hasher for MsgIdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u32(u32::from(byte));
        }
    }

    fn write_u32(&mut self, msgid: u32) {
        self.0 = (self.0 ^ u64::from(msgid)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// One call's place in the table.
#[derive(Debug)]
enum Slot {
    /// No outcome yet; the waker of the call's last poll.
    Waiting(Option<Waker>),
    /// The outcome, for the call's next poll.
    Done(Outcome),
}

type Shard = HashMap<MsgId, Slot, BuildHasherDefault<MsgIdHasher>>;

/// The pending calls of one connection.
#[derive(Debug, Default)]
pub(crate) struct Transactions {
    shards: [Mutex<Shard>; SHARDS],
    next_msgid: AtomicU32,
    /// Set once, when the connection is gone; no entry is added after it.
    closed: OnceLock<DisconnectReason>,
    late_replies: AtomicU64,
    /// Transactions open (a [`Pending`] held), answered or not.
    in_flight: AtomicUsize,
}

/// The caller's side of an open transaction; dropping it removes the entry.
#[derive(Debug)]
pub(crate) struct Pending {
    table: Arc<Transactions>,
    msgid: MsgId,
}

impl Pending {
    pub(crate) fn msgid(&self) -> MsgId {
        self.msgid
    }

    /// The call's outcome, once it is in; until then the waker in `cx` is
    /// woken when it comes.
    pub(crate) fn poll_outcome(&self, cx: &mut Context<'_>) -> Poll<Outcome> {
        let mut shard = self.table.shard(self.msgid);
        if let Some(Slot::Waiting(waker)) = shard.get_mut(&self.msgid) {
            match waker {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                _ => *waker = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        }
        match shard.remove(&self.msgid) {
            Some(Slot::Done(outcome)) => Poll::Ready(outcome),
            // Polled again after its outcome was taken.
            Some(Slot::Waiting(_)) | None => Poll::Ready(Err(self.table.disconnected())),
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.table.shard(self.msgid).remove(&self.msgid);
        self.table.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Transactions {
    fn shard(&self, msgid: MsgId) -> MutexGuard<'_, Shard> {
        self.shards[msgid as usize % SHARDS]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Opens a transaction under a fresh msgid.
    ///
    /// # Errors
    ///
    /// `Disconnected` if the connection is already gone.
    pub(crate) fn open(self: &Arc<Self>) -> Result<Pending, Error> {
        if self.closed.get().is_some() {
            return Err(self.disconnected());
        }
        // At most `len() + 1` tries: ids in use are skipped.
        let msgid = loop {
            let candidate = self.next_msgid.fetch_add(1, Ordering::Relaxed);
            let mut shard = self.shard(candidate);
            if let std::collections::hash_map::Entry::Vacant(slot) = shard.entry(candidate) {
                slot.insert(Slot::Waiting(None));
                break candidate;
            }
        };
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        let pending = Pending {
            table: Arc::clone(self),
            msgid,
        };
        // `fail_all` may have swept the table between the check above and
        // the insert; if so, fail this call too rather than let it wait.
        if self.closed.get().is_some() {
            return Err(self.disconnected());
        }
        Ok(pending)
    }

    /// Delivers `outcome` to the call waiting on `msgid`. Returns `false` (and
    /// counts a late reply) when no call waits on it any more.
    #[inline]
    pub(crate) fn complete(&self, msgid: MsgId, outcome: Outcome) -> bool {
        let waker = {
            let mut shard = self.shard(msgid);
            match shard.get_mut(&msgid) {
                Some(slot @ Slot::Waiting(_)) => match std::mem::replace(slot, Slot::Done(outcome))
                {
                    Slot::Waiting(waker) => Ok(waker),
                    Slot::Done(_) => Ok(None),
                },
                // Already answered: a duplicate reply is as late as any.
                Some(Slot::Done(_)) | None => Err(()),
            }
        };
        match waker {
            Ok(waker) => {
                if let Some(waker) = waker {
                    waker.wake();
                }
                true
            }
            Err(()) => {
                self.late_replies.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Fails every pending call with `Disconnected { reason }`, and every call
    /// opened from now on.
    pub(crate) fn fail_all(&self, reason: DisconnectReason) {
        let reason = self.closed.get_or_init(|| reason).clone();
        let mut wakers = Vec::new();
        for shard in &self.shards {
            let mut shard = shard
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            for slot in shard.values_mut() {
                if let Slot::Waiting(waker) = slot {
                    wakers.extend(waker.take());
                    *slot = Slot::Done(Err(Error::Disconnected {
                        reason: reason.clone(),
                    }));
                }
            }
        }
        wakers.into_iter().for_each(Waker::wake);
    }

    /// How many transactions are open: a cheap upper bound of
    /// [`len`](Transactions::len), which also counts calls answered and not
    /// yet collected.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// How many calls are waiting for a response.
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                shard
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .values()
                    .filter(|slot| matches!(slot, Slot::Waiting(_)))
                    .count()
            })
            .sum()
    }

    /// How many responses came for calls that had already given up.
    pub(crate) fn late_replies(&self) -> u64 {
        self.late_replies.load(Ordering::Relaxed)
    }

    /// What a call sees when its connection is gone: `Disconnected`, with
    /// the connection's reason once it has one.
    pub(crate) fn disconnected(&self) -> Error {
        Error::Disconnected {
            reason: self
                .closed
                .get()
                .cloned()
                .unwrap_or(DisconnectReason::Closed),
        }
    }

    #[cfg(test)]
    fn starting_at(msgid: MsgId) -> Self {
        Transactions {
            next_msgid: AtomicU32::new(msgid),
            ..Transactions::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::future::poll_fn;

    fn response(msgid: MsgId, result: u8) -> Outcome {
        Ok(Response::ok(msgid, Bytes::copy_from_slice(&[result])))
    }

    async fn outcome(pending: &Pending) -> Outcome {
        poll_fn(|cx| pending.poll_outcome(cx)).await
    }

    #[tokio::test]
    async fn out_of_order_replies_reach_their_own_calls() {
        let table = Arc::new(Transactions::default());
        let calls: Vec<_> = (0..5).map(|_| table.open().unwrap()).collect();
        for pending in calls.iter().rev() {
            assert!(table.complete(
                pending.msgid(),
                response(pending.msgid(), pending.msgid() as u8)
            ));
        }
        for pending in &calls {
            let got = outcome(pending).await.unwrap();
            assert_eq!(got.result()[0], pending.msgid() as u8);
        }
        assert_eq!(table.len(), 0);
    }

    #[tokio::test]
    async fn a_waiting_call_is_woken_by_its_reply() {
        let table = Arc::new(Transactions::default());
        let pending = table.open().unwrap();
        let msgid = pending.msgid();
        let waiter = tokio::spawn(async move { outcome(&pending).await.map(|r| r.result()[0]) });
        tokio::task::yield_now().await;
        assert!(table.complete(msgid, response(msgid, 9)));
        assert_eq!(waiter.await.unwrap().unwrap(), 9);
        assert_eq!(table.len(), 0);
    }

    #[tokio::test]
    async fn a_reply_after_the_caller_gave_up_is_dropped_and_counted() {
        let table = Arc::new(Transactions::default());
        let pending = table.open().unwrap();
        let msgid = pending.msgid();
        drop(pending);
        let next = table.open().unwrap();
        assert!(!table.complete(msgid, response(msgid, 1)));
        assert_eq!(table.late_replies(), 1);
        assert!(table.complete(next.msgid(), response(next.msgid(), 2)));
        assert!(
            !table.complete(next.msgid(), response(next.msgid(), 3)),
            "a duplicate is late"
        );
        assert_eq!(outcome(&next).await.unwrap().result()[0], 2);
    }

    #[tokio::test]
    async fn msgids_wrap_around_and_skip_ids_in_use() {
        let table = Arc::new(Transactions::starting_at(u32::MAX - 1));
        let a = table.open().unwrap();
        let b = table.open().unwrap();
        assert_eq!((a.msgid(), b.msgid()), (u32::MAX - 1, u32::MAX));
        let c = table.open().unwrap();
        assert_eq!(c.msgid(), 0);
        // Wrap again onto ids that are still pending: they are skipped.
        table.next_msgid.store(u32::MAX - 1, Ordering::Relaxed);
        let d = table.open().unwrap();
        assert_eq!(d.msgid(), 1);
    }

    #[tokio::test]
    async fn fail_all_fails_pending_and_later_calls() {
        let table = Arc::new(Transactions::default());
        let pending = table.open().unwrap();
        table.fail_all(DisconnectReason::Eof);
        let error = outcome(&pending).await.unwrap_err();
        assert!(matches!(
            error,
            Error::Disconnected {
                reason: DisconnectReason::Eof
            }
        ));
        assert!(matches!(
            table.open(),
            Err(Error::Disconnected {
                reason: DisconnectReason::Eof
            })
        ));
        assert_eq!(table.len(), 0);
    }

    #[tokio::test]
    async fn no_entry_leaks_after_mixed_timeouts_cancellations_and_disconnects() {
        let mut late = 0;
        for round in 0..10 {
            let table = Arc::new(Transactions::default());
            let mut held = Vec::new();
            for i in 0..1_000u32 {
                let pending = table.open().unwrap();
                match i % 4 {
                    // Answered.
                    0 => {
                        table.complete(pending.msgid(), response(pending.msgid(), 0));
                        assert!(outcome(&pending).await.is_ok());
                    }
                    // Timed out, then the late reply.
                    1 => {
                        let timed_out =
                            tokio::time::timeout(std::time::Duration::ZERO, outcome(&pending))
                                .await
                                .is_err();
                        assert!(timed_out);
                        let msgid = pending.msgid();
                        drop(pending);
                        assert!(!table.complete(msgid, response(msgid, 0)));
                        late += 1;
                    }
                    // Cancelled: the caller drops everything.
                    2 => drop(pending),
                    // Still waiting when the connection drops.
                    _ => held.push(pending),
                }
            }
            table.fail_all(DisconnectReason::Transport(format!("round {round}")));
            for pending in held {
                assert!(matches!(
                    outcome(&pending).await,
                    Err(Error::Disconnected { .. })
                ));
            }
            let entries: usize = table
                .shards
                .iter()
                .map(|shard| shard.lock().unwrap().len())
                .sum();
            assert_eq!(entries, 0, "round {round} leaked entries");
            assert_eq!(table.late_replies(), 250);
        }
        assert_eq!(late, 2_500);
    }
}
