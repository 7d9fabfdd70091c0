//! Handlers: what runs when a request or notification arrives.
//!
//! A [`Handler`] takes the call's [`CallContext`] and its raw [`Params`] and
//! answers with a [`Reply`] (the encoded result, or an [`ErrorObject`]). Users
//! rarely write one by hand: typed closures become handlers through
//! [`IntoHandler`], which decodes params straight into the closure's argument
//! types (no `Value` in between) and checks arity first, so a wrong call gets
//! `InvalidParams` saying what was expected and what came
//! (`"add expects 2 params, got 1"`, `"add: param 2: invalid type: ..."`).
//!
//! A handler that panics answers `Internal`; the connection and the server live
//! on (`run` is the one place that catches it). Blocking closures, wrapped in
//! [`blocking`], run on tokio's blocking pool, off the runtime threads.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures_util::FutureExt;
use rmpv::Value;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorObject, code};
use crate::message::{MsgId, Params, encode_value};
use crate::peer::Peer;

/// A boxed, sendable future, as handlers return.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What a handler answers: the encoded result value, or an error object.
pub type Reply = Result<Bytes, ErrorObject>;

/// Something that can answer calls on a path.
///
/// Implement it directly for full control over decoding; otherwise register a
/// typed closure (see [`IntoHandler`]).
pub trait Handler: Send + Sync + 'static {
    /// Answers one call. For notifications the reply is discarded.
    fn call(&self, ctx: CallContext, params: Params) -> BoxFuture<Reply>;
}

/// What a handler knows about the call it is answering.
#[derive(Clone)]
pub struct CallContext {
    msgid: Option<MsgId>,
    method: Arc<str>,
    peer: Peer,
    deadline: Option<Instant>,
}

tokio::task_local! {
    /// The deadline of the call a handler task is answering; calls the
    /// handler makes inherit it.
    static DEADLINE: Instant;
}

/// The deadline inherited from the call being handled on this task, if any.
pub(crate) fn inherited_deadline() -> Option<Instant> {
    DEADLINE.try_with(|deadline| *deadline).ok()
}

/// Runs `future` with `deadline` as the one calls made inside it inherit.
pub(crate) async fn with_deadline<F: Future>(deadline: Option<Instant>, future: F) -> F::Output {
    match deadline {
        Some(deadline) => DEADLINE.scope(deadline, future).await,
        None => future.await,
    }
}

impl CallContext {
    pub(crate) fn new(msgid: Option<MsgId>, method: Arc<str>, peer: Peer) -> Self {
        CallContext {
            msgid,
            method,
            peer,
            deadline: None,
        }
    }

    pub(crate) fn with_deadline(mut self, deadline: Option<Instant>) -> Self {
        self.deadline = deadline;
        self
    }

    /// When the caller stops waiting, if it said so (a dotrpc caller that set
    /// a timeout). The handler is dropped then, and calls it makes meanwhile
    /// inherit the deadline.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// How long the caller will still wait, if it said so.
    pub fn remaining(&self) -> Option<std::time::Duration> {
        self.deadline
            .map(|deadline| deadline.saturating_duration_since(Instant::now()))
    }

    /// The request's msgid; `None` for a notification.
    pub fn msgid(&self) -> Option<MsgId> {
        self.msgid
    }

    /// Whether the caller waits for a reply (a request, not a notification).
    pub fn expects_reply(&self) -> bool {
        self.msgid.is_some()
    }

    /// The dot-joined path that was called.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The peer that made the call, to call or notify it back.
    ///
    /// Calling back into the caller from inside a handler is safe: the reader
    /// keeps reading while handlers run, so the reply can arrive.
    pub fn peer(&self) -> &Peer {
        &self.peer
    }
}

impl fmt::Debug for CallContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallContext")
            .field("msgid", &self.msgid)
            .field("method", &self.method)
            .finish()
    }
}

/// Runs a handler, turning a panic (while building or polling its future) into
/// an `Internal` error reply.
pub(crate) async fn run(handler: &dyn Handler, ctx: CallContext, params: Params) -> Reply {
    let method = Arc::clone(&ctx.method);
    catch_panic(&method, || handler.call(ctx, params))
        .await
        .and_then(|reply| reply)
}

