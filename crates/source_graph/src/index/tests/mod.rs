//! Tests of the index: small projects here, the randomised incremental
//! test in `incremental`.

mod incremental;

use std::path::Path;

use super::*;

const V1_14: ElixirVersion = ElixirVersion::new(1, 14);

/// An index by 1.14's rules (the index does not depend on the release
/// but through the extractor's and `resolve`'s rules, tested there).
fn index(sources: &[(&str, &str)]) -> Index {
    Index::from_sources(Path::new("/proj"), sources, V1_14).unwrap()
}

fn paths(v: &[PathBuf]) -> Vec<String> {
    v.iter().map(|p| p.display().to_string()).collect()
}

/// a.ex uses B's macro at compile time; B calls C at runtime; C calls D
/// at runtime; E calls A at runtime; F has a struct of C.
fn chain() -> Index {
    index(&[
        ("lib/a.ex", "defmodule A do\n  require B\n  def f, do: B.mac()\nend\n"),
        ("lib/b.ex", "defmodule B do\n  defmacro mac, do: C.value()\nend\n"),
        (
            "lib/c.ex",
            "defmodule C do\n  defstruct [:x]\n  def value, do: D.v()\nend\n",
        ),
        ("lib/d.ex", "defmodule D do\n  def v, do: 1\nend\n"),
        ("lib/e.ex", "defmodule E do\n  def g, do: A.f()\nend\n"),
        ("lib/f.ex", "defmodule F do\n  def h(%C{}), do: :ok\nend\n"),
    ])
}

#[test]
fn macro_call_makes_a_compile_edge() {
    let idx = chain();
    let edges = idx.edges_from(Path::new("lib/a.ex"));
    assert_eq!(edges.len(), 1);
    assert_eq!(edges[0].to, PathBuf::from("lib/b.ex"));
    assert_eq!(edges[0].kind, RefKind::Compile);
    assert!(edges[0].export, "require is an export dependency too");
    assert_eq!(idx.file_of("C"), Some(Path::new("lib/c.ex")));
}

#[test]
fn compile_connected_recompiles_through_runtime_edges() {
    let idx = chain();
    // D changes: C is stale (runtime on D), B is stale (runtime on C),
    // so A, compiled against B's macro, must recompile. E only calls A.
    let affected = idx.affected(&["lib/d.ex"]);
    assert_eq!(paths(&affected.recompile_paths()), ["lib/d.ex", "lib/a.ex"]);
    assert_eq!(
        affected.recompile[1].reason,
        Reason::Compile {
            module: "B".into(),
            via: "lib/b.ex".into()
        }
    );
    assert_eq!(paths(&affected.runtime_callers), ["lib/c.ex", "lib/e.ex"]);
    let modules: Vec<&str> = affected.modules.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(modules, ["D", "A"]);
}

#[test]
fn export_dependents_recompile_only_for_the_changed_file() {
    let idx = chain();
    let c = idx.affected(&["lib/c.ex"]);
    let mut recompile = paths(&c.recompile_paths());
    assert_eq!(recompile[0], "lib/c.ex", "changed files come first");
    recompile.sort();
    assert_eq!(recompile, ["lib/a.ex", "lib/c.ex", "lib/f.ex"]);
    // D's change makes C stale but not C's struct: F stays.
    let d = idx.affected(&["/proj/lib/d.ex"]);
    assert!(!d.recompile_paths().contains(&PathBuf::from("lib/f.ex")));
}

#[test]
fn leaf_change_touches_only_itself() {
    let idx = chain();
    let e = idx.affected(&["lib/e.ex"]);
    assert_eq!(paths(&e.recompile_paths()), ["lib/e.ex"]);
    assert!(e.runtime_callers.is_empty());
}

#[test]
fn update_patches_forward_and_reverse_edges() {
    let mut idx = chain();
    // B's macro stops calling C: A no longer depends on D's changes.
    idx.update_file(Path::new("lib/b.ex"), "defmodule B do\n  defmacro mac, do: 42\nend\n")
        .unwrap();
    assert_eq!(paths(&idx.affected(&["lib/d.ex"]).recompile_paths()), ["lib/d.ex"]);
    // B's `mac` becomes a function: A's call turns runtime, with no
    // re-parse of a.ex.
    idx.update_file(Path::new("lib/b.ex"), "defmodule B do\n  def mac, do: C.value()\nend\n")
        .unwrap();
    let edges = idx.edges_from(Path::new("lib/a.ex"));
    // runtime + export (the require): Mix shows the stronger, export.
    assert_eq!(edges[0].kind, RefKind::Export);
    assert_eq!(paths(&idx.affected(&["lib/d.ex"]).recompile_paths()), ["lib/d.ex"]);
    // A module moves to another file.
    idx.update_file(Path::new("lib/d.ex"), "defmodule D2 do\nend\n")
        .unwrap();
    idx.update_file(Path::new("lib/d_new.ex"), "defmodule D do\n  def v, do: 2\nend\n")
        .unwrap();
    assert_eq!(idx.file_of("D"), Some(Path::new("lib/d_new.ex")));
    assert_eq!(idx.file_of("D2"), Some(Path::new("lib/d.ex")));
    let edges = idx.edges_from(Path::new("lib/c.ex"));
    assert_eq!(edges[0].to, PathBuf::from("lib/d_new.ex"));
}

