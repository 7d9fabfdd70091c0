use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer};

use super::*;

fn named(name: &str) -> Type {
    Type::Named(name.into())
}

fn boxed(ty: Type) -> Box<Type> {
    Box::new(ty)
}

fn field(name: &str, ty: Type, optional: bool) -> Field {
    Field {
        name: name.into(),
        ty,
        optional,
    }
}

fn variant(name: &str, fields: VariantFields) -> Variant {
    Variant {
        name: name.into(),
        fields,
    }
}

/// The shape of `T` and the type table it needs.
fn trace<T: serde::de::DeserializeOwned>() -> (Type, Types) {
    let mut schema = Schema::new();
    let ty = schema.shape_of::<T>();
    (ty, schema.types())
}

#[test]
fn plain_types_are_their_msgpack_shapes() {
    assert_eq!(trace::<bool>().0, Type::Bool);
    assert_eq!(trace::<i8>().0, Type::I8);
    assert_eq!(trace::<u64>().0, Type::U64);
    assert_eq!(trace::<i128>().0, Type::I128);
    assert_eq!(trace::<f32>().0, Type::F32);
    assert_eq!(trace::<char>().0, Type::Char);
    assert_eq!(trace::<String>().0, Type::String);
    assert_eq!(trace::<()>().0, Type::Unit);
    assert_eq!(trace::<Option<u8>>().0, Type::Option(boxed(Type::U8)));
    assert_eq!(trace::<Vec<String>>().0, Type::Seq(boxed(Type::String)));
    assert_eq!(trace::<HashSet<u16>>().0, Type::Seq(boxed(Type::U16)));
    assert_eq!(
        trace::<Vec<u8>>().0,
        Type::Seq(boxed(Type::U8)),
        "a plain Vec<u8> is a sequence"
    );
    assert_eq!(
        trace::<HashMap<String, Vec<i32>>>().0,
        Type::Map(boxed(Type::String), boxed(Type::Seq(boxed(Type::I32))))
    );
    assert_eq!(
        trace::<(u8, String, Option<bool>)>().0,
        Type::Tuple(vec![
            Type::U8,
            Type::String,
            Type::Option(boxed(Type::Bool))
        ])
    );
    assert_eq!(trace::<[u8; 3]>().0, Type::Tuple(vec![Type::U8; 3]));
    assert_eq!(trace::<crate::blob::Blob>().0, Type::Bytes);
    assert_eq!(trace::<crate::ext::Ext>().0, Type::Ext);
    assert_eq!(trace::<rmpv::Value>().0, Type::Any);
}

#[test]
fn types_that_parse_or_check_their_values_are_fed_values_they_take() {
    assert_eq!(trace::<NonZeroU32>().0, Type::U32);
    let (duration, types) = trace::<Duration>();
    assert_eq!(duration, named("Duration"));
    assert_eq!(
        types["Duration"],
        TypeDef::Struct(vec![
            field("secs", Type::U64, false),
            field("nanos", Type::U32, false)
        ])
    );
    // Not human-readable, as msgpack: an address is an enum of byte tuples.
    let (ip, types) = trace::<IpAddr>().clone();
    assert_eq!(ip, named("IpAddr"));
    assert_eq!(
        types["IpAddr"],
        TypeDef::Enum(vec![
            variant("V4", VariantFields::Newtype(Type::Tuple(vec![Type::U8; 4]))),
            variant(
                "V6",
                VariantFields::Newtype(Type::Tuple(vec![Type::U8; 16]))
            ),
        ])
    );
    assert_eq!(trace::<Stamp>().0, named("Stamp"));
    assert_eq!(trace::<Stamp>().1["Stamp"], TypeDef::Newtype(Type::String));
}

/// A newtype whose `Deserialize` accepts only a date.
#[derive(Debug)]
struct Stamp;

impl<'de> Deserialize<'de> for Stamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Inner;
        impl<'de> Deserialize<'de> for Inner {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                if text.starts_with("1970-") {
                    Ok(Inner)
                } else {
                    Err(de::Error::custom(format!("`{text}` is not a date")))
                }
            }
        }
        struct Visitor;
        impl<'de> de::Visitor<'de> for Visitor {
            type Value = Stamp;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a stamp")
            }
            fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Stamp, D::Error> {
                Inner::deserialize(d).map(|_| Stamp)
            }
        }
        deserializer.deserialize_newtype_struct("Stamp", Visitor)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct ShopItem {
    item_id: u64,
    display_name: String,
    note: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(skip)]
    cached: u8,
    #[serde(alias = "priceCents", alias = "cents")]
    price: u32,
    #[serde(rename = "kind")]
    category: Category,
}

