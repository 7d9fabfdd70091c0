//! [`Encoded`]: a result value, encoded, on its way into a response.

use std::fmt;
use std::ops::Deref;

use bytes::Bytes;

/// Results up to this many bytes are kept inline: no allocation, no
/// reference count, one copy into the connection's queue.
const INLINE: usize = 30;

/// A call's result value, encoded as msgpack, as a handler answers with it
/// (see [`IntoReply`](crate::IntoReply)).
///
/// Small results (numbers, short strings) are held inline; large ones are
/// shared bytes, queued on the connection without a copy.
#[derive(Clone, PartialEq, Eq)]
pub struct Encoded(Repr);

#[derive(Clone, PartialEq, Eq)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Shared(Bytes),
}

impl Encoded {
    /// No value at all: what is "answered" to a notification, which is
    /// never sent.
    pub(crate) fn empty() -> Encoded {
        Encoded(Repr::Inline {
            len: 0,
            bytes: [0; INLINE],
        })
    }

    /// Encodes with `encode` into an inline buffer; `None` if it does not
    /// fit (or `encode` fails), leaving the caller to try a buffer of its own.
    pub(crate) fn try_inline(encode: impl FnOnce(&mut &mut [u8]) -> bool) -> Option<Encoded> {
        let mut bytes = [0u8; INLINE];
        let mut rest = &mut bytes[..];
        if !encode(&mut rest) {
            return None;
        }
        let len = (INLINE - rest.len()) as u8;
        Some(Encoded(Repr::Inline { len, bytes }))
    }

    /// The bytes, shared, if they are not held inline.
    pub(crate) fn shared(&self) -> Option<&Bytes> {
        match &self.0 {
            Repr::Shared(bytes) => Some(bytes),
            Repr::Inline { .. } => None,
        }
    }
}

impl Deref for Encoded {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Repr::Shared(bytes) => bytes,
        }
    }
}

impl From<Bytes> for Encoded {
    /// Bytes that already hold exactly one msgpack value.
    fn from(bytes: Bytes) -> Self {
        Encoded(Repr::Shared(bytes))
    }
}

impl From<Vec<u8>> for Encoded {
    /// Bytes that already hold exactly one msgpack value.
    fn from(bytes: Vec<u8>) -> Self {
        Encoded(Repr::Shared(bytes.into()))
    }
}

impl fmt::Debug for Encoded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Encoded({} bytes)", self.len())
    }
}
