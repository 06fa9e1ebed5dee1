//! Mix's manifest is the oracle, kind by kind: a catalog of one-construct
//! files (every position a struct can take, attributes read in the body,
//! in a function, or not at all, macros and what their quotes inject,
//! `use` with its `__using__` built directly or by a helper, `@behaviour`,
//! `@before_compile`, `import`/`require`/`alias` in their forms,
//! `defdelegate`, `defimpl`/`@derive`, persisted attributes, `__MODULE__`,
//! nested modules, exceptions) is compiled by the Mix on PATH, and the
//! compile, export and runtime references `compile.elixir` stores for each
//! source are compared, separately, with what the index resolves for the
//! same file on the same Elixir (`mix_manifest::compare_references`).
//! `mix xref graph` shows only the strongest kind per pair of files, which
//! hides a runtime or export reference next to a compile one; the manifest
//! does not.
//!
//! Every difference must be listed in [`KNOWN`] with its reason, and be
//! an over-approximation (the index has a kind Mix does not record); a
//! listed difference no longer seen fails too. CI runs it on Elixir 1.14,
//! 1.18 and 1.20.
//!
//! Needs `mix` and `elixir` on PATH: without them the test fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use source_graph::mix_manifest::{compare_references, manifest_path, read_manifest};
use source_graph::{default_roots, Index, KindSet};

mod oracle;
use oracle::*;

/// The modules the cases refer to.
const TARGETS: &[(&str, &str)] = &[
    ("t/s.ex", "defmodule K.S do\n  defstruct [:a]\nend\n"),
    ("t/s2.ex", "defmodule K.S2 do\n  defstruct [:a]\nend\n"),
    (
        "t/d.ex",
        "defmodule K.D do\n  @type t :: term\n  def f(x \\\\ 1), do: x\n  def g(x), do: x\nend\n",
    ),
    (
        "t/m.ex",
        "defmodule K.M do\n  defmacro m(x), do: x\n  def h(x), do: x\n\n  defmacro q(x) do\n    quote do\n      {K.Q1.g(unquote(x)), %K.S{a: unquote(x)}}\n    end\n  end\nend\n",
    ),
    (
        "t/mh.ex",
        "defmodule K.MH do\n  defmacro h(x), do: build(x)\n\n  def build(x) do\n    quote do: K.Q2.g(unquote(x))\n  end\nend\n",
    ),
    (
        "t/mu.ex",
        "defmodule K.MU do\n  defmacro u(x) do\n    quote do: unquote(K.Q3).g(unquote(x))\n  end\nend\n",
    ),
    (
        "t/mn.ex",
        "defmodule K.MN do\n  defmacro n(x) do\n    quote do\n      require K.M\n      K.M.q(unquote(x))\n    end\n  end\nend\n",
    ),
    ("t/b.ex", "defmodule K.B do\n  @callback run() :: :ok\nend\n"),
    (
        "t/u.ex",
        "defmodule K.U do\n  defmacro __using__(_) do\n    quote do\n      def used, do: K.Q4.g(1)\n      @used_struct %K.S2{a: 1}\n      def used_struct, do: @used_struct\n    end\n  end\nend\n",
    ),
    (
        "t/ua.ex",
        "defmodule K.UA do\n  defmacro __using__(which) when is_atom(which), do: apply(__MODULE__, which, [])\n\n  def ctl do\n    quote do\n      def ctl, do: K.Q5.g(1)\n    end\n  end\nend\n",
    ),
    (
        "t/bc.ex",
        "defmodule K.BC do\n  defmacro __before_compile__(_env) do\n    quote do\n      def bc, do: K.Q6.g(1)\n    end\n  end\nend\n",
    ),
    ("t/p.ex", "defprotocol K.P do\n  def size(x)\nend\n"),
    ("t/pa.ex", "defimpl K.P, for: Any do\n  def size(_), do: 0\nend\n"),
    ("t/e.ex", "defmodule K.E do\n  defexception [:message]\nend\n"),
    ("t/g.ex", "defmodule K.G do\n  defguard is_k(x) when is_integer(x)\nend\n"),
    (
        "t/n.ex",
        "defmodule K.N do\n  defmodule Inner do\n    defstruct [:a]\n    def f(x), do: x\n  end\nend\n",
    ),
    ("t/q1.ex", "defmodule K.Q1 do\n  def g(x), do: x\nend\n"),
    ("t/q2.ex", "defmodule K.Q2 do\n  def g(x), do: x\nend\n"),
    ("t/q3.ex", "defmodule K.Q3 do\n  def g(x), do: x\nend\n"),
    ("t/q4.ex", "defmodule K.Q4 do\n  def g(x), do: x\nend\n"),
    ("t/q5.ex", "defmodule K.Q5 do\n  def g(x), do: x\nend\n"),
    ("t/q6.ex", "defmodule K.Q6 do\n  def g(x), do: x\nend\n"),
];

