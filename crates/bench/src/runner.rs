//! The benchmark's run: generates a project per size, drives the real
//! `elixir-dap` over DAP on it, runs every measurement of the
//! [registry](crate::measurements::MEASUREMENTS) and writes a JSON report.
//!
//! A size's project is generated into a temporary directory, compiled once
//! up front by a first launch, and reused by every measurement of that
//! size, in registry order.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::bench::{compile_timeout, err, launch_arguments, project_dir, BenchConfig, Features, SizeContext, TIMEOUT};
use crate::dap_client::DapClient;
use crate::generator::{self, GenOptions};
use crate::measurements::{Outcome, MEASUREMENTS};
use crate::{machine, stats, summary};

/// Version of the report's layout; bump it when a key changes meaning.
pub const REPORT_SCHEMA: u32 = 3;

/// Requests that later measurements need, probed by sending each once to an
/// adapter that has launched nothing: a dispatcher that does not know one
/// answers `unknown request`.
const PROBED: &[&str] = &["setBreakpoints", "stackTrace", "scopes", "variables", "reloadCode"];

const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

fn probe_adapter(adapter: &Path, logs: &Path, log: &mut dyn FnMut(&str)) -> Result<Features, String> {
    let version = std::process::Command::new(adapter)
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run the adapter {}: {e}", adapter.display()))?;
    if !version.status.success() {
        return Err(format!("`{} --version` failed", adapter.display()));
    }
    let mut dap = DapClient::spawn(
        adapter,
        &logs.join("adapter-probe.log"),
        crate::bench::DEFAULT_ADAPTER_LOG_LEVEL,
    )
    .map_err(err)?;
    let initialize = dap
        .request_ok(
            "initialize",
            json!({"clientID": "elixir-dap-bench", "adapterID": "elixir", "linesStartAt1": true}),
            TIMEOUT,
        )
        .map_err(err)?;
    let mut probes = Vec::new();
    for command in PROBED {
        // A probe only informs the notes of skipped measurements: an
        // adapter that does not answer one is reported, not fatal.
        let note = match dap.request(command, json!({}), PROBE_TIMEOUT) {
            Ok(response) => {
                let message = crate::dap_client::response_message(&response);
                let unknown = response["success"] != true && message.contains("unknown request");
                unknown.then_some(message)
            }
            Err(e) => {
                log(&format!("probe of `{command}`: {e}"));
                Some(format!("no answer to an argument-less `{command}` before launch"))
            }
        };
        let unanswered = note.as_deref().is_some_and(|n| n.starts_with("no answer"));
        probes.push(((*command).to_owned(), note));
        if unanswered {
            break;
        }
    }
    // Drops (kills) the probe adapter if it does not end at end of input.
    let _ = dap.finish(PROBE_TIMEOUT);
    Ok(Features {
        adapter_version: String::from_utf8_lossy(&version.stdout).trim().to_owned(),
        capabilities: initialize["body"].clone(),
        probes,
        native_backend_unsupported: None,
    })
}

/// Runs the whole benchmark and returns the report; `log` receives progress
/// lines. Measurements that fail are reported with an `error` (the caller
/// decides the exit status with [`report_has_errors`]); a failure to set a
/// size up fails the run.
pub fn run(config: &BenchConfig, log: &mut dyn FnMut(&str)) -> Result<Value, String> {
    let started_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let started = Instant::now();
    let temp;
    let work_dir = match &config.work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            dir.clone()
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("elixir-dap-bench-")
                .tempdir()
                .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
            temp.path().to_path_buf()
        }
    };
    let mut machine = machine::describe()?;
    log(&format!(
        "machine: {} cores, OTP {}, Elixir {}, load {}",
        machine["cores"],
        machine["otp"].as_str().unwrap_or("?"),
        machine["elixir"].as_str().unwrap_or("?"),
        machine["loadavg_at_start"].as_str().unwrap_or("?")
    ));
    let mut features = probe_adapter(&config.adapter, &work_dir, log)?;
    features.native_backend_unsupported =
        crate::bench::native_backend_unsupported(machine["otp"].as_str().unwrap_or(""));
    if let Some(why) = &features.native_backend_unsupported {
        log(&format!("native backend: not measured: {why}"));
    }
    log(&format!(
        "adapter: {} ({})",
        features.adapter_version,
        config.adapter.display()
    ));

    let mut sizes = Vec::new();
    for &modules in &config.sizes {
        sizes.push(run_size(config, modules, &work_dir, &features, log)?);
    }
    if let Some(object) = machine.as_object_mut() {
        object.insert("loadavg_at_end".to_owned(), json!(machine::load_average()));
    }
    let summary = summary::summarize(&sizes, &machine);
    Ok(json!({
        "schema": REPORT_SCHEMA,
        "tool": format!("elixir-dap-bench {}", env!("CARGO_PKG_VERSION")),
        "started_at_unix": started_at,
        "duration_s": stats::round1(started.elapsed().as_secs_f64()),
        "adapter": {
            "path": config.adapter,
            "version": features.adapter_version,
            "capabilities": features.capabilities,
            "unknown_requests": features.probes.iter()
                .filter(|(_, m)| m.is_some()).map(|(c, _)| c.clone()).collect::<Vec<_>>(),
        },
        "config": {
            "sizes": config.sizes,
            "reps": config.reps,
            "hub_reps": config.hub_reps,
            "seed": config.seed,
            "quick": config.quick,
            "only": config.only,
            "adapter_log_level": config.adapter_log_level,
            "launch": launch_arguments(Path::new("<project>")),
            // The `_native` measurements add `debugBackend: "native"`.
            "debug_backends": {
                "interpreter": "measured",
                "native": features.native_backend_unsupported.as_deref().map_or_else(
                    || "measured".to_owned(),
                    |why| format!("not measured: {why}"),
                ),
            },
        },
        "machine": machine,
        "sizes": sizes,
        "summary": summary,
    }))
}

