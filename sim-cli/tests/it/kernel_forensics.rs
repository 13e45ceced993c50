//! `lvmsim history`, `recover` and `recover --export` on the forensic
//! scenarios of the kernel corpus (testdata/kernel/snap-drop-reuse,
//! snap-overflow-blocks, damaged-label, damaged-mda; see
//! testdata/README.md).  Every golden is a kernel record: the sha256 of a
//! snapshot's whole view (`NNN.sha256`) and of each 1 MiB block of it
//! (`NNN.blocks`), taken by a `checkblocks` step while the snapshot was
//! alive.  Nothing lvmsim printed is used as an expectation.
//!
//! For every export:
//! * the ranges of the JSON report cover the view once, in order;
//! * a 1 MiB block that lies wholly in ranges lvmsim calls trustworthy has
//!   the recorded hash, so every block whose hash differs from the record
//!   touches a range lvmsim calls untrustworthy;
//! * where lvmsim says "recoverable", the export's sha256 is the recorded
//!   sha256 of the live snapshot;
//! * every input image has the same bytes before and after each command.
//!
//! The damaged scenarios are read with `--scan-all` (lvm2 itself no longer
//! finds the VG there: their last `vgchange -ay` failed); `history` must
//! list exactly the copies lvm2's `pvck` found on the damaged image.
//! Without `--scan-all` lvmsim must find no LV either, and must not call a
//! snapshot of the newest metadata copy removed.

use crate::common;

use common::{contents, load_kernel, sha256, Scenario};
use serde_json::Value;

const MIB: u64 = 1 << 20;

/// A kernel scenario, read with `--scan-all` or not.
struct Kernel {
    s: Scenario,
    scan_all: bool,
}

impl std::ops::Deref for Kernel {
    type Target = Scenario;
    fn deref(&self) -> &Scenario {
        &self.s
    }
}

fn load(name: &str, scan_all: bool) -> Kernel {
    Kernel {
        s: load_kernel(name),
        scan_all,
    }
}

/// Runs lvmsim on the scenario's images; the images must not change.
fn try_run(k: &Kernel, args: &[&str]) -> common::Output {
    let mut l = k.lvmsim();
    if k.scan_all {
        l = l.arg("--scan-all");
    }
    let before = contents(k);
    let o = l.args(args).run();
    assert_eq!(contents(k), before, "{}: {args:?} changed an image", k.name);
    o
}

fn run(k: &Kernel, args: &[&str]) -> String {
    let o = try_run(k, args);
    assert_eq!(o.status, 0, "{}: {args:?}: {}", k.name, o.stderr);
    // history marks its guesses in its output ("guess" in the JSON).
    if k.scan_all && args[0] != "history" {
        assert!(
            o.stderr.contains("GUESS"),
            "{}: {args:?}: --scan-all on damaged images reported no guess: {}",
            k.name,
            o.stderr
        );
    }
    o.text()
}

/// The number of the step written `text` in the scenario; it must have
/// behaved as expected.
fn step(k: &Kernel, text: &str) -> u32 {
    let tsv = std::fs::read_to_string(k.golden.join("steps.tsv")).unwrap();
    let row: Vec<&str> = tsv
        .lines()
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .find(|f| f[5] == text)
        .unwrap_or_else(|| panic!("{}: no step `{text}`", k.name));
    assert_eq!(row[3], "ok", "{}: step `{text}`", k.name);
    row[0].parse().unwrap()
}

/// What the kernel showed of `lv` at `checkblocks LV`: the whole view's
/// sha256 and (offset, sha256) per 1 MiB block.
struct Shown {
    sha256: String,
    blocks: Vec<(u64, String)>,
}

fn shown(k: &Kernel, lv: &str) -> Shown {
    let n = step(k, &format!("checkblocks {lv}"));
    let whole = std::fs::read_to_string(k.golden.join(format!("{n:03}.sha256"))).unwrap();
    let (hash, dev) = whole.trim_end().split_once("  ").unwrap();
    assert_eq!(dev, format!("/dev/{lv}"), "{}: {n:03}.sha256", k.name);
    let blocks: Vec<(u64, String)> =
        std::fs::read_to_string(k.golden.join(format!("{n:03}.blocks")))
            .unwrap()
            .lines()
            .map(|l| {
                let (o, h) = l.split_once(' ').unwrap();
                assert_eq!(h.len(), 64, "{}: {n:03}.blocks: {l}", k.name);
                (o.parse().unwrap(), h.to_owned())
            })
            .collect();
    for (i, (o, _)) in blocks.iter().enumerate() {
        assert_eq!(*o, i as u64 * MIB, "{}: {n:03}.blocks", k.name);
    }
    Shown {
        sha256: hash.to_owned(),
        blocks,
    }
}

