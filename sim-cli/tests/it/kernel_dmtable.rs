//! `lvmsim dmsetup table` equals the kernel's recorded `dmsetup table`:
//! the last record of every scenario on its final images, and the merge
//! in progress of `merge-interrupted` (step 023, boot 2) on the images boot
//! 1 left. Device numbers `253:N` depend on the order devices were created
//! since boot; lvmsim numbers them as a fresh `vgchange -ay` does, so a
//! record showing them is used only if the VG was activated from nothing
//! after its last lvcreate (the test asserts it), or with the kernel's
//! numbers passed with `--minor` (thin-pool, see [`ACTIVE_TABLE`]).

use crate::common;

use common::scenario_tests;
use std::path::Path;

/// Steps that leave the metadata as it is.
fn read_only(step: &str) -> bool {
    [
        "check ",
        "checkblocks ",
        "write ",
        "report",
        "expect-status ",
        "dmsetup ",
        "poweroff",
        "vgchange -an",
        "lvchange -an",
        "throttle",
        "sleep",
        "lvs ",
        "vgs",
    ]
    .iter()
    .any(|p| step.starts_with(p))
        // A deactivation with options (`vgchange --config ... -an vg`).
        || (step.starts_with("vgchange ") && step.split_whitespace().any(|w| w == "-an"))
}

struct Step {
    n: u32,
    boot: u32,
    text: String,
    /// The step failed (as the scenario expected): it changed nothing.
    failed: bool,
}

fn steps(dir: &Path) -> Vec<Step> {
    std::fs::read_to_string(dir.join("steps.tsv"))
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Step {
                n: f[0].parse().unwrap(),
                boot: f[1].parse().unwrap(),
                text: f[5].trim_start_matches("! ").to_owned(),
                failed: f[2] != "0",
            }
        })
        .collect()
}

/// The table step `step` recorded: its `dmsetup table` output, or the
/// table its `report` took.
fn recorded(dir: &Path, step: u32) -> String {
    let report = dir.join(format!("{step:03}.dmsetup-table"));
    let file = if report.exists() {
        report
    } else {
        dir.join(format!("{step:03}.stdout"))
    };
    std::fs::read_to_string(file).unwrap()
}

/// Compares lvmsim's table on `images` (`DISK.img.zst` suffix) with the
/// record of step `step`, the devices of `minors` numbered as given.
fn compare(dir: &Path, suffix: &str, step: u32, minors: &[(&str, u32)]) -> Result<(), String> {
    // `--minor` options go where the device names would.
    let args: Vec<String> = minors
        .iter()
        .flat_map(|(dm, m)| ["--minor".to_owned(), format!("{dm}={m}")])
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = common::kernel_dmsetup_named(dir, suffix, "table", &args);
    if o.status != 0 {
        return Err(o.stderr);
    }
    let want = recorded(dir, step);
    if o.text() != want {
        return Err(format!("kernel:\n{want}lvmsim:\n{}", o.text()));
    }
    Ok(())
}

/// A record showing `253:N` numbers must come after an activation of the
/// VG from nothing (`vgchange -ay` with no lvcreate after it).
fn fresh(all: &[Step], step: u32, table: &str) -> bool {
    if !table.contains("253:") {
        return true;
    }
    let mut fresh = false;
    for s in all.iter().filter(|s| s.n < step) {
        if s.text.starts_with("vgchange -ay") {
            fresh = true;
        } else if s.text.starts_with("lvcreate") || s.text.starts_with("lvconvert") {
            fresh = false;
        }
    }
    fresh
}

/// Scenarios whose last table cannot be compared: the forensic ones that
/// damage the label or metadata after it (a `zero` step: their final images
/// no longer describe it), and one whose last table was not taken after a
/// fresh activation (see [`fresh`]); raid-levels also wipes two PVs
/// after its last healthy table (that one is compared in kernel_raid.rs).
const NOT_COMPARABLE: &[&str] = &[
    "damaged-label",
    "damaged-mda",
    "snap-overflow-blocks",
    "raid-levels",
    // lvmsim's dmsetup does not print integrity targets yet (raid1 ri);
    // the writecache lines are compared in kernel_writecache.rs.
    "writecache",
];

