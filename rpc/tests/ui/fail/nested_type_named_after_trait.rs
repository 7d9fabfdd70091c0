// The associated type of a nested accessor is named after the accessor
// (`admin` -> `Admin`), not its trait: the compiler's help names the one to
// write.

#[dotrpc::rpc_api]
pub trait Users {
    #[rpc(nested)]
    fn admin(&self) -> &impl AdminOps;
}

#[dotrpc::rpc_api]
pub trait AdminOps {
    async fn ban(&self, user: String);
}

struct MyAdmin;

impl AdminOps for MyAdmin {
    async fn ban(&self, _user: String) {}
}

struct MyUsers(MyAdmin);

impl Users for MyUsers {
    type AdminOps = MyAdmin;
    fn admin(&self) -> &MyAdmin {
        &self.0
    }
}

fn main() {}
