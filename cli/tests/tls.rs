//! The `dotrpc` binary over `tls://` and `wss://`: whom it trusts (`--ca`),
//! the name it verifies (`--server-name`), its own certificate for servers
//! that ask (`--cert`, `--key`), and options that do not fit the address.
//! Certificates are made at run time (a CA, a server's, a client's) and
//! written as PEM files, as a user would have them.

#[allow(dead_code)]
mod binary;
#[path = "../../examples/demo_server/api.rs"]
#[allow(dead_code, unreachable_pub)]
mod demo;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use binary::run;
use dotrpc::transport::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use dotrpc::transport::tls::rustls::server::WebPkiClientVerifier;
use dotrpc::transport::tls::rustls::{RootCertStore, ServerConfig};
use dotrpc::transport::websocket::Origins;
use dotrpc::{Peer, Server};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tokio::runtime::Runtime;

/// A CA, a server certificate for `localhost` and `127.0.0.1`, and a
/// client certificate, as PEM files in a folder of their own (removed when
/// dropped).
struct Pki {
    dir: PathBuf,
    ca: CertificateDer<'static>,
    server: (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>),
}

impl Pki {
    fn new(name: &str) -> Pki {
        let dir =
            std::env::temp_dir().join(format!("dotrpc-cli-tls-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        let issue = |names: &[&str], file: &str| {
            let key = KeyPair::generate().unwrap();
            let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
            let cert = CertificateParams::new(names)
                .unwrap()
                .signed_by(&key, &ca)
                .unwrap();
            std::fs::write(dir.join(format!("{file}.pem")), cert.pem()).unwrap();
            std::fs::write(dir.join(format!("{file}-key.pem")), key.serialize_pem()).unwrap();
            let der = PrivateKeyDer::try_from(key.serialize_der()).unwrap();
            (vec![cert.der().clone()], der)
        };
        let server = issue(&["localhost", "127.0.0.1"], "server");
        issue(&["client.test"], "client");
        Pki {
            ca: ca.der().clone(),
            server,
            dir,
        }
    }

    fn file(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// The server's configuration; with `mutual`, it asks for a client
    /// certificate this CA signed.
    fn server_config(&self, mutual: bool) -> Arc<ServerConfig> {
        let builder = ServerConfig::builder();
        let builder = if mutual {
            let mut roots = RootCertStore::empty();
            roots.add(self.ca.clone()).unwrap();
            let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
                .build()
                .unwrap();
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let (chain, key) = &self.server;
        Arc::new(
            builder
                .with_single_cert(chain.clone(), key.clone_key())
                .unwrap(),
        )
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The demo API over TLS (`scheme` `tls` or `wss`) on its own runtime;
/// shut down when dropped.
struct TlsServer {
    runtime: Runtime,
    server: Option<Server>,
    addr: String,
}

impl TlsServer {
    fn start(pki: &Pki, scheme: &str, mutual: bool) -> TlsServer {
        let runtime = Runtime::new().unwrap();
        let builder = Server::builder(Peer::builder().router(demo::router()))
            .tls(pki.server_config(mutual))
            .origins(Origins::same_origin());
        let server = runtime
            .block_on(builder.bind(match scheme {
                "wss" => "wss://127.0.0.1:0/",
                _ => "tls://127.0.0.1:0",
            }))
            .unwrap();
        let addr = server.local_addr().to_string();
        TlsServer {
            runtime,
            server: Some(server),
            addr,
        }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.runtime
                .block_on(server.shutdown(Duration::from_secs(1)));
        }
    }
}

#[test]
fn calls_go_over_tls_and_wss_to_a_server_the_ca_vouches_for() {
    let pki = Pki::new("trusted");
    let ca = pki.file("ca.pem");
    for scheme in ["tls", "wss"] {
        let server = TlsServer::start(&pki, scheme, false);
        let a = server.addr.as_str();
        assert!(a.starts_with(&format!("{scheme}://127.0.0.1:")), "{a}");
        assert_eq!(
            run(&["call", a, "add", "40", "2", "--ca", &ca]),
            (0, "42\n".to_owned(), String::new())
        );
        // The certificate also names localhost; any name it holds will do.
        let named = ["--ca", &ca, "--server-name", "localhost"];
        assert_eq!(
            run(&[&["call", a, "add", "1", "2"][..], &named].concat()).1,
            "3\n"
        );
    }
}

#[test]
fn a_server_the_client_cannot_verify_is_refused_saying_why() {
    let pki = Pki::new("refused");
    let server = TlsServer::start(&pki, "tls", false);
    let a = server.addr.as_str();

    // Another CA, and a name the certificate does not hold.
    let other = Pki::new("other");
    let (status, out, err) = run(&["call", a, "add", "1", "2", "--ca", &other.file("ca.pem")]);
    assert_eq!((status, out.as_str()), (3, ""), "{err}");
    assert!(err.contains("certificate"), "{err}");
    let wrong_name = [
        "--ca",
        &pki.file("ca.pem"),
        "--server-name",
        "elsewhere.test",
    ];
    let (status, _, err) = run(&[&["call", a, "add", "1", "2"][..], &wrong_name].concat());
    assert_eq!(status, 3, "{err}");
    assert!(err.contains("certificate"), "{err}");
}

#[test]
fn a_server_that_asks_for_a_client_certificate_gets_one_from_cert_and_key() {
    let pki = Pki::new("mutual");
    let server = TlsServer::start(&pki, "tls", true);
    let a = server.addr.as_str();
    let ca = pki.file("ca.pem");

    let (cert, key) = (pki.file("client.pem"), pki.file("client-key.pem"));
    let with_identity = ["--ca", &ca, "--cert", &cert, "--key", &key];
    assert_eq!(
        run(&[&["call", a, "add", "2", "3"][..], &with_identity].concat()).1,
        "5\n"
    );
    let (status, out, err) = run(&["call", a, "add", "2", "3", "--ca", &ca]);
    assert_eq!((status, out.as_str()), (3, ""), "without one: {err}");
}

#[test]
fn tls_options_that_do_not_fit_are_usage_errors() {
    let pki = Pki::new("usage");
    let ca = pki.file("ca.pem");

    // Options for an address without TLS: a typo in the scheme must not
    // become a plain-text connection.
    let (status, _, err) = run(&["call", "127.0.0.1:9", "add", "1", "2", "--ca", &ca]);
    assert_eq!(status, 2, "{err}");
    assert!(err.contains("are for tls:// and wss:// addresses"), "{err}");

    let missing = pki.file("missing.pem");
    let (status, _, err) = run(&["call", "tls://127.0.0.1:9", "add", "1", "--ca", &missing]);
    assert_eq!(status, 2, "{err}");
    assert!(
        err.contains("cannot read") && err.contains("missing.pem"),
        "{err}"
    );

    // A key file is no certificate.
    let not_a_cert = pki.file("client-key.pem");
    let (status, _, err) = run(&["call", "tls://127.0.0.1:9", "add", "1", "--ca", &not_a_cert]);
    assert_eq!(status, 2, "{err}");
    assert!(err.contains("holds no PEM certificate"), "{err}");

    // --cert needs --key.
    let (status, _, err) = run(&["call", "tls://127.0.0.1:9", "add", "--cert", &ca]);
    assert_eq!(status, 2, "{err}");
    assert!(err.contains("--key"), "{err}");
}
