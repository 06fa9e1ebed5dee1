//! Turns notify-debouncer-full's events into [`Batch`]es: keeps what a quiet period has
//! touched, and when it ends, asks the disk what each touched path now is.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use notify::event::{EventKind, ModifyKind};
use notify_debouncer_full::DebouncedEvent;
use walkdir::WalkDir;

use crate::filter::Filter;
use crate::Batch;

/// Timing of a collector, all derived from the user's debounce.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    /// The quiet period: no event for this long closes a batch.
    pub debounce: Duration,
    /// How late notify-debouncer-full hands an event over (its timeout plus one tick).
    pub lag: Duration,
    /// A batch is closed this long after its first event even if events keep coming.
    pub max_delay: Duration,
}

pub(crate) struct Collector {
    roots: Vec<PathBuf>,
    filter: Filter,
    timing: Timing,
    /// Relevant files that exist as far as the consumer was told (initial scan, then
    /// every batch). A vanished path is reported as removed only when it is in here.
    known: BTreeSet<PathBuf>,
    pending: Pending,
}

#[derive(Default)]
struct Pending {
    /// Touched paths: source files, and vanished paths that had known sources under them.
    paths: BTreeSet<PathBuf>,
    /// Directories that appeared (created or moved in): walked when the batch closes,
    /// since files written into them before notify watched them raise no event.
    dirs: BTreeSet<PathBuf>,
    /// The OS dropped events: compare every root with `known`.
    rescan: bool,
    /// When the first event of this batch arrived.
    first: Option<Instant>,
    /// When the quiet period of this batch ends.
    quiet_until: Option<Instant>,
}

impl Collector {
    /// `roots` must be canonical; the initial scan of them becomes the known set.
    pub fn new(roots: Vec<PathBuf>, filter: Filter, timing: Timing) -> Self {
        let mut collector = Collector {
            roots,
            filter,
            timing,
            known: BTreeSet::new(),
            pending: Pending::default(),
        };
        let mut known = BTreeSet::new();
        for root in &collector.roots {
            collector.walk_into(root, &mut known);
        }
        collector.known = known;
        collector
    }

    /// When the pending batch must be closed, if there is one.
    pub fn deadline(&self) -> Option<Instant> {
        let quiet = self.pending.quiet_until?;
        let cap = self.pending.first.map(|f| f + self.timing.max_delay);
        Some(cap.map_or(quiet, |cap| cap.min(quiet)))
    }

    /// Takes in a group of debounced events.
    pub fn add(&mut self, events: &[DebouncedEvent], now: Instant) {
        for event in events {
            if self.add_event(event) {
                self.pending.first.get_or_insert(now);
                // Quiet counts from when the change happened, plus the time the debouncer
                // may still hold a later one; and at least from when we saw it, should the
                // debouncer's thread have been late (a loaded machine).
                let until = (event.time + self.timing.debounce + self.timing.lag).max(now + self.timing.debounce);
                self.pending.quiet_until = Some(self.pending.quiet_until.map_or(until, |current| current.max(until)));
            }
        }
    }

    /// Records one event; true when it touched something that may matter.
    fn add_event(&mut self, event: &DebouncedEvent) -> bool {
        if event.need_rescan() {
            self.pending.rescan = true;
            return true;
        }
        match event.kind {
            // Reads (the compiler opening sources during a reload, our own directory
            // walks) change nothing. A close after writing follows a Modify we keep.
            EventKind::Access(_) | EventKind::Other => return false,
            _ => {}
        }
        let appeared = matches!(
            event.kind,
            EventKind::Create(_) | EventKind::Modify(ModifyKind::Name(_)) | EventKind::Any
        );
        let mut touched = false;
        for path in &event.paths {
            touched |= self.add_path(path, appeared);
        }
        touched
    }

    fn add_path(&mut self, path: &Path, appeared: bool) -> bool {
        let Some(rel) = self.relative(path) else {
            return false;
        };
        if self.filter.is_skipped(path, rel) {
            return false;
        }
        if self.filter.is_relevant(rel) || self.filter.is_listed(path) {
            self.pending.paths.insert(path.to_path_buf());
            return true;
        }
        // Not a source name: a directory that appeared, or one that vanished with known
        // sources under it (removed, or renamed away). Anything else is noise.
        if appeared && path.is_dir() {
            self.pending.dirs.insert(path.to_path_buf());
            return true;
        }
        if !path.exists() && self.known_under(path).next().is_some() {
            self.pending.paths.insert(path.to_path_buf());
            return true;
        }
        false
    }

    /// Called at the deadline: the batch, or `None` when the quiet period turns out not
    /// to be over and a new deadline is set.
    ///
    /// Events reach the collector through two threads (notify's and the debouncer's),
    /// which a loaded machine can hold back for longer than the quiet period while an
    /// editor goes on saving. So before closing a batch, the touched files are asked
    /// too: one modified less than the quiet period ago postpones it (never past
    /// `max_delay`).
    pub fn on_deadline(&mut self, now: Instant, wall: SystemTime) -> Option<Batch> {
        let capped = self
            .pending
            .first
            .is_some_and(|first| now >= first + self.timing.max_delay);
        if !capped {
            if let Some(youngest) = self.youngest_change(wall) {
                if youngest < self.timing.debounce {
                    self.pending.quiet_until = Some(now + (self.timing.debounce - youngest));
                    return None;
                }
            }
        }
        Some(self.flush())
    }

