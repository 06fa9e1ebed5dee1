//! The report's `summary`: the headline numbers, derived from the medians of
//! the measurements. A value whose inputs were not measured is `null`, and
//! `not_measured` says why.

use serde_json::{json, Map, Value};

use crate::stats::round1;

/// Keys every summary has (the contract with whoever reads the report).
pub const SUMMARY_KEYS: &[&str] = &[
    "reload_1_ms",
    "reload_5_ms",
    "reload_1_ms_2000",
    "reload_1_vs_plain_mix_200",
    "reload_1_vs_plain_mix_2000",
    "reload_scale_2000_vs_200",
    "compile_floor_scale_2000_vs_200",
    "code_change_scale_2000_vs_200",
    "restart_vs_reload",
    "interpret_speedup_vs_serial_ni",
    "interpret_ours_ms",
    "interpret_serial_ni_ms",
    "first_breakpoint_hit_ms",
    "stack_scopes_variables_ms",
    "adapter_rss_mib",
    "launch_to_first_output_ms",
    "restart_ms",
    "plain_mix_recompile_1_ms",
    "plain_mix_recompile_1_ms_2000",
    "reload_soak",
    "launch_to_first_breakpoint_vs_nodebug",
    "launch_to_first_breakpoint_vs_nodebug_2000",
    "reload_1_vs_compile_floor",
    "reload_1_vs_compile_floor_2000",
    "reload_hub_vs_plain_mix",
    "reload_hub_vs_plain_mix_2000",
    "interpreted_call_slowdown",
    "backends",
    "machine",
];

/// The debugger backends of [`backends`](summarize)'s figures, and the
/// suffix of their measurements' keys (`reload_1_ms`, `reload_1_ms_native`).
pub const BACKENDS: &[(&str, &str)] = &[("interpreter", ""), ("native", "_native")];

/// Keys of each backend's object under `backends` (besides `debug_backend`
/// and `not_measured`).
pub const BACKEND_KEYS: &[&str] = &[
    "interpreted_call_slowdown",
    "launch_to_first_breakpoint_vs_nodebug",
    "launch_to_first_breakpoint_vs_nodebug_2000",
    "reload_1_ms",
    "reload_1_ms_2000",
];

type Derived = Result<f64, String>;

/// The median of `key` at `modules`, or why there is none.
fn median_at(sizes: &[Value], modules: usize, key: &str) -> Derived {
    side_median_at(sizes, modules, key, None)
}

/// The median of `key` at `modules`, or with `side` the median of what the
/// measurement describes beside its samples (`compile_floor_ms` of
/// `reload_1_vs_compile_floor`), or why there is none.
fn side_median_at(sizes: &[Value], modules: usize, key: &str, side: Option<&str>) -> Derived {
    let size = sizes
        .iter()
        .find(|s| s["modules"].as_u64() == Some(modules as u64))
        .ok_or_else(|| format!("size {modules} was not in this run"))?;
    let measurement = &size["measurements"][key];
    let described = match side {
        Some(side) => &measurement[side],
        None => measurement,
    };
    if let Some(median) = described["median"].as_f64() {
        return Ok(median);
    }
    if let Some(why) = measurement["not_measured"].as_str() {
        return Err(format!("{key} at {modules} modules not measured: {why}"));
    }
    if let Some(error) = measurement["error"].as_str() {
        return Err(format!("{key} at {modules} modules failed: {error}"));
    }
    match side {
        Some(side) => Err(format!("{key} at {modules} modules has no median of {side}")),
        None => Err(format!("{key} at {modules} modules has no median")),
    }
}

