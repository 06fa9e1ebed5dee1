//! The generator end to end: determinism, the description it returns, and
//! a generated project that Mix compiles without warnings and that runs.
//!
//! The Mix tests need Elixir (`mix` on PATH) and Erlang's debugger
//! application; without them they fail rather than skip, because they are
//! the only proof that the generated code is valid.

// Tests report failures by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use elixir_dap_bench::generator::{self, ConstantEdit, GenOptions, ModuleKind, Project};

const MODULES: usize = 60;

fn generate(seed: u64) -> Project {
    generator::generate(&GenOptions::new(MODULES, seed)).unwrap()
}

/// Every file under `root`, by relative path.
fn read_tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(root).unwrap().to_path_buf();
                files.insert(relative, fs::read(&path).unwrap());
            }
        }
    }
    files
}

#[test]
fn same_seed_gives_identical_bytes_and_another_seed_differs() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    generate(7).write_to(dirs[0].path()).unwrap();
    generate(7).write_to(dirs[1].path()).unwrap();
    generate(8).write_to(dirs[2].path()).unwrap();
    let first = read_tree(dirs[0].path());
    assert_eq!(first, read_tree(dirs[1].path()));
    assert_ne!(first, read_tree(dirs[2].path()));
}

#[test]
fn every_module_has_its_own_file_under_lib() {
    let project = generate(1);
    assert_eq!(project.modules.len(), MODULES);
    let lib_files: Vec<_> = project.files.iter().filter(|f| f.path.starts_with("lib")).collect();
    assert_eq!(lib_files.len(), MODULES);
    for module in &project.modules {
        let file = project.file(&module.file).unwrap();
        assert!(
            file.contents.starts_with(&format!("defmodule {} do\n", module.name)),
            "{}",
            module.file.display()
        );
        assert_eq!(file.contents.matches("defmodule ").count(), 1);
    }
    for file in &project.files {
        assert!(!file.contents.contains("${"), "{}", file.path.display());
    }
    let count = |kind| project.modules.iter().filter(|m| m.kind == kind).count();
    assert!(count(ModuleKind::GenServer) >= 3);
    assert!(count(ModuleKind::Supervisor) >= 2);
    assert!(count(ModuleKind::Struct) >= 2);
    assert_eq!(count(ModuleKind::Macro), 5);
    assert_eq!(count(ModuleKind::Pipeline), project.edit_targets.len());
}

#[test]
fn edit_targets_point_into_step_bodies_and_edits_change_one_line() {
    let project = generate(3);
    assert_eq!(
        project.hub_macro.dependents.len(),
        project.edit_targets.len(),
        "every pipeline step uses the hub macro"
    );
    for target in &project.edit_targets {
        let source = &project.file(&target.file).unwrap().contents;
        let lines: Vec<&str> = source.lines().collect();
        let line = |n: u32| lines[n as usize - 1];
        assert_eq!(line(target.breakpoint_line - 1), "  def step(acc) do");
        assert_eq!(line(target.breakpoint_line).trim(), "value = acc.value + factor()");

        let first = target.edit.apply(source, 0).unwrap();
        let second = target.edit.apply(&first, 1).unwrap();
        assert_ne!(&first, source);
        assert_ne!(first, second);
        let changed: Vec<_> = source.lines().zip(second.lines()).filter(|(a, b)| a != b).collect();
        assert_eq!(changed.len(), 1, "{}", target.file.display());
        assert_eq!(second.lines().count(), lines.len());
        assert!(changed[0].1.ends_with(&ConstantEdit::value(1).to_string()));
    }
}

#[test]
fn the_workload_walks_about_the_same_steps_per_second_at_every_size() {
    use generator::{WORKLOAD_INTERVAL_MS, WORKLOAD_STEPS_PER_INTERVAL};
    let mut mean_chain = Vec::new();
    for modules in [60, 200, 2000, 5000] {
        let project = generator::generate(&GenOptions::new(modules, 1)).unwrap();
        let workload = &project.workload;
        assert_eq!(workload.steps, project.edit_targets.len(), "{modules} modules");
        // One round's pauses: the interval per 12 steps, at least one per
        // chain; so the pause per step walked is the same at every size.
        let round = workload.round_ms();
        assert!(
            round >= workload.interval_ms * workload.chains as u64,
            "{modules}: {round}"
        );
        let per_step = round as f64 / workload.steps as f64;
        let expected = WORKLOAD_INTERVAL_MS as f64 / WORKLOAD_STEPS_PER_INTERVAL as f64;
        assert!(
            (per_step - expected).abs() / expected < 0.15,
            "{modules} modules: {per_step:.2} ms of pause per step, expected about {expected:.2}"
        );
        mean_chain.push(workload.steps / workload.chains);
        let runner = project
            .files
            .iter()
            .find(|f| f.path.ends_with("workload/runner.ex"))
            .expect("the runner's file");
        let runner = &runner.contents;
        assert!(
            runner.contains(&format!("@steps_per_interval {WORKLOAD_STEPS_PER_INTERVAL}")),
            "{runner}"
        );
        assert!(
            runner.contains("schedule(pause(state.interval, result.depth))"),
            "{runner}"
        );
    }
    // The case the pace is for: chains grow with the project.
    assert!(mean_chain[3] > 4 * mean_chain[1], "{mean_chain:?}");
}

