//! Every golden recorded from real lvm2 must come out of lvmsim byte for
//! byte, on the same images: the committed corpus (testdata/lvm2/corpus)
//! always, one test per scenario, and a fresh run of testdata/lvm2/gen.sh
//! in CI (`.ci/run`).

use crate::common;

use common::scenario_tests;
use std::path::Path;

fn check_corpus(root: &Path, min_scenarios: usize) {
    let mut dirs: Vec<_> = std::fs::read_dir(root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("commands.txt").exists())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= min_scenarios,
        "{} holds too few scenarios: {dirs:?}",
        root.display()
    );
    let mut all = Vec::new();
    let mut total = 0;
    for d in &dirs {
        let s = common::load(d);
        let (n, f) = common::replay(&s);
        total += n;
        all.extend(f);
    }
    eprintln!(
        "compared {total} lvm2 goldens over {} scenarios in {}",
        dirs.len(),
        root.display()
    );
    assert!(total > 0, "no golden was compared");
    assert!(
        all.is_empty(),
        "{} of {total} goldens differ:\n{}",
        all.len(),
        all.join("\n")
    );
}

/// One scenario of the committed corpus.
fn committed_scenario_matches(name: &str) {
    let s = common::load(&common::repo().join("testdata/lvm2/corpus").join(name));
    let (n, f) = common::replay(&s);
    eprintln!("{name}: compared {n} lvm2 goldens");
    assert!(n > 0, "{name}: no golden was compared");
    assert!(
        f.is_empty(),
        "{name}: {} of {n} goldens differ:\n{}",
        f.len(),
        f.join("\n")
    );
}

scenario_tests!("lvm2/corpus", "commands.txt", committed_scenario_matches;
    empty_pv, fields, fragmented, mdacopies, ring_wrap, single, snapshot_merging, snapshot_meta,
    twopv_striped, units,
);

/// The same comparison on images and goldens that real lvm2 made moments
/// ago on this machine.
#[test]
#[ignore = "needs a fresh testdata/lvm2/gen.sh run (root, loop devices, lvm2): .ci/run sets LVMSIM_LIVE_LVM2"]
fn live_lvm2_run_matches() {
    let dir = std::env::var("LVMSIM_LIVE_LVM2")
        .expect("LVMSIM_LIVE_LVM2 must name a directory written by testdata/lvm2/gen.sh");
    check_corpus(Path::new(&dir), 10);
}
