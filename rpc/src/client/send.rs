//! The one way a message leaves for the other side. Every call mode (an
//! awaited call and those built on it, a stream, an upload, a
//! conversation) sends its request through [`request`], and every event
//! through [`notification`], so what one mode carries, all do:
//!
//! * the size is checked against the peer's maximum message size before
//!   anything else;
//! * the transaction is opened (it gives the msgid), and the mode opens the
//!   call's streams under that msgid before the request is queued, so no
//!   item or credit can arrive for a stream not yet open;
//! * the call's span learns the msgid and is current while the request is
//!   written, so the trace context sent is the call's, to a peer whose
//!   hello listed `trace`;
//! * the deadline goes to a peer whose hello listed `deadline`: a call's own
//!   timeout or the one it inherits from the handler it is made in, else
//!   the peer's `call_timeout`; a stream's only the inherited one (its own
//!   timeout bounds the wait for its first item, not its life);
//! * a stream call carries its first window of answer items (an upload 0).

use std::sync::Arc;
use std::time::Duration;

use crate::deadline;
use crate::error::Error;
use crate::message::{Metadata, MsgId, Outgoing};
use crate::observe::{self, ClientCall};
use crate::peer::{Link, Peer};
use crate::protocol::Feature;
use crate::transaction::Pending;

/// How long the other side may take over a call, which its deadline says.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Lasts {
    /// A call: its own timeout or its inherited one, whichever is shorter
    /// (`deadline::effective_timeout`), else the peer's `call_timeout`.
    Call(Option<Duration>),
    /// A call whose answer or input streams: as long as it runs, within the
    /// deadline inherited from the handler it is made in.
    Streaming,
}

/// A request queued.
pub(crate) struct Sent<S> {
    pub(crate) link: Arc<Link>,
    /// Its transaction: the answer, the connection's end, or removed when
    /// dropped.
    pub(crate) pending: Pending,
    /// The timeout it was sent with (the deadline's), if any.
    pub(crate) timeout: Option<Duration>,
    /// What the mode opened under its msgid.
    pub(crate) streams: S,
}

/// Sends `outgoing` as a request observed by `observed`, lasting `lasts`,
/// granting `credit` answer items if it is a stream call; `open_streams`
/// opens the call's streams on the link under its msgid before it is
/// queued. Inlined: a plain call's state is built in place.
///
/// # Errors
///
/// `Codec` if the request is too large; `Disconnected` if the connection
/// is gone, or this request makes its queue pass `max_queued_bytes` (which
/// closes it; streams opened on it end with it).
#[inline]
pub(crate) fn request<S>(
    peer: &Peer,
    outgoing: &Outgoing,
    lasts: Lasts,
    credit: Option<u32>,
    observed: &ClientCall,
    open_streams: impl FnOnce(&Arc<Link>, MsgId) -> S,
) -> Result<Sent<S>, Error> {
    outgoing.check_size(peer.max_message_size())?;
    let link = peer.link();
    let timeout = match lasts {
        Lasts::Call(own) => own.or(link.options.call_timeout),
        Lasts::Streaming => deadline::effective_timeout(None),
    };
    let pending = link.transactions().open()?;
    let msgid = pending.msgid();
    let streams = open_streams(&link, msgid);
    let _entered = observed.sent(msgid);
    let metadata = Metadata {
        deadline_ms: timeout
            .filter(|_| link.remote_has(Feature::Deadline))
            .map(|t| t.as_millis().try_into().unwrap_or(u64::MAX)),
        // Asked of the peer first: a trace context is made only to be sent.
        trace: link
            .remote_has(Feature::Trace)
            .then(observe::outgoing_trace)
            .flatten(),
        credit,
    };
    link.push_call(|frames| frames.push_request(outgoing, msgid, &metadata))?;
    Ok(Sent {
        link,
        pending,
        timeout,
        streams,
    })
}

/// Sends `outgoing` as a call whose answer or input streams (see
/// [`request`]), granting `credit` answer items, observed from here: a
/// call that cannot be sent is counted as failed, one that is is the
/// caller's to observe to its end.
///
/// # Errors
///
/// As [`request`].
pub(crate) fn streaming<S>(
    peer: &Peer,
    outgoing: &Outgoing,
    credit: u32,
    open_streams: impl FnOnce(&Arc<Link>, MsgId) -> S,
) -> Result<(Sent<S>, ClientCall), Error> {
    let mut observed = ClientCall::start(peer.id(), outgoing.method(), Some(outgoing.method_arc()));
    match request(
        peer,
        outgoing,
        Lasts::Streaming,
        Some(credit),
        &observed,
        open_streams,
    ) {
        Ok(sent) => Ok((sent, observed)),
        Err(error) => {
            observed.ended(Some(error.kind()));
            Err(error)
        }
    }
}

/// Queues `outgoing` as a notification on `link`, at once.
///
/// # Errors
///
/// `Codec` if it is too large; `Disconnected` if the connection is gone, or
/// this message makes its queue pass `max_queued_bytes` (which closes it).
pub(crate) fn notification(link: &Link, outgoing: &Outgoing) -> Result<(), Error> {
    outgoing.check_size(link.options.limits.max_message_size)?;
    link.push(|frames| frames.push_notification(outgoing))
}
