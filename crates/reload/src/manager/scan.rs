//! Scanning the project: the file metadata that stands for unchanged content
//! ([`Stamp`]), the walk of the source roots with its remembered directory
//! listings, and the files whose change needs a restart.

#[cfg(doc)]
use super::RACY_MARGIN;
use super::{Candidate, ReloadManager};
use std::cmp::Ordering;
use std::ffi::OsString;
use std::fs::Metadata;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

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
    pub(super) fn of(meta: &Metadata) -> Option<Stamp> {
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
    pub(super) fn trusted(self, limit: Option<SystemTime>) -> Option<Stamp> {
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

/// A directory's subdirectories and `.ex` files (`true` for a directory),
/// sorted by name, and its metadata when they were read.
#[derive(Debug)]
pub(super) struct Listing {
    stamp: Stamp,
    entries: Arc<[(OsString, bool)]>,
}

impl ReloadManager {
    /// Every source known, every `.ex` file now under the roots (with its
    /// metadata, taken while walking), and the files whose change needs a
    /// restart; sorted, without duplicates.
    pub(super) fn all_candidates(&mut self, limit: Option<SystemTime>) -> Vec<Candidate> {
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
        for file in self.layout.restart_files() {
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
            if is_dir && mix_layout::is_ignored_name(&name) {
                // Mix finds no source there (a hidden directory, say).
                continue;
            } else if is_dir {
                self.walk_sources(&entry.path(), &relative.join(&name), limit, out);
                listing.push((name, true));
            } else if mix_layout::is_source_file(Path::new(&name)) {
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
}

/// The metadata of `path` (following symbolic links, as reading it does).
pub(super) fn stamp_of(path: &Path) -> Option<Stamp> {
    std::fs::metadata(path).ok().as_ref().and_then(Stamp::of)
}
