//! Threads: the debugged processes the client sees, and the frame and
//! variable ids handed out for them.
//!
//! The table is shared (behind a mutex, never held across an `.await`)
//! between the session, which answers requests, and the VM's event pump,
//! which turns the agent's `stopped`, `dbg_stopped`, `thread_exited`, `log`
//! and evaluation events into DAP events as they arrive: a stop, a thread
//! that ends or a logpoint never waits behind a pending request (an
//! `evaluate` that runs for seconds, a reload).
//!
//! Two orderings are kept:
//! - a resume request (`continue`, `next`, ...) marks its thread running
//!   before the agent is told, and the events of that thread that arrive
//!   before the response is written (the process may stop again at once)
//!   are held and sent right after it, so a client never sees a `stopped`
//!   answered by a late `continue` response;
//! - a frame or variables id belongs to one stop of its thread: once the
//!   thread runs again or ends, requests on it get an error saying which.

use crate::client::Client;
use crate::error::RequestError;
use beam::protocol::{DbgStop, Pid, Stop};
use beam::AgentEvent;
use dap::types::OutputCategory;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

/// How many ids of ended or resumed threads are remembered to explain an
/// error; older ones get the plain "no such id" answer.
const GONE_MEMORY: usize = 10_000;

/// A debugged BEAM process the client has seen as a thread.
#[derive(Debug, Clone)]
pub struct Thread {
    pub pid: Pid,
    pub name: String,
    /// Where it is stopped (module atom and line), if it is.
    pub stopped_at: Option<(String, i64)>,
    /// Why it will stop next: set by a step or a pause.
    pub pending_reason: Option<&'static str>,
    /// Stopped in a `dbg` call (see [`super::dbg`]) rather than by the interpreter.
    pub dbg: bool,
    /// Counts the times it was resumed: ids are valid for one stop.
    pub generation: u64,
}

/// What a frame id stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRef {
    pub thread: i64,
    pub level: i64,
    pub generation: u64,
}

/// What a `variablesReference` stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VariablesRef {
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

impl VariablesRef {
    fn thread(&self) -> i64 {
        match self {
            VariablesRef::Frame { thread, .. }
            | VariablesRef::Process { thread }
            | VariablesRef::Value { thread, .. } => *thread,
        }
    }
}

/// Why an id no longer answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gone {
    Resumed(i64),
    Ended(i64),
}

pub struct Threads {
    client: Client,
    threads: BTreeMap<i64, Thread>,
    by_pid: HashMap<Pid, i64>,
    next_thread_id: i64,
    frames: HashMap<i64, FrameRef>,
    variables: HashMap<i64, VariablesRef>,
    next_ref: i64,
    gone_refs: BTreeMap<i64, Gone>,
    /// Names of ended threads, for error messages.
    ended: BTreeMap<i64, String>,
    /// Threads whose resume request is not answered yet.
    resuming: BTreeSet<i64>,
    /// Events of those threads, sent once the response is written.
    held: Vec<(i64, &'static str, Value)>,
    /// Bumped at every stop and end of a thread (a reload waits on it for
    /// steps to end).
    epoch: watch::Sender<u64>,
}

/// The shared table. Cheap to clone.
#[derive(Clone)]
pub struct ThreadTable(Arc<Mutex<Threads>>);

impl ThreadTable {
    pub fn new(client: Client) -> ThreadTable {
        let (epoch, _) = watch::channel(0);
        ThreadTable(Arc::new(Mutex::new(Threads {
            client,
            threads: BTreeMap::new(),
            by_pid: HashMap::new(),
            next_thread_id: 0,
            frames: HashMap::new(),
            variables: HashMap::new(),
            next_ref: 0,
            gone_refs: BTreeMap::new(),
            ended: BTreeMap::new(),
            resuming: BTreeSet::new(),
            held: Vec::new(),
            epoch,
        })))
    }

