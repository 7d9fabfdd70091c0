pub struct Calc;

#[dotrpc::rpc_api]
impl Calc {
    fn new() -> Self {
        Calc
    }
}

fn main() {}
