//! A metadata transaction: changes made in memory on top of the committed
//! metadata, then written out so that a crash at any point leaves the last
//! committed state (`dm-transaction-manager.c`, `dm-space-map-*.c`).
//!
//! The rules the kernel follows, and this module with it:
//! - a block the committed superblock reaches is never written: to change
//!   a node it is *shadowed* (copied to a newly allocated block, the
//!   original's count dropped), unless it was allocated in this
//!   transaction and has one reference, when it is changed in place;
//! - a shared node (count above 1) that is shadowed hands a reference to
//!   everything it points to to its copy (`inc_children`);
//! - a block may be allocated only if its count is zero both now and at
//!   the last commit (`sm_ll_find_common_free_block`), searching upward
//!   from a cursor that starts at 0 when the metadata is opened;
//! - at commit the space maps are written to new blocks too, and the
//!   caller writes the superblock last.
//!
//! Both space maps are held in memory as one count per block. At commit
//! each changed bitmap moves to a new block; the data map's index btree
//! and any changed overflow ("ref count") tree are written as new trees;
//! the metadata map's index block moves at every commit, as the kernel's.

// Arithmetic here is on node slots (below 4096 / 8), bitmap entries
// (below 16320) and counts bounded by the space maps' sizes, which were
// loaded into memory, so block numbers fit in usize and the conversions
// between usize, u32 slots and u64 block numbers are lossless.
#![allow(clippy::arithmetic_side_effects, clippy::as_conversions)]

use crate::error::{BlockKind, Error, Result};
use crate::pdata::block::{MetadataDev, BLOCK_SIZE};
use crate::pdata::btree::{
    parse_node, NodeHeader, BLOCKNR, FLAGS, HEADER_SIZE, INTERNAL_NODE, KEY_SIZE, LEAF_NODE,
    MAX_DEPTH, MAX_ENTRIES, NR_ENTRIES, VALUE_SIZE,
};
use crate::pdata::checksum::{block_checksum, BITMAP_CSUM_XOR, BTREE_CSUM_XOR, INDEX_CSUM_XOR};
use crate::pdata::space_map::{
    bitmap_entry, index_entries, set_bitmap_entry, IndexEntry, SmKind, SmRoot, ENTRIES_PER_BITMAP,
    INDEX_ENTRY_SIZE, MAX_METADATA_BITMAPS, METADATA_INDEX_ENTRIES, REF_COUNT_VALUE_SIZE,
};
use byteorder::{ByteOrder, LittleEndian};
use lvm_meta::io::ReadAt;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// `max_entries` of a node whose values are `value_size` bytes
/// (`calc_max_entries`): as many as fit, rounded down to a multiple of 3.
pub fn max_entries(value_size: usize) -> usize {
    let n = (BLOCK_SIZE - HEADER_SIZE) / (KEY_SIZE + value_size);
    n - n % 3
}

/// What the values of a tree's leaves refer to, which decides the
/// reference counting when a shared leaf is copied or a tree dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Values {
    /// Values reference nothing (device details, space-map trees); the
    /// size in bytes.
    Plain(usize),
    /// Values are metadata blocks: roots of other trees whose leaves hold
    /// `Values::DataBlocks` (the thin top-level mapping tree).
    SubtreeRoots,
    /// Values are packed data block + time: data space-map references
    /// (the thin bottom-level mapping trees).
    DataBlocks,
}

impl Values {
    /// Bytes per value.
    pub fn size(self) -> usize {
        match self {
            Values::Plain(n) => n,
            Values::SubtreeRoots | Values::DataBlocks => 8,
        }
    }
}

/// Data block of a packed mapping value (top 40 bits).
fn data_block_of(v: u64) -> u64 {
    v >> 24
}

/// One space map held in memory: a count per block, now and at the last
/// commit.
#[derive(Debug, Clone)]
pub struct SpaceMap {
    kind: SmKind,
    root: SmRoot,
    entries: Vec<IndexEntry>,
    old: Vec<u32>,
    counts: Vec<u32>,
    touched: BTreeSet<usize>,
    overflow_changed: bool,
    cursor: u64,
    /// Bitmaps [`SpaceMap::extend`] added: no block of theirs to free.
    fresh: BTreeSet<usize>,
    /// Grown in this transaction (a commit writes the new size).
    resized: bool,
}

