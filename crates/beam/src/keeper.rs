//! The session keeper: a small process between the adapter and the VM that
//! owns every OS process the debugged program starts, and ends all of them
//! when the session ends, by whatever path it ends.
//!
//! ```text
//! elixir-dap ──socketpair (stdin)──▶ keeper (subreaper) ──▶ beam.smp ──▶ erl_child_setup ──▶ port programs
//!                                                                                         └─▶ `cmd &` …
//! ```
//!
//! The adapter runs its own binary again with [`COMMAND`] as first argument
//! (see [`program`]); [`main`] then never returns to the DAP server.
//!
//! # Why a keeper with `PR_SET_CHILD_SUBREAPER`
//! OTP starts port programs (`Port.open`, `System.cmd`, `:os.cmd`) from
//! `erl_child_setup`, each in a session of its own, so killing the VM's
//! process group misses them, and a background job (`cmd &`) or a daemon that
//! double-forks is re-parented away from the VM altogether. The keeper is a
//! *child subreaper* (Linux 3.4+): every orphan in its subtree is re-parented
//! to it instead of to init, so the session's processes are exactly the
//! keeper's descendants, however they were started. It reads that tree from
//! `/proc` and `SIGKILL`s it, repeating until nothing is left.
//! - The adapter killed with `SIGKILL` cannot clean up: the keeper sees the
//!   control socket reach end-of-file and ends the tree.
//! - The VM killed with `SIGKILL`: the keeper reaps it and ends the rest.
//! - The keeper itself killed: the VM has `PR_SET_PDEATHSIG(SIGKILL)` towards
//!   the keeper (single-threaded, so the "parent thread" caveat of that flag
//!   cannot fire early) and the adapter kills the VM's process group.
//!
//! A cgroup would also contain the tree, but creating one needs a delegated,
//! writable cgroup-v2 hierarchy (absent in most containers and CI runners, and
//! for editors not started by systemd), `cgroup.kill` needs Linux 5.14, and a
//! cgroup does not end its processes when its owner dies: a watchdog would be
//! needed anyway. `PR_SET_PDEATHSIG` alone reaches only direct children (it is
//! cleared in every forked child), so it cannot reach port programs.
//!
//! # Protocol (lines of ASCII over the socketpair on the keeper's stdin)
//! - keeper → adapter: `started <pid>` once the VM runs; `spawn-failed <errno>`;
//!   `notice <text>` (something the user should know);
//!   `exited <status>` when the VM has exited and, unless released, every other
//!   process of the session is gone (`status`: the exit code, or 128 + signal).
//! - adapter → keeper: `kill` (end the VM and the whole tree now); `release`
//!   (the session lets the program run on: stop guarding, leave everything
//!   running; the keeper stays as the VM's parent until the VM exits, because of
//!   the VM's parent-death signal).
//! - End of file from the adapter before `release`: the adapter is gone; end
//!   everything. `SIGTERM`, `SIGINT` or `SIGHUP` to the keeper do the same.

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The first argument that turns the `elixir-dap` binary into a keeper.
pub const COMMAND: &str = "__elixir-dap-keeper";

/// How long the keeper keeps killing a tree that will not die (a process in
/// uninterruptible sleep, or one that is not ours to signal) before it
/// reports the survivors and gives up.
pub const KILL_DEADLINE: Duration = Duration::from_secs(2);

/// The program to run as keeper: this very executable. `/proc/self/exe` is
/// resolved by the kernel in the forked child, so it works even after the
/// binary on disk was replaced by an upgrade.
pub fn program() -> PathBuf {
    let proc_exe = PathBuf::from("/proc/self/exe");
    if proc_exe.exists() {
        return proc_exe;
    }
    std::env::current_exe().unwrap_or(proc_exe)
}

/// One line from the keeper to the adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// The VM runs with this OS pid.
    Started(u32),
    /// The VM could not be started: the `errno` of `execve`.
    SpawnFailed(i32),
    /// A message for the user.
    Notice(String),
    /// The VM exited with this status (exit code, or 128 + signal).
    Exited(i64),
}

impl Report {
    /// Parses one line (without its newline); `None` for anything else.
    pub fn parse(line: &str) -> Option<Report> {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        match word {
            "started" => rest.trim().parse().ok().map(Report::Started),
            "spawn-failed" => rest.trim().parse().ok().map(Report::SpawnFailed),
            "notice" => Some(Report::Notice(rest.to_owned())),
            "exited" => rest.trim().parse().ok().map(Report::Exited),
            _ => None,
        }
    }
}

