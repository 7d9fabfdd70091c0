//! Typed params: the arity checked first, then each param decoded straight
//! into its type, in place (strings and [`Blob`](crate::Blob)s borrow from
//! the frame while they are decoded).
//!
//! A call may leave out trailing params that may be missing: an `Option`
//! reads as `None`, `()` as itself. So a method can gain an optional last
//! param without breaking callers that predate it; a param that is really
//! missing is still `InvalidParams`, in the same words as before.

use serde::de::DeserializeOwned;

use crate::message::{ErrorObject, FrameGuard, Params, SHARE_AT};

/// Decodes params into a tuple of argument types, checking the arity first.
pub(crate) trait FromParams: Sized {
    /// How many params the tuple takes.
    const ARITY: usize;

    /// Decodes `params` for a call to `method`.
    ///
    /// # Errors
    ///
    /// An `InvalidParams` error object naming the method, the expected and
    /// actual count, or the param (1-based) whose type did not fit.
    fn from_params(method: &str, params: &Params) -> Result<Self, ErrorObject>;
}

/// The last segment of a path, as messages name methods.
fn short(method: &str) -> &str {
    method.rsplit('.').next().unwrap_or(method)
}

/// Checks that `params` holds no more than `expected` values (those left
/// out are checked as they are read).
pub(crate) fn check_arity(
    method: &str,
    expected: usize,
    params: &Params,
) -> Result<(), ErrorObject> {
    if params.len() <= expected {
        return Ok(());
    }
    Err(arity_error(method, expected, params.len()))
}

fn arity_error(method: &str, expected: usize, given: usize) -> ErrorObject {
    let plural = if expected == 1 { "" } else { "s" };
    ErrorObject::invalid_params(format!(
        "{} expects {expected} param{plural}, got {given}",
        short(method),
    ))
}

/// Reads a method's params in order, after checking how many there are.
///
/// One deserializer walks the params array, so each param is read once,
/// straight into its type. While the reader lives, the params' frame is the
/// one [`Blob`](crate::Blob)s share (see `message::decode_with_frame`).
pub(crate) struct ParamReader<'p> {
    method: &'p str,
    de: rmp_serde::Deserializer<rmp_serde::decode::ReadRefReader<'p, [u8]>>,
    position: usize,
    /// How many params the call has, and may have.
    given: usize,
    arity: usize,
    /// Set while a large params array is read, so its `Blob`s share it.
    _frame: Option<FrameGuard>,
}

impl<'p> ParamReader<'p> {
    /// Checks that `params` holds at most `arity` values.
    pub(crate) fn new(
        method: &'p str,
        params: &'p Params,
        arity: usize,
    ) -> Result<Self, ErrorObject> {
        check_arity(method, arity, params)?;
        Ok(ParamReader {
            method,
            de: rmp_serde::Deserializer::from_read_ref(params.items()),
            position: 0,
            given: params.len(),
            arity,
            _frame: (params.as_bytes().len() >= SHARE_AT).then(|| FrameGuard::set(params.buffer())),
        })
    }

    /// Whether the next param is one the call left out.
    pub(crate) fn left_out(&self) -> bool {
        self.position >= self.given
    }

    /// Passes over a param the call left out.
    pub(crate) fn skip(&mut self) {
        self.position += 1;
    }

    /// Decodes the next param; one left out must be one that may be
    /// missing.
    pub(crate) fn read<T: DeserializeOwned>(&mut self) -> Result<T, ErrorObject> {
        self.position += 1;
        if self.position > self.given {
            return T::deserialize(Missing).map_err(|_: serde::de::value::Error| {
                arity_error(self.method, self.arity, self.given)
            });
        }
        T::deserialize(&mut self.de).map_err(|e| {
            ErrorObject::invalid_params(format!(
                "{}: param {}: {e}",
                short(self.method),
                self.position
            ))
        })
    }
}

/// A param the call left out: what may be missing reads from it (`None`,
/// `()`), nothing else does.
struct Missing;

impl<'de> serde::Deserializer<'de> for Missing {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom("missing"))
    }

    fn deserialize_option<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_none()
    }

    fn deserialize_unit<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit_struct newtype_struct seq tuple tuple_struct map
        struct enum identifier ignored_any
    }
}

