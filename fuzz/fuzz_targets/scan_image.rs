//! A whole image set: the first two bytes split the input into up to three
//! images, each padded to hold a label and a small metadata area, then
//! scanned and every LV's extents mapped.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lvm_meta::io::Image;
use lvm_meta::lv_map;
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
    if let Ok(sys) = System::scan(images) {
        for v in &sys.vgs {
            for (i, lv) in v.vg.lvs.iter().enumerate() {
                let size = v.vg.lv_extents(lv).saturating_mul(v.vg.extent_bytes());
                for off in [0, size / 2, size.saturating_sub(1)] {
                    let _ = lv_map::map(&v.vg, i, off);
                }
            }
        }
    }
});