    /// The table, locked. Never hold the guard across an `.await`.
    pub fn lock(&self) -> MutexGuard<'_, Threads> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Changes whenever a thread stops or ends.
    pub fn epoch(&self) -> watch::Receiver<u64> {
        self.lock().epoch.subscribe()
    }
}

impl Threads {
    // -----------------------------------------------------------------------
    // Events from the agent

    /// Handles the agent's thread and breakpoint events; returns false for
    /// the others.
    pub fn on_event(&mut self, event: &AgentEvent) -> bool {
        match event {
            AgentEvent::Stopped(stop) => self.on_stopped(stop),
            AgentEvent::DbgStopped(stop) => self.on_dbg_stopped(stop),
            AgentEvent::ThreadExited(exited) => self.on_exited(&exited.pid),
            AgentEvent::Log(log) => {
                let text = &log.text;
                self.client.output(OutputCategory::Console, format!("{text}\n"));
            }
            AgentEvent::ConditionError(failed) | AgentEvent::LogError(failed) => {
                let (expression, message, name, line) =
                    (&failed.expression, &failed.message, &failed.name, failed.line);
                let what = if matches!(event, AgentEvent::ConditionError(_)) {
                    "condition"
                } else {
                    "log message expression"
                };
                self.client.console(format!(
                    "elixir-dap: breakpoint at {name}:{line}: the {what} `{expression}` failed: {message} \
                     (counted as false; further errors of this breakpoint are not shown until it is set again)"
                ));
            }
            AgentEvent::EvaluationResult(result) => {
                let expression = &result.expression;
                let thread = self
                    .by_pid
                    .get(&result.pid)
                    .map(|id| format!(" (thread {id})"))
                    .unwrap_or_default();
                let text = match (&result.value, &result.error) {
                    (Some(value), _) => format!("`{expression}`{thread} = {value}"),
                    (None, Some(error)) => format!("`{expression}`{thread} failed: {error}"),
                    (None, None) => format!("`{expression}`{thread} finished"),
                };
                self.client.console(text);
            }
            AgentEvent::Undecodable(undecodable) => {
                self.client.console(format!(
                    "elixir-dap: internal error, not of your program: the agent's `{}` event could not be \
                     read ({}); a thread it concerns may be paused without being shown. Please report this.",
                    undecodable.name, undecodable.error
                ));
            }
            _ => return false,
        }
        true
    }

    fn on_stopped(&mut self, data: &Stop) {
        let (module, line) = (data.module.to_string(), data.line);
        let id = self.ensure_thread(data.pid.clone(), &data.name);
        let pending = self.threads.get_mut(&id).and_then(|t| {
            t.stopped_at = Some((module, line));
            t.dbg = false;
            t.pending_reason.take()
        });
        let (reason, hit_ids) = match pending {
            Some(reason) => (reason, Vec::new()),
            None => {
                let ids: Vec<i64> = data.breakpoints.clone();
                let reason = match data.kind.as_str() {
                    "function breakpoint" => "function breakpoint",
                    // The native backend's pause names itself.
                    "pause" => "pause",
                    _ => "breakpoint",
                };
                (reason, ids)
            }
        };
        let mut body =
            json!({ "reason": reason, "threadId": id, "allThreadsStopped": false, "preserveFocusHint": false });
        if !hit_ids.is_empty() {
            body["hitBreakpointIds"] = json!(hit_ids);
        }
        if let Some(expression) = &data.evaluation {
            body["description"] = json!(format!("Paused in the evaluation of `{expression}`"));
        }
        self.send(id, "stopped", body);
        self.bump_epoch();
    }

    /// A process called `dbg` and waits: its thread stops.
    fn on_dbg_stopped(&mut self, data: &DbgStop) {
        let (module, line) = (data.module.to_string(), data.line);
        let id = self.ensure_thread(data.pid.clone(), &data.name);
        // `step` before a pipeline's next stage after `next` (said by the
        // agent, whose answer to `next` may come after this event), or a
        // step of the interpreter that ran into the `dbg` call.
        let stepping = data.stepping;
        let mut reason = if stepping { "step" } else { "breakpoint" };
        if let Some(thread) = self.threads.get_mut(&id) {
            thread.stopped_at = Some((module, line));
            thread.dbg = true;
            if let Some(pending) = thread.pending_reason.take() {
                reason = pending;
            }
        }
        self.send(
            id,
            "stopped",
            json!({
                "reason": reason,
                "description": super::dbg::STOP_DESCRIPTION,
                "threadId": id,
                "allThreadsStopped": false,
                "preserveFocusHint": false,
            }),
        );
        self.bump_epoch();
    }