    /// How long ago the most recently modified touched file was modified.
    fn youngest_change(&self, wall: SystemTime) -> Option<Duration> {
        self.pending
            .paths
            .iter()
            .filter_map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
            // A time in the future (another clock) says nothing about quiet.
            .filter_map(|modified| wall.duration_since(modified).ok())
            .min()
    }

    /// Closes the pending batch: what is on disk now decides each touched path.
    pub fn flush(&mut self) -> Batch {
        let pending = std::mem::take(&mut self.pending);
        let mut candidates = BTreeSet::new();
        if pending.rescan {
            candidates.extend(self.known.iter().cloned());
            for root in &self.roots {
                self.walk_into(root, &mut candidates);
            }
        }
        for path in pending.paths {
            candidates.extend(self.known_under(&path).cloned());
            candidates.insert(path);
        }
        for dir in &pending.dirs {
            self.walk_into(dir, &mut candidates);
        }

        let mut batch = Batch::default();
        for path in candidates {
            if self.accepts(&path) && path.is_file() {
                self.known.insert(path.clone());
                batch.changed.insert(path);
            } else if self.known.remove(&path) {
                batch.removed.insert(path);
            }
        }
        batch
    }

    /// Known sources at or under `path`.
    fn known_under<'a>(&'a self, path: &'a Path) -> impl Iterator<Item = &'a PathBuf> + 'a {
        // Paths order by component, so a directory's descendants follow it contiguously.
        self.known
            .range(path.to_path_buf()..)
            .take_while(move |p| p.starts_with(path))
    }

    /// Whether a file under a root is reported: a source by its name, or a
    /// listed file.
    fn accepts(&self, path: &Path) -> bool {
        self.filter.is_listed(path)
            || self
                .relative(path)
                .is_some_and(|rel| !self.filter.is_skipped(path, rel) && self.filter.is_relevant(rel))
    }

    /// The path relative to the root it is under.
    fn relative<'a>(&self, path: &'a Path) -> Option<&'a Path> {
        self.roots.iter().find_map(|root| path.strip_prefix(root).ok())
    }

    /// Adds the relevant files under `dir` to `out`, not descending into skipped
    /// directories ([`Filter::is_skipped`]).
    fn walk_into(&self, dir: &Path, out: &mut BTreeSet<PathBuf>) {
        let walk = WalkDir::new(dir).into_iter().filter_entry(|e| {
            e.depth() == 0
                || !self
                    .relative(e.path())
                    .is_some_and(|rel| self.filter.is_skipped(e.path(), rel))
        });
        for entry in walk.filter_map(Result::ok) {
            if !entry.file_type().is_file() {
                continue;
            }
            let path = entry.into_path();
            if self.accepts(&path) {
                out.insert(path);
            }
        }
    }

    #[cfg(test)]
    pub fn known(&self) -> &BTreeSet<PathBuf> {
        &self.known
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, DataChange, RemoveKind, RenameMode};
    use notify::Event;
    use std::fs;

    fn timing() -> Timing {
        Timing {
            debounce: Duration::from_millis(100),
            lag: Duration::from_millis(30),
            max_delay: Duration::from_secs(2),
        }
    }

    fn ev(kind: EventKind, paths: &[&Path]) -> DebouncedEvent {
        let mut event = Event::new(kind);
        for p in paths {
            event = event.add_path(p.to_path_buf());
        }
        DebouncedEvent::new(event, Instant::now())
    }

    fn setup(files: &[&str]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap().join("lib");
        fs::create_dir_all(&root).unwrap();
        for f in files {
            let p = root.join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, "defmodule X do end").unwrap();
        }
        (dir, root)
    }

    fn set(root: &Path, files: &[&str]) -> BTreeSet<PathBuf> {
        files.iter().map(|f| root.join(f)).collect()
    }

    #[test]
    fn initial_scan_knows_relevant_files_only() {
        let (_d, root) = setup(&["a.ex", "b/c.ex", "b/d.exs", "b/.c.ex.swp", "_build/x.ex", "n.txt"]);
        let c = Collector::new(vec![root.clone()], Filter::default(), timing());
        assert_eq!(c.known(), &set(&root, &["a.ex", "b/c.ex"]));
        assert_eq!(c.deadline(), None);
    }

    #[test]
    fn directory_rename_removes_old_paths_and_changes_new_ones() {
        let (_d, root) = setup(&["a/x.ex", "a/b/y.ex", "ab.ex"]);
        let mut c = Collector::new(vec![root.clone()], Filter::default(), timing());
        fs::rename(root.join("a"), root.join("c")).unwrap();
        let kind = EventKind::Modify(ModifyKind::Name(RenameMode::Both));
        c.add(&[ev(kind, &[&root.join("a"), &root.join("c")])], Instant::now());
        assert!(c.deadline().is_some());
        let batch = c.flush();
        assert_eq!(batch.changed, set(&root, &["c/x.ex", "c/b/y.ex"]));
        assert_eq!(batch.removed, set(&root, &["a/x.ex", "a/b/y.ex"]));
        assert_eq!(c.known(), &set(&root, &["c/x.ex", "c/b/y.ex", "ab.ex"]));
        assert_eq!(c.deadline(), None);
    }

    #[test]
    fn final_state_on_disk_decides() {
        let (_d, root) = setup(&["a.ex"]);
        let mut c = Collector::new(vec![root.clone()], Filter::default(), timing());
        let a = root.join("a.ex");
        let n = root.join("new.ex");
        fs::write(&n, "x").unwrap();
        fs::remove_file(&n).unwrap();
        c.add(
            &[
                ev(EventKind::Remove(RemoveKind::File), &[&a]),
                ev(EventKind::Create(CreateKind::File), &[&a]),
                ev(EventKind::Create(CreateKind::File), &[&n]),
                ev(EventKind::Remove(RemoveKind::File), &[&n]),
            ],
            Instant::now(),
        );
        let batch = c.flush();
        assert_eq!(batch.changed, set(&root, &["a.ex"]));
        assert!(batch.removed.is_empty(), "{batch:?}");
    }

    #[test]
    fn noise_sets_no_deadline() {
        let (_d, root) = setup(&["a.ex"]);
        let mut c = Collector::new(vec![root.clone()], Filter::default(), timing());
        fs::write(root.join("4913"), "").unwrap();
        fs::create_dir_all(root.join("_build/dev")).unwrap();
        let data = EventKind::Modify(ModifyKind::Data(DataChange::Any));
        let open = EventKind::Access(notify::event::AccessKind::Open(notify::event::AccessMode::Any));
        c.add(
            &[
                ev(data, &[&root.join("4913")]),
                ev(data, &[&root.join(".a.ex.swp")]),
                ev(EventKind::Create(CreateKind::Folder), &[&root.join("_build")]),
                ev(open, &[&root.join("a.ex")]),
                ev(data, &[&root.join("notes.txt")]),
                ev(data, &[Path::new("/elsewhere/a.ex")]),
            ],
            Instant::now(),
        );
        assert_eq!(c.deadline(), None);
        assert!(c.flush().is_empty());
    }

    #[test]
    fn rescan_reports_everything_present_and_what_vanished() {
        let (_d, root) = setup(&["a.ex", "b.ex"]);
        let mut c = Collector::new(vec![root.clone()], Filter::default(), timing());
        fs::remove_file(root.join("b.ex")).unwrap();
        fs::write(root.join("c.ex"), "x").unwrap();
        let rescan = Event::new(EventKind::Other).set_flag(notify::event::Flag::Rescan);
        c.add(&[DebouncedEvent::new(rescan, Instant::now())], Instant::now());
        let batch = c.flush();
        assert_eq!(batch.changed, set(&root, &["a.ex", "c.ex"]));
        assert_eq!(batch.removed, set(&root, &["b.ex"]));
    }

    #[test]
    fn a_file_modified_within_the_quiet_period_postpones_the_batch() {
        let (_d, root) = setup(&["a.ex"]);
        let mut c = Collector::new(vec![root.clone()], Filter::default(), timing());
        let a = root.join("a.ex");
        fs::write(&a, "new").unwrap();
        let data = EventKind::Modify(ModifyKind::Data(DataChange::Any));
        let now = Instant::now();
        c.add(&[ev(data, &[&a])], now);
        let wall = fs::metadata(&a).unwrap().modified().unwrap();

        let later = wall + Duration::from_millis(40);
        assert_eq!(c.on_deadline(now, later), None);
        assert_eq!(c.deadline(), Some(now + Duration::from_millis(60)));

        let quiet = wall + Duration::from_millis(150);
        let batch = c.on_deadline(now, quiet).unwrap();
        assert_eq!(batch.changed, set(&root, &["a.ex"]));

        // Past max_delay the batch goes out however fresh the file.
        c.add(&[ev(data, &[&a])], now);
        let capped = now + Duration::from_secs(2);
        assert_eq!(c.on_deadline(capped, wall).unwrap().changed, set(&root, &["a.ex"]));
    }

    #[test]
    fn deadline_is_quiet_period_capped_by_max_delay() {
        let (_d, root) = setup(&[]);
        let mut c = Collector::new(vec![root.clone()], Filter::default(), timing());
        let t0 = Instant::now();
        let a = root.join("a.ex");
        let data = EventKind::Modify(ModifyKind::Data(DataChange::Any));
        c.add(&[DebouncedEvent::new(Event::new(data).add_path(a.clone()), t0)], t0);
        assert_eq!(c.deadline(), Some(t0 + Duration::from_millis(130)));
        let t1 = t0 + Duration::from_millis(1950);
        c.add(&[DebouncedEvent::new(Event::new(data).add_path(a), t1)], t1);
        assert_eq!(c.deadline(), Some(t0 + Duration::from_secs(2)));
    }
}
