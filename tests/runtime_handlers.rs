//! Handlers registered at run time: by full path and under a namespace (the
//! same registration), removed while serving, described for `rpc.describe`,
//! a fallback for unhandled paths, the call context, blocking handlers, and
//! the per-connection bound.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dotrpc::{
    CallContext, Error, Peer, Router, Value,
    handler::IntoReply,
    schema::{MethodDescription, ParamDescription},
};
use support::bounded;

fn pair(router: Arc<Router>) -> (Peer, Peer) {
    dotrpc::memory_pair(Peer::builder(), Peer::builder().router(router))
}

#[tokio::test]
async fn handlers_added_and_removed_while_serving_take_effect_at_once() {
    let router = Arc::new(Router::new());
    let (client, _server) = pair(Arc::clone(&router));

    let error = bounded(client.call::<f64>("math.stats.mean", (vec![1.0, 3.0],)))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::UnknownApi { .. }), "{error:?}");

    router
        .namespace("math.stats")
        .set_handler("mean", |xs: Vec<f64>| async move {
            xs.iter().sum::<f64>() / xs.len() as f64
        });
    assert_eq!(
        bounded(client.call::<f64>("math.stats.mean", (vec![1.0, 3.0],)))
            .await
            .unwrap(),
        2.0
    );
    assert_eq!(router.paths(), vec!["math.stats.mean".to_string()]);

    assert!(router.remove_handler("math.stats.mean"));
    let error = bounded(client.call::<f64>("math.stats.mean", (vec![1.0],)))
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::UnknownApi { ref method } if method == "math.stats.mean"),
        "{error:?}"
    );
}

#[tokio::test]
async fn the_fallback_answers_what_no_handler_takes() {
    let router = Arc::new(Router::new());
    router.set_handler("known", || async { "handler" });
    router.set_fallback(
        |ctx: CallContext, params: dotrpc::handler::Params| async move {
            let path = ctx.method().strip_prefix("legacy.")?;
            Some(Value::from(format!("{path}/{}", params.len())).into_reply())
        },
    );
    let (client, _server) = pair(router);

    assert_eq!(
        bounded(client.call::<String>("known", ())).await.unwrap(),
        "handler"
    );
    assert_eq!(
        bounded(client.call::<String>("legacy.a.b", (1, 2)))
            .await
            .unwrap(),
        "a.b/2"
    );
    let error = bounded(client.call::<String>("modern.a", ()))
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::UnknownApi { .. }),
        "declined calls get UnknownApi: {error:?}"
    );
}

#[tokio::test]
async fn the_context_tells_requests_from_notifications() {
    let (seen, mut observed) = tokio::sync::mpsc::unbounded_channel();
    let router = Arc::new(Router::new());
    router.set_handler("who", move |ctx: CallContext| {
        let seen = seen.clone();
        async move {
            let _ = seen.send((ctx.method().to_owned(), ctx.msgid(), ctx.expects_reply()));
        }
    });
    let (client, _server) = pair(router);

    bounded(client.call::<()>("who", ())).await.unwrap();
    let (method, msgid, expects_reply) = bounded(observed.recv()).await.unwrap();
    assert_eq!(
        (method.as_str(), msgid.is_some(), expects_reply),
        ("who", true, true)
    );

    client.notify("who", ()).await.unwrap();
    let (_, msgid, expects_reply) = bounded(observed.recv()).await.unwrap();
    assert_eq!((msgid, expects_reply), (None, false));
}

#[tokio::test(flavor = "current_thread")]
async fn blocking_handlers_run_off_the_runtime_thread() {
    let runtime_thread = std::thread::current().id();
    let router = Arc::new(Router::new());
    router.set_handler(
        "thread",
        dotrpc::blocking(move |ctx: CallContext| {
            std::thread::sleep(Duration::from_millis(5));
            (
                std::thread::current().id() != runtime_thread,
                ctx.method().to_owned(),
            )
        }),
    );
    let (client, _server) = pair(router);
    let (off_runtime, method): (bool, String) = bounded(client.call("thread", ())).await.unwrap();
    assert!(off_runtime);
    assert_eq!(method, "thread");
}

