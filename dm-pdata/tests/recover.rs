//! Finding removed thin devices in the kernel-made metadata of
//! `testdata/kernel/thin-recover` (tests/data/README.md): the held root
//! against `thin_dump --metadata-snap`, the scanned roots of the device
//! removed before it, then hostile nodes on the way of a walk.

use byteorder::{ByteOrder, LittleEndian};
use dm_pdata::pdata::block::{MetadataDev, BLOCK_SIZE};
use dm_pdata::pdata::checksum::{block_checksum, BTREE_CSUM_XOR};
use dm_pdata::thin::metadata::ThinMetadata;
use dm_pdata::thin::recover::{self, LiveMaps, RootSource};

fn kernel_meta() -> Vec<u8> {
    let z = include_bytes!("data/thin-recover.tmeta.zst");
    zstd::decode_all(&z[..]).unwrap()
}

/// (origin_begin, data_begin, length) of one mapping line.
type Run = (u64, u64, u64);

/// (dev_id, its runs) of the tools' XML.
fn tools_held() -> Vec<(u64, Vec<Run>)> {
    let xml = include_str!("data/thin-recover.held.thin_dump.xml");
    let attr = |l: &str, k: &str| -> u64 {
        let at = l.find(&format!(" {k}=\"")).unwrap() + k.len() + 3;
        l[at..].split('"').next().unwrap().parse().unwrap()
    };
    let mut out: Vec<(u64, Vec<Run>)> = Vec::new();
    for l in xml.lines() {
        if l.contains("<device ") {
            out.push((attr(l, "dev_id"), Vec::new()));
        } else if l.contains("<range_mapping ") {
            let r = (
                attr(l, "origin_begin"),
                attr(l, "data_begin"),
                attr(l, "length"),
            );
            out.last_mut().unwrap().1.push(r);
        } else if l.contains("<single_mapping ") {
            let r = (attr(l, "origin_block"), attr(l, "data_block"), 1);
            out.last_mut().unwrap().1.push(r);
        }
    }
    out
}

#[test]
fn held_root_mappings_equal_the_tools_metadata_snap_dump() {
    let dev = MetadataDev::new(kernel_meta()).unwrap();
    let live = ThinMetadata::read(&dev).unwrap();
    let maps = LiveMaps::load(&dev, &live.superblock).unwrap();
    let scan = recover::scan(&dev, &live);
    let removed = recover::removed_ids(&dev, &live, &scan);
    // The tools' held dump has devices 1 and 3; 1 is live.
    let tools = tools_held();
    assert!(removed.contains(&3), "{removed:?}");
    assert!(live.details.contains_key(&1) && !live.details.contains_key(&3));
    let (_, want) = tools.iter().find(|d| d.0 == 3).unwrap();
    let found = recover::recover(&dev, &live, &maps, &scan, 3);
    let best = &found[0];
    assert!(
        matches!(best.candidate.source, RootSource::Held { superblock } if superblock == live.superblock.held_root)
    );
    assert!(best.complete());
    let got: Vec<(u64, u64)> = best
        .mappings
        .iter()
        .map(|m| (m.mapping.virt, m.mapping.value.block))
        .collect();
    let expect: Vec<(u64, u64)> = want
        .iter()
        .flat_map(|&(o, d, n)| (0..n).map(move |i| (o + i, d + i)))
        .collect();
    assert_eq!(got, expect);
    // The held root keeps them allocated.
    assert!(best.mappings.iter().all(|m| m.data_refs > 0));
}

#[test]
fn scanned_roots_of_the_earlier_removal_are_guesses_with_reused_blocks_marked() {
    let dev = MetadataDev::new(kernel_meta()).unwrap();
    let live = ThinMetadata::read(&dev).unwrap();
    let maps = LiveMaps::load(&dev, &live.superblock).unwrap();
    let scan = recover::scan(&dev, &live);
    // Thin id 2 is live again (late), and older leaves name it too.
    assert!(live.details.contains_key(&2));
    let found = recover::recover(&dev, &live, &maps, &scan, 2);
    assert!(!found.is_empty());
    assert!(found.iter().all(|r| r.candidate.source.is_guess()));
    // The best one: lost's 32 blocks, those the live data map counts in use
    // marked, the others not.
    let best = &found[0];
    assert_eq!(best.mappings.len(), 32);
    for m in &best.mappings {
        assert_eq!(m.trustworthy, maps.data_refs(m.mapping.value.block) == 0);
    }
    assert!(best.mappings.iter().any(|m| m.trustworthy));
    assert!(best.mappings.iter().any(|m| !m.trustworthy));
    // No node a scanned walk used is in use in the live metadata.
    for r in &found {
        assert!(r.nodes.iter().all(|&b| maps.metadata_refs(b) == 0));
    }
}

fn restamp(img: &mut [u8], block: usize) {
    let b = &mut img[block * BLOCK_SIZE..(block + 1) * BLOCK_SIZE];
    let c = block_checksum(b, BTREE_CSUM_XOR);
    LittleEndian::write_u32(&mut b[0..4], c);
}

#[test]
fn hostile_nodes_are_refused_by_name_never_followed_forever() {
    let clean = kernel_meta();
    let dev = MetadataDev::new(clean.clone()).unwrap();
    let live = ThinMetadata::read(&dev).unwrap();
    let scan = recover::scan(&dev, &live);
    let best = recover::recover(
        &dev,
        &live,
        &LiveMaps::load(&dev, &live.superblock).unwrap(),
        &scan,
        2,
    );
    let root = best[0].candidate.root as usize;
    let c = best[0].candidate;
    let walk = |img: Vec<u8>| {
        let dev = MetadataDev::new(img).unwrap();
        let maps = LiveMaps::load(&dev, &live.superblock).unwrap();
        recover::walk(&dev, &maps, c, live.nr_data_blocks())
    };
    // A wrong checksum.
    let mut img = clean.clone();
    img[root * BLOCK_SIZE + 100] ^= 1;
    let r = walk(img);
    assert!(r.mappings.is_empty());
    assert!(r.refused[0].reason.contains("checksum"), "{:?}", r.refused);
    // An internal node whose children are itself and a block past the end.
    let mut img = clean.clone();
    {
        let b = &mut img[root * BLOCK_SIZE..(root + 1) * BLOCK_SIZE];
        LittleEndian::write_u32(&mut b[4..8], 1); // internal
        LittleEndian::write_u32(&mut b[16..20], 2); // two entries
        LittleEndian::write_u32(&mut b[24..28], 8); // value size
        let max = LittleEndian::read_u32(&b[20..24]) as usize;
        LittleEndian::write_u64(&mut b[32..40], 0);
        LittleEndian::write_u64(&mut b[40..48], 8);
        let vals = 32 + max * 8;
        LittleEndian::write_u64(&mut b[vals..vals + 8], root as u64);
        LittleEndian::write_u64(&mut b[vals + 8..vals + 16], 1 << 40);
    }
    restamp(&mut img, root);
    let r = walk(img);
    let reasons: Vec<&str> = r.refused.iter().map(|x| x.reason.as_str()).collect();
    assert_eq!(r.refused.len(), 2, "{reasons:?}");
    assert!(reasons.iter().any(|x| x.contains("twice")), "{reasons:?}");
    assert!(
        reasons.iter().any(|x| x.contains("past the end")),
        "{reasons:?}"
    );
    assert_eq!(
        r.refused
            .iter()
            .find(|x| x.block == 1 << 40)
            .unwrap()
            .from_virt,
        8
    );
}
