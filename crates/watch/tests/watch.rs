#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The watcher against real file-system events (inotify on Linux) in temporary
//! directories. Every wait is bounded and says what did not arrive; the timeouts are
//! generous because a loaded two-core machine delays threads by whole seconds at worst,
//! and a passing test waits only for the debounce (100 ms).

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedReceiver;
use watch::{Batch, WatchConfig, WatchError, Watcher};

const WAIT: Duration = Duration::from_secs(10);
const DEBOUNCE: Duration = Duration::from_millis(100);

struct Fixture {
    _dir: tempfile::TempDir,
    /// The canonical project directory.
    project: PathBuf,
    rx: UnboundedReceiver<Batch>,
    watcher: Watcher,
}

impl Fixture {
    /// A project with `files` (relative to it, with some content), watched at `roots`,
    /// which are its source roots.
    fn new(files: &[&str], roots: &[&str]) -> Fixture {
        Fixture::with_source_roots(files, roots, None)
    }

    /// [`Fixture::new`], with `source_roots` apart from the watched `roots`.
    fn with_source_roots(files: &[&str], roots: &[&str], source_roots: Option<&[&str]>) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().canonicalize().unwrap();
        for f in files {
            write(&project.join(f), &format!("# {f}\n"));
        }
        for r in roots {
            fs::create_dir_all(project.join(r)).unwrap();
        }
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let mut config = WatchConfig::new(roots.iter().map(|r| project.join(r)).collect()).with_debounce(DEBOUNCE);
        if let Some(source_roots) = source_roots {
            config = config.with_source_roots(source_roots.iter().map(|r| project.join(r)).collect());
        }
        let watcher = Watcher::start(config, tx).unwrap();
        Fixture {
            _dir: dir,
            project,
            rx,
            watcher,
        }
    }

    fn lib(files: &[&str]) -> Fixture {
        Fixture::new(files, &["lib"])
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.project.join(rel)
    }

    fn set(&self, rels: &[&str]) -> BTreeSet<PathBuf> {
        rels.iter().map(|r| self.p(r)).collect()
    }

    /// The next batch; fails saying `after` if none comes in time.
    async fn next(&mut self, after: &str) -> Batch {
        match tokio::time::timeout(WAIT, self.rx.recv()).await {
            Ok(Some(batch)) => batch,
            Ok(None) => panic!("the watcher stopped before a batch came after {after}"),
            Err(_) => panic!("no batch within {WAIT:?} after {after}"),
        }
    }

    /// Batches until together they hold `changed` and `removed`, which they must then
    /// be exactly. When the operations took less than the quiet period (`took`), that
    /// must have been one batch; a slower run (a loaded machine) may split it.
    async fn expect(&mut self, took: Duration, changed: &[&str], removed: &[&str], after: &str) {
        let want = Batch {
            changed: self.set(changed),
            removed: self.set(removed),
        };
        let mut got = Batch::default();
        let mut batches = Vec::new();
        while !(want.changed.is_subset(&got.changed) && want.removed.is_subset(&got.removed)) {
            let batch = self.next(after).await;
            batches.push(batch.clone());
            got.merge(batch);
        }
        assert_eq!(got, want, "after {after}: {batches:?}");
        if took < DEBOUNCE {
            assert_eq!(batches.len(), 1, "after {after} (took {took:?}): {batches:?}");
        }
    }

    /// Batches up to and including the first one whose `changed` holds `rel`.
    async fn until_changed(&mut self, rel: &str, after: &str) -> Vec<Batch> {
        let path = self.p(rel);
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut batches = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(batch)) => {
                    let done = batch.changed.contains(&path);
                    batches.push(batch);
                    if done {
                        return batches;
                    }
                }
                Ok(None) => panic!("the watcher stopped before {rel} came as changed ({after})"),
                Err(_) => panic!("{rel} not reported as changed within {WAIT:?} after {after}; got {batches:?}"),
            }
        }
    }
}

