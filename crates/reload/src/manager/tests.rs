//! The planner's unit tests.

use super::*;

/// The planner's tests hold on every release's rules (they use no
/// construct whose kind changed); the rules are the index's tests.
const ELIXIR: ElixirVersion = ElixirVersion::new(1, 14);

fn layout(dir: &Path) -> MixLayout {
    MixLayout::read(dir, DEFAULT_MIX_ENV)
}

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let write = |rel: &str, text: &str| {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("mix.exs", "defmodule App.MixProject do\nend\n");
    write("config/config.exs", "import Config\n");
    write(
        "lib/macros.ex",
        "defmodule App.Macros do\n  defmacro twice(x), do: quote(do: unquote(x) * 2)\nend\n",
    );
    write(
        "lib/user.ex",
        "defmodule App.User do\n  require App.Macros\n  def f(x), do: App.Macros.twice(x)\nend\n",
    );
    write(
        "lib/caller.ex",
        "defmodule App.Caller do\n  def g, do: App.User.f(1)\nend\n",
    );
    dir
}

/// Makes every source of [`project`] an hour old.
fn age_sources(dir: &tempfile::TempDir) {
    let hour_ago = SystemTime::now() - Duration::from_secs(3600);
    for file in [
        "mix.exs",
        "config/config.exs",
        "lib/macros.ex",
        "lib/user.ex",
        "lib/caller.ex",
    ] {
        let handle = std::fs::File::options()
            .write(true)
            .open(dir.path().join(file))
            .unwrap();
        handle.set_modified(hour_ago).unwrap();
    }
}

fn files(plan: &Plan) -> Vec<(String, String)> {
    plan.compile
        .iter()
        .map(|c| (c.file.display().to_string(), c.reason.clone()))
        .collect()
}

#[test]
fn nothing_changed_means_an_empty_plan() {
    let dir = project();
    let mut manager = ReloadManager::new(dir.path(), ELIXIR).unwrap();
    let plan = manager.plan(&PlanRequest::default());
    assert!(plan.is_empty(), "{plan:?}");
    assert_eq!(plan.unchanged.len(), 5);
}

#[test]
fn a_changed_file_is_compiled_and_its_runtime_callers_are_not() {
    let dir = project();
    let mut manager = ReloadManager::new(dir.path(), ELIXIR).unwrap();
    std::fs::write(
        dir.path().join("lib/user.ex"),
        "defmodule App.User do\n  require App.Macros\n  def f(x), do: App.Macros.twice(x) + 1\nend\n",
    )
    .unwrap();
    let plan = manager.plan(&PlanRequest::default());
    assert_eq!(files(&plan), vec![("lib/user.ex".to_owned(), "changed".to_owned())]);
    assert_eq!(plan.changed.len(), 1);
    assert!(plan.expected_modules.contains("App.User"));
}

#[test]
fn a_macro_change_recompiles_its_compile_time_dependents() {
    let dir = project();
    let mut manager = ReloadManager::new(dir.path(), ELIXIR).unwrap();
    std::fs::write(
        dir.path().join("lib/macros.ex"),
        "defmodule App.Macros do\n  defmacro twice(x), do: quote(do: unquote(x) * 3)\nend\n",
    )
    .unwrap();
    let plan = manager.plan(&PlanRequest {
        files: Some(vec![dir.path().join("lib/macros.ex")]),
        modules: vec![],
    });
    let planned = files(&plan);
    assert!(
        planned.contains(&("lib/macros.ex".to_owned(), "changed".to_owned())),
        "{planned:?}"
    );
    assert!(planned.iter().any(|(f, _)| f == "lib/user.ex"), "{planned:?}");
    assert!(!planned.iter().any(|(f, _)| f == "lib/caller.ex"), "{planned:?}");
    // The macro's new version must be loaded before its users compile.
    assert_eq!(
        plan.waves,
        vec![vec![PathBuf::from("lib/macros.ex")], vec![PathBuf::from("lib/user.ex")]]
    );
}

#[test]
fn the_same_content_saved_again_is_unchanged_and_commit_makes_it_so() {
    let dir = project();
    let mut manager = ReloadManager::new(dir.path(), ELIXIR).unwrap();
    let path = dir.path().join("lib/caller.ex");
    std::fs::write(&path, "defmodule App.Caller do\n  def g, do: App.User.f(2)\nend\n").unwrap();
    let request = PlanRequest {
        files: Some(vec![path.clone()]),
        modules: vec![],
    };
    let plan = manager.plan(&request);
    assert_eq!(plan.changed.len(), 1);
    manager.commit(&plan);
    let again = manager.plan(&request);
    assert!(again.is_empty());
    assert_eq!(again.unchanged, vec![PathBuf::from("lib/caller.ex")]);
}

