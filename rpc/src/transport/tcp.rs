//! TCP: connect with `TCP_NODELAY` (msgpack-rpc messages are small and
//! latency-bound; writes are batched already), and listen with a backlog
//! sized for bursts of connections.

use std::io;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};

use super::Transport;

/// Connects to the first of `addrs` that answers.
pub(crate) async fn connect(addrs: &[SocketAddr]) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(addrs).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// A connected stream as a transport.
pub(crate) fn transport(stream: TcpStream) -> Transport {
    let (reader, writer) = stream.into_split();
    Transport::from_stream(reader, writer)
}

/// Binds the first of `addrs` that can be bound and listens with `backlog`
/// (the kernel caps it at `net.core.somaxconn`).
pub(crate) fn bind(addrs: &[SocketAddr], backlog: u32) -> io::Result<TcpListener> {
    let mut last = None;
    for addr in addrs {
        match bind_one(*addr, backlog) {
            Ok(listener) => return Ok(listener),
            Err(error) => last = Some(error),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to bind")))
}

fn bind_one(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // As the standard library does: a restarted server can bind at once.
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    TcpListener::from_std(socket.into())
}

/// Takes the next connection off `listener`, with `TCP_NODELAY`.
pub(crate) async fn accept(listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    let (stream, remote) = listener.accept().await?;
    stream.set_nodelay(true)?;
    Ok((stream, remote))
}
