//! The exception lookup (origin chunk → COW chunk) of a loaded store.
//!
//! A store is loaded far more often than it changes, and a loaded store
//! can hold millions of records (a 64 GiB COW with 4 KiB chunks holds
//! 16M), so the lookup is one flat vector sorted by origin chunk and
//! binary-searched, with an ordered map for the exceptions added
//! afterwards. An entry takes 8 bytes when both chunk numbers fit in 32
//! bits (a COW and an origin under 16 TiB with 4 KiB chunks), else 16.
//!
//! The kernel's rule that the first record for an origin chunk wins is
//! kept: among records of one origin chunk the earliest in disk order
//! stays and the others are dropped.
//!
//! The kernel compresses runs of consecutive `(old, new)` pairs into one
//! hash entry; that saves memory and changes no lookup, so the runs are
//! found when reading ([`ChunkMap::runs`]) instead of stored.

use crate::exception_store::Exception;
use std::collections::BTreeMap;

/// A COW chunk of 0 never holds data (chunk 0 is the header): it marks an
/// exception removed from the sorted part.
const REMOVED: u64 = 0;

/// The sorted part: origin chunk → COW chunk, one entry per origin chunk.
#[derive(Debug, Clone)]
enum Table {
    /// `old << 32 | new`, sorted (so by `old`).
    Narrow(Vec<u64>),
    /// `(old, new)`, sorted by `old`.
    Wide(Vec<(u64, u64)>),
}

impl Default for Table {
    fn default() -> Self {
        Table::Narrow(Vec::new())
    }
}

fn pack(old: u64, new: u64) -> Option<u64> {
    let (old, new) = (u32::try_from(old).ok()?, u32::try_from(new).ok()?);
    Some(u64::from(old) << 32 | u64::from(new))
}

fn unpack(p: u64) -> (u64, u64) {
    (p >> 32, p & 0xffff_ffff)
}

impl Table {
    fn len(&self) -> usize {
        match self {
            Table::Narrow(v) => v.len(),
            Table::Wide(v) => v.len(),
        }
    }

    /// Entry `i` as `(old, new)`.
    fn at(&self, i: usize) -> (u64, u64) {
        match self {
            Table::Narrow(v) => unpack(v[i]),
            Table::Wide(v) => v[i],
        }
    }

    /// Index of the first entry whose origin chunk is `>= old`.
    fn lower_bound(&self, old: u64) -> usize {
        match self {
            Table::Narrow(v) => v.partition_point(|&p| p >> 32 < old),
            Table::Wide(v) => v.partition_point(|&(o, _)| o < old),
        }
    }

    /// Index of the entry of origin chunk `old`.
    fn slot(&self, old: u64) -> Option<usize> {
        let i = self.lower_bound(old);
        (i < self.len() && self.at(i).0 == old).then_some(i)
    }

    /// True if two neighbouring entries have one origin chunk.
    fn has_duplicates(&self) -> bool {
        match self {
            Table::Narrow(v) => v.windows(2).any(|w| w[0] >> 32 == w[1] >> 32),
            Table::Wide(v) => v.windows(2).any(|w| w[0].0 == w[1].0),
        }
    }

    /// Sets entry `i`'s COW chunk; false if it does not fit the entry.
    fn set_new(&mut self, i: usize, new: u64) -> bool {
        match self {
            Table::Narrow(v) => match u32::try_from(new) {
                Ok(n) => {
                    v[i] = v[i] & !0xffff_ffff | u64::from(n);
                    true
                }
                Err(_) => false,
            },
            Table::Wide(v) => {
                v[i].1 = new;
                true
            }
        }
    }
}

/// Origin chunk → COW chunk.
#[derive(Debug, Clone, Default)]
pub struct ChunkMap {
    table: Table,
    /// Exceptions added after loading whose origin chunk has no entry in
    /// `table` (or whose COW chunk does not fit a narrow entry).
    added: BTreeMap<u64, u64>,
    len: usize,
}

/// Builds a [`ChunkMap`] from records pushed in disk order, holding one
/// entry per record (8 bytes while every chunk number fits in 32 bits).
#[derive(Debug)]
pub struct Builder {
    table: Table,
    /// True while each record's COW chunk is above the one before, as
    /// the kernel writes them (it commits exceptions in allocation order).
    ascending: bool,
    last_new: u64,
}

