//! `lvmsim recover` against what the kernel recorded in testdata/kernel:
//!
//! * snap-lvremove: the removed snapshot is "dropped" and "recoverable",
//!   and its export has the sha256 the kernel's `sha256sum /dev/vg/snap`
//!   printed while it was alive (step 009);
//! * snap-overflow, two-snaps-one-overflows: the overflowed snapshot is
//!   "invalid" (the kernel reported `Invalid` in `dmsetup status`) and
//!   "partly" recoverable; every byte of a range the report calls
//!   trustworthy equals what the snapshot showed when it was made (the
//!   scenario's `write ... O` pattern over the whole origin, written by
//!   kgen-pattern before the snapshot), and every sector that differs from
//!   it lies in a range the report calls untrustworthy;
//! * every input image hashes the same before and after, in the report
//!   and measured here.

use crate::common;

use common::{load_kernel, repo, sha256, sha256_file, Lvmsim};
use serde_json::Value;
use std::path::{Path, PathBuf};

struct Kernel {
    work: tempfile::TempDir,
    img: PathBuf,
}

fn load(name: &str) -> Kernel {
    let work = crate::common::scratch();
    let img = work.path().join("pv1.img");
    common::unzst_to(&common::kernel(name).join("pv1.img.zst"), &img);
    Kernel { work, img }
}

fn run(k: &Kernel, args: &[&str]) -> String {
    let o = Lvmsim::new()
        .dev("/dev/vda", &k.img)
        .args(args)
        .cwd(k.work.path())
        .run();
    assert_eq!(o.status, 0, "{args:?}: {}", o.stderr);
    o.text()
}

fn survey(k: &Kernel, snap: &str) -> Value {
    common::recover_entry(&run(k, &["recover", "--json"]), snap)
}

