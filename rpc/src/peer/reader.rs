//! The reader task: bytes in, messages routed.
//!
//! Reads into one buffer, splits it into frames with the bounded
//! [`FrameDecoder`], parses each into a message and routes it:
//!
//! * a response completes its transaction (a late one is counted and dropped);
//! * a request or notification runs its handler as a task of this connection,
//!   holding one of `max_concurrent_handlers` permits.
//!
//! When no permit is free, calls are *parked* in arrival order, up to
//! `max_queued_calls`, and the reader goes on reading: responses still reach
//! their callers, so a handler that calls back into its own caller gets its
//! reply even while the caller sends more calls (with a bound of 1, calls run
//! strictly in order, and still cannot deadlock that way). Once the parked
//! queue is full the reader stops reading, which pushes back on the sender
//! through the transport: nothing queues without limit.
//!
//! Anything that is not a valid message closes this connection (the stream
//! cannot be resynchronised) with a `Protocol` reason; so does nothing
//! arriving for the idle timeout (`Idle`), or a message begun and not
//! finished within the message timeout (`Stalled`). Other connections are
//! untouched. When the reader stops, the handlers still running are aborted;
//! but at the end of the peer's stream (EOF) the calls and notifications it
//! sent still run to the end first, and only its pending replies fail at once.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::{AbortHandle, JoinSet};
use tracing::Instrument;

use super::{Connection, Handle, Peer, protocol};
use crate::codec::FrameDecoder;
use crate::error::DisconnectReason;
use crate::error::{ErrorObject, code};
use crate::handler::{self, CallContext};
use crate::message::{Message, MsgId, Params, response_frame};

/// Sleeps until `deadline`; pending forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => std::future::pending().await,
    }
}

/// Bytes reserved for each read when the buffer runs out of room.
const READ_CHUNK: usize = 16 * 1024;