/// `recover --json`'s entry for `snap`.
fn survey(k: &Kernel, snap: &str) -> Value {
    common::recover_entry(&run(k, &["recover", "--json"]), snap)
}

/// Exports `vg/snap` without `--seqno`: as its last copy describes it.
fn export(k: &Kernel, snap: &str) -> (Vec<u8>, Value) {
    let seqno = survey(k, snap)["last_seqno"].as_u64().unwrap();
    let out = k.work.path().join(format!("{snap}.img"));
    let target = format!("vg/{snap}");
    run(
        k,
        &["recover", "--export", &target, "-o", out.to_str().unwrap()],
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{}.json", out.display())).unwrap())
            .unwrap();
    assert_eq!(report["seqno"], seqno, "{}: {snap}", k.name);
    assert_eq!(report["seqno_defaulted"], true, "{}: {snap}", k.name);
    let data = std::fs::read(&out).unwrap();
    assert_eq!(report["export_sha256"], sha256(&data), "{}: {snap}", k.name);
    assert_eq!(report["size"], data.len() as u64, "{}: {snap}", k.name);
    for i in report["images"].as_array().unwrap() {
        assert_eq!(i["unchanged"], true, "{}: {snap}: {i}", k.name);
    }
    (data, report)
}

/// (start, end, claimed) of the report's ranges, checked to tile the
/// export: claimed are the ranges lvmsim calls trustworthy and those it
/// holds to be the snapshot's only under its caveat (the origin as it is
/// now, not trustworthy); a range is never both.
fn ranges(k: &Kernel, snap: &str, report: &Value, size: u64) -> Vec<(u64, u64, bool)> {
    let r: Vec<(u64, u64, bool)> = report["ranges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let trusted = r["trustworthy"].as_bool().unwrap();
            let caveat = !r["caveat"].is_null();
            assert!(!(trusted && caveat), "{}: {snap}: {r}", k.name);
            (
                r["start"].as_u64().unwrap(),
                r["end"].as_u64().unwrap(),
                trusted || caveat,
            )
        })
        .collect();
    let mut at = 0;
    for (s, e, _) in &r {
        assert_eq!(*s, at, "{}: {snap}: ranges leave a gap or overlap", k.name);
        assert!(e > s, "{}: {snap}: empty range", k.name);
        at = *e;
    }
    assert_eq!(at, size, "{}: {snap}: ranges do not reach the end", k.name);
    r
}

/// What the block comparison found.
#[derive(Debug, Default)]
struct Blocks {
    /// Blocks wholly in trustworthy ranges (all equal to the record).
    trusted: usize,
    /// Blocks that differ from the record (all touching an untrustworthy
    /// range).
    differ: usize,
    /// Blocks touching an untrustworthy range that equal the record.
    untrusted_same: usize,
}

/// Compares an export block by block with what the kernel showed.
fn compare_blocks(k: &Kernel, snap: &str, data: &[u8], report: &Value, want: &Shown) -> Blocks {
    let size = data.len() as u64;
    assert_eq!(
        want.blocks.len() as u64,
        size.div_ceil(MIB),
        "{}: {snap}: the export is not as long as the view the kernel showed",
        k.name
    );
    let r = ranges(k, snap, report, size);
    let mut b = Blocks::default();
    for (o, h) in &want.blocks {
        let end = (o + MIB).min(size);
        let got = sha256(&data[*o as usize..end as usize]);
        let untrusted = r.iter().any(|(s, e, t)| !t && *s < end && o < e);
        if got != *h {
            assert!(
                untrusted,
                "{}: {snap}: block at {o} differs from what the kernel showed, \
                 but lvmsim calls all of it trustworthy",
                k.name
            );
            b.differ += 1;
        } else if untrusted {
            b.untrusted_same += 1;
        } else {
            b.trusted += 1;
        }
    }
    b
}

// ---------------------------------------------------------------------------

