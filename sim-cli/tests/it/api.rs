//! The library API end to end: open images, write through an origin, make
//! a snapshot, see the old data in it, merge it back with progress, and
//! find the same bytes with the `lvmsim` command.

use crate::common::Lvmsim;
use lvmsim::api::{MergeOutcome, Notice, Session, SnapshotSpec, Stream};
use lvmsim::context::Context;
use lvmsim::error::Error;
use lvmsim::report::{Options, Value};
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
    let t = crate::common::scratch();
    let img = t.path().join("disk.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(32 << 20)
        .unwrap();
    cli(&img, &["pvcreate", "/dev/sda"]);
    cli(&img, &["vgcreate", "-s", "1m", "vg", "/dev/sda"]);
    cli(&img, &["lvcreate", "-Zn", "-n", "origin", "-L", "8m", "vg"]);

    let mut s = Session::open(&[("/dev/sda", &img)], Context::new()).unwrap();
    let old = pattern(0x4f, 8 << 20);
    s.lv("vg", "origin", true).unwrap().write_all(&old).unwrap();
    let spec = SnapshotSpec {
        chunk_bytes: Some(8192),
        ..SnapshotSpec::new("vg", "origin", "snap", 4 << 20)
    };
    let made = s.lvcreate_snapshot(&spec).unwrap();
    assert_eq!(made.value.cow_sectors, 8192);
    assert_eq!(made.value.chunk_sectors, 16);
    assert!(made.notices.contains(&Notice {
        stream: Stream::Out,
        text: "  Logical volume \"snap\" created.".into()
    }));
    // The same name again: lvm2's refusal, typed, and nothing written.
    match s.lvcreate_snapshot(&spec) {
        Err(Error::Refused(m)) => assert_eq!(
            m,
            "Logical Volume \"snap\" already exists in volume group \"vg\""
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }

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

    // lvs through the library: the same rows the command prints.
    let opts = Options {
        all: true,
        fields: vec!["lv_name,lv_attr,origin,lv_size".into()],
        ..Options::default()
    };
    let lvs = s.lvs(&opts).unwrap();
    let rows: Vec<(&str, &str, &str)> = (0..lvs.len())
        .map(|r| {
            (
                lvs.text(r, "lv_name").unwrap(),
                lvs.text(r, "lv_attr").unwrap(),
                lvs.text(r, "origin").unwrap(),
            )
        })
        .collect();
    assert!(rows.contains(&("snap", "swi---s---", "origin")), "{rows:?}");
    assert!(rows.contains(&("origin", "owi---s---", "")), "{rows:?}");
    let r = (0..lvs.len())
        .find(|&r| lvs.text(r, "lv_name") == Some("origin"))
        .unwrap();
    assert_eq!(lvs.value(r, "lv_size"), Some(Value::Size(16384)));
    let mut text = Vec::new();
    lvs.write(&mut text).unwrap();
    assert_eq!(
        text,
        cli(&img, &["lvs", "-a", "-o", "lv_name,lv_attr,origin,lv_size"])
    );

    // Merging something that is not a snapshot: lvm2's refusal, typed.
    match s.lvconvert_merge("vg", "origin", &mut |_| {}) {
        Err(Error::Refused(m)) => {
            assert_eq!(m, "\"vg/origin\" is not a mergeable logical volume.")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let mut calls = Vec::new();
    let merged = s
        .lvconvert_merge("vg", "snap", &mut |p| calls.push(p))
        .unwrap();
    assert_eq!(
        merged.value,
        MergeOutcome::Finished {
            origin: "origin".into()
        }
    );
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

/// `lvdisplay -m` through the API on lvm2-made images prints what lvm2
/// printed for them; a missing LV is reported, not fatal.
#[test]
fn lvdisplay_through_the_api_matches_lvm2() {
    let sc = crate::common::load(&crate::common::repo().join("testdata/lvm2/corpus/display"));
    let images: Vec<(&str, &std::path::Path)> = sc
        .devs
        .iter()
        .map(|(n, p)| (n.as_str(), p.as_path()))
        .collect();
    let s = Session::open(&images, Context::new()).unwrap();
    let mut opts = lvmsim::display::Options {
        maps: true,
        ..Default::default()
    };
    opts.report.driver_unknown = true;
    opts.report.names = vec!["vg_disp/frag".into()];
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let found = s
        .display(lvmsim::display::Command::Lv, &opts, &mut out, &mut err)
        .unwrap();
    assert!(found);
    let want = std::fs::read(sc.golden.join("lvdisplay-m-frag.txt")).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        String::from_utf8(want).unwrap()
    );
    assert!(err.is_empty());

    opts.report.names = vec!["vg_disp/nosuch".into()];
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let found = s
        .display(lvmsim::display::Command::Lv, &opts, &mut out, &mut err)
        .unwrap();
    assert!(!found);
    assert!(out.is_empty());
    assert_eq!(
        String::from_utf8(err).unwrap(),
        "  Failed to find logical volume \"vg_disp/nosuch\"\n"
    );
}
