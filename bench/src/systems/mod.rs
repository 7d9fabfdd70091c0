//! The systems under test. Each serves the same small API:
//!
//! * `add(a: i64, b: i64) -> i64`
//! * `echo(data: bytes) -> bytes`
//! * `note()`, a notification, counted (where the system has notifications)
//! * `count() -> u64`, how many notes arrived
//!
//! and dotrpc also serves `a.b.c.d.e.add`, five namespaces deep. `dotrpc-ws`
//! is dotrpc over WebSocket, for the price of the framing. Every server
//! and client runs on a single-threaded tokio runtime, as the processes are
//! pinned to one CPU each.

pub(crate) mod dotrpc;
pub(crate) mod jsonrpsee;
pub(crate) mod msgpack_rpc;
pub(crate) mod raw;
pub(crate) mod tarpc;

use std::future::Future;
use std::io::BufRead as _;
use std::pin::Pin;

/// Every system, in the order the table shows them.
pub(crate) const ALL: [&str; 6] = [
    "raw",
    "dotrpc",
    "dotrpc-ws",
    "msgpack-rpc",
    "tarpc",
    "jsonrpsee",
];

/// A running server: its port, and what keeps it serving while held.
#[derive(Debug)]
pub(crate) struct Served {
    pub(crate) port: u16,
    pub(crate) _keep: Box<dyn std::fmt::Debug>,
}

/// A system's server, starting.
type Serve = Pin<Box<dyn Future<Output = Result<Served, String>>>>;

fn server(system: &str) -> Result<Serve, String> {
    Ok(match system {
        "dotrpc" => Box::pin(dotrpc::serve()),
        "dotrpc-ws" => Box::pin(dotrpc::serve_ws()),
        "raw" => Box::pin(raw::serve()),
        "tarpc" => Box::pin(tarpc::serve()),
        "jsonrpsee" => Box::pin(jsonrpsee::serve()),
        "msgpack-rpc" => Box::pin(msgpack_rpc::serve()),
        other => return Err(format!("unknown system {other:?}")),
    })
}

/// `dotrpc-bench serve SYSTEM`: prints `LISTENING PORT`, then serves until
/// stdin closes. The line `allocs` on stdin prints the allocation count.
pub(crate) fn serve_main(args: &[String]) -> Result<(), String> {
    let system = args.first().ok_or("serve needs a SYSTEM")?.clone();
    if !ALL.contains(&system.as_str()) {
        return Err(format!("unknown system {system:?}"));
    }
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let local = tokio::task::LocalSet::new();
        local.block_on(&runtime, async move {
            let serve = server(&system).expect("checked above");
            match serve.await {
                Ok(served) => {
                    let _ = port_tx.send(Ok(served.port));
                    // Serves for the life of the process.
                    std::future::pending::<()>().await;
                    drop(served);
                }
                Err(error) => {
                    let _ = port_tx.send(Err(error));
                }
            }
        });
    });
    let port = port_rx.recv().map_err(|_| "the server thread died")??;
    println!("LISTENING {port}");
    for line in std::io::stdin().lock().lines() {
        match line.map_err(|e| e.to_string())?.trim() {
            "allocs" => println!("{}", crate::alloc::count()),
            other => return Err(format!("unknown request {other:?}")),
        }
    }
    Ok(())
}
