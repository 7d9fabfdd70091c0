//! [`Params`]: a message's positional params, as they came.

use std::fmt;

use bytes::Bytes;
use rmpv::Value;

use crate::codec::{CodecError, value_len};

/// Positional params as they came: one encoded msgpack array.
///
/// Typed handlers decode them straight into their argument types; the dynamic
/// path reads them as [`Value`]s with [`Params::values`], byte-exact (a str
/// whose bytes are not UTF-8 stays such a str, ext types stay ext types).
#[derive(Clone)]
pub struct Params {
    /// The buffer the params lie in: the whole frame they came in, so that
    /// taking them from it shares it rather than slicing it again.
    buf: Bytes,
    /// Where the array starts and ends in `buf`.
    start: usize,
    end: usize,
    len: u32,
    /// Where the first item starts, after the array header.
    items_at: usize,
}

impl PartialEq for Params {
    fn eq(&self, other: &Params) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Params {}

impl Params {
    /// Takes `raw` as params if it is exactly one msgpack array.
    ///
    /// # Errors
    ///
    /// [`CodecError::Malformed`] if `raw` is not one whole array.
    pub fn from_bytes(raw: Bytes) -> Result<Self, CodecError> {
        let mut reader: &[u8] = &raw;
        let len = rmp::decode::read_array_len(&mut reader)
            .map_err(|_| CodecError::Malformed("params must be an array".into()))?;
        let items_at = raw.len() - reader.len();
        if value_len(&raw)? != raw.len() {
            return Err(CodecError::Malformed(
                "params must be exactly one array".into(),
            ));
        }
        Ok(Params {
            start: 0,
            end: raw.len(),
            buf: raw,
            len,
            items_at,
        })
    }

    /// The params at `range` of `frame`, known to be exactly one msgpack
    /// value (the codec checked the frame), if it is an array.
    pub(crate) fn within(frame: Bytes, range: std::ops::Range<usize>) -> Result<Self, CodecError> {
        let mut reader: &[u8] = &frame[range.clone()];
        // Nearly all params are a fixarray: one byte, read as such.
        let len = match reader {
            [array @ 0x90..=0x9f, rest @ ..] => {
                reader = rest;
                u32::from(array & 0x0f)
            }
            _ => rmp::decode::read_array_len(&mut reader)
                .map_err(|_| CodecError::Malformed("params must be an array".into()))?,
        };
        let items_at = range.end - reader.len();
        Ok(Params {
            buf: frame,
            start: range.start,
            end: range.end,
            len,
            items_at,
        })
    }

    /// Encodes `values` as params.
    pub fn from_values(values: &[Value]) -> Self {
        let mut raw = Vec::new();
        rmp::encode::write_array_len(&mut raw, values.len() as u32)
            .expect("writing to a Vec cannot fail");
        let items_at = raw.len();
        for value in values {
            super::write_value(&mut raw, value);
        }
        Params {
            len: values.len() as u32,
            items_at,
            start: 0,
            end: raw.len(),
            buf: raw.into(),
        }
    }

    /// How many params there are.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether there are no params.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The whole encoded array.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// The encoded array, shared with the buffer it lies in.
    pub fn to_bytes(&self) -> Bytes {
        self.buf.slice(self.start..self.end)
    }

    /// The buffer the params lie in (the whole frame they came in), shared.
    pub(crate) fn buffer(&self) -> &Bytes {
        &self.buf
    }

    /// The encoded items, after the array header.
    pub(crate) fn items(&self) -> &[u8] {
        &self.buf[self.items_at..self.end]
    }

    /// The params as dynamic values, byte-exact.
    ///
    /// # Errors
    ///
    /// [`CodecError`] if the bytes do not decode (they were checked to be one
    /// well-formed array, so this only happens past rmpv's own limits).
    pub fn values(&self) -> Result<Vec<Value>, CodecError> {
        let mut reader = self.items();
        (0..self.len)
            .map(|_| {
                rmpv::decode::read_value(&mut reader).map_err(|e| CodecError::Serde(e.to_string()))
            })
            .collect()
    }
}

impl fmt::Debug for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Params")
            .field("len", &self.len)
            .field("bytes", &(self.end - self.start))
            .finish()
    }
}
