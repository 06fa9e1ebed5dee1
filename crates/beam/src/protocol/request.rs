//! Every request the adapter sends the agent, and the term each becomes.
//!
//! `{call, Id, Request}` frames carry [`Request::term`] (see
//! `handle/1` in `elixir_dap_agent.erl`); [`Request::Halt`] is the one
//! `{cast, Request}`. Modules are named by their atom's text
//! (`Elixir.Shop.Cart`), which the agent turns into existing atoms.

use super::decode::Pid;
use crate::term::{atom, binaries, binary, boolean, int, list, map, tuple};
use eetf::Term;

/// A request to the agent. The reply each answers is in its doc
/// (`→ Type`), decoded by [`AgentClient::request`](crate::AgentClient::request).
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// `ping` → `pong` ([`super::Pong`]).
    Ping,
    /// Loads `mix.exs` and the config, compiles the project; `task: None`
    /// is the project's default task → [`super::ProjectLoaded`]; fails with
    /// kind `compile_failed` and its diagnostics ([`super::Failure`]'s
    /// `diagnostics`, [`crate::AgentError::Failed`]'s).
    LoadProject { task: Option<String>, break_on_dbg: bool },
    /// Runs the Mix task in a process of its own → [`super::Done`]; its end
    /// comes as [`super::AgentEvent::TaskFinished`].
    RunTask {
        task: String,
        args: Vec<String>,
        require_files: Vec<String>,
        start_apps: bool,
    },
    /// Starts `:int` with a stack trace mode (`all`, `no_tail`, `false`) → [`super::Done`].
    DebuggerStart { stack_trace_mode: String },
    /// The modules compiled into the build path → `Vec<`[`super::ModuleEntry`]`>`.
    ListModules,
    /// Interprets modules (the launch's batch path) → [`super::Interpreted`].
    Interpret { modules: Vec<String> },
    /// Interprets modules the program may be running (`:int.ni/1`) → [`super::Interpreted`].
    InterpretRunning { modules: Vec<String> },
    /// Interprets those of the modules the interpreter does not have yet
    /// while the program runs (lazy interpretation, issue 17) →
    /// [`super::PendingInterpreted`]. [`Priority::Low`] (the background)
    /// leaves out as `busy` the modules a process is running.
    InterpretPending { modules: Vec<String>, priority: Priority },
    /// The modules the expressions starting on `line` of `module` call by
    /// name, and whether they call something known only at run time →
    /// [`super::StepTargets`].
    StepTargets { module: String, line: i64 },
    /// Lines where a module can stop → `Vec<i64>`.
    BreakableLines { module: String },
    /// First lines of each clause of a function (`arity: None`: any) → `Vec<i64>`.
    FunctionLines {
        module: String,
        function: String,
        arity: Option<u32>,
    },
    /// Replaces a module's breakpoints → [`super::Done`].
    SetBreakpoints {
        module: String,
        breakpoints: Vec<BreakpointSpec>,
    },
    /// Execution control of an interpreted process → [`super::Done`];
    /// inside [`Request::Dbg`] → [`super::DbgResumed`].
    Command { pid: Pid, command: Command },
    /// The stack of a paused process, innermost first → `Vec<`[`super::Frame`]`>`.
    Stack { pid: Pid },
    /// The binding of a frame → `Vec<`[`super::Variable`]`>`.
    FrameVariables { pid: Pid, level: i64 },
    /// `Process.info/1` of a process → `Vec<`[`super::Variable`]`>`.
    ProcessVariables { pid: Pid },
    /// A page of a value's children (`count` 0: all) → `Vec<`[`super::Variable`]`>`.
    Children { handle: i64, start: i64, count: i64 },
    /// Evaluates in a frame (`frame: Some((pid, level))`) or outside any
    /// → [`super::Evaluation`].
    Evaluate {
        frame: Option<(Pid, i64)>,
        expression: String,
        timeout_ms: i64,
        context: String,
    },
    /// Parses breakpoints' conditions and log messages → `Vec<`[`super::ExpressionCheck`]`>`.
    CheckExpressions { breakpoints: Vec<Expressions> },
    /// A request about a process paused in a `dbg` call (`Stack`,
    /// `FrameVariables`, `Evaluate`, `Command`), answered by `elixir_dap_dbg`.
    Dbg(Box<Request>),
    /// Installs the compiler tracers of scripts and program compiles → [`super::Done`].
    InstallTracers,
    /// Lets a script module's definition go on → [`super::Done`].
    ScriptRelease { waiter: Pid },
    /// Compiles a reload's files into the overlay, wave after wave → [`super::ReloadCompiled`].
    ReloadCompile {
        waves: Vec<Vec<String>>,
        modules: Vec<String>,
        lift: Vec<String>,
        overlay: String,
        force: bool,
        /// `false`: the Erlang compiler skips its SSA optimisation passes
        /// (`no_ssa_opt`) for this compile, about half of its time on a
        /// module of the bench (docs/benchmarks.md), for a batch whose every
        /// module runs interpreted (its native code is then only a stub).
        optimize: bool,
    },
    /// Re-interprets reloaded modules → [`super::Reinterpreted`].
    /// `deferred`: modules of a big batch interpreted later (in the
    /// background, or when needed): the interpreter forgets their old
    /// versions now, so that their new native code runs meanwhile.
    /// `commit`: nothing of the reload follows, so the agent commits the
    /// batch itself once every module switched (as `ReloadCommit`; the
    /// reply's `committed` says it did), saving a round trip.
    ReloadInterpret {
        modules: Vec<String>,
        deferred: Vec<String>,
        commit: bool,
    },
    /// Unloads the modules of deleted files → [`super::ModulesRemoved`].
    ReloadRemove { modules: Vec<String> },
    /// Mix's own compile into the overlay (the fallback) → [`super::MixCompiled`].
    ReloadMix { overlay: String, force: bool },
    /// Suspends the processes of modules to upgrade → [`super::Suspended`].
    ReloadSuspend { modules: Vec<String> },
    /// Calls `code_change/3` of suspended processes → [`super::CodeChanged`].
    ReloadCodeChange { targets: Vec<super::SuspendedProcess> },
    /// Resumes suspended processes → [`super::Done`].
    ReloadResume { pids: Vec<Pid> },
    /// Drops the reload's snapshot → [`super::Done`].
    ReloadCommit,
    /// Restores the snapshot (on a cluster's peers too) → [`super::RolledBack`].
    ReloadRollback,
    /// A cluster's peers prepare the compiled batch (`modules`, and
    /// `remove`, the modules of deleted files), each checking its processes
    /// for old code as the compile did (`force`: kill them) → [`super::PeersPrepared`].
    ReloadPeersPrepare {
        modules: Vec<String>,
        remove: Vec<String>,
        force: bool,
    },
    /// Every peer loads what it prepared → [`super::PeersSwitched`].
    ReloadPeersSwitch,
    /// Leaves the program running (launch) or the node as found (attach) → [`super::Detached`].
    Detach,
    /// Halts the VM with a status: a cast, no reply.
    Halt { status: i64 },
}

