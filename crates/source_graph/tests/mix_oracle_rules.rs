//! The dependency rules that changed between Elixir releases, case by case.
//!
//! Each [`Case`] is a few files and every file edge between them, with its
//! kind (`mix xref graph`'s label) from each release on. Two tests read the
//! table:
//!
//! - `index_follows_each_release_rules` (no Mix): for every release from
//!   1.13 to 1.21, the index built with that release's rules has exactly
//!   the listed edges (1.13 gets 1.14's rules and 1.21 gets 1.20's).
//! - `mix_agrees_with_the_rules_of_the_elixir_here`: the cases are written
//!   into one Mix project, compiled by the Elixir on PATH, and `mix xref
//!   graph` must show exactly the listed edges for that release, as must
//!   the index. CI runs it on 1.14, 1.18 and 1.20, which checks the table
//!   on those; the other releases' columns come from Elixir's sources at
//!   their tags (see `version::Rules` in the crate).
//!
//! Needs `mix` and `elixir` on PATH for the second test: without them it
//! fails rather than skips.

// Test helpers: a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use source_graph::{default_roots, ElixirVersion, Index};

mod oracle;
use oracle::*;

/// A kind from a release on: `(minor, kind)`, `None` for no edge.
type Since = &'static [(u32, Option<&'static str>)];

struct Case {
    name: &'static str,
    /// `(path under lib/, source)`.
    files: &'static [(&'static str, &'static str)],
    /// Every edge between the case's files: `(from, to, kinds by release)`.
    edges: &'static [(&'static str, &'static str, Since)],
}

const COMPILE: Option<&str> = Some("compile");
const EXPORT: Option<&str> = Some("export");
const RUNTIME: Option<&str> = Some("runtime");

const ALWAYS_COMPILE: Since = &[(14, COMPILE)];
const ALWAYS_EXPORT: Since = &[(14, EXPORT)];
const ALWAYS_RUNTIME: Since = &[(14, RUNTIME)];
/// `@behaviour` of a behaviour (1.15: `Module.force_behaviour_dependencies/2`).
const BEHAVIOUR: Since = &[(14, COMPILE), (15, RUNTIME)];
/// An alias in a pattern or guard inside a function (1.15: `elixir_lexical`).
const PATTERN: Since = &[(14, RUNTIME), (15, None)];
/// An alias in a literal part of an attribute's value (1.15:
/// `Macro.expand_literals/3` in `Kernel.@`).
const ATTRIBUTE_LITERAL: Since = &[(14, COMPILE), (15, RUNTIME)];
const ATTRIBUTE_STRUCT: Since = &[(14, COMPILE), (15, EXPORT)];
/// `defimpl P` on `P` (1.19: `Protocol.__impl__/4`).
const DEFIMPL: Since = &[(14, COMPILE), (19, EXPORT)];
/// A protocol on its implementation for a built-in type (1.16).
const BUILT_IN_IMPL: Since = &[(14, RUNTIME), (16, None)];
/// A protocol on its `Any` implementation (1.19).
const ANY_IMPL: Since = &[(14, COMPILE), (19, None)];
/// `@derive P` on `P.Any` (1.16: `dispatch_require/7` traces the callback).
const DERIVE_ANY: Since = &[(14, None), (16, COMPILE)];

