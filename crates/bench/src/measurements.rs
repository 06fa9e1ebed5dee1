//! The registry of measurements: one function each, run in this order for
//! every size. A measurement of a feature the adapter does not have yet
//! returns [`Outcome::NotMeasured`] saying why; the report shows it as
//! `null` with that note, never as a number.
//!
//! To add one: write `fn key(ctx: &mut SizeContext) -> Result<Outcome, String>`
//! and list it in [`MEASUREMENTS`]; if the summary should show it, derive
//! it in `summary.rs`.

use std::path::PathBuf;
use std::time::Instant;

use serde_json::{json, Map, Value};

use crate::bench::{ms_since, SizeContext, TIMEOUT};
use crate::generator::EditTarget;

pub enum Outcome {
    /// One sample per repetition, plus facts worth keeping beside them.
    Samples {
        samples: Vec<f64>,
        extra: Map<String, Value>,
    },
    /// The feature is not there yet (or the measurement is not written).
    NotMeasured(String),
}

impl Outcome {
    fn samples(samples: Vec<f64>) -> Self {
        Outcome::Samples {
            samples,
            extra: Map::new(),
        }
    }
}

pub struct Measurement {
    /// The key in the report.
    pub key: &'static str,
    pub unit: &'static str,
    pub description: &'static str,
    pub run: fn(&mut SizeContext) -> Result<Outcome, String>,
}

pub const MEASUREMENTS: &[Measurement] = &[
    Measurement {
        key: "launch_to_first_output_ms",
        unit: "ms",
        description: "A fresh adapter: spawn, initialize, launch, configurationDone, until the workload's first stdout line (project already compiled).",
        run: launch_to_first_output_ms,
    },
    Measurement {
        key: "restart_ms",
        unit: "ms",
        description: "What a restart costs an editor: disconnect (terminateDebuggee) and a new adapter's launch, until the same first stdout line.",
        run: restart_ms,
    },
    Measurement {
        key: "adapter_peak_rss_mib",
        unit: "MiB",
        description: "VmHWM of the adapter process at the end of each session of this size (the launches and restarts above).",
        run: adapter_peak_rss_mib,
    },
    Measurement {
        key: "plain_mix_recompile_1_ms",
        unit: "ms",
        description: "No debugger: the app running under `mix run`, one pipeline step edited, in-VM `compile.elixir` (recompiles and loads it).",
        run: plain_mix_recompile_1_ms,
    },
    Measurement {
        key: "plain_mix_recompile_5_ms",
        unit: "ms",
        description: "As plain_mix_recompile_1_ms, 5 pipeline steps (spread over the chains) edited before one compile.",
        run: plain_mix_recompile_5_ms,
    },
    Measurement {
        key: "plain_mix_recompile_20_ms",
        unit: "ms",
        description: "As plain_mix_recompile_1_ms, 20 pipeline steps edited before one compile.",
        run: plain_mix_recompile_20_ms,
    },
    Measurement {
        key: "plain_mix_recompile_hub_ms",
        unit: "ms",
        description: "As plain_mix_recompile_1_ms, the hub macro edited: Mix recompiles it and every pipeline step (hub_reps repetitions).",
        run: plain_mix_recompile_hub_ms,
    },
    Measurement {
        key: "first_breakpoint_hit_ms",
        unit: "ms",
        description: "setBreakpoints on a pipeline step in a running session until the `stopped` event.",
        run: first_breakpoint_hit_ms,
    },
    Measurement {
        key: "stack_scopes_variables_ms",
        unit: "ms",
        description: "Stopped at a breakpoint: threads, stackTrace, scopes and variables of the top frame, one round trip each.",
        run: stack_scopes_variables_ms,
    },
    Measurement {
        key: "interpret_all_ms",
        unit: "ms",
        description: "The adapter's interpretation of every project module at launch.",
        run: interpret_all_ms,
    },
    Measurement {
        key: "serial_int_ni_ms",
        unit: "ms",
        description: "The ElixirLS way: a serial `:int.ni/1` loop over every project module.",
        run: serial_int_ni_ms,
    },
    Measurement {
        key: "reload_1_ms",
        unit: "ms",
        description: "reloadCode after one pipeline step was edited, until its response.",
        run: reload_1_ms,
    },
    Measurement {
        key: "reload_5_ms",
        unit: "ms",
        description: "reloadCode after 5 pipeline steps were edited.",
        run: reload_5_ms,
    },
    Measurement {
        key: "reload_20_ms",
        unit: "ms",
        description: "reloadCode after 20 pipeline steps were edited.",
        run: reload_20_ms,
    },
    Measurement {
        key: "save_to_code_reloaded_ms",
        unit: "ms",
        description: "reloadOnSave: a file written until the `codeReloaded` event.",
        run: save_to_code_reloaded_ms,
    },
];

