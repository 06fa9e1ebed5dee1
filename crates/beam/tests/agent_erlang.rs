//! The agent's Erlang, checked on the BEAM that runs the tests
//! (`scripts/test-beam.sh` runs them on OTP 25, 27 and 29):
//! - the EUnit tests of its pure functions (`crates/beam/agent/test/*_tests.erl`);
//! - its shape (`elixir_dap_agent_check.erl`): no call cycle among the agent's
//!   modules, a `-spec` on every exported function, no module but
//!   `elixir_dap_backend_int` calling `int` or a `dbg_*` module, and none but
//!   `elixir_dap_backend_native` calling `erl_debugger`.
//!
//! The agent is compiled here with `erlc` from the same sources the adapter
//! ships (`beam::agent_source::AGENT_SOURCES`), with debug info.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use beam::agent_source::AGENT_SOURCES;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// How long one `erlc` or `erl` run may take; EUnit's own timeout is 5 s per test.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

fn test_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("agent").join("test")
}

/// Runs `command` to its end within [`RUN_TIMEOUT`] (else kills it and
/// fails naming `what`); returns whether it succeeded and its stdout and
/// stderr together.
fn run(mut command: Command, what: &str) -> (bool, String) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what} (Erlang/OTP must be installed): {e}"));
    // Each pipe is read by a thread of its own, so that neither fills up.
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let readers: Vec<_> = [
        Box::new(child.stdout.take().expect("piped stdout")) as Box<dyn Read + Send>,
        Box::new(child.stderr.take().expect("piped stderr")),
    ]
    .into_iter()
    .map(|mut pipe| {
        let done_tx = done_tx.clone();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            let _ = done_tx.send(());
            text
        })
    })
    .collect();
    let deadline = std::time::Instant::now() + RUN_TIMEOUT;
    for _ in 0..readers.len() {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if done_rx.recv_timeout(left).is_err() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {RUN_TIMEOUT:?}");
        }
    }
    let output: String = readers
        .into_iter()
        .map(|reader| reader.join().expect("output reader"))
        .collect();
    let status = child.wait().expect("wait for the child");
    (status.success(), output)
}

/// The agent's modules compiled into a new directory, with `-DTEST` (which
/// exports every function to the EUnit tests) and `tests` (the test
/// modules of [`test_dir`] whose names end so) when `test`.
fn compile_agent(test: bool) -> tempfile::TempDir {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut erlc = erlc(out.path());
    if test {
        erlc.arg("-DTEST");
    }
    // AGENT_SOURCES has the behaviour elixir_dap_backend before its implementation.
    for (name, content) in AGENT_SOURCES {
        let path = src.path().join(name);
        std::fs::write(&path, content).unwrap();
        erlc.arg(path);
    }
    if test {
        erlc.args(test_modules().iter().map(|m| test_dir().join(format!("{m}.erl"))));
    }
    let (ok, output) = run(erlc, "erlc");
    assert!(ok, "the agent or its tests do not compile:\n{output}");
    out
}

/// `erlc` with debug info and every warning an error, writing into `out`
/// (also on its code path: a behaviour compiles before its users).
fn erlc(out: &Path) -> Command {
    let mut erlc = Command::new("erlc");
    erlc.args(["+debug_info", "-Werror", "+warn_all", "-pa"])
        .arg(out)
        .arg("-o")
        .arg(out);
    erlc
}

/// The EUnit test modules (`*_tests.erl`), sorted.
fn test_modules() -> Vec<String> {
    let mut modules: Vec<String> = std::fs::read_dir(test_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "erl"))
        .filter_map(|path| {
            let stem = path.file_stem()?.to_str()?.to_owned();
            stem.ends_with("_tests").then_some(stem)
        })
        .collect();
    modules.sort();
    modules
}

/// Elixir's and Mix's ebin directories: the agent's functions call Elixir's,
/// and `elixir_dap_build_lock`'s tests lock as Mix does.
fn elixir_ebins() -> Vec<String> {
    let mut elixir = Command::new("elixir");
    elixir.args([
        "-e",
        "IO.write(Enum.join([:code.lib_dir(:elixir), :code.lib_dir(:mix)], \"\\n\"))",
    ]);
    let (ok, output) = run(elixir, "elixir");
    assert!(ok, "cannot ask Elixir where it is:\n{output}");
    output.lines().map(|dir| format!("{}/ebin", dir.trim())).collect()
}

#[test]
fn the_agents_eunit_tests_pass() {
    let ebin = compile_agent(true);
    let modules = test_modules();
    assert!(!modules.is_empty(), "no EUnit test module in {}", test_dir().display());
    let eval = format!(
        "case eunit:test([{}], [verbose]) of ok -> halt(0); _ -> halt(1) end.",
        modules.join(", ")
    );
    let mut erl = Command::new("erl");
    erl.arg("-noshell")
        .arg("-pa")
        .arg(ebin.path())
        .arg("-pa")
        .args(elixir_ebins())
        .args(["-eval", &eval]);
    let (ok, output) = run(erl, "erl (EUnit)");
    assert!(ok, "the agent's EUnit tests failed:\n{output}");
    // EUnit ran them all: a run that found no test would pass silently.
    assert!(
        output.contains("tests passed") || output.contains("Test passed"),
        "EUnit did not report passing tests:\n{output}"
    );
}

#[test]
fn the_agent_has_no_call_cycle_every_export_has_a_spec_and_only_the_backend_touches_int() {
    let ebin = compile_agent(false);
    let checker = tempfile::tempdir().unwrap();
    let mut erlc = erlc(checker.path());
    erlc.arg(test_dir().join("elixir_dap_agent_check.erl"));
    let (ok, output) = run(erlc, "erlc");
    assert!(ok, "elixir_dap_agent_check.erl does not compile:\n{output}");
    let mut erl = Command::new("erl");
    erl.arg("-noshell")
        .arg("-pa")
        .arg(checker.path())
        .args(["-run", "elixir_dap_agent_check", "main"])
        .arg(ebin.path());
    let (ok, output) = run(erl, "erl (elixir_dap_agent_check)");
    assert!(ok, "the agent's shape check failed:\n{output}");
    let agent_modules = AGENT_SOURCES.len();
    assert!(
        output.contains(&format!("checked {agent_modules} modules: 0 problems")),
        "the check did not see every agent module:\n{output}"
    );
}