    fn on_exited(&mut self, pid: &Pid) {
        // Both the interpreter's and a `dbg` pause's watcher may report the
        // same process: only the first report counts.
        let Some(id) = self.by_pid.remove(pid) else {
            return;
        };
        if let Some(thread) = self.threads.remove(&id) {
            self.ended.insert(id, thread.name);
            while self.ended.len() > GONE_MEMORY {
                self.ended.pop_first();
            }
        }
        self.forget_refs(id, Gone::Ended(id));
        self.send(id, "thread", json!({ "reason": "exited", "threadId": id }));
        self.bump_epoch();
    }

    /// The thread of a stopped process (its `pid` and `name`), announced
    /// with a `thread` event the first time it stops.
    pub fn ensure_thread(&mut self, pid: Pid, name: &str) -> i64 {
        if let Some(id) = self.by_pid.get(&pid) {
            return *id;
        }
        let name = name.to_owned();
        self.next_thread_id += 1;
        let id = self.next_thread_id;
        self.by_pid.insert(pid.clone(), id);
        self.threads.insert(
            id,
            Thread {
                pid,
                name,
                stopped_at: None,
                pending_reason: None,
                dbg: false,
                generation: 0,
            },
        );
        self.client
            .event("thread", json!({ "reason": "started", "threadId": id }));
        id
    }

    /// Sends an event about `thread`, or holds it while a resume of that
    /// thread is being answered.
    fn send(&mut self, thread: i64, event: &'static str, body: Value) {
        if self.resuming.contains(&thread) {
            self.held.push((thread, event, body));
        } else {
            self.client.event(event, body);
        }
    }

    fn bump_epoch(&self) {
        self.epoch.send_modify(|n| *n += 1);
    }

    // -----------------------------------------------------------------------
    // Requests

    pub fn list(&self) -> Value {
        let threads: Vec<Value> = self
            .threads
            .iter()
            .map(|(id, t)| json!({ "id": id, "name": t.name }))
            .collect();
        json!({ "threads": threads })
    }

    pub fn thread(&self, id: i64) -> Result<&Thread, RequestError> {
        if let Some(thread) = self.threads.get(&id) {
            return Ok(thread);
        }
        Err(match self.ended.get(&id) {
            // The client asked before it saw the `thread` event: a race.
            Some(name) => RequestError::Silent(format!("thread {id} ({name}) has exited")),
            None => RequestError::User(format!("no thread with id {id}")),
        })
    }

    pub fn stopped_thread(&self, id: i64) -> Result<&Thread, RequestError> {
        let thread = self.thread(id)?;
        if thread.stopped_at.is_none() {
            return Err(RequestError::User(format!(
                "thread {id} ({}) is running, not stopped",
                thread.name
            )));
        }
        Ok(thread)
    }

    pub fn thread_mut(&mut self, id: i64) -> Option<&mut Thread> {
        self.threads.get_mut(&id)
    }

    pub fn thread_by_pid(&self, pid: &Pid) -> Option<i64> {
        self.by_pid.get(pid).copied()
    }

    /// The frame behind `id`, if its thread is still stopped where it was.
    pub fn frame(&self, id: i64) -> Result<FrameRef, RequestError> {
        match self.frames.get(&id) {
            Some(frame) => {
                let thread = self.stopped_thread(frame.thread)?;
                if thread.generation != frame.generation {
                    return Err(self.gone("frame", id, Gone::Resumed(frame.thread)));
                }
                Ok(*frame)
            }
            None => Err(self.missing("frame", id)),
        }
    }

