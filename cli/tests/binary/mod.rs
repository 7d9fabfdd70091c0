//! The `dotrpc` binary as the tests run it: bounded, its output captured.

use std::time::Duration;

use assert_cmd::Command;

/// Every run of the binary is bounded by this.
pub(crate) const LIMIT: Duration = Duration::from_secs(20);

/// The binary with `args`, bounded by [`LIMIT`].
pub(crate) fn dotrpc(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dotrpc"));
    command.args(args).timeout(LIMIT);
    command
}

/// Runs the binary; returns (exit status, stdout, stderr).
pub(crate) fn run(args: &[&str]) -> (i32, String, String) {
    let output = dotrpc(args).output().unwrap();
    (
        output.status.code().expect("exited, not killed"),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}
