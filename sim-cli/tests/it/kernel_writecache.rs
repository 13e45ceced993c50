//! LVs with a writecache and a raid1 with integrity images, from
//! testdata/kernel/writecache, read with `lvmsim cat` against the sha256
//! the kernel recorded for each: the LV as the kernel showed it (dirty
//! blocks in the cachevol over the origin) and, with `--uncached`, the
//! `_wcorig` device alone; and reported against the kernel's lvm2.

use crate::common::{self, kgen};
use std::collections::BTreeMap;

const SCENARIO: &str = "writecache";

/// LV -> sha256 of its last `check`, and LV -> sha256 of its `_wcorig`
/// device (the `dd ... vg-LV_wcorig ... | sha256sum` steps), both from
/// boot 2, after the kernel loaded the cache from disk. Boot 1's equal
/// them (asserted).
fn kernel_sums() -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let dir = common::kernel(SCENARIO);
    let mut lv_sum: BTreeMap<String, String> = BTreeMap::new();
    let mut orig_sum: BTreeMap<String, String> = BTreeMap::new();
    for s in kgen::steps(&dir) {
        assert_eq!(s.rc, 0, "step {}", s.n);
        let text = s.words.join(" ");
        let (map, lv, file) = if s.words[0] == "check" {
            (
                &mut lv_sum,
                s.words[1].clone(),
                format!("{:03}.sha256", s.n),
            )
        } else if let Some(at) = text.find("/dev/mapper/vg-") {
            let name = &text[at + "/dev/mapper/vg-".len()..];
            let lv = name.split("_wcorig").next().unwrap();
            (
                &mut orig_sum,
                format!("vg/{lv}"),
                format!("{:03}.stdout", s.n),
            )
        } else {
            continue;
        };
        let rec = std::fs::read_to_string(dir.join(file)).unwrap();
        let hex = rec.split_whitespace().next().unwrap().to_owned();
        if let Some(old) = map.insert(lv.clone(), hex.clone()) {
            assert_eq!(old, hex, "{lv}: boot 2 read what boot 1 did");
        }
    }
    assert_eq!(lv_sum.len(), 3);
    assert_eq!(orig_sum.len(), 2);
    (lv_sum, orig_sum)
}

#[test]
fn writecached_lvs_read_as_the_kernel_read_them_and_their_origins_alone() {
    let (lvs, origins) = kernel_sums();
    let s = common::load_kernel(SCENARIO);
    // Boot 1's images beside them: boot 2 read the same.
    let boot1: Vec<(String, std::path::PathBuf)> = s
        .devs
        .iter()
        .map(|(dev, img)| {
            let disk = img.file_stem().unwrap().to_string_lossy().into_owned();
            let dst = s.work.path().join(format!("{disk}.after-boot1.img"));
            common::unzst_to(&s.golden.join(format!("{disk}.after-boot1.img.zst")), &dst);
            (dev.clone(), dst)
        })
        .collect();
    for (images, devs) in [("", &s.devs), (" after boot 1", &boot1)] {
        let s = || {
            devs.iter()
                .fold(common::Lvmsim::new(), |l, (n, p)| l.dev(n, p))
        };
        for (lv, sum) in &lvs {
            let o = s().args(["cat", lv]).run();
            assert!(o.ok(), "{lv}{images}: {}", o.stderr);
            assert_eq!(&common::sha256(&o.stdout), sum, "{lv}{images}");
        }
        for (lv, sum) in &origins {
            // The cache holds dirty blocks: the LV and its origin differ.
            assert_ne!(sum, &lvs[lv], "{lv}");
            let o = s().args(["cat", "--uncached", lv]).run();
            assert!(o.ok(), "{lv}{images} --uncached: {}", o.stderr);
            assert_eq!(&common::sha256(&o.stdout), sum, "{lv}{images} --uncached");
        }
    }
}

#[test]
fn pieces_of_a_writecached_lv_equal_the_whole() {
    let s = common::load_kernel(SCENARIO);
    for lv in ["vg/w1", "vg/w2"] {
        let whole = s.lvmsim().args(["cat", lv]).run().stdout;
        // Ranges across cached and uncached blocks, unaligned.
        for (off, len) in [
            (0u64, 1u64),
            (65_000, 70_000),
            (511_000, 12_345),
            (8_388_000, 608),
        ] {
            let o = s
                .lvmsim()
                .args([
                    "cat",
                    lv,
                    "--offset",
                    &off.to_string(),
                    "--length",
                    &len.to_string(),
                ])
                .run();
            assert!(o.ok(), "{}", o.stderr);
            assert_eq!(
                o.stdout,
                whole[off as usize..(off + len) as usize],
                "{lv} {off}+{len}"
            );
        }
    }
}

#[test]
fn a_damaged_cachevol_superblock_is_an_error_naming_the_byte() {
    let s = common::load_kernel(SCENARIO);
    // f1_cvol starts at sector 2048 of pv2 (041.dmsetup-table): flip a
    // bit of the superblock's magic.
    let (_, pv2) = s.devs.iter().find(|(_, p)| p.ends_with("pv2.img")).unwrap();
    let mut img = std::fs::read(pv2).unwrap();
    img[2048 * 512] ^= 1;
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("pv2.img");
    std::fs::write(&bad, &img).unwrap();
    let l = s.devs.iter().fold(common::Lvmsim::new(), |l, (n, p)| {
        l.dev(n, if p.ends_with("pv2.img") { &bad } else { p })
    });
    let o = l.args(["cat", "vg/w1"]).run();
    assert!(!o.ok());
    assert!(
        o.stderr.contains("writecache superblock, byte 0: magic"),
        "{}",
        o.stderr
    );
}

