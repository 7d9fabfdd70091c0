//! One function per rule an API must follow, each reporting to the `Ctxt` on
//! the narrowest span and saying what to do instead. Nothing here builds
//! anything; `model` builds only from what passed.

use syn::{FnArg, Pat, ReturnType, Signature, Type};

use crate::attr::ApiAttr;
use crate::attr::MemberAttr;
use crate::ctxt::Ctxt;
use crate::parse::{Arg, ArgKind, Item, Member};
use crate::types::{StreamWay, is_option, is_unit, output_types};

/// The item itself: no generics, and an impl block must be inherent.
/// Every rule the item and its methods break, reported to `cx`: the one
/// pass that judges the input, before anything is built from it.
pub(crate) fn check(cx: &Ctxt, attr: &ApiAttr, item: &Item, members: &[Member<'_>]) {
    check_item(cx, item);
    if let Some(namespace) = &attr.namespace {
        check_namespace(cx, namespace);
    }
    let mut names = Vec::new();
    for member in members.iter().filter(|member| member.attr.skip.is_none()) {
        let (sig, attr) = (member.sig, &member.attr);
        check_member_attr(cx, attr);
        check_receiver(cx, sig);
        check_generics(cx, sig);
        match &attr.name {
            Some(name) => {
                check_wire_name(cx, name);
                names.push((name.value(), name.span()));
            }
            None => names.push((sig.ident.to_string(), sig.ident.span())),
        }
        for alias in &attr.aliases {
            check_alias(cx, alias);
            names.push((alias.value(), alias.span()));
        }
        if attr.nested.is_some() {
            check_nested(cx, sig, item);
            continue;
        }
        check_params(cx, &member.args);
        check_return(cx, sig, attr);
        check_blocking(cx, sig, attr);
        check_streams(cx, member);
    }
    check_duplicates(cx, &names);
}

fn check_item(cx: &Ctxt, item: &Item) {
    let generics = match item {
        Item::Trait(t) => &t.generics,
        Item::Impl(i) => &i.generics,
    };
    if !generics.params.is_empty() {
        cx.error_spanned_by(
            &generics.params,
            "rpc APIs cannot be generic; use concrete types",
        );
    }
    if let Item::Impl(i) = item {
        if let Some((_, path, _)) = &i.trait_ {
            cx.error_spanned_by(
                path,
                "#[rpc_api] goes on the API trait itself, or on an inherent impl block; \
                 implementations of an API trait need no attribute",
            );
        }
        if item.ident().is_none() {
            cx.error_spanned_by(
                &i.self_ty,
                "#[rpc_api] impl blocks must be for a named type",
            );
        }
    }
}

/// Methods are called through a shared reference to the API.
fn check_receiver(cx: &Ctxt, sig: &Signature) {
    match sig.inputs.first() {
        Some(FnArg::Receiver(receiver)) => {
            if let Some(mutability) = &receiver.mutability {
                cx.error_spanned_by(
                    mutability,
                    "rpc methods take `&self`, not `&mut self`, as calls run concurrently; \
                     use interior mutability (a Mutex or atomics) for state",
                );
            } else if receiver.reference.is_none() || receiver.colon_token.is_some() {
                cx.error_spanned_by(
                    receiver,
                    "rpc methods take `&self`: every call borrows the one API value, none can consume it",
                );
            }
        }
        _ => cx.error_spanned_by(
            &sig.ident,
            "rpc methods take `&self`; move constructors and helpers to another impl block or mark them #[rpc(skip)]",
        ),
    }
}

fn check_generics(cx: &Ctxt, sig: &Signature) {
    if !sig.generics.params.is_empty() {
        cx.error_spanned_by(
            &sig.generics.params,
            "rpc methods cannot be generic; use a concrete type or dotrpc::Value",
        );
    } else if let Some(clause) = &sig.generics.where_clause {
        cx.error_spanned_by(clause, "rpc methods cannot have where clauses");
    }
    if let Some(unsafety) = &sig.unsafety {
        cx.error_spanned_by(unsafety, "rpc methods cannot be unsafe");
    }
}

/// A method has at most one stream param each way, is `async` (sending and
/// taking items waits), is not an event (an event has no caller to stream
/// with), and a method that answers with a stream returns `()` or
/// `Result<(), E>`.
fn check_streams(cx: &Ctxt, member: &Member<'_>) {
    let (sig, attr) = (member.sig, &member.attr);
    let streams: Vec<(StreamWay, &Type)> = member
        .args
        .iter()
        .filter_map(|arg| match arg.kind {
            ArgKind::Stream(way, _) => Some((way, arg.ty())),
            _ => None,
        })
        .collect();
    let Some(&(_, ty)) = streams.first() else {
        return;
    };
    for (index, (way, second)) in streams.iter().enumerate() {
        if streams[..index].iter().any(|(earlier, _)| earlier == way) {
            cx.error_spanned_by(
                second,
                "a method takes at most one stream each way: one ItemSink (its answer) and one ItemReceiver (its input)",
            );
        }
    }
    let answers = streams.iter().any(|(way, _)| *way == StreamWay::Answer);
    if sig.asyncness.is_none() {
        cx.error_spanned_by(
            ty,
            "a method with a stream is an `async fn`: sending and taking items waits",
        );
    }
    if attr.event.is_some() {
        cx.error_spanned_by(
            ty,
            "an event has no caller to stream with; drop #[rpc(event)] or the stream",
        );
    }
    if attr.idempotent.is_some() {
        cx.error_spanned_by(ty, "a stream call is never sent again (its items may have been taken); drop #[rpc(idempotent)]");
    }
    if answers {
        let ok = match &sig.output {
            ReturnType::Default => None,
            ReturnType::Type(_, ty) => Some(output_types(ty).0),
        };
        if let Some(ok) = ok.filter(|ok| !is_unit(ok)) {
            cx.error_spanned_by(ok, "a method that answers with a stream of items returns `()` or `Result<(), E>`: the items are its answer");
        }
    }
}

/// Params are named, owned values (decoded from the wire); a `CallContext`
/// may come first.
fn check_params(cx: &Ctxt, args: &[Arg<'_>]) {
    // A param with a default is left out only after every param that may
    // not be: one before a required param would never be.
    let mut required_after = false;
    for arg in args.iter().rev() {
        if !matches!(arg.kind, ArgKind::Value) {
            if let Some(span) = arg.default {
                cx.syn_error(syn::Error::new(
                    span,
                    "#[rpc(default)] goes on a param the call carries, not on a CallContext or a stream",
                ));
            }
            continue;
        }
        if let Some(span) = arg.default {
            if required_after {
                cx.syn_error(syn::Error::new(
                    span,
                    "a param with a default may be left out only at the end of a call; move it after the params that have none",
                ));
            }
        } else if !is_option(arg.ty()) {
            required_after = true;
        }
    }
    for (position, arg) in args.iter().enumerate() {
        if !matches!(&*arg.typed.pat, Pat::Ident(p) if p.subpat.is_none()) {
            cx.error_spanned_by(
                &arg.typed.pat,
                "rpc params must be plain names; destructure inside the method",
            );
        }
        match (arg.ty(), &arg.kind) {
            (Type::Reference(reference), _) => cx.error_spanned_by(
                reference.and_token,
                "rpc params are decoded into owned values; take `String`, `Vec<T>` or another owned type",
            ),
            (Type::ImplTrait(impl_trait), _) => cx.error_spanned_by(
                impl_trait,
                "rpc params need a concrete type to decode into; use one, or dotrpc::Value",
            ),
            (ty, ArgKind::Context) if position > 0 => {
                cx.error_spanned_by(ty, "a CallContext must be the first param after `&self`");
            }
            _ => {}
        }
    }
}

fn check_return(cx: &Ctxt, sig: &Signature, attr: &MemberAttr) {
    if let ReturnType::Type(_, ty) = &sig.output {
        if let Type::ImplTrait(_) = &**ty {
            cx.error_spanned_by(ty, "rpc methods return a concrete type; write `async fn` rather than returning `impl Future`");
        } else if let Type::Reference(reference) = &**ty {
            cx.error_spanned_by(
                reference.and_token,
                "rpc methods return owned values, which are encoded onto the wire",
            );
        } else if attr.event.is_some() && !is_unit(ty) {
            cx.error_spanned_by(ty, "events are one-way and cannot return a value; remove the return type or drop #[rpc(event)]");
        }
    }
}

/// `event`, `blocking` and `idempotent` say how a method is called, so they
/// do not go on a nested accessor; an event gets no reply, so it is never
/// sent again.
fn check_member_attr(cx: &Ctxt, attr: &MemberAttr) {
    if attr.nested.is_some() {
        for (name, span) in [
            ("event", attr.event),
            ("blocking", attr.blocking),
            ("idempotent", attr.idempotent),
        ] {
            if let Some(span) = span {
                cx.syn_error(syn::Error::new(
                    span,
                    format!(
                        "`{name}` applies to methods, not to a `#[rpc(nested)]` accessor; remove it"
                    ),
                ));
            }
        }
        if let Some(deprecated) = &attr.deprecated {
            cx.error_spanned_by(
                deprecated,
                "`deprecated` applies to methods, not to a `#[rpc(nested)]` accessor; deprecate its methods",
            );
        }
    } else if let (Some(_), Some(span)) = (attr.event, attr.idempotent) {
        cx.syn_error(syn::Error::new(
            span,
            "events get no reply and are never sent again; `idempotent` applies to calls, remove it",
        ));
    }
}

fn check_blocking(cx: &Ctxt, sig: &Signature, attr: &MemberAttr) {
    if let (Some(_), Some(asyncness)) = (attr.blocking, &sig.asyncness) {
        cx.error_spanned_by(asyncness, "#[rpc(blocking)] runs a plain `fn` off the runtime threads; remove `async` or the attribute");
    }
}

/// A nested accessor is `fn name(&self) -> &impl Api` in a trait, or
/// `fn name(&self) -> &ApiType` in an impl block.
fn check_nested(cx: &Ctxt, sig: &Signature, item: &Item) {
    if let Some(asyncness) = &sig.asyncness {
        cx.error_spanned_by(
            asyncness,
            "a nested API accessor is a plain `fn`, not `async`",
        );
    }
    if sig.inputs.len() > 1 {
        cx.error_spanned_by(&sig.inputs, "a nested API accessor takes only `&self`");
    }
    let expected = match item {
        Item::Trait(_) => {
            "a nested API accessor in a trait returns `&impl ApiTrait`, e.g. `fn math(&self) -> &impl Math;`"
        }
        Item::Impl(_) => {
            "a nested API accessor in an impl block returns `&ApiType`, a type with its own #[rpc_api] impl block"
        }
    };
    match item.nested_target(sig) {
        Some(_) => {}
        None => match &sig.output {
            ReturnType::Type(_, ty) => cx.error_spanned_by(ty, expected),
            ReturnType::Default => cx.error_spanned_by(&sig.ident, expected),
        },
    }
}

/// Wire names are unique within an API: the second is the error, with a note
/// on the first.
fn check_duplicates(cx: &Ctxt, names: &[(String, proc_macro2::Span)]) {
    for (index, (name, span)) in names.iter().enumerate() {
        if let Some((_, first)) = names[..index].iter().find(|(other, _)| other == name) {
            let mut error = syn::Error::new(
                *span,
                format!(
                    "the wire name `{name}` is used twice in this API (names and aliases share its paths); rename one with #[rpc(name = \"..\")] or drop the alias"
                ),
            );
            error.combine(syn::Error::new(
                *first,
                format!("`{name}` is first used here"),
            ));
            cx.syn_error(error);
        }
    }
}

/// An alias: the old path, relative to the API the member is in (`old_name`,
/// or `stats.mean` for a method that moved up out of `stats`).
fn check_alias(cx: &Ctxt, alias: &syn::LitStr) {
    if !is_path(&alias.value()) {
        cx.error_spanned_by(
            alias,
            "an alias is the old path, relative to this API: `old_name` or `old.path`",
        );
    }
}

/// A wire name segment: non-empty, no dots (nesting makes the dots).
fn check_wire_name(cx: &Ctxt, name: &syn::LitStr) {
    let value = name.value();
    if value.is_empty() || value.contains('.') || value.chars().any(char::is_whitespace) {
        cx.error_spanned_by(
            name,
            "a wire name is one path segment: not empty, no dots or spaces",
        );
    }
}

fn check_namespace(cx: &Ctxt, namespace: &syn::LitStr) {
    if !is_path(&namespace.value()) {
        cx.error_spanned_by(
            namespace,
            "a namespace is a dot-joined path such as `head` or `tools.fs`",
        );
    }
}

/// Dot-joined segments, none empty or with spaces.
fn is_path(value: &str) -> bool {
    !value.is_empty()
        && value
            .split('.')
            .all(|s| !s.is_empty() && !s.chars().any(char::is_whitespace))
}
