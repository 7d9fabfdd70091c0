//! The crates' layout, checked: dependencies between modules run one way,
//! at every level.
//!
//! - In `rpc/src`, `lib.rs` declares the top modules in the order data
//!   flows, and each may use only modules declared before it.
//! - In `rpc/src`, `rpc-macros/src`, `nats/src` and `cli/src`, the modules of each
//!   folder (siblings, under one parent) never use each other in a circle.
//!
//! The sources are read with `syn`, as the compiler reads them: every path
//! in code and every `use` tree (groups, renames, globs, `self::`,
//! `super::`, paths relative to a child module), followed through the
//! imports they name (`crate::Peer` is a use of `peer`, where `lib.rs`
//! imports it from). Modules under `#[cfg(test)]` are not looked at: tests
//! may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// A module's path from the crate root: `["peer", "connection"]`.
type ModPath = Vec<String>;

/// What one crate's modules are and use.
#[derive(Default)]
struct Crate {
    /// Each module's children, in the order they are declared.
    children: BTreeMap<ModPath, Vec<String>>,
    /// Every path each module's code names, made absolute (before
    /// following imports).
    uses: BTreeMap<ModPath, Vec<ModPath>>,
    /// Each module's imports: the name a `use` brings in, and its absolute
    /// target.
    imports: BTreeMap<ModPath, BTreeMap<String, ModPath>>,
}

impl Crate {
    /// Reads the crate whose root file is `root` (`lib.rs`, `main.rs`).
    fn read(root: &Path) -> Crate {
        let mut krate = Crate::default();
        let dir = root.parent().unwrap().to_owned();
        krate.read_file(root, Vec::new(), &dir);
        krate
    }

    fn read_file(&mut self, file: &Path, module: ModPath, children_dir: &Path) {
        let text =
            std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let parsed = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        self.read_items(&parsed.items, module, children_dir);
    }

    fn read_items(&mut self, items: &[syn::Item], module: ModPath, children_dir: &Path) {
        self.children.entry(module.clone()).or_default();
        let mut paths = Paths {
            module: &module,
            found: Vec::new(),
            imports: BTreeMap::new(),
        };
        for item in items {
            match item {
                syn::Item::Mod(child) => {
                    if is_test(&child.attrs) {
                        continue;
                    }
                    let name = child.ident.to_string();
                    self.children.get_mut(&module).unwrap().push(name.clone());
                    let mut path = module.clone();
                    path.push(name.clone());
                    match &child.content {
                        Some((_, inner)) => self.read_items(inner, path, &children_dir.join(&name)),
                        None => {
                            let (file, dir) = child_file(children_dir, &name);
                            self.read_file(&file, path, &dir);
                        }
                    }
                }
                item if is_test(item_attrs(item)) => {}
                item => paths.visit_item(item),
            }
        }
        let Paths { found, imports, .. } = paths;
        self.uses.entry(module.clone()).or_default().extend(found);
        self.imports.entry(module).or_default().extend(imports);
    }

    fn is_module(&self, path: &[String]) -> bool {
        self.children.contains_key(path)
    }

    /// The module a path leads into, following imports: `crate::Peer` is
    /// `peer`, if the root imports `Peer` from `peer`.
    fn target(&self, path: &[String]) -> ModPath {
        let mut path = path.to_vec();
        for _ in 0..16 {
            let module = (0..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|prefix| self.is_module(prefix))
                .unwrap_or_default();
            let Some(name) = path.get(module.len()) else {
                return module;
            };
            match self
                .imports
                .get(&module)
                .and_then(|imports| imports.get(name))
            {
                Some(target) if target.as_slice() != path.as_slice() => {
                    let mut followed = target.clone();
                    followed.extend_from_slice(&path[module.len() + 1..]);
                    path = followed;
                }
                _ => return module,
            }
        }
        path
    }

