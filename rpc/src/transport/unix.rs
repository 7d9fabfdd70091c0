//! Unix domain sockets. A server's socket file is created with mode `0600`,
//! so only the user running the server can connect.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use tokio::net::UnixListener;

use super::Accepted;

pub(crate) fn bind(path: &Path) -> io::Result<UnixListener> {
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

pub(crate) async fn accept(listener: &UnixListener) -> io::Result<Accepted> {
    let (stream, _) = listener.accept().await?;
    let (reader, writer) = stream.into_split();
    Ok(Accepted {
        reader: Box::new(reader),
        writer: Box::new(writer),
        remote: "unix".into(),
    })
}
