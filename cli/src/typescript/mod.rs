//! `rpc.describe`'s methods as TypeScript declarations, for the typed
//! client in `clients/typescript` (`connect<DemoApi>(url)`).
//!
//! Namespaces become nested object types, so `api.math.stats.mean(values)`
//! type-checks as `calc.math.stats.mean(..)` does in Rust. Types come from
//! the description's shapes (`shapes`): every struct and enum is declared.
//! A server before shapes gives only Rust type names: a name is translated
//! where msgpack gives it one meaning in JavaScript (as `@msgpack/msgpack`
//! decodes it); any other type is `unknown`, with the Rust type beside it in
//! a comment.

mod shapes;

use std::fmt::Write as _;

use dotrpc::{Description, schema::MethodDescription};

use crate::describe::{Namespace, required_params};

/// A module declaring `name`, the API of `description`, and the types it
/// takes and gives.
pub(crate) fn declarations(description: &Description, name: &str) -> String {
    let mut out = "// An API as its server's rpc.describe tells it, written by\n\
                   // `dotrpc describe ADDR --typescript`. Regenerate rather than edit.\n"
        .to_owned();
    if !description.types.is_empty() {
        out.push_str("// Integers are numbers: exact up to 2^53 (Number.MAX_SAFE_INTEGER).\n");
    }
    out.push('\n');
    shapes::declare(&description.types, &mut out);
    let _ = write!(out, "export interface {name} ");
    write_namespace(&Namespace::of(&description.methods), &mut out, 0);
    out.push('\n');
    out
}

/// `{ ... }`, members indented one level deeper than `depth`.
fn write_namespace(namespace: &Namespace<'_>, out: &mut String, depth: usize) {
    let indent = "  ".repeat(depth + 1);
    out.push_str("{\n");
    for (name, method) in &namespace.methods {
        if let Some(stream) = stream_note(method) {
            let _ = writeln!(out, "{indent}// {name}: {stream}");
            continue;
        }
        doc_comment(out, &indent, method);
        let signature = Signature::of(method);
        let required = required_params(method);
        let params: Vec<String> = method
            .params
            .iter()
            .enumerate()
            .zip(&signature.params)
            .map(|((i, p), ts)| {
                let optional = if i >= required { "?" } else { "" };
                format!("{}{optional}: {}", identifier(&p.name), ts.param())
            })
            .collect();
        let returns = if method.event {
            "void".to_owned()
        } else {
            signature.returns.returned()
        };
        let _ = writeln!(
            out,
            "{indent}{}({}): {returns};",
            property(name),
            params.join(", ")
        );
    }
    for (name, child) in &namespace.children {
        let _ = write!(out, "{indent}{}: ", property(name));
        write_namespace(child, out, depth + 1);
        out.push_str(";\n");
    }
    out.push_str(&"  ".repeat(depth));
    out.push('}');
}

/// A method's types in TypeScript: from its shapes where it has them,
/// else from its Rust type names.
struct Signature {
    params: Vec<TsType>,
    returns: TsType,
    error: Option<TsType>,
    stream: Option<TsType>,
    input: Option<TsType>,
}

impl Signature {
    fn of(method: &MethodDescription) -> Signature {
        match &method.shapes {
            Some(shapes) if shapes.params.len() == method.params.len() => Signature {
                params: shapes.params.iter().map(TsType::shaped).collect(),
                returns: TsType::shaped(&shapes.returns),
                error: shapes.error.as_ref().map(TsType::shaped),
                stream: shapes.stream.as_ref().map(TsType::shaped),
                input: shapes.input.as_ref().map(TsType::shaped),
            },
            _ => Signature {
                params: method.params.iter().map(|p| TsType::of(&p.ty)).collect(),
                returns: TsType::of(&method.returns),
                error: method.error.as_deref().map(TsType::of),
                stream: method.stream.as_deref().map(TsType::of),
                input: method.input.as_deref().map(TsType::of),
            },
        }
    }
}

/// What a method streams and how the client calls it, for one that does
/// (streams are called by path, not through the typed proxies).
fn stream_note(method: &MethodDescription) -> Option<String> {
    let params: Vec<String> = method.params.iter().map(|p| identifier(&p.name)).collect();
    let (path, params) = (&method.path, params.join(", "));
    let signature = Signature::of(method);
    let item = |ts: &Option<TsType>| ts.as_ref().map(TsType::param);
    match (item(&signature.stream), item(&signature.input)) {
        (Some(out), Some(input)) => Some(format!(
            "streams both ways, {input} in and {out} out: client.conversation<{input}, {out}>(\"{path}\", [{params}])",
        )),
        (Some(out), None) => Some(format!(
            "a stream of {out}: client.stream<{out}>(\"{path}\", [{params}])",
        )),
        (None, Some(input)) => Some(format!(
            "takes a stream of {input}: client.upload<{input}, {}>(\"{path}\", [{params}])",
            signature.returns.param()
        )),
        (None, None) => None,
    }
}

