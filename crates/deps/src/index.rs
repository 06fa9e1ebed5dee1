//! The project index: per-file facts, the module -> file map and the reverse
//! reference index, kept up to date one file at a time.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rayon::prelude::*;
use serde::Serialize;

use crate::extract::{extract, new_parser, resolve, resolve_injected_import};
use crate::facts_cache::{FactsCache, SourceStamp};
use crate::model::{
    Defs, FileFacts, ImportOnly, KindSet, MacroRefs, Mode, ModuleDef, ModuleName, ParseError, RawRef, RefKind,
    ANY_MACRO,
};
use crate::version::{ElixirVersion, Rules};
use crate::Error;

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

/// The source roots Mix would compile by default: `lib`, or `apps/*/lib` in
/// an umbrella project. `elixirc_paths` cannot be read without running Mix.
pub fn default_roots(project_dir: &Path) -> Vec<PathBuf> {
    let apps = project_dir.join("apps");
    let mut roots = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&apps) {
        for entry in entries.flatten() {
            let app = entry.path();
            if app.join("mix.exs").is_file() {
                if let Some(name) = app.file_name() {
                    roots.push(Path::new("apps").join(name).join("lib"));
                }
            }
        }
    }
    roots.sort();
    if roots.is_empty() {
        roots.push(PathBuf::from("lib"));
    }
    roots
}

fn is_elixir_source(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("ex") | Some("exs"))
}

