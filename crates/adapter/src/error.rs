//! Why a request failed: [`RequestError`], which every handler returns, and
//! the one place that turns it into DAP's error response
//! ([`RequestError::to_response`]).
//!
//! Errors are classified by blame, which decides how the client shows them:
//!
//! | class | whose fault | `showUser` | error id | logged at |
//! |---|---|---|---|---|
//! | [`Blame::User`] | the user's arguments or program (a bad attribute, a compile error) | true | 1 | info |
//! | [`Blame::Internal`] | ours, or the VM's or the agent's (an agent crash, a timeout, a broken reply) | true, with a hint to report it | 2 | error |
//! | [`Blame::Silent`] | nobody: expected, e.g. a request racing the end of the session or a resume | false | 3 | debug |
//!
//! Which agent failures fall in which class is decided in
//! [`RequestError::from_agent`]; handlers pick the class of their own errors.

use beam::protocol::Failure;
use beam::AgentError;
use dap::Response;

/// Who is to blame for a failed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    User,
    Internal,
    Silent,
}

impl Blame {
    /// The `id` of DAP's `Message` in the error response: one per class, so
    /// a client (or a test) can tell the classes apart without reading text.
    pub fn error_id(self) -> i64 {
        match self {
            Blame::User => 1,
            Blame::Internal => 2,
            Blame::Silent => 3,
        }
    }

    /// Whether the client should show the error to the user (`showUser`).
    pub fn show_user(self) -> bool {
        !matches!(self, Blame::Silent)
    }
}

/// What an internal error adds to its message: it is not the user's doing,
/// and a report helps.
pub const REPORT_HINT: &str = "this is a fault of elixir-dap or of the debugged VM, not of your program; \
     please report it with the adapter's log (`--log-file`)";

/// Why a request failed. The message is shown as it is, so it says what was
/// wrong and, for arguments, which attribute and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The user's input or program is at fault: bad arguments, compile errors.
    #[error("{0}")]
    User(String),
    /// Something failed inside the adapter, the agent or the VM.
    #[error("internal error: {0} ({REPORT_HINT})")]
    Internal(String),
    /// Expected and not worth showing: a request that raced the end of the
    /// session, or asked about a thread or value a resume has made out of date.
    #[error("{0}")]
    Silent(String),
}

impl RequestError {
    pub fn blame(&self) -> Blame {
        match self {
            RequestError::User(_) => Blame::User,
            RequestError::Internal(_) => Blame::Internal,
            RequestError::Silent(_) => Blame::Silent,
        }
    }

    /// The same error, its message rewritten by `f`; the class is kept.
    pub fn map_message(self, f: impl FnOnce(String) -> String) -> Self {
        match self {
            RequestError::User(m) => RequestError::User(f(m)),
            RequestError::Internal(m) => RequestError::Internal(f(m)),
            RequestError::Silent(m) => RequestError::Silent(f(m)),
        }
    }

    /// Classifies a failed agent call. The agent reports a failure of its own
    /// as a reason ([`Failure`], worded by its `Display`), whose blame
    /// [`failure_blame`] gives. A channel that closed means the VM or its
    /// agent is gone, which the session reports on its own (`exited`,
    /// `terminated`): silent. A call the agent did not answer in time, or
    /// answered with a reply we cannot read (a reason of a kind the adapter
    /// does not know among them), is internal.
    pub fn from_agent(error: AgentError) -> Self {
        match error {
            AgentError::Failed(failure) => {
                let message = failure.to_string();
                match failure_blame(&failure) {
                    Blame::User => RequestError::User(message),
                    Blame::Internal => RequestError::Internal(message),
                    Blame::Silent => RequestError::Silent(message),
                }
            }
            AgentError::Closed => RequestError::Silent(error.to_string()),
            AgentError::Timeout { .. } | AgentError::Protocol(_) => RequestError::Internal(error.to_string()),
        }
    }

    /// DAP's error response to request `seq` (`command`), logged by class:
    /// the only place error responses are built.
    pub fn to_response(&self, seq: i64, command: &str) -> Response {
        let blame = self.blame();
        let text = self.to_string();
        match blame {
            Blame::User => tracing::info!(command, error = %text, "request failed"),
            Blame::Internal => tracing::error!(command, error = %text, "request failed (internal)"),
            Blame::Silent => tracing::debug!(command, error = %text, "request failed (expected)"),
        }
        Response::error(seq, command, blame.error_id(), &text, blame.show_user())
    }
}

