//! The attributes: `#[rpc_api(namespace = "..", crate = "..")]` on the item
//! and `#[rpc(name = "..", alias = "..", deprecated = "..", nested, event,
//! blocking, idempotent, skip)]` on its members.
//!
//! Unknown keys and repeated keys are errors on the key itself.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::{Attribute, LitStr, Path};

use crate::ctxt::Ctxt;

/// The arguments of `#[rpc_api(..)]`.
#[derive(Default)]
pub(crate) struct ApiAttr {
    pub(crate) namespace: Option<LitStr>,
    pub(crate) krate: Option<Path>,
}

impl ApiAttr {
    pub(crate) fn parse(cx: &Ctxt, args: proc_macro2::TokenStream) -> Self {
        let mut attr = ApiAttr::default();
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident("namespace") {
                set_once(cx, &meta, &mut attr.namespace, meta.value()?.parse()?);
            } else if meta.path.is_ident("crate") {
                let path: LitStr = meta.value()?.parse()?;
                set_once(cx, &meta, &mut attr.krate, path.parse()?);
            } else {
                return Err(meta.error(
                    "unknown rpc_api argument; expected `namespace = \"..\"` or `crate = \"..\"`",
                ));
            }
            Ok(())
        });
        if let Err(error) = syn::parse::Parser::parse2(parser, args) {
            cx.syn_error(error);
        }
        attr
    }
}

/// The arguments of `#[rpc(..)]` on one member.
#[derive(Default)]
pub(crate) struct MemberAttr {
    pub(crate) name: Option<LitStr>,
    /// Old paths the member still answers at; `alias` may be given again.
    pub(crate) aliases: Vec<LitStr>,
    pub(crate) deprecated: Option<LitStr>,
    pub(crate) nested: Option<Span>,
    pub(crate) event: Option<Span>,
    pub(crate) blocking: Option<Span>,
    pub(crate) idempotent: Option<Span>,
    pub(crate) skip: Option<Span>,
}

impl MemberAttr {
    /// Reads every `#[rpc(..)]` among `attrs`.
    pub(crate) fn parse(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut attr = MemberAttr::default();
        for rpc in attrs.iter().filter(|a| a.path().is_ident("rpc")) {
            let result = rpc.parse_nested_meta(|meta| {
                let span = meta.path.get_ident().map_or_else(Span::call_site, |i| i.span());
                if meta.path.is_ident("name") {
                    set_once(cx, &meta, &mut attr.name, meta.value()?.parse()?);
                } else if meta.path.is_ident("alias") {
                    attr.aliases.push(meta.value()?.parse()?);
                } else if meta.path.is_ident("deprecated") {
                    set_once(cx, &meta, &mut attr.deprecated, meta.value()?.parse()?);
                } else if meta.path.is_ident("nested") {
                    set_once(cx, &meta, &mut attr.nested, span);
                } else if meta.path.is_ident("event") {
                    set_once(cx, &meta, &mut attr.event, span);
                } else if meta.path.is_ident("blocking") {
                    set_once(cx, &meta, &mut attr.blocking, span);
                } else if meta.path.is_ident("idempotent") {
                    set_once(cx, &meta, &mut attr.idempotent, span);
                } else if meta.path.is_ident("skip") {
                    set_once(cx, &meta, &mut attr.skip, span);
                } else {
                    return Err(meta.error(
                        "unknown rpc attribute; expected `name = \"..\"`, `alias = \"..\"`, `deprecated = \"..\"`, `nested`, `event`, `blocking`, `idempotent` or `skip`",
                    ));
                }
                Ok(())
            });
            if let Err(error) = result {
                cx.syn_error(error);
            }
        }
        attr
    }
}

fn set_once<T>(cx: &Ctxt, meta: &ParseNestedMeta<'_>, slot: &mut Option<T>, value: T) {
    if slot.is_some() {
        cx.error_spanned_by(&meta.path, "this argument is given twice; keep one");
    } else {
        *slot = Some(value);
    }
}

/// The arguments of `#[rpc(..)]` on one param: only `default`.
pub(crate) fn parse_param(cx: &Ctxt, attrs: &[Attribute]) -> Option<Span> {
    let mut default = None;
    for rpc in attrs.iter().filter(|a| a.path().is_ident("rpc")) {
        let result = rpc.parse_nested_meta(|meta| {
            if meta.path.is_ident("default") {
                let span = meta
                    .path
                    .get_ident()
                    .map_or_else(Span::call_site, |i| i.span());
                set_once(cx, &meta, &mut default, span);
                Ok(())
            } else {
                Err(meta.error("unknown rpc param attribute; expected `default`"))
            }
        });
        if let Err(error) = result {
            cx.syn_error(error);
        }
    }
    default
}

/// The attributes without ours, to emit the user's item unchanged otherwise.
pub(crate) fn strip(attrs: &mut Vec<Attribute>) {
    attrs.retain(|a| !a.path().is_ident("rpc"));
}

/// The doc comment of an item, its lines joined, leading spaces trimmed once.
pub(crate) fn docs(attrs: &[Attribute]) -> String {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .map(|line| line.strip_prefix(' ').unwrap_or(&line).to_owned())
        .collect();
    lines.join("\n").trim().to_owned()
}
