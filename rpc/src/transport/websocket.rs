//! WebSocket (feature `websocket`, on tokio-tungstenite): one msgpack-rpc
//! message per binary WebSocket message, both ways, so a browser's
//! `WebSocket` is a peer like any other.
//!
//! A text message is not msgpack-rpc: it ends the connection with a
//! protocol error, as bytes that are not messages do on TCP. Pings, pongs
//! and fragments are the WebSocket layer's business (a fragmented message
//! arrives whole), and it refuses a message over the peer's
//! `max_message_size` before buffering it whole.
//!
//! A server checks the upgrade request's `Origin` against its [`Origins`]
//! before it answers: a browser sends the page's origin, and without the
//! check any page its user visits could call the server in that user's
//! name. The default admits requests with no `Origin` (programs, not
//! browsers) and pages served by the host they ask for (same origin).
//! An upgrade that does not complete within the peer's message timeout is
//! dropped, as a TLS handshake is.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{Sink, Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message, http};

use super::{FrameSink, FrameSource, Frames, Identity, Transport};

/// The WebSocket library dotrpc uses, to name its types at the same
/// version ([`transport`] takes its sockets).
pub use tokio_tungstenite;

/// The pages allowed to open a WebSocket connection to a server, by the
/// `Origin` their browser sends with the upgrade request.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Origins {
    /// `None`: same origin only.
    allowed: Option<Arc<[String]>>,
}

impl Origins {
    /// Pages served by the host the request is for (the `Origin`'s host and
    /// port are the request's `Host`), and clients that send no `Origin`.
    /// The default.
    pub fn same_origin() -> Origins {
        Origins { allowed: None }
    }

    /// Those origins exactly (`"https://app.example.com"`, scheme, host and
    /// port as a browser writes them), and clients that send no `Origin`.
    /// `"*"` admits every origin.
    pub fn allow<S: Into<String>>(origins: impl IntoIterator<Item = S>) -> Origins {
        Origins {
            allowed: Some(origins.into_iter().map(Into::into).collect()),
        }
    }

    /// Whether a request with `origin` for `host` is admitted.
    pub(crate) fn admits(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        let Some(origin) = origin else {
            return true;
        };
        match &self.allowed {
            Some(allowed) => allowed
                .iter()
                .any(|allowed| allowed == "*" || allowed.eq_ignore_ascii_case(origin)),
            None => {
                // `scheme://host[:port]`; the host is compared as sent.
                let origin_host = origin.split_once("://").map(|(_, rest)| rest);
                origin_host.is_some() && origin_host == host
            }
        }
    }
}

impl fmt::Debug for Origins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.allowed {
            None => f.write_str("Origins::same_origin()"),
            Some(allowed) => f.debug_tuple("Origins::allow").field(allowed).finish(),
        }
    }
}

/// tungstenite's settings for a peer whose messages are at most
/// `max_message_size` bytes.
pub(crate) fn config_for(max_message_size: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(max_message_size))
        .max_frame_size(Some(max_message_size))
}

/// How long an upgrade may take when the peer has no message timeout.
pub(crate) const UPGRADE_TIMEOUT: Duration = Duration::from_secs(30);

/// How a server completes upgrades.
pub(crate) struct Upgrade {
    pub(crate) origins: Origins,
    pub(crate) max_message_size: usize,
    /// How long the client may take to send its upgrade request.
    pub(crate) timeout: Duration,
    /// For `wss://`: the TLS handshake that comes first.
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<tokio_rustls::TlsAcceptor>,
}

impl fmt::Debug for Upgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgrade")
            .field("origins", &self.origins)
            .field("max_message_size", &self.max_message_size)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Completes a server's side of a connection: the TLS handshake for
/// `wss://`, then the upgrade. The identity is the chain a `wss://` client
/// presented (mutual TLS), as for TLS connections.
pub(crate) async fn accept(
    stream: tokio::net::TcpStream,
    upgrade: &Upgrade,
) -> io::Result<(Transport, Option<Identity>)> {
    #[cfg(feature = "tls")]
    if let Some(acceptor) = &upgrade.tls {
        let tls = super::tls::handshake(stream, acceptor).await?;
        let identity =
            super::tls::client_certificates(&tls).map(|chain| Arc::new(chain) as Identity);
        return Ok((accept_upgrade(tls, upgrade).await?, identity));
    }
    Ok((accept_upgrade(stream, upgrade).await?, None))
}

