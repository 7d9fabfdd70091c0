//! The client side: `XxxClient`, a cheap, `Clone` stub whose nested
//! namespaces are public fields and whose methods take the declared params by
//! value and return the runtime's call builder (or, for events, send a
//! notification), plus the API's self-description; and `XxxBroadcast`, the
//! same API's events sent to many peers at once.

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
        let aliases = &n.aliases;
        quote! {
            let __dotrpc_from = out.methods.len();
            <#ty>::__dotrpc_describe(&#krate::__private::join(prefix, #wire), out);
            #(#krate::__private::alias_described(
                &mut out.methods[__dotrpc_from..],
                &#krate::__private::join(prefix, #aliases),
                &#krate::__private::join(prefix, #wire),
            );)*
        }
    });
    let inherent = inherent_helpers(api);
    let broadcast_ident = api.broadcast_ident();
    let broadcast = broadcast(api);
    quote! {
        #[doc = #struct_doc]
        #[derive(::core::clone::Clone, ::core::fmt::Debug)]
        #vis struct #client {
            __dotrpc_base: #krate::__private::ClientBase,
            #(#fields)*
        }

        impl #krate::__private::ApiClient for #client {
            const NAMESPACE: ::core::option::Option<&'static str> = #namespace;
            type Broadcast = #broadcast_ident;

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

            fn describe(prefix: &str) -> #krate::__private::Description {
                let mut out = ::core::default::Default::default();
                Self::__dotrpc_describe(prefix, &mut out);
                #krate::__private::Describing::finish(out)
            }
        }

        impl #client {
            #(#methods)*
            #inherent

            #[doc(hidden)]
            pub fn __dotrpc_describe(
                prefix: &str,
                out: &mut #krate::__private::Describing,
            ) {
                #(#describe_methods)*
                #(#describe_nested)*
                let _ = (prefix, out);
            }
        }

        #broadcast
    }
}

/// `XxxBroadcast`: the API's events, sent to many peers at once (a group's
/// members, a server's connections); nested namespaces are fields, as on the
/// client.
fn broadcast(api: &Api) -> TokenStream {
    let krate = &api.krate;
    let (vis, client, broadcast) = (&api.vis, api.client_ident(), api.broadcast_ident());
    let doc = format!(
        "The events of the [`{0}`] API, sent to every member of a group or every \
         connection of a server, each encoded once: `group.broadcast::<{1}>()`.",
        api.ident, client
    );
    let fields = api.nested.iter().map(|n| {
        let (ident, ty, doc) = (&n.ident, nested_client(n), nested_doc(n));
        quote!(#[doc = #doc] pub #ident: <#ty as #krate::__private::ApiClient>::Broadcast,)
    });
    let field_inits = api.nested.iter().map(|n| {
        let (ident, ty, wire) = (&n.ident, nested_client(n), &n.wire);
        quote! {
            #ident: <<#ty as #krate::__private::ApiClient>::Broadcast as #krate::__private::ApiBroadcast>::with_members(
                ::core::clone::Clone::clone(&members),
                &#krate::__private::join(prefix, #wire),
            ),
        }
    });
    let events = api
        .methods
        .iter()
        .enumerate()
        .filter(|(_, m)| m.event)
        .map(|(index, m)| broadcast_stub(api, index, m));
    let method_count = api.methods.len();
    quote! {
        #[doc = #doc]
        #[derive(::core::clone::Clone, ::core::fmt::Debug)]
        #vis struct #broadcast {
            __dotrpc_base: #krate::__private::BroadcastBase,
            #(#fields)*
        }

        impl #krate::__private::ApiBroadcast for #broadcast {
            fn with_members(members: #krate::__private::Members, prefix: &str) -> Self {
                Self {
                    #(#field_inits)*
                    __dotrpc_base: #krate::__private::BroadcastBase::new(members, prefix, #method_count),
                }
            }
        }

        impl #broadcast {
            #(#events)*
        }
    }
}

fn broadcast_stub(api: &Api, index: usize, method: &Method) -> TokenStream {
    let krate = &api.krate;
    let (ident, wire) = (&method.ident, &method.wire);
    let (params, args, count) = params_and_args(api, method);
    let doc = with_note(
        &method.docs,
        &format!(
            "The `{wire}` event to every peer, encoded once: `.await` it to wait for \
             room in each peer's queue, or `.send()` it at once; both give how many \
             peers it was queued for, and fail only if a param does not serialize."
        ),
    );
    let deprecated = deprecated(method);
    quote! {
        #[doc = #doc]
        #deprecated
        pub fn #ident(&self, #(#params),*) -> #krate::__private::NotifyAll {
            #count
            let __dotrpc_args = self.__dotrpc_base.args(#index, #wire, __dotrpc_count);
            #(#args)*
            __dotrpc_args.notify_all()
        }
    }
}

