//! The write side on the kernel-made metadata of `testdata/kernel/thin-pool`:
//! after each commit the metadata is read back with the read side, every
//! reference count is recounted from the trees (what `thin_check` does,
//! data blocks included), and the committed superblock's blocks are shown
//! untouched until block 0 is written. A property test runs random
//! operations against a model of the devices' contents.

#![allow(clippy::arithmetic_side_effects, clippy::as_conversions)]

use byteorder::{ByteOrder, LittleEndian};
use dm_pdata::pdata::block::{MetadataDev, BLOCK_SIZE};
use dm_pdata::pdata::btree::{self, read_node};
use dm_pdata::pdata::checksum::{BITMAP_CSUM_XOR, INDEX_CSUM_XOR};
use dm_pdata::pdata::space_map::{self, SmKind, SmRoot};
use dm_pdata::thin::block_time::BlockTime;
use dm_pdata::thin::metadata::ThinMetadata;
use dm_pdata::thin::superblock::Superblock;
use dm_pdata::thin::write::{Provision, ThinTx};
use dm_pdata::BlockKind;
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap, HashSet};

fn kernel_meta() -> Vec<u8> {
    let z = include_bytes!("data/thin-pool.tmeta.zst");
    zstd::decode_all(&z[..]).unwrap()
}

fn apply(img: &mut [u8], blocks: &[(u64, Box<[u8; BLOCK_SIZE]>)]) {
    for (n, b) in blocks {
        let at = *n as usize * BLOCK_SIZE;
        img[at..at + BLOCK_SIZE].copy_from_slice(&b[..]);
    }
}

/// Expected counts of every metadata and data block, from the trees the
/// superblock reaches (each distinct node visited once), compared with
/// the space maps'.
fn recount(img: &[u8]) {
    let dev = MetadataDev::new(img.to_vec()).unwrap();
    let sb = Superblock::read(&dev).unwrap();
    let mut meta: HashMap<u64, u32> = HashMap::new();
    let mut data: HashMap<u64, u32> = HashMap::new();
    *meta.entry(0).or_default() += 1;
    // (block, leaf value size, what leaves hold: 0 plain, 1 subtree roots, 2 data)
    let mut todo = vec![
        (sb.device_details_root, 24usize, 0u8),
        (sb.data_mapping_root, 8, 1),
    ];
    for r in [sb.device_details_root, sb.data_mapping_root] {
        *meta.entry(r).or_default() += 1;
    }
    let mut seen = HashSet::new();
    let mut roots = HashSet::from([sb.device_details_root, sb.data_mapping_root]);
    while let Some((b, vs, kind)) = todo.pop() {
        if !seen.insert(b) {
            continue;
        }
        let n = read_node(&dev, b, vs).unwrap();
        // thin_check wants every node but a root at least a third full.
        if !roots.contains(&b) {
            assert!(
                n.keys.len() * 3 >= n.header.max_entries as usize,
                "node {b} holds {} of {}",
                n.keys.len(),
                n.header.max_entries
            );
        }
        for c in n.children() {
            *meta.entry(c).or_default() += 1;
            todo.push((c, vs, kind));
        }
        if n.is_leaf {
            for i in 0..n.keys.len() {
                let v = LittleEndian::read_u64(n.value(i).unwrap());
                match kind {
                    1 => {
                        *meta.entry(v).or_default() += 1;
                        roots.insert(v);
                        todo.push((v, 8, 2));
                    }
                    2 => *data.entry(BlockTime::unpack(v).block).or_default() += 1,
                    _ => {}
                }
            }
        }
    }
    // The space maps' own blocks.
    let sm_tree = |root: u64, vs: usize, meta: &mut HashMap<u64, u32>| {
        let mut stack = vec![root];
        while let Some(b) = stack.pop() {
            *meta.entry(b).or_default() += 1;
            let n = read_node(&dev, b, vs).unwrap();
            stack.extend(n.children());
        }
    };
    sm_tree(sb.data_sm_root.bitmap_root, 16, &mut meta);
    sm_tree(sb.data_sm_root.ref_count_root, 4, &mut meta);
    sm_tree(sb.metadata_sm_root.ref_count_root, 4, &mut meta);
    *meta.entry(sb.metadata_sm_root.bitmap_root).or_default() += 1;
    dev.read_checked(
        sb.metadata_sm_root.bitmap_root,
        BlockKind::MetadataIndex,
        INDEX_CSUM_XOR,
    )
    .unwrap();
    for (root, kind) in [
        (sb.data_sm_root, SmKind::Data),
        (sb.metadata_sm_root, SmKind::Metadata),
    ] {
        for ie in space_map::index_entries(&dev, &root, kind).unwrap() {
            dev.read_checked(ie.blocknr, BlockKind::Bitmap, BITMAP_CSUM_XOR)
                .unwrap();
            *meta.entry(ie.blocknr).or_default() += 1;
        }
    }
    let check = |root: &SmRoot, kind: SmKind, want: &HashMap<u64, u32>| {
        let mut allocated = 0;
        // Each bitmap read once (the read side's decoding); counts of 3
        // looked up in the overflow tree.
        let mut counts = Vec::new();
        for ie in space_map::index_entries(&dev, root, kind).unwrap() {
            let bm = dev
                .read_checked(ie.blocknr, BlockKind::Bitmap, BITMAP_CSUM_XOR)
                .unwrap();
            for e in 0..space_map::ENTRIES_PER_BITMAP {
                counts.push(space_map::bitmap_entry(&bm, e));
            }
        }
        for b in 0..root.nr_blocks {
            let got = match counts[b as usize] {
                3 => space_map::ref_count(&dev, root, kind, b).unwrap(),
                c => u32::from(c),
            };
            let exp = want.get(&b).copied().unwrap_or(0);
            assert_eq!(got, exp, "{kind:?} block {b}: count {got}, expected {exp}");
            allocated += u64::from(got > 0);
        }
        assert_eq!(root.nr_allocated, allocated, "{kind:?} nr_allocated");
    };
    check(&sb.metadata_sm_root, SmKind::Metadata, &meta);
    check(&sb.data_sm_root, SmKind::Data, &data);
}

