//! The agent's replies: one type per shape, decoded strictly
//! ([`super::decode`]). Which request answers which is in [`super::Request`].

use super::decode::{by_key, ok_or_map, unit_atom, Atom, Decode, DecodeError, Pid};
pub use super::reason::Diagnostic;
use super::reason::{ModuleReason, ProcessReason, SkipReason};
use crate::record;
use eetf::Term;

unit_atom! {
    /// The answer to `ping`: the atom `pong`.
    Pong = "pong"
}

record! {
    /// The project is loaded and compiled: the task resolved (the default
    /// one for `task: None`), `MIX_ENV`, what became of `breakOnDbg`
    /// (`enabled`, `disabled`, `unsupported`: no `dbg/2` before Elixir
    /// 1.14), each application's compile manifest, the compiler's warnings.
    pub struct ProjectLoaded {
        task: String,
        mix_env: String,
        dbg: Atom,
        manifests: Vec<Manifest>,
        diagnostics: Vec<Diagnostic>,
    }
}

record! {
    /// Mix's compile manifest of one application (absolute paths) and the
    /// directory its paths are relative to.
    pub struct Manifest {
        app_dir: String,
        manifest: String,
    }
}

record! {
    /// A module compiled into the build path: its source (absolute, empty
    /// when unknown), beam file, application, whether the application is
    /// the project's own, and whether its code calls `elixir_dap_dbg` (a
    /// `dbg` expanded with `breakOnDbg`; read from its beam file; always
    /// false on a node attached to).
    pub struct ModuleEntry {
        module: Atom,
        name: String,
        source: String,
        beam: String,
        app: String,
        project: bool,
        calls_dbg: bool,
    }
}

record! {
    /// The result of interpreting modules: those interpreted and those the
    /// interpreter refused, with why.
    pub struct Interpreted {
        interpreted: Vec<Atom>,
        skipped: Vec<Skipped>,
    }
}

record! {
    /// The result of interpreting modules while the program runs
    /// (`interpret_pending`): as [`Interpreted`], plus the names of the
    /// modules left for later because a process was running them, and of
    /// those no module was ever loaded under (`unknown`).
    pub struct PendingInterpreted {
        interpreted: Vec<Atom>,
        busy: Vec<String>,
        skipped: Vec<Skipped>,
        unknown: Vec<String>,
    }
}

impl PendingInterpreted {
    /// The modules interpreted, and those skipped (the `unknown` names
    /// among them, with why); `busy` ones are neither.
    pub fn into_interpreted(self) -> Interpreted {
        let unknown = self.unknown.into_iter().map(|name| Skipped {
            module: Atom(name.clone()),
            name: name.strip_prefix("Elixir.").unwrap_or(&name).to_owned(),
            reason: SkipReason::NeverLoaded {},
        });
        Interpreted {
            interpreted: self.interpreted,
            skipped: self.skipped.into_iter().chain(unknown).collect(),
        }
    }
}

record! {
    /// The calls of a stopped line (`step_targets`): the modules its
    /// expressions call by name (remote calls, remote captures; the line's
    /// own module left out), and whether one also calls a module or fun
    /// known only at run time (a variable, `apply/2,3`).
    pub struct StepTargets {
        modules: Vec<Atom>,
        dynamic: bool,
    }
}

record! {
    /// A module the interpreter refused, and why.
    pub struct Skipped {
        module: Atom,
        name: String,
        reason: SkipReason,
    }
}

record! {
    /// A frame of a paused process: `level` (the interpreter's, or a `dbg`
    /// frame's), `function` and `arity` as written, `name` as shown
    /// (`Shop.Cart.add/2`), `line` (0: unknown), `source` (absolute, empty
    /// when unknown).
    pub struct Frame {
        level: i64,
        module: Atom,
        module_name: String,
        function: String,
        arity: i64,
        line: i64,
        name: String,
        source: String,
    }
}

record! {
    /// A value shown as a variable: `value` as `inspect/1` prints it, its
    /// `type`, and a `handle` for its children (0: none) with how many are
    /// indexed and named.
    pub struct Variable {
        name: String,
        value: String,
        kind = "type": String,
        handle: i64,
        indexed: i64,
        named: i64,
    }
}

/// The answer to `evaluate`: a value, or, for an expression of the debug
/// console that stopped at a breakpoint, where it stopped (its value comes
/// later as an `evaluation_result` event).
#[derive(Debug, Clone, PartialEq)]
pub enum Evaluation {
    Value(Variable),
    Paused(Paused),
}

