//! [`Peer`]: one end of a connection, the same type on both sides.
//!
//! A peer is a cheap handle to a session, which has one connection at a
//! time: one task that reads, writes and watches the handlers of that
//! connection. Either side can call, notify and
//! serve at once. What runs inbound calls is the session's dispatcher, given
//! when the peer is built; the calling side ([`Call`](crate::Call)) and the
//! builder ([`PeerBuilder`](crate::PeerBuilder)) sit above this module and
//! add their methods to `Peer` there.
//!
//! Handlers get a `Peer` through their [`CallContext`](crate::CallContext),
//! and a server keeps one per connection, so both can call back.
//!
//! Below the handle: the session (`session`), what a connection's users
//! share (`link`), the connection's task (`connection`, `timeouts`), and
//! the two ends of a stream on a connection (`stream_ends`), which the
//! caller's and the handler's typed ends are made of.

pub(crate) mod connection;
pub(crate) mod link;
pub(crate) mod options;
pub(crate) mod session;
mod stream_ends;
mod timeouts;
mod writer;

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

pub use crate::message::ErrorFormat;
pub(crate) use connection::{BoxFuture, Dispatch, InboundCall};
pub(crate) use link::Link;
pub(crate) use options::Options;
pub use options::{ConnectionEvent, Reconnect, WhileDown};
pub(crate) use session::Connector;
use session::{Session, Supervisor};
pub(crate) use stream_ends::{Consumer, Producer};

use crate::error::{DisconnectReason, Error};
use crate::transport::Identity;
use crate::transport::Transport;

/// One end of a msgpack-rpc connection: call, notify and serve.
///
/// Cheap to clone; all clones are the same peer. The connection closes when
/// [`close`](Peer::close) is called, when the other side closes it, or when
/// the last clone is dropped (handlers running on the connection hold a clone
/// in their context until they answer). A peer built with
/// [`PeerBuilder::reconnect`](crate::PeerBuilder::reconnect) redials when its
/// connection drops.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> dotrpc::Result<()> {
/// use std::sync::Arc;
/// let router = Arc::new(dotrpc::Router::new());
/// router.set_handler("math.div", |a: f64, b: f64| async move { a / b });
/// let (client, _server) = dotrpc::memory_pair(dotrpc::Peer::builder(), dotrpc::Peer::builder().router(router));
/// let half: f64 = client.call("math.div", (1.0, 2.0)).await?;
/// assert_eq!(half, 0.5);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Peer {
    session: Arc<Session>,
}

/// A peer held weakly, as its connections hold it: they serve it while any
/// `Peer` handle lives, and never keep it alive themselves.
#[derive(Clone)]
pub(crate) struct WeakPeer(Weak<Session>);

impl WeakPeer {
    pub(crate) fn new(session: Weak<Session>) -> WeakPeer {
        WeakPeer(session)
    }

    /// The peer, unless every handle is gone (it is closing).
    pub(crate) fn upgrade(&self) -> Option<Peer> {
        self.0.upgrade().map(Peer::from_session)
    }
}

impl Peer {
    /// Starts a peer on its first connection, with `dispatch` serving the
    /// calls that arrive, and who the other side is if the transport
    /// established it. Must be called within a tokio runtime.
    pub(crate) fn start(
        options: Arc<Options>,
        dispatch: Arc<dyn Dispatch>,
        transport: Transport,
        identity: Option<Identity>,
    ) -> Peer {
        let peer = Peer::from_session(Session::start(options, dispatch, transport, identity));
        if let Some(hook) = &peer.session.options.on_connected {
            hook(&peer);
        }
        peer
    }

    pub(crate) fn from_session(session: Arc<Session>) -> Peer {
        Peer { session }
    }

    /// A handle that does not keep the peer alive.
    pub(crate) fn downgrade(session: &Arc<Session>) -> WeakPeer {
        WeakPeer::new(Arc::downgrade(session))
    }

    /// Redials with `connector` whenever the connection drops, as `policy`
    /// says, for as long as the peer lives.
    pub(crate) fn supervise(&self, connector: Connector, policy: Reconnect) {
        let supervisor = Supervisor {
            session: Arc::downgrade(&self.session),
            connector,
            policy,
        };
        self.session.runtime.spawn(supervisor.run(self.link()));
    }

    /// The connection in use now; a call takes it once and uses it
    /// throughout, even if a reconnect replaces it meanwhile.
    pub(crate) fn link(&self) -> Arc<Link> {
        self.session.current()
    }

    /// What serves this peer's inbound calls.
    pub(crate) fn dispatch(&self) -> &dyn Any {
        self.session.dispatch.as_any()
    }

    /// The runtime this peer's tasks run on.
    pub(crate) fn runtime(&self) -> &tokio::runtime::Handle {
        &self.session.runtime
    }

    /// For a reconnecting peer whose calls wait while it is down: waits until
    /// a connection is up, the peer ends, or `timeout` passes. Otherwise
    /// returns at once (a call on a closed connection then fails as usual).
    pub(crate) async fn until_connected(
        &self,
        timeout: Option<Duration>,
    ) -> crate::error::Result<()> {
        if !self.waits_while_down() {
            return Ok(());
        }
        let wait = async {
            loop {
                let notified = self.session.reconnected.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if self.is_connected() || self.session.ended.is_cancelled() {
                    return;
                }
                notified.await;
            }
        };
        match timeout {
            Some(timeout) => tokio::time::timeout(timeout, wait)
                .await
                .map_err(|_| Error::Timeout),
            None => {
                wait.await;
                Ok(())
            }
        }
    }

