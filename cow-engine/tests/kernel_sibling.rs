//! merge-with-sibling replayed through the library (`LvHandle`, `merge`)
//! and compared with what the kernel recorded and left.
//!
//! The scenario's snapshots were created between writes and one of them
//! was merged and removed, so no single metadata copy describes every
//! step. The metadata ring of the kernel's final image still holds every
//! copy lvm2 wrote: seqno 4 (snapshot `keep` only), 6 (`keep` and
//! `merge`), 7 (`merge` merging) and 9 (after the merge). Each step runs
//! against the copy in force at that time (the test checks each copy's
//! shape). The data starts from the final image with every extent zeroed
//! (the disk was blank; the LVs were made with -Zn and the snapshot COWs
//! are fresh), the metadata area as the kernel left it.
//!
//! Compared with the kernel's records: the sha256 of every `check` (steps
//! 11-13 before the merge, 16-17 after), `keep`'s status after the merge
//! (`120/8192 16`, step 18: the merge copied each merged 8 KiB chunk into
//! `keep` first) and, at the end, every byte of the image.

use cow_engine::blocks::{Images, LvSet};
use cow_engine::engine::{merge, DevSet, PStore, Snap};
use cow_engine::handle::LvHandle;
use lvm_meta::metadata_area::scan_copies;
use lvm_meta::model::Vg;
use sha2::Digest;
use std::io::{Read, Seek, SeekFrom, Write};

fn corpus(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/kernel/merge-with-sibling")
        .join(name)
}

fn recorded(step: u32) -> String {
    std::fs::read_to_string(corpus(&format!("{step:03}.sha256"))).unwrap()[..64].to_owned()
}

/// The kgen pattern (testdata/README.md, "The write pattern").
fn pattern(tag: &str, lv: &str, s0: u64, count: u64) -> Vec<u8> {
    (s0..s0 + count)
        .flat_map(|s| {
            format!("{tag} {lv} {s}\n")
                .into_bytes()
                .into_iter()
                .cycle()
                .take(512)
        })
        .collect()
}

/// Every metadata copy in the ring, by seqno.
fn copies(img: &[u8]) -> Vec<(u32, Vg)> {
    // The metadata area starts at 4 KiB and ends where the data does (1 MiB).
    scan_copies(&img[4096..1 << 20], 4096)
        .into_iter()
        .map(|c| {
            let text = &c.text[..c.text.len() - 1];
            let vg = Vg::from_tree(&lvm_meta::text::parse(text).unwrap()).unwrap();
            (c.seqno, vg)
        })
        .collect()
}

fn snapshots(vg: &Vg) -> Vec<(String, bool)> {
    vg.roles
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.cow_of.map(|c| (vg.lvs[i].name.clone(), c.merging)))
        .collect()
}

/// Runs one write (activate, write, deactivate).
fn write(vg: &Vg, img: Vec<u8>, lv: &str, s0: u64, count: u64, tag: &str) -> Vec<u8> {
    let mut h = LvHandle::open(
        vg,
        Images {
            pvs: vec![Some(img)],
        },
        vg.lv_index(lv).unwrap(),
    )
    .unwrap();
    h.seek(SeekFrom::Start(s0 * 512)).unwrap();
    h.write_all(&pattern(tag, &format!("vg/{lv}"), s0, count))
        .unwrap();
    h.into_images().pvs.remove(0).unwrap()
}

fn sha(vg: &Vg, img: &[u8], lv: &str) -> String {
    let mut h = LvHandle::open(
        vg,
        Images {
            pvs: vec![Some(img.to_vec())],
        },
        vg.lv_index(lv).unwrap(),
    )
    .unwrap();
    let mut all = Vec::new();
    h.read_to_end(&mut all).unwrap();
    format!("{:x}", sha2::Sha256::digest(&all))
}