record! {
    /// `#{paused => Stop}`.
    pub struct EvaluationPaused {
        paused: Paused,
    }
}

impl Decode for Evaluation {
    fn expected() -> String {
        "a map (Variable, or EvaluationPaused)".into()
    }

    fn decode(term: &Term) -> Result<Self, DecodeError> {
        by_key(
            term,
            &Self::expected(),
            "paused",
            |t| EvaluationPaused::decode(t).map(|p| Evaluation::Paused(p.paused)),
            |t| Variable::decode(t).map(Evaluation::Value),
        )
    }
}

/// Where a process stopped: at a breakpoint or step of the interpreter
/// (`stopped` event), or in a `dbg` call (`dbg_stopped`).
#[derive(Debug, Clone, PartialEq)]
pub enum Paused {
    Breakpoint(super::Stop),
    Dbg(super::DbgStop),
}

impl Paused {
    pub fn pid(&self) -> &Pid {
        match self {
            Paused::Breakpoint(s) => &s.pid,
            Paused::Dbg(s) => &s.pid,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Paused::Breakpoint(s) => &s.name,
            Paused::Dbg(s) => &s.name,
        }
    }

    pub fn line(&self) -> i64 {
        match self {
            Paused::Breakpoint(s) => s.line,
            Paused::Dbg(s) => s.line,
        }
    }

    /// The function as shown (`Shop.Cart.add/2`), when known.
    pub fn function(&self) -> Option<&str> {
        match self {
            Paused::Breakpoint(s) => s.function.as_deref(),
            Paused::Dbg(s) => Some(&s.function),
        }
    }

    /// The source file, when known (may be empty).
    pub fn source(&self) -> Option<&str> {
        match self {
            Paused::Breakpoint(s) => s.source.as_deref(),
            Paused::Dbg(s) => Some(&s.source),
        }
    }
}

impl Decode for Paused {
    fn expected() -> String {
        "a map (Stop or DbgStop)".into()
    }

    fn decode(term: &Term) -> Result<Self, DecodeError> {
        by_key(
            term,
            &Self::expected(),
            "stepping",
            |t| super::DbgStop::decode(t).map(Paused::Dbg),
            |t| super::Stop::decode(t).map(Paused::Breakpoint),
        )
    }
}

/// The verdict on one breakpoint's expressions: `ok`, or which one
/// (`condition`, or `log_message` with the `expression` of it) does not
/// parse and the parser's message.
#[derive(Debug, Clone, PartialEq)]
pub enum ExpressionCheck {
    Valid,
    Invalid(InvalidExpression),
}

record! {
    pub struct InvalidExpression {
        field: Atom,
        message: String,
        expression: Option<String>,
    }
}

impl Decode for ExpressionCheck {
    fn expected() -> String {
        "the atom `ok` or a map (InvalidExpression)".into()
    }

    fn decode(term: &Term) -> Result<Self, DecodeError> {
        ok_or_map(term, &Self::expected(), ExpressionCheck::Valid, |t| {
            InvalidExpression::decode(t).map(ExpressionCheck::Invalid)
        })
    }
}

record! {
    /// A `dbg` process resumed: whether it stops again before its
    /// pipeline's next stage.
    pub struct DbgResumed {
        stepping: bool,
    }
}

record! {
    /// A module the compiler defined: its atom, name and source (absolute).
    pub struct CompiledModule {
        module: Atom,
        name: String,
        source: String,
    }
}

record! {
    /// A process a reload step concerns (blocked by, killed by, left on old
    /// code by, skipped by, or failed in it) and why.
    pub struct ProcessEntry {
        pid: Pid,
        name: String,
        module: Atom,
        why: ProcessReason,
    }
}

record! {
    /// A module whose new code did not load, or that a rollback could not
    /// restore, and why.
    pub struct ModuleFailure {
        module: Atom,
        reason: ModuleReason,
    }
}

record! {
    /// Microseconds: purging old code and holding the program (`load`),
    /// compiling (`compile`).
    pub struct CompileTimings {
        load: i64,
        compile: i64,
    }
}

record! {
    /// The compile step of a reload: `status` `compiled`, `blocked` (old
    /// code in use, nothing done), `compile_failed` or `load_failed`.
    pub struct ReloadCompiled {
        status: Atom,
        compiled: Vec<CompiledModule>,
        diagnostics: Vec<Diagnostic>,
        killed: Vec<ProcessEntry>,
        blocked: Vec<ProcessEntry>,
        load_failures: Vec<ModuleFailure>,
        timings: CompileTimings,
    }
}

