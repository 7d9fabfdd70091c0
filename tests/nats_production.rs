//! NATS as it runs in production, against real nats-servers configured by
//! each test: a seed list whose first server is down, a cluster node lost
//! under load, every kind of credentials (user and password, token, NKey,
//! a `.creds` file of an operator's JWTs), TLS with a CA and a client
//! certificate, subject permissions that authorize namespaces, and event
//! handlers added while connected that are subscribed when the connection
//! comes back.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use dotrpc::{ErrorKind, Peer, Router};
use dotrpc_nats::{ConnectNats, NatsOptions, NatsService, async_nats};
use support::nats::NatsServer;
use support::{bounded, demo};
use tokio::sync::mpsc;

/// An instance of the demo API under `demo`, on `nats`.
async fn instance(nats: impl dotrpc_nats::IntoNatsOptions) -> dotrpc::Result<NatsService> {
    NatsService::builder(Peer::builder().router(demo::router()), "demo")
        .start(nats)
        .await
}

/// A client of `demo` with calls timing out after `timeout`.
async fn client(
    nats: impl dotrpc_nats::IntoNatsOptions,
    timeout: Duration,
) -> dotrpc::Result<Peer> {
    Peer::builder()
        .call_timeout(Some(timeout))
        .connect_nats(nats, "demo")
        .await
}

/// Both sides get in and a call is answered.
async fn works(options: NatsOptions) {
    let service = bounded(instance(&options))
        .await
        .expect("the instance gets in");
    let peer = bounded(client(&options, Duration::from_secs(5)))
        .await
        .expect("the client gets in");
    assert_eq!(bounded(peer.call::<i64>("add", (1, 2))).await.unwrap(), 3);
    peer.close();
    service.drain(Duration::from_secs(1)).await;
}

