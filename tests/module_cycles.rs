//! No module import cycle in any crate of the workspace: among the modules
//! that share a parent (the top-level modules of a crate, the submodules of
//! one module), a module that uses a sibling must not be used back by it,
//! directly or through other siblings. A cycle makes the two modules one room
//! in practice: neither can be read, tested or changed alone.
//!
//! The crates' sources are parsed with `syn`. A reference is a path starting
//! with `crate::`, `super::` or `self::`, in a `use` or anywhere in the code
//! (macro bodies are not parsed; doc links are comments), or a path starting
//! with a name that a glob import of an ancestor (`use super::*`,
//! `use crate::*`) brings in: one of the ancestor's submodules, or a name the
//! ancestor imports (`use crate::x::Y` in the parent makes `Y` in a child
//! that globs it a reference to `x::Y`). It is an edge between the two
//! modules under the deepest common ancestor of the referring module and the
//! referenced path; a path into a module's own submodules, or up to an item
//! of an ancestor, is no edge.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use syn::visit::Visit;

type ModPath = Vec<String>;

/// The modules of one crate (by path from its root) and the references
/// found in each.
#[derive(Default)]
struct CrateModules {
    modules: BTreeSet<ModPath>,
    references: Vec<(ModPath, ModPath)>,
    /// Per module, what `crate`/`super`/`self` paths its `use`s name, by the
    /// name they bind there.
    imports: BTreeMap<ModPath, BTreeMap<String, ModPath>>,
    /// `(module, globbed)` for each glob import of a `crate`/`super`/`self`
    /// path.
    globs: Vec<(ModPath, ModPath)>,
    /// `(module, segments)` of the paths that start with any other name.
    bare: Vec<(ModPath, Vec<String>)>,
}

impl CrateModules {
    /// The references that glob imports of an ancestor make: a bare path
    /// whose first name is a submodule of the ancestor, or a name the
    /// ancestor imports.
    fn resolve_globs(&mut self) {
        let mut resolved = Vec::new();
        for (module, globbed) in &self.globs {
            if !module.starts_with(globbed) {
                continue; // a glob of another module is an edge to it already
            }
            for (_, segments) in self.bare.iter().filter(|(from, _)| from == module) {
                let (first, rest) = segments.split_first().unwrap();
                let mut child = globbed.clone();
                child.push(first.clone());
                let target = if self.modules.contains(&child) {
                    child
                } else if let Some(imported) = self.imports.get(globbed).and_then(|names| names.get(first)) {
                    imported.clone()
                } else {
                    continue;
                };
                resolved.push((module.clone(), target.into_iter().chain(rest.iter().cloned()).collect()));
            }
        }
        self.references.extend(resolved);
    }
}

/// Reads the crate whose root file is `root` (`lib.rs` or `main.rs`).
fn read_crate(root: &Path) -> CrateModules {
    let mut found = CrateModules::default();
    found.modules.insert(Vec::new());
    read_module_file(root, Vec::new(), true, &mut found);
    found.resolve_globs();
    found
}

fn read_module_file(file: &Path, module: ModPath, owns_dir: bool, found: &mut CrateModules) {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let parsed = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    // Submodules of `a/mod.rs`, `lib.rs`, `main.rs` live in `a/`; those of
    // `a/b.rs` in `a/b/`.
    let dir = if owns_dir {
        file.parent().unwrap().to_path_buf()
    } else {
        file.with_extension("")
    };
    let mut visitor = References {
        module: module.clone(),
        out: Vec::new(),
        imports: Vec::new(),
        globs: Vec::new(),
        bare: Vec::new(),
    };
    visitor.visit_file(&parsed);
    found.references.extend(visitor.out);
    for (module, name, path) in visitor.imports {
        found.imports.entry(module).or_default().insert(name, path);
    }
    found.globs.extend(visitor.globs);
    found.bare.extend(visitor.bare);
    for (child, inline) in child_modules(&parsed.items) {
        let mut path = module.clone();
        path.push(child.clone());
        found.modules.insert(path.clone());
        if inline {
            continue;
        }
        let flat = dir.join(format!("{child}.rs"));
        if flat.exists() {
            read_module_file(&flat, path, false, found);
        } else {
            read_module_file(&dir.join(&child).join("mod.rs"), path, true, found);
        }
    }
}

/// `mod x;` (false) and `mod x { ... }` (true) declared at the top of a file;
/// inline modules nested in inline modules are found by [`References`].
fn child_modules(items: &[syn::Item]) -> Vec<(String, bool)> {
    items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Mod(m) => Some((m.ident.to_string(), m.content.is_some())),
            _ => None,
        })
        .collect()
}

/// Collects `(referring module, referenced path)` for every path that starts
/// with `crate`, `super` or `self`, resolved to a path from the crate root,
/// and what glob imports need: the names `use`s bind, the globs, the other
/// paths.
struct References {
    module: ModPath,
    out: Vec<(ModPath, ModPath)>,
    /// `(module, name bound, path)` of each `use` of a `crate`/`super`/`self` path.
    imports: Vec<(ModPath, String, ModPath)>,
    globs: Vec<(ModPath, ModPath)>,
    bare: Vec<(ModPath, Vec<String>)>,
}

