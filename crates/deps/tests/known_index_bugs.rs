//! Differences from Mix that the oracles found and that were bugs of the
//! index (now fixed): each test states what Mix 1.14 does (checked with
//! `mix xref graph` and `mix compile --verbose` on a scratch project).

// Test helpers: a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use elixir_dap_deps::{Index, RefKind};

fn kind_between(index: &Index, from: &str, to: &str) -> Option<RefKind> {
    index
        .edges()
        .into_iter()
        .find(|e| e.from == Path::new(from) && e.to == Path::new(to))
        .map(|e| e.kind)
}

const STRUCT: &str = "defmodule App.S do\n  defstruct [:a]\nend\n";

/// `%Struct{}` inside a typespec (`@type`, `@typep`, `@opaque`, `@spec`,
/// `@callback`, `@macrocallback`) is expanded by `Kernel.Typespec`, which
/// traces a struct expansion: Mix records an export dependency, and
/// recompiles the file when the struct's module changes its exports.
/// The extractor skips typespec attributes entirely (`TYPESPEC_ATTRS` in
/// `extract.rs`), so the edge and the recompilation are missed.
#[test]
fn struct_in_a_typespec_is_an_export_dependency() {
    for attr in ["type t ::", "typep t ::", "opaque t ::", "spec f(", "callback c("] {
        let user = if attr.starts_with("spec") || attr.starts_with("callback") {
            format!("defmodule App.U do\n  @{attr}%App.S{{}}) :: :ok\n  def f(_), do: :ok\nend\n")
        } else {
            format!("defmodule App.U do\n  @{attr} %App.S{{}}\n  def f(x), do: x\nend\n")
        };
        let index = Index::from_sources(
            Path::new("/p"),
            &[("lib/s.ex", STRUCT.to_string()), ("lib/u.ex", user.clone())],
        )
        .unwrap();
        assert_eq!(
            kind_between(&index, "lib/u.ex", "lib/s.ex"),
            Some(RefKind::Export),
            "Mix 1.14: lib/u.ex -> lib/s.ex (export) for\n{user}"
        );
        let recompiled: Vec<PathBuf> = index.affected(&["lib/s.ex"]).recompile_paths();
        assert!(
            recompiled.contains(&PathBuf::from("lib/u.ex")),
            "Mix recompiles lib/u.ex after a public function is added to App.S:\n{user}"
        );
    }
}

/// A struct pattern in an anonymous function evaluated in the module body
/// is a compile-time dependency in Mix 1.14 (the pattern's alias is traced
/// while the module body runs); the index records an export one.
#[test]
fn struct_pattern_in_a_module_body_fn_is_compile_time() {
    let user = "defmodule App.U do\n  @x Enum.map([1], fn %App.S{a: a} -> a; b -> b end)\n  def x, do: @x\nend\n";
    let index = Index::from_sources(
        Path::new("/p"),
        &[("lib/s.ex", STRUCT.to_string()), ("lib/u.ex", user.to_string())],
    )
    .unwrap();
    assert_eq!(kind_between(&index, "lib/u.ex", "lib/s.ex"), Some(RefKind::Compile));
}
