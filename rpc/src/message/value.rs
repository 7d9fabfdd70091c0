//! Rust values ↔ msgpack bytes, the way dotrpc writes them on the wire.
//!
//! Structs are written as maps (field names on the wire, so peers in other
//! languages see named fields) and enums by variant name. Results are encoded
//! into a per-thread scratch buffer and split off it, so answering a call
//! allocates nothing once the buffer is warm. Decoding can see the frame its
//! bytes came from ([`decode_with_frame`]), which lets [`Blob`](crate::Blob)
//! params and results share the frame's memory instead of copying it.

use std::cell::RefCell;
use std::io::Write;

use bytes::{BufMut, Bytes, BytesMut};
use rmpv::Value;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Encoded;
use super::splice::Splicer;
use crate::codec::CodecError;

/// Params and results at least this large are decoded with their frame set
/// (see [`decode_with_frame`]), so their `Blob`s share it; smaller ones are
/// copied, which is cheaper than setting it.
pub(crate) const SHARE_AT: usize = 1024;

/// Scratch buffers larger than this are let go after use rather than kept by
/// the thread.
const SCRATCH_KEPT: usize = 64 * 1024;
/// What the scratch buffer grows by when it runs out of room.
const SCRATCH_CHUNK: usize = 4096;

thread_local! {
    /// Where results are encoded before they are queued; see [`encode_result`].
    static SCRATCH: RefCell<BytesMut> = RefCell::new(BytesMut::new());
    /// The frame being decoded on this thread, if any; see [`decode_with_frame`].
    static FRAME: RefCell<Option<Bytes>> = const { RefCell::new(None) };
}

/// Serializes `value` onto `out` as msgpack, structs as maps.
///
/// # Errors
///
/// [`CodecError::Serde`] if `value`'s `Serialize` fails.
pub(crate) fn encode_value<W: Write, T: Serialize + ?Sized>(
    out: W,
    value: &T,
) -> Result<(), CodecError> {
    value
        .serialize(&mut rmp_serde::Serializer::new(out).with_struct_map())
        .map_err(|e| CodecError::Serde(e.to_string()))
}

/// Encodes `value` as a result: inline if it is small, else into this
/// thread's scratch buffer.
///
/// # Errors
///
/// [`CodecError::Serde`] if `value`'s `Serialize` fails.
pub(crate) fn encode_result<T: Serialize + ?Sized>(value: &T) -> Result<Encoded, CodecError> {
    if let Some(inline) = Encoded::try_inline(|out| encode_value(out, value).is_ok()) {
        return Ok(inline);
    }
    encode_shared(value).map(Encoded::from_pieces)
}

/// Encodes `value` into this thread's scratch buffer, split off as shared
/// bytes (with the bytes of any large `Blob` spliced in, not copied).
fn encode_shared<T: Serialize + ?Sized>(value: &T) -> Result<Vec<Bytes>, CodecError> {
    let encode = |buf: &mut BytesMut| {
        if buf.capacity() - buf.len() < SCRATCH_CHUNK / 8 {
            buf.reserve(SCRATCH_CHUNK);
        }
        let mut splicer = Splicer::new(std::mem::take(buf));
        let encoded = encode_value(&mut splicer, value);
        let (pieces, spare) = splicer.finish();
        *buf = spare;
        encoded.map(|()| pieces)
    };
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut buf) => {
            let encoded = encode(&mut buf);
            if buf.capacity() > SCRATCH_KEPT {
                *buf = BytesMut::new();
            }
            encoded
        }
        // A `Serialize` impl that encodes a result itself: use a buffer of
        // its own.
        Err(_) => encode(&mut BytesMut::new()),
    })
}

/// Runs `decode` with `frame` as the frame being decoded on this thread, so
/// [`Blob`](crate::Blob)s decoded meanwhile can share its memory.
pub(crate) fn decode_with_frame<R>(frame: &Bytes, decode: impl FnOnce() -> R) -> R {
    let _frame = FrameGuard::set(frame);
    decode()
}

/// Makes `frame` the frame being decoded on this thread until it is
/// dropped, when the one before is back.
pub(crate) struct FrameGuard(Option<Bytes>);

impl FrameGuard {
    pub(crate) fn set(frame: &Bytes) -> FrameGuard {
        FrameGuard(FRAME.with(|current| current.replace(Some(frame.clone()))))
    }
}

impl Drop for FrameGuard {
    fn drop(&mut self) {
        let previous = self.0.take();
        // At thread exit the slot may be gone; nothing to restore then.
        let _ = FRAME.try_with(|current| *current.borrow_mut() = previous);
    }
}

/// `bytes` as a slice of the frame being decoded, if they lie within it; a
/// copy otherwise.
pub(crate) fn share_or_copy(bytes: &[u8]) -> Bytes {
    let shared = FRAME.with(|current| {
        let current = current.borrow();
        let frame = current.as_ref()?;
        let (start, end) = (
            frame.as_ptr() as usize,
            frame.as_ptr() as usize + frame.len(),
        );
        let at = bytes.as_ptr() as usize;
        (at >= start && at + bytes.len() <= end).then(|| frame.slice_ref(bytes))
    });
    shared.unwrap_or_else(|| Bytes::copy_from_slice(bytes))
}

