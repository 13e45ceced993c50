//! `lvmsim history` against what lvm2 recorded:
//!
//! * every copy pvck's `--dump metadata_search` found (offset, length, crc,
//!   seqno), per image, equals the copies history lists as found in that
//!   image's first metadata area (lvm2 corpus `*.pvck-metadata_search.txt`,
//!   kernel corpus: the last `NNN.pvck-mdasearch.DISK`);
//! * the description and creation time of every copy equal what
//!   `pvck --dump metadata_all -v` printed (lvm2 corpus);
//! * the changes history names follow from the lvm2 command that wrote the
//!   copy (its `description`, "Write from <command>."): lvcreate -n NAME
//!   creates NAME (a snapshot of the origin the command names, with its
//!   chunk size), lvrename renames, lvremove removes;
//! * `--show SEQNO` prints text whose length and lvm2 CRC (NUL added) are
//!   the ones pvck printed for that seqno;
//! * no image changes (read-only).

use crate::common;

use common::{contents, load, repo, Scenario};
use lvmsim::history::{ChangeJson, ChangeKind, HistoryJson};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// (offset, length, crc, seqno) from pvck's `metadata at ...` lines.
fn pvck_lines(text: &str) -> BTreeSet<(u64, u64, String, u64)> {
    text.lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w.first() == Some(&"metadata") && w.get(1) == Some(&"at")).then(|| {
                (
                    w[2].parse().unwrap(),
                    w[4].parse().unwrap(),
                    w[6].to_owned(),
                    w[10].parse().unwrap(),
                )
            })
        })
        .collect()
}

/// True for the kernel scenarios that damage a PV on purpose (a `zero`
/// step, testdata/README.md): lvm2 no longer finds their VG, lvmsim only
/// with `--scan-all`.
fn damaged(s: &Scenario) -> bool {
    std::fs::read_to_string(s.golden.join("scenario"))
        .is_ok_and(|t| t.lines().any(|l| l.trim_start().starts_with("zero ")))
}

fn history_json(s: &Scenario, extra: &[&str]) -> Value {
    let mut l = s.lvmsim();
    if damaged(s) {
        l = l.arg("--scan-all");
    }
    let o = l.args(["history", "--json"]).args(extra).run();
    assert_eq!(o.status, 0, "{}: {}", s.name, o.stderr);
    serde_json::from_str(&o.text()).unwrap()
}

/// history's copies found in `dev`'s first area, as pvck prints them.
fn ours(h: &Value, dev: &str) -> BTreeSet<(u64, u64, String, u64)> {
    let mut out = BTreeSet::new();
    for c in h["history"].as_array().unwrap() {
        for f in c["found"].as_array().unwrap() {
            // With --scan-all on a damaged PV the copies are guesses.
            if f["device"] == dev && (f["mda"] == 1 || f["guess"] == true) {
                out.insert((
                    f["offset"].as_u64().unwrap(),
                    c["length"].as_u64().unwrap(),
                    c["crc"].as_str().unwrap().to_owned(),
                    c["seqno"].as_u64().unwrap(),
                ));
            }
        }
    }
    out
}

fn lvm2_scenarios() -> Vec<PathBuf> {
    common::scenario_names("lvm2/corpus", "devmap.txt")
        .iter()
        .map(|n| repo().join("testdata/lvm2/corpus").join(n))
        .collect()
}

/// A kernel scenario's final images, named like its record files (pv1 ...).
fn load_kernel(dir: &Path) -> Scenario {
    let work = crate::common::scratch();
    let mut devs = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.ends_with(".img.zst") && n.matches('.').count() == 2
        })
        .collect();
    files.sort();
    for f in files {
        let disk = f
            .file_name()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches(".img.zst")
            .to_owned();
        let out = work.path().join(format!("{disk}.img"));
        common::unzst_to(&f, &out);
        devs.push((disk, out));
    }
    Scenario {
        name: dir.file_name().unwrap().to_string_lossy().into_owned(),
        golden: dir.to_path_buf(),
        work,
        devs,
    }
}

#[test]
fn lvm2_corpus_copies_match_pvck_metadata_search() {
    let mut compared = 0;
    for dir in lvm2_scenarios() {
        let s = load(&dir);
        let before = contents(&s);
        let h = history_json(&s, &[]);
        for (name, path) in &s.devs {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            let rec = dir.join(format!("{stem}.pvck-metadata_search.txt"));
            let Ok(want) = std::fs::read_to_string(&rec) else {
                continue;
            };
            let want = pvck_lines(&want);
            assert_eq!(ours(&h, name), want, "{}: {}", s.name, rec.display());
            compared += want.len();
        }
        assert_eq!(contents(&s), before, "{}: an image changed", s.name);
    }
    assert!(compared > 50, "only {compared} copies compared");
}

