//! One debug session: the request dispatcher and the state it keeps.
//!
//! Requests are handled in order. Each handler returns a body or a
//! [`RequestError`]; [`Session::respond`] is the only place that turns those
//! into responses. Requests that wait on the debugged program
//! (`stackTrace`, `variables`, `evaluate`) are answered by tasks of their own
//! ([`debugger::Later`]), so that an evaluation running for seconds holds up
//! neither the requests after it nor anything the program does meanwhile.
//!
//! Events from the VM (its output, agent events, its exit) arrive on a second
//! channel. A pump task forwards the VM's output straight to the client, and
//! turns the debugger's events (stops, threads that end, logpoints) into DAP
//! events through the shared thread table ([`debugger::threads`]), so none of
//! them waits for a request, however long it runs (a launch compiling the
//! project, a reload). The other events are handled by the session between
//! requests.
//!
//! `launch` is answered as soon as the VM is up: clients warn about an
//! adapter that takes seconds to answer it (nvim-dap after 4 s), and Mix's
//! compile can take minutes. The compile goes on in the background, shown by
//! progress events; `initialized` follows when the project is loaded, or the
//! failure and `terminated`. A request that needs the loaded program (from a
//! client that does not wait for `initialized`) waits for it.
//!
//! Ending: the `disconnect` response is written before `exited` and
//! `terminated`, which some clients (nvim-dap) answer by closing the
//! adapter's input and interrupting it.
//!
//! Stopping always works: while a request (or a reload on save) is being
//! handled, the session keeps reading the client. A `disconnect` or
//! `terminate`, or the end of the client's input, cancels the work in
//! progress (its request is answered with an error saying so) and is handled
//! at once, whatever the VM is doing; other requests wait their turn.

mod attach;
mod external;
mod on_save;
mod reload;

use crate::client::Client;
use crate::debugger::threads::ThreadTable;
use crate::debugger::{self, Debugger, DebuggerConfig};
use crate::launch::{self, LaunchConfig};
use beam::term::{self, TermExt};
use beam::{AgentError, AgentEvent, Debuggee, DebuggeeEvent, OutputStream, VmSpec};
use dap::types::{
    Capabilities, DisconnectArguments, ExitedEventBody, InitializeArguments, OutputCategory, ProcessEventBody,
};
use dap::{parse_arguments, Incoming, Positions, Request, Response};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

/// How long the VM may take to boot and connect its agent.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
/// Compiling a large project at launch can take minutes (a cold compile of
/// 2 000 modules takes about 2 min on 2 cores); `disconnect` ends it sooner.
const LOAD_PROJECT_TIMEOUT: Duration = Duration::from_secs(15 * 60);
const AGENT_CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a killed VM may take to exit and flush its output before
/// `disconnect` is answered anyway (the whole stop fits in 2 s).
const EXIT_TIMEOUT: Duration = Duration::from_millis(1500);
/// How long the agent may take to acknowledge `detach`.
const DETACH_TIMEOUT: Duration = Duration::from_secs(1);
/// Program output chunks (16 KiB each) between the VM's pipes and the pump:
/// with the client's own budget, what bounds the adapter's memory.
const VM_EVENT_QUEUE: usize = 16;

/// Settings of the adapter process that every session shares.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Relative `projectDir` values are resolved against this directory.
    pub cwd: PathBuf,
    /// Where the agent's compiled code is cached (private to the user).
    pub cache_root: PathBuf,
    /// The executable that runs the session keeper ([`beam::keeper`]).
    pub keeper: PathBuf,
}

/// Why a request failed. The message is shown to the user as it is, so it
/// says what was wrong and, for arguments, which attribute.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The user's input or program is at fault: bad arguments, compile errors.
    #[error("{0}")]
    User(String),
    /// Something failed inside the adapter or the VM.
    #[error("internal error: {0}")]
    Internal(String),
}

type Handled = Result<Option<Value>, RequestError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    End,
}

/// Every command [`Session::dispatch`] handles. Capabilities advertised in
/// `initialize` must only name requests listed here (checked by a test).
pub const SUPPORTED_COMMANDS: &[&str] = &[
    "initialize",
    "launch",
    "attach",
    "configurationDone",
    "disconnect",
    "terminate",
    "threads",
    "setBreakpoints",
    "setFunctionBreakpoints",
    "setExceptionBreakpoints",
    "stackTrace",
    "scopes",
    "variables",
    "evaluate",
    "continue",
    "next",
    "stepIn",
    "stepOut",
    "pause",
    "modules",
    "loadedSources",
    "reloadCode",
];

pub fn capabilities() -> Capabilities {
    Capabilities {
        supports_configuration_done_request: Some(true),
        supports_terminate_request: Some(true),
        support_terminate_debuggee: Some(true),
        supports_conditional_breakpoints: Some(true),
        supports_hit_conditional_breakpoints: Some(true),
        supports_log_points: Some(true),
        supports_function_breakpoints: Some(true),
        supports_evaluate_for_hovers: Some(true),
        supports_modules_request: Some(true),
        supports_loaded_sources_request: Some(true),
        supports_delayed_stack_trace_loading: Some(true),
        supports_reload_code: Some(true),
    }
}

/// A launch answered and still loading the project (Mix's compile).
struct Launching {
    config: LaunchConfig,
    break_on_dbg: bool,
    compile_started: std::time::SystemTime,
    progress: Option<String>,
    loaded: oneshot::Receiver<Result<eetf::Term, AgentError>>,
}

/// The result of loading the project, as the launch's background call ends.
type Loaded = Result<Result<eetf::Term, AgentError>, oneshot::error::RecvError>;

/// Requests answered while the project is still loading; every other request
/// waits for the launch to finish first.
const ANSWERED_WHILE_LOADING: &[&str] = &["initialize", "launch", "attach", "disconnect", "terminate", "threads"];

/// The program launched in this session.
struct Program {
    config: LaunchConfig,
    /// The Mix task after resolving the project's default.
    task: String,
    started: bool,
}

