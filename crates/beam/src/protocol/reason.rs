//! Reasons: why a request failed ([`Failure`]), why a module was not
//! interpreted ([`SkipReason`]), why a reload step names a process
//! ([`ProcessReason`]), why a module's code did not load or could not be
//! put back ([`ModuleReason`]), why an attach was refused
//! ([`AttachRefusal`]).
//!
//! The agent words none of them. It sends a map of an atom `kind` and that
//! kind's parameters, `#{kind => not_paused, pid => Pid, status => running}`
//! (`reason()` in `elixir_dap_util.erl`), decoded here strictly: a kind the
//! type does not know, a missing parameter or one the kind does not take is
//! a [`DecodeError`] naming it, so a drift between the two sides is an
//! internal error, never a message in the wrong words. Each type's
//! `Display` is the one place the adapter words them. Text parameters are
//! content, not words: the VM's formatted exception (`exception`, `error`
//! of an evaluation), a term as Erlang prints it (`error`), a path, the
//! compiler's diagnostics.

use super::decode::{Atom, Decode, DecodeError, Fields, Pid};
use crate::record;
use eetf::Term;
use std::fmt;
use std::time::Duration;

/// Declares an enum of reasons: one struct variant per `kind`, its fields
/// the kind's parameters (keys of the map, required unless an `Option`).
/// `KINDS` lists the kinds; [`Decode`] reads the map strictly.
macro_rules! reasons {
    ($(#[$meta:meta])* pub enum $name:ident {
        $($(#[$vmeta:meta])* $variant:ident = $kind:literal { $($field:ident : $ty:ty),* $(,)? }),* $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub enum $name {
            $($(#[$vmeta])* $variant { $($field: $ty),* }),*
        }

        impl $name {
            /// Every kind, as the agent spells it.
            pub const KINDS: &'static [&'static str] = &[$($kind),*];

            /// This reason's kind, as the agent spells it.
            pub fn kind(&self) -> &'static str {
                match self {
                    $($name::$variant { .. } => $kind),*
                }
            }
        }

        impl Decode for $name {
            fn expected() -> String {
                concat!("a map (", stringify!($name), ": a `kind` and its parameters)").to_owned()
            }

            fn decode(term: &Term) -> Result<Self, DecodeError> {
                let mut fields = Fields::new(term, &Self::expected())?;
                let kind: Atom = fields.take("kind")?;
                let value = match kind.as_str() {
                    $($kind => $name::$variant { $($field: fields.take(stringify!($field))?),* },)*
                    _ => {
                        let expected = format!(concat!("a kind of ", stringify!($name), " ({})"), Self::KINDS.join(", "));
                        return Err(DecodeError::wrong(expected, &Term::Atom(eetf::Atom::from(kind.as_str()))).at("kind"));
                    }
                };
                fields.finish()?;
                Ok(value)
            }
        }
    };
}

record! {
    /// A compiler diagnostic (content of [`Failure::CompileFailed`] and of
    /// the compile replies): `line` and `column` from 1 (0: unknown),
    /// `severity` `error` | `warning` | `information` | `hint`.
    pub struct Diagnostic {
        file: String,
        line: i64,
        column: i64,
        severity: Atom,
        message: String,
    }
}

reasons! {
    /// Why the agent failed a request: `{reply, Id, {error, Failure}}`.
    /// Whose fault each is, the adapter decides (`adapter::error`).
    pub enum Failure {
        /// The request raised in the agent: the VM's formatted exception.
        Exception = "exception" { exception: String },
        /// A request the agent does not know, as Erlang prints it.
        UnknownRequest = "unknown_request" { request: String },
        /// The project does not compile: every diagnostic of the compile.
        CompileFailed = "compile_failed" { diagnostics: Vec<Diagnostic> },
        /// OTP's `debugger` application did not start: why, as Erlang prints it.
        DebuggerCannotStart = "debugger_cannot_start" { error: String },
        DebuggerNotInstalled = "debugger_not_installed" {},
        /// A node attached to has no `debugger`, nor has the helper's OTP.
        HelperHasNoDebugger = "helper_has_no_debugger" {},
        /// A node attached to has no `debugger`; the helper's answer.
        DebuggerNotShipped = "debugger_not_shipped" { error: String },
        /// Interpreting a batch of modules outlasted its limit (`ms`).
        InterpretTimeout = "interpret_timeout" { ms: i64 },
        /// Preparing a batch of modules outlasted its limit (`ms`).
        PrepareTimeout = "prepare_timeout" { ms: i64 },
        NoBeam = "no_beam" { module: Atom },
        NoDebugInfo = "no_debug_info" { module: Atom },
        DebugInfoUnusable = "debug_info_unusable" { module: Atom },
        /// A node without Mix: the helper has no object code for the
        /// module the node runs.
        CodeUnavailable = "code_unavailable" { reason: SkipReason },
        /// A name no atom exists for (`what`: `module`).
        UnknownName = "unknown_name" { what: Atom, name: String },
        /// The process ended meanwhile.
        Exited = "exited" { pid: Pid },
        NotInterpreted = "not_interpreted" { pid: Pid },
        /// `status` as `:int` says it: `running`, `waiting`, `idle`, `exit`.
        NotPaused = "not_paused" { pid: Pid, status: Atom },
        NotInDbg = "not_in_dbg" { pid: Pid },
        /// A process paused in `dbg` did not answer within `ms`.
        NoAnswer = "no_answer" { pid: Pid, ms: i64 },
        /// The expression raised: the first line of the VM's formatted
        /// exception, or the worker's exit reason as Erlang prints it.
        EvaluationFailed = "evaluation_failed" { error: String },
        EvaluationTimeout = "evaluation_timeout" { ms: i64 },
        /// A value of a process that has resumed since.
        StaleHandle = "stale_handle" {},
        /// The native backend: `erl_debugger:supported()` is false (OTP 27
        /// or earlier, or a VM started without `+D`).
        NativeDebuggerUnavailable = "native_debugger_unavailable" {},
        /// The native backend: another process (`holder`, as Erlang prints
        /// it) is registered with `erl_debugger` on the node.
        NativeDebuggerTaken = "native_debugger_taken" { holder: String },
        /// The native backend's session process ended: why, as Erlang prints it.
        NativeSessionEnded = "native_session_ended" { error: String },
        /// The native backend cannot break in the module: why.
        NotDebuggable = "not_debuggable" { module: Atom, reason: SkipReason },
        /// The native backend: the function exists and has no `debug_line`.
        /// `injected_from`: the file a macro injected its code from (`quote
        /// location: :keep`; OTP 29's compiler gives code of another file
        /// none), else empty (code the compiler generated).
        FunctionNotBreakable = "function_not_breakable" { module: Atom, function: String, arity: i64, injected_from: String },
        /// `erl_debugger:breakpoint/3` refused a line its module listed as
        /// breakable: its error, as Erlang prints it.
        BreakpointRefused = "breakpoint_refused" { module: Atom, line: i64, error: String },
        /// A paused process has no frame at `level` (0: innermost).
        NoFrame = "no_frame" { pid: Pid, level: i64 },
    }
}

/// The first error of a failed compile, as `file:line: first line`.
fn first_error(diagnostics: &[Diagnostic]) -> Option<String> {
    let error = diagnostics.iter().find(|d| d.severity == "error")?;
    let first = error.message.lines().next().unwrap_or_default();
    Some(format!("{}:{}: {first}", error.file, error.line))
}

const NO_DEBUGGER: &str = "the node has no `debugger` application (OTP's interpreter) and";

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Exception { exception } => f.write_str(exception),
            Failure::UnknownRequest { request } => write!(f, "unknown request {request}"),
            Failure::CompileFailed { diagnostics } => match first_error(diagnostics) {
                Some(error) => write!(f, "compilation failed: {error}"),
                None => f.write_str("compilation failed"),
            },
            Failure::DebuggerCannotStart { error } => write!(
                f,
                "the Erlang debugger application cannot start: {error} (install erlang-debugger)"
            ),
            Failure::DebuggerNotInstalled {} => {
                f.write_str("the Erlang debugger application is not installed (install erlang-debugger)")
            }
            Failure::HelperHasNoDebugger {} => write!(
                f,
                "{NO_DEBUGGER} the helper's OTP has no debugger application either (install \
                 erlang-debugger where the `elixirPath` attribute's `elixir` runs)"
            ),
            Failure::DebuggerNotShipped { error } => {
                write!(f, "{NO_DEBUGGER} the helper node did not send it: {error}")
            }
            Failure::InterpretTimeout { ms } => {
                write!(f, "interpreting the modules took more than {}", duration(*ms))
            }
            Failure::PrepareTimeout { ms } => {
                write!(
                    f,
                    "preparing modules for the interpreter took more than {}",
                    duration(*ms)
                )
            }
            Failure::NoBeam { module } => write!(f, "no beam file for {}", module.module_name()),
            Failure::NoDebugInfo { module } => write!(f, "{} has no debug info", module.module_name()),
            Failure::DebugInfoUnusable { module } => write!(f, "{} has no usable debug info", module.module_name()),
            Failure::CodeUnavailable { reason } => write!(f, "{reason}"),
            Failure::UnknownName { what, name } => write!(f, "no {what} named {name} is loaded"),
            Failure::Exited { pid } => write!(f, "{} has exited", pid_text(pid)),
            Failure::NotInterpreted { pid } => write!(f, "{} is not a debugged process", pid_text(pid)),
            Failure::NotPaused { pid, status } => write!(f, "{} is {status}, not paused", pid_text(pid)),
            Failure::NotInDbg { pid } => write!(f, "{} is not paused in a dbg call", pid_text(pid)),
            Failure::NoAnswer { pid, ms } => write!(f, "{} did not answer within {ms} ms", pid_text(pid)),
            Failure::EvaluationFailed { error } => f.write_str(error),
            Failure::EvaluationTimeout { ms } => write!(f, "the expression did not finish within {ms} ms"),
            Failure::StaleHandle {} => f.write_str("the value is no longer available (the process has resumed)"),
            Failure::NativeDebuggerUnavailable {} => f.write_str(
                "the native debugger (erl_debugger) is not available in this VM: it needs OTP 28 or later and \
                 the VM started with +D",
            ),
            Failure::NativeDebuggerTaken { holder } => {
                write!(
                    f,
                    "another debugger ({holder}) is registered with erl_debugger on this node"
                )
            }
            Failure::NativeSessionEnded { error } => write!(f, "the native debugger's session ended: {error}"),
            Failure::NotDebuggable { module, reason } => {
                write!(f, "{} cannot be debugged: {reason}", module.module_name())
            }
            Failure::FunctionNotBreakable {
                module,
                function,
                arity,
                injected_from,
            } if injected_from.is_empty() => write!(
                f,
                "{}.{function}/{arity} has no line the native debugger can stop at (code the compiler generated)",
                module.module_name()
            ),
            Failure::FunctionNotBreakable {
                module,
                function,
                arity,
                injected_from,
            } => write!(
                f,
                "{}.{function}/{arity} has no line the native debugger can stop at: a macro injected its code from \
                 {injected_from}, and the Erlang compiler gives code of another file no debug_line; set the \
                 breakpoint in code it calls, or debug with debugBackend \"interpreter\"",
                module.module_name()
            ),
            Failure::BreakpointRefused { module, line, error } => write!(
                f,
                "erl_debugger refused a breakpoint on {} line {line}: {error}",
                module.module_name()
            ),
            Failure::NoFrame { pid, level } => write!(f, "{} has no frame {level}", pid_text(pid)),
        }
    }
}

