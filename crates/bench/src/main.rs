//! `elixir-dap-bench`: benchmarks for elixir-dap.
//!
//! For now one subcommand, `gen`, writes a generated Mix project; the reload
//! benchmark itself (`--out FILE.json`) comes next.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use elixir_dap_bench::generator::{self, GenOptions, Project};

#[derive(Debug, Parser)]
#[command(version, about = "Benchmarks for elixir-dap")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a realistic Mix project to benchmark against.
    Gen(GenArgs),
}

#[derive(Debug, clap::Args)]
struct GenArgs {
    /// Number of modules under lib/ (e.g. 200 or 2000).
    #[arg(long, value_name = "N")]
    modules: usize,
    /// Seed of the generator: the same seed gives the same bytes.
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,
    /// Directory to write the project to.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// OTP application name (snake_case).
    #[arg(long, value_name = "NAME", default_value = generator::DEFAULT_APP_NAME)]
    app_name: String,
    /// Write into a non-empty directory, replacing its lib/ and test/.
    #[arg(long)]
    force: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Gen(args) => gen(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("elixir-dap-bench: {message}");
            ExitCode::FAILURE
        }
    }
}

fn gen(args: &GenArgs) -> Result<(), String> {
    let options = GenOptions {
        modules: args.modules,
        seed: args.seed,
        app_name: args.app_name.clone(),
    };
    let project = generator::generate(&options).map_err(|e| e.to_string())?;
    prepare_dir(&args.out, args.force)?;
    project.write_to(&args.out).map_err(|e| e.to_string())?;
    print_summary(&project, &args.out);
    Ok(())
}

/// Refuses to mix a new project into an existing one, unless `force`: then
/// the old lib/ and test/ go, so that no stale module survives.
fn prepare_dir(dir: &Path, force: bool) -> Result<(), String> {
    let has_entries = match fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_some(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    if !has_entries {
        return Ok(());
    }
    if !force {
        return Err(format!(
            "{} is not empty; pass --force to replace its lib/ and test/",
            dir.display()
        ));
    }
    for sub in ["lib", "test"] {
        let path = dir.join(sub);
        match fs::remove_dir_all(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("{}: {e}", path.display())),
        }
    }
    Ok(())
}

fn print_summary(project: &Project, dir: &Path) {
    let workload = &project.workload;
    println!(
        "wrote {} modules ({} files) to {}",
        project.modules.len(),
        project.files.len(),
        dir.display()
    );
    println!(
        "workload: {}.{}/1 walks one of {} chains every {} ms (iterations: {})",
        workload.entry_module, workload.entry_function, workload.chains, workload.interval_ms, workload.iterations_expr
    );
    println!(
        "hub macro: {} ({} compile-time dependents)",
        project.hub_macro.module,
        project.hub_macro.dependents.len()
    );
    println!("edit targets: {}", project.edit_targets.len());
    for target in project.sample_edit_targets(3) {
        println!(
            "  {} {}:{} (chain {}, step {})",
            target.module,
            target.file.display(),
            target.breakpoint_line,
            target.chain,
            target.position
        );
    }
}
