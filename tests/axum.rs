//! A dotrpc server mounted as a route of an axum application (feature
//! `axum`): the route serves WebSocket connections as the server's own
//! (calls both ways, events, broadcast, the connection limit, shutdown)
//! next to the application's other routes, checks the page's `Origin`
//! before it upgrades, and a client that sends what is not msgpack-rpc
//! loses only its own connection.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::get;
use dotrpc::transport::websocket::Origins;
use dotrpc::{Peer, Server, error::DisconnectReason, transport::ListenAddr};
use futures_util::SinkExt;
use support::{bounded, client_builder, exercise, scenario};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

/// An axum application on 127.0.0.1 with `/rpc` upgraded to connections
/// of `server` and a page at `/`; stopped (and awaited) by [`App::stop`].
struct App {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl App {
    async fn start(upgrade: dotrpc::axum::Upgrade) -> App {
        let app = axum::Router::new()
            .route("/rpc", get(upgrade))
            .route("/", get(|| async { "the page" }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        App { addr, stop, task }
    }

    fn url(&self) -> String {
        format!("ws://{}/rpc", self.addr)
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        bounded(self.task).await.unwrap();
    }
}

/// A server of the scenario's API with no listener of its own, which
/// reports why each of its connections closed.
fn server(builder: dotrpc::ServerBuilder) -> (Server, mpsc::UnboundedReceiver<DisconnectReason>) {
    let (reasons, closed) = mpsc::unbounded_channel();
    let server = builder
        .on_connect(move |peer| {
            let (reasons, closed) = (reasons.clone(), peer.closed());
            tokio::spawn(async move {
                let _ = reasons.send(closed.await);
            });
        })
        .without_listener();
    (server, closed)
}

fn scenario_server() -> dotrpc::ServerBuilder {
    Server::builder(Peer::builder().router(scenario::server_router()))
}

#[tokio::test]
async fn calls_events_and_broadcasts_go_over_the_route_beside_a_page() {
    let (server, _) = server(scenario_server());
    assert_eq!(server.local_addr(), &ListenAddr::External);
    let app = App::start(dotrpc::axum::upgrade(&server)).await;

    let (builder, mut pongs) = client_builder();
    let client = builder.connect(&app.url()).await.unwrap();
    exercise(&client, &mut pongs).await;
    assert_eq!(server.connection_count(), 1);
    assert_eq!(server.notify("pong", (9,)).send().unwrap(), 1);
    assert_eq!(bounded(pongs.recv()).await, Some(9), "a broadcast arrives");

    // The application's other routes are served by the same listener.
    let page = http_get(app.addr, "/").await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.ends_with("the page"), "{page}");

    client.close();
    server.shutdown(Duration::from_secs(1)).await;
    app.stop().await;
}

#[tokio::test]
async fn pages_of_other_origins_are_refused_before_the_upgrade() {
    let (server, _) = server(scenario_server());
    let same = App::start(dotrpc::axum::upgrade(&server)).await;
    let listed = App::start(
        dotrpc::axum::upgrade(&server).origins(Origins::allow(["https://app.example.com"])),
    )
    .await;
    let attempt = |url: String, origin: &str| {
        let mut request = url.into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Origin", origin.parse().unwrap());
        tokio_tungstenite::connect_async(request)
    };

    match bounded(attempt(same.url(), "http://evil.example")).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("{other:?}"),
    }
    let own = format!("http://{}", same.addr);
    let (socket, _) = bounded(attempt(same.url(), &own)).await.unwrap();
    drop(socket);
    match bounded(attempt(listed.url(), &own)).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("{other:?}"),
    }
    let (socket, _) = bounded(attempt(listed.url(), "https://app.example.com"))
        .await
        .unwrap();
    drop(socket);

    server.shutdown(Duration::from_secs(1)).await;
    same.stop().await;
    listed.stop().await;
}