reasons! {
    /// Why a module was not interpreted (`skipped` of an interpretation).
    pub enum SkipReason {
        InterpreterRefused = "interpreter_refused" {},
        NoDebugInfo = "no_debug_info" {},
        NoSource = "no_source" {},
        NoBeam = "no_beam" {},
        /// `:int` interprets no module of OTP's `kernel`, `stdlib`, `erts`,
        /// `gs`, `debugger`.
        RefusedApplication = "refused_application" { app: Atom },
        Unreadable = "unreadable" { file: String, error: String },
        LoadFailed = "load_failed" { error: String },
        /// The interpreter's work raised: `{Class, Reason}` as Erlang prints it.
        Failed = "failed" { error: String },
        /// A reload: old native code still runs, so the new code runs natively.
        OldNativeCodeRunning = "old_native_code_running" {},
        NoObjectCode = "no_object_code" {},
        /// A staged reload (OTP 28 on) found `dbg_iserver` gone.
        InterpreterNotRunning = "interpreter_not_running" {},
        /// A node without Mix: its helper knows no source of the module.
        NoSourceRecorded = "no_source_recorded" {},
        /// A node without Mix runs a build of the module that `projectDir`'s
        /// `_build` does not hold.
        BuildMismatch = "build_mismatch" { module: Atom },
        /// A node without Mix: the helper could not read `file`.
        UnreadableOnAdapterSide = "unreadable_on_adapter_side" { file: String, error: String },
        /// The adapter's own, for the `unknown` names of an
        /// `interpret_pending` (no atom, so no module, of that name).
        NeverLoaded = "never_loaded" {},
        /// The native backend: the module's code has no `debug_line` (it was
        /// compiled without `beam_debug_info`).
        NoDebugLines = "no_debug_lines" {},
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::InterpreterRefused {} => f.write_str("the interpreter refused it"),
            // `no_debug_info` as `:int` says it, which users search for.
            SkipReason::NoDebugInfo {} => f.write_str("no_debug_info (its beam file holds no debug info)"),
            SkipReason::NoSource {} => f.write_str("its source file was not found"),
            SkipReason::NoBeam {} => f.write_str("no beam file was found for it"),
            SkipReason::RefusedApplication { app } => {
                write!(
                    f,
                    "the interpreter does not interpret modules of OTP's `{app}` application"
                )
            }
            SkipReason::Unreadable { file, error } => write!(f, "cannot read {file}: {error}"),
            SkipReason::LoadFailed { error } => write!(f, "its code did not load: {error}"),
            SkipReason::Failed { error } => write!(f, "the interpreter failed on it: {error}"),
            SkipReason::OldNativeCodeRunning {} => {
                f.write_str("a process still runs the previous native version; the new code runs natively")
            }
            SkipReason::NoObjectCode {} => f.write_str("no object code found for the module"),
            SkipReason::InterpreterNotRunning {} => f.write_str("the interpreter is not running"),
            SkipReason::NoSourceRecorded {} => f.write_str("no source recorded for the module"),
            SkipReason::BuildMismatch { module } => write!(
                f,
                "the node runs a build of {} that `projectDir`'s _build does not hold (no beam there has its \
                 MD5): build the project as the release was built (`MIX_ENV=prod mix compile`) from the same \
                 sources",
                module.module_name()
            ),
            SkipReason::UnreadableOnAdapterSide { file, error } => {
                write!(f, "cannot read {file} on the adapter's side: {error}")
            }
            SkipReason::NeverLoaded {} => f.write_str("no module of that name was ever loaded"),
            SkipReason::NoDebugLines {} => f.write_str(
                "it has no breakable line: it was compiled without line debug info (the Erlang compiler's \
                 beam_debug_info)",
            ),
        }
    }
}

