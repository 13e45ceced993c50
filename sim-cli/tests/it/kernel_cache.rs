//! Cached LVs of testdata/kernel/cache-writeback read with `lvmsim cat`
//! against the sha256 the kernel recorded for each: the LV as the kernel
//! showed it (dirty blocks in the cache over the origin) and, with
//! `--uncached`, the `_corig` device alone.

use crate::common::{self, kgen};
use std::collections::BTreeMap;

const SCENARIO: &str = "cache-writeback";

/// LV -> (sha256 of the LV, sha256 of its `_corig` device), from the
/// scenario's `check` steps and its `dd ... vg-LV_corig ... | sha256sum`.
fn kernel_sums() -> BTreeMap<String, (String, String)> {
    let dir = common::kernel(SCENARIO);
    let mut lv_sum = BTreeMap::new();
    let mut orig_sum = BTreeMap::new();
    for s in kgen::steps(&dir) {
        assert_eq!(s.rc, 0, "step {}", s.n);
        let text = s.words.join(" ");
        if s.words[0] == "check" {
            let rec = std::fs::read_to_string(dir.join(format!("{:03}.sha256", s.n))).unwrap();
            let hex = rec.split_whitespace().next().unwrap().to_owned();
            lv_sum.insert(s.words[1].clone(), hex);
        } else if let Some(at) = text.find("/dev/mapper/vg-") {
            let name = &text[at + "/dev/mapper/vg-".len()..];
            let lv = name.split("_corig").next().unwrap();
            let rec = std::fs::read_to_string(dir.join(format!("{:03}.stdout", s.n))).unwrap();
            let hex = rec.split_whitespace().next().unwrap().to_owned();
            orig_sum.insert(format!("vg/{lv}"), hex);
        }
    }
    assert_eq!(lv_sum.len(), 3);
    lv_sum
        .into_iter()
        .map(|(lv, h)| {
            let o = orig_sum.remove(&lv).unwrap();
            (lv, (h, o))
        })
        .collect()
}

#[test]
fn cached_lvs_read_as_the_kernel_read_them_and_their_origins_alone() {
    let s = common::load_kernel(SCENARIO);
    let sums = kernel_sums();
    // The writeback caches hold dirty blocks: the LV and its origin differ.
    assert_ne!(sums["vg/c1"].0, sums["vg/c1"].1);
    assert_ne!(sums["vg/c2"].0, sums["vg/c2"].1);
    // The writethrough cache wrote the origin as well.
    assert_eq!(sums["vg/c3"].0, sums["vg/c3"].1);
    for (lv, (cached, origin)) in &sums {
        let o = s.lvmsim().args(["cat", lv]).run();
        assert!(o.ok(), "{lv}: {}", o.stderr);
        assert_eq!(o.stderr, "", "{lv}");
        assert_eq!(&common::sha256(&o.stdout), cached, "{lv}");
        let o = s.lvmsim().args(["cat", "--uncached", lv]).run();
        assert!(o.ok(), "{lv} --uncached: {}", o.stderr);
        assert_eq!(&common::sha256(&o.stdout), origin, "{lv} --uncached");
    }
}