#[derive(Deserialize)]
#[allow(dead_code)]
enum Category {
    #[serde(rename = "book")]
    Book,
    Toy(u8),
    Food(String, bool),
    Other {
        label: String,
        code: Option<u16>,
    },
}

#[test]
fn a_struct_is_its_wire_fields_and_says_which_may_be_missing() {
    let (ty, types) = trace::<ShopItem>();
    assert_eq!(ty, named("ShopItem"));
    assert_eq!(
        types["ShopItem"],
        TypeDef::Struct(vec![
            field("itemId", Type::U64, false),
            field("displayName", Type::String, false),
            field("note", Type::Option(boxed(Type::String)), true),
            field("tags", Type::Seq(boxed(Type::String)), true),
            field("price", Type::U32, false),
            field("kind", named("Category"), false),
        ])
    );
}

#[test]
fn an_enum_is_every_variant_with_what_it_carries() {
    let (ty, types) = trace::<Category>();
    assert_eq!(ty, named("Category"));
    assert_eq!(
        types["Category"],
        TypeDef::Enum(vec![
            variant("book", VariantFields::Unit),
            variant("Toy", VariantFields::Newtype(Type::U8)),
            variant("Food", VariantFields::Tuple(vec![Type::String, Type::Bool])),
            variant(
                "Other",
                VariantFields::Struct(vec![
                    field("label", Type::String, false),
                    field("code", Type::Option(boxed(Type::U16)), true),
                ])
            ),
        ])
    );
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Node {
    value: i32,
    children: Vec<Node>,
    next: Option<Box<Node>>,
    index: BTreeMap<String, Node>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
enum Expr {
    Add(Box<Expr>, Box<Expr>),
    Neg { inner: Box<Expr> },
    Num(i64),
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Tree {
    root: Branch,
}

#[derive(Deserialize)]
#[allow(dead_code)]
enum Branch {
    Fork(Box<Tree>, Box<Tree>),
    Leaf,
}

#[test]
fn a_type_that_contains_itself_is_described_once_and_referred_to() {
    let (ty, types) = trace::<Node>();
    assert_eq!(ty, named("Node"));
    assert_eq!(
        types["Node"],
        TypeDef::Struct(vec![
            field("value", Type::I32, false),
            field("children", Type::Seq(boxed(named("Node"))), false),
            field("next", Type::Option(boxed(named("Node"))), true),
            field(
                "index",
                Type::Map(boxed(Type::String), boxed(named("Node"))),
                false
            ),
        ])
    );

    let (_, types) = trace::<Expr>();
    assert_eq!(
        types["Expr"],
        TypeDef::Enum(vec![
            variant(
                "Add",
                VariantFields::Tuple(vec![named("Expr"), named("Expr")])
            ),
            variant(
                "Neg",
                VariantFields::Struct(vec![field("inner", named("Expr"), false)])
            ),
            variant("Num", VariantFields::Newtype(Type::I64)),
        ])
    );

    // Through a struct: a tree ends only at a leaf variant.
    let (_, types) = trace::<Tree>();
    assert_eq!(
        types["Tree"],
        TypeDef::Struct(vec![field("root", named("Branch"), false)])
    );
    assert_eq!(
        types["Branch"],
        TypeDef::Enum(vec![
            variant(
                "Fork",
                VariantFields::Tuple(vec![named("Tree"), named("Tree")])
            ),
            variant("Leaf", VariantFields::Unit),
        ])
    );
}

mod other {
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    pub(super) struct ShopItem {
        sku: String,
    }
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Order {
    first: ShopItem,
    second: other::ShopItem,
}

#[test]
fn two_types_of_one_name_are_told_apart() {
    let (_, types) = trace::<Order>();
    assert_eq!(
        types["Order"],
        TypeDef::Struct(vec![
            field("first", named("ShopItem"), false),
            field("second", named("ShopItem2"), false),
        ])
    );
    assert_eq!(
        types["ShopItem2"],
        TypeDef::Struct(vec![field("sku", Type::String, false)])
    );
}

#[derive(Deserialize)]
#[serde(tag = "type")]
#[allow(dead_code)]
enum Shape {
    Circle { radius: f64 },
    Square { side: f64 },
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Drawing {
    name: String,
    shape: Shape,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Layers {
    name: String,
    shapes: Vec<Shape>,
}

#[derive(Deserialize)]
#[serde(untagged)]
#[allow(dead_code)]
enum Loose {
    Number(u32),
    Text(String),
}

#[derive(Deserialize)]
#[serde(tag = "t", content = "c")]
#[allow(dead_code)]
enum Adjacent {
    Move(u8),
    Stop,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Flat {
    a: u8,
    #[serde(flatten)]
    rest: Duration,
}

/// Rejects everything.
struct Stubborn;

impl<'de> Deserialize<'de> for Stubborn {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(de::Error::custom("never"))
    }
}

#[test]
fn what_cannot_be_traced_keeps_its_name_and_says_why() {
    // An internally tagged enum reads "any value" and cannot be fed one its
    // tag accepts: the struct holding it is opaque, with serde's words.
    let (ty, types) = trace::<Drawing>();
    assert_eq!(ty, named("Drawing"));
    match &types["Drawing"] {
        TypeDef::Opaque(why) => assert!(why.contains("internally tagged enum Shape"), "{why}"),
        other => panic!("{other:?}"),
    }
    // Behind a sequence, the holder is traced and the item is "any".
    let (_, types) = trace::<Layers>();
    assert_eq!(
        types["Layers"],
        TypeDef::Struct(vec![
            field("name", Type::String, false),
            field("shapes", Type::Seq(boxed(Type::Any)), false),
        ])
    );
    assert_eq!(trace::<Loose>().0, Type::Any);
    let (ty, types) = trace::<Adjacent>();
    assert_eq!(ty, named("Adjacent"));
    match &types["Adjacent"] {
        TypeDef::Opaque(why) => assert!(why.contains("adjacently tagged"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(types.len(), 1, "{types:?}");
    let (ty, types) = trace::<Flat>();
    assert_eq!(ty, named("Flat"));
    assert!(matches!(&types["Flat"], TypeDef::Opaque(_)), "{types:?}");
    let (ty, types) = trace::<Stubborn>();
    assert_eq!(ty, named("Stubborn"));
    match &types["Stubborn"] {
        TypeDef::Opaque(why) => assert!(why.contains("never") && why.contains("Stubborn"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_schema_shares_named_types_between_shapes() {
    let mut schema = Schema::new();
    assert_eq!(
        schema.shape_of::<Vec<ShopItem>>(),
        Type::Seq(boxed(named("ShopItem")))
    );
    assert_eq!(
        schema.shape_of::<Option<Category>>(),
        Type::Option(boxed(named("Category")))
    );
    let types = schema.types();
    assert_eq!(types.keys().collect::<Vec<_>>(), ["Category", "ShopItem"]);
}

#[test]
fn shapes_print_as_rust_does() {
    let ty = Type::Map(
        boxed(Type::String),
        boxed(Type::Seq(boxed(Type::Option(boxed(named("Item")))))),
    );
    assert_eq!(ty.to_string(), "Map<String, Vec<Option<Item>>>");
    assert_eq!(Type::Tuple(vec![Type::U8]).to_string(), "(u8,)");
    assert_eq!(ty.names(), ["Item"]);
}

#[test]
fn a_description_from_a_peer_before_shapes_still_decodes() {
    // Version 1 was a bare list of methods, types by Rust name only.
    let old = rmpv::Value::Array(vec![rmpv::Value::Map(vec![
        ("path".into(), "add".into()),
        (
            "params".into(),
            rmpv::Value::Array(vec![rmpv::Value::Map(vec![
                ("name".into(), "a".into()),
                ("ty".into(), "i64".into()),
            ])]),
        ),
        ("returns".into(), "i64".into()),
        ("error".into(), rmpv::Value::Nil),
        ("event".into(), false.into()),
        ("docs".into(), "".into()),
    ])]);
    let bytes = rmp_serde::to_vec(&old).unwrap();
    let described: Description = rmp_serde::from_slice(&bytes).unwrap();
    assert_eq!(described.version, 1);
    assert!(described.types.is_empty());
    assert_eq!(
        described.methods,
        [MethodDescription {
            params: vec![ParamDescription::new("a", "i64")],
            returns: "i64".into(),
            ..MethodDescription::new("add")
        }]
    );
}
