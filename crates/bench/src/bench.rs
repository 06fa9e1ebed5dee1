//! What every measurement works with: the run's [`BenchConfig`], the
//! [`SizeContext`] of one size (its generated project, sessions of the real
//! `elixir-dap`, the plain-Mix VM), the [`Features`] the probe found, and the
//! timeouts. The run itself is in [`crate::runner`], which measurements do
//! not import (this module imports no measurement either).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::dap_client::{DapClient, DapError};
use crate::generator::{EditTarget, Project};
use crate::mix_vm::{self, MixVm};

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub sizes: Vec<usize>,
    /// Repetitions of each measurement.
    pub reps: usize,
    /// Repetitions of the hub macro edit, which recompiles nearly every
    /// module (about a minute at 2 000 modules): fewer than `reps`.
    pub hub_reps: usize,
    pub seed: u64,
    pub quick: bool,
    /// The `elixir-dap` binary to drive.
    pub adapter: PathBuf,
    /// The adapter's `--log-level` in every session ([`DEFAULT_ADAPTER_LOG_LEVEL`]
    /// when measuring; `info,beam::channel=debug` logs each agent call's
    /// duration, to see where a launch or a reload spends its time).
    pub adapter_log_level: String,
    /// Where projects, adapter logs and VM output go; a fresh temporary
    /// directory (removed afterwards) when `None`.
    pub work_dir: Option<PathBuf>,
    /// Only these measurements (by key); all when `None`.
    pub only: Option<Vec<String>>,
}

/// The adapter's log level when measuring: a line per session event, not
/// per agent call.
pub const DEFAULT_ADAPTER_LOG_LEVEL: &str = "info";

/// Timeouts: generous, because a wrong number is worse than a slow run, but
/// finite, so a hang becomes an error naming what did not arrive.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// A launch that compiles the whole project: a minute per 1 000 modules on
/// a slow machine, plus the VM's start. Also the bound of other waits that
/// grow with the project (a serial `:int.ni/1` loop).
pub fn compile_timeout(modules: usize) -> Duration {
    Duration::from_secs(120 + 60 * (modules as u64).div_ceil(1000))
}

/// The launch configuration every session uses: what an ElixirLS user's
/// `mix run --no-halt` configuration sends, nothing more (so debugger
/// defaults such as `debugAutoInterpretAllModules` apply).
pub fn launch_arguments(project: &Path) -> Value {
    json!({
        "type": "mix_task",
        "request": "launch",
        "name": "elixir-dap-bench",
        "projectDir": project,
        "task": "run",
        "taskArgs": ["--no-halt"],
        // Named: on OTP 28+ the default, `auto`, picks the native backend,
        // which the `_native` measurements name (`DebugBackend`).
        "debugBackend": "interpreter",
    })
}

/// What the adapter prints once it has interpreted the selected modules at
/// launch: `elixir-dap: interpreted N modules in X ms`. Returns `(N, X)`.
pub fn interpretation_line(text: &str) -> Option<(usize, f64)> {
    let rest = text.split("elixir-dap: interpreted ").nth(1)?;
    let (count, rest) = rest.split_once(" modules in ")?;
    let (ms, _) = rest.split_once(" ms")?;
    Some((count.trim().parse().ok()?, ms.trim().parse().ok()?))
}

/// Which debugger runs the program's code in a session: the launch
/// attribute `debugBackend` (docs/protocol.md), always named, since the
/// adapter's default (`auto`) depends on the BEAM (native on OTP 28+). The
/// measurements without a backend in their key run on the interpreter;
/// those ending in `_native` on OTP 28+'s native debugger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DebugBackend {
    Interpreter,
    Native,
}

impl DebugBackend {
    /// The value of `debugBackend`, and the backend's name in the report.
    pub fn name(self) -> &'static str {
        match self {
            DebugBackend::Interpreter => "interpreter",
            DebugBackend::Native => "native",
        }
    }

    /// The launch attributes that choose this backend ([`launch_arguments`]
    /// names the interpreter already).
    pub fn launch_attributes(self) -> Value {
        match self {
            DebugBackend::Interpreter => json!({"debugBackend": "interpreter"}),
            DebugBackend::Native => json!({"debugBackend": "native"}),
        }
    }
}