pub struct Session {
    client: Client,
    options: SessionOptions,
    client_supports_progress: bool,
    debuggee: Option<Debuggee>,
    program: Option<Program>,
    /// Absent with `noDebug` and before launch.
    debugger: Option<Debugger>,
    vm_events: mpsc::UnboundedReceiver<DebuggeeEvent>,
    vm_events_tx: mpsc::UnboundedSender<DebuggeeEvent>,
    pump: Option<tokio::task::JoinHandle<()>>,
    /// The launch whose project is still loading.
    launching: Option<Launching>,
    /// The thread table the pump hands the debugger's events to, once the
    /// debugger has started.
    pump_threads: Arc<Mutex<Option<ThreadTable>>>,
    /// Requests answered by tasks of their own, and their (seq, command)
    /// until answered.
    later: JoinSet<(Request, Result<Option<Value>, RequestError>)>,
    later_pending: Vec<(i64, String)>,
    /// Changes when a thread stops or ends (saves held back by a step
    /// are reloaded once it has ended).
    stop_epoch: Option<tokio::sync::watch::Receiver<u64>>,
    /// The program's end has been reported (or is held for the `disconnect`
    /// response); the session only waits for disconnect.
    terminated: bool,
    /// The `terminated` event has been sent.
    terminated_sent: bool,
    /// A `disconnect` is being handled: `exited` and `terminated` wait until
    /// its response has been written.
    disconnecting: bool,
    /// The exit status to report after the `disconnect` response.
    held_exit_code: Option<i64>,
    /// `terminate` was asked for: the VM's end is no failure.
    stop_requested: bool,
    next_progress_id: u64,
    /// Progress shown and not ended yet: ended by hand when its request is cancelled.
    open_progress: Vec<String>,
    /// Code reload: the manager and the overlay directory, from launch on.
    reload: Option<reload::ReloadState>,
    /// The file watcher of `reloadOnSave`.
    save_watch: Option<on_save::SaveWatch>,
    /// The node of an `attach` session (the debuggee is then its helper VM).
    attached: Option<attach::Attached>,
}

impl Session {
    pub fn new(client: Client, options: SessionOptions) -> Self {
        let (vm_events_tx, vm_events) = mpsc::unbounded_channel();
        Session {
            client,
            options,
            client_supports_progress: false,
            debuggee: None,
            program: None,
            debugger: None,
            vm_events,
            vm_events_tx,
            pump: None,
            launching: None,
            pump_threads: Arc::default(),
            later: JoinSet::new(),
            later_pending: Vec::new(),
            stop_epoch: None,
            terminated: false,
            terminated_sent: false,
            disconnecting: false,
            held_exit_code: None,
            stop_requested: false,
            next_progress_id: 0,
            open_progress: Vec::new(),
            reload: None,
            save_watch: None,
            attached: None,
        }
    }

    /// Runs until the client disconnects or closes its stream.
    pub async fn run(mut self, requests: mpsc::Receiver<Incoming>) {
        let mut inbox = Inbox::new(requests);
        loop {
            let work = tokio::select! {
                incoming = inbox.next() => match incoming {
                    Some(incoming) => Work::Incoming(incoming),
                    None => {
                        tracing::info!("the client closed the stream; ending the session");
                        break;
                    }
                },
                Some(event) = self.vm_events.recv() => Work::Vm(event),
                Some(batch) = on_save::next_batch(&mut self.save_watch) => Work::Saved(batch),
                loaded = next_loaded(&mut self.launching) => Work::Loaded(loaded),
                Some(()) = epoch_changed(&mut self.stop_epoch) => Work::Stopped,
                Some(done) = self.later.join_next(), if !self.later.is_empty() => Work::Answered(done),
            };
            let flow = match work {
                Work::Incoming(Incoming::Request(request)) => self.serve(request, &mut inbox).await,
                Work::Incoming(Incoming::Malformed { seq, command, reason }) => {
                    self.malformed(seq, command, reason);
                    Flow::Continue
                }
                Work::Vm(event) => {
                    let handled = inbox
                        .race(async {
                            self.handle_vm_event(event).await;
                            // Saves held back by a step go once the step has ended.
                            self.reload_pending_saves().await;
                        })
                        .await;
                    self.after_interruptible(handled.err(), "handling the VM's events")
                        .await
                }
                Work::Saved(batch) => {
                    let reloaded = inbox.race(self.on_saved(batch)).await;
                    self.after_interruptible(reloaded.err(), "the reload on save").await
                }
                Work::Loaded(loaded) => {
                    let finished = inbox.race(self.finish_launch(loaded)).await;
                    self.after_interruptible(finished.err(), "starting the program").await
                }
                Work::Stopped => {
                    // Saves held back by a step go once the step has ended
                    // (stops reach the thread table through the pump).
                    let reloaded = inbox.race(self.reload_pending_saves()).await;
                    self.after_interruptible(reloaded.err(), "the reload on save").await
                }
                Work::Answered(Ok((request, result))) => {
                    self.later_pending.retain(|(seq, _)| *seq != request.seq);
                    self.respond(&request, result)
                }
                Work::Answered(Err(error)) => {
                    tracing::error!(%error, "a request's task failed");
                    Flow::Continue
                }
            };
            if flow == Flow::End {
                break;
            }
        }
        // Only `disconnect` (which cancels them itself) and the end of the
        // input end the loop: requests still answered by their tasks are
        // cancelled by the latter, those that wait their turn are refused.
        self.cancel_later(Interrupt::InputClosed.describe());
        inbox.refuse_backlog(&self.client);
        self.shutdown().await;
    }

    /// Cancels the requests still answered by their tasks, each answered
    /// with an error saying what cancelled it, as a request in progress is.
    fn cancel_later(&mut self, by: &str) {
        // Dropping the set aborts its tasks (and forgets them: none is joined).
        drop(std::mem::take(&mut self.later));
        for (seq, command) in std::mem::take(&mut self.later_pending) {
            tracing::info!(%command, by, "request cancelled");
            self.client
                .respond(Response::error(seq, &command, &format!("{command}: cancelled by {by}")));
        }
    }

    /// Handles one request, answering it, while watching the client for a
    /// request that ends the work in progress (see [`Inbox::race`]).
    async fn serve(&mut self, mut request: Request, inbox: &mut Inbox) -> Flow {
        tracing::debug!(seq = request.seq, command = %request.command, "request");
        self.client.positions().from_client(&mut request);
        if self.launching.is_some() && !ANSWERED_WHILE_LOADING.contains(&request.command.as_str()) {
            // A request that needs the loaded program waits for it.
            if let Err(interrupt) = inbox.race(self.await_launch()).await {
                return self.interrupted(&request, interrupt).await;
            }
        }
        match self.answer_later(&request) {
            Some(Ok(later)) => {
                self.later_pending.push((request.seq, request.command.clone()));
                self.later.spawn(async move {
                    let result = later.await.map(Some);
                    (request, result)
                });
                return Flow::Continue;
            }
            Some(Err(error)) => return self.respond(&request, Err(error)),
            None => {}
        }
        match inbox.race(self.dispatch(&request)).await {
            Ok(result) => self.respond(&request, result),
            Err(interrupt) => self.interrupted(&request, interrupt).await,
        }
    }