fn export(k: &Kernel, snap: &str, seqno: u32) -> (Vec<u8>, Value) {
    let before = sha256_file(&k.img);
    let out = k.work.path().join(format!("{snap}.img"));
    run(
        k,
        &[
            "recover",
            "--export",
            &format!("vg/{snap}"),
            "--seqno",
            &seqno.to_string(),
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(sha256_file(&k.img), before, "the image changed");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{}.json", out.display())).unwrap())
            .unwrap();
    let data = std::fs::read(&out).unwrap();
    assert_eq!(report["export_sha256"], sha256_file(&out));
    for i in report["images"].as_array().unwrap() {
        assert_eq!(i["sha256_before"], before);
        assert_eq!(i["sha256_after"], before);
    }
    (data, report)
}

/// The last seqno whose copy has `snap` as a snapshot (from history, whose
/// copies are checked against pvck in tests/it/history.rs).
fn last_seqno(k: &Kernel, snap: &str) -> u32 {
    let v = survey(k, snap);
    v["last_seqno"].as_u64().unwrap() as u32
}

#[test]
fn removed_snapshot_exports_what_the_kernel_showed() {
    let k = load("snap-lvremove");
    let s = survey(&k, "snap");
    assert_eq!(s["state"], "dropped");
    assert_eq!(s["verdict"], "recoverable");
    assert_eq!(s["store"]["valid"], true);
    let want =
        std::fs::read_to_string(repo().join("testdata/kernel/snap-lvremove/009.sha256")).unwrap();
    assert!(
        want.ends_with(" /dev/vg/snap\n"),
        "009 is the snapshot's check"
    );
    let (_, report) = export(&k, "snap", last_seqno(&k, "snap"));
    assert_eq!(
        report["export_sha256"].as_str().unwrap(),
        want.split_whitespace().next().unwrap()
    );
}

/// kgen-pattern's sector `s` of a `write LV S N TAG` step (as
/// tests/it/kernel_corpus.rs models it).
fn pattern_sector(tag: &str, lv: &str, s: u64) -> Vec<u8> {
    let line = format!("{tag} {lv} {s}\n");
    line.bytes().cycle().take(512).collect()
}

/// The snapshot was made right after `write vg/origin 0 16384 O` (8 MiB,
/// the whole origin): its view then was that pattern.
fn check_partly(name: &str, snap: &str) {
    let k = load(name);
    let scenario =
        std::fs::read_to_string(repo().join(format!("testdata/kernel/{name}/scenario"))).unwrap();
    assert!(scenario.contains("write vg/origin 0 16384 O\nlvcreate -y -s"));
    let s = survey(&k, snap);
    assert_eq!(s["state"], "invalid");
    assert_eq!(s["verdict"], "partly");
    let (data, report) = export(&k, snap, last_seqno(&k, snap));
    assert_eq!(data.len(), 16384 * 512);
    let ranges = report["ranges"].as_array().unwrap();
    let trust = |sector: u64| {
        let b = sector * 512;
        ranges
            .iter()
            .find(|r| r["start"].as_u64().unwrap() <= b && b < r["end"].as_u64().unwrap())
            .unwrap()["trustworthy"]
            .as_bool()
            .unwrap()
    };
    let (mut good, mut differ) = (0, 0);
    for sector in 0..16384u64 {
        let got = &data[(sector * 512) as usize..][..512];
        let same = got == pattern_sector("O", "vg/origin", sector).as_slice();
        if trust(sector) {
            assert!(
                same,
                "{name}: sector {sector} is called trustworthy but differs"
            );
            good += 1;
        } else if !same {
            differ += 1;
        }
    }
    assert!(good > 0, "{name}: nothing trustworthy");
    assert!(differ > 0, "{name}: the overflow changed nothing?");
}

#[test]
fn overflowed_snapshot_is_partly_recoverable() {
    check_partly("snap-overflow", "snap");
}

#[test]
fn overflowed_sibling_is_partly_recoverable() {
    check_partly("two-snaps-one-overflows", "small");
    let k = load("two-snaps-one-overflows");
    assert_eq!(survey(&k, "big")["state"], "present");
}

#[test]
fn export_never_overwrites() {
    let k = load("snap-lvremove");
    let out = k.work.path().join("exists.img");
    std::fs::write(&out, b"keep").unwrap();
    let a = vec![
        "--dev".to_owned(),
        format!("/dev/vda={}", k.img.display()),
        "recover".into(),
        "--export".into(),
        "vg/snap".into(),
        "--seqno".into(),
        "4".into(),
        "-o".into(),
        out.display().to_string(),
    ];
    let o = common::lvmsim(&a, k.work.path());
    assert_ne!(o.status, 0);
    assert_eq!(std::fs::read(&out).unwrap(), b"keep");
    // Nor an existing report beside a new export.
    std::fs::remove_file(&out).unwrap();
    let report = k.work.path().join("exists.img.json");
    std::fs::write(&report, b"keep").unwrap();
    let o = common::lvmsim(&a, k.work.path());
    assert_ne!(o.status, 0);
    assert_eq!(std::fs::read(&report).unwrap(), b"keep");
    assert!(!out.exists(), "no export without its report");
}

/// snap-lvremove's final image plus one more commit, as lvm2 would make
/// it for `lvcreate -Zn -n reuse -l N vg` placed on `pe..pe+n` of pv0 (the
/// removed snapshot's COW was pv0:8-11), with `fill` written over the new
/// LV's first `fill_len` bytes.
fn reuse_image(pe: u32, n: u32, fill_len: usize) -> Kernel {
    let k = load("snap-lvremove");
    add_lv(&k, pe, n, fill_len);
    k
}

/// Commits one more LV on `pe..pe+n` of pv0 to `k`'s image, as lvm2's
/// `lvcreate -Zn` would (lvm-meta's commit planner, byte-equal to lvm2 in
/// tests/it/lvrename.rs and tests/it/lvremove.rs), and overwrites its first
/// `fill_len` bytes.
fn add_lv(k: &Kernel, pe: u32, n: u32, fill_len: usize) {
    use lvm_meta::io::Image;
    use lvm_meta::model::{Area, SegmentKind};
    let mut bytes = std::fs::read(&k.img).unwrap();
    let sys =
        lvm_meta::scan::System::scan(vec![Image::from_bytes("/dev/vda", bytes.clone())]).unwrap();
    let vi = &sys.vgs[0];
    let mut vg = (*vi.vg).clone();
    let mut lv = vg.lvs[vg.lv_index("origin").unwrap()].clone();
    lv.name = "reuse".into();
    lv.id = "R3useL-vTst-0000-0000-0000-0000-000001".into();
    lv.segments.truncate(1);
    lv.segments[0].extent_count = n;
    lv.segments[0].kind = SegmentKind::Striped {
        stripe_size: None,
        stripes: vec![Area::Pv { pv: 0, pe }],
    };
    vg.lvs.push(lv);
    vg.seqno += 1;
    vg.derive_roles();
    let hdr = lvm_meta::export::ExportHeader::new(
        "Write from lvcreate -Zn -n reuse vg.",
        "kgen",
        "Linux kgen",
        1_795_736_600,
    );
    let text = lvm_meta::export::export(&vg, &hdr);
    let writes = lvm_meta::commit::plan(&sys, vi, &text).unwrap();
    let mut images = vec![bytes.clone()];
    lvm_meta::commit::apply_in_memory(&mut images, &writes).unwrap();
    bytes = images.pop().unwrap();
    // pe_start is 2048 sectors, extents are 1 MiB (from the metadata).
    let at = (1 << 20) + (pe as usize) * (1 << 20);
    bytes[at..at + fill_len].fill(0xee);
    std::fs::write(&k.img, bytes).unwrap();
}

#[test]
fn extents_reused_without_touching_the_store_keep_it_recoverable() {
    // The store's 15 records and their data lie in the COW's first
    // extent (pv0:8); a later LV on pv0:9-10 leaves them alone.
    let k = reuse_image(9, 2, 1 << 20);
    let s = survey(&k, "snap");
    assert_eq!(s["state"], "dropped");
    assert_eq!(s["reused_by"][0]["lv"], "reuse");
    assert_eq!(s["reused_by"][0]["extents"], "pv0:9-10");
    assert_eq!(s["store"]["exceptions_on_reused_extents"], 0);
    assert_eq!(s["verdict"], "recoverable");
    let want =
        std::fs::read_to_string(repo().join("testdata/kernel/snap-lvremove/009.sha256")).unwrap();
    let (_, report) = export(&k, "snap", 4);
    assert_eq!(
        report["export_sha256"].as_str().unwrap(),
        want.split_whitespace().next().unwrap()
    );
}

#[test]
fn store_overwritten_by_a_later_lv_is_lost() {
    // The new LV takes the COW's first extent and overwrites its header.
    let k = reuse_image(8, 1, 4096);
    let s = survey(&k, "snap");
    assert_eq!(s["reused_by"][0]["extents"], "pv0:8");
    assert_eq!(s["verdict"], "lost");
    // Taken but not yet written: the store is still there, but nothing
    // says the new LV did not write to it.
    let k = reuse_image(8, 1, 0);
    let s = survey(&k, "snap");
    assert_eq!(s["store"]["header"], true);
    assert_eq!(s["store"]["metadata_on_reused_extents"], true);
    assert_eq!(s["verdict"], "lost");
}

/// two-snaps-one-overflows: `big` (64k chunks, COW pv0:9-16) removed with
/// lvmsim's lvremove, then pv0:12-13 given to a new LV that overwrites
/// them. The store's header and records (pv0:9) survive; the data chunks
/// it saved on pv0:12-13 do not.
#[test]
fn partly_reused_store_names_the_lost_ranges() {
    let k = load("two-snaps-one-overflows");
    run(&k, &["lvremove", "-y", "vg/big"]);
    add_lv(&k, 12, 2, 2 << 20);
    let s = survey(&k, "big");
    assert_eq!(s["state"], "dropped");
    assert_eq!(s["reused_by"][0]["extents"], "pv0:12-13");
    assert!(s["store"]["exceptions_on_reused_extents"].as_u64().unwrap() > 0);
    assert_eq!(s["verdict"], "partly");
    let (data, report) = export(&k, "big", s["last_seqno"].as_u64().unwrap() as u32);
    let model = big_model();
    let ranges = report["ranges"].as_array().unwrap();
    let (mut differ, mut untrusted) = (0, 0);
    for r in ranges {
        let (a, b) = (
            r["start"].as_u64().unwrap() as usize,
            r["end"].as_u64().unwrap() as usize,
        );
        let same = data[a..b] == model[a..b];
        // Trustworthy, or the snapshot's under the caveat the text prints.
        if r["trustworthy"] == true || !r["caveat"].is_null() {
            assert!(
                same,
                "bytes {a}-{b} ({}) are called trustworthy but differ",
                r["kind"]
            );
        } else {
            untrusted += 1;
            assert_eq!(r["kind"], "reused");
            if !same {
                differ += 1;
            }
        }
    }
    assert!(untrusted > 0 && differ > 0, "{ranges:?}");
}

/// What two-snaps-one-overflows' `big` showed (steps 004-008): the
/// origin's O pattern, with `write vg/big 9000 2 B` on top; checked to be
/// the kernel's sha256 (018).
fn big_model() -> Vec<u8> {
    let mut model = Vec::with_capacity(16384 * 512);
    for sector in 0..16384u64 {
        if (9000..9002).contains(&sector) {
            model.extend(pattern_sector("B", "vg/big", sector));
        } else {
            model.extend(pattern_sector("O", "vg/origin", sector));
        }
    }
    let rec =
        std::fs::read_to_string(repo().join("testdata/kernel/two-snaps-one-overflows/018.sha256"))
            .unwrap();
    assert!(rec.ends_with(" /dev/vg/big\n"));
    assert_eq!(
        sha256(&model),
        rec.split_whitespace().next().unwrap(),
        "the model is the kernel's view"
    );
    model
}

/// The byte offset of pv0's extent `pe` in the kernel images (pe_start
/// 2048 sectors, 1 MiB extents, from the metadata).
fn pe_offset(pe: u64) -> usize {
    ((1u64 << 20) + pe * (1 << 20)) as usize
}

/// A store whose header was zeroed (as lvm2's wipe of a later LV's first
/// 4 KiB does) but nothing else touched: found by scanning the COW, all 15
/// records counted, verdict partly (whether it had overflowed is not
/// known), and the export is still byte for byte what the kernel showed;
/// only the chunks the records list are called trustworthy.
#[test]
fn zeroed_store_header_is_found_by_scanning() {
    let k = load("snap-lvremove");
    let intact = survey(&k, "snap");
    assert_eq!(intact["store"]["exceptions"], 15);
    // snap's COW is pv0:8-11.
    assert_eq!(intact["cow_extents"], "pv0:8-11");
    let mut bytes = std::fs::read(&k.img).unwrap();
    bytes[pe_offset(8)..pe_offset(8) + 4096].fill(0);
    std::fs::write(&k.img, &bytes).unwrap();
    let s = survey(&k, "snap");
    assert_eq!(s["store"]["header"], false);
    assert_eq!(s["store"]["header_guessed"], true);
    assert_eq!(s["store"]["metadata_intact"], true);
    assert_eq!(s["store"]["exceptions"], 15);
    assert_eq!(s["store"]["chunk_bytes"], 8192);
    assert_eq!(s["verdict"], "partly");
    let text = run(&k, &["recover"]);
    assert!(
        text.contains(
            "store: header absent (store found by scanning), invalid, 15 exception records"
        ) && text
            .contains("found by scanning its COW for metadata areas, with 8 KiB chunks (a guess)"),
        "{text}"
    );
    let want =
        std::fs::read_to_string(repo().join("testdata/kernel/snap-lvremove/009.sha256")).unwrap();
    let (_, report) = export(&k, "snap", last_seqno(&k, "snap"));
    assert_eq!(
        report["export_sha256"].as_str().unwrap(),
        want.split_whitespace().next().unwrap()
    );
    let mut stored = 0;
    for r in report["ranges"].as_array().unwrap() {
        match r["kind"].as_str().unwrap() {
            "store" => {
                assert_eq!(r["trustworthy"], true);
                stored += r["end"].as_u64().unwrap() - r["start"].as_u64().unwrap();
            }
            _ => assert_eq!(r["trustworthy"], false, "{r}"),
        }
    }
    assert_eq!(stored, 15 * 8192);
}

/// big (64 KiB chunks, COW pv0:9-16) removed, then pv0:9 given to a later
/// LV whose first 4 KiB were overwritten: the header is gone and the
/// header chunk and first metadata area lie on a reused extent, but the
/// area is still well formed, so reuse is judged chunk by chunk: records
/// whose data lies on pv0:10-16 are trusted (and equal what the kernel
/// showed), those on pv0:9 are not.
#[test]
fn store_on_a_partly_reused_first_extent_is_judged_per_chunk() {
    let k = load("two-snaps-one-overflows");
    run(&k, &["lvremove", "-y", "vg/big"]);
    add_lv(&k, 9, 1, 4096);
    let s = survey(&k, "big");
    assert_eq!(s["reused_by"][0]["extents"], "pv0:9");
    assert_eq!(s["store"]["header_guessed"], true);
    assert_eq!(s["store"]["metadata_on_reused_extents"], true);
    assert_eq!(s["store"]["metadata_intact"], true);
    let reused = s["store"]["exceptions_on_reused_extents"].as_u64().unwrap();
    let all = s["store"]["exceptions"].as_u64().unwrap();
    assert!(reused > 0 && reused < all, "{s}");
    assert_eq!(s["verdict"], "partly");
    let (data, report) = export(&k, "big", s["last_seqno"].as_u64().unwrap() as u32);
    let model = big_model();
    let mut trusted = 0;
    for r in report["ranges"].as_array().unwrap() {
        let (a, b) = (
            r["start"].as_u64().unwrap() as usize,
            r["end"].as_u64().unwrap() as usize,
        );
        if r["trustworthy"] == true {
            assert_eq!(r["kind"], "store");
            assert!(
                data[a..b] == model[a..b],
                "bytes {a}-{b} are called trustworthy but differ"
            );
            trusted += b - a;
        } else {
            assert!(r["caveat"].is_null(), "{r}");
        }
    }
    assert_eq!(trusted as u64, (all - reused) * 65536);
}

/// The step number and content of the last record file of a scenario
/// whose name ends with `suffix`.
fn last_record_step(dir: &Path, suffix: &str) -> Option<(u32, String)> {
    let v = common::records(dir, suffix);
    let p = v.last()?;
    let n = p.file_name().unwrap().to_string_lossy()[..3]
        .parse()
        .unwrap();
    Some((n, std::fs::read_to_string(p).unwrap()))
}

/// The last record file of a scenario whose name ends with `suffix`.
fn last_record(dir: &Path, suffix: &str) -> Option<String> {
    let v = common::records(dir, suffix);
    v.last().map(|p| std::fs::read_to_string(p).unwrap())
}

/// Over every kernel scenario: the snapshots recover lists are the ones the
/// scenario created with `lvcreate -s`; present and invalid ones are the
/// `cow_store`s of lvm2's last vgcfgbackup (invalid: `Invalid` in the
/// kernel's last `dmsetup status`); merged ones were `lvconvert --merge`d
/// and are gone; the rest are dropped.
#[test]
fn snapshot_states_match_the_kernel_records() {
    let mut checked = 0;
    for name in common::scenario_names("kernel", "scenario") {
        let dir = common::kernel(&name);
        let scenario = std::fs::read_to_string(dir.join("scenario")).unwrap();
        let mut created = Vec::new();
        let mut merge_asked = Vec::new();
        // The VG: the word before the first PV of `vgcreate [-s SIZE] VG @PV...`.
        let mut vg = String::new();
        for l in scenario.lines() {
            let w: Vec<&str> = l.split_whitespace().collect();
            if w.first() == Some(&"vgcreate") {
                let first_pv = w.iter().position(|x| x.starts_with('@')).unwrap();
                vg = w[first_pv - 1].to_owned();
            }
            // A snapshot without a size (-L) is a thin snapshot: it has no
            // COW store for `recover` to list.
            if w.first() == Some(&"lvcreate") && w.contains(&"-s") && w.contains(&"-L") {
                let i = w.iter().position(|x| *x == "-n").unwrap();
                created.push(w[i + 1].to_owned());
            }
            if w.first() == Some(&"lvconvert") && w.contains(&"--merge") {
                merge_asked.push(w.last().unwrap().rsplit('/').next().unwrap().to_owned());
            }
        }
        let (vgcfg_step, vgcfg) = last_record_step(&dir, &format!(".vgcfg.{vg}")).unwrap();
        // The damaged scenarios' last backup came before an lvremove (lvm2
        // found no VG to back up after the damage): what a later step
        // removed is not present.
        let removed_later: Vec<String> = std::fs::read_to_string(dir.join("steps.tsv"))
            .unwrap()
            .lines()
            .map(|l| l.split('\t').collect::<Vec<_>>())
            .filter(|f| f[0].parse::<u32>().unwrap() > vgcfg_step)
            .filter_map(|f| {
                f[5].strip_prefix(&format!("lvremove -y {vg}/"))
                    .map(str::to_owned)
            })
            .collect();
        let present: Vec<String> = vgcfg
            .lines()
            .filter_map(|l| l.trim().strip_prefix("cow_store = \""))
            .map(|x| x.trim_end_matches('"').to_owned())
            .filter(|x| !removed_later.contains(x))
            .collect();
        let damaged = scenario
            .lines()
            .any(|l| l.trim_start().starts_with("zero "));
        let status = last_record(&dir, ".dmsetup-status").unwrap_or_default();
        let invalid: Vec<String> = status
            .lines()
            .filter(|l| l.ends_with(" snapshot Invalid"))
            .map(|l| {
                l.split(':')
                    .next()
                    .unwrap()
                    .trim_start_matches(&format!("{vg}-"))
                    .to_owned()
            })
            .collect();

        let s = load_kernel(&name);
        let mut l = s.lvmsim();
        if damaged {
            l = l.arg("--scan-all");
        }
        let o = l.args(["recover", "--json"]).run();
        assert_eq!(o.status, 0, "{name}: {}", o.stderr);
        let v: Value = serde_json::from_str(&o.text()).unwrap();
        let mut listed: Vec<String> = Vec::new();
        for s in v["snapshots"].as_array().unwrap() {
            let n = s["snapshot"].as_str().unwrap().to_owned();
            let want = if invalid.contains(&n) {
                "invalid"
            } else if present.contains(&n) {
                "present"
            } else if merge_asked.contains(&n) {
                "merged"
            } else {
                "dropped"
            };
            assert_eq!(s["state"], want, "{name}: {n}");
            listed.push(n);
            checked += 1;
        }
        listed.sort();
        created.sort();
        assert_eq!(listed, created, "{name}: snapshots listed");
    }
    assert!(checked >= 15, "only {checked} snapshots checked");
}

#[test]
fn an_origin_renamed_after_the_removal_is_followed_by_uuid() {
    let k = load("snap-lvremove");
    run(&k, &["lvrename", "vg", "origin", "moved"]);
    let s = survey(&k, "snap");
    assert_eq!(s["verdict"], "recoverable");
    assert_eq!(s["notes"][0], "origin origin is now named moved");
    let want =
        std::fs::read_to_string(repo().join("testdata/kernel/snap-lvremove/009.sha256")).unwrap();
    let (_, report) = export(&k, "snap", 4);
    assert_eq!(report["origin_from_copy"], false);
    assert_eq!(
        report["export_sha256"].as_str().unwrap(),
        want.split_whitespace().next().unwrap()
    );
}

/// `--seqno` left out: one snapshot of the name gives its last copy (the
/// same export as naming that seqno); a name used again for a new
/// snapshot lists both and exports nothing.
#[test]
fn seqno_defaults_to_the_only_snapshot_of_the_name() {
    let k = load("snap-lvremove");
    let last = last_seqno(&k, "snap");
    let (named, _) = export(&k, "snap", last);
    let out = k.work.path().join("default.img");
    run(
        &k,
        &[
            "recover",
            "--export",
            "vg/snap",
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(std::fs::read(&out).unwrap(), named);
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{}.json", out.display())).unwrap())
            .unwrap();
    assert_eq!(report["seqno"], last);
    assert_eq!(report["seqno_defaulted"], true);

    // A new snapshot named snap: two candidates.
    run(
        &k,
        &["lvcreate", "-s", "-n", "snap", "-L", "4m", "vg/origin"],
    );
    let again = k.work.path().join("again.img");
    let o = Lvmsim::new()
        .dev("/dev/vda", &k.img)
        .args([
            "recover",
            "--export",
            "vg/snap",
            "-o",
            again.to_str().unwrap(),
        ])
        .cwd(k.work.path())
        .run();
    assert_ne!(o.status, 0);
    assert!(
        o.stderr.contains("2 snapshots named vg/snap")
            && o.stderr.contains(&format!("seqno {last}-{last} (dropped"))
            && o.stderr.contains("(present")
            && o.stderr.contains("name one with --seqno"),
        "{}",
        o.stderr
    );
    assert!(!again.exists());
}