/// The method's docs, its application error and whether it is one-way,
/// as a JSDoc comment.
fn doc_comment(out: &mut String, indent: &str, method: &MethodDescription) {
    let error = match (&method.error, Signature::of(method).error) {
        (Some(error), Some(TsType::Unknown(_)) | None) => Some(format!(
            "@throws {{RpcError}} code `Application`, `data` a Rust `{error}`"
        )),
        (_, Some(data)) => Some(format!(
            "@throws {{RpcError<{0}>}} code `Application`, `data` a `{0}`",
            data.param()
        )),
        (None, None) => None,
    };
    let lines: Vec<String> = crate::describe::doc_lines(
        method,
        error,
        "One-way: send it with `.notify(...)`; nothing is answered.",
        |note| format!("@deprecated {note}"),
    )
    .into_iter()
    .map(|line| line.replace("*/", "*\\/"))
    .collect();
    match lines.as_slice() {
        [] => {}
        [line] => {
            let _ = writeln!(out, "{indent}/** {line} */");
        }
        lines => {
            let _ = writeln!(out, "{indent}/**");
            for line in lines {
                let line = format!("{indent} * {line}");
                let _ = writeln!(out, "{}", line.trim_end());
            }
            let _ = writeln!(out, "{indent} */");
        }
    }
}

/// A member name, quoted unless it is an identifier.
fn property(name: &str) -> String {
    if is_identifier(name) {
        name.to_owned()
    } else {
        format!("{name:?}")
    }
}

/// A param name as TypeScript takes it.
fn identifier(name: &str) -> String {
    let name = name.trim_start_matches("r#").trim_start_matches('_');
    if is_identifier(name) {
        name.to_owned()
    } else {
        format!(
            "p_{}",
            name.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        )
    }
}

/// Whether `name` can name a TypeScript interface or member as it is.
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// A Rust type as TypeScript sees its msgpack form.
#[derive(Debug, PartialEq)]
enum TsType {
    /// A type of one word, or an object type, needing no parentheses.
    Simple(String),
    /// `A | B`: parenthesised inside an array.
    Union(String),
    /// `()`: `void` as a result, `null` as a value.
    Unit,
    /// Not translated: `unknown`, with the Rust type.
    Unknown(String),
}

impl TsType {
    fn of(rust: &str) -> TsType {
        match parse(rust) {
            Some(ty) => translate(&ty),
            None => TsType::Unknown(rust.to_owned()),
        }
    }

    /// As a param's or an element's type.
    fn param(&self) -> String {
        match self {
            TsType::Simple(ts) | TsType::Union(ts) => ts.clone(),
            TsType::Unit => "null".into(),
            TsType::Unknown(rust) => format!("unknown /* {} */", rust.replace("*/", "*\\/")),
        }
    }

    /// As a method's result.
    fn returned(&self) -> String {
        match self {
            TsType::Unit => "void".into(),
            other => other.param(),
        }
    }

    /// As the element of an array.
    fn element(&self) -> String {
        match self {
            TsType::Union(ts) => format!("({ts})"),
            other => other.param(),
        }
    }
}

/// A parsed Rust type: a path's last segment with its generic arguments, a
/// tuple, or an array or slice.
#[derive(Debug)]
enum Rust {
    Path(String, Vec<Rust>),
    Tuple(Vec<Rust>),
    Array(Box<Rust>),
}

