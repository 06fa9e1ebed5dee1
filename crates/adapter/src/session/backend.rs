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
//!   fails naming `debugBackend` instead of a VM that died at start. An
//!   emulator that knows `+D` enables `erl_debugger` with it (ERTS sets the
//!   debugger's flag when it parses `-D`), so the probe is the whole check.
//! - `auto` (the default): native where the VM and Elixir's compile path
//!   support it, else the interpreter, said on the console with the reason
//!   ([`resolve_auto`]): the same probe, then Elixir's version (`elixir
//!   --short-version`, which the `elixir` script answers without starting a
//!   VM). Every Elixir from 1.14 to 1.20 compiles with line debug info
//!   through the route of [`compiler_options`] (its `erl_to_core` sends a
//!   module with a parse transform through OTP's compile path; read in
//!   Elixir's sources at each release tag); the route is marked for removal
//!   in Elixir 2.0, so a later major version gets the interpreter.

use super::*;
use crate::launch::DebugBackend;
use std::hash::{Hash, Hasher};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Stdio;

/// How long the `+D` probe may take (the emulator starts and exits).
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// The backend a launch runs on: the VM's extra environment, and what to
/// say on the console once the VM has said which OTP it runs ([`Self::note`]).
pub(super) struct ChosenBackend {
    pub env: Vec<(String, Option<String>)>,
    choice: Choice,
}

/// What [`choose`] decided, and why.
#[derive(Debug, Clone, PartialEq)]
enum Choice {
    /// `noDebug`: no debugger, nothing to say.
    NoDebug,
    /// The interpreter, as asked.
    Interpreter,
    /// `auto` fell back to the interpreter.
    AutoInterpreter(Fallback),
    /// The native backend (asked for, or chosen by `auto`), compiling into `root`.
    Native { requested: DebugBackend, root: PathBuf },
}

impl ChosenBackend {
    /// The backend `debugBackend` resolved to: `Native` or `Interpreter`
    /// (also for `noDebug`, which runs no debugger).
    pub fn resolved(&self) -> DebugBackend {
        match self.choice {
            Choice::Native { .. } => DebugBackend::Native,
            _ => DebugBackend::Interpreter,
        }
    }

    /// The console line that says which backend runs and why, worded with
    /// the VM's OTP release (`otp_release`, from the agent's hello); empty
    /// with `noDebug`.
    pub fn note(&self, otp_release: &str) -> String {
        note(&self.choice, otp_release)
    }
}

fn note(choice: &Choice, otp: &str) -> String {
    const PREFIX: &str = "elixir-dap: debugger backend:";
    match choice {
        Choice::NoDebug => String::new(),
        Choice::Interpreter => format!("{PREFIX} interpreter (`debugBackend` \"interpreter\")"),
        Choice::AutoInterpreter(why) => format!(
            "{PREFIX} interpreter (`debugBackend` \"auto\": {}; OTP's interpreter runs the debugged modules, \
             about 250-500x slower than native code)",
            why.describe(otp)
        ),
        // The build path last: the bench reads it there (`native_build_path`).
        Choice::Native {
            requested: DebugBackend::Auto,
            root,
        } => format!(
            "{PREFIX} native (`debugBackend` \"auto\": erl_debugger, OTP {otp}'s native debugger, the VM started \
             with +D; \"interpreter\" runs OTP's interpreter instead, see docs/protocol.md for what differs); the \
             project is compiled with line debug info into {}",
            root.display()
        ),
        Choice::Native { requested, root } => format!(
            "{PREFIX} native (`debugBackend` \"{}\": erl_debugger, the VM started with +D); the project is \
             compiled with line debug info into {}",
            requested.as_str(),
            root.display()
        ),
    }
}

/// What the `+D` probe found out about the VM's emulator.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum PlusD {
    /// It knows `+D` (OTP 28+): `erl_debugger` runs under it.
    Known,
    /// It refused `+D` as an unknown flag: OTP 27 or earlier.
    Unknown,
    /// The probe could not tell: why.
    Failed(String),
}

/// Why `auto` runs the interpreter.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Fallback {
    /// The emulator has no `erl_debugger` (OTP 27 or earlier).
    NoNativeDebugger,
    /// The `+D` probe failed: why.
    ProbeFailed(String),
    /// Elixir's version: its compile path is not known to give line debug
    /// info (a later major version), or it could not be read (why).
    ElixirRoute(Result<String, String>),
}

