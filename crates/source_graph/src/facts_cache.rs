//! The facts extracted from each source file, kept on disk between runs so
//! that [`crate::Index::build_cached`] parses only the files whose content
//! changed since the last run. Parsing is nearly all of an index build (about
//! 1 s for 2 000 files on 2 cores); with the cache a build of an unchanged
//! project costs reading and hashing the sources and linking the graph.
//!
//! The cache is best-effort and never trusted beyond what it proves:
//! - an entry is used only when the file's length and content digest are
//!   those it was extracted from (no modification times: a save within the
//!   same second, or a checkout that restores an old mtime, is still seen);
//! - the whole file is ignored unless its `format` equals
//!   [`fingerprint`]: a hash of this crate's version, of the extractor's own
//!   source text and of the Elixir rules in use, so facts from another build
//!   of elixir-dap or from another Elixir's rules are never reused;
//! - an unreadable, truncated or foreign file is as good as none; it is
//!   replaced by writing a temporary file and renaming it into place, so a
//!   concurrent reader sees the old file or the new one, never half of one.
//!
//! Shape (postcard, written here as JSON): `{"format": u64, "files":
//! {"lib/a.ex": {"stamp": {"len": u64, "digest": u64}, "facts": {..}}}}`,
//! keys as [`crate::Index`] keys them.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::FileFacts;
use crate::version::{ElixirVersion, Rules};

/// The sources whose text decides what [`crate::extract`] produces (every
/// file of the module but its tests): a change to any of them (a new
/// construct, a fixed kind) must invalidate old facts, even within one
/// version number.
const EXTRACTOR_SOURCES: [&str; 10] = [
    include_str!("extract/mod.rs"),
    include_str!("extract/attributes.rs"),
    include_str!("extract/calls.rs"),
    include_str!("extract/definitions.rs"),
    include_str!("extract/nodes.rs"),
    include_str!("extract/resolve.rs"),
    include_str!("extract/walker.rs"),
    include_str!("model.rs"),
    include_str!("sorted_set.rs"),
    include_str!("version.rs"),
];

/// What a cache file must carry in `format` to be used with `rules`.
///
/// The same hasher hashes the sources' contents, so a Rust release whose
/// `DefaultHasher` hashes differently yields another fingerprint and the old
/// digests are dropped with the file rather than compared.
pub(crate) fn fingerprint(rules: Rules) -> u64 {
    let mut hasher = DefaultHasher::new();
    env!("CARGO_PKG_VERSION").hash(&mut hasher);
    for source in EXTRACTOR_SOURCES {
        source.hash(&mut hasher);
    }
    format!("{rules:?}").hash(&mut hasher);
    hasher.finish()
}

/// Where the facts cache of one project lives under a per-user cache root:
/// `<cache_root>/deps-index/<digest of the project directory and source
/// roots>-<Elixir X.Y>.postcard`; one file per project, roots and Elixir
/// rules, so that sessions and `elixir-dap deps --elixir-version` runs on
/// other releases do not evict each other's. `cache_root` must be private to
/// the user (the caller checks it: whoever writes the cache steers the
/// reload planner).
pub fn index_cache_file(cache_root: &Path, project_dir: &Path, roots: &[PathBuf], elixir: ElixirVersion) -> PathBuf {
    let mut hasher = DefaultHasher::new();
    project_dir.hash(&mut hasher);
    roots.hash(&mut hasher);
    cache_root
        .join("deps-index")
        .join(format!("{:016x}-{elixir}.postcard", hasher.finish()))
}

/// What identifies the text facts were extracted from: its length in bytes
/// and a digest of its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SourceStamp {
    pub len: u64,
    pub digest: u64,
}

impl SourceStamp {
    pub(crate) fn of(source: &str) -> SourceStamp {
        let mut hasher = DefaultHasher::new();
        source.hash(&mut hasher);
        SourceStamp {
            len: source.len() as u64,
            digest: hasher.finish(),
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct CachedFile {
    pub stamp: SourceStamp,
    pub facts: FileFacts,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct FactsCache {
    format: u64,
    files: BTreeMap<PathBuf, CachedFile>,
}

/// What [`save`] writes, encoded as a [`FactsCache`] is, borrowing the facts
/// of the index instead of copying them (at 2 000 files a copy was about
/// 14 MiB of the adapter's peak memory, measured with heaptrack).
#[derive(Serialize)]
struct CacheView<'a> {
    format: u64,
    files: BTreeMap<&'a Path, CachedFileView<'a>>,
}

#[derive(Serialize)]
struct CachedFileView<'a> {
    stamp: SourceStamp,
    facts: &'a FileFacts,
}

impl FactsCache {
    /// The cache at `path` if it exists, parses and was written for `rules`;
    /// otherwise an empty one (a missing or foreign cache is no error).
    pub(crate) fn load(path: &Path, rules: Rules) -> FactsCache {
        let expected = fingerprint(rules);
        std::fs::read(path)
            .ok()
            .and_then(|bytes| postcard::from_bytes::<FactsCache>(&bytes).ok())
            .filter(|cache| cache.format == expected)
            .unwrap_or_else(|| FactsCache {
                format: expected,
                files: BTreeMap::new(),
            })
    }

    /// The facts cached for `key` if they were extracted from a text with
    /// this stamp.
    pub(crate) fn take(&mut self, key: &Path, stamp: SourceStamp) -> Option<FileFacts> {
        let entry = self.files.remove(key)?;
        (entry.stamp == stamp).then_some(entry.facts)
    }

    /// How many files the cache holds.
    pub(crate) fn len(&self) -> usize {
        self.files.len()
    }
}

/// Writes the cache of `files` (key, stamp of the text, facts extracted from
/// it) for `rules` to `path`, creating its directory, through a temporary
/// file renamed into place; the encoding goes to the file as it is made.
///
/// Errors: the directory cannot be created or the file cannot be written,
/// with the path in the message.
pub(crate) fn save<'a>(
    path: &Path,
    rules: Rules,
    files: impl Iterator<Item = (&'a Path, SourceStamp, &'a FileFacts)>,
) -> Result<(), String> {
    let view = CacheView {
        format: fingerprint(rules),
        files: files
            .map(|(key, stamp, facts)| (key, CachedFileView { stamp, facts }))
            .collect(),
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut temporary = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| format!("cannot create a temporary file in {}: {e}", dir.display()))?;
    let shown = temporary.path().display().to_string();
    postcard::to_io(&view, std::io::BufWriter::new(temporary.as_file_mut()))
        .map_err(|e| format!("cannot write {shown}: {e}"))?
        .into_inner()
        .map_err(|e| format!("cannot write {shown}: {}", e.error()))?;
    temporary
        .persist(path)
        .map_err(|e| format!("cannot write {}: {}", path.display(), e.error))?;
    Ok(())
}
