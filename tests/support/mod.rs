//! A DAP client for integration tests: drives the real `elixir-dap` binary
//! over real DAP (stdio or TCP) and waits for what a user would see, with a
//! timeout and a message naming what did not arrive.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod app;

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Long enough for a cold VM start plus a Mix compile on a loaded CI machine.
pub const LAUNCH_TIMEOUT: Duration = Duration::from_secs(90);
pub const TIMEOUT: Duration = Duration::from_secs(30);

pub fn adapter_binary() -> &'static str {
    env!("CARGO_BIN_EXE_elixir-dap")
}

/// A copy of `tests/fixtures/<name>` in a fresh temporary directory, so tests
/// never share a `_build` or modify the fixtures.
pub fn fixture(name: &str) -> tempfile::TempDir {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    let temp = tempfile::Builder::new().prefix(&format!("{name}-")).tempdir().unwrap();
    copy_dir(&source, temp.path());
    temp
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "_build" || name == "deps" {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Each adapter's log goes to its own file under the target directory, to
/// read when a test fails.
fn log_file() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("adapter-logs");
    std::fs::create_dir_all(&dir).unwrap();
    let unique = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    dir.join(format!("{}-{unique}.log", std::process::id()))
}

pub struct DapClient {
    child: Option<Child>,
    writer: Box<dyn Write + Send>,
    incoming: mpsc::Receiver<Option<Value>>,
    /// Every message received so far, in order.
    pub received: Vec<Value>,
    closed: bool,
    seq: i64,
}

impl DapClient {
    /// Starts `elixir-dap` speaking DAP on stdio.
    pub fn start() -> DapClient {
        DapClient::start_with(|_| {})
    }

    /// Like [`start`](Self::start), with the command changed first (its
    /// environment, for example).
    pub fn start_with(configure: impl FnOnce(&mut Command)) -> DapClient {
        let mut command = Command::new(adapter_binary());
        configure(&mut command);
        let mut child = command
            .args(["--log-level", "debug", "--log-file"])
            .arg(log_file())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start elixir-dap");
        let stdout = child.stdout.take().unwrap();
        let stdin = child.stdin.take().unwrap();
        DapClient::over(Box::new(stdin), stdout, Some(child))
    }

    /// A client over any stream pair (a TCP connection in TCP-mode tests).
    pub fn over(writer: Box<dyn Write + Send>, reader: impl Read + Send + 'static, child: Option<Child>) -> DapClient {
        let (tx, incoming) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(reader);
            loop {
                match read_message(&mut reader) {
                    Some(message) => {
                        if tx.send(Some(message)).is_err() {
                            return;
                        }
                    }
                    None => {
                        let _ = tx.send(None);
                        return;
                    }
                }
            }
        });
        DapClient {
            child,
            writer,
            incoming,
            received: Vec::new(),
            closed: false,
            seq: 0,
        }
    }

    pub fn adapter_pid(&self) -> u32 {
        self.child.as_ref().expect("adapter started by this client").id()
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
        self.writer.flush().unwrap();
    }

    pub fn send_body(&mut self, body: &[u8]) {
        let mut frame = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
        frame.extend_from_slice(body);
        self.send_raw(&frame);
    }

    /// Sends a request and returns its seq.
    pub fn send(&mut self, command: &str, mut arguments: Value) -> i64 {
        // The whole suite on one debugger backend (issue 20): each launch
        // that names none gets ELIXIR_DAP_TEST_BACKEND's (`sid`: the
        // interpreter, where `auto` would pick native; `sid-native`: native).
        if let (true, Ok(backend)) = (command == "launch", std::env::var("ELIXIR_DAP_TEST_BACKEND")) {
            if let Some(object) = arguments.as_object_mut() {
                object.entry("debugBackend").or_insert(Value::String(backend));
            }
        }
        self.seq += 1;
        let request = json!({"seq": self.seq, "type": "request", "command": command, "arguments": arguments});
        self.send_body(request.to_string().as_bytes());
        self.seq
    }

    /// Sends a request and waits for its response.
    pub fn request(&mut self, command: &str, arguments: Value, timeout: Duration) -> Value {
        let seq = self.send(command, arguments);
        self.response_to(seq, timeout)
    }

    pub fn response_to(&mut self, seq: i64, timeout: Duration) -> Value {
        self.wait_for(&format!("the response to request {seq}"), timeout, |m| {
            m["type"] == "response" && m["request_seq"] == seq
        })
    }

    /// Waits for a message matching `predicate`, looking at messages already
    /// received first. Panics naming `what` if it does not arrive in time.
    pub fn wait_for(&mut self, what: &str, timeout: Duration, predicate: impl Fn(&Value) -> bool) -> Value {
        if let Some(found) = self.received.iter().find(|m| predicate(m)) {
            return found.clone();
        }
        let deadline = Instant::now() + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if self.closed || remaining.is_zero() {
                panic!(
                    "{what} did not arrive within {} s{}; received:\n{}",
                    timeout.as_secs(),
                    if self.closed {
                        " (the adapter closed its output)"
                    } else {
                        ""
                    },
                    self.transcript()
                );
            }
            match self.incoming.recv_timeout(remaining) {
                Ok(Some(message)) => {
                    self.received.push(message.clone());
                    if predicate(&message) {
                        return message;
                    }
                }
                Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => self.closed = true,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
    }

    /// Waits for the `n`th (0-based) event called `event` of the session.
    pub fn wait_nth_event(&mut self, event: &str, n: usize, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = self.events_named(event).get(n) {
                return (*found).clone();
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if self.closed || remaining.is_zero() {
                panic!(
                    "`{event}` event #{} did not arrive within {} s; received:\n{}",
                    n + 1,
                    timeout.as_secs(),
                    self.transcript()
                );
            }
            match self.incoming.recv_timeout(remaining) {
                Ok(Some(message)) => self.received.push(message),
                Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => self.closed = true,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
    }

    pub fn wait_event(&mut self, event: &str, timeout: Duration) -> Value {
        self.wait_for(&format!("the `{event}` event"), timeout, |m| {
            m["type"] == "event" && m["event"] == event
        })
    }

    /// Waits for an `output` event of `category` whose text contains `text`.
    pub fn wait_output(&mut self, category: &str, text: &str, timeout: Duration) -> Value {
        self.wait_for(&format!("{category} output containing {text:?}"), timeout, |m| {
            m["event"] == "output"
                && m["body"]["category"] == category
                && m["body"]["output"].as_str().is_some_and(|o| o.contains(text))
        })
    }

    /// Like [`wait_output`](Self::wait_output), but compares the text with its
    /// ANSI escapes stripped: Elixir 1.19+ colours `dbg` output even when
    /// stdout is not a terminal.
    pub fn wait_output_plain(&mut self, category: &str, text: &str, timeout: Duration) -> Value {
        self.wait_for(
            &format!("{category} output containing {text:?} (colours aside)"),
            timeout,
            |m| {
                m["event"] == "output"
                    && m["body"]["category"] == category
                    && m["body"]["output"]
                        .as_str()
                        .is_some_and(|o| strip_ansi(o).contains(text))
            },
        )
    }

    /// All output of one category received so far, concatenated.
    pub fn output_text(&self, category: &str) -> String {
        self.received
            .iter()
            .filter(|m| m["event"] == "output" && m["body"]["category"] == category)
            .filter_map(|m| m["body"]["output"].as_str())
            .collect()
    }

    pub fn events_named(&self, event: &str) -> Vec<&Value> {
        self.received
            .iter()
            .filter(|m| m["type"] == "event" && m["event"] == event)
            .collect()
    }

    pub fn transcript(&self) -> String {
        self.received.iter().map(|m| format!("  {m}\n")).collect()
    }

    pub fn initialize(&mut self) -> Value {
        let response = self.request(
            "initialize",
            json!({"clientID": "tests", "adapterID": "elixir", "linesStartAt1": true, "supportsProgressReporting": true}),
            TIMEOUT,
        );
        assert_eq!(response["success"], true, "initialize failed: {response}");
        response
    }

    /// initialize + launch; returns the launch response. `launch` is
    /// answered once the VM is up; when it succeeded, this also waits for the
    /// end of the project's loading: `initialized`, or `terminated` when the
    /// launch failed after its response (a compile error).
    pub fn launch(&mut self, arguments: Value) -> Value {
        self.initialize();
        let response = self.request("launch", arguments, LAUNCH_TIMEOUT);
        if response["success"] == true {
            self.wait_for("`initialized` or `terminated` after the launch", LAUNCH_TIMEOUT, |m| {
                m["type"] == "event" && (m["event"] == "initialized" || m["event"] == "terminated")
            });
        }
        response
    }

    /// initialize + launch; returns the launch response without waiting for
    /// the project to load.
    pub fn launch_without_waiting(&mut self, arguments: Value) -> Value {
        self.initialize();
        self.request("launch", arguments, LAUNCH_TIMEOUT)
    }

    /// initialize + launch (which must succeed) + configurationDone. Returns
    /// the OS pid of the VM, from the `process` event.
    pub fn launch_and_run(&mut self, arguments: Value) -> u32 {
        let response = self.launch(arguments);
        assert_eq!(
            response["success"],
            true,
            "launch failed: {response}\n{}",
            self.transcript()
        );
        self.wait_event("initialized", TIMEOUT);
        let done = self.request("configurationDone", json!({}), TIMEOUT);
        assert_eq!(done["success"], true, "configurationDone failed: {done}");
        self.vm_pid()
    }

    pub fn vm_pid(&mut self) -> u32 {
        let process = self.wait_event("process", TIMEOUT);
        process["body"]["systemProcessId"]
            .as_u64()
            .expect("process event with a pid") as u32
    }

    /// Closes the adapter's stdin (EOF) and waits for it to exit.
    pub fn close_and_wait(&mut self, timeout: Duration) -> std::process::ExitStatus {
        self.close_input();
        self.wait_adapter_exit(timeout)
    }

    /// Sends `signal` (`INT`, `TERM`) to the adapter.
    pub fn signal_adapter(&self, signal: &str) {
        let pid = self.child.as_ref().expect("adapter started by this client").id();
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {pid} failed");
    }

    /// The position of the first message received matching `predicate`.
    pub fn position_of(&self, predicate: impl Fn(&Value) -> bool) -> Option<usize> {
        self.received.iter().position(predicate)
    }

    /// Reads what the adapter still writes until it closes its output.
    pub fn drain(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.closed {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return;
            }
            match self.incoming.recv_timeout(remaining) {
                Ok(Some(message)) => self.received.push(message),
                Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => self.closed = true,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
    }

    pub fn wait_adapter_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let child = self.child.as_mut().expect("adapter started by this client");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the adapter did not exit within {} s",
                timeout.as_secs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Closes the adapter's stdin (end of the client's input) without waiting.
    pub fn close_input(&mut self) {
        self.writer = Box::new(std::io::sink());
    }

    pub fn kill_adapter(&mut self) {
        let child = self.child.as_mut().expect("adapter started by this client");
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

impl Drop for DapClient {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn read_message(reader: &mut impl BufRead) -> Option<Value> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(value) = line.strip_prefix("Content-Length:") {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length?];
    reader.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

/// Whether any live (non-zombie) process is in the process group `pgid`;
/// the VM leads a group of its own, so this covers all it spawned.
pub fn group_alive(pgid: u32) -> Vec<u32> {
    let mut members = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the parenthesised command: state ppid pgrp ...
        let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.to_string() {
            members.push(pid);
        }
    }
    members
}

/// Waits until no process of the group `pgid` is left. There is no event to
/// await for the death of a process we are not the parent of, so this polls
/// /proc until a deadline.
pub fn assert_group_gone(pgid: u32, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let alive = group_alive(pgid);
        if alive.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "processes of the VM's group {pgid} still alive after {} s: {alive:?}",
            timeout.as_secs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn kill_group(pgid: u32) {
    // `kill` needs `--` before a negative (group) pid, and procps 4.0.7
    // (Debian sid) rejects `-s KILL -- -PGID`: `-KILL` works with every version.
    let output = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .output()
        .expect("run kill");
    // It fails when the group is already gone, which is fine; a rejected
    // command line (also status 1 with procps) would leak the VM.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("Usage"),
        "kill -KILL -- -{pgid} was rejected:\n{stderr}"
    );
}

/// `text` without ANSI escape sequences (`ESC [ ... final byte`).
pub fn strip_ansi(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            // Parameter and intermediate bytes, then one final byte in @..=~.
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

/// Peak resident memory of a process in KiB (VmHWM).
pub fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmHWM in /proc/<pid>/status")
}

pub fn path_string(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Whether the launches of this run that name no `debugBackend` run on the
/// native debugger backend: `ELIXIR_DAP_TEST_BACKEND=native` (see
/// [`DapClient::request`]; `scripts/test-beam.sh sid-native`), or no such
/// variable and a BEAM of OTP 28+, where the default `auto` picks native.
/// The tests whose expectations differ on it say how, next to the
/// difference (docs/protocol.md, "How it differs from the interpreter").
pub fn native_run() -> bool {
    match std::env::var("ELIXIR_DAP_TEST_BACKEND") {
        Ok(backend) => backend == "native",
        Err(_) => otp_release() >= 28,
    }
}

/// The OTP release of the `elixir` the adapter starts (the BEAM the test
/// binary runs with: the host's or a chroot's, see scripts/test-beam.sh).
pub fn otp_release() -> u32 {
    static RELEASE: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *RELEASE.get_or_init(read_otp_release)
}

fn read_otp_release() -> u32 {
    let output = std::process::Command::new("elixir")
        .args(["-e", "IO.write(:erlang.system_info(:otp_release))"])
        .output()
        .expect("elixir runs");
    assert!(output.status.success(), "elixir -e failed: {output:?}");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("an OTP release number")
}

/// The (1-based) line of the `# bp:<name>` marker in a fixture file.
pub fn marker_line(file: &Path, name: &str) -> i64 {
    let text = std::fs::read_to_string(file).unwrap();
    let marker = format!("# bp:{name}");
    let index = text
        .lines()
        .position(|l| l.contains(&marker))
        .unwrap_or_else(|| panic!("no {marker} in {file:?}"));
    index as i64 + 1
}

/// The 1-based line of `path` that holds `needle` (the first).
pub fn line_of(path: &Path, needle: &str) -> i64 {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in {path:?}")) as i64
        + 1
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Live (not zombie) processes whose command line contains `tag`: how a test
/// finds the processes of its own session and no one else's.
pub fn processes_tagged(tag: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&cmdline).contains(tag) && is_alive(pid) {
            found.push(pid);
        }
    }
    found
}

/// Whether `pid` exists and is not a zombie.
pub fn is_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(')').map(|(_, rest)| rest.trim_start().to_owned()))
        .is_some_and(|rest| !rest.starts_with('Z') && !rest.starts_with('X'))
}

/// The parent of `pid`, from `/proc/<pid>/stat`.
pub fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Waits until every process in `pids` has exited, through a pidfd for each
/// (readable once the process is dead, whoever its parent is). Panics naming
/// `what` and the survivors after `timeout`. Returns how long it took.
pub fn wait_processes_gone(pids: &[u32], timeout: Duration, what: &str) -> Duration {
    use rustix::event::{poll, PollFd, PollFlags};
    use rustix::process::{pidfd_open, Pid, PidfdFlags};
    let started = Instant::now();
    let deadline = started + timeout;
    for &pid in pids {
        let Some(raw) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
            continue;
        };
        let Ok(pidfd) = pidfd_open(raw, PidfdFlags::empty()) else {
            // ESRCH: gone (and reaped) already.
            continue;
        };
        loop {
            if !is_alive(pid) {
                break;
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                let survivors: Vec<String> = pids
                    .iter()
                    .filter(|p| is_alive(**p))
                    .map(|p| describe_process(*p))
                    .collect();
                panic!(
                    "{what}: still alive after {} ms: {}",
                    timeout.as_millis(),
                    survivors.join("; ")
                );
            }
            let timespec = rustix::time::Timespec::try_from(remaining).unwrap();
            let mut fds = [PollFd::new(&pidfd, PollFlags::IN)];
            let _ = poll(&mut fds, Some(&timespec));
        }
    }
    started.elapsed()
}

/// `pid (command line)`, for messages.
pub fn describe_process(pid: u32) -> String {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    format!("{pid} ({})", cmdline.trim())
}

/// Sends SIGKILL to one process (not its group).
pub fn kill_process(pid: u32) {
    use rustix::process::{kill_process, Pid, Signal};
    if let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
        let _ = kill_process(pid, Signal::KILL);
    }
}
