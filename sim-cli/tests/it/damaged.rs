//! `--scan-all` on damaged copies of kernel-made images: the label sector
//! wiped with zeros, or the first metadata-area header overwritten. The
//! damaged images must give the same `lvs -a` and the same LV bytes with
//! `--scan-all` as the undamaged ones give without it, report each guess,
//! and stay unchanged.

use crate::common;

use common::{lvmsim, repo};
use sha2::Digest;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

fn unpack(name: &str, dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for (i, disk) in ["pv1", "pv2", "pv3"].iter().enumerate() {
        let src = repo().join(format!("testdata/kernel/{name}/{disk}.img.zst"));
        if !src.exists() {
            break;
        }
        let img = dir.join(format!("{disk}.img"));
        let mut dec = zstd::stream::read::Decoder::new(std::fs::File::open(src).unwrap()).unwrap();
        std::io::copy(&mut dec, &mut std::fs::File::create(&img).unwrap()).unwrap();
        // lvm2 named them /dev/vda, /dev/vdb ... in the guest.
        out.push((format!("/dev/vd{}", (b'a' + i as u8) as char), img));
    }
    out
}

fn run(devs: &[(String, PathBuf)], extra: &[&str], cwd: &Path) -> common::Output {
    let mut a = Vec::new();
    for (n, p) in devs {
        a.push("--dev".to_owned());
        a.push(format!("{n}={}", p.display()));
    }
    a.extend(extra.iter().map(|s| s.to_string()));
    lvmsim(&a, cwd)
}

fn sha(p: &Path) -> Vec<u8> {
    let mut h = sha2::Sha256::new();
    std::io::copy(&mut std::fs::File::open(p).unwrap(), &mut h).unwrap();
    h.finalize().to_vec()
}

fn damage(p: &Path, at: u64, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(bytes).unwrap();
}

/// Damages `which` image of scenario `name` with `how`, then compares.
fn check(name: &str, which: usize, how: &dyn Fn(&Path), lvs: &[&str]) {
    let good_dir = tempfile::tempdir().unwrap();
    let bad_dir = tempfile::tempdir().unwrap();
    let good = unpack(name, good_dir.path());
    let bad = unpack(name, bad_dir.path());
    how(&bad[which].1);
    let before: Vec<_> = bad.iter().map(|(_, p)| sha(p)).collect();

    let want = run(&good, &["lvs", "-a"], good_dir.path());
    assert_eq!(want.status, 0, "{}", want.stderr);
    let plain = run(&bad, &["lvs", "-a"], bad_dir.path());
    assert_ne!(
        plain.stdout, want.stdout,
        "{name}: the damage did not matter without --scan-all"
    );
    let got = run(&bad, &["--scan-all", "lvs", "-a"], bad_dir.path());
    assert_eq!(
        got.stdout, want.stdout,
        "{name}: lvs -a; stderr {}",
        got.stderr
    );
    assert!(got.stderr.contains("GUESS"), "{name}: no guess reported");
    for lv in lvs {
        let w = run(&good, &["cat", lv], good_dir.path());
        assert_eq!(w.status, 0, "{}", w.stderr);
        let g = run(&bad, &["--scan-all", "cat", lv], bad_dir.path());
        assert_eq!(g.status, 0, "{name} {lv}: {}", g.stderr);
        assert!(g.stdout == w.stdout, "{name}: cat {lv} differs");
    }
    let after: Vec<_> = bad.iter().map(|(_, p)| sha(p)).collect();
    assert_eq!(before, after, "{name}: an image changed");
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
    let dir = tempfile::tempdir().unwrap();
    let devs = unpack("snap-lvremove", dir.path());
    wipe_label(&devs[0].1);
    smash_mda_header(&devs[0].1);
    let o = run(&devs, &["--scan-all", "history", "--json"], dir.path());
    assert_eq!(o.status, 0, "{}", o.stderr);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
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
    let dir = tempfile::tempdir().unwrap();
    let devs = unpack("snap-lvremove", dir.path());
    wipe_label(&devs[0].1);
    smash_mda_header(&devs[0].1);
    let out = dir.path().join("snap.img");
    let o = run(
        &devs,
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
        dir.path(),
    );
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert!(o.stderr.contains("GUESS"), "{}", o.stderr);
    let want =
        std::fs::read_to_string(repo().join("testdata/kernel/snap-lvremove/009.sha256")).unwrap();
    let got: String = sha(&out).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(got, want.split_whitespace().next().unwrap());
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
    let good_dir = tempfile::tempdir().unwrap();
    let bad_dir = tempfile::tempdir().unwrap();
    let good = unpack("snap-lvremove", good_dir.path());
    let bad = unpack("snap-lvremove", bad_dir.path());
    bad_data_area(&bad[0].1);
    let want = run(&good, &["cat", "vg/origin"], good_dir.path());
    let got = run(&bad, &["--scan-all", "cat", "vg/origin"], bad_dir.path());
    assert_eq!(got.status, 0, "{}", got.stderr);
    assert!(got.stdout == want.stdout, "cat differs");
    assert!(
        got.stderr.contains("data area starts at byte 2097152")
            && got.stderr.contains("pe_start 2048"),
        "{}",
        got.stderr
    );
}
