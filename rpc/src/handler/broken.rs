//! [`StreamError`]: why a stream a handler sends or receives broke, in a
//! form an API's own error type can hold, so that `?` works in a method
//! that returns `Result<T, MyError>`.
//!
//! The sending and receiving ends of a handler's streams
//! ([`ItemSink`](crate::ItemSink), [`ItemReceiver`](crate::ItemReceiver))
//! fail with [`Error`]. An API's error type must cross the wire
//! (`Serialize + Deserialize`), which `Error` does not; `StreamError` is its
//! summary that does: the kind and the message.

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};

/// Why a stream broke: the caller cancelled it or went away, an item did not
/// decode, the connection closed. Give an API's error type a variant that
/// holds one, and a `From<dotrpc::Error>`, and stream errors propagate with
/// `?` in its methods:
///
/// ```
/// use dotrpc::{ItemReceiver, ItemSink, handler::StreamError};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Serialize, Deserialize)]
/// pub enum StoreError {
///     Full,
///     Stream(StreamError),
/// }
/// # impl std::fmt::Display for StoreError {
/// #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { write!(f, "{self:?}") }
/// # }
///
/// impl From<dotrpc::Error> for StoreError {
///     fn from(error: dotrpc::Error) -> Self {
///         StoreError::Stream(error.into())
///     }
/// }
///
/// async fn copy(
///     mut from: ItemReceiver<u64>,
///     mut to: ItemSink<u64>,
/// ) -> Result<u64, StoreError> {
///     let mut copied = 0;
///     while let Some(item) = from.next().await {
///         to.send(&item?).await?; // a broken input or output ends the call
///         copied += 1;
///     }
///     Ok(copied)
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct StreamError {
    kind: ErrorKind,
    message: String,
}

impl StreamError {
    /// What kind of error broke the stream: `Cancelled`, `Disconnected`,
    /// `Codec` (an item that did not decode), ...
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// What went wrong, as the error said it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl<E: std::fmt::Display> From<Error<E>> for StreamError {
    fn from(error: Error<E>) -> Self {
        StreamError {
            kind: error.kind(),
            message: error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::DisconnectReason;

    #[test]
    fn a_stream_error_keeps_the_kind_and_the_words_and_crosses_the_wire() {
        let error = StreamError::from(Error::<crate::error::RemoteError>::Disconnected {
            reason: DisconnectReason::Eof,
        });
        assert_eq!(error.kind(), ErrorKind::Disconnected);
        assert!(!error.message().is_empty());
        let bytes = rmp_serde::to_vec_named(&error).unwrap();
        let back: StreamError = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back, error);
    }
}
