//! Whether a reader of one shape takes every value a writer of another
//! writes: the question behind every type change between two versions.
//!
//! Params and input streams are written by callers and read by the server;
//! results, errors and stream items the other way round. So a change to a
//! param's type breaks older callers when the new shape does not take what
//! the old one wrote, and newer callers (of an old server) when the old
//! shape does not take what the new one writes; for a result, the reverse.
//! Shapes are compared as msgpack carries them, not by name: a struct
//! renamed with the same fields, or an `i32` widened to `i64` where it is
//! read, breaks nothing on the wire.

use std::collections::HashSet;

use crate::schema::{Field, Type, TypeDef, Types, VariantFields};

/// Two shapes, each with the type table its names refer to.
pub(super) struct Sides<'a> {
    pub(super) reader: &'a Types,
    pub(super) writer: &'a Types,
}

impl Sides<'_> {
    /// Why a reader of `reader` may fail on a value a writer of `writer`
    /// writes: nothing if it never does.
    pub(super) fn mismatches(&self, reader: &Type, writer: &Type) -> Vec<String> {
        let mut check = Check {
            sides: self,
            seen: HashSet::new(),
            found: Vec::new(),
        };
        check.shape("", reader, writer);
        check.found
    }
}

/// How many mismatches are worth reporting for one type.
const ENOUGH: usize = 5;

struct Check<'a, 'b> {
    sides: &'b Sides<'a>,
    /// Named pairs being compared: a type that contains itself is compared
    /// once.
    seen: HashSet<(String, String)>,
    found: Vec<String>,
}

impl Check<'_, '_> {
    fn note(&mut self, at: &str, what: String) {
        if self.found.len() < ENOUGH {
            let at = if at.is_empty() {
                String::new()
            } else {
                format!("`{at}`: ")
            };
            self.found.push(format!("{at}{what}"));
        }
    }

    fn shape(&mut self, at: &str, reader: &Type, writer: &Type) {
        use Type::*;
        match (reader, writer) {
            (Any, _) => {}
            (Named(r), Named(w)) => self.named(at, r, w),
            (Named(r), _) => match self.sides.reader.get(r) {
                // A newtype is its inner value on the wire.
                Some(TypeDef::Newtype(inner)) => self.shape(at, inner, writer),
                Some(TypeDef::UnitStruct) if *writer == Unit => {}
                _ => self.differ(at, reader, writer),
            },
            (_, Named(w)) => match self.sides.writer.get(w) {
                Some(TypeDef::Newtype(inner)) => self.shape(at, reader, inner),
                Some(TypeDef::UnitStruct) if *reader == Unit => {}
                _ => self.differ(at, reader, writer),
            },
            (Option(r), Option(w)) => self.shape(at, r, w),
            (Option(r), Unit) if **r == Unit => {}
            // A reader of an `Option` takes the value itself.
            (Option(r), _) => self.shape(at, r, writer),
            (_, Option(_)) => self.note(
                at,
                format!("`{writer}` may be nil, which `{reader}` refuses"),
            ),
            (Seq(r), Seq(w)) => self.shape(&format!("{at}[]"), r, w),
            (Seq(r), Tuple(items)) => {
                for (i, item) in items.iter().enumerate() {
                    self.shape(&format!("{at}.{i}"), r, item);
                }
            }
            (Tuple(r), Tuple(w)) if r.len() == w.len() => {
                for (i, (r, w)) in r.iter().zip(w).enumerate() {
                    self.shape(&format!("{at}.{i}"), r, w);
                }
            }
            (Map(rk, rv), Map(wk, wv)) => {
                self.shape(&format!("{at}{{key}}"), rk, wk);
                self.shape(&format!("{at}{{value}}"), rv, wv);
            }
            _ if takes(reader, writer) => {}
            _ => self.differ(at, reader, writer),
        }
    }

    fn differ(&mut self, at: &str, reader: &Type, writer: &Type) {
        self.note(
            at,
            format!("`{writer}` is written where `{reader}` is read"),
        );
    }

