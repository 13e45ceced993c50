//! PVs inside partitions of whole-disk images. The disks' tables were made
//! by sfdisk (MBR: primary, extended, logical) and sgdisk (GPT) with
//! `testdata/partitions/make.sh`; the kernel corpus's PV images are copied
//! into the partitions at the places `sfdisk --json` gives, and every
//! report and LV view must equal what the bare PV images give under the
//! partitions' names.

use crate::common::{self, kernel, load_kernel, scratch, Lvmsim, Output};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// A disk of `testdata/partitions` and where sfdisk says its partitions are
/// (node suffix number -> (start, size) in bytes).
pub(crate) fn table(disk: &str) -> Vec<(u32, u64, u64)> {
    let dir = common::repo().join("testdata/partitions");
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join(format!("{disk}.sfdisk.json"))).unwrap(),
    )
    .unwrap();
    let t = &json["partitiontable"];
    assert_eq!(t["sectorsize"], 512);
    t["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let node = p["node"].as_str().unwrap();
            let n: u32 = node
                .strip_prefix(&format!("{disk}.img"))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{node}"));
            let sectors = |k: &str| p[k].as_u64().unwrap() * 512;
            (n, sectors("start"), sectors("size"))
        })
        .collect()
}

/// Makes `dir/DISK.img` from its committed table with each of `fill`'s
/// images (partition number, image) copied into its partition.
pub(crate) fn make_disk(dir: &Path, disk: &str, fill: &[(u32, &Path)]) -> PathBuf {
    let img = dir.join(format!("{disk}.img"));
    common::unzst_to(
        &common::repo().join(format!("testdata/partitions/{disk}.img.zst")),
        &img,
    );
    let parts = table(disk);
    let f = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
    for (n, pv) in fill {
        let (_, start, size) = parts
            .iter()
            .find(|p| p.0 == *n)
            .unwrap_or_else(|| panic!("{disk} has no partition {n}"));
        let bytes = std::fs::read(pv).unwrap();
        assert!(bytes.len() as u64 <= *size, "{} does not fit", pv.display());
        f.write_all_at(&bytes, *start).unwrap();
    }
    img
}

/// The commands compared: every report, the metadata backup, the forensic
/// commands and every LV's bytes (not `dmsetup`: its device numbers count
/// every device, partitions without a PV included).
fn commands() -> Vec<Vec<&'static str>> {
    let mut v = vec![
        vec!["pvs"],
        vec!["pvs", "-a"],
        vec!["vgs"],
        vec!["lvs", "-a", "-o+devices,seg_pe_ranges"],
        vec!["lvs", "-a", "--reportformat", "json"],
        vec!["pvs", "--segments", "-o+pv_uuid,dev_size,pe_start"],
        vec!["pvdisplay", "-m"],
        vec!["lvdisplay"],
        vec!["vgcfgbackup", "-f", "-", "vg"],
        vec!["history"],
        vec!["recover"],
    ];
    for lv in ["vg/origin", "vg/s1", "vg/s2", "vg/fill"] {
        v.push(vec!["cat", lv]);
    }
    v
}

fn run(devs: &[String], cmd: &[&str], cwd: &Path) -> Output {
    devs.iter()
        .fold(Lvmsim::new(), |l, d| l.arg("--dev").arg(d))
        .args(cmd)
        .env("LVMSIM_DETERMINISTIC", "1")
        .cwd(cwd)
        .run()
}

/// Every command gives the same status, output and messages on `disk` as
/// on `bare`.
fn same(bare: &[String], disk: &[String], cwd: &Path) {
    for cmd in commands() {
        let (a, b) = (run(bare, &cmd, cwd), run(disk, &cmd, cwd));
        let what = format!("`{}` on {disk:?} vs {bare:?}", cmd.join(" "));
        assert_eq!(a.status, 0, "{what}: {}", a.stderr);
        assert_eq!(b.status, a.status, "{what}: {}", b.stderr);
        assert_eq!(b.stderr, a.stderr, "{what}");
        assert!(
            b.stdout == a.stdout,
            "{what}: stdout differs:\n{}\n---\n{}",
            b.text(),
            a.text()
        );
    }
}

