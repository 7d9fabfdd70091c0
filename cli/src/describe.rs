//! `rpc.describe`'s flat method list printed as the namespace tree it is,
//! then the shapes of the types it names.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use dotrpc::{Description, schema::MethodDescription};

/// The methods as an indented tree: each namespace once, each method with its
/// signature and the first line of its docs; then each named type's shape.
pub(crate) fn tree(description: &Description) -> String {
    let mut out = methods(&description.methods);
    if !description.types.is_empty() {
        out.push_str("\ntypes\n");
        for (name, def) in &description.types {
            let _ = writeln!(out, "  {}", def.declaration(name));
        }
    }
    out
}

/// The methods as the namespace tree their paths make (`rpc.*` left
/// out), which the code generators write as nested types.
#[derive(Default)]
pub(crate) struct Namespace<'a> {
    pub(crate) methods: BTreeMap<String, &'a MethodDescription>,
    pub(crate) children: BTreeMap<String, Namespace<'a>>,
}

impl<'a> Namespace<'a> {
    pub(crate) fn of(methods: &'a [MethodDescription]) -> Self {
        let mut root = Namespace::default();
        for method in methods.iter().filter(|m| !m.path.starts_with("rpc.")) {
            let mut parts: Vec<&str> = method.path.split('.').collect();
            let leaf = parts.pop().unwrap_or_default();
            let namespace = parts.into_iter().fold(&mut root, |namespace, part| {
                namespace.children.entry(part.to_owned()).or_default()
            });
            namespace.methods.insert(leaf.to_owned(), method);
        }
        root
    }
}

/// How many of a method's params a call must send: those before the
/// trailing run that may be left out (marked `optional`, or, in
/// descriptions from before the mark, trailing `Option`s).
pub(crate) fn required_params(method: &MethodDescription) -> usize {
    method
        .params
        .iter()
        .rposition(|p| !(p.optional || p.ty.starts_with("Option<")))
        .map_or(0, |last| last + 1)
}

/// What a generated declaration's doc comment says of a method, in the
/// words of its language: the method's docs, its `error` line, `event` if
/// it is one-way, whether it is safe to repeat, its old paths and its
/// deprecation (`deprecated` writes the note).
pub(crate) fn doc_lines(
    method: &MethodDescription,
    error: Option<String>,
    event: &str,
    deprecated: impl Fn(&str) -> String,
) -> Vec<String> {
    let mut lines: Vec<String> = method
        .docs
        .trim()
        .lines()
        .map(|line| line.trim_end().to_owned())
        .collect();
    lines.extend(error);
    if method.event {
        lines.push(event.to_owned());
    }
    if method.idempotent {
        lines.push("Safe to repeat.".into());
    }
    if !method.aliases.is_empty() {
        lines.push(format!(
            "Also answers at its old paths: {}.",
            method.aliases.join(", ")
        ));
    }
    lines.extend(method.deprecated.as_deref().map(deprecated));
    lines
}

fn methods(methods: &[MethodDescription]) -> String {
    let mut methods: Vec<&MethodDescription> = methods.iter().collect();
    methods.sort_by(|a, b| a.path.cmp(&b.path));
    let mut out = String::new();
    let mut open: Vec<&str> = Vec::new();
    for method in methods {
        let mut parts: Vec<&str> = method.path.split('.').collect();
        let name = parts.pop().unwrap_or_default();
        let shared = open.iter().zip(&parts).take_while(|(a, b)| a == b).count();
        open.truncate(shared);
        for namespace in &parts[shared..] {
            let _ = writeln!(out, "{}{namespace}", "  ".repeat(open.len()));
            open.push(namespace);
        }
        let indent = "  ".repeat(open.len());
        let _ = writeln!(out, "{indent}{}", signature(name, method));
        if let Some(doc) = method.docs.lines().map(str::trim).find(|l| !l.is_empty()) {
            let _ = writeln!(out, "{indent}    {doc}");
        }
    }
    out
}

fn signature(name: &str, method: &MethodDescription) -> String {
    let mut params: Vec<String> = method
        .params
        .iter()
        .map(|p| format!("{}: {}", p.name, p.ty))
        .collect();
    if let Some(input) = &method.input {
        params.push(format!("stream of {input}"));
    }
    let params = params.join(", ");
    if method.event {
        return format!("event {name}({params})");
    }
    // A method answering with a stream returns its items.
    let returns = match &method.stream {
        Some(item) => format!("stream of {item}"),
        None => method.returns.clone(),
    };
    let signature = match &method.error {
        Some(error) => format!("{name}({params}) -> Result<{returns}, {error}>"),
        None => format!("{name}({params}) -> {returns}"),
    };
    let mut notes = Vec::new();
    if method.idempotent {
        notes.push("idempotent".to_owned());
    }
    if let Some(note) = &method.deprecated {
        notes.push(format!("deprecated: {note}"));
    }
    if !method.aliases.is_empty() {
        notes.push(format!("also at {}", method.aliases.join(", ")));
    }
    if notes.is_empty() {
        signature
    } else {
        format!("{signature}  [{}]", notes.join("; "))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use dotrpc::schema::ParamDescription;

    /// A plain method's description, for tests to adjust.
    pub(crate) fn method(path: &str, params: &[(&str, &str)], returns: &str) -> MethodDescription {
        MethodDescription {
            params: params
                .iter()
                .map(|(name, ty)| ParamDescription::new(*name, *ty))
                .collect(),
            returns: returns.into(),
            ..MethodDescription::new(path)
        }
    }

    #[test]
    fn streams_read_as_streams_of_their_items() {
        let mut count = method("count", &[("n", "u64")], "()");
        count.stream = Some("u64".into());
        count.error = Some("String".into());
        let mut sum = method("sum", &[], "i64");
        sum.input = Some("i64".into());
        assert_eq!(
            methods(&[count, sum]),
            "count(n: u64) -> Result<stream of u64, String>\nsum(stream of i64) -> i64\n"
        );
    }

    #[test]
    fn notes_say_idempotent_deprecated_and_old_paths() {
        let mut add = method("add", &[], "()");
        add.idempotent = true;
        add.deprecated = Some("use sum".into());
        add.aliases = vec!["plus".into(), "old.add".into()];
        assert_eq!(
            methods(&[add]),
            "add() -> ()  [idempotent; deprecated: use sum; also at plus, old.add]\n"
        );
    }

    #[test]
    fn namespaces_print_once_with_their_methods_under_them() {
        let mut div = method("math.div", &[("a", "f64"), ("b", "f64")], "f64");
        div.error = Some("MathError".into());
        div.docs = " Divides.\n More.".into();
        let mut log = method("log", &[("line", "String")], "()");
        log.event = true;
        let methods = [
            method("math.stats.mean", &[("values", "Vec<f64>")], "f64"),
            div,
            method("add", &[("a", "i64"), ("b", "i64")], "i64"),
            log,
            method("zeta.z", &[], "()"),
        ];
        assert_eq!(
            super::methods(&methods),
            "add(a: i64, b: i64) -> i64\n\
             event log(line: String)\n\
             math\n  \
               div(a: f64, b: f64) -> Result<f64, MathError>\n      \
                 Divides.\n  \
               stats\n    \
                 mean(values: Vec<f64>) -> f64\n\
             zeta\n  \
               z() -> ()\n"
        );
    }
}
