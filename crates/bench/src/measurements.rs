//! The registry of measurements: one function each, run in this order for
//! every size. A measurement of a feature the adapter does not have yet
//! returns [`Outcome::NotMeasured`] saying why; the report shows it as
//! `null` with that note, never as a number.
//!
//! To add one: write `fn key(ctx: &mut SizeContext) -> Result<Outcome, String>`
//! and list it in [`MEASUREMENTS`]; if the summary should show it, derive
//! it in `summary.rs`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::bench::{ms_since, SizeContext, TIMEOUT};
use crate::generator::EditTarget;

mod debugging;
mod pairs;
mod recompile;
mod reloads;

use debugging::*;
pub use debugging::{plain_copy_expression, slowdown_module};
use pairs::*;
use recompile::*;
use reloads::*;
pub use reloads::{
    compile_floor_expression, parse_code_change, soak_module, CODE_CHANGE_EXPRESSION, RELOAD_PHASES, SOAK_FUNCTIONS,
};

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

impl Measurement {
    /// Whether it runs in the plain-Mix VM (`SizeContext::mix_vm`): the
    /// `plain_mix_*` measurements, listed one after the other.
    pub fn uses_mix_vm(&self) -> bool {
        self.key.starts_with("plain_mix_")
    }
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
        key: "interpret_ours_ms",
        unit: "ms",
        description: "The adapter's interpretation of every project module at launch, as it reports it (`elixir-dap: interpreted N modules in X ms`), in each session of launch_to_first_output_ms and restart_ms.",
        run: interpret_ours_ms,
    },
    Measurement {
        key: "adapter_peak_rss_mib",
        unit: "MiB",
        description: "VmHWM of the adapter process at the end of each session of this size (the launches and restarts above).",
        run: adapter_peak_rss_mib,
    },
    Measurement {
        key: "restart_vs_reload",
        unit: "ratio",
        description: "What a restart costs against the reload it replaces, in groups back to back: in a running session (after its first round) one pipeline step edited and reloaded by `reloadCode` twice (each timed: the session's first reload, then the next), then the session restarted (disconnect with terminateDebuggee and a new adapter's launch until the workload's start line, timed), whose launch compiles the edit with Mix (a reload never writes `_build`), then restarted once more with nothing to compile (timed, as restart_ms). Mix's `Compiling N file` line is checked in each restarted session. The samples are each group's ratio restart without a compile / second reload; `restart_with_compile_vs_reload` and `restart_vs_first_reload` describe the other ratios; `reload_ms`, `first_reload_ms`, `restart_with_compile_ms` and `restart_ms` the sides.",
        run: restart_vs_reload,
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
        description: "A fresh adapter: spawn, initialize, launch, setBreakpoints on the first line of a pipeline step's step/1, configurationDone, until the `stopped` event (the adapter's defaults: lazy interpretation, the breakpoint's module interpreted before the start and the rest in the background).",
        run: first_breakpoint_hit_ms,
    },
    Measurement {
        key: "launch_to_first_breakpoint_vs_nodebug",
        unit: "ratio",
        description: "first_breakpoint_hit_ms against its reference, alternated in pairs: the same launch and setBreakpoints with `noDebug: true`, until the workload prints that its first iteration (the one that stops at the breakpoint when debugged) is done. The samples are each pair's ratio debugged / noDebug; `debug_ms` and `nodebug_ms` describe the two sides.",
        run: launch_to_first_breakpoint_vs_nodebug,
    },
    Measurement {
        key: "stack_scopes_variables_ms",
        unit: "ms",
        description: "Stopped at that breakpoint: stackTrace, scopes of the top frame and variables of its first scope, the three round trips in sequence (at least 20 repetitions).",
        run: stack_scopes_variables_ms,
    },
    Measurement {
        key: "interpret_serial_ni_ms",
        unit: "ms",
        description: "The ElixirLS way, as a baseline: a serial `Enum.each(modules, &:int.ni/1)` over the project's modules, timed with `:timer.tc` inside an adapter-launched VM with nothing interpreted yet (frameless evaluate before the task runs); one fresh VM per repetition (a quarter of reps, at least 3).",
        run: interpret_serial_ni_ms,
    },
    Measurement {
        key: "reload_1_ms",
        unit: "ms",
        description: "reloadCode after one pipeline step was edited, until its response.",
        run: reload_1_ms,
    },
    Measurement {
        key: "reload_1_vs_compile_floor",
        unit: "ratio",
        description: "In one session (every module interpreted): one pipeline step edited and reloaded by `reloadCode` (its wall time), then, in the same VM, `Code.compile_file/1` of the same edited source under another module name (the floor: Elixir's compiler alone, timed in the VM). The samples are each repetition's ratio reload / floor; `reload_ms` and `compile_floor_ms` describe the two sides.",
        run: reload_1_vs_compile_floor,
    },
    Measurement {
        key: "reload_1_vs_smaller_size",
        unit: "ratio",
        description: "How a one-step reload scales, in pairs back to back: a session of this size and one of the smallest size that ran before it in this run (its project reused), both with every module interpreted and past their first rounds; each pair one pipeline step edited and reloaded by `reloadCode` in each, in alternating order, the other session's VM stopped (SIGSTOP) meanwhile. The samples are each pair's ratio this size / the smaller; `reload_ms` and `smaller_reload_ms` describe the sides, `smaller_modules` names the smaller size. Not measured at a size no smaller size ran before.",
        run: reload_1_vs_smaller_size,
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
        key: "reload_hub_ms",
        unit: "ms",
        description: "reloadCode after the hub macro was edited: it and every pipeline step (its compile-time dependents) recompiled, reloaded and re-interpreted (hub_reps repetitions, at most 2 from 1 000 modules on).",
        run: reload_hub_ms,
    },
    Measurement {
        key: "interpreted_call_slowdown",
        unit: "ratio",
        description: "How much slower interpreted code runs than native code in one VM: two copies of a module (added to the project for this session; one excluded with `excludeModules`), a CPU-bound loop and a request-like handler (parse parameters, build and filter a list of maps, render strings), each timed in the VM, interpreted / native. The samples are the CPU-bound ratios; `request_handler_ratio` the handler's, `*_ns` the times per call.",
        run: interpreted_call_slowdown,
    },
    Measurement {
        key: "reload_soak_ms",
        unit: "ms",
        description: "The soak: one session, a 2 400-line interpreted module reloaded 1 000 times (--quick: 60) by `reloadCode`, each time with new content; the samples are every reload's wall time. Beside them, at reload 100 and at the last (--quick: 10 and 60): VM memory (`:erlang.memory(:total)`, and by category: processes, ets, binary, code, atom, system), ETS tables, processes and the adapter's RSS, with the ratio last / first of each, and the median of the first and of the last 100 reloads (--quick: 10) with their ratio. Over each of the two windows a fresh session of the project is up beside the soak's and reloads the same module after each soak reload (each VM stopped while the other reloads): `median_first_vs_fresh` and `median_last_vs_fresh` are the medians of soak / fresh, reload by reload, the soak's age at that moment without the machine's speed in it.",
        run: reload_soak_ms,
    },
    Measurement {
        key: "save_to_code_reloaded_ms",
        unit: "ms",
        description: "reloadOnSave \"auto\" (the default, with its 100 ms debounce): one pipeline step written to disk until the `codeReloaded` event that reloads it.",
        run: save_to_code_reloaded_ms,
    },
    // The native backend (`debugBackend: "native"`, OTP 28+): last, so that
    // the interpreter's measurements run as they did before it existed.
    Measurement {
        key: "launch_to_first_breakpoint_vs_nodebug_native",
        unit: "ratio",
        description: "launch_to_first_breakpoint_vs_nodebug on the native backend (`debugBackend: \"native\"`: OTP 28+'s erl_debugger, the VM started with +D, the project compiled with line debug info into the backend's own build path): pairs of a native launch to the first breakpoint and the same launch with `noDebug: true`, after one untimed pair. Not measured before OTP 28.",
        run: launch_to_first_breakpoint_vs_nodebug_native,
    },
    Measurement {
        key: "reload_1_ms_native",
        unit: "ms",
        description: "reload_1_ms on the native backend: reloadCode after one pipeline step was edited, until its response (no interpretation step). Not measured before OTP 28.",
        run: reload_1_ms_native,
    },
    Measurement {
        key: "interpreted_call_slowdown_native",
        unit: "ratio",
        description: "interpreted_call_slowdown on the native backend: the slowdown module compiled by the native launch (line debug info, the VM started with +D, no breakpoint set) against a plain copy compiled in the same VM without line debug info, both native code. The samples are the CPU-bound ratios debugged / plain; `request_handler_ratio` the handler's, `*_ns` the times per call. Not measured before OTP 28.",
        run: interpreted_call_slowdown_native,
    },
];

