//! What real clients do, and what they need back: Lua clients send `[]` for
//! an empty object (nvim-dap), clients end a session on `terminated` by
//! closing the adapter's input and interrupting it (nvim-dap), warn when
//! `launch` takes seconds (nvim-dap after 4 s), and count lines and columns
//! from 1 or 0 as they said in `initialize`. The real binary over real DAP.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::app::App;
use support::*;

fn otp_launch(project: &std::path::Path) -> Value {
    json!({"projectDir": path_string(project), "taskArgs": ["--no-halt"], "reloadOnSave": "off"})
}

#[test]
fn an_empty_array_where_an_object_is_expected_is_an_empty_object() {
    // `env = {}` in Lua arrives as `"env": []`.
    let mut app = App::start(json!({"env": []}));
    // `reloadCode` with no arguments from Lua: `"arguments": []`.
    let response = app.reload(json!([]));
    assert_eq!(response["success"], true, "{response}");
    assert_eq!(response["body"]["success"], true, "{response}");
    // Messages speak JSON, never the adapter's own type names.
    let response = app.reload(json!(5));
    assert_eq!(response["success"], false, "{response}");
    let message = response["message"].as_str().unwrap();
    assert_eq!(
        message,
        "reloadCode: invalid arguments: expected an object, got a number"
    );
    let response = app.reload(json!({"files": {}}));
    let message = response["message"].as_str().unwrap();
    assert!(
        message.contains("`files`: invalid type: object, expected an array"),
        "{message}"
    );
    for text in [
        message,
        app.dap.request("stackTrace", json!([]), TIMEOUT)["message"]
            .as_str()
            .unwrap(),
    ] {
        for internal in ["Arguments", "struct", "sequence", " map"] {
            assert!(!text.contains(internal), "{text:?} names {internal:?}");
        }
    }
    let response = app.dap.request("disconnect", json!([]), TIMEOUT);
    assert_eq!(response["success"], true, "{response}");
}

/// nvim-dap ends a session on `terminated`: it closes the adapter's stdin
/// and sends SIGINT at once. The `disconnect` response must already be out.
#[test]
fn the_disconnect_response_is_out_before_terminated_and_survives_the_client_leaving() {
    let project = fixture("otp_app");
    for round in 0..3 {
        let mut dap = DapClient::start();
        let vm = dap.launch_and_run(otp_launch(project.path()));
        dap.wait_output("stdout", "otp_app: tick 1", TIMEOUT);
        let seq = dap.send("disconnect", json!({"restart": false}));
        dap.wait_event("terminated", TIMEOUT);
        dap.close_input();
        dap.signal_adapter("INT");
        let answered = dap.position_of(|m| m["type"] == "response" && m["request_seq"] == seq);
        let terminated = dap.position_of(|m| m["event"] == "terminated");
        assert!(
            answered.is_some() && answered < terminated,
            "round {round}: the disconnect response did not come before `terminated`:\n{}",
            dap.transcript()
        );
        let status = dap.wait_adapter_exit(TIMEOUT);
        assert!(status.success(), "round {round}: adapter exit status {status}");
        assert_group_gone(vm, TIMEOUT);
    }
}

/// A request being handled when the adapter is told to stop, or when the
/// client closes its input, is answered before the adapter exits: with its
/// result, or with an error saying it was cancelled (the end of the input
/// cancels the work in progress, so that stopping is never held up).
#[test]
fn a_request_in_flight_is_answered_on_sigterm_sigint_and_end_of_input() {
    let project = fixture("otp_app");
    for ending in ["TERM", "INT", "EOF"] {
        let mut dap = DapClient::start();
        let vm = dap.launch_and_run(otp_launch(project.path()));
        dap.wait_output("stdout", "otp_app: tick 1", TIMEOUT);
        let seq = dap.send(
            "evaluate",
            json!({"expression": "Process.sleep(700); :answered", "context": "repl"}),
        );
        std::thread::sleep(Duration::from_millis(100));
        match ending {
            "EOF" => dap.close_input(),
            signal => dap.signal_adapter(signal),
        }
        let response = dap.response_to(seq, TIMEOUT);
        let answered = response["success"] == true && response["body"]["result"] == ":answered";
        let cancelled = response["success"] == false
            && response["message"] == "evaluate: cancelled by the end of the client's input";
        assert!(answered || cancelled, "{ending}: {response}");
        let status = dap.wait_adapter_exit(TIMEOUT);
        assert!(status.success(), "{ending}: adapter exit status {status}");
        assert_group_gone(vm, TIMEOUT);
    }
}

