//! The `reloadCode` request: executes a [`reload::Plan`] in the VM, step by
//! step through the agent (`elixir_dap_reload.erl`), and reports.
//!
//! Steps: wait for steps in progress; plan (Rust); compile (the agent purges
//! old code nobody runs, snapshots the batch, compiles into the session's
//! overlay directory); re-interpret the selected modules; remove the modules
//! of deleted files; move and re-place breakpoints; commit. A failure after
//! the compile rolls the whole batch back. Requests are handled one at a
//! time, so reloads never interleave: a second one is planned against the
//! state the first left.

mod cluster;
mod execute;
mod overlay;
mod report;
mod rollback;

use super::external::ExternalResources;
use super::{RequestError, Session};
use crate::debugger::reload_support::CompiledModule;
use beam::protocol;
use beam::AgentClient;
use reload::{
    Diagnostic, ElixirVersion, FailedModule, LineMap, Plan, PlanRequest, PlannedFile, ProcessInfo, ReloadManager,
    ReloadReport, ReloadedModule, RemovedModule, RestartRequired,
};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use execute::{deleted_modules, interpret_again, Interpretation};
use overlay::create_overlay;
use report::{
    atoms, canonical, compiled_modules, diagnostics, elixir_atom, failed_modules, failures, first_line, micros_to_ms,
    ms, processes,
};

/// Compiling a large batch (a macro used everywhere) can take a while;
/// `disconnect` ends a reload sooner.
const COMPILE_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a reload waits for the index of the project's sources, built in
/// the background from launch on (seconds for 2 000 modules).
const INDEX_TIMEOUT: Duration = Duration::from_secs(120);
const STEP_CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Reloads compiling at least this many files show DAP progress.
const PROGRESS_THRESHOLD: usize = 10;
/// How long a reload waits for a step in progress to end.
const STEP_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReloadCodeArguments {
    pub files: Option<Vec<PathBuf>>,
    pub modules: Option<Vec<String>>,
    pub force: Option<bool>,
    pub dry_run: Option<bool>,
}

/// The session's reload state: the manager (built in the background at
/// launch) and the overlay directory new object code goes to.
pub struct ReloadState {
    manager: Option<ReloadManager>,
    building: Option<tokio::task::JoinHandle<Result<ReloadManager, String>>>,
    /// The overlay, or why it could not be made (then reloads fail saying so).
    overlay: Result<PathBuf, String>,
    /// Files modules declare with `@external_resource` (templates).
    resources: ExternalResources,
}

impl ReloadState {
    /// Starts indexing the project (its sources as `layout` says) in the background (through the facts
    /// cache in `cache_root`) and makes the session's overlay directory in
    /// `cache_root/overlays` (private to the user, like the agent cache it
    /// lives in: the VM loads code from it). `elixir_version`:
    /// the debuggee's (`System.version/0`, from the agent's hello), whose
    /// rules decide what Mix would recompile. `compile_started`: when the
    /// launch's compile began; files saved since are reloaded by the next
    /// reload, whatever the index reads now. `resources`: the external
    /// resources Mix's manifests name.
    pub fn start(
        layout: mix_layout::MixLayout,
        elixir_version: &str,
        compile_started: std::time::SystemTime,
        resources: ExternalResources,
        cache_root: &Path,
    ) -> ReloadState {
        let overlay = create_overlay(&cache_root.join("overlays"));
        if let Err(e) = &overlay {
            tracing::warn!(%e, "no overlay directory: reloads will fail");
        }
        let elixir = ElixirVersion::parse(elixir_version)
            .map_err(|e| format!("the debuggee's Elixir version is unknown ({e}), so are its dependency rules"));
        let cache_root = cache_root.to_path_buf();
        let building = tokio::task::spawn_blocking(move || {
            let manager = ReloadManager::compiled_since_cached(&layout, elixir?, compile_started, &cache_root)?;
            if let Some(used) = manager.index_cache_use() {
                tracing::debug!(reused = used.reused, parsed = used.parsed, "project indexed");
                if let Some(e) = &used.write_error {
                    tracing::warn!(%e, "the index cache was not updated");
                }
            }
            crate::memory::release_free_memory();
            Ok(manager)
        });
        ReloadState {
            manager: None,
            building: Some(building),
            overlay,
            resources,
        }
    }

