//! Differences from Mix that the oracles found and that were bugs of the
//! index: each test states what Mix 1.14 does (checked with `mix xref
//! graph` and `mix compile --verbose` on a scratch project). The fixed ones
//! run; an open one is ignored, with the bug in the reason, until its fix
//! un-ignores it.

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

/// In the module body, Mix 1.14 makes a struct a compile-time dependency
/// when it is part of code the body runs (a call's argument, a field that
/// is an expression or a variable, a pattern), and only an export one when
/// the attribute's value is a literal (the struct, with literal fields,
/// alone or inside a literal list). Checked with `mix xref graph`.
fn body_struct_cases() -> Vec<(&'static str, RefKind)> {
    vec![
        ("  @d %App.S{a: 1}\n  def d, do: @d\n", RefKind::Export),
        ("  @d [%App.S{a: 1}]\n  def d, do: @d\n", RefKind::Export),
        ("  @d %App.S{a: length([1])}\n  def d, do: @d\n", RefKind::Compile),
        ("  @d Map.put(%App.S{}, :a, 2)\n  def d, do: @d\n", RefKind::Compile),
        ("  x = 3\n  @d %App.S{a: x}\n  def d, do: @d\n", RefKind::Compile),
        (
            "  @d Enum.map([1], fn a -> %App.S{a: a} end)\n  def d, do: @d\n",
            RefKind::Compile,
        ),
    ]
}

fn body_struct_kind(body: &str) -> Option<RefKind> {
    let user = format!("defmodule App.U do\n{body}end\n");
    let index = Index::from_sources(Path::new("/p"), &[("lib/s.ex", STRUCT.to_string()), ("lib/u.ex", user)]).unwrap();
    kind_between(&index, "lib/u.ex", "lib/s.ex")
}

#[test]
fn struct_in_code_the_module_body_runs_is_compile_time() {
    for (body, mix) in body_struct_cases().into_iter().filter(|(_, k)| *k == RefKind::Compile) {
        assert_eq!(body_struct_kind(body), Some(mix), "Mix 1.14 for\n{body}");
    }
}

/// A literal struct (literal fields) as a module attribute's value is only
/// an export dependency in Mix 1.14: the struct is expanded, nothing runs.
#[test]
fn struct_literal_as_an_attribute_value_is_export_only() {
    for (body, mix) in body_struct_cases().into_iter().filter(|(_, k)| *k == RefKind::Export) {
        assert_eq!(body_struct_kind(body), Some(mix), "Mix 1.14 for\n{body}");
    }
}
