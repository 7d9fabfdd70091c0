//! Namespace path → handler.
//!
//! Every inbound request and notification is routed by its method, a
//! dot-joined path such as `"math.stats.mean"`. Registering by full path and
//! registering relative to a [`Namespace`] are the same operation: a namespace is
//! only a prefix. A path with no handler goes to the fallback, if one is set
//! and takes it; otherwise a request is answered with `UnknownApi` naming the
//! path, and a notification (which must never be answered) is counted and
//! logged.
//!
//! One router is shared by every connection of a server (or by one client
//! peer); handlers can be added and removed while calls are being served.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use dashmap::DashMap;

use crate::error::{ErrorObject, code};
use crate::handler::{self, BoxFuture, CallContext, Handler, IntoHandler, Reply};
use crate::message::Params;

/// A fallback for paths with no handler: answers with `Some(reply)`, or
/// declines with `None`.
type Fallback = dyn Fn(CallContext, Params) -> BoxFuture<Option<Reply>> + Send + Sync;

/// Maps namespace paths to handlers.
#[derive(Default)]
pub struct Router {
    handlers: DashMap<Box<str>, Arc<dyn Handler>>,
    fallback: RwLock<Option<Arc<Fallback>>>,
    /// Notifications that found no handler (they are never answered).
    unhandled_notifications: AtomicU64,
}

impl Router {
    /// An empty router: every call is answered with `UnknownApi`.
    pub fn new() -> Self {
        Router::default()
    }

    /// Registers `handler` at the full `path`, replacing any handler there.
    ///
    /// `handler` is a typed closure (see [`IntoHandler`]) or a [`Handler`].
    ///
    /// ```
    /// let router = dotrpc::Router::new();
    /// router.set_handler("add", |a: i64, b: i64| async move { a + b });
    /// router.set_handler("math.stats.mean", |xs: Vec<f64>| async move {
    ///     xs.iter().sum::<f64>() / xs.len() as f64
    /// });
    /// ```
    ///
    /// # Panics
    ///
    /// If `path` is empty or has an empty segment (`"a..b"`, `".a"`, `"a."`).
    pub fn set_handler<M>(&self, path: &str, handler: impl IntoHandler<M>) -> &Self {
        check_path(path);
        self.handlers.insert(path.into(), handler.into_handler());
        self
    }

    /// Registers a handler that sees the params as they came and answers with
    /// an encoded reply: the dynamic path, byte-exact (see
    /// [`Params::values`] and [`IntoReply`](crate::IntoReply) for
    /// [`Value`](crate::Value)).
    ///
    /// # Panics
    ///
    /// As [`set_handler`](Router::set_handler), for a malformed path.
    pub fn set_raw_handler<F, Fut>(&self, path: &str, handler: F) -> &Self
    where
        F: Fn(CallContext, Params) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Reply> + Send + 'static,
    {
        check_path(path);
        self.handlers.insert(path.into(), handler::raw(handler));
        self
    }

    /// Removes the handler at `path`; returns whether there was one.
    pub fn remove_handler(&self, path: &str) -> bool {
        self.handlers.remove(path).is_some()
    }

