//! Hostile and unusual input over real sockets, written as literal msgpack
//! bytes: each case closes at most its own connection, with the reason
//! reported, while other connections carry on.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use dotrpc::transport::FrameDecoder;
use dotrpc::{Error, Peer, Server, Value, error::DisconnectReason, peer::ConnectionEvent};
use support::{bounded, demo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, value).unwrap();
    out
}

fn request(msgid: u32, method: &str, params: Vec<Value>) -> Vec<u8> {
    encode(&Value::Array(vec![
        0.into(),
        msgid.into(),
        method.into(),
        Value::Array(params),
    ]))
}

/// Waits for the server to close `stream` (EOF, or a reset).
async fn assert_closed(stream: &mut TcpStream) {
    let mut rest = Vec::new();
    let _ = bounded(stream.read_to_end(&mut rest)).await;
}

/// A demo server that records the disconnect reason of each connection.
async fn recording_server(max_message_size: usize) -> (Server, Arc<Mutex<Vec<DisconnectReason>>>) {
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&reasons);
    let template = Peer::builder()
        .router(demo::router())
        .max_message_size(max_message_size)
        .on_event(move |event| {
            if let ConnectionEvent::Disconnected { reason } = event {
                seen.lock().unwrap().push(reason.clone());
            }
        });
    let server = Server::builder(template).bind("127.0.0.1:0").await.unwrap();
    (server, reasons)
}

