//! The rules that changed between releases, on inputs of each kind,
//! on both sides of the release that changed them (the file-level
//! edges, checked against Mix, are in `tests/mix_oracle_rules.rs`).

use super::*;
use crate::extract::definitions::BUILT_IN_TYPES;
use crate::model::{Defs, KindSet, RefKind};

const V1_15: ElixirVersion = ElixirVersion::new(1, 15);
const V1_16: ElixirVersion = ElixirVersion::new(1, 16);
const V1_17: ElixirVersion = ElixirVersion::new(1, 17);
const V1_18: ElixirVersion = ElixirVersion::new(1, 18);
const V1_19: ElixirVersion = ElixirVersion::new(1, 19);

fn set(kinds: &[RefKind]) -> KindSet {
    let mut set = KindSet::default();
    for kind in kinds {
        set.add(*kind);
    }
    set
}

fn behaviour_defs(callbacks: bool) -> Defs {
    Defs {
        callbacks,
        ..Defs::default()
    }
}

#[test]
fn behaviour_is_compile_time_on_1_14_when_the_target_has_callbacks() {
    let f = facts("defmodule A do\n  alias X.Beh\n  @behaviour Beh\n  @behaviour :gen_server\nend\n");
    let raw = &f.refs["X.Beh"];
    assert!(raw.behaviour && raw.kinds == set(&[RefKind::Runtime]));
    let on = |elixir: ElixirVersion, defs: Option<&Defs>| resolve(raw, defs, elixir.rules(), false);
    let beh = behaviour_defs(true);
    let not_beh = behaviour_defs(false);
    assert_eq!(on(V1_14, Some(&beh)), set(&[RefKind::Compile, RefKind::Runtime]));
    assert_eq!(on(V1_14, Some(&not_beh)), set(&[RefKind::Runtime]));
    assert_eq!(on(V1_14, None), set(&[RefKind::Compile, RefKind::Runtime]));
    for elixir in [V1_15, V1_19] {
        assert_eq!(on(elixir, Some(&beh)), set(&[RefKind::Runtime]), "{elixir}");
        assert_eq!(on(elixir, None), set(&[RefKind::Runtime]), "{elixir}");
    }
    // An atom is no alias: no reference at all.
    assert!(!f.refs.contains_key("gen_server"), "{:?}", f.refs.keys());
}

#[test]
fn callbacks_make_a_behaviour_and_protocols_are_behaviours() {
    let f = facts(
        "defmodule B do\n  @callback run() :: :ok\nend\ndefmodule M do\n  @macrocallback m() :: Macro.t()\nend\ndefmodule N do\n  @type t :: term\nend\ndefprotocol P do\n  def f(x)\nend\n",
    );
    assert!(f.defs["B"].callbacks && f.defs["M"].callbacks && f.defs["P"].callbacks);
    assert!(!f.defs["N"].callbacks);
    // A quote's callbacks belong to the module it lands in.
    let q = facts(
        "defmodule U do\n  defmacro __using__(_) do\n    quote do\n      @callback c() :: :ok\n    end\n  end\nend\n",
    );
    assert!(!q.defs["U"].callbacks);
}

#[test]
fn aliases_in_patterns_and_guards_are_no_reference_since_1_15() {
    let src = r#"defmodule A do
  def f(P1, x \\ D1) when x == G1, do: B1
  def g(x) do
    case x do
      {P2, y} when y in [G2] -> B2
    end
  end
  def h(l), do: Enum.map(l, fn P3 -> B3 end)
  def i(x) do
    P4 = x
    with P5 <- x, do: B5
  end
  def j(l), do: for({P6, v} <- l, do: {v, B6})
  def k(x) do
    cond do
      x == C1 -> 1
    end
  end
  def r do
    receive do
      P7 -> B7
    after
      C2.t() -> 2
    end
  end
  def t(f) do
    f.()
  rescue
    e in [C3] -> e
  catch
    P8, _ -> B8
  end
  case :x do
    M1 -> :ok
  end
end
"#;
    let patterns = ["P1", "G1", "P2", "G2", "P3", "P4", "P5", "P6", "P7", "P8"];
    let expressions = ["D1", "B1", "B2", "B3", "B5", "B6", "C1", "B7", "C3", "B8"];
    let f14 = facts_on(src, V1_14);
    let f15 = facts_on(src, V1_15);
    for p in patterns {
        assert_eq!(kinds_on(&f14, p, V1_14), set(&[RefKind::Runtime]), "{p} on 1.14");
        assert!(!f15.refs.contains_key(p), "{p} on 1.15");
    }
    for e in expressions {
        for (f, elixir) in [(&f14, V1_14), (&f15, V1_15)] {
            assert_eq!(kinds_on(f, e, elixir), set(&[RefKind::Runtime]), "{e} on {elixir}");
        }
    }
    // A remote call's module is no alias reference: it stays.
    assert!(f15.refs["C2"].runtime_calls.contains("t"));
    // In the module body a pattern is code that runs: compile-time.
    assert_eq!(kinds_on(&f15, "M1", V1_15), set(&[RefKind::Compile]));
}

