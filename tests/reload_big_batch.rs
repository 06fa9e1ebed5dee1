//! A reload of a big batch (a macro many modules use, issue 17): the
//! adapter interprets before it answers only what a stop may need now
//! (modules with breakpoints, modules a thread is stopped in, `dbg` callers,
//! eager ones) and the rest later, in the background or when needed; those
//! run their new native code meanwhile, also when interpreted code calls
//! them. The real binary, a real VM running `reload_app` with thirty more
//! modules that use `ReloadApp.Macros`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{json, Value};
use std::path::Path;
use support::app::App;
use support::*;

/// More than the adapter interprets before a reload answers (20).
const DEPENDENTS: usize = 30;

/// Writes `ReloadApp.Dep1` .. `Dep30` (each `base = Macros.answer()` on
/// line 5, `base + n` on line 6) and
/// `ReloadApp.DepCaller`, which calls `Dep2` by name.
fn add_dependents(root: &Path) {
    let dir = root.join("lib/reload_app/deps");
    std::fs::create_dir_all(&dir).unwrap();
    for n in 1..=DEPENDENTS {
        std::fs::write(
            dir.join(format!("dep_{n}.ex")),
            format!(
                "defmodule ReloadApp.Dep{n} do\n  require ReloadApp.Macros\n\n  def value do\n    base = ReloadApp.Macros.answer()\n    base + {n}\n  end\nend\n"
            ),
        )
        .unwrap();
    }
    std::fs::write(
        root.join("lib/reload_app/dep_caller.ex"),
        "defmodule ReloadApp.DepCaller do\n  def call_two do\n    ReloadApp.Dep2.value()\n  end\nend\n",
    )
    .unwrap();
}

fn start(extra: Value) -> App {
    App::start_prepared("reload_app", "reload_app: started", extra, add_dependents)
}

fn set_breakpoint(app: &mut App, file: &str, line: i64) -> Value {
    let response = app.dap.request(
        "setBreakpoints",
        json!({"source": {"path": path_string(&app.path(file))}, "breakpoints": [{"line": line}]}),
        TIMEOUT,
    );
    assert_eq!(response["body"]["breakpoints"][0]["verified"], true, "{response}");
    response
}

fn clear_breakpoints(app: &mut App, file: &str) {
    let response = app.dap.request(
        "setBreakpoints",
        json!({"source": {"path": path_string(&app.path(file))}, "breakpoints": []}),
        TIMEOUT,
    );
    assert_eq!(response["success"], true, "{response}");
}

/// Changes the answer of `ReloadApp.Macros.answer/0` (the hub of the
/// thirty dependents) from `from` to `to`, reloads, and returns the
/// successful response.
fn reload_with_answer(app: &mut App, from: u32, to: u32) -> Value {
    app.edit_and_reload(
        "lib/reload_app/macros.ex",
        &format!("defmacro answer, do: {from}"),
        &format!("defmacro answer, do: {to}"),
    )
}

fn reloaded_entry<'a>(response: &'a Value, module: &str) -> &'a Value {
    response["body"]["reloaded"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["module"] == module)
        .unwrap_or_else(|| panic!("{module} not reloaded: {response}"))
}

/// Calls `Dep{n}.value()` in a new process, which must make the session's
/// `nth` (0-based) stop at its breakpoint on line 6 of `dep_{n}.ex`, in the
/// new code (`base` is the macro's new answer, 43); then continues it.
fn stops_in_new_code(app: &mut App, n: usize, nth: usize) {
    app.eval(&format!("spawn(fn -> ReloadApp.Dep{n}.value() end)"));
    let stopped = app.dap.wait_nth_event("stopped", nth, TIMEOUT);
    let thread = stopped["body"]["threadId"].clone();
    let stack = app.dap.request("stackTrace", json!({"threadId": thread}), TIMEOUT);
    let top = &stack["body"]["stackFrames"][0];
    assert!(
        top["source"]["path"]
            .as_str()
            .unwrap()
            .ends_with(&format!("dep_{n}.ex")),
        "{stack}"
    );
    assert_eq!(top["line"], 6, "{stack}");
    assert_eq!(
        frame_value(app, &top["id"], "base"),
        "43",
        "the old code stopped: {stack}"
    );
    let resumed = app.dap.request("continue", json!({"threadId": thread}), TIMEOUT);
    assert_eq!(resumed["success"], true, "{resumed}");
}

