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
    /// `None` (absent from the JSON) where the program is not held: on OTP
    /// 28 and later, whose timer pausing on suspension loses wake-ups
    /// (`elixir_dap_reload:timers_pause_on_suspend/0`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held: Option<usize>,
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
    /// A cluster attached to (`remoteNode` a list): what the reload did on
    /// each node, the node debugged first. Absent for one node.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodeReload>,
    /// Modules of a big batch (more than the adapter interprets at once)
    /// that run their new native code until they are interpreted, after the
    /// response: in the background, or when a breakpoint or a step needs
    /// one. Their `reloaded` entries say `interpreted: false`. Absent when 0.
    #[serde(skip_serializing_if = "is_zero")]
    pub interpreted_later: usize,
    pub timings: Timings,
}

fn is_zero(count: &usize) -> bool {
    *count == 0
}

/// One node of a cluster in a reload report.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NodeReload {
    /// `name@host`.
    pub node: String,
    /// `reloaded` (the batch runs there), `notReached` (the reload failed
    /// before this node's turn: it runs the old code), `rolledBack` (it had
    /// the batch ready or loaded; it runs the old code again), `blocked`
    /// (processes run old code the load would kill), `failed` (the code
    /// did not load there: `failed` says which and why) or `unreachable`.
    pub status: String,
    pub blocked: Vec<ProcessInfo>,
    pub killed: Vec<ProcessInfo>,
    pub failed: Vec<FailedModule>,
    /// Why a node was unreachable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl NodeReload {
    /// A node the reload has not reached yet.
    pub fn not_reached(node: &str) -> NodeReload {
        NodeReload {
            node: node.to_owned(),
            status: "notReached".to_owned(),
            blocked: Vec::new(),
            killed: Vec::new(),
            failed: Vec::new(),
            error: None,
        }
    }
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

/// The compiler's message reduced to what the user needs beside the
/// diagnostic's own file and line: without the exception's name
/// (`** (SyntaxError) `), without a leading `file[:line[:column]]: ` that
/// repeats the diagnostic's position, and without the compiler's own stack
/// that Elixir appends (`    (elixir 1.14.0) lib/kernel/parallel_compiler.ex:346: ...`).
/// A parser error of Elixir 1.15 and later (a headline naming the position,
/// `error: ` and the description, then a snippet of the source) becomes its
/// description, followed by what the snippet points at, with its line (see
/// [`snippet_message`]).
pub fn trim_compiler_message(message: &str) -> String {
    let kept: Vec<&str> = message.lines().take_while(|line| !is_stack_line(line)).collect();
    let mut text = kept.join("\n").trim().to_owned();
    if let Some(rest) = text.strip_prefix("** (") {
        if let Some(close) = rest.find(") ") {
            text = rest[close + 2..].to_owned();
        }
    }
    if let Some(short) = snippet_message(&text) {
        return short;
    }
    if let Some(rest) = strip_location(&text, 0) {
        text = rest.to_owned();
    }
    text
}

/// Elixir 1.15+'s parser errors:
///
/// ```text
/// mismatched delimiter found on lib/a.ex:13:1:
///     error: unexpected reserved word: end
///     │
///   4 │   def hello(name do
///     │            └ unclosed delimiter
///  ...
///  13 │ end
///     │ └ mismatched closing delimiter (expected ")")
///     │
///     └─ lib/a.ex:13:1
/// ```
///
/// as `unexpected reserved word: end (unclosed delimiter at line 4;
/// mismatched closing delimiter (expected ")") at line 13)`, as Elixir 1.14
/// said `... The "(" at line 4 is missing terminator ")"`. `None` for any
/// other message.
fn snippet_message(text: &str) -> Option<String> {
    let mut lines = text.lines();
    let headline = lines.next()?.strip_suffix(':')?;
    let (_, position) = headline.rsplit_once(" on ")?;
    strip_location(&format!("{position}: "), 1)?;
    let mut description = lines.next()?.trim_start().strip_prefix("error: ")?.to_owned();
    let mut hints = Vec::new();
    let mut line = None;
    for next in lines {
        let trimmed = next.trim_start();
        if let Some((number, _)) = trimmed.split_once(" │") {
            line = number.parse::<u64>().ok();
        } else if let Some(pointer) = trimmed.strip_prefix('│') {
            let hint = pointer.trim_start().trim_start_matches(['└', '┌', '^']).trim();
            if let (Some(line), false) = (line, hint.is_empty()) {
                hints.push(format!("{hint} at line {line}"));
            }
        } else if hints.is_empty() && line.is_none() && !trimmed.starts_with('└') {
            // A description on several lines.
            description.push('\n');
            description.push_str(next);
        }
    }
    if !hints.is_empty() {
        description = format!("{} ({})", description.trim_end(), hints.join("; "));
    }
    Some(description)
}

