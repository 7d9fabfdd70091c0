//! Closures as handlers: [`IntoHandler`] for async closures of up to eight
//! typed arguments (optionally taking the [`CallContext`] first), and
//! [`blocking`] for plain closures that must run off the runtime threads.

use std::future::Future;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::{CallContext, FromParams, Handler, Handling, IntoReply, Reply};
use crate::message::{Encoded, ErrorObject, Params};

/// Turns a closure (or a [`Handler`]) into a handler for the router.
///
/// `M` is a marker that lets one method accept closures of any arity; you never
/// name it. Accepted shapes, for up to eight arguments `T1..Tn` that are
/// `DeserializeOwned`, returning an [`IntoReply`]:
///
/// * `async` closures `|a: T1, b: T2| async move { .. }`;
/// * the same with the context first: `|ctx: CallContext, a: T1| async move { .. }`;
/// * blocking closures wrapped in [`blocking`], with or without the context.
pub trait IntoHandler<M>: Sized {
    /// The handler.
    fn into_handler(self) -> Arc<dyn Handler>;
}

/// The markers that tell the closure shapes apart; public only so that they
/// can appear in `IntoHandler`'s impls, and never nameable by users.
#[allow(unreachable_pub, missing_debug_implementations)]
mod shape {
    pub enum AnyHandler {}
    pub enum AsyncFn {}
    pub enum AsyncFnWithContext {}
    pub enum BlockingFn {}
    pub enum BlockingFnWithContext {}
}
use shape::{AnyHandler, AsyncFn, AsyncFnWithContext, BlockingFn, BlockingFnWithContext};

impl<H: Handler> IntoHandler<AnyHandler> for H {
    fn into_handler(self) -> Arc<dyn Handler> {
        Arc::new(self)
    }
}

/// Runs a plain (non-`async`) closure on tokio's blocking pool, off the runtime
/// threads: for handlers that do file I/O, heavy computation or call blocking
/// libraries.
///
/// ```
/// # let router = dotrpc::Router::new();
/// router.set_handler("fs.size", dotrpc::blocking(|path: String| {
///     std::fs::metadata(path).map(|m| m.len()).map_err(|e| e.to_string())
/// }));
/// ```
pub fn blocking<F>(f: F) -> Blocking<F> {
    Blocking(Arc::new(f))
}

/// A closure that runs off the runtime threads; see [`blocking`].
#[derive(Debug)]
pub struct Blocking<F>(Arc<F>);

/// A handler that is a closure over the call.
struct FnHandler<G>(G);

impl<G> Handler for FnHandler<G>
where
    G: Fn(CallContext, Params) -> Handling + Send + Sync + 'static,
{
    fn call(&self, ctx: CallContext, params: Params) -> Handling {
        (self.0)(ctx, params)
    }
}

/// The reply to `out`, encoded only if it is sent (not for a notification).
fn reply_if(answer: bool, out: impl IntoReply) -> Reply {
    if answer {
        out.into_reply()
    } else {
        Ok(Encoded::empty())
    }
}

/// Runs `f` on the blocking pool. Its panic is raised again here, so the
/// dispatcher's one panic boundary answers it.
fn on_blocking_pool<R: IntoReply + Send + 'static>(
    f: impl FnOnce() -> R + Send + 'static,
) -> Handling {
    Handling::later(async move {
        match tokio::task::spawn_blocking(f).await {
            Ok(reply) => reply.into_reply(),
            Err(join) => match join.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(_) => Err(ErrorObject::internal("the handler was cancelled")),
            },
        }
    })
}

