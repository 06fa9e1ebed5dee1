//! `elixir-dap deps`: the real binary on `tests/fixtures/deps_graph`, read
//! by the tree-sitter index only (no Mix, no VM), so these tests are fast.
//! Each run names its Elixir (`--elixir-version`), so the answers do not
//! depend on the Elixir installed; without the flag the binary asks
//! `elixir --version`, which the tests answer with a stand-in script.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod versions;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture() -> PathBuf {
    manifest_dir().join("tests/fixtures/deps_graph")
}

/// The rules the fixture's expectations are written for, unless a test
/// says otherwise: 1.14's (`@behaviour` and `defimpl` are compile-time).
const RULES: [&str; 2] = ["--elixir-version", "1.14"];

/// `deps` with [`RULES`], then `args`.
fn deps<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["deps", RULES[0], RULES[1]];
    all.extend_from_slice(args);
    all
}

/// Runs `elixir-dap ARGS` in `cwd`.
fn run_in(cwd: &Path, args: &[&str]) -> Output {
    run_with(cwd, args, None)
}

/// Runs `elixir-dap ARGS` in `cwd`, with `PATH` replaced when given.
fn run_with(cwd: &Path, args: &[&str], path: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_elixir-dap"));
    // The index cache of these runs stays out of the user's.
    command
        .args(args)
        .current_dir(cwd)
        .env("XDG_CACHE_HOME", test_cache_home());
    if let Some(path) = path {
        command.env("PATH", path);
    }
    let output = command.output().expect("run elixir-dap");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "elixir-dap {args:?} panicked:\n{stderr}");
    output
}

/// The cache root the runs share (as a user's runs share theirs).
fn test_cache_home() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("deps-cli-cache-home")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs `elixir-dap ARGS` in `cwd`, expects success and returns stdout.
fn ok_in(cwd: &Path, args: &[&str]) -> String {
    let output = run_in(cwd, args);
    assert!(
        output.status.success(),
        "elixir-dap {args:?} failed ({}):\n{}",
        output.status,
        stderr(&output)
    );
    stdout(&output)
}

