//! The framer: a byte stream as a source and a sink of whole messages.
//!
//! Reading, bytes go into one buffer and the bounded
//! [`FrameDecoder`](crate::codec::FrameDecoder) splits whole messages off its
//! front; each is a shared slice of the buffer, never a copy. The buffer grows
//! with what has arrived (doubling, so a large message is read in few system
//! calls), and at once to the end of a string or binary whose header has
//! arrived (within the size limit), so that a large value is not copied each
//! time the buffer doubles. Writing, the queued frames go
//! out as they lie in the connection's [`Frames`], vectored where the stream
//! supports it, so pipelined messages share system calls.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{FrameSink, FrameSource};
use crate::codec::{FrameDecoder, Limits};
use crate::message::Frames;

/// Bytes reserved for reading when the buffer runs out of room; the reserve
/// doubles with the bytes of a large message already buffered.
const READ_CHUNK: usize = 16 * 1024;
/// At most this many chunks go into one vectored write.
const MAX_IOVECS: usize = 16;

/// The inbound half of a byte stream, framed.
pub(crate) struct StreamSource<R> {
    reader: R,
    buffer: BytesMut,
    decoder: FrameDecoder,
}

impl<R> StreamSource<R> {
    pub(crate) fn new(reader: R, limits: Limits) -> Self {
        StreamSource {
            reader,
            // Grows on the first read: an idle connection keeps it empty.
            buffer: BytesMut::new(),
            decoder: FrameDecoder::new(limits),
        }
    }
}

impl<R: AsyncRead + Send + Unpin + 'static> FrameSource for StreamSource<R> {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        loop {
            // An empty buffer holds no frame: straight to reading.
            if !self.buffer.is_empty() {
                match self.decoder.decode(&mut self.buffer) {
                    Ok(Some(frame)) => return Poll::Ready(Some(Ok(frame))),
                    Ok(None) => {}
                    Err(error) => {
                        return Poll::Ready(Some(Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            error,
                        ))));
                    }
                }
            }
            let awaited = self.decoder.awaited_len();
            if awaited > self.buffer.capacity() {
                self.buffer.reserve(awaited - self.buffer.len());
            } else if self.buffer.capacity() - self.buffer.len() < READ_CHUNK / 4 {
                self.buffer.reserve(READ_CHUNK.max(self.buffer.len()));
            }
            let read = ready!(tokio_util::io::poll_read_buf(
                Pin::new(&mut self.reader),
                cx,
                &mut self.buffer
            ));
            match read {
                Ok(0) if self.buffer.is_empty() => return Poll::Ready(None),
                Ok(0) => {
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "connection closed in the middle of a message ({} bytes buffered)",
                            self.buffer.len()
                        ),
                    ))));
                }
                Ok(_) => {}
                Err(error) => return Poll::Ready(Some(Err(error))),
            }
        }
    }

    fn partial(&self) -> Option<usize> {
        (!self.buffer.is_empty()).then_some(self.buffer.len())
    }
}

/// The outbound half of a byte stream.
pub(crate) struct StreamSink<W> {
    writer: W,
    /// Whether bytes were written since the last flush.
    unflushed: bool,
}

impl<W> StreamSink<W> {
    pub(crate) fn new(writer: W) -> Self {
        StreamSink {
            writer,
            unflushed: false,
        }
    }
}

impl<W: AsyncWrite + Send + Unpin + 'static> FrameSink for StreamSink<W> {
    fn poll_send(&mut self, cx: &mut Context<'_>, frames: &mut Frames) -> Poll<io::Result<()>> {
        let mut writer = Pin::new(&mut self.writer);
        while frames.has_remaining() {
            // Small frames lie in one buffer: one plain write.
            let contiguous = frames.chunk().len() == frames.remaining();
            let written = if writer.is_write_vectored() && !contiguous {
                let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
                let n = frames.chunks_vectored(&mut slices);
                ready!(writer.as_mut().poll_write_vectored(cx, &slices[..n]))?
            } else {
                ready!(writer.as_mut().poll_write(cx, frames.chunk()))?
            };
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            frames.advance(written);
            self.unflushed = true;
        }
        if self.unflushed {
            ready!(writer.poll_flush(cx))?;
            self.unflushed = false;
        }
        Poll::Ready(Ok(()))
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.writer).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn a_large_message_arrives_whole_through_a_small_pipe() {
        let (mut near, far) = tokio::io::duplex(1024);
        let mut source = StreamSource::new(far, Limits::default());
        let blob = rmpv::Value::Binary(vec![7; 300_000]);
        let mut bytes = Vec::new();
        rmpv::encode::write_value(&mut bytes, &blob).unwrap();
        let expected = bytes.clone();
        let writer = tokio::spawn(async move {
            near.write_all(&bytes).await.unwrap();
            near.write_all(&[0xc0]).await.unwrap();
            near
        });
        let frame = poll_fn(|cx| source.poll_frame(cx)).await.unwrap().unwrap();
        assert_eq!(&frame[..], &expected[..]);
        let nil = poll_fn(|cx| source.poll_frame(cx)).await.unwrap().unwrap();
        assert_eq!(&nil[..], &[0xc0]);
        drop(writer.await.unwrap());
        assert!(poll_fn(|cx| source.poll_frame(cx)).await.is_none());
    }

    #[tokio::test]
    async fn a_stream_cut_inside_a_message_is_invalid_data() {
        let (mut near, far) = tokio::io::duplex(64);
        let mut source = StreamSource::new(far, Limits::default());
        near.write_all(&[0x94, 0x00]).await.unwrap();
        drop(near);
        let error = poll_fn(|cx| source.poll_frame(cx))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }
}
