//! A cache pool's metadata device: superblock, mapping array, dirty bitset,
//! hint array and cache_dump's XML. The first byte chooses whether
//! checksums and self-locations are stamped first (bit 0: checksums, bit 1:
//! block numbers), so mutations reach the structures behind them; the rest
//! is the device, whole 4 KiB blocks. Every failure must be a typed error:
//! no panic, no hang, no allocation beyond what the device's size bounds.
#![no_main]
use dm_pdata::cache::dump::write_xml;
use dm_pdata::cache::metadata::CacheMetadata;
use dm_pdata::pdata::block::{MetadataDev, BLOCK_SIZE};
use dm_pdata::pdata::checksum::{
    block_checksum, ARRAY_CSUM_XOR, BTREE_CSUM_XOR, CACHE_SUPERBLOCK_CSUM_XOR,
};
use libfuzzer_sys::fuzz_target;

/// Stamps every block: block 0 as the superblock, blocks whose flags say
/// btree node with the btree salt, the rest as array blocks (whose
/// self-location is at offset 16, not 8).
fn stamp(dev: &mut [u8], csums: bool, locations: bool) {
    for (i, b) in dev.chunks_exact_mut(BLOCK_SIZE).enumerate() {
        let i = i as u64;
        let flags = u32::from_le_bytes(b[4..8].try_into().unwrap());
        let (salt, at) = match (i, flags) {
            (0, _) => (CACHE_SUPERBLOCK_CSUM_XOR, 8),
            (_, 1 | 2) => (BTREE_CSUM_XOR, 8),
            _ => (ARRAY_CSUM_XOR, 16),
        };
        if locations {
            b[at..at + 8].copy_from_slice(&i.to_le_bytes());
        }
        if csums {
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
    let Ok(Some(meta)) = CacheMetadata::read(&md) else {
        return;
    };
    assert!(meta.nr_dirty() <= meta.mappings.len() as u64);
    assert!(meta.mappings.windows(2).all(|w| w[0].cblock < w[1].cblock));
    let mut out = Vec::new();
    if write_xml(&md, &meta, &mut out).is_ok() {
        assert!(out.ends_with(b"</superblock>\n"));
    }
});
