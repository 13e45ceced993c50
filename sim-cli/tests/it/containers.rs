//! Disk-image containers read as the raw disk they hold. The fixtures in
//! `testdata/containers` were made by `qemu-img convert` (qcow2 version 3,
//! and version 2 with deflated clusters) and `ewfacquire` (E01, with the
//! media's MD5 and SHA-1) from one GPT disk holding the kernel scenario
//! snap-striped-origin's two PVs (`testdata/containers/make.sh`). The test
//! rebuilds that raw disk, checks it against the sha256 recorded then, and
//! compares every report and LV view through each container with it.

use crate::common::{self, scratch, sha256_file, Lvmsim, Output};
use crate::partitions::make_disk;
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    common::repo().join("testdata/containers")
}

/// The raw disk the containers were made from, rebuilt in `work`.
fn raw_disk(work: &Path) -> PathBuf {
    let s = common::load_kernel("snap-striped-origin");
    let disk = make_disk(work, "gpt", &[(1, &s.devs[0].1), (3, &s.devs[1].1)]);
    let want = std::fs::read_to_string(dir().join("disk.sha256")).unwrap();
    assert_eq!(
        sha256_file(&disk),
        want.trim(),
        "the raw disk is not the one the containers hold"
    );
    disk
}

fn run(dev: &Path, cmd: &[&str], cwd: &Path) -> Output {
    Lvmsim::new()
        .arg("--dev")
        .arg(format!("/dev/sda={}", dev.display()))
        .args(cmd)
        .env("LVMSIM_DETERMINISTIC", "1")
        .cwd(cwd)
        .run()
}

fn same_as_raw(container: &Path, cmds: &[Vec<&str>]) {
    let work = scratch();
    let raw = raw_disk(work.path());
    let before = std::fs::read(container).unwrap();
    for cmd in cmds {
        let (a, b) = (
            run(&raw, cmd, work.path()),
            run(container, cmd, work.path()),
        );
        let what = format!("`{}` on {}", cmd.join(" "), container.display());
        assert_eq!(a.status, 0, "{what}: {}", a.stderr);
        assert_eq!((b.status, &b.stderr), (a.status, &a.stderr), "{what}");
        assert!(b.stdout == a.stdout, "{what}: stdout differs");
    }
    assert!(
        std::fs::read(container).unwrap() == before,
        "a read changed the container"
    );
}

fn all_commands() -> Vec<Vec<&'static str>> {
    vec![
        vec!["pvs", "-o+dev_size,pe_start"],
        vec!["vgs"],
        vec!["lvs", "-a", "-o+devices"],
        vec!["lvs", "-a", "--reportformat", "json"],
        vec!["vgcfgbackup", "-f", "-", "vg"],
        vec!["history"],
        vec!["recover"],
        vec!["cat", "vg/origin"],
        vec!["cat", "vg/s1"],
        vec!["cat", "vg/s2"],
        vec!["cat", "vg/fill"],
    ]
}

fn unzst(name: &str, work: &Path) -> PathBuf {
    let out = work.join(name.trim_end_matches(".zst"));
    common::unzst_to(&dir().join(name), &out);
    out
}

#[test]
fn qcow2_version_3_reads_as_its_raw_disk() {
    let work = scratch();
    same_as_raw(&unzst("disk.qcow2.zst", work.path()), &all_commands());
}

#[test]
fn qcow2_version_2_with_compressed_clusters_reads_as_its_raw_disk() {
    let work = scratch();
    same_as_raw(&unzst("disk-v2c.qcow2.zst", work.path()), &all_commands());
}

#[test]
fn e01_reads_as_its_raw_disk() {
    let work = scratch();
    let e01 = work.path().join("disk.E01");
    std::fs::copy(dir().join("disk.E01"), &e01).unwrap();
    same_as_raw(&e01, &all_commands());
}