/// The copies of kernel scenario `name`.
fn kernel_copies_match_pvck_mdasearch(name: &str) {
    let mut compared = 0;
    let dir = common::kernel(name);
    let s = load_kernel(&dir);
    let before = contents(&s);
    let h = history_json(&s, &[]);
    for (disk, _) in &s.devs {
        let recs = common::records(&dir, &format!(".pvck-mdasearch.{disk}"));
        let Some(last) = recs.last() else { continue };
        let want = pvck_lines(&std::fs::read_to_string(last).unwrap());
        assert_eq!(ours(&h, disk), want, "{}: {}", s.name, last.display());
        compared += want.len();
    }
    assert_eq!(contents(&s), before, "{}: an image changed", s.name);
    eprintln!("{name}: {compared} copies compared");
    // vgcreate's copy and at least two later ones.
    assert!(compared >= 3, "{name}: only {compared} copies compared");
}

/// One test per kernel scenario.
mod kernel_corpus_copies_match_pvck_mdasearch {
    use super::kernel_copies_match_pvck_mdasearch as check;
    use crate::common::scenario_tests;

    scenario_tests!("kernel", "scenario", check;
        damaged_label, damaged_mda, linear_fragmented, merge_complete, merge_interrupted,
        merge_with_sibling, ring_wrap, snap_areas, snap_chunks, snap_drop_reuse, snap_extend,
        snap_full_edges, snap_lvremove, snap_overflow, snap_overflow_blocks, snap_partial_chunk,
        snap_striped_origin, snap_write_overflow, striped_mdacopies, two_snaps_one_overflows,
        walkthrough, walkthrough_merge,
        plan_threshold, thin_pool,
        raid_levels,
        thin_recover,
        thin_resize,
        thin_merge,
        cache_writeback, writecache,
    );
}

/// `pvck --dump metadata_all -v`: (offset, seqno) -> (description, time).
fn pvck_verbose(text: &str) -> Vec<(u64, u64, String, i64)> {
    let mut out = Vec::new();
    let mut cur: Option<(u64, u64)> = None;
    let mut desc = String::new();
    for l in text.lines() {
        let t = l.trim();
        let w: Vec<&str> = t.split_whitespace().collect();
        if w.first() == Some(&"metadata") && w.get(1) == Some(&"at") {
            cur = Some((w[2].parse().unwrap(), w[10].parse().unwrap()));
        } else if let Some(d) = t.strip_prefix("description = ") {
            desc = d.trim_matches('"').to_owned();
        } else if let Some(v) = t.strip_prefix("creation_time = ") {
            let (off, seq) = cur.take().unwrap();
            let time = v.split_whitespace().next().unwrap().parse().unwrap();
            out.push((off, seq, std::mem::take(&mut desc), time));
        }
    }
    out
}

#[test]
fn descriptions_and_times_match_pvck_verbose() {
    let mut compared = 0;
    for dir in lvm2_scenarios() {
        let s = load(&dir);
        let h = history_json(&s, &[]);
        for (name, path) in &s.devs {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            let Ok(want) =
                std::fs::read_to_string(dir.join(format!("{stem}.pvck-metadata_all-v.txt")))
            else {
                continue;
            };
            for (off, seq, desc, time) in pvck_verbose(&want) {
                let c = h["history"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|c| {
                        c["seqno"] == seq
                            && c["found"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .any(|f| f["device"] == name.as_str() && f["offset"] == off)
                    })
                    .unwrap_or_else(|| panic!("{}: no copy seqno {seq} at {off}", s.name));
                assert_eq!(c["description"], desc.as_str(), "{} seqno {seq}", s.name);
                assert_eq!(c["creation_time"], time, "{} seqno {seq}", s.name);
                compared += 1;
            }
        }
    }
    assert!(compared > 50, "only {compared} copies compared");
}

/// The option value after `flag` in a command line.
fn opt<'a>(words: &[&'a str], flag: &str) -> Option<&'a str> {
    words
        .iter()
        .position(|w| *w == flag)
        .and_then(|i| words.get(i + 1).copied())
}