/// Whose fault an agent's failure is:
/// - the request crashed in the agent, a request it does not know, its own
///   work outlasting its limit, the native debugger's session ending: ours,
///   internal;
/// - a process that ended meanwhile, a value of a process that has resumed
///   since: races, silent;
/// - what the user asked for or has (a project that does not compile, a
///   module without debug info, a thread not paused, an expression that
///   raised, a VM without OTP's debugger, what the chosen backend cannot
///   do yet): user.
///
/// Exhaustive, so that a kind added later is classified where it is added.
pub fn failure_blame(failure: &Failure) -> Blame {
    match failure {
        Failure::Exception { .. }
        | Failure::UnknownRequest { .. }
        | Failure::InterpretTimeout { .. }
        | Failure::PrepareTimeout { .. }
        | Failure::NativeSessionEnded { .. } => Blame::Internal,
        Failure::Exited { .. } | Failure::StaleHandle {} => Blame::Silent,
        Failure::CompileFailed { .. }
        | Failure::DebuggerCannotStart { .. }
        | Failure::DebuggerNotInstalled {}
        | Failure::HelperHasNoDebugger {}
        | Failure::DebuggerNotShipped { .. }
        | Failure::NoBeam { .. }
        | Failure::NoDebugInfo { .. }
        | Failure::DebugInfoUnusable { .. }
        | Failure::CodeUnavailable { .. }
        | Failure::UnknownName { .. }
        | Failure::NotInterpreted { .. }
        | Failure::NotPaused { .. }
        | Failure::NotInDbg { .. }
        | Failure::NoAnswer { .. }
        | Failure::EvaluationFailed { .. }
        | Failure::EvaluationTimeout { .. }
        | Failure::NativeDebuggerUnavailable {}
        | Failure::NativeDebuggerTaken { .. }
        | Failure::NotDebuggable { .. }
        | Failure::FunctionNotBreakable { .. }
        | Failure::BreakpointRefused { .. }
        | Failure::NoFrame { .. } => Blame::User,
    }
}

impl From<AgentError> for RequestError {
    fn from(error: AgentError) -> Self {
        RequestError::from_agent(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use std::time::Duration;

    fn pid() -> beam::protocol::Pid {
        beam::protocol::Pid::new("n@h", 80, 0, 0)
    }

    #[test]
    fn agent_failures_are_classified_by_kind_and_keep_their_words() {
        for (failure, blame) in [
            (
                Failure::Exception {
                    exception: "** (ArgumentError) boom".into(),
                },
                Blame::Internal,
            ),
            (
                Failure::UnknownRequest {
                    request: "{no,such}".into(),
                },
                Blame::Internal,
            ),
            // The agent's own work running too long: never the user's fault.
            (Failure::InterpretTimeout { ms: 600_000 }, Blame::Internal),
            (Failure::Exited { pid: pid() }, Blame::Silent),
            (Failure::StaleHandle {}, Blame::Silent),
            (
                Failure::NotPaused {
                    pid: pid(),
                    status: beam::protocol::Atom("running".into()),
                },
                Blame::User,
            ),
            (
                Failure::EvaluationFailed {
                    error: "** (ArithmeticError) bad argument".into(),
                },
                Blame::User,
            ),
            (
                Failure::NoDebugInfo {
                    module: beam::protocol::Atom("Elixir.A".into()),
                },
                Blame::User,
            ),
            (
                Failure::CompileFailed {
                    diagnostics: Vec::new(),
                },
                Blame::User,
            ),
        ] {
            let words = failure.to_string();
            let error = RequestError::from_agent(AgentError::Failed(failure));
            assert_eq!(error.blame(), blame, "{words}");
            assert!(error.to_string().contains(&words), "{error}");
        }
    }

    #[test]
    fn channel_failures_are_internal_unless_the_vm_is_gone() {
        assert_eq!(RequestError::from_agent(AgentError::Closed).blame(), Blame::Silent);
        let timeout = AgentError::Timeout {
            request: "stack".into(),
            after: Duration::from_secs(30),
        };
        assert_eq!(RequestError::from_agent(timeout).blame(), Blame::Internal);
        let protocol = AgentError::Protocol("no reply".into());
        assert_eq!(RequestError::from(protocol).blame(), Blame::Internal);
    }

    fn error_body(error: &RequestError) -> (Value, Option<String>) {
        let response = error.to_response(7, "variables");
        assert!(!response.success);
        assert_eq!((response.request_seq, response.command.as_str()), (7, "variables"));
        (
            response.body.map(|b| b.to_value()).unwrap_or_default()["error"].clone(),
            response.message,
        )
    }

    /// A user error is shown as it is; a silent one is not shown.
    #[test]
    fn user_and_silent_errors_keep_their_text() {
        for (error, id, shown) in [
            (RequestError::User("`projectDir`: expected a string".into()), 1, true),
            (
                RequestError::Silent("variables: cancelled by `disconnect`".into()),
                3,
                false,
            ),
        ] {
            let text = error.to_string();
            let (body, message) = error_body(&error);
            assert_eq!(body, json!({ "id": id, "format": text, "showUser": shown }));
            assert_eq!(message, Some(text));
        }
    }

    #[test]
    fn an_internal_error_is_shown_with_a_hint_to_report_it_and_never_blames_the_user() {
        let crash = RequestError::from_agent(AgentError::Failed(Failure::Exception {
            exception: "the exception message".into(),
        }));
        let (error, message) = error_body(&crash);
        assert_eq!(error["id"], 2);
        assert_eq!(error["showUser"], true);
        let text = error["format"].as_str().unwrap_or_default();
        assert!(text.starts_with("internal error: the exception message"), "{text}");
        assert!(
            text.contains("not of your program") && text.contains("report"),
            "{text}"
        );
        assert_eq!(message.as_deref(), Some(text));
    }

    #[test]
    fn rewording_keeps_the_class() {
        for error in [
            RequestError::User("a".into()),
            RequestError::Internal("a".into()),
            RequestError::Silent("a".into()),
        ] {
            let blame = error.blame();
            let reworded = error.map_message(|m| format!("{m} (while b)"));
            assert_eq!(reworded.blame(), blame);
            assert!(reworded.to_string().contains("a (while b)"));
        }
    }
}
