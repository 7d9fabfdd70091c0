//! Typed params: the arity checked first, then each param decoded straight
//! into its type, in place (strings and [`Blob`](crate::Blob)s borrow from
//! the frame while they are decoded).

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

/// Checks that `params` holds exactly `expected` values.
pub(crate) fn check_arity(
    method: &str,
    expected: usize,
    params: &Params,
) -> Result<(), ErrorObject> {
    if params.len() == expected {
        return Ok(());
    }
    let plural = if expected == 1 { "" } else { "s" };
    Err(ErrorObject::invalid_params(format!(
        "{} expects {expected} param{plural}, got {}",
        short(method),
        params.len()
    )))
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
    /// Set while a large params array is read, so its `Blob`s share it.
    _frame: Option<FrameGuard>,
}

impl<'p> ParamReader<'p> {
    /// Checks that `params` holds exactly `arity` values.
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
            _frame: (params.as_bytes().len() >= SHARE_AT).then(|| FrameGuard::set(params.buffer())),
        })
    }

    /// Decodes the next param.
    pub(crate) fn read<T: DeserializeOwned>(&mut self) -> Result<T, ErrorObject> {
        self.position += 1;
        T::deserialize(&mut self.de).map_err(|e| {
            ErrorObject::invalid_params(format!(
                "{}: param {}: {e}",
                short(self.method),
                self.position
            ))
        })
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
