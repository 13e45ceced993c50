//! The kernel's own images as the oracle for merge: the `merge-interrupted`
//! scenario stopped the machine mid-merge (images `*.after-boot1`); the
//! kernel finished the merge on the next boot. lvmsim resumes the merge
//! from the interrupted images and must leave the same origin bytes (sha256
//! recorded by the kernel) and the same COW bytes the kernel left.

use crate::common::{image, kernel, sha256};
use cow_engine::blocks::{Images, LvSet};
use cow_engine::engine::{merge, DevSet, PStore};
use lvm_meta::io::Image;
use lvm_meta::scan::System;

const SCENARIO: &str = "merge-interrupted";

#[test]
fn resumed_merge_matches_the_kernel() {
    let interrupted = image(SCENARIO, "pv1.after-boot1.img.zst");
    let final_kernel = image(SCENARIO, "pv1.img.zst");
    let sys = System::scan(vec![Image::from_bytes("pv1", interrupted.clone())]).unwrap();
    let vg = &sys.vgs[0].vg;
    let origin = vg.lv_index("origin").unwrap();
    let cow = vg.lv_index("snap").unwrap();
    let c = vg.roles[cow].cow_of.expect("snap is the merging COW");
    assert!(c.merging, "the interrupted image holds a merge in progress");
    let mut set = LvSet {
        vg,
        images: Images {
            pvs: vec![Some(interrupted)],
        },
    };
    let mut m = PStore::activate(&mut set, cow, c.chunk_size.0).unwrap();
    let left = m.map.len();
    assert!(left > 0, "the kernel left chunks to merge");
    let batches = merge(&mut set, origin, &mut m, &mut [], None).unwrap();
    assert!(batches > 0);
    assert_eq!(
        m.usage(&set).0,
        m.usage(&set).2,
        "finished: allocated == metadata"
    );

    // The origin's bytes: the kernel's check after its merge (step 025).
    let mut o = vec![0u8; set.size(origin) as usize];
    set.read(origin, 0, &mut o).unwrap();
    let want = std::fs::read_to_string(kernel(SCENARIO, "025.sha256")).unwrap();
    let got = sha256(&o);
    assert_eq!(
        &want[..64],
        got,
        "{left} chunks resumed in {batches} batches"
    );

    // Byte for byte, the origin and the COW extents equal what the kernel
    // left on the disk (lvm2 removed the COW LV afterwards but did not wipe it).
    let Some(img) = &set.images.pvs[0] else {
        unreachable!()
    };
    for lv in [origin, cow] {
        for seg in &vg.lvs[lv].segments {
            if let lvm_meta::model::SegmentKind::Striped { stripes, .. } = &seg.kind {
                for a in stripes {
                    if let lvm_meta::model::Area::Pv { pv: 0, pe } = a {
                        let start = ((vg.pvs[0].pe_start.0 + u64::from(*pe) * vg.extent_size.0)
                            * 512) as usize;
                        let len = (u64::from(seg.extent_count) * vg.extent_bytes()) as usize;
                        assert!(
                            img[start..start + len] == final_kernel[start..start + len],
                            "LV {} differs from the kernel's image",
                            vg.lvs[lv].name
                        );
                    }
                }
            }
        }
    }
}