    /// A request cancelled by `interrupt`: answered with an error saying so,
    /// then the interrupt is handled.
    async fn interrupted(&mut self, request: &Request, interrupt: Interrupt) -> Flow {
        self.cancelled(&request.command);
        let by = interrupt.describe();
        tracing::info!(command = %request.command, by, "request cancelled");
        self.client.respond(Response::error(
            request.seq,
            &request.command,
            &format!("{}: cancelled by {by}", request.command),
        ));
        self.on_interrupt(interrupt).await
    }

    /// After work that was not a request: an interrupt may have cancelled it.
    async fn after_interruptible(&mut self, interrupt: Option<Interrupt>, what: &str) -> Flow {
        match interrupt {
            None => Flow::Continue,
            Some(interrupt) => {
                tracing::info!(what, by = interrupt.describe(), "work cancelled");
                self.cancelled("");
                self.on_interrupt(interrupt).await
            }
        }
    }

    /// Handles what interrupted the work in progress. `disconnect` and
    /// `terminate` are handled without watching for further interrupts: they
    /// are bounded themselves.
    async fn on_interrupt(&mut self, interrupt: Interrupt) -> Flow {
        match interrupt {
            Interrupt::Request(mut request) => {
                self.client.positions().from_client(&mut request);
                let result = self.dispatch(&request).await;
                self.respond(&request, result)
            }
            Interrupt::InputClosed => {
                tracing::info!("the client closed the stream; ending the session");
                Flow::End
            }
        }
    }

    /// Undoes what a cancelled handler left half done: a launch that did not
    /// finish is a failed launch (its VM goes), and its progress ends.
    fn cancelled(&mut self, command: &str) {
        if let Some(debugger) = &self.debugger {
            debugger.after_response();
        }
        for id in std::mem::take(&mut self.open_progress) {
            self.client
                .event("progressEnd", json!({ "progressId": id, "message": "cancelled" }));
        }
        if command == "launch" && self.program.is_none() {
            if let Some(mut debuggee) = self.debuggee.take() {
                debuggee.terminate();
            }
        }
    }

    /// A message that is not a usable request: answered if it has a `seq`.
    fn malformed(&mut self, seq: Option<i64>, command: Option<String>, reason: String) {
        match seq {
            Some(seq) => {
                let command = command.unwrap_or_default();
                tracing::warn!(seq, %reason, "malformed request");
                self.client
                    .respond(Response::error(seq, &command, &format!("malformed request: {reason}")));
            }
            None => {
                tracing::warn!(%reason, "skipped a message without a readable seq");
                self.client.console(format!("elixir-dap: skipped a message: {reason}"));
            }
        }
    }

    /// The one place that answers requests.
    fn respond(&mut self, request: &Request, result: Handled) -> Flow {
        match result {
            // A reload that changed nothing because of an error fails, but
            // its body still carries the whole report.
            Ok(Some(Value::Object(mut report))) if report.get("success") == Some(&Value::Bool(false)) => {
                let message = report
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("failed")
                    .to_owned();
                let mut response = Response::error(request.seq, &request.command, &message);
                if let Some(Value::Object(mut error)) = response.body.take() {
                    // The `codeReloaded` event and a console line report it
                    // already: VS Code would show this as a second notification.
                    if let Some(Value::Object(shown)) = error.get_mut("error") {
                        shown.insert("showUser".into(), Value::Bool(false));
                    }
                    report.extend(error);
                }
                response.body = Some(Value::Object(report));
                self.client.respond(response);
            }
            Ok(body) => self
                .client
                .respond(Response::success(request.seq, &request.command, body)),
            Err(error) => {
                tracing::info!(command = %request.command, %error, "request failed");
                self.client
                    .respond(Response::error(request.seq, &request.command, &error.to_string()));
            }
        }
        // Events held while a resume was answered follow its response.
        if let Some(debugger) = &self.debugger {
            debugger.after_response();
        }
        if request.command == "disconnect" {
            // After the response: a client may end everything on `terminated`.
            self.announce_held_end();
            return Flow::End;
        }
        Flow::Continue
    }

    async fn dispatch(&mut self, request: &Request) -> Handled {
        match request.command.as_str() {
            "initialize" => self.initialize(&request.arguments),
            "launch" => self.launch(&request.arguments).await,
            "attach" => self.attach(&request.arguments).await,
            "configurationDone" => self.configuration_done().await,
            "disconnect" => self.disconnect(&request.arguments).await,
            "terminate" => self.terminate(),
            "setExceptionBreakpoints" => Ok(None),
            "threads" => match &self.debugger {
                Some(debugger) => debugger.threads().map(Some),
                None => Ok(Some(json!({ "threads": [] }))),
            },
            "setBreakpoints" if self.runs_without_debugging() => Ok(Some(unverified_breakpoints(&request.arguments))),
            "setBreakpoints" => self
                .debugger(&request.command)?
                .set_breakpoints(&request.arguments)
                .await
                .map(Some),
            "setFunctionBreakpoints" => self
                .debugger(&request.command)?
                .set_function_breakpoints(&request.arguments)
                .await
                .map(Some),
            // Answered by a task of their own (`answer_later`); here only
            // when called directly.
            "stackTrace" | "variables" | "evaluate" => match self.answer_later(request) {
                Some(later) => later?.await.map(Some),
                None => Ok(None),
            },
            "scopes" => self.debugger(&request.command)?.scopes(&request.arguments).map(Some),
            "continue" | "next" | "stepIn" | "stepOut" => {
                let command = request.command.clone();
                self.debugger(&command)?
                    .resume(&command, &request.arguments)
                    .await
                    .map(non_null)
            }
            "pause" => self
                .debugger(&request.command)?
                .pause(&request.arguments)
                .await
                .map(non_null),
            "modules" => match &self.debugger {
                Some(debugger) => debugger.modules().map(Some),
                None => Ok(Some(json!({ "modules": [], "totalModules": 0 }))),
            },
            "loadedSources" => match &self.debugger {
                Some(debugger) => debugger.loaded_sources().map(Some),
                None => Ok(Some(json!({ "sources": [] }))),
            },
            "reloadCode" => {
                if request.arguments.get("files").is_none()
                    && request.arguments.get("dryRun") != Some(&Value::Bool(true))
                {
                    self.forget_pending_saves();
                }
                self.reload_code(&request.arguments, "request").await.map(Some)
            }
            other => Err(RequestError::User(format!("unknown request `{other}`"))),
        }
    }

    /// The requests answered by a task of their own (see the module's docs);
    /// `None` for the others.
    fn answer_later(&mut self, request: &Request) -> Option<Result<debugger::Later, RequestError>> {
        let command = request.command.as_str();
        if !matches!(command, "stackTrace" | "variables" | "evaluate") {
            return None;
        }
        Some(self.debugger(command).and_then(|debugger| match command {
            "stackTrace" => debugger.stack_trace(&request.arguments),
            "variables" => debugger.variables(&request.arguments),
            _ => debugger.evaluate(&request.arguments),
        }))
    }

