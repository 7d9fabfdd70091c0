//! Head and Neck (after epyrpc): each side of one connection serves its own
//! nested API and holds a typed client of the other's. Calls and events go
//! both ways; a method with no generated handler is added at run time by
//! path; and a call to an unhandled method gets `UnknownApi`.
//! Run it with `cargo run --example head_neck`.

use std::sync::Mutex;
use std::time::Duration;

use dotrpc::{CallContext, Error, Peer, Server, rpc_api};
use tokio::sync::mpsc;

/// The head: served by the server, under `head.*`.
#[rpc_api(namespace = "head")]
pub trait Head {
    /// Looks towards an angle, asking the neck to turn first.
    async fn look(&self, ctx: CallContext, degrees: i32) -> Result<String, String>;
    /// The eyes, under `head.eyes.*`. The accessor and its trait are named
    /// differently: implementors name the associated type after the accessor
    /// (`type Eyes`), not the trait.
    #[rpc(nested)]
    fn eyes(&self) -> &impl Vision;
}

/// `head.eyes.*`
#[rpc_api]
pub trait Vision {
    /// Blinks `times` times.
    async fn blink(&self, times: u32) -> String;
}

/// The neck: served by the client, under `neck.*`.
#[rpc_api(namespace = "neck")]
pub trait Neck {
    /// The joints, under `neck.joints.*`.
    #[rpc(nested)]
    fn joints(&self) -> &impl Joints;
    /// The head reports what it saw; one-way.
    #[rpc(event)]
    async fn saw(&self, what: String);
}

/// `neck.joints.*`
#[rpc_api]
pub trait Joints {
    /// Turns by `degrees`, returning the new heading.
    async fn turn(&self, degrees: i32) -> i32;
}

struct MyEyes;

impl Vision for MyEyes {
    async fn blink(&self, times: u32) -> String {
        vec!["blink"; times as usize].join(" ")
    }
}

struct MyHead {
    eyes: MyEyes,
}

impl Head for MyHead {
    type Eyes = MyEyes;

    async fn look(&self, ctx: CallContext, degrees: i32) -> Result<String, String> {
        // The head calls back into the neck that called it, on the same connection.
        let neck: NeckClient = ctx.peer().client();
        let heading = neck.joints.turn(degrees).await.map_err(|e| e.to_string())?;
        neck.saw(format!("a tree at {heading} degrees"))
            .await
            .map_err(|e| e.to_string())?;
        Ok(format!("looking at {heading} degrees"))
    }

    fn eyes(&self) -> &MyEyes {
        &self.eyes
    }
}

struct MyJoints {
    heading: Mutex<i32>,
}

impl Joints for MyJoints {
    async fn turn(&self, degrees: i32) -> i32 {
        let mut heading = self.heading.lock().unwrap();
        *heading = (*heading + degrees).rem_euclid(360);
        *heading
    }
}

struct MyNeck {
    joints: MyJoints,
    seen: mpsc::UnboundedSender<String>,
}

impl Neck for MyNeck {
    type Joints = MyJoints;

    fn joints(&self) -> &MyJoints {
        &self.joints
    }

    async fn saw(&self, what: String) {
        let _ = self.seen.send(what);
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The head's side: serves Head; a handler with no generated code is added by path.
    let head_side = Peer::builder().serve(HeadService(MyHead { eyes: MyEyes }));
    let server = Server::builder(head_side).bind("127.0.0.1:0").await?;
    let addr = server.local_addr().as_tcp().expect("a TCP server");
    server
        .router()
        .namespace("head.debug")
        .set_handler("ping", |n: u32| async move { format!("pong {n}") });

    // The neck's side: serves Neck, and holds a client of Head.
    let (seen, mut sightings) = mpsc::unbounded_channel();
    let neck = MyNeck {
        joints: MyJoints {
            heading: Mutex::new(350),
        },
        seen,
    };
    let peer = Peer::builder()
        .serve(NeckService(neck))
        .connect(addr)
        .await?;
    let head: HeadClient = peer.client();

    println!("head.eyes.blink(2) -> {}", head.eyes.blink(2).await?);
    println!("head.look(20) -> {}", head.look(20).await?);
    let sighting = tokio::time::timeout(Duration::from_secs(1), sightings.recv()).await?;
    println!("neck.saw event <- {}", sighting.unwrap_or_default());

    let pong: String = peer.call("head.debug.ping", (7,)).await?;
    println!("head.debug.ping(7), registered at run time -> {pong}");

    match peer.call::<()>("head.nose.sneeze", ()).await {
        Err(error @ Error::UnknownApi { .. }) => println!("head.nose.sneeze -> {error}"),
        other => println!("head.nose.sneeze -> {other:?}"),
    }

    // The server can call the neck too, through its handle on the connection.
    let neck_from_server: NeckClient = server.connections()[0].client();
    println!(
        "server -> neck.joints.turn(-10) -> {}",
        neck_from_server.joints.turn(-10).await?
    );

    peer.close();
    server.shutdown(Duration::from_secs(1)).await;
    Ok(())
}
