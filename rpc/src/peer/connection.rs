//! One connection's task ([`Connection`]): it reads the connection, writes
//! it and watches its handlers; what the connection's users share is its
//! [`Link`].
//!
//! Inbound, the task takes whole frames from the transport's source, parses
//! each and routes it: a response completes its transaction; a request or a
//! notification goes to the session's [`Dispatch`], which runs the handler
//! right there and queues its reply, or hands back the rest of it to run as a
//! task of this connection (at most `max_concurrent_handlers` at once; calls
//! beyond that wait, parked in arrival order, up to `max_queued_calls`, and
//! past that the task stops reading, which pushes back on the sender through
//! the transport; unless streams are open on the connection, whose credit
//! and items must get through whatever waits: then it reads on, and answers
//! further requests `Overloaded` at once).
//!
//! Outbound, callers and handlers encode their messages straight into the
//! link's queue ([`Frames`](crate::message::Frames)) and wake the task if it
//! sleeps; the task writes what is queued when it has routed what it read,
//! so the replies to a batch of pipelined calls leave in one write, and a
//! reply to a call answered at once leaves with no task hand-off at all.
//! The request of a call alone in flight needs no hand-off either: when the
//! task sleeps, its caller writes it (the link's writer), as far as the
//! transport takes it without waiting, and only the rest wakes the task.
//! Senders that await their send wait while more than `send_high_water`
//! bytes are queued; past `max_queued_bytes` the connection is closed,
//! saying whether the other side stopped reading or reads too slowly.
//!
//! Anything that is not a valid message closes this connection only, with a
//! `Protocol` reason; so does nothing arriving for the idle timeout, or a
//! message begun and not finished within the message timeout. At the other
//! side's end of stream, our pending calls fail at once, but what it sent
//! still runs to the end and is answered if it still reads. Closing happens
//! once ([`Link::close`]): the reason is recorded, every pending call fails
//! with `Disconnected`, the state callback hears of it, and the task flushes
//! what was queued before (for at most the flush timeout) and ends.

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::task::{AbortHandle, JoinSet};

use super::link::Link;
use super::options::{ConnectionEvent, Options};
use super::timeouts::Timeouts;
use super::{Peer, WeakPeer};
use crate::codec::FrameChecker;
use crate::error::DisconnectReason;
use crate::message::{
    Defect, ErrorFormat, ErrorObject, Invocation, Message, MsgId, Parsed, TraceContext, code,
};
use crate::observe::{self, CallMeter, Traffic};
use crate::protocol::{self, Control};
use crate::stream::Heard;
use crate::transport::{FrameSource, Opened};

/// A boxed, sendable future with no borrowed data.
pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// At most this many frames are routed per turn of the task, so one busy
/// connection cannot starve the others sharing its thread.
const FRAMES_PER_TURN: usize = 256;

/// What runs the requests and notifications that arrive (the dispatcher).
pub(crate) trait Dispatch: Send + Sync + 'static {
    /// Starts one inbound call from `peer`, replying on `link`. `None` when
    /// it is over (its reply, if any, queued); otherwise the rest of it, which
    /// the connection runs as a task.
    fn start(&self, call: InboundCall, peer: Peer, link: &Arc<Link>) -> Option<BoxFuture<()>>;

    /// The dispatcher itself, for the module that knows its type.
    fn as_any(&self) -> &dyn Any;

    /// How errors are answered.
    fn error_format(&self) -> ErrorFormat {
        ErrorFormat::Object
    }
}

/// A request (with a msgid) or a notification, ready to dispatch.
#[derive(Debug)]
pub(crate) struct InboundCall {
    pub(crate) msgid: Option<MsgId>,
    pub(crate) invocation: Invocation,
    /// When the caller stops waiting (dotrpc callers only).
    pub(crate) deadline: Option<Instant>,
    /// The caller's span, to continue its trace (dotrpc callers only).
    pub(crate) trace: Option<TraceContext>,
    /// The first window of items of a stream call; `None` for other calls.
    pub(crate) credit: Option<u32>,
}

/// The task of one connection; see the [module docs](self).
pub(crate) struct Connection {
    link: Arc<Link>,
    /// Upgraded to hand handlers a `Peer`; weak so the task alone does not
    /// keep the session open.
    session: WeakPeer,
    dispatch: Arc<dyn Dispatch>,
    source: Box<dyn FrameSource>,
    /// Whether the source's frames were checked against the limits already.
    source_checked: bool,
    /// Checks them if not.
    checker: FrameChecker,
    /// Calls read while every handler slot was taken, oldest first; never
    /// longer than `max_queued_calls`, and non-empty only while no slot is
    /// free.
    parked: VecDeque<InboundCall>,
    /// Handlers that had to wait for something, as tasks of this connection.
    handlers: JoinSet<()>,
    /// Requests whose handler runs as a task, so `rpc.cancel` can stop them;
    /// entries leave when the task ends.
    running: HashMap<MsgId, AbortHandle>,
    running_tasks: HashMap<tokio::task::Id, MsgId>,
    /// Set at the other side's end of stream or on drain: nothing more is
    /// read, and the connection closes with this reason once every call
    /// read is answered.
    ending: Option<DisconnectReason>,
    /// The idle and message timeouts.
    timeouts: Timeouts,
    /// The message bytes read and written, for the metrics.
    traffic: Traffic,
}

