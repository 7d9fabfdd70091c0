//! The service's intake: a NATS connection of the instance's own that
//! holds the subscription its calls arrive on (the queue group's
//! `PREFIX.>`), and leaves it without losing a message.
//!
//! Why not async-nats's `Subscriber`: its `drain` sends UNSUB and a PING
//! but forgets the subscription on the client's next turn, not when the
//! server answers the PING. Messages the server routed to the subscription
//! before it took the UNSUB (under load: calls it gave this instance
//! rather than another) then arrive for a subscription the client no
//! longer has, and are dropped without a word, in async-nats 0.51 and
//! 0.52. A rolling restart lost about one call in a thousand that way. The
//! drain here is the protocol's own: UNSUB, then PING, and everything read
//! until the PONG is delivered, since the server answers the PING only
//! after every message it routed before the UNSUB. Then the intake ends.
//!
//! It speaks the part of the NATS client protocol that subscribing needs
//! ([`super::wire`]), over TCP, with the credentials a URL carries. It
//! keeps the connection alive with PINGs; when the connection is lost it
//! reconnects, to the servers it was given or those the cluster announced,
//! and subscribes again, as async-nats does (what was in flight on the lost
//! connection is lost: NATS delivers at most once). Messages wait for the
//! peer in a bounded buffer; while it is full nothing more is read, and the
//! server holds the rest back, up to its own limit.

use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

use async_nats::{ServerAddr, ServerInfo};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::options::{Credentials, NatsOptions, Tls};
use super::tls::Io;
use super::wire::{self, ServerOp};

/// Messages read and not yet taken by the peer, at most.
const BUFFERED: usize = 1024;
/// How long connecting to one server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the connection is pinged to find out whether it is alive.
const PING_INTERVAL: Duration = Duration::from_secs(20);
/// PINGs left unanswered before the connection counts as lost.
const MAX_PINGS_OUT: usize = 2;
/// The longest wait between rounds of reconnecting.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// The payload limit until a server says its own.
const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;

/// A subscription the intake holds: its sid is its place in the list, from 1.
#[derive(Debug, Clone)]
pub(crate) struct Interest {
    pub(crate) subject: String,
    pub(crate) queue: Option<String>,
}

/// The servers to connect to, in turn, and how.
#[derive(Debug, Clone)]
pub(crate) struct Servers {
    list: Vec<ServerAddr>,
    credentials: Credentials,
    tls: Tls,
    /// The one to try next.
    next: usize,
}

impl Servers {
    pub(crate) fn new(options: &NatsOptions) -> Servers {
        Servers {
            list: options.servers.clone(),
            credentials: options.credentials.clone(),
            tls: options.tls.clone(),
            next: 0,
        }
    }

    /// Adds the servers a server says its cluster has.
    fn learn(&mut self, info: &ServerInfo) {
        for url in &info.connect_urls {
            let Ok(addr) = url.parse::<ServerAddr>() else {
                continue;
            };
            let known = self
                .list
                .iter()
                .any(|known| known.host() == addr.host() && known.port() == addr.port());
            if !known {
                self.list.push(addr);
            }
        }
    }

    /// The next server to try, and whether a whole round has been tried.
    fn take(&mut self) -> (ServerAddr, bool) {
        let server = self.list[self.next % self.list.len()].clone();
        self.next = (self.next + 1) % self.list.len();
        (server, self.next == 0)
    }
}

/// One connection to a server.
struct Connection {
    reader: ReadHalf<Box<dyn Io>>,
    writer: WriteHalf<Box<dyn Io>>,
    /// Bytes read and not yet parsed.
    buffer: BytesMut,
    max_payload: usize,
}

impl Connection {
    /// Reads more bytes; an end of the stream is an error, as the
    /// connection is lost. Cancel safe.
    async fn fill(&mut self) -> io::Result<()> {
        if self.buffer.capacity() - self.buffer.len() < 4096 {
            self.buffer.reserve(64 * 1024);
        }
        match self.reader.read_buf(&mut self.buffer).await? {
            0 => Err(io::ErrorKind::UnexpectedEof.into()),
            _ => Ok(()),
        }
    }