    /// The modules each module uses, as edges between siblings: `a::b`
    /// using `a::c::d` is `a::b` using `a::c`; a use of an ancestor or a
    /// descendant is no edge.
    fn sibling_edges(&self) -> BTreeMap<ModPath, BTreeSet<ModPath>> {
        let mut edges: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
        for (module, uses) in &self.uses {
            for used in uses {
                let target = self.target(used);
                let shared = module
                    .iter()
                    .zip(&target)
                    .take_while(|(a, b)| a == b)
                    .count();
                if shared >= module.len() || shared >= target.len() {
                    continue;
                }
                edges
                    .entry(module[..=shared].to_vec())
                    .or_default()
                    .insert(target[..=shared].to_vec());
            }
        }
        edges
    }
}

/// `name.rs` or `name/mod.rs` beside the parent, and the folder its own
/// children are in.
fn child_file(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let flat = dir.join(format!("{name}.rs"));
    if flat.exists() {
        return (flat, dir.join(name));
    }
    (dir.join(name).join("mod.rs"), dir.join(name))
}

fn is_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path().is_ident("cfg")
            && attr
                .parse_args::<syn::Meta>()
                .is_ok_and(|meta| meta.path().is_ident("test"))
    })
}

fn item_attrs(item: &syn::Item) -> &[syn::Attribute] {
    match item {
        syn::Item::Fn(f) => &f.attrs,
        syn::Item::Impl(i) => &i.attrs,
        syn::Item::Use(u) => &u.attrs,
        syn::Item::Const(c) => &c.attrs,
        syn::Item::Static(s) => &s.attrs,
        syn::Item::Struct(s) => &s.attrs,
        syn::Item::Enum(e) => &e.attrs,
        syn::Item::Trait(t) => &t.attrs,
        syn::Item::Type(t) => &t.attrs,
        _ => &[],
    }
}

/// Collects the paths one module's items name.
struct Paths<'m> {
    module: &'m ModPath,
    found: Vec<ModPath>,
    imports: BTreeMap<String, ModPath>,
}

impl Paths<'_> {
    /// A path as written in `module`, made absolute. One into another
    /// crate becomes a path under `module` that leads to no module of its
    /// own, which `Crate::target` takes as `module` itself: no edge.
    fn absolute(&self, segments: &[String]) -> ModPath {
        let Some((first, rest)) = segments.split_first() else {
            return self.module.clone();
        };
        let mut base = match first.as_str() {
            "crate" => Vec::new(),
            "self" => self.module.clone(),
            "super" => {
                let mut base = self.module.clone();
                base.pop();
                let mut rest = rest;
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop();
                    rest = &rest[1..];
                }
                base.extend(rest.iter().cloned());
                return base;
            }
            // A path relative to this module (a child, or an import):
            // resolved later, through the crate's modules and imports.
            _ => {
                let mut base = self.module.clone();
                base.push(first.clone());
                base.extend(rest.iter().cloned());
                return base;
            }
        };
        base.extend(rest.iter().cloned());
        base
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(path) => {
                prefix.push(path.ident.to_string());
                self.use_tree(prefix, &path.tree);
                prefix.pop();
            }
            syn::UseTree::Name(name) => self.imported(prefix, &name.ident.to_string(), None),
            syn::UseTree::Rename(rename) => {
                self.imported(
                    prefix,
                    &rename.ident.to_string(),
                    Some(rename.rename.to_string()),
                );
            }
            syn::UseTree::Glob(_) => {
                let path = self.absolute(prefix);
                self.found.push(path);
            }
            syn::UseTree::Group(group) => {
                for tree in &group.items {
                    self.use_tree(prefix, tree);
                }
            }
        }
    }

    fn imported(&mut self, prefix: &[String], name: &str, rename: Option<String>) {
        let mut full = prefix.to_vec();
        if name != "self" {
            full.push(name.to_owned());
        }
        let path = self.absolute(&full);
        let local = rename.unwrap_or_else(|| full.last().cloned().unwrap_or_default());
        self.found.push(path.clone());
        if local != "_" {
            self.imports.insert(local, path);
        }
    }
}

