//! A metadata area that cannot take the next copy: lvm2 refuses the
//! command before writing anything (`_vg_write_raw`: the text must fit
//! twice in the ring). lvmsim must refuse it too, leave every byte of the
//! images as it was, and keep working with the VG as it is.

use crate::common::{Lvmsim, Output};

fn lvmsim(img: &std::path::Path, args: &[&str]) -> Output {
    Lvmsim::new()
        .dev("/dev/a", img)
        .args(args)
        .env("LVMSIM_DETERMINISTIC", "1")
        .run()
}

#[test]
fn a_full_ring_refuses_the_command_and_changes_nothing() {
    let t = crate::common::scratch();
    let img = t.path().join("a.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    // The smallest area lvm2 makes: 32 KiB, so about 15 KiB per copy.
    assert!(lvmsim(
        &img,
        &[
            "pvcreate",
            "--metadatasize",
            "32k",
            "--dataalignment",
            "32k",
            "/dev/a"
        ]
    )
    .ok());
    assert!(lvmsim(&img, &["vgcreate", "-s", "64k", "vg", "/dev/a"]).ok());
    let mut refused = None;
    // One buffer for the image before each command (a fresh 64 MiB one per
    // command was most of this test's time).
    let mut before = vec![0u8; 64 << 20];
    for i in 0..400 {
        let name = format!("lv_with_a_long_name_{i:04}");
        {
            use std::io::Read;
            std::fs::File::open(&img)
                .unwrap()
                .read_exact(&mut before)
                .unwrap();
        }
        let o = lvmsim(
            &img,
            &["lvcreate", "-an", "-Zn", "-n", &name, "-l", "1", "vg"],
        );
        if !o.ok() {
            let err = o.stderr;
            assert!(err.contains("too large for circular buffer"), "{err}");
            assert!(
                std::fs::read(&img).unwrap() == before,
                "the refused lvcreate changed the image"
            );
            refused = Some(i);
            break;
        }
    }
    let n = refused.expect("the ring never filled");
    assert!(n > 20, "refused after only {n} LVs");
    // The VG is intact and still usable for commands that shrink it.
    let o = lvmsim(&img, &["lvs", "--noheadings", "-o", "lv_name"]);
    assert!(o.ok());
    assert_eq!(o.text().lines().count(), n);
    let o = lvmsim(&img, &["lvremove", "-y", "vg/lv_with_a_long_name_0000"]);
    assert!(o.ok(), "{}", o.stderr);
}