    /// The next whole operation already read, if any.
    fn parsed(&mut self) -> io::Result<Option<ServerOp>> {
        wire::next_op(&mut self.buffer, self.max_payload)
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))
    }

    /// The next operation, reading until it is whole.
    async fn next(&mut self) -> io::Result<ServerOp> {
        loop {
            if let Some(op) = self.parsed()? {
                return Ok(op);
            }
            self.fill().await?;
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes).await
    }
}

/// What a PING the intake sent was for; PONGs come back in order.
#[derive(Debug, PartialEq, Eq)]
enum Ping {
    /// Is the connection alive?
    Alive,
    /// The drain's fence: once it is answered, nothing more is routed here.
    Fence,
}

/// How far a drain has come.
struct Leaving {
    since: Instant,
    /// Messages read after the UNSUB: routed here before the server took it.
    after_unsub: usize,
    fenced: bool,
}

/// The intake, connected and subscribed; [`run`](Intake::run) delivers.
pub(crate) struct Intake {
    servers: Servers,
    interests: Vec<Interest>,
    name: String,
    connection: Connection,
    /// Messages read, waiting for the peer to take them.
    pending: VecDeque<async_nats::Message>,
}

impl Intake {
    /// Connects to the first server that takes it and subscribes; returns
    /// once the server has taken every subscription.
    ///
    /// # Errors
    ///
    /// The last server's error when none could be reached, or the server's
    /// own words when it refuses the credentials or a subscription (its
    /// permissions).
    pub(crate) async fn connect(
        mut servers: Servers,
        interests: Vec<Interest>,
        name: &str,
    ) -> io::Result<Intake> {
        let mut pending = VecDeque::new();
        let mut last_error = None;
        for _ in 0..servers.list.len() {
            let (server, _) = servers.take();
            match open(&server, &mut servers, &interests, name, &mut pending).await {
                Ok(connection) => {
                    return Ok(Intake {
                        servers,
                        interests,
                        name: name.to_owned(),
                        connection,
                        pending,
                    });
                }
                Err(error) => {
                    tracing::debug!(server = %server.as_url_str(), %error, "NATS server not taken");
                    last_error = Some(error);
                }
            }
        }
        Err(last_error.expect("at least one server"))
    }

    /// Delivers messages to `out` until `drain` fires and the drain is
    /// fenced (or the connection is lost while draining), or the peer is
    /// gone. Ends by dropping `out`, which the peer reads as the end.
    pub(crate) async fn run(
        mut self,
        out: mpsc::Sender<async_nats::Message>,
        drain: CancellationToken,
    ) {
        let mut pings = VecDeque::new();
        let mut leaving: Option<Leaving> = None;
        let mut alive = keepalive();
        loop {
            if leaving.as_ref().is_some_and(|l| l.fenced) && self.pending.is_empty() {
                return;
            }
            let room = self.pending.len() < BUFFERED;
            let lost = tokio::select! {
                () = drain.cancelled(), if leaving.is_none() => {
                    leaving = Some(Leaving { since: Instant::now(), after_unsub: 0, fenced: false });
                    self.leave(&mut pings).await.err()
                }
                permit = out.reserve(), if !self.pending.is_empty() => {
                    let Ok(permit) = permit else { return };
                    permit.send(self.pending.pop_front().expect("not empty"));
                    None
                }
                () = out.closed() => return,
                // While nothing is read, no PONG can be either: the check
                // waits until there is room again.
                _ = alive.tick(), if room => {
                    if pings.iter().filter(|&ping| *ping == Ping::Alive).count() >= MAX_PINGS_OUT {
                        Some(io::Error::new(io::ErrorKind::TimedOut, "the NATS server answers no PING"))
                    } else {
                        pings.push_back(Ping::Alive);
                        self.connection.write(wire::PING).await.err()
                    }
                }
                read = self.connection.fill(), if room => match read {
                    Ok(()) => self.take_ops(&out, &mut pings, leaving.as_mut()).await.err(),
                    Err(error) => Some(error),
                },
            };
            let Some(error) = lost else { continue };
            if leaving.is_some() {
                tracing::warn!(
                    %error,
                    "the intake's NATS connection was lost while draining: calls NATS \
                     had routed to this instance and not yet delivered are lost"
                );
                self.deliver_the_rest(&out).await;
                return;
            }
            tracing::warn!(%error, "the intake's NATS connection was lost; reconnecting");
            tokio::select! {
                reconnected = self.reconnect() => {
                    if reconnected.is_err() {
                        return;
                    }
                }
                () = drain.cancelled() => return self.deliver_the_rest(&out).await,
                () = out.closed() => return,
            }
            pings.clear();
            alive = keepalive();
        }
    }

