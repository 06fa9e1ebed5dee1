//! Reload measurements: `reloadCode` after edits, on save, the soak, and the
//! compile floor.

use super::*;
use crate::bench::DebugBackend;
use crate::dap_client::DapClient;

/// The phases of `timings` in a `reloadCode` response (and `codeReloaded`
/// event), in milliseconds.
/// `switch` (OTP 28+: the one step that made the batch visible) is absent
/// on older BEAMs, where its median is `null`.
pub const RELOAD_PHASES: &[&str] = &[
    "plan",
    "compile",
    "load",
    "interpret",
    "breakpoints",
    "total",
    "held",
    "switch",
];

/// Each reload's phases (the `timings` of its response), per phase of
/// `RELOAD_PHASES`, in reload order. A phase a response lacks is a gap, so
/// that windows of reloads stay aligned; medians are over the phases present.
pub(super) struct PhaseTimings(Vec<Vec<Option<f64>>>);

impl PhaseTimings {
    pub(super) fn new() -> Self {
        PhaseTimings(vec![Vec::new(); RELOAD_PHASES.len()])
    }

    /// Records the phases of one response's `body`.
    pub(super) fn record(&mut self, body: &Value) {
        for (phase, values) in RELOAD_PHASES.iter().zip(self.0.iter_mut()) {
            values.push(body["timings"][*phase].as_f64());
        }
    }

    /// `{phase: median ms to 0.1, or null}` over the reloads in `range`.
    pub(super) fn medians(&self, range: std::ops::Range<usize>) -> Value {
        let mut medians = Map::new();
        for (phase, values) in RELOAD_PHASES.iter().zip(&self.0) {
            let present: Vec<f64> = values[range.clone()].iter().flatten().copied().collect();
            medians.insert(
                (*phase).to_owned(),
                json!(crate::stats::median(&present).map(crate::stats::round1)),
            );
        }
        Value::Object(medians)
    }

    /// [`medians`](Self::medians) over every reload recorded.
    pub(super) fn all_medians(&self) -> Value {
        self.medians(0..self.0.first().map_or(0, Vec::len))
    }
}

/// The files one reload repetition writes and the modules it must reload.
pub(super) struct ReloadEdit {
    /// Paths relative to the project, and their new content.
    pub(super) files: Vec<(PathBuf, String)>,
    pub(super) modules: Vec<String>,
}

/// `reloadCode` after edits, `reps` times in one session (every project
/// module interpreted, as at launch): the wall time from the request to its
/// response, and the medians of the adapter's own `timings`. The request is
/// `{"files": [absolute paths]}`; the response's body has `success`,
/// `reloaded` (which must name every edited module) and `timings`. Not
/// measured while the adapter does not answer `reloadCode`. The session runs
/// on `backend`.
pub(super) fn measure_reloads(
    ctx: &mut SizeContext,
    backend: DebugBackend,
    reps: usize,
    edit_for: &mut dyn FnMut(&SizeContext, usize, u64) -> Result<ReloadEdit, String>,
) -> Result<Outcome, String> {
    if ctx.features.missing("reloadCode").is_some() {
        return Ok(waiting_for(ctx, "the `reloadCode` request (issue 5)", &["reloadCode"]));
    }
    // A reload that recompiles most of the project takes as long as a compile.
    let timeout = crate::bench::compile_timeout(ctx.modules());
    // Only the request reloads: no reload on save racing with it.
    let (mut dap, _) = ctx.launch_session_on(backend, json!({"reloadOnSave": "off"}), TIMEOUT)?;
    ctx.wait_first_round(&mut dap)?;
    let mut samples = Vec::new();
    let mut reloaded_counts = Vec::new();
    let mut phases = PhaseTimings::new();
    for rep in 0..reps {
        let generation = ctx.next_generation();
        let edit = edit_for(ctx, rep, generation)?;
        let (ms, body) = reload_once(ctx, &mut dap, &edit, timeout)?;
        samples.push(ms);
        reloaded_counts.push(body["reloaded"].as_array().map_or(0, Vec::len));
        phases.record(&body);
    }
    ctx.end_session(dap)?;
    let mut extra = Map::new();
    extra.insert("modules_reloaded".to_owned(), json!(reloaded_counts));
    extra.insert("timings_median".to_owned(), phases.all_medians());
    Ok(Outcome::Samples { samples, extra })
}