/// What [`Builder::finish`] found besides the lookup.
#[derive(Debug)]
pub struct Built {
    /// The lookup.
    pub map: ChunkMap,
    /// Every record in disk order when the lookup cannot give it back:
    /// `None` when the records' COW chunks ascend and no origin chunk has
    /// two records, so that disk order is the lookup's entries ordered by
    /// COW chunk.
    pub disk_order: Option<Vec<Exception>>,
}

impl Builder {
    /// An empty builder with room for `records` entries (the caller bounds
    /// it: room is reserved, not used, until records arrive).
    pub fn with_capacity(records: usize) -> Builder {
        Builder {
            table: Table::Narrow(Vec::with_capacity(records)),
            ascending: true,
            last_new: 0,
        }
    }

    /// Adds the next record in disk order.
    pub fn push(&mut self, old: u64, new: u64) {
        self.ascending &= new > self.last_new;
        self.last_new = new;
        if let Table::Narrow(v) = &mut self.table {
            match pack(old, new) {
                Some(p) => {
                    v.push(p);
                    return;
                }
                None => {
                    let wide = v.iter().map(|&p| unpack(p)).collect();
                    self.table = Table::Wide(wide);
                }
            }
        }
        if let Table::Wide(v) = &mut self.table {
            v.push((old, new));
        }
    }

    /// Sorts the records into the lookup.
    pub fn finish(self) -> Built {
        let Builder {
            mut table,
            ascending,
            ..
        } = self;
        let records = |t: &Table| -> Vec<Exception> {
            (0..t.len())
                .map(|i| {
                    let (old, new) = t.at(i);
                    Exception { old, new }
                })
                .collect()
        };
        let mut disk_order = None;
        if ascending {
            // Among records of one origin chunk the earliest has the
            // smallest COW chunk, so sorting by (old, new) puts it first.
            match &mut table {
                Table::Narrow(v) => v.sort_unstable(),
                Table::Wide(v) => v.sort_unstable(),
            }
            if table.has_duplicates() {
                let mut all = records(&table);
                all.sort_unstable_by_key(|e| e.new);
                disk_order = Some(all);
            }
        } else {
            // Records out of allocation order (an old kernel, or a damaged
            // store): keep them, and let a stable sort keep the earliest.
            disk_order = Some(records(&table));
            match &mut table {
                Table::Narrow(v) => v.sort_by_key(|&p| p >> 32),
                Table::Wide(v) => v.sort_by_key(|&(o, _)| o),
            }
        }
        if disk_order.is_some() {
            match &mut table {
                Table::Narrow(v) => v.dedup_by_key(|p| *p >> 32),
                Table::Wide(v) => v.dedup_by_key(|&mut (o, _)| o),
            }
        }
        let len = table.len();
        Built {
            map: ChunkMap {
                table,
                added: BTreeMap::new(),
                len,
            },
            disk_order,
        }
    }
}

/// Where a piece of a read comes from (see [`ChunkMap::runs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunSource {
    /// The origin, at the same offset as the view.
    Origin,
    /// The COW device at this byte offset.
    Cow(u64),
}

impl ChunkMap {
    /// The lookup of `records` in disk order; the first record of an
    /// origin chunk wins.
    pub fn from_records(records: &[Exception]) -> ChunkMap {
        let mut b = Builder::with_capacity(records.len());
        for e in records.iter().filter(|e| e.new != REMOVED) {
            b.push(e.old, e.new);
        }
        b.finish().map
    }

    /// The COW chunk holding origin chunk `old`.
    pub fn get(&self, old: &u64) -> Option<u64> {
        match self.table.slot(*old) {
            Some(i) => match self.table.at(i).1 {
                REMOVED => self.added.get(old).copied(),
                new => Some(new),
            },
            None => self.added.get(old).copied(),
        }
    }

    /// True if origin chunk `old` has an exception.
    pub fn contains_key(&self, old: &u64) -> bool {
        self.get(old).is_some()
    }

