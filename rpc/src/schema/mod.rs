//! The shapes of the types an API takes and gives, for peers in other
//! languages and for checking that a new version keeps its callers.
//!
//! The Rust source is the schema: `#[rpc_api]` describes each method's
//! params, result, error and stream items by their [`Type`], and every
//! struct and enum they reach once, by name, as a [`TypeDef`] in the
//! description's type table. Nothing beyond the serde derives a user already
//! writes is needed, because the shapes are read from those derives: a
//! [`Schema`] *traces* a type by deserializing it from a deserializer that
//! answers whatever the type asks for and notes what it asked (see `trace`).
//! That sees exactly what the wire carries (serde's names, `rename`,
//! `rename_all`, skipped fields, `Option` and `#[serde(default)]` fields that
//! may be missing), which a second derive or a JSON Schema generator could
//! only approximate.
//!
//! What a deserializer cannot learn is described honestly rather than
//! guessed: a type that reads "any value" (`rmpv::Value`, an untagged enum)
//! is [`Type::Any`], and a struct or enum that cannot be traced (an
//! internally or adjacently tagged enum, a struct with `#[serde(flatten)]`, a
//! hand-written `Deserialize` that rejects every probe) keeps its name with
//! [`TypeDef::Opaque`] and the reason. Neither the build nor the server ever
//! fails because of it.

mod description;
mod trace;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use description::{Describing, Description, MethodDescription, MethodShapes, ParamDescription};
#[doc(hidden)]
pub use description::{MethodInfo, ParamInfo, TypeInfo};
pub use trace::Schema;

/// The version of the description format `rpc.describe` answers with:
/// `{"version": 2, "methods": [..], "types": {..}}`. Version 1, a bare list of
/// methods whose types are Rust names only, still decodes
/// ([`Description`]'s `Deserialize` reads both).
pub const DESCRIPTION_VERSION: u32 = 2;

/// The shape of a value on the wire.
///
/// Named types (structs, enums, newtype and tuple structs) are referred to by
/// name; their shapes are in the description's type table
/// ([`TypeDef`]), so a type used often, or one that contains itself, is
/// described once.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Type {
    /// `bool`.
    Bool,
    /// `i8`.
    I8,
    /// `i16`.
    I16,
    /// `i32`.
    I32,
    /// `i64`.
    I64,
    /// `i128`.
    I128,
    /// `u8`.
    U8,
    /// `u16`.
    U16,
    /// `u32`.
    U32,
    /// `u64`.
    U64,
    /// `u128`.
    U128,
    /// `f32`.
    F32,
    /// `f64`.
    F64,
    /// `char`: a string of one character.
    Char,
    /// A UTF-8 string (also every type that travels as one: a type whose
    /// `Deserialize` parses a string).
    String,
    /// Binary data (msgpack bin): `Blob`, `serde_bytes::ByteBuf`, a
    /// `Vec<u8>` with `#[serde(with = "serde_bytes")]`. A plain `Vec<u8>` is a
    /// sequence of `u8`.
    Bytes,
    /// `()`: nil (the default: a method that returns nothing).
    #[default]
    Unit,
    /// A msgpack ext value ([`Ext`](crate::Ext)).
    Ext,
    /// Any value: the type reads whatever it is given (`rmpv::Value`, an
    /// untagged enum).
    Any,
    /// `Option<T>`: nil or the value.
    Option(Box<Type>),
    /// A sequence: `Vec<T>`, a slice, a set, a `VecDeque`.
    Seq(Box<Type>),
    /// A map: key type, value type.
    Map(Box<Type>, Box<Type>),
    /// A tuple or a fixed-size array: an array of these, in order.
    Tuple(Vec<Type>),
    /// A struct or enum, described in the type table under this name.
    Named(String),
}

/// A named type, as the type table describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TypeDef {
    /// A struct with named fields: a map from field name to value.
    Struct(Vec<Field>),
    /// `struct Meters(f64)`: the inner value itself.
    Newtype(Type),
    /// `struct Point(i32, i32)`: an array.
    TupleStruct(Vec<Type>),
    /// `struct Marker;`: nil.
    UnitStruct,
    /// An enum in serde's default (external) representation: a unit variant
    /// is its name as a string, any other a one-entry map from its name to
    /// its contents.
    Enum(Vec<Variant>),
    /// A type whose shape could not be traced, and why; only its name is
    /// known.
    Opaque(String),
}

/// One field of a struct (or of a struct variant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    /// Its name on the wire (after `rename`/`rename_all`).
    pub name: String,
    /// Its shape.
    #[serde(rename = "type")]
    pub ty: Type,
    /// Whether a value may leave it out (an `Option`, or
    /// `#[serde(default)]`): a reader then takes `None` or the default.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

