//! The thin pool of testdata/kernel/thin-pool, beyond what kernel_corpus.rs
//! compares: the `lvs` listings lvm2 printed with the thin fields while the
//! pool was active (`--active`) and after `vgchange -an`, `vgs`, and
//! `lvmsim thin_dump` against thin-provisioning-tools' `thin_dump` of the
//! same metadata (dm-pdata/tests/data); then damaged pool metadata, and
//! what `lvmsim dmsetup` refuses to guess about the pool's devices (the
//! tables and status lines it prints are compared in kernel_dmtable.rs
//! and kernel_dmsetup.rs).

use crate::common::{self, load_kernel};
use std::io::{Seek, SeekFrom, Write};

const SCENARIO: &str = "thin-pool";
const THIN_FIELDS: &str =
    "+thin_id,transaction_id,pool_lv,data_lv,metadata_lv,data_percent,metadata_percent";

fn recorded(step: &str) -> String {
    std::fs::read_to_string(common::kernel(SCENARIO).join(step)).unwrap()
}

#[test]
fn listings_equal_lvm2s_active_and_inactive() {
    let s = load_kernel(SCENARIO);
    let cases: &[(&str, &[&str])] = &[
        // While active (steps 022-024), then after vgchange -an (028-030).
        ("022.stdout", &["lvs", "-a", "--active", "-o", THIN_FIELDS]),
        (
            "023.stdout",
            &[
                "lvs",
                "-a",
                "--active",
                "-o",
                "lv_name,lv_attr,thin_id,transaction_id,thin_count,discards,zero,chunk_size,lv_size,seg_size,segtype",
                "--units",
                "b",
                "--nosuffix",
            ],
        ),
        ("024.stdout", &["vgs"]),
        ("028.stdout", &["lvs", "-a", "-o", THIN_FIELDS]),
        ("029.stdout", &["lvs", "-a"]),
        ("030.stdout", &["vgs"]),
    ];
    for (file, args) in cases {
        let o = s.lvmsim().args(*args).run();
        assert_eq!(o.stderr, "", "{file}: {args:?}");
        assert_eq!(o.text(), recorded(file), "{file}: {args:?}");
    }
}

#[test]
fn thin_dump_equals_the_tools_on_the_same_metadata() {
    let s = load_kernel(SCENARIO);
    // The metadata LV as lvmsim reads it is the fixture the tools dumped.
    let meta = s.lvmsim().args(["cat", "vg/pool_tmeta"]).run();
    assert_eq!(meta.status, 0, "{}", meta.stderr);
    let fixture = common::unzst(&common::repo().join("dm-pdata/tests/data/thin-pool.tmeta.zst"));
    assert!(
        meta.stdout == fixture,
        "vg/pool_tmeta differs from the fixture"
    );
    let o = s.lvmsim().args(["thin_dump", "vg/pool"]).run();
    assert_eq!(o.status, 0, "{}", o.stderr);
    let want =
        std::fs::read_to_string(common::repo().join("dm-pdata/tests/data/thin-pool.thin_dump.xml"))
            .unwrap();
    assert_eq!(o.text(), want);
    // Not a pool.
    let o = s.lvmsim().args(["thin_dump", "vg/thin1"]).run();
    assert_ne!(o.status, 0);
    assert!(
        o.stderr.contains("vg/thin1 is not a thin pool."),
        "{}",
        o.stderr
    );
}

#[test]
fn damaged_pool_metadata_is_named_not_read() {
    let s = load_kernel(SCENARIO);
    // vg/pool_tmeta is PE 20 of 1 MiB extents after pe_start 1 MiB: its
    // block 0 (the superblock) is at byte 21 MiB of the image; flip a
    // byte of the superblock's time field.
    let (_, img) = &s.devs[0];
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(img)
        .unwrap();
    f.seek(SeekFrom::Start((21 << 20) + 44)).unwrap();
    f.write_all(&[0xff]).unwrap();
    drop(f);
    for args in [&["cat", "vg/thin1"][..], &["thin_dump", "vg/pool"]] {
        let o = s.lvmsim().args(args).run();
        assert_ne!(o.status, 0, "{args:?}");
        assert!(
            o.stderr.contains(
                "vg/pool: thin pool metadata: metadata block 0: thin superblock checksum"
            ),
            "{args:?}: {}",
            o.stderr
        );
    }
    // No status line is made up from damaged metadata.
    let o = s.lvmsim().args(["dmsetup", "status"]).run();
    assert_ne!(o.status, 0);
    assert!(
        o.stderr
            .contains("vg/pool: thin pool metadata: metadata block 0: thin superblock checksum"),
        "{}",
        o.stderr
    );
    // lvs still lists the pool; its percentages are unknown.
    let o = s
        .lvmsim()
        .args(["lvs", "--active", "-o", "lv_name,data_percent", "vg/pool"])
        .run();
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert_eq!(o.text(), "  LV   Data% \n  pool       \n");
}

#[test]
fn dmsetup_refuses_what_the_records_do_not_show() {
    let s = load_kernel(SCENARIO);
    // The numbers of the pool's devices depend on lvm2's activation order.
    let o = s.lvmsim().args(["dmsetup", "table"]).run();
    assert_ne!(o.status, 0);
    assert_eq!(o.stdout, b"");
    assert!(
        o.stderr.contains(
            "vg-pool_tmeta: the number of a thin pool's device depends on the order lvm2 activated it in"
        ) && o.stderr.contains("--minor vg-pool_tmeta=MINOR"),
        "{}",
        o.stderr
    );
    // With them, a thin LV's table names the pool's -tpool device.
    let o = s
        .lvmsim()
        .args(["dmsetup", "table", "vg-thin2", "--minor", "vg-pool_tmeta=7"])
        .args(["--minor", "vg-pool_tdata=8", "--minor", "vg-pool-tpool=9"])
        .run();
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert_eq!(o.text(), "0 16384 thin 253:9 2\n");
    // The device list commands do not list thin devices yet.
    for args in [
        &["dmsetup", "ls"][..],
        &["dmsetup", "info"],
        &["dmsetup", "deps"],
    ] {
        let o = s.lvmsim().args(args).run();
        assert_ne!(o.status, 0, "{args:?}");
        assert!(
            o.stderr
                .contains("vg/pool: lvmsim's dmsetup info, ls and deps do not list thin pools"),
            "{args:?}: {}",
            o.stderr
        );
    }
}