#[test]
fn overflowed_snapshot_blocks() {
    let k = load("snap-overflow-blocks", false);
    let want = shown(&k, "vg/snap");
    // The kernel invalidated it afterwards (recorded `expect-status`).
    step(&k, "expect-status vg-snap Invalid");
    let s = survey(&k, "snap");
    assert_eq!(s["state"], "invalid");
    assert_eq!(s["verdict"], "partly");
    assert_eq!(s["store"]["valid"], false);
    let (data, report) = export(&k, "snap");
    assert_ne!(sha256(&data), want.sha256, "the overflow changed nothing?");
    let b = compare_blocks(&k, "snap", &data, &report, &want);
    // Block 1 (origin sectors 2048..4095) was copied into the store before
    // the check; blocks 4 and 5 were overwritten by the overflowing write.
    assert!(b.trusted >= 1, "{b:?}");
    assert_eq!(b.differ, 2, "{b:?}");
}

#[test]
fn dropped_snapshot_untouched_is_recoverable() {
    let k = load("snap-drop-reuse", false);
    let want = shown(&k, "vg/c");
    let s = survey(&k, "c");
    assert_eq!(s["state"], "dropped");
    assert_eq!(s["verdict"], "recoverable");
    assert!(s["reused_by"].as_array().unwrap().is_empty(), "{s}");
    let (data, report) = export(&k, "c");
    assert_eq!(report["export_sha256"].as_str().unwrap(), want.sha256);
    let b = compare_blocks(&k, "c", &data, &report, &want);
    assert_eq!((b.trusted, b.differ), (8, 0), "{b:?}");
    // The JSON says what the text says: the bytes read from the origin as
    // it is now carry the text's caveat and are not called trustworthy.
    let text = run(&k, &["recover"]);
    let mut unsaved = 0;
    for r in report["ranges"].as_array().unwrap() {
        if r["kind"] == "origin-unsaved" {
            assert_eq!(r["trustworthy"], false, "{r}");
            let c = r["caveat"].as_str().unwrap();
            assert_eq!(c, s["caveat"].as_str().unwrap());
            assert!(text.contains(&format!("  note: {c}\n")), "{text}");
            unsaved += 1;
        } else {
            assert_eq!(r["kind"], "store", "{r}");
            assert_eq!(r["trustworthy"], true, "{r}");
        }
    }
    assert!(unsaved > 0);
}

#[test]
fn dropped_snapshot_partly_reused_is_partly_recoverable() {
    let k = load("snap-drop-reuse", false);
    let want = shown(&k, "vg/a");
    let s = survey(&k, "a");
    assert_eq!(s["state"], "dropped");
    assert_eq!(s["verdict"], "partly");
    // rea was given a's COW extents 10-11 (its last two) by PE range.
    let reused: Vec<&str> = s["reused_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["lv"].as_str().unwrap())
        .collect();
    assert_eq!(reused, ["rea"]);
    let (data, report) = export(&k, "a");
    assert_ne!(report["export_sha256"].as_str().unwrap(), want.sha256);
    let b = compare_blocks(&k, "a", &data, &report, &want);
    assert!(b.differ >= 1, "{b:?}");
}

#[test]
fn dropped_snapshot_wholly_reused_is_not_called_recoverable() {
    let k = load("snap-drop-reuse", false);
    let want = shown(&k, "vg/b");
    let s = survey(&k, "b");
    assert_eq!(s["state"], "dropped");
    // reb took all of b's extents and overwrote their second half: the
    // kernel's record cannot be rebuilt whole.
    assert_ne!(s["verdict"], "recoverable", "{s}");
    let (data, report) = export(&k, "b");
    assert_ne!(report["export_sha256"].as_str().unwrap(), want.sha256);
    let b = compare_blocks(&k, "b", &data, &report, &want);
    assert!(b.differ >= 1, "{b:?}");
}

/// `history --json` with `--scan-all` lists exactly the copies lvm2's
/// `pvck --dump metadata_search` found on the damaged image (the report
/// after the `zero` step; pvck assumed the default area there): same
/// offsets, lengths, checksums and seqnos, each found by a guess.
fn history_as_pvck_saw_it(k: &Kernel) {
    let v: Value = serde_json::from_str(&run(k, &["history", "--json"])).unwrap();
    let mut ours: Vec<(u64, u64, String, u64)> = Vec::new();
    for c in v["history"].as_array().unwrap() {
        let f = &c["found"][0];
        assert_eq!(f["guess"], true, "{}: {c}", k.name);
        ours.push((
            f["offset"].as_u64().unwrap(),
            c["length"].as_u64().unwrap(),
            c["crc"].as_str().unwrap().to_owned(),
            c["seqno"].as_u64().unwrap(),
        ));
    }
    let tsv = std::fs::read_to_string(k.golden.join("steps.tsv")).unwrap();
    let rows: Vec<Vec<&str>> = tsv.lines().map(|l| l.split('\t').collect()).collect();
    let last = |p: &dyn Fn(&str) -> bool| {
        rows.iter()
            .filter(|f| p(f[5]))
            .map(|f| f[0].parse::<u32>().unwrap())
            .max()
            .unwrap()
    };
    let zero = last(&|t| t.starts_with("zero "));
    let after = last(&|t| t == "report");
    assert!(after > zero, "{}: no report after the damage", k.name);
    let rec =
        std::fs::read_to_string(k.golden.join(format!("{after:03}.pvck-mdasearch.pv1"))).unwrap();
    let mut want: Vec<(u64, u64, String, u64)> = rec
        .lines()
        .filter(|l| l.trim_start().starts_with("metadata at "))
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (
                w[2].parse().unwrap(),
                w[4].parse().unwrap(),
                w[6].to_owned(),
                w[10].parse().unwrap(),
            )
        })
        .collect();
    ours.sort();
    want.sort();
    assert!(want.len() >= 8, "{}: {want:?}", k.name);
    assert_eq!(ours, want, "{}: {after:03}.pvck-mdasearch.pv1", k.name);
}

