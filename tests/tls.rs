//! TLS on rustls: certificates are made at run time (a CA, a server
//! certificate for `localhost`, a client certificate); a client refuses a
//! server it does not trust; with mutual TLS the client's certificate chain
//! is its connection's identity, which an authorize hook can require.

mod support;

use std::sync::Arc;
use std::time::Duration;

use dotrpc::transport::Scheme;
use dotrpc::transport::tls::ClientCertificates;
use dotrpc::transport::tls::rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer,
};
use dotrpc::transport::tls::rustls::server::WebPkiClientVerifier;
use dotrpc::transport::tls::rustls::{ClientConfig, RootCertStore, ServerConfig};
use dotrpc::{ErrorKind, Peer, Server, handler::ErrorObject};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use support::{bounded, demo};

/// A certificate and its key.
struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

struct Pki {
    ca: CertificateDer<'static>,
    server: Identity,
    client: Identity,
}

fn pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let issue = |names: &[&str]| {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        Identity {
            chain: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        }
    };
    Pki {
        ca: ca.der().clone(),
        // By name, and by address for URLs that name 127.0.0.1.
        server: issue(&["localhost", "127.0.0.1"]),
        client: issue(&["client.test"]),
    }
}

fn roots(ca: &CertificateDer<'static>) -> Arc<RootCertStore> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    Arc::new(roots)
}

fn server_config(pki: &Pki, mutual: bool) -> Arc<ServerConfig> {
    let builder = ServerConfig::builder();
    let builder = if mutual {
        builder.with_client_cert_verifier(
            WebPkiClientVerifier::builder(roots(&pki.ca))
                .build()
                .unwrap(),
        )
    } else {
        builder.with_no_client_auth()
    };
    Arc::new(
        builder
            .with_single_cert(pki.server.chain.clone(), pki.server.key.clone_key())
            .unwrap(),
    )
}

fn client_config(
    trusted: &CertificateDer<'static>,
    identity: Option<&Identity>,
) -> Arc<ClientConfig> {
    let builder = ClientConfig::builder().with_root_certificates(roots(trusted));
    Arc::new(match identity {
        Some(identity) => builder
            .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
            .unwrap(),
        None => builder.with_no_client_auth(),
    })
}

#[tokio::test]
async fn calls_go_over_tls_to_a_trusted_server() {
    let pki = pki();
    let server = Server::builder(Peer::builder().router(demo::router()))
        .tls(server_config(&pki, false))
        .bind("tls://127.0.0.1:0")
        .await
        .unwrap();
    let peer = Peer::builder()
        .tls(client_config(&pki.ca, None))
        .tls_server_name("localhost")
        .connect(server.local_addr())
        .await
        .unwrap();
    assert_eq!(bounded(peer.call::<i64>("add", (40, 2))).await.unwrap(), 42);
    let blob = dotrpc::Value::Binary(vec![9; 200_000]);
    assert_eq!(
        bounded(peer.call::<dotrpc::Value>("echo", (blob.clone(),)))
            .await
            .unwrap(),
        blob
    );
    peer.close();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn calls_go_over_websocket_on_tls_to_a_trusted_server() {
    use dotrpc::transport::websocket::Origins;

    let pki = pki();
    let server = Server::builder(Peer::builder().router(demo::router()))
        .tls(server_config(&pki, false))
        .origins(Origins::same_origin())
        .bind("wss://127.0.0.1:0/")
        .await
        .unwrap();
    let url = format!("wss://{}/rpc", support::addr(&server));
    let peer = Peer::builder()
        .tls(client_config(&pki.ca, None))
        .connect(&url)
        .await
        .unwrap();
    assert_eq!(bounded(peer.call::<i64>("add", (40, 2))).await.unwrap(), 42);
    peer.close();

    // A server it does not trust, and a plain ws:// URL, are refused.
    let other = self::pki();
    let untrusted = Peer::builder()
        .tls(client_config(&other.ca, None))
        .connect(&url)
        .await
        .unwrap_err();
    assert_eq!(untrusted.kind(), ErrorKind::Transport, "{untrusted}");
    let plain = format!("ws://{}/rpc", support::addr(&server));
    let refused = Peer::builder()
        .tls(client_config(&pki.ca, None))
        .connect(&plain)
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Transport, "{refused}");
    server.shutdown(Duration::from_secs(1)).await;
}