/// `expression` evaluated in a stopped frame.
fn frame_value(app: &mut App, frame: &Value, expression: &str) -> String {
    let response = app.dap.request(
        "evaluate",
        json!({"expression": expression, "frameId": frame, "context": "repl"}),
        TIMEOUT,
    );
    assert_eq!(response["success"], true, "{response}");
    response["body"]["result"].as_str().unwrap().to_owned()
}

fn interpreted(app: &mut App, module: &str) -> String {
    app.eval(&format!("{module} in :int.interpreted()"))
}

#[test]
fn a_big_batch_answers_before_interpreting_what_no_stop_needs_and_its_new_code_runs_at_once() {
    // onDemand: nothing interprets the rest behind the test's back.
    let mut app = start(json!({"lazyInterpretation": "onDemand"}));
    // Interpreted now (a breakpoint interprets its module), then no
    // breakpoints left: the caller and the module it calls.
    for (file, line) in [("lib/reload_app/dep_caller.ex", 3), ("lib/reload_app/deps/dep_2.ex", 6)] {
        set_breakpoint(&mut app, file, line);
        clear_breakpoints(&mut app, file);
    }
    // A breakpoint the batch keeps: its module is interpreted before the answer.
    set_breakpoint(&mut app, "lib/reload_app/deps/dep_7.ex", 6);
    if !native_run() {
        assert_eq!(interpreted(&mut app, "ReloadApp.Dep2"), "true");
    }
    assert_eq!(app.eval("ReloadApp.DepCaller.call_two()"), "44");

    let response = reload_with_answer(&mut app, 42, 43);
    let reloaded = response["body"]["reloaded"].as_array().unwrap().len();
    assert_eq!(reloaded, DEPENDENTS + 2, "{response}");
    if native_run() {
        // The native backend interprets nothing: nothing waits.
        assert!(response["body"].get("interpretedLater").is_none(), "{response}");
        assert_eq!(app.eval("ReloadApp.DepCaller.call_two()"), "45");
        return;
    }
    // Everything but Dep7 (its breakpoint) waits.
    assert_eq!(response["body"]["interpretedLater"], reloaded - 1, "{response}");
    assert_eq!(
        reloaded_entry(&response, "ReloadApp.Dep7")["interpreted"],
        true,
        "{response}"
    );
    assert_eq!(
        reloaded_entry(&response, "ReloadApp.Dep2")["interpreted"],
        false,
        "{response}"
    );
    app.dap.wait_output(
        "console",
        &format!("{} modules interpreted later", reloaded - 1),
        TIMEOUT,
    );

    // Interpreted code calling a module left for later runs its new code:
    // the interpreter forgot the old version.
    assert_eq!(interpreted(&mut app, "ReloadApp.Dep2"), "false");
    assert_eq!(app.eval("ReloadApp.DepCaller.call_two()"), "45");
    assert_eq!(app.eval("ReloadApp.Dep9.value()"), "52");

    // A breakpoint in a module left for later interprets it then, and stops
    // in its new code.
    set_breakpoint(&mut app, "lib/reload_app/deps/dep_5.ex", 6);
    assert_eq!(interpreted(&mut app, "ReloadApp.Dep5"), "true");
    stops_in_new_code(&mut app, 5, 0);
    clear_breakpoints(&mut app, "lib/reload_app/deps/dep_5.ex");
    assert_eq!(app.eval("ReloadApp.Dep5.value()"), "48");

    // The breakpoint kept by the batch stops in the new code too.
    stops_in_new_code(&mut app, 7, 1);
}