reasons! {
    /// Why a reload step names a process (`why` of a process entry):
    /// blocked, killed, left on the old version, skipped or failed.
    pub enum ProcessReason {
        KilledOnOldCode = "killed_on_old_code" {},
        RunsOldCode = "runs_old_code" {},
        /// Its interpreted calls are inside a reloaded module.
        InsideModule = "inside_module" {},
        /// Held while inside interpreted code when the batch switched.
        BusyInInterpretedCode = "busy_in_interpreted_code" {},
        RunsDeletedModule = "runs_deleted_module" {},
        PausedByDebugger = "paused_by_debugger" {},
        NotSuspended = "not_suspended" { error: String },
        /// `code_change/3` failed: the first line of the exception, or the
        /// error as Erlang prints it.
        CodeChangeFailed = "code_change_failed" { error: String },
    }
}

impl fmt::Display for ProcessReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProcessReason::KilledOnOldCode {} => "killed: it was running old code of the module",
            ProcessReason::RunsOldCode {} => "runs an old version of the module; loading a new one would kill it",
            ProcessReason::InsideModule {} => {
                "its interpreted calls are inside the module: they finish on the version they started in, and \
                 the process runs the new one once it is out of the module (a loop that never leaves it stays \
                 on the old version)"
            }
            ProcessReason::BusyInInterpretedCode {} => {
                "was inside interpreted code when the batch switched (it did not wait between calls for \
                 100 ms): the call it was in may mix the batch's old and new modules"
            }
            ProcessReason::RunsDeletedModule {} => "runs the module of the deleted file",
            ProcessReason::PausedByDebugger {} => {
                "paused by the debugger: its state was not upgraded (code_change/3 not called)"
            }
            ProcessReason::NotSuspended { error } => return write!(f, "could not be suspended: {error}"),
            ProcessReason::CodeChangeFailed { error } => return write!(f, "code_change/3 failed: {error}"),
        })
    }
}

