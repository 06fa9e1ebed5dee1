//! The native debugger backend (`debugBackend: "native"`, issue 20), over DAP
//! against real VMs with the `truth` fixture. On OTP 28+ the program runs
//! native code compiled with line debug info in the session's build path:
//! a line breakpoint stops, the stack has the lines, variables have their
//! Elixir names, an evaluation sees the frame's binding, a condition
//! filters, and the user's `_build` is left alone. On OTP 27 and earlier
//! the same launch is refused naming `debugBackend`; a bad value is refused
//! on every BEAM.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{json, Value};
use std::process::Command;
use support::app::App;
use support::*;

/// The OTP release of the `elixir` the adapter starts (the BEAM the test
/// binary runs with: the host's or a chroot's).
fn otp_release() -> u32 {
    let output = Command::new("elixir")
        .args(["-e", "IO.write(:erlang.system_info(:otp_release))"])
        .output()
        .expect("elixir runs");
    assert!(output.status.success(), "elixir -e failed: {output:?}");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("an OTP release number")
}

fn launch_arguments(project: &std::path::Path, expression: &str, backend: Value) -> Value {
    json!({
        "projectDir": path_string(project),
        "taskArgs": ["-e", expression],
        "reloadOnSave": "off",
        "debugBackend": backend,
    })
}

/// Before OTP 28 a launch with `debugBackend: "native"` fails naming the
/// attribute, and no VM runs.
fn assert_refused(dap: &mut DapClient, response: &Value, release: u32) {
    assert_eq!(response["success"], false, "OTP {release}: {response}");
    let message = response["message"].as_str().unwrap();
    assert!(
        message.contains("`debugBackend`") && message.contains("OTP 28"),
        "OTP {release}: {message}"
    );
    assert!(dap.events_named("process").is_empty(), "{}", dap.transcript());
    dap.close_and_wait(TIMEOUT);
}

#[test]
fn a_bad_debug_backend_is_refused_naming_the_field() {
    let project = fixture("truth");
    for bad in [json!("fast"), json!(3)] {
        let mut dap = DapClient::start();
        let response = dap.launch(launch_arguments(project.path(), ":ok", bad.clone()));
        assert_eq!(response["success"], false, "{bad}: {response}");
        let message = response["message"].as_str().unwrap();
        assert!(
            message.contains("`debugBackend`") && message.contains("\"auto\", \"native\" or \"interpreter\""),
            "{bad}: {message}"
        );
        dap.close_and_wait(TIMEOUT);
    }
}