/// One reload: writes `edit`'s files, sends `reloadCode` for them and waits
/// for its response. Returns the wall time from the request to the response
/// in milliseconds, and the response's body.
///
/// Errors: the request failed or timed out, the body says `success: false`,
/// or `reloaded` does not name every module of `edit`.
pub(super) fn reload_once(
    ctx: &mut SizeContext,
    dap: &mut DapClient,
    edit: &ReloadEdit,
    timeout: std::time::Duration,
) -> Result<(f64, Value), String> {
    ctx.write_edits(&edit.files)?;
    reload_written(ctx, dap, edit, timeout)
}

/// [`reload_once`] of an edit whose files are written already.
pub(super) fn reload_written(
    ctx: &SizeContext,
    dap: &mut DapClient,
    edit: &ReloadEdit,
    timeout: std::time::Duration,
) -> Result<(f64, Value), String> {
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
    Ok((ms, body.clone()))
}

/// The edit of repetition `rep` of `reps` that changes `count` pipeline
/// steps of `pool` (a new spread each repetition) to `generation`.
pub(super) fn steps_edit(
    ctx: &SizeContext,
    pool: &[EditTarget],
    count: usize,
    rep: usize,
    reps: usize,
    generation: u64,
) -> Result<ReloadEdit, String> {
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
}

/// `reloadCode` after `count` pipeline steps (a new spread each repetition)
/// were edited.
pub(super) fn reload_edits(ctx: &mut SizeContext, count: usize) -> Result<Outcome, String> {
    reload_edits_on(ctx, DebugBackend::Interpreter, count)
}

/// [`reload_edits`] in a session on `backend`.
fn reload_edits_on(ctx: &mut SizeContext, backend: DebugBackend, count: usize) -> Result<Outcome, String> {
    let reps = ctx.config.reps;
    let pool = edit_pool(ctx, count, reps)?;
    let outcome = measure_reloads(ctx, backend, reps, &mut |ctx, rep, generation| {
        steps_edit(ctx, &pool, count, rep, reps, generation)
    })?;
    Ok(with_extra(outcome, "files_edited", json!(count)))
}

/// `reloadCode` after the hub macro was edited: the adapter recompiles it
/// and every module that uses it (`hub_reps` repetitions).
pub(super) fn reload_hub_ms(ctx: &mut SizeContext) -> Result<Outcome, String> {
    let hub = ctx.project.hub_macro.clone();
    let reps = hub_reps(ctx);
    let outcome = measure_reloads(ctx, DebugBackend::Interpreter, reps, &mut |ctx, _rep, generation| {
        let edited = hub.edit.edit(&ctx.root, generation).map_err(|e| e.to_string())?;
        Ok(ReloadEdit {
            files: vec![(hub.file.clone(), edited)],
            modules: vec![hub.module.clone()],
        })
    })?;
    Ok(with_extra(outcome, "hub_dependents", json!(hub.dependents.len())))
}

pub(super) fn reload_1_ms(ctx: &mut SizeContext) -> Result<Outcome, String> {
    reload_edits(ctx, 1)
}

/// `reload_1_ms` on the native backend: nothing is interpreted, the batch's
/// breakpoints are cleared and set again around an atomic load.
pub(super) fn reload_1_ms_native(ctx: &mut SizeContext) -> Result<Outcome, String> {
    if let Some(why) = &ctx.features.native_backend_unsupported {
        return Ok(Outcome::NotMeasured(why.clone()));
    }
    ctx.prepare_native()?;
    let outcome = reload_edits_on(ctx, DebugBackend::Native, 1)?;
    Ok(with_extra(outcome, "debug_backend", json!(DebugBackend::Native.name())))
}

pub(super) fn reload_5_ms(ctx: &mut SizeContext) -> Result<Outcome, String> {
    reload_edits(ctx, 5)
}

pub(super) fn reload_20_ms(ctx: &mut SizeContext) -> Result<Outcome, String> {
    reload_edits(ctx, 20)
}

