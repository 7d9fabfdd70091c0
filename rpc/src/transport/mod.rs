//! Transports: where a connection's messages come from and go to.
//!
//! The seam between a peer and whatever carries its messages is **whole
//! frames**: a transport gives the peer a [`FrameSource`] of whole
//! msgpack-rpc messages and a [`FrameSink`] that sends the peer's queued
//! [`Frames`]. A transport never builds a peer; it hands a [`Transport`] to
//! [`PeerBuilder::spawn`](crate::PeerBuilder::spawn) or
//! [`PeerBuilder::connect_with`](crate::PeerBuilder::connect_with), so a new
//! transport is a small module and everything above this seam (calls,
//! handlers, reconnects, limits) works on it unchanged.
//!
//! Two kinds fit:
//!
//! * **byte streams** (TCP, Unix sockets, pipes, TLS, anything
//!   `AsyncRead + AsyncWrite`): [`Transport::from_stream`] puts them behind
//!   the codec's framer, which splits the bytes into messages within the
//!   peer's [`Limits`] and writes queued messages back to back;
//! * **message transports** (a broker, WebSocket), which carry one message
//!   per unit already: implement [`FrameSource`] and [`FrameSink`] and use
//!   [`Transport::from_frames`]. Each message they hand over is checked
//!   against the same limits ([`check_frame`]) before it is parsed.
//!
//! What is here besides: the framer's parts ([`FrameDecoder`], [`Limits`],
//! [`CodecError`]), the parsed [`Message`] types, for transports that route
//! by method or msgid, `tls` (feature `tls`) and `websocket` (feature
//! `websocket`).
//!
//! A transport that carries calls in an envelope of its own (a broker's
//! subjects and headers: `dotrpc-nats` is one, written on this module's
//! API alone) maps messages both ways: it reads the frames the peer queues
//! as [`Message`]s and publishes their parts, and turns what arrives back
//! into frames with [`request_frame`], [`response_frame`],
//! [`notification_frame`] and [`stream_frame`], the call's [`Metadata`]
//! (deadline, trace context, a stream's first window) taken from its
//! envelope. dotrpc's own control messages are in
//! [`protocol`](crate::protocol); [`PeerBuilder`](crate::PeerBuilder)
//! tells a transport the peer's limits, call timeout, error format and
//! router.

mod address;
mod framed;
pub(crate) mod listener;
pub(crate) mod memory;
pub(crate) mod stdio;
pub(crate) mod tcp;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(unix)]
pub(crate) mod unix;
#[cfg(feature = "websocket")]
pub mod websocket;

use std::any::Any;
use std::io;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};

pub use crate::codec::{CodecError, FrameDecoder, Limits, check_frame};
pub use crate::message::{
    Frames, Message, Metadata, MsgId, Notification, Request, Response, notification_frame,
    request_frame, response_frame, stream_frame,
};
pub use address::is_subject_path;
pub use address::{Address, Scheme, ToAddress};
use framed::{StreamSink, StreamSource};
pub use listener::ListenAddr;

/// Who the other side is, as the transport established it (a TLS client
/// certificate chain); it becomes the connection's identity.
pub(crate) type Identity = Arc<dyn Any + Send + Sync>;

/// The inbound half of a transport: whole msgpack-rpc messages, in order.
pub trait FrameSource: Send + 'static {
    /// The next whole message: `Ready(Some(Ok(frame)))`; `Ready(None)` when
    /// the other side has closed cleanly (between messages); `Pending` until
    /// one arrives, with `cx`'s waker registered.
    ///
    /// # Errors
    ///
    /// An [`io::Error`] ends the connection: of kind
    /// [`InvalidData`](io::ErrorKind::InvalidData) for bytes that are not
    /// messages (the peer reports a protocol violation), any other kind for a
    /// failure of the transport itself.
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>>;

    /// How many bytes of a message that has begun to arrive are here so far;
    /// `None` between messages. The peer's message timeout runs while a
    /// message is partial, and its idle timeout restarts whenever this grows.
    /// Message transports, which never hold part of a message, keep the
    /// default.
    fn partial(&self) -> Option<usize> {
        None
    }
}

/// The outbound half of a transport.
///
/// Called one caller at a time, but not only from the connection's task: a
/// caller whose call is alone in flight sends its request itself, from its
/// own task on a tokio runtime, with a waker that wakes no one. `Pending`
/// then hands what is left to the connection's task, which polls again with
/// its own waker; so a sink must not count on one waker being kept.
pub trait FrameSink: Send + 'static {
    /// Sends what `frames` holds, as much as the transport takes without
    /// waiting, and removes what it sent: a byte stream as bytes
    /// ([`bytes::Buf`]), a message transport one
    /// [`pop_frame`](Frames::pop_frame) at a time. `Ready(Ok(()))` once
    /// `frames` is empty and what was sent is flushed; `Pending` with `cx`'s
    /// waker registered otherwise (what is left stays in `frames`).
    ///
    /// # Errors
    ///
    /// An [`io::Error`] ends the connection.
    fn poll_send(&mut self, cx: &mut Context<'_>, frames: &mut Frames) -> Poll<io::Result<()>>;

    /// Closes the outbound half (after the last frames were sent).
    ///
    /// # Errors
    ///
    /// An [`io::Error`] if closing fails; the connection is ending anyway.
    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

/// One connection's way in and way out, ready for a peer.
pub struct Transport {
    inbound: Inbound,
    sink: Box<dyn FrameSink>,
}

enum Inbound {
    /// Framed with the peer's limits when the peer starts.
    Bytes(Box<dyn AsyncRead + Send + Unpin>),
    Frames(Box<dyn FrameSource>),
}

impl Transport {
    /// A byte stream's halves, framed by the codec: messages are split from
    /// the bytes read within the peer's limits, and written back to back.
    pub fn from_stream<R, W>(reader: R, writer: W) -> Transport
    where
        R: AsyncRead + Send + Unpin + 'static,
        W: AsyncWrite + Send + Unpin + 'static,
    {
        Transport {
            inbound: Inbound::Bytes(Box::new(reader)),
            sink: Box::new(StreamSink::new(writer)),
        }
    }

    /// A message transport's halves, each unit one whole message.
    pub fn from_frames(source: impl FrameSource, sink: impl FrameSink) -> Transport {
        Transport {
            inbound: Inbound::Frames(Box::new(source)),
            sink: Box::new(sink),
        }
    }

    /// The two halves, a byte stream framed within `limits`; and whether
    /// frames from the source must still be checked against them.
    pub(crate) fn open(self, limits: Limits) -> Opened {
        match self.inbound {
            Inbound::Bytes(reader) => Opened {
                source: Box::new(StreamSource::new(reader, limits)),
                sink: self.sink,
                checked: true,
            },
            Inbound::Frames(source) => Opened {
                source,
                sink: self.sink,
                checked: false,
            },
        }
    }
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.inbound {
            Inbound::Bytes(_) => "byte stream",
            Inbound::Frames(_) => "messages",
        };
        f.debug_struct("Transport").field("kind", &kind).finish()
    }
}

/// A transport's halves, opened for one connection.
pub(crate) struct Opened {
    pub(crate) source: Box<dyn FrameSource>,
    pub(crate) sink: Box<dyn FrameSink>,
    /// Whether the source's frames are already checked against the limits
    /// (the framer's are).
    pub(crate) checked: bool,
}
