//! lvm2's rules where they are easy to get wrong: size arguments for
//! lvcreate, lvextend and lvreduce (percentages of what, `%LV`, `%ORIGIN`,
//! abbreviations, zero sizes, the caps it announces), and a merge of an
//! inactive origin (deferred by lvconvert, run by activation, silently).

use crate::common;

/// Every expected line is what lvm2 2.03.16 printed for the same commands
/// on a loop device (activation off), in the same order.
#[test]
fn percentages_and_zero_sizes_as_lvm2_reads_them() {
    let t = common::scratch();
    let dir = t.path();
    std::fs::File::create(dir.join("a.img"))
        .and_then(|f| f.set_len(64 << 20))
        .unwrap();
    let run = |cmd: &str| {
        let mut a = vec!["--dev", "a.img"];
        a.extend(cmd.split_whitespace());
        common::lvmsim(a, dir)
    };
    assert!(run("vgcreate -s 1m vg a.img").ok());
    assert!(run("lvcreate -an -Zn -l 10%F -n x vg").ok());
    // (command, exit status, stdout, stderr)
    let steps: [(&str, i32, &str, &str); 14] = [
        (
            "lvcreate -an -Zn -l 50%ORIGIN -n y vg",
            5,
            "",
            "  Internal error: Couldn't find origin volume.\n",
        ),
        (
            "lvcreate -an -Zn -l 10%LV -n y vg",
            5,
            "",
            "  Please express size as %FREE, %PVS or %VG.\n",
        ),
        (
            "lvcreate -s -l 50%LV -n sn vg/x",
            5,
            "",
            "  Please express size as %FREE, %ORIGIN, %PVS or %VG.\n",
        ),
        (
            "lvextend -l 50%ORIGIN vg/x",
            5,
            "",
            "  Specified LV does not have an origin LV.\n",
        ),
        (
            "lvextend -l 200%VG vg/x",
            0,
            "  Reducing 200%VG to remaining free space 63.00 MiB in VG.\n  \
             Size of logical volume vg/x changed from 6.00 MiB (6 extents) to 63.00 MiB (63 extents).\n  \
             Logical volume vg/x successfully resized.\n",
            "",
        ),
        (
            "lvreduce -l 50%LV vg/x",
            0,
            "  Size of logical volume vg/x changed from 63.00 MiB (63 extents) to 32.00 MiB (32 extents).\n  \
             Logical volume vg/x successfully resized.\n",
            "",
        ),
        (
            "lvextend -l +10%P vg/x",
            0,
            "  Size of logical volume vg/x changed from 32.00 MiB (32 extents) to 39.00 MiB (39 extents).\n  \
             Logical volume vg/x successfully resized.\n",
            "",
        ),
        (
            "lvcreate -an -L 0 -n y vg",
            3,
            "",
            "  --size may not be zero.\n  Run `lvcreate --help' for more information.\n",
        ),
        (
            "lvreduce -l -0%LV vg/x",
            3,
            "",
            "  --extents may not be zero.\n  Run `lvreduce --help' for more information.\n",
        ),
        (
            "lvcreate -an -L 1m -l 1 -n y vg",
            3,
            "",
            "  Please specify either size or extents (not both).\n  Run `lvcreate --help' for more information.\n",
        ),
        (
            "lvextend -L 1m -l 1 vg/x",
            3,
            "",
            "  Please specify either size or extents but not both.\n  Run `lvextend --help' for more information.\n",
        ),
        (
            "lvcreate -an -n y vg",
            3,
            "",
            "  No command with matching syntax recognised.  Run 'lvcreate --help' for more information.\n",
        ),
        (
            "lvextend vg/x",
            3,
            "",
            "  No command with matching syntax recognised.  Run 'lvextend --help' for more information.\n",
        ),
        (
            "lvreduce vg/x",
            3,
            "",
            "  No command with matching syntax recognised.  Run 'lvreduce --help' for more information.\n  \
             Correct command syntax is:\n  lvreduce -L|--size [-]Size[m|UNIT] LV\n\n",
        ),
    ];
    for (cmd, status, out, err) in steps {
        let o = run(cmd);
        assert_eq!(
            (o.status, o.text().as_str(), o.stderr.as_str()),
            (status, out, err),
            "{cmd}"
        );
    }
}

/// `lvconvert --merge` of a snapshot of an inactive origin only marks it,
/// with the line lvm2 printed for that in the kernel corpus
/// (merge-interrupted, step 014); `lvchange -ay` of the origin then runs
/// the merge and prints nothing, as lvm2's background poller writes to
/// /dev/null.
#[test]
fn a_merge_waits_for_the_origins_activation() {
    let t = common::scratch();
    let dir = t.path();
    std::fs::File::create(dir.join("a.img"))
        .and_then(|f| f.set_len(32 << 20))
        .unwrap();
    let old: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("old.in"), &old).unwrap();
    std::fs::write(dir.join("new.in"), vec![0xeeu8; 64 << 10]).unwrap();
    let run = |cmd: &str| {
        let mut a = vec!["--dev", "a.img"];
        a.extend(cmd.split_whitespace());
        let o = common::lvmsim(a, dir);
        assert_eq!(o.status, 0, "{cmd}: {}", o.stderr);
        o
    };
    run("vgcreate -s 1m vg a.img");
    run("lvcreate -n o -L 1m vg");
    run("write vg/o --input old.in");
    run("lvcreate -s -n s -L 1m vg/o");
    run("write vg/o --offset 4096 --input new.in");
    assert_eq!(
        run("cat vg/s").stdout,
        old,
        "the snapshot keeps the old bytes"
    );
    let o = run("lvconvert --merge vg/s");
    assert_eq!(
        o.text(),
        "  Merging of snapshot vg/s will occur on next activation of vg/o.\n"
    );
    let lvs = |cmd: &str| {
        run(cmd)
            .text()
            .lines()
            .map(|l| l.trim().to_owned())
            .collect::<Vec<_>>()
    };
    let listing = "lvs -a --noheadings -o lv_name vg";
    assert_eq!(lvs(listing), ["o", "[s]"], "marked, not merged");
    let o = run("lvchange -ay vg/o");
    assert_eq!((o.text().as_str(), o.stderr.as_str()), ("", ""));
    assert_eq!(lvs(listing), ["o"], "merged and recorded");
    assert_eq!(
        run("cat vg/o").stdout,
        old,
        "the origin holds the snapshot's bytes"
    );
}
