//! Names on the command line as lvm2 reads them: every LV argument of
//! every command in its `VG/LV`, `/dev/VG/LV` and `/dev/mapper/VG-LV`
//! forms, VG arguments as `/dev/VG`; images named as PV arguments scanned
//! without `--dev`, one image under two spellings one device, `--dev`
//! before and after the command adding up; lvm2's -v/-q on every command;
//! `dmsetup status|table NAME` as dmsetup prints one device or none. (The
//! lvm2 goldens of the same rules are the corpus scenario `names`.)

use crate::common::{self, Lvmsim, Output};
use std::path::Path;

/// lvmsim in `dir` with no device but those on the command line.
fn sim(dir: &Path, args: &[&str]) -> Output {
    Lvmsim::new()
        .args(args)
        .cwd(dir)
        .env_remove("LVMSIM_DEVICES")
        .env("LVMSIM_DETERMINISTIC", "1")
        .run()
}

/// Standard output of a run that must succeed, each line without the
/// padding of its last column.
fn ok(dir: &Path, args: &[&str]) -> String {
    let o = sim(dir, args);
    assert!(o.ok(), "{args:?}: exit {}: {}", o.status, o.stderr);
    trimmed(&o.text())
}

fn trimmed(t: &str) -> String {
    t.lines().map(|l| format!("{}\n", l.trim_end())).collect()
}

/// A 64 MiB blank image `name` in `dir`.
fn blank(dir: &Path, name: &str) {
    let f = std::fs::File::create(dir.join(name)).unwrap();
    f.set_len(64 << 20).unwrap();
}

/// `vg-x` on d.img with `lv-1` (2 extents, a stamped first block) and
/// `plain` (1 extent).
fn vg_x(dir: &Path) {
    blank(dir, "d.img");
    ok(dir, &["vgcreate", "vg-x", "d.img"]);
    ok(
        dir,
        &[
            "--dev", "d.img", "lvcreate", "-n", "lv-1", "-l", "2", "vg-x",
        ],
    );
    ok(
        dir,
        &[
            "--dev", "d.img", "lvcreate", "-n", "plain", "-l", "1", "vg-x",
        ],
    );
}

/// The LV names `lvs` lists, one per line.
fn lv_names(dir: &Path, extra: &[&str]) -> Vec<String> {
    let mut a = vec!["--dev", "d.img", "lvs", "--noheadings", "-o", "lv_name"];
    a.extend(extra);
    ok(dir, &a).lines().map(|l| l.trim().to_owned()).collect()
}

const FORMS: [&str; 4] = [
    "vg-x/lv-1",
    "/dev/vg-x/lv-1",
    "/dev/mapper/vg--x-lv--1",
    "//dev//vg-x//lv-1",
];

#[test]
fn every_lv_form_names_the_lv_in_every_reading_command() {
    let t = common::scratch();
    let dir = t.path();
    vg_x(dir);
    let data = b"names test data".repeat(100);
    let o = Lvmsim::new()
        .args(["--dev", "d.img", "write", "/dev/mapper/vg--x-lv--1"])
        .cwd(dir)
        .stdin(&data)
        .run();
    assert!(o.ok(), "write: {}", o.stderr);
    for f in FORMS {
        assert_eq!(lv_names(dir, &[f]), ["lv-1"], "lvs {f}");
        let bytes = sim(
            dir,
            &[
                "--dev",
                "d.img",
                "cat",
                f,
                "--length",
                &data.len().to_string(),
            ],
        );
        assert!(bytes.ok(), "cat {f}: {}", bytes.stderr);
        assert_eq!(bytes.stdout, data, "cat {f}");
    }
    for vg in ["vg-x", "/dev/vg-x", "/dev/mapper/vg--x"] {
        assert_eq!(lv_names(dir, &[vg]), ["lv-1", "plain"], "lvs {vg}");
        let vgs = ok(
            dir,
            &["--dev", "d.img", "vgs", "--noheadings", "-o", "vg_name", vg],
        );
        assert_eq!(vgs.trim(), "vg-x", "vgs {vg}");
        let b = ok(dir, &["--dev", "d.img", "vgcfgbackup", vg]);
        assert!(b.contains("vg-x {"), "vgcfgbackup {vg}");
    }
}