#[tokio::test]
async fn no_more_handlers_than_the_bound_run_at_once() {
    let started = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let router = Arc::new(Router::new());
    let (s, g) = (Arc::clone(&started), Arc::clone(&gate));
    router.set_handler("wait", move |i: u32| {
        let (started, gate) = (Arc::clone(&s), Arc::clone(&g));
        async move {
            started.fetch_add(1, Ordering::SeqCst);
            gate.acquire().await.unwrap().forget();
            i
        }
    });
    let (client, _server) = dotrpc::memory_pair(
        Peer::builder(),
        Peer::builder().router(router).max_concurrent_handlers(2),
    );

    let calls: Vec<_> = (0..6)
        .map(|i| tokio::spawn(client.call::<u32>("wait", (i,)).into_future()))
        .collect();
    bounded(async {
        while started.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    // Give a third handler every chance to start if the bound were not kept.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(started.load(Ordering::SeqCst), 2);

    gate.add_permits(6);
    for (i, call) in calls.into_iter().enumerate() {
        assert_eq!(bounded(call).await.unwrap().unwrap(), i as u32);
    }
    assert_eq!(started.load(Ordering::SeqCst), 6);
}

#[tokio::test]
async fn a_bound_of_one_handles_messages_in_order() {
    let (order, mut finished) = tokio::sync::mpsc::unbounded_channel();
    let router = Arc::new(Router::new());
    router.set_handler("step", move |i: u32, ms: u64| {
        let order = order.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            let _ = order.send(i);
        }
    });
    let (client, _server) = dotrpc::memory_pair(
        Peer::builder(),
        Peer::builder().router(router).max_concurrent_handlers(1),
    );
    for (i, ms) in [(0u32, 30u64), (1, 0), (2, 10), (3, 0)] {
        client.notify("step", (i, ms)).await.unwrap();
    }
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(bounded(finished.recv()).await.unwrap());
    }
    assert_eq!(seen, vec![0, 1, 2, 3]);
}

#[tokio::test]
async fn a_handler_calling_back_its_caller_is_answered_even_at_a_bound_of_one() {
    // The server handles one call at a time. Its handler calls the client
    // back; before answering, the client sends the server a notification,
    // which must wait for the handler, while the reply it precedes must not.
    let server_router = Arc::new(Router::new());
    server_router.set_handler("outer", |ctx: CallContext| async move {
        let name: String = ctx
            .peer()
            .call("client.name", ())
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(format!("called back {name}"))
    });
    let (noted, mut notes) = tokio::sync::mpsc::unbounded_channel();
    server_router.set_handler("noted", move |n: u32| {
        let noted = noted.clone();
        async move {
            let _ = noted.send(n);
        }
    });
    let client_router = Arc::new(Router::new());
    client_router.set_handler("client.name", |ctx: CallContext| async move {
        ctx.peer().notify("noted", (1,)).await.unwrap();
        "the client"
    });
    let (client, _server) = dotrpc::memory_pair(
        Peer::builder().router(client_router),
        Peer::builder()
            .router(server_router)
            .max_concurrent_handlers(1),
    );
    let answer: String = bounded(client.call("outer", ())).await.unwrap();
    assert_eq!(answer, "called back the client");
    assert_eq!(
        bounded(notes.recv()).await,
        Some(1),
        "the parked notification ran after"
    );
}

/// An API whose `extra` has no generated handler: it is added at run time.
#[dotrpc::rpc_api]
pub trait Partial {
    /// Generated.
    async fn generated(&self) -> String;
}

struct MyPartial;

impl Partial for MyPartial {
    async fn generated(&self) -> String {
        "generated".into()
    }
}

#[tokio::test]
async fn runtime_handlers_sit_beside_generated_ones() {
    let server = Peer::builder().serve_at("api", PartialService(MyPartial));
    let (client, server) = dotrpc::memory_pair(Peer::builder(), server);
    server
        .router()
        .namespace("api")
        .set_handler("extra", |n: u32| async move { n * 2 });

    let api: PartialClient = client.client_at("api");
    assert_eq!(bounded(api.generated()).await.unwrap(), "generated");
    assert_eq!(
        bounded(client.call::<u32>("api.extra", (21,)))
            .await
            .unwrap(),
        42
    );
    let error = bounded(client.call::<()>("api.missing", ()))
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::UnknownApi { ref method } if method == "api.missing"),
        "{error:?}"
    );
}

use std::future::IntoFuture;

/// A handler added at run time is described as an API's methods are, and its
/// description goes with it.
#[tokio::test]
async fn runtime_handlers_are_described_until_removed() {
    let router = Arc::new(Router::new());
    let (client, _server) = pair(Arc::clone(&router));
    let described = || async {
        bounded(client.call::<dotrpc::Description>("rpc.describe", ()))
            .await
            .unwrap()
            .methods
    };
    router
        .namespace("search")
        .set_handler("page", |query: String, size: Option<u32>| async move {
            format!("{query}: {}", size.unwrap_or(10))
        })
        .set_description(MethodDescription {
            params: vec![
                ParamDescription::new("query", "String"),
                ParamDescription::new("size", "Option<u32>"),
            ],
            returns: "String".into(),
            docs: "One page of results.".into(),
            ..MethodDescription::new("page")
        });
    router.set_handler("undescribed", || async { 1 });
    let methods = described().await;
    assert_eq!(methods.len(), 1, "{methods:?}");
    assert_eq!(methods[0].path, "search.page");
    assert_eq!(
        methods[0].params[1],
        ParamDescription::new("size", "Option<u32>")
    );
    assert_eq!(methods[0].docs, "One page of results.");

    assert!(router.namespace("search").remove_handler("page"));
    assert!(described().await.is_empty());
}
