//! `lvmsim write` replays the kernel's own writes and must leave the
//! kernel's bytes.
//!
//! The corpus keeps only the images at the end of each scenario, so the
//! state before the writes is rebuilt from them: the metadata areas stay
//! as the kernel left them (no metadata step follows the first replayed
//! write), every physical extent is zeroed (the scenarios start from blank
//! sparse disks; lvcreate -Zn and the snapshot zeroing leave nothing but
//! zeros there), and the writes made before any snapshot existed are
//! written straight to their LV. Then every later step is replayed in order
//! with lvmsim: `write` (the kgen pattern, see testdata/README.md) through
//! `lvmsim write`, `check` against the recorded sha256 (or, for `! check`,
//! a failing `lvmsim cat`), `expect-status` against the recorded status
//! line. At the end every image must equal the kernel's, byte for byte:
//! COW headers, exception areas, copied chunks, invalidation included.
//!
//! The goldens are the kernel's records only. Scenarios whose snapshots
//! were merged or removed afterwards have no final metadata describing the
//! state their writes ran in; `NOT_REPLAYED` names them with the reason.
//! cow-engine's tests/it/kernel_history.rs replays those through the library,
//! with the metadata copies their rings still hold.

use crate::common;

use common::kgen::{pattern, run, steps, write_pieces};

use cow_engine::blocks::{Images, LvSet};
use cow_engine::engine::DevSet;
use lvm_meta::io::Image;
use lvm_meta::scan::System;

use std::path::PathBuf;

const REPLAYED: &[&str] = &[
    "linear-fragmented",
    "striped-mdacopies",
    "ring-wrap",
    "snap-chunks",
    "snap-overflow",
    "snap-write-overflow",
    "snap-full-edges",
    "two-snaps-one-overflows",
    "snap-areas",
    "snap-extend",
    "snap-striped-origin",
    "plan-threshold",
];

const NOT_REPLAYED: &[(&str, &str)] = &[
    ("merge-complete", "the snapshot was merged and removed: the final metadata no longer describes the state of its writes"),
    ("merge-interrupted", "the snapshot was merged and removed: the final metadata no longer describes the state of its writes"),
    ("merge-with-sibling", "a snapshot was created between writes and later merged and removed"),
    ("snap-partial-chunk", "the snapshot was merged and removed afterwards"),
    ("snap-lvremove", "the snapshot was removed afterwards"),
    ("snap-drop-reuse", "snapshots were removed and their extents reused afterwards"),
    ("snap-overflow-blocks", "replayed from blank images in kernel_blank_replay.rs"),
    ("damaged-label", "the label was wiped on purpose afterwards"),
    ("damaged-mda", "the metadata area header was wiped on purpose afterwards"),
    ("walkthrough", "the snapshot was removed afterwards (and overflowed before)"),
    ("walkthrough-merge", "the snapshots were merged and removed afterwards"),
    ("thin-pool", "thin LVs: lvmsim does not write them yet"),
    ("raid-levels", "RAID and mirror LVs: lvmsim does not write them yet"),
    ("thin-recover", "thin LVs removed under a held metadata root: lvmsim does not send dm-thin messages"),
    ("cache-writeback", "cached LVs: lvmsim does not write them yet"),
    ("writecache", "writecached and integrity LVs: lvmsim does not write them yet"),
    ("thin-merge", "thin snapshots merged into their origin afterwards: replayed from the images boots 1 and 2 left in kernel_thin_merge.rs"),
    ("thin-resize", "pools extended afterwards: lvmsim's replay of kernel writes does not activate thin pools (tests/it/thin_pool.rs compares the extends)"),
];

/// Overflowed stores whose area the kernel wrote with part of the
/// overflowing request's exceptions (its copies finished while the request
/// was still being mapped): (scenario, snapshot, area, records beyond
/// lvmsim's). snap-overflow committed the request's first exception
/// alone; two-snaps-one-overflows 164 of the 4 KiB snapshot's while the
/// 64 KiB one's were being copied. snap-write-overflow and snap-full-edges
/// kept the whole request in flight, as lvmsim does.
const EARLY_COMMITS: &[(&str, &str, u64, usize)] = &[
    ("snap-overflow", "snap", 0, 1),
    ("two-snaps-one-overflows", "small", 0, 164),
];