#[test]
fn the_modules_left_for_later_are_interpreted_in_the_background_and_a_second_reload_keeps_the_queue() {
    // Everything interpreted before the start; the rest of a big batch in
    // the background (as with the default, `background`).
    let mut app = start(json!({"lazyInterpretation": "off"}));
    if !native_run() {
        assert_eq!(interpreted(&mut app, "ReloadApp.Dep2"), "true");
    }
    reload_with_answer(&mut app, 42, 43);
    // A second big batch at once: whatever the background had not done yet
    // is done with it.
    let second = reload_with_answer(&mut app, 43, 44);
    assert_eq!(app.eval("ReloadApp.DepCaller.call_two()"), "46");
    if native_run() {
        assert!(second["body"].get("interpretedLater").is_none(), "{second}");
        return;
    }
    assert_eq!(second["body"]["interpretedLater"], DEPENDENTS + 2, "{second}");
    // The task at work after the second reload (started before its
    // response: the first one's continued, or a new one) ends.
    let last_start = app
        .dap
        .received
        .iter()
        .rev()
        .find(|m| m["event"] == "progressStart" && m["body"]["title"] == "Interpreting in the background")
        .unwrap_or_else(|| panic!("no background interpretation started: {second}"))
        .clone();
    let id = last_start["body"]["progressId"].clone();
    let end = app
        .dap
        .wait_for("the end of the last background interpretation", LAUNCH_TIMEOUT, |m| {
            m["event"] == "progressEnd" && m["body"]["progressId"] == id
        });
    assert!(
        end["body"]["message"].as_str().unwrap().contains("interpreted in"),
        "{end}"
    );
    for n in 1..=DEPENDENTS {
        assert_eq!(interpreted(&mut app, &format!("ReloadApp.Dep{n}")), "true", "Dep{n}");
    }
    let modules = app.dap.request("modules", json!({}), TIMEOUT);
    let dep = modules["body"]["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "ReloadApp.Dep3")
        .unwrap_or_else(|| panic!("no ReloadApp.Dep3 in {modules}"))
        .clone();
    assert_eq!(dep["interpretedWhen"], "background", "{dep}");
    assert_eq!(app.eval("ReloadApp.DepCaller.call_two()"), "46");
    assert_eq!(app.eval("ReloadApp.Dep30.value()"), "74");
    // Nothing of the forgotten versions is left behind once interpreted again.
    assert_eq!(
        app.eval(":ets.match(:elixir_dap_breaks, {{:elixir_dap_backend_int, :unlisted, :\"$1\"}, :_})"),
        "[]"
    );
}

#[test]
fn a_breakpoint_a_big_batch_gives_code_interprets_its_module_left_for_later_during_the_reload() {
    // A module with no breakpoint is left for later; an unverified
    // breakpoint of its file that the edit gives code places itself while
    // the reload holds the interpretation gate, which interprets the module
    // then (the gate is the reload's own: no deadlock).
    let mut app = App::start_prepared(
        "reload_app",
        "reload_app: started",
        json!({"lazyInterpretation": "onDemand"}),
        |root| {
            add_dependents(root);
            // A blank line in value/0: no code on line 6.
            let dep = root.join("lib/reload_app/deps/dep_4.ex");
            let text = std::fs::read_to_string(&dep).unwrap();
            std::fs::write(&dep, text.replacen("\n    base + 4", "\n\n    base + 4", 1)).unwrap();
        },
    );
    let file = path_string(&app.path("lib/reload_app/deps/dep_4.ex"));
    let set = app.dap.request(
        "setBreakpoints",
        json!({"source": {"path": file}, "breakpoints": [{"line": 6}]}),
        TIMEOUT,
    );
    assert_eq!(set["body"]["breakpoints"][0]["verified"], false, "{set}");
    let id = set["body"]["breakpoints"][0]["id"].clone();

    app.edit(
        "lib/reload_app/deps/dep_4.ex",
        "\n\n    base + 4",
        "\n    base = base + 0\n    base + 4",
    );
    let response = reload_with_answer(&mut app, 42, 43);
    let placed = app
        .dap
        .wait_for("the breakpoint on the new code of line 6", TIMEOUT, |m| {
            m["event"] == "breakpoint"
                && m["body"]["breakpoint"]["id"] == id
                && m["body"]["breakpoint"]["verified"] == true
        });
    assert_eq!(placed["body"]["breakpoint"]["line"], 6, "{placed}");
    if !native_run() {
        // Dep4 was left for later as every module of the batch, then
        // interpreted for its breakpoint.
        assert_eq!(response["body"]["interpretedLater"], DEPENDENTS + 2, "{response}");
        assert_eq!(interpreted(&mut app, "ReloadApp.Dep4"), "true");
    }
    app.eval("spawn(fn -> ReloadApp.Dep4.value() end)");
    let stopped = app.dap.wait_event("stopped", TIMEOUT);
    let thread = stopped["body"]["threadId"].clone();
    let stack = app.dap.request("stackTrace", json!({"threadId": thread}), TIMEOUT);
    let top = &stack["body"]["stackFrames"][0];
    assert_eq!(top["line"], 6, "{stack}");
    assert_eq!(frame_value(&mut app, &top["id"], "base"), "43", "{stack}");
}
