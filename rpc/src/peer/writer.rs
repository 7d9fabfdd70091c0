//! A connection's way out: the transport's sink and the frames on their way
//! into it. The link holds it behind a lock, so that not only the
//! connection's task writes: a caller whose call is alone in flight writes
//! its request at once, when the task is idle (no hand-off to the task, no
//! wake-up of it). What cannot be written without waiting is always left to
//! the task, which waits with its own waker.

use std::io;
use std::task::{Context, Poll};

use crate::message::Frames;
use crate::transport::FrameSink;

/// The sink, and what it is part-way through.
pub(super) struct Writer {
    sink: Box<dyn FrameSink>,
    /// Frames taken from the queue and not yet all written.
    sending: Frames,
    /// Whether the sink's last send did not finish (it owes a write or a
    /// flush), so it must be polled again even with nothing new to send.
    unfinished: bool,
    /// Why a write made outside the task failed: the task ends the
    /// connection with it.
    failed: Option<io::Error>,
}

impl Writer {
    pub(super) fn new(sink: Box<dyn FrameSink>) -> Self {
        Writer {
            sink,
            sending: Frames::new(),
            unfinished: false,
            failed: None,
        }
    }

    /// Writes until nothing is left: what it is sending, then whatever
    /// `take` moves from the queue into it (`false` if the queue was
    /// empty); `wrote` hears of every byte written. `Ready(Ok)` once all of
    /// it is written and flushed.
    pub(super) fn send(
        &mut self,
        cx: &mut Context<'_>,
        mut take: impl FnMut(&mut Frames) -> bool,
        mut wrote: impl FnMut(usize),
    ) -> Poll<io::Result<()>> {
        if let Some(error) = self.failed.take() {
            return Poll::Ready(Err(error));
        }
        loop {
            if self.sending.is_empty() && !take(&mut self.sending) && !self.unfinished {
                return Poll::Ready(Ok(()));
            }
            // With nothing to send, the sink still finishes what it began (a
            // flush that was pending).
            let nothing_queued = self.sending.is_empty();
            let before = self.sending.len();
            let sent = self.sink.poll_send(cx, &mut self.sending);
            let written = before - self.sending.len();
            if written > 0 {
                wrote(written);
            }
            self.unfinished = sent.is_pending();
            match sent {
                Poll::Ready(Ok(())) if nothing_queued => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// A write outside the task failed with `error`: kept for the task.
    pub(super) fn fail(&mut self, error: io::Error) {
        self.failed = Some(error);
    }

    /// Closes the sink's outbound half.
    pub(super) fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.sink.poll_close(cx)
    }
}
