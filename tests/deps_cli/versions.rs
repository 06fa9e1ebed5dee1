//! Which Elixir's rules answer (`--elixir-version`, the `elixir` on PATH, an
//! install read without starting it), and the index cache between runs.

use super::*;

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