/// A TLS address needs a TLS configuration, on both sides: asked for
/// without one, it says so rather than speaking plain TCP.
#[tokio::test]
async fn a_tls_address_without_a_configuration_says_what_is_missing() {
    let refused = Peer::builder()
        .connect("tls://127.0.0.1:9")
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Transport);
    assert!(
        support::chain(&refused).contains("PeerBuilder::tls(config)"),
        "{refused}"
    );
    let refused = Server::builder(Peer::builder())
        .bind("wss://127.0.0.1:0/")
        .await
        .unwrap_err();
    assert!(
        support::chain(&refused).contains("ServerBuilder::tls(config)"),
        "{refused}"
    );
}

#[tokio::test]
async fn a_client_refuses_a_server_it_does_not_trust() {
    let pki = pki();
    let other = self::pki();
    let server = Server::builder(Peer::builder().router(demo::router()))
        .tls(server_config(&pki, false))
        .bind("tls://127.0.0.1:0")
        .await
        .unwrap();
    let refused = Peer::builder()
        .tls(client_config(&other.ca, None))
        .tls_server_name("localhost")
        .connect(server.local_addr())
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Transport);
    let cause = std::error::Error::source(&refused)
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(cause.contains("certificate"), "{cause}");

    // The name matters too: the certificate is for `localhost`.
    let wrong_name = Peer::builder()
        .tls(client_config(&pki.ca, None))
        .tls_server_name("example.test")
        .connect(server.local_addr())
        .await;
    assert!(wrong_name.is_err());
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn with_mutual_tls_the_client_certificate_is_the_connection_identity() {
    let pki = pki();
    let template = Peer::builder()
        .router(demo::router())
        .authorize(|ctx| match ctx.peer().identity::<ClientCertificates>() {
            Some(chain) if !chain.0.is_empty() => Ok(()),
            _ => Err(ErrorObject::unauthorized(
                "a client certificate is required",
            )),
        });
    let server = Server::builder(template)
        .tls(server_config(&pki, true))
        .bind("tls://127.0.0.1:0")
        .await
        .unwrap();

    let with_cert = Peer::builder()
        .tls(client_config(&pki.ca, Some(&pki.client)))
        .tls_server_name("localhost")
        .connect(server.local_addr())
        .await
        .unwrap();
    assert_eq!(
        bounded(with_cert.call::<i64>("add", (1, 2))).await.unwrap(),
        3
    );
    let chain = server.connections()[0]
        .identity::<ClientCertificates>()
        .unwrap();
    assert_eq!(chain.0, pki.client.chain);

    // Without a certificate the handshake is refused (at once, or at the
    // first exchange under TLS 1.3): no call can succeed.
    let without = Peer::builder()
        .tls(client_config(&pki.ca, None))
        .tls_server_name("localhost")
        .connect(server.local_addr())
        .await;
    if let Ok(peer) = without {
        let call = bounded(
            peer.call::<i64>("add", (1, 2))
                .timeout(Duration::from_secs(5)),
        )
        .await;
        assert!(call.is_err(), "{call:?}");
    }
    with_cert.close();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn with_mutual_tls_a_websocket_client_certificate_is_the_connection_identity() {
    use dotrpc::transport::websocket::Origins;

    let pki = pki();
    // On a listener bound beforehand, as a caller choosing its own backlog would.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = Server::builder(Peer::builder().router(demo::router()))
        .tls(server_config(&pki, true))
        .origins(Origins::same_origin())
        .listen(listener, Scheme::Wss)
        .unwrap();
    let url = format!("wss://{}/rpc", support::addr(&server));
    let peer = Peer::builder()
        .tls(client_config(&pki.ca, Some(&pki.client)))
        .connect(&url)
        .await
        .unwrap();
    assert_eq!(bounded(peer.call::<i64>("add", (1, 2))).await.unwrap(), 3);
    let chain = server.connections()[0]
        .identity::<ClientCertificates>()
        .unwrap();
    assert_eq!(chain.0, pki.client.chain);
    peer.close();
    server.shutdown(Duration::from_secs(1)).await;
}