    fn overlay(&self) -> Result<PathBuf, RequestError> {
        self.overlay
            .clone()
            .map_err(|e| RequestError::Internal(format!("reloadCode: {e}")))
    }

    async fn manager(&mut self) -> Result<&mut ReloadManager, RequestError> {
        if let Some(mut building) = self.building.take() {
            let built = match tokio::time::timeout(INDEX_TIMEOUT, &mut building).await {
                Ok(built) => built,
                Err(_) => {
                    // Keep waiting for it on the next reload.
                    self.building = Some(building);
                    return Err(RequestError::Internal(format!(
                        "reloadCode: indexing the project's sources did not finish within {}",
                        beam::channel::human_duration(INDEX_TIMEOUT)
                    )));
                }
            };
            let manager = built
                .map_err(|e| RequestError::Internal(format!("reloadCode: indexing the project failed: {e}")))?
                .map_err(|e| RequestError::Internal(format!("reloadCode: cannot index the project: {e}")))?;
            self.manager = Some(manager);
        }
        self.manager
            .as_mut()
            .ok_or_else(|| RequestError::Internal("reloadCode: the project index is missing".into()))
    }

    /// Removes the overlay directory (the VM that used it is gone).
    pub fn remove_overlay(&self) {
        let Ok(overlay) = &self.overlay else { return };
        if overlay.exists() {
            if let Err(e) = std::fs::remove_dir_all(overlay) {
                tracing::warn!(overlay = %overlay.display(), %e, "could not remove the overlay directory");
            }
        }
    }
}

