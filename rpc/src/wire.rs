//! The rules the types of an `#[rpc_api]` method follow, as the two traits
//! its generated code goes through: a param or result is a [`WireType`], the
//! error of a `Result` is an [`ApplicationError`].
//!
//! Every type with the serde impls (and, for an error, `Display`) is one, by
//! a blanket impl. The generated code calls their methods by path
//! (`<T as WireType>::..`) at the span of the user's type, so a type that
//! breaks a rule gets one error there that names the type and the rule,
//! rather than a trait bound of some function inside the glue.

use std::fmt::Display;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::client::Args;
use crate::handler::{self, CallContext, Reply, encode_reply};
use crate::message::{ErrorObject, Params};
use crate::schema::{Describing, Type};

/// A type that can be a param or the result of an `#[rpc_api]` method: it
/// is encoded with serde on one side of the connection and decoded on the
/// other, so it implements both `Serialize` and `Deserialize`. Every such
/// type is a `WireType`; [`Value`](crate::Value) holds any msgpack value,
/// [`Blob`](crate::Blob) bytes shared without copying, and
/// [`Ext`](crate::Ext) a msgpack ext value.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot cross the wire: a param or result of an `#[rpc_api]` method must implement `serde::Serialize` and `serde::Deserialize`",
    label = "not `Serialize` and `Deserialize`",
    note = "derive them (`#[derive(serde::Serialize, serde::Deserialize)]`), or use a type that has them, such as `dotrpc::Value`"
)]
pub trait WireType: Sized {
    /// Appends `self` to a call's params.
    #[doc(hidden)]
    fn __arg<'b, B>(&self, args: Args<'b, B>) -> Args<'b, B>;

    /// Decodes the next param of a call; `None` (the reader keeping an
    /// `InvalidParams` naming the param's position) if it does not decode.
    #[doc(hidden)]
    fn __read(params: &mut ParamReader<'_>) -> Option<Self>;

    /// Encodes `self` as a call's result.
    #[doc(hidden)]
    fn __reply(&self) -> Reply;

    /// Traces the type's shape for the API's description.
    #[doc(hidden)]
    fn __shape(out: &mut Describing) -> Type;
}

#[diagnostic::do_not_recommend]
impl<T: Serialize + DeserializeOwned> WireType for T {
    fn __arg<'b, B>(&self, args: Args<'b, B>) -> Args<'b, B> {
        args.arg(self)
    }

    fn __read(params: &mut ParamReader<'_>) -> Option<Self> {
        let param = params.params.read();
        params.keep(param)
    }

    fn __reply(&self) -> Reply {
        encode_reply(self)
    }

    fn __shape(out: &mut Describing) -> Type {
        out.shape::<T>()
    }
}

/// A type that can be the error `E` of an `#[rpc_api]` method returning
/// `Result<T, E>`: it travels as an `"Application"` error whose `message` is
/// its `Display` (what any peer reads) and whose `data` is its value (what a
/// typed dotrpc caller decodes back into an `E`), so it implements
/// `Serialize`, `Deserialize` and `Display`. Every such type is an
/// `ApplicationError`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the error of an `#[rpc_api]` method: it must implement `serde::Serialize`, `serde::Deserialize` and `std::fmt::Display`",
    label = "not `Serialize`, `Deserialize` and `Display`",
    note = "its `Display` travels as the error's message and its value as the error's data, which a typed caller decodes"
)]
pub trait ApplicationError: Sized {
    /// The error object that carries `self`.
    #[doc(hidden)]
    fn __error_object(&self) -> ErrorObject;

    /// Traces the type's shape for the API's description.
    #[doc(hidden)]
    fn __shape(out: &mut Describing) -> Type;
}

#[diagnostic::do_not_recommend]
impl<E: Serialize + DeserializeOwned + Display> ApplicationError for E {
    fn __error_object(&self) -> ErrorObject {
        ErrorObject::application(self)
    }

    fn __shape(out: &mut Describing) -> Type {
        out.shape::<E>()
    }
}

/// Reads a generated method's params in order, after checking how many
/// there are. A read that fails returns `None` and keeps the error, which
/// the method's handler answers: so a method's own code moves no error.
#[doc(hidden)]
#[derive(Debug)]
pub struct ParamReader<'p> {
    params: handler::ParamReader<'p>,
    error: Option<ErrorObject>,
}

impl<'p> ParamReader<'p> {
    /// Checks that `params` holds at most `arity` values (trailing params
    /// that may be missing may be left out).
    ///
    /// # Errors
    ///
    /// An `InvalidParams` error object saying what was expected and what came.
    pub(crate) fn new(
        ctx: &'p CallContext,
        params: &'p Params,
        arity: usize,
    ) -> Result<Self, ErrorObject> {
        let params = handler::ParamReader::new(ctx.method(), params, arity)?;
        Ok(ParamReader {
            params,
            error: None,
        })
    }

    /// Decodes the next param of a `#[rpc(default)]` param: its `Default`
    /// if the call left it out; `None` (keeping an `InvalidParams` naming its
    /// position) if it does not decode.
    pub fn read_or_default<T: WireType + Default>(&mut self) -> Option<T> {
        if self.params.left_out() {
            self.params.skip();
            return Some(T::default());
        }
        T::__read(self)
    }

    /// `result`'s value, or `None`, keeping its error.
    #[inline]
    fn keep<T>(&mut self, result: Result<T, ErrorObject>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.fail(error);
                None
            }
        }
    }

    /// Keeps `error`, out of line: every method's reads share this one
    /// copy of what a failed read does.
    #[cold]
    #[inline(never)]
    fn fail(&mut self, error: ErrorObject) {
        self.error = Some(error);
    }

    /// `result`'s value, or `None`, keeping its error as `InvalidParams`.
    pub(crate) fn fail_as_params<T>(&mut self, result: Result<T, impl Display>) -> Option<T> {
        let result = result.map_err(|error| ErrorObject::invalid_params(error.to_string()));
        self.keep(result)
    }

    /// What went wrong: the error a read kept.
    pub(crate) fn into_error(self) -> ErrorObject {
        self.error
            .unwrap_or_else(|| ErrorObject::internal("the method could not start"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_errors_read_as_their_display() {
        let error = "division by zero".to_owned().__error_object();
        assert_eq!(
            (error.code.as_str(), error.message.as_str()),
            ("Application", "division by zero")
        );
    }
}