impl SpaceMap {
    /// Reads every bitmap of the space map `root` and its overflow tree.
    pub fn load<R: ReadAt>(dev: &MetadataDev<R>, root: SmRoot, kind: SmKind) -> Result<SpaceMap> {
        let entries = index_entries(dev, &root, kind)?;
        let n = usize::try_from(root.nr_blocks)
            .map_err(|_| Error::Inconsistent(format!("space map of {} blocks", root.nr_blocks)))?;
        // The index entries name one bitmap per 16320 blocks: n is bounded
        // by the bitmaps that could be read.
        let mut counts = Vec::with_capacity(n.min(entries.len() * 16_320));
        let mut overflowed = Vec::new();
        for ie in &entries {
            let b = dev.read_checked(ie.blocknr, BlockKind::Bitmap, BITMAP_CSUM_XOR)?;
            for e in 0..ENTRIES_PER_BITMAP {
                if counts.len() == n {
                    break;
                }
                let c = bitmap_entry(&b, e);
                if c == 3 {
                    overflowed.push(counts.len());
                }
                counts.push(u32::from(c));
            }
        }
        if !overflowed.is_empty() {
            let mut tree = BTreeMap::new();
            crate::pdata::btree::walk(
                dev,
                root.ref_count_root,
                REF_COUNT_VALUE_SIZE,
                "ref count tree",
                &mut |k, v| {
                    tree.insert(k, LittleEndian::read_u32(v));
                    Ok(())
                },
            )?;
            for b in overflowed {
                let key = b as u64;
                match tree.get(&key) {
                    Some(&c) if c >= 3 => counts[b] = c,
                    _ => {
                        return Err(Error::Inconsistent(format!(
                            "block {b}: bitmap says 3 or more, the ref count tree has {:?}",
                            tree.get(&key)
                        )))
                    }
                }
            }
        }
        Ok(SpaceMap {
            kind,
            root,
            entries,
            old: counts.clone(),
            counts,
            touched: BTreeSet::new(),
            overflow_changed: false,
            cursor: 0,
            fresh: BTreeSet::new(),
            resized: false,
        })
    }

    /// Grows the map to `nr_blocks` blocks, all free (`sm_ll_extend`):
    /// the bitmaps it needs beyond the last one are added empty, their
    /// blocks allocated at the commit. Shrinking is refused, as the kernel
    /// refuses a smaller device.
    pub fn extend(&mut self, nr_blocks: u64) -> Result<()> {
        let n = usize::try_from(nr_blocks)
            .map_err(|_| Error::Unsupported(format!("a space map of {nr_blocks} blocks")))?;
        if n < self.counts.len() {
            return Err(Error::Unsupported(format!(
                "shrinking the {} space map from {} to {nr_blocks} blocks",
                self.name(),
                self.counts.len()
            )));
        }
        if n == self.counts.len() {
            return Ok(());
        }
        let bitmaps = n.div_ceil(16_320);
        if self.kind == SmKind::Metadata && bitmaps > MAX_METADATA_BITMAPS {
            return Err(Error::Unsupported(format!(
                "a metadata space map of {nr_blocks} blocks (more than {MAX_METADATA_BITMAPS} bitmaps)"
            )));
        }
        self.counts.resize(n, 0);
        self.old.resize(n, 0);
        while self.entries.len() < bitmaps {
            let i = self.entries.len();
            self.entries.push(IndexEntry {
                blocknr: 0,
                nr_free: 16_320,
                none_free_before: 0,
            });
            self.fresh.insert(i);
            self.touched.insert(i);
        }
        self.resized = true;
        Ok(())
    }

    /// Blocks the map covers.
    pub fn nr_blocks(&self) -> u64 {
        self.counts.len() as u64
    }

    /// The count of block `b` now.
    pub fn count(&self, b: u64) -> Result<u32> {
        usize::try_from(b)
            .ok()
            .and_then(|i| self.counts.get(i).copied())
            .ok_or_else(|| self.past(b))
    }

    /// Blocks whose count is not zero.
    pub fn nr_allocated(&self) -> u64 {
        self.counts.iter().filter(|c| **c != 0).count() as u64
    }

    /// Blocks freed in this transaction: free now, in use at the last
    /// commit (allocatable after the next one).
    pub fn nr_freed(&self) -> u64 {
        self.counts
            .iter()
            .zip(&self.old)
            .filter(|(c, o)| **c == 0 && **o != 0)
            .count() as u64
    }

    /// Blocks free now (count zero).
    pub fn nr_free(&self) -> u64 {
        self.nr_blocks() - self.nr_allocated()
    }

    fn past(&self, b: u64) -> Error {
        Error::Inconsistent(format!(
            "block {b} is past the {} space map's {} blocks",
            self.name(),
            self.counts.len()
        ))
    }

