//! The CodeReloadManager of elixir-dap: the Rust half of a code reload.
//!
//! - [`ReloadManager`] remembers every project source as the VM last
//!   compiled it (content digest and text) and plans a reload: changed, new
//!   and deleted files by content, the files the change forces to recompile
//!   (from the dependency index, by Mix's rules), and changes that need a
//!   restart (`mix.exs`, `config/`, dependencies, NIFs).
//! - [`LineMap`] moves breakpoints with their statements across an edit.
//! - [`ReloadReport`] is what a reload answers and announces.
//!
//! The adapter executes a plan step by step through the agent
//! (`elixir_dap_reload.erl`), which keeps the previous object code of the
//! batch until the adapter commits or rolls back. See `docs/protocol.md`
//! (`reloadCode`) and `docs/architecture.md`.

mod compile_deps;
mod line_map;
mod manager;
mod report;

pub use compile_deps::compile_time_modules;
pub use line_map::{LineFate, LineMap};
pub use manager::{compile_waves, ChangedSource, Plan, PlanRequest, PlannedCompile, ReloadManager};
pub use report::{
    counted, trim_compiler_message, BreakpointChange, Diagnostic, FailedModule, NodeReload, PlannedFile, ProcessInfo,
    ReloadReport, ReloadedModule, RemovedModule, RestartRequired, Timings,
};
/// The Elixir release whose dependency rules the planner follows.
pub use source_graph::ElixirVersion;
