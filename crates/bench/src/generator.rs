//! A deterministic generator of realistic Mix projects to benchmark against.
//!
//! [`generate`] plans and renders a whole project in memory; [`Project`]
//! holds its files and what a benchmark needs to drive it: the workload's
//! entry point, the pipeline modules it walks ([`EditTarget`]s, each with a
//! breakpoint line that the workload hits and a trivial edit), and the macro
//! module most other modules depend on at compile time ([`HubMacro`]).
//!
//! The shape of a project of `N` modules:
//! - `mix.exs` without dependencies, `lib/<app>.ex` (a facade) and
//!   `lib/<app>/application.ex`, whose top supervisor starts a few
//!   sub-supervisors (one per service group) and the workload;
//! - GenServers holding state (key-value stores and counters) with
//!   `handle_call`/`handle_cast`/`handle_info`/`code_change`;
//! - macro modules used at compile time by the pipeline modules: a
//!   `__using__` component (the hub), guards (`import`), plain macros
//!   (`require`), an instrumentation macro taking a `do` block and a
//!   constant-defining macro;
//! - structs (`lib/<app>/schemas/`) built with `%Struct{}` by the pipeline;
//! - the bulk: pipeline modules in `lib/<app>/<domain>/<context>/`, one
//!   chain per domain; step `k` calls `step/1` of step `k + 1` and `score/1`
//!   of steps `k + 2` and `k + 3` (sometimes of another chain too);
//! - the workload: a GenServer that walks one chain per tick, round robin,
//!   pausing [`WORKLOAD_INTERVAL_MS`] milliseconds per
//!   [`WORKLOAD_STEPS_PER_INTERVAL`] steps it walked (so that the program
//!   does about the same work per second at every size).
//!
//! A given seed always yields the same bytes (see `rng.rs` for why the PRNG is
//! our own).

mod elixir;
mod names;
mod planner;
mod rng;

use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use elixir::{Service, StepSpec};
use planner::Planner;
use rng::Rng;

/// The OTP application name used when none is given.
pub const DEFAULT_APP_NAME: &str = "bench_app";
/// Fewer modules leave too little room for every kind of module.
pub const MIN_MODULES: usize = 30;
/// More would exhaust the name lists of a domain.
pub const MAX_MODULES: usize = 10_000;
/// The workload's default pause between iterations (application env
/// `workload_interval_ms`).
pub const WORKLOAD_INTERVAL_MS: u64 = 20;
/// How many pipeline steps the workload walks per [`WORKLOAD_INTERVAL_MS`]
/// of pause: after an iteration of `d` steps the runner pauses
/// `max(interval, interval * d / 12)` ms. Chains are about 12 steps long
/// up to a few hundred modules, and longer above (their number is capped
/// by the domains): without this, the workload of the 2 000-module project
/// walks about 117-step chains every 20 ms and keeps about 0.64 of a core
/// busy interpreted (Elixir 1.20 / OTP 29, `scheduler_wall_time`) against
/// 0.23 at 200 modules, and a measurement comparing the two sizes compares
/// the program's load as much as the project's size (a one-file compile in
/// the 2 000-module VM took 19 ms quiet and 27.5 ms beside that workload).
pub const WORKLOAD_STEPS_PER_INTERVAL: u64 = 12;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenOptions {
    /// Number of modules under `lib/`, each in its own file.
    pub modules: usize,
    pub seed: u64,
    /// OTP application name, `snake_case` (`bench_app`).
    pub app_name: String,
}

impl GenOptions {
    pub fn new(modules: usize, seed: u64) -> Self {
        Self {
            modules,
            seed,
            app_name: DEFAULT_APP_NAME.to_owned(),
        }
    }

    fn validate(&self) -> Result<(), GenError> {
        if !(MIN_MODULES..=MAX_MODULES).contains(&self.modules) {
            return Err(GenError::ModuleCount {
                requested: self.modules,
            });
        }
        let name = self.app_name.as_str();
        let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && !name.ends_with('_')
            && !name.contains("__");
        if valid {
            Ok(())
        } else {
            Err(GenError::AppName(self.app_name.clone()))
        }
    }
}

#[derive(Debug)]
pub enum GenError {
    ModuleCount {
        requested: usize,
    },
    AppName(String),
    Io {
        path: PathBuf,
        source: io::Error,
    },
    /// A bug in the generator: a template lost a line the description needs.
    Internal(String),
}