/// Scenarios whose tables lvmsim does not print yet, and why.
const NOT_TABLED: &[(&str, &str)] = &[
    (
        "thin-recover",
        "it records no dmsetup table (its VG was deactivated before the report)",
    ),
    (
        "thin-resize",
        "its only table (step 011) is from before the pools were extended, and the VG was deactivated before the last report",
    ),
];

/// Scenarios whose last table comes after an activation lvmsim cannot
/// number (`vgchange --config ... -ay`), with the minor numbers the
/// kernel's table lines show for the thin pools' devices: thin-merge's
/// step 069, after step 063's activation, names pool's `_tmeta`, `_tdata`
/// and `-tpool` as 253:0..2, epool's as 253:5..7 and qpool's as
/// 253:10..12.
const FINAL_MINORS: &[(&str, Minors)] = &[(
    "thin-merge",
    &[
        ("vg-pool_tmeta", 0),
        ("vg-pool_tdata", 1),
        ("vg-pool-tpool", 2),
        ("vg-epool_tmeta", 5),
        ("vg-epool_tdata", 6),
        ("vg-epool-tpool", 7),
        ("vg-qpool_tmeta", 10),
        ("vg-qpool_tdata", 11),
        ("vg-qpool-tpool", 12),
    ],
)];

/// Device-mapper names and the minor numbers the kernel gave them.
type Minors = &'static [(&'static str, u32)];

/// Scenarios whose VG was deactivated before their last table (`No
/// devices found`; lvmsim lists the VG as activated): the table compared
/// is step `.1`, the last one taken while active. A thin pool's devices
/// are numbered by lvm2's activation order, which a fresh activation does
/// not pin down (lvmsim asks for them with `--minor`): `.2` are the
/// kernel's numbers, from the scenario's history: the pool was the first
/// device-mapper device of the boot (step 3, `lvcreate -T`), and its
/// metadata, data and `-tpool` devices took minors 0, 1 and 2 in lvm2's
/// creation order (children first: metadata, data, then the pool).
const ACTIVE_TABLE: &[(&str, u32, Minors)] = &[(
    "thin-pool",
    25,
    &[
        ("vg-pool_tmeta", 0),
        ("vg-pool_tdata", 1),
        ("vg-pool-tpool", 2),
    ],
)];

/// Scenarios whose last table shows device numbers from their history,
/// not from a fresh activation, given here as the record shows them:
/// cache-writeback's step 037, where each `lvconvert --type cache`
/// created the pool's data and metadata devices and the origin's
/// `_corig` in that order (lvm2's creation order, which lvmsim follows).
const PINNED_TABLE: &[(&str, u32, Minors)] = &[(
    "cache-writeback",
    37,
    &[
        ("vg-p1_cpool_cdata", 3),
        ("vg-p1_cpool_cmeta", 4),
        ("vg-c1_corig", 5),
        ("vg-p2_cpool_cdata", 6),
        ("vg-p2_cpool_cmeta", 7),
        ("vg-c2_corig", 8),
        ("vg-p3_cpool_cdata", 9),
        ("vg-p3_cpool_cmeta", 10),
        ("vg-c3_corig", 11),
    ],
)];

