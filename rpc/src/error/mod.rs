//! The one public error type, its stable kinds, and how errors cross the wire.
//!
//! Callers see [`Error`]; a handler's failure travels as an msgpack-rpc error
//! object (`{"code", "message", "data"?}`, see [`ErrorObject`], which the
//! message layer writes) and is turned back into the same [`ErrorKind`] at the
//! caller. Peers that are not dotrpc send
//! errors of other shapes (a bare string, Neovim's `[type, message]`); those are
//! kept exactly as they came in a [`RemoteError`].
//!
//! `Error` is generic only over the remote *application* error, so a typed call
//! whose server returns `Err(MathError)` yields `Err(Error::Remote(MathError))`;
//! untyped calls use [`RemoteError`].

use std::fmt;
use std::io;
use std::sync::Arc;

use rmpv::Value;

use crate::codec::CodecError;
use crate::message::ErrorObject;
pub use crate::message::code;

mod kind;

pub use kind::ErrorKind;
#[cfg(feature = "metrics")]
pub(crate) use kind::OUTCOMES;

/// The result type of dotrpc operations.
pub type Result<T, E = RemoteError> = std::result::Result<T, Error<E>>;

/// Everything that can go wrong with a call, a notification or a connection.
///
/// A handler's failure travels as an error object (`{"code", "message",
/// "data"?}`, see [`ErrorObject`]) and comes back here as the same
/// [`ErrorKind`]. `E` is the remote application error: a typed call whose
/// server returns `Err(MathError)` fails with `Error::Remote(MathError)`;
/// untyped calls get a [`RemoteError`] holding whatever the peer sent (a
/// dotrpc error object, a bare string, Neovim's `[type, message]`). Each
/// variant prints one level; the cause, if any, is its `source()`.
///
/// `E` is the remote application error: [`RemoteError`] for untyped calls, the
/// declared error type for typed ones.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error<E = RemoteError> {
    /// The peer has no handler for this path.
    #[error("no handler for `{method}` on the peer")]
    UnknownApi {
        /// The dot-joined path that was called.
        method: String,
    },
    /// The params did not fit the handler: wrong arity or wrong type.
    #[error("invalid params for `{method}`: {reason}")]
    InvalidParams {
        /// The dot-joined path that was called.
        method: String,
        /// What was expected and what came.
        reason: String,
    },
    /// The handler ran and returned an application error.
    #[error("remote error: {0}")]
    Remote(E),
    /// The peer answered with an error that is neither a dotrpc kind nor the
    /// declared application error type; it is kept as it came.
    #[error("unexpected remote error: {0}")]
    Foreign(RemoteError),
    /// The handler failed in a way that is not the caller's fault (it panicked,
    /// or its result could not be encoded).
    #[error("internal error in the peer: {message}")]
    Internal {
        /// What the peer said happened.
        message: String,
    },
    /// No reply came within the call's timeout.
    #[error("call timed out")]
    Timeout,
    /// The connection is gone; the call may or may not have run.
    #[error("disconnected: {reason}")]
    Disconnected {
        /// Why the connection ended.
        reason: DisconnectReason,
    },
    /// An I/O error on the transport (connecting, binding, reading, writing).
    #[error("transport error")]
    Transport(#[source] Arc<io::Error>),
    /// Bytes that are not a valid msgpack-rpc message, or values that could not
    /// be encoded or decoded.
    #[error("codec error")]
    Codec(#[source] CodecError),
    /// The peer refused the call because it is at a limit; retry later.
    #[error("the peer is overloaded: {message}")]
    Overloaded {
        /// What limit was hit.
        message: String,
    },
    /// The call was cancelled before its reply arrived.
    #[error("call cancelled")]
    Cancelled,
    /// Items of a stream were dropped to keep it current: its handler keeps
    /// only the latest items when the consumer falls behind
    /// ([`ItemSink::send_latest`](crate::ItemSink::send_latest)), and this
    /// many were dropped here. The stream goes on.
    #[error("the stream lagged: {skipped} items were dropped")]
    Lagged {
        /// How many items were dropped.
        skipped: u64,
    },
    /// The peer refused the call: this connection is not (yet) allowed to
    /// call the path (log in first, or ask for access).
    #[error("not authorized to call `{method}`: {message}")]
    Unauthorized {
        /// The dot-joined path that was called.
        method: String,
        /// Why, as the peer said.
        message: String,
    },
    /// Nothing is serving the path: over NATS, no instance is subscribed to
    /// its subject, which the broker says at once (no waiting for a
    /// timeout). Nothing ran; the call may be retried when an instance is up.
    #[error("no instance is serving `{method}`")]
    NoResponders {
        /// The dot-joined path that was called.
        method: String,
    },
    /// The API was used in a way that cannot work, such as a blocking wait on
    /// a runtime thread (which would deadlock); the message says what to do.
    #[error("{message}")]
    Misuse {
        /// What went wrong and what to do instead.
        message: &'static str,
    },
}

impl<E> Error<E> {
    /// The stable kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::UnknownApi { .. } => ErrorKind::UnknownApi,
            Error::InvalidParams { .. } => ErrorKind::InvalidParams,
            Error::Remote(_) => ErrorKind::Remote,
            Error::Foreign(_) => ErrorKind::Foreign,
            Error::Internal { .. } => ErrorKind::Internal,
            Error::Timeout => ErrorKind::Timeout,
            Error::Disconnected { .. } => ErrorKind::Disconnected,
            Error::Transport(_) => ErrorKind::Transport,
            Error::Codec(_) => ErrorKind::Codec,
            Error::Overloaded { .. } => ErrorKind::Overloaded,
            Error::Cancelled => ErrorKind::Cancelled,
            Error::Lagged { .. } => ErrorKind::Lagged,
            Error::Misuse { .. } => ErrorKind::Misuse,
            Error::Unauthorized { .. } => ErrorKind::Unauthorized,
            Error::NoResponders { .. } => ErrorKind::NoResponders,
        }
    }

    /// Turns the application error type into another one, leaving every other
    /// variant as it is.
    pub fn map_remote<F>(self, f: impl FnOnce(E) -> F) -> Error<F> {
        match self {
            Error::Remote(e) => Error::Remote(f(e)),
            Error::UnknownApi { method } => Error::UnknownApi { method },
            Error::InvalidParams { method, reason } => Error::InvalidParams { method, reason },
            Error::Foreign(e) => Error::Foreign(e),
            Error::Internal { message } => Error::Internal { message },
            Error::Timeout => Error::Timeout,
            Error::Disconnected { reason } => Error::Disconnected { reason },
            Error::Transport(e) => Error::Transport(e),
            Error::Codec(e) => Error::Codec(e),
            Error::Overloaded { message } => Error::Overloaded { message },
            Error::Cancelled => Error::Cancelled,
            Error::Lagged { skipped } => Error::Lagged { skipped },
            Error::Misuse { message } => Error::Misuse { message },
            Error::Unauthorized { method, message } => Error::Unauthorized { method, message },
            Error::NoResponders { method } => Error::NoResponders { method },
        }
    }
}