impl Connection {
    /// A connection over `opened` for `session`: its link, and the
    /// connection itself, which does nothing until [`spawn`]ed. A session
    /// being made spawns its first connection once it is whole: a call
    /// read before that would find no session to be served by.
    ///
    /// [`spawn`]: Connection::spawn
    pub(crate) fn new(
        opened: Opened,
        options: Arc<Options>,
        session: WeakPeer,
        dispatch: Arc<dyn Dispatch>,
    ) -> (Arc<Link>, Connection) {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let link = Arc::new(Link::new(id, options, Some(opened.sink)));
        let connection = Connection {
            link: Arc::clone(&link),
            session,
            dispatch,
            source: opened.source,
            source_checked: opened.checked,
            checker: FrameChecker::default(),
            parked: VecDeque::new(),
            handlers: JoinSet::new(),
            running: HashMap::new(),
            running_tasks: HashMap::new(),
            ending: None,
            timeouts: Timeouts::new(),
            traffic: Traffic::new(),
        };
        (link, connection)
    }

    /// Starts the connection's task on `runtime`.
    pub(crate) fn spawn(self, runtime: &tokio::runtime::Handle) {
        let options = Arc::clone(&self.link.options);
        runtime.spawn(self.run());
        options.emit(&ConnectionEvent::Connected);
    }

    async fn run(mut self) {
        let reason = poll_fn(|cx| self.poll_run(cx)).await;
        self.link.close(reason);
        // What was queued before the close still goes out (the last replies
        // of a drain), for a bounded time: a peer that stopped reading
        // cannot hold the task.
        let flush_timeout = self.link.options.close_flush_timeout;
        let flush = poll_fn(|cx| {
            std::task::ready!(self.link.poll_write(cx))?;
            self.link.poll_close(cx)
        });
        let _ = tokio::time::timeout(flush_timeout, flush).await;
        self.traffic.report(self.link.bytes_written());
        self.handlers.shutdown().await;
        self.link.finish();
    }

    /// One turn: reap handlers, start parked calls, read and route, write,
    /// watch the timers. `Ready` with the reason to close.
    fn poll_run(&mut self, cx: &mut Context<'_>) -> Poll<DisconnectReason> {
        self.link.task_looks(cx.waker());
        if let Some(reason) = self.link.reason() {
            return Poll::Ready(reason.clone());
        }
        if self.ending.is_none() && self.link.draining() {
            self.ending = Some(DisconnectReason::Shutdown);
            // Nothing more is read, so no more room can be granted: streams
            // end once they have used what they have.
            self.link.streams.drain();
        }
        self.reap(cx);
        self.start_parked();
        if self.ending.is_none()
            && let Err(reason) = self.read(cx)
        {
            return Poll::Ready(reason);
        }
        if let Poll::Ready(Err(error)) = self.link.poll_write(cx) {
            return Poll::Ready(reason_of(error));
        }
        self.traffic.report(self.link.bytes_written());
        // Handlers started this turn are watched from now on (an empty set
        // registers no waker); one that already ended frees its slot for the
        // calls parked behind it, on the next turn.
        let running = self.handlers.len();
        self.reap(cx);
        if self.handlers.len() < running && !self.parked.is_empty() {
            cx.waker().wake_by_ref();
        }
        if let Some(reason) = &self.ending
            && self.parked.is_empty()
            && self.handlers.is_empty()
        {
            return Poll::Ready(reason.clone());
        }
        self.poll_timers(cx)
    }

    /// Forgets handler tasks that ended.
    fn reap(&mut self, cx: &mut Context<'_>) {
        if self.handlers.is_empty() {
            return;
        }
        while let Poll::Ready(Some(ended)) = self.handlers.poll_join_next_with_id(cx) {
            let id = match ended {
                Ok((id, ())) => id,
                Err(error) => error.id(),
            };
            if let Some(msgid) = self.running_tasks.remove(&id) {
                self.running.remove(&msgid);
            }
        }
    }

    fn has_free_slot(&self) -> bool {
        self.handlers.len() < self.link.options.max_concurrent_handlers
    }

