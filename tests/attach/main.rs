//! `attach` over Erlang distribution: the real binary attaches to real nodes
//! the tests start on loopback (`elixir --sname/--name ... -S mix run
//! --no-halt` in a copy of `otp_app`), each test with an epmd of its own on a
//! free port (`ERL_EPMD_PORT`), so no test shares or leaves an epmd behind.
//! After a detach another node checks the one attached to: no interpreter,
//! nothing interpreted, no process, table or module of ours, no connection
//! from the adapter's helper; and the node still runs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../support/mod.rs"]
mod support;

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::*;
mod cluster;
mod lifecycle;
mod native;
mod release;

const COOKIE: &str = "attach_test_cookie";

/// An epmd of the test's own, on a free port, killed when dropped.
struct Epmd {
    port: u16,
    child: Child,
}

impl Epmd {
    fn start() -> Epmd {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("epmd")
            .args(["-port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start epmd (from the OTP install)");
        // epmd says nothing when it listens: the first connection accepted is the signal.
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "epmd did not listen on port {port} within 5 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Epmd { port, child }
    }

    fn env(&self, command: &mut Command) {
        command.env("ERL_EPMD_PORT", self.port.to_string());
    }
}

impl Drop for Epmd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `otp_app` node (`mix run --no-halt`), its group killed when dropped.
struct Node {
    name: String,
    child: Child,
    lines: mpsc::Receiver<String>,
    project: tempfile::TempDir,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// The host part Erlang gives a short name: the host name up to its first dot.
fn short_host() -> String {
    let output = Command::new("hostname").output().expect("run hostname");
    let name = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    name.split('.').next().unwrap().to_owned()
}

impl Node {
    /// Starts the node with short names (`long`: `name@127.0.0.1`) and
    /// waits for the application's first tick.
    fn start(epmd: &Epmd, long: bool) -> Node {
        Node::start_with(epmd, long, &[])
    }

    /// Like [`Node::start`], with `files` (path, content) added to the project first.
    fn start_with(epmd: &Epmd, long: bool, files: &[(&str, &str)]) -> Node {
        Node::start_in(epmd, long, files, None)
    }

    /// Like [`Node::start_with`], in the `MIX_ENV` given (else Mix's default).
    fn start_in(epmd: &Epmd, long: bool, files: &[(&str, &str)], mix_env: Option<&str>) -> Node {
        let project = fixture("otp_app");
        for (path, content) in files {
            let path = project.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        let base = unique("attach_node");
        let (flag, name) = if long {
            ("--name", format!("{base}@127.0.0.1"))
        } else {
            ("--sname", format!("{base}@{}", short_host()))
        };
        let mut command = Command::new("elixir");
        command.args([
            flag,
            &name,
            "--cookie",
            COOKIE,
            "--erl",
            "-start_epmd false",
            "-S",
            "mix",
            "run",
            "--no-halt",
        ]);
        if let Some(env) = mix_env {
            command.env("MIX_ENV", env);
        }
        command.current_dir(project.path());
        Node::spawn(epmd, command, name, project)
    }

    /// Runs `command` as the node `name` of `project` (in a process group of
    /// its own, its stdout read into the node's lines) and waits for the
    /// application's first tick.
    fn spawn(epmd: &Epmd, mut command: Command, name: String, project: tempfile::TempDir) -> Node {
        epmd.env(&mut command);
        use std::os::unix::process::CommandExt;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0);
        let mut child = command.spawn().expect("start the node");
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
        let node = Node {
            name,
            child,
            lines,
            project,
        };
        node.wait_line("otp_app: tick 1", LAUNCH_TIMEOUT);
        node
    }

    fn wait_line(&self, text: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(remaining) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(_) => panic!(
                    "the node {} did not print {text:?} within {} s",
                    self.name,
                    timeout.as_secs()
                ),
            }
        }
    }

