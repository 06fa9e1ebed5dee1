//! What both Mix oracle tests need: running Mix, and reading
//! `mix xref graph` and `mix compile --verbose` against the index.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use source_graph::{ElixirVersion, Index};

/// A single Mix run longer than this is a hang, not a slow machine.
pub const MIX_TIMEOUT: Duration = Duration::from_secs(600);

/// (from, to, index's kind, Mix's kind) of an edge where they differ.
pub type GraphDiff = (String, String, Option<String>, Option<String>);

/// `name` (`mix`, `elixir`) on PATH.
fn on_path(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "`{name}` is not on PATH: the dependency-graph oracle test needs Elixir \
         (1.14 or later) and Erlang/OTP installed (e.g. `apt-get install elixir`)"
    );
}

pub fn mix() -> PathBuf {
    on_path("mix")
}

/// The Elixir that runs `mix` here, from `elixir --version`: the oracle
/// compares the index built with that release's rules with what that Mix
/// does.
pub fn elixir_version() -> ElixirVersion {
    let output = Command::new(on_path("elixir"))
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run elixir --version: {e}"));
    let text = String::from_utf8_lossy(&output.stdout);
    ElixirVersion::from_version_output(&text).unwrap_or_else(|| panic!("no version in elixir --version: {text}"))
}

/// Runs Mix in `dir`; panics with its output when it fails or outlives
/// [`MIX_TIMEOUT`].
pub fn run_mix(dir: &Path, args: &[&str]) -> String {
    let child = Command::new(mix())
        .args(args)
        .current_dir(dir)
        .env("MIX_ENV", "dev")
        // Keep the user's Mix/Hex state out of the way.
        .env("MIX_HOME", dir.join(".mix_home"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run mix {args:?}: {e}"));
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = match rx.recv_timeout(MIX_TIMEOUT) {
        Ok(output) => output.unwrap_or_else(|e| panic!("mix {args:?}: {e}")),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!(
                "mix {args:?} in {} did not finish within {MIX_TIMEOUT:?}",
                dir.display()
            );
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "mix {args:?} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    stdout
}

pub type FileGraph = BTreeMap<String, BTreeMap<String, String>>;

/// Parses `mix xref graph --format plain`: a root file per line, its direct
/// dependencies on `|-- ` / `` `-- `` lines with an optional `(kind)`;
/// runtime edges carry no label.
pub fn parse_plain_graph(output: &str) -> FileGraph {
    let mut graph = FileGraph::new();
    let mut current: Option<String> = None;
    for line in output.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("|-- ").or_else(|| line.strip_prefix("`-- ")) {
            let (file, kind) = match rest.split_once(" (") {
                Some((file, kind)) => (file, kind.trim_end_matches(')')),
                None => (rest, "runtime"),
            };
            let from = current.clone().expect("edge before any root");
            graph
                .entry(from)
                .or_default()
                .insert(file.to_string(), kind.to_string());
        } else if !line.starts_with(' ') && !line.starts_with('|') {
            graph.entry(line.to_string()).or_default();
            current = Some(line.to_string());
        }
        // Deeper levels (indented) repeat other roots' edges: skipped.
    }
    graph
}

pub fn index_graph(index: &Index) -> FileGraph {
    let mut graph = FileGraph::new();
    for file in index.files() {
        graph.entry(file.display().to_string()).or_default();
    }
    for edge in index.edges() {
        graph
            .entry(edge.from.display().to_string())
            .or_default()
            .insert(edge.to.display().to_string(), edge.kind.as_str().to_string());
    }
    graph
}

/// Mix's compile-connected: compile edges into files that have edges.
pub fn compile_connected(graph: &FileGraph) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (from, edges) in graph {
        for (to, kind) in edges {
            if kind == "compile" && graph.get(to).is_some_and(|e| !e.is_empty()) {
                out.insert((from.clone(), to.clone()));
            }
        }
    }
    out
}

pub fn graph_differences(ours: &FileGraph, mix: &FileGraph) -> BTreeSet<GraphDiff> {
    let mut diffs = BTreeSet::new();
    let files: BTreeSet<&String> = ours.keys().chain(mix.keys()).collect();
    let empty = BTreeMap::new();
    for from in files {
        let a = ours.get(from).unwrap_or(&empty);
        let b = mix.get(from).unwrap_or(&empty);
        let tos: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for to in tos {
            if a.get(to) != b.get(to) {
                diffs.insert((from.clone(), to.clone(), a.get(to).cloned(), b.get(to).cloned()));
            }
        }
    }
    diffs
}

pub fn compiled_files(output: &str) -> BTreeSet<String> {
    output
        .lines()
        .filter_map(|l| l.strip_prefix("Compiled "))
        .map(|f| f.trim().to_string())
        .collect()
}
