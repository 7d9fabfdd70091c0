#![deny(unused_must_use)]

async fn start() -> dotrpc::Result<()> {
    // Dropped at once: it would stop serving as soon as it started.
    dotrpc::Server::builder(dotrpc::Peer::builder()).bind("127.0.0.1:0").await?;
    Ok(())
}

fn main() {
    let _ = start();
}
