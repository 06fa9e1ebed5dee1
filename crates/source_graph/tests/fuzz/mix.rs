//! Mix as the fuzzer's oracle: which files `mix compile --verbose`
//! compiles. Two ways to ask it, which must agree:
//! - [`MixServer`]: one VM (`mix_server.exs`) compiling every project in
//!   turn (`Mix.Project.in_project/4`), about 30–100 ms a compile instead of
//!   the second a `mix` process costs on this machine's cores;
//! - [`MixCli`]: `mix compile --verbose` in a new process each time (what
//!   a user runs), used to confirm a miss before it is reported.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// What one compile did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compiled {
    /// The files Mix compiled (paths relative to the project), possibly none.
    Files(BTreeSet<String>),
    /// The compile failed; Mix's error output.
    Failed(String),
}

pub trait Mix {
    /// Compiles the project in `dir` (its app is `app`), returning the
    /// files compiled.
    fn compile(&mut self, app: &str, dir: &Path) -> Compiled;
}

/// A compile longer than this is a hang (or a deadlock Mix did not see).
const TIMEOUT: Duration = Duration::from_secs(120);

/// `mix`'s environment: the user's Mix/Hex state kept out of the way.
fn mix_env(command: &mut Command, home: &Path) {
    command
        .env("MIX_ENV", "dev")
        .env("MIX_HOME", home)
        .env_remove("MIX_BUILD_PATH")
        .env_remove("MIX_BUILD_ROOT")
        .env_remove("MIX_DEPS_PATH");
}

pub struct MixServer {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    stderr_log: PathBuf,
}

impl MixServer {
    /// Starts the VM; `work` holds its script, Mix home and stderr log.
    pub fn start(work: &Path) -> MixServer {
        let script = work.join("mix_server.exs");
        std::fs::write(&script, include_str!("mix_server.exs")).unwrap();
        let stderr_log = work.join("mix_server.stderr");
        let stderr = std::fs::File::create(&stderr_log).unwrap();
        let mut command = Command::new("elixir");
        command
            .arg(&script)
            .current_dir(work)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr);
        mix_env(&mut command, &work.join("mix_home"));
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run elixir (is Elixir on PATH?): {e}"));
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut server = MixServer {
            child,
            stdin,
            lines,
            stderr_log,
        };
        let ready = server.next_line();
        assert_eq!(ready, "READY", "mix_server did not start: {}", server.stderr_tail());
        server
    }

    fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr_log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    fn next_line(&mut self) -> String {
        match self.lines.recv_timeout(TIMEOUT) {
            Ok(line) => line,
            Err(e) => {
                let _ = self.child.kill();
                panic!(
                    "mix_server: no answer within {TIMEOUT:?} ({e}); stderr:\n{}",
                    self.stderr_tail()
                )
            }
        }
    }
}

impl Mix for MixServer {
    fn compile(&mut self, app: &str, dir: &Path) -> Compiled {
        writeln!(self.stdin, "compile {app} {}", dir.display())
            .and_then(|()| self.stdin.flush())
            .unwrap_or_else(|e| panic!("mix_server: cannot write: {e}; stderr:\n{}", self.stderr_tail()));
        let mut files = BTreeSet::new();
        let mut errors = Vec::new();
        loop {
            let line = self.next_line();
            if let Some(file) = line.strip_prefix("COMPILED ") {
                files.insert(file.to_string());
            } else if let Some(error) = line.strip_prefix("ERROR ") {
                errors.push(error.to_string());
            } else if !line.starts_with("DONE ") {
                // What the compiler printed itself (compile errors).
                errors.push(line);
            } else if let Some(status) = line.strip_prefix("DONE ") {
                return if status == "error" {
                    Compiled::Failed(errors.join("\n"))
                } else {
                    Compiled::Files(files)
                };
            }
        }
    }
}

impl Drop for MixServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `mix compile --verbose`, a process per compile.
pub struct MixCli {
    pub home: PathBuf,
}

impl Mix for MixCli {
    fn compile(&mut self, _app: &str, dir: &Path) -> Compiled {
        let mut command = Command::new("mix");
        command
            .args(["compile", "--verbose"])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        mix_env(&mut command, &self.home);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run mix (is Elixir on PATH?): {e}"));
        let pid = child.id();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        let output = match rx.recv_timeout(TIMEOUT) {
            Ok(output) => output.unwrap(),
            Err(_) => {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
                return Compiled::Failed(format!("mix compile did not finish within {TIMEOUT:?}"));
            }
        };
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Compiled::Failed(format!("{stdout}\n{}", String::from_utf8_lossy(&output.stderr)));
        }
        Compiled::Files(
            stdout
                .lines()
                .filter_map(|l| l.strip_prefix("Compiled "))
                .map(|f| f.trim().to_string())
                .collect(),
        )
    }
}
