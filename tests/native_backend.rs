//! The native debugger backend (`debugBackend: "native"`, issue 20), over DAP
//! against real VMs with the `truth` fixture. On OTP 28+ the program runs
//! native code compiled with line debug info in the session's build path:
//! a line breakpoint stops, the stack has the lines, variables have their
//! Elixir names, an evaluation sees the frame's binding, a condition
//! filters, and the user's `_build` is left alone. On OTP 27 and earlier
//! the same launch is refused naming `debugBackend`; a bad value is refused
//! on every BEAM. `auto` runs native on OTP 28+ and the interpreter before,
//! saying which and why.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{json, Value};
use support::app::App;
use support::*;

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

/// `debugBackend: "auto"` (the default, named here so that the run's
/// ELIXIR_DAP_TEST_BACKEND does not replace it): on OTP 28+ the program runs
/// on the native backend, said on the console (`"auto"` and the OTP); before
/// OTP 28 on the interpreter, the console saying why. Which one runs is
/// checked in the VM: `erl_debugger` enabled (the VM started with `+D`) and
/// no interpreter server, or the reverse.
#[test]
fn auto_runs_native_from_otp_28_and_says_which_and_why() {
    let release = otp_release();
    let project = fixture("truth");
    let root = project.path();
    let mut dap = DapClient::start();
    let expression = "Truth.Cond.run([:a, :b]); IO.puts(\"auto done\")";
    let response = dap.launch(launch_arguments(root, expression, json!("auto")));
    assert_eq!(response["success"], true, "{response}\n{}", dap.transcript());
    let note = dap.wait_output("console", "elixir-dap: debugger backend: ", TIMEOUT);
    let note = note["body"]["output"].as_str().unwrap().to_owned();
    let native = release >= 28;
    if native {
        assert!(
            note.contains(&format!(
                "debugger backend: native (`debugBackend` \"auto\": erl_debugger, OTP {release}'s native debugger"
            )) && note.contains("native-build"),
            "{note}"
        );
    } else {
        assert!(
            note.contains("debugger backend: interpreter (`debugBackend` \"auto\": ")
                && note.contains(&format!("OTP {release} has no native debugger")),
            "{note}"
        );
    }
    let cond = root.join("lib/truth/cond.ex");
    let check = marker_line(&cond, "check");
    let set = dap.request(
        "setBreakpoints",
        json!({"source": {"path": path_string(&cond)}, "breakpoints": [{"line": check}]}),
        TIMEOUT,
    );
    assert_eq!(set["body"]["breakpoints"][0]["verified"], true, "{set}");
    let done = dap.request("configurationDone", json!({}), LAUNCH_TIMEOUT);
    assert_eq!(done["success"], true, "{done}");
    let stopped = dap.wait_event("stopped", LAUNCH_TIMEOUT);
    assert_eq!(stopped["body"]["reason"], "breakpoint", "{stopped}");
    let thread = stopped["body"]["threadId"].as_i64().unwrap();
    let which = dap.request(
        "evaluate",
        json!({"expression": "{Code.ensure_loaded?(:erl_debugger) and :erl_debugger.supported(), \
                              is_pid(Process.whereis(:dbg_iserver))}",
               "context": "repl"}),
        TIMEOUT,
    );
    assert_eq!(which["success"], true, "{which}");
    let want = if native { "{true, false}" } else { "{false, true}" };
    assert_eq!(which["body"]["result"], want, "{note}\n{which}");
    let cleared = dap.request(
        "setBreakpoints",
        json!({"source": {"path": path_string(&cond)}, "breakpoints": []}),
        TIMEOUT,
    );
    assert_eq!(cleared["success"], true, "{cleared}");
    let resumed = dap.request("continue", json!({"threadId": thread}), TIMEOUT);
    assert_eq!(resumed["success"], true, "{resumed}");
    dap.wait_output("stdout", "auto done", LAUNCH_TIMEOUT);
    dap.wait_event("terminated", LAUNCH_TIMEOUT);
    // On the native backend the project compiles in the session's build
    // path; the interpreter's launch compiles in `_build`, as Mix does.
    assert_eq!(root.join("_build").exists(), !native, "{note}");
    dap.close_and_wait(TIMEOUT);
}

