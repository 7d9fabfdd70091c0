//! msgpack extension values as typed Rust values.
//!
//! msgpack's ext family carries an application-defined type tag and opaque
//! bytes; peers use it for their own handle types (Neovim's buffers, windows
//! and tabpages are ext values). [`Ext`] round-trips one exactly through typed
//! params and results, so an API can say `buffer: Buffer` where
//! `struct Buffer(Ext)` instead of falling back to [`Value`](crate::Value).

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeTuple, Serializer};
use serde::{Deserialize, Serialize};

/// The newtype name rmp-serde reads and writes as an ext value.
const EXT_STRUCT_NAME: &str = rmp_serde::MSGPACK_EXT_STRUCT_NAME;

/// A msgpack extension value: a type tag and its payload, byte for byte.
///
/// ```
/// let handle = dotrpc::Ext::new(0, vec![0x01]);
/// assert_eq!((handle.tag(), handle.data()), (0, &[0x01][..]));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ext {
    tag: i8,
    data: Vec<u8>,
}

impl Ext {
    /// An ext value of type `tag` carrying `data`.
    pub fn new(tag: i8, data: Vec<u8>) -> Self {
        Ext { tag, data }
    }

    /// The application-defined type tag.
    pub fn tag(&self) -> i8 {
        self.tag
    }

    /// The payload, exactly as sent.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The payload read as one msgpack integer, the form handle types such as
    /// Neovim's use; `None` if it is anything else.
    pub fn as_int(&self) -> Option<i64> {
        let mut bytes = self.data.as_slice();
        let value: i64 = rmp::decode::read_int(&mut bytes).ok()?;
        bytes.is_empty().then_some(value)
    }

    /// An ext value of type `tag` whose payload is the integer `value`,
    /// encoded as compactly as msgpack allows.
    pub fn from_int(tag: i8, value: i64) -> Self {
        let mut data = Vec::with_capacity(9);
        rmp::encode::write_sint(&mut data, value).expect("writing to a Vec cannot fail");
        Ext { tag, data }
    }
}

impl From<Ext> for rmpv::Value {
    fn from(ext: Ext) -> Self {
        rmpv::Value::Ext(ext.tag, ext.data)
    }
}

impl Serialize for Ext {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Payload<'a>(&'a [u8]);
        impl Serialize for Payload<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_bytes(self.0)
            }
        }
        struct TagAndPayload<'a>(&'a Ext);
        impl Serialize for TagAndPayload<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut tuple = serializer.serialize_tuple(2)?;
                tuple.serialize_element(&self.0.tag)?;
                tuple.serialize_element(&Payload(&self.0.data))?;
                tuple.end()
            }
        }
        serializer.serialize_newtype_struct(EXT_STRUCT_NAME, &TagAndPayload(self))
    }
}

impl<'de> Deserialize<'de> for Ext {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_newtype_struct(EXT_STRUCT_NAME, ExtVisitor)
    }
}

struct ExtVisitor;

impl<'de> Visitor<'de> for ExtVisitor {
    type Value = Ext;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a msgpack ext value")
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<Ext, D::Error> {
        deserializer.deserialize_tuple(2, self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Ext, A::Error> {
        let tag: i8 = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let data = seq
            .next_element::<Payload>()?
            .ok_or_else(|| de::Error::invalid_length(1, &self))?;
        Ok(Ext { tag, data: data.0 })
    }
}

/// The payload half of an ext value, taken as bytes in whatever form the
/// deserializer offers them.
struct Payload(Vec<u8>);

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BytesVisitor;
        impl<'de> Visitor<'de> for BytesVisitor {
            type Value = Payload;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("ext payload bytes")
            }
            fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Payload, E> {
                Ok(Payload(bytes.to_vec()))
            }
            fn visit_byte_buf<E: de::Error>(self, bytes: Vec<u8>) -> Result<Payload, E> {
                Ok(Payload(bytes))
            }
        }
        deserializer.deserialize_bytes(BytesVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmpv::Value;

    #[test]
    fn ext_values_keep_their_bytes_on_the_wire() {
        let ext = Ext::new(5, vec![1, 2, 3]);
        let mut encoded = Vec::new();
        crate::message::encode_value(&mut encoded, &ext).unwrap();
        // ext 8: length 3, type 5, then the payload.
        assert_eq!(encoded, [0xc7, 3, 5, 1, 2, 3]);
        let decoded: Ext = rmp_serde::from_slice(&encoded).unwrap();
        assert_eq!(decoded, ext);
    }

    #[test]
    fn ext_values_convert_to_and_from_value() {
        let ext = Ext::from_int(1, 1000);
        assert_eq!(ext.as_int(), Some(1000));
        let value = Value::from(ext.clone());
        assert_eq!(crate::message::from_value::<Ext>(&value).unwrap(), ext);
        assert_eq!(crate::message::to_value(&ext).unwrap(), value);
    }

    #[test]
    fn a_non_ext_value_is_refused_clearly() {
        let encoded = rmp_serde::to_vec(&7u8).unwrap();
        let error = rmp_serde::from_slice::<Ext>(&encoded).unwrap_err();
        assert_eq!(error.to_string(), "wrong msgpack marker FixPos(7)");
    }

    #[test]
    fn handles_wrapped_in_newtypes_stay_ext() {
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        #[serde(transparent)]
        struct Buffer(Ext);
        let buffer = Buffer(Ext::from_int(0, 1));
        let value = crate::message::to_value(&(&buffer, 3)).unwrap();
        assert_eq!(
            value,
            Value::Array(vec![Value::Ext(0, vec![1]), Value::from(3)])
        );
        assert_eq!(
            crate::message::from_value::<Buffer>(&value.as_array().unwrap()[0]).unwrap(),
            buffer
        );
        assert_eq!(Ext::new(0, vec![0xc0]).as_int(), None);
    }
}
