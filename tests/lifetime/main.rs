//! Nothing outlives the session, stopping always works, and the local
//! machine stays safe (issue 15): the real `elixir-dap` binary over DAP, real
//! VMs on the `lifetime` fixture, processes checked through /proc.
//!
//! Every session tags the OS processes its program starts with a nonce of its
//! own (in their command lines), so a check finds this session's processes and
//! nobody else's. Deaths are awaited through pidfds; every wait has a timeout
//! and a message. Figures (time to stop, peak RSS) are printed with
//! `--nocapture`, prefixed `figure:`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../support/mod.rs"]
mod support;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::*;
mod safety;

/// What "within 2 s" means for a stop.
const STOP_BUDGET: Duration = Duration::from_secs(2);

/// How long the processes of an ended session may take to be gone.
const GONE_TIMEOUT: Duration = Duration::from_secs(5);

const KINDS: [&str; 5] = ["port", "cmd", "oscmd", "background", "daemon"];

fn nonce() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    // Digits only: it is the fraction of `sleep 1000.<nonce>`.
    format!("{}{:09}", std::process::id() % 100_000, nanos)
}

/// The ids of one session's processes.
struct Session {
    dap: DapClient,
    _project: tempfile::TempDir,
    nonce: String,
    adapter: u32,
    vm: u32,
    keeper: u32,
    /// The tagged processes seen once every kind had started.
    started: Vec<u32>,
}

impl Session {
    /// Launches `Lifetime.start_all/1` then `checkpoint/0` then
    /// `wait_for_go/0`, and waits until every kind of process has started.
    /// `breakpoint`: stop at the checkpoint.
    fn start(breakpoint: bool) -> Session {
        let project = fixture("lifetime");
        let nonce = nonce();
        let mut dap = DapClient::start();
        let adapter = dap.adapter_pid();
        let expression = format!("Lifetime.start_all(\"{nonce}\"); Lifetime.checkpoint(); Lifetime.wait_for_go()");
        let response = dap.launch(json!({
            "projectDir": path_string(project.path()),
            "task": "run",
            "taskArgs": ["-e", expression],
            // A reload test writes a source: only its own request reloads it.
            "reloadOnSave": "off",
        }));
        assert_eq!(response["success"], true, "launch: {response}\n{}", dap.transcript());
        dap.wait_event("initialized", TIMEOUT);
        if breakpoint {
            let source = project.path().join("lib/lifetime.ex");
            let line = std::fs::read_to_string(&source)
                .unwrap()
                .lines()
                .position(|l| l.contains("value = :erlang.unique_integer()"))
                .unwrap()
                + 1;
            let set = dap.request(
                "setBreakpoints",
                json!({"source": {"path": path_string(&source)}, "breakpoints": [{"line": line}]}),
                TIMEOUT,
            );
            assert_eq!(set["body"]["breakpoints"][0]["verified"], true, "{set}");
        }
        assert_eq!(dap.request("configurationDone", json!({}), TIMEOUT)["success"], true);
        let vm = dap.vm_pid();
        for kind in KINDS {
            dap.wait_output("stderr", &format!("lifetime-started {kind}"), TIMEOUT);
        }
        dap.wait_output("stdout", "lifetime: all started", TIMEOUT);
        let keeper = parent_of(vm).expect("the VM's parent");
        assert_ne!(keeper, adapter, "the VM should run under the session keeper");
        assert_eq!(parent_of(keeper), Some(adapter), "the keeper is the adapter's child");
        let started = processes_tagged(&format!("1000.{nonce}"));
        let shells = processes_tagged(&format!("lifetime-{nonce}-"));
        let mut all: Vec<u32> = started.iter().chain(&shells).copied().collect();
        all.sort_unstable();
        all.dedup();
        assert!(
            all.len() >= KINDS.len(),
            "expected a sleep of each kind running, found {:?}",
            all.iter().map(|p| describe_process(*p)).collect::<Vec<_>>()
        );
        Session {
            dap,
            _project: project,
            nonce,
            adapter,
            vm,
            keeper,
            started: all,
        }
    }

