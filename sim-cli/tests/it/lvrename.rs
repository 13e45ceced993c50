//! lvrename on image files: the new name reads back, refusals carry the
//! first line of lvm2's message (checked against lvm2 2.03.16 by hand), and only images that hold the VG's metadata areas
//! are written. (The byte-level comparison with real lvm2 is
//! testdata/lvm2/write-check.sh, run by .ci/run.)

use crate::common;

use std::path::Path;

fn run(dir: &Path, args: &[&str]) -> common::Output {
    common::lvmsim(args, dir)
}

#[test]
fn rename_reads_back_and_touches_only_metadata_holders() {
    // mdacopies: PV a has no metadata area, b one, c two.
    let s = common::load(&common::repo().join("testdata/lvm2/corpus/mdacopies"));
    let dir = s.work.path();
    let before = common::contents(&s);
    let o = run(dir, &["--dev", ".", "lvrename", "vg_mda", "lv0", "data"]);
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert_eq!(
        o.text(),
        "  Renamed \"lv0\" to \"data\" in volume group \"vg_mda\"\n"
    );
    let after = common::contents(&s);
    let a = dir.join("a.img");
    assert_eq!(
        before[&a], after[&a],
        "a PV without metadata areas is not written"
    );
    for n in ["b.img", "c.img"] {
        assert_ne!(
            before[&dir.join(n)],
            after[&dir.join(n)],
            "{n} holds metadata and changes"
        );
    }
    let o = run(
        dir,
        &[
            "--dev",
            ".",
            "lvs",
            "--noheadings",
            "-o",
            "lv_name,vg_seqno",
        ],
    );
    let seq_before: u32 = std::fs::read_to_string(s.golden.join("vgs.json"))
        .unwrap()
        .split("\"vg_seqno\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let text = o.text();
    let words: Vec<&str> = text.split_whitespace().collect();
    let seq = (seq_before + 1).to_string();
    assert_eq!(words, vec!["data", seq.as_str(), "lv1", seq.as_str()]);
    // The old copy is still in the ring, the new one after it.
    let o = run(dir, &["pvck", "--dump", "metadata_search", "b.img"]);
    assert!(
        o.text().contains(&format!("seqno {seq_before} "))
            && o.text().contains(&format!("seqno {} ", seq_before + 1))
    );
}

#[test]
fn refusals_carry_lvm2_messages_and_change_nothing() {
    let s = common::load(&common::repo().join("testdata/lvm2/corpus/twopv-striped"));
    let dir = s.work.path();
    let before = common::contents(&s);
    for (args, msg) in [
        (
            vec!["lin", "str"],
            "Logical Volume \"str\" already exists in volume group \"vg_striped\"",
        ),
        (
            vec!["lin", "snapshot0"],
            "Names starting \"snapshot\" are reserved.",
        ),
        (
            vec!["lin", "x_tmeta"],
            "Names including \"_tmeta\" are reserved.",
        ),
        (
            vec!["nope", "x"],
            "Existing logical volume \"nope\" not found in volume group \"vg_striped\"",
        ),
        (
            vec!["lin", "bad/name"],
            "Logical volume names must have the same volume group",
        ),
        (
            vec!["lin", "a b"],
            "New logical volume name \"a b\" is invalid",
        ),
    ] {
        let mut a = vec!["--dev", ".", "lvrename", "vg_striped"];
        a.extend(args.iter());
        let o = run(dir, &a);
        assert_ne!(o.status, 0, "{args:?}");
        assert!(o.stderr.contains(msg), "{args:?}: {}", o.stderr);
    }
    let o = run(dir, &["--dev", ".", "lvrename", "nogroup", "a", "b"]);
    assert!(
        o.stderr.contains("Volume group \"nogroup\" not found"),
        "{}",
        o.stderr
    );
    assert_eq!(
        before,
        common::contents(&s),
        "a refused command writes nothing"
    );
}
