//! Building an index: from the files on disk (with or without the facts
//! cache) or from sources in memory, and what it was built for.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rayon::prelude::*;

use super::sources::{extract_all, normal_key, read_sources, to_parse_errors, Source};
use super::{CacheUse, FileEntry, Index};
use crate::extract::{extract, new_parser};
use crate::facts_cache::{self, FactsCache, SourceStamp};
use crate::model::{KindSet, ModuleName};
use crate::version::ElixirVersion;
use crate::Error;

impl Index {
    /// Indexes every source file (`mix_layout::is_source_file`: `.ex`) under `roots` (relative to
    /// `project_dir`; see [`default_roots`](super::default_roots)), parsing
    /// files in parallel and classifying references as Mix on `elixir` does
    /// (the Elixir the project is compiled with: dependency kinds differ
    /// between releases).
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
            let files = index
                .files
                .iter()
                .map(|(key, entry)| (key.as_path(), entry.stamp, &*entry.facts));
            write_error = facts_cache::save(cache_file, rules, files).err();
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

    /// An index of no file yet, for `project_dir` and its source `roots`,
    /// classified as Mix on `elixir` does.
    fn empty(project_dir: &Path, roots: Vec<PathBuf>, elixir: ElixirVersion) -> Index {
        Index {
            project_dir: project_dir.to_path_buf(),
            elixir,
            rules: elixir.rules(),
            roots,
            files: BTreeMap::new(),
            defined_in: HashMap::new(),
            module_facts: HashMap::new(),
            referenced_by: HashMap::new(),
            injected_by: HashMap::new(),
            dependents: HashMap::new(),
            compile_referrers: HashMap::new(),
            stale_relevant: OnceLock::new(),
        }
    }

    /// An index of already extracted files, sorted by key.
    fn from_entries(
        project_dir: &Path,
        roots: &[PathBuf],
        elixir: ElixirVersion,
        parsed: Vec<(PathBuf, FileEntry)>,
    ) -> Index {
        let mut index = Index::empty(project_dir, roots.to_vec(), elixir);
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
        let mut index = Index::empty(project_dir, Vec::new(), elixir);
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
}