/// The process priority of an [`Request::InterpretPending`]'s work in the VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Below the program's own processes: the background.
    Low,
    /// As the program's: what a breakpoint or a step needs now.
    Normal,
}

impl Priority {
    fn atom(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
        }
    }
}

/// Execution control commands (`command/2` of the backend, `elixir_dap_backend_int.erl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Continue,
    Next,
    StepIn,
    StepOut,
    Pause,
}

impl Command {
    /// The command as the agent names it.
    pub fn atom(self) -> &'static str {
        match self {
            Command::Continue => "continue",
            Command::Next => "next",
            Command::StepIn => "step_in",
            Command::StepOut => "step_out",
            Command::Pause => "pause",
        }
    }
}

/// One line breakpoint of a module as the agent keeps it: the DAP ids
/// merged on its line, `kind` (`breakpoint`, `function breakpoint`), the
/// condition as written (the VM parses Elixir) and the hit condition and
/// log message as the adapter parsed them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakpointSpec {
    pub line: i64,
    pub ids: Vec<i64>,
    pub kind: String,
    pub condition: Option<String>,
    pub hit_condition: Option<HitCondition>,
    pub log: Option<Vec<LogPart>>,
}

/// A hit condition (DAP's `hitCondition`), parsed: the agent compares its
/// hit count with `n` by `op` at each hit. On the wire `{Op, N}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HitCondition {
    pub op: HitOp,
    pub n: u64,
}

/// How a hit count is compared with a hit condition's number N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HitOp {
    /// `N` or `>= N`: from the Nth hit on.
    AtLeast,
    /// `> N`.
    MoreThan,
    /// `<= N`.
    AtMost,
    /// `< N`.
    LessThan,
    /// `== N` or `= N`: the Nth hit only.
    Exactly,
    /// `% N`: every Nth hit (N > 0).
    Every,
}

impl HitOp {
    /// The atom the agent matches on (`hit_reached/2`).
    pub fn atom(self) -> &'static str {
        match self {
            HitOp::AtLeast => "at_least",
            HitOp::MoreThan => "more_than",
            HitOp::AtMost => "at_most",
            HitOp::LessThan => "less_than",
            HitOp::Exactly => "exactly",
            HitOp::Every => "every",
        }
    }
}

