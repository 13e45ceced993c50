//! The kernel-made cache metadata of `testdata/kernel/cache-writeback`
//! (the `_cmeta` LVs of its three cache pools), read back and compared
//! with what the kernel's status said of them and with `cache_dump`'s
//! XML; then damaged.

use dm_pdata::cache::dump::write_xml;
use dm_pdata::cache::metadata::CacheMetadata;
use dm_pdata::cache::superblock::{offset, Superblock};
use dm_pdata::pdata::block::MetadataDev;
use dm_pdata::Error;

fn meta(pool: &str) -> Vec<u8> {
    let z = match pool {
        "p1" => &include_bytes!("data/cache-writeback.p1.cmeta.zst")[..],
        "p2" => &include_bytes!("data/cache-writeback.p2.cmeta.zst")[..],
        _ => &include_bytes!("data/cache-writeback.p3.cmeta.zst")[..],
    };
    zstd::decode_all(z).unwrap()
}

fn read(pool: &str) -> (MetadataDev<Vec<u8>>, CacheMetadata) {
    let dev = MetadataDev::new(meta(pool)).unwrap();
    let m = CacheMetadata::read(&dev).unwrap().unwrap();
    (dev, m)
}

#[test]
fn superblocks_as_the_kernel_left_them() {
    // c1 (p1): format 2, left active at power-off; the status said
    // `8 9/1280 128 28/64`.
    let (_, m) = read("p1");
    let sb = &m.superblock;
    assert_eq!(
        (sb.version, sb.data_block_size, sb.cache_blocks),
        (2, 128, 64)
    );
    assert!(!sb.clean_shutdown() && !sb.needs_check());
    assert_eq!(
        (
            sb.metadata_sm_root.nr_allocated,
            sb.metadata_sm_root.nr_blocks
        ),
        (9, 1280)
    );
    // The policy name is written at a clean shutdown only.
    assert_eq!(sb.policy(), "");
    assert_eq!(m.mappings.len(), 28);
    // Without a clean shutdown every valid block loads as dirty.
    assert_eq!(m.nr_dirty(), 28);
    // c2 (p2): format 1, deactivated: `11/32` used, 10 dirty.
    let (_, m) = read("p2");
    let sb = &m.superblock;
    assert_eq!(
        (sb.version, sb.data_block_size, sb.cache_blocks),
        (1, 128, 32)
    );
    assert!(sb.clean_shutdown());
    assert_eq!((sb.policy().as_str(), sb.policy_hint_size), ("smq", 4));
    assert_eq!(m.mappings.len(), 11);
    assert_eq!((m.nr_dirty(), m.nr_dirty_on_disk()), (10, 10));
    // The whole blocks the scenario wrote through c2 are the dirty ones:
    // 0..8 (sectors 0..1024) and 64, 65 (sectors 8192..8448).
    let mut dirty: Vec<u64> = m
        .mappings
        .iter()
        .filter(|x| x.dirty_on_disk)
        .map(|x| x.oblock)
        .collect();
    dirty.sort_unstable();
    assert_eq!(dirty, [0, 1, 2, 3, 4, 5, 6, 7, 64, 65]);
    // c3 (p3): writethrough, 32 KiB blocks, all 64 in use, none dirty in
    // the status (but loaded as dirty after this power-off).
    let (_, m) = read("p3");
    let sb = &m.superblock;
    assert_eq!(
        (sb.version, sb.data_block_size, sb.cache_blocks),
        (2, 64, 64)
    );
    assert_eq!(m.mappings.len(), 64);
    assert_eq!(m.nr_dirty_on_disk(), 0);
}

#[test]
fn cache_dump_equals_the_tools() {
    for (pool, want) in [
        ("p1", include_str!("data/cache-writeback.p1.cache_dump.xml")),
        ("p2", include_str!("data/cache-writeback.p2.cache_dump.xml")),
        ("p3", include_str!("data/cache-writeback.p3.cache_dump.xml")),
    ] {
        let (dev, m) = read(pool);
        let mut out = Vec::new();
        write_xml(&dev, &m, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), want, "{pool}");
    }
}

#[test]
fn damage_is_named_with_its_block() {
    let (_, good) = read("p2");
    let mapping_root = good.superblock.mapping_root;
    // A flipped byte in the superblock.
    let mut img = meta("p2");
    img[offset::CACHE_BLOCKS] ^= 1;
    let dev = MetadataDev::new(img).unwrap();
    assert!(matches!(
        CacheMetadata::read(&dev),
        Err(Error::Checksum { block: 0, .. })
    ));
    // A flipped byte in the btree node at the mapping root.
    let mut img = meta("p2");
    let at = usize::try_from(mapping_root).unwrap() * 4096 + 100;
    img[at] ^= 1;
    let dev = MetadataDev::new(img).unwrap();
    match CacheMetadata::read(&dev) {
        Err(Error::Checksum { block, .. }) => assert_eq!(block, mapping_root),
        other => panic!("{other:?}"),
    }
    // An unformatted metadata LV holds nothing.
    let dev = MetadataDev::new(vec![0u8; 8192]).unwrap();
    assert_eq!(CacheMetadata::read(&dev).unwrap(), None);
    assert_eq!(Superblock::read(&dev).unwrap(), None);
}
