//! Ratios whose two sides are measured in pairs, back to back, where they
//! used to be medians of measurements minutes apart: this machine's speed
//! moves by 15-40 % within an hour (a virtual machine sharing its host), so
//! a ratio of two medians taken at different times measures the machine as
//! much as the adapter. Each pair here is two measurements a second or two
//! apart; the samples are the pairs' ratios.

use super::*;
use crate::bench::{project_dir, BenchConfig, Features};
use crate::dap_client::DapClient;
use crate::generator::{self, GenOptions};
use reloads::{reload_once, reload_written, steps_edit, PhaseTimings};

/// What a restart costs against the reload it replaces, in groups back to
/// back: in a running session (after its first round) one pipeline step is
/// edited and reloaded by `reloadCode` twice (each timed: the first reload
/// of the session, and the next, the kind `reload_1_ms` mostly times); then
/// the session is restarted as an editor restarts it (`disconnect` with
/// `terminateDebuggee`, a new adapter's launch until the workload's start
/// line; timed), whose launch compiles the edit with Mix, since a reload
/// never writes `_build` (what a user who restarts instead of reloading
/// pays); then restarted once more, with nothing to compile (timed: what
/// `restart_ms` times). The samples are each group's ratio restart without
/// a compile / the second reload, the comparison of `restart_ms` against
/// `reload_1_ms` made in pairs; `restart_with_compile_vs_reload` and
/// `restart_vs_first_reload` describe the other ratios, and `reload_ms`,
/// `first_reload_ms`, `restart_with_compile_ms` and `restart_ms` the sides.
///
/// Errors: besides a session's, a restart whose launch did not compile what
/// it should have (Mix's `Compiling N file(s)` line on its stdout: one file
/// after the edit, none after the second restart).
pub(super) fn restart_vs_reload(ctx: &mut SizeContext) -> Result<Outcome, String> {
    if ctx.features.missing("reloadCode").is_some() {
        return Ok(waiting_for(ctx, "the `reloadCode` request (issue 5)", &["reloadCode"]));
    }
    let reps = session_reps(ctx);
    let pool = edit_pool(ctx, 1, reps)?;
    let timeout = crate::bench::compile_timeout(ctx.modules());
    let (mut current, _) = ctx.launch_session_with(json!({"reloadOnSave": "off"}), timeout)?;
    let (mut first_reloads, mut reloads) = (Vec::new(), Vec::new());
    let (mut compiling, mut plain) = (Vec::new(), Vec::new());
    for rep in 0..reps {
        ctx.wait_first_round(&mut current)?;
        // Two edits of the same step: the first reload of a session pays
        // for what its first use loads, `reload_1_ms` times mostly later
        // ones; the restart then compiles one file.
        let mut edit = None;
        for timings in [&mut first_reloads, &mut reloads] {
            let generation = ctx.next_generation();
            let this = steps_edit(ctx, &pool, 1, rep, reps, generation)?;
            let (reload_ms, _) = reload_once(ctx, &mut current, &this, timeout)?;
            timings.push(reload_ms);
            edit = Some(this);
        }
        let edited: Vec<PathBuf> = edit
            .map(|e| e.files.into_iter().map(|(file, _)| file).collect())
            .unwrap_or_default();
        for (expected_files, restarts) in [(1, &mut compiling), (0, &mut plain)] {
            let (next, ms) = restart(ctx, current, timeout)?;
            current = next;
            let compiled: u64 = current
                .outputs("stdout")
                .iter()
                .flat_map(|text| text.lines())
                .filter_map(crate::mix_vm::compiled_count)
                .sum();
            if compiled != expected_files {
                let _ = ctx.end_session(current);
                return Err(format!(
                    "a restart's launch compiled {compiled} files with Mix, where {expected_files} were stale \
                     (edited {edited:?})"
                ));
            }
            restarts.push(ms);
        }
    }
    ctx.end_session(current)?;
    let ratios = |of: &[f64], to: &[f64]| -> Result<Value, String> {
        Ok(crate::stats::describe_unit(&pair_ratios(of, to)?, "ratio"))
    };
    let with_compile = ratios(&compiling, &reloads)?;
    let against_first = ratios(&plain, &first_reloads)?;
    let outcome = paired(&plain, &reloads, "restart_ms", "reload_ms")?;
    let outcome = with_extra(outcome, "first_reload_ms", crate::stats::describe(&first_reloads));
    let outcome = with_extra(outcome, "restart_with_compile_ms", crate::stats::describe(&compiling));
    let outcome = with_extra(outcome, "restart_vs_first_reload", against_first);
    Ok(with_extra(outcome, "restart_with_compile_vs_reload", with_compile))
}