impl<E> From<io::Error> for Error<E> {
    fn from(error: io::Error) -> Self {
        Error::Transport(Arc::new(error))
    }
}

impl<E> From<CodecError> for Error<E> {
    fn from(error: CodecError) -> Self {
        Error::Codec(error)
    }
}

/// Why a connection ended. Every call pending on it fails with
/// [`Error::Disconnected`] carrying this reason.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// This side closed the connection (or dropped its last `Peer` handle).
    Closed,
    /// The other side closed the connection: this side read the end of its
    /// stream, or a write or read found the connection closed (a broken pipe
    /// or a reset), whichever came first.
    Eof,
    /// The server shut down.
    Shutdown,
    /// Reading or writing failed.
    Transport(String),
    /// The other side sent bytes that are not a valid message.
    Protocol(String),
    /// Nothing arrived for this long (the idle timeout).
    Idle {
        /// The idle timeout.
        after: std::time::Duration,
    },
    /// A message began but was not complete within this long (the message
    /// timeout): a peer trickling bytes.
    Stalled {
        /// The message timeout.
        after: std::time::Duration,
    },
    /// More bytes were queued for the other side than the limit allows
    /// (`max_queued_bytes`): it stopped reading, or it reads slower than it is
    /// sent to (senders that `.await` their sends wait for room instead).
    Backlog {
        /// The bytes queued when the limit was passed.
        queued: usize,
        /// How long nothing had been written when the limit was passed: the
        /// other side stopped reading. `None` if writes were still going
        /// through: it reads, only slower than it is sent to.
        stalled_for: Option<std::time::Duration>,
    },
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisconnectReason::Closed => f.write_str("connection closed by this side"),
            DisconnectReason::Eof => f.write_str("connection closed by the peer"),
            DisconnectReason::Shutdown => f.write_str("server shut down"),
            DisconnectReason::Transport(e) => write!(f, "transport failed: {e}"),
            DisconnectReason::Protocol(e) => write!(f, "protocol violation: {e}"),
            DisconnectReason::Idle { after } => write!(f, "nothing received for {after:?}"),
            DisconnectReason::Stalled { after } => {
                write!(f, "a message was not completed within {after:?}")
            }
            DisconnectReason::Backlog {
                queued,
                stalled_for: Some(stalled),
            } => write!(
                f,
                "the peer stopped reading: {queued} bytes queued for it, none written for {stalled:?}"
            ),
            DisconnectReason::Backlog {
                queued,
                stalled_for: None,
            } => write!(
                f,
                "the peer reads slower than it is sent to: {queued} bytes queued for it \
                 (await sends to wait for room)"
            ),
        }
    }
}