/// The two PV images of the kernel scenario snap-striped-origin (a striped
/// origin, two snapshots with their COW on the second PV).
fn striped() -> (common::Scenario, PathBuf, PathBuf) {
    let s = load_kernel("snap-striped-origin");
    assert!(kernel("snap-striped-origin").join("pv2.img.zst").exists());
    let (p1, p2) = (s.devs[0].1.clone(), s.devs[1].1.clone());
    (s, p1, p2)
}

fn arg(name: &str, p: &Path) -> String {
    format!("{name}={}", p.display())
}

#[test]
fn pvs_in_mbr_primary_and_logical_partitions_read_as_bare_pvs() {
    let (s, p1, p2) = striped();
    let dir = scratch();
    let disk = make_disk(dir.path(), "mbr", &[(1, &p1), (5, &p2)]);
    let before = std::fs::read(&disk).unwrap();
    same(
        &[arg("/dev/sda1", &p1), arg("/dev/sda5", &p2)],
        &[arg("/dev/sda", &disk)],
        s.work.path(),
    );
    assert!(
        std::fs::read(&disk).unwrap() == before,
        "a read changed the disk"
    );
}

#[test]
fn pvs_in_gpt_partitions_read_as_bare_pvs() {
    let (s, p1, p2) = striped();
    let dir = scratch();
    let disk = make_disk(dir.path(), "gpt", &[(1, &p1), (3, &p2)]);
    same(
        &[arg("/dev/nvme0n1p1", &p1), arg("/dev/nvme0n1p3", &p2)],
        &[arg("/dev/nvme0n1", &disk)],
        s.work.path(),
    );
}

#[test]
fn a_vg_across_an_mbr_disk_and_a_gpt_disk() {
    let (s, p1, p2) = striped();
    let dir = scratch();
    let g = make_disk(dir.path(), "gpt", &[(3, &p1)]);
    let m = make_disk(dir.path(), "mbr", &[(5, &p2)]);
    same(
        &[arg("/dev/sda3", &p1), arg("/dev/sdb5", &p2)],
        &[arg("/dev/sda", &g), arg("/dev/sdb", &m)],
        s.work.path(),
    );
}

#[test]
fn unnamed_partitions_are_named_after_the_disk_file() {
    let (_s, p1, p2) = striped();
    let dir = scratch();
    let disk = make_disk(dir.path(), "mbr", &[(1, &p1), (5, &p2)]);
    let o = Lvmsim::new()
        .args([
            "--dev",
            "mbr.img",
            "pvs",
            "-a",
            "--noheadings",
            "-o",
            "pv_name,vg_name",
        ])
        .cwd(dir.path())
        .run();
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert_eq!(o.stderr, "");
    let names: Vec<String> = o
        .text()
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(names, ["mbr.img:p1 vg", "mbr.img:p5 vg"]);
    drop(disk);
}

#[test]
fn a_pv_at_a_byte_offset_given_with_at() {
    let (s, p1, p2) = striped();
    let dir = scratch();
    let disk = make_disk(dir.path(), "gpt", &[(1, &p1), (3, &p2)]);
    let parts = table("gpt");
    let at = |n: u32| parts.iter().find(|p| p.0 == n).unwrap().1;
    let d = disk.display();
    let bare = [arg("/dev/sda1", &p1), arg("/dev/sda3", &p2)];
    let off = [
        format!("/dev/sda1={d}@{}", at(1)),
        format!("/dev/sda3={d}@{:#x}", at(3)),
    ];
    // The device runs to the end of the disk: the LVs and their bytes are
    // the same, the device sizes are not.
    for cmd in [
        vec!["lvs", "-a", "-o+devices"],
        vec!["cat", "vg/origin"],
        vec!["cat", "vg/s1"],
        vec!["cat", "vg/s2"],
    ] {
        let (a, b) = (
            run(&bare, &cmd, s.work.path()),
            run(&off, &cmd, s.work.path()),
        );
        assert_eq!((b.status, &b.stderr), (0, &a.stderr), "{cmd:?}");
        assert!(a.stdout == b.stdout, "{cmd:?}: stdout differs");
    }
    let o = run(&[format!("{d}@{}", 1u64 << 40)], &["pvs"], s.work.path());
    assert_eq!(o.status, 5, "{}", o.stderr);
    assert!(
        o.stderr.contains("the offset is past the end"),
        "{}",
        o.stderr
    );
}