/// Compares the tables of scenario `name`: its last one, and for a
/// scenario with images from after boot 1 the first table of boot 2.
fn tables_equal_the_kernels(name: &str) {
    if let Some((_, why)) = NOT_TABLED.iter().find(|(n, _)| *n == name) {
        eprintln!("{name}: not compared: {why}");
        return;
    }
    let dir = &common::kernel(name);
    let mut failures = Vec::new();
    let mut compared = 0;
    let all = steps(dir);
    if name == "writecache" {
        // lvmsim's dmsetup does not table integrity targets yet.
        return verdict(name, compared, &failures);
    }
    if all.iter().any(|s| s.text.starts_with("zero ")) {
        // The forensic scenarios damage the label or metadata after the
        // last table: their final images no longer describe it.
        return verdict(name, compared, &failures);
    }
    let mut tables: Vec<u32> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter_map(|f| f.strip_suffix(".dmsetup-table").map(|n| n.parse().unwrap()))
        .collect();
    tables.sort();
    let mut last = *tables.last().expect("a dmsetup table recorded");
    let mut minors: &[(&str, u32)] = &[];
    if let Some(&(_, step, m)) = PINNED_TABLE.iter().find(|e| e.0 == name) {
        assert_eq!(
            step, last,
            "{name}: the pinned numbers are those of the last table"
        );
        minors = m;
    }
    if let Some(&(_, step, m)) = ACTIVE_TABLE.iter().find(|e| e.0 == name) {
        // The chosen step is a `dmsetup table` that listed devices, and
        // every later table (a step's or a report's) lists none.
        let is_table = |n: u32| all.iter().any(|s| s.n == n && s.text == "dmsetup table");
        assert!(is_table(step), "{name}: step {step} is a dmsetup table");
        assert!(
            recorded(dir, step).contains(" thin-pool "),
            "{name}: {step}"
        );
        for t in all.iter().map(|s| s.n).filter(|&n| n > step) {
            if is_table(t) || tables.contains(&t) {
                assert_eq!(recorded(dir, t), "No devices found\n", "{name}: table {t}");
            }
        }
        last = step;
        minors = m;
    } else if let Some(&(_, m)) = FINAL_MINORS.iter().find(|e| e.0 == name) {
        minors = m;
    }
    for s in all.iter().filter(|s| s.n > last && !s.failed) {
        assert!(
            read_only(&s.text),
            "{name}: step {} ({}) after the last table changes the metadata",
            s.n,
            s.text
        );
    }
    let text = recorded(dir, last);
    if minors.is_empty() && !fresh(&all, last, &text) {
        // Its 253:N numbers depend on the order devices were created
        // in, not on a fresh activation lvmsim numbers as.
        eprintln!("{name}: last table (step {last}) not after a fresh activation; not compared");
        return verdict(name, compared, &failures);
    }
    if let Err(e) = compare(dir, "img.zst", last, minors) {
        failures.push(format!("{name} step {last}: {e}"));
    }
    compared += 1;
    // thin-merge's boot 2 starts with `lvconvert --merge`: no table
    // shows the state boot 1 left.
    if dir.join("pv1.after-boot1.img.zst").exists() && name != "thin-merge" {
        // The first table of boot 2, before anything changed metadata
        // in that boot: the state boot 1 left.
        let step = *tables
            .iter()
            .find(|&&t| {
                all.iter().any(|s| s.n == t && s.boot == 2)
                    && all
                        .iter()
                        .filter(|s| s.boot == 2 && s.n < t)
                        .all(|s| read_only(&s.text) || s.text.contains("--poll n"))
            })
            .expect("a boot 2 table before any metadata change");
        let text = std::fs::read_to_string(dir.join(format!("{step:03}.dmsetup-table"))).unwrap();
        assert!(
            text.contains("snapshot-merge"),
            "{name}: {step} holds the merge"
        );
        if let Err(e) = compare(dir, "after-boot1.img.zst", step, &[]) {
            failures.push(format!("{name} after boot 1, step {step}: {e}"));
        }
        compared += 1;
    }
    verdict(name, compared, &failures);
}

fn verdict(name: &str, compared: usize, failures: &[String]) {
    eprintln!("{name}: {compared} tables compared");
    if NOT_COMPARABLE.contains(&name) {
        assert_eq!(compared, 0, "{name}: listed as not comparable");
    } else {
        assert!(compared > 0, "{name}: no table compared");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

scenario_tests!("kernel", "scenario", tables_equal_the_kernels;
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
