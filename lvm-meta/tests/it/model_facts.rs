//! The model's derived facts against what real lvm2 reported for the same
//! VG: for every scenario of the lvm2 corpus, the VG of `vgcfgbackup.txt`
//! (written by lvm2) must give the extent counts `pvs` and `vgs` printed
//! and the visibility `lvs -a` showed (hidden LVs in brackets).

use lvm_meta::model::Vg;
use lvm_meta::text::parse;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The corpus scenarios that have a backup file, sorted.
fn scenarios() -> Vec<PathBuf> {
    let root = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/lvm2/corpus"
    ));
    let mut out: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("vgcfgbackup.txt").is_file())
        .collect();
    out.sort();
    out
}

fn vg_of(dir: &Path) -> Vg {
    let text = std::fs::read(dir.join("vgcfgbackup.txt")).unwrap();
    Vg::from_tree(&parse(&text).unwrap()).unwrap()
}

/// The rows of one object kind (`pv`, `vg`) of a JSON report.
fn rows(dir: &Path, file: &str, kind: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["report"][0][kind].as_array().unwrap().clone()
}

fn num(row: &Value, key: &str) -> u64 {
    row[key].as_str().unwrap().parse().unwrap()
}

#[test]
fn extent_counts_match_lvm2_reports() {
    let dirs = scenarios();
    assert!(dirs.len() >= 5, "{dirs:?}");
    for dir in &dirs {
        let vg = vg_of(dir);
        let mut seen = 0;
        for row in rows(dir, "pvs.json", "pv") {
            if row["vg_name"] != vg.name.as_str() {
                continue;
            }
            let i = vg
                .pvs
                .iter()
                .position(|p| row["pv_uuid"] == p.id.as_str())
                .unwrap();
            let ext = vg.extent_bytes();
            assert_eq!(
                vg.pv_used_extents(i),
                num(&row, "pv_pe_alloc_count"),
                "{dir:?} {}",
                vg.pvs[i].key
            );
            assert_eq!(vg.pv_free_extents(i) * ext, num(&row, "pv_free"), "{dir:?}");
            seen += 1;
        }
        assert_eq!(seen, vg.pvs.len(), "{dir:?}");
        let vgs = rows(dir, "vgs.json", "vg");
        let row = vgs
            .iter()
            .find(|r| r["vg_name"] == vg.name.as_str())
            .unwrap();
        assert_eq!(vg.total_extents(), num(row, "vg_extent_count"), "{dir:?}");
        assert_eq!(vg.free_extents(), num(row, "vg_free_count"), "{dir:?}");
    }
}

#[test]
fn visibility_matches_lvs_a() {
    let mut hidden_seen = 0;
    for dir in scenarios() {
        let vg = vg_of(&dir);
        let text = std::fs::read_to_string(dir.join("lvs-a.txt")).unwrap();
        let mut listed = 0;
        for line in text.lines().skip(1) {
            let mut cols = line.split_whitespace();
            let (Some(name), Some(vgname)) = (cols.next(), cols.next()) else {
                continue;
            };
            if vgname != vg.name {
                continue;
            }
            let (name, visible) = match name.strip_prefix('[') {
                Some(n) => (n.trim_end_matches(']'), false),
                None => (name, true),
            };
            let i = vg.lv_index(name).unwrap();
            assert_eq!(vg.lv_visible(i), visible, "{dir:?} {name}");
            hidden_seen += usize::from(!visible);
            listed += 1;
        }
        // lvs -a lists every LV but the snapshot glue, which is never
        // visible.
        for (i, lv) in vg.lvs.iter().enumerate() {
            if lv.is_snapshot_glue() {
                assert!(!vg.lv_visible(i), "{dir:?} {}", lv.name);
            }
        }
        let glue = vg.lvs.iter().filter(|l| l.is_snapshot_glue()).count();
        assert_eq!(listed + glue, vg.lvs.len(), "{dir:?}");
    }
    // The merging snapshot's COW is the hidden LV of the corpus.
    assert!(hidden_seen > 0);
}