/// Measurements that launch a whole session per repetition take seconds
/// each on a large project: half the repetitions (at least 10) from 1 000
/// modules on, so that the full run stays within its time budget.
/// Evaluates `expression` in the session's VM (a frameless `evaluate` in the
/// `repl` context, answered within `timeout`) and returns the response's
/// `result`: the value as Elixir's `inspect` shows it (`""` if absent).
///
/// Errors: the `evaluate` request failed.
fn evaluate_result(
    dap: &mut crate::dap_client::DapClient,
    expression: &str,
    timeout: Duration,
) -> Result<String, String> {
    let response = dap
        .request_ok(
            "evaluate",
            json!({"expression": expression, "context": "repl"}),
            timeout,
        )
        .map_err(|e| e.0)?;
    Ok(response["body"]["result"].as_str().unwrap_or_default().to_owned())
}

/// Evaluates `expression` (a tuple of numbers, such as `{1, 2.5}`) in the
/// session's VM and returns its numbers in order, and the text they came
/// from (for error messages).
///
/// Errors: the `evaluate` request failed.
fn evaluate_numbers(dap: &mut crate::dap_client::DapClient, expression: &str) -> Result<(Vec<f64>, String), String> {
    let text = evaluate_result(dap, expression, TIMEOUT)?;
    let numbers = text
        .trim_matches(|c| c == '{' || c == '}')
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    Ok((numbers, text))
}

