//! `mix test` under the debugger as ElixirLS users run it, and Mix's choice
//! of environment and default task, on the Elixir version that runs the
//! tests: the real binary over DAP against real VMs running the
//! `mix_tests` fixture.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use support::*;

/// ElixirLS's default "mix test" launch configuration.
fn elixir_ls_test_config(project: &Path, task_args: Value) -> Value {
    json!({
        "type": "mix_task",
        "request": "launch",
        "task": "test",
        "taskArgs": task_args,
        "projectDir": path_string(project),
        "requireFiles": ["test/**/test_helper.exs", "test/**/*_test.exs"],
    })
}

struct Marker {
    file: &'static str,
    name: &'static str,
    /// A variable bound at the marker, and its value as shown.
    variable: (&'static str, &'static str),
}

const MARKERS: &[Marker] = &[
    Marker {
        file: "test/calc_test.exs",
        name: "passing",
        variable: ("sum", "42"),
    },
    Marker {
        file: "test/async_test.exs",
        name: "async",
        variable: ("value", "42"),
    },
    Marker {
        file: "test/test_helper.exs",
        name: "helper",
        variable: ("x", "21"),
    },
];

/// Launches, sets a breakpoint on every marker, runs the task, and checks
/// that each marker stops once with its variable, then that the run ends
/// with ExUnit's status (2: a test fails) after the at_exit callback's
/// output.
fn stops_in_every_test_file(launch: Value) {
    let project = fixture("mix_tests");
    let mut launch = launch;
    launch["projectDir"] = json!(path_string(project.path()));
    let mut dap = DapClient::start();
    let response = dap.launch(launch);
    assert_eq!(
        response["success"],
        true,
        "launch failed: {response}\n{}",
        dap.transcript()
    );
    let mut ids: BTreeMap<i64, (&Marker, i64)> = BTreeMap::new();
    for marker in MARKERS {
        let file = project.path().join(marker.file);
        let line = marker_line(&file, marker.name);
        let set = dap.request(
            "setBreakpoints",
            json!({"source": {"path": path_string(&file)}, "breakpoints": [{"line": line}]}),
            TIMEOUT,
        );
        assert_eq!(set["success"], true, "{set}");
        ids.insert(set["body"]["breakpoints"][0]["id"].as_i64().unwrap(), (marker, line));
    }
    assert_eq!(dap.request("configurationDone", json!({}), TIMEOUT)["success"], true);

    let mut seen = Vec::new();
    for n in 0..MARKERS.len() {
        let stopped = dap.wait_nth_event("stopped", n, LAUNCH_TIMEOUT);
        let thread = stopped["body"]["threadId"].clone();
        let trace = dap.request("stackTrace", json!({"threadId": thread}), TIMEOUT);
        let top = &trace["body"]["stackFrames"][0];
        let path = top["source"]["path"].as_str().unwrap_or_default().to_owned();
        let line = top["line"].as_i64().unwrap();
        let (marker, _) = ids
            .values()
            .find(|(m, l)| path.ends_with(m.file) && *l == line)
            .unwrap_or_else(|| panic!("stopped at {path}:{line}, at no marker\n{}", dap.transcript()));
        let scopes = dap.request("scopes", json!({"frameId": top["id"]}), TIMEOUT);
        let reference = scopes["body"]["scopes"][0]["variablesReference"].clone();
        let variables = dap.request("variables", json!({"variablesReference": reference}), TIMEOUT);
        let (name, value) = marker.variable;
        let found = variables["body"]["variables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no variable {name} at {}: {variables}", marker.name));
        assert_eq!(found["value"], value, "{found}");
        seen.push(marker.name);
        let resumed = dap.request("continue", json!({"threadId": thread}), TIMEOUT);
        assert_eq!(resumed["success"], true, "{resumed}");
    }
    seen.sort_unstable();
    assert_eq!(seen, ["async", "helper", "passing"]);
    // Every breakpoint was verified once its module was defined.
    for id in ids.keys() {
        let verified = dap.received.iter().any(|m| {
            m["event"] == "breakpoint"
                && m["body"]["breakpoint"]["id"] == *id
                && m["body"]["breakpoint"]["verified"] == true
        });
        assert!(
            verified,
            "no breakpoint event verified breakpoint {id}\n{}",
            dap.transcript()
        );
    }

    let exited = dap.wait_event("exited", LAUNCH_TIMEOUT);
    assert_eq!(exited["body"]["exitCode"], 2, "{exited}\n{}", dap.transcript());
    let stdout = dap.output_text("stdout");
    // ExUnit's summary line differs between versions; the failure report
    // names the failing test in all of them.
    assert!(stdout.contains("fails on purpose"), "{stdout}");
    assert!(stdout.contains("calc_test ran in test"), "{stdout}");
    assert!(stdout.contains("at_exit callback: status 2"), "{stdout}");
}

