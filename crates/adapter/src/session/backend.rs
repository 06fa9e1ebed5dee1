//! `debugBackend` at launch: which debugger runs the program's code, and
//! what the VM needs for it (issue 20; docs/protocol.md, "debugBackend").
//!
//! - `interpreter`: OTP's interpreter (`:int`), on every OTP.
//! - `native`: OTP 28+'s native debugger (`erl_debugger`): the VM runs with
//!   the emulator flag `+D` (added to `ELIXIR_ERL_OPTIONS`, which Elixir's
//!   `elixir` script passes to `erl`), and the project is compiled with line
//!   debug info (`ERL_COMPILER_OPTIONS`, see [`compiler_options`]) into a
//!   build path of this adapter's cache (the agent sets `MIX_BUILD_PATH` once
//!   Mix's environment is known, `elixir_dap_agent:native_build/1`), so the
//!   user's `_build` stays as Mix left it. An emulator before OTP 28 refuses `+D` and exits: a short
//!   probe (`elixir --erl "+D -version"`, the emulator prints its version
//!   and exits, ~0.1 s) finds that out before the launch, so that the launch
//!   fails naming `debugBackend` instead of a VM that died at start.
//! - `auto` (the default): the interpreter for now, said on the console,
//!   since the native backend cannot attach yet and the integration suite
//!   does not run on it whole.

use super::*;
use crate::launch::DebugBackend;
use std::hash::{Hash, Hasher};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Stdio;

/// How long the `+D` probe may take (the emulator starts and exits).
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// The backend a launch runs on: the VM's extra environment and the
/// console line that says which backend and why.
pub(super) struct ChosenBackend {
    pub env: Vec<(String, Option<String>)>,
    pub note: String,
}

/// Resolves `debugBackend` for a launch. Errors (user's): `native` with a
/// VM whose emulator refuses `+D` (OTP 27 or earlier), or whose probe could
/// not run.
pub(super) async fn choose(config: &LaunchConfig, cache_root: &Path) -> Result<ChosenBackend, RequestError> {
    let requested = config.args.debug_backend;
    match requested {
        _ if config.args.no_debug => Ok(ChosenBackend {
            env: Vec::new(),
            note: String::new(),
        }),
        DebugBackend::Interpreter => Ok(ChosenBackend {
            env: Vec::new(),
            note: "elixir-dap: debugger backend: interpreter (`debugBackend` \"interpreter\")".into(),
        }),
        DebugBackend::Auto => Ok(ChosenBackend {
            env: Vec::new(),
            note: "elixir-dap: debugger backend: interpreter (`debugBackend` \"auto\" keeps OTP's interpreter \
                   for now; \"native\" uses erl_debugger on OTP 28+)"
                .into(),
        }),
        DebugBackend::Native => {
            probe_plus_d(config).await?;
            let root = build_root(cache_root, &config.project_dir);
            claim_build_root(&root, &config.project_dir);
            Ok(ChosenBackend {
                env: vec![
                    ("ELIXIR_ERL_OPTIONS".into(), Some(erl_options_with_plus_d(config))),
                    ("ERL_COMPILER_OPTIONS".into(), Some(compiler_options(config))),
                    ("ELIXIR_DAP_BACKEND".into(), Some("native".into())),
                    ("ELIXIR_DAP_BUILD_ROOT".into(), Some(root.display().to_string())),
                ],
                note: format!(
                    "elixir-dap: debugger backend: native (`debugBackend` \"native\": erl_debugger, the VM \
                     started with +D); the project is compiled with line debug info into {}",
                    root.display()
                ),
            })
        }
    }
}

/// Where the native backend's builds of a project live: one directory per
/// project under the adapter's cache (`native-build/<name>-<hash of the
/// path>`; Mix's environment is a level below), kept between sessions so
/// that Mix compiles only what changed.
pub(super) fn build_root(cache_root: &Path, project_dir: &Path) -> PathBuf {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    project_dir.hash(&mut hasher);
    let name = project_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    cache_root
        .join("native-build")
        .join(format!("{name}-{:016x}", hasher.finish()))
}