impl Session {
    pub(super) async fn reload_code(
        &mut self,
        arguments: &Value,
        trigger: &str,
    ) -> Result<Option<dap::Body>, RequestError> {
        let args: ReloadCodeArguments = if arguments.is_null() {
            ReloadCodeArguments::default()
        } else {
            dap::parse_arguments(arguments).map_err(|e| RequestError::User(format!("reloadCode: {e}")))?
        };
        let Some(debuggee) = &self.debuggee else {
            return Err(RequestError::User(
                "reloadCode: no program is running; launch one first".into(),
            ));
        };
        let agent = debuggee.agent.clone();
        let started = Instant::now();
        self.wait_for_steps().await?;
        let Some(state) = self.reload.as_mut() else {
            return Err(RequestError::User(
                "reloadCode: no program is running; launch one first".into(),
            ));
        };
        let overlay = state.overlay()?;
        // Saved templates (external resources) recompile the modules that
        // declare them.
        let resources = state.resources.changes(args.files.as_deref());
        tracing::debug!("reload: waiting for the project index");
        let manager = state.manager().await?;
        tracing::debug!("reload: planning");
        let mut modules = args.modules.clone().unwrap_or_default();
        modules.extend(resources.modules.iter().cloned());
        let request = PlanRequest {
            files: resources.files.clone(),
            modules,
        };
        let plan = manager.plan(&request);
        let mut report = ReloadReport {
            dry_run: args.dry_run.unwrap_or(false),
            trigger: trigger.to_owned(),
            planned: plan
                .compile
                .iter()
                .map(|c| {
                    // A declaring source of a changed resource says which.
                    let absolute = canonical(&manager.absolute(&c.file));
                    let resource = resources
                        .changed
                        .iter()
                        .find(|(_, sources)| sources.contains(&absolute))
                        .map(|(resource, _)| resource);
                    PlannedFile {
                        file: c.file.display().to_string(),
                        reason: if resource.is_some() {
                            "external".to_owned()
                        } else {
                            c.reason.clone()
                        },
                        module: resource.map(|r| r.display().to_string()).or_else(|| c.module.clone()),
                    }
                })
                .collect(),
            unchanged: plan.unchanged.iter().map(|f| f.display().to_string()).collect(),
            restart_required: plan
                .restart_required
                .iter()
                .map(|(file, reason)| RestartRequired {
                    file: file.display().to_string(),
                    reason: reason.clone(),
                })
                .collect(),
            failed: plan
                .unknown_modules
                .iter()
                .map(|m| FailedModule {
                    module: m.clone(),
                    reason: "no such module in the project's sources".into(),
                })
                .collect(),
            ..ReloadReport::default()
        };
        report.timings.plan = ms(started);

        // A file named by request must be one to reload (a save may name a
        // scratch file that is gone already).
        let refused: Vec<&(PathBuf, String)> = if trigger == "request" && args.files.is_some() {
            plan.ignored.iter().collect()
        } else {
            Vec::new()
        };
        report.failed.extend(refused.iter().map(|(file, why)| FailedModule {
            module: file.display().to_string(),
            reason: why.clone(),
        }));
        let outcome = if let Some(first) = plan.restart_required.first() {
            manager.abort(&plan);
            Err(format!("{}: {}", first.0.display(), first.1))
        } else if let Some((file, why)) = refused.first() {
            manager.abort(&plan);
            Err(format!("{}: {why}; nothing was reloaded", file.display()))
        } else if report.dry_run {
            report.removed = deleted_modules(&plan);
            manager.abort(&plan);
            Ok(())
        } else if plan.is_empty() {
            Ok(())
        } else {
            // A change to a macro used everywhere can recompile most of the
            // project: show it.
            let progress = (plan.compile.len() >= PROGRESS_THRESHOLD)
                .then(|| {
                    let files = reload::counted(plan.compile.len(), "file", "files");
                    self.progress_start("Reloading", &format!("compiling {files}"))
                })
                .flatten();
            let executed = self
                .execute_with_upgrades(&agent, &plan, &overlay, args.force.unwrap_or(false), &mut report)
                .await;
            self.progress_end(progress, if executed.is_ok() { "reloaded" } else { "failed" });
            let manager = self.reload.as_mut().map(|s| s.manager.as_mut());
            if let Some(Some(manager)) = manager {
                match &executed {
                    Ok(()) => manager.commit(&plan),
                    Err(_) => manager.abort(&plan),
                }
            }
            executed
        };
        if outcome.is_ok() && !report.dry_run {
            if let Some(state) = self.reload.as_mut() {
                state.resources.compiled(resources.changed.into_keys());
            }
        }
        match outcome {
            Ok(()) => {
                report.success = true;
                if let (Some(attached), false) = (self.attached.as_mut(), report.dry_run || report.reloaded.is_empty())
                {
                    attached.reloaded = true;
                }
            }
            Err(message) => {
                if report.rolled_back {
                    cluster::mark_rolled_back(&mut report);
                }
                report.success = false;
                report.message = Some(message);
            }
        }
        report.timings.total = ms(started);
        // The report is written once, for the response and the event (a hub
        // edit's names every module of the project).
        let body = dap::Body::new(&report);
        self.client.extension_event("codeReloaded", &body);
        if !report.dry_run && (report.success || !plan.is_empty() || !plan.restart_required.is_empty()) {
            self.client.console(format!("elixir-dap: {}", report.console_line()));
        }
        Ok(body)
    }

