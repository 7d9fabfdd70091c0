//! Tracing a type through its `Deserialize` impl.
//!
//! A [`Schema`] deserializes the type from a deserializer of its own (a
//! `Pass`) that answers every request with a made-up value and notes, at the
//! path it is reached by, what was asked: `deserialize_u32` is a `u32`,
//! `deserialize_struct("Item", ["id", "name"])` a struct with those fields,
//! and so on. One pass sees one value, so a type is deserialized several
//! times, each pass choosing differently where a choice is open:
//!
//! - an enum tries each variant in turn (a later pass, the next unexplored
//!   one), so every variant's contents are seen;
//! - a struct that has been seen whole is then fed without one of its fields,
//!   a field per pass: if it still deserializes, that field may be missing;
//! - an `Option` is fed `Some` first, a sequence or map one element, so their
//!   contents are seen; if that fails (a type that contains itself, reached
//!   again too deep), a later pass feeds `None` or nothing there;
//! - a leaf is fed a plain value (0, `""`, `false`) and, if the type rejects
//!   it (a `NonZeroU32`, a string parsed as a date), other candidates in
//!   later passes.
//!
//! A failure is *claimed* by the innermost choice point that has something
//! else to try, which makes the next pass differ there; passes go on while
//! they learn something, up to a bound. Types nothing can satisfy end up
//! [`TypeDef::Opaque`], with serde's words for why.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;

use serde::de::{self, DeserializeOwned};

use super::{Field, Type, TypeDef, Types, Variant, VariantFields};

mod pass;
mod read;

/// How many times one root type is deserialized, at most.
const MAX_PASSES: usize = 4096;
/// How many values one pass may visit: a bound on types whose unrolled tree
/// is huge.
const MAX_NODES: usize = 20_000;
/// How many times a struct may be entered inside itself: twice lets a
/// recursive type end through a choice further down (an enum's leaf
/// variant, an empty `Vec`).
const MAX_REENTRY: usize = 2;
/// How many failed passes exploring a variant gets before it is opaque.
const MAX_DEFERS: u8 = 3;

/// Strings fed to a type that reads one, in turn, until one is accepted:
/// most types that parse a string accept one of these.
const STRINGS: &[&str] = &[
    "",
    "0",
    "a",
    "1970-01-01T00:00:00Z",
    "00000000-0000-0000-0000-000000000000",
    "127.0.0.1",
    "127.0.0.1:0",
    "http://localhost/",
    "1s",
];

/// Byte lengths fed to a type that reads bytes: fixed-size ids and keys.
const BYTE_LENGTHS: &[usize] = &[0, 16, 4, 8, 32, 1];

/// The shapes of types, learned by tracing them; see the module docs.
///
/// `#[rpc_api]` uses one per API description. For a method registered at
/// run time, trace its types with one and give the router its
/// [`types`](Schema::types) with the description:
///
/// ```
/// use dotrpc::schema::{Schema, Type};
///
/// #[derive(serde::Deserialize)]
/// struct Page { number: u32, lines: Vec<String> }
///
/// let mut schema = Schema::new();
/// assert_eq!(schema.shape_of::<Page>(), Type::Named("Page".into()));
/// assert_eq!(schema.shape_of::<Option<u8>>(), Type::Option(Box::new(Type::U8)));
/// assert!(schema.types().contains_key("Page"));
/// ```
#[derive(Default)]
pub struct Schema {
    /// Structs (and struct variants, keyed `Enum::Variant`) seen.
    structs: HashMap<String, StructProgress>,
    /// Enums seen, and how far their variants are explored.
    enums: HashMap<String, EnumProgress>,
    /// Newtype, tuple and unit structs, which need no exploring.
    plain: HashMap<String, TypeDef>,
    /// Every named type reached, so one never traced is still listed (as
    /// opaque).
    named: BTreeSet<String>,
    /// The static field or variant lists each name was seen with, to tell
    /// two types of one name apart.
    identities: HashMap<String, Vec<&'static [&'static str]>>,
    /// Why a named type could not be traced: serde's words, the first time.
    failures: HashMap<String, String>,
}

impl fmt::Debug for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schema")
            .field("named", &self.named)
            .finish_non_exhaustive()
    }
}

struct StructProgress {
    /// The keys fed, in order: serde's field list without the aliases that
    /// turned out to name a field already fed.
    keys: Vec<&'static str>,
    /// The field shapes, from the best visit with every key.
    shapes: Option<Vec<Type>>,
    /// Per key: whether it may be missing, once a pass has found out.
    optional: Vec<Option<bool>>,
}

struct EnumProgress {
    variants: &'static [&'static str],
    shapes: Vec<Option<Learned>>,
    /// Failed passes while exploring each variant.
    defers: Vec<u8>,
    /// Known variants that failed when fed as a plain value.
    bad: HashSet<usize>,
}