    fn named(&mut self, at: &str, reader: &str, writer: &str) {
        if !self.seen.insert((reader.to_owned(), writer.to_owned())) {
            return;
        }
        let (Some(r), Some(w)) = (self.sides.reader.get(reader), self.sides.writer.get(writer))
        else {
            // A description without the type: compared by name only.
            if reader != writer {
                self.note(
                    at,
                    format!("`{writer}` is written where `{reader}` is read"),
                );
            }
            return;
        };
        let at = if at.is_empty() {
            reader.to_owned()
        } else {
            at.to_owned()
        };
        match (r, w) {
            (TypeDef::Opaque(_), _) | (_, TypeDef::Opaque(_)) => {
                if reader != writer {
                    self.note(&at, format!("`{writer}` is written where `{reader}` is read, and one cannot be traced"));
                }
            }
            (TypeDef::Struct(r), TypeDef::Struct(w)) => self.fields(&at, r, w),
            (TypeDef::Enum(r), TypeDef::Enum(w)) => {
                for variant in w {
                    let Some(known) = r.iter().find(|v| v.name == variant.name) else {
                        self.note(
                            &at,
                            format!("variant `{}` is unknown to the reader", variant.name),
                        );
                        continue;
                    };
                    let at = format!("{at}::{}", variant.name);
                    self.variant(&at, &known.fields, &variant.fields);
                }
            }
            (TypeDef::Newtype(r), _) => self.shape(&at, r, &Type::Named(writer.to_owned())),
            (_, TypeDef::Newtype(w)) => self.shape(&at, &Type::Named(reader.to_owned()), w),
            (TypeDef::TupleStruct(r), TypeDef::TupleStruct(w)) => {
                self.shape(&at, &Type::Tuple(r.clone()), &Type::Tuple(w.clone()));
            }
            (TypeDef::UnitStruct, TypeDef::UnitStruct) => {}
            _ => self.note(
                &at,
                format!("`{writer}` is written where `{reader}` is read, and they differ in kind"),
            ),
        }
    }

    fn fields(&mut self, at: &str, reader: &[Field], writer: &[Field]) {
        for field in reader {
            let at = format!("{at}.{}", field.name);
            match writer.iter().find(|w| w.name == field.name) {
                Some(written) => {
                    if written.optional && !field.optional {
                        self.note(
                            &at,
                            "may be left out by the writer, and the reader requires it".into(),
                        );
                    }
                    self.shape(&at, &field.ty, &written.ty);
                }
                None if field.optional => {}
                None => self.note(&at, "required by the reader, and not written".into()),
            }
        }
    }

    fn variant(&mut self, at: &str, reader: &VariantFields, writer: &VariantFields) {
        use VariantFields::*;
        match (reader, writer) {
            (Unit, Unit) => {}
            (Newtype(r), Newtype(w)) => self.shape(at, r, w),
            (Tuple(r), Tuple(w)) => {
                self.shape(at, &Type::Tuple(r.clone()), &Type::Tuple(w.clone()))
            }
            (Struct(r), Struct(w)) => self.fields(at, r, w),
            (Opaque(_), _) | (_, Opaque(_)) => {}
            _ => self.note(at, "carries something else".into()),
        }
    }
}

/// Whether a reader of the plain shape `reader` takes every value of the
/// plain shape `writer`: equal, or a wider number.
fn takes(reader: &Type, writer: &Type) -> bool {
    if reader == writer {
        return true;
    }
    match (range(reader), range(writer)) {
        (Some((rmin, rmax)), Some((wmin, wmax))) => rmin <= wmin && wmax <= rmax,
        _ => matches!(
            (reader, writer),
            (Type::F64, Type::F32)
                | (
                    Type::F32 | Type::F64,
                    Type::I8
                        | Type::I16
                        | Type::I32
                        | Type::I64
                        | Type::U8
                        | Type::U16
                        | Type::U32
                        | Type::U64
                )
                | (Type::String, Type::Char)
        ),
    }
}

