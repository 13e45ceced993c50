//! `lvmsim recover` of removed thin LVs on testdata/kernel/thin-recover: the
//! kernel hashed `lost` and `held` (whole and per 1 MiB block) before
//! `lvremove`; `held` was removed while a metadata snapshot was held,
//! `lost` plainly, and a later thin LV took the same device id and part of
//! `lost`'s data blocks. Every expectation is a kernel record; nothing
//! lvmsim printed is used as one.

use crate::common::{self, contents, load_kernel, sha256, Scenario};
use serde_json::Value;

const SCENARIO: &str = "thin-recover";
const MIB: usize = 1 << 20;

/// The kernel's record of `checkblocks LV`: whole sha256, per-MiB sha256s.
fn shown(s: &Scenario, lv: &str) -> (String, Vec<String>) {
    let tsv = std::fs::read_to_string(s.golden.join("steps.tsv")).unwrap();
    let row: Vec<&str> = tsv
        .lines()
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .find(|f| f[5] == format!("checkblocks {lv}"))
        .unwrap();
    assert_eq!(row[3], "ok");
    let n: u32 = row[0].parse().unwrap();
    let whole = std::fs::read_to_string(s.golden.join(format!("{n:03}.sha256"))).unwrap();
    let (hash, dev) = whole.trim_end().split_once("  ").unwrap();
    assert_eq!(dev, format!("/dev/{lv}"));
    let blocks = std::fs::read_to_string(s.golden.join(format!("{n:03}.blocks")))
        .unwrap()
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let (o, h) = l.split_once(' ').unwrap();
            assert_eq!(o.parse::<usize>().unwrap(), i * MIB);
            h.to_owned()
        })
        .collect();
    (hash.to_owned(), blocks)
}

/// Exports `vg/LV`; checks the report against the file and the images
/// against change; returns the bytes and the report.
fn export(s: &Scenario, lv: &str) -> (Vec<u8>, Value) {
    let out = s.work.path().join(format!("{lv}.img"));
    let before = contents(s);
    let o = s
        .lvmsim()
        .args([
            "recover",
            "--export",
            &format!("vg/{lv}"),
            "-o",
            out.to_str().unwrap(),
        ])
        .run();
    assert_eq!(o.status, 0, "{lv}: {}", o.stderr);
    assert_eq!(contents(s), before, "{lv}: the export changed an image");
    let data = std::fs::read(&out).unwrap();
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{}.json", out.display())).unwrap())
            .unwrap();
    assert_eq!(report["export_sha256"], sha256(&data), "{lv}");
    assert_eq!(report["size"], data.len() as u64, "{lv}");
    // The ranges tile the export.
    let mut at = 0;
    for r in report["ranges"].as_array().unwrap() {
        assert_eq!(r["start"], at, "{lv}: {r}");
        at = r["end"].as_u64().unwrap();
    }
    assert_eq!(at, data.len() as u64, "{lv}");
    (data, report)
}

/// Per MiB block: (equal to the kernel's record, wholly in trustworthy
/// ranges). A block that differs must touch an untrustworthy range.
fn blocks(lv: &str, data: &[u8], report: &Value, want: &[String]) -> Vec<(bool, bool)> {
    assert_eq!(want.len(), data.len().div_ceil(MIB), "{lv}");
    let ranges: Vec<(usize, usize, bool)> = report["ranges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["start"].as_u64().unwrap() as usize,
                r["end"].as_u64().unwrap() as usize,
                r["trustworthy"].as_bool().unwrap(),
            )
        })
        .collect();
    want.iter()
        .enumerate()
        .map(|(i, h)| {
            let (o, e) = (i * MIB, ((i + 1) * MIB).min(data.len()));
            let same = sha256(&data[o..e]) == *h;
            let trusted = ranges.iter().all(|(s, x, t)| *t || *x <= o || *s >= e);
            assert!(
                same || !trusted,
                "{lv}: block {i} differs from the kernel's but is called trustworthy"
            );
            (same, trusted)
        })
        .collect()
}

#[test]
fn held_thin_lv_is_recovered_whole_from_the_held_root() {
    let s = load_kernel(SCENARIO);
    let (hash, per) = shown(&s, "vg/held");
    let (data, report) = export(&s, "held");
    assert_eq!(report["root_source"], "held");
    assert_eq!(report["root_guessed"], false);
    assert_eq!(report["verdict"], "recoverable");
    assert_eq!(report["export_sha256"], hash.as_str());
    assert!(blocks("held", &data, &report, &per)
        .iter()
        .all(|&(same, trusted)| same && trusted));
}