/// `reload_app` on the native backend, or `None` (the test skips) on a
/// BEAM before OTP 28, where the launch is refused (tested above).
fn native_app() -> Option<App> {
    let release = otp_release();
    if release < 28 {
        eprintln!("skipped: OTP {release} has no native debugger");
        return None;
    }
    Some(App::start(
        json!({"debugBackend": "native", "lazyInterpretation": "off"}),
    ))
}

/// Sets the breakpoints of `file` at `lines`; asserts each is verified.
fn break_at(app: &mut App, file: &std::path::Path, lines: &[i64]) -> Vec<Value> {
    let breakpoints: Vec<Value> = lines.iter().map(|l| json!({"line": l})).collect();
    let set = app.dap.request(
        "setBreakpoints",
        json!({"source": {"path": path_string(file)}, "breakpoints": breakpoints}),
        TIMEOUT,
    );
    assert_eq!(set["success"], true, "{set}");
    let placed = set["body"]["breakpoints"].as_array().unwrap().clone();
    for b in &placed {
        assert_eq!(b["verified"], true, "{set}");
    }
    placed
}

/// Waits for the `n`th `stopped` event; answers its thread and the top
/// frame (name, line, id).
fn stop(app: &mut App, n: usize, reason: &str) -> (i64, String, i64, i64) {
    let stopped = app.dap.wait_nth_event("stopped", n, TIMEOUT);
    assert_eq!(stopped["body"]["reason"], reason, "{stopped}");
    let thread = stopped["body"]["threadId"].as_i64().unwrap();
    let (name, line, frame) = top_frame(&mut app.dap, thread);
    (thread, name, line, frame)
}

fn reloaded(response: &Value) -> &Value {
    assert_eq!(response["success"], true, "{response}");
    let reloaded = &response["body"]["reloaded"];
    assert_eq!(reloaded.as_array().map(Vec::len), Some(1), "{response}");
    &reloaded[0]
}

/// A reload of a module with a breakpoint on the native backend: the
/// module is debugged again (`interpreted: true`, no rollback), its
/// breakpoint is set on the new code, the GenServer keeps its state, and a
/// call then stops in the NEW code: the stop's variables show the kept
/// state, and the call, continued, returns the new `version/0`.
#[test]
fn a_native_reload_debugs_the_new_code_and_its_breakpoint_stops_there() {
    let Some(mut app) = native_app() else { return };
    let file = app.path("lib/reload_app/counter.ex");
    let pid = app.eval("Process.whereis(ReloadApp.Counter)");
    assert_eq!(app.eval("ReloadApp.Counter.bump()"), "{1, 1}");
    let line = line_of(&file, "count = count + 1");
    break_at(&mut app, &file, &[line]);

    app.edit("lib/reload_app/counter.ex", "def version, do: 1", "def version, do: 2");
    let response = app.reload(json!({}));
    let entry = reloaded(&response);
    assert_eq!(entry["module"], "ReloadApp.Counter", "{response}");
    assert_eq!(entry["interpreted"], true, "{response}");
    assert_eq!(entry["breakpoints"], 1, "{response}");
    assert_eq!(response["body"]["rolledBack"], false, "{response}");
    assert_eq!(response["body"]["failed"], json!([]), "{response}");
    for phase in ["plan", "compile", "load", "interpret", "breakpoints", "total", "switch"] {
        assert!(
            response["body"]["timings"][phase].is_number(),
            "{phase} missing: {response}"
        );
    }
    app.dap.wait_output("console", "Reloaded 1 module in", TIMEOUT);

    app.eval("spawn(fn -> IO.puts(\"bump: #{inspect(ReloadApp.Counter.bump())}\") end)");
    let (thread, name, top, frame) = stop(&mut app, 0, "breakpoint");
    assert_eq!((name.as_str(), top), ("ReloadApp.Counter.handle_call/3", line));
    // The state the old code left.
    assert_eq!(variable(&mut app.dap, frame, "count"), "1");
    let resumed = app.dap.request("continue", json!({"threadId": thread}), TIMEOUT);
    assert_eq!(resumed["success"], true, "{resumed}");
    app.dap.wait_output("stdout", "bump: {2, 2}", TIMEOUT);
    assert_eq!(app.eval("Process.whereis(ReloadApp.Counter)"), pid);
    app.dap.close_and_wait(TIMEOUT);
}

