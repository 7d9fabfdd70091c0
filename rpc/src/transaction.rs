//! msgid → waiter: the table that matches responses to calls.
//!
//! A call opens a transaction ([`Transactions::open`]) and gets a [`Pending`]
//! guard plus a receiver. The reader completes it by msgid when the response
//! comes. The table knows nothing of sockets or clocks; its invariants:
//!
//! * an entry lives exactly as long as its [`Pending`] guard: dropping the guard
//!   (the call was cancelled, dropped or timed out) removes it, so a late reply
//!   finds nothing, is counted in [`Transactions::late_replies`], and is never
//!   delivered to another call;
//! * msgids wrap around at `u32::MAX` and skip ids still in use;
//! * once [`Transactions::fail_all`] has run, every pending call has failed with
//!   `Disconnected` and every later `open` fails the same way: no call can wait
//!   on a connection that is gone. A waiter whose sender is dropped for any
//!   other reason also sees `Disconnected`, so nothing ever hangs.

use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use dashmap::DashMap;
use tokio::sync::oneshot;

use crate::error::{DisconnectReason, Error};
use crate::message::{MsgId, Response};

/// What a waiter receives: the response, or why none will come.
pub(crate) type Outcome = Result<Response, Error>;

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

/// The pending calls of one connection.
#[derive(Debug, Default)]
pub(crate) struct Transactions {
    pending: DashMap<MsgId, oneshot::Sender<Outcome>, BuildHasherDefault<MsgIdHasher>>,
    next_msgid: AtomicU32,
    /// Set once, when the connection is gone; no entry is added after it.
    closed: OnceLock<DisconnectReason>,
    late_replies: AtomicU64,
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
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.table.pending.remove(&self.msgid);
    }
}

impl Transactions {
    /// Opens a transaction under a fresh msgid.
    ///
    /// # Errors
    ///
    /// `Disconnected` if the connection is already gone.
    pub(crate) fn open(self: &Arc<Self>) -> Result<(Pending, oneshot::Receiver<Outcome>), Error> {
        if let Some(reason) = self.closed.get() {
            return Err(Error::Disconnected {
                reason: reason.clone(),
            });
        }
        let (sender, receiver) = oneshot::channel();
        let mut sender = Some(sender);
        // At most `pending.len() + 1` tries: ids in use are skipped.
        let msgid = loop {
            let candidate = self.next_msgid.fetch_add(1, Ordering::Relaxed);
            if let dashmap::Entry::Vacant(slot) = self.pending.entry(candidate) {
                slot.insert(sender.take().expect("inserted once"));
                break candidate;
            }
        };
        let pending = Pending {
            table: Arc::clone(self),
            msgid,
        };
        // `fail_all` may have drained the table between the check above and the
        // insert; if so, fail this call too rather than let it wait.
        if let Some(reason) = self.closed.get() {
            return Err(Error::Disconnected {
                reason: reason.clone(),
            });
        }
        Ok((pending, receiver))
    }

