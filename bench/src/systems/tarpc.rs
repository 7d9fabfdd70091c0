//! tarpc: bincode over TCP, its own service macro; no notifications.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::StreamExt as _;
use serde_bytes::ByteBuf;
use tarpc::server::Channel as _;
use tarpc::tokio_serde::formats::Bincode;
use tarpc::{client, context, server};

use super::Served;
use crate::workload::Rpc;

/// The benchmark's API, for tarpc.
#[tarpc::service]
pub(crate) trait Bench {
    /// Adds.
    async fn add(a: i64, b: i64) -> i64;
    /// Gives the bytes back.
    async fn echo(data: ByteBuf) -> ByteBuf;
    /// How many notes arrived (always 0: tarpc has no notifications).
    async fn count() -> u64;
}

#[derive(Clone, Debug, Default)]
struct Impl(Arc<AtomicU64>);

impl Bench for Impl {
    async fn add(self, _: context::Context, a: i64, b: i64) -> i64 {
        a + b
    }
    async fn echo(self, _: context::Context, data: ByteBuf) -> ByteBuf {
        data
    }
    async fn count(self, _: context::Context) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

pub(crate) async fn serve() -> Result<Served, String> {
    let mut listener = tarpc::serde_transport::tcp::listen("127.0.0.1:0", Bincode::default)
        .await
        .map_err(|e| e.to_string())?;
    listener.config_mut().max_frame_length(16 << 20);
    let port = listener.local_addr().port();
    let service = Impl::default();
    let accept = tokio::task::spawn_local(async move {
        listener
            .filter_map(|conn| futures::future::ready(conn.ok()))
            .for_each(move |transport| {
                let channel = server::BaseChannel::with_defaults(transport);
                tokio::task::spawn_local(channel.execute(service.clone().serve()).for_each(
                    |response| async move {
                        tokio::task::spawn_local(response);
                    },
                ));
                futures::future::ready(())
            })
            .await;
    });
    Ok(Served {
        port,
        _keep: Box::new(accept),
    })
}

pub(crate) async fn connect(port: u16) -> Result<BenchClient, String> {
    let mut transport = tarpc::serde_transport::tcp::connect(("127.0.0.1", port), Bincode::default);
    transport.config_mut().max_frame_length(16 << 20);
    let transport = transport.await.map_err(|e| e.to_string())?;
    Ok(BenchClient::new(client::Config::default(), transport).spawn())
}

impl Rpc for BenchClient {
    async fn add(&self, a: i64, b: i64) -> Result<i64, String> {
        BenchClient::add(self, context::current(), a, b)
            .await
            .map_err(|e| e.to_string())
    }

    async fn echo(&self, data: Bytes) -> Result<usize, String> {
        let data = ByteBuf::from(data.to_vec());
        BenchClient::echo(self, context::current(), data)
            .await
            .map(|back| back.len())
            .map_err(|e| e.to_string())
    }

    async fn items(&self, _n: u64) -> Option<Result<u64, String>> {
        None
    }

    async fn slow(&self) -> Option<Result<Box<dyn std::any::Any>, String>> {
        None
    }

    fn note(&self) -> Option<Result<(), String>> {
        None
    }

    async fn note_awaited(&self) -> Option<Result<(), String>> {
        None
    }

    async fn count(&self) -> Result<u64, String> {
        BenchClient::count(self, context::current())
            .await
            .map_err(|e| e.to_string())
    }
}