pub(super) fn save_to_code_reloaded_ms(ctx: &mut SizeContext) -> Result<Outcome, String> {
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
    ctx.wait_first_round(&mut dap)?;
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

/// The VM's memory categories `vm_resources` reports beside the total, as
/// `:erlang.memory/1` names them (bytes).
const MEMORY_CATEGORIES: [&str; 6] = ["processes", "ets", "binary", "code", "atom", "system"];

/// `:erlang.memory(:processes), :erlang.memory(:ets), ...`: the Elixir
/// expressions reading `MEMORY_CATEGORIES`, in that order.
fn memory_category_expressions() -> String {
    let categories: Vec<String> = MEMORY_CATEGORIES
        .iter()
        .map(|c| format!(":erlang.memory(:{c})"))
        .collect();
    categories.join(", ")
}

/// `{name: bytes}` of `names` paired in order with `numbers`.
fn by_category<'n>(names: impl IntoIterator<Item = &'n str>, numbers: &[f64]) -> Map<String, Value> {
    names
        .into_iter()
        .zip(numbers)
        .map(|(category, bytes)| (category.to_owned(), json!(bytes)))
        .collect()
}

/// `{memory, ets tables, processes}` of the VM, and the bytes of each of
/// `MEMORY_CATEGORIES` (in that order), through `evaluate`.
pub(super) fn vm_resources(dap: &mut DapClient) -> Result<([f64; 3], Map<String, Value>), String> {
    let (numbers, text) = evaluate_numbers(
        dap,
        &format!(
            "{{:erlang.memory(:total), length(:ets.all()), length(Process.list()), {}}}",
            memory_category_expressions()
        ),
    )?;
    if numbers.len() != 3 + MEMORY_CATEGORIES.len() {
        return Err(format!("unexpected VM resources: {text:?}"));
    }
    let breakdown = by_category(MEMORY_CATEGORIES, &numbers[3..]);
    Ok(([numbers[0], numbers[1], numbers[2]], breakdown))
}

/// How many times the soak reads [`vm_live_memory`] at each of its two
/// points, keeping the least: what is in flight at one reading (a message
/// being handled, a process about to exit, a heap the collection just
/// grew) is gone at the next, while what a leak keeps is in every one.
/// A full sid run once read the 200-module soak's processes' category
/// 3.3 MB higher at reload 1 000 than at 100, both after a collection, in
/// a VM whose processes together hold ~1 MB, and three readings in a row
/// have differed by up to 1.3 MB (`docs/benchmarks.md`, "Where the soak's
/// memory is").
const LIVE_READINGS: usize = 3;

/// The VM's memory once every process was garbage collected (bytes): the
/// total, and by category each of `MEMORY_CATEGORIES` with the persistent
/// terms' share of `system` (`persistent_term`: `:persistent_term.info/0`).
/// Without the collection a process's heap counts the garbage it has not
/// collected yet, which varies from one reading to the next by megabytes
/// (a heap grows in steps and shrinks only at a collection); what a leak
/// keeps survives it.
pub(super) fn vm_live_memory(dap: &mut DapClient) -> Result<(f64, Map<String, Value>), String> {
    let (numbers, text) = evaluate_numbers(
        dap,
        &format!(
            "(Enum.each(Process.list(), &:erlang.garbage_collect/1); \
             {{:erlang.memory(:total), {}, :persistent_term.info()[:memory]}})",
            memory_category_expressions()
        ),
    )?;
    if numbers.len() != 2 + MEMORY_CATEGORIES.len() {
        return Err(format!("unexpected VM memory after a garbage collection: {text:?}"));
    }
    let names = MEMORY_CATEGORIES.into_iter().chain(["persistent_term"]);
    Ok((numbers[0], by_category(names, &numbers[1..])))
}

/// How many processes [`vm_processes_live`] names.
const LARGEST_PROCESSES: usize = 12;

