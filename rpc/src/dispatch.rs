//! One inbound call, from its arrival to its reply: route → authorize →
//! handler (under the caller's deadline) → size cap → reply, with one panic
//! boundary around everything the user's code runs.
//!
//! The connection hands every request and notification here. Most handlers
//! answer on their first poll, which happens right here, on the connection's
//! task: the reply is encoded straight into the connection's queue and goes
//! out with the rest of the batch, with no task, no channel and no
//! allocation beyond the handler's own future (none at all for a plain `fn`
//! handler). A handler that has to wait is handed back to the connection as
//! a task, which finishes it the same way.
//!
//! What users' code runs in (the authorize hook, the handler, the fallback,
//! every poll of their futures) is caught if it panics, here and nowhere
//! else: a request is answered `Internal`, a notification is logged, and the
//! connection and the server live on.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::deadline;
use crate::handler::{BoxFuture, CallContext, Handling, Reply, encode_reply, new_context};
use crate::message::{ErrorFormat, ErrorObject, Frames, MsgId, code};
use crate::observe::{self, CallMeter, Side};
use crate::peer::{Dispatch, InboundCall, Link, Peer};
use crate::router::{Routed, Router};

/// The hook registered with [`PeerBuilder::authorize`](crate::PeerBuilder::authorize).
pub(crate) type Authorize = Arc<dyn Fn(&CallContext) -> Result<(), ErrorObject> + Send + Sync>;

/// Runs the calls that arrive on a peer's connections.
pub(crate) struct Dispatcher {
    pub(crate) router: Arc<Router>,
    pub(crate) authorize: Option<Authorize>,
    pub(crate) error_format: ErrorFormat,
}

impl Dispatch for Dispatcher {
    fn start(
        &self,
        call: InboundCall,
        peer: Peer,
        link: &Arc<Link>,
    ) -> Option<crate::peer::BoxFuture<()>> {
        let InboundCall {
            msgid,
            invocation,
            deadline,
            trace,
            credit,
        } = call;
        let routed = self.router.route(invocation.method_bytes());
        let path = match &routed {
            Routed::Handler(path, _) => Arc::clone(path),
            _ => Arc::from(invocation.method_str()),
        };
        let params = invocation.params;
        let span = observe::handle_span(link.id, &path, msgid, trace.as_ref());
        let answer = Answer {
            msgid,
            format: self.error_format,
            meter: msgid.map(|_| CallMeter::start(Side::Server, &path)),
        };
        let ctx = new_context(msgid, path, peer, deadline, credit);
        let _entered = span.as_ref().map(tracing::Span::enter);
        let method = Arc::clone(ctx.method_arc());
        let handling = guarded(&method, || self.begin(ctx, params, routed))
            .unwrap_or_else(|panicked| Handling::Ready(Err(panicked)));
        let future = match handling {
            Handling::Ready(reply) => {
                answer.send(link, &method, reply);
                return None;
            }
            Handling::Later(future) => future,
        };
        let mut running = Running {
            future,
            deadline,
            method,
        };
        // The first poll, right here; a handler that must wait is polled
        // again by its task, with a waker of its own.
        let mut cx = Context::from_waker(Waker::noop());
        if let Poll::Ready(reply) = Pin::new(&mut running).poll(&mut cx) {
            answer.send(link, &running.method, reply);
            return None;
        }
        drop(_entered);
        let link = Arc::clone(link);
        let rest = async move {
            let method = Arc::clone(&running.method);
            let reply = match deadline {
                Some(deadline) => tokio::time::timeout_at(deadline.into(), running)
                    .await
                    .unwrap_or_else(|_| {
                        Err(ErrorObject::new(
                            code::TIMEOUT,
                            "the caller's deadline passed",
                        ))
                    }),
                None => running.await,
            };
            answer.send(&link, &method, reply);
        };
        Some(match span {
            Some(span) => Box::pin(tracing::Instrument::instrument(rest, span)),
            None => Box::pin(rest),
        })
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn error_format(&self) -> ErrorFormat {
        self.error_format
    }
}

impl Dispatcher {
    /// Authorizes the call and starts its handler (or the fallback).
    fn begin(&self, ctx: CallContext, params: crate::message::Params, routed: Routed) -> Handling {
        if let Some(authorize) = &self.authorize
            && let Err(refusal) = authorize(&ctx)
        {
            tracing::debug!(method = ctx.method(), reason = %refusal, "refused by the authorize hook");
            return Handling::Ready(Err(refusal));
        }
        match routed {
            Routed::Handler(_, handler) => handler.call(ctx, params),
            Routed::Describe => Handling::Ready(encode_reply(&self.router.description())),
            Routed::Unknown => Handling::Ready(Err(self.unknown(&ctx))),
            Routed::Fallback(fallback) => {
                let router = Arc::clone(&self.router);
                let expects_reply = ctx.expects_reply();
                let method = Arc::clone(ctx.method_arc());
                let answered = fallback(ctx, params);
                Handling::later(async move {
                    match answered.await {
                        Some(reply) => reply,
                        None => {
                            if !expects_reply {
                                router.count_unhandled(&method);
                            }
                            Err(unknown_api(&method))
                        }
                    }
                })
            }
        }
    }

