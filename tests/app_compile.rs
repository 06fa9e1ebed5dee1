//! The program's own compiles (Phoenix.CodeReloader, IEx `recompile`, a
//! `Mix.Task.run("compile")`) while it is debugged: the VM survives, modules
//! the app recompiled are interpreted again with their breakpoints, and the
//! client hears about it. The `app_reloader` fixture has a process that runs
//! Mix's compile.elixir in the VM on request, as Phoenix's code reloader does.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{json, Value};
use support::app::App;
use support::*;

/// Launches the fixture and waits until the adapter has indexed its sources
/// (a dry-run reload answers once it has): line maps of later edits are
/// computed against what the index read, which must be the code as launched.
fn start() -> App {
    let mut app = App::start_fixture("app_reloader", "app_reloader: started", json!({}));
    assert_eq!(app.reload(json!({"dryRun": true}))["success"], true);
    app
}

fn set_breakpoint(app: &mut App, relative: &str, marker: &str) -> (Value, i64) {
    let file = app.path(relative);
    let line = marker_line(&file, marker);
    let set = app.dap.request(
        "setBreakpoints",
        json!({"source": {"path": path_string(&file)}, "breakpoints": [{"line": line}]}),
        TIMEOUT,
    );
    assert_eq!(set["body"]["breakpoints"][0]["verified"], true, "{set}");
    (set["body"]["breakpoints"][0]["id"].clone(), line)
}

/// Runs the app's own recompile and returns the `codeReloaded` event it caused.
fn app_recompile(app: &mut App) -> Value {
    let before = app.dap.events_named("codeReloaded").len();
    assert_eq!(app.eval("AppReloader.CodeReloader.reload()"), ":ok");
    app.dap.wait_nth_event("codeReloaded", before, TIMEOUT)
}

fn stop_line(app: &mut App, call: &str) -> i64 {
    let before = app.dap.events_named("stopped").len();
    app.eval(&format!("spawn(fn -> {call} end)"));
    let stopped = app.dap.wait_nth_event("stopped", before, TIMEOUT);
    let thread = stopped["body"]["threadId"].clone();
    let stack = app.dap.request("stackTrace", json!({"threadId": thread}), TIMEOUT);
    let line = stack["body"]["stackFrames"][0]["line"].as_i64().unwrap();
    app.dap.request("continue", json!({"threadId": thread}), TIMEOUT);
    line
}