/// Where `:erlang.memory(:processes)` is, once every process was garbage
/// collected, all read in one evaluation: `{"processes_bytes",
/// "processes_used_bytes", "process_limit", "sum_bytes", "count",
/// "largest"}`. The first two are `:erlang.memory/1`'s `processes` and
/// `processes_used`; `process_limit` is `:erlang.system_info(:process_limit)`
/// (the VM's process table, part of the category, has a slot per process
/// it may run: OTP 29's default 1 048 576 slots are ~12.5 MB, OTP 25's
/// 262 144 ~3 MB); `sum_bytes` the sum over every process of
/// `process_info(P, :memory)` (heap, stack, messages and the process
/// structure: what a process keeps), of which `largest` names the
/// [`LARGEST_PROCESSES`] largest, largest first, as `[{"pid", "process",
/// "current_function", "memory_bytes"}]` (`process`: the registered name,
/// or else the initial call, as `proc_lib` translates it for a process it
/// started). Read at both ends of the soak, so that a growth of the
/// category can be traced to a process that grew, or to none.
pub(super) fn vm_processes_live(dap: &mut DapClient) -> Result<Value, String> {
    let expression = format!(
        "(Enum.each(Process.list(), &:erlang.garbage_collect/1); \
         infos = Enum.flat_map(Process.list(), fn p -> \
           case Process.info(p, [:memory, :registered_name, :initial_call, :current_function]) do \
             nil -> []; \
             info -> [{{p, info[:memory], info[:registered_name], info[:initial_call], info[:current_function]}}] end end); \
         largest = infos |> Enum.sort_by(fn {{_, m, _, _, _}} -> -m end) |> Enum.take({LARGEST_PROCESSES}) \
           |> Enum.map_join(\";\", fn {{p, m, n, i, f}} -> \
                name = cond do \
                  n != [] -> n; \
                  i == {{:proc_lib, :init_p, 5}} -> :proc_lib.translate_initial_call(p); \
                  true -> i end; \
                \"#{{inspect(p)}}|#{{inspect(name)}}|#{{inspect(f)}}|#{{m}}\" end); \
         \"#{{:erlang.memory(:processes)}};#{{:erlang.memory(:processes_used)}};\
#{{:erlang.system_info(:process_limit)}};\
#{{infos |> Enum.map(&elem(&1, 1)) |> Enum.sum()}};#{{length(infos)}};\" <> largest)"
    );
    let result = evaluate_result(dap, &expression, TIMEOUT)?;
    let unexpected = || format!("unexpected reading of the VM's processes: {result:?}");
    let text = inspected_string(&result).ok_or_else(unexpected)?;
    let mut entries = text.split(';');
    let mut number = || -> Result<u64, String> { entries.next().and_then(|n| n.parse().ok()).ok_or_else(unexpected) };
    let (processes, used, limit, sum, count) = (number()?, number()?, number()?, number()?, number()?);
    let largest = entries
        .map(|entry| match entry.split('|').collect::<Vec<_>>()[..] {
            [pid, process, function, bytes] => bytes
                .parse::<u64>()
                .map(|bytes| {
                    json!({"pid": pid, "process": process, "current_function": function,
                           "memory_bytes": bytes})
                })
                .map_err(|_| unexpected()),
            _ => Err(unexpected()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({"processes_bytes": processes, "processes_used_bytes": used,
              "process_limit": limit, "sum_bytes": sum, "count": count, "largest": largest}))
}

/// The string an `evaluate` result shows as Elixir's `inspect` of it:
/// `"a \"b\""` is `a "b"`. `None` if `result` is not one quoted string.
fn inspected_string(result: &str) -> Option<String> {
    let inner = result.strip_prefix('"')?.strip_suffix('"')?;
    let mut text = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                'n' => text.push('\n'),
                't' => text.push('\t'),
                escaped => text.push(escaped),
            },
            c => text.push(c),
        }
    }
    Some(text)
}

