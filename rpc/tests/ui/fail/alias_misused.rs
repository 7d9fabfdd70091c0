#[dotrpc::rpc_api]
pub trait Calc {
    #[rpc(alias = "old..add")]
    async fn add(&self, a: i64, b: i64) -> i64;
    #[rpc(alias = "add")]
    async fn plus(&self, a: i64, b: i64) -> i64;
    #[rpc(nested, deprecated = "use calc")]
    fn inner(&self) -> &impl Inner;
}

#[dotrpc::rpc_api]
pub trait Inner {
    fn x(&self) -> u8;
}

fn main() {}
