//! The debuggee VM as an operating-system process.
//!
//! [`Debuggee::launch`] starts the session keeper ([`crate::keeper`]), which
//! starts `elixir` in the project directory with the agent bootstrap; waits
//! for the agent to connect back with the session token; and streams the
//! VM's stdout/stderr and exit as [`DebuggeeEvent`]s. Whatever ends the
//! session, every OS process of the program ends with it: the keeper is a
//! child subreaper that kills its whole subtree when asked, when the VM
//! exits, or when the adapter's end of its control socket closes (the
//! adapter exited or was killed). Dropping the [`Debuggee`] asks for that.
//!
//! Output flows with backpressure: a pipe is read again only once the
//! previous chunk has been taken from the bounded events channel, so a
//! program that prints faster than the client reads slows down, as it would
//! on a terminal, and nothing is dropped.

use crate::agent_source::{self, CacheError};
use crate::channel::{read_frame_limited, AgentClient};
use crate::keeper::{self, Report};
use crate::protocol::{AgentEvent, Decode, Hello};
use crate::term::TermExt;
use eetf::Term;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::collections::VecDeque;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{AbortHandle, JoinSet};

/// The largest first frame a connection to the agent listener may announce.
/// The agent's hello (`{hello, Token, Info}`) takes about 150 bytes.
pub const MAX_HELLO_BYTES: u32 = 4 * 1024;
/// How long a new connection may take to present its hello. Connections are
/// served concurrently, so a silent one delays nobody.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);
/// Handshakes in progress beyond this number push the oldest out.
const MAX_PENDING_HANDSHAKES: usize = 64;
/// How long the keeper may take to start the VM (an `execve`).
const KEEPER_START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the keeper may take to end the program's processes once asked;
/// past it the adapter kills the VM's group itself and stops waiting.
const KILL_TIMEOUT: Duration = Duration::from_millis(1500);
/// How long the output pipes may stay open after the VM's exit (a process
/// that survived the keeper could hold them).
const DRAIN_TIMEOUT: Duration = Duration::from_millis(500);
/// Bytes read from an output pipe at a time: one `output` event at most.
const OUTPUT_CHUNK_BYTES: usize = 16 * 1024;

