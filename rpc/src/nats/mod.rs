//! Serving and calling over NATS (feature `nats`): one API served by many
//! processes, on many machines, behind one subject prefix, with the typed
//! clients users already have.
//!
//! A service under the prefix `demo` answers the method `math.add` on the
//! subject `demo.math.add`. Every instance subscribes to `demo.>` in one
//! queue group, so NATS spreads the calls over the instances, and starting
//! or stopping one needs no configuration anywhere else; runtime handlers
//! and the fallback work as on any connection, as the one subscription
//! feeds the same router. A [`NatsService`] is one instance; a client is a
//! [`Peer`] from [`PeerBuilder::connect_nats`], on which
//! `peer.client::<CalculatorClient>()` and every call mode work as over TCP.
//!
//! Underneath, NATS is a message transport (see [`crate::transport`]): each
//! side of the mapping turns NATS messages into msgpack-rpc frames and back,
//! so the peer, its limits and its dispatcher are the ones every other
//! transport uses. On the wire the payloads are plain msgpack (the params
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
//!   [`Error::NoResponders`](crate::Error::NoResponders).
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
mod intake;
mod options;
mod pipes;
mod service;
mod srv;
mod streams;
mod subject;
mod tls;
mod wire;

use std::fmt;
use std::future::Future;
use std::io;
use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use async_nats;
use async_nats::Client;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::builder::PeerBuilder;
use crate::client::{ApiBroadcast, ApiClient, Members};
use crate::peer::Peer;
use crate::router::Router;
use crate::transport::Address;
use caller::Caller;
use options::ServerWord;
pub use options::{IntoNatsOptions, NatsOptions};
use service::Service;

/// The timeout of calls over NATS that set none.
const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a service is on NATS: the server's URL (or a comma-separated seed
/// list of them) and the service's subject prefix, written
/// `nats://host:port/prefix` or `nats://a:4222,b:4222/prefix`.
///
/// ```
/// let addr: dotrpc::nats::NatsAddr = "nats://127.0.0.1:4222/demo".parse().unwrap();
/// assert_eq!((addr.url.as_str(), addr.prefix.as_str()), ("nats://127.0.0.1:4222", "demo"));
/// let seeds: dotrpc::nats::NatsAddr = "nats://a:4222,b:4222/acme.billing".parse().unwrap();
/// assert_eq!(seeds.url, "nats://a:4222,b:4222");
/// # let options: dotrpc::nats::NatsOptions = seeds.url.parse().unwrap();
/// # assert_eq!(options.servers(), "nats://a:4222,nats://b:4222");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsAddr {
    /// The NATS servers, `nats://host:port[,host:port...]`: what
    /// [`PeerBuilder::connect_nats`] and [`NatsServiceBuilder::start`] take.
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

