//! RAID and mirror LVs of testdata/kernel/raid-levels read with `lvmsim
//! cat`, against the sha256 the kernel recorded for each: healthy (the
//! images boot 1 left), degraded as the kernel read them in boot 2 (pv2
//! and pv3 wiped), and with any one PV of the healthy images left out
//! (raid6 also any two): what a missing PV held comes from another copy
//! or from parity, and an LV without enough redundancy is refused.

use crate::common::{self, kgen, Lvmsim};
use std::collections::{BTreeMap, BTreeSet};
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
                "lv_modules",
                "lv_parent",
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
                "data_stripes",
                "data_copies",
                "parity_chunks",
                "seg_le_ranges",
                "seg_metadata_le_ranges",
                "metadata_devices",
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

/// `dmsetup table` or `status` lines of step `n`: device name -> words
/// after the name.
fn dm_lines(n: u32, what: &str) -> BTreeMap<String, Vec<String>> {
    let path = common::kernel(SCENARIO).join(format!("{n:03}.dmsetup-{what}"));
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let (name, rest) = l.split_once(": ")?;
            Some((
                name.to_owned(),
                rest.split_whitespace().map(str::to_owned).collect(),
            ))
        })
        .collect()
}

/// `lvmsim raid dump vg/LV --json` on `imgs` (less the disks `without`).
fn raid_dump(imgs: &[(String, String, PathBuf)], without: &[&str], lv: &str) -> serde_json::Value {
    let o = imgs
        .iter()
        .filter(|(d, _, _)| !without.contains(&d.as_str()))
        .fold(Lvmsim::new(), |l, (_, dev, p)| l.dev(dev, p))
        .args(["raid", "dump", lv, "--json"])
        .run();
    assert!(o.ok(), "{lv}: {}", o.stderr);
    serde_json::from_str(&o.text()).unwrap()
}

/// md's parity algorithm numbers (drivers/md/raid5.h) for the types
/// lvm2 names, and md raid10's layout word for two near copies.
fn md_layout(segtype: &str) -> u64 {
    match segtype {
        "raid5_la" => 0,
        "raid5_ra" => 1,
        "raid5_ls" => 2,
        "raid5_rs" => 3,
        "raid4" => 4,
        "raid5_n" => 5,
        "raid6_zr" => 8,
        "raid6_nr" => 9,
        "raid6_nc" => 10,
        "raid10" => 0x102,
        _ => 0,
    }
}

