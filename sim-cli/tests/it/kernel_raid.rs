//! RAID and mirror LVs of testdata/kernel/raid-levels read with `lvmsim
//! cat`, against the sha256 the kernel recorded for each: healthy (the
//! images boot 1 left), degraded as the kernel read them in boot 2 (pv2
//! and pv3 wiped), and with any one PV of the healthy images left out
//! (raid6 also any two): what a missing PV held comes from another copy
//! or from parity, and an LV without enough redundancy is refused.

use crate::common::{self, kgen, Lvmsim};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const SCENARIO: &str = "raid-levels";

/// The scenario's steps in order: (step number, boot, text).
fn steps() -> Vec<(u32, u32, String)> {
    std::fs::read_to_string(common::kernel(SCENARIO).join("steps.tsv"))
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f[3], "ok", "{l}");
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[5].to_owned(),
            )
        })
        .collect()
}

/// LV -> the sha256 the kernel read in boot `boot` (its `check` steps, and
/// the mirrors' `sha256sum` in boot 2).
fn kernel_sums(boot: u32) -> BTreeMap<String, String> {
    let dir = common::kernel(SCENARIO);
    let mut out = BTreeMap::new();
    for (n, b, text) in steps() {
        if b != boot {
            continue;
        }
        let file = if text.starts_with("check ") {
            dir.join(format!("{n:03}.sha256"))
        } else if text.contains("sha256sum /dev/") {
            dir.join(format!("{n:03}.stdout"))
        } else {
            continue;
        };
        let rec = std::fs::read_to_string(&file).unwrap();
        let line = rec.lines().find(|l| l.contains("/dev/vg/")).unwrap();
        let mut w = line.split_whitespace();
        let (hex, dev) = (w.next().unwrap(), w.next().unwrap());
        let lv = dev.strip_prefix("/dev/").unwrap().to_owned();
        assert!(out.insert(lv, hex.to_owned()).is_none(), "{line}");
    }
    out
}

/// LV -> (type, the PVs its lvcreate named), from the scenario.
fn layouts() -> BTreeMap<String, (String, Vec<String>)> {
    let mut out = BTreeMap::new();
    for (_, _, text) in steps() {
        let w: Vec<&str> = text.split_whitespace().collect();
        if w[0] != "lvcreate" {
            continue;
        }
        let after = |flag: &str| w[w.iter().position(|x| *x == flag).unwrap() + 1];
        let pvs = w
            .iter()
            .filter_map(|x| x.strip_prefix('@'))
            .map(str::to_owned)
            .collect();
        out.insert(
            format!("vg/{}", after("-n")),
            (after("--type").to_owned(), pvs),
        );
    }
    out
}

/// The images of one state (`after-boot1` or the final ones) in `dir`:
/// disk name -> (guest device, path).
fn images(dir: &Path, after_boot1: bool) -> Vec<(String, String, PathBuf)> {
    let golden = common::kernel(SCENARIO);
    let script = std::fs::read_to_string(golden.join("scenario")).unwrap();
    kgen::disks(&script)
        .into_iter()
        .map(|(disk, dev, _)| {
            let src = if after_boot1 {
                format!("{disk}.after-boot1.img.zst")
            } else {
                format!("{disk}.img.zst")
            };
            let img = dir.join(if after_boot1 {
                format!("{disk}.h.img")
            } else {
                format!("{disk}.img")
            });
            common::unzst_to(&golden.join(src), &img);
            (disk, dev, img)
        })
        .collect()
}

fn cat(imgs: &[(String, String, PathBuf)], without: &[&str], lv: &str) -> common::Output {
    imgs.iter()
        .filter(|(d, _, _)| !without.contains(&d.as_str()))
        .fold(Lvmsim::new(), |l, (_, dev, p)| l.dev(dev, p))
        .args(["cat", lv])
        .run()
}

#[test]
fn every_lv_reads_as_the_kernel_read_it_healthy() {
    let dir = common::scratch();
    let imgs = images(dir.path(), true);
    let want = kernel_sums(1);
    assert_eq!(want.len(), layouts().len(), "a check per LV");
    for (lv, hex) in &want {
        let o = cat(&imgs, &[], lv);
        assert!(o.ok(), "{lv}: {}", o.stderr);
        assert_eq!(o.stderr, "", "{lv}");
        assert_eq!(&common::sha256(&o.stdout), hex, "{lv}");
    }
}