fn collect_sources(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), Error> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        // A missing root is not an error: umbrella apps may lack `lib/`.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let file_type = entry.file_type().map_err(|e| Error::io(&path, e))?;
        if file_type.is_dir() {
            collect_sources(&path, out)?;
        } else if is_elixir_source(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// Every source under `roots`, keyed as the index keys them, sorted by key.
fn read_sources(project_dir: &Path, roots: &[PathBuf]) -> Result<Vec<(PathBuf, String)>, Error> {
    let mut paths = Vec::new();
    for root in roots {
        collect_sources(&project_dir.join(root), &mut paths)?;
    }
    let mut sources = paths
        .par_iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
            Ok((normal_key(path.strip_prefix(project_dir).unwrap_or(path)), text))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    sources.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(sources)
}

/// A source read from disk, with its facts when the cache knew them.
struct Source {
    key: PathBuf,
    text: String,
    stamp: SourceStamp,
    known: Option<FileFacts>,
}

impl Source {
    fn unknown((key, text): (PathBuf, String)) -> Source {
        let stamp = SourceStamp::of(&text);
        Source {
            key,
            text,
            stamp,
            known: None,
        }
    }
}

/// The entries of `sources`, in their order, extracting in parallel the
/// facts of those the cache did not know.
fn extract_all(sources: Vec<Source>, rules: Rules) -> Result<Vec<(PathBuf, FileEntry)>, Error> {
    sources
        .into_par_iter()
        .map_init(new_parser, |parser, source| {
            let facts = match source.known {
                Some(facts) => facts,
                None => {
                    let parser = parser.as_mut().map_err(|e| Error::Language(e.to_string()))?;
                    extract(parser, &source.text, rules)
                }
            };
            let errors = to_parse_errors(&source.key, &facts);
            Ok((source.key, FileEntry::new(facts, errors, source.stamp)))
        })
        .collect()
}

/// Joins path components with `/` so that keys look like Mix's paths on
/// every platform, and drops `.` components.
fn normal_key(path: &Path) -> PathBuf {
    let parts: Vec<String> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    PathBuf::from(parts.join("/"))
}

fn to_parse_errors(path: &Path, facts: &FileFacts) -> Vec<ParseError> {
    facts
        .errors
        .iter()
        .map(|(line, column, message)| ParseError {
            path: path.to_path_buf(),
            line: *line,
            column: *column,
            message: message.clone(),
        })
        .collect()
}

impl Index {
    /// Indexes every `.ex`/`.exs` file under `roots` (relative to
    /// `project_dir`; see [`default_roots`]), parsing files in parallel and
    /// classifying references as Mix on `elixir` does (the Elixir the
    /// project is compiled with: dependency kinds differ between releases).
    pub fn build(project_dir: &Path, roots: &[PathBuf], elixir: ElixirVersion) -> Result<Index, Error> {
        let rules = elixir.rules();
        let sources = read_sources(project_dir, roots)?;
        let parsed = extract_all(sources.into_iter().map(Source::unknown).collect(), rules)?;
        Ok(Index::from_entries(project_dir, roots, elixir, parsed))
    }

    /// [`Index::build`], parsing only the files whose content differs from
    /// what the facts cache at `cache_file` was extracted from, and writing
    /// the cache back when anything changed (see [`crate::facts_cache`]).
    ///
    /// The index is the one [`Index::build`] would return; the cache only
    /// saves time. A cache that is missing, corrupt or from another build or
    /// Elixir is ignored; one that cannot be written is reported in
    /// [`CacheUse::write_error`], never as a failure.
    pub fn build_cached(
        project_dir: &Path,
        roots: &[PathBuf],
        elixir: ElixirVersion,
        cache_file: &Path,
    ) -> Result<(Index, CacheUse), Error> {
        let rules = elixir.rules();
        let sources = read_sources(project_dir, roots)?;
        let mut cache = FactsCache::load(cache_file, rules);
        let cached_before = cache.len();
        let sources: Vec<Source> = sources
            .into_iter()
            .map(|(key, text)| {
                let stamp = SourceStamp::of(&text);
                let known = cache.take(&key, stamp);
                Source {
                    key,
                    text,
                    stamp,
                    known,
                }
            })
            .collect();
        let reused = sources.iter().filter(|s| s.known.is_some()).count();
        let parsed_count = sources.len() - reused;
        // Entries the cache held that no file took belong to files now gone.
        let changed = parsed_count > 0 || cached_before != reused;
        let parsed = extract_all(sources, rules)?;
        let index = Index::from_entries(project_dir, roots, elixir, parsed);
        let mut write_error = None;
        if changed {
            let mut next = FactsCache::new(rules);
            for (key, entry) in &index.files {
                next.insert(key, entry.stamp, &entry.facts);
            }
            write_error = next.save(cache_file).err();
        }
        Ok((
            index,
            CacheUse {
                reused,
                parsed: parsed_count,
                write_error,
            },
        ))
    }

    /// An index of already extracted files, sorted by key.
    fn from_entries(
        project_dir: &Path,
        roots: &[PathBuf],
        elixir: ElixirVersion,
        parsed: Vec<(PathBuf, FileEntry)>,
    ) -> Index {
        let mut index = Index {
            project_dir: project_dir.to_path_buf(),
            elixir,
            rules: elixir.rules(),
            roots: roots.to_vec(),
            files: BTreeMap::new(),
            defined_in: HashMap::new(),
            module_facts: HashMap::new(),
            referenced_by: HashMap::new(),
            injected_by: HashMap::new(),
            dependents: HashMap::new(),
            compile_referrers: HashMap::new(),
            stale_relevant: OnceLock::new(),
        };
        // What `link` and `set_resolved` do file by file, done in bulk: the
        // files arrive sorted, so every set below is built from a sorted run
        // rather than by one insertion per reference (path comparisons were
        // most of the time of a build from the facts cache).
        let mut defined_in: HashMap<ModuleName, Vec<PathBuf>> = HashMap::new();
        let mut referenced_by: HashMap<ModuleName, Vec<PathBuf>> = HashMap::new();
        for (key, entry) in &parsed {
            for module in &entry.facts.modules {
                defined_in.entry(module.name.clone()).or_default().push(key.clone());
            }
            for target in entry.facts.refs.keys() {
                referenced_by.entry(target.clone()).or_default().push(key.clone());
            }
            for (user, quotes) in &entry.facts.macro_refs {
                for target in quotes.values().flatten().flat_map(BTreeMap::keys) {
                    index
                        .injected_by
                        .entry(target.clone())
                        .or_default()
                        .insert(user.clone());
                }
            }
        }
        index.defined_in = defined_in
            .into_iter()
            .map(|(m, files)| (m, BTreeSet::from_iter(files)))
            .collect();
        index.referenced_by = referenced_by
            .into_iter()
            .map(|(m, files)| (m, BTreeSet::from_iter(files)))
            .collect();
        index.files = BTreeMap::from_iter(parsed);
        index.refresh_module_facts(None);

        let resolved: Vec<BTreeMap<ModuleName, KindSet>> = index
            .files
            .par_iter()
            .map(|(key, _)| index.resolve_references(key))
            .collect();
        let mut dependents: HashMap<ModuleName, Vec<(PathBuf, KindSet)>> = HashMap::new();
        for ((key, entry), refs) in index.files.iter_mut().zip(resolved) {
            for (module, kinds) in &refs {
                dependents
                    .entry(module.clone())
                    .or_default()
                    .push((key.clone(), *kinds));
                if kinds.compile {
                    *index.compile_referrers.entry(module.clone()).or_default() += 1;
                }
            }
            entry.resolved = refs;
        }
        index.dependents = dependents
            .into_iter()
            .map(|(m, files)| (m, BTreeMap::from_iter(files)))
            .collect();
        index
    }

    /// An index of in-memory sources, keyed by the given paths (tests and
    /// unsaved editor buffers), classified as Mix on `elixir` does.
    pub fn from_sources<P: AsRef<Path>, S: AsRef<str>>(
        project_dir: &Path,
        sources: &[(P, S)],
        elixir: ElixirVersion,
    ) -> Result<Index, Error> {
        let mut index = Index {
            project_dir: project_dir.to_path_buf(),
            elixir,
            rules: elixir.rules(),
            roots: Vec::new(),
            files: BTreeMap::new(),
            defined_in: HashMap::new(),
            module_facts: HashMap::new(),
            referenced_by: HashMap::new(),
            injected_by: HashMap::new(),
            dependents: HashMap::new(),
            compile_referrers: HashMap::new(),
            stale_relevant: OnceLock::new(),
        };
        let mut parser = new_parser()?;
        for (path, source) in sources {
            let key = index.key(path.as_ref());
            let facts = extract(&mut parser, source.as_ref(), index.rules);
            let errors = to_parse_errors(&key, &facts);
            let entry = FileEntry::new(facts, errors, SourceStamp::of(source.as_ref()));
            index.unlink_file(&key);
            index.link(&key, &entry);
            index.files.insert(key, entry);
        }
        index.refresh_module_facts(None);
        let all: Vec<PathBuf> = index.files.keys().cloned().collect();
        index.resolve_files(all);
        Ok(index)
    }

    pub fn project_dir(&self) -> &Path {
        &self.project_dir
    }

    /// The Elixir release whose rules classify the references.
    pub fn elixir_version(&self) -> ElixirVersion {
        self.elixir
    }

    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// The key under which `path` (absolute, or relative to the project
    /// directory) is stored.
    pub fn key(&self, path: &Path) -> PathBuf {
        normal_key(path.strip_prefix(&self.project_dir).unwrap_or(path))
    }

    /// Re-parses one file and patches the forward and reverse entries: the
    /// cost is that of parsing this file, whatever the project's size.
    pub fn update_file(&mut self, path: &Path, contents: &str) -> Result<(), Error> {
        let key = self.key(path);
        let mut parser = new_parser()?;
        let facts = extract(&mut parser, contents, self.rules);
        let errors = to_parse_errors(&key, &facts);
        self.replace_entry(key, Some(FileEntry::new(facts, errors, SourceStamp::of(contents))));
        Ok(())
    }

    /// Reads `path` from disk and updates it; a missing file is removed.
    pub fn refresh_file(&mut self, path: &Path) -> Result<(), Error> {
        let absolute = if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.project_dir.join(path)
        };
        match std::fs::read_to_string(&absolute) {
            Ok(contents) => self.update_file(path, &contents),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.remove_file(path);
                Ok(())
            }
            Err(e) => Err(Error::io(&absolute, e)),
        }
    }

    /// Forgets a file (deleted or renamed away). Returns whether it was known.
    pub fn remove_file(&mut self, path: &Path) -> bool {
        let key = self.key(path);
        self.replace_entry(key, None)
    }

    /// Puts `entry` (or nothing) in place of the file `key`, and re-resolves
    /// the references of every file whose resolution may change: the file
    /// itself and the candidate referrers, before and after the change, of
    /// the modules it defined or defines. A file's resolved references
    /// depend on other files only through the modules it references (their
    /// definitions decide macro or function calls) and the modules whose
    /// `__using__` lands in it, and each of those chains is walked by
    /// [`Index::candidate_referrers`]. Returns whether the file was known.
    fn replace_entry(&mut self, key: PathBuf, entry: Option<FileEntry>) -> bool {
        let mut touched: BTreeSet<ModuleName> = BTreeSet::new();
        // An edit that keeps what other files' resolution reads of this one
        // (the modules it defines, their definitions and `__using__`
        // quotes), a change inside a function body say, re-resolves only
        // this file: so does an edit of a module every file `use`s.
        let same_interface = match (self.files.get(&key), entry.as_ref()) {
            (Some(old), Some(new)) => same_interface(&old.facts, &new.facts),
            _ => false,
        };
        if !same_interface {
            for e in self.files.get(&key).into_iter().chain(entry.as_ref()) {
                touched.extend(e.facts.modules.iter().map(|m| m.name.clone()));
            }
        }
        let mut dirty = self.referrers_of_modules(&touched);
        let defined: BTreeSet<ModuleName> = self
            .files
            .get(&key)
            .into_iter()
            .chain(entry.as_ref())
            .flat_map(|e| e.facts.modules.iter().map(|m| m.name.clone()))
            .collect();
        self.unlink_file(&key);
        let known = self.files.remove(&key).is_some();
        if let Some(entry) = entry {
            self.link(&key, &entry);
            self.files.insert(key.clone(), entry);
            dirty.insert(key);
        }
        self.refresh_module_facts(Some(&defined));
        dirty.extend(self.referrers_of_modules(&touched));
        self.resolve_files(dirty);
        known
    }

    fn referrers_of_modules(&self, modules: &BTreeSet<ModuleName>) -> BTreeSet<PathBuf> {
        let mut out = BTreeSet::new();
        for module in modules {
            out.extend(self.candidate_referrers(module).into_iter().cloned());
        }
        out
    }

    /// Recomputes the resolved references of `files` (those still indexed)
    /// and patches the reverse map where they changed.
    fn resolve_files<I: IntoIterator<Item = PathBuf>>(&mut self, files: I) {
        let files: Vec<PathBuf> = files.into_iter().filter(|f| self.files.contains_key(f)).collect();
        let resolved: Vec<(PathBuf, BTreeMap<ModuleName, KindSet>)> = if files.len() > 64 {
            files
                .into_par_iter()
                .map(|f| {
                    let refs = self.resolve_references(&f);
                    (f, refs)
                })
                .collect()
        } else {
            files
                .into_iter()
                .map(|f| {
                    let refs = self.resolve_references(&f);
                    (f, refs)
                })
                .collect()
        };
        for (file, refs) in resolved {
            self.set_resolved(&file, refs);
        }
    }

    fn set_resolved(&mut self, file: &Path, refs: BTreeMap<ModuleName, KindSet>) {
        let Some(entry) = self.files.get_mut(file) else {
            return;
        };
        if entry.resolved == refs {
            return;
        }
        let old = std::mem::replace(&mut entry.resolved, refs);
        self.stale_relevant = OnceLock::new();
        for (module, kinds) in &old {
            remove_dependent(&mut self.dependents, &mut self.compile_referrers, module, *kinds, file);
        }
        for (module, kinds) in &entry.resolved {
            self.dependents
                .entry(module.clone())
                .or_default()
                .insert(file.to_path_buf(), *kinds);
            if kinds.compile {
                *self.compile_referrers.entry(module.clone()).or_default() += 1;
            }
        }
    }

    fn unlink_file(&mut self, key: &Path) {
        let Some(old) = self.files.get(key) else {
            return;
        };
        for (module, kinds) in &old.resolved {
            remove_dependent(&mut self.dependents, &mut self.compile_referrers, module, *kinds, key);
        }
        self.stale_relevant = OnceLock::new();
        for module in &old.facts.modules {
            remove_from(&mut self.defined_in, &module.name, key);
        }
        for target in old.facts.refs.keys() {
            remove_from(&mut self.referenced_by, target, key);
        }
        for (user, quotes) in &old.facts.macro_refs {
            for target in quotes.values().flatten().flat_map(BTreeMap::keys) {
                remove_from(&mut self.injected_by, target, user);
            }
        }
    }

    fn link(&mut self, key: &Path, entry: &FileEntry) {
        for module in &entry.facts.modules {
            self.defined_in
                .entry(module.name.clone())
                .or_default()
                .insert(key.to_path_buf());
        }
        for target in entry.facts.refs.keys() {
            self.referenced_by
                .entry(target.clone())
                .or_default()
                .insert(key.to_path_buf());
        }
        for (user, quotes) in &entry.facts.macro_refs {
            for target in quotes.values().flatten().flat_map(BTreeMap::keys) {
                self.injected_by.entry(target.clone()).or_default().insert(user.clone());
            }
        }
    }

    // ---- queries -------------------------------------------------------

    /// Indexed files, sorted.
    pub fn files(&self) -> impl Iterator<Item = &Path> {
        self.files.keys().map(PathBuf::as_path)
    }

    pub fn contains(&self, path: &Path) -> bool {
        self.files.contains_key(&self.key(path))
    }

    /// Modules defined in a file, outermost first, with their line spans.
    pub fn modules_in(&self, path: &Path) -> &[ModuleDef] {
        self.files
            .get(&self.key(path))
            .map(|e| e.facts.modules.as_slice())
            .unwrap_or(&[])
    }

    /// The innermost module whose `defmodule` spans `line` (1-based).
    pub fn module_at(&self, path: &Path, line: u32) -> Option<&ModuleDef> {
        self.modules_in(path)
            .iter()
            .filter(|m| m.start_line <= line && line <= m.end_line)
            .max_by_key(|m| m.start_line)
    }

    /// The file defining `module` (the first one, if defined twice).
    pub fn file_of(&self, module: &str) -> Option<&Path> {
        self.defined_in
            .get(module)
            .and_then(|files| files.iter().next())
            .map(PathBuf::as_path)
    }

    /// Every module defined in the project, sorted.
    pub fn modules(&self) -> Vec<&ModuleDef> {
        let mut all: Vec<&ModuleDef> = self.files.values().flat_map(|e| e.facts.modules.iter()).collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// Files tree-sitter could not parse cleanly, with where.
    pub fn parse_errors(&self) -> Vec<&ParseError> {
        self.files.values().flat_map(|e| e.errors.iter()).collect()
    }

    /// Points [`Index::module_facts`] of `modules` (all when `None`) at the
    /// facts of the file defining each, after `files` or `defined_in`
    /// changed.
    fn refresh_module_facts(&mut self, modules: Option<&BTreeSet<ModuleName>>) {
        let names: Vec<ModuleName> = match modules {
            Some(modules) => modules.iter().cloned().collect(),
            None => {
                self.module_facts.clear();
                self.defined_in.keys().cloned().collect()
            }
        };
        for module in names {
            let facts = self
                .file_of(&module)
                .and_then(|file| self.files.get(file))
                .map(|entry| Arc::clone(&entry.facts));
            match facts {
                Some(facts) => self.module_facts.insert(module, facts),
                None => self.module_facts.remove(&module),
            };
        }
    }

    fn defs_of(&self, module: &str) -> Option<&Defs> {
        self.module_facts.get(module)?.defs.get(module)
    }

    fn injected_refs_of(&self, module: &str) -> Option<&BTreeMap<ModuleName, RawRef>> {
        self.module_facts.get(module)?.using_refs.get(module)
    }

    fn macro_refs_of(&self, module: &str) -> Option<&MacroRefs> {
        self.module_facts.get(module)?.macro_refs.get(module)
    }

    /// The quoted code that macro expansions put into `file`: the
    /// `__using__` quotes of the modules it `use`s, the quotes of the
    /// project's macros it calls (in the mode of the call: a module body
    /// or a function), and, transitively, of the macros and `use`s those
    /// quotes contain. A macro's quotes are those written in its
    /// `defmacro` and those of the module's functions (which it may call).
    fn injections<'a>(&'a self, file: &'a FileFacts) -> Vec<&'a BTreeMap<ModuleName, RawRef>> {
        let mut seen: BTreeSet<(&str, &str, usize)> = BTreeSet::new();
        let mut out: Vec<&BTreeMap<ModuleName, RawRef>> = Vec::new();
        let mut stack: Vec<&BTreeMap<ModuleName, RawRef>> = vec![&file.refs];
        while let Some(map) = stack.pop() {
            for (target, raw) in map {
                if raw.used && seen.insert((target, "use", 0)) {
                    if let Some(injected) = self.injected_refs_of(target) {
                        out.push(injected);
                        stack.push(injected);
                    }
                }
                let Some(defs) = self.defs_of(target) else {
                    continue;
                };
                if defs.macros.is_empty() {
                    continue;
                }
                let Some(quotes) = self.macro_refs_of(target) else {
                    continue;
                };
                let calls = raw
                    .compile_calls
                    .iter()
                    .map(|n| (n.as_str(), 0))
                    .chain(raw.runtime_calls.iter().map(|n| (n.as_str(), 1)))
                    .chain(
                        raw.imported_calls
                            .iter()
                            .filter(|(_, _, only)| *only != ImportOnly::Functions)
                            .map(|(n, mode, _)| (n.as_str(), usize::from(*mode == Mode::Runtime))),
                    );
                for (name, walk) in calls {
                    if !defs.macros.contains(name) || !seen.insert((target, name, walk)) {
                        continue;
                    }
                    for key in [name, ANY_MACRO] {
                        if let Some(injected) = quotes.get(key).map(|q| &q[walk]) {
                            out.push(injected);
                            stack.push(injected);
                        }
                    }
                }
            }
        }
        out
    }

    /// How `file` depends on `module`, from its own code and from what the
    /// macros it calls and the modules it `use`s inject.
    fn kinds_between(&self, facts: &FileFacts, injected: &[&BTreeMap<ModuleName, RawRef>], module: &str) -> KindSet {
        let defs = self.defs_of(module);
        // `@derive P` calls `P.Any.__deriving__` unless `P` has its own. A
        // change of `P` re-resolves this file: it references `P` too.
        let protocol_derives = module
            .strip_suffix(".Any")
            .and_then(|protocol| self.defs_of(protocol))
            .is_some_and(|d| d.macros.contains("__deriving__"));
        let resolve = |raw: &RawRef| resolve(raw, defs, self.rules, protocol_derives);
        let mut kinds = facts.refs.get(module).map(resolve).unwrap_or_default();
        for map in injected {
            if let Some(raw) = map.get(module) {
                kinds = kinds.union(resolve(raw));
                // `import M` injected by `use`: the user's unqualified calls
                // may be calls into M (only/except of such imports are not
                // applied: an over-approximation).
                if let (true, Some(defs)) = (raw.imported, defs) {
                    kinds = kinds.union(resolve_injected_import(&facts.calls_under_use, defs));
                }
            }
        }
        kinds
    }

    /// Every module `file` references, with its kinds (own code plus
    /// `use`-injected code), including modules outside the project.
    pub fn references_of(&self, path: &Path) -> BTreeMap<ModuleName, KindSet> {
        self.files
            .get(&self.key(path))
            .map(|e| e.resolved.clone())
            .unwrap_or_default()
    }

    /// [`Index::references_of`] without a copy: `None` for a file not
    /// indexed.
    pub fn resolved_references(&self, path: &Path) -> Option<&BTreeMap<ModuleName, KindSet>> {
        let key = self.key(path);
        self.files.get(&key).map(|e| &e.resolved)
    }

    /// Computes what [`Index::references_of`] answers for the indexed file
    /// `key`, from the facts of the files it depends on.
    fn resolve_references(&self, key: &Path) -> BTreeMap<ModuleName, KindSet> {
        let Some(entry) = self.files.get(key) else {
            return BTreeMap::new();
        };
        let injected = self.injections(&entry.facts);
        let mut targets: BTreeSet<&ModuleName> = entry.facts.refs.keys().collect();
        for map in &injected {
            targets.extend(map.keys());
        }
        targets
            .into_iter()
            .map(|m| (m.clone(), self.kinds_between(&entry.facts, &injected, m)))
            .filter(|(_, k)| !k.is_empty())
            .collect()
    }

    /// Files that may reference `module`: its direct referrers and the users
    /// of modules that inject it. A superset; kinds decide.
    fn candidate_referrers(&self, module: &str) -> BTreeSet<&PathBuf> {
        let mut out: BTreeSet<&PathBuf> = self
            .referenced_by
            .get(module)
            .map(|s| s.iter().collect())
            .unwrap_or_default();
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&str> = vec![module];
        while let Some(m) = stack.pop() {
            let Some(injectors) = self.injected_by.get(m) else {
                continue;
            };
            for injector in injectors {
                if seen.insert(injector.as_str()) {
                    if let Some(users) = self.referenced_by.get(injector) {
                        out.extend(users.iter());
                    }
                    // A __using__ quote may `use` another injector.
                    stack.push(injector);
                }
            }
        }
        out
    }

    /// Files (other than `path`) that depend on a module defined in `path`,
    /// with the module and kinds: modules in definition order, files in
    /// path order.
    fn dependents_of_file<'a>(&'a self, path: &Path) -> impl Iterator<Item = (&'a Path, &'a str, KindSet)> + 'a {
        self.files
            .get_key_value(path)
            .into_iter()
            .flat_map(|(path, entry)| entry.facts.modules.iter().map(move |m| (path.as_path(), m)))
            .flat_map(move |(path, module)| {
                self.dependents
                    .get(&module.name)
                    .into_iter()
                    .flatten()
                    .filter(move |(referrer, _)| referrer.as_path() != path)
                    .map(move |(referrer, kinds)| (referrer.as_path(), module.name.as_str(), *kinds))
            })
    }

    /// File-level edges out of `path`, to other indexed files.
    pub fn edges_from(&self, path: &Path) -> Vec<Edge> {
        let from = self.key(path);
        let mut by_file: BTreeMap<PathBuf, (KindSet, Vec<ModuleName>)> = BTreeMap::new();
        for (module, kinds) in self.references_of(&from) {
            let Some(to) = self.file_of(&module) else {
                continue;
            };
            if to == from {
                continue;
            }
            let slot = by_file.entry(to.to_path_buf()).or_default();
            slot.0 = slot.0.union(kinds);
            slot.1.push(module);
        }
        by_file
            .into_iter()
            .filter_map(|(to, (kinds, modules))| {
                Some(Edge {
                    from: from.clone(),
                    to,
                    kind: kinds.strongest()?,
                    export: kinds.export,
                    modules,
                })
            })
            .collect()
    }

    /// Every file-level edge of the project, sorted by (from, to).
    pub fn edges(&self) -> Vec<Edge> {
        self.files.keys().flat_map(|f| self.edges_from(f)).collect()
    }

    /// The files whose staleness matters: those defining a module some file
    /// references at compile time, and, transitively, every file such a
    /// file calls at runtime. A stale file outside this set (and not
    /// changed itself) makes no file recompile, and neither does anything
    /// its staleness spreads to: its runtime dependents are outside the set
    /// too, or it would be in it. So [`Index::affected`] never follows
    /// runtime edges out of it, and costs the changed files, their
    /// dependents and this set, however far the change's runtime callers
    /// reach. The set depends on the whole graph and is computed on the
    /// first query after a change, in time proportional to its own size.
    fn stale_relevant(&self) -> &HashSet<PathBuf> {
        self.stale_relevant.get_or_init(|| {
            let mut relevant: HashSet<&Path> = HashSet::new();
            let mut stack: Vec<&Path> = Vec::new();
            for module in self.compile_referrers.keys() {
                for file in self.defined_in.get(module).into_iter().flatten() {
                    if relevant.insert(file) {
                        stack.push(file);
                    }
                }
            }
            while let Some(file) = stack.pop() {
                let Some(entry) = self.files.get(file) else {
                    continue;
                };
                for (module, kinds) in &entry.resolved {
                    if !kinds.runtime {
                        continue;
                    }
                    for callee in self.defined_in.get(module).into_iter().flatten() {
                        if callee.as_path() != file && relevant.insert(callee) {
                            stack.push(callee);
                        }
                    }
                }
            }
            relevant.into_iter().map(Path::to_path_buf).collect()
        })
    }

    /// What changing `changed` forces, by Mix's rules
    /// (`Mix.Compilers.Elixir.remove_stale_entry/5` in
    /// `lib/mix/lib/mix/compilers/elixir.ex`, run to a fixpoint; the same
    /// rule from v1.14.0 to v1.20.3, only the references it reads differ):
    ///
    /// - a changed file is recompiled, and its modules are *stale*;
    /// - a file with a runtime reference to a stale module is stale too
    ///   (not recompiled): code compiled against it may reach the change;
    /// - a file with a compile-time reference to a stale module is
    ///   recompiled (and so stale);
    /// - a file with an export reference to a module of a changed file is
    ///   recompiled: every change is assumed to change the module's API
    ///   (Mix compares export digests; we cannot before compiling).
    ///
    /// The answer is walked on precomputed reverse edges, following stale
    /// files only where their staleness can still make a file recompile
    /// (see `stale_relevant`): the cost is that of the changed files, the
    /// files they make recompile and their edges, not of the project, nor
    /// of how far the change's runtime callers reach.
    pub fn affected<P: AsRef<Path>>(&self, changed: &[P]) -> Affected {
        let keys: Vec<PathBuf> = changed.iter().map(|p| self.key(p.as_ref())).collect();
        let mut recompile: Vec<Recompile> = Vec::new();
        let mut in_recompile: HashSet<&Path> = HashSet::new();
        let mut stale: HashSet<&Path> = HashSet::new();
        let mut queue: VecDeque<&Path> = VecDeque::new();
        let mut unknown = Vec::new();
        let mut seeds: HashSet<&Path> = HashSet::new();

        for key in &keys {
            if !self.files.contains_key(key) {
                unknown.push(key.clone());
            }
            if in_recompile.insert(key) {
                recompile.push(Recompile {
                    path: key.clone(),
                    reason: Reason::Changed,
                });
                stale.insert(key);
                seeds.insert(key);
                queue.push_back(key);
            }
        }

        let relevant = self.stale_relevant();
        while let Some(file) = queue.pop_front() {
            let seed = seeds.contains(file);
            if !seed && !relevant.contains(file) {
                // Nothing its staleness reaches recompiles (see
                // `stale_relevant`): skipping it changes no answer.
                continue;
            }
            for (dependent, module, kinds) in self.dependents_of_file(file) {
                let recompiled = kinds.compile || (kinds.export && seed);
                if recompiled {
                    if in_recompile.insert(dependent) {
                        let (module, via) = (module.to_owned(), file.to_path_buf());
                        let reason = if kinds.compile {
                            Reason::Compile { module, via }
                        } else {
                            Reason::Export { module, via }
                        };
                        recompile.push(Recompile {
                            path: dependent.to_path_buf(),
                            reason,
                        });
                        stale.insert(dependent);
                        queue.push_back(dependent);
                    }
                } else if kinds.runtime && relevant.contains(dependent) && stale.insert(dependent) {
                    queue.push_back(dependent);
                }
            }
        }

        let mut runtime_callers: BTreeSet<&Path> = BTreeSet::new();
        let mut modules = Vec::new();
        let mut parse_errors = Vec::new();
        for r in &recompile {
            for (dependent, _, kinds) in self.dependents_of_file(&r.path) {
                if kinds.runtime && !in_recompile.contains(dependent) {
                    runtime_callers.insert(dependent);
                }
            }
            if let Some(entry) = self.files.get(&r.path) {
                modules.extend(entry.facts.modules.iter().cloned());
                parse_errors.extend(entry.errors.iter().cloned());
            }
        }
        Affected {
            recompile,
            runtime_callers: runtime_callers.into_iter().map(Path::to_path_buf).collect(),
            modules,
            parse_errors,
            unknown,
        }
    }

    /// A serialisable snapshot of the whole graph.
    pub fn graph(&self) -> Graph {
        Graph {
            project_dir: self.project_dir.clone(),
            elixir_version: self.elixir,
            files: self
                .files
                .iter()
                .map(|(path, entry)| GraphFile {
                    path: path.clone(),
                    modules: entry.facts.modules.clone(),
                    depends_on: self.edges_from(path),
                    parse_errors: entry.errors.clone(),
                })
                .collect(),
        }
    }
}

