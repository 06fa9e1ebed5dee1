//! The CodeReloadManager's memory and planner.
//!
//! It remembers every project source as it was last compiled into the VM
//! (content digest and text), keeps the dependency index in step with it,
//! and turns a request ("these files, or everything, changed") into a
//! [`Plan`]: which files changed by content (never by mtime alone; see
//! below), which are new or deleted, which files the change forces to
//! recompile by Mix's rules, and which changes cannot be applied without a
//! restart. Executing the plan
//! in the VM is the adapter's job; it then [commits](ReloadManager::commit)
//! the plan, or [aborts](ReloadManager::abort) it, which puts the index back.
//!
//! # How a change is detected
//! Content decides: a file changed when its SHA-256 digest differs from the
//! compiled one's, so a file saved again with the same bytes is unchanged,
//! and two saves within one second are two changes (Mix on Elixir 1.14
//! compares mtimes in whole seconds and misses the second one).
//!
//! Reading and hashing every source would make a full scan cost the whole
//! project's bytes (~20 ms at 2 000 modules), so each snapshot also keeps
//! the file's metadata as it was when its content was read: size,
//! modification and status-change times at full (nanosecond) precision,
//! inode and device. When a file's metadata is identical to that, it is
//! taken as unchanged without being read; otherwise it is read and its
//! digest compared (and, when equal, the new metadata remembered: a touched
//! file stays unchanged and costs one read). Two rules keep this safe:
//! - the metadata is taken *before* the content is read, so a write racing
//!   the read changes the metadata after the one remembered;
//! - metadata is remembered only for files last modified (and whose status
//!   last changed) more than [`RACY_MARGIN`] before it was taken. Filesystems stamp times with a
//!   coarse clock (a few milliseconds on Linux, up to 2 s elsewhere): two
//!   same-size writes within one tick get identical metadata, and a read
//!   between them would pin the first content. A file written that
//!   recently is read and compared on every scan until it is older.
//!
//! The status-change time (which no program can set back) catches a
//! rewrite whose modification time was restored (`touch -d`, `cp -p`); a
//! new inode catches an editor's write-and-rename.
//!
//! A full scan walks the source roots, reusing a directory's remembered
//! listing while the directory's own metadata are unchanged (an entry
//! added, removed or renamed changes them; same rules as for files), so it
//! costs one `stat` per source and per directory (~3 ms for 2 000 sources)
//! and reads only the directories and files whose metadata moved.

use elixir_dap_deps::{default_roots, index_cache_file, CacheUse, ElixirVersion, Index, Reason};
use sha2::{Digest, Sha256};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ffi::OsString;
use std::fs::Metadata;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

type ContentDigest = [u8; 32];

/// How long after its last modification a file's metadata may stand for
/// its content (see the module doc): more than the coarsest filesystem
/// timestamp granularity (FAT's 2 s).
const RACY_MARGIN: Duration = Duration::from_secs(3);

/// A source as the VM last compiled it.
#[derive(Debug, Clone)]
struct Snapshot {
    digest: ContentDigest,
    text: Arc<str>,
    /// The file's metadata when `text` was read, if it can stand for the
    /// content (see the module doc); `None`: compare the content.
    stamp: Option<Stamp>,
}

impl Snapshot {
    /// Whether `now` is the remembered (trusted) metadata.
    fn stamp_matches(&self, now: Option<Stamp>) -> bool {
        self.stamp.is_some() && self.stamp == now
    }
}

/// A file a plan considers.
struct Candidate {
    /// Relative to the project directory.
    file: PathBuf,
    /// Its metadata, when `walked`.
    stamp: Option<Stamp>,
    /// Whether the scan of the source roots found it (and took `meta`).
    walked: bool,
    /// Whether `meta` is the snapshot's trusted metadata.
    same_stamp: bool,
}

impl Candidate {
    fn new(file: PathBuf) -> Candidate {
        Candidate {
            file,
            stamp: None,
            walked: false,
            same_stamp: false,
        }
    }
}

/// The metadata of a file that, unchanged, means unchanged content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    len: u64,
    modified: SystemTime,
    #[cfg(unix)]
    changed: (i64, i64),
    #[cfg(unix)]
    inode: (u64, u64),
}

