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

/// The same writing commands on PVs inside partitions of a raw disk and on
/// the bare PV images: the same answers, the partitions end up byte for
/// byte as the bare images, and no byte outside them changes.
#[test]
fn writes_through_partitions_equal_writes_on_bare_pvs() {
    let (s, p1, p2) = striped();
    let dir = scratch();
    let disk = make_disk(dir.path(), "mbr", &[(1, &p1), (5, &p2)]);
    let before = std::fs::read(&disk).unwrap();
    let data: Vec<u8> = (0..300 * 1024u32).map(|i| (i * 7 + 3) as u8).collect();
    let input = dir.path().join("data.bin");
    std::fs::write(&input, &data).unwrap();
    let input = input.display().to_string();
    let bare = [arg("/dev/sda1", &p1), arg("/dev/sda5", &p2)];
    let whole = [arg("/dev/sda", &disk)];
    let cmds: Vec<Vec<&str>> = vec![
        // Into the origin: the snapshots' stores on the second PV copy
        // the old chunks first.
        vec![
            "write",
            "vg/origin",
            "--offset",
            "1048576",
            "--input",
            &input,
        ],
        vec!["lvcreate", "-L", "4m", "-n", "new", "vg"],
        vec!["write", "vg/new", "--offset", "4096", "--input", &input],
        vec!["lvrename", "vg", "fill", "other"],
        vec!["lvremove", "-y", "vg/s2"],
        vec!["lvs", "-a", "-o+devices"],
        vec!["cat", "vg/origin"],
        vec!["cat", "vg/s1"],
        vec!["cat", "vg/new"],
        vec!["cat", "vg/other"],
    ];
    for cmd in &cmds {
        let (a, b) = (
            run(&bare, cmd, s.work.path()),
            run(&whole, cmd, s.work.path()),
        );
        assert_eq!(a.status, 0, "{cmd:?}: {}", a.stderr);
        assert_eq!((b.status, &b.stderr), (a.status, &a.stderr), "{cmd:?}");
        assert!(a.stdout == b.stdout, "{cmd:?}: stdout differs");
    }
    let after = std::fs::read(&disk).unwrap();
    assert_eq!(after.len(), before.len());
    let mut inside = vec![false; after.len()];
    for (n, pv) in [(1, &p1), (5, &p2)] {
        let (_, start, _) = table("mbr").into_iter().find(|p| p.0 == n).unwrap();
        let want = std::fs::read(pv).unwrap();
        let (a, b) = (start as usize, start as usize + want.len());
        // The data areas (from pe_start, 1 MiB in the kernel images) are
        // equal byte for byte; the metadata areas hold the new LV's UUID,
        // which is seeded by the devices scanned (the disk has more), so
        // they are compared through vgcfgbackup below.
        let pe = 1 << 20;
        assert!(
            after[a + pe..b] == want[pe..],
            "partition {n}'s data area differs from the bare PV written the same way"
        );
        inside[a..b].fill(true);
    }
    let outside_changed = (0..after.len())
        .filter(|&i| !inside[i] && after[i] != before[i])
        .count();
    assert_eq!(outside_changed, 0, "bytes outside the PVs changed");
    let backup = |devs: &[String], name: &str| {
        let f = dir.path().join(name);
        let o = run(
            devs,
            &["vgcfgbackup", "-f", f.to_str().unwrap(), "vg"],
            s.work.path(),
        );
        assert_eq!(o.status, 0, "{}", o.stderr);
        // Without the new LV's id (seeded by the devices scanned) and the
        // time and file of the backup.
        let t = std::fs::read_to_string(&f).unwrap();
        let mut out = String::new();
        let mut in_new = false;
        for l in t.lines() {
            in_new = (in_new || l.trim() == "new {") && l.trim() != "}";
            let skip = (in_new && l.trim_start().starts_with("id = "))
                || l.starts_with("# Generated by")
                || l.starts_with("creation_time = ")
                || l.starts_with("description = ");
            if !skip {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    };
    let (a, b) = (backup(&bare, "bare.vg"), backup(&whole, "disk.vg"));
    assert!(
        a.contains("new {") && a.contains("other {") && !a.contains("s2 {"),
        "{a}"
    );
    assert_eq!(a, b);
    assert!(after != before, "nothing was written");
}

/// A PV at a byte offset (`PATH@OFFSET`) is written in place too, the
/// bytes before and after it untouched.
#[test]
fn writes_to_a_pv_at_an_offset_stay_inside_it() {
    let s = load_kernel("snap-lvremove");
    let p = s.devs[0].1.clone();
    let dir = scratch();
    let pv = std::fs::read(&p).unwrap();
    // The PV at 1 MiB of a file, 1 MiB of marker bytes after it.
    let mut file = vec![0x5a; 1 << 20];
    file.extend_from_slice(&pv);
    file.extend(std::iter::repeat_n(0xa5, 1 << 20));
    let img = dir.path().join("disk.img");
    std::fs::write(&img, &file).unwrap();
    let data = vec![0x42u8; 64 * 1024];
    let input = dir.path().join("data.bin");
    std::fs::write(&input, &data).unwrap();
    let input = input.display().to_string();
    let bare = [arg("/dev/vda", &p)];
    let at = [format!("/dev/vda={}@1048576", img.display())];
    for cmd in [
        vec!["write", "vg/origin", "--offset", "8192", "--input", &input],
        vec!["cat", "vg/origin"],
    ] {
        let (a, b) = (
            run(&bare, &cmd, s.work.path()),
            run(&at, &cmd, s.work.path()),
        );
        assert_eq!(a.status, 0, "{cmd:?}: {}", a.stderr);
        assert_eq!((b.status, &b.stderr), (a.status, &a.stderr), "{cmd:?}");
        assert!(a.stdout == b.stdout, "{cmd:?}: stdout differs");
    }
    let after = std::fs::read(&img).unwrap();
    let pv_after = std::fs::read(&p).unwrap();
    assert!(
        after[1 << 20..][..pv.len()] == pv_after[..],
        "the PV differs from the bare one"
    );
    assert!(
        after[..1 << 20].iter().all(|&b| b == 0x5a),
        "bytes before the PV changed"
    );
    assert!(
        after[(1 << 20) + pv.len()..].iter().all(|&b| b == 0xa5),
        "bytes after the PV changed"
    );
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