macro_rules! typed_handlers {
    ($($t:ident)*) => {
        impl<F, Fut, R, $($t,)*> IntoHandler<(AsyncFn, $($t,)*)> for F
        where
            F: Fn($($t),*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = R> + Send + 'static,
            R: IntoReply,
            $($t: DeserializeOwned + Send + 'static,)*
        {
            #[allow(non_snake_case)]
            fn into_handler(self) -> Arc<dyn Handler> {
                Arc::new(FnHandler(move |ctx: CallContext, params: Params| {
                    match <($($t,)*)>::from_params(ctx.method(), &params) {
                        Ok(($($t,)*)) => {
                            let answer = ctx.expects_reply();
                            let future = self($($t),*);
                            Handling::later(async move { reply_if(answer, future.await) })
                        }
                        Err(error) => Handling::Ready(Err(error)),
                    }
                }))
            }
        }

        impl<F, Fut, R, $($t,)*> IntoHandler<(AsyncFnWithContext, $($t,)*)> for F
        where
            F: Fn(CallContext, $($t),*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = R> + Send + 'static,
            R: IntoReply,
            $($t: DeserializeOwned + Send + 'static,)*
        {
            #[allow(non_snake_case)]
            fn into_handler(self) -> Arc<dyn Handler> {
                Arc::new(FnHandler(move |ctx: CallContext, params: Params| {
                    match <($($t,)*)>::from_params(ctx.method(), &params) {
                        Ok(($($t,)*)) => {
                            let answer = ctx.expects_reply();
                            let future = self(ctx, $($t),*);
                            Handling::later(async move { reply_if(answer, future.await) })
                        }
                        Err(error) => Handling::Ready(Err(error)),
                    }
                }))
            }
        }

        impl<F, R, $($t,)*> IntoHandler<(BlockingFn, $($t,)*)> for Blocking<F>
        where
            F: Fn($($t),*) -> R + Send + Sync + 'static,
            R: IntoReply + Send + 'static,
            $($t: DeserializeOwned + Send + 'static,)*
        {
            #[allow(non_snake_case)]
            fn into_handler(self) -> Arc<dyn Handler> {
                let f = self.0;
                Arc::new(FnHandler(move |ctx: CallContext, params: Params| {
                    match <($($t,)*)>::from_params(ctx.method(), &params) {
                        Ok(($($t,)*)) => {
                            let f = Arc::clone(&f);
                            on_blocking_pool(move || f($($t),*))
                        }
                        Err(error) => Handling::Ready(Err(error)),
                    }
                }))
            }
        }

        impl<F, R, $($t,)*> IntoHandler<(BlockingFnWithContext, $($t,)*)> for Blocking<F>
        where
            F: Fn(CallContext, $($t),*) -> R + Send + Sync + 'static,
            R: IntoReply + Send + 'static,
            $($t: DeserializeOwned + Send + 'static,)*
        {
            #[allow(non_snake_case)]
            fn into_handler(self) -> Arc<dyn Handler> {
                let f = self.0;
                Arc::new(FnHandler(move |ctx: CallContext, params: Params| {
                    match <($($t,)*)>::from_params(ctx.method(), &params) {
                        Ok(($($t,)*)) => {
                            let f = Arc::clone(&f);
                            on_blocking_pool(move || f(ctx, $($t),*))
                        }
                        Err(error) => Handling::Ready(Err(error)),
                    }
                }))
            }
        }
    };
}

typed_handlers!();
typed_handlers!(T1);
typed_handlers!(T1 T2);
typed_handlers!(T1 T2 T3);
typed_handlers!(T1 T2 T3 T4);
typed_handlers!(T1 T2 T3 T4 T5);
typed_handlers!(T1 T2 T3 T4 T5 T6);
typed_handlers!(T1 T2 T3 T4 T5 T6 T7);
typed_handlers!(T1 T2 T3 T4 T5 T6 T7 T8);

/// The handler for a closure that sees params as they came and answers with
/// an encoded reply, later; what `Router::set_raw_handler` registers.
pub(crate) fn raw<F, Fut>(f: F) -> Arc<dyn Handler>
where
    F: Fn(CallContext, Params) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Reply> + Send + 'static,
{
    Arc::new(FnHandler(move |ctx, params| {
        Handling::later(f(ctx, params))
    }))
}
