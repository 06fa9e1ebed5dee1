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

pub(super) fn micros_to_ms(micros: i64) -> f64 {
    (micros as f64 / 100.0).round() / 10.0
}

pub(super) fn first_line(text: &str) -> &str {
    text.lines().find(|l| !l.trim().is_empty()).unwrap_or(text).trim()
}

pub(super) fn atoms(list: &[protocol::Atom]) -> Vec<String> {
    list.iter().map(ToString::to_string).collect()
}

/// A module's atom as the report names it (`Shop.Cart`).
pub(super) fn shown_module(atom: &protocol::Atom) -> String {
    let atom = atom.as_str();
    atom.strip_prefix("Elixir.").unwrap_or(atom).to_owned()
}

pub(super) fn processes(list: &[protocol::ProcessEntry]) -> Vec<ProcessInfo> {
    list.iter()
        .map(|p| ProcessInfo {
            pid: protocol::pid_text(&p.pid),
            name: p.name.clone(),
            module: shown_module(&p.module),
            why: p.why.to_string(),
        })
        .collect()
}

pub(super) fn compiled_modules(list: &[protocol::CompiledModule]) -> Vec<CompiledModule> {
    list.iter()
        .map(|c| CompiledModule {
            atom: c.module.to_string(),
            name: c.name.clone(),
            source: PathBuf::from(&c.source),
        })
        .collect()
}

/// The modules of `report.failed`, for a message.
pub(super) fn failed_modules(report: &ReloadReport) -> String {
    let names: Vec<&str> = report.failed.iter().map(|f| f.module.as_str()).collect();
    names.join(", ")
}

pub(super) fn failures(list: &[protocol::ModuleFailure]) -> Vec<FailedModule> {
    list.iter()
        .map(|f| FailedModule {
            module: shown_module(&f.module),
            reason: f.reason.to_string(),
        })
        .collect()
}

pub(super) fn diagnostics(list: &[protocol::Diagnostic]) -> Vec<Diagnostic> {
    list.iter()
        .map(|d| Diagnostic {
            file: d.file.clone(),
            line: d.line,
            column: d.column,
            severity: d.severity.to_string(),
            message: reload::trim_compiler_message(&d.message),
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
