//! The debuggee VM as an operating-system process.
//!
//! [`Debuggee::launch`] starts `elixir` in the project directory, in a process
//! group of its own, with the agent bootstrap; waits for the agent to connect
//! back with the session token; and streams the VM's stdout/stderr and exit as
//! [`DebuggeeEvent`]s. Whatever ends the session, the whole process group is
//! killed: dropping the [`Debuggee`] kills it, and if the adapter itself dies
//! the agent sees its channel close and does the same from inside.

use crate::agent_source;
use crate::channel::{read_frame, AgentClient, AgentEvent};
use crate::term::TermExt;
use eetf::Term;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot, watch};

/// How to start the VM.
#[derive(Debug, Clone)]
pub struct VmSpec {
    /// The `elixir` executable (a bare name is looked up on `PATH`).
    pub elixir: PathBuf,
    pub project_dir: PathBuf,
    /// Environment changes: `None` removes the variable.
    pub env: Vec<(String, Option<String>)>,
    /// Where the agent's sources and beams are cached.
    pub cache_root: PathBuf,
    /// How long the VM may take to boot and connect back.
    pub connect_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStream {
    Stdout,
    Stderr,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DebuggeeEvent {
    /// Text the program wrote; split anywhere, never inside a UTF-8 character.
    Output {
        stream: OutputStream,
        text: String,
    },
    Agent(AgentEvent),
    /// The VM exited; `code` is its exit status (128 + signal if killed).
    /// Sent after all of its output.
    Exited {
        code: i64,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("could not install the agent into {path}: {source}")]
    AgentInstall { path: PathBuf, source: std::io::Error },
    #[error("could not start `{program}`: {source} (is Elixir installed and on PATH, or is `elixirPath` right?)")]
    Spawn { program: String, source: std::io::Error },
    #[error("could not open the control channel: {0}")]
    Channel(std::io::Error),
    #[error("the VM exited with status {code} before its agent connected (see its output above)")]
    ExitedEarly { code: i64 },
    #[error("the VM's agent did not connect within {} s", .0.as_secs())]
    ConnectTimeout(Duration),
}

/// A running debuggee VM and the channel to its agent.
pub struct Debuggee {
    pub agent: AgentClient,
    pub os_pid: u32,
    pub otp_release: String,
    pub elixir_version: String,
    exit: watch::Receiver<Option<i64>>,
    end: Option<oneshot::Sender<End>>,
}

/// How the session lets go of the VM.
#[derive(Debug)]
enum End {
    Kill,
    /// Leave it running (the agent was told to detach); say when its output
    /// pipes have been handed over.
    Release(oneshot::Sender<()>),
}

impl Debuggee {
    pub async fn launch(spec: &VmSpec, events: mpsc::UnboundedSender<DebuggeeEvent>) -> Result<Debuggee, LaunchError> {
        let agent_dir = agent_source::install(&spec.cache_root).map_err(|source| LaunchError::AgentInstall {
            path: spec.cache_root.clone(),
            source,
        })?;
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(LaunchError::Channel)?;
        let port = listener.local_addr().map_err(LaunchError::Channel)?.port();
        let token = random_token().map_err(LaunchError::Channel)?;

        let mut command = Command::new(&spec.elixir);
        command
            .args(["--erl", "+fnu", "-e", agent_source::bootstrap_expression()])
            .current_dir(&spec.project_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // No `kill_on_drop`: the supervisor's GroupGuard kills the whole
            // group instead, and a detached VM must survive the handle.
            .process_group(0);
        for (name, value) in &spec.env {
            match value {
                Some(value) => command.env(name, value),
                None => command.env_remove(name),
            };
        }
        command
            .env("ELIXIR_DAP_PORT", port.to_string())
            .env("ELIXIR_DAP_TOKEN", &token)
            .env("ELIXIR_DAP_AGENT_DIR", &agent_dir)
            .env("ELIXIR_DAP_OWN_GROUP", "1");
        let mut child = command.spawn().map_err(|source| LaunchError::Spawn {
            program: spec.elixir.display().to_string(),
            source,
        })?;
        let os_pid = child.id().unwrap_or(0);
        tracing::info!(os_pid, port, "started the debuggee VM");

        let mut forwarders = Vec::new();
        let mut handovers = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            let (handover, taken) = oneshot::channel();
            handovers.push(handover);
            forwarders.push(tokio::spawn(forward_output(
                stdout,
                OutputStream::Stdout,
                events.clone(),
                taken,
                |pipe: tokio::process::ChildStdout| pipe.into_owned_fd(),
                detached_output_path(os_pid),
            )));
        }
        if let Some(stderr) = child.stderr.take() {
            let (handover, taken) = oneshot::channel();
            handovers.push(handover);
            forwarders.push(tokio::spawn(forward_output(
                stderr,
                OutputStream::Stderr,
                events.clone(),
                taken,
                |pipe: tokio::process::ChildStderr| pipe.into_owned_fd(),
                detached_output_path(os_pid),
            )));
        }
        let (exit_tx, mut exit) = watch::channel(None);
        let (end_tx, end_rx) = oneshot::channel();
        tokio::spawn(supervise(
            child,
            os_pid,
            end_rx,
            forwarders,
            handovers,
            exit_tx,
            events.clone(),
        ));
        // From here on, returning an error drops `end_tx`, which kills the VM.

        let deadline = tokio::time::sleep(spec.connect_timeout);
        tokio::pin!(deadline);
        let (stream, info) = loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, peer) = accepted.map_err(LaunchError::Channel)?;
                    // Small request/reply frames: without this, Nagle's algorithm
                    // and delayed ACKs add ~40 ms to every call.
                    stream.set_nodelay(true).map_err(LaunchError::Channel)?;
                    match check_hello(stream, &token).await {
                        Some(connected) => break connected,
                        None => tracing::warn!(%peer, "rejected a connection without the session token"),
                    }
                }
                code = exited(&mut exit) => return Err(LaunchError::ExitedEarly { code }),
                _ = &mut deadline => return Err(LaunchError::ConnectTimeout(spec.connect_timeout)),
            }
        };
        let (reader, writer) = stream.into_split();
        let (agent_tx, mut agent_rx) = mpsc::unbounded_channel::<AgentEvent>();
        tokio::spawn(async move {
            while let Some(event) = agent_rx.recv().await {
                if events.send(DebuggeeEvent::Agent(event)).is_err() {
                    break;
                }
            }
        });
        Ok(Debuggee {
            agent: AgentClient::start(reader, writer, agent_tx),
            os_pid,
            otp_release: info.get_text("otp_release").unwrap_or_default(),
            elixir_version: info.get_text("elixir_version").unwrap_or_default(),
            exit,
            end: Some(end_tx),
        })
    }

    /// Kills the VM and everything it started.
    pub fn terminate(&mut self) {
        if let Some(end) = self.end.take() {
            let _ = end.send(End::Kill);
        }
    }

    /// Leaves the VM running, now and when the adapter exits (the agent was
    /// told to detach first, so it will not halt when the channel closes).
    /// Returns once the program's output pipes have their own reader (or
    /// after `timeout`), so that the adapter may exit right after.
    pub async fn release(&mut self, timeout: Duration) {
        if let Some(end) = self.end.take() {
            let (handed_over, done) = oneshot::channel();
            if end.send(End::Release(handed_over)).is_ok() && tokio::time::timeout(timeout, done).await.is_err() {
                tracing::warn!("the VM's output was not handed over within {} s", timeout.as_secs());
            }
        }
    }

    /// Waits for the VM to exit; `None` if it is still running after `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<i64> {
        let mut exit = self.exit.clone();
        tokio::time::timeout(timeout, exited(&mut exit)).await.ok()
    }

    pub fn exit_code(&self) -> Option<i64> {
        *self.exit.borrow()
    }
}

