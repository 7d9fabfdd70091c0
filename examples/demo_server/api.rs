//! The demo API, a fixed contract that tests, other-language peers and tools
//! rely on (see `main.rs` for the table). Kept apart from `main.rs` so tests
//! serve exactly the same API in-process.
//!
//! Written with `#[rpc_api]` on impl blocks; `echo` is a raw handler beside
//! it, because it must give back any msgpack value byte for byte (a str whose
//! bytes are not UTF-8 included), which no typed param can promise.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dotrpc::{
    CallContext, ItemReceiver, ItemSink, Router, Value,
    handler::{IntoReply, Params},
    rpc_api,
};

/// The root of the demo API.
#[derive(Debug, Default)]
pub(crate) struct Demo {
    math: Math,
    stats: Stats,
    events: Events,
    shop: Shop,
}

#[rpc_api]
impl Demo {
    /// Adds two integers.
    async fn add(&self, a: i64, b: i64) -> i64 {
        a.wrapping_add(b)
    }

    /// Waits `ms` milliseconds, then returns `ms`.
    async fn sleep(&self, ms: u64) -> u64 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    }

    /// Asks the caller its name (`client.name()`, a call back over the
    /// same connection) and greets it.
    async fn greet(&self, ctx: CallContext) -> Result<String, String> {
        let name = ctx.peer().call::<String>("client.name", ()).await;
        match name {
            Ok(name) => Ok(format!("hello, {name}")),
            Err(error) => Err(format!("cannot ask the caller its name: {error}")),
        }
    }

    /// A stream of the integers `0..n`, one every `delay_ms` milliseconds,
    /// as the caller takes them.
    async fn count(&self, n: u64, delay_ms: u64, mut items: ItemSink<u64>) -> Result<(), String> {
        for i in 0..n {
            if delay_ms > 0 {
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            }
            items.send(&i).await.map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// The total of a stream of integers (wrapping on overflow).
    async fn sum(&self, mut items: ItemReceiver<i64>) -> Result<i64, String> {
        let mut total = 0i64;
        while let Some(item) = items.next().await {
            total = total.wrapping_add(item.map_err(|e| e.to_string())?);
        }
        Ok(total)
    }

    /// Both ways: each integer the caller sends, doubled, as it comes.
    async fn double(
        &self,
        mut items: ItemReceiver<i64>,
        mut doubled: ItemSink<i64>,
    ) -> Result<(), String> {
        while let Some(item) = items.next().await {
            let item = item.map_err(|e| e.to_string())?;
            doubled
                .send(&item.wrapping_mul(2))
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Counts a log line; one-way.
    #[rpc(event)]
    fn log(&self, _line: Value) {
        self.stats.notifications.fetch_add(1, Ordering::Relaxed);
    }

    /// `math.*`
    #[rpc(nested)]
    fn math(&self) -> &Math {
        &self.math
    }

    /// `stats.*`
    #[rpc(nested)]
    fn stats(&self) -> &Stats {
        &self.stats
    }

    /// `events.*`
    #[rpc(nested)]
    fn events(&self) -> &Events {
        &self.events
    }

    /// `shop.*`
    #[rpc(nested)]
    fn shop(&self) -> &Shop {
        &self.shop
    }
}

/// `math.*`
#[derive(Debug, Default)]
pub(crate) struct Math {
    stats: MathStats,
}

#[rpc_api]
impl Math {
    /// Divides; by zero is an application error.
    fn div(&self, a: f64, b: f64) -> Result<f64, String> {
        if b == 0.0 {
            Err("division by zero".into())
        } else {
            Ok(a / b)
        }
    }

    /// Rounds `x` to `digits` decimal places; `digits` may be left out (0),
    /// as a param added to a method later would be.
    fn round(&self, x: f64, digits: Option<u8>) -> f64 {
        let scale = 10f64.powi(i32::from(digits.unwrap_or(0)));
        (x * scale).round() / scale
    }

    /// `math.stats.*`
    #[rpc(nested)]
    fn stats(&self) -> &MathStats {
        &self.stats
    }
}

/// `math.stats.*`
#[derive(Debug, Default)]
pub(crate) struct MathStats;

#[rpc_api]
impl MathStats {
    /// The mean of the values.
    fn mean(&self, values: Vec<f64>) -> Result<f64, String> {
        if values.is_empty() {
            Err("mean of no values".into())
        } else {
            Ok(values.iter().sum::<f64>() / values.len() as f64)
        }
    }
}

/// `stats.*`: counters shared by every connection.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    notifications: AtomicU64,
}

#[rpc_api]
impl Stats {
    /// How many `log` notifications arrived so far.
    fn notifications(&self) -> u64 {
        self.notifications.load(Ordering::Relaxed)
    }
}

/// `events.*`
#[derive(Debug, Default)]
pub(crate) struct Events;

#[rpc_api]
impl Events {
    /// Sends `events.tick [i]` for i in 0..n to the caller; one-way.
    #[rpc(event)]
    fn subscribe(&self, ctx: CallContext, n: u64) {
        for i in 0..n {
            if ctx.peer().notify("events.tick", (i,)).send().is_err() {
                break;
            }
        }
    }
}

/// `shop.*`: nested structs and enums, for typed clients in other
/// languages (`dotrpc describe --typescript` declares every type).
#[derive(Debug, Default)]
pub(crate) struct Shop;

#[rpc_api]
impl Shop {
    /// Prices an order: each line's price times its quantity, less the
    /// discount; a gift's price is its wrapped item's.
    fn quote(&self, order: Order) -> Result<Quote, ShopError> {
        if order.lines.is_empty() {
            return Err(ShopError::EmptyOrder);
        }
        let mut total: u64 = order
            .lines
            .iter()
            .map(|line| {
                line.item
                    .price_cents()
                    .saturating_mul(u64::from(line.quantity))
            })
            .sum();
        match order.discount {
            None => {}
            Some(Discount::Percent(percent)) => {
                total -= total * u64::from(percent.min(100)) / 100;
            }
            Some(Discount::Cents(cents)) => total = total.saturating_sub(cents),
            Some(Discount::Code { code }) if code == "HALF" => total /= 2,
            Some(Discount::Code { code }) => return Err(ShopError::UnknownCode { code }),
        }
        Ok(Quote {
            total_cents: total,
            items: order.lines.iter().map(|line| line.quantity).sum(),
            ship_to: order.ship_to.country,
        })
    }
}

/// An order: lines, an optional discount, an address.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Order {
    lines: Vec<Line>,
    #[serde(default)]
    discount: Option<Discount>,
    ship_to: Address,
}

/// An item, so many times.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Line {
    item: Item,
    quantity: u32,
}

