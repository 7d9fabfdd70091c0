//! The demo API, a fixed contract that tests, other-language peers and tools
//! rely on (see `main.rs` for the table). Kept apart from `main.rs` so tests
//! serve exactly the same API in-process.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dotrpc::{CallContext, IntoReply, Router, Value};

/// A router serving the demo API; `log` notifications are counted in one
/// counter shared by every connection.
pub(crate) fn router() -> Arc<Router> {
    let router = Arc::new(Router::new());
    let notifications = Arc::new(AtomicU64::new(0));

    router.set_handler("add", |a: i64, b: i64| async move { a + b });

    let math = router.namespace("math");
    math.set_handler("div", |a: f64, b: f64| async move {
        if b == 0.0 {
            Err("division by zero".to_string())
        } else {
            Ok(a / b)
        }
    });
    math.namespace("stats")
        .set_handler("mean", |values: Vec<f64>| async move {
            if values.is_empty() {
                Err("mean of no values".to_string())
            } else {
                Ok(values.iter().sum::<f64>() / values.len() as f64)
            }
        });

    // Byte-exact: the value is decoded and re-encoded with the dynamic API,
    // which keeps bin as bin, str as str (even when not UTF-8) and ext as ext.
    router.set_raw_handler(
        "echo",
        |ctx: CallContext, params: dotrpc::Params| async move {
            if params.len() != 1 {
                return Err(dotrpc::ErrorObject::new(
                    dotrpc::error::code::INVALID_PARAMS,
                    format!("{} expects 1 param, got {}", ctx.method(), params.len()),
                ));
            }
            let mut values = params
                .values()
                .map_err(|e| dotrpc::ErrorObject::new("InvalidParams", e.to_string()))?;
            values.pop().unwrap_or(Value::Nil).into_reply()
        },
    );

    router.set_handler("sleep", |ms: u64| async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    });

    let seen = Arc::clone(&notifications);
    router.set_handler("stats.notifications", move || {
        let seen = Arc::clone(&seen);
        async move { seen.load(Ordering::Relaxed) }
    });

    router.set_handler("log", move |_line: Value| {
        let notifications = Arc::clone(&notifications);
        async move {
            notifications.fetch_add(1, Ordering::Relaxed);
        }
    });

    router.set_handler("events.subscribe", |ctx: CallContext, n: u64| async move {
        for i in 0..n {
            if ctx.peer().notify("events.tick", (i,)).is_err() {
                break;
            }
        }
    });

    router
}
