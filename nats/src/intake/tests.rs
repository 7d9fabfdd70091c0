use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::StreamExt;

use super::*;
use crate::test_server::NatsServer;

fn servers(url: &str) -> Servers {
    Servers::new(&NatsOptions::new(url).unwrap())
}

fn queue(subject: &str) -> Vec<Interest> {
    vec![Interest {
        subject: subject.to_owned(),
        queue: Some("workers".to_owned()),
    }]
}

/// Two members of one queue group while a publisher floods the
/// subject: one drains half-way. Every message reaches one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_delivers_every_message_routed_before_it() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let publisher = async_nats::connect(&nats.url).await.unwrap();
    let other = async_nats::connect(&nats.url).await.unwrap();
    // async-nats's own drain loses messages in about one round of four
    // of these: twelve rounds catch it almost always.
    for round in 0..12 {
        let subject = format!("flood.{round}");
        let mut stayer = other
            .queue_subscribe(subject.clone(), "workers".into())
            .await
            .unwrap();
        other.flush().await.unwrap();
        let intake = Intake::connect(servers(&nats.url), queue(&subject), "test")
            .await
            .unwrap();
        let (tx, mut rx) = mpsc::channel(16);
        let drain = CancellationToken::new();
        let leaver = tokio::spawn(intake.run(tx, drain.clone()));
        let stayed = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&stayed);
        let stayer = tokio::spawn(async move {
            while stayer.next().await.is_some() {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        });
        const SENT: u64 = 20_000;
        let flood = {
            let (publisher, subject) = (publisher.clone(), subject.clone());
            tokio::spawn(async move {
                for i in 0..SENT {
                    publisher
                        .publish(subject.clone(), i.to_string().into())
                        .await
                        .unwrap();
                }
                publisher.flush().await.unwrap();
            })
        };
        let mut left = 0u64;
        while let Some(_message) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("the intake ends")
        {
            left += 1;
            if left == 500 {
                drain.cancel();
            }
        }
        leaver.await.unwrap();
        flood.await.unwrap();
        // The stayer takes the rest; wait (bounded) until it has.
        for _ in 0..500 {
            if left + stayed.load(Ordering::Relaxed) == SENT {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            left + stayed.load(Ordering::Relaxed),
            SENT,
            "round {round}: the leaver took {left}"
        );
        assert!(left >= 500, "round {round}: {left}");
        stayer.abort();
    }
}

#[tokio::test]
async fn a_refused_subscription_fails_the_connect_with_the_servers_words() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    // An invalid subject is refused by every server, without any
    // permissions configured.
    let error = Intake::connect(servers(&nats.url), queue("bad..subject"), "test")
        .await
        .err()
        .expect("refused");
    assert_eq!(error.kind(), io::ErrorKind::PermissionDenied, "{error}");
    assert!(error.to_string().contains("Invalid Subject"), "{error}");
}

#[tokio::test]
async fn the_intake_reconnects_and_subscribes_again_when_its_server_comes_back() {
    let Some(mut nats) = NatsServer::start() else {
        return;
    };
    let intake = Intake::connect(servers(&nats.url), queue("again.>"), "test")
        .await
        .unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    let drain = CancellationToken::new();
    let task = tokio::spawn(intake.run(tx, drain.clone()));
    nats.pause();
    nats.resume();
    let publisher = async_nats::connect(&nats.url).await.unwrap();
    // Published until the intake is subscribed again (bounded).
    let message = 'wait: {
        for _ in 0..200 {
            publisher.publish("again.x", "hi".into()).await.unwrap();
            publisher.flush().await.unwrap();
            if let Ok(Some(message)) =
                tokio::time::timeout(Duration::from_millis(50), rx.recv()).await
            {
                break 'wait message;
            }
        }
        panic!("the intake did not subscribe again");
    };
    assert_eq!(&message.payload[..], b"hi");
    drain.cancel();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the drain ends")
        .unwrap();
}
