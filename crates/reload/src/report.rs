//! The reload report: the body of a `reloadCode` response and of the
//! `codeReloaded` event (see `docs/protocol.md`).

use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReloadReport {
    /// False when nothing was reloaded because of an error, a blocked
    /// process or a change that needs a restart.
    pub success: bool,
    /// Set when `success` is false: what went wrong, naming the first
    /// `file:line` where there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub dry_run: bool,
    /// Why the request ran: `"request"` or `"save"`.
    pub trigger: String,
    /// The files the plan compiles, each with why.
    pub planned: Vec<PlannedFile>,
    pub reloaded: Vec<ReloadedModule>,
    /// Files considered whose content did not change.
    pub unchanged: Vec<String>,
    pub removed: Vec<RemovedModule>,
    pub failed: Vec<FailedModule>,
    pub diagnostics: Vec<Diagnostic>,
    /// Processes running old code that a load would have killed.
    pub blocked: Vec<ProcessInfo>,
    /// Processes killed because `force` was given.
    pub killed: Vec<ProcessInfo>,
    /// Interpreted processes inside a reloaded module: they finish their
    /// current call on the old version and run the new one from the next;
    /// and processes held inside interpreted code while the batch switched
    /// (their current call may mix old and new modules of the batch).
    pub stale: Vec<ProcessInfo>,
    /// Processes of the program held (suspended) while the batch switched,
    /// so that none ran half of it; `timings.held` says for how long.
    pub held: usize,
    /// Processes whose state `code_change/3` upgraded (`reloadCodeChange`).
    pub code_changed: usize,
    /// Processes of an upgraded module left alone (paused by the debugger,
    /// or not suspendable).
    pub code_change_skipped: Vec<ProcessInfo>,
    pub rolled_back: bool,
    pub restart_required: Vec<RestartRequired>,
    /// Breakpoints moved with their statement or unverified because it is
    /// gone.
    pub breakpoints: Vec<BreakpointChange>,
    /// Set when the dependency index could not plan the change exactly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    pub timings: Timings,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PlannedFile {
    pub file: String,
    /// `changed`, `new`, `forced`, `compile` or `export` (a dependent).
    pub reason: String,
    /// For dependents: the module depended on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ReloadedModule {
    /// The Elixir name (`MyApp.User`).
    pub module: String,
    pub file: String,
    pub interpreted: bool,
    /// Breakpoints set in the module after the reload.
    pub breakpoints: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RemovedModule {
    pub module: String,
    pub file: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FailedModule {
    pub module: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub line: i64,
    pub column: i64,
    pub severity: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: String,
    pub name: String,
    pub module: String,
    pub why: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RestartRequired {
    pub file: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BreakpointChange {
    pub id: i64,
    pub file: String,
    pub old_line: i64,
    /// Absent when the statement is gone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_line: Option<i64>,
}

/// Milliseconds per phase. `compile` includes the VM loading each module,
/// which Elixir's compiler does as it defines it; `load` is the check for
/// processes on old code and the purge before it.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Timings {
    pub plan: f64,
    pub compile: f64,
    pub load: f64,
    pub interpret: f64,
    pub breakpoints: f64,
    pub total: f64,
    /// How long the program was held while the batch switched (from before
    /// the compile to the end of the interpretation).
    pub held: f64,
}

impl ReloadReport {
    /// `Reloaded 3 modules in 41 ms (compile 22, load 4, interpret 11, breakpoints 2)`.
    pub fn console_line(&self) -> String {
        let t = &self.timings;
        if self.dry_run {
            return format!(
                "Reload plan: {} files to compile, {} deleted, {} unchanged",
                self.planned.len(),
                self.removed.len(),
                self.unchanged.len()
            );
        }
        if self.success && self.reloaded.is_empty() && self.removed.is_empty() {
            return format!("Nothing to reload: {} files unchanged", self.unchanged.len());
        }
        if self.success {
            let count = self.reloaded.len();
            let noun = if count == 1 { "module" } else { "modules" };
            let mut line = format!(
                "Reloaded {count} {noun} in {:.0} ms (compile {:.0}, load {:.0}, interpret {:.0}, breakpoints {:.0})",
                t.total, t.compile, t.load, t.interpret, t.breakpoints
            );
            if !self.removed.is_empty() {
                line.push_str(&format!("; removed {}", self.removed.len()));
            }
            line
        } else {
            format!(
                "Reload failed: {}",
                self.message.as_deref().unwrap_or("nothing was reloaded")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_line_names_every_phase() {
        let report = ReloadReport {
            success: true,
            reloaded: vec![ReloadedModule {
                module: "A".into(),
                file: "lib/a.ex".into(),
                interpreted: true,
                breakpoints: 0,
            }],
            timings: Timings {
                plan: 1.0,
                compile: 22.4,
                load: 4.0,
                interpret: 11.0,
                breakpoints: 2.0,
                total: 41.2,
                held: 30.0,
            },
            ..ReloadReport::default()
        };
        assert_eq!(
            report.console_line(),
            "Reloaded 1 module in 41 ms (compile 22, load 4, interpret 11, breakpoints 2)"
        );
    }

    #[test]
    fn a_failure_says_why() {
        let report = ReloadReport {
            message: Some("lib/a.ex:3: syntax error".into()),
            ..ReloadReport::default()
        };
        assert_eq!(report.console_line(), "Reload failed: lib/a.ex:3: syntax error");
    }

    #[test]
    fn the_body_uses_the_protocol_names() {
        let body = serde_json::to_value(ReloadReport::default()).unwrap();
        for key in [
            "success",
            "reloaded",
            "unchanged",
            "removed",
            "failed",
            "diagnostics",
            "blocked",
            "rolledBack",
            "restartRequired",
            "timings",
        ] {
            assert!(body.get(key).is_some(), "{key} missing from {body}");
        }
    }
}
