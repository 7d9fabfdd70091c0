//! What the types of a method's signature are, as the macro reads them: the
//! `CallContext` a method may take first, the ends of its streams and their
//! items, `Option` and `()`, and the parts of a `Result`. `parse` classifies
//! each param with them once, and `validate` and `model` read the return
//! type with them, so every phase reads a type the same way.

use syn::Type;

/// Whether `ty` is the `CallContext` a method may take first.
pub(crate) fn is_context(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none()
        && p.path.segments.last().is_some_and(|s| s.ident == "CallContext" && s.arguments.is_none()))
}

/// Which stream a param of type `ItemSink<T>` (the method answers with a
/// stream of `T`) or `ItemReceiver<T>` (its input is a stream of `T`) is,
/// with `T`; `None` for any other param.
pub(crate) fn stream_param(ty: &Type) -> Option<(StreamWay, &Type)> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    let way = match last.ident.to_string().as_str() {
        "ItemSink" => StreamWay::Answer,
        "ItemReceiver" => StreamWay::Input,
        _ => return None,
    };
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.iter().collect::<Vec<_>>()[..] {
        [syn::GenericArgument::Type(item)] => Some((way, item)),
        _ => None,
    }
}

/// Which way a method's stream goes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamWay {
    /// The method answers with items (`ItemSink`).
    Answer,
    /// The method takes items as its input (`ItemReceiver`).
    Input,
}

/// Whether `ty` is written `Option<T>` (what a call may leave out).
pub(crate) fn is_option(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none()
        && p.path.segments.last().is_some_and(|s| s.ident == "Option"
            && matches!(s.arguments, syn::PathArguments::AngleBracketed(_))))
}

/// Whether `ty` is `()`.
pub(crate) fn is_unit(ty: &Type) -> bool {
    matches!(ty, Type::Tuple(t) if t.elems.is_empty())
}

/// A return type's `ok` and application error: `Result<ok, err>`, or the
/// type alone.
pub(crate) fn output_types(ty: &Type) -> (&Type, Option<&Type>) {
    if let Type::Path(path) = ty
        && let Some(last) = path.path.segments.last()
        && last.ident == "Result"
        && let syn::PathArguments::AngleBracketed(args) = &last.arguments
    {
        let types: Vec<&Type> = args
            .args
            .iter()
            .filter_map(|a| match a {
                syn::GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect();
        if let [ok, err] = types[..] {
            return (ok, Some(err));
        }
    }
    (ty, None)
}