reasons! {
    /// Why a module's new code did not load, or a rollback could not put
    /// its old code back or remove it (`reason` of a module failure).
    pub enum ModuleReason {
        /// The wave's code is not the code that runs, and the load said nothing.
        NotLoaded = "not_loaded" {},
        NotPurged = "not_purged" {},
        OnLoadFailed = "on_load_failed" {},
        LoadFailed = "load_failed" { error: String },
        /// Rollback: a process runs the code that would be replaced.
        OldCodeInUse = "old_code_in_use" {},
        NotReinterpreted = "not_reinterpreted" {},
        RestoreFailed = "restore_failed" { error: String },
        /// Rollback: a process runs the new module that would be removed.
        NewCodeInUse = "new_code_in_use" {},
    }
}

impl fmt::Display for ModuleReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModuleReason::NotLoaded {} => f.write_str("the new code did not load (the old version still runs)"),
            ModuleReason::NotPurged {} => {
                f.write_str("the new code did not load: a process still runs the old version")
            }
            ModuleReason::OnLoadFailed {} => f.write_str("the new code did not load: its on_load function failed"),
            ModuleReason::LoadFailed { error } => write!(f, "the new code did not load: {error}"),
            ModuleReason::OldCodeInUse {} => f.write_str("a process still runs the code to replace"),
            ModuleReason::NotReinterpreted {} => f.write_str("could not interpret the old code again"),
            ModuleReason::RestoreFailed { error } => write!(f, "the old code did not load again: {error}"),
            ModuleReason::NewCodeInUse {} => f.write_str("a process still runs the code to remove"),
        }
    }
}

