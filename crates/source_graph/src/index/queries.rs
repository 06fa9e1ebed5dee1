//! Read-only queries: files, modules and parse errors, the file-level
//! edges, and the graph snapshot.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Edge, Graph, GraphFile, Index};
use crate::model::{KindSet, ModuleDef, ModuleName, ParseError};

impl Index {
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

    /// Files (other than `path`) that depend on a module defined in `path`,
    /// with the module and kinds: modules in definition order, files in
    /// path order.
    pub(super) fn dependents_of_file<'a>(
        &'a self,
        path: &Path,
    ) -> impl Iterator<Item = (&'a Path, &'a str, KindSet)> + 'a {
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