#[test]
fn remove_forgets_definitions_and_references() {
    let mut idx = chain();
    assert!(idx.remove_file(Path::new("lib/b.ex")));
    assert!(!idx.remove_file(Path::new("lib/b.ex")));
    assert_eq!(idx.file_of("B"), None);
    assert!(idx.edges_from(Path::new("lib/a.ex")).is_empty());
    assert!(idx.modules_in(Path::new("lib/b.ex")).is_empty());
    assert!(idx.remove_file(Path::new("lib/a.ex")));
    assert!(!idx.referenced_by.contains_key("B"));
    assert!(!idx.referenced_by.values().any(|s| s.contains(Path::new("lib/a.ex"))));
    // Removing a file leaves a changed-but-unknown path for affected.
    let affected = idx.affected(&["lib/a.ex"]);
    assert_eq!(paths(&affected.unknown), ["lib/a.ex"]);
    assert_eq!(paths(&affected.recompile_paths()), ["lib/a.ex"]);
}

#[test]
fn use_injects_the_using_quote() {
    let idx = index(&[
        (
            "lib/base.ex",
            "defmodule Base1 do\n  defmacro __using__(_) do\n    quote do\n      @behaviour Beh\n      def x, do: Util.go()\n    end\n  end\nend\n",
        ),
        ("lib/beh.ex", "defmodule Beh do\n  @callback x() :: term\nend\n"),
        ("lib/util.ex", "defmodule Util do\n  def go, do: Deep.d()\nend\n"),
        ("lib/deep.ex", "defmodule Deep do\n  def d, do: 1\nend\n"),
        ("lib/user.ex", "defmodule User1 do\n  use Base1\nend\n"),
    ]);
    let edges: Vec<(String, RefKind)> = idx
        .edges_from(Path::new("lib/user.ex"))
        .into_iter()
        .map(|e| (e.to.display().to_string(), e.kind))
        .collect();
    assert_eq!(
        edges,
        [
            ("lib/base.ex".to_string(), RefKind::Compile),
            ("lib/beh.ex".to_string(), RefKind::Compile),
            ("lib/util.ex".to_string(), RefKind::Runtime),
        ]
    );
    // The injected runtime call does not make User1 recompile for Deep,
    // but Beh's change does, and so does Base1's.
    assert_eq!(
        paths(&idx.affected(&["lib/deep.ex"]).recompile_paths()),
        ["lib/deep.ex"]
    );
    assert_eq!(
        paths(&idx.affected(&["lib/beh.ex"]).recompile_paths()),
        ["lib/beh.ex", "lib/user.ex"]
    );
    assert_eq!(paths(&idx.affected(&["lib/util.ex"]).runtime_callers), ["lib/user.ex"]);
}

#[test]
fn module_at_finds_the_innermost_module() {
    let idx = index(&[(
        "lib/o.ex",
        "defmodule O do\n  defmodule I do\n    def x, do: 1\n  end\n  def y, do: 2\nend\n",
    )]);
    let at = |l| idx.module_at(Path::new("lib/o.ex"), l).map(|m| m.name.clone());
    assert_eq!(at(3).as_deref(), Some("O.I"));
    assert_eq!(at(5).as_deref(), Some("O"));
    assert_eq!(at(7), None);
}

#[test]
fn parse_errors_are_listed_and_flagged_in_affected() {
    let idx = index(&[
        ("lib/bad.ex", "defmodule Bad do\n  def f(, do: 1\nend\n"),
        ("lib/good.ex", "defmodule Good do\nend\n"),
    ]);
    let errors = idx.parse_errors();
    assert!(!errors.is_empty());
    assert!(errors.iter().all(|e| e.path == Path::new("lib/bad.ex")));
    assert!(!idx.affected(&["lib/bad.ex"]).parse_errors.is_empty());
    assert!(idx.affected(&["lib/good.ex"]).parse_errors.is_empty());
}

#[test]
fn graph_and_affected_serialise() {
    let idx = chain();
    let json = serde_json::to_value(idx.graph()).unwrap();
    let a = &json["files"][0];
    assert_eq!(a["path"], "lib/a.ex");
    assert_eq!(a["depends_on"][0]["kind"], "compile");
    assert_eq!(a["modules"][0]["name"], "A");
    let affected = serde_json::to_value(idx.affected(&["lib/d.ex"])).unwrap();
    assert_eq!(affected["recompile"][1]["reason"], "compile");
    assert_eq!(affected["recompile"][1]["module"], "B");
    let text = crate::render_graph_text(&idx);
    assert!(
        text.contains("lib/a.ex  A 1-4\n└── lib/b.ex (compile+export) B\n"),
        "{text}"
    );
}

/// The sources Mix compiles from a root: every `.ex` file but hidden ones,
/// whatever the directories are called (`lib/deps/` is the project's).
#[test]
fn build_reads_every_ex_file_under_the_roots_but_hidden_ones() {
    let dir = tempfile::tempdir().unwrap();
    for (file, module) in [
        ("lib/a.ex", "A"),
        ("lib/deps/v.ex", "V"),
        ("lib/node_modules/n.ex", "N"),
        ("lib/_build/b.ex", "B"),
        ("lib/.hidden/h.ex", "H"),
        ("lib/.h.ex", "Dot"),
        ("deps/jason/lib/jason.ex", "Jason"),
    ] {
        let path = dir.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, format!("defmodule {module} do\nend\n")).unwrap();
    }
    let index = Index::build(dir.path(), &[PathBuf::from("lib")], V1_14).unwrap();
    let mut files: Vec<String> = index.files().map(|f| f.display().to_string()).collect();
    files.sort();
    assert_eq!(
        files,
        ["lib/_build/b.ex", "lib/a.ex", "lib/deps/v.ex", "lib/node_modules/n.ex"]
    );
}