fn write(path: &Path, content: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

/// A save as Vim (`backupcopy=no`), Emacs and many editors do it: write a temporary file
/// beside the source, then rename it over the source.
fn atomic_save(path: &Path, content: &str) {
    let tmp = path.with_file_name(format!(".{}.tmp", path.file_name().unwrap().to_string_lossy()));
    fs::write(&tmp, content).unwrap();
    fs::rename(&tmp, path).unwrap();
}

/// A save that rewrites the file in place (VS Code, `backupcopy=yes`).
fn in_place_save(path: &Path, content: &str) {
    let mut f = fs::OpenOptions::new().write(true).truncate(true).open(path).unwrap();
    f.write_all(content.as_bytes()).unwrap();
    f.sync_all().unwrap();
}

#[tokio::test]
async fn atomic_rename_save_is_changed_never_removed() {
    let mut fx = Fixture::lib(&["lib/a.ex"]);
    atomic_save(&fx.p("lib/a.ex"), "defmodule A do end\n");
    let batch = fx.next("an atomic-rename save of lib/a.ex").await;
    assert_eq!(batch.changed, fx.set(&["lib/a.ex"]));
    assert!(batch.removed.is_empty(), "{batch:?}");
}

#[tokio::test]
async fn vim_save_with_backup_and_write_test_file_is_one_change() {
    // Vim's default: create and delete `4913` to test the directory, rename the source
    // to `a.ex~`, write a new `a.ex`, delete the back-up.
    let mut fx = Fixture::lib(&["lib/a.ex"]);
    let start = Instant::now();
    let probe = fx.p("lib/4913");
    fs::write(&probe, "").unwrap();
    fs::remove_file(&probe).unwrap();
    fs::rename(fx.p("lib/a.ex"), fx.p("lib/a.ex~")).unwrap();
    fs::write(fx.p("lib/a.ex"), "defmodule A do end\n").unwrap();
    fs::remove_file(fx.p("lib/a.ex~")).unwrap();
    fx.expect(start.elapsed(), &["lib/a.ex"], &[], "a Vim-style save of lib/a.ex")
        .await;
}

#[tokio::test]
async fn in_place_write_is_changed() {
    let mut fx = Fixture::lib(&["lib/a.ex", "lib/b.ex"]);
    in_place_save(&fx.p("lib/a.ex"), "defmodule A do def x, do: 1 end\n");
    let batch = fx.next("an in-place write of lib/a.ex").await;
    assert_eq!(batch.changed, fx.set(&["lib/a.ex"]));
    assert!(batch.removed.is_empty(), "{batch:?}");
}

#[tokio::test]
async fn new_file_is_changed() {
    let mut fx = Fixture::lib(&["lib/a.ex"]);
    write(&fx.p("lib/my_app/new.ex"), "defmodule New do end\n");
    let batch = fx.next("creating lib/my_app/new.ex").await;
    assert_eq!(batch.changed, fx.set(&["lib/my_app/new.ex"]));
    assert!(batch.removed.is_empty(), "{batch:?}");
}

#[tokio::test]
async fn deletion_is_removed() {
    let mut fx = Fixture::lib(&["lib/a.ex", "lib/b.ex"]);
    fs::remove_file(fx.p("lib/a.ex")).unwrap();
    let batch = fx.next("deleting lib/a.ex").await;
    assert!(batch.changed.is_empty(), "{batch:?}");
    assert_eq!(batch.removed, fx.set(&["lib/a.ex"]));
}

#[tokio::test]
async fn directory_rename_removes_old_paths_and_changes_new_ones() {
    let mut fx = Fixture::lib(&["lib/old/x.ex", "lib/old/deep/y.ex", "lib/keep.ex"]);
    fs::rename(fx.p("lib/old"), fx.p("lib/new")).unwrap();
    let batch = fx.next("renaming lib/old to lib/new").await;
    assert_eq!(batch.changed, fx.set(&["lib/new/x.ex", "lib/new/deep/y.ex"]));
    assert_eq!(batch.removed, fx.set(&["lib/old/x.ex", "lib/old/deep/y.ex"]));

    // The moved directory is still watched, under its new name.
    in_place_save(&fx.p("lib/new/deep/y.ex"), "defmodule Y do end\n");
    let batch = fx.next("writing lib/new/deep/y.ex").await;
    assert_eq!(batch.changed, fx.set(&["lib/new/deep/y.ex"]));
    assert!(batch.removed.is_empty(), "{batch:?}");
}

#[tokio::test]
async fn files_in_a_new_subdirectory_are_seen() {
    let mut fx = Fixture::lib(&["lib/a.ex"]);
    // Written at once, before notify can have added a watch on the new directories.
    let start = Instant::now();
    write(&fx.p("lib/feature/deeper/z.ex"), "defmodule Z do end\n");
    write(&fx.p("lib/feature/f.ex"), "defmodule F do end\n");
    let took = start.elapsed();
    let changed = ["lib/feature/deeper/z.ex", "lib/feature/f.ex"];
    fx.expect(took, &changed, &[], "creating lib/feature/ with sources")
        .await;

    // And the new directories are watched from then on.
    write(&fx.p("lib/feature/deeper/w.ex"), "defmodule W do end\n");
    let batch = fx.next("creating lib/feature/deeper/w.ex").await;
    assert_eq!(batch.changed, fx.set(&["lib/feature/deeper/w.ex"]));
}

#[tokio::test]
async fn created_then_deleted_within_the_window_is_not_changed() {
    let mut fx = Fixture::lib(&["lib/a.ex"]);
    let brief = fx.p("lib/brief.ex");
    fs::write(&brief, "defmodule Brief do end\n").unwrap();
    fs::remove_file(&brief).unwrap();
    write(&fx.p("lib/sentinel.ex"), "defmodule Sentinel do end\n");
    let batches = fx
        .until_changed("lib/sentinel.ex", "creating and deleting lib/brief.ex")
        .await;
    for batch in &batches {
        assert!(!batch.changed.contains(&brief), "{batches:?}");
    }
}

#[tokio::test]
async fn removed_then_recreated_is_changed() {
    let mut fx = Fixture::lib(&["lib/a.ex"]);
    let start = Instant::now();
    fs::remove_file(fx.p("lib/a.ex")).unwrap();
    write(&fx.p("lib/a.ex"), "defmodule A do end\n");
    fx.expect(start.elapsed(), &["lib/a.ex"], &[], "deleting and recreating lib/a.ex")
        .await;
}

#[tokio::test]
async fn thirty_rapid_saves_coalesce() {
    let mut fx = Fixture::lib(&["lib/a.ex"]);
    let a = fx.p("lib/a.ex");
    let mut saved_at = Vec::new();
    for i in 0..30 {
        let content = format!("defmodule A do def v, do: {i} end\n");
        if i % 2 == 0 {
            atomic_save(&a, &content);
        } else {
            in_place_save(&a, &content);
        }
        saved_at.push(Instant::now());
        // The pace of a key held on "save"; not a synchronisation.
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    write(&fx.p("lib/sentinel.ex"), "defmodule Sentinel do end\n");
    let batches = fx.until_changed("lib/sentinel.ex", "thirty saves of lib/a.ex").await;

    let with_a: Vec<&Batch> = batches.iter().filter(|b| b.changed.contains(&a)).collect();
    assert!(!with_a.is_empty(), "lib/a.ex never reported: {batches:?}");
    assert!(batches.iter().all(|b| !b.removed.contains(&a)), "{batches:?}");
    // One batch per burst; a burst ends only where the saver itself stalled for longer
    // than the quiet period (a loaded machine), so allow one more batch per such stall.
    let stalls = saved_at.windows(2).filter(|w| w[1] - w[0] > DEBOUNCE).count();
    assert!(
        with_a.len() <= 2 + stalls,
        "{} batches for 30 saves ({stalls} stalls, {:?} from first to last, longest gap {:?}): {batches:?}",
        with_a.len(),
        saved_at[29] - saved_at[0],
        saved_at.windows(2).map(|w| w[1] - w[0]).max()
    );
    assert_eq!(fs::read_to_string(&a).unwrap(), "defmodule A do def v, do: 29 end\n");
}

#[tokio::test]
async fn files_saved_together_come_in_one_batch() {
    let mut fx = Fixture::new(
        &["apps/core/lib/core.ex", "apps/web/lib/web.ex"],
        &["apps/core/lib", "apps/web/lib"],
    );
    let start = Instant::now();
    in_place_save(&fx.p("apps/core/lib/core.ex"), "defmodule Core do end\n");
    atomic_save(&fx.p("apps/web/lib/web.ex"), "defmodule Web do end\n");
    let changed = ["apps/core/lib/core.ex", "apps/web/lib/web.ex"];
    fx.expect(start.elapsed(), &changed, &[], "saving one file in each umbrella app")
        .await;
}

#[tokio::test]
async fn swap_backup_and_4913_files_produce_no_batch() {
    let mut fx = Fixture::lib(&["lib/a.ex"]);
    for scratch in [
        "lib/.a.ex.swp",
        "lib/.a.ex.swx",
        "lib/4913",
        "lib/a.ex~",
        "lib/.#a.ex",
        "lib/#a.ex#",
        "lib/a.ex.tmp",
        "lib/notes.txt",
    ] {
        write(&fx.p(scratch), "scratch");
    }
    fs::remove_file(fx.p("lib/4913")).unwrap();
    fs::remove_file(fx.p("lib/.a.ex.swx")).unwrap();
    // Had the scratch files produced a batch, it would come first.
    write(&fx.p("lib/b.ex"), "defmodule B do end\n");
    let batch = fx.next("writing scratch files, then lib/b.ex").await;
    assert_eq!(batch.changed, fx.set(&["lib/b.ex"]));
    assert!(batch.removed.is_empty(), "{batch:?}");
}

#[tokio::test]
async fn build_deps_and_vcs_directories_are_ignored_outside_the_source_roots() {
    // The project directory itself watched: the ignored directories live under it.
    let mut fx = Fixture::with_source_roots(&["lib/a.ex", "_build/dev/lib/app/old.ex"], &["."], Some(&["lib"]));
    for ignored in [
        "_build/dev/lib/app/x.ex",
        "deps/plug/lib/plug.ex",
        ".git/x.ex",
        "assets/node_modules/pkg/x.ex",
        ".elixir_ls/build/x.ex",
    ] {
        write(&fx.p(ignored), "defmodule X do end\n");
    }
    fs::remove_file(fx.p("_build/dev/lib/app/old.ex")).unwrap();
    write(&fx.p("lib/ok.ex"), "defmodule Ok do end\n");
    let batch = fx.next("writing under ignored directories, then lib/ok.ex").await;
    assert_eq!(batch.changed, fx.set(&["lib/ok.ex"]));
    assert!(batch.removed.is_empty(), "{batch:?}");
}

/// Mix compiles every `.ex` file under a source root, whatever its directories are
/// called: saves there are reported, whether the source root is watched or the
/// project directory is.
#[tokio::test]
async fn under_a_source_root_deps_and_build_directories_hold_sources() {
    for (roots, source_roots) in [(&["lib"][..], None), (&["."][..], Some(&["lib"][..]))] {
        let mut fx = Fixture::with_source_roots(&["lib/a.ex", "lib/deps/old.ex"], roots, source_roots);
        let sources = ["lib/deps/x.ex", "lib/node_modules/y.ex", "lib/_build/z.ex"];
        let started = Instant::now();
        for source in sources {
            write(&fx.p(source), "defmodule X do end\n");
        }
        fs::remove_file(fx.p("lib/deps/old.ex")).unwrap();
        let after = format!("writing sources under lib/deps, lib/node_modules, lib/_build, watching {roots:?}");
        fx.expect(started.elapsed(), &sources, &["lib/deps/old.ex"], &after)
            .await;
    }
}

#[tokio::test]
async fn dropping_the_watcher_stops_it() {
    let fx = Fixture::lib(&["lib/a.ex"]);
    let Fixture {
        _dir,
        project,
        mut rx,
        watcher,
    } = fx;
    assert_eq!(watcher.roots(), [project.join("lib")]);
    drop(watcher);
    write(&project.join("lib/after.ex"), "defmodule After do end\n");
    // The watcher's thread owned the sender and has been joined: the channel is closed.
    match tokio::time::timeout(WAIT, rx.recv()).await {
        Ok(None) => {}
        Ok(Some(batch)) => panic!("a batch after the watcher was dropped: {batch:?}"),
        Err(_) => panic!("the channel was not closed within {WAIT:?} of dropping the watcher"),
    }
}

#[test]
fn start_rejects_missing_and_non_directory_roots() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("file.ex"), "x").unwrap();
    let start = |roots: Vec<PathBuf>| {
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        Watcher::start(WatchConfig::new(roots), tx)
    };
    assert!(matches!(start(vec![]), Err(WatchError::NoRoots)));
    let missing = start(vec![dir.path().join("lib")]).unwrap_err();
    assert!(matches!(missing, WatchError::Root { .. }), "{missing}");
    assert!(missing.to_string().contains("lib"), "{missing}");
    let file = start(vec![dir.path().join("file.ex")]).unwrap_err();
    assert!(matches!(file, WatchError::NotADirectory { .. }), "{file}");
}

