//! Empty pool metadata, as a pool's first activation leaves a zeroed
//! metadata device (`__format_metadata`): a superblock at transaction 0 and
//! time 0, an empty device-details tree and top-level mapping tree, a data
//! space map with every count 0, and a metadata space map counting the
//! blocks all of these take.
//!
//! The structures and their values follow the kernel's; where each lands
//! does not: the kernel's bootstrap allocator places them in the order its
//! code creates them, this layout puts them in a fixed order after the
//! superblock (metadata bitmaps, the metadata index block, the data
//! bitmaps, the data space map's index tree, the two overflow trees, the
//! details tree, the top-level mapping tree). Readers and `thin_check`
//! find them through the superblock either way.

// Block numbers here are below the metadata device's size, which is
// capped at MAX_METADATA_BLOCKS; slot indices below 4096.
#![allow(clippy::arithmetic_side_effects, clippy::as_conversions)]

use crate::error::{Error, Result};
use crate::pdata::block::BLOCK_SIZE;
use crate::pdata::btree::{FLAGS, HEADER_SIZE, LEAF_NODE, MAX_ENTRIES, VALUE_SIZE};
use crate::pdata::checksum::{
    block_checksum, BITMAP_CSUM_XOR, BTREE_CSUM_XOR, INDEX_CSUM_XOR, SUPERBLOCK_CSUM_XOR,
};
use crate::pdata::space_map::{
    set_bitmap_entry, IndexEntry, SmRoot, ENTRIES_PER_BITMAP, INDEX_ENTRY_SIZE,
    MAX_METADATA_BITMAPS, METADATA_INDEX_ENTRIES, REF_COUNT_VALUE_SIZE,
};
use crate::pdata::transaction::max_entries;
use crate::thin::device_details::DEVICE_DETAILS_SIZE;
use crate::thin::superblock::{
    offset, Superblock, DATA_BLOCK_SIZE_MAX, DATA_BLOCK_SIZE_MIN, METADATA_BLOCK_SECTORS,
    THIN_SUPERBLOCK_MAGIC,
};
use byteorder::{ByteOrder, LittleEndian};

/// Most metadata blocks a pool uses (255 bitmaps of 16320 entries,
/// `DM_SM_METADATA_MAX_BLOCKS`); a larger device is used up to this.
pub const MAX_METADATA_BLOCKS: u64 = 255 * ENTRIES_PER_BITMAP;

/// The superblock `version` the kernel writes (`THIN_VERSION`).
pub const THIN_VERSION: u32 = 2;

type Block = Box<[u8; BLOCK_SIZE]>;

fn stamped(mut b: Block, at: u64, salt: u32) -> (u64, Block) {
    LittleEndian::write_u64(&mut b[8..16], at);
    let c = block_checksum(&b[..], salt);
    LittleEndian::write_u32(&mut b[0..4], c);
    (at, b)
}

fn leaf(value_size: usize, entries: &[(u64, Vec<u8>)]) -> Block {
    let mut b: Block = Box::new([0u8; BLOCK_SIZE]);
    let max = max_entries(value_size);
    LittleEndian::write_u32(&mut b[FLAGS..FLAGS + 4], LEAF_NODE);
    LittleEndian::write_u32(&mut b[16..20], entries.len() as u32);
    LittleEndian::write_u32(&mut b[MAX_ENTRIES..MAX_ENTRIES + 4], max as u32);
    LittleEndian::write_u32(&mut b[VALUE_SIZE..VALUE_SIZE + 4], value_size as u32);
    let values_at = HEADER_SIZE + 8 * max;
    for (i, (k, v)) in entries.iter().enumerate() {
        LittleEndian::write_u64(&mut b[HEADER_SIZE + 8 * i..HEADER_SIZE + 8 * i + 8], *k);
        b[values_at + value_size * i..values_at + value_size * (i + 1)].copy_from_slice(v);
    }
    b
}

fn bad(what: String) -> Error {
    Error::Inconsistent(what)
}