/// The median of `reload_1_vs_smaller_size` at `modules`, if its pairs
/// were with a session of `smaller` modules.
fn paired_scale(sizes: &[Value], modules: usize, smaller: usize) -> Derived {
    let median = median_at(sizes, modules, "reload_1_vs_smaller_size")?;
    let paired_with = sizes
        .iter()
        .find(|s| s["modules"].as_u64() == Some(modules as u64))
        .and_then(|s| s["measurements"]["reload_1_vs_smaller_size"]["smaller_modules"].as_u64());
    match paired_with {
        Some(m) if m == smaller as u64 => Ok(median),
        Some(m) => Err(format!(
            "reload_1_vs_smaller_size at {modules} modules was paired with {m} modules, not {smaller}"
        )),
        None => Err(format!(
            "reload_1_vs_smaller_size at {modules} modules does not say which size it was paired with"
        )),
    }
}

fn ratio(numerator: Derived, denominator: Derived) -> Derived {
    match (numerator, denominator) {
        (Ok(n), Ok(d)) if d > 0.0 => Ok(n / d),
        (Ok(_), Ok(_)) => Err("division by zero".to_owned()),
        (Err(a), Err(b)) if a == b => Err(a),
        (Err(a), Err(b)) => Err(format!("{a}; {b}")),
        (Err(e), _) | (_, Err(e)) => Err(e),
    }
}

/// `{"cpu_bound": r, "request_handler": r}`: the medians of the slowdown
/// measurement `key` at `modules` (`interpreted_call_slowdown`: interpreted
/// / native; `interpreted_call_slowdown_native`: debugged / plain native).
fn slowdown(sizes: &[Value], modules: usize, key: &str) -> Result<Value, String> {
    let cpu = median_at(sizes, modules, key)?;
    let handler = sizes
        .iter()
        .find(|s| s["modules"].as_u64() == Some(modules as u64))
        .and_then(|s| s["measurements"][key]["request_handler_ratio"]["median"].as_f64())
        .ok_or_else(|| format!("{key} at {modules} modules has no request_handler_ratio"))?;
    // A slowdown near 1 (the native backend's) needs two decimals to say
    // anything; the interpreter's hundreds keep one.
    let round = |r: f64| {
        if r < 10.0 {
            (r * 100.0).round() / 100.0
        } else {
            round1(r)
        }
    };
    Ok(json!({"cpu_bound": round(cpu), "request_handler": round(handler)}))
}

/// Ratios keep two decimals, times and sizes one.
fn rounded(key: &str, v: f64) -> f64 {
    if key.contains("_vs_") || key.contains("scale") || key.contains("speedup") {
        (v * 100.0).round() / 100.0
    } else {
        round1(v)
    }
}

/// The figures issue 20 compares per debugger backend, each object naming
/// its backend (`debug_backend`): the slowdown of the debugged code, the
/// launch to the first breakpoint against `noDebug` and the reload of one
/// file, at the summary size `base` and at 2 000 modules. A `null` has its
/// reason under the object's own `not_measured` (on a BEAM before OTP 28,
/// every native figure: the native backend needs OTP 28).
fn backends(sizes: &[Value], base: usize) -> Value {
    let mut objects = Map::new();
    for (backend, suffix) in BACKENDS {
        let key = |name: &str| format!("{name}{suffix}");
        let derived: Vec<(&str, Result<Value, String>)> = vec![
            (
                "interpreted_call_slowdown",
                slowdown(sizes, base, &key("interpreted_call_slowdown")),
            ),
            (
                "launch_to_first_breakpoint_vs_nodebug",
                median_at(sizes, base, &key("launch_to_first_breakpoint_vs_nodebug"))
                    .map(|v| json!(rounded("_vs_", v))),
            ),
            (
                "launch_to_first_breakpoint_vs_nodebug_2000",
                median_at(sizes, 2000, &key("launch_to_first_breakpoint_vs_nodebug"))
                    .map(|v| json!(rounded("_vs_", v))),
            ),
            (
                "reload_1_ms",
                median_at(sizes, base, &key("reload_1_ms")).map(|v| json!(round1(v))),
            ),
            (
                "reload_1_ms_2000",
                median_at(sizes, 2000, &key("reload_1_ms")).map(|v| json!(round1(v))),
            ),
        ];
        let mut object = Map::new();
        let mut not_measured = Map::new();
        object.insert("debug_backend".to_owned(), json!(backend));
        for (name, value) in derived {
            match value {
                Ok(v) => {
                    object.insert(name.to_owned(), v);
                }
                Err(why) => {
                    object.insert(name.to_owned(), Value::Null);
                    not_measured.insert(name.to_owned(), json!(why));
                }
            }
        }
        object.insert("not_measured".to_owned(), Value::Object(not_measured));
        objects.insert((*backend).to_owned(), Value::Object(object));
    }
    Value::Object(objects)
}

