//! A tokio runtime on a background thread, for programs that are not async
//! (a GUI, a script, a plain-threads service).
//!
//! The runtime's event loop keeps running on its own thread for as long as
//! the [`BackgroundRuntime`] lives, serving every peer started on it; plain threads
//! talk to it with [`BackgroundRuntime::block_on`] and the blocking call modes
//! ([`Call::wait`](crate::Call::wait), [`Call::callback`](crate::Call::callback),
//! [`AsyncResult::wait_timeout`](crate::client::AsyncResult::wait_timeout)). Dropping
//! it stops the loop and joins the thread: every connection on it closes and
//! every pending call fails, so nothing is left running.

use std::fmt;
use std::future::Future;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

/// A tokio event loop on a background thread, for programs that are not
/// async (a GUI, a script, a plain-threads service).
///
/// The loop keeps running on its own thread for as long as the
/// `BackgroundRuntime` lives, serving every peer started on it; plain threads
/// talk to it with [`block_on`](BackgroundRuntime::block_on) and the blocking
/// call modes ([`Call::wait`](crate::Call::wait),
/// [`Call::callback`](crate::Call::callback),
/// [`AsyncResult::wait_timeout`](crate::client::AsyncResult::wait_timeout)). Dropping
/// it stops the loop and joins the thread: every connection on it closes and
/// every pending call fails, so nothing is left running.
///
/// ```
/// use dotrpc::{Peer, Server, runtime::BackgroundRuntime};
/// use std::sync::Arc;
///
/// let runtime = BackgroundRuntime::new()?;
/// let router = Arc::new(dotrpc::Router::new());
/// router.set_handler("add", |a: i64, b: i64| async move { a + b });
/// let server = runtime.block_on(Server::builder(Peer::builder().router(router)).bind("127.0.0.1:0"))?;
/// let addr = server.local_addr().as_tcp().unwrap();
/// let peer = runtime.block_on(Peer::builder().connect(addr))?;
///
/// // From this plain thread: a blocking call with a timeout.
/// let sum: i64 = peer.call("add", (1, 2)).wait_timeout(std::time::Duration::from_secs(1))?;
/// assert_eq!(sum, 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct BackgroundRuntime {
    handle: tokio::runtime::Handle,
    /// Dropped to stop the loop.
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl BackgroundRuntime {
    /// Starts the event loop on a thread named `dotrpc-runtime`.
    ///
    /// # Errors
    ///
    /// If the runtime or the thread cannot be created.
    pub fn new() -> std::io::Result<BackgroundRuntime> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("dotrpc-runtime".into())
            .spawn(move || {
                runtime.block_on(async {
                    let _ = stopped.await;
                });
            })?;
        Ok(BackgroundRuntime {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The runtime, to spawn tasks on or enter.
    pub fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }

    /// Runs `future` on the event loop and blocks this thread until it is done.
    ///
    /// # Panics
    ///
    /// If called on a thread of a tokio runtime (where blocking could
    /// deadlock), if the future panics, or if the runtime stops first.
    pub fn block_on<F>(&self, future: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        assert!(
            tokio::runtime::Handle::try_current().is_err(),
            "BackgroundRuntime::block_on was called on a tokio runtime thread; `.await` there instead"
        );
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        let task = self.handle.spawn(async move {
            let _ = sender.send(future.await);
        });
        match receiver.recv() {
            Ok(output) => output,
            Err(_) => match self.handle.block_on(task) {
                Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                _ => panic!("the dotrpc runtime stopped before the future finished"),
            },
        }
    }
}

impl Drop for BackgroundRuntime {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl fmt::Debug for BackgroundRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackgroundRuntime").finish_non_exhaustive()
    }
}