impl fmt::Display for GenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GenError::ModuleCount { requested } => write!(
                f,
                "cannot generate {requested} modules: choose between {MIN_MODULES} and {MAX_MODULES}"
            ),
            GenError::AppName(name) => write!(
                f,
                "invalid application name {name:?}: use snake_case, e.g. {DEFAULT_APP_NAME}"
            ),
            GenError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            GenError::Internal(what) => write!(f, "generator bug: {what}"),
        }
    }
}

impl std::error::Error for GenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GenError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub enum EditError {
    Io {
        path: PathBuf,
        source: io::Error,
    },
    /// The file no longer has the expected line where the edit goes: it was
    /// changed by something other than [`ConstantEdit`].
    Mismatch {
        file: PathBuf,
        line: u32,
        expected_prefix: String,
    },
}

impl fmt::Display for EditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EditError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            EditError::Mismatch {
                file,
                line,
                expected_prefix,
            } => write!(
                f,
                "{}:{line}: expected a line starting with {expected_prefix:?}",
                file.display()
            ),
        }
    }
}

impl std::error::Error for EditError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EditError::Io { source, .. } => Some(source),
            EditError::Mismatch { .. } => None,
        }
    }
}

/// One generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    /// Relative to the project root.
    pub path: PathBuf,
    pub contents: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModuleKind {
    /// `lib/<app>.ex`.
    Facade,
    Application,
    Supervisor,
    GenServer,
    Macro,
    Struct,
    /// A step of a pipeline chain.
    Pipeline,
    /// The GenServer that drives the workload.
    WorkloadRunner,
    /// The module whose `run/1` walks a chain.
    WorkloadEntry,
}

/// A module of the project (each lives in its own file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleInfo {
    pub name: String,
    pub kind: ModuleKind,
    /// Relative to the project root.
    pub file: PathBuf,
}

/// A semantically trivial edit: rewrites the constant at the end of one line
/// (`  defp factor, do: 7`), keeping every other byte, so line numbers and
/// the module's interface stay as they were.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConstantEdit {
    /// Relative to the project root.
    pub file: PathBuf,
    /// 1-based.
    pub line: u32,
    /// The line up to the constant.
    pub prefix: String,
}

impl ConstantEdit {
    /// The constant that edit `generation` writes. It never equals a
    /// generated constant (all below 100) nor another generation's, so each
    /// edit yields new content and never returns a file to an earlier state
    /// (Mix compares digests and would skip it).
    pub fn value(generation: u64) -> u128 {
        u128::from(generation) + 100
    }

    /// `source` with the edit of `generation` applied.
    pub fn apply(&self, source: &str, generation: u64) -> Result<String, EditError> {
        let index = usize::try_from(self.line.saturating_sub(1)).unwrap_or(usize::MAX);
        let mut out = String::with_capacity(source.len() + 8);
        let mut found = false;
        for (i, line) in source.split_inclusive('\n').enumerate() {
            if i == index && line.starts_with(&self.prefix) {
                let ending = &line[line.trim_end_matches(['\r', '\n']).len()..];
                out.push_str(&self.prefix);
                out.push_str(&Self::value(generation).to_string());
                out.push_str(ending);
                found = true;
            } else {
                out.push_str(line);
            }
        }
        if found {
            Ok(out)
        } else {
            Err(EditError::Mismatch {
                file: self.file.clone(),
                line: self.line,
                expected_prefix: self.prefix.clone(),
            })
        }
    }

    /// Reads the file under project root `root` and returns its content with
    /// the edit of `generation` applied; writing it is left to the caller, so
    /// that a benchmark can time the save itself.
    pub fn edit(&self, root: &Path, generation: u64) -> Result<String, EditError> {
        let path = root.join(&self.file);
        let source = fs::read_to_string(&path).map_err(|source| EditError::Io { path, source })?;
        self.apply(&source, generation)
    }
}

/// A pipeline module on the workload's path, ready for an edit-and-reload
/// benchmark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditTarget {
    pub module: String,
    /// Relative to the project root.
    pub file: PathBuf,
    /// The function holding [`Self::breakpoint_line`], as `name/arity`.
    pub function: String,
    /// 1-based line of the first expression of `step/1`: executed on every
    /// call, so a breakpoint there is hit within one round of the workload
    /// ([`Workload::round_ms`]).
    pub breakpoint_line: u32,
    /// Index of the chain (`0..Workload::chains`) and position in it.
    pub chain: usize,
    pub position: usize,
    /// Rewrites the constant returned by the private `factor/0`.
    pub edit: ConstantEdit,
}

