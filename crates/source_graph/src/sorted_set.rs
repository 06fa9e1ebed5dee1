//! A set kept as a sorted vector, for the many small sets of the extracted
//! facts.

use std::borrow::Borrow;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A set of `T`, in order, stored as a sorted vector without duplicates.
///
/// The facts of a project hold one or more name sets per referenced module
/// (the calls made to it) and per defined module (what it defines); most
/// hold a few names. A `BTreeSet` allocates a whole node (11 slots, about
/// 280 bytes for strings) for its first element; this holds exactly its
/// elements. Measured with heaptrack on the bench's 2 000-module project:
/// [`crate::model::RawRef`]'s sets 4.56 MB as `BTreeSet`s. Lookups are binary
/// searches, an insert shifts the elements after it: for sets of this size
/// cheaper than a tree. (The `sorted-vec` crate's current releases need Rust
/// 1.85, above this workspace's, and look elements up by `&T` only; this type
/// is its few lines we need.)
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct SortedSet<T>(Vec<T>);

impl<T: Ord> SortedSet<T> {
    pub(crate) const fn new() -> SortedSet<T> {
        SortedSet(Vec::new())
    }

    /// Adds `value`; `false` when it was there already.
    pub(crate) fn insert(&mut self, value: T) -> bool {
        match self.0.binary_search(&value) {
            Ok(_) => false,
            Err(at) => {
                self.0.insert(at, value);
                true
            }
        }
    }

    /// Whether the set holds `value` (a `&str` for a set of `String`s).
    pub(crate) fn contains<Q>(&self, value: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.0.binary_search_by(|held| held.borrow().cmp(value)).is_ok()
    }

    /// The elements, in order.
    pub(crate) fn iter(&self) -> std::slice::Iter<'_, T> {
        self.0.iter()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn from_vec(mut values: Vec<T>) -> SortedSet<T> {
        values.sort();
        values.dedup();
        values.shrink_to_fit();
        SortedSet(values)
    }
}

impl<T: Ord> Default for SortedSet<T> {
    fn default() -> SortedSet<T> {
        SortedSet::new()
    }
}

impl<T: Ord> Extend<T> for SortedSet<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, values: I) {
        self.0.extend(values);
        // The standard sort finds the sorted run already there.
        self.0.sort();
        self.0.dedup();
    }
}

impl<T: Ord> FromIterator<T> for SortedSet<T> {
    fn from_iter<I: IntoIterator<Item = T>>(values: I) -> SortedSet<T> {
        SortedSet::from_vec(values.into_iter().collect())
    }
}

impl<T: Ord, const N: usize> From<[T; N]> for SortedSet<T> {
    fn from(values: [T; N]) -> SortedSet<T> {
        SortedSet::from_vec(values.into())
    }
}

impl<'a, T> IntoIterator for &'a SortedSet<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> std::slice::Iter<'a, T> {
        self.0.iter()
    }
}

/// A sequence, in order (as a `BTreeSet` is written).
impl<T: Serialize> Serialize for SortedSet<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(&self.0)
    }
}

/// Any sequence: sorted and deduplicated as it is read.
impl<'de, T: Deserialize<'de> + Ord> Deserialize<'de> for SortedSet<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<SortedSet<T>, D::Error> {
        Vec::deserialize(deserializer).map(SortedSet::from_vec)
    }
}

#[cfg(test)]
mod tests {
    use super::SortedSet;
    use std::collections::BTreeSet;

    /// The same operations on a `BTreeSet` and a `SortedSet` leave the same
    /// elements in the same order: inserts in every order, duplicates,
    /// extends that interleave, lookups by a borrowed form.
    #[test]
    fn behaves_as_a_btree_set() {
        let words = ["m", "a", "z", "a", "q", "", "b", "m", "zz", "Z", "é"];
        let mut tree = BTreeSet::new();
        let mut sorted = SortedSet::new();
        for word in words {
            assert_eq!(sorted.insert(word.to_owned()), tree.insert(word.to_owned()), "{word}");
            assert!(sorted.iter().eq(tree.iter()), "after {word}");
        }
        let more = ["c", "a", "zzz", "c", ""].map(str::to_owned);
        sorted.extend(more.iter().cloned());
        tree.extend(more.iter().cloned());
        assert!(sorted.iter().eq(tree.iter()));
        for probe in ["a", "c", "zzz", "", "n", "Z", "y"] {
            assert_eq!(sorted.contains(probe), tree.contains(probe), "{probe}");
        }
        let collected: SortedSet<String> = words.iter().rev().map(|w| w.to_string()).collect();
        let from_tree: SortedSet<String> = tree.iter().filter(|w| words.contains(&w.as_str())).cloned().collect();
        assert_eq!(collected, from_tree);
        assert!(SortedSet::<u8>::default().is_empty());
        assert_eq!(
            SortedSet::from([3, 1, 3, 2]).iter().copied().collect::<Vec<_>>(),
            [1, 2, 3]
        );
    }

    /// Written as a `BTreeSet` is (the facts cache's format), and read from
    /// any sequence, even an unsorted one with duplicates.
    #[test]
    fn reads_and_writes_as_a_sequence() {
        let set = SortedSet::from(["b".to_owned(), "a".to_owned()]);
        let tree: BTreeSet<String> = ["b".to_owned(), "a".to_owned()].into();
        assert_eq!(
            postcard::to_allocvec(&set).unwrap(),
            postcard::to_allocvec(&tree).unwrap()
        );
        let unsorted: SortedSet<(String, u8)> = serde_json::from_str(r#"[["b",1],["a",2],["b",1]]"#).unwrap();
        assert_eq!(
            unsorted.iter().cloned().collect::<Vec<_>>(),
            [("a".to_owned(), 2), ("b".to_owned(), 1)]
        );
    }
}
