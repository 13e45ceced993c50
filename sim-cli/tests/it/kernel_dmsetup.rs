//! `lvmsim dmsetup status` on the final images of every kernel scenario
//! equals the last `dmsetup status` the real kernel printed (snapshot fill
//! levels, Invalid, snapshot-merge, snapshot-origin, -real and -cow layers,
//! striped devices, thin-pool and thin lines with the pool's `-tpool`,
//! `_tmeta` and `_tdata` devices), provided no step after that record
//! changed the disks.

use crate::common;

use common::scenario_tests;

/// Steps that leave the disks as they are.
fn read_only(step: &str) -> bool {
    [
        "check ",
        "checkblocks ",
        "! check ",
        "! checkblocks ",
        // A failed activation activated nothing (damaged-label, damaged-mda).
        "! vgchange -ay ",
        "report",
        "expect-status ",
        "dmsetup ",
        "poweroff",
        "vgchange -an",
        "lvs ",
        "vgs",
    ]
    .iter()
    .any(|p| step.starts_with(p))
        // A deactivation with options (thin-pool's `vgchange --config ...
        // -an vg`): the status committed the pool's metadata before.
        || (step.starts_with("vgchange ") && step.split_whitespace().any(|w| w == "-an"))
}

/// Scenarios whose VG was deactivated before their last status (`No
/// devices found`; lvmsim lists the VG as activated): the status compared
/// is the one step `.1` printed, the last taken while active.
const ACTIVE_STATUS: &[(&str, u32)] = &[("thin-pool", 26), ("thin-recover", 22)];

/// Scenarios whose status lines are not compared, and why.
const NOT_COMPARED: &[(&str, &str)] = &[
    (
        "raid-levels",
        "its last status is of the degraded boot (missing images as error devices); the healthy one is compared in kernel_raid.rs",
    ),
    (
        "cache-writeback",
        "its last status shows counters the kernel kept in memory (hits, promotions, dirty blocks, a migration_threshold set by dmsetup message) and c2 was deactivated after it; kernel_cache.rs compares it field by field",
    ),
    (
        "writecache",
        "lvmsim's dmsetup does not print integrity targets yet (raid1 ri); its writecache lines are compared in kernel_writecache.rs",
    ),
    (
        "thin-resize",
        "its only status while active (step 022) lists p2 alone (lvchange -ay vg/p2); lvmsim lists every LV as activated",
    ),
];

/// The last `dmsetup status` of scenario `name` against lvmsim's on its
/// final images.
fn final_status_lines_equal_the_kernels(name: &str) {
    if let Some((_, why)) = NOT_COMPARED.iter().find(|(n, _)| *n == name) {
        eprintln!("{name}: not compared: {why}");
        return;
    }
    let dir = &common::kernel(name);
    let mut last: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|f| f.ends_with(".dmsetup-status"))
        .collect();
    last.sort();
    let Some(mut last) = last.pop() else {
        panic!("{name}: no dmsetup status recorded")
    };
    let mut step: u32 = last[..3].parse().unwrap();
    let steps = std::fs::read_to_string(dir.join("steps.tsv")).unwrap();
    if let Some(&(_, active)) = ACTIVE_STATUS.iter().find(|e| e.0 == name) {
        // The chosen step is a `dmsetup status` that listed devices; every
        // later status (a step's or the report's) lists none.
        let is_status = |l: &str| l.split('\t').nth(5) == Some("dmsetup status");
        for l in steps.lines() {
            let n: u32 = l.split('\t').next().unwrap().parse().unwrap();
            let out = std::fs::read_to_string(dir.join(format!("{n:03}.stdout")));
            if n == active {
                assert!(is_status(l), "{name}: step {n} is a dmsetup status");
                assert!(out.unwrap().contains(" thin-pool "), "{name}: step {n}");
            } else if n > active && is_status(l) {
                assert_eq!(out.unwrap(), "No devices found\n", "{name}: step {n}");
            }
        }
        let report = std::fs::read_to_string(dir.join(&last)).unwrap();
        assert_eq!(report, "No devices found\n", "{name}: {last}");
        step = active;
        last = format!("{active:03}.stdout");
    }
    for l in steps.lines() {
        let f: Vec<&str> = l.split('\t').collect();
        if f[0].parse::<u32>().unwrap() > step {
            assert!(
                read_only(f[5]),
                "{name}: step {} ({}) after the last status changes the disks",
                f[0],
                f[5]
            );
        }
    }
    let o = common::kernel_dmsetup(dir, "img.zst", "status");
    assert_eq!(o.status, 0, "{name}: {}", o.stderr);
    let want = std::fs::read_to_string(dir.join(&last)).unwrap();
    assert_eq!(
        o.text(),
        want,
        "{name}: dmsetup status differs from the kernel's {last}"
    );
}

scenario_tests!("kernel", "scenario", final_status_lines_equal_the_kernels;
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