impl std::fmt::Debug for ParamReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParamReader")
            .field("method", &self.method)
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

macro_rules! count {
    () => { 0 };
    ($head:ident $($tail:ident)*) => { 1 + count!($($tail)*) };
}

macro_rules! from_params_for_tuples {
    ($($t:ident)*) => {
        impl<$($t: DeserializeOwned,)*> FromParams for ($($t,)*) {
            const ARITY: usize = count!($($t)*);

            #[allow(non_snake_case, unused_variables, unused_mut)]
            fn from_params(method: &str, params: &Params) -> Result<Self, ErrorObject> {
                let mut reader = ParamReader::new(method, params, Self::ARITY)?;
                $(let $t: $t = reader.read()?;)*
                Ok(($($t,)*))
            }
        }
    };
}

from_params_for_tuples!();
from_params_for_tuples!(T1);
from_params_for_tuples!(T1 T2);
from_params_for_tuples!(T1 T2 T3);
from_params_for_tuples!(T1 T2 T3 T4);
from_params_for_tuples!(T1 T2 T3 T4 T5);
from_params_for_tuples!(T1 T2 T3 T4 T5 T6);
from_params_for_tuples!(T1 T2 T3 T4 T5 T6 T7);
from_params_for_tuples!(T1 T2 T3 T4 T5 T6 T7 T8);

#[cfg(test)]
mod tests {
    use super::*;
    use rmpv::Value;

    fn params(values: Vec<Value>) -> Params {
        Params::from_values(&values)
    }

    #[test]
    fn arity_is_checked_before_types() {
        let error = <(i64, i64)>::from_params("math.add", &params(vec![1.into()])).unwrap_err();
        assert_eq!(
            (error.code.as_str(), error.message.as_str()),
            ("InvalidParams", "add expects 2 params, got 1")
        );
        let error = <(String,)>::from_params("log", &params(vec![])).unwrap_err();
        assert_eq!(error.message, "log expects 1 param, got 0");
        let error = <(i64,)>::from_params("m", &params(vec![1.into(), 2.into()])).unwrap_err();
        assert_eq!(error.message, "m expects 1 param, got 2");
    }

    #[test]
    fn trailing_params_that_may_be_missing_may_be_left_out() {
        let decoded =
            <(i64, Option<String>, ())>::from_params("m", &params(vec![1.into()])).unwrap();
        assert_eq!(decoded, (1, None, ()));
        let decoded =
            <(i64, Option<String>)>::from_params("m", &params(vec![1.into(), "x".into()])).unwrap();
        assert_eq!(decoded, (1, Some("x".to_owned())));
        // A param that may not be missing is still missing, behind one that
        // may: the message is the arity's.
        let error = <(Option<i64>, i64)>::from_params("m", &params(vec![])).unwrap_err();
        assert_eq!(error.message, "m expects 2 params, got 0");
        let error = <(i64, Vec<i64>)>::from_params("m", &params(vec![1.into()])).unwrap_err();
        assert_eq!(error.message, "m expects 2 params, got 1");
        let error = <(i64, Value)>::from_params("m", &params(vec![1.into()])).unwrap_err();
        assert_eq!(
            error.message, "m expects 2 params, got 1",
            "any value is not an absent one"
        );
    }

    #[test]
    fn a_param_of_the_wrong_type_is_named_by_position() {
        let error =
            <(i64, i64)>::from_params("add", &params(vec![1.into(), "two".into()])).unwrap_err();
        assert!(
            error.message.starts_with("add: param 2: "),
            "{}",
            error.message
        );
    }

    #[test]
    fn params_decode_straight_into_their_types() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Point {
            x: i32,
            y: i32,
        }
        let point = Value::Map(vec![("x".into(), 1.into()), ("y".into(), 2.into())]);
        let decoded = <(Point, Vec<f64>, Option<String>)>::from_params(
            "m",
            &params(vec![point, vec![Value::from(0.5)].into(), Value::Nil]),
        )
        .unwrap();
        assert_eq!(decoded, (Point { x: 1, y: 2 }, vec![0.5], None));
    }
}
