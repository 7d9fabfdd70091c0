//! Every generated API describes itself, its types by their shapes, and a
//! served router answers the built-in `rpc.describe` request with those
//! descriptions, so tools and other languages can discover an API over the
//! wire.

mod support;

use dotrpc::schema::{Field, Type, TypeDef, Types, Variant, VariantFields};
use dotrpc::{
    CallContext, Description, Peer, Router, rpc_api,
    schema::{MethodDescription, MethodShapes, ParamDescription},
};
use support::bounded;

/// A shop.
#[rpc_api(namespace = "shop")]
pub trait Shop {
    /// Looks up a price.
    ///
    /// Prices are in cents.
    async fn price(&self, item: String, quantity: u32) -> Result<u64, ShopError>;
    /// Something happened.
    #[rpc(event)]
    async fn audit(&self, ctx: CallContext, line: String);
    /// The stock.
    #[rpc(nested)]
    fn stock(&self) -> &impl Stock;
}

/// The stock.
#[rpc_api]
pub trait Stock {
    #[rpc(name = "level", idempotent)]
    fn count(&self, items: Vec<String>) -> std::collections::HashMap<String, i64>;
    /// Restocks.
    async fn restock(&self, order: Restock) -> Vec<Restock>;
}

/// An order to restock.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Restock {
    item: String,
    quantity: u32,
    #[serde(default)]
    urgent: bool,
}

/// Shop failures.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub enum ShopError {
    /// No such item.
    Unknown,
    /// Too few left.
    Short { item: String, left: u32 },
}

impl std::fmt::Display for ShopError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no such item")
    }
}

struct MyStock;
impl Stock for MyStock {
    fn count(&self, items: Vec<String>) -> std::collections::HashMap<String, i64> {
        items.into_iter().map(|i| (i, 1)).collect()
    }
    async fn restock(&self, order: Restock) -> Vec<Restock> {
        vec![order]
    }
}

struct MyShop(MyStock);
impl Shop for MyShop {
    type Stock = MyStock;
    async fn price(&self, _item: String, quantity: u32) -> Result<u64, ShopError> {
        if quantity == 0 {
            Err(ShopError::Unknown)
        } else {
            Ok(u64::from(quantity) * 250)
        }
    }
    async fn audit(&self, _ctx: CallContext, _line: String) {}
    fn stock(&self) -> &MyStock {
        &self.0
    }
}

fn param(name: &str, ty: &str) -> ParamDescription {
    ParamDescription::new(name, ty)
}

fn shapes(params: Vec<Type>, returns: Type) -> MethodShapes {
    MethodShapes {
        params,
        returns,
        ..MethodShapes::default()
    }
}

fn field(name: &str, ty: Type, optional: bool) -> Field {
    Field {
        name: name.into(),
        ty,
        optional,
    }
}

fn named(name: &str) -> Type {
    Type::Named(name.into())
}

fn expected() -> Description {
    let methods = vec![
        MethodDescription {
            params: vec![param("line", "String")],
            event: true,
            docs: "Something happened.".into(),
            shapes: Some(shapes(vec![Type::String], Type::Unit)),
            ..MethodDescription::new("shop.audit")
        },
        MethodDescription {
            params: vec![param("item", "String"), param("quantity", "u32")],
            returns: "u64".into(),
            error: Some("ShopError".into()),
            docs: "Looks up a price.\n\nPrices are in cents.".into(),
            shapes: Some(MethodShapes {
                error: Some(named("ShopError")),
                ..shapes(vec![Type::String, Type::U32], Type::U64)
            }),
            ..MethodDescription::new("shop.price")
        },
        MethodDescription {
            params: vec![param("items", "Vec<String>")],
            returns: "std::collections::HashMap<String, i64>".into(),
            idempotent: true,
            shapes: Some(shapes(
                vec![Type::Seq(Box::new(Type::String))],
                Type::Map(Box::new(Type::String), Box::new(Type::I64)),
            )),
            ..MethodDescription::new("shop.stock.level")
        },
        MethodDescription {
            params: vec![param("order", "Restock")],
            returns: "Vec<Restock>".into(),
            docs: "Restocks.".into(),
            shapes: Some(shapes(
                vec![named("Restock")],
                Type::Seq(Box::new(named("Restock"))),
            )),
            ..MethodDescription::new("shop.stock.restock")
        },
    ];
    let mut types = Types::new();
    types.insert(
        "ShopError".into(),
        TypeDef::Enum(vec![
            Variant {
                name: "Unknown".into(),
                fields: VariantFields::Unit,
            },
            Variant {
                name: "Short".into(),
                fields: VariantFields::Struct(vec![
                    field("item", Type::String, false),
                    field("left", Type::U32, false),
                ]),
            },
        ]),
    );
    types.insert(
        "Restock".into(),
        TypeDef::Struct(vec![
            field("item", Type::String, false),
            field("quantity", Type::U32, false),
            field("urgent", Type::Bool, true),
        ]),
    );
    Description {
        methods,
        types,
        ..Description::default()
    }
}