/// The file in a build root that names the project it builds.
const PROJECT_FILE: &str = "project-dir";

/// Records which project `root` builds, and removes the build roots of
/// projects that no longer exist (each holds a compiled project; a
/// temporary project, a test's say, would leave its root behind for ever).
/// Best effort: a failure only leaves a directory in the cache.
fn claim_build_root(root: &Path, project_dir: &Path) {
    if let Err(error) = std::fs::create_dir_all(root)
        .and_then(|()| std::fs::write(root.join(PROJECT_FILE), project_dir.as_os_str().as_bytes()))
    {
        tracing::warn!(%error, root = %root.display(), "recording the native build's project");
    }
    let Some(Ok(siblings)) = root.parent().map(std::fs::read_dir) else {
        return;
    };
    for sibling in siblings.flatten() {
        let dir = sibling.path();
        let Ok(recorded) = std::fs::read(dir.join(PROJECT_FILE)) else {
            continue;
        };
        // Bytes as written: a path need not be UTF-8.
        let project = Path::new(std::ffi::OsStr::from_bytes(&recorded));
        if dir != root && !project.join("mix.exs").exists() {
            if let Err(error) = std::fs::remove_dir_all(&dir) {
                tracing::warn!(%error, dir = %dir.display(), "removing the native build of a project that is gone");
            }
        }
    }
}

/// `ELIXIR_ERL_OPTIONS` as the VM would see it, with `+D` added.
fn erl_options_with_plus_d(config: &LaunchConfig) -> String {
    match inherited(config, "ELIXIR_ERL_OPTIONS") {
        Some(options) => format!("{options} +D"),
        None => "+D".into(),
    }
}

/// The variable's value as the VM would see it: the launch's `env` first,
/// then the adapter's.
fn inherited(config: &LaunchConfig, name: &str) -> Option<String> {
    match config.args.env.get(name) {
        Some(value) => value.clone(),
        None => std::env::var(name).ok(),
    }
    .filter(|value| !value.trim().is_empty())
}

/// `ERL_COMPILER_OPTIONS` for line debug info, the user's options kept
/// after ours. The Erlang compiler's `beam_debug_info` gives each line a
/// `debug_line` (a breakable line) and the variables' registers (the `DbgB`
/// chunk). Elixir 1.20.4 drops that option on its own compile path but keeps
/// it when a parse transform sends the module through OTP's normal one
/// (measured on OTP 29 / Elixir 1.20.4: `ms_transform` changes nothing in
/// code without match specifications). Elixir reads the variable when the
/// VM starts it, so it is set here rather than by the agent.
fn compiler_options(config: &LaunchConfig) -> String {
    const OURS: &str = "beam_debug_info,{parse_transform,ms_transform}";
    match inherited(config, "ERL_COMPILER_OPTIONS") {
        None => format!("[{OURS}]"),
        Some(theirs) => match theirs.trim().strip_prefix('[') {
            Some(rest) if rest.trim_start().starts_with(']') => format!("[{OURS}]"),
            Some(rest) => format!("[{OURS},{rest}"),
            None => format!("[{OURS},{}]", theirs.trim()),
        },
    }
}

