//! The debugger: interpretation, breakpoints, threads, stacks, variables and
//! evaluation, on top of the agent's backend (`elixir_dap_backend_int.erl`: `:int`).
//!
//! [`Debugger`] keeps the session's debugging state (module registry,
//! breakpoints, threads and the ids handed to the client) and turns DAP
//! requests into agent calls. Ids for frames and variables are valid while
//! their thread is stopped; resuming a thread forgets them.

pub mod breakpoints;
pub mod dbg;
mod inspect;
pub mod lazy;
pub mod log_template;
pub mod modules;
pub mod reload_support;
mod scripts;
mod set_breakpoints;
pub mod threads;

use crate::client::Client;
use crate::error::RequestError;
use beam::protocol::{self, Command, Interpreted, ModuleEntry, Pid, Request};
use beam::{AgentClient, AgentError};
use breakpoints::{
    parse_function_name, parse_hit_condition, AgentBreakpoint, BreakpointStore, FunctionBreakpoint, HitCondition,
    LineBreakpoint,
};
use dap::types::{
    Breakpoint, EvaluateArguments, EvaluateResponseBody, Scope, ScopesArguments, SetBreakpointsArguments,
    SetFunctionBreakpointsArguments, Source, StackFrame, StackTraceArguments, ThreadArguments, Variable,
    VariablesArguments,
};
use log_template::LogTemplate;
use modules::{ModuleInfo, ModuleRegistry, Selection};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;
use threads::{ThreadTable, Threads, VariablesRef};

const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Interpreting is serialised inside `:int` (about 1.5 ms a module); a call
/// carries at most 200 modules at launch, and a reload its batch.
const INTERPRET_TIMEOUT: Duration = Duration::from_secs(120);
/// Modules interpreted per agent call at launch: about a tenth of them, so
/// that progress shows, but enough per call for the agent's batches of
/// native loads and its parallel preparation to pay.
pub fn interpret_chunk(total: usize) -> usize {
    (total / 10).clamp(50, 200)
}

type Handled = Result<Value, RequestError>;

/// A request answered later, by a task of its own: it runs while the
/// session handles other requests and the program's events.
pub type Later = Pin<Box<dyn Future<Output = Handled> + Send + 'static>>;

pub struct Debugger {
    agent: AgentClient,
    client: Client,
    selection: Selection,
    registry: ModuleRegistry,
    breakpoints: BreakpointStore,
    /// Lines where each module (atom) can stop, fetched once per module.
    breakable: HashMap<String, BTreeSet<i64>>,
    /// Threads, frames and variables ids, shared with the event pump.
    threads: ThreadTable,
    expression_timeout: Duration,
    /// Lazy interpretation: the launch's setting, its eager patterns, when
    /// and how each module was interpreted, and the gate that keeps two
    /// interpretations of the program's modules from overlapping.
    lazy: lazy::LazyState,
    /// The program runs on the native backend (`debugBackend: "native"`):
    /// reload reports word its modules as debugged, not interpreted.
    native: bool,
}

/// The launch attributes the debugger needs.
pub struct DebuggerConfig<'a> {
    pub interpret_patterns: Option<&'a [String]>,
    pub auto_interpret_all: bool,
    pub exclude_modules: &'a [String],
    pub stack_trace_mode: &'a str,
    pub expression_timeout: Duration,
    pub lazy_interpretation: lazy::LazyInterpretation,
    pub eager_patterns: &'a [String],
    /// `debugBackend` resolved to the native backend (see `session::backend`).
    pub native: bool,
}

impl Debugger {
    /// Starts `:int` in the VM and reads the project's module list.
    pub async fn start(
        agent: AgentClient,
        client: Client,
        config: DebuggerConfig<'_>,
    ) -> Result<Debugger, RequestError> {
        let selection = Selection::new(
            config.interpret_patterns,
            config.auto_interpret_all,
            config.exclude_modules,
        )
        .map_err(|e| RequestError::User(format!("launch: {e}")))?;
        let eager =
            modules::eager_patterns(config.eager_patterns).map_err(|e| RequestError::User(format!("launch: {e}")))?;
        // At the same time: the agent answers each request in its own
        // process (at 2 000 modules, 0.2 s and 0.3-0.5 s).
        let start = Request::DebuggerStart {
            stack_trace_mode: config.stack_trace_mode.to_owned(),
        };
        let (started, listed) = tokio::join!(
            agent.request::<protocol::Done>(&start, CALL_TIMEOUT),
            agent.request::<Vec<ModuleEntry>>(&Request::ListModules, CALL_TIMEOUT)
        );
        started.map_err(|e| RequestError::User(format!("launch: the debugger cannot start: {e}")))?;
        let listed =
            listed.map_err(|e| RequestError::Internal(format!("launch: could not list the project's modules: {e}")))?;
        let modules = listed.into_iter().map(module_info).collect();
        Ok(Debugger {
            agent,
            threads: ThreadTable::new(client.clone()),
            client,
            selection,
            registry: ModuleRegistry::new(modules),
            breakpoints: BreakpointStore::default(),
            breakable: HashMap::new(),
            expression_timeout: config.expression_timeout,
            lazy: lazy::LazyState::new(config.lazy_interpretation, eager),
            native: config.native,
        })
    }