    /// Whether this peer reconnects, and calls wait while it is down
    /// ([`WhileDown::Wait`]), for as long as it has not ended.
    pub(crate) fn waits_for_reconnect(&self) -> bool {
        self.session
            .options
            .reconnect
            .as_ref()
            .is_some_and(|r| r.while_down == WhileDown::Wait)
            && !self.session.ended.is_cancelled()
    }

    /// Whether no connection is up and calls should wait for the next one.
    /// (The policy is looked at first: it is a field, the connection is
    /// behind a lock.)
    pub(crate) fn waits_while_down(&self) -> bool {
        self.waits_for_reconnect() && !self.is_connected()
    }

    /// Whether the other side has said it is a dotrpc peer (its `rpc.hello`
    /// arrived), so that calls given up on are cancelled there too and
    /// timeouts travel with calls as deadlines. Never true for other
    /// msgpack-rpc peers, which are sent nothing they do not understand.
    pub fn speaks_dotrpc(&self) -> bool {
        self.link().remote_has(crate::protocol::Feature::Hello)
    }

    /// Records who the other side is (typically from a login handler, through
    /// its context's peer), for an authorize hook and handlers to read back
    /// with [`identity`](Peer::identity). Replaces any earlier one.
    pub fn set_identity<T: Any + Send + Sync>(&self, identity: T) {
        *self
            .session
            .identity
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Arc::new(identity));
    }

    /// Who the other side is, if [`set_identity`](Peer::set_identity) (or the
    /// transport: a TLS client certificate) said so with a `T`.
    pub fn identity<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        let identity = self
            .session
            .identity
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        identity.and_then(|any| any.downcast::<T>().ok())
    }

    /// Forgets who the other side is (a logout).
    pub fn clear_identity(&self) {
        *self
            .session
            .identity
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
    }

    /// The largest message this peer accepts, and so sends.
    pub(crate) fn max_message_size(&self) -> usize {
        self.session.options.limits.max_message_size
    }

    /// A number that tells this peer apart from others in logs; it stays the
    /// same across reconnects.
    pub fn id(&self) -> u64 {
        self.session.id
    }

    /// Closes with a given reason (a server shutting down says so).
    pub(crate) fn close_with(&self, reason: DisconnectReason) {
        self.link().close(reason);
    }

    /// Closes the peer now (and stops any reconnecting): pending calls fail
    /// with `Disconnected`, queued messages are flushed (for up to a second),
    /// handlers are stopped.
    pub fn close(&self) {
        self.session.end();
    }

    /// Stops reading new messages and closes the connection once the calls
    /// already read have answered.
    pub(crate) fn drain(&self) {
        self.link().drain();
    }

    /// Whether the peer is closed for good: its connection is closed (or
    /// closing) and, for a reconnecting peer, it will not reconnect.
    pub fn is_closed(&self) -> bool {
        let down = self.link().reason().is_some();
        down && (self.session.options.reconnect.is_none() || self.session.ended.is_cancelled())
    }

    /// Whether a connection is up now.
    pub fn is_connected(&self) -> bool {
        self.link().reason().is_none()
    }

    /// Why the connection closed, once it has.
    pub fn disconnect_reason(&self) -> Option<DisconnectReason> {
        self.link().reason().cloned()
    }

    /// Waits until the peer is closed for good (for a reconnecting peer, until
    /// it is closed or gives up) and its tasks have ended. Does not keep the
    /// peer open while waiting.
    pub fn closed(&self) -> impl Future<Output = DisconnectReason> + Send + 'static {
        let reconnects = self.session.options.reconnect.is_some();
        let (ended, session, first) = (
            self.session.ended.clone(),
            Arc::downgrade(&self.session),
            self.link(),
        );
        async move {
            if !reconnects {
                return first.closed().await;
            }
            ended.cancelled().await;
            let last = session.upgrade().map_or(first, |session| session.current());
            last.closed().await
        }
    }

    /// How many calls made through this peer await a response.
    pub fn pending_calls(&self) -> usize {
        self.link().transactions().len()
    }

    /// How many responses arrived after their call had given up (timed out or
    /// was dropped); they were discarded.
    pub fn late_replies(&self) -> u64 {
        self.link().transactions().late_replies()
    }

    /// How many bytes of messages are queued for the other side and not yet
    /// written: how far it lags behind what this side sends.
    pub fn queued_bytes(&self) -> usize {
        self.link().queued_bytes()
    }
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peer")
            .field("id", &self.id())
            .field("connected", &self.is_connected())
            .field("pending_calls", &self.pending_calls())
            .field("closed", &self.disconnect_reason())
            .finish()
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A peer on no connection, for unit tests of what handlers see.

    use super::*;

    struct Nothing;

    impl Dispatch for Nothing {
        fn start(&self, _: InboundCall, _: Peer, _: &Arc<Link>) -> Option<BoxFuture<()>> {
            None
        }

        fn as_any(&self) -> &dyn Any {
            self
        }
    }

    /// A peer whose connection is already closed.
    pub(crate) fn detached() -> Peer {
        let (reader, writer) = tokio::io::duplex(64);
        let transport = Transport::from_stream(reader, writer);
        let peer = Peer::start(Arc::default(), Arc::new(Nothing), transport, None);
        peer.close();
        peer
    }
}