fn run_size(
    config: &BenchConfig,
    modules: usize,
    work_dir: &Path,
    features: &Features,
    log: &mut dyn FnMut(&str),
) -> Result<Value, String> {
    let project = generator::generate(&GenOptions::new(modules, config.seed)).map_err(|e| e.to_string())?;
    let root = project_dir(work_dir, modules);
    let logs = work_dir.join(format!("logs-{modules}"));
    for dir in [&root, &logs] {
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    project.write_to(&root).map_err(|e| e.to_string())?;
    log(&format!("{modules} modules: generated into {}", root.display()));

    let mut ctx = SizeContext::new(config, project, root, logs, features, log);

    // Compile once up front, through the adapter (the launch compiles with
    // Mix in the VM): every later launch finds the build up to date.
    let (dap, first_launch_ms) = ctx.launch_session(compile_timeout(modules))?;
    ctx.end_session(dap)?;
    // Right after compiling, the modules are still loaded: not a launch
    // like the others.
    ctx.interpretations.clear();
    ctx.log(&format!(
        "{modules} modules: first launch (compiles everything) {first_launch_ms:.0} ms"
    ));

    let mut measurements = Map::new();
    for measurement in MEASUREMENTS {
        let started = Instant::now();
        let selected = config
            .only
            .as_ref()
            .map_or(true, |only| only.iter().any(|k| k == measurement.key));
        // The plain-Mix VM stays up between the measurements that use it
        // (started once, its compiler warmed up), and no longer: idle, its
        // workload still ticks (about 6 % of a core at 2 000 modules), and
        // the rest measure the adapter's VMs alone.
        if !measurement.uses_mix_vm() {
            ctx.stop_mix_vm();
        }
        let outcome = if selected {
            (measurement.run)(&mut ctx)
        } else {
            Ok(Outcome::NotMeasured("not selected (--only)".to_owned()))
        };
        let value = match outcome {
            Ok(Outcome::Samples { samples, extra }) => {
                let mut value = stats::describe_unit(&samples, measurement.unit);
                if let Some(object) = value.as_object_mut() {
                    object.insert("unit".to_owned(), json!(measurement.unit));
                    object.extend(extra);
                }
                ctx.log(&format!(
                    "{modules} modules: {} median {} p95 {} {} ({} reps, {:.0} s)",
                    measurement.key,
                    value["median"],
                    value["p95"],
                    measurement.unit,
                    samples.len(),
                    started.elapsed().as_secs_f64()
                ));
                value
            }
            Ok(Outcome::NotMeasured(why)) => {
                json!({"unit": measurement.unit, "median": null, "p95": null, "not_measured": why})
            }
            Err(error) => {
                ctx.log(&format!("{modules} modules: {} FAILED: {error}", measurement.key));
                json!({"unit": measurement.unit, "median": null, "p95": null, "error": error})
            }
        };
        let mut value = value;
        if let Some(object) = value.as_object_mut() {
            object.insert("description".to_owned(), json!(measurement.description));
        }
        measurements.insert(measurement.key.to_owned(), value);
    }
    ctx.stop_mix_vm();
    ctx.remove_native_builds();

    Ok(json!({
        "modules": modules,
        "edit_targets": ctx.project.edit_targets.len(),
        "hub_dependents": ctx.project.hub_macro.dependents.len(),
        "first_launch_with_compile_ms": stats::round1(first_launch_ms),
        // The native backend compiles into a build path of its own: its
        // first launch compiles everything again (null: no native session).
        "first_native_launch_with_compile_ms": ctx.first_native_launch_ms.map(stats::round1),
        "measurements": measurements,
    }))
}

/// Whether any measurement of the report failed.
pub fn report_has_errors(report: &Value) -> bool {
    report["sizes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|size| size["measurements"].as_object())
        .flat_map(|m| m.values())
        .any(|m| m.get("error").is_some())
}