/// Two lines inserted above a breakpoint: it moves with its statement (a
/// `breakpoint` event and the report's `breakpoints` entry give the new
/// line) and stops there in the new code.
#[test]
fn a_native_reload_moves_a_breakpoint_with_inserted_lines_to_its_new_line() {
    let Some(mut app) = native_app() else { return };
    let file = app.path("lib/reload_app/greeter.ex");
    let old_line = line_of(&file, "greeting = \"hello\"");
    let placed = break_at(&mut app, &file, &[old_line]);
    let id = placed[0]["id"].clone();

    app.edit(
        "lib/reload_app/greeter.ex",
        "  def hello(name) do",
        "  # two lines\n  # inserted above\n  def hello(name) do",
    );
    let response = app.reload(json!({}));
    assert_eq!(reloaded(&response)["breakpoints"], 1, "{response}");
    let new_line = old_line + 2;
    app.assert_breakpoint_moved(&response, &id, new_line);

    app.eval("spawn(fn -> IO.puts(ReloadApp.Greeter.hello(\"moved\")) end)");
    let (thread, name, top, frame) = stop(&mut app, 0, "breakpoint");
    assert_eq!((name.as_str(), top), ("ReloadApp.Greeter.hello/1", new_line));
    assert_eq!(variable(&mut app.dap, frame, "name"), "\"moved\"");
    app.dap.request("continue", json!({"threadId": thread}), TIMEOUT);
    app.dap.wait_output("stdout", "hello moved", TIMEOUT);
    assert_eq!(app.dap.events_named("stopped").len(), 1, "{}", app.dap.transcript());
    app.dap.close_and_wait(TIMEOUT);
}

/// A reload that removes a breakpoint's statement: the breakpoint becomes
/// unverified saying why (never moved to another line), the new code runs
/// without stopping, and a breakpoint of the same module on a line that
/// stayed still stops.
#[test]
fn a_native_reload_that_removes_a_breakpoints_statement_leaves_it_unverified() {
    let Some(mut app) = native_app() else { return };
    let file = app.path("lib/reload_app/greeter.ex");
    let gone = line_of(&file, "greeting = \"hello\"");
    let kept = line_of(&file, "Process.sleep(1_500)");
    let placed = break_at(&mut app, &file, &[gone, kept]);
    let id = placed[0]["id"].clone();
    app.edit(
        "lib/reload_app/greeter.ex",
        "    greeting = \"hello\"\n    \"#{greeting} #{name}\"",
        "    \"hi #{name}\"",
    );
    let response = app.reload(json!({}));
    assert_eq!(reloaded(&response)["breakpoints"], 1, "{response}");
    let lost = app.dap.wait_for("breakpoint event (unverified)", TIMEOUT, |m| {
        m["event"] == "breakpoint" && m["body"]["breakpoint"]["id"] == id
    });
    assert_eq!(lost["body"]["breakpoint"]["verified"], false, "{lost}");
    let message = lost["body"]["breakpoint"]["message"].as_str().unwrap();
    assert!(message.contains("removed"), "{lost}");
    assert!(response["body"]["breakpoints"][0]["newLine"].is_null(), "{response}");

    assert_eq!(app.eval("ReloadApp.Greeter.hello(\"x\")"), "\"hi x\"");
    app.eval("spawn(fn -> IO.puts(ReloadApp.Greeter.slow()) end)");
    // The kept line moved up by one with the removed line.
    let (thread, name, top, _frame) = stop(&mut app, 0, "breakpoint");
    assert_eq!((name.as_str(), top), ("ReloadApp.Greeter.slow/0", kept - 1));
    app.dap.request("continue", json!({"threadId": thread}), TIMEOUT);
    app.dap.wait_output("stdout", "slow_done", TIMEOUT);
    app.dap.close_and_wait(TIMEOUT);
}