    /// Modules selected for interpretation that are not interpreted yet,
    /// those with breakpoints first.
    pub fn pending_interpretation(&self) -> Vec<String> {
        let with_breakpoints = self.breakpoints.modules();
        let mut pending: Vec<String> = self
            .registry
            .selected(&self.selection)
            .filter(|m| !self.registry.is_interpreted(&m.atom) && self.registry.skip_reason(&m.atom).is_none())
            .map(|m| m.atom.clone())
            .collect();
        pending.sort_by_key(|atom| !with_breakpoints.contains(atom));
        pending
    }

    pub fn agent(&self) -> &AgentClient {
        &self.agent
    }

    /// The thread table, which the event pump updates (see [`threads`]).
    /// Whether the program runs on the native backend (nothing interpreted:
    /// a module is debugged when its code has line debug info).
    pub fn is_native(&self) -> bool {
        self.native
    }

    pub fn thread_table(&self) -> ThreadTable {
        self.threads.clone()
    }

    /// After a response is written: events held while a resume was being
    /// answered go out now.
    pub fn after_response(&self) {
        self.threads.lock().end_resume();
    }

    /// Interprets `modules` now (in one agent call) and records the result.
    /// The program may be running them, so this takes `:int.ni/1`'s own
    /// path, module by module: the batch path that launch uses, loading
    /// native code first, made a process running the module fail its next
    /// local call (found interpreting 2 000 modules under a running workload).
    pub async fn interpret(&mut self, modules: &[String]) -> Result<(), RequestError> {
        if modules.is_empty() {
            return Ok(());
        }
        let reply = self
            .interpret_pending_now(modules)
            .await
            .map_err(|e| RequestError::Internal(e.to_string()))?;
        self.record_interpreted_as(&reply, self.lazy.how_now());
        Ok(())
    }

    /// Applies an `interpret` reply: marks modules, reports skipped ones on
    /// the console and sends `module` events.
    pub fn record_interpreted(&mut self, reply: &Interpreted) {
        self.record_interpreted_as(reply, lazy::How::BeforeStart);
    }

    /// As [`Debugger::record_interpreted`], noting when and how (shown by
    /// `modules`).
    pub fn record_interpreted_as(&mut self, reply: &Interpreted, how: lazy::How) {
        for module in &reply.interpreted {
            let atom = module.as_str();
            if self.registry.is_interpreted(atom) {
                continue;
            }
            self.registry.mark_interpreted(atom);
            self.lazy.noted(atom, how);
            if let Some(info) = self.registry.get(atom) {
                let mut json = module_json(info, true);
                self.lazy.describe(atom, &mut json);
                self.client.event("module", json!({ "reason": "new", "module": json }));
            }
        }
        for skipped in &reply.skipped {
            let (atom, name, reason) = (skipped.module.as_str(), &skipped.name, &skipped.reason);
            self.client
                .console(format!("elixir-dap: not interpreting {name}: {reason}"));
            self.registry.mark_skipped(atom, &reason.to_string());
        }
    }

    // -----------------------------------------------------------------------
    // Threads and execution

    pub fn threads(&self) -> Handled {
        Ok(self.threads.lock().list())
    }