/// Both sides are refused at once (well within the test's bound, never a
/// hang), with an error whose words include `cause`.
async fn refused(options: NatsOptions, cause: &str) {
    let started = Instant::now();
    let cause = cause.to_lowercase();
    let error = bounded(instance(&options)).await.expect_err("refused");
    let words = format!("{error:?}");
    assert!(words.to_lowercase().contains(&cause), "{words}");
    let error = bounded(client(&options, Duration::from_secs(5)))
        .await
        .expect_err("refused");
    let words = format!("{error:?}");
    assert!(words.to_lowercase().contains(&cause), "{words}");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seed_list_reaches_a_cluster_whose_first_seed_is_down() {
    let Some((urls, b, _c, a)) = NatsServer::cluster() else {
        return;
    };
    // The first seed is down while the instances and the client start.
    let seeds = urls.join(",");
    let instances = [
        bounded(instance(&seeds)).await.unwrap(),
        bounded(instance(&seeds)).await.unwrap(),
    ];
    let timeout = Duration::from_secs(2);
    let peer = bounded(client(&seeds, timeout)).await.unwrap();
    // The cluster's routes may still be forming: a call may find no
    // instance for a moment, never more (bounded).
    let mut ready = false;
    for _ in 0..100 {
        if peer.call::<i64>("add", (1, 2)).await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "no call went through the cluster");
    // The first seed comes up; then the node the instances took their
    // calls through (the first seed that answered) dies under load.
    let a = a.start();
    let stop = Arc::new(AtomicBool::new(false));
    let (answered, timed_out) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load: Vec<_> = (0..8)
        .map(|_| {
            let (peer, stop, answered, timed_out) = (
                peer.clone(),
                stop.clone(),
                answered.clone(),
                timed_out.clone(),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let sent = Instant::now();
                    match peer.call::<u64>("sleep", (20,)).await {
                        Ok(20) => answered.fetch_add(1, Ordering::Relaxed),
                        Ok(other) => panic!("{other}"),
                        Err(error) => {
                            let took = sent.elapsed();
                            // A call in flight on the node that died: by
                            // kind, within its deadline (and a little).
                            assert!(
                                matches!(
                                    error.kind(),
                                    ErrorKind::Timeout | ErrorKind::NoResponders
                                ),
                                "{error}"
                            );
                            assert!(took < timeout + Duration::from_secs(1), "{took:?}");
                            timed_out.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = answered.load(Ordering::Relaxed);
    drop(b);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after_kill = answered.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    for task in load {
        bounded(task).await.unwrap();
    }
    assert!(before > 0, "calls were answered before the kill");
    assert!(
        answered.load(Ordering::Relaxed) > after_kill || after_kill > before,
        "calls are answered after the kill: {before} before, {after_kill} in the 3 s after"
    );
    eprintln!(
        "answered {}, failed by kind {}",
        answered.load(Ordering::Relaxed),
        timed_out.load(Ordering::Relaxed)
    );
    peer.close();
    for instance in instances {
        instance.drain(Duration::from_secs(1)).await;
    }
    drop(a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_and_password_let_in_and_wrong_ones_are_refused_at_once() {
    let dir = NatsServer::scratch();
    let config = "authorization { user: alice, password: s3cret }";
    let Some(nats) = NatsServer::start_configured(dir, config) else {
        return;
    };
    let options = NatsOptions::new(&nats.url).unwrap();
    works(options.clone().user_password("alice", "s3cret")).await;
    // In the URL, as NATS tools write it.
    let port = nats.port();
    works(NatsOptions::new(&format!("nats://alice:s3cret@127.0.0.1:{port}")).unwrap()).await;
    refused(
        options.clone().user_password("alice", "wrong"),
        "Authorization Violation",
    )
    .await;
    refused(options, "Authorization Violation").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_lets_in_and_a_wrong_one_is_refused_at_once() {
    let dir = NatsServer::scratch();
    let Some(nats) = NatsServer::start_configured(dir, "authorization { token: t0ken }") else {
        return;
    };
    let options = NatsOptions::new(&nats.url).unwrap();
    works(options.clone().token("t0ken")).await;
    refused(options.token("other"), "Authorization Violation").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_nkey_lets_in_and_another_is_refused_at_once() {
    let user = nkeys::KeyPair::new_user();
    let config = format!(
        "authorization {{ users: [ {{ nkey: {} }} ] }}",
        user.public_key()
    );
    let Some(nats) = NatsServer::start_configured(NatsServer::scratch(), &config) else {
        return;
    };
    let options = NatsOptions::new(&nats.url).unwrap();
    works(options.clone().nkey_seed(&user.seed().unwrap()).unwrap()).await;
    let stranger = nkeys::KeyPair::new_user().seed().unwrap();
    refused(
        options.nkey_seed(&stranger).unwrap(),
        "Authorization Violation",
    )
    .await;
}

/// A JWT as NATS signs them: header, claims, and the issuer's signature,
/// each URL-safe base64.
fn jwt(issuer: &nkeys::KeyPair, subject: &str, name: &str, nats: serde_json::Value) -> String {
    let encode = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let header = encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "jti": format!("{name}{now}"),
        "iat": now,
        "iss": issuer.public_key(),
        "name": name,
        "sub": subject,
        "nats": nats,
    });
    let claims = encode(claims.to_string().as_bytes());
    let signature = issuer
        .sign(format!("{header}.{claims}").as_bytes())
        .unwrap();
    format!("{header}.{claims}.{}", encode(&signature))
}

/// A `.creds` file's text for a user of `account`.
fn creds(account: &nkeys::KeyPair, user: &nkeys::KeyPair) -> String {
    let user_jwt = jwt(
        account,
        &user.public_key(),
        "app",
        serde_json::json!({"pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1,
                           "type": "user", "version": 2}),
    );
    format!(
        "-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\n\
         -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
        user.seed().unwrap()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creds_file_lets_in_and_one_of_another_account_is_refused_at_once() {
    // Decentralized auth: an operator, an account it signs, users the
    // account signs; the server trusts the operator and knows the account.
    let operator = nkeys::KeyPair::new_operator();
    let account = nkeys::KeyPair::new_account();
    let operator_jwt = jwt(
        &operator,
        &operator.public_key(),
        "dotrpc",
        serde_json::json!({"type": "operator", "version": 2}),
    );
    let limits = serde_json::json!({"subs": -1, "data": -1, "payload": -1, "imports": -1,
        "exports": -1, "wildcards": true, "conn": -1, "leaf": -1});
    let account_jwt = jwt(
        &operator,
        &account.public_key(),
        "billing",
        serde_json::json!({"limits": limits, "default_permissions": {"pub": {}, "sub": {}},
                           "type": "account", "version": 2}),
    );
    let config = format!(
        "operator: {operator_jwt}\nresolver: MEMORY\nresolver_preload: {{\n  {}: {account_jwt}\n}}\n",
        account.public_key()
    );
    let dir = NatsServer::scratch();
    let Some(nats) = NatsServer::start_configured(dir.clone(), &config) else {
        return;
    };
    let file = dir.join("app.creds");
    std::fs::write(&file, creds(&account, &nkeys::KeyPair::new_user())).unwrap();
    let options = NatsOptions::new(&nats.url).unwrap();
    works(options.clone().credentials_file(&file).unwrap()).await;
    // Signed by an account the server does not know.
    let stranger = creds(&nkeys::KeyPair::new_account(), &nkeys::KeyPair::new_user());
    refused(
        options.credentials(&stranger).unwrap(),
        "Authorization Violation",
    )
    .await;
}

/// PEM files of a CA, a server certificate for 127.0.0.1 and a client
/// certificate, written into `dir`.
fn pki(dir: &Path) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    for (name, names) in [
        ("server", vec!["127.0.0.1", "localhost"]),
        ("client", vec!["client.test"]),
    ] {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.into_iter().map(str::to_owned).collect();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{name}-key.pem")), key.serialize_pem()).unwrap();
    }
    // A CA nobody signed with.
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let other = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    std::fs::write(dir.join("other-ca.pem"), other.pem()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_ca_and_a_client_certificate_lets_in_and_anything_less_is_refused() {
    let dir = NatsServer::scratch();
    pki(&dir);
    let at = |file: &str| dir.join(file).display().to_string();
    let config = format!(
        "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  ca_file: \"{}\"\n  verify: true\n  timeout: 2\n}}\n",
        at("server.pem"),
        at("server-key.pem"),
        at("ca.pem")
    );
    let Some(nats) = NatsServer::start_configured(dir.clone(), &config) else {
        return;
    };
    let options = NatsOptions::new(&nats.url).unwrap();
    works(
        options
            .clone()
            .tls_root_certificates(at("ca.pem"))
            .tls_client_certificate(at("client.pem"), at("client-key.pem")),
    )
    .await;
    // A server certificate no root given vouches for.
    refused(
        options
            .clone()
            .tls_root_certificates(at("other-ca.pem"))
            .tls_client_certificate(at("client.pem"), at("client-key.pem")),
        "certificate",
    )
    .await;
    // No client certificate for a server that verifies its clients.
    refused(options.tls_root_certificates(at("ca.pem")), "TLS").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subject_permissions_authorize_namespaces() {
    let config = r#"authorization {
  users: [
    { user: service, password: p }
    { user: mathonly, password: p, permissions: {
        publish: ["demo.math.>"], subscribe: ["_INBOX.>"] } }
    { user: outsider, password: p, permissions: {
        publish: [">"], subscribe: { deny: ["demo.>"] } } }
  ]
}"#;
    let Some(nats) = NatsServer::start_configured(NatsServer::scratch(), config) else {
        return;
    };
    let as_user = |user: &str| {
        NatsOptions::new(&nats.url)
            .unwrap()
            .user_password(user, "p")
    };
    let service = bounded(instance(as_user("service"))).await.unwrap();
    // A client allowed to publish only under demo.math calls math.div and
    // nothing else: the rest is Unauthorized at once, naming the subject.
    let timeout = Duration::from_secs(5);
    let peer = bounded(client(as_user("mathonly"), timeout)).await.unwrap();
    assert_eq!(
        bounded(peer.call::<f64>("math.div", (1.0, 4.0)))
            .await
            .unwrap(),
        0.25
    );
    let started = Instant::now();
    let error = bounded(peer.call::<i64>("add", (1, 2))).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unauthorized, "{error}");
    assert!(error.to_string().contains("demo.add"), "{error}");
    assert!(started.elapsed() < timeout / 2, "{:?}", started.elapsed());
    // Calls it may make still work afterwards.
    assert_eq!(
        bounded(peer.call::<f64>("math.stats.mean", (vec![1.0, 2.0, 6.0],)))
            .await
            .unwrap(),
        3.0
    );
    peer.close();
    // An instance that may not subscribe to its prefix does not start.
    let error = bounded(instance(as_user("outsider")))
        .await
        .expect_err("refused");
    let words = format!("{error:?}");
    assert!(words.contains("Permissions Violation"), "{words}");
    assert!(words.contains("demo.>"), "{words}");
    service.drain(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_handlers_added_while_connected_are_subscribed_when_the_connection_comes_back() {
    let Some(mut nats) = NatsServer::start() else {
        return;
    };
    let router = Arc::new(Router::new());
    let (seen, mut events) = mpsc::unbounded_channel();
    let first = seen.clone();
    router.set_handler("events.first", move |n: u64| {
        let seen = first.clone();
        async move {
            let _ = seen.send(("first", n));
        }
    });
    let peer = Peer::builder()
        .router(Arc::clone(&router))
        .connect_nats(&nats.url, "demo")
        .await
        .unwrap();
    // A handler added after connecting.
    router.set_handler("events.late", move |n: u64| {
        let seen = seen.clone();
        async move {
            let _ = seen.send(("late", n));
        }
    });
    nats.pause();
    nats.resume();
    let publisher = async_nats::connect(&nats.url).await.unwrap();
    let mut push_header = async_nats::HeaderMap::new();
    push_header.insert("Dotrpc-Push", "1");
    // Published until both arrive (bounded): the client is back and
    // subscribed to both.
    let mut got = Vec::new();
    for n in 0..100u64 {
        for path in ["first", "late"] {
            publisher
                .publish_with_headers(
                    format!("demo.events.{path}"),
                    push_header.clone(),
                    // `[n]`: a msgpack array of one small integer.
                    vec![0x91, n as u8].into(),
                )
                .await
                .unwrap();
        }
        publisher.flush().await.unwrap();
        while let Ok(Some((path, _))) =
            tokio::time::timeout(Duration::from_millis(50), events.recv()).await
        {
            if !got.contains(&path) {
                got.push(path);
            }
        }
        if got.len() == 2 {
            break;
        }
    }
    got.sort_unstable();
    assert_eq!(got, ["first", "late"]);
    peer.close();
}
