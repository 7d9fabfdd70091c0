//! dotrpc over NATS: one API served by many processes, on many machines,
//! behind one subject prefix, with the typed clients users already have.
//!
//! A service under the prefix `demo` answers the method `math.add` on the
//! subject `demo.math.add`. Every instance subscribes to `demo.>` in one
//! queue group, so NATS spreads the calls over the instances, and starting
//! or stopping one needs no configuration anywhere else; runtime handlers
//! and the fallback work as on any connection, as the one subscription
//! feeds the same router. A [`NatsService`] is one instance; a client is a
//! [`Peer`] from [`ConnectNats::connect_nats`], on which
//! `peer.client::<CalculatorClient>()` and every call mode work as over TCP.
//!
//! Underneath, NATS is a message transport (see [`dotrpc::transport`]),
//! written on dotrpc's public API alone: each side of the mapping turns
//! NATS messages into msgpack-rpc frames and back, so the peer, its limits
//! and its dispatcher are the ones every other transport uses. On the wire the payloads are plain msgpack (the params
//! array; the result; an error object with the NATS service error headers),
//! so any NATS client with a msgpack library can call a dotrpc service; the
//! README has the details.
//!
//! What NATS changes:
//!
//! * **Timeouts.** Every call has one (the peer's
//!   [`call_timeout`](PeerBuilder::call_timeout), 10 s unless set): the
//!   instance running a call may die, and nothing else would tell. It
//!   travels with the call (header `Dotrpc-Deadline-Ms`) and is the
//!   handler's deadline, as between dotrpc peers on TCP.
//! * **No instance.** A call on a subject nobody serves fails at once with
//!   [`Error::NoResponders`](dotrpc::Error::NoResponders).
//! * **Events.** A client's one-way calls reach one instance. A service
//!   pushes events to every client with [`NatsService::broadcast`], a typed
//!   broadcast; a client receives the events its router serves (subscribed
//!   when it connects).
//! * **Size.** Messages are bounded by the NATS server's `max_payload` as
//!   well as the peer's `max_message_size`; a call or reply over it fails
//!   alone.
//! * **Callbacks.** A service cannot call its callers (they have no subject
//!   of their own); such a call fails at once.
//! * **Streams** work, with the same API: the instance that takes a stream
//!   call names a subject of its own for it, and both sides make NATS's
//!   at-most-once delivery and a process dying visible (the README's
//!   "Streams over NATS").

mod caller;
mod instance;
mod intake;
mod options;
mod pipes;
mod service;
mod srv;
mod streams;
mod subject;
mod tls;
mod wire;

/// A real nats-server for the tests, this crate's and the workspace's.
#[cfg(test)]
#[allow(dead_code, unreachable_pub)]
mod test_server;

use std::fmt;
use std::future::Future;
use std::io;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use async_nats;
use async_nats::Client;
use tokio::sync::mpsc;

use caller::Caller;
use dotrpc::transport::Address;
use dotrpc::{Peer, PeerBuilder};
pub use instance::{NatsService, NatsServiceBuilder};
use options::ServerWord;
pub use options::{IntoNatsOptions, NatsOptions};

/// The timeout of calls over NATS that set none.
const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a service is on NATS: the server's URL (or a comma-separated seed
/// list of them) and the service's subject prefix, written
/// `nats://host:port/prefix` or `nats://a:4222,b:4222/prefix`.
///
/// ```
/// let addr: dotrpc_nats::NatsAddr = "nats://127.0.0.1:4222/demo".parse().unwrap();
/// assert_eq!((addr.url.as_str(), addr.prefix.as_str()), ("nats://127.0.0.1:4222", "demo"));
/// let seeds: dotrpc_nats::NatsAddr = "nats://a:4222,b:4222/acme.billing".parse().unwrap();
/// assert_eq!(seeds.url, "nats://a:4222,b:4222");
/// # let options: dotrpc_nats::NatsOptions = seeds.url.parse().unwrap();
/// # assert_eq!(options.servers(), "nats://a:4222,nats://b:4222");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsAddr {
    /// The NATS servers, `nats://host:port[,host:port...]`: what
    /// [`ConnectNats::connect_nats`] and [`NatsServiceBuilder::start`] take.
    pub url: String,
    /// The service's subject prefix, such as `demo` or `acme.billing`.
    pub prefix: String,
}

impl FromStr for NatsAddr {
    type Err = io::Error;

