//! Space maps (`dm-space-map-common.c`): the root stored in the superblock,
//! index entries, bitmap blocks of 2-bit reference counts, and the
//! overflow ("ref count") btree for counts of 3 and more.
//!
//! The data space map keeps its index entries in a btree (key = bitmap
//! index, 16-byte values); the metadata space map keeps up to
//! [`MAX_METADATA_BITMAPS`] of them in one index block.

use crate::error::{BlockKind, Error, Result};
use crate::pdata::block::{MetadataDev, BLOCK_SIZE};
use crate::pdata::btree;
use crate::pdata::checksum::{BITMAP_CSUM_XOR, INDEX_CSUM_XOR};
use byteorder::{ByteOrder, LittleEndian};
use lvm_meta::io::ReadAt;

/// Bytes of a `disk_sm_root` (the rest of its 128-byte superblock field is
/// zero).
pub const SM_ROOT_SIZE: usize = 32;
/// Bytes of a `disk_index_entry`.
pub const INDEX_ENTRY_SIZE: usize = 16;
/// Header bytes of a bitmap block (`disk_bitmap_header`).
pub const BITMAP_HEADER_SIZE: usize = 16;
/// 2-bit entries per bitmap block: (4096 − 16) × 4.
pub const ENTRIES_PER_BITMAP: u64 = 16_320;
/// Index entries in the metadata space map's index block
/// (`MAX_METADATA_BITMAPS`).
pub const MAX_METADATA_BITMAPS: usize = 255;
/// Offset of the entries in the metadata index block.
pub const METADATA_INDEX_ENTRIES: usize = 16;
/// Value size of the overflow btree (u32 counts).
pub const REF_COUNT_VALUE_SIZE: usize = 4;

/// `struct disk_sm_root`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SmRoot {
    /// `nr_blocks`: blocks the map covers.
    pub nr_blocks: u64,
    /// `nr_allocated`: blocks whose count is not zero.
    pub nr_allocated: u64,
    /// `bitmap_root`: the index block (metadata map) or the index btree's
    /// root (data map).
    pub bitmap_root: u64,
    /// `ref_count_root`: root of the overflow btree.
    pub ref_count_root: u64,
}

impl SmRoot {
    /// Decodes the first [`SM_ROOT_SIZE`] bytes of `b`.
    pub fn parse(b: &[u8; SM_ROOT_SIZE]) -> SmRoot {
        SmRoot {
            nr_blocks: LittleEndian::read_u64(&b[0..8]),
            nr_allocated: LittleEndian::read_u64(&b[8..16]),
            bitmap_root: LittleEndian::read_u64(&b[16..24]),
            ref_count_root: LittleEndian::read_u64(&b[24..32]),
        }
    }

    /// Encodes into the first [`SM_ROOT_SIZE`] bytes of `b`.
    pub fn write(&self, b: &mut [u8; SM_ROOT_SIZE]) {
        LittleEndian::write_u64(&mut b[0..8], self.nr_blocks);
        LittleEndian::write_u64(&mut b[8..16], self.nr_allocated);
        LittleEndian::write_u64(&mut b[16..24], self.bitmap_root);
        LittleEndian::write_u64(&mut b[24..32], self.ref_count_root);
    }

    /// Bitmap blocks needed for `nr_blocks` (rounded up).
    pub fn nr_bitmaps(&self) -> u64 {
        self.nr_blocks.div_ceil(ENTRIES_PER_BITMAP)
    }
}

/// `struct disk_index_entry`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    /// `blocknr`: where the bitmap block is.
    pub blocknr: u64,
    /// `nr_free`: zero counts in the bitmap.
    pub nr_free: u32,
    /// `none_free_before`: search hint.
    pub none_free_before: u32,
}

impl IndexEntry {
    /// Decodes 16 bytes.
    pub fn parse(b: &[u8; INDEX_ENTRY_SIZE]) -> IndexEntry {
        IndexEntry {
            blocknr: LittleEndian::read_u64(&b[0..8]),
            nr_free: LittleEndian::read_u32(&b[8..12]),
            none_free_before: LittleEndian::read_u32(&b[12..16]),
        }
    }

    /// Encodes into 16 bytes.
    pub fn write(&self, b: &mut [u8; INDEX_ENTRY_SIZE]) {
        LittleEndian::write_u64(&mut b[0..8], self.blocknr);
        LittleEndian::write_u32(&mut b[8..12], self.nr_free);
        LittleEndian::write_u32(&mut b[12..16], self.none_free_before);
    }
}

/// Which of the two space maps a root belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmKind {
    /// The data space map: index entries in a btree.
    Data,
    /// The metadata space map: index entries in one index block.
    Metadata,
}

