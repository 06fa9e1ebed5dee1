//! The plain-Mix alternative, without a debugger: a VM running the
//! generated project (`mix run scripts/recompile_server.exs`, application
//! and workload up) that recompiles and loads edited files with an in-VM
//! `compile.elixir` when told to.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The script the VM runs; written next to the project by the bench.
pub const SCRIPT: &str = include_str!("../scripts/recompile_server.exs");

/// What one in-VM recompile cost, as the VM measured it.
#[derive(Debug, Clone, Copy)]
pub struct Recompile {
    pub wall_ms: f64,
    pub cpu_ms: f64,
    /// From Mix's `Compiling N files (.ex)` line, when it printed one.
    pub files_compiled: Option<u64>,
}

pub struct MixVm {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    stderr_file: std::path::PathBuf,
}

impl MixVm {
    /// Starts the VM in `project` and waits until the application runs.
    pub fn start(project: &Path, script: &Path, stderr_file: &Path, timeout: Duration) -> Result<Self, String> {
        let stderr = File::create(stderr_file).map_err(|e| format!("{}: {e}", stderr_file.display()))?;
        let mut child = Command::new("mix")
            .arg("run")
            .arg(script)
            .current_dir(project)
            .env_remove("MIX_ENV")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            // Its own process group, so that ending it ends everything it started.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot run `mix run` (is Elixir installed?): {e}"))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("the VM's stdout is not piped")?;
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut vm = Self {
            child,
            stdin,
            lines,
            stderr_file: stderr_file.to_path_buf(),
        };
        vm.wait_line("BENCH_READY (the application started)", timeout, |l| l == "BENCH_READY")?;
        Ok(vm)
    }

    /// Runs `compile.elixir` in the VM (the files are already edited) and
    /// returns what it cost; `noop` or a failed compile is an error.
    pub fn recompile(&mut self, label: &str, timeout: Duration) -> Result<Recompile, String> {
        let stdin = self.stdin.as_mut().ok_or("the VM's stdin is closed")?;
        writeln!(stdin, "compile {label}")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("cannot write to the VM: {e}"))?;
        let prefix = format!("BENCH_RESULT {label} ");
        let mut files_compiled = None;
        let deadline = Instant::now() + timeout;
        loop {
            let line = self.next_line(&format!("the result of recompile {label}"), deadline, timeout)?;
            if let Some(count) = compiled_count(&line) {
                files_compiled = Some(count);
            }
            let Some(rest) = line.strip_prefix(&prefix) else {
                continue;
            };
            let fields: Vec<&str> = rest.split(' ').collect();
            let [status, micros, cpu] = fields.as_slice() else {
                return Err(format!("unreadable result line {line:?}"));
            };
            if *status != "ok" {
                return Err(format!(
                    "compile.elixir answered {status} for {label} (see {})",
                    self.stderr_file.display()
                ));
            }
            let micros: f64 = micros.parse().map_err(|_| format!("unreadable time in {line:?}"))?;
            let cpu_ms: f64 = cpu.parse().map_err(|_| format!("unreadable CPU time in {line:?}"))?;
            return Ok(Recompile {
                wall_ms: micros / 1000.0,
                cpu_ms,
                files_compiled,
            });
        }
    }

    fn wait_line(&mut self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let line = self.next_line(what, deadline, timeout)?;
            if pred(&line) {
                return Ok(line);
            }
        }
    }

    fn next_line(&mut self, what: &str, deadline: Instant, timeout: Duration) -> Result<String, String> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(remaining) {
            Ok(line) => Ok(line),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(format!(
                "{what} did not arrive within {:.0} s (VM stderr: {})",
                timeout.as_secs_f64(),
                self.stderr_file.display()
            )),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(format!(
                "{what} did not arrive: the VM closed its stdout ({})",
                self.stderr_file.display()
            )),
        }
    }

    /// Ends the VM: end of input makes the script halt it; a VM that does
    /// not halt within `timeout` has its process group killed.
    pub fn stop(mut self, timeout: Duration) {
        self.stdin = None;
        let deadline = Instant::now() + timeout;
        // The VM's stdout closes when it halts.
        while self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .is_ok()
        {}
        self.kill_group();
    }

    fn kill_group(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // The group this VM leads (process_group(0) above), nothing else.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.child.id())])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.wait();
    }
}

impl Drop for MixVm {
    fn drop(&mut self) {
        self.kill_group();
    }
}

/// `N` from Mix's `Compiling N files (.ex)` / `Compiling 1 file (.ex)`.
pub(crate) fn compiled_count(line: &str) -> Option<u64> {
    let rest = line.trim().strip_prefix("Compiling ")?;
    let (count, rest) = rest.split_once(' ')?;
    if rest.starts_with("file") && rest.contains("(.ex)") {
        count.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::compiled_count;

    #[test]
    fn reads_mix_compiling_lines() {
        assert_eq!(compiled_count("Compiling 1 file (.ex)"), Some(1));
        assert_eq!(compiled_count("Compiling 196 files (.ex)"), Some(196));
        assert_eq!(compiled_count("Compiling lib/x.ex"), None);
        assert_eq!(compiled_count("bench_app: workload started"), None);
    }
}