    /// `continue`, `next`, `stepIn`, `stepOut`. The thread is marked running
    /// before the agent is told (see [`threads`]).
    pub async fn resume(&mut self, command: &str, arguments: &Value) -> Handled {
        let args: ThreadArguments =
            dap::parse_arguments(arguments).map_err(|e| RequestError::User(format!("{command}: {e}")))?;
        let (pid, dbg) = {
            let table = self.threads.lock();
            let thread = table.stopped_thread(args.thread_id)?;
            (thread.pid.clone(), thread.dbg)
        };
        if dbg {
            return self.resume_dbg(command, args.thread_id, pid).await;
        }
        let (agent_command, reason) = match command {
            "continue" => (Command::Continue, None),
            "next" => (Command::Next, Some("step")),
            "stepIn" => (Command::StepIn, Some("step")),
            _ => (Command::StepOut, Some("step")),
        };
        if command == "stepIn" {
            // Never a silent step over a module only not interpreted yet.
            self.interpret_step_targets(args.thread_id).await?;
        }
        self.threads.lock().begin_resume(args.thread_id, reason);
        self.call_command(&pid, agent_command).await?;
        Ok(if command == "continue" {
            json!({ "allThreadsContinued": false })
        } else {
            Value::Null
        })
    }

    pub async fn pause(&mut self, arguments: &Value) -> Handled {
        let args: ThreadArguments =
            dap::parse_arguments(arguments).map_err(|e| RequestError::User(format!("pause: {e}")))?;
        let pid = {
            let mut table = self.threads.lock();
            let thread = table.thread(args.thread_id)?;
            if thread.stopped_at.is_some() {
                return Ok(Value::Null);
            }
            let pid = thread.pid.clone();
            // The stop may be reported before the agent answers.
            if let Some(thread) = table.thread_mut(args.thread_id) {
                thread.pending_reason = Some("pause");
            }
            pid
        };
        self.call_command(&pid, Command::Pause).await?;
        Ok(Value::Null)
    }

    async fn call_command(&self, pid: &Pid, command: Command) -> Result<(), RequestError> {
        self.agent
            .request::<protocol::Done>(
                &Request::Command {
                    pid: pid.clone(),
                    command,
                },
                CALL_TIMEOUT,
            )
            .await
            .map(|_| ())
            .map_err(RequestError::from_agent)
    }

    // -----------------------------------------------------------------------
    // Modules

    pub fn modules(&self) -> Handled {
        let modules: Vec<Value> = self
            .registry
            .all()
            .filter(|m| m.project || self.registry.is_interpreted(&m.atom))
            .map(|m| {
                let mut json = module_json(m, self.registry.is_interpreted(&m.atom));
                self.lazy.describe(&m.atom, &mut json);
                if self.is_lazily_pending(m) {
                    json["symbolStatus"] = json!(self.lazy.pending_status());
                }
                json
            })
            .collect();
        let total = modules.len();
        Ok(json!({ "modules": modules, "totalModules": total }))
    }

    pub fn loaded_sources(&self) -> Handled {
        let sources: BTreeSet<&PathBuf> = self
            .registry
            .all()
            .filter(|m| self.registry.is_interpreted(&m.atom))
            .filter_map(|m| m.source.as_ref())
            .collect();
        let sources: Vec<Source> = sources
            .into_iter()
            .map(|path| Source {
                name: path.file_name().map(|n| n.to_string_lossy().into_owned()),
                path: Some(path.display().to_string()),
                ..Source::default()
            })
            .collect();
        Ok(json!({ "sources": sources }))
    }
}

/// Interprets `modules` in one agent call.
pub async fn interpret_call(agent: &AgentClient, modules: &[String]) -> Result<Interpreted, AgentError> {
    let modules = modules.to_vec();
    agent.request(&Request::Interpret { modules }, INTERPRET_TIMEOUT).await
}

fn module_info(entry: ModuleEntry) -> ModuleInfo {
    let source = Some(entry.source)
        .filter(|s| !s.is_empty())
        .map(|s| canonical(Path::new(&s)));
    ModuleInfo {
        name: entry.name,
        atom: entry.module.into(),
        source,
        app: entry.app,
        project: entry.project,
        calls_dbg: entry.calls_dbg,
    }
}

fn module_json(module: &ModuleInfo, interpreted: bool) -> Value {
    json!({
        "id": module.atom,
        "name": module.name,
        "path": module.source.as_ref().map(|p| p.display().to_string()),
        "isUserCode": module.project,
        "symbolStatus": if interpreted { "interpreted" } else { "not interpreted" },
    })
}

fn non_empty(value: &Option<String>) -> Option<String> {
    value.as_ref().filter(|v| !v.trim().is_empty()).cloned()
}

/// Paths from the client and from the compiler are compared canonicalised,
/// so symlinks and `..` do not hide a match.
fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}