#[test]
fn every_lv_form_names_the_lv_in_every_writing_command() {
    let t = common::scratch();
    let dir = t.path();
    vg_x(dir);
    let size = |dir: &Path| {
        ok(
            dir,
            &[
                "--dev",
                "d.img",
                "lvs",
                "--noheadings",
                "--units",
                "m",
                "--nosuffix",
                "-o",
                "lv_size",
                "vg-x/lv-1",
            ],
        )
        .trim()
        .to_owned()
    };
    ok(
        dir,
        &["--dev", "d.img", "lvextend", "-l", "+1", "/dev/vg-x/lv-1"],
    );
    assert_eq!(size(dir), "12.00");
    ok(
        dir,
        &[
            "--dev",
            "d.img",
            "lvreduce",
            "-f",
            "-l",
            "-1",
            "/dev/mapper/vg--x-lv--1",
        ],
    );
    assert_eq!(size(dir), "8.00");
    ok(
        dir,
        &[
            "--dev",
            "d.img",
            "lvchange",
            "--addtag",
            "t1",
            "/dev/mapper/vg--x-lv--1",
        ],
    );
    let tags = ok(
        dir,
        &[
            "--dev",
            "d.img",
            "lvs",
            "--noheadings",
            "-o",
            "lv_tags",
            "vg-x/lv-1",
        ],
    );
    assert_eq!(tags.trim(), "t1");
    // A snapshot of an origin named by its mapper name, merged back by its
    // /dev name.
    ok(
        dir,
        &[
            "--dev",
            "d.img",
            "lvcreate",
            "-s",
            "-l",
            "1",
            "-n",
            "snap",
            "/dev/mapper/vg--x-lv--1",
        ],
    );
    let origin = ok(
        dir,
        &[
            "--dev",
            "d.img",
            "lvs",
            "--noheadings",
            "-o",
            "origin",
            "vg-x/snap",
        ],
    );
    assert_eq!(origin.trim(), "lv-1");
    ok(
        dir,
        &["--dev", "d.img", "lvconvert", "--merge", "/dev/vg-x/snap"],
    );
    ok(dir, &["--dev", "d.img", "vgchange", "-ay", "/dev/vg-x"]);
    assert_eq!(lv_names(dir, &[]), ["lv-1", "plain"]);
    // Rename there and back: a /dev VG, /dev LV names.
    ok(
        dir,
        &["--dev", "d.img", "lvrename", "/dev/vg-x/plain", "p2"],
    );
    ok(
        dir,
        &[
            "--dev",
            "d.img",
            "lvrename",
            "/dev/vg-x",
            "p2",
            "/dev/vg-x/plain",
        ],
    );
    assert_eq!(lv_names(dir, &[]), ["lv-1", "plain"]);
    ok(
        dir,
        &[
            "--dev",
            "d.img",
            "lvremove",
            "-y",
            "/dev/mapper/vg--x-plain",
        ],
    );
    assert_eq!(lv_names(dir, &[]), ["lv-1"]);
    ok(dir, &["--dev", "d.img", "vgrename", "/dev/vg-x", "vg-y"]);
    ok(
        dir,
        &["--dev", "d.img", "vgremove", "-f", "/dev/mapper/vg--y"],
    );
    let vgs = ok(dir, &["--dev", "d.img", "vgs"]);
    assert_eq!(vgs, "", "the VG is gone");
}

#[test]
fn a_dev_path_is_no_longer_a_vg_with_an_empty_name() {
    let t = common::scratch();
    let dir = t.path();
    vg_x(dir);
    for cmd in [
        vec!["lvremove", "-y", "/dev/vg-x/nosuch"],
        vec!["lvchange", "--addtag", "x", "/dev/vg-x/nosuch"],
        vec!["cat", "/dev/vg-x/nosuch"],
    ] {
        let mut a = vec!["--dev", "d.img"];
        a.extend(&cmd);
        let o = sim(dir, &a);
        assert_eq!(o.status, 5, "{cmd:?}");
        assert_eq!(
            o.stderr, "  Failed to find logical volume \"vg-x/nosuch\"\n",
            "{cmd:?}"
        );
    }
}