/// A request or notification waiting for a handler permit.
struct Parked {
    msgid: Option<MsgId>,
    method: Arc<str>,
    params: Params,
    /// When the caller stops waiting (dotrpc callers only).
    deadline: Option<Instant>,
}

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
    /// Calls that arrived while every permit was taken, oldest first; never
    /// longer than `max_parked`, and non-empty only while no permit is free.
    parked: VecDeque<Parked>,
    max_parked: usize,
    /// Requests whose handler runs, so `rpc.cancel` can stop them; entries
    /// leave when the handler's task ends.
    running: HashMap<MsgId, AbortHandle>,
    /// The msgid each running request's task serves.
    running_tasks: HashMap<tokio::task::Id, MsgId>,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    pub(super) fn new(connection: Arc<Connection>, peer: Weak<Handle>, io: R) -> Self {
        let decoder = FrameDecoder::new(connection.options.limits);
        let bound = connection.options.max_concurrent_handlers;
        let max_parked = connection.options.max_queued_calls;
        Reader {
            connection,
            peer,
            io,
            buffer: BytesMut::new(),
            decoder,
            permits: Arc::new(Semaphore::new(bound)),
            handlers: JoinSet::new(),
            parked: VecDeque::new(),
            max_parked,
            running: HashMap::new(),
            running_tasks: HashMap::new(),
        }
    }

    pub(super) async fn run(mut self) {
        let reason = self.read_loop().await;
        self.connection.close(reason);
        self.handlers.shutdown().await;
    }

    /// Reads and routes until the connection must close; returns why.
    async fn read_loop(&mut self) -> DisconnectReason {
        // Made once: a fresh wait on each pass registered with, and then left,
        // both tokens' notifiers for every read (7% of a call, measured).
        let shutdown = self.connection.shutdown.clone().cancelled_owned();
        let drain = self.connection.drain.clone().cancelled_owned();
        tokio::pin!(shutdown, drain);
        let (idle_timeout, message_timeout) = (
            self.connection.options.idle_timeout,
            self.connection.options.message_timeout,
        );
        // When bytes last arrived, and when the partial message in the
        // buffer (if any) began: the idle and message timeouts run from them.
        let mut last_bytes = Instant::now();
        let mut message_began: Option<Instant> = None;
        loop {
            let routed = match self.route_buffered() {
                Ok(routed) => routed,
                Err(reason) => return reason,
            };
            if self.buffer.is_empty() {
                message_began = None;
            } else if routed > 0 || message_began.is_none() {
                message_began = Some(last_bytes);
            }
            let can_read = self.parked.len() < self.max_parked;
            if can_read && self.buffer.capacity() - self.buffer.len() < READ_CHUNK / 4 {
                self.buffer.reserve(READ_CHUNK);
            }
            // Only a reader that is reading can time out waiting for bytes.
            let idle = idle_timeout.map(|t| (last_bytes + t, DisconnectReason::Idle { after: t }));
            let stalled = message_timeout
                .zip(message_began)
                .map(|(t, began)| (began + t, DisconnectReason::Stalled { after: t }));
            let timer = [idle, stalled]
                .into_iter()
                .flatten()
                .min_by_key(|(at, _)| *at)
                .filter(|_| can_read);
            let (deadline, expired) = match timer {
                Some((at, reason)) => (Some(at), Some(reason)),
                None => (None, None),
            };
            tokio::select! {
                biased;
                () = &mut shutdown => return DisconnectReason::Closed,
                () = &mut drain => return self.finish_handlers(DisconnectReason::Shutdown).await,
                permit = Arc::clone(&self.permits).acquire_owned(), if !self.parked.is_empty() => {
                    let Ok(permit) = permit else { return DisconnectReason::Closed };
                    if let Some(call) = self.parked.pop_front() {
                        self.start(call, permit);
                    }
                }
                Some(ended) = self.handlers.join_next_with_id(), if !self.handlers.is_empty() => self.forget(ended),
                read = self.io.read_buf(&mut self.buffer), if can_read => match read {
                    Ok(0) if self.buffer.is_empty() => {
                        // The peer will send nothing more, so our calls to it
                        // fail now; what it did send still runs (a notification
                        // followed by a close is not lost), and replies go out
                        // if it still reads.
                        self.connection.transactions.fail_all(DisconnectReason::Eof);
                        return self.finish_handlers(DisconnectReason::Eof).await;
                    }
                    Ok(0) => return DisconnectReason::Protocol(format!(
                        "connection closed in the middle of a message ({} bytes buffered)",
                        self.buffer.len()
                    )),
                    Ok(_) => last_bytes = Instant::now(),
                    Err(error) => return DisconnectReason::Transport(error.to_string()),
                },
                () = sleep_until(deadline), if deadline.is_some() => {
                    return expired.unwrap_or(DisconnectReason::Closed);
                }
            }
        }
    }

    /// Routes the whole messages already buffered, while calls can be
    /// parked; returns how many.
    fn route_buffered(&mut self) -> Result<usize, DisconnectReason> {
        let mut routed = 0;
        while self.parked.len() < self.max_parked {
            match self.decoder.decode(&mut self.buffer) {
                Ok(Some(frame)) => {
                    self.route(frame)?;
                    routed += 1;
                }
                Ok(None) => break,
                Err(error) => return Err(DisconnectReason::Protocol(error.to_string())),
            }
        }
        Ok(routed)
    }

    /// Lets received calls answer, reading nothing more (graceful shutdown,
    /// or the end of the peer's stream); then closes with `reason`.
    async fn finish_handlers(&mut self, reason: DisconnectReason) -> DisconnectReason {
        let shutdown = self.connection.shutdown.clone();
        while !self.parked.is_empty() || !self.handlers.is_empty() {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                permit = Arc::clone(&self.permits).acquire_owned(), if !self.parked.is_empty() => {
                    let (Ok(permit), Some(call)) = (permit, self.parked.pop_front()) else { break };
                    self.start(call, permit);
                }
                Some(ended) = self.handlers.join_next_with_id(), if !self.handlers.is_empty() => self.forget(ended),
            }
        }
        reason
    }

    fn route(&mut self, frame: Bytes) -> Result<(), DisconnectReason> {
        let message =
            Message::parse(frame).map_err(|error| DisconnectReason::Protocol(error.to_string()))?;
        let call = match message {
            Message::Response(response) => {
                let msgid = response.msgid;
                if !self.connection.transactions.complete(msgid, Ok(response)) {
                    tracing::debug!(
                        peer = self.connection.id,
                        msgid,
                        "late or unsolicited response dropped"
                    );
                }
                return Ok(());
            }
            Message::Request(request) => Parked {
                msgid: Some(request.msgid),
                method: request.method,
                params: request.params,
                deadline: request
                    .deadline_ms
                    .map(|ms| Instant::now() + Duration::from_millis(ms)),
            },
            Message::Notification(notification) if &*notification.method == protocol::HELLO => {
                self.connection.heard_hello(&notification.params);
                return Ok(());
            }
            Message::Notification(notification) if &*notification.method == protocol::CANCEL => {
                if let Some(msgid) = protocol::cancelled_msgid(&notification.params) {
                    self.cancel(msgid);
                }
                return Ok(());
            }
            Message::Notification(notification) => Parked {
                msgid: None,
                method: notification.method,
                params: notification.params,
                deadline: None,
            },
        };
        // Earlier parked calls go first, so a free permit is only taken when
        // nothing waits.
        match self
            .parked
            .is_empty()
            .then(|| Arc::clone(&self.permits).try_acquire_owned())
        {
            Some(Ok(permit)) => self.start(call, permit),
            _ => self.parked.push_back(call),
        }
        Ok(())
    }

    /// Runs one call's handler: first right here, and only if it must wait
    /// for something does it become a task of this connection. Most handlers
    /// answer on their first poll, and skipping the task (its allocation,
    /// scheduling and cancellation bookkeeping) is most of what a call costs.
    fn start(&mut self, call: Parked, permit: OwnedSemaphorePermit) {
        // No handle left means the connection is closing; the call is moot.
        let Some(handle) = self.peer.upgrade() else {
            return;
        };
        let ctx =
            CallContext::new(call.msgid, call.method, Peer { handle }).with_deadline(call.deadline);
        let span = tracing::debug_span!(
            "rpc.handle",
            peer = self.connection.id,
            method = ctx.method(),
            msgid = call.msgid
        );
        let mut handling = Box::pin(handle_one(ctx, call.params, permit).instrument(span));
        // Polled with a waker that does nothing: a handler that is not done
        // is spawned, and a new task is always polled again, with its own.
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let first_poll = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            handling.as_mut().poll(&mut cx)
        }));
        match first_poll {
            Ok(std::task::Poll::Ready(())) => return,
            Ok(std::task::Poll::Pending) => {}
            Err(_) => {
                // Handlers' own panics are answered as `Internal` inside;
                // this is a hook's, and ends only this call, as a task would.
                tracing::warn!(peer = self.connection.id, "a call's handling panicked");
                return;
            }
        }
        let task = self.handlers.spawn(handling);
        if let Some(msgid) = call.msgid {
            self.running_tasks.insert(task.id(), msgid);
            self.running.insert(msgid, task);
        }
    }

    /// A handler's task ended: it no longer answers to `rpc.cancel`.
    fn forget(&mut self, ended: Result<(tokio::task::Id, ()), tokio::task::JoinError>) {
        let id = match ended {
            Ok((id, ())) => id,
            Err(error) => error.id(),
        };
        if let Some(msgid) = self.running_tasks.remove(&id) {
            self.running.remove(&msgid);
        }
    }

    /// The caller gave up on `msgid`: drop its handler (no reply is sent), or
    /// the call itself if it has not started.
    fn cancel(&mut self, msgid: MsgId) {
        if let Some(task) = self.running.remove(&msgid) {
            tracing::debug!(peer = self.connection.id, msgid, "cancelled by the caller");
            task.abort();
        } else {
            self.parked.retain(|call| call.msgid != Some(msgid));
        }
    }
}