/// The compiled text is kept compressed; what a plan and `compiled_text`
/// give back is that text byte for byte: multi-byte characters, an empty
/// file, a large repetitive one, before and after a commit.
#[test]
fn the_compiled_text_comes_back_as_it_was_compiled() {
    let dir = project();
    let path = dir.path().join("lib/caller.ex");
    let texts = [
        "defmodule App.Caller do\n  # é, 漢字, 🐛 and a tab\t\n  def g, do: \"ünïcödé\"\nend\n".to_owned(),
        String::new(),
        format!("defmodule App.Caller do\n{}end\n", "  def g, do: :ok\n".repeat(5_000)),
        "defmodule App.Caller do\nend\n".to_owned(),
    ];
    std::fs::write(&path, &texts[0]).unwrap();
    let mut manager = ReloadManager::new(dir.path(), ELIXIR).unwrap();
    let relative = Path::new("lib/caller.ex");
    assert_eq!(manager.compiled_text(relative).as_deref(), Some(texts[0].as_str()));
    for pair in texts.windows(2) {
        std::fs::write(&path, &pair[1]).unwrap();
        let plan = manager.plan(&PlanRequest {
            files: Some(vec![path.clone()]),
            modules: vec![],
        });
        assert_eq!(plan.changed.len(), 1, "{plan:?}");
        assert_eq!(&*plan.changed[0].old, pair[0].as_str());
        assert_eq!(&*plan.changed[0].new, pair[1].as_str());
        manager.commit(&plan);
        assert_eq!(manager.compiled_text(relative).as_deref(), Some(pair[1].as_str()));
    }
}

#[test]
fn an_aborted_plan_is_planned_again() {
    let dir = project();
    let mut manager = ReloadManager::new(dir.path(), ELIXIR).unwrap();
    std::fs::write(dir.path().join("lib/caller.ex"), "defmodule App.Caller do\nend\n").unwrap();
    let plan = manager.plan(&PlanRequest::default());
    manager.abort(&plan);
    let again = manager.plan(&PlanRequest::default());
    assert_eq!(files(&again), files(&plan));
}

#[test]
fn new_and_deleted_files() {
    let dir = project();
    let mut manager = ReloadManager::new(dir.path(), ELIXIR).unwrap();
    std::fs::write(dir.path().join("lib/extra.ex"), "defmodule App.Extra do\nend\n").unwrap();
    std::fs::remove_file(dir.path().join("lib/caller.ex")).unwrap();
    let plan = manager.plan(&PlanRequest::default());
    assert_eq!(files(&plan), vec![("lib/extra.ex".to_owned(), "new".to_owned())]);
    assert_eq!(
        plan.deleted,
        vec![(PathBuf::from("lib/caller.ex"), vec!["App.Caller".to_owned()])]
    );
}

#[test]
fn mix_exs_and_config_changes_require_a_restart_and_nothing_else_is_planned() {
    let dir = project();
    let mut manager = ReloadManager::new(dir.path(), ELIXIR).unwrap();
    std::fs::write(dir.path().join("mix.exs"), "defmodule App.MixProject do\n  # x\nend\n").unwrap();
    std::fs::write(dir.path().join("lib/caller.ex"), "defmodule App.Caller do\nend\n").unwrap();
    let plan = manager.plan(&PlanRequest::default());
    assert_eq!(plan.restart_required.len(), 1, "{plan:?}");
    assert_eq!(plan.restart_required[0].0, PathBuf::from("mix.exs"));
    assert!(plan.compile.is_empty());
}

#[test]
fn a_nif_module_requires_a_restart() {
    let dir = project();
    let mut manager = ReloadManager::new(dir.path(), ELIXIR).unwrap();
    std::fs::write(
        dir.path().join("lib/caller.ex"),
        "defmodule App.Caller do\n  @on_load :init\n  def init, do: :erlang.load_nif('x', 0)\nend\n",
    )
    .unwrap();
    let plan = manager.plan(&PlanRequest::default());
    assert_eq!(plan.restart_required.len(), 1);
}

