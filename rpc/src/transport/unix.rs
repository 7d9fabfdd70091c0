//! Unix domain sockets. A server's socket file is created with mode `0600`,
//! so only the user running the server can connect.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use tokio::net::{UnixListener, UnixStream};

use super::Transport;

/// Connects to the socket at `path`.
pub(crate) async fn connect(path: &Path) -> io::Result<Transport> {
    let stream = UnixStream::connect(path).await?;
    Ok(transport(stream))
}

pub(crate) fn transport(stream: UnixStream) -> Transport {
    let (reader, writer) = stream.into_split();
    Transport::from_stream(reader, writer)
}

/// Binds `path` (made `0600`) and listens with `backlog`.
pub(crate) fn bind(path: &Path, backlog: u32) -> io::Result<UnixListener> {
    use socket2::{Domain, SockAddr, Socket, Type};
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.set_nonblocking(true)?;
    socket.bind(&SockAddr::unix(path)?)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    UnixListener::from_std(socket.into())
}