/// Completes the upgrade on `stream`, within the upgrade's time, if its
/// origins admit the request.
async fn accept_upgrade<S>(stream: S, upgrade: &Upgrade) -> io::Result<Transport>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let Upgrade {
        origins,
        max_message_size,
        timeout,
        ..
    } = upgrade;
    // The shape tungstenite's handshake callback has.
    #[allow(clippy::result_large_err)]
    let check = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        let header = |name| {
            request
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
        };
        if origins.admits(header(http::header::ORIGIN), header(http::header::HOST)) {
            return Ok(response);
        }
        let mut refusal = ErrorResponse::new(Some("this origin may not connect".into()));
        *refusal.status_mut() = http::StatusCode::FORBIDDEN;
        Err(refusal)
    };
    let handshake = tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        check,
        Some(config_for(*max_message_size)),
    );
    let socket = tokio::time::timeout(*timeout, handshake)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the upgrade did not complete"))?
        .map_err(io_error)?;
    Ok(transport(socket))
}

/// Connects to `url` (`ws://host:port/path`) and completes the upgrade.
pub(crate) async fn connect(url: &str, max_message_size: usize) -> io::Result<Transport> {
    let (socket, _response) =
        tokio_tungstenite::connect_async_with_config(url, Some(config_for(max_message_size)), true)
            .await
            .map_err(io_error)?;
    Ok(transport(socket))
}

/// Connects to `url` (`wss://host:port/path`) over TLS with `config`,
/// verifying the server as the URL's host, and completes the upgrade.
#[cfg(feature = "tls")]
pub(crate) async fn connect_tls(
    url: &str,
    config: Arc<super::tls::rustls::ClientConfig>,
    max_message_size: usize,
) -> io::Result<Transport> {
    use super::tls::rustls::pki_types::ServerName;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let invalid = |why: String| io::Error::new(io::ErrorKind::InvalidInput, why);
    let request = url.into_client_request().map_err(io_error)?;
    let uri = request.uri();
    if uri.scheme_str() != Some("wss") {
        return Err(invalid(format!("{url} is not a wss:// URL")));
    }
    let host = uri
        .host()
        .ok_or_else(|| invalid(format!("{url} names no host")))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(443);
    let name = ServerName::try_from(host.clone()).map_err(|e| invalid(e.to_string()))?;
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
    tcp.set_nodelay(true)?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await?;
    let (socket, _response) = tokio_tungstenite::client_async_with_config(
        request,
        tls,
        Some(config_for(max_message_size)),
    )
    .await
    .map_err(io_error)?;
    Ok(transport(socket))
}

/// A WebSocket connection as a peer's transport.
pub fn transport<S>(socket: WebSocketStream<S>) -> Transport
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    socket_transport(socket)
}

/// What a WebSocket message is to dotrpc, whichever library made it:
/// tungstenite's here, axum's in [`crate::axum`].
pub(crate) trait WsMessage: Sized {
    /// A binary message carrying `frame`.
    fn binary(frame: Bytes) -> Self;
    /// What arrived.
    fn received(self) -> Received;
}

/// A WebSocket message as dotrpc reads it.
pub(crate) enum Received {
    /// A binary message: one msgpack-rpc message.
    Frame(Bytes),
    /// A text message, which msgpack-rpc never is.
    Text,
    /// The other side closed the connection.
    Close,
    /// A ping or a pong, answered by the WebSocket layer.
    Control,
}

/// A WebSocket library's error, as the peer reports it.
pub(crate) trait WsError {
    /// The error as I/O: what the other side sent wrong (too large, not
    /// WebSocket) is invalid data, a closed socket is no error.
    /// `None`: the connection ended normally.
    fn into_io(self) -> Option<io::Error>;
}

/// A socket of binary WebSocket messages as a peer's transport.
pub(crate) fn socket_transport<W, M>(socket: W) -> Transport
where
    W: Stream<Item = Result<M, <W as Sink<M>>::Error>> + Sink<M> + Send + 'static,
    <W as Sink<M>>::Error: WsError,
    M: WsMessage + Send + 'static,
{
    let (sink, source) = socket.split();
    Transport::from_frames(WsSource { source }, WsSink { sink })
}