/// The hex digest coreutils' `TOOL` (md5sum, sha1sum) gives of `file`.
fn digest(tool: &str, file: &Path) -> String {
    let o = std::process::Command::new(tool)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    assert!(o.status.success(), "{tool} failed");
    String::from_utf8(o.stdout).unwrap()[..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn verify_checks_an_e01s_stored_hashes_against_its_media() {
    // What the acquisition stored is the MD5 and SHA-1 of the raw disk,
    // as coreutils computes them.
    let work = scratch();
    let raw = raw_disk(work.path());
    let (md5, sha1) = (digest("md5sum", &raw), digest("sha1sum", &raw));
    let e01 = work.path().join("disk.E01");
    std::fs::copy(dir().join("disk.E01"), &e01).unwrap();
    let o = Lvmsim::new()
        .args(["--dev", "disk.E01", "--dev", "raw.img", "verify"])
        .cwd(work.path())
        .run();
    std::fs::rename(&raw, work.path().join("raw.img")).unwrap();
    let o2 = Lvmsim::new()
        .args(["--dev", "disk.E01", "--dev", "raw.img", "verify"])
        .cwd(work.path())
        .run();
    assert_ne!(o.status, 0, "a missing image is an error: {}", o.text());
    assert_eq!(o2.status, 0, "{}", o2.stderr);
    assert_eq!(
        o2.text(),
        format!(
            "disk.E01: E01: MD5 {md5} matches, SHA-1 {sha1} matches: verified\n\
             raw.img: stores no media hash (not an E01 image): nothing to verify\n"
        )
    );
}

#[test]
fn writing_commands_refuse_a_container_before_touching_it() {
    let work = scratch();
    let q = unzst("disk.qcow2.zst", work.path());
    let before = std::fs::read(&q).unwrap();
    for cmd in [
        vec!["lvcreate", "-L", "4m", "-n", "new", "vg"],
        vec!["vgrename", "vg", "vg2"],
        vec!["lvconvert", "--merge", "vg/s1"],
    ] {
        let o = run(&q, &cmd, work.path());
        assert_eq!(o.status, 5, "{cmd:?}: {}", o.stderr);
        assert_eq!(
            o.stderr,
            format!(
                "  /dev/sda1: {} is a read-only qcow2 container: refusing to write (convert it to a raw image, e.g. with qemu-img convert -O raw, to change it)\n",
                q.display()
            ),
            "{cmd:?}"
        );
        assert!(
            std::fs::read(&q).unwrap() == before,
            "{cmd:?} changed the image"
        );
    }
}

#[test]
fn formats_not_read_name_the_conversion() {
    let work = scratch();
    for (magic, format) in [
        (&b"KDMV"[..], "VMDK"),
        (b"vhdxfile", "VHDX"),
        (b"# Disk DescriptorFile", "VMDK"),
    ] {
        let p = work.path().join("vm.disk");
        let mut b = magic.to_vec();
        b.resize(1 << 20, 0);
        std::fs::write(&p, b).unwrap();
        let o = Lvmsim::new()
            .args(["--dev", "vm.disk", "lvs"])
            .cwd(work.path())
            .run();
        assert_eq!(o.status, 5, "{format}: {}", o.stderr);
        assert_eq!(
            o.stderr,
            format!("  vm.disk: a {format} disk image, which lvmsim does not read: convert it first, e.g. qemu-img convert -O raw vm.disk disk.img\n")
        );
    }
}

#[test]
fn an_e01_whose_media_hash_does_not_match_is_reported() {
    // The stored MD5 and SHA-1 follow the media in the last sections of
    // the segment: change one hex digit of each stored value.
    let work = scratch();
    let mut b = std::fs::read(dir().join("disk.E01")).unwrap();
    let mut changed = 0;
    for name in [&b"digest"[..], b"hash"] {
        // A section descriptor starts with its type name; the hash data
        // follows the 76-byte descriptor.
        if let Some(at) = b.windows(name.len()).rposition(|w| w == name) {
            let data = at + 76;
            b[data] ^= 0xff;
            changed += 1;
        }
    }
    assert!(changed > 0, "no digest or hash section found");
    let e01 = work.path().join("bad.E01");
    std::fs::write(&e01, &b).unwrap();
    // Reading does not hash the media (it would read all of it each time).
    let o = Lvmsim::new()
        .args(["--dev", "bad.E01", "lvs", "--noheadings", "-o", "lv_name"])
        .cwd(work.path())
        .run();
    assert_eq!((o.status, o.stderr.as_str()), (0, ""));
    let o = Lvmsim::new()
        .args(["--dev", "bad.E01", "verify"])
        .cwd(work.path())
        .run();
    assert_eq!(o.status, 5, "{}", o.stderr);
    let text = o.text();
    assert!(
        text.starts_with("bad.E01: E01: MD5 of the media ")
            && text.contains(": MISMATCH")
            && text.ends_with(": the image is damaged or altered\n"),
        "{text}"
    );
}