/// For each copy written by lvcreate, lvrename or lvremove, the typed
/// changes history lists (in this copy and the next one written by the
/// same command, lvm2 writes some commands in two commits) must contain
/// what the command line says, and each change's `text` must be the line
/// the text output prints.
fn check_commands(s: &Scenario, h: &HistoryJson) -> usize {
    let copies = &h.history;
    let mut checked = 0;
    for (i, c) in copies.iter().enumerate() {
        for ch in &c.changes {
            assert!(
                !matches!(ch.change, ChangeKind::Other),
                "{}: untyped change {}",
                s.name,
                ch.text
            );
        }
        let Some(d) = c.description.as_deref() else {
            continue;
        };
        let Some(cmd) = d
            .strip_prefix("Write from ")
            .and_then(|x| x.strip_suffix('.'))
        else {
            continue;
        };
        if i == 0 {
            continue; // nothing before it to compare with
        }
        let mut changes: Vec<&ChangeJson> = Vec::new();
        for x in &copies[i..] {
            let xd = x.description.as_deref().unwrap_or("");
            if x != c && !(xd.starts_with("Write[") && xd.ends_with(&format!("from {cmd}."))) {
                break;
            }
            changes.extend(x.changes.iter());
        }
        // `/dev/VG/LV` names the LV VG/LV (PVs are `/dev/NAME`).
        let cmd = common::kgen::lv_paths(cmd);
        // Without `--config VALUE` (a setting for one command).
        let mut w: Vec<&str> = Vec::new();
        let mut words = cmd.split_whitespace();
        while let Some(x) = words.next() {
            if x == "--config" {
                words.next();
            } else {
                w.push(x);
            }
        }
        type Want = Box<dyn Fn(&ChangeKind) -> bool>;
        let want: Vec<(String, Want)> = match w[0] {
            // Thin pools, thin LVs and thin snapshots (`-T`, `-V`, a
            // snapshot without a size): their changes are not modelled here.
            "lvcreate"
                if w.iter().any(|x| *x == "-T" || *x == "-V")
                    || (w.contains(&"-s") && !w.contains(&"-L")) =>
            {
                continue
            }
            "lvcreate" => {
                // -n may carry the VG (VG/LV).
                let name = opt(&w, "-n")
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_owned();
                let n = name.clone();
                let mut v: Vec<(String, Want)> = vec![(
                    format!("lv_created {name}"),
                    Box::new(move |k| matches!(k, ChangeKind::LvCreated { lv, .. } if *lv == n)),
                )];
                if w.contains(&"-s") {
                    // VG/ORIGIN; PV names after it start with /dev/.
                    let origin = w[1..]
                        .iter()
                        .find(|x| x.contains('/') && !x.starts_with("/dev/"))
                        .unwrap()
                        .rsplit('/')
                        .next()
                        .unwrap()
                        .to_owned();
                    let chunk = chunk_bytes(opt(&w, "-c").unwrap_or("4k"));
                    v.push((
                        format!("snapshot_attached {name} of {origin}, chunk {chunk}"),
                        Box::new(move |k| {
                            matches!(k, ChangeKind::SnapshotAttached { lv, snapshot, .. }
                                if *lv == name && snapshot.origin == origin
                                    && snapshot.chunk_bytes == chunk)
                        }),
                    ));
                }
                v
            }
            "lvrename" => {
                let args: Vec<&str> = w[1..]
                    .iter()
                    .filter(|x| !x.starts_with('-'))
                    .copied()
                    .collect();
                // lvm2 takes each LV name after its last slash.
                let last = |x: &str| x.rsplit('/').next().unwrap().to_owned();
                let (from, to) = if args.len() == 3 {
                    (last(args[1]), last(args[2]))
                } else {
                    (last(args[0]), last(args[1]))
                };
                vec![(
                    format!("lv_renamed {from} -> {to}"),
                    Box::new(
                        move |k| matches!(k, ChangeKind::LvRenamed { from: f, to: t } if *f == from && *t == to),
                    ),
                )]
            }
            "lvremove" => w[1..]
                .iter()
                .filter(|x| !x.starts_with('-'))
                .map(|x| {
                    let name = lvmsim::names::lv_arg(x).unwrap().lv.unwrap();
                    let n = name.clone();
                    let f: Want = Box::new(move |k| {
                        matches!(k, ChangeKind::LvRemoved { lv, .. }
                            | ChangeKind::SnapshotMerged { lv, .. } if *lv == n)
                    });
                    (format!("lv_removed {name}"), f)
                })
                .collect(),
            _ => continue,
        };
        for (what, ok) in want {
            assert!(
                changes.iter().any(|ch| ok(&ch.change)),
                "{}: seqno {} ({d}): no change {what} in {changes:?}",
                s.name,
                c.seqno
            );
            checked += 1;
        }
    }
    checked
}

