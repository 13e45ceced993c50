//! `lvmsim dmsetup status` on the final images of every kernel scenario
//! equals the last `dmsetup status` the real kernel printed (snapshot fill
//! levels, Invalid, snapshot-merge, snapshot-origin, -real and -cow layers,
//! striped devices), provided no step after that record changed the disks.

use crate::common;

use std::path::Path;

fn unzst(p: &Path) -> Vec<u8> {
    zstd::stream::decode_all(std::fs::File::open(p).unwrap()).unwrap()
}

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

#[test]
fn final_status_lines_equal_the_kernels() {
    let root = common::repo().join("testdata/kernel");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("scenario").exists())
        .collect();
    dirs.sort();
    let mut compared = 0;
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
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
        // The guest named its disks: "disks 3 pv1 /dev/vda;3 pv2 /dev/vdb;".
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
            std::fs::write(&img, unzst(&dir.join(format!("{disk}.img.zst")))).unwrap();
            args.extend(["--dev".to_owned(), format!("{dev}={}", img.display())]);
            // virtio-blk: major 254, 16 minors per disk (vda, vdb, ...).
            let letter = dev.bytes().last().unwrap() - b'a';
            devno.extend([
                "--devno".to_owned(),
                format!("{dev}=254:{}", u32::from(letter) * 16),
            ]);
        }
        args.extend(["dmsetup".to_owned(), "status".to_owned()]);
        args.extend(devno);
        let o = common::lvmsim(&args, work.path());
        assert_eq!(o.status, 0, "{name}: {}", o.stderr);
        let want = std::fs::read_to_string(dir.join(&last)).unwrap();
        assert_eq!(
            o.stdout, want,
            "{name}: dmsetup status differs from the kernel's {last}"
        );
        compared += 1;
    }
    eprintln!("{compared} scenarios: dmsetup status equal to the kernel's");
    assert_eq!(compared, dirs.len());
}
