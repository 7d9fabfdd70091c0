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
//!     type Math = MyMath; // `&impl Math` became a type named after the accessor
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
//! let server = Server::builder(Peer::builder().router(router)).bind("127.0.0.1:0").await?;
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
//! # Where things are
//!
//! The crate's root holds what most programs name: [`rpc_api`], [`connect`],
//! [`Peer`] and [`PeerBuilder`], [`Server`] and [`ServerBuilder`],
//! [`Router`], [`Group`], [`Address`], the call modes a stub returns
//! ([`Call`], [`Notify`], [`ItemStream`], [`Upload`], [`Conversation`]), a
//! handler's [`CallContext`], [`ItemSink`] and [`ItemReceiver`], [`Error`],
//! [`ErrorKind`] and [`Result`], the value types [`Value`], [`Blob`] and
//! [`Ext`], the type rules [`WireType`] and [`ApplicationError`],
//! [`blocking`], [`Description`] and [`memory_pair`]. The rest is in the
//! module of the folder it is written in: [`client`] (handles, statuses,
//! broadcast events, the traits generated clients implement), [`handler`]
//! (handlers written by hand: [`Handler`](handler::Handler),
//! [`IntoReply`](handler::IntoReply), raw [`Params`](handler::Params) and
//! [`ErrorObject`](handler::ErrorObject)), [`peer`] (reconnecting, connection
//! events, the error format), [`router`], [`error`], [`schema`],
//! [`transport`] (addresses, listeners, TLS, writing a transport),
//! [`observe`], [`compat`] and [`runtime`].
//!
//! # Layout
//!
//! The modules follow a message's way in, top to bottom, and a call's way out,
//! bottom to top; each uses only modules above it:
//!
//! * `sync`: locks that a panicking handler does not poison;
//! * `codec`: bytes → frames (whole msgpack values), bounded in size and depth;
//! * `message`: frames ↔ requests, responses and notifications, params raw;
//!   the only module that writes message bytes (responses, and an outgoing
//!   call as a request or a notification), into the outgoing `Frames` queue;
//! * `protocol`: dotrpc's extensions to msgpack-rpc, every `rpc.*` name,
//!   the features a hello lists, control messages read into one `Control`;
//! * `ext`, `blob`: msgpack ext values ([`Ext`]) and zero-copy bytes
//!   ([`Blob`]) as Rust types;
//! * [`schema`]: the description format ([`Description`]) and the shapes
//!   of an API's types, traced through their serde impls;
//! * [`error`]: the one [`Error`] type and its stable [`ErrorKind`]s;
//! * `transaction`: msgid → waiting call;
//! * `stream`: a connection's streams by call and way: the producer's
//!   credit, the consumer's inbox, the other side's stream messages taken;
//! * `deadline`: the deadline of the call being handled, which calls inherit;
//! * [`transport`]: the frame seam (a source and a sink of whole messages),
//!   the framer for byte streams, TCP, Unix sockets, stdio, memory, TLS;
//! * [`observe`]: the spans of calls, the trace context they carry across
//!   processes (feature `otel`), and per-method metrics (feature `metrics`);
//! * [`peer`]: the [`Peer`] handle, its session (reconnects, state events),
//!   the link a connection's users share, and one task per connection that
//!   reads, writes, watches handlers and its timeouts;
//! * [`handler`]: [`CallContext`], typed params, [`IntoReply`](handler::IntoReply),
//!   closures as handlers;
//! * [`router`]: path → handler, the fallback, aliases, [`Api`](router::Api) and
//!   `rpc.describe`;
//! * [`compat`]: two descriptions of an API compared, each difference
//!   classed by whom it breaks;
//! * `dispatch`: one inbound call, route → authorize → deadline → handler →
//!   size cap → reply, the one panic boundary;
//! * [`client`]: the [`Call`] builder and its modes, [`Notify`], the
//!   [`AsyncResult`](client::AsyncResult) handle, streams' caller ends, all sent one way (size,
//!   transaction, deadline, trace context), what generated stubs are made of, and events
//!   sent to many peers at once ([`ApiBroadcast`](client::ApiBroadcast));
//! * `builder`: [`PeerBuilder`], which puts the layers together;
//! * `group`: peers to push events to together ([`Group`]);
//! * `server`: accept loop, limits, broadcast, graceful shutdown;
//! * `axum` (feature `axum`): a server as a route of an axum application;
//! * [`runtime`]: [`BackgroundRuntime`](runtime::BackgroundRuntime), an event
//!   loop on a background thread;
//! * `wire`: the rules the types of an API follow ([`WireType`],
//!   [`ApplicationError`]), through which generated code encodes them;
//! * `__private`: what generated code names (hidden; not API).
//!
//! # Limits and defaults
//!
//! | limit | default | set with |
//! |---|---|---|
//! | message size, received and sent | 16 MiB | [`PeerBuilder::max_message_size`] |
//! | nesting depth | 128 | [`PeerBuilder::max_depth`] |
//! | handlers waiting at once per connection | 128 | [`PeerBuilder::max_concurrent_handlers`] |
//! | calls waiting for a handler per connection | 256 | [`PeerBuilder::max_queued_calls`] |
//! | bytes queued before an awaited send waits | 1 MiB | [`PeerBuilder::send_buffer`] |
//! | bytes queued for a peer at all (past it, it is closed) | 64 MiB | [`PeerBuilder::max_queued_bytes`] |
//! | time to complete a message once begun | 30 s | [`PeerBuilder::message_timeout`] |
//! | time with nothing received | none | [`PeerBuilder::idle_timeout`] |
//! | timeout of calls that set none | none (10 s over NATS) | [`PeerBuilder::call_timeout`] |
//! | connections per server | 10 000 | [`ServerBuilder::max_connections`] |
//! | listen backlog (capped by `somaxconn`) | 1024 | [`ServerBuilder::backlog`] |

