//! The command line: with no command, `elixir-dap` serves DAP; `deps` is an
//! offline tool over the dependency index.

pub mod deps;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "elixir-dap",
    version,
    about = "Debug adapter (DAP) for Elixir with incremental code reload",
    long_about = "Debug adapter (DAP) for Elixir with incremental code reload.\n\n\
                  Without a command, serves DAP over stdio (or TCP with --port).",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// Serve DAP over TCP on 127.0.0.1:PORT (one session per connection; 0 picks a free port)
    #[arg(long)]
    pub port: Option<u16>,
    /// Write logs to this file instead of stderr
    #[arg(long, value_name = "PATH")]
    pub log_file: Option<PathBuf>,
    /// Log level or filter (error, warn, info, debug, trace, or a tracing filter)
    #[arg(long, default_value = "warn", value_name = "LEVEL")]
    pub log_level: String,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a Mix project's module dependency graph, or what a change to some files affects
    ///
    /// Reads the sources under lib/ (apps/*/lib/ in an umbrella) with the same index the
    /// reload planner uses, by the rules of the project's Elixir release (--elixir-version,
    /// or what `elixir --version` reports); Mix is not started.
    Deps(deps::DepsArgs),
}