impl Stamp {
    /// The stamp of `meta`, whatever its age; `None` where the platform has
    /// no modification time.
    fn of(meta: &Metadata) -> Option<Stamp> {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt;
        Some(Stamp {
            len: meta.len(),
            modified: meta.modified().ok()?,
            #[cfg(unix)]
            changed: (meta.ctime(), meta.ctime_nsec()),
            #[cfg(unix)]
            inode: (meta.dev(), meta.ino()),
        })
    }

    /// The stamp to remember for content read after this one was taken:
    /// none unless the file was modified (and its status changed) before
    /// `limit`, [`RACY_MARGIN`] before the stamp was taken.
    fn trusted(self, limit: Option<SystemTime>) -> Option<Stamp> {
        let stamp = self;
        let limit = limit?;
        #[cfg(unix)]
        {
            let (secs, nanos) = stamp.changed;
            let changed = u64::try_from(secs)
                .ok()
                .map(|s| SystemTime::UNIX_EPOCH + Duration::new(s, u32::try_from(nanos).unwrap_or(0)));
            match changed {
                Some(changed) if changed < limit => {}
                _ => return None,
            }
        }
        (stamp.modified < limit).then_some(stamp)
    }
}

/// What a request asks to consider.
#[derive(Debug, Clone, Default)]
pub struct PlanRequest {
    /// Files to consider (absolute, or relative to the project); `None`
    /// means every source of the project.
    pub files: Option<Vec<PathBuf>>,
    /// Modules (Elixir names, `MyApp.User`) to recompile even if unchanged.
    pub modules: Vec<String>,
}

/// A file to compile and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedCompile {
    /// Relative to the project directory.
    pub file: PathBuf,
    pub reason: String,
    pub module: Option<String>,
}

/// A source whose content changed: both versions, for moving breakpoints.
#[derive(Debug, Clone)]
pub struct ChangedSource {
    pub file: PathBuf,
    pub old: Arc<str>,
    pub new: Arc<str>,
}

#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub compile: Vec<PlannedCompile>,
    pub changed: Vec<ChangedSource>,
    /// New files, with their content.
    pub new: Vec<(PathBuf, Arc<str>)>,
    /// Deleted files and the modules (Elixir names) they defined.
    pub deleted: Vec<(PathBuf, Vec<String>)>,
    pub unchanged: Vec<PathBuf>,
    /// Files that cannot be reloaded, and why a restart is needed.
    pub restart_required: Vec<(PathBuf, String)>,
    /// Files named by the request that are not sources of the project.
    pub ignored: Vec<(PathBuf, String)>,
    /// Modules not found in the project (from `PlanRequest::modules`).
    pub unknown_modules: Vec<String>,
    /// Modules (Elixir names) the index expects the compiled files to
    /// define, before and after the change.
    pub expected_modules: BTreeSet<String>,
    /// Set when the index could not parse a file of the plan: its answer
    /// may miss dependents.
    pub parse_errors: Vec<String>,
    /// `compile` in the order to compile it: each wave only after the
    /// previous one is loaded (see [`compile_waves`]).
    pub waves: Vec<Vec<PathBuf>>,
    /// The metadata of the changed and new files, taken before their
    /// content was read, for [`ReloadManager::commit`].
    stamps: BTreeMap<PathBuf, Option<Stamp>>,
}

impl Plan {
    /// Whether there is anything to do in the VM.
    pub fn is_empty(&self) -> bool {
        self.compile.is_empty() && self.deleted.is_empty()
    }
}

#[derive(Debug)]
pub struct ReloadManager {
    project_dir: PathBuf,
    roots: Vec<PathBuf>,
    index: Index,
    /// Keyed by path relative to the project directory.
    sources: BTreeMap<PathBuf, Snapshot>,
    /// [`RACY_MARGIN`], but for tests.
    racy_margin: Duration,
    /// Directories of the source roots as last listed, by path relative to
    /// the project (see [`ReloadManager::walk_sources`]).
    listings: HashMap<PathBuf, Listing>,
    /// What the facts cache gave the index build, when one was used.
    index_cache: Option<CacheUse>,
}