    fn unknown(&self, ctx: &CallContext) -> ErrorObject {
        if !ctx.expects_reply() {
            self.router.count_unhandled(ctx.method());
        }
        unknown_api(ctx.method())
    }
}

fn unknown_api(method: &str) -> ErrorObject {
    ErrorObject::unknown_api(format!("no handler for `{method}`"))
}

/// A handler's future being polled, with the caller's deadline in scope and
/// its panics caught.
struct Running {
    future: BoxFuture<Reply>,
    deadline: Option<Instant>,
    method: Arc<str>,
}

impl Future for Running {
    type Output = Reply;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Reply> {
        let this = self.get_mut();
        let (future, method) = (&mut this.future, &this.method);
        let polled = guarded(method, || {
            deadline::with(this.deadline, || future.as_mut().poll(cx))
        });
        match polled {
            Ok(poll) => poll,
            Err(panicked) => Poll::Ready(Err(panicked)),
        }
    }
}

/// The panic boundary: runs `f`, turning a panic into an `Internal` error.
fn guarded<T>(method: &str, f: impl FnOnce() -> T) -> Result<T, ErrorObject> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-string payload".to_owned());
        tracing::error!(method, panic = %what, "handler panicked");
        ErrorObject::internal(format!("handler for `{method}` panicked: {what}"))
    })
}

/// How a call is answered, and counted.
struct Answer {
    /// `None` for a notification, which is never answered.
    msgid: Option<MsgId>,
    format: ErrorFormat,
    /// Requests only.
    meter: Option<CallMeter>,
}

impl Answer {
    /// Queues the reply on `link`; runs in the call's span.
    fn send(self, link: &Link, method: &str, reply: Reply) {
        let Some(msgid) = self.msgid else {
            if let Err(error) = reply {
                mark_failed(&error);
                tracing::debug!(method, %error, "a notification's handler failed");
            }
            return;
        };
        // A reply the other side could not accept would close the connection
        // there and fail every call on it; answer this one call with an error.
        let max = link.options.limits.max_message_size;
        let reply = reply.and_then(|result| {
            if Frames::response_len(result.len()) > max {
                Err(ErrorObject::internal(format!(
                    "the result of {} bytes exceeds the maximum message size of {max} bytes",
                    result.len(),
                )))
            } else {
                Ok(result)
            }
        });
        if let Err(error) = &reply {
            mark_failed(error);
        }
        if let Some(meter) = self.meter {
            meter.finish(reply.as_ref().map_or_else(|error| &*error.code, |_| "ok"));
        }
        // The connection may have closed meanwhile; the reply is then moot.
        let _ = link.push(|frames| frames.push_response(msgid, reply.as_ref(), self.format));
    }
}

/// Marks the call's span (the current one) failed with `error`, as it is
/// answered.
fn mark_failed(error: &ErrorObject) {
    if tracing::level_enabled!(tracing::Level::INFO) {
        observe::failed(&tracing::Span::current(), &error.code, &error.message);
    }
}

