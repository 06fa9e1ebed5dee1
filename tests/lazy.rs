//! Lazy interpretation (issue 17), over DAP against the plain fixture: what
//! is interpreted before the task starts, what follows in the background,
//! what `modules` says about each, and that a step in never passes over a
//! module only because it was not interpreted yet.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{json, Value};
use support::*;

struct Session {
    dap: DapClient,
    _project: tempfile::TempDir,
    file: std::path::PathBuf,
}

/// Launches `expression` in the plain fixture with `extra` attributes,
/// sets line breakpoints at the named markers of debug_me.ex (each must be
/// verified) and runs the task.
fn start(expression: &str, markers: &[&str], extra: Value) -> Session {
    let project = fixture("plain");
    let file = project.path().join("lib/plain/debug_me.ex");
    let mut dap = DapClient::start();
    let mut launch = json!({"projectDir": path_string(project.path()), "taskArgs": ["-e", expression]});
    for (key, value) in extra.as_object().unwrap() {
        launch[key] = value.clone();
    }
    let response = dap.launch(launch);
    assert_eq!(response["success"], true, "{response}");
    if !markers.is_empty() {
        let list: Vec<Value> = markers.iter().map(|m| json!({"line": marker_line(&file, m)})).collect();
        let set = dap.request(
            "setBreakpoints",
            json!({"source": {"path": path_string(&file)}, "breakpoints": list}),
            TIMEOUT,
        );
        for b in set["body"]["breakpoints"].as_array().unwrap() {
            assert_eq!(b["verified"], true, "{set}");
        }
    }
    // Exception breakpoints are accepted as before (no filters offered).
    let exceptions = dap.request("setExceptionBreakpoints", json!({"filters": []}), TIMEOUT);
    assert_eq!(exceptions["success"], true, "{exceptions}");
    assert_eq!(dap.request("configurationDone", json!({}), TIMEOUT)["success"], true);
    Session {
        dap,
        _project: project,
        file,
    }
}