fn launch_to_first_output_ms(ctx: &mut SizeContext) -> Result<Outcome, String> {
    let mut samples = Vec::new();
    for _ in 0..ctx.config.reps {
        let (dap, ms) = ctx.launch_session(TIMEOUT)?;
        samples.push(ms);
        ctx.end_session(dap)?;
    }
    Ok(Outcome::samples(samples))
}

fn restart_ms(ctx: &mut SizeContext) -> Result<Outcome, String> {
    let (mut current, _) = ctx.launch_session(TIMEOUT)?;
    let mut samples = Vec::new();
    for _ in 0..ctx.config.reps {
        ctx.record_peak_rss(&current)?;
        let started = Instant::now();
        current
            .request_ok("disconnect", json!({"terminateDebuggee": true}), TIMEOUT)
            .map_err(|e| e.0)?;
        let (next, launch_ms) = ctx.launch_session(TIMEOUT)?;
        let restart = ms_since(started);
        debug_assert!(restart >= launch_ms);
        samples.push(restart);
        // The old adapter exits once its session is over; reaped untimed.
        current.finish(TIMEOUT).map_err(|e| e.0)?;
        current = next;
    }
    ctx.end_session(current)?;
    Ok(Outcome::samples(samples))
}

fn adapter_peak_rss_mib(ctx: &mut SizeContext) -> Result<Outcome, String> {
    if ctx.session_peak_rss_kib.is_empty() {
        return Err("no session recorded its peak RSS".to_owned());
    }
    let samples = ctx
        .session_peak_rss_kib
        .iter()
        .map(|&kib| kib as f64 / 1024.0)
        .collect();
    Ok(Outcome::samples(samples))
}

/// Edits `count` pipeline steps (a new spread each repetition) and times
/// the in-VM recompile, `reps` times.
fn plain_mix_recompile(ctx: &mut SizeContext, count: usize, label: &str) -> Result<Outcome, String> {
    ctx.mix_vm()?;
    let reps = ctx.config.reps;
    let pool: Vec<EditTarget> = ctx
        .project
        .sample_edit_targets(count * reps)
        .into_iter()
        .cloned()
        .collect();
    if pool.len() < count {
        return Err(format!("the project has only {} edit targets", pool.len()));
    }
    let mut samples = Vec::new();
    let mut cpu = Vec::new();
    let mut files = Vec::new();
    for rep in 0..reps {
        let generation = ctx.next_generation();
        let mut edits: Vec<(PathBuf, String)> = Vec::new();
        for index in pick(pool.len(), count, rep, reps) {
            if let Some(target) = pool.get(index) {
                let edited = target.edit(&ctx.root, generation).map_err(|e| e.to_string())?;
                edits.push((target.file.clone(), edited));
            }
        }
        ctx.write_edits(&edits)?;
        let result = ctx.recompile(&format!("{label}-{rep}"))?;
        samples.push(result.wall_ms);
        cpu.push(result.cpu_ms);
        files.push(result.files_compiled);
    }
    let mut extra = Map::new();
    extra.insert("files_edited".to_owned(), json!(count));
    extra.insert("files_compiled".to_owned(), json!(files));
    extra.insert("cpu_ms".to_owned(), crate::stats::describe(&cpu));
    Ok(Outcome::Samples { samples, extra })
}

/// The `count` distinct indices into a pool of `len` targets that
/// repetition `rep` of `reps` edits: every `reps`-th from `rep` on, so that
/// each repetition's targets are spread over the chains and, when the pool
/// is large enough, differ from the other repetitions'.
fn pick(len: usize, count: usize, rep: usize, reps: usize) -> Vec<usize> {
    let mut chosen: Vec<usize> = Vec::with_capacity(count);
    let strided = (0..count).map(|k| (rep + k * reps.max(1)) % len.max(1));
    for index in strided.chain(0..len) {
        if chosen.len() == count.min(len) {
            break;
        }
        if !chosen.contains(&index) {
            chosen.push(index);
        }
    }
    chosen
}

fn plain_mix_recompile_1_ms(ctx: &mut SizeContext) -> Result<Outcome, String> {
    plain_mix_recompile(ctx, 1, "one")
}

