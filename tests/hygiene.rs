//! Generated code names nothing from the user's scope: it compiles without
//! the prelude, beside user items named like the ones it uses or generates,
//! and an API can be renamed on the way in (`crate = ".."`) for re-exporters.
#![no_implicit_prelude]
#![deny(warnings)]

// Items that shadow what generated code could otherwise pick up by accident.
#[allow(dead_code)]
struct Arc;
#[allow(dead_code)]
struct Vec;
#[allow(dead_code)]
struct String;
#[allow(dead_code)]
struct Option;
#[allow(dead_code)]
struct Result;
#[allow(dead_code)]
struct Router;
#[allow(dead_code)]
struct Peer;
#[allow(dead_code)]
trait Send {}
#[allow(dead_code)]
trait Clone {}
#[allow(dead_code)]
trait Future {}

/// An API under no prelude.
#[::dotrpc::rpc_api(namespace = "clean")]
pub trait Clean {
    /// Joins words.
    async fn join(&self, words: ::std::vec::Vec<::std::string::String>) -> ::std::string::String;
    /// Fails on empty input.
    fn first(
        &self,
        words: ::std::vec::Vec<::std::string::String>,
    ) -> ::std::result::Result<::std::string::String, u8>;
    /// A namespace.
    #[rpc(nested)]
    fn inner(&self) -> &impl Inner;
}

/// The nested API.
#[::dotrpc::rpc_api]
pub trait Inner {
    /// Whatever `register` would clash with.
    fn register(&self, n: u32) -> u32;
}

/// Reached through a re-export path, as a facade crate would.
mod facade {
    pub(crate) use ::dotrpc as rpc;
}

/// The impl form, with `crate = ".."`.
#[derive(::core::fmt::Debug)]
pub struct Impl;

#[::dotrpc::rpc_api(crate = "facade::rpc")]
impl Impl {
    /// Doubles.
    async fn double(&self, n: u64) -> u64 {
        n * 2
    }
}

struct MyInner;
impl Inner for MyInner {
    fn register(&self, n: u32) -> u32 {
        n + 1
    }
}

struct MyClean(MyInner);
impl Clean for MyClean {
    type Inner = MyInner;
    async fn join(&self, words: ::std::vec::Vec<::std::string::String>) -> ::std::string::String {
        words.join(" ")
    }
    fn first(
        &self,
        words: ::std::vec::Vec<::std::string::String>,
    ) -> ::std::result::Result<::std::string::String, u8> {
        words.first().cloned().ok_or(0)
    }
    fn inner(&self) -> &MyInner {
        &self.0
    }
}

// `#[tokio::test]` is not itself hygienic (it names `tokio::` relatively and
// the prelude's `Future`), so the runtime is built by hand.
#[test]
fn generated_code_needs_no_prelude_and_ignores_user_names() {
    let runtime = ::tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = ::dotrpc::Peer::builder()
            .serve(CleanService(MyClean(MyInner)))
            .serve(Impl);
        let (client, _server) = ::dotrpc::memory_pair(::dotrpc::Peer::builder(), server);
        let clean: CleanClient = client.client();
        let words = ::std::vec![
            ::std::string::ToString::to_string("a"),
            ::std::string::ToString::to_string("b")
        ];
        ::std::assert_eq!(clean.join(words).await.unwrap(), "a b");
        let failed = clean.first(::std::vec![]).await;
        ::std::assert!(::std::matches!(
            failed,
            ::std::result::Result::Err(::dotrpc::Error::Remote(0))
        ));
        ::std::assert_eq!(clean.inner.register(1).await.unwrap(), 2);
        ::std::assert_eq!(client.client::<ImplClient>().double(21).await.unwrap(), 42);
    });
}
