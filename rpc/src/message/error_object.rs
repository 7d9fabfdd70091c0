//! [`ErrorObject`]: how a failed call is written on the wire, and the one
//! encoder of application errors.

use std::fmt;

use rmpv::Value;
use serde::Serialize;

/// The stable wire codes of dotrpc error objects; fixed once released.
pub mod code {
    /// No handler for the path.
    pub const UNKNOWN_API: &str = "UnknownApi";
    /// Wrong arity or type of params.
    pub const INVALID_PARAMS: &str = "InvalidParams";
    /// The handler returned an application error (its value is in `data`).
    pub const APPLICATION: &str = "Application";
    /// The handler panicked or its result could not be encoded.
    pub const INTERNAL: &str = "Internal";
    /// The peer is at a limit.
    pub const OVERLOADED: &str = "Overloaded";
    /// The handler passed its deadline.
    pub const TIMEOUT: &str = "Timeout";
    /// The call was cancelled by its caller.
    pub const CANCELLED: &str = "Cancelled";
    /// The connection may not call this path.
    pub const UNAUTHORIZED: &str = "Unauthorized";
    /// Nothing serves the path (a message broker found no subscriber).
    pub const NO_RESPONDERS: &str = "NoResponders";
}

/// How a peer writes the errors it answers calls with.
///
/// msgpack-rpc lets an error be any value. dotrpc peers read the default
/// object form back into typed errors; some peers understand only a string:
/// Neovim turns anything but a string or its own `[type, message]` pair into
/// "unknown error". Set with [`PeerBuilder::error_format`](crate::PeerBuilder::error_format).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ErrorFormat {
    /// `{"code": str, "message": str, "data": any?}`, read back into
    /// [`Error`](crate::Error) kinds and typed application errors by dotrpc
    /// callers.
    #[default]
    Object,
    /// The string `"code: message"`, which every msgpack-rpc peer can show;
    /// `data` is left out, and dotrpc callers see the error with only its
    /// message.
    Message,
}

/// A dotrpc error object as it travels on the wire:
/// `{"code": str, "message": str, "data": any?}`.
///
/// Handlers answer with one to fail a call with a given code; the codes
/// dotrpc callers map back to [`ErrorKind`](crate::ErrorKind)s have
/// constructors here (`ErrorObject::unauthorized("log in first")`), and any
/// other code is the caller's to interpret.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorObject {
    /// A stable code, such as `"UnknownApi"`.
    pub code: String,
    /// A human-readable message.
    pub message: String,
    /// Structured detail: the application error value for `"Application"`.
    pub data: Option<Value>,
}

impl ErrorObject {
    /// An error object with a code and a message and no data.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorObject {
            code: code.into(),
            message: message.into(),
            data: None,
        }
    }

    /// An `"Application"` error carrying `error`: its `Display` as the
    /// message, so any peer can show it, and its serialized value as `data`,
    /// so a typed dotrpc caller gets the same `E` back.
    ///
    /// This is how every application error is written, whether a
    /// `#[rpc_api]` method or a closure returned it.
    pub fn application<E: Serialize + fmt::Display + ?Sized>(error: &E) -> Self {
        ErrorObject {
            code: code::APPLICATION.into(),
            message: error.to_string(),
            data: super::to_value(error).ok(),
        }
    }

    /// `"UnknownApi"`: no handler for the path.
    pub fn unknown_api(message: impl Into<String>) -> Self {
        ErrorObject::new(code::UNKNOWN_API, message)
    }

    /// `"InvalidParams"`: the params do not fit (say which and why).
    pub fn invalid_params(message: impl Into<String>) -> Self {
        ErrorObject::new(code::INVALID_PARAMS, message)
    }

    /// `"Unauthorized"`: this connection may not make this call (yet).
    pub fn unauthorized(message: impl Into<String>) -> Self {
        ErrorObject::new(code::UNAUTHORIZED, message)
    }

    /// `"Overloaded"`: at a limit; the caller may retry later.
    pub fn overloaded(message: impl Into<String>) -> Self {
        ErrorObject::new(code::OVERLOADED, message)
    }

    /// `"Internal"`: the handler failed in a way that is not the caller's
    /// fault.
    pub fn internal(message: impl Into<String>) -> Self {
        ErrorObject::new(code::INTERNAL, message)
    }

    /// The error object as an msgpack map value.
    pub fn to_value(&self) -> Value {
        let mut entries = vec![
            (Value::from("code"), Value::from(self.code.as_str())),
            (Value::from("message"), Value::from(self.message.as_str())),
        ];
        if let Some(data) = &self.data {
            entries.push((Value::from("data"), data.clone()));
        }
        Value::Map(entries)
    }

    /// The error as it goes on the wire in `format`.
    pub fn to_wire(&self, format: ErrorFormat) -> Value {
        match format {
            ErrorFormat::Object => self.to_value(),
            ErrorFormat::Message => Value::from(self.to_string()),
        }
    }
}

impl fmt::Display for ErrorObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    enum MathError {
        Overflow { at: u32 },
    }

    impl fmt::Display for MathError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                MathError::Overflow { at } => write!(f, "overflow at {at}"),
            }
        }
    }

    #[test]
    fn an_application_error_carries_its_display_and_its_value() {
        let error = ErrorObject::application(&MathError::Overflow { at: 3 });
        assert_eq!(
            (error.code.as_str(), error.message.as_str()),
            ("Application", "overflow at 3")
        );
        assert_eq!(
            error.data,
            Some(Value::Map(vec![(
                "Overflow".into(),
                Value::Map(vec![("at".into(), 3.into())])
            )]))
        );
        let plain = ErrorObject::application("division by zero");
        assert_eq!(plain.message, "division by zero");
        assert_eq!(plain.data, Some(Value::from("division by zero")));
    }
}
