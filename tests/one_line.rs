//! One stop per execution of a line. `:int` breaks at every body expression
//! carrying the line, and Elixir expands interpolation, `if ..., do:, else:`,
//! one-line `case`/`with`, `&&`/`||` into nested bodies of the same line,
//! and a capture in a pipeline (`&(&1 * 2)`, or `&double/1`, which the
//! interpreter turns into a fun whose body is a call on the line) is called
//! back from `Enum.map` once per element:
//! breakpoints, logpoints and hit counts must count executions of the line,
//! and `next` must leave the line. The `one_line` fixture's `Lines.run(fun)`
//! calls `Lines.fun(n)` for n = 1, 2, 3.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{json, Value};
use support::*;

/// Every function of `Lines` with a one-line expansion, with its marker.
const KINDS: &[(&str, &str)] = &[
    ("interpolation", "interpolation"),
    ("if_else", "if"),
    ("one_line_case", "case"),
    ("and_or", "andor"),
    ("pipes", "pipe"),
    ("captures", "capture"),
    ("with_one_line", "with"),
];

struct Run {
    dap: DapClient,
    _project: tempfile::TempDir,
}

/// Launches `Lines.run(:fun)` with one breakpoint (extra attributes merged)
/// on the marker's line.
fn launch(fun: &str, marker: &str, breakpoint: Value) -> (Run, i64) {
    let project = fixture("one_line");
    let file = project.path().join("lib/lines.ex");
    let line = marker_line(&file, marker);
    let mut dap = DapClient::start();
    let response = dap.launch(json!({
        "projectDir": path_string(project.path()),
        "taskArgs": ["-e", format!("Lines.run(:{fun})")],
    }));
    assert_eq!(response["success"], true, "{response}");
    let mut spec = json!({"line": line});
    for (k, v) in breakpoint.as_object().unwrap() {
        spec[k] = v.clone();
    }
    let set = dap.request(
        "setBreakpoints",
        json!({"source": {"path": path_string(&file)}, "breakpoints": [spec]}),
        TIMEOUT,
    );
    assert_eq!(set["body"]["breakpoints"][0]["verified"], true, "{set}");
    assert_eq!(dap.request("configurationDone", json!({}), TIMEOUT)["success"], true);
    (Run { dap, _project: project }, line)
}

impl Run {
    /// The value of `n` in the top frame of a stopped thread.
    fn n(&mut self, thread: &Value) -> String {
        let trace = self.dap.request("stackTrace", json!({"threadId": thread}), TIMEOUT);
        let frame = trace["body"]["stackFrames"][0]["id"].clone();
        let scopes = self.dap.request("scopes", json!({"frameId": frame}), TIMEOUT);
        let reference = scopes["body"]["scopes"][0]["variablesReference"].clone();
        let variables = self
            .dap
            .request("variables", json!({"variablesReference": reference}), TIMEOUT);
        variables["body"]["variables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "n")
            .map(|v| v["value"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("no n in {variables}"))
    }

    /// Continues every stop until the program ends; returns `n` at each.
    fn stops_until_exit(&mut self) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let next = self
                .dap
                .wait_for("a stop or the end of the program", LAUNCH_TIMEOUT, |m| {
                    m["event"] == "exited" || (m["event"] == "stopped" && !m.get("counted").is_some_and(|c| c == true))
                });
            if next["event"] == "exited" {
                return seen;
            }
            // Mark it seen: wait_for looks at messages already received first.
            let index = self.dap.received.iter().position(|m| *m == next).unwrap();
            self.dap.received[index]["counted"] = json!(true);
            let thread = next["body"]["threadId"].clone();
            seen.push(self.n(&thread));
            self.dap.request("continue", json!({"threadId": thread}), TIMEOUT);
        }
    }
}

#[test]
fn each_execution_of_an_expanded_line_stops_once() {
    for (fun, marker) in KINDS {
        let (mut run, _) = launch(fun, marker, json!({}));
        let stops = run.stops_until_exit();
        assert_eq!(
            stops,
            ["1", "2", "3"],
            "{fun}: one stop per call\n{}",
            run.dap.transcript()
        );
    }
}

#[test]
fn a_recursive_call_on_the_line_stops_in_every_activation() {
    let (mut run, _) = launch("recursive", "recursive", json!({}));
    // recursive(1): 1; recursive(2): 2, 1; recursive(3): 3, 2, 1.
    assert_eq!(run.stops_until_exit(), ["1", "2", "1", "3", "2", "1"]);
    // Not a tail call: each activation is on the interpreter's stack.
    let (mut run, _) = launch("depth", "depth", json!({}));
    assert_eq!(run.stops_until_exit(), ["1", "2", "1", "3", "2", "1"]);
}

#[test]
fn logpoints_and_hit_counts_count_executions() {
    for (fun, marker) in KINDS {
        let (mut run, _) = launch(fun, marker, json!({"logMessage": "log n={n}"}));
        run.dap.wait_event("exited", LAUNCH_TIMEOUT);
        let console = run.dap.output_text("console");
        let logged: Vec<&str> = console.lines().filter(|l| l.starts_with("log n=")).collect();
        assert_eq!(logged, ["log n=1", "log n=2", "log n=3"], "{fun}: {console}");

        let (mut run, _) = launch(fun, marker, json!({"hitCondition": "== 2"}));
        assert_eq!(run.stops_until_exit(), ["2"], "{fun}: the second execution only");
    }
}

#[test]
fn next_leaves_an_expanded_line() {
    for (fun, marker) in KINDS {
        let (mut run, line) = launch(fun, marker, json!({}));
        let stopped = run.dap.wait_event("stopped", LAUNCH_TIMEOUT);
        let thread = stopped["body"]["threadId"].clone();
        run.dap.request("next", json!({"threadId": thread}), TIMEOUT);
        let after = run.dap.wait_nth_event("stopped", 1, TIMEOUT);
        assert_eq!(after["body"]["reason"], "step", "{after}");
        let trace = run.dap.request("stackTrace", json!({"threadId": thread}), TIMEOUT);
        assert_eq!(trace["body"]["stackFrames"][0]["line"], line + 1, "{fun}: {trace}");
    }
}