/// A directory's subdirectories and `.ex` files (`true` for a directory),
/// sorted by name, and its metadata when they were read.
#[derive(Debug)]
struct Listing {
    stamp: Stamp,
    entries: Arc<[(OsString, bool)]>,
}

impl ReloadManager {
    /// Indexes the project's sources and remembers them as compiled. Call it
    /// right after the project was compiled at launch. `elixir`: the Elixir
    /// the project is compiled with (the debuggee's), whose rules decide
    /// which files a change makes Mix recompile.
    pub fn new(project_dir: &Path, elixir: ElixirVersion) -> Result<ReloadManager, String> {
        ReloadManager::with_racy_margin(project_dir, elixir, RACY_MARGIN, None, None)
    }

    /// Like [`ReloadManager::new`], for sources compiled by a compile that
    /// started at `compile_started`: a file modified since may hold an edit
    /// the VM does not run (saved while the project compiled or while this
    /// index was built), so it is remembered as not compiled and the next
    /// reload compiles it.
    pub fn compiled_since(
        project_dir: &Path,
        elixir: ElixirVersion,
        compile_started: SystemTime,
    ) -> Result<ReloadManager, String> {
        ReloadManager::with_racy_margin(project_dir, elixir, RACY_MARGIN, Some(compile_started), None)
    }

    /// [`ReloadManager::compiled_since`], building the index through the
    /// facts cache under `cache_root` (a directory private to the user, as
    /// the agent cache is), so that only the sources changed since the last
    /// session or `elixir-dap deps` run are parsed: on 2 000 modules about
    /// 0.1 s of CPU instead of 2 s, taken while the launch interprets modules.
    /// What the cache gave is in [`ReloadManager::index_cache_use`]; a cache
    /// that cannot be written costs time, never a file in the index.
    pub fn compiled_since_cached(
        project_dir: &Path,
        elixir: ElixirVersion,
        compile_started: SystemTime,
        cache_root: &Path,
    ) -> Result<ReloadManager, String> {
        ReloadManager::with_racy_margin(
            project_dir,
            elixir,
            RACY_MARGIN,
            Some(compile_started),
            Some(cache_root),
        )
    }

    /// What the facts cache gave the index build (files reused and parsed,
    /// a write error), or `None` when the index was built without it.
    pub fn index_cache_use(&self) -> Option<&CacheUse> {
        self.index_cache.as_ref()
    }

    fn with_racy_margin(
        project_dir: &Path,
        elixir: ElixirVersion,
        racy_margin: Duration,
        compile_started: Option<SystemTime>,
        cache_root: Option<&Path>,
    ) -> Result<ReloadManager, String> {
        let project_dir = project_dir.canonicalize().unwrap_or_else(|_| project_dir.to_path_buf());
        let roots = default_roots(&project_dir);
        let index = match cache_root {
            Some(root) => {
                let cache_file = index_cache_file(root, &project_dir, &roots, elixir);
                let (index, used) =
                    Index::build_cached(&project_dir, &roots, elixir, &cache_file).map_err(|e| e.to_string())?;
                (index, Some(used))
            }
            None => (
                Index::build(&project_dir, &roots, elixir).map_err(|e| e.to_string())?,
                None,
            ),
        };
        let (index, index_cache) = index;
        let mut manager = ReloadManager {
            project_dir,
            roots,
            index,
            index_cache,
            sources: BTreeMap::new(),
            racy_margin,
            listings: HashMap::new(),
        };
        let files: Vec<PathBuf> = manager.index.files().map(Path::to_path_buf).collect();
        let limit = manager.trust_limit();
        for file in files.into_iter().chain(manager.restart_files()) {
            let path = manager.project_dir.join(&file);
            // Metadata first: see the module doc.
            let stamp = stamp_of(&path).and_then(|s| s.trusted(limit));
            let edited_since_compile = compile_started.is_some_and(|started| {
                std::fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .is_ok_and(|modified| modified >= started)
            });
            if let Ok(text) = std::fs::read_to_string(&path) {
                let mut remembered = snapshot(Arc::from(text), stamp);
                if edited_since_compile {
                    remembered.digest = NOT_COMPILED;
                    remembered.stamp = None;
                }
                manager.sources.insert(file, remembered);
            }
        }
        Ok(manager)
    }

