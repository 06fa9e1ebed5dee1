//! The modules of the debugged project and which of them to interpret.
//!
//! Selection follows ElixirLS: `debugInterpretModulesPatterns` are unanchored
//! Elixir regular expressions over the module's Elixir name
//! (`Regex.match?(Regex.compile!(pattern), inspect(module))`), so `"MyApp.*"`
//! also matches `MyAppWeb.Endpoint`; without patterns,
//! `debugAutoInterpretAllModules` (default true) selects the project's own
//! modules (ElixirLS also takes every dependency, which is why it is slow on
//! large projects: here dependencies are interpreted only when a pattern names
//! them). `excludeModules` entries are matched against the whole name, with
//! `*` standing for any text.

use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// An interpret pattern, compiled as Elixir's `Regex.compile(pattern)`
/// compiles it: OTP's `re` without options, which is PCRE (PCRE2 from OTP 28
/// on, PCRE 8 before) in byte mode. Compiled here with PCRE2 itself, in byte
/// mode (no UTF, no UCP), so that every pattern Elixir accepts is accepted
/// with the same meaning: lookaround, backreferences, atomic groups,
/// possessive quantifiers, `\Q...\E`, ASCII `\d`/`\w`, `.` as one byte, inline
/// options such as `(?i)`. The `regex` crate (no lookaround, Unicode classes)
/// and `fancy-regex` (its own syntax and error positions) would each refuse
/// or read differently patterns that work under ElixirLS.
#[derive(Debug, Clone)]
pub struct ElixirRegex {
    source: String,
    regex: pcre2::bytes::Regex,
}

impl ElixirRegex {
    /// Compiles `pattern`; the error is PCRE2's message with the offset of
    /// the fault, as Elixir's `Regex.compile/1` reports it.
    pub fn new(pattern: &str) -> Result<ElixirRegex, String> {
        let regex = pcre2::bytes::RegexBuilder::new()
            .utf(false)
            .ucp(false)
            .build(pattern)
            .map_err(|e| e.to_string().trim_start_matches("PCRE2: ").to_owned())?;
        Ok(ElixirRegex {
            source: pattern.to_owned(),
            regex,
        })
    }

    /// Whether the pattern matches anywhere in `text` (UTF-8 bytes, as an
    /// Elixir string is). A match that PCRE2 gives up on (its match limit)
    /// is no match.
    pub fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text.as_bytes()).unwrap_or(false)
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }
}