/// Restarts `current` as `restart_ms` does: `disconnect` with
/// `terminateDebuggee`, then a new adapter's launch until the workload's
/// start line. Returns the new session and the milliseconds from the
/// `disconnect` to that line.
fn restart(
    ctx: &mut SizeContext,
    mut current: DapClient,
    timeout: std::time::Duration,
) -> Result<(DapClient, f64), String> {
    ctx.record_peak_rss(&current)?;
    let started = Instant::now();
    current
        .request_ok("disconnect", json!({"terminateDebuggee": true}), TIMEOUT)
        .map_err(|e| e.0)?;
    let (next, _) = ctx.launch_session_with(json!({"reloadOnSave": "off"}), timeout)?;
    let ms = ms_since(started);
    // The old adapter exits once its session is over; reaped untimed.
    current.finish(TIMEOUT).map_err(|e| e.0)?;
    Ok((next, ms))
}

/// The size a session of `modules` is paired with: of the smaller sizes
/// that ran before it in this run (their projects are still in the work
/// directory, compiled), 200 (the summary's size) if it is one, else the
/// smallest.
pub(super) fn smaller_size_to_pair_with(config: &BenchConfig, modules: usize) -> Option<usize> {
    let position = config.sizes.iter().position(|&s| s == modules)?;
    let before = || config.sizes[..position].iter().copied().filter(|&s| s < modules);
    before().find(|&s| s == 200).or_else(|| before().min())
}

/// Edit generations of the smaller size's second context start at this
/// times one more than the larger size's position in `--sizes`: above any
/// the smaller size's own run wrote (a few thousand) and any an earlier
/// pairing with it wrote, so no edit writes what a file holds already (a
/// reload of unchanged content reloads nothing).
const SMALLER_SIZE_GENERATIONS: u64 = 1_000_000;

/// How a one-step reload scales with the project, in pairs: a session of
/// this size and one of a smaller size run before it
/// ([`smaller_size_to_pair_with`]; its project reused as that size left
/// it) are both up, every module interpreted, after their first rounds;
/// each pair is one pipeline step edited and reloaded by `reloadCode` in
/// each, back to back, in alternating order. While one reloads, the other's
/// VM is stopped (SIGSTOP, then SIGCONT), so that each reload has the
/// machine to itself as in `reload_1_ms`. A VM just continued runs the
/// workload's overdue iteration first; the alternation gives each side as
/// many reloads right after its own continuation, so `--reps` is rounded up
/// to an even number of pairs. The samples are each pair's ratio this size
/// / the smaller; `reload_ms` and `smaller_reload_ms` describe the sides,
/// `smaller_modules` names the size.
pub(super) fn reload_1_vs_smaller_size(ctx: &mut SizeContext) -> Result<Outcome, String> {
    if ctx.features.missing("reloadCode").is_some() {
        return Ok(waiting_for(ctx, "the `reloadCode` request (issue 5)", &["reloadCode"]));
    }
    let Some(smaller) = smaller_size_to_pair_with(ctx.config, ctx.modules()) else {
        return Ok(Outcome::NotMeasured(format!(
            "no smaller size ran before {} modules in this run (--sizes {:?})",
            ctx.modules(),
            ctx.config.sizes
        )));
    };
    let config = ctx.config;
    let features: &Features = ctx.features;
    let work_dir = ctx
        .root
        .parent()
        .ok_or("the project has no work directory")?
        .to_path_buf();
    let project = generator::generate(&GenOptions::new(smaller, config.seed)).map_err(|e| e.to_string())?;
    let logs = ctx.logs.join(format!("smaller-{smaller}"));
    std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
    let mut quiet = |_: &str| {};
    let mut small = SizeContext::new(
        config,
        project,
        project_dir(&work_dir, smaller),
        logs,
        features,
        &mut quiet,
    );
    let position = config.sizes.iter().position(|&s| s == ctx.modules()).unwrap_or(0) as u64;
    small.resume_generations_after(SMALLER_SIZE_GENERATIONS * (position + 1));

    let reps = ctx.config.reps + ctx.config.reps % 2;
    let pool = edit_pool(ctx, 1, reps)?;
    let small_pool = edit_pool(&small, 1, reps)?;
    let mut large_dap = launch_for_reloads(ctx)?;
    let mut small_dap = match launch_for_reloads(&mut small) {
        Ok(dap) => dap,
        Err(e) => {
            ctx.end_session(large_dap)?;
            return Err(format!("the {smaller}-module session: {e}"));
        }
    };
    let measured = (|| -> Result<_, String> {
        let large_vm = VmPid::of(&mut large_dap)?;
        let small_vm = VmPid::of(&mut small_dap)?;
        let timeout = crate::bench::compile_timeout(ctx.modules());
        let (mut large_ms, mut small_ms) = (Vec::new(), Vec::new());
        let (mut large_phases, mut small_phases) = (PhaseTimings::new(), PhaseTimings::new());
        for rep in 0..reps {
            for large_turn in [rep % 2 == 0, rep % 2 != 0] {
                // Written before the other VM stops: a write may wait for
                // the clock (see `SizeContext::write_edits`).
                if large_turn {
                    let generation = ctx.next_generation();
                    let edit = steps_edit(ctx, &pool, 1, rep, reps, generation)?;
                    ctx.write_edits(&edit.files)?;
                    let _stopped = small_vm.stop()?;
                    let (ms, body) = reload_written(ctx, &mut large_dap, &edit, timeout)?;
                    large_ms.push(ms);
                    large_phases.record(&body);
                } else {
                    let generation = small.next_generation();
                    let edit = steps_edit(&small, &small_pool, 1, rep, reps, generation)?;
                    small.write_edits(&edit.files)?;
                    let _stopped = large_vm.stop()?;
                    let (ms, body) = reload_written(&small, &mut small_dap, &edit, timeout)?;
                    small_ms.push(ms);
                    small_phases.record(&body);
                }
            }
        }
        Ok((large_ms, small_ms, large_phases, small_phases))
    })();
    let ended = small.end_session(small_dap).and(ctx.end_session(large_dap));
    let (large_ms, small_ms, large_phases, small_phases) = measured?;
    ended?;
    let outcome = paired(&large_ms, &small_ms, "reload_ms", "smaller_reload_ms")?;
    let outcome = with_extra(outcome, "smaller_modules", json!(smaller));
    let outcome = with_extra(outcome, "timings_median", large_phases.all_medians());
    Ok(with_extra(
        outcome,
        "smaller_timings_median",
        small_phases.all_medians(),
    ))
}