pub(super) fn reload_soak_ms(ctx: &mut SizeContext) -> Result<Outcome, String> {
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
    let soak_edit = |generation| ReloadEdit {
        files: vec![(relative.clone(), soak_module(&app_module, SOAK_FUNCTIONS, generation))],
        modules: vec![module.clone()],
    };
    std::fs::write(&path, soak_module(&app_module, SOAK_FUNCTIONS, ctx.next_generation()))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    // Removed however the soak ends: left behind, the module would be
    // compiled and interpreted in every later session of the project.
    let soak_file = RemovedOnDrop(path.clone());
    let lines = soak_module(&app_module, SOAK_FUNCTIONS, 0).lines().count();
    // The launch compiles the new module (Mix), then interprets it.
    let (mut dap, _) = ctx.launch_session_with(
        json!({"reloadOnSave": "off"}),
        crate::bench::compile_timeout(ctx.modules()),
    )?;
    ctx.wait_first_round(&mut dap)?;
    let soak_vm = VmPid::of(&mut dap)?;
    // A fresh session beside the soak's over its first and its last window
    // (see `median_last_vs_fresh` below).
    let windows = [1..=window, reloads - window + 1..=reloads];
    let mut fresh: Option<(DapClient, VmPid)> = None;
    let mut fresh_ms: [Vec<f64>; 2] = Default::default();
    let mut vs_fresh: [Vec<f64>; 2] = Default::default();
    let mut samples = Vec::with_capacity(reloads);
    let mut phases = PhaseTimings::new();
    let mut at = Vec::new();
    for n in 1..=reloads {
        let in_window = windows.iter().position(|w| w.contains(&n));
        if in_window.is_some() && fresh.is_none() {
            let mut session = launch_for_reloads(ctx)?;
            let vm = VmPid::of(&mut session)?;
            fresh = Some((session, vm));
        }
        let edit = soak_edit(ctx.next_generation());
        // Reloads compare contents, not modification times: no wait.
        for (file, content) in &edit.files {
            let path = ctx.root.join(file);
            std::fs::write(&path, content).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        let fresh_stopped = fresh.as_ref().map(|(_, vm)| vm.stop()).transpose()?;
        let (soak_ms, body) = reload_written(ctx, &mut dap, &edit, TIMEOUT).map_err(|e| format!("reload {n}: {e}"))?;
        drop(fresh_stopped);
        samples.push(soak_ms);
        phases.record(&body);
        if !body["reloaded"].to_string().contains("\"interpreted\":true") {
            return Err(format!("reload {n} did not reload {module} interpreted: {body}"));
        }
        if let (Some(i), Some((session, _))) = (in_window, fresh.as_mut()) {
            let edit = soak_edit(ctx.next_generation());
            let _soak_stopped = soak_vm.stop()?;
            let (ms, _) = reload_once(ctx, session, &edit, TIMEOUT)?;
            fresh_ms[i].push(ms);
            vs_fresh[i].push(soak_ms / ms);
        }
        if windows.iter().any(|w| *w.end() == n) {
            if let Some((session, _)) = fresh.take() {
                ctx.end_session(session)?;
            }
        }
        if n == early || n == reloads {
            let ([memory, tables, processes], breakdown) = vm_resources(&mut dap)?;
            let mut readings = Vec::with_capacity(LIVE_READINGS);
            for _ in 0..LIVE_READINGS {
                readings.push(vm_live_memory(&mut dap)?);
            }
            let live_readings: Vec<f64> = readings.iter().map(|(total, _)| *total).collect();
            let live_readings_by_category: Vec<&Map<String, Value>> =
                readings.iter().map(|(_, breakdown)| breakdown).collect();
            let (live, live_breakdown) = readings
                .iter()
                .min_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(total, breakdown)| (*total, breakdown.clone()))
                .unwrap_or_default();
            let live_processes = live_breakdown["processes"].clone();
            // A diagnostic: its failure is reported in its place, and the
            // soak's figures stand.
            let processes_live = vm_processes_live(&mut dap).unwrap_or_else(|e| json!({"error": e}));
            let processes_kept = processes_live["sum_bytes"].clone();
            let rss = dap.rss_kib().map_err(|e| e.0)? as f64;
            at.push(json!({"reload": n, "vm_memory_bytes": memory, "ets_tables": tables,
                           "processes": processes, "adapter_rss_kib": rss,
                           "vm_memory_by_category_bytes": breakdown,
                           "vm_memory_live_bytes": live,
                           "vm_memory_live_readings_bytes": live_readings,
                           "vm_memory_live_readings_by_category_bytes": live_readings_by_category,
                           "vm_memory_live_processes_bytes": live_processes,
                           "vm_memory_live_by_category_bytes": live_breakdown,
                           "processes_kept_bytes": processes_kept,
                           "processes_live": processes_live}));
        }
    }
    ctx.end_session(dap)?;
    soak_file.remove()?;
    let ratio = |key: &str| -> Value {
        match (
            at.first().and_then(|a| a[key].as_f64()),
            at.last().and_then(|a| a[key].as_f64()),
        ) {
            (Some(first), Some(last)) if first > 0.0 => json!(crate::stats::round3(last / first)),
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
            "vm_memory_live_bytes": ratio("vm_memory_live_bytes"),
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
            (Some(s), Some(e)) if s > 0.0 => Some(crate::stats::round3(e / s)),
            _ => None,
        }),
    );
    // The soak's reloads over a fresh session's, reload by reload, in each
    // window: at the end, what the session's age costs at that moment,
    // whatever the machine's speed then; at the start, the same two kinds
    // of session at the same age (how far two sessions differ anyway).
    for (i, name) in ["first", "last"].into_iter().enumerate() {
        let ratio = crate::stats::median(&vs_fresh[i]).map(crate::stats::round3);
        let fresh = crate::stats::median(&fresh_ms[i]).map(crate::stats::round1);
        extra.insert(format!("median_{name}_vs_fresh"), json!(ratio));
        extra.insert(format!("fresh_median_{name}_ms"), json!(fresh));
    }
    // Where a change between the windows is: the compile phase is mostly
    // Elixir's compiler (the machine's speed), the others the adapter's own
    // work, where a session's growing state would show.
    extra.insert("phases_median_first_ms".to_owned(), phases.medians(0..window));
    extra.insert(
        "phases_median_last_ms".to_owned(),
        phases.medians(samples.len() - window..samples.len()),
    );
    Ok(Outcome::Samples { samples, extra })
}

