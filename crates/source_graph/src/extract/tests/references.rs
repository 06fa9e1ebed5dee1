//! Reference kinds by construct (1.14's rules): `require`/`import`/`use`,
//! calls, structs, attributes, macros, imports, protocols, `__using__`
//! quotes and `defdelegate`.

use super::*;
use crate::model::{Defs, ImportOnly, KindSet, Mode, ModuleKind, RawRef};

#[test]
fn require_import_are_export_use_is_compile_and_export() {
    let f = facts("defmodule A do\n  require B\n  import C\n  use D, opt: E\n  use F.{G, H}\nend\n");
    let export = KindSet {
        export: true,
        ..KindSet::default()
    };
    // `use` is `require` (export) and a call of `__using__` (compile).
    let compile = KindSet {
        compile: true,
        export: true,
        ..KindSet::default()
    };
    assert_eq!(kinds(&f, "B"), export);
    assert_eq!(kinds(&f, "C"), export);
    assert_eq!(kinds(&f, "D"), compile);
    assert!(f.refs["D"].used);
    assert_eq!(kinds(&f, "F.G"), compile);
    assert_eq!(kinds(&f, "F.H"), compile);
    // use options are handed to __using__ unevaluated.
    assert!(!f.refs.contains_key("E"));
}

#[test]
fn body_calls_are_compile_function_calls_runtime() {
    let f = facts(
        "defmodule A do\n  @x B.value()\n  for n <- C.names(), do: def unquote(n)(), do: D.call()\n  E.setup()\n  def f(y \\\\ F.default()), do: G.run(y)\nend\n",
    );
    let compile = KindSet {
        compile: true,
        ..KindSet::default()
    };
    let runtime = KindSet {
        runtime: true,
        ..KindSet::default()
    };
    assert_eq!(kinds(&f, "B"), compile);
    assert_eq!(kinds(&f, "C"), compile);
    assert_eq!(kinds(&f, "E"), compile);
    assert_eq!(kinds(&f, "D"), runtime);
    assert_eq!(kinds(&f, "F"), runtime);
    assert_eq!(kinds(&f, "G"), runtime);
}

#[test]
fn structs_are_export_and_their_alias_traced_where_it_is() {
    let src = "defmodule A do\n  alias X.User\n  def f(%User{} = u), do: %X.Post{author: u}\n  def g(s), do: %{s | a: 1}\n  def h, do: %__MODULE__{}\n  def i(%X.Arg{}, %X.Arg2{} \\\\ nil), do: 1\n  defp j(%X.Private{}), do: 1\n  def k(x), do: match?(%X.Match{}, x)\nend\n";
    let export_runtime = KindSet {
        export: true,
        runtime: true,
        ..KindSet::default()
    };
    let export = KindSet {
        export: true,
        ..KindSet::default()
    };
    // 1.14: an alias in a pattern is a runtime reference too.
    let f = facts(src);
    for module in ["X.User", "X.Post", "X.Arg", "X.Arg2", "X.Private", "X.Match"] {
        assert_eq!(kinds(&f, module), export_runtime, "{module}");
    }
    // 1.15+: not in a pattern, but for a whole argument of a public
    // function (its doc signature expands the name).
    let v1_15 = ElixirVersion::new(1, 15);
    let f = facts_on(src, v1_15);
    for module in ["X.Post", "X.Arg", "X.Arg2"] {
        assert_eq!(kinds_on(&f, module, v1_15), export_runtime, "{module}");
    }
    for module in ["X.User", "X.Private", "X.Match"] {
        assert_eq!(kinds_on(&f, module, v1_15), export, "{module}");
    }
}

#[test]
fn attributes_follow_kernel_at_rules() {
    let f = facts(
        r#"defmodule A do
  @behaviour B
  @before_compile C
  @literal_read_in_body D
  @literal_read_in_fun E
  @spec f(F.t()) :: G.t()
  @moduledoc "docs"
  @derived H.make()
  @keep @literal_read_in_body
  def f(_), do: @literal_read_in_fun
end
"#,
    );
    let compile = KindSet {
        compile: true,
        ..KindSet::default()
    };
    assert!(kinds(&f, "B").compile);
    assert_eq!(kinds(&f, "C"), compile);
    assert!(kinds(&f, "D").compile);
    assert_eq!(kinds(&f, "H"), compile);
    // Setting a literal traces a runtime reference; reading it in a
    // function inlines the atom without a further trace.
    assert_eq!(
        kinds(&f, "E"),
        KindSet {
            runtime: true,
            ..KindSet::default()
        }
    );
    assert!(!f.refs.contains_key("F"), "typespecs add no dependency");
    assert!(!f.refs.contains_key("G"));
}