/// A session as `reload_1_ms` runs it: every module interpreted, no reload
/// on save, past its first round.
pub(super) fn launch_for_reloads(ctx: &mut SizeContext) -> Result<DapClient, String> {
    let timeout = crate::bench::compile_timeout(ctx.modules());
    let (mut dap, _) = ctx.launch_session_with(json!({"reloadOnSave": "off"}), timeout)?;
    if let Err(e) = ctx.wait_first_round(&mut dap) {
        ctx.end_session(dap)?;
        return Err(e);
    }
    Ok(dap)
}

/// The OS process of a session's VM, as the VM names it (`System.pid/0`).
pub(super) struct VmPid(nix::unistd::Pid);

impl VmPid {
    pub(super) fn of(dap: &mut DapClient) -> Result<Self, String> {
        let (numbers, text) = evaluate_numbers(dap, "String.to_integer(System.pid())")?;
        match numbers.as_slice() {
            [pid] if *pid >= 1.0 && pid.fract() == 0.0 && *pid <= f64::from(i32::MAX) => {
                Ok(VmPid(nix::unistd::Pid::from_raw(*pid as i32)))
            }
            _ => Err(format!("the VM's OS pid: expected a positive integer, got {text:?}")),
        }
    }

    /// Stops the VM (SIGSTOP) until the guard is dropped (SIGCONT), also
    /// when a measurement fails in between: a VM left stopped would hang
    /// its session's end.
    pub(super) fn stop(&self) -> Result<StoppedVm, String> {
        nix::sys::signal::kill(self.0, nix::sys::signal::Signal::SIGSTOP)
            .map_err(|e| format!("cannot stop the VM (pid {}): {e}", self.0))?;
        Ok(StoppedVm(self.0))
    }
}

pub(super) struct StoppedVm(nix::unistd::Pid);

impl Drop for StoppedVm {
    fn drop(&mut self) {
        // A VM that is gone cannot be continued, nor needs to be.
        let _ = nix::sys::signal::kill(self.0, nix::sys::signal::Signal::SIGCONT);
    }
}

#[cfg(test)]
mod tests {
    use super::smaller_size_to_pair_with;
    use crate::bench::BenchConfig;

    fn config(sizes: &[usize]) -> BenchConfig {
        BenchConfig {
            sizes: sizes.to_vec(),
            reps: 3,
            hub_reps: 1,
            seed: 1,
            quick: false,
            adapter: "elixir-dap".into(),
            adapter_log_level: "info".to_owned(),
            work_dir: None,
            only: None,
        }
    }

    #[test]
    fn a_size_is_paired_with_200_or_the_smallest_size_that_ran_before_it() {
        let pair = |sizes: &[usize], modules| smaller_size_to_pair_with(&config(sizes), modules);
        assert_eq!(pair(&[200, 2000], 2000), Some(200));
        assert_eq!(pair(&[200, 2000], 200), None);
        // The summary reads 2 000 against 200: 200 when it ran before.
        assert_eq!(pair(&[60, 200, 2000], 2000), Some(200));
        assert_eq!(pair(&[200, 60, 2000], 2000), Some(200));
        assert_eq!(pair(&[60, 200, 2000], 200), Some(60));
        assert_eq!(pair(&[30, 60, 1000], 1000), Some(30));
        assert_eq!(pair(&[300, 200], 300), None);
        // A smaller size that runs later has no project yet.
        assert_eq!(pair(&[2000, 200], 2000), None);
        assert_eq!(pair(&[2000, 200], 200), None);
        assert_eq!(pair(&[200], 2000), None);
    }
}