fn session_reps(ctx: &SizeContext) -> usize {
    if ctx.modules() >= 1000 {
        (ctx.config.reps / 2).max(ctx.config.reps.min(10))
    } else {
        ctx.config.reps
    }
}

/// The hub macro edit recompiles nearly every module: about a minute (Mix)
/// or two (a reload) per repetition at 2 000 modules.
fn hub_reps(ctx: &SizeContext) -> usize {
    if ctx.modules() >= 1000 {
        ctx.config.hub_reps.min(2)
    } else {
        ctx.config.hub_reps
    }
}

fn launch_to_first_output_ms(ctx: &mut SizeContext) -> Result<Outcome, String> {
    let mut samples = Vec::new();
    for _ in 0..session_reps(ctx) {
        let (dap, ms) = ctx.launch_session(TIMEOUT)?;
        samples.push(ms);
        ctx.end_session(dap)?;
    }
    Ok(Outcome::samples(samples))
}

fn restart_ms(ctx: &mut SizeContext) -> Result<Outcome, String> {
    let (mut current, _) = ctx.launch_session(TIMEOUT)?;
    let mut samples = Vec::new();
    for _ in 0..session_reps(ctx) {
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

fn with_extra(outcome: Outcome, key: &str, value: Value) -> Outcome {
    match outcome {
        Outcome::Samples { samples, mut extra } => {
            extra.insert(key.to_owned(), value);
            Outcome::Samples { samples, extra }
        }
        other => other,
    }
}

/// Each pair's ratio `ours / reference`, and both sides described: the
/// samples and extra of a measurement against a reference taken in the
/// same run, alternated so that a change of the machine's load reaches both.
fn paired(ours: &[f64], reference: &[f64], ours_key: &str, reference_key: &str) -> Result<Outcome, String> {
    let ratios = pair_ratios(ours, reference)?;
    let mut extra = Map::new();
    extra.insert(ours_key.to_owned(), crate::stats::describe(ours));
    extra.insert(reference_key.to_owned(), crate::stats::describe(reference));
    Ok(Outcome::Samples { samples: ratios, extra })
}

/// `ours[i] / reference[i]` for every pair; an error on a missing or
/// non-positive reference (no ratio is made up).
pub fn pair_ratios(ours: &[f64], reference: &[f64]) -> Result<Vec<f64>, String> {
    if ours.len() != reference.len() || ours.is_empty() {
        return Err(format!(
            "{} samples against {} references: no pairs",
            ours.len(),
            reference.len()
        ));
    }
    ours.iter()
        .zip(reference)
        .map(|(&o, &r)| {
            if r > 0.0 {
                Ok(o / r)
            } else {
                Err(format!("a reference of {r}: no ratio"))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::debugging::{slowdown_expression, NATIVE_SLOWDOWN_REPS, SLOWDOWN_REPS};
    use super::{
        compile_floor_expression, pair_ratios, parse_code_change, parse_serial_ni, pick, plain_copy_expression,
        slowdown_module, CODE_CHANGE_EXPRESSION,
    };

    #[test]
    fn the_serial_ni_result_parses() {
        assert_eq!(parse_serial_ni("{200, 200, 345678}"), Some((200, 200, 345.678)));
        assert_eq!(parse_serial_ni("{:error, 1}"), None);
    }

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

    #[test]
    fn pairs_give_ratios_or_say_why_not() {
        assert_eq!(pair_ratios(&[30.0, 12.0], &[10.0, 8.0]), Ok(vec![3.0, 1.5]));
        assert!(pair_ratios(&[1.0], &[]).is_err());
        assert!(pair_ratios(&[], &[]).is_err());
        assert!(pair_ratios(&[1.0], &[0.0]).is_err());
    }

    #[test]
    fn the_floor_compiles_a_renamed_copy_and_restores_the_session() {
        let e = compile_floor_expression("/p/lib/a.ex", "/l/floor.ex", "App.A");
        assert!(
            e.contains(r#""defmodule App.A do", "defmodule App.A.CompileFloor do""#),
            "{e}"
        );
        assert!(
            e.contains(r#":timer.tc(fn -> Code.compile_file("/l/floor.ex") end)"#),
            "{e}"
        );
        assert!(e.contains("Code.put_compiler_option(:tracers, tracers)"), "{e}");
        assert!(e.contains(":code.delete(floor)"), "{e}");
    }

    #[test]
    fn the_code_change_probe_times_a_load_and_a_delete_and_counts_exports() {
        assert_eq!(parse_code_change("\"412 388 21600\""), Ok((412.0, 388.0, 21600)));
        assert_eq!(parse_code_change("1530 1498 8367\n"), Ok((1530.0, 1498.0, 8367)));
        for bad in ["", "412 388", "412 x 21600", "-1 2 3", "1 2 3 4", "{:error, :badarg}"] {
            let error = parse_code_change(bad).unwrap_err();
            assert!(error.contains("code change probe"), "{bad}: {error}");
        }
        let e = CODE_CHANGE_EXPRESSION;
        assert!(e.contains(":compile.noenv_forms(forms, [])"), "{e}");
        assert!(
            e.contains(":timer.tc(fn -> :code.load_binary(name, [], bin) end)"),
            "{e}"
        );
        assert!(e.contains(":timer.tc(fn -> :code.delete(name) end)"), "{e}");
        assert!(e.contains(":code.purge(name)"), "{e}");
        // Counting exports must not call into (interpreted) modules.
        assert!(e.contains(":erlang.get_module_info(m, :exports)"), "{e}");
        assert!(!e.contains("module_info(:exports)"), "{e}");
    }

    #[test]
    fn phase_timings_keep_gaps_aligned_and_take_medians_of_what_is_there() {
        use super::reloads::PhaseTimings;
        use serde_json::json;
        let mut phases = PhaseTimings::new();
        for (compile, switch) in [(10.0, None), (20.0, Some(1.0)), (31.04, Some(3.0)), (40.0, None)] {
            let mut timings = json!({"compile": compile, "total": compile + 5.0});
            if let Some(switch) = switch {
                timings["switch"] = json!(switch);
            }
            phases.record(&json!({ "timings": timings }));
        }
        let all = phases.all_medians();
        assert_eq!(all["compile"], json!(25.5), "{all}");
        assert_eq!(all["switch"], json!(2.0), "{all}");
        assert_eq!(all["plan"], serde_json::Value::Null, "{all}");
        // Windows count reloads, not the values present.
        let first = phases.medians(0..2);
        assert_eq!(first["compile"], json!(15.0), "{first}");
        assert_eq!(first["switch"], json!(1.0), "{first}");
        let last = phases.medians(2..4);
        assert_eq!(last["compile"], json!(35.5), "{last}");
        assert_eq!(last["total"], json!(40.5), "{last}");
    }

    #[test]
    fn the_slowdown_module_names_itself() {
        let m = slowdown_module("App.Slowdown.Native");
        assert!(m.starts_with("defmodule App.Slowdown.Native do"), "{m}");
        assert!(m.contains(r#"name: "item-#{id}-#{k}""#), "{m}");
    }

    #[test]
    fn the_slowdown_times_the_slow_copy_fewer_times_only_on_the_interpreter() {
        let e = slowdown_expression("App.Slow", "App.Fast", SLOWDOWN_REPS);
        assert!(e.contains("time.(&App.Fast.repeat_cpu(&1, 20000), 50)"), "{e}");
        assert!(e.contains("time.(&App.Slow.repeat_cpu(&1, 20000), 2)"), "{e}");
        assert!(e.contains("time.(&App.Slow.repeat_handle(&1, params), 10)"), "{e}");
        // Natively both copies run as often.
        let e = slowdown_expression("App.Debugged", "App.Plain", NATIVE_SLOWDOWN_REPS);
        assert!(e.contains("time.(&App.Plain.repeat_cpu(&1, 20000), 50)"), "{e}");
        assert!(e.contains("time.(&App.Debugged.repeat_cpu(&1, 20000), 50)"), "{e}");
        assert!(
            e.contains("time.(&App.Debugged.repeat_handle(&1, params), 2000)"),
            "{e}"
        );
    }

    #[test]
    fn the_plain_copy_compiles_without_debug_info_and_restores_the_session() {
        let e = plain_copy_expression(
            "/p/lib/app/slowdown_debugged.ex",
            "App.Slowdown.Debugged",
            "App.Slowdown.Plain",
        );
        assert!(
            e.contains(r#""defmodule App.Slowdown.Debugged do", "defmodule App.Slowdown.Plain do""#),
            "{e}"
        );
        // Elixir's cached ERL_COMPILER_OPTIONS emptied for the compile, then
        // put back (or erased if there were none), tracers likewise.
        assert!(e.contains(":persistent_term.put(:elixir_erl_compiler, [])"), "{e}");
        assert!(e.contains(":persistent_term.put(:elixir_erl_compiler, cached)"), "{e}");
        assert!(e.contains(":persistent_term.erase(:elixir_erl_compiler)"), "{e}");
        assert!(e.contains("Code.put_compiler_option(:tracers, tracers)"), "{e}");
        // Each copy says whether it has line debug info.
        assert!(
            e.contains("{info.(App.Slowdown.Debugged), info.(App.Slowdown.Plain)}"),
            "{e}"
        );
    }
}