/// How to start the VM.
#[derive(Debug, Clone)]
pub struct VmSpec {
    /// The `elixir` executable (a bare name is looked up on `PATH`).
    pub elixir: PathBuf,
    pub project_dir: PathBuf,
    /// Environment changes: `None` removes the variable.
    pub env: Vec<(String, Option<String>)>,
    /// Where the agent's sources and beams are cached (private to the user,
    /// see [`agent_source::ensure_private_dir`]).
    pub cache_root: PathBuf,
    /// How long the VM may take to boot and connect back.
    pub connect_timeout: Duration,
    /// The executable that runs the session keeper when given
    /// [`keeper::COMMAND`] first: the `elixir-dap` binary ([`keeper::program`]).
    pub keeper: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStream {
    Stdout,
    Stderr,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DebuggeeEvent {
    /// Text the program wrote, at most 16 KiB; split anywhere, never inside
    /// a UTF-8 character.
    Output {
        stream: OutputStream,
        text: String,
    },
    Agent(AgentEvent),
    /// Something about the program's processes the user should know (a
    /// process that survived `SIGKILL`, for example): one line.
    Notice(String),
    /// The VM exited; `code` is its exit status (128 + signal if killed),
    /// -1 when unknown. Sent after all of its output, and once every other
    /// process of the session is gone.
    Exited {
        code: i64,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error(transparent)]
    AgentCache(#[from] CacheError),
    #[error("could not start `{program}`: {source} (is Elixir installed and on PATH, or is `elixirPath` right?)")]
    Spawn { program: String, source: std::io::Error },
    #[error("could not start the session keeper `{program}`: {message}")]
    Keeper { program: String, message: String },
    #[error("could not open the control channel: {0}")]
    Channel(std::io::Error),
    #[error("the VM exited with status {code} before its agent connected (see its output above)")]
    ExitedEarly { code: i64 },
    #[error("the VM's agent did not connect within {} s", .0.as_secs())]
    ConnectTimeout(Duration),
    /// The agent's hello is not of a shape the protocol knows.
    #[error("the VM's agent sent an unexpected hello: {0}")]
    Hello(crate::protocol::DecodeError),
}

/// A running debuggee VM and the channel to its agent.
pub struct Debuggee {
    pub agent: AgentClient,
    /// The VM's OS pid (it leads a process group of its own).
    pub os_pid: u32,
    pub otp_release: String,
    pub elixir_version: String,
    /// The agent's hello (in an attach session, the helper's: the remote
    /// node's information, or why the attach failed).
    pub hello: Hello,
    exit: watch::Receiver<Option<i64>>,
    end: Option<oneshot::Sender<End>>,
}

/// How the session lets go of the VM.
#[derive(Debug)]
enum End {
    Kill,
    /// Leave it running (the agent was told to detach); answer with the
    /// file its output now goes to once the output pipes are handed over.
    Release(oneshot::Sender<Option<PathBuf>>),
}

impl Debuggee {
    /// Starts the VM and waits for its agent.
    ///
    /// `events` should be bounded: output is read from the VM's pipes only as
    /// fast as `events` is drained. Errors: the agent cache is unsafe or
    /// cannot be written, `elixir` cannot be started, the VM exits or does not
    /// connect within `spec.connect_timeout`. On error nothing of the VM is
    /// left running.
    pub async fn launch(spec: &VmSpec, events: mpsc::Sender<DebuggeeEvent>) -> Result<Debuggee, LaunchError> {
        let agent_dir = agent_source::install(&spec.cache_root)?;
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(LaunchError::Channel)?;
        let port = listener.local_addr().map_err(LaunchError::Channel)?.port();
        let token = random_token().map_err(LaunchError::Channel)?;

        let (ours, theirs) = std::os::unix::net::UnixStream::pair().map_err(LaunchError::Channel)?;
        ours.set_nonblocking(true).map_err(LaunchError::Channel)?;
        let control = UnixStream::from_std(ours).map_err(LaunchError::Channel)?;
        let mut command = Command::new(&spec.keeper);
        command
            .arg0("elixir-dap-keeper")
            .arg(keeper::COMMAND)
            .arg(&spec.elixir)
            .args(["--erl", "+fnu", "-e", agent_source::bootstrap_expression()])
            .current_dir(&spec.project_dir)
            .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // No `kill_on_drop`: the keeper ends the program when its control
            // socket closes, and a detached program must outlive the handle.
            // A group of its own keeps terminal signals for the adapter away.
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
        let keeper_program = spec.keeper.display().to_string();
        let mut child = command.spawn().map_err(|source| LaunchError::Keeper {
            program: keeper_program.clone(),
            message: source.to_string(),
        })?;
        // Our copy of the keeper's end must close, or its end-of-file could
        // never tell the keeper that the adapter is gone.
        drop(command);
        let (reports, mut commands) = control.into_split();
        let mut reports = BufReader::new(reports).lines();
        let first = tokio::time::timeout(KEEPER_START_TIMEOUT, reports.next_line()).await;
        let os_pid = match first {
            Ok(Ok(Some(line))) => match Report::parse(&line) {
                Some(Report::Started(pid)) => pid,
                Some(Report::SpawnFailed(errno)) => {
                    let _ = child.wait().await;
                    return Err(LaunchError::Spawn {
                        program: spec.elixir.display().to_string(),
                        source: std::io::Error::from_raw_os_error(errno),
                    });
                }
                _ => {
                    let _ = commands.write_all(b"kill\n").await;
                    return Err(LaunchError::Keeper {
                        program: keeper_program,
                        message: format!("unexpected first line {line:?}"),
                    });
                }
            },
            Ok(_) => {
                let status = child.wait().await.ok().and_then(|s| s.code());
                return Err(LaunchError::Keeper {
                    program: keeper_program,
                    message: format!("it exited (status {status:?}) without starting the VM"),
                });
            }
            Err(_) => {
                let _ = child.start_kill();
                return Err(LaunchError::Keeper {
                    program: keeper_program,
                    message: format!("it did not start the VM within {} s", KEEPER_START_TIMEOUT.as_secs()),
                });
            }
        };
        tracing::info!(os_pid, keeper = child.id(), port, "started the debuggee VM");

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
            )));
        }
        let (exit_tx, mut exit) = watch::channel(None);
        let (end_tx, end_rx) = oneshot::channel();
        tokio::spawn(supervise(Supervised {
            keeper: child,
            reports,
            commands,
            vm_pid: os_pid,
            end: end_rx,
            forwarders,
            handovers,
            exit: exit_tx,
            events: events.clone(),
        }));
        // From here on, returning an error drops `end_tx`, which ends the VM.