fn cases() -> Vec<Case> {
    vec![
        // ---- @behaviour -------------------------------------------------
        Case {
            name: "behaviour",
            files: &[
                ("beh/beh.ex", "defmodule Beh.B do\n  @callback run() :: :ok\nend\n"),
                ("beh/user.ex", "defmodule Beh.U do\n  @behaviour Beh.B\n  def run, do: :ok\nend\n"),
            ],
            edges: &[("beh/user.ex", "beh/beh.ex", BEHAVIOUR)],
        },
        Case {
            name: "behaviour through an alias, in a nested module",
            files: &[
                ("behn/beh.ex", "defmodule BehN.B do\n  @callback run() :: :ok\nend\n"),
                (
                    "behn/outer.ex",
                    "defmodule BehN.Outer do\n  alias BehN.B\n\n  defmodule Inner do\n    @behaviour B\n    def run, do: :ok\n  end\nend\n",
                ),
            ],
            edges: &[("behn/outer.ex", "behn/beh.ex", BEHAVIOUR)],
        },
        Case {
            name: "behaviour injected by a __using__ quote",
            files: &[
                ("behq/beh.ex", "defmodule BehQ.B do\n  @callback run() :: :ok\nend\n"),
                (
                    "behq/base.ex",
                    "defmodule BehQ.Base do\n  defmacro __using__(_) do\n    quote do\n      @behaviour BehQ.B\n      def run, do: :ok\n    end\n  end\nend\n",
                ),
                ("behq/user.ex", "defmodule BehQ.U do\n  use BehQ.Base\nend\n"),
            ],
            edges: &[
                ("behq/user.ex", "behq/beh.ex", BEHAVIOUR),
                ("behq/user.ex", "behq/base.ex", ALWAYS_COMPILE),
            ],
        },
        Case {
            name: "behaviour with @impl naming it",
            files: &[
                ("behi/beh.ex", "defmodule BehI.B do\n  @callback run() :: :ok\nend\n"),
                (
                    "behi/user.ex",
                    "defmodule BehI.U do\n  @behaviour BehI.B\n  @impl BehI.B\n  def run, do: :ok\nend\n",
                ),
            ],
            edges: &[("behi/user.ex", "behi/beh.ex", BEHAVIOUR)],
        },
        Case {
            // Mix warns "is not a behaviour"; 1.14's check traces nothing.
            name: "behaviour that declares no callbacks",
            files: &[
                ("behx/not.ex", "defmodule BehX.NotB do\n  def run, do: :ok\nend\n"),
                ("behx/user.ex", "defmodule BehX.U do\n  @behaviour BehX.NotB\nend\n"),
            ],
            edges: &[("behx/user.ex", "behx/not.ex", ALWAYS_RUNTIME)],
        },
        // ---- aliases in patterns and guards ----------------------------
        Case {
            name: "alias in a function head",
            files: &[
                ("pat/t.ex", "defmodule Pat.T do\nend\n"),
                ("pat/u.ex", "defmodule Pat.U do\n  def f(Pat.T), do: 1\n  def f(_), do: 2\nend\n"),
            ],
            edges: &[("pat/u.ex", "pat/t.ex", PATTERN)],
        },
        Case {
            name: "alias in guards (==, in)",
            files: &[
                ("grd/t.ex", "defmodule Grd.T do\nend\n"),
                ("grd/t2.ex", "defmodule Grd.T2 do\nend\n"),
                (
                    "grd/u.ex",
                    "defmodule Grd.U do\n  def f(x) when x == Grd.T, do: 1\n  def f(x) when x in [Grd.T2], do: 2\n  def f(_), do: 3\nend\n",
                ),
            ],
            edges: &[("grd/u.ex", "grd/t.ex", PATTERN), ("grd/u.ex", "grd/t2.ex", PATTERN)],
        },
        Case {
            name: "alias in case, receive, fn, with, for, = patterns",
            files: &[
                ("cls/a.ex", "defmodule Cls.A do\nend\n"),
                ("cls/b.ex", "defmodule Cls.B do\nend\n"),
                ("cls/c.ex", "defmodule Cls.C do\nend\n"),
                ("cls/d.ex", "defmodule Cls.D do\nend\n"),
                ("cls/e.ex", "defmodule Cls.E do\nend\n"),
                ("cls/f.ex", "defmodule Cls.F do\nend\n"),
                (
                    "cls/u.ex",
                    r#"defmodule Cls.U do
  def c(x) do
    case x do
      {Cls.A, y} when y == 1 -> y
      _ -> 0
    end
  end

  def r do
    receive do
      Cls.B -> 1
    after
      0 -> 2
    end
  end

  def f(l), do: Enum.map(l, fn Cls.C -> 1; _ -> 2 end)
  def w(x), do: with(Cls.D <- x, do: 1)
  def g(l), do: for({Cls.E, v} <- l, do: v)

  def m(x) do
    Cls.F = x
  end
end
"#,
                ),
            ],
            edges: &[
                ("cls/u.ex", "cls/a.ex", PATTERN),
                ("cls/u.ex", "cls/b.ex", PATTERN),
                ("cls/u.ex", "cls/c.ex", PATTERN),
                ("cls/u.ex", "cls/d.ex", PATTERN),
                ("cls/u.ex", "cls/e.ex", PATTERN),
                ("cls/u.ex", "cls/f.ex", PATTERN),
            ],
        },
        Case {
            name: "aliases in expressions next to patterns stay runtime",
            files: &[
                ("expr/a.ex", "defmodule Expr.A do\nend\n"),
                ("expr/b.ex", "defmodule Expr.B do\nend\n"),
                ("expr/c.ex", "defmodule Expr.C do\nend\n"),
                ("expr/d.ex", "defmodule Expr.D do\n  defexception [:message]\nend\n"),
                ("expr/e.ex", "defmodule Expr.E do\nend\n"),
                (
                    "expr/u.ex",
                    r#"defmodule Expr.U do
  def d(x \\ Expr.A), do: x

  def c(x) do
    cond do
      x == Expr.B -> 1
      true -> 2
    end
  end

  def b(x) do
    case x do
      :a -> Expr.C
      _ -> nil
    end
  end

  def r(f) do
    f.()
  rescue
    e in [Expr.D] -> e
  end

  def t do
    receive do
      _ -> 1
    after
      Expr.E.timeout() -> 2
    end
  end
end
"#,
                ),
            ],
            edges: &[
                ("expr/u.ex", "expr/a.ex", ALWAYS_RUNTIME),
                ("expr/u.ex", "expr/b.ex", ALWAYS_RUNTIME),
                ("expr/u.ex", "expr/c.ex", ALWAYS_RUNTIME),
                ("expr/u.ex", "expr/d.ex", ALWAYS_RUNTIME),
                ("expr/u.ex", "expr/e.ex", ALWAYS_RUNTIME),
            ],
        },
        Case {
            name: "patterns in the module body are compile-time, structs in patterns export",
            files: &[
                ("body/a.ex", "defmodule Body.A do\nend\n"),
                ("body/s.ex", "defmodule Body.S do\n  defstruct [:a]\nend\n"),
                (
                    "body/u.ex",
                    "defmodule Body.U do\n  case :x do\n    Body.A -> :ok\n    _ -> :ok\n  end\n\n  def s(%Body.S{a: a}), do: a\nend\n",
                ),
            ],
            edges: &[
                ("body/u.ex", "body/a.ex", ALWAYS_COMPILE),
                ("body/u.ex", "body/s.ex", ALWAYS_EXPORT),
            ],
        },
        // ---- module attribute values -------------------------------------
        Case {
            name: "aliases in the literal parts of attribute values",
            files: &[
                ("attr/a.ex", "defmodule Attr.A do\nend\n"),
                ("attr/b.ex", "defmodule Attr.B do\n  def f, do: 1\nend\n"),
                ("attr/c.ex", "defmodule Attr.C do\nend\n"),
                ("attr/d.ex", "defmodule Attr.D do\nend\n"),
                ("attr/e.ex", "defmodule Attr.E do\nend\n"),
                ("attr/f.ex", "defmodule Attr.F do\nend\n"),
                (
                    "attr/u.ex",
                    r#"defmodule Attr.U do
  @list [Attr.A, Attr.B.f()]
  @tuple {Attr.C, length([1])}
  @map %{mod: Attr.D, n: length([])}
  @keys [mod: Attr.E, n: String.length("x")]
  @key %{Attr.F => 1, n: length([])}
  def all, do: [@list, @tuple, @map, @keys, @key]
end
"#,
                ),
            ],
            edges: &[
                ("attr/u.ex", "attr/a.ex", ATTRIBUTE_LITERAL),
                ("attr/u.ex", "attr/b.ex", ALWAYS_COMPILE),
                ("attr/u.ex", "attr/c.ex", ATTRIBUTE_LITERAL),
                ("attr/u.ex", "attr/d.ex", ATTRIBUTE_LITERAL),
                ("attr/u.ex", "attr/e.ex", ATTRIBUTE_LITERAL),
                ("attr/u.ex", "attr/f.ex", ATTRIBUTE_LITERAL),
            ],
        },
        Case {
            name: "attribute values: structs, reads in the body, calls",
            files: &[
                ("attrs/s.ex", "defmodule AttrS.S do\n  defstruct [:a]\nend\n"),
                ("attrs/t.ex", "defmodule AttrS.T do\n  defstruct [:a]\nend\n"),
                ("attrs/l.ex", "defmodule AttrS.L do\n  defstruct [:a]\nend\n"),
                ("attrs/r.ex", "defmodule AttrS.R do\nend\n"),
                ("attrs/c.ex", "defmodule AttrS.C do\nend\n"),
                ("attrs/f.ex", "defmodule AttrS.F do\nend\n"),
                (
                    "attrs/u.ex",
                    r#"defmodule AttrS.U do
  @call %AttrS.S{a: length([1])}
  x = 3
  @var %AttrS.T{a: x}
  @literal [%AttrS.L{a: 1}]
  @read [AttrS.R, length([])]
  @again @read
  @arg Enum.map([AttrS.C], & &1)
  @fun AttrS.F
  def all, do: [@call, @var, @literal, @again, @arg, @fun]
end
"#,
                ),
            ],
            edges: &[
                ("attrs/u.ex", "attrs/s.ex", ATTRIBUTE_STRUCT),
                ("attrs/u.ex", "attrs/t.ex", ATTRIBUTE_STRUCT),
                ("attrs/u.ex", "attrs/l.ex", ALWAYS_EXPORT),
                ("attrs/u.ex", "attrs/r.ex", ALWAYS_COMPILE),
                ("attrs/u.ex", "attrs/c.ex", ALWAYS_COMPILE),
                ("attrs/u.ex", "attrs/f.ex", ALWAYS_RUNTIME),
            ],
        },
        Case {
            // The constructs of `known_index_bugs.rs`: no release changed them.
            name: "structs in typespecs and in code the module body runs",
            files: &[
                ("unch/s.ex", "defmodule Unch.S do\n  defstruct [:a]\nend\n"),
                ("unch/t.ex", "defmodule Unch.T do\n  defstruct [:a]\nend\n"),
                ("unch/f.ex", "defmodule Unch.F do\n  defstruct [:a]\nend\n"),
                ("unch/p.ex", "defmodule Unch.P do\n  defstruct [:a]\nend\n"),
                (
                    "unch/u.ex",
                    r#"defmodule Unch.U do
  @type t :: %Unch.S{}
  @spec f(%Unch.S{}) :: :ok
  def f(_), do: :ok
  @put Map.put(%Unch.T{}, :a, 2)
  @fun Enum.map([1], fn a -> %Unch.F{a: a} end)
  @pat Enum.map([1], fn %Unch.P{a: a} -> a; b -> b end)
  def all, do: [@put, @fun, @pat]
end
"#,
                ),
            ],
            edges: &[
                ("unch/u.ex", "unch/s.ex", ALWAYS_EXPORT),
                ("unch/u.ex", "unch/t.ex", ALWAYS_COMPILE),
                ("unch/u.ex", "unch/f.ex", ALWAYS_COMPILE),
                ("unch/u.ex", "unch/p.ex", ALWAYS_COMPILE),
            ],
        },
        // ---- protocols -------------------------------------------------------
        Case {
            name: "defimpl for a built-in type",
            files: &[
                ("impl/proto.ex", "defprotocol Impl.P do\n  def size(x)\nend\n"),
                (
                    "impl/int.ex",
                    "defimpl Impl.P, for: Integer do\n  def size(_), do: 1\nend\n",
                ),
            ],
            edges: &[
                ("impl/int.ex", "impl/proto.ex", DEFIMPL),
                ("impl/proto.ex", "impl/int.ex", BUILT_IN_IMPL),
            ],
        },
        Case {
            name: "defimpl for a list of types",
            files: &[
                ("impll/proto.ex", "defprotocol ImplL.P do\n  def size(x)\nend\n"),
                ("impll/t.ex", "defmodule ImplL.T do\n  defstruct [:a]\nend\n"),
                (
                    "impll/impl.ex",
                    "defimpl ImplL.P, for: [Atom, ImplL.T] do\n  def size(_), do: 1\nend\n",
                ),
            ],
            edges: &[
                ("impll/impl.ex", "impll/proto.ex", DEFIMPL),
                ("impll/impl.ex", "impll/t.ex", ALWAYS_RUNTIME),
                ("impll/proto.ex", "impll/impl.ex", BUILT_IN_IMPL),
            ],
        },
        Case {
            name: "defimpl nested in the struct's module, through an alias",
            files: &[
                ("impln/proto.ex", "defprotocol ImplN.P do\n  def size(x)\nend\n"),
                (
                    "impln/holder.ex",
                    "defmodule ImplN.Holder do\n  defstruct [:a]\n  alias ImplN.P\n\n  defimpl P do\n    def size(_), do: 1\n  end\nend\n",
                ),
            ],
            edges: &[("impln/holder.ex", "impln/proto.ex", DEFIMPL)],
        },
        Case {
            name: "defimpl in the protocol's own file and module",
            files: &[
                (
                    "implo/shape.ex",
                    r#"defmodule ImplO.Shape do
  defprotocol Proto do
    def area(s)
  end

  defimpl Proto, for: Integer do
    def area(_), do: 1
  end

  def area(x), do: Proto.area(x)
end
"#,
                ),
                (
                    "implo/list.ex",
                    "defimpl ImplO.Shape.Proto, for: List do\n  def area(_), do: 2\nend\n",
                ),
                (
                    "implo/user.ex",
                    "defmodule ImplO.User do\n  @area ImplO.Shape.Proto.area(3)\n  def area, do: @area\nend\n",
                ),
            ],
            edges: &[
                ("implo/list.ex", "implo/shape.ex", DEFIMPL),
                ("implo/shape.ex", "implo/list.ex", BUILT_IN_IMPL),
                ("implo/user.ex", "implo/shape.ex", ALWAYS_COMPILE),
            ],
        },
        Case {
            name: "a protocol and its Any implementation",
            files: &[
                (
                    "any/proto.ex",
                    "defprotocol Any1.P do\n  @fallback_to_any true\n  def size(x)\nend\n",
                ),
                ("any/impl.ex", "defimpl Any1.P, for: Any do\n  def size(_), do: 0\nend\n"),
            ],
            edges: &[
                ("any/impl.ex", "any/proto.ex", DEFIMPL),
                ("any/proto.ex", "any/impl.ex", ANY_IMPL),
            ],
        },
        Case {
            name: "a protocol without @fallback_to_any and an Any implementation",
            files: &[
                ("anyn/proto.ex", "defprotocol AnyN.P do\n  def size(x)\nend\n"),
                ("anyn/impl.ex", "defimpl AnyN.P, for: Any do\n  def size(_), do: 0\nend\n"),
            ],
            edges: &[
                ("anyn/impl.ex", "anyn/proto.ex", DEFIMPL),
                ("anyn/proto.ex", "anyn/impl.ex", ANY_IMPL),
            ],
        },
        Case {
            name: "@derive a protocol through its Any implementation",
            files: &[
                (
                    "drv/proto.ex",
                    "defprotocol Drv.P do\n  @fallback_to_any true\n  def size(x)\nend\n",
                ),
                ("drv/any.ex", "defimpl Drv.P, for: Any do\n  def size(_), do: 0\nend\n"),
                (
                    "drv/s.ex",
                    "defmodule Drv.S do\n  @derive [Drv.P]\n  defstruct [:a]\nend\n",
                ),
                (
                    "drv/t.ex",
                    "defmodule Drv.T do\n  @derive {Drv.P, option: 1}\n  defstruct [:a]\nend\n",
                ),
            ],
            edges: &[
                ("drv/any.ex", "drv/proto.ex", DEFIMPL),
                ("drv/proto.ex", "drv/any.ex", ANY_IMPL),
                ("drv/s.ex", "drv/proto.ex", ALWAYS_RUNTIME),
                ("drv/s.ex", "drv/any.ex", DERIVE_ANY),
                ("drv/t.ex", "drv/proto.ex", ALWAYS_RUNTIME),
                ("drv/t.ex", "drv/any.ex", DERIVE_ANY),
            ],
        },
        Case {
            // 1.18 calls the protocol's own `__deriving__` macro instead of
            // P.Any's (which 1.14-1.17 need, and call).
            name: "@derive a protocol with a __deriving__ macro",
            files: &[
                (
                    "drvm/proto.ex",
                    "defprotocol DrvM.P do\n  def size(x)\n\n  Kernel.defmacro __deriving__(_module, _opts) do\n    quote do: :ok\n  end\nend\n",
                ),
                ("drvm/any.ex", "defimpl DrvM.P, for: Any do\n  def size(_), do: 0\nend\n"),
                (
                    "drvm/s.ex",
                    "defmodule DrvM.S do\n  @derive [DrvM.P]\n  defstruct [:a]\nend\n",
                ),
            ],
            edges: &[
                ("drvm/any.ex", "drvm/proto.ex", DEFIMPL),
                ("drvm/proto.ex", "drvm/any.ex", ANY_IMPL),
                ("drvm/s.ex", "drvm/proto.ex", &[(14, RUNTIME), (18, COMPILE)]),
                ("drvm/s.ex", "drvm/any.ex", &[(14, None), (16, COMPILE), (18, None)]),
            ],
        },
    ]
}