    /// What the node printed since the last wait (its log included).
    fn printed(&self) -> String {
        self.lines.try_iter().collect::<Vec<_>>().join("\n")
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Evaluates Elixir `code` in this node from another (hidden) node and
    /// returns what it printed.
    fn remote_eval(&self, epmd: &Epmd, code: &str) -> String {
        let checker = unique("attach_checker");
        let long = self.name.ends_with("@127.0.0.1");
        let (flag, name) = if long {
            ("--name", format!("{checker}@127.0.0.1"))
        } else {
            ("--sname", checker)
        };
        let script = format!(
            "node = :\"{}\"; true = Node.connect(node); \
             {{result, _}} = :rpc.call(node, Code, :eval_string, [{code:?}]); IO.puts(result)",
            self.name
        );
        let mut command = Command::new("elixir");
        epmd.env(&mut command);
        let output = command
            .args([
                flag,
                &name,
                "--cookie",
                COOKIE,
                "--hidden",
                "--erl",
                "-start_epmd false",
                "-e",
                &script,
            ])
            .output()
            .expect("run the checker node");
        assert!(
            output.status.success(),
            "the checker failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        kill_group(self.child.id());
        let _ = self.child.wait();
    }
}

/// Every live descendant of `pid`.
fn descendants(pid: u32) -> Vec<u32> {
    let mut found = vec![pid];
    let mut grew = true;
    while grew {
        grew = false;
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            if !found.contains(&child) && parent_of(child).is_some_and(|p| found.contains(&p)) && is_alive(child) {
                found.push(child);
                grew = true;
            }
        }
    }
    found.remove(0);
    found
}

fn adapter(epmd: &Epmd) -> DapClient {
    let mut dap = DapClient::start_with(|command| epmd.env(command));
    dap.initialize();
    dap
}

fn attach_arguments(node: &Node, extra: Value) -> Value {
    let mut arguments = json!({
        "remoteNode": node.name,
        "cookie": COOKIE,
        "projectDir": path_string(node.project.path()),
        "debugInterpretModulesPatterns": ["OtpApp.*"],
    });
    for (key, value) in extra.as_object().unwrap() {
        arguments[key] = value.clone();
    }
    arguments
}

/// What [`STATE_OF_THE_NODE`] prints of a node as found before an attach and
/// after its detach: no interpreter, nothing of ours.
const AS_FOUND: [&str; 7] = [
    "interpreted: []",
    "iserver: nil",
    "modules: []",
    "names: []",
    "nodes: []",
    "procs: []",
    "tables: []",
];

/// What the node runs of ours, printed by the node itself.
const STATE_OF_THE_NODE: &str = r#"
iserver = Process.whereis(:dbg_iserver)
interpreted = if iserver, do: :int.interpreted(), else: []
ours = fn name -> String.starts_with?(to_string(name), "elixir_dap") end
procs = for p <- Process.list(), {:current_function, {m, _, _}} <- [Process.info(p, :current_function)], ours.(m), do: p
tables = for t <- :ets.all(), is_atom(t), ours.(t), do: t
modules = for {m, _} <- :code.all_loaded(), ours.(m), do: m
names = for n <- Process.registered(), ours.(n), do: n
nodes = for n <- Node.list(:connected), ours.(n), do: n
count = OtpApp.Counter.value()
pids = {Process.whereis(OtpApp.Counter), Process.whereis(OtpApp.Ticker)}
inspect(%{pids: pids, iserver: iserver, interpreted: interpreted, procs: procs, tables: tables, modules: modules, names: names, nodes: nodes, counter: count})
"#;

#[test]
fn attach_stops_at_a_breakpoint_evaluates_and_detaches_leaving_the_node_as_found() {
    let epmd = Epmd::start();
    let mut node = Node::start(&epmd, false);
    let before = node.remote_eval(&epmd, STATE_OF_THE_NODE);
    let mut dap = adapter(&epmd);
    let started = Instant::now();
    let response = dap.request("attach", attach_arguments(&node, json!({})), LAUNCH_TIMEOUT);
    assert_eq!(
        response["success"],
        true,
        "attach failed: {response}\n{}",
        dap.transcript()
    );
    let attached_in = started.elapsed();
    dap.wait_event("initialized", TIMEOUT);
    let process = dap.wait_event("process", TIMEOUT);
    assert_eq!(process["body"]["startMethod"], "attach", "{process}");
    assert_eq!(process["body"]["name"], node.name.as_str(), "{process}");

    let (_, line) = break_on_the_counter_bump(&mut dap, &node);
    let done = dap.request("configurationDone", json!({}), LAUNCH_TIMEOUT);
    assert_eq!(done["success"], true, "{done}");

    // The ticker bumps the counter every 50 ms: it stops there.
    let stopped = dap.wait_event("stopped", TIMEOUT);
    let first_stop = started.elapsed();
    let stopped_at = Instant::now();
    eprintln!(
        "attach: answered in {} ms, first breakpoint stop {} ms after the attach request",
        attached_in.as_millis(),
        first_stop.as_millis()
    );
    let thread = stopped["body"]["threadId"].as_i64().unwrap();
    let threads = dap.request("threads", json!({}), TIMEOUT);
    assert!(
        threads["body"]["threads"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == thread),
        "{threads}"
    );
    let stack = dap.request("stackTrace", json!({"threadId": thread}), TIMEOUT);
    let top = &stack["body"]["stackFrames"][0];
    assert_eq!(top["name"], "OtpApp.Counter.handle_call/3", "{stack}");
    assert_eq!(top["line"], line, "{stack}");
    let frame = top["id"].as_i64().unwrap();
    inspect_the_bump_in_the_node(&mut dap, frame, &node);
    let modules = dap.request("modules", json!({}), TIMEOUT);
    assert!(
        modules["body"]["modules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "OtpApp.Counter"),
        "{modules}"
    );

    // Detach while paused: the process goes on, the node is left as found.
    let paused = stopped_at.elapsed();
    eprintln!(
        "attach: paused {} ms at the breakpoint before the detach",
        paused.as_millis()
    );
    detach(dap);
    assert!(node.alive(), "the node attached to must keep running");
    let after = node.remote_eval(&epmd, STATE_OF_THE_NODE);
    for state in [&before, &after] {
        assert!(
            AS_FOUND.iter().all(|item| state.contains(item)),
            "the node is not as found:\nbefore: {before}\nafter:  {after}"
        );
    }
    // The ticker waits in `GenServer.call` for the paused counter: it exits
    // (and is restarted) if the pause outlasts the call's 5 s timeout.
    let (counter_before, ticker_before) = pids_of(&before);
    let (counter_after, ticker_after) = pids_of(&after);
    assert_eq!(
        counter_before, counter_after,
        "the counter, paused at the detach, must survive it"
    );
    if paused.as_secs() < 5 {
        assert_eq!(
            ticker_before,
            ticker_after,
            "the ticker must survive the detach; the node printed:\n{}",
            node.printed()
        );
    }
    let count = |state: &str| -> i64 {
        let rest = state.split("counter: ").nth(1).unwrap();
        rest[..rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len())]
            .parse()
            .unwrap()
    };
    let later = node.remote_eval(&epmd, "inspect(OtpApp.Counter.value())");
    assert!(
        later.parse::<i64>().unwrap() > count(&after),
        "the counter no longer moves: {after} then {later}"
    );
}

/// In the frame paused at the counter's bump (`handle_call({:bump, by}, ...)`):
/// its variables hold `count` and `by` (1), and `{by, node()}` evaluated in
/// the frame runs in `node`.
fn inspect_the_bump_in_the_node(dap: &mut DapClient, frame: i64, node: &Node) {
    let scopes = dap.request("scopes", json!({"frameId": frame}), TIMEOUT);
    let reference = scopes["body"]["scopes"][0]["variablesReference"].as_i64().unwrap();
    let variables = dap.request("variables", json!({"variablesReference": reference}), TIMEOUT);
    let values: Vec<(&str, &str)> = variables["body"]["variables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["name"].as_str().unwrap_or_default(),
                v["value"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        values.contains(&("by", "1")) && values.iter().any(|(name, _)| *name == "count"),
        "{variables}"
    );
    let evaluated = dap.request(
        "evaluate",
        json!({"expression": "{by, node()}", "frameId": frame, "context": "repl"}),
        TIMEOUT,
    );
    assert_eq!(
        evaluated["body"]["result"],
        format!("{{1, :{}}}", node.name).as_str(),
        "evaluate runs in the node attached to: {evaluated}"
    );
}

/// Disconnects and waits for the session's end: `terminated`, the console's
/// `detached from` line, the adapter's clean exit.
fn detach(mut dap: DapClient) {
    let disconnect = dap.request("disconnect", json!({}), TIMEOUT);
    assert_eq!(disconnect["success"], true, "{disconnect}");
    dap.wait_event("terminated", TIMEOUT);
    dap.wait_output("console", "detached from", TIMEOUT);
    assert!(dap.close_and_wait(TIMEOUT).success());
}

/// The source roots of an attach session are those of the node's `MIX_ENV`
/// (asked of the node), not of Mix's default: a node run with
/// `MIX_ENV=test` compiles `test/support` too, and its saves are watched.
#[test]
fn attach_reads_the_layout_of_the_nodes_mix_env() {
    let epmd = Epmd::start();
    let mix_exs = r#"defmodule OtpApp.MixProject do
  use Mix.Project

  def project do
    [app: :otp_app, version: "0.1.0", elixir: "~> 1.14", elixirc_paths: elixirc_paths(Mix.env()), deps: []]
  end

  defp elixirc_paths(:test), do: ["lib", "test/support"]
  defp elixirc_paths(_), do: ["lib"]

  def application do
    [extra_applications: [:logger], mod: {OtpApp.Application, []}]
  end
end
"#;
    let node = Node::start_in(
        &epmd,
        false,
        &[
            ("mix.exs", mix_exs),
            ("test/support/helper.ex", "defmodule OtpApp.Helper do\nend\n"),
        ],
        Some("test"),
    );
    let mut dap = adapter(&epmd);
    attach_ok(&mut dap, &node, json!({"reloadOnSave": "manual"}));
    // The watcher names its roots canonical.
    let support = path_string(&node.project.path().canonicalize().unwrap().join("test/support"));
    dap.wait_output("console", &format!("{support} (tracks saves"), TIMEOUT);
    detach(dap);
}

/// The counter's and the ticker's pids in a [`STATE_OF_THE_NODE`].
fn pids_of(state: &str) -> (String, String) {
    let rest = state.split("pids: {").nth(1).unwrap();
    let (counter, rest) = rest.split_once(", ").unwrap();
    (counter.to_owned(), rest[..rest.find('}').unwrap()].to_owned())
}

/// A bad attach is answered within 5 s with an error naming the attribute,
/// and leaves nothing of the session running.
fn assert_refused(epmd: &Epmd, arguments: Value, attribute: &str, says: &str) {
    let mut dap = adapter(epmd);
    let started = Instant::now();
    let response = dap.request("attach", arguments, LAUNCH_TIMEOUT);
    let took = started.elapsed();
    assert_eq!(response["success"], false, "{response}");
    let message = response["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("`{attribute}`")) && message.contains(says),
        "expected an error naming `{attribute}` and saying {says:?}: {message}"
    );
    assert!(
        took < Duration::from_secs(5),
        "answered after {} ms: {message}",
        took.as_millis()
    );
    let left = descendants(dap.adapter_pid());
    wait_processes_gone(&left, Duration::from_secs(2), "the failed attach's helper");
    assert!(dap.close_and_wait(TIMEOUT).success());
}

#[test]
fn attach_refuses_a_missing_or_malformed_remote_node() {
    let epmd = Epmd::start();
    let project = fixture("otp_app");
    let dir = path_string(project.path());
    assert_refused(&epmd, json!({"projectDir": dir}), "remoteNode", "missing");
    assert_refused(
        &epmd,
        json!({"projectDir": dir, "remoteNode": "nohost"}),
        "remoteNode",
        "name@host",
    );
}

/// A node of another Elixir and OTP than the helper's is refused naming
/// `elixirPath` (the helper compiles the agent and, for a node without Mix,
/// the reloads). The other BEAM is a Debian chroot's (`ELIXIR_DAP_OTHER_BEAM`,
/// which scripts/test-beam.sh sets for the host's run when the BEAMs to
/// test include trixie); chroots share the host's network, so its node
/// registers with the test's epmd on loopback.
#[test]
fn attach_refuses_a_node_of_another_elixir_and_otp() {
    let Ok(other) = std::env::var("ELIXIR_DAP_OTHER_BEAM") else {
        eprintln!("skipped: no BEAM of another version (ELIXIR_DAP_OTHER_BEAM: scripts/test.sh sets it)");
        return;
    };
    let epmd = Epmd::start();
    let base = unique("attach_other_beam");
    let mut command = Command::new("chroot");
    command.args([
        other.as_str(),
        "/usr/bin/env",
        "-i",
        "HOME=/root",
        "PATH=/usr/local/bin:/usr/bin:/bin",
        "TMPDIR=/tmp",
        &format!("ERL_EPMD_PORT={}", epmd.port),
        "elixir",
        "--sname",
        &base,
        "--cookie",
        COOKIE,
        "--erl",
        "-start_epmd false",
        "-e",
        "IO.puts(\"otp_app: tick 1 on Elixir #{System.version()}\"); Process.sleep(:infinity)",
    ]);
    let node = Node::spawn(&epmd, command, format!("{base}@{}", short_host()), fixture("otp_app"));
    // The first helper of a new agent version compiles the agent: a good
    // attach of the test's own BEAM first, so the refusal is timed as users meet it.
    let own = Node::start(&epmd, false);
    let mut warm = adapter(&epmd);
    attach_ok(&mut warm, &own, json!({}));
    detach(warm);
    assert_refused(
        &epmd,
        attach_arguments(&node, json!({})),
        "elixirPath",
        "attach needs the same OTP release and Elixir major.minor",
    );
}

#[test]
fn attach_refuses_an_unknown_node_and_a_wrong_cookie() {
    let epmd = Epmd::start();
    let node = Node::start(&epmd, true);
    let unknown = format!("nosuchnode@{}", node.name.split_once('@').unwrap().1);
    assert_refused(
        &epmd,
        attach_arguments(&node, json!({"remoteNode": unknown})),
        "remoteNode",
        "no node named nosuchnode",
    );
    // The first helper node of a new agent version compiles the agent (2–4 s
    // once per OTP release): a good attach first, so the refusal is timed
    // as users meet it.
    let mut dap = adapter(&epmd);
    let attached = dap.request("attach", attach_arguments(&node, json!({})), LAUNCH_TIMEOUT);
    assert_eq!(attached["success"], true, "{attached}");
    assert_eq!(dap.request("disconnect", json!({}), TIMEOUT)["success"], true);
    assert!(dap.close_and_wait(TIMEOUT).success());
    assert_refused(
        &epmd,
        attach_arguments(&node, json!({"cookie": "not_the_cookie"})),
        "cookie",
        "refused the connection",
    );
    // No epmd on the node's host (a port nobody listens on).
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    assert_refused(
        &epmd,
        attach_arguments(&node, json!({"env": {"ERL_EPMD_PORT": closed.to_string()}})),
        "remoteNode",
        "no epmd answers",
    );
}

/// Sets a breakpoint on the counter's bump (`new_count = count + by`) of the
/// node's project and checks it is verified; returns the counter's path and
/// the line.
fn break_on_the_counter_bump(dap: &mut DapClient, node: &Node) -> (PathBuf, i64) {
    let counter = node.project.path().join("lib/otp_app/counter.ex");
    let line = std::fs::read_to_string(&counter)
        .unwrap()
        .lines()
        .position(|l| l.contains("new_count = count + by"))
        .unwrap() as i64
        + 1;
    let set = dap.request(
        "setBreakpoints",
        json!({"source": {"path": path_string(&counter)}, "breakpoints": [{"line": line}]}),
        TIMEOUT,
    );
    assert_eq!(set["body"]["breakpoints"][0]["verified"], true, "{set}");
    (counter, line)
}

/// Attaches (with `extra` attributes) and waits for `initialized`.
fn attach_ok(dap: &mut DapClient, node: &Node, extra: Value) {
    let response = dap.request("attach", attach_arguments(node, extra), LAUNCH_TIMEOUT);
    assert_eq!(
        response["success"],
        true,
        "attach failed: {response}\n{}",
        dap.transcript()
    );
    dap.wait_event("initialized", TIMEOUT);
}

/// Attaches (with `extra` attributes), sets a breakpoint on the counter's
/// bump and waits for the ticker to stop there; returns the client and the
/// stopped thread.
fn attach_and_stop(epmd: &Epmd, node: &Node, extra: Value) -> (DapClient, i64) {
    let mut dap = adapter(epmd);
    attach_ok(&mut dap, node, extra);
    break_on_the_counter_bump(&mut dap, node);
    assert_eq!(
        dap.request("configurationDone", json!({}), LAUNCH_TIMEOUT)["success"],
        true
    );
    let stopped = dap.wait_event("stopped", TIMEOUT);
    (dap, stopped["body"]["threadId"].as_i64().unwrap())
}

/// Clears the breakpoints of `source` and continues the stopped `thread`.
fn clear_and_continue(dap: &mut DapClient, source: &std::path::Path, thread: i64) {
    let cleared = dap.request(
        "setBreakpoints",
        json!({"source": {"path": path_string(source)}, "breakpoints": []}),
        TIMEOUT,
    );
    assert_eq!(cleared["success"], true, "{cleared}");
    let continued = dap.request("continue", json!({"threadId": thread}), TIMEOUT);
    assert_eq!(continued["success"], true, "{continued}");
}
