//! The deserializer a pass is: what it answers each request of a type's
//! `Deserialize` with, and the sequence, map and enum accessors it hands
//! the type's visitors.

use std::collections::HashSet;

use serde::de::{self, DeserializeSeed, Visitor};

use super::{EnumProgress, Kind, Learned, Pass, Result, TraceError, variant_key};
use crate::schema::{Type, TypeDef};

/// A tuple's items, or a sequence's one item (or none).
pub(super) struct Items<'p, 'a> {
    pub(super) pass: &'p mut Pass<'a>,
    pub(super) count: usize,
    pub(super) next: usize,
    /// Items are `.0`, `.1`.. (a tuple) rather than each `[]`.
    pub(super) tuple: bool,
}

impl<'de> de::SeqAccess<'de> for Items<'_, '_> {
    type Error = TraceError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        if self.next == self.count {
            return Ok(None);
        }
        let segment = if self.tuple {
            format!(".{}", self.next)
        } else {
            "[]".to_owned()
        };
        self.next += 1;
        self.pass
            .at(&segment, |pass| seed.deserialize(pass))
            .map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.count - self.next)
    }
}

/// A map's one entry (or none).
pub(super) struct Entries<'p, 'a> {
    pub(super) pass: &'p mut Pass<'a>,
    pub(super) left: usize,
}

impl<'de> de::MapAccess<'de> for Entries<'_, '_> {
    type Error = TraceError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        self.pass.at("{k", |pass| seed.deserialize(pass)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        self.pass.at("{v", |pass| seed.deserialize(pass))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

/// A struct's fields, as a map from name to value.
pub(super) struct Fields<'p, 'a> {
    pub(super) pass: &'p mut Pass<'a>,
    pub(super) keys: &'p [&'static str],
    pub(super) next: usize,
    /// The keys fed so far, to tell which one was an alias.
    pub(super) fed: &'p mut Vec<&'static str>,
}

impl<'de> de::MapAccess<'de> for Fields<'_, '_> {
    type Error = TraceError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        let Some(key) = self.keys.get(self.next) else {
            return Ok(None);
        };
        self.fed.push(key);
        seed.deserialize(Name(key)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        let key = self.keys[self.next];
        self.next += 1;
        self.pass
            .at(&format!(".{key}"), |pass| seed.deserialize(pass))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.keys.len() - self.next)
    }
}