/// The counter's GenServer paused at a breakpoint in `handle_call/3` (a
/// `first bump` call), then `version/0` edited and reloaded (the breakpoint
/// set on the new code), then the breakpoint cleared: answers the paused
/// thread, the breakpoint's line and the reload's response.
fn paused_across_a_reload(app: &mut App) -> (i64, i64, Value) {
    let file = app.path("lib/reload_app/counter.ex");
    let line = line_of(&file, "count = count + 1");
    break_at(app, &file, &[line]);
    app.eval("spawn(fn -> IO.puts(\"first bump: #{inspect(ReloadApp.Counter.bump())}\") end)");
    let (thread, _name, top, _frame) = stop(app, 0, "breakpoint");
    assert_eq!(top, line);
    app.edit("lib/reload_app/counter.ex", "def version, do: 1", "def version, do: 2");
    let response = app.reload(json!({}));
    assert_eq!(reloaded(&response)["breakpoints"], 1, "{response}");
    let cleared = app.dap.request(
        "setBreakpoints",
        json!({"source": {"path": path_string(&file)}, "breakpoints": []}),
        TIMEOUT,
    );
    assert_eq!(cleared["success"], true, "{cleared}");
    (thread, line, response)
}

/// Paused at a breakpoint in a GenServer, then reloaded: the reload goes
/// through, names the paused process as still in the old code (`stale`),
/// and sets the breakpoint on the new code. Continued, the process finishes
/// its call on the old code (`version/0` is a local call: 1), and its next
/// call, fully qualified from `gen_server`, runs the new code, same process,
/// same state.
#[test]
fn a_process_paused_during_a_native_reload_finishes_on_old_code_then_runs_the_new() {
    let Some(mut app) = native_app() else { return };
    let pid = app.eval("Process.whereis(ReloadApp.Counter)");
    let (thread, line, response) = paused_across_a_reload(&mut app);
    let stale = response["body"]["stale"].as_array().unwrap();
    assert!(
        stale.iter().any(|p| p["module"] == "ReloadApp.Counter"),
        "the paused GenServer should be reported as finishing on the old code: {response}"
    );
    // Still paused where it was, its frame readable.
    let (name, top, _frame) = top_frame(&mut app.dap, thread);
    assert_eq!((name.as_str(), top), ("ReloadApp.Counter.handle_call/3", line));

    let resumed = app.dap.request("continue", json!({"threadId": thread}), TIMEOUT);
    assert_eq!(resumed["success"], true, "{resumed}");
    app.dap.wait_output("stdout", "first bump: {1, 1}", TIMEOUT);
    assert_eq!(app.eval("ReloadApp.Counter.bump()"), "{2, 2}");
    assert_eq!(app.eval("Process.whereis(ReloadApp.Counter)"), pid);
    // Nothing runs the old code any more: a second reload goes through.
    app.edit("lib/reload_app/counter.ex", "def version, do: 2", "def version, do: 3");
    let again = app.reload(json!({}));
    assert_eq!(reloaded(&again)["module"], "ReloadApp.Counter", "{again}");
    assert_eq!(app.eval("ReloadApp.Counter.bump()"), "{3, 3}");
    app.dap.close_and_wait(TIMEOUT);
}

