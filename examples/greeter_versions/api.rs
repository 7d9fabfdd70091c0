//! Two versions of one API, as a deploy meets them: version 2 adds
//! trailing params that may be missing (an `Option`, a `#[rpc(default)]`)
//! and fields that may be missing to a struct; renames a method
//! and a namespace, keeping their old paths as aliases; and deprecates a
//! method. `tests/evolution.rs` calls each version with the other's client;
//! `tests/nats_scale.rs` upgrades three instances from one to the other
//! under load from callers of both.

pub(crate) mod v1 {
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    pub(crate) struct Person {
        pub(crate) name: String,
    }

    #[dotrpc::rpc_api]
    pub(crate) trait Greeter {
        fn greet(&self, name: String) -> String;
        fn introduce(&self, person: Person) -> Person;
        fn farewell(&self, name: String) -> String;
        fn hello(&self) -> String;
        fn shout(&self, text: String) -> String;
        #[rpc(nested)]
        fn admin(&self) -> &impl Admin;
    }

    #[dotrpc::rpc_api]
    pub(crate) trait Admin {
        fn uptime(&self) -> u64;
    }

    pub(crate) struct Server;

    impl Greeter for Server {
        type Admin = Server;
        fn greet(&self, name: String) -> String {
            format!("hello {name}")
        }
        fn introduce(&self, person: Person) -> Person {
            person
        }
        fn farewell(&self, name: String) -> String {
            format!("bye {name}")
        }
        fn hello(&self) -> String {
            "hello".into()
        }
        fn shout(&self, text: String) -> String {
            text.to_uppercase()
        }
        fn admin(&self) -> &Server {
            self
        }
    }

    impl Admin for Server {
        fn uptime(&self) -> u64 {
            1
        }
    }
}

pub(crate) mod v2 {
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
    pub(crate) struct Person {
        pub(crate) name: String,
        /// New in version 2: older peers leave it out.
        #[serde(default)]
        pub(crate) age: u32,
        /// New in version 2, too.
        pub(crate) nickname: Option<String>,
    }

    #[dotrpc::rpc_api]
    pub(crate) trait Greeter {
        /// Gained trailing params that may be missing.
        fn greet(
            &self,
            name: String,
            punctuation: Option<String>,
            #[rpc(default)] times: u8,
        ) -> String;
        fn introduce(&self, person: Person) -> Person;
        /// Was `farewell`.
        #[rpc(alias = "farewell")]
        fn goodbye(&self, name: String) -> String;
        #[rpc(deprecated = "use greet")]
        fn hello(&self) -> String;
        /// Gained a trailing `Option`, which a stub leaves out when `None`.
        fn shout(&self, text: String, times: Option<u8>) -> String;
        /// Was `admin`.
        #[rpc(nested, name = "ops", alias = "admin")]
        fn ops(&self) -> &impl Ops;
    }

    #[dotrpc::rpc_api]
    pub(crate) trait Ops {
        fn uptime(&self) -> u64;
    }

    pub(crate) struct Server;

    impl Greeter for Server {
        type Ops = Server;
        fn greet(&self, name: String, punctuation: Option<String>, times: u8) -> String {
            let punctuation = punctuation.as_deref().unwrap_or("");
            format!(
                "hello {name}{}",
                punctuation.repeat(usize::from(times.max(1)))
            )
        }
        fn introduce(&self, person: Person) -> Person {
            person
        }
        fn goodbye(&self, name: String) -> String {
            format!("goodbye {name}")
        }
        fn hello(&self) -> String {
            "hello".into()
        }
        fn shout(&self, text: String, times: Option<u8>) -> String {
            text.to_uppercase().repeat(usize::from(times.unwrap_or(1)))
        }
        fn ops(&self) -> &Server {
            self
        }
    }

    impl Ops for Server {
        fn uptime(&self) -> u64 {
            2
        }
    }
}
