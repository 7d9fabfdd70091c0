//! A child process over its stdin and stdout.
//!
//! The child's stderr is inherited, so its logs stay visible; it is killed
//! when its `Child` handle is dropped, so no process outlives its owner.

use std::io;
use std::process::Stdio;

use tokio::process::{Child, Command};

use crate::peer::{Peer, PeerBuilder};

pub(crate) fn spawn_child(
    builder: PeerBuilder,
    mut command: Command,
) -> crate::Result<(Peer, Child)> {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn()?;
    let missing = || io::Error::other("the child's stdin and stdout must be piped");
    let stdin = child.stdin.take().ok_or_else(missing)?;
    let stdout = child.stdout.take().ok_or_else(missing)?;
    Ok((builder.spawn(stdout, stdin), child))
}
