//! A debugger that tells the truth (issue 13), over DAP against real VMs,
//! with the `truth` fixture: threads that end however they end, stops and
//! output that never wait behind an evaluation, evaluations that stop at
//! breakpoints, frame names as Elixir prints them, one line in several
//! modules, conditions and logpoints checked when set, interpret patterns
//! with Elixir's regular expressions, and a project moved with its `_build`.
//! No test sleeps: each waits for the event or the output that says what it
//! waits for.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../support/mod.rs"]
mod support;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::*;
mod checks;

struct Truth {
    dap: DapClient,
    root: PathBuf,
    _project: Option<tempfile::TempDir>,
}

impl Truth {
    /// Launches `expression` in a copy of the fixture (or in `project_dir`).
    fn launch(expression: &str, extra: Value) -> Truth {
        let project = fixture("truth");
        let root = project.path().to_path_buf();
        let mut truth = Truth::launch_in(&root, expression, extra);
        truth._project = Some(project);
        truth
    }

    fn launch_in(root: &Path, expression: &str, extra: Value) -> Truth {
        let mut dap = DapClient::start();
        let mut launch = json!({"projectDir": path_string(root), "taskArgs": ["-e", expression]});
        for (key, value) in extra.as_object().unwrap() {
            launch[key] = value.clone();
        }
        let response = dap.launch(launch);
        assert_eq!(response["success"], true, "{response}\n{}", dap.transcript());
        Truth {
            dap,
            root: root.to_path_buf(),
            _project: None,
        }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.root.join("lib/truth").join(name)
    }

    /// Sets breakpoints in `file` at markers, each with extra attributes;
    /// returns the response's breakpoints.
    fn breakpoints(&mut self, file: &str, markers: &[(&str, Value)]) -> Vec<Value> {
        let path = self.file(file);
        let list: Vec<Value> = markers
            .iter()
            .map(|(name, attrs)| {
                let mut b = json!({"line": marker_line(&path, name)});
                for (k, v) in attrs.as_object().unwrap() {
                    b[k] = v.clone();
                }
                b
            })
            .collect();
        let set = self.dap.request(
            "setBreakpoints",
            json!({"source": {"path": path_string(&path)}, "breakpoints": list}),
            TIMEOUT,
        );
        assert_eq!(set["success"], true, "{set}");
        set["body"]["breakpoints"].as_array().unwrap().clone()
    }

    fn run(&mut self) {
        let done = self.dap.request("configurationDone", json!({}), LAUNCH_TIMEOUT);
        assert_eq!(done["success"], true, "{done}");
    }

    fn events(&self, event: &str) -> usize {
        self.dap.events_named(event).len()
    }

    /// The next `stopped` event after the `seen` first ones.
    fn stop(&mut self, seen: usize) -> Value {
        self.dap.wait_nth_event("stopped", seen, TIMEOUT)
    }

    fn frames(&mut self, thread: &Value) -> Vec<Value> {
        let r = self.dap.request("stackTrace", json!({"threadId": thread}), TIMEOUT);
        assert_eq!(r["success"], true, "{r}");
        r["body"]["stackFrames"].as_array().unwrap().clone()
    }