#[test]
fn forced_modules_are_compiled_unchanged_and_unknown_ones_reported() {
    let dir = project();
    let mut manager = ReloadManager::new(dir.path(), ELIXIR).unwrap();
    let plan = manager.plan(&PlanRequest {
        files: Some(vec![]),
        modules: vec!["App.Caller".into(), "App.Nope".into()],
    });
    assert_eq!(files(&plan), vec![("lib/caller.ex".to_owned(), "forced".to_owned())]);
    assert_eq!(plan.unknown_modules, vec!["App.Nope".to_owned()]);
}

#[test]
fn files_outside_the_roots_are_ignored_with_a_reason() {
    let dir = project();
    let mut manager = ReloadManager::new(dir.path(), ELIXIR).unwrap();
    std::fs::create_dir_all(dir.path().join("test")).unwrap();
    std::fs::write(dir.path().join("test/a_test.exs"), "x").unwrap();
    let plan = manager.plan(&PlanRequest {
        files: Some(vec![dir.path().join("test/a_test.exs")]),
        modules: vec![],
    });
    assert_eq!(plan.ignored.len(), 1);
    assert!(plan.is_empty());
}

/// Mix compiles every `.ex` file under a source root, whatever its
/// directories are called: `lib/deps/` is the project's own code, the
/// project's `deps/` a dependency.
#[test]
fn sources_under_lib_deps_are_compiled_and_the_projects_deps_need_a_restart() {
    let dir = project();
    let mut manager = ReloadManager::new(dir.path(), ELIXIR).unwrap();
    for (file, module) in [
        ("lib/deps/vendored.ex", "App.Vendored"),
        ("lib/node_modules/n.ex", "App.N"),
        ("deps/jason/lib/jason.ex", "Jason"),
    ] {
        let path = dir.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, format!("defmodule {module} do\nend\n")).unwrap();
    }
    let plan = manager.plan(&PlanRequest::default());
    assert_eq!(
        files(&plan),
        vec![
            ("lib/deps/vendored.ex".to_owned(), "new".to_owned()),
            ("lib/node_modules/n.ex".to_owned(), "new".to_owned()),
        ]
    );
    let plan = manager.plan(&PlanRequest {
        files: Some(vec![dir.path().join("deps/jason/lib/jason.ex")]),
        modules: vec![],
    });
    assert_eq!(plan.restart_required.len(), 1, "{plan:?}");
    assert!(plan.compile.is_empty(), "{plan:?}");
}

/// Lets filesystem timestamps (coarse: a clock tick) pass `now`, for
/// managers that trust metadata as soon as it is older than now.
fn tick() {
    std::thread::sleep(Duration::from_millis(30));
}

const CALLER: &str = "lib/caller.ex";

fn write(dir: &tempfile::TempDir, text: &str) {
    std::fs::write(dir.path().join(CALLER), text).unwrap();
}

fn caller(n: u32) -> String {
    format!("defmodule App.Caller do\n  def g, do: App.User.f({n})\nend\n")
}

fn caller_stamp(manager: &ReloadManager) -> Option<Stamp> {
    manager.sources[Path::new(CALLER)].stamp
}

#[test]
fn an_in_place_rewrite_with_identical_content_is_unchanged() {
    let dir = project();
    let mut manager = ReloadManager::new(dir.path(), ELIXIR).unwrap();
    let text = std::fs::read_to_string(dir.path().join(CALLER)).unwrap();
    write(&dir, &text);
    let plan = manager.plan(&PlanRequest::default());
    assert!(plan.is_empty(), "{plan:?}");
    assert!(plan.unchanged.contains(&PathBuf::from(CALLER)));

    // Metadata trusted at once: touched, the file is read, found
    // unchanged, and its new metadata remembered.
    let dir = project();
    tick();
    let mut manager = ReloadManager::with_racy_margin(&layout(dir.path()), ELIXIR, Duration::ZERO, None, None).unwrap();
    let before = caller_stamp(&manager);
    assert!(before.is_some());
    tick();
    let text = std::fs::read_to_string(dir.path().join(CALLER)).unwrap();
    write(&dir, &text);
    tick();
    let plan = manager.plan(&PlanRequest::default());
    assert!(plan.is_empty(), "{plan:?}");
    let after = caller_stamp(&manager);
    assert!(after.is_some() && after != before, "{before:?} {after:?}");
}

