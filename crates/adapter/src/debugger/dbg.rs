//! `breakOnDbg`: a `dbg/0,1,2` call in the debugged program pauses the
//! calling process, interpreted or not, as a stopped thread (reason
//! `breakpoint`, as in ElixirLS). The agent's `elixir_dap_dbg` module is the
//! `dbg` callback; a paused process keeps its binding and the environment of
//! the call, and answers the stack, variables and evaluate requests of its
//! thread, which are sent wrapped as `{dbg, Request}`.
//!
//! Execution control follows ElixirLS: `continue` lets the process run on
//! (the `dbg` call then prints as usual); `next` does too, except in a
//! `dbg` of a pipeline, where it stops again (reason `step`) before the
//! pipeline's next stage; `stepIn` and `stepOut` are refused with a message.

use super::threads::Thread;
use super::{Debugger, Handled, CALL_TIMEOUT};
use crate::error::RequestError;
use beam::term::{self, TermExt};
use eetf::Term;
use serde_json::{json, Value};

/// The `description` of the `stopped` event of a `dbg` call.
pub const STOP_DESCRIPTION: &str = "Paused on a dbg call";

/// A console line for the launch when `breakOnDbg` cannot work: the VM's
/// Elixir has no `dbg/2` (it came with Elixir 1.14). `loaded` is the reply
/// to `load_project`, whose `dbg` says what the agent did.
pub fn launch_note(break_on_dbg: bool, loaded: &Term) -> Option<String> {
    let status = loaded.get("dbg").and_then(TermExt::as_atom)?;
    (break_on_dbg && status == "unsupported")
        .then(|| "elixir-dap: `breakOnDbg` has no effect: this Elixir has no `dbg/2` (Elixir 1.14 or later)".to_owned())
}

/// `request` as the agent must receive it for `thread`: requests about a
/// thread stopped in a `dbg` call go to `elixir_dap_dbg`.
pub(super) fn routed(thread: &Thread, request: Term) -> Term {
    if thread.dbg && thread.stopped_at.is_some() {
        term::tuple(vec![term::atom("dbg"), request])
    } else {
        request
    }
}

impl Debugger {
    /// `continue`, `next`, `stepIn`, `stepOut` on a thread stopped in a
    /// `dbg` call. Whether `next` stops again before a pipeline's next
    /// stage, the `dbg_stopped` event says (`stepping`).
    pub(super) async fn resume_dbg(&mut self, command: &str, thread_id: i64, pid: Term) -> Handled {
        if command != "continue" && command != "next" {
            return Err(RequestError::User(format!(
                "{command} is not supported at a `dbg` call: use continue, or next to go through a pipeline"
            )));
        }
        let agent_command = if command == "next" { "next" } else { "continue" };
        let request = term::tuple(vec![
            term::atom("dbg"),
            term::tuple(vec![term::atom("command"), pid, term::atom(agent_command)]),
        ]);
        self.threads.lock().begin_resume(thread_id, None);
        self.agent
            .call(request, CALL_TIMEOUT)
            .await
            .map_err(RequestError::from_agent)?;
        Ok(if command == "continue" {
            json!({ "allThreadsContinued": false })
        } else {
            Value::Null
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launch_note_only_when_dbg_is_missing_and_wanted() {
        let reply = |status: &str| term::map(vec![("dbg", term::atom(status))]);
        assert!(launch_note(true, &reply("unsupported")).is_some_and(|n| n.contains("breakOnDbg")));
        assert_eq!(launch_note(false, &reply("unsupported")), None);
        assert_eq!(launch_note(true, &reply("enabled")), None);
        assert_eq!(launch_note(true, &term::map(vec![])), None);
    }
}
