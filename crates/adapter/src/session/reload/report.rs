//! The agent's replies read into the report's parts (modules, processes,
//! failures, diagnostics), and small conversions.

use super::*;

pub(super) fn elixir_atom(name: &str) -> String {
    if name.starts_with("Elixir.") {
        name.to_owned()
    } else {
        format!("Elixir.{name}")
    }
}

pub(super) fn canonical(path: &std::path::Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

pub(super) fn ms(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 1000.0 * 10.0).round() / 10.0
}

pub(super) fn micros_to_ms(micros: Option<i64>) -> f64 {
    (micros.unwrap_or(0) as f64 / 100.0).round() / 10.0
}

pub(super) fn first_line(text: &str) -> &str {
    text.lines().find(|l| !l.trim().is_empty()).unwrap_or(text).trim()
}

pub(super) fn atoms(list: Option<&Term>) -> Vec<String> {
    list.and_then(TermExt::as_elements)
        .unwrap_or_default()
        .iter()
        .filter_map(|t| t.as_atom().map(str::to_owned))
        .collect()
}

pub(super) fn processes(list: Option<&Term>) -> Vec<ProcessInfo> {
    list.and_then(TermExt::as_elements)
        .unwrap_or_default()
        .iter()
        .map(|p| ProcessInfo {
            pid: p.get("pid").map(pid_text).unwrap_or_default(),
            name: p.get_text("name").unwrap_or_default(),
            module: p
                .get("module")
                .and_then(TermExt::as_atom)
                .map(|a| a.strip_prefix("Elixir.").unwrap_or(a).to_owned())
                .unwrap_or_default(),
            why: p.get_text("why").unwrap_or_default(),
        })
        .collect()
}

/// `[#{module, name, source}]` from the agent.
pub(super) fn compiled_modules(list: Option<&Term>) -> Vec<CompiledModule> {
    list.and_then(TermExt::as_elements)
        .unwrap_or_default()
        .iter()
        .filter_map(|c| {
            Some(CompiledModule {
                atom: c.get("module")?.as_atom()?.to_owned(),
                name: c.get_text("name")?,
                source: PathBuf::from(c.get_text("source")?),
            })
        })
        .collect()
}

/// The modules of `report.failed`, for a message.
pub(super) fn failed_modules(report: &ReloadReport) -> String {
    let names: Vec<&str> = report.failed.iter().map(|f| f.module.as_str()).collect();
    names.join(", ")
}

/// `#PID<0.123.0>`, as Elixir shows a local pid.
fn pid_text(term: &Term) -> String {
    match term {
        Term::Pid(pid) => format!("#PID<0.{}.{}>", pid.id, pid.serial),
        other => other.to_string(),
    }
}

pub(super) fn failures(list: Option<&Term>) -> Vec<FailedModule> {
    list.and_then(TermExt::as_elements)
        .unwrap_or_default()
        .iter()
        .map(|f| FailedModule {
            module: f
                .get("module")
                .and_then(TermExt::as_atom)
                .map(|a| a.strip_prefix("Elixir.").unwrap_or(a).to_owned())
                .unwrap_or_default(),
            reason: f.get_text("reason").unwrap_or_default(),
        })
        .collect()
}

pub(super) fn diagnostics(reply: &Term) -> Vec<Diagnostic> {
    reply
        .get("diagnostics")
        .and_then(TermExt::as_elements)
        .unwrap_or_default()
        .iter()
        .map(|d| Diagnostic {
            file: d.get_text("file").unwrap_or_default(),
            line: d.get_i64("line").unwrap_or(0),
            column: d.get_i64("column").unwrap_or(0),
            severity: d
                .get("severity")
                .and_then(TermExt::as_atom)
                .unwrap_or("error")
                .to_owned(),
            message: reload::trim_compiler_message(&d.get_text("message").unwrap_or_default()),
        })
        .collect()
}

/// The report's `reloaded` entries of `compiled`: whether each module is
/// interpreted now and how many breakpoints it holds.
pub(super) fn reloaded_entries(
    compiled: &[CompiledModule],
    interpreted: &BTreeSet<String>,
    counts: &BTreeMap<String, usize>,
) -> Vec<ReloadedModule> {
    compiled
        .iter()
        .map(|c| ReloadedModule {
            module: c.name.clone(),
            file: c.source.display().to_string(),
            interpreted: interpreted.contains(&c.atom),
            breakpoints: counts.get(&c.atom).copied().unwrap_or(0),
        })
        .collect()
}