fn translate(ty: &Rust) -> TsType {
    let simple = |ts: &str| TsType::Simple(ts.to_owned());
    match ty {
        Rust::Tuple(items) if items.is_empty() => TsType::Unit,
        Rust::Tuple(items) => TsType::Simple(format!(
            "[{}]",
            items
                .iter()
                .map(|item| translate(item).param())
                .collect::<Vec<_>>()
                .join(", ")
        )),
        Rust::Array(item) => array(&translate(item)),
        Rust::Path(name, args) => match (name.as_str(), args.as_slice()) {
            (
                "i8" | "i16" | "i32" | "i64" | "isize" | "u8" | "u16" | "u32" | "u64" | "usize"
                | "f32" | "f64" | "NonZeroU32" | "NonZeroU64",
                [],
            ) => simple("number"),
            ("bool", []) => simple("boolean"),
            ("String" | "str" | "char" | "Cow", _) if is_str(name, args) => simple("string"),
            ("Blob" | "Bytes" | "ByteBuf" | "BytesMut", []) => simple("Uint8Array"),
            ("Box" | "Arc" | "Rc", [inner]) => translate(inner),
            ("Option", [inner]) => match translate(inner) {
                TsType::Unknown(_) => TsType::Unknown(render(ty)),
                inner => TsType::Union(format!("{} | null", inner.param())),
            },
            ("Vec" | "VecDeque" | "HashSet" | "BTreeSet" | "IndexSet", [item]) => {
                array(&translate(item))
            }
            ("HashMap" | "BTreeMap" | "IndexMap", [key, value]) => {
                let key = match translate(key) {
                    TsType::Simple(key) if key == "string" || key == "number" => key,
                    _ => return TsType::Unknown(render(ty)),
                };
                match translate(value) {
                    TsType::Unknown(_) => TsType::Unknown(render(ty)),
                    value => TsType::Simple(format!("Record<{key}, {}>", value.param())),
                }
            }
            _ => TsType::Unknown(render(ty)),
        },
    }
}

fn array(item: &TsType) -> TsType {
    match item {
        TsType::Unknown(_) => TsType::Simple(format!("{}[]", item.param())),
        item => TsType::Simple(format!("{}[]", item.element())),
    }
}

fn is_str(name: &str, args: &[Rust]) -> bool {
    match name {
        "Cow" => {
            matches!(args, [Rust::Path(inner, inner_args)] if inner == "str" && inner_args.is_empty())
        }
        _ => args.is_empty(),
    }
}

/// The Rust type written back, for comments.
fn render(ty: &Rust) -> String {
    match ty {
        Rust::Path(name, args) if args.is_empty() => name.clone(),
        Rust::Path(name, args) => format!(
            "{name}<{}>",
            args.iter().map(render).collect::<Vec<_>>().join(", ")
        ),
        Rust::Tuple(items) => format!(
            "({})",
            items.iter().map(render).collect::<Vec<_>>().join(", ")
        ),
        Rust::Array(item) => format!("[{}]", render(item)),
    }
}

/// Parses a Rust type as `stringify!` writes it; `None` for what it does
/// not know (function pointers, trait objects).
fn parse(rust: &str) -> Option<Rust> {
    let tokens = tokenize(rust);
    let mut parser = Parser { tokens, at: 0 };
    let ty = parser.ty()?;
    (parser.at == parser.tokens.len()).then_some(ty)
}

fn tokenize(rust: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut chars = rust.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c.is_alphanumeric() || c == '_' || c == '\'' {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_alphanumeric() || c == '_' || c == '\'' {
                    word.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            tokens.push(word);
        } else if c == ':' {
            chars.next();
            if chars.peek() == Some(&':') {
                chars.next();
            }
            tokens.push("::".into());
        } else {
            tokens.push(c.to_string());
            chars.next();
        }
    }
    tokens
}