impl<'ast> Visit<'ast> for Paths<'_> {
    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &item.tree);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        // One segment is a local name (or `crate`, `super` alone); a longer
        // path may lead into a module: from `crate::`, `self::`, `super::`,
        // or a child module or import of this one. Other crates' paths
        // lead to no module of this one.
        let may_name_a_module = segments.len() > 1
            || segments
                .first()
                .is_some_and(|s| s == "crate" || s == "super");
        if may_name_a_module {
            let absolute = self.absolute(&segments);
            self.found.push(absolute);
        }
        syn::visit::visit_path(self, path);
    }

    fn visit_item_mod(&mut self, _: &'ast syn::ItemMod) {
        // Read as modules of their own.
    }
}

/// Every circle among siblings: each as the edges that make it.
fn circles(krate: &Crate) -> Vec<String> {
    let edges = krate.sibling_edges();
    let mut found = Vec::new();
    for (from, to) in &edges {
        for target in to {
            // `from` -> `target` is on a circle if `target` reaches `from`.
            let mut seen = BTreeSet::new();
            let mut stack = vec![target.clone()];
            while let Some(at) = stack.pop() {
                if &at == from {
                    found.push(format!(
                        "{} uses {}, which leads back",
                        from.join("::"),
                        target.join("::")
                    ));
                    break;
                }
                if seen.insert(at.clone()) {
                    stack.extend(edges.get(&at).into_iter().flatten().cloned());
                }
            }
        }
    }
    found
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

#[test]
fn no_modules_use_each_other_in_a_circle_at_any_level() {
    for root in [
        "rpc/src/lib.rs",
        "rpc-macros/src/lib.rs",
        "nats/src/lib.rs",
        "cli/src/main.rs",
    ] {
        let krate = Crate::read(&workspace().join(root));
        assert!(
            krate.children.len() > 5,
            "{root}: modules found: {:?}",
            krate.children.keys()
        );
        let circles = circles(&krate);
        assert!(
            circles.is_empty(),
            "{root}: modules in a circle:\n{}",
            circles.join("\n")
        );
    }
}

#[test]
fn the_top_modules_use_only_those_declared_before_them() {
    let krate = Crate::read(&workspace().join("rpc/src/lib.rs"));
    let order = &krate.children[&Vec::new()];
    assert!(order.len() > 10, "modules found: {order:?}");
    // `crate::Peer` is a use of `peer`, which `lib.rs` imports it from.
    assert_eq!(krate.target(&["Peer".to_owned()]), ["peer"]);
    let mut backwards = Vec::new();
    for (from, to) in krate.sibling_edges() {
        let [from] = from.as_slice() else { continue };
        for used in to {
            let position = |name: &str| order.iter().position(|m| m == name);
            if position(&used[0]) > position(from) {
                backwards.push(format!("{from} uses {}, declared after it", used[0]));
            }
        }
    }
    assert!(
        backwards.is_empty(),
        "dependencies must run one way, in lib.rs's order:\n{}",
        backwards.join("\n")
    );
}

/// Inside the crate, an item is named through its module
/// (`crate::error::Result`), not through what `lib.rs` re-exports
/// (`crate::Result`): the root is the crate's face to its users, and a path
/// through it hides which module a module really uses.
#[test]
fn references_inside_the_crate_go_through_their_module() {
    let krate = Crate::read(&workspace().join("rpc/src/lib.rs"));
    let root = &krate.imports[&Vec::new()];
    assert!(root.contains_key("Peer"), "the root's imports: {root:?}");
    let mut through_root = Vec::new();
    for (module, uses) in &krate.uses {
        for used in uses.iter().filter(|_| !module.is_empty()) {
            if let Some(name) = used.first()
                && !krate.is_module(&used[..1])
                && root.contains_key(name)
            {
                through_root.push(format!("{}: crate::{}", module.join("::"), used.join("::")));
            }
        }
    }
    assert!(
        through_root.is_empty(),
        "name these through their modules, not lib.rs's re-exports:\n{}",
        through_root.join("\n")
    );
}

#[test]
fn the_check_sees_circles_hidden_in_folders_and_behind_imports() {
    // A crate in miniature: `a::x` uses `a::y` through the parent's import,
    // and `a::y` uses `a::x` through a group with `super`.
    let dir = std::env::temp_dir().join(format!("dotrpc-layout-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("a")).unwrap();
    std::fs::write(dir.join("lib.rs"), "mod a;\nmod b;\n").unwrap();
    std::fs::write(dir.join("b.rs"), "pub fn f() { crate::a::go(); }\n").unwrap();
    std::fs::write(
        dir.join("a/mod.rs"),
        "mod x;\nmod y;\nuse y::Thing;\npub fn go() {}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("a/x.rs"),
        "pub fn f() -> super::Thing { todo!() }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("a/y.rs"),
        "use super::{x::{self}, go};\npub struct Thing;\n#[cfg(test)]\nmod tests { use crate::b::f; }\n",
    )
    .unwrap();
    let krate = Crate::read(&dir.join("lib.rs"));
    let found = circles(&krate);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found.iter().any(|c| c.starts_with("a::x uses a::y")),
        "{found:?}"
    );
    assert!(
        found.iter().any(|c| c.starts_with("a::y uses a::x")),
        "{found:?}"
    );
    // `b` uses `a` at the top, which is no circle: `a` does not use `b`
    // (its test module does, and tests are not looked at).
    assert!(!found.iter().any(|c| c.starts_with('b')), "{found:?}");
}

/// A file a newcomer can read in one sitting: a module that grows past
/// this is split by what its parts do.
const MAX_LINES: usize = 600;

#[test]
fn no_source_file_of_the_crates_is_over_600_lines() {
    fn visit(dir: &Path, long: &mut Vec<String>, seen: &mut usize) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                visit(&path, long, seen);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                *seen += 1;
                let lines = std::fs::read_to_string(&path).unwrap().lines().count();
                if lines > MAX_LINES {
                    long.push(format!("{} has {lines} lines", path.display()));
                }
            }
        }
    }
    let (mut long, mut seen) = (Vec::new(), 0);
    visit(&workspace().join("rpc/src"), &mut long, &mut seen);
    assert!(seen > 50, "only {seen} files found");
    visit(&workspace().join("nats/src"), &mut long, &mut seen);
    assert!(
        long.is_empty(),
        "over {MAX_LINES} lines:\n{}",
        long.join("\n")
    );
}

