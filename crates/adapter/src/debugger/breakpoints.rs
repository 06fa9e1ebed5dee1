//! Breakpoints as the client set them, and what the agent is told per module.
//!
//! The client sets breakpoints per source file (`setBreakpoints`) and function
//! breakpoints as a whole (`setFunctionBreakpoints`). `:int` keeps breakpoints
//! per module and line; a function breakpoint becomes line breakpoints on the
//! first line of each clause. [`BreakpointStore::module_specs`] merges both for
//! one module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineBreakpoint {
    pub id: i64,
    pub line: i64,
    pub condition: Option<String>,
    pub hit_condition: Option<String>,
    pub log_message: Option<String>,
    /// The module (atom) whose code holds the line, once resolved.
    pub module: Option<String>,
    pub verified: bool,
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionBreakpoint {
    pub id: i64,
    pub spec: FunctionSpec,
    pub condition: Option<String>,
    pub hit_condition: Option<String>,
    /// Module atom and the clause lines it expanded to.
    pub module: Option<String>,
    pub lines: Vec<i64>,
    pub verified: bool,
    pub message: Option<String>,
}

/// `Mod.fun/arity`, or `Mod.fun` for every arity; `:erlang_mod.fun/arity`
/// for Erlang modules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSpec {
    pub module_atom: String,
    pub module_name: String,
    pub function: String,
    pub arity: Option<u32>,
}

pub fn parse_function_name(text: &str) -> Result<FunctionSpec, String> {
    let text = text.trim();
    let expected = "expected `Module.function/arity` or `Module.function`";
    let (path, arity) = match text.rsplit_once('/') {
        Some((path, arity)) => {
            let arity = arity
                .trim()
                .parse::<u32>()
                .map_err(|_| format!("{text:?}: the arity {arity:?} is not a number; {expected}"))?;
            (path.trim(), Some(arity))
        }
        None => (text, None),
    };
    let (module, function) = path
        .rsplit_once('.')
        .filter(|(m, f)| !m.is_empty() && !f.is_empty())
        .ok_or_else(|| format!("{text:?}: {expected}"))?;
    let (module_atom, module_name) = match module.strip_prefix(':') {
        Some(erlang) => (erlang.to_owned(), module.to_owned()),
        None => (format!("Elixir.{module}"), module.to_owned()),
    };
    Ok(FunctionSpec {
        module_atom,
        module_name,
        function: function.to_owned(),
        arity,
    })
}

/// One breakpoint as the agent sets it on a module line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentBreakpoint {
    pub line: i64,
    pub condition: Option<String>,
    pub hit_condition: Option<String>,
    pub log_message: Option<String>,
}

#[derive(Debug, Default)]
pub struct BreakpointStore {
    next_id: i64,
    by_source: BTreeMap<PathBuf, Vec<LineBreakpoint>>,
    functions: Vec<FunctionBreakpoint>,
}

impl BreakpointStore {
    pub fn next_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    /// Replaces the breakpoints of a source file; returns the modules whose
    /// agent breakpoints must be re-sent (before and after).
    pub fn replace_source(&mut self, source: PathBuf, breakpoints: Vec<LineBreakpoint>) -> BTreeSet<String> {
        let mut touched: BTreeSet<String> = self
            .by_source
            .get(&source)
            .into_iter()
            .flatten()
            .filter_map(|b| b.module.clone())
            .collect();
        touched.extend(breakpoints.iter().filter_map(|b| b.module.clone()));
        self.by_source.insert(source, breakpoints);
        touched
    }

    /// The line breakpoints of a source file.
    pub fn in_source(&self, source: &std::path::Path) -> Vec<LineBreakpoint> {
        self.by_source.get(source).cloned().unwrap_or_default()
    }

    /// Sources that have line breakpoints.
    pub fn sources(&self) -> Vec<PathBuf> {
        self.by_source.keys().cloned().collect()
    }

    pub fn functions(&self) -> &[FunctionBreakpoint] {
        &self.functions
    }

    pub fn replace_functions(&mut self, breakpoints: Vec<FunctionBreakpoint>) -> BTreeSet<String> {
        let mut touched: BTreeSet<String> = self.functions.iter().filter_map(|b| b.module.clone()).collect();
        touched.extend(breakpoints.iter().filter_map(|b| b.module.clone()));
        self.functions = breakpoints;
        touched
    }