impl Fallback {
    fn describe(&self, otp: &str) -> String {
        match self {
            Fallback::NoNativeDebugger => format!(
                "OTP {otp} has no native debugger (erl_debugger comes with OTP 28; its emulator does not know +D)"
            ),
            Fallback::ProbeFailed(why) => format!("whether this VM has the native debugger is unknown: {why}"),
            Fallback::ElixirRoute(Ok(version)) => format!(
                "Elixir {version} is not known to compile with line debug info, which the native debugger needs \
                 (Elixir 1.x does, through a parse transform, a route Elixir marks for removal in 2.0; \"native\" \
                 tries it anyway)"
            ),
            Fallback::ElixirRoute(Err(why)) => format!(
                "Elixir's version, which says whether the project can be compiled with line debug info for the \
                 native debugger, is unknown: {why}"
            ),
        }
    }
}

/// `auto`'s rule: native when the emulator knows `+D` (`plus_d`) and
/// Elixir (`elixir`: its version, or why it is unknown) compiles with line
/// debug info through [`compiler_options`]'s route (Elixir 1.x); else why
/// not.
pub(super) fn resolve_auto(plus_d: &PlusD, elixir: &Result<String, String>) -> Result<(), Fallback> {
    match plus_d {
        PlusD::Unknown => return Err(Fallback::NoNativeDebugger),
        PlusD::Failed(why) => return Err(Fallback::ProbeFailed(why.clone())),
        PlusD::Known => {}
    }
    let version = elixir.clone().map_err(|why| Fallback::ElixirRoute(Err(why)))?;
    let major = version.trim().split('.').next().and_then(|m| m.parse::<u32>().ok());
    match major {
        Some(1) => Ok(()),
        Some(_) => Err(Fallback::ElixirRoute(Ok(version.trim().to_owned()))),
        None => Err(Fallback::ElixirRoute(Err(format!(
            "`elixir --short-version` answered {version:?}"
        )))),
    }
}

/// The refusal of `debugBackend: "native"` when the emulator lacks
/// `erl_debugger` or the probe failed (user's: it names the attribute).
fn native_refused(plus_d: &PlusD) -> Option<RequestError> {
    let why = match plus_d {
        PlusD::Known => return None,
        PlusD::Unknown => "this VM's emulator does not know the flag +D (OTP 27 or earlier)",
        PlusD::Failed(why) => why,
    };
    Some(RequestError::User(format!(
        "launch: `debugBackend`: \"native\" needs OTP 28 or later (OTP's native debugger, erl_debugger, \
         in a VM started with +D): {why}; use \"interpreter\" or \"auto\" on this VM"
    )))
}

