//! The oracle for [`lvm_meta::export`]: every metadata copy real lvm2
//! 2.03.16 wrote into the test images (committed copies and the older ones
//! still in the rings), parsed, built into a model and exported again with
//! the header block read from the copy, must give the copy back byte for
//! byte.

use crate::common::{corpus_images, unzst};
use lvm_meta::export::{export, ExportHeader};
use lvm_meta::io::Image;
use lvm_meta::metadata_area::{read_area_bytes, scan_copies};
use lvm_meta::model::Vg;
use lvm_meta::scan::System;
use lvm_meta::text::parse;
use lvm_meta::timefmt::ctime;

/// One copy: where it was found and its text without the NUL.
struct Copy {
    place: String,
    text: Vec<u8>,
}

/// Every copy in every metadata area of every image, found by the ring
/// scan (`pvck --dump metadata_search`) over the areas the labels name.
fn copies() -> Vec<Copy> {
    let mut out = Vec::new();
    for path in corpus_images() {
        let name = path.display().to_string();
        let bytes = unzst(&path);
        let sys = System::scan(vec![Image::from_bytes(&name, bytes)]).unwrap();
        for dev in &sys.devices {
            if dev.label.is_none()
                && (name.contains("/damaged-label/")
                    || name.ends_with("/display-novg/n.img.zst")
                    || (name.contains("/raid-levels/") && !name.contains(".after-boot")))
            {
                // Its label was wiped on purpose (the forensic scenario, the
                // PVs raid-levels took away before its degraded boot), or
                // it was never made a PV (pvdisplay's refusal of it).
                continue;
            }
            assert!(dev.label.is_some(), "{name}: no PV label");
            for mda in &dev.mdas {
                let area = read_area_bytes(&dev.image, mda.locn.offset, mda.locn.size).unwrap();
                for c in scan_copies(&area, mda.locn.offset) {
                    assert!(
                        !c.bad_end,
                        "{name} at {}: copy does not end in \\n\\n\\0",
                        c.offset
                    );
                    let text = c.text.strip_suffix(b"\0").unwrap().to_vec();
                    out.push(Copy {
                        place: format!("{name} at byte {} (seqno {})", c.offset, c.seqno),
                        text,
                    });
                }
            }
        }
    }
    out
}

/// The first differing line, for a readable failure.
fn first_difference(want: &str, got: &str) -> String {
    for (i, (w, g)) in want.lines().zip(got.lines()).enumerate() {
        if w != g {
            return format!("line {}: lvm2 wrote {w:?}, export wrote {g:?}", i + 1);
        }
    }
    format!(
        "lengths differ: lvm2 wrote {} bytes, export wrote {}",
        want.len(),
        got.len()
    )
}

#[test]
fn every_real_copy_round_trips_byte_exactly() {
    let copies = copies();
    let mut failures = Vec::new();
    let mut distinct = std::collections::BTreeSet::new();
    for c in &copies {
        distinct.insert(c.text.clone());
        let want = std::str::from_utf8(&c.text).expect("lvm2 text is UTF-8");
        let header = ExportHeader::from_text(&c.text)
            .unwrap_or_else(|| panic!("{}: header block not in lvm2's form", c.place));
        let vg = Vg::from_tree(&parse(&c.text).unwrap()).unwrap();
        let got = export(&vg, &header);
        if got != want {
            failures.push(format!("{}: {}", c.place, first_difference(want, &got)));
        }
    }
    println!(
        "export: compared {} metadata copies written by lvm2 ({} distinct texts), {} differ",
        copies.len(),
        distinct.len(),
        failures.len()
    );
    assert!(
        copies.len() >= 200,
        "only {} copies found: is testdata complete?",
        copies.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn headers_carry_utc_ctime_of_creation_time() {
    // The corpus was made on hosts running in UTC, so timefmt::ctime must give
    // the very strings lvm2 printed.
    let copies = copies();
    for c in &copies {
        let h = ExportHeader::from_text(&c.text).unwrap();
        assert_eq!(
            ctime(i64::try_from(h.creation_time).unwrap()),
            h.ctime,
            "{}",
            c.place
        );
    }
}