#[tokio::test]
async fn rpc_describe_lists_every_method_with_its_signature_and_docs() {
    let (client, _server) = dotrpc::memory_pair(
        Peer::builder(),
        Peer::builder().serve(ShopService(MyShop(MyStock))),
    );
    let described: Description = bounded(client.call("rpc.describe", ())).await.unwrap();
    assert_eq!(described, expected());

    // The same description is available without a connection, from the stub.
    assert_eq!(ShopClient::describe("shop"), expected());

    // And the API works as described.
    let shop: ShopClient = client.client();
    assert_eq!(bounded(shop.price("tea".into(), 2)).await.unwrap(), 500);
    assert_eq!(
        bounded(shop.stock.count(vec!["tea".into()])).await.unwrap()["tea"],
        1
    );
}

#[tokio::test]
async fn a_peer_in_another_language_reads_the_description_as_plain_maps() {
    let (client, _server) = dotrpc::memory_pair(
        Peer::builder(),
        Peer::builder().serve(ShopService(MyShop(MyStock))),
    );
    let described: dotrpc::Value = bounded(client.call("rpc.describe", ())).await.unwrap();
    assert_eq!(described["version"].as_u64(), Some(2));
    let first = &described["methods"][0];
    assert_eq!(first["path"].as_str(), Some("shop.audit"));
    assert_eq!(first["event"].as_bool(), Some(true));
    assert_eq!(first["params"][0]["name"].as_str(), Some("line"));
    // Shapes: a leaf is its name; a compound a one-entry map.
    assert_eq!(first["shapes"]["params"][0].as_str(), Some("string"));
    let restock = &described["methods"][3]["shapes"];
    assert_eq!(restock["returns"]["seq"]["named"].as_str(), Some("Restock"));
    let fields = &described["types"]["Restock"]["struct"];
    assert_eq!(fields[2]["name"].as_str(), Some("urgent"));
    assert_eq!(fields[2]["type"].as_str(), Some("bool"));
    assert_eq!(fields[2]["optional"].as_bool(), Some(true));
}

/// A page of results, returned by a handler registered at run time.
#[derive(serde::Serialize, serde::Deserialize)]
struct Page {
    lines: Vec<String>,
    next: Option<u32>,
}

#[test]
fn a_handler_registered_at_run_time_is_described_with_its_shapes() {
    let router = Router::new();
    router.set_handler("page", |query: String, size: Option<u32>| async move {
        Ok::<_, dotrpc::handler::ErrorObject>(Page {
            lines: vec![query],
            next: size,
        })
    });
    let shapes = MethodShapes {
        params: vec![
            router.shape_of::<String>(),
            router.shape_of::<Option<u32>>(),
        ],
        returns: router.shape_of::<Page>(),
        ..MethodShapes::default()
    };
    router.set_description(MethodDescription {
        params: vec![
            param("query", "String"),
            ParamDescription::optional("size", "Option<u32>"),
        ],
        returns: "Page".into(),
        shapes: Some(shapes),
        ..MethodDescription::new("page")
    });
    let description = router.description();
    let page = description.method("page").unwrap();
    assert_eq!(
        page.shapes.as_ref().unwrap().params,
        [Type::String, Type::Option(Box::new(Type::U32))]
    );
    assert_eq!(page.shapes.as_ref().unwrap().returns, named("Page"));
    assert_eq!(
        description.types["Page"],
        TypeDef::Struct(vec![
            field("lines", Type::Seq(Box::new(Type::String)), false),
            field("next", Type::Option(Box::new(Type::U32)), true),
        ])
    );
}