/// Whether two versions of a file look the same to other files'
/// resolution: same modules defined, with the same definitions and the same
/// `__using__` quotes.
fn same_interface(old: &FileFacts, new: &FileFacts) -> bool {
    old.defs == new.defs
        && old.using_refs == new.using_refs
        && old.macro_refs == new.macro_refs
        && old.modules.len() == new.modules.len()
        && old.modules.iter().zip(&new.modules).all(|(a, b)| a.name == b.name)
}

fn remove_dependent(
    dependents: &mut HashMap<ModuleName, BTreeMap<PathBuf, KindSet>>,
    compile_referrers: &mut HashMap<ModuleName, usize>,
    module: &str,
    kinds: KindSet,
    file: &Path,
) {
    if let Some(files) = dependents.get_mut(module) {
        files.remove(file);
        if files.is_empty() {
            dependents.remove(module);
        }
    }
    if kinds.compile {
        if let Some(count) = compile_referrers.get_mut(module) {
            *count -= 1;
            if *count == 0 {
                compile_referrers.remove(module);
            }
        }
    }
}

fn remove_from<V, Q>(map: &mut HashMap<String, BTreeSet<V>>, key: &str, value: &Q)
where
    V: Ord + std::borrow::Borrow<Q>,
    Q: Ord + ?Sized,
{
    if let Some(set) = map.get_mut(key) {
        set.remove(value);
        if set.is_empty() {
            map.remove(key);
        }
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

#[cfg(test)]
mod tests {
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

    /// `affected` as it was first written, resolving every edge while it
    /// walks: Mix's rule, followed literally (every stale file, every
    /// candidate referrer). The index must answer exactly the same.
    fn reference_affected(idx: &Index, changed: &[PathBuf]) -> Affected {
        let dependents_of_file = |path: &Path| -> Vec<(PathBuf, ModuleName, KindSet)> {
            let Some(entry) = idx.files.get(path) else {
                return Vec::new();
            };
            let mut out = Vec::new();
            for module in &entry.facts.modules {
                for referrer in idx.candidate_referrers(&module.name) {
                    if referrer.as_path() == path {
                        continue;
                    }
                    let Some(ref_entry) = idx.files.get(referrer) else {
                        continue;
                    };
                    let injected = idx.injections(&ref_entry.facts);
                    let kinds = idx.kinds_between(&ref_entry.facts, &injected, &module.name);
                    if !kinds.is_empty() {
                        out.push((referrer.clone(), module.name.clone(), kinds));
                    }
                }
            }
            out
        };
        let mut recompile: Vec<Recompile> = Vec::new();
        let mut in_recompile: BTreeSet<PathBuf> = BTreeSet::new();
        let mut stale: BTreeSet<PathBuf> = BTreeSet::new();
        let mut queue: VecDeque<PathBuf> = VecDeque::new();
        let mut unknown = Vec::new();
        let mut seeds = BTreeSet::new();
        for path in changed {
            let key = idx.key(path);
            if !idx.files.contains_key(&key) {
                unknown.push(key.clone());
            }
            if in_recompile.insert(key.clone()) {
                recompile.push(Recompile {
                    path: key.clone(),
                    reason: Reason::Changed,
                });
                stale.insert(key.clone());
                seeds.insert(key.clone());
                queue.push_back(key);
            }
        }
        while let Some(file) = queue.pop_front() {
            let seed = seeds.contains(&file);
            for (dependent, module, kinds) in dependents_of_file(&file) {
                let reason = if kinds.compile {
                    Some(Reason::Compile {
                        module,
                        via: file.clone(),
                    })
                } else if kinds.export && seed {
                    Some(Reason::Export {
                        module,
                        via: file.clone(),
                    })
                } else {
                    None
                };
                if let Some(reason) = reason {
                    if in_recompile.insert(dependent.clone()) {
                        recompile.push(Recompile {
                            path: dependent.clone(),
                            reason,
                        });
                        stale.insert(dependent.clone());
                        queue.push_back(dependent);
                    }
                } else if kinds.runtime && stale.insert(dependent.clone()) {
                    queue.push_back(dependent);
                }
            }
        }
        let mut runtime_callers = BTreeSet::new();
        let mut modules = Vec::new();
        let mut parse_errors = Vec::new();
        for r in &recompile {
            for (dependent, _, kinds) in dependents_of_file(&r.path) {
                if kinds.runtime && !in_recompile.contains(&dependent) {
                    runtime_callers.insert(dependent);
                }
            }
            if let Some(entry) = idx.files.get(&r.path) {
                modules.extend(entry.facts.modules.iter().cloned());
                parse_errors.extend(entry.errors.iter().cloned());
            }
        }
        Affected {
            recompile,
            runtime_callers: runtime_callers.into_iter().collect(),
            modules,
            parse_errors,
            unknown,
        }
    }

    /// A small deterministic PRNG (xorshift), so the test needs no crate.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn chance(&mut self, percent: u64) -> bool {
            self.next() % 100 < percent
        }
    }

    const MODULES: usize = 24;
    const USING: usize = 6;

    /// A random file defining `T.M<name>` (sometimes with a nested module):
    /// macro modules, `__using__` modules injecting imports, `use`s,
    /// behaviours and calls, structs, and every kind of reference to other
    /// modules, so that kinds flip with the targets' definitions.
    fn random_module(rng: &mut Rng, name: usize, dense: bool) -> String {
        let other = |rng: &mut Rng| format!("T.M{}", rng.below(MODULES));
        // The first few modules are mostly `__using__` ones, `use`d often,
        // so that injection chains (a quote that `use`s another) are common.
        let user = |rng: &mut Rng| format!("T.M{}", rng.below(USING));
        let mut body = Vec::new();
        if rng.chance(if dense { 30 } else { 8 }) {
            let helper = other(rng);
            body.push(format!("  defmacro m(x), do: {helper}.f(x)"));
            body.push(format!("  defmacro n, do: quote(do: {helper}.f(1))"));
        }
        if rng.chance(if name < USING { 85 } else { 10 }) {
            let mut quote = Vec::new();
            for _ in 0..rng.below(4) {
                let target = other(rng);
                quote.push(match rng.below(6) {
                    0 => format!("      import {target}"),
                    1 => format!("      use {}", user(rng)),
                    2 => format!("      @behaviour {target}"),
                    3 => format!("      def injected, do: {target}.f(1)"),
                    4 => format!("      require {target}"),
                    _ => format!("      @x {target}.f(2)"),
                });
            }
            body.push(format!(
                "  defmacro __using__(_) do\n    quote do\n{}\n    end\n  end",
                quote.join("\n")
            ));
        }
        if rng.chance(20) {
            body.push("  @callback cb() :: :ok".to_owned());
        }
        if rng.chance(15) {
            body.push("  defmacro __deriving__(_, _, _), do: :ok".to_owned());
        }
        if rng.chance(20) {
            body.push(format!("  @derive [{}]", other(rng)));
        }
        if rng.chance(30) {
            body.push("  defstruct [:a]".to_owned());
        }
        body.push(format!("  def f(x), do: {}.g(x)", other(rng)));
        for i in 0..rng.below(if dense { 5 } else { 3 }) {
            let target = other(rng);
            body.push(match rng.below(9) {
                0 => format!("  require {target}\n  def r{i}(x), do: {target}.m(x)"),
                1 => format!("  def s{i}(%{target}{{}} = x), do: x"),
                2 => format!("  @a{i} {target}.f(1)"),
                3 => format!("  use {}", user(rng)),
                4 => format!("  import {target}\n  def i{i}, do: f(m(1))"),
                5 => format!("  alias {target}"),
                6 => format!("  def h{i}, do: {target}.n()"),
                7 => format!("  @behaviour {target}"),
                _ => format!("  def c{i}, do: {target}.f(2)"),
            });
        }
        if rng.chance(15) {
            let target = other(rng);
            body.push(format!("  defmodule Inner do\n    def x, do: {target}.f(3)\n  end"));
        }
        if rng.chance(12) {
            // `T.Mn.Any`: what `@derive T.Mn` may call.
            let deriving = if rng.chance(50) {
                "defmacro __deriving__(_, _, _), do: :ok"
            } else {
                "def __deriving__(_, _, _), do: :ok"
            };
            body.push(format!("  defmodule Any do\n    {deriving}\n  end"));
        }
        format!("defmodule T.M{name} do\n{}\nend\n", body.join("\n"))
    }

    fn assert_same_answers(idx: &Index, sources: &BTreeMap<String, String>, step: usize) {
        let list: Vec<(&String, &String)> = sources.iter().collect();
        let batch = Index::from_sources(Path::new("/proj"), &list, idx.elixir_version()).unwrap();
        let files: Vec<PathBuf> = batch.files().map(Path::to_path_buf).collect();
        assert_eq!(
            idx.files().map(Path::to_path_buf).collect::<Vec<_>>(),
            files,
            "step {step}"
        );
        assert_eq!(idx.dependents, batch.dependents, "step {step}");
        assert_eq!(idx.compile_referrers, batch.compile_referrers, "step {step}");
        for (i, file) in files.iter().enumerate() {
            assert_eq!(
                idx.references_of(file),
                batch.references_of(file),
                "step {step}: {file:?}"
            );
            let pair = [file.clone(), files[(i * 7 + 3) % files.len()].clone()];
            let queries = if i % 3 == 0 {
                &[&pair[..1], &pair[..]][..]
            } else {
                &[&pair[..1]][..]
            };
            for query in queries {
                let answer = idx.affected(query);
                assert_eq!(answer, batch.affected(query), "step {step}: {query:?}");
                assert_eq!(answer, reference_affected(idx, query), "step {step}: {query:?}");
            }
        }
    }

    #[test]
    fn incremental_updates_answer_as_a_fresh_index_and_as_the_literal_rule() {
        // Each seed on a release of each rule set: the cross-file rules
        // (behaviours with callbacks, `@derive` and `P.Any`) differ.
        let releases = [(1, 14), (1, 20), (1, 16), (1, 18), (1, 15), (1, 19)];
        for (seed, (major, minor)) in (1..=6u64).zip(releases) {
            let elixir = ElixirVersion::new(major, minor);
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut sources: BTreeMap<String, String> = BTreeMap::new();
            // Dense graphs recompile much; sparse ones leave most stale
            // files out of `stale_relevant`.
            let dense = seed % 2 == 1;
            for i in 0..MODULES {
                sources.insert(format!("lib/m{i}.ex"), random_module(&mut rng, i, dense));
            }
            let list: Vec<(&String, &String)> = sources.iter().collect();
            let mut idx = Index::from_sources(Path::new("/proj"), &list, elixir).unwrap();
            // Built one file at a time, it must be the same index.
            let mut one_by_one = Index::from_sources::<&str, &str>(Path::new("/proj"), &[], elixir).unwrap();
            for (path, source) in &sources {
                one_by_one.update_file(Path::new(path), source).unwrap();
            }
            assert_same_answers(&one_by_one, &sources, 0);
            assert_same_answers(&idx, &sources, 0);
            for step in 1..=30 {
                let file = format!("lib/m{}.ex", rng.below(MODULES + 4));
                match rng.below(10) {
                    0 => {
                        idx.remove_file(Path::new(&file));
                        sources.remove(&file);
                    }
                    choice @ (2 | 3) if sources.contains_key(&file) => {
                        let source = if choice == 2 {
                            // A change inside bodies only.
                            sources[&file].replace("f(1)", "f(11)") + "# edited\n"
                        } else {
                            // A change of a `__using__` quote only.
                            let target = format!("T.M{}", rng.below(MODULES));
                            sources[&file].replace("    quote do\n", &format!("    quote do\n      use {target}\n"))
                        };
                        idx.update_file(Path::new(&file), &source).unwrap();
                        sources.insert(file, source);
                    }
                    choice => {
                        // Mostly the module of the file's own name; sometimes
                        // another one, which moves or duplicates it.
                        let name = if choice == 1 {
                            rng.below(MODULES)
                        } else {
                            step % MODULES
                        };
                        let name = if choice > 3 {
                            file.trim_start_matches("lib/m")
                                .trim_end_matches(".ex")
                                .parse()
                                .unwrap()
                        } else {
                            name
                        };
                        let source = random_module(&mut rng, name, dense);
                        idx.update_file(Path::new(&file), &source).unwrap();
                        sources.insert(file, source);
                    }
                }
                assert_same_answers(&idx, &sources, step);
            }
        }
    }
}
