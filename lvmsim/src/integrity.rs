//! Integrity images (dm-integrity under RAID images, lvm2's
//! `--raidintegrity y`): the `integrity` segment of the VG metadata and
//! what each LV is to it. lvm2 stacks an `integrity` segment on each RAID
//! image, naming its data LV (`origin`, `IMAGE_iorig`) and the metadata
//! LV holding tags and journal (`meta_dev`, `IMAGE_imeta`), with `mode`
//! (`J` journal, `B` bitmap), `block_size`, `tag_size` and
//! `internal_hash`. The image reads as its data LV (see
//! [`lvm_meta::lv_map`]); the tags are not checked.

use crate::seg_keys::{any_unknown_seg, int, string, unknown_seg};
use lvm_meta::model::Vg;

/// An `integrity` segment's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegritySeg {
    /// `origin`: index of the data LV (`_iorig`).
    pub origin: usize,
    /// `meta_dev`: index of the metadata LV (`_imeta`).
    pub meta: usize,
    /// `mode`: `J` (journal) or `B` (bitmap).
    pub mode: Option<String>,
    /// `block_size` in bytes.
    pub block_size: Option<u64>,
}

/// lvm2's segment type of an integrity image.
const INTEGRITY_TYPE: &str = "integrity";

/// LV `lv` as an integrity image, if it is one with valid keys.
pub fn integrity_seg(vg: &Vg, lv: usize) -> Option<IntegritySeg> {
    let s = unknown_seg(vg, lv, |t| t == INTEGRITY_TYPE)?;
    Some(IntegritySeg {
        origin: vg.lv_index(string(&s, "origin")?)?,
        meta: vg.lv_index(string(&s, "meta_dev")?)?,
        mode: string(&s, "mode").map(str::to_owned),
        block_size: int(&s, "block_size"),
    })
}

/// What an LV is to an integrity image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntegrityRole {
    /// An integrity image.
    Image(IntegritySeg),
    /// The metadata LV (`_imeta`) of image `.0`.
    Meta(usize),
    /// The data LV (`_iorig`) of image `.0`.
    Origin(usize),
}

/// Every LV's part in an integrity image, by LV index.
///
/// Empty (no allocation, no walk beyond a look at the segment types) when
/// no LV has an integrity segment: read it with `get`, a missing entry is
/// no role.
pub fn roles(vg: &Vg) -> Vec<Option<IntegrityRole>> {
    if !any_unknown_seg(vg, |t| t == INTEGRITY_TYPE) {
        return Vec::new();
    }
    let mut out = vec![None; vg.lvs.len()];
    for i in 0..vg.lvs.len() {
        if let Some(s) = integrity_seg(vg, i) {
            if let Some(o) = out.get_mut(s.origin) {
                *o = Some(IntegrityRole::Origin(i));
            }
            if let Some(m) = out.get_mut(s.meta) {
                *m = Some(IntegrityRole::Meta(i));
            }
            out[i] = Some(IntegrityRole::Image(s));
        }
    }
    out
}

/// lvm2's name of an integrity mode (`raidintegritymode`).
pub fn mode_name(mode: &str) -> &str {
    match mode {
        "J" => "journal",
        "B" => "bitmap",
        other => other,
    }
}