/// Runs `elixir --erl "+D -version"` as the launch would run `elixir`:
/// an emulator that knows `+D` (OTP 28+) prints its version and exits 0;
/// an older one exits 1 with "unknown flag -D".
async fn probe_plus_d(config: &LaunchConfig) -> Result<(), RequestError> {
    let mut command = tokio::process::Command::new(&config.elixir);
    command
        .args(["--erl", "+D -version", "-e", ":ok"])
        .current_dir(&config.project_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (name, value) in &config.args.env {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
    let refused = |why: String| {
        RequestError::User(format!(
            "launch: `debugBackend`: \"native\" needs OTP 28 or later (OTP's native debugger, erl_debugger, \
             in a VM started with +D): {why}; use \"interpreter\" or \"auto\" on this VM"
        ))
    };
    let output = match tokio::time::timeout(PROBE_TIMEOUT, command.output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(error)) => {
            return Err(refused(format!(
                "could not run `{}` to check the VM: {error}",
                config.elixir.display()
            )))
        }
        Err(_) => {
            return Err(refused(format!(
                "`{} --erl \"+D -version\"` did not exit within {} s",
                config.elixir.display(),
                PROBE_TIMEOUT.as_secs()
            )))
        }
    };
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let first = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    Err(refused(if first.contains("unknown flag -D") {
        "this VM's emulator does not know the flag +D (OTP 27 or earlier)".to_owned()
    } else {
        format!(
            "`{} --erl \"+D -version\"` failed ({}){}",
            config.elixir.display(),
            output.status,
            if first.is_empty() {
                String::new()
            } else {
                format!(": {first}")
            }
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_roots_are_per_project_under_the_cache() {
        let cache = Path::new("/cache");
        let a = build_root(cache, Path::new("/src/shop"));
        assert!(a.starts_with("/cache/native-build"));
        assert!(a.file_name().unwrap().to_string_lossy().starts_with("shop-"));
        assert_eq!(a, build_root(cache, Path::new("/src/shop")));
        assert_ne!(a, build_root(cache, Path::new("/other/shop")));
    }

    /// A launch claims its build root and removes those of projects that
    /// are gone (a root without the record, someone else's, is left alone).
    #[test]
    fn build_roots_of_projects_that_are_gone_are_removed() {
        let cache = tempfile::tempdir().unwrap();
        let project = |name: &str| {
            let dir = tempfile::Builder::new().prefix(name).tempdir().unwrap();
            std::fs::write(dir.path().join("mix.exs"), "").unwrap();
            dir
        };
        let (kept, gone, current) = (project("kept"), project("gone"), project("current"));
        let root = |p: &tempfile::TempDir| build_root(cache.path(), p.path());
        claim_build_root(&root(&kept), kept.path());
        claim_build_root(&root(&gone), gone.path());
        let unrecorded = cache.path().join("native-build/other");
        std::fs::create_dir_all(&unrecorded).unwrap();
        let gone_root = root(&gone);
        drop(gone);

        claim_build_root(&root(&current), current.path());
        assert!(!gone_root.exists(), "the root of a project that is gone is removed");
        assert!(root(&kept).exists() && unrecorded.exists());
        let recorded = std::fs::read_to_string(root(&current).join(PROJECT_FILE)).unwrap();
        assert_eq!(Path::new(&recorded), current.path());
    }

    fn config(env: serde_json::Value) -> LaunchConfig {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mix.exs"), "").unwrap();
        crate::launch::validate(&json!({"projectDir": dir.path(), "env": env}), Path::new("/")).unwrap()
    }

    #[test]
    fn the_users_compiler_and_emulator_options_are_kept() {
        let ours = "beam_debug_info,{parse_transform,ms_transform}";
        let unset = json!({"ERL_COMPILER_OPTIONS": null, "ELIXIR_ERL_OPTIONS": null});
        assert_eq!(compiler_options(&config(unset.clone())), format!("[{ours}]"));
        assert_eq!(erl_options_with_plus_d(&config(unset)), "+D");
        let list = json!({"ERL_COMPILER_OPTIONS": "[debug_info, warn_unused]", "ELIXIR_ERL_OPTIONS": "+S 2"});
        assert_eq!(
            compiler_options(&config(list.clone())),
            format!("[{ours},debug_info, warn_unused]")
        );
        assert_eq!(erl_options_with_plus_d(&config(list)), "+S 2 +D");
        let one = json!({"ERL_COMPILER_OPTIONS": "report"});
        assert_eq!(compiler_options(&config(one)), format!("[{ours},report]"));
        let empty = json!({"ERL_COMPILER_OPTIONS": "[]"});
        assert_eq!(compiler_options(&config(empty)), format!("[{ours}]"));
    }
}
