//! dotrpc driving Neovim: `nvim --embed --headless` runs as a child process
//! and talks msgpack-rpc over its stdin and stdout.
//!
//! ```text
//! cargo run --example neovim
//! ```
//!
//! Needs `nvim` on the PATH; `scripts/neovim.sh` installs Debian's package.
//! The program makes typed calls with timeouts, passes buffer and window
//! handles (msgpack ext values) back and forth, shows a Neovim error, and
//! receives Neovim's notifications as typed events.

mod api;

use std::time::Duration;

use api::{Events, NvimClient, NvimEventsService};
use dotrpc::{Error, Peer};
use tokio::sync::mpsc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (events, mut received) = mpsc::unbounded_channel();
    let mut command = tokio::process::Command::new("nvim");
    command.args(["--embed", "--headless", "--clean", "-n"]);
    // Neovim answers an unknown notification with an error event, so the
    // dotrpc hello (useful only between dotrpc peers) is left out.
    let (peer, mut child) = Peer::builder()
        .serve(NvimEventsService(Events(events)))
        .handshake(false)
        .spawn_child(command)
        .map_err(|e| format!("cannot start nvim ({e}); scripts/neovim.sh installs it"))?;
    let nvim: NvimClient = peer.client();
    let nvim = nvim.with_timeout(Duration::from_secs(5));

    let (channel, _metadata) = nvim.nvim_get_api_info().await?;
    println!("connected to Neovim as channel {channel}");
    println!("1 + 2 = {}", nvim.nvim_eval("1 + 2".into()).await?);

    // Handles are ext values: a window's buffer comes back as the same buffer.
    let window = nvim.nvim_get_current_win().await?;
    let buffer = nvim.nvim_get_current_buf().await?;
    assert_eq!(nvim.nvim_win_get_buf(window).await?, buffer);
    println!("current buffer: {:?}", buffer.number());

    nvim.nvim_buf_attach(buffer.clone(), false, Default::default())
        .await?;
    let lines = vec!["hello".to_owned(), "from dotrpc".to_owned()];
    nvim.nvim_buf_set_lines(buffer.clone(), 0, -1, true, lines)
        .await?;
    println!(
        "buffer now holds {:?}",
        nvim.nvim_buf_get_lines(buffer, 0, -1, true).await?
    );

    match nvim.nvim_eval("no_such_variable".into()).await {
        Err(Error::Remote(error)) => {
            println!("Neovim error ({}): {error}", api::error_kind(&error))
        }
        other => println!("expected an error, got {other:?}"),
    }

    nvim.nvim_command(format!("call rpcnotify({channel}, 'greeting', 'hi', 3)"))
        .await?;
    for _ in 0..2 {
        let event = tokio::time::timeout(Duration::from_secs(5), received.recv())
            .await?
            .ok_or("Neovim went away")?;
        println!("event: {event}");
    }

    peer.close();
    child.kill().await?;
    Ok(())
}