#[test]
fn pieces_of_a_cached_lv_equal_the_whole() {
    let s = common::load_kernel(SCENARIO);
    let whole = s.lvmsim().args(["cat", "vg/c1"]).run().stdout;
    // Ranges across cached and uncached 64 KiB blocks, unaligned.
    for (off, len) in [
        (0u64, 1u64),
        (65_000, 70_000),
        (500_000, 12_345),
        (8_388_000, 608),
    ] {
        let o = s
            .lvmsim()
            .args([
                "cat",
                "vg/c1",
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
            "{off}+{len}"
        );
    }
}

#[test]
fn without_the_cache_pv_only_the_origin_reads() {
    let s = common::load_kernel(SCENARIO);
    let (_, origin) = &kernel_sums()["vg/c2"];
    let only_pv1 = |args: &[&str]| {
        s.devs
            .iter()
            .filter(|(_, p)| p.ends_with("pv1.img"))
            .fold(common::Lvmsim::new(), |l, (n, p)| l.dev(n, p))
            .args(args)
            .run()
    };
    let o = only_pv1(&["cat", "vg/c2"]);
    assert!(!o.ok(), "read without the cache's PV");
    let o = only_pv1(&["cat", "--uncached", "vg/c2"]);
    assert!(o.ok(), "{}", o.stderr);
    assert_eq!(&common::sha256(&o.stdout), origin);
}

/// The report fields an inactive VG's metadata decides, against the
/// kernel's lvm2 report of the active VG (step 037): the volume type,
/// permission, allocation and target letters of `lv_attr`, and the links.
#[test]
fn reports_equal_the_kernels_lvm2() {
    let s = common::load_kernel(SCENARIO);
    let fields = "lv_name,lv_attr,pool_lv,origin,data_lv,metadata_lv,lv_layout,lv_role,lv_parent";
    let rows = |json: &[u8]| -> Vec<Vec<String>> {
        let v: serde_json::Value = serde_json::from_slice(json).unwrap();
        v["report"][0]["lv"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                fields
                    .split(',')
                    .map(|f| {
                        let x = r[f].as_str().unwrap_or_else(|| panic!("{f}: {r}"));
                        if f == "lv_attr" {
                            // Active and open (letters 5 and 6) need the kernel.
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
    let want = rows(&std::fs::read(common::kernel(SCENARIO).join("037.lvs.json")).unwrap());
    let o = s
        .lvmsim()
        .args(["lvs", "-a", "--reportformat", "json", "-o", fields])
        .run();
    assert!(o.ok(), "{}", o.stderr);
    let got = rows(&o.stdout);
    // c2 was deactivated after the report: the same rows, in lvm2's order.
    assert_eq!(got, want);
}

/// `dmsetup status` on the final images (a fresh activation's status)
/// against the kernel's last record (step 037, before c2 was deactivated
/// and the machine powered off with c1 and c3 active). Every line but
/// the cache lines is the same; each cache line is the record's with the
/// fields a fresh activation shows otherwise, each for a reason:
/// - `migration_threshold` is the kernel's default 2048: the scenario's
///   `dmsetup message` set 0 for c1 and c2 in memory only;
/// - demotions and promotions are 0 (counted in memory only);
/// - read/write hits and misses are those the superblock saved: c2's,
///   saved by its clean deactivation, equal the record's; c1 and c3
///   were never suspended, so theirs are 0;
/// - dirty: c2's clean shutdown stored its 10 dirty blocks (the
///   record's); c1 and c3 were not shut down cleanly, so the kernel
///   loads every cached block as dirty;
/// - c2's used metadata blocks: its deactivation committed after the
///   record (7 then, 10 on the final images).
#[test]
fn status_lines_equal_the_kernels_but_for_the_counters_kept_in_memory() {
    let dir = common::kernel(SCENARIO);
    let want = std::fs::read_to_string(dir.join("037.dmsetup-status")).unwrap();
    let o = common::kernel_dmsetup(&dir, "img.zst", "status");
    assert_eq!(o.status, 0, "{}", o.stderr);
    let got = o.text();
    let fresh = |line: &str| -> String {
        let (name, rest) = line.split_once(": ").unwrap();
        let mut f: Vec<String> = rest.split(' ').map(str::to_owned).collect();
        if f[2] != "cache" {
            return line.to_owned();
        }
        // 0 LEN cache MDBS USED/TOTAL BS USED/TOTAL RH RM WH WM DEM PRO DIRTY
        let used: String = f[6].split('/').next().unwrap().to_owned();
        f[11] = "0".into();
        f[12] = "0".into();
        let at = f.iter().position(|x| x == "migration_threshold").unwrap();
        f[at + 1] = "2048".into();
        if name == "vg-c2" {
            f[4] = "10/1280".into();
        } else {
            for c in &mut f[7..11] {
                *c = "0".into();
            }
            f[13] = used;
        }
        format!("{name}: {}", f.join(" "))
    };
    let want: Vec<String> = want.lines().map(fresh).collect();
    let got: Vec<&str> = got.lines().collect();
    assert_eq!(got, want);
}

/// (origin block, cache block) of cached LV `lv` on the scenario's
/// images, and the cache block size in bytes, read through the library.
fn mappings(s: &common::Scenario, lv: &str) -> (Vec<(u64, u64)>, u64) {
    use lvm_meta::io::Image;
    let images = s
        .devs
        .iter()
        .map(|(n, p)| Image::from_bytes(n, std::fs::read(p).unwrap()))
        .collect();
    let sys = lvm_meta::scan::System::scan(images).unwrap();
    let inst = sys.vg("vg").unwrap();
    let pvs = sys.pv_images(inst);
    let li = inst.vg.lv_index(lv).unwrap();
    let v = lvmsim::cache::CacheView::open(&inst.vg, li, &pvs)
        .unwrap()
        .unwrap();
    (v.mappings().to_vec(), v.pool.block_bytes())
}

/// The dirty count of `dmsetup status vg-LV` (its 14th field, as the
/// scenario's awk reads it).
fn dirty(s: &common::Scenario, lv: &str) -> u64 {
    let o = s
        .lvmsim()
        .args(["dmsetup", "status", &format!("vg-{lv}")])
        .run();
    assert!(o.ok(), "{}", o.stderr);
    o.text()
        .split_whitespace()
        .nth(13)
        .unwrap()
        .parse()
        .unwrap()
}

/// Writes through the live kernel's cached LVs follow the `cache`
/// target: a block the cache holds is written in the cache (writeback:
/// the origin keeps its old data; writethrough: the origin is written
/// too), an uncached block in the origin; the LV then reads what was
/// written. c2 was deactivated cleanly (its superblock says so, its
/// status shows the 10 dirty blocks its clean shutdown stored): a write
/// into its cache clears that flag, as the kernel's next commit does, so
/// every cached block loads as dirty afterwards (11).
#[test]
fn writes_through_live_cached_lvs_follow_the_cache_target() {
    use std::os::unix::fs::FileExt;
    let s = common::load_kernel(SCENARIO);
    let cat = |lv: &str, uncached: bool| {
        let mut a = vec!["--nolocking", "cat"];
        if uncached {
            a.push("--uncached");
        }
        a.push(lv);
        let o = s.lvmsim().args(&a).run();
        assert!(o.ok(), "cat {lv}: {}", o.stderr);
        o.stdout
    };
    assert_eq!(dirty(&s, "c2"), 10);
    // Per LV: (name, writeback, the two ranges written).
    let mut plan = Vec::new();
    for (lv, writeback) in [("c1", true), ("c2", true), ("c3", false)] {
        let (map, bs) = mappings(&s, lv);
        let cached = map[0].0;
        let uncached = (0..).find(|b| map.iter().all(|m| m.0 != *b)).unwrap();
        // Unaligned, inside one block each.
        let at = |b: u64| (b * bs + 512, 4096usize);
        let before = (
            cat(&format!("vg/{lv}"), false),
            cat(&format!("vg/{lv}"), true),
        );
        plan.push((lv, writeback, at(cached), at(uncached), before));
    }
    let k = crate::kernel_live::Running::start(&s.devs, &s.work.path().join("k"));
    for (n, (lv, _, c, u, _)) in plan.iter().enumerate() {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(k.file(&format!("vg/{lv}")))
            .unwrap();
        for (k, (off, len)) in [c, u].into_iter().enumerate() {
            f.write_all_at(&vec![0xc0 + (2 * n + k) as u8; *len], *off)
                .unwrap();
        }
    }
    // A discard is refused (dm-cache's discard bitset is not simulated)
    // and changes nothing.
    let out = std::process::Command::new("fallocate")
        .args(["--punch-hole", "--offset", "0", "--length", "65536"])
        .arg(k.file("vg/c1"))
        .output()
        .unwrap();
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("unsupported"),
        "{out:?}"
    );
    k.stop();
    for (n, (lv, writeback, c, u, (lv_before, orig_before))) in plan.iter().enumerate() {
        let mut want_lv = lv_before.clone();
        let mut want_orig = orig_before.clone();
        for (k, (off, len)) in [c, u].into_iter().enumerate() {
            let r = *off as usize..*off as usize + len;
            want_lv[r.clone()].fill(0xc0 + (2 * n + k) as u8);
            // The cached block reaches the origin only in writethrough.
            if k == 1 || !writeback {
                want_orig[r].fill(0xc0 + (2 * n + k) as u8);
            }
        }
        assert!(cat(&format!("vg/{lv}"), false) == want_lv, "{lv}: the LV");
        assert!(
            cat(&format!("vg/{lv}"), true) == want_orig,
            "{lv}: its origin"
        );
    }
    assert_eq!(dirty(&s, "c2"), 11);
}

/// `lvchange -an`/`-ay` of a cached LV through the running kernel: its
/// devices (the LV, its pool's `_cdata` and `_cmeta`, its `_corig`) go and
/// come back, the other cached LVs' stay, and it reads as before; the
/// images are untouched (activation writes no metadata).
#[test]
fn a_cached_lv_deactivates_and_activates_in_the_running_kernel() {
    let s = common::load_kernel(SCENARIO);
    let kdir = s.work.path().join("k");
    let before: Vec<Vec<u8>> = s
        .devs
        .iter()
        .map(|(_, p)| std::fs::read(p).unwrap())
        .collect();
    let k = crate::kernel_live::Running::start(&s.devs, &kdir);
    let names = |k: &crate::kernel_live::Running| -> Vec<String> {
        k.status()["devices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = names(&k);
    let c2 = std::fs::read(k.file("vg/c2")).unwrap();
    let run = |args: &[&str]| {
        let o = s.lvmsim().arg("--kernel").arg(&kdir).args(args).run();
        assert!(o.ok(), "{args:?}: {}", o.stderr);
        o
    };
    let o = run(&["lvchange", "-an", "-v", "vg/c2"]);
    let c2_devs = [
        "vg-c2",
        "vg-c2_corig",
        "vg-p2_cpool_cdata",
        "vg-p2_cpool_cmeta",
    ];
    // Each removal is told (no record shows lvm2's order for a cache).
    for d in c2_devs {
        assert!(
            o.stderr.contains(&format!("  Removing {d} (253:")),
            "{}",
            o.stderr
        );
    }
    let rest: Vec<String> = all
        .iter()
        .filter(|n| !c2_devs.contains(&n.as_str()))
        .cloned()
        .collect();
    assert_eq!(names(&k), rest);
    assert!(!k.file("vg/c2").exists());
    run(&["lvchange", "-ay", "vg/c2"]);
    assert_eq!(names(&k), all);
    assert!(std::fs::read(k.file("vg/c2")).unwrap() == c2);
    k.stop();
    for ((_, p), b) in s.devs.iter().zip(&before) {
        assert!(std::fs::read(p).unwrap() == *b, "{}", p.display());
    }
}