#[test]
fn plainly_removed_thin_lv_is_recovered_where_its_blocks_were_not_reused() {
    let s = load_kernel(SCENARIO);
    let (hash, per) = shown(&s, "vg/lost");
    let (data, report) = export(&s, "lost");
    assert_eq!(report["root_source"], "scanned");
    assert_eq!(report["root_guessed"], true);
    assert_eq!(report["verdict"], "partly");
    assert_ne!(report["export_sha256"], hash.as_str());
    let b = blocks("lost", &data, &report, &per);
    // late took 16 of lost's 32 data blocks (its first MiB): that block
    // differs and is marked; the other three equal the kernel's.
    assert_eq!(
        b,
        vec![(false, false), (true, true), (true, true), (true, true)]
    );
    assert_eq!(report["bytes_by_kind"]["reallocated"], MIB as u64);
    assert_eq!(report["bytes_by_kind"]["mapped"], MIB as u64);
}

#[test]
fn survey_lists_both_removed_thin_lvs_and_the_id_given_again() {
    let s = load_kernel(SCENARIO);
    let o = s.lvmsim().args(["recover", "--json"]).run();
    assert_eq!(o.status, 0, "{}", o.stderr);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["snapshots"].as_array().unwrap().len(), 0);
    let thin = v["thin"].as_array().unwrap();
    let names: Vec<&str> = thin.iter().map(|t| t["lv"].as_str().unwrap()).collect();
    assert_eq!(names, ["lost", "held"]);
    // The kernel's lvs: late has thin id 2 now, lost had it before.
    let lvs = std::fs::read_to_string(s.golden.join("023.stdout")).unwrap();
    let late = lvs
        .lines()
        .find(|l| l.trim_start().starts_with("late "))
        .unwrap();
    assert_eq!(late.split_whitespace().nth(6), Some("2"), "{late}");
    assert_eq!(thin[0]["device_id"], 2);
    assert_eq!(thin[0]["device_id_now_used_by"], "late");
    assert_eq!(thin[1]["device_id_now_used_by"], Value::Null);
    // The held root's block is the one the kernel's status named.
    let status = std::fs::read_to_string(s.golden.join("016.stdout")).unwrap();
    let held: u64 = status.split_whitespace().nth(6).unwrap().parse().unwrap();
    assert_eq!(thin[1]["roots"][0]["found_at"], held);
    assert_eq!(thin[1]["roots"][0]["source"], "held");
    let text = s.lvmsim().args(["recover"]).run();
    assert!(
        text.text()
            .contains("vg/lost  removed  thin device 2 of pool pool"),
        "{}",
        text.text()
    );
    let _ = common::repo();
}

#[test]
fn history_shows_thin_ids_and_pool_transactions_as_lvm2_recorded_them() {
    let s = load_kernel(SCENARIO);
    let o = s.lvmsim().args(["history", "--json"]).run();
    assert_eq!(o.status, 0, "{}", o.stderr);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let changes: Vec<&Value> = v["history"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["changes"].as_array().unwrap())
        .collect();
    let of =
        |t: &str| -> Vec<&Value> { changes.iter().copied().filter(|c| c["type"] == t).collect() };
    // Thin LVs are lv_created / lv_removed with a `thin` object.
    let thin = |t: &str| -> Vec<(&str, u64)> {
        of(t)
            .iter()
            .filter(|c| !c["thin"].is_null())
            .map(|c| {
                (
                    c["lv"].as_str().unwrap(),
                    c["thin"]["thin_id"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let (created, removed) = (thin("lv_created"), thin("lv_removed"));
    // The kernel's lvs (ThId, TransId) of the LVs still there at the end.
    let lvs = std::fs::read_to_string(s.golden.join("023.stdout")).unwrap();
    let col = |lv: &str, n: usize| -> u64 {
        let l = lvs
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{lv} ")))
            .unwrap();
        l.split_whitespace().nth(n).unwrap().parse().unwrap()
    };
    assert!(created.contains(&("keep", col("keep", 6))), "{created:?}");
    assert!(created.contains(&("late", col("late", 6))), "{created:?}");
    // lost held the id late has now; held's id was not given again.
    assert_eq!(created.iter().filter(|c| c.1 == col("late", 6)).count(), 2);
    assert_eq!(
        removed.iter().map(|r| r.0).collect::<Vec<_>>(),
        ["lost", "held"]
    );
    // One transaction per thin create or delete; the last is the pool's.
    let tx = of("pool_transaction");
    assert_eq!(tx.len(), created.len() + removed.len());
    assert_eq!(tx.last().unwrap()["to"].as_u64().unwrap(), col("pool", 6));
}