#[test]
fn a_missing_vg_is_also_a_vg_lvm2_cannot_process() {
    let t = common::scratch();
    let dir = t.path();
    vg_x(dir);
    for cmd in [
        vec!["vgs", "NOSUCH"],
        vec!["lvs", "NOSUCH"],
        vec!["lvremove", "-y", "NOSUCH/lv"],
        vec!["lvextend", "-l", "+1", "/dev/NOSUCH/lv"],
        vec!["vgchange", "-an", "NOSUCH"],
        vec!["vgcfgbackup", "NOSUCH"],
    ] {
        let mut a = vec!["--dev", "d.img"];
        a.extend(&cmd);
        let o = sim(dir, &a);
        assert_eq!(o.status, 5, "{cmd:?}");
        assert_eq!(o.text(), "", "{cmd:?}");
        assert_eq!(
            o.stderr, "  Volume group \"NOSUCH\" not found\n  Cannot process volume group NOSUCH\n",
            "{cmd:?}"
        );
    }
    // The rest of the names are still reported.
    let o = sim(
        dir,
        &[
            "--dev",
            "d.img",
            "vgs",
            "--noheadings",
            "-o",
            "vg_name",
            "NOSUCH",
            "vg-x",
        ],
    );
    assert_eq!((o.status, o.text().trim()), (5, "vg-x"));
}

#[test]
fn images_named_as_pvs_are_scanned_without_dev() {
    let t = common::scratch();
    let dir = t.path();
    blank(dir, "d.img");
    blank(dir, "e.img");
    let o = sim(dir, &["vgcreate", "vg", "d.img"]);
    assert!(o.ok(), "{}", o.stderr);
    assert_eq!(
        o.text(),
        "  Physical volume \"d.img\" successfully created.\n  Volume group \"vg\" successfully created\n"
    );
    ok(dir, &["pvcreate", "e.img"]);
    let pvs = ok(
        dir,
        &[
            "pvs",
            "--noheadings",
            "-o",
            "pv_name,vg_name",
            "d.img",
            "e.img",
        ],
    );
    assert_eq!(pvs, "  d.img      vg\n  e.img\n");
    ok(dir, &["--dev", "d.img", "vgextend", "vg", "e.img"]);
    let pvs = ok(
        dir,
        &[
            "--dev",
            "d.img",
            "--dev",
            "e.img",
            "pvs",
            "--noheadings",
            "-o",
            "vg_name",
        ],
    );
    assert_eq!(pvs, "  vg\n  vg\n");
}

#[test]
fn dev_before_and_after_the_command_add_up() {
    let t = common::scratch();
    let dir = t.path();
    blank(dir, "d.img");
    blank(dir, "e.img");
    ok(dir, &["vgcreate", "vg", "d.img", "e.img"]);
    for args in [
        vec!["--dev", "d.img", "pvs", "--dev", "e.img"],
        vec!["pvs", "--dev", "d.img", "--dev=e.img"],
        vec!["--dev=d.img", "--dev", "e.img", "pvs"],
    ] {
        let o = sim(
            dir,
            &[args.as_slice(), &["--noheadings", "-o", "pv_name"]].concat(),
        );
        assert!(o.ok(), "{args:?}: {}", o.stderr);
        assert_eq!(trimmed(&o.text()), "  d.img\n  e.img\n", "{args:?}");
        assert_eq!(o.stderr, "", "{args:?}: no PV is missing");
    }
}

