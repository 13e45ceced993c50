//! Persistent-data arrays (`dm-array.c`): a btree whose keys are array
//! block indexes and whose values are the block numbers of array blocks;
//! each array block (`struct array_block`) holds a run of fixed-size
//! values. Every block but the last is full.
//!
//! The same array block may stand at several indexes (the kernel fills a
//! grown array with one shared block of default values), so blocks are
//! read through a small cache, never assumed distinct.

use crate::error::{BlockKind, Error, Result};
use crate::pdata::block::{MetadataDev, BLOCK_SIZE};
use crate::pdata::btree;
use crate::pdata::checksum::{block_checksum, ARRAY_CSUM_XOR};
use byteorder::{ByteOrder, LittleEndian};
use lvm_meta::io::ReadAt;

/// Offset of `csum` (over bytes 4..4096, salt [`ARRAY_CSUM_XOR`]).
pub const CSUM: usize = 0;
/// Offset of `max_entries`.
pub const MAX_ENTRIES: usize = 4;
/// Offset of `nr_entries`.
pub const NR_ENTRIES: usize = 8;
/// Offset of `value_size`.
pub const VALUE_SIZE: usize = 12;
/// Offset of `blocknr` (the block's own location; note: not at 8 as in
/// btree nodes).
pub const BLOCKNR: usize = 16;
/// Size of the header; the values start here.
pub const HEADER_SIZE: usize = 24;

/// Most entries an array read here may have: 2^32, the largest count a
/// dm-cache superblock can name (`cache_blocks` is 32 bits).
pub const MAX_ARRAY_ENTRIES: u64 = 1 << 32;

/// The header of an array block as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArrayBlockHeader {
    /// `csum`.
    pub csum: u32,
    /// `max_entries`: capacity, `(4096 − 24) / value_size`.
    pub max_entries: u32,
    /// `nr_entries`: values in use.
    pub nr_entries: u32,
    /// `value_size`.
    pub value_size: u32,
    /// `blocknr`.
    pub blocknr: u64,
}

impl ArrayBlockHeader {
    /// Decodes the header of `b`.
    pub fn decode(b: &[u8; BLOCK_SIZE]) -> ArrayBlockHeader {
        ArrayBlockHeader {
            csum: LittleEndian::read_u32(&b[CSUM..MAX_ENTRIES]),
            max_entries: LittleEndian::read_u32(&b[MAX_ENTRIES..NR_ENTRIES]),
            nr_entries: LittleEndian::read_u32(&b[NR_ENTRIES..VALUE_SIZE]),
            value_size: LittleEndian::read_u32(&b[VALUE_SIZE..BLOCKNR]),
            blocknr: LittleEndian::read_u64(&b[BLOCKNR..HEADER_SIZE]),
        }
    }
}

/// Values an array block of `value_size`-byte values holds
/// (`calc_max_entries`).
pub fn entries_per_block(value_size: usize) -> usize {
    BLOCK_SIZE
        .saturating_sub(HEADER_SIZE)
        .checked_div(value_size)
        .unwrap_or(0)
}

fn bad(block: u64, field: &'static str, found: u64, reason: &'static str) -> Error {
    Error::BadValue {
        block,
        kind: BlockKind::ArrayBlock,
        field,
        found,
        reason,
    }
}

