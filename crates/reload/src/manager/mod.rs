//! The CodeReloadManager's memory and planner.
//!
//! It remembers every project source as it was last compiled into the VM
//! (content digest and compressed text), keeps the dependency index in step with it,
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

use mix_layout::{MixLayout, DEFAULT_MIX_ENV};
use sha2::{Digest, Sha256};
use source_graph::{index_cache_file, CacheUse, ElixirVersion, Index, Reason};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

mod scan;
#[cfg(test)]
mod tests;
mod waves;

use scan::{stamp_of, Listing, Stamp};
pub use waves::compile_waves;

type ContentDigest = [u8; 32];

/// How long after its last modification a file's metadata may stand for
/// its content (see the module doc): more than the coarsest filesystem
/// timestamp granularity (FAT's 2 s).
const RACY_MARGIN: Duration = Duration::from_secs(3);

/// A source as the VM last compiled it.
#[derive(Debug, Clone)]
struct Snapshot {
    digest: ContentDigest,
    text: StoredText,
    /// The file's metadata when `text` was read, if it can stand for the
    /// content (see the module doc); `None`: compare the content.
    stamp: Option<Stamp>,
}

/// A source's text, kept LZ4-compressed: the manager holds every source of
/// the project for the whole session (a reload's line maps and an aborted
/// plan's index read the compiled text), and only a changed file's is read
/// back. On the bench's 2 000-module project (heaptrack): 4.46 MB of text
/// as it is, 2.42 MB compressed.
#[derive(Clone)]
struct StoredText(Box<[u8]>);

impl StoredText {
    fn new(text: &str) -> StoredText {
        StoredText(lz4_flex::compress_prepend_size(text.as_bytes()).into_boxed_slice())
    }

    fn text(&self) -> Arc<str> {
        // Only `new`'s output is read: it decompresses to the UTF-8 it was.
        let bytes = lz4_flex::decompress_size_prepended(&self.0).unwrap_or_default();
        Arc::from(String::from_utf8_lossy(&bytes))
    }
}

impl std::fmt::Debug for StoredText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoredText({} bytes compressed)", self.0.len())
    }
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
    /// What the project compiles and what needs a restart.
    layout: MixLayout,
    /// `layout`'s source roots, relative to the project.
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

impl ReloadManager {
    /// Indexes the project's sources and remembers them as compiled. Call it
    /// right after the project was compiled at launch. `elixir`: the Elixir
    /// the project is compiled with (the debuggee's), whose rules decide
    /// which files a change makes Mix recompile.
    pub fn new(project_dir: &Path, elixir: ElixirVersion) -> Result<ReloadManager, String> {
        let layout = MixLayout::read(project_dir, DEFAULT_MIX_ENV);
        ReloadManager::with_racy_margin(&layout, elixir, RACY_MARGIN, None, None)
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
        let layout = MixLayout::read(project_dir, DEFAULT_MIX_ENV);
        ReloadManager::with_racy_margin(&layout, elixir, RACY_MARGIN, Some(compile_started), None)
    }

    /// [`ReloadManager::compiled_since`], building the index through the
    /// facts cache under `cache_root` (a directory private to the user, as
    /// the agent cache is), so that only the sources changed since the last
    /// session or `elixir-dap deps` run are parsed: on 2 000 modules about
    /// 0.1 s of CPU instead of 2 s, taken while the launch interprets modules.
    /// What the cache gave is in [`ReloadManager::index_cache_use`]; a cache
    /// that cannot be written costs time, never a file in the index.
    /// `layout`: the project's, for the environment it was compiled in.
    pub fn compiled_since_cached(
        layout: &MixLayout,
        elixir: ElixirVersion,
        compile_started: SystemTime,
        cache_root: &Path,
    ) -> Result<ReloadManager, String> {
        ReloadManager::with_racy_margin(layout, elixir, RACY_MARGIN, Some(compile_started), Some(cache_root))
    }

    /// What the facts cache gave the index build (files reused and parsed,
    /// a write error), or `None` when the index was built without it.
    pub fn index_cache_use(&self) -> Option<&CacheUse> {
        self.index_cache.as_ref()
    }

    fn with_racy_margin(
        layout: &MixLayout,
        elixir: ElixirVersion,
        racy_margin: Duration,
        compile_started: Option<SystemTime>,
        cache_root: Option<&Path>,
    ) -> Result<ReloadManager, String> {
        let project_dir = layout.project_dir();
        let project_dir = project_dir.canonicalize().unwrap_or_else(|_| project_dir.to_path_buf());
        let roots = layout.source_roots();
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
            layout: layout.clone(),
            roots,
            index,
            index_cache,
            sources: BTreeMap::new(),
            racy_margin,
            listings: HashMap::new(),
        };
        let files: Vec<PathBuf> = manager.index.files().map(Path::to_path_buf).collect();
        let limit = manager.trust_limit();
        for file in files.into_iter().chain(manager.layout.restart_files()) {
            let path = manager.project_dir.join(&file);
            // Metadata first: see the module doc.
            let stamp = stamp_of(&path).and_then(|s| s.trusted(limit));
            let edited_since_compile = compile_started.is_some_and(|started| {
                std::fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .is_ok_and(|modified| modified >= started)
            });
            if let Ok(text) = std::fs::read_to_string(&path) {
                let mut remembered = snapshot(&text, stamp);
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
        self.sources.get(relative).map(|s| s.text.text())
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
            if let Some(reason) = mix_layout::restart_reason(&file) {
                if !same_stamp && self.content_changed(&file, stamp) {
                    plan.restart_required.push((file, reason));
                } else {
                    plan.unchanged.push(file);
                }
                continue;
            }
            if !self.is_source(&file) {
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
                            old: old.text.text(),
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
                .insert(change.file.clone(), snapshot(&change.new, stamp(&change.file)));
        }
        for (file, text) in &plan.new {
            self.sources.insert(file.clone(), snapshot(text, stamp(file)));
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
            if let Some(old) = self.sources.get(file).map(|s| s.text.text()) {
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

    /// Whether Mix compiles `file`: a source file below one of the roots
    /// (`mix_layout::MixLayout::is_source`, with the roots already read).
    fn is_source(&self, file: &Path) -> bool {
        self.roots
            .iter()
            .any(|root| file.strip_prefix(root).is_ok_and(mix_layout::is_source_file))
    }
}

/// Modules that load native code are not reloaded: a NIF library stays
/// bound to the module version that loaded it.
fn nif_reason(text: &str) -> Option<String> {
    text.contains("load_nif")
        .then(|| "the module loads native code (a NIF): restart the session to apply it".into())
}

/// The digest of a source whose compiled content is not known: no content
/// has it, so the next plan sees the file as changed.
const NOT_COMPILED: ContentDigest = [0; 32];

fn snapshot(text: &str, stamp: Option<Stamp>) -> Snapshot {
    Snapshot {
        digest: digest(text),
        text: StoredText::new(text),
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