/// One part of a log message (DAP's `logMessage`), split by the adapter. On
/// the wire `{text, Binary}` or `{expr, Binary}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogPart {
    /// Literal text, braces unescaped.
    Text(String),
    /// The source of an Elixir expression, as written between the braces.
    Expression(String),
}

/// A breakpoint's expressions to check with the VM's parser before it is
/// set: the condition and each expression of its log message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expressions {
    pub condition: Option<String>,
    pub log_expressions: Vec<String>,
}

/// `nil` or the text, as the agent reads an absent expression.
fn optional(value: &Option<String>) -> Term {
    value.as_deref().map_or(atom("nil"), binary)
}

fn hit_condition(condition: Option<HitCondition>) -> Term {
    condition.map_or(atom("nil"), |c| {
        tuple(vec![atom(c.op.atom()), int(i64::try_from(c.n).unwrap_or(i64::MAX))])
    })
}

fn log_parts(parts: Option<&[LogPart]>) -> Term {
    parts.map_or(atom("nil"), |parts| {
        list(
            parts
                .iter()
                .map(|part| match part {
                    LogPart::Text(text) => tuple(vec![atom("text"), binary(text)]),
                    LogPart::Expression(source) => tuple(vec![atom("expr"), binary(source)]),
                })
                .collect(),
        )
    })
}

fn pid(pid: &Pid) -> Term {
    Term::Pid(pid.clone())
}

impl Request {
    /// The request's name, as the agent dispatches it (`stack`), for
    /// messages; a `dbg` request is named `dbg stack`.
    pub fn name(&self) -> String {
        let name = match self {
            Request::Dbg(inner) => return format!("dbg {}", inner.name()),
            Request::Ping => "ping",
            Request::LoadProject { .. } => "load_project",
            Request::RunTask { .. } => "run_task",
            Request::DebuggerStart { .. } => "debugger_start",
            Request::ListModules => "list_modules",
            Request::Interpret { .. } => "interpret",
            Request::InterpretRunning { .. } => "interpret_running",
            Request::InterpretPending { .. } => "interpret_pending",
            Request::StepTargets { .. } => "step_targets",
            Request::BreakableLines { .. } => "breakable_lines",
            Request::FunctionLines { .. } => "function_lines",
            Request::SetBreakpoints { .. } => "set_breakpoints",
            Request::Command { .. } => "command",
            Request::Stack { .. } => "stack",
            Request::FrameVariables { .. } => "frame_variables",
            Request::ProcessVariables { .. } => "process_variables",
            Request::Children { .. } => "children",
            Request::Evaluate { .. } => "evaluate",
            Request::CheckExpressions { .. } => "check_expressions",
            Request::InstallTracers => "install_tracers",
            Request::ScriptRelease { .. } => "script_release",
            Request::ReloadCompile { .. } => "reload_compile",
            Request::ReloadInterpret { .. } => "reload_interpret",
            Request::ReloadRemove { .. } => "reload_remove",
            Request::ReloadMix { .. } => "reload_mix",
            Request::ReloadSuspend { .. } => "reload_suspend",
            Request::ReloadCodeChange { .. } => "reload_code_change",
            Request::ReloadResume { .. } => "reload_resume",
            Request::ReloadCommit => "reload_commit",
            Request::ReloadRollback => "reload_rollback",
            Request::ReloadPeersPrepare { .. } => "reload_peers_prepare",
            Request::ReloadPeersSwitch => "reload_peers_switch",
            Request::Detach => "detach",
            Request::Halt { .. } => "halt",
        };
        name.to_owned()
    }