impl Peer {
    /// The router that serves this peer's inbound calls: handlers added to
    /// it serve the peer from then on.
    pub fn router(&self) -> &Arc<Router> {
        let dispatcher: &Dispatcher = self
            .dispatch()
            .downcast_ref()
            .expect("every peer is served by a Dispatcher");
        &dispatcher.router
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Invocation, Message};
    use crate::peer::{Options, testing};
    use bytes::Buf;
    use rmpv::Value;

    /// What a call answered: its result, or its error value.
    type Answered = Result<Value, Value>;

    fn dispatcher(router: Router) -> Dispatcher {
        Dispatcher {
            router: Arc::new(router),
            authorize: None,
            error_format: ErrorFormat::Object,
        }
    }

    /// Starts `method(params)` as a request (msgid 7) or a notification;
    /// returns what it left queued, and the rest of it if it had to wait.
    fn start(
        dispatcher: &Dispatcher,
        request: bool,
        method: &'static str,
        params: Vec<Value>,
        options: Options,
    ) -> (Arc<Link>, Option<crate::peer::BoxFuture<()>>) {
        let link = Link::unconnected(options);
        let call = InboundCall {
            msgid: request.then_some(7),
            invocation: Invocation::new(method, &params),
            deadline: None,
            trace: None,
            credit: None,
        };
        let rest = dispatcher.start(call, testing::detached(), &link);
        (link, rest)
    }

    /// The one response queued on `link`, if any.
    fn answer(link: &Link) -> Option<Answered> {
        let mut frames = link.take_queued();
        if frames.is_empty() {
            return None;
        }
        let frame = frames.pop_frame().unwrap();
        assert!(frames.is_empty(), "one frame per call");
        let Message::Response(response) = Message::parse(frame).unwrap() else {
            panic!("not a response")
        };
        assert_eq!(response.msgid(), 7);
        let value = |bytes: &[u8]| rmpv::decode::read_value(&mut &bytes[..]).unwrap();
        Some(match response.error() {
            Some(error) => Err(value(error)),
            None => Ok(value(response.result().chunk())),
        })
    }

    fn call(dispatcher: &Dispatcher, method: &'static str, params: Vec<Value>) -> Answered {
        let (link, rest) = start(dispatcher, true, method, params, Options::default());
        assert!(rest.is_none(), "answered at once");
        answer(&link).expect("an answer")
    }

    fn code(error: &Value) -> &str {
        error["code"].as_str().unwrap()
    }

    #[tokio::test]
    async fn a_call_answered_at_once_is_queued_with_no_task() {
        let router = Router::new();
        router.set_handler("add", |a: i64, b: i64| async move { a + b });
        let answered = call(&dispatcher(router), "add", vec![40.into(), 2.into()]);
        assert_eq!(answered, Ok(Value::from(42)));
    }

    #[tokio::test]
    async fn a_handler_that_waits_is_finished_by_its_task() {
        let router = Router::new();
        router.set_handler("later", |n: u64| async move {
            tokio::task::yield_now().await;
            n + 1
        });
        let dispatcher = dispatcher(router);
        let (link, rest) = start(
            &dispatcher,
            true,
            "later",
            vec![1.into()],
            Options::default(),
        );
        assert!(answer(&link).is_none());
        rest.expect("a task to run").await;
        assert_eq!(answer(&link), Some(Ok(Value::from(2))));
    }

    #[tokio::test]
    async fn unknown_paths_and_wrong_params_are_answered_by_kind() {
        let router = Router::new();
        router.set_handler("add", |a: i64, b: i64| async move { a + b });
        let dispatcher = dispatcher(router);
        let error = call(&dispatcher, "math.pow", vec![]).unwrap_err();
        assert_eq!(code(&error), "UnknownApi");
        assert_eq!(error["message"].as_str(), Some("no handler for `math.pow`"));
        let error = call(&dispatcher, "add", vec![1.into()]).unwrap_err();
        assert_eq!(code(&error), "InvalidParams");
        assert_eq!(
            error["message"].as_str(),
            Some("add expects 2 params, got 1")
        );

        let (link, rest) = start(
            &dispatcher,
            false,
            "nobody.home",
            vec![],
            Options::default(),
        );
        assert!(
            rest.is_none() && answer(&link).is_none(),
            "notifications are never answered"
        );
        assert_eq!(dispatcher.router.unhandled_notifications(), 1);
    }