/// The summary of a report's `sizes`. Sizes without a number in their key
/// (`reload_1_ms`, ...) are read at the *summary size*: 200 modules if the
/// run had it, else its smallest size. Interpretation is compared at the
/// largest size, where it matters (`interpret_ours_ms` and
/// `interpret_serial_ni_ms` too).
pub fn summarize(sizes: &[Value], machine: &Value) -> Value {
    let modules: Vec<usize> = sizes
        .iter()
        .filter_map(|s| s["modules"].as_u64())
        .map(|m| m as usize)
        .collect();
    let base = if modules.contains(&200) {
        200
    } else {
        modules.iter().copied().min().unwrap_or(200)
    };
    let largest = modules.iter().copied().max().unwrap_or(base);

    let rss = sizes
        .iter()
        .filter_map(|s| s["measurements"]["adapter_peak_rss_mib"]["max"].as_f64())
        .reduce(f64::max)
        .ok_or_else(|| "no size measured adapter_peak_rss_mib".to_owned());

    let derived: Vec<(&str, Derived)> = vec![
        ("reload_1_ms", median_at(sizes, base, "reload_1_ms")),
        ("reload_5_ms", median_at(sizes, base, "reload_5_ms")),
        ("reload_1_ms_2000", median_at(sizes, 2000, "reload_1_ms")),
        (
            "reload_1_vs_plain_mix_200",
            ratio(
                median_at(sizes, 200, "reload_1_ms"),
                median_at(sizes, 200, "plain_mix_recompile_1_ms"),
            ),
        ),
        (
            "reload_1_vs_plain_mix_2000",
            ratio(
                median_at(sizes, 2000, "reload_1_ms"),
                median_at(sizes, 2000, "plain_mix_recompile_1_ms"),
            ),
        ),
        // Pairs of reloads in a 2 000- and a 200-module session, back to back.
        ("reload_scale_2000_vs_200", paired_scale(sizes, 2000, 200)),
        // What the reload's scale is read against: Elixir's compiler alone
        // and the VM's code changes, in the same sessions.
        (
            "compile_floor_scale_2000_vs_200",
            ratio(
                side_median_at(sizes, 2000, "reload_1_vs_compile_floor", Some("compile_floor_ms")),
                side_median_at(sizes, 200, "reload_1_vs_compile_floor", Some("compile_floor_ms")),
            ),
        ),
        (
            "code_change_scale_2000_vs_200",
            ratio(
                side_median_at(sizes, 2000, "reload_1_vs_compile_floor", Some("code_change_us")),
                side_median_at(sizes, 200, "reload_1_vs_compile_floor", Some("code_change_us")),
            ),
        ),
        // Pairs of a reload and the restart it replaces, back to back.
        ("restart_vs_reload", median_at(sizes, base, "restart_vs_reload")),
        (
            "interpret_speedup_vs_serial_ni",
            ratio(
                median_at(sizes, largest, "interpret_serial_ni_ms"),
                median_at(sizes, largest, "interpret_ours_ms"),
            ),
        ),
        ("interpret_ours_ms", median_at(sizes, largest, "interpret_ours_ms")),
        (
            "interpret_serial_ni_ms",
            median_at(sizes, largest, "interpret_serial_ni_ms"),
        ),
        (
            "first_breakpoint_hit_ms",
            median_at(sizes, base, "first_breakpoint_hit_ms"),
        ),
        (
            "stack_scopes_variables_ms",
            median_at(sizes, base, "stack_scopes_variables_ms"),
        ),
        ("adapter_rss_mib", rss),
        (
            "launch_to_first_output_ms",
            median_at(sizes, base, "launch_to_first_output_ms"),
        ),
        ("restart_ms", median_at(sizes, base, "restart_ms")),
        (
            "plain_mix_recompile_1_ms",
            median_at(sizes, base, "plain_mix_recompile_1_ms"),
        ),
        (
            "plain_mix_recompile_1_ms_2000",
            median_at(sizes, 2000, "plain_mix_recompile_1_ms"),
        ),
        // Medians of per-pair ratios, each pair measured back to back.
        (
            "launch_to_first_breakpoint_vs_nodebug",
            median_at(sizes, base, "launch_to_first_breakpoint_vs_nodebug"),
        ),
        (
            "launch_to_first_breakpoint_vs_nodebug_2000",
            median_at(sizes, 2000, "launch_to_first_breakpoint_vs_nodebug"),
        ),
        (
            "reload_1_vs_compile_floor",
            median_at(sizes, base, "reload_1_vs_compile_floor"),
        ),
        (
            "reload_1_vs_compile_floor_2000",
            median_at(sizes, 2000, "reload_1_vs_compile_floor"),
        ),
        // Two measurements of the same run (a hub edit is too slow to pair).
        (
            "reload_hub_vs_plain_mix",
            ratio(
                median_at(sizes, base, "reload_hub_ms"),
                median_at(sizes, base, "plain_mix_recompile_hub_ms"),
            ),
        ),
        (
            "reload_hub_vs_plain_mix_2000",
            ratio(
                median_at(sizes, 2000, "reload_hub_ms"),
                median_at(sizes, 2000, "plain_mix_recompile_hub_ms"),
            ),
        ),
    ];

    let mut summary = Map::new();
    let mut not_measured = Map::new();
    summary.insert("summary_size".to_owned(), json!(base));
    for (key, value) in derived {
        match value {
            Ok(v) => {
                summary.insert(key.to_owned(), json!(rounded(key, v)));
            }
            Err(why) => {
                summary.insert(key.to_owned(), Value::Null);
                not_measured.insert(key.to_owned(), json!(why));
            }
        }
    }
    // The soak at the summary size: its resource and median ratios.
    let soak = sizes
        .iter()
        .find(|s| s["modules"].as_u64() == Some(base as u64))
        .map(|s| &s["measurements"]["reload_soak_ms"]);
    match soak {
        Some(m) if m["median"].is_number() => {
            let mut object = Map::new();
            for key in [
                "reloads",
                "module_lines",
                "median_first_ms",
                "median_last_ms",
                "median_last_vs_first",
                "median_first_vs_fresh",
                "median_last_vs_fresh",
                "ratios_last_vs_first",
                "resources",
            ] {
                object.insert(key.to_owned(), m[key].clone());
            }
            summary.insert("reload_soak".to_owned(), Value::Object(object));
        }
        other => {
            summary.insert("reload_soak".to_owned(), Value::Null);
            let why = other
                .and_then(|m| m["not_measured"].as_str().or(m["error"].as_str()))
                .unwrap_or("reload_soak_ms was not measured at the summary size");
            not_measured.insert("reload_soak".to_owned(), json!(why));
        }
    }
    // Interpreted / native at the summary size, for both functions.
    match slowdown(sizes, base, "interpreted_call_slowdown") {
        Ok(value) => {
            summary.insert("interpreted_call_slowdown".to_owned(), value);
        }
        Err(why) => {
            summary.insert("interpreted_call_slowdown".to_owned(), Value::Null);
            not_measured.insert("interpreted_call_slowdown".to_owned(), json!(why));
        }
    }
    summary.insert("backends".to_owned(), backends(sizes, base));
    summary.insert(
        "machine".to_owned(),
        json!({"cores": machine["cores"], "otp": machine["otp"], "elixir": machine["elixir"]}),
    );
    summary.insert("not_measured".to_owned(), Value::Object(not_measured));
    Value::Object(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(modules: u64, measurements: Value) -> Value {
        json!({"modules": modules, "measurements": measurements})
    }

    #[test]
    fn derives_ratios_and_explains_nulls() {
        let sizes = vec![
            size(
                200,
                json!({
                    "plain_mix_recompile_1_ms": {"median": 100.0},
                    "reload_1_ms": {"median": 20.0},
                    "restart_ms": {"median": 3000.0},
                    "restart_vs_reload": {"median": 150.0},
                    "adapter_peak_rss_mib": {"max": 12.5},
                }),
            ),
            size(
                2000,
                json!({
                    "plain_mix_recompile_1_ms": {"median": 2000.0},
                    "reload_1_ms": {"median": null, "not_measured": "needs reloadCode"},
                    "reload_1_vs_smaller_size": {"median": null, "not_measured": "needs reloadCode"},
                    "adapter_peak_rss_mib": {"max": 14.0},
                }),
            ),
        ];
        let machine = json!({"cores": 2, "otp": "25", "elixir": "1.14.0", "cpu": "x"});
        let summary = summarize(&sizes, &machine);
        for key in SUMMARY_KEYS {
            assert!(summary.get(*key).is_some(), "{key}");
        }
        // Ours / plain Mix, as issue 7 defines it: below 1 is faster.
        assert_eq!(summary["reload_1_vs_plain_mix_200"], json!(0.2));
        assert_eq!(summary["restart_vs_reload"], json!(150.0));
        assert_eq!(summary["adapter_rss_mib"], json!(14.0));
        assert_eq!(summary["reload_1_ms_2000"], Value::Null);
        let why = summary["not_measured"]["reload_scale_2000_vs_200"]
            .as_str()
            .unwrap_or("");
        assert!(why.contains("needs reloadCode"), "{why}");
        assert_eq!(summary["machine"], json!({"cores": 2, "otp": "25", "elixir": "1.14.0"}));
    }

    #[test]
    fn derives_the_keys_measured_against_a_reference() {
        let sizes = vec![
            size(
                200,
                json!({
                    "launch_to_first_breakpoint_vs_nodebug": {"median": 1.234},
                    "reload_1_vs_compile_floor": {"median": 2.456},
                    "reload_hub_ms": {"median": 3000.0},
                    "plain_mix_recompile_hub_ms": {"median": 2400.0},
                    "interpreted_call_slowdown": {"median": 312.46, "request_handler_ratio": {"median": 41.26}},
                }),
            ),
            size(
                2000,
                json!({
                    "launch_to_first_breakpoint_vs_nodebug": {"median": 1.1},
                    "reload_1_vs_compile_floor": {"median": null, "error": "reloadCode failed"},
                    "reload_hub_ms": {"median": 40000.0},
                    "plain_mix_recompile_hub_ms": {"median": 50000.0},
                }),
            ),
        ];
        let summary = summarize(&sizes, &json!({}));
        assert_eq!(summary["launch_to_first_breakpoint_vs_nodebug"], json!(1.23));
        assert_eq!(summary["launch_to_first_breakpoint_vs_nodebug_2000"], json!(1.1));
        assert_eq!(summary["reload_1_vs_compile_floor"], json!(2.46));
        assert_eq!(summary["reload_1_vs_compile_floor_2000"], Value::Null);
        let why = summary["not_measured"]["reload_1_vs_compile_floor_2000"]
            .as_str()
            .unwrap_or("");
        assert!(why.contains("failed: reloadCode failed"), "{why}");
        // Reload / plain Mix: below 1 when the reload is faster.
        assert_eq!(summary["reload_hub_vs_plain_mix"], json!(1.25));
        assert_eq!(summary["reload_hub_vs_plain_mix_2000"], json!(0.8));
        assert_eq!(
            summary["interpreted_call_slowdown"],
            json!({"cpu_bound": 312.5, "request_handler": 41.3})
        );
        // Without the handler's ratio there is no slowdown object.
        let partial = vec![size(200, json!({"interpreted_call_slowdown": {"median": 300.0}}))];
        let summary = summarize(&partial, &json!({}));
        assert_eq!(summary["interpreted_call_slowdown"], Value::Null);
        assert!(summary["not_measured"]["interpreted_call_slowdown"].is_string());
    }

    #[test]
    fn reads_the_reload_scale_beside_the_compiler_and_the_vm_alone() {
        let floor = |floor_ms: f64, code_change: Value| {
            json!({
                "reload_1_ms": {"median": floor_ms * 1.1},
                "reload_1_vs_compile_floor": {
                    "median": 1.1,
                    "compile_floor_ms": {"median": floor_ms},
                    "code_change_us": code_change,
                },
            })
        };
        let mut large = floor(31.0, json!({"median": 3010.0}));
        large["reload_1_vs_smaller_size"] = json!({"median": 1.234, "smaller_modules": 200});
        let sizes = vec![size(200, floor(20.0, json!({"median": 700.0}))), size(2000, large)];
        let summary = summarize(&sizes, &json!({}));
        // The pairs' median, not the ratio of the two sizes' medians (1.55).
        assert_eq!(summary["reload_scale_2000_vs_200"], json!(1.23));
        assert_eq!(summary["compile_floor_scale_2000_vs_200"], json!(1.55));
        assert_eq!(summary["code_change_scale_2000_vs_200"], json!(4.3));
        // A run without the probe (a report of an older bench) says so.
        let sizes = vec![
            size(200, floor(20.0, Value::Null)),
            size(2000, floor(31.0, Value::Null)),
        ];
        let summary = summarize(&sizes, &json!({}));
        let why = summary["not_measured"]["reload_scale_2000_vs_200"]
            .as_str()
            .unwrap_or("");
        assert!(
            why.contains("reload_1_vs_smaller_size at 2000 modules has no median"),
            "{why}"
        );
        assert_eq!(summary["code_change_scale_2000_vs_200"], Value::Null);
        let why = summary["not_measured"]["code_change_scale_2000_vs_200"]
            .as_str()
            .unwrap_or("");
        assert!(why.contains("has no median of code_change_us"), "{why}");
    }

    #[test]
    fn the_reload_scale_is_only_read_from_pairs_with_200_modules() {
        let sizes = |smaller: Value| {
            vec![
                size(60, json!({"reload_1_ms": {"median": 10.0}})),
                size(
                    2000,
                    json!({"reload_1_vs_smaller_size": {"median": 1.4, "smaller_modules": smaller}}),
                ),
            ]
        };
        let summary = summarize(&sizes(json!(60)), &json!({}));
        assert_eq!(summary["reload_scale_2000_vs_200"], Value::Null);
        let why = summary["not_measured"]["reload_scale_2000_vs_200"]
            .as_str()
            .unwrap_or("");
        assert!(why.contains("was paired with 60 modules, not 200"), "{why}");
        let summary = summarize(&sizes(Value::Null), &json!({}));
        let why = summary["not_measured"]["reload_scale_2000_vs_200"]
            .as_str()
            .unwrap_or("");
        assert!(why.contains("does not say which size"), "{why}");
    }

    #[test]
    fn names_each_backend_and_reports_its_figures_beside_the_other() {
        let sizes = vec![size(
            2000,
            json!({
                "interpreted_call_slowdown": {"median": 312.46, "request_handler_ratio": {"median": 41.26}},
                "launch_to_first_breakpoint_vs_nodebug": {"median": 1.146},
                "reload_1_ms": {"median": 129.74},
                "interpreted_call_slowdown_native": {"median": 1.0849, "request_handler_ratio": {"median": 1.2351}},
                "launch_to_first_breakpoint_vs_nodebug_native": {"median": 1.083},
                "reload_1_ms_native": {"median": 41.26},
            }),
        )];
        let summary = summarize(&sizes, &json!({}));
        let backends = &summary["backends"];
        for (backend, _) in BACKENDS {
            assert_eq!(backends[*backend]["debug_backend"], json!(backend));
            for key in BACKEND_KEYS {
                assert!(backends[*backend].get(*key).is_some(), "{backend}: {key}");
            }
            assert_eq!(backends[*backend]["not_measured"], json!({}), "{backend}");
        }
        let interpreter = &backends["interpreter"];
        assert_eq!(
            interpreter["interpreted_call_slowdown"],
            json!({"cpu_bound": 312.5, "request_handler": 41.3})
        );
        // The top-level keys are the interpreter's, unchanged.
        assert_eq!(
            interpreter["interpreted_call_slowdown"],
            summary["interpreted_call_slowdown"]
        );
        assert_eq!(interpreter["launch_to_first_breakpoint_vs_nodebug_2000"], json!(1.15));
        assert_eq!(summary["launch_to_first_breakpoint_vs_nodebug_2000"], json!(1.15));
        assert_eq!(interpreter["reload_1_ms_2000"], json!(129.7));
        assert_eq!(summary["reload_1_ms_2000"], json!(129.7));
        // The native figures come from the `_native` measurements; a
        // slowdown near 1 keeps two decimals.
        let native = &backends["native"];
        assert_eq!(
            native["interpreted_call_slowdown"],
            json!({"cpu_bound": 1.08, "request_handler": 1.24})
        );
        // Summary size 2 000 (the only one): both keys read it.
        assert_eq!(native["launch_to_first_breakpoint_vs_nodebug"], json!(1.08));
        assert_eq!(native["launch_to_first_breakpoint_vs_nodebug_2000"], json!(1.08));
        assert_eq!(native["reload_1_ms"], json!(41.3));
        assert_eq!(native["reload_1_ms_2000"], json!(41.3));
    }

    #[test]
    fn native_figures_before_otp_28_are_null_with_the_reason() {
        let why = "the native debugger backend (debugBackend \"native\") needs OTP 28 or later; this BEAM is OTP 25";
        let sizes = vec![size(
            200,
            json!({
                "reload_1_ms": {"median": 26.0},
                "launch_to_first_breakpoint_vs_nodebug": {"median": 1.13},
                "interpreted_call_slowdown_native": {"median": null, "not_measured": why},
                "launch_to_first_breakpoint_vs_nodebug_native": {"median": null, "not_measured": why},
                "reload_1_ms_native": {"median": null, "not_measured": why},
            }),
        )];
        let summary = summarize(&sizes, &json!({}));
        let native = &summary["backends"]["native"];
        assert_eq!(native["debug_backend"], json!("native"));
        for key in BACKEND_KEYS {
            assert_eq!(native[*key], Value::Null, "{key}");
            let reason = native["not_measured"][*key].as_str().unwrap_or("");
            if key.ends_with("_2000") {
                // No 2 000-module size in this run: that is the reason.
                assert!(reason.contains("size 2000 was not in this run"), "{key}: {reason}");
            } else {
                assert!(
                    reason.contains("not measured: ") && reason.contains(why),
                    "{key}: {reason}"
                );
            }
        }
        // The interpreter's figures are there beside them, and its missing
        // slowdown is explained in its own object.
        let interpreter = &summary["backends"]["interpreter"];
        assert_eq!(interpreter["reload_1_ms"], json!(26.0));
        assert_eq!(interpreter["launch_to_first_breakpoint_vs_nodebug"], json!(1.13));
        assert!(interpreter["not_measured"]["interpreted_call_slowdown"].is_string());
        assert!(interpreter["not_measured"].get("reload_1_ms").is_none());
        // The native reasons stay in the backend's object, not among the
        // top-level (interpreter) keys' reasons.
        let top = &summary["not_measured"];
        assert!(
            top.as_object().is_some_and(|m| m.keys().all(|k| !k.contains("native"))),
            "{top}"
        );
    }
}