/// Checks an array block read from `block` holding `value_size`-byte
/// values: checksum, self-location, value size, capacity, and
/// `nr_entries` equal to `want` (the array's length fixes it). Returns
/// the bytes of the values in use.
pub fn parse_block(
    block: u64,
    b: &[u8; BLOCK_SIZE],
    value_size: usize,
    want: usize,
) -> Result<&[u8]> {
    let h = ArrayBlockHeader::decode(b);
    let computed = block_checksum(&b[..], ARRAY_CSUM_XOR);
    if h.csum != computed {
        return Err(Error::Checksum {
            block,
            kind: BlockKind::ArrayBlock,
            stored: h.csum,
            computed,
        });
    }
    if h.blocknr != block {
        return Err(Error::WrongLocation {
            block,
            kind: BlockKind::ArrayBlock,
            found: h.blocknr,
        });
    }
    if usize::try_from(h.value_size).ok() != Some(value_size) {
        return Err(bad(
            block,
            "value_size",
            u64::from(h.value_size),
            "not the value size of this array",
        ));
    }
    let max = entries_per_block(value_size);
    if usize::try_from(h.max_entries).ok() != Some(max) {
        return Err(bad(
            block,
            "max_entries",
            u64::from(h.max_entries),
            "not (4096 - 24) / value_size",
        ));
    }
    if usize::try_from(h.nr_entries).ok() != Some(want) {
        return Err(bad(
            block,
            "nr_entries",
            u64::from(h.nr_entries),
            "every array block but the last is full, the last holds the rest",
        ));
    }
    // OK: want <= max, so the values end inside the block.
    let end = want
        .checked_mul(value_size)
        .and_then(|n| n.checked_add(HEADER_SIZE))
        .filter(|e| *e <= BLOCK_SIZE)
        .ok_or_else(|| bad(block, "nr_entries", u64::from(h.nr_entries), "too many"))?;
    Ok(&b[HEADER_SIZE..end])
}

