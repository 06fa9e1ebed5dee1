//! Reload on save (`reloadOnSave`): real file-system events from real saves
//! of the running `reload_app` fixture's sources, and state-preserving
//! upgrades (`reloadCodeChange`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{json, Value};
use support::app::{planned_files, App};
use support::*;

const COUNTER: &str = "lib/reload_app/counter.ex";

/// Waits for the `n`th `codeReloaded` event (1-based).
fn nth_reload(app: &mut App, n: usize) -> Value {
    app.dap.wait_nth_event("codeReloaded", n - 1, TIMEOUT)
}

/// Saves like Vim and many editors do: a new file beside the source,
/// renamed over it.
fn save_by_rename(app: &App, relative: &str, text: &str) {
    let target = app.path(relative);
    let temp = target.with_file_name(".elixir-dap-test-save.tmp");
    std::fs::write(&temp, text).unwrap();
    std::fs::rename(&temp, &target).unwrap();
}

fn counter_text(app: &App) -> String {
    std::fs::read_to_string(app.path(COUNTER)).unwrap()
}

#[test]
fn an_atomic_rename_save_reloads_without_a_request() {
    let mut app = App::start(json!({"reloadOnSave": "auto"}));
    app.dap.wait_output("console", "elixir-dap: watching", TIMEOUT);
    let text = counter_text(&app).replace("def version, do: 1", "def version, do: 2");
    save_by_rename(&app, COUNTER, &text);
    let event = nth_reload(&mut app, 1);
    assert_eq!(event["body"]["success"], true, "{event}");
    assert_eq!(event["body"]["trigger"], "save");
    assert_eq!(event["body"]["reloaded"][0]["module"], "ReloadApp.Counter", "{event}");
    assert_eq!(app.eval("ReloadApp.Counter.version()"), "2");
}

#[test]
fn an_in_place_save_reloads_and_a_swap_file_does_not() {
    let mut app = App::start(json!({"reloadOnSave": "auto", "reloadDebounceMs": 50}));
    app.dap.wait_output("console", "elixir-dap: watching", TIMEOUT);
    // Editor droppings first: none of them may trigger anything.
    let dir = app.path("lib/reload_app");
    std::fs::write(dir.join(".counter.ex.swp"), "swap").unwrap();
    std::fs::write(dir.join("4913"), "").unwrap();
    std::fs::write(dir.join("counter.ex~"), counter_text(&app)).unwrap();
    app.edit(COUNTER, "def version, do: 1", "def version, do: 5");
    let event = nth_reload(&mut app, 1);
    assert_eq!(event["body"]["success"], true, "{event}");
    let planned = planned_files(&event);
    assert_eq!(
        planned,
        vec![COUNTER],
        "the first reload holds only the real save: {event}"
    );
    assert_eq!(app.eval("ReloadApp.Counter.version()"), "5");
}

#[test]
fn thirty_rapid_saves_end_in_the_last_version_with_few_reloads() {
    // A quiet period long enough that a loaded CI machine pausing this
    // thread between two saves does not split the storm (the default's
    // behaviour on a quiet machine is measured by the benchmark).
    let mut app = App::start(json!({"reloadOnSave": "auto", "reloadDebounceMs": 300}));
    app.dap.wait_output("console", "elixir-dap: watching", TIMEOUT);
    let original = counter_text(&app);
    for version in 1..=30 {
        let text = original.replace("def version, do: 1", &format!("def version, do: {}", 100 + version));
        std::fs::write(app.path(COUNTER), text).unwrap();
        // A fast typist's cadence: thirty saves within about a second.
        std::thread::sleep(std::time::Duration::from_millis(30));
    }
    let mut reloads = 0;
    loop {
        reloads += 1;
        let event = nth_reload(&mut app, reloads);
        assert_eq!(event["body"]["success"], true, "{event}");
        if app.eval("ReloadApp.Counter.version()") == "130" {
            break;
        }
        assert!(reloads < 5, "still not on the last version after {reloads} reloads");
    }
    assert!(reloads <= 3, "thirty saves took {reloads} reloads");
}

#[test]
fn a_new_file_is_picked_up() {
    let mut app = App::start(json!({"reloadOnSave": "auto"}));
    app.dap.wait_output("console", "elixir-dap: watching", TIMEOUT);
    std::fs::write(
        app.path("lib/reload_app/fresh.ex"),
        "defmodule ReloadApp.Fresh do\n  def hi, do: :fresh\nend\n",
    )
    .unwrap();
    let event = nth_reload(&mut app, 1);
    assert_eq!(event["body"]["reloaded"][0]["module"], "ReloadApp.Fresh", "{event}");
    assert_eq!(app.eval("ReloadApp.Fresh.hi()"), ":fresh");
}

