//! `breakOnDbg`: a `dbg` call in the debugged program stops its process as a
//! thread, with the caller's location, the binding of the call as variables,
//! evaluate in that binding, and `continue` letting the program finish.
//! Checked with the real binary and a real VM on the plain fixture
//! (`Plain.DbgMe`), interpreted and not, and with `breakOnDbg: false`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::*;

/// The line of `# dbg:<name>` in a fixture source.
fn marker_line(file: &Path, name: &str) -> i64 {
    let text = std::fs::read_to_string(file).unwrap();
    let marker = format!("# dbg:{name}");
    let index = text
        .lines()
        .position(|l| l.contains(&marker))
        .unwrap_or_else(|| panic!("no {marker} in {file:?}"));
    index as i64 + 1
}

struct Session {
    dap: DapClient,
    file: PathBuf,
    _project: tempfile::TempDir,
}

/// Launches `Plain.DbgMe.start(21)` in a copy of the plain fixture with the
/// extra launch attributes, and runs it.
fn launch(extra: Value) -> Session {
    launch_in(fixture("plain"), extra)
}

/// Like [`launch`], in a given copy of the fixture.
fn launch_in(project: tempfile::TempDir, extra: Value) -> Session {
    let file = project.path().join("lib/plain/dbg_me.ex");
    let mut dap = DapClient::start();
    let mut arguments = json!({
        "projectDir": path_string(project.path()),
        "taskArgs": ["-e", "Plain.DbgMe.start(21)"],
    });
    for (key, value) in extra.as_object().unwrap() {
        arguments[key] = value.clone();
    }
    dap.launch_and_run(arguments);
    Session {
        dap,
        file,
        _project: project,
    }
}

impl Session {
    fn request_ok(&mut self, command: &str, arguments: Value) -> Value {
        let response = self.dap.request(command, arguments, TIMEOUT);
        assert_eq!(response["success"], true, "{command} failed: {response}");
        response
    }