reasons! {
    /// Why the attach helper could not attach (the hello's `attach_error`);
    /// [`AttachRefusal::attribute`] names the `attach` attribute to blame.
    pub enum AttachRefusal {
        AlreadyAttached = "already_attached" { node: Atom },
        AgentDidNotStart = "agent_did_not_start" { node: Atom, ms: i64 },
        /// `net_kernel` did not start: why, as Erlang prints it.
        NoDistribution = "no_distribution" { error: String },
        NoAnswer = "no_answer" { node: Atom, ms: i64 },
        CookieRefused = "cookie_refused" { node: Atom },
        /// epmd on `host` knows no node `name`; those it knows.
        NotRegistered = "not_registered" { name: String, host: String, registered: Vec<String> },
        EpmdUnreachable = "epmd_unreachable" { node: Atom, host: String, error: String },
        NoElixir = "no_elixir" { node: Atom, otp: String },
        VersionMismatch = "version_mismatch" {
            node: Atom, elixir: String, otp: String, own_elixir: String, own_otp: String,
        },
        RemoteCallFailed = "remote_call_failed" { node: Atom, module: Atom, function: Atom, error: String },
        /// An agent module did not load into the node.
        AgentNotLoaded = "agent_not_loaded" { module: Atom, node: Atom, error: String },
        /// A node without Mix runs none of `projectDir`'s applications.
        RunsNoProjectApp = "runs_no_project_app" { node: Atom, dir: String, apps: Vec<Atom> },
        /// Mix could not read `projectDir`'s `mix.exs`: Elixir's banner of the exception.
        ProjectUnreadable = "project_unreadable" { dir: String, error: String },
        NoProjectApp = "no_project_app" { dir: String },
        /// `debugBackend` "native": the node's emulator has no
        /// `erl_debugger` (before OTP 28, or not started with `+D`).
        NativeUnavailable = "native_unavailable" { node: Atom, otp: String },
        /// A cluster: the node attached to is not connected to `peer`, and
        /// a reload calls every peer from it.
        PeerNotConnected = "peer_not_connected" { node: Atom, peer: Atom },
    }
}

impl AttachRefusal {
    /// The `attach` attribute at fault: `remoteNode`, `cookie`,
    /// `elixirPath` or `projectDir`.
    pub fn attribute(&self) -> &'static str {
        match self {
            AttachRefusal::CookieRefused { .. } => "cookie",
            AttachRefusal::NativeUnavailable { .. } => "debugBackend",
            AttachRefusal::VersionMismatch { .. } => "elixirPath",
            AttachRefusal::RunsNoProjectApp { .. }
            | AttachRefusal::ProjectUnreadable { .. }
            | AttachRefusal::NoProjectApp { .. } => "projectDir",
            AttachRefusal::AlreadyAttached { .. }
            | AttachRefusal::AgentDidNotStart { .. }
            | AttachRefusal::NoDistribution { .. }
            | AttachRefusal::NoAnswer { .. }
            | AttachRefusal::NotRegistered { .. }
            | AttachRefusal::EpmdUnreachable { .. }
            | AttachRefusal::NoElixir { .. }
            | AttachRefusal::RemoteCallFailed { .. }
            | AttachRefusal::PeerNotConnected { .. }
            | AttachRefusal::AgentNotLoaded { .. } => "remoteNode",
        }
    }
}