    #[tokio::test]
    async fn every_panic_of_user_code_is_answered_internal() {
        let router = Router::new();
        router.set_handler("at_once", || async { panic!("kaboom") as i64 });
        router.set_handler("after_waiting", || async {
            tokio::task::yield_now().await;
            panic!("later kaboom") as i64
        });
        router.set_handler(
            "blocking",
            crate::blocking(|| -> i64 { panic!("blocking kaboom") }),
        );
        let dispatcher = dispatcher(router);
        let error = call(&dispatcher, "at_once", vec![]).unwrap_err();
        assert_eq!(code(&error), "Internal");
        assert!(error["message"].as_str().unwrap().contains("kaboom"));
        for (method, said) in [
            ("after_waiting", "later kaboom"),
            ("blocking", "blocking kaboom"),
        ] {
            let (link, rest) = start(&dispatcher, true, method, vec![], Options::default());
            rest.expect("a task").await;
            let error = answer(&link).unwrap().unwrap_err();
            assert_eq!(code(&error), "Internal");
            assert!(error["message"].as_str().unwrap().contains(said), "{error}");
        }

        let mut guarded = dispatcher;
        guarded.authorize = Some(Arc::new(|_| panic!("hook kaboom")));
        let error = call(&guarded, "at_once", vec![]).unwrap_err();
        assert!(error["message"].as_str().unwrap().contains("hook kaboom"));
    }

    #[tokio::test]
    async fn a_refused_call_never_reaches_its_handler() {
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let router = Router::new();
        let seen = Arc::clone(&ran);
        router.set_handler("secret", move || {
            seen.store(true, std::sync::atomic::Ordering::SeqCst);
            async {}
        });
        let mut dispatcher = dispatcher(router);
        dispatcher.authorize = Some(Arc::new(|ctx| {
            Err(ErrorObject::unauthorized(format!("not {}", ctx.method())))
        }));
        let error = call(&dispatcher, "secret", vec![]).unwrap_err();
        assert_eq!(
            (code(&error), error["message"].as_str()),
            ("Unauthorized", Some("not secret"))
        );
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[tokio::test]
    async fn the_fallback_answers_or_declines_and_describe_is_built_in() {
        let router = Router::new();
        router.set_fallback(|ctx, params| async move {
            ctx.method()
                .starts_with("dyn.")
                .then(|| encode_reply(&format!("{} with {} params", ctx.method(), params.len())))
        });
        let dispatcher = dispatcher(router);
        let run = |method: &'static str| {
            let (link, rest) = start(
                &dispatcher,
                true,
                method,
                vec![1.into()],
                Options::default(),
            );
            async move {
                if let Some(rest) = rest {
                    rest.await;
                }
                answer(&link).unwrap()
            }
        };
        assert_eq!(
            run("dyn.any").await,
            Ok(Value::from("dyn.any with 1 params"))
        );
        assert_eq!(code(&run("other").await.unwrap_err()), "UnknownApi");
        assert_eq!(
            call(&dispatcher, "rpc.describe", vec![]),
            Ok(Value::Map(vec![
                ("version".into(), 2.into()),
                ("methods".into(), Value::Array(vec![])),
                ("types".into(), Value::Map(vec![])),
            ]))
        );
    }

    #[tokio::test]
    async fn a_result_too_large_to_send_fails_that_call_only() {
        let router = Router::new();
        router.set_handler(
            "big",
            |n: usize| async move { crate::Blob::from(vec![0; n]) },
        );
        let dispatcher = dispatcher(router);
        let mut options = Options::default();
        options.limits.max_message_size = 1024;
        let (link, _) = start(&dispatcher, true, "big", vec![2048.into()], options.clone());
        let error = answer(&link).unwrap().unwrap_err();
        assert_eq!(code(&error), "Internal");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("exceeds the maximum message size")
        );
        let (link, _) = start(&dispatcher, true, "big", vec![16.into()], options);
        assert_eq!(answer(&link), Some(Ok(Value::Binary(vec![0; 16]))));
    }
}
