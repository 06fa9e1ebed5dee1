//! The debugger: interpretation, breakpoints, threads, stacks, variables and
//! evaluation, on top of the agent's `elixir_dap_debugger` module (`:int`).
//!
//! [`Debugger`] keeps the session's debugging state (module registry,
//! breakpoints, threads and the ids handed to the client) and turns DAP
//! requests into agent calls. Ids for frames and variables are valid while
//! their thread is stopped; resuming a thread forgets them.

pub mod breakpoints;
pub mod dbg;
pub mod modules;
pub mod reload_support;
mod scripts;
pub mod threads;

use crate::client::Client;
use crate::error::RequestError;
use beam::term::{self, TermExt};
use beam::{AgentClient, AgentError};
use breakpoints::{
    parse_function_name, parse_hit_condition, AgentBreakpoint, BreakpointStore, FunctionBreakpoint, LineBreakpoint,
};
use dap::types::{
    Breakpoint, EvaluateArguments, EvaluateResponseBody, Scope, ScopesArguments, SetBreakpointsArguments,
    SetFunctionBreakpointsArguments, Source, StackFrame, StackTraceArguments, ThreadArguments, Variable,
    VariablesArguments,
};
use eetf::Term;
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
}

/// The launch attributes the debugger needs.
pub struct DebuggerConfig<'a> {
    pub interpret_patterns: Option<&'a [String]>,
    pub auto_interpret_all: bool,
    pub exclude_modules: &'a [String],
    pub stack_trace_mode: &'a str,
    pub expression_timeout: Duration,
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
        agent
            .call(
                term::tuple(vec![
                    term::atom("debugger_start"),
                    term::binary(config.stack_trace_mode),
                ]),
                CALL_TIMEOUT,
            )
            .await
            .map_err(|e| RequestError::User(format!("launch: the debugger cannot start: {e}")))?;
        let listed = agent
            .call(term::atom("list_modules"), CALL_TIMEOUT)
            .await
            .map_err(|e| RequestError::Internal(format!("launch: could not list the project's modules: {e}")))?;
        let modules = listed
            .as_elements()
            .unwrap_or_default()
            .iter()
            .filter_map(module_info)
            .collect();
        Ok(Debugger {
            agent,
            threads: ThreadTable::new(client.clone()),
            client,
            selection,
            registry: ModuleRegistry::new(modules),
            breakpoints: BreakpointStore::default(),
            breakable: HashMap::new(),
            expression_timeout: config.expression_timeout,
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
        let reply = interpret_running_call(&self.agent, modules)
            .await
            .map_err(|e| RequestError::Internal(e.to_string()))?;
        self.record_interpreted(&reply);
        Ok(())
    }

    /// Applies an `interpret` reply: marks modules, reports skipped ones on
    /// the console and sends `module` events.
    pub fn record_interpreted(&mut self, reply: &Term) {
        for module in reply
            .get("interpreted")
            .and_then(TermExt::as_elements)
            .unwrap_or_default()
            .iter()
        {
            let Some(atom) = module.as_atom() else { continue };
            self.registry.mark_interpreted(atom);
            if let Some(info) = self.registry.get(atom) {
                self.client
                    .event("module", json!({ "reason": "new", "module": module_json(info, true) }));
            }
        }
        for skipped in reply
            .get("skipped")
            .and_then(TermExt::as_elements)
            .unwrap_or_default()
            .iter()
        {
            let atom = skipped
                .get("module")
                .and_then(TermExt::as_atom)
                .unwrap_or_default()
                .to_owned();
            let name = skipped.get_text("name").unwrap_or_else(|| atom.clone());
            let reason = skipped.get_text("reason").unwrap_or_default();
            self.client
                .console(format!("elixir-dap: not interpreting {name}: {reason}"));
            self.registry.mark_skipped(&atom, &reason);
        }
    }

    // -----------------------------------------------------------------------
    // Breakpoints

    pub async fn set_breakpoints(&mut self, arguments: &Value) -> Handled {
        let args: SetBreakpointsArguments =
            dap::parse_arguments(arguments).map_err(|e| RequestError::User(format!("setBreakpoints: {e}")))?;
        let Some(path) = args.source.path.clone() else {
            return Err(RequestError::User("setBreakpoints: `source.path` is required".into()));
        };
        let source = canonical(Path::new(&path));
        let modules: Vec<ModuleInfo> = self.registry.in_source(&source).into_iter().cloned().collect();
        let expressions: Vec<Expressions> = args
            .breakpoints
            .iter()
            .map(|b| Expressions {
                condition: non_empty(&b.condition),
                hit_condition: non_empty(&b.hit_condition),
                log_message: non_empty(&b.log_message),
            })
            .collect();
        let invalid = self.check_expressions(&expressions).await?;
        let mut placed = Vec::new();
        for ((requested, expressions), invalid) in args.breakpoints.iter().zip(expressions).zip(invalid) {
            let id = self.breakpoints.next_id();
            let (modules, message) = match &invalid {
                Some(message) => (Vec::new(), Some(message.clone())),
                None => self.place_line(&modules, requested.line).await,
            };
            placed.push(LineBreakpoint {
                id,
                line: requested.line,
                condition: expressions.condition,
                hit_condition: expressions.hit_condition,
                log_message: expressions.log_message,
                verified: !modules.is_empty(),
                modules,
                message,
                invalid,
            });
        }
        let touched = self.breakpoints.replace_source(source.clone(), placed.clone());
        self.sync_modules(touched).await?;
        let breakpoints: Vec<Breakpoint> = placed
            .iter()
            .map(|b| Breakpoint {
                id: b.id,
                verified: b.verified,
                message: b.message.clone(),
                source: Some(args.source.clone()),
                line: Some(b.line),
            })
            .collect();
        Ok(json!({ "breakpoints": breakpoints }))
    }

    /// Checks the conditions, hit conditions and log messages of new
    /// breakpoints before they are set: for each, `None` or why it cannot
    /// be set (the Elixir parser's message for an expression). Hit
    /// conditions are checked here, expressions by the VM's own parser.
    async fn check_expressions(&self, breakpoints: &[Expressions]) -> Result<Vec<Option<String>>, RequestError> {
        let mut invalid: Vec<Option<String>> = breakpoints
            .iter()
            .map(|b| b.hit_condition.as_deref().and_then(|h| parse_hit_condition(h).err()))
            .collect();
        let to_parse: Vec<usize> = (0..breakpoints.len())
            .filter(|&i| {
                invalid[i].is_none() && (breakpoints[i].condition.is_some() || breakpoints[i].log_message.is_some())
            })
            .collect();
        if to_parse.is_empty() {
            return Ok(invalid);
        }
        let optional = |value: &Option<String>| value.as_deref().map_or(term::atom("nil"), term::binary);
        let specs = to_parse
            .iter()
            .map(|&i| {
                term::map(vec![
                    ("condition", optional(&breakpoints[i].condition)),
                    ("log_message", optional(&breakpoints[i].log_message)),
                ])
            })
            .collect();
        let reply = self
            .agent
            .call(
                term::tuple(vec![term::atom("check_expressions"), term::list(specs)]),
                CALL_TIMEOUT,
            )
            .await
            .map_err(|e| RequestError::Internal(format!("could not check the breakpoints' expressions: {e}")))?;
        for (&i, verdict) in to_parse.iter().zip(reply.as_elements().unwrap_or_default().iter()) {
            let Some(message) = verdict.get_text("message") else {
                continue;
            };
            let field = verdict.get("field").and_then(TermExt::as_atom).unwrap_or_default();
            invalid[i] = Some(match field {
                "condition" => format!(
                    "the condition `{}` is not valid Elixir: {message}",
                    breakpoints[i].condition.as_deref().unwrap_or_default()
                ),
                _ => format!("the log message cannot be used: {message}"),
            });
        }
        Ok(invalid)
    }

    /// Finds every module of `modules` with code on `line` (one line may
    /// belong to several: `defimpl P, for: [Integer, Float]` defines one
    /// module per type from the same lines), interpreting them if needed;
    /// without one, says why the breakpoint cannot be verified.
    async fn place_line(&mut self, modules: &[ModuleInfo], line: i64) -> (Vec<String>, Option<String>) {
        if modules.is_empty() {
            return (Vec::new(), Some("no compiled module comes from this file".into()));
        }
        let mut placed = Vec::new();
        let mut refusal = None;
        for module in modules {
            let lines = match self.breakable_lines(&module.atom).await {
                Ok(lines) => lines,
                Err(message) => {
                    refusal.get_or_insert(message);
                    continue;
                }
            };
            if !lines.contains(&line) {
                continue;
            }
            if !self.selection.selects(module) {
                refusal.get_or_insert(self.selection.reason_not_selected(module));
                continue;
            }
            match self.ensure_interpreted(&module.atom).await {
                Ok(()) => placed.push(module.atom.clone()),
                Err(message) => {
                    refusal.get_or_insert(message);
                }
            }
        }
        if placed.is_empty() {
            (
                placed,
                Some(refusal.unwrap_or_else(|| format!("no code on line {line}"))),
            )
        } else {
            (placed, None)
        }
    }

    async fn breakable_lines(&mut self, atom: &str) -> Result<BTreeSet<i64>, String> {
        if let Some(lines) = self.breakable.get(atom) {
            return Ok(lines.clone());
        }
        let reply = self
            .agent
            .call(
                term::tuple(vec![term::atom("breakable_lines"), term::binary(atom)]),
                CALL_TIMEOUT,
            )
            .await
            .map_err(|e| e.to_string())?;
        let lines: BTreeSet<i64> = reply
            .as_elements()
            .unwrap_or_default()
            .iter()
            .filter_map(TermExt::as_i64)
            .collect();
        self.breakable.insert(atom.to_owned(), lines.clone());
        Ok(lines)
    }

    async fn ensure_interpreted(&mut self, atom: &str) -> Result<(), String> {
        if self.registry.is_interpreted(atom) {
            return Ok(());
        }
        if let Some(reason) = self.registry.skip_reason(atom) {
            return Err(format!("the module cannot be interpreted: {reason}"));
        }
        self.interpret(&[atom.to_owned()]).await.map_err(|e| e.to_string())?;
        match self.registry.skip_reason(atom) {
            Some(reason) => Err(format!("the module cannot be interpreted: {reason}")),
            None => Ok(()),
        }
    }

    pub async fn set_function_breakpoints(&mut self, arguments: &Value) -> Handled {
        let args: SetFunctionBreakpointsArguments =
            dap::parse_arguments(arguments).map_err(|e| RequestError::User(format!("setFunctionBreakpoints: {e}")))?;
        let expressions: Vec<Expressions> = args
            .breakpoints
            .iter()
            .map(|b| Expressions {
                condition: non_empty(&b.condition),
                hit_condition: non_empty(&b.hit_condition),
                log_message: None,
            })
            .collect();
        let invalid = self.check_expressions(&expressions).await?;
        let mut placed = Vec::new();
        for (requested, invalid) in args.breakpoints.iter().zip(invalid) {
            let id = self.breakpoints.next_id();
            let mut breakpoint = FunctionBreakpoint {
                id,
                spec: breakpoints::FunctionSpec {
                    module_atom: String::new(),
                    module_name: String::new(),
                    function: requested.name.clone(),
                    arity: None,
                },
                condition: non_empty(&requested.condition),
                hit_condition: non_empty(&requested.hit_condition),
                module: None,
                lines: Vec::new(),
                verified: false,
                message: None,
                invalid: None,
            };
            match parse_function_name(&requested.name) {
                Err(message) => breakpoint.message = Some(message),
                Ok(spec) if invalid.is_some() => {
                    breakpoint.spec = spec;
                    breakpoint.message = invalid.clone();
                    breakpoint.invalid = invalid;
                }
                Ok(spec) => {
                    breakpoint.spec = spec;
                    match self.place_function(&breakpoint.spec).await {
                        Ok(lines) => {
                            breakpoint.module = Some(breakpoint.spec.module_atom.clone());
                            breakpoint.lines = lines;
                            breakpoint.verified = true;
                        }
                        Err(message) => breakpoint.message = Some(message),
                    }
                }
            }
            placed.push(breakpoint);
        }
        let touched = self.breakpoints.replace_functions(placed.clone());
        self.sync_modules(touched).await?;
        let breakpoints: Vec<Breakpoint> = placed
            .iter()
            .map(|b| Breakpoint {
                id: b.id,
                verified: b.verified,
                message: b.message.clone(),
                source: None,
                line: b.lines.first().copied(),
            })
            .collect();
        Ok(json!({ "breakpoints": breakpoints }))
    }

    async fn place_function(&mut self, spec: &breakpoints::FunctionSpec) -> Result<Vec<i64>, String> {
        let Some(module) = self.registry.get(&spec.module_atom).cloned() else {
            return Err(format!("no module {} in this project", spec.module_name));
        };
        let arity = spec.arity.map_or(term::atom("any"), |a| term::int(i64::from(a)));
        let reply = self
            .agent
            .call(
                term::tuple(vec![
                    term::atom("function_lines"),
                    term::binary(&module.atom),
                    term::binary(&spec.function),
                    arity,
                ]),
                CALL_TIMEOUT,
            )
            .await
            .map_err(|e| e.to_string())?;
        let lines: Vec<i64> = reply
            .as_elements()
            .unwrap_or_default()
            .iter()
            .filter_map(TermExt::as_i64)
            .collect();
        if lines.is_empty() {
            let what = match spec.arity {
                Some(arity) => format!("{}.{}/{arity}", spec.module_name, spec.function),
                None => format!("{}.{}", spec.module_name, spec.function),
            };
            return Err(format!("{what} is not defined"));
        }
        if !self.selection.selects(&module) {
            return Err(self.selection.reason_not_selected(&module));
        }
        self.ensure_interpreted(&module.atom).await?;
        Ok(lines)
    }

    /// Sends the merged breakpoints of each module to the agent.
    async fn sync_modules(&mut self, modules: BTreeSet<String>) -> Result<(), RequestError> {
        for module in modules {
            if !self.registry.is_interpreted(&module) {
                continue;
            }
            let specs = self.breakpoints.module_specs(&module);
            let request = term::tuple(vec![
                term::atom("set_breakpoints"),
                term::binary(&module),
                term::list(specs.iter().map(agent_breakpoint).collect()),
            ]);
            self.agent
                .call(request, CALL_TIMEOUT)
                .await
                .map_err(|e| RequestError::Internal(format!("could not set breakpoints in {module}: {e}")))?;
        }
        Ok(())
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
            "continue" => ("continue", None),
            "next" => ("next", Some("step")),
            "stepIn" => ("step_in", Some("step")),
            _ => ("step_out", Some("step")),
        };
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
        self.call_command(&pid, "pause").await?;
        Ok(Value::Null)
    }

    async fn call_command(&self, pid: &Term, command: &str) -> Result<(), RequestError> {
        self.agent
            .call(
                term::tuple(vec![term::atom("command"), pid.clone(), term::atom(command)]),
                CALL_TIMEOUT,
            )
            .await
            .map(|_| ())
            .map_err(agent_error)
    }

    // -----------------------------------------------------------------------
    // Stack, scopes, variables, evaluate
    //
    // These are answered by tasks of their own ([`Later`]): each reads what
    // it needs from the thread table, asks the agent, and creates its ids
    // only if the thread is still in the same stop.

    pub fn stack_trace(&self, arguments: &Value) -> Result<Later, RequestError> {
        let args: StackTraceArguments =
            dap::parse_arguments(arguments).map_err(|e| RequestError::User(format!("stackTrace: {e}")))?;
        let thread_id = args.thread_id;
        let (request, generation) = {
            let table = self.threads.lock();
            let thread = table.stopped_thread(thread_id)?;
            (
                dbg::routed(thread, term::tuple(vec![term::atom("stack"), thread.pid.clone()])),
                thread.generation,
            )
        };
        let agent = self.agent.clone();
        let table = self.threads.clone();
        Ok(Box::pin(async move {
            let reply = agent.call(request, CALL_TIMEOUT).await.map_err(agent_error)?;
            let mut threads = table.lock();
            same_stop(&threads, thread_id, generation, "its stack was read")?;
            let all = reply.as_elements().unwrap_or_default();
            let start = args.start_frame.unwrap_or(0).max(0) as usize;
            let levels = match args.levels.unwrap_or(0) {
                n if n <= 0 => all.len(),
                n => n as usize,
            };
            let mut frames = Vec::new();
            for frame in all.iter().skip(start).take(levels) {
                let level = frame.get_i64("level").unwrap_or(0);
                let id = threads.new_frame(thread_id, level, generation);
                let module = frame.get_text("module_name").unwrap_or_default();
                let function = frame.get_text("function").unwrap_or_default();
                let arity = frame.get_i64("arity").unwrap_or(0);
                let source = frame
                    .get_text("source")
                    .filter(|s| !s.is_empty())
                    .map(|path| frame_source(&path));
                frames.push(StackFrame {
                    id,
                    name: frame
                        .get_text("name")
                        .unwrap_or_else(|| format!("{module}.{function}/{arity}")),
                    source,
                    line: frame.get_i64("line").unwrap_or(0),
                    // The interpreter knows lines only: the frame is at the
                    // line's first column (the client's 1 or 0: dap::Positions).
                    column: 1,
                });
            }
            Ok(json!({ "stackFrames": frames, "totalFrames": all.len() }))
        }))
    }

    pub fn scopes(&mut self, arguments: &Value) -> Handled {
        let args: ScopesArguments =
            dap::parse_arguments(arguments).map_err(|e| RequestError::User(format!("scopes: {e}")))?;
        let mut table = self.threads.lock();
        let frame = table.frame(args.frame_id)?;
        let variables = table.new_variables_ref(VariablesRef::Frame {
            thread: frame.thread,
            level: frame.level,
        });
        let process = table.new_variables_ref(VariablesRef::Process { thread: frame.thread });
        let scopes = vec![
            Scope {
                name: "Variables".into(),
                presentation_hint: Some("locals".into()),
                variables_reference: variables,
                named_variables: None,
                expensive: false,
            },
            Scope {
                name: "Process".into(),
                presentation_hint: None,
                variables_reference: process,
                named_variables: None,
                expensive: false,
            },
        ];
        Ok(json!({ "scopes": scopes }))
    }

    pub fn variables(&self, arguments: &Value) -> Result<Later, RequestError> {
        let args: VariablesArguments =
            dap::parse_arguments(arguments).map_err(|e| RequestError::User(format!("variables: {e}")))?;
        let start = args.start.unwrap_or(0).max(0);
        let count = args.count.unwrap_or(0).max(0);
        let (reference, request, generation) = {
            let table = self.threads.lock();
            let reference = table.variables_ref(args.variables_reference)?;
            let (request, generation) = match &reference {
                VariablesRef::Frame { thread, level } => {
                    let thread = table.stopped_thread(*thread)?;
                    (
                        dbg::routed(
                            thread,
                            term::tuple(vec![
                                term::atom("frame_variables"),
                                thread.pid.clone(),
                                term::int(*level),
                            ]),
                        ),
                        Some(thread.generation),
                    )
                }
                VariablesRef::Process { thread } => {
                    let thread = table.stopped_thread(*thread)?;
                    (
                        term::tuple(vec![term::atom("process_variables"), thread.pid.clone()]),
                        Some(thread.generation),
                    )
                }
                VariablesRef::Value { thread, handle } => (
                    term::tuple(vec![
                        term::atom("children"),
                        term::int(*handle),
                        term::int(start),
                        term::int(count),
                    ]),
                    (*thread != 0)
                        .then(|| table.thread(*thread).map(|t| t.generation))
                        .transpose()?,
                ),
            };
            (reference, request, generation)
        };
        let agent = self.agent.clone();
        let table = self.threads.clone();
        Ok(Box::pin(async move {
            let reply = agent.call(request, CALL_TIMEOUT).await.map_err(agent_error)?;
            let thread = match &reference {
                VariablesRef::Frame { thread, .. }
                | VariablesRef::Process { thread }
                | VariablesRef::Value { thread, .. } => *thread,
            };
            let mut threads = table.lock();
            if let Some(generation) = generation {
                same_stop(&threads, thread, generation, "its variables were read")?;
            }
            let elements = reply.as_elements().unwrap_or_default();
            let mut items: Vec<&Term> = elements.iter().collect();
            if !matches!(reference, VariablesRef::Value { .. }) {
                // The agent pages values; frames and process info are paged here.
                items = items.into_iter().skip(start as usize).collect();
                if count > 0 {
                    items.truncate(count as usize);
                }
            }
            let variables: Vec<Variable> = items
                .into_iter()
                .map(|item| variable(&mut threads, thread, item))
                .collect();
            Ok(json!({ "variables": variables }))
        }))
    }

    /// Evaluates in a process of the agent's (see `run_evaluation/5` in
    /// `elixir_dap_debugger.erl`). In the debug console (`context: "repl"`)
    /// an expression that reaches a breakpoint stops there as a thread of
    /// its own, and the answer says so at once; in a hover or a watch
    /// (any other context) breakpoints are run through.
    pub fn evaluate(&self, arguments: &Value) -> Result<Later, RequestError> {
        let args: EvaluateArguments =
            dap::parse_arguments(arguments).map_err(|e| RequestError::User(format!("evaluate: {e}")))?;
        let (thread, target, level, generation, request_of) = match args.frame_id {
            Some(frame_id) => {
                let table = self.threads.lock();
                let frame = table.frame(frame_id)?;
                let thread = table.stopped_thread(frame.thread)?;
                (
                    frame.thread,
                    thread.pid.clone(),
                    term::int(frame.level),
                    Some(frame.generation),
                    Some(thread.clone()),
                )
            }
            None => (0, term::atom("nil"), term::atom("nil"), None, None),
        };
        let context = args.context.clone().unwrap_or_else(|| "repl".to_owned());
        let timeout_ms = self.expression_timeout.as_millis() as i64;
        let evaluate = term::tuple(vec![
            term::atom("evaluate"),
            target,
            level,
            term::binary(&args.expression),
            term::int(timeout_ms),
            term::binary(&context),
        ]);
        let request = match &request_of {
            Some(thread) => dbg::routed(thread, evaluate),
            None => evaluate,
        };
        let agent = self.agent.clone();
        let table = self.threads.clone();
        let timeout = self.expression_timeout + CALL_TIMEOUT;
        Ok(Box::pin(async move {
            let reply = agent.call(request, timeout).await.map_err(agent_error)?;
            let mut threads = table.lock();
            if let Some(stop) = reply.get("paused") {
                return Err(RequestError::User(paused_evaluation(&mut threads, stop)));
            }
            if let Some(generation) = generation {
                same_stop(&threads, thread, generation, "the expression was evaluated")?;
            }
            let body = EvaluateResponseBody::from(variable(&mut threads, thread, &reply));
            Ok(serde_json::to_value(body).unwrap_or(Value::Null))
        }))
    }

    // -----------------------------------------------------------------------
    // Modules

    pub fn modules(&self) -> Handled {
        let modules: Vec<Value> = self
            .registry
            .all()
            .filter(|m| m.project || self.registry.is_interpreted(&m.atom))
            .map(|m| module_json(m, self.registry.is_interpreted(&m.atom)))
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
pub async fn interpret_call(agent: &AgentClient, modules: &[String]) -> Result<Term, AgentError> {
    let names = term::list(modules.iter().map(|m| term::binary(m)).collect());
    agent
        .call(term::tuple(vec![term::atom("interpret"), names]), INTERPRET_TIMEOUT)
        .await
}

/// Interprets modules the program may be running, with `:int.ni/1`.
async fn interpret_running_call(agent: &AgentClient, modules: &[String]) -> Result<Term, AgentError> {
    let names = term::list(modules.iter().map(|m| term::binary(m)).collect());
    agent
        .call(
            term::tuple(vec![term::atom("interpret_running"), names]),
            INTERPRET_TIMEOUT,
        )
        .await
}

/// The user's expressions of a breakpoint, as given (empty ones dropped).
struct Expressions {
    condition: Option<String>,
    hit_condition: Option<String>,
    log_message: Option<String>,
}

fn agent_breakpoint(spec: &AgentBreakpoint) -> Term {
    let optional = |value: &Option<String>| value.as_deref().map_or(term::atom("nil"), term::binary);
    term::map(vec![
        ("line", term::int(spec.line)),
        ("ids", term::list(spec.ids.iter().map(|id| term::int(*id)).collect())),
        ("kind", term::binary(spec.kind)),
        ("condition", optional(&spec.condition)),
        ("hit_condition", optional(&spec.hit_condition)),
        ("log_message", optional(&spec.log_message)),
    ])
}

/// A value from the agent as a DAP variable; values with children get a
/// `variablesReference` of `thread`'s (0: no thread).
fn variable(threads: &mut Threads, thread: i64, item: &Term) -> Variable {
    let handle = item.get_i64("handle").unwrap_or(0);
    let indexed = item.get_i64("indexed").unwrap_or(0);
    let named = item.get_i64("named").unwrap_or(0);
    let variables_reference = if handle > 0 {
        threads.new_variables_ref(VariablesRef::Value { thread, handle })
    } else {
        0
    };
    Variable {
        name: item.get_text("name").unwrap_or_default(),
        value: item.get_text("value").unwrap_or_default(),
        kind: item.get_text("type"),
        variables_reference,
        indexed_variables: (indexed > 0).then_some(indexed),
        named_variables: (named > 0).then_some(named),
    }
}

/// Fails when `thread` ran or ended while a request about it was answered
/// (`while` says what was being done).
fn same_stop(threads: &Threads, thread: i64, generation: u64, while_: &str) -> Result<(), RequestError> {
    let current = threads.stopped_thread(thread).map_err(|e| match e {
        RequestError::User(message) => RequestError::User(format!("{message} (it changed while {while_})")),
        other => other,
    })?;
    if current.generation != generation {
        return Err(RequestError::User(format!(
            "thread {thread} ({}) ran while {while_}: ask again",
            current.name
        )));
    }
    Ok(())
}

/// The answer to an evaluation that stopped at a breakpoint: its process is
/// a thread now (announced here if its `stopped` event is still on its way).
fn paused_evaluation(threads: &mut Threads, stop: &Term) -> String {
    let where_ = match (stop.get_text("function"), stop.get_text("source")) {
        (Some(function), Some(source)) if !source.is_empty() => {
            format!("{function} ({source}:{})", stop.get_i64("line").unwrap_or(0))
        }
        (Some(function), _) => function,
        _ => "a breakpoint".to_owned(),
    };
    let thread = stop
        .get("pid")
        .cloned()
        .map(|pid| format!("thread {}", threads.ensure_thread(pid, stop)))
        .unwrap_or_else(|| "a thread".to_owned());
    format!(
        "the expression stopped at a breakpoint in {where_}; it runs on as {thread}, which you can inspect, \
         step and continue (no time limit applies now); its value will be printed here when it finishes"
    )
}

fn agent_error(error: AgentError) -> RequestError {
    match error {
        AgentError::Failed { message, .. } => RequestError::User(message),
        other => RequestError::Internal(other.to_string()),
    }
}

fn module_info(term: &Term) -> Option<ModuleInfo> {
    let atom = term.get("module")?.as_atom()?.to_owned();
    let source = term
        .get_text("source")
        .filter(|s| !s.is_empty())
        .map(|s| canonical(Path::new(&s)));
    Some(ModuleInfo {
        name: term.get_text("name").unwrap_or_else(|| atom.clone()),
        atom,
        source,
        app: term.get_text("app").unwrap_or_default(),
        project: term.get("project").and_then(TermExt::as_bool).unwrap_or(false),
    })
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

/// A frame's source. Code a macro injected from a file that is not on this
/// machine (compiled elsewhere) keeps that file's name and lines: shown as
/// generated, with no path a client would fail to open.
fn frame_source(path: &str) -> Source {
    let name = Path::new(path).file_name().map(|n| n.to_string_lossy().into_owned());
    if Path::new(path).exists() {
        Source {
            name,
            path: Some(path.to_owned()),
            ..Source::default()
        }
    } else {
        Source {
            name,
            path: None,
            presentation_hint: Some("deemphasize".into()),
            origin: Some(format!("generated from {path}, which is not on this machine")),
        }
    }
}

fn non_empty(value: &Option<String>) -> Option<String> {
    value.as_ref().filter(|v| !v.trim().is_empty()).cloned()
}

/// Paths from the client and from the compiler are compared canonicalised,
/// so symlinks and `..` do not hide a match.
fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}
