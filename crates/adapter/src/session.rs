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
mod backend;
mod background;
mod end;
mod events;
mod external;
mod inbox;
mod interpret;
mod launch;
mod on_save;
mod reload;

use crate::client::Client;
use crate::debugger::threads::ThreadTable;
use crate::debugger::{self, Debugger, DebuggerConfig};
pub use crate::error::RequestError;
use crate::launch::LaunchConfig;
use beam::protocol;
use beam::{AgentError, AgentEvent, Debuggee, DebuggeeEvent, OutputStream, VmSpec};
use dap::types::{
    Capabilities, DisconnectArguments, ExitedEventBody, InitializeArguments, OutputCategory, ProcessEventBody,
};
use dap::{parse_arguments, Command, Incoming, Positions, Request, Response};
use events::pump_vm_events;
use inbox::{Inbox, Interrupt, Work};
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

type Handled = Result<Option<dap::Body>, RequestError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    End,
}

/// Every command [`Session::dispatch`] handles: all of [`Command`], one
/// exhaustive `match`. Capabilities advertised in `initialize` must only
/// name requests listed here (checked by a test).
pub const SUPPORTED_COMMANDS: [Command; 22] = Command::ALL;

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
    loaded: oneshot::Receiver<Result<protocol::ProjectLoaded, AgentError>>,
}

/// The result of loading the project, as the launch's background call ends.
type Loaded = Result<Result<protocol::ProjectLoaded, AgentError>, oneshot::error::RecvError>;

