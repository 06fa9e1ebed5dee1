//! What the agent sends unasked: its hello and its events
//! (`{event, Name, Data}`), decoded strictly like replies.

use super::decode::{by_key, Atom, Decode, DecodeError, Pid};
use super::reason::AttachRefusal;
use super::reply::CompiledModule;
use crate::record;
use eetf::Term;

/// An event of the agent, by its name.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentEvent {
    /// `stopped`: an interpreted process stopped (breakpoint, step, pause).
    Stopped(Stop),
    /// `dbg_stopped`: a process waits in a `dbg` call.
    DbgStopped(DbgStop),
    /// `thread_exited`: a debugged process ended.
    ThreadExited(ThreadExited),
    /// `log`: a logpoint's line.
    Log(LogLine),
    /// `condition_error`: a breakpoint's condition raised.
    ConditionError(ExpressionFailed),
    /// `log_error`: an expression of a logpoint's message raised.
    LogError(ExpressionFailed),
    /// `evaluation_result`: the end of an evaluation that had stopped at a breakpoint.
    EvaluationResult(EvaluationResult),
    /// `script_module`: a module of a project `.exs` file waits in its
    /// definition until [`super::Request::ScriptRelease`].
    ScriptModule(ScriptModule),
    /// `app_compiled`: the program compiled modules itself.
    AppCompiled(AppCompiled),
    /// `task_finished`: the Mix task ended.
    TaskFinished(TaskFinished),
    /// An event the adapter could not decode (a drift between adapter and
    /// agent): the channel reports it instead of dropping it, so that the
    /// user hears of it (a lost `stopped` leaves a thread paused unseen).
    Undecodable(UndecodableEvent),
}

/// An agent event that did not decode: its name and the decoding error.
#[derive(Debug, Clone, PartialEq)]
pub struct UndecodableEvent {
    pub name: String,
    pub error: String,
}

impl AgentEvent {
    /// Decodes the `Data` of `{event, Name, Data}`; an unknown name is an error.
    pub fn decode(name: &str, data: &Term) -> Result<AgentEvent, DecodeError> {
        Ok(match name {
            "stopped" => AgentEvent::Stopped(Stop::decode(data)?),
            "dbg_stopped" => AgentEvent::DbgStopped(DbgStop::decode(data)?),
            "thread_exited" => AgentEvent::ThreadExited(ThreadExited::decode(data)?),
            "log" => AgentEvent::Log(LogLine::decode(data)?),
            "condition_error" => AgentEvent::ConditionError(ExpressionFailed::decode(data)?),
            "log_error" => AgentEvent::LogError(ExpressionFailed::decode(data)?),
            "evaluation_result" => AgentEvent::EvaluationResult(EvaluationResult::decode(data)?),
            "script_module" => AgentEvent::ScriptModule(ScriptModule::decode(data)?),
            "app_compiled" => AgentEvent::AppCompiled(AppCompiled::decode(data)?),
            "task_finished" => AgentEvent::TaskFinished(TaskFinished::decode(data)?),
            _ => {
                return Err(DecodeError::wrong(
                    "an event name (stopped, dbg_stopped, thread_exited, log, condition_error, log_error, \
                     evaluation_result, script_module, app_compiled, task_finished)",
                    &Term::from(eetf::Atom::from(name)),
                ))
            }
        })
    }

    /// The event's name on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            AgentEvent::Stopped(_) => "stopped",
            AgentEvent::DbgStopped(_) => "dbg_stopped",
            AgentEvent::ThreadExited(_) => "thread_exited",
            AgentEvent::Log(_) => "log",
            AgentEvent::ConditionError(_) => "condition_error",
            AgentEvent::LogError(_) => "log_error",
            AgentEvent::EvaluationResult(_) => "evaluation_result",
            AgentEvent::ScriptModule(_) => "script_module",
            AgentEvent::AppCompiled(_) => "app_compiled",
            AgentEvent::TaskFinished(_) => "task_finished",
            AgentEvent::Undecodable(_) => "undecodable",
        }
    }
}

