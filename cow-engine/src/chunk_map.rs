//! The exception lookup (origin chunk → COW chunk) of a loaded store.
//!
//! A store is loaded far more often than it changes, and a loaded store
//! can hold millions of records, so the lookup is a vector sorted by
//! origin chunk (built with one sort of the records, binary-searched),
//! with a small hash map for exceptions added afterwards. The kernel's
//! rule that the first record for an origin chunk wins is kept: the sort
//! is stable and later duplicates are dropped.

use crate::exception_store::Exception;
use std::collections::HashMap;

/// A COW chunk of 0 never holds data (chunk 0 is the header): it marks an
/// exception removed from the sorted part.
const REMOVED: u64 = 0;

/// Origin chunk → COW chunk.
#[derive(Debug, Clone, Default)]
pub struct ChunkMap {
    /// Sorted by origin chunk, one entry per origin chunk.
    sorted: Vec<(u64, u64)>,
    /// Exceptions added after loading.
    added: HashMap<u64, u64>,
    len: usize,
}

impl ChunkMap {
    /// The lookup of `records` in disk order; the first record of an
    /// origin chunk wins.
    pub fn from_records(records: &[Exception]) -> ChunkMap {
        let mut sorted: Vec<(u64, u64)> = records
            .iter()
            .filter(|e| e.new != REMOVED)
            .map(|e| (e.old, e.new))
            .collect();
        sorted.sort_by_key(|&(old, _)| old);
        sorted.dedup_by_key(|&mut (old, _)| old);
        let len = sorted.len();
        ChunkMap {
            sorted,
            added: HashMap::new(),
            len,
        }
    }

    fn slot(&self, old: u64) -> Option<usize> {
        self.sorted.binary_search_by_key(&old, |&(o, _)| o).ok()
    }

    /// The COW chunk holding origin chunk `old`.
    pub fn get(&self, old: &u64) -> Option<&u64> {
        match self.slot(*old) {
            Some(i) if self.sorted[i].1 != REMOVED => Some(&self.sorted[i].1),
            Some(_) => None,
            None => self.added.get(old),
        }
    }

    /// True if origin chunk `old` has an exception.
    pub fn contains_key(&self, old: &u64) -> bool {
        self.get(old).is_some()
    }

    /// Adds an exception (replacing one for the same chunk, which the
    /// engine never does).
    pub fn insert(&mut self, old: u64, new: u64) {
        match self.slot(old) {
            Some(i) => {
                if self.sorted[i].1 == REMOVED {
                    self.len += 1;
                }
                self.sorted[i].1 = new;
            }
            None => {
                if self.added.insert(old, new).is_none() {
                    self.len += 1;
                }
            }
        }
    }

    /// Removes the exception of origin chunk `old` (a merged chunk).
    pub fn remove(&mut self, old: &u64) -> Option<u64> {
        let gone = match self.slot(*old) {
            Some(i) if self.sorted[i].1 != REMOVED => {
                Some(std::mem::replace(&mut self.sorted[i].1, REMOVED))
            }
            Some(_) => None,
            None => self.added.remove(old),
        };
        if gone.is_some() {
            self.len -= 1;
        }
        gone
    }

    /// The exceptions of origin chunks `lo..=hi`, sorted by origin chunk.
    pub fn range(&self, lo: u64, hi: u64) -> Vec<(u64, u64)> {
        let from = self.sorted.partition_point(|&(o, _)| o < lo);
        let to = self.sorted.partition_point(|&(o, _)| o <= hi);
        let mut out: Vec<(u64, u64)> = self.sorted[from..to]
            .iter()
            .filter(|&&(_, n)| n != REMOVED)
            .copied()
            .collect();
        if !self.added.is_empty() {
            out.extend(
                self.added
                    .iter()
                    .filter(|(&o, _)| o >= lo && o <= hi)
                    .map(|(&o, &n)| (o, n)),
            );
            out.sort_unstable_by_key(|&(o, _)| o);
        }
        out
    }

    /// Number of exceptions.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(old: u64, new: u64) -> Exception {
        Exception { old, new }
    }

    #[test]
    fn first_record_wins_and_changes_apply() {
        let mut m = ChunkMap::from_records(&[e(9, 2), e(4, 3), e(9, 5), e(1, 6)]);
        assert_eq!(
            (m.get(&9), m.get(&4), m.get(&1), m.len()),
            (Some(&2), Some(&3), Some(&6), 3)
        );
        assert_eq!(m.get(&5), None);
        m.insert(5, 7);
        assert_eq!((m.get(&5), m.len()), (Some(&7), 4));
        assert_eq!(m.remove(&9), Some(2));
        assert_eq!(m.remove(&9), None);
        assert_eq!(m.remove(&5), Some(7));
        assert!(!m.contains_key(&9) && m.len() == 2);
        m.insert(9, 8);
        assert_eq!((m.get(&9), m.len()), (Some(&8), 3));
        m.insert(2, 10);
        assert_eq!(m.range(1, 9), vec![(1, 6), (2, 10), (4, 3), (9, 8)]);
        assert_eq!(m.range(2, 8), vec![(2, 10), (4, 3)]);
        assert_eq!(m.range(10, 20), vec![]);
    }
}
