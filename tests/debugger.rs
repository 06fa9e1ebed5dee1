//! Debugger core: the real binary, real `:int` in a real VM, checked the way
//! a user sees it: where it stops and why, frame names, variable values,
//! evaluate results, logpoint output, threads.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{json, Value};
use std::path::Path;
use support::*;

/// The line of `# bp:<name>` in a fixture source.
fn marker_line(file: &Path, name: &str) -> i64 {
    let text = std::fs::read_to_string(file).unwrap();
    let marker = format!("# bp:{name}");
    let index = text
        .lines()
        .position(|l| l.contains(&marker))
        .unwrap_or_else(|| panic!("no {marker} in {file:?}"));
    index as i64 + 1
}

struct Debug {
    dap: DapClient,
    stops_seen: usize,
    _project: tempfile::TempDir,
    file: std::path::PathBuf,
}

/// Launches `Plain.DebugMe` code in the plain fixture, sets breakpoints
/// (name, extra attributes) in debug_me.ex, checks they are verified, and
/// runs the task.
fn start(expression: &str, breakpoints: &[(&str, Value)], extra: Value) -> Debug {
    start_with(expression, breakpoints, None, extra).0
}

/// Like [`start`], also setting function breakpoints before the task runs;
/// returns their `setFunctionBreakpoints` response.
fn start_with(
    expression: &str,
    breakpoints: &[(&str, Value)],
    functions: Option<Value>,
    extra: Value,
) -> (Debug, Value) {
    let project = fixture("plain");
    let file = project.path().join("lib/plain/debug_me.ex");
    let mut dap = DapClient::start();
    let mut launch = json!({"projectDir": path_string(project.path()), "taskArgs": ["-e", expression]});
    for (key, value) in extra.as_object().unwrap() {
        launch[key] = value.clone();
    }
    let response = dap.launch(launch);
    assert_eq!(response["success"], true, "{response}");
    if !breakpoints.is_empty() {
        let list: Vec<Value> = breakpoints
            .iter()
            .map(|(name, attrs)| {
                let mut b = json!({"line": marker_line(&file, name)});
                for (k, v) in attrs.as_object().unwrap() {
                    b[k] = v.clone();
                }
                b
            })
            .collect();
        let set = dap.request(
            "setBreakpoints",
            json!({"source": {"path": path_string(&file)}, "breakpoints": list}),
            TIMEOUT,
        );
        for b in set["body"]["breakpoints"].as_array().unwrap() {
            assert_eq!(b["verified"], true, "{set}");
        }
    }
    let functions = match functions {
        Some(list) => dap.request("setFunctionBreakpoints", json!({ "breakpoints": list }), TIMEOUT),
        None => Value::Null,
    };
    assert_eq!(dap.request("configurationDone", json!({}), TIMEOUT)["success"], true);
    let debug = Debug {
        dap,
        stops_seen: 0,
        _project: project,
        file,
    };
    (debug, functions)
}

impl Debug {
    /// The next `stopped` event of the session.
    fn stopped(&mut self) -> Value {
        let n = self.stops_seen;
        self.stops_seen += 1;
        self.dap.wait_nth_event("stopped", n, TIMEOUT)
    }

    fn frames(&mut self, thread: &Value) -> Vec<Value> {
        let r = self.dap.request("stackTrace", json!({"threadId": thread}), TIMEOUT);
        assert_eq!(r["success"], true, "{r}\n{}", self.dap.transcript());
        r["body"]["stackFrames"].as_array().unwrap().clone()
    }

    /// The frame's variables as name → value.
    fn locals(&mut self, frame_id: &Value) -> serde_json::Map<String, Value> {
        let scopes = self.dap.request("scopes", json!({"frameId": frame_id}), TIMEOUT);
        let reference = scopes["body"]["scopes"][0]["variablesReference"].clone();
        self.variables(&reference, json!({}))
            .into_iter()
            .map(|v| (v["name"].as_str().unwrap().to_owned(), v))
            .collect()
    }