/// A space map's index entries, one per bitmap, in bitmap order.
pub fn index_entries<R: ReadAt>(
    dev: &MetadataDev<R>,
    root: &SmRoot,
    kind: SmKind,
) -> Result<Vec<IndexEntry>> {
    let nr_bitmaps = root.nr_bitmaps();
    match kind {
        SmKind::Metadata => {
            let block = root.bitmap_root;
            let limit = u64::try_from(MAX_METADATA_BITMAPS).unwrap_or(u64::MAX);
            if nr_bitmaps > limit {
                return Err(Error::BadValue {
                    block,
                    kind: BlockKind::MetadataIndex,
                    field: "nr_blocks",
                    found: root.nr_blocks,
                    reason: "the metadata space map indexes at most 255 bitmaps",
                });
            }
            let b = dev.read_checked(block, BlockKind::MetadataIndex, INDEX_CSUM_XOR)?;
            let entries = b[METADATA_INDEX_ENTRIES..]
                .chunks_exact(INDEX_ENTRY_SIZE)
                .take(usize::try_from(nr_bitmaps).unwrap_or(0))
                .map(|c| {
                    // OK to unwrap: chunks_exact gives 16-byte chunks.
                    IndexEntry::parse(c.try_into().unwrap_or(&[0u8; INDEX_ENTRY_SIZE]))
                })
                .collect();
            Ok(entries)
        }
        SmKind::Data => {
            let mut entries = Vec::new();
            btree::walk(
                dev,
                root.bitmap_root,
                INDEX_ENTRY_SIZE,
                "data space map index",
                &mut |key, v| {
                    let expected = u64::try_from(entries.len()).unwrap_or(u64::MAX);
                    if key != expected || key >= nr_bitmaps {
                        return Err(Error::Inconsistent(format!(
                            "data space map index: entry for bitmap {key}, expected bitmap {expected} of {nr_bitmaps}"
                        )));
                    }
                    entries.push(IndexEntry::parse(
                        v.try_into().unwrap_or(&[0u8; INDEX_ENTRY_SIZE]),
                    ));
                    Ok(())
                },
            )?;
            if u64::try_from(entries.len()).unwrap_or(u64::MAX) != nr_bitmaps {
                return Err(Error::Inconsistent(format!(
                    "data space map index: {} entries for {} blocks ({nr_bitmaps} bitmaps)",
                    entries.len(),
                    root.nr_blocks
                )));
            }
            Ok(entries)
        }
    }
}

/// The 2-bit count of entry `e` (< [`ENTRIES_PER_BITMAP`]) of a bitmap
/// block: with `f = (word >> 2k) & 3` of LE word `e / 32`, `k = e % 32`,
/// bit 2k is the high bit and bit 2k+1 the low bit of the count
/// (`sm_lookup_bitmap`); 3 means "look in the overflow tree".
pub fn bitmap_entry(bitmap: &[u8; BLOCK_SIZE], e: u64) -> u8 {
    let word_i = usize::try_from(e / 32).unwrap_or(usize::MAX);
    let at = word_i
        .checked_mul(8)
        .and_then(|w| w.checked_add(BITMAP_HEADER_SIZE));
    let Some(word) = at.and_then(|a| bitmap.get(a..a.checked_add(8)?)) else {
        return 0;
    };
    let word = LittleEndian::read_u64(word);
    let shift = (e % 32).saturating_mul(2);
    let hi = (word >> shift) & 1;
    let lo = (word >> shift.saturating_add(1)) & 1;
    // OK: hi and lo are single bits.
    u8::try_from(hi.saturating_mul(2).saturating_add(lo)).unwrap_or(3)
}

/// Sets entry `e` (< [`ENTRIES_PER_BITMAP`]) of a bitmap block to
/// `count` (3 for "3 or more"), in [`bitmap_entry`]'s bit order
/// (`sm_set_bitmap`).
pub fn set_bitmap_entry(bitmap: &mut [u8; BLOCK_SIZE], e: u64, count: u8) {
    let word_i = usize::try_from(e / 32).unwrap_or(usize::MAX);
    let at = word_i
        .checked_mul(8)
        .and_then(|w| w.checked_add(BITMAP_HEADER_SIZE));
    let Some(word) = at.and_then(|a| bitmap.get_mut(a..a.checked_add(8)?)) else {
        return;
    };
    let shift = (e % 32).saturating_mul(2);
    let mut w = LittleEndian::read_u64(word);
    w &= !(3u64 << shift);
    let c = u64::from(count.min(3));
    // The high bit of the count is bit 2k, the low bit 2k+1.
    w |= ((c >> 1) & 1) << shift;
    w |= (c & 1) << shift.saturating_add(1);
    LittleEndian::write_u64(word, w);
}