fn plain_mix_recompile_5_ms(ctx: &mut SizeContext) -> Result<Outcome, String> {
    plain_mix_recompile(ctx, 5, "five")
}

fn plain_mix_recompile_20_ms(ctx: &mut SizeContext) -> Result<Outcome, String> {
    plain_mix_recompile(ctx, 20, "twenty")
}

fn plain_mix_recompile_hub_ms(ctx: &mut SizeContext) -> Result<Outcome, String> {
    ctx.mix_vm()?;
    let hub = ctx.project.hub_macro.clone();
    let mut samples = Vec::new();
    let mut cpu = Vec::new();
    let mut files = Vec::new();
    for rep in 0..ctx.config.hub_reps {
        let generation = ctx.next_generation();
        let edited = hub.edit.edit(&ctx.root, generation).map_err(|e| e.to_string())?;
        ctx.write_edits(&[(hub.file.clone(), edited)])?;
        let result = ctx.recompile(&format!("hub-{rep}"))?;
        samples.push(result.wall_ms);
        cpu.push(result.cpu_ms);
        files.push(result.files_compiled);
    }
    let mut extra = Map::new();
    extra.insert("files_edited".to_owned(), json!(1));
    extra.insert("files_compiled".to_owned(), json!(files));
    extra.insert("cpu_ms".to_owned(), crate::stats::describe(&cpu));
    Ok(Outcome::Samples { samples, extra })
}

/// `NotMeasured` naming the feature, and what the adapter answers today.
fn waiting_for(ctx: &SizeContext, feature: &str, commands: &[&str]) -> Outcome {
    let missing: Vec<String> = commands.iter().filter_map(|c| ctx.features.missing(c)).collect();
    let today = if missing.is_empty() {
        "the adapter now answers these requests; the measurement is still to be written".to_owned()
    } else {
        missing.join("; ")
    };
    Outcome::NotMeasured(format!("needs {feature}: {today}"))
}

fn first_breakpoint_hit_ms(ctx: &mut SizeContext) -> Result<Outcome, String> {
    Ok(waiting_for(
        ctx,
        "line breakpoints and `stopped` events (issue 3)",
        &["setBreakpoints"],
    ))
}

fn stack_scopes_variables_ms(ctx: &mut SizeContext) -> Result<Outcome, String> {
    Ok(waiting_for(
        ctx,
        "stack traces, scopes and variables (issue 3)",
        &["stackTrace", "scopes", "variables"],
    ))
}

fn interpret_all_ms(ctx: &mut SizeContext) -> Result<Outcome, String> {
    Ok(waiting_for(
        ctx,
        "interpretation at launch and a way to time it (issue 3)",
        &["setBreakpoints"],
    ))
}

fn serial_int_ni_ms(_ctx: &mut SizeContext) -> Result<Outcome, String> {
    Ok(Outcome::NotMeasured(
        "the baseline of interpret_all_ms: measured together with it once the adapter interprets (issue 3)".to_owned(),
    ))
}

fn reload_1_ms(ctx: &mut SizeContext) -> Result<Outcome, String> {
    Ok(waiting_for(ctx, "the `reloadCode` request (issue 5)", &["reloadCode"]))
}

fn reload_5_ms(ctx: &mut SizeContext) -> Result<Outcome, String> {
    Ok(waiting_for(ctx, "the `reloadCode` request (issue 5)", &["reloadCode"]))
}

fn reload_20_ms(ctx: &mut SizeContext) -> Result<Outcome, String> {
    Ok(waiting_for(ctx, "the `reloadCode` request (issue 5)", &["reloadCode"]))
}

fn save_to_code_reloaded_ms(_ctx: &mut SizeContext) -> Result<Outcome, String> {
    Ok(Outcome::NotMeasured(
        "needs reload on save (`reloadOnSave`, the `codeReloaded` event; phase 5)".to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::pick;

    #[test]
    fn each_repetition_edits_distinct_spread_targets() {
        assert_eq!(pick(100, 5, 0, 20), vec![0, 20, 40, 60, 80]);
        assert_eq!(pick(100, 5, 3, 20), vec![3, 23, 43, 63, 83]);
        // A small pool: still `count` distinct targets.
        let small = pick(8, 5, 1, 3);
        assert_eq!(small.len(), 5);
        let mut unique = small.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 5);
        assert_eq!(pick(3, 5, 0, 1).len(), 3);
    }
}