    fn variables(&mut self, reference: &Value, paging: Value) -> Vec<Value> {
        let mut args = json!({"variablesReference": reference});
        for (k, v) in paging.as_object().unwrap() {
            args[k] = v.clone();
        }
        let r = self.dap.request("variables", args, TIMEOUT);
        assert_eq!(r["success"], true, "{r}");
        r["body"]["variables"].as_array().unwrap().clone()
    }

    fn evaluate(&mut self, expression: &str, frame_id: Option<&Value>) -> Value {
        let mut args = json!({"expression": expression, "context": "repl"});
        if let Some(frame) = frame_id {
            args["frameId"] = frame.clone();
        }
        self.dap.request("evaluate", args, TIMEOUT)
    }

    fn clear_breakpoints(&mut self) {
        let r = self.dap.request(
            "setBreakpoints",
            json!({"source": {"path": path_string(&self.file)}, "breakpoints": []}),
            TIMEOUT,
        );
        assert_eq!(r["success"], true);
    }

    fn resume(&mut self, command: &str, thread: &Value) -> Value {
        let r = self.dap.request(command, json!({"threadId": thread}), TIMEOUT);
        assert_eq!(r["success"], true, "{r}");
        r
    }
}

#[test]
fn a_line_breakpoint_stops_with_frames_variables_and_evaluate() {
    let mut d = start("Plain.DebugMe.run(4)", &[("step-value", json!({}))], json!({}));
    let stopped = d.stopped();
    assert_eq!(stopped["body"]["reason"], "breakpoint");
    assert_eq!(stopped["body"]["allThreadsStopped"], false);
    let thread = stopped["body"]["threadId"].clone();
    let frames = d.frames(&thread);
    assert_eq!(frames[0]["name"], "Plain.DebugMe.step/2");
    assert_eq!(frames[0]["line"], marker_line(&d.file, "step-value"));
    assert!(frames[0]["source"]["path"]
        .as_str()
        .unwrap()
        .ends_with("lib/plain/debug_me.ex"));
    assert_eq!(frames[1]["name"], "Plain.DebugMe.loop/3");
    assert_eq!(frames[1]["line"], marker_line(&d.file, "loop-step"));
    // Paging: the second frame alone, with the total.
    let page = d.dap.request(
        "stackTrace",
        json!({"threadId": thread, "startFrame": 1, "levels": 1}),
        TIMEOUT,
    );
    assert_eq!(page["body"]["stackFrames"].as_array().unwrap().len(), 1);
    assert_eq!(page["body"]["stackFrames"][0]["name"], "Plain.DebugMe.loop/3");
    assert_eq!(page["body"]["totalFrames"], frames.len());

    let locals = d.locals(&frames[0]["id"]);
    assert_eq!(locals["i"]["value"], "0");
    assert_eq!(locals["acc"]["value"], "0");
    let result = d.evaluate("i + 100", Some(&frames[0]["id"]));
    assert_eq!(result["body"]["result"], "100", "{result}");

    d.resume("continue", &thread);
    let stopped = d.stopped();
    let frames = d.frames(&stopped["body"]["threadId"]);
    assert_eq!(d.locals(&frames[0]["id"])["i"]["value"], "1");
    d.clear_breakpoints();
    d.resume("continue", &thread);
    d.dap.wait_output("stdout", "debug_me: total 60 for 3 keys", TIMEOUT);
    assert_eq!(d.dap.wait_event("exited", TIMEOUT)["body"]["exitCode"], 0);
}

