//! Lazy interpretation (issue 17): before the task starts, only what a stop
//! needs then is interpreted (modules with line or function breakpoints,
//! which `setBreakpoints` interprets at once, modules calling `dbg` when
//! `breakOnDbg` is on, and those matching `eagerInterpretModulesPatterns`);
//! with `lazyInterpretation: "background"` (the default) the session hands
//! the other selected modules to the agent once the task has started
//! ([`crate::session`]'s background interpretation), at low process
//! priority, a chunk at a time.
//!
//! Every interpretation of a module the program may be running goes through
//! [`LazyState::gate`] and the agent's `interpret_pending`, which skips the
//! modules the interpreter already has: interpreting a module a second time
//! would purge the native code that processes entered before the first
//! interpretation may still run, and kill them. A reload holds the gate
//! while it compiles and loads, so that no background chunk loads a module
//! the reload is replacing.
//!
//! A step in first interprets the modules the stopped line calls by name
//! (the agent's `step_targets`), and every pending module when the line
//! also calls something only known at run time (a module or fun in a
//! variable, `apply/3`): a step never passes over a call only because its
//! module was not interpreted yet.

use super::*;
use beam::protocol::{PendingInterpreted, Priority, StepTargets};
use modules::ElixirRegex;
use serde::Deserialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// `lazyInterpretation`: which selected modules are interpreted before the
/// task starts, and what becomes of the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum LazyInterpretation {
    /// Before the start, what a stop needs (modules with breakpoints, `dbg`
    /// callers, `eagerInterpretModulesPatterns`); the rest once the task has
    /// started, in the background.
    #[default]
    #[serde(rename = "background")]
    Background,
    /// As `background` before the start; the rest only when needed (a
    /// breakpoint set, a step in).
    #[serde(rename = "onDemand")]
    OnDemand,
    /// Every selected module before the task starts.
    #[serde(rename = "off")]
    Off,
}

/// Modules per background call: a chunk takes about 0.1 s, so that a step
/// in or a reload that waits for the gate waits at most that long.
pub const BACKGROUND_CHUNK: usize = 20;

/// A reload interprets at most this many of its modules before it answers
/// (about 0.1 s of interpretation); a bigger batch (a macro many modules
/// use) only those a stop needs now, the rest later (see
/// [`Debugger::split_for_reload`]).
pub const RELOAD_INTERPRET_AT_ONCE: usize = 20;

/// When a module was interpreted, shown by `modules` (`interpretedWhen`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// Before the task started.
    BeforeStart,
    /// In the background, after the task started.
    Background,
    /// When something needed it: a breakpoint set, a step in, a script's
    /// module.
    OnDemand,
}

impl How {
    pub fn as_str(self) -> &'static str {
        match self {
            How::BeforeStart => "beforeStart",
            How::Background => "background",
            How::OnDemand => "onDemand",
        }
    }
}

/// The session's hold on the interpretation gate; released when dropped.
pub struct GateGuard {
    _guard: tokio::sync::OwnedMutexGuard<()>,
    held: Arc<AtomicBool>,
}

impl Drop for GateGuard {
    fn drop(&mut self) {
        self.held.store(false, Ordering::SeqCst);
    }
}

pub struct LazyState {
    mode: LazyInterpretation,
    eager: Vec<ElixirRegex>,
    started: Instant,
    /// Per module atom: how, and milliseconds since the debugger started.
    interpreted: HashMap<String, (How, u64)>,
    gate: Arc<tokio::sync::Mutex<()>>,
    /// The session holds the gate (a reload, see [`Debugger::hold_interpret_gate`]):
    /// what it interprets on demand meanwhile (a breakpoint following its
    /// statement into a module not interpreted yet) must not wait for it.
    gate_held: Arc<AtomicBool>,
    /// The task has started: modules not interpreted by then are pending.
    task_started: bool,
    /// The background task has handed over every module.
    background_done: bool,
    /// A background task runs (launch's or a reload's).
    background_running: bool,
}

