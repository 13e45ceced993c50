//! A whole synthetic image set through what pvs/vgs/lvs, vgcfgbackup and
//! cat do in the library: scan, map every LV, export every VG, open every
//! LV's view (snapshots and merging origins load their COW store) and read
//! its first and last bytes; then commit each VG's metadata again in memory
//! (the write path) and scan the result, which must show the new seqno.
//!
//! Input: the first two bytes split the rest into up to three images.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lvm_meta::commit;
use lvm_meta::export::{export, ExportHeader};
use lvm_meta::io::Image;
use lvm_meta::lv_map;
use lvm_meta::scan::System;

fn scan(parts: &[Vec<u8>]) -> Option<System> {
    let images = parts
        .iter()
        .enumerate()
        .map(|(i, b)| Image::from_bytes(&format!("f{i}.img"), b.clone()))
        .collect();
    System::scan(images).ok()
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let body = &data[2..];
    let c1 = (usize::from(data[0]) * body.len() / 256).min(body.len());
    let c2 = (usize::from(data[1]) * body.len() / 256).min(body.len());
    let (lo, hi) = (c1.min(c2), c1.max(c2));
    let parts: Vec<Vec<u8>> = [&body[..lo], &body[lo..hi], &body[hi..]]
        .iter()
        .map(|b| b.to_vec())
        .collect();
    let Some(sys) = scan(&parts) else { return };
    let header = ExportHeader::new("fuzz", "host", "Linux host 0 #1 x86_64", 1);
    let mut commits = Vec::new();
    for inst in &sys.vgs {
        let vg = &inst.vg;
        let pvs = sys.pv_images(inst);
        for (i, lv) in vg.lvs.iter().enumerate() {
            let size = vg.lv_extents(lv).saturating_mul(vg.extent_bytes());
            for off in [0, size / 2, size.saturating_sub(1)] {
                let _ = lv_map::map(vg, i, off);
            }
            if let Ok(v) = cow_engine::view::open(vg, i, &pvs) {
                let mut buf = [0u8; 512];
                let n = v.size().min(512);
                let _ = v.read_at(0, &mut buf[..n as usize]);
                let _ = v.read_at(v.size() - n, &mut buf[..n as usize]);
            }
        }
        let mut next = (**vg).clone();
        let Some(seqno) = next.seqno.checked_add(1) else {
            continue;
        };
        next.seqno = seqno;
        let text = export(&next, &header);
        if let Ok(writes) = commit::plan(&sys, inst, &text) {
            commits.push((vg.name.clone(), seqno, writes));
        }
    }
    for (name, seqno, writes) in commits {
        let mut after = parts.clone();
        if commit::apply_in_memory(&mut after, &writes).is_err() {
            continue;
        }
        let sys2 = scan(&after).expect("a committed image set scans");
        // Other VGs of the same name may win the lookup; any copy of this
        // VG must now be at the new seqno.
        let got: Vec<u32> = sys2
            .vgs
            .iter()
            .filter(|v| v.vg.name == name)
            .map(|v| v.vg.seqno)
            .collect();
        assert!(
            got.contains(&seqno),
            "VG {name}: committed seqno {seqno}, scan shows {got:?}"
        );
    }
});
