//! An API that evolves without breaking its callers: version 2 of one
//! `#[rpc_api]` adds an optional trailing param to a method and fields that
//! may be missing to a struct, renames a method and a namespace (keeping
//! their old paths as aliases) and deprecates a method; version 1 and
//! version 2 peers call each other both ways. Runtime handlers follow the
//! same rules.

mod support;

use std::sync::Arc;

use dotrpc::{ErrorKind, Peer, Router, rpc_api};
use support::bounded;

#[path = "../examples/greeter_versions/api.rs"]
mod greeter;

use greeter::{v1, v2};

#[tokio::test]
async fn older_callers_are_served_by_a_newer_server() {
    let (client, _server) = dotrpc::memory_pair(
        Peer::builder(),
        Peer::builder().serve(v2::GreeterService(v2::Server)),
    );
    let greeter = client.client::<v1::GreeterClient>();
    assert_eq!(
        bounded(greeter.greet("ann".into())).await.unwrap(),
        "hello ann",
        "the param left out is None"
    );
    let ann = v1::Person { name: "ann".into() };
    assert_eq!(
        bounded(greeter.introduce(ann.clone())).await.unwrap(),
        ann,
        "fields the older caller does not know are dropped as it reads"
    );
    assert_eq!(
        bounded(greeter.farewell("ann".into())).await.unwrap(),
        "goodbye ann",
        "a renamed method answers at its old path"
    );
    assert_eq!(
        bounded(greeter.admin.uptime()).await.unwrap(),
        2,
        "a renamed namespace answers at its old path"
    );
    assert_eq!(bounded(greeter.hello()).await.unwrap(), "hello");
    assert_eq!(bounded(greeter.shout("hey".into())).await.unwrap(), "HEY");
    // The newer caller, to the same server, gets what it added.
    let greeter = client.client::<v2::GreeterClient>();
    assert_eq!(
        bounded(greeter.greet("ann".into(), Some("!".into()), 3))
            .await
            .unwrap(),
        "hello ann!!!"
    );
}

#[tokio::test]
async fn newer_callers_are_served_by_an_older_server_as_far_as_it_goes() {
    let (client, _server) = dotrpc::memory_pair(
        Peer::builder(),
        Peer::builder().serve(v1::GreeterService(v1::Server)),
    );
    let greeter = client.client::<v2::GreeterClient>();
    let bea = v2::Person {
        name: "bea".into(),
        age: 40,
        nickname: Some("b".into()),
    };
    // The older server ignores the fields it does not know; what it answers
    // reads with their defaults.
    assert_eq!(
        bounded(greeter.introduce(bea)).await.unwrap(),
        v2::Person {
            name: "bea".into(),
            age: 0,
            nickname: None,
        }
    );
    // What the older server lacks fails clearly, naming the path.
    let error = bounded(greeter.goodbye("bea".into())).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::UnknownApi, "{error}");
    assert!(error.to_string().contains("goodbye"), "{error}");
    let error = bounded(greeter.ops.uptime()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::UnknownApi, "{error}");
    assert!(error.to_string().contains("ops.uptime"), "{error}");
    #[allow(deprecated)]
    let hello = bounded(greeter.hello()).await.unwrap();
    assert_eq!(hello, "hello");
    // A newer stub sends a trailing `Option` only when it is `Some`: a call
    // that does not use the new param is one the older server takes.
    assert_eq!(
        bounded(greeter.shout("hey".into(), None)).await.unwrap(),
        "HEY"
    );
    let error = bounded(greeter.shout("hey".into(), Some(2)))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidParams, "{error}");
    // A param the older server does not take fails clearly.
    let error = bounded(greeter.greet("bea".into(), None, 0))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidParams, "{error}");
    assert!(
        error.to_string().contains("greet expects 1 param, got 3"),
        "{error}"
    );
}

/// The impl-block form takes `#[rpc(default)]` as the trait form does.
struct Pager;

#[rpc_api]
impl Pager {
    fn page(&self, query: String, #[rpc(default)] size: u32) -> String {
        format!("{query}:{size}")
    }
}

#[tokio::test]
async fn a_param_with_a_default_may_be_left_out() {
    let (client, _server) = dotrpc::memory_pair(Peer::builder(), Peer::builder().serve(Pager));
    let page: String = bounded(client.call("page", ("q",))).await.unwrap();
    assert_eq!(page, "q:0");
    let page: String = bounded(client.call("page", ("q", 5))).await.unwrap();
    assert_eq!(page, "q:5");
    let error = bounded(client.call::<String>("page", ()))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidParams, "{error}");
}