    fn start_parked(&mut self) {
        while self.has_free_slot() {
            let Some(call) = self.parked.pop_front() else {
                break;
            };
            self.start(call);
        }
    }

    /// Whether as many calls wait as may.
    fn queue_full(&self) -> bool {
        self.parked.len() >= self.link.options.max_queued_calls
    }

    /// Whether to read: while calls can be parked, or while streams are
    /// open (the credit and items they wait for come behind whatever else
    /// was sent; with the queue full, further requests are refused).
    fn reading(&self) -> bool {
        self.ending.is_none() && (!self.queue_full() || self.link.streams.any_open())
    }

    /// Reads and routes what the source has, while it should (see
    /// [`reading`](Connection::reading); the caller saw it is not ending).
    fn read(&mut self, cx: &mut Context<'_>) -> Result<(), DisconnectReason> {
        let mut routed = 0;
        let max_parked = self.link.options.max_queued_calls;
        while self.parked.len() < max_parked || self.link.streams.any_open() {
            // Closed meanwhile (a reply overran the queue limit, say): what
            // is still buffered is moot.
            if self.link.reason().is_some() {
                break;
            }
            if routed == FRAMES_PER_TURN {
                cx.waker().wake_by_ref();
                break;
            }
            match self.source.poll_frame(cx) {
                Poll::Pending => break,
                Poll::Ready(None) => {
                    // Nothing more will come, so our calls to the other side
                    // fail now; what it sent still runs, and is answered if
                    // it still reads.
                    self.link.transactions().fail_all(DisconnectReason::Eof);
                    // No credit or input can come any more: streams this
                    // side sends, and inputs it takes, end now rather than
                    // wait for it.
                    self.link.streams.close(&DisconnectReason::Eof);
                    self.ending = Some(DisconnectReason::Eof);
                    break;
                }
                Poll::Ready(Some(Err(error))) => return Err(reason_of(error)),
                Poll::Ready(Some(Ok(frame))) => {
                    routed += 1;
                    self.traffic.received(frame.len());
                    if !self.source_checked {
                        self.checker
                            .check(&frame, &self.link.options.limits)
                            .map_err(|error| DisconnectReason::Protocol(error.to_string()))?;
                    }
                    self.route(frame)?;
                }
            }
        }
        let partial = self.source.partial();
        self.timeouts.arrived(routed, partial, &self.link.options);
        Ok(())
    }

    fn route(&mut self, frame: Bytes) -> Result<(), DisconnectReason> {
        let parsed = Parsed::from_frame(frame)
            .map_err(|error| DisconnectReason::Protocol(error.to_string()))?;
        let message = match parsed {
            Parsed::Message(message) => message,
            Parsed::Defect(defect) => {
                self.refuse_defect(defect);
                return Ok(());
            }
        };
        let call = match message {
            Message::Response(response) => {
                let msgid = response.msgid();
                self.link.streams.answered(msgid);
                if !self.link.transactions().complete(msgid, Ok(response)) {
                    tracing::debug!(
                        peer = self.link.id,
                        msgid,
                        "late or unsolicited response dropped"
                    );
                }
                return Ok(());
            }
            Message::Request(request) => {
                let (msgid, invocation, metadata) = request.into_parts();
                InboundCall {
                    msgid: Some(msgid),
                    invocation,
                    deadline: metadata
                        .deadline_ms
                        .map(|ms| Instant::now() + Duration::from_millis(ms)),
                    trace: metadata.trace,
                    credit: metadata.credit,
                }
            }
            Message::Notification(notification) => {
                let invocation = notification.into_invocation();
                // dotrpc's own notifications all start `rpc.`: one look for
                // every other notification.
                if invocation
                    .method_bytes()
                    .starts_with(protocol::PREFIX.as_bytes())
                    && let Some(control) =
                        Control::parse(invocation.method_bytes(), &invocation.params)
                {
                    match control {
                        Ok(control) => self.control(control),
                        Err(malformed) => {
                            tracing::debug!(peer = self.link.id, why = malformed.0, "dropped");
                        }
                    }
                    return Ok(());
                }
                InboundCall {
                    msgid: None,
                    invocation,
                    deadline: None,
                    trace: None,
                    credit: None,
                }
            }
        };
        // Earlier parked calls go first.
        if self.parked.is_empty() && self.has_free_slot() {
            self.start(call);
        } else if !self.queue_full() {
            self.parked.push_back(call);
        } else {
            self.refuse(call);
        }
        Ok(())
    }

