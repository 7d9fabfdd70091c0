//! [`Outgoing`]: a call being made, before it is a request or a notification.
//!
//! A call's method and params are encoded when the call is made, straight
//! from the caller's types; whether it goes out as a request (with a msgid
//! and perhaps a deadline) or as a notification is decided when it is queued
//! ([`Frames::push_request`](super::Frames::push_request),
//! [`Frames::push_notification`](super::Frames::push_notification)), so one
//! encoding serves every call mode. Small params are encoded inline (no
//! allocation); the bytes of a large [`Blob`](crate::Blob) are spliced in,
//! not copied.

use std::io::{self, Write};
use std::sync::Arc;

use bytes::BytesMut;
use serde::Serialize;

use super::encoded::{INLINE, Pieces};
use super::splice::Splicer;
use super::{Encoded, encode_value};
use crate::codec::CodecError;

/// The method and encoded params of a call; see the [module docs](self).
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    method: Arc<str>,
    /// The whole params array, header included.
    params: Encoded,
}

impl Outgoing {
    /// A call of `method` whose params are `params`, which must serialize as
    /// an array (a tuple, `Vec`, slice or array); `()` is taken as none.
    ///
    /// # Errors
    ///
    /// [`CodecError::Serde`] if the params do not serialize, or not as an
    /// array.
    pub(crate) fn new<P: Serialize + ?Sized>(
        method: Arc<str>,
        params: &P,
    ) -> Result<Self, CodecError> {
        let mut buf = ParamsWriter::default();
        encode_value(&mut buf, params)?;
        match buf.first() {
            // `()`: no params.
            Some(0xc0) => buf = ParamsWriter::with_count(0),
            Some(0x90..=0x9f | 0xdc | 0xdd) => {}
            _ => {
                return Err(CodecError::Serde(
                    "params must serialize as an array: pass a tuple such as `(a, b)` or `(a,)`"
                        .into(),
                ));
            }
        }
        Ok(buf.finish(method))
    }

    /// The dot-joined path called.
    pub(crate) fn method(&self) -> &str {
        &self.method
    }

    /// The path, shared.
    pub(crate) fn method_arc(&self) -> &Arc<str> {
        &self.method
    }

    /// The encoded params array, in pieces.
    pub(crate) fn params_pieces(&self) -> Pieces<'_> {
        self.params.pieces()
    }

    #[cfg(test)]
    pub(crate) fn params(&self) -> bytes::Bytes {
        self.params.to_bytes()
    }

    /// The size of the largest frame this call becomes (a request with a
    /// deadline), to check against the peer's limit before it is sent.
    /// `TooLarge` if the message may be over `max` bytes.
    pub(crate) fn check_size(&self, max: usize) -> Result<(), CodecError> {
        let size = self.max_frame_len();
        if size > max {
            return Err(CodecError::TooLarge {
                size: size as u64,
                max,
            });
        }
        Ok(())
    }

    pub(crate) fn max_frame_len(&self) -> usize {
        // [0x95, 0, msgid <= 5, str header <= 5, method, params, deadline map <= 22]
        2 + 5 + 5 + self.method.len() + self.params.len() + 22
    }
}

/// A params array being encoded, param by param: inline while it is small,
/// in a buffer (with any large `Blob` spliced in) once it grows past that.
#[derive(Debug)]
pub(crate) enum ParamsWriter {
    Inline { len: usize, bytes: [u8; INLINE] },
    Spliced(Splicer),
}

impl Default for ParamsWriter {
    fn default() -> Self {
        ParamsWriter::Inline {
            len: 0,
            bytes: [0; INLINE],
        }
    }
}

impl ParamsWriter {
    /// Starts an array of `count` params, added with
    /// [`push`](ParamsWriter::push).
    pub(crate) fn with_count(count: u32) -> Self {
        let mut writer = ParamsWriter::default();
        rmp::encode::write_array_len(&mut writer, count).expect("writing to a buffer cannot fail");
        writer
    }

    /// Appends the next param.
    ///
    /// # Errors
    ///
    /// [`CodecError::Serde`] if `value` does not serialize.
    pub(crate) fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CodecError> {
        encode_value(&mut *self, value)
    }

    fn first(&self) -> Option<u8> {
        match self {
            ParamsWriter::Inline { len, bytes } => bytes[..*len].first().copied(),
            ParamsWriter::Spliced(splicer) => splicer.first(),
        }
    }

    /// The call of `method` with these params.
    pub(crate) fn finish(self, method: Arc<str>) -> Outgoing {
        let params = match self {
            ParamsWriter::Inline { len, bytes } => Encoded::inline(bytes, len),
            ParamsWriter::Spliced(splicer) => Encoded::from_pieces(splicer.finish().0),
        };
        Outgoing { method, params }
    }
}

impl Write for ParamsWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            ParamsWriter::Inline { len, bytes } if *len + data.len() <= INLINE => {
                bytes[*len..*len + data.len()].copy_from_slice(data);
                *len += data.len();
                Ok(data.len())
            }
            ParamsWriter::Inline { len, bytes } => {
                let mut spilled = BytesMut::with_capacity((*len + data.len()).max(4 * INLINE));
                spilled.extend_from_slice(&bytes[..*len]);
                let mut splicer = Splicer::new(spilled);
                splicer.write_all(data)?;
                *self = ParamsWriter::Spliced(splicer);
                Ok(data.len())
            }
            ParamsWriter::Spliced(splicer) => splicer.write(data),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::splice::{SPLICE_AT, lend};
    use bytes::Bytes;

    #[test]
    fn params_leave_the_inline_buffer_when_they_outgrow_it() {
        let mut writer = ParamsWriter::with_count(3);
        writer.push(&1u8).unwrap();
        assert!(matches!(writer, ParamsWriter::Inline { .. }));
        writer.push(&"x".repeat(100)).unwrap();
        writer.push(&2u8).unwrap();
        assert!(matches!(writer, ParamsWriter::Spliced(_)));
        let call = writer.finish(Arc::from("m"));
        let decoded: (u8, String, u8) = rmp_serde::from_slice(&call.params()).unwrap();
        assert_eq!(decoded, (1, "x".repeat(100), 2));
    }

    #[test]
    fn a_large_lent_param_is_spliced_not_copied() {
        struct Bin<'b>(&'b [u8]);
        impl Serialize for Bin<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_bytes(self.0)
            }
        }
        let big = Bytes::from(vec![5u8; SPLICE_AT]);
        let mut writer = ParamsWriter::with_count(1);
        lend(&big, || writer.push(&Bin(&big))).unwrap();
        let call = writer.finish(Arc::from("m"));
        let Pieces::Shared(pieces) = call.params_pieces() else {
            panic!("not in pieces")
        };
        assert!(pieces.iter().any(|piece| piece.as_ptr() == big.as_ptr()));
    }
}