/// `#[deprecated]` on the stubs of a method marked `#[rpc(deprecated)]`, so
/// that Rust callers are told as TypeScript's are.
fn deprecated(method: &Method) -> Option<TokenStream> {
    let note = method.deprecated.as_ref()?;
    Some(quote!(#[deprecated(note = #note)]))
}

/// `with_timeout`, `peer` and `describe` as inherent methods, so that they
/// need no import of `ApiClient`; skipped where the API has a method of that
/// name (which the stub then is; the trait's stays reachable).
fn inherent_helpers(api: &Api) -> TokenStream {
    let krate = &api.krate;
    let taken = |name: &str| api.methods.iter().any(|m| m.ident == name);
    let with_timeout = (!taken("with_timeout")).then(|| {
        quote! {
            /// The same client whose calls, and those of every nested
            /// namespace, time out after `timeout` unless a call sets its own.
            pub fn with_timeout(self, timeout: #krate::__private::Duration) -> Self {
                <Self as #krate::__private::ApiClient>::with_timeout(self, timeout)
            }
        }
    });
    let peer = (!taken("peer")).then(|| {
        quote! {
            /// The peer this client calls.
            pub fn peer(&self) -> &#krate::__private::Peer {
                self.__dotrpc_base.peer()
            }
        }
    });
    let describe = (!taken("describe")).then(|| {
        quote! {
            /// Every method of the API, nested ones included, as `rpc.describe`
            /// reports it, with paths under `prefix` (`""` for the API's own).
            pub fn describe(prefix: &str) -> #krate::__private::Description {
                <Self as #krate::__private::ApiClient>::describe(prefix)
            }
        }
    });
    quote!(#with_timeout #peer #describe)
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

/// A method's params as the stub declares them, and the statements that add
/// each to the message (through its rule's trait, at the span of its type).
/// A stub's params, the statements that append them to the call, and how
/// many it sends: trailing `Option` params that are `None` are left out, so
/// a call that does not use a param added in a later version of the API is
/// one an older server takes (it would refuse one param too many).
fn params_and_args(
    api: &Api,
    method: &Method,
) -> (Vec<TokenStream>, Vec<TokenStream>, TokenStream) {
    let krate = &api.krate;
    let all = method.params.len();
    // The trailing run of plain `Option`s (a defaulted param is sent: its
    // default is the server's to know).
    let trimmable = method
        .params
        .iter()
        .rposition(|p| p.default || !crate::types::is_option(&p.ty))
        .map_or(0, |last| last + 1);
    let count = if trimmable == all {
        let count = all as u32;
        quote!(#count)
    } else {
        // The params up to the last `Some` of the run.
        let mut count = {
            let kept = trimmable as u32;
            quote!(#kept)
        };
        for (position, param) in method.params.iter().enumerate().skip(trimmable) {
            let (ident, kept) = (&param.ident, position as u32 + 1);
            count = quote!(if ::core::option::Option::is_some(&#ident) { #kept } else { #count });
        }
        quote!({ #count })
    };
    let (params, args) = method
        .params
        .iter()
        .enumerate()
        .map(|(position, p)| {
            let (name, ty) = (&p.ident, &p.ty);
            let append = quote_spanned!(ty.span()=>
                <#ty as #krate::__private::WireType>::__arg(&#name, __dotrpc_args)
            );
            let arg = if position < trimmable {
                quote!(let __dotrpc_args = #append;)
            } else {
                let n = position as u32;
                quote! {
                    let __dotrpc_args = if #n < __dotrpc_count { #append } else { __dotrpc_args };
                }
            };
            (quote!(#name: #ty), arg)
        })
        .unzip();
    (params, args, quote!(let __dotrpc_count: u32 = #count;))
}

/// `doc`, then `note` after a blank line (or `note` alone).
fn with_note(doc: &str, note: &str) -> String {
    if doc.is_empty() {
        note.to_owned()
    } else {
        format!("{doc}\n\n{note}")
    }
}

fn stub(api: &Api, index: usize, method: &Method) -> TokenStream {
    let krate = &api.krate;
    let (ident, wire) = (&method.ident, &method.wire);
    let (params, args, count) = params_and_args(api, method);
    let mut doc = method.docs.clone();
    if method.event {
        let doc = with_note(
            &doc,
            &format!(
                "Sends the `{wire}` event: a notification, with no reply. `.await` it to \
                 wait for room in the connection's queue first, or `.send()` it at once."
            ),
        );
        let deprecated = deprecated(method);
        return quote! {
            #[doc = #doc]
            #deprecated
            pub fn #ident(&self, #(#params),*) -> #krate::__private::Notify {
                #count
                let __dotrpc_args = self.__dotrpc_base.args(#index, #wire, __dotrpc_count);
                #(#args)*
                __dotrpc_args.notify()
            }
        };
    }
    if doc.is_empty() {
        doc = format!("Calls `{wire}`.");
    }
    if method.idempotent {
        doc = with_note(
            &doc,
            "Idempotent: sent again on the next connection if this one drops before the \
             reply (on a peer that reconnects and waits while down).",
        );
    }
    let ok = &method.output.ok;
    let err = match &method.output.err {
        None => quote!(#krate::__private::RemoteError),
        Some(err) => quote!(#err),
    };
    let (returns, send) = match (&method.answer, &method.input) {
        (None, None) => (
            quote_spanned!(ok.span()=> #krate::__private::Call<#ok, #err>),
            quote!(call),
        ),
        (Some(answer), None) => {
            let item = &answer.item;
            (
                quote_spanned!(item.span()=> #krate::__private::ItemStream<#item, #err>),
                quote!(stream),
            )
        }
        (None, Some(input)) => {
            let item = &input.item;
            (
                quote_spanned!(item.span()=> #krate::__private::Upload<#item, #ok, #err>),
                quote!(upload),
            )
        }
        (Some(answer), Some(input)) => {
            let (out, item) = (&answer.item, &input.item);
            (
                quote!(#krate::__private::Conversation<#item, #out, #err>),
                quote!(conversation),
            )
        }
    };
    let streams = method.answer.is_some() || method.input.is_some();
    let idempotent = (method.idempotent && !streams).then(|| quote!(.idempotent()));
    let deprecated = deprecated(method);
    quote! {
        #[doc = #doc]
        #deprecated
        pub fn #ident(&self, #(#params),*) -> #returns {
            #count
            let __dotrpc_args = self.__dotrpc_base.args(#index, #wire, __dotrpc_count);
            #(#args)*
            __dotrpc_args.#send() #idempotent
        }
    }
}

fn describe(api: &Api, method: &Method) -> TokenStream {
    let krate = &api.krate;
    let (wire, docs, event, idempotent) =
        (&method.wire, &method.docs, method.event, method.idempotent);
    // A type's name, and its shape through the trait the type must
    // implement, at its span, so a type that breaks a rule gets that rule's
    // one error (see `wire`).
    let info = |ty: &syn::Type, shape: TokenStream| {
        let name = type_name(ty);
        quote!(#krate::__private::TypeInfo { name: #name, shape: #shape })
    };
    let wire_type = |ty: &syn::Type| {
        info(
            ty,
            quote_spanned!(ty.span()=> <#ty as #krate::__private::WireType>::__shape),
        )
    };
    let item_type = |ty: &syn::Type| info(ty, quote!(#krate::__private::Describing::shape::<#ty>));
    let some = |value: Option<TokenStream>| match value {
        Some(value) => quote!(::core::option::Option::Some(#value)),
        None => quote!(::core::option::Option::None),
    };
    let params = method.params.iter().map(|p| {
        let (name, ty, optional) = (p.ident.to_string(), wire_type(&p.ty), p.optional);
        quote!(#krate::__private::ParamInfo { name: #name, ty: #ty, optional: #optional })
    });
    let returns = wire_type(&method.output.ok);
    let error = some(method.output.err.as_ref().map(|err| {
        let shape =
            quote_spanned!(err.span()=> <#err as #krate::__private::ApplicationError>::__shape);
        info(err, shape)
    }));
    let stream = some(method.answer.as_ref().map(|s| item_type(&s.item)));
    let input = some(method.input.as_ref().map(|s| item_type(&s.item)));
    let aliases = &method.aliases;
    let deprecated = some(method.deprecated.as_ref().map(|note| quote!(#note)));
    // A constant, promoted to a static: what each method adds to the
    // binary is this data and not code.
    quote! {
        out.method(prefix, &#krate::__private::MethodInfo {
            wire: #wire,
            params: &[#(#params),*],
            returns: #returns,
            error: #error,
            stream: #stream,
            input: #input,
            event: #event,
            idempotent: #idempotent,
            docs: #docs,
            aliases: &[#(#aliases),*],
            deprecated: #deprecated,
        });
    }
}
