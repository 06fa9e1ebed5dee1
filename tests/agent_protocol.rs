//! Every request kind of the agent protocol sent to a real agent in a real
//! VM, started as the adapter starts it (`beam::Debuggee::launch`, the
//! session keeper included), on a fixture Mix project; every reply kind and
//! every event kind decoded by `beam::protocol`'s strict types. A shape the
//! agent changes on any BEAM fails here, naming the request and the key.
//!
//! Two VMs: `plain` for the debugger's requests and events, `reload_app`
//! for the reload's. What is not covered here: the `AttachFailed` hello and
//! the `Detached::Attached` reply, which only an attach session produces
//! (the attach tests decode them through the same types), and the unit
//! tests of the strict decoding (`crates/beam/src/protocol/tests.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use beam::protocol::{
    AgentEvent, BreakpointSpec, CodeChanged, Command, DbgResumed, Detached, Done, Evaluation, ExpressionCheck,
    Expressions, Frame, Hello, HitCondition, HitOp, Interpreted, LogPart, MixCompiled, ModuleEntry, ModulesRemoved,
    Paused, PendingInterpreted, Pong, Priority, ProjectLoaded, Reinterpreted, ReloadCompiled, Request, RolledBack,
    StepTargets, Suspended, Variable,
};
use beam::{AgentClient, Debuggee, DebuggeeEvent, VmSpec};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc;

const CALL: Duration = Duration::from_secs(60);
const EVENT: Duration = Duration::from_secs(60);

/// The request kinds (`Request::name`) each test must have sent between them.
const ALL_REQUESTS: &[&str] = &[
    "ping",
    "load_project",
    "run_task",
    "debugger_start",
    "list_modules",
    "interpret",
    "interpret_running",
    "interpret_pending",
    "step_targets",
    "breakable_lines",
    "function_lines",
    "set_breakpoints",
    "command",
    "stack",
    "frame_variables",
    "process_variables",
    "children",
    "evaluate",
    "check_expressions",
    "dbg stack",
    "dbg frame_variables",
    "dbg evaluate",
    "dbg command",
    "install_tracers",
    "script_release",
    "detach",
    "halt",
];

const ALL_RELOAD_REQUESTS: &[&str] = &[
    "reload_compile",
    "reload_interpret",
    "reload_remove",
    "reload_mix",
    "reload_suspend",
    "reload_code_change",
    "reload_resume",
    "reload_commit",
    "reload_rollback",
];

/// A VM of a fixture's copy, its agent, its events, and the kinds sent.
struct Vm {
    _project: tempfile::TempDir,
    _cache: tempfile::TempDir,
    dir: std::path::PathBuf,
    debuggee: Debuggee,
    events: mpsc::Receiver<DebuggeeEvent>,
    sent: BTreeSet<String>,
}

impl Vm {
    async fn launch(fixture: &str) -> Vm {
        let project = support::fixture(fixture);
        let cache = tempfile::Builder::new().prefix("agent-cache-").tempdir().unwrap();
        let spec = VmSpec {
            elixir: "elixir".into(),
            project_dir: project.path().to_path_buf(),
            env: Vec::new(),
            cache_root: cache.path().to_path_buf(),
            connect_timeout: support::LAUNCH_TIMEOUT,
            keeper: support::adapter_binary().into(),
        };
        let (events_tx, events) = mpsc::channel(1024);
        let debuggee = Debuggee::launch(&spec, events_tx)
            .await
            .expect("the VM starts and its agent says hello");
        match &debuggee.hello {
            Hello::Ready(info) => {
                assert!(
                    !info.otp_release.is_empty() && !info.elixir_version.is_empty(),
                    "{info:?}"
                );
                assert!(info.os_pid > 0 && info.node.is_none(), "{info:?}");
            }
            other => panic!("a launched VM's hello is Ready, not {other:?}"),
        }
        Vm {
            dir: project.path().to_path_buf(),
            _project: project,
            _cache: cache,
            debuggee,
            events,
            sent: BTreeSet::new(),
        }
    }

    fn agent(&self) -> AgentClient {
        self.debuggee.agent.clone()
    }

    /// Sends `request`, decodes its reply as `T`, and records its kind.
    async fn call<T: beam::protocol::Decode>(&mut self, request: Request) -> T {
        self.sent.insert(request.name());
        match self.agent().request::<T>(&request, CALL).await {
            Ok(reply) => reply,
            Err(error) => panic!("{}: {error}", request.name()),
        }
    }

