//! TCP: connect with `TCP_NODELAY` (msgpack-rpc messages are small and
//! latency-bound; the writer already batches), and accept for a server.

use std::io;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};

use super::Accepted;

pub(crate) async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

pub(crate) async fn accept(listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    let (stream, remote) = listener.accept().await?;
    stream.set_nodelay(true)?;
    Ok((stream, remote))
}

/// A plain TCP stream, ready to serve.
pub(crate) fn ready(stream: TcpStream, remote: SocketAddr) -> Accepted {
    let (reader, writer) = stream.into_split();
    Accepted {
        reader: Box::new(reader),
        writer: Box::new(writer),
        remote: remote.to_string(),
    }
}