    /// The term the agent's `handle/1` matches.
    pub fn term(&self) -> Term {
        let tagged = |name: &str, mut rest: Vec<Term>| {
            rest.insert(0, atom(name));
            tuple(rest)
        };
        match self {
            Request::Ping => atom("ping"),
            Request::LoadProject { task, break_on_dbg } => tagged(
                "load_project",
                vec![map(vec![
                    ("task", optional(task)),
                    ("break_on_dbg", boolean(*break_on_dbg)),
                ])],
            ),
            Request::RunTask {
                task,
                args,
                require_files,
                start_apps,
            } => tagged(
                "run_task",
                vec![map(vec![
                    ("task", binary(task)),
                    ("args", binaries(args)),
                    ("require_files", binaries(require_files)),
                    ("start_apps", boolean(*start_apps)),
                ])],
            ),
            Request::DebuggerStart { stack_trace_mode } => tagged("debugger_start", vec![binary(stack_trace_mode)]),
            Request::ListModules => atom("list_modules"),
            Request::Interpret { modules } => tagged("interpret", vec![binaries(modules)]),
            Request::InterpretRunning { modules } => tagged("interpret_running", vec![binaries(modules)]),
            Request::InterpretPending { modules, priority } => {
                tagged("interpret_pending", vec![binaries(modules), atom(priority.atom())])
            }
            Request::StepTargets { module, line } => tagged("step_targets", vec![binary(module), int(*line)]),
            Request::BreakableLines { module } => tagged("breakable_lines", vec![binary(module)]),
            Request::FunctionLines {
                module,
                function,
                arity,
            } => tagged(
                "function_lines",
                vec![
                    binary(module),
                    binary(function),
                    arity.map_or(atom("any"), |a| int(i64::from(a))),
                ],
            ),
            Request::SetBreakpoints { module, breakpoints } => tagged(
                "set_breakpoints",
                vec![
                    binary(module),
                    list(
                        breakpoints
                            .iter()
                            .map(|b| {
                                map(vec![
                                    ("line", int(b.line)),
                                    ("ids", list(b.ids.iter().map(|id| int(*id)).collect())),
                                    ("kind", binary(&b.kind)),
                                    ("condition", optional(&b.condition)),
                                    ("hit_condition", hit_condition(b.hit_condition)),
                                    ("log", log_parts(b.log.as_deref())),
                                ])
                            })
                            .collect(),
                    ),
                ],
            ),
            Request::Command { pid: p, command } => tagged("command", vec![pid(p), atom(command.atom())]),
            Request::Stack { pid: p } => tagged("stack", vec![pid(p)]),
            Request::FrameVariables { pid: p, level } => tagged("frame_variables", vec![pid(p), int(*level)]),
            Request::ProcessVariables { pid: p } => tagged("process_variables", vec![pid(p)]),
            Request::Children { handle, start, count } => {
                tagged("children", vec![int(*handle), int(*start), int(*count)])
            }
            Request::Evaluate {
                frame,
                expression,
                timeout_ms,
                context,
            } => {
                let (target, level) = match frame {
                    Some((p, level)) => (pid(p), int(*level)),
                    None => (atom("nil"), atom("nil")),
                };
                tagged(
                    "evaluate",
                    vec![target, level, binary(expression), int(*timeout_ms), binary(context)],
                )
            }
            Request::CheckExpressions { breakpoints } => tagged(
                "check_expressions",
                vec![list(
                    breakpoints
                        .iter()
                        .map(|b| {
                            map(vec![
                                ("condition", optional(&b.condition)),
                                ("log_expressions", binaries(&b.log_expressions)),
                            ])
                        })
                        .collect(),
                )],
            ),
            Request::Dbg(inner) => tagged("dbg", vec![inner.term()]),
            Request::InstallTracers => atom("install_tracers"),
            Request::ScriptRelease { waiter } => tagged("script_release", vec![pid(waiter)]),
            Request::ReloadCompile {
                waves,
                modules,
                lift,
                overlay,
                force,
                optimize,
            } => tagged(
                "reload_compile",
                vec![map(vec![
                    ("waves", list(waves.iter().map(|wave| binaries(wave)).collect())),
                    ("modules", binaries(modules)),
                    ("lift", binaries(lift)),
                    ("overlay", binary(overlay)),
                    ("force", boolean(*force)),
                    ("optimize", boolean(*optimize)),
                ])],
            ),
            Request::ReloadInterpret {
                modules,
                deferred,
                commit,
            } => tagged(
                "reload_interpret",
                vec![binaries(modules), binaries(deferred), boolean(*commit)],
            ),
            Request::ReloadRemove { modules } => tagged("reload_remove", vec![binaries(modules)]),
            Request::ReloadMix { overlay, force } => tagged(
                "reload_mix",
                vec![map(vec![("overlay", binary(overlay)), ("force", boolean(*force))])],
            ),
            Request::ReloadSuspend { modules } => tagged("reload_suspend", vec![binaries(modules)]),
            Request::ReloadCodeChange { targets } => tagged(
                "reload_code_change",
                vec![list(
                    targets
                        .iter()
                        .map(|t| map(vec![("pid", pid(&t.pid)), ("module", atom(t.module.as_str()))]))
                        .collect(),
                )],
            ),
            Request::ReloadResume { pids } => tagged("reload_resume", vec![list(pids.iter().map(pid).collect())]),
            Request::ReloadCommit => atom("reload_commit"),
            Request::ReloadRollback => atom("reload_rollback"),
            Request::ReloadPeersPrepare { modules, remove, force } => tagged(
                "reload_peers_prepare",
                vec![map(vec![
                    ("modules", binaries(modules)),
                    ("remove", binaries(remove)),
                    ("force", boolean(*force)),
                ])],
            ),
            Request::ReloadPeersSwitch => atom("reload_peers_switch"),
            Request::Detach => atom("detach"),
            Request::Halt { status } => tagged("halt", vec![int(*status)]),
        }
    }
}
