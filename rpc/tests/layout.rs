//! The crate's layout, checked: dependencies between the modules of
//! `rpc/src` run one way. `lib.rs` declares the modules in the order data
//! flows, and each module may use only modules declared before it, so there
//! can be no import circle.
//!
//! A module is a top-level `src/*.rs` file or `src/*/` folder; a use is any
//! `crate::name` path in its code (comments are not code), where `name` is
//! the module itself or an item `lib.rs` re-exports from it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The modules `lib.rs` declares, in order.
fn declared(lib: &str) -> Vec<String> {
    lib.lines()
        .filter_map(|line| {
            let line = line.trim();
            let rest = line
                .strip_prefix("pub mod ")
                .or_else(|| line.strip_prefix("mod "))?;
            Some(rest.trim_end_matches(';').to_owned())
        })
        .collect()
}

/// Which module each name `lib.rs` re-exports at the root comes from.
fn reexports(lib: &str, modules: &[String]) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    let code: String = code_lines(lib).collect::<Vec<_>>().join("\n");
    for statement in code.split(';') {
        let Some(path) = statement.trim().strip_prefix("pub use ") else {
            continue;
        };
        let (module, items) = path.split_once("::").unwrap_or((path, ""));
        if !modules.iter().any(|m| m == module) {
            continue;
        }
        let items = items.trim_start_matches('{').trim_end_matches('}');
        for item in items.split(',') {
            let name = item.trim().rsplit("::").next().unwrap_or("").trim();
            let name = name.rsplit(" as ").next().unwrap_or(name);
            if !name.is_empty() {
                names.insert(name.to_owned(), module.to_owned());
            }
        }
    }
    names
}

/// The lines of `source` that are code (not comments).
fn code_lines(source: &str) -> impl Iterator<Item = &str> {
    source
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with("//"))
}

/// Every file of a module.
fn files(src: &Path, module: &str) -> Vec<String> {
    let file = src.join(format!("{module}.rs"));
    if file.exists() {
        return vec![std::fs::read_to_string(file).unwrap()];
    }
    let mut sources = Vec::new();
    let mut dirs = vec![src.join(module)];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                sources.push(std::fs::read_to_string(path).unwrap());
            }
        }
    }
    sources
}

/// The modules `module` uses.
fn uses(
    src: &Path,
    module: &str,
    modules: &[String],
    names: &BTreeMap<String, String>,
) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for source in files(src, module) {
        for line in code_lines(&source) {
            for (at, _) in line.match_indices("crate::") {
                let rest = &line[at + "crate::".len()..];
                let mut paths = vec![rest];
                // `use crate::{a, b::c}`
                if let Some(group) = rest.strip_prefix('{') {
                    paths = group.split(',').map(str::trim).collect();
                }
                for path in paths {
                    let name: String = path
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    let target = if modules.contains(&name) {
                        Some(name)
                    } else {
                        names.get(&name).cloned()
                    };
                    if let Some(target) = target.filter(|t| t != module) {
                        used.insert(target);
                    }
                }
            }
        }
    }
    used
}

#[test]
fn modules_use_only_modules_declared_before_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let modules = declared(&lib);
    assert!(modules.len() > 10, "modules found: {modules:?}");
    let names = reexports(&lib, &modules);
    assert_eq!(names.get("Peer").map(String::as_str), Some("peer"));

    let mut backwards = Vec::new();
    for (position, module) in modules.iter().enumerate() {
        for used in uses(&src, module, &modules, &names) {
            let at = modules.iter().position(|m| *m == used).unwrap();
            if at > position {
                backwards.push(format!("{module} uses {used}, declared after it"));
            }
        }
    }
    assert!(
        backwards.is_empty(),
        "dependencies must run one way, in lib.rs's order:\n{}",
        backwards.join("\n")
    );
}