/// Paused in the old code during a reload, then `next`: the step cannot
/// stop in the old code (its temporary breakpoints go on the code loaded
/// now), so the current call finishes there; the step ends in the NEW code
/// at the process's next call into the module, with reason `step`.
#[test]
fn a_step_from_old_code_after_a_native_reload_ends_in_the_new_code() {
    let Some(mut app) = native_app() else { return };
    let (thread, line, _response) = paused_across_a_reload(&mut app);
    let next = app.dap.request("next", json!({"threadId": thread}), TIMEOUT);
    assert_eq!(next["success"], true, "{next}");
    app.dap.wait_output("stdout", "first bump: {1, 1}", TIMEOUT);
    app.eval("spawn(fn -> IO.puts(\"second bump: #{inspect(ReloadApp.Counter.bump())}\") end)");
    let (stepped, name, top, frame) = stop(&mut app, 1, "step");
    assert_eq!(stepped, thread);
    assert_eq!(name, "ReloadApp.Counter.handle_call/3");
    assert!((line - 1..=line + 1).contains(&top), "stopped at line {top}");
    assert_eq!(variable(&mut app.dap, frame, "count"), "1");
    app.dap.request("continue", json!({"threadId": thread}), TIMEOUT);
    app.dap.wait_output("stdout", "second bump: {2, 2}", TIMEOUT);
    app.dap.close_and_wait(TIMEOUT);
}

/// A reload whose compile fails leaves the old code running with its
/// breakpoints: a call stops at the breakpoint and returns the old
/// `version/0`; the fixed file then reloads and stops in the new code.
#[test]
fn a_failed_native_reload_keeps_the_old_code_and_its_breakpoints() {
    let Some(mut app) = native_app() else { return };
    let file = app.path("lib/reload_app/counter.ex");
    let line = line_of(&file, "count = count + 1");
    break_at(&mut app, &file, &[line]);
    app.edit("lib/reload_app/counter.ex", "def version, do: 1", "def version, do: (1");
    let response = app.reload(json!({}));
    assert_eq!(response["success"], false, "{response}");
    assert!(
        response["message"].as_str().unwrap().contains("counter.ex:"),
        "{response}"
    );
    assert_eq!(response["body"]["reloaded"], json!([]), "{response}");

    app.eval("spawn(fn -> IO.puts(\"old bump: #{inspect(ReloadApp.Counter.bump())}\") end)");
    let (thread, name, top, _frame) = stop(&mut app, 0, "breakpoint");
    assert_eq!((name.as_str(), top), ("ReloadApp.Counter.handle_call/3", line));
    app.dap.request("continue", json!({"threadId": thread}), TIMEOUT);
    app.dap.wait_output("stdout", "old bump: {1, 1}", TIMEOUT);

    app.edit("lib/reload_app/counter.ex", "def version, do: (1", "def version, do: 3");
    let fixed = app.reload(json!({}));
    assert_eq!(reloaded(&fixed)["breakpoints"], 1, "{fixed}");
    app.eval("spawn(fn -> IO.puts(\"new bump: #{inspect(ReloadApp.Counter.bump())}\") end)");
    let (thread, _name, top, _frame) = stop(&mut app, 1, "breakpoint");
    assert_eq!(top, line);
    app.dap.request("continue", json!({"threadId": thread}), TIMEOUT);
    app.dap.wait_output("stdout", "new bump: {3, 2}", TIMEOUT);
    app.dap.close_and_wait(TIMEOUT);
}

