use super::*;
use std::fs;

fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    dir
}

fn paths(list: &[&str]) -> Vec<PathBuf> {
    list.iter().map(PathBuf::from).collect()
}

const PLAIN_MIX: &str = "defmodule Shop.MixProject do\n  def project, do: [app: :shop, version: \"1.0.0\"]\nend\n";

#[test]
fn a_plain_project_compiles_lib() {
    let dir = project(&[
        ("mix.exs", PLAIN_MIX),
        ("lib/shop.ex", ""),
        ("test/support/case.ex", ""),
    ]);
    let layout = MixLayout::read(dir.path(), DEFAULT_MIX_ENV);
    assert!(!layout.is_umbrella());
    assert_eq!(layout.apps().len(), 1);
    assert_eq!(layout.apps()[0].name, "shop");
    assert_eq!(layout.apps()[0].dir, PathBuf::new());
    assert_eq!(layout.source_roots(), paths(&["lib"]));
    // A root is declared whether or not it exists yet.
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(MixLayout::read(empty.path(), "dev").source_roots(), paths(&["lib"]));
}

/// The index took `apps/*/lib` of apps with a `mix.exs`, and `lib` only
/// without apps; the watcher took `lib` and every `apps/*/lib` that
/// existed. Mix compiles the applications' paths only: an umbrella's own
/// directory compiles nothing, and a directory under `apps/` without a
/// `mix.exs` is no application.
#[test]
fn an_umbrella_compiles_its_applications_only() {
    let dir = project(&[
        ("mix.exs", "[apps_path: \"apps\"]"),
        ("lib/stray.ex", ""),
        ("apps/web/mix.exs", "[app: :my_web]"),
        ("apps/web/lib/web.ex", ""),
        (
            "apps/core/mix.exs",
            "[app: :my_core, elixirc_paths: [\"lib\", \"gen\"]]",
        ),
        ("apps/scripts/lib/not_an_app.ex", ""),
    ]);
    let layout = MixLayout::read(dir.path(), DEFAULT_MIX_ENV);
    assert!(layout.is_umbrella());
    let names: Vec<&str> = layout.apps().iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["my_core", "my_web"]);
    assert_eq!(
        layout.source_roots(),
        paths(&["apps/core/gen", "apps/core/lib", "apps/web/lib"])
    );
    assert!(layout.is_source(Path::new("apps/web/lib/web.ex")));
    assert!(!layout.is_source(Path::new("lib/stray.ex")));
    assert!(!layout.is_source(Path::new("apps/scripts/lib/not_an_app.ex")));
}

#[test]
fn elixirc_paths_follow_the_environment() {
    let mix = r#"defmodule Shop.MixProject do
  use Mix.Project
  def project do
    [app: :shop, elixirc_paths: elixirc_paths(Mix.env()), deps: deps()]
  end
  defp elixirc_paths(:test), do: ["lib", "test/support"]
  defp elixirc_paths(_), do: ["lib"]
  defp deps, do: []
end
"#;
    let dir = project(&[("mix.exs", mix)]);
    assert_eq!(MixLayout::read(dir.path(), "dev").source_roots(), paths(&["lib"]));
    assert_eq!(
        MixLayout::read(dir.path(), "test").source_roots(),
        paths(&["lib", "test/support"])
    );
    assert_eq!(
        elixirc_paths("[elixirc_paths: [\"lib\", \"web\"]]", "prod").unwrap(),
        ["lib", "web"]
    );
    // Forms this reader does not follow fall back to Mix's default.
    assert_eq!(elixirc_paths("[elixirc_paths: [\"lib\" | extra()]]", "dev"), None);
    assert_eq!(elixirc_paths("[elixirc_paths: @paths]", "dev"), None);
    assert_eq!(elixirc_paths("[app: :a]", "dev"), None);
    let dir = project(&[("mix.exs", "[app: :a, elixirc_paths: @paths]")]);
    assert_eq!(MixLayout::read(dir.path(), "dev").source_roots(), paths(&["lib"]));
}

