//! dotrpc: RPC for hierarchical, object-shaped APIs, over msgpack-rpc.
//!
//! Both ends of a connection are [`Peer`]s: each can call the other, send it
//! one-way notifications, and serve calls through a [`Router`] that maps
//! dot-joined paths (`"math.stats.mean"`) to handlers. The wire is
//! [msgpack-rpc](https://github.com/msgpack-rpc/msgpack-rpc/blob/master/spec.md)
//! exactly, so peers written in Python, Node or Neovim's Lua can take part.
//!
//! # Quickstart
//!
//! ```
//! use std::sync::Arc;
//! use dotrpc::{Peer, Router, Server};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> dotrpc::Result<()> {
//! // A server: handlers by path, nested namespaces are just prefixes.
//! let router = Arc::new(Router::new());
//! router.set_handler("add", |a: i64, b: i64| async move { a + b });
//! router.namespace("math").set_handler("div", |a: f64, b: f64| async move {
//!     if b == 0.0 { Err("division by zero".to_string()) } else { Ok(a / b) }
//! });
//! let server = Server::builder(Peer::builder().router(router)).bind_tcp("127.0.0.1:0").await?;
//! let addr = server.local_addr().as_tcp().unwrap();
//!
//! // A client.
//! let peer = dotrpc::connect(addr).await?;
//! let sum: i64 = peer.call("add", (1, 2)).await?;
//! assert_eq!(sum, 3);
//! let error = peer.call::<f64>("math.div", (1.0, 0.0)).await.unwrap_err();
//! assert_eq!(error.to_string(), "remote error: Application: division by zero");
//! # server.shutdown(std::time::Duration::from_secs(1)).await;
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//!
//! The modules follow a message's way in, top to bottom, and a call's way out,
//! bottom to top:
//!
//! * [`codec`]: bytes → frames (whole msgpack values), bounded in size and depth;
//! * [`message`]: frames ↔ requests, responses and notifications, params raw;
//! * `transaction`: msgid → waiting call;
//! * [`router`] and [`handler`]: path → handler, typed params, panics → errors;
//! * `peer`: the reader and writer tasks of one connection;
//! * `client`: the [`Call`] builder;
//! * [`server`]: accept loop, connection limit, broadcast, graceful shutdown;
//! * `transport`: TCP, Unix sockets, child processes over stdio, in-memory;
//! * [`error`]: the one [`Error`] type and its stable [`ErrorKind`]s.
//!
//! # Limits and defaults
//!
//! | limit | default | set with |
//! |---|---|---|
//! | message size | 16 MiB | [`PeerBuilder::max_message_size`] |
//! | nesting depth | 128 | [`PeerBuilder::max_depth`] |
//! | concurrent handlers per connection | 128 | [`PeerBuilder::max_concurrent_handlers`] |
//! | calls waiting for a handler per connection | 256 | [`PeerBuilder::max_queued_calls`] |
//! | connections per server | 10 000 | [`ServerBuilder::max_connections`] |

#![deny(missing_docs)]

#[doc(hidden)]
pub mod __private;
pub mod api;
mod client;
pub mod codec;
pub mod error;
pub mod handler;
pub mod message;
mod peer;
pub mod router;
pub mod server;
mod transaction;
mod transport;

pub use api::{Api, ApiClient, MethodDescription, ParamDescription};
pub use client::Call;
pub use codec::Limits;
pub use dotrpc_macros::rpc_api;
pub use error::{DisconnectReason, Error, ErrorKind, ErrorObject, FromRemote, RemoteError, Result};
pub use handler::{
    BoxFuture, CallContext, Handler, IntoHandler, IntoReply, Reply, blocking, encode_reply,
};
pub use message::{MsgId, Params};
pub use peer::{ConnectionEvent, Peer, PeerBuilder, memory_pair};
pub use rmpv::Value;
pub use router::{Namespace, Router};
pub use server::{ListenAddr, Server, ServerBuilder};

/// The README's code blocks, run as doctests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// Connects to a dotrpc (or any msgpack-rpc) server over TCP, with default
/// options and no handlers of its own. Use [`Peer::builder`] to serve calls
/// from the server or change limits.
///
/// # Errors
///
/// `Transport` if the connection cannot be made.
pub async fn connect(addr: impl tokio::net::ToSocketAddrs) -> Result<Peer> {
    Peer::builder().connect_tcp(addr).await
}
