//! `lvmsim dmsetup status` on the final images of every kernel scenario
//! equals the last `dmsetup status` the real kernel printed (snapshot fill
//! levels, Invalid, snapshot-merge, snapshot-origin, -real and -cow layers,
//! striped devices), provided no step after that record changed the disks.

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
    ]
    .iter()
    .any(|p| step.starts_with(p))
}

/// The last `dmsetup status` of scenario `name` against lvmsim's on its
/// final images.
/// Scenarios whose status lines are not compared, and why.
const NOT_COMPARED: &[(&str, &str)] = &[(
    "thin-pool",
    "lvmsim's dmsetup has no thin-pool and thin lines yet (and the VG was deactivated before the last status)",
)];

/// Whether kernel scenario `name` creates a thin pool (`lvcreate ... -T`).
fn makes_thin_pool(name: &str) -> bool {
    std::fs::read_to_string(common::kernel(name).join("scenario"))
        .unwrap()
        .lines()
        .any(|l| l.starts_with("lvcreate") && l.split_whitespace().any(|w| w == "-T"))
}

fn final_status_lines_equal_the_kernels(name: &str) {
    if let Some((_, why)) = NOT_COMPARED.iter().find(|(n, _)| *n == name) {
        // The reason must still hold.
        assert!(makes_thin_pool(name), "{name}: listed as not compared");
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
    let Some(last) = last.pop() else {
        panic!("{name}: no dmsetup status recorded")
    };
    let step: u32 = last[..3].parse().unwrap();
    let steps = std::fs::read_to_string(dir.join("steps.tsv")).unwrap();
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
);
