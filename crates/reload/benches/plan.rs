//! Reload planning speed on a real project directory.
//!
//! ```text
//! target/release/elixir-dap-bench gen --modules 2000 --out /tmp/g2000
//! ELIXIR_DAP_PLAN_BENCH=/tmp/g200:/tmp/g2000 cargo bench -p elixir-dap-reload --bench plan
//! ```
//!
//! `ELIXIR_DAP_PLAN_BENCH` lists project directories (`:`-separated, as
//! `PATH`); without it the bench says so and measures nothing. Each project
//! is copied (`mix.exs`, `config/`, `lib/`) to a temporary directory, so the
//! edits never touch it; it need not be compiled. The edited file is
//! `ELIXIR_DAP_PLAN_BENCH_FILE` (relative to the project) when set, else
//! `lib/bench_app/checkout/adapters/balance_aggregator.ex` when it exists,
//! else the middle source. Targets at 2 000 modules: plan of one changed
//! file < 3 ms, full no-change scan < 5 ms.
//!
//! Prints the median (and min/max) of each measurement:
//! - `plan(one file)`: `ReloadManager::plan` with `files: [that file]`
//!   after an edit (then committed, as the adapter does);
//! - `plan(no change)`: `plan` with no `files` on an unchanged project (it
//!   scans every source);
//! - `update_file`, `affected`, `compile_waves`: the parts of a plan, on the
//!   manager's index.

// A bench: a failure is a message and a non-zero exit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reload::{compile_waves, ElixirVersion, PlanRequest, ReloadManager};

const DEFAULT_FILE: &str = "lib/bench_app/checkout/adapters/balance_aggregator.ex";

struct Stats(Vec<Duration>);

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut v = self.0.clone();
        v.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        write!(
            f,
            "median {:.3} ms (min {:.3}, max {:.3}, n={})",
            ms(v[v.len() / 2]),
            ms(v[0]),
            ms(v[v.len() - 1]),
            v.len()
        )
    }
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

fn copy_project(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::copy(from.join("mix.exs"), to.join("mix.exs"))?;
    for dir in ["lib", "config", "apps"] {
        if from.join(dir).is_dir() {
            copy_dir(&from.join(dir), &to.join(dir))?;
        }
    }
    Ok(())
}

fn edited_file(manager: &ReloadManager) -> PathBuf {
    if let Some(file) = std::env::var_os("ELIXIR_DAP_PLAN_BENCH_FILE") {
        return PathBuf::from(file);
    }
    if manager.absolute(Path::new(DEFAULT_FILE)).is_file() {
        return PathBuf::from(DEFAULT_FILE);
    }
    let files: Vec<&Path> = manager.index().files().collect();
    files[files.len() / 2].to_path_buf()
}

fn bench_project(source: &Path, runs: usize) -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    copy_project(source, tmp.path())?;
    // In a session the sources were written long before the manager reads
    // them; files written less than 3 s before are read on every scan (the
    // manager's racy-timestamp rule), so let the copies age.
    std::thread::sleep(Duration::from_millis(3_100));
    let start = Instant::now();
    // The rules of the newest modelled release: planning costs the same on
    // every release's rules.
    let mut manager = ReloadManager::new(tmp.path(), ElixirVersion::NEWEST_MODELLED)?;
    let files = manager.index().files().count();
    println!(
        "{} ({files} sources): ReloadManager::new {:.1} ms",
        source.display(),
        start.elapsed().as_secs_f64() * 1e3
    );
    let relative = edited_file(&manager);
    let absolute = manager.absolute(&relative);
    let original = std::fs::read_to_string(&absolute)?;

    // One changed file, named by the request.
    let request = PlanRequest {
        files: Some(vec![absolute.clone()]),
        modules: vec![],
    };
    let mut plans = Vec::new();
    let mut planned = 0;
    for n in 0..runs + 2 {
        std::fs::write(&absolute, format!("{original}# bench edit {n}\n"))?;
        let start = Instant::now();
        let plan = manager.plan(&request);
        let elapsed = start.elapsed();
        assert_eq!(plan.changed.len(), 1, "the edit is seen");
        planned = plan.compile.len();
        manager.commit(&plan);
        if n >= 2 {
            plans.push(elapsed);
        }
    }
    println!(
        "  plan(one file: {}, {planned} to compile): {}",
        relative.display(),
        Stats(plans)
    );

    // Nothing changed, every source scanned.
    let mut scans = Vec::new();
    for n in 0..runs + 2 {
        let start = Instant::now();
        let plan = manager.plan(&PlanRequest::default());
        let elapsed = start.elapsed();
        assert!(plan.is_empty() && plan.restart_required.is_empty(), "nothing changed");
        if n >= 2 {
            scans.push(elapsed);
        }
    }
    println!("  plan(no change, full scan): {}", Stats(scans));

    // The parts, on an index of the same project.
    let mut index = manager.index().clone();
    let (mut updates, mut affected, mut waves) = (Vec::new(), Vec::new(), Vec::new());
    let mut recompile = Vec::new();
    for n in 0..runs {
        let text = format!("{original}# bench part {n}\n");
        let start = Instant::now();
        index.update_file(&relative, &text)?;
        updates.push(start.elapsed());
        let start = Instant::now();
        let a = index.affected(&[&relative]);
        affected.push(start.elapsed());
        recompile = a.recompile_paths();
        let start = Instant::now();
        let w = compile_waves(&index, &recompile);
        waves.push(start.elapsed());
        assert_eq!(w.iter().map(Vec::len).sum::<usize>(), recompile.len());
    }
    println!("  Index::update_file: {}", Stats(updates));
    println!("  Index::affected ({} files): {}", recompile.len(), Stats(affected));
    println!("  compile_waves: {}", Stats(waves));
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo test --benches` runs this too: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let runs = if quick { 3 } else { 31 };
    let Some(dirs) = std::env::var_os("ELIXIR_DAP_PLAN_BENCH") else {
        println!(
            "plan bench skipped: set ELIXIR_DAP_PLAN_BENCH to project directories \
             (e.g. made with `elixir-dap-bench gen --modules 2000 --out DIR`)"
        );
        return Ok(());
    };
    for dir in std::env::split_paths(&dirs) {
        bench_project(&dir, runs)?;
    }
    Ok(())
}