#[test]
fn manual_mode_announces_pending_changes_and_reloads_only_on_request() {
    let mut app = App::start(json!({"reloadOnSave": "manual"}));
    app.dap.wait_output("console", "elixir-dap: watching", TIMEOUT);
    app.edit(COUNTER, "def version, do: 1", "def version, do: 7");
    let pending = app.dap.wait_event("reloadPending", TIMEOUT);
    let changed = pending["body"]["changed"].as_array().unwrap();
    assert!(
        changed.iter().any(|f| f.as_str().unwrap().ends_with(COUNTER)),
        "{pending}"
    );
    // In auto mode the reload would have happened instead of this event.
    assert_eq!(app.eval("ReloadApp.Counter.version()"), "1");
    assert!(app.dap.events_named("codeReloaded").is_empty());
    let response = app.reload(json!({}));
    assert_eq!(response["success"], true, "{response}");
    assert_eq!(app.eval("ReloadApp.Counter.version()"), "7");
}

#[test]
fn a_save_with_a_syntax_error_is_reported_and_the_old_code_keeps_running() {
    let mut app = App::start(json!({"reloadOnSave": "auto"}));
    app.dap.wait_output("console", "elixir-dap: watching", TIMEOUT);
    app.edit(COUNTER, "def version, do: 1", "def version, do: (1");
    let event = nth_reload(&mut app, 1);
    assert_eq!(event["body"]["success"], false, "{event}");
    assert!(
        event["body"]["message"].as_str().unwrap().contains("counter.ex:"),
        "{event}"
    );
    app.dap.wait_output("console", "Reload failed: compile error", TIMEOUT);
    assert_eq!(app.eval("ReloadApp.Counter.version()"), "1");
}

#[test]
fn a_save_during_a_step_waits_for_the_step_to_end() {
    let mut app = App::start(json!({"reloadOnSave": "auto", "reloadDebounceMs": 50}));
    app.dap.wait_output("console", "elixir-dap: watching", TIMEOUT);
    let file = app.path("lib/reload_app/greeter.ex");
    let text = std::fs::read_to_string(&file).unwrap();
    let line = text.lines().position(|l| l.contains("Process.sleep(1_500)")).unwrap() as i64 + 1;
    let set = app.dap.request(
        "setBreakpoints",
        json!({"source": {"path": path_string(&file)}, "breakpoints": [{"line": line}]}),
        TIMEOUT,
    );
    assert_eq!(set["body"]["breakpoints"][0]["verified"], true, "{set}");
    app.eval("spawn(fn -> ReloadApp.Greeter.slow() end)");
    let stopped = app.dap.wait_nth_event("stopped", 0, TIMEOUT);
    let thread = stopped["body"]["threadId"].clone();
    // Step over the 1.5 s sleep and save while it runs.
    assert_eq!(
        app.dap.request("next", json!({"threadId": thread}), TIMEOUT)["success"],
        true
    );
    app.edit("lib/reload_app/greeter.ex", "\"hello\"", "\"howdy\"");
    let reloaded = nth_reload(&mut app, 1);
    assert_eq!(reloaded["body"]["success"], true, "{reloaded}");
    let step_end = app.dap.wait_nth_event("stopped", 1, TIMEOUT);
    let position = |m: &Value| app.dap.received.iter().position(|r| r == m).unwrap();
    assert_eq!(step_end["body"]["reason"], "step");
    assert!(
        position(&step_end) < position(&reloaded),
        "the reload ran before the step ended"
    );
}

#[test]
fn code_change_upgrades_a_genservers_state() {
    let mut app = App::start(json!({"reloadCodeChange": true}));
    assert_eq!(app.eval("ReloadApp.Counter.bump()"), "{1, 1}");
    assert_eq!(app.eval("ReloadApp.Counter.bump()"), "{1, 2}");
    app.edit(
        COUNTER,
        "  def version, do: 1",
        "  @impl true\n  def code_change(_old, count, _extra), do: {:ok, count * 100}\n\n  def version, do: 2",
    );
    let response = app.reload(json!({}));
    assert_eq!(response["success"], true, "{response}");
    assert_eq!(response["body"]["codeChanged"], 1, "{response}");
    assert_eq!(app.eval("ReloadApp.Counter.bump()"), "{2, 201}");
}

#[test]
fn a_failing_code_change_rolls_back_and_the_process_keeps_its_state() {
    let mut app = App::start(json!({"reloadCodeChange": ["ReloadApp.Counter"]}));
    let pid = app.eval("Process.whereis(ReloadApp.Counter)");
    assert_eq!(app.eval("ReloadApp.Counter.bump()"), "{1, 1}");
    app.edit(
        COUNTER,
        "  def version, do: 1",
        "  @impl true\n  def code_change(_old, _count, _extra), do: raise(\"no upgrade\")\n\n  def version, do: 2",
    );
    let response = app.reload(json!({}));
    assert_eq!(response["success"], false, "{response}");
    assert_eq!(response["body"]["rolledBack"], true, "{response}");
    assert!(
        response["message"].as_str().unwrap().contains("code_change"),
        "{response}"
    );
    assert_eq!(
        app.eval("ReloadApp.Counter.bump()"),
        "{1, 2}",
        "{}",
        app.dap.output_text("console")
    );
    assert_eq!(app.eval("Process.whereis(ReloadApp.Counter)"), pid);
}