    /// Adds an exception (replacing one for the same chunk, which the
    /// engine never does).
    pub fn insert(&mut self, old: u64, new: u64) {
        if let Some(i) = self.table.slot(old) {
            let was = self.table.at(i).1;
            if was != REMOVED && self.table.set_new(i, new) {
                return;
            }
            if was == REMOVED && new != REMOVED && self.table.set_new(i, new) {
                self.len += usize::from(self.added.remove(&old).is_none());
                return;
            }
            if was != REMOVED {
                // The new chunk does not fit the entry: it moves to `added`.
                self.table.set_new(i, REMOVED);
                self.len -= 1;
            }
        }
        if self.added.insert(old, new).is_none() {
            self.len += 1;
        }
    }

    /// Removes the exception of origin chunk `old` (a merged chunk).
    pub fn remove(&mut self, old: &u64) -> Option<u64> {
        let gone = match self.table.slot(*old) {
            Some(i) if self.table.at(i).1 != REMOVED => {
                let was = self.table.at(i).1;
                self.table.set_new(i, REMOVED);
                Some(was)
            }
            _ => self.added.remove(old),
        };
        if gone.is_some() {
            self.len -= 1;
        }
        gone
    }

    /// The exceptions of origin chunks `lo..=hi` in origin chunk order
    /// (none if `lo > hi`).
    pub fn iter_range(&self, lo: u64, hi: u64) -> impl Iterator<Item = (u64, u64)> + '_ {
        let some = lo <= hi;
        let hi = hi.max(lo);
        let (from, to) = match (some, hi.checked_add(1)) {
            (false, _) => (0, 0),
            (true, Some(next)) => (self.table.lower_bound(lo), self.table.lower_bound(next)),
            (true, None) => (self.table.lower_bound(lo), self.table.len()),
        };
        let sorted = (from..to)
            .map(|i| self.table.at(i))
            .filter(|&(_, n)| n != REMOVED);
        let added = self
            .added
            .range(lo..=hi)
            .filter(move |_| some)
            .map(|(&o, &n)| (o, n));
        Merged {
            a: sorted.peekable(),
            b: added.peekable(),
        }
    }

    /// The exceptions of origin chunks `lo..=hi`, sorted by origin chunk.
    pub fn range(&self, lo: u64, hi: u64) -> Vec<(u64, u64)> {
        self.iter_range(lo, hi).collect()
    }

    /// Number of exceptions.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes the lookup holds (its entries, not the added exceptions).
    pub fn table_bytes(&self) -> usize {
        match &self.table {
            Table::Narrow(v) => v.capacity() * 8,
            Table::Wide(v) => v.capacity() * 16,
        }
    }

    /// How the view's bytes `offset..offset + len` are read, with chunks of
    /// `cb` bytes: pieces `(start, length, source)` in order, `start`
    /// counted from `offset`, each as long as possible (neighbouring
    /// chunks from the origin, or from consecutive COW chunks, are one
    /// piece). Computed from the lookup alone.
    pub fn runs(
        &self,
        offset: u64,
        len: u64,
        cb: u64,
    ) -> impl Iterator<Item = (u64, u64, RunSource)> + '_ {
        let end = offset.saturating_add(len);
        let (first, last) = (offset / cb, end.saturating_sub(1) / cb);
        let mut exc = self
            .iter_range(first, if len == 0 { first } else { last })
            .peekable();
        let mut at = offset;
        std::iter::from_fn(move || {
            if at >= end {
                return None;
            }
            let chunk = at / cb;
            let start = at;
            let source = match exc.peek() {
                Some(&(old, new)) if old == chunk => {
                    exc.next();
                    // Extend over following chunks with consecutive COW chunks.
                    let (mut o, mut n) = (old, new);
                    while let Some(&(o2, n2)) = exc.peek() {
                        if Some(o2) != o.checked_add(1) || Some(n2) != n.checked_add(1) {
                            break;
                        }
                        exc.next();
                        (o, n) = (o2, n2);
                    }
                    at = o.saturating_add(1).saturating_mul(cb).min(end);
                    RunSource::Cow(new.saturating_mul(cb).saturating_add(start % cb))
                }
                next => {
                    // Origin up to the next exception.
                    at = next
                        .map_or(end, |&(old, _)| old.saturating_mul(cb))
                        .min(end);
                    RunSource::Origin
                }
            };
            Some((start - offset, at - start, source))
        })
    }
}

