//! The teaching and planning commands against the kernel corpus:
//!
//! * `cow dump`: for every snapshot store of the corpus, the header, areas
//!   and records lvmsim reads equal what testdata/gen/cowdump.py (the
//!   project's independent Python reader) printed for the kernel-written
//!   image: the goldens in testdata/cowdump/, made by
//!   testdata/gen/cowdump-goldens at the place the kernel's own
//!   `dmsetup table` gave for the COW device;
//! * `map`: the SVGs parse as XML; a COW picture has one cell per chunk of
//!   each kind the golden counts, a VG picture as many extents per LV as
//!   the kernel's `pvs --segments` report;
//! * `plan`: for testdata/kernel/plan-threshold, whose workload ran
//!   against snapshots one extent either side of the threshold, plan's
//!   smallest size per chunk size is the smallest the kernel kept valid,
//!   one extent less is one the kernel invalidated, and `-L` of every
//!   snapshot gives the kernel's final `dmsetup status`;
//! * `write --explain`: the scenario's writes replayed from blank images
//!   explain, per snapshot, exactly the records the kernel's store holds,
//!   in their order.
//! * `plot`: for every snapshot size of plan-threshold, the CSV's last
//!   Data% per chunk size is plan's for that size and, for the snapshot's
//!   own chunk size, the kernel's `lvs` Data%; the write the CSV first
//!   marks invalid is plan's, and the kernel's invalidated store holds
//!   exactly the origin chunks of the writes before it; the SVG has a
//!   polyline per chunk size with a point per write and the invalid marker
//!   at that write.

use crate::common::{self, kgen};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One golden of testdata/cowdump/ as cowdump.py printed it.
#[derive(Debug, Default)]
struct Golden {
    scenario: String,
    vg: String,
    lv: String,
    /// A snapshot gone from the last table.
    dropped: bool,
    /// For a dropped snapshot: the metadata seqno recorded with the last
    /// table that had it (`None` when that table was a `dmsetup table`
    /// step's output, recorded without metadata).
    seqno: Option<u32>,
    /// The COW's segments: (disk, start sector, sectors).
    segments: Vec<(String, u64, u64)>,
    valid: u32,
    version: u32,
    chunk_sectors: u64,
    cow_chunks: u64,
    per_area: u64,
    /// (area, chunk, records) and None for "past the end".
    areas: Vec<(u64, u64, Option<u64>)>,
    records: Vec<(u64, u64)>,
    total: usize,
}

fn field(line: &str, key: &str) -> u64 {
    let v = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{key} in {line}"));
    match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).unwrap(),
        None => v.parse().unwrap(),
    }
}

fn goldens() -> Vec<Golden> {
    let dir = common::repo().join("testdata/cowdump");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cowdump"))
        .collect();
    files.sort();
    files.iter().map(|f| parse_golden(f)).collect()
}

fn parse_golden(f: &Path) -> Golden {
    let text = std::fs::read_to_string(f).unwrap();
    let stem = f.file_stem().unwrap().to_str().unwrap();
    let mut parts = stem.splitn(3, '.');
    let mut g = Golden {
        scenario: parts.next().unwrap().into(),
        vg: parts.next().unwrap().into(),
        lv: parts.next().unwrap().trim_end_matches(".dropped").into(),
        dropped: stem.ends_with(".dropped"),
        ..Golden::default()
    };
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if line.starts_with('#') {
            // # ... COW DISK:START+LEN[,DISK:START+LEN...] (from ...)
            let i = w.iter().position(|x| *x == "COW").unwrap();
            if let Some(j) = w.iter().position(|x| *x == "seqno") {
                g.seqno = w[j + 1].trim_end_matches(')').parse().ok();
            }
            for seg in w[i + 1].split(',') {
                let (disk, rest) = seg.split_once(':').unwrap();
                let (start, len) = rest.split_once('+').unwrap();
                g.segments
                    .push((disk.into(), start.parse().unwrap(), len.parse().unwrap()));
            }
        } else if line.starts_with("header ") {
            assert_eq!(field(line, "magic"), 0x7041_6e53, "{}", f.display());
            g.valid = field(line, "valid") as u32;
            g.version = field(line, "version") as u32;
            g.chunk_sectors = field(line, "chunk_sectors");
        } else if line.starts_with("cow_chunks=") {
            g.cow_chunks = field(line, "cow_chunks");
            g.per_area = field(line, "exceptions_per_area");
        } else if line.starts_with("area ") {
            let area = w[1].parse().unwrap();
            let chunk = w[4].trim_end_matches(':').parse().unwrap();
            let n = if line.contains("past the end") {
                None
            } else {
                Some(w[5].parse().unwrap())
            };
            g.areas.push((area, chunk, n));
        } else if line.starts_with("   old ") {
            g.records
                .push((w[1].parse().unwrap(), w[4].parse().unwrap()));
        } else if line.starts_with("records=") {
            g.total = field(line, "records") as usize;
        }
    }
    assert_eq!(
        g.records.len(),
        g.total,
        "{}: every record listed",
        f.display()
    );
    g
}

