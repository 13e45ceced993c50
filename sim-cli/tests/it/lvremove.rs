//! lvremove on image files (the byte-level comparison with real lvm2 is
//! testdata/lvm2/write-check.sh, run by .ci/run): a snapshot goes in two
//! writes (detach, then remove), several LVs in one postponed write, and a
//! removed snapshot's old metadata stays in the ring for forensics.

use crate::common;

use std::path::Path;

fn run(dir: &Path, args: &[&str]) -> common::Output {
    common::lvmsim(args, dir)
}

#[test]
fn a_snapshot_is_removed_in_two_writes_and_its_history_stays() {
    let s = common::load(&common::repo().join("testdata/lvm2/corpus/snapshot-meta"));
    let dir = s.work.path();
    let o = run(dir, &["--dev", ".", "lvremove", "-y", "vg_snap/snap"]);
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert_eq!(
        o.text(),
        "  Logical volume \"snap\" successfully removed.\n"
    );
    let o = run(
        dir,
        &[
            "--dev",
            ".",
            "lvs",
            "-a",
            "--noheadings",
            "-o",
            "lv_name,origin",
        ],
    );
    let rows: Vec<String> = o
        .text()
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(rows, vec!["data", "other", "snap2 data"]);
    let o = run(dir, &["pvck", "--dump", "metadata_all", "-v", "a.img"]);
    assert!(
        o.text()
            .contains("description = \"Write from lvremove -y vg_snap/snap.\""),
        "{}",
        o.text()
    );
    assert!(
        o.text()
            .contains("description = \"Write[2] from lvremove -y vg_snap/snap.\""),
        "{}",
        o.text()
    );
}

#[test]
fn several_lvs_in_one_write_and_origins_refused() {
    let s = common::load(&common::repo().join("testdata/lvm2/corpus/fragmented"));
    let dir = s.work.path();
    let seq = |dir: &Path| -> u32 {
        run(
            dir,
            &["--dev", ".", "vgs", "--noheadings", "-o", "vg_seqno"],
        )
        .text()
        .trim()
        .parse()
        .unwrap()
    };
    let before = seq(dir);
    let o = run(
        dir,
        &[
            "--dev",
            ".",
            "lvremove",
            "-y",
            "vg_frag/renamed3",
            "vg_frag/lv6",
        ],
    );
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert_eq!(seq(dir), before + 1, "one postponed write for both");
    let s = common::load(&common::repo().join("testdata/lvm2/corpus/snapshot-meta"));
    let o = run(
        s.work.path(),
        &["--dev", ".", "lvremove", "-y", "vg_snap/data"],
    );
    assert_ne!(o.status, 0);
    assert!(o.stderr.contains("with its snapshots"), "{}", o.stderr);
}
