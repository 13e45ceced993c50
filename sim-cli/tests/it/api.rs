//! The library API end to end: open images, write through an origin, make
//! a snapshot, see the old data in it, merge it back with progress, and
//! find the same bytes with the `lvmsim` command.

use crate::common::Lvmsim;
use lvmsim::api::Session;
use std::io::{Read, Seek, SeekFrom, Write};

fn cli(img: &std::path::Path, args: &[&str]) -> Vec<u8> {
    let o = Lvmsim::new().dev("/dev/sda", img).args(args).run();
    assert!(o.ok(), "{args:?}: {}", o.stderr);
    o.stdout
}

fn pattern(tag: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| tag ^ (i as u8).wrapping_mul(31)).collect()
}

#[test]
fn snapshot_write_read_merge_through_the_api() {
    let t = tempfile::tempdir().unwrap();
    let img = t.path().join("disk.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(32 << 20)
        .unwrap();
    cli(&img, &["pvcreate", "/dev/sda"]);
    cli(&img, &["vgcreate", "-s", "1m", "vg", "/dev/sda"]);
    cli(&img, &["lvcreate", "-Zn", "-n", "origin", "-L", "8m", "vg"]);

    let mut s = Session::open(&[("/dev/sda", &img)]).unwrap();
    let old = pattern(0x4f, 8 << 20);
    s.lv("vg", "origin", true).unwrap().write_all(&old).unwrap();
    s.create_snapshot("vg", "origin", "snap", 4 << 20, 8192)
        .unwrap();

    // Overwrite 100 KiB in the middle of the origin.
    let new = pattern(0x57, 100 << 10);
    {
        let mut o = s.lv("vg", "origin", true).unwrap();
        o.seek(SeekFrom::Start(3 << 20)).unwrap();
        o.write_all(&new).unwrap();
    }
    let mut snap = Vec::new();
    s.lv("vg", "snap", false)
        .unwrap()
        .read_to_end(&mut snap)
        .unwrap();
    assert!(snap == old, "the snapshot must keep the origin's old data");
    let mut want_origin = old.clone();
    want_origin[3 << 20..(3 << 20) + new.len()].copy_from_slice(&new);
    assert!(cli(&img, &["cat", "vg/origin"]) == want_origin);
    assert!(cli(&img, &["cat", "vg/snap"]) == old);

    let mut calls = Vec::new();
    s.merge("vg", "snap", &mut |p| calls.push(p)).unwrap();
    assert!(!calls.is_empty(), "no progress reported");
    assert!(calls.windows(2).all(|w| w[0].runs < w[1].runs));
    assert_eq!(calls.last().unwrap().percent().round(), 100.0);
    // Merged: the origin is the snapshot's view again, and the snapshot is gone.
    assert!(cli(&img, &["cat", "vg/origin"]) == old);
    let lvs =
        String::from_utf8(cli(&img, &["lvs", "-a", "--noheadings", "-o", "lv_name"])).unwrap();
    assert_eq!(lvs.split_whitespace().collect::<Vec<_>>(), ["origin"]);
    assert!(s.lv("vg", "snap", false).is_err());
}