#[test]
fn native_is_refused_before_otp_28_and_debugs_native_code_after() {
    let release = otp_release();
    let project = fixture("truth");
    let root = project.path();
    let mut dap = DapClient::start();
    let expression = "Truth.Cond.run([:a, :b]); IO.puts(\"native done\")";
    let response = dap.launch(launch_arguments(root, expression, json!("native")));
    if release < 28 {
        assert_refused(&mut dap, &response, release);
        return;
    }
    assert_eq!(response["success"], true, "{response}\n{}", dap.transcript());
    dap.wait_output("console", "debugger backend: native", TIMEOUT);

    let cond = root.join("lib/truth/cond.ex");
    let check = marker_line(&cond, "check");
    // Line 3 is a blank line: no debug_line, so unverified, never moved.
    let set = dap.request(
        "setBreakpoints",
        json!({"source": {"path": path_string(&cond)},
               "breakpoints": [{"line": check, "condition": "v == :b"}, {"line": 3}]}),
        TIMEOUT,
    );
    assert_eq!(set["success"], true, "{set}\n{}", dap.transcript());
    let placed = set["body"]["breakpoints"].as_array().unwrap();
    assert_eq!(placed[0]["verified"], true, "{set}");
    assert_eq!(placed[1]["verified"], false, "{set}");
    assert!(placed[1]["message"].as_str().unwrap().contains("line 3"), "{set}");
    assert!(placed[1]["line"].is_null() || placed[1]["line"] == 3, "{set}");

    let done = dap.request("configurationDone", json!({}), LAUNCH_TIMEOUT);
    assert_eq!(done["success"], true, "{done}");
    let stopped = dap.wait_event("stopped", LAUNCH_TIMEOUT);
    assert_eq!(stopped["body"]["reason"], "breakpoint", "{stopped}");
    let thread = stopped["body"]["threadId"].as_i64().unwrap();

    let trace = dap.request("stackTrace", json!({"threadId": thread}), TIMEOUT);
    assert_eq!(trace["success"], true, "{trace}");
    let frames = trace["body"]["stackFrames"].as_array().unwrap();
    assert_eq!(frames[0]["name"], "Truth.Cond.check/2", "{trace}");
    assert_eq!(frames[0]["line"], check, "{trace}");
    assert!(
        frames[0]["source"]["path"]
            .as_str()
            .unwrap()
            .ends_with("lib/truth/cond.ex"),
        "{trace}"
    );
    // The callers are the native stack: `check(v, i)` is the fn's last call
    // and `Enum.each` run/1's, so neither leaves a frame (tail calls); the
    // caller is Enum's, with its own line.
    assert!(frames[1]["name"].as_str().unwrap().starts_with("Enum."), "{trace}");
    assert!(frames[1]["line"].as_i64().unwrap() > 0, "{trace}");
    assert!(!frames.iter().any(|f| f["name"] == "Truth.Cond.run/1"), "{trace}");

    let frame = frames[0]["id"].as_i64().unwrap();
    // The condition held on the second element only.
    assert_eq!(variable(&mut dap, frame, "v"), ":b");
    assert_eq!(variable(&mut dap, frame, "i"), "1");

    let evaluated = dap.request(
        "evaluate",
        json!({"expression": "{v, i + 41}", "frameId": frame, "context": "repl"}),
        TIMEOUT,
    );
    assert_eq!(evaluated["success"], true, "{evaluated}");
    assert_eq!(evaluated["body"]["result"], "{:b, 42}", "{evaluated}");

    let resumed = dap.request("continue", json!({"threadId": thread}), TIMEOUT);
    assert_eq!(resumed["success"], true, "{resumed}");
    dap.wait_output("stdout", "native done", LAUNCH_TIMEOUT);
    dap.wait_event("terminated", LAUNCH_TIMEOUT);
    assert_eq!(dap.events_named("stopped").len(), 1, "{}", dap.transcript());
    // The project was compiled in the session's build path, not in `_build`.
    assert!(!root.join("_build").exists(), "the user's _build was written");
    dap.close_and_wait(TIMEOUT);
}

/// A reload on the native backend, which does not debug reloaded code yet:
/// the batch is refused and rolled back, naming each debugged module with
/// the agent's `unsupported` reason, and the old code keeps running (the
/// GenServer keeps its state). Before OTP 28: the launch is refused, as
/// above.
#[test]
fn a_reload_on_the_native_backend_is_rolled_back_naming_the_backend() {
    let release = otp_release();
    if release < 28 {
        let project = fixture("reload_app");
        let mut dap = DapClient::start();
        let response = dap.launch(launch_arguments(project.path(), ":ok", json!("native")));
        assert_refused(&mut dap, &response, release);
        return;
    }
    let mut app = App::start(json!({"debugBackend": "native", "lazyInterpretation": "off"}));
    assert_eq!(app.eval("ReloadApp.Counter.bump()"), "{1, 1}");
    app.edit("lib/reload_app/counter.ex", "def version, do: 1", "def version, do: 2");
    let response = app.reload(json!({}));
    assert_eq!(response["success"], false, "{response}");
    assert_eq!(response["body"]["rolledBack"], true, "{response}");
    let failed = response["body"]["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{response}");
    assert_eq!(failed[0]["module"], "ReloadApp.Counter", "{response}");
    assert!(
        failed[0]["reason"]
            .as_str()
            .unwrap()
            .contains("the native debugger backend (`debugBackend` \"native\") cannot debug reloaded code yet"),
        "{response}"
    );
    assert_eq!(
        app.eval("ReloadApp.Counter.bump()"),
        "{1, 2}",
        "{}",
        app.dap.transcript()
    );
    app.dap.close_and_wait(TIMEOUT);
}

/// The innermost frame of a stopped thread: its name and line.
fn top_frame(dap: &mut DapClient, thread: i64) -> (String, i64, i64) {
    let trace = dap.request("stackTrace", json!({"threadId": thread}), TIMEOUT);
    assert_eq!(trace["success"], true, "{trace}");
    let frame = &trace["body"]["stackFrames"][0];
    (
        frame["name"].as_str().unwrap().to_owned(),
        frame["line"].as_i64().unwrap(),
        frame["id"].as_i64().unwrap(),
    )
}

