//! The input, as written: a trait or an inherent impl block, and its methods.
//!
//! Parsing only builds data borrowed from the input (and reads our
//! attributes, reporting the ones it cannot read); whether it is valid is
//! for `validate` to say.

use proc_macro2::TokenStream;
use syn::{Attribute, Ident, ImplItem, Signature, TraitItem};

use crate::attr::MemberAttr;
use crate::ctxt::Ctxt;

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
            .map(|(attrs, sig)| Member {
                attrs,
                sig,
                attr: MemberAttr::parse(cx, attrs),
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

    pub(crate) fn attrs(&self) -> &[Attribute] {
        match self {
            Item::Trait(item) => &item.attrs,
            Item::Impl(item) => &item.attrs,
        }
    }
}