    fn from_str(addr: &str) -> io::Result<NatsAddr> {
        match addr.parse()? {
            Address::Nats { servers, prefix } => Ok(NatsAddr {
                url: servers,
                prefix,
            }),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{addr}` is not nats://host:port/prefix"),
            )),
        }
    }
}

impl fmt::Display for NatsAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.url, self.prefix)
    }
}

fn check_prefix(prefix: &str) -> dotrpc::Result<()> {
    if subject::valid_path(prefix) {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{prefix}` is not a subject prefix (dot-separated tokens, no wildcards)"),
        )
        .into())
    }
}

fn subscribe_error(error: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::other(error)
}

/// What a server said that is waiting to be acted on, at most.
const WORDS: usize = 256;

/// Connecting a [`PeerBuilder`]'s peer to a service through NATS:
///
/// ```no_run
/// use dotrpc_nats::ConnectNats as _;
///
/// # async fn run() -> dotrpc::Result<()> {
/// let peer = dotrpc::Peer::builder().connect_nats("nats://127.0.0.1:4222", "demo").await?;
/// # Ok(()) }
/// ```
pub trait ConnectNats {
    /// Connects to the service under `prefix` through NATS: `nats` is a
    /// server's URL (`nats://host:port`), a comma-separated list of them
    /// (a seed list: the first that answers is taken), or [`NatsOptions`]
    /// (credentials, TLS). Calls go to `prefix.<path>`; the events this
    /// builder's router serves are received from the same subjects, and
    /// with a fallback on the router, every event a service under `prefix`
    /// pushes.
    ///
    /// Calls without a timeout get the builder's
    /// [`call_timeout`](PeerBuilder::call_timeout), 10 s unless set. The
    /// NATS client reconnects by itself, to any server of the cluster;
    /// calls made while it is away time out; once back, it subscribes
    /// again to the events the router serves, handlers added since
    /// included. A call the NATS server refuses to carry (its permissions
    /// do not let this client publish on the subject) fails at once with
    /// `Unauthorized`, naming the subject.
    ///
    /// # Errors
    ///
    /// `Transport` if no server can be reached, the server refuses the
    /// credentials (`PermissionDenied`, in its words) or TLS, or `prefix`
    /// is not a subject prefix.
    fn connect_nats(
        self,
        nats: impl IntoNatsOptions,
        prefix: &str,
    ) -> impl Future<Output = dotrpc::Result<Peer>> + Send;

    /// As [`connect_nats`](ConnectNats::connect_nats), over a NATS client
    /// the program already has, with options of its own. What the server
    /// says on the way (a refused publish, a reconnect) is not heard over
    /// such a client: refused calls time out.
    ///
    /// # Errors
    ///
    /// `Transport` if subscribing fails or `prefix` is not a subject prefix.
    fn connect_nats_with(
        self,
        client: Client,
        prefix: &str,
    ) -> impl Future<Output = dotrpc::Result<Peer>> + Send;
}

impl ConnectNats for PeerBuilder {
    fn connect_nats(
        self,
        nats: impl IntoNatsOptions,
        prefix: &str,
    ) -> impl Future<Output = dotrpc::Result<Peer>> + Send {
        let options = nats.into_nats_options();
        async move {
            check_prefix(prefix)?;
            let (words_tx, words) = mpsc::channel(WORDS);
            let client = options?.connect(Some(words_tx)).await?;
            connect_client(self, client, prefix, Some(words)).await
        }
    }

    fn connect_nats_with(
        self,
        client: Client,
        prefix: &str,
    ) -> impl Future<Output = dotrpc::Result<Peer>> + Send {
        connect_client(self, client, prefix, None)
    }
}

/// Connects to the service at `addr`, `nats://host:port[,host:port...]/prefix`,
/// with default options: [`dotrpc::connect`] for NATS addresses.
///
/// # Errors
///
/// As [`ConnectNats::connect_nats`]; `Transport` (`InvalidInput`) if `addr`
/// is not a NATS address.
pub async fn connect(addr: &str) -> dotrpc::Result<Peer> {
    let addr: NatsAddr = addr.parse()?;
    Peer::builder().connect_nats(addr.url, &addr.prefix).await
}