    /// Handles every whole operation read so far.
    async fn take_ops(
        &mut self,
        out: &mpsc::Sender<async_nats::Message>,
        pings: &mut VecDeque<Ping>,
        mut leaving: Option<&mut Leaving>,
    ) -> io::Result<()> {
        while let Some(op) = self.connection.parsed()? {
            match op {
                ServerOp::Msg { sid, message } => {
                    if sid == 0 || sid as usize > self.interests.len() {
                        tracing::debug!(sid, "NATS message for no subscription of the intake");
                        continue;
                    }
                    if let Some(leaving) = leaving.as_deref_mut() {
                        leaving.after_unsub += 1;
                        tracing::debug!(
                            subject = %message.subject,
                            reply = message.reply.as_deref().unwrap_or(""),
                            "taken after the unsubscription, before the fence"
                        );
                    }
                    // Handed over at once where it can be: no turn of the
                    // loop between a call's arrival and the peer.
                    if self.pending.is_empty() {
                        match out.try_send(message) {
                            Err(mpsc::error::TrySendError::Full(message)) => {
                                self.pending.push_back(message);
                            }
                            // The peer is gone: the loop sees it next.
                            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
                        }
                    } else {
                        self.pending.push_back(message);
                    }
                }
                ServerOp::Ping => self.connection.write(wire::PONG).await?,
                ServerOp::Pong => {
                    if pings.pop_front() == Some(Ping::Fence)
                        && let Some(leaving) = leaving.as_deref_mut()
                    {
                        leaving.fenced = true;
                        tracing::debug!(
                            after_unsub = leaving.after_unsub,
                            took = ?leaving.since.elapsed(),
                            "drained: NATS routes nothing more to this instance"
                        );
                    }
                }
                ServerOp::Ok => {}
                ServerOp::Err(text) => tracing::warn!(%text, "the NATS server said"),
                ServerOp::Info(info) => {
                    if info.lame_duck_mode {
                        tracing::info!("the intake's NATS server is going away (lame duck mode)");
                    }
                    self.servers.learn(&info);
                }
            }
        }
        Ok(())
    }

    /// Unsubscribes from everything, and PINGs: the PONG is the fence.
    async fn leave(&mut self, pings: &mut VecDeque<Ping>) -> io::Result<()> {
        let mut lines = String::new();
        for sid in 1..=self.interests.len() as u64 {
            lines.push_str(&wire::unsub_line(sid));
        }
        self.connection.write(lines.as_bytes()).await?;
        self.connection.write(wire::PING).await?;
        pings.push_back(Ping::Fence);
        tracing::debug!("draining: unsubscribed; waiting for NATS to fence what it routed here");
        Ok(())
    }

    /// Hands the peer what was read, while it takes it.
    async fn deliver_the_rest(&mut self, out: &mpsc::Sender<async_nats::Message>) {
        while let Some(message) = self.pending.pop_front() {
            if out.send(message).await.is_err() {
                return;
            }
        }
    }

