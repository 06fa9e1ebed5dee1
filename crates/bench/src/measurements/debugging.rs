//! Debugging measurements: breakpoints, stack inspection, interpretation and
//! the interpreted code's slowdown.

use super::*;
use crate::bench::DebugBackend;

/// The pipeline step the breakpoint measurements stop in: the first step of
/// the first chain, which the workload calls every round.
pub(super) fn breakpoint_target(ctx: &SizeContext) -> Result<EditTarget, String> {
    ctx.project
        .edit_targets
        .first()
        .cloned()
        .ok_or_else(|| "the project has no pipeline step".to_owned())
}

pub(super) fn first_breakpoint_hit_ms(ctx: &mut SizeContext) -> Result<Outcome, String> {
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

pub(super) fn stack_scopes_variables_ms(ctx: &mut SizeContext) -> Result<Outcome, String> {
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

pub(super) fn interpret_ours_ms(ctx: &mut SizeContext) -> Result<Outcome, String> {
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
pub(super) fn serial_ni_expression(app: &str) -> String {
    format!(
        "Application.load(:{app})\n\
         mods = Application.spec(:{app}, :modules)\n\
         {{us, ok}} = :timer.tc(fn -> Enum.count(mods, &match?({{:module, _}}, :int.ni(&1))) end)\n\
         {{length(mods), ok, us}}"
    )
}

/// Parses `{200, 200, 345678}`.
pub(super) fn parse_serial_ni(result: &str) -> Option<(u64, u64, f64)> {
    let inner = result.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut parts = inner.split(',').map(str::trim);
    let modules = parts.next()?.parse().ok()?;
    let ok = parts.next()?.parse().ok()?;
    let us: f64 = parts.next()?.parse().ok()?;
    Some((modules, ok, us / 1000.0))
}

pub(super) fn interpret_serial_ni_ms(ctx: &mut SizeContext) -> Result<Outcome, String> {
    let reps = (ctx.config.reps / 4).max(3);
    let timeout = crate::bench::compile_timeout(ctx.modules());
    let expression = serial_ni_expression(&ctx.project.options.app_name);
    let mut samples = Vec::new();
    let mut counts = Vec::new();
    for _ in 0..reps {
        let mut dap = ctx.launch_uninterpreted(timeout)?;
        let result = evaluate_result(&mut dap, &expression, timeout)?;
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

pub(super) fn launch_to_first_breakpoint_vs_nodebug(ctx: &mut SizeContext) -> Result<Outcome, String> {
    breakpoint_vs_nodebug(ctx, DebugBackend::Interpreter)
}

/// `launch_to_first_breakpoint_vs_nodebug` on the native backend. It runs
/// after the reload measurements, which edit sources: one untimed pair
/// first brings both build paths (the native backend's and `_build`) up to
/// date, as they are for the interpreter's pairs.
pub(super) fn launch_to_first_breakpoint_vs_nodebug_native(ctx: &mut SizeContext) -> Result<Outcome, String> {
    if let Some(why) = &ctx.features.native_backend_unsupported {
        return Ok(Outcome::NotMeasured(why.clone()));
    }
    ctx.prepare_native()?;
    let target = breakpoint_target(ctx)?;
    let timeout = crate::bench::compile_timeout(ctx.modules());
    let (dap, _, _) = ctx.launch_to_breakpoint_on(DebugBackend::Native, &target, timeout)?;
    ctx.end_session(dap)?;
    let (dap, _) = ctx.launch_nodebug_to_first_iteration(&target, timeout)?;
    ctx.end_session(dap)?;
    breakpoint_vs_nodebug(ctx, DebugBackend::Native)
}

/// Pairs of a launch on `backend` to the first breakpoint and the same
/// launch with `noDebug`, alternated.
fn breakpoint_vs_nodebug(ctx: &mut SizeContext, backend: DebugBackend) -> Result<Outcome, String> {
    let target = breakpoint_target(ctx)?;
    let mut debug = Vec::new();
    let mut nodebug = Vec::new();
    for _ in 0..session_reps(ctx) {
        let (dap, ms, _thread) = ctx.launch_to_breakpoint_on(backend, &target, TIMEOUT)?;
        debug.push(ms);
        ctx.end_session(dap)?;
        let (dap, ms) = ctx.launch_nodebug_to_first_iteration(&target, TIMEOUT)?;
        nodebug.push(ms);
        ctx.end_session(dap)?;
    }
    let outcome = paired(&debug, &nodebug, "debug_ms", "nodebug_ms")?;
    let outcome = with_extra(outcome, "marker", json!(ctx.project.workload.first_iteration_marker));
    Ok(match backend {
        DebugBackend::Interpreter => outcome,
        DebugBackend::Native => with_extra(outcome, "debug_backend", json!(backend.name())),
    })
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
pub(super) const SLOWDOWN_CPU_N: u32 = 20_000;

pub(super) const SLOWDOWN_REPS: [(u32, u32); 2] = [(50, 2), (2000, 10)];

/// Calls per timing on the native backend, where both copies run natively
/// (plain, debugged): the same on both sides.
pub(super) const NATIVE_SLOWDOWN_REPS: [(u32, u32); 2] = [(50, 50), (2000, 2000)];

/// `{cpu fast, cpu slow, handler fast, handler slow}`, nanoseconds per
/// call of the modules `fast` and `slow`, each after one untimed warm-up
/// call; `reps` are the calls per timing, `(fast, slow)` for the CPU-bound
/// function then the handler.
pub(super) fn slowdown_expression(slow: &str, fast: &str, reps: [(u32, u32); 2]) -> String {
    let [(cpu_fast, cpu_slow), (handle_fast, handle_slow)] = reps;
    format!(
        r#"(fn ->
  params = %{{"id" => "42", "page" => 3}}
  time = fn f, reps -> f.(1); {{us, _}} = :timer.tc(fn -> f.(reps) end); div(us * 1000, reps) end
  {{time.(&{fast}.repeat_cpu(&1, {SLOWDOWN_CPU_N}), {cpu_fast}),
   time.(&{slow}.repeat_cpu(&1, {SLOWDOWN_CPU_N}), {cpu_slow}),
   time.(&{fast}.repeat_handle(&1, params), {handle_fast}),
   time.(&{slow}.repeat_handle(&1, params), {handle_slow})}}
end).()"#
    )
}

/// Evaluates [`slowdown_expression`] `reps` times and describes the
/// ratios slow / fast: the samples are the CPU-bound ratios,
/// `request_handler_ratio` the handler's; `cpu_{slow_name}_ns`,
/// `cpu_{fast_name}_ns`, `handler_{slow_name}_ns` and
/// `handler_{fast_name}_ns` the times per call.
fn time_slowdown(
    dap: &mut crate::dap_client::DapClient,
    expression: &str,
    reps: usize,
    (slow_name, fast_name): (&str, &str),
) -> Result<Outcome, String> {
    let mut cpu = Vec::new();
    let mut handler = Vec::new();
    for _ in 0..reps {
        let (numbers, text) = evaluate_numbers(dap, expression)?;
        let [cpu_fast, cpu_slow, handle_fast, handle_slow] = numbers[..] else {
            return Err(format!("unexpected result of the slowdown timing: {text:?}"));
        };
        cpu.push((cpu_slow, cpu_fast));
        handler.push((handle_slow, handle_fast));
    }
    let (cpu_slow, cpu_fast): (Vec<f64>, Vec<f64>) = cpu.into_iter().unzip();
    let (handle_slow, handle_fast): (Vec<f64>, Vec<f64>) = handler.into_iter().unzip();
    let outcome = paired(
        &cpu_slow,
        &cpu_fast,
        &format!("cpu_{slow_name}_ns"),
        &format!("cpu_{fast_name}_ns"),
    )?;
    let handler_ratios = pair_ratios(&handle_slow, &handle_fast)?;
    let outcome = with_extra(
        outcome,
        "request_handler_ratio",
        crate::stats::describe_unit(&handler_ratios, "ratio"),
    );
    let outcome = with_extra(
        outcome,
        &format!("handler_{slow_name}_ns"),
        crate::stats::describe(&handle_slow),
    );
    Ok(with_extra(
        outcome,
        &format!("handler_{fast_name}_ns"),
        crate::stats::describe(&handle_fast),
    ))
}

pub(super) fn interpreted_call_slowdown(ctx: &mut SizeContext) -> Result<Outcome, String> {
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
        let expression = slowdown_expression(&interpreted, &native, SLOWDOWN_REPS);
        let outcome = time_slowdown(&mut dap, &expression, ctx.config.reps, ("interpreted", "native"))?;
        ctx.end_session(dap)?;
        Ok(outcome)
    });
    for file in &files {
        std::fs::remove_file(file).map_err(|e| format!("{}: {e}", file.display()))?;
    }
    outcome
}

/// An Elixir expression for `evaluate` that compiles the plain copy of the
/// debugged slowdown module: `source`'s text with `debugged`'s name
/// replaced by `plain`, compiled by `Code.compile_string/2` *without* line
/// debug info, in a VM whose `ERL_COMPILER_OPTIONS` ask for it (the native
/// backend's launch sets them). Elixir 1.20 reads those options once per
/// VM and keeps them in the persistent term `elixir_erl_compiler`
/// (`elixir_erl_compiler:env_compiler_options/0`), so the expression puts
/// `[]` there for the compile and restores it after; the adapter's
/// compiler tracers are lifted meanwhile (they would take this compile for
/// the program's own). Returns `{d, p}`: 1 when `debugged`, then `plain`,
/// has line debug info (`code:get_debug_info/1` is not `none`), else 0, so
/// that the measurement can check it compares what it claims to compare.
pub fn plain_copy_expression(source: &str, debugged: &str, plain: &str) -> String {
    format!(
        r#"(fn ->
  text = String.replace(File.read!({source:?}), "defmodule {debugged} do", "defmodule {plain} do", global: false)
  cached = :persistent_term.get(:elixir_erl_compiler, :undefined)
  tracers = Code.get_compiler_option(:tracers)
  Code.put_compiler_option(:tracers, [])
  :persistent_term.put(:elixir_erl_compiler, [])
  try do
    Code.compile_string(text, "plain copy of " <> {source:?})
  after
    Code.put_compiler_option(:tracers, tracers)
    if cached == :undefined, do: :persistent_term.erase(:elixir_erl_compiler), else: :persistent_term.put(:elixir_erl_compiler, cached)
  end
  info = fn m -> Code.ensure_loaded!(m); if :code.get_debug_info(m) == :none, do: 0, else: 1 end
  {{info.({debugged}), info.({plain})}}
end).()"#
    )
}

/// `interpreted_call_slowdown` on the native backend: how much slower the
/// program's code runs as the native backend compiles and runs it (line
/// debug info, the VM started with `+D`, no breakpoint set) than plain
/// native code, in one VM. The debugged copy is a project module, compiled
/// by the native launch as every module is; the plain copy is compiled in
/// the same VM from the same source without line debug info (see
/// [`plain_copy_expression`]), and the measurement fails if either copy is
/// not what it should be. The samples are the CPU-bound ratios debugged /
/// plain.
pub(super) fn interpreted_call_slowdown_native(ctx: &mut SizeContext) -> Result<Outcome, String> {
    if let Some(why) = &ctx.features.native_backend_unsupported {
        return Ok(Outcome::NotMeasured(why.clone()));
    }
    ctx.prepare_native()?;
    let app = ctx.project.options.app_name.clone();
    let app_module = ctx.project.app_module.clone();
    let debugged = format!("{app_module}.Slowdown.Debugged");
    let plain = format!("{app_module}.Slowdown.Plain");
    let file = ctx.root.join(format!("lib/{app}/slowdown_debugged.ex"));
    std::fs::write(&file, slowdown_module(&debugged)).map_err(|e| format!("{}: {e}", file.display()))?;
    // The launch compiles the new module with line debug info.
    let launched = ctx.launch_session_on(
        DebugBackend::Native,
        json!({"reloadOnSave": "off", "debugExpressionTimeoutMs": 60_000}),
        crate::bench::compile_timeout(ctx.modules()),
    );
    let outcome = launched.and_then(|(mut dap, _)| {
        let expression = plain_copy_expression(&file.to_string_lossy(), &debugged, &plain);
        let (flags, text) = evaluate_numbers(&mut dap, &expression)?;
        if flags[..] != [1.0, 0.0] {
            return Err(format!(
                "expected {debugged} with line debug info and its plain copy {plain} without ({{1, 0}}); got {text:?}"
            ));
        }
        let expression = slowdown_expression(&debugged, &plain, NATIVE_SLOWDOWN_REPS);
        let outcome = time_slowdown(&mut dap, &expression, ctx.config.reps, ("debugged", "plain"))?;
        ctx.end_session(dap)?;
        Ok(with_extra(outcome, "debug_backend", json!(DebugBackend::Native.name())))
    });
    std::fs::remove_file(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    outcome
}