/// Requests answered while the project is still loading; every other request
/// waits for the launch to finish first.
const ANSWERED_WHILE_LOADING: &[Command] = &[
    Command::Initialize,
    Command::Launch,
    Command::Attach,
    Command::Disconnect,
    Command::Terminate,
    Command::Threads,
];

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
    later: JoinSet<(Request, Handled)>,
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
    /// Lazy interpretation's background task, while it runs.
    background: Option<background::Background>,
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
            background: None,
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
                chunk = background::next_chunk(&mut self.background) => Work::Background(chunk),
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
                Work::Background(chunk) => {
                    self.on_background_chunk(chunk);
                    Flow::Continue
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
            let error = RequestError::Silent(format!("{command}: cancelled by {by}"));
            self.client.respond(error.to_response(seq, &command));
        }
    }

    /// Handles one request, answering it, while watching the client for a
    /// request that ends the work in progress (see [`Inbox::race`]).
    async fn serve(&mut self, mut request: Request, inbox: &mut Inbox) -> Flow {
        tracing::debug!(seq = request.seq, command = %request.command, "request");
        self.client.positions().from_client(&mut request);
        let waits_for_launch =
            !matches!(Command::parse(&request.command), Some(c) if ANSWERED_WHILE_LOADING.contains(&c));
        if self.launching.is_some() && waits_for_launch {
            // A request that needs the loaded program waits for it.
            if let Err(interrupt) = inbox.race(self.await_launch()).await {
                return self.interrupted(&request, interrupt).await;
            }
        }
        match self.answer_later(&request) {
            Some(Ok(later)) => {
                self.later_pending.push((request.seq, request.command.clone()));
                self.later.spawn(async move {
                    let result = later.await.map(dap::Body::new);
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
        let error = RequestError::Silent(format!("{}: cancelled by {by}", request.command));
        self.client.respond(error.to_response(request.seq, &request.command));
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
                let error = RequestError::User(format!("malformed request: {reason}"));
                self.client.respond(error.to_response(seq, &command));
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
            Ok(Some(body)) if request.command == "reloadCode" && reload_failed(&body) => {
                let mut report = match body.to_value() {
                    Value::Object(report) => report,
                    _ => serde_json::Map::new(),
                };
                let message = report
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("failed")
                    .to_owned();
                let mut response = RequestError::User(message).to_response(request.seq, &request.command);
                if let Some(Value::Object(mut error)) = response.body.take().map(|b| b.to_value()) {
                    // The `codeReloaded` event and a console line report it
                    // already: VS Code would show this as a second notification.
                    if let Some(Value::Object(shown)) = error.get_mut("error") {
                        shown.insert("showUser".into(), Value::Bool(false));
                    }
                    report.extend(error);
                }
                response.body = dap::Body::new(Value::Object(report));
                self.client.respond(response);
            }
            Ok(body) => self
                .client
                .respond(Response::success(request.seq, &request.command, body)),
            Err(error) => self.client.respond(error.to_response(request.seq, &request.command)),
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
        let Some(command) = Command::parse(&request.command) else {
            return Err(RequestError::User(format!("unknown request `{}`", request.command)));
        };
        let name = command.name();
        let arguments = &request.arguments;
        match command {
            Command::Initialize => self.initialize(arguments),
            Command::Launch => self.launch(arguments).await,
            Command::Attach => self.attach(arguments).await,
            Command::ConfigurationDone => self.configuration_done().await,
            Command::Disconnect => self.disconnect(arguments).await,
            Command::Terminate => self.terminate(),
            Command::SetExceptionBreakpoints => Ok(None),
            Command::Threads => match &self.debugger {
                Some(debugger) => debugger.threads().map(dap::Body::new),
                None => Ok(dap::Body::new(json!({ "threads": [] }))),
            },
            Command::SetBreakpoints if self.runs_without_debugging() => {
                Ok(dap::Body::new(unverified_breakpoints(arguments)))
            }
            Command::SetBreakpoints => self
                .debugger(name)?
                .set_breakpoints(arguments)
                .await
                .map(dap::Body::new),
            Command::SetFunctionBreakpoints => self
                .debugger(name)?
                .set_function_breakpoints(arguments)
                .await
                .map(dap::Body::new),
            // Answered by a task of their own (`answer_later`); here only
            // when called directly.
            Command::StackTrace | Command::Variables | Command::Evaluate => match self.answer_later(request) {
                Some(later) => later?.await.map(dap::Body::new),
                None => Ok(None),
            },
            Command::Scopes => self.debugger(name)?.scopes(arguments).map(dap::Body::new),
            Command::Continue | Command::Next | Command::StepIn | Command::StepOut => {
                self.debugger(name)?.resume(name, arguments).await.map(dap::Body::new)
            }
            Command::Pause => self.debugger(name)?.pause(arguments).await.map(dap::Body::new),
            Command::Modules => match &self.debugger {
                Some(debugger) => debugger.modules().map(dap::Body::new),
                None => Ok(dap::Body::new(json!({ "modules": [], "totalModules": 0 }))),
            },
            Command::LoadedSources => match &self.debugger {
                Some(debugger) => debugger.loaded_sources().map(dap::Body::new),
                None => Ok(dap::Body::new(json!({ "sources": [] }))),
            },
            Command::ReloadCode => {
                if arguments.get("files").is_none() && arguments.get("dryRun") != Some(&Value::Bool(true)) {
                    self.forget_pending_saves();
                }
                self.reload_code(arguments, "request").await
            }
        }
    }

    /// The requests answered by a task of their own (see the module's docs);
    /// `None` for the others.
    fn answer_later(&mut self, request: &Request) -> Option<Result<debugger::Later, RequestError>> {
        let command = Command::parse(&request.command)?;
        if !matches!(command, Command::StackTrace | Command::Variables | Command::Evaluate) {
            return None;
        }
        Some(self.debugger(command.name()).and_then(|debugger| match command {
            Command::StackTrace => debugger.stack_trace(&request.arguments),
            Command::Variables => debugger.variables(&request.arguments),
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
        Ok(dap::Body::new(capabilities()))
    }
}

/// The result of the loading launch, when there is one; pending otherwise.
async fn next_loaded(launching: &mut Option<Launching>) -> Loaded {
    match launching {
        Some(launching) => (&mut launching.loaded).await,
        None => std::future::pending().await,
    }
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

/// Whether a `reloadCode` response's body is a failed reload's report
/// (`"success": false`); read without building the report's tree (a hub
/// edit's names every module).
fn reload_failed(body: &dap::Body) -> bool {
    #[derive(serde::Deserialize)]
    struct Outcome {
        success: bool,
    }
    serde_json::from_str::<Outcome>(body.as_str()).is_ok_and(|outcome| !outcome.success)
}

/// `Some` when a thread has stopped or ended since the last call; never
/// without a debugger.
async fn epoch_changed(epoch: &mut Option<tokio::sync::watch::Receiver<u64>>) -> Option<()> {
    match epoch {
        Some(receiver) => receiver.changed().await.ok(),
        None => std::future::pending().await,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests;