fn damaged(name: &str) {
    // Without --scan-all lvmsim finds no LV, as lvm2 found no VG.
    let plain = load(name, false);
    let failed = step(&plain, "! vgchange -ay vg");
    let said = std::fs::read_to_string(plain.golden.join(format!("{failed:03}.stderr"))).unwrap();
    assert!(said.contains("Volume group \"vg\" not found"), "{said}");
    let o = try_run(&plain, &["lvs", "-a"]);
    assert!(
        !o.text().contains("origin"),
        "{name}: the damage did not matter: {}",
        o.text()
    );
    // Whatever recover finds without --scan-all, it must not call `live`
    // removed: no step removed it (it is in the newest copy of the VG).
    let o = try_run(&plain, &["recover", "--json"]);
    assert_eq!(o.status, 0, "{name}: {}", o.stderr);
    let v: Value = serde_json::from_str(&o.text()).unwrap();
    let live_plain = v["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["snapshot"] == "live");
    if let Some(l) = live_plain {
        assert_eq!(l["state"], "present", "{name}: without --scan-all: {l}");
    }

    let k = load(name, true);
    history_as_pvck_saw_it(&k);
    let gone = shown(&k, "vg/gone");
    let s = survey(&k, "gone");
    assert_eq!(s["state"], "dropped");
    assert_eq!(s["verdict"], "recoverable");
    let (data, report) = export(&k, "gone");
    assert_eq!(report["export_sha256"].as_str().unwrap(), gone.sha256);
    let b = compare_blocks(&k, "gone", &data, &report, &gone);
    assert_eq!((b.trusted, b.differ), (8, 0), "{b:?}");

    // live is still in the metadata with a valid store; nothing was
    // written after its check, so its export is what the kernel showed.
    let live = shown(&k, "vg/live");
    assert_eq!(survey(&k, "live")["state"], "present");
    let (data, report) = export(&k, "live");
    assert_eq!(report["export_sha256"].as_str().unwrap(), live.sha256);
    let b = compare_blocks(&k, "live", &data, &report, &live);
    assert_eq!((b.trusted, b.differ), (8, 0), "{b:?}");
}

#[test]
fn wiped_label_kernel_scenario() {
    damaged("damaged-label");
}

#[test]
fn zeroed_mda_header_kernel_scenario() {
    damaged("damaged-mda");
}

/// Regression: without --scan-all lvmsim still reads the ring of an area
/// whose header was zeroed, but assembles no VG; `recover` called every
/// snapshot of the newest copy "dropped" then, although none was removed.
#[test]
fn unassembled_vg_does_not_make_snapshots_dropped() {
    let k = load("damaged-mda", false);
    let s = survey(&k, "live");
    assert_eq!(s["state"], "present", "{s}");
    assert!(
        s["notes"][0].as_str().unwrap().contains("try --scan-all"),
        "{s}"
    );
    // gone really was removed (`lvremove -y vg/gone` ran before the damage).
    step(&k, "lvremove -y vg/gone");
    assert_eq!(survey(&k, "gone")["state"], "dropped");
}

/// The guard of these tests: a forged record must be caught.
#[test]
#[should_panic(expected = "calls all of it trustworthy")]
fn a_wrong_record_is_caught() {
    let k = load("snap-drop-reuse", false);
    let mut want = shown(&k, "vg/c");
    want.blocks[3].1 = "0".repeat(64);
    let (data, report) = export(&k, "c");
    compare_blocks(&k, "c", &data, &report, &want);
}