#[test]
fn one_image_under_two_spellings_is_one_device() {
    let t = common::scratch();
    let dir = t.path();
    blank(dir, "d.img");
    blank(dir, "e.img");
    std::os::unix::fs::symlink(dir.join("e.img"), dir.join("link.img")).unwrap();
    ok(dir, &["vgcreate", "vg", "d.img"]);
    let abs = dir.join("d.img").display().to_string();
    let before = common::sha256_file(&dir.join("d.img"));
    // d.img is in vg: refused before anything is written, under any name.
    let o = sim(dir, &["--dev", "d.img", "vgcreate", "vg2", "./d.img", &abs]);
    assert_eq!(o.status, 5, "{}", o.stderr);
    assert!(
        o.stderr.contains("is already in volume group 'vg'"),
        "{}",
        o.stderr
    );
    assert_eq!(common::sha256_file(&dir.join("d.img")), before);
    // Scanned once, reported once.
    let pvs = ok(
        dir,
        &[
            "--dev",
            "d.img",
            "--dev",
            &abs,
            "pvs",
            "--noheadings",
            "-o",
            "pv_name",
            "./d.img",
        ],
    );
    assert_eq!(pvs, "  d.img\n");
    // A blank image named twice (once through a symlink) becomes one PV.
    let o = ok(dir, &["pvcreate", "e.img", "link.img"]);
    assert_eq!(o, "  Physical volume \"e.img\" successfully created.\n");
    let pvs = ok(
        dir,
        &[
            "--dev",
            "e.img",
            "--dev",
            "link.img",
            "pvs",
            "--noheadings",
            "-o",
            "pv_name",
        ],
    );
    assert_eq!(pvs, "  e.img\n");
}

#[test]
fn verbose_and_quiet_are_accepted_by_every_command() {
    let t = common::scratch();
    let dir = t.path();
    vg_x(dir);
    let cmds: Vec<Vec<&str>> = vec![
        vec!["pvs"],
        vec!["vgs"],
        vec!["lvs"],
        vec!["lvcreate", "-n", "new", "-l", "1", "vg-x"],
        vec!["lvextend", "-l", "+1", "vg-x/new"],
        vec!["lvreduce", "-f", "-l", "-1", "vg-x/new"],
        vec!["lvchange", "--addtag", "t", "vg-x/new"],
        vec!["lvrename", "vg-x", "new", "new2"],
        vec!["lvremove", "-y", "vg-x/new2"],
        vec!["vgchange", "-ay", "vg-x"],
        vec!["vgcfgbackup", "-f", "b.vg", "vg-x"],
        vec!["pvck", "d.img"],
        vec!["dmsetup", "status"],
        vec!["dmsetup", "table"],
        vec!["cat", "vg-x/plain", "--length", "1"],
        vec!["history"],
    ];
    for (i, c) in cmds.iter().enumerate() {
        let flag = ["-v", "-vv", "-q", "-qq"][i % 4];
        let (head, tail) = c.split_at(if c[0] == "dmsetup" { 2 } else { 1 });
        let mut a = vec!["--dev", "d.img"];
        a.extend(head);
        a.push(flag);
        a.extend(tail);
        let o = sim(dir, &a);
        assert!(o.ok(), "{a:?}: exit {}: {}", o.status, o.stderr);
        // Before the command too, as lvm2's `lvm -v lvs`.
        let mut b = vec!["--dev", "d.img", flag];
        b.extend(c);
        if c[0] == "pvs" || c[0] == "vgs" || c[0] == "lvs" {
            assert!(sim(dir, &b).ok(), "{b:?}");
        }
    }
}

#[test]
fn an_invalid_vg_name_is_a_usage_error_with_lvm2s_hint() {
    let t = common::scratch();
    let dir = t.path();
    vg_x(dir);
    let o = sim(dir, &["--dev", "d.img", "vgs", "/dev/mapper/vg--x-lv--1"]);
    assert_eq!(o.status, 3);
    assert_eq!(
        o.stderr,
        "  Invalid volume group name vg-x/lv-1.\n  Run `vgs --help' for more information.\n"
    );
    assert_eq!(o.text(), "");
}

