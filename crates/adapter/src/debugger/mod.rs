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

use crate::client::Client;
use crate::session::RequestError;
use beam::term::{self, TermExt};
use beam::{AgentClient, AgentError, AgentEvent};
use breakpoints::{parse_function_name, AgentBreakpoint, BreakpointStore, FunctionBreakpoint, LineBreakpoint};
use dap::types::{
    Breakpoint, EvaluateArguments, OutputCategory, Scope, ScopesArguments, SetBreakpointsArguments,
    SetFunctionBreakpointsArguments, Source, StackFrame, StackTraceArguments, ThreadArguments, Variable,
    VariablesArguments,
};
use eetf::Term;
use modules::{ModuleInfo, ModuleRegistry, Selection};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

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

/// A debugged BEAM process the client has seen as a thread.
#[derive(Debug, Clone)]
struct Thread {
    pid: Term,
    name: String,
    /// Where it is stopped, if it is.
    stopped_at: Option<(String, i64)>,
    /// Why it will stop next: set by a step or a pause.
    pending_reason: Option<&'static str>,
    /// Stopped in a `dbg` call (see [`dbg`]) rather than by the interpreter.
    dbg: bool,
}

/// What a `variablesReference` stands for.
#[derive(Debug, Clone)]
enum VariablesRef {
    Frame {
        thread: i64,
        level: i64,
    },
    Process {
        thread: i64,
    },
    /// A value held by the agent under `handle`; `thread` is 0 for values
    /// from a frameless evaluate.
    Value {
        thread: i64,
        handle: i64,
    },
}