/// What the adapter prints on the console when a session runs on the native
/// backend (`elixir-dap: debugger backend: native (...)`): a native session
/// is only measured once the adapter said so, so that an adapter that
/// ignores `debugBackend` is never timed as the native backend.
pub const NATIVE_BACKEND_NOTE: &str = "elixir-dap: debugger backend: native";

/// Why the native backend cannot run on a BEAM of OTP release `otp` (as
/// `erlang:system_info(otp_release)` gives it: `"25"`), or `None` when it
/// can (OTP 28 or later).
pub fn native_backend_unsupported(otp: &str) -> Option<String> {
    match otp.trim().parse::<u32>() {
        Ok(release) if release >= 28 => None,
        Ok(release) => Some(format!(
            "the native debugger backend (debugBackend \"native\": OTP's erl_debugger, a VM started with +D) \
             needs OTP 28 or later; this BEAM is OTP {release}"
        )),
        Err(_) => Some(format!(
            "the native debugger backend needs OTP 28 or later; this BEAM's OTP release {otp:?} is not a number"
        )),
    }
}

/// Everything a measurement of one size may use.
pub struct SizeContext<'a> {
    pub config: &'a BenchConfig,
    pub project: Project,
    /// The generated project.
    pub root: PathBuf,
    /// Adapter logs and VM output of this size.
    pub logs: PathBuf,
    /// What the probe session learnt about the adapter's features.
    pub features: &'a Features,
    /// `VmHWM` of every adapter process at the end of its session, in KiB.
    pub session_peak_rss_kib: Vec<u64>,
    /// The plain-Mix VM, started by the first measurement that needs it.
    mix_vm: Option<MixVm>,
    /// The next edit generation: each edit writes new content (see
    /// `ConstantEdit::value`).
    generation: u64,
    /// When Mix last compiled in this project (see [`Self::write_edits`]):
    /// a launch's compile has ended by `initialized`, a session's by its end.
    last_compile: SystemTime,
    sessions: u32,
    /// `(modules, ms)` of the interpretation at launch, as the adapter
    /// reported it, for each session started by [`Self::launch_session`]
    /// since the project was compiled.
    pub interpretations: Vec<(usize, f64)>,
    /// Milliseconds of the first native-backend launch of this size, which
    /// compiled the project with line debug info into the backend's own
    /// build path (see [`Self::prepare_native`]); `None` until then.
    pub first_native_launch_ms: Option<f64>,
    /// The build paths native sessions named (see [`Self::remove_native_builds`]).
    native_builds: Vec<PathBuf>,
    log: &'a mut dyn FnMut(&str),
}

impl<'a> SizeContext<'a> {
    /// The context of a size whose project has just been written to `root`
    /// (not compiled yet); no session has run.
    pub fn new(
        config: &'a BenchConfig,
        project: Project,
        root: PathBuf,
        logs: PathBuf,
        features: &'a Features,
        log: &'a mut dyn FnMut(&str),
    ) -> Self {
        SizeContext {
            config,
            project,
            root,
            logs,
            features,
            session_peak_rss_kib: Vec::new(),
            mix_vm: None,
            generation: 0,
            last_compile: SystemTime::now(),
            sessions: 0,
            interpretations: Vec::new(),
            first_native_launch_ms: None,
            native_builds: Vec::new(),
            log,
        }
    }

    pub fn modules(&self) -> usize {
        self.project.options.modules
    }

    pub fn log(&mut self, line: &str) {
        (self.log)(line);
    }

    /// Makes the next edit generations follow `generation`: for a second
    /// context on a project another context has edited already.
    pub fn resume_generations_after(&mut self, generation: u64) {
        self.generation = self.generation.max(generation);
    }

    pub fn next_generation(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }

