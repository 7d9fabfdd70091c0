// The error of a `Result` travels to the caller: it needs the serde impls
// and `Display`. The compiler says so at the type, naming the rule.

#[derive(Debug)]
pub struct NoSerde;

impl std::fmt::Display for NoSerde {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no serde")
    }
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct NoDisplay;

#[dotrpc::rpc_api]
pub trait Store {
    async fn get(&self, key: String) -> Result<u64, NoSerde>;
    async fn put(&self, key: String, value: u64) -> Result<(), NoDisplay>;
}

fn main() {}
