//! Procedural macros for dotrpc.
//!
//! `#[rpc_api]` (nested traits and impl blocks turned into dot-namespaced APIs)
//! lands here with the macro issue; until then this crate is an empty shell so
//! that `dotrpc` can pin it with `=` from the start.