/// The values an integer shape holds.
fn range(ty: &Type) -> Option<(i128, i128)> {
    Some(match ty {
        Type::I8 => (i8::MIN.into(), i8::MAX.into()),
        Type::I16 => (i16::MIN.into(), i16::MAX.into()),
        Type::I32 => (i32::MIN.into(), i32::MAX.into()),
        Type::I64 => (i64::MIN.into(), i64::MAX.into()),
        Type::I128 => (i128::MIN, i128::MAX),
        Type::U8 => (0, u8::MAX.into()),
        Type::U16 => (0, u16::MAX.into()),
        Type::U32 => (0, u32::MAX.into()),
        Type::U64 => (0, u64::MAX.into()),
        Type::U128 => (0, i128::MAX),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::super::{Breaks, compare};
    use crate::schema::{Description, MethodDescription, MethodShapes, ParamDescription, Schema};

    mod v1 {
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        pub(super) struct Order {
            item: String,
        }

        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        pub(super) enum State {
            Open,
            Shipped,
        }
    }

    mod v2 {
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        pub(super) struct Order {
            item: String,
            #[serde(default)]
            gift: bool,
        }

        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        pub(super) enum State {
            Open,
            Shipped,
            Lost,
        }
    }

    mod required {
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        pub(super) struct Order {
            item: String,
            count: u32,
        }
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Purchase {
        item: String,
    }

    /// An API of one method `m` taking `P` and returning `R`.
    fn api<P: serde::de::DeserializeOwned, R: serde::de::DeserializeOwned>(
        param: &str,
        returns: &str,
    ) -> Description {
        let mut schema = Schema::new();
        let shapes = MethodShapes {
            params: vec![schema.shape_of::<P>()],
            returns: schema.shape_of::<R>(),
            ..MethodShapes::default()
        };
        Description {
            methods: vec![MethodDescription {
                params: vec![ParamDescription::new("p", param)],
                returns: returns.into(),
                shapes: Some(shapes),
                ..MethodDescription::new("m")
            }],
            types: schema.types(),
            ..Description::default()
        }
    }

    fn breaks(old: &Description, new: &Description) -> Vec<Breaks> {
        compare(old, new).changes.iter().map(|c| c.breaks).collect()
    }

    #[test]
    fn a_field_that_may_be_missing_breaks_nobody_and_a_required_one_does() {
        // Read by the server: older callers do not send the new field.
        let (v1, v2) = (
            api::<v1::Order, ()>("Order", "()"),
            api::<v2::Order, ()>("Order", "()"),
        );
        assert_eq!(breaks(&v1, &v2), []);
        assert_eq!(breaks(&v2, &v1), []);
        let required = api::<required::Order, ()>("Order", "()");
        let report = compare(&v1, &required);
        assert_eq!(breaks(&v1, &required), [Breaks::OlderCallers], "{report}");
        assert!(
            report
                .to_string()
                .contains("`Order.count`: required by the reader"),
            "{report}"
        );
        // Written by the server: only a newer caller of an old server misses it.
        let (v1, required) = (
            api::<(), v1::Order>("()", "Order"),
            api::<(), required::Order>("()", "Order"),
        );
        assert_eq!(breaks(&v1, &required), [Breaks::NewerCallers]);
    }

    #[test]
    fn a_new_variant_breaks_whoever_reads_it() {
        let (v1, v2) = (
            api::<v1::State, ()>("State", "()"),
            api::<v2::State, ()>("State", "()"),
        );
        assert_eq!(breaks(&v1, &v2), [Breaks::NewerCallers]);
        let (v1, v2) = (
            api::<(), v1::State>("()", "State"),
            api::<(), v2::State>("()", "State"),
        );
        let report = compare(&v1, &v2);
        assert_eq!(breaks(&v1, &v2), [Breaks::OlderCallers]);
        assert!(
            report
                .to_string()
                .contains("variant `Lost` is unknown to the reader"),
            "{report}"
        );
    }

    #[test]
    fn a_renamed_type_or_a_widened_number_is_judged_by_the_wire() {
        let (v1, renamed) = (
            api::<v1::Order, ()>("Order", "()"),
            api::<Purchase, ()>("Purchase", "()"),
        );
        assert_eq!(breaks(&v1, &renamed), [Breaks::GeneratedCode]);
        let (narrow, wide) = (api::<i32, i32>("i32", "i32"), api::<i64, i32>("i64", "i32"));
        // A server that reads i64 takes every i32; an old one refuses big ones.
        assert_eq!(breaks(&narrow, &wide), [Breaks::NewerCallers]);
        let (narrow, wide) = (api::<(), i32>("()", "i32"), api::<(), i64>("()", "i64"));
        assert_eq!(breaks(&narrow, &wide), [Breaks::OlderCallers]);
        let (plain, optional) = (
            api::<u8, ()>("u8", "()"),
            api::<Option<u8>, ()>("Option<u8>", "()"),
        );
        assert_eq!(breaks(&plain, &optional), [Breaks::NewerCallers]);
    }
}
