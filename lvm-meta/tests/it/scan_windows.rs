//! `--scan-all` streams images window by window: on real images (lvm2's
//! rings, wrapped and not, two areas per PV, several PVs back to back) it
//! finds exactly the copies one scan of each whole image in memory finds,
//! whatever the window and overlap sizes, the retry for copies longer than
//! the overlap included.

use crate::common::{testdata, unzst};
use lvm_meta::history::collect_scan_all_with;
use lvm_meta::io::Image;
use lvm_meta::metadata_area::scan_copies;
use std::collections::BTreeSet;

/// (offset, crc, length, seqno) of every copy one whole-image scan finds.
fn whole(bytes: &[u8]) -> BTreeSet<(u64, u32, usize, u32)> {
    scan_copies(bytes, 0)
        .into_iter()
        .filter(|c| !c.wrapped)
        .map(|c| (c.offset, c.crc, c.text.len(), c.seqno))
        .collect()
}

fn windowed(bytes: &[u8], window: u64, overlap: u64) -> BTreeSet<(u64, u32, usize, u32)> {
    let img = Image::from_bytes("x", bytes.to_vec());
    let mut steps = Vec::new();
    let h = collect_scan_all_with(&[&img], window, overlap, &mut |_, done, size| {
        steps.push((done, size))
    });
    assert!(h.problems.is_empty(), "{:?}", h.problems);
    // Progress is reported window by window, up to the end.
    assert!(steps.windows(2).all(|w| w[0].0 < w[1].0), "{steps:?}");
    assert_eq!(
        steps.last(),
        Some(&(bytes.len() as u64, bytes.len() as u64))
    );
    let mut out = BTreeSet::new();
    for c in &h.copies {
        for f in &c.found {
            out.insert((f.offset, c.crc, c.len(), c.seqno));
        }
    }
    out
}

#[test]
fn windows_find_what_one_whole_scan_finds() {
    let mut images: Vec<Vec<u8>> = [
        "lvm2/corpus/ring-wrap/a.img.zst",
        "lvm2/corpus/mdacopies/c.img.zst",
        "lvm2/corpus/empty-pv/b.img.zst",
        "kernel/ring-wrap/pv1.img.zst",
    ]
    .iter()
    .map(|p| unzst(&testdata(p)))
    .collect();
    // Two PVs back to back, as on a disk: copies on both sides of many
    // window edges.
    let mut two = images[1].clone();
    two.extend_from_slice(&images[0]);
    images.push(two);
    let mut compared = 0;
    for bytes in &images {
        let want = whole(bytes);
        assert!(!want.is_empty());
        for (window, overlap) in [
            (4096, 512),
            (65536, 4096),
            (1 << 20, 512),
            (16 << 20, 1 << 20),
        ] {
            assert_eq!(
                windowed(bytes, window, overlap),
                want,
                "window {window}, overlap {overlap}"
            );
        }
        compared += want.len();
    }
    assert!(compared > 100, "only {compared} copies");
}
