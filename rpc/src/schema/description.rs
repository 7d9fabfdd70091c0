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
use crate::protocol::join;

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

    /// Describes the method `info` at its path under `prefix`, tracing its
    /// types' shapes. The one place a generated method's description is
    /// built: the code `#[rpc_api]` writes per method is only the constant
    /// `info`, so an API's size grows little with its methods.
    pub fn method(&mut self, prefix: &str, info: &MethodInfo) {
        let mut shape = |ty: &TypeInfo| (ty.shape)(self);
        let shapes = MethodShapes {
            params: info.params.iter().map(|p| shape(&p.ty)).collect(),
            returns: shape(&info.returns),
            error: info.error.as_ref().map(&mut shape),
            stream: info.stream.as_ref().map(&mut shape),
            input: info.input.as_ref().map(&mut shape),
        };
        let name = |ty: &TypeInfo| ty.name.to_owned();
        self.methods.push(MethodDescription {
            path: join(prefix, info.wire),
            params: info
                .params
                .iter()
                .map(|p| ParamDescription {
                    name: p.name.to_owned(),
                    ty: name(&p.ty),
                    optional: p.optional,
                })
                .collect(),
            returns: name(&info.returns),
            error: info.error.as_ref().map(name),
            event: info.event,
            idempotent: info.idempotent,
            stream: info.stream.as_ref().map(name),
            input: info.input.as_ref().map(name),
            docs: info.docs.to_owned(),
            aliases: info.aliases.iter().map(|old| join(prefix, old)).collect(),
            deprecated: info.deprecated.map(str::to_owned),
            shapes: Some(shapes),
        });
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

/// What `#[rpc_api]` knows of a method when it compiles, written by the
/// macro as a constant and described by [`Describing::method`].
#[doc(hidden)]
#[derive(Debug)]
pub struct MethodInfo {
    /// The method's name in its namespace.
    pub wire: &'static str,
    /// Its params, in order.
    pub params: &'static [ParamInfo],
    /// The result's type.
    pub returns: TypeInfo,
    /// The application error's type, for a method returning `Result`.
    pub error: Option<TypeInfo>,
    /// The type of the items it answers with, if it streams.
    pub stream: Option<TypeInfo>,
    /// The type of the items it takes, if it takes a stream.
    pub input: Option<TypeInfo>,
    /// Whether it is an event.
    pub event: bool,
    /// Whether it is idempotent.
    pub idempotent: bool,
    /// Its doc comment.
    pub docs: &'static str,
    /// Its old names in its namespace.
    pub aliases: &'static [&'static str],
    /// Why it is deprecated, if it is.
    pub deprecated: Option<&'static str>,
}

/// One param of a [`MethodInfo`].
#[doc(hidden)]
#[derive(Debug)]
pub struct ParamInfo {
    /// Its name in the Rust signature.
    pub name: &'static str,
    /// Its type.
    pub ty: TypeInfo,
    /// Whether a call may leave it out.
    pub optional: bool,
}

/// One type of a [`MethodInfo`]: its Rust name as written, and how to
/// trace its shape (one function per type, shared by every method using
/// it).
#[doc(hidden)]
#[derive(Debug)]
pub struct TypeInfo {
    /// The type as written.
    pub name: &'static str,
    /// Traces its shape into the description's schema.
    pub shape: fn(&mut Describing) -> Type,
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
