//! The server side of connections: a handle per client from `on_connect`,
//! calls from server to client, broadcast to every client (by path, or typed
//! through the API the clients serve), and clients forgotten as soon as they
//! leave.

mod support;

use std::future::IntoFuture;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dotrpc::{Group, Peer, Router, Server, rpc_api};
use support::{bounded, demo};
use tokio::sync::mpsc;

/// A client that serves `whoami` and forwards `news` notifications.
async fn client(server: &Server, name: &'static str) -> (Peer, mpsc::UnboundedReceiver<String>) {
    let (news, received) = mpsc::unbounded_channel();
    let router = Arc::new(Router::new());
    router.set_handler("whoami", move || async move { name });
    router.set_handler("news", move |line: String| {
        let news = news.clone();
        async move {
            let _ = news.send(line);
        }
    });
    // One handler at a time, so notifications are seen in the order sent.
    let peer = Peer::builder()
        .router(router)
        .max_concurrent_handlers(1)
        .connect(support::addr(server))
        .await
        .unwrap();
    (peer, received)
}

async fn wait_for_connections(server: &Server, n: usize) {
    bounded(async {
        while server.connection_count() != n {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn on_connect_hands_the_server_a_peer_to_call_the_client() {
    let (connected, mut arrivals) = mpsc::unbounded_channel();
    let server = Server::builder(Peer::builder().router(demo::router()))
        .on_connect(move |peer| {
            let _ = connected.send(peer.clone());
        })
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let (alice, _) = client(&server, "alice").await;
    let to_alice = bounded(arrivals.recv()).await.unwrap();
    assert_eq!(
        bounded(to_alice.call::<String>("whoami", ()))
            .await
            .unwrap(),
        "alice"
    );
    alice.close();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn broadcast_reaches_every_client_and_departed_clients_are_forgotten() {
    let server = support::tcp_server(demo::router()).await;
    let (alice, mut alice_news) = client(&server, "alice").await;
    let (bob, mut bob_news) = client(&server, "bob").await;
    wait_for_connections(&server, 2).await;

    assert_eq!(server.notify("news", ("hello all",)).send().unwrap(), 2);
    assert_eq!(bounded(alice_news.recv()).await.unwrap(), "hello all");
    assert_eq!(bounded(bob_news.recv()).await.unwrap(), "hello all");

    drop(bob);
    wait_for_connections(&server, 1).await;
    assert_eq!(server.notify("news", ("just you",)).send().unwrap(), 1);
    assert_eq!(bounded(alice_news.recv()).await.unwrap(), "just you");

    let names: Vec<String> = {
        let mut names = Vec::new();
        for peer in server.connections() {
            names.push(bounded(peer.call::<String>("whoami", ())).await.unwrap());
        }
        names
    };
    assert_eq!(names, vec!["alice".to_string()]);
    alice.close();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn dropping_the_last_handle_closes_the_connection_and_reports_it() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&events);
    let server = support::tcp_server(demo::router()).await;
    let peer = Peer::builder()
        .on_event(move |event| seen.lock().unwrap().push(event.clone()))
        .connect(support::addr(&server))
        .await
        .unwrap();
    wait_for_connections(&server, 1).await;
    let closed = peer.closed();
    drop(peer);
    assert_eq!(
        bounded(closed).await,
        dotrpc::error::DisconnectReason::Closed
    );
    wait_for_connections(&server, 0).await;
    assert_eq!(
        *events.lock().unwrap(),
        vec![
            dotrpc::peer::ConnectionEvent::Connecting,
            dotrpc::peer::ConnectionEvent::Connected,
            dotrpc::peer::ConnectionEvent::Disconnected {
                reason: dotrpc::error::DisconnectReason::Closed
            }
        ]
    );
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_group_notifies_its_members_and_forgets_those_who_leave() {
    let group = dotrpc::Group::new();
    let (joined, mut members) = mpsc::unbounded_channel();
    let server = Server::builder(Peer::builder().router(demo::router()))
        .on_connect(move |peer| {
            let _ = joined.send(peer.clone());
        })
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let (alice, mut alice_news) = client(&server, "alice").await;
    let (bob, mut bob_news) = client(&server, "bob").await;
    for _ in 0..2 {
        assert!(group.insert(&bounded(members.recv()).await.unwrap()));
    }
    assert_eq!(group.len(), 2);

    assert_eq!(group.notify("news", ("to the group",)).send().unwrap(), 2);
    assert_eq!(bounded(alice_news.recv()).await.unwrap(), "to the group");
    assert_eq!(bounded(bob_news.recv()).await.unwrap(), "to the group");

    bob.close();
    bounded(async {
        while group.len() != 1 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    assert_eq!(group.notify("news", ("fewer",)).send().unwrap(), 1);
    assert_eq!(bounded(alice_news.recv()).await.unwrap(), "fewer");
    alice.close();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn broadcasting_while_clients_leave_reaches_everyone_who_stays() {
    let server = Arc::new(support::tcp_server(demo::router()).await);
    let mut staying = Vec::new();
    let mut leaving = Vec::new();
    for i in 0..20 {
        let (peer, news) = client(&server, "someone").await;
        if i % 2 == 0 {
            staying.push((peer, news))
        } else {
            leaving.push(peer)
        }
    }
    wait_for_connections(&server, 20).await;

    let broadcaster = Arc::clone(&server);
    let broadcasts = tokio::spawn(async move {
        for i in 0..200 {
            broadcaster.notify("news", (i.to_string(),)).send().unwrap();
            if i % 10 == 0 {
                tokio::task::yield_now().await;
            }
        }
    });
    // Half the clients leave while the broadcasts go out.
    for peer in leaving {
        peer.close();
        tokio::task::yield_now().await;
    }
    bounded(broadcasts).await.unwrap();

    for (_, news) in &mut staying {
        for i in 0..200 {
            assert_eq!(bounded(news.recv()).await.unwrap(), i.to_string());
        }
    }
    wait_for_connections(&server, 10).await;
    for (peer, _) in &staying {
        peer.close();
    }
    let server = Arc::try_unwrap(server).expect("no other handle");
    server.shutdown(Duration::from_secs(1)).await;
    drop(staying);
    support::no_tasks_left().await;
}

#[tokio::test]
async fn serve_until_serves_until_the_signal_and_lets_running_calls_answer() {
    let server = support::tcp_server(demo::router()).await;
    let peer = dotrpc::connect(support::addr(&server)).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve_until(
        async {
            let _ = stopped.await;
        },
        Duration::from_secs(5),
    ));
    assert_eq!(bounded(peer.call::<i64>("add", (1, 2))).await.unwrap(), 3);
    // A call is running when the signal comes: it still gets its answer.
    let running = tokio::spawn(peer.call::<u64>("sleep", (100,)).into_future());
    tokio::time::sleep(Duration::from_millis(20)).await;
    stop.send(()).unwrap();
    assert_eq!(bounded(running).await.unwrap().unwrap(), 100);
    bounded(serving).await.unwrap();
    assert!(bounded(peer.closed()).await == dotrpc::error::DisconnectReason::Eof);
    support::no_tasks_left().await;
}

#[tokio::test]
async fn a_server_takes_listeners_the_caller_bound() {
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let server = Server::builder(Peer::builder().router(demo::router()))
        .listen(tcp, dotrpc::transport::Scheme::Tcp)
        .unwrap();
    assert_eq!(support::addr(&server), addr);
    let peer = dotrpc::connect(addr).await.unwrap();
    assert_eq!(bounded(peer.call::<i64>("add", (2, 2))).await.unwrap(), 4);
    peer.close();
    server.shutdown(Duration::from_secs(1)).await;

    let dir = std::env::temp_dir().join(format!("dotrpc-listen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bound.sock");
    let _ = std::fs::remove_file(&path);
    let unix = tokio::net::UnixListener::bind(&path).unwrap();
    let server = Server::builder(Peer::builder().router(demo::router()))
        .listen_unix(unix)
        .unwrap();
    assert_eq!(
        server.local_addr(),
        &dotrpc::transport::ListenAddr::Unix(path.clone())
    );
    let peer = Peer::builder()
        .connect(dotrpc::Address::unix(&path))
        .await
        .unwrap();
    assert_eq!(bounded(peer.call::<i64>("add", (3, 3))).await.unwrap(), 6);
    peer.close();
    server.shutdown(Duration::from_secs(1)).await;
    assert!(!path.exists(), "the socket file goes with the server");
    let _ = std::fs::remove_dir(&dir);
}

/// What the clients of the typed broadcast test serve.
#[rpc_api(namespace = "feed")]
pub trait Feed {
    /// A news line.
    #[rpc(event)]
    async fn news(&self, line: String);
    /// The client's name: a call, which broadcasts do not have.
    async fn name(&self) -> String;
    /// Notices, nested.
    #[rpc(nested)]
    fn ui(&self) -> &impl Ui;
}

/// Nested events.
#[rpc_api]
pub trait Ui {
    /// A notice on a topic.
    #[rpc(event)]
    async fn notice(&self, topic: String, text: String);
}

struct Reader {
    name: &'static str,
    heard: mpsc::UnboundedSender<String>,
}

impl Feed for Reader {
    type Ui = Reader;
    async fn news(&self, line: String) {
        let _ = self.heard.send(line);
    }
    async fn name(&self) -> String {
        self.name.into()
    }
    fn ui(&self) -> &Reader {
        self
    }
}

impl Ui for Reader {
    async fn notice(&self, topic: String, text: String) {
        let _ = self.heard.send(format!("{topic}: {text}"));
    }
}

#[tokio::test]
async fn typed_events_reach_every_member_of_a_group_and_every_client_of_a_server() {
    let (joined, mut arrivals) = mpsc::unbounded_channel();
    let server = Server::builder(Peer::builder())
        .on_connect(move |peer| {
            let _ = joined.send(peer.clone());
        })
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut readers = Vec::new();
    for name in ["alice", "bob", "carol"] {
        let (heard, hears) = mpsc::unbounded_channel();
        let peer = Peer::builder()
            .serve(FeedService(Reader { name, heard }))
            .max_concurrent_handlers(1)
            .connect(support::addr(&server))
            .await
            .unwrap();
        readers.push((peer, hears));
    }
    // Alice and Bob join the group; Carol does not.
    let group = Group::new();
    for _ in 0..3 {
        let to_client = bounded(arrivals.recv()).await.unwrap();
        let name: String = bounded(to_client.client::<FeedClient>().name())
            .await
            .unwrap();
        if name != "carol" {
            group.insert(&to_client);
        }
    }

    let room = group.broadcast::<FeedClient>();
    assert_eq!(room.news("to the group".into()).send().unwrap(), 2);
    assert_eq!(
        bounded(room.ui.notice("x".into(), "nested".into()))
            .await
            .unwrap(),
        2
    );
    let everyone = server.broadcast::<FeedClient>();
    assert_eq!(bounded(everyone.news("to all".into())).await.unwrap(), 3);

    for (i, (_, hears)) in readers.iter_mut().enumerate() {
        let mut expected = vec!["to the group", "x: nested", "to all"];
        if i == 2 {
            expected.drain(..2);
        }
        for line in expected {
            assert_eq!(bounded(hears.recv()).await.unwrap(), line, "reader {i}");
        }
    }
    for (peer, _) in &readers {
        peer.close();
    }
    server.shutdown(Duration::from_secs(1)).await;
}

/// A call already waiting when a peer is made over a connection (a client
/// that writes at once, as every client does) is answered: the connection
/// starts reading only once its peer is whole. It used to start a moment
/// before, and a call read in that moment was dropped unanswered (found by
/// a rolling upgrade over NATS, where a new instance takes the calls queued
/// for it as it starts). The peers are made from a plain thread, as
/// `#[tokio::main]` code makes them, so that an idle worker runs the
/// connection at once; many of them, each with its call already waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_waiting_when_its_peer_is_made_is_answered() {
    use tokio::io::AsyncWriteExt;
    let router = Arc::new(Router::new());
    router.set_handler("add", |a: i64, b: i64| async move { a + b });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let request = dotrpc::Value::Array(vec![
        0.into(),
        7.into(),
        "add".into(),
        vec![dotrpc::Value::from(1), 2.into()].into(),
    ]);
    let mut bytes = Vec::new();
    rmpv::encode::write_value(&mut bytes, &request).unwrap();
    let runtime = tokio::runtime::Handle::current();
    for attempt in 0..300 {
        let mut client = tokio::net::TcpStream::connect(address).await.unwrap();
        client.write_all(&bytes).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        let (router, runtime) = (Arc::clone(&router), runtime.clone());
        let server = std::thread::spawn(move || {
            let _entered = runtime.enter();
            let (reader, writer) = accepted.into_split();
            Peer::builder()
                .router(router)
                .spawn(dotrpc::transport::Transport::from_stream(reader, writer))
        })
        .join()
        .unwrap();
        // The server speaks only when spoken to: its one message is the
        // answer (a call never answered fails the bound).
        let answer = support::read_messages(&mut client, 1).await.remove(0);
        assert_eq!(
            answer,
            dotrpc::Value::Array(vec![1.into(), 7.into(), dotrpc::Value::Nil, 3.into()]),
            "attempt {attempt}"
        );
        server.close();
    }
}