/// Builds and polls a future, turning a panic in either step into `Internal`.
pub(crate) async fn catch_panic<T>(
    method: &str,
    make: impl FnOnce() -> BoxFuture<T>,
) -> Result<T, ErrorObject> {
    let future = std::panic::catch_unwind(AssertUnwindSafe(make))
        .map_err(|panic| panicked(method, panic.as_ref()))?;
    AssertUnwindSafe(future)
        .catch_unwind()
        .await
        .map_err(|panic| panicked(method, panic.as_ref()))
}

pub(crate) fn panicked(method: &str, panic: &(dyn std::any::Any + Send)) -> ErrorObject {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string payload".to_owned());
    tracing::error!(method, panic = %what, "handler panicked");
    ErrorObject::new(
        code::INTERNAL,
        format!("handler for `{method}` panicked: {what}"),
    )
}

/// Decodes params into a tuple of argument types, checking the arity first.
pub trait FromParams: Sized {
    /// How many params the tuple takes.
    const ARITY: usize;

    /// Decodes `params` for a call to `method`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParams`] naming the method, the expected and actual
    /// count, or the param (1-based) whose type did not fit.
    fn from_params(method: &str, params: &Params) -> Result<Self, Error>;
}

pub(crate) fn check_arity(method: &str, expected: usize, params: &Params) -> Result<(), Error> {
    if params.len() == expected {
        return Ok(());
    }
    let plural = if expected == 1 { "" } else { "s" };
    let name = method.rsplit('.').next().unwrap_or(method);
    Err(Error::InvalidParams {
        method: method.to_owned(),
        reason: format!(
            "{name} expects {expected} param{plural}, got {}",
            params.len()
        ),
    })
}

/// Decodes the next param from `items` into `T`.
pub(crate) fn next_param<T: DeserializeOwned>(
    method: &str,
    position: usize,
    items: &mut &[u8],
) -> Result<T, Error> {
    let mut de = rmp_serde::Deserializer::new(&mut *items);
    T::deserialize(&mut de).map_err(|e| {
        let name = method.rsplit('.').next().unwrap_or(method);
        Error::InvalidParams {
            method: method.to_owned(),
            reason: format!("{name}: param {position}: {e}"),
        }
    })
}

macro_rules! count {
    () => { 0 };
    ($head:ident $($tail:ident)*) => { 1 + count!($($tail)*) };
}

macro_rules! from_params_for_tuples {
    ($($t:ident)*) => {
        impl<$($t: DeserializeOwned,)*> FromParams for ($($t,)*) {
            const ARITY: usize = count!($($t)*);

            #[allow(non_snake_case, unused_variables, unused_mut, unused_assignments)]
            fn from_params(method: &str, params: &Params) -> Result<Self, Error> {
                check_arity(method, Self::ARITY, params)?;
                let mut items = params.items();
                let mut position = 0;
                $(
                    position += 1;
                    let $t: $t = next_param(method, position, &mut items)?;
                )*
                Ok(($($t,)*))
            }
        }
    };
}

/// What a typed handler may return: a value to encode, or a `Result` whose
/// error becomes an error reply.
///
/// Implemented for `Result<T, E>` (`E` is sent as an `"Application"` error
/// with `E` itself as `data`; [`ErrorObject`] and [`Error`] keep their own
/// codes), for [`Value`] (encoded byte-exact), and for the common plain types:
/// `()`, `bool`, integers, floats, `char`, `String`, `&'static str`, `Vec<T>`,
/// `Option<T>`, maps, sets and tuples of up to four. For a plain value of your
/// own type, return `Ok::<_, ErrorObject>(value)`.
pub trait IntoReply {
    /// Encodes the reply.
    fn into_reply(self) -> Reply;
}

/// Encodes `value` as a successful reply.
///
/// # Errors
///
/// An `Internal` error object if `value`'s `Serialize` fails.
pub fn encode_reply<T: Serialize + ?Sized>(value: &T) -> Reply {
    // Room for any scalar, so small results are written without regrowing.
    let mut out = Vec::with_capacity(16);
    encode_value(&mut out, value).map_err(|e| {
        ErrorObject::new(code::INTERNAL, format!("could not encode the result: {e}"))
    })?;
    Ok(out.into())
}

