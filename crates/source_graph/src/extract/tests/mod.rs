//! Tests of the extractor: helpers here, cases by topic in the child
//! modules, and syntax errors.

mod by_release;
mod modules;
mod references;

use super::*;

use crate::model::KindSet;

use crate::version::ElixirVersion;

const V1_14: ElixirVersion = ElixirVersion::new(1, 14);

/// The facts of `src` by 1.14's rules (the rules that differ by release
/// are tested on each side of their release in `by_release`).
fn facts(src: &str) -> FileFacts {
    facts_on(src, V1_14)
}

fn facts_on(src: &str, elixir: ElixirVersion) -> FileFacts {
    let mut parser = new_parser().unwrap();
    extract(&mut parser, src, elixir.rules())
}

fn kinds(f: &FileFacts, module: &str) -> KindSet {
    kinds_on(f, module, V1_14)
}

fn kinds_on(f: &FileFacts, module: &str, elixir: ElixirVersion) -> KindSet {
    resolve(
        f.refs
            .get(module)
            .unwrap_or_else(|| panic!("no ref to {module}: {:?}", f.refs.keys())),
        None,
        elixir.rules(),
        false,
    )
}

fn names(f: &FileFacts) -> Vec<&str> {
    f.modules.iter().map(|m| m.name.as_str()).collect()
}

#[test]
fn syntax_errors_are_reported() {
    let f = facts("defmodule A do\n  def f( do\nend\n");
    assert!(!f.errors.is_empty());
    let ok = facts("defmodule A do\n  def f, do: 1\nend\n");
    assert!(ok.errors.is_empty());
}
