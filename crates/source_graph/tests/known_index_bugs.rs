//! Differences from Mix that the oracles found and that were bugs of the
//! index: each test states what Mix does (checked with `mix xref graph` and
//! `mix compile --verbose` on a scratch project, on Elixir 1.14, and since
//! on 1.18 and 1.20: the same constructs are cases of
//! `mix_oracle_rules.rs`, which CI checks against Mix on each). Each runs on
//! the rules of every release from 1.14 to 1.20. The fixed ones run; an open
//! one is ignored, with the bug in the reason, until its fix un-ignores it.

// Test helpers: a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use source_graph::{ElixirVersion, Index, RefKind};

/// Every release whose rules the index models.
fn releases() -> impl Iterator<Item = ElixirVersion> {
    (ElixirVersion::OLDEST_MODELLED.minor..=ElixirVersion::NEWEST_MODELLED.minor).map(|m| ElixirVersion::new(1, m))
}

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
/// `extract/attributes.rs`), so the edge and the recompilation are missed.
#[test]
fn struct_in_a_typespec_is_an_export_dependency() {
    for (attr, elixir) in ["type t ::", "typep t ::", "opaque t ::", "spec f(", "callback c("]
        .into_iter()
        .flat_map(|a| releases().map(move |r| (a, r)))
    {
        let user = if attr.starts_with("spec") || attr.starts_with("callback") {
            format!("defmodule App.U do\n  @{attr}%App.S{{}}) :: :ok\n  def f(_), do: :ok\nend\n")
        } else {
            format!("defmodule App.U do\n  @{attr} %App.S{{}}\n  def f(x), do: x\nend\n")
        };
        let index = Index::from_sources(
            Path::new("/p"),
            &[("lib/s.ex", STRUCT.to_string()), ("lib/u.ex", user.clone())],
            elixir,
        )
        .unwrap();
        assert_eq!(
            kind_between(&index, "lib/u.ex", "lib/s.ex"),
            Some(RefKind::Export),
            "Mix {elixir}: lib/u.ex -> lib/s.ex (export) for\n{user}"
        );
        let recompiled: Vec<PathBuf> = index.affected(&["lib/s.ex"]).recompile_paths();
        assert!(
            recompiled.contains(&PathBuf::from("lib/u.ex")),
            "Mix recompiles lib/u.ex after a public function is added to App.S:\n{user}"
        );
    }
}

/// A struct pattern in an anonymous function evaluated in the module body
/// is a compile-time dependency (the pattern's alias is traced while the
/// module body runs, `function == nil`, on every release); the index
/// recorded an export one.
#[test]
fn struct_pattern_in_a_module_body_fn_is_compile_time() {
    let user = "defmodule App.U do\n  @x Enum.map([1], fn %App.S{a: a} -> a; b -> b end)\n  def x, do: @x\nend\n";
    for elixir in releases() {
        let index = Index::from_sources(
            Path::new("/p"),
            &[("lib/s.ex", STRUCT.to_string()), ("lib/u.ex", user.to_string())],
            elixir,
        )
        .unwrap();
        assert_eq!(
            kind_between(&index, "lib/u.ex", "lib/s.ex"),
            Some(RefKind::Compile),
            "Elixir {elixir}"
        );
    }
}

/// In the module body, Mix makes a struct a compile-time dependency when it
/// is part of code the body runs (a call's argument, a pattern), and only an
/// export one when it is a literal part of the attribute's value. What is a
/// literal part changed in 1.15 (see `AttributeLiterals` in the crate): on
/// 1.14 the whole value must be literal, so a struct with a field that is an
/// expression or a variable is compile-time; since 1.15 the struct's name is
/// expanded beforehand whatever its fields, so it is export.
/// `(body, kind on 1.14, kind on 1.15+)`, checked with `mix xref graph`.
fn body_struct_cases() -> Vec<(&'static str, RefKind, RefKind)> {
    use RefKind::{Compile, Export};
    vec![
        ("  @d %App.S{a: 1}\n  def d, do: @d\n", Export, Export),
        ("  @d [%App.S{a: 1}]\n  def d, do: @d\n", Export, Export),
        ("  @d %App.S{a: length([1])}\n  def d, do: @d\n", Compile, Export),
        ("  @d Map.put(%App.S{}, :a, 2)\n  def d, do: @d\n", Compile, Compile),
        ("  x = 3\n  @d %App.S{a: x}\n  def d, do: @d\n", Compile, Export),
        (
            "  @d Enum.map([1], fn a -> %App.S{a: a} end)\n  def d, do: @d\n",
            Compile,
            Compile,
        ),
    ]
}

fn body_struct_kind(body: &str, elixir: ElixirVersion) -> Option<RefKind> {
    let user = format!("defmodule App.U do\n{body}end\n");
    let index = Index::from_sources(
        Path::new("/p"),
        &[("lib/s.ex", STRUCT.to_string()), ("lib/u.ex", user)],
        elixir,
    )
    .unwrap();
    kind_between(&index, "lib/u.ex", "lib/s.ex")
}

fn mix_kind(case: &(&str, RefKind, RefKind), elixir: ElixirVersion) -> RefKind {
    if elixir < ElixirVersion::new(1, 15) {
        case.1
    } else {
        case.2
    }
}

#[test]
fn struct_in_code_the_module_body_runs_is_compile_time() {
    for elixir in releases() {
        for case in body_struct_cases() {
            let mix = mix_kind(&case, elixir);
            if mix == RefKind::Compile {
                assert_eq!(
                    body_struct_kind(case.0, elixir),
                    Some(mix),
                    "Mix {elixir} for\n{}",
                    case.0
                );
            }
        }
    }
}

/// A literal struct as a module attribute's value is only an export
/// dependency: the struct is expanded, nothing runs.
#[test]
fn struct_literal_as_an_attribute_value_is_export_only() {
    for elixir in releases() {
        for case in body_struct_cases() {
            let mix = mix_kind(&case, elixir);
            if mix == RefKind::Export {
                assert_eq!(
                    body_struct_kind(case.0, elixir),
                    Some(mix),
                    "Mix {elixir} for\n{}",
                    case.0
                );
            }
        }
    }
}
