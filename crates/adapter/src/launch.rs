//! The `launch` request's attributes. Names and meanings follow ElixirLS's
//! debug adapter so existing launch configurations work unchanged; attributes
//! this adapter adds are documented in `docs/protocol.md`. Unknown attributes
//! are ignored: editors add their own (`type`, `request`, `name`, ...).

use dap::{parse_arguments, ArgumentError};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LaunchArguments {
    /// The Mix project to run; defaults to the adapter's working directory.
    pub project_dir: Option<String>,
    /// The Mix task; defaults to the project's `default_task` (`run`).
    pub task: Option<String>,
    #[serde(default)]
    pub task_args: Vec<String>,
    /// Environment for the VM; `null` unsets a variable.
    #[serde(default)]
    pub env: BTreeMap<String, Option<String>>,
    /// Files (or wildcards) required before the task runs, e.g. test helpers.
    #[serde(default)]
    pub require_files: Vec<String>,
    /// Run `mix app.start` before the task.
    #[serde(default)]
    pub start_apps: bool,
    /// End the session when the task returns (unless it asked not to halt).
    #[serde(default = "default_true")]
    pub exit_after_task_returns: bool,
    /// Run without debugging: nothing is interpreted.
    #[serde(default)]
    pub no_debug: bool,
    /// How stack traces of interpreted processes are recorded by `:int`.
    pub stack_trace_mode: Option<StackTraceMode>,
    /// Regular expressions over `inspect(module)` of modules to interpret.
    pub debug_interpret_modules_patterns: Option<Vec<String>>,
    #[serde(default = "default_true")]
    pub debug_auto_interpret_all_modules: bool,
    #[serde(default)]
    pub exclude_modules: Vec<String>,
    /// Our addition: when the selected modules that no stop needs before
    /// the task starts are interpreted (see [`LazyInterpretation`]).
    #[serde(default)]
    pub lazy_interpretation: LazyInterpretation,
    /// Our addition: modules (Elixir regular expressions, as
    /// `debugInterpretModulesPatterns`) interpreted before the task starts
    /// even when lazy.
    #[serde(default)]
    pub eager_interpret_modules_patterns: Vec<String>,
    /// Stop at `dbg/0,1,2` calls (Elixir 1.14+), as ElixirLS does.
    #[serde(default = "default_true")]
    pub break_on_dbg: bool,
    /// How long an `evaluate` may run before it is killed.
    #[serde(default = "default_expression_timeout")]
    pub debug_expression_timeout_ms: u64,
    /// Our addition: the `elixir` executable to start (default: from `PATH`).
    pub elixir_path: Option<String>,
    /// Our addition: reload after each save (`auto`), only on `reloadCode`
    /// while announcing pending changes (`manual`), or not watch (`off`).
    #[serde(default)]
    pub reload_on_save: ReloadOnSave,
    /// Our addition: the quiet period after a save before reloading.
    #[serde(default = "default_reload_debounce")]
    pub reload_debounce_ms: u64,
    /// Our addition: directories to watch (default: `lib`, or every
    /// umbrella app's `lib`); relative paths are taken from `projectDir`.
    pub reload_watch_paths: Option<Vec<String>>,
    /// Our addition: upgrade the state of processes whose behaviour module
    /// a reload changes by calling their `code_change/3`: `true` for every
    /// module, or a list of module names.
    #[serde(default)]
    pub reload_code_change: CodeChange,
    /// Our addition: which debugger runs the program's code (see
    /// [`DebugBackend`]).
    #[serde(default)]
    pub debug_backend: DebugBackend,
}

/// `debugBackend`: OTP's interpreter (`:int`, every OTP) or OTP 28+'s native
/// debugger (`erl_debugger`, issue 20; the session module
/// `session::backend` resolves `auto` and checks the VM).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DebugBackend {
    /// The native backend where the VM and Elixir's compile path support it
    /// (OTP 28+, Elixir 1.x), else the interpreter; said on the console with
    /// the reason (`session::backend::resolve_auto`; for `attach`, the
    /// helper asks the node).
    #[default]
    Auto,
    Native,
    Interpreter,
}

impl DebugBackend {
    pub fn as_str(self) -> &'static str {
        match self {
            DebugBackend::Auto => "auto",
            DebugBackend::Native => "native",
            DebugBackend::Interpreter => "interpreter",
        }
    }
}

