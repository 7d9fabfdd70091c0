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
//! An API is ordinary Rust: traits (or impl blocks) with `#[rpc_api]`, nested
//! to any depth. The attribute generates a typed client (`CalculatorClient`)
//! and the server glue; the wire name of `calc.math.div` is `"math.div"`.
//!
//! ```
//! use dotrpc::{Error, Peer, rpc_api};
//!
//! #[rpc_api]
//! pub trait Calculator {
//!     /// Adds two numbers.
//!     async fn add(&self, a: i64, b: i64) -> i64;
//!     /// A nested API: `calc.math.div(..)`, `"math.div"` on the wire.
//!     #[rpc(nested)]
//!     fn math(&self) -> &impl Math;
//! }
//!
//! #[rpc_api]
//! pub trait Math {
//!     async fn div(&self, a: f64, b: f64) -> Result<f64, String>;
//! }
//!
//! struct MyMath;
//! impl Math for MyMath {
//!     async fn div(&self, a: f64, b: f64) -> Result<f64, String> {
//!         if b == 0.0 { Err("division by zero".into()) } else { Ok(a / b) }
//!     }
//! }
//!
//! struct MyCalculator(MyMath);
//! impl Calculator for MyCalculator {
//!     type Math = MyMath; // what `&impl Math` became: a named type
//!     async fn add(&self, a: i64, b: i64) -> i64 { a + b }
//!     fn math(&self) -> &MyMath { &self.0 }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = Peer::builder().serve(CalculatorService(MyCalculator(MyMath)));
//! let (peer, _server) = dotrpc::memory_pair(Peer::builder(), server);
//! let calc: CalculatorClient = peer.client();
//! assert_eq!(calc.add(1, 2).await?, 3);
//! let error = calc.math.div(1.0, 0.0).await.unwrap_err();
//! assert!(matches!(error, Error::Remote(message) if message == "division by zero"));
//! # Ok(())
//! # }
//! ```
//!
//! Handlers can also be registered at run time by path, with no macro, which
//! is also the dynamic path for untyped calls:
//!
//! ```
//! use std::sync::Arc;
//! use dotrpc::{Peer, Router, Server};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> dotrpc::Result<()> {
//! let router = Arc::new(Router::new());
//! router.set_handler("add", |a: i64, b: i64| async move { a + b });
//! router.namespace("math").set_handler("div", |a: f64, b: f64| async move {
//!     if b == 0.0 { Err("division by zero".to_string()) } else { Ok(a / b) }
//! });
//! let server = Server::builder(Peer::builder().router(router)).bind_tcp("127.0.0.1:0").await?;
//! let addr = server.local_addr().as_tcp().unwrap();
//!
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
//! * `client`: the [`Call`] builder and its modes, the [`AsyncResult`] handle;
//! * [`blocking`](mod@blocking): an event loop on a background thread, for plain threads;
//! * [`server`]: accept loop, connection limit, broadcast, graceful shutdown;
//! * [`Group`]: peers to push events to together (subscribers, a chat room);
//! * `transport`: TCP, Unix sockets, child processes over stdio, in-memory;
//! * [`api`]: what `#[rpc_api]` generates code against, and `rpc.describe`;
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
//! | bytes queued for a peer that does not read | 64 MiB | [`PeerBuilder::max_queued_bytes`] |
//! | time to complete a message once begun | 30 s | [`PeerBuilder::message_timeout`] |
//! | time with nothing received | none | [`PeerBuilder::idle_timeout`] |
//! | connections per server | 10 000 | [`ServerBuilder::max_connections`] |

#![deny(missing_docs)]

#[doc(hidden)]
pub mod __private;
pub mod api;
pub mod blocking;
mod client;
pub mod codec;
pub mod error;
mod ext;
mod group;
pub mod handler;
pub mod message;
mod peer;
pub mod router;
pub mod server;
mod transaction;
mod transport;

pub use api::{Api, ApiClient, MethodDescription, ParamDescription};
pub use client::{AsyncResult, Call, CallStatus};
pub use codec::Limits;
/// Turns a trait or an inherent impl block into a dot-namespaced remote API:
/// a typed client stub `XxxClient` and server handlers (see the
/// [crate docs](crate) and the README for the attributes it takes).
pub use dotrpc_macros::rpc_api;
pub use error::{
    DisconnectReason, Error, ErrorFormat, ErrorKind, ErrorObject, FromRemote, RemoteError, Result,
};
pub use ext::Ext;
pub use group::Group;
pub use handler::{
    BoxFuture, CallContext, Handler, IntoHandler, IntoReply, Reply, blocking, encode_reply,
};
pub use message::{MsgId, Params};
pub use peer::{ConnectionEvent, Peer, PeerBuilder, Reconnect, WhileDown, memory_pair};
pub use rmpv::Value;
pub use router::{Namespace, Router};
pub use server::{ListenAddr, Server, ServerBuilder};
#[cfg(feature = "tls")]
pub use transport::tls;

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
