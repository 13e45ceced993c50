//! RAID and mirror LVs in reports: which LV is a RAID or mirror LV and
//! which are its hidden images (`_rimage_N`, `_mimage_N`), metadata
//! images (`_rmeta_N`) and mirror log (`_mlog`), and the values `lvs`
//! prints for them (`lv_attr` letters, `lv_layout`, `lv_role`, devices).
//! The segment keys are typed by [`lvm_meta::raid`].

use lvm_meta::model::{Area, SegmentKind, Vg};
use lvm_meta::raid::{ParityLayout, RaidLevel, RaidSeg};

/// The RAID or mirror segment of LV `lv` (its first such segment), if its
/// keys are valid.
pub fn seg(vg: &Vg, lv: usize) -> Option<RaidSeg> {
    let l = vg.lvs.get(lv)?;
    l.segments
        .iter()
        .find_map(|s| RaidSeg::of(&l.name, s, |n| vg.lv_index(n)).ok().flatten())
}

/// What LV `lv` is to a RAID or mirror LV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RaidRole {
    /// A RAID or mirror LV itself.
    Top(RaidSeg),
    /// A data image of LV `top` (`_rimage_N`, or `_mimage_N` if `mirror`).
    Image {
        /// The RAID or mirror LV.
        top: usize,
        /// True for a mirror's image.
        mirror: bool,
    },
    /// A metadata image (`_rmeta_N`) of LV `.0`.
    Meta(usize),
    /// The disk log (`_mlog`) of mirror LV `.0`.
    Log(usize),
}

/// LV `lv`'s part in a RAID or mirror LV.
pub fn role(vg: &Vg, lv: usize) -> Option<RaidRole> {
    if let Some(s) = seg(vg, lv) {
        return Some(RaidRole::Top(s));
    }
    (0..vg.lvs.len()).find_map(|top| {
        if top == lv {
            return None;
        }
        let s = seg(vg, top)?;
        let mirror = s.level == RaidLevel::Mirror;
        if s.mirror_log == Some(lv) {
            return Some(RaidRole::Log(top));
        }
        s.images.iter().find_map(|im| {
            if im.data == lv {
                Some(RaidRole::Image { top, mirror })
            } else if im.meta == Some(lv) {
                Some(RaidRole::Meta(top))
            } else {
                None
            }
        })
    })
}

/// Every LV's [`role`], in one pass over the VG: what `role` finds for each
/// LV, without searching every LV for each one (a report asks for each
/// row's role, and VGs hold thousands of LVs).
///
/// Indexed like `vg.lvs`, but empty (no allocation, no walk beyond a look
/// at the segment types) when no LV has a RAID or mirror segment: read it
/// with `get`, a missing entry is no role.
pub fn roles(vg: &Vg) -> Vec<Option<RaidRole>> {
    // The types `RaidSeg::of` reads: a RAID level, `+FLAG`s aside.
    let is_raid = |t: &str| RaidLevel::from_type(t.split('+').next().unwrap_or(t)).is_some();
    if !crate::seg_keys::any_unknown_seg(vg, is_raid) {
        return Vec::new();
    }
    let mut out: Vec<Option<RaidRole>> = (0..vg.lvs.len())
        .map(|i| seg(vg, i).map(RaidRole::Top))
        .collect();
    // A sub-LV takes its role from the first RAID or mirror LV (in metadata
    // order) naming it, the log before the images, as `role` searches.
    let mut subs: Vec<(usize, RaidRole)> = Vec::new();
    for (top, r) in out.iter().enumerate() {
        let Some(RaidRole::Top(s)) = r else {
            continue;
        };
        let mirror = s.level == RaidLevel::Mirror;
        subs.extend(s.mirror_log.map(|l| (l, RaidRole::Log(top))));
        for im in &s.images {
            subs.push((im.data, RaidRole::Image { top, mirror }));
            subs.extend(im.meta.map(|m| (m, RaidRole::Meta(top))));
        }
    }
    for (lv, r) in subs {
        if let Some(slot @ None) = out.get_mut(lv) {
            *slot = Some(r);
        }
    }
    out
}

/// The `lv_attr` letters lvm2 gives a RAID or mirror LV or one of its
/// sub-LVs: (volume type, target type).
pub fn attr_letters(vg: &Vg, lv: usize, role: &RaidRole) -> (char, char) {
    let notsynced = vg.lvs[lv].status.iter().any(|f| f == "NOTSYNCED");
    match role {
        RaidRole::Top(s) if s.level == RaidLevel::Mirror => {
            (if notsynced { 'M' } else { 'm' }, 'm')
        }
        RaidRole::Top(_) => (if notsynced { 'R' } else { 'r' }, 'r'),
        RaidRole::Image { mirror, .. } => ('i', if *mirror { 'm' } else { 'r' }),
        RaidRole::Meta(_) => ('e', 'r'),
        RaidRole::Log(_) => ('l', 'm'),
    }
}

/// `lv_layout` of a RAID or mirror LV (`raid,raid5,raid5_ls`).
pub fn layout(s: &RaidSeg) -> String {
    match s.level {
        RaidLevel::Mirror => "mirror".into(),
        RaidLevel::Raid1 => "raid,raid1".into(),
        // raid0_meta is "raid" alone (raid-levels' `r0m`).
        RaidLevel::Raid0 if s.type_name == "raid0" => "raid,raid0".into(),
        RaidLevel::Raid0 => "raid".into(),
        RaidLevel::Raid10 => "raid,raid10".into(),
        RaidLevel::Parity(ParityLayout::Raid4) => "raid,raid4".into(),
        RaidLevel::Parity(p) => {
            let level = if p.parity_images() == 1 {
                "raid5"
            } else {
                "raid6"
            };
            // lvm2 names the rotating layouts; the fixed-parity ones
            // (raid5_n seen in raid-levels; raid6_n_6 taken to be alike)
            // get the level only.
            match s.type_name.as_str() {
                "raid5_n" | "raid6_n_6" => format!("raid,{level}"),
                "raid5" => "raid,raid5,raid5_ls".into(),
                "raid6" => "raid,raid6,raid6_zr".into(),
                n => format!("raid,{level},{n}"),
            }
        }
    }
}