/// Resolves `debugBackend` for a launch. Errors (user's): `native` with a
/// VM whose emulator refuses `+D` (OTP 27 or earlier), or whose probe could
/// not run.
pub(super) async fn choose(config: &LaunchConfig, cache_root: &Path) -> Result<ChosenBackend, RequestError> {
    let requested = config.args.debug_backend;
    let choice = match requested {
        _ if config.args.no_debug => Choice::NoDebug,
        DebugBackend::Interpreter => Choice::Interpreter,
        DebugBackend::Auto => {
            let plus_d = probe_plus_d(config).await;
            let elixir = match plus_d {
                PlusD::Known => elixir_version(config).await,
                _ => Err(String::new()),
            };
            match resolve_auto(&plus_d, &elixir) {
                Ok(()) => Choice::Native {
                    requested,
                    root: build_root(cache_root, &config.project_dir),
                },
                Err(why) => Choice::AutoInterpreter(why),
            }
        }
        DebugBackend::Native => {
            if let Some(refused) = native_refused(&probe_plus_d(config).await) {
                return Err(refused);
            }
            Choice::Native {
                requested,
                root: build_root(cache_root, &config.project_dir),
            }
        }
    };
    let env = match &choice {
        Choice::Native { root, .. } => {
            claim_build_root(root, &config.project_dir);
            vec![
                ("ELIXIR_ERL_OPTIONS".into(), Some(erl_options_with_plus_d(config))),
                ("ERL_COMPILER_OPTIONS".into(), Some(compiler_options(config))),
                ("ELIXIR_DAP_BACKEND".into(), Some("native".into())),
                ("ELIXIR_DAP_BUILD_ROOT".into(), Some(root.display().to_string())),
            ]
        }
        _ => Vec::new(),
    };
    Ok(ChosenBackend { env, choice })
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

/// A command that runs the launch's `elixir` as the launch would (in the
/// project, with the launch's `env`), its output captured.
fn elixir_command(config: &LaunchConfig, args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(&config.elixir);
    command
        .args(args)
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
    command
}

/// Runs `command` (shown as `shown`) to its end, within [`PROBE_TIMEOUT`].
async fn run_probe(mut command: tokio::process::Command, shown: &str) -> Result<std::process::Output, String> {
    match tokio::time::timeout(PROBE_TIMEOUT, command.output()).await {
        Ok(Ok(output)) => Ok(output),
        Ok(Err(error)) => Err(format!("could not run `{shown}` to check the VM: {error}")),
        Err(_) => Err(format!("`{shown}` did not exit within {} s", PROBE_TIMEOUT.as_secs())),
    }
}

/// Runs `elixir --erl "+D -version"` as the launch would run `elixir`:
/// an emulator that knows `+D` (OTP 28+) prints its version and exits 0;
/// an older one exits 1 with "unknown flag -D".
async fn probe_plus_d(config: &LaunchConfig) -> PlusD {
    let shown = format!("{} --erl \"+D -version\"", config.elixir.display());
    let output = match run_probe(elixir_command(config, &["--erl", "+D -version", "-e", ":ok"]), &shown).await {
        Ok(output) => output,
        Err(why) => return PlusD::Failed(why),
    };
    if output.status.success() {
        return PlusD::Known;
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let first = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    if first.contains("unknown flag -D") {
        PlusD::Unknown
    } else {
        PlusD::Failed(format!(
            "`{shown}` failed ({}){}",
            output.status,
            if first.is_empty() {
                String::new()
            } else {
                format!(": {first}")
            }
        ))
    }
}

/// Elixir's version from `elixir --short-version` (answered by the
/// `elixir` script itself, no VM started), or why it could not be read.
async fn elixir_version(config: &LaunchConfig) -> Result<String, String> {
    let shown = format!("{} --short-version", config.elixir.display());
    let output = run_probe(elixir_command(config, &["--short-version"]), &shown).await?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    match stdout.lines().next().map(str::trim) {
        Some(version) if output.status.success() && !version.is_empty() => Ok(version.to_owned()),
        _ => Err(format!("`{shown}` failed ({})", output.status)),
    }
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

    /// `auto`, class by class: the emulator that knows +D (OTP 28+) with an
    /// Elixir 1.x runs native; OTP 25 and 27 (no +D) the interpreter, said
    /// with the OTP the VM reported; a probe that failed, and an Elixir
    /// whose compile route is unknown, the interpreter with the reason.
    #[test]
    fn auto_picks_native_where_the_vm_and_elixir_support_it() {
        let elixir = |v: &str| Ok(v.to_owned());
        for version in ["1.18.4", "1.19.5", "1.20.4", "1.21.0-dev"] {
            assert_eq!(resolve_auto(&PlusD::Known, &elixir(version)), Ok(()), "{version}");
        }
        for (otp, elixir_version) in [("25", "1.14.0"), ("27", "1.18.3")] {
            let why = resolve_auto(&PlusD::Unknown, &elixir(elixir_version)).unwrap_err();
            assert_eq!(why, Fallback::NoNativeDebugger);
            let line = note(&Choice::AutoInterpreter(why), otp);
            assert!(
                line.starts_with("elixir-dap: debugger backend: interpreter (`debugBackend` \"auto\": ")
                    && line.contains(&format!("OTP {otp} has no native debugger"))
                    && line.contains("OTP 28"),
                "{line}"
            );
        }
        let failed = PlusD::Failed("`elixir --erl \"+D -version\"` failed (exit status: 2)".into());
        let why = resolve_auto(&failed, &elixir("1.20.4")).unwrap_err();
        let line = note(&Choice::AutoInterpreter(why), "29");
        assert!(
            line.contains("debugger backend: interpreter") && line.contains("exit status: 2"),
            "{line}"
        );

        let why = resolve_auto(&PlusD::Known, &elixir("2.0.0")).unwrap_err();
        assert_eq!(why, Fallback::ElixirRoute(Ok("2.0.0".into())));
        let line = note(&Choice::AutoInterpreter(why), "29");
        assert!(
            line.contains("Elixir 2.0.0 is not known to compile with line debug info"),
            "{line}"
        );
        let unread = resolve_auto(&PlusD::Known, &Err("`elixir --short-version` failed".into())).unwrap_err();
        assert!(note(&Choice::AutoInterpreter(unread), "29").contains("--short-version"));
        let garbage = resolve_auto(&PlusD::Known, &elixir("Erlang/OTP 29")).unwrap_err();
        assert!(matches!(garbage, Fallback::ElixirRoute(Err(_))), "{garbage:?}");
    }

    /// The console lines of the native backend: they begin as the bench
    /// and the tests look for (`debugger backend: native`), say which
    /// value chose it and where the project compiles; `auto` names the OTP.
    #[test]
    fn the_native_note_says_who_chose_it_and_where_it_compiles() {
        let root = PathBuf::from("/cache/native-build/shop-0123");
        let auto = note(
            &Choice::Native {
                requested: DebugBackend::Auto,
                root: root.clone(),
            },
            "29",
        );
        assert!(
            auto.starts_with("elixir-dap: debugger backend: native (`debugBackend` \"auto\": erl_debugger, OTP 29's")
                && auto.contains("/cache/native-build/shop-0123")
                && auto.contains("\"interpreter\""),
            "{auto}"
        );
        let asked = note(
            &Choice::Native {
                requested: DebugBackend::Native,
                root,
            },
            "29",
        );
        assert!(
            asked.starts_with("elixir-dap: debugger backend: native (`debugBackend` \"native\": erl_debugger,"),
            "{asked}"
        );
        assert_eq!(
            note(&Choice::Interpreter, "29"),
            "elixir-dap: debugger backend: interpreter (`debugBackend` \"interpreter\")"
        );
        assert_eq!(note(&Choice::NoDebug, "29"), "");
    }

    /// `native` on a VM without erl_debugger is refused naming the
    /// attribute, as before `auto` could pick native; on OTP 28+ it is not.
    #[test]
    fn explicit_native_on_an_old_otp_is_refused_naming_debug_backend() {
        assert!(native_refused(&PlusD::Known).is_none());
        for plus_d in [PlusD::Unknown, PlusD::Failed("could not run `elixir`".into())] {
            let Some(RequestError::User(message)) = native_refused(&plus_d) else {
                panic!("{plus_d:?}: not refused as the user's error");
            };
            assert!(
                message.starts_with("launch: `debugBackend`: \"native\" needs OTP 28 or later"),
                "{message}"
            );
        }
        let Some(RequestError::User(message)) = native_refused(&PlusD::Unknown) else {
            unreachable!()
        };
        assert!(
            message.contains("does not know the flag +D (OTP 27 or earlier)"),
            "{message}"
        );
    }

    /// `choose` against stand-in `elixir` scripts that answer as OTP 27's
    /// (refuses +D) and OTP 29's (knows it) emulators do: `auto` resolves to
    /// the interpreter and to native, with the VM's environment to match;
    /// `native` on the old one is refused; `interpreter` and `noDebug` run
    /// no probe.
    #[tokio::test]
    async fn choose_probes_the_vm_as_the_launch_runs_it() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let script = |name: &str, body: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            path
        };
        let old = script(
            "elixir27",
            "[ \"$1\" = --short-version ] && { echo 1.18.3; exit 0; }\n\
             echo \"/usr/lib/erlang/erts-15.2/bin/beam.smp unknown flag -D\" >&2; exit 1",
        );
        let new = script(
            "elixir29",
            "[ \"$1\" = --short-version ] && { echo 1.20.4; exit 0; }\necho 'Erlang (SMP) emulator version 17.0'",
        );
        let cache = tempfile::tempdir().unwrap();
        let project = tempfile::tempdir().unwrap();
        std::fs::write(project.path().join("mix.exs"), "").unwrap();
        let with = |elixir: &Path, backend: &str, no_debug: bool| {
            let mut config = crate::launch::validate(&json!({"projectDir": project.path()}), Path::new("/")).unwrap();
            config.elixir = elixir.to_path_buf();
            config.args.debug_backend = match backend {
                "auto" => DebugBackend::Auto,
                "native" => DebugBackend::Native,
                _ => DebugBackend::Interpreter,
            };
            config.args.no_debug = no_debug;
            config
        };
        let chosen = choose(&with(&old, "auto", false), cache.path()).await.unwrap();
        assert_eq!(chosen.resolved(), DebugBackend::Interpreter);
        assert!(chosen.env.is_empty());
        assert!(
            chosen.note("27").contains("OTP 27 has no native debugger"),
            "{}",
            chosen.note("27")
        );
        assert!(choose(&with(&old, "native", false), cache.path()).await.is_err());

        let chosen = choose(&with(&new, "auto", false), cache.path()).await.unwrap();
        assert_eq!(chosen.resolved(), DebugBackend::Native);
        let backend_env = chosen.env.iter().find(|(k, _)| k == "ELIXIR_DAP_BACKEND");
        assert_eq!(backend_env.and_then(|(_, v)| v.as_deref()), Some("native"));
        assert!(chosen.note("29").contains("\"auto\""), "{}", chosen.note("29"));

        let missing = dir.path().join("no-such-elixir");
        let chosen = choose(&with(&missing, "interpreter", false), cache.path())
            .await
            .unwrap();
        assert_eq!(chosen.resolved(), DebugBackend::Interpreter);
        let chosen = choose(&with(&missing, "auto", true), cache.path()).await.unwrap();
        assert_eq!(
            (chosen.resolved(), chosen.note("29")),
            (DebugBackend::Interpreter, String::new())
        );
        let chosen = choose(&with(&missing, "auto", false), cache.path()).await.unwrap();
        assert!(chosen.note("29").contains("could not run"), "{}", chosen.note("29"));
    }
}