/// Boot 2 zeroed the label and metadata area of pv2 and pv3: lvm2 found
/// them missing and activated each LV degraded (mirrors partial); the
/// kernel read every LV back unchanged, one image short (raid6 two).
#[test]
fn degraded_reads_equal_the_kernels_with_two_pvs_wiped() {
    let dir = common::scratch();
    let imgs = images(dir.path(), false);
    let want = kernel_sums(2);
    assert_eq!(
        want,
        kernel_sums(1),
        "the kernel read the same bytes degraded"
    );
    for (lv, hex) in &want {
        // The wiped disks given or not: they hold no PV any more.
        for without in [&[][..], &["pv2", "pv3"][..]] {
            let o = cat(&imgs, without, lv);
            assert!(o.ok(), "{lv} without {without:?}: {}", o.stderr);
            assert!(
                o.stderr.contains("WARNING: VG vg is missing PV"),
                "{lv}: {}",
                o.stderr
            );
            assert_eq!(&common::sha256(&o.stdout), hex, "{lv} without {without:?}");
        }
    }
}

/// How many images an LV of `kind` can lose.
fn redundancy(kind: &str, images: usize) -> usize {
    match kind {
        "raid0" | "raid0_meta" => 0,
        "raid1" | "mirror" => images - 1,
        k if k.starts_with("raid6") => 2,
        // raid4/5 and raid10 (near copies: one image per copy pair)
        _ => 1,
    }
}

#[test]
fn any_pv_left_out_is_rebuilt_or_refused() {
    let dir = common::scratch();
    let imgs = images(dir.path(), true);
    let want = kernel_sums(1);
    let layout = layouts();
    let disks: Vec<String> = imgs.iter().map(|(d, _, _)| d.clone()).collect();
    let mut cases = 0;
    for (lv, (kind, pvs)) in &layout {
        let mut gone_sets: Vec<Vec<&str>> = disks.iter().map(|d| vec![d.as_str()]).collect();
        if kind.starts_with("raid6") {
            for (i, a) in pvs.iter().enumerate() {
                for b in &pvs[i + 1..] {
                    gone_sets.push(vec![a.as_str(), b.as_str()]);
                }
            }
        }
        if kind.starts_with("raid5") {
            gone_sets.push(vec![pvs[0].as_str(), pvs[1].as_str()]);
        }
        for gone in gone_sets {
            let lost = pvs.iter().filter(|p| gone.contains(&p.as_str())).count();
            let o = cat(&imgs, &gone, lv);
            if lost <= redundancy(kind, pvs.len()) {
                assert!(o.ok(), "{lv} without {gone:?}: {}", o.stderr);
                assert_eq!(common::sha256(&o.stdout), want[lv], "{lv} without {gone:?}");
            } else {
                assert!(
                    !o.ok(),
                    "{lv} without {gone:?} read {} bytes",
                    o.stdout.len()
                );
                assert!(o.stderr.contains("which is missing"), "{lv}: {}", o.stderr);
            }
            cases += 1;
        }
    }
    assert!(cases > 100, "{cases}");
}

/// `(row key, field -> value)` of every row of report `kind` in a
/// `--reportformat json` text, for `fields` only.
fn rows(json: &str, kind: &str, fields: &[&str]) -> Vec<BTreeMap<String, String>> {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["report"][0][kind]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            fields
                .iter()
                .map(|f| (f.to_string(), r[*f].as_str().unwrap().to_owned()))
                .collect()
        })
        .collect()
}