#[test]
fn elixir_ls_default_test_config_stops_in_test_files_and_exits_with_the_test_status() {
    stops_in_every_test_file(elixir_ls_test_config(Path::new("."), json!(["--trace"])));
}

#[test]
fn tests_stop_without_require_files_and_with_async_modules() {
    stops_in_every_test_file(json!({"task": "test"}));
}

/// Runs a launch configuration to its end; returns (exit code, stdout).
fn run_to_end(project: &Path, mut launch: Value) -> (i64, String) {
    launch["projectDir"] = json!(path_string(project));
    let mut dap = DapClient::start();
    dap.launch_and_run(launch);
    let exited = dap.wait_event("exited", LAUNCH_TIMEOUT);
    let code = exited["body"]["exitCode"].as_i64().unwrap();
    (code, dap.output_text("stdout"))
}

#[test]
fn a_test_file_argument_runs_only_that_file() {
    let project = fixture("mix_tests");
    let launch = elixir_ls_test_config(project.path(), json!(["test/async_test.exs"]));
    let (code, stdout) = run_to_end(project.path(), launch);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("async_test ran"), "{stdout}");
    assert!(!stdout.contains("calc_test ran"), "{stdout}");
    assert!(stdout.contains("at_exit callback: status 0"), "{stdout}");

    let (code, stdout) = run_to_end(
        project.path(),
        json!({"task": "test", "taskArgs": ["test/calc_test.exs"]}),
    );
    assert_eq!(code, 2, "{stdout}");
    assert!(stdout.contains("fails on purpose"), "{stdout}");
    assert!(!stdout.contains("async_test ran"), "{stdout}");
}

#[test]
fn at_exit_callbacks_run_in_order_with_the_status_they_leave() {
    let project = fixture("mix_tests");
    // Callbacks run last-registered first; each gets the status the
    // previous one left, and one exiting with {:shutdown, n} changes it.
    let script = "System.at_exit(fn s -> IO.puts(\"first registered: #{s}\") end); \
                  System.at_exit(fn s -> IO.puts(\"second registered: #{s}\"); exit({:shutdown, 3}) end); \
                  IO.puts(\"task body done\")";
    let (code, stdout) = run_to_end(project.path(), json!({"task": "run", "taskArgs": ["-e", script]}));
    assert_eq!(code, 3, "{stdout}");
    let body = stdout.find("task body done").expect(&stdout);
    let second = stdout.find("second registered: 0").expect(&stdout);
    let first = stdout.find("first registered: 3").expect(&stdout);
    assert!(body < second && second < first, "{stdout}");

    // A task that raises ends with status 1, and callbacks still run.
    let script = "System.at_exit(fn s -> IO.puts(\"after a raise: #{s}\") end); raise \"boom\"";
    let (code, stdout) = run_to_end(project.path(), json!({"task": "run", "taskArgs": ["-e", script]}));
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("after a raise: 1"), "{stdout}");
}

