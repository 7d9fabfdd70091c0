//! The Rust client's driver for the client side of the conformance suite
//! (`conformance/clients.py`): given `SCENARIO tcp://HOST:PORT`, it connects
//! dotrpc's client to the scripted server there, does what the scenario
//! asks, and prints one line per outcome: a result as JSON, `end` for a
//! stream's end, or `error:KIND` for an error.

use std::time::Duration;

use dotrpc::{
    Error, ItemStream, Peer,
    peer::{Reconnect, WhileDown},
};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [scenario, address] = &args[..] else {
        eprintln!("usage: dotrpc-conformance-client SCENARIO tcp://HOST:PORT");
        std::process::exit(2);
    };
    let Some(address) = address.strip_prefix("tcp://") else {
        eprintln!("{address}: only tcp:// addresses are driven");
        std::process::exit(2);
    };
    let builder = Peer::builder();
    let reconnects = ["no_resend", "resend_idempotent"].contains(&scenario.as_str());
    let builder = if reconnects {
        builder.reconnect(
            Reconnect::new()
                .initial_backoff(Duration::from_millis(50))
                .while_down(WhileDown::Wait),
        )
    } else {
        builder
    };
    let peer = builder.connect(address).await.unwrap_or_else(|error| {
        eprintln!("cannot connect to {address}: {error}");
        std::process::exit(1);
    });
    let sleep = || peer.call::<u64>("sleep", (5000,));
    match scenario.as_str() {
        "call" | "server_junk" => {
            print(peer.call::<i64>("add", (1, 2)).await);
        }
        "timeout_cancel" => {
            print(sleep().timeout(Duration::from_millis(300)).await);
        }
        "late_reply" => {
            print(sleep().timeout(Duration::from_millis(300)).await);
            print(peer.call::<i64>("add", (2, 2)).await);
        }
        "malformed_reply" => {
            print(peer.call::<i64>("add", (1, 2)).await);
            print(peer.call::<i64>("add", (3, 4)).await);
        }
        "stream_credit" => {
            let mut items = peer.stream::<i64>("count", (20, 0)).window(4);
            let mut taken = 0;
            while let Some(item) = items.next().await {
                if print(item).is_none() {
                    break;
                }
                taken += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            println!("{taken}");
            println!("end");
        }
        "upload_credit" => {
            let mut sum = peer.upload::<i64, i64>("sum", ());
            for i in 1..=20 {
                if let Err(error) = sum.send(&i).await {
                    print::<i64>(Err(error));
                    break;
                }
            }
            print(sum.finish().await);
        }
        "closed_mid_stream" => {
            let items = peer.stream::<i64>("count", (10, 0)).window(8);
            read_all(items).await;
        }
        "stream_stop" => {
            let mut items = peer.stream::<i64>("count", (100, 0)).window(4);
            for _ in 0..2 {
                print(items.next().await.expect("an item"));
            }
            drop(items);
            println!("stopped");
            print(peer.call::<i64>("add", (1, 2)).await);
        }
        "stream_overrun" => {
            let mut items = peer.stream::<i64>("count", (10, 0)).window(4);
            // The first item opens the stream (streams are sent on first
            // use); the rest are left unread while the server sends past
            // the window.
            let first = tokio::time::timeout(Duration::from_millis(500), items.next()).await;
            match first {
                Ok(Some(item)) => {
                    print(item);
                    tokio::time::sleep(Duration::from_millis(1500)).await;
                    read_all(items).await;
                }
                Ok(None) => println!("end"),
                Err(_) => println!("no item"),
            }
            print(peer.call::<i64>("add", (1, 2)).await);
        }
        "resend_idempotent" => {
            let once = peer.call::<u64>("sleep", (300,));
            let again = peer
                .call::<i64>("add", (5, 5))
                .idempotent()
                .timeout(Duration::from_secs(10));
            let (once, again) = tokio::join!(once, again);
            print(once);
            print(again);
        }
        "no_resend" => {
            print(peer.call::<u64>("sleep", (300,)).await);
            print(
                peer.call::<i64>("add", (1, 1))
                    .timeout(Duration::from_secs(10))
                    .await,
            );
        }
        other => {
            eprintln!("unknown scenario `{other}`");
            std::process::exit(2);
        }
    }
    // What the scenario sent (a cancel) leaves before the connection does.
    peer.close();
    let _ = tokio::time::timeout(Duration::from_secs(2), peer.closed()).await;
}

/// Prints the rest of a stream: its items, then `end` or its error.
async fn read_all(mut items: ItemStream<i64>) {
    while let Some(item) = items.next().await {
        if print(item).is_none() {
            return;
        }
    }
    println!("end");
}

/// Prints an outcome's line; the value if it was one.
fn print<T: std::fmt::Display>(outcome: Result<T, Error>) -> Option<T> {
    match outcome {
        Ok(value) => {
            println!("{value}");
            Some(value)
        }
        Err(error) => {
            println!("error:{:?}", error.kind());
            eprintln!("{error}");
            None
        }
    }
}
