//! Resolving references against the project: the definitions and quotes
//! of the modules a file references, what macro expansions inject into
//! it, the kinds of each reference, and the files that may reference a
//! module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Index;
use crate::extract::{resolve, resolve_injected_import};
use crate::model::{Defs, FileFacts, ImportOnly, KindSet, MacroRefs, Mode, ModuleName, RawRef, ANY_MACRO};

impl Index {
    /// Points [`Index::module_facts`] of `modules` (all when `None`) at the
    /// facts of the file defining each, after `files` or `defined_in`
    /// changed.
    pub(super) fn refresh_module_facts(&mut self, modules: Option<&BTreeSet<ModuleName>>) {
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
    pub(super) fn injections<'a>(&'a self, file: &'a FileFacts) -> Vec<&'a BTreeMap<ModuleName, RawRef>> {
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
    pub(super) fn kinds_between(
        &self,
        facts: &FileFacts,
        injected: &[&BTreeMap<ModuleName, RawRef>],
        module: &str,
    ) -> KindSet {
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
    pub(super) fn resolve_references(&self, key: &Path) -> BTreeMap<ModuleName, KindSet> {
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
    pub(super) fn candidate_referrers(&self, module: &str) -> BTreeSet<&PathBuf> {
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
}