impl<E: serde::Serialize + fmt::Display> From<&Error<E>> for ErrorObject {
    /// The error object a handler answers with when it fails with `error`
    /// (typically one it got from a call it made itself).
    fn from(error: &Error<E>) -> Self {
        match error {
            Error::Remote(app) => ErrorObject::application(app),
            Error::UnknownApi { method } => {
                ErrorObject::unknown_api(format!("no handler for `{method}`"))
            }
            Error::InvalidParams { reason, .. } => ErrorObject::invalid_params(reason.clone()),
            other => {
                let code = other.kind().code().unwrap_or(code::INTERNAL);
                ErrorObject::new(code, other.to_string())
            }
        }
    }
}

/// An error from the peer, kept exactly as it came, with its dotrpc fields
/// picked out where the shape allows.
///
/// dotrpc peers send `{"code", "message", "data"?}`; others send a string, or
/// (Neovim) `[type, message]`, or anything else. [`raw`](RemoteError::raw) is
/// always what arrived. Boxed, so that `Result`s carrying an [`Error`] stay
/// small.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteError {
    parts: Box<RemoteParts>,
}

#[derive(Debug, Clone, PartialEq)]
struct RemoteParts {
    code: Option<String>,
    message: String,
    data: Option<Value>,
    raw: Value,
}

impl RemoteError {
    /// Picks the fields out of an error value of any shape.
    pub fn from_value(raw: Value) -> Self {
        let mut code = None;
        let mut message = None;
        let mut data = None;
        match &raw {
            Value::Map(entries) => {
                for (key, value) in entries {
                    match (key.as_str(), value) {
                        (Some("code"), Value::String(s)) => code = s.as_str().map(str::to_owned),
                        (Some("message"), Value::String(s)) => {
                            message = s.as_str().map(str::to_owned)
                        }
                        (Some("data"), v) => data = Some(v.clone()),
                        _ => {}
                    }
                }
            }
            Value::String(s) => message = Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
            Value::Array(items) if items.len() == 2 => {
                if let Value::String(s) = &items[1] {
                    message = Some(String::from_utf8_lossy(s.as_bytes()).into_owned());
                }
            }
            _ => {}
        }
        let message = message.unwrap_or_else(|| raw.to_string());
        RemoteError {
            parts: Box::new(RemoteParts {
                code,
                message,
                data,
                raw,
            }),
        }
    }

    /// The `code` of a dotrpc-shaped error object.
    pub fn code(&self) -> Option<&str> {
        self.parts.code.as_deref()
    }

    /// The message: the `message` field, the string itself, or the second item
    /// of a `[type, message]` pair; otherwise the value printed.
    pub fn message(&self) -> &str {
        &self.parts.message
    }

    /// The `data` field of a dotrpc-shaped error object.
    pub fn data(&self) -> Option<&Value> {
        self.parts.data.as_ref()
    }

    /// The error value exactly as the peer sent it.
    pub fn raw(&self) -> &Value {
        &self.parts.raw
    }

    /// Turns the error into the matching [`Error`] kind: dotrpc codes become
    /// their kinds, application errors and foreign shapes go through `E`.
    pub(crate) fn into_error<E: FromRemote>(self, method: &str) -> Error<E> {
        let message = || self.message().to_owned();
        match self.code().and_then(ErrorKind::of_code) {
            Some(ErrorKind::UnknownApi) => Error::UnknownApi {
                method: method.to_owned(),
            },
            Some(ErrorKind::InvalidParams) => Error::InvalidParams {
                method: method.to_owned(),
                reason: message(),
            },
            Some(ErrorKind::Internal) => Error::Internal { message: message() },
            Some(ErrorKind::Overloaded) => Error::Overloaded { message: message() },
            Some(ErrorKind::Timeout) => Error::Timeout,
            Some(ErrorKind::Unauthorized) => Error::Unauthorized {
                method: method.to_owned(),
                message: message(),
            },
            Some(ErrorKind::Cancelled) => Error::Cancelled,
            Some(ErrorKind::NoResponders) => Error::NoResponders {
                method: method.to_owned(),
            },
            // `Application`, or no code of dotrpc's: the application's own
            // error, if it is one.
            _ => match E::from_remote(self) {
                Ok(app) => Error::Remote(app),
                Err(unrecognised) => Error::Foreign(unrecognised),
            },
        }
    }
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code() {
            Some(code) => write!(f, "{code}: {}", self.message()),
            None => f.write_str(self.message()),
        }
    }
}