/// The program's own compile (what Phoenix's code reloader runs) on the
/// native backend: the compiler runs through a breakpoint of the module it
/// calls at compile time (its breakpoints are cleared while it compiles),
/// the recompiled module is debugged again with its breakpoint moved with
/// its statement, and both breakpoints stop afterwards.
#[test]
fn a_program_recompile_on_the_native_backend_keeps_the_breakpoints_working() {
    let release = otp_release();
    if release < 28 {
        eprintln!("skipped: OTP {release} has no native debugger");
        return;
    }
    let mut app = App::start_fixture(
        "app_reloader",
        "app_reloader: started",
        json!({"debugBackend": "native", "lazyInterpretation": "off"}),
    );
    // The index has read the sources as launched (line maps need it).
    assert_eq!(app.reload(json!({"dryRun": true}))["success"], true);
    let controller = app.path("lib/app_reloader/page_controller.ex");
    let web = app.path("lib/app_reloader/web.ex");
    let show = marker_line(&controller, "show");
    let helper = marker_line(&web, "controller");
    let id = break_at(&mut app, &controller, &[show])[0]["id"].clone();
    break_at(&mut app, &web, &[helper]);
    app.edit(
        "lib/app_reloader/page_controller.ex",
        "  def show(name) do",
        "  # moved\n  def show(name) do",
    );
    // Compiling the controller calls AppReloader.Web.controller/0.
    assert_eq!(app.eval("AppReloader.CodeReloader.reload()"), ":ok");
    // The first `codeReloaded` was the dry run's.
    let event = app.dap.wait_nth_event("codeReloaded", 1, TIMEOUT);
    assert_eq!(event["body"]["trigger"], "app", "{event}");
    assert_eq!(event["body"]["success"], true, "{event}");
    let entry = event["body"]["reloaded"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["module"] == "AppReloader.PageController")
        .cloned()
        .unwrap_or_else(|| panic!("{event}"));
    assert_eq!(entry["interpreted"], true, "{event}");
    assert!(app.dap.events_named("stopped").is_empty(), "{}", app.dap.transcript());
    let moved = app
        .dap
        .wait_for("the breakpoint moved by the program's compile", TIMEOUT, |m| {
            m["event"] == "breakpoint" && m["body"]["breakpoint"]["id"] == id
        });
    assert_eq!(moved["body"]["breakpoint"]["line"], show + 1, "{moved}");
    assert_eq!(moved["body"]["breakpoint"]["verified"], true, "{moved}");

    app.eval("spawn(fn -> IO.puts(AppReloader.PageController.show(\"you\")) end)");
    let (thread, name, top, _frame) = stop(&mut app, 0, "breakpoint");
    assert_eq!((name.as_str(), top), ("AppReloader.PageController.show/1", show + 1));
    app.dap.request("continue", json!({"threadId": thread}), TIMEOUT);
    app.dap.wait_output("stdout", "hello you", TIMEOUT);
    app.eval("spawn(fn -> AppReloader.Web.controller() end)");
    let (thread, name, top, _frame) = stop(&mut app, 1, "breakpoint");
    assert_eq!((name.as_str(), top), ("AppReloader.Web.controller/0", helper));
    app.dap.request("continue", json!({"threadId": thread}), TIMEOUT);
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

/// `plain` launched on the native backend running `expression`, stopped
/// once at the breakpoint on `marker` of debug_me.ex, that breakpoint then
/// cleared (each later stop is the test's own); `None` (the test ends)
/// before OTP 28, where the launch is checked to be refused.
fn plain_stopped_at(expression: &str, marker: &str) -> Option<StoppedPlain> {
    let release = otp_release();
    let project = fixture("plain");
    let mut dap = DapClient::start();
    let response = dap.launch(launch_arguments(project.path(), expression, json!("native")));
    if release < 28 {
        assert_refused(&mut dap, &response, release);
        return None;
    }
    assert_eq!(response["success"], true, "{response}\n{}", dap.transcript());
    let file = project.path().join("lib/plain/debug_me.ex");
    let source = json!({"path": path_string(&file)});
    let set = dap.request(
        "setBreakpoints",
        json!({"source": source, "breakpoints": [{"line": marker_line(&file, marker)}]}),
        TIMEOUT,
    );
    assert_eq!(set["body"]["breakpoints"][0]["verified"], true, "{set}");
    let done = dap.request("configurationDone", json!({}), LAUNCH_TIMEOUT);
    assert_eq!(done["success"], true, "{done}");
    let stopped = dap.wait_nth_event("stopped", 0, LAUNCH_TIMEOUT);
    let thread = stopped["body"]["threadId"].as_i64().unwrap();
    let cleared = dap.request("setBreakpoints", json!({"source": source, "breakpoints": []}), TIMEOUT);
    assert_eq!(cleared["success"], true, "{cleared}");
    Some(StoppedPlain {
        dap,
        thread,
        file,
        _project: project,
    })
}

struct StoppedPlain {
    dap: DapClient,
    thread: i64,
    file: std::path::PathBuf,
    _project: tempfile::TempDir,
}

/// Stepping on the native backend (temporary breakpoints, as OTP's edb
/// steps): from `loop/3`'s first line, `stepIn` stops in `step/2`, `next`
/// on its next line, `stepOut` back in `loop/3` on the line after the call,
/// and `next` over the tail call `loop(i + 1, n, acc)` in the next pass of
/// `loop/3`; each stop has reason `step`, and the process then runs to its
/// end. Before OTP 28: the launch is refused, as above.
#[test]
fn stepping_on_the_native_backend_goes_in_over_and_out() {
    let Some(mut plain) = plain_stopped_at("Plain.DebugMe.run(2)", "loop-step") else {
        return;
    };
    let (dap, thread) = (&mut plain.dap, plain.thread);
    let loop_step = marker_line(&plain.file, "loop-step");
    let step_value = marker_line(&plain.file, "step-value");

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
        let (top, top_line, id) = top_frame(dap, thread);
        assert_eq!(
            (top.as_str(), top_line),
            (name, line),
            "after {request}\n{}",
            dap.transcript()
        );
        frame = id;
    }
    // The last `next` went over the tail call into the next pass.
    assert_eq!(variable(dap, frame, "i"), "1");

    let resumed = dap.request("continue", json!({"threadId": thread}), TIMEOUT);
    assert_eq!(resumed["success"], true, "{resumed}");
    dap.wait_output("stdout", "debug_me: total 10", LAUNCH_TIMEOUT);
    dap.wait_event("terminated", LAUNCH_TIMEOUT);
    assert_eq!(dap.events_named("stopped").len(), 5, "{}", dap.transcript());
    dap.close_and_wait(TIMEOUT);
}