impl<T: Serialize, E: Serialize + fmt::Display> IntoReply for Result<T, E> {
    fn into_reply(self) -> Reply {
        match self {
            Ok(value) => encode_reply(&value),
            Err(error) => Err(ErrorObject::application(
                error.to_string(),
                crate::message::to_value(&error).ok(),
            )),
        }
    }
}

impl<T: Serialize> IntoReply for Result<T, ErrorObject> {
    fn into_reply(self) -> Reply {
        self.and_then(|value| encode_reply(&value))
    }
}

impl<T: Serialize, A: Serialize + fmt::Display> IntoReply for Result<T, Error<A>> {
    fn into_reply(self) -> Reply {
        self.map_err(|error| ErrorObject::from(&error))
            .and_then(|value| encode_reply(&value))
    }
}

impl IntoReply for Value {
    fn into_reply(self) -> Reply {
        let mut out = Vec::new();
        crate::message::write_value(&mut out, &self);
        Ok(out.into())
    }
}

macro_rules! into_reply_by_serialize {
    ($(<$($g:ident),*> $ty:ty),* $(,)?) => {
        $(impl<$($g: Serialize),*> IntoReply for $ty {
            fn into_reply(self) -> Reply {
                encode_reply(&self)
            }
        })*
    };
}

into_reply_by_serialize! {
    <> (), <> bool, <> char, <> String, <> &'static str,
    <> i8, <> i16, <> i32, <> i64, <> isize, <> u8, <> u16, <> u32, <> u64, <> usize, <> f32, <> f64,
    <T> Vec<T>, <T> Option<T>, <T> std::collections::VecDeque<T>,
    <K, V> std::collections::HashMap<K, V>, <K, V> std::collections::BTreeMap<K, V>,
    <T> std::collections::HashSet<T>, <T> std::collections::BTreeSet<T>,
    <A, B> (A, B), <A, B, C> (A, B, C), <A, B, C, D> (A, B, C, D),
}

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

#[doc(hidden)]
#[derive(Debug)]
pub enum HandlerMarker {}

impl<H: Handler> IntoHandler<HandlerMarker> for H {
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

/// A handler that is a closure over the call: what typed closures become once
/// their argument decoding is wrapped around them, and raw closures once boxed.
struct FnHandler<G>(G);

impl<G> Handler for FnHandler<G>
where
    G: Fn(CallContext, Params) -> BoxFuture<Reply> + Send + Sync + 'static,
{
    fn call(&self, ctx: CallContext, params: Params) -> BoxFuture<Reply> {
        (self.0)(ctx, params)
    }
}

#[doc(hidden)]
#[derive(Debug)]
pub enum AsyncFn {}
#[doc(hidden)]
#[derive(Debug)]
pub enum AsyncFnWithContext {}
#[doc(hidden)]
#[derive(Debug)]
pub enum BlockingFn {}
#[doc(hidden)]
#[derive(Debug)]
pub enum BlockingFnWithContext {}

fn failed(error: Error) -> BoxFuture<Reply> {
    Box::pin(std::future::ready(Err(ErrorObject::from(&error))))
}

/// Runs `f` on the blocking pool; its panic becomes `Internal`.
fn spawn_blocking_reply<R: IntoReply + Send + 'static>(
    method: Arc<str>,
    f: impl FnOnce() -> R + Send + 'static,
) -> BoxFuture<Reply> {
    Box::pin(async move {
        match tokio::task::spawn_blocking(f).await {
            Ok(reply) => reply.into_reply(),
            Err(join) => match join.try_into_panic() {
                Ok(panic) => Err(panicked(&method, panic.as_ref())),
                Err(_) => Err(ErrorObject::new(
                    code::INTERNAL,
                    format!("handler for `{method}` was cancelled"),
                )),
            },
        }
    })
}

