//! Hostile input never panics the forensic walk: real kernel-made images
//! with bytes of their metadata area and of a removed snapshot's store
//! changed at random (a fixed-seed generator, so failures reproduce) go
//! through history, diff, the whole-image scan, rebuild and the recovery
//! survey. The fuzz target `history` does the same with arbitrary input.

use crate::common;

use lvm_meta::history;
use lvm_meta::io::{Image, ReadAt};
use lvm_meta::scan::System;
use std::collections::BTreeMap;
use std::sync::Arc;

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

/// A kernel-made image with some bytes changed: the image is shared by
/// every round (a copy of it per round was most of this test's time).
struct Mutated {
    base: Arc<Vec<u8>>,
    /// Offset -> new byte.
    changed: BTreeMap<usize, u8>,
}

impl ReadAt for Mutated {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        self.base.as_slice().read_exact_at(buf, offset)?;
        let at = offset as usize;
        for (&o, &b) in self.changed.range(at..at + buf.len()) {
            buf[o - at] = b;
        }
        Ok(())
    }
    fn size(&self) -> std::io::Result<u64> {
        Ok(self.base.len() as u64)
    }
}

fn walk(m: Mutated) {
    let mut img = Image::from_bytes("m.img", Vec::new());
    img.size = m.base.len() as u64;
    img.data = Box::new(m);
    let Ok(mut sys) = System::scan(vec![img]) else {
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
    let _ = cow_engine::recover::survey(&sys, &h);
    let refs: Vec<&Image> = sys.devices.iter().map(|d| &d.image).collect();
    let all = history::collect_scan_all(&refs);
    let _ = history::rebuild(&mut sys, &all);
    let _ = cow_engine::recover::survey(&sys, &all);
}

#[test]
fn mutated_metadata_and_stores_do_not_panic() {
    let orig = Arc::new(common::unzst(
        &common::kernel("snap-lvremove").join("pv1.img.zst"),
    ));
    let mut rng = Lcg(0x6f72_656e_7369_6373);
    for round in 0..60 {
        let mut b = Mutated {
            base: orig.clone(),
            changed: BTreeMap::new(),
        };
        for _ in 0..1 + round % 16 {
            // Metadata area (4096..16384 holds the ring's copies) or the
            // removed snapshot's COW extent (pv0:8, 9 MiB in).
            let at = if rng.next() & 1 == 0 {
                4096 + (rng.next() % 12288) as usize
            } else {
                (9 << 20) + (rng.next() % 65536) as usize
            };
            b.changed.insert(at, rng.next() as u8);
        }
        walk(b);
    }
}
