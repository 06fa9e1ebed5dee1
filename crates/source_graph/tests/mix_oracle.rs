//! Mix is the oracle: the fixture project `tests/fixtures/deps_graph` is
//! compiled with Mix, and what `mix xref graph` and `mix compile --verbose`
//! report must match the index, except for the differences listed (with
//! their reason) below. A difference not listed fails, and so does a listed
//! one that no longer happens, so the list stays true.
//!
//! The index is built with the rules of the Elixir that runs `mix` (read
//! from `elixir --version`), so the same test holds on every release: CI
//! runs it on Elixir 1.14, 1.18 and 1.20.
//!
//! Needs `mix` and `elixir` on PATH (CI installs them): without them the
//! test fails rather than skips.

// Test helpers: a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use source_graph::{default_roots, ElixirVersion, Index, ModuleKind, RefKind};

mod oracle;
use oracle::*;

/// Differences between the index's file graph and `mix xref graph`:
/// (from, to, index's kind, Mix's kind, reason). None: the index has found
/// every edge of the fixture with Mix's kind.
type GraphDifference = (
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    &'static str,
);
const KNOWN_GRAPH_DIFFERENCES: &[GraphDifference] = &[];

/// Files where the index recompiles more than Mix after a change:
/// (changed file, extra file, reason).
const KNOWN_RECOMPILE_DIFFERENCES: &[(&str, &str, &str)] = &[(
    "lib/fixture/user.ex",
    "lib/fixture/outer.ex",
    "the index treats any edit as an export change of every module of the \
     file; Mix compares export digests per module after compiling. The probe \
     adds a function to Fixture.User, and outer.ex only uses the struct of \
     Fixture.User.Address, defined in the same file, whose exports are unchanged",
)];

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/deps_graph")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "_build" || name == "deps" {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Adds a public function (or a protocol function) to the first module of
/// `source`, so that the edit changes that module's exports, as most edits
/// that matter for reloading do.
fn probe_edit(source: &str, module_end_line: u32, kind: ModuleKind, n: usize) -> String {
    let probe = match kind {
        ModuleKind::Protocol => format!("  def probe_{n}(term)"),
        _ => format!("  def probe_{n}, do: :ok"),
    };
    let mut lines: Vec<&str> = source.lines().collect();
    let end = (module_end_line as usize).saturating_sub(1);
    lines.insert(end, &probe);
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

#[test]
fn index_agrees_with_mix_xref_and_recompilation() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("deps_graph");
    copy_dir(&fixture_dir(), &project);

    run_mix(&project, &["compile"]);
    let mix_graph = parse_plain_graph(&run_mix(&project, &["xref", "graph", "--format", "plain"]));
    let mix_connected: BTreeSet<(String, String)> = parse_plain_graph(&run_mix(
        &project,
        &["xref", "graph", "--format", "plain", "--label", "compile-connected"],
    ))
    .into_iter()
    .flat_map(|(from, edges)| edges.into_keys().map(move |to| (from.clone(), to)))
    .collect();

    let elixir = elixir_version();
    let mut index = Index::build(&project, &default_roots(&project, "dev"), elixir).unwrap();
    assert!(index.parse_errors().is_empty(), "{:?}", index.parse_errors());
    assert!(mix_graph.len() >= 20, "Mix saw too few files: {mix_graph:?}");

    // 1. The file graph, edge by edge and kind by kind.
    let ours = index_graph(&index);
    let diffs = graph_differences(&ours, &mix_graph);
    let known: BTreeSet<(String, String, Option<String>, Option<String>)> = KNOWN_GRAPH_DIFFERENCES
        .iter()
        .map(|(f, t, a, b, _why)| {
            (
                f.to_string(),
                t.to_string(),
                a.map(str::to_string),
                b.map(str::to_string),
            )
        })
        .collect();
    assert_eq!(
        diffs, known,
        "index vs mix xref graph: (from, to, index kind, mix kind)\nindex: {ours:#?}\nmix: {mix_graph:#?}"
    );

    // 2. compile-connected, computed from our graph the way Mix does.
    assert_eq!(compile_connected(&ours), mix_connected);
    assert!(
        !mix_connected.is_empty(),
        "the fixture must exercise compile-connected dependencies"
    );

    // 3. What an edit recompiles: edit each file in turn (adding a public
    // function), update the index, and compare `affected` with the files
    // `mix compile --verbose` recompiles.
    let files: Vec<PathBuf> = index.files().map(Path::to_path_buf).collect();
    let mut mismatches = Vec::new();
    let mut extra_seen = BTreeSet::new();
    for (n, file) in files.iter().enumerate() {
        let first = index.modules_in(file)[0].clone();
        let absolute = project.join(file);
        let source = std::fs::read_to_string(&absolute).unwrap();
        let edited = probe_edit(&source, first.end_line, first.kind, n);
        std::fs::write(&absolute, &edited).unwrap();
        index.update_file(file, &edited).unwrap();

        let mix_set = compiled_files(&run_mix(&project, &["compile", "--verbose"]));
        let ours: BTreeSet<String> = index
            .affected(&[file])
            .recompile_paths()
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let changed = file.display().to_string();
        let missing: Vec<&String> = mix_set.difference(&ours).collect();
        let extra: Vec<&String> = ours.difference(&mix_set).collect();
        for e in &extra {
            if KNOWN_RECOMPILE_DIFFERENCES
                .iter()
                .any(|(c, x, _)| *c == changed && x == e)
            {
                extra_seen.insert((changed.clone(), (*e).clone()));
            } else {
                mismatches.push(format!("{changed}: index also recompiles {e}"));
            }
        }
        for m in missing {
            mismatches.push(format!("{changed}: Mix also recompiles {m}"));
        }
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");
    let stale_known: Vec<_> = KNOWN_RECOMPILE_DIFFERENCES
        .iter()
        .filter(|(c, x, _)| !extra_seen.contains(&(c.to_string(), x.to_string())))
        .collect();
    assert!(stale_known.is_empty(), "listed but not seen: {stale_known:?}");
}

#[test]
fn kinds_in_the_fixture_cover_every_reference_kind() {
    // The oracle is only as good as the fixture: make sure it exercises
    // each kind on every release's rules (this needs no Mix).
    let project = fixture_dir();
    for minor in ElixirVersion::OLDEST_MODELLED.minor..=ElixirVersion::NEWEST_MODELLED.minor {
        let elixir = ElixirVersion::new(1, minor);
        let index = Index::build(&project, &default_roots(&project, "dev"), elixir).unwrap();
        let kinds: BTreeSet<RefKind> = index.edges().iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [RefKind::Runtime, RefKind::Export, RefKind::Compile].into(),
            "Elixir {elixir}"
        );
        let kinds: BTreeSet<ModuleKind> = index.modules().iter().map(|m| m.kind).collect();
        assert_eq!(kinds.len(), 3, "modules, protocols and impls: {kinds:?}");
    }
}
