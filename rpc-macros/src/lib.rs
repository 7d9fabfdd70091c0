//! Procedural macros for dotrpc: `#[rpc_api]`.
//!
//! One pipeline, one phase per module: `parse` reads the trait or impl block
//! as written, `validate` reports every rule it breaks (on the narrowest
//! span, all at once, through `ctxt`), `model` holds the checked API as
//! plain data, and `expand` writes the user's item (our attributes removed),
//! the server glue and the client stub. Expansion never rejects input; on
//! errors the user's item is still emitted beside them, so one mistake gives
//! one diagnostic. See the `dotrpc` crate for the user-facing documentation.

mod attr;
mod ctxt;
mod expand;
mod model;
mod parse;
mod types;
mod validate;

use proc_macro::TokenStream;

/// Turns a trait or an inherent impl block into a dot-namespaced remote API:
/// a typed client stub (`XxxClient`) and server handlers. See `dotrpc::rpc_api`.
#[proc_macro_attribute]
pub fn rpc_api(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::rpc_api(args.into(), input.into()).into()
}