impl LazyState {
    pub fn new(mode: LazyInterpretation, eager: Vec<ElixirRegex>) -> LazyState {
        LazyState {
            mode,
            eager,
            started: Instant::now(),
            interpreted: HashMap::new(),
            gate: Arc::default(),
            gate_held: Arc::default(),
            task_started: false,
            background_done: false,
            background_running: false,
        }
    }

    pub(super) fn noted(&mut self, atom: &str, how: How) {
        let after = self.started.elapsed().as_millis() as u64;
        self.interpreted.insert(atom.to_owned(), (how, after));
    }

    /// How a module interpreted now by request is: before the start, or
    /// on demand.
    pub(super) fn how_now(&self) -> How {
        if self.task_started {
            How::OnDemand
        } else {
            How::BeforeStart
        }
    }

    /// Adds `interpretedWhen` and `interpretedAfterMs` to a module's JSON.
    pub(super) fn describe(&self, atom: &str, json: &mut Value) {
        if let Some((how, after)) = self.interpreted.get(atom) {
            json["interpretedWhen"] = json!(how.as_str());
            json["interpretedAfterMs"] = json!(after);
        }
    }

    /// `symbolStatus` of a selected module not interpreted yet.
    pub(super) fn pending_status(&self) -> &'static str {
        if self.background_running {
            return "queued for interpretation";
        }
        match (self.mode, self.task_started, self.background_done) {
            (LazyInterpretation::Background, true, false) => "queued for interpretation",
            (_, true, _) => "interpreted when needed",
            _ => "not interpreted",
        }
    }
}

impl Debugger {
    /// The gate every interpretation of a running program's modules holds.
    pub fn interpret_gate(&self) -> Arc<tokio::sync::Mutex<()>> {
        self.lazy.gate.clone()
    }

    /// Holds the gate for the session's own work (a reload): no background
    /// chunk runs until the guard is dropped, and the session's on-demand
    /// interpretations meanwhile go ahead without waiting for it.
    pub async fn hold_interpret_gate(&self) -> GateGuard {
        let guard = self.lazy.gate.clone().lock_owned().await;
        self.lazy.gate_held.store(true, Ordering::SeqCst);
        GateGuard {
            _guard: guard,
            held: self.lazy.gate_held.clone(),
        }
    }

    pub fn lazy_mode(&self) -> LazyInterpretation {
        self.lazy.mode
    }

    /// Splits the modules to interpret at launch into those to interpret
    /// before the task starts (breakpoints first) and the others, which
    /// wait (`lazyInterpretation`). With `break_on_dbg`, the `dbg` callers
    /// (as `list_modules` found them) are interpreted before the start too.
    pub fn split_for_start(&self, break_on_dbg: bool) -> (Vec<String>, Vec<String>) {
        let pending = self.pending_interpretation();
        if self.lazy.mode == LazyInterpretation::Off {
            return (pending, Vec::new());
        }
        let with_breakpoints = self.breakpoints.modules();
        let eager = |atom: &String| {
            with_breakpoints.contains(atom)
                || self
                    .registry
                    .get(atom)
                    .is_some_and(|m| self.lazy.eager.iter().any(|p| p.is_match(&m.name)))
        };
        let (now, rest): (Vec<String>, Vec<String>) = pending.into_iter().partition(eager);
        if !break_on_dbg {
            return (now, rest);
        }
        let calls_dbg = |atom: &String| self.registry.get(atom).is_some_and(|m| m.calls_dbg);
        let (dbg, later): (Vec<String>, Vec<String>) = rest.into_iter().partition(calls_dbg);
        (now.into_iter().chain(dbg).collect(), later)
    }

