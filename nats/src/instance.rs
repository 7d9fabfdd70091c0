//! One instance of a service on NATS: [`NatsService`], made by a
//! [`NatsServiceBuilder`]. It takes its calls on an intake connection of its
//! own, serves them through the one router of its peer, answers the NATS
//! services protocol, and pushes events to every client.

use std::fmt;
use std::future::Future;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::Client;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::options::IntoNatsOptions;
use super::service::Service;
use super::{
    DEFAULT_CALL_TIMEOUT, WORDS, check_prefix, fence, fit_to_server, intake, pipes, srv,
    subscribe_error,
};
use dotrpc::client::ApiClient;
use dotrpc::{Group, Peer, PeerBuilder, Router};

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
    /// the first that answers is taken), or [`NatsOptions`](super::NatsOptions) (credentials,
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
    pub async fn start(self, nats: impl IntoNatsOptions) -> dotrpc::Result<NatsService> {
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
        peer = fit_to_server(peer, &client);
        let limits = peer.limits();
        let call_timeout = peer
            .configured_call_timeout()
            .unwrap_or(DEFAULT_CALL_TIMEOUT);
        let router = peer.shared_router();
        let prefix: Arc<str> = prefix.into();

        let service = Arc::new(Service::new(
            Arc::clone(&prefix),
            limits,
            peer.configured_error_format(),
            &client,
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
        let members = Group::new();
        members.insert(&peer);
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
/// # use dotrpc::Peer;
/// # use dotrpc_nats::NatsService;
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
    members: Group,
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
    /// [`NotifyAll`](dotrpc::client::NotifyAll): awaited, it waits for room in the
    /// instance's queue to NATS; either way it gives 1 once queued.
    pub fn broadcast<C: ApiClient>(&self) -> C::Broadcast {
        self.broadcast_at::<C>(C::NAMESPACE.unwrap_or(""))
    }

    /// As [`broadcast`](NatsService::broadcast), with the API's paths under
    /// `prefix`.
    pub fn broadcast_at<C: ApiClient>(&self, prefix: &str) -> C::Broadcast {
        self.members.broadcast_at::<C>(prefix)
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
    /// With `RUST_LOG=dotrpc_nats=debug` the drain logs the calls in hand,
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