/// One variant of an enum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variant {
    /// Its name on the wire.
    pub name: String,
    /// What it carries.
    pub fields: VariantFields,
}

/// What an enum variant carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VariantFields {
    /// Nothing: `Red`, the string `"Red"` on the wire.
    Unit,
    /// One value: `Some(T)`, `{"Some": value}`.
    Newtype(Type),
    /// Several values: `Move(i32, i32)`, `{"Move": [x, y]}`.
    Tuple(Vec<Type>),
    /// Named fields: `Rename { to: String }`, `{"Rename": {"to": ..}}`.
    Struct(Vec<Field>),
    /// Contents that could not be traced, and why.
    Opaque(String),
}

/// The type table: every named type the described methods reach.
pub type Types = BTreeMap<String, TypeDef>;

impl fmt::Display for Type {
    /// Rust-like notation: `Vec<Option<ShopItem>>`, `(u8, String)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Bool => f.write_str("bool"),
            Type::I8 => f.write_str("i8"),
            Type::I16 => f.write_str("i16"),
            Type::I32 => f.write_str("i32"),
            Type::I64 => f.write_str("i64"),
            Type::I128 => f.write_str("i128"),
            Type::U8 => f.write_str("u8"),
            Type::U16 => f.write_str("u16"),
            Type::U32 => f.write_str("u32"),
            Type::U64 => f.write_str("u64"),
            Type::U128 => f.write_str("u128"),
            Type::F32 => f.write_str("f32"),
            Type::F64 => f.write_str("f64"),
            Type::Char => f.write_str("char"),
            Type::String => f.write_str("String"),
            Type::Bytes => f.write_str("bytes"),
            Type::Unit => f.write_str("()"),
            Type::Ext => f.write_str("ext"),
            Type::Any => f.write_str("any"),
            Type::Option(inner) => write!(f, "Option<{inner}>"),
            Type::Seq(item) => write!(f, "Vec<{item}>"),
            Type::Map(key, value) => write!(f, "Map<{key}, {value}>"),
            Type::Tuple(items) => {
                f.write_str("(")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                if items.len() == 1 {
                    f.write_str(",")?;
                }
                f.write_str(")")
            }
            Type::Named(name) => f.write_str(name),
        }
    }
}

impl Type {
    /// Every name this shape refers to, each once, in order of appearance.
    pub fn names(&self) -> Vec<&str> {
        let mut names = Vec::new();
        self.collect_names(&mut names);
        names
    }

    fn collect_names<'a>(&'a self, names: &mut Vec<&'a str>) {
        match self {
            Type::Named(name) if !names.contains(&name.as_str()) => names.push(name),
            Type::Option(inner) | Type::Seq(inner) => inner.collect_names(names),
            Type::Map(key, value) => {
                key.collect_names(names);
                value.collect_names(names);
            }
            Type::Tuple(items) => items.iter().for_each(|item| item.collect_names(names)),
            _ => {}
        }
    }
}

impl TypeDef {
    /// The type `name` declared in Rust-like notation, for people: `Item {
    /// id: u64, note?: Option<String> }` (a field marked `?` may be left
    /// out), `State = Open | Moved(u32)`, `Meters(f64)`.
    pub fn declaration(&self, name: &str) -> String {
        match self {
            TypeDef::Struct(fields) => format!("{name} {}", braced(fields)),
            TypeDef::Newtype(inner) => format!("{name}({inner})"),
            TypeDef::TupleStruct(items) => {
                let items: Vec<String> = items.iter().map(ToString::to_string).collect();
                format!("{name}({})", items.join(", "))
            }
            TypeDef::UnitStruct => format!("{name} (unit)"),
            TypeDef::Enum(variants) => {
                let variants: Vec<String> = variants
                    .iter()
                    .map(|v| match &v.fields {
                        VariantFields::Unit => v.name.clone(),
                        VariantFields::Newtype(inner) => format!("{}({inner})", v.name),
                        VariantFields::Tuple(items) => {
                            let items: Vec<String> =
                                items.iter().map(ToString::to_string).collect();
                            format!("{}({})", v.name, items.join(", "))
                        }
                        VariantFields::Struct(fields) => format!("{} {}", v.name, braced(fields)),
                        VariantFields::Opaque(why) => format!("{} (not traced: {why})", v.name),
                    })
                    .collect();
                format!("{name} = {}", variants.join(" | "))
            }
            TypeDef::Opaque(why) => format!("{name}: not traced ({why})"),
        }
    }
}

/// `{ a: T, b?: U }`: a field marked `?` may be left out.
fn braced(fields: &[Field]) -> String {
    let fields: Vec<String> = fields
        .iter()
        .map(|f| format!("{}{}: {}", f.name, if f.optional { "?" } else { "" }, f.ty))
        .collect();
    format!("{{ {} }}", fields.join(", "))
}

#[cfg(test)]
mod tests;
