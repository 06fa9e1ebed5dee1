//! The project index: per-file facts, the module -> file map and the reverse
//! reference index, kept up to date one file at a time.
//!
//! `sources` finds and reads the files and extracts their facts, `build`
//! makes an index of them, `update` patches it one file at a time,
//! `resolution` resolves each file's references against the project,
//! `queries` answers what is where and the file edges, and `affected`
//! what a change forces to recompile.

mod affected;
mod build;
mod queries;
mod resolution;
mod sources;
#[cfg(test)]
mod tests;
mod update;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use serde::Serialize;

use crate::facts_cache::SourceStamp;
use crate::model::{FileFacts, KindSet, ModuleDef, ModuleName, ParseError, RefKind};
use crate::version::{ElixirVersion, Rules};

pub use sources::default_roots;

/// One file as indexed.
#[derive(Debug, Clone)]
struct FileEntry {
    /// Shared with [`Index::module_facts`] for the modules defined here.
    facts: Arc<FileFacts>,
    errors: Vec<ParseError>,
    /// The text the facts come from, as the facts cache identifies it.
    stamp: SourceStamp,
    /// What [`Index::references_of`] answers for this file: its references
    /// resolved against the rest of the project (macro or function calls,
    /// `use` injection). Kept up to date by every update that can change it.
    resolved: BTreeMap<ModuleName, KindSet>,
}

impl FileEntry {
    fn new(facts: FileFacts, errors: Vec<ParseError>, stamp: SourceStamp) -> FileEntry {
        FileEntry {
            facts: Arc::new(facts),
            errors,
            stamp,
            resolved: BTreeMap::new(),
        }
    }
}

/// An Elixir project's source index and module dependency graph.
///
/// Paths are kept relative to the project directory, with `/` separators,
/// as Mix prints them (`lib/app/user.ex`).
#[derive(Debug, Clone)]
pub struct Index {
    project_dir: PathBuf,
    /// The release whose rules classify references (see [`ElixirVersion`]).
    elixir: ElixirVersion,
    rules: Rules,
    roots: Vec<PathBuf>,
    files: BTreeMap<PathBuf, FileEntry>,
    /// Module -> files defining it (more than one only while the project
    /// has a duplicate definition, which Mix rejects).
    defined_in: HashMap<ModuleName, BTreeSet<PathBuf>>,
    /// Module -> the facts of the file [`Index::file_of`] names: resolving
    /// a reference reads the target's definitions several times, and a
    /// lookup by path in `files` compares paths component by component
    /// (most of the time of a build from the facts cache).
    module_facts: HashMap<ModuleName, Arc<FileFacts>>,
    /// Reverse index: module -> files whose own code references it.
    referenced_by: HashMap<ModuleName, BTreeSet<PathBuf>>,
    /// Module X -> modules whose `__using__` quote references X: files that
    /// `use` those modules reference X too.
    injected_by: HashMap<ModuleName, BTreeSet<ModuleName>>,
    /// The reverse of every file's resolved references: module -> files
    /// whose code (own or `use`-injected) references it, with the kinds.
    /// `affected` walks it without resolving anything, so a query costs
    /// the stale files and their edges, with no per-edge resolution.
    dependents: HashMap<ModuleName, BTreeMap<PathBuf, KindSet>>,
    /// Module -> how many files reference it at compile time.
    compile_referrers: HashMap<ModuleName, usize>,
    /// The files whose staleness can make another file recompile (see
    /// [`Index::stale_relevant`]); computed on demand, forgotten on change.
    stale_relevant: OnceLock<HashSet<PathBuf>>,
}

/// What [`Index::build_cached`] took from the facts cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheUse {
    /// Files whose facts came from the cache (their content was unchanged).
    pub reused: usize,
    /// Files parsed: new, changed, or not in a usable cache.
    pub parsed: usize,
    /// Why the updated cache could not be written (the index is complete
    /// regardless; the next build parses again).
    pub write_error: Option<String>,
}

/// A file-level dependency, as `mix xref graph` shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edge {
    pub from: PathBuf,
    pub to: PathBuf,
    /// The strongest kind (what `mix xref graph` prints).
    pub kind: RefKind,
    /// Whether an export dependency also holds (export is tracked apart
    /// from compile/runtime by Mix).
    pub export: bool,
    /// The modules of `to` that `from` references.
    pub modules: Vec<ModuleName>,
}

/// Why a file is in [`Affected::recompile`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Reason {
    /// The caller said it changed.
    Changed,
    /// A compile-time dependency on a module that is stale: defined in a
    /// recompiled file, or reaching one through runtime references.
    Compile { module: ModuleName, via: PathBuf },
    /// An export dependency (struct, import, require) on a module of a
    /// changed file. Every change is treated as an API change for now.
    Export { module: ModuleName, via: PathBuf },
}

/// A file to recompile, with the reason it was first found for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recompile {
    pub path: PathBuf,
    #[serde(flatten)]
    pub reason: Reason,
}

/// What a change to some files affects, by Mix's recompilation rules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Affected {
    /// The changed files followed by their compile-time and export
    /// dependents, transitively (Mix's compile-connected rule).
    pub recompile: Vec<Recompile>,
    /// Files outside `recompile` that call into a recompiled module at
    /// runtime: they pick the new code up on their next call.
    pub runtime_callers: Vec<PathBuf>,
    /// Modules defined in the files to recompile.
    pub modules: Vec<ModuleDef>,
    /// Syntax errors in the files to recompile: when not empty, the index's
    /// answer is best-effort and the caller should fall back to Mix.
    pub parse_errors: Vec<ParseError>,
    /// Changed paths the index does not know (new files, or outside the
    /// source roots); they are in `recompile` too.
    pub unknown: Vec<PathBuf>,
}

impl Affected {
    /// Just the paths of [`Affected::recompile`].
    pub fn recompile_paths(&self) -> Vec<PathBuf> {
        self.recompile.iter().map(|r| r.path.clone()).collect()
    }
}

/// The graph as `elixir-dap deps --json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Graph {
    pub project_dir: PathBuf,
    /// The release whose rules classified the edges (`"1.20"`).
    pub elixir_version: ElixirVersion,
    pub files: Vec<GraphFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GraphFile {
    pub path: PathBuf,
    pub modules: Vec<ModuleDef>,
    pub depends_on: Vec<Edge>,
    pub parse_errors: Vec<ParseError>,
}
