//! The reader task: bytes in, messages routed.
//!
//! Reads into one buffer, splits it into frames with the bounded
//! [`FrameDecoder`], parses each into a message and routes it:
//!
//! * a response completes its transaction (a late one is counted and dropped);
//! * a request or notification runs its handler as a task of this connection,
//!   under a semaphore of `max_concurrent_handlers` permits. The permit is
//!   taken *before* the next read, so at the bound the reader stops reading and
//!   the sender is pushed back through the transport: nothing queues without
//!   limit. Handlers run while the reader goes on reading, so a handler that
//!   calls back into its own caller gets its reply.
//!
//! Anything that is not a valid message closes this connection (the stream
//! cannot be resynchronised) with a `Protocol` reason; other connections are
//! untouched. When the reader stops, the handlers still running are aborted.

use std::sync::{Arc, Weak};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tracing::Instrument;

use super::{Connection, Handle, Peer};
use crate::codec::FrameDecoder;
use crate::error::DisconnectReason;
use crate::handler::CallContext;
use crate::message::{Message, MsgId, Params, response_frame};

/// Bytes reserved for each read when the buffer runs out of room.
const READ_CHUNK: usize = 16 * 1024;

pub(super) struct Reader<R> {
    connection: Arc<Connection>,
    /// Upgraded to hand handlers a `Peer`; weak so the reader alone does not
    /// keep the connection open.
    peer: Weak<Handle>,
    io: R,
    buffer: BytesMut,
    decoder: FrameDecoder,
    /// One permit per running handler.
    permits: Arc<Semaphore>,
    handlers: JoinSet<()>,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    pub(super) fn new(connection: Arc<Connection>, peer: Weak<Handle>, io: R) -> Self {
        let decoder = FrameDecoder::new(connection.options.limits);
        let permits = Arc::new(Semaphore::new(connection.options.max_concurrent_handlers));
        Reader {
            connection,
            peer,
            io,
            buffer: BytesMut::new(),
            decoder,
            permits,
            handlers: JoinSet::new(),
        }
    }

    pub(super) async fn run(mut self) {
        let reason = self.read_loop().await;
        self.connection.close(reason);
        self.handlers.shutdown().await;
    }

    /// Reads and routes until the connection must close; returns why.
    async fn read_loop(&mut self) -> DisconnectReason {
        let shutdown = self.connection.shutdown.clone();
        let drain = self.connection.drain.clone();
        loop {
            loop {
                let frame = match self.decoder.decode(&mut self.buffer) {
                    Ok(Some(frame)) => frame,
                    Ok(None) => break,
                    Err(error) => return DisconnectReason::Protocol(error.to_string()),
                };
                if let Err(reason) = self.route(frame).await {
                    return reason;
                }
            }
            if self.buffer.capacity() - self.buffer.len() < READ_CHUNK / 4 {
                self.buffer.reserve(READ_CHUNK);
            }
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return DisconnectReason::Closed,
                () = drain.cancelled() => return self.finish_handlers().await,
                Some(_) = self.handlers.join_next(), if !self.handlers.is_empty() => {}
                read = self.io.read_buf(&mut self.buffer) => match read {
                    Ok(0) if self.buffer.is_empty() => return DisconnectReason::Eof,
                    Ok(0) => return DisconnectReason::Protocol(format!(
                        "connection closed in the middle of a message ({} bytes buffered)",
                        self.buffer.len()
                    )),
                    Ok(_) => {}
                    Err(error) => return DisconnectReason::Transport(error.to_string()),
                },
            }
        }
    }

    /// Lets running handlers answer, reading nothing more (graceful shutdown).
    async fn finish_handlers(&mut self) -> DisconnectReason {
        let shutdown = self.connection.shutdown.clone();
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = async { while self.handlers.join_next().await.is_some() {} } => {}
        }
        DisconnectReason::Shutdown
    }

    async fn route(&mut self, frame: Bytes) -> Result<(), DisconnectReason> {
        let message =
            Message::parse(frame).map_err(|error| DisconnectReason::Protocol(error.to_string()))?;
        match message {
            Message::Response(response) => {
                let msgid = response.msgid;
                if !self.connection.transactions.complete(msgid, Ok(response)) {
                    tracing::debug!(
                        peer = self.connection.id,
                        msgid,
                        "late or unsolicited response dropped"
                    );
                }
            }
            Message::Request(request) => {
                self.spawn_handler(Some(request.msgid), request.method, request.params)
                    .await?
            }
            Message::Notification(notification) => {
                self.spawn_handler(None, notification.method, notification.params)
                    .await?;
            }
        }
        Ok(())
    }

    /// Takes a permit (waiting, and so not reading, at the bound) and runs the
    /// handler as a task of this connection.
    async fn spawn_handler(
        &mut self,
        msgid: Option<MsgId>,
        method: String,
        params: Params,
    ) -> Result<(), DisconnectReason> {
        let permit = self.acquire_permit().await?;
        let Some(handle) = self.peer.upgrade() else {
            return Err(DisconnectReason::Closed);
        };
        let ctx = CallContext::new(msgid, method.into(), Peer { handle });
        let span = tracing::debug_span!(
            "rpc.handle",
            peer = self.connection.id,
            method = ctx.method(),
            msgid
        );
        self.handlers
            .spawn(handle_one(ctx, params, permit).instrument(span));
        Ok(())
    }

    async fn acquire_permit(&mut self) -> Result<OwnedSemaphorePermit, DisconnectReason> {
        let shutdown = self.connection.shutdown.clone();
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return Err(DisconnectReason::Closed),
                permit = Arc::clone(&self.permits).acquire_owned() => {
                    return permit.map_err(|_| DisconnectReason::Closed);
                }
                // Reap finished handlers while waiting so the set stays small.
                Some(_) = self.handlers.join_next(), if !self.handlers.is_empty() => {}
            }
        }
    }
}

/// Runs one handler and queues its reply (none for a notification).
async fn handle_one(ctx: CallContext, params: Params, permit: OwnedSemaphorePermit) {
    let started = Instant::now();
    let peer = ctx.peer().clone();
    let msgid = ctx.msgid();
    let reply = peer.router().dispatch(ctx, params).await;
    drop(permit);
    let elapsed_us = started.elapsed().as_micros() as u64;
    match &reply {
        Ok(_) => tracing::debug!(elapsed_us, outcome = "ok", "handled"),
        Err(error) => tracing::debug!(elapsed_us, outcome = %error.code, "handled"),
    }
    if let Some(msgid) = msgid {
        let frame = response_frame(msgid, reply.as_deref());
        // The connection may have closed meanwhile; the reply is then moot.
        let _ = peer.send(frame.into());
    }
}
