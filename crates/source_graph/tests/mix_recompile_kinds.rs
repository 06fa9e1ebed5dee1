//! What an edit recompiles, against `mix compile --verbose`, for the two
//! kinds of dependency the index used to miss (issue 18) and their
//! variants:
//!
//! 1. **A struct outside the module body is a runtime reference too.**
//!    `A` uses `B` at compile time (a macro, `use`, or `@behaviour`); `B`
//!    names `C`'s struct somewhere (a function head or body, a guard, a
//!    typespec, an attribute read or not); `C` calls `D` at runtime.
//!    Editing `D` makes `C` stale, and `B` too where Mix records a runtime
//!    reference to `C`, so Mix recompiles `A`; the index must plan it.
//! 2. **A struct in a literal attribute the module body reads is a
//!    compile-time dependency.** `@default %Opts{}` read by `@retries
//!    Map.fetch!(@default, :retries)`: editing what `Opts` calls at
//!    runtime recompiles the user; read in a function only, it does not.
//!
//! Each case is a few files of its own namespace in one Mix project; its
//! files are edited one at a time (a public function added) and Mix's
//! recompiled files compared with `Index::affected`: every file Mix
//! recompiles must be planned, and the plan must equal Mix's for every
//! case (none is a known over-approximation). Which files Mix recompiles
//! depends on the release (a struct matched in a function head is no
//! runtime reference since 1.15, `@behaviour` no compile-time one), so
//! the expected sets are Mix's own, on the Elixir on PATH; the printed
//! table shows them.
//!
//! Mix runs in one VM (the fuzzer's `MixServer`, `tests/fuzz/mix.rs`: Mix's
//! own `compile` task with `--verbose`, as `mix compile --verbose` runs it,
//! without a VM start per edit).
//!
//! Needs `mix` and `elixir` on PATH: without them the test fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use source_graph::{default_roots, Index};

mod fuzz;
mod oracle;
use fuzz::mix::{Compiled, Mix, MixServer};
use oracle::*;

/// How `A` uses `B` at compile time.
#[derive(Clone, Copy, Debug)]
enum Through {
    Macro,
    Use,
    Behaviour,
}

/// Where `B` names `C`'s struct.
const STRUCT_POSITIONS: &[(&str, &str)] = &[
    ("head_bound", "def describe(%NS.C{} = x), do: x"),
    ("head_whole", "def describe(%NS.C{}), do: :c"),
    ("head_fields", "def describe(%NS.C{vat: v}), do: v"),
    ("body", "def describe(x), do: %NS.C{vat: x}"),
    ("guard", "def describe(x) when is_struct(x, NS.C), do: x"),
    ("spec", "@spec describe(%NS.C{}) :: term\n  def describe(x), do: x"),
    ("type", "@type t :: %NS.C{}"),
    ("attr_unused", "@default %NS.C{vat: 1}"),
    ("attr_read_in_fn", "@default %NS.C{vat: 1}\n  def default, do: @default"),
    ("plain_call", "def describe, do: NS.C.vat()"),
];

struct Case {
    name: String,
    /// (path under lib/, source)
    files: Vec<(String, String)>,
    /// Files edited, in turn.
    edits: Vec<String>,
}

fn transitive_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for (n, (position, code)) in STRUCT_POSITIONS.iter().enumerate() {
        for (u, how) in [Through::Macro, Through::Use, Through::Behaviour]
            .into_iter()
            .enumerate()
        {
            let ns = format!("T{n}x{u}");
            let dir = format!("t{n}x{u}");
            let code = code.replace("NS", &ns);
            let (a, b_extra) = match how {
                Through::Macro => (
                    format!("defmodule {ns}.A do\n  require {ns}.B\n  def run(x), do: {ns}.B.mac(x)\nend\n"),
                    "defmacro mac(x), do: x".to_string(),
                ),
                Through::Use => (
                    format!("defmodule {ns}.A do\n  use {ns}.B\nend\n"),
                    "defmacro __using__(_), do: quote(do: def(used, do: :ok))".to_string(),
                ),
                Through::Behaviour => (
                    format!("defmodule {ns}.A do\n  @behaviour {ns}.B\n  def run, do: :ok\nend\n"),
                    "@callback run() :: :ok".to_string(),
                ),
            };
            cases.push(Case {
                name: format!("struct {position}, {how:?}"),
                files: vec![
                    (format!("{dir}/a.ex"), a),
                    (
                        format!("{dir}/b.ex"),
                        format!("defmodule {ns}.B do\n  {b_extra}\n  {code}\nend\n"),
                    ),
                    (
                        format!("{dir}/c.ex"),
                        format!("defmodule {ns}.C do\n  defstruct [:vat]\n  def vat, do: {ns}.D.vat()\nend\n"),
                    ),
                    (
                        format!("{dir}/d.ex"),
                        format!("defmodule {ns}.D do\n  def vat, do: 20\nend\n"),
                    ),
                ],
                edits: vec![format!("{dir}/d.ex"), format!("{dir}/c.ex")],
            });
        }
    }
    cases
}