fn mappings(img: &[u8]) -> BTreeMap<u64, BTreeMap<u64, BlockTime>> {
    let dev = MetadataDev::new(img.to_vec()).unwrap();
    let m = ThinMetadata::read(&dev).unwrap();
    m.roots
        .keys()
        .map(|&id| {
            let map = m
                .mappings(&dev, id)
                .unwrap()
                .into_iter()
                .map(|x| (x.virt, x.value))
                .collect();
            (id, map)
        })
        .collect()
}

/// The blocks the committed superblock reaches.
fn reachable(img: &[u8]) -> HashSet<u64> {
    let dev = MetadataDev::new(img.to_vec()).unwrap();
    let sb = Superblock::read(&dev).unwrap();
    let mut out = HashSet::from([0u64]);
    let walk_nodes = |root: u64, vs: usize, out: &mut HashSet<u64>| {
        let mut stack = vec![root];
        while let Some(b) = stack.pop() {
            out.insert(b);
            stack.extend(read_node(&dev, b, vs).unwrap().children());
        }
    };
    walk_nodes(sb.device_details_root, 24, &mut out);
    walk_nodes(sb.data_mapping_root, 8, &mut out);
    btree::walk(&dev, sb.data_mapping_root, 8, "top", &mut |_, v| {
        walk_nodes(LittleEndian::read_u64(v), 8, &mut out);
        Ok(())
    })
    .unwrap();
    walk_nodes(sb.data_sm_root.bitmap_root, 16, &mut out);
    walk_nodes(sb.data_sm_root.ref_count_root, 4, &mut out);
    walk_nodes(sb.metadata_sm_root.ref_count_root, 4, &mut out);
    out.insert(sb.metadata_sm_root.bitmap_root);
    for (root, kind) in [
        (sb.data_sm_root, SmKind::Data),
        (sb.metadata_sm_root, SmKind::Metadata),
    ] {
        for ie in space_map::index_entries(&dev, &root, kind).unwrap() {
            out.insert(ie.blocknr);
        }
    }
    out
}

fn commit(img: &mut [u8], tx: ThinTx<'_, Vec<u8>>) {
    let before = reachable(img);
    let blocks = tx.commit().unwrap();
    assert_eq!(blocks.last().unwrap().0, 0, "the superblock goes last");
    for (n, _) in &blocks[..blocks.len() - 1] {
        assert!(
            !before.contains(n),
            "block {n} is reached by the committed superblock"
        );
    }
    apply(img, &blocks);
    recount(img);
}