impl References {
    /// Records a path; returns it resolved from the crate root when it starts
    /// with `crate`, `super` or `self`.
    fn record(&mut self, segments: &[String]) -> Option<ModPath> {
        let first = segments.first()?;
        let mut resolved: ModPath = match first.as_str() {
            "crate" => Vec::new(),
            "self" | "super" => self.module.clone(),
            _ => {
                self.bare.push((self.module.clone(), segments.to_vec()));
                return None;
            }
        };
        for segment in &segments[usize::from(first == "crate")..] {
            match segment.as_str() {
                "self" => {}
                "super" => {
                    resolved.pop();
                }
                name => resolved.push(name.to_owned()),
            }
        }
        self.out.push((self.module.clone(), resolved.clone()));
        Some(resolved)
    }

    /// Records a `use` of `prefix`, bound to `name` in the module.
    fn import(&mut self, prefix: &[String], name: String) {
        if let Some(resolved) = self.record(prefix) {
            self.imports.push((self.module.clone(), name, resolved));
        }
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                // `use a::b::{self}` binds `b`.
                let name = match n.ident.to_string() {
                    own if own == "self" => prefix.last().cloned().unwrap_or(own),
                    name => name,
                };
                prefix.push(n.ident.to_string());
                self.import(prefix, name);
                prefix.pop();
            }
            syn::UseTree::Rename(r) => {
                prefix.push(r.ident.to_string());
                self.import(prefix, r.rename.to_string());
                prefix.pop();
            }
            syn::UseTree::Glob(_) => {
                if let Some(globbed) = self.record(prefix) {
                    self.globs.push((self.module.clone(), globbed));
                }
            }
            syn::UseTree::Group(g) => {
                for tree in &g.items {
                    self.use_tree(prefix, tree);
                }
            }
        }
    }
}

impl<'ast> Visit<'ast> for References {
    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &item.tree);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        // `::std::x` starts outside the crate.
        if path.leading_colon.is_none() {
            self.record(&segments);
        }
        syn::visit::visit_path(self, path);
    }

    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        // Only inline modules have a body to visit; their paths are
        // relative to them.
        if item.content.is_some() {
            self.module.push(item.ident.to_string());
            syn::visit::visit_item_mod(self, item);
            self.module.pop();
        }
    }
}

/// Edges between sibling modules: for each parent, `child → child`.
fn sibling_edges(found: &CrateModules) -> BTreeMap<ModPath, BTreeSet<(String, String)>> {
    let mut edges: BTreeMap<ModPath, BTreeSet<(String, String)>> = BTreeMap::new();
    for (from, to) in &found.references {
        let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
        let (Some(a), Some(b)) = (from.get(common), to.get(common)) else {
            continue; // one is inside the other
        };
        let parent = from[..common].to_vec();
        let is_module = |name: &String| {
            let mut path = parent.clone();
            path.push(name.clone());
            found.modules.contains(&path)
        };
        if is_module(a) && is_module(b) {
            edges.entry(parent).or_default().insert((a.clone(), b.clone()));
        }
    }
    edges
}

/// One cycle in `edges`, if there is any (as the modules on it, in order).
fn find_cycle(edges: &BTreeSet<(String, String)>) -> Option<Vec<String>> {
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (a, b) in edges {
        next.entry(a).or_default().push(b);
    }
    fn visit<'a>(
        node: &'a str,
        next: &BTreeMap<&'a str, Vec<&'a str>>,
        stack: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| *n == node) {
            return Some(stack[at..].iter().map(|s| (*s).to_owned()).collect());
        }
        if !done.insert(node) {
            return None;
        }
        stack.push(node);
        for n in next.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(n, next, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    for start in next.keys() {
        if let Some(cycle) = visit(start, &next, &mut Vec::new(), &mut done) {
            return Some(cycle);
        }
    }
    None
}

/// Every cycle's description, one per parent module that has one.
fn cycles_in(root: &Path, crate_name: &str) -> Vec<String> {
    let found = read_crate(root);
    sibling_edges(&found)
        .iter()
        .filter_map(|(parent, edges)| {
            let cycle = find_cycle(edges)?;
            let mut shown = cycle.clone();
            shown.push(cycle[0].clone());
            let prefix: String = parent.iter().map(|p| format!("{p}::")).collect();
            Some(format!(
                "{crate_name} ({}): {}",
                root.display(),
                shown
                    .iter()
                    .map(|m| format!("{prefix}{m}"))
                    .collect::<Vec<_>>()
                    .join(" → ")
            ))
        })
        .collect()
}

/// The root files of every crate of the workspace (libraries and binaries).
fn crate_roots() -> Vec<(String, PathBuf)> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut roots = vec![("elixir-dap".to_owned(), workspace.join("src/main.rs"))];
    let mut crates: Vec<PathBuf> = std::fs::read_dir(workspace.join("crates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").exists())
        .collect();
    crates.sort();
    for dir in crates {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        for root in ["src/lib.rs", "src/main.rs"] {
            if dir.join(root).exists() {
                roots.push((name.clone(), dir.join(root)));
            }
        }
    }
    roots
}

