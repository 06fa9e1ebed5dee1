//! What a change forces to recompile, by Mix's rules, walked on the
//! precomputed reverse edges.

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::path::{Path, PathBuf};

use super::{Affected, Index, Reason, Recompile};

impl Index {
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
}