/// The keeper's entry point: `args` are the VM's program and its arguments
/// (everything after [`COMMAND`]). The working directory and environment are
/// the VM's. Returns the keeper's exit status (0, or 2 on a usage error).
pub fn main(args: Vec<OsString>) -> i32 {
    let Some((program, vm_args)) = args.split_first() else {
        eprintln!("elixir-dap keeper: expected the VM's command line");
        return 2;
    };
    // The control socket is our stdin; work on a close-on-exec duplicate so
    // that nothing we start inherits it.
    let control = match stdin_socket() {
        Ok(control) => control,
        Err(error) => {
            eprintln!("elixir-dap keeper: no control socket on stdin: {error}");
            return 2;
        }
    };
    imp::run(control, program, vm_args)
}

/// Stdin duplicated as a close-on-exec [`UnixStream`].
fn stdin_socket() -> std::io::Result<UnixStream> {
    use std::os::fd::AsFd;
    let fd = std::io::stdin().as_fd().try_clone_to_owned()?;
    Ok(UnixStream::from(fd))
}

/// Sends one line to the adapter; a gone adapter is not an error here.
fn report(control: &mut UnixStream, line: &str) {
    let _ = control.write_all(format!("{line}\n").as_bytes());
}

/// Lines received so far, split off a byte buffer.
#[derive(Default)]
struct LineBuffer {
    bytes: Vec<u8>,
}

impl LineBuffer {
    /// Reads what is available; `Ok(false)` at end of file.
    fn fill(&mut self, control: &mut UnixStream) -> std::io::Result<bool> {
        let mut chunk = [0u8; 256];
        let read = control.read(&mut chunk)?;
        self.bytes.extend_from_slice(&chunk[..read]);
        // The adapter only sends short commands: bound what a confused peer can make us hold.
        if self.bytes.len() > 4096 {
            self.bytes.clear();
        }
        Ok(read > 0)
    }

    fn next_line(&mut self) -> Option<String> {
        let end = self.bytes.iter().position(|&b| b == b'\n')?;
        let line: Vec<u8> = self.bytes.drain(..=end).collect();
        Some(String::from_utf8_lossy(&line[..end]).trim().to_owned())
    }
}

/// A process as `/proc/<pid>/stat` describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    pub pid: u32,
    pub state: char,
    pub ppid: u32,
}

/// Parses `/proc/<pid>/stat`: `pid (comm) state ppid ...`, where `comm` may
/// hold spaces and parentheses (hence the last `)`).
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    let (head, rest) = text.rsplit_once(')')?;
    let pid = head.split_once('(')?.0.trim().parse().ok()?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some(ProcStat { pid, state, ppid })
}

/// Every live (not zombie) process on the machine, from `/proc`.
pub fn all_processes() -> Vec<ProcStat> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?))
        .collect()
}

/// The live descendants of `root` among `processes`, parents before children.
pub fn descendants(root: u32, processes: &[ProcStat]) -> Vec<u32> {
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for process in processes.iter().filter(|p| p.ppid == parent && p.pid != root) {
            frontier.push(process.pid);
            if !matches!(process.state, 'Z' | 'X' | 'x') {
                found.push(process.pid);
            }
        }
    }
    found
}

/// Names `program` for messages.
fn display(program: &OsStr) -> String {
    program.to_string_lossy().into_owned()
}

#[cfg(target_os = "linux")]
mod imp {
    use super::*;
    use nix::errno::Errno;
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::signal::{kill, SigSet, Signal};
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    use nix::unistd::Pid;
    use std::os::fd::AsFd;
    use std::os::unix::process::CommandExt;