/// Something the shop sells.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Item {
    sku: String,
    price_cents: u64,
    kind: Kind,
    #[serde(default)]
    tags: Vec<String>,
}

impl Item {
    fn price_cents(&self) -> u64 {
        match &self.kind {
            Kind::Gift(wrapped) => wrapped.price_cents(),
            _ => self.price_cents,
        }
    }
}

/// What an item is: every kind of enum variant.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) enum Kind {
    Book,
    Toy { min_age: u8 },
    Food(String, bool),
    Gift(Box<Item>),
}

/// A discount.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) enum Discount {
    Percent(u8),
    Cents(u64),
    Code { code: String },
}

/// Where an order goes.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Address {
    name: String,
    lines: Vec<String>,
    country: String,
}

/// An order's price.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Quote {
    total_cents: u64,
    items: u32,
    ship_to: String,
}

/// Why an order cannot be priced.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) enum ShopError {
    EmptyOrder,
    UnknownCode { code: String },
}

impl std::fmt::Display for ShopError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShopError::EmptyOrder => f.write_str("an order needs a line"),
            ShopError::UnknownCode { code } => write!(f, "no discount code `{code}`"),
        }
    }
}

/// A router serving the demo API.
pub(crate) fn router() -> Arc<Router> {
    let router = Arc::new(Router::new());
    router.serve(Demo::default());
    router.set_raw_handler("echo", |ctx: CallContext, params: Params| async move {
        let values = params
            .values()
            .map_err(|e| dotrpc::handler::ErrorObject::invalid_params(e.to_string()))?;
        match <[Value; 1]>::try_from(values) {
            Ok([value]) => value.into_reply(),
            Err(values) => Err(dotrpc::handler::ErrorObject::invalid_params(format!(
                "{} expects 1 param, got {}",
                ctx.method(),
                values.len()
            ))),
        }
    });
    router
}