/// A field or variant name, for the derived identifier visitors.
pub(super) struct Name(pub(super) &'static str);

impl<'de> de::Deserializer<'de> for Name {
    type Error = TraceError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_str(self.0)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

/// The variant an enum is read as this pass.
pub(super) struct Choice<'p, 'a> {
    pub(super) pass: &'p mut Pass<'a>,
    pub(super) key: String,
    pub(super) index: usize,
}

impl<'de, 'p, 'a> de::EnumAccess<'de> for Choice<'p, 'a> {
    type Error = TraceError;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self)> {
        let name = self.pass.schema.enums[&self.key].variants[self.index];
        let value = seed.deserialize(Name(name))?;
        Ok((value, self))
    }
}

impl<'de> de::VariantAccess<'de> for Choice<'_, '_> {
    type Error = TraceError;

    fn unit_variant(self) -> Result<()> {
        self.pass
            .learn_variant(&self.key, self.index, Learned::Unit);
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value> {
        let segment = self.segment();
        let value = self.pass.at(&segment, |pass| seed.deserialize(pass))?;
        self.learned(&segment, None);
        Ok(value)
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value> {
        let segment = self.segment();
        let value = self.pass.at(&segment, |pass| {
            visitor.visit_seq(Items {
                pass,
                count: len,
                next: 0,
                tuple: true,
            })
        })?;
        self.learned(&segment, Some(len));
        Ok(value)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        let segment = self.segment();
        let key = variant_key(&self.key, &segment[2..]);
        let value = self.pass.at(&segment, |pass| {
            pass.fields_of(key, fields, |access| visitor.visit_map(access))
        })?;
        self.pass
            .learn_variant(&self.key, self.index, Learned::Struct);
        Ok(value)
    }
}

impl Choice<'_, '_> {
    /// Where the variant's contents are: `::Variant`.
    fn segment(&self) -> String {
        format!(
            "::{}",
            self.pass.schema.enums[&self.key].variants[self.index]
        )
    }

    /// Notes what a newtype variant (`tuple` `None`) or a tuple variant of
    /// `tuple` items carried.
    fn learned(self, segment: &str, tuple: Option<usize>) {
        let at = format!("{}{segment}", self.pass.path);
        let learned = match tuple {
            None => Learned::Newtype(self.pass.trace.type_at(&at)),
            Some(len) => Learned::Tuple(self.pass.trace.items_at(&at, len)),
        };
        self.pass.learn_variant(&self.key, self.index, learned);
    }
}

macro_rules! leaves {
    ($($method:ident => $ty:ident, $visit:ident, [$($candidate:expr),+];)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
                let candidates = [$($candidate),+];
                self.leaf(Type::$ty, candidates.len(), |i| visitor.$visit(candidates[i]))
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for &mut Pass<'_> {
    type Error = TraceError;

    /// A type that reads whatever it is given: fed the plainest values in
    /// turn until one is taken.
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.enter(Kind::Leaf(Type::Any))?;
        const OPTIONS: usize = 7;
        let chosen = self.choice(OPTIONS);
        let result = match chosen {
            0 => visitor.visit_unit(),
            1 => visitor.visit_u64(0),
            2 => visitor.visit_str(""),
            3 => visitor.visit_bool(false),
            4 => visitor.visit_seq(Items {
                pass: &mut *self,
                count: 0,
                next: 0,
                tuple: false,
            }),
            5 => visitor.visit_map(Entries {
                pass: &mut *self,
                left: 0,
            }),
            _ => visitor.visit_f64(0.0),
        };
        self.read_leaf(result, chosen, OPTIONS)
    }

    leaves! {
        deserialize_bool => Bool, visit_bool, [false, true];
        deserialize_i8 => I8, visit_i8, [0, 1];
        deserialize_i16 => I16, visit_i16, [0, 1];
        deserialize_i32 => I32, visit_i32, [0, 1];
        deserialize_i64 => I64, visit_i64, [0, 1];
        deserialize_i128 => I128, visit_i128, [0, 1];
        deserialize_u8 => U8, visit_u8, [0, 1];
        deserialize_u16 => U16, visit_u16, [0, 1];
        deserialize_u32 => U32, visit_u32, [0, 1];
        deserialize_u64 => U64, visit_u64, [0, 1];
        deserialize_u128 => U128, visit_u128, [0, 1];
        deserialize_f32 => F32, visit_f32, [0.0, 1.0];
        deserialize_f64 => F64, visit_f64, [0.0, 1.0];
        deserialize_char => Char, visit_char, ['a', '0'];
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.string(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.string(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.string(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.bytes(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.enter(Kind::Option)?;
        let chosen = self.choice(2);
        let result = match chosen {
            0 => self.at("?", |pass| visitor.visit_some(pass)),
            _ => visitor.visit_none(),
        };
        self.settle(result, chosen, 2)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.enter(Kind::Leaf(Type::Unit))?;
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        self.enter(Kind::Named(name.to_owned()))?;
        let value = visitor.visit_unit()?;
        self.schema
            .plain
            .entry(name.to_owned())
            .or_insert(TypeDef::UnitStruct);
        Ok(value)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        if name == rmp_serde::MSGPACK_EXT_STRUCT_NAME {
            self.enter(Kind::Leaf(Type::Ext))?;
            return self.at(".ext", |pass| visitor.visit_newtype_struct(pass));
        }
        self.begin_named(name)?;
        let result = self.at(".0", |pass| visitor.visit_newtype_struct(pass));
        self.end_named(name, result.as_ref().err(), &|pass| {
            TypeDef::Newtype(pass.trace.type_at(&format!("{}.0", pass.path)))
        });
        result
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.enter(Kind::Seq)?;
        let chosen = self.choice(2);
        let result = visitor.visit_seq(Items {
            pass: &mut *self,
            count: 1 - chosen,
            next: 0,
            tuple: false,
        });
        self.settle(result, chosen, 2)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value> {
        self.enter(Kind::Tuple(len))?;
        visitor.visit_seq(Items {
            pass: self,
            count: len,
            next: 0,
            tuple: true,
        })
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value> {
        self.begin_named(name)?;
        let result = visitor.visit_seq(Items {
            pass: &mut *self,
            count: len,
            next: 0,
            tuple: true,
        });
        self.end_named(name, result.as_ref().err(), &|pass| {
            TypeDef::TupleStruct(pass.trace.items_at(&pass.path, len))
        });
        result
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.enter(Kind::Map)?;
        let chosen = self.choice(2);
        let result = visitor.visit_map(Entries {
            pass: &mut *self,
            left: 1 - chosen,
        });
        self.settle(result, chosen, 2)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        let key = self.schema.key_for(name, fields);
        self.enter(Kind::Named(key.clone()))?;
        self.struct_names.push(name);
        let result = self.fields_of(key, fields, |access| visitor.visit_map(access));
        self.struct_names.pop();
        result
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        let (key, index, explored) = self.begin_enum(name, variants)?;
        let result = visitor.visit_enum(Choice {
            pass: &mut *self,
            key: key.clone(),
            index,
        });
        self.end_enum(&key, index, explored, result.as_ref().err());
        result
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_unit()
    }

    fn is_human_readable(&self) -> bool {
        // The wire is msgpack, which is not: types that write themselves
        // differently for people (addresses, times) are traced as msgpack
        // carries them.
        false
    }
}

/// The bookkeeping of named types, apart from the generic methods above so
/// that it is compiled once rather than once per type traced.
impl Pass<'_> {
    /// Starts reading a newtype or tuple struct.
    fn begin_named(&mut self, name: &'static str) -> Result<()> {
        self.enter(Kind::Named(name.to_owned()))?;
        self.reenter(name)?;
        self.stack.push(name.to_owned());
        Ok(())
    }

    /// Ends reading a newtype or tuple struct: its definition, once read.
    fn end_named(
        &mut self,
        name: &'static str,
        error: Option<&TraceError>,
        def: &dyn Fn(&Self) -> TypeDef,
    ) {
        self.stack.pop();
        match error {
            None => {
                let def = def(self);
                self.schema.plain.entry(name.to_owned()).or_insert(def);
            }
            Some(error) => self.note_failure(name, error),
        }
    }

    /// Starts reading an enum: its key, the variant chosen, and whether that
    /// variant is being explored.
    fn begin_enum(
        &mut self,
        name: &'static str,
        variants: &'static [&'static str],
    ) -> Result<(String, usize, bool)> {
        if self.struct_names.last() == Some(&name) {
            // serde reads an adjacently tagged enum as a struct of its own
            // name, tag then content: the content's shape depends on the
            // tag, which no single shape says.
            return Err(TraceError::new(format!(
                "`{name}` is an adjacently tagged enum (`#[serde(tag, content)]`), whose contents depend on its tag"
            )));
        }
        let key = self.schema.key_for(name, variants);
        self.enter(Kind::Named(key.clone()))?;
        self.reenter(&key)?;
        self.schema
            .enums
            .entry(key.clone())
            .or_insert_with(|| EnumProgress {
                variants,
                shapes: vec![None; variants.len()],
                defers: vec![0; variants.len()],
                bad: HashSet::new(),
            });
        let (index, explored) = self.pick_variant(&key)?;
        self.stack.push(key.clone());
        Ok((key, index, explored))
    }

    fn end_enum(&mut self, key: &str, index: usize, explored: bool, error: Option<&TraceError>) {
        self.stack.pop();
        if let Some(error) = error {
            if self.unclaimed() {
                self.variant_failed(key, index, explored, error);
            }
            self.note_failure(key, error);
        }
    }
}