    pub fn project_dir(&self) -> &Path {
        &self.project_dir
    }

    pub fn index(&self) -> &Index {
        &self.index
    }

    /// The source roots, absolute.
    pub fn roots(&self) -> Vec<PathBuf> {
        self.roots.iter().map(|r| self.project_dir.join(r)).collect()
    }

    /// The path relative to the project, if it is inside it.
    pub fn relative(&self, path: &Path) -> Option<PathBuf> {
        if path.is_absolute() {
            let canonical = canonical_lenient(path);
            canonical.strip_prefix(&self.project_dir).ok().map(normalize)
        } else {
            Some(normalize(path))
        }
    }

    pub fn absolute(&self, relative: &Path) -> PathBuf {
        self.project_dir.join(relative)
    }

    /// The text of a source as last compiled.
    pub fn compiled_text(&self, relative: &Path) -> Option<Arc<str>> {
        self.sources.get(relative).map(|s| s.text.clone())
    }

    /// Plans a reload. The index is updated to the new sources; the caller
    /// must [commit](Self::commit) or [abort](Self::abort) the plan.
    pub fn plan(&mut self, request: &PlanRequest) -> Plan {
        let mut plan = Plan::default();
        let limit = self.trust_limit();
        let candidates: Vec<Candidate> = match &request.files {
            Some(files) => files
                .iter()
                .filter_map(|f| match self.relative(f) {
                    Some(relative) => Some(relative),
                    None => {
                        plan.restart_required.push((
                            f.clone(),
                            "outside the project (a dependency?): restart the session to use the change".into(),
                        ));
                        None
                    }
                })
                .collect::<BTreeSet<PathBuf>>()
                .into_iter()
                .map(Candidate::new)
                .collect(),
            None => self.all_candidates(limit),
        };
        let mut changed_paths: Vec<PathBuf> = Vec::new();
        for candidate in candidates {
            let Candidate {
                file,
                stamp,
                walked,
                same_stamp,
            } = candidate;
            if same_stamp {
                // The fast path: see the module doc.
                plan.unchanged.push(file);
                continue;
            }
            let path = self.project_dir.join(&file);
            let now = if walked { stamp } else { stamp_of(&path) };
            let same_stamp = self.sources.get(&file).is_some_and(|s| s.stamp_matches(now));
            let stamp = now.and_then(|s| s.trusted(limit));
            if let Some(reason) = restart_reason(&file) {
                if !same_stamp && self.content_changed(&file, stamp) {
                    plan.restart_required.push((file, reason));
                } else {
                    plan.unchanged.push(file);
                }
                continue;
            }
            if !self.in_roots(&file) || !is_compiled_source(&file) {
                plan.ignored.push((
                    file,
                    "not a source Mix compiles (outside the source roots, or not .ex)".into(),
                ));
                continue;
            }
            if same_stamp {
                plan.unchanged.push(file);
                continue;
            }
            let on_disk = std::fs::read_to_string(&path).ok();
            match (self.sources.get_mut(&file), on_disk) {
                (Some(_), None) => {
                    let modules = self.index.modules_in(&file).iter().map(|m| m.name.clone()).collect();
                    plan.deleted.push((file.clone(), modules));
                    changed_paths.push(file);
                }
                (None, None) => plan.ignored.push((file, "no such file".into())),
                (Some(old), Some(text)) => {
                    if digest(&text) == old.digest {
                        // Touched, or written back: the content is the
                        // compiled one, and these metadata say so now.
                        old.stamp = stamp;
                        plan.unchanged.push(file);
                    } else if let Some(reason) = nif_reason(&text) {
                        plan.restart_required.push((file, reason));
                    } else {
                        plan.changed.push(ChangedSource {
                            file: file.clone(),
                            old: old.text.clone(),
                            new: Arc::from(text),
                        });
                        plan.stamps.insert(file.clone(), stamp);
                        changed_paths.push(file);
                    }
                }
                (None, Some(text)) => {
                    if let Some(reason) = nif_reason(&text) {
                        plan.restart_required.push((file, reason));
                    } else {
                        plan.new.push((file.clone(), Arc::from(text)));
                        plan.stamps.insert(file.clone(), stamp);
                        changed_paths.push(file);
                    }
                }
            }
        }
        let mut forced = Vec::new();
        for module in &request.modules {
            let name = module.strip_prefix("Elixir.").unwrap_or(module);
            match self.index.file_of(name) {
                Some(file) => forced.push(file.to_path_buf()),
                None => plan.unknown_modules.push(module.clone()),
            }
        }
        if !plan.restart_required.is_empty() {
            // Nothing is half-applied: the caller reports and stops.
            return plan;
        }

        // Modules the changed files defined before the change.
        for path in changed_paths.iter().chain(&forced) {
            plan.expected_modules
                .extend(self.index.modules_in(path).iter().map(|m| m.name.clone()));
        }
        for change in &plan.changed {
            self.update_index(&change.file, &change.new);
        }
        for (file, text) in &plan.new {
            self.update_index(file, text);
        }
        let mut query = changed_paths.clone();
        query.extend(forced.iter().cloned());
        let affected = self.index.affected(&query);
        let deleted: BTreeSet<&PathBuf> = plan.deleted.iter().map(|(f, _)| f).collect();
        let forced_set: BTreeSet<&PathBuf> = forced.iter().collect();
        for recompile in &affected.recompile {
            if deleted.contains(&recompile.path) {
                continue;
            }
            let (reason, module) = match &recompile.reason {
                Reason::Changed if forced_set.contains(&recompile.path) && !changed_paths.contains(&recompile.path) => {
                    ("forced".to_owned(), None)
                }
                Reason::Changed if plan.new.iter().any(|(f, _)| f == &recompile.path) => ("new".to_owned(), None),
                Reason::Changed => ("changed".to_owned(), None),
                Reason::Compile { module, .. } => ("compile".to_owned(), Some(module.clone())),
                Reason::Export { module, .. } => ("export".to_owned(), Some(module.clone())),
            };
            plan.compile.push(PlannedCompile {
                file: recompile.path.clone(),
                reason,
                module,
            });
        }
        plan.expected_modules
            .extend(affected.modules.iter().map(|m| m.name.clone()));
        plan.parse_errors = affected
            .parse_errors
            .iter()
            .map(|e| format!("{}:{}: {}", e.path.display(), e.line, e.message))
            .collect();
        for (file, _) in &plan.deleted {
            self.index.remove_file(file);
        }
        plan.waves = compile_waves(
            &self.index,
            &plan.compile.iter().map(|c| c.file.clone()).collect::<Vec<_>>(),
        );
        plan
    }