#[test]
fn dmsetup_names_one_device_or_fails_as_dmsetup() {
    let t = common::scratch();
    let dir = t.path();
    vg_x(dir);
    for show in ["status", "table"] {
        let all = ok(dir, &["--dev", "d.img", "dmsetup", show]);
        let line = all
            .lines()
            .find(|l| l.starts_with("vg--x-lv--1: "))
            .unwrap_or_else(|| panic!("{all}"));
        let rest = line.strip_prefix("vg--x-lv--1: ").unwrap();
        for name in [
            "vg--x-lv--1",
            "/dev/mapper/vg--x-lv--1",
            "/dev/vg-x/lv-1",
            "vg-x/lv-1",
        ] {
            let one = ok(dir, &["--dev", "d.img", "dmsetup", show, name]);
            assert_eq!(one, format!("{rest}\n"), "dmsetup {show} {name}");
        }
        let two = ok(
            dir,
            &[
                "--dev",
                "d.img",
                "dmsetup",
                show,
                "vg--x-plain",
                "vg--x-lv--1",
            ],
        );
        assert!(two.starts_with("vg--x-plain: "), "{two}");
        assert!(two.ends_with(&format!("{line}\n")), "{two}");
        let o = sim(dir, &["--dev", "d.img", "dmsetup", show, "NOSUCH"]);
        assert_eq!(
            (o.status, o.text(), o.stderr.as_str()),
            (
                1,
                String::new(),
                "Device does not exist.\nCommand failed.\n"
            ),
            "dmsetup {show} NOSUCH"
        );
        let o = sim(
            dir,
            &["--dev", "d.img", "dmsetup", show, "/dev/mapper/NOSUCH"],
        );
        assert_eq!(
            (o.status, o.stderr.as_str()),
            (1, "Device /dev/mapper/NOSUCH not found\nCommand failed.\n")
        );
    }
}

/// `dmsetup status NAME` as the kernel printed it (the scenarios' steps
/// `expect-status`, recorded after the disks' last change).
#[test]
fn dmsetup_status_of_one_device_equals_the_kernels() {
    for (scenario, step, name) in [
        ("two-snaps-one-overflows", "019", "vg-small"),
        ("two-snaps-one-overflows", "020", "vg-big"),
        ("snap-overflow", "013", "vg-snap"),
        ("snap-write-overflow", "015", "vg-snap"),
    ] {
        let dir = common::kernel(scenario);
        let want = std::fs::read_to_string(dir.join(format!("{step}.dmsetup-status"))).unwrap();
        let o = common::kernel_dmsetup_named(&dir, "img.zst", "status", &[name]);
        assert_eq!(o.status, 0, "{scenario}: {}", o.stderr);
        assert_eq!(o.text(), want, "{scenario} {step}: dmsetup status {name}");
    }
}

/// A hidden LV named on the command line is listed, a snapshot's glue is
/// no LV: the lines lvm2 2.03.16 printed for `lvs` on the images of the
/// corpus scenario `snapshot-merging` (activation off, as its goldens).
#[test]
fn a_hidden_lv_named_is_listed_as_lvm2_lists_it() {
    let s = common::load(&common::repo().join("testdata/lvm2/corpus/snapshot-merging"));
    let lvs = |names: &[&str]| {
        s.lvmsim()
            .args(["lvs", "--driverloaded", "n"])
            .args(names)
            .run()
    };
    let o = lvs(&["vg_merge/snap", "vg_merge/data"]);
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert_eq!(
        o.text(),
        "  LV     VG       Attr       LSize  Pool Origin Data%  Meta%  Move Log Cpy%Sync Convert\n\
         \x20 data   vg_merge Owi-XXs--- 16.00m                                                    \n\
         \x20 [snap] vg_merge Swi-XXs---  8.00m      data                                          \n"
    );
    let o = lvs(&["vg_merge/snapshot0"]);
    assert_eq!(o.status, 5);
    assert_eq!(o.text(), "");
    assert_eq!(
        o.stderr,
        "  Failed to find logical volume \"vg_merge/snapshot0\"\n"
    );
    // Named by its VG only, it stays hidden.
    let o = lvs(&["-o", "lv_name", "vg_merge"]);
    assert_eq!(o.text(), "  LV  \n  data\n");
}
