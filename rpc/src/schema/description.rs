//! The description format: what `rpc.describe` answers, what `$SRV.INFO`
//! carries over NATS, what `dotrpc describe --json` prints and what
//! `dotrpc compat` compares.
//!
//! A [`Description`] is every method (its path, its params' names, its Rust
//! types as written, docs, aliases, deprecation and, since version 2, the
//! [`MethodShapes`] of what it takes and gives) and the type table those
//! shapes refer to. The README's "The description format" documents it for
//! other languages.

use serde::{Deserialize, Deserializer, Serialize};

use super::{DESCRIPTION_VERSION, Schema, Type, Types};

/// What `rpc.describe` answers: every method served, and every named type
/// their shapes reach.
///
/// Encoded as `{"version": 2, "methods": [..], "types": {..}}`. A
/// description from a peer before version 2, a bare list of methods, decodes
/// too, with no types and no shapes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Description {
    /// The format's version: [`DESCRIPTION_VERSION`] when written by this
    /// crate, 1 when read from a bare list.
    pub version: u32,
    /// The methods, sorted by path.
    pub methods: Vec<MethodDescription>,
    /// The named types the methods' shapes refer to.
    pub types: Types,
}

impl Default for Description {
    fn default() -> Self {
        Description {
            version: DESCRIPTION_VERSION,
            methods: Vec::new(),
            types: Types::new(),
        }
    }
}

impl<'de> Deserialize<'de> for Description {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Either version, read into serde's buffered form first (which
        // also compiles to less than reading either straight from msgpack).
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Any {
            Listed(Vec<MethodDescription>),
            Versioned {
                version: u32,
                methods: Vec<MethodDescription>,
                #[serde(default)]
                types: Types,
            },
        }
        Ok(match Any::deserialize(deserializer)? {
            Any::Listed(methods) => Description {
                version: 1,
                methods,
                types: Types::new(),
            },
            Any::Versioned {
                version,
                methods,
                types,
            } => Description {
                version,
                methods,
                types,
            },
        })
    }
}

impl Description {
    /// The method at `path` (not an alias), if described.
    pub fn method(&self, path: &str) -> Option<&MethodDescription> {
        self.methods.iter().find(|m| m.path == path)
    }
}

/// What a method takes and gives, as shapes (see [`Type`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MethodShapes {
    /// Each param's shape, in order.
    pub params: Vec<Type>,
    /// The result's (`unit` for none, and for an event).
    pub returns: Type,
    /// The application error's, for a method returning `Result`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Type>,
    /// The items of the stream it answers with, if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<Type>,
    /// The items of the stream it takes, if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Type>,
}

/// What an API's generated `describe` fills: its methods, and the schema
/// their types are traced into (shared by every API a router serves, so a
/// type two APIs use is described once).
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct Describing {
    /// The methods described so far.
    pub methods: Vec<MethodDescription>,
    /// Where their types' shapes are traced.
    pub schema: Schema,
}

impl Describing {
    /// The shape of `T`, traced into the schema.
    pub fn shape<T: serde::de::DeserializeOwned>(&mut self) -> Type {
        self.schema.shape_of::<T>()
    }

    /// The description of what was described.
    pub fn finish(self) -> Description {
        let mut methods = self.methods;
        methods.sort_by(|a, b| a.path.cmp(&b.path));
        Description {
            version: DESCRIPTION_VERSION,
            methods,
            types: self.schema.types(),
        }
    }
}

/// One method as `rpc.describe` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MethodDescription {
    /// The full, dot-joined wire path.
    pub path: String,
    /// The params, in order, as the wire carries them (no `CallContext`).
    pub params: Vec<ParamDescription>,
    /// The Rust type of the result (`"()"` for none).
    pub returns: String,
    /// The Rust type of the application error, for methods returning `Result`.
    pub error: Option<String>,
    /// Whether this is an event: sent as a notification, never answered.
    pub event: bool,
    /// Whether a call is safe to repeat (`#[rpc(idempotent)]`): a
    /// reconnecting client sends it again after a dropped connection.
    #[serde(default)]
    pub idempotent: bool,
    /// For a method that answers with a stream of items (it takes an
    /// [`ItemSink`](crate::ItemSink)): the Rust type of the items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// For a method whose input is a stream of items (it takes an
    /// [`ItemReceiver`](crate::ItemReceiver)): the Rust type of the items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// The method's doc comment.
    pub docs: String,
    /// Other paths the method answers at (its old ones: `#[rpc(alias)]`,
    /// [`Router::alias`](crate::Router::alias)).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Why not to call it any more, and what to call instead, if it is
    /// deprecated (`#[rpc(deprecated = "..")]`). Calls still work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<String>,
    /// The shapes of the params, result, error and stream items, in the
    /// terms of the description's type table (`None` in descriptions from
    /// peers before version 2, and for a runtime handler described without
    /// them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shapes: Option<MethodShapes>,
}

impl MethodDescription {
    /// A method at `path` that takes nothing and returns nothing, with no
    /// docs: the start of a description of a runtime handler
    /// ([`Router::set_description`](crate::Router::set_description)), its other fields set with
    /// `..MethodDescription::new(path)`.
    pub fn new(path: impl Into<String>) -> Self {
        MethodDescription {
            path: path.into(),
            params: Vec::new(),
            returns: "()".into(),
            error: None,
            event: false,
            idempotent: false,
            stream: None,
            input: None,
            docs: String::new(),
            aliases: Vec::new(),
            deprecated: None,
            shapes: None,
        }
    }
}

/// One param of a described method.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamDescription {
    /// The param's name in the Rust signature.
    pub name: String,
    /// Its Rust type, as written.
    pub ty: String,
    /// Whether a call may leave it out (a trailing `Option`, or a param
    /// marked `#[rpc(default)]`): the handler then reads `None` or the
    /// default.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

impl ParamDescription {
    /// A param named `name`, of the Rust type `ty`, that a call must send.
    pub fn new(name: impl Into<String>, ty: impl Into<String>) -> Self {
        ParamDescription {
            name: name.into(),
            ty: ty.into(),
            optional: false,
        }
    }

    /// A param a call may leave out (it must come after every param that
    /// may not).
    pub fn optional(name: impl Into<String>, ty: impl Into<String>) -> Self {
        ParamDescription {
            optional: true,
            ..ParamDescription::new(name, ty)
        }
    }
}
