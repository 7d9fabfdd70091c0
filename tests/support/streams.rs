//! The streams the stream tests call, served by closures: each direction,
//! an end with an error, producers that never end (and say when they are
//! dropped), a slow one that counts what it sent.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dotrpc::{CallContext, Error, Router};
use futures_util::StreamExt;
use tokio::sync::mpsc;

/// Sent when dropped: a producer's destructor ran.
pub struct DropSignal(pub mpsc::UnboundedSender<&'static str>, pub &'static str);

impl Drop for DropSignal {
    fn drop(&mut self) {
        let _ = self.0.send(self.1);
    }
}

/// A router with the streams the tests call; `dropped` hears of every
/// producer that is dropped, `sent` counts the slow stream's items.
pub fn router(dropped: mpsc::UnboundedSender<&'static str>, sent: Arc<AtomicU64>) -> Arc<Router> {
    let router = Arc::new(Router::new());
    add_producers(&router, dropped.clone(), sent);
    router.set_handler("count", |ctx: CallContext, n: u64| async move {
        let mut items = ctx.stream::<u64>()?;
        for i in 0..n {
            items.send(&i).await?;
        }
        Ok::<(), Error>(())
    });
    router.set_handler("sum", |ctx: CallContext| async move {
        let mut items = ctx.receive::<i64>(8)?;
        let mut total = 0i64;
        while let Some(item) = items.next().await {
            total += item?;
        }
        Ok::<i64, Error>(total)
    });
    router.set_handler("take", |ctx: CallContext, n: usize| async move {
        let items = ctx.receive::<i64>(4)?;
        let taken: Vec<i64> = items.take(n).map(Result::unwrap).collect().await;
        Ok::<Vec<i64>, Error>(taken)
    });
    let on_drop = dropped.clone();
    router.set_handler("sum_guarded", move |ctx: CallContext| {
        let guard = DropSignal(on_drop.clone(), "sum_guarded");
        async move {
            let _guard = guard;
            let mut items = ctx.receive::<i64>(4)?;
            let mut total = 0i64;
            while let Some(item) = items.next().await {
                total += item?;
            }
            Ok::<i64, Error>(total)
        }
    });
    router.set_handler("latest", |ctx: CallContext, n: u64| async move {
        let mut items = ctx.stream::<u64>()?;
        for i in 0..n {
            items.send_latest(&i)?;
            tokio::task::yield_now().await;
        }
        Ok::<(), Error>(())
    });
    // As `latest`, returning at once after its last item, flushed.
    router.set_handler("latest_flushed", |ctx: CallContext, n: u64| async move {
        let mut items = ctx.stream::<u64>()?;
        for i in 0..n {
            items.send_latest(&i)?;
        }
        items.flush().await
    });
    router.set_handler("doubles", |ctx: CallContext| async move {
        let mut input = ctx.receive::<i64>(4)?;
        let mut answers = ctx.stream::<i64>()?;
        while let Some(item) = input.next().await {
            answers.send(&(item? * 2)).await?;
        }
        Ok::<(), Error>(())
    });
    router
}

/// Adds the streams that end with an error (`fail_after(n)`), never end
/// (`forever`, `counted`, which stores how many items it sent in `sent`),
/// or never send (`silent`); `dropped` hears when the last three are
/// dropped.
pub fn add_producers(
    router: &Router,
    dropped: mpsc::UnboundedSender<&'static str>,
    sent: Arc<AtomicU64>,
) {
    router.set_handler("fail_after", |ctx: CallContext, n: u64| async move {
        let mut items = ctx.stream::<u64>().map_err(|e| e.to_string())?;
        for i in 0..n {
            items.send(&i).await.map_err(|e| e.to_string())?;
        }
        Err::<(), String>(format!("failed after {n}"))
    });
    let on_drop = dropped.clone();
    router.set_handler("forever", move |ctx: CallContext| {
        let guard = DropSignal(on_drop.clone(), "forever");
        async move {
            let _guard = guard;
            let mut items = ctx.stream::<u64>()?;
            for i in 0.. {
                items.send(&i).await?;
            }
            Ok::<(), Error>(())
        }
    });
    router.set_handler("counted", move |ctx: CallContext| {
        let sent = Arc::clone(&sent);
        async move {
            let mut items = ctx.stream::<u64>()?;
            for i in 0.. {
                items.send(&i).await?;
                sent.store(items.sent(), Ordering::SeqCst);
            }
            Ok::<(), Error>(())
        }
    });
    router.set_handler("silent", move |ctx: CallContext| {
        let guard = DropSignal(dropped.clone(), "silent");
        async move {
            let _guard = guard;
            let _items = ctx.stream::<u64>()?;
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok::<(), Error>(())
        }
    });
}
