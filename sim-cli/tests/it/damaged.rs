//! `--scan-all` on damaged copies of kernel-made images: the label sector
//! wiped with zeros, or the first metadata-area header overwritten. The
//! damaged images must give the same `lvs -a` and the same LV bytes with
//! `--scan-all` as the undamaged ones give without it, report each guess,
//! and stay unchanged.

use crate::common;

use common::{load_kernel, repo, Scenario};
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

/// Runs lvmsim on the images of `s`, in its folder.
fn run(s: &Scenario, extra: &[&str]) -> common::Output {
    s.lvmsim().args(extra).run()
}

fn damage(p: &Path, at: u64, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(bytes).unwrap();
}

/// Damages `which` image of scenario `name` with `how`, then compares.
fn check(name: &str, which: usize, how: &dyn Fn(&Path), lvs: &[&str]) {
    let good = load_kernel(name);
    let bad = load_kernel(name);
    how(&bad.devs[which].1);
    let before = common::contents(&bad);

    let want = run(&good, &["lvs", "-a"]);
    assert_eq!(want.status, 0, "{}", want.stderr);
    let plain = run(&bad, &["lvs", "-a"]);
    assert_ne!(
        plain.stdout, want.stdout,
        "{name}: the damage did not matter without --scan-all"
    );
    // One line names the damaged image and suggests --scan-all; the
    // undamaged images get none.
    let hint = "a label or metadata area looks damaged; --scan-all (before the command) looks for metadata anywhere on the images.";
    let dev = &bad.devs[which].0;
    let lines: Vec<&str> = plain.stderr.lines().filter(|l| l.contains(hint)).collect();
    assert_eq!(
        lines,
        [format!("  {dev}: {hint}")],
        "{name}: {}",
        plain.stderr
    );
    assert!(!want.stderr.contains("--scan-all"), "{}", want.stderr);
    let got = run(&bad, &["--scan-all", "lvs", "-a"]);
    assert_eq!(
        got.stdout, want.stdout,
        "{name}: lvs -a; stderr {}",
        got.stderr
    );
    assert!(got.stderr.contains("GUESS"), "{name}: no guess reported");
    for lv in lvs {
        let w = run(&good, &["cat", lv]);
        assert_eq!(w.status, 0, "{}", w.stderr);
        let g = run(&bad, &["--scan-all", "cat", lv]);
        assert_eq!(g.status, 0, "{name} {lv}: {}", g.stderr);
        assert!(g.stdout == w.stdout, "{name}: cat {lv} differs");
    }
    assert_eq!(before, common::contents(&bad), "{name}: an image changed");
}

fn wipe_label(p: &Path) {
    damage(p, 512, &[0u8; 512]);
}

fn smash_mda_header(p: &Path) {
    damage(p, 4096, &[0x5a; 512]);
}

#[test]
fn wiped_label_single_pv() {
    check("snap-lvremove", 0, &wipe_label, &["vg/origin"]);
}

#[test]
fn wiped_label_with_snapshots() {
    check(
        "two-snaps-one-overflows",
        0,
        &wipe_label,
        &["vg/origin", "vg/big"],
    );
}

#[test]
fn wiped_label_of_one_of_three_pvs() {
    check(
        "striped-mdacopies",
        0,
        &wipe_label,
        &["vg/s3", "vg/s2", "vg/rest"],
    );
}

#[test]
fn overwritten_mda_header() {
    check("snap-lvremove", 0, &smash_mda_header, &["vg/origin"]);
}

#[test]
fn history_scan_all_finds_the_copies_pvck_found() {
    let s = load_kernel("snap-lvremove");
    wipe_label(&s.devs[0].1);
    smash_mda_header(&s.devs[0].1);
    let o = run(&s, &["--scan-all", "history", "--json"]);
    assert_eq!(o.status, 0, "{}", o.stderr);
    let v: serde_json::Value = serde_json::from_str(&o.text()).unwrap();
    let ours: Vec<(u64, String)> = v["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["found"][0]["guess"], true);
            (
                c["found"][0]["offset"].as_u64().unwrap(),
                c["crc"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let rec = std::fs::read_to_string(
        repo().join("testdata/kernel/snap-lvremove/013.pvck-mdasearch.pv1"),
    )
    .unwrap();
    let want: Vec<(u64, String)> = rec
        .lines()
        .filter(|l| l.trim_start().starts_with("metadata at "))
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w[2].parse().unwrap(), w[6].to_owned())
        })
        .collect();
    assert_eq!(ours, want);
}

