//! Large shared bytes spliced into an encoding instead of copied into it.
//!
//! serde writes a value's bytes through the serializer, which copies them.
//! A [`Blob`](crate::Blob) that is being serialized lends its bytes first
//! ([`lend`]); a [`Splicer`] that is then handed those very bytes to write
//! takes them as a piece of its own instead, so a large result or param
//! reaches the connection's queue, and the socket, without a copy.

use std::cell::RefCell;
use std::io;

use bytes::{Bytes, BytesMut};

/// Bytes at least this large are spliced (and queued as their own chunk);
/// smaller ones are cheaper to copy.
pub(crate) const SPLICE_AT: usize = 64 * 1024;

thread_local! {
    /// The bytes a `Blob` being serialized on this thread lends.
    static LENT: RefCell<Option<Bytes>> = const { RefCell::new(None) };
}

/// Runs `serialize` (a `Blob` writing its bytes) with `bytes` lent to any
/// [`Splicer`] it writes to.
pub(crate) fn lend<R>(bytes: &Bytes, serialize: impl FnOnce() -> R) -> R {
    if bytes.len() < SPLICE_AT {
        return serialize();
    }
    let previous = LENT.with(|lent| lent.replace(Some(bytes.clone())));
    let serialized = serialize();
    LENT.with(|lent| *lent.borrow_mut() = previous);
    serialized
}

/// The lent bytes, if `data` is exactly them.
fn take_lent(data: &[u8]) -> Option<Bytes> {
    if data.len() < SPLICE_AT {
        return None;
    }
    LENT.with(|lent| {
        let mut lent = lent.borrow_mut();
        match &*lent {
            Some(bytes) if bytes.as_ptr() == data.as_ptr() && bytes.len() == data.len() => {
                lent.take()
            }
            _ => None,
        }
    })
}

/// A writer into a buffer that splices lent bytes in as pieces of their own.
#[derive(Debug, Default)]
pub(crate) struct Splicer {
    /// Pieces before `tail`, in order.
    pieces: Vec<Bytes>,
    tail: BytesMut,
}

impl Splicer {
    /// A splicer that writes into `tail` (and its spare room).
    pub(crate) fn new(tail: BytesMut) -> Splicer {
        Splicer {
            pieces: Vec::new(),
            tail,
        }
    }

    /// The first byte written, if any.
    pub(crate) fn first(&self) -> Option<u8> {
        match self.pieces.first() {
            Some(piece) => piece.first().copied(),
            None => self.tail.first().copied(),
        }
    }

    /// What was written, as pieces in order (one, unless bytes were
    /// spliced), and the buffer's spare room, to write into again.
    pub(crate) fn finish(mut self) -> (Vec<Bytes>, BytesMut) {
        if !self.tail.is_empty() || self.pieces.is_empty() {
            self.pieces.push(self.tail.split().freeze());
        }
        (self.pieces, self.tail)
    }
}

impl io::Write for Splicer {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match take_lent(data) {
            Some(lent) => {
                if !self.tail.is_empty() {
                    self.pieces.push(self.tail.split().freeze());
                }
                self.pieces.push(lent);
            }
            None => self.tail.extend_from_slice(data),
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn lent_bytes_are_spliced_and_others_copied() {
        let big = Bytes::from(vec![1u8; SPLICE_AT]);
        let mut splicer = Splicer::default();
        splicer.write_all(b"head").unwrap();
        lend(&big, || splicer.write_all(&big)).unwrap();
        splicer.write_all(b"tail").unwrap();
        // The same bytes again, not lent this time: copied.
        splicer.write_all(&big).unwrap();
        let (pieces, _) = splicer.finish();
        assert_eq!(pieces.len(), 3);
        assert_eq!(&pieces[0][..], b"head");
        assert_eq!(pieces[1].as_ptr(), big.as_ptr(), "spliced, not copied");
        assert_eq!(pieces[2].len(), 4 + SPLICE_AT);
    }
}