/// The value of variable `name` in frame `frame`.
fn variable(dap: &mut DapClient, frame: i64, name: &str) -> String {
    let scopes = dap.request("scopes", json!({"frameId": frame}), TIMEOUT);
    let reference = scopes["body"]["scopes"][0]["variablesReference"].as_i64().unwrap();
    let variables = dap.request("variables", json!({"variablesReference": reference}), TIMEOUT);
    let variables = variables["body"]["variables"].as_array().unwrap();
    variables
        .iter()
        .find(|v| v["name"] == name)
        .map(|v| v["value"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no variable {name}: {variables:?}"))
}

/// Stepping on the native backend (temporary breakpoints, as OTP's edb
/// steps): from `loop/3`'s first line, `stepIn` stops in `step/2`, `next`
/// on its next line, `stepOut` back in `loop/3` on the line after the call,
/// and `next` over the tail call `loop(i + 1, n, acc)` in the next pass of
/// `loop/3`; each stop has reason `step`, and the process then runs to its
/// end. Before OTP 28: the launch is refused, as above.
#[test]
fn stepping_on_the_native_backend_goes_in_over_and_out() {
    let release = otp_release();
    let project = fixture("plain");
    let root = project.path();
    let mut dap = DapClient::start();
    let response = dap.launch(launch_arguments(root, "Plain.DebugMe.run(2)", json!("native")));
    if release < 28 {
        assert_refused(&mut dap, &response, release);
        return;
    }
    assert_eq!(response["success"], true, "{response}\n{}", dap.transcript());
    let file = root.join("lib/plain/debug_me.ex");
    let source = json!({"path": path_string(&file)});
    let loop_step = marker_line(&file, "loop-step");
    let step_value = marker_line(&file, "step-value");
    let set = dap.request(
        "setBreakpoints",
        json!({"source": source, "breakpoints": [{"line": loop_step}]}),
        TIMEOUT,
    );
    assert_eq!(set["body"]["breakpoints"][0]["verified"], true, "{set}");
    let done = dap.request("configurationDone", json!({}), LAUNCH_TIMEOUT);
    assert_eq!(done["success"], true, "{done}");
    let stopped = dap.wait_nth_event("stopped", 0, LAUNCH_TIMEOUT);
    let thread = stopped["body"]["threadId"].as_i64().unwrap();
    // The user's breakpoint goes: each stop below is the step's own.
    let cleared = dap.request("setBreakpoints", json!({"source": source, "breakpoints": []}), TIMEOUT);
    assert_eq!(cleared["success"], true, "{cleared}");

    let steps = [
        ("stepIn", "Plain.DebugMe.step/2", step_value),
        ("next", "Plain.DebugMe.step/2", step_value + 1),
        ("stepOut", "Plain.DebugMe.loop/3", loop_step + 1),
        ("next", "Plain.DebugMe.loop/3", loop_step),
    ];
    let mut frame = 0;
    for (n, (request, name, line)) in steps.into_iter().enumerate() {
        let response = dap.request(request, json!({"threadId": thread}), TIMEOUT);
        assert_eq!(response["success"], true, "{request}: {response}");
        let stopped = dap.wait_nth_event("stopped", n + 1, TIMEOUT);
        assert_eq!(stopped["body"]["reason"], "step", "{request}: {stopped}");
        assert_eq!(stopped["body"]["threadId"], thread, "{request}: {stopped}");
        let (top, top_line, id) = top_frame(&mut dap, thread);
        assert_eq!(
            (top.as_str(), top_line),
            (name, line),
            "after {request}\n{}",
            dap.transcript()
        );
        frame = id;
    }
    // The last `next` went over the tail call into the next pass.
    assert_eq!(variable(&mut dap, frame, "i"), "1");

    let resumed = dap.request("continue", json!({"threadId": thread}), TIMEOUT);
    assert_eq!(resumed["success"], true, "{resumed}");
    dap.wait_output("stdout", "debug_me: total 10", LAUNCH_TIMEOUT);
    dap.wait_event("terminated", LAUNCH_TIMEOUT);
    assert_eq!(dap.events_named("stopped").len(), 5, "{}", dap.transcript());
    dap.close_and_wait(TIMEOUT);
}
