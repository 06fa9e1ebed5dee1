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
        description: "A fresh adapter: spawn, initialize, launch, setBreakpoints on the first line of a pipeline step's step/1, configurationDone, until the `stopped` event (every project module interpreted, the adapter's default).",
        run: first_breakpoint_hit_ms,
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
        key: "reload_soak_ms",
        unit: "ms",
        description: "The soak: one session, a 2 400-line interpreted module reloaded 1 000 times (--quick: 60) by `reloadCode`, each time with new content; the samples are every reload's wall time. Beside them, at reload 100 and at the last (--quick: 10 and 60): VM memory (`:erlang.memory(:total)`), ETS tables, processes and the adapter's RSS, with the ratio last / first of each, and the median of the first and of the last 100 reloads (--quick: 10) with their ratio.",
        run: reload_soak_ms,
    },
    Measurement {
        key: "save_to_code_reloaded_ms",
        unit: "ms",
        description: "reloadOnSave \"auto\" (the default, with its 100 ms debounce): one pipeline step written to disk until the `codeReloaded` event that reloads it.",
        run: save_to_code_reloaded_ms,
    },
];

/// Measurements that launch a whole session per repetition take seconds
/// each on a large project: half the repetitions (at least 10) from 1 000
/// modules on, so that the full run stays within its time budget.
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

/// Edit targets for `reps` repetitions of `count` edits, spread over the
/// project.
fn edit_pool(ctx: &SizeContext, count: usize, reps: usize) -> Result<Vec<EditTarget>, String> {
    let pool: Vec<EditTarget> = ctx
        .project
        .sample_edit_targets(count * reps)
        .into_iter()
        .cloned()
        .collect();
    if pool.len() < count {
        return Err(format!("the project has only {} edit targets", pool.len()));
    }
    Ok(pool)
}

