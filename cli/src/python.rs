//! `rpc.describe`'s description as a typed Python module: what a Python
//! program (and its type checker) knows of an API.
//!
//! A struct is a `TypedDict` (a field that may be missing is `NotRequired`),
//! because msgpack gives Python dicts: a value read from the wire is one, and
//! a literal dict written for a call type-checks against it. An enum is a
//! union in serde's external representation: a unit variant is a
//! `Literal["Name"]`, any other a one-key `TypedDict`. Each namespace is a
//! `Protocol` whose methods are `async` and whose nested namespaces are
//! properties, so `api.math.stats.mean([1.0, 2.0])` type-checks as
//! `calc.math.stats.mean(..)` does in Rust. Python's `int` holds every
//! integer, so no width is lost. Methods that stream are listed in comments
//! (streams are called by path). Only descriptions with shapes (version 2)
//! give types; what a description does not shape is `Any`.

use std::fmt::Write as _;

use dotrpc::schema::{Field, Type, TypeDef, Types, VariantFields};
use dotrpc::{Description, schema::MethodDescription};

use crate::describe::{Namespace, required_params};

/// A module declaring every type of `description` and the API as the
/// protocol class `name`.
pub(crate) fn module(description: &Description, name: &str) -> String {
    let mut out = String::from(
        "\"\"\"An API as its server's rpc.describe tells it, written by\n\
         `dotrpc describe ADDR --python`. Regenerate rather than edit.\"\"\"\n\n\
         from __future__ import annotations\n\n\
         from typing import Any, Literal, NotRequired, Protocol, TypeAlias, TypedDict, Union\n\n\n",
    );
    declare(&description.types, &mut out);
    write_namespace(&Namespace::of(&description.methods), &mut out, name);
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

/// Whether `name` is a Python identifier that is not a keyword.
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !KEYWORDS.contains(&name)
}

const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

/// A type's name as a Python identifier.
fn type_name(name: &str) -> String {
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if is_identifier(&name) {
        name
    } else {
        format!("{name}_")
    }
}

/// A param name as Python takes it.
fn param_name(name: &str) -> String {
    let name = name.trim_start_matches("r#").trim_start_matches('_');
    if is_identifier(name) {
        name.to_owned()
    } else if is_identifier(&format!("{name}_")) {
        format!("{name}_")
    } else {
        format!(
            "p_{}",
            name.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        )
    }
}

/// The Python of a shape. In an annotation (`quoted` false), names are
/// left bare (`from __future__ import annotations` makes annotations lazy);
/// in an expression evaluated at import, a name is quoted, as it may be
/// defined further down.
fn py(ty: &Type, quoted: bool) -> String {
    match ty {
        Type::Bool => "bool".into(),
        Type::I8
        | Type::I16
        | Type::I32
        | Type::I64
        | Type::I128
        | Type::U8
        | Type::U16
        | Type::U32
        | Type::U64
        | Type::U128 => "int".into(),
        Type::F32 | Type::F64 => "float".into(),
        Type::Char | Type::String => "str".into(),
        Type::Bytes => "bytes".into(),
        Type::Unit => "None".into(),
        // msgpack's ExtType is a named tuple of its code and data.
        Type::Ext => "tuple[int, bytes]".into(),
        Type::Any => "Any".into(),
        Type::Option(inner) => match py(inner, quoted) {
            none if none == "None" => none,
            inner if quoted => format!("Union[{inner}, None]"),
            inner => format!("{inner} | None"),
        },
        Type::Seq(item) => format!("list[{}]", py(item, quoted)),
        Type::Map(key, value) => format!("dict[{}, {}]", py(key, quoted), py(value, quoted)),
        Type::Tuple(items) if items.is_empty() => "tuple[()]".into(),
        Type::Tuple(items) => format!("tuple[{}]", list(items, quoted)),
        Type::Named(name) if quoted => format!("{:?}", type_name(name)),
        Type::Named(name) => type_name(name),
    }
}

fn list(items: &[Type], quoted: bool) -> String {
    let items: Vec<String> = items.iter().map(|item| py(item, quoted)).collect();
    items.join(", ")
}

/// Every named type, by name: structs and struct variants as `TypedDict`s,
/// the rest as aliases.
fn declare(types: &Types, out: &mut String) {
    for (name, def) in types {
        let py_name = type_name(name);
        match def {
            TypeDef::Struct(fields) => typed_dict(out, &py_name, fields),
            TypeDef::Newtype(inner) => alias(out, &py_name, &py(inner, true)),
            TypeDef::TupleStruct(items) if items.is_empty() => alias(out, &py_name, "tuple[()]"),
            TypeDef::TupleStruct(items) => {
                alias(out, &py_name, &format!("tuple[{}]", list(items, true)));
            }
            TypeDef::UnitStruct => alias(out, &py_name, "None"),
            TypeDef::Enum(variants) => {
                let mut cases = Vec::new();
                for variant in variants {
                    let case = format!("{py_name}{}", type_name(&variant.name));
                    let content = match &variant.fields {
                        VariantFields::Unit => {
                            cases.push(format!("Literal[{:?}]", variant.name));
                            continue;
                        }
                        VariantFields::Newtype(inner) => py(inner, true),
                        VariantFields::Tuple(items) => format!("tuple[{}]", list(items, true)),
                        VariantFields::Struct(fields) => {
                            let body = format!("{case}Fields");
                            typed_dict(out, &body, fields);
                            format!("{body:?}")
                        }
                        VariantFields::Opaque(_) => "Any".into(),
                    };
                    let _ = writeln!(
                        out,
                        "{case} = TypedDict({case:?}, {{{:?}: {content}}})\n\n",
                        variant.name
                    );
                    cases.push(format!("{case:?}"));
                }
                let union = match cases.as_slice() {
                    [] => "Any".to_owned(),
                    [one] => one.clone(),
                    many => format!("Union[{}]", many.join(", ")),
                };
                alias(out, &py_name, &union);
            }
            TypeDef::Opaque(why) => {
                let _ = writeln!(out, "# Not traced: {}", why.replace('\n', " "));
                alias(out, &py_name, "Any");
            }
        }
    }
}