    /// Starts a fresh adapter and sends `initialize`.
    fn start_adapter(&mut self) -> Result<DapClient, String> {
        self.sessions += 1;
        let log_file = self.logs.join(format!("adapter-{}.log", self.sessions));
        let mut dap = DapClient::spawn(&self.config.adapter, &log_file, &self.config.adapter_log_level).map_err(err)?;
        dap.request_ok(
            "initialize",
            json!({"clientID": "elixir-dap-bench", "adapterID": "elixir", "linesStartAt1": true,
                   "columnsStartAt1": true, "pathFormat": "path"}),
            TIMEOUT,
        )
        .map_err(err)?;
        Ok(dap)
    }

    /// Starts a fresh adapter and launches the project: initialize, launch
    /// (its response), `initialized`, configurationDone, then waits for the
    /// workload's start line. Returns the session and the milliseconds from
    /// the adapter's spawn to that line. Records the interpretation time the
    /// adapter printed in [`Self::interpretations`].
    pub fn launch_session(&mut self, launch_timeout: Duration) -> Result<(DapClient, f64), String> {
        self.launch_session_with(json!({}), launch_timeout)
    }

    /// [`Self::launch_session`] with `extra` launch attributes added. These
    /// sessions interpret every selected module before the task starts
    /// (`lazyInterpretation: "off"`, unless `extra` says otherwise), so that
    /// the reloads and interpretation they measure are of a fully
    /// interpreted project, as before lazy interpretation; the sessions of
    /// [`Self::launch_to_breakpoint`] take the adapter's defaults.
    pub fn launch_session_with(&mut self, extra: Value, launch_timeout: Duration) -> Result<(DapClient, f64), String> {
        let started = Instant::now();
        let mut dap = self.start_adapter()?;
        let mut arguments = launch_arguments(&self.root);
        if let Some(arguments) = arguments.as_object_mut() {
            arguments.insert("lazyInterpretation".to_owned(), json!("off"));
            if let Some(extra) = extra.as_object() {
                arguments.extend(extra.clone());
            }
        }
        dap.request_ok("launch", arguments, launch_timeout).map_err(err)?;
        // `launch` is answered once the VM is up; the compile ends with `initialized`.
        dap.wait_event("initialized", launch_timeout).map_err(err)?;
        self.last_compile = SystemTime::now();
        dap.request_ok("configurationDone", json!({}), TIMEOUT).map_err(err)?;
        dap.wait_stdout(&self.project.workload.started_marker, TIMEOUT)
            .map_err(err)?;
        let ms = ms_since(started);
        // The adapter prints the line before it runs the task, so it has
        // arrived by now.
        if let Some(line) = dap.outputs("console").into_iter().find_map(interpretation_line) {
            self.interpretations.push(line);
        }
        Ok((dap, ms))
    }

    /// Starts a fresh adapter and launches the project as an editor with a
    /// breakpoint does: initialize, launch, `initialized`, `setBreakpoints`
    /// on `target`'s breakpoint line (which must be verified),
    /// configurationDone, until the `stopped` event. Returns the session,
    /// the milliseconds from the adapter's spawn to that event, and the id
    /// of the stopped thread.
    pub fn launch_to_breakpoint(
        &mut self,
        target: &EditTarget,
        timeout: Duration,
    ) -> Result<(DapClient, f64, i64), String> {
        self.launch_to_breakpoint_on(DebugBackend::Interpreter, target, timeout)
    }

