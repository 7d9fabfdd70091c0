//! [`Encoded`]: a result value, encoded, on its way into a response.

use std::fmt;

use bytes::{Bytes, BytesMut};

/// Values up to this many bytes are kept inline: no allocation, no
/// reference count, one copy into the connection's queue.
pub(crate) const INLINE: usize = 30;

/// A call's result value, encoded as msgpack, as a handler answers with it
/// (see [`IntoReply`](crate::handler::IntoReply)).
///
/// Small results (numbers, short strings) are held inline; large ones are
/// shared bytes, queued on the connection without a copy, and so are the
/// bytes of a [`Blob`](crate::Blob) within them.
#[derive(Clone, PartialEq, Eq)]
pub struct Encoded(Repr);

#[derive(Clone, PartialEq, Eq)]
enum Repr {
    Inline {
        len: u8,
        bytes: [u8; INLINE],
    },
    Shared(Bytes),
    /// Encoded bytes with a `Blob`'s bytes spliced in, in order.
    Pieces(Vec<Bytes>),
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

    /// The first `len` bytes of `bytes`.
    pub(crate) fn inline(bytes: [u8; INLINE], len: usize) -> Encoded {
        Encoded(Repr::Inline {
            len: len as u8,
            bytes,
        })
    }

    /// The value in `pieces`, in order.
    pub(crate) fn from_pieces(mut pieces: Vec<Bytes>) -> Encoded {
        match pieces.len() {
            1 => Encoded(Repr::Shared(pieces.remove(0))),
            _ => Encoded(Repr::Pieces(pieces)),
        }
    }

    /// How many bytes the value takes.
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Inline { len, .. } => usize::from(*len),
            Repr::Shared(bytes) => bytes.len(),
            Repr::Pieces(pieces) => pieces.iter().map(Bytes::len).sum(),
        }
    }

    /// Whether there are no bytes at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes, in one buffer (copied together if they are in pieces).
    pub fn to_bytes(&self) -> Bytes {
        match &self.0 {
            Repr::Inline { len, bytes } => Bytes::copy_from_slice(&bytes[..usize::from(*len)]),
            Repr::Shared(bytes) => bytes.clone(),
            Repr::Pieces(pieces) => {
                let mut all = BytesMut::with_capacity(self.len());
                pieces.iter().for_each(|piece| all.extend_from_slice(piece));
                all.freeze()
            }
        }
    }

    /// The pieces, in order: bytes to copy, or shared bytes.
    pub(crate) fn pieces(&self) -> Pieces<'_> {
        match &self.0 {
            Repr::Inline { len, bytes } => Pieces::Slice(&bytes[..usize::from(*len)]),
            Repr::Shared(bytes) => Pieces::Shared(std::slice::from_ref(bytes)),
            Repr::Pieces(pieces) => Pieces::Shared(pieces),
        }
    }
}

/// What an [`Encoded`] is made of.
pub(crate) enum Pieces<'e> {
    /// Small: copied where it goes.
    Slice(&'e [u8]),
    /// Shared buffers, in order.
    Shared(&'e [Bytes]),
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
