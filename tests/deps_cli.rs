//! `elixir-dap deps`: the real binary on `tests/fixtures/deps_graph`, read
//! by the tree-sitter index only (no Mix, no VM), so these tests are fast.
//! Each run names its Elixir (`--elixir-version`), so the answers do not
//! depend on the Elixir installed; without the flag the binary asks
//! `elixir --version`, which the tests answer with a stand-in script.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

#[test]
fn the_elixir_version_picks_the_rules() {
    // (release, server.ex -> worker.ex (`@behaviour`), shapes.ex -> shape.ex (`defimpl`))
    for (version, behaviour, defimpl) in [
        ("1.14", "compile", "compile"),
        ("1.14.5", "compile", "compile"),
        ("1.15.0", "runtime", "compile"),
        ("1.18.3", "runtime", "compile"),
        ("1.19", "runtime", "export"),
        ("1.20.0-rc.1", "runtime", "export"),
    ] {
        let text = ok_in(
            &manifest_dir(),
            &["deps", &fixture_arg(), "--json", "--elixir-version", version],
        );
        let graph: Value = serde_json::from_str(&text).unwrap();
        let major_minor: String = version.split('.').take(2).collect::<Vec<_>>().join(".");
        assert_eq!(graph["elixir_version"], major_minor.as_str(), "{version}");
        assert_eq!(
            json_edge_kind(&graph, "lib/fixture/server.ex", "lib/fixture/worker.ex").as_deref(),
            Some(behaviour),
            "{version}"
        );
        assert_eq!(
            json_edge_kind(&graph, "lib/fixture/shapes.ex", "lib/fixture/shape.ex").as_deref(),
            Some(defimpl),
            "{version}"
        );
    }
    // What a change of the behaviour recompiles follows: on 1.14 its
    // implementers, since 1.15 nothing but itself.
    let affected = |version: &str| -> Value {
        let json = ok_in(
            &fixture(),
            &[
                "deps",
                "--elixir-version",
                version,
                "--affected",
                "lib/fixture/worker.ex",
                "--json",
            ],
        );
        serde_json::from_str(&json).unwrap()
    };
    let paths = |a: &Value| -> Vec<String> {
        a["recompile"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["path"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        paths(&affected("1.14")),
        [
            "lib/fixture/worker.ex",
            "lib/fixture/jobs/cleanup.ex",
            "lib/fixture/server.ex"
        ]
    );
    let on_1_18 = affected("1.18");
    assert_eq!(paths(&on_1_18), ["lib/fixture/worker.ex"]);
    assert_eq!(
        on_1_18["runtime_callers"],
        serde_json::json!(["lib/fixture/jobs/cleanup.ex", "lib/fixture/server.ex"])
    );
}

/// A directory holding a stand-in `elixir` that prints `output` for
/// `elixir --version` and writes the directory it ran in to `pwd`.
fn fake_elixir(output: &str) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("elixir");
    let pwd = dir.path().join("pwd");
    std::fs::write(
        &script,
        format!("#!/bin/sh\npwd > '{}'\ncat <<'EOF'\n{output}\nEOF\n", pwd.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

#[test]
fn without_the_flag_the_rules_are_those_elixir_on_path_reports_in_the_project() {
    let elixir = fake_elixir("Erlang/OTP 28 [erts-16.0] [64-bit]\n\nElixir 1.19.2 (compiled with Erlang/OTP 28)");
    let detected = json_graph_with_elixir_from(elixir.path());
    let explicit = ok_in(
        &manifest_dir(),
        &["deps", &fixture_arg(), "--json", "--elixir-version", "1.19"],
    );
    assert_eq!(detected, explicit);
    let graph: Value = serde_json::from_str(&detected).unwrap();
    assert_eq!(graph["elixir_version"], "1.19");
    // Asked in the project (where asdf and the like pick its Elixir).
    let ran_in = std::fs::read_to_string(elixir.path().join("pwd")).unwrap();
    assert_eq!(Path::new(ran_in.trim()), std::fs::canonicalize(fixture()).unwrap());
}

#[test]
fn without_the_flag_and_without_a_usable_elixir_the_error_names_the_flag() {
    let empty = tempfile::tempdir().unwrap();
    let output = run_with(&manifest_dir(), &["deps", &fixture_arg()], Some(empty.path()));
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(output.stdout.is_empty());
    let message = stderr(&output);
    assert!(
        message.contains("elixir --version") && message.contains("--elixir-version X.Y"),
        "{message}"
    );

    let broken = fake_elixir("this is not Elixir");
    let output = run_with(&manifest_dir(), &["deps", &fixture_arg()], Some(broken.path()));
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("did not report a version") && message.contains("--elixir-version"),
        "{message}"
    );
}

#[test]
fn elixir_versions_are_checked() {
    for bad in ["abc", "1", "1.x", "1.18.3.4"] {
        let output = run_in(&fixture(), &["deps", "--elixir-version", bad]);
        assert_eq!(output.status.code(), Some(2), "{bad}: {}", stderr(&output));
        let message = stderr(&output);
        assert!(
            message.contains("--elixir-version") && message.contains("is not an Elixir version"),
            "{message}"
        );
    }
    // Outside the modelled releases: the nearest one's rules, with a warning.
    for (version, nearest) in [("1.21.0", "1.20"), ("1.13", "1.14")] {
        let output = run_in(&fixture(), &["deps", "--elixir-version", version]);
        assert!(output.status.success(), "{}", stderr(&output));
        let warning = stderr(&output);
        assert!(
            warning.contains("warning:") && warning.contains(&format!("{nearest}'s are used")),
            "{warning}"
        );
    }
}

/// The paths `--affected FILE --json` lists to recompile, run in `project`
/// with `XDG_CACHE_HOME=cache_home`.
fn recompiled_with_cache(project: &Path, file: &str, cache_home: &Path) -> Vec<String> {
    let output = Command::new(env!("CARGO_BIN_EXE_elixir-dap"))
        .args(deps(&["--affected", file, "--json"]))
        .current_dir(project)
        .env("XDG_CACHE_HOME", cache_home)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).is_empty(),
        "no warning expected (the cache is usable): {}",
        stderr(&output)
    );
    let affected: Value = serde_json::from_str(&stdout(&output)).unwrap();
    affected["recompile"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn answers_from_the_index_cache_follow_every_edit_between_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("project");
    copy_fixture(&fixture(), &project);
    let cache_home = tmp.path().join("cache");
    let limits = "lib/fixture/limits.ex";
    let with = |base: &[String], extra: &str| -> Vec<String> {
        let mut all = base.to_vec();
        all.push(extra.to_owned());
        all.sort();
        all
    };
    let mut before = recompiled_with_cache(&project, limits, &cache_home);
    before.sort();
    assert!(before.contains(&limits.to_owned()) && !before.contains(&"lib/fixture/store.ex".to_owned()));
    let cache_dir = cache_home.join("elixir-dap/deps-index");
    let caches: Vec<PathBuf> = std::fs::read_dir(&cache_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(caches.len(), 1, "one cache file for the project: {caches:?}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&caches[0]).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the cache file is the user's alone");
    }
    let sorted = |mut paths: Vec<String>| {
        paths.sort();
        paths
    };

    // Store's module body now calls Limits while compiling. The edits below
    // follow each other within a second: a time stamp could not tell them
    // apart (the index tests check a same-length edit too).
    let store = project.join("lib/fixture/store.ex");
    let original = std::fs::read_to_string(&store).unwrap();
    let compile_time = original.replace(
        "  def all, do: []\n",
        "  @max Fixture.Limits.max()\n  def all, do: [@max]\n",
    );
    assert_ne!(compile_time, original);
    // Writes Store's new text; the answer from the cache must be `expected`
    // and the answer of a run with an empty cache.
    let mut fresh_runs = 0;
    let mut edit_store = |text: &str, expected: Vec<String>| {
        std::fs::write(&store, text).unwrap();
        let cached = sorted(recompiled_with_cache(&project, limits, &cache_home));
        assert_eq!(cached, expected);
        fresh_runs += 1;
        let fresh_home = tmp.path().join(format!("fresh{fresh_runs}"));
        assert_eq!(cached, sorted(recompiled_with_cache(&project, limits, &fresh_home)));
    };
    // Router calls Routes while compiling, and Routes calls Store: a stale
    // Store makes Router stale too.
    edit_store(
        &compile_time,
        with(&with(&before, "lib/fixture/store.ex"), "lib/fixture/router.ex"),
    );
    let runtime_call = compile_time.replace(
        "  @max Fixture.Limits.max()\n  def all, do: [@max]",
        "  def all, do: [Fixture.Limits.max()]",
    );
    assert_ne!(runtime_call, compile_time);
    // Store itself no longer recompiles; Router still does (through
    // Routes' runtime call of Store, which now calls Limits).
    edit_store(&runtime_call, with(&before, "lib/fixture/router.ex"));

    // A new file and a deleted one.
    std::fs::write(
        project.join("lib/fixture/added.ex"),
        "defmodule Fixture.Added do\n  @limit Fixture.Limits.max()\n  def limit, do: @limit\nend\n",
    )
    .unwrap();
    std::fs::remove_file(&store).unwrap();
    let changed = sorted(recompiled_with_cache(&project, limits, &cache_home));
    assert_eq!(changed, with(&before, "lib/fixture/added.ex"));

    // A damaged cache is rebuilt, not believed.
    std::fs::write(&caches[0], b"damaged").unwrap();
    assert_eq!(sorted(recompiled_with_cache(&project, limits, &cache_home)), changed);
    assert_ne!(
        std::fs::read(&caches[0]).unwrap(),
        b"damaged",
        "the damaged cache was not replaced"
    );
}

#[test]
fn an_unusable_cache_root_is_a_warning_and_the_answer_is_whole() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let cache_home = tmp.path().join("shared");
    std::fs::create_dir_all(cache_home.join("elixir-dap")).unwrap();
    // Others may write in it: its content cannot be trusted.
    std::fs::set_permissions(cache_home.join("elixir-dap"), std::fs::Permissions::from_mode(0o777)).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_elixir-dap"))
        .args(deps(&["--affected", "lib/fixture/base.ex", "--json"]))
        .current_dir(fixture())
        .env("XDG_CACHE_HOME", &cache_home)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("warning: the index cache is not used") && message.contains("other users may write"),
        "{message}"
    );
    let with_cache = ok_in(&fixture(), &deps(&["--affected", "lib/fixture/base.ex", "--json"]));
    assert_eq!(stdout(&output), with_cache);
    assert!(!cache_home.join("elixir-dap/deps-index").exists());
}