#[test]
fn a_same_size_edit_within_the_same_second_is_detected() {
    let dir = project();
    // Written just before the manager read it, and again right after:
    // same size, the same second (and likely the same clock tick).
    let mut manager = ReloadManager::new(dir.path(), ELIXIR).unwrap();
    write(&dir, &caller(3));
    let plan = manager.plan(&PlanRequest::default());
    assert_eq!(files(&plan), vec![(CALLER.to_owned(), "changed".to_owned())]);
    manager.commit(&plan);
    // Committed, then edited again at once, same length.
    write(&dir, &caller(4));
    let plan = manager.plan(&PlanRequest::default());
    assert_eq!(files(&plan), vec![(CALLER.to_owned(), "changed".to_owned())]);
    assert_eq!(&*plan.changed[0].new, caller(4));
    manager.commit(&plan);
    let plan = manager.plan(&PlanRequest::default());
    assert!(plan.is_empty(), "{plan:?}");
}

#[test]
fn identical_metadata_skips_the_read_and_other_metadata_compares_content() {
    let dir = project();
    tick();
    let mut manager = ReloadManager::with_racy_margin(&layout(dir.path()), ELIXIR, Duration::ZERO, None, None).unwrap();
    // Pretend the VM compiled other bytes: as long as the metadata are
    // the remembered ones, the file is not read, so it is unchanged...
    manager.sources.get_mut(Path::new(CALLER)).unwrap().digest = [0; 32];
    let plan = manager.plan(&PlanRequest::default());
    assert!(plan.is_empty(), "{plan:?}");
    // ...named by the request too...
    let one = PlanRequest {
        files: Some(vec![dir.path().join(CALLER)]),
        modules: vec![],
    };
    assert!(manager.plan(&one).is_empty());
    // ...and once touched (same bytes), it is read and compared.
    let text = std::fs::read_to_string(dir.path().join(CALLER)).unwrap();
    write(&dir, &text);
    let plan = manager.plan(&PlanRequest::default());
    assert_eq!(files(&plan), vec![(CALLER.to_owned(), "changed".to_owned())]);
}

#[cfg(unix)]
#[test]
fn a_rewrite_with_its_modification_time_restored_is_detected() {
    let dir = project();
    tick();
    let mut manager = ReloadManager::with_racy_margin(&layout(dir.path()), ELIXIR, Duration::ZERO, None, None).unwrap();
    let path = dir.path().join(CALLER);
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    tick();
    write(&dir, &caller(2).replace("f(2)", "f(7)"));
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), modified);
    tick();
    let plan = manager.plan(&PlanRequest::default());
    assert_eq!(files(&plan), vec![(CALLER.to_owned(), "changed".to_owned())]);
}

#[test]
fn a_committed_change_is_trusted_by_its_metadata_and_racy_ones_are_not() {
    let dir = project();
    tick();
    let mut manager = ReloadManager::with_racy_margin(&layout(dir.path()), ELIXIR, Duration::ZERO, None, None).unwrap();
    write(&dir, &caller(5));
    tick();
    let plan = manager.plan(&PlanRequest::default());
    manager.commit(&plan);
    assert!(caller_stamp(&manager).is_some(), "metadata taken before the read");
    // With the real margin, a file written just now is not trusted.
    let mut manager = ReloadManager::new(dir.path(), ELIXIR).unwrap();
    assert_eq!(caller_stamp(&manager), None);
    write(&dir, &caller(6));
    let plan = manager.plan(&PlanRequest::default());
    manager.commit(&plan);
    assert_eq!(caller_stamp(&manager), None);
}