/// The kind `since` gives for Elixir 1.`minor` (the first entry covers the
/// releases before it).
fn kind_on(since: Since, minor: u32) -> Option<&'static str> {
    let mut kind = since[0].1;
    for (from, k) in since {
        if *from <= minor {
            kind = *k;
        }
    }
    kind
}

/// The listed edges of `case` on Elixir 1.`minor`: `from -> to` => kind.
fn expected(case: &Case, minor: u32) -> BTreeMap<(String, String), String> {
    case.edges
        .iter()
        .filter_map(|(from, to, since)| {
            kind_on(since, minor).map(|k| ((format!("lib/{from}"), format!("lib/{to}")), k.to_string()))
        })
        .collect()
}

/// The edges of `graph` whose both ends are files of `case`.
fn edges_of(case: &Case, graph: &FileGraph) -> BTreeMap<(String, String), String> {
    let files: BTreeSet<String> = case.files.iter().map(|(p, _)| format!("lib/{p}")).collect();
    graph
        .iter()
        .filter(|(from, _)| files.contains(*from))
        .flat_map(|(from, edges)| {
            edges
                .iter()
                .filter(|(to, _)| files.contains(*to))
                .map(move |(to, kind)| ((from.clone(), to.clone()), kind.clone()))
        })
        .collect()
}

