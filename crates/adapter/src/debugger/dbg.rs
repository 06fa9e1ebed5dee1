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
use beam::protocol::{self, Command, Pid, ProjectLoaded, Request};
use serde_json::{json, Value};

/// The `description` of the `stopped` event of a `dbg` call.
pub const STOP_DESCRIPTION: &str = "Paused on a dbg call";

/// A console line for the launch when `breakOnDbg` cannot work: the VM's
/// Elixir has no `dbg/2` (it came with Elixir 1.14). `loaded` is the reply
/// to `load_project`, whose `dbg` says what the agent did.
pub fn launch_note(break_on_dbg: bool, loaded: &ProjectLoaded) -> Option<String> {
    (break_on_dbg && loaded.dbg == "unsupported")
        .then(|| "elixir-dap: `breakOnDbg` has no effect: this Elixir has no `dbg/2` (Elixir 1.14 or later)".to_owned())
}

/// `request` as the agent must receive it for `thread`: requests about a
/// thread stopped in a `dbg` call go to `elixir_dap_dbg`.
pub(super) fn routed(thread: &Thread, request: Request) -> Request {
    if thread.dbg && thread.stopped_at.is_some() {
        Request::Dbg(Box::new(request))
    } else {
        request
    }
}

impl Debugger {
    /// `continue`, `next`, `stepIn`, `stepOut` on a thread stopped in a
    /// `dbg` call. Whether `next` stops again before a pipeline's next
    /// stage, the `dbg_stopped` event says (`stepping`).
    pub(super) async fn resume_dbg(&mut self, command: &str, thread_id: i64, pid: Pid) -> Handled {
        if command != "continue" && command != "next" {
            return Err(RequestError::User(format!(
                "{command} is not supported at a `dbg` call: use continue, or next to go through a pipeline"
            )));
        }
        let agent_command = if command == "next" {
            Command::Next
        } else {
            Command::Continue
        };
        let request = Request::Dbg(Box::new(Request::Command {
            pid,
            command: agent_command,
        }));
        self.threads.lock().begin_resume(thread_id, None);
        self.agent
            .request::<protocol::DbgResumed>(&request, CALL_TIMEOUT)
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
        let reply = |status: &str| ProjectLoaded {
            task: "run".into(),
            mix_env: "dev".into(),
            dbg: protocol::Atom(status.into()),
            manifests: Vec::new(),
            diagnostics: Vec::new(),
        };
        assert!(launch_note(true, &reply("unsupported")).is_some_and(|n| n.contains("breakOnDbg")));
        assert_eq!(launch_note(false, &reply("unsupported")), None);
        assert_eq!(launch_note(true, &reply("enabled")), None);
        assert_eq!(launch_note(true, &reply("disabled")), None);
    }
}
