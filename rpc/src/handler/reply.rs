//! [`IntoReply`]: what a handler's return value becomes on the wire.

use std::fmt;

use rmpv::Value;
use serde::Serialize;

use super::Reply;
use crate::error::Error;
use crate::message::{ErrorObject, encode_result, write_value};

/// What a typed handler may return: a value to encode, or a `Result` whose
/// error becomes an error reply.
///
/// Implemented for `Result<T, E>` (`E` is sent as an `"Application"` error
/// whose message is its `Display` and whose `data` is `E` itself; an
/// [`ErrorObject`] or an [`Error`] keeps its own code), for [`Value`]
/// (encoded byte-exact), and for the common plain types: `()`, `bool`,
/// integers, floats, `char`, `String`, `&'static str`, `Vec<T>`, `Option<T>`,
/// maps, sets, tuples of up to four and [`Blob`](crate::Blob). For a plain
/// value of your own type, return `Ok::<_, ErrorObject>(value)`.
pub trait IntoReply {
    /// Encodes the reply.
    fn into_reply(self) -> Reply;
}

/// Encodes `value` as a successful reply.
///
/// # Errors
///
/// An `Internal` error object if `value`'s `Serialize` fails.
pub(crate) fn encode_reply<T: Serialize + ?Sized>(value: &T) -> Reply {
    encode_result(value)
        .map_err(|e| ErrorObject::internal(format!("could not encode the result: {e}")))
}

impl<T: Serialize, E: Serialize + fmt::Display> IntoReply for Result<T, E> {
    fn into_reply(self) -> Reply {
        match self {
            Ok(value) => encode_reply(&value),
            Err(error) => Err(ErrorObject::application(&error)),
        }
    }
}

impl<T: Serialize> IntoReply for Result<T, ErrorObject> {
    fn into_reply(self) -> Reply {
        self.and_then(|value| encode_reply(&value))
    }
}

impl<T: Serialize, A: Serialize + fmt::Display> IntoReply for Result<T, Error<A>> {
    fn into_reply(self) -> Reply {
        self.map_err(|error| ErrorObject::from(&error))
            .and_then(|value| encode_reply(&value))
    }
}

impl IntoReply for Value {
    fn into_reply(self) -> Reply {
        let mut out = Vec::new();
        write_value(&mut out, &self);
        Ok(out.into())
    }
}

impl IntoReply for crate::message::Encoded {
    fn into_reply(self) -> Reply {
        Ok(self)
    }
}

impl IntoReply for ErrorObject {
    fn into_reply(self) -> Reply {
        Err(self)
    }
}

macro_rules! into_reply_by_serialize {
    ($(<$($g:ident),*> $ty:ty),* $(,)?) => {
        $(impl<$($g: Serialize),*> IntoReply for $ty {
            fn into_reply(self) -> Reply {
                encode_reply(&self)
            }
        })*
    };
}

into_reply_by_serialize! {
    <> (), <> bool, <> char, <> String, <> &'static str, <> crate::blob::Blob,
    <> i8, <> i16, <> i32, <> i64, <> isize, <> u8, <> u16, <> u32, <> u64, <> usize, <> f32, <> f64,
    <T> Vec<T>, <T> Option<T>, <T> std::collections::VecDeque<T>,
    <K, V> std::collections::HashMap<K, V>, <K, V> std::collections::BTreeMap<K, V>,
    <T> std::collections::HashSet<T>, <T> std::collections::BTreeSet<T>,
    <A, B> (A, B), <A, B, C> (A, B, C), <A, B, C, D> (A, B, C, D),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_encode_values_and_errors() {
        assert_eq!(&5i64.into_reply().unwrap().to_bytes()[..], &[5]);
        let error = Err::<i64, String>("division by zero".into())
            .into_reply()
            .unwrap_err();
        assert_eq!(
            (error.code.as_str(), error.message.as_str()),
            ("Application", "division by zero")
        );
        assert_eq!(error.data, Some(Value::from("division by zero")));
        let error = Err::<(), _>(ErrorObject::overloaded("busy"))
            .into_reply()
            .unwrap_err();
        assert_eq!(error.code, "Overloaded");
    }
}