impl Drop for Debuggee {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Waits until the supervisor has published the exit code.
async fn exited(exit: &mut watch::Receiver<Option<i64>>) -> i64 {
    // The borrow guard is not `Send`: copy the code out before returning.
    exit.wait_for(Option::is_some)
        .await
        .ok()
        .and_then(|code| *code)
        .unwrap_or(-1)
}

fn random_token() -> std::io::Result<String> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(std::io::Error::other)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Reads the first frame of a new connection: it must be
/// `{hello, Token, Info}` with this session's token, within 10 s.
async fn check_hello(mut stream: TcpStream, token: &str) -> Option<(TcpStream, Term)> {
    let frame = tokio::time::timeout(Duration::from_secs(10), read_frame(&mut stream))
        .await
        .ok()?
        .ok()??;
    let hello = Term::decode(&frame[..]).ok()?;
    let elements = hello.as_elements()?;
    let is_hello = elements.len() == 3 && elements[0].as_atom() == Some("hello");
    let presented = elements.get(1)?.as_text()?;
    if !is_hello || !constant_time_eq(presented.as_bytes(), token.as_bytes()) {
        return None;
    }
    Some((stream, elements[2].clone()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Owns the child process: waits for it to exit (or kills its group when
/// asked, or when this task is dropped), lets the output drain, then reports
/// the exit.
async fn supervise(
    mut child: Child,
    os_pid: u32,
    end: oneshot::Receiver<End>,
    forwarders: Vec<tokio::task::JoinHandle<()>>,
    handovers: Vec<oneshot::Sender<()>>,
    exit_tx: watch::Sender<Option<i64>>,
    events: mpsc::UnboundedSender<DebuggeeEvent>,
) {
    let group = GroupGuard(os_pid);
    let status = tokio::select! {
        status = child.wait() => status,
        request = end => {
            match request {
                Ok(End::Release(handed_over)) => {
                    tracing::info!(os_pid, "released the debuggee VM; it keeps running");
                    std::mem::forget(group);
                    // The program's output pipes must outlive the adapter, or
                    // its next print fails: hand them to drainers.
                    for handover in handovers {
                        let _ = handover.send(());
                    }
                    for forwarder in forwarders {
                        let _ = forwarder.await;
                    }
                    let _ = handed_over.send(());
                    return;
                }
                Ok(End::Kill) => tracing::info!(os_pid, "terminating the debuggee VM"),
                // The handle was dropped without `release`: nobody owns the VM.
                Err(_) => tracing::info!(os_pid, "debuggee handle dropped; terminating the VM"),
            }
            group.kill();
            child.wait().await
        }
    };
    // Anything the program spawned that outlived it goes too.
    group.kill();
    std::mem::forget(group);
    let code = match status {
        Ok(status) => status
            .code()
            .map(i64::from)
            .or_else(|| std::os::unix::process::ExitStatusExt::signal(&status).map(|s| 128 + i64::from(s)))
            .unwrap_or(-1),
        Err(error) => {
            tracing::error!(%error, "could not wait for the debuggee VM");
            -1
        }
    };
    // A grandchild outside the group could hold the pipes open: don't wait forever.
    for forwarder in forwarders {
        let _ = tokio::time::timeout(Duration::from_secs(2), forwarder).await;
    }
    tracing::info!(os_pid, code, "the debuggee VM exited");
    let _ = exit_tx.send(Some(code));
    let _ = events.send(DebuggeeEvent::Exited { code });
}

/// Kills the VM's process group when dropped, so that even an adapter that
/// unwinds or shuts its runtime down leaves nothing behind.
struct GroupGuard(u32);

impl GroupGuard {
    fn kill(&self) {
        if let Ok(pid) = i32::try_from(self.0) {
            if pid > 0 {
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Forwards a pipe as output events, keeping multi-byte characters whole.
/// Where a detached program's output goes: once the adapter has let go of
/// a VM, nobody reads its pipes, and a write to a pipe without a reader
/// fails (Erlang's I/O then dies), so a `cat` keeps reading into this file.
pub fn detached_output_path(os_pid: u32) -> PathBuf {
    std::env::temp_dir().join(format!("elixir-dap-detached-{os_pid}.log"))
}

/// Forwards one of the VM's output pipes as `Output` events until it closes,
/// or until the session detaches from the VM (`handover`): then the pipe goes
/// to a `cat` of its own that appends it to [`detached_output_path`] for as
/// long as the program runs.
async fn forward_output<R: AsyncRead + Unpin>(
    mut pipe: R,
    stream: OutputStream,
    events: mpsc::UnboundedSender<DebuggeeEvent>,
    mut handover: oneshot::Receiver<()>,
    into_fd: fn(R) -> std::io::Result<std::os::fd::OwnedFd>,
    detached_log: PathBuf,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    let mut pending: Vec<u8> = Vec::new();
    let mut handed_over = false;
    loop {
        let read = tokio::select! {
            read = pipe.read(&mut buffer) => read,
            taken = &mut handover => {
                handed_over = taken.is_ok();
                if handed_over { break; }
                continue;
            }
        };
        let read = match read {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buffer[..read]);
        let complete = complete_utf8_prefix(&pending);
        if complete > 0 {
            let text = String::from_utf8_lossy(&pending[..complete]).into_owned();
            pending.drain(..complete);
            let _ = events.send(DebuggeeEvent::Output { stream, text });
        }
    }
    if !pending.is_empty() {
        let text = String::from_utf8_lossy(&pending).into_owned();
        let _ = events.send(DebuggeeEvent::Output { stream, text });
    }
    if handed_over {
        use std::os::unix::process::CommandExt;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&detached_log);
        let drained = log.and_then(|log| {
            let fd = into_fd(pipe)?;
            std::process::Command::new("cat")
                .stdin(std::process::Stdio::from(fd))
                .stdout(std::process::Stdio::from(log))
                .stderr(std::process::Stdio::null())
                .process_group(0)
                .spawn()
        });
        if let Err(error) = drained {
            tracing::warn!(%error, "could not keep the detached program's output open; its next print may fail");
        }
    }
}

/// Length of the longest prefix that does not end inside a UTF-8 sequence.
fn complete_utf8_prefix(bytes: &[u8]) -> usize {
    match std::str::from_utf8(bytes) {
        Ok(_) => bytes.len(),
        // `error_len() == None` means the input ends mid-character.
        Err(e) if e.error_len().is_none() => e.valid_up_to(),
        // Invalid bytes: pass everything on, lossily.
        Err(_) => bytes.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_prefix_stops_before_a_split_character() {
        let text = "é".as_bytes();
        assert_eq!(complete_utf8_prefix(&[b'a', text[0]]), 1);
        assert_eq!(complete_utf8_prefix("aé".as_bytes()), 3);
        assert_eq!(complete_utf8_prefix(&[b'a', 0xff, b'b']), 3);
    }

    #[test]
    fn tokens_are_random_hex() {
        let a = random_token().unwrap();
        let b = random_token().unwrap();
        assert_eq!(a.len(), 48);
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