/// Counts drawn from a space map's bitmaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SmUsage {
    /// Blocks covered (`nr_blocks` of the root).
    pub nr_blocks: u64,
    /// Blocks with a non-zero count, counted in the bitmaps.
    pub allocated: u64,
    /// Blocks whose count is 3 or more (held in the overflow tree).
    pub overflowed: u64,
}

/// Counts the allocated blocks of a space map from its bitmaps (every
/// bitmap is read and checked; entries past `nr_blocks` are ignored).
pub fn usage<R: ReadAt>(dev: &MetadataDev<R>, root: &SmRoot, kind: SmKind) -> Result<SmUsage> {
    let entries = index_entries(dev, root, kind)?;
    let mut usage = SmUsage {
        nr_blocks: root.nr_blocks,
        ..SmUsage::default()
    };
    let mut first = 0u64;
    for ie in entries {
        let b = dev.read_checked(ie.blocknr, BlockKind::Bitmap, BITMAP_CSUM_XOR)?;
        let n = root.nr_blocks.saturating_sub(first).min(ENTRIES_PER_BITMAP);
        for e in 0..n {
            match bitmap_entry(&b, e) {
                0 => {}
                3 => {
                    usage.allocated = usage.allocated.saturating_add(1);
                    usage.overflowed = usage.overflowed.saturating_add(1);
                }
                _ => usage.allocated = usage.allocated.saturating_add(1),
            }
        }
        first = first.saturating_add(ENTRIES_PER_BITMAP);
    }
    Ok(usage)
}

/// The reference count of block `b`: its bitmap entry, or the overflow
/// tree's value when the entry is 3.
pub fn ref_count<R: ReadAt>(
    dev: &MetadataDev<R>,
    root: &SmRoot,
    kind: SmKind,
    b: u64,
) -> Result<u32> {
    if b >= root.nr_blocks {
        return Err(Error::Inconsistent(format!(
            "block {b} is past the space map's {} blocks",
            root.nr_blocks
        )));
    }
    let entries = index_entries(dev, root, kind)?;
    let i = usize::try_from(b / ENTRIES_PER_BITMAP).unwrap_or(usize::MAX);
    let Some(ie) = entries.get(i) else {
        return Err(Error::Inconsistent(format!("no bitmap for block {b}")));
    };
    let bm = dev.read_checked(ie.blocknr, BlockKind::Bitmap, BITMAP_CSUM_XOR)?;
    match bitmap_entry(&bm, b % ENTRIES_PER_BITMAP) {
        3 => {
            let v = btree::lookup(
                dev,
                root.ref_count_root,
                REF_COUNT_VALUE_SIZE,
                "ref count tree",
                b,
            )?;
            match v {
                Some(v) => Ok(LittleEndian::read_u32(&v)),
                None => Err(Error::Inconsistent(format!(
                    "block {b}: bitmap says 3 or more, the ref count tree has no entry"
                ))),
            }
        }
        c => Ok(u32::from(c)),
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::as_conversions)]
mod tests {
    use super::*;

    #[test]
    fn bitmap_bit_order() {
        // The kernel word 0xa9a holds the counts 1,1,2,1,1,1 in entries 0..5.
        let mut b = [0u8; BLOCK_SIZE];
        LittleEndian::write_u64(&mut b[16..24], 0xa9a);
        let counts: Vec<u8> = (0..6).map(|e| bitmap_entry(&b, e)).collect();
        assert_eq!(counts, vec![1, 1, 2, 1, 1, 1]);
        // The tools' word 0x800a7: 3,2,1,1 and entry 9 = 1.
        LittleEndian::write_u64(&mut b[16..24], 0x800a7);
        let counts: Vec<u8> = (0..4).map(|e| bitmap_entry(&b, e)).collect();
        assert_eq!(counts, vec![3, 2, 1, 1]);
        assert_eq!(bitmap_entry(&b, 9), 1);
        assert_eq!(bitmap_entry(&b, ENTRIES_PER_BITMAP + 5), 0);
    }

    #[test]
    fn absurd_metadata_map_size_is_named() {
        let dev = MetadataDev::new(vec![0u8; BLOCK_SIZE]).unwrap();
        let root = SmRoot {
            nr_blocks: u64::MAX,
            nr_allocated: 0,
            bitmap_root: 0,
            ref_count_root: 0,
        };
        assert!(matches!(
            index_entries(&dev, &root, SmKind::Metadata),
            Err(Error::BadValue {
                field: "nr_blocks",
                ..
            })
        ));
    }
}