/// An evaluation still running when the client disconnects is cancelled, and
/// answered so, before the `disconnect` response: a client may stop reading
/// once it has that response and `terminated` (nvim-dap does).
#[test]
fn a_request_in_flight_is_answered_before_the_disconnect_response() {
    let project = fixture("otp_app");
    let mut dap = DapClient::start();
    let vm = dap.launch_and_run(otp_launch(project.path()));
    dap.wait_output("stdout", "otp_app: tick 1", TIMEOUT);
    // Runs far longer than the test: only the disconnect can end it.
    let evaluate = dap.send(
        "evaluate",
        json!({"expression": "Process.sleep(60_000)", "context": "repl"}),
    );
    let disconnect = dap.send("disconnect", json!({}));
    let response = dap.response_to(evaluate, TIMEOUT);
    assert_eq!(response["success"], false, "{response}");
    assert_eq!(response["message"], "evaluate: cancelled by `disconnect`", "{response}");
    let done = dap.response_to(disconnect, TIMEOUT);
    assert_eq!(done["success"], true, "{done}");
    dap.wait_event("terminated", TIMEOUT);
    let order = [
        dap.position_of(|m| m["type"] == "response" && m["request_seq"] == evaluate),
        dap.position_of(|m| m["type"] == "response" && m["request_seq"] == disconnect),
        dap.position_of(|m| m["event"] == "terminated"),
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}\n{}", dap.transcript());
    let status = dap.wait_adapter_exit(TIMEOUT);
    assert!(status.success(), "adapter exit status {status}");
    assert_group_gone(vm, TIMEOUT);
}

/// A copy of the plain fixture whose compile takes `seconds` (a module body
/// that sleeps), as a big project's does.
fn slow_compiling_project(seconds: u64) -> tempfile::TempDir {
    let project = fixture("plain");
    std::fs::write(
        project.path().join("lib/slow.ex"),
        format!(
            "defmodule Plain.Slow do\n  Process.sleep({})\n  def ready, do: true\nend\n",
            seconds * 1000
        ),
    )
    .unwrap();
    project
}

/// nvim-dap warns "Debug adapter didn't respond" when `launch` is not
/// answered within 4 s: `launch` is answered when the VM is up, the compile
/// is shown by progress events and ends with `initialized`.
#[test]
fn launch_is_answered_before_a_slow_compile_which_progress_shows() {
    let project = slow_compiling_project(6);
    let mut dap = DapClient::start();
    dap.initialize();
    let started = Instant::now();
    let seq = dap.send(
        "launch",
        json!({"projectDir": path_string(project.path()), "taskArgs": ["-e", "Plain.main()"]}),
    );
    let response = dap.response_to(seq, LAUNCH_TIMEOUT);
    let answered = started.elapsed();
    assert_eq!(response["success"], true, "{response}");
    assert!(
        answered < Duration::from_secs(4),
        "launch answered after {answered:?}, past nvim-dap's 4 s"
    );
    assert!(dap.events_named("initialized").is_empty(), "{}", dap.transcript());
    dap.wait_event("initialized", LAUNCH_TIMEOUT);
    let loaded = started.elapsed();
    assert!(loaded >= Duration::from_secs(6), "the project loaded in {loaded:?}");
    let progress: Vec<String> = dap
        .received
        .iter()
        .filter(|m| m["event"].as_str().is_some_and(|e| e.starts_with("progress")))
        .map(|m| format!("{} {}", m["event"].as_str().unwrap(), m["body"]["message"]))
        .collect();
    assert!(
        progress.iter().any(|p| p.contains("compiling the project")),
        "{progress:?}"
    );
    let ready = dap.position_of(|m| m["event"] == "progressEnd" && m["body"]["message"] == "ready");
    let initialized = dap.position_of(|m| m["event"] == "initialized");
    assert!(ready.is_some() && ready < initialized, "{}", dap.transcript());
    // Then the session goes on as usual.
    assert_eq!(dap.request("configurationDone", json!({}), TIMEOUT)["success"], true);
    dap.wait_output("stdout", "plain: sum is 6", TIMEOUT);
    eprintln!("launch answered in {answered:?}; the project loaded in {loaded:?}");
}

