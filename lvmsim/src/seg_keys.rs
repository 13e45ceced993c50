//! The keys of a segment lvm-meta keeps as text (`SegmentKind::Unknown`):
//! thin pools, thin LVs, caches and cache pools, whose keys the modules
//! that own them read through these helpers.

use lvm_meta::model::{SegmentKind, Vg};
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
