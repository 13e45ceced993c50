//! The keys of a segment lvm-meta keeps as text (`SegmentKind::Unknown`):
//! thin pools, thin LVs, caches and cache pools, whose keys the modules
//! that own them read through these helpers.

use lvm_meta::model::{Segment, SegmentKind, Vg};
use lvm_meta::text::{Lookup, Node, Value};

/// The key nodes of one segment.
pub(crate) struct Seg<'a> {
    nodes: &'a [Node],
}

impl Lookup for Seg<'_> {
    fn nodes(&self) -> &[Node] {
        self.nodes
    }
}

/// The keys of LV `lv`'s only segment, if it has one segment whose type
/// `is_type` accepts (pools, thin LVs and cached LVs have one).
pub(crate) fn unknown_seg<'a>(
    vg: &'a Vg,
    lv: usize,
    is_type: impl Fn(&str) -> bool,
) -> Option<Seg<'a>> {
    let l = vg.lvs.get(lv)?;
    let [s] = l.segments.as_slice() else {
        return None;
    };
    match &s.kind {
        SegmentKind::Unknown { nodes } if is_type(&s.type_name) => Some(Seg { nodes }),
        _ => None,
    }
}

/// Whether any LV of `vg` has a segment kept as text whose type `is_type`
/// accepts: the quick look a role table takes before its walk of the VG,
/// so that a VG without such a segment (most VGs: linear and striped LVs,
/// snapshots) costs one pass over the segment kinds and no allocation.
pub(crate) fn any_unknown_seg(vg: &Vg, is_type: impl Fn(&str) -> bool) -> bool {
    let hit = |s: &Segment| matches!(s.kind, SegmentKind::Unknown { .. }) && is_type(&s.type_name);
    // Most LVs have one segment: looked at without a loop.
    vg.lvs.iter().any(|l| match l.segments.as_slice() {
        [s] => hit(s),
        segs => segs.iter().any(hit),
    })
}

/// A non-negative integer key.
pub(crate) fn int(s: &Seg<'_>, key: &str) -> Option<u64> {
    match s.value(key) {
        Some(Value::Int(v)) => u64::try_from(*v).ok(),
        _ => None,
    }
}

/// A string key.
pub(crate) fn string<'a>(s: &'a Seg<'_>, key: &str) -> Option<&'a str> {
    match s.value(key) {
        Some(Value::Str(v)) => Some(v.as_str()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use lvm_meta::model::Vg;

    fn vg(text: &str) -> Vg {
        Vg::from_tree(&lvm_meta::text::parse(text.as_bytes()).unwrap()).unwrap()
    }

    /// Each role table's length in a VG: (raid, cache, writecache,
    /// integrity, vdo).
    fn lens(v: &Vg) -> [usize; 5] {
        [
            crate::raid::roles(v).len(),
            crate::cache::roles(v).len(),
            crate::writecache::roles(v).len(),
            crate::integrity::roles(v).len(),
            crate::vdo::roles(v).len(),
        ]
    }

    #[test]
    fn a_role_table_is_empty_without_a_segment_of_its_kind() {
        // VGs lvm2 wrote: the table of each kind of text-kept segment
        // they hold has an entry per LV, the others none.
        let thin = vg(include_str!("../../testdata/kernel/thin-pool/032.vgcfg.vg"));
        assert_eq!(lens(&thin), [0; 5]);
        let raid = vg(include_str!(
            "../../testdata/kernel/raid-levels/108.vgcfg.vg"
        ));
        assert_eq!(lens(&raid), [raid.lvs.len(), 0, 0, 0, 0]);
        let cache = vg(include_str!(
            "../../testdata/kernel/cache-writeback/037.vgcfg.vg"
        ));
        assert_eq!(lens(&cache), [0, cache.lvs.len(), 0, 0, 0]);
        let wc = vg(include_str!(
            "../../testdata/kernel/writecache/041.vgcfg.vg"
        ));
        // This one also holds a raid1 LV with integrity images.
        let n = wc.lvs.len();
        assert_eq!(lens(&wc), [n, 0, n, n, 0]);
        let vdo = vg(include_str!(
            "../../testdata/lvm2/corpus/vdo-restore/vgcfgbackup.txt"
        ));
        assert_eq!(lens(&vdo), [0, 0, 0, 0, vdo.lvs.len()]);
        // A role only an LV of such a VG has.
        assert!(crate::cache::role(&thin, 0).is_none());
        assert!(crate::cache::roles(&cache).iter().any(Option::is_some));
        assert!(crate::writecache::roles(&wc).iter().any(Option::is_some));
        assert!(crate::integrity::roles(&wc).iter().any(Option::is_some));
        assert!(crate::vdo::roles(&vdo).iter().any(Option::is_some));
    }
}
