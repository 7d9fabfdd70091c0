//! jsonrpsee: JSON-RPC over WebSocket. Its server does not run methods for
//! notifications, so `notify` has no number; `stream` is a subscription.

use std::sync::Arc;

use bytes::Bytes;
use jsonrpsee::core::client::{ClientT as _, SubscriptionClientT as _};
use jsonrpsee::rpc_params;
use jsonrpsee::server::{RpcModule, Server, ServerConfig};
use jsonrpsee::types::ErrorObjectOwned;
use jsonrpsee::ws_client::{WsClient, WsClientBuilder};
use serde_bytes::ByteBuf;

use super::Served;
use crate::workload::{Rpc, SLOW_EVERY, SLOW_ITEM_BYTES, SLOW_TAKEN};

pub(crate) async fn serve() -> Result<Served, String> {
    let config = ServerConfig::builder()
        .max_request_body_size(16 << 20)
        .max_response_body_size(16 << 20)
        // The default (100) would refuse most of the `idle` connections.
        .max_connections(10_000)
        .build();
    let server = Server::builder()
        .set_config(config)
        .build("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let mut module = RpcModule::new(());
    module
        .register_method("add", |params, _, _| {
            let (a, b): (i64, i64) = params.parse()?;
            Ok::<i64, ErrorObjectOwned>(a + b)
        })
        .map_err(|e| e.to_string())?;
    module
        .register_method("echo", |params, _, _| {
            let (data,): (ByteBuf,) = params.parse()?;
            Ok::<ByteBuf, ErrorObjectOwned>(data)
        })
        .map_err(|e| e.to_string())?;
    module
        .register_method("count", |_, _, _| 0u64)
        .map_err(|e| e.to_string())?;
    module
        .register_subscription(
            "subscribe_items",
            "item",
            "unsubscribe_items",
            |params, pending, _, _| async move {
                let Ok(n) = params.one::<u64>() else {
                    return;
                };
                let Ok(sink) = pending.accept().await else {
                    return;
                };
                for i in 0..n {
                    let Ok(item) = serde_json::value::to_raw_value(&i) else {
                        return;
                    };
                    if sink.send(item).await.is_err() {
                        return;
                    }
                }
            },
        )
        .map_err(|e| e.to_string())?;
    module
        .register_subscription(
            "subscribe_blobs",
            "blob",
            "unsubscribe_blobs",
            |params, pending, _, _| async move {
                let Ok((n, size)) = params.parse::<(u64, u64)>() else {
                    return;
                };
                let Ok(sink) = pending.accept().await else {
                    return;
                };
                let blob = ByteBuf::from(vec![7u8; size as usize]);
                let Ok(item) = serde_json::value::to_raw_value(&blob) else {
                    return;
                };
                for _ in 0..n {
                    if sink.send(item.clone()).await.is_err() {
                        return;
                    }
                }
            },
        )
        .map_err(|e| e.to_string())?;
    let port = server.local_addr().map_err(|e| e.to_string())?.port();
    let handle = server.start(module);
    Ok(Served {
        port,
        _keep: Box::new(handle),
    })
}

/// A WebSocket client, shared by the callers of one connection.
#[derive(Clone, Debug)]
pub(crate) struct Client(Arc<WsClient>);

pub(crate) async fn connect(port: u16) -> Result<Client, String> {
    let client = WsClientBuilder::default()
        .max_request_size(16 << 20)
        .max_response_size(16 << 20)
        // The default (1 024) closes a subscription whose items come faster
        // than its reader takes them: `stream` would lose its subscription.
        .max_buffer_capacity_per_subscription(1 << 18)
        .build(format!("ws://127.0.0.1:{port}"))
        .await
        .map_err(|e| e.to_string())?;
    Ok(Client(Arc::new(client)))
}

impl Rpc for Client {
    async fn add(&self, a: i64, b: i64) -> Result<i64, String> {
        self.0
            .request("add", rpc_params![a, b])
            .await
            .map_err(|e| e.to_string())
    }

    async fn echo(&self, data: Bytes) -> Result<usize, String> {
        let data = ByteBuf::from(data.to_vec());
        let back: ByteBuf = self
            .0
            .request("echo", rpc_params![data])
            .await
            .map_err(|e| e.to_string())?;
        Ok(back.len())
    }

    fn note(&self) -> Option<Result<(), String>> {
        None
    }

    async fn note_awaited(&self) -> Option<Result<(), String>> {
        None
    }

    async fn items(&self, n: u64) -> Option<Result<u64, String>> {
        let subscribed = self
            .0
            .subscribe::<u64, _>("subscribe_items", rpc_params![n], "unsubscribe_items")
            .await;
        let mut items = match subscribed {
            Ok(items) => items,
            Err(error) => return Some(Err(error.to_string())),
        };
        // A subscription has no end of its own: the client counts.
        let mut taken = 0;
        while taken < n {
            match items.next().await {
                Some(Ok(_)) => taken += 1,
                Some(Err(error)) => return Some(Err(error.to_string())),
                None => break,
            }
        }
        Some(Ok(taken))
    }

    async fn slow(&self) -> Option<Result<Box<dyn std::any::Any>, String>> {
        let subscribed = self
            .0
            .subscribe::<ByteBuf, _>(
                "subscribe_blobs",
                rpc_params![1_000_000u64, SLOW_ITEM_BYTES],
                "unsubscribe_blobs",
            )
            .await;
        let mut blobs = match subscribed {
            Ok(blobs) => blobs,
            Err(error) => return Some(Err(error.to_string())),
        };
        for _ in 0..SLOW_TAKEN {
            match blobs.next().await {
                Some(Ok(_)) => tokio::time::sleep(SLOW_EVERY).await,
                Some(Err(error)) => return Some(Err(error.to_string())),
                None => return Some(Err("the subscription ended".into())),
            }
        }
        Some(Ok(Box::new(blobs)))
    }

    async fn count(&self) -> Result<u64, String> {
        self.0
            .request("count", rpc_params![])
            .await
            .map_err(|e| e.to_string())
    }
}