#[test]
fn removed_snapshot_is_exported_from_a_wiped_label() {
    let s = load_kernel("snap-lvremove");
    wipe_label(&s.devs[0].1);
    smash_mda_header(&s.devs[0].1);
    let out = s.work.path().join("snap.img");
    let o = run(
        &s,
        &[
            "--scan-all",
            "recover",
            "--export",
            "vg/snap",
            "--seqno",
            "4",
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert!(o.stderr.contains("GUESS"), "{}", o.stderr);
    let want =
        std::fs::read_to_string(repo().join("testdata/kernel/snap-lvremove/009.sha256")).unwrap();
    assert_eq!(
        common::sha256_file(&out),
        want.split_whitespace().next().unwrap()
    );
}

/// The PV header's data-area offset (bytes 584..592 of the image: label
/// sector 1, `pv_header` at 32 in it, `disk_areas` after the UUID and the
/// size) moved by 1 MiB, with the label checksum fixed so lvm2 would
/// accept the label: LV data must still come from `pe_start`.
fn bad_data_area(p: &Path) {
    let mut b = std::fs::read(p).unwrap();
    let off = u64::from_le_bytes(b[584..592].try_into().unwrap());
    b[584..592].copy_from_slice(&(off + (1 << 20)).to_le_bytes());
    let crc = lvm_meta::crc::lvm_crc(&b[512 + 20..1024]);
    b[512 + 16..512 + 20].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(p, b).unwrap();
}

#[test]
fn bad_data_area_pointer_falls_back_to_pe_start() {
    let good = load_kernel("snap-lvremove");
    let bad = load_kernel("snap-lvremove");
    bad_data_area(&bad.devs[0].1);
    let want = run(&good, &["cat", "vg/origin"]);
    let got = run(&bad, &["--scan-all", "cat", "vg/origin"]);
    assert_eq!(got.status, 0, "{}", got.stderr);
    assert!(got.stdout == want.stdout, "cat differs");
    assert!(
        got.stderr.contains("data area starts at byte 2097152")
            && got.stderr.contains("pe_start 2048"),
        "{}",
        got.stderr
    );
}

/// `--scan-all` streams an image of any size: copies far past the old
/// 256 MiB read limit are found, where they are, as guesses.
#[test]
fn scan_all_reads_past_256_mib() {
    let s = load_kernel("snap-lvremove");
    let pv = std::fs::read(&s.devs[0].1).unwrap();
    let at: u64 = 300 << 20;
    let big = s.work.path().join("big.img");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(at + pv.len() as u64).unwrap();
    drop(f);
    damage(&big, at, &pv);
    // Only the first copy's place is compared; the label sits at `at`, not
    // where a label is looked for.
    let o = common::Lvmsim::new()
        .arg("--dev")
        .arg(&big)
        .args(["--scan-all", "history", "--json"])
        .cwd(s.work.path())
        .run();
    assert_eq!(o.status, 0, "{}", o.stderr);
    let v: serde_json::Value = serde_json::from_str(&o.text()).unwrap();
    let plain = s.lvmsim().args(["history", "--json"]).run();
    let want: serde_json::Value = serde_json::from_str(&plain.text()).unwrap();
    let offsets = |v: &serde_json::Value, guess: bool| -> Vec<(u64, u64)> {
        v["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let f = &c["found"][0];
                assert_eq!(f["guess"], guess, "{c}");
                (c["seqno"].as_u64().unwrap(), f["offset"].as_u64().unwrap())
            })
            .collect()
    };
    let got: Vec<(u64, u64)> = offsets(&v, true);
    let want: Vec<(u64, u64)> = offsets(&want, false)
        .into_iter()
        .map(|(q, o)| (q, o + at))
        .collect();
    assert!(!want.is_empty());
    assert_eq!(got, want);
}