/// Stop while the project is still compiling: the disconnect is answered at
/// once and the VM is gone.
#[test]
fn disconnect_while_the_project_compiles_is_answered_and_stops_the_vm() {
    let project = slow_compiling_project(30);
    let mut dap = DapClient::start();
    let response = dap.launch_without_waiting(json!({"projectDir": path_string(project.path())}));
    assert_eq!(response["success"], true, "{response}");
    let vm = dap.vm_pid();
    let started = Instant::now();
    let response = dap.request("disconnect", json!({}), TIMEOUT);
    assert_eq!(response["success"], true, "{response}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    dap.wait_event("terminated", TIMEOUT);
    assert!(dap.events_named("initialized").is_empty());
    assert_group_gone(vm, TIMEOUT);
    assert!(dap.wait_adapter_exit(TIMEOUT).success());
}

/// Stops at `# bp:loop-step` with the client counting as `initialize`
/// says; returns the breakpoint as answered and the top frame.
fn stop_with(lines_start_at1: bool, columns_start_at1: bool) -> (Value, Value) {
    let project = fixture("plain");
    let file = project.path().join("lib/plain/debug_me.ex");
    let base = i64::from(!lines_start_at1);
    let line = marker_line(&file, "loop-step") - base;
    let mut dap = DapClient::start();
    let response = dap.request(
        "initialize",
        json!({"clientID": "tests", "linesStartAt1": lines_start_at1, "columnsStartAt1": columns_start_at1}),
        TIMEOUT,
    );
    assert_eq!(response["success"], true);
    let response = dap.request(
        "launch",
        json!({"projectDir": path_string(project.path()), "taskArgs": ["-e", "Plain.DebugMe.run(2)"]}),
        LAUNCH_TIMEOUT,
    );
    assert_eq!(response["success"], true, "{response}");
    dap.wait_event("initialized", LAUNCH_TIMEOUT);
    let set = dap.request(
        "setBreakpoints",
        json!({"source": {"path": path_string(&file)}, "breakpoints": [{"line": line}]}),
        TIMEOUT,
    );
    let breakpoint = set["body"]["breakpoints"][0].clone();
    assert_eq!(breakpoint["verified"], true, "{set}");
    assert_eq!(dap.request("configurationDone", json!({}), TIMEOUT)["success"], true);
    let stopped = dap.wait_event("stopped", TIMEOUT);
    let trace = dap.request("stackTrace", json!({"threadId": stopped["body"]["threadId"]}), TIMEOUT);
    let frame = trace["body"]["stackFrames"][0].clone();
    dap.request("disconnect", json!({}), TIMEOUT);
    (breakpoint, json!({"frame": frame, "expected_line": line}))
}

#[test]
fn lines_and_columns_are_counted_as_the_client_said() {
    // The default, and what every client here sends: from 1.
    let (breakpoint, stop) = stop_with(true, true);
    assert_eq!(breakpoint["line"], stop["expected_line"]);
    assert_eq!(stop["frame"]["line"], stop["expected_line"], "{stop}");
    assert_eq!(stop["frame"]["column"], 1, "{stop}");
    // From 0: the breakpoint set at line L - 1 is the file's line L.
    let (breakpoint, stop) = stop_with(false, false);
    assert_eq!(breakpoint["line"], stop["expected_line"]);
    assert_eq!(stop["frame"]["line"], stop["expected_line"], "{stop}");
    assert_eq!(stop["frame"]["column"], 0, "{stop}");
}

#[test]
fn a_compile_error_in_a_reload_is_trimmed_to_file_line_and_message() {
    let mut app = App::start(json!({}));
    app.edit("lib/reload_app/greeter.ex", "def hello(name) do", "def hello(name do");
    let response = app.reload(json!({}));
    assert_eq!(response["success"], false, "{response}");
    let diagnostic = &response["body"]["diagnostics"][0];
    let message = diagnostic["message"].as_str().unwrap();
    assert!(diagnostic["line"].as_i64().unwrap() > 0, "{diagnostic}");
    assert!(
        diagnostic["file"]
            .as_str()
            .unwrap()
            .ends_with("lib/reload_app/greeter.ex"),
        "{diagnostic}"
    );
    for noise in ["** (", "parallel_compiler", "greeter.ex:", "\n    ("] {
        assert!(!message.contains(noise), "{message:?} carries {noise:?}");
    }
    let summary = response["message"].as_str().unwrap();
    assert!(summary.contains("greeter.ex:"), "{summary}");
    assert!(!summary.contains("** ("), "{summary}");
    // The console's count is in the right number.
    app.edit("lib/reload_app/greeter.ex", "def hello(name do", "def hello(name) do");
    let response = app.reload(json!({"files": ["lib/reload_app/counter.ex"]}));
    assert_eq!(response["success"], true, "{response}");
    app.dap
        .wait_output("console", "Nothing to reload: 1 file unchanged", TIMEOUT);
}

#[test]
fn helix_is_sent_no_extension_events_and_a_reload_on_save_still_reports_on_the_console() {
    // Helix 25.01 stops reading the adapter at an event DAP does not
    // define: a save's `codeReloaded` left the session deaf.
    let project = fixture("reload_app");
    let mut dap = DapClient::start();
    let response = dap.request(
        "initialize",
        json!({"clientID": "hx", "clientName": "helix", "linesStartAt1": true, "columnsStartAt1": true}),
        TIMEOUT,
    );
    assert_eq!(response["success"], true, "{response}");
    let response = dap.request(
        "launch",
        json!({"projectDir": path_string(project.path()), "task": "run", "taskArgs": ["--no-halt"], "reloadOnSave": "auto"}),
        LAUNCH_TIMEOUT,
    );
    assert_eq!(response["success"], true, "{response}");
    dap.wait_event("initialized", LAUNCH_TIMEOUT);
    assert_eq!(dap.request("configurationDone", json!({}), TIMEOUT)["success"], true);
    dap.wait_output("stdout", "reload_app: started", LAUNCH_TIMEOUT);
    dap.wait_output("console", "elixir-dap: watching", TIMEOUT);

    let counter = project.path().join("lib/reload_app/counter.ex");
    let text = std::fs::read_to_string(&counter).unwrap();
    std::fs::write(&counter, text.replace("def version, do: 1", "def version, do: 2")).unwrap();
    dap.wait_output("console", "elixir-dap: Reloaded 1 module", TIMEOUT);
    // A reload by request answers as usual, also without the event.
    let reloaded = dap.request("reloadCode", json!({}), LAUNCH_TIMEOUT);
    assert_eq!(reloaded["success"], true, "{reloaded}");
    let version = dap.request(
        "evaluate",
        json!({"expression": "ReloadApp.Counter.version()", "context": "repl"}),
        TIMEOUT,
    );
    assert_eq!(version["body"]["result"], "2", "{version}");
    for event in ["codeReloaded", "reloadPending"] {
        assert!(dap.events_named(event).is_empty(), "{}", dap.transcript());
    }
    dap.request("disconnect", json!({}), TIMEOUT);
}