fn alias(out: &mut String, name: &str, ty: &str) {
    let _ = writeln!(out, "{name}: TypeAlias = {ty}\n\n");
}

/// A `TypedDict`: the class form when every field name is an identifier,
/// else the functional form (which takes any key).
fn typed_dict(out: &mut String, name: &str, fields: &[Field]) {
    let annotation = |field: &Field, quoted: bool| {
        let ty = py(&field.ty, quoted);
        if field.optional {
            format!("NotRequired[{ty}]")
        } else {
            ty
        }
    };
    if fields.iter().all(|f| is_identifier(&f.name)) {
        let _ = writeln!(out, "class {name}(TypedDict):");
        if fields.is_empty() {
            out.push_str("    pass\n");
        }
        for field in fields {
            let _ = writeln!(out, "    {}: {}", field.name, annotation(field, false));
        }
        out.push_str("\n\n");
    } else {
        let _ = writeln!(out, "{name} = TypedDict({name:?}, {{");
        for field in fields {
            let _ = writeln!(out, "    {:?}: {},", field.name, annotation(field, true));
        }
        out.push_str("})\n\n\n");
    }
}

/// The protocol class `name` and, before it, those of its namespaces
/// (`name_child`).
fn write_namespace(namespace: &Namespace<'_>, out: &mut String, name: &str) {
    for (child, inner) in &namespace.children {
        write_namespace(inner, out, &format!("{name}_{}", type_name(child)));
    }
    let _ = writeln!(out, "class {name}(Protocol):");
    let mut empty = true;
    for child in namespace.children.keys() {
        let _ = writeln!(
            out,
            "    @property\n    def {}(self) -> {name}_{}: ...\n",
            param_name(child),
            type_name(child)
        );
        empty = false;
    }
    for (method_name, method) in &namespace.methods {
        if let Some(note) = stream_note(method) {
            let _ = writeln!(out, "    # {method_name}: {note}\n");
            continue;
        }
        write_method(out, method_name, method);
        empty = false;
    }
    if empty {
        out.push_str("    pass\n\n");
    }
    out.push('\n');
}

fn write_method(out: &mut String, name: &str, method: &MethodDescription) {
    let shapes = method
        .shapes
        .as_ref()
        .filter(|s| s.params.len() == method.params.len());
    let required = required_params(method);
    let mut params = vec!["self".to_owned()];
    for (i, param) in method.params.iter().enumerate() {
        let ty = shapes.map_or_else(|| "Any".to_owned(), |s| py(&s.params[i], false));
        let default = if i >= required { " = None" } else { "" };
        let ty = if i >= required && !ty.ends_with("| None") && ty != "None" && ty != "Any" {
            format!("{ty} | None")
        } else {
            ty
        };
        params.push(format!("{}: {ty}{default}", param_name(&param.name)));
    }
    let returns = match (method.event, shapes) {
        (true, _) => "None".to_owned(),
        (false, Some(shapes)) => py(&shapes.returns, false),
        (false, None) => "Any".to_owned(),
    };
    let _ = writeln!(
        out,
        "    async def {}({}) -> {returns}:",
        param_name(name),
        params.join(", ")
    );
    let error = shapes.and_then(|s| s.error.as_ref()).map(|error| {
        format!(
            "Raises RpcError with code \"Application\" and data a {}.",
            py(error, false)
        )
    });
    let doc = crate::describe::doc_lines(
        method,
        error,
        "One-way: sent as a notification; nothing is answered.",
        |note| format!("Deprecated: {note}"),
    );
    if !doc.is_empty() {
        let body = doc
            .join("\n        ")
            .replace('\\', "\\\\")
            .replace("\"\"\"", "\\\"\"\"");
        let _ = writeln!(out, "        \"\"\"{body}\"\"\"");
    }
    out.push_str("        ...\n\n");
}

/// What a method streams and how a client calls it, for one that does.
fn stream_note(method: &MethodDescription) -> Option<String> {
    let shapes = method.shapes.as_ref();
    let item = |shape: Option<&Type>| shape.map_or_else(|| "Any".to_owned(), |s| py(s, false));
    let path = &method.path;
    match (&method.stream, &method.input) {
        (Some(_), Some(_)) => Some(format!(
            "streams both ways, {} in and {} out (\"{path}\")",
            item(shapes.and_then(|s| s.input.as_ref())),
            item(shapes.and_then(|s| s.stream.as_ref()))
        )),
        (Some(_), None) => Some(format!(
            "a stream of {} (\"{path}\")",
            item(shapes.and_then(|s| s.stream.as_ref()))
        )),
        (None, Some(_)) => Some(format!(
            "takes a stream of {} (\"{path}\")",
            item(shapes.and_then(|s| s.input.as_ref()))
        )),
        (None, None) => None,
    }
}