    /// The next agent event (output is skipped), within [`EVENT`].
    async fn next_event(&mut self, waiting_for: &str) -> AgentEvent {
        loop {
            match tokio::time::timeout(EVENT, self.events.recv()).await {
                Err(_) => panic!("no agent event within {EVENT:?} while waiting for {waiting_for}"),
                Ok(None) => panic!("the VM's events ended while waiting for {waiting_for}"),
                Ok(Some(DebuggeeEvent::Agent(event))) => return event,
                Ok(Some(DebuggeeEvent::Exited { code })) => {
                    panic!("the VM exited ({code}) while waiting for {waiting_for}")
                }
                Ok(Some(_)) => {}
            }
        }
    }

    /// Waits for the program to print `text` (agent events are ignored).
    async fn wait_output(&mut self, text: &str) {
        let mut printed = String::new();
        loop {
            match tokio::time::timeout(EVENT, self.events.recv()).await {
                Err(_) => panic!("the program did not print {text:?} within {EVENT:?}; it printed {printed:?}"),
                Ok(None) | Ok(Some(DebuggeeEvent::Exited { .. })) => {
                    panic!("the VM ended before printing {text:?}; it printed {printed:?}")
                }
                Ok(Some(DebuggeeEvent::Output { text: chunk, .. })) => {
                    printed.push_str(&chunk);
                    if printed.contains(text) {
                        return;
                    }
                }
                Ok(Some(_)) => {}
            }
        }
    }

    fn path(&self, relative: &str) -> String {
        self.dir.join(relative).to_string_lossy().into_owned()
    }
}

/// The line of `marker` (`# bp:step-value`) in a fixture file.
fn line_of(dir: &Path, file: &str, marker: &str) -> i64 {
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    let index = text
        .lines()
        .position(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("no {marker} in {file}"));
    index as i64 + 1
}

fn names(kinds: &[&str]) -> BTreeSet<String> {
    kinds.iter().map(|k| k.to_string()).collect()
}

