//! Thin pools made and grown by lvmsim from a blank image, against what
//! lvm2 and the kernel left in testdata/kernel/thin-resize: after
//! `lvcreate` the pool metadata is the empty pool of the kernel's first
//! activation (transaction and data blocks as the kernel's `dmsetup
//! status` gave them), and after `lvextend` of the data and metadata the
//! pool's superblock and devices read as the kernel's final image does.
//! The VG metadata of each command is compared in
//! kernel_metadata_replay.rs; thin_check runs on pools made here in CI
//! (testdata/thin-pool-check.sh).

use crate::common::{self, Lvmsim};
use std::path::Path;

const CREATE: &[&str] = &[
    "pvcreate /dev/vda",
    "vgcreate vg /dev/vda",
    "lvcreate -y --type thin-pool -L 20M -n p1 vg",
    "lvcreate -y -T vg/p2 -L 12M",
    "lvcreate -y -L 16M -T vg/p3 -V 32M -n t3",
];

const GROW: &[&str] = &[
    "lvextend -y -L+8M vg/p1",
    "lvextend -y --poolmetadatasize +4M vg/p1",
    "lvextend -y -L+8M vg/p2",
    "lvextend -y --poolmetadatasize +4M vg/p2",
    "lvextend -y -L+8M vg/p3",
    "lvextend -y --poolmetadatasize +4M vg/p3",
];

fn run(img: &Path, line: &str) -> common::Output {
    let o = Lvmsim::new()
        .arg("--dev")
        .arg(format!("/dev/vda={}", img.display()))
        .args(line.split_whitespace())
        .run();
    assert!(o.ok(), "{line}: {}", o.stderr);
    o
}

/// The `<superblock ...>` and `<device ...>` lines of `lvmsim thin_dump`.
fn dump_heads(img: &Path, pool: &str) -> Vec<String> {
    let o = run(img, &format!("thin_dump vg/{pool}"));
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .filter(|l| l.contains("<superblock") || l.contains("<device"))
        .map(str::to_owned)
        .collect()
}

fn attr(line: &str, key: &str) -> String {
    let at = line.find(&format!(" {key}=\"")).unwrap() + key.len() + 3;
    line[at..].split('"').next().unwrap().to_owned()
}

#[test]
fn pools_made_and_grown_read_as_the_kernels() {
    let dir = common::kernel("thin-resize");
    let work = common::scratch();
    let mine = work.path().join("pv1.img");
    std::fs::File::create(&mine)
        .unwrap()
        .set_len(256 << 20)
        .unwrap();
    // What lvm2 printed for each command (the scenario's step numbers).
    let printed = |o: &common::Output, step: &str, line: &str| {
        let rec = |ext: &str| std::fs::read_to_string(dir.join(format!("{step}.{ext}"))).unwrap();
        assert_eq!(String::from_utf8_lossy(&o.stdout), rec("stdout"), "{line}");
        assert_eq!(o.stderr, rec("stderr"), "{line}");
    };
    for (l, step) in CREATE.iter().zip(["001", "002", "003", "004", "005"]) {
        let o = run(&mine, l);
        if step >= "003" {
            printed(&o, step, l);
        }
    }
    // Step 10: the kernel's status of the pools after their creation
    // (unused pools under their own name, p3 under -tpool): transaction
    // and total data blocks.
    let status = std::fs::read_to_string(dir.join("010.stdout")).unwrap();
    for (pool, dm) in [("p1", "vg-p1:"), ("p2", "vg-p2:"), ("p3", "vg-p3-tpool:")] {
        let line = status.lines().find(|l| l.starts_with(dm)).unwrap();
        let w: Vec<&str> = line.split_whitespace().collect();
        let (trans, data_total) = (w[4], w[6].split('/').nth(1).unwrap());
        let sb = &dump_heads(&mine, pool)[0];
        assert_eq!(attr(sb, "transaction"), trans, "{pool}: {sb}");
        assert_eq!(attr(sb, "nr_data_blocks"), data_total, "{pool}: {sb}");
        assert_eq!(attr(sb, "data_block_size"), "128", "{pool}: {sb}");
    }
    // Step 6: 1 MiB written at the start of t3 (16 blocks mapped).
    let o = Lvmsim::new()
        .arg("--dev")
        .arg(format!("/dev/vda={}", mine.display()))
        .args(["write", "vg/t3"])
        .stdin(&[0x41u8; 1 << 20][..])
        .run();
    assert!(o.ok(), "write: {}", o.stderr);
    for (l, step) in GROW.iter().zip(["012", "013", "016", "017", "018", "019"]) {
        printed(&run(&mine, l), step, l);
    }
    let theirs = work.path().join("kernel.img");
    common::unzst_to(&dir.join("pv1.img.zst"), &theirs);
    for pool in ["p1", "p2", "p3"] {
        assert_eq!(
            dump_heads(&mine, pool),
            dump_heads(&theirs, pool),
            "{pool} after lvextend"
        );
    }
}

#[test]
fn pool_metadata_cannot_shrink_and_data_cannot_be_reduced() {
    let work = common::scratch();
    let img = work.path().join("pv1.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    for l in &CREATE[..3] {
        run(&img, l);
    }
    for bad in [
        "lvextend -y -L-4M vg/p1",
        "lvextend -y --poolmetadatasize -4M vg/p1",
        "lvextend -y -L+400M vg/p1",
    ] {
        let o = Lvmsim::new()
            .arg("--dev")
            .arg(format!("/dev/vda={}", img.display()))
            .args(bad.split_whitespace())
            .run();
        assert!(!o.ok(), "{bad} was accepted");
    }
    // Nothing changed: the pool is as made.
    let sb = &dump_heads(&img, "p1")[0];
    assert_eq!(attr(sb, "nr_data_blocks"), "320");
}