    fn runs_without_debugging(&self) -> bool {
        self.program.as_ref().is_some_and(|p| p.config.args.no_debug)
    }

    /// The debugger, or an error saying why there is none.
    fn debugger(&mut self, command: &str) -> Result<&mut Debugger, RequestError> {
        match (&mut self.debugger, &self.program) {
            (Some(debugger), _) => Ok(debugger),
            (None, Some(program)) if program.config.args.no_debug => Err(RequestError::User(format!(
                "{command}: the program runs without debugging (`noDebug`)"
            ))),
            (None, _) => Err(RequestError::User(format!(
                "{command}: no program is being debugged; launch one first"
            ))),
        }
    }

    fn initialize(&mut self, arguments: &Value) -> Handled {
        let args: InitializeArguments =
            parse_arguments(arguments).map_err(|e| RequestError::User(format!("initialize: {e}")))?;
        self.client_supports_progress = args.supports_progress_reporting.unwrap_or(false);
        self.client
            .set_extension_events(crate::client::extension_events_for(args.client_id.as_deref()));
        let positions = Positions {
            lines_start_at1: args.lines_start_at1.unwrap_or(true),
            columns_start_at1: args.columns_start_at1.unwrap_or(true),
        };
        tracing::info!(
            client = ?args.client_name,
            client_id = ?args.client_id,
            extension_events = crate::client::extension_events_for(args.client_id.as_deref()),
            ?positions,
            "initialize"
        );
        self.client.set_positions(positions);
        Ok(Some(to_value(&capabilities())))
    }

    async fn launch(&mut self, arguments: &Value) -> Handled {
        if self.program.is_some() || self.launching.is_some() || self.debuggee.is_some() {
            return Err(RequestError::User(
                "a program is already launched in this session".into(),
            ));
        }
        let config =
            launch::validate(arguments, &self.options.cwd).map_err(|e| RequestError::User(format!("launch: {e}")))?;
        let progress = self.progress_start(
            "Launching",
            &format!("starting the VM in {}", config.project_dir.display()),
        );
        if let Err(error) = self.start_vm(&config).await {
            self.progress_end(progress, "failed");
            // The launch failed: nothing of the VM must outlive it.
            if let Some(mut debuggee) = self.debuggee.take() {
                debuggee.terminate();
            }
            return Err(error);
        }
        let Some(agent) = self.debuggee.as_ref().map(|d| d.agent.clone()) else {
            return Err(RequestError::Internal("launch: the VM is gone".into()));
        };
        self.progress_update(&progress, "compiling the project");
        let break_on_dbg = config.args.break_on_dbg && !config.args.no_debug;
        let task = config.args.task.as_deref().map_or(term::atom("nil"), term::binary);
        let request = term::tuple(vec![
            term::atom("load_project"),
            term::map(vec![("task", task), ("break_on_dbg", term::boolean(break_on_dbg))]),
        ]);
        let (done, loaded) = oneshot::channel();
        tokio::spawn(async move {
            let _ = done.send(agent.call(request, LOAD_PROJECT_TIMEOUT).await);
        });
        self.launching = Some(Launching {
            config,
            break_on_dbg,
            compile_started: std::time::SystemTime::now(),
            progress,
            loaded,
        });
        Ok(None)
    }

    /// Starts the VM and waits for its agent: the part of a launch that is
    /// answered in the `launch` response.
    async fn start_vm(&mut self, config: &LaunchConfig) -> Result<(), RequestError> {
        let spec = VmSpec {
            elixir: config.elixir.clone(),
            project_dir: config.project_dir.clone(),
            env: config.args.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            cache_root: self.options.cache_root.clone(),
            connect_timeout: CONNECT_TIMEOUT,
            keeper: self.options.keeper.clone(),
        };
        let (events_tx, events_rx) = mpsc::channel(VM_EVENT_QUEUE);
        self.pump = Some(tokio::spawn(pump_vm_events(
            events_rx,
            self.client.clone(),
            self.vm_events_tx.clone(),
            self.pump_threads.clone(),
        )));
        let debuggee = Debuggee::launch(&spec, events_tx)
            .await
            .map_err(|e| RequestError::User(format!("launch: {e}")))?;
        self.client.event(
            "process",
            ProcessEventBody {
                name: project_name(config),
                system_process_id: Some(debuggee.os_pid),
                is_local_process: true,
                start_method: "launch",
            },
        );
        self.client.console(format!(
            "elixir-dap: VM started (OTP {}, Elixir {}); compiling {}",
            debuggee.otp_release,
            debuggee.elixir_version,
            config.project_dir.display()
        ));
        self.debuggee = Some(debuggee);
        Ok(())
    }

    /// Waits for the launch still loading the project, if any, and finishes it.
    async fn await_launch(&mut self) {
        let loaded = next_loaded(&mut self.launching).await;
        self.finish_launch(loaded).await;
    }

    /// The project has loaded (or failed to): start debugging and send
    /// `initialized`, or report the failure and end the session.
    async fn finish_launch(&mut self, loaded: Loaded) {
        let Some(launching) = self.launching.take() else { return };
        let progress = launching.progress.clone();
        let result = match loaded {
            Ok(reply) => self.start_program(launching, reply).await,
            Err(_) => Err(RequestError::Internal(
                "launch: the project's loading was abandoned".into(),
            )),
        };
        match result {
            Ok(()) => {
                self.progress_end(progress, "ready");
                // Breakpoints and other configuration come after this event.
                self.client.event("initialized", ());
            }
            Err(_) if self.stop_requested => {
                // `terminate` killed the VM while the project loaded.
                self.progress_end(progress, "cancelled");
                self.stop_vm(true).await;
            }
            Err(error) => {
                self.progress_end(progress, "failed");
                self.fail_launch(&error.to_string()).await;
            }
        }
    }

    /// A launch already answered failed: say why where the user looks, stop
    /// the VM and end the session.
    async fn fail_launch(&mut self, message: &str) {
        tracing::info!(%message, "launch failed after its response");
        self.client
            .output(OutputCategory::Stderr, format!("elixir-dap: {message}\n"));
        self.client.output(OutputCategory::Important, message.to_owned());
        // The program never ran: `terminated` alone.
        self.stop_vm(false).await;
    }

    /// Stops what a launch that will not finish started, and reports the end
    /// (with the VM's exit status when `report_exit`).
    async fn stop_vm(&mut self, report_exit: bool) {
        self.program = None;
        self.debugger = None;
        *lock(&self.pump_threads) = None;
        self.stop_epoch = None;
        let mut code = None;
        if let Some(mut debuggee) = self.debuggee.take() {
            debuggee.terminate();
            code = debuggee.wait_exit(EXIT_TIMEOUT).await;
        }
        self.announce_end(code.filter(|_| report_exit));
    }

