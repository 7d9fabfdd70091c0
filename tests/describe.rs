//! Every generated API describes itself, and a served router answers the
//! built-in `rpc.describe` request with those descriptions, so tools and
//! other languages can discover an API over the wire.

mod support;

use dotrpc::{CallContext, MethodDescription, ParamDescription, Peer, rpc_api};
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
}

/// Shop failures.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub enum ShopError {
    /// No such item.
    Unknown,
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

fn expected() -> Vec<MethodDescription> {
    vec![
        MethodDescription {
            path: "shop.audit".into(),
            params: vec![param("line", "String")],
            returns: "()".into(),
            error: None,
            event: true,
            idempotent: false,
            stream: None,
            input: None,
            docs: "Something happened.".into(),
            aliases: Vec::new(),
            deprecated: None,
        },
        MethodDescription {
            path: "shop.price".into(),
            params: vec![param("item", "String"), param("quantity", "u32")],
            returns: "u64".into(),
            error: Some("ShopError".into()),
            event: false,
            idempotent: false,
            stream: None,
            input: None,
            docs: "Looks up a price.\n\nPrices are in cents.".into(),
            aliases: Vec::new(),
            deprecated: None,
        },
        MethodDescription {
            path: "shop.stock.level".into(),
            params: vec![param("items", "Vec<String>")],
            returns: "std::collections::HashMap<String, i64>".into(),
            error: None,
            event: false,
            idempotent: true,
            stream: None,
            input: None,
            docs: String::new(),
            aliases: Vec::new(),
            deprecated: None,
        },
    ]
}

#[tokio::test]
async fn rpc_describe_lists_every_method_with_its_signature_and_docs() {
    let (client, _server) = dotrpc::memory_pair(
        Peer::builder(),
        Peer::builder().serve(ShopService(MyShop(MyStock))),
    );
    let described: Vec<MethodDescription> = bounded(client.call("rpc.describe", ())).await.unwrap();
    assert_eq!(described, expected());

    // The same description is available without a connection, from the stub.
    let mut local = ShopClient::describe("shop");
    local.sort_by(|a, b| a.path.cmp(&b.path));
    assert_eq!(local, expected());

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
    let first = &described[0];
    assert_eq!(first["path"].as_str(), Some("shop.audit"));
    assert_eq!(first["event"].as_bool(), Some(true));
    assert_eq!(first["params"][0]["name"].as_str(), Some("line"));
}