/// `data_copies` as lvm2 reports it: a full copy per raid1 image, raid10's
/// copies (2 unless written), the data plus its parity images for raid4/5/6,
/// and 1 for raid0 and the old mirror target (whose segment keeps none).
pub fn data_copies(s: &RaidSeg) -> u64 {
    match s.level {
        RaidLevel::Mirror | RaidLevel::Raid0 => 1,
        RaidLevel::Raid1 => s.images.len() as u64,
        RaidLevel::Raid10 => u64::from(s.data_copies.unwrap_or(2)),
        RaidLevel::Parity(p) => u64::from(p.parity_images()) + 1,
    }
}

/// `data_stripes`: the images that hold distinct data (every image of a
/// mirror, raid1 or raid0; raid10's images over its copies; raid4/5/6's
/// images but the parity ones).
pub fn data_stripes(s: &RaidSeg) -> u64 {
    let n = s.images.len() as u64;
    match s.level {
        RaidLevel::Mirror | RaidLevel::Raid1 | RaidLevel::Raid0 => n,
        RaidLevel::Raid10 => n / data_copies(s).max(1),
        RaidLevel::Parity(p) => n.saturating_sub(u64::from(p.parity_images())),
    }
}

/// `parity_chunks`: the parity images of raid4/5/6, otherwise the copies
/// beyond the first (lvm2 prints nothing for 0).
pub fn parity_chunks(s: &RaidSeg) -> u64 {
    match s.level {
        RaidLevel::Parity(p) => u64::from(p.parity_images()),
        _ => data_copies(s).saturating_sub(1),
    }
}

/// `lv_role` of a sub-LV.
pub fn sub_role(role: &RaidRole) -> Option<&'static str> {
    Some(match role {
        RaidRole::Top(_) => return None,
        RaidRole::Image { mirror: true, .. } => "private,mirror,image",
        RaidRole::Image { mirror: false, .. } => "private,raid,image",
        RaidRole::Meta(_) => "private,raid,metadata",
        RaidRole::Log(_) => "private,mirror,log",
    })
}

/// True if LV `lv`, or any LV it is built from, has an area on a PV for
/// which `missing` holds (lvm2's partial LV).
pub fn uses_missing(vg: &Vg, lv: usize, missing: &dyn Fn(usize) -> bool) -> bool {
    fn walk(vg: &Vg, lv: usize, missing: &dyn Fn(usize) -> bool, depth: usize) -> bool {
        let Some(l) = vg.lvs.get(lv) else {
            return false;
        };
        if depth > lvm_meta::lv_map::MAX_LV_STACK {
            return false;
        }
        let mut subs = Vec::new();
        for s in &l.segments {
            match &s.kind {
                SegmentKind::Striped { stripes, .. } => {
                    for a in stripes {
                        match a {
                            Area::Pv { pv, .. } if missing(*pv) => return true,
                            Area::Pv { .. } => {}
                            Area::Lv { lv, .. } => subs.push(*lv),
                        }
                    }
                }
                SegmentKind::Unknown { .. } => {
                    if let Ok(Some(r)) = RaidSeg::of(&l.name, s, |n| vg.lv_index(n)) {
                        for im in &r.images {
                            subs.push(im.data);
                            subs.extend(im.meta);
                        }
                        subs.extend(r.mirror_log);
                    }
                }
                _ => {}
            }
        }
        subs.into_iter().any(|s| walk(vg, s, missing, depth + 1))
    }
    walk(vg, lv, missing, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The VG metadata of testdata/kernel/raid-levels (its `vgcfgbackup`):
    /// every RAID level and two mirrors, with their sub-LVs.
    const VG: &str = include_str!("../../testdata/kernel/raid-levels/108.vgcfg.vg");

    #[test]
    fn roles_in_one_pass_are_each_lvs_role() {
        let t = lvm_meta::text::parse(VG.as_bytes()).unwrap();
        let vg = Vg::from_tree(&t).unwrap();
        let all = roles(&vg);
        assert_eq!(all.len(), vg.lvs.len());
        for (i, r) in all.iter().enumerate() {
            assert_eq!(*r, role(&vg, i), "{}", vg.lvs[i].name);
        }
        // The VG has tops, images, metadata images and a mirror log.
        let has = |f: fn(&RaidRole) -> bool| all.iter().flatten().any(f);
        assert!(has(|r| matches!(r, RaidRole::Top(_))));
        assert!(has(|r| matches!(r, RaidRole::Image { mirror: true, .. })));
        assert!(has(|r| matches!(r, RaidRole::Image { mirror: false, .. })));
        assert!(has(|r| matches!(r, RaidRole::Meta(_))));
        assert!(has(|r| matches!(r, RaidRole::Log(_))));
    }

    #[test]
    fn a_vg_without_raid_has_an_empty_table() {
        // testdata/kernel/thin-pool's VG: a thin pool, no RAID or mirror.
        let text = include_str!("../../testdata/kernel/thin-pool/032.vgcfg.vg");
        let vg = Vg::from_tree(&lvm_meta::text::parse(text.as_bytes()).unwrap()).unwrap();
        assert!(!vg.lvs.is_empty());
        assert!(roles(&vg).is_empty());
        assert!((0..vg.lvs.len()).all(|i| role(&vg, i).is_none()));
    }
}