    /// Splits a reload's modules to interpret again (atoms) into those to
    /// interpret before the reload answers and those interpreted later (by
    /// the session: in the background, or when a breakpoint or a step needs
    /// them): a batch of at most [`RELOAD_INTERPRET_AT_ONCE`] modules all
    /// now; a bigger one only what a stop may need now: modules with line or
    /// function breakpoints, modules a thread is stopped in, `dbg` callers
    /// and those matching `eagerInterpretModulesPatterns`. Meanwhile the
    /// others run their new native code.
    pub fn split_for_reload(&self, modules: Vec<String>) -> (Vec<String>, Vec<String>) {
        if !self.defers(modules.len()) {
            return (modules, Vec::new());
        }
        let with_breakpoints = self.breakpoints.modules();
        let stopped_in = self.threads.lock().stopped_modules();
        modules.into_iter().partition(|atom| {
            with_breakpoints.contains(atom)
                || stopped_in.contains(atom)
                || self
                    .registry
                    .get(atom)
                    .is_some_and(|m| m.calls_dbg || self.lazy.eager.iter().any(|p| p.is_match(&m.name)))
        })
    }

    /// Whether a reload of `count` modules to interpret leaves some for
    /// later: more than [`RELOAD_INTERPRET_AT_ONCE`], on the interpreter,
    /// once a launched task has started (before, or attached, a step could
    /// not interpret a pending module first).
    pub fn defers(&self, count: usize) -> bool {
        count > RELOAD_INTERPRET_AT_ONCE && !self.native && self.lazy.task_started
    }

    /// A background task interprets pending modules (launch's or a
    /// reload's): they are queued, not left for when they are needed.
    pub fn background_running(&mut self, running: bool) {
        self.lazy.background_running = running;
    }

    /// The task has started: what is not interpreted now is pending.
    pub fn task_started(&mut self) {
        self.lazy.task_started = true;
    }

    /// The background task has handed over every module: those left are
    /// interpreted when needed.
    pub fn background_finished(&mut self) {
        self.lazy.background_done = true;
    }

    /// A selected module not interpreted yet, that the interpreter has not
    /// refused.
    pub(super) fn is_lazily_pending(&self, module: &ModuleInfo) -> bool {
        self.lazy.task_started
            && self.selection.selects(module)
            && !self.registry.is_interpreted(&module.atom)
            && self.registry.skip_reason(&module.atom).is_none()
    }

    /// Interprets `modules` that the interpreter does not have yet, at
    /// normal priority, through the gate.
    pub(super) async fn interpret_pending_now(&self, modules: &[String]) -> Result<Interpreted, AgentError> {
        let _gate = match self.lazy.gate_held.load(Ordering::SeqCst) {
            true => None,
            false => Some(self.lazy.gate.lock().await),
        };
        let reply = interpret_pending_call(&self.agent, modules, Priority::Normal).await?;
        Ok(reply.into_interpreted())
    }

    /// Before a step in: interprets the pending modules the stopped line
    /// calls (every pending module when it calls something only known at
    /// run time).
    pub(super) async fn interpret_step_targets(&mut self, thread_id: i64) -> Result<(), RequestError> {
        let pending: Vec<String> = self
            .registry
            .all()
            .filter(|m| self.is_lazily_pending(m))
            .map(|m| m.atom.clone())
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        let Some((module, line)) = self.threads.lock().thread(thread_id)?.stopped_at.clone() else {
            return Ok(());
        };
        let reply: StepTargets = self
            .agent
            .request(&Request::StepTargets { module, line }, CALL_TIMEOUT)
            .await
            .map_err(RequestError::from_agent)?;
        let targets: Vec<String> = if reply.dynamic {
            pending
        } else {
            let called: BTreeSet<&str> = reply.modules.iter().map(protocol::Atom::as_str).collect();
            pending.into_iter().filter(|a| called.contains(a.as_str())).collect()
        };
        if targets.is_empty() {
            return Ok(());
        }
        tracing::debug!(count = targets.len(), "interpreting before a step in");
        self.interpret(&targets).await
    }
}

/// Interprets, in one agent call, the named modules the interpreter does
/// not have yet (`Priority::Low`: the background's).
pub async fn interpret_pending_call(
    agent: &AgentClient,
    modules: &[String],
    priority: Priority,
) -> Result<PendingInterpreted, AgentError> {
    let modules = modules.to_vec();
    agent
        .request(&Request::InterpretPending { modules, priority }, INTERPRET_TIMEOUT)
        .await
}
