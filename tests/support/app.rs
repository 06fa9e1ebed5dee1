//! A running `reload_app` (or another fixture) under the adapter, for the
//! reload tests: launch, edit sources, reload, evaluate.

use super::*;
use serde_json::{json, Value};
use std::path::PathBuf;

pub struct App {
    pub dap: DapClient,
    pub project: tempfile::TempDir,
}

impl App {
    /// Launches `reload_app` with `mix run --no-halt` and waits for it to start.
    pub fn start(extra: Value) -> App {
        App::start_fixture("reload_app", "reload_app: started", extra)
    }

    pub fn start_fixture(fixture_name: &str, started: &str, extra: Value) -> App {
        App::start_prepared(fixture_name, started, extra, |_| {})
    }

    /// [`start_fixture`](Self::start_fixture), with the copy of the fixture
    /// changed by `prepare` (files added) before the launch.
    pub fn start_prepared(
        fixture_name: &str,
        started: &str,
        extra: Value,
        prepare: impl FnOnce(&std::path::Path),
    ) -> App {
        let project = fixture(fixture_name);
        prepare(project.path());
        let mut dap = DapClient::start();
        // Saves are not watched unless a test asks (`reloadOnSave`): most
        // tests reload by request and must not race a reload on save.
        let mut launch = json!({
            "projectDir": path_string(project.path()),
            "task": "run",
            "taskArgs": ["--no-halt"],
            "reloadOnSave": "off",
        });
        for (key, value) in extra.as_object().unwrap() {
            launch[key] = value.clone();
        }
        let response = dap.launch(launch);
        assert_eq!(response["success"], true, "{response}");
        assert_eq!(dap.request("configurationDone", json!({}), TIMEOUT)["success"], true);
        dap.wait_output("stdout", started, LAUNCH_TIMEOUT);
        App { dap, project }
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.project.path().join(relative)
    }

    /// Replaces `from` with `to` in a source (the file must contain it).
    pub fn edit(&self, relative: &str, from: &str, to: &str) {
        let path = self.path(relative);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{relative} does not contain {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }

    pub fn reload(&mut self, arguments: Value) -> Value {
        self.dap.request("reloadCode", arguments, LAUNCH_TIMEOUT)
    }

    /// [`App::edit`], then `reloadCode` without arguments; asserts that the
    /// reload succeeded and returns its response.
    pub fn edit_and_reload(&mut self, relative: &str, from: &str, to: &str) -> Value {
        self.edit(relative, from, to);
        let response = self.reload(json!({}));
        assert_eq!(
            response["success"], true,
            "reloading {relative} ({from:?} -> {to:?}): {response}"
        );
        response
    }

    /// Asserts that the reload `response` moved breakpoint `id` to `new_line`:
    /// its `breakpoint` event (verified, on the new line) and the report's
    /// first `breakpoints` entry.
    pub fn assert_breakpoint_moved(&mut self, response: &Value, id: &Value, new_line: i64) {
        let moved = self.dap.wait_for("breakpoint event with the new line", TIMEOUT, |m| {
            m["event"] == "breakpoint" && m["body"]["breakpoint"]["id"] == *id
        });
        assert_eq!(moved["body"]["breakpoint"]["line"], new_line, "{moved}");
        assert_eq!(moved["body"]["breakpoint"]["verified"], true, "{moved}");
        assert_eq!(response["body"]["breakpoints"][0]["newLine"], new_line, "{response}");
    }

    /// Evaluates an Elixir expression without a frame; returns its text.
    pub fn eval(&mut self, expression: &str) -> String {
        let response = self.dap.request(
            "evaluate",
            json!({"expression": expression, "context": "repl"}),
            TIMEOUT,
        );
        assert_eq!(response["success"], true, "evaluate {expression}: {response}");
        response["body"]["result"].as_str().unwrap().to_owned()
    }
}

/// The files a reload report (a response or a `codeReloaded` event) planned.
pub fn planned_files(message: &Value) -> Vec<String> {
    message["body"]["planned"]
        .as_array()
        .unwrap_or_else(|| panic!("no planned list in {message}"))
        .iter()
        .map(|p| p["file"].as_str().unwrap().to_owned())
        .collect()
}