#[test]
fn writing_commands_refuse_a_partitioned_disk_before_touching_it() {
    let (s, p1, p2) = striped();
    let dir = scratch();
    let disk = make_disk(dir.path(), "mbr", &[(1, &p1), (5, &p2)]);
    let before = std::fs::read(&disk).unwrap();
    for cmd in [
        vec!["lvcreate", "-L", "4m", "-n", "new", "vg"],
        vec!["lvrename", "vg", "fill", "other"],
        vec!["lvremove", "vg/s2"],
        vec!["vgchange", "-ay", "vg"],
    ] {
        let o = run(&[arg("/dev/sda", &disk)], &cmd, s.work.path());
        assert_eq!(o.status, 5, "{cmd:?}: {}", o.stderr);
        assert!(
            o.stderr.contains("/dev/sda1: a device at byte 1048576 of ")
                && o.stderr.contains("is read-only here"),
            "{cmd:?}: {}",
            o.stderr
        );
        assert!(
            std::fs::read(&disk).unwrap() == before,
            "{cmd:?} changed the disk"
        );
    }
}

#[test]
fn a_corrupt_table_is_an_error_naming_where() {
    let dir = scratch();
    let (_s, p1, _p2) = striped();
    let disk = make_disk(dir.path(), "mbr", &[(1, &p1)]);
    // Break the signature of the first extended boot record (at sector
    // 51200, where the extended partition starts).
    let f = std::fs::OpenOptions::new().write(true).open(&disk).unwrap();
    f.write_all_at(&[0, 0], 51200 * 512 + 510).unwrap();
    let o = Lvmsim::new()
        .args(["--dev", "mbr.img", "lvs"])
        .cwd(dir.path())
        .run();
    assert_eq!(o.status, 5, "{}", o.stderr);
    assert_eq!(
        o.stderr,
        "  mbr.img: extended boot record at 26214400: signature is 0x00 0x00, expected 0x55 0xaa\n"
    );
}

#[test]
fn pvck_takes_a_partition_of_a_disk_as_the_bare_pv() {
    let (_s, p1, p2) = striped();
    let dir = scratch();
    make_disk(dir.path(), "mbr", &[(1, &p1), (5, &p2)]);
    std::fs::copy(&p2, dir.path().join("pv2.img")).unwrap();
    let pvck = |arg: &str| {
        Lvmsim::new()
            .args(["pvck", "--dump", "metadata", arg])
            .cwd(dir.path())
            .run()
    };
    let bare = pvck("pv2.img");
    assert_eq!(bare.status, 0, "{}", bare.stderr);
    for arg in ["mbr.img:p5", &format!("mbr.img@{}", table("mbr")[2].1)] {
        let o = pvck(arg);
        assert_eq!((o.status, &o.stderr), (0, &bare.stderr), "{arg}");
        assert_eq!(o.text().replace(arg, "pv2.img"), bare.text(), "{arg}");
    }
    let o = pvck("mbr.img");
    assert_eq!(o.status, 5);
    assert_eq!(
        o.stderr,
        "  mbr.img: a whole disk with a partition table: name one of its partitions (mbr.img:p1 mbr.img:p5 mbr.img:p6)\n"
    );
}