#[test]
fn the_kernel_metadata_recounts() {
    recount(&kernel_meta());
}

#[test]
fn writes_provision_share_and_break_sharing() {
    let mut img = kernel_meta();
    let before = mappings(&img);
    let dev = MetadataDev::new(img.clone()).unwrap();
    let mut tx = ThinTx::open(&dev).unwrap();
    // Device 1 (snapshotted at time 1): block 3 was mapped at time 0,
    // shared with device 4 -> copied; block 2 mapped at time 1 -> in place;
    // block 200 unmapped -> new.
    let p3 = tx.provision(1, 3).unwrap();
    assert_eq!(p3, Provision::Copy { from: 3, to: 22 });
    assert_eq!(tx.provision(1, 2).unwrap(), Provision::Mapped(30));
    let p200 = tx.provision(1, 200).unwrap();
    assert_eq!(p200, Provision::New(23));
    // Provisioned blocks are mapped at once: a second write is in place.
    assert_eq!(tx.provision(1, 200).unwrap(), Provision::Mapped(23));
    assert_eq!(tx.details(1).unwrap().mapped_blocks, 19);
    commit(&mut img, tx);
    let after = mappings(&img);
    assert_eq!(after[&1][&3], BlockTime { block: 22, time: 1 });
    assert_eq!(after[&1][&200], BlockTime { block: 23, time: 1 });
    assert_eq!(after[&4], before[&4]);
    assert_eq!(after[&2], before[&2]);
    let dev = MetadataDev::new(img.clone()).unwrap();
    let m = ThinMetadata::read(&dev).unwrap();
    assert_eq!(m.details[&1].mapped_blocks, 19);
    assert_eq!(m.superblock.trans_id, 5);
}

#[test]
fn many_writes_split_nodes() {
    let mut img = kernel_meta();
    let dev = MetadataDev::new(img.clone()).unwrap();
    let mut tx = ThinTx::open(&dev).unwrap();
    // 200 new mappings in device 2, descending, then a commit: the leaf
    // (252 entries) splits.
    let mut provisioned = Vec::new();
    for vb in (1000..1200).rev() {
        provisioned.push((vb, tx.provision(2, vb).unwrap()));
    }
    commit(&mut img, tx);
    let m = mappings(&img);
    assert_eq!(m[&2].len(), 205);
    for (vb, p) in provisioned {
        let Provision::New(b) = p else {
            panic!("{p:?}")
        };
        assert_eq!(m[&2][&vb].block, b);
    }
    // The pool has 256 data blocks, 27 used before: 229 free, 200 taken.
    let dev = MetadataDev::new(img.clone()).unwrap();
    let sb = Superblock::read(&dev).unwrap();
    assert_eq!(sb.data_sm_root.nr_allocated, 227);
}

#[test]
fn create_snapshot_and_delete() {
    let mut img = kernel_meta();
    let dev = MetadataDev::new(img.clone()).unwrap();
    let mut tx = ThinTx::open(&dev).unwrap();
    tx.set_transaction_id(5, 6).unwrap();
    tx.create_thin(7).unwrap();
    tx.create_snap(8, 2).unwrap();
    assert!(tx.create_thin(8).is_err());
    commit(&mut img, tx);
    let dev = MetadataDev::new(img.clone()).unwrap();
    let m = ThinMetadata::read(&dev).unwrap();
    assert_eq!((m.superblock.trans_id, m.superblock.time), (6, 2));
    let d7 = m.details[&7];
    assert_eq!(
        (d7.mapped_blocks, d7.transaction_id, d7.creation_time),
        (0, 6, 1)
    );
    assert_eq!(m.details[&8].mapped_blocks, 5);
    assert_eq!(m.details[&2].snapshotted_time, 2);
    let maps = mappings(&img);
    assert_eq!(maps[&8], maps[&2]);
    assert!(maps[&7].is_empty());

    // A write to the origin breaks sharing; deleting the origin frees
    // only its own blocks.
    let mut tx = ThinTx::open(&dev).unwrap();
    let p = tx.provision(2, 0).unwrap();
    let Provision::Copy { from: 17, to } = p else {
        panic!("{p:?}")
    };
    commit(&mut img, tx);
    let dev = MetadataDev::new(img.clone()).unwrap();
    let used = Superblock::read(&dev).unwrap().data_sm_root.nr_allocated;
    let mut tx = ThinTx::open(&dev).unwrap();
    tx.delete(2).unwrap();
    tx.delete(7).unwrap();
    commit(&mut img, tx);
    let dev = MetadataDev::new(img.clone()).unwrap();
    let sb = Superblock::read(&dev).unwrap();
    assert_eq!(sb.data_sm_root.nr_allocated, used - 1);
    let sb_root = sb.data_sm_root;
    assert_eq!(
        space_map::ref_count(&dev, &sb_root, SmKind::Data, to).unwrap(),
        0
    );
    let maps = mappings(&img);
    assert!(!maps.contains_key(&2) && !maps.contains_key(&7));
    assert_eq!(maps[&8][&0].block, 17);
}

