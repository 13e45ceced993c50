//! `--readonly` (lvm2's global option): every command runs with it on a
//! kernel-made image whose snapshot merge is pending, and no image changes
//! by a byte. Commands that read give what they give without it; commands
//! that write refuse with lvm2's words before opening anything (and
//! activation, which lvm2 refuses per VG, first names the merge it would
//! have run, as lvm2 recorded in a terminal: see the test's comments).

use crate::common::{kernel, scratch, unzst_to, Lvmsim, Output};
use std::path::Path;

/// Every lvmsim command in one of its forms, and whether it writes. `backup` is a metadata backup
/// file of the VG, `new` an image that is no PV.
fn commands(backup: &str, new: &str) -> Vec<(bool, Vec<String>)> {
    let v: Vec<(bool, Vec<&str>)> = vec![
        (false, vec!["pvs"]),
        (false, vec!["vgs"]),
        (false, vec!["lvs", "-a"]),
        (false, vec!["pvdisplay"]),
        (false, vec!["vgdisplay"]),
        (false, vec!["lvdisplay"]),
        (false, vec!["cat", "vg/origin"]),
        (false, vec!["pvck", "pv1.img"]),
        (false, vec!["vgcfgbackup", "-f", "copy.vg", "vg"]),
        (false, vec!["dmsetup", "table"]),
        (false, vec!["history"]),
        (false, vec!["recover"]),
        (true, vec!["lvrename", "vg", "origin", "o2"]),
        (true, vec!["lvconvert", "--merge", "vg/snap"]),
        (
            true,
            vec!["lvpoll", "--polloperation", "merge", "vg/origin"],
        ),
        (true, vec!["lvremove", "vg/snap"]),
        (true, vec!["pvcreate", new]),
        (true, vec!["vgcreate", "vg2", new]),
        (true, vec!["vgextend", "vg", new]),
        (true, vec!["vgreduce", "vg", "/dev/vda"]),
        (true, vec!["vgremove", "-f", "vg"]),
        (true, vec!["lvcreate", "-L", "4m", "-n", "x", "vg"]),
        (true, vec!["lvextend", "-L", "+4m", "vg/origin"]),
        (true, vec!["lvreduce", "-f", "-L", "-4m", "vg/origin"]),
        (true, vec!["vgrename", "vg", "vg2"]),
        (true, vec!["vgcfgrestore", "-f", backup, "vg"]),
        (true, vec!["lvchange", "--addtag", "t", "vg/origin"]),
        (true, vec!["write", "vg/origin", "--offset", "0"]),
        (true, vec!["vgchange", "-an", "vg"]),
        (true, vec!["vgchange", "-ay", "vg"]),
        (true, vec!["lvchange", "-ay", "vg/origin"]),
    ];
    v.into_iter()
        .map(|(w, c)| (w, c.into_iter().map(str::to_owned).collect()))
        .collect()
}

fn run(dir: &Path, readonly: bool, cmd: &[String]) -> Output {
    let l = Lvmsim::new()
        .args(["--dev", "/dev/vda=pv1.img"])
        .env("LVMSIM_DETERMINISTIC", "1")
        .cwd(dir)
        .stdin(b"data");
    let l = if readonly { l.arg("--readonly") } else { l };
    l.args(cmd).run()
}

/// The images of `dir` and their bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "img"))
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    v.sort();
    v
}

#[test]
fn every_command_with_readonly_leaves_every_image_as_it_was() {
    let dir = scratch();
    let d = dir.path();
    // After the first boot of merge-interrupted: the merge of vg/snap into
    // vg/origin is pending.
    unzst_to(
        &kernel("merge-interrupted").join("pv1.after-boot1.img.zst"),
        &d.join("pv1.img"),
    );
    std::fs::write(d.join("new.img"), vec![0u8; 8 << 20]).unwrap();
    let o = run(
        d,
        false,
        &[
            "vgcfgbackup".into(),
            "-f".into(),
            "vg.backup".into(),
            "vg".into(),
        ],
    );
    assert_eq!(o.status, 0, "{}", o.stderr);
    let prohibited = "  Operation prohibited while --readonly is set.\n";
    for (writes, cmd) in commands("vg.backup", "new.img") {
        let _ = std::fs::remove_file(d.join("copy.vg"));
        let before = files(d);
        let o = run(d, true, &cmd);
        assert!(files(d) == before, "`{}` changed a file", cmd.join(" "));
        if !writes {
            // The same as without --readonly (the backup file it writes is
            // no image).
            let _ = std::fs::remove_file(d.join("copy.vg"));
            let plain = run(d, false, &cmd);
            assert_eq!(o.status, 0, "{cmd:?}: {}", o.stderr);
            assert_eq!(
                (o.status, &o.stderr),
                (plain.status, &plain.stderr),
                "{cmd:?}"
            );
            assert!(o.stdout == plain.stdout, "{cmd:?}: stdout differs");
            continue;
        }
        assert_eq!(o.status, 5, "{cmd:?}: {}", o.stderr);
        let activation = cmd[0] == "vgchange" || cmd[1] == "-ay";
        if activation {
            // lvm2 2.03.16 with --readonly on `vgchange -ay vg` and
            // `lvchange -ay vg/lv` printed these three lines, exit 5.
            assert_eq!(
                o.stderr,
                format!("{prohibited}  Can't get lock for vg.\n  Cannot process volume group vg\n"),
                "{cmd:?}"
            );
            let merge = "  Merging of snapshot vg/snap into vg/origin is pending: not started (--readonly).\n";
            let expect = if cmd[1] == "-an" { "" } else { merge };
            assert_eq!(o.text(), expect, "{cmd:?}");
        } else {
            assert_eq!(o.stderr, prohibited, "{cmd:?}");
            assert_eq!(o.text(), "", "{cmd:?}");
        }
    }
    // Without --readonly the activation runs the merge: the image changes.
    let before = std::fs::read(d.join("pv1.img")).unwrap();
    let o = run(d, false, &["vgchange".into(), "-ay".into(), "vg".into()]);
    assert_eq!(o.status, 0, "{}", o.stderr);
    assert!(std::fs::read(d.join("pv1.img")).unwrap() != before);
}