/// lvcreate's `-c` in bytes (KiB unless a unit says otherwise).
fn chunk_bytes(c: &str) -> u64 {
    let (num, unit) = c.split_at(c.find(|x: char| !x.is_ascii_digit()).unwrap_or(c.len()));
    let n: u64 = num.parse().unwrap();
    match unit {
        "" | "k" | "K" => n << 10,
        "m" | "M" => n << 20,
        u => panic!("chunk size unit {u}"),
    }
}

fn typed(v: &Value) -> HistoryJson {
    let h: HistoryJson = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(h.schema, lvmsim::history::HISTORY_SCHEMA);
    h
}

#[test]
fn changes_follow_the_commands_lvm2_recorded() {
    let mut checked = 0;
    for dir in lvm2_scenarios() {
        let s = load(&dir);
        checked += check_commands(&s, &typed(&history_json(&s, &[])));
    }
    for name in common::scenario_names("kernel", "scenario") {
        let s = load_kernel(&common::kernel(&name));
        checked += check_commands(&s, &typed(&history_json(&s, &[])));
    }
    assert!(checked > 50, "only {checked} changes checked");
}

#[test]
fn show_prints_the_copy_pvck_found() {
    let s = load_kernel(&repo().join("testdata/kernel/snap-lvremove"));
    let want =
        pvck_lines(&std::fs::read_to_string(s.golden.join("013.pvck-mdasearch.pv1")).unwrap());
    for (_, len, crc, seq) in want {
        let o = show(&s, seq);
        assert_eq!(o.len() as u64 + 1, len, "seqno {seq}: length");
        let mut t = o.into_bytes();
        t.push(0);
        assert_eq!(format!("{:08x}", lvm_crc(&t)), crc, "seqno {seq}");
    }
}

#[test]
fn show_prints_wrapped_copies_whole() {
    let s = load(&repo().join("testdata/lvm2/corpus/ring-wrap"));
    let want =
        pvck_lines(&std::fs::read_to_string(s.golden.join("a.pvck-metadata_search.txt")).unwrap());
    // The last copy runs past the area's end (4096 + 126976) and wraps.
    assert!(want
        .iter()
        .any(|(off, len, _, _)| off + len > 4096 + 126_976));
    for (_, len, crc, seq) in want {
        let mut t = show(&s, seq).into_bytes();
        t.push(0);
        assert_eq!(t.len() as u64, len, "seqno {seq}: length");
        assert_eq!(format!("{:08x}", lvm_crc(&t)), crc, "seqno {seq}");
    }
}

/// `history --show SEQNO` on the images of `s`.
fn show(s: &Scenario, seq: u64) -> String {
    let o = s
        .lvmsim()
        .args(["history", "--show", &seq.to_string()])
        .run();
    assert_eq!(o.status, 0, "{}", o.stderr);
    o.text()
}

/// lvm2's metadata checksum (`calc_crc`, initial value 0xf597a6cf), written
/// here from its definition so the test does not use the code under test.
fn lvm_crc(buf: &[u8]) -> u32 {
    let mut crc: u32 = 0xf597_a6cf;
    for &b in buf {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// The top-level `creation_host` of the committed copy (lvm2 writes it with
/// the uname comment), as pvck printed that copy, is the copy's
/// `creation_host` in the typed JSON.
#[test]
fn creation_hosts_match_pvck_metadata() {
    let mut compared = 0;
    for dir in lvm2_scenarios() {
        let s = load(&dir);
        let h = typed(&history_json(&s, &[]));
        for (name, path) in &s.devs {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            let Ok(want) = std::fs::read_to_string(dir.join(format!("{stem}.pvck-metadata.txt")))
            else {
                continue;
            };
            let Some(head) = want.lines().next() else {
                continue;
            };
            let w: Vec<&str> = head.split_whitespace().collect();
            if w.len() < 11 || w[0] != "metadata" {
                continue;
            }
            let (off, seq): (u64, u32) = (w[3].parse().unwrap(), w[10].parse().unwrap());
            let host = want
                .lines()
                .find_map(|l| {
                    let (v, _) = l.strip_prefix("creation_host = \"")?.split_once("\"\t#")?;
                    Some(v.to_owned())
                })
                .unwrap();
            let c = h
                .history
                .iter()
                .find(|c| {
                    c.seqno == seq && c.found.iter().any(|f| f.device == *name && f.offset == off)
                })
                .unwrap_or_else(|| panic!("{}: no copy seqno {seq} at {off}", s.name));
            assert_eq!(
                c.creation_host.as_deref(),
                Some(host.as_str()),
                "{}",
                s.name
            );
            compared += 1;
        }
    }
    assert!(compared > 10, "only {compared} hosts compared");
}