impl std::error::Error for RemoteError {}

/// Serializes as the value the peer sent, so a handler can pass an error it
/// got from another peer on unchanged.
impl serde::Serialize for RemoteError {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        self.raw().serialize(serializer)
    }
}

/// How a remote error becomes the application error type `E` of a call.
///
/// [`RemoteError`] takes every error as it came. Any other `E` (a typed
/// application error) is decoded from the `data` of an `"Application"` error;
/// what does not decode is surfaced as [`Error::Foreign`].
pub trait FromRemote: Sized {
    /// Converts the error, or hands it back if it is not an `E`.
    ///
    /// # Errors
    ///
    /// Returns the error unchanged when it does not describe an `E`.
    fn from_remote(error: RemoteError) -> std::result::Result<Self, RemoteError>;
}

impl FromRemote for RemoteError {
    fn from_remote(error: RemoteError) -> std::result::Result<Self, RemoteError> {
        Ok(error)
    }
}

impl<E: serde::de::DeserializeOwned> FromRemote for E {
    fn from_remote(error: RemoteError) -> std::result::Result<Self, RemoteError> {
        if error.code() != Some(code::APPLICATION) {
            return Err(error);
        }
        match error.data() {
            Some(data) => crate::message::from_value(data).map_err(|_| error),
            None => Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotrpc_error_objects_map_back_to_their_kinds() {
        let object = ErrorObject::unknown_api("no handler for `a.b`");
        let error: Error = RemoteError::from_value(object.to_value()).into_error("a.b");
        assert!(
            matches!(error, Error::UnknownApi { ref method } if method == "a.b"),
            "{error:?}"
        );

        let object = ErrorObject::invalid_params("add expects 2 params, got 1");
        let error: Error = RemoteError::from_value(object.to_value()).into_error("add");
        assert_eq!(
            error.to_string(),
            "invalid params for `add`: add expects 2 params, got 1"
        );
    }

    #[test]
    fn display_shows_one_level_and_the_cause_is_the_source() {
        use std::error::Error as _;
        let io = io::Error::new(io::ErrorKind::ConnectionRefused, "refused");
        let error: Error = Error::from(io);
        assert_eq!(error.to_string(), "transport error");
        assert_eq!(error.source().unwrap().to_string(), "refused");
        let codec: Error = Error::Codec(CodecError::Malformed("bad".into()));
        assert_eq!(codec.to_string(), "codec error");
        assert!(codec.source().unwrap().to_string().contains("bad"));
    }

    #[test]
    fn foreign_error_shapes_are_kept_as_they_came() {
        let neovim = Value::Array(vec![
            Value::from(0),
            Value::from("Vim:E121: Undefined variable: x"),
        ]);
        let error = RemoteError::from_value(neovim.clone());
        assert_eq!(error.message(), "Vim:E121: Undefined variable: x");
        assert_eq!(error.code(), None);
        assert_eq!(error.raw(), &neovim);

        let plain = RemoteError::from_value(Value::from("boom"));
        assert_eq!(plain.message(), "boom");

        let odd = RemoteError::from_value(Value::from(42));
        assert_eq!(odd.message(), "42");
        let as_error: Error = odd.clone().into_error("m");
        assert!(matches!(as_error, Error::Remote(ref e) if *e == odd));
    }

    #[test]
    fn typed_application_errors_decode_from_data() {
        #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
        enum MathError {
            DivisionByZero,
        }
        impl fmt::Display for MathError {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("division by zero")
            }
        }
        let sent: Error<MathError> = Error::Remote(MathError::DivisionByZero);
        let object = ErrorObject::from(&sent);
        assert_eq!(object.code, "Application");
        assert_eq!(object.message, "division by zero");

        let received: Error<MathError> =
            RemoteError::from_value(object.to_value()).into_error("math.div");
        assert!(
            matches!(received, Error::Remote(MathError::DivisionByZero)),
            "{received:?}"
        );

        let foreign: Error<MathError> =
            RemoteError::from_value(Value::from("nope")).into_error("math.div");
        assert_eq!(foreign.kind(), ErrorKind::Foreign);
    }
}