#[test]
fn discards_unmap_whole_blocks_and_keep_the_snapshots_blocks() {
    let mut img = kernel_meta();
    let before = mappings(&img);
    let dev = MetadataDev::new(img.clone()).unwrap();
    let used = Superblock::read(&dev).unwrap().data_sm_root.nr_allocated;
    // Device 4 is a snapshot sharing some of device 1's data blocks.
    let shared: HashSet<u64> = before[&4].values().map(|bt| bt.block).collect();
    let gone: Vec<(u64, u64)> = before[&1]
        .iter()
        .filter(|(v, _)| (2..8).contains(*v))
        .map(|(v, bt)| (*v, bt.block))
        .collect();
    assert!(
        gone.iter().any(|(_, b)| shared.contains(b))
            && gone.iter().any(|(_, b)| !shared.contains(b)),
        "the range holds shared and own blocks: {gone:?}"
    );
    let mut tx = ThinTx::open(&dev).unwrap();
    let mapped = tx.details(1).unwrap().mapped_blocks;
    let freed = tx.unmap_range(1, 2, 8).unwrap();
    let mut own: Vec<u64> = gone
        .iter()
        .map(|(_, b)| *b)
        .filter(|b| !shared.contains(b) && !before[&2].values().any(|bt| bt.block == *b))
        .collect();
    own.sort_unstable();
    assert_eq!(freed, own);
    assert_eq!(
        tx.details(1).unwrap().mapped_blocks,
        mapped - gone.len() as u64
    );
    // Nothing mapped there now: a second discard changes nothing.
    assert!(tx.unmap_range(1, 2, 8).unwrap().is_empty());
    commit(&mut img, tx);
    let after = mappings(&img);
    assert!(after[&1].keys().all(|v| !(2..8).contains(v)));
    assert_eq!(after[&1].len(), before[&1].len() - gone.len());
    assert_eq!(after[&4], before[&4], "the snapshot keeps its blocks");
    let dev = MetadataDev::new(img.clone()).unwrap();
    let sb = Superblock::read(&dev).unwrap();
    assert_eq!(sb.data_sm_root.nr_allocated, used - own.len() as u64);
    assert_eq!(
        ThinMetadata::read(&dev).unwrap().details[&1].mapped_blocks,
        mapped - gone.len() as u64
    );
}