    async fn start_program(
        &mut self,
        launching: Launching,
        reply: Result<eetf::Term, AgentError>,
    ) -> Result<(), RequestError> {
        let Launching {
            config,
            break_on_dbg,
            compile_started,
            ..
        } = launching;
        let Some(agent) = self.debuggee.as_ref().map(|d| d.agent.clone()) else {
            return Err(RequestError::Internal("launch: the VM is gone".into()));
        };
        let loaded = match reply {
            Ok(loaded) => loaded,
            Err(AgentError::Failed { kind, message, detail }) if kind == "compile_failed" => {
                self.report_diagnostics(&detail);
                let first_error = detail
                    .get("diagnostics")
                    .and_then(TermExt::as_elements)
                    .unwrap_or_default()
                    .iter()
                    .find(|d| d.get("severity").and_then(TermExt::as_atom) == Some("error"))
                    .map(|d| {
                        let text = ::reload::trim_compiler_message(&d.get_text("message").unwrap_or_default());
                        let first = text.lines().next().unwrap_or_default().to_owned();
                        format!(
                            "compilation failed: {}:{}: {first}",
                            d.get_text("file").unwrap_or_default(),
                            d.get_i64("line").unwrap_or(0)
                        )
                    });
                return Err(RequestError::User(format!(
                    "launch: {}",
                    first_error.unwrap_or(message)
                )));
            }
            Err(AgentError::Failed { message, .. }) => {
                return Err(RequestError::User(format!(
                    "launch: could not load the Mix project: {message}"
                )))
            }
            Err(AgentError::Timeout { after, .. }) => {
                return Err(RequestError::User(format!(
                    "launch: loading and compiling the project did not finish within {} \
                     (a module body or other compile-time code may never return)",
                    beam::channel::human_duration(after)
                )))
            }
            Err(other) => return Err(RequestError::Internal(format!("launch: {other}"))),
        };
        self.report_diagnostics(&loaded);
        // Index the sources for reloads while the debugger starts.
        let manifests: Vec<(PathBuf, PathBuf)> = loaded
            .get("manifests")
            .and_then(TermExt::as_elements)
            .unwrap_or_default()
            .iter()
            .filter_map(|m| {
                Some((
                    PathBuf::from(m.get_text("app_dir")?),
                    PathBuf::from(m.get_text("manifest")?),
                ))
            })
            .collect();
        let (resources, problems) = external::ExternalResources::read(&manifests);
        for problem in problems {
            self.client.console(format!("elixir-dap: {problem}"));
        }
        let resource_files = resources.files();
        let elixir_version = self
            .debuggee
            .as_ref()
            .map(|d| d.elixir_version.clone())
            .unwrap_or_default();
        self.reload = Some(reload::ReloadState::start(
            config.project_dir.clone(),
            &elixir_version,
            compile_started,
            resources,
            &self.options.cache_root,
        ));
        match on_save::SaveWatch::start(&config, resource_files) {
            Ok(Some(watch)) => {
                self.client.console(watch.describe());
                self.save_watch = Some(watch);
            }
            Ok(None) => {}
            Err(message) => self.client.console(format!("elixir-dap: {message}")),
        }
        if let Some(note) = debugger::dbg::launch_note(break_on_dbg, &loaded) {
            self.client.console(note);
        }
        if !config.args.no_debug {
            let args = &config.args;
            let debugger_config = DebuggerConfig {
                interpret_patterns: args.debug_interpret_modules_patterns.as_deref(),
                auto_interpret_all: args.debug_auto_interpret_all_modules,
                exclude_modules: &args.exclude_modules,
                stack_trace_mode: args.stack_trace_mode.unwrap_or_default().as_int_flag(),
                expression_timeout: Duration::from_millis(args.debug_expression_timeout_ms),
            };
            let debugger = Debugger::start(agent.clone(), self.client.clone(), debugger_config).await?;
            *lock(&self.pump_threads) = Some(debugger.thread_table());
            self.stop_epoch = Some(debugger.thread_table().epoch());
            self.debugger = Some(debugger);
        }
        let task = loaded.get_text("task").unwrap_or_else(|| "run".into());
        self.program = Some(Program {
            config,
            task,
            started: false,
        });
        Ok(())
    }

    /// Shows compiler diagnostics (from a reply's `diagnostics` list) as
    /// `file:line: severity: message` console lines.
    fn report_diagnostics(&self, detail: &eetf::Term) {
        let Some(diagnostics) = detail.get("diagnostics").and_then(TermExt::as_elements) else {
            return;
        };
        for diagnostic in diagnostics.iter() {
            let file = diagnostic.get_text("file").unwrap_or_default();
            let line = diagnostic.get_i64("line").unwrap_or(0);
            let severity = diagnostic.get_text("severity").unwrap_or_else(|| "error".into());
            let message = ::reload::trim_compiler_message(&diagnostic.get_text("message").unwrap_or_default());
            self.client.output(
                if severity == "error" {
                    OutputCategory::Stderr
                } else {
                    OutputCategory::Console
                },
                format!("{file}:{line}: {severity}: {message}\n"),
            );
        }
    }

    async fn configuration_done(&mut self) -> Handled {
        let Some(program) = &self.program else {
            // A client may configure before launching; nothing to run yet.
            return Ok(None);
        };
        if program.started {
            return Ok(None);
        }
        if self.attached.is_some() {
            return self.attach_configuration_done().await;
        }
        self.interpret_selected().await?;
        let (Some(program), Some(debuggee)) = (self.program.as_mut(), self.debuggee.as_ref()) else {
            return Ok(None);
        };
        let args = &program.config.args;
        if self.debugger.is_some() {
            // Compiles while the task runs: test files and other .exs scripts
            // define modules, each handed over before it runs (see
            // `elixir_dap_scripts.erl`, `Debugger::on_script_module`); the
            // program's own compiles (Phoenix's code reloader) are made safe
            // and their modules interpreted again (`elixir_dap_app_compile.erl`,
            // `Session::on_app_compiled`).
            debuggee
                .agent
                .call(term::atom("install_tracers"), AGENT_CALL_TIMEOUT)
                .await
                .map_err(|e| RequestError::Internal(format!("could not watch the program's compiles: {e}")))?;
        }
        let (require_files, left_to_task) = launch::split_require_files(&program.task, &args.require_files);
        if !left_to_task.is_empty() {
            self.client.console(format!(
                "elixir-dap: `mix test` loads {} itself; breakpoints in test files work without `requireFiles`",
                left_to_task.join(", ")
            ));
        }
        let request = term::tuple(vec![
            term::atom("run_task"),
            term::map(vec![
                ("task", term::binary(&program.task)),
                ("args", term::binaries(&args.task_args)),
                ("require_files", term::binaries(&require_files)),
                ("start_apps", term::boolean(args.start_apps)),
            ]),
        ]);
        debuggee
            .agent
            .call(request, AGENT_CALL_TIMEOUT)
            .await
            .map_err(|e| RequestError::Internal(format!("could not start the task: {e}")))?;
        program.started = true;
        let mut command_line = vec!["mix".to_owned(), program.task.clone()];
        command_line.extend(args.task_args.iter().cloned());
        self.client
            .console(format!("elixir-dap: running `{}`", command_line.join(" ")));
        Ok(None)
    }

