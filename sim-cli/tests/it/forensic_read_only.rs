//! Every forensic command leaves its evidence untouched: each input image
//! is read before and after every command of the forensics
//! issue, on kernel-made and lvm2-made images, damaged ones included.

use crate::common;

use common::{contents, load, load_kernel, repo, Scenario};
use std::path::{Path, PathBuf};

fn commands(out: &Path) -> Vec<Vec<String>> {
    let o = out.display().to_string();
    let v: Vec<Vec<&str>> = vec![
        vec!["history"],
        vec!["history", "--json"],
        vec!["history", "--show", "2"],
        vec!["history", "--diff", "1", "2"],
        vec!["--scan-all", "history"],
        vec!["recover"],
        vec!["recover", "--json"],
        vec!["--scan-all", "lvs", "-a"],
        vec!["--scan-all", "recover"],
    ];
    let mut v: Vec<Vec<String>> = v
        .into_iter()
        .map(|c| c.into_iter().map(str::to_owned).collect())
        .collect();
    v.push(
        ["recover", "--export", "vg/snap", "--seqno", "4", "-o", &o]
            .iter()
            .map(|s| s.to_string())
            .collect(),
    );
    v
}

fn check(s: &Scenario, expect_ok: bool) {
    let out_dir = crate::common::scratch();
    for (i, cmd) in commands(&out_dir.path().join("x.img"))
        .into_iter()
        .enumerate()
    {
        let before = contents(s);
        let o = s.lvmsim().args(&cmd).run();
        assert_eq!(
            contents(s),
            before,
            "{}: `{}` changed an image",
            s.name,
            cmd.join(" ")
        );
        if expect_ok && i < 8 {
            assert_eq!(o.status, 0, "{}: `{}`: {}", s.name, cmd.join(" "), o.stderr);
        }
        assert!(
            !o.stderr.contains("panicked"),
            "{}: `{}` panicked: {}",
            s.name,
            cmd.join(" "),
            o.stderr
        );
    }
}

#[test]
fn forensic_commands_do_not_write() {
    for name in [
        "snap-lvremove",
        "two-snaps-one-overflows",
        "striped-mdacopies",
    ] {
        check(&load_kernel(name), true);
    }
    let ring: PathBuf = repo().join("testdata/lvm2/corpus/ring-wrap");
    check(&load(&ring), false);
}

#[test]
fn forensic_commands_do_not_write_damaged_images() {
    use std::io::{Seek, SeekFrom, Write};
    let s = load_kernel("snap-lvremove");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(&s.devs[0].1)
        .unwrap();
    f.seek(SeekFrom::Start(512)).unwrap();
    f.write_all(&[0u8; 512]).unwrap();
    f.seek(SeekFrom::Start(4096)).unwrap();
    f.write_all(&[0x5a; 512]).unwrap();
    drop(f);
    check(&s, false);
}