    /// Connects again, to each server in turn, with a growing pause after
    /// each round, and subscribes again. Ends only when connected.
    async fn reconnect(&mut self) -> io::Result<()> {
        let mut backoff = Duration::from_millis(25);
        loop {
            let (server, round_done) = self.servers.take();
            match open(
                &server,
                &mut self.servers,
                &self.interests,
                &self.name,
                &mut self.pending,
            )
            .await
            {
                Ok(connection) => {
                    tracing::info!(server = %server.as_url_str(), "the intake reconnected to NATS");
                    self.connection = connection;
                    return Ok(());
                }
                Err(error) => {
                    tracing::debug!(server = %server.as_url_str(), %error, "reconnecting failed");
                }
            }
            if round_done {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// A keepalive timer whose first tick is a whole interval away.
fn keepalive() -> tokio::time::Interval {
    let start = tokio::time::Instant::now() + PING_INTERVAL;
    let mut interval = tokio::time::interval_at(start, PING_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval
}

/// Connects to `server`, says who this is, subscribes, and waits for the
/// PONG that says the server took it all. Messages that arrive before it
/// go to `pending`.
async fn open(
    server: &ServerAddr,
    servers: &mut Servers,
    interests: &[Interest],
    name: &str,
    pending: &mut VecDeque<async_nats::Message>,
) -> io::Result<Connection> {
    let handshake = async {
        let stream = TcpStream::connect((server.host(), server.port())).await?;
        stream.set_nodelay(true)?;
        // The server speaks first, in the clear: its INFO says whether TLS
        // follows.
        let mut stream: Box<dyn Io> = Box::new(stream);
        let mut buffer = BytesMut::with_capacity(64 * 1024);
        let info = loop {
            if let Some(op) = wire::next_op(&mut buffer, DEFAULT_MAX_PAYLOAD)
                .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?
            {
                match op {
                    ServerOp::Info(info) => break info,
                    other => {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("the NATS server began with {other:?}, not INFO"),
                        ));
                    }
                }
            }
            if stream.read_buf(&mut buffer).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        };
        let tls = info.tls_required || servers.tls.required;
        if tls {
            stream = super::tls::connect(stream, server.host(), &servers.tls).await?;
        }
        let (reader, writer) = tokio::io::split(stream);
        let mut connection = Connection {
            reader,
            writer,
            buffer,
            max_payload: if info.max_payload > 0 {
                info.max_payload
            } else {
                DEFAULT_MAX_PAYLOAD
            },
        };
        servers.learn(&info);
        let mut hello = wire::connect_line(name, &servers.credentials, &info.nonce, tls)?;
        for (sid, interest) in (1..).zip(interests) {
            let line = wire::sub_line(&interest.subject, interest.queue.as_deref(), sid);
            hello.extend_from_slice(line.as_bytes());
        }
        hello.extend_from_slice(wire::PING);
        connection.write(&hello).await?;
        let mut refused = None;
        loop {
            match connection.next().await {
                Ok(ServerOp::Pong) => break,
                Ok(ServerOp::Ping) => connection.write(wire::PONG).await?,
                Ok(ServerOp::Msg { message, .. }) => pending.push_back(message),
                Ok(ServerOp::Err(text)) => refused = Some(text),
                Ok(ServerOp::Ok) => {}
                Ok(ServerOp::Info(info)) => servers.learn(&info),
                // Refused credentials: the server says why, then closes.
                Err(error) => {
                    return Err(match refused {
                        Some(text) => refusal(&text),
                        None => error,
                    });
                }
            }
        }
        match refused {
            Some(text) => Err(refusal(&text)),
            None => Ok(connection),
        }
    };
    // A server that says nothing within the time is taken as unreachable.
    tokio::time::timeout(CONNECT_TIMEOUT, handshake)
        .await
        .map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                "the NATS server did not answer the handshake in time",
            )
        })?
}

/// What the server refused, in its words.
fn refusal(text: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("the NATS server refused: {text}"),
    )
}

#[cfg(test)]
mod tests;
