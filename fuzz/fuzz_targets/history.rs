//! The forensic walk over hostile images: the first two bytes split the
//! input into up to three images; the history of their metadata areas and
//! of a whole-image scan is collected, consecutive copies are diffed, and a
//! VG is rebuilt from the scan. Nothing may panic, hang or balloon.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lvm_meta::history;
use lvm_meta::io::Image;
use lvm_meta::scan::System;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let cut1 = usize::from(data[0]) * data.len() / 256;
    let cut2 = usize::from(data[1]) * data.len() / 256;
    let body = &data[2..];
    let (c1, c2) = (cut1.min(body.len()), cut2.min(body.len()));
    let (lo, hi) = (c1.min(c2), c1.max(c2));
    let images = [&body[..lo], &body[lo..hi], &body[hi..]]
        .iter()
        .enumerate()
        .map(|(i, b)| Image::from_bytes(&format!("f{i}.img"), b.to_vec()))
        .collect();
    let Ok(mut sys) = System::scan(images) else {
        return;
    };
    let h = history::collect(&sys);
    for i in 0..h.copies.len() {
        if let (Some(p), Ok(v)) = (h.previous(i), &h.copies[i].vg) {
            if let Ok(pv) = &h.copies[p].vg {
                for c in history::diff(pv, v) {
                    let _ = c.to_string();
                }
            }
        }
    }
    let refs: Vec<&Image> = sys.devices.iter().map(|d| &d.image).collect();
    let all = history::collect_scan_all(&refs);
    let _ = history::rebuild(&mut sys, &all);
});