    /// Delivers `outcome` to the call waiting on `msgid`. Returns `false` (and
    /// counts a late reply) when no call waits on it any more.
    pub(crate) fn complete(&self, msgid: MsgId, outcome: Outcome) -> bool {
        match self.pending.remove(&msgid) {
            Some((_, waiter)) => {
                // The caller may have given up in the meantime; that is fine.
                let _ = waiter.send(outcome);
                true
            }
            None => {
                self.late_replies.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Fails every pending call with `Disconnected { reason }`, and every call
    /// opened from now on.
    pub(crate) fn fail_all(&self, reason: DisconnectReason) {
        let reason = self.closed.get_or_init(|| reason).clone();
        let msgids: Vec<MsgId> = self.pending.iter().map(|entry| *entry.key()).collect();
        for msgid in msgids {
            if let Some((_, waiter)) = self.pending.remove(&msgid) {
                let _ = waiter.send(Err(Error::Disconnected {
                    reason: reason.clone(),
                }));
            }
        }
    }

    /// How many calls are waiting for a response.
    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    /// How many responses came for calls that had already given up.
    pub(crate) fn late_replies(&self) -> u64 {
        self.late_replies.load(Ordering::Relaxed)
    }

    /// What a waiter whose sender vanished sees: `Disconnected`, with the
    /// connection's reason once it has one.
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

    fn response(msgid: MsgId, result: u8) -> Outcome {
        Ok(Response::ok(msgid, Bytes::copy_from_slice(&[result])))
    }

    #[tokio::test]
    async fn out_of_order_replies_reach_their_own_calls() {
        let table = Arc::new(Transactions::default());
        let calls: Vec<_> = (0..5).map(|_| table.open().unwrap()).collect();
        for (pending, _) in calls.iter().rev() {
            assert!(table.complete(
                pending.msgid(),
                response(pending.msgid(), pending.msgid() as u8)
            ));
        }
        for (pending, receiver) in calls {
            let got = receiver.await.unwrap().unwrap();
            assert_eq!(got.result()[0], pending.msgid() as u8);
        }
        assert_eq!(table.len(), 0);
    }

    #[tokio::test]
    async fn a_reply_after_the_caller_gave_up_is_dropped_and_counted() {
        let table = Arc::new(Transactions::default());
        let (pending, receiver) = table.open().unwrap();
        let msgid = pending.msgid();
        drop((pending, receiver));
        let (next, next_receiver) = table.open().unwrap();
        assert!(!table.complete(msgid, response(msgid, 1)));
        assert_eq!(table.late_replies(), 1);
        assert!(table.complete(next.msgid(), response(next.msgid(), 2)));
        assert_eq!(next_receiver.await.unwrap().unwrap().result()[0], 2);
    }

    #[tokio::test]
    async fn msgids_wrap_around_and_skip_ids_in_use() {
        let table = Arc::new(Transactions::starting_at(u32::MAX - 1));
        let (a, _ra) = table.open().unwrap();
        let (b, _rb) = table.open().unwrap();
        assert_eq!((a.msgid(), b.msgid()), (u32::MAX - 1, u32::MAX));
        let (c, _rc) = table.open().unwrap();
        assert_eq!(c.msgid(), 0);
        // Wrap again onto ids that are still pending: they are skipped.
        table.next_msgid.store(u32::MAX - 1, Ordering::Relaxed);
        let (d, _rd) = table.open().unwrap();
        assert_eq!(d.msgid(), 1);
    }

    #[tokio::test]
    async fn fail_all_fails_pending_and_later_calls() {
        let table = Arc::new(Transactions::default());
        let (_pending, receiver) = table.open().unwrap();
        table.fail_all(DisconnectReason::Eof);
        let error = receiver.await.unwrap().unwrap_err();
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
                let (pending, receiver) = table.open().unwrap();
                match i % 4 {
                    // Answered.
                    0 => {
                        table.complete(pending.msgid(), response(pending.msgid(), 0));
                        assert!(receiver.await.unwrap().is_ok());
                    }
                    // Timed out, then the late reply.
                    1 => {
                        let timed_out = tokio::time::timeout(std::time::Duration::ZERO, receiver)
                            .await
                            .is_err();
                        assert!(timed_out);
                        let msgid = pending.msgid();
                        drop(pending);
                        assert!(!table.complete(msgid, response(msgid, 0)));
                        late += 1;
                    }
                    // Cancelled: the caller drops everything.
                    2 => drop((pending, receiver)),
                    // Still waiting when the connection drops.
                    _ => held.push((pending, receiver)),
                }
            }
            table.fail_all(DisconnectReason::Transport(format!("round {round}")));
            for (pending, receiver) in held {
                assert!(matches!(
                    receiver.await.unwrap(),
                    Err(Error::Disconnected { .. })
                ));
                drop(pending);
            }
            assert_eq!(table.len(), 0, "round {round} leaked entries");
            assert_eq!(table.late_replies(), 250);
        }
        assert_eq!(late, 2_500);
    }
}