/// One file each: (name, module body). The module is `K.C.<name>`.
const CASES: &[(&str, &str)] = &[
    // ---- structs in functions
    ("HeadBound", "def f(%K.S{} = x), do: x"),
    ("HeadWhole", "def f(%K.S{}), do: 1"),
    ("HeadFields", "def f(%K.S{a: a}), do: a"),
    ("HeadSecondArg", "def f(x, %K.S{}), do: x"),
    ("HeadNested", "def f({%K.S{}, y}), do: y"),
    ("HeadDefault", "def f(x \\\\ %K.S{}), do: x"),
    ("HeadGuarded", "def f(%K.S{a: a}) when a > 1, do: a"),
    ("PrivateHead", "defp p(%K.S{}), do: 1\n  def f(x), do: p(x)"),
    ("MacroHead", "defmacro mac(%K.S{}), do: 1"),
    ("Body", "def f(x), do: %K.S{a: x}"),
    ("Update", "def f(x), do: %K.S{x | a: 1}"),
    ("Guard", "def f(x) when is_struct(x, K.S), do: x"),
    ("GuardAlias", "def f(%s{}) when s == K.S, do: 1"),
    ("MatchQ", "def f(x), do: match?(%K.S{}, x)"),
    (
        "Case",
        "def f(x) do\n    case x do\n      %K.S{} -> 1\n      _ -> 2\n    end\n  end",
    ),
    ("FnPattern", "def f(l), do: Enum.map(l, fn %K.S{a: a} -> a end)"),
    ("ForPattern", "def f(l), do: for(%K.S{a: a} <- l, do: a)"),
    ("WithPattern", "def f(x), do: with(%K.S{a: a} <- x, do: a)"),
    ("MapStructKey", "def f(%{__struct__: K.S2}), do: 1"),
    ("Struct2", "def f(x), do: struct(K.S, x)"),
    // ---- structs in typespecs
    ("Type", "@type t :: %K.S{}"),
    ("Typep", "@typep t :: %K.S{}\n  @type u :: t"),
    ("Opaque", "@opaque t :: %K.S{a: K.D.t()}"),
    ("Spec", "@spec f(%K.S{}) :: :ok\n  def f(_), do: :ok"),
    ("Callback", "@callback c(%K.S{}) :: :ok"),
    (
        "RemoteType",
        "@type t :: K.S.t()\n  @spec f(K.D.t()) :: :ok\n  def f(_), do: :ok",
    ),
    // ---- structs in attributes
    ("AttrUnread", "@d %K.S{a: 1}"),
    ("AttrReadFn", "@d %K.S{a: 1}\n  def d, do: @d"),
    (
        "AttrReadBody",
        "@d %K.S{a: 1}\n  @r Map.fetch!(@d, :a)\n  def r, do: @r",
    ),
    ("AttrReadGuard", "@d %K.S{a: 1}\n  def r(x) when x == @d, do: 1"),
    ("AttrReadDot", "@d %K.S{a: 1}\n  def r, do: @d.a"),
    ("AttrList", "@d [%K.S{a: 1}]\n  def d, do: @d"),
    ("AttrMapCopied", "@d %{k: %K.S{a: 1}}\n  @r @d\n  def r, do: @r"),
    (
        "AttrKeywordBody",
        "@d [default: %K.S{a: 1}]\n  @r Keyword.fetch!(@d, :default)\n  def r, do: @r",
    ),
    ("AttrInspected", "@d %K.S{a: 1}\n  IO.inspect(@d, label: \"d\")"),
    ("AttrFieldCode", "@x %K.S{a: K.D.f()}\n  def x, do: @x"),
    ("AttrFieldLength", "@x %K.S{a: length([1])}\n  def x, do: @x"),
    ("AttrCode", "@x Map.put(%K.S{}, :a, 2)\n  def x, do: @x"),
    (
        "AttrBodyFn",
        "@x Enum.map([%K.S{a: 1}], fn %K.S{a: a} -> a end)\n  def x, do: @x",
    ),
    ("StructDefault", "defstruct a: %K.S{}"),
    (
        "Persist",
        "Module.register_attribute(__MODULE__, :p, persist: true)\n  @p K.D",
    ),
    (
        "PersistStruct",
        "Module.register_attribute(__MODULE__, :p, persist: true)\n  @p %K.S{a: 1}",
    ),
    (
        "PersistRead",
        "Module.register_attribute(__MODULE__, :p, persist: true)\n  @p [K.D]\n  @n length(@p)\n  def n, do: @n",
    ),
    // ---- aliases in attributes
    ("AliasAttr", "@a K.D"),
    ("AliasAttrCall", "@a K.D\n  def f, do: @a.g(1)"),
    ("AliasAttrCopied", "@a K.D\n  @b @a\n  def f, do: @b"),
    ("AliasAttrBodyCall", "@a K.D\n  @b @a.g(1)\n  def f, do: @b"),
    ("BodyCall", "@x K.D.g(1)\n  def x, do: @x"),
    ("EnsureCompiled", "Code.ensure_compiled!(K.D)"),
    // ---- calls, aliases, imports, requires
    ("Import", "import K.D\n  def x, do: g(1)"),
    ("ImportOnly", "import K.D, only: [g: 1]"),
    ("ImportBody", "import K.D\n  @x g(1)\n  def x, do: @x"),
    ("Require", "require K.M\n  def x, do: K.M.m(1)"),
    ("RequireAs", "require K.M, as: Mac\n  def x, do: Mac.m(1)"),
    ("RequireBody", "require K.M\n  @x K.M.m(1)\n  def x, do: @x"),
    ("ImportMacro", "import K.M\n  def x, do: m(1)"),
    ("ImportMacrosOnly", "import K.M, only: :macros\n  def x, do: m(1)"),
    ("MacroNoRequire", "def x(y), do: K.M.m(y)"),
    ("Alias", "alias K.D\n  def x, do: D.g(1)"),
    ("MultiAlias", "alias K.{D, Q1}\n  def x, do: {D.g(1), Q1.g(2)}"),
    ("AliasUnused", "alias K.D"),
    ("Capture", "def f, do: &K.D.g/1"),
    ("CaptureBody", "@c Enum.map([1], &K.D.g/1)\n  def c, do: @c"),
    ("RuntimeAlias", "def x, do: K.D"),
    ("Apply", "def x(y), do: apply(K.D, :g, [y])"),
    ("Delegate", "defdelegate g(x), to: K.D"),
    ("DelegateAs", "defdelegate h(x), to: K.D, as: :g"),
    ("Raise", "def f(x), do: raise(K.E, \"boom #{x}\")"),
    ("Rescue", "def f(g) do\n    g.()\n  rescue\n    e in K.E -> e\n  end"),
    ("GuardMacro", "require K.G\n  def f(x) when K.G.is_k(x), do: x"),
    ("ImportGuard", "import K.G\n  def f(x) when is_k(x), do: x"),
    ("DefguardStruct", "defguard is_s(x) when is_struct(x, K.S)"),
    // ---- what macros' quotes inject
    ("QuoteInFn", "require K.M\n  def x(y), do: K.M.q(y)"),
    ("QuoteInBody", "require K.M\n  @x K.M.q(1)\n  def x, do: @x"),
    ("QuoteImported", "import K.M\n  def x(y), do: q(y)"),
    ("QuoteHelper", "require K.MH\n  def x(y), do: K.MH.h(y)"),
    ("QuoteUnquoted", "require K.MU\n  def x(y), do: K.MU.u(y)"),
    ("QuoteNested", "require K.MN\n  def x(y), do: K.MN.n(y)"),
    ("QuoteNestedBody", "require K.MN\n  @x K.MN.n(1)\n  def x, do: @x"),
    ("Use", "use K.U"),
    ("UseHelper", "use K.UA, :ctl"),
    ("BeforeCompile", "@before_compile K.BC"),
    // ---- behaviours, protocols
    ("Behaviour", "@behaviour K.B\n  def run, do: :ok"),
    ("BehaviourImpl", "@behaviour K.B\n  @impl K.B\n  def run, do: :ok"),
    ("Derive", "@derive [K.P]\n  defstruct [:a]"),
    (
        "DefimplNested",
        "defstruct [:a]\n  defimpl K.P do\n    def size(_), do: 1\n  end",
    ),
    ("DefimplFor", "defimpl K.P, for: K.S do\n    def size(_), do: 2\n  end"),
    // ---- __MODULE__ and nested modules
    ("SelfStruct", "defstruct [:a]\n  def f, do: %__MODULE__{a: 1}"),
    (
        "SelfAliasSub",
        "alias __MODULE__.Sub\n  def f, do: Sub.x()\n  defmodule Sub do\n    def x, do: K.D.g(1)\n  end",
    ),
    (
        "SelfDotCall",
        "defmodule Sub do\n    def x, do: 1\n  end\n  @x __MODULE__.Sub.x()\n  def f, do: @x",
    ),
    ("NestedStruct", "def f(x), do: %K.N.Inner{a: x}"),
    ("NestedAlias", "alias K.N.Inner\n  def f(x), do: Inner.f(x)"),
    ("InNested", "defmodule Inner do\n    def f, do: %K.S{}\n  end"),
    (
        "NestedSibling",
        "defmodule A do\n    def f, do: 1\n  end\n  defmodule B do\n    def f, do: A.f()\n  end",
    ),
];