pub struct Debugger {
    agent: AgentClient,
    client: Client,
    selection: Selection,
    registry: ModuleRegistry,
    breakpoints: BreakpointStore,
    /// Lines where each module (atom) can stop, fetched once per module.
    breakable: HashMap<String, BTreeSet<i64>>,
    threads: BTreeMap<i64, Thread>,
    thread_by_pid: HashMap<Term, i64>,
    next_thread_id: i64,
    frames: HashMap<i64, (i64, i64)>,
    variables: HashMap<i64, VariablesRef>,
    next_ref: i64,
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
            client,
            selection,
            registry: ModuleRegistry::new(modules),
            breakpoints: BreakpointStore::default(),
            breakable: HashMap::new(),
            threads: BTreeMap::new(),
            thread_by_pid: HashMap::new(),
            next_thread_id: 0,
            frames: HashMap::new(),
            variables: HashMap::new(),
            next_ref: 0,
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
        let mut placed = Vec::new();
        for requested in &args.breakpoints {
            let id = self.breakpoints.next_id();
            let (module, message) = self.place_line(&modules, requested.line).await;
            placed.push(LineBreakpoint {
                id,
                line: requested.line,
                condition: non_empty(&requested.condition),
                hit_condition: non_empty(&requested.hit_condition),
                log_message: non_empty(&requested.log_message),
                verified: module.is_some(),
                module,
                message,
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

    /// Finds the module of `modules` with code on `line`, interpreting it if
    /// needed; otherwise says why the breakpoint cannot be verified.
    async fn place_line(&mut self, modules: &[ModuleInfo], line: i64) -> (Option<String>, Option<String>) {
        if modules.is_empty() {
            return (None, Some("no compiled module comes from this file".into()));
        }
        for module in modules {
            let lines = match self.breakable_lines(&module.atom).await {
                Ok(lines) => lines,
                Err(message) => return (None, Some(message)),
            };
            if !lines.contains(&line) {
                continue;
            }
            if !self.selection.selects(module) {
                return (None, Some(self.selection.reason_not_selected(module)));
            }
            if let Err(message) = self.ensure_interpreted(&module.atom).await {
                return (None, Some(message));
            }
            return (Some(module.atom.clone()), None);
        }
        (None, Some(format!("no code on line {line}")))
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
        let mut placed = Vec::new();
        for requested in &args.breakpoints {
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
            };
            match parse_function_name(&requested.name) {
                Err(message) => breakpoint.message = Some(message),
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
        let threads: Vec<Value> = self
            .threads
            .iter()
            .map(|(id, t)| json!({ "id": id, "name": t.name }))
            .collect();
        Ok(json!({ "threads": threads }))
    }

    fn thread(&self, id: i64) -> Result<&Thread, RequestError> {
        self.threads
            .get(&id)
            .ok_or_else(|| RequestError::User(format!("no thread with id {id}")))
    }

    fn stopped_thread(&self, id: i64) -> Result<&Thread, RequestError> {
        let thread = self.thread(id)?;
        if thread.stopped_at.is_none() {
            return Err(RequestError::User(format!(
                "thread {id} ({}) is running, not stopped",
                thread.name
            )));
        }
        Ok(thread)
    }

    /// `continue`, `next`, `stepIn`, `stepOut`.
    pub async fn resume(&mut self, command: &str, arguments: &Value) -> Handled {
        let args: ThreadArguments =
            dap::parse_arguments(arguments).map_err(|e| RequestError::User(format!("{command}: {e}")))?;
        let pid = self.stopped_thread(args.thread_id)?.pid.clone();
        if self.is_dbg_stop(args.thread_id) {
            return self.resume_dbg(command, args.thread_id, pid).await;
        }
        let (agent_command, reason) = match command {
            "continue" => ("continue", None),
            "next" => ("next", Some("step")),
            "stepIn" => ("step_in", Some("step")),
            _ => ("step_out", Some("step")),
        };
        self.call_command(&pid, agent_command).await?;
        self.forget_thread_refs(args.thread_id);
        if let Some(thread) = self.threads.get_mut(&args.thread_id) {
            thread.stopped_at = None;
            thread.pending_reason = reason;
        }
        Ok(if command == "continue" {
            json!({ "allThreadsContinued": false })
        } else {
            Value::Null
        })
    }

    pub async fn pause(&mut self, arguments: &Value) -> Handled {
        let args: ThreadArguments =
            dap::parse_arguments(arguments).map_err(|e| RequestError::User(format!("pause: {e}")))?;
        let thread = self.thread(args.thread_id)?;
        if thread.stopped_at.is_some() {
            return Ok(Value::Null);
        }
        let pid = thread.pid.clone();
        self.call_command(&pid, "pause").await?;
        if let Some(thread) = self.threads.get_mut(&args.thread_id) {
            thread.pending_reason = Some("pause");
        }
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

    /// Handles the agent's debugger events; returns false for other events.
    pub fn on_agent_event(&mut self, event: &AgentEvent) -> bool {
        match event.name.as_str() {
            "stopped" => self.on_stopped(&event.data),
            "dbg_stopped" => self.on_dbg_stopped(&event.data),
            "thread_exited" => {
                if let Some(pid) = event.data.get("pid") {
                    if let Some(id) = self.thread_by_pid.remove(pid) {
                        self.threads.remove(&id);
                        self.forget_thread_refs(id);
                        self.client
                            .event("thread", json!({ "reason": "exited", "threadId": id }));
                    }
                }
            }
            "log" => {
                let text = event.data.get_text("text").unwrap_or_default();
                self.client.output(OutputCategory::Console, format!("{text}\n"));
            }
            "condition_error" | "log_error" => {
                let expression = event.data.get_text("expression").unwrap_or_default();
                let message = event.data.get_text("message").unwrap_or_default();
                let module = event.data.get("module").and_then(TermExt::as_atom).unwrap_or_default();
                let line = event.data.get_i64("line").unwrap_or(0);
                let name = self.registry.get(module).map_or(module.to_owned(), |m| m.name.clone());
                self.client.console(format!(
                    "elixir-dap: breakpoint at {name}:{line}: could not evaluate {expression:?}: {message}"
                ));
            }
            _ => return false,
        }
        true
    }

    fn on_stopped(&mut self, data: &Term) {
        let Some((pid, module, line)) = stop_location(data) else {
            return;
        };
        let id = self.ensure_thread(pid, data);
        let pending = self.threads.get_mut(&id).and_then(|t| {
            t.stopped_at = Some((module.clone(), line));
            t.dbg = false;
            t.pending_reason.take()
        });
        let (reason, hit_ids) = match pending {
            Some(reason) => (reason, Vec::new()),
            None => self.breakpoints.stop_reason(&module, line),
        };
        let mut body =
            json!({ "reason": reason, "threadId": id, "allThreadsStopped": false, "preserveFocusHint": false });
        if !hit_ids.is_empty() {
            body["hitBreakpointIds"] = json!(hit_ids);
        }
        self.client.event("stopped", body);
    }

    /// The thread of a stopped process (`pid` and `name` in `data`),
    /// announced with a `thread` event the first time it stops.
    fn ensure_thread(&mut self, pid: Term, data: &Term) -> i64 {
        if let Some(id) = self.thread_by_pid.get(&pid) {
            return *id;
        }
        let name = data.get_text("name").unwrap_or_else(|| pid.to_string());
        self.next_thread_id += 1;
        let id = self.next_thread_id;
        self.thread_by_pid.insert(pid.clone(), id);
        self.threads.insert(
            id,
            Thread {
                pid,
                name,
                stopped_at: None,
                pending_reason: None,
                dbg: false,
            },
        );
        self.client
            .event("thread", json!({ "reason": "started", "threadId": id }));
        id
    }

    // -----------------------------------------------------------------------
    // Stack, scopes, variables

    pub async fn stack_trace(&mut self, arguments: &Value) -> Handled {
        let args: StackTraceArguments =
            dap::parse_arguments(arguments).map_err(|e| RequestError::User(format!("stackTrace: {e}")))?;
        let pid = self.stopped_thread(args.thread_id)?.pid.clone();
        let request = self.routed(args.thread_id, term::tuple(vec![term::atom("stack"), pid]));
        let reply = self.agent.call(request, CALL_TIMEOUT).await.map_err(agent_error)?;
        let all = reply.as_elements().unwrap_or_default();
        let all: &[Term] = &all;
        let start = args.start_frame.unwrap_or(0).max(0) as usize;
        let levels = match args.levels.unwrap_or(0) {
            n if n <= 0 => all.len(),
            n => n as usize,
        };
        let mut frames = Vec::new();
        for frame in all.iter().skip(start).take(levels) {
            let level = frame.get_i64("level").unwrap_or(0);
            let id = self.new_ref();
            self.frames.insert(id, (args.thread_id, level));
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
    }

    pub fn scopes(&mut self, arguments: &Value) -> Handled {
        let args: ScopesArguments =
            dap::parse_arguments(arguments).map_err(|e| RequestError::User(format!("scopes: {e}")))?;
        let (thread, level) = *self.frames.get(&args.frame_id).ok_or_else(|| {
            RequestError::User(format!("no frame with id {} (has the thread resumed?)", args.frame_id))
        })?;
        let variables = self.new_variables_ref(VariablesRef::Frame { thread, level });
        let process = self.new_variables_ref(VariablesRef::Process { thread });
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

    pub async fn variables(&mut self, arguments: &Value) -> Handled {
        let args: VariablesArguments =
            dap::parse_arguments(arguments).map_err(|e| RequestError::User(format!("variables: {e}")))?;
        let reference = self.variables.get(&args.variables_reference).cloned().ok_or_else(|| {
            RequestError::User(format!(
                "no variables with reference {} (has the thread resumed?)",
                args.variables_reference
            ))
        })?;
        let start = args.start.unwrap_or(0).max(0);
        let count = args.count.unwrap_or(0).max(0);
        let (thread, request) = match &reference {
            VariablesRef::Frame { thread, level } => (
                *thread,
                self.routed(
                    *thread,
                    term::tuple(vec![
                        term::atom("frame_variables"),
                        self.thread(*thread)?.pid.clone(),
                        term::int(*level),
                    ]),
                ),
            ),
            VariablesRef::Process { thread } => (
                *thread,
                term::tuple(vec![term::atom("process_variables"), self.thread(*thread)?.pid.clone()]),
            ),
            VariablesRef::Value { thread, handle } => (
                *thread,
                term::tuple(vec![
                    term::atom("children"),
                    term::int(*handle),
                    term::int(start),
                    term::int(count),
                ]),
            ),
        };
        let reply = self.agent.call(request, CALL_TIMEOUT).await.map_err(agent_error)?;
        let elements = reply.as_elements().unwrap_or_default();
        let mut items: Vec<&Term> = elements.iter().collect();
        if !matches!(reference, VariablesRef::Value { .. }) {
            // The agent pages values; frames and process info are paged here.
            items = items.into_iter().skip(start as usize).collect();
            if count > 0 {
                items.truncate(count as usize);
            }
        }
        let variables: Vec<Variable> = items.into_iter().map(|item| self.variable(thread, item)).collect();
        Ok(json!({ "variables": variables }))
    }

    fn variable(&mut self, thread: i64, item: &Term) -> Variable {
        let handle = item.get_i64("handle").unwrap_or(0);
        let indexed = item.get_i64("indexed").unwrap_or(0);
        let named = item.get_i64("named").unwrap_or(0);
        let variables_reference = if handle > 0 {
            self.new_variables_ref(VariablesRef::Value { thread, handle })
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

    pub async fn evaluate(&mut self, arguments: &Value) -> Handled {
        let args: EvaluateArguments =
            dap::parse_arguments(arguments).map_err(|e| RequestError::User(format!("evaluate: {e}")))?;
        let (thread, target, level) = match args.frame_id {
            Some(frame_id) => {
                let (thread, level) = *self.frames.get(&frame_id).ok_or_else(|| {
                    RequestError::User(format!("no frame with id {frame_id} (has the thread resumed?)"))
                })?;
                (thread, self.stopped_thread(thread)?.pid.clone(), term::int(level))
            }
            None => (0, term::atom("nil"), term::atom("nil")),
        };
        let timeout_ms = self.expression_timeout.as_millis() as i64;
        let request = self.routed(
            thread,
            term::tuple(vec![
                term::atom("evaluate"),
                target,
                level,
                term::binary(&args.expression),
                term::int(timeout_ms),
            ]),
        );
        let reply = self
            .agent
            .call(request, self.expression_timeout + CALL_TIMEOUT)
            .await
            .map_err(|e| match e {
                AgentError::Failed { message, .. } => RequestError::User(message),
                other => RequestError::Internal(other.to_string()),
            })?;
        let variable = self.variable(thread, &reply);
        Ok(json!({
            "result": variable.value,
            "type": variable.kind,
            "variablesReference": variable.variables_reference,
            "indexedVariables": variable.indexed_variables,
            "namedVariables": variable.named_variables,
        }))
    }

    fn new_ref(&mut self) -> i64 {
        self.next_ref += 1;
        self.next_ref
    }

    fn new_variables_ref(&mut self, reference: VariablesRef) -> i64 {
        let id = self.new_ref();
        self.variables.insert(id, reference);
        id
    }

    fn forget_thread_refs(&mut self, thread: i64) {
        self.frames.retain(|_, (t, _)| *t != thread);
        self.variables.retain(|_, r| match r {
            VariablesRef::Frame { thread: t, .. }
            | VariablesRef::Process { thread: t }
            | VariablesRef::Value { thread: t, .. } => *t != thread,
        });
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

/// The pid, module (atom) and line of a stop event from the agent.
fn stop_location(data: &Term) -> Option<(Term, String, i64)> {
    let pid = data.get("pid").cloned()?;
    let module = data
        .get("module")
        .and_then(TermExt::as_atom)
        .unwrap_or_default()
        .to_owned();
    Some((pid, module, data.get_i64("line").unwrap_or(0)))
}

fn agent_breakpoint(spec: &AgentBreakpoint) -> Term {
    let optional = |value: &Option<String>| value.as_deref().map_or(term::atom("nil"), term::binary);
    term::map(vec![
        ("line", term::int(spec.line)),
        ("condition", optional(&spec.condition)),
        ("hit_condition", optional(&spec.hit_condition)),
        ("log_message", optional(&spec.log_message)),
    ])
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
