//! [`Outgoing`]: a call being made, before it is a request or a notification.
//!
//! A call's method and params are encoded when the call is made, straight
//! from the caller's types; whether it goes out as a request (with a msgid
//! and perhaps a deadline) or as a notification is decided when it is queued
//! ([`Frames::push_request`](super::Frames::push_request),
//! [`Frames::push_notification`](super::Frames::push_notification)), so one
//! encoding serves every call mode.

use std::io;
use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use serde::Serialize;

use super::encode_value;
use crate::codec::CodecError;

/// Params up to this many bytes are encoded inline, with no allocation.
const INLINE: usize = 46;

/// The method and encoded params of a call; see the [module docs](self).
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    method: Arc<str>,
    /// The whole params array, header included.
    params: ParamsBuf,
}

/// An encoded params array: inline while it is small, on the heap once it
/// grows past that.
#[derive(Debug, Clone)]
enum ParamsBuf {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(BytesMut),
}

impl ParamsBuf {
    fn new() -> Self {
        ParamsBuf::Inline {
            len: 0,
            bytes: [0; INLINE],
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            ParamsBuf::Inline { len, bytes } => &bytes[..usize::from(*len)],
            ParamsBuf::Heap(bytes) => bytes,
        }
    }

    fn clear(&mut self) {
        *self = ParamsBuf::new();
    }
}

impl io::Write for ParamsBuf {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            ParamsBuf::Inline { len, bytes } => {
                let at = usize::from(*len);
                if at + data.len() <= INLINE {
                    bytes[at..at + data.len()].copy_from_slice(data);
                    *len += data.len() as u8;
                } else {
                    let mut heap = BytesMut::with_capacity((at + data.len()).max(2 * INLINE));
                    heap.put_slice(&bytes[..at]);
                    heap.put_slice(data);
                    *self = ParamsBuf::Heap(heap);
                }
            }
            ParamsBuf::Heap(heap) => heap.put_slice(data),
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
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
        let mut buf = ParamsBuf::new();
        encode_value(&mut buf, params)?;
        match buf.as_slice().first() {
            Some(0xc0) => {
                buf.clear();
                io::Write::write_all(&mut buf, &[0x90]).expect("writing to a buffer cannot fail");
            }
            Some(0x90..=0x9f | 0xdc | 0xdd) => {}
            _ => {
                return Err(CodecError::Serde(
                    "params must serialize as an array: pass a tuple such as `(a, b)` or `(a,)`"
                        .into(),
                ));
            }
        };
        Ok(Outgoing {
            method,
            params: buf,
        })
    }

    /// Starts a call of `method` with `count` params, which are then added
    /// one by one with [`push_param`](Outgoing::push_param).
    pub(crate) fn with_count(method: Arc<str>, count: u32) -> Self {
        let mut params = ParamsBuf::new();
        rmp::encode::write_array_len(&mut params, count).expect("writing to a buffer cannot fail");
        Outgoing { method, params }
    }

    /// Appends the next param.
    ///
    /// # Errors
    ///
    /// [`CodecError::Serde`] if `value` does not serialize.
    pub(crate) fn push_param<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
    ) -> Result<(), CodecError> {
        encode_value(&mut self.params, value)
    }

    /// The dot-joined path called.
    pub(crate) fn method(&self) -> &str {
        &self.method
    }

    /// The path, shared.
    pub(crate) fn method_arc(&self) -> &Arc<str> {
        &self.method
    }

    /// The encoded params array.
    pub(crate) fn params(&self) -> &[u8] {
        self.params.as_slice()
    }

    /// The size of the largest frame this call becomes (a request with a
    /// deadline), to check against the peer's limit before it is sent.
    pub(crate) fn max_frame_len(&self) -> usize {
        // [0x95, 0, msgid <= 5, str header <= 5, method, params, deadline map <= 22]
        2 + 5 + 5 + self.method.len() + self.params.as_slice().len() + 22
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_move_to_the_heap_when_they_outgrow_the_inline_buffer() {
        let mut call = Outgoing::with_count(Arc::from("m"), 3);
        call.push_param(&1u8).unwrap();
        assert!(matches!(call.params, ParamsBuf::Inline { .. }));
        call.push_param(&"x".repeat(100)).unwrap();
        call.push_param(&2u8).unwrap();
        assert!(matches!(call.params, ParamsBuf::Heap(_)));
        let decoded: (u8, String, u8) = rmp_serde::from_slice(call.params()).unwrap();
        assert_eq!(decoded, (1, "x".repeat(100), 2));
    }
}