#[test]
fn macro_calls_are_decided_by_the_target_definitions() {
    let f = facts("defmodule A do\n  require M\n  def f, do: M.mac(M.fun())\nend\n");
    let defs = Defs {
        functions: ["fun".to_string()].into(),
        macros: ["mac".to_string()].into(),
        all: Default::default(),
        callbacks: false,
    };
    let k = resolve(&f.refs["M"], Some(&defs), V1_14.rules(), false);
    assert!(k.compile && k.export && k.runtime);
    let only_fun = resolve(&f.refs["M"], None, V1_14.rules(), false);
    assert!(!only_fun.compile && only_fun.runtime);
}

#[test]
fn imported_calls_resolve_unless_defined_locally() {
    let f = facts(
        r#"defmodule A do
  import M
  import N, only: [n: 1]
  import O, except: [skip: 0]
  helper(1)
  def f(x) do
    x |> mac() |> fun()
    n(x)
    skip()
    local()
  end
  defp local, do: :ok
end
"#,
    );
    let defs = Defs {
        functions: ["fun".into(), "local".into(), "skip".into(), "n".into()].into(),
        macros: ["mac".into(), "helper".into()].into(),
        all: Default::default(),
        callbacks: false,
    };
    let m = &f.refs["M"];
    assert!(m.imported_calls.iter().any(|(n, _, _)| n == "mac"));
    assert!(!m.imported_calls.iter().any(|(n, _, _)| n == "local"));
    let k = resolve(m, Some(&defs), V1_14.rules(), false);
    assert!(k.compile && k.export && k.runtime);
    assert!(f.refs["N"].imported_calls.iter().any(|(n, _, _)| n == "n"));
    assert!(!f.refs["N"].imported_calls.iter().any(|(n, _, _)| n == "fun"));
    assert!(!f.refs["O"].imported_calls.iter().any(|(n, _, _)| n == "skip"));
    // A function imported and called in the module body is compile time.
    let body = resolve(
        &RawRef {
            imported_calls: [("fun".to_string(), Mode::Compile, ImportOnly::Any)].into(),
            ..RawRef::default()
        },
        Some(&defs),
        V1_14.rules(),
        false,
    );
    assert!(body.compile);
}

#[test]
fn protocols_and_impls() {
    let f = facts(
        r#"defprotocol App.Proto do
  def size(x)
end
defimpl App.Proto, for: List do
  def size(l), do: length(l)
end
defmodule App.Thing do
  defstruct [:a]
  defimpl App.Proto do
    def size(_), do: App.Other.one()
  end
  defimpl String.Chars, for: [App.A, App.B] do
    def to_string(_), do: ""
  end
end
"#,
    );
    assert_eq!(
        names(&f),
        [
            "App.Proto",
            "App.Proto.List",
            "App.Thing",
            "App.Proto.App.Thing",
            "String.Chars.App.A",
            "String.Chars.App.B",
        ]
    );
    assert_eq!(f.modules[0].kind, ModuleKind::Protocol);
    assert_eq!(f.modules[1].kind, ModuleKind::Impl);
    assert!(kinds(&f, "App.Proto").compile);
    assert_eq!(
        kinds(&f, "List"),
        KindSet {
            runtime: true,
            ..KindSet::default()
        },
        "for: is expanded as a literal: a runtime trace"
    );
    assert!(kinds(&f, "App.Other").runtime);
}

#[test]
fn using_quotes_are_recorded_as_injected_refs() {
    let f = facts(
        r#"defmodule App.Base do
  alias App.Helpers
  defmacro __using__(_opts) do
    quote do
      @behaviour App.Worker
      import Helpers
      def run, do: App.Util.go()
      unquote(App.Gen.code())
    end
  end
end
"#,
    );
    let injected = &f.using_refs["App.Base"];
    assert!(injected["App.Worker"].behaviour);
    assert!(resolve(&injected["App.Worker"], None, V1_14.rules(), false).compile);
    assert!(injected["App.Helpers"].kinds.export);
    assert!(injected["App.Helpers"].imported);
    assert!(injected["App.Util"].runtime_calls.contains("go"));
    // unquote runs inside the macro body, at the macro's runtime.
    assert!(!f.refs.contains_key("App.Worker"));
    assert!(f.refs["App.Gen"].runtime_calls.contains("code"));
    assert!(f.defs["App.Base"].macros.contains("__using__"));
}

#[test]
fn defdelegate_is_runtime_on_the_target() {
    let f = facts("defmodule A do\n  defdelegate f(x), to: B.C, as: :g\nend\n");
    assert!(f.refs["B.C"].runtime_calls.contains("g"));
    assert!(f.refs["B.C"].kinds.is_empty());
    assert!(f.defs["A"].functions.contains("f"));
}