#[test]
fn an_app_recompile_of_a_used_macro_module_keeps_the_vm_and_the_breakpoints() {
    let mut app = start();
    let (id, line) = set_breakpoint(&mut app, "lib/app_reloader/page_controller.ex", "show");
    // The compiler calls AppReloader.Web.controller/0, interpreted, while
    // expanding `use` in the controller: the case that crashed OTP 25.
    app.edit(
        "lib/app_reloader/web.ex",
        "kind = :controller #",
        "kind = :controller_v2 #",
    );
    app.edit(
        "lib/app_reloader/page_controller.ex",
        "  def show(name) do",
        "  # moved\n  def show(name) do",
    );
    let event = app_recompile(&mut app);
    assert_eq!(event["body"]["trigger"], "app", "{event}");
    assert_eq!(event["body"]["success"], true, "{event}");
    let reloaded: Vec<String> = event["body"]["reloaded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["module"].as_str().unwrap().to_owned())
        .collect();
    assert!(reloaded.contains(&"AppReloader.PageController".to_owned()), "{event}");
    assert_eq!(app.eval("AppReloader.PageController.kind()"), ":controller_v2");
    let moved = app
        .dap
        .wait_for("the breakpoint moved by the app's recompile", TIMEOUT, |m| {
            m["event"] == "breakpoint"
                && m["body"]["breakpoint"]["id"] == id
                && m["body"]["breakpoint"]["line"] == line + 1
        });
    assert_eq!(moved["body"]["breakpoint"]["verified"], true, "{moved}");
    assert_eq!(
        stop_line(&mut app, "AppReloader.PageController.show(\"you\")"),
        line + 1
    );
    // The module list tells the truth.
    let modules = app.dap.request("modules", json!({}), TIMEOUT);
    let controller = modules["body"]["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "AppReloader.PageController")
        .cloned()
        .unwrap();
    assert_eq!(controller["symbolStatus"], "interpreted", "{controller}");
}

#[test]
fn an_app_recompile_calling_an_interpreted_macro_helper_leaves_the_vm_alive() {
    // Only the user of the macro changes: compiling it calls
    // AppReloader.Web.controller/0, which is interpreted (OTP 25's VM died
    // there with SIGSEGV when the call went through the interpreter).
    let mut app = start();
    let (_, line) = set_breakpoint(&mut app, "lib/app_reloader/web.ex", "controller");
    for round in 1..=3 {
        app.edit(
            "lib/app_reloader/page_controller.ex",
            "  def show(name) do",
            &format!("  # round {round}\n  def show(name) do"),
        );
        let event = app_recompile(&mut app);
        assert_eq!(event["body"]["success"], true, "{event}");
        assert_eq!(app.eval("AppReloader.PageController.kind()"), ":controller");
    }
    // The macro helper is still interpreted: its breakpoint stops.
    assert_eq!(stop_line(&mut app, "AppReloader.Web.controller()"), line);
}

#[test]
fn modules_interpreted_again_keep_the_beam_file_the_next_app_compile_reads() {
    // After a compile, Elixir's compiler checks every module that calls the
    // compiled ones at runtime by reading the file code:which/1 names (a
    // Phoenix router after a controller's edit). A re-interpreted module
    // named by a file that did not exist made every later compile fail.
    let mut app = start();
    set_breakpoint(&mut app, "lib/app_reloader/template.ex", "render");
    app.edit(
        "lib/app_reloader/template.ex",
        "  def render(name) do",
        "  def page(name), do: AppReloader.PageController.show(name)\n\n  def render(name) do",
    );
    assert_eq!(app_recompile(&mut app)["body"]["success"], true);
    let named = app.eval(":code.which(AppReloader.Template) |> List.to_string()");
    assert!(named.ends_with("/ebin/Elixir.AppReloader.Template.beam\""), "{named}");
    assert_eq!(
        app.eval(":code.which(AppReloader.Template) |> List.to_string() |> File.regular?()"),
        "true"
    );
    for round in 1..=2 {
        app.edit(
            "lib/app_reloader/page_controller.ex",
            "  def show(name) do",
            &format!("  # round {round}\n  def show(name) do"),
        );
        // app_recompile asserts Mix's status (:ok), which was {:error, ...}
        // with a File.Error on the template's beam.
        assert_eq!(app_recompile(&mut app)["body"]["success"], true, "round {round}");
        assert_eq!(app.eval("AppReloader.Template.page(\"x\")"), "\"hello x\"");
    }
}

#[test]
fn iex_style_recompile_of_a_module_with_a_breakpoint_re_arms_it() {
    // Not through Mix: the program compiles a file itself, as IEx's `c/1`
    // and `r/1` do; the module is loaded natively by the compiler.
    let mut app = start();
    let (id, line) = set_breakpoint(&mut app, "lib/app_reloader/template.ex", "render");
    let file = path_string(&app.path("lib/app_reloader/template.ex"));
    app.edit(
        "lib/app_reloader/template.ex",
        "  def render(name) do",
        "  # a\n  # b\n  def render(name) do",
    );
    let before = app.dap.events_named("codeReloaded").len();
    app.eval(&format!("Code.compile_file({file:?}) |> length()"));
    let event = app.dap.wait_nth_event("codeReloaded", before, TIMEOUT);
    assert_eq!(event["body"]["trigger"], "app", "{event}");
    app.dap.wait_for("the breakpoint moved by two lines", TIMEOUT, |m| {
        m["event"] == "breakpoint" && m["body"]["breakpoint"]["id"] == id && m["body"]["breakpoint"]["line"] == line + 2
    });
    assert_eq!(stop_line(&mut app, "AppReloader.Template.render(\"you\")"), line + 2);
    // Compiled in memory: no file names its code, as Elixir leaves it.
    assert_eq!(app.eval(":code.which(AppReloader.Template)"), "[]");
}

#[test]
fn saving_a_template_reloads_the_module_that_embeds_it() {
    // AppReloader.Template declares hello.txt.eex with @external_resource
    // (as embed_templates does): a save of the template, which is no Elixir
    // source, recompiles the module and keeps its breakpoint.
    let mut app = App::start_fixture(
        "app_reloader",
        "app_reloader: started",
        json!({"reloadOnSave": "auto", "reloadDebounceMs": 50}),
    );
    assert_eq!(app.eval("AppReloader.Template.render(\"you\")"), "\"Hello, you!\"");
    let (_, line) = set_breakpoint(&mut app, "lib/app_reloader/template.ex", "render");
    let before = app.dap.events_named("codeReloaded").len();
    std::fs::write(app.path("lib/app_reloader/hello.txt.eex"), "Goodbye, NAME!\n").unwrap();
    let event = app.dap.wait_nth_event("codeReloaded", before, TIMEOUT);
    assert_eq!(event["body"]["success"], true, "{event}");
    assert_eq!(event["body"]["trigger"], "save", "{event}");
    let planned = &event["body"]["planned"][0];
    assert_eq!(planned["file"], "lib/app_reloader/template.ex", "{event}");
    assert_eq!(planned["reason"], "external", "{event}");
    assert!(
        planned["module"].as_str().unwrap().ends_with("hello.txt.eex"),
        "{event}"
    );
    // The breakpoint still stops, and the call renders the new template.
    assert_eq!(
        stop_line(&mut app, "IO.puts(AppReloader.Template.render(\"again\"))"),
        line
    );
    app.dap.wait_output("stdout", "Goodbye, again!", TIMEOUT);
    let file = path_string(&app.path("lib/app_reloader/template.ex"));
    app.dap.request(
        "setBreakpoints",
        json!({"source": {"path": file}, "breakpoints": []}),
        TIMEOUT,
    );

    // By request, naming the template; and with no files, when it changed.
    std::fs::write(app.path("lib/app_reloader/hello.txt.eex"), "Hi, NAME!\n").unwrap();
    let template = path_string(&app.path("lib/app_reloader/hello.txt.eex"));
    let response = app.reload(json!({"files": [template]}));
    assert_eq!(response["success"], true, "{response}");
    assert_eq!(app.eval("AppReloader.Template.render(\"you\")"), "\"Hi, you!\"");
}

#[test]
fn a_changed_template_is_found_by_a_reload_without_files() {
    let mut app = start();
    std::fs::write(app.path("lib/app_reloader/hello.txt.eex"), "Hey, NAME!\n").unwrap();
    let response = app.reload(json!({}));
    assert_eq!(response["success"], true, "{response}");
    assert_eq!(response["body"]["planned"][0]["reason"], "external", "{response}");
    assert_eq!(app.eval("AppReloader.Template.render(\"you\")"), "\"Hey, you!\"");
    // Nothing changed since: nothing to do.
    let again = app.reload(json!({}));
    assert_eq!(again["body"]["planned"], json!([]), "{again}");
}

#[test]
fn code_injected_from_another_file_is_shown_in_that_file() {
    // `quote location: :keep` (as Plug's debugger in a Phoenix endpoint):
    // the injected function's lines are lines of injector.ex; line 12 of
    // uses_injector.ex holds no code of its own. On either backend: the
    // debuggers report lines, the agent finds their file.
    let mut app = App::start_fixture("app_reloader", "app_reloader: started", json!({}));
    assert_eq!(app.reload(json!({"dryRun": true}))["success"], true);
    let (_, own_line) = set_breakpoint(&mut app, "lib/app_reloader/uses_injector.ex", "own");
    let injector = app.path("lib/app_reloader/injector.ex");
    let injected_line = marker_line(&injector, "injected");
    let injected_only = marker_line(&injector, "injected_last");
    let user = path_string(&app.path("lib/app_reloader/uses_injector.ex"));
    let none = app.dap.request(
        "setBreakpoints",
        json!({"source": {"path": user}, "breakpoints": [{"line": own_line}, {"line": injected_only}]}),
        TIMEOUT,
    );
    assert_eq!(none["body"]["breakpoints"][0]["verified"], true, "{none}");
    assert_eq!(none["body"]["breakpoints"][1]["verified"], false, "{none}");

    app.eval("spawn(fn -> AppReloader.UsesInjector.own(1) end)");
    let stopped = app.dap.wait_event("stopped", TIMEOUT);
    let thread = stopped["body"]["threadId"].clone();
    let mut stops = 1;
    if !native_run() {
        // The interpreter stops in the injected code.
        app.dap.request("stepIn", json!({"threadId": thread}), TIMEOUT);
        app.dap.wait_nth_event("stopped", stops, TIMEOUT);
        stops += 1;
        let stack = app.dap.request("stackTrace", json!({"threadId": thread}), TIMEOUT);
        let top = &stack["body"]["stackFrames"][0];
        assert_eq!(top["name"], "AppReloader.UsesInjector.injected/1", "{stack}");
        assert_eq!(top["source"]["path"], path_string(&injector), "{stack}");
        assert_eq!(top["line"], injected_line, "{stack}");
    }
    // Into helper/1, which the injected code calls (on the native backend
    // the step goes through injected/1, which has no debug_line: OTP's
    // compiler gives code of another file none).
    app.dap.request("stepIn", json!({"threadId": thread}), TIMEOUT);
    app.dap.wait_nth_event("stopped", stops, TIMEOUT);
    let stack = app.dap.request("stackTrace", json!({"threadId": thread}), TIMEOUT);
    let frames = &stack["body"]["stackFrames"];
    assert_eq!(frames[0]["name"], "AppReloader.UsesInjector.helper/1", "{stack}");
    assert_eq!(frames[0]["source"]["path"], user, "{stack}");
    assert_eq!(
        frames[0]["line"],
        marker_line(&app.path("lib/app_reloader/uses_injector.ex"), "helper"),
        "{stack}"
    );
    assert_eq!(frames[1]["name"], "AppReloader.UsesInjector.injected/1", "{stack}");
    assert_eq!(frames[1]["source"]["path"], path_string(&injector), "{stack}");
    assert_eq!(frames[1]["line"], injected_line, "{stack}");
    assert_eq!(frames[2]["source"]["path"], user, "{stack}");
    assert_eq!(frames[2]["line"], own_line, "{stack}");
}

#[test]
fn a_line_shared_with_injected_code_stops_in_own_code_and_function_breakpoints_stop_where_they_can() {
    // The debuggers know lines, not files: line 11 of uses_injector.ex is
    // also line 11 of injected/1, written in injector.ex. A breakpoint on
    // that line of uses_injector.ex stops in twice/1 only. A function
    // breakpoint on the injected function stops in it, shown in injector.ex,
    // on the interpreter; the native backend, which has no line to stop at
    // there, refuses it naming injector.ex.
    let mut app = App::start_fixture("app_reloader", "app_reloader: started", json!({}));
    let user_file = app.path("lib/app_reloader/uses_injector.ex");
    let injector = app.path("lib/app_reloader/injector.ex");
    let user = path_string(&user_file);
    let (_, shared_line) = set_breakpoint(&mut app, "lib/app_reloader/uses_injector.ex", "shared");
    let injected_line = marker_line(&injector, "injected");
    assert_eq!(
        shared_line, injected_line,
        "the fixture's two lines must have one number"
    );

    // twice/1 calls injected/1 twice (through own/1), which runs its line
    // of that number each time: one stop, in twice/1.
    app.eval("spawn(fn -> IO.puts(\"twice: #{AppReloader.UsesInjector.twice(1)}\") end)");
    let stopped = app.dap.wait_event("stopped", TIMEOUT);
    let thread = stopped["body"]["threadId"].clone();
    let stack = app.dap.request("stackTrace", json!({"threadId": thread}), TIMEOUT);
    let top = &stack["body"]["stackFrames"][0];
    assert_eq!(top["name"], "AppReloader.UsesInjector.twice/1", "{stack}");
    assert_eq!(top["source"]["path"], user, "{stack}");
    assert_eq!(top["line"], shared_line, "{stack}");
    app.dap.request("continue", json!({"threadId": thread}), TIMEOUT);
    // A stop in injected/1 would keep this output from coming.
    app.dap.wait_output("stdout", "twice: 8", TIMEOUT);
    assert_eq!(app.dap.events_named("stopped").len(), 1, "{}", app.dap.transcript());

    // A function breakpoint on the injected function.
    let clear = app.dap.request(
        "setBreakpoints",
        json!({"source": {"path": user}, "breakpoints": []}),
        TIMEOUT,
    );
    assert_eq!(clear["success"], true, "{clear}");
    let functions = app.dap.request(
        "setFunctionBreakpoints",
        json!({"breakpoints": [{"name": "AppReloader.UsesInjector.injected/1"}]}),
        TIMEOUT,
    );
    let function = &functions["body"]["breakpoints"][0];
    if native_run() {
        // No debug_line in code of another file: refused, saying why.
        assert_eq!(function["verified"], false, "{functions}");
        let message = function["message"].as_str().unwrap();
        assert!(message.contains("a macro injected its code from"), "{message}");
        assert!(message.contains(&path_string(&injector)), "{message}");
        return;
    }
    assert_eq!(function["verified"], true, "{functions}");
    app.eval("spawn(fn -> AppReloader.UsesInjector.own(1) end)");
    let stopped = app.dap.wait_nth_event("stopped", 1, TIMEOUT);
    assert_eq!(stopped["body"]["reason"], "function breakpoint", "{stopped}");
    let thread = stopped["body"]["threadId"].clone();
    let stack = app.dap.request("stackTrace", json!({"threadId": thread}), TIMEOUT);
    let top = &stack["body"]["stackFrames"][0];
    assert_eq!(top["name"], "AppReloader.UsesInjector.injected/1", "{stack}");
    assert_eq!(top["source"]["path"], path_string(&injector), "{stack}");
    assert_eq!(top["line"], injected_line, "{stack}");
    let caller = &stack["body"]["stackFrames"][1];
    assert_eq!(caller["source"]["path"], user, "{stack}");
    assert_eq!(caller["line"], marker_line(&user_file, "own"), "{stack}");
}