    fn name(&self) -> &'static str {
        match self.kind {
            SmKind::Data => "data",
            SmKind::Metadata => "metadata",
        }
    }

    fn set(&mut self, b: u64, c: u32) -> Result<()> {
        let i = usize::try_from(b)
            .ok()
            .filter(|i| *i < self.counts.len())
            .ok_or_else(|| self.past(b))?;
        let before = self.counts[i];
        if before == c {
            return Ok(());
        }
        if before >= 3 || c >= 3 {
            self.overflow_changed = true;
        }
        self.counts[i] = c;
        self.touched.insert(i / 16_320);
        Ok(())
    }

    /// Adds a reference to block `b`.
    pub fn inc(&mut self, b: u64) -> Result<()> {
        let c = self.count(b)?;
        self.set(b, c.saturating_add(1))
    }

    /// Drops a reference to block `b`; returns the count left.
    pub fn dec(&mut self, b: u64) -> Result<u32> {
        let c = self.count(b)?;
        if c == 0 {
            return Err(Error::Inconsistent(format!(
                "{} block {b}: a reference is dropped but its count is already 0",
                self.name()
            )));
        }
        self.set(b, c - 1)?;
        Ok(c - 1)
    }

    /// Allocates a block free now and at the last commit, searching upward
    /// from the cursor and then from 0; its count becomes 1.
    pub fn allocate(&mut self) -> Result<Option<u64>> {
        let n = self.counts.len() as u64;
        let start = self.cursor.min(n);
        let free = |b: &u64| self.counts[*b as usize] == 0 && self.old[*b as usize] == 0;
        let found = (start..n).find(free).or_else(|| (0..start).find(free));
        let Some(b) = found else {
            return Ok(None);
        };
        self.cursor = b + 1;
        self.set(b, 1)?;
        Ok(Some(b))
    }

    /// The entries of the bitmap at `index` as counts capped at 3, and its
    /// index entry's `nr_free` and `none_free_before`.
    fn bitmap_image(&self, index: usize, blocknr: u64) -> (Box<[u8; BLOCK_SIZE]>, IndexEntry) {
        let mut b = Box::new([0u8; BLOCK_SIZE]);
        LittleEndian::write_u64(&mut b[8..16], blocknr);
        let first = index * 16_320;
        let end = (first + 16_320).min(self.counts.len());
        let mut used = 0u32;
        let mut first_free: Option<u32> = None;
        for (e, &c) in self.counts[first..end].iter().enumerate() {
            if c != 0 {
                set_bitmap_entry(&mut b, e as u64, u8::try_from(c.min(3)).unwrap_or(3));
                used += 1;
            } else if first_free.is_none() {
                first_free = Some(e as u32);
            }
        }
        // Slots past the map's end count as free, as in a bitmap the
        // kernel made (`sm_ll_extend`).
        let nr_free = 16_320 - used;
        let none_free_before = first_free.unwrap_or((end - first) as u32);
        (
            b,
            IndexEntry {
                blocknr,
                nr_free,
                none_free_before,
            },
        )
    }

    fn overflow_entries(&self) -> Vec<(u64, Vec<u8>)> {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c >= 3)
            .map(|(b, c)| (b as u64, c.to_le_bytes().to_vec()))
            .collect()
    }
}

/// The blocks a commit writes, and the space-map roots for the
/// superblock.
#[derive(Debug)]
pub struct Committed {
    /// Every block written, in block order, checksums stamped.
    pub blocks: Vec<(u64, Box<[u8; BLOCK_SIZE]>)>,
    /// The data space map's new root.
    pub data_sm_root: SmRoot,
    /// The metadata space map's new root.
    pub metadata_sm_root: SmRoot,
}

/// A transaction on a metadata device.
pub struct Transaction<'d, R> {
    dev: &'d MetadataDev<R>,
    /// The metadata space map.
    pub meta: SpaceMap,
    /// The data space map.
    pub data: SpaceMap,
    dirty: BTreeMap<u64, (Box<[u8; BLOCK_SIZE]>, u32)>,
    fresh: HashSet<u64>,
}

fn node_nr(b: &[u8; BLOCK_SIZE]) -> usize {
    LittleEndian::read_u32(&b[NR_ENTRIES..MAX_ENTRIES]) as usize
}

fn node_max(b: &[u8; BLOCK_SIZE]) -> usize {
    LittleEndian::read_u32(&b[MAX_ENTRIES..VALUE_SIZE]) as usize
}

fn node_vsize(b: &[u8; BLOCK_SIZE]) -> usize {
    LittleEndian::read_u32(&b[VALUE_SIZE..VALUE_SIZE + 4]) as usize
}

fn is_leaf(b: &[u8; BLOCK_SIZE]) -> bool {
    LittleEndian::read_u32(&b[FLAGS..BLOCKNR]) == LEAF_NODE
}

fn key_at(b: &[u8; BLOCK_SIZE], i: usize) -> u64 {
    let at = HEADER_SIZE + KEY_SIZE * i;
    LittleEndian::read_u64(&b[at..at + 8])
}

