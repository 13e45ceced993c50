//! A VG is followed by its UUID across renames: after `vgrename vg vg2`,
//! `history vg2` shows the copies written under the old name and `recover
//! vg2` (and `--export vg2/SNAP`) finds the snapshot dropped before the
//! rename, exactly as `history vg` and `recover vg` showed them before.
//! Images: the kernel scenario snap-lvremove (a snapshot removed after the
//! kernel wrote to it).

use crate::common::{kernel, scratch, unzst_to, Lvmsim, Output};
use std::path::Path;

fn run(dir: &Path, args: &[&str]) -> Output {
    let o = Lvmsim::new()
        .args(["--dev", "/dev/vda=pv1.img"])
        .args(args)
        .env("LVMSIM_DETERMINISTIC", "1")
        .cwd(dir)
        .run();
    assert_eq!(o.status, 0, "{args:?}: {}", o.stderr);
    o
}

#[test]
fn history_and_recover_follow_a_renamed_vg_by_uuid() {
    let work = scratch();
    let d = work.path();
    unzst_to(
        &kernel("snap-lvremove").join("pv1.img.zst"),
        &d.join("pv1.img"),
    );
    let history = run(d, &["history", "vg"]).text();
    let recover = run(d, &["recover", "vg"]).text();
    assert!(recover.contains("vg/snap  dropped"), "{recover}");
    run(
        d,
        &[
            "recover",
            "--export",
            "vg/snap",
            "--seqno",
            "4",
            "-o",
            "before.img",
        ],
    );

    run(d, &["vgrename", "vg", "vg2"]);
    let after = run(d, &["history", "vg2"]).text();
    // Each copy by its head line and description (the note on the latest
    // copy moves to the rename's).
    let heads = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.starts_with(' ') || l.starts_with("  description:"))
            .map(|l| l.split("(").next().unwrap().to_owned())
            .collect()
    };
    let (old, new) = (heads(&history), heads(&after));
    assert_eq!(new.len(), old.len() + 2, "{after}");
    assert_eq!(
        new[..old.len()],
        old[..],
        "the old copies are not vg2's:\n{after}"
    );
    assert!(
        new[old.len()].starts_with("vg2 seqno ")
            && new[old.len() + 1] == "  description: Write from vgrename vg vg2.",
        "{new:?}"
    );
    // The old name selects the same VG.
    assert_eq!(run(d, &["history", "vg"]).text(), after);
    assert_eq!(run(d, &["recover", "vg2"]).text(), recover);
    run(
        d,
        &[
            "recover",
            "--export",
            "vg2/snap",
            "--seqno",
            "4",
            "-o",
            "after.img",
        ],
    );
    assert!(
        std::fs::read(d.join("after.img")).unwrap() == std::fs::read(d.join("before.img")).unwrap(),
        "the export after the rename differs"
    );
    // Without a name the renamed VG is one VG, not two.
    assert_eq!(run(d, &["history"]).text(), after);
}