/// The Elixir version that runs the tests, as (major, minor).
fn elixir_version() -> (u32, u32) {
    let output = std::process::Command::new("elixir")
        .args(["-e", "IO.write(System.version())"])
        .output()
        .expect("run elixir");
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    let mut parts = text.trim().split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

fn write_mix_exs(project: &Path, extra: &str) {
    let mix_exs = format!(
        "defmodule MixTests.MixProject do\n  use Mix.Project\n\n  \
         def project do\n    [app: :mix_tests, version: \"0.1.0\", deps: []{}]\n  end\n{}\nend\n",
        if extra.starts_with("project:") {
            extra.trim_start_matches("project:")
        } else {
            ""
        },
        if extra.starts_with("project:") { "" } else { extra },
    );
    std::fs::write(project.join("mix.exs"), mix_exs).unwrap();
    std::fs::create_dir_all(project.join("lib/mix/tasks")).unwrap();
    std::fs::write(
        project.join("lib/mix/tasks/hello.ex"),
        "defmodule Mix.Tasks.Hello do\n  use Mix.Task\n  def run(_), do: IO.puts(\"hello task ran in #{Mix.env()}\")\nend\n",
    )
    .unwrap();
}

const PRINT_ENV: &str = "IO.puts(\"env is #{Mix.env()}\")";

#[test]
fn the_environment_is_chosen_as_mix_chooses_it() {
    let newer = elixir_version() >= (1, 15);
    let project = fixture("mix_tests");

    // `def cli` preferred_envs (Elixir 1.15+; 1.14 does not read `def cli`).
    write_mix_exs(project.path(), "\n  def cli, do: [preferred_envs: [run: :test]]\n");
    let (_, stdout) = run_to_end(project.path(), json!({"task": "run", "taskArgs": ["-e", PRINT_ENV]}));
    let expected = if newer { "env is test" } else { "env is dev" };
    assert!(stdout.contains(expected), "expected {expected:?}: {stdout}");

    // MIX_ENV wins over every preference, on every version.
    let (_, stdout) = run_to_end(
        project.path(),
        json!({"task": "run", "taskArgs": ["-e", PRINT_ENV], "env": {"MIX_ENV": "prod"}}),
    );
    assert!(stdout.contains("env is prod"), "{stdout}");

    // The project's preferred_cli_env (deprecated on 1.15+, still read there
    // when the project has no `def cli`).
    write_mix_exs(project.path(), "project:, preferred_cli_env: [run: :test]");
    let (_, stdout) = run_to_end(project.path(), json!({"task": "run", "taskArgs": ["-e", PRINT_ENV]}));
    assert!(stdout.contains("env is test"), "{stdout}");

    // `test` prefers the test environment with no configuration at all.
    write_mix_exs(project.path(), "");
    let (_, stdout) = run_to_end(
        project.path(),
        json!({"task": "test", "taskArgs": ["test/calc_test.exs"]}),
    );
    assert!(stdout.contains("calc_test ran in test"), "{stdout}");
}

#[test]
fn the_default_task_is_chosen_as_mix_chooses_it() {
    let newer = elixir_version() >= (1, 15);
    let project = fixture("mix_tests");

    // `def cli` default_task and default_env: read by Elixir 1.15+ only.
    write_mix_exs(
        project.path(),
        "\n  def cli, do: [default_task: \"hello\", preferred_envs: [hello: :test]]\n",
    );
    let (code, stdout) = run_to_end(project.path(), json!({}));
    assert_eq!(code, 0, "{stdout}");
    if newer {
        assert!(stdout.contains("hello task ran in test"), "{stdout}");
    } else {
        assert!(!stdout.contains("hello task ran"), "1.14 reads no `def cli`: {stdout}");
    }

    // default_task in `def project`: 1.14's place, still read by 1.15+
    // without `def cli`.
    write_mix_exs(project.path(), "project:, default_task: \"hello\"");
    let (code, stdout) = run_to_end(project.path(), json!({}));
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("hello task ran in dev"), "{stdout}");
}
