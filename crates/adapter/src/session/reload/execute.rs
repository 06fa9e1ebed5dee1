//! A plan executed in the VM step by step: compile, interpret again, remove
//! the modules of deleted files, move breakpoints, commit.

use super::*;

impl Session {
    /// Runs a non-empty plan in the VM. On error the VM is as before (rolled
    /// back where something had changed) and the message says why.
    pub(super) async fn execute(
        &mut self,
        agent: &AgentClient,
        plan: &Plan,
        overlay: &std::path::Path,
        force: bool,
        suspended: &[protocol::SuspendedProcess],
        report: &mut ReloadReport,
    ) -> Result<(), String> {
        // No background interpretation loads a module of the batch meanwhile.
        let _gate = match &self.debugger {
            Some(debugger) => Some(debugger.hold_interpret_gate().await),
            None => None,
        };
        report.nodes = self.cluster_nodes();
        let Some(manager) = self.reload.as_ref().and_then(|s| s.manager.as_ref()) else {
            return Err("the project index is missing".into());
        };
        let files: Vec<PathBuf> = plan.compile.iter().map(|c| manager.absolute(&c.file)).collect();
        // Every module the batch may replace: what the index expects, plus
        // what the VM knows from those files (covers index misses).
        let mut existing: BTreeSet<String> = plan.expected_modules.iter().map(|m| elixir_atom(m)).collect();
        if let Some(debugger) = &self.debugger {
            for file in &files {
                existing.extend(debugger.module_atoms_in(file));
            }
        }
        let was_interpreted: Vec<String> = match &self.debugger {
            Some(debugger) => existing
                .iter()
                .filter(|a| debugger.is_interpreted(a))
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        let edits: BTreeMap<PathBuf, LineMap> = plan
            .changed
            .iter()
            .map(|c| (canonical(&manager.absolute(&c.file)), LineMap::new(&c.old, &c.new)))
            .collect();

        let planned_files: Vec<PathBuf> = plan.compile.iter().map(|c| c.file.clone()).collect();
        let lift: Vec<String> = reload::compile_time_modules(manager.index(), &planned_files)
            .iter()
            .map(|m| elixir_atom(m))
            .collect();
        // Compile (purging unused old code first), wave after wave.
        let waves = plan
            .waves
            .iter()
            .map(|wave| {
                let files = wave.iter().map(|f| manager.absolute(f));
                files.map(|f| f.to_string_lossy().into_owned()).collect()
            })
            .collect();
        // Optimised native code is wasted on a batch that runs interpreted,
        // unless a cluster's peers (which run it natively) or a release's
        // helper (which compiles elsewhere) take it, or most of a big batch
        // runs natively until a breakpoint or a step needs it (`onDemand`).
        let optimize = !report.nodes.is_empty()
            || self.attached.as_ref().is_some_and(|a| a.release)
            || !self.debugger.as_ref().is_some_and(|d| {
                d.interprets_all(&existing)
                    && !(d.defers(existing.len()) && d.lazy_mode() == crate::launch::LazyInterpretation::OnDemand)
            });
        let request = protocol::Request::ReloadCompile {
            waves,
            modules: existing.iter().cloned().collect(),
            lift,
            overlay: overlay.to_string_lossy().into_owned(),
            force,
            optimize,
        };
        tracing::debug!(files = files.len(), optimize, "reload: compiling");
        let reply: protocol::ReloadCompiled = agent
            .request(&request, COMPILE_TIMEOUT)
            .await
            .map_err(|e| format!("compiling failed in the VM: {e}"))?;
        tracing::debug!("reload: compiled");
        report.timings.load = micros_to_ms(reply.timings.load);
        report.timings.compile = micros_to_ms(reply.timings.compile);
        report.diagnostics = diagnostics(&reply.diagnostics);
        report.killed = processes(&reply.killed);
        report.blocked = processes(&reply.blocked);
        if let (Some(primary), "blocked" | "compile_failed" | "load_failed") =
            (report.nodes.first_mut(), reply.status.as_str())
        {
            primary.status = if reply.status == "blocked" { "blocked" } else { "failed" }.to_owned();
            primary.blocked = report.blocked.clone();
        }
        match reply.status.as_str() {
            "blocked" => {
                let Some(first) = report.blocked.first() else {
                    return Err("the VM reported blocked processes without naming them".into());
                };
                let (processes, run) = if report.blocked.len() == 1 {
                    ("process", "runs")
                } else {
                    ("processes", "run")
                };
                return Err(format!(
                    "{} {processes} still {run} old code, which loading {} would kill (first: {} in {}); \
                     nothing was reloaded: let them finish, or reload with `force: true` to kill them",
                    report.blocked.len(),
                    first.module,
                    first.name,
                    first.module
                ));
            }
            "compile_failed" => {
                report.rolled_back = self.rollback(agent, &was_interpreted).await?;
                let first = report
                    .diagnostics
                    .iter()
                    .find(|d| d.severity == "error")
                    .map(|d| format!("{}:{}: {}", d.file, d.line, first_line(&d.message)))
                    .unwrap_or_else(|| "the compiler reported an error".into());
                return Err(format!("compile error, the old code keeps running: {first}"));
            }
            "load_failed" => {
                report.failed.extend(failures(&reply.load_failures));
                report.rolled_back = self.rollback(agent, &was_interpreted).await?;
                return Err(format!(
                    "the new code of {} did not load; the batch was rolled back",
                    failed_modules(report)
                ));
            }
            _ => {}
        }
        let mut compiled = compiled_modules(&reply.compiled);
        let missed: Vec<String> = compiled
            .iter()
            .filter(|c| !plan.expected_modules.contains(c.name.as_str()))
            .map(|c| c.name.clone())
            .collect();
        // The index could not plan exactly: Mix decides what else is stale.
        let why_mix = if !missed.is_empty() {
            Some(format!(
                "the compiler defined modules the dependency index does not know ({})",
                missed.join(", ")
            ))
        } else if !plan.parse_errors.is_empty() {
            Some(format!(
                "the dependency index could not parse {}",
                plan.parse_errors.join(", ")
            ))
        } else {
            None
        };
        if let Some(why) = why_mix {
            if self.attached.as_ref().is_some_and(|a| a.release) {
                report.rolled_back = self.rollback(agent, &was_interpreted).await?;
                return Err(format!(
                    "{why}, and the node attached to runs no Mix (a release) to fall back to; the batch was rolled back"
                ));
            }
            tracing::warn!(%why, "falling back to Mix for this reload");
            let request = protocol::Request::ReloadMix {
                overlay: overlay.to_string_lossy().into_owned(),
                force,
            };
            let reply: protocol::MixCompiled = agent
                .request(&request, COMPILE_TIMEOUT)
                .await
                .map_err(|e| format!("the Mix fallback failed in the VM: {e}"))?;
            report.killed.extend(processes(&reply.killed));
            report.diagnostics.extend(diagnostics(&reply.diagnostics));
            let status = reply.status;
            if status != "compiled" {
                report.blocked.extend(processes(&reply.blocked));
                report.rolled_back = self.rollback(agent, &was_interpreted).await?;
                return Err(format!(
                    "{why}, and the Mix compile it fell back to did not succeed ({status}); the batch was rolled back"
                ));
            }
            let by_mix = compiled_modules(&reply.recompiled);
            let seen: BTreeSet<String> = compiled.iter().map(|c| c.atom.clone()).collect();
            let more: Vec<CompiledModule> = by_mix.into_iter().filter(|m| !seen.contains(&m.atom)).collect();
            report.fallback = Some(format!(
                "{why}: Mix recompiled what it found stale ({} more modules)",
                more.len()
            ));
            self.client
                .console(format!("elixir-dap: reload fell back to Mix: {why}"));
            compiled.extend(more);
        }

        // The modules of deleted files, unless the batch defines them again.
        let mut removed_atoms: Vec<(String, String, String)> = Vec::new();
        let reloaded_modules: BTreeSet<String> = compiled.iter().map(|c| c.atom.clone()).collect();
        for (file, modules) in &plan.deleted {
            for module in modules {
                let atom = elixir_atom(module);
                if !reloaded_modules.contains(&atom) {
                    removed_atoms.push((atom, module.clone(), file.display().to_string()));
                }
            }
        }

        // A cluster: every other node gets the batch ready before any switches.
        let batch: Vec<String> = reloaded_modules.iter().cloned().collect();
        let removing: Vec<String> = removed_atoms.iter().map(|(a, _, _)| a.clone()).collect();
        if let Err(message) = Self::prepare_peers(agent, batch, removing, force, report).await {
            report.rolled_back = self.rollback(agent, &was_interpreted).await?;
            return Err(message);
        }

        // Re-interpret what the patterns select.
        let interpret_started = Instant::now();
        let (to_interpret, later) = match &mut self.debugger {
            Some(debugger) => {
                let selected = debugger.record_compiled(&compiled);
                debugger.split_for_reload(selected)
            }
            None => (Vec::new(), Vec::new()),
        };
        let native = self.debugger.as_ref().is_some_and(|d| d.is_native());
        let reloaded_sources: BTreeSet<PathBuf> = compiled.iter().map(|c| canonical(&c.source)).collect();
        // Nothing of the reload follows the interpretation (no module of a
        // deleted file to remove, no peer to switch, no process to upgrade,
        // no breakpoint to move): the agent commits the batch with it, a
        // round trip less. Every step below that can roll back must be
        // ruled out here: after that commit there is no snapshot.
        let commit_with_interpretation = removed_atoms.is_empty()
            && report.nodes.len() < 2
            && suspended.is_empty()
            && !self
                .debugger
                .as_ref()
                .is_some_and(|d| d.has_breakpoints_in(&reloaded_sources, &reloaded_modules));
        let Interpretation {
            interpreted,
            skipped,
            committed,
        } = interpret_again(agent, &to_interpret, &later, native, commit_with_interpretation, report).await?;
        if !skipped.is_empty() {
            report.failed.extend(skipped);
            report.rolled_back = self.rollback(agent, &was_interpreted).await?;
            return Err(format!(
                "{} could not be {} again; the batch was rolled back",
                failed_modules(report),
                if native { "debugged" } else { "interpreted" }
            ));
        }
        if let Some(debugger) = &mut self.debugger {
            debugger.mark_interpreted(interpreted.iter());
        }
        report.timings.interpret = ms(interpret_started);
        // Whatever follows: the task waits for the gate this reload holds,
        // and finds interpreted what a rollback interprets again.
        self.queue_background_interpretation(later);

        // Remove the modules of deleted files.
        if !removed_atoms.is_empty() {
            let names: Vec<String> = removed_atoms.iter().map(|(a, _, _)| a.clone()).collect();
            let reply: protocol::ModulesRemoved = agent
                .request(&protocol::Request::ReloadRemove { modules: names }, STEP_CALL_TIMEOUT)
                .await
                .map_err(|e| format!("removing modules failed in the VM: {e}"))?;
            let blocked = processes(&reply.blocked);
            if !blocked.is_empty() {
                report.blocked.extend(blocked);
                report.rolled_back = self.rollback(agent, &was_interpreted).await?;
                let module = report.blocked.first().map(|b| b.module.clone()).unwrap_or_default();
                return Err(format!(
                    "a process still runs a module of a deleted file ({module}); nothing was reloaded"
                ));
            }
            if let Some(debugger) = &mut self.debugger {
                for (atom, name, _) in &removed_atoms {
                    debugger.announce_removed(atom, name);
                }
                debugger.remove_modules(&removed_atoms.iter().map(|(a, _, _)| a.clone()).collect::<Vec<_>>());
            }
            report.removed = removed_atoms
                .iter()
                .map(|(_, module, file)| RemovedModule {
                    module: module.clone(),
                    file: file.clone(),
                })
                .collect();
        }

        // A cluster: every other node switches to the batch.
        if let Err(message) = Self::switch_peers(agent, report).await {
            report.rolled_back = self.rollback(agent, &was_interpreted).await?;
            return Err(message);
        }

        // State-preserving upgrades, all or nothing.
        if !suspended.is_empty() {
            let request = protocol::Request::ReloadCodeChange {
                targets: suspended.to_vec(),
            };
            let reply: protocol::CodeChanged = agent
                .request(&request, STEP_CALL_TIMEOUT)
                .await
                .map_err(|e| format!("code_change failed in the VM: {e}"))?;
            let failed = processes(&reply.failed);
            report.code_changed = reply.changed.max(0) as usize;
            if let Some(first) = failed.first() {
                let message = format!(
                    "{} ({}): {}; the batch was rolled back and the processes keep their old state",
                    first.module, first.name, first.why
                );
                report.failed.extend(failed.iter().map(|f| FailedModule {
                    module: f.module.clone(),
                    reason: f.why.clone(),
                }));
                report.rolled_back = self.rollback(agent, &was_interpreted).await?;
                return Err(message);
            }
        }

        // Breakpoints follow their statements.
        let breakpoints_started = Instant::now();
        let mut counts = BTreeMap::new();
        if let Some(debugger) = &mut self.debugger {
            match debugger
                .follow_reload(&edits, &reloaded_sources, &reloaded_modules)
                .await
            {
                Ok((changes, per_module)) => {
                    report.breakpoints = changes;
                    counts = per_module;
                }
                Err(e) => {
                    report.rolled_back = self.rollback(agent, &was_interpreted).await?;
                    return Err(format!(
                        "breakpoints could not be restored ({e}); the batch was rolled back"
                    ));
                }
            }
        }
        report.timings.breakpoints = ms(breakpoints_started);

        if !committed {
            agent
                .request::<protocol::Done>(&protocol::Request::ReloadCommit, STEP_CALL_TIMEOUT)
                .await
                .map_err(|e| format!("the VM did not confirm the reload: {e}"))?;
        }
        report.reloaded = report::reloaded_entries(&compiled, &interpreted, &counts);
        if let Some(debugger) = &self.debugger {
            for module in &compiled {
                let reason = if existing.contains(&module.atom) {
                    "changed"
                } else {
                    "new"
                };
                debugger.announce_module(&module.atom, reason);
            }
        }
        Ok(())
    }
}

/// Interprets `modules` (atoms) again from their new object code; returns
/// those interpreted and those the interpreter refused, and records the
/// processes left on the old version in `report.stale`. `later`: modules
/// whose new native code runs until they are interpreted later (the
/// interpreter forgets their old versions now). `native`: the
/// native backend, which interprets nothing: it loads the batch with its
/// breakpoints cleared and debugs the new code (refused: it has no line
/// debug info). `commit`: nothing of the reload follows, so the agent
/// commits the batch once every module switched (`committed`).
pub(super) async fn interpret_again(
    agent: &AgentClient,
    modules: &[String],
    later: &[String],
    native: bool,
    commit: bool,
    report: &mut ReloadReport,
) -> Result<Interpretation, String> {
    if modules.is_empty() && later.is_empty() {
        return Ok(Interpretation::default());
    }
    report.interpreted_later = later.len();
    let request = protocol::Request::ReloadInterpret {
        modules: modules.to_vec(),
        deferred: later.to_vec(),
        commit,
    };
    let reply: protocol::Reinterpreted = agent
        .request(&request, COMPILE_TIMEOUT)
        .await
        .map_err(|e| format!("re-interpreting failed in the VM: {e}"))?;
    report.stale = processes(&reply.stale);
    {
        let hold = &reply.hold;
        report.held = (!hold.off).then(|| hold.processes.max(0) as usize);
        report.timings.held = hold.ms as f64;
        if hold.expired {
            report.stale.push(ProcessInfo {
                pid: String::new(),
                name: String::new(),
                module: String::new(),
                why: format!(
                    "the program was held for the switch at most {} ms, which the reload exceeded: \
                     processes may have run half of the batch",
                    report.timings.held
                ),
            });
        }
    }
    if let Some(switch) = &reply.switch {
        report.timings.switch = Some(switch.us as f64 / 1000.0);
        if !switch.early.is_empty() {
            let early: Vec<String> = switch.early.iter().map(report::shown_module).collect();
            report.stale.push(ProcessInfo {
                pid: String::new(),
                name: String::new(),
                module: String::new(),
                why: format!(
                    "{} became visible before the rest of the batch (a file of the batch needed its new code \
                     at compile time): until the switch, a process could call it new and the others old",
                    early.join(", ")
                ),
            });
        }
    }
    let skipped = reply
        .skipped
        .iter()
        .map(|s| FailedModule {
            module: s.name.clone(),
            reason: format!(
                "cannot be {}: {}",
                if native { "debugged" } else { "interpreted" },
                s.reason
            ),
        })
        .collect();
    Ok(Interpretation {
        interpreted: atoms(&reply.interpreted).into_iter().collect(),
        skipped,
        committed: reply.committed == Some(true),
    })
}

/// What [`interpret_again`] did: the modules interpreted (debugged) again,
/// those refused, and whether the agent committed the batch (asked for
/// and every module switched).
#[derive(Debug, Default)]
pub(super) struct Interpretation {
    pub interpreted: BTreeSet<String>,
    pub skipped: Vec<FailedModule>,
    pub committed: bool,
}

pub(super) fn deleted_modules(plan: &Plan) -> Vec<RemovedModule> {
    plan.deleted
        .iter()
        .flat_map(|(file, modules)| {
            modules.iter().map(move |m| RemovedModule {
                module: m.clone(),
                file: file.display().to_string(),
            })
        })
        .collect()
}