    pub fn variables_ref(&self, id: i64) -> Result<VariablesRef, RequestError> {
        match self.variables.get(&id) {
            Some(reference) => {
                let thread = reference.thread();
                if thread != 0 {
                    self.stopped_thread(thread)?;
                }
                Ok(reference.clone())
            }
            None => Err(self.missing("variables reference", id)),
        }
    }

    fn missing(&self, what: &str, id: i64) -> RequestError {
        match self.gone_refs.get(&id) {
            Some(gone) => self.gone(what, id, *gone),
            None => RequestError::User(format!("no {what} with id {id}")),
        }
    }

    fn gone(&self, what: &str, id: i64, gone: Gone) -> RequestError {
        // A thread that ran and then ended: say it ended.
        let gone = match gone {
            Gone::Resumed(thread) if self.ended.contains_key(&thread) => Gone::Ended(thread),
            other => other,
        };
        // A reference a resume or an exit made out of date: the client asked
        // before it saw the event (a race), not a mistake of the user's.
        RequestError::Silent(match gone {
            Gone::Resumed(thread) => {
                format!("{what} {id} is out of date: thread {thread} has run since (ask for its stack again)")
            }
            Gone::Ended(thread) => match self.ended.get(&thread) {
                Some(name) => format!("{what} {id} belongs to thread {thread} ({name}), which has exited"),
                None => format!("{what} {id} belongs to thread {thread}, which has exited"),
            },
        })
    }

    pub fn new_frame(&mut self, thread: i64, level: i64, generation: u64) -> i64 {
        let id = self.new_ref();
        self.frames.insert(
            id,
            FrameRef {
                thread,
                level,
                generation,
            },
        );
        id
    }

    pub fn new_variables_ref(&mut self, reference: VariablesRef) -> i64 {
        let id = self.new_ref();
        self.variables.insert(id, reference);
        id
    }

    fn new_ref(&mut self) -> i64 {
        self.next_ref += 1;
        self.next_ref
    }

    fn forget_refs(&mut self, thread: i64, why: Gone) {
        let frames: Vec<i64> = self
            .frames
            .iter()
            .filter(|(_, f)| f.thread == thread)
            .map(|(id, _)| *id)
            .collect();
        let variables: Vec<i64> = self
            .variables
            .iter()
            .filter(|(_, r)| r.thread() == thread)
            .map(|(id, _)| *id)
            .collect();
        for id in frames {
            self.frames.remove(&id);
            self.gone_refs.insert(id, why);
        }
        for id in variables {
            self.variables.remove(&id);
            self.gone_refs.insert(id, why);
        }
        while self.gone_refs.len() > GONE_MEMORY {
            self.gone_refs.pop_first();
        }
    }

    /// Before a resume request tells the agent: the thread runs from now
    /// on, `reason` is why it will stop next, and its events wait for the
    /// response (see [`Threads::end_resume`]).
    pub fn begin_resume(&mut self, id: i64, reason: Option<&'static str>) {
        if let Some(thread) = self.threads.get_mut(&id) {
            thread.stopped_at = None;
            thread.dbg = false;
            thread.pending_reason = reason;
            thread.generation += 1;
        }
        self.forget_refs(id, Gone::Resumed(id));
        self.resuming.insert(id);
    }

    /// After a response is written: sends the events held for the threads
    /// that were being resumed.
    pub fn end_resume(&mut self) {
        self.resuming.clear();
        for (_, event, body) in std::mem::take(&mut self.held) {
            self.client.event(event, body);
        }
    }

    /// Threads in the middle of a step (resumed with next/stepIn/stepOut and
    /// not stopped again yet).
    /// The modules (atoms) threads are stopped in.
    pub fn stopped_modules(&self) -> BTreeSet<String> {
        self.threads
            .values()
            .filter_map(|t| t.stopped_at.as_ref().map(|(module, _)| module.clone()))
            .collect()
    }

    pub fn stepping(&self) -> Vec<i64> {
        self.threads
            .iter()
            .filter(|(_, t)| t.stopped_at.is_none() && t.pending_reason == Some("step"))
            .map(|(id, _)| *id)
            .collect()
    }
}