/// `pause` on the native backend, a process that runs debugged code: it
/// stops at the next breakable line it reaches (reason `pause`), where its
/// variables are known; a `next` from there stops on the following line;
/// a `pause` of the stopped thread answers at once without a second stop;
/// continued, it spins again and a second `pause` stops it again, further
/// on. Before OTP 28: the launch is refused, as above.
#[test]
fn pause_on_the_native_backend_stops_a_running_process_at_its_next_line() {
    let Some(mut plain) = plain_stopped_at("Plain.DebugMe.spin(1)", "spin") else {
        return;
    };
    let (dap, thread) = (&mut plain.dap, plain.thread);
    let spin = marker_line(&plain.file, "spin");

    let mut last_count = 1;
    for n in [1, 3] {
        let resumed = dap.request("continue", json!({"threadId": thread}), TIMEOUT);
        assert_eq!(resumed["success"], true, "{resumed}");
        let paused = dap.request("pause", json!({"threadId": thread}), TIMEOUT);
        assert_eq!(paused["success"], true, "{paused}");
        let stopped = dap.wait_nth_event("stopped", n, TIMEOUT);
        assert_eq!(stopped["body"]["reason"], "pause", "{stopped}");
        assert_eq!(stopped["body"]["threadId"], thread, "{stopped}");
        let (name, line, frame) = top_frame(dap, thread);
        assert_eq!(name, "Plain.DebugMe.spin/1", "{}", dap.transcript());
        assert!(
            line == spin || line == spin + 1,
            "paused on line {line}, spin/1 is {spin}-{}",
            spin + 1
        );
        let count: i64 = variable(dap, frame, "count").parse().unwrap();
        assert!(
            count > last_count,
            "count {count} after {last_count}: the process did not run on"
        );
        last_count = count;

        // Paused already: answered, no second stop.
        let again = dap.request("pause", json!({"threadId": thread}), TIMEOUT);
        assert_eq!(again["success"], true, "{again}");
        // A step from the pause: the next line of the same pass, or the
        // first of the next.
        let next = dap.request("next", json!({"threadId": thread}), TIMEOUT);
        assert_eq!(next["success"], true, "{next}");
        let stepped = dap.wait_nth_event("stopped", n + 1, TIMEOUT);
        assert_eq!(stepped["body"]["reason"], "step", "{stepped}");
        let (name, after, _frame) = top_frame(dap, thread);
        assert_eq!(name, "Plain.DebugMe.spin/1", "{}", dap.transcript());
        assert_eq!(
            after,
            if line == spin { spin + 1 } else { spin },
            "{}",
            dap.transcript()
        );
    }
    assert_eq!(dap.events_named("stopped").len(), 5, "{}", dap.transcript());
    dap.close_and_wait(TIMEOUT);
}

