//! The kernel-made metadata of `testdata/kernel/thin-pool`, read back and
//! compared with what the kernel and thin-provisioning-tools said of it;
//! then damaged one field at a time.

use byteorder::{ByteOrder, LittleEndian};
use dm_pdata::pdata::block::{MetadataDev, BLOCK_SIZE};
use dm_pdata::pdata::btree;
use dm_pdata::pdata::checksum::{block_checksum, BTREE_CSUM_XOR, SUPERBLOCK_CSUM_XOR};
use dm_pdata::pdata::space_map::{self, SmKind};
use dm_pdata::thin::dump::write_xml;
use dm_pdata::thin::metadata::{PoolUsage, ThinMetadata};
use dm_pdata::thin::superblock::{offset, Superblock};
use dm_pdata::Error;

fn kernel_meta() -> Vec<u8> {
    let z = include_bytes!("data/thin-pool.tmeta.zst");
    zstd::decode_all(&z[..]).unwrap()
}

#[test]
fn superblock_fields() {
    let dev = MetadataDev::new(kernel_meta()).unwrap();
    let sb = Superblock::read(&dev).unwrap();
    assert_eq!(sb.version, 2);
    assert_eq!(sb.time, 1);
    // lvm2's pool transaction_id in the VG metadata is 5 as well.
    assert_eq!(sb.trans_id, 5);
    assert_eq!(sb.held_root, 0);
    assert_eq!(sb.data_block_size, 128);
    assert_eq!(sb.metadata_nr_blocks, 1024);
    assert_eq!(sb.uuid, [0u8; 16]);
    assert!(!sb.needs_check());
}

#[test]
fn thin_dump_equals_the_tools() {
    let dev = MetadataDev::new(kernel_meta()).unwrap();
    let meta = ThinMetadata::read(&dev).unwrap();
    let mut out = Vec::new();
    write_xml(&dev, &meta, &mut out).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        include_str!("data/thin-pool.thin_dump.xml")
    );
}

#[test]
fn space_map_usage_equals_the_kernels_status() {
    // dmsetup status of the pool: 114/1024 metadata, 27/256 data blocks.
    let dev = MetadataDev::new(kernel_meta()).unwrap();
    let sb = Superblock::read(&dev).unwrap();
    let data = space_map::usage(&dev, &sb.data_sm_root, SmKind::Data).unwrap();
    assert_eq!((data.allocated, data.nr_blocks), (27, 256));
    assert_eq!(sb.data_sm_root.nr_allocated, 27);
    let meta = space_map::usage(&dev, &sb.metadata_sm_root, SmKind::Metadata).unwrap();
    // 12 blocks in use; the status adds the kernel's reserve of 102.
    assert_eq!((meta.allocated, meta.nr_blocks), (12, 1024));
    assert_eq!(sb.metadata_sm_root.nr_allocated, 12);
    let u = PoolUsage::of(&sb);
    assert_eq!(
        (u.used_metadata, u.total_metadata, u.used_data, u.total_data),
        (114, 1024, 27, 256)
    );
    // Block 0 (the superblock) is referenced once; data block 16 is
    // mapped by thin1 and its snapshot, in two distinct leaves.
    assert_eq!(
        space_map::ref_count(&dev, &sb.metadata_sm_root, SmKind::Metadata, 0).unwrap(),
        1
    );
    assert_eq!(
        space_map::ref_count(&dev, &sb.data_sm_root, SmKind::Data, 16).unwrap(),
        2
    );
    assert_eq!(
        space_map::ref_count(&dev, &sb.data_sm_root, SmKind::Data, 255).unwrap(),
        0
    );
}

/// Rewrites the btree checksum of block `b` after a change.
fn restamp(img: &mut [u8], b: usize, salt: u32) {
    let blk = &mut img[b * BLOCK_SIZE..(b + 1) * BLOCK_SIZE];
    let c = block_checksum(blk, salt);
    LittleEndian::write_u32(&mut blk[0..4], c);
}

#[test]
fn a_wrong_superblock_checksum_is_named() {
    let mut img = kernel_meta();
    img[offset::TIME] ^= 1;
    let dev = MetadataDev::new(img).unwrap();
    assert!(matches!(
        Superblock::read(&dev),
        Err(Error::Checksum { block: 0, .. })
    ));
}