fn check_prefix(prefix: &str) -> crate::error::Result<()> {
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

impl PeerBuilder {
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
    pub async fn connect_nats(
        self,
        nats: impl IntoNatsOptions,
        prefix: &str,
    ) -> crate::error::Result<Peer> {
        check_prefix(prefix)?;
        let options = nats.into_nats_options()?;
        let (words_tx, words) = mpsc::channel(WORDS);
        let client = options.connect(Some(words_tx)).await?;
        self.connect_nats_client(client, prefix, Some(words)).await
    }

    /// As [`connect_nats`](PeerBuilder::connect_nats), over a NATS client
    /// the program already has, with options of its own. What the server
    /// says on the way (a refused publish, a reconnect) is not heard over
    /// such a client: refused calls time out.
    ///
    /// # Errors
    ///
    /// `Transport` if subscribing fails or `prefix` is not a subject prefix.
    pub async fn connect_nats_with(
        self,
        client: Client,
        prefix: &str,
    ) -> crate::error::Result<Peer> {
        self.connect_nats_client(client, prefix, None).await
    }

    async fn connect_nats_client(
        mut self,
        client: Client,
        prefix: &str,
        words: Option<mpsc::Receiver<ServerWord>>,
    ) -> crate::error::Result<Peer> {
        check_prefix(prefix)?;
        let prefix: Arc<str> = prefix.into();
        let options = self.options_mut();
        let call_timeout = *options.call_timeout.get_or_insert(DEFAULT_CALL_TIMEOUT);
        cap_message_size(&mut options.limits.max_message_size, &client);
        let limits = options.limits;
        let router = self.shared_router();
        // Taken by the first transport: the only one, unless the client is
        // closed and the peer reconnects over it.
        let words = Arc::new(Mutex::new(words));
        self.connect_with(move || {
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

/// Lowers `max` to what the NATS server takes in one message, less room for
/// the envelope of a stream item, so that every frame the peer sends fits.
fn cap_message_size(max: &mut usize, client: &Client) {
    let server_max = client.server_info().max_payload;
    if server_max > STREAM_ENVELOPE {
        *max = (*max).min(server_max - STREAM_ENVELOPE);
    }
}

/// Options for one instance of a service on NATS; see
/// [`NatsService::builder`].
#[derive(Debug)]
pub struct NatsServiceBuilder {
    peer: PeerBuilder,
    prefix: String,
    name: Option<String>,
    version: String,
    description: String,
    queue_group: Option<String>,
}

impl NatsServiceBuilder {
    /// The service's name in the NATS services protocol (default: the
    /// prefix, with dots as `-`). Letters, digits, `-` and `_` only.
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    /// The service's version in the NATS services protocol, a semantic
    /// version (default `0.0.0`).
    pub fn version(mut self, version: &str) -> Self {
        version.clone_into(&mut self.version);
        self
    }

    /// The service's description in the NATS services protocol.
    pub fn description(mut self, description: &str) -> Self {
        description.clone_into(&mut self.description);
        self
    }

    /// The queue group the instances share (default: the prefix). Instances
    /// in one group share the calls; instances in different groups each
    /// get every call.
    pub fn queue_group(mut self, group: &str) -> Self {
        self.queue_group = Some(group.to_owned());
        self
    }

    /// Connects to NATS and starts serving: `nats` is a server's URL
    /// (`nats://host:port`), a comma-separated list of them (a seed list:
    /// the first that answers is taken), or [`NatsOptions`] (credentials,
    /// TLS). Returns once subscribed: calls published from then on reach
    /// this instance or another.
    ///
    /// The instance takes its calls on a connection of its own, its intake,
    /// so that a [drain](NatsService::drain) can leave the queue group
    /// without losing a call NATS routed to it; replies, events, streams
    /// and `$SRV` go over a second connection. Both use the same options.
    ///
    /// # Errors
    ///
    /// `Transport` if no server can be reached, the server refuses the
    /// credentials or a subscription (`PermissionDenied`, in its words:
    /// permissions that do not let the instance subscribe to `PREFIX.>`),
    /// TLS fails, or the prefix or the name is not valid.
    pub async fn start(self, nats: impl IntoNatsOptions) -> crate::error::Result<NatsService> {
        let NatsServiceBuilder {
            mut peer,
            prefix,
            name,
            version,
            description,
            queue_group,
        } = self;
        check_prefix(&prefix)?;
        let name = name.unwrap_or_else(|| prefix.replace('.', "-"));
        let valid_name = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid_name {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{name}` is not a NATS service name (letters, digits, - and _)"),
            )
            .into());
        }
        let options = nats.into_nats_options()?;
        let (words_tx, words) = mpsc::channel(WORDS);
        let client = options.connect(Some(words_tx)).await?;
        let queue_group = queue_group.unwrap_or_else(|| prefix.clone());
        cap_message_size(&mut peer.options_mut().limits.max_message_size, &client);
        let limits = peer.options_mut().limits;
        let call_timeout = peer
            .options_mut()
            .call_timeout
            .unwrap_or(DEFAULT_CALL_TIMEOUT);
        let router = peer.shared_router();
        let prefix: Arc<str> = prefix.into();

        let service = Arc::new(Service::new(
            Arc::clone(&prefix),
            limits,
            client.clone(),
            call_timeout,
        ));
        let calls = intake::Interest {
            subject: format!("{prefix}.>"),
            queue: Some(queue_group.clone()),
        };
        let servers = intake::Servers::new(&options);
        let intake =
            intake::Intake::connect(servers, vec![calls], &format!("{name} intake")).await?;
        let streams = client
            .subscribe(format!("{}*", service.control))
            .await
            .map_err(subscribe_error)?;
        let id = client
            .new_inbox()
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_owned();
        let identity = srv::Identity {
            name,
            id,
            version,
            description,
            queue_group,
            started: srv::now_rfc3339(),
        };
        let verbs = srv::subscribe(&client, &identity)
            .await
            .map_err(subscribe_error)?;
        let mut words = Some(words);
        if let Some(refused) = fence(&client, &mut words).await {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("the NATS server does not let this instance subscribe to {refused}"),
            )
            .into());
        }
        let drain = CancellationToken::new();
        let transport = pipes::transport(
            client.clone(),
            Arc::clone(&service) as Arc<dyn pipes::Side>,
            pipes::Inbound::Intake(Box::new(intake), streams, drain.clone()),
            words,
        );
        let peer = peer.spawn(transport);
        let (name, id) = (identity.name.clone(), identity.id.clone());
        let stop = CancellationToken::new();
        let responder = srv::Responder {
            client: client.clone(),
            identity,
            service: Arc::clone(&service),
            router: Arc::clone(&router),
        };
        let srv = tokio::spawn(responder.run(verbs, stop.clone()));
        let members = Members::default();
        members.map().insert(peer.id(), peer.clone());
        Ok(NatsService {
            peer,
            members,
            router,
            client,
            prefix,
            name,
            id,
            service,
            drain,
            tasks: Mutex::new(Some(Tasks { srv, stop })),
        })
    }
}

/// One instance of a service on NATS: it answers the calls NATS gives it
/// on `PREFIX.>` (sharing them with the other instances), answers the NATS
/// services protocol (`$SRV.PING`, `INFO`, `STATS`), and pushes events to
/// the clients.
///
/// ```no_run
/// # use dotrpc::{Peer, nats::NatsService};
/// # #[tokio::main] async fn main() -> dotrpc::Result<()> {
/// let router = std::sync::Arc::new(dotrpc::Router::new());
/// router.set_handler("math.add", |a: i64, b: i64| async move { a + b });
/// let service = NatsService::builder(Peer::builder().router(router), "demo")
///     .version("1.0.0")
///     .start("nats://127.0.0.1:4222")
///     .await?;
/// // `demo.math.add` is answered until:
/// service.drain(std::time::Duration::from_secs(5)).await;
/// # Ok(()) }
/// ```
pub struct NatsService {
    peer: Peer,
    members: Members,
    router: Arc<Router>,
    client: Client,
    prefix: Arc<str>,
    name: String,
    id: String,
    service: Arc<Service>,
    drain: CancellationToken,
    tasks: Mutex<Option<Tasks>>,
}

/// What a service leaves behind until it has drained.
struct Tasks {
    /// Answers `$SRV`; ends when `stop` fires.
    srv: JoinHandle<()>,
    stop: CancellationToken,
}

impl NatsService {
    /// Options for an instance serving what `peer`'s router serves, under
    /// the subject prefix `prefix` (such as `demo`: `math.add` is then
    /// answered on `demo.math.add`). The peer's limits, authorize hook and
    /// error format apply to every call.
    pub fn builder(peer: PeerBuilder, prefix: &str) -> NatsServiceBuilder {
        NatsServiceBuilder {
            peer,
            prefix: prefix.to_owned(),
            name: None,
            version: "0.0.0".to_owned(),
            description: String::new(),
            queue_group: None,
        }
    }

    /// The subject prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The service's name in the NATS services protocol.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// This instance's id in the NATS services protocol.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The router serving the calls; handlers added to it are served at
    /// once, by this instance.
    pub fn router(&self) -> &Arc<Router> {
        &self.router
    }

    /// The NATS client the instance uses.
    pub fn nats_client(&self) -> &Client {
        &self.client
    }

    /// The events of the API `C` (a generated `XxxClient`), under its own
    /// namespace, published for every client: `service.broadcast::<UiClient>()
    /// .tick(n)` publishes on `PREFIX.ui.tick` (for an API in namespace
    /// `ui`), and every client serving `ui.tick` receives it. Each returns a
    /// [`NotifyAll`](crate::NotifyAll): awaited, it waits for room in the
    /// instance's queue to NATS; either way it gives 1 once queued.
    pub fn broadcast<C: ApiClient>(&self) -> C::Broadcast {
        self.broadcast_at::<C>(C::NAMESPACE.unwrap_or(""))
    }

    /// As [`broadcast`](NatsService::broadcast), with the API's paths under
    /// `prefix`.
    pub fn broadcast_at<C: ApiClient>(&self, prefix: &str) -> C::Broadcast {
        C::Broadcast::with_members(self.members.clone(), prefix)
    }

    /// Leaves gracefully: stops taking calls (the queue group's other
    /// instances get them from now on), answers the calls it already has,
    /// giving them up to `grace`, publishes the answers, and stops
    /// answering `$SRV`.
    ///
    /// "The calls it already has" are every call NATS routed to this
    /// instance before it took the unsubscription: the intake waits for
    /// the server's answer to a PING, which comes after them. So a rolling
    /// restart that drains each instance in turn loses no call. Calls still
    /// running when `grace` ends are stopped, and their callers time out.
    /// With `RUST_LOG=dotrpc::nats=debug` the drain logs the calls in hand,
    /// every call that arrived after the unsubscription, and the answers
    /// published.
    pub async fn drain(self, grace: Duration) {
        let began = std::time::Instant::now();
        self.service.draining.store(true, Ordering::Relaxed);
        // One line, before the drain: a line per call while it runs would
        // slow the very window it describes.
        tracing::debug!(
            prefix = %self.prefix,
            in_hand = ?self.service.in_hand(),
            "draining: the calls in hand are answered before the instance leaves"
        );
        self.drain.cancel();
        let closed = self.peer.closed();
        if tokio::time::timeout(grace, closed).await.is_err() {
            tracing::warn!(prefix = %self.prefix, "calls still running after the grace period");
            self.peer.close();
            self.peer.closed().await;
        }
        self.stop_tasks().await;
        let answered = self.service.answered_draining.load(Ordering::Relaxed);
        match self.client.flush().await {
            Ok(()) => tracing::debug!(
                prefix = %self.prefix,
                answered,
                took = ?began.elapsed(),
                "drained: every answer published and flushed to NATS"
            ),
            Err(error) => tracing::warn!(%error, answered, "flushing to NATS failed"),
        }
    }

    /// Serves until `signal` completes (a Ctrl-C, SIGTERM), then drains as
    /// [`drain`](NatsService::drain) does.
    pub async fn serve_until(self, signal: impl Future<Output = ()>, grace: Duration) {
        signal.await;
        self.drain(grace).await;
    }

    async fn stop_tasks(&self) {
        let tasks = self
            .tasks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(Tasks { srv, stop }) = tasks {
            stop.cancel();
            let _ = srv.await;
        }
    }
}

impl Drop for NatsService {
    fn drop(&mut self) {
        // Not drained: stop at once.
        self.peer.close();
        if let Some(tasks) = self
            .tasks
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
        {
            tasks.stop.cancel();
        }
        self.drain.cancel();
    }
}

impl fmt::Debug for NatsService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsService")
            .field("prefix", &self.prefix)
            .field("name", &self.name)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}