#[test]
fn an_edit_of_a_foreign_line_is_refused() {
    let project = generate(3);
    let target = &project.edit_targets[0];
    assert!(target.edit.apply("defmodule X do\nend\n", 0).is_err());
}

#[test]
fn invalid_options_are_rejected() {
    assert!(generator::generate(&GenOptions::new(5, 1)).is_err());
    let mut options = GenOptions::new(MODULES, 1);
    options.app_name = "Bad-Name".to_owned();
    assert!(generator::generate(&options).is_err());
    options.app_name = "shop_2".to_owned();
    let project = generator::generate(&options).unwrap();
    assert_eq!(project.app_module, "Shop2");
    assert!(project.file(Path::new("lib/shop_2.ex")).is_some());
}

/// `mix` with the given arguments in `dir`; fails the test, with Mix's
/// output, unless it exits 0.
fn mix(dir: &Path, args: &[&str]) -> String {
    let output: Output = Command::new("mix")
        .args(args)
        .current_dir(dir)
        .env_remove("MIX_ENV")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `mix` ({e}): these tests need Elixir >= 1.14 with `mix` on PATH \
                 (Debian: apt-get install elixir erlang-debugger)"
            )
        });
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "mix {} failed ({}):\n{stdout}\n{stderr}",
        args.join(" "),
        output.status
    );
    stdout + &stderr
}

/// Writes an edit and recompiles, returning Mix's output.
fn edit_and_compile(dir: &Path, file: &Path, contents: &str) -> String {
    // Mix on Elixir 1.14 compares mtimes in whole seconds: an edit in the
    // same second as the last compile would be a no-op.
    std::thread::sleep(Duration::from_millis(1100));
    fs::write(dir.join(file), contents).unwrap();
    mix(dir, &["compile", "--warnings-as-errors"])
}