    /// Every process of the session, the keeper and the VM included.
    fn all_pids(&self) -> Vec<u32> {
        let mut pids = self.started.clone();
        pids.extend([self.vm, self.keeper]);
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// Adds `started` (a module body's) and the tagged processes running now.
    fn add_tagged(&mut self, started: u32) {
        self.started.push(started);
        self.started.extend(processes_tagged(&self.nonce));
        self.started.sort_unstable();
        self.started.dedup();
    }

    /// Waits for every process of the session to be gone and checks /proc for
    /// anything tagged with its nonce; returns the time since `since` (when
    /// the session was ended).
    fn assert_all_gone(&self, how: &str, since: Instant) -> Duration {
        wait_processes_gone(
            &self.all_pids(),
            GONE_TIMEOUT,
            &format!("after {how}, processes of the session"),
        );
        let took = since.elapsed();
        let left: Vec<String> = processes_tagged(&self.nonce)
            .into_iter()
            .map(describe_process)
            .collect();
        assert!(left.is_empty(), "after {how}, tagged processes are left: {left:?}");
        eprintln!(
            "figure: {how}: VM, keeper and {} program processes gone {} ms after it",
            self.all_pids().len() - 2,
            took.as_millis()
        );
        took
    }
}

#[test]
fn disconnect_ends_every_process_of_the_session() {
    let mut session = Session::start(false);
    let started = Instant::now();
    let response = session.dap.request("disconnect", json!({}), TIMEOUT);
    let answered = started.elapsed();
    assert_eq!(response["success"], true, "{response}");
    assert!(answered < STOP_BUDGET, "disconnect took {answered:?}");
    session.assert_all_gone("disconnect", started);
    assert!(session.dap.close_and_wait(TIMEOUT).success());
}

#[test]
fn terminate_ends_every_process_of_the_session() {
    let mut session = Session::start(false);
    let started = Instant::now();
    let response = session.dap.request("terminate", json!({}), TIMEOUT);
    assert_eq!(response["success"], true, "{response}");
    session.dap.wait_event("terminated", STOP_BUDGET);
    session.assert_all_gone("terminate", started);
    session.dap.request("disconnect", json!({}), TIMEOUT);
}

#[test]
fn the_client_dropping_ends_every_process_of_the_session() {
    let mut session = Session::start(false);
    let started = Instant::now();
    let status = session.dap.close_and_wait(STOP_BUDGET);
    assert!(status.success(), "adapter exit status {status}");
    session.assert_all_gone("the end of the client's input", started);
}

#[test]
fn kill_9_of_a_running_adapter_ends_every_process_of_the_session() {
    let mut session = Session::start(false);
    let started = Instant::now();
    session.dap.kill_adapter();
    session.assert_all_gone("kill -9 of the adapter (program running)", started);
}

#[test]
fn kill_9_of_an_adapter_paused_at_a_breakpoint_ends_every_process_of_the_session() {
    let mut session = Session::start(true);
    let stopped = session.dap.wait_event("stopped", TIMEOUT);
    assert_eq!(stopped["body"]["reason"], "breakpoint", "{stopped}");
    let started = Instant::now();
    session.dap.kill_adapter();
    session.assert_all_gone("kill -9 of the adapter (paused at a breakpoint)", started);
}

#[test]
fn kill_9_of_an_adapter_mid_reload_ends_every_process_of_the_session() {
    let mut session = Session::start(false);
    let sleeper = write_sleeper(session._project.path(), &session.nonce);
    session
        .dap
        .send("reloadCode", json!({"files": [path_string(&sleeper)]}));
    let sleep = sleeper_started(&mut session.dap, TIMEOUT);
    session.add_tagged(sleep);
    let started = Instant::now();
    session.dap.kill_adapter();
    session.assert_all_gone("kill -9 of the adapter (mid-reload, compile hung)", started);
}

#[test]
fn kill_9_of_the_vm_ends_every_process_of_the_session() {
    let mut session = Session::start(false);
    let started = Instant::now();
    kill_process(session.vm);
    let exited = session.dap.wait_event("exited", TIMEOUT);
    assert_eq!(exited["body"]["exitCode"], 137, "{exited}");
    session.dap.wait_event("terminated", TIMEOUT);
    session.assert_all_gone("kill -9 of the VM", started);
    // The adapter still serves the session.
    assert_eq!(session.dap.request("disconnect", json!({}), TIMEOUT)["success"], true);
    assert!(session.dap.close_and_wait(TIMEOUT).success());
}

#[test]
fn the_program_ending_on_its_own_ends_every_process_it_started() {
    let mut session = Session::start(false);
    session.dap.wait_output("stdout", "lifetime: waiting for go", TIMEOUT);
    let started = Instant::now();
    let go = session.dap.request(
        "evaluate",
        json!({"expression": "send(:lifetime_waiter, :go)", "context": "repl"}),
        TIMEOUT,
    );
    assert_eq!(go["success"], true, "{go}");
    let exited = session.dap.wait_event("exited", TIMEOUT);
    assert_eq!(exited["body"]["exitCode"], 0, "{exited}");
    session.assert_all_gone("the task's return (the VM halts)", started);
}

#[test]
fn disconnect_without_terminating_leaves_every_process_running() {
    let mut session = Session::start(false);
    let response = session
        .dap
        .request("disconnect", json!({"terminateDebuggee": false}), TIMEOUT);
    assert_eq!(response["success"], true, "{response}");
    assert!(session.dap.close_and_wait(TIMEOUT).success());
    assert!(!is_alive(session.adapter));
    let dead: Vec<u32> = session.all_pids().into_iter().filter(|p| !is_alive(*p)).collect();
    // Clean up before asserting: SIGTERM to the released keeper ends the tree.
    use rustix::process::{kill_process, Pid, Signal};
    let keeper = Pid::from_raw(i32::try_from(session.keeper).unwrap()).unwrap();
    let started = Instant::now();
    kill_process(keeper, Signal::TERM).unwrap();
    session.assert_all_gone("SIGTERM to a released keeper", started);
    assert!(dead.is_empty(), "detached processes died with the session: {dead:?}");
}

/// A module whose body never finishes compiling, after starting a tagged
/// background `sleep`.
fn write_sleeper(project: &Path, nonce: &str) -> PathBuf {
    let path = project.join("lib/sleeper.ex");
    std::fs::write(
        &path,
        format!(
            "defmodule Lifetime.Sleeper do\n  \
               sleep = :os.cmd(~c\"sh -c 'sleep 1000.{nonce} >/dev/null 2>&1 & echo $!' lifetime-{nonce}-sleeper\")\n  \
               IO.puts(\"lifetime: compiling the sleeper, its sleep is OS pid #{{String.trim(to_string(sleep))}}\")\n  \
               Process.sleep(:infinity)\nend\n"
        ),
    )
    .unwrap();
    path
}

/// Waits for the sleeper's module body to run; returns the OS pid of the
/// sleep it started. By its pid, not its command line: the shell's forked
/// child may still be in the middle of its `exec` of `sleep` (its
/// /proc/PID/cmdline is empty then), so a scan of /proc for the nonce can
/// miss it.
fn sleeper_started(dap: &mut DapClient, timeout: Duration) -> u32 {
    let output = dap.wait_output("stdout", "lifetime: compiling the sleeper", timeout);
    let text = output["body"]["output"].as_str().unwrap();
    let pid = text
        .trim()
        .rsplit_once("OS pid ")
        .and_then(|(_, pid)| pid.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {text:?}"));
    assert!(
        is_alive(pid),
        "the module body's background sleep should run: {}",
        describe_process(pid)
    );
    pid
}

/// A launch whose compile hangs in a module body, and the OS pids of the
/// sleep the body started and of the VM. The `launch` is answered once the
/// VM is up, before the compile.
fn hung_launch(dap: &mut DapClient) -> (tempfile::TempDir, String, u32, u32) {
    let project = fixture("lifetime");
    let nonce = nonce();
    write_sleeper(project.path(), &nonce);
    dap.initialize();
    let launch = dap.send(
        "launch",
        json!({"projectDir": path_string(project.path()), "task": "run", "taskArgs": ["-e", "IO.puts(:never)"], "reloadOnSave": "off"}),
    );
    let response = dap.response_to(launch, LAUNCH_TIMEOUT);
    assert_eq!(response["success"], true, "{response}");
    let sleep = sleeper_started(dap, LAUNCH_TIMEOUT);
    let vm = dap.vm_pid();
    (project, nonce, sleep, vm)
}

/// The launch's compile was abandoned: its progress ends as cancelled and
/// the project never reports `initialized`.
fn assert_launch_cancelled(dap: &mut DapClient) {
    dap.wait_for("the launch's progress ended as cancelled", TIMEOUT, |m| {
        m["event"] == "progressEnd" && m["body"]["message"] == "cancelled"
    });
    assert!(dap.events_named("initialized").is_empty(), "{}", dap.transcript());
}

#[test]
fn disconnect_during_a_hung_compile_is_answered_within_2_s() {
    let mut dap = DapClient::start();
    let (_project, nonce, sleep, vm) = hung_launch(&mut dap);
    let keeper = parent_of(vm).unwrap();
    let tagged = processes_tagged(&nonce);
    let started = Instant::now();
    let response = dap.request("disconnect", json!({}), STOP_BUDGET);
    let answered = started.elapsed();
    assert_eq!(response["success"], true, "{response}");
    assert_launch_cancelled(&mut dap);
    let mut pids = tagged;
    pids.extend([sleep, vm, keeper]);
    let gone = wait_processes_gone(&pids, GONE_TIMEOUT, "after disconnect during a hung compile");
    assert!(processes_tagged(&nonce).is_empty());
    eprintln!(
        "figure: disconnect during a hung launch compile: answered in {} ms, everything gone {} ms after the request",
        answered.as_millis(),
        (started.elapsed().max(gone)).as_millis()
    );
    assert!(answered < STOP_BUDGET, "disconnect took {answered:?}");
    assert!(dap.close_and_wait(TIMEOUT).success());
}

#[test]
fn terminate_during_a_hung_compile_ends_the_session_within_2_s() {
    let mut dap = DapClient::start();
    let (_project, nonce, sleep, vm) = hung_launch(&mut dap);
    let keeper = parent_of(vm).unwrap();
    let started = Instant::now();
    let response = dap.request("terminate", json!({}), STOP_BUDGET);
    assert_eq!(response["success"], true, "{response}");
    dap.wait_event("terminated", STOP_BUDGET);
    let took = started.elapsed();
    assert_launch_cancelled(&mut dap);
    wait_processes_gone(
        &[sleep, vm, keeper],
        GONE_TIMEOUT,
        "after terminate during a hung compile",
    );
    assert!(processes_tagged(&nonce).is_empty());
    eprintln!(
        "figure: terminate during a hung launch compile: `terminated` after {} ms",
        took.as_millis()
    );
    assert_eq!(dap.request("disconnect", json!({}), TIMEOUT)["success"], true);
}

#[test]
fn the_end_of_input_during_a_hung_compile_ends_the_adapter_within_2_s() {
    let mut dap = DapClient::start();
    let (_project, nonce, sleep, vm) = hung_launch(&mut dap);
    let keeper = parent_of(vm).unwrap();
    let started = Instant::now();
    let status = dap.close_and_wait(STOP_BUDGET);
    let took = started.elapsed();
    assert!(status.success(), "adapter exit status {status}");
    wait_processes_gone(
        &[sleep, vm, keeper],
        GONE_TIMEOUT,
        "after the end of input during a hung compile",
    );
    assert!(processes_tagged(&nonce).is_empty());
    eprintln!(
        "figure: end of input during a hung launch compile: adapter exited after {} ms",
        took.as_millis()
    );
}

#[test]
fn disconnect_during_a_hung_reload_is_answered_within_2_s() {
    let mut session = Session::start(false);
    let sleeper = write_sleeper(session._project.path(), &session.nonce);
    let reload = session
        .dap
        .send("reloadCode", json!({"files": [path_string(&sleeper)]}));
    let sleep = sleeper_started(&mut session.dap, TIMEOUT);
    session.add_tagged(sleep);
    let started = Instant::now();
    let response = session.dap.request("disconnect", json!({}), STOP_BUDGET);
    let answered = started.elapsed();
    assert_eq!(response["success"], true, "{response}");
    let cancelled = session.dap.response_to(reload, TIMEOUT);
    assert_eq!(
        cancelled["message"], "reloadCode: cancelled by `disconnect`",
        "{cancelled}"
    );
    eprintln!(
        "figure: disconnect during a hung reload: answered in {} ms",
        answered.as_millis()
    );
    assert!(answered < STOP_BUDGET, "disconnect took {answered:?}");
    session.assert_all_gone("disconnect during a hung reload", started);
}