    /// The plan was carried out: its sources are now the compiled ones.
    pub fn commit(&mut self, plan: &Plan) {
        let stamp = |file: &PathBuf| plan.stamps.get(file).copied().flatten();
        for change in &plan.changed {
            self.sources
                .insert(change.file.clone(), snapshot(change.new.clone(), stamp(&change.file)));
        }
        for (file, text) in &plan.new {
            self.sources.insert(file.clone(), snapshot(text.clone(), stamp(file)));
        }
        for (file, _) in &plan.deleted {
            self.sources.remove(file);
        }
    }

    /// The plan was not carried out: the index goes back to the compiled
    /// sources, so the next plan sees the same changes again.
    pub fn abort(&mut self, plan: &Plan) {
        for change in &plan.changed {
            self.update_index(&change.file, &change.old);
        }
        for (file, _) in &plan.new {
            self.index.remove_file(file);
        }
        for (file, _) in &plan.deleted {
            if let Some(old) = self.sources.get(file).map(|s| s.text.clone()) {
                self.update_index(file, &old);
            }
        }
    }

    /// Files modified since this instant are read on every scan; call it
    /// before taking any metadata (see the module doc).
    fn trust_limit(&self) -> Option<SystemTime> {
        SystemTime::now().checked_sub(self.racy_margin)
    }