/// Calls `value(index, bytes)` for each of the `nr_entries` values of the
/// array rooted at `root` (`value_size` bytes each), in index order. The
/// btree must hold exactly the array blocks 0, 1, … that `nr_entries`
/// needs. `array` names the array in errors.
pub fn walk<R: ReadAt>(
    dev: &MetadataDev<R>,
    root: u64,
    value_size: usize,
    nr_entries: u64,
    array: &'static str,
    value: &mut dyn FnMut(u64, &[u8]) -> Result<()>,
) -> Result<()> {
    let per = u64::try_from(entries_per_block(value_size)).unwrap_or(0);
    if per == 0 || nr_entries > MAX_ARRAY_ENTRIES {
        return Err(Error::Inconsistent(format!(
            "{array}: {nr_entries} entries of {value_size} bytes cannot be read"
        )));
    }
    let nr_blocks = nr_entries.div_ceil(per);
    // Gather the block numbers first (the btree walk checks the tree), so
    // that a missing index is named before any value is handed out.
    let mut blocks: Vec<u64> = Vec::new();
    btree::walk(dev, root, 8, array, &mut |key, v| {
        let expect = u64::try_from(blocks.len()).unwrap_or(u64::MAX);
        if key != expect || key >= nr_blocks {
            return Err(Error::Inconsistent(format!(
                "{array}: array block index {key} found where {expect} of {nr_blocks} was expected"
            )));
        }
        blocks.push(LittleEndian::read_u64(v));
        Ok(())
    })?;
    if u64::try_from(blocks.len()).unwrap_or(u64::MAX) != nr_blocks {
        return Err(Error::Inconsistent(format!(
            "{array}: {} array blocks where {nr_entries} entries need {nr_blocks}",
            blocks.len()
        )));
    }
    let mut cached: Option<(u64, crate::pdata::block::Block)> = None;
    let mut index = 0u64;
    for &block in &blocks {
        let left = nr_entries.saturating_sub(index);
        let want = usize::try_from(left.min(per)).unwrap_or(0);
        if cached.as_ref().is_none_or(|(at, _)| *at != block) {
            cached = Some((block, dev.read_raw(block)?));
        }
        // OK to unwrap: set just above.
        let Some((_, b)) = cached.as_ref() else {
            continue;
        };
        let values = parse_block(block, b, value_size, want)?;
        for v in values.chunks_exact(value_size) {
            value(index, v)?;
            index = index.saturating_add(1);
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::as_conversions)]
pub(crate) mod tests {
    use super::*;
    use crate::pdata::btree::tests::node_bytes;
    use crate::pdata::btree::LEAF_NODE;

    /// An array block at `block` of `value_size`-byte values.
    pub(crate) fn array_block_bytes(block: u64, value_size: usize, values: &[Vec<u8>]) -> Vec<u8> {
        let mut b = vec![0u8; BLOCK_SIZE];
        LittleEndian::write_u32(&mut b[MAX_ENTRIES..], entries_per_block(value_size) as u32);
        LittleEndian::write_u32(&mut b[NR_ENTRIES..], values.len() as u32);
        LittleEndian::write_u32(&mut b[VALUE_SIZE..], value_size as u32);
        LittleEndian::write_u64(&mut b[BLOCKNR..], block);
        for (i, v) in values.iter().enumerate() {
            b[HEADER_SIZE + i * value_size..HEADER_SIZE + (i + 1) * value_size].copy_from_slice(v);
        }
        let c = block_checksum(&b, ARRAY_CSUM_XOR);
        LittleEndian::write_u32(&mut b[CSUM..], c);
        b
    }

    fn u64s(n: std::ops::Range<u64>) -> Vec<Vec<u8>> {
        n.map(|v| v.to_le_bytes().to_vec()).collect()
    }

    fn read_all(dev: &MetadataDev<Vec<u8>>, root: u64, n: u64) -> Result<Vec<u64>> {
        let mut out = Vec::new();
        walk(dev, root, 8, n, "test array", &mut |i, v| {
            assert_eq!(i, out.len() as u64);
            out.push(LittleEndian::read_u64(v));
            Ok(())
        })?;
        Ok(out)
    }

    /// Block 0: btree leaf naming array blocks 1 and 2 (509 + 3 values).
    fn two_block_array() -> Vec<u8> {
        let mut img = node_bytes(
            0,
            LEAF_NODE,
            8,
            &[
                (0, 1u64.to_le_bytes().to_vec()),
                (1, 2u64.to_le_bytes().to_vec()),
            ],
        );
        img.extend(array_block_bytes(1, 8, &u64s(0..509)));
        img.extend(array_block_bytes(2, 8, &u64s(1000..1003)));
        img
    }

    #[test]
    fn values_in_index_order_across_blocks() {
        let dev = MetadataDev::new(two_block_array()).unwrap();
        let v = read_all(&dev, 0, 512).unwrap();
        assert_eq!(v.len(), 512);
        assert_eq!(v[508], 508);
        assert_eq!(v[509..], [1000, 1001, 1002]);
    }

    #[test]
    fn a_length_that_does_not_match_the_blocks_is_named() {
        let dev = MetadataDev::new(two_block_array()).unwrap();
        // 511 entries: the last block would hold 2, it holds 3.
        assert!(matches!(
            read_all(&dev, 0, 511),
            Err(Error::BadValue {
                block: 2,
                field: "nr_entries",
                ..
            })
        ));
        // 509 entries need one block; the tree has two.
        assert!(matches!(
            read_all(&dev, 0, 509),
            Err(Error::Inconsistent(_))
        ));
        // 1100 entries need three blocks; the tree has two.
        assert!(matches!(
            read_all(&dev, 0, 1100),
            Err(Error::Inconsistent(_))
        ));
    }

    #[test]
    fn damaged_blocks_are_named() {
        let mut img = two_block_array();
        img[BLOCK_SIZE * 2 + HEADER_SIZE] ^= 1;
        let dev = MetadataDev::new(img).unwrap();
        assert!(matches!(
            read_all(&dev, 0, 512),
            Err(Error::Checksum {
                block: 2,
                kind: BlockKind::ArrayBlock,
                ..
            })
        ));
        // Array block 2 stored where block 1 should be.
        let mut img = node_bytes(0, LEAF_NODE, 8, &[(0, 1u64.to_le_bytes().to_vec())]);
        img.extend(array_block_bytes(2, 8, &u64s(0..3)));
        let dev = MetadataDev::new(img).unwrap();
        assert!(matches!(
            read_all(&dev, 0, 3),
            Err(Error::WrongLocation {
                block: 1,
                found: 2,
                ..
            })
        ));
    }

    #[test]
    fn a_shared_block_serves_several_indexes() {
        let mut img = node_bytes(
            0,
            LEAF_NODE,
            8,
            &[
                (0, 1u64.to_le_bytes().to_vec()),
                (1, 1u64.to_le_bytes().to_vec()),
            ],
        );
        img.extend(array_block_bytes(1, 8, &u64s(7..516)));
        let dev = MetadataDev::new(img).unwrap();
        let v = read_all(&dev, 0, 1018).unwrap();
        assert_eq!((v[0], v[509], v[1017]), (7, 7, 515));
    }
}