/// A scenario's final images, decompressed, and the system lvmsim scans.
struct Images {
    _dir: tempfile::TempDir,
    paths: Vec<PathBuf>,
}

fn images(scenario: &str) -> Images {
    let src = common::kernel(scenario);
    let dir = common::scratch();
    let script = std::fs::read_to_string(src.join("scenario")).unwrap();
    let paths = kgen::disks(&script)
        .into_iter()
        .map(|(name, _, _)| {
            let p = dir.path().join(format!("{name}.img"));
            common::unzst_to(&src.join(format!("{name}.img.zst")), &p);
            p
        })
        .collect();
    Images { _dir: dir, paths }
}

fn scan(paths: &[PathBuf]) -> lvm_meta::scan::System {
    lvmsim::scan(paths, false, &mut std::io::sink()).unwrap()
}

/// Scenarios whose label or metadata-area header was damaged on purpose:
/// their VG is found with --scan-all.
const DAMAGED: &[&str] = &["damaged-label", "damaged-mda"];

#[test]
fn cow_dump_equals_cowdump_py_on_every_corpus_store() {
    let all = goldens();
    assert!(all.len() >= 20, "only {} goldens", all.len());
    assert!(all.iter().filter(|g| g.dropped).count() >= 14);
    let mut by_scenario: BTreeMap<&str, Vec<&Golden>> = BTreeMap::new();
    for g in &all {
        by_scenario.entry(&g.scenario).or_default().push(g);
    }
    for (scenario, gs) in by_scenario {
        let im = images(scenario);
        let all = DAMAGED.contains(&scenario);
        let sys = lvmsim::scan(&im.paths, all, &mut std::io::sink()).unwrap();
        for g in gs {
            let who = format!("{scenario} {}/{} (seqno {:?})", g.vg, g.lv, g.seqno);
            let target = format!("{}/{}", g.vg, g.lv);
            let d = match (g.dropped, g.seqno) {
                (false, _) => lvmsim::cowdump::dump(&sys, &target, None, all, false),
                (true, Some(n)) => lvmsim::cowdump::dump(&sys, &target, Some(n), all, false),
                // The newest metadata copy that puts the COW where the table did.
                (true, None) => {
                    let h = lvmsim::history::of_system(&sys, all, false);
                    h.copies
                        .iter()
                        .rev()
                        .filter(|c| c.vg_name == g.vg)
                        .filter_map(|c| {
                            lvmsim::cowdump::dump(&sys, &target, Some(c.seqno), all, false).ok()
                        })
                        .find(|d| {
                            d.places.first().map(|p| p.image_offset / 512) == Some(g.segments[0].1)
                        })
                        .ok_or_else(|| lvmsim::error::Error::Refused("no copy".into()))
                }
            }
            .unwrap_or_else(|e| panic!("{who}: {e}"));
            // The place the kernel's table gave.
            let total: u64 = g.segments.iter().map(|s| s.2).sum();
            assert_eq!(d.cow_bytes, total * 512, "{who}: COW size");
            let places: Vec<(String, u64, u64)> = d
                .places
                .iter()
                .map(|p| {
                    let disk = Path::new(&p.image).file_stem().unwrap();
                    (
                        disk.to_str().unwrap().to_owned(),
                        p.image_offset / 512,
                        p.len / 512,
                    )
                })
                .collect();
            assert_eq!(places, g.segments, "{who}: the COW's place");
            assert_eq!(
                (d.header.magic, d.header.valid, d.header.version),
                (0x7041_6e53, g.valid, g.version),
                "{who}: header"
            );
            assert_eq!(u64::from(d.header.chunk_size), g.chunk_sectors, "{who}");
            assert_eq!(
                (d.cow_chunks, d.exceptions_per_area),
                (g.cow_chunks, g.per_area),
                "{who}"
            );
            assert_eq!(d.kernel_reads, g.valid != 0, "{who}");
            let areas: Vec<(u64, u64, Option<u64>)> = d
                .areas
                .iter()
                .map(|a| (a.index, a.chunk, a.inside.then_some(a.records)))
                .collect();
            assert_eq!(areas, g.areas, "{who}: areas");
            let recs: Vec<(u64, u64)> = d.records.iter().map(|r| (r.old, r.new)).collect();
            assert_eq!(recs, g.records, "{who}: records");
            for (i, r) in d.records.iter().enumerate() {
                assert_eq!(
                    (r.area, r.index),
                    (i as u64 / g.per_area, i as u64 % g.per_area)
                );
            }
        }
    }
}

