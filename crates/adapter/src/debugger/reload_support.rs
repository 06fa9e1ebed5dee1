//! What a code reload asks of the debugger: which modules to re-interpret,
//! recording what the reload changed, and breakpoints that follow their
//! statements into the new code.

use super::breakpoints::LineBreakpoint;
use super::modules::ModuleInfo;
use super::{canonical, Debugger};
use crate::error::RequestError;
use reload::{BreakpointChange, LineFate, LineMap};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module the reload compiled.
#[derive(Debug, Clone)]
pub struct CompiledModule {
    pub atom: String,
    pub name: String,
    pub source: PathBuf,
}

impl Debugger {
    /// Threads in the middle of a step (resumed with next/stepIn/stepOut and
    /// not stopped again yet): a reload waits for them.
    pub fn stepping_threads(&self) -> Vec<i64> {
        self.threads.lock().stepping()
    }

    /// Module atoms the debugger knows in a source file.
    pub fn module_atoms_in(&self, source: &Path) -> Vec<String> {
        self.registry
            .in_source(&canonical(source))
            .into_iter()
            .map(|m| m.atom.clone())
            .collect()
    }

    pub fn is_interpreted(&self, atom: &str) -> bool {
        self.registry.is_interpreted(atom)
    }

    /// Whether every module of `atoms` runs interpreted once reloaded: the
    /// interpreter backend, and each selected by the interpret patterns (a
    /// module new to the registry as a project module of its name) and not
    /// refused by the interpreter before. Such a batch's native code is only
    /// the stub of the interpreter's call traps, so it needs no optimising.
    pub fn interprets_all<'a>(&self, atoms: impl IntoIterator<Item = &'a String>) -> bool {
        !self.native
            && atoms.into_iter().all(|atom| {
                let selected = match self.registry.get(atom) {
                    Some(known) => self.selection.selects(known),
                    None => self.selection.selects(&ModuleInfo {
                        atom: atom.clone(),
                        name: atom.strip_prefix("Elixir.").unwrap_or(atom).to_owned(),
                        source: None,
                        app: String::new(),
                        project: true,
                        calls_dbg: false,
                    }),
                };
                selected && self.registry.skip_reason(atom).is_none()
            })
    }

    /// Records the compiled modules (new ones join the registry) and returns
    /// those the interpret patterns select, which must be re-interpreted.
    pub fn record_compiled(&mut self, compiled: &[CompiledModule]) -> Vec<String> {
        let mut selected = Vec::new();
        for module in compiled {
            let known = self.registry.get(&module.atom);
            let app = known.map(|m| m.app.clone()).unwrap_or_default();
            // Until its beam is listed again, it calls `dbg` as it did.
            let calls_dbg = known.is_some_and(|m| m.calls_dbg);
            let info = ModuleInfo {
                atom: module.atom.clone(),
                name: module.name.clone(),
                source: Some(canonical(&module.source)),
                app,
                project: true,
                calls_dbg,
            };
            self.breakable.remove(&module.atom);
            // The compiler loaded it natively: it is no longer interpreted
            // until re-interpreted.
            self.registry.unmark_interpreted(&module.atom);
            if self.selection.selects(&info) {
                selected.push(module.atom.clone());
            }
            self.registry.upsert(info);
        }
        selected
    }

    /// Modules interpreted again (after a reload, or after a rollback
    /// restored their previous code): their breakable lines are re-read.
    pub fn mark_interpreted<'a>(&mut self, atoms: impl IntoIterator<Item = &'a String>) {
        for atom in atoms {
            self.breakable.remove(atom);
            self.registry.mark_interpreted(atom);
        }
    }

    pub fn remove_modules(&mut self, atoms: &[String]) {
        for atom in atoms {
            self.breakable.remove(atom);
            self.registry.remove(atom);
        }
    }

    /// Sends `module` events for reloaded modules (`changed` or `new`) and
    /// removed ones.
    pub fn announce_module(&self, atom: &str, reason: &str) {
        if let Some(info) = self.registry.get(atom) {
            let interpreted = self.registry.is_interpreted(atom);
            self.client.event(
                "module",
                json!({ "reason": reason, "module": super::module_json(info, interpreted) }),
            );
        }
    }

    pub fn announce_removed(&self, atom: &str, name: &str) {
        self.client.event(
            "module",
            json!({ "reason": "removed", "module": { "id": atom, "name": name } }),
        );
    }

    /// Moves the line breakpoints of edited sources with their statements
    /// (`edits`: canonical source path to the old→new line map), places
    /// every breakpoint of the reloaded sources and modules again on the new
    /// code, and sends the agent the breakpoints of every reloaded module
    /// that had or has some.
    /// Returns the breakpoints that moved or were lost, and the number of
    /// breakpoints each module now holds.
    pub async fn follow_reload(
        &mut self,
        edits: &BTreeMap<PathBuf, LineMap>,
        reloaded_sources: &BTreeSet<PathBuf>,
        reloaded_modules: &BTreeSet<String>,
    ) -> Result<(Vec<BreakpointChange>, BTreeMap<String, usize>), RequestError> {
        let mut changes = Vec::new();
        // The reloaded modules that held breakpoints get them again on
        // their new code; those that gain or lose one come from the moves
        // below. One that holds none before and after is not sent: nothing
        // of it is set anywhere (0.5-10 ms a module on OTP 29).
        let mut touched: BTreeSet<String> = reloaded_modules
            .iter()
            .filter(|atom| !self.breakpoints.module_specs(atom).is_empty())
            .cloned()
            .collect();
        for source in self.breakpoints.sources() {
            if !reloaded_sources.contains(&source) {
                continue;
            }
            let modules: Vec<ModuleInfo> = self.registry.in_source(&source).into_iter().cloned().collect();
            let before = self.breakpoints.in_source(&source);
            let mut after: Vec<LineBreakpoint> = Vec::with_capacity(before.len());
            for old in &before {
                let mut moved = old.clone();
                let fate = edits.get(&source).map_or(LineFate::At(old.line as u32), |map| {
                    map.map(u32::try_from(old.line).unwrap_or(0))
                });
                match fate {
                    LineFate::At(line) if old.invalid.is_some() => moved.line = i64::from(line),
                    LineFate::At(line) => {
                        moved.line = i64::from(line);
                        let (placed, message) = self.place_line(&modules, moved.line).await;
                        moved.verified = !placed.is_empty();
                        moved.modules = placed;
                        moved.message = message;
                    }
                    LineFate::Gone => {
                        moved.verified = false;
                        moved.modules.clear();
                        moved.message = Some(format!(
                            "the statement on line {} was removed by a code reload",
                            old.line
                        ));
                    }
                }
                if moved.line != old.line || moved.verified != old.verified {
                    changes.push(BreakpointChange {
                        id: old.id,
                        file: source.display().to_string(),
                        old_line: old.line,
                        new_line: moved.verified.then_some(moved.line),
                    });
                    self.client.event(
                        "breakpoint",
                        json!({
                            "reason": "changed",
                            "breakpoint": {
                                "id": moved.id,
                                "verified": moved.verified,
                                "line": moved.line,
                                "message": moved.message,
                                "source": {
                                    "name": source.file_name().map(|n| n.to_string_lossy().into_owned()),
                                    "path": source.display().to_string(),
                                },
                            },
                        }),
                    );
                }
                after.push(moved);
            }
            touched.extend(self.breakpoints.replace_source(source.clone(), after));
        }
        let functions = self.breakpoints.functions().to_vec();
        if functions.iter().any(|f| reloaded_modules.contains(&f.spec.module_atom)) {
            let mut replaced = Vec::with_capacity(functions.len());
            for mut function in functions {
                if reloaded_modules.contains(&function.spec.module_atom) && function.invalid.is_none() {
                    match self.place_function(&function.spec).await {
                        Ok(lines) => {
                            function.module = Some(function.spec.module_atom.clone());
                            function.lines = lines;
                            function.verified = true;
                            function.message = None;
                        }
                        Err(message) => {
                            function.module = None;
                            function.lines.clear();
                            function.verified = false;
                            function.message = Some(message);
                        }
                    }
                }
                replaced.push(function);
            }
            touched.extend(self.breakpoints.replace_functions(replaced));
        }
        self.sync_modules(touched).await?;
        let counts = reloaded_modules
            .iter()
            .map(|atom| (atom.clone(), self.breakpoints.module_specs(atom).len()))
            .collect();
        Ok((changes, counts))
    }

    /// Whether [`Self::follow_reload`] has anything to do for a batch of
    /// `reloaded_modules` (atoms) from `reloaded_sources`: a breakpoint in
    /// one of those modules or files, or a function breakpoint on one of
    /// the modules. Without, it asks the agent nothing and cannot fail, so
    /// the agent may commit the batch with its interpretation.
    pub fn has_breakpoints_in(
        &self,
        reloaded_sources: &BTreeSet<PathBuf>,
        reloaded_modules: &BTreeSet<String>,
    ) -> bool {
        reloaded_modules
            .iter()
            .any(|atom| !self.breakpoints.module_specs(atom).is_empty())
            || self
                .breakpoints
                .sources()
                .iter()
                .any(|source| reloaded_sources.contains(source))
            || self
                .breakpoints
                .functions()
                .iter()
                .any(|function| reloaded_modules.contains(&function.spec.module_atom))
    }

    /// Sends the agent the breakpoints of `atoms` again (after a rollback
    /// re-interpreted the old code).
    pub async fn resync_breakpoints(&mut self, atoms: &[String]) -> Result<(), RequestError> {
        self.sync_modules(atoms.iter().cloned().collect()).await
    }
}