impl fmt::Display for AttachRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttachRefusal::AlreadyAttached { node } => {
                write!(f, "another elixir-dap session is attached to {node}: detach it first")
            }
            AttachRefusal::AgentDidNotStart { node, ms } => {
                write!(f, "the agent did not start on {node} within {ms} ms")
            }
            AttachRefusal::NoDistribution { error } => write!(
                f,
                "could not start Erlang distribution here ({error}): is epmd running on this machine? The \
                 node attached to starts one when it starts distributed; elixir-dap does not start epmd"
            ),
            AttachRefusal::NoAnswer { node, ms } => write!(f, "{node} did not answer within {ms} ms"),
            AttachRefusal::CookieRefused { node } => write!(
                f,
                "{node} refused the connection: its cookie is not the one given (the `cookie` attribute, \
                 else RELEASE_COOKIE, else ~/.erlang.cookie)"
            ),
            AttachRefusal::NotRegistered { name, host, registered } => {
                let registered = if registered.is_empty() {
                    "none".to_owned()
                } else {
                    registered.join(", ")
                };
                write!(
                    f,
                    "no node named {name} runs on {host} (nodes registered there: {registered})"
                )
            }
            AttachRefusal::EpmdUnreachable { node, host, error } => {
                write!(f, "cannot reach {node}: epmd on {host} does not answer ({error})")
            }
            AttachRefusal::NoElixir { node, otp } => write!(f, "{node} runs no Elixir (OTP {otp})"),
            AttachRefusal::VersionMismatch {
                node,
                elixir,
                otp,
                own_elixir,
                own_otp,
            } => write!(
                f,
                "{node} runs Elixir {elixir} on OTP {otp}, the adapter's `elixir` (the `elixirPath` attribute, \
                 else PATH) Elixir {own_elixir} on OTP {own_otp}: attach needs the same OTP release and Elixir \
                 major.minor"
            ),
            AttachRefusal::RemoteCallFailed {
                node,
                module,
                function,
                error,
            } => write!(f, "{node}: {module}:{function} failed: {error}"),
            AttachRefusal::AgentNotLoaded { module, node, error } => {
                write!(f, "could not load {module} into {node}: {error}")
            }
            AttachRefusal::RunsNoProjectApp { node, dir, apps } => {
                let apps: Vec<&str> = apps.iter().map(Atom::as_str).collect();
                write!(
                    f,
                    "{node} runs none of the applications of the project in {dir} ({}): is `projectDir` the \
                     project the release was built from?",
                    apps.join(", ")
                )
            }
            AttachRefusal::ProjectUnreadable { dir, error } => {
                write!(f, "cannot read the Mix project in {dir}: {error}")
            }
            AttachRefusal::NoProjectApp { dir } => {
                write!(f, "the mix.exs in {dir} names no `app` in its project config")
            }
            AttachRefusal::PeerNotConnected { node, peer } => write!(
                f,
                "{node} is not connected to {peer}: the nodes of `remoteNode` must form a cluster (connected \
                 over distribution: `Node.connect/1`, libcluster...), as a reload reaches the others from the first"
            ),
            AttachRefusal::NativeUnavailable { node, otp } => write!(
                f,
                "\"native\" needs {node}'s emulator to run OTP's native debugger (erl_debugger: OTP 28 or \
                 later, the node started with +D, e.g. `elixir --erl \"+D\" ...`); {node} runs OTP {otp} without \
                 it: use \"interpreter\" or \"auto\""
            ),
        }
    }
}

/// `#PID<0.123.0>`, as Elixir shows a pid of the debugged VM (the agent's
/// pids are local there).
pub fn pid_text(pid: &Pid) -> String {
    format!("#PID<0.{}.{}>", pid.id, pid.serial)
}

/// A limit in milliseconds, as a person reads it.
fn duration(ms: i64) -> String {
    human_duration(Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
}

/// A duration as a person reads it: `250 ms`, `30 s`, `10 min`.
pub fn human_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1000 {
        format!("{millis} ms")
    } else if millis < 120_000 || millis % 60_000 != 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{} min", duration.as_secs() / 60)
    }
}