fn is_metadata_step(w: &[String]) -> bool {
    matches!(
        w[0].as_str(),
        "pvcreate" | "vgcreate" | "lvcreate" | "lvremove" | "lvconvert" | "lvextend" | "lvrename"
    ) || (w[0] == "lvm" && w.get(1).is_some_and(|x| x == "lvpoll"))
}

fn replay(name: &str) -> (usize, Vec<String>) {
    let dir = common::repo().join("testdata/kernel").join(name);
    let all = steps(&dir);
    // The last metadata change except lvextend (growing a COW or an LV
    // changes no data already written; snap-extend grows its COW between
    // two writes that fit in the smaller one).
    let last_meta = all
        .iter()
        .filter(|s| is_metadata_step(&s.words) && s.words[0] != "lvextend")
        .map(|s| s.n)
        .max()
        .unwrap();
    let first_snap = all
        .iter()
        .find(|s| s.words[0] == "lvcreate" && s.words.iter().any(|w| w == "-s"))
        .map(|s| s.n);

    // Images: the kernel's final ones with every extent zeroed.
    let versions = std::fs::read_to_string(dir.join("boot1.versions")).unwrap();
    let disks: Vec<(String, String)> = versions
        .lines()
        .find_map(|l| l.strip_prefix("disks "))
        .unwrap()
        .split(';')
        .filter(|d| !d.trim().is_empty())
        .map(|d| {
            let w: Vec<&str> = d.split_whitespace().collect();
            (w[1].to_owned(), w[2].to_owned())
        })
        .collect();
    let work = crate::common::scratch();
    let mut kernel_final: Vec<Vec<u8>> = Vec::new();
    let mut paths: Vec<PathBuf> = Vec::new();
    let mut devargs: Vec<String> = Vec::new();
    let mut images = Vec::new();
    for (disk, dev) in &disks {
        let img = common::unzst(&dir.join(format!("{disk}.img.zst")));
        let p = work.path().join(format!("{disk}.img"));
        devargs.extend(["--dev".to_owned(), format!("{dev}={}", p.display())]);
        images.push(Image::from_bytes(dev, img.clone()));
        kernel_final.push(img);
        paths.push(p);
    }
    let sys = System::scan(images).unwrap();
    assert_eq!(sys.vgs.len(), 1, "{name}: one VG");
    let inst = &sys.vgs[0];
    let vg = &inst.vg;
    let mut start: Vec<Vec<u8>> = kernel_final.clone();
    for (pv, d) in vg.pvs.iter().zip(&inst.pv_devices) {
        let d = d.expect("every PV present");
        let from = (pv.pe_start.0 * 512) as usize;
        let to = from + (u64::from(pv.pe_count) * vg.extent_bytes()) as usize;
        start[d][from..to].fill(0);
    }
    // Writes made before any snapshot existed go straight to their LV.
    let mut set = LvSet {
        vg,
        images: Images {
            pvs: inst
                .pv_devices
                .iter()
                .map(|d| d.map(|d| std::mem::take(&mut start[d])))
                .collect(),
        },
    };
    let mut raw = 0;
    for s in all
        .iter()
        .filter(|s| s.words[0] == "write" && s.n < last_meta)
    {
        assert!(
            first_snap.is_none_or(|f| s.n < f),
            "{name}: step {} writes after a snapshot exists but before step {last_meta} changes the metadata",
            s.n
        );
        for (lv, sector, data) in write_pieces(&s.words) {
            let li = vg.lv_index(lv.split('/').nth(1).unwrap()).unwrap();
            set.write(li, sector * 512, &data).unwrap();
            raw += 1;
        }
    }
    for (i, d) in inst.pv_devices.iter().enumerate() {
        let d = d.unwrap();
        start[d] = set.images.pvs[i].take().unwrap();
    }
    for (p, img) in paths.iter().zip(&start) {
        std::fs::write(p, img).unwrap();
    }

    // Replay the rest in order.
    let later_extend = |n: u32| all.iter().any(|s| s.n > n && s.words[0] == "lvextend");
    let mut failures = Vec::new();
    let mut compared = 0;
    for s in all.iter().filter(|s| s.n > last_meta) {
        let w = &s.words;
        match w[0].as_str() {
            "write" => {
                for (lv, sector, data) in write_pieces(w) {
                    let mut a = devargs.clone();
                    a.extend([
                        "write".to_owned(),
                        lv.clone(),
                        "--offset".to_owned(),
                        (sector * 512).to_string(),
                    ]);
                    let (rc, _, err) = run(&a, Some(&data));
                    compared += 1;
                    if (rc == 0) != (s.rc == 0) {
                        failures.push(format!(
                            "step {:03} `{}`: lvmsim exit {rc}, kernel {}: {err}",
                            s.n,
                            w.join(" "),
                            s.rc
                        ));
                    } else if s.rc != 0 && !err.contains("Input/output error") {
                        failures.push(format!(
                            "step {:03}: the kernel's write failed with EIO, lvmsim said {err}",
                            s.n
                        ));
                    }
                }
            }
            "check" => {
                let mut a = devargs.clone();
                a.extend(["cat".to_owned(), w[1].clone()]);
                let (rc, out, err) = run(&a, None);
                compared += 1;
                if s.rc != 0 {
                    if rc == 0 {
                        failures.push(format!(
                            "step {:03}: the kernel could not read {} (EIO), lvmsim read {} bytes",
                            s.n,
                            w[1],
                            out.len()
                        ));
                    }
                    continue;
                }
                let rec = std::fs::read_to_string(dir.join(format!("{:03}.sha256", s.n))).unwrap();
                let want = rec.split_whitespace().next().unwrap();
                let got = common::sha256(&out);
                if rc != 0 || got != want {
                    failures.push(format!(
                        "step {:03} check {}: kernel {want}, lvmsim {got} {err}",
                        s.n, w[1]
                    ));
                }
            }
            "expect-status" if !later_extend(s.n) => {
                let mut a = devargs.clone();
                a.extend(["dmsetup".to_owned(), "status".to_owned(), w[1].clone()]);
                let (rc, out, err) = run(&a, None);
                compared += 1;
                let want = std::fs::read_to_string(dir.join(format!("{:03}.dmsetup-status", s.n)))
                    .unwrap();
                let got = String::from_utf8_lossy(&out);
                let got = got
                    .strip_prefix(&format!("{}: ", w[1]))
                    .unwrap_or(&got)
                    .to_owned();
                if rc != 0 || got != want {
                    failures.push(format!(
                        "step {:03} status {}: kernel {want:?}, lvmsim {got:?} {err}",
                        s.n, w[1]
                    ));
                }
            }
            _ => {}
        }
    }
    // Every byte of every image. lvmsim commits the exceptions of one
    // request as one batch, as the kernel commits the exceptions in flight
    // together (`persistent_commit_exception` writes the area once none is
    // left in flight); a store that overflows in the middle of a request
    // is invalid before that batch commits, so the batch's records never
    // reach the disk. How many exceptions are in flight at once is the
    // kernel's timing, though: where its copies finished while the
    // request was still being mapped, it committed part of the request
    // before the overflow. `EARLY_COMMITS` names those areas with the
    // records the kernel wrote beyond lvmsim's; there lvmsim's records
    // must be the first of the kernel's.
    let mut ours: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
    for (cow, role) in vg.roles.iter().enumerate() {
        let Some(c) = role.cow_of else { continue };
        let lv_byte = |lv_off: u64| -> (usize, usize) {
            match lvm_meta::lv_map::map(vg, cow, lv_off).unwrap() {
                lvm_meta::lv_map::Piece::Pv { pv, offset, .. } => {
                    (inst.pv_devices[pv].unwrap(), offset as usize)
                }
                other => panic!("{other:?}"),
            }
        };
        let cb = c.chunk_size.0 * 512;
        let e = cb / 16;
        let cow_bytes = vg.lv_extents(&vg.lvs[cow]) * vg.extent_bytes();
        let snap = vg.lvs[cow].name.as_str();
        let mut k = 0;
        loop {
            let at = (1 + (e + 1) * k) * cb;
            if at + cb > cow_bytes {
                break;
            }
            let (d, b) = lv_byte(at);
            let (kern, mine) = (
                &kernel_final[d][b..b + cb as usize],
                &ours[d][b..b + cb as usize],
            );
            let records = |a: &[u8]| {
                a.chunks(16)
                    .position(|r| r[8..16] == [0; 8])
                    .unwrap_or(e as usize)
            };
            let early = EARLY_COMMITS
                .iter()
                .find(|(n, s, area, _)| *n == name && *s == snap && *area == k)
                .map(|x| x.3);
            if let Some(extra) = early {
                let (n, m) = (records(kern), records(mine));
                let first =
                    kern[..m * 16] == mine[..m * 16] && mine[m * 16..].iter().all(|&x| x == 0);
                if first && n == m + extra {
                    let kern = kern.to_vec();
                    ours[d][b..b + cb as usize].copy_from_slice(&kern);
                } else {
                    failures.push(format!(
                        "snapshot {snap} area {k}: the kernel wrote {n} records, lvmsim {m} \
                         (expected lvmsim's to be the first {} of them)",
                        n - extra.min(n)
                    ));
                }
            }
            k += 1;
        }
    }
    for (i, ours) in ours.iter().enumerate() {
        compared += 1;
        if *ours != kernel_final[i] {
            let diff: Vec<usize> = ours
                .chunks(4096)
                .zip(kernel_final[i].chunks(4096))
                .enumerate()
                .filter(|(_, (a, b))| a != b)
                .map(|(k, _)| k * 4096)
                .collect();
            failures.push(format!(
                "{}: {} blocks of 4 KiB differ from the kernel's image, first at bytes {:?}",
                disks[i].0,
                diff.len(),
                &diff[..diff.len().min(8)]
            ));
        }
    }
    eprintln!("{name}: {raw} pre-snapshot writes placed raw, {compared} comparisons");
    (compared, failures)
}