        let (stream, info) = accept_agent(&listener, &token, &mut exit, spec.connect_timeout).await?;
        let hello = Hello::decode(&info).map_err(LaunchError::Hello)?;
        let (otp_release, elixir_version) = match &hello {
            Hello::Ready(node) => (node.otp_release.clone(), node.elixir_version.clone()),
            Hello::AttachFailed(_) => (String::new(), String::new()),
        };
        let (reader, writer) = stream.into_split();
        let (agent_tx, mut agent_rx) = mpsc::unbounded_channel::<AgentEvent>();
        tokio::spawn(async move {
            while let Some(event) = agent_rx.recv().await {
                if events.send(DebuggeeEvent::Agent(event)).await.is_err() {
                    break;
                }
            }
        });
        Ok(Debuggee {
            agent: AgentClient::start(reader, writer, agent_tx),
            os_pid,
            otp_release,
            elixir_version,
            hello,
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

    /// Leaves the VM and everything it started running, now and when the
    /// adapter exits (the agent was told to detach first, so it will not
    /// halt when the channel closes). Returns once the program's output pipes
    /// have their own reader (or after `timeout`), so that the adapter may
    /// exit right after, with the file the output now goes to (`None` if it
    /// could not be created: the next print may then fail).
    pub async fn release(&mut self, timeout: Duration) -> Option<PathBuf> {
        let end = self.end.take()?;
        let (handed_over, done) = oneshot::channel();
        if end.send(End::Release(handed_over)).is_err() {
            return None;
        }
        match tokio::time::timeout(timeout, done).await {
            Ok(Ok(path)) => path,
            _ => {
                tracing::warn!("the VM's output was not handed over within {} ms", timeout.as_millis());
                None
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

/// How one connection's handshake ended: its peer, and the connection with
/// the agent's `Info` or why it was refused.
type Handshake = (SocketAddr, Result<(TcpStream, Term), String>);

/// Accepts connections on the agent listener until one presents this
/// session's token. Each connection is checked in a task of its own, with
/// [`HANDSHAKE_TIMEOUT`] and a first frame of at most [`MAX_HELLO_BYTES`], so
/// connections that send nothing or too much delay nobody; the listener
/// keeps serving until the real agent connects, the VM exits, or `timeout`.
async fn accept_agent(
    listener: &TcpListener,
    token: &str,
    exit: &mut watch::Receiver<Option<i64>>,
    timeout: Duration,
) -> Result<(TcpStream, Term), LaunchError> {
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let mut handshakes: JoinSet<Handshake> = JoinSet::new();
    let mut in_progress: VecDeque<AbortHandle> = VecDeque::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of descriptors, or a connection reset before accept: the
                        // listener itself is fine; go on after a breath.
                        tracing::warn!(%error, "accepting on the agent listener failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                in_progress.retain(|handle| !handle.is_finished());
                if in_progress.len() >= MAX_PENDING_HANDSHAKES {
                    if let Some(oldest) = in_progress.pop_front() {
                        oldest.abort();
                    }
                }
                let token = token.to_owned();
                in_progress.push_back(handshakes.spawn(async move { (peer, check_hello(stream, &token).await) }));
            }
            Some(joined) = handshakes.join_next() => match joined {
                Ok((_, Ok(connected))) => return Ok(connected),
                Ok((peer, Err(why))) => tracing::warn!(%peer, "refused a connection to the agent listener: {why}"),
                Err(_) => tracing::warn!("dropped a handshake to make room for newer connections"),
            },
            code = exited(exit) => return Err(LaunchError::ExitedEarly { code }),
            _ = &mut deadline => return Err(LaunchError::ConnectTimeout(timeout)),
        }
    }
}

/// Reads the first frame of a new connection: it must announce at most
/// [`MAX_HELLO_BYTES`] and be `{hello, Token, Info}` with this session's
/// token, within [`HANDSHAKE_TIMEOUT`]. Errors say why the connection was refused.
async fn check_hello(mut stream: TcpStream, token: &str) -> Result<(TcpStream, Term), String> {
    let frame = match tokio::time::timeout(HANDSHAKE_TIMEOUT, read_frame_limited(&mut stream, MAX_HELLO_BYTES)).await {
        Err(_) => return Err(format!("no hello within {} s", HANDSHAKE_TIMEOUT.as_secs())),
        Ok(Err(error)) => return Err(error.to_string()),
        Ok(Ok(None)) => return Err("closed before its hello".into()),
        Ok(Ok(Some(frame))) => frame,
    };
    let wrong = || "its first frame is not a hello with this session's token".to_owned();
    let hello = Term::decode(&frame[..]).map_err(|_| wrong())?;
    let elements = hello.as_elements().ok_or_else(wrong)?;
    let is_hello = elements.len() == 3 && elements[0].as_atom() == Some("hello");
    let presented = elements.get(1).and_then(TermExt::as_text).ok_or_else(wrong)?;
    if !is_hello || !constant_time_eq(presented.as_bytes(), token.as_bytes()) {
        return Err(wrong());
    }
    // Small request/reply frames: without this, Nagle's algorithm and
    // delayed ACKs add ~40 ms to every call.
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    Ok((stream, elements[2].clone()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What [`supervise`] owns.
struct Supervised {
    keeper: Child,
    reports: tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>,
    commands: tokio::net::unix::OwnedWriteHalf,
    vm_pid: u32,
    end: oneshot::Receiver<End>,
    forwarders: Vec<tokio::task::JoinHandle<()>>,
    handovers: Vec<oneshot::Sender<std::fs::File>>,
    exit: watch::Sender<Option<i64>>,
    events: mpsc::Sender<DebuggeeEvent>,
}

/// Owns the keeper: relays its reports, asks it to end the program when the
/// session says so (or when this task is dropped: the control socket closes),
/// lets the output drain, then reports the exit.
async fn supervise(supervised: Supervised) {
    let Supervised {
        mut keeper,
        mut reports,
        mut commands,
        vm_pid,
        mut end,
        forwarders,
        handovers,
        exit,
        events,
    } = supervised;
    let group = GroupGuard(vm_pid);
    let mut kill_deadline = None;
    let status = loop {
        let waiting_for_kill = async {
            match kill_deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            line = reports.next_line() => match line.ok().flatten().as_deref().map(Report::parse) {
                Some(Some(Report::Exited(code))) => break Some(code),
                Some(Some(Report::Notice(text))) => {
                    tracing::warn!(vm_pid, "keeper: {text}");
                    let _ = events.send(DebuggeeEvent::Notice(text)).await;
                }
                Some(other) => tracing::debug!(vm_pid, ?other, "unexpected report from the keeper"),
                None => {
                    tracing::warn!(vm_pid, "the session keeper ended without reporting the VM's exit");
                    let _ = events
                        .send(DebuggeeEvent::Notice(
                            "elixir-dap: the session keeper ended unexpectedly; the VM was killed".into(),
                        ))
                        .await;
                    break None;
                }
            },
            request = &mut end, if kill_deadline.is_none() => match request {
                Ok(End::Release(handed_over)) => {
                    tracing::info!(vm_pid, "released the debuggee VM; it keeps running");
                    std::mem::forget(group);
                    let _ = commands.write_all(b"release\n").await;
                    let log = hand_over_output(vm_pid, handovers, forwarders).await;
                    let _ = handed_over.send(log);
                    return;
                }
                other => {
                    match other {
                        Ok(_) => tracing::info!(vm_pid, "terminating the debuggee VM"),
                        // The handle was dropped without `release`: nobody owns the VM.
                        Err(_) => tracing::info!(vm_pid, "debuggee handle dropped; terminating the VM"),
                    }
                    if commands.write_all(b"kill\n").await.is_err() {
                        group.kill();
                    }
                    kill_deadline = Some(tokio::time::Instant::now() + KILL_TIMEOUT);
                }
            },
            () = waiting_for_kill => {
                tracing::error!(vm_pid, "the keeper did not end the program within {} ms; killing the VM's group", KILL_TIMEOUT.as_millis());
                break None;
            }
        }
    };
    // Whatever the keeper could do, the VM's own group goes too.
    group.kill();
    std::mem::forget(group);
    if status.is_none() {
        let _ = keeper.start_kill();
    }
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, keeper.wait()).await;
    let code = status.unwrap_or(-1);
    // A process that survived the keeper could hold the pipes open: don't wait forever.
    let drained = futures_join_all(forwarders);
    if tokio::time::timeout(DRAIN_TIMEOUT, drained).await.is_err() {
        tracing::warn!(vm_pid, "the program's output pipes stayed open after its exit");
    }
    tracing::info!(vm_pid, code, "the debuggee VM exited");
    let _ = exit.send(Some(code));
    let _ = events.send(DebuggeeEvent::Exited { code }).await;
}

/// Awaits every task (without a `futures` dependency).
async fn futures_join_all(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for task in tasks {
        let _ = task.await;
    }
}

/// Hands the output pipes of a detached program to drainers appending to a
/// new log file (see [`create_detached_log`]); returns its path.
async fn hand_over_output(
    vm_pid: u32,
    handovers: Vec<oneshot::Sender<std::fs::File>>,
    forwarders: Vec<tokio::task::JoinHandle<()>>,
) -> Option<PathBuf> {
    let (log, path) = match create_detached_log(vm_pid) {
        Ok(created) => created,
        Err(error) => {
            tracing::warn!(%error, "could not create the detached program's log; its next print may fail");
            return None;
        }
    };
    for handover in handovers {
        match log.try_clone() {
            Ok(file) => {
                let _ = handover.send(file);
            }
            Err(error) => tracing::warn!(%error, "could not share the detached program's log"),
        }
    }
    futures_join_all(forwarders).await;
    Some(path)
}

/// Creates the file a detached program's output goes to:
/// `$TMPDIR/elixir-dap-detached-<pid>-<random>.log`, mode 0600, created with
/// `O_CREAT | O_EXCL` (a planted file or symbolic link at the name makes the
/// creation fail and another random name is tried; nothing is followed).
pub fn create_detached_log(vm_pid: u32) -> std::io::Result<(std::fs::File, PathBuf)> {
    let file = tempfile::Builder::new()
        .prefix(&format!("elixir-dap-detached-{vm_pid}-"))
        .suffix(".log")
        .rand_bytes(8)
        .tempfile_in(std::env::temp_dir())?;
    let (file, path) = file.keep().map_err(|e| e.error)?;
    Ok((file, path))
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

/// Forwards one of the VM's output pipes as `Output` events until it closes,
/// reading the next chunk only once the previous one is in `events`
/// (backpressure: the program blocks on a full pipe, nothing is dropped).
/// When the session detaches from the VM, `handover` brings the log file:
/// what was read but not delivered goes there, and the pipe goes to a `cat`
/// of its own that appends to it for as long as the program runs.
async fn forward_output<R: AsyncRead + Unpin>(
    mut pipe: R,
    stream: OutputStream,
    events: mpsc::Sender<DebuggeeEvent>,
    mut handover: oneshot::Receiver<std::fs::File>,
    into_fd: fn(R) -> std::io::Result<std::os::fd::OwnedFd>,
) {
    let mut buffer = vec![0u8; OUTPUT_CHUNK_BYTES];
    let mut pending: Vec<u8> = Vec::new();
    let mut undelivered: Option<String> = None;
    let mut handover_open = true;
    let mut log: Option<std::fs::File> = None;
    let mut ended = false;
    loop {
        if let Some(text) = undelivered.take() {
            tokio::select! {
                biased;
                taken = &mut handover, if handover_open => {
                    undelivered = Some(text);
                    match taken {
                        Ok(file) => { log = Some(file); break; }
                        Err(_) => handover_open = false,
                    }
                }
                permit = events.reserve() => match permit {
                    Ok(permit) => permit.send(DebuggeeEvent::Output { stream, text }),
                    // Nobody listens any more: the session is gone.
                    Err(_) => break,
                },
            }
            continue;
        }
        if ended {
            break;
        }
        let read = tokio::select! {
            biased;
            taken = &mut handover, if handover_open => {
                match taken {
                    Ok(file) => { log = Some(file); break; }
                    Err(_) => handover_open = false,
                }
                continue;
            }
            read = pipe.read(&mut buffer) => read,
        };
        match read {
            Ok(0) | Err(_) => {
                ended = true;
                if !pending.is_empty() {
                    undelivered = Some(String::from_utf8_lossy(&pending).into_owned());
                    pending.clear();
                }
            }
            Ok(n) => {
                pending.extend_from_slice(&buffer[..n]);
                let complete = complete_utf8_prefix(&pending);
                if complete > 0 {
                    undelivered = Some(String::from_utf8_lossy(&pending[..complete]).into_owned());
                    pending.drain(..complete);
                }
            }
        }
    }
    let Some(mut log) = log else { return };
    let mut rest = undelivered.map(String::into_bytes).unwrap_or_default();
    rest.extend_from_slice(&pending);
    if let Err(error) = log.write_all(&rest) {
        tracing::warn!(%error, "could not write the detached program's output");
    }
    if ended {
        return;
    }
    use std::os::unix::process::CommandExt;
    let drained = into_fd(pipe).and_then(|fd| {
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

    /// Connections that send nothing, or announce a huge first frame, are
    /// handled beside the real agent's: it gets through at once.
    #[tokio::test]
    async fn silent_and_oversized_connections_do_not_hold_the_agent_up() {
        use crate::channel::{encode, write_frame};
        use crate::term::{atom, binary, map, tuple};
        use tokio::io::AsyncWriteExt;
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let address = listener.local_addr().unwrap();
        let (_exit_tx, mut exit) = watch::channel(None);
        let token = "t0ken";
        let accepting = tokio::spawn(async move {
            accept_agent(&listener, token, &mut exit, Duration::from_secs(20))
                .await
                .map(|(_, info)| info)
        });
        let mut idle = Vec::new();
        for _ in 0..10 {
            idle.push(TcpStream::connect(address).await.unwrap());
        }
        let mut huge = TcpStream::connect(address).await.unwrap();
        huge.write_all(&(256u32 * 1024 * 1024).to_be_bytes()).await.unwrap();
        let mut wrong = TcpStream::connect(address).await.unwrap();
        let bad_hello = tuple(vec![atom("hello"), binary("guess"), map(vec![])]);
        write_frame(&mut wrong, &encode(&bad_hello)).await.unwrap();
        let started = std::time::Instant::now();
        let mut agent = TcpStream::connect(address).await.unwrap();
        let hello = tuple(vec![
            atom("hello"),
            binary(token),
            map(vec![("otp_release", binary("27"))]),
        ]);
        write_frame(&mut agent, &encode(&hello)).await.unwrap();
        let info = tokio::time::timeout(Duration::from_secs(5), accepting)
            .await
            .expect("the agent was accepted within 5 s")
            .unwrap()
            .unwrap();
        assert_eq!(info, map(vec![("otp_release", binary("27"))]));
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_first_frame_over_the_limit_is_refused_before_it_is_read() {
        use tokio::io::AsyncWriteExt;
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let address = listener.local_addr().unwrap();
        let mut client = TcpStream::connect(address).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        client.write_all(&(MAX_HELLO_BYTES + 1).to_be_bytes()).await.unwrap();
        let refused = check_hello(server, "t").await.unwrap_err();
        assert!(refused.contains("exceeds the limit of 4096 bytes"), "{refused}");
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
