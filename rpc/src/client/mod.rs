//! The calling side: the call builder that every call, typed or dynamic, goes
//! through, notifications, the handle of a call running in the background,
//! what generated client stubs are made of, and events sent to many peers at
//! once.
//!
//! A call is encoded when it is made ([`Peer::call`] or a generated stub) and
//! sent in the mode its caller picks: awaited, waited on from a plain
//! thread, with a callback, as a handle, or as a notification.

mod args;
mod broadcast;
mod call;
mod conversation;
mod handle;
mod notify;
mod send;
mod stream;
mod stub;
mod upload;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Error;
use crate::peer::Peer;

#[doc(hidden)]
pub use args::Args;
pub use broadcast::{ApiBroadcast, NotifyAll};
#[doc(hidden)]
pub use broadcast::{BroadcastBase, Members};
pub use call::{Call, CallFuture};
pub use conversation::Conversation;
pub use handle::{AsyncResult, CallStatus};
pub use notify::{Notify, NotifyFuture};
pub use stream::{BlockingItems, DEFAULT_WINDOW, ItemStream};
pub use stub::ApiClient;
#[doc(hidden)]
pub use stub::ClientBase;
pub use upload::Upload;

impl Peer {
    /// Starts a call of `method` with positional `params`; the returned
    /// [`Call`] is awaited (optionally with a [`timeout`](Call::timeout)), or
    /// sent in another mode.
    ///
    /// `params` must serialize as an array: a tuple such as `(a, b)` or `(a,)`,
    /// a `Vec`, a slice, or `()` for none. They are encoded now, straight from
    /// the caller's types.
    pub fn call<R: DeserializeOwned>(&self, method: &str, params: impl Serialize) -> Call<R> {
        Call::new(self.clone(), method, &params)
    }

    /// A stream call of `method` with positional `params`: the handler
    /// answers with a sequence of `T`s ([`CallContext::stream`](crate::CallContext::stream)),
    /// taken from the returned [`ItemStream`] as they come, each stream
    /// with its own flow control. The call is sent when the stream is first
    /// polled; dropping the stream cancels it.
    pub fn stream<T: DeserializeOwned>(
        &self,
        method: &str,
        params: impl Serialize,
    ) -> ItemStream<T> {
        ItemStream::new(
            self.clone(),
            crate::message::Outgoing::new(method.into(), &params),
        )
    }

    /// A call of `method` with positional `params` whose input is a stream
    /// of `T`s, taken by the handler with
    /// [`CallContext::receive`](crate::CallContext::receive), and answered
    /// with an `R`: send the items with [`Upload::send`], then take the
    /// answer with [`Upload::finish`]. The request is sent now.
    pub fn upload<T: Serialize, R: DeserializeOwned>(
        &self,
        method: &str,
        params: impl Serialize,
    ) -> Upload<T, R> {
        Upload::new(self, crate::message::Outgoing::new(method.into(), &params))
    }

    /// A call of `method` with positional `params` that streams both ways:
    /// it sends `I`s (the handler takes them with
    /// [`CallContext::receive`](crate::CallContext::receive)) and answers
    /// with `O`s ([`CallContext::stream`](crate::CallContext::stream)). The
    /// request is sent now, granting room for [`DEFAULT_WINDOW`] answers.
    pub fn conversation<I: Serialize, O: DeserializeOwned>(
        &self,
        method: &str,
        params: impl Serialize,
    ) -> Conversation<I, O> {
        Conversation::new(
            self,
            crate::message::Outgoing::new(method.into(), &params),
            DEFAULT_WINDOW,
        )
    }

    /// A notification (a one-way event; no reply) of `method` with
    /// positional `params`: `.await` it to wait for room first, or
    /// [`send`](Notify::send) it at once.
    pub fn notify(&self, method: &str, params: impl Serialize) -> Notify {
        Notify::new(
            self.clone(),
            crate::message::Outgoing::new(method.into(), &params),
        )
    }
}

/// Whether this thread may block waiting for a call: not a runtime's worker
/// thread, which runs the tasks that must answer the wait (a current-thread
/// runtime's only thread deadlocks; a worker of a multi-thread runtime stalls
/// every task queued on it). Plain threads and tokio's blocking pool
/// (`spawn_blocking`) may.
pub(crate) fn may_block<E>() -> Result<(), Error<E>> {
    match tokio::runtime::worker_index() {
        None => Ok(()),
        Some(_) => Err(Error::Misuse {
            message: "a blocking wait was called on a tokio runtime worker thread, where it \
                      would stall or deadlock the runtime; use `.await` there, and `.wait()` \
                      from plain threads or `spawn_blocking`",
        }),
    }
}