record! {
    /// How the program was held while the batch switched: `processes`
    /// held, for `ms` milliseconds, whether the limit `expired`, or `off`
    /// (holding is turned off).
    pub struct Hold {
        processes: i64,
        ms: i64,
        expired: bool,
        off: bool,
    }
}

record! {
    /// The staged switch (OTP 28 on, where the program is not held): how
    /// long its one step took (`us`, microseconds), and the batch's modules
    /// that became visible before it (`early`: the compiler loaded them).
    pub struct Switch {
        us: i64,
        early: Vec<Atom>,
    }
}

record! {
    /// Modules interpreted again, those refused, the hold or the staged
    /// switch, and the processes left on the old version until they leave
    /// it; `committed` (present and true) when the request asked for the
    /// commit and the batch switched whole.
    pub struct Reinterpreted {
        interpreted: Vec<Atom>,
        hold: Hold,
        switch: Option<Switch>,
        skipped: Vec<Skipped>,
        stale: Vec<ProcessEntry>,
        committed: Option<bool>,
    }
}

record! {
    /// Modules of deleted files: removed, or the processes that block it.
    pub struct ModulesRemoved {
        removed: Vec<Atom>,
        blocked: Vec<ProcessEntry>,
    }
}

record! {
    /// Mix's compile of a reload (the fallback): `status` as for
    /// [`ReloadCompiled`] (Mix's `ok`/`noop` reported as `compiled`).
    pub struct MixCompiled {
        status: Atom,
        killed: Vec<ProcessEntry>,
        blocked: Vec<ProcessEntry>,
        recompiled: Vec<CompiledModule>,
        diagnostics: Vec<Diagnostic>,
    }
}

record! {
    /// A process suspended for `code_change/3`, with its callback module.
    pub struct SuspendedProcess {
        pid: Pid,
        module: Atom,
    }
}

record! {
    pub struct Suspended {
        suspended: Vec<SuspendedProcess>,
        skipped: Vec<ProcessEntry>,
    }
}

record! {
    /// How many states were upgraded, and those that failed (then none is).
    pub struct CodeChanged {
        failed: Vec<ProcessEntry>,
        changed: i64,
    }
}

record! {
    /// What a rollback restored, removed (new modules), and could not; and
    /// what each peer of a cluster did (empty for one node).
    pub struct RolledBack {
        restored: Vec<Atom>,
        removed: Vec<Atom>,
        failures: Vec<ModuleFailure>,
        peers: Vec<PeerOutcome>,
    }
}

record! {
    /// A cluster peer's answer to a reload's prepare (`elixir_dap_cluster.erl`):
    /// `status` `ready`, `blocked` (processes run old code of the batch),
    /// `failed` (the code would not load: `failures`) or `unreachable`
    /// (`error` says why; empty otherwise).
    pub struct PeerPrepared {
        node: Atom,
        status: Atom,
        blocked: Vec<ProcessEntry>,
        killed: Vec<ProcessEntry>,
        failures: Vec<ModuleFailure>,
        error: String,
    }
}

record! {
    /// A cluster peer's answer to a switch, rollback or commit: `status`
    /// `switched`, `rolled_back`, `committed`, `failed` (`failures`) or
    /// `unreachable` (`error` says why; empty otherwise).
    pub struct PeerOutcome {
        node: Atom,
        status: Atom,
        failures: Vec<ModuleFailure>,
        error: String,
    }
}

record! {
    pub struct PeersPrepared {
        nodes: Vec<PeerPrepared>,
    }
}

record! {
    pub struct PeersSwitched {
        nodes: Vec<PeerOutcome>,
    }
}

/// The answer to `detach`: `ok` in a launched VM; in a node attached to,
/// the processes still in interpreted code once it was cleaned.
#[derive(Debug, Clone, PartialEq)]
pub enum Detached {
    Launched,
    Attached(NodeCleaned),
}

record! {
    pub struct NodeCleaned {
        kept_interpreted: Vec<Pid>,
    }
}

impl Decode for Detached {
    fn expected() -> String {
        "the atom `ok` or a map (NodeCleaned)".into()
    }

    fn decode(term: &Term) -> Result<Self, DecodeError> {
        ok_or_map(term, &Self::expected(), Detached::Launched, |t| {
            NodeCleaned::decode(t).map(Detached::Attached)
        })
    }
}