impl Session {
    /// The `modules` entry of the module named `name`.
    fn module(&mut self, name: &str) -> Value {
        let modules = self.dap.request("modules", json!({}), TIMEOUT);
        assert_eq!(modules["success"], true, "{modules}");
        modules["body"]["modules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("{name} not listed: {modules}"))
            .clone()
    }

    fn top_frame(&mut self, thread: &Value) -> Value {
        let r = self.dap.request("stackTrace", json!({"threadId": thread}), TIMEOUT);
        assert_eq!(r["success"], true, "{r}");
        r["body"]["stackFrames"][0].clone()
    }

    fn resume(&mut self, command: &str, thread: &Value) {
        let r = self.dap.request(command, json!({"threadId": thread}), TIMEOUT);
        assert_eq!(r["success"], true, "{r}");
    }
}

#[test]
fn breakpoint_modules_first_and_the_rest_in_the_background() {
    // Lazy interpretation is the interpreter's: nothing is interpreted on
    // the native backend.
    let mut s = start(
        "Plain.DebugMe.run(2)",
        &["step-value"],
        json!({"debugBackend": "interpreter"}),
    );
    let stopped = s.dap.wait_event("stopped", TIMEOUT);
    let thread = stopped["body"]["threadId"].clone();
    let debug_me = s.module("Plain.DebugMe");
    assert_eq!(debug_me["symbolStatus"], "interpreted", "{debug_me}");
    assert_eq!(debug_me["interpretedWhen"], "beforeStart", "{debug_me}");
    // The rest follows once the task has started, while it is stopped.
    s.dap.wait_output("console", "modules in the background in", TIMEOUT);
    let math = s.module("Plain.Math");
    assert_eq!(math["symbolStatus"], "interpreted", "{math}");
    assert_eq!(math["interpretedWhen"], "background", "{math}");
    assert!(
        math["interpretedAfterMs"].as_u64().unwrap() >= debug_me["interpretedAfterMs"].as_u64().unwrap(),
        "{math} {debug_me}"
    );
    let event = s
        .dap
        .events_named("module")
        .into_iter()
        .find(|e| e["body"]["module"]["name"] == "Plain.Math")
        .cloned()
        .expect("a module event for Plain.Math");
    assert_eq!(event["body"]["module"]["interpretedWhen"], "background", "{event}");
    // The uninterpretable are still named.
    s.dap
        .wait_output("console", "not interpreting Plain.Opaque: no_debug_info", TIMEOUT);
    assert_eq!(s.module("Plain.Opaque")["symbolStatus"], "not interpreted");
    s.resume("continue", &thread);
    s.dap.wait_nth_event("stopped", 1, TIMEOUT);
}

#[test]
fn stepping_into_a_module_not_interpreted_yet_stops_inside_it() {
    let mut s = start(
        "Plain.DebugMe.add_via_math(2, 3)",
        &["call-math", "apply-math"],
        json!({"lazyInterpretation": "onDemand"}),
    );
    let stopped = s.dap.wait_event("stopped", TIMEOUT);
    let thread = stopped["body"]["threadId"].clone();
    assert_eq!(s.top_frame(&thread)["line"], marker_line(&s.file, "call-math"));
    let math = s.module("Plain.Math");
    assert_eq!(math["symbolStatus"], "interpreted when needed", "{math}");
    s.resume("stepIn", &thread);
    let stepped = s.dap.wait_nth_event("stopped", 1, TIMEOUT);
    assert_eq!(stepped["body"]["reason"], "step", "{stepped}");
    let frame = s.top_frame(&thread);
    assert_eq!(frame["name"], "Plain.Math.add/2", "{frame}");
    let math = s.module("Plain.Math");
    assert_eq!(math["symbolStatus"], "interpreted", "{math}");
    assert_eq!(math["interpretedWhen"], "onDemand", "{math}");
    s.resume("continue", &thread);
    s.dap.wait_output("stdout", "debug_me: math says 5", TIMEOUT);
    s.dap.wait_nth_event("stopped", 2, TIMEOUT);
    s.resume("continue", &thread);
    s.dap.wait_output("stdout", "debug_me: apply says 6", TIMEOUT);
    assert_eq!(s.dap.wait_event("exited", TIMEOUT)["body"]["exitCode"], 0);
}

#[test]
fn a_call_known_only_at_run_time_interprets_every_pending_module_before_the_step() {
    let mut s = start(
        "Plain.DebugMe.add_via_math(2, 3)",
        &["apply-math"],
        json!({"lazyInterpretation": "onDemand"}),
    );
    let stopped = s.dap.wait_event("stopped", TIMEOUT);
    let thread = stopped["body"]["threadId"].clone();
    assert_eq!(s.top_frame(&thread)["line"], marker_line(&s.file, "apply-math"));
    assert_eq!(s.module("Plain.Math")["symbolStatus"], "interpreted when needed");
    s.resume("stepIn", &thread);
    let stepped = s.dap.wait_nth_event("stopped", 1, TIMEOUT);
    assert_eq!(stepped["body"]["reason"], "step", "{stepped}");
    assert_eq!(s.top_frame(&thread)["name"], "Plain.Math.add/2");
    // Every pending module, not only the one `apply/3` reached.
    assert_eq!(s.module("Plain")["interpretedWhen"], "onDemand");
    s.resume("continue", &thread);
    s.dap.wait_output("stdout", "debug_me: apply says 6", TIMEOUT);
}

/// A fun the program created natively before its module was interpreted
/// still runs once the module is (natively: its body is not interpreted).
#[test]
fn funs_created_before_the_interpretation_still_run() {
    let project = fixture("plain");
    let go = project.path().join("go");
    let file = project.path().join("lib/plain/debug_me.ex");
    let mut dap = DapClient::start();
    let expression = format!("Plain.DebugMe.keep_fun({:?})", path_string(&go));
    let response = dap.launch(json!({
        "projectDir": path_string(project.path()),
        "taskArgs": ["-e", expression],
        "lazyInterpretation": "onDemand",
    }));
    assert_eq!(response["success"], true, "{response}");
    assert_eq!(dap.request("configurationDone", json!({}), TIMEOUT)["success"], true);
    dap.wait_output("stdout", "debug_me: fun ready", TIMEOUT);
    // Interprets Plain.DebugMe while keep_fun/1 runs natively, holding funs.
    let set = dap.request(
        "setBreakpoints",
        json!({"source": {"path": path_string(&file)}, "breakpoints": [{"line": marker_line(&file, "step-value")}]}),
        TIMEOUT,
    );
    assert_eq!(set["body"]["breakpoints"][0]["verified"], true, "{set}");
    std::fs::write(&go, "go").unwrap();
    dap.wait_output("stdout", "debug_me: fun says 5", TIMEOUT);
    assert_eq!(dap.wait_event("exited", TIMEOUT)["body"]["exitCode"], 0);
}

#[test]
fn eager_patterns_and_dbg_callers_are_interpreted_before_the_start() {
    let mut s = start(
        "Process.sleep(:infinity)",
        &[],
        json!({"lazyInterpretation": "onDemand", "eagerInterpretModulesPatterns": ["^Plain\\.Math$"]}),
    );
    s.dap.wait_output("console", "elixir-dap: running", TIMEOUT);
    let math = s.module("Plain.Math");
    assert_eq!(math["interpretedWhen"], "beforeStart", "{math}");
    // A `dbg` caller, for `breakOnDbg` (on by default).
    let dbg_me = s.module("Plain.DbgMe");
    assert_eq!(dbg_me["interpretedWhen"], "beforeStart", "{dbg_me}");
    let debug_me = s.module("Plain.DebugMe");
    assert_eq!(debug_me["symbolStatus"], "interpreted when needed", "{debug_me}");
    assert!(debug_me.get("interpretedWhen").is_none(), "{debug_me}");
}

#[test]
fn an_invalid_eager_pattern_fails_the_launch_naming_it() {
    let project = fixture("plain");
    let mut dap = DapClient::start();
    let response = dap.launch(json!({
        "projectDir": path_string(project.path()),
        "eagerInterpretModulesPatterns": ["ok", "("],
    }));
    assert_eq!(response["success"], false, "{response}");
    let message = response["message"].as_str().unwrap();
    assert!(message.contains("eagerInterpretModulesPatterns[1]"), "{message}");
}