macro_rules! replayed {
    ($($f:ident => $name:literal;)*) => {
        $(
            #[test]
            fn $f() {
                let (n, failures) = replay($name);
                assert!(n >= 3, "{}: too few comparisons", $name);
                assert!(failures.is_empty(), "{}:\n{}", $name, failures.join("\n"));
            }
        )*
    };
}

replayed! {
    linear_fragmented => "linear-fragmented";
    striped_mdacopies => "striped-mdacopies";
    ring_wrap => "ring-wrap";
    snap_chunks => "snap-chunks";
    snap_overflow => "snap-overflow";
    snap_write_overflow => "snap-write-overflow";
    snap_full_edges => "snap-full-edges";
    two_snaps_one_overflows => "two-snaps-one-overflows";
    snap_areas => "snap-areas";
    snap_extend => "snap-extend";
    snap_striped_origin => "snap-striped-origin";
    plan_threshold => "plan-threshold";
}

/// Every scenario is replayed or named with the reason it cannot be.
#[test]
fn every_scenario_is_accounted_for() {
    let root = common::repo().join("testdata/kernel");
    for e in std::fs::read_dir(&root).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if !root.join(&name).join("scenario").exists() {
            continue;
        }
        assert!(
            REPLAYED.contains(&name.as_str()) || NOT_REPLAYED.iter().any(|(n, _)| *n == name),
            "{name}: neither replayed nor listed in NOT_REPLAYED"
        );
    }
    for (n, why) in NOT_REPLAYED {
        eprintln!("not replayed: {n}: {why}");
    }
}