#[derive(Debug, Clone)]
enum Op {
    Write(u8, u16),
    Snap(u8),
    Delete(u8),
    Discard(u8, u16, u16),
    Commit,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0u8..4, 0u16..600).prop_map(|(d, b)| Op::Write(d, b)),
        1 => (0u8..4).prop_map(Op::Snap),
        1 => (0u8..4).prop_map(Op::Delete),
        2 => (0u8..4, 0u16..600, 1u16..80).prop_map(|(d, b, n)| Op::Discard(d, b, n)),
        2 => Just(Op::Commit),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random writes, snapshots, deletes and discards against a model of each
    /// device's contents (a token per virtual block; the data device
    /// holds tokens per data block), re-read through the committed
    /// metadata after every commit.
    #[test]
    fn random_operations_match_a_model(ops in proptest::collection::vec(op(), 1..120)) {
        let mut img = kernel_meta();
        // Model: device -> vblock -> token. Data device: block -> token.
        let mut model: BTreeMap<u64, BTreeMap<u64, u64>> = BTreeMap::new();
        let mut data: HashMap<u64, u64> = HashMap::new();
        for (id, maps) in mappings(&img) {
            let m = maps.iter().map(|(v, bt)| (*v, 1_000_000 + bt.block)).collect();
            for bt in maps.values() {
                data.insert(bt.block, 1_000_000 + bt.block);
            }
            model.insert(id, m);
        }
        let mut token = 0u64;
        let mut next_id = 10u64;
        let mut i = 0;
        while i < ops.len() {
            let dev = MetadataDev::new(img.clone()).unwrap();
            let mut tx = ThinTx::open(&dev).unwrap();
            let mut full = false;
            while i < ops.len() {
                let ids: Vec<u64> = model.keys().copied().collect();
                let pick = |d: u8| ids.get(d as usize % ids.len().max(1)).copied();
                match ops[i].clone() {
                    Op::Commit => { i += 1; break; }
                    Op::Write(d, vb) => {
                        let Some(id) = pick(d) else { i += 1; continue };
                        if tx.free_data_blocks() == 0 { full = true; i += 1; continue; }
                        token += 1;
                        let vb = u64::from(vb);
                        match tx.provision(id, vb).unwrap() {
                            Provision::Mapped(b) | Provision::New(b) => { data.insert(b, token); }
                            Provision::Copy { from, to } => {
                                prop_assert_eq!(data.get(&from), model[&id].get(&vb));
                                data.insert(to, token);
                            }
                        }
                        model.get_mut(&id).unwrap().insert(vb, token);
                    }
                    Op::Snap(d) => {
                        let Some(id) = pick(d) else { i += 1; continue };
                        tx.create_snap(next_id, id).unwrap();
                        let copy = model[&id].clone();
                        model.insert(next_id, copy);
                        next_id += 1;
                    }
                    Op::Delete(d) => {
                        let Some(id) = pick(d) else { i += 1; continue };
                        tx.delete(id).unwrap();
                        model.remove(&id);
                    }
                    Op::Discard(d, b, n) => {
                        let Some(id) = pick(d) else { i += 1; continue };
                        let (b, e) = (u64::from(b), u64::from(b) + u64::from(n));
                        let freed = tx.unmap_range(id, b, e).unwrap();
                        model.get_mut(&id).unwrap().retain(|v, _| !(b..e).contains(v));
                        // A freed block is one no device maps any more.
                        for f in freed {
                            prop_assert_eq!(tx.transaction().data.count(f).unwrap(), 0);
                        }
                    }
                }
                i += 1;
            }
            let _ = full;
            commit(&mut img, tx);
            let got = mappings(&img);
            prop_assert_eq!(got.keys().collect::<Vec<_>>(), model.keys().collect::<Vec<_>>());
            for (id, maps) in &got {
                let contents: BTreeMap<u64, u64> =
                    maps.iter().map(|(v, bt)| (*v, data[&bt.block])).collect();
                prop_assert_eq!(&contents, &model[id], "device {}", id);
            }
        }
    }
}

#[test]
fn formatted_metadata_reads_back_and_takes_a_pool_life() {
    let blocks = dm_pdata::thin::format::format(1024, 256, 128).unwrap();
    assert_eq!(blocks.last().unwrap().0, 0);
    let mut img = vec![0u8; 1024 * BLOCK_SIZE];
    apply(&mut img, &blocks);
    recount(&img);
    let dev = MetadataDev::new(img.clone()).unwrap();
    let m = ThinMetadata::read(&dev).unwrap();
    assert!(m.details.is_empty() && m.roots.is_empty());
    assert_eq!(
        (m.superblock.trans_id, m.superblock.time, m.nr_data_blocks()),
        (0, 0, 256)
    );
    // lvm2's first thin LV, then writes and a snapshot.
    let mut tx = ThinTx::open(&dev).unwrap();
    tx.create_thin(1).unwrap();
    tx.set_transaction_id(0, 1).unwrap();
    commit(&mut img, tx);
    let dev = MetadataDev::new(img.clone()).unwrap();
    let mut tx = ThinTx::open(&dev).unwrap();
    for vb in [0, 1, 2, 7] {
        assert_eq!(tx.provision(1, vb).unwrap(), Provision::New(vb.min(3)));
    }
    tx.create_snap(2, 1).unwrap();
    commit(&mut img, tx);
    let maps = mappings(&img);
    assert_eq!(maps[&1], maps[&2]);
    assert_eq!(maps[&1].len(), 4);
    // Too small a device, a bad block size.
    assert!(dm_pdata::thin::format::format(5, 256, 128).is_err());
    assert!(dm_pdata::thin::format::format(1024, 256, 100).is_err());
}