    /// A call that finds the queue full while streams keep the connection
    /// reading: a request is answered `Overloaded` at once, an event is
    /// dropped (there is no one to tell).
    fn refuse(&mut self, call: InboundCall) {
        let method = call.invocation.method_str();
        let Some(msgid) = call.msgid else {
            tracing::warn!(
                peer = self.link.id,
                method,
                "event dropped: the call queue is full"
            );
            return;
        };
        CallMeter::refused(observe::Side::Server, method, code::OVERLOADED);
        let error = ErrorObject::overloaded(format!(
            "{} calls wait on this connection, the most it queues, while its streams run",
            self.parked.len()
        ));
        let format = self.dispatch.error_format();
        let _ = self
            .link
            .push(|frames| frames.push_response(msgid, Err(&error), format));
    }

    /// A call whose params or metadata cannot be taken: a request is
    /// answered `InvalidParams` with the reason, an event dropped (there is
    /// no one to tell); the connection and its other calls go on.
    fn refuse_defect(&mut self, defect: Defect) {
        let Defect {
            msgid,
            method,
            reason,
        } = defect;
        let Some(msgid) = msgid else {
            tracing::debug!(peer = self.link.id, method, %reason, "malformed event dropped");
            return;
        };
        tracing::debug!(peer = self.link.id, method, %reason, "malformed request refused");
        CallMeter::refused(observe::Side::Server, &method, code::INVALID_PARAMS);
        let error = ErrorObject::invalid_params(format!("{method}: {reason}"));
        let format = self.dispatch.error_format();
        let _ = self
            .link
            .push(|frames| frames.push_response(msgid, Err(&error), format));
    }

    /// Dispatches one call: most are answered right here; one that has to
    /// wait becomes a task of this connection.
    fn start(&mut self, call: InboundCall) {
        // No session left means the peer is closing; the call is moot.
        let Some(peer) = self.session.upgrade() else {
            return;
        };
        let msgid = call.msgid;
        let Some(rest) = self.dispatch.start(call, peer, &self.link) else {
            return;
        };
        let task = self.handlers.spawn(rest);
        if let Some(msgid) = msgid {
            self.running_tasks.insert(task.id(), msgid);
            self.running.insert(msgid, task);
        }
    }

    /// The caller gave up on `msgid`: drop its handler (no reply is sent),
    /// or the call itself if it has not started.
    fn cancel(&mut self, msgid: MsgId) {
        if let Some(task) = self.running.remove(&msgid) {
            tracing::debug!(peer = self.link.id, msgid, "cancelled by the caller");
            task.abort();
        } else {
            self.parked.retain(|call| call.msgid != Some(msgid));
        }
    }

    /// Acts on one of dotrpc's own notifications: the hello, a cancel, the
    /// messages of streams (which the link's streams take).
    fn control(&mut self, control: Control<'_>) {
        let message = match control {
            Control::Hello(hello) => return self.link.heard_hello(hello),
            Control::Cancel(msgid) => return self.cancel(msgid),
            Control::Stream(message) => message,
        };
        let link = &self.link;
        let heard = link.streams.hear(message, |frame| {
            let _ = link.push_frame(frame);
        });
        match heard {
            Heard::Taken => {}
            Heard::Dropped(why) => tracing::debug!(peer = link.id, why, "stream message dropped"),
            // The call ends, saying so.
            Heard::InputOverrun { msgid, window } => {
                if let Some(task) = self.running.remove(&msgid) {
                    task.abort();
                    let error = ErrorObject::invalid_params(format!(
                        "the caller sent input items beyond the room it was given (a window of {window})"
                    ));
                    let format = self.dispatch.error_format();
                    let _ = link.push(|frames| frames.push_response(msgid, Err(&error), format));
                }
            }
            // A stream call still parked (every handler slot taken) keeps
            // it until its handler starts.
            Heard::EarlyCredit { msgid, n } => {
                if let Some(parked) = self
                    .parked
                    .iter_mut()
                    .find(|call| call.msgid == Some(msgid))
                {
                    parked.credit = Some(parked.credit.unwrap_or(0).saturating_add(n));
                }
            }
        }
    }

    /// Watches the idle and message timeouts (only while reading).
    fn poll_timers(&mut self, cx: &mut Context<'_>) -> Poll<DisconnectReason> {
        if !self.reading() {
            return Poll::Pending;
        }
        self.timeouts.poll(cx, &self.link.options)
    }
}

/// The reason a read or write error closes the connection with. A broken
/// pipe or a reset is the other side having closed: which one this side
/// sees first (the end of its input, or a write into a closed pipe) is a
/// race, so all three read the same.
fn reason_of(error: io::Error) -> DisconnectReason {
    match error.kind() {
        io::ErrorKind::InvalidData => DisconnectReason::Protocol(
            error
                .into_inner()
                .map_or_else(|| "invalid data".to_owned(), |inner| inner.to_string()),
        ),
        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => DisconnectReason::Eof,
        _ => DisconnectReason::Transport(error.to_string()),
    }
}