#![deny(missing_docs)]
// docs.rs (`--cfg docsrs`, on nightly) marks each item a feature adds.
#![cfg_attr(docsrs, feature(doc_cfg))]

// In the order data flows; each module uses only those above it
// (rpc/tests/layout.rs checks it).

// Locks that a panic does not poison.
mod sync;

// Bytes → frames.
mod codec;

// Frames ↔ messages, and the outgoing queue.
mod message;

// dotrpc's own messages: the `rpc.*` names, features, control messages.
pub mod protocol;

// msgpack ext values and zero-copy bytes as Rust types.
mod ext;

mod blob;

// The shapes of an API's types, traced through their serde impls.
pub mod schema;

// The error type.
pub mod error;

// msgid → waiting call.
mod transaction;

// A connection's streams: credit and items, by call.
mod stream;

// The deadline calls inherit.
mod deadline;

// Spans, trace context and metrics of calls.
pub mod observe;

// The frame seam and the transports.
pub mod transport;

// Peers, sessions, connections.
pub mod peer;

// What handlers are.
pub mod handler;

// Path → handler.
pub mod router;

// Whether a new version of an API breaks its callers.
pub mod compat;

// One inbound call.
mod dispatch;

// The calling side.
pub mod client;

// Putting peers together.
mod builder;

// Pushing to many peers.
mod group;

// Serving many connections.
mod server;

// A server mounted as a route of an axum application (feature `axum`).
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;

// An event loop for plain threads.
pub mod runtime;

// The rules the types of an API follow.
mod wire;

// What generated code names.
#[doc(hidden)]
pub mod __private;

pub use blob::Blob;
pub use builder::{PeerBuilder, memory_pair};
pub use client::{Call, Conversation, ItemStream, Notify, Upload};
/// Turns a trait or an inherent impl block into a dot-namespaced remote API.
///
/// For an API `Shop` it generates `ShopClient` (a typed client: call methods
/// return a [`Call`], event methods a [`Notify`]; nested APIs are fields),
/// `ShopBroadcast` (its events, to every member of a [`Group`] or client of
/// a [`Server`]), the server glue, and the API's self-description; a trait
/// is served as `ShopService(my_impl)`, an impl-block type as itself.
///
/// On the item: `#[rpc_api(namespace = "shop")]` gives a root namespace;
/// `crate = "path"` names this crate if it is renamed. On a member:
///
/// | attribute | what it does |
/// |---|---|
/// | `#[rpc(nested)]` | an accessor whose API is served under its name (`shop.stock.count`) |
/// | `#[rpc(event)]` | a one-way method, sent as a notification |
/// | `#[rpc(blocking)]` | a plain `fn` run on the blocking pool |
/// | `#[rpc(idempotent)]` | a call that is safe to send again after a dropped connection |
/// | `#[rpc(name = "..")]` | the name on the wire |
/// | `#[rpc(skip)]` | a helper that is not part of the API |
///
/// A nested accessor in a trait, `fn stock(&self) -> &impl Inventory;`,
/// becomes an associated type named after the **accessor** in
/// UpperCamelCase, not after its trait:
///
/// ```
/// #[dotrpc::rpc_api]
/// pub trait Shop {
///     #[rpc(nested)]
///     fn stock(&self) -> &impl Inventory;
/// }
///
/// #[dotrpc::rpc_api]
/// pub trait Inventory {
///     async fn count(&self, item: String) -> u32;
/// }
///
/// struct MyInventory;
/// impl Inventory for MyInventory {
///     async fn count(&self, _item: String) -> u32 { 12 }
/// }
///
/// struct MyShop(MyInventory);
/// impl Shop for MyShop {
///     type Stock = MyInventory; // `Stock`, from `stock`: not `Inventory`
///     fn stock(&self) -> &MyInventory { &self.0 }
/// }
/// ```
///
/// Params and results follow the rule [`WireType`], errors the rule
/// [`ApplicationError`]; a type that breaks one is a compile error at the
/// type. See the [crate docs](crate) and the README for the rest.
pub use dotrpc_macros::rpc_api;
pub use error::{Error, ErrorKind, Result};
pub use ext::Ext;
pub use group::Group;
pub use handler::{CallContext, ItemReceiver, ItemSink, blocking};
pub use peer::Peer;
pub use rmpv::Value;
pub use router::Router;
pub use schema::Description;
pub use server::{Server, ServerBuilder};
pub use transport::Address;
pub use wire::{ApplicationError, WireType};

/// The README's code blocks, run as doctests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// Connects to a dotrpc (or any msgpack-rpc) server at `addr` (any
/// [`Address`]: `host:port`, `ws://host:port/path`, a server's
/// `local_addr()`...), with default options and no handlers of its own.
/// Use [`Peer::builder`] to serve calls from the server, change limits, or
/// give a TLS configuration.
///
/// # Errors
///
/// `Transport` if the address is not one or the connection cannot be made.
pub async fn connect(addr: impl transport::ToAddress) -> Result<Peer> {
    Peer::builder().connect(addr).await
}