#[tokio::test]
async fn runtime_handlers_take_trailing_params_that_may_be_missing() {
    let router = Arc::new(Router::new());
    router.set_handler("page", |query: String, limit: Option<u32>| async move {
        format!("{query}:{}", limit.unwrap_or(10))
    });
    let (client, _server) = dotrpc::memory_pair(Peer::builder(), Peer::builder().router(router));
    let page = |params: Vec<dotrpc::Value>| client.call::<String>("page", params);
    assert_eq!(bounded(page(vec!["q".into()])).await.unwrap(), "q:10");
    assert_eq!(
        bounded(page(vec!["q".into(), 3.into()])).await.unwrap(),
        "q:3"
    );
    let error = bounded(page(vec![])).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidParams, "{error}");
    assert!(
        error.to_string().contains("page expects 2 params, got 0"),
        "{error}"
    );
}

#[tokio::test]
async fn the_description_lists_old_paths_and_deprecations() {
    let described = v2::GreeterClient::describe("");
    let find = |path: &str| {
        described
            .methods
            .iter()
            .find(|d| d.path == path)
            .unwrap_or_else(|| panic!("{path} in {described:?}"))
    };
    assert_eq!(find("goodbye").aliases, ["farewell"]);
    assert_eq!(find("ops.uptime").aliases, ["admin.uptime"]);
    assert_eq!(find("hello").deprecated.as_deref(), Some("use greet"));
    assert_eq!(find("greet").deprecated, None);
    let optional: Vec<bool> = find("greet").params.iter().map(|p| p.optional).collect();
    assert_eq!(optional, [false, true, true]);
    assert!(!find("introduce").params[0].optional);
    assert!(find("greet").aliases.is_empty());

    // As the server describes itself, and serves.
    let router = Router::new();
    router.serve(v2::GreeterService(v2::Server));
    assert_eq!(router.description(), described);
    for path in ["farewell", "goodbye", "admin.uptime", "ops.uptime"] {
        assert!(router.contains(path), "{path}: {:?}", router.paths());
    }
    let (client, _server) =
        dotrpc::memory_pair(Peer::builder(), Peer::builder().router(Arc::new(router)));
    let over_the_wire: dotrpc::Description =
        bounded(client.call("rpc.describe", ())).await.unwrap();
    assert_eq!(over_the_wire, described);
}

#[tokio::test]
async fn a_router_alias_moves_a_method_or_a_namespace() {
    let router = Arc::new(Router::new());
    router.set_handler("math.stats.mean", |xs: Vec<f64>| async move {
        xs.iter().sum::<f64>() / xs.len() as f64
    });
    router.set_handler("math.add", |a: i64, b: i64| async move { a + b });
    assert_eq!(router.alias("stats", "math.stats"), 1);
    assert_eq!(router.alias("plus", "math.add"), 1);
    assert_eq!(router.alias("nothing", "no.such"), 0);
    let (client, _server) =
        dotrpc::memory_pair(Peer::builder(), Peer::builder().router(Arc::clone(&router)));
    let mean: f64 = bounded(client.call("stats.mean", (vec![1.0, 3.0],)))
        .await
        .unwrap();
    assert_eq!(mean, 2.0);
    let sum: i64 = bounded(client.call("plus", (1, 2))).await.unwrap();
    assert_eq!(sum, 3);
    assert_eq!(
        router.paths(),
        ["math.add", "math.stats.mean", "plus", "stats.mean"]
    );
    // An alias removed answers no more, and is no longer described.
    router.set_description(dotrpc::schema::MethodDescription::new("math.add"));
    assert_eq!(router.alias("plus", "math.add"), 1);
    assert_eq!(router.descriptions()[0].aliases, ["plus"]);
    assert!(router.remove_handler("plus"));
    assert!(router.descriptions()[0].aliases.is_empty());
    assert!(!router.contains("plus"));
}

/// `dotrpc compat`'s check finds version 2 safe for version 1's callers,
/// and the way back unsafe, saying why.
#[test]
fn the_compatibility_check_finds_v2_safe_and_v1_not() {
    let (v1, v2) = (
        v1::GreeterClient::describe(""),
        v2::GreeterClient::describe(""),
    );
    let forward = dotrpc::compat::compare(&v1, &v2);
    assert!(!forward.breaks_older_callers(), "{forward}");
    let text = forward.to_string();
    for expected in [
        "breaks newer callers   greet: param 2 `punctuation` added, may be left out",
        "generated code only    farewell: moved to `goodbye`",
        "generated code only    admin.uptime: moved to `ops.uptime`",
        "breaks nobody          hello: deprecated: use greet",
    ] {
        assert!(text.contains(expected), "{expected}\n{text}");
    }
    let back = dotrpc::compat::compare(&v2, &v1);
    assert!(back.breaks_older_callers(), "{back}");
    let text = back.to_string();
    for expected in [
        "breaks older callers   goodbye: removed",
        "breaks older callers   ops.uptime: removed",
        "breaks older callers   greet: param 2 `punctuation` removed",
    ] {
        assert!(text.contains(expected), "{expected}\n{text}");
    }
}