async fn connect_client(
    builder: PeerBuilder,
    client: Client,
    prefix: &str,
    words: Option<mpsc::Receiver<ServerWord>>,
) -> dotrpc::Result<Peer> {
    check_prefix(prefix)?;
    let prefix: Arc<str> = prefix.into();
    let call_timeout = builder
        .configured_call_timeout()
        .unwrap_or(DEFAULT_CALL_TIMEOUT);
    let mut builder = fit_to_server(builder.call_timeout(Some(call_timeout)), &client);
    let limits = builder.limits();
    let router = builder.shared_router();
    // Taken by the first transport: the only one, unless the client is
    // closed and the peer reconnects over it.
    let words = Arc::new(Mutex::new(words));
    builder
        .connect_with(move || {
            let (client, prefix, router) =
                (client.clone(), Arc::clone(&prefix), Arc::clone(&router));
            let mut words = words
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .take();
            async move {
                let inbox = format!("{}.", client.new_inbox());
                let caller = Caller::new(prefix, inbox.clone(), limits, router, call_timeout);
                let mut subscribers = vec![
                    client
                        .subscribe(format!("{inbox}*"))
                        .await
                        .map_err(subscribe_error)?,
                ];
                let events = pipes::Side::subjects(&caller);
                for subject in &events {
                    subscribers.push(
                        client
                            .subscribe(subject.clone())
                            .await
                            .map_err(subscribe_error)?,
                    );
                }
                // Subscribed at the server before the first call goes out.
                if let Some(refused) = fence(&client, &mut words).await {
                    return Err(io::Error::new(
                        io::ErrorKind::PermissionDenied,
                        format!("the NATS server does not let this client subscribe to {refused}"),
                    ));
                }
                let inbound = pipes::Inbound::Direct(subscribers, events.into_iter().collect());
                Ok(pipes::transport(client, Arc::new(caller), inbound, words))
            }
        })
        .await
}

/// How long a fence waits for its answer.
const FENCE_TIMEOUT: Duration = Duration::from_secs(5);

/// Returns once the NATS server has taken every subscription this client
/// made so far, with the first it refused, if any. async-nats's `flush`
/// only empties the client's buffer, and a subscription the server has not
/// processed yet misses what others publish meanwhile (an event pushed, a
/// call to a service that said it is up). The server handles one
/// connection's messages in order, so what it answers to a request comes
/// after them: a request to a fresh inbox, which nobody serves, is answered
/// at once with "no responders", or, for a client that may not publish
/// there, refused (which `words` hears, after any refused subscription).
async fn fence(client: &Client, words: &mut Option<mpsc::Receiver<ServerWord>>) -> Option<String> {
    use async_nats::RequestErrorKind;
    let inbox = client.new_inbox();
    let request = async_nats::Request::new().timeout(Some(FENCE_TIMEOUT));
    let answer = client.send_request(inbox.clone(), request);
    tokio::pin!(answer);
    let mut refused = None;
    loop {
        let word = async {
            match words.as_mut() {
                Some(words) => words.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            answer = &mut answer => {
                match answer {
                    Ok(_) => {}
                    Err(error) if error.kind() == RequestErrorKind::NoResponders => {}
                    Err(error) => tracing::debug!(%error, "no fence for the subscriptions"),
                }
                break;
            }
            word = word => match word {
                Some(ServerWord::MayNotPublish(subject)) if subject == inbox => break,
                Some(ServerWord::MayNotSubscribe(subject)) => {
                    refused.get_or_insert(subject);
                }
                Some(_) => {}
                None => *words = None,
            },
        }
    }
    // What the server said before the answer may still be on its way to
    // the event callback, on a task of async-nats's: a turn for it.
    tokio::task::yield_now().await;
    let words = words.as_mut()?;
    refused.or_else(|| {
        std::iter::from_fn(|| words.try_recv().ok()).find_map(|word| match word {
            ServerWord::MayNotSubscribe(subject) => Some(subject),
            _ => None,
        })
    })
}

/// What a stream message adds to the frame it is made from, at most: its
/// headers, and its sequence number.
const STREAM_ENVELOPE: usize = 64;

/// Lowers the builder's largest message to what the NATS server takes in
/// one message, less room for the envelope of a stream item, so that every
/// frame its peers send fits.
fn fit_to_server(builder: PeerBuilder, client: &Client) -> PeerBuilder {
    let server_max = client.server_info().max_payload;
    let max = builder.limits().max_message_size;
    if server_max > STREAM_ENVELOPE {
        builder.max_message_size(max.min(server_max - STREAM_ENVELOPE))
    } else {
        builder
    }
}

/// Locks `mutex`, going on with what a panicking holder left: every state
/// kept under these locks is whole between statements.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