/// A file that is removed when this is dropped, unless [`Self::remove`]
/// removed it already (which reports a failure; a drop cannot).
struct RemovedOnDrop(PathBuf);

impl RemovedOnDrop {
    fn remove(self) -> Result<(), String> {
        std::fs::remove_file(&self.0).map_err(|e| format!("{}: {e}", self.0.display()))
        // The drop's second attempt finds nothing to remove.
    }
}

impl Drop for RemovedOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
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

/// An Elixir expression for `evaluate` that times, in the VM, the two code
/// changes Elixir's compiler up to 1.19 makes for every module body it
/// evaluates (it compiles the body into a module of its own, loads it, runs
/// it, deletes it and purges it): the load of a one-function module
/// (`:code.load_binary/3`, after a purge of whatever an earlier probe left)
/// and its deletion (`:code.delete/1`), then purges it. The module is
/// compiled with `:compile.noenv_forms/2`, so that the user's
/// `ERL_COMPILER_OPTIONS` cannot change the answer's shape. Returns
/// `"<load µs> <delete µs> <exported functions>"`, the last the
/// functions every loaded module exports (`:erlang.get_module_info/2`,
/// which runs no module's code): on OTP 25 and 29 (measured) each code
/// change copies the VM's export table, so that its time grows with the
/// project's size (docs/benchmarks.md, "What a code change costs").
pub const CODE_CHANGE_EXPRESSION: &str = r##"(fn ->
  name = :elixir_dap_bench_code_change
  forms = [{:attribute, 1, :module, name}, {:attribute, 1, :export, [f: 0]},
           {:function, 1, :f, 0, [{:clause, 1, [], [], [{:atom, 1, :ok}]}]}]
  {:ok, ^name, bin} = :compile.noenv_forms(forms, [])
  :code.purge(name)
  {load, {:module, ^name}} = :timer.tc(fn -> :code.load_binary(name, [], bin) end)
  {delete, true} = :timer.tc(fn -> :code.delete(name) end)
  :code.purge(name)
  exports = fn m ->
    try do
      length(:erlang.get_module_info(m, :exports))
    rescue
      # Deleted since :code.all_loaded/0 listed it.
      ArgumentError -> 0
    end
  end
  exported = Enum.sum(for {m, _} <- :code.all_loaded(), do: exports.(m))
  "#{load} #{delete} #{exported}"
end).()"##;

