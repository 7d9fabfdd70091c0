//! The checked API as plain data: what expansion needs and nothing else.
//!
//! Built only after validation; holds no token streams of its own making, only
//! the user's idents, types and paths (with their spans, so generated code
//! points errors at what the user wrote).

use proc_macro2::Span;
use quote::{ToTokens, format_ident};
use syn::{Ident, Pat, ReturnType, Type, Visibility};

use crate::attr::{self, ApiAttr};
use crate::parse::{ArgKind, Item, Member};
use crate::types::{self, StreamWay};

pub(crate) struct Api {
    pub(crate) form: Form,
    pub(crate) ident: Ident,
    pub(crate) vis: Visibility,
    pub(crate) namespace: Option<String>,
    /// The path generated code reaches the runtime by: `::dotrpc` by default.
    pub(crate) krate: syn::Path,
    pub(crate) docs: String,
    pub(crate) methods: Vec<Method>,
    pub(crate) nested: Vec<Nested>,
}

pub(crate) enum Form {
    Trait,
    Impl { self_ty: Box<Type> },
}

pub(crate) struct Method {
    pub(crate) ident: Ident,
    pub(crate) wire: String,
    pub(crate) docs: String,
    pub(crate) call: CallKind,
    pub(crate) event: bool,
    /// Safe to send again on a new connection (`#[rpc(idempotent)]`).
    pub(crate) idempotent: bool,
    /// Old paths it still answers at, relative to the API.
    pub(crate) aliases: Vec<String>,
    /// Why it is deprecated, and what to call instead.
    pub(crate) deprecated: Option<String>,
    /// Takes a `CallContext` first (not sent on the wire).
    pub(crate) context: bool,
    /// The params the wire carries, in order.
    pub(crate) params: Vec<Param>,
    /// Every param after the context, in the order the method takes them
    /// (the wire's and the stream, if any).
    pub(crate) args: Vec<Ident>,
    /// The `ItemSink<T>` param of a method that answers with a stream.
    pub(crate) answer: Option<StreamParam>,
    /// The `ItemReceiver<T>` param of a method whose input is a stream.
    pub(crate) input: Option<StreamParam>,
    pub(crate) output: Output,
}

/// A param that is one way of a stream.
pub(crate) struct StreamParam {
    pub(crate) ident: Ident,
    /// The item type `T`.
    pub(crate) item: Type,
}

/// How the server glue calls the method.
pub(crate) enum CallKind {
    Async,
    /// A plain `fn`, called inline.
    Sync,
    /// A plain `fn` run on the blocking pool.
    Blocking,
}

pub(crate) struct Param {
    pub(crate) ident: Ident,
    pub(crate) ty: Type,
    /// Marked `#[rpc(default)]`: left out, it reads as its `Default`.
    pub(crate) default: bool,
    /// A call may leave it out: it and every param after it are `Option`s
    /// or have a default.
    pub(crate) optional: bool,
}

/// What a method returns: `ok` alone, or `Result<ok, err>`.
pub(crate) struct Output {
    pub(crate) ok: Type,
    /// The application error, for methods returning `Result`.
    pub(crate) err: Option<Type>,
}

pub(crate) struct Nested {
    pub(crate) ident: Ident,
    pub(crate) wire: String,
    /// Old paths of the whole namespace, relative to the API.
    pub(crate) aliases: Vec<String>,
    pub(crate) docs: String,
    /// The nested API: its trait (trait form) or its type (impl form).
    pub(crate) target: syn::Path,
    /// Trait form: the associated type the accessor's `&impl Trait` becomes.
    pub(crate) assoc: Ident,
}