/// Differences the index is known to have, as over-approximations:
/// (case, target module, reason, whether it applies on Elixir 1.minor).
type Known = (&'static str, &'static str, &'static str, fn(u32) -> bool);
const KNOWN: &[Known] = &[
    (
        "MacroNoRequire",
        "K.M",
        "a macro called without `require` (Mix warns, compiles a runtime call); the index counts a macro call: compile-time",
        |_| true,
    ),
];

fn case_path(name: &str) -> String {
    format!("lib/c/{}.ex", name.to_lowercase())
}

fn kinds(k: KindSet) -> String {
    [(k.compile, 'C'), (k.export, 'E'), (k.runtime, 'R')]
        .iter()
        .map(|(on, c)| if *on { *c } else { '-' })
        .collect()
}

#[test]
fn the_catalog_is_well_formed() {
    let names: BTreeSet<&str> = CASES.iter().map(|(n, _)| *n).collect();
    assert_eq!(names.len(), CASES.len(), "a case name is used twice");
    for (case, _, _, _) in KNOWN {
        assert!(names.contains(case), "{case} is listed in KNOWN but is no case");
    }
}

#[test]
fn index_kinds_equal_mix_manifest_kinds() {
    let elixir = elixir_version();
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path();
    std::fs::write(
        project.join("mix.exs"),
        "defmodule K.MixProject do\n  use Mix.Project\n  def project, do: [app: :kinds, version: \"0.1.0\", consolidate_protocols: false]\nend\n",
    )
    .unwrap();
    std::fs::create_dir_all(project.join("lib/t")).unwrap();
    std::fs::create_dir_all(project.join("lib/c")).unwrap();
    for (path, source) in TARGETS {
        std::fs::write(project.join("lib").join(path), source).unwrap();
    }
    for (name, body) in CASES {
        std::fs::write(
            project.join(case_path(name)),
            format!("defmodule K.C.{name} do\n  {body}\nend\n"),
        )
        .unwrap();
    }
    run_mix(project, &["compile"]);
    let sources = read_manifest(&manifest_path(&project.join("_build/dev"), "kinds")).unwrap();
    let index = Index::build(project, &default_roots(project, "dev"), elixir).unwrap();
    assert!(index.parse_errors().is_empty(), "{:?}", index.parse_errors());

    let by_path: BTreeMap<String, &str> = CASES.iter().map(|(n, _)| (case_path(n), *n)).collect();
    let mut failures = Vec::new();
    let mut seen_known = BTreeSet::new();
    for d in compare_references(&index, Path::new(""), &sources) {
        let path = d.source.display().to_string();
        let case = by_path.get(&path).copied().unwrap_or(path.as_str()).to_string();
        let line = format!(
            "{case} ({path}) -> {}: Mix {} index {}",
            d.module,
            kinds(d.mix),
            kinds(d.index)
        );
        let known = KNOWN
            .iter()
            .find(|(c, m, _, on)| *c == case && *m == d.module && on(elixir.minor));
        match known {
            Some(k) if !d.is_miss() => {
                seen_known.insert((k.0, k.1));
            }
            _ if d.is_miss() => failures.push(format!("MISS {line}")),
            _ => failures.push(format!("unlisted extra {line}")),
        }
    }
    for (case, module, _, on) in KNOWN {
        if on(elixir.minor) && !seen_known.contains(&(*case, *module)) {
            failures.push(format!("listed but not seen on Elixir {elixir}: {case} -> {module}"));
        }
    }
    // What Mix recorded, for the record.
    let mut counts = [0usize; 3];
    for source in &sources {
        counts[0] += source.compile_references.iter().filter(|m| m.starts_with("K.")).count();
        counts[1] += source.export_references.iter().filter(|m| m.starts_with("K.")).count();
        counts[2] += source.runtime_references.iter().filter(|m| m.starts_with("K.")).count();
    }
    println!(
        "Elixir {elixir}: {} cases, Mix's references between them: {} compile, {} export, {} runtime; {} differences",
        CASES.len(),
        counts[0],
        counts[1],
        counts[2],
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
