//! WebSocket: calls both ways and events over binary messages, and every
//! way a client can get it wrong (a text message, a message over the limit,
//! an origin the server does not admit, an upgrade never completed) closes
//! only that client's connection, with a reason that says why.

mod support;

use std::time::Duration;

use dotrpc::transport::websocket::Origins;
use dotrpc::{Peer, Server, error::DisconnectReason};
use futures_util::{SinkExt, StreamExt};
use support::{bounded, client_builder, exercise, scenario};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

/// A WebSocket server of the scenario's API that reports why each of its
/// connections closed.
async fn serve(
    builder: dotrpc::PeerBuilder,
    origins: Origins,
) -> (Server, mpsc::UnboundedReceiver<DisconnectReason>) {
    let (reasons, closed) = mpsc::unbounded_channel();
    let server = Server::builder(builder.router(scenario::server_router()))
        .on_connect(move |peer| {
            let (reasons, closed) = (reasons.clone(), peer.closed());
            tokio::spawn(async move {
                let _ = reasons.send(closed.await);
            });
        })
        .origins(origins)
        .bind("ws://127.0.0.1:0/")
        .await
        .unwrap();
    (server, closed)
}

fn url(server: &Server) -> String {
    format!("ws://{}/rpc", support::addr(server))
}

/// A plain WebSocket client, sending what a test tells it to.
async fn raw_client(
    server: &Server,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let (socket, _) = tokio_tungstenite::connect_async(url(server)).await.unwrap();
    socket
}

#[tokio::test]
async fn calls_and_events_go_both_ways_over_websocket() {
    let (server, _) = serve(Peer::builder(), Origins::same_origin()).await;
    let (builder, mut pongs) = client_builder();
    let client = builder.connect(&url(&server)).await.unwrap();
    exercise(&client, &mut pongs).await;
    assert_eq!(server.connection_count(), 1);
    client.close();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_text_message_closes_only_its_connection() {
    let (server, mut closed) = serve(Peer::builder(), Origins::same_origin()).await;
    let (builder, mut pongs) = client_builder();
    let good = builder.connect(&url(&server)).await.unwrap();

    let mut bad = raw_client(&server).await;
    bad.send(Message::text("[0, 1, \"add\", [1, 2]]"))
        .await
        .unwrap();
    let reason = bounded(closed.recv()).await.unwrap();
    let DisconnectReason::Protocol(why) = &reason else {
        panic!("{reason:?}")
    };
    assert!(why.contains("text WebSocket message"), "{why}");
    // The bad client sees its connection end.
    let end = bounded(bad.next()).await;
    assert!(
        !matches!(end, Some(Ok(Message::Binary(_)))),
        "no answer to a text message: {end:?}"
    );

    exercise(&good, &mut pongs).await;
    good.close();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_message_over_the_limit_closes_only_its_connection() {
    let (server, mut closed) = serve(
        Peer::builder().max_message_size(1024),
        Origins::same_origin(),
    )
    .await;
    let (builder, mut pongs) = client_builder();
    let good = builder.connect(&url(&server)).await.unwrap();

    let mut bad = raw_client(&server).await;
    bad.send(Message::binary(vec![0x90; 4096])).await.unwrap();
    let reason = bounded(closed.recv()).await.unwrap();
    assert!(
        matches!(&reason, DisconnectReason::Protocol(why) if why.contains("Message too long")),
        "{reason:?}"
    );

    exercise(&good, &mut pongs).await;
    good.close();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_fragmented_message_arrives_whole() {
    use tungstenite::protocol::frame::Frame;
    use tungstenite::protocol::frame::coding::{Data, OpCode};

    let (server, _) = serve(Peer::builder(), Origins::same_origin()).await;
    let mut socket = raw_client(&server).await;
    // [0, 1, "add", [40, 2]] in two fragments.
    let request = [0x94, 0x00, 0x01, 0xa3, b'a', b'd', b'd', 0x92, 40, 2];
    let (first, rest) = request.split_at(4);
    let fragments = [
        Frame::message(first.to_vec(), OpCode::Data(Data::Binary), false),
        Frame::message(rest.to_vec(), OpCode::Data(Data::Continue), true),
    ];
    for fragment in fragments {
        socket.send(Message::Frame(fragment)).await.unwrap();
    }
    let answer = bounded(async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Binary(bytes))) => {
                    let value = rmpv::decode::read_value(&mut &bytes[..]).unwrap();
                    // The server's rpc.hello comes first only if it says
                    // hello; it answers ours, and we sent none.
                    if value[0] == rmpv::Value::from(1) {
                        break value;
                    }
                }
                other => panic!("{other:?}"),
            }
        }
    })
    .await;
    assert_eq!(answer[3], rmpv::Value::from(42));
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn an_origin_the_server_does_not_admit_is_refused_before_any_peer() {
    let (server, _) = serve(Peer::builder(), Origins::same_origin()).await;
    let attempt = |origin: &'static str| {
        let mut request = url(&server).into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Origin", origin.parse().unwrap());
        tokio_tungstenite::connect_async(request)
    };
    match bounded(attempt("http://evil.example")).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("{other:?}"),
    }
    assert_eq!(server.connection_count(), 0);

    // The page the server itself serves is admitted.
    let same = format!("http://{}", support::addr(&server));
    let same: &'static str = Box::leak(same.into_boxed_str());
    let (socket, _) = bounded(attempt(same)).await.unwrap();
    drop(socket);

    let (listed, _) = serve(Peer::builder(), Origins::allow(["https://app.example.com"])).await;
    let mut request = url(&listed).into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Origin", "https://app.example.com".parse().unwrap());
    assert!(
        bounded(tokio_tungstenite::connect_async(request))
            .await
            .is_ok()
    );
    listed.shutdown(Duration::from_secs(1)).await;
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_client_that_never_completes_the_upgrade_is_dropped() {
    use tokio::io::AsyncReadExt;

    let (server, _) = serve(
        Peer::builder().message_timeout(Some(Duration::from_millis(200))),
        Origins::same_origin(),
    )
    .await;
    let mut silent = tokio::net::TcpStream::connect(support::addr(&server))
        .await
        .unwrap();
    let mut buffer = [0; 64];
    let read = bounded(silent.read(&mut buffer)).await;
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "the server hung up: {read:?}"
    );
    assert_eq!(server.connection_count(), 0);

    let (builder, mut pongs) = client_builder();
    let good = builder.connect(&url(&server)).await.unwrap();
    exercise(&good, &mut pongs).await;
    good.close();
    server.shutdown(Duration::from_secs(1)).await;
}
