//! The client side: `XxxClient`, a cheap, `Clone` stub whose nested
//! namespaces are public fields and whose methods take the declared params by
//! value and return the runtime's call builder (or, for events, send a
//! notification), plus the API's self-description.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::model::{Api, Method, Nested, type_name};

pub(super) fn expand(api: &Api) -> TokenStream {
    let krate = &api.krate;
    let (vis, client) = (&api.vis, api.client_ident());
    let namespace = match &api.namespace {
        Some(ns) => quote!(::core::option::Option::Some(#ns)),
        None => quote!(::core::option::Option::None),
    };
    let struct_doc = format!(
        "A client of the [`{0}`] API: `peer.client::<{1}>()`.{2}{3}",
        api.ident,
        client,
        if api.docs.is_empty() { "" } else { "\n\n" },
        api.docs
    );
    let fields = api.nested.iter().map(|n| {
        let (ident, ty, doc) = (&n.ident, nested_client(n), nested_doc(n));
        quote!(#[doc = #doc] pub #ident: #ty,)
    });
    let field_inits = api.nested.iter().map(|n| {
        let (ident, ty, wire) = (&n.ident, nested_client(n), &n.wire);
        quote! {
            #ident: <#ty as #krate::__private::ApiClient>::with_prefix(
                ::core::clone::Clone::clone(&peer),
                &#krate::__private::join(prefix, #wire),
            ),
        }
    });
    let with_timeouts = api.nested.iter().map(|n| {
        let (ident, ty) = (&n.ident, nested_client(n));
        quote!(#ident: <#ty as #krate::__private::ApiClient>::with_timeout(self.#ident, timeout),)
    });
    let methods = api
        .methods
        .iter()
        .enumerate()
        .map(|(index, m)| stub(api, index, m));
    let method_count = api.methods.len();
    let describe_methods = api.methods.iter().map(|m| describe(api, m));
    let describe_nested = api.nested.iter().map(|n| {
        let (ty, wire) = (nested_client(n), &n.wire);
        quote!(<#ty>::__dotrpc_describe(&#krate::__private::join(prefix, #wire), out);)
    });
    quote! {
        #[doc = #struct_doc]
        #[derive(::core::clone::Clone, ::core::fmt::Debug)]
        #vis struct #client {
            __dotrpc_base: #krate::__private::ClientBase,
            #(#fields)*
        }

        impl #krate::__private::ApiClient for #client {
            const NAMESPACE: ::core::option::Option<&'static str> = #namespace;

            fn with_prefix(peer: #krate::__private::Peer, prefix: &str) -> Self {
                Self {
                    #(#field_inits)*
                    __dotrpc_base: #krate::__private::ClientBase::new(peer, prefix, #method_count),
                }
            }

            fn peer(&self) -> &#krate::__private::Peer {
                self.__dotrpc_base.peer()
            }

            fn with_timeout(self, timeout: #krate::__private::Duration) -> Self {
                Self {
                    #(#with_timeouts)*
                    __dotrpc_base: self.__dotrpc_base.with_timeout(timeout),
                }
            }

            fn describe(prefix: &str) -> #krate::__private::Vec<#krate::__private::MethodDescription> {
                let mut out = #krate::__private::Vec::new();
                Self::__dotrpc_describe(prefix, &mut out);
                out
            }
        }

        impl #client {
            #(#methods)*

            #[doc(hidden)]
            pub fn __dotrpc_describe(
                prefix: &str,
                out: &mut #krate::__private::Vec<#krate::__private::MethodDescription>,
            ) {
                #(#describe_methods)*
                #(#describe_nested)*
                let _ = (prefix, out);
            }
        }
    }
}

/// The client type of a nested API: the trait's or type's path, its last
/// segment suffixed with `Client`.
fn nested_client(nested: &Nested) -> syn::Path {
    let mut path = nested.target.clone();
    if let Some(last) = path.segments.last_mut() {
        last.ident = format_ident!("{}Client", last.ident, span = last.ident.span());
        last.arguments = syn::PathArguments::None;
    }
    path
}

fn nested_doc(nested: &Nested) -> String {
    let head = format!("The `{}` namespace.", nested.wire);
    if nested.docs.is_empty() {
        head
    } else {
        format!("{head}\n\n{}", nested.docs)
    }
}

fn stub(api: &Api, index: usize, method: &Method) -> TokenStream {
    let krate = &api.krate;
    let (ident, wire) = (&method.ident, &method.wire);
    let params = method.params.iter().map(|p| {
        let (name, ty) = (&p.ident, &p.ty);
        quote!(#name: #ty)
    });
    let count = method.params.len() as u32;
    let args = method.params.iter().map(|p| {
        let (name, ty) = (&p.ident, &p.ty);
        quote_spanned!(ty.span()=> .arg::<#ty>(&#name))
    });
    let mut doc = method.docs.clone();
    if method.event {
        let note = format!(
            "Sends the `{wire}` event: a notification, with no reply. `.await` it to \
             wait for room in the connection's queue first, or `.send()` it at once."
        );
        doc = if doc.is_empty() {
            note
        } else {
            format!("{doc}\n\n{note}")
        };
        return quote! {
            #[doc = #doc]
            pub fn #ident(&self, #(#params),*) -> #krate::__private::Notify {
                self.__dotrpc_base.args(#index, #wire, #count) #(#args)* .notify()
            }
        };
    }
    if doc.is_empty() {
        doc = format!("Calls `{wire}`.");
    }
    let ok = &method.output.ok;
    let returns = match &method.output.err {
        None => quote_spanned!(ok.span()=> #krate::__private::Call<#ok>),
        Some(err) => quote_spanned!(err.span()=> #krate::__private::Call<#ok, #err>),
    };
    quote! {
        #[doc = #doc]
        pub fn #ident(&self, #(#params),*) -> #returns {
            self.__dotrpc_base.args(#index, #wire, #count) #(#args)* .call()
        }
    }
}

fn describe(api: &Api, method: &Method) -> TokenStream {
    let krate = &api.krate;
    let (wire, docs, event) = (&method.wire, &method.docs, method.event);
    let params = method.params.iter().map(|p| {
        let (name, ty) = (p.ident.to_string(), type_name(&p.ty));
        quote! {
            #krate::__private::ParamDescription {
                name: ::core::convert::From::from(#name),
                ty: ::core::convert::From::from(#ty),
            }
        }
    });
    let returns = type_name(&method.output.ok);
    let error = match &method.output.err {
        None => quote!(::core::option::Option::None),
        Some(err) => {
            let err = type_name(err);
            quote!(::core::option::Option::Some(::core::convert::From::from(#err)))
        }
    };
    quote! {
        out.push(#krate::__private::MethodDescription {
            path: #krate::__private::join(prefix, #wire),
            params: ::core::convert::From::from([#(#params),*]),
            returns: ::core::convert::From::from(#returns),
            error: #error,
            event: #event,
            docs: ::core::convert::From::from(#docs),
        });
    }
}