/// A line of an Elixir stacktrace: four spaces, an optional `(app vsn) `,
/// then `file.ex:LINE: `.
fn is_stack_line(line: &str) -> bool {
    let Some(entry) = line.strip_prefix("    ") else {
        return false;
    };
    let entry = match entry.strip_prefix('(') {
        Some(rest) => match rest.split_once(") ") {
            Some((_, after)) => after,
            None => return false,
        },
        None => entry,
    };
    strip_location(entry, 1).is_some()
}

/// `text` after a leading `path.ex:LINE[:COLUMN]: ` (also `.exs`, `.erl`,
/// `nofile`), if it starts with one; with `min_numbers` 0, also after a
/// bare `path.ex: `.
fn strip_location(text: &str, min_numbers: usize) -> Option<&str> {
    let (location, rest) = text.split_once(": ")?;
    let mut parts = location.split(':');
    let path = parts.next()?;
    let numbers: Vec<&str> = parts.collect();
    let is_path = path == "nofile" || [".ex", ".exs", ".erl"].iter().any(|ext| path.ends_with(ext));
    let is_position = (min_numbers..=2).contains(&numbers.len())
        && numbers
            .iter()
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    (is_path && is_position && !path.contains(' ')).then_some(rest)
}

/// `1 file`, `3 files`: a count with its noun in the right number.
pub fn counted(count: usize, singular: &str, plural: &str) -> String {
    format!("{count} {}", if count == 1 { singular } else { plural })
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
    /// From OTP 28 on (no hold): how long the one step that made the batch
    /// visible took (native load, interpreter versions, traps, caches);
    /// absent where the program is held.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub switch: Option<f64>,
}

impl ReloadReport {
    /// `Reloaded 3 modules in 41 ms (compile 22, load 4, interpret 11, breakpoints 2)`.
    pub fn console_line(&self) -> String {
        let t = &self.timings;
        if self.dry_run {
            return format!(
                "Reload plan: {} to compile, {} deleted, {} unchanged",
                counted(self.planned.len(), "file", "files"),
                self.removed.len(),
                self.unchanged.len()
            );
        }
        if self.success && self.reloaded.is_empty() && self.removed.is_empty() {
            return format!(
                "Nothing to reload: {} unchanged",
                counted(self.unchanged.len(), "file", "files")
            );
        }
        if self.success {
            let mut line = format!(
                "Reloaded {} in {:.0} ms (compile {:.0}, load {:.0}, interpret {:.0}, breakpoints {:.0})",
                counted(self.reloaded.len(), "module", "modules"),
                t.total,
                t.compile,
                t.load,
                t.interpret,
                t.breakpoints
            );
            if !self.removed.is_empty() {
                line.push_str(&format!("; removed {}", self.removed.len()));
            }
            if !self.nodes.is_empty() {
                line.push_str(&format!("; on {}", counted(self.nodes.len(), "node", "nodes")));
            }
            if self.interpreted_later > 0 {
                line.push_str(&format!(
                    "; {} interpreted later",
                    counted(self.interpreted_later, "module", "modules")
                ));
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
                switch: None,
            },
            ..ReloadReport::default()
        };
        assert_eq!(
            report.console_line(),
            "Reloaded 1 module in 41 ms (compile 22, load 4, interpret 11, breakpoints 2)"
        );
        let cluster = ReloadReport {
            nodes: vec![NodeReload::not_reached("a@h"), NodeReload::not_reached("b@h")],
            ..report
        };
        assert_eq!(
            cluster.console_line(),
            "Reloaded 1 module in 41 ms (compile 22, load 4, interpret 11, breakpoints 2); on 2 nodes"
        );
        let big = ReloadReport {
            interpreted_later: 31,
            ..cluster.clone()
        };
        assert!(
            big.console_line()
                .ends_with("; on 2 nodes; 31 modules interpreted later"),
            "{}",
            big.console_line()
        );
        let json = serde_json::to_value(&big).unwrap();
        assert_eq!(json["interpretedLater"], 31);
        assert!(serde_json::to_value(&cluster)
            .unwrap()
            .get("interpretedLater")
            .is_none());
    }

    #[test]
    fn counts_have_their_noun_in_the_right_number() {
        let one = ReloadReport {
            success: true,
            unchanged: vec!["lib/a.ex".into()],
            ..ReloadReport::default()
        };
        assert_eq!(one.console_line(), "Nothing to reload: 1 file unchanged");
        let two = ReloadReport {
            unchanged: vec!["lib/a.ex".into(), "lib/b.ex".into()],
            ..one.clone()
        };
        assert_eq!(two.console_line(), "Nothing to reload: 2 files unchanged");
        let none = ReloadReport {
            unchanged: vec![],
            ..one.clone()
        };
        assert_eq!(none.console_line(), "Nothing to reload: 0 files unchanged");
        let plan = ReloadReport {
            dry_run: true,
            planned: vec![PlannedFile {
                file: "lib/a.ex".into(),
                reason: "changed".into(),
                module: None,
            }],
            ..ReloadReport::default()
        };
        assert_eq!(
            plan.console_line(),
            "Reload plan: 1 file to compile, 0 deleted, 0 unchanged"
        );
        assert_eq!(counted(1, "process", "processes"), "1 process");
    }