impl<'de> Deserialize<'de> for DebugBackend {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(name) if name == "auto" => Ok(DebugBackend::Auto),
            Value::String(name) if name == "native" => Ok(DebugBackend::Native),
            Value::String(name) if name == "interpreter" => Ok(DebugBackend::Interpreter),
            other => Err(serde::de::Error::custom(format!(
                "expected \"auto\", \"native\" or \"interpreter\", got {other}"
            ))),
        }
    }
}

/// `lazyInterpretation`, kept with the debugger's lazy state.
pub use crate::debugger::lazy::LazyInterpretation;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ReloadOnSave {
    #[default]
    Auto,
    Manual,
    Off,
}

/// `reloadCodeChange`: `false` (default), `true`, or module names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CodeChange {
    #[default]
    Off,
    All,
    Modules(Vec<String>),
}

impl<'de> Deserialize<'de> for CodeChange {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::Bool(false) | Value::Null => Ok(CodeChange::Off),
            Value::Bool(true) => Ok(CodeChange::All),
            Value::Array(items) => items
                .into_iter()
                .map(|item| match item {
                    Value::String(name) => Ok(name),
                    other => Err(serde::de::Error::custom(format!(
                        "expected module names (strings), got {other}"
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(CodeChange::Modules),
            other => Err(serde::de::Error::custom(format!(
                "expected true, false or a list of module names, got {other}"
            ))),
        }
    }
}

impl CodeChange {
    /// Whether processes of `module` (Elixir name) get `code_change/3`.
    pub fn applies_to(&self, module: &str) -> bool {
        match self {
            CodeChange::Off => false,
            CodeChange::All => true,
            CodeChange::Modules(modules) => modules
                .iter()
                .any(|m| m == module || m.strip_prefix("Elixir.") == Some(module)),
        }
    }

    pub fn is_enabled(&self) -> bool {
        match self {
            CodeChange::Off => false,
            CodeChange::All => true,
            CodeChange::Modules(modules) => !modules.is_empty(),
        }
    }
}

fn default_reload_debounce() -> u64 {
    100
}

fn default_true() -> bool {
    true
}

fn default_expression_timeout() -> u64 {
    10_000
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum StackTraceMode {
    #[serde(rename = "all")]
    All,
    #[serde(rename = "no_tail")]
    #[default]
    NoTail,
    #[serde(rename = "false")]
    Off,
}

impl StackTraceMode {
    /// The flag `:int.stack_trace/1` takes.
    pub fn as_int_flag(self) -> &'static str {
        match self {
            StackTraceMode::All => "all",
            StackTraceMode::NoTail => "no_tail",
            StackTraceMode::Off => "false",
        }
    }
}

/// Launch arguments after validation.
#[derive(Debug, Clone)]
pub struct LaunchConfig {
    pub args: LaunchArguments,
    pub project_dir: PathBuf,
    pub elixir: PathBuf,
}

/// Parses and validates `launch` arguments; errors name the attribute.
pub fn validate(arguments: &Value, cwd: &Path) -> Result<LaunchConfig, ArgumentError> {
    let args: LaunchArguments = parse_arguments(arguments)?;
    let project_dir = match &args.project_dir {
        Some(dir) if dir.trim().is_empty() => {
            return Err(field_error(
                "projectDir",
                "expected a path to a Mix project, got an empty string",
            ))
        }
        Some(dir) => cwd.join(dir),
        None => cwd.to_path_buf(),
    };
    if !project_dir.is_dir() {
        return Err(field_error(
            "projectDir",
            &format!("{} is not a directory", project_dir.display()),
        ));
    }
    if !project_dir.join("mix.exs").is_file() {
        return Err(field_error(
            "projectDir",
            &format!(
                "{} has no mix.exs: expected the root of a Mix project",
                project_dir.display()
            ),
        ));
    }
    if let Some(task) = &args.task {
        if task.trim().is_empty() {
            return Err(field_error("task", "expected a Mix task name, got an empty string"));
        }
    }
    let elixir = match &args.elixir_path {
        Some(path) if path.trim().is_empty() => {
            return Err(field_error(
                "elixirPath",
                "expected the path of an `elixir` executable, got an empty string",
            ))
        }
        Some(path) => {
            let path = cwd.join(path);
            if !path.is_file() {
                return Err(field_error("elixirPath", &format!("{} is not a file", path.display())));
            }
            path
        }
        None => PathBuf::from("elixir"),
    };
    // Interpret patterns and exclusions are checked now, before a VM starts
    // (the debugger compiles them again when it starts).
    if !args.no_debug {
        crate::debugger::modules::Selection::new(
            args.debug_interpret_modules_patterns.as_deref(),
            args.debug_auto_interpret_all_modules,
            &args.exclude_modules,
        )
        .and_then(|_| crate::debugger::modules::eager_patterns(&args.eager_interpret_modules_patterns))
        .map_err(|message| ArgumentError {
            field: Some(
                if message.starts_with("`eagerInterpretModulesPatterns") {
                    "eagerInterpretModulesPatterns"
                } else if message.starts_with("`excludeModules") {
                    "excludeModules"
                } else {
                    "debugInterpretModulesPatterns"
                }
                .to_owned(),
            ),
            message,
        })?;
    }
    Ok(LaunchConfig {
        project_dir: project_dir.canonicalize().unwrap_or(project_dir),
        elixir,
        args,
    })
}

/// Splits `requireFiles` for `task` into the entries to require before the
/// task runs and those left to the task itself.
///
/// `mix test` requires `test_helper.exs` after starting the application,
/// then the test files it was asked to run, and runs every test module
/// defined by then. Requiring them first, as ElixirLS must to debug them,
/// would run the helper before the application starts and every test file
/// even when the task names one. Here test modules become debuggable while
/// `mix test` loads them (`elixir_dap_scripts.erl`), so for the `test` task
/// the entries naming test files (`*_test.exs`, ExUnit's default pattern)
/// or `test_helper.exs` are left to it. Shapes: `(required, left)`, each in
/// the given order.
pub fn split_require_files(task: &str, require_files: &[String]) -> (Vec<String>, Vec<String>) {
    require_files.iter().cloned().partition(|pattern| {
        let name = pattern.rsplit('/').next().unwrap_or(pattern);
        task != "test" || !(name.ends_with("_test.exs") || name == "test_helper.exs")
    })
}

/// The error for a bad launch or attach attribute: the field and what it
/// must be, the message naming the field.
pub(crate) fn field_error(field: &str, what: &str) -> ArgumentError {
    ArgumentError {
        field: Some(field.to_owned()),
        message: format!("`{field}`: {what}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mix_test_loads_its_own_test_files_and_helper() {
        let files: Vec<String> = [
            "test/**/test_helper.exs",
            "test/**/*_test.exs",
            "test/calc_test.exs",
            "apps/a/test/test_helper.exs",
            "test/support/factory.exs",
            "scripts/seed.exs",
        ]
        .map(String::from)
        .to_vec();
        let (required, left) = split_require_files("test", &files);
        assert_eq!(required, ["test/support/factory.exs", "scripts/seed.exs"]);
        assert_eq!(
            left,
            [
                "test/**/test_helper.exs",
                "test/**/*_test.exs",
                "test/calc_test.exs",
                "apps/a/test/test_helper.exs"
            ]
        );
        // Any other task requires them all, in order.
        let (required, left) = split_require_files("run", &files);
        assert_eq!(required, files);
        assert!(left.is_empty());
    }

    fn project() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mix.exs"), "").unwrap();
        dir
    }

    #[test]
    fn defaults_follow_elixir_ls() {
        let dir = project();
        let config = validate(&json!({"projectDir": dir.path()}), Path::new("/")).unwrap();
        assert!(config.args.exit_after_task_returns);
        assert!(config.args.debug_auto_interpret_all_modules);
        assert!(config.args.break_on_dbg);
        assert!(!config.args.start_apps);
        assert!(config.args.task.is_none());
        assert_eq!(config.elixir, PathBuf::from("elixir"));
        assert_eq!(config.args.reload_on_save, ReloadOnSave::Auto);
        assert_eq!(config.args.reload_debounce_ms, 100);
        assert_eq!(config.args.reload_code_change, CodeChange::Off);
        assert_eq!(config.args.debug_backend, DebugBackend::Auto);
    }

    #[test]
    fn debug_backend_names_its_values() {
        let dir = project();
        for (name, want) in [
            ("auto", DebugBackend::Auto),
            ("native", DebugBackend::Native),
            ("interpreter", DebugBackend::Interpreter),
        ] {
            let config = validate(&json!({"projectDir": dir.path(), "debugBackend": name}), Path::new("/")).unwrap();
            assert_eq!(config.args.debug_backend, want);
            assert_eq!(want.as_str(), name);
        }
        let err = validate(
            &json!({"projectDir": dir.path(), "debugBackend": "fast"}),
            Path::new("/"),
        )
        .unwrap_err();
        assert_eq!(
            err.message,
            "`debugBackend`: expected \"auto\", \"native\" or \"interpreter\", got \"fast\""
        );
    }

    #[test]
    fn reload_code_change_takes_a_flag_or_modules() {
        let dir = project();
        let parse = |value: Value| {
            validate(
                &json!({"projectDir": dir.path(), "reloadCodeChange": value}),
                Path::new("/"),
            )
            .unwrap()
            .args
            .reload_code_change
        };
        assert_eq!(parse(json!(true)), CodeChange::All);
        assert_eq!(parse(json!(false)), CodeChange::Off);
        let some = parse(json!(["MyApp.Counter"]));
        assert!(some.applies_to("MyApp.Counter"));
        assert!(!some.applies_to("MyApp.Other"));
    }

    #[test]
    fn relative_project_dir_is_resolved_against_cwd() {
        let dir = project();
        let config = validate(&json!({"projectDir": "."}), dir.path()).unwrap();
        assert_eq!(config.project_dir, dir.path().canonicalize().unwrap());
    }

    #[test]
    fn wrong_types_name_the_attribute() {
        let dir = project();
        let cases = [
            (json!({"projectDir": dir.path(), "taskArgs": "run"}), "taskArgs"),
            (json!({"projectDir": dir.path(), "env": {"A": 1}}), "env.A"),
            (json!({"projectDir": dir.path(), "startApps": "yes"}), "startApps"),
            (json!({"projectDir": dir.path(), "breakOnDbg": 1}), "breakOnDbg"),
            (
                json!({"projectDir": dir.path(), "stackTraceMode": "some"}),
                "stackTraceMode",
            ),
            (json!({"projectDir": 42}), "projectDir"),
            (
                json!({"projectDir": dir.path(), "reloadOnSave": "always"}),
                "reloadOnSave",
            ),
            (
                json!({"projectDir": dir.path(), "reloadDebounceMs": -1}),
                "reloadDebounceMs",
            ),
            (
                json!({"projectDir": dir.path(), "reloadWatchPaths": "lib"}),
                "reloadWatchPaths",
            ),
            (
                json!({"projectDir": dir.path(), "reloadCodeChange": "yes"}),
                "reloadCodeChange",
            ),
            (
                json!({"projectDir": dir.path(), "reloadCodeChange": [1]}),
                "reloadCodeChange",
            ),
            (
                json!({"projectDir": dir.path(), "debugBackend": "fast"}),
                "debugBackend",
            ),
            (json!({"projectDir": dir.path(), "debugBackend": 3}), "debugBackend"),
        ];
        for (arguments, field) in cases {
            let err = validate(&arguments, Path::new("/")).unwrap_err();
            assert_eq!(err.field.as_deref(), Some(field), "{arguments}: {}", err.message);
            assert!(err.message.starts_with(&format!("`{field}`")), "{}", err.message);
        }
    }

    #[test]
    fn project_dir_must_hold_mix_exs() {
        let dir = tempfile::tempdir().unwrap();
        let err = validate(&json!({"projectDir": dir.path()}), Path::new("/")).unwrap_err();
        assert!(err.message.contains("has no mix.exs"), "{}", err.message);
        let err = validate(&json!({"projectDir": "/no/such/dir"}), Path::new("/")).unwrap_err();
        assert_eq!(err.message, "`projectDir`: /no/such/dir is not a directory");
    }

    #[test]
    fn unknown_attributes_are_ignored() {
        let dir = project();
        let arguments = json!({"projectDir": dir.path(), "type": "mix_task", "request": "launch", "__sessionId": "x"});
        assert!(validate(&arguments, Path::new("/")).is_ok());
    }

    #[test]
    fn stack_trace_modes() {
        let dir = project();
        for (mode, want) in [
            ("all", StackTraceMode::All),
            ("no_tail", StackTraceMode::NoTail),
            ("false", StackTraceMode::Off),
        ] {
            let config = validate(
                &json!({"projectDir": dir.path(), "stackTraceMode": mode}),
                Path::new("/"),
            )
            .unwrap();
            assert_eq!(config.args.stack_trace_mode, Some(want));
        }
    }
}
