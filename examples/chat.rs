//! A chat room (the broadcast server of tornado's notes): clients join, say
//! lines, and every member receives every line as an event; a client that
//! leaves stops receiving at once.
//! Run it with `cargo run --example chat`.

use std::time::Duration;

use dashmap::DashMap;
use dotrpc::{CallContext, Group, Peer, Server, rpc_api};
use tokio::sync::mpsc;

/// The room, served by the server.
#[rpc_api(namespace = "chat")]
pub trait Room {
    /// Joins under `name`; returns how many are in the room now.
    async fn join(&self, ctx: CallContext, name: String) -> usize;
    /// Says `text` to everyone in the room (the speaker included); returns
    /// how many it reached.
    async fn say(&self, ctx: CallContext, text: String) -> Result<usize, String>;
    /// How many are in the room.
    async fn members(&self) -> usize;
}

/// What each client serves: the room's events.
#[rpc_api(namespace = "chat")]
pub trait Member {
    /// A line said in the room.
    #[rpc(event)]
    async fn line(&self, from: String, text: String);
}

#[derive(Default)]
struct MyRoom {
    members: Group,
    names: DashMap<u64, String>,
}

impl Room for MyRoom {
    async fn join(&self, ctx: CallContext, name: String) -> usize {
        self.names.insert(ctx.peer().id(), name);
        self.members.insert(ctx.peer());
        self.members.len()
    }

    async fn say(&self, ctx: CallContext, text: String) -> Result<usize, String> {
        let from = self
            .names
            .get(&ctx.peer().id())
            .map(|n| n.clone())
            .ok_or("join the room first")?;
        // Typed: checked against the `Member` API every client serves, and
        // encoded once for the whole room.
        self.members
            .broadcast::<MemberClient>()
            .line(from, text)
            .await
            .map_err(|e| e.to_string())
    }

    async fn members(&self) -> usize {
        self.members.len()
    }
}

/// A client prints what it hears and forwards it to the test of `main`.
struct MyMember {
    name: &'static str,
    heard: mpsc::UnboundedSender<(String, String)>,
}

impl Member for MyMember {
    async fn line(&self, from: String, text: String) {
        println!("  {} hears {from}: {text}", self.name);
        let _ = self.heard.send((from, text));
    }
}

async fn client(
    addr: std::net::SocketAddr,
    name: &'static str,
) -> dotrpc::Result<(RoomClient, mpsc::UnboundedReceiver<(String, String)>)> {
    let (heard, lines) = mpsc::unbounded_channel();
    let peer = Peer::builder()
        .serve(MemberService(MyMember { name, heard }))
        .connect(addr)
        .await?;
    let room: RoomClient = peer.client();
    room.join(name.to_owned()).await?;
    Ok((room, lines))
}

async fn hear(
    lines: &mut mpsc::UnboundedReceiver<(String, String)>,
    n: usize,
) -> Vec<(String, String)> {
    let mut heard = Vec::new();
    while heard.len() < n {
        match tokio::time::timeout(Duration::from_secs(5), lines.recv()).await {
            Ok(Some(line)) => heard.push(line),
            _ => panic!("a line did not arrive"),
        }
    }
    heard
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::builder(Peer::builder().serve(RoomService(MyRoom::default())))
        .bind("127.0.0.1:0")
        .await?;
    let addr = server.local_addr().as_tcp().expect("a TCP server");

    let (alice, mut alice_hears) = client(addr, "alice").await?;
    let (bob, mut bob_hears) = client(addr, "bob").await?;
    let (carol, mut carol_hears) = client(addr, "carol").await?;

    println!("alice says hello");
    alice.say("hello, all".into()).await?;
    println!("bob says hi");
    bob.say("hi alice".into()).await?;
    for hears in [&mut alice_hears, &mut bob_hears, &mut carol_hears] {
        assert_eq!(hear(hears, 2).await.len(), 2);
    }

    println!("carol leaves");
    carol.peer().close();
    // The room forgets carol as soon as the server sees her connection close.
    for _ in 0..200 {
        if bob.members().await? == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let reached = bob.say("is carol gone?".into()).await?;
    assert_eq!(reached, 2);
    for hears in [&mut alice_hears, &mut bob_hears] {
        assert_eq!(hear(hears, 1).await[0].1, "is carol gone?");
    }
    println!("bob's last line reached {reached} members");

    alice.peer().close();
    bob.peer().close();
    server.shutdown(Duration::from_secs(1)).await;
    Ok(())
}