/// Every `_rmeta_` LV of the healthy images decodes, and says what the
/// kernel's table and status of boot 1 (step 069) said of the array:
/// device count, level and layout, chunk, size, nothing failed, the
/// initial sync finished (`N/N idle`) over the bitmap's whole range, and
/// no region dirty after the clean deactivation. raid0_meta keeps no
/// bitmap.
#[test]
fn rmeta_superblocks_agree_with_the_kernels_table_and_status() {
    let dir = common::scratch();
    let imgs = images(dir.path(), true);
    let (table, status) = (dm_lines(69, "table"), dm_lines(69, "status"));
    let mut checked = 0;
    for (name, t) in &table {
        if t[2] != "raid" || !table.contains_key(&format!("{name}_rmeta_0")) {
            continue;
        }
        let lv = format!("vg/{}", name.strip_prefix("vg-").unwrap());
        let st = &status[name];
        let n: u64 = st[4].parse().unwrap();
        let (done, total) = st[6].split_once('/').unwrap();
        let d = raid_dump(&imgs, &[], &lv);
        let images = d["images"].as_array().unwrap();
        assert_eq!(images.len() as u64, n, "{lv}");
        let segtype = t[3].as_str();
        let level: u64 = segtype[4..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .unwrap();
        // dm-raid runs raid4 as md level 5 with parity on the first disk.
        let level = if level == 4 { 5 } else { level };
        for (i, im) in images.iter().enumerate() {
            assert_eq!(im["state"], "read", "{lv} {i}");
            let sb = &im["superblock"];
            assert_eq!(sb["num_devices"], n, "{lv}");
            assert_eq!(sb["array_position"], i as u64, "{lv}");
            assert_eq!(sb["level"], level, "{lv}");
            assert_eq!(sb["layout"], md_layout(segtype), "{lv}");
            assert_eq!(sb["stripe_sectors"].to_string(), t[5], "{lv}");
            assert_eq!(sb["array_sectors"].to_string(), t[1], "{lv}");
            assert_eq!(sb["failed_devices"], serde_json::json!([]), "{lv}");
            assert!(st[5].chars().all(|c| c == 'A'), "{lv}");
            assert_eq!(sb["events"], images[0]["superblock"]["events"], "{lv}");
            let synced = done == total && st[7] == "idle";
            assert_eq!(sb["array_resync_offset"] == "max", synced, "{lv}");
            assert_eq!(sb["disk_recovery_offset"], "max", "{lv}");
            if level == 0 {
                assert!(im.get("bitmap").is_none(), "{lv}");
                continue;
            }
            let bm = &im["bitmap"];
            let region = &t[t.iter().position(|w| w == "region_size").unwrap() + 1];
            assert_eq!(
                bm["chunksize"].as_u64().unwrap(),
                region.parse::<u64>().unwrap() * 512,
                "{lv}"
            );
            assert_eq!(bm["sync_size"].to_string(), total, "{lv}");
            assert_eq!(bm["dirty_regions"], serde_json::json!([]), "{lv}");
            assert_eq!(bm["events"], sb["events"], "{lv}");
        }
        assert_eq!(d["out_of_sync"], serde_json::json!([]), "{lv}");
        checked += 1;
    }
    assert_eq!(checked, 12);
}

/// After the degraded boot the surviving `_rmeta_` LVs hold what they
/// held before: the kernel reported the lost images failed (`D` in step
/// 108's status) but wrote no superblock in that boot (nothing was
/// written to the arrays and they were not stopped), so the images do not
/// record the failure; the lost ones read as missing.
#[test]
fn degraded_boot_left_the_surviving_superblocks_as_they_were() {
    let dir = common::scratch();
    let healthy = images(dir.path(), true);
    let last = images(dir.path(), false);
    let status = dm_lines(108, "status");
    let mut missing = 0;
    for (name, st) in &status {
        if st[2] != "raid" || st[3] == "raid0" {
            continue;
        }
        let lv = format!("vg/{}", name.strip_prefix("vg-").unwrap());
        let before = raid_dump(&healthy, &[], &lv);
        let after = raid_dump(&last, &["pv2", "pv3"], &lv);
        for (i, c) in st[5].chars().enumerate() {
            let (b, a) = (&before["images"][i], &after["images"][i]);
            if c == 'D' {
                assert_eq!(a["state"], "missing", "{lv} {i}");
                missing += 1;
            } else {
                assert_eq!(a, b, "{lv} {i}");
            }
        }
    }
    assert_eq!(missing, 14);
}

/// `sync_percent` and `lv_health_status` of every LV as lvm2 reported
/// them healthy (step 065) and degraded (step 106), except the core-log
/// mirror's sync: a core log lives in memory and the images cannot say.
#[test]
fn sync_percent_and_health_equal_lvm2s() {
    let dir = common::scratch();
    let fields = ["lv_name", "lv_health_status", "sync_percent"];
    for (step, after_boot1, without) in [(65, true, &[][..]), (106, false, &["pv2", "pv3"][..])] {
        let imgs = images(dir.path(), after_boot1);
        let golden = common::kernel(SCENARIO).join(format!("{step:03}.stdout"));
        let want = std::fs::read_to_string(golden).unwrap();
        let o = imgs
            .iter()
            .filter(|(d, _, _)| !without.contains(&d.as_str()))
            .fold(Lvmsim::new(), |l, (_, dev, p)| l.dev(dev, p))
            .args(["lvs", "-a", "--active", "--reportformat", "json", "-o"])
            .arg(fields.join(","))
            .run();
        assert!(o.ok(), "{}", o.stderr);
        let (w, g) = (rows(&want, "lv", &fields), rows(&o.text(), "lv", &fields));
        assert_eq!(w.len(), g.len(), "{step}");
        let mut percents = 0;
        for (w, g) in w.iter().zip(&g) {
            if w["lv_name"] == "mcore" {
                assert_eq!(g["sync_percent"], "", "{step}");
                assert_eq!(w["lv_health_status"], g["lv_health_status"], "{step}");
                continue;
            }
            assert_eq!(w, g, "{step}");
            percents += usize::from(!w["sync_percent"].is_empty());
        }
        assert_eq!(percents, 12, "{step}");
    }
}

/// Where (disk, byte) the kernel's table of boot 1 put the start of
/// sub-LV `dm` (a linear line over a `254:N` virtio disk).
fn sub_lv_at(dm: &str) -> (String, u64) {
    let t = &dm_lines(69, "table")[dm];
    let (_, minor) = t[3].split_once(':').unwrap();
    let disk = format!("pv{}", minor.parse::<u32>().unwrap() / 16 + 1);
    (disk, t[4].parse::<u64>().unwrap() * 512)
}

fn patch(imgs: &[(String, String, PathBuf)], disk: &str, at: u64, bytes: &[u8]) {
    use std::io::{Seek, SeekFrom, Write};
    let p = &imgs.iter().find(|(d, _, _)| d == disk).unwrap().2;
    let mut f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(bytes).unwrap();
}

/// A region set in a bitmap, or an initial sync that stopped short, is
/// named on stderr by `cat` (the bytes are still the ones read, as the
/// kernel reads them) and by `raid dump`; a damaged superblock or bitmap
/// is named with its structure and byte offset.
#[test]
fn out_of_sync_regions_are_warned_and_damage_is_located() {
    let dir = common::scratch();
    let imgs = images(dir.path(), true);
    let want = kernel_sums(1);
    // r1 (3 MiB, 2 MiB regions): bit 1 of r1_rmeta_1's bitmap.
    let (disk, at) = sub_lv_at("vg-r1_rmeta_1");
    patch(&imgs, &disk, at + 4096 + 256, &[0b10]);
    // r5ls (two data images of 1 MiB): the initial sync stopped 512 KiB
    // into each image.
    let (disk5, at5) = sub_lv_at("vg-r5ls_rmeta_0");
    patch(&imgs, &disk5, at5 + 40, &1024u64.to_le_bytes());
    for (lv, range) in [
        (
            "vg/r1",
            "bytes 2097152-3145727 may be out of sync (write-intent bitmap region 1)",
        ),
        (
            "vg/r5ls",
            "bytes 1048576-2097151 may be out of sync (initial sync stopped at sector 1024)",
        ),
    ] {
        let o = cat(&imgs, &[], lv);
        assert!(o.ok(), "{lv}: {}", o.stderr);
        assert_eq!(common::sha256(&o.stdout), want[lv], "{lv}");
        assert!(
            o.stderr.starts_with(&format!("  WARNING: {lv}: {range}")),
            "{lv}: {}",
            o.stderr
        );
        assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
        // A read that stays clear of the range is not warned about.
        let o = imgs
            .iter()
            .fold(Lvmsim::new(), |l, (_, dev, p)| l.dev(dev, p))
            .args(["cat", lv, "--length", "4096"])
            .run();
        assert!(o.ok() && o.stderr.is_empty(), "{lv}: {}", o.stderr);
    }
    let d = raid_dump(&imgs, &[], "vg/r1");
    assert_eq!(
        d["images"][1]["bitmap"]["dirty_regions"],
        serde_json::json!([1])
    );
    assert_eq!(d["out_of_sync"][0]["start"], 2097152);
    // Damage: a bitmap region size that is not a power of two, a bad magic.
    patch(&imgs, &disk, at + 4096 + 52, &1000u32.to_le_bytes());
    let (disk0, at0) = sub_lv_at("vg-r1_rmeta_0");
    patch(&imgs, &disk0, at0, b"XmRd");
    let o = imgs
        .iter()
        .fold(Lvmsim::new(), |l, (_, dev, p)| l.dev(dev, p))
        .args(["raid", "dump", "vg/r1"])
        .run();
    assert!(o.ok(), "{}", o.stderr);
    let text = o.text();
    assert!(
        text.contains("image 0: r1_rmeta_0: dm-raid superblock at byte 0: magic 0x6452"),
        "{text}"
    );
    assert!(
        text.contains("image 1: r1_rmeta_1: bitmap superblock at byte 4148: region size 1000"),
        "{text}"
    );
}

/// `dmsetup table` and `dmsetup status` of the healthy images equal the
/// kernel's of boot 1 (step 069: the LVs as their lvcreate activated
/// them, in metadata order, which is the order a fresh activation takes):
/// the raid and mirror lines with their sub-LVs' device numbers, the
/// sub-LVs' linear lines, the mirrors' regions in sync and log states.
#[test]
fn dmsetup_table_and_raid_status_equal_the_kernels() {
    let golden = common::kernel(SCENARIO);
    let o = common::kernel_dmsetup(&golden, "after-boot1.img.zst", "table");
    assert!(o.ok(), "{}", o.stderr);
    let want = std::fs::read_to_string(golden.join("069.dmsetup-table")).unwrap();
    assert_eq!(o.text(), want);
    let o = common::kernel_dmsetup(&golden, "after-boot1.img.zst", "status");
    assert!(o.ok(), "{}", o.stderr);
    let want = std::fs::read_to_string(golden.join("069.dmsetup-status")).unwrap();
    assert_eq!(o.text(), want);
    let count = |t: &str| want.lines().filter(|l| l.contains(t)).count();
    assert_eq!((count(" raid "), count(" mirror ")), (13, 2));
}

/// The degraded activation of boot 2 (step 108, pv2 and pv3 wiped, each
/// LV activated in metadata order with `--activationmode degraded` or
/// `partial`): `dmsetup table` equals the kernel's, with the
/// `-missing_S_A` error devices lvm2 loads under areas on the missing PVs
/// (numbered before the sub-LV they stand in for). `dmsetup status`
/// equals it too, the RAID images `D`, a core-log mirror's failed resync
/// (`0/1`, its missing leg `S`), but for one letter: the kernel marked the
/// disk-log mirror's missing default leg `R` after sha256sum read through
/// it, and lvmsim shows a fresh activation, before any I/O (`A`).
#[test]
fn degraded_tables_and_status_equal_the_kernels() {
    let golden = common::kernel(SCENARIO);
    let o = common::kernel_dmsetup(&golden, "img.zst", "table");
    assert!(o.ok(), "{}", o.stderr);
    let want = std::fs::read_to_string(golden.join("108.dmsetup-table")).unwrap();
    assert_eq!(o.text(), want);
    assert_eq!(want.matches("-missing_0_0: ").count(), 30);
    let o = common::kernel_dmsetup(&golden, "img.zst", "status");
    assert!(o.ok(), "{}", o.stderr);
    let want = std::fs::read_to_string(golden.join("108.dmsetup-status")).unwrap();
    let after_io = "vg-mdisk: 0 4096 mirror 2 253:134 253:135 1/1 1 RA 3 disk 253:132 A\n";
    assert!(want.contains(after_io));
    assert_eq!(
        o.text(),
        want.replace(after_io, &after_io.replace(" RA ", " AA "))
    );
    assert!(want.contains("vg-mcore: 0 4096 mirror 2 253:128 253:130 0/1 1 AS 1 core\n"));
}

/// `dmsetup ls` lists every device the tables load, numbered as the
/// kernel's tables of boot 1 (069) and of the degraded boot 2 (108) name
/// them: a RAID or mirror LV's line names exactly its sub-LVs' numbers,
/// and a sub-LV over a missing PV names its `-missing_0_0` error device.
#[test]
fn dmsetup_ls_numbers_the_devices_as_the_kernels_tables_name_them() {
    let golden = common::kernel(SCENARIO);
    for (step, suffix) in [(69, "after-boot1.img.zst"), (108, "img.zst")] {
        let o = common::kernel_dmsetup(&golden, suffix, "ls");
        assert!(o.ok(), "{}", o.stderr);
        let ls: BTreeMap<String, String> = o
            .text()
            .lines()
            .map(|l| {
                let (n, d) = l.split_once('\t').unwrap();
                (
                    n.to_owned(),
                    d.trim_matches(|c| c == '(' || c == ')').to_owned(),
                )
            })
            .collect();
        let table = dm_lines(step, "table");
        assert_eq!(
            ls.keys().collect::<Vec<_>>(),
            table.keys().collect::<Vec<_>>(),
            "step {step}: the devices"
        );
        let mut checked = 0;
        for (name, words) in &table {
            let named: BTreeSet<&str> = words
                .iter()
                .filter(|w| w.starts_with("253:"))
                .map(String::as_str)
                .collect();
            if words[2] == "raid" || words[2] == "mirror" {
                let prefix = format!("{name}_");
                let subs: BTreeSet<&str> = ls
                    .iter()
                    .filter(|(n, _)| n.starts_with(&prefix) && !n.contains("-missing_"))
                    .map(|(_, d)| d.as_str())
                    .collect();
                assert_eq!(named, subs, "step {step}: {name}");
                checked += 1;
            } else if let Some(d) = named.iter().next() {
                assert_eq!(
                    ls[&format!("{name}-missing_0_0")],
                    *d,
                    "step {step}: {name}"
                );
                checked += 1;
            }
        }
        assert!(checked >= 15, "step {step}: {checked}");
    }
}