    fn update_index(&mut self, file: &Path, text: &str) {
        // The index only fails to update when the grammar cannot load, which
        // Index::build would have failed on already.
        let _ = self.index.update_file(file, text);
    }

    /// Whether a file's content differs from its snapshot; when it does
    /// not, `stamp` (taken before the read) is remembered for it.
    fn content_changed(&mut self, file: &Path, stamp: Option<Stamp>) -> bool {
        let on_disk = std::fs::read(self.project_dir.join(file)).ok();
        match (self.sources.get_mut(file), on_disk) {
            (Some(old), Some(bytes)) => {
                let changed = digest_bytes(&bytes) != old.digest;
                if !changed {
                    old.stamp = stamp;
                }
                changed
            }
            (None, None) => false,
            _ => true,
        }
    }

    fn in_roots(&self, file: &Path) -> bool {
        self.roots.iter().any(|root| file.starts_with(root))
    }

    /// Every source known, every `.ex` file now under the roots (with its
    /// metadata, taken while walking), and the files whose change needs a
    /// restart; sorted, without duplicates.
    fn all_candidates(&mut self, limit: Option<SystemTime>) -> Vec<Candidate> {
        let mut walked = Vec::new();
        for root in self.roots.clone() {
            let dir = self.project_dir.join(&root);
            self.walk_sources(&dir, &root, limit, &mut walked);
        }
        // Each walk is in path order; roots may not be.
        if !walked.windows(2).all(|w| w[0].0 < w[1].0) {
            walked.sort_by(|a, b| a.0.cmp(&b.0));
            walked.dedup_by(|a, b| a.0 == b.0);
        }
        // Merge with the known sources, both sorted.
        let mut all = Vec::with_capacity(walked.len().max(self.sources.len()) + 8);
        let mut known = self.sources.iter().peekable();
        let mut walked = walked.into_iter().peekable();
        loop {
            let order = match (known.peek(), walked.peek()) {
                (None, None) => break,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some((k, _)), Some((w, _))) => k.as_path().cmp(w),
            };
            let snapshot = match order {
                Ordering::Less => {
                    all.extend(known.next().map(|(k, _)| Candidate::new(k.clone())));
                    continue;
                }
                Ordering::Equal => known.next().map(|(_, s)| s),
                Ordering::Greater => None,
            };
            all.extend(walked.next().map(|(file, stamp)| Candidate {
                same_stamp: snapshot.is_some_and(|s| s.stamp_matches(stamp)),
                file,
                stamp,
                walked: true,
            }));
        }
        for file in self.restart_files() {
            if let Err(at) = all.binary_search_by(|c| c.file.as_path().cmp(&file)) {
                all.insert(at, Candidate::new(file));
            }
        }
        all
    }

    /// The `.ex` files under `dir` (whose path relative to the project is
    /// `relative`), with their metadata (following symbolic links, as
    /// reading them does), in the order of `Path`'s `Ord`: a directory's
    /// entries sorted by name, depth first.
    ///
    /// A directory's listing (its subdirectories and `.ex` files) is
    /// remembered with its metadata, under the rules of the module doc:
    /// adding, removing or renaming an entry changes a directory's
    /// modification time, so while its metadata stay the same the listing
    /// is reused without reading the directory. A directory holding a
    /// symbolic link is always read (what the link points to may change).
    /// A listing read now is walked with each file's metadata taken
    /// relative to its directory. So the walk costs one `stat` per source
    /// and per directory, and reads only the directories that changed.
    fn walk_sources(
        &mut self,
        dir: &Path,
        relative: &Path,
        limit: Option<SystemTime>,
        out: &mut Vec<(PathBuf, Option<Stamp>)>,
    ) {
        // Metadata before the listing: see the module doc.
        let stamp = stamp_of(dir);
        if let Some(listing) = self.listings.get(relative).filter(|l| Some(l.stamp) == stamp) {
            let entries = listing.entries.clone();
            for (name, is_dir) in entries.iter() {
                if *is_dir {
                    self.walk_sources(&dir.join(name), &relative.join(name), limit, out);
                } else {
                    out.push((relative.join(name), stamp_of(&dir.join(name))));
                }
            }
            return;
        }
        self.listings.remove(relative);
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        let mut entries: Vec<(OsString, std::fs::DirEntry)> = entries.flatten().map(|e| (e.file_name(), e)).collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut listing = Vec::new();
        let mut cacheable = true;
        for (name, entry) in entries {
            let Ok(kind) = entry.file_type() else {
                cacheable = false;
                continue;
            };
            let (is_dir, meta) = if kind.is_symlink() {
                cacheable = false;
                let meta = std::fs::metadata(entry.path()).ok();
                (meta.as_ref().is_some_and(Metadata::is_dir), meta)
            } else {
                (kind.is_dir(), None)
            };
            if is_dir {
                self.walk_sources(&entry.path(), &relative.join(&name), limit, out);
                listing.push((name, true));
            } else if is_compiled_source(Path::new(&name)) {
                let meta = meta.or_else(|| entry.metadata().ok());
                out.push((relative.join(&name), meta.as_ref().and_then(Stamp::of)));
                listing.push((name, false));
            }
        }
        if let Some(stamp) = stamp.and_then(|s| s.trusted(limit)).filter(|_| cacheable) {
            self.listings.insert(
                relative.to_path_buf(),
                Listing {
                    stamp,
                    entries: listing.into(),
                },
            );
        }
    }

    /// `mix.exs` and `config/*.exs` of the project and of umbrella apps.
    fn restart_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        let mut dirs = vec![PathBuf::new()];
        if let Ok(apps) = std::fs::read_dir(self.project_dir.join("apps")) {
            for app in apps.flatten() {
                if let Ok(relative) = app.path().strip_prefix(&self.project_dir) {
                    dirs.push(relative.to_path_buf());
                }
            }
        }
        for dir in dirs {
            let mix = dir.join("mix.exs");
            if self.project_dir.join(&mix).is_file() {
                files.push(mix);
            }
            if let Ok(entries) = std::fs::read_dir(self.project_dir.join(&dir).join("config")) {
                for entry in entries.flatten() {
                    let path = entry.path();
                    if path.extension().is_some_and(|e| e == "exs") {
                        if let Ok(relative) = path.strip_prefix(&self.project_dir) {
                            files.push(relative.to_path_buf());
                        }
                    }
                }
            }
        }
        files
    }
}