/// Runs one handler and queues its reply (none for a notification).
async fn handle_one(ctx: CallContext, params: Params, permit: OwnedSemaphorePermit) {
    let started = Instant::now();
    let peer = ctx.peer().clone();
    let msgid = ctx.msgid();
    let deadline = ctx.deadline();
    let refused = peer
        .handle
        .options
        .authorize
        .as_ref()
        .and_then(|authorize| authorize(&ctx).err());
    if let Some(refusal) = refused {
        tracing::debug!(method = ctx.method(), reason = %refusal, "refused by the authorize hook");
        drop(permit);
        if let Some(msgid) = msgid {
            let _ = peer.send(
                response_frame(msgid, Err(&refusal), peer.handle.options.error_format).into(),
            );
        }
        return;
    }
    let dispatch = handler::with_deadline(deadline, peer.router().dispatch(ctx, params));
    let reply = match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline.into(), dispatch)
            .await
            .unwrap_or_else(|_| {
                Err(ErrorObject::new(
                    code::TIMEOUT,
                    "the caller's deadline passed",
                ))
            }),
        None => dispatch.await,
    };
    // A reply the other side could not accept would close the connection
    // there and fail every call on it; answer this one call with an error.
    let max = peer.handle.options.limits.max_message_size;
    let reply = reply.and_then(|result| match result.len() {
        len if len + 16 > max => Err(ErrorObject::new(
            code::INTERNAL,
            format!("the result of {len} bytes exceeds the maximum message size of {max} bytes"),
        )),
        _ => Ok(result),
    });
    drop(permit);
    let elapsed_us = started.elapsed().as_micros() as u64;
    match &reply {
        Ok(_) => tracing::debug!(elapsed_us, outcome = "ok", "handled"),
        Err(error) => tracing::debug!(elapsed_us, outcome = %error.code, "handled"),
    }
    if let Some(msgid) = msgid {
        let frame = response_frame(msgid, reply.as_deref(), peer.handle.options.error_format);
        // The connection may have closed meanwhile; the reply is then moot.
        let _ = peer.send(frame.into());
    }
}
