//! The input, as written: a trait or an inherent impl block, and its methods.
//!
//! Parsing only builds data borrowed from the input: it reads our
//! attributes (reporting the ones it cannot read) and classifies each param
//! once (the context, a stream's end, or a value the call carries), for
//! `validate` to judge and `model` to build from.

use proc_macro2::{Span, TokenStream};
use syn::{Attribute, FnArg, Ident, ImplItem, PatType, Signature, TraitItem, Type};

use crate::attr::{self, MemberAttr};
use crate::ctxt::Ctxt;
use crate::types::{self, StreamWay};

/// The item `#[rpc_api]` is on.
pub(crate) enum Item {
    /// The contract form: a trait servers implement and clients get a stub of.
    Trait(syn::ItemTrait),
    /// The quick form: one type is both the handler and the source of the stub.
    Impl(syn::ItemImpl),
}

/// One method of the item, as written.
pub(crate) struct Member<'a> {
    pub(crate) attrs: &'a [Attribute],
    pub(crate) sig: &'a Signature,
    /// Its `#[rpc(..)]` attributes, read once.
    pub(crate) attr: MemberAttr,
    /// Its params after the receiver, each classified once (none for a
    /// skipped helper or a nested accessor).
    pub(crate) args: Vec<Arg<'a>>,
}

/// One param of a method, as written, and what it is.
pub(crate) struct Arg<'a> {
    pub(crate) typed: &'a PatType,
    pub(crate) kind: ArgKind<'a>,
    /// Where a `#[rpc(default)]` on it is.
    pub(crate) default: Option<Span>,
}

/// What a param is to the generated glue.
pub(crate) enum ArgKind<'a> {
    /// The call's `CallContext` (valid only first).
    Context,
    /// One end of a stream, with its item type.
    Stream(StreamWay, &'a Type),
    /// A value the call's params carry.
    Value,
}

impl Arg<'_> {
    pub(crate) fn ty(&self) -> &Type {
        &self.typed.ty
    }
}

/// The params of `sig` after its receiver, classified; their `#[rpc(..)]`
/// attributes read (what cannot be read is reported to `cx`).
fn args<'a>(cx: &Ctxt, sig: &'a Signature) -> Vec<Arg<'a>> {
    sig.inputs
        .iter()
        .skip(1)
        .filter_map(|arg| match arg {
            FnArg::Typed(typed) => Some(typed),
            FnArg::Receiver(_) => None,
        })
        .map(|typed| {
            let kind = if types::is_context(&typed.ty) {
                ArgKind::Context
            } else if let Some((way, item)) = types::stream_param(&typed.ty) {
                ArgKind::Stream(way, item)
            } else {
                ArgKind::Value
            };
            let default = attr::parse_param(cx, &typed.attrs);
            Arg {
                typed,
                kind,
                default,
            }
        })
        .collect()
}

impl Item {
    pub(crate) fn parse(input: TokenStream) -> syn::Result<Item> {
        match syn::parse2::<syn::Item>(input)? {
            syn::Item::Trait(item) => Ok(Item::Trait(item)),
            syn::Item::Impl(item) => Ok(Item::Impl(item)),
            other => Err(syn::Error::new_spanned(
                other,
                "#[rpc_api] goes on a trait or on an inherent impl block",
            )),
        }
    }

    /// Its methods, with their `#[rpc(..)]` attributes read (what cannot be
    /// read is reported to `cx`).
    pub(crate) fn members(&self, cx: &Ctxt) -> Vec<Member<'_>> {
        let fns: Vec<(&[Attribute], &Signature)> = match self {
            Item::Trait(item) => item
                .items
                .iter()
                .filter_map(|i| match i {
                    TraitItem::Fn(f) => Some((&f.attrs[..], &f.sig)),
                    _ => None,
                })
                .collect(),
            Item::Impl(item) => item
                .items
                .iter()
                .filter_map(|i| match i {
                    ImplItem::Fn(f) => Some((&f.attrs[..], &f.sig)),
                    _ => None,
                })
                .collect(),
        };
        fns.into_iter()
            .map(|(attrs, sig)| {
                let attr = MemberAttr::parse(cx, attrs);
                let is_method = attr.skip.is_none() && attr.nested.is_none();
                Member {
                    attrs,
                    sig,
                    args: if is_method { args(cx, sig) } else { Vec::new() },
                    attr,
                }
            })
            .collect()
    }

    /// The name generated items derive from: the trait's, or the impl's type's.
    pub(crate) fn ident(&self) -> Option<&Ident> {
        match self {
            Item::Trait(item) => Some(&item.ident),
            Item::Impl(item) => match &*item.self_ty {
                syn::Type::Path(path) => path.path.segments.last().map(|s| &s.ident),
                _ => None,
            },
        }
    }

    /// The path of the nested API a well-shaped accessor returns: `&impl
    /// Api` in a trait, `&ApiType` in an impl block.
    pub(crate) fn nested_target<'a>(&self, sig: &'a Signature) -> Option<&'a syn::Path> {
        let syn::ReturnType::Type(_, ty) = &sig.output else {
            return None;
        };
        let Type::Reference(reference) = &**ty else {
            return None;
        };
        if reference.mutability.is_some() {
            return None;
        }
        match (self, &*reference.elem) {
            (Item::Trait(_), Type::ImplTrait(impl_trait)) if impl_trait.bounds.len() == 1 => {
                match impl_trait.bounds.first() {
                    Some(syn::TypeParamBound::Trait(bound)) => Some(&bound.path),
                    _ => None,
                }
            }
            (Item::Impl(_), Type::Path(path)) if path.qself.is_none() => Some(&path.path),
            _ => None,
        }
    }

    pub(crate) fn attrs(&self) -> &[Attribute] {
        match self {
            Item::Trait(item) => &item.attrs,
            Item::Impl(item) => &item.attrs,
        }
    }
}