/// How the user of `%Opts{}` reads the attribute.
const ATTRIBUTE_READS: &[(&str, &str)] = &[
    (
        "read_in_body",
        "@default %NS.Opts{retries: 3}\n  @retries Map.fetch!(@default, :retries)\n  def retries, do: @retries",
    ),
    ("read_in_fn", "@default %NS.Opts{retries: 3}\n  def retries, do: @default.retries"),
    ("unused", "@default %NS.Opts{retries: 3}"),
    (
        "keyword_read_in_body",
        "@opts [default: %NS.Opts{retries: 3}]\n  @retries Keyword.fetch!(@opts, :default).retries\n  def retries, do: @retries",
    ),
    (
        "list_copied_in_body",
        "@defaults [%NS.Opts{retries: 3}]\n  @copy @defaults\n  def copy, do: @copy",
    ),
    (
        "persisted_read_in_body",
        "Module.register_attribute(__MODULE__, :default, persist: true)\n  @default %NS.Opts{retries: 3}\n  @retries @default.retries\n  def retries, do: @retries",
    ),
    ("inspected_in_body", "@default %NS.Opts{retries: 3}\n  IO.inspect(@default, label: \"default\")"),
];

fn attribute_cases() -> Vec<Case> {
    ATTRIBUTE_READS
        .iter()
        .enumerate()
        .map(|(n, (read, code))| {
            let ns = format!("Y{n}");
            let dir = format!("y{n}");
            let code = code.replace("NS", &ns);
            Case {
                name: format!("attribute {read}"),
                files: vec![
                    (format!("{dir}/user.ex"), format!("defmodule {ns}.User do\n  {code}\nend\n")),
                    (
                        format!("{dir}/opts.ex"),
                        format!("defmodule {ns}.Opts do\n  defstruct retries: 3\n  def default, do: {ns}.Cfg.retries()\nend\n"),
                    ),
                    (format!("{dir}/cfg.ex"), format!("defmodule {ns}.Cfg do\n  def retries, do: 3\nend\n")),
                ],
                edits: vec![format!("{dir}/cfg.ex"), format!("{dir}/opts.ex")],
            }
        })
        .collect()
}

/// Adds `def probe_<n>, do: :ok` before the last `end` of the file's
/// first module (each file here has one).
fn probe(source: &str, n: usize) -> String {
    let at = source.rfind("end").unwrap();
    format!("{}  def probe_{n}, do: :ok\n{}", &source[..at], &source[at..])
}

#[test]
fn planned_recompiles_cover_and_equal_mix() {
    let elixir = elixir_version();
    let cases: Vec<Case> = transitive_cases().into_iter().chain(attribute_cases()).collect();
    let tmp = tempfile::tempdir().unwrap();
    let project = &tmp.path().join("kinds");
    std::fs::create_dir_all(project).unwrap();
    std::fs::write(
        project.join("mix.exs"),
        "defmodule Kinds.MixProject do\n  use Mix.Project\n  def project, do: [app: :kinds, version: \"0.1.0\"]\nend\n",
    )
    .unwrap();
    for case in &cases {
        for (path, source) in &case.files {
            let file = project.join("lib").join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, source).unwrap();
        }
    }
    let mut mix_vm = MixServer::start(tmp.path());
    let mut compile = || match mix_vm.compile("kinds", project) {
        Compiled::Files(files) => files,
        Compiled::Failed(error) => panic!("mix compile failed:\n{error}"),
    };
    compile();
    let mut index = Index::build(project, &default_roots(project, "dev"), elixir).unwrap();
    assert!(index.parse_errors().is_empty(), "{:?}", index.parse_errors());

    let mut failures = Vec::new();
    let mut table = String::new();
    let mut n = 0;
    for case in &cases {
        for edit in &case.edits {
            n += 1;
            let path = PathBuf::from("lib").join(edit);
            let source = probe(&std::fs::read_to_string(project.join(&path)).unwrap(), n);
            std::fs::write(project.join(&path), &source).unwrap();
            index.update_file(&path, &source).unwrap();
            let mix = compile();
            let planned: BTreeSet<String> = index
                .affected(&[path.as_path()])
                .recompile_paths()
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            let short = |set: &BTreeSet<String>| -> Vec<String> {
                set.iter()
                    .map(|p| Path::new(p).file_stem().unwrap().to_string_lossy().into_owned())
                    .collect()
            };
            table.push_str(&format!(
                "  {:<38} edit {:<8} Mix {:?}\n",
                case.name,
                Path::new(edit).file_name().unwrap().to_string_lossy(),
                short(&mix)
            ));
            let missed: Vec<&String> = mix.difference(&planned).collect();
            let extra: Vec<&String> = planned.difference(&mix).collect();
            if !missed.is_empty() {
                failures.push(format!("{}: editing {edit}, the index misses {missed:?}", case.name));
            }
            if !extra.is_empty() {
                failures.push(format!("{}: editing {edit}, the index also plans {extra:?}", case.name));
            }
        }
    }
    println!("Elixir {elixir}: {n} edits in {} cases\n{table}", cases.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