/// `dmsetup status` and Data% in the dump are the kernel's recorded ones.
#[test]
fn cow_dump_status_is_the_kernels() {
    let im = images("plan-threshold");
    let sys = scan(&im.paths);
    let lvs = lvs_json("plan-threshold");
    for (name, size, attr, pct) in lvs.iter().filter(|l| l.0 != "origin") {
        let d = lvmsim::cowdump::dump(&sys, &format!("vg/{name}"), None, false, false).unwrap();
        assert_eq!(d.data_percent(), *pct, "{name}");
        assert_eq!(d.kernel_reads, attr.as_bytes()[4] != b'I', "{name}");
        assert_eq!(d.cow_bytes, *size, "{name}");
    }
    let status =
        std::fs::read_to_string(common::kernel("plan-threshold").join("026.dmsetup-status"))
            .unwrap();
    for line in status.lines() {
        let (dm, rest) = line.split_once(": ").unwrap();
        let Some(name) = dm
            .strip_prefix("vg-")
            .filter(|n| n.starts_with('s') && !n.ends_with("-cow"))
        else {
            continue;
        };
        let d = lvmsim::cowdump::dump(&sys, &format!("vg/{name}"), None, false, false).unwrap();
        assert_eq!(
            rest.trim_end(),
            format!("0 8192 snapshot {}", d.status_text()),
            "{name}"
        );
    }
    // The text form runs.
    let mut out = Vec::new();
    lvmsim::cowdump::write_text(
        &lvmsim::cowdump::dump(&sys, "vg/s4k303", None, false, false).unwrap(),
        &mut out,
    )
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("area 1 at chunk 258 (byte 1056768): 44 records"),
        "{text}"
    );
    assert!(
        text.contains("dmsetup status: 2424/2424 24; Data%: 100.00"),
        "{text}"
    );
}

