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
    // dmsetup refuses the VG rather than print cache lines it cannot fill.
    let o = s.lvmsim().args(["dmsetup", "table"]).run();
    assert!(!o.ok());
    assert!(
        o.stderr.contains("does not print cache targets yet"),
        "{}",
        o.stderr
    );
}