#[test]
fn a_wrong_magic_is_named_after_the_checksum_is_fixed() {
    let mut img = kernel_meta();
    img[offset::MAGIC] ^= 1;
    restamp(&mut img, 0, SUPERBLOCK_CSUM_XOR);
    let dev = MetadataDev::new(img).unwrap();
    assert!(matches!(
        Superblock::read(&dev),
        Err(Error::BadValue {
            block: 0,
            field: "magic",
            ..
        })
    ));
}

#[test]
fn a_mapping_root_past_the_device_is_named() {
    let mut img = kernel_meta();
    LittleEndian::write_u64(&mut img[offset::DATA_MAPPING_ROOT..], 5000);
    restamp(&mut img, 0, SUPERBLOCK_CSUM_XOR);
    let dev = MetadataDev::new(img).unwrap();
    assert!(matches!(
        ThinMetadata::read(&dev),
        Err(Error::PastEnd {
            block: 5000,
            nr_blocks: 1024
        })
    ));
}

#[test]
fn a_device_tree_pointing_at_itself_is_a_loop() {
    // The top-level root becomes an internal node whose only child is
    // itself.
    let mut img = kernel_meta();
    let sb = Superblock::read(&MetadataDev::new(img.clone()).unwrap()).unwrap();
    let root = usize::try_from(sb.data_mapping_root).unwrap();
    let blk = &mut img[root * BLOCK_SIZE..(root + 1) * BLOCK_SIZE];
    LittleEndian::write_u32(&mut blk[btree::FLAGS..], btree::INTERNAL_NODE);
    LittleEndian::write_u32(&mut blk[btree::NR_ENTRIES..], 1);
    LittleEndian::write_u64(&mut blk[btree::HEADER_SIZE..], 0);
    let values_at = btree::HEADER_SIZE + 8 * 252;
    LittleEndian::write_u64(&mut blk[values_at..], sb.data_mapping_root);
    restamp(&mut img, root, BTREE_CSUM_XOR);
    let dev = MetadataDev::new(img).unwrap();
    assert!(matches!(ThinMetadata::read(&dev), Err(Error::Loop { .. })));
}

#[test]
fn a_mapping_past_the_data_device_is_named() {
    let mut img = kernel_meta();
    let dev = MetadataDev::new(img.clone()).unwrap();
    let meta = ThinMetadata::read(&dev).unwrap();
    // Device 2's bottom-level tree is one leaf of five mappings.
    let leaf = usize::try_from(meta.roots[&2]).unwrap();
    let blk = &mut img[leaf * BLOCK_SIZE..(leaf + 1) * BLOCK_SIZE];
    let values_at = btree::HEADER_SIZE + 8 * 252;
    LittleEndian::write_u64(&mut blk[values_at..], 4096 << 24);
    restamp(&mut img, leaf, BTREE_CSUM_XOR);
    let dev = MetadataDev::new(img).unwrap();
    let meta = ThinMetadata::read(&dev).unwrap();
    let e = meta.mappings(&dev, 2).unwrap_err();
    assert!(
        e.to_string()
            .contains("maps to data block 4096, past the pool's 256 data blocks"),
        "{e}"
    );
}

#[test]
fn thin_ls_equals_the_tools() {
    use dm_pdata::thin::ls::{parse_fields, write_ls, DEFAULT_FIELDS, FIELDS};
    let dev = MetadataDev::new(kernel_meta()).unwrap();
    let meta = ThinMetadata::read(&dev).unwrap();
    let mut out = Vec::new();
    write_ls(&dev, &meta, &DEFAULT_FIELDS, true, &mut out).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        include_str!("data/thin-pool.thin_ls.txt")
    );
    let all: Vec<&str> = FIELDS.iter().map(|(_, n)| *n).collect();
    let fields = parse_fields(&all.join(",")).unwrap();
    let mut out = Vec::new();
    write_ls(&dev, &meta, &fields, true, &mut out).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        include_str!("data/thin-pool.thin_ls-all.txt")
    );
}