    /// Interprets every selected module not interpreted yet (those with
    /// breakpoints already are) before the task runs, so that stacks show
    /// every project frame and stepping enters any project module. The agent
    /// prepares the modules of a call in parallel and feeds `:int` in
    /// batches (`interpret/1` in `elixir_dap_debugger.erl`); two calls are in
    /// flight at a time so that the interpreter, which stores one module at
    /// a time, never waits for the next call. Progress is shown per call.
    async fn interpret_selected(&mut self) -> Result<(), RequestError> {
        let Some(debugger) = &self.debugger else { return Ok(()) };
        let pending = debugger.pending_interpretation();
        if pending.is_empty() {
            return Ok(());
        }
        let agent = debugger.agent().clone();
        let total = pending.len();
        let modules = ::reload::counted(total, "module", "modules");
        let progress = self.progress_start("Interpreting", &modules);
        let started = std::time::Instant::now();
        let mut chunks = pending.chunks(debugger::interpret_chunk(total)).map(<[String]>::to_vec);
        let mut in_flight = tokio::task::JoinSet::new();
        let spawn = |set: &mut tokio::task::JoinSet<_>, modules: Vec<String>| {
            let agent = agent.clone();
            set.spawn(async move {
                let reply = debugger::interpret_call(&agent, &modules).await;
                (modules.len(), reply)
            });
        };
        for modules in chunks.by_ref().take(2) {
            spawn(&mut in_flight, modules);
        }
        let mut done = 0;
        while let Some(joined) = in_flight.join_next().await {
            let (count, reply) =
                joined.map_err(|e| RequestError::Internal(format!("interpreting modules failed: {e}")))?;
            let reply = reply.map_err(|e| RequestError::Internal(format!("interpreting modules failed: {e}")))?;
            if let Some(modules) = chunks.next() {
                spawn(&mut in_flight, modules);
            }
            if let Some(debugger) = &mut self.debugger {
                debugger.record_interpreted(&reply);
            }
            done += count;
            if let Some(id) = &progress {
                let percentage = (done * 100 / total) as u64;
                self.client.event(
                    "progressUpdate",
                    json!({ "progressId": id, "message": format!("{done} of {total} modules"), "percentage": percentage }),
                );
            }
        }
        let elapsed = started.elapsed().as_millis();
        self.progress_end(progress, &format!("{modules} interpreted in {elapsed} ms"));
        self.client
            .console(format!("elixir-dap: interpreted {modules} in {elapsed} ms"));
        Ok(())
    }

    async fn disconnect(&mut self, arguments: &Value) -> Handled {
        // Answered before this request, whose response may end the client.
        self.cancel_later("`disconnect`");
        let args: DisconnectArguments =
            parse_arguments(arguments).map_err(|e| RequestError::User(format!("disconnect: {e}")))?;
        // `exited` and `terminated` wait for this request's response.
        self.disconnecting = true;
        if let Some(launching) = self.launching.take() {
            self.progress_end(launching.progress, "cancelled");
        }
        if self.attached.is_some() && self.debuggee.is_some() {
            return self.detach_node().await;
        }
        let Some(mut debuggee) = self.debuggee.take() else {
            return Ok(None);
        };
        if self.program.is_none() {
            // The launch was still loading the project: nothing to detach.
            debuggee.terminate();
            if let Some(code) = debuggee.wait_exit(EXIT_TIMEOUT).await {
                self.announce_end(Some(code));
            }
            return Ok(None);
        }
        // A launched program is terminated unless the client asks otherwise.
        if args.terminate_debuggee.unwrap_or(true) {
            debuggee.terminate();
            self.debuggee = Some(debuggee);
            self.await_exit().await;
            return Ok(None);
        }
        if let Err(e) = debuggee.agent.call(term::atom("detach"), DETACH_TIMEOUT).await {
            // The agent halts the VM when the channel closes unless it was
            // told to detach: it was not, so the program cannot run on.
            debuggee.terminate();
            self.debuggee = Some(debuggee);
            self.await_exit().await;
            return Err(RequestError::Internal(format!(
                "could not detach from the VM ({e}); the program was terminated instead"
            )));
        }
        let log = debuggee.release(EXIT_TIMEOUT).await;
        let destination = match log {
            Some(path) => format!("its output goes to {}", path.display()),
            None => "its output could not be redirected to a file (see the adapter's log)".to_owned(),
        };
        self.client.console(format!(
            "elixir-dap: detached; the VM (OS pid {}) keeps running, {destination}",
            debuggee.os_pid
        ));
        Ok(None)
    }

    fn terminate(&mut self) -> Handled {
        self.stop_requested = true;
        match self.debuggee.as_mut() {
            // The `exited` and `terminated` events follow when the VM is gone.
            Some(debuggee) => debuggee.terminate(),
            // Nothing runs (the launch failed or was cancelled): the client
            // still waits for `terminated` to end the session.
            None => self.announce_end(None),
        }
        Ok(None)
    }

    /// Handles VM events until the VM's exit has been reported, or
    /// [`EXIT_TIMEOUT`] has passed (then says so on the console).
    async fn await_exit(&mut self) {
        let deadline = tokio::time::Instant::now() + EXIT_TIMEOUT;
        while !self.terminated && self.debuggee.is_some() {
            match tokio::time::timeout_at(deadline, self.vm_events.recv()).await {
                Ok(Some(event)) => self.handle_vm_event(event).await,
                Ok(None) => break,
                Err(_) => {
                    let pid = self.debuggee.as_ref().map_or(0, |d| d.os_pid);
                    tracing::error!(
                        pid,
                        "the VM did not exit within {} ms of being killed",
                        EXIT_TIMEOUT.as_millis()
                    );
                    self.client.console(format!(
                        "elixir-dap: the VM (OS pid {pid}) was killed but its exit was not confirmed within {} ms",
                        EXIT_TIMEOUT.as_millis()
                    ));
                    break;
                }
            }
        }
        self.debuggee = None;
    }