/// The index took `.ex` and `.exs` files, hidden ones included; the
/// planner `.ex` files, hidden ones included; the watcher `.ex` and `.exs`
/// files but no hidden or scratch file. Mix compiles `.ex` files its
/// wildcards find, which skip dot files.
#[test]
fn a_source_file_is_an_ex_file_mix_would_find() {
    for source in [
        "lib/a.ex",
        "lib/a/b/c.ex",
        "apps/web/lib/web.ex",
        "/abs/project/lib/a.ex",
    ] {
        assert!(is_source_file(Path::new(source)), "{source}");
    }
    for not in [
        "lib/tasks/gen.exs",
        "lib/a.erl",
        "lib/a.ex.bak",
        "lib/a.EX",
        "lib/a",
        "lib/.#a.ex",
        "lib/.hidden/a.ex",
        "lib/.a.ex.swp",
        "lib/a.ex~",
        "lib/#a.ex#",
        "lib/4913",
        "lib/.git/a.ex",
        "lib/.elixir_ls/a.ex",
    ] {
        assert!(!is_source_file(Path::new(not)), "{not}");
    }
}

/// Mix compiles every `.ex` file its wildcard finds under a source root,
/// whatever the directories are called (measured: Elixir 1.14.0, 1.18.3,
/// 1.20.4 compile `lib/deps/x.ex`, `lib/node_modules/y.ex`,
/// `lib/_build/z.ex`, and `deps/inner/lib/t.ex` when `elixirc_paths` names
/// `deps/inner/lib`; none under a dot directory).
#[test]
fn under_a_source_root_every_ex_file_is_a_source_whatever_its_directories() {
    let dir = project(&[(
        "mix.exs",
        "[app: :shop, elixirc_paths: [\"lib\", \"deps/inner/lib\", \".gen\"]]",
    )]);
    let layout = MixLayout::read(dir.path(), "dev");
    for source in [
        "lib/deps/x.ex",
        "lib/node_modules/y.ex",
        "lib/_build/z.ex",
        "lib/a/deps/b/c.ex",
        "deps/inner/lib/t.ex",
        ".gen/g.ex",
    ] {
        assert!(layout.is_source(Path::new(source)), "{source}");
        let root = layout
            .source_roots()
            .into_iter()
            .find(|r| Path::new(source).starts_with(r));
        let below = Path::new(source).strip_prefix(root.unwrap()).unwrap();
        assert!(is_source_file(below), "{source}");
    }
    for not in [
        "deps/jason/lib/jason.ex",
        "deps/inner/t.ex",
        "_build/dev/lib/a.ex",
        "assets/node_modules/x/lib/x.ex",
        "lib/.hidden/h.ex",
        "lib/.dot.ex",
        "lib/deps/x.exs",
    ] {
        assert!(!layout.is_source(Path::new(not)), "{not}");
    }
    // A top-level `deps/` is no source root: only an elixirc_paths entry makes one.
    assert!(!layout.source_roots().contains(&PathBuf::from("deps")));
    let plain = project(&[("mix.exs", PLAIN_MIX)]);
    assert_eq!(MixLayout::read(plain.path(), "dev").source_roots(), paths(&["lib"]));
}

#[test]
fn ignored_names() {
    for name in [
        ".git",
        ".elixir_ls",
        ".#a.ex",
        "a.ex~",
        "#a.ex#",
        "x.swp",
        "x.tmp",
        "4913",
    ] {
        assert!(is_ignored_name(OsStr::new(name)), "{name}");
    }
    // Under a source root these may hold sources: skipped only outside.
    for name in [
        "lib",
        "a.ex",
        "a.exs",
        "my_deps",
        "build",
        "deps",
        "_build",
        "node_modules",
    ] {
        assert!(!is_ignored_name(OsStr::new(name)), "{name}");
    }
    for name in IGNORED_DIRS {
        assert!(is_ignored_dir(OsStr::new(name)), "{name}");
        assert!(has_ignored_component_outside_sources(
            &Path::new("a").join(name).join("b.ex")
        ));
    }
    assert!(!has_ignored_component(Path::new("lib/deps/b.ex")));
}