    /// [`Self::launch_to_breakpoint`] on `backend` (its launch attributes
    /// added; a native session must say so on the console, see
    /// [`NATIVE_BACKEND_NOTE`]).
    pub fn launch_to_breakpoint_on(
        &mut self,
        backend: DebugBackend,
        target: &EditTarget,
        timeout: Duration,
    ) -> Result<(DapClient, f64, i64), String> {
        let started = Instant::now();
        let mut dap = self.start_adapter()?;
        let mut arguments = launch_arguments(&self.root);
        if let (Some(arguments), Some(extra)) = (arguments.as_object_mut(), backend.launch_attributes().as_object()) {
            arguments.extend(extra.clone());
        }
        dap.request_ok("launch", arguments, timeout).map_err(err)?;
        dap.wait_event("initialized", timeout).map_err(err)?;
        self.last_compile = SystemTime::now();
        let source = self.root.join(&target.file);
        let response = dap
            .request_ok(
                "setBreakpoints",
                json!({"source": {"path": source}, "breakpoints": [{"line": target.breakpoint_line}]}),
                TIMEOUT,
            )
            .map_err(err)?;
        let breakpoint = &response["body"]["breakpoints"][0];
        if breakpoint["verified"] != true {
            return Err(format!(
                "the breakpoint at {}:{} is not verified: {breakpoint}",
                target.file.display(),
                target.breakpoint_line
            ));
        }
        dap.request_ok("configurationDone", json!({}), TIMEOUT).map_err(err)?;
        let stopped = dap
            .wait_for(
                &format!(
                    "a `stopped` event at {}:{}",
                    target.file.display(),
                    target.breakpoint_line
                ),
                timeout,
                |m| m["type"] == "event" && m["event"] == "stopped",
            )
            .map_err(err)?;
        let ms = ms_since(started);
        if stopped["body"]["reason"] != "breakpoint" {
            return Err(format!("stopped for another reason than the breakpoint: {stopped}"));
        }
        let thread = stopped["body"]["threadId"]
            .as_i64()
            .ok_or_else(|| format!("a `stopped` event without threadId: {stopped}"))?;
        self.note_native_build(check_backend(&dap, backend)?);
        Ok((dap, ms, thread))
    }

    /// Before the first native-backend session of this size: one launch on
    /// the native backend, untimed but recorded in
    /// [`Self::first_native_launch_ms`], which compiles the whole project
    /// with line debug info into the backend's own build path (the
    /// interpreter's sessions compiled into `_build`), so that the measured
    /// native launches find it up to date as the interpreter's do.
    pub fn prepare_native(&mut self) -> Result<(), String> {
        if self.first_native_launch_ms.is_some() {
            return Ok(());
        }
        let interpretations = self.interpretations.len();
        let (dap, ms) = self.launch_session_on(DebugBackend::Native, json!({}), compile_timeout(self.modules()))?;
        self.end_session(dap)?;
        self.interpretations.truncate(interpretations);
        self.first_native_launch_ms = Some(ms);
        let modules = self.modules();
        self.log(&format!(
            "{modules} modules: first native-backend launch (compiles everything with line debug info) {ms:.0} ms"
        ));
        Ok(())
    }

    /// [`Self::launch_session_with`] on `backend`: its launch attributes
    /// and `extra` added; a native session must say so on the console.
    pub fn launch_session_on(
        &mut self,
        backend: DebugBackend,
        extra: Value,
        launch_timeout: Duration,
    ) -> Result<(DapClient, f64), String> {
        let mut attributes = backend.launch_attributes();
        if let (Some(attributes), Some(extra)) = (attributes.as_object_mut(), extra.as_object()) {
            attributes.extend(extra.clone());
        }
        let (dap, ms) = self.launch_session_with(attributes, launch_timeout)?;
        self.note_native_build(check_backend(&dap, backend)?);
        Ok((dap, ms))
    }

    fn note_native_build(&mut self, path: Option<PathBuf>) {
        if let Some(path) = path {
            if !self.native_builds.contains(&path) {
                self.native_builds.push(path);
            }
        }
    }