fn value_range(b: &[u8; BLOCK_SIZE], i: usize) -> std::ops::Range<usize> {
    let vs = node_vsize(b);
    let at = HEADER_SIZE + KEY_SIZE * node_max(b) + vs * i;
    at..at + vs
}

fn value_u64(b: &[u8; BLOCK_SIZE], i: usize) -> u64 {
    LittleEndian::read_u64(&b[value_range(b, i)])
}

fn set_entry(b: &mut [u8; BLOCK_SIZE], i: usize, key: u64, value: &[u8]) {
    let at = HEADER_SIZE + KEY_SIZE * i;
    LittleEndian::write_u64(&mut b[at..at + 8], key);
    let r = value_range(b, i);
    b[r].copy_from_slice(value);
}

fn set_nr(b: &mut [u8; BLOCK_SIZE], n: usize) {
    LittleEndian::write_u32(&mut b[NR_ENTRIES..MAX_ENTRIES], n as u32);
}

/// Puts (key, value) at slot `i`, moving the entries from `i` up by one.
fn insert_at(b: &mut [u8; BLOCK_SIZE], i: usize, key: u64, value: &[u8]) {
    let nr = node_nr(b);
    let vs = node_vsize(b);
    let k0 = HEADER_SIZE + KEY_SIZE * i;
    let kend = HEADER_SIZE + KEY_SIZE * nr;
    b.copy_within(k0..kend, k0 + KEY_SIZE);
    let v0 = value_range(b, i).start;
    let vend = v0 + vs * (nr - i);
    b.copy_within(v0..vend, v0 + vs);
    set_nr(b, nr + 1);
    set_entry(b, i, key, value);
}

/// A zeroed node header for `block`.
fn new_node(block: u64, leaf: bool, value_size: usize) -> Box<[u8; BLOCK_SIZE]> {
    let mut b = Box::new([0u8; BLOCK_SIZE]);
    let flags = if leaf { LEAF_NODE } else { INTERNAL_NODE };
    LittleEndian::write_u32(&mut b[FLAGS..BLOCKNR], flags);
    LittleEndian::write_u64(&mut b[BLOCKNR..NR_ENTRIES], block);
    LittleEndian::write_u32(
        &mut b[MAX_ENTRIES..VALUE_SIZE],
        max_entries(value_size) as u32,
    );
    LittleEndian::write_u32(&mut b[VALUE_SIZE..VALUE_SIZE + 4], value_size as u32);
    b
}

