//! The server side: per method, glue in the `_handler_<method>` spirit that
//! decodes params, calls the user's method and encodes its result or error,
//! registered into the router at the full path; nested APIs register their own
//! methods under the accessor's name.
//!
//! The glue is kept to what differs between methods: a closure that reads
//! the params and starts the call. What every method does alike (checking
//! the arity, answering a param that does not decode, dropping the call) is
//! the runtime's, compiled once (`__private::serve_method`), so an API's
//! binary grows little with its methods (`dotrpc-bench build` measures it).
//!
//! Registration is one function per API, `__dotrpc_register`, generic over
//! how to reach the API from the value being served (`get`), so a nested API
//! registers through its parent's accessor. It is a provided method of the
//! trait (trait form) or an inherent function of the type (impl form).

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::model::{Api, CallKind, Form, Method, Nested, StreamParam};

/// Makes the trait servable: `Send + Sync + 'static`, async methods returning
/// `Send` futures, nested accessors returning a named associated type, and
/// the registration function.
pub(super) fn rewrite_trait(item: &mut syn::ItemTrait, api: &Api) {
    item.supertraits
        .push(syn::parse_quote!(::core::marker::Send));
    item.supertraits
        .push(syn::parse_quote!(::core::marker::Sync));
    item.supertraits.push(syn::parse_quote!('static));
    let mut added = Vec::new();
    for trait_item in &mut item.items {
        let syn::TraitItem::Fn(f) = trait_item else {
            continue;
        };
        if let Some(nested) = api.nested.iter().find(|n| n.ident == f.sig.ident) {
            let (assoc, target, wire) = (&nested.assoc, &nested.target, &nested.wire);
            let doc = format!(
                "The API served under the `{wire}` namespace, which `{}` returns: a type \
                 implementing `{}`. Named after the accessor, not the trait.",
                nested.ident,
                quote!(#target).to_string().replace(' ', "")
            );
            // Spanned at the accessor: "missing `Admin`" points at `fn admin`.
            added.push(
                syn::parse_quote_spanned!(f.sig.ident.span()=> #[doc = #doc] type #assoc: #target;),
            );
            let ret: syn::Type = syn::parse_quote_spanned!(f.sig.output.span()=> &Self::#assoc);
            f.sig.output = syn::parse_quote!(-> #ret);
        } else if f.sig.asyncness.is_some()
            && api
                .methods
                .iter()
                .any(|m| m.ident == f.sig.ident && matches!(m.call, CallKind::Async))
        {
            f.sig.asyncness = None;
            let output = match &f.sig.output {
                syn::ReturnType::Default => quote!(()),
                syn::ReturnType::Type(_, ty) => quote!(#ty),
            };
            f.sig.output = syn::parse_quote! {
                -> impl ::core::future::Future<Output = #output> + ::core::marker::Send
            };
            if let Some(body) = &f.default {
                f.default = Some(syn::parse_quote!({ async move #body }));
            }
        }
    }
    let register = register_fn(api, quote!(), quote!(where Self: ::core::marker::Sized));
    added.push(syn::parse_quote!(#register));
    item.items.extend(added);
}

/// The API impls: `XxxService<T>` for a trait, the type itself for an impl
/// block (with its registration function).
pub(super) fn expand(api: &Api) -> TokenStream {
    let krate = &api.krate;
    let client = api.client_ident();
    let namespace = match &api.namespace {
        Some(ns) => quote!(::core::option::Option::Some(#ns)),
        None => quote!(::core::option::Option::None),
    };
    let api_items = |get: TokenStream| {
        quote! {
            const NAMESPACE: ::core::option::Option<&'static str> = #namespace;

            fn register(
                self: #krate::__private::Arc<Self>,
                router: &#krate::__private::Router,
                prefix: &str,
            ) {
                #get
            }

            fn describe(prefix: &str, out: &mut #krate::__private::Describing) {
                #client::__dotrpc_describe(prefix, out);
            }
        }
    };
    match &api.form {
        Form::Trait => {
            let (ident, vis, service) = (&api.ident, &api.vis, api.service_ident());
            let doc = format!(
                "Serves an implementation of [`{ident}`]: `router.serve({service}(my_api))`, \
                 or `Peer::builder().serve({service}(my_api))`."
            );
            let items = api_items(quote! {
                <T as #ident>::__dotrpc_register(router, prefix, self, |__dotrpc_service: &Self| &__dotrpc_service.0);
            });
            quote! {
                #[doc = #doc]
                #[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::default::Default)]
                #vis struct #service<T>(pub T);

                impl<T: #ident> #krate::__private::Api for #service<T> {
                    #items
                }
            }
        }
        Form::Impl { self_ty } => {
            let register = register_fn(
                api,
                quote!(pub),
                quote!(where Self: ::core::marker::Send + ::core::marker::Sync),
            );
            let items = api_items(quote! {
                Self::__dotrpc_register(router, prefix, self, |__dotrpc_this: &Self| __dotrpc_this);
            });
            quote! {
                impl #self_ty {
                    #register
                }

                impl #krate::__private::Api for #self_ty {
                    #items
                }
            }
        }
    }
}

/// `fn __dotrpc_register(router, prefix, root, get)`: registers every method
/// and nested API of `Self`, reached from `root` through `get`.
fn register_fn(api: &Api, vis: TokenStream, bounds: TokenStream) -> TokenStream {
    let krate = &api.krate;
    let methods = api.methods.iter().map(|m| register_method(api, m));
    let nested = api.nested.iter().map(|n| register_nested(api, n));
    quote! {
        #[doc(hidden)]
        #[allow(clippy::too_many_lines)]
        #vis fn __dotrpc_register<__DotrpcRoot: ::core::marker::Send + ::core::marker::Sync + 'static>(
            __dotrpc_router: &#krate::__private::Router,
            __dotrpc_prefix: &str,
            __dotrpc_root: #krate::__private::Arc<__DotrpcRoot>,
            __dotrpc_get: impl for<'__dotrpc> ::core::ops::Fn(&'__dotrpc __DotrpcRoot) -> &'__dotrpc Self
                + ::core::clone::Clone
                + ::core::marker::Send
                + ::core::marker::Sync
                + 'static,
        ) #bounds {
            #(#methods)*
            #(#nested)*
            let _ = (__dotrpc_router, __dotrpc_prefix, __dotrpc_root, __dotrpc_get);
        }
    }
}

fn register_method(api: &Api, method: &Method) -> TokenStream {
    let krate = &api.krate;
    let (ident, wire) = (&method.ident, &method.wire);
    let arity = method.params.len();
    let names: Vec<_> = method.params.iter().map(|p| &p.ident).collect();
    let reads = method.params.iter().map(|p| {
        let ty = &p.ty;
        if p.default {
            quote_spanned!(ty.span()=> __dotrpc_reader.read_or_default::<#ty>()?)
        } else {
            quote_spanned!(ty.span()=> <#ty as #krate::__private::WireType>::__read(__dotrpc_reader)?)
        }
    });
    // Params are decoded before the call is started, so a wrong call is
    // answered at once and allocates nothing.
    let decode = quote!(let (#(#names,)*) = (#(#reads,)*););
    // Stream params are opened once the params are known to fit.
    let open = |stream: Option<&StreamParam>, open: TokenStream| {
        stream.map(|stream| {
            let (ident, item) = (&stream.ident, &stream.item);
            quote_spanned!(item.span()=>
                let #ident = #krate::__private::#open::<#item>(__dotrpc_ctx, __dotrpc_reader)?;
            )
        })
    };
    let open_answer = open(method.answer.as_ref(), quote!(open_sink));
    let open_input = open(method.input.as_ref(), quote!(open_receiver));
    let decode = quote!(#decode #open_answer #open_input);
    let names = &method.args;
    // The context is the call's; a method that takes it gets its own,
    // made before the method's future, which outlives the call's.
    let (own_context, context) = match method.context {
        true => (
            quote!(let __dotrpc_context = ::core::clone::Clone::clone(__dotrpc_ctx);),
            quote!(__dotrpc_context,),
        ),
        false => (quote!(), quote!()),
    };
    let target = quote!((__dotrpc_get)(&*__dotrpc_root));
    let ok = &method.output.ok;
    // The result and error are encoded through the traits of their rules, at
    // the span of their types: a type that breaks one is reported there.
    let reply = match &method.output.err {
        None => {
            quote_spanned!(ok.span()=> <#ok as #krate::__private::WireType>::__reply(&__dotrpc_out))
        }
        Some(err) => {
            let ok_reply = quote_spanned!(ok.span()=> <#ok as #krate::__private::WireType>::__reply(&__dotrpc_value));
            let err_object = quote_spanned!(err.span()=>
                <#err as #krate::__private::ApplicationError>::__error_object(&__dotrpc_error)
            );
            quote! {
                match __dotrpc_out {
                    ::core::result::Result::Ok(__dotrpc_value) => #ok_reply,
                    ::core::result::Result::Err(__dotrpc_error) => ::core::result::Result::Err(#err_object),
                }
            }
        }
    };
    let path = quote!(&#krate::__private::join(__dotrpc_prefix, #wire));
    let handling = match method.call {
        CallKind::Sync => quote! {
            let __dotrpc_out = #target.#ident(#context #(#names),*);
            #krate::__private::Handling::Ready(if __dotrpc_answer {
                #reply
            } else {
                #krate::__private::no_reply()
            })
        },
        CallKind::Async | CallKind::Blocking => {
            let invoke = match method.call {
                CallKind::Blocking => quote! {
                    #krate::__private::spawn_blocking(move || #target.#ident(#context #(#names),*)).await
                },
                _ => quote!(#target.#ident(#context #(#names),*).await),
            };
            quote! {
                let __dotrpc_root = ::core::clone::Clone::clone(&__dotrpc_root);
                let __dotrpc_get = ::core::clone::Clone::clone(&__dotrpc_get);
                #krate::__private::Handling::later(async move {
                    let __dotrpc_out = #invoke;
                    if !__dotrpc_answer {
                        return #krate::__private::no_reply();
                    }
                    #reply
                })
            }
        }
    };
    let glue = quote! {
        #krate::__private::serve_method(
            __dotrpc_router,
            #path,
            #arity,
            move |__dotrpc_ctx: &#krate::__private::CallContext,
                  __dotrpc_reader: &mut #krate::__private::ParamReader<'_>| {
                #decode
                #own_context
                let __dotrpc_answer = __dotrpc_ctx.expects_reply();
                ::core::option::Option::Some({ #handling })
            },
        );
    };
    let aliases = alias(api, &method.wire, &method.aliases);
    quote! {
        {
            let __dotrpc_root = ::core::clone::Clone::clone(&__dotrpc_root);
            let __dotrpc_get = ::core::clone::Clone::clone(&__dotrpc_get);
            #glue
            #aliases
        }
    }
}

/// Answers at each old path as at `wire`: a method, or a whole namespace.
fn alias(api: &Api, wire: &str, aliases: &[String]) -> TokenStream {
    let krate = &api.krate;
    quote! {
        #(__dotrpc_router.alias(
            &#krate::__private::join(__dotrpc_prefix, #aliases),
            &#krate::__private::join(__dotrpc_prefix, #wire),
        );)*
    }
}

fn register_nested(api: &Api, nested: &Nested) -> TokenStream {
    let krate = &api.krate;
    let (ident, wire, target) = (&nested.ident, &nested.wire, &nested.target);
    let register = match &api.form {
        Form::Trait => {
            let assoc = &nested.assoc;
            quote!(<Self::#assoc as #target>::__dotrpc_register)
        }
        Form::Impl { .. } => quote!(<#target>::__dotrpc_register),
    };
    let r = format_ident!("__dotrpc_reach");
    let aliases = alias(api, wire, &nested.aliases);
    quote! {
        {
            let __dotrpc_get = ::core::clone::Clone::clone(&__dotrpc_get);
            #register(
                __dotrpc_router,
                &#krate::__private::join(__dotrpc_prefix, #wire),
                ::core::clone::Clone::clone(&__dotrpc_root),
                move |#r: &__DotrpcRoot| (__dotrpc_get)(#r).#ident(),
            );
            #aliases
        }
    }
}