/// An Elixir install as Debian's and the release archives lay it out:
/// `bin/elixir` (here a script that fails if run) beside
/// `lib/elixir/ebin/elixir.app`, reached through a symlink on PATH.
fn elixir_install(vsn: &str) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let bin = root.path().join("install/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(root.path().join("install/lib/elixir/ebin")).unwrap();
    let ran = root.path().join("ran");
    std::fs::write(
        bin.join("elixir"),
        format!(
            "#!/bin/sh\ntouch '{}'\necho 'Elixir 1.15.0 (compiled with Erlang/OTP 26)'\n",
            ran.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(bin.join("elixir"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        root.path().join("install/lib/elixir/ebin/elixir.app"),
        format!(
            "{{application,elixir,\n  [{{description,\"elixir\"}},\n   {{vsn,\"{vsn}\"}},\n   {{modules,[]}}]}}.\n"
        ),
    )
    .unwrap();
    std::fs::create_dir_all(root.path().join("path")).unwrap();
    std::os::unix::fs::symlink(bin.join("elixir"), root.path().join("path/elixir")).unwrap();
    root
}

/// `deps --json` on the fixture without `--elixir-version`, with the
/// `elixir` in `dir` first on PATH, then the system's (for /bin/sh and cat).
fn json_graph_with_elixir_from(dir: &Path) -> String {
    let path = std::env::join_paths(
        std::iter::once(dir.to_path_buf()).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let output = run_with(
        &manifest_dir(),
        &["deps", &fixture_arg(), "--json"],
        Some(Path::new(&path)),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
}

/// The `elixir_version` of `deps --json` with `install`'s `elixir` first on PATH.
fn detected_version(install: &tempfile::TempDir) -> String {
    let graph: Value = serde_json::from_str(&json_graph_with_elixir_from(&install.path().join("path"))).unwrap();
    graph["elixir_version"].as_str().unwrap().to_owned()
}

#[test]
fn the_version_of_a_plain_elixir_install_is_read_without_starting_it() {
    for (vsn, expected) in [("1.19.4", "1.19"), ("1.17.0-rc.1", "1.17"), ("1.14.0", "1.14")] {
        let install = elixir_install(vsn);
        assert_eq!(detected_version(&install), expected, "{vsn}");
        assert!(!install.path().join("ran").exists(), "{vsn}: `elixir` was run");
    }
    // No version in elixir.app: `elixir --version` decides (the script says 1.15).
    let install = elixir_install("");
    std::fs::write(
        install.path().join("install/lib/elixir/ebin/elixir.app"),
        "{application,elixir,[]}.\n",
    )
    .unwrap();
    assert_eq!(detected_version(&install), "1.15");
    assert!(install.path().join("ran").exists(), "`elixir --version` was not asked");
}
