//! `lvmsim write` at the edges, and the new read-only commands proving
//! they are read-only: the end of an LV (ENOSPC after the part that fits,
//! as `blkdev_write_iter`), `--input`, a merging origin and its snapshot
//! (`snapshot_merge_map`, the error target), on the kernel's images.

use crate::common;

use common::{sha256, Lvmsim};
use std::path::{Path, PathBuf};

fn image(scenario: &str, file: &str, dir: &Path) -> PathBuf {
    let out = dir.join("pv1.img");
    common::unzst_to(&common::kernel(scenario).join(file), &out);
    out
}

/// Runs lvmsim on `img` (as /dev/vda) with `stdin`: (exit status, stdout,
/// stderr).
fn lvmsim(img: &Path, args: &[&str], stdin: &[u8]) -> (i32, Vec<u8>, String) {
    let o = Lvmsim::new()
        .dev("/dev/vda", img)
        .args(args)
        .stdin(stdin)
        .run();
    (o.status, o.stdout, o.stderr)
}

#[test]
fn a_write_past_the_end_writes_what_fits_then_fails_with_enospc() {
    let t = crate::common::scratch();
    let img = image("linear-fragmented", "pv1.img.zst", t.path());
    let (_, before, _) = lvmsim(&img, &["cat", "vg/c"], b"");
    let size = before.len() as u64;
    let at = (size - 3).to_string();
    let (rc, _, err) = lvmsim(&img, &["write", "vg/c", "--offset", &at], b"0123456789");
    assert_ne!(rc, 0);
    assert!(err.contains("No space left on device"), "{err}");
    let (_, after, _) = lvmsim(&img, &["cat", "vg/c"], b"");
    assert_eq!(&after[..before.len() - 3], &before[..before.len() - 3]);
    assert_eq!(
        &after[before.len() - 3..],
        b"012",
        "the part before the end"
    );
    // At the end itself nothing is written.
    let (rc, _, err) = lvmsim(
        &img,
        &["write", "vg/c", "--offset", &size.to_string()],
        b"x",
    );
    assert_ne!(rc, 0);
    assert!(err.contains("No space left on device"), "{err}");
}

#[test]
fn input_file_and_stdin_write_the_same() {
    let t = crate::common::scratch();
    let img = image("striped-mdacopies", "pv1.img.zst", t.path());
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let input = t.path().join("in.bin");
    std::fs::write(&input, &data).unwrap();
    // Only pv1 is given: s3 stripes over all three PVs, so use `rest`'s
    // first segment, which lies on pv1.
    let (rc, _, err) = lvmsim(
        &img,
        &[
            "write",
            "vg/rest",
            "--offset",
            "4097",
            "--input",
            input.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(rc, 0, "{err}");
    let (rc, out, err) = lvmsim(
        &img,
        &["cat", "vg/rest", "--offset", "4097", "--length", "300000"],
        b"",
    );
    assert_eq!(rc, 0, "{err}");
    assert!(out == data, "the bytes read back are the bytes written");
    let (rc, _, err) = lvmsim(&img, &["write", "vg/rest", "--offset", "9000"], &data);
    assert_eq!(rc, 0, "{err}");
    let (_, out, _) = lvmsim(
        &img,
        &["cat", "vg/rest", "--offset", "9000", "--length", "300000"],
        b"",
    );
    assert!(out == data);
}

#[test]
fn a_merging_origin_takes_writes_and_the_merge_keeps_them() {
    let t = crate::common::scratch();
    let img = image("merge-interrupted", "pv1.after-boot1.img.zst", t.path());
    let (rc, before, err) = lvmsim(&img, &["cat", "vg/origin"], b"");
    assert_eq!(rc, 0, "{err}");
    // The merging snapshot's own device is the error target.
    let (rc, _, err) = lvmsim(&img, &["write", "vg/snap"], &[1u8; 512]);
    assert_ne!(rc, 0);
    assert!(err.contains("Input/output error"), "{err}");
    // Chunk 0 (still in the store) and a chunk the kernel merged already.
    let a = [0xabu8; 4096];
    let b = [0xcdu8; 512];
    let last = (before.len() - 4096).to_string();
    assert_eq!(lvmsim(&img, &["write", "vg/origin"], &a).0, 0);
    assert_eq!(
        lvmsim(&img, &["write", "vg/origin", "--offset", &last], &b).0,
        0
    );
    let mut want = before.clone();
    want[..4096].copy_from_slice(&a);
    let l = before.len() - 4096;
    want[l..l + 512].copy_from_slice(&b);
    let (_, now, _) = lvmsim(&img, &["cat", "vg/origin"], b"");
    assert!(
        sha256(&now) == sha256(&want),
        "the origin shows both writes"
    );
    // Finishing the merge (lvmsim's vgchange runs it) keeps them.
    let (rc, _, err) = lvmsim(&img, &["vgchange", "-ay", "--poll", "n", "vg"], b"");
    assert_eq!(rc, 0, "{err}");
    let (_, merged, _) = lvmsim(&img, &["cat", "vg/origin"], b"");
    assert!(
        sha256(&merged) == sha256(&want),
        "the merge carried the write over"
    );
}

#[test]
fn reading_commands_leave_the_images_alone() {
    let t = crate::common::scratch();
    let img = image("snap-chunks", "pv1.img.zst", t.path());
    let before = sha256(&std::fs::read(&img).unwrap());
    for args in [
        &["cat", "vg/s4k"][..],
        &["cat", "vg/s4k", "--force"],
        &["dmsetup", "table"],
        &["dmsetup", "status"],
        &["lvs", "-a", "--active"],
    ] {
        let (rc, _, err) = lvmsim(&img, args, b"");
        assert_eq!(rc, 0, "{args:?}: {err}");
        assert!(
            sha256(&std::fs::read(&img).unwrap()) == before,
            "{args:?} changed the image"
        );
    }
}