/// The fields of RAID and mirror LVs and their hidden sub-LVs that the
/// images answer, against lvm2's report of boot 1 (step 069, VG active):
/// attributes, layout, role, log, segment type, image counts and sizes,
/// devices. (`sync_percent`/`copy_percent` and the health come from the
/// kernel's status and are not compared.)
#[test]
fn reports_equal_lvm2s_for_raid_and_mirror_lvs() {
    let dir = common::scratch();
    let imgs = images(dir.path(), true);
    let golden = common::kernel(SCENARIO);
    let run = |args: &[&str]| {
        let o = imgs
            .iter()
            .fold(Lvmsim::new(), |l, (_, dev, p)| l.dev(dev, p))
            .args(args)
            .run();
        assert!(o.ok(), "{args:?}: {}", o.stderr);
        o.text()
    };
    for (report, kind, fields) in [
        (
            "lvs",
            "lv",
            &[
                "lv_name",
                "lv_attr",
                "lv_layout",
                "lv_role",
                "mirror_log",
                "lv_size",
            ][..],
        ),
        (
            "lvsegs",
            "seg",
            &[
                "lv_name",
                "segtype",
                "stripes",
                "stripe_size",
                "region_size",
                "devices",
                "seg_pe_ranges",
            ][..],
        ),
    ] {
        let want = std::fs::read_to_string(golden.join(format!("069.{report}.json"))).unwrap();
        let mut args = vec!["lvs", "-a", "--active"];
        if report == "lvsegs" {
            args.push("--segments");
        }
        let o = fields.join(",");
        args.extend([
            "--reportformat",
            "json",
            "--units",
            "b",
            "--nosuffix",
            "-o",
            &o,
        ]);
        let got = run(&args);
        let (w, g) = (rows(&want, kind, fields), rows(&got, kind, fields));
        assert_eq!(w.len(), g.len(), "{report}");
        for (w, g) in w.iter().zip(&g) {
            assert_eq!(w, g, "{report}");
        }
    }
}

/// The final report (step 108, pv2 and pv3 gone, every LV activated
/// degraded): the RAID LVs and sub-LVs on the missing PVs are partial
/// (`p`), the unreachable RAID images out of sync (`I`). The mirror legs'
/// sync letter is the kernel's resync state and is not compared.
#[test]
fn degraded_attributes_equal_lvm2s() {
    let dir = common::scratch();
    let imgs = images(dir.path(), false);
    let golden = common::kernel(SCENARIO);
    let want = std::fs::read_to_string(golden.join("108.lvs.json")).unwrap();
    let o = imgs
        .iter()
        .filter(|(d, _, _)| d != "pv2" && d != "pv3")
        .fold(Lvmsim::new(), |l, (_, dev, p)| l.dev(dev, p))
        .args([
            "lvs",
            "-a",
            "--active",
            "--reportformat",
            "json",
            "-o",
            "lv_name,lv_attr",
        ])
        .run();
    assert!(o.ok(), "{}", o.stderr);
    let fields = ["lv_name", "lv_attr"];
    let (w, g) = (rows(&want, "lv", &fields), rows(&o.text(), "lv", &fields));
    assert_eq!(w.len(), g.len());
    let mut partial = 0;
    for (w, g) in w.iter().zip(&g) {
        if w["lv_name"].contains("_mimage_") {
            assert_eq!(w["lv_attr"][1..], g["lv_attr"][1..], "{w:?}");
            continue;
        }
        assert_eq!(w, g);
        partial += usize::from(w["lv_attr"].ends_with("p-"));
    }
    assert!(partial > 20, "{partial}");
}

/// A write to a RAID or mirror LV would have to reach every copy and the
/// parity: it is refused, and no image changes.
#[test]
fn writes_to_raid_and_mirror_lvs_are_refused() {
    let dir = common::scratch();
    let imgs = images(dir.path(), true);
    let before: Vec<String> = imgs
        .iter()
        .map(|(_, _, p)| common::sha256_file(p))
        .collect();
    for (lv, (kind, _)) in layouts() {
        let o = imgs
            .iter()
            .fold(Lvmsim::new(), |l, (_, dev, p)| l.dev(dev, p))
            .args(["write", &lv])
            .stdin(b"new data")
            .run();
        assert!(!o.ok(), "{lv}");
        assert!(
            o.stderr.contains(&format!(
                "writing to segment type \"{kind}\" is not supported"
            )),
            "{lv}: {}",
            o.stderr
        );
    }
    let after: Vec<String> = imgs
        .iter()
        .map(|(_, _, p)| common::sha256_file(p))
        .collect();
    assert_eq!(before, after);
}
