//! Breakpoints as the client set them, and what the agent is told per module.
//!
//! The client sets breakpoints per source file (`setBreakpoints`) and function
//! breakpoints as a whole (`setFunctionBreakpoints`). `:int` keeps breakpoints
//! per module and line; a function breakpoint becomes line breakpoints on the
//! first line of each clause. [`BreakpointStore::module_specs`] merges both for
//! one module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::log_template::LogTemplate;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineBreakpoint {
    pub id: i64,
    pub line: i64,
    pub condition: Option<String>,
    /// Parsed; `None` also when the client's did not parse (then `invalid`
    /// says why and the breakpoint is not set).
    pub hit_condition: Option<HitCondition>,
    /// The log message split into parts (`None` likewise).
    pub log: Option<LogTemplate>,
    /// The modules (atoms) whose code holds the line, once resolved: more
    /// than one when one source line defines several modules
    /// (`defimpl Describe, for: [Integer, Float]`).
    pub modules: Vec<String>,
    pub verified: bool,
    pub message: Option<String>,
    /// Why its condition, hit condition or log message cannot be used: it
    /// stays unverified, whatever code holds its line.
    pub invalid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionBreakpoint {
    pub id: i64,
    pub spec: FunctionSpec,
    pub condition: Option<String>,
    /// As for [`LineBreakpoint::hit_condition`].
    pub hit_condition: Option<HitCondition>,
    /// Module atom and the clause lines it expanded to.
    pub module: Option<String>,
    pub lines: Vec<i64>,
    pub verified: bool,
    pub message: Option<String>,
    /// As for [`LineBreakpoint::invalid`].
    pub invalid: Option<String>,
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

pub use beam::protocol::{HitCondition, HitOp};

/// Parses a hit condition: `N` (stop from the Nth hit on), or `>= N`,
/// `> N`, `<= N`, `< N`, `== N` (also `= N`), `% N` (every Nth hit), with N
/// a whole number (N > 0 after `%`). The error is the breakpoint's message.
pub fn parse_hit_condition(text: &str) -> Result<HitCondition, String> {
    let trimmed = text.trim();
    let ops = [
        ("%", HitOp::Every),
        (">=", HitOp::AtLeast),
        ("<=", HitOp::AtMost),
        ("==", HitOp::Exactly),
        (">", HitOp::MoreThan),
        ("<", HitOp::LessThan),
        ("=", HitOp::Exactly),
    ];
    let (op, number) = ops
        .iter()
        .find_map(|(prefix, op)| trimmed.strip_prefix(prefix).map(|rest| (*op, rest.trim())))
        .unwrap_or((HitOp::AtLeast, trimmed));
    match number.parse::<u64>() {
        Ok(n) if number.bytes().all(|b| b.is_ascii_digit()) && !(op == HitOp::Every && n == 0) => {
            Ok(HitCondition { op, n })
        }
        _ => Err(format!(
            "the hit condition `{text}` is not valid: expected N (stop from the Nth hit on), \
             `>= N`, `> N`, `<= N`, `< N`, `== N` or `% N` (every Nth hit), N a whole number"
        )),
    }
}

/// One breakpoint as the agent sets it on a module line, with the ids of
/// the client's breakpoints it stands for and their kind (the `stopped`
/// event's reason and `hitBreakpointIds`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentBreakpoint {
    pub line: i64,
    pub ids: Vec<i64>,
    pub kind: &'static str,
    pub condition: Option<String>,
    pub hit_condition: Option<HitCondition>,
    pub log: Option<LogTemplate>,
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
            .flat_map(|b| b.modules.iter().cloned())
            .collect();
        touched.extend(breakpoints.iter().flat_map(|b| b.modules.iter().cloned()));
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
    /// plus function breakpoint lines not already covered by one (a line
    /// breakpoint wins: its condition and log message apply).
    pub fn module_specs(&self, module: &str) -> Vec<AgentBreakpoint> {
        let mut specs: BTreeMap<i64, AgentBreakpoint> = BTreeMap::new();
        for function in self
            .functions
            .iter()
            .filter(|f| f.verified && f.module.as_deref() == Some(module))
        {
            for &line in &function.lines {
                let spec = specs.entry(line).or_insert_with(|| AgentBreakpoint {
                    line,
                    ids: Vec::new(),
                    kind: "function breakpoint",
                    condition: function.condition.clone(),
                    hit_condition: function.hit_condition,
                    log: None,
                });
                spec.ids.push(function.id);
            }
        }
        let mut lines: BTreeMap<i64, AgentBreakpoint> = BTreeMap::new();
        for breakpoint in self.by_source.values().flatten() {
            if breakpoint.verified && breakpoint.modules.iter().any(|m| m == module) {
                let spec = lines.entry(breakpoint.line).or_insert_with(|| AgentBreakpoint {
                    line: breakpoint.line,
                    ids: Vec::new(),
                    kind: "breakpoint",
                    condition: breakpoint.condition.clone(),
                    hit_condition: breakpoint.hit_condition,
                    log: breakpoint.log.clone(),
                });
                spec.ids.push(breakpoint.id);
            }
        }
        specs.extend(lines);
        specs.into_values().collect()
    }

    /// Modules with any breakpoint (to interpret first at launch).
    pub fn modules(&self) -> BTreeSet<String> {
        self.by_source
            .values()
            .flatten()
            .flat_map(|b| b.modules.iter().cloned())
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
            log: None,
            modules: vec![module.into()],
            verified: true,
            message: None,
            invalid: None,
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
    fn hit_conditions_parse_into_an_operator_and_a_number() {
        let cases = [
            ("3", HitOp::AtLeast, 3),
            (" 3 ", HitOp::AtLeast, 3),
            ("0", HitOp::AtLeast, 0),
            (">= 2", HitOp::AtLeast, 2),
            (">2", HitOp::MoreThan, 2),
            ("<= 4", HitOp::AtMost, 4),
            ("< 4", HitOp::LessThan, 4),
            ("== 1", HitOp::Exactly, 1),
            ("= 1", HitOp::Exactly, 1),
            ("% 3", HitOp::Every, 3),
            ("%2", HitOp::Every, 2),
        ];
        for (text, op, n) in cases {
            assert_eq!(parse_hit_condition(text), Ok(HitCondition { op, n }), "{text}");
        }
        for bad in [
            "", "abc", ">= x", "% 0", "!= 2", "3.5", "-1", "+1", "> ", "== 1 2", "2 >", ">== 2",
        ] {
            let error = parse_hit_condition(bad).unwrap_err();
            assert!(error.contains("hit condition"), "{bad}: {error}");
        }
    }

    #[test]
    fn one_line_in_several_modules_is_sent_to_each() {
        let mut store = BreakpointStore::default();
        let mut both = line(1, 7, "Elixir.D.Integer");
        both.modules.push("Elixir.D.Float".into());
        let touched = store.replace_source("/d.ex".into(), vec![both]);
        assert_eq!(
            touched.into_iter().collect::<Vec<_>>(),
            vec!["Elixir.D.Float", "Elixir.D.Integer"]
        );
        for module in ["Elixir.D.Integer", "Elixir.D.Float"] {
            let specs = store.module_specs(module);
            assert_eq!((specs[0].line, specs[0].ids.clone()), (7, vec![1]), "{module}");
        }
        let touched = store.replace_source("/d.ex".into(), vec![]);
        assert_eq!(touched.len(), 2, "both lose it");
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
            invalid: None,
        }]);
        let specs = store.module_specs("M");
        assert_eq!(specs.iter().map(|s| s.line).collect::<Vec<_>>(), vec![5, 9]);
        assert_eq!(specs[1].condition.as_deref(), Some("a > 1"));
        assert_eq!((specs[1].kind, specs[1].ids.clone()), ("breakpoint", vec![1]));
        assert_eq!((specs[0].kind, specs[0].ids.clone()), ("function breakpoint", vec![3]));
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