fn breakpoint(line: i64, id: i64) -> BreakpointSpec {
    BreakpointSpec {
        line,
        ids: vec![id],
        kind: "breakpoint".into(),
        condition: None,
        hit_condition: None,
        log: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_debugger_request_reply_and_event_decodes() {
    let mut vm = Vm::launch("plain").await;
    let _: Pong = vm.call(Request::Ping).await;
    let loaded: ProjectLoaded = vm
        .call(Request::LoadProject {
            task: None,
            break_on_dbg: true,
        })
        .await;
    assert_eq!(loaded.task, "run");
    assert!(loaded.dbg == "enabled" || loaded.dbg == "unsupported", "{loaded:?}");
    assert!(!loaded.manifests.is_empty(), "{loaded:?}");
    let _: Done = vm
        .call(Request::DebuggerStart {
            stack_trace_mode: "no_tail".into(),
        })
        .await;
    let modules: Vec<ModuleEntry> = vm.call(Request::ListModules).await;
    let debug_me = modules
        .iter()
        .find(|m| m.module == "Elixir.Plain.DebugMe")
        .expect("Plain.DebugMe is listed");
    assert!(
        debug_me.project && debug_me.source.ends_with("debug_me.ex") && !debug_me.calls_dbg,
        "{debug_me:?}"
    );
    // The `dbg` callers, which lazy interpretation interprets before the start.
    let callers: Vec<&str> = modules
        .iter()
        .filter(|m| m.calls_dbg)
        .map(|m| m.module.as_str())
        .collect();
    if loaded.dbg == "enabled" {
        assert_eq!(callers, ["Elixir.Plain.DbgMe"], "the one module calling `dbg`");
    } else {
        assert!(callers.is_empty(), "no `dbg` callback, no caller: {callers:?}");
    }

    let interpreted: Interpreted = vm
        .call(Request::Interpret {
            modules: vec!["Elixir.Plain.DebugMe".into(), "Elixir.Plain.DbgMe".into()],
        })
        .await;
    assert_eq!(interpreted.interpreted.len(), 2, "{interpreted:?}");
    let running: Interpreted = vm
        .call(Request::InterpretRunning {
            modules: vec!["Elixir.Plain.Math".into()],
        })
        .await;
    assert_eq!(running.interpreted.len(), 1, "{running:?}");
    // Lazy interpretation (issue 17): a module already interpreted is
    // answered as interpreted, one without debug info is skipped, a name no
    // module was ever loaded under is unknown; nothing runs, so none is busy.
    let pending: PendingInterpreted = vm
        .call(Request::InterpretPending {
            modules: vec![
                "Elixir.Plain.DebugMe".into(),
                "Elixir.Plain.Opaque".into(),
                "Elixir.Plain.NeverDefined".into(),
            ],
            priority: Priority::Low,
        })
        .await;
    assert!(
        pending.interpreted.len() == 1
            && pending.interpreted[0] == "Elixir.Plain.DebugMe"
            && pending.busy.is_empty()
            && matches!(&pending.skipped[..], [skipped] if skipped.module == "Elixir.Plain.Opaque")
            && pending.unknown == ["Elixir.Plain.NeverDefined"],
        "{pending:?}"
    );
    let file = "lib/plain/debug_me.ex";
    let step_value = line_of(&vm.dir, file, "# bp:step-value");
    let run_loop = line_of(&vm.dir, file, "# bp:run-loop");
    let work_result = line_of(&vm.dir, file, "# bp:work-result");
    let lines: Vec<i64> = vm
        .call(Request::BreakableLines {
            module: "Elixir.Plain.DebugMe".into(),
        })
        .await;
    assert!(
        lines.contains(&step_value) && lines.contains(&(run_loop + 1)),
        "{lines:?}"
    );
    let step_lines: Vec<i64> = vm
        .call(Request::FunctionLines {
            module: "Elixir.Plain.DebugMe".into(),
            function: "step".into(),
            arity: Some(2),
        })
        .await;
    assert_eq!(step_lines, vec![step_value]);
    let targets: StepTargets = vm
        .call(Request::StepTargets {
            module: "Elixir.Plain.DebugMe".into(),
            line: line_of(&vm.dir, file, "# bp:call-math"),
        })
        .await;
    assert!(
        !targets.dynamic && targets.modules.len() == 1 && targets.modules[0] == "Elixir.Plain.Math",
        "{targets:?}"
    );

    let checks: Vec<ExpressionCheck> = vm
        .call(Request::CheckExpressions {
            breakpoints: vec![
                Expressions {
                    condition: Some("i >".into()),
                    log_expressions: Vec::new(),
                },
                Expressions {
                    condition: Some("i == 1".into()),
                    log_expressions: vec!["i".into()],
                },
                Expressions {
                    condition: None,
                    log_expressions: vec!["i".into(), "i +".into()],
                },
            ],
        })
        .await;
    assert!(
        matches!(&checks[..], [ExpressionCheck::Invalid(invalid), ExpressionCheck::Valid, ExpressionCheck::Invalid(log)]
            if invalid.field == "condition" && invalid.expression.is_none()
                && log.field == "log_message" && log.expression.as_deref() == Some("i +")),
        "{checks:?}"
    );

    // A stop (step-value, once), a condition that raises (run-loop), a
    // logpoint (the line after run-loop), a logpoint whose expression
    // raises (work-result, reached by the evaluation below, which stops at
    // the breakpoint of the same line only once its log fails: a log line
    // never stops, so that line gets a plain breakpoint instead and the
    // failing log goes on loop-step).
    let loop_step = line_of(&vm.dir, file, "# bp:loop-step");
    let _: Done = vm
        .call(Request::SetBreakpoints {
            module: "Elixir.Plain.DebugMe".into(),
            breakpoints: vec![
                BreakpointSpec {
                    condition: Some("i == 1".into()),
                    hit_condition: Some(HitCondition {
                        op: HitOp::AtLeast,
                        n: 1,
                    }),
                    ..breakpoint(step_value, 1)
                },
                BreakpointSpec {
                    condition: Some("raise \"no\"".into()),
                    ..breakpoint(run_loop, 2)
                },
                BreakpointSpec {
                    log: Some(vec![
                        LogPart::Text("total ".into()),
                        LogPart::Expression("total".into()),
                    ]),
                    ..breakpoint(run_loop + 1, 3)
                },
                BreakpointSpec {
                    log: Some(vec![LogPart::Expression("raise \"no\"".into())]),
                    ..breakpoint(loop_step, 4)
                },
                breakpoint(work_result, 5),
            ],
        })
        .await;
    let _: Done = vm.call(Request::InstallTracers).await;
    let program = "Plain.DebugMe.run(3); \
                   Code.compile_string(\"defmodule Plain.Dyn do\\n  def x, do: 1\\nend\\n\", \"lib/plain/dyn.ex\"); \
                   Plain.DbgMe.start(2)";
    let _: Done = vm
        .call(Request::RunTask {
            task: "run".into(),
            args: vec!["-e".into(), program.into()],
            require_files: vec!["scripts/helper.exs".into()],
            start_apps: false,
        })
        .await;

    let mut seen: BTreeSet<&'static str> = BTreeSet::new();
    let mut evaluated = false;
    let mut dbg_done = false;
    while !(seen.contains("task_finished") && seen.contains("app_compiled") && seen.contains("evaluation_result")) {
        let event = vm.next_event("the program's events").await;
        seen.insert(event.name());
        match event {
            AgentEvent::ScriptModule(script) => {
                assert_eq!(script.module, "Elixir.PlainHelper");
                let _: Done = vm.call(Request::ScriptRelease { waiter: script.waiter }).await;
            }
            AgentEvent::Stopped(stop) if stop.evaluation.is_some() => {
                // The evaluation's process, stopped at work-result: let it finish.
                assert_eq!(stop.line, work_result);
                let _: Done = vm
                    .call(Request::Command {
                        pid: stop.pid,
                        command: Command::Continue,
                    })
                    .await;
            }
            AgentEvent::Stopped(stop) => {
                assert_eq!((stop.line, stop.breakpoints.clone()), (step_value, vec![1]), "{stop:?}");
                inspect_stop(&mut vm, &stop.pid, work_result).await;
                evaluated = true;
                let _: Done = vm
                    .call(Request::Command {
                        pid: stop.pid,
                        command: Command::Continue,
                    })
                    .await;
            }
            AgentEvent::DbgStopped(stop) => {
                assert!(!stop.stepping, "{stop:?}");
                let pid = stop.pid.clone();
                let dbg = |request: Request| Request::Dbg(Box::new(request));
                let frames: Vec<Frame> = vm.call(dbg(Request::Stack { pid: pid.clone() })).await;
                let level = frames[0].level;
                assert_eq!(frames[0].line, stop.line);
                let variables: Vec<Variable> = vm
                    .call(dbg(Request::FrameVariables {
                        pid: pid.clone(),
                        level,
                    }))
                    .await;
                assert!(
                    variables.iter().any(|v| v.name == "total" && v.value == "4"),
                    "{variables:?}"
                );
                let value: Evaluation = vm
                    .call(dbg(Request::Evaluate {
                        frame: Some((pid.clone(), level)),
                        expression: "total + 1".into(),
                        timeout_ms: 5000,
                        context: "watch".into(),
                    }))
                    .await;
                assert!(matches!(&value, Evaluation::Value(v) if v.value == "5"), "{value:?}");
                let resumed: DbgResumed = vm
                    .call(dbg(Request::Command {
                        pid,
                        command: Command::Continue,
                    }))
                    .await;
                assert!(!resumed.stepping);
                dbg_done = true;
            }
            AgentEvent::TaskFinished(finished) => assert_eq!((finished.status, finished.no_halt), (0, false)),
            AgentEvent::AppCompiled(compiled) => {
                assert!(
                    compiled.modules.iter().any(|m| m.module == "Elixir.Plain.Dyn"),
                    "{compiled:?}"
                )
            }
            AgentEvent::Log(log) if log.line == run_loop + 1 => assert_eq!(log.text, "total 30"),
            _ => {}
        }
    }
    assert!(evaluated, "the program never stopped at step-value");
    assert!(dbg_done || loaded.dbg == "unsupported", "the dbg call never stopped");
    // The events still queued (exits of the threads) come before the detach's.
    while !seen.contains("thread_exited") {
        let event = vm.next_event("a thread_exited event").await;
        seen.insert(event.name());
    }
    let mut expected_events: BTreeSet<&str> = [
        "stopped",
        "thread_exited",
        "log",
        "condition_error",
        "log_error",
        "evaluation_result",
        "script_module",
        "app_compiled",
        "task_finished",
    ]
    .into();
    if loaded.dbg == "enabled" {
        expected_events.insert("dbg_stopped");
    }
    assert_eq!(seen, expected_events, "the event kinds decoded");

    let detached: Detached = vm.call(Request::Detach).await;
    assert_eq!(detached, Detached::Launched);
    vm.sent.insert(Request::Halt { status: 3 }.name());
    vm.agent().notify(&Request::Halt { status: 3 }).unwrap();
    assert_eq!(
        vm.debuggee.wait_exit(EVENT).await,
        Some(3),
        "the VM halts with the status asked"
    );

    let mut expected = names(ALL_REQUESTS);
    if loaded.dbg != "enabled" {
        expected.retain(|k| !k.starts_with("dbg "));
    }
    assert_eq!(vm.sent, expected, "the request kinds sent");
}

/// At a stop of the interpreter: its stack, variables, a value's children,
/// evaluations in the frame and in the console (one that stops at
/// `work_result`).
async fn inspect_stop(vm: &mut Vm, pid: &beam::protocol::Pid, work_result: i64) {
    let frames: Vec<Frame> = vm.call(Request::Stack { pid: pid.clone() }).await;
    assert_eq!(frames[0].function, "step");
    assert_eq!(frames[0].arity, 2);
    let level = frames[0].level;
    let variables: Vec<Variable> = vm
        .call(Request::FrameVariables {
            pid: pid.clone(),
            level,
        })
        .await;
    assert!(
        variables.iter().any(|v| v.name == "i" && v.value == "1"),
        "{variables:?}"
    );
    let info: Vec<Variable> = vm.call(Request::ProcessVariables { pid: pid.clone() }).await;
    assert!(info.iter().any(|v| v.name == "status"), "{info:?}");
    let list: Evaluation = vm
        .call(Request::Evaluate {
            frame: Some((pid.clone(), level)),
            expression: "[i, acc, :x]".into(),
            timeout_ms: 5000,
            context: "watch".into(),
        })
        .await;
    let Evaluation::Value(list) = list else {
        panic!("a value, not {list:?}")
    };
    assert!(list.handle > 0 && list.indexed == 3, "{list:?}");
    let children: Vec<Variable> = vm
        .call(Request::Children {
            handle: list.handle,
            start: 0,
            count: 0,
        })
        .await;
    assert_eq!(children.len(), 3, "{children:?}");
    let paused: Evaluation = vm
        .call(Request::Evaluate {
            frame: None,
            expression: "Plain.DebugMe.work(7)".into(),
            timeout_ms: 5000,
            context: "repl".into(),
        })
        .await;
    match paused {
        Evaluation::Paused(Paused::Breakpoint(stop)) => {
            assert_eq!(stop.line, work_result);
            assert_eq!(stop.evaluation.as_deref(), Some("Plain.DebugMe.work(7)"));
        }
        other => panic!("the console's evaluation stops at work-result, not {other:?}"),
    }
}

/// `reload_compile` of ReloadApp.Greeter's file alone, optimised, into
/// `overlay`.
async fn compile_alone(vm: &mut Vm, greeter: &str, overlay: &str) -> ReloadCompiled {
    vm.call(Request::ReloadCompile {
        waves: vec![vec![greeter.to_owned()]],
        modules: vec!["Elixir.ReloadApp.Greeter".into()],
        lift: Vec::new(),
        overlay: overlay.to_owned(),
        force: false,
        optimize: true,
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reload_request_and_reply_decodes() {
    let mut vm = Vm::launch("reload_app").await;
    let _: ProjectLoaded = vm
        .call(Request::LoadProject {
            task: Some("run".into()),
            break_on_dbg: false,
        })
        .await;
    let _: Done = vm
        .call(Request::DebuggerStart {
            stack_trace_mode: "no_tail".into(),
        })
        .await;
    let _: Interpreted = vm
        .call(Request::Interpret {
            modules: vec!["Elixir.ReloadApp.Greeter".into()],
        })
        .await;
    let _: Done = vm
        .call(Request::RunTask {
            task: "run".into(),
            args: vec!["--no-halt".into()],
            require_files: Vec::new(),
            start_apps: true,
        })
        .await;
    // The application is up once it says so.
    vm.wait_output("reload_app: started").await;

    let overlay = tempfile::Builder::new().prefix("overlay-").tempdir().unwrap();
    let overlay_dir = overlay.path().to_string_lossy().into_owned();
    let greeter = vm.path("lib/reload_app/greeter.ex");
    let counter = vm.path("lib/reload_app/counter.ex");
    let text = std::fs::read_to_string(&counter).unwrap();
    std::fs::write(&counter, text.replace("def version, do: 1", "def version, do: 2")).unwrap();

    let suspended: Suspended = vm
        .call(Request::ReloadSuspend {
            modules: vec!["Elixir.ReloadApp.Counter".into()],
        })
        .await;
    assert_eq!(suspended.suspended.len(), 1, "{suspended:?}");
    let compiled: ReloadCompiled = vm
        .call(Request::ReloadCompile {
            waves: vec![vec![greeter.clone(), counter.clone()]],
            modules: vec!["Elixir.ReloadApp.Greeter".into(), "Elixir.ReloadApp.Counter".into()],
            lift: Vec::new(),
            overlay: overlay_dir.clone(),
            force: false,
            optimize: true,
        })
        .await;
    assert_eq!(compiled.status, "compiled", "{compiled:?}");
    assert_eq!(compiled.compiled.len(), 2, "{compiled:?}");
    let reinterpreted: Reinterpreted = vm
        .call(Request::ReloadInterpret {
            modules: vec!["Elixir.ReloadApp.Greeter".into()],
            deferred: Vec::new(),
            commit: false,
        })
        .await;
    assert_eq!(reinterpreted.interpreted.len(), 1, "{reinterpreted:?}");
    assert_eq!(reinterpreted.committed, None, "{reinterpreted:?}");
    let changed: CodeChanged = vm
        .call(Request::ReloadCodeChange {
            targets: suspended.suspended.clone(),
        })
        .await;
    assert_eq!((changed.changed, changed.failed.len()), (1, 0), "{changed:?}");
    let _: Done = vm
        .call(Request::ReloadResume {
            pids: suspended.suspended.iter().map(|s| s.pid.clone()).collect(),
        })
        .await;
    let _: Done = vm.call(Request::ReloadCommit).await;

    // A compile error, rolled back.
    std::fs::write(&greeter, "defmodule ReloadApp.Greeter do\n  def hello(, do: 1\nend\n").unwrap();
    let failed = compile_alone(&mut vm, &greeter, &overlay_dir).await;
    assert_eq!(failed.status, "compile_failed", "{failed:?}");
    assert!(failed.diagnostics.iter().any(|d| d.severity == "error"), "{failed:?}");
    let rolled_back: RolledBack = vm.call(Request::ReloadRollback).await;
    assert!(rolled_back.failures.is_empty(), "{rolled_back:?}");

    // Fixed, and committed with its interpretation (nothing follows it).
    std::fs::write(
        &greeter,
        "defmodule ReloadApp.Greeter do\n  def hello(name), do: \"hey #{name}\"\nend\n",
    )
    .unwrap();
    let fixed = compile_alone(&mut vm, &greeter, &overlay_dir).await;
    assert_eq!(fixed.status, "compiled", "{fixed:?}");
    let committed: Reinterpreted = vm
        .call(Request::ReloadInterpret {
            modules: vec!["Elixir.ReloadApp.Greeter".into()],
            deferred: Vec::new(),
            commit: true,
        })
        .await;
    assert_eq!(committed.interpreted.len(), 1, "{committed:?}");
    assert_eq!(committed.committed, Some(true), "{committed:?}");
    // Committed: a rollback now has no snapshot to restore.
    let nothing: RolledBack = vm.call(Request::ReloadRollback).await;
    assert_eq!((nothing.restored.len(), nothing.removed.len()), (0, 0), "{nothing:?}");

    // Mix's own compile, then a module removed.
    std::fs::write(
        &greeter,
        "defmodule ReloadApp.Greeter do\n  def hello(name), do: \"hi #{name}\"\nend\n",
    )
    .unwrap();
    let mix: MixCompiled = vm
        .call(Request::ReloadMix {
            overlay: overlay_dir.clone(),
            force: false,
        })
        .await;
    assert_eq!(mix.status, "compiled", "{mix:?}");
    let _: Done = vm.call(Request::ReloadCommit).await;
    let removed: ModulesRemoved = vm
        .call(Request::ReloadRemove {
            modules: vec!["Elixir.ReloadApp.UsesGenerated".into()],
        })
        .await;
    assert_eq!(removed.removed.len(), 1, "{removed:?}");
    let _: Done = vm.call(Request::ReloadCommit).await;

    vm.debuggee.terminate();
    let mut expected = names(ALL_RELOAD_REQUESTS);
    expected.extend(names(&["load_project", "debugger_start", "interpret", "run_task"]));
    assert_eq!(vm.sent, expected, "the request kinds sent");
}
