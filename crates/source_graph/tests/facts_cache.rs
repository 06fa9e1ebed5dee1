//! `Index::build_cached`: an index built through the facts cache is the one
//! `Index::build` makes, whatever happened to the sources or to the cache
//! between two builds; the cache only decides how many files are parsed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use elixir_dap_bench::generator::{generate, GenOptions};
use source_graph::{default_roots, CacheUse, ElixirVersion, Index};

const V1_14: ElixirVersion = ElixirVersion::new(1, 14);
const V1_18: ElixirVersion = ElixirVersion::new(1, 18);

/// A generated Mix project (structs, `use`, macros, protocols, behaviours)
/// in a temporary directory, and a cache file path beside it.
struct Project {
    dir: tempfile::TempDir,
    cache: PathBuf,
}

impl Project {
    fn new(modules: usize) -> Project {
        let dir = tempfile::tempdir().unwrap();
        generate(&GenOptions::new(modules, 7))
            .unwrap()
            .write_to(dir.path())
            .unwrap();
        let cache = dir.path().join("cache/deps.postcard");
        Project { dir, cache }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    fn lib_files(&self) -> Vec<PathBuf> {
        let fresh = self.fresh(V1_14);
        fresh.files().map(Path::to_path_buf).collect()
    }

    fn cached(&self, elixir: ElixirVersion) -> (Index, CacheUse) {
        let dir = self.dir.path();
        Index::build_cached(dir, &default_roots(dir, "dev"), elixir, &self.cache).unwrap()
    }

    fn fresh(&self, elixir: ElixirVersion) -> Index {
        let dir = self.dir.path();
        Index::build(dir, &default_roots(dir, "dev"), elixir).unwrap()
    }
}

/// Asserts that two indexes answer every question alike: the graph, each
/// file's references and what a change of each file affects.
fn assert_same(cached: &Index, fresh: &Index, context: &str) {
    assert_eq!(cached.graph(), fresh.graph(), "{context}: graphs differ");
    let files: Vec<&Path> = fresh.files().collect();
    assert_eq!(
        cached.files().collect::<Vec<_>>(),
        files,
        "{context}: file lists differ"
    );
    assert_eq!(
        cached.parse_errors(),
        fresh.parse_errors(),
        "{context}: parse errors differ"
    );
    for file in files {
        assert_eq!(
            cached.references_of(file),
            fresh.references_of(file),
            "{context}: references of {}",
            file.display()
        );
        let (a, b) = (cached.affected(&[file]), fresh.affected(&[file]));
        assert_eq!(a.recompile, b.recompile, "{context}: recompile for {}", file.display());
        assert_eq!(
            a.runtime_callers,
            b.runtime_callers,
            "{context}: callers of {}",
            file.display()
        );
    }
}

#[test]
fn a_second_build_parses_nothing_and_answers_alike() {
    let project = Project::new(60);
    let (first, used) = project.cached(V1_14);
    let total = project.lib_files().len();
    assert_eq!((used.reused, used.parsed, used.write_error), (0, total, None));
    assert!(project.cache.is_file(), "the cache was not written");
    let (second, used) = project.cached(V1_14);
    assert_eq!((used.reused, used.parsed, used.write_error), (total, 0, None));
    assert_same(&first, &second, "second build");
    assert_same(&second, &project.fresh(V1_14), "second build vs fresh");
}

#[test]
fn changed_added_and_removed_files_are_parsed_again_or_dropped() {
    let project = Project::new(60);
    project.cached(V1_14);
    let files = project.lib_files();
    let total = files.len();

    // Same length, other content: a digest, not a size or a time, decides.
    let edited = project.path(&files[3].to_string_lossy());
    let text = std::fs::read_to_string(&edited).unwrap();
    let same_length = text.replacen("def ", "dEf ", 1);
    assert_eq!(same_length.len(), text.len());
    assert_ne!(same_length, text);
    std::fs::write(&edited, &same_length).unwrap();
    let (index, used) = project.cached(V1_14);
    assert_eq!((used.reused, used.parsed), (total - 1, 1));
    assert_same(&index, &project.fresh(V1_14), "one file edited");

    // A new module that uses the hub macro and a struct: new edges.
    let target = files[5].to_string_lossy().into_owned();
    let target_module = index.modules_in(&files[5])[0].name.clone();
    std::fs::write(
        project.path("lib/added.ex"),
        format!("defmodule Added do\n  def go, do: {target_module}.__info__(:functions)\nend\n"),
    )
    .unwrap();
    // A removed file: its dependents lose their edges.
    std::fs::remove_file(project.path(&files[7].to_string_lossy())).unwrap();
    let (index, used) = project.cached(V1_14);
    assert_eq!(
        (used.reused, used.parsed),
        (total - 1, 1),
        "only the new file is parsed"
    );
    assert!(index.contains(Path::new("lib/added.ex")));
    assert!(!index.contains(&files[7]));
    assert!(
        index
            .affected(&[target.as_str()])
            .runtime_callers
            .contains(&PathBuf::from("lib/added.ex")),
        "the new file's reference is in the graph"
    );
    assert_same(&index, &project.fresh(V1_14), "added and removed");

    // Back to the original text: parsed again (the cache holds one version).
    std::fs::write(&edited, &text).unwrap();
    let (index, used) = project.cached(V1_14);
    assert_eq!(used.parsed, 1);
    assert_same(&index, &project.fresh(V1_14), "edit undone");
}

#[test]
fn a_broken_or_foreign_cache_is_ignored_and_replaced() {
    let project = Project::new(30);
    let total = project.lib_files().len();
    let fresh = project.fresh(V1_14);
    project.cached(V1_14);
    let good = std::fs::read(&project.cache).unwrap();
    let broken: [(&str, Vec<u8>); 4] = [
        ("empty", Vec::new()),
        ("truncated", good[..good.len() / 2].to_vec()),
        ("garbage", b"{\"format\": 1, \"files\": {}}".to_vec()),
        ("bit flip in the header", {
            let mut bytes = good.clone();
            bytes[0] ^= 0x55;
            bytes
        }),
    ];
    for (what, bytes) in broken {
        std::fs::write(&project.cache, &bytes).unwrap();
        let (index, used) = project.cached(V1_14);
        assert_eq!((used.reused, used.parsed), (0, total), "{what}");
        assert_same(&index, &fresh, what);
        let (_, used) = project.cached(V1_14);
        assert_eq!(used.reused, total, "{what}: the cache was not rewritten");
    }
}

#[test]
fn facts_extracted_under_other_rules_are_not_reused() {
    let project = Project::new(30);
    let total = project.lib_files().len();
    project.cached(V1_14);
    let (index, used) = project.cached(V1_18);
    assert_eq!((used.reused, used.parsed), (0, total));
    assert_same(&index, &project.fresh(V1_18), "1.18 after 1.14");
}

#[test]
fn a_cache_that_cannot_be_written_is_reported_and_the_index_is_whole() {
    let project = Project::new(30);
    // The cache's directory is a file.
    std::fs::create_dir_all(project.cache.parent().unwrap().parent().unwrap()).unwrap();
    std::fs::write(project.cache.parent().unwrap(), "not a directory").unwrap();
    let (index, used) = project.cached(V1_14);
    let message = used.write_error.expect("a write error");
    let dir = project.cache.parent().unwrap().display().to_string();
    assert!(message.contains(&dir), "the error names {dir}: {message}");
    assert_same(&index, &project.fresh(V1_14), "unwritable cache");
}
