//! Handlers: what runs when a request or notification arrives.
//!
//! A [`Handler`] takes the call's [`CallContext`] and its raw [`Params`] and
//! answers with a [`Reply`] (the encoded result, or an [`ErrorObject`]),
//! either at once or through a future ([`Handling`]). Users rarely write one
//! by hand: typed closures become handlers through [`IntoHandler`], which
//! decodes params straight into the closure's argument types (no `Value` in
//! between) and checks arity first, so a wrong call gets `InvalidParams`
//! saying what was expected and what came (`"add expects 2 params, got 1"`,
//! `"add: param 2: invalid type: ..."`); `#[rpc_api]` generates the same
//! glue. Results are encoded by [`IntoReply`], and application errors by one
//! encoder, [`ErrorObject::application`].
//!
//! Handlers know nothing of connections: the dispatcher runs them, catches
//! their panics (an `Internal` reply), enforces deadlines and writes replies.

mod broken;
mod context;
mod params;
mod receiver;
mod reply;
mod sink;
mod typed;

use std::future::Future;
use std::pin::Pin;

pub use crate::message::{Encoded, ErrorObject, Params};
pub use broken::StreamError;
pub use context::CallContext;
pub(crate) use context::new_context;
pub(crate) use params::{FromParams, ParamReader};
pub use receiver::ItemReceiver;
pub use reply::IntoReply;
pub(crate) use reply::encode_reply;
pub use sink::ItemSink;
pub(crate) use typed::raw;
pub use typed::{Blocking, IntoHandler, blocking};

/// A boxed, sendable future.
pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What a handler answers: the encoded result value, or an error object.
pub type Reply = Result<Encoded, ErrorObject>;

/// How a handler answers one call: at once, or later.
pub enum Handling {
    /// The reply, already made: the handler needed to wait for nothing (a
    /// plain `fn`), so nothing was allocated for it.
    Ready(Reply),
    /// The reply, once this future completes.
    Later(Pin<Box<dyn Future<Output = Reply> + Send + 'static>>),
}

impl Handling {
    /// The reply `future` will make.
    pub fn later(future: impl Future<Output = Reply> + Send + 'static) -> Handling {
        Handling::Later(Box::pin(future))
    }
}

impl std::fmt::Debug for Handling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Handling::Ready(reply) => f.debug_tuple("Ready").field(reply).finish(),
            Handling::Later(_) => f.write_str("Later(..)"),
        }
    }
}

/// Something that can answer calls on a path.
///
/// Implement it directly for full control over decoding; otherwise register a
/// typed closure (see [`IntoHandler`]), which decodes params straight into
/// its argument types and answers a wrong call with `InvalidParams` saying
/// what was expected and what came. A handler that answers at once returns
/// [`Handling::Ready`] and costs no allocation; one that waits returns its
/// future. Its panics are caught (the call is answered `Internal`), and its
/// caller's deadline, if any, is enforced around it.
pub trait Handler: Send + Sync + 'static {
    /// Answers one call. For notifications the reply is discarded.
    fn call(&self, ctx: CallContext, params: Params) -> Handling;
}

impl std::fmt::Debug for dyn Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Handler")
    }
}