    /// The frame's `Variables` scope as name → value.
    fn locals(&mut self, frame_id: &Value) -> serde_json::Map<String, Value> {
        let scopes = self.request_ok("scopes", json!({"frameId": frame_id}));
        let reference = scopes["body"]["scopes"][0]["variablesReference"].clone();
        let variables = self.request_ok("variables", json!({"variablesReference": reference}));
        variables["body"]["variables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| (v["name"].as_str().unwrap().to_owned(), v["value"].clone()))
            .collect()
    }

    /// Checks everything a user sees at the `dbg` stop, then resumes with
    /// `resume_with` (`continue` or `next`) and waits for the program to finish.
    fn check_stop_and_resume(&mut self, interpreted: bool, resume_with: &str) {
        let stopped = self.dap.wait_event("stopped", TIMEOUT);
        assert_eq!(stopped["body"]["reason"], "breakpoint", "{stopped}");
        assert_eq!(stopped["body"]["description"], "Paused on a dbg call", "{stopped}");
        let thread = stopped["body"]["threadId"].clone();
        assert!(
            !self.dap.output_text("stdout").contains("dbg_me: after dbg"),
            "the program ran past the dbg call before it was continued"
        );

        let stack = self.request_ok("stackTrace", json!({"threadId": thread}));
        let frames = stack["body"]["stackFrames"].as_array().unwrap().clone();
        assert_eq!(frames[0]["name"], "Plain.DbgMe.run/1", "{stack}");
        assert_eq!(frames[0]["line"], marker_line(&self.file, "stop"), "{stack}");
        let source = frames[0]["source"]["path"].as_str().unwrap();
        assert!(source.ends_with("lib/plain/dbg_me.ex"), "{stack}");
        // The caller, whether the process is interpreted (the interpreter's
        // frames) or not (the process's own stack).
        assert_eq!(frames[1]["name"], "Plain.DbgMe.start/1", "{stack}");
        assert_eq!(frames[1]["line"], marker_line(&self.file, "caller"), "{stack}");
        let caller = self.locals(&frames[1]["id"]);
        // The interpreter knows the caller's variables too; the native
        // backend shows a `dbg` stop from the process's own stack, as for a
        // process not interpreted.
        if interpreted && !native_run() {
            assert_eq!(caller.get("count"), Some(&json!("21")), "{caller:?}");
        } else {
            assert!(caller.is_empty(), "{caller:?}");
        }

        let locals = self.locals(&frames[0]["id"]);
        assert_eq!(locals.get("total"), Some(&json!("42")), "{locals:?}");
        assert_eq!(locals.get("label"), Some(&json!("\"items\"")), "{locals:?}");
        assert_eq!(locals.get("count"), Some(&json!("21")), "{locals:?}");

        // Evaluated in the binding and environment of the call: the alias
        // `Me` of the module applies.
        let result = self.request_ok(
            "evaluate",
            json!({"expression": "Me.double(total) + count", "frameId": frames[0]["id"], "context": "repl"}),
        );
        assert_eq!(result["body"]["result"], "105", "{result}");
        let error = self.dap.request(
            "evaluate",
            json!({"expression": "total +", "frameId": frames[0]["id"], "context": "repl"}),
            TIMEOUT,
        );
        assert_eq!(error["success"], false, "{error}");

        // Stepping into or out of a dbg call is refused (as in ElixirLS); the
        // thread stays stopped.
        for command in ["stepIn", "stepOut"] {
            let step = self.dap.request(command, json!({"threadId": thread}), TIMEOUT);
            assert_eq!(step["success"], false, "{step}");
            let message = step["message"].as_str().unwrap_or_default();
            assert!(message.contains("dbg") && message.contains(command), "{step}");
        }
        let frames_again = self.request_ok("stackTrace", json!({"threadId": thread}));
        assert_eq!(frames_again["body"]["stackFrames"][0]["name"], "Plain.DbgMe.run/1");

        // `next` lets it run on like `continue`.
        let resumed = self.request_ok(resume_with, json!({"threadId": thread}));
        if resume_with == "continue" {
            assert_eq!(resumed["body"]["allThreadsContinued"], false);
        }
        // Elixir's own dbg output, then the program's next line.
        self.dap.wait_output_plain("stdout", "total #=> 42", TIMEOUT);
        self.dap.wait_output("stdout", "dbg_me: after dbg, 42 items", TIMEOUT);
        let exited = self.dap.wait_event("exited", TIMEOUT);
        assert_eq!(exited["body"]["exitCode"], 0, "{exited}");
    }
}

#[test]
fn dbg_stops_an_interpreted_process() {
    // Every project module is interpreted by default.
    let mut s = launch(json!({}));
    s.check_stop_and_resume(true, "continue");
}

#[test]
fn dbg_stops_a_process_that_is_not_interpreted() {
    let mut s = launch(json!({"excludeModules": ["Plain.DbgMe"]}));
    s.check_stop_and_resume(false, "next");
}

#[test]
fn break_on_dbg_false_only_prints() {
    let mut s = launch(json!({"breakOnDbg": false}));
    s.dap.wait_output_plain("stdout", "total #=> 42", TIMEOUT);
    s.dap.wait_output("stdout", "dbg_me: after dbg, 42 items", TIMEOUT);
    let exited = s.dap.wait_event("exited", TIMEOUT);
    assert_eq!(exited["body"]["exitCode"], 0, "{exited}");
    assert!(
        s.dap.events_named("stopped").is_empty(),
        "breakOnDbg false must not stop:\n{}",
        s.dap.transcript()
    );
}

#[test]
fn break_on_dbg_must_be_a_boolean() {
    let project = fixture("plain");
    let mut dap = DapClient::start();
    let response = dap.launch(json!({"projectDir": path_string(project.path()), "breakOnDbg": "yes"}));
    assert_eq!(response["success"], false, "{response}");
    assert!(
        response["message"].as_str().unwrap_or_default().contains("breakOnDbg"),
        "{response}"
    );
}

/// A project built with one `dbg` callback and launched with another: Mix
/// recompiles the files whose `dbg` calls were expanded with the old one, and
/// must also rewrite each recompiled app's `.app` file, where it records the
/// compile-time values that `compile.all` validates after compiling. Mix 1.18
/// and 1.19 rewrite a `.app` only when mix.exs, the config or the compile
/// path's directory is newer than it, in whole seconds: a launch within the
/// second of the last build failed with "the application :elixir has a
/// different value set for key :dbg_callback" (seen in CI). Before the second
/// launch every `.app` of the build is dated a minute ahead, which makes that
/// second certain. `project` is the copied fixture, `launch_dir` the project
/// launched in it, `call` the expression run, and `after_dbg` what it prints
/// after its `dbg` call.
fn relaunch_with_the_other_callback(
    project: &tempfile::TempDir,
    launch_dir: &Path,
    call: &str,
    after_dbg: &str,
    first_breaks: bool,
) {
    // A cache of its own, where the native backend's build is found.
    let cache = tempfile::tempdir().unwrap();
    let session = |break_on_dbg: bool| {
        let mut dap = DapClient::start_with(|command| {
            command.env("XDG_CACHE_HOME", cache.path());
        });
        dap.launch_and_run(json!({
            "projectDir": path_string(launch_dir),
            "taskArgs": ["-e", call],
            "breakOnDbg": break_on_dbg,
        }));
        dap
    };
    let run_through = |dap: &mut DapClient, break_on_dbg: bool| {
        if break_on_dbg {
            let stopped = dap.wait_event("stopped", TIMEOUT);
            assert_eq!(stopped["body"]["description"], "Paused on a dbg call", "{stopped}");
            let thread = stopped["body"]["threadId"].clone();
            let resumed = dap.request("continue", json!({"threadId": thread}), TIMEOUT);
            assert_eq!(resumed["success"], true, "{resumed}");
        }
        dap.wait_output("stdout", after_dbg, TIMEOUT);
        let exited = dap.wait_event("exited", TIMEOUT);
        assert_eq!(exited["body"]["exitCode"], 0, "{exited}");
        assert_eq!(
            dap.events_named("stopped").len(),
            usize::from(break_on_dbg),
            "breakOnDbg {break_on_dbg}:\n{}",
            dap.transcript()
        );
    };

    let mut first = session(first_breaks);
    run_through(&mut first, first_breaks);
    drop(first);

    let ahead = std::time::SystemTime::now() + Duration::from_secs(60);
    let app_files = app_files(&[project.path(), &cache.path().join("elixir-dap/native-build")]);
    assert!(!app_files.is_empty(), "the first launch built no .app file");
    for file in &app_files {
        std::fs::File::options()
            .write(true)
            .open(file)
            .unwrap()
            .set_modified(ahead)
            .unwrap();
    }
    let mut second = session(!first_breaks);
    run_through(&mut second, !first_breaks);
}

/// Every `<build>/lib/<app>/ebin/<app>.app` under the given directories.
fn app_files(roots: &[&Path]) -> Vec<PathBuf> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.map(Result::unwrap) {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "app")
                && path.parent().and_then(Path::file_name).is_some_and(|d| d == "ebin")
            {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    for root in roots {
        walk(root, &mut found);
    }
    found
}

/// The plain fixture, built with `breakOnDbg` `first_breaks`, relaunched
/// with the other.
fn relaunch_the_plain_fixture(first_breaks: bool) {
    let project = fixture("plain");
    relaunch_with_the_other_callback(
        &project,
        project.path(),
        "Plain.DbgMe.start(21)",
        "dbg_me: after dbg, 42 items",
        first_breaks,
    );
}

#[test]
fn a_project_built_without_the_callback_is_recompiled() {
    relaunch_the_plain_fixture(false);
}

#[test]
fn a_project_built_with_the_callback_is_recompiled_without_it() {
    relaunch_the_plain_fixture(true);
}

/// Adds a module with a `dbg` call to a copy of `fixture_name` (at `file`),
/// then builds and relaunches the project at `launch_dir` in it without
/// and with the callback.
fn relaunch_with_an_added_dbg_call(fixture_name: &str, file: &str, launch_dir: &str, module: &str) {
    let project = fixture(fixture_name);
    let source = format!(
        "defmodule {module} do\n  def run(n) do\n    total = n * 2\n    dbg(total)\n    \
         IO.puts(\"{module}: after dbg, #{{total}}\")\n  end\nend\n"
    );
    std::fs::write(project.path().join(file), source).unwrap();
    relaunch_with_the_other_callback(
        &project,
        &project.path().join(launch_dir),
        &format!("{module}.run(21)"),
        &format!("{module}: after dbg, 42"),
        false,
    );
}

#[test]
fn an_umbrella_app_built_with_another_callback_is_recompiled() {
    relaunch_with_an_added_dbg_call("umbrella", "apps/core/lib/core/dbg_call.ex", "", "Core.DbgCall");
}

/// Mix does not check a dependency's `.app` after compiling it; its `dbg`
/// calls must still be expanded anew.
#[test]
fn a_path_dependency_built_with_another_callback_is_recompiled() {
    relaunch_with_an_added_dbg_call(
        "path_dep",
        "helper_lib/lib/helper_dbg_call.ex",
        "app",
        "HelperLib.DbgCall",
    );
}

#[test]
fn dbg_in_code_outside_any_module_stops_too() {
    let mut s = launch(json!({"taskArgs": ["-e", "x = 5\ndbg(x + 1)\nIO.puts(\"script: after dbg\")"]}));
    let stopped = s.dap.wait_event("stopped", TIMEOUT);
    let thread = stopped["body"]["threadId"].clone();
    let stack = s.request_ok("stackTrace", json!({"threadId": thread}));
    let frames = stack["body"]["stackFrames"].as_array().unwrap().clone();
    assert_eq!(frames[0]["line"], 2, "{stack}");
    assert_eq!(frames[0]["name"], "(top level)", "{stack}");
    assert!(frames[0].get("source").is_none(), "code from -e has no file: {stack}");
    let locals = s.locals(&frames[0]["id"]);
    assert_eq!(locals.get("x"), Some(&json!("5")), "{locals:?}");
    s.request_ok("continue", json!({"threadId": thread}));
    s.dap.wait_output("stdout", "script: after dbg", TIMEOUT);
}

#[test]
fn dbg_in_a_module_body_only_prints_while_the_project_compiles() {
    // The launch waits for the compiler: a stop there would hang it.
    let project = fixture("plain");
    std::fs::write(
        project.path().join("lib/plain/body.ex"),
        "defmodule Plain.Body do\n  @x 7\n  dbg(@x)\n  def x, do: @x * 6\nend\n",
    )
    .unwrap();
    let mut s = launch_in(project, json!({"taskArgs": ["-e", "IO.puts(Plain.Body.x())"]}));
    s.dap.wait_output_plain("stdout", "@x #=> 7", TIMEOUT);
    s.dap.wait_output("stdout", "42", TIMEOUT);
    let exited = s.dap.wait_event("exited", TIMEOUT);
    assert_eq!(exited["body"]["exitCode"], 0, "{exited}");
    assert!(s.dap.events_named("stopped").is_empty(), "{}", s.dap.transcript());
}

#[test]
fn detaching_lets_a_process_paused_in_dbg_run_on() {
    let project = fixture("plain");
    let marker = project.path().join("dbg_detached");
    // Once the adapter has exited, the VM's stdout is closed and printing
    // fails: the program prints into a StringIO, and says it ran on by
    // writing a file.
    let program = "{:ok, out} = StringIO.open(\"\"); Process.group_leader(self(), out); \
                   Plain.DbgMe.start(21); File.write!(\"dbg_detached\", \"done\")";
    let mut s = launch_in(project, json!({"taskArgs": ["-e", program]}));
    let vm = s.dap.vm_pid();
    s.dap.wait_event("stopped", TIMEOUT);
    let response = s
        .dap
        .request("disconnect", json!({"terminateDebuggee": false}), TIMEOUT);
    assert_eq!(response["success"], true, "{response}");
    // The adapter is gone: nothing reports the program's progress but the
    // file it writes after the dbg call, so poll for it until a deadline.
    let deadline = std::time::Instant::now() + TIMEOUT;
    while !marker.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    kill_group(vm);
    assert!(
        marker.exists(),
        "the process paused in dbg did not run on after the adapter detached"
    );
    assert_group_gone(vm, TIMEOUT);
}

#[test]
fn next_goes_through_a_dbg_pipeline_stage_by_stage() {
    let mut s = launch(json!({"taskArgs": ["-e", "IO.puts(\"pipeline: #{Plain.DbgMe.pipeline([1, 2, 3])}\")"]}));
    let file = s.file.clone();
    // Stops where the pipeline starts, then before each later stage with the
    // value so far; the caller's variables are there at every stop.
    let stops = [
        ("breakpoint", "pipe-first", None),
        ("step", "pipe-map", Some("[1, 2, 3]")),
        ("step", "pipe-sum", Some("[3, 6, 9]")),
    ];
    for (n, (reason, marker, value)) in stops.into_iter().enumerate() {
        let stopped = s.dap.wait_nth_event("stopped", n, TIMEOUT);
        assert_eq!(stopped["body"]["reason"], reason, "stop {n}: {stopped}");
        let thread = stopped["body"]["threadId"].clone();
        let stack = s.request_ok("stackTrace", json!({"threadId": thread}));
        let top = &stack["body"]["stackFrames"][0];
        assert_eq!(top["name"], "Plain.DbgMe.pipeline/1", "{stack}");
        assert_eq!(top["line"], marker_line(&file, marker), "stop {n}: {stack}");
        let locals = s.locals(&top["id"].clone());
        assert_eq!(locals.get("factor"), Some(&json!("3")), "{locals:?}");
        assert_eq!(locals.get("(pipe value)").and_then(Value::as_str), value, "{locals:?}");
        assert!(
            !strip_ansi(&s.dap.output_text("stdout")).contains("Enum.sum()"),
            "the pipeline printed before it finished"
        );
        s.request_ok("next", json!({"threadId": thread}));
    }
    // After the last stage, `next` lets it finish: Elixir's own output.
    s.dap.wait_output_plain("stdout", "|> Enum.sum() #=> 18", TIMEOUT);
    s.dap.wait_output("stdout", "pipeline: 18", TIMEOUT);
    assert_eq!(s.dap.wait_event("exited", TIMEOUT)["body"]["exitCode"], 0);
    assert_eq!(s.dap.events_named("stopped").len(), 3, "{}", s.dap.transcript());
}

#[test]
fn dbg_output_is_compared_without_colours() {
    // What Elixir 1.20 prints for a pipeline without a terminal.
    let coloured = "\u{1b}[0m\u{1b}[2m|> \u{1b}[0mEnum.sum()\u{1b}[2m #=>\u{1b}[0m 18\n";
    assert_eq!(strip_ansi(coloured), "|> Enum.sum() #=> 18\n");
    assert_eq!(strip_ansi("total #=> 42"), "total #=> 42");
}
