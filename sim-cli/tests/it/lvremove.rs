//! lvremove on image files (the byte-level comparison with real lvm2 is
//! testdata/lvm2/write-check.sh, run by .ci/run): a snapshot goes in two
//! writes (detach, then remove), several LVs in one postponed write, an
//! origin goes with its snapshots, and a removed snapshot's old metadata
//! stays in the ring for forensics.

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

fn seq(dir: &Path, vg: &str) -> u32 {
    run(
        dir,
        &["--dev", ".", "vgs", "--noheadings", "-o", "vg_seqno", vg],
    )
    .text()
    .trim()
    .parse()
    .unwrap()
}

#[test]
fn several_lvs_in_one_write() {
    let s = common::load(&common::repo().join("testdata/lvm2/corpus/fragmented"));
    let dir = s.work.path();
    let before = seq(dir, "vg_frag");
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
    assert_eq!(
        seq(dir, "vg_frag"),
        before + 1,
        "one postponed write for both"
    );
}

/// `lvremove -y vg_snap/data` of the inactive origin of snap and snap2:
/// lvm2 2.03.16 (run on this corpus image, loop device, activation off)
/// asked nothing, printed these three lines, exit 0, and wrote three
/// times (seqno 6 to 9): snap detached, then snap removed with snap2
/// detached, then snap2 and data removed. lvmsim's metadata areas were
/// byte-identical to lvm2's but for the `device` hint. Naming snap2 as
/// well changed nothing in lvm2's output on a VG of the same shape.
#[test]
fn an_origin_goes_with_its_snapshots() {
    let s = common::load(&common::repo().join("testdata/lvm2/corpus/snapshot-meta"));
    let dir = s.work.path();
    assert_eq!(seq(dir, "vg_snap"), 6);
    // Naming a snapshot too changes nothing: it goes once.
    let o = run(
        dir,
        &[
            "--dev",
            ".",
            "lvremove",
            "-y",
            "vg_snap/snap2",
            "vg_snap/data",
        ],
    );
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert_eq!(
        o.text(),
        "  Logical volume \"snap\" successfully removed.\n  \
         Logical volume \"snap2\" successfully removed.\n  \
         Logical volume \"data\" successfully removed.\n"
    );
    assert_eq!(o.stderr, "");
    assert_eq!(seq(dir, "vg_snap"), 9);
    let o = run(
        dir,
        &["--dev", ".", "lvs", "-a", "--noheadings", "-o", "lv_name"],
    );
    assert_eq!(o.text().trim(), "other");
    let o = run(dir, &["pvck", "--dump", "metadata_all", "-v", "a.img"]);
    for n in ["", "[2]", "[3]"] {
        let d = format!("description = \"Write{n} from lvremove -y vg_snap/snap2 vg_snap/data.\"");
        assert!(o.text().contains(&d), "{d}\n{}", o.text());
    }
}

/// `lvremove -y vg_merge/snap` of a merging snapshot of an inactive origin:
/// lvm2 2.03.16 (on this corpus image, loop device, activation off)
/// removed it, printing this line, exit 0, in two writes (seqno 4 to 6);
/// it refuses only while the kernel runs the merge.
#[test]
fn a_merging_snapshot_of_an_inactive_origin_is_removed() {
    let s = common::load(&common::repo().join("testdata/lvm2/corpus/snapshot-merging"));
    let dir = s.work.path();
    assert_eq!(seq(dir, "vg_merge"), 4);
    let o = run(dir, &["--dev", ".", "lvremove", "-y", "vg_merge/snap"]);
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert_eq!(
        o.text(),
        "  Logical volume \"snap\" successfully removed.\n"
    );
    assert_eq!(seq(dir, "vg_merge"), 6);
    let o = run(
        dir,
        &[
            "--dev",
            ".",
            "lvs",
            "-a",
            "--noheadings",
            "-o",
            "lv_name,lv_attr",
        ],
    );
    assert_eq!(
        o.text().split_whitespace().collect::<Vec<_>>(),
        ["data", "-wi-------"]
    );
}
