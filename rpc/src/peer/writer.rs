//! The writer task: the one place bytes leave a connection.
//!
//! Callers and handlers queue whole frames; the writer takes every frame that
//! is queued at once, copies the small ones into one buffer and writes it with
//! one flush, so pipelined calls share system calls. Large frames (bulk
//! payloads) are written straight from their own buffer rather than copied.
//!
//! On close, frames already queued (typically the last replies of a graceful
//! shutdown) are still written, for at most the peer's flush timeout, so a
//! peer that stopped reading cannot hold the task forever.

use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::Connection;
use crate::error::DisconnectReason;

/// Frames at least this large are written directly instead of being copied.
const COPY_LIMIT: usize = 64 * 1024;
/// At most this many frames are taken per batch.
const BATCH: usize = 512;

pub(super) struct Writer<W> {
    connection: Arc<Connection>,
    inbox: mpsc::UnboundedReceiver<Bytes>,
    io: W,
    /// Holds the small frames of the current batch; empty between batches.
    buffer: Vec<u8>,
}

impl<W: AsyncWrite + Unpin> Writer<W> {
    pub(super) fn new(
        connection: Arc<Connection>,
        inbox: mpsc::UnboundedReceiver<Bytes>,
        io: W,
    ) -> Self {
        Writer {
            connection,
            inbox,
            io,
            // Both grow to what the traffic needs and stay there; an idle
            // connection keeps them small (it costs memory per connection).
            buffer: Vec::new(),
        }
    }

    pub(super) async fn run(mut self) {
        let mut batch = Vec::new();
        // One wait for the whole loop, not a new one per batch.
        let shutdown = self.connection.shutdown.clone().cancelled_owned();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                received = self.inbox.recv_many(&mut batch, BATCH) => {
                    if received == 0 {
                        break;
                    }
                    if let Err(error) = self.write_batch(&mut batch).await {
                        self.connection.close(DisconnectReason::Transport(error.to_string()));
                        return;
                    }
                }
                () = &mut shutdown => break,
            }
        }
        self.flush_remaining(&mut batch).await;
    }

    async fn write_batch(&mut self, batch: &mut Vec<Bytes>) -> std::io::Result<()> {
        let bytes: usize = batch.iter().map(Bytes::len).sum();
        for frame in batch.drain(..) {
            if frame.len() >= COPY_LIMIT {
                self.write_buffer().await?;
                self.io.write_all(&frame).await?;
            } else {
                self.buffer.extend_from_slice(&frame);
            }
        }
        self.write_buffer().await?;
        self.io.flush().await?;
        self.connection
            .queued_bytes
            .fetch_sub(bytes, std::sync::atomic::Ordering::AcqRel);
        Ok(())
    }

    async fn write_buffer(&mut self) -> std::io::Result<()> {
        if !self.buffer.is_empty() {
            self.io.write_all(&self.buffer).await?;
            self.buffer.clear();
        }
        Ok(())
    }

    /// Writes what was queued before the close, then shuts the stream down.
    async fn flush_remaining(&mut self, batch: &mut Vec<Bytes>) {
        while let Ok(frame) = self.inbox.try_recv() {
            batch.push(frame);
        }
        let timeout = self.connection.options.close_flush_timeout;
        let _ = tokio::time::timeout(timeout, async {
            self.write_batch(batch).await?;
            self.io.shutdown().await
        })
        .await;
    }
}