/// Orders the files of a batch for compiling. Elixir's compiler uses a
/// module that is loaded as it is: a file that needs another batch file's
/// module at compile time (its macros, its struct) must be compiled after
/// the new version of that module is loaded, or it would expand the old
/// macro. Each file goes one wave after the latest batch file it depends on
/// at compile time (compile or export references); files in one wave are
/// compiled in parallel. A dependency cycle, which Elixir itself rejects,
/// is cut at the file seen first.
pub fn compile_waves(index: &Index, files: &[PathBuf]) -> Vec<Vec<PathBuf>> {
    let in_batch: HashSet<&Path> = files.iter().map(PathBuf::as_path).collect();
    // Sorted, so that a cycle is cut where it always was.
    let prerequisites: HashMap<&Path, BTreeSet<&Path>> = files
        .iter()
        .map(|file| {
            let needs = index
                .resolved_references(file)
                .into_iter()
                .flatten()
                .filter(|(_, kinds)| kinds.compile || kinds.export)
                .filter_map(|(module, _)| index.file_of(module))
                .filter(|target| *target != file.as_path() && in_batch.contains(target))
                .collect();
            (file.as_path(), needs)
        })
        .collect();
    let mut wave_of: HashMap<&Path, usize> = HashMap::new();
    fn depth<'a>(
        file: &'a Path,
        prerequisites: &HashMap<&'a Path, BTreeSet<&'a Path>>,
        wave_of: &mut HashMap<&'a Path, usize>,
        visiting: &mut HashSet<&'a Path>,
    ) -> usize {
        if let Some(wave) = wave_of.get(file) {
            return *wave;
        }
        if !visiting.insert(file) {
            return 0;
        }
        let wave = prerequisites
            .get(file)
            .into_iter()
            .flatten()
            .map(|needed| depth(needed, prerequisites, wave_of, visiting) + 1)
            .max()
            .unwrap_or(0);
        visiting.remove(file);
        wave_of.insert(file, wave);
        wave
    }
    let mut waves: Vec<Vec<PathBuf>> = Vec::new();
    for file in files {
        let wave = depth(file, &prerequisites, &mut wave_of, &mut HashSet::new());
        if waves.len() <= wave {
            waves.resize(wave + 1, Vec::new());
        }
        waves[wave].push(file.clone());
    }
    waves.retain(|w| !w.is_empty());
    waves
}