#[tokio::test]
async fn the_connection_limit_and_shutdown_answer_503() {
    let (server, mut closed) = server(scenario_server().max_connections(1));
    let app = App::start(dotrpc::axum::upgrade(&server)).await;
    let first = Peer::builder().connect(&app.url()).await.unwrap();
    let refused = tokio_tungstenite::connect_async(app.url()).await;
    assert!(
        matches!(&refused, Err(tungstenite::Error::Http(response)) if response.status() == 503),
        "{refused:?}"
    );

    // A closed connection frees its place.
    first.close();
    bounded(closed.recv()).await.unwrap();
    let second = bounded(async {
        loop {
            match Peer::builder().connect(&app.url()).await {
                Ok(peer) => break peer,
                // Its place is freed just after it is seen closed.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    })
    .await;
    assert_eq!(bounded(second.call::<i64>("add", (1, 2))).await.unwrap(), 3);

    server.shutdown(Duration::from_secs(1)).await;
    let reason = bounded(second.closed()).await;
    assert_eq!(reason, DisconnectReason::Eof);
    let after = tokio_tungstenite::connect_async(app.url()).await;
    assert!(
        matches!(&after, Err(tungstenite::Error::Http(response)) if response.status() == 503),
        "{after:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_text_message_or_one_over_the_limit_closes_only_its_connection() {
    let (server, mut closed) = server(Server::builder(
        Peer::builder()
            .router(scenario::server_router())
            .max_message_size(1024),
    ));
    let app = App::start(dotrpc::axum::upgrade(&server)).await;
    let (builder, mut pongs) = client_builder();
    let good = builder.connect(&app.url()).await.unwrap();

    let (mut text, _) = tokio_tungstenite::connect_async(app.url()).await.unwrap();
    text.send(Message::text("[0, 1, \"add\", [1, 2]]"))
        .await
        .unwrap();
    let reason = bounded(closed.recv()).await.unwrap();
    assert!(
        matches!(&reason, DisconnectReason::Protocol(why) if why.contains("text WebSocket message")),
        "{reason:?}"
    );

    let (mut large, _) = tokio_tungstenite::connect_async(app.url()).await.unwrap();
    let _ = large.send(Message::binary(vec![0x90; 4096])).await;
    let reason = bounded(closed.recv()).await.unwrap();
    assert!(
        matches!(&reason, DisconnectReason::Protocol(why) if why.contains("Message too long")),
        "{reason:?}"
    );

    exercise(&good, &mut pongs).await;
    assert_eq!(server.connection_count(), 1);
    good.close();
    server.shutdown(Duration::from_secs(1)).await;
    app.stop().await;
}

#[tokio::test]
async fn a_transport_accepted_elsewhere_is_served_as_the_servers_own() {
    let (server, _) = server(scenario_server().max_connections(1));
    let (near, far) = tokio::io::duplex(64 * 1024);
    let (reader, writer) = tokio::io::split(near);
    let served = server
        .serve_transport(
            dotrpc::transport::Transport::from_stream(reader, writer),
            "duplex",
        )
        .unwrap();
    let (reader, writer) = tokio::io::split(far);
    let client = Peer::builder().spawn(dotrpc::transport::Transport::from_stream(reader, writer));
    assert_eq!(bounded(client.call::<i64>("add", (2, 3))).await.unwrap(), 5);
    assert_eq!(server.connections()[0].id(), served.id());

    let (spare, _) = tokio::io::duplex(64);
    let (reader, writer) = tokio::io::split(spare);
    let over = server
        .serve_transport(
            dotrpc::transport::Transport::from_stream(reader, writer),
            "one too many",
        )
        .unwrap_err();
    assert_eq!(over.kind(), dotrpc::ErrorKind::Overloaded, "{over}");

    client.close();
    server.shutdown(Duration::from_secs(1)).await;
}

/// The response to a plain HTTP/1.1 `GET path`, head and body.
async fn http_get(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    bounded(stream.read_to_string(&mut response)).await.unwrap();
    response
}