struct Parser {
    tokens: Vec<String>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }

    fn next(&mut self) -> Option<String> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn eat(&mut self, token: &str) -> bool {
        let found = self.peek() == Some(token);
        if found {
            self.at += 1;
        }
        found
    }

    fn ty(&mut self) -> Option<Rust> {
        if self.eat("&") {
            if self.peek().is_some_and(|t| t.starts_with('\'')) {
                self.at += 1;
            }
            self.eat("mut");
            return self.ty();
        }
        if self.eat("(") {
            let items = self.list(")")?;
            return Some(Rust::Tuple(items));
        }
        if self.eat("[") {
            let item = self.ty()?;
            if self.eat(";") {
                // The length: a number or a constant, up to the bracket.
                while self.peek().is_some_and(|t| t != "]") {
                    self.at += 1;
                }
            }
            return self.eat("]").then(|| Rust::Array(Box::new(item)));
        }
        let mut name = self.next()?;
        if !name.chars().next()?.is_alphabetic() && !name.starts_with('_') {
            return None;
        }
        while self.eat("::") {
            name = self.next()?;
        }
        let args = if self.eat("<") {
            self.list(">")?
        } else {
            Vec::new()
        };
        Some(Rust::Path(name, args))
    }

    /// Types separated by commas up to `close` (eaten); lifetimes skipped.
    fn list(&mut self, close: &str) -> Option<Vec<Rust>> {
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                return Some(items);
            }
            if self.peek().is_some_and(|t| t.starts_with('\'')) {
                self.at += 1;
            } else {
                items.push(self.ty()?);
            }
            if !self.eat(",") {
                return self.eat(close).then_some(items);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(rust: &str) -> String {
        TsType::of(rust).returned()
    }

    #[test]
    fn types_translate_where_msgpack_gives_them_one_meaning() {
        assert_eq!(ts("i64"), "number");
        assert_eq!(ts("f64"), "number");
        assert_eq!(ts("String"), "string");
        assert_eq!(ts("&'a str"), "string");
        assert_eq!(ts("Cow<'static, str>"), "string");
        assert_eq!(ts("bool"), "boolean");
        assert_eq!(ts("()"), "void");
        assert_eq!(ts("dotrpc::Blob"), "Uint8Array");
        assert_eq!(ts("Vec<f64>"), "number[]");
        assert_eq!(
            ts("Vec<u8>"),
            "number[]",
            "rmp-serde writes a Vec<u8> as an array"
        );
        assert_eq!(ts("&[String]"), "string[]");
        assert_eq!(ts("[u8; 4]"), "number[]");
        assert_eq!(ts("Option<String>"), "string | null");
        assert_eq!(ts("Vec<Option<i64>>"), "(number | null)[]");
        assert_eq!(ts("(i64, String)"), "[number, string]");
        assert_eq!(
            ts("std::collections::HashMap<String, Vec<i64>>"),
            "Record<string, number[]>"
        );
        assert_eq!(ts("BTreeMap<u32, bool>"), "Record<number, boolean>");
        assert_eq!(ts("Arc<Box<str>>"), "string");
    }

    #[test]
    fn other_types_are_unknown_with_the_rust_type_beside() {
        assert_eq!(ts("ShopItem"), "unknown /* ShopItem */");
        assert_eq!(ts("Option<Item>"), "unknown /* Option<Item> */");
        assert_eq!(ts("Vec<Item>"), "unknown /* Item */[]");
        assert_eq!(ts("HashMap<Key, i64>"), "unknown /* HashMap<Key, i64> */");
        assert_eq!(ts("rmpv::Value"), "unknown /* Value */");
        assert_eq!(ts("fn(i32) -> i32"), "unknown /* fn(i32) -> i32 */");
        assert_eq!(ts("Weird*/Type"), "unknown /* Weird*\\/Type */");
    }

    #[test]
    fn namespaces_nest_with_docs_errors_and_events() {
        use crate::describe::tests::method;
        let mut div = method("math.div", &[("a", "f64"), ("b", "f64")], "f64");
        div.error = Some("String".into());
        div.docs = "Divides.\n\nBy zero fails.".into();
        let mut log = method("log", &[("_line", "Value")], "()");
        log.event = true;
        let mut add = method("add", &[("a", "i64"), ("b", "i64")], "i64");
        add.docs = "Adds.".into();
        let mut page = method(
            "page",
            &[
                ("query", "Option<String>"),
                ("n", "u32"),
                ("size", "Option<u32>"),
            ],
            "u32",
        );
        page.deprecated = Some("use list".into());
        page.aliases = vec!["paged".into()];
        let methods = dotrpc::Description {
            methods: vec![
                div,
                log,
                add,
                page,
                method("math.stats.mean", &[("values", "Vec<f64>")], "f64"),
                method("rpc.describe", &[], "Vec<MethodDescription>"),
            ],
            ..dotrpc::Description::default()
        };
        let expected = "\
// An API as its server's rpc.describe tells it, written by
// `dotrpc describe ADDR --typescript`. Regenerate rather than edit.

export interface Demo {
  /** Adds. */
  add(a: number, b: number): number;
  /** One-way: send it with `.notify(...)`; nothing is answered. */
  log(line: unknown /* Value */): void;
  /**
   * Also answers at its old paths: paged.
   * @deprecated use list
   */
  page(query: string | null, n: number, size?: number | null): number;
  math: {
    /**
     * Divides.
     *
     * By zero fails.
     * @throws {RpcError<string>} code `Application`, `data` a `string`
     */
    div(a: number, b: number): number;
    stats: {
      mean(values: number[]): number;
    };
  };
}
";
        assert_eq!(declarations(&methods, "Demo"), expected);
    }
}