    /// A view of the router under `prefix`: registering `"mean"` there is
    /// registering `"{prefix}.mean"` here.
    ///
    /// # Panics
    ///
    /// If `prefix` is not a well-formed path.
    pub fn namespace(&self, prefix: &str) -> Namespace<'_> {
        check_path(prefix);
        Namespace {
            router: self,
            prefix: prefix.to_owned(),
        }
    }

    /// Sets the handler for every call no registered handler takes. It sees the
    /// context (with the path) and the raw params, and answers with
    /// `Some(reply)` or declines with `None` (the caller then gets
    /// `UnknownApi`).
    ///
    /// ```
    /// # use dotrpc::{Router, Value};
    /// use dotrpc::IntoReply;
    /// let router = Router::new();
    /// router.set_fallback(|ctx, _params| async move {
    ///     ctx.method().starts_with("legacy.").then(|| Value::from("moved").into_reply())
    /// });
    /// ```
    pub fn set_fallback<F, Fut>(&self, fallback: F) -> &Self
    where
        F: Fn(CallContext, Params) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<Reply>> + Send + 'static,
    {
        let boxed: Arc<Fallback> = Arc::new(move |ctx, params| Box::pin(fallback(ctx, params)));
        *self
            .fallback
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(boxed);
        self
    }

    /// Removes the fallback; unhandled calls get `UnknownApi` again.
    pub fn clear_fallback(&self) -> &Self {
        *self
            .fallback
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
        self
    }

    /// The paths that have a handler, sorted.
    pub fn paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = self
            .handlers
            .iter()
            .map(|entry| entry.key().to_string())
            .collect();
        paths.sort_unstable();
        paths
    }

    /// Whether a handler is registered at `path`.
    pub fn contains(&self, path: &str) -> bool {
        self.handlers.contains_key(path)
    }

    /// How many notifications arrived for paths nobody handles.
    pub fn unhandled_notifications(&self) -> u64 {
        self.unhandled_notifications.load(Ordering::Relaxed)
    }

    /// Routes one call to its handler, the fallback, or `UnknownApi`.
    pub(crate) async fn dispatch(&self, ctx: CallContext, params: Params) -> Reply {
        let handler = self
            .handlers
            .get(ctx.method())
            .map(|entry| Arc::clone(entry.value()));
        if let Some(handler) = handler {
            return handler::run(handler.as_ref(), ctx, params).await;
        }
        let fallback = self
            .fallback
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        let method = ctx.method().to_owned();
        let expects_reply = ctx.expects_reply();
        if let Some(fallback) = fallback {
            match handler::catch_panic(&method, || fallback(ctx, params)).await {
                Ok(None) => {}
                Ok(Some(reply)) => return reply,
                Err(panicked) => return Err(panicked),
            }
        }
        if !expects_reply {
            self.unhandled_notifications.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(method, "notification for a path with no handler; dropped");
        }
        Err(ErrorObject::new(
            code::UNKNOWN_API,
            format!("no handler for `{method}`"),
        ))
    }
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let has_fallback = self.fallback.read().map(|f| f.is_some()).unwrap_or(false);
        f.debug_struct("Router")
            .field("paths", &self.paths())
            .field("fallback", &has_fallback)
            .finish()
    }
}

/// A router seen from under a namespace prefix; see [`Router::namespace`].
#[derive(Debug, Clone)]
pub struct Namespace<'r> {
    router: &'r Router,
    prefix: String,
}

impl<'r> Namespace<'r> {
    fn path(&self, name: &str) -> String {
        format!("{}.{name}", self.prefix)
    }

    /// The full path of this namespace.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Registers `handler` at `"{prefix}.{name}"`; see [`Router::set_handler`].
    ///
    /// # Panics
    ///
    /// If `name` is not a well-formed path.
    pub fn set_handler<M>(&self, name: &str, handler: impl IntoHandler<M>) -> &Self {
        self.router.set_handler(&self.path(name), handler);
        self
    }

    /// Registers a raw handler at `"{prefix}.{name}"`; see
    /// [`Router::set_raw_handler`].
    ///
    /// # Panics
    ///
    /// If `name` is not a well-formed path.
    pub fn set_raw_handler<F, Fut>(&self, name: &str, handler: F) -> &Self
    where
        F: Fn(CallContext, Params) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Reply> + Send + 'static,
    {
        self.router.set_raw_handler(&self.path(name), handler);
        self
    }

    /// Removes the handler at `"{prefix}.{name}"`.
    pub fn remove_handler(&self, name: &str) -> bool {
        self.router.remove_handler(&self.path(name))
    }

    /// A nested namespace: `router.namespace("a").namespace("b")` is
    /// `router.namespace("a.b")`.
    ///
    /// # Panics
    ///
    /// If `name` is not a well-formed path.
    pub fn namespace(&self, name: &str) -> Namespace<'r> {
        self.router.namespace(&self.path(name))
    }
}

