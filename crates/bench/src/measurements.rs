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

/// Lines of the soak module (the issue's "2 400-line module").
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

fn launch_to_first_breakpoint_vs_nodebug(ctx: &mut SizeContext) -> Result<Outcome, String> {
    let target = breakpoint_target(ctx)?;
    let mut debug = Vec::new();
    let mut nodebug = Vec::new();
    for _ in 0..session_reps(ctx) {
        let (dap, ms, _thread) = ctx.launch_to_breakpoint(&target, TIMEOUT)?;
        debug.push(ms);
        ctx.end_session(dap)?;
        let (dap, ms) = ctx.launch_nodebug_to_first_iteration(&target, TIMEOUT)?;
        nodebug.push(ms);
        ctx.end_session(dap)?;
    }
    let outcome = paired(&debug, &nodebug, "debug_ms", "nodebug_ms")?;
    Ok(with_extra(
        outcome,
        "marker",
        json!(ctx.project.workload.first_iteration_marker),
    ))
}

/// An Elixir expression for `evaluate` that compiles `source` (the edited
/// file of `module`) with `Code.compile_file/1` under the module name
/// `module.CompileFloor`, from a copy at `copy`, and returns the
/// microseconds the compile took (`:timer.tc` in the VM). The copy's module
/// is new, so its load purges nothing and no process of the program runs
/// it; it is deleted afterwards. Meanwhile the compile runs as a compile of
/// the adapter's does: without the adapter's compiler tracers (they would
/// take it for the program's own compile and interpret it) and with the
/// interpreter's call traps lifted (the compiler calls interpreted macros
/// natively); both are restored before the expression returns, outside the
/// timing.
pub fn compile_floor_expression(source: &str, copy: &str, module: &str) -> String {
    format!(
        r#"(fn ->
  floor = {module}.CompileFloor
  text = String.replace(File.read!({source:?}), "defmodule {module} do", "defmodule {module}.CompileFloor do", global: false)
  File.write!({copy:?}, text)
  tracers = Code.get_compiler_option(:tracers)
  interpreted = :int.interpreted()
  Enum.each(interpreted, &:erts_debug.breakpoint({{&1, :_, :_}}, false))
  Code.put_compiler_option(:tracers, [])
  try do
    {{us, _}} = :timer.tc(fn -> Code.compile_file({copy:?}) end)
    us
  after
    Code.put_compiler_option(:tracers, tracers)
    Enum.each(interpreted, &:erts_debug.breakpoint({{&1, :_, :_}}, true))
    :code.purge(floor)
    :code.delete(floor)
    :code.purge(floor)
    File.rm({copy:?})
  end
end).()"#
    )
}

