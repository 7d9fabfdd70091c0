//! Standard input and output: a child process's, or this process's own.
//!
//! A child's stderr is inherited, so its logs stay visible; it is killed when
//! its `Child` handle is dropped, so no process outlives its owner.

use std::io;
use std::process::Stdio;

use tokio::process::{Child, Command};

use super::Transport;

/// Starts `command` with piped stdin and stdout, and the transport over them.
pub(crate) fn spawn_child(mut command: Command) -> io::Result<(Transport, Child)> {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn()?;
    let missing = || io::Error::other("the child's stdin and stdout must be piped");
    let stdin = child.stdin.take().ok_or_else(missing)?;
    let stdout = child.stdout.take().ok_or_else(missing)?;
    Ok((Transport::from_stream(stdout, stdin), child))
}

/// This process's own stdin and stdout.
pub(crate) fn own() -> Transport {
    Transport::from_stream(tokio::io::stdin(), tokio::io::stdout())
}