record! {
    /// Where an interpreted process stopped: the DAP ids of the breakpoints
    /// on that line and their `kind` (`breakpoint`, `function breakpoint`);
    /// for an evaluation's process, the expression (`evaluation`) and,
    /// when known, the function (as shown) and source of its frame.
    pub struct Stop {
        pid: Pid,
        name: String,
        module: Atom,
        line: i64,
        breakpoints: Vec<i64>,
        kind: String,
        evaluation: Option<String>,
        function: Option<String>,
        source: Option<String>,
    }
}

record! {
    /// A process waiting in a `dbg` call: its frame (the function as shown,
    /// source, empty when unknown), and whether it stopped before a
    /// pipeline's next stage after `next` (`stepping`).
    pub struct DbgStop {
        pid: Pid,
        name: String,
        module: Atom,
        line: i64,
        source: String,
        function: String,
        stepping: bool,
        evaluation: Option<String>,
    }
}

record! {
    /// `reason`: the exit reason as Erlang prints it.
    pub struct ThreadExited {
        pid: Pid,
        reason: String,
    }
}

record! {
    pub struct LogLine {
        text: String,
        module: Atom,
        line: i64,
    }
}

record! {
    /// A breakpoint's expression that raised (reported once until the
    /// breakpoint is set again).
    pub struct ExpressionFailed {
        module: Atom,
        name: String,
        line: i64,
        expression: String,
        message: String,
    }
}

record! {
    /// The value (`inspect/1`) or error of an evaluation that stopped.
    pub struct EvaluationResult {
        pid: Pid,
        expression: String,
        value: Option<String>,
        error: Option<String>,
    }
}

record! {
    /// A module of a script, held in its definition by `waiter`.
    pub struct ScriptModule {
        module: Atom,
        name: String,
        source: String,
        waiter: Pid,
    }
}

record! {
    pub struct AppCompiled {
        modules: Vec<CompiledModule>,
    }
}

record! {
    /// The task's exit status, and whether it asked the VM not to halt.
    pub struct TaskFinished {
        status: i64,
        no_halt: bool,
    }
}

/// The `Info` of the agent's hello (`{hello, Token, Info}`).
#[derive(Debug, Clone, PartialEq)]
pub enum Hello {
    /// The agent runs: in the launched VM, or (attach) in the node attached
    /// to, whose helper adds its own node name (`node`).
    Ready(NodeInfo),
    /// The attach helper could not attach: why (which names the attribute
    /// to blame).
    AttachFailed(AttachFailed),
}

record! {
    pub struct NodeInfo {
        otp_release: String,
        elixir_version: String,
        os_pid: i64,
        node: Option<String>,
        /// Attach only, from the helper: `mix` (the node runs the Mix
        /// project) or `release` (it runs none, a release built with
        /// `mix release`: the project's modules, sources and debug info
        /// come from `projectDir` through the helper, see
        /// `elixir_dap_release.erl`).
        mode: Option<Atom>,
        /// Attach to a node that runs the Mix project (`mode` `mix`) only:
        /// its `Mix.env()`, the environment of its build and `elixirc_paths`.
        mix_env: Option<String>,
        /// Attach to a cluster only: the other nodes, which reloads reach
        /// too (`elixir_dap_cluster.erl`).
        peers: Option<Vec<String>>,
        /// Attach only, from the helper: the backend the agent runs on in
        /// the node, `native` or `interpreter` (`debugBackend` `auto`
        /// resolved by asking the node).
        backend: Option<Atom>,
        /// Attach with `debugBackend` `auto` that runs the interpreter: why.
        /// `no_native_debugger` (the node runs no `erl_debugger`: OTP 27 or
        /// earlier, or not started with `+D`) or `no_line_debug_info` (the
        /// project's modules were compiled without it; `backend_module`
        /// names one).
        backend_reason: Option<Atom>,
        backend_module: Option<String>,
    }
}

record! {
    pub struct AttachFailed {
        attach_error: AttachRefusal,
    }
}

impl Decode for Hello {
    fn expected() -> String {
        "a map (NodeInfo or AttachFailed)".into()
    }

    fn decode(term: &Term) -> Result<Self, DecodeError> {
        by_key(
            term,
            &Self::expected(),
            "attach_error",
            |t| AttachFailed::decode(t).map(Hello::AttachFailed),
            |t| NodeInfo::decode(t).map(Hello::Ready),
        )
    }
}