#[test]
fn resized_space_maps_gain_bitmaps_and_keep_their_counts() {
    // A pool of 16000 data blocks on a 1024-block metadata device, inside
    // a device grown to 16400 blocks: both maps cross a bitmap's 16320
    // entries when grown.
    let meta_blocks = 16_400u64;
    let blocks = dm_pdata::thin::format::format(1024, 16_000, 128).unwrap();
    let mut img = vec![0u8; meta_blocks as usize * BLOCK_SIZE];
    apply(&mut img, &blocks);
    let dev = MetadataDev::new(img.clone()).unwrap();
    let mut tx = ThinTx::open(&dev).unwrap();
    tx.create_thin(1).unwrap();
    tx.set_transaction_id(0, 1).unwrap();
    for vb in 0..5 {
        tx.provision(1, vb).unwrap();
    }
    commit(&mut img, tx);
    let dev = MetadataDev::new(img.clone()).unwrap();
    let mut tx = ThinTx::open(&dev).unwrap();
    assert!(tx.resize_data(15_999).is_err(), "a smaller data map");
    tx.resize_data(17_000).unwrap();
    tx.resize_metadata(meta_blocks).unwrap();
    assert!(!tx.is_clean());
    commit(&mut img, tx);
    recount(&img);
    let dev = MetadataDev::new(img.clone()).unwrap();
    let m = ThinMetadata::read(&dev).unwrap();
    assert_eq!(m.nr_data_blocks(), 17_000);
    assert_eq!(m.superblock.metadata_sm_root.nr_blocks, meta_blocks);
    let tx = ThinTx::open(&dev).unwrap();
    assert_eq!(tx.free_data_blocks(), 17_000 - 5);
    assert_eq!(mappings(&img)[&1].len(), 5);
    // Growing within the last bitmap is a commit too.
    let mut tx = ThinTx::open(&dev).unwrap();
    tx.resize_data(17_001).unwrap();
    assert!(!tx.is_clean());
    commit(&mut img, tx);
    recount(&img);
    let m = ThinMetadata::read(&MetadataDev::new(img.clone()).unwrap()).unwrap();
    assert_eq!(m.nr_data_blocks(), 17_001);
}

/// A metadata device too small for the mappings asked of it: provisioning
/// fails with the named out-of-metadata-space error (not a corruption), and
/// the last commit is untouched, so dropping the half-done transaction
/// leaves the pool as the kernel's abort does.
#[test]
fn running_out_of_metadata_space_is_named_and_keeps_the_last_commit() {
    let device_blocks = 24;
    let blocks = dm_pdata::thin::format::format(device_blocks, 32_000, 128).unwrap();
    let mut img = vec![0u8; device_blocks as usize * BLOCK_SIZE];
    apply(&mut img, &blocks);
    let dev = MetadataDev::new(img.clone()).unwrap();
    let mut tx = ThinTx::open(&dev).unwrap();
    tx.create_thin(1).unwrap();
    for vb in 0..10 {
        tx.provision(1, vb * 1000).unwrap();
    }
    commit(&mut img, tx);
    let committed = img.clone();
    let before = mappings(&img);
    // Mappings far apart until the btree's nodes fill the device.
    let dev = MetadataDev::new(img.clone()).unwrap();
    let mut tx = ThinTx::open(&dev).unwrap();
    let mut err = None;
    for vb in 0..1_000_000u64 {
        if let Err(e) = tx.provision(1, 10_000 + vb * 7) {
            err = Some(e);
            break;
        }
    }
    let e = err.expect("24 metadata blocks never filled up");
    assert!(
        matches!(e, dm_pdata::Error::NoMetadataSpace { nr_blocks: 24 }),
        "{e}"
    );
    assert_eq!(e.class(), dm_pdata::ErrorClass::Io);
    assert!(e.to_string().contains("out of metadata space"), "{e}");
    drop(tx);
    // Nothing of the dropped transaction reached the device image.
    assert_eq!(img, committed);
    recount(&img);
    assert_eq!(mappings(&img), before);
}