/// The index of the child of an internal node to descend into for `key`:
/// the last key not above it (0 when all are above).
fn child_index(b: &[u8; BLOCK_SIZE], key: u64) -> usize {
    let nr = node_nr(b);
    let mut lo = 0;
    let mut hi = nr;
    // First slot whose key is above `key`.
    while lo < hi {
        let mid = (lo + hi) / 2;
        if key_at(b, mid) <= key {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo.saturating_sub(1)
}

/// Where `key` is in a leaf: `Ok(i)` if present, `Err(i)` the slot it
/// would take.
fn leaf_search(b: &[u8; BLOCK_SIZE], key: u64) -> std::result::Result<usize, usize> {
    let nr = node_nr(b);
    let mut lo = 0;
    let mut hi = nr;
    while lo < hi {
        let mid = (lo + hi) / 2;
        match key_at(b, mid).cmp(&key) {
            std::cmp::Ordering::Equal => return Ok(mid),
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
        }
    }
    Err(lo)
}

impl<'d, R: ReadAt> Transaction<'d, R> {
    /// Starts a transaction on `dev` whose committed space maps are
    /// `data_root` and `meta_root`.
    pub fn open(
        dev: &'d MetadataDev<R>,
        data_root: SmRoot,
        meta_root: SmRoot,
    ) -> Result<Transaction<'d, R>> {
        let meta = SpaceMap::load(dev, meta_root, SmKind::Metadata)?;
        if meta.nr_blocks() > dev.nr_blocks() {
            return Err(Error::Inconsistent(format!(
                "the metadata space map covers {} blocks, the device has {}",
                meta.nr_blocks(),
                dev.nr_blocks()
            )));
        }
        let data = SpaceMap::load(dev, data_root, SmKind::Data)?;
        Ok(Transaction {
            dev,
            meta,
            data,
            dirty: BTreeMap::new(),
            fresh: HashSet::new(),
        })
    }

    /// Blocks of the metadata device.
    pub fn dev_blocks(&self) -> u64 {
        self.dev.nr_blocks()
    }

    /// True when nothing has changed.
    pub fn is_clean(&self) -> bool {
        self.dirty.is_empty()
            && self.meta.touched.is_empty()
            && self.data.touched.is_empty()
            && !self.meta.resized
            && !self.data.resized
    }

    /// A node's bytes: the copy changed in this transaction, or the
    /// committed block read and checked (`leaf_vs` = the tree's value
    /// size).
    fn node(&self, block: u64, leaf_vs: usize) -> Result<Cow<'_, [u8; BLOCK_SIZE]>> {
        if let Some((b, _)) = self.dirty.get(&block) {
            return Ok(Cow::Borrowed(b));
        }
        let b = self
            .dev
            .read_checked(block, BlockKind::BtreeNode, BTREE_CSUM_XOR)?;
        parse_node(block, &b, leaf_vs)?;
        Ok(Cow::Owned(*b))
    }

    fn node_mut(&mut self, block: u64) -> &mut [u8; BLOCK_SIZE] {
        // Callers only reach blocks they shadowed or allocated.
        &mut self
            .dirty
            .get_mut(&block)
            .expect("a block changed in this transaction")
            .0
    }

    /// Allocates a metadata block for this transaction.
    pub fn new_block(&mut self) -> Result<u64> {
        let nr_blocks = self.meta.nr_blocks();
        let b = self
            .meta
            .allocate()?
            .ok_or(Error::NoMetadataSpace { nr_blocks })?;
        self.fresh.insert(b);
        Ok(b)
    }

    /// A new empty leaf for values of `vs` bytes.
    pub fn new_leaf(&mut self, vs: usize) -> Result<u64> {
        let b = self.new_block()?;
        self.dirty
            .insert(b, (new_node(b, true, vs), BTREE_CSUM_XOR));
        Ok(b)
    }

    /// Adds a reference to every block a node points to: children of an
    /// internal node, the values of a leaf as `values` says.
    fn inc_children(&mut self, b: &[u8; BLOCK_SIZE], values: Values) -> Result<()> {
        let nr = node_nr(b);
        if !is_leaf(b) {
            for i in 0..nr {
                self.meta.inc(value_u64(b, i))?;
            }
            return Ok(());
        }
        match values {
            Values::Plain(_) => {}
            Values::SubtreeRoots => {
                for i in 0..nr {
                    self.meta.inc(value_u64(b, i))?;
                }
            }
            Values::DataBlocks => {
                for i in 0..nr {
                    self.data.inc(data_block_of(value_u64(b, i)))?;
                }
            }
        }
        Ok(())
    }

    /// The node at `block`, made writable: itself if allocated in this
    /// transaction and referenced once, else a copy in a new block.
    pub fn shadow(&mut self, block: u64, values: Values) -> Result<u64> {
        let count = self.meta.count(block)?;
        if self.fresh.contains(&block) && count == 1 {
            return Ok(block);
        }
        let mut copy = self.node(block, values.size())?.into_owned();
        let new = self.new_block()?;
        LittleEndian::write_u64(&mut copy[BLOCKNR..NR_ENTRIES], new);
        self.meta.dec(block)?;
        if count > 1 {
            self.inc_children(&copy, values)?;
        }
        self.dirty.insert(new, (Box::new(copy), BTREE_CSUM_XOR));
        Ok(new)
    }

    /// Moves the upper half of the entries of node `left` (writable) to a
    /// new node; returns the new node.
    fn split_off(&mut self, left: u64) -> Result<u64> {
        let right = self.new_block()?;
        let l = self.node_mut(left);
        let nr = node_nr(l);
        let keep = nr / 2;
        let vs = node_vsize(l);
        let mut r = new_node(right, is_leaf(l), vs);
        for i in keep..nr {
            let v = l[value_range(l, i)].to_vec();
            set_entry(&mut r, i - keep, key_at(l, i), &v);
        }
        set_nr(&mut r, nr - keep);
        set_nr(l, keep);
        self.dirty.insert(right, (r, BTREE_CSUM_XOR));
        Ok(right)
    }

    /// A full root (writable) keeps its block and becomes an internal node
    /// over two new children holding its entries (`btree_split_beneath`).
    fn split_beneath(&mut self, root: u64) -> Result<()> {
        let left = self.new_block()?;
        let mut l = Box::new(*self.node_mut(root));
        LittleEndian::write_u64(&mut l[BLOCKNR..NR_ENTRIES], left);
        self.dirty.insert(left, (l, BTREE_CSUM_XOR));
        let right = self.split_off(left)?;
        let lk = key_at(self.node_mut(left), 0);
        let rk = key_at(self.node_mut(right), 0);
        let mut r = new_node(root, false, 8);
        set_entry(&mut r, 0, lk, &left.to_le_bytes());
        set_entry(&mut r, 1, rk, &right.to_le_bytes());
        set_nr(&mut r, 2);
        *self.node_mut(root) = *r;
        Ok(())
    }

    /// Looks `key` up in the tree at `root`.
    pub fn lookup(&self, root: u64, values: Values, key: u64) -> Result<Option<Vec<u8>>> {
        let mut block = root;
        for _ in 0..MAX_DEPTH {
            let b = self.node(block, values.size())?;
            if is_leaf(&b) {
                return Ok(leaf_search(&b, key)
                    .ok()
                    .map(|i| b[value_range(&b, i)].to_vec()));
            }
            if node_nr(&b) == 0 || key < key_at(&b, 0) {
                return Ok(None);
            }
            block = value_u64(&b, child_index(&b, key));
        }
        Err(Error::TooDeep {
            block,
            tree: "btree",
            max: MAX_DEPTH,
        })
    }

    /// Inserts or overwrites `key` in the tree at `root`; returns the new
    /// root and whether the key is new. The path is shadowed; a full node
    /// on the way is split first (a full root beneath itself). When
    /// `drop_old` is set, an overwritten value that differs has its
    /// reference dropped (a mapping's old data block).
    pub fn insert(
        &mut self,
        root: u64,
        values: Values,
        key: u64,
        value: &[u8],
        drop_old: bool,
    ) -> Result<(u64, bool)> {
        let root = self.shadow(root, values)?;
        let mut cur = root;
        for _ in 0..MAX_DEPTH {
            let b = self.node_mut(cur);
            let leaf = is_leaf(b);
            let full = node_nr(b) == node_max(b);
            if full && !(leaf && leaf_search(b, key).is_ok()) {
                // Only the root can be full here: children are split
                // before they are entered.
                self.split_beneath(cur)?;
                continue;
            }
            if leaf {
                match leaf_search(b, key) {
                    Ok(i) => {
                        let r = value_range(b, i);
                        if &b[r.clone()] != value {
                            let old = b[r.clone()].to_vec();
                            b[r].copy_from_slice(value);
                            if drop_old {
                                self.drop_value(&old, values)?;
                            }
                        }
                        return Ok((root, false));
                    }
                    Err(i) => {
                        insert_at(b, i, key, value);
                        return Ok((root, true));
                    }
                }
            }
            if node_nr(b) == 0 {
                return Err(Error::Inconsistent(format!(
                    "metadata block {cur}: an internal btree node with no entries"
                )));
            }
            if key < key_at(b, 0) {
                LittleEndian::write_u64(&mut b[HEADER_SIZE..HEADER_SIZE + 8], key);
            }
            let i = child_index(b, key);
            let child = value_u64(b, i);
            let child = self.shadow(child, values)?;
            let b = self.node_mut(cur);
            let r = value_range(b, i);
            b[r].copy_from_slice(&child.to_le_bytes());
            let c = self.node_mut(child);
            let c_full = node_nr(c) == node_max(c);
            let exists = is_leaf(c) && leaf_search(c, key).is_ok();
            if c_full && !exists {
                let right = self.split_off(child)?;
                let rk = key_at(self.node_mut(right), 0);
                insert_at(self.node_mut(cur), i + 1, rk, &right.to_le_bytes());
                cur = if key >= rk { right } else { child };
            } else {
                cur = child;
            }
        }
        Err(Error::TooDeep {
            block: cur,
            tree: "btree",
            max: MAX_DEPTH,
        })
    }

    fn drop_value(&mut self, v: &[u8], values: Values) -> Result<()> {
        match values {
            Values::Plain(_) => Ok(()),
            Values::DataBlocks => self
                .data
                .dec(data_block_of(LittleEndian::read_u64(v)))
                .map(drop),
            Values::SubtreeRoots => self.del(LittleEndian::read_u64(v), Values::DataBlocks),
        }
    }

    /// Every (key, value) of the tree at `root`, in key order.
    pub fn entries(&self, root: u64, values: Values) -> Result<Vec<(u64, Vec<u8>)>> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        self.collect(root, values.size(), 0, &mut seen, &mut out)?;
        Ok(out)
    }

    fn collect(
        &self,
        block: u64,
        vs: usize,
        depth: usize,
        seen: &mut HashSet<u64>,
        out: &mut Vec<(u64, Vec<u8>)>,
    ) -> Result<()> {
        if depth >= MAX_DEPTH {
            return Err(Error::TooDeep {
                block,
                tree: "btree",
                max: MAX_DEPTH,
            });
        }
        if !seen.insert(block) {
            return Err(Error::Loop {
                block,
                tree: "btree",
            });
        }
        let b = self.node(block, vs)?;
        for i in 0..node_nr(&b) {
            if is_leaf(&b) {
                out.push((key_at(&b, i), b[value_range(&b, i)].to_vec()));
            } else {
                self.collect(value_u64(&b, i), vs, depth + 1, seen, out)?;
            }
        }
        Ok(())
    }

    /// Drops one reference to the tree at `root`; nodes left unreferenced
    /// drop theirs in turn, down to the leaves' values (`dm_btree_del`).
    pub fn del(&mut self, root: u64, values: Values) -> Result<()> {
        let mut stack = vec![(root, values, 0usize)];
        while let Some((block, values, depth)) = stack.pop() {
            if depth >= 2 * MAX_DEPTH {
                return Err(Error::TooDeep {
                    block,
                    tree: "btree",
                    max: MAX_DEPTH,
                });
            }
            if self.meta.dec(block)? > 0 {
                continue;
            }
            let b = self.node(block, values.size())?.into_owned();
            let nr = node_nr(&b);
            if !is_leaf(&b) {
                for i in 0..nr {
                    stack.push((value_u64(&b, i), values, depth + 1));
                }
                continue;
            }
            match values {
                Values::Plain(_) => {}
                Values::DataBlocks => {
                    for i in 0..nr {
                        self.data.dec(data_block_of(value_u64(&b, i)))?;
                    }
                }
                Values::SubtreeRoots => {
                    for i in 0..nr {
                        stack.push((value_u64(&b, i), Values::DataBlocks, depth + 1));
                    }
                }
            }
        }
        Ok(())
    }

    /// Takes `key` out of the tree at `root`; returns the new root and the
    /// value removed. The tree is written anew (every node fresh, at least
    /// a third full) and the old one dropped, so this is meant for the
    /// small trees (device details, the top-level mapping tree).
    pub fn remove(
        &mut self,
        root: u64,
        values: Values,
        key: u64,
    ) -> Result<(u64, Option<Vec<u8>>)> {
        let mut all = self.entries(root, values)?;
        let Some(at) = all.iter().position(|(k, _)| *k == key) else {
            return Ok((root, None));
        };
        let (_, removed) = all.remove(at);
        // The new leaves refer to the values too; the old tree's references
        // go when it is dropped, the removed value's with them.
        if values == Values::SubtreeRoots {
            for (_, v) in &all {
                self.meta.inc(LittleEndian::read_u64(v))?;
            }
        }
        let new_root = self.build(&all, values.size())?;
        self.del(root, values)?;
        Ok((new_root, Some(removed)))
    }

    /// Writes a new tree holding `entries` (in key order): leaves and
    /// internal nodes filled evenly, every one at least a third full.
    pub fn build(&mut self, entries: &[(u64, Vec<u8>)], vs: usize) -> Result<u64> {
        let mut level: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut leaf = true;
        let mut items: Vec<(u64, Vec<u8>)> = entries.to_vec();
        loop {
            let size = if leaf { vs } else { 8 };
            let max = max_entries(size);
            let nodes = items.len().div_ceil(max).max(1);
            let mut at = 0;
            level.clear();
            for n in 0..nodes {
                // Spread evenly: node n takes its share of what is left.
                let take = (items.len() - at) / (nodes - n);
                let block = self.new_block()?;
                let mut b = new_node(block, leaf, size);
                for (i, (k, v)) in items[at..at + take].iter().enumerate() {
                    set_entry(&mut b, i, *k, v);
                }
                set_nr(&mut b, take);
                let first = items.get(at).map_or(0, |e| e.0);
                self.dirty.insert(block, (b, BTREE_CSUM_XOR));
                level.push((first, block.to_le_bytes().to_vec()));
                at += take;
            }
            if level.len() == 1 {
                return Ok(LittleEndian::read_u64(&level[0].1));
            }
            items = std::mem::take(&mut level);
            leaf = false;
        }
    }

    /// Writes both space maps to new blocks and returns every block to
    /// write (the caller writes the superblock after them).
    pub fn commit(mut self) -> Result<Committed> {
        // The data map's overflow tree, bitmaps and index tree.
        let mut data_root = self.data.root;
        data_root.nr_blocks = self.data.nr_blocks();
        if self.data.overflow_changed {
            let e = self.data.overflow_entries();
            let new = self.build(&e, REF_COUNT_VALUE_SIZE)?;
            self.del(
                self.data.root.ref_count_root,
                Values::Plain(REF_COUNT_VALUE_SIZE),
            )?;
            data_root.ref_count_root = new;
        }
        let touched: Vec<usize> = self.data.touched.iter().copied().collect();
        let mut data_entries = self.data.entries.clone();
        for &i in &touched {
            let new = self.new_block()?;
            let old = data_entries.get(i).map(|e| e.blocknr).ok_or_else(|| {
                Error::Unsupported("a data space map larger than its bitmaps".into())
            })?;
            if !self.data.fresh.contains(&i) {
                self.meta.dec(old)?;
            }
            let (b, ie) = self.data.bitmap_image(i, new);
            self.dirty.insert(new, (b, BITMAP_CSUM_XOR));
            data_entries[i] = ie;
        }
        if !touched.is_empty() {
            let e: Vec<(u64, Vec<u8>)> = data_entries
                .iter()
                .enumerate()
                .map(|(i, ie)| {
                    let mut v = [0u8; INDEX_ENTRY_SIZE];
                    ie.write(&mut v);
                    (i as u64, v.to_vec())
                })
                .collect();
            let new = self.build(&e, INDEX_ENTRY_SIZE)?;
            self.del(self.data.root.bitmap_root, Values::Plain(INDEX_ENTRY_SIZE))?;
            data_root.bitmap_root = new;
        }
        data_root.nr_allocated = self.data.nr_allocated();

        // The metadata map: overflow tree, index block, then bitmaps until
        // moving them changes no further bitmap.
        let mut meta_root = self.meta.root;
        if self.meta.overflow_changed {
            let e = self.meta.overflow_entries();
            let new = self.build(&e, REF_COUNT_VALUE_SIZE)?;
            self.del(
                self.meta.root.ref_count_root,
                Values::Plain(REF_COUNT_VALUE_SIZE),
            )?;
            meta_root.ref_count_root = new;
        }
        let index = self.new_block()?;
        self.meta.dec(self.meta.root.bitmap_root)?;
        meta_root.bitmap_root = index;
        let mut moved: BTreeMap<usize, u64> = BTreeMap::new();
        loop {
            let pending: Vec<usize> = self
                .meta
                .touched
                .iter()
                .copied()
                .filter(|i| !moved.contains_key(i))
                .collect();
            if pending.is_empty() {
                break;
            }
            for i in pending {
                let new = self.new_block()?;
                let old = self.meta.entries.get(i).map(|e| e.blocknr).ok_or_else(|| {
                    Error::Unsupported("a metadata space map larger than its bitmaps".into())
                })?;
                if !self.meta.fresh.contains(&i) {
                    self.meta.dec(old)?;
                }
                moved.insert(i, new);
            }
        }
        let mut index_block = Box::new([0u8; BLOCK_SIZE]);
        LittleEndian::write_u64(&mut index_block[8..16], index);
        for (i, old) in self.meta.entries.clone().iter().enumerate() {
            let ie = match moved.get(&i) {
                Some(&new) => {
                    let (b, ie) = self.meta.bitmap_image(i, new);
                    self.dirty.insert(new, (b, BITMAP_CSUM_XOR));
                    ie
                }
                None => *old,
            };
            if i >= MAX_METADATA_BITMAPS {
                break;
            }
            let at = METADATA_INDEX_ENTRIES + i * INDEX_ENTRY_SIZE;
            let mut v = [0u8; INDEX_ENTRY_SIZE];
            ie.write(&mut v);
            index_block[at..at + INDEX_ENTRY_SIZE].copy_from_slice(&v);
        }
        self.dirty.insert(index, (index_block, INDEX_CSUM_XOR));
        meta_root.nr_blocks = self.meta.nr_blocks();
        meta_root.nr_allocated = self.meta.nr_allocated();

        // Blocks made and dropped again in this transaction are not
        // written: nothing refers to them.
        let meta = &self.meta;
        let blocks = self
            .dirty
            .into_iter()
            .filter(|(n, _)| meta.count(*n).is_ok_and(|c| c > 0))
            .map(|(n, (mut b, salt))| {
                let c = block_checksum(&b[..], salt);
                LittleEndian::write_u32(&mut b[0..4], c);
                (n, b)
            })
            .collect();
        Ok(Committed {
            blocks,
            data_sm_root: data_root,
            metadata_sm_root: meta_root,
        })
    }
}

/// The header of a node, for tests and checks.
pub fn header(b: &[u8; BLOCK_SIZE]) -> NodeHeader {
    NodeHeader::parse(b)
}

#[cfg(test)]
#[allow(clippy::as_conversions)]
mod tests {
    use super::*;

    #[test]
    fn capacities_match_the_kernels() {
        assert_eq!(max_entries(8), 252);
        assert_eq!(max_entries(16), 168);
        assert_eq!(max_entries(24), 126);
        assert_eq!(max_entries(4), 336);
    }

    #[test]
    fn node_slot_moves() {
        let mut b = new_node(5, true, 8);
        insert_at(&mut b, 0, 10, &100u64.to_le_bytes());
        insert_at(&mut b, 0, 5, &50u64.to_le_bytes());
        insert_at(&mut b, 2, 20, &200u64.to_le_bytes());
        let keys: Vec<u64> = (0..node_nr(&b)).map(|i| key_at(&b, i)).collect();
        assert_eq!(keys, vec![5, 10, 20]);
        assert_eq!(value_u64(&b, 1), 100);
        assert_eq!(leaf_search(&b, 20), Ok(2));
        assert_eq!(leaf_search(&b, 7), Err(1));
    }
}
