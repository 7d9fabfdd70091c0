//! TLS for TCP, on rustls with the ring provider (feature `tls`).
//!
//! A client dials `tls://host:port` and `wss://` addresses with the
//! configuration given to [`PeerBuilder::tls`](crate::PeerBuilder::tls),
//! and a server takes them with [`ServerBuilder::tls`](crate::ServerBuilder::tls);
//! both are rustls configurations, re-exported here as [`rustls`] so the
//! versions match. The server runs each handshake in the connection's own
//! task, bounded by [`HANDSHAKE_TIMEOUT`], so a slow or silent client never
//! holds up accepting others. With mutual TLS, the certificate chain a client
//! presented becomes its connection's identity ([`ClientCertificates`], read
//! with [`Peer::identity`](crate::Peer::identity)), for an authorize hook to
//! check.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::Transport;

/// How long a server waits for a client's TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The certificate chain a client presented (mutual TLS); the server sets it
/// as the connection's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificates(pub Vec<CertificateDer<'static>>);

pub(crate) async fn connect(
    addrs: &[SocketAddr],
    name: ServerName<'static>,
    config: Arc<rustls::ClientConfig>,
) -> io::Result<Transport> {
    let tcp = super::tcp::connect(addrs).await?;
    let tls = TlsConnector::from(config).connect(name, tcp).await?;
    let (reader, writer) = tokio::io::split(tls);
    Ok(Transport::from_stream(reader, writer))
}

/// Completes a server-side handshake on an accepted TCP stream.
pub(crate) async fn accept(
    tcp: tokio::net::TcpStream,
    acceptor: &TlsAcceptor,
) -> io::Result<(Transport, Option<ClientCertificates>)> {
    let tls = handshake(tcp, acceptor).await?;
    let certificates = client_certificates(&tls);
    let (reader, writer) = tokio::io::split(tls);
    Ok((Transport::from_stream(reader, writer), certificates))
}

/// The chain the client presented in `tls`'s handshake, if it did.
pub(crate) fn client_certificates(
    tls: &tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
) -> Option<ClientCertificates> {
    let chain = tls.get_ref().1.peer_certificates()?;
    Some(ClientCertificates(
        chain.iter().map(|c| c.clone().into_owned()).collect(),
    ))
}

/// The server's side of the handshake, within [`HANDSHAKE_TIMEOUT`].
pub(crate) async fn handshake(
    tcp: tokio::net::TcpStream,
    acceptor: &TlsAcceptor,
) -> io::Result<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
    tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))?
}

/// The acceptor for a server configuration.
pub(crate) fn acceptor(config: Arc<rustls::ServerConfig>) -> TlsAcceptor {
    TlsAcceptor::from(config)
}