#[test]
fn no_crate_of_the_workspace_has_a_module_import_cycle() {
    let roots = crate_roots();
    assert!(roots.len() >= 8, "found only {roots:?}");
    let cycles: Vec<String> = roots.iter().flat_map(|(name, root)| cycles_in(root, name)).collect();
    assert!(cycles.is_empty(), "module import cycles:\n{}", cycles.join("\n"));
}

/// The check finds what it is meant to find, on a crate written for it.
#[test]
fn the_check_finds_a_cycle_through_use_super_and_paths_in_code() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("a")).unwrap();
    std::fs::write(src.join("lib.rs"), "pub mod a;\npub mod b;\npub mod c;\n").unwrap();
    std::fs::write(src.join("a/mod.rs"), "mod inner;\npub struct A;\n").unwrap();
    // a::inner → b (through super::super), b → c (in code), c → a (use).
    std::fs::write(src.join("a/inner.rs"), "use super::super::b::B;\npub fn f(_: B) {}\n").unwrap();
    std::fs::write(src.join("b.rs"), "pub struct B;\npub fn g() { crate::c::h(); }\n").unwrap();
    std::fs::write(src.join("c.rs"), "use crate::{a::A};\npub fn h() { let _ = A; }\n").unwrap();
    let cycles = cycles_in(&src.join("lib.rs"), "fixture");
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert!(cycles[0].ends_with("a → b → c → a"), "{}", cycles[0]);

    // Siblings one level down, and no cycle once c stops using a.
    std::fs::write(src.join("c.rs"), "pub fn h() {}\n").unwrap();
    std::fs::write(src.join("a/mod.rs"), "mod inner;\nmod other;\npub struct A;\n").unwrap();
    std::fs::write(src.join("a/other.rs"), "pub fn o() { super::inner::f(crate::b::B); }\n").unwrap();
    std::fs::write(
        src.join("a/inner.rs"),
        "use super::super::b::B;\npub fn f(_: B) {}\nfn back() { super::other::o() }\n",
    )
    .unwrap();
    let cycles = cycles_in(&src.join("lib.rs"), "fixture");
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert!(cycles[0].ends_with("a::inner → a::other → a::inner"), "{}", cycles[0]);
    std::fs::write(src.join("a/inner.rs"), "pub fn f(_: crate::b::B) {}\n").unwrap();
    assert!(cycles_in(&src.join("lib.rs"), "fixture").is_empty());
}

/// Writes a crate of `files` (path under `src`, text) and returns its cycles.
fn cycles_of(files: &[(&str, &str)]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    cycles_in(&dir.path().join("lib.rs"), "fixture")
}

/// Every way a child reaches a sibling: a group of `super` paths, a glob of
/// a sibling, names a glob of the parent brings in (its submodules, its
/// imports, renamed or not), `use crate::*` at the top; and a name that
/// only looks like a sibling's is none.
#[test]
fn the_check_sees_groups_and_globs() {
    let lib = ("lib.rs", "pub mod a;\n");
    let a = ("a/mod.rs", "mod inner;\nmod other;\nuse self::other::O as Renamed;\n");
    // other → inner in every case; inner → other as each case writes it.
    let other = ("a/other.rs", "pub struct O;\npub fn o() { super::inner::f() }\n");
    for (case, inner) in [
        ("a group", "use super::{other, other::O};\npub fn f() { other::o() }\n"),
        ("a glob of the sibling", "use crate::a::other::*;\npub fn f() { o() }\n"),
        (
            "a glob of the parent, a submodule",
            "use super::*;\npub fn f() { other::o() }\n",
        ),
        (
            "a glob of the parent, an import",
            "use super::*;\npub fn f() { let _ = Renamed; }\n",
        ),
        (
            "a test module's glob",
            "pub fn f() {}\n#[cfg(test)]\nmod tests {\n    use super::super::*;\n    fn t() { other::o() }\n}\n",
        ),
    ] {
        let cycles = cycles_of(&[lib, a, other, ("a/inner.rs", inner)]);
        assert_eq!(cycles.len(), 1, "{case}: {cycles:?}");
        assert!(
            cycles[0].ends_with("a::inner → a::other → a::inner"),
            "{case}: {}",
            cycles[0]
        );
    }
    // `use crate::*` in a top-level module.
    let cycles = cycles_of(&[
        ("lib.rs", "pub mod b;\npub mod c;\n"),
        ("b.rs", "use crate::*;\npub fn g() { c::h() }\n"),
        ("c.rs", "pub fn h() {}\nfn back() { crate::b::g() }\n"),
    ]);
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    // A glob of the parent and a local name that is no sibling nor import;
    // `::other` is outside the crate.
    let inner = "use super::*;\npub fn f() { let o = 1; let _ = o; ::other::x(); }\n";
    assert!(cycles_of(&[lib, a, other, ("a/inner.rs", inner)]).is_empty());
}