    #[test]
    fn compiler_messages_are_trimmed_to_what_the_user_wrote_wrong() {
        // Elixir 1.14, a syntax error: the exception, the position again, the compiler's stack.
        let syntax = "** (SyntaxError) lib/shop/pricing.ex:11:3: syntax error before: end\n    \
                      (elixir 1.14.0) lib/kernel/parallel_compiler.ex:346: anonymous fn/5 in Kernel.ParallelCompiler.spawn_workers/7";
        assert_eq!(trim_compiler_message(syntax), "syntax error before: end");
        let undefined = "** (CompileError) lib/shop/pricing.ex:10: undefined function discont/1 (expected Shop.Pricing to define such a function)";
        assert_eq!(
            trim_compiler_message(undefined),
            "undefined function discont/1 (expected Shop.Pricing to define such a function)"
        );
        // Stack lines without an application, and several message lines kept.
        let multi = "cannot compile module X\nbecause of Y\n    lib/x.ex:3: (module)\n    (stdlib 4.2) erl_eval.erl:744: :erl_eval.do_apply/7";
        assert_eq!(trim_compiler_message(multi), "cannot compile module X\nbecause of Y");
        // Newer Elixirs give the message alone: unchanged.
        let plain = "variable \"x\" is unused (if the variable is not meant to be used, prefix it with an underscore)";
        assert_eq!(trim_compiler_message(plain), plain);
        // A message that merely contains a colon is left alone.
        assert_eq!(trim_compiler_message("undefined variable: x"), "undefined variable: x");
        // Elixir 1.15+: the module that could not compile, named by its file alone.
        let module = "** (CompileError) lib/undefined.ex: cannot compile module C (errors have been logged)\n";
        assert_eq!(
            trim_compiler_message(module),
            "cannot compile module C (errors have been logged)"
        );
    }

    /// Parser errors of Elixir 1.15 to 1.20 (these from 1.18.3 and 1.20.4,
    /// which give the same): the description and what the snippet points at.
    #[test]
    fn parser_errors_with_a_snippet_are_trimmed_to_the_description_and_its_pointers() {
        let stack = "    (elixir 1.20.4) lib/kernel/parallel_compiler.ex:548: anonymous fn/5 in Kernel.ParallelCompiler.spawn_workers/8";
        let mismatched = format!(
            "** (MismatchedDelimiterError) mismatched delimiter found on lib/reload_app/greeter.ex:13:1:
    error: unexpected reserved word: end
    │
  4 │   def hello(name do
    │            └ unclosed delimiter
 ...
 13 │ end
    │ └ mismatched closing delimiter (expected \")\")
    │
    └─ lib/reload_app/greeter.ex:13:1
{stack}"
        );
        assert_eq!(
            trim_compiler_message(&mismatched),
            "unexpected reserved word: end (unclosed delimiter at line 4; \
             mismatched closing delimiter (expected \")\") at line 13)"
        );
        let missing = format!(
            "** (TokenMissingError) token missing on lib/token_missing.ex:4:4:
    error: missing terminator: end
    │
  1 │ defmodule A do
    │             └ unclosed delimiter
  2 │   def a do
  3 │     :a
  4 │ end
    │    └ missing closing delimiter (expected \"end\")
    │
    └─ lib/token_missing.ex:4:4
{stack}"
        );
        assert_eq!(
            trim_compiler_message(&missing),
            "missing terminator: end (unclosed delimiter at line 1; \
             missing closing delimiter (expected \"end\") at line 4)"
        );
        // A caret points without a word: the description alone.
        let syntax = format!(
            "** (SyntaxError) invalid syntax found on lib/syntax.ex:4:3:
    error: syntax error before: end
    │
  4 │   end
    │   ^
    │
    └─ lib/syntax.ex:4:3
{stack}"
        );
        assert_eq!(trim_compiler_message(&syntax), "syntax error before: end");
        // Without a snippet (Elixir 1.18.3's message for `snippet: nil`).
        let bare = "** (SyntaxError) invalid syntax found on lib/a.ex:1:5:\n   error: syntax error before: )\n   └─ lib/a.ex:1:5";
        assert_eq!(trim_compiler_message(bare), "syntax error before: )");
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