#[test]
fn what_needs_a_restart() {
    for (file, word) in [
        ("mix.exs", "mix.exs"),
        ("apps/web/mix.exs", "mix.exs"),
        ("config/config.exs", "configuration"),
        ("config/runtime.exs", "configuration"),
        ("apps/web/config/dev.exs", "configuration"),
        ("config/runtime/x.exs", "configuration"),
        ("deps/jason/lib/jason.ex", "dependency"),
        ("deps/jason/mix.exs", "dependency"),
    ] {
        let reason = restart_reason(Path::new(file)).unwrap_or_default();
        assert!(reason.contains(word) && reason.contains("restart"), "{file}: {reason}");
    }
    // The same names inside the project's own directories are its files.
    for file in [
        "lib/a.ex",
        "lib/config/a.ex",
        "lib/config/a.exs",
        "config/app.json",
        "test/a_test.exs",
        "lib/deps/x.ex",
        "apps/web/lib/deps/x.ex",
        "priv/templates/mix.exs",
        "apps/web/priv/mix.exs",
        "test/fixtures/app/config/config.exs",
    ] {
        assert_eq!(restart_reason(Path::new(file)), None, "{file}");
    }
}

#[test]
fn restart_files_are_the_project_files_that_exist() {
    let dir = project(&[
        ("mix.exs", "[apps_path: \"apps\"]"),
        ("config/config.exs", ""),
        ("config/prod.secret.json", ""),
        ("apps/web/mix.exs", "[app: :web]"),
        ("apps/web/config/dev.exs", ""),
        ("apps/web/lib/web.ex", ""),
    ]);
    let layout = MixLayout::read(dir.path(), "dev");
    assert_eq!(
        layout.restart_files(),
        paths(&[
            "apps/web/config/dev.exs",
            "apps/web/mix.exs",
            "config/config.exs",
            "mix.exs"
        ])
    );
}

#[test]
fn the_build_is_shared_unless_only_the_app_has_one() {
    let dir = project(&[
        ("mix.exs", "[apps_path: \"apps\"]"),
        ("apps/web/mix.exs", "[app: :my_web]"),
        ("apps/core/mix.exs", "[app: :my_core]"),
        ("apps/web/_build/test/lib/my_web/.mix/compile.elixir", ""),
        ("_build/test/lib/my_core/.mix/compile.elixir", ""),
    ]);
    let layout = MixLayout::read(dir.path(), "test");
    let build: Vec<PathBuf> = layout.apps().iter().map(|app| layout.build_dir(app)).collect();
    assert_eq!(
        build,
        [dir.path().join("_build/test"), dir.path().join("apps/web/_build/test")]
    );
    let plain = project(&[("mix.exs", PLAIN_MIX)]);
    let layout = MixLayout::read(plain.path(), "dev");
    assert_eq!(layout.build_dir(&layout.apps()[0]), plain.path().join("_build/dev"));
}

#[test]
fn the_app_name_is_read_plainly_or_taken_from_the_directory() {
    assert_eq!(declared_app(PLAIN_MIX).as_deref(), Some("shop"));
    assert_eq!(declared_app("[apps_path: \"apps\", my_app: :x]"), None);
    assert_eq!(
        declared_app("def project do\n  [\n    app: :my_app,\n    version: \"0.1.0\"]").as_deref(),
        Some("my_app")
    );
    assert_eq!(declared_app("[app: Mix.Project.config()[:x]]"), None);
    let dir = project(&[("apps/unnamed/mix.exs", "[version: \"1.0.0\"]")]);
    let layout = MixLayout::read(dir.path(), "dev");
    assert_eq!(layout.apps()[0].name, "unnamed");
}
