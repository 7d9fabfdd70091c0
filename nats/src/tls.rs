//! TLS for the intake's connection (async-nats makes its own from the same
//! [`NatsOptions`](super::NatsOptions)): NATS servers send their INFO in the
//! clear, then the client upgrades the connection; the server's certificate
//! is checked against the roots given, or the system's.

use std::io;
use std::path::Path;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

use super::options::Tls;

/// A connection's byte stream, plain or TLS.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// Upgrades `stream` to TLS with the server named `host`.
///
/// # Errors
///
/// `InvalidInput` for certificates or keys that cannot be read (naming the
/// file), `InvalidData` when the handshake fails (a certificate the roots
/// do not vouch for, a client certificate the server refuses).
pub(crate) async fn connect(stream: Box<dyn Io>, host: &str, tls: &Tls) -> io::Result<Box<dyn Io>> {
    let config = client_config(tls)?;
    let name = ServerName::try_from(host.to_owned()).map_err(|error| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{host}` cannot be a TLS server name: {error}"),
        )
    })?;
    let stream = TlsConnector::from(Arc::new(config))
        .connect(name, stream)
        .await
        .map_err(|error| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("TLS to the NATS server at {host} failed: {error}"),
            )
        })?;
    Ok(Box::new(stream))
}

fn client_config(tls: &Tls) -> io::Result<ClientConfig> {
    let mut roots = RootCertStore::empty();
    if tls.roots.is_empty() {
        for cert in rustls_native_certs::load_native_certs().certs {
            // A system certificate rustls cannot use is not ours to refuse.
            let _ = roots.add(cert);
        }
    }
    for file in &tls.roots {
        for cert in certificates(file)? {
            roots.add(cert).map_err(|error| unreadable(file, &error))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_root_certificates(roots);
    match &tls.client {
        None => Ok(builder.with_no_client_auth()),
        Some((chain, key)) => {
            let chain = certificates(chain)?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|error| unreadable(key, &error))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))
        }
    }
}

fn certificates(file: &Path) -> io::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(file)
        .map_err(|error| unreadable(file, &error))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| unreadable(file, &error))?;
    if certs.is_empty() {
        return Err(unreadable(file, &"no certificate in it"));
    }
    Ok(certs)
}

fn unreadable(file: &Path, error: &dyn std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("cannot use {}: {error}", file.display()),
    )
}