    fn locals(&mut self, frame: &Value) -> serde_json::Map<String, Value> {
        let scopes = self.dap.request("scopes", json!({"frameId": frame}), TIMEOUT);
        assert_eq!(scopes["success"], true, "{scopes}");
        let reference = scopes["body"]["scopes"][0]["variablesReference"].clone();
        let r = self
            .dap
            .request("variables", json!({"variablesReference": reference}), TIMEOUT);
        r["body"]["variables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| (v["name"].as_str().unwrap().to_owned(), v["value"].clone()))
            .collect()
    }

    fn evaluate(&mut self, expression: &str, context: &str, frame: Option<&Value>) -> Value {
        let mut args = json!({"expression": expression, "context": context});
        if let Some(frame) = frame {
            args["frameId"] = frame.clone();
        }
        self.dap.request("evaluate", args, TIMEOUT)
    }

    /// Evaluates in the debug console, without a frame; must succeed.
    fn repl(&mut self, expression: &str) -> String {
        let r = self.evaluate(expression, "repl", None);
        assert_eq!(r["success"], true, "{expression}: {r}");
        r["body"]["result"].as_str().unwrap().to_owned()
    }

    fn process_count(&mut self) -> i64 {
        self.repl(":erlang.system_info(:process_count)").parse().unwrap()
    }

    fn thread_ids(&mut self) -> Vec<i64> {
        let r = self.dap.request("threads", json!({}), TIMEOUT);
        r["body"]["threads"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_i64().unwrap())
            .collect()
    }

    fn resume(&mut self, command: &str, thread: &Value) {
        let r = self.dap.request(command, json!({"threadId": thread}), TIMEOUT);
        assert_eq!(r["success"], true, "{r}");
    }

    /// Waits for the `exited` thread event of `thread`.
    fn thread_exit(&mut self, thread: &Value) -> Value {
        let thread = thread.clone();
        self.dap.wait_for(&format!("thread {thread} exited"), TIMEOUT, |m| {
            m["event"] == "thread" && m["body"]["reason"] == "exited" && m["body"]["threadId"] == thread
        })
    }

    /// The position in the transcript of the first message matching.
    fn position(&self, what: &str, predicate: impl Fn(&Value) -> bool) -> usize {
        self.dap
            .received
            .iter()
            .position(predicate)
            .unwrap_or_else(|| panic!("{what} not received:\n{}", self.dap.transcript()))
    }
}

fn exits_of(dap: &DapClient, thread: &Value) -> usize {
    dap.events_named("thread")
        .iter()
        .filter(|m| m["body"]["reason"] == "exited" && m["body"]["threadId"] == *thread)
        .count()
}

// ---------------------------------------------------------------------------
// 1. Thread lifetime

#[test]
fn every_ended_process_leaves_threads_once_with_clear_errors_and_no_leak() {
    // Every module interpreted first: the VM's process count must not see
    // the background interpretation's agent call come and go.
    let mut t = Truth::launch("Truth.Life.coordinator()", json!({"lazyInterpretation": "off"}));
    let set = t.breakpoints("life.ex", &[("child", json!({}))]);
    assert_eq!(set[0]["verified"], true, "{set:?}");
    t.run();
    t.dap.wait_output("stdout", "life: ready", TIMEOUT);
    let before = t.process_count();

    // How each child ends, and what ends it once it is stopped at `child`.
    let cases = [
        ("killed", "wait", "kill"),                // killed by its parent while stopped
        ("returns", "normal", "continue"),         // continued, returns
        ("crashes", "crash", "continue"),          // continued, raises by itself
        ("exits", "exit", "continue"),             // continued, exit({:shutdown, _})
        ("waiting", "wait", "continue-then-kill"), // continued into a receive, then killed
        ("in_dbg", "dbg", "continue-then-kill"),   // continued into a `dbg` pause, then killed
    ];
    let mut ended = Vec::new();
    for (name, how, ending) in cases {
        let seen = t.events("stopped");
        t.repl(&format!("send(:truth_life, {{:spawn, :{name}, :{how}}})"));
        let stopped = t.stop(seen);
        let thread = stopped["body"]["threadId"].clone();
        assert!(t.thread_ids().contains(&thread.as_i64().unwrap()), "{name}");
        let frames = t.frames(&thread);
        let frame = frames[0]["id"].clone();
        let locals_reference = {
            let scopes = t.dap.request("scopes", json!({"frameId": frame}), TIMEOUT);
            scopes["body"]["scopes"][0]["variablesReference"].clone()
        };
        match ending {
            "kill" => {
                t.repl(&format!("send(:truth_life, {{:kill, :{name}}})"));
            }
            "continue" => t.resume("continue", &thread),
            _ => {
                t.resume("continue", &thread);
                if how == "dbg" {
                    // Paused again, in its `dbg` call.
                    let paused = t.stop(seen + 1);
                    assert_eq!(paused["body"]["threadId"], thread, "{paused}");
                } else {
                    // Running, in its receive: stackTrace says so.
                    let r = t.dap.request("stackTrace", json!({"threadId": thread}), TIMEOUT);
                    assert!(r["message"].as_str().unwrap_or("").contains("running"), "{r}");
                }
                t.repl(&format!("send(:truth_life, {{:kill, :{name}}})"));
            }
        }
        t.thread_exit(&thread);
        assert!(
            !t.thread_ids().contains(&thread.as_i64().unwrap()),
            "{name} still listed"
        );
        // Requests on the ended thread and on its frames say it has exited.
        let trace = t.dap.request("stackTrace", json!({"threadId": thread}), TIMEOUT);
        assert_eq!(trace["success"], false, "{trace}");
        assert!(
            trace["message"].as_str().unwrap().contains("has exited"),
            "{name}: {trace}"
        );
        for (command, args) in [
            ("scopes", json!({"frameId": frame})),
            ("variables", json!({"variablesReference": locals_reference})),
            (
                "evaluate",
                json!({"expression": "value", "frameId": frame, "context": "repl"}),
            ),
            ("continue", json!({"threadId": thread})),
        ] {
            let r = t.dap.request(command, args, TIMEOUT);
            assert_eq!(r["success"], false, "{command} on {name}: {r}");
            assert!(
                r["message"].as_str().unwrap().contains("exited"),
                "{command} on {name}: {r}"
            );
        }
        ended.push(thread);
    }
    // The crash is reported by the VM (on stdout or stderr, as its logger goes).
    t.dap.wait_for("the crash report", TIMEOUT, |m| {
        m["event"] == "output"
            && m["body"]["output"]
                .as_str()
                .is_some_and(|o| o.contains("child crashes crashed"))
    });
    // Each `exited` once, and the VM holds as many processes as before.
    for thread in &ended {
        assert_eq!(exits_of(&t.dap, thread), 1, "thread {thread}\n{}", t.dap.transcript());
    }
    assert!(t.thread_ids().is_empty());
    assert_eq!(t.process_count(), before, "processes leaked\n{}", t.dap.transcript());
}

#[test]
fn soak_200_stops_of_short_lived_processes_leave_nothing_behind() {
    const COUNT: usize = 200;
    // Every module interpreted first: the VM's process count must not see
    // the background interpretation's agent call come and go.
    let mut t = Truth::launch(
        &format!("Truth.Life.soak({COUNT})"),
        json!({"lazyInterpretation": "off"}),
    );
    let set = t.breakpoints("life.ex", &[("short", json!({}))]);
    assert_eq!(set[0]["verified"], true, "{set:?}");
    t.run();
    t.dap.wait_output("stdout", "soak: ready", TIMEOUT);
    let before = t.process_count();
    let started = Instant::now();
    t.repl("send(:truth_soak, :go)");
    let mut threads = std::collections::BTreeSet::new();
    for n in 0..COUNT {
        let stopped = t.stop(n);
        let thread = stopped["body"]["threadId"].clone();
        assert!(threads.insert(thread.as_i64().unwrap()), "a new thread each time");
        t.resume("continue", &thread);
    }
    t.dap.wait_output("stdout", &format!("soak: finished {COUNT}"), TIMEOUT);
    t.dap.wait_nth_event("thread", 2 * COUNT - 1, TIMEOUT);
    let elapsed = started.elapsed();
    for thread in &threads {
        assert_eq!(exits_of(&t.dap, &json!(thread)), 1, "thread {thread}");
    }
    assert!(t.thread_ids().is_empty(), "threads left");
    let after = t.process_count();
    eprintln!(
        "soak: {COUNT} stops and continues in {} ms; VM processes {before} before, {after} after",
        elapsed.as_millis()
    );
    assert_eq!(after, before, "the VM's process count is back where it started");
}

// ---------------------------------------------------------------------------
// 2. Stops, output and evaluate are independent

#[test]
fn stops_output_and_requests_do_not_wait_for_a_running_evaluation() {
    let mut t = Truth::launch("Truth.Eval.stopped_then_other()", json!({}));
    t.breakpoints("eval.ex", &[("first", json!({})), ("other", json!({}))]);
    // A logpoint on the line before `other`'s breakpoint.
    let eval = t.file("eval.ex");
    let print_line = marker_line(&eval, "other") - 1;
    let set = t.dap.request(
        "setBreakpoints",
        json!({"source": {"path": path_string(&eval)}, "breakpoints": [
            {"line": marker_line(&eval, "first")},
            {"line": print_line, "logMessage": "logpoint n={n}"},
            {"line": marker_line(&eval, "other")},
        ]}),
        TIMEOUT,
    );
    for b in set["body"]["breakpoints"].as_array().unwrap() {
        assert_eq!(b["verified"], true, "{set}");
    }
    t.run();
    let first = t.stop(0);
    let a = first["body"]["threadId"].clone();
    let frame = t.frames(&a)[0]["id"].clone();
    // An evaluation that takes 2 s, and that makes another process stop.
    let slow = t.dap.send(
        "evaluate",
        json!({"expression": "send(:truth_other, :go); Process.sleep(2_000); :slept", "frameId": frame, "context": "repl"}),
    );
    let other = t.stop(1);
    let b = other["body"]["threadId"].clone();
    assert_ne!(a, b);
    t.dap.wait_output("stdout", "eval: other 7", TIMEOUT);
    t.dap.wait_output("console", "logpoint n=7", TIMEOUT);
    // Requests about the new stop are answered meanwhile.
    let threads = t.dap.request("threads", json!({}), TIMEOUT);
    assert_eq!(threads["body"]["threads"].as_array().unwrap().len(), 2, "{threads}");
    let frames = t.frames(&b);
    assert_eq!(frames[0]["name"], "Truth.Eval.other/1");
    assert_eq!(t.locals(&frames[0]["id"])["n"], "7");
    let quick = t.evaluate("n * 2", "watch", Some(&frames[0]["id"]));
    assert_eq!(quick["body"]["result"], "14", "{quick}");
    let response_received = t.dap.received.len();
    let answer = t.dap.response_to(slow, TIMEOUT);
    assert_eq!(answer["body"]["result"], ":slept", "{answer}");
    // Everything above came before the slow evaluation's answer.
    let slow_at = t.position("the slow answer", |m| {
        m["type"] == "response" && m["request_seq"] == slow
    });
    assert!(
        slow_at >= response_received,
        "answered after the requests sent meanwhile"
    );
    for (what, at) in [
        (
            "the other stop",
            t.position("stop", |m| m["event"] == "stopped" && m["body"]["threadId"] == b),
        ),
        (
            "the output",
            t.position("stdout", |m| m["body"]["output"] == "eval: other 7\n"),
        ),
        (
            "the logpoint",
            t.position("log", |m| m["body"]["output"] == "logpoint n=7\n"),
        ),
    ] {
        assert!(at < slow_at, "{what} waited for the evaluation\n{}", t.dap.transcript());
    }
}

#[test]
fn evaluations_that_stop_sleep_or_spawn_are_reported_for_what_they_are() {
    let mut t = Truth::launch(
        "Truth.Eval.stopped_then_other()",
        json!({"debugExpressionTimeoutMs": 1000}),
    );
    t.breakpoints("eval.ex", &[("first", json!({})), ("with-break", json!({}))]);
    t.run();
    let first = t.stop(0);
    let a = first["body"]["threadId"].clone();
    let frame = t.frames(&a)[0]["id"].clone();

    // A hover or a watch runs through breakpoints.
    for context in ["hover", "watch", "clipboard"] {
        let r = t.evaluate("Truth.Eval.with_break(5)", context, None);
        assert_eq!(r["body"]["result"], "11", "{context}: {r}");
    }
    assert_eq!(t.events("stopped"), 1, "no stop from a hover or a watch");

    // In the console, the evaluation stops there, as a thread, at once.
    let asked = Instant::now();
    let r = t.evaluate("Truth.Eval.with_break(20)", "repl", None);
    assert!(asked.elapsed() < Duration::from_millis(900), "answered at once");
    assert_eq!(r["success"], false, "{r}");
    let message = r["message"].as_str().unwrap();
    assert!(
        message.contains("stopped at a breakpoint in Truth.Eval.with_break/1")
            && message.contains("eval.ex:")
            && message.contains("thread"),
        "{message}"
    );
    let stopped = t.stop(1);
    let worker = stopped["body"]["threadId"].clone();
    assert_eq!(stopped["body"]["reason"], "breakpoint");
    assert!(message.contains(&format!("thread {worker}")), "{message}");
    let threads = t.dap.request("threads", json!({}), TIMEOUT);
    let listed = threads["body"]["threads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|th| th["id"] == worker)
        .cloned()
        .unwrap();
    assert!(
        listed["name"]
            .as_str()
            .unwrap()
            .contains("evaluating `Truth.Eval.with_break(20)`"),
        "{listed}"
    );
    // The time limit no longer applies to it: a 1.5 s evaluation (which
    // itself times out) passes, and it is still there to inspect.
    let slow = t.evaluate("Process.sleep(1_500)", "repl", None);
    assert!(
        slow["message"]
            .as_str()
            .unwrap()
            .contains("did not finish within 1000 ms"),
        "{slow}"
    );
    let frames = t.frames(&worker);
    assert_eq!(frames[0]["name"], "Truth.Eval.with_break/1");
    assert_eq!(t.locals(&frames[0]["id"])["n"], "20");
    t.resume("continue", &worker);
    t.dap.wait_output(
        "console",
        &format!("`Truth.Eval.with_break(20)` (thread {worker}) = 41"),
        TIMEOUT,
    );
    t.thread_exit(&worker);
    assert_eq!(t.thread_ids(), vec![a.as_i64().unwrap()], "no dead evaluation thread");

    // With a frame's bindings, the same.
    let r = t.evaluate(
        "Truth.Eval.with_break(String.length(Atom.to_string(first)))",
        "repl",
        Some(&frame),
    );
    assert!(
        r["message"].as_str().unwrap().contains("stopped at a breakpoint"),
        "{r}"
    );
    let stopped = t.stop(2);
    let second = stopped["body"]["threadId"].clone();
    let frames = t.frames(&second);
    assert_eq!(t.locals(&frames[0]["id"])["n"], "5");
    t.resume("continue", &second);
    t.thread_exit(&second);

    // What an expression spawns is the program's: it stops like any process.
    let r = t.evaluate("spawn(fn -> Truth.Eval.with_break(3) end)", "hover", None);
    assert!(r["body"]["result"].as_str().unwrap().starts_with("#PID<"), "{r}");
    let spawned = t.stop(3);
    let spawned = spawned["body"]["threadId"].clone();
    t.resume("continue", &spawned);
    t.thread_exit(&spawned);

    // An evaluation that outlives its time is killed, and leaves no thread.
    let before = t.process_count();
    let r = t.evaluate("Process.sleep(10_000)", "repl", None);
    assert!(r["message"].as_str().unwrap().contains("within 1000 ms"), "{r}");
    let r = t.evaluate("raise ArgumentError, \"bad\"", "repl", None);
    assert!(r["message"].as_str().unwrap().contains("bad"), "{r}");
    assert_eq!(t.process_count(), before);
    assert_eq!(t.thread_ids(), vec![a.as_i64().unwrap()]);
    assert_eq!(t.events("stopped"), 4);
}

// ---------------------------------------------------------------------------
// 3. Frame names

#[test]
fn frames_are_named_as_elixir_prints_them() {
    let mut t = Truth::launch(
        "Truth.Anon.fn_body(2); Truth.Anon.two_args(); Truth.Anon.nested(); Truth.Anon.local_capture(); \
         Truth.Anon.called_fun(); Truth.Anon.question?(1); Truth.Anon.generated_b(1)",
        json!({}),
    );
    let anon = t.file("anon.ex");
    let fun_line = std::fs::read_to_string(&anon)
        .unwrap()
        .lines()
        .position(|l| l.contains("f = fn a, b, c ->"))
        .unwrap() as i64
        + 1;
    let markers = [
        "fn-body",
        "reduce-body",
        "nested-body",
        "double",
        "question",
        "generated",
    ];
    let mut list: Vec<Value> = markers.iter().map(|m| json!({"line": marker_line(&anon, m)})).collect();
    list.push(json!({"line": fun_line}));
    let set = t.dap.request(
        "setBreakpoints",
        json!({"source": {"path": path_string(&anon)}, "breakpoints": list}),
        TIMEOUT,
    );
    for b in set["body"]["breakpoints"].as_array().unwrap() {
        assert_eq!(b["verified"], true, "{set}");
    }
    t.run();
    let expected: &[&[&str]] = &[
        &["anonymous fn/1 in Truth.Anon.fn_body/1"],
        &["anonymous fn/2 in Truth.Anon.two_args/0"],
        &["anonymous fn/2 in Truth.Anon.two_args/0"],
        &["anonymous fn/1 in Truth.Anon.nested/0"],
        &["Truth.Anon.double/1"],
        // `f = fn a, b, c -> ... end` stops in called_fun/0, then in the fun
        // when apply_three/1 calls it (a tail call: apply_three/1's frame is
        // gone, as in Elixir's own stack traces).
        &["Truth.Anon.called_fun/0"],
        &["anonymous fn/3 in Truth.Anon.called_fun/0"],
        &["anonymous fn/1 in Truth.Anon.question?/1"],
        &["Truth.Anon.generated_b/1"],
    ];
    // On the native backend a fn written inside a line of other code has no
    // breakable line of its own (docs/protocol.md): the one-line fn of
    // called_fun/0 stops once, on its line in called_fun/0.
    let expected: Vec<&[&str]> = expected
        .iter()
        .copied()
        .filter(|names| !(native_run() && names[0] == "anonymous fn/3 in Truth.Anon.called_fun/0"))
        .collect();
    for (n, names) in expected.iter().enumerate() {
        let stopped = t.stop(n);
        let thread = stopped["body"]["threadId"].clone();
        let frames = t.frames(&thread);
        let got: Vec<&str> = frames.iter().map(|f| f["name"].as_str().unwrap()).collect();
        assert_eq!(&got[..names.len().min(got.len())], *names, "stop {n}: {frames:?}");
        t.resume("continue", &thread);
    }
    assert_eq!(t.dap.wait_event("exited", TIMEOUT)["body"]["exitCode"], 0);
}

// ---------------------------------------------------------------------------
// 4. One line, several modules

#[test]
fn a_line_of_several_modules_stops_in_each() {
    let mut t = Truth::launch("Truth.Describe.Run.run()", json!({}));
    let set = t.breakpoints(
        "describe.ex",
        &[("describe-number", json!({})), ("describe-atom", json!({}))],
    );
    assert!(set.iter().all(|b| b["verified"] == true), "{set:?}");
    let functions = t.dap.request(
        "setFunctionBreakpoints",
        json!({"breakpoints": [{"name": "Truth.Describe.Float.describe/1"}]}),
        TIMEOUT,
    );
    assert_eq!(functions["body"]["breakpoints"][0]["verified"], true, "{functions}");
    t.run();
    let number_id = set[0]["id"].clone();
    for (n, (frame, value, ids)) in [
        ("Truth.Describe.Integer.describe/1", "1", json!([number_id])),
        ("Truth.Describe.Float.describe/1", "2.5", json!([number_id])),
        ("Truth.Describe.Atom.describe/1", ":x", json!([set[1]["id"]])),
    ]
    .into_iter()
    .enumerate()
    {
        let stopped = t.stop(n);
        assert_eq!(stopped["body"]["reason"], "breakpoint", "{stopped}");
        assert_eq!(stopped["body"]["hitBreakpointIds"], ids, "{stopped}");
        let thread = stopped["body"]["threadId"].clone();
        let frames = t.frames(&thread);
        assert_eq!(frames[0]["name"], frame);
        assert_eq!(t.locals(&frames[0]["id"])["value"], value);
        t.resume("continue", &thread);
    }
    t.dap.wait_output("stdout", "atom x", TIMEOUT);

    // With one of the modules excluded, the line is still verified, and
    // stops for the other only.
    let mut t = Truth::launch(
        "Truth.Describe.Run.run()",
        json!({"excludeModules": ["Truth.Describe.Integer"]}),
    );
    let set = t.breakpoints("describe.ex", &[("describe-number", json!({}))]);
    assert_eq!(set[0]["verified"], true, "{set:?}");
    t.run();
    let stopped = t.stop(0);
    let thread = stopped["body"]["threadId"].clone();
    assert_eq!(t.frames(&thread)[0]["name"], "Truth.Describe.Float.describe/1");
    t.resume("continue", &thread);
    t.dap.wait_output("stdout", "atom x", TIMEOUT);
    assert_eq!(t.events("stopped"), 1);
}