/// `pause` on the native backend, a process that waits (the counter's
/// GenServer between calls, in `gen_server`'s receive): it would reach no
/// debugged line, so it stops where it is (reason `pause`) with the VM's
/// stack (OTP's frames, with their lines), stays suspended (a call made
/// meanwhile waits), and, continued, serves that call with its state.
#[test]
fn pause_on_the_native_backend_stops_a_waiting_process_where_it_is() {
    let Some(mut app) = native_app() else { return };
    let file = app.path("lib/reload_app/counter.ex");
    let line = line_of(&file, "count = count + 1");
    break_at(&mut app, &file, &[line]);
    app.eval("spawn(fn -> IO.puts(\"first bump: #{inspect(ReloadApp.Counter.bump())}\") end)");
    let (thread, _name, top, _frame) = stop(&mut app, 0, "breakpoint");
    assert_eq!(top, line);
    let cleared = app.dap.request(
        "setBreakpoints",
        json!({"source": {"path": path_string(&file)}, "breakpoints": []}),
        TIMEOUT,
    );
    assert_eq!(cleared["success"], true, "{cleared}");
    app.dap.request("continue", json!({"threadId": thread}), TIMEOUT);
    app.dap.wait_output("stdout", "first bump", TIMEOUT);

    let paused = app.dap.request("pause", json!({"threadId": thread}), TIMEOUT);
    assert_eq!(paused["success"], true, "{paused}");
    let (_thread, name, top, _frame) = stop(&mut app, 1, "pause");
    assert!(
        name.starts_with(":gen_server."),
        "paused in {name}\n{}",
        app.dap.transcript()
    );
    assert!(top > 0, "{name} has no line");
    let trace = app.dap.request("stackTrace", json!({"threadId": thread}), TIMEOUT);
    let frames = trace["body"]["stackFrames"].as_array().unwrap();
    assert!(
        !frames
            .iter()
            .any(|f| f["name"].as_str().unwrap().starts_with("ReloadApp.")),
        "between calls no callback of the counter is on its stack: {trace}"
    );
    assert_eq!(
        app.eval("Process.info(Process.whereis(ReloadApp.Counter), :status)"),
        "{:status, :suspended}"
    );
    app.eval("spawn(fn -> IO.puts(\"second bump: #{inspect(ReloadApp.Counter.bump())}\") end)");
    let resumed = app.dap.request("continue", json!({"threadId": thread}), TIMEOUT);
    assert_eq!(resumed["success"], true, "{resumed}");
    let second = app.dap.wait_output("stdout", "second bump", TIMEOUT);
    assert!(
        second["body"]["output"]
            .as_str()
            .unwrap()
            .contains("second bump: {1, 2}"),
        "{second}"
    );
    app.dap.close_and_wait(TIMEOUT);
}