/// (name, lv_size bytes, lv_attr, data_percent) of the last lvs report.
fn lvs_json(scenario: &str) -> Vec<(String, u64, String, String)> {
    let dir = common::kernel(scenario);
    let f = common::records(&dir, ".lvs.json").pop().unwrap();
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
    v["report"][0]["lv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["lv_name"].as_str().unwrap().to_owned(),
                l["lv_size"].as_str().unwrap().parse().unwrap(),
                l["lv_attr"].as_str().unwrap().to_owned(),
                l["data_percent"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Sums of `data-count` by `class` in an SVG (which must parse).
fn svg_counts(svg: &str) -> BTreeMap<String, u64> {
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let mut out = BTreeMap::new();
    for n in doc.descendants().filter(|n| n.has_tag_name("rect")) {
        let (Some(c), Some(k)) = (n.attribute("class"), n.attribute("data-count")) else {
            continue;
        };
        *out.entry(c.to_owned()).or_default() += k.parse::<u64>().unwrap();
    }
    out
}

#[test]
fn cow_maps_have_one_cell_per_chunk_of_each_kind() {
    for (scenario, lv) in [
        ("snap-areas", "snap"),
        ("plan-threshold", "s4k303"),
        ("two-snaps-one-overflows", "big"),
    ] {
        let g = goldens()
            .into_iter()
            .find(|g| g.scenario == scenario && g.lv == lv)
            .unwrap();
        let im = images(scenario);
        let sys = scan(&im.paths);
        let svg = lvmsim::map::draw(&sys, &format!("vg/{lv}"), None, false, false).unwrap();
        let counts = svg_counts(&svg);
        let areas = g.areas.iter().filter(|a| a.2.is_some()).count() as u64;
        let records = g.records.len() as u64;
        let mut want = BTreeMap::from([
            ("header".to_owned(), 1),
            ("area".to_owned(), areas),
            ("exception".to_owned(), records),
            ("free".to_owned(), g.cow_chunks - 1 - areas - records),
        ]);
        want.retain(|_, v| *v > 0);
        assert_eq!(counts, want, "{scenario} {lv}");
        // Every exception cell names its origin chunk.
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let tips: Vec<String> = doc
            .descendants()
            .filter(|n| n.has_tag_name("rect") && n.attribute("class") == Some("exception"))
            .map(|n| n.first_child().unwrap().text().unwrap().to_owned())
            .collect();
        let want: Vec<String> = {
            let mut r = g.records.clone();
            r.sort_by_key(|x| x.1);
            r.iter()
                .map(|(o, n)| format!("COW chunk {n}: origin chunk {o}"))
                .collect()
        };
        assert_eq!(tips, want, "{scenario} {lv}");
    }
}

#[test]
fn vg_map_extents_per_lv_are_the_kernels_segments() {
    for scenario in ["plan-threshold", "snap-striped-origin", "linear-fragmented"] {
        let im = images(scenario);
        let sys = scan(&im.paths);
        let dir = common::kernel(scenario);
        let f = common::records(&dir, ".pvsegs.json").pop().unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        let mut want: BTreeMap<String, u64> = BTreeMap::new();
        for s in v["report"][0]["pvseg"].as_array().unwrap() {
            let lv = s["lv_name"].as_str().unwrap();
            let class = if lv.is_empty() {
                "free".to_owned()
            } else {
                format!("lv lv-{lv}")
            };
            *want.entry(class).or_default() +=
                s["pvseg_size"].as_str().unwrap().parse::<u64>().unwrap();
        }
        let vg = v["report"][0]["pvseg"][0]["vg_name"].as_str().unwrap();
        let svg = lvmsim::map::draw(&sys, vg, None, false, false).unwrap();
        assert_eq!(svg_counts(&svg), want, "{scenario}");
    }
}

/// The origin writes of a scenario after its first `lvcreate -s`, as a
/// plan trace (one line per write the kgen writer issued).
fn trace_of(scenario: &str) -> String {
    let mut out = String::new();
    let mut after_snap = false;
    for s in kgen::steps(&common::kernel(scenario)) {
        let w = &s.words;
        if w[0] == "lvcreate" && w.iter().any(|a| a == "-s") {
            after_snap = true;
        }
        if w[0] == "write" && after_snap {
            for (_, sector, data) in kgen::write_pieces(w) {
                out += &format!("{} {}\n", sector * 512, data.len());
            }
        }
    }
    out
}

#[test]
fn plan_threshold_is_the_smallest_size_the_kernel_kept_valid() {
    let writes = lvmsim::plan::parse_trace(&trace_of("plan-threshold"), 4 << 20).unwrap();
    assert_eq!(writes.len(), 300);
    let extent = 4096;
    let lvs = lvs_json("plan-threshold");
    let cows = cow_chunks("plan-threshold");
    for chunk in [4096u64, 16384] {
        let p = lvmsim::plan::plan_chunk(4 << 20, chunk, extent, &writes).unwrap();
        // The kernel's snapshots with this chunk size: (COW bytes, valid).
        let mut kernel: Vec<(u64, bool)> = lvs
            .iter()
            .filter(|l| cows.get(&l.0) == Some(&(chunk / 512)))
            .map(|l| (l.1, l.2.as_bytes()[4] != b'I'))
            .collect();
        kernel.sort();
        let smallest_valid = kernel.iter().find(|k| k.1).unwrap().0;
        assert_eq!(p.lvm2_bytes, smallest_valid, "chunk {chunk}: {kernel:?}");
        assert!(
            kernel.contains(&(smallest_valid - extent, false)),
            "chunk {chunk}: one extent less is invalid in the kernel: {kernel:?}"
        );
        // Each size the kernel ran: same fate, same Data%.
        for l in lvs
            .iter()
            .filter(|l| cows.get(&l.0) == Some(&(chunk / 512)))
        {
            let r = lvmsim::plan::replay(4 << 20, chunk, l.1, &writes, None).unwrap();
            assert_eq!(
                r.invalidated_at.is_none(),
                l.2.as_bytes()[4] != b'I',
                "{}",
                l.0
            );
            assert_eq!(lvmsim::active::snapshot_percent(r.status), l.3, "{}", l.0);
        }
    }
}

/// Chunk size in sectors of each snapshot, from the kernel's last table.
fn cow_chunks(scenario: &str) -> BTreeMap<String, u64> {
    let dir = common::kernel(scenario);
    let f = common::records(&dir, ".dmsetup-table").pop().unwrap();
    std::fs::read_to_string(f)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let (dm, rest) = l.split_once(": ")?;
            let w: Vec<&str> = rest.split_whitespace().collect();
            (w.get(2) == Some(&"snapshot")).then(|| {
                (
                    dm.strip_prefix("vg-").unwrap().to_owned(),
                    w[6].parse().unwrap(),
                )
            })
        })
        .collect()
}

#[test]
fn plan_cli_prints_the_threshold() {
    let dir = common::scratch();
    let t = dir.path().join("w.trace");
    std::fs::write(&t, trace_of("plan-threshold")).unwrap();
    let o = common::Lvmsim::new()
        .args([
            "plan",
            "--origin-size",
            "4m",
            "--chunk",
            "4k,16k",
            "-s",
            "4k",
            "-L",
            "1208k",
        ])
        .arg("--trace")
        .arg(&t)
        .run();
    assert!(o.ok(), "{}", o.text());
    let text = String::from_utf8(o.stdout.clone()).unwrap();
    assert!(
        text.contains("chunk   4096: 300 exceptions; smallest COW 303 chunks = 1241088 bytes; lvm2: 303 extents = 1241088 bytes, Data% 100.00 (2424/2424 24)"),
        "{text}"
    );
    // The 300th write needs chunk 302 of a 302-chunk COW.
    assert!(
        text.contains("-L 1236992 bytes: invalidated by write 300 (offset"),
        "{text}"
    );
}

/// Replays the scenario's steps from blank images: lvm2 commands through
/// the binary, the writes in-process with their explanation.
#[test]
fn explain_lists_the_kernels_records_in_order() {
    let scenario = "plan-threshold";
    let src = common::kernel(scenario);
    let dir = common::scratch();
    let script = std::fs::read_to_string(src.join("scenario")).unwrap();
    let disks = kgen::disks(&script);
    let mut devs = Vec::new();
    for (name, _, size) in &disks {
        let p = dir.path().join(format!("{name}.img"));
        std::fs::File::create(&p).unwrap().set_len(*size).unwrap();
        devs.push((name.clone(), p));
    }
    let mut explained: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
    for s in kgen::steps(&src) {
        let w = &s.words;
        match w[0].as_str() {
            "pvcreate" | "vgcreate" | "lvcreate" => {
                let args: Vec<String> = w
                    .iter()
                    .map(|a| match a.strip_prefix('@') {
                        Some(d) => devs
                            .iter()
                            .find(|x| x.0 == d)
                            .unwrap()
                            .1
                            .display()
                            .to_string(),
                        None => a.clone(),
                    })
                    .collect();
                let mut l = common::Lvmsim::new();
                for (_, p) in &devs {
                    l = l.arg("--dev").arg(p);
                }
                let o = l.args(&args).run();
                assert!(o.ok(), "step {}: {}", s.n, o.text());
            }
            "write" => {
                let paths: Vec<PathBuf> = devs.iter().map(|d| d.1.clone()).collect();
                for (lv, sector, data) in kgen::write_pieces(w) {
                    let sys = scan(&paths);
                    let log = lvmsim::explain::log();
                    lvmsim::data::write_with_events(
                        &sys,
                        &lv,
                        sector * 512,
                        &mut &data[..],
                        &lvmsim::context::WriteHooks::default(),
                        &mut std::io::sink(),
                        Some(&log),
                    )
                    .unwrap();
                    let (vgn, _) = lvmsim::names::vg_lv(&lv).unwrap();
                    let vg = &sys.vg_or_err(&vgn).unwrap().vg;
                    for line in lvmsim::explain::lines(vg, &lvmsim::explain::take(&log)) {
                        // origin chunk O -> SNAP COW chunk N (area A, record R)
                        let t: Vec<&str> = line.split_whitespace().collect();
                        if t[0] == "origin" {
                            explained
                                .entry(t[4].to_owned())
                                .or_default()
                                .push((t[2].parse().unwrap(), t[7].parse().unwrap()));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let gs: Vec<Golden> = goldens()
        .into_iter()
        .filter(|g| g.scenario == scenario)
        .collect();
    assert_eq!(gs.len(), explained.len());
    for g in gs {
        assert_eq!(explained[&g.lv], g.records, "{}", g.lv);
    }
}

#[test]
fn a_dropped_store_on_reused_extents_says_so() {
    let im = images("snap-drop-reuse");
    let sys = scan(&im.paths);
    let b = lvmsim::cowdump::dump(&sys, "vg/b", Some(9), false, false).unwrap();
    // The scenario gave b's PE 12-15 to reb (see its scenario file).
    assert_eq!(b.notes.len(), 1, "{:?}", b.notes);
    assert!(
        b.notes[0].contains("pv0:12-15 were given to reb"),
        "{:?}",
        b.notes
    );
    let c = lvmsim::cowdump::dump(&sys, "vg/c", Some(9), false, false).unwrap();
    assert!(c.notes.is_empty(), "c's extents stayed free: {:?}", c.notes);
    let e = lvmsim::cowdump::dump(&sys, "vg/b", Some(999), false, false).unwrap_err();
    assert_eq!(e.to_string(), "no copy of vg with seqno 999 has an LV b");
}

/// The same writes as a trace and as the difference of two images give
/// the same plan.
#[test]
fn plan_from_a_diff_equals_plan_from_its_trace() {
    let dir = common::scratch();
    let origin = 1u64 << 20;
    let old: Vec<u8> = (0..origin).map(|i| (i % 251) as u8).collect();
    let mut new = old.clone();
    let writes = [
        (4096u64, 8192u64),
        (100_000, 1),
        (524_288, 65_536),
        (1_048_064, 512),
    ];
    let mut trace = String::new();
    for (off, len) in writes {
        for b in &mut new[off as usize..(off + len) as usize] {
            *b ^= 0xff;
        }
        trace += &format!("{off} {len}\n");
    }
    std::fs::write(dir.path().join("old.img"), &old).unwrap();
    std::fs::write(dir.path().join("new.img"), &new).unwrap();
    std::fs::write(dir.path().join("w.trace"), &trace).unwrap();
    let plan = |extra: &[&str]| {
        let o = common::Lvmsim::new()
            .cwd(dir.path())
            .args([
                "plan",
                "--origin-size",
                "1m",
                "-s",
                "64k",
                "--json",
                "--chunk",
                "4k,16k,64k",
            ])
            .args(extra)
            .run();
        assert!(o.ok(), "{}", o.text());
        let mut v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        // A diff sees whole sectors: the 1-byte write is a 512-byte one.
        v["bytes_written"] = 0.into();
        v
    };
    let a = plan(&["--trace", "w.trace"]);
    let b = plan(&["--diff", "old.img", "new.img"]);
    assert_eq!(a, b);
    // 4k chunks: 2 + 1 + 16 + 1 chunks touched... counted by the engine:
    // chunks 1, 2 (8 KiB at 4096), 24 (byte 100000), 128..143, 255.
    assert_eq!(a["chunks"][0]["exceptions"], 20);
    assert_eq!(a["chunks"][0]["min_chunks"], 22);
}

#[test]
fn plan_refuses_bad_workloads_with_the_line() {
    let dir = common::scratch();
    let cases: &[(&str, &str)] = &[
        (
            "0 4096\n1 2 3\n",
            "trace line 2: expected OFFSET LENGTH in bytes",
        ),
        (
            "0 4096\n\n1048576 1\n",
            "trace line 3: write of 1 bytes at 1048576 runs past the origin's end (1048576 bytes)",
        ),
        ("x 1\n", "trace line 1: expected OFFSET LENGTH"),
    ];
    for (text, want) in cases {
        std::fs::write(dir.path().join("w.trace"), text).unwrap();
        let o = common::Lvmsim::new()
            .cwd(dir.path())
            .args(["plan", "--origin-size", "1m", "--trace", "w.trace"])
            .run();
        assert_eq!(o.status, 3, "{}", o.text());
        assert!(o.stderr.contains(want), "{}", o.stderr);
    }
    let o = common::Lvmsim::new()
        .cwd(dir.path())
        .args(["plan", "--origin-size", "1m", "--trace", "nope.trace"])
        .run();
    assert_ne!(o.status, 0);
    assert!(o.stderr.contains("nope.trace: cannot read"), "{}", o.stderr);
    let o = common::Lvmsim::new()
        .cwd(dir.path())
        .args([
            "plan",
            "--origin-size",
            "1m",
            "--chunk",
            "3k",
            "--trace",
            "w.trace",
        ])
        .run();
    assert_eq!(o.status, 3, "{}", o.text());
}

/// `--explain=json` of an origin write through the binary: one exception
/// per snapshot, then each area's commit.
#[test]
fn explain_json_names_each_snapshot() {
    let im = images("plan-threshold");
    let mut l = common::Lvmsim::new();
    for p in &im.paths {
        l = l.arg("--dev").arg(p);
    }
    // Chunk 600 of the origin (4k chunks), untouched by the workload.
    let o = l
        .args([
            "write",
            "vg/origin",
            "--offset",
            "2457600",
            "--explain=json",
        ])
        .stdin(&[7u8; 512])
        .run();
    assert!(o.ok(), "{}", o.text());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ex: Vec<(String, u64, u64)> = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "exception")
        .map(|e| {
            (
                e["snapshot"].as_str().unwrap().to_owned(),
                e["old"].as_u64().unwrap(),
                e["new"].as_u64().unwrap(),
            )
        })
        .collect();
    // Only the valid stores take it: s4k303 is exactly full (no room),
    // s4k325 has 22 chunks left, s16k608 is full.
    assert_eq!(ex, vec![("s4k325".to_owned(), 600, 303)]);
    let no_room: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "no_room")
        .map(|e| e["snapshot"].as_str().unwrap())
        .collect();
    assert_eq!(no_room, ["s4k303", "s16k608"]);
}

/// `cow dump` and `map` only read: every image is the same after each.
#[test]
fn cow_dump_and_map_leave_the_images_untouched() {
    for (scenario, cmds) in [
        (
            "two-snaps-one-overflows",
            vec![
                vec!["cow", "dump", "vg/small"],
                vec!["cow", "dump", "--json", "vg/big"],
                vec!["map", "vg", "-o", "-"],
                vec!["map", "vg/small", "-o", "-"],
            ],
        ),
        (
            "snap-lvremove",
            vec![
                vec!["cow", "dump", "--seqno", "4", "vg/snap"],
                vec!["map", "--seqno", "4", "vg/snap", "-o", "-"],
            ],
        ),
    ] {
        let s = common::load_kernel(scenario);
        for cmd in cmds {
            let before = common::contents(&s);
            let o = s.lvmsim().args(&cmd).run();
            assert!(o.ok(), "{scenario} {cmd:?}: {}", o.text());
            assert_eq!(
                common::contents(&s),
                before,
                "{scenario} {cmd:?} changed an image"
            );
        }
    }
}

/// A store the kernel refuses past its header is still dumped, from the
/// disk, with the kernel's reason: snap-full-edges' c258 (258 chunks of
/// 4 KiB at sector 12288, see its golden) given a valid header and a full
/// area 0, so that area 1 (chunk 258) lies past the COW's end.
#[test]
fn a_store_the_kernel_refuses_is_dumped_with_the_reason() {
    use std::os::unix::fs::FileExt;
    let im = images("snap-full-edges");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&im.paths[0])
        .unwrap();
    let cow = 12288 * 512u64;
    f.write_all_at(&1u32.to_le_bytes(), cow + 4).unwrap(); // valid = 1
    for i in 0..256u64 {
        let mut rec = [0u8; 16];
        rec[..8].copy_from_slice(&i.to_le_bytes());
        rec[8..].copy_from_slice(&(2 + i).to_le_bytes());
        f.write_all_at(&rec, cow + 4096 + 16 * i).unwrap();
    }
    drop(f);
    let sys = scan(&im.paths);
    let d = lvmsim::cowdump::dump(&sys, "vg/c258", None, false, false).unwrap();
    assert!(!d.kernel_reads);
    assert_eq!(d.records.len(), 256);
    assert_eq!(d.status_text(), "Invalid");
    assert_eq!(
        d.areas
            .iter()
            .map(|a| (a.chunk, a.inside))
            .collect::<Vec<_>>(),
        [(1, true), (258, false)]
    );
    assert_eq!(d.notes.len(), 1);
    assert!(
        d.notes[0].contains("area 1 at chunk 258 lies past the COW's end (258 whole chunks)"),
        "{:?}",
        d.notes
    );
}

/// The plan-threshold workload as a trace file in `dir`, and its writes.
fn threshold_trace(dir: &Path) -> (PathBuf, Vec<lvmsim::plan::Write1>) {
    let trace = trace_of("plan-threshold");
    let t = dir.join("w.trace");
    std::fs::write(&t, &trace).unwrap();
    (t, lvmsim::plan::parse_trace(&trace, 4 << 20).unwrap())
}

/// `lvmsim plan|plot --origin-size 4m --chunk 4k,16k -s 4k -L SIZE
/// --trace T` with `extra`, its stdout.
fn plan_or_plot(cmd: &str, size: &str, t: &Path, extra: &[&str]) -> String {
    let o = common::Lvmsim::new()
        .args([cmd, "--origin-size", "4m", "--chunk", "4k,16k", "-s", "4k"])
        .args(["-L", size])
        .arg("--trace")
        .arg(t)
        .args(extra)
        .run();
    assert!(o.ok(), "{}", o.text());
    String::from_utf8(o.stdout).unwrap()
}

/// plan's `-L` answer per chunk size: (Data%, invalidating write).
fn plan_at_size(json: &str) -> BTreeMap<u64, (String, Option<usize>)> {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let at = &c["at_size"];
            (
                c["chunk_bytes"].as_u64().unwrap(),
                (
                    at["data_percent"].as_str().unwrap().to_owned(),
                    at["invalidated_at_write"].as_u64().map(|n| n as usize),
                ),
            )
        })
        .collect()
}

#[test]
fn plot_ends_where_plan_and_the_kernel_end() {
    let dir = common::scratch();
    let (t, writes) = threshold_trace(dir.path());
    let cows = cow_chunks("plan-threshold");
    let golden = goldens();
    let mut kernel_invalid = 0;
    for (lv, bytes, attr, kernel_pct) in lvs_json("plan-threshold") {
        let Some(&chunk_sectors) = cows.get(&lv) else {
            continue; // the origin
        };
        let size = format!("{}k", bytes / 1024);
        let csv = plan_or_plot("plot", &size, &t, &["--csv"]);
        let plan = plan_at_size(&plan_or_plot("plan", &size, &t, &["--json"]));
        let mut lines = csv.lines();
        assert_eq!(lines.next(), Some("write,chunk,data_percent,valid"));
        let rows: Vec<(usize, u64, String, bool)> = lines
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                assert_eq!(f.len(), 4, "{l}");
                (
                    f[0].parse().unwrap(),
                    f[1].parse().unwrap(),
                    f[2].to_owned(),
                    f[3].parse().unwrap(),
                )
            })
            .collect();
        for (&chunk, (plan_pct, plan_invalid)) in &plan {
            let series: Vec<_> = rows.iter().filter(|r| r.1 == chunk).collect();
            assert_eq!(series.len(), writes.len() + 1, "{lv} chunk {chunk}");
            assert!(series.iter().enumerate().all(|(i, r)| r.0 == i));
            assert_eq!(&series.last().unwrap().2, plan_pct, "{lv} chunk {chunk}");
            let first_invalid = series.iter().find(|r| !r.3).map(|r| r.0);
            assert_eq!(first_invalid, *plan_invalid, "{lv} chunk {chunk}");
            // Once invalid, always invalid (and lvs's 100.00).
            if let Some(n) = first_invalid {
                assert!(series[n..].iter().all(|r| !r.3 && r.2 == "100.00"));
            }
            if chunk != chunk_sectors * 512 {
                continue;
            }
            // The snapshot the kernel ran with this size and chunk.
            assert_eq!(series.last().unwrap().2, kernel_pct, "{lv}");
            assert_eq!(first_invalid.is_some(), attr.as_bytes()[4] == b'I', "{lv}");
            if let Some(n) = first_invalid {
                // The kernel's store kept the chunks of writes 1..n-1 and
                // nothing of write n: it was invalidated at write n.
                let g = golden
                    .iter()
                    .find(|g| g.scenario == "plan-threshold" && g.lv == lv && !g.dropped)
                    .unwrap();
                assert_eq!(g.valid, 0, "{lv}");
                let stored: std::collections::BTreeSet<u64> =
                    g.records.iter().map(|r| r.0).collect();
                let chunks_of =
                    |w: &lvmsim::plan::Write1| w.offset / chunk..=(w.offset + w.len - 1) / chunk;
                let before: std::collections::BTreeSet<u64> =
                    writes[..n - 1].iter().flat_map(chunks_of).collect();
                assert_eq!(stored, before, "{lv}");
                assert!(chunks_of(&writes[n - 1]).any(|c| !stored.contains(&c)));
                kernel_invalid += 1;
            }
        }
    }
    assert_eq!(kernel_invalid, 2, "s4k302 and s16k607");
}

