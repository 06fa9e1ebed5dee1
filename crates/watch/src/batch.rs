//! What the watcher delivers: the sources that changed and those that went away.

use std::collections::BTreeSet;
use std::path::PathBuf;

/// The net effect of the changes seen during one quiet period.
///
/// Paths are absolute and start with a canonical watched root. A path is never in both
/// sets: what is on disk when the batch is made decides (a file that exists is
/// `changed`, whatever happened to it before).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    /// Sources created or modified (including saves through a rename over the file).
    pub changed: BTreeSet<PathBuf>,
    /// Sources that existed before (at start, or in an earlier batch) and are gone.
    pub removed: BTreeSet<PathBuf>,
}

impl Batch {
    /// True when the batch reports nothing.
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.removed.is_empty()
    }

    /// Number of paths in the batch.
    pub fn len(&self) -> usize {
        self.changed.len() + self.removed.len()
    }

    /// Folds a later batch into this one, as the reload manager does with the batches
    /// that arrive while a reload runs. The later batch wins for a path it mentions.
    pub fn merge(&mut self, later: Batch) {
        for path in later.changed {
            self.removed.remove(&path);
            self.changed.insert(path);
        }
        for path in later.removed {
            self.changed.remove(&path);
            self.removed.insert(path);
        }
    }

    /// Every path in the batch, changed first.
    pub fn paths(&self) -> impl Iterator<Item = &PathBuf> {
        self.changed.iter().chain(self.removed.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(changed: &[&str], removed: &[&str]) -> Batch {
        Batch {
            changed: changed.iter().map(PathBuf::from).collect(),
            removed: removed.iter().map(PathBuf::from).collect(),
        }
    }

    #[test]
    fn merge_unions_disjoint_batches() {
        let mut a = batch(&["/l/a.ex"], &["/l/b.ex"]);
        a.merge(batch(&["/l/c.ex"], &["/l/d.ex"]));
        assert_eq!(a, batch(&["/l/a.ex", "/l/c.ex"], &["/l/b.ex", "/l/d.ex"]));
        assert_eq!(a.len(), 4);
    }

    #[test]
    fn merge_later_state_wins() {
        let mut a = batch(&["/l/a.ex"], &["/l/b.ex"]);
        a.merge(batch(&["/l/b.ex"], &["/l/a.ex"]));
        assert_eq!(a, batch(&["/l/b.ex"], &["/l/a.ex"]));
    }

    #[test]
    fn merge_with_empty_is_identity() {
        let mut a = batch(&["/l/a.ex"], &[]);
        a.merge(Batch::default());
        assert_eq!(a, batch(&["/l/a.ex"], &[]));
        let mut e = Batch::default();
        assert!(e.is_empty());
        e.merge(a.clone());
        assert_eq!(e, a);
        assert_eq!(e.paths().count(), 1);
    }
}