/// `cat --force` reads what an invalid store still holds. In snap-overflow
/// the kernel committed one record before the 2 MiB origin write filled
/// the store: origin chunk 0 saved in COW chunk 2. So the forced view is
/// the old pattern `O` in sectors 0-7 and the origin's new pattern `N`
/// after them; without --force the read fails as the kernel's did.
#[test]
fn cat_force_reads_an_invalid_snapshot_for_forensics() {
    let dir = common::repo().join("testdata/kernel/snap-overflow");
    let work = crate::common::scratch();
    let p = work.path().join("pv1.img");
    std::fs::write(&p, common::unzst(&dir.join("pv1.img.zst"))).unwrap();
    let dev = vec!["--dev".to_owned(), format!("/dev/vda={}", p.display())];
    let mut a = dev.clone();
    a.extend(["cat".to_owned(), "vg/snap".to_owned()]);
    let (rc, _, err) = run(&a, None);
    assert_ne!(rc, 0, "an invalid snapshot is unreadable without --force");
    assert!(err.contains("invalid"), "{err}");
    a.push("--force".to_owned());
    let (rc, out, err) = run(&a, None);
    assert_eq!(rc, 0, "{err}");
    assert_eq!(out.len(), 8 << 20);
    assert!(out[..4096] == pattern("O", "vg/origin", 0, 8)[..]);
    assert!(out[4096..2 << 20] == pattern("N", "vg/origin", 8, 4088)[..]);
}
