//! `lvmsim dmsetup table` equals the kernel's recorded `dmsetup table`:
//! the last record of every scenario on its final images, and the merge
//! in progress of `merge-interrupted` (step 023, boot 2) on the images boot
//! 1 left. Device numbers `253:N` depend on the order devices were created
//! since boot; lvmsim numbers them as a fresh `vgchange -ay` does, so a
//! record showing them is used only if the VG was activated from nothing
//! after its last lvcreate (the test asserts it).

use crate::common;

use std::path::Path;

fn unzst(p: &Path) -> Vec<u8> {
    zstd::stream::decode_all(std::fs::File::open(p).unwrap()).unwrap()
}

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
        "throttle",
        "sleep",
    ]
    .iter()
    .any(|p| step.starts_with(p))
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

/// Compares lvmsim's table on `images` (`DISK.img.zst` suffix) with the
/// record of step `step`.
fn compare(dir: &Path, suffix: &str, step: u32) -> Result<(), String> {
    let versions = std::fs::read_to_string(dir.join("boot1.versions")).unwrap();
    let disks = versions
        .lines()
        .find_map(|l| l.strip_prefix("disks "))
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = Vec::new();
    let mut devno: Vec<String> = Vec::new();
    for d in disks.split(';').filter(|d| !d.trim().is_empty()) {
        let w: Vec<&str> = d.split_whitespace().collect();
        let (disk, dev) = (w[1], w[2]);
        let img = work.path().join(format!("{disk}.img"));
        std::fs::write(&img, unzst(&dir.join(format!("{disk}.{suffix}")))).unwrap();
        args.extend(["--dev".to_owned(), format!("{dev}={}", img.display())]);
        // virtio-blk: major 254, 16 minors per disk (vda, vdb, ...).
        let letter = dev.bytes().last().unwrap() - b'a';
        devno.extend([
            "--devno".to_owned(),
            format!("{dev}=254:{}", u32::from(letter) * 16),
        ]);
    }
    args.extend(["dmsetup".to_owned(), "table".to_owned()]);
    args.extend(devno);
    let o = common::lvmsim(&args, work.path());
    if o.status != 0 {
        return Err(o.stderr);
    }
    let want = std::fs::read_to_string(dir.join(format!("{step:03}.dmsetup-table"))).unwrap();
    if o.stdout != want {
        return Err(format!("kernel:\n{want}lvmsim:\n{}", o.stdout));
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

#[test]
fn tables_equal_the_kernels() {
    let root = common::repo().join("testdata/kernel");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("scenario").exists())
        .collect();
    dirs.sort();
    let mut failures = Vec::new();
    let mut compared = 0;
    let mut skipped = 0;
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let all = steps(dir);
        if all.iter().any(|s| s.text.starts_with("zero ")) {
            // The forensic scenarios damage the label or metadata after the
            // last table: their final images no longer describe it.
            skipped += 1;
            continue;
        }
        let mut tables: Vec<u32> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .filter_map(|f| f.strip_suffix(".dmsetup-table").map(|n| n.parse().unwrap()))
            .collect();
        tables.sort();
        let last = *tables.last().expect("a dmsetup table recorded");
        for s in all.iter().filter(|s| s.n > last && !s.failed) {
            assert!(
                read_only(&s.text),
                "{name}: step {} ({}) after the last table changes the metadata",
                s.n,
                s.text
            );
        }
        let text = std::fs::read_to_string(dir.join(format!("{last:03}.dmsetup-table"))).unwrap();
        if !fresh(&all, last, &text) {
            // Its 253:N numbers depend on the order devices were created
            // in, not on a fresh activation lvmsim numbers as.
            eprintln!(
                "{name}: last table (step {last}) not after a fresh activation; not compared"
            );
            skipped += 1;
            continue;
        }
        if let Err(e) = compare(dir, "img.zst", last) {
            failures.push(format!("{name} step {last}: {e}"));
        }
        compared += 1;
        if dir.join("pv1.after-boot1.img.zst").exists() {
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
            let text =
                std::fs::read_to_string(dir.join(format!("{step:03}.dmsetup-table"))).unwrap();
            assert!(
                text.contains("snapshot-merge"),
                "{name}: {step} holds the merge"
            );
            if let Err(e) = compare(dir, "after-boot1.img.zst", step) {
                failures.push(format!("{name} after boot 1, step {step}: {e}"));
            }
            compared += 1;
        }
    }
    eprintln!("{compared} tables compared, {skipped} scenarios not comparable");
    assert_eq!(compared + skipped, dirs.len() + 1);
    assert!(compared >= 17, "only {compared} tables compared");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
