//! The typed VG model built from metadata text: building never panics, and
//! export is stable. The first export normalises what lvm2's own export
//! normalises (LV order: visible first; PV and segment keys; an LV's
//! creation_host without a creation_time), so the property is:
//! text → model → text' → model' → text'' with text' = text'' and
//! model' = model'', and model' keeps the VG's identity, every PV and
//! every LV (by name, with its id and segments' extents).
#![no_main]
use libfuzzer_sys::fuzz_target;
use lvm_meta::export::{export, ExportHeader};
use lvm_meta::model::Vg;
use lvm_meta::text;

fn lv_summary(vg: &Vg) -> Vec<(String, String, Vec<(u32, u32)>)> {
    let mut v: Vec<_> = vg
        .lvs
        .iter()
        .map(|l| {
            let segs = l
                .segments
                .iter()
                .map(|s| (s.start_extent, s.extent_count))
                .collect();
            (l.name.clone(), l.id.clone(), segs)
        })
        .collect();
    v.sort();
    v
}

fuzz_target!(|data: &[u8]| {
    let Ok(tree) = text::parse(data) else { return };
    let Ok(vg) = Vg::from_tree(&tree) else { return };
    let header = ExportHeader::new("fuzz", "host", "Linux host 0 #1 x86_64", 0);
    let written = export(&vg, &header);
    let tree2 = text::parse(written.as_bytes()).expect("exported text parses");
    let vg2 = Vg::from_tree(&tree2).expect("exported text builds a VG");
    // lvm2 names PVs pv0.. in order; the rest of each PV must stay.
    let pvs = |vg: &Vg| {
        let mut p = vg.pvs.clone();
        p.iter_mut().for_each(|p| p.key.clear());
        p
    };
    assert_eq!(
        (&vg2.name, &vg2.id, vg2.seqno, vg2.extent_size, pvs(&vg2)),
        (&vg.name, &vg.id, vg.seqno, vg.extent_size, pvs(&vg)),
        "the export changed the VG's identity or PVs"
    );
    assert_eq!(
        lv_summary(&vg2),
        lv_summary(&vg),
        "the export lost or changed an LV"
    );
    let again = export(&vg2, &header);
    assert_eq!(again, written, "a second export differs");
    let vg3 = Vg::from_tree(&text::parse(again.as_bytes()).expect("parses")).expect("builds");
    assert_eq!(vg3, vg2, "model -> text -> model is not stable");
});