/// Runs `elixir-dap ARGS` in `cwd`, expects exit code 1, nothing on stdout,
/// and returns stderr.
fn error_in(cwd: &Path, args: &[&str]) -> String {
    let output = run_in(cwd, args);
    assert_eq!(
        output.status.code(),
        Some(1),
        "elixir-dap {args:?}: expected exit code 1, stdout:\n{}\nstderr:\n{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(output.stdout.is_empty(), "elixir-dap {args:?} wrote to stdout on error");
    stderr(&output)
}

fn fixture_arg() -> String {
    fixture().display().to_string()
}

/// The lines under `file`'s header in the text graph (its edges).
fn edges_of(graph: &str, file: &str) -> Vec<String> {
    let mut lines = graph.lines().skip_while(|l| !l.starts_with(&format!("{file}  ")));
    assert!(lines.next().is_some(), "{file} is not in the graph:\n{graph}");
    lines
        .take_while(|l| l.starts_with("├── ") || l.starts_with("└── "))
        .map(|l| l[l.find(' ').unwrap() + 1..].to_string())
        .collect()
}

#[test]
fn text_graph_lists_files_modules_and_edges() {
    let graph = ok_in(&manifest_dir(), &deps(&[&fixture_arg()]));
    assert!(
        graph
            .lines()
            .any(|l| l == "lib/fixture/accounts.ex  Fixture.Accounts 1-23"),
        "{graph}"
    );
    let accounts = edges_of(&graph, "lib/fixture/accounts.ex");
    for edge in [
        "lib/fixture/guards.ex (compile+export) Fixture.Guards",
        "lib/fixture/base.ex (compile+export) Fixture.Base",
        "lib/fixture/repo.ex (runtime) Fixture.Repo",
        "lib/fixture/user.ex (export) Fixture.User, Fixture.User.Address",
    ] {
        assert!(
            accounts.iter().any(|e| e == edge),
            "accounts.ex lacks `{edge}`: {accounts:?}"
        );
    }
    assert_eq!(
        edges_of(&graph, "lib/fixture/router.ex"),
        ["lib/fixture/routes.ex (compile) Fixture.Routes"]
    );
    // A file with no dependencies has a header and no edges.
    assert!(edges_of(&graph, "lib/fixture/store.ex").is_empty());
}

#[test]
fn project_dir_defaults_to_the_current_directory() {
    let explicit = ok_in(&manifest_dir(), &deps(&[&fixture_arg()]));
    let implicit = ok_in(&fixture(), &deps(&[]));
    assert_eq!(explicit, implicit);
    // A relative PROJECT_DIR is relative to the current directory.
    let relative = ok_in(&manifest_dir(), &deps(&["tests/fixtures/deps_graph"]));
    assert_eq!(explicit, relative);
}

#[test]
fn json_graph_has_the_modules_and_edges() {
    let text = ok_in(&manifest_dir(), &deps(&[&fixture_arg(), "--json"]));
    let graph: Value = serde_json::from_str(&text).expect("--json prints JSON");
    let project = std::fs::canonicalize(fixture()).unwrap();
    assert_eq!(graph["project_dir"], project.display().to_string());
    let files = graph["files"].as_array().expect("files is an array");
    let file = |path: &str| {
        files
            .iter()
            .find(|f| f["path"] == path)
            .unwrap_or_else(|| panic!("{path} is not in the graph"))
    };

    let user = file("lib/fixture/user.ex");
    let names: Vec<&str> = user["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Fixture.User", "Fixture.User.Address", "Fixture.User.Query"]);

    let server = file("lib/fixture/server.ex");
    let edge = server["depends_on"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["to"] == "lib/fixture/worker.ex")
        .expect("server.ex depends on worker.ex");
    assert_eq!(edge["from"], "lib/fixture/server.ex");
    assert_eq!(edge["kind"], "compile");
    assert_eq!(edge["modules"], serde_json::json!(["Fixture.Worker"]));

    let guards = file("lib/fixture/accounts.ex")["depends_on"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["to"] == "lib/fixture/guards.ex")
        .expect("accounts.ex depends on guards.ex");
    assert_eq!(guards["kind"], "compile");
    assert_eq!(guards["export"], true);
    assert!(files.iter().all(|f| f["parse_errors"] == serde_json::json!([])));
}