/// A value as it goes on the wire (structs as maps, enums by variant name),
/// as a dynamic [`Value`]: what error objects carry as `data`, so that peers
/// in other languages read field and variant names.
///
/// # Errors
///
/// [`CodecError::Serde`] if `value`'s `Serialize` fails.
pub(crate) fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, CodecError> {
    let mut bytes = Vec::new();
    encode_value(&mut bytes, value)?;
    rmpv::decode::read_value(&mut &bytes[..]).map_err(|e| CodecError::Serde(e.to_string()))
}

/// The inverse of [`to_value`].
///
/// # Errors
///
/// [`CodecError::Serde`] if the value does not fit `T`.
pub(crate) fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, CodecError> {
    let mut bytes = Vec::new();
    write_value(&mut bytes, value);
    rmp_serde::from_slice(&bytes).map_err(|e| CodecError::Serde(e.to_string()))
}

/// Encodes `value` byte-exact: unlike `rmpv::encode::write_value`, a str whose
/// bytes are not UTF-8 (as older peers send binary data) stays a str.
pub(crate) fn write_value(out: &mut impl BufMut, value: &Value) {
    match value {
        Value::String(s) => {
            let bytes = s.as_bytes();
            write_str_len(out, bytes.len());
            out.put_slice(bytes);
        }
        Value::Array(items) => {
            rmp::encode::write_array_len(&mut (&mut *out).writer(), items.len() as u32)
                .expect("writing to a buffer cannot fail");
            items.iter().for_each(|item| write_value(out, item));
        }
        Value::Map(entries) => {
            rmp::encode::write_map_len(&mut (&mut *out).writer(), entries.len() as u32)
                .expect("writing to a buffer cannot fail");
            for (key, item) in entries {
                write_value(out, key);
                write_value(out, item);
            }
        }
        other => rmpv::encode::write_value(&mut (&mut *out).writer(), other)
            .expect("writing to a buffer cannot fail"),
    }
}

/// Writes the header of a str of `len` bytes, in its shortest form.
pub(crate) fn write_str_len(out: &mut impl BufMut, len: usize) {
    match len {
        0..=31 => out.put_u8(0xa0 | len as u8),
        32..=0xff => out.put_slice(&[0xd9, len as u8]),
        0x100..=0xffff => {
            out.put_u8(0xda);
            out.put_u16(len as u16);
        }
        _ => {
            out.put_u8(0xdb);
            out.put_u32(len as u32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn str_headers_match_rmp() {
        for len in [0, 31, 32, 255, 256, 65_535, 65_536] {
            let mut ours = Vec::new();
            write_str_len(&mut ours, len);
            let mut theirs = Vec::new();
            rmp::encode::write_str_len(&mut theirs, len as u32).unwrap();
            assert_eq!(ours, theirs, "length {len}");
        }
    }

    #[test]
    fn results_share_the_scratch_buffer_and_stay_intact() {
        let first = encode_result(&(1u8, "one".repeat(20))).unwrap();
        let second = encode_result(&"two".repeat(20)).unwrap();
        assert_eq!(
            rmp_serde::from_slice::<(u8, String)>(&first.to_bytes()).unwrap(),
            (1, "one".repeat(20))
        );
        assert_eq!(
            rmp_serde::from_slice::<String>(&second.to_bytes()).unwrap(),
            "two".repeat(20)
        );
        let small = encode_result(&(7u8, "seven")).unwrap();
        assert!(
            matches!(small.pieces(), super::super::encoded::Pieces::Slice(_)),
            "small results are inline"
        );
        assert_eq!(
            rmp_serde::from_slice::<(u8, String)>(&small.to_bytes()).unwrap(),
            (7, "seven".into())
        );
        assert_eq!(encode_result(&[0u8; 100_000][..]).unwrap().len(), 100_005);
    }

    #[test]
    fn a_failed_encoding_leaves_nothing_behind() {
        struct Fails;
        impl Serialize for Fails {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("no"))
            }
        }
        assert!(encode_result(&(1u8, Fails)).is_err());
        assert!(encode_result(&("x".repeat(40), Fails)).is_err());
        assert_eq!(
            &encode_result(&"y".repeat(40)).unwrap().to_bytes()[..3],
            &[0xd9, 40, b'y']
        );
    }

    #[test]
    fn bytes_within_the_frame_are_shared_and_others_copied() {
        let frame = Bytes::from_static(b"0123456789");
        let inside = decode_with_frame(&frame, || share_or_copy(&frame[2..5]));
        assert_eq!(inside.as_ptr(), frame[2..].as_ptr());
        let outside = decode_with_frame(&frame, || share_or_copy(b"elsewhere"));
        assert_eq!(&outside[..], b"elsewhere");
        assert_eq!(&share_or_copy(&frame[..2])[..], b"01");
    }
}
