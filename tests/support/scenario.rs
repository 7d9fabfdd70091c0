//! The API both sides of the transport tests serve, shared by the in-process
//! tests and the `dotrpc-stdio-peer` child binary.

use std::sync::Arc;

use dotrpc::{CallContext, Router};

/// The "server" side: `add`, `ping` (a notification answered with a `pong`
/// notification) and `ask_parent` (calls `parent.name` back on the caller).
pub(crate) fn server_router() -> Arc<Router> {
    let router = Arc::new(Router::new());
    router.set_handler("add", |a: i64, b: i64| async move { a + b });
    router.set_handler("ping", |ctx: CallContext, n: u32| async move {
        let _ = ctx.peer().notify("pong", (n,)).send();
    });
    router.set_handler("ask_parent", |ctx: CallContext| async move {
        let name: String = ctx
            .peer()
            .call("parent.name", ())
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(format!("my parent is {name}"))
    });
    router
}
