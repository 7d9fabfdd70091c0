//! Transports: where a peer's bytes come from and go to.
//!
//! A peer runs over any pair of `AsyncRead` / `AsyncWrite` halves
//! ([`PeerBuilder::spawn`](crate::PeerBuilder::spawn)); these modules only open
//! the streams and hand their halves over, so the generic parameters stop here
//! and nothing above this layer knows what carries the bytes:
//!
//! * [`tcp`]: connect, and the listener a [`Server`](crate::Server) accepts on;
//! * [`unix`]: the same over Unix domain sockets (socket files made `0600`);
//! * [`stdio`]: a child process over its stdin/stdout, or this process's own;
//! * [`memory`]: two peers joined in memory;
//! * `tls` (feature `tls`): TCP with rustls, client and server.
//!
//! A transport that carries whole messages rather than a byte stream (a
//! message broker) fits the same way: it feeds the frames it receives to the
//! peer as bytes, since every frame is one self-delimiting msgpack value.

pub(crate) mod memory;
pub(crate) mod stdio;
pub(crate) mod tcp;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(unix)]
pub(crate) mod unix;

use tokio::io::{AsyncRead, AsyncWrite};

/// The halves of one accepted connection, and a name for the other end.
pub(crate) struct Accepted {
    pub(crate) reader: Box<dyn AsyncRead + Send + Unpin>,
    pub(crate) writer: Box<dyn AsyncWrite + Send + Unpin>,
    pub(crate) remote: String,
}
