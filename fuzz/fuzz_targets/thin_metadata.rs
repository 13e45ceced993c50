//! A thin pool's metadata device: superblock, device details, mapping trees,
//! both space maps (usage and reference counts), the thin_dump XML and the
//! recovery of removed devices (scan of every block, tolerant walks). The
//! first byte chooses whether checksums and self-locations are stamped
//! first (bit 0: checksums, bit 1: block numbers), so mutations reach the
//! structures behind them; the rest is the device, whole 4 KiB blocks.
//! Every failure must be a typed error: no panic, no hang, no allocation
//! beyond what the device's size bounds.
#![no_main]
use dm_pdata::pdata::block::{MetadataDev, BLOCK_SIZE};
use dm_pdata::pdata::checksum::{
    block_checksum, BITMAP_CSUM_XOR, BTREE_CSUM_XOR, INDEX_CSUM_XOR, SUPERBLOCK_CSUM_XOR,
};
use dm_pdata::pdata::space_map::{self, SmKind};
use dm_pdata::thin::dump::write_xml;
use dm_pdata::thin::metadata::{PoolUsage, ThinMetadata};
use dm_pdata::thin::recover;
use libfuzzer_sys::fuzz_target;

/// Stamps every block: the metadata space map's index block (named by the
/// superblock) with the index salt, blocks whose flags say btree node with
/// the btree salt, block 0 with the superblock salt, the rest as bitmaps.
fn stamp(dev: &mut [u8], csums: bool, locations: bool) {
    let index = if dev.len() >= BLOCK_SIZE {
        u64::from_le_bytes(dev[192 + 16..192 + 24].try_into().unwrap())
    } else {
        u64::MAX
    };
    for (i, b) in dev.chunks_exact_mut(BLOCK_SIZE).enumerate() {
        let i = i as u64;
        if locations {
            b[8..16].copy_from_slice(&i.to_le_bytes());
        }
        if csums {
            let flags = u32::from_le_bytes(b[4..8].try_into().unwrap());
            let salt = match (i, flags) {
                (0, _) => SUPERBLOCK_CSUM_XOR,
                (i, _) if i == index => INDEX_CSUM_XOR,
                (_, 1 | 2) => BTREE_CSUM_XOR,
                _ => BITMAP_CSUM_XOR,
            };
            let c = block_checksum(b, salt);
            b[0..4].copy_from_slice(&c.to_le_bytes());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if rest.len() < BLOCK_SIZE {
        return;
    }
    let mut dev = rest[..rest.len() / BLOCK_SIZE * BLOCK_SIZE].to_vec();
    stamp(&mut dev, mode & 1 != 0, mode & 2 != 0);
    let Ok(md) = MetadataDev::new(dev) else {
        return;
    };
    let Ok(meta) = ThinMetadata::read(&md) else {
        return;
    };
    let sb = meta.superblock;
    let _ = PoolUsage::of(&sb);
    for (root, kind) in [
        (sb.data_sm_root, SmKind::Data),
        (sb.metadata_sm_root, SmKind::Metadata),
    ] {
        if let Ok(u) = space_map::usage(&md, &root, kind) {
            assert!(u.allocated <= u.nr_blocks);
            for b in [0, u.nr_blocks.saturating_sub(1)] {
                let _ = space_map::ref_count(&md, &root, kind, b);
            }
        }
    }
    for &id in meta.roots.keys().take(8) {
        if let Ok(m) = meta.mappings(&md, id) {
            assert!(m.windows(2).all(|w| w[0].virt < w[1].virt));
        }
    }
    let mut out = Vec::new();
    if write_xml(&md, &meta, &mut out).is_ok() {
        assert!(out.ends_with(b"</superblock>\n"));
    }
    // Recovery of removed devices: the scan and the tolerant walks.
    let scan = recover::scan(&md, &meta);
    if let Ok(maps) = recover::LiveMaps::load(&md, &sb) {
        for id in recover::removed_ids(&md, &meta, &scan).into_iter().take(4) {
            for r in recover::recover(&md, &meta, &maps, &scan, id) {
                assert!(r
                    .mappings
                    .windows(2)
                    .all(|w| w[0].mapping.virt < w[1].mapping.virt));
                assert!(r
                    .mappings
                    .iter()
                    .all(|m| m.mapping.value.block < meta.nr_data_blocks()));
            }
        }
    }
});