/// Compiles `eagerInterpretModulesPatterns`; an invalid pattern is an error
/// naming its index.
pub fn eager_patterns(patterns: &[String]) -> Result<Vec<ElixirRegex>, String> {
    patterns
        .iter()
        .enumerate()
        .map(|(i, p)| {
            ElixirRegex::new(p)
                .map_err(|e| format!("`eagerInterpretModulesPatterns[{i}]`: invalid regular expression {p:?}: {e}"))
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleInfo {
    /// The atom, e.g. `Elixir.Plain.Math` or `lists`.
    pub atom: String,
    /// The Elixir name, e.g. `Plain.Math` or `:lists`.
    pub name: String,
    pub source: Option<PathBuf>,
    pub app: String,
    /// One of the project's own applications (not a dependency).
    pub project: bool,
    /// Its code calls `dbg` as `breakOnDbg` expands it, as listed at launch
    /// (only read before the task starts: such modules are interpreted
    /// then; false for modules defined later).
    pub calls_dbg: bool,
}

#[derive(Debug, Clone)]
pub struct Selection {
    patterns: Option<Vec<ElixirRegex>>,
    auto_all: bool,
    exclude: Vec<Regex>,
}

impl Selection {
    /// Compiles the launch attributes; an invalid pattern is an error naming it.
    pub fn new(patterns: Option<&[String]>, auto_all: bool, exclude: &[String]) -> Result<Selection, String> {
        let patterns = patterns
            .map(|patterns| {
                patterns
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        ElixirRegex::new(p).map_err(|e| {
                            format!("`debugInterpretModulesPatterns[{i}]`: invalid regular expression {p:?}: {e}")
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let exclude = exclude
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let wildcard = p.split('*').map(regex::escape).collect::<Vec<_>>().join(".*");
                Regex::new(&format!("^(?:{wildcard})$"))
                    .map_err(|e| format!("`excludeModules[{i}]`: invalid pattern {p:?}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Selection {
            patterns,
            auto_all,
            exclude,
        })
    }

    pub fn selects(&self, module: &ModuleInfo) -> bool {
        let wanted = match &self.patterns {
            Some(patterns) => patterns.iter().any(|p| p.is_match(&module.name)),
            None => self.auto_all && module.project,
        };
        wanted && !self.is_excluded(module)
    }

    fn is_excluded(&self, module: &ModuleInfo) -> bool {
        self.exclude
            .iter()
            .any(|p| p.is_match(&module.name) || p.is_match(&module.atom))
    }

    /// Why a module is not selected, for an unverified breakpoint's message.
    pub fn reason_not_selected(&self, module: &ModuleInfo) -> String {
        if self.is_excluded(module) {
            format!("{} is excluded by `excludeModules`", module.name)
        } else if self.patterns.is_some() {
            format!("{} matches no `debugInterpretModulesPatterns` entry", module.name)
        } else if !module.project {
            format!(
                "{} belongs to the dependency {}: name it in `debugInterpretModulesPatterns` to debug it",
                module.name, module.app
            )
        } else {
            format!(
                "{} is not interpreted (`debugAutoInterpretAllModules` is false)",
                module.name
            )
        }
    }
}

/// Every module the project compiled, by atom, and which are interpreted.
#[derive(Debug, Default)]
pub struct ModuleRegistry {
    modules: BTreeMap<String, ModuleInfo>,
    by_source: BTreeMap<PathBuf, Vec<String>>,
    interpreted: BTreeSet<String>,
    /// Modules the interpreter refused, with its reason.
    skipped: BTreeMap<String, String>,
}

impl ModuleRegistry {
    pub fn new(modules: Vec<ModuleInfo>) -> Self {
        let mut registry = ModuleRegistry::default();
        for module in modules {
            if let Some(source) = &module.source {
                registry
                    .by_source
                    .entry(source.clone())
                    .or_default()
                    .push(module.atom.clone());
            }
            registry.modules.insert(module.atom.clone(), module);
        }
        registry
    }

    pub fn get(&self, atom: &str) -> Option<&ModuleInfo> {
        self.modules.get(atom)
    }

    /// The module whose Elixir name is `name` (`Plain.Math`, `:lists`).
    pub fn by_name(&self, name: &str) -> Option<&ModuleInfo> {
        self.modules.values().find(|m| m.name == name)
    }

    /// The modules defined in a source file.
    pub fn in_source(&self, source: &std::path::Path) -> Vec<&ModuleInfo> {
        self.by_source
            .get(source)
            .map(|atoms| atoms.iter().filter_map(|a| self.modules.get(a)).collect())
            .unwrap_or_default()
    }

    pub fn selected<'a>(&'a self, selection: &'a Selection) -> impl Iterator<Item = &'a ModuleInfo> + 'a {
        self.modules.values().filter(move |m| selection.selects(m))
    }

    pub fn is_interpreted(&self, atom: &str) -> bool {
        self.interpreted.contains(atom)
    }

    pub fn mark_interpreted(&mut self, atom: &str) {
        self.interpreted.insert(atom.to_owned());
    }

    pub fn mark_skipped(&mut self, atom: &str, reason: &str) {
        self.skipped.insert(atom.to_owned(), reason.to_owned());
    }

    pub fn skip_reason(&self, atom: &str) -> Option<&str> {
        self.skipped.get(atom).map(String::as_str)
    }

    pub fn all(&self) -> impl Iterator<Item = &ModuleInfo> {
        self.modules.values()
    }

    /// Adds a module a reload created, or updates one it recompiled.
    pub fn upsert(&mut self, module: ModuleInfo) {
        self.forget_source(&module.atom);
        if let Some(source) = &module.source {
            self.by_source
                .entry(source.clone())
                .or_default()
                .push(module.atom.clone());
        }
        self.skipped.remove(&module.atom);
        self.modules.insert(module.atom.clone(), module);
    }

    /// Forgets a module a reload removed.
    pub fn remove(&mut self, atom: &str) {
        self.forget_source(atom);
        self.modules.remove(atom);
        self.interpreted.remove(atom);
        self.skipped.remove(atom);
    }

    pub fn unmark_interpreted(&mut self, atom: &str) {
        self.interpreted.remove(atom);
    }

    fn forget_source(&mut self, atom: &str) {
        if let Some(source) = self.modules.get(atom).and_then(|m| m.source.clone()) {
            if let Some(atoms) = self.by_source.get_mut(&source) {
                atoms.retain(|a| a != atom);
                if atoms.is_empty() {
                    self.by_source.remove(&source);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(name: &str, project: bool) -> ModuleInfo {
        ModuleInfo {
            atom: format!("Elixir.{name}"),
            name: name.to_owned(),
            source: Some(PathBuf::from(format!("/p/lib/{}.ex", name.to_lowercase()))),
            app: if project { "my_app".into() } else { "dep".into() },
            project,
            calls_dbg: false,
        }
    }

    #[test]
    fn default_selects_project_modules_only() {
        let selection = Selection::new(None, true, &[]).unwrap();
        assert!(selection.selects(&module("MyApp.Cart", true)));
        assert!(!selection.selects(&module("Dep.Thing", false)));
        let none = Selection::new(None, false, &[]).unwrap();
        assert!(!none.selects(&module("MyApp.Cart", true)));
    }

    #[test]
    fn patterns_are_unanchored_regexes_over_the_elixir_name() {
        let selection = Selection::new(Some(&["MyApp.*".to_owned()]), true, &[]).unwrap();
        assert!(selection.selects(&module("MyApp.Cart", true)));
        assert!(selection.selects(&module("MyAppWeb.Endpoint", true)));
        assert!(selection.selects(&module("Dep.MyAppHelper", false)));
        assert!(!selection.selects(&module("Other", true)));
    }

    #[test]
    fn exclusions_use_wildcards_over_the_whole_name() {
        let selection = Selection::new(
            None,
            true,
            &["MyApp.Repo*".to_owned(), "Elixir.MyApp.Secret".to_owned()],
        )
        .unwrap();
        assert!(!selection.selects(&module("MyApp.Repo", true)));
        assert!(!selection.selects(&module("MyApp.RepoHelper", true)));
        assert!(!selection.selects(&module("MyApp.Secret", true)));
        assert!(selection.selects(&module("MyApp.Cart", true)));
        assert_eq!(
            selection.reason_not_selected(&module("MyApp.Repo", true)),
            "MyApp.Repo is excluded by `excludeModules`"
        );
    }

    #[test]
    fn an_invalid_pattern_names_its_index() {
        let err = Selection::new(Some(&["ok".to_owned(), "(".to_owned()]), true, &[]).unwrap_err();
        assert!(err.starts_with("`debugInterpretModulesPatterns[1]`"), "{err}");
        assert!(err.contains("missing closing parenthesis"), "{err}");
    }

    /// Each pattern with what Elixir's `Regex.match?(Regex.compile!(p), s)`
    /// answers for the subjects (checked with Elixir 1.14 / OTP 25, PCRE 8,
    /// and Elixir 1.20 / OTP 29, PCRE2: the same on both).
    #[test]
    fn patterns_mean_what_they_mean_to_elixir() {
        let subjects = [
            "Truth.Anon",
            "Truth.Cond",
            "Truth.Describe.Integer",
            "Café",
            "TruthTru",
            "Truth.Tru",
            "ab",
        ];
        let cases: &[(&str, &[&str])] = &[
            (
                r"^(?!Truth\.Anon)Truth",
                &["Truth.Cond", "Truth.Describe.Integer", "TruthTru", "Truth.Tru"],
            ),
            (r"(Tru)th\.\1", &["Truth.Tru"]),
            (r"Truth\.(?>Ano|An)n", &["Truth.Anon"]),
            (r"Tr\w++h", &[]),
            (r"\QTruth.Anon\E", &["Truth.Anon"]),
            (r"(?i)truth\.describe", &["Truth.Describe.Integer"]),
            (r"Truth\.D\w*\.(?:Integer|Float)$", &["Truth.Describe.Integer"]),
            // Byte mode: `é` is two bytes, `.` one.
            (r"^Caf.$", &[]),
            (r"^Caf..$", &["Café"]),
            (
                r"[[:upper:]]ruth",
                &[
                    "Truth.Anon",
                    "Truth.Cond",
                    "Truth.Describe.Integer",
                    "TruthTru",
                    "Truth.Tru",
                ],
            ),
            (r"(?<name>Truth)\.Cond\z", &["Truth.Cond"]),
            (r"\d", &[]),
            (
                r"(*UCP)\w",
                &[
                    "Truth.Anon",
                    "Truth.Cond",
                    "Truth.Describe.Integer",
                    "Café",
                    "TruthTru",
                    "Truth.Tru",
                    "ab",
                ],
            ),
            (r"a(?#comment)b", &["ab"]),
            (
                r"(?x) T r u t h",
                &[
                    "Truth.Anon",
                    "Truth.Cond",
                    "Truth.Describe.Integer",
                    "TruthTru",
                    "Truth.Tru",
                ],
            ),
            (r"Truth$\n?", &[]),
        ];
        for (pattern, expected) in cases {
            let regex = ElixirRegex::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
            let matched: Vec<&str> = subjects.iter().copied().filter(|s| regex.is_match(s)).collect();
            assert_eq!(&matched, expected, "{pattern}");
        }
        // Refused by Elixir, with PCRE's reason.
        for (pattern, reason) in [
            ("(", "missing closing parenthesis"),
            ("a{2,1}", "numbers out of order"),
            ("[z-a]", "range out of order"),
            ("\\", "\\ at end of pattern"),
            ("(?<n>a)(?<n>b)", "same name"),
            ("x**", "quantifier does not follow a repeatable item"),
            ("(?<=a+)b", "lookbehind"),
        ] {
            let error = ElixirRegex::new(pattern).unwrap_err();
            assert!(error.contains(reason), "{pattern}: {error}");
        }
    }

    #[test]
    fn registry_finds_modules_by_source_and_name() {
        let registry = ModuleRegistry::new(vec![module("A", true), module("B", true)]);
        assert_eq!(registry.in_source(std::path::Path::new("/p/lib/a.ex"))[0].name, "A");
        assert_eq!(registry.by_name("B").unwrap().atom, "Elixir.B");
    }
}