    async fn handle_vm_event(&mut self, event: DebuggeeEvent) {
        match event {
            // Output is forwarded by the pump and never reaches the session.
            DebuggeeEvent::Output { .. } => {}
            DebuggeeEvent::Agent(event) if event.name == "app_compiled" => self.on_app_compiled(&event.data).await,
            DebuggeeEvent::Agent(event) if event.name == "script_module" => {
                if let Some(debugger) = &mut self.debugger {
                    debugger.on_script_module(&event.data).await;
                }
            }
            DebuggeeEvent::Agent(event) => self.handle_agent_event(event),
            DebuggeeEvent::Notice(text) => self.client.console(text),
            DebuggeeEvent::Exited { code } => {
                if let Some(launching) = self.launching.take().filter(|_| self.stop_requested) {
                    self.progress_end(launching.progress, "cancelled");
                } else if let Some(launching) = self.launching.take() {
                    // The VM died while the project was loading.
                    self.progress_end(launching.progress, "failed");
                    self.client.output(
                        OutputCategory::Stderr,
                        format!(
                            "elixir-dap: the VM exited with status {code} while the project was loading \
                             (see its output above)\n"
                        ),
                    );
                } else if self.program.is_none() || self.terminated {
                    // A failed launch already answered for this VM.
                    return;
                }
                self.debuggee = None;
                self.debugger = None;
                *lock(&self.pump_threads) = None;
                self.stop_epoch = None;
                if let Some(attached) = &self.attached {
                    // The helper's end: the node attached to is not ours and
                    // may run on (its agent cleaned up when the helper went).
                    if !self.stop_requested {
                        self.client.console(format!(
                            "elixir-dap: the connection to {} ended (helper status {code})",
                            attached.node
                        ));
                    }
                    self.announce_end(None);
                    return;
                }
                self.announce_end(Some(code));
            }
        }
    }

    fn handle_agent_event(&mut self, event: AgentEvent) {
        // The pump hands the debugger's events to the thread table itself
        // once the debugger has started; this catches those sent before.
        if let Some(debugger) = &self.debugger {
            if debugger.thread_table().lock().on_event(&event) {
                return;
            }
        }
        match event.name.as_str() {
            "task_finished" => {
                let status = event.data.get_i64("status").unwrap_or(1);
                let no_halt = event.data.get("no_halt").and_then(TermExt::as_bool).unwrap_or(false);
                let exit_after = self
                    .program
                    .as_ref()
                    .is_some_and(|p| p.config.args.exit_after_task_returns);
                if exit_after && !no_halt {
                    if let Some(debuggee) = &self.debuggee {
                        if debuggee
                            .agent
                            .cast(term::tuple(vec![term::atom("halt"), term::int(status)]))
                            .is_err()
                        {
                            tracing::warn!("could not ask the VM to halt; it is gone already");
                        }
                    }
                } else if no_halt {
                    self.client
                        .console("elixir-dap: the task asked the VM not to halt; it runs until you disconnect");
                } else {
                    self.client.console(format!(
                        "elixir-dap: the task returned (status {status}); the VM keeps running until you disconnect"
                    ));
                }
            }
            other => tracing::debug!(event = other, data = %event.data, "agent event"),
        }
    }

    /// Reports the end of the program: `exited` (when the VM's status is
    /// known) and `terminated`, once; held while a `disconnect` is handled.
    fn announce_end(&mut self, exit_code: Option<i64>) {
        if self.terminated {
            return;
        }
        self.terminated = true;
        if self.disconnecting {
            self.held_exit_code = exit_code;
            return;
        }
        if let Some(code) = exit_code {
            self.client.event("exited", ExitedEventBody { exit_code: code });
        }
        self.send_terminated();
    }

    /// After the `disconnect` response: what [`Self::announce_end`] held,
    /// and `terminated` in any case.
    fn announce_held_end(&mut self) {
        if let Some(code) = self.held_exit_code.take() {
            self.client.event("exited", ExitedEventBody { exit_code: code });
        }
        self.send_terminated();
    }

    fn send_terminated(&mut self) {
        if !self.terminated_sent {
            self.terminated_sent = true;
            self.client.event("terminated", ());
        }
    }

    fn progress_update(&self, id: &Option<String>, message: &str) {
        if let Some(id) = id {
            self.client
                .event("progressUpdate", json!({ "progressId": id, "message": message }));
        }
    }

    fn progress_start(&mut self, title: &str, message: &str) -> Option<String> {
        if !self.client_supports_progress {
            return None;
        }
        self.next_progress_id += 1;
        let id = format!("elixir-dap-{}", self.next_progress_id);
        self.open_progress.push(id.clone());
        self.client.event(
            "progressStart",
            json!({ "progressId": id, "title": title, "message": message }),
        );
        Some(id)
    }

    fn progress_end(&mut self, id: Option<String>, message: &str) {
        if let Some(id) = id {
            self.open_progress.retain(|open| open != &id);
            self.client
                .event("progressEnd", json!({ "progressId": id, "message": message }));
        }
    }

    async fn shutdown(&mut self) {
        if let Some(mut debuggee) = self.debuggee.take() {
            debuggee.terminate();
            // Let the kill land before the runtime goes away.
            if debuggee.wait_exit(EXIT_TIMEOUT).await.is_none() {
                tracing::error!(
                    pid = debuggee.os_pid,
                    "the VM's exit was not confirmed within {} ms",
                    EXIT_TIMEOUT.as_millis()
                );
            }
        }
        if let Some(pump) = self.pump.take() {
            pump.abort();
        }
        if let Some(reload) = self.reload.take() {
            reload.remove_overlay();
        }
    }
}

/// The next thing the session loop does.
enum Work {
    Incoming(Incoming),
    Vm(DebuggeeEvent),
    Saved(watch::Batch),
    /// The launch's project has loaded (or failed to).
    Loaded(Loaded),
    /// A thread stopped or ended.
    Stopped,
    /// A request answered by a task of its own.
    Answered(Result<(Request, Handled), tokio::task::JoinError>),
}

/// What ended the work in progress.
#[derive(Debug)]
enum Interrupt {
    /// `disconnect` or `terminate`: handled right after the cancellation.
    Request(Request),
    /// The client closed its input.
    InputClosed,
}

impl Interrupt {
    fn describe(&self) -> &'static str {
        match self {
            Interrupt::Request(request) if request.command == "disconnect" => "`disconnect`",
            Interrupt::Request(_) => "`terminate`",
            Interrupt::InputClosed => "the end of the client's input",
        }
    }
}

/// The client's messages: the channel from the reader, and those that
/// arrived while other work ran and wait their turn, in order.
struct Inbox {
    requests: mpsc::Receiver<Incoming>,
    backlog: VecDeque<Incoming>,
    closed: bool,
}