fn index_of(cases: &[Case], elixir: ElixirVersion) -> Index {
    let sources: Vec<(String, &str)> = cases
        .iter()
        .flat_map(|c| c.files.iter().map(|(p, s)| (format!("lib/{p}"), *s)))
        .collect();
    Index::from_sources(Path::new("/p"), &sources, elixir).unwrap()
}

#[test]
fn the_table_is_well_formed() {
    let cases = cases();
    let mut paths = BTreeSet::new();
    for case in &cases {
        for (path, _) in case.files {
            assert!(paths.insert(*path), "{path} is in two cases");
        }
        for (from, to, since) in case.edges {
            let known = |p: &str| case.files.iter().any(|(f, _)| *f == p);
            assert!(
                known(from) && known(to),
                "{}: {from} -> {to} names a file not in the case",
                case.name
            );
            assert!(
                !since.is_empty() && since.windows(2).all(|w| w[0].0 < w[1].0),
                "{}",
                case.name
            );
        }
    }
}

#[test]
fn index_follows_each_release_rules() {
    let cases = cases();
    let mut failures = Vec::new();
    for minor in 13..=21 {
        let elixir = ElixirVersion::new(1, minor);
        let index = index_of(&cases, elixir);
        let graph = index_graph(&index);
        // A release outside 1.14-1.20 gets the nearest modelled one's rules.
        let table_minor = minor.clamp(14, 20);
        for case in &cases {
            let ours = edges_of(case, &graph);
            let want = expected(case, table_minor);
            if ours != want {
                failures.push(format!(
                    "Elixir {elixir}, {}:\n  index {ours:?}\n  table {want:?}",
                    case.name
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn mix_agrees_with_the_rules_of_the_elixir_here() {
    let elixir = elixir_version();
    let cases = cases();
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path();
    std::fs::write(
        project.join("mix.exs"),
        "defmodule Rules.MixProject do\n  use Mix.Project\n  def project, do: [app: :rules, version: \"0.1.0\"]\nend\n",
    )
    .unwrap();
    for case in &cases {
        for (path, source) in case.files {
            let file = project.join("lib").join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, source).unwrap();
        }
    }
    run_mix(project, &["compile"]);
    let mix = parse_plain_graph(&run_mix(project, &["xref", "graph", "--format", "plain"]));
    let index = Index::build(project, &default_roots(project, "dev"), elixir).unwrap();
    assert!(index.parse_errors().is_empty(), "{:?}", index.parse_errors());
    let ours = index_graph(&index);
    let mut failures = Vec::new();
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for case in &cases {
        let want = expected(case, elixir.minor.clamp(14, 20));
        let by_mix = edges_of(case, &mix);
        let by_index = edges_of(case, &ours);
        for kind in by_mix.values() {
            *kinds.entry(kind.clone()).or_default() += 1;
        }
        if by_mix != want {
            failures.push(format!(
                "{}: Mix on Elixir {elixir} {by_mix:?}, table {want:?}",
                case.name
            ));
        }
        if by_index != by_mix {
            failures.push(format!(
                "{}: index {by_index:?}, Mix on Elixir {elixir} {by_mix:?}",
                case.name
            ));
        }
    }
    println!(
        "Elixir {elixir}: {} cases, Mix's edges by kind {kinds:?}, {} differences",
        cases.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
