//! What a new user builds, built: a workspace of three crates, as the README
//! tells them to set it up. `api` holds only `#[rpc_api]` traits (three
//! levels deep, an accessor named apart from its trait) and depends on
//! `dotrpc` and `serde` alone; `client` depends on `api` and `dotrpc`, and
//! uses a client's helpers with no import beyond its own types; `server` takes
//! the README's `[dependencies]` block as it is, serves the API, runs the
//! client against it and prints what it got.
//!
//! It builds offline, against the registry cache this workspace's own build
//! filled and this workspace's `Cargo.lock`, in `target/newcomer`.

use std::path::{Path, PathBuf};
use std::process::Command;

const API: &str = r#"
use serde::{Deserialize, Serialize};

/// A shop: three levels of API, one accessor named apart from its trait.
#[dotrpc::rpc_api(namespace = "shop")]
pub trait Shop {
    /// A price, in cents.
    async fn price(&self, item: String) -> Result<u64, ShopError>;
    /// The stock.
    #[rpc(nested)]
    fn stock(&self) -> &impl Inventory;
}

/// The stock.
#[dotrpc::rpc_api]
pub trait Inventory {
    /// How many there are of `item`.
    #[rpc(idempotent)]
    async fn count(&self, item: String) -> u32;
    /// The shelves.
    #[rpc(nested)]
    fn shelves(&self) -> &impl Shelves;
}

/// The shelves.
#[dotrpc::rpc_api]
pub trait Shelves {
    /// Where `item` is.
    fn locate(&self, item: String) -> Option<String>;
    /// Restocked; one-way.
    #[rpc(event)]
    async fn restocked(&self, item: String);
}

/// What can go wrong.
#[derive(Debug, Serialize, Deserialize)]
pub enum ShopError {
    /// Not sold here.
    Unknown(String),
}

impl std::fmt::Display for ShopError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShopError::Unknown(item) => write!(f, "no {item} here"),
        }
    }
}
"#;

const CLIENT: &str = r#"
use std::time::Duration;

use api::{ShopClient, ShopError};

/// Asks the shop at `addr` about tea and coffee.
pub async fn visit(addr: std::net::SocketAddr) -> Result<String, Box<dyn std::error::Error>> {
    let peer = dotrpc::connect(addr).await?;
    // `with_timeout` and `peer` need no `use dotrpc::client::ApiClient`.
    let shop = peer.client::<ShopClient>().with_timeout(Duration::from_secs(5));
    assert_eq!(shop.peer().id(), peer.id());
    let price = shop.price("tea".into()).await?;
    let count = shop.stock.count("tea".into()).await?;
    let shelf = shop.stock.shelves.locate("tea".into()).await?;
    shop.stock.shelves.restocked("tea".into()).await?;
    let refused = match shop.price("coffee".into()).await {
        Err(dotrpc::Error::Remote(ShopError::Unknown(item))) => item,
        other => format!("unexpected: {other:?}"),
    };
    peer.close();
    Ok(format!("{price} {count} {shelf:?} {refused}"))
}
"#;

const SERVER: &str = r#"
use std::time::Duration;

use api::{Inventory, Shelves, Shop, ShopError, ShopService};

struct MyShelves;

impl Shelves for MyShelves {
    fn locate(&self, item: String) -> Option<String> {
        (item == "tea").then(|| "aisle 3".to_owned())
    }
    async fn restocked(&self, _item: String) {}
}

struct MyInventory(MyShelves);

impl Inventory for MyInventory {
    // Named after the accessor `shelves`, not the trait `Shelves`.
    type Shelves = MyShelves;
    async fn count(&self, _item: String) -> u32 {
        12
    }
    fn shelves(&self) -> &MyShelves {
        &self.0
    }
}

struct MyShop(MyInventory);

impl Shop for MyShop {
    // Named after the accessor `stock`, not the trait `Inventory`.
    type Stock = MyInventory;
    async fn price(&self, item: String) -> Result<u64, ShopError> {
        if item == "tea" { Ok(250) } else { Err(ShopError::Unknown(item)) }
    }
    fn stock(&self) -> &MyInventory {
        &self.0
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let shop = ShopService(MyShop(MyInventory(MyShelves)));
    let server = dotrpc::Server::builder(dotrpc::Peer::builder().serve(shop))
        .bind("127.0.0.1:0")
        .await?;
    let addr = server.local_addr().as_tcp().expect("a TCP server");
    println!("{}", client::visit(addr).await?);
    server.shutdown(Duration::from_secs(1)).await;
    Ok(())
}
"#;

/// The README's `[dependencies]` block for a new crate, with `dotrpc` taken
/// from this checkout.
fn readme_dependencies(root: &Path) -> String {
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let section = &readme[readme
        .find("## Add to your Cargo.toml")
        .expect("the README says what to add to Cargo.toml")..];
    let start = section.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let block = &section[start..start + section[start..].find("```").unwrap()];
    assert!(block.starts_with("[dependencies]\n"), "{block}");
    let dotrpc = format!("dotrpc = {{ path = {:?} }}", root.join("rpc"));
    block
        .lines()
        .map(|line| {
            if line.starts_with("dotrpc = ") {
                dotrpc.clone()
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn write(path: PathBuf, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn manifest(name: &str, lib: bool, dependencies: &str) -> String {
    let kind = if lib {
        "\n[lib]\npath = \"src/lib.rs\"\n"
    } else {
        ""
    };
    format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n{kind}\n{dependencies}\n"
    )
}

#[test]
fn a_workspace_set_up_as_the_readme_says_builds_and_runs() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target/newcomer");
    let dependencies = readme_dependencies(&root);
    let dotrpc_line = dependencies
        .lines()
        .find(|l| l.starts_with("dotrpc"))
        .unwrap();
    let serde_line = dependencies
        .lines()
        .find(|l| l.starts_with("serde"))
        .unwrap();

    write(
        dir.join("Cargo.toml"),
        "[workspace]\nmembers = [\"api\", \"client\", \"server\"]\nresolver = \"3\"\n",
    );
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    // The API crate: only dotrpc and serde, as the README says.
    write(
        dir.join("api/Cargo.toml"),
        &manifest(
            "api",
            true,
            &format!("[dependencies]\n{dotrpc_line}\n{serde_line}"),
        ),
    );
    write(dir.join("api/src/lib.rs"), API);
    // The client crate: the API and dotrpc.
    write(
        dir.join("client/Cargo.toml"),
        &manifest(
            "client",
            true,
            &format!("[dependencies]\napi = {{ path = \"../api\" }}\n{dotrpc_line}"),
        ),
    );
    write(dir.join("client/src/lib.rs"), CLIENT);
    // The server crate: the README's block as it is.
    write(
        dir.join("server/Cargo.toml"),
        &manifest(
            "server",
            false,
            &format!(
                "{dependencies}\napi = {{ path = \"../api\" }}\nclient = {{ path = \"../client\" }}"
            ),
        ),
    );
    write(dir.join("server/src/main.rs"), SERVER);

    // Bounded: a build or a run that hangs is killed.
    let output = Command::new("timeout")
        .arg("900")
        .arg(env!("CARGO"))
        .args(["run", "--offline", "--quiet", "-p", "server"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .env_remove("RUSTFLAGS")
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "the newcomer's workspace failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "250 12 Some(\"aisle 3\") coffee"
    );
}