    /// What the agent must hold for `module`: its verified line breakpoints,
    /// plus function breakpoint lines not already covered by one.
    pub fn module_specs(&self, module: &str) -> Vec<AgentBreakpoint> {
        let mut specs: BTreeMap<i64, AgentBreakpoint> = BTreeMap::new();
        for function in self
            .functions
            .iter()
            .filter(|f| f.verified && f.module.as_deref() == Some(module))
        {
            for &line in &function.lines {
                specs.insert(
                    line,
                    AgentBreakpoint {
                        line,
                        condition: function.condition.clone(),
                        hit_condition: function.hit_condition.clone(),
                        log_message: None,
                    },
                );
            }
        }
        for breakpoint in self.by_source.values().flatten() {
            if breakpoint.verified && breakpoint.module.as_deref() == Some(module) {
                specs.insert(
                    breakpoint.line,
                    AgentBreakpoint {
                        line: breakpoint.line,
                        condition: breakpoint.condition.clone(),
                        hit_condition: breakpoint.hit_condition.clone(),
                        log_message: breakpoint.log_message.clone(),
                    },
                );
            }
        }
        specs.into_values().collect()
    }

    /// The stop reason for a process stopped at `module:line` by the
    /// interpreter (not by a step or a pause).
    pub fn stop_reason(&self, module: &str, line: i64) -> (&'static str, Vec<i64>) {
        let line_hits: Vec<i64> = self
            .by_source
            .values()
            .flatten()
            .filter(|b| b.verified && b.module.as_deref() == Some(module) && b.line == line)
            .map(|b| b.id)
            .collect();
        if !line_hits.is_empty() {
            return ("breakpoint", line_hits);
        }
        let function_hits: Vec<i64> = self
            .functions
            .iter()
            .filter(|f| f.verified && f.module.as_deref() == Some(module) && f.lines.contains(&line))
            .map(|f| f.id)
            .collect();
        if !function_hits.is_empty() {
            return ("function breakpoint", function_hits);
        }
        ("breakpoint", Vec::new())
    }

    /// Modules with any breakpoint (to interpret first at launch).
    pub fn modules(&self) -> BTreeSet<String> {
        self.by_source
            .values()
            .flatten()
            .filter_map(|b| b.module.clone())
            .chain(self.functions.iter().filter_map(|f| f.module.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: i64, line: i64, module: &str) -> LineBreakpoint {
        LineBreakpoint {
            id,
            line,
            condition: None,
            hit_condition: None,
            log_message: None,
            module: Some(module.into()),
            verified: true,
            message: None,
        }
    }

    #[test]
    fn parses_function_names() {
        let spec = parse_function_name("Plain.Math.add/2").unwrap();
        assert_eq!(spec.module_atom, "Elixir.Plain.Math");
        assert_eq!(spec.function, "add");
        assert_eq!(spec.arity, Some(2));
        let spec = parse_function_name("Plain.Math.sum").unwrap();
        assert_eq!(spec.arity, None);
        let spec = parse_function_name(":lists.map/2").unwrap();
        assert_eq!(spec.module_atom, "lists");
        assert!(parse_function_name("add")
            .unwrap_err()
            .contains("expected `Module.function/arity`"));
        assert!(parse_function_name("A.b/x").unwrap_err().contains("not a number"));
    }

    #[test]
    fn line_breakpoints_override_function_lines_and_specs_are_per_module() {
        let mut store = BreakpointStore::default();
        let mut with_condition = line(1, 9, "M");
        with_condition.condition = Some("a > 1".into());
        store.replace_source("/m.ex".into(), vec![with_condition, line(2, 20, "N")]);
        store.replace_functions(vec![FunctionBreakpoint {
            id: 3,
            spec: parse_function_name("M.f").unwrap(),
            condition: None,
            hit_condition: None,
            module: Some("M".into()),
            lines: vec![5, 9],
            verified: true,
            message: None,
        }]);
        let specs = store.module_specs("M");
        assert_eq!(specs.iter().map(|s| s.line).collect::<Vec<_>>(), vec![5, 9]);
        assert_eq!(specs[1].condition.as_deref(), Some("a > 1"));
        assert_eq!(store.stop_reason("M", 9), ("breakpoint", vec![1]));
        assert_eq!(store.stop_reason("M", 5), ("function breakpoint", vec![3]));
        assert_eq!(store.modules().into_iter().collect::<Vec<_>>(), vec!["M", "N"]);
    }

    #[test]
    fn replacing_a_source_reports_old_and_new_modules() {
        let mut store = BreakpointStore::default();
        store.replace_source("/a.ex".into(), vec![line(1, 3, "A")]);
        let touched = store.replace_source("/a.ex".into(), vec![line(2, 4, "B")]);
        assert_eq!(touched.into_iter().collect::<Vec<_>>(), vec!["A", "B"]);
        assert!(store.module_specs("A").is_empty());
    }
}
