//! Updating an index one file at a time: replacing, re-reading or
//! removing a file, and patching the forward, reverse and resolved
//! entries that file touches.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rayon::prelude::*;

use super::sources::to_parse_errors;
use super::{FileEntry, Index};
use crate::extract::{extract, new_parser};
use crate::facts_cache::SourceStamp;
use crate::model::{FileFacts, KindSet, ModuleName};
use crate::Error;

impl Index {
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
    pub(super) fn resolve_files<I: IntoIterator<Item = PathBuf>>(&mut self, files: I) {
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

    pub(super) fn unlink_file(&mut self, key: &Path) {
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

    pub(super) fn link(&mut self, key: &Path, entry: &FileEntry) {
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