struct WsSource<W> {
    source: SplitStream<W>,
}

impl<W, M, E> FrameSource for WsSource<W>
where
    W: Stream<Item = Result<M, E>> + Send + 'static,
    E: WsError,
    M: WsMessage,
{
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        loop {
            let message = match ready!(Pin::new(&mut self.source).poll_next(cx)) {
                None => return Poll::Ready(None),
                Some(Err(error)) => return Poll::Ready(error.into_io().map(Err)),
                Some(Ok(message)) => message,
            };
            match message.received() {
                Received::Frame(frame) => return Poll::Ready(Some(Ok(frame))),
                Received::Text => {
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "a text WebSocket message: msgpack-rpc travels in binary messages",
                    ))));
                }
                Received::Close => return Poll::Ready(None),
                Received::Control => {}
            }
        }
    }
}

struct WsSink<W, M> {
    sink: SplitSink<W, M>,
}

impl<W, M> FrameSink for WsSink<W, M>
where
    W: Sink<M> + Send + 'static,
    W::Error: WsError,
    M: WsMessage + Send + 'static,
{
    fn poll_send(&mut self, cx: &mut Context<'_>, frames: &mut Frames) -> Poll<io::Result<()>> {
        let mut sink = Pin::new(&mut self.sink);
        while !frames.is_empty() {
            ready!(sink.as_mut().poll_ready(cx)).map_err(sink_error)?;
            let frame = frames.pop_frame().expect("frames is not empty");
            sink.as_mut()
                .start_send(M::binary(frame))
                .map_err(sink_error)?;
        }
        sink.poll_flush(cx).map_err(sink_error)
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.sink).poll_close(cx).map_err(sink_error)
    }
}

/// A failed write: even a socket closed normally is an error to a writer.
fn sink_error(error: impl WsError) -> io::Error {
    error
        .into_io()
        .unwrap_or_else(|| io::Error::new(io::ErrorKind::BrokenPipe, "the WebSocket is closed"))
}

impl WsMessage for Message {
    fn binary(frame: Bytes) -> Self {
        Message::Binary(frame)
    }

    fn received(self) -> Received {
        match self {
            Message::Binary(frame) => Received::Frame(frame),
            Message::Text(_) => Received::Text,
            Message::Close(_) => Received::Close,
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Received::Control,
        }
    }
}

impl WsError for tungstenite::Error {
    fn into_io(self) -> Option<io::Error> {
        match self {
            tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => None,
            error => Some(io_error(error)),
        }
    }
}

/// A WebSocket error as the peer reports it: what the other side sent
/// wrong (too large, not WebSocket) is invalid data, the rest as it came.
fn io_error(error: tungstenite::Error) -> io::Error {
    match error {
        tungstenite::Error::Io(error) => error,
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            io::Error::new(io::ErrorKind::BrokenPipe, "the WebSocket is closed")
        }
        error @ (tungstenite::Error::Capacity(_)
        | tungstenite::Error::Protocol(_)
        | tungstenite::Error::Utf8(_)) => io::Error::new(io::ErrorKind::InvalidData, error),
        error => io::Error::other(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_admit_what_they_say() {
        let same = Origins::default();
        assert!(same.admits(None, Some("127.0.0.1:80")), "not a browser");
        assert!(same.admits(Some("http://127.0.0.1:80"), Some("127.0.0.1:80")));
        assert!(!same.admits(Some("http://evil.example"), Some("127.0.0.1:80")));
        assert!(!same.admits(Some("null"), Some("127.0.0.1:80")));
        assert!(!same.admits(Some("http://127.0.0.1:80"), None));

        let listed = Origins::allow(["https://app.example.com"]);
        assert!(listed.admits(Some("https://app.example.com"), Some("api:1")));
        assert!(listed.admits(Some("HTTPS://APP.EXAMPLE.COM"), Some("api:1")));
        assert!(!listed.admits(Some("https://app.example.com.evil"), Some("api:1")));
        assert!(Origins::allow(["*"]).admits(Some("http://anything"), None));
    }
}