/// Two ascending iterators of `(old, new)` merged (they never share an
/// origin chunk).
struct Merged<A: Iterator<Item = (u64, u64)>, B: Iterator<Item = (u64, u64)>> {
    a: std::iter::Peekable<A>,
    b: std::iter::Peekable<B>,
}

impl<A, B> Iterator for Merged<A, B>
where
    A: Iterator<Item = (u64, u64)>,
    B: Iterator<Item = (u64, u64)>,
{
    type Item = (u64, u64);
    fn next(&mut self) -> Option<(u64, u64)> {
        match (self.a.peek(), self.b.peek()) {
            (Some(x), Some(y)) if y.0 < x.0 => self.b.next(),
            (Some(_), _) => self.a.next(),
            (None, _) => self.b.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn e(old: u64, new: u64) -> Exception {
        Exception { old, new }
    }

    #[test]
    fn first_record_wins_and_changes_apply() {
        let mut m = ChunkMap::from_records(&[e(9, 2), e(4, 3), e(9, 5), e(1, 6)]);
        assert_eq!(
            (m.get(&9), m.get(&4), m.get(&1), m.len()),
            (Some(2), Some(3), Some(6), 3)
        );
        assert_eq!(m.get(&5), None);
        m.insert(5, 7);
        assert_eq!((m.get(&5), m.len()), (Some(7), 4));
        assert_eq!(m.remove(&9), Some(2));
        assert_eq!(m.remove(&9), None);
        assert_eq!(m.remove(&5), Some(7));
        assert!(!m.contains_key(&9) && m.len() == 2);
        m.insert(9, 8);
        assert_eq!((m.get(&9), m.len()), (Some(8), 3));
        m.insert(2, 10);
        assert_eq!(m.range(1, 9), vec![(1, 6), (2, 10), (4, 3), (9, 8)]);
        assert_eq!(m.range(2, 8), vec![(2, 10), (4, 3)]);
        assert_eq!(m.range(10, 20), vec![]);
    }

    #[test]
    fn out_of_order_records_keep_the_earliest_and_their_disk_order() {
        // COW chunks not ascending: the stable path.
        let mut b = Builder::with_capacity(0);
        for (o, n) in [(7, 9), (3, 4), (7, 2), (1, 5)] {
            b.push(o, n);
        }
        let built = b.finish();
        assert_eq!(built.map.range(0, 10), vec![(1, 5), (3, 4), (7, 9)]);
        assert_eq!(
            built.disk_order,
            Some(vec![e(7, 9), e(3, 4), e(7, 2), e(1, 5)])
        );
        // Ascending with a duplicate: the order comes back from the chunks.
        let mut b = Builder::with_capacity(0);
        for (o, n) in [(7, 2), (3, 4), (7, 5)] {
            b.push(o, n);
        }
        let built = b.finish();
        assert_eq!(built.map.range(0, 10), vec![(3, 4), (7, 2)]);
        assert_eq!(built.disk_order, Some(vec![e(7, 2), e(3, 4), e(7, 5)]));
    }

    #[test]
    fn a_chunk_past_32_bits_widens_the_table() {
        let big = 1u64 << 40;
        let mut b = Builder::with_capacity(1);
        b.push(3, 2);
        b.push(big, 3);
        b.push(1, big);
        let built = b.finish();
        assert!(built.disk_order.is_none());
        let m = built.map;
        assert_eq!(m.range(0, u64::MAX), vec![(1, big), (3, 2), (big, 3)]);
        assert_eq!(m.table_bytes() % 16, 0);
        // A narrow table takes a wide COW chunk in its side map.
        let mut m = ChunkMap::from_records(&[e(3, 2)]);
        m.insert(3, big);
        assert_eq!((m.get(&3), m.len()), (Some(big), 1));
        assert_eq!(m.remove(&3), Some(big));
        assert!(m.is_empty());
    }

    #[test]
    fn runs_join_neighbouring_chunks_of_one_source() {
        // Chunks of 10 bytes; 2->5, 3->6 (consecutive), 5->9, 6->3.
        let m = ChunkMap::from_records(&[e(2, 5), e(3, 6), e(5, 9), e(6, 3)]);
        let r: Vec<_> = m.runs(15, 60, 10).collect();
        use RunSource::*;
        assert_eq!(
            r,
            vec![
                (0, 5, Origin),
                (5, 20, Cow(50)),
                (25, 10, Origin),
                (35, 10, Cow(90)),
                (45, 10, Cow(30)),
                (55, 5, Origin),
            ]
        );
        // Starting inside an exception's chunk.
        assert_eq!(m.runs(27, 5, 10).collect::<Vec<_>>(), vec![(0, 5, Cow(57))]);
        assert_eq!(m.runs(27, 0, 10).count(), 0);
    }

    /// An operation on the map and on the model.
    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64, u64),
        Remove(u64),
    }

    fn chunk() -> impl Strategy<Value = u64> {
        prop_oneof![0u64..40, Just(u64::MAX), (1u64 << 32)..(1u64 << 32) + 3]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (chunk(), 1u64..60).prop_map(|(o, n)| Op::Insert(o, n)),
            (chunk(), Just(1u64 << 33)).prop_map(|(o, n)| Op::Insert(o, n)),
            chunk().prop_map(Op::Remove),
        ]
    }

    proptest! {
        /// The compact table answers as a BTreeMap built with the first
        /// record of each origin chunk, through inserts and removals.
        #[test]
        fn compact_table_matches_a_btreemap(
            records in proptest::collection::vec((chunk(), 1u64..80), 0..60),
            ops in proptest::collection::vec(op(), 0..40),
            probes in proptest::collection::vec((chunk(), chunk()), 1..8),
        ) {
            let recs: Vec<Exception> = records.iter().map(|&(o, n)| e(o, n)).collect();
            let mut model = BTreeMap::new();
            for r in &recs {
                model.entry(r.old).or_insert(r.new);
            }
            let mut b = Builder::with_capacity(recs.len());
            for r in &recs {
                b.push(r.old, r.new);
            }
            let built = b.finish();
            // Disk order given back, or implied by the lookup.
            let order = built.disk_order.clone().unwrap_or_else(|| {
                let mut v: Vec<Exception> =
                    built.map.range(0, u64::MAX).into_iter().map(|(o, n)| e(o, n)).collect();
                v.sort_by_key(|x| x.new);
                v
            });
            prop_assert_eq!(&order, &recs);
            let mut m = built.map;
            for op in ops {
                match op {
                    Op::Insert(o, n) => {
                        m.insert(o, n);
                        model.insert(o, n);
                    }
                    Op::Remove(o) => prop_assert_eq!(m.remove(&o), model.remove(&o)),
                }
                prop_assert_eq!(m.len(), model.len());
            }
            for (x, y) in probes {
                let (lo, hi) = (x.min(y), x.max(y));
                prop_assert_eq!(m.get(&lo), model.get(&lo).copied());
                let want: Vec<(u64, u64)> = model.range(lo..=hi).map(|(&o, &n)| (o, n)).collect();
                prop_assert_eq!(m.range(lo, hi), want);
            }
            let all: Vec<(u64, u64)> = model.iter().map(|(&o, &n)| (o, n)).collect();
            prop_assert_eq!(m.range(0, u64::MAX), all);
        }

        /// The read plan covers the request exactly, and each byte comes
        /// from where the lookup says.
        #[test]
        fn runs_follow_the_lookup(
            records in proptest::collection::vec((0u64..24, 1u64..40), 0..30),
            offset in 0u64..200,
            len in 0u64..200,
        ) {
            let cb = 8u64;
            let recs: Vec<Exception> = records.iter().map(|&(o, n)| e(o, n)).collect();
            let m = ChunkMap::from_records(&recs);
            let mut next = 0;
            for (start, n, src) in m.runs(offset, len, cb) {
                prop_assert_eq!(start, next);
                prop_assert!(n > 0);
                next += n;
                for k in 0..n {
                    let at = offset + start + k;
                    let want = m.get(&(at / cb)).map(|new| new * cb + at % cb);
                    let got = match src {
                        RunSource::Cow(c) => Some(c + k),
                        RunSource::Origin => None,
                    };
                    prop_assert_eq!(got, want);
                }
            }
            prop_assert_eq!(next, len);
        }
    }
}
