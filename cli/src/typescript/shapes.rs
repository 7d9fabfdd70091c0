//! Shapes (version 2 descriptions) as TypeScript: every named type declared
//! once, as `@msgpack/msgpack` decodes what rmp-serde writes.
//!
//! A struct is an interface (a field that may be missing is optional), an
//! enum a union in serde's external representation (a unit variant is its
//! name as a string literal, any other a one-key object), a newtype its
//! inner type. Integers are `number`: the decoder gives a 64-bit integer as
//! a `number`, exact up to 2^53 (`Number.MAX_SAFE_INTEGER`); the header of
//! the generated file says so.

use std::fmt::Write as _;

use dotrpc::schema::{Field, Type, TypeDef, Types, VariantFields};

use super::{TsType, property};

impl TsType {
    /// The TypeScript of a shape.
    pub(super) fn shaped(ty: &Type) -> TsType {
        let simple = |ts: &str| TsType::Simple(ts.to_owned());
        match ty {
            Type::Bool => simple("boolean"),
            Type::I8
            | Type::I16
            | Type::I32
            | Type::I64
            | Type::I128
            | Type::U8
            | Type::U16
            | Type::U32
            | Type::U64
            | Type::U128
            | Type::F32
            | Type::F64 => simple("number"),
            Type::Char | Type::String => simple("string"),
            Type::Bytes => simple("Uint8Array"),
            Type::Unit => TsType::Unit,
            Type::Ext => simple("{ type: number; data: Uint8Array }"),
            Type::Any => simple("unknown"),
            Type::Option(inner) => match TsType::shaped(inner) {
                // `Option<()>` is nil either way.
                TsType::Unit => TsType::Unit,
                inner => TsType::Union(format!("{} | null", inner.param())),
            },
            Type::Seq(item) => TsType::Simple(format!("{}[]", TsType::shaped(item).element())),
            Type::Map(key, value) => {
                // The decoder makes a map an object; its keys are strings
                // or numbers.
                let key = match TsType::shaped(key) {
                    TsType::Simple(key) if key == "number" => key,
                    _ => "string".to_owned(),
                };
                TsType::Simple(format!("Record<{key}, {}>", TsType::shaped(value).param()))
            }
            Type::Tuple(items) => TsType::Simple(format!("[{}]", list(items))),
            Type::Named(name) => TsType::Simple(type_name(name)),
        }
    }
}

fn list(items: &[Type]) -> String {
    items
        .iter()
        .map(|item| TsType::shaped(item).param())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A type's name as a TypeScript identifier.
pub(super) fn type_name(name: &str) -> String {
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '$' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{name}")
    } else {
        name
    }
}

/// `export type`/`export interface` for every named type, by name.
pub(super) fn declare(types: &Types, out: &mut String) {
    for (name, def) in types {
        let ts = type_name(name);
        match def {
            TypeDef::Struct(fields) => {
                let _ = writeln!(out, "export interface {ts} {}\n", object(fields));
            }
            TypeDef::Newtype(inner) => {
                let _ = writeln!(
                    out,
                    "export type {ts} = {};\n",
                    TsType::shaped(inner).param()
                );
            }
            TypeDef::TupleStruct(items) => {
                let _ = writeln!(out, "export type {ts} = [{}];\n", list(items));
            }
            TypeDef::UnitStruct => {
                let _ = writeln!(out, "export type {ts} = null;\n");
            }
            TypeDef::Enum(variants) => {
                let _ = writeln!(out, "export type {ts} =");
                for (i, variant) in variants.iter().enumerate() {
                    let tag = format!("{:?}", variant.name);
                    let case = match &variant.fields {
                        VariantFields::Unit => tag,
                        VariantFields::Newtype(inner) => {
                            format!(
                                "{{ {}: {} }}",
                                property(&variant.name),
                                TsType::shaped(inner).param()
                            )
                        }
                        VariantFields::Tuple(items) => {
                            format!("{{ {}: [{}] }}", property(&variant.name), list(items))
                        }
                        VariantFields::Struct(fields) => {
                            format!("{{ {}: {} }}", property(&variant.name), inline(fields))
                        }
                        VariantFields::Opaque(why) => format!(
                            "{{ {}: unknown /* {} */ }}",
                            property(&variant.name),
                            comment(why)
                        ),
                    };
                    let end = if i + 1 == variants.len() { ";" } else { "" };
                    let _ = writeln!(out, "  | {case}{end}");
                }
                if variants.is_empty() {
                    let _ = writeln!(out, "  never;");
                }
                out.push('\n');
            }
            TypeDef::Opaque(why) => {
                let _ = writeln!(
                    out,
                    "/** Not traced: {}. */\nexport type {ts} = unknown;\n",
                    comment(why)
                );
            }
        }
    }
}

/// `{ a: T; b?: U }`, one field a line.
fn object(fields: &[Field]) -> String {
    if fields.is_empty() {
        return "{}".to_owned();
    }
    let indent = "  ";
    let mut out = "{\n".to_owned();
    for field in fields {
        let optional = if field.optional { "?" } else { "" };
        let _ = writeln!(
            out,
            "{indent}{}{optional}: {};",
            property(&field.name),
            TsType::shaped(&field.ty).param()
        );
    }
    out.push('}');
    out
}

/// `{ a: T; b?: U }` on one line, for a struct variant.
fn inline(fields: &[Field]) -> String {
    let fields: Vec<String> = fields
        .iter()
        .map(|field| {
            let optional = if field.optional { "?" } else { "" };
            format!(
                "{}{optional}: {}",
                property(&field.name),
                TsType::shaped(&field.ty).param()
            )
        })
        .collect();
    format!("{{ {} }}", fields.join("; "))
}

fn comment(text: &str) -> String {
    text.replace("*/", "*\\/")
}