    pub fn run(mut control: UnixStream, program: &OsStr, vm_args: &[OsString]) -> i32 {
        if let Err(errno) = nix::sys::prctl::set_child_subreaper(true) {
            report(
                &mut control,
                &format!("notice elixir-dap: cannot become a child subreaper ({errno}); processes the program starts in the background may outlive the session"),
            );
        }
        let mut signals = SigSet::empty();
        for signal in [Signal::SIGCHLD, Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
            signals.add(signal);
        }
        // Blocked signals are delivered through the signalfd only. The VM does
        // not inherit the mask: std resets it in the child before exec.
        let signal_fd = match signals
            .thread_block()
            .and_then(|()| SignalFd::with_flags(&signals, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC))
        {
            Ok(fd) => fd,
            Err(errno) => {
                report(&mut control, &format!("spawn-failed {}", errno as i32));
                return 1;
            }
        };
        let keeper = std::process::id();
        let mut command = std::process::Command::new(program);
        command
            .args(vm_args)
            .stdin(std::process::Stdio::null())
            // The VM leads a group of its own, as before the keeper existed:
            // terminal signals aimed at the adapter do not reach it.
            .process_group(0);
        // SAFETY: the closure runs in the forked child before exec and only
        // makes two system calls (prctl, getppid), which are async-signal-safe.
        unsafe {
            command.pre_exec(move || {
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)?;
                // The keeper may have died between fork and prctl.
                if nix::unistd::getppid().as_raw() as u32 != keeper {
                    return Err(std::io::Error::from_raw_os_error(libc_esrch()));
                }
                Ok(())
            });
        }
        let vm = match command.spawn() {
            Ok(child) => child,
            Err(error) => {
                report(
                    &mut control,
                    &format!("spawn-failed {}", error.raw_os_error().unwrap_or(0)),
                );
                return 1;
            }
        };
        drop(command);
        let vm_pid = vm.id();
        // The VM's output pipes must close when the VM's tree is gone, not
        // when the keeper exits: let go of our copies.
        if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
            let _ = nix::unistd::dup2_stdout(&null);
            let _ = nix::unistd::dup2_stderr(&null);
        }
        report(&mut control, &format!("started {vm_pid}"));
        let mut keeper = Keeper {
            control,
            signal_fd,
            vm_pid,
            vm_status: None,
            released: false,
            control_open: true,
            program: display(program),
        };
        keeper.serve();
        0
    }

    fn libc_esrch() -> i32 {
        Errno::ESRCH as i32
    }

    struct Keeper {
        control: UnixStream,
        signal_fd: SignalFd,
        vm_pid: u32,
        vm_status: Option<i64>,
        released: bool,
        control_open: bool,
        program: String,
    }

    impl Keeper {
        /// Runs until the VM has exited (and, unless released, the tree is gone).
        fn serve(&mut self) {
            let mut lines = LineBuffer::default();
            loop {
                if self.vm_status.is_some() {
                    if !self.released {
                        self.kill_tree();
                    }
                    let status = self.vm_status.unwrap_or(-1);
                    report(&mut self.control, &format!("exited {status}"));
                    return;
                }
                let (control_ready, signal_ready) = self.wait(PollTimeout::NONE);
                if signal_ready && self.on_signals() {
                    // Asked to stop: end everything, then report as usual.
                    self.kill_tree();
                    continue;
                }
                if !control_ready {
                    continue;
                }
                match lines.fill(&mut self.control) {
                    Ok(true) => {}
                    Ok(false) | Err(_) => {
                        self.control_open = false;
                        if !self.released {
                            // The adapter is gone without letting the program run on.
                            self.kill_tree();
                        }
                        continue;
                    }
                }
                while let Some(line) = lines.next_line() {
                    match line.as_str() {
                        "kill" => self.kill_tree(),
                        "release" => self.released = true,
                        other => report(
                            &mut self.control,
                            &format!("notice elixir-dap keeper: unknown command {other:?}"),
                        ),
                    }
                }
            }
        }

        /// Waits for the control socket or a signal; returns which are ready.
        fn wait(&self, timeout: PollTimeout) -> (bool, bool) {
            let mut fds = vec![PollFd::new(self.signal_fd.as_fd(), PollFlags::POLLIN)];
            if self.control_open {
                fds.push(PollFd::new(self.control.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, timeout) {
                Ok(_) => {
                    let ready = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
                    let signal_ready = ready(&fds[0]);
                    let control_ready = fds.get(1).is_some_and(ready);
                    (control_ready, signal_ready)
                }
                Err(_) => (false, false),
            }
        }

        /// Drains the signalfd and reaps every exited child; true if a
        /// signal asked the keeper to end the session.
        fn on_signals(&mut self) -> bool {
            let mut stop = false;
            while let Ok(Some(info)) = self.signal_fd.read_signal() {
                let signal = i32::try_from(info.ssi_signo).unwrap_or(0);
                if signal == Signal::SIGTERM as i32 || (!self.released && signal != Signal::SIGCHLD as i32) {
                    stop = true;
                }
            }
            self.reap();
            stop
        }

        /// Reaps every child that has exited (the VM, and orphans re-parented to us).
        fn reap(&mut self) {
            loop {
                match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::Exited(pid, code)) => self.record(pid, i64::from(code)),
                    Ok(WaitStatus::Signaled(pid, signal, _)) => self.record(pid, 128 + signal as i64),
                    Ok(WaitStatus::StillAlive) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        }

        fn record(&mut self, pid: Pid, status: i64) {
            if pid.as_raw() as u32 == self.vm_pid {
                self.vm_status = Some(status);
            }
        }

        /// Kills every descendant, the VM included, until none is left or
        /// [`KILL_DEADLINE`] passes (then the survivors are reported).
        fn kill_tree(&mut self) {
            let keeper = std::process::id();
            let deadline = Instant::now() + KILL_DEADLINE;
            loop {
                let alive = descendants(keeper, &all_processes());
                if alive.is_empty() {
                    break;
                }
                if Instant::now() >= deadline {
                    report(
                        &mut self.control,
                        &format!(
                            "notice elixir-dap: {} process(es) started by {} survived SIGKILL for {} s: {alive:?}",
                            alive.len(),
                            self.program,
                            KILL_DEADLINE.as_secs()
                        ),
                    );
                    break;
                }
                for pid in &alive {
                    if let Ok(pid) = i32::try_from(*pid) {
                        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                    }
                }
                // Dying takes a moment: wait for a child's exit (or 10 ms, for
                // grandchildren, whose exits we are not told about), then look again.
                let (_, signal_ready) = self.wait(PollTimeout::from(10u8));
                if signal_ready {
                    // A stop request while stopping changes nothing.
                    let _ = self.on_signals();
                }
                self.reap();
            }
            // The VM is our child: its status is read here once it is dead.
            self.reap();
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::*;

    /// Without subreapers, the keeper only runs the VM and passes its status on.
    pub fn run(mut control: UnixStream, program: &OsStr, vm_args: &[OsString]) -> i32 {
        use std::os::unix::process::CommandExt;
        let mut child = match std::process::Command::new(program)
            .args(vm_args)
            .stdin(std::process::Stdio::null())
            .process_group(0)
            .spawn()
        {
            Ok(child) => child,
            Err(error) => {
                report(
                    &mut control,
                    &format!("spawn-failed {}", error.raw_os_error().unwrap_or(0)),
                );
                return 1;
            }
        };
        report(&mut control, &format!("started {}", child.id()));
        report(
            &mut control,
            &format!("notice elixir-dap: on this system, processes {} starts outside its process group may outlive the session", display(program)),
        );
        let status = child
            .wait()
            .map(|s| s.code().map(i64::from).unwrap_or(-1))
            .unwrap_or(-1);
        report(&mut control, &format!("exited {status}"));
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_command_names_parse() {
        let stat = "4242 (sh -c (x) y) S 17 4242 4242 0 -1 4194560 0 0";
        assert_eq!(
            parse_stat(stat),
            Some(ProcStat {
                pid: 4242,
                state: 'S',
                ppid: 17
            })
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn descendants_skip_zombies_but_follow_their_children() {
        let p = |pid, state, ppid| ProcStat { pid, state, ppid };
        let table = [
            p(10, 'S', 1),
            p(11, 'S', 10),
            p(12, 'Z', 10),
            p(13, 'R', 12),
            p(14, 'S', 11),
            p(20, 'S', 1),
        ];
        let mut found = descendants(10, &table);
        found.sort_unstable();
        assert_eq!(found, vec![11, 13, 14]);
    }

    #[test]
    fn reports_parse() {
        assert_eq!(Report::parse("started 12"), Some(Report::Started(12)));
        assert_eq!(Report::parse("exited 137"), Some(Report::Exited(137)));
        assert_eq!(Report::parse("spawn-failed 2"), Some(Report::SpawnFailed(2)));
        assert_eq!(
            Report::parse("notice hello there"),
            Some(Report::Notice("hello there".into()))
        );
        assert_eq!(Report::parse("bogus"), None);
    }
}