macro_rules! typed_handlers {
    ($($t:ident)*) => {
        from_params_for_tuples!($($t)*);

        impl<F, Fut, R, $($t,)*> IntoHandler<(AsyncFn, $($t,)*)> for F
        where
            F: Fn($($t),*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = R> + Send + 'static,
            R: IntoReply,
            $($t: DeserializeOwned + Send + 'static,)*
        {
            #[allow(non_snake_case)]
            fn into_handler(self) -> Arc<dyn Handler> {
                Arc::new(FnHandler(move |ctx: CallContext, params: Params| -> BoxFuture<Reply> {
                    match <($($t,)*)>::from_params(ctx.method(), &params) {
                        Ok(($($t,)*)) => {
                            let future = self($($t),*);
                            Box::pin(async move { future.await.into_reply() })
                        }
                        Err(error) => failed(error),
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
                Arc::new(FnHandler(move |ctx: CallContext, params: Params| -> BoxFuture<Reply> {
                    match <($($t,)*)>::from_params(ctx.method(), &params) {
                        Ok(($($t,)*)) => {
                            let future = self(ctx, $($t),*);
                            Box::pin(async move { future.await.into_reply() })
                        }
                        Err(error) => failed(error),
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
                Arc::new(FnHandler(move |ctx: CallContext, params: Params| -> BoxFuture<Reply> {
                    match <($($t,)*)>::from_params(ctx.method(), &params) {
                        Ok(($($t,)*)) => {
                            let f = Arc::clone(&f);
                            spawn_blocking_reply(Arc::clone(&ctx.method), move || f($($t),*))
                        }
                        Err(error) => failed(error),
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
                Arc::new(FnHandler(move |ctx: CallContext, params: Params| -> BoxFuture<Reply> {
                    match <($($t,)*)>::from_params(ctx.method(), &params) {
                        Ok(($($t,)*)) => {
                            let f = Arc::clone(&f);
                            let method = Arc::clone(&ctx.method);
                            spawn_blocking_reply(method, move || f(ctx, $($t),*))
                        }
                        Err(error) => failed(error),
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
/// an encoded reply; what [`Router::set_raw_handler`](crate::Router::set_raw_handler)
/// registers.
pub(crate) fn raw<F, Fut>(f: F) -> Arc<dyn Handler>
where
    F: Fn(CallContext, Params) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Reply> + Send + 'static,
{
    Arc::new(FnHandler(move |ctx, params| -> BoxFuture<Reply> {
        Box::pin(f(ctx, params))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(values: Vec<Value>) -> Params {
        Params::from_values(&values)
    }

    #[test]
    fn arity_is_checked_before_types() {
        let error = <(i64, i64)>::from_params("math.add", &params(vec![1.into()])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid params for `math.add`: add expects 2 params, got 1"
        );
        let error = <(String,)>::from_params("log", &params(vec![])).unwrap_err();
        assert!(
            error.to_string().ends_with("log expects 1 param, got 0"),
            "{error}"
        );
    }

    #[test]
    fn a_param_of_the_wrong_type_is_named_by_position() {
        let error =
            <(i64, i64)>::from_params("add", &params(vec![1.into(), "two".into()])).unwrap_err();
        let Error::InvalidParams { reason, .. } = error else {
            panic!("{error:?}")
        };
        assert!(reason.starts_with("add: param 2: "), "{reason}");
    }

    #[test]
    fn params_decode_straight_into_their_types() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Point {
            x: i32,
            y: i32,
        }
        let point = Value::Map(vec![("x".into(), 1.into()), ("y".into(), 2.into())]);
        let decoded = <(Point, Vec<f64>, Option<String>)>::from_params(
            "m",
            &params(vec![point, vec![Value::from(0.5)].into(), Value::Nil]),
        )
        .unwrap();
        assert_eq!(decoded, (Point { x: 1, y: 2 }, vec![0.5], None));
    }

    #[test]
    fn replies_encode_values_and_errors() {
        assert_eq!(&5i64.into_reply().unwrap()[..], &[5]);
        let error = Err::<i64, String>("division by zero".into())
            .into_reply()
            .unwrap_err();
        assert_eq!(
            (error.code.as_str(), error.message.as_str()),
            ("Application", "division by zero")
        );
        assert_eq!(error.data, Some(Value::from("division by zero")));
        let error = Err::<(), _>(ErrorObject::new("Overloaded", "busy"))
            .into_reply()
            .unwrap_err();
        assert_eq!(error.code, "Overloaded");
    }
}