#[tokio::test]
async fn garbage_closes_only_its_own_connection_and_is_reported() {
    let (server, reasons) = recording_server(16 * 1024 * 1024).await;
    let good = dotrpc::connect(support::addr(&server)).await.unwrap();

    let mut bad = TcpStream::connect(support::addr(&server)).await.unwrap();
    bad.write_all(&[0x94, 0x00, 0x01, 0xc1, 0xff, 0xff])
        .await
        .unwrap();
    assert_closed(&mut bad).await;
    let reason = support::first_reason(&reasons).await;
    assert!(
        matches!(&reason, DisconnectReason::Protocol(text) if text.contains("0xc1")),
        "{reason:?}"
    );

    assert_eq!(bounded(good.call::<i64>("add", (1, 2))).await.unwrap(), 3);
    good.close();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn wrong_shapes_close_the_connection_with_a_clear_reason() {
    let (server, reasons) = recording_server(16 * 1024 * 1024).await;
    let cases = [
        encode(&Value::Array(vec![0.into()])),
        encode(&Value::Array(vec![7.into(), 1.into(), 2.into(), 3.into()])),
        encode(&Value::Map(vec![(0.into(), 1.into())])),
        encode(&Value::Array(vec![
            0.into(),
            "id".into(),
            "add".into(),
            Value::Array(vec![]),
        ])),
        encode(&Value::Array(vec![
            0.into(),
            1.into(),
            42.into(),
            Value::Array(vec![]),
        ])),
    ];
    for case in &cases {
        let mut stream = TcpStream::connect(support::addr(&server)).await.unwrap();
        stream.write_all(case).await.unwrap();
        assert_closed(&mut stream).await;
    }
    bounded(async {
        while reasons.lock().unwrap().len() < cases.len() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    for reason in reasons.lock().unwrap().iter() {
        assert!(
            matches!(reason, DisconnectReason::Protocol(text) if text.contains("not a msgpack-rpc message")),
            "{reason:?}"
        );
    }
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_declared_length_past_the_limit_closes_the_connection_before_its_bytes_arrive() {
    let (server, reasons) = recording_server(1024 * 1024).await;
    let mut stream = TcpStream::connect(support::addr(&server)).await.unwrap();
    // A request whose single param is a bin32 declaring 3 GiB; none of it follows.
    let mut bytes = vec![0x94, 0x00, 0x01, 0xa4];
    bytes.extend_from_slice(b"echo");
    bytes.extend_from_slice(&[0x91, 0xc6, 0xc0, 0x00, 0x00, 0x00]);
    stream.write_all(&bytes).await.unwrap();
    assert_closed(&mut stream).await;
    let reason = support::first_reason(&reasons).await;
    assert!(
        matches!(&reason, DisconnectReason::Protocol(text) if text.contains("exceeds the maximum")),
        "{reason:?}"
    );
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_message_written_one_byte_at_a_time_is_answered() {
    let server = support::tcp_server(demo::router()).await;
    let mut stream = TcpStream::connect(support::addr(&server)).await.unwrap();
    stream.set_nodelay(true).unwrap();
    for byte in request(
        5,
        "math.stats.mean",
        vec![Value::Array(vec![1.into(), 2.into(), 6.into()])],
    ) {
        stream.write_all(&[byte]).await.unwrap();
        stream.flush().await.unwrap();
    }
    let reply = support::read_messages(&mut stream, 1).await;
    assert_eq!(
        reply[0],
        Value::Array(vec![1.into(), 5.into(), Value::Nil, 3.0.into()])
    );
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn hundreds_of_messages_in_one_write_are_all_answered() {
    let server = support::tcp_server(demo::router()).await;
    let mut stream = TcpStream::connect(support::addr(&server)).await.unwrap();
    let batch: Vec<u8> = (0..500u32)
        .flat_map(|i| request(i, "add", vec![i.into(), 1.into()]))
        .collect();
    stream.write_all(&batch).await.unwrap();

    let mut answered = vec![false; 500];
    for reply in support::read_messages(&mut stream, 500).await {
        let items = reply.as_array().unwrap();
        let msgid = items[1].as_u64().unwrap() as usize;
        assert_eq!(items[3].as_u64(), Some(msgid as u64 + 1));
        assert!(
            !std::mem::replace(&mut answered[msgid], true),
            "msgid {msgid} answered twice"
        );
    }
    assert!(answered.iter().all(|a| *a));
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn echo_is_byte_exact_for_any_value() {
    let server = support::tcp_server(demo::router()).await;
    let mut stream = TcpStream::connect(support::addr(&server)).await.unwrap();
    // A str whose bytes are not UTF-8, written by hand: [0, 1, "echo", [<str ff fe>, bin, ext, u64::MAX, i64::MIN, map]].
    let mut params = vec![0x96, 0xa2, 0xff, 0xfe];
    params.extend(encode(&Value::Binary(vec![0, 1, 2])));
    params.extend(encode(&Value::Ext(-3, vec![9; 5])));
    params.extend(encode(&Value::from(u64::MAX)));
    params.extend(encode(&Value::from(i64::MIN)));
    params.extend(encode(&Value::Map(vec![(
        "k".into(),
        Value::Array(vec![Value::Nil, true.into()]),
    )])));
    let mut sent = vec![0x94, 0x00, 0x01, 0xa4];
    sent.extend_from_slice(b"echo");
    // echo takes one param: wrap the six values in one array.
    sent.push(0x91);
    sent.extend_from_slice(&params);
    stream.write_all(&sent).await.unwrap();

    let mut decoder = FrameDecoder::default();
    let mut buffer = BytesMut::new();
    let frame = bounded(async {
        loop {
            if let Some(frame) = decoder.decode(&mut buffer).unwrap() {
                return frame;
            }
            stream.read_buf(&mut buffer).await.unwrap();
        }
    })
    .await;
    // [1, 1, nil, <the same bytes>]
    assert_eq!(&frame[..4], &[0x94, 0x01, 0x01, 0xc0]);
    assert_eq!(&frame[4..], &params[..]);
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn at_the_connection_limit_new_connections_wait_for_a_free_slot() {
    let template = Peer::builder().router(demo::router());
    let server = Server::builder(template)
        .max_connections(1)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let first = dotrpc::connect(support::addr(&server)).await.unwrap();
    assert_eq!(bounded(first.call::<i64>("add", (1, 1))).await.unwrap(), 2);

    let second = dotrpc::connect(support::addr(&server)).await.unwrap();
    let waiting = second
        .call::<i64>("add", (2, 2))
        .timeout(Duration::from_millis(100))
        .await;
    assert!(
        matches!(waiting, Err(Error::Timeout)),
        "served past the limit: {waiting:?}"
    );

    first.close();
    assert_eq!(bounded(second.call::<i64>("add", (2, 2))).await.unwrap(), 4);
    second.close();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn shutdown_lets_running_calls_answer_and_fails_the_rest() {
    let server = support::tcp_server(demo::router()).await;
    let peer = dotrpc::connect(support::addr(&server)).await.unwrap();
    let quick: Vec<_> = (0..3)
        .map(|_| tokio::spawn(peer.call::<u64>("sleep", (50,)).into_future()))
        .collect();
    let slow = tokio::spawn(peer.call::<u64>("sleep", (60_000,)).into_future());
    bounded(async {
        while server.connection_count() == 0 || peer.pending_calls() < 4 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    // Let the server start all four handlers before it stops reading.
    tokio::time::sleep(Duration::from_millis(20)).await;

    bounded(server.shutdown(Duration::from_millis(500))).await;
    for call in quick {
        assert_eq!(bounded(call).await.unwrap().unwrap(), 50);
    }
    let error = bounded(slow).await.unwrap().unwrap_err();
    assert!(matches!(error, Error::Disconnected { .. }), "{error:?}");
    assert_eq!(peer.pending_calls(), 0);
}

#[tokio::test]
async fn a_server_at_its_bounds_stops_reading_instead_of_queueing() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let router = Arc::new(dotrpc::Router::new());
    let held = Arc::clone(&gate);
    router.set_handler("blob", move |blob: Value| {
        let gate = Arc::clone(&held);
        async move {
            gate.acquire().await.unwrap().forget();
            blob.as_slice().map_or(0, |b| b.len())
        }
    });
    let template = Peer::builder()
        .router(router)
        .max_concurrent_handlers(1)
        .max_queued_calls(1);
    let server = Server::builder(template).bind("127.0.0.1:0").await.unwrap();
    let stream = TcpStream::connect(support::addr(&server)).await.unwrap();
    let (mut read_half, mut write_half) = stream.into_split();

    // 1 024 calls of 64 KiB each: far more than socket buffers hold.
    let calls = 1024u32;
    let batch: Vec<u8> = (0..calls)
        .flat_map(|i| request(i, "blob", vec![Value::Binary(vec![7; 64 * 1024])]))
        .collect();
    let writer = tokio::spawn(async move {
        write_half.write_all(&batch).await.unwrap();
        write_half
    });
    let stalled = tokio::time::timeout(Duration::from_secs(1), async {
        while !writer.is_finished() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(
        stalled.is_err(),
        "the server read 64 MiB while its one handler was blocked"
    );

    gate.add_permits(calls as usize);
    let _write_half = bounded(writer).await.unwrap();
    let mut decoder = FrameDecoder::default();
    let mut buffer = BytesMut::new();
    let mut answered = 0;
    bounded(async {
        while answered < calls {
            while let Some(frame) = decoder.decode(&mut buffer).unwrap() {
                let reply = rmpv::decode::read_value(&mut &frame[..]).unwrap();
                assert_eq!(reply[3].as_u64(), Some(64 * 1024));
                answered += 1;
            }
            if answered < calls {
                assert!(read_half.read_buf(&mut buffer).await.unwrap() > 0);
            }
        }
    })
    .await;
    server.shutdown(Duration::from_secs(1)).await;
}

use std::future::IntoFuture;

#[tokio::test]
async fn a_message_cut_short_by_a_close_is_reported_and_the_server_lives_on() {
    let (server, reasons) = recording_server(16 * 1024 * 1024).await;
    let mut stream = TcpStream::connect(support::addr(&server)).await.unwrap();
    // Half of `[0, 1, "add", [1, 2]]`, then the write side closes.
    stream
        .write_all(&[0x94, 0x00, 0x01, 0xa3, b'a'])
        .await
        .unwrap();
    stream.shutdown().await.unwrap();
    let reason = support::first_reason(&reasons).await;
    assert!(
        matches!(&reason, DisconnectReason::Protocol(text) if text.contains("in the middle of a message")),
        "{reason:?}"
    );
    let peer = dotrpc::connect(support::addr(&server)).await.unwrap();
    assert_eq!(bounded(peer.call::<i64>("add", (1, 2))).await.unwrap(), 3);
    peer.close();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn deep_nesting_over_a_socket_is_refused_without_a_stack_overflow() {
    let (server, reasons) = recording_server(16 * 1024 * 1024).await;
    let mut stream = TcpStream::connect(support::addr(&server)).await.unwrap();
    // A request whose param nests a million arrays: far past the depth limit.
    let mut bytes = vec![0x94, 0x00, 0x01, 0xa4];
    bytes.extend_from_slice(b"echo");
    bytes.extend(std::iter::repeat_n(0x91u8, 1_000_000));
    let _ = stream.write_all(&bytes).await;
    let reason = support::first_reason(&reasons).await;
    assert!(
        matches!(&reason, DisconnectReason::Protocol(text) if text.contains("nested deeper")),
        "{reason:?}"
    );
    let peer = dotrpc::connect(support::addr(&server)).await.unwrap();
    assert_eq!(bounded(peer.call::<i64>("add", (2, 3))).await.unwrap(), 5);
    peer.close();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn what_a_peer_sent_before_closing_its_side_still_runs_and_is_answered() {
    // `echo '...' | nc host port`: calls and a notification, then EOF. The
    // handlers run to the end and the replies still reach the half-closed peer.
    let server = support::tcp_server(demo::router()).await;
    let mut stream = TcpStream::connect(support::addr(&server)).await.unwrap();
    let mut bytes = encode(&Value::Array(vec![
        2.into(),
        "log".into(),
        Value::Array(vec!["last words".into()]),
    ]));
    bytes.extend(request(1, "sleep", vec![50.into()]));
    bytes.extend(request(2, "add", vec![40.into(), 2.into()]));
    stream.write_all(&bytes).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut replies = support::read_messages(&mut stream, 2).await;
    replies.sort_by_key(|reply| reply[1].as_u64());
    assert_eq!(
        replies[0],
        Value::Array(vec![1.into(), 1.into(), Value::Nil, 50.into()])
    );
    assert_eq!(
        replies[1],
        Value::Array(vec![1.into(), 2.into(), Value::Nil, 42.into()])
    );
    assert_closed(&mut stream).await;

    let peer = bounded(dotrpc::connect(support::addr(&server)))
        .await
        .unwrap();
    let count: u64 = bounded(peer.call("stats.notifications", ())).await.unwrap();
    assert_eq!(count, 1);
    peer.close();
    server.shutdown(Duration::from_secs(1)).await;
}