/// The blocks of empty pool metadata for a metadata device of
/// `device_blocks` 4 KiB blocks, a pool of `nr_data_blocks` data blocks of
/// `data_block_size` sectors; block 0 (the superblock) last. Refused
/// when the data space map's index would not fit in one leaf (more than
/// 168 × 16320 data blocks) or the device is too small.
pub fn format(
    device_blocks: u64,
    nr_data_blocks: u64,
    data_block_size: u32,
) -> Result<Vec<(u64, Block)>> {
    if !(DATA_BLOCK_SIZE_MIN..=DATA_BLOCK_SIZE_MAX).contains(&data_block_size)
        || !data_block_size.is_multiple_of(DATA_BLOCK_SIZE_MIN)
    {
        return Err(bad(format!(
            "data block size {data_block_size} sectors: a multiple of 128 from 128 to 2097152"
        )));
    }
    let nr_meta = device_blocks.min(MAX_METADATA_BLOCKS);
    let meta_bitmaps = nr_meta.div_ceil(ENTRIES_PER_BITMAP);
    let data_bitmaps = nr_data_blocks.div_ceil(ENTRIES_PER_BITMAP);
    if data_bitmaps > max_entries(INDEX_ENTRY_SIZE) as u64 {
        return Err(Error::Unsupported(format!(
            "formatting a pool of {nr_data_blocks} data blocks (more than one index leaf)"
        )));
    }
    // Block numbers, in order after the superblock.
    let meta_bitmap0 = 1u64;
    let meta_index = meta_bitmap0 + meta_bitmaps;
    let data_bitmap0 = meta_index + 1;
    let data_index = data_bitmap0 + data_bitmaps;
    let data_overflow = data_index + 1;
    let meta_overflow = data_overflow + 1;
    let details = meta_overflow + 1;
    let top = details + 1;
    let used = top + 1;
    if used > nr_meta || meta_bitmaps as usize > MAX_METADATA_BITMAPS {
        return Err(bad(format!(
            "a metadata device of {device_blocks} blocks is too small for empty pool metadata ({used} blocks)"
        )));
    }
    let mut out = Vec::new();
    // Metadata bitmaps: blocks 0..used have count 1.
    let mut meta_entries = Vec::new();
    for i in 0..meta_bitmaps {
        let mut b: Block = Box::new([0u8; BLOCK_SIZE]);
        let first = i * ENTRIES_PER_BITMAP;
        let mut taken = 0u32;
        let mut none_free_before = None;
        for e in 0..ENTRIES_PER_BITMAP {
            let blk = first + e;
            if blk < used {
                set_bitmap_entry(&mut b, e, 1);
                taken += 1;
            } else if none_free_before.is_none() {
                none_free_before = Some(e as u32);
            }
        }
        let at = meta_bitmap0 + i;
        meta_entries.push(IndexEntry {
            blocknr: at,
            nr_free: ENTRIES_PER_BITMAP as u32 - taken,
            none_free_before: none_free_before.unwrap_or(ENTRIES_PER_BITMAP as u32),
        });
        out.push(stamped(b, at, BITMAP_CSUM_XOR));
    }
    let mut index: Block = Box::new([0u8; BLOCK_SIZE]);
    for (i, ie) in meta_entries.iter().enumerate() {
        let at = METADATA_INDEX_ENTRIES + i * INDEX_ENTRY_SIZE;
        let mut v = [0u8; INDEX_ENTRY_SIZE];
        ie.write(&mut v);
        index[at..at + INDEX_ENTRY_SIZE].copy_from_slice(&v);
    }
    out.push(stamped(index, meta_index, INDEX_CSUM_XOR));
    // Data bitmaps, all free, and their index leaf.
    let mut data_entries = Vec::new();
    for i in 0..data_bitmaps {
        let at = data_bitmap0 + i;
        out.push(stamped(Box::new([0u8; BLOCK_SIZE]), at, BITMAP_CSUM_XOR));
        let mut v = [0u8; INDEX_ENTRY_SIZE];
        IndexEntry {
            blocknr: at,
            nr_free: ENTRIES_PER_BITMAP as u32,
            none_free_before: 0,
        }
        .write(&mut v);
        data_entries.push((i, v.to_vec()));
    }
    out.push(stamped(
        leaf(INDEX_ENTRY_SIZE, &data_entries),
        data_index,
        BTREE_CSUM_XOR,
    ));
    for at in [data_overflow, meta_overflow] {
        out.push(stamped(leaf(REF_COUNT_VALUE_SIZE, &[]), at, BTREE_CSUM_XOR));
    }
    out.push(stamped(
        leaf(DEVICE_DETAILS_SIZE, &[]),
        details,
        BTREE_CSUM_XOR,
    ));
    out.push(stamped(leaf(8, &[]), top, BTREE_CSUM_XOR));

    let mut b: Block = Box::new([0u8; BLOCK_SIZE]);
    LittleEndian::write_u64(
        &mut b[offset::MAGIC..offset::VERSION],
        THIN_SUPERBLOCK_MAGIC,
    );
    LittleEndian::write_u32(&mut b[offset::VERSION..offset::TIME], THIN_VERSION);
    LittleEndian::write_u32(
        &mut b[offset::DATA_BLOCK_SIZE..offset::METADATA_BLOCK_SIZE],
        data_block_size,
    );
    LittleEndian::write_u32(
        &mut b[offset::METADATA_BLOCK_SIZE..offset::METADATA_NR_BLOCKS],
        METADATA_BLOCK_SECTORS,
    );
    LittleEndian::write_u64(
        &mut b[offset::METADATA_NR_BLOCKS..offset::COMPAT_FLAGS],
        nr_meta,
    );
    let mut sb = Superblock::decode(&b);
    sb.data_sm_root = SmRoot {
        nr_blocks: nr_data_blocks,
        nr_allocated: 0,
        bitmap_root: data_index,
        ref_count_root: data_overflow,
    };
    sb.metadata_sm_root = SmRoot {
        nr_blocks: nr_meta,
        nr_allocated: used,
        bitmap_root: meta_index,
        ref_count_root: meta_overflow,
    };
    sb.data_mapping_root = top;
    sb.device_details_root = details;
    sb.write_commit(&mut b);
    // write_commit stamps the checksum; checked here once more.
    debug_assert_eq!(
        LittleEndian::read_u32(&b[0..4]),
        block_checksum(&b[..], SUPERBLOCK_CSUM_XOR)
    );
    out.push((0, b));
    Ok(out)
}