#[test]
fn merge_with_sibling_replayed_gives_the_kernels_bytes() {
    let kernel =
        zstd::stream::decode_all(std::fs::File::open(corpus("pv1.img.zst")).unwrap()).unwrap();
    let all = copies(&kernel);
    let at = |seq: u32| {
        all.iter()
            .find(|(s, _)| *s == seq)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("seqno {seq} is in the ring"))
    };
    let (v4, v6, v7, v9) = (at(4), at(6), at(7), at(9));
    assert_eq!(snapshots(&v4), [("keep".to_owned(), false)]);
    assert_eq!(
        snapshots(&v6),
        [("keep".to_owned(), false), ("merge".to_owned(), false)]
    );
    assert_eq!(
        snapshots(&v7),
        [("keep".to_owned(), false), ("merge".to_owned(), true)]
    );
    assert_eq!(snapshots(&v9), [("keep".to_owned(), false)]);

    let mut img = kernel.clone();
    let pv = &v9.pvs[0];
    let from = (pv.pe_start.0 * 512) as usize;
    img[from..from + (u64::from(pv.pe_count) * v9.extent_bytes()) as usize].fill(0);

    // Step 4, before any snapshot: straight onto the origin.
    let mut set = LvSet {
        vg: &v4,
        images: Images {
            pvs: vec![Some(img)],
        },
    };
    let origin = v4.lv_index("origin").unwrap();
    set.write(origin, 0, &pattern("O", "vg/origin", 0, 16384))
        .unwrap();
    let mut img = set.images.pvs.remove(0).unwrap();
    // Steps 6, 8, 9, 10.
    img = write(&v4, img, "origin", 0, 8, "W1");
    img = write(&v6, img, "merge", 100, 1, "M1");
    img = write(&v6, img, "merge", 4096, 64, "M2");
    img = write(&v6, img, "origin", 8000, 16, "W2");
    for (lv, step) in [("origin", 11), ("keep", 12), ("merge", 13)] {
        assert_eq!(sha(&v6, &img, lv), recorded(step), "step {step}: {lv}");
    }

    // Step 15: the merge, with copy-on-write into `keep` first.
    let mut set = LvSet {
        vg: &v7,
        images: Images {
            pvs: vec![Some(img)],
        },
    };
    let origin = v7.lv_index("origin").unwrap();
    let (mcow, keep) = (v7.lv_index("merge").unwrap(), v7.lv_index("keep").unwrap());
    let chunk = |i: usize| v7.roles[i].cow_of.unwrap().chunk_size.0;
    let mut m = PStore::activate(&mut set, mcow, chunk(mcow)).unwrap();
    let ks = PStore::activate(&mut set, keep, chunk(keep)).unwrap();
    let mut others = [Snap {
        store: ks,
        len: u64::from(v7.roles[keep].cow_of.unwrap().glue_extents) * v7.extent_bytes(),
    }];
    assert!(merge(&mut set, origin, &mut m, &mut others, None).unwrap() > 0);
    let img = set.images.pvs.remove(0).unwrap();
    for (lv, step) in [("origin", 16), ("keep", 17)] {
        assert_eq!(sha(&v9, &img, lv), recorded(step), "step {step}: {lv}");
    }
    let status = std::fs::read_to_string(corpus("018.dmsetup-status")).unwrap();
    let want = status
        .lines()
        .find_map(|l| l.strip_prefix("vg-keep: 0 16384 snapshot "))
        .unwrap();
    let (a, t, md) = others[0].store.usage(&set);
    assert_eq!(format!("{a}/{t} {md}"), want);

    // Every byte: origin, both COWs (the merged one cleared as the kernel
    // left it), and the untouched metadata area.
    let diff: Vec<usize> = img
        .chunks(4096)
        .zip(kernel.chunks(4096))
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(k, _)| k * 4096)
        .collect();
    assert!(
        diff.is_empty(),
        "blocks differing from the kernel's image: {diff:?}"
    );
}