/// Why a change to this file cannot be reloaded, if it cannot.
fn restart_reason(file: &Path) -> Option<String> {
    let name = file.file_name()?.to_string_lossy();
    let under = |dir: &str| file.components().any(|c| c.as_os_str() == dir);
    if name == "mix.exs" {
        Some("the project definition changed (mix.exs): restart the session to apply it".into())
    } else if under("config") && name.ends_with(".exs") {
        Some("the configuration changed: restart the session to apply it".into())
    } else if under("deps") {
        Some("a dependency changed: restart the session to apply it".into())
    } else {
        None
    }
}

/// Modules that load native code are not reloaded: a NIF library stays
/// bound to the module version that loaded it.
fn nif_reason(text: &str) -> Option<String> {
    text.contains("load_nif")
        .then(|| "the module loads native code (a NIF): restart the session to apply it".into())
}

fn is_compiled_source(file: &Path) -> bool {
    file.extension().is_some_and(|e| e == "ex")
}

/// The digest of a source whose compiled content is not known: no content
/// has it, so the next plan sees the file as changed.
const NOT_COMPILED: ContentDigest = [0; 32];

fn snapshot(text: Arc<str>, stamp: Option<Stamp>) -> Snapshot {
    Snapshot {
        digest: digest(&text),
        text,
        stamp,
    }
}

fn digest(text: &str) -> ContentDigest {
    digest_bytes(text.as_bytes())
}

fn digest_bytes(bytes: &[u8]) -> ContentDigest {
    Sha256::digest(bytes).into()
}

/// Canonicalises what exists of a path (a deleted file's directory still
/// resolves symlinks).
fn canonical_lenient(path: &Path) -> PathBuf {
    if let Ok(canonical) = path.canonicalize() {
        return canonical;
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => canonical_lenient(parent).join(name),
        _ => path.to_path_buf(),
    }
}

fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The metadata of `path` (following symbolic links, as reading it does).
fn stamp_of(path: &Path) -> Option<Stamp> {
    std::fs::metadata(path).ok().as_ref().and_then(Stamp::of)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The planner's tests hold on every release's rules (they use no
    /// construct whose kind changed); the rules are the index's tests.
    const ELIXIR: ElixirVersion = ElixirVersion::new(1, 14);

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
        let mut manager = ReloadManager::with_racy_margin(dir.path(), ELIXIR, Duration::ZERO, None, None).unwrap();
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
        let mut manager = ReloadManager::with_racy_margin(dir.path(), ELIXIR, Duration::ZERO, None, None).unwrap();
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
        let mut manager = ReloadManager::with_racy_margin(dir.path(), ELIXIR, Duration::ZERO, None, None).unwrap();
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
        let mut manager = ReloadManager::with_racy_margin(dir.path(), ELIXIR, Duration::ZERO, None, None).unwrap();
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
        let mut manager = ReloadManager::with_racy_margin(dir.path(), ELIXIR, Duration::ZERO, None, None).unwrap();
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
        let first = ReloadManager::compiled_since_cached(dir.path(), ELIXIR, compile_started, cache.path()).unwrap();
        let used = first.index_cache_use().unwrap();
        assert_eq!((used.reused, used.parsed, used.write_error.as_deref()), (0, 3, None));
        // The next session reuses every file's facts...
        let second = ReloadManager::compiled_since_cached(dir.path(), ELIXIR, compile_started, cache.path()).unwrap();
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
            ReloadManager::compiled_since_cached(dir.path(), ELIXIR, compile_started, cache.path()).unwrap();
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
}