#[test]
fn maps_structs_and_lists_expand_lazily_and_page() {
    let mut d = start("Plain.DebugMe.run(5)", &[("run-loop", json!({}))], json!({}));
    let stopped = d.stopped();
    let frames = d.frames(&stopped["body"]["threadId"]);
    let locals = d.locals(&frames[0]["id"]);
    let data = &locals["data"];
    assert_eq!(data["type"], "map");
    assert_eq!(data["namedVariables"], 3);
    assert!(data["value"].as_str().unwrap().starts_with("%{"), "{data}");
    let fields: serde_json::Map<String, Value> = d
        .variables(&data["variablesReference"], json!({}))
        .into_iter()
        .map(|v| (v["name"].as_str().unwrap().to_owned(), v))
        .collect();
    assert_eq!(fields[":count"]["value"], "5");
    let owner = &fields[":owner"];
    assert_eq!(owner["type"], "Plain.DebugMe");
    let owner_fields = d.variables(&owner["variablesReference"], json!({}));
    let name = owner_fields.iter().find(|v| v["name"] == "name").unwrap();
    assert_eq!(name["value"], "\"widget\"");
    let items = &fields[":items"];
    assert_eq!(items["indexedVariables"], 5);
    let page = d.variables(&items["variablesReference"], json!({"start": 1, "count": 2}));
    let values: Vec<&str> = page.iter().map(|v| v["value"].as_str().unwrap()).collect();
    assert_eq!(values, vec!["2", "3"]);
    assert_eq!(page[0]["name"], "1");

    // A map tagged `__struct__` that is no struct (a key that is not an
    // atom, a tag that is not a module, a module that is not there) is
    // shown as the plain map it is.
    for (odd, children) in [
        (
            "%{:__struct__ => Plain.DebugMe, 1 => :one}",
            [("1", ":one"), (":__struct__", "Plain.DebugMe")],
        ),
        (
            "%{:__struct__ => \"Plain\", :a => 1}",
            [(":__struct__", "\"Plain\""), (":a", "1")],
        ),
        (
            "%{__struct__: NotAModule, a: 1}",
            [(":__struct__", "NotAModule"), (":a", "1")],
        ),
    ] {
        let shown = d.evaluate(odd, Some(&frames[0]["id"]));
        assert_eq!(shown["success"], true, "{shown}");
        assert_eq!(shown["body"]["type"], "map", "{shown}");
        let fields: Vec<(String, String)> = d
            .variables(&shown["body"]["variablesReference"], json!({}))
            .iter()
            .map(|v| {
                (
                    v["name"].as_str().unwrap().to_owned(),
                    v["value"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let expected: Vec<(String, String)> = children.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        assert_eq!(fields, expected, "{odd}");
    }
}

#[test]
fn conditions_hit_counts_and_logpoints() {
    let mut d = start(
        "Plain.DebugMe.run(5)",
        &[("step-value", json!({"condition": "i == 2"}))],
        json!({}),
    );
    let stopped = d.stopped();
    let frames = d.frames(&stopped["body"]["threadId"]);
    assert_eq!(
        d.locals(&frames[0]["id"])["i"]["value"],
        "2",
        "the condition i == 2 held"
    );

    let mut d = start(
        "Plain.DebugMe.run(5)",
        &[("step-value", json!({"hitCondition": "3"}))],
        json!({}),
    );
    let stopped = d.stopped();
    let frames = d.frames(&stopped["body"]["threadId"]);
    assert_eq!(
        d.locals(&frames[0]["id"])["i"]["value"],
        "2",
        "the third hit has i == 2"
    );

    let mut d = start(
        "Plain.DebugMe.run(3)",
        &[("step-value", json!({"logMessage": "step i={i} acc={acc} {{literal}}"}))],
        json!({}),
    );
    d.dap.wait_output("console", "step i=0 acc=0 {literal}", TIMEOUT);
    d.dap.wait_output("console", "step i=2 acc=10 {literal}", TIMEOUT);
    assert_eq!(d.dap.wait_event("exited", TIMEOUT)["body"]["exitCode"], 0);
    assert!(d.dap.events_named("stopped").is_empty(), "a logpoint must not stop");
}

#[test]
fn function_breakpoints_and_two_stopped_threads() {
    let (mut d, set) = start_with(
        "Plain.DebugMe.two_workers()",
        &[],
        Some(json!([{"name": "Plain.DebugMe.work/1"}, {"name": "Plain.DebugMe.nope/9"}, {"name": "garbage"}])),
        json!({}),
    );
    let results = set["body"]["breakpoints"].as_array().unwrap();
    assert_eq!(results[0]["verified"], true, "{set}");
    assert_eq!(results[1]["verified"], false);
    assert!(results[1]["message"].as_str().unwrap().contains("not defined"), "{set}");
    assert!(
        results[2]["message"]
            .as_str()
            .unwrap()
            .contains("Module.function/arity"),
        "{set}"
    );

    let first = d.stopped();
    let second = d.stopped();
    for stopped in [&first, &second] {
        assert_eq!(stopped["body"]["reason"], "function breakpoint");
    }
    let (a, b) = (first["body"]["threadId"].clone(), second["body"]["threadId"].clone());
    assert_ne!(a, b, "two processes are two threads");
    let threads = d.dap.request("threads", json!({}), TIMEOUT);
    assert_eq!(threads["body"]["threads"].as_array().unwrap().len(), 2, "{threads}");
    assert!(threads["body"]["threads"][0]["name"]
        .as_str()
        .unwrap()
        .contains("#PID<"));

    d.dap
        .request("setFunctionBreakpoints", json!({"breakpoints": []}), TIMEOUT);
    let continued = d.resume("continue", &a);
    assert_eq!(continued["body"]["allThreadsContinued"], false);
    // The other thread is still stopped in work/1.
    let frames = d.frames(&b);
    assert_eq!(frames[0]["name"], "Plain.DebugMe.work/1");
    d.resume("continue", &b);
    d.dap.wait_output("stdout", "debug_me: workers returned 300", TIMEOUT);
}

#[test]
fn stepping_in_out_and_over() {
    let mut d = start("Plain.DebugMe.run(3)", &[("loop-step", json!({}))], json!({}));
    let stopped = d.stopped();
    let thread = stopped["body"]["threadId"].clone();
    d.clear_breakpoints();
    d.resume("stepIn", &thread);
    let stepped = d.stopped();
    assert_eq!(stepped["body"]["reason"], "step");
    let frames = d.frames(&thread);
    assert_eq!(frames[0]["name"], "Plain.DebugMe.step/2");
    assert_eq!(frames[0]["line"], marker_line(&d.file, "step-value"));
    d.resume("next", &thread);
    d.stopped();
    let frames = d.frames(&thread);
    assert_eq!(frames[0]["line"], marker_line(&d.file, "step-value") + 1);
    d.resume("stepOut", &thread);
    d.stopped();
    let frames = d.frames(&thread);
    assert_eq!(frames[0]["name"], "Plain.DebugMe.loop/3");
}

#[test]
fn pause_stops_a_running_process() {
    let mut d = start("Plain.DebugMe.spin(1)", &[("spin", json!({}))], json!({}));
    let stopped = d.stopped();
    let thread = stopped["body"]["threadId"].clone();
    d.clear_breakpoints();
    d.resume("continue", &thread);
    let r = d.dap.request("pause", json!({"threadId": thread}), TIMEOUT);
    assert_eq!(r["success"], true, "{r}");
    let paused = d.stopped();
    assert_eq!(paused["body"]["reason"], "pause");
    assert_eq!(d.frames(&thread)[0]["name"], "Plain.DebugMe.spin/1");
}

/// `pause` of a process that waits a moment at a time inside debugged
/// code (`wait_for/1` sleeps 20 ms between checks for a file that never
/// comes): however often the pause finds it sleeping, it stops in
/// `wait_for/1` on the next line reached (reason `pause`), where its
/// variables are known, never inside `Process.sleep/1`. Three rounds; on
/// both backends (the native one steps to the next line even when the
/// process waits at the instant of the pause).
#[test]
fn pause_stops_a_process_that_sleeps_in_a_loop_at_its_next_line() {
    let never = tempfile::tempdir().unwrap();
    let go = never.path().join("never-created");
    let expression = format!("Plain.DebugMe.keep_fun({:?})", path_string(&go));
    let mut d = start(&expression, &[("wait-for", json!({}))], json!({}));
    let thread = d.stopped()["body"]["threadId"].clone();
    d.clear_breakpoints();
    let wait_for = marker_line(&d.file, "wait-for");
    for round in 1..=3 {
        d.resume("continue", &thread);
        let r = d.dap.request("pause", json!({"threadId": thread}), TIMEOUT);
        assert_eq!(r["success"], true, "{r}");
        let paused = d.stopped();
        assert_eq!(paused["body"]["reason"], "pause", "{paused}");
        let frames = d.frames(&thread);
        assert_eq!(
            frames[0]["name"], "Plain.DebugMe.wait_for/1",
            "round {round}: {frames:?}"
        );
        let line = frames[0]["line"].as_i64().unwrap();
        assert!(
            (wait_for..=wait_for + 2).contains(&line),
            "round {round}: paused on line {line}, wait_for/1's body is {wait_for}-{}",
            wait_for + 2
        );
        let file = d.locals(&frames[0]["id"])["file"]["value"].clone();
        assert!(
            file.as_str().unwrap().contains("never-created"),
            "round {round}: file = {file}"
        );
    }
}

/// `pause` of a process blocked in debugged code (a `receive` no message
/// matches): it is stopped in `wait_for_message/1` (reason `pause`; both
/// backends give the process 500 ms to reach a line, then stop it where it
/// waits), with its variable; continued, it waits again, and a second
/// `pause` stops it there again. A `next` from there waits on: the message
/// comes (sent from the debug console) and it stops on the clause that
/// received it.
#[test]
fn pause_stops_a_process_blocked_in_a_receive_of_its_code() {
    let mut d = start(
        "Plain.DebugMe.wait_for_message(:go)",
        &[("wait-message", json!({}))],
        json!({}),
    );
    let thread = d.stopped()["body"]["threadId"].clone();
    d.clear_breakpoints();
    let wait_message = marker_line(&d.file, "wait-message");
    d.resume("continue", &thread);
    d.dap.wait_output("stdout", "debug_me: waiting for :go", TIMEOUT);
    for round in 1..=2 {
        let r = d.dap.request("pause", json!({"threadId": thread}), TIMEOUT);
        assert_eq!(r["success"], true, "{r}");
        let paused = d.stopped();
        assert_eq!(paused["body"]["reason"], "pause", "{paused}");
        assert_eq!(paused["body"]["threadId"], thread, "{paused}");
        let frames = d.frames(&thread);
        assert_eq!(
            frames[0]["name"], "Plain.DebugMe.wait_for_message/1",
            "round {round}: {frames:?}"
        );
        let line = frames[0]["line"].as_i64().unwrap();
        assert!(
            (wait_message..=wait_message + 3).contains(&line),
            "round {round}: paused on line {line}, wait_for_message/1's body is {wait_message}-{}",
            wait_message + 3
        );
        let tag = d.locals(&frames[0]["id"])["tag"]["value"].clone();
        assert_eq!(tag, ":go", "round {round}");
        d.resume("continue", &thread);
    }
    // Paused where it waits, then `next`: it waits on; the message comes
    // and it stops at its next line.
    let r = d.dap.request("pause", json!({"threadId": thread}), TIMEOUT);
    assert_eq!(r["success"], true, "{r}");
    d.stopped();
    d.resume("next", &thread);
    let threads = d.dap.request("threads", json!({}), TIMEOUT);
    let name = threads["body"]["threads"][0]["name"].as_str().unwrap().to_owned();
    let pid = &name[name.find("#PID<").unwrap() + 4..=name.find('>').unwrap()];
    d.evaluate(&format!("send(:erlang.list_to_pid(~c\"{pid}\"), :go)"), None);
    let stepped = d.stopped();
    assert_eq!(stepped["body"]["reason"], "step", "{stepped}");
    let frames = d.frames(&thread);
    assert_eq!(frames[0]["name"], "Plain.DebugMe.wait_for_message/1", "{frames:?}");
    assert_eq!(
        frames[0]["line"],
        wait_message + 2,
        "the received message's clause: {frames:?}"
    );
    d.resume("continue", &thread);
    assert_eq!(d.dap.wait_event("exited", TIMEOUT)["body"]["exitCode"], 0);
}

#[test]
fn evaluate_errors_timeouts_and_the_repl_never_hurt_the_stopped_process() {
    let mut d = start(
        "Plain.DebugMe.run(2)",
        &[("step-value", json!({}))],
        json!({"debugExpressionTimeoutMs": 300}),
    );
    let stopped = d.stopped();
    let thread = stopped["body"]["threadId"].clone();
    let frames = d.frames(&thread);
    let frame = frames[0]["id"].clone();

    let repl = d.evaluate("Enum.sum([1, 2, 3])", None);
    assert_eq!(repl["body"]["result"], "6");
    // DAP's optional fields are left out, never null (a typed client
    // rejects `"indexedVariables": null`).
    for result in [&repl, &d.evaluate("[1, 2]", None), &d.evaluate("%{a: 1}", None)] {
        let body = result["body"].as_object().unwrap();
        assert!(body.values().all(|v| !v.is_null()), "{result}");
    }
    let list = d.evaluate("[1, 2]", None);
    assert_eq!(list["body"]["indexedVariables"], 2, "{list}");
    assert!(repl["body"].get("indexedVariables").is_none(), "{repl}");
    let syntax = d.evaluate("1 +* 2", Some(&frame));
    assert_eq!(syntax["success"], false);
    assert!(syntax["message"].as_str().unwrap().contains("SyntaxError"), "{syntax}");
    let raised = d.evaluate("raise \"kaboom\"", Some(&frame));
    assert!(raised["message"].as_str().unwrap().contains("kaboom"), "{raised}");
    let slow = d.evaluate("Process.sleep(5_000)", Some(&frame));
    assert_eq!(slow["success"], false);
    assert!(slow["message"].as_str().unwrap().contains("within 300 ms"), "{slow}");
    let exits = d.evaluate("exit(:boom)", Some(&frame));
    assert_eq!(exits["success"], false);

    // The stopped process is unharmed: its variables are still there.
    assert_eq!(d.locals(&frame)["i"]["value"], "0");
    d.clear_breakpoints();
    d.resume("continue", &thread);
    assert_eq!(d.dap.wait_event("exited", TIMEOUT)["body"]["exitCode"], 0);
}

/// A request the agent crashes on is the adapter's fault, not the user's: it
/// is answered as an internal error (error id 2, shown, with a hint to
/// report it), and the session goes on. The crash is real: the program (here
/// the debug console) deletes the agent's table of shown values, so the
/// agent's `children` request raises in `ets:lookup/2`.
#[test]
fn an_agent_crash_is_reported_as_internal_not_as_the_users_error() {
    let mut d = start("Plain.DebugMe.run(2)", &[("step-value", json!({}))], json!({}));
    let stopped = d.stopped();
    let thread = stopped["body"]["threadId"].clone();
    let list = d.evaluate("[1, 2]", None);
    assert_eq!(list["success"], true, "{list}");
    let reference = list["body"]["variablesReference"].clone();
    assert!(reference.as_i64().unwrap() > 0, "{list}");
    let deleted = d.evaluate(":ets.delete(:elixir_dap_handles)", None);
    assert_eq!(deleted["body"]["result"], "true", "{deleted}");
    let crashed = d
        .dap
        .request("variables", json!({"variablesReference": reference}), TIMEOUT);
    assert_eq!(crashed["success"], false, "{crashed}");
    let error = &crashed["body"]["error"];
    assert_eq!(error["id"], 2, "not answered as an internal error: {crashed}");
    assert_eq!(error["showUser"], true, "{crashed}");
    let message = crashed["message"].as_str().unwrap();
    assert!(message.starts_with("internal error: "), "{message}");
    assert!(
        message.contains("not of your program") && message.contains("report"),
        "{message}"
    );
    // A mistake of the user's is still a user error (id 1)...
    let typo = d.evaluate("1 +* 2", None);
    assert_eq!(typo["body"]["error"]["id"], 1, "{typo}");
    assert_eq!(typo["body"]["error"]["showUser"], true, "{typo}");
    // ... and the session goes on.
    assert_eq!(d.evaluate("Enum.sum([1, 2])", None)["body"]["result"], "3");
    d.clear_breakpoints();
    d.resume("continue", &thread);
    assert_eq!(d.dap.wait_event("exited", TIMEOUT)["body"]["exitCode"], 0);
}

#[test]
fn unverifiable_breakpoints_say_why() {
    let project = fixture("plain");
    let file = project.path().join("lib/plain/debug_me.ex");
    let math = project.path().join("lib/plain/math.ex");
    let mut dap = DapClient::start();
    let response = dap.launch(json!({
        "projectDir": path_string(project.path()),
        "taskArgs": ["-e", "Plain.main()"],
        "excludeModules": ["Plain.Math"],
    }));
    assert_eq!(response["success"], true, "{response}");
    let set = dap.request(
        "setBreakpoints",
        json!({"source": {"path": path_string(&file)}, "breakpoints": [{"line": 2}]}),
        TIMEOUT,
    );
    assert_eq!(set["body"]["breakpoints"][0]["verified"], false);
    assert_eq!(set["body"]["breakpoints"][0]["message"], "no code on line 2");
    let set = dap.request(
        "setBreakpoints",
        json!({"source": {"path": path_string(&math)}, "breakpoints": [{"line": 9}]}),
        TIMEOUT,
    );
    assert_eq!(set["body"]["breakpoints"][0]["verified"], false);
    assert!(
        set["body"]["breakpoints"][0]["message"]
            .as_str()
            .unwrap()
            .contains("excludeModules"),
        "{set}"
    );
    let set = dap.request(
        "setBreakpoints",
        json!({"source": {"path": "/nowhere/x.ex"}, "breakpoints": [{"line": 1}]}),
        TIMEOUT,
    );
    assert_eq!(
        set["body"]["breakpoints"][0]["message"],
        "no compiled module comes from this file"
    );
}

#[test]
fn modules_are_interpreted_with_progress_and_the_uninterpretable_are_named() {
    // The interpreter's interpretation: the native backend interprets
    // nothing (its skips: tests/native_backend.rs).
    let mut d = start("Process.sleep(200)", &[], json!({"debugBackend": "interpreter"}));
    d.dap.wait_for("the end of interpretation progress", TIMEOUT, |m| {
        m["event"] == "progressEnd"
            && m["body"]["message"]
                .as_str()
                .is_some_and(|t| t.contains("modules interpreted"))
    });
    d.dap
        .wait_output("console", "not interpreting Plain.Opaque: no_debug_info", TIMEOUT);
    let modules = d.dap.request("modules", json!({}), TIMEOUT);
    let list = modules["body"]["modules"].as_array().unwrap();
    let debug_me = list
        .iter()
        .find(|m| m["name"] == "Plain.DebugMe")
        .expect("Plain.DebugMe listed");
    assert_eq!(debug_me["symbolStatus"], "interpreted");
    let opaque = list
        .iter()
        .find(|m| m["name"] == "Plain.Opaque")
        .expect("Plain.Opaque listed");
    assert_eq!(opaque["symbolStatus"], "not interpreted");
    let sources = d.dap.request("loadedSources", json!({}), TIMEOUT);
    let paths: Vec<&str> = sources["body"]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["path"].as_str().unwrap())
        .collect();
    assert!(paths.iter().any(|p| p.ends_with("lib/plain/debug_me.ex")), "{paths:?}");
    assert!(!d.dap.events_named("module").is_empty());
}

#[test]
fn no_debug_runs_the_program_and_leaves_breakpoints_unverified() {
    let mut d = start("Plain.main()", &[], json!({"noDebug": true}));
    let set = d.dap.request(
        "setBreakpoints",
        json!({"source": {"path": path_string(&d.file)}, "breakpoints": [{"line": 20}]}),
        TIMEOUT,
    );
    assert_eq!(set["body"]["breakpoints"][0]["verified"], false);
    d.dap.wait_output("stdout", "plain: sum is 6", TIMEOUT);
    assert_eq!(d.dap.wait_event("exited", TIMEOUT)["body"]["exitCode"], 0);
}

/// Launches `fixture` (whose Mix project is `project_subdir` inside it), sets
/// one breakpoint at `marker` in `file`, runs `expression`, and returns the
/// client and the `setBreakpoints` result.
fn launch_with_breakpoint(
    fixture_name: &str,
    project_subdir: &str,
    file: &str,
    marker: &str,
    expression: &str,
    extra: Value,
) -> (DapClient, Value, tempfile::TempDir) {
    let root = fixture(fixture_name);
    let project = root.path().join(project_subdir);
    let source = root.path().join(file);
    let mut dap = DapClient::start();
    let mut launch = json!({"projectDir": path_string(&project), "taskArgs": ["-e", expression]});
    for (key, value) in extra.as_object().unwrap() {
        launch[key] = value.clone();
    }
    let response = dap.launch(launch);
    assert_eq!(response["success"], true, "{response}");
    let set = dap.request(
        "setBreakpoints",
        json!({"source": {"path": path_string(&source)}, "breakpoints": [{"line": marker_line(&source, marker)}]}),
        TIMEOUT,
    );
    assert_eq!(dap.request("configurationDone", json!({}), TIMEOUT)["success"], true);
    (dap, set["body"]["breakpoints"][0].clone(), root)
}

#[test]
fn umbrella_projects_debug_across_apps() {
    let (mut dap, breakpoint, _root) = launch_with_breakpoint(
        "umbrella",
        ".",
        "apps/core/lib/core/greeter.ex",
        "greet",
        "Web.Handler.handle(2)",
        // The caller's frame shows when its module was interpreted before
        // the start (lazily, it is interpreted once the task runs).
        json!({"lazyInterpretation": "off"}),
    );
    assert_eq!(breakpoint["verified"], true, "{breakpoint}");
    let stopped = dap.wait_event("stopped", TIMEOUT);
    let trace = dap.request("stackTrace", json!({"threadId": stopped["body"]["threadId"]}), TIMEOUT);
    let frames = trace["body"]["stackFrames"].as_array().unwrap();
    assert_eq!(frames[0]["name"], "Core.Greeter.greet/1");
    assert_eq!(
        frames[1]["name"], "Web.Handler.handle/1",
        "the caller in the other app is interpreted too"
    );
}

#[test]
fn path_dependencies_are_interpreted_only_when_a_pattern_names_them() {
    let (_dap, breakpoint, _root) = launch_with_breakpoint(
        "path_dep",
        "app",
        "helper_lib/lib/helper_lib.ex",
        "double",
        "Consumer.run()",
        json!({}),
    );
    assert_eq!(breakpoint["verified"], false);
    let message = breakpoint["message"].as_str().unwrap();
    assert!(
        message.contains("dependency helper_lib") && message.contains("debugInterpretModulesPatterns"),
        "{message}"
    );

    let (mut dap, breakpoint, _root) = launch_with_breakpoint(
        "path_dep",
        "app",
        "helper_lib/lib/helper_lib.ex",
        "double",
        "Consumer.run()",
        json!({"debugInterpretModulesPatterns": ["^HelperLib", "^Consumer"], "lazyInterpretation": "off"}),
    );
    assert_eq!(breakpoint["verified"], true, "{breakpoint}");
    let stopped = dap.wait_event("stopped", TIMEOUT);
    let trace = dap.request("stackTrace", json!({"threadId": stopped["body"]["threadId"]}), TIMEOUT);
    assert_eq!(trace["body"]["stackFrames"][0]["name"], "HelperLib.double/1");
    assert_eq!(trace["body"]["stackFrames"][1]["name"], "Consumer.run/0");
}
