//! `elixir-dap-bench`: benchmarks for elixir-dap.
//!
//! `elixir-dap-bench --out FILE.json [--sizes 200,2000] [--reps N] [--quick]
//! [--adapter PATH]` runs the benchmark (see `docs/benchmarks.md`);
//! `elixir-dap-bench gen ...` writes a generated Mix project.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use elixir_dap_bench::bench::BenchConfig;
use elixir_dap_bench::generator::{self, GenOptions, Project};
use elixir_dap_bench::runner;

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Benchmarks for elixir-dap",
    long_about = "Benchmarks for elixir-dap. Without a subcommand, runs the benchmark \
                  (drives the elixir-dap binary over DAP on generated projects) and writes \
                  a JSON report to --out.",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    bench: BenchArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a realistic Mix project to benchmark against.
    Gen(GenArgs),
}

/// The sizes and repetitions of a full run.
const DEFAULT_SIZES: &[usize] = &[200, 2000];
const DEFAULT_REPS: usize = 20;
const DEFAULT_HUB_REPS: usize = 5;
/// `--quick`: one small project, a few repetitions (well under 2 minutes).
const QUICK_SIZES: &[usize] = &[60];
const QUICK_REPS: usize = 3;
const QUICK_HUB_REPS: usize = 2;

#[derive(Debug, clap::Args)]
struct BenchArgs {
    /// Write the JSON report here.
    #[arg(long, value_name = "FILE.json")]
    out: Option<PathBuf>,
    /// Project sizes, in modules [default: 200,2000; --quick: 60].
    #[arg(long, value_name = "N,N", value_delimiter = ',')]
    sizes: Option<Vec<usize>>,
    /// Repetitions of each measurement [default: 20; --quick: 3].
    #[arg(long, value_name = "N")]
    reps: Option<usize>,
    /// Repetitions of the hub macro edit, which recompiles nearly every
    /// module [default: 5; --quick: 2].
    #[arg(long, value_name = "N")]
    hub_reps: Option<usize>,
    /// A small, fast run: 60 modules, 3 repetitions (explicit --sizes and
    /// --reps still apply).
    #[arg(long)]
    quick: bool,
    /// The elixir-dap binary [default: elixir-dap next to this binary, as
    /// cargo builds both into target/<profile>/].
    #[arg(long, value_name = "PATH")]
    adapter: Option<PathBuf>,
    /// Seed of the generated projects.
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,
    /// Keep projects, adapter logs and VM output in DIR (default: a
    /// temporary directory, removed afterwards).
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    /// Run only these measurements (keys of the report); the others are
    /// reported as not measured. `interpret_ours_ms` reads the launches of
    /// `launch_to_first_output_ms` and `restart_ms`.
    #[arg(long, value_name = "KEY,KEY", value_delimiter = ',')]
    only: Option<Vec<String>>,
    /// The adapter's --log-level in every session (its logs are in the
    /// work directory). `info,beam::channel=debug` logs each agent call's
    /// duration, to see where a launch or a reload spends its time; it
    /// costs time in what is measured.
    #[arg(long, value_name = "FILTER", default_value = elixir_dap_bench::bench::DEFAULT_ADAPTER_LOG_LEVEL)]
    adapter_log_level: String,
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
        Some(Command::Gen(args)) => gen(&args),
        None => run_bench(&cli.bench),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("elixir-dap-bench: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run_bench(args: &BenchArgs) -> Result<(), String> {
    let out = args
        .out
        .clone()
        .ok_or("pass --out FILE.json to run the benchmark, or use `gen` (see --help)")?;
    let (sizes, reps, hub_reps) = if args.quick {
        (QUICK_SIZES, QUICK_REPS, QUICK_HUB_REPS)
    } else {
        (DEFAULT_SIZES, DEFAULT_REPS, DEFAULT_HUB_REPS)
    };
    let sizes = args.sizes.clone().unwrap_or_else(|| sizes.to_vec());
    if sizes.is_empty() {
        return Err("--sizes needs at least one size".to_owned());
    }
    for &size in &sizes {
        if !(generator::MIN_MODULES..=generator::MAX_MODULES).contains(&size) {
            return Err(format!(
                "size {size}: choose between {} and {} modules",
                generator::MIN_MODULES,
                generator::MAX_MODULES
            ));
        }
    }
    let reps = args.reps.unwrap_or(reps);
    if reps == 0 {
        return Err("--reps must be at least 1".to_owned());
    }
    let hub_reps = args.hub_reps.unwrap_or(hub_reps).clamp(1, reps.max(1));
    if let Some(only) = &args.only {
        let known: Vec<&str> = elixir_dap_bench::measurements::MEASUREMENTS
            .iter()
            .map(|m| m.key)
            .collect();
        if let Some(unknown) = only.iter().find(|k| !known.contains(&k.as_str())) {
            return Err(format!("--only: no measurement {unknown}; known: {}", known.join(", ")));
        }
    }
    let adapter = match &args.adapter {
        Some(path) => path.clone(),
        None => default_adapter()?,
    };
    if !adapter.is_file() {
        return Err(format!(
            "no adapter at {}: build it (cargo build --release -p elixir-dap) or pass --adapter PATH",
            adapter.display()
        ));
    }
    let config = BenchConfig {
        sizes,
        reps,
        hub_reps,
        seed: args.seed,
        quick: args.quick,
        adapter,
        adapter_log_level: args.adapter_log_level.clone(),
        work_dir: args.work_dir.clone(),
        only: args.only.clone(),
    };
    let report = runner::run(&config, &mut |line| eprintln!("elixir-dap-bench: {line}"))?;
    let text = serde_json::to_string_pretty(&report).map_err(|e| format!("cannot encode the report: {e}"))?;
    fs::write(&out, text + "\n").map_err(|e| format!("{}: {e}", out.display()))?;
    eprintln!("elixir-dap-bench: wrote {}", out.display());
    if runner::report_has_errors(&report) {
        return Err(format!("some measurements failed (see `error` in {})", out.display()));
    }
    Ok(())
}

/// `elixir-dap` in the directory of this binary: `cargo build` puts both in
/// `target/<profile>/`.
fn default_adapter() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot locate this binary: {e}"))?;
    let dir = exe.parent().ok_or("this binary has no directory")?;
    Ok(dir.join("elixir-dap"))
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
        "workload: {}.{}/1 walks one of {} chains ({} steps in all), pausing {} ms per {} steps (iterations: {})",
        workload.entry_module,
        workload.entry_function,
        workload.chains,
        workload.steps,
        workload.interval_ms,
        generator::WORKLOAD_STEPS_PER_INTERVAL,
        workload.iterations_expr
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