/// What a variant was seen to carry.
#[derive(Clone)]
enum Learned {
    Unit,
    Newtype(Type),
    Tuple(Vec<Type>),
    /// A struct variant: its fields are in `structs` under `Enum::Variant`.
    Struct,
    Opaque(String),
}

impl Schema {
    /// An empty schema.
    pub fn new() -> Self {
        Schema::default()
    }

    /// The shape of `T`, its named types added to [`types`](Schema::types).
    /// Never fails: what cannot be traced is [`Type::Any`] or an opaque name.
    pub fn shape_of<T: DeserializeOwned>(&mut self) -> Type {
        let mut trace = Trace::default();
        let mut failure = None;
        let mut succeeded = false;
        for _ in 0..MAX_PASSES {
            let mut pass = Pass {
                schema: self,
                trace: &mut trace,
                path: String::new(),
                stack: Vec::new(),
                struct_names: Vec::new(),
                claimed: false,
                progress: false,
                nodes: 0,
                probed: HashSet::new(),
                explored: HashSet::new(),
                last_leaf: None,
            };
            let result = T::deserialize(&mut pass);
            if result.is_err() {
                pass.unclaimed();
            }
            let learned = pass.claimed || pass.progress;
            match result {
                Ok(_) => {
                    succeeded = true;
                    failure = None;
                }
                Err(error) => failure = Some(error.message),
            }
            if !learned {
                break;
            }
        }
        match (trace.kinds.contains_key(""), succeeded, failure) {
            (true, _, None) | (true, true, _) => trace.type_at(""),
            (_, _, failure) => {
                // Not even the root could be read: keep its Rust name.
                let rust = std::any::type_name::<T>();
                let name = short_name(rust);
                let why = failure.unwrap_or_else(|| "it asks for nothing".to_owned());
                self.plain
                    .entry(name.clone())
                    .or_insert(TypeDef::Opaque(format!(
                        "`{rust}` could not be traced: {why}"
                    )));
                self.note_named(&name);
                Type::Named(name)
            }
        }
    }

    /// Every named type the traced shapes reach, by name.
    pub fn types(&self) -> Types {
        let mut types = Types::new();
        for name in &self.named {
            let def = if let Some(def) = self.plain.get(name) {
                def.clone()
            } else if let Some(progress) = self.structs.get(name) {
                match Self::struct_fields(progress) {
                    Some(fields) => TypeDef::Struct(fields),
                    None => TypeDef::Opaque(self.why(name)),
                }
            } else if let Some(progress) = self.enums.get(name) {
                self.enum_def(name, progress)
            } else {
                TypeDef::Opaque(self.why(name))
            };
            types.insert(name.clone(), def);
        }
        types
    }

    fn why(&self, name: &str) -> String {
        match self.failures.get(name) {
            Some(why) => format!("could not be traced: {why}"),
            None => "could not be traced".to_owned(),
        }
    }

    fn struct_fields(progress: &StructProgress) -> Option<Vec<Field>> {
        let shapes = progress.shapes.as_ref()?;
        Some(
            progress
                .keys
                .iter()
                .zip(shapes)
                .zip(&progress.optional)
                .map(|((name, ty), optional)| Field {
                    name: (*name).to_owned(),
                    ty: ty.clone(),
                    optional: *optional == Some(true),
                })
                .collect(),
        )
    }

    fn enum_def(&self, name: &str, progress: &EnumProgress) -> TypeDef {
        if progress.shapes.iter().all(Option::is_none) {
            return TypeDef::Opaque(self.why(name));
        }
        let variants = progress
            .variants
            .iter()
            .zip(&progress.shapes)
            .map(|(variant, learned)| {
                let fields = match learned {
                    Some(Learned::Unit) => VariantFields::Unit,
                    Some(Learned::Newtype(ty)) => VariantFields::Newtype(ty.clone()),
                    Some(Learned::Tuple(items)) => VariantFields::Tuple(items.clone()),
                    Some(Learned::Struct) => {
                        let key = variant_key(name, variant);
                        match self.structs.get(&key).and_then(Self::struct_fields) {
                            Some(fields) => VariantFields::Struct(fields),
                            None => VariantFields::Opaque(self.why(&key)),
                        }
                    }
                    Some(Learned::Opaque(why)) => VariantFields::Opaque(why.clone()),
                    None => VariantFields::Opaque("never reached".to_owned()),
                };
                Variant {
                    name: (*variant).to_owned(),
                    fields,
                }
            })
            .collect();
        TypeDef::Enum(variants)
    }

    fn note_named(&mut self, name: &str) {
        if !self.named.contains(name) {
            self.named.insert(name.to_owned());
        }
    }