/// What the crate's root may hold: the names most programs use. The rest
/// belongs in the module of its folder (`dotrpc::client::AsyncResult`), so
/// the root's page stays one a newcomer can take in.
const MAX_ROOT_NAMES: usize = 30;

#[test]
fn the_root_holds_few_names() {
    fn leaves(tree: &syn::UseTree, out: &mut Vec<String>) {
        match tree {
            syn::UseTree::Path(path) => leaves(&path.tree, out),
            syn::UseTree::Name(name) => out.push(name.ident.to_string()),
            syn::UseTree::Rename(rename) => out.push(rename.rename.to_string()),
            syn::UseTree::Group(group) => group.items.iter().for_each(|t| leaves(t, out)),
            syn::UseTree::Glob(_) => out.push("*".to_owned()),
        }
    }
    let source = std::fs::read_to_string(workspace().join("rpc/src/lib.rs")).unwrap();
    let file = syn::parse_file(&source).unwrap();
    let hidden = |attrs: &[syn::Attribute]| {
        attrs.iter().any(|a| {
            a.path().is_ident("doc") && a.parse_args::<syn::Ident>().is_ok_and(|i| i == "hidden")
        })
    };
    let mut names = Vec::new();
    for item in &file.items {
        let public = |vis: &syn::Visibility| matches!(vis, syn::Visibility::Public(_));
        match item {
            syn::Item::Use(u) if public(&u.vis) && !hidden(&u.attrs) => leaves(&u.tree, &mut names),
            syn::Item::Fn(f) if public(&f.vis) && !hidden(&f.attrs) => {
                names.push(f.sig.ident.to_string())
            }
            _ => {}
        }
    }
    assert!(names.contains(&"Peer".to_owned()), "{names:?}");
    assert!(
        names.len() <= MAX_ROOT_NAMES,
        "the root exports {} names (at most {MAX_ROOT_NAMES}): {names:?}",
        names.len()
    );
}