impl Api {
    /// The model of `item`, which `validate::check` passed; `None` if it
    /// names no type.
    pub(crate) fn from_item(attr: ApiAttr, item: &Item, members: &[Member<'_>]) -> Option<Api> {
        let ident = item.ident()?.clone();
        let (form, vis) = match item {
            Item::Trait(t) => (Form::Trait, t.vis.clone()),
            Item::Impl(i) => (
                Form::Impl {
                    self_ty: i.self_ty.clone(),
                },
                syn::parse_quote!(pub),
            ),
        };
        let mut methods = Vec::new();
        let mut nested = Vec::new();
        for member in members.iter().filter(|member| member.attr.skip.is_none()) {
            let (sig, member_attr) = (member.sig, &member.attr);
            let wire = member_attr
                .name
                .as_ref()
                .map_or_else(|| sig.ident.to_string(), syn::LitStr::value);
            let aliases: Vec<String> = member_attr.aliases.iter().map(syn::LitStr::value).collect();
            let docs = attr::docs(member.attrs);
            if member_attr.nested.is_none() {
                methods.push(method(member, wire, aliases, docs));
                continue;
            }
            if let Some(target) = item.nested_target(sig) {
                nested.push(Nested {
                    ident: sig.ident.clone(),
                    wire,
                    aliases,
                    docs,
                    target: target.clone(),
                    assoc: format_ident!(
                        "{}",
                        upper_camel(&sig.ident.to_string()),
                        span = sig.ident.span()
                    ),
                });
            }
        }
        Some(Api {
            form,
            ident,
            vis,
            namespace: attr.namespace.as_ref().map(syn::LitStr::value),
            krate: attr.krate.unwrap_or_else(|| syn::parse_quote!(::dotrpc)),
            docs: attr::docs(item.attrs()),
            methods,
            nested,
        })
    }

    /// The generated client type: `CalculatorClient`.
    pub(crate) fn client_ident(&self) -> Ident {
        format_ident!("{}Client", self.ident, span = self.ident.span())
    }

    /// The generated events-to-many stub: `CalculatorBroadcast`.
    pub(crate) fn broadcast_ident(&self) -> Ident {
        format_ident!("{}Broadcast", self.ident, span = self.ident.span())
    }

    /// The generated service wrapper of a trait: `CalculatorService`.
    pub(crate) fn service_ident(&self) -> Ident {
        format_ident!("{}Service", self.ident, span = self.ident.span())
    }
}

fn method(member: &Member<'_>, wire: String, aliases: Vec<String>, docs: String) -> Method {
    let (sig, attr) = (member.sig, &member.attr);
    let mut context = false;
    let mut params = Vec::new();
    let mut args = Vec::new();
    let (mut answer, mut input) = (None, None);
    for (position, arg) in member.args.iter().enumerate() {
        let ident = match &*arg.typed.pat {
            Pat::Ident(p) => p.ident.clone(),
            other => format_ident!(
                "__dotrpc_param_{}",
                position,
                span = other.span_or_call_site()
            ),
        };
        match arg.kind {
            ArgKind::Context => context = true,
            ArgKind::Stream(way, item) => {
                args.push(ident.clone());
                let slot = match way {
                    StreamWay::Answer => &mut answer,
                    StreamWay::Input => &mut input,
                };
                slot.get_or_insert(StreamParam {
                    ident,
                    item: item.clone(),
                });
            }
            ArgKind::Value => {
                args.push(ident.clone());
                params.push(Param {
                    ident,
                    ty: arg.ty().clone(),
                    default: arg.default.is_some(),
                    optional: false,
                });
            }
        }
    }
    // The trailing run of params that may be missing may be left out.
    for param in params.iter_mut().rev() {
        if !(param.default || types::is_option(&param.ty)) {
            break;
        }
        param.optional = true;
    }
    let call = match (&sig.asyncness, attr.blocking) {
        (Some(_), _) => CallKind::Async,
        (None, Some(_)) => CallKind::Blocking,
        (None, None) => CallKind::Sync,
    };
    Method {
        ident: sig.ident.clone(),
        wire,
        docs,
        call,
        event: attr.event.is_some(),
        idempotent: attr.idempotent.is_some(),
        aliases,
        deprecated: attr.deprecated.as_ref().map(syn::LitStr::value),
        context,
        params,
        args,
        answer,
        input,
        output: output(&sig.output),
    }
}

fn output(ret: &ReturnType) -> Output {
    let ty = match ret {
        ReturnType::Default => {
            return Output {
                ok: syn::parse_quote!(()),
                err: None,
            };
        }
        ReturnType::Type(_, ty) => &**ty,
    };
    let (ok, err) = types::output_types(ty);
    Output {
        ok: ok.clone(),
        err: err.cloned(),
    }
}

trait SpanOrCallSite {
    fn span_or_call_site(&self) -> Span;
}

impl<T: ToTokens> SpanOrCallSite for T {
    fn span_or_call_site(&self) -> Span {
        self.to_token_stream()
            .into_iter()
            .next()
            .map_or_else(Span::call_site, |t| t.span())
    }
}

/// `deeper_api` → `DeeperApi`.
fn upper_camel(snake: &str) -> String {
    snake
        .split('_')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

/// A type as written, tidied for descriptions: `Vec < f64 >` → `Vec<f64>`.
/// A space survives only between two word characters (`dyn Trait`,
/// `&'a mut T`); commas and semicolons are followed by one.
pub(crate) fn type_name(ty: &Type) -> String {
    let raw: Vec<char> = ty.to_token_stream().to_string().chars().collect();
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '\'';
    let mut out = String::with_capacity(raw.len());
    for (index, &c) in raw.iter().enumerate() {
        match c {
            ' ' => {
                let between_words = out.chars().last().is_some_and(word)
                    && raw.get(index + 1).is_some_and(|&n| word(n));
                if between_words {
                    out.push(' ');
                }
            }
            ',' | ';' => out.push_str(&format!("{c} ")),
            _ => out.push(c),
        }
    }
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_read_as_written() {
        let cases: [(Type, &str); 6] = [
            (
                syn::parse_quote!(&'a mut dyn std::io::Write),
                "&'a mut dyn std::io::Write",
            ),
            (
                syn::parse_quote!(Result<(), Box<str>>),
                "Result<(), Box<str>>",
            ),
            (syn::parse_quote!(Vec<f64>), "Vec<f64>"),
            (
                syn::parse_quote!(std::collections::HashMap<String, Vec<u8>>),
                "std::collections::HashMap<String, Vec<u8>>",
            ),
            (
                syn::parse_quote!((i64, Option<String>)),
                "(i64, Option<String>)",
            ),
            (syn::parse_quote!([u8; 4]), "[u8; 4]"),
        ];
        for (ty, expected) in cases {
            assert_eq!(type_name(&ty), expected);
        }
    }

    #[test]
    fn accessors_become_upper_camel_types() {
        assert_eq!(upper_camel("math"), "Math");
        assert_eq!(upper_camel("deeper_api"), "DeeperApi");
    }
}