/// The report fields an inactive VG's metadata decides, against the
/// kernel's lvm2 report at the end (step 041): `lv_attr` but for the
/// active and open letters (kernel state), the links, layout, role,
/// segment type, devices, ranges, block sizes, settings and modules.
#[test]
fn reports_equal_the_kernels_lvm2() {
    let s = common::load_kernel(SCENARIO);
    let lv_fields = "lv_name,lv_attr,pool_lv,origin,data_lv,metadata_lv,lv_layout,lv_role,\
                     writecache_block_size,raidintegritymode,raidintegrityblocksize,lv_read_ahead,\
                     lv_modules,lv_parent";
    let seg_fields = "lv_name,segtype,devices,seg_le_ranges,stripes,data_stripes,cache_settings";
    let rows = |json: &[u8], kind: &str, fields: &str| -> Vec<Vec<String>> {
        let v: serde_json::Value = serde_json::from_slice(json).unwrap();
        v["report"][0][kind]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                fields
                    .split(',')
                    .map(|f| {
                        let x = r[f].as_str().unwrap_or_else(|| panic!("{f}: {r}"));
                        if f == "lv_attr" {
                            let c: Vec<char> = x.chars().collect();
                            format!(
                                "{}{}",
                                c[..4].iter().collect::<String>(),
                                c[6..].iter().collect::<String>()
                            )
                        } else {
                            x.to_owned()
                        }
                    })
                    .collect()
            })
            .collect()
    };
    let dir = common::kernel(SCENARIO);
    for (file, kind, fields, extra) in [
        ("041.lvs.json", "lv", lv_fields, &["-a"][..]),
        (
            "041.lvsegs.json",
            "seg",
            seg_fields,
            &["-a", "--segments"][..],
        ),
    ] {
        let want = rows(&std::fs::read(dir.join(file)).unwrap(), kind, fields);
        let mut args = vec!["lvs"];
        args.extend(extra);
        args.extend([
            "--reportformat",
            "json",
            "--units",
            "b",
            "--nosuffix",
            "-o",
            fields,
        ]);
        let o = s.lvmsim().args(args).run();
        assert!(o.ok(), "{}", o.stderr);
        let got = rows(&o.stdout, kind, fields);
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "{file}: {fields}");
        }
        assert_eq!(got.len(), want.len(), "{file}");
    }
    // dmsetup refuses the VG rather than print lines it cannot fill: the
    // integrity images' (their writecache lines are compared below).
    let o = s.lvmsim().args(["dmsetup", "table"]).run();
    assert!(!o.ok());
    assert!(
        o.stderr
            .contains("vg/ri_rimage_0: lvmsim's dmsetup does not print integrity targets yet"),
        "{}",
        o.stderr
    );
}

/// The `writecache` lines lvmsim prints, read through the library (the
/// whole `dmsetup` listing of the VG is refused for its integrity
/// images), against the kernel's records of boot 2, a fresh `vgchange
/// -ay` of the final images: the status right after it (step 035: no
/// error, the blocks, the free ones, no writeback, the ten in-memory
/// counters at zero) and the table (step 041), whose device numbers show
/// lvm2's creation order: the cachevol, then the origin, then the LV.
#[test]
fn writecache_lines_equal_the_kernels_after_a_fresh_activation() {
    use lvm_meta::io::Image;
    let s = common::load_kernel(SCENARIO);
    let dir = common::kernel(SCENARIO);
    let line = |file: &str, dm: &str| -> String {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let prefix = format!("{dm}: ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("{file}: no {dm}"))
            .to_owned()
    };
    let images = s
        .devs
        .iter()
        .map(|(n, p)| Image::from_bytes(n, std::fs::read(p).unwrap()))
        .collect();
    let sys = lvm_meta::scan::System::scan(images).unwrap();
    let inst = sys.vg("vg").unwrap();
    let vg = &inst.vg;
    let pvs = sys.pv_images(inst);
    for lv in ["w1", "w2"] {
        let li = vg.lv_index(lv).unwrap();
        let dm = format!("vg-{lv}");
        let status = line("035.stdout", &dm);
        assert_eq!(
            format!(
                "0 16384 writecache {}",
                lvmsim::writecache::dm_status(vg, li, &pvs).unwrap()
            ),
            status,
            "{lv}"
        );
        // The numbers the record gives the origin and the cachevol.
        let table = line("041.dmsetup-table", &dm);
        let f: Vec<&str> = table.split(' ').collect();
        let (origin, cache) = (f[4], f[5]);
        assert_eq!(
            format!(
                "0 16384 writecache {}",
                lvmsim::writecache::dm_table(vg, li, origin, cache).unwrap()
            ),
            table,
            "{lv}"
        );
        let [cvol, wcorig] = lvmsim::writecache::dm_parts(vg, li).unwrap();
        let minor = |n: &str| n.strip_prefix("253:").unwrap().parse::<u32>().unwrap();
        assert!(
            minor(cache) < minor(origin),
            "{lv}: the cachevol comes first"
        );
        assert_eq!(
            (vg.lvs[cvol].name.as_str(), vg.lvs[wcorig].name.as_str()),
            (
                if lv == "w1" { "f1_cvol" } else { "f2_cvol" },
                format!("{lv}_wcorig").as_str()
            )
        );
    }
}