/// The load and delete times (µs) and the exported functions of
/// [`CODE_CHANGE_EXPRESSION`]'s result.
pub fn parse_code_change(result: &str) -> Result<(f64, f64, u64), String> {
    let fields: Vec<&str> = result.trim().trim_matches('"').split_whitespace().collect();
    match fields.as_slice() {
        [load, delete, exported] => {
            let number = |field: &str| field.parse::<f64>().ok().filter(|v| *v >= 0.0);
            match (number(load), number(delete), exported.parse::<u64>()) {
                (Some(load), Some(delete), Ok(exported)) => Ok((load, delete, exported)),
                _ => Err(format!("unexpected result of the code change probe: {result:?}")),
            }
        }
        _ => Err(format!("unexpected result of the code change probe: {result:?}")),
    }
}

pub(super) fn reload_1_vs_compile_floor(ctx: &mut SizeContext) -> Result<Outcome, String> {
    if ctx.features.missing("reloadCode").is_some() {
        return Ok(waiting_for(ctx, "the `reloadCode` request (issue 5)", &["reloadCode"]));
    }
    let reps = ctx.config.reps;
    let pool = edit_pool(ctx, 1, reps)?;
    let (mut dap, _) = ctx.launch_session_with(json!({"reloadOnSave": "off"}), TIMEOUT)?;
    ctx.wait_first_round(&mut dap)?;
    let copy = ctx.logs.join("compile_floor.ex");
    let mut reloads = Vec::new();
    let mut floors = Vec::new();
    let mut code_changes = Vec::new();
    let mut code_change_error = None;
    let mut exported = 0;
    let mut phases = PhaseTimings::new();
    for rep in 0..reps {
        let generation = ctx.next_generation();
        let edit = steps_edit(ctx, &pool, 1, rep, reps, generation)?;
        let (ms, body) = reload_once(ctx, &mut dap, &edit, TIMEOUT)?;
        phases.record(&body);
        let (Some((file, _)), Some(module)) = (edit.files.first(), edit.modules.first()) else {
            return Err("no edit target".to_owned());
        };
        let path = ctx.root.join(file);
        let expression = compile_floor_expression(&path.to_string_lossy(), &copy.to_string_lossy(), module);
        let result = evaluate_result(&mut dap, &expression, TIMEOUT)?;
        let us: f64 = result
            .trim()
            .parse()
            .map_err(|_| format!("unexpected result of Code.compile_file/1: {result:?}"))?;
        reloads.push(ms);
        floors.push(us / 1000.0);
        // The probe only explains the pair: if it fails, the pair stays
        // and the probe's error is reported in its place.
        let probe =
            evaluate_result(&mut dap, CODE_CHANGE_EXPRESSION, TIMEOUT).and_then(|result| parse_code_change(&result));
        match probe {
            Ok((load_us, delete_us, functions)) => {
                code_changes.push(load_us + delete_us);
                exported = functions;
            }
            Err(error) => {
                code_change_error.get_or_insert(error);
            }
        }
    }
    ctx.end_session(dap)?;
    let outcome = paired(&reloads, &floors, "reload_ms", "compile_floor_ms")?;
    let code_change = match code_change_error {
        None => crate::stats::describe(&code_changes),
        Some(error) => json!({ "error": error }),
    };
    let outcome = with_extra(outcome, "code_change_us", code_change);
    let outcome = with_extra(outcome, "exported_functions", json!(exported));
    Ok(with_extra(outcome, "timings_median", phases.all_medians()))
}

#[cfg(test)]
mod tests {
    use super::inspected_string;

    #[test]
    fn an_inspected_string_reads_back_as_its_text() {
        assert_eq!(inspected_string(r#""a;b|c""#).as_deref(), Some("a;b|c"));
        assert_eq!(
            inspected_string(r#""{M, :\"-loop/1-fun-0-\", 2}|\\ \#{x}""#).as_deref(),
            Some(r#"{M, :"-loop/1-fun-0-", 2}|\ #{x}"#)
        );
        assert_eq!(inspected_string(r#""""#).as_deref(), Some(""));
    }

    #[test]
    fn anything_but_one_quoted_string_is_refused() {
        for result in ["", "\"", "abc", "\"abc", "abc\"", "{1, 2}", r#""ends in \"#] {
            assert_eq!(inspected_string(result), None, "{result:?}");
        }
    }
}