    /// The program compiled modules itself (Phoenix's code reloader, IEx
    /// `recompile`, `Mix.Task.run("compile")`): the agent reports them once
    /// its compiles have stopped (`app_compiled`: `#{modules => [#{module,
    /// name, source}]}`, see `elixir_dap_app_compile.erl`). They run natively
    /// now: those the interpret attributes select are interpreted again,
    /// their breakpoints follow their statements to the new lines, and the
    /// client gets a `codeReloaded` event with trigger `app`.
    pub(super) async fn on_app_compiled(&mut self, data: &protocol::AppCompiled) {
        let started = Instant::now();
        let compiled = compiled_modules(&data.modules);
        let Some(agent) = self.debuggee.as_ref().map(|d| d.agent.clone()) else {
            return;
        };
        if compiled.is_empty() {
            return;
        }
        let mut report = ReloadReport {
            trigger: "app".to_owned(),
            ..ReloadReport::default()
        };
        // The index takes the files' new content as its baseline: it gives
        // the line maps, and a reload on save of the same content then finds
        // nothing to do.
        let sources: Vec<PathBuf> = compiled.iter().map(|c| c.source.clone()).collect();
        let mut edits: BTreeMap<PathBuf, LineMap> = BTreeMap::new();
        if let Some(state) = self.reload.as_mut() {
            if let Ok(manager) = state.manager().await {
                let plan = manager.plan(&PlanRequest {
                    files: Some(sources.clone()),
                    modules: Vec::new(),
                });
                for change in &plan.changed {
                    edits.insert(
                        canonical(&manager.absolute(&change.file)),
                        LineMap::new(&change.old, &change.new),
                    );
                }
                manager.commit(&plan);
            }
        }
        let outcome = self.follow_app_compile(&agent, &compiled, &edits, &mut report).await;
        report.success = outcome.is_ok() && report.failed.is_empty();
        if let Err(message) = outcome {
            report.message = Some(message);
        } else if !report.failed.is_empty() {
            report.message = Some(format!(
                "the program recompiled {}, which could not all be debugged again",
                failed_modules(&report)
            ));
        }
        report.timings.total = ms(started);
        let line = if report.success {
            let count = report.reloaded.len();
            let native = self.debugger.as_ref().is_some_and(|d| d.is_native());
            format!(
                "elixir-dap: the program recompiled {count} {}; {} again with their breakpoints in {:.0} ms",
                if count == 1 { "module" } else { "modules" },
                if native { "debugged" } else { "interpreted" },
                report.timings.total
            )
        } else {
            format!(
                "elixir-dap: the program recompiled modules: {}",
                report.message.clone().unwrap_or_default()
            )
        };
        self.client.extension_event("codeReloaded", &report);
        self.client.console(line);
    }

    async fn follow_app_compile(
        &mut self,
        agent: &AgentClient,
        compiled: &[CompiledModule],
        edits: &BTreeMap<PathBuf, LineMap>,
        report: &mut ReloadReport,
    ) -> Result<(), String> {
        let Some(debugger) = self.debugger.as_mut() else {
            return Ok(());
        };
        // As a reload: no background chunk interprets meanwhile, and the one
        // at work is not cut short when the rest of a big batch joins it.
        let _gate = debugger.hold_interpret_gate().await;
        let interpret_started = Instant::now();
        let selected = debugger.record_compiled(compiled);
        let (to_interpret, later) = debugger.split_for_reload(selected);
        let Interpretation {
            interpreted, skipped, ..
        } = interpret_again(agent, &to_interpret, &later, debugger.is_native(), false, report).await?;
        report.failed.extend(skipped);
        self.queue_background_interpretation(later);
        let Some(debugger) = self.debugger.as_mut() else {
            return Ok(());
        };
        debugger.mark_interpreted(interpreted.iter());
        report.timings.interpret = ms(interpret_started);
        let breakpoints_started = Instant::now();
        let reloaded_sources: BTreeSet<PathBuf> = compiled.iter().map(|c| canonical(&c.source)).collect();
        let reloaded_modules: BTreeSet<String> = compiled.iter().map(|c| c.atom.clone()).collect();
        let (changes, counts) = debugger
            .follow_reload(edits, &reloaded_sources, &reloaded_modules)
            .await
            .map_err(|e| format!("breakpoints could not be set again: {e}"))?;
        report.breakpoints = changes;
        report.timings.breakpoints = ms(breakpoints_started);
        report.reloaded = report::reloaded_entries(compiled, &interpreted, &counts);
        for module in compiled {
            debugger.announce_module(&module.atom, "changed");
        }
        Ok(())
    }