#[test]
fn plot_svg_has_a_line_per_chunk_and_the_invalid_marker_at_plans_write() {
    let dir = common::scratch();
    let (t, writes) = threshold_trace(dir.path());
    let svg_path = dir.path().join("plot.svg");
    let out = svg_path.to_str().unwrap();
    assert!(plan_or_plot("plot", "1208k", &t, &["-o", out]).is_empty());
    let plan = plan_at_size(&plan_or_plot("plan", "1208k", &t, &["--json"]));
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let with = |class: &str| -> Vec<roxmltree::Node> {
        doc.descendants()
            .filter(|n| n.attribute("class") == Some(class))
            .collect()
    };
    let chunk_of =
        |n: &roxmltree::Node| -> u64 { n.attribute("data-chunk").unwrap().parse().unwrap() };
    let lines = with("series");
    assert_eq!(
        lines.iter().map(chunk_of).collect::<Vec<_>>(),
        vec![4096, 16384]
    );
    let markers = with("invalid");
    for line in &lines {
        let chunk = chunk_of(line);
        let points: Vec<(f64, f64)> = line
            .attribute("points")
            .unwrap()
            .split(' ')
            .map(|p| {
                let (x, y) = p.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect();
        assert_eq!(points.len(), writes.len() + 1, "chunk {chunk}");
        // A tooltip per point, naming its write and Data%.
        let tips: Vec<&str> = with("point")
            .into_iter()
            .filter(|n| chunk_of(n) == chunk)
            .map(|n| n.first_child().unwrap().text().unwrap())
            .collect();
        assert_eq!(tips.len(), points.len(), "chunk {chunk}");
        assert_eq!(
            tips[0],
            format!("chunk {}k: write 0: Data% 0.00", chunk / 1024)
        );
        let n = plan[&chunk]
            .1
            .expect("1208k is too small for either chunk size");
        assert_eq!(
            tips[n],
            format!("chunk {}k: write {n}: Data% 100.00 (invalid)", chunk / 1024)
        );
        assert!(!tips[n - 1].ends_with("(invalid)"));
        // The marker: on plan's write, drawn where that point is.
        let m: Vec<_> = markers.iter().filter(|m| chunk_of(m) == chunk).collect();
        assert_eq!(m.len(), 1, "chunk {chunk}");
        assert_eq!(m[0].attribute("data-write"), Some(n.to_string().as_str()));
        let label = m[0]
            .descendants()
            .find(|c| c.has_tag_name("text"))
            .unwrap()
            .text()
            .unwrap();
        assert_eq!(label, format!("{}k: invalid at write {n}", chunk / 1024));
        let d = m[0]
            .descendants()
            .find(|c| c.has_tag_name("path"))
            .unwrap()
            .attribute("d")
            .unwrap();
        let (mx, my) = d[1..].split(' ').next().unwrap().split_once(',').unwrap();
        let (mx, my): (f64, f64) = (mx.parse().unwrap(), my.parse().unwrap());
        assert!(
            (mx + 5.0 - points[n].0).abs() < 0.01,
            "{d} vs {:?}",
            points[n]
        );
        assert!(
            (my + 5.0 - points[n].1).abs() < 0.01,
            "{d} vs {:?}",
            points[n]
        );
    }
    // The 4k snapshot of 1208k is the kernel's s4k302: write 300.
    assert_eq!(plan[&4096].1, Some(300));
}