#[test]
fn new_files_are_found_in_remembered_directories() {
    let dir = project();
    std::fs::create_dir_all(dir.path().join("lib/sub")).unwrap();
    tick();
    let mut manager = ReloadManager::with_racy_margin(&layout(dir.path()), ELIXIR, Duration::ZERO, None, None).unwrap();
    assert!(manager.plan(&PlanRequest::default()).is_empty());
    assert!(
        manager.listings.contains_key(Path::new("lib/sub")),
        "listings remembered"
    );
    let new_file = |rel: &str, module: &str| {
        std::fs::write(dir.path().join(rel), format!("defmodule {module} do\nend\n")).unwrap();
        tick();
    };
    let plan_and_commit = |manager: &mut ReloadManager| {
        let plan = manager.plan(&PlanRequest::default());
        manager.commit(&plan);
        files(&plan)
    };
    new_file("lib/extra.ex", "App.Extra");
    assert_eq!(
        plan_and_commit(&mut manager),
        vec![("lib/extra.ex".to_owned(), "new".to_owned())]
    );
    // In a remembered subdirectory, its parent unchanged.
    new_file("lib/sub/deep.ex", "App.Deep");
    assert_eq!(
        plan_and_commit(&mut manager),
        vec![("lib/sub/deep.ex".to_owned(), "new".to_owned())]
    );
    // In a new subdirectory.
    std::fs::create_dir_all(dir.path().join("lib/sub/new")).unwrap();
    new_file("lib/sub/new/x.ex", "App.X");
    assert_eq!(
        plan_and_commit(&mut manager),
        vec![("lib/sub/new/x.ex".to_owned(), "new".to_owned())]
    );
    // Renamed.
    std::fs::rename(dir.path().join("lib/sub/deep.ex"), dir.path().join("lib/sub/deeper.ex")).unwrap();
    tick();
    let plan = manager.plan(&PlanRequest::default());
    assert_eq!(files(&plan), vec![("lib/sub/deeper.ex".to_owned(), "new".to_owned())]);
    assert_eq!(
        plan.deleted,
        vec![(PathBuf::from("lib/sub/deep.ex"), vec!["App.Deep".to_owned()])]
    );
    manager.commit(&plan);
    assert!(manager.plan(&PlanRequest::default()).is_empty());
}

#[test]
fn a_file_edited_since_the_compile_started_is_planned() {
    let dir = project();
    age_sources(&dir);
    let before_edit = SystemTime::now() - Duration::from_secs(60);
    // Saved while the project compiled: the VM runs the older version.
    std::fs::write(
        dir.path().join("lib/caller.ex"),
        "defmodule App.Caller do\n  def g, do: 2\nend\n",
    )
    .unwrap();
    let mut manager = ReloadManager::compiled_since(dir.path(), ELIXIR, before_edit).unwrap();
    let plan = manager.plan(&PlanRequest::default());
    let planned: Vec<PathBuf> = plan.compile.iter().map(|c| c.file.clone()).collect();
    assert_eq!(planned, vec![PathBuf::from("lib/caller.ex")], "{plan:?}");
    let mut fresh =
        ReloadManager::compiled_since(dir.path(), ELIXIR, SystemTime::now() + Duration::from_secs(60)).unwrap();
    assert!(fresh.plan(&PlanRequest::default()).is_empty());
}

#[test]
fn a_session_index_from_the_facts_cache_plans_as_a_fresh_one() {
    let dir = project();
    let cache = tempfile::tempdir().unwrap();
    // Every source older than the compile: nothing to reload but what
    // the request forces.
    age_sources(&dir);
    let compile_started = SystemTime::now() - Duration::from_secs(60);
    let first =
        ReloadManager::compiled_since_cached(&layout(dir.path()), ELIXIR, compile_started, cache.path()).unwrap();
    let used = first.index_cache_use().unwrap();
    assert_eq!((used.reused, used.parsed, used.write_error.as_deref()), (0, 3, None));
    // The next session reuses every file's facts...
    let second =
        ReloadManager::compiled_since_cached(&layout(dir.path()), ELIXIR, compile_started, cache.path()).unwrap();
    assert_eq!(second.index_cache_use().map(|u| (u.reused, u.parsed)), Some((3, 0)));
    // ...and a macro edited between sessions is parsed again: its new
    // compile-time dependent shows in the plan exactly as without the cache.
    std::fs::write(
        dir.path().join("lib/macros.ex"),
        "defmodule App.Macros do\n  defmacro twice(x), do: quote(do: unquote(x) * 2)\n  def helper, do: App.Caller.g()\nend\n",
    )
    .unwrap();
    age_sources(&dir);
    let mut cached =
        ReloadManager::compiled_since_cached(&layout(dir.path()), ELIXIR, compile_started, cache.path()).unwrap();
    assert_eq!(cached.index_cache_use().map(|u| (u.reused, u.parsed)), Some((2, 1)));
    let mut fresh = ReloadManager::compiled_since(dir.path(), ELIXIR, compile_started).unwrap();
    assert!(fresh.index_cache_use().is_none());
    let request = PlanRequest {
        modules: vec!["App.Caller".to_owned()],
        ..PlanRequest::default()
    };
    let (a, b) = (cached.plan(&request), fresh.plan(&request));
    assert_eq!(files(&a), files(&b));
    assert!(
        files(&a).iter().any(|(f, _)| f == "lib/user.ex"),
        "User requires Macros, which now calls Caller: {a:?}"
    );
    assert!(files(&a).iter().any(|(f, _)| f == "lib/caller.ex"), "{a:?}");
}