fn check_path(path: &str) {
    assert!(
        !path.is_empty() && path.split('.').all(|segment| !segment.is_empty()),
        "`{path}` is not a namespace path; use dot-joined names such as `math.stats.mean`"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorObject;
    use crate::handler::IntoReply;
    use crate::peer::Peer;
    use rmpv::Value;

    fn ctx(method: &str, request: bool) -> CallContext {
        CallContext::new(request.then_some(1), method.into(), Peer::detached())
    }

    async fn call(router: &Router, method: &str, values: Vec<Value>) -> Result<Value, ErrorObject> {
        let reply = router
            .dispatch(ctx(method, true), Params::from_values(&values))
            .await?;
        Ok(rmpv::decode::read_value(&mut &reply[..]).unwrap())
    }

    #[tokio::test]
    async fn full_path_and_namespace_registration_are_the_same() {
        let by_path = Router::new();
        by_path.set_handler("math.stats.mean", |xs: Vec<f64>| async move {
            xs.iter().sum::<f64>() / xs.len() as f64
        });
        let by_namespace = Router::new();
        by_namespace
            .namespace("math")
            .namespace("stats")
            .set_handler("mean", |xs: Vec<f64>| async move {
                xs.iter().sum::<f64>() / xs.len() as f64
            });
        assert_eq!(by_path.paths(), by_namespace.paths());
        let xs = vec![Value::Array(vec![1.0.into(), 2.0.into()])];
        assert_eq!(
            call(&by_path, "math.stats.mean", xs.clone()).await,
            Ok(Value::from(1.5))
        );
        assert_eq!(
            call(&by_namespace, "math.stats.mean", xs).await,
            Ok(Value::from(1.5))
        );
    }

    #[tokio::test]
    async fn removed_handlers_answer_unknown_api() {
        let router = Router::new();
        router.set_handler("ping", || async { "pong" });
        assert_eq!(call(&router, "ping", vec![]).await, Ok(Value::from("pong")));
        assert!(!router.namespace("x").remove_handler("nothing"));
        assert!(router.remove_handler("ping"));
        let error = call(&router, "ping", vec![]).await.unwrap_err();
        assert_eq!(
            (error.code.as_str(), error.message.as_str()),
            ("UnknownApi", "no handler for `ping`")
        );
    }

    #[tokio::test]
    async fn the_fallback_sees_unhandled_calls_and_may_decline() {
        let router = Router::new();
        router.set_fallback(|ctx, params| async move {
            let answer = format!("{} with {} params", ctx.method(), params.len());
            ctx.method()
                .starts_with("dyn.")
                .then(|| Value::from(answer).into_reply())
        });
        assert_eq!(
            call(&router, "dyn.any.path", vec![1.into()]).await,
            Ok(Value::from("dyn.any.path with 1 params"))
        );
        assert_eq!(
            call(&router, "other", vec![]).await.unwrap_err().code,
            "UnknownApi"
        );
        router.clear_fallback();
        assert_eq!(
            call(&router, "dyn.any.path", vec![])
                .await
                .unwrap_err()
                .code,
            "UnknownApi"
        );
    }

    #[tokio::test]
    async fn invalid_params_say_expected_and_got() {
        let router = Router::new();
        router.set_handler("add", |a: i64, b: i64| async move { a + b });
        let error = call(&router, "add", vec![1.into()]).await.unwrap_err();
        assert_eq!(
            (error.code.as_str(), error.message.as_str()),
            ("InvalidParams", "add expects 2 params, got 1")
        );
    }

    #[tokio::test]
    async fn notifications_to_unknown_paths_are_counted() {
        let router = Router::new();
        let _ = router
            .dispatch(ctx("nobody.home", false), Params::from_values(&[]))
            .await;
        let _ = router
            .dispatch(ctx("nobody.home", true), Params::from_values(&[]))
            .await;
        assert_eq!(router.unhandled_notifications(), 1);
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_internal() {
        let router = Router::new();
        router.set_handler("boom", || async { panic!("kaboom") as i64 });
        let error = call(&router, "boom", vec![]).await.unwrap_err();
        assert_eq!(error.code, "Internal");
        assert!(error.message.contains("kaboom"), "{}", error.message);
    }

    #[test]
    #[should_panic(expected = "is not a namespace path")]
    fn empty_segments_are_refused() {
        Router::new().set_handler("a..b", || async {});
    }
}