#[test]
fn mix_compiles_the_project_without_warnings_and_it_runs() {
    let project = generate(11);
    for macro_module in &project.macros {
        assert!(
            !macro_module.dependents.is_empty(),
            "{} is used by no module: the compile would not cover it",
            macro_module.module
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    project.write_to(root).unwrap();

    let started = Instant::now();
    let out = mix(root, &["compile", "--warnings-as-errors"]);
    assert!(out.contains(&format!("Compiling {MODULES} files (.ex)")), "{out}");
    eprintln!("mix compile, {MODULES} modules: {:?}", started.elapsed());
    mix(root, &["format", "--check-formatted"]);

    // An edit target has no compile-time dependents: only its file compiles.
    let target = &project.edit_targets[project.edit_targets.len() / 2];
    let edited = target.edit(root, 0).unwrap();
    let out = edit_and_compile(root, &target.file, &edited);
    assert!(out.contains("Compiling 1 file (.ex)"), "{out}");

    // The hub macro recompiles itself and all its dependents.
    let hub = &project.hub_macro;
    let edited = hub.edit.edit(root, 0).unwrap();
    let out = edit_and_compile(root, &hub.file, &edited);
    let expected = hub.dependents.len() + 1;
    assert!(out.contains(&format!("Compiling {expected} files (.ex)")), "{out}");

    // Start the app, wait (with a deadline) for workload iterations, then
    // check with OTP's interpreter that a breakpoint at each sampled edit
    // target is hit by the workload.
    let targets: Vec<String> = project
        .sample_edit_targets(3)
        .iter()
        .map(|t| format!("{{{}, {}}}", t.module, t.breakpoint_line))
        .collect();
    let script = RUN_SCRIPT
        .replace("ITERATIONS_EXPR", &project.workload.iterations_expr)
        .replace("ROUND", &project.workload.chains.max(5).to_string())
        .replace("TARGETS", &targets.join(", "));
    let out = mix(root, &["run", "-e", &script]);
    assert!(out.contains("WORKLOAD_OK"), "{out}");
    // The runner's start line, what the benchmark waits for, comes once.
    assert_eq!(out.matches(&project.workload.started_marker).count(), 1, "{out}");
    // And the first iteration's, what a launch with `noDebug` waits for.
    assert_eq!(
        out.matches(&project.workload.first_iteration_marker).count(),
        1,
        "{out}"
    );
    // And the first round's, what the reload measurements wait for.
    assert_eq!(out.matches(&project.workload.first_round_marker).count(), 1, "{out}");
    for target in project.sample_edit_targets(3) {
        let marker = format!("BREAKPOINT_HIT {}:{}", target.module, target.breakpoint_line);
        assert!(out.contains(&marker), "{marker} missing in:\n{out}");
    }
    assert!(out.contains("RUN_OK"), "{out}");
}

/// Elixir run by `mix run -e` once the application has started.
const RUN_SCRIPT: &str = r#"
defmodule BenchCheck do
  # Polls `check` until it returns a truthy value, failing after 15 s.
  def wait_until(what, check, deadline \\ System.monotonic_time(:millisecond) + 15_000) do
    cond do
      result = check.() -> result
      System.monotonic_time(:millisecond) > deadline -> raise "timed out waiting for #{what}"
      true -> Process.sleep(5) && wait_until(what, check, deadline)
    end
  end
end

# Mix on Elixir >= 1.15 prunes the code path to the project's applications,
# and the debugger is not one of them (nor does OTP >= 26's code:lib_dir/1
# look beyond the code path): find it under the OTP root.
case Path.wildcard(Path.join([:code.root_dir(), "lib", "debugger-*", "ebin"])) do
  [] -> raise "Erlang's debugger application is missing (Debian: erlang-debugger)"
  dirs -> Code.prepend_path(List.last(Enum.sort(dirs)))
end

# A round: every chain walked once.
BenchCheck.wait_until("ROUND workload iterations", fn -> ITERATIONS_EXPR >= ROUND end)
IO.puts("WORKLOAD_OK iterations=#{ITERATIONS_EXPR}")

for {module, line} <- [TARGETS] do
  {:module, ^module} = :int.ni(module)
  :ok = :int.break(module, line)

  {pid, _, _, _} =
    BenchCheck.wait_until("a break at #{inspect(module)}:#{line}", fn ->
      Enum.find(:int.snapshot(), fn {_, _, status, at} -> status == :break and at == {module, line} end)
    end)

  IO.puts("BREAKPOINT_HIT #{inspect(module)}:#{line}")
  :ok = :int.delete_break(module, line)
  :int.continue(pid)
end

before = ITERATIONS_EXPR
BenchCheck.wait_until("iterations after the breakpoints", fn -> ITERATIONS_EXPR > before end)
IO.puts("RUN_OK")
"#;

/// FNV-1a over every path and content, in path order.
fn digest(project: &Project) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for file in &project.files {
        let path = file.path.to_string_lossy();
        for byte in path.bytes().chain([0]).chain(file.contents.bytes()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

#[test]
fn output_for_a_seed_is_stable_across_commits() {
    // Benchmark results of two commits compare only if they ran on the same
    // bytes. If a change to the generator is meant to alter its output,
    // update this digest and say in the commit that numbers measured before
    // it are not comparable with later ones.
    // Changed deliberately when the workload runner learnt to print its
    // start line (`started_marker`): one `IO.puts` in `init/1`, so compile
    // and recompile timings before and after compare, launch timings not.
    // Changed again when the runner learnt to print once its first
    // iteration is done (`first_iteration_marker`, one `IO.puts` after the
    // first tick, after the start line): compile, reload and launch timings
    // before and after compare.
    // And when it learnt to print once every chain has been walked
    // (`first_round_marker`, one `IO.puts` after a tick): compile and launch
    // timings before and after compare; the reload measurements start after
    // that line since, so reload timings before it are of a colder session.
    // And when it learnt to pause in proportion to the steps it walked
    // (`WORKLOAD_STEPS_PER_INTERVAL`): unchanged up to a few hundred modules
    // (chains of about 12 steps), a lighter program load above; timings of
    // the larger sizes before and after do not compare.
    const GOLDEN: u64 = 6_245_517_710_812_381_791;
    assert_eq!(digest(&generate(1)), GOLDEN, "generated output changed");
}
