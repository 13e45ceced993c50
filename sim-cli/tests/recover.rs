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

mod common;

use common::{lvmsim, repo};
use serde_json::Value;
use sha2::Digest;
use std::path::{Path, PathBuf};

struct Kernel {
    work: tempfile::TempDir,
    img: PathBuf,
}

fn load(name: &str) -> Kernel {
    let work = tempfile::tempdir().unwrap();
    let img = work.path().join("pv1.img");
    let src = repo().join(format!("testdata/kernel/{name}/pv1.img.zst"));
    let mut dec = zstd::stream::read::Decoder::new(std::fs::File::open(src).unwrap()).unwrap();
    std::io::copy(&mut dec, &mut std::fs::File::create(&img).unwrap()).unwrap();
    Kernel { work, img }
}

fn sha(p: &Path) -> String {
    let mut h = sha2::Sha256::new();
    std::io::copy(&mut std::fs::File::open(p).unwrap(), &mut h).unwrap();
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn run(k: &Kernel, args: &[&str]) -> String {
    let mut a = vec!["--dev".to_owned(), format!("/dev/vda={}", k.img.display())];
    a.extend(args.iter().map(|s| s.to_string()));
    let o = lvmsim(&a, k.work.path());
    assert_eq!(o.status, 0, "{args:?}: {}", o.stderr);
    o.stdout
}

fn survey(k: &Kernel, snap: &str) -> Value {
    let v: Value = serde_json::from_str(&run(k, &["recover", "--json"])).unwrap();
    v["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["snapshot"] == snap)
        .unwrap_or_else(|| panic!("no {snap} in {v}"))
        .clone()
}

fn export(k: &Kernel, snap: &str, seqno: u32) -> (Vec<u8>, Value) {
    let before = sha(&k.img);
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
    assert_eq!(sha(&k.img), before, "the image changed");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{}.json", out.display())).unwrap())
            .unwrap();
    let data = std::fs::read(&out).unwrap();
    assert_eq!(report["export_sha256"], sha(&out));
    for i in report["images"].as_array().unwrap() {
        assert_eq!(i["sha256_before"], before);
        assert_eq!(i["sha256_after"], before);
    }
    (data, report)
}

/// The last seqno whose copy has `snap` as a snapshot (from history, whose
/// copies are checked against pvck in tests/history.rs).
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
/// tests/kernel_corpus.rs models it).
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
    let o = lvmsim(&a, k.work.path());
    assert_ne!(o.status, 0);
    assert_eq!(std::fs::read(&out).unwrap(), b"keep");
}
