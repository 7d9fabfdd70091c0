//! A slice of Neovim's msgpack-rpc API, described with `#[rpc_api]`.
//!
//! Neovim's API is flat (`nvim_buf_get_lines`, not `buf.get_lines`), so the
//! trait's methods carry Neovim's names as they are. Its buffer, window and
//! tabpage handles travel as msgpack ext values (types 0, 1 and 2, the payload
//! being the handle number); [`Buffer`] and [`Window`] wrap [`Ext`] so they
//! round-trip byte for byte. Errors arrive as Neovim's `[type, message]` pairs
//! and surface as [`dotrpc::Error::Remote`] with the message readable and the
//! pair kept in `raw()`.

use dotrpc::{Ext, Value, error::RemoteError, rpc_api};
use serde::{Deserialize, Serialize};

/// A Neovim buffer handle (ext type 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct Buffer(pub Ext);

/// A Neovim window handle (ext type 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct Window(pub Ext);

impl Buffer {
    /// The buffer's number, as `:ls` shows it.
    pub(crate) fn number(&self) -> Option<i64> {
        self.0.as_int()
    }
}

/// The calls this program makes to Neovim.
#[rpc_api]
#[allow(dead_code, reason = "Neovim implements it; only the client is used")]
pub(crate) trait Nvim {
    /// `[channel id, API metadata]`: the channel is how Neovim addresses us.
    async fn nvim_get_api_info(&self) -> (i64, Value);
    /// Evaluates a Vimscript expression.
    async fn nvim_eval(&self, expr: String) -> Value;
    /// Runs an Ex command.
    async fn nvim_command(&self, command: String);
    /// The current buffer.
    async fn nvim_get_current_buf(&self) -> Buffer;
    /// The current window.
    async fn nvim_get_current_win(&self) -> Window;
    /// The buffer a window shows.
    async fn nvim_win_get_buf(&self, window: Window) -> Buffer;
    /// Replaces lines `start..end` (end exclusive, -1 for the last line).
    async fn nvim_buf_set_lines(
        &self,
        buffer: Buffer,
        start: i64,
        end: i64,
        strict_indexing: bool,
        replacement: Vec<String>,
    );
    /// Lines `start..end` of a buffer.
    async fn nvim_buf_get_lines(
        &self,
        buffer: Buffer,
        start: i64,
        end: i64,
        strict_indexing: bool,
    ) -> Vec<String>;
    /// Asks for `nvim_buf_lines_event` notifications about a buffer.
    async fn nvim_buf_attach(
        &self,
        buffer: Buffer,
        send_buffer: bool,
        options: std::collections::BTreeMap<String, Value>,
    ) -> bool;
}

/// What Neovim tells this program, as typed events: its own buffer updates,
/// and a notification a script sends with `rpcnotify`.
#[rpc_api]
pub(crate) trait NvimEvents {
    /// Lines `firstline..lastline` of `buffer` were replaced by `linedata`.
    #[rpc(event)]
    async fn nvim_buf_lines_event(
        &self,
        buffer: Buffer,
        changedtick: Option<i64>,
        firstline: i64,
        lastline: i64,
        linedata: Vec<String>,
        more: bool,
    );
    /// Sent by `rpcnotify(channel, 'greeting', text, count)`.
    #[rpc(event)]
    async fn greeting(&self, text: String, count: i64);
}

/// The kind of a Neovim error: the first item of its `[type, message]` pair,
/// named as in `nvim_get_api_info().error_types`.
pub(crate) fn error_kind(error: &RemoteError) -> &'static str {
    match error.raw() {
        Value::Array(pair) if pair.len() == 2 => match pair[0].as_i64() {
            Some(0) => "Exception",
            Some(1) => "Validation",
            _ => "unknown",
        },
        _ => "not a Neovim error",
    }
}

/// Neovim's events as lines of text, sent on a channel in arrival order
/// (the example prints them, the tests compare them).
pub(crate) struct Events(pub(crate) tokio::sync::mpsc::UnboundedSender<String>);

impl NvimEvents for Events {
    async fn nvim_buf_lines_event(
        &self,
        buffer: Buffer,
        _changedtick: Option<i64>,
        firstline: i64,
        lastline: i64,
        linedata: Vec<String>,
        _more: bool,
    ) {
        let number = buffer.number().unwrap_or(-1);
        let _ = self.0.send(format!(
            "buffer {number}: lines {firstline}..{lastline} became {linedata:?}"
        ));
    }

    async fn greeting(&self, text: String, count: i64) {
        let _ = self.0.send(format!("greeting {text:?} ({count})"));
    }
}