#[test]
fn affected_by_a_macro_module_lists_its_compile_time_dependents() {
    // Fixture.Base defines `__using__` and the `traced` macro: Accounts calls
    // the macro and Jobs.Cleanup `use`s it; Server calls Accounts at runtime.
    let text = ok_in(
        &manifest_dir(),
        &deps(&[&fixture_arg(), "--affected", "lib/fixture/base.ex"]),
    );
    let recompile: Vec<&str> = text
        .lines()
        .skip_while(|l| *l != "recompile:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(str::trim)
        .collect();
    assert_eq!(
        recompile,
        [
            "lib/fixture/base.ex  (changed)",
            "lib/fixture/accounts.ex  (compile-time dependency on Fixture.Base (lib/fixture/base.ex))",
            "lib/fixture/jobs/cleanup.ex  (compile-time dependency on Fixture.Base (lib/fixture/base.ex))",
        ],
        "{text}"
    );
    let callers: Vec<&str> = text
        .lines()
        .skip_while(|l| *l != "runtime callers:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(str::trim)
        .collect();
    assert_eq!(callers, ["lib/fixture/server.ex"], "{text}");

    // The same in JSON, for a defguard module.
    let json = ok_in(
        &manifest_dir(),
        &deps(&[&fixture_arg(), "--affected", "lib/fixture/guards.ex", "--json"]),
    );
    let affected: Value = serde_json::from_str(&json).expect("--affected --json prints JSON");
    assert_eq!(
        affected["recompile"],
        serde_json::json!([
            {"path": "lib/fixture/guards.ex", "reason": "changed"},
            {"path": "lib/fixture/accounts.ex", "reason": "compile",
             "module": "Fixture.Guards", "via": "lib/fixture/guards.ex"},
        ])
    );
    assert_eq!(
        affected["runtime_callers"],
        serde_json::json!(["lib/fixture/server.ex"])
    );
    assert_eq!(affected["unknown"], serde_json::json!([]));
}

#[test]
fn affected_follows_compile_connected_runtime_references() {
    // Router calls Routes at compile time and Routes calls Store at runtime:
    // Mix recompiles Router when Store changes. On 1.14 `@behaviour
    // Fixture.Worker` (Server's, and Cleanup's through Base's `__using__`)
    // is compile-time: both recompile when Worker changes.
    let json = ok_in(
        &fixture(),
        &deps(&["--affected", "lib/fixture/store.ex", "lib/fixture/worker.ex", "--json"]),
    );
    let affected: Value = serde_json::from_str(&json).unwrap();
    let mut paths: Vec<&str> = affected["recompile"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    // The changed files come first, in the order given; then their dependents.
    assert_eq!(paths[..2], ["lib/fixture/store.ex", "lib/fixture/worker.ex"]);
    paths[2..].sort_unstable();
    assert_eq!(
        paths[2..],
        [
            "lib/fixture/jobs/cleanup.ex",
            "lib/fixture/router.ex",
            "lib/fixture/server.ex"
        ]
    );
    assert_eq!(
        affected["runtime_callers"],
        serde_json::json!([
            "lib/fixture/accounts.ex",
            "lib/fixture/repo.ex",
            "lib/fixture/routes.ex"
        ])
    );
}

#[test]
fn affected_files_may_be_relative_to_the_current_dir_or_the_project_or_absolute() {
    let expected = ok_in(&fixture(), &deps(&["--affected", "lib/fixture/worker.ex"]));
    let elsewhere = tempfile::tempdir().unwrap();
    for (cwd, file) in [
        (
            manifest_dir(),
            "tests/fixtures/deps_graph/lib/fixture/worker.ex".to_string(),
        ),
        (elsewhere.path().to_path_buf(), "lib/fixture/worker.ex".to_string()),
        (
            elsewhere.path().to_path_buf(),
            fixture().join("lib/fixture/./worker.ex").display().to_string(),
        ),
        (fixture(), "lib/fixture/../fixture/worker.ex".to_string()),
    ] {
        let text = ok_in(&cwd, &deps(&[&fixture_arg(), "--affected", &file]));
        assert_eq!(text, expected, "--affected {file} in {}", cwd.display());
    }
}

#[test]
fn bad_project_dirs_are_errors() {
    let missing = error_in(&manifest_dir(), &deps(&["tests/fixtures/no_such_project"]));
    assert!(missing.contains("no_such_project does not exist"), "{missing}");

    let not_mix = error_in(&manifest_dir(), &deps(&["tests/fixtures"]));
    assert!(not_mix.contains("is not a Mix project: it has no mix.exs"), "{not_mix}");

    let empty = tempfile::tempdir().unwrap();
    let default = error_in(empty.path(), &deps(&[]));
    assert!(default.contains("no mix.exs"), "{default}");

    let file = error_in(&manifest_dir(), &deps(&["Cargo.toml"]));
    assert!(file.contains("Cargo.toml is not a directory"), "{file}");
}

#[test]
fn bad_affected_files_are_errors() {
    let missing = error_in(&fixture(), &deps(&["--affected", "lib/fixture/nope.ex"]));
    assert!(missing.contains("lib/fixture/nope.ex does not exist"), "{missing}");

    // One bad file among good ones fails the whole command.
    let mixed = error_in(
        &fixture(),
        &deps(&["--affected", "lib/fixture/base.ex", "lib/fixture/nope.ex"]),
    );
    assert!(mixed.contains("nope.ex does not exist"), "{mixed}");

    let outside = error_in(&fixture(), &deps(&["--affected", "../plain/lib/plain.ex"]));
    assert!(outside.contains("is outside the project"), "{outside}");
    let outside = error_in(&manifest_dir(), &deps(&[&fixture_arg(), "--affected", "Cargo.toml"]));
    assert!(outside.contains("Cargo.toml is outside the project"), "{outside}");

    let dir = error_in(&fixture(), &deps(&["--affected", "lib"]));
    assert!(dir.contains("lib is a directory"), "{dir}");

    // No FILE at all is a usage error.
    let usage = run_in(&fixture(), &deps(&["--affected"]));
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn files_outside_the_source_roots_are_reported_as_not_indexed() {
    let output = run_in(&fixture(), &deps(&["--affected", "mix.exs"]));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("not indexed: mix.exs"), "{}", stdout(&output));
    let warning = stderr(&output);
    // The fixture was never compiled: no manifest says what declares it.
    assert!(
        warning.contains("warning: mix.exs is not indexed")
            && warning.contains("never compiled in the dev environment")
            && !warning.contains("fall back to Mix"),
        "{warning}"
    );
}

/// Copies a fixture (without its build) into `to`.
fn copy_fixture(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "_build" || name == "deps" {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_fixture(&entry.path(), &to.join(&name));
        } else {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}

/// `mix compile` in `dir` (Mix's own state kept in `home`).
fn mix_compile(dir: &Path, home: &Path) {
    let output = Command::new("mix")
        .arg("compile")
        .current_dir(dir)
        .env("MIX_ENV", "dev")
        .env("MIX_HOME", home)
        .output()
        .expect("mix is on PATH (the deps CLI tests compile a fixture)");
    assert!(
        output.status.success(),
        "mix compile in {}: {}\n{}",
        dir.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A template a module declares with `@external_resource` (as Phoenix's
/// `embed_templates` does): `--affected` lists the declaring module and its
/// dependents, from Mix's manifest; before a compile it says there is none.
#[test]
fn an_external_resource_affects_the_modules_that_declare_it() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("app_reloader");
    copy_fixture(&manifest_dir().join("tests/fixtures/app_reloader"), &project);
    let template = "lib/app_reloader/hello.txt.eex";
    let args = deps(&["--affected", template]);

    // Never compiled: no manifest, said so, and nothing claimed.
    let output = run_in(&project, &args);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains(&format!("not indexed: {template}")),
        "{}",
        stdout(&output)
    );
    let warning = stderr(&output);
    assert!(
        warning.contains("_build/dev/lib/app_reloader/.mix/compile.elixir) does not exist")
            && warning.contains("never compiled in the dev environment")
            && !warning.contains("fall back to Mix"),
        "{warning}"
    );

    mix_compile(&project, &tmp.path().join("mix_home"));
    let text = ok_in(&project, &args);
    assert!(
        text.starts_with(&format!(
            "external resources:\n  {template}  declared by lib/app_reloader/template.ex (AppReloader.Template)\nrecompile:\n  lib/app_reloader/template.ex  (declares the external resource {template})\n"
        )),
        "{text}"
    );
    assert!(text.contains("modules:\n  AppReloader.Template 1-11\n"), "{text}");
    assert!(!text.contains("not indexed"), "{text}");

    let json: Value = serde_json::from_str(&ok_in(&project, &deps(&["--affected", template, "--json"]))).unwrap();
    assert_eq!(json["recompile"][0]["path"], "lib/app_reloader/template.ex");
    assert_eq!(json["recompile"][0]["reason"], "external");
    assert_eq!(json["recompile"][0]["resources"][0], template);
    assert_eq!(json["external_resources"][0]["modules"][0], "AppReloader.Template");
    assert_eq!(json["unknown"], serde_json::json!([]));

    // Another environment's build does not exist: --mix-env, or MIX_ENV.
    for (flag, env) in [(true, None), (false, Some("test"))] {
        let mut args = deps(&["--affected", template]);
        if flag {
            args.extend(["--mix-env", "test"]);
        }
        let mut command = Command::new(env!("CARGO_BIN_EXE_elixir-dap"));
        command.args(&args).current_dir(&project);
        if let Some(env) = env {
            command.env("MIX_ENV", env);
        }
        let output = command.output().unwrap();
        assert!(output.status.success());
        let warning = stderr(&output);
        assert!(
            warning.contains("_build/test/lib/app_reloader/.mix/compile.elixir) does not exist")
                && warning.contains("never compiled in the test environment"),
            "{warning}"
        );
    }

    // A file nothing declares, in a compiled project.
    std::fs::write(project.join("lib/app_reloader/other.txt"), "x").unwrap();
    let output = run_in(&project, &deps(&["--affected", "lib/app_reloader/other.txt"]));
    assert!(output.status.success());
    assert!(
        stderr(&output).contains("no module declares it with @external_resource"),
        "{}",
        stderr(&output)
    );
}

/// In an umbrella, each app's manifest (in the shared `_build`) names its
/// resources relative to the app; `--affected` takes them relative to the
/// umbrella, and lists compile-time dependents of the declaring module.
#[test]
fn external_resources_of_umbrella_apps() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("umbrella");
    copy_fixture(&manifest_dir().join("tests/fixtures/umbrella"), &project);
    let web = project.join("apps/web/lib/web");
    std::fs::write(web.join("page.txt"), "hello\n").unwrap();
    std::fs::write(
        web.join("page.ex"),
        "defmodule Web.Page do\n  @external_resource \"lib/web/page.txt\"\n  @text File.read!(\"lib/web/page.txt\")\n  def text, do: @text\nend\n",
    )
    .unwrap();
    std::fs::write(
        web.join("layout.ex"),
        "defmodule Web.Layout do\n  @page Web.Page.text()\n  def page, do: @page\nend\n",
    )
    .unwrap();
    mix_compile(&project, &tmp.path().join("mix_home"));
    let text = ok_in(&project, &deps(&["--affected", "apps/web/lib/web/page.txt"]));
    assert!(
        text.contains(
            "recompile:\n  apps/web/lib/web/page.ex  (declares the external resource apps/web/lib/web/page.txt)\n  apps/web/lib/web/layout.ex  (compile-time dependency on Web.Page (apps/web/lib/web/page.ex))\n"
        ),
        "{text}"
    );
}

#[test]
fn parse_errors_are_warnings_that_mention_the_mix_fallback() {
    let project = tempfile::tempdir().unwrap();
    std::fs::write(
        project.path().join("mix.exs"),
        "defmodule Broken.MixProject do\n  use Mix.Project\n  def project, do: [app: :broken, version: \"0.1.0\"]\nend\n",
    )
    .unwrap();
    std::fs::create_dir_all(project.path().join("lib")).unwrap();
    std::fs::write(
        project.path().join("lib/good.ex"),
        "defmodule Good do\n  def hi, do: Broken.oops()\nend\n",
    )
    .unwrap();
    std::fs::write(
        project.path().join("lib/broken.ex"),
        "defmodule Broken do\n  def oops( do\n    :ok\nend\n",
    )
    .unwrap();

    let graph = run_in(project.path(), &deps(&[]));
    assert!(graph.status.success(), "{}", stderr(&graph));
    assert!(stdout(&graph).contains("lib/good.ex  Good"), "{}", stdout(&graph));
    let warning = stderr(&graph);
    assert!(
        warning.contains("warning: lib/broken.ex:") && warning.contains("a reload would fall back to Mix"),
        "{warning}"
    );

    let affected = run_in(project.path(), &deps(&["--affected", "lib/broken.ex", "--json"]));
    assert!(affected.status.success(), "{}", stderr(&affected));
    let json: Value = serde_json::from_str(&stdout(&affected)).unwrap();
    assert_eq!(json["parse_errors"][0]["path"], "lib/broken.ex");
    assert!(stderr(&affected).contains("fall back to Mix"), "{}", stderr(&affected));
}

#[test]
fn dap_options_are_unchanged_and_do_not_mix_with_deps() {
    let version = ok_in(&manifest_dir(), &["--version"]);
    assert_eq!(version.trim(), format!("elixir-dap {}", env!("CARGO_PKG_VERSION")));
    let help = ok_in(&manifest_dir(), &["--help"]);
    for word in ["--port", "--log-file", "--log-level", "deps"] {
        assert!(help.contains(word), "--help lacks {word}:\n{help}");
    }
    let conflict = run_in(&fixture(), &["--port", "4711", "deps"]);
    assert_eq!(conflict.status.code(), Some(2), "{}", stderr(&conflict));
    assert!(stderr(&conflict).contains("--port"), "{}", stderr(&conflict));
}

/// The kind of the edge `from -> to` in a `--json` graph, `None` without one.
fn json_edge_kind(graph: &Value, from: &str, to: &str) -> Option<String> {
    graph["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["path"] == from)
        .flat_map(|f| f["depends_on"].as_array().unwrap())
        .find(|e| e["to"] == to)
        .map(|e| e["kind"].as_str().unwrap().to_string())
}
