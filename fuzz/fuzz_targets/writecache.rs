//! A writecache cache device (a cachevol): superblock, entries, blocks.
//! The first byte chooses whether a valid superblock head is stamped first
//! (bit 0: magic, version 1 and n_blocks as the kernel sizes the device,
//! keeping the input's block size if valid), so mutations reach the
//! entries behind it; the rest is the device. Every failure must be a
//! typed error: no panic, no hang, no allocation beyond the device's size.
#![no_main]
use dm_pdata::writecache::{blocks_for, Writecache, MAGIC, VERSION};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut dev = rest.to_vec();
    if mode & 1 != 0 && dev.len() >= 64 {
        let bs = u32::from_le_bytes(dev[8..12].try_into().unwrap());
        let bs = if (512..=4096).contains(&bs) && bs.is_power_of_two() {
            bs
        } else {
            512
        };
        if let Some(n) = blocks_for(dev.len() as u64, bs) {
            dev[0..4].copy_from_slice(&MAGIC.to_le_bytes());
            dev[4..8].copy_from_slice(&VERSION.to_le_bytes());
            dev[8..12].copy_from_slice(&bs.to_le_bytes());
            dev[16..24].copy_from_slice(&n.to_le_bytes());
        }
    }
    let Ok(Some(wc)) = Writecache::read(&dev) else {
        return;
    };
    let sb = wc.superblock;
    // One block per sector, in sector order, each committed and in range.
    assert!(wc
        .blocks
        .windows(2)
        .all(|w| w[0].original_sector < w[1].original_sector));
    for b in &wc.blocks {
        assert!(b.index < sb.n_blocks);
        assert!(b.seq_count < sb.seq_count);
        assert!(wc.block_offset(b.index) + u64::from(sb.block_size) <= dev.len() as u64);
        assert_eq!(wc.lookup(b.original_sector), Some(b));
    }
    assert!(wc.blocks.len() as u64 + wc.superseded + wc.uncommitted <= sb.n_blocks);
});
