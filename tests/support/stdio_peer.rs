//! A dotrpc peer serving over its own stdin/stdout, for the stdio transport
//! tests: `add`, `echo`, a `ping` notification that is answered with a `pong`
//! notification, and `ask_parent`, which calls `parent.name` back on the
//! process that started it.

use std::sync::Arc;

use dotrpc::{CallContext, Peer, Router};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let router = Arc::new(Router::new());
    router.set_handler("add", |a: i64, b: i64| async move { a + b });
    router.set_handler("ping", |ctx: CallContext, n: u32| async move {
        let _ = ctx.peer().notify("pong", (n,));
    });
    router.set_handler("ask_parent", |ctx: CallContext| async move {
        let name: String = ctx.peer().call("parent.name", ()).await.map_err(|e| e.to_string())?;
        Ok::<_, String>(format!("my parent is {name}"))
    });
    let peer = Peer::builder().router(router).stdio();
    peer.closed().await;
}
