//! Writes the output: the user's item, the server glue, the client stub.
//!
//! Generated code reaches the runtime only through `#krate::__private` and
//! `::core` paths, names its locals `__dotrpc_*`, and documents every public
//! item it adds.

mod client;
mod server;

use proc_macro2::TokenStream;
use quote::quote;

use crate::attr::{self, ApiAttr};
use crate::ctxt::Ctxt;
use crate::model::Api;
use crate::parse::Item;
use crate::validate;

pub(crate) fn rpc_api(args: TokenStream, input: TokenStream) -> TokenStream {
    let cx = Ctxt::new();
    let api_attr = ApiAttr::parse(&cx, args);
    let mut item = match Item::parse(input) {
        Ok(item) => item,
        Err(error) => {
            let earlier = cx.check().err().map(|e| e.to_compile_error());
            let error = error.to_compile_error();
            return quote!(#earlier #error);
        }
    };
    let members = item.members(&cx);
    validate::check(&cx, &api_attr, &item, &members);
    let checked = cx.check();
    // Built only from what passed.
    let api = match &checked {
        Ok(()) => Api::from_item(api_attr, &item, &members),
        Err(_) => None,
    };
    drop(members);
    match (checked, api) {
        (Ok(()), Some(api)) => expand(item, &api),
        (result, _) => {
            strip_attrs(&mut item);
            let errors = result.err().map(|e| e.to_compile_error());
            let item = item_tokens(&item);
            quote!(#item #errors)
        }
    }
}

fn expand(mut item: Item, api: &Api) -> TokenStream {
    strip_attrs(&mut item);
    let item = match item {
        Item::Trait(mut item_trait) => {
            server::rewrite_trait(&mut item_trait, api);
            quote!(#item_trait)
        }
        Item::Impl(item_impl) => quote!(#item_impl),
    };
    let server = server::expand(api);
    let client = client::expand(api);
    quote! {
        #item
        #server
        #client
    }
}

fn strip_attrs(item: &mut Item) {
    let strip = |attrs: &mut Vec<syn::Attribute>, sig: &mut syn::Signature| {
        attr::strip(attrs);
        for arg in &mut sig.inputs {
            if let syn::FnArg::Typed(typed) = arg {
                attr::strip(&mut typed.attrs);
            }
        }
    };
    match item {
        Item::Trait(t) => t.items.iter_mut().for_each(|i| {
            if let syn::TraitItem::Fn(f) = i {
                strip(&mut f.attrs, &mut f.sig);
            }
        }),
        Item::Impl(i) => i.items.iter_mut().for_each(|i| {
            if let syn::ImplItem::Fn(f) = i {
                strip(&mut f.attrs, &mut f.sig);
            }
        }),
    }
}

fn item_tokens(item: &Item) -> TokenStream {
    match item {
        Item::Trait(t) => quote!(#t),
        Item::Impl(i) => quote!(#i),
    }
}