fn reload_1_vs_compile_floor(ctx: &mut SizeContext) -> Result<Outcome, String> {
    if ctx.features.missing("reloadCode").is_some() {
        return Ok(waiting_for(ctx, "the `reloadCode` request (issue 5)", &["reloadCode"]));
    }
    let reps = ctx.config.reps;
    let pool = edit_pool(ctx, 1, reps)?;
    let (mut dap, _) = ctx.launch_session_with(json!({"reloadOnSave": "off"}), TIMEOUT)?;
    let copy = ctx.logs.join("compile_floor.ex");
    let mut reloads = Vec::new();
    let mut floors = Vec::new();
    let mut phases: Vec<Vec<f64>> = vec![Vec::new(); RELOAD_PHASES.len()];
    for rep in 0..reps {
        let target = pick(pool.len(), 1, rep, reps)
            .first()
            .and_then(|&i| pool.get(i))
            .cloned()
            .ok_or("no edit target")?;
        let generation = ctx.next_generation();
        let edited = target.edit(&ctx.root, generation).map_err(|e| e.to_string())?;
        ctx.write_edits(&[(target.file.clone(), edited)])?;
        let path = ctx.root.join(&target.file);
        let started = Instant::now();
        let response = dap
            .request("reloadCode", json!({ "files": [path] }), TIMEOUT)
            .map_err(|e| e.0)?;
        let ms = ms_since(started);
        let body = &response["body"];
        if response["success"] != true || body["success"] == false {
            return Err(format!(
                "reloadCode failed: {}",
                crate::dap_client::response_message(&response)
            ));
        }
        if !body["reloaded"].to_string().contains(target.module.as_str()) {
            return Err(format!("reloadCode did not reload {}: {body}", target.module));
        }
        for (phase, values) in RELOAD_PHASES.iter().zip(phases.iter_mut()) {
            if let Some(value) = body["timings"][*phase].as_f64() {
                values.push(value);
            }
        }
        let expression = compile_floor_expression(&path.to_string_lossy(), &copy.to_string_lossy(), &target.module);
        let response = dap
            .request_ok(
                "evaluate",
                json!({"expression": expression, "context": "repl"}),
                TIMEOUT,
            )
            .map_err(|e| e.0)?;
        let result = response["body"]["result"].as_str().unwrap_or_default();
        let us: f64 = result
            .trim()
            .parse()
            .map_err(|_| format!("unexpected result of Code.compile_file/1: {result:?}"))?;
        reloads.push(ms);
        floors.push(us / 1000.0);
    }
    ctx.end_session(dap)?;
    let outcome = paired(&reloads, &floors, "reload_ms", "compile_floor_ms")?;
    let mut timings = Map::new();
    for (phase, values) in RELOAD_PHASES.iter().zip(&phases) {
        timings.insert(
            (*phase).to_owned(),
            json!(crate::stats::median(values).map(crate::stats::round1)),
        );
    }
    Ok(with_extra(outcome, "timings_median", Value::Object(timings)))
}

/// The module `interpreted_call_slowdown` runs, under `name`: a CPU-bound
/// loop and a request-like handler, each with a `repeat_*` function that
/// calls it `reps` times (so that the loop runs as the code does,
/// interpreted or native, and the evaluation's overhead is paid once).
pub fn slowdown_module(name: &str) -> String {
    format!(
        r#"defmodule {name} do
  @moduledoc false

  def repeat_cpu(0, _n), do: :ok
  def repeat_cpu(reps, n), do: (cpu(n, 0); repeat_cpu(reps - 1, n))

  def repeat_handle(0, _params), do: :ok
  def repeat_handle(reps, params), do: (handle(params); repeat_handle(reps - 1, params))

  def cpu(0, acc), do: acc
  def cpu(n, acc), do: cpu(n - 1, rem(acc + n * n, 1_000_003))

  def handle(params) do
    with {{:ok, id}} <- fetch_int(params, "id"),
         {{:ok, page}} <- fetch_int(params, "page") do
      items =
        for k <- 1..20 do
          %{{id: id * 100 + k, name: "item-#{{id}}-#{{k}}", price: rem(k * 37 + page, 101)}}
        end

      visible = Enum.filter(items, &(&1.price > 10))
      total = Enum.reduce(visible, 0, &(&1.price + &2))
      names = visible |> Enum.map(& &1.name) |> Enum.join(",")
      {{200, %{{"content-type" => "application/json"}},
       %{{user: id, page: page, count: length(visible), total: total, names: names}}}}
    else
      {{:error, field}} -> {{400, %{{}}, %{{error: "bad #{{field}}"}}}}
    end
  end

  defp fetch_int(params, key) do
    case Map.fetch(params, key) do
      {{:ok, v}} when is_integer(v) ->
        {{:ok, v}}

      {{:ok, v}} when is_binary(v) ->
        case Integer.parse(v) do
          {{i, ""}} -> {{:ok, i}}
          _ -> {{:error, key}}
        end

      _ ->
        {{:error, key}}
    end
  end
end
"#
    )
}

/// Loop length of the CPU-bound function, and calls per timing (native,
/// interpreted): each timing takes milliseconds to tens of milliseconds.
const SLOWDOWN_CPU_N: u32 = 20_000;
const SLOWDOWN_REPS: [(u32, u32); 2] = [(50, 2), (2000, 10)];

