//! TLS for `tls://` and `wss://` addresses: whom to trust (`--ca`, or the
//! system's roots), the name the server's certificate must carry
//! (`--server-name`, when the address is an IP or another name), and this
//! client's own certificate for servers that ask for one (`--cert`,
//! `--key`). Other addresses refuse these options, so a typo in the scheme
//! is not a silent plain-text connection.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use dotrpc::transport::tls::rustls::pki_types::pem::PemObject;
use dotrpc::transport::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use dotrpc::transport::tls::rustls::{ClientConfig, RootCertStore};
use dotrpc::{Address, PeerBuilder};

/// How to speak TLS to the peer.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct TlsArgs {
    /// For tls:// and wss://: the CA certificates (PEM) that vouch for the
    /// server, instead of the system's.
    #[arg(long, value_name = "PEM")]
    ca: Option<PathBuf>,
    /// For tls:// and wss://: verify the server's certificate as NAME rather
    /// than as the address's host.
    #[arg(long, value_name = "NAME")]
    server_name: Option<String>,
    /// For tls:// and wss://: this client's certificate chain (PEM), for
    /// servers that ask for one; with --key.
    #[arg(long, value_name = "PEM", requires = "key")]
    cert: Option<PathBuf>,
    /// The private key (PEM) of --cert.
    #[arg(long, value_name = "PEM", requires = "cert")]
    key: Option<PathBuf>,
}

impl TlsArgs {
    /// Sets `builder` up to reach `address`: a client configuration for a
    /// TLS address.
    ///
    /// # Errors
    ///
    /// What is wrong with the options, in words: a file that cannot be
    /// read or holds no certificate or key, no trusted roots at all, or
    /// options given for an address without TLS.
    pub(crate) fn apply(
        &self,
        address: &Address,
        builder: PeerBuilder,
    ) -> Result<PeerBuilder, String> {
        if !matches!(address, Address::Tls(_) | Address::Wss(_)) {
            let given = self.ca.is_some() || self.server_name.is_some() || self.cert.is_some();
            return if given {
                Err(format!(
                    "--ca, --server-name, --cert and --key are for tls:// and wss:// \
                     addresses, not {address}"
                ))
            } else {
                Ok(builder)
            };
        }
        let builder = builder.tls(Arc::new(self.client_config()?));
        Ok(match &self.server_name {
            Some(name) => builder.tls_server_name(name),
            None => builder,
        })
    }

    fn client_config(&self) -> Result<ClientConfig, String> {
        let mut roots = RootCertStore::empty();
        match &self.ca {
            Some(path) => {
                for certificate in certificates(path)? {
                    roots
                        .add(certificate)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                }
            }
            None => {
                let (added, _) =
                    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
                if added == 0 {
                    return Err(
                        "no CA certificates found on this system: give the server's with --ca"
                            .to_owned(),
                    );
                }
            }
        }
        let config = ClientConfig::builder().with_root_certificates(roots);
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => config
                .with_client_auth_cert(certificates(cert)?, private_key(key)?)
                .map_err(|e| format!("--cert and --key: {e}")),
            _ => Ok(config.with_no_client_auth()),
        }
    }
}

/// The certificates in the PEM file at `path`: at least one.
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let unreadable = |e: &dyn std::fmt::Display| format!("cannot read {}: {e}", path.display());
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|e| unreadable(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unreadable(&e))?;
    if certificates.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(certificates)
}

/// The private key in the PEM file at `path`.
fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| format!("cannot read a private key from {}: {e}", path.display()))
}
