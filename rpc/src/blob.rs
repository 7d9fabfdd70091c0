//! [`Blob`]: bulk bytes that travel as a msgpack bin without being copied
//! on the way in.
//!
//! A `Vec<u8>` param is decoded by copying its bytes out of the message; a
//! `Blob` param is a shared slice of the message itself (the buffer the
//! connection read it into), and a `Blob` result from a call the same. Use
//! it for payloads large enough that a copy shows: files, images, chunks.

use std::fmt;
use std::ops::Deref;

use bytes::Bytes;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::message::{lend, share_or_copy};

/// Binary data, sent as a msgpack bin and received without a copy.
///
/// ```
/// let blob = dotrpc::Blob::from(vec![1, 2, 3]);
/// assert_eq!(&blob[..], &[1, 2, 3]);
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Blob(Bytes);

impl Blob {
    /// The bytes, shared.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// The bytes.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl Deref for Blob {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for Blob {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<Bytes> for Blob {
    fn from(bytes: Bytes) -> Self {
        Blob(bytes)
    }
}

impl From<Vec<u8>> for Blob {
    fn from(bytes: Vec<u8>) -> Self {
        Blob(bytes.into())
    }
}

impl From<&'static [u8]> for Blob {
    fn from(bytes: &'static [u8]) -> Self {
        Blob(Bytes::from_static(bytes))
    }
}

impl From<Blob> for Bytes {
    fn from(blob: Blob) -> Self {
        blob.0
    }
}

impl fmt::Debug for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Blob({} bytes)", self.0.len())
    }
}

impl Serialize for Blob {
    /// Written as a bin; a large one is lent to dotrpc's encoders, which
    /// queue its bytes as they are rather than copy them.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        lend(&self.0, || serializer.serialize_bytes(&self.0))
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_bytes(BlobVisitor)
    }
}

struct BlobVisitor;

impl<'de> Visitor<'de> for BlobVisitor {
    type Value = Blob;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("binary data")
    }

    fn visit_borrowed_bytes<E: de::Error>(self, bytes: &'de [u8]) -> Result<Blob, E> {
        Ok(Blob(share_or_copy(bytes)))
    }

    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Blob, E> {
        Ok(Blob(Bytes::copy_from_slice(bytes)))
    }

    fn visit_byte_buf<E: de::Error>(self, bytes: Vec<u8>) -> Result<Blob, E> {
        Ok(Blob(bytes.into()))
    }

    /// Older msgpack peers send binary data as str.
    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Blob, E> {
        Ok(Blob(share_or_copy(s.as_bytes())))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Blob, E> {
        Ok(Blob(Bytes::copy_from_slice(s.as_bytes())))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Blob, A::Error> {
        let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(byte) = seq.next_element::<u8>()? {
            bytes.push(byte);
        }
        Ok(Blob(bytes.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::decode_with_frame;

    #[test]
    fn a_blob_shares_the_frame_it_was_decoded_from() {
        let encoded = Bytes::from(rmp_serde::to_vec(&Blob::from(vec![9u8; 1000])).unwrap());
        let blob: Blob = decode_with_frame(&encoded, || rmp_serde::from_slice(&encoded)).unwrap();
        assert_eq!(blob.len(), 1000);
        assert_eq!(blob.as_ptr(), encoded[3..].as_ptr(), "no copy");
        let copied: Blob = rmp_serde::from_slice(&encoded).unwrap();
        assert_eq!(copied, blob);
    }

    #[test]
    fn a_large_blob_goes_into_a_result_without_a_copy() {
        let big = Blob::from(vec![3u8; 256 * 1024]);
        let encoded = crate::message::encode_result(&(7u8, &big)).unwrap();
        let mut frames = crate::message::Frames::new();
        frames.push_response(1, Ok(&encoded), crate::message::ErrorFormat::Object);
        let mut slices = [std::io::IoSlice::new(&[]); 8];
        let n = bytes::Buf::chunks_vectored(&frames, &mut slices);
        assert!(
            slices[..n]
                .iter()
                .any(|slice| slice.as_ptr() == big.as_ptr()),
            "the blob's own bytes are queued"
        );
        let whole = encoded.to_bytes();
        let (seven, back): (u8, Blob) = rmp_serde::from_slice(&whole).unwrap();
        assert_eq!((seven, back), (7, big));
    }
}