    /// The name a struct or enum is described under: its serde name, or,
    /// if another type of that name (with other fields or variants) came
    /// first, the name with a number.
    fn key_for(&mut self, name: &'static str, members: &'static [&'static str]) -> String {
        let seen = self.identities.entry(name.to_owned()).or_default();
        let index = match seen.iter().position(|m| *m == members) {
            Some(index) => index,
            None => {
                seen.push(members);
                seen.len() - 1
            }
        };
        match index {
            0 => name.to_owned(),
            n => format!("{name}{}", n + 1),
        }
    }
}

/// `my::module::Item<u8>` → `Item`.
fn short_name(rust: &str) -> String {
    let base = rust.split('<').next().unwrap_or(rust);
    base.rsplit("::").next().unwrap_or(base).to_owned()
}

fn variant_key(name: &str, variant: &str) -> String {
    format!("{name}::{variant}")
}

/// What one root type's passes share: what was seen at each path, and
/// which choice each choice point makes now.
#[derive(Default)]
struct Trace {
    kinds: HashMap<String, Kind>,
    choices: HashMap<String, usize>,
}

/// What the value at a path was seen to be.
#[derive(Clone)]
enum Kind {
    Leaf(Type),
    Named(String),
    Option,
    Seq,
    Map,
    Tuple(usize),
}

impl Trace {
    /// The shape of the value at `path`, from what was seen there and below.
    fn type_at(&self, path: &str) -> Type {
        match self.kinds.get(path) {
            None => Type::Any,
            Some(Kind::Leaf(ty)) => ty.clone(),
            Some(Kind::Named(name)) => Type::Named(name.clone()),
            Some(Kind::Option) => Type::Option(Box::new(self.type_at(&format!("{path}?")))),
            Some(Kind::Seq) => Type::Seq(Box::new(self.type_at(&format!("{path}[]")))),
            Some(Kind::Map) => Type::Map(
                Box::new(self.type_at(&format!("{path}{{k"))),
                Box::new(self.type_at(&format!("{path}{{v"))),
            ),
            Some(Kind::Tuple(len)) => Type::Tuple(self.items_at(path, *len)),
        }
    }

    fn items_at(&self, path: &str, len: usize) -> Vec<Type> {
        (0..len)
            .map(|i| self.type_at(&format!("{path}.{i}")))
            .collect()
    }
}

/// Counts the `Any`s in shapes: fewer is better seen.
fn unknowns(shapes: &[Type]) -> usize {
    fn count(ty: &Type) -> usize {
        match ty {
            Type::Any => 1,
            Type::Option(inner) | Type::Seq(inner) => count(inner),
            Type::Map(key, value) => count(key) + count(value),
            Type::Tuple(items) => items.iter().map(count).sum(),
            _ => 0,
        }
    }
    shapes.iter().map(count).sum()
}

/// The error a pass fails with: serde's words, and, for a field given
/// twice (an alias), which one.
#[derive(Debug)]
pub(crate) struct TraceError {
    message: String,
    duplicate: Option<&'static str>,
}

impl TraceError {
    fn new(message: impl Into<String>) -> Self {
        TraceError {
            message: message.into(),
            duplicate: None,
        }
    }
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TraceError {}

impl de::Error for TraceError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        TraceError::new(message.to_string())
    }

    fn duplicate_field(field: &'static str) -> Self {
        TraceError {
            message: format!("duplicate field `{field}`"),
            duplicate: Some(field),
        }
    }
}

type Result<T> = std::result::Result<T, TraceError>;

/// One deserialization of the root type.
struct Pass<'a> {
    schema: &'a mut Schema,
    trace: &'a mut Trace,
    /// Where the value being read is: `""` the root, `.field`, `.0` a tuple
    /// item, `?` inside an `Option`, `[]` a sequence item, `{k`/`{v` a map
    /// entry's key and value, `::Variant` an enum variant's contents.
    path: String,
    /// The structs and enums being read, innermost last.
    stack: Vec<String>,
    /// The serde names of the structs being read, innermost last.
    struct_names: Vec<&'static str>,
    /// Whether a choice point has taken this pass's failure: the next pass
    /// will differ there.
    claimed: bool,
    /// Whether this pass learned something new.
    progress: bool,
    nodes: usize,
    /// Structs that left out a field this pass (one per struct per pass).
    probed: HashSet<String>,
    /// Enums that explored a variant this pass.
    explored: HashSet<String>,
    /// The last leaf read: its path, its choice of how many, and the node
    /// count when it was read. A failure that surfaces right after it
    /// (nothing read since) is that value's: a string a type went on to
    /// parse and reject, "any value" an untagged enum matched no variant of.
    last_leaf: Option<(String, usize, usize, usize)>,
}