#[test]
fn attribute_values_literal_as_a_whole_on_1_14_in_parts_since_1_15() {
    let src = r##"defmodule A do
  @list [L1, [nested: {L2}], L3.f()]
  @map %{L4 => 1, k: L5, n: length([])}
  @struct %S1{a: L6, b: length([1])}
  @text "#{L7}"
  @read [L8, length([])]
  @copy @read
  def all, do: [@list, @map, @struct, @text, @copy]
end
"##;
    let f14 = facts_on(src, V1_14);
    let f15 = facts_on(src, V1_15);
    // 1.14: none of the values is literal as a whole.
    for m in ["L1", "L2", "L3", "L4", "L5", "L6", "L7", "L8"] {
        assert!(kinds_on(&f14, m, V1_14).compile, "{m} on 1.14");
    }
    assert_eq!(kinds_on(&f14, "S1", V1_14), set(&[RefKind::Compile, RefKind::Export]));
    // 1.15: literal parts are runtime, the rest runs in the body.
    for m in ["L1", "L2", "L4", "L5", "L6"] {
        assert_eq!(kinds_on(&f15, m, V1_15), set(&[RefKind::Runtime]), "{m} on 1.15");
    }
    assert_eq!(kinds_on(&f15, "S1", V1_15), set(&[RefKind::Export, RefKind::Runtime]));
    for m in ["L3", "L7"] {
        assert!(kinds_on(&f15, m, V1_15).compile, "{m} on 1.15");
    }
    // Read in the body: compile-time on both.
    assert!(kinds_on(&f15, "L8", V1_15).compile);
    assert!(kinds_on(&f14, "L8", V1_14).compile);
}

#[test]
fn defimpl_is_export_on_its_protocol_since_1_19() {
    let src =
        "defmodule H do\n  alias X.Proto\n  defimpl Proto, for: [List, Y.T] do\n    def f(_), do: 1\n  end\nend\n";
    for elixir in [V1_14, V1_18] {
        let f = facts_on(src, elixir);
        assert_eq!(kinds_on(&f, "X.Proto", elixir), set(&[RefKind::Compile]), "{elixir}");
        assert_eq!(kinds_on(&f, "Y.T", elixir), set(&[RefKind::Runtime]), "{elixir}");
    }
    let f = facts_on(src, V1_19);
    assert_eq!(
        kinds_on(&f, "X.Proto", V1_19),
        set(&[RefKind::Export, RefKind::Runtime])
    );
    assert_eq!(kinds_on(&f, "Y.T", V1_19), set(&[RefKind::Runtime]));
    assert_eq!(names(&f), ["H", "X.Proto.List", "X.Proto.Y.T"]);
}

#[test]
fn protocols_reference_their_any_and_built_in_impls_by_release() {
    let src = "defmodule O do\n  defprotocol P do\n    def f(x)\n  end\nend\n";
    let any = |elixir: ElixirVersion| facts_on(src, elixir).refs.get("O.P.Any").map(|r| r.kinds);
    let integer = |elixir: ElixirVersion| facts_on(src, elixir).refs.get("O.P.Integer").map(|r| r.kinds);
    assert_eq!(any(V1_14), Some(set(&[RefKind::Compile])));
    assert_eq!(any(V1_18), Some(set(&[RefKind::Compile])));
    assert_eq!(any(V1_19), None);
    assert_eq!(integer(V1_15), Some(set(&[RefKind::Runtime])));
    assert_eq!(integer(V1_16), None);
    let f = facts_on(src, V1_14);
    for builtin in BUILT_IN_TYPES {
        assert!(f.refs.contains_key(&format!("O.P.{builtin}")), "{builtin}");
    }
}

#[test]
fn derive_reaches_the_any_impl_since_1_16_and_a_deriving_macro_since_1_18() {
    let f = facts("defmodule S do\n  @derive [P1, {P2, only: [:a]}]\n  @derive P3\n  defstruct [:a]\nend\n");
    for p in ["P1", "P2", "P3"] {
        assert!(f.refs[p].derive && f.refs[p].kinds.runtime, "{p}");
        assert!(f.refs[&format!("{p}.Any")].derive_any, "{p}.Any");
    }
    let any = &f.refs["P1.Any"];
    let plain = Defs::default();
    let deriving = Defs {
        macros: ["__deriving__".to_string()].into(),
        ..Defs::default()
    };
    let on = |elixir: ElixirVersion, defs: &Defs, protocol_derives| {
        resolve(any, Some(defs), elixir.rules(), protocol_derives)
    };
    assert!(on(V1_15, &plain, false).is_empty());
    assert_eq!(on(V1_16, &plain, false), set(&[RefKind::Compile]));
    // A `__deriving__` macro of `P.Any` is traced on every release.
    assert_eq!(on(V1_14, &deriving, false), set(&[RefKind::Compile]));
    // The protocol's own macro replaces `P.Any`'s since 1.18.
    assert_eq!(on(V1_17, &plain, true), set(&[RefKind::Compile]));
    assert!(on(V1_18, &plain, true).is_empty());
    let protocol = &f.refs["P1"];
    let on_protocol = |elixir: ElixirVersion| resolve(protocol, Some(&deriving), elixir.rules(), false);
    assert_eq!(on_protocol(V1_17), set(&[RefKind::Runtime]));
    assert_eq!(on_protocol(V1_18), set(&[RefKind::Compile, RefKind::Runtime]));
}

#[test]
fn kernel_qualified_definitions_are_definitions() {
    let f = facts("defprotocol P do\n  def f(x)\n  Kernel.defmacro __deriving__(m, o), do: {m, o}\n  Kernel.def helper, do: X.y()\nend\n");
    assert!(f.defs["P"].macros.contains("__deriving__"));
    assert!(f.defs["P"].functions.contains("helper"));
    assert!(f.refs["X"].runtime_calls.contains("y"));
    assert!(!f.refs.contains_key("Kernel"), "{:?}", f.refs.keys());
}