    /// Waits (handling VM events) until no thread is in the middle of a step.
    /// Stops reach the thread table through the event pump, which bumps its
    /// epoch: that is what this waits on.
    async fn wait_for_steps(&mut self) -> Result<(), RequestError> {
        let deadline = tokio::time::Instant::now() + STEP_WAIT;
        let mut epoch = match &self.debugger {
            Some(debugger) => debugger.thread_table().epoch(),
            None => return Ok(()),
        };
        loop {
            epoch.borrow_and_update();
            let stepping = self.debugger.as_ref().map(|d| d.stepping_threads()).unwrap_or_default();
            if stepping.is_empty() {
                return Ok(());
            }
            let next = tokio::time::timeout_at(deadline, async {
                tokio::select! {
                    changed = epoch.changed() => changed.ok().map(|()| None),
                    event = self.vm_events.recv() => event.map(Some),
                }
            });
            match next.await {
                Ok(Some(Some(event))) => self.handle_vm_event(event).await,
                Ok(Some(None)) => {}
                Ok(None) => return Ok(()),
                Err(_) => {
                    let ids: Vec<String> = stepping.iter().map(ToString::to_string).collect();
                    let (threads, are) = if ids.len() == 1 {
                        ("thread", "is")
                    } else {
                        ("threads", "are")
                    };
                    return Err(RequestError::User(format!(
                        "reloadCode: {threads} {} {are} still in the middle of a step after {} s; \
                         the reload waits for steps to end: pause or continue them and retry",
                        ids.join(", "),
                        STEP_WAIT.as_secs()
                    )));
                }
            }
        }
    }

    /// With `reloadCodeChange`, suspends the OTP processes of the batch's
    /// behaviour modules around [`Self::execute`], which calls their
    /// `code_change/3` after the load; they are resumed whatever happens.
    async fn execute_with_upgrades(
        &mut self,
        agent: &AgentClient,
        plan: &Plan,
        overlay: &std::path::Path,
        force: bool,
        report: &mut ReloadReport,
    ) -> Result<(), String> {
        let upgraded: Vec<String> = match &self.program {
            Some(program) if program.config.args.reload_code_change.is_enabled() => plan
                .expected_modules
                .iter()
                .filter(|m| program.config.args.reload_code_change.applies_to(m))
                .map(|m| elixir_atom(m))
                .collect(),
            _ => Vec::new(),
        };
        if upgraded.is_empty() {
            return self.execute(agent, plan, overlay, force, &[], report).await;
        }
        let reply: protocol::Suspended = agent
            .request(
                &protocol::Request::ReloadSuspend { modules: upgraded },
                STEP_CALL_TIMEOUT,
            )
            .await
            .map_err(|e| format!("suspending processes for code_change failed: {e}"))?;
        report.code_change_skipped = processes(&reply.skipped);
        let suspended = reply.suspended;
        let result = self.execute(agent, plan, overlay, force, &suspended, report).await;
        let pids: Vec<protocol::Pid> = suspended.iter().map(|s| s.pid.clone()).collect();
        if !pids.is_empty() {
            if let Err(e) = agent
                .request::<protocol::Done>(&protocol::Request::ReloadResume { pids }, STEP_CALL_TIMEOUT)
                .await
            {
                tracing::error!(%e, "could not resume the processes suspended for code_change");
                self.client.console(format!(
                    "elixir-dap: could not resume processes suspended for code_change: {e}"
                ));
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bad_arguments_name_the_field() {
        let cases = [
            (json!({"files": "lib/a.ex"}), "files"),
            (json!({"force": "yes"}), "force"),
            (json!({"dryRun": 1}), "dryRun"),
            (json!({"modules": [1]}), "modules"),
            (json!({"dryrun": true}), "dryrun"),
        ];
        for (arguments, field) in cases {
            let error = dap::parse_arguments::<ReloadCodeArguments>(&arguments).unwrap_err();
            assert!(error.to_string().contains(field), "{arguments}: {error}");
        }
        let ok: ReloadCodeArguments =
            dap::parse_arguments(&json!({"files": ["lib/a.ex"], "dryRun": true, "force": false})).unwrap();
        assert_eq!(ok.files, Some(vec![PathBuf::from("lib/a.ex")]));
        assert_eq!(ok.dry_run, Some(true));
    }
}