    /// Removes the native backend's build paths of this size's project (in
    /// the adapter's cache, outside the work directory): the next run
    /// generates the project again, so they would only fill the disk (about
    /// 20 MB at 2 000 modules).
    pub fn remove_native_builds(&mut self) {
        for path in std::mem::take(&mut self.native_builds) {
            match std::fs::remove_dir_all(&path) {
                Ok(()) => self.log(&format!("removed the native backend's build path {}", path.display())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => self.log(&format!("cannot remove {}: {e}", path.display())),
            }
        }
    }

    /// The reference of [`Self::launch_to_breakpoint`]: the same requests
    /// with `noDebug: true` (the adapter starts no debugger and interprets
    /// nothing; it answers `setBreakpoints` with unverified breakpoints),
    /// until the program reaches the point the debugged launch stops at:
    /// the workload's first iteration, which walks the chain whose first
    /// step holds that breakpoint, prints
    /// [`first_iteration_marker`](crate::generator::Workload::first_iteration_marker)
    /// once done. Returns the session and the milliseconds from the
    /// adapter's spawn to that line.
    pub fn launch_nodebug_to_first_iteration(
        &mut self,
        target: &EditTarget,
        timeout: Duration,
    ) -> Result<(DapClient, f64), String> {
        let started = Instant::now();
        let mut dap = self.start_adapter()?;
        let mut arguments = launch_arguments(&self.root);
        if let Some(object) = arguments.as_object_mut() {
            object.insert("noDebug".to_owned(), json!(true));
        }
        dap.request_ok("launch", arguments, timeout).map_err(err)?;
        dap.wait_event("initialized", timeout).map_err(err)?;
        self.last_compile = SystemTime::now();
        let source = self.root.join(&target.file);
        dap.request_ok(
            "setBreakpoints",
            json!({"source": {"path": source}, "breakpoints": [{"line": target.breakpoint_line}]}),
            TIMEOUT,
        )
        .map_err(err)?;
        dap.request_ok("configurationDone", json!({}), TIMEOUT).map_err(err)?;
        dap.wait_stdout(&self.project.workload.first_iteration_marker, timeout)
            .map_err(err)?;
        Ok((dap, ms_since(started)))
    }

    /// Starts a fresh adapter and launches the project with nothing
    /// interpreted (`debugAutoInterpretAllModules: false`) and a long
    /// expression timeout, up to the `initialized` event: the VM is up, the
    /// project compiled, the debugger started, the task not running yet.
    pub fn launch_uninterpreted(&mut self, expression_timeout: Duration) -> Result<DapClient, String> {
        let mut dap = self.start_adapter()?;
        let mut arguments = launch_arguments(&self.root);
        if let Some(object) = arguments.as_object_mut() {
            object.insert("debugAutoInterpretAllModules".to_owned(), json!(false));
            object.insert(
                "debugExpressionTimeoutMs".to_owned(),
                json!(expression_timeout.as_millis() as u64),
            );
        }
        dap.request_ok("launch", arguments, TIMEOUT).map_err(err)?;
        dap.wait_event("initialized", TIMEOUT).map_err(err)?;
        self.last_compile = SystemTime::now();
        Ok(dap)
    }

    /// Waits until the session's workload has walked every chain once
    /// ([`first_round_marker`](crate::generator::Workload::first_round_marker)).
    /// A measurement of a running session starts there, not while the
    /// interpreter's caches are cold: in the first second after the start
    /// at 2 000 modules, a one-file reload took 45 ms, falling to 24 ms
    /// once every chain had run (the hold waits for slow iterations).
    pub fn wait_first_round(&self, dap: &mut DapClient) -> Result<(), String> {
        // Interpreted iterations take longer than the pause between them.
        let timeout = TIMEOUT + Duration::from_millis(self.project.workload.round_ms().saturating_mul(10));
        dap.wait_stdout(&self.project.workload.first_round_marker, timeout)
            .map_err(err)
    }

    /// Records the adapter's peak RSS, then disconnects (terminating the
    /// debuggee) and waits for the adapter to exit.
    pub fn end_session(&mut self, mut dap: DapClient) -> Result<(), String> {
        self.record_peak_rss(&dap)?;
        dap.request_ok("disconnect", json!({"terminateDebuggee": true}), TIMEOUT)
            .map_err(err)?;
        self.last_compile = SystemTime::now();
        dap.finish(TIMEOUT).map_err(err)?;
        Ok(())
    }

    pub fn record_peak_rss(&mut self, dap: &DapClient) -> Result<(), String> {
        let kib = dap.peak_rss_kib().map_err(err)?;
        self.session_peak_rss_kib.push(kib);
        Ok(())
    }

    /// The plain-Mix VM of this size, started (and warmed up by one
    /// uncounted recompile, which loads the compiler) on first use.
    pub fn mix_vm(&mut self) -> Result<&mut MixVm, String> {
        if self.mix_vm.is_none() {
            let script = self.logs.join("recompile_server.exs");
            std::fs::write(&script, mix_vm::SCRIPT).map_err(|e| format!("{}: {e}", script.display()))?;
            let stderr = self.logs.join("mix-vm.stderr");
            let vm = MixVm::start(&self.root, &script, &stderr, compile_timeout(self.modules()))?;
            self.last_compile = SystemTime::now();
            self.mix_vm = Some(vm);
            let target = self
                .project
                .edit_targets
                .last()
                .cloned()
                .ok_or("the project has no edit target")?;
            let generation = self.next_generation();
            let edited = target.edit(&self.root, generation).map_err(|e| e.to_string())?;
            self.write_edits(&[(target.file.clone(), edited)])?;
            self.recompile("warmup")?;
        }
        self.mix_vm.as_mut().ok_or_else(|| "no Mix VM".to_owned())
    }

    /// Recompiles in the plain-Mix VM (started already by [`Self::mix_vm`]).
    pub fn recompile(&mut self, label: &str) -> Result<mix_vm::Recompile, String> {
        let timeout = compile_timeout(self.modules());
        let vm = self.mix_vm.as_mut().ok_or("the Mix VM is not running")?;
        let result = vm.recompile(label, timeout);
        self.last_compile = SystemTime::now();
        result
    }

    /// Writes edited files (paths relative to the project). Mix on Elixir
    /// 1.14 compares modification times in whole seconds, so the files are
    /// written in a later second than Mix's last compile, else it would
    /// see no change; the wait is not part of any timing.
    /// Saves one file as Vim and many editors do: the new content goes to a
    /// hidden file beside it, which is renamed over it. Returns when the
    /// rename is done (the instant a watcher can see the save).
    pub fn save_by_rename(&mut self, file: &Path, contents: &str) -> Result<Instant, String> {
        self.wait_for_next_second();
        let path = self.root.join(file);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = path.with_file_name(format!(".{name}.elixir-dap-bench.tmp"));
        std::fs::write(&temp, contents).map_err(|e| format!("{}: {e}", temp.display()))?;
        std::fs::rename(&temp, &path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Instant::now())
    }

    /// Mix on Elixir 1.14 compares modification times in whole seconds: an
    /// edit goes in a later second than the last compile.
    fn wait_for_next_second(&self) {
        let last = self.last_compile.duration_since(UNIX_EPOCH).unwrap_or_default();
        let next_second = Duration::from_secs(last.as_secs() + 1) + Duration::from_millis(50);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        if let Some(wait) = next_second.checked_sub(now) {
            // Waiting for the clock, not for an event.
            std::thread::sleep(wait);
        }
    }

    pub fn write_edits(&mut self, edits: &[(PathBuf, String)]) -> Result<(), String> {
        self.wait_for_next_second();
        for (file, contents) in edits {
            let path = self.root.join(file);
            std::fs::write(&path, contents).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(())
    }

    pub(crate) fn stop_mix_vm(&mut self) {
        if let Some(vm) = self.mix_vm.take() {
            vm.stop(TIMEOUT);
        }
    }
}

/// What the probe session found the adapter answers; measurements of
/// features not built yet say why they were skipped from this.
#[derive(Debug, Clone, Default)]
pub struct Features {
    pub adapter_version: String,
    pub capabilities: Value,
    /// For each probed request, `None` if the adapter knows it, else its
    /// error message (`unknown request ...`).
    pub probes: Vec<(String, Option<String>)>,
    /// Why the measurements on the native backend are not taken on this
    /// BEAM (see [`native_backend_unsupported`]), or `None`: they are.
    pub native_backend_unsupported: Option<String>,
}

impl Features {
    /// `None` if the adapter handles `command`, else why not.
    pub fn missing(&self, command: &str) -> Option<String> {
        match self.probes.iter().find(|(c, _)| c == command) {
            Some((_, None)) => None,
            Some((_, Some(message))) => Some(format!("the adapter answers `{command}` with {message:?}")),
            None => Some(format!("`{command}` was not probed")),
        }
    }
}

/// A native session must have said it runs on the native backend (see
/// [`NATIVE_BACKEND_NOTE`]); returns the build path it named (`None` for
/// an interpreter session, which is not checked: older adapters print no
/// backend).
fn check_backend(dap: &DapClient, backend: DebugBackend) -> Result<Option<PathBuf>, String> {
    if backend == DebugBackend::Interpreter {
        return Ok(None);
    }
    let console = dap.outputs("console");
    let note = console.iter().find(|l| l.contains(NATIVE_BACKEND_NOTE)).ok_or_else(|| {
        format!(
            "launched with debugBackend \"native\", but the adapter did not print {NATIVE_BACKEND_NOTE:?} on the console: \
             the session may not run on the native backend; console: {console:?}"
        )
    })?;
    Ok(native_build_path(note))
}

/// The build path the native backend's console note names (`... compiled
/// with line debug info into <cache>/native-build/<project>-<hash>/<env>`):
/// the `<project>-<hash>` directory, or `None` if the note names none under
/// a `native-build` directory.
pub fn native_build_path(note: &str) -> Option<PathBuf> {
    let (_, path) = note.trim_end().rsplit_once(" into ")?;
    let path = Path::new(path);
    path.ancestors()
        .find(|p| {
            p.parent()
                .and_then(Path::file_name)
                .is_some_and(|n| n == "native-build")
        })
        .map(Path::to_path_buf)
}

/// Where a size's project is generated in the run's work directory (it
/// stays there until a run of the same size in that directory starts).
pub fn project_dir(work_dir: &Path, modules: usize) -> PathBuf {
    work_dir.join(format!("project-{modules}"))
}

pub fn ms_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

pub(crate) fn err(e: DapError) -> String {
    e.0
}

#[cfg(test)]
mod tests {
    use super::{native_backend_unsupported, native_build_path, DebugBackend};
    use serde_json::json;
    use std::path::Path;

    #[test]
    fn the_native_backend_needs_otp_28() {
        assert_eq!(native_backend_unsupported("28"), None);
        assert_eq!(native_backend_unsupported("29"), None);
        let why = native_backend_unsupported("27").unwrap_or_default();
        assert!(why.contains("needs OTP 28 or later; this BEAM is OTP 27"), "{why}");
        let why = native_backend_unsupported("").unwrap_or_default();
        assert!(why.contains("is not a number"), "{why}");
    }

    #[test]
    fn the_native_build_path_is_read_from_the_console_note() {
        let note = "elixir-dap: debugger backend: native (`debugBackend` \"native\": erl_debugger, the VM started \
                    with +D); the project is compiled with line debug info into \
                    /root/.cache/elixir-dap/native-build/project-2000-55382bf769476e96/dev\n";
        assert_eq!(
            native_build_path(note).as_deref(),
            Some(Path::new(
                "/root/.cache/elixir-dap/native-build/project-2000-55382bf769476e96"
            ))
        );
        // Nothing outside a native-build directory is ever named.
        assert_eq!(
            native_build_path("elixir-dap: debugger backend: native; compiled into /home/me"),
            None
        );
        assert_eq!(native_build_path("elixir-dap: debugger backend: native"), None);
    }

    #[test]
    fn every_session_names_its_backend() {
        assert_eq!(
            DebugBackend::Interpreter.launch_attributes(),
            json!({"debugBackend": "interpreter"})
        );
        assert_eq!(
            crate::bench::launch_arguments(Path::new("/p"))["debugBackend"],
            "interpreter"
        );
        assert_eq!(
            DebugBackend::Native.launch_attributes(),
            json!({"debugBackend": "native"})
        );
        assert_eq!(DebugBackend::Native.name(), "native");
    }
}