/// `{cpu native, cpu interpreted, handler native, handler interpreted}`,
/// nanoseconds per call, each after one untimed warm-up call.
fn slowdown_expression(interpreted: &str, native: &str) -> String {
    let [(cpu_native, cpu_interpreted), (handle_native, handle_interpreted)] = SLOWDOWN_REPS;
    format!(
        r#"(fn ->
  params = %{{"id" => "42", "page" => 3}}
  time = fn f, reps -> f.(1); {{us, _}} = :timer.tc(fn -> f.(reps) end); div(us * 1000, reps) end
  {{time.(&{native}.repeat_cpu(&1, {SLOWDOWN_CPU_N}), {cpu_native}),
   time.(&{interpreted}.repeat_cpu(&1, {SLOWDOWN_CPU_N}), {cpu_interpreted}),
   time.(&{native}.repeat_handle(&1, params), {handle_native}),
   time.(&{interpreted}.repeat_handle(&1, params), {handle_interpreted})}}
end).()"#
    )
}

fn interpreted_call_slowdown(ctx: &mut SizeContext) -> Result<Outcome, String> {
    let app = ctx.project.options.app_name.clone();
    let app_module = ctx.project.app_module.clone();
    let interpreted = format!("{app_module}.Slowdown.Interpreted");
    let native = format!("{app_module}.Slowdown.Native");
    let files: Vec<PathBuf> = ["interpreted", "native"]
        .iter()
        .map(|name| ctx.root.join(format!("lib/{app}/slowdown_{name}.ex")))
        .collect();
    for (file, module) in files.iter().zip([&interpreted, &native]) {
        std::fs::write(file, slowdown_module(module)).map_err(|e| format!("{}: {e}", file.display()))?;
    }
    // The launch compiles the two modules (Mix) and interprets one.
    let launched = ctx.launch_session_with(
        json!({"reloadOnSave": "off", "excludeModules": [native], "debugExpressionTimeoutMs": 60_000}),
        crate::bench::compile_timeout(ctx.modules()),
    );
    let outcome = launched.and_then(|(mut dap, _)| {
        let expression = slowdown_expression(&interpreted, &native);
        let mut cpu = Vec::new();
        let mut handler = Vec::new();
        for _ in 0..ctx.config.reps {
            let response = dap
                .request_ok(
                    "evaluate",
                    json!({"expression": expression, "context": "repl"}),
                    TIMEOUT,
                )
                .map_err(|e| e.0)?;
            let text = response["body"]["result"].as_str().unwrap_or_default();
            let numbers: Vec<f64> = text
                .trim_matches(|c| c == '{' || c == '}')
                .split(',')
                .filter_map(|n| n.trim().parse().ok())
                .collect();
            let [cpu_native, cpu_interpreted, handle_native, handle_interpreted] = numbers[..] else {
                return Err(format!("unexpected result of the slowdown timing: {text:?}"));
            };
            cpu.push((cpu_interpreted, cpu_native));
            handler.push((handle_interpreted, handle_native));
        }
        ctx.end_session(dap)?;
        let (cpu_interpreted, cpu_native): (Vec<f64>, Vec<f64>) = cpu.into_iter().unzip();
        let (handle_interpreted, handle_native): (Vec<f64>, Vec<f64>) = handler.into_iter().unzip();
        let outcome = paired(&cpu_interpreted, &cpu_native, "cpu_interpreted_ns", "cpu_native_ns")?;
        let handler_ratios = pair_ratios(&handle_interpreted, &handle_native)?;
        let outcome = with_extra(
            outcome,
            "request_handler_ratio",
            crate::stats::describe_unit(&handler_ratios, "ratio"),
        );
        let outcome = with_extra(
            outcome,
            "handler_interpreted_ns",
            crate::stats::describe(&handle_interpreted),
        );
        Ok(with_extra(
            outcome,
            "handler_native_ns",
            crate::stats::describe(&handle_native),
        ))
    });
    for file in &files {
        std::fs::remove_file(file).map_err(|e| format!("{}: {e}", file.display()))?;
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::{compile_floor_expression, pair_ratios, parse_serial_ni, pick, slowdown_module};

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
    fn the_slowdown_module_names_itself() {
        let m = slowdown_module("App.Slowdown.Native");
        assert!(m.starts_with("defmodule App.Slowdown.Native do"), "{m}");
        assert!(m.contains(r#"name: "item-#{id}-#{k}""#), "{m}");
    }
}