/// Edits `count` pipeline steps (a new spread each repetition) and times
/// the in-VM recompile, `reps` times.
fn plain_mix_recompile(ctx: &mut SizeContext, count: usize, label: &str) -> Result<Outcome, String> {
    ctx.mix_vm()?;
    let reps = ctx.config.reps;
    let pool = edit_pool(ctx, count, reps)?;
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
    for rep in 0..hub_reps(ctx) {
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

/// The pipeline step the breakpoint measurements stop in: the first step of
/// the first chain, which the workload calls every round.
fn breakpoint_target(ctx: &SizeContext) -> Result<EditTarget, String> {
    ctx.project
        .edit_targets
        .first()
        .cloned()
        .ok_or_else(|| "the project has no pipeline step".to_owned())
}

fn first_breakpoint_hit_ms(ctx: &mut SizeContext) -> Result<Outcome, String> {
    let target = breakpoint_target(ctx)?;
    let mut samples = Vec::new();
    for _ in 0..session_reps(ctx) {
        let (dap, ms, _thread) = ctx.launch_to_breakpoint(&target, TIMEOUT)?;
        samples.push(ms);
        ctx.end_session(dap)?;
    }
    let mut extra = Map::new();
    extra.insert("module".to_owned(), json!(target.module));
    extra.insert("line".to_owned(), json!(target.breakpoint_line));
    Ok(Outcome::Samples { samples, extra })
}

fn stack_scopes_variables_ms(ctx: &mut SizeContext) -> Result<Outcome, String> {
    let target = breakpoint_target(ctx)?;
    let (mut dap, _, thread) = ctx.launch_to_breakpoint(&target, TIMEOUT)?;
    let mut samples = Vec::new();
    let mut frames = 0;
    let mut variables = 0;
    for _ in 0..ctx.config.reps.max(20) {
        let started = Instant::now();
        let stack = dap
            .request_ok(
                "stackTrace",
                json!({"threadId": thread, "startFrame": 0, "levels": 20}),
                TIMEOUT,
            )
            .map_err(|e| e.0)?;
        let frame = stack["body"]["stackFrames"][0]["id"]
            .as_i64()
            .ok_or_else(|| format!("stackTrace without frames: {stack}"))?;
        let scopes = dap
            .request_ok("scopes", json!({"frameId": frame}), TIMEOUT)
            .map_err(|e| e.0)?;
        let reference = scopes["body"]["scopes"][0]["variablesReference"]
            .as_i64()
            .ok_or_else(|| format!("scopes without a variablesReference: {scopes}"))?;
        let vars = dap
            .request_ok("variables", json!({"variablesReference": reference}), TIMEOUT)
            .map_err(|e| e.0)?;
        samples.push(ms_since(started));
        frames = stack["body"]["stackFrames"].as_array().map_or(0, Vec::len);
        variables = vars["body"]["variables"].as_array().map_or(0, Vec::len);
    }
    ctx.end_session(dap)?;
    if variables == 0 {
        return Err(format!("the top frame in {} shows no variables", target.module));
    }
    let mut extra = Map::new();
    extra.insert("frames".to_owned(), json!(frames));
    extra.insert("variables".to_owned(), json!(variables));
    Ok(Outcome::Samples { samples, extra })
}

fn interpret_ours_ms(ctx: &mut SizeContext) -> Result<Outcome, String> {
    if ctx.interpretations.is_empty() {
        return Err("no launch printed `elixir-dap: interpreted N modules in X ms`".to_owned());
    }
    let modules: Vec<usize> = ctx.interpretations.iter().map(|&(n, _)| n).collect();
    let samples = ctx.interpretations.iter().map(|&(_, ms)| ms).collect();
    let mut extra = Map::new();
    extra.insert("modules_interpreted".to_owned(), json!(modules.iter().max()));
    Ok(Outcome::Samples { samples, extra })
}

/// The baseline's expression: `{modules, interpreted, microseconds}`.
fn serial_ni_expression(app: &str) -> String {
    format!(
        "Application.load(:{app})\n\
         mods = Application.spec(:{app}, :modules)\n\
         {{us, ok}} = :timer.tc(fn -> Enum.count(mods, &match?({{:module, _}}, :int.ni(&1))) end)\n\
         {{length(mods), ok, us}}"
    )
}

/// Parses `{200, 200, 345678}`.
fn parse_serial_ni(result: &str) -> Option<(u64, u64, f64)> {
    let inner = result.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut parts = inner.split(',').map(str::trim);
    let modules = parts.next()?.parse().ok()?;
    let ok = parts.next()?.parse().ok()?;
    let us: f64 = parts.next()?.parse().ok()?;
    Some((modules, ok, us / 1000.0))
}

fn interpret_serial_ni_ms(ctx: &mut SizeContext) -> Result<Outcome, String> {
    let reps = (ctx.config.reps / 4).max(3);
    let timeout = crate::bench::compile_timeout(ctx.modules());
    let expression = serial_ni_expression(&ctx.project.options.app_name);
    let mut samples = Vec::new();
    let mut counts = Vec::new();
    for _ in 0..reps {
        let mut dap = ctx.launch_uninterpreted(timeout)?;
        let response = dap
            .request_ok(
                "evaluate",
                json!({"expression": expression, "context": "repl"}),
                timeout,
            )
            .map_err(|e| e.0)?;
        let result = response["body"]["result"].as_str().unwrap_or_default().to_owned();
        let (modules, ok, ms) =
            parse_serial_ni(&result).ok_or_else(|| format!("unexpected result of the :int.ni loop: {result:?}"))?;
        if ok != modules {
            return Err(format!("the :int.ni loop interpreted {ok} of {modules} modules"));
        }
        samples.push(ms);
        counts.push(modules);
        ctx.end_session(dap)?;
    }
    let mut extra = Map::new();
    extra.insert("modules_interpreted".to_owned(), json!(counts.iter().max()));
    Ok(Outcome::Samples { samples, extra })
}

/// The phases of `timings` in a `reloadCode` response (and `codeReloaded`
/// event), in milliseconds.
pub const RELOAD_PHASES: &[&str] = &["plan", "compile", "load", "interpret", "breakpoints", "total", "held"];

/// The files one reload repetition writes and the modules it must reload.
struct ReloadEdit {
    files: Vec<(PathBuf, String)>,
    modules: Vec<String>,
}

/// `reloadCode` after edits, `reps` times in one session (every project
/// module interpreted, as at launch): the wall time from the request to its
/// response, and the medians of the adapter's own `timings`. The request is
/// `{"files": [absolute paths]}`; the response's body has `success`,
/// `reloaded` (which must name every edited module) and `timings`. Not
/// measured while the adapter does not answer `reloadCode`.
fn measure_reloads(
    ctx: &mut SizeContext,
    reps: usize,
    edit_for: &mut dyn FnMut(&SizeContext, usize, u64) -> Result<ReloadEdit, String>,
) -> Result<Outcome, String> {
    if ctx.features.missing("reloadCode").is_some() {
        return Ok(waiting_for(ctx, "the `reloadCode` request (issue 5)", &["reloadCode"]));
    }
    // A reload that recompiles most of the project takes as long as a compile.
    let timeout = crate::bench::compile_timeout(ctx.modules());
    // Only the request reloads: no reload on save racing with it.
    let (mut dap, _) = ctx.launch_session_with(json!({"reloadOnSave": "off"}), TIMEOUT)?;
    let mut samples = Vec::new();
    let mut reloaded_counts = Vec::new();
    let mut phases: Vec<Vec<f64>> = vec![Vec::new(); RELOAD_PHASES.len()];
    for rep in 0..reps {
        let generation = ctx.next_generation();
        let edit = edit_for(ctx, rep, generation)?;
        ctx.write_edits(&edit.files)?;
        let files: Vec<PathBuf> = edit.files.iter().map(|(file, _)| ctx.root.join(file)).collect();
        let started = Instant::now();
        let response = dap
            .request("reloadCode", json!({ "files": files }), timeout)
            .map_err(|e| e.0)?;
        let ms = ms_since(started);
        let body = &response["body"];
        if response["success"] != true || body["success"] == false {
            return Err(format!(
                "reloadCode failed: {}",
                crate::dap_client::response_message(&response)
            ));
        }
        let reloaded = body["reloaded"].to_string();
        if let Some(missing) = edit.modules.iter().find(|m| !reloaded.contains(m.as_str())) {
            return Err(format!("reloadCode did not reload {missing}: {body}"));
        }
        samples.push(ms);
        reloaded_counts.push(body["reloaded"].as_array().map_or(0, Vec::len));
        for (phase, values) in RELOAD_PHASES.iter().zip(phases.iter_mut()) {
            if let Some(value) = body["timings"][*phase].as_f64() {
                values.push(value);
            }
        }
    }
    ctx.end_session(dap)?;
    let mut timings = Map::new();
    for (phase, values) in RELOAD_PHASES.iter().zip(&phases) {
        timings.insert(
            (*phase).to_owned(),
            json!(crate::stats::median(values).map(crate::stats::round1)),
        );
    }
    let mut extra = Map::new();
    extra.insert("modules_reloaded".to_owned(), json!(reloaded_counts));
    extra.insert("timings_median".to_owned(), Value::Object(timings));
    Ok(Outcome::Samples { samples, extra })
}

/// `reloadCode` after `count` pipeline steps (a new spread each repetition)
/// were edited.
fn reload_edits(ctx: &mut SizeContext, count: usize) -> Result<Outcome, String> {
    let reps = ctx.config.reps;
    let pool = edit_pool(ctx, count, reps)?;
    let outcome = measure_reloads(ctx, reps, &mut |ctx, rep, generation| {
        let mut edit = ReloadEdit {
            files: Vec::new(),
            modules: Vec::new(),
        };
        for index in pick(pool.len(), count, rep, reps) {
            if let Some(target) = pool.get(index) {
                let edited = target.edit(&ctx.root, generation).map_err(|e| e.to_string())?;
                edit.files.push((target.file.clone(), edited));
                edit.modules.push(target.module.clone());
            }
        }
        Ok(edit)
    })?;
    Ok(with_extra(outcome, "files_edited", json!(count)))
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

/// `reloadCode` after the hub macro was edited: the adapter recompiles it
/// and every module that uses it (`hub_reps` repetitions).
fn reload_hub_ms(ctx: &mut SizeContext) -> Result<Outcome, String> {
    let hub = ctx.project.hub_macro.clone();
    let reps = hub_reps(ctx);
    let outcome = measure_reloads(ctx, reps, &mut |ctx, _rep, generation| {
        let edited = hub.edit.edit(&ctx.root, generation).map_err(|e| e.to_string())?;
        Ok(ReloadEdit {
            files: vec![(hub.file.clone(), edited)],
            modules: vec![hub.module.clone()],
        })
    })?;
    Ok(with_extra(outcome, "hub_dependents", json!(hub.dependents.len())))
}

fn reload_1_ms(ctx: &mut SizeContext) -> Result<Outcome, String> {
    reload_edits(ctx, 1)
}

fn reload_5_ms(ctx: &mut SizeContext) -> Result<Outcome, String> {
    reload_edits(ctx, 5)
}

fn reload_20_ms(ctx: &mut SizeContext) -> Result<Outcome, String> {
    reload_edits(ctx, 20)
}

fn save_to_code_reloaded_ms(ctx: &mut SizeContext) -> Result<Outcome, String> {
    if ctx.features.missing("reloadCode").is_some() {
        return Ok(waiting_for(ctx, "reload on save (phase 5)", &["reloadCode"]));
    }
    let reps = ctx.config.reps;
    let pool: Vec<EditTarget> = ctx.project.sample_edit_targets(reps).into_iter().cloned().collect();
    if pool.is_empty() {
        return Err("the project has no edit targets".to_owned());
    }
    // The defaults: reloadOnSave "auto", reloadDebounceMs 100.
    let (mut dap, _) = ctx.launch_session(TIMEOUT)?;
    let mut samples = Vec::new();
    for rep in 0..reps {
        let target = pool[rep % pool.len()].clone();
        let generation = ctx.next_generation();
        let edited = target.edit(&ctx.root, generation).map_err(|e| e.to_string())?;
        let since = dap.received_count();
        let saved = ctx.save_by_rename(&target.file, &edited)?;
        let event = dap
            .wait_for_since(
                since,
                &format!("a `codeReloaded` event reloading {}", target.module),
                TIMEOUT,
                |m| {
                    m["type"] == "event"
                        && m["event"] == "codeReloaded"
                        && m["body"]["reloaded"].to_string().contains(target.module.as_str())
                },
            )
            .map_err(|e| e.0)?;
        samples.push(ms_since(saved));
        if event["body"]["success"] == false {
            return Err(format!("the reload on save failed: {}", event["body"]));
        }
    }
    ctx.end_session(dap)?;
    let mut extra = Map::new();
    extra.insert("reload_debounce_ms".to_owned(), json!(100));
    Ok(Outcome::Samples { samples, extra })
}

/// The soak's module: `functions` public functions of 6 lines each, plus
/// a header and the edited constant (`defp factor, do: N`).
pub fn soak_module(app_module: &str, functions: usize, generation: u64) -> String {
    let mut text = format!("defmodule {app_module}.Soak do\n  @moduledoc false\n\n  defp factor, do: {generation}\n\n");
    for k in 0..functions {
        text.push_str(&format!(
            "  def f{k}(x) when is_integer(x) do\n    y = x * factor() + {k}\n    z = rem(y, 7)\n    if z > 3, do: y - z, else: y + z\n  end\n\n"
        ));
    }
    text.push_str("end\n");
    text
}

/// Lines of the soak module (the "2 400-line module").
pub const SOAK_FUNCTIONS: usize = 398;

/// `{memory, ets tables, processes}` of the VM, through `evaluate`.
fn vm_resources(dap: &mut crate::dap_client::DapClient) -> Result<[f64; 3], String> {
    let response = dap
        .request_ok(
            "evaluate",
            json!({"expression": "{:erlang.memory(:total), length(:ets.all()), length(Process.list())}", "context": "repl"}),
            TIMEOUT,
        )
        .map_err(|e| e.0)?;
    let text = response["body"]["result"].as_str().unwrap_or_default();
    let numbers: Vec<f64> = text
        .trim_matches(|c| c == '{' || c == '}')
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    match numbers[..] {
        [memory, tables, processes] => Ok([memory, tables, processes]),
        _ => Err(format!("unexpected VM resources: {text:?}")),
    }
}

fn reload_soak_ms(ctx: &mut SizeContext) -> Result<Outcome, String> {
    if ctx.features.missing("reloadCode").is_some() {
        return Ok(waiting_for(ctx, "the `reloadCode` request (issue 5)", &["reloadCode"]));
    }
    let (reloads, early, window) = if ctx.config.quick {
        (60, 10, 10)
    } else {
        (1000, 100, 100)
    };
    let app_module = ctx
        .project
        .workload
        .entry_module
        .split('.')
        .next()
        .unwrap_or("BenchApp")
        .to_owned();
    let relative = PathBuf::from(format!("lib/{}/soak.ex", ctx.project.options.app_name));
    let path = ctx.root.join(&relative);
    let module = format!("{app_module}.Soak");
    let mut generation = ctx.next_generation();
    std::fs::write(&path, soak_module(&app_module, SOAK_FUNCTIONS, generation))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let lines = soak_module(&app_module, SOAK_FUNCTIONS, 0).lines().count();
    // The launch compiles the new module (Mix), then interprets it.
    let (mut dap, _) = ctx.launch_session_with(
        json!({"reloadOnSave": "off"}),
        crate::bench::compile_timeout(ctx.modules()),
    )?;
    let mut samples = Vec::with_capacity(reloads);
    let mut at = Vec::new();
    for n in 1..=reloads {
        generation = ctx.next_generation();
        // Reloads compare contents, not modification times: no wait.
        std::fs::write(&path, soak_module(&app_module, SOAK_FUNCTIONS, generation))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let started = Instant::now();
        let response = dap
            .request("reloadCode", json!({ "files": [path] }), TIMEOUT)
            .map_err(|e| e.0)?;
        samples.push(ms_since(started));
        let body = &response["body"];
        if response["success"] != true || body["success"] == false {
            return Err(format!(
                "reload {n} failed: {}",
                crate::dap_client::response_message(&response)
            ));
        }
        let reloaded = body["reloaded"].to_string();
        if !reloaded.contains(module.as_str()) || !reloaded.contains("\"interpreted\":true") {
            return Err(format!("reload {n} did not reload {module} interpreted: {body}"));
        }
        if n == early || n == reloads {
            let [memory, tables, processes] = vm_resources(&mut dap)?;
            let rss = dap.rss_kib().map_err(|e| e.0)? as f64;
            at.push(json!({"reload": n, "vm_memory_bytes": memory, "ets_tables": tables,
                           "processes": processes, "adapter_rss_kib": rss}));
        }
    }
    ctx.end_session(dap)?;
    std::fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let ratio = |key: &str| -> Value {
        match (
            at.first().and_then(|a| a[key].as_f64()),
            at.last().and_then(|a| a[key].as_f64()),
        ) {
            (Some(first), Some(last)) if first > 0.0 => json!(crate::stats::round1(last / first * 1000.0) / 1000.0),
            _ => Value::Null,
        }
    };
    let start = crate::stats::median(&samples[..window]);
    let end = crate::stats::median(&samples[samples.len() - window..]);
    let mut extra = Map::new();
    extra.insert("reloads".to_owned(), json!(reloads));
    extra.insert("module_lines".to_owned(), json!(lines));
    extra.insert("resources".to_owned(), json!(at));
    extra.insert(
        "ratios_last_vs_first".to_owned(),
        json!({
            "vm_memory_bytes": ratio("vm_memory_bytes"),
            "ets_tables": ratio("ets_tables"),
            "processes": ratio("processes"),
            "adapter_rss_kib": ratio("adapter_rss_kib"),
        }),
    );
    extra.insert("median_first_ms".to_owned(), json!(start.map(crate::stats::round1)));
    extra.insert("median_last_ms".to_owned(), json!(end.map(crate::stats::round1)));
    extra.insert(
        "median_last_vs_first".to_owned(),
        json!(match (start, end) {
            (Some(s), Some(e)) if s > 0.0 => Some(crate::stats::round1(e / s * 1000.0) / 1000.0),
            _ => None,
        }),
    );
    Ok(Outcome::Samples { samples, extra })
}

#[cfg(test)]
mod tests {
    use super::{parse_serial_ni, pick};

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
}
