//! The `msgpack-rpc` crate: msgpack-rpc on tokio, with `Value` params.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use msgpack_rpc::{Client as MsgpackClient, Service, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::compat::TokioAsyncReadCompatExt as _;

use super::Served;
use crate::workload::Rpc;

#[derive(Clone, Debug, Default)]
struct Impl(Arc<AtomicU64>);

type Reply = Pin<Box<dyn Future<Output = Result<Value, Value>> + Send>>;

impl Service for Impl {
    type RequestFuture = Reply;

    fn handle_request(&mut self, method: &str, params: &[Value]) -> Reply {
        let reply = match (method, params) {
            ("add", [a, b]) => match (a.as_i64(), b.as_i64()) {
                (Some(a), Some(b)) => Ok(Value::from(a + b)),
                _ => Err(Value::from("add takes two integers")),
            },
            ("echo", [data]) => Ok(data.clone()),
            ("count", []) => Ok(Value::from(self.0.load(Ordering::Relaxed))),
            _ => Err(Value::from(format!("no method {method}"))),
        };
        Box::pin(futures::future::ready(reply))
    }

    fn handle_notification(&mut self, method: &str, _: &[Value]) {
        if method == "note" {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

pub(crate) async fn serve() -> Result<Served, String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let service = Impl::default();
    let accept = tokio::task::spawn_local(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let _ = socket.set_nodelay(true);
            tokio::spawn(msgpack_rpc::serve(socket.compat(), service.clone()));
        }
    });
    Ok(Served {
        port,
        _keep: Box::new(accept),
    })
}

/// The crate's client.
#[derive(Clone)]
pub(crate) struct Client(MsgpackClient);

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("msgpack_rpc::Client")
    }
}

pub(crate) async fn connect(port: u16) -> Result<Client, String> {
    let socket = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    socket.set_nodelay(true).map_err(|e| e.to_string())?;
    Ok(Client(MsgpackClient::new(socket.compat())))
}

impl Rpc for Client {
    async fn add(&self, a: i64, b: i64) -> Result<i64, String> {
        let value = self
            .0
            .request("add", &[a.into(), b.into()])
            .await
            .map_err(|e| e.to_string())?;
        value.as_i64().ok_or_else(|| format!("add gave {value}"))
    }

    async fn echo(&self, data: Bytes) -> Result<usize, String> {
        let value = self
            .0
            .request("echo", &[Value::Binary(data.to_vec())])
            .await
            .map_err(|e| e.to_string())?;
        match value {
            Value::Binary(bytes) => Ok(bytes.len()),
            other => Err(format!("echo gave {other}")),
        }
    }

    async fn items(&self, _n: u64) -> Option<Result<u64, String>> {
        None
    }

    async fn slow(&self) -> Option<Result<Box<dyn std::any::Any>, String>> {
        None
    }

    fn note(&self) -> Option<Result<(), String>> {
        drop(self.0.notify("note", &[]));
        Some(Ok(()))
    }

    /// Its acknowledgement: the notification was written.
    async fn note_awaited(&self) -> Option<Result<(), String>> {
        let acked = self.0.notify("note", &[]).await;
        Some(acked.map_err(|()| "the connection is gone".to_owned()))
    }

    async fn count(&self) -> Result<u64, String> {
        let value = self
            .0
            .request("count", &[])
            .await
            .map_err(|e| e.to_string())?;
        value.as_u64().ok_or_else(|| format!("count gave {value}"))
    }
}