impl Inbox {
    fn new(requests: mpsc::Receiver<Incoming>) -> Inbox {
        Inbox {
            requests,
            backlog: VecDeque::new(),
            closed: false,
        }
    }

    /// The next message, oldest first; `None` once the client's input ended
    /// and every message was taken.
    async fn next(&mut self) -> Option<Incoming> {
        if let Some(incoming) = self.backlog.pop_front() {
            return Some(incoming);
        }
        if self.closed {
            return None;
        }
        let incoming = self.requests.recv().await;
        self.closed = incoming.is_none();
        incoming
    }

    /// Runs `work` while reading the client: `disconnect`, `terminate` and
    /// the end of input drop `work` (cancelling it) and are returned as the
    /// [`Interrupt`]; other messages are kept for later, in order.
    async fn race<T>(&mut self, work: impl std::future::Future<Output = T>) -> Result<T, Interrupt> {
        tokio::pin!(work);
        loop {
            tokio::select! {
                biased;
                done = &mut work => return Ok(done),
                incoming = self.requests.recv(), if !self.closed => match incoming {
                    None => {
                        self.closed = true;
                        return Err(Interrupt::InputClosed);
                    }
                    Some(Incoming::Request(request)) if matches!(request.command.as_str(), "disconnect" | "terminate") => {
                        return Err(Interrupt::Request(request));
                    }
                    Some(other) => self.backlog.push_back(other),
                },
            }
        }
    }

    /// The session ends: requests still waiting get an error, not silence.
    fn refuse_backlog(&mut self, client: &Client) {
        for incoming in self.backlog.drain(..) {
            if let Incoming::Request(request) = incoming {
                client.respond(Response::error(
                    request.seq,
                    &request.command,
                    &format!("{}: the session ended before it was handled", request.command),
                ));
            }
        }
    }
}

/// The result of the loading launch, when there is one; pending otherwise.
async fn next_loaded(launching: &mut Option<Launching>) -> Loaded {
    match launching {
        Some(launching) => (&mut launching.loaded).await,
        None => std::future::pending().await,
    }
}

fn project_name(config: &LaunchConfig) -> String {
    config
        .project_dir
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| config.project_dir.display().to_string())
}

/// With `noDebug`, editors still send their breakpoints: answer each as
/// unverified rather than failing the request.
fn unverified_breakpoints(arguments: &Value) -> Value {
    let count = arguments
        .get("breakpoints")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let breakpoints: Vec<Value> = (0..count)
        .map(|_| json!({ "verified": false, "message": "the program runs without debugging (`noDebug`)" }))
        .collect();
    json!({ "breakpoints": breakpoints })
}

/// Requests whose response has no body.
fn non_null(value: Value) -> Option<Value> {
    (!value.is_null()).then_some(value)
}

fn to_value<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Forwards the VM's output straight to the client, the debugger's events to
/// the thread table (once there is one), and everything else to the session,
/// preserving order (output before the exit that follows it).
/// Output waits for room in the client's queue ([`Client::program_output`]),
/// so a slow client slows the program down rather than filling memory.
async fn pump_vm_events(
    mut events: mpsc::Receiver<DebuggeeEvent>,
    client: Client,
    session: mpsc::UnboundedSender<DebuggeeEvent>,
    threads: Arc<Mutex<Option<ThreadTable>>>,
) {
    while let Some(event) = events.recv().await {
        match event {
            DebuggeeEvent::Output { stream, text } => {
                let category = match stream {
                    OutputStream::Stdout => OutputCategory::Stdout,
                    OutputStream::Stderr => OutputCategory::Stderr,
                };
                client.program_output(category, text).await;
            }
            DebuggeeEvent::Agent(event) if handled_by_threads(&threads, &event) => {}
            other => {
                if session.send(other).is_err() {
                    break;
                }
            }
        }
    }
}

/// `Some` when a thread has stopped or ended since the last call; never
/// without a debugger.
async fn epoch_changed(epoch: &mut Option<tokio::sync::watch::Receiver<u64>>) -> Option<()> {
    match epoch {
        Some(receiver) => receiver.changed().await.ok(),
        None => std::future::pending().await,
    }
}

fn handled_by_threads(threads: &Mutex<Option<ThreadTable>>, event: &AgentEvent) -> bool {
    let table = lock(threads).clone();
    table.is_some_and(|table| table.lock().on_event(event))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Maps each advertised capability to the request it promises.
    #[test]
    fn advertised_capabilities_are_dispatched() {
        let advertised = serde_json::to_value(capabilities()).unwrap();
        let requests_for = |capability: &str| -> Vec<&str> {
            match capability {
                "supportsConfigurationDoneRequest" => vec!["configurationDone"],
                "supportsTerminateRequest" => vec!["terminate"],
                "supportTerminateDebuggee" => vec!["disconnect"],
                "supportsConditionalBreakpoints" | "supportsHitConditionalBreakpoints" | "supportsLogPoints" => {
                    vec!["setBreakpoints"]
                }
                "supportsFunctionBreakpoints" => vec!["setFunctionBreakpoints"],
                "supportsEvaluateForHovers" => vec!["evaluate"],
                "supportsModulesRequest" => vec!["modules"],
                "supportsLoadedSourcesRequest" => vec!["loadedSources"],
                "supportsDelayedStackTraceLoading" => vec!["stackTrace"],
                "supportsReloadCode" => vec!["reloadCode"],
                other => panic!("capability {other} has no known request: add it to this test"),
            }
        };
        for (capability, value) in advertised.as_object().unwrap() {
            if value == &Value::Bool(true) {
                for command in requests_for(capability) {
                    assert!(
                        SUPPORTED_COMMANDS.contains(&command),
                        "{capability} advertised but {command} not dispatched"
                    );
                }
            }
        }
    }

    #[tokio::test]
    async fn unknown_commands_get_an_error_naming_them() {
        let (client, writer) = Client::new(tokio::io::sink());
        let writer = tokio::spawn(writer);
        let mut session = Session::new(
            client,
            SessionOptions {
                cwd: PathBuf::from("/"),
                cache_root: std::env::temp_dir(),
                keeper: beam::keeper::program(),
            },
        );
        let request = Request {
            seq: 1,
            command: "frobnicate".into(),
            arguments: Value::Null,
        };
        let result = session.dispatch(&request).await;
        assert_eq!(result, Err(RequestError::User("unknown request `frobnicate`".into())));
        for command in SUPPORTED_COMMANDS {
            let request = Request {
                seq: 2,
                command: (*command).into(),
                arguments: json!({"projectDir": "/nonexistent"}),
            };
            let result = session.dispatch(&request).await;
            assert_ne!(result, Err(RequestError::User(format!("unknown request `{command}`"))));
        }
        drop(session);
        writer.await.unwrap();
    }
}