impl EditTarget {
    /// The file's content after edit `generation`; see [`ConstantEdit::edit`].
    pub fn edit(&self, root: &Path, generation: u64) -> Result<String, EditError> {
        self.edit.edit(root, generation)
    }
}

/// A macro module and the modules that depend on it at compile time (`use`,
/// `import` or `require` with a macro call): Mix recompiles all of them when
/// it changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacroModule {
    pub module: String,
    pub file: PathBuf,
    pub dependents: Vec<String>,
}

/// The macro module with the most compile-time dependents (every pipeline
/// module `use`s it), and an edit of it that changes what it injects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubMacro {
    pub module: String,
    pub file: PathBuf,
    pub dependents: Vec<String>,
    /// Rewrites its `@revision` attribute.
    pub edit: ConstantEdit,
}

/// How the workload runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// The GenServer the top supervisor starts.
    pub runner_module: String,
    /// `entry_module.entry_function(iteration)` walks chain
    /// `iteration % chains`.
    pub entry_module: String,
    pub entry_function: String,
    pub entry_file: PathBuf,
    pub chains: usize,
    /// The pause per [`WORKLOAD_STEPS_PER_INTERVAL`] steps walked, and the
    /// first tick's delay.
    pub interval_ms: u64,
    /// Pipeline steps over all chains: what one round walks.
    pub steps: usize,
    /// An Elixir expression returning the iterations done so far; it reads
    /// an ETS table, so it answers even while the runner is paused.
    pub iterations_expr: String,
    /// Printed on stdout by the runner when it starts (once per start, the
    /// program's first line of output): what a benchmark waits for to know
    /// the application is up.
    pub started_marker: String,
    /// Printed on stdout by the runner once the first iteration has walked
    /// chain 0 (whose first step holds the breakpoint of
    /// `first_breakpoint_hit_ms`): where a launch with `noDebug` reaches the
    /// point a debugged launch stops at.
    pub first_iteration_marker: String,
    /// Printed on stdout by the runner once every chain has been walked
    /// (iteration `chains - 1`): every module on the paths has run, so an
    /// interpreter's caches are warm. What a measurement of a running
    /// session waits for first.
    pub first_round_marker: String,
}

impl Workload {
    /// The pauses of one round (every chain walked once), in milliseconds:
    /// the time between two runs of the same chain without the iterations'
    /// own time (about the whole of it natively).
    pub fn round_ms(&self) -> u64 {
        let paced = (self.steps as u64).div_ceil(WORKLOAD_STEPS_PER_INTERVAL);
        self.interval_ms.saturating_mul(paced.max(self.chains as u64))
    }
}

/// A generated project, in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub options: GenOptions,
    /// `BenchApp` for `bench_app`.
    pub app_module: String,
    pub files: Vec<GeneratedFile>,
    pub modules: Vec<ModuleInfo>,
    pub workload: Workload,
    /// Every pipeline module, chain by chain, in call order.
    pub edit_targets: Vec<EditTarget>,
    pub hub_macro: HubMacro,
    /// All macro modules, the hub included.
    pub macros: Vec<MacroModule>,
}

impl Project {
    /// Writes every file under `dir`, creating directories as needed and
    /// overwriting files of the same name; other files are left alone.
    pub fn write_to(&self, dir: &Path) -> Result<(), GenError> {
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| GenError::Io { path, source }
        };
        for file in &self.files {
            let path = dir.join(&file.path);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(io_err(parent))?;
            }
            fs::write(&path, &file.contents).map_err(io_err(&path))?;
        }
        Ok(())
    }

    /// `count` edit targets spread evenly over the chains and positions, for
    /// a benchmark that edits a sample rather than every module.
    pub fn sample_edit_targets(&self, count: usize) -> Vec<&EditTarget> {
        let total = self.edit_targets.len();
        let count = count.min(total);
        (0..count)
            .filter_map(|i| self.edit_targets.get(i * total / count))
            .collect()
    }

    pub fn file(&self, path: &Path) -> Option<&GeneratedFile> {
        self.files.iter().find(|f| f.path == path)
    }
}

/// Plans and renders the project `options` describe.
pub fn generate(options: &GenOptions) -> Result<Project, GenError> {
    options.validate()?;
    Planner::new(options).render()
}