#[test]
fn nested_roots_are_watched_once() {
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().canonicalize().unwrap().join("lib");
    fs::create_dir_all(lib.join("inner")).unwrap();
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let config = WatchConfig::new(vec![lib.join("inner"), lib.clone(), lib.join(".")]);
    let watcher = Watcher::start(config, tx).unwrap();
    assert_eq!(watcher.roots(), [lib]);
}

#[test]
fn watcher_can_move_into_a_task() {
    fn assert_send<T: Send + 'static>() {}
    assert_send::<Watcher>();
    assert_send::<Batch>();
}

#[tokio::test]
async fn reading_sources_produces_no_batch() {
    // The compiler reads the sources during a reload: that must not trigger another.
    let mut fx = Fixture::lib(&["lib/a.ex", "lib/sub/c.ex"]);
    assert_eq!(fs::read_to_string(fx.p("lib/a.ex")).unwrap(), "# lib/a.ex\n");
    assert_eq!(fs::read_dir(fx.p("lib/sub")).unwrap().count(), 1);
    fs::read(fx.p("lib/sub/c.ex")).unwrap();
    write(&fx.p("lib/b.ex"), "defmodule B do end\n");
    let batch = fx
        .next("reading lib/a.ex and lib/sub/c.ex, then writing lib/b.ex")
        .await;
    assert_eq!(batch.changed, fx.set(&["lib/b.ex"]));
    assert!(batch.removed.is_empty(), "{batch:?}");
}
