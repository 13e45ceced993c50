//! `dmsetup status`: the device-mapper devices lvm2 would load for each VG
//! on activation, with the status line the kernel would report for each,
//! computed from the images (snapshot fill levels from the exception
//! stores, exactly as `persistent_usage` counts them; thin-pool and thin
//! lines from the pool's committed metadata, see [`crate::thin::dm_pool`]
//! for the pools lvmsim refuses to describe).

use crate::error::Result;
use cow_engine::view::load_store;
use lvm_meta::io::Image;
use lvm_meta::model::{SegmentKind, Vg};
use lvm_meta::scan::{System, VgInstance};
use std::io::Write;

use crate::names::dm_name;

/// Refuses a VG holding integrity images: their target lines are not
/// printed yet (an empty line would be wrong).
fn refuse_cache(vg: &lvm_meta::model::Vg) -> Result<()> {
    let integrity = |l: &lvm_meta::model::Lv| l.segments.iter().any(|s| s.type_name == "integrity");
    match vg.lvs.iter().find(|l| integrity(l)) {
        Some(l) => Err(crate::error::Error::Refused(format!(
            "{}/{}: lvmsim's dmsetup does not print integrity targets yet",
            vg.name, l.name
        ))),
        None => Ok(()),
    }
}

/// What LV `lv` is to lvm2's cache activation: a cached LV or an LV with
/// a writecache (its sub-devices and its own), a cache pool (never
/// activated on its own), or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cached {
    /// A `cache` segment.
    Cache,
    /// A `writecache` segment.
    Writecache,
    /// A `cache-pool` segment: lvm2 loads no device for it.
    Pool,
}

fn cached(vg: &Vg, lv: usize) -> Option<Cached> {
    let t = vg.lvs[lv].segments.first()?.type_name.as_str();
    match t.split('+').next().unwrap_or(t) {
        "cache" => Some(Cached::Cache),
        "writecache" => Some(Cached::Writecache),
        "cache-pool" => Some(Cached::Pool),
        _ => None,
    }
}

/// The LVs under cached LV `lv` in creation order (see
/// [`crate::cache::dm_parts`], [`crate::writecache::dm_parts`]).
fn cache_parts(vg: &Vg, lv: usize, kind: Cached) -> Result<Vec<usize>> {
    Ok(match kind {
        Cached::Cache => crate::cache::dm_parts(vg, lv)?.to_vec(),
        Cached::Writecache => crate::writecache::dm_parts(vg, lv)?.to_vec(),
        Cached::Pool => Vec::new(),
    })
}

/// The per-segment status lines of an LV's own segments (`linear` or
/// `striped` with its PV device numbers and health; a stripe on a missing
/// PV names the error device lvm2 loads in its place, numbered by
/// `minor_of`).
fn segment_lines(
    vg: &Vg,
    inst: &VgInstance,
    lv: usize,
    devno: &dyn Fn(usize) -> String,
    minor_of: &dyn Fn(&str) -> Option<String>,
) -> Vec<String> {
    let es = vg.extent_size.0;
    vg.lvs[lv]
        .segments
        .iter()
        .enumerate()
        .map(|(s, sg)| {
            let start = u64::from(sg.start_extent) * es;
            let len = u64::from(sg.extent_count) * es;
            match &sg.kind {
                SegmentKind::Striped { stripes, .. } if stripes.len() > 1 => {
                    let devs: Vec<String> = stripes
                        .iter()
                        .enumerate()
                        .map(|(k, a)| match a {
                            lvm_meta::model::Area::Pv { pv, .. } => {
                                inst.pv_devices[*pv].map(devno).unwrap_or_else(|| {
                                    minor_of(&missing_name(vg, lv, s, k))
                                        .unwrap_or_else(|| "-".to_owned())
                                })
                            }
                            lvm_meta::model::Area::Lv { .. } => "-".to_owned(),
                        })
                        .collect();
                    format!(
                        "{start} {len} striped {} {} 1 {}",
                        stripes.len(),
                        devs.join(" "),
                        "A".repeat(stripes.len())
                    )
                }
                SegmentKind::Striped { .. } => format!("{start} {len} linear "),
                SegmentKind::Zero => format!("{start} {len} zero "),
                SegmentKind::Error => format!("{start} {len} error "),
                _ => format!("{start} {len} {} ", sg.type_name),
            }
        })
        .collect()
}

/// The name of the error device lvm2 loads for area `area` of segment
/// `seg` of LV `lv` when its PV is missing.
fn missing_name(vg: &Vg, lv: usize, seg: usize, area: usize) -> String {
    dm_name(
        &vg.name,
        &vg.lvs[lv].name,
        Some(&format!("missing_{seg}_{area}")),
    )
}

/// The error devices under LV `lv`'s areas on missing PVs: (name, table
/// or status line), an `error` target as long as the whole segment.
fn missing_devices(vg: &Vg, inst: &VgInstance, lv: usize) -> Vec<(usize, usize, String, String)> {
    let mut out = Vec::new();
    for (s, sg) in vg.lvs[lv].segments.iter().enumerate() {
        let SegmentKind::Striped { stripes, .. } = &sg.kind else {
            continue;
        };
        for (a, area) in stripes.iter().enumerate() {
            if let lvm_meta::model::Area::Pv { pv, .. } = area {
                if inst.pv_devices[*pv].is_none() {
                    let len = u64::from(sg.extent_count) * vg.extent_size.0;
                    out.push((s, a, missing_name(vg, lv, s, a), format!("0 {len} error ")));
                }
            }
        }
    }
    out
}

/// The layer name of a thin pool's `thin-pool` device.
const TPOOL: &str = "tpool";

/// What an LV is to thin provisioning's device-mapper tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ThinKind {
    /// A `thin-pool` segment.
    Pool,
    /// A `thin` segment.
    Thin,
}

/// LV `lv`'s thin kind, by its first segment's type (also for segments
/// lvmsim cannot read, which [`crate::thin::dm_pool`] then refuses).
fn thin_kind(vg: &Vg, lv: usize) -> Option<ThinKind> {
    match vg.lvs[lv].segments.first()?.type_name.as_str() {
        "thin-pool" => Some(ThinKind::Pool),
        "thin" => Some(ThinKind::Thin),
        _ => None,
    }
}

/// A snapshot target's status: `allocated/total metadata` as
/// `persistent_usage` counts them, or `Invalid`.
fn store_status(vg: &Vg, cow: usize, chunk: u64, pvs: &[Option<&Image>]) -> Result<String> {
    let store = load_store(vg, cow, chunk, pvs)?;
    Ok(crate::active::SnapStatus::of_store(&store).to_string())
}

/// Writes `dmsetup status` for every VG (or the named ones), sorted by
/// device name as dmsetup lists them. `devno` maps a device index to
/// `MAJ:MIN`, `minor_of` a device-mapper name to its `MAJ:MIN` (mirror
/// status lines name their legs' devices).
pub fn status(
    sys: &System,
    vgs: &[String],
    devno: &dyn Fn(usize) -> String,
    minor_of: &dyn Fn(&str) -> Option<String>,
    out: &mut dyn Write,
) -> Result<()> {
    let mut lines: Vec<(String, String)> = Vec::new();
    for inst in &sys.vgs {
        let vg = &inst.vg;
        if !vgs.is_empty() && !vgs.contains(&vg.name) {
            continue;
        }
        refuse_cache(vg)?;
        let pvs = sys.pv_images(inst);
        let size = |i: usize| vg.lv_extents(&vg.lvs[i]) * vg.extent_size.0;
        for (i, lv) in vg.lvs.iter().enumerate() {
            if lv.is_snapshot_glue() {
                continue;
            }
            match thin_kind(vg, i) {
                Some(ThinKind::Pool) => {
                    // lvm2 loads the pool as `-tpool` over its metadata and
                    // data LVs, and the pool's own device as a linear
                    // mapping of all of `-tpool`.
                    let seg = crate::thin::dm_pool(vg, i)?;
                    let st = crate::thin::dm_pool_status(vg, i, &pvs)?;
                    for part in [seg.metadata, seg.data] {
                        for (_, _, n, l) in missing_devices(vg, inst, part) {
                            lines.push((n, l));
                        }
                        for l in segment_lines(vg, inst, part, devno, minor_of) {
                            lines.push((dm_name(&vg.name, &vg.lvs[part].name, None), l));
                        }
                    }
                    // A new pool (no thin LV ever made) is the
                    // `thin-pool` target under its own name.
                    if seg.is_new() {
                        lines.push((
                            dm_name(&vg.name, &lv.name, None),
                            format!("0 {} thin-pool {st}", size(i)),
                        ));
                        continue;
                    }
                    lines.push((
                        dm_name(&vg.name, &lv.name, Some(TPOOL)),
                        format!("0 {} thin-pool {st}", size(i)),
                    ));
                    lines.push((
                        dm_name(&vg.name, &lv.name, None),
                        format!("0 {} linear ", size(i)),
                    ));
                    continue;
                }
                Some(ThinKind::Thin) => {
                    let st = crate::thin::dm_thin_status(vg, i, &pvs)?;
                    lines.push((
                        dm_name(&vg.name, &lv.name, None),
                        format!("0 {} thin {st}", size(i)),
                    ));
                    continue;
                }
                None => {}
            }
            if let Some(kind) = cached(vg, i) {
                if kind == Cached::Pool {
                    continue;
                }
                for part in cache_parts(vg, i, kind)? {
                    for (_, _, n, l) in missing_devices(vg, inst, part) {
                        lines.push((n, l));
                    }
                    for l in segment_lines(vg, inst, part, devno, minor_of) {
                        lines.push((dm_name(&vg.name, &vg.lvs[part].name, None), l));
                    }
                }
                let st = match kind {
                    Cached::Cache => format!("cache {}", crate::cache::dm_status(vg, i, &pvs)?),
                    _ => format!("writecache {}", crate::writecache::dm_status(vg, i, &pvs)?),
                };
                lines.push((
                    dm_name(&vg.name, &lv.name, None),
                    format!("0 {} {st}", size(i)),
                ));
                continue;
            }
            let role = &vg.roles[i];
            let own = |layer: Option<&str>, lines: &mut Vec<(String, String)>| {
                for (_, _, n, l) in missing_devices(vg, inst, i) {
                    lines.push((n, l));
                }
                for l in segment_lines(vg, inst, i, devno, minor_of) {
                    lines.push((dm_name(&vg.name, &lv.name, layer), l));
                }
            };
            if let Some(c) = role.cow_of {
                if c.merging {
                    // The merging store is loaded on the origin's device;
                    // the snapshot's own device maps to the error target.
                    lines.push((
                        dm_name(&vg.name, &lv.name, None),
                        format!("0 {} error ", u64::from(c.glue_extents) * vg.extent_size.0),
                    ));
                    own(Some("cow"), &mut lines);
                    continue;
                }
                let st = store_status(vg, i, c.chunk_size.0, &pvs)?;
                lines.push((
                    dm_name(&vg.name, &lv.name, None),
                    format!(
                        "0 {} snapshot {st}",
                        u64::from(c.glue_extents) * vg.extent_size.0
                    ),
                ));
                own(Some("cow"), &mut lines);
            } else if !role.origin_of.is_empty() {
                let merging = vg.roles.iter().enumerate().find_map(|(j, r)| {
                    r.cow_of
                        .filter(|c| c.merging && c.origin == i)
                        .map(|c| (j, c))
                });
                match merging {
                    Some((cow, c)) => {
                        let st = store_status(vg, cow, c.chunk_size.0, &pvs)?;
                        lines.push((
                            dm_name(&vg.name, &lv.name, None),
                            format!("0 {} snapshot-merge {st}", size(i)),
                        ));
                    }
                    None => lines.push((
                        dm_name(&vg.name, &lv.name, None),
                        format!("0 {} snapshot-origin ", size(i)),
                    )),
                }
                own(Some("real"), &mut lines);
            } else if let Some(seg) = crate::raid::seg(vg, i).filter(|_| lv.visible_flag()) {
                // A RAID or mirror LV and its sub-LVs (linear).
                for sub in crate::rmeta::dm_sub_lvs(&seg) {
                    for (_, _, n, l) in missing_devices(vg, inst, sub) {
                        lines.push((n, l));
                    }
                    for l in segment_lines(vg, inst, sub, devno, minor_of) {
                        lines.push((dm_name(&vg.name, &vg.lvs[sub].name, None), l));
                    }
                }
                let missing = |pv: usize| inst.pv_devices[pv].is_none();
                let sub = |l: usize| minor_of(&dm_name(&vg.name, &vg.lvs[l].name, None));
                match crate::rmeta::dm_status_target(vg, i, &pvs, &missing, &sub) {
                    Some(t) => lines.push((
                        dm_name(&vg.name, &lv.name, None),
                        format!("0 {} {t}", size(i)),
                    )),
                    None => own(None, &mut lines),
                }
            } else if lv.visible_flag() {
                own(None, &mut lines);
            }
        }
    }
    // dmsetup lists devices by name; a device's segments stay in order.
    lines.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, l) in lines {
        writeln!(out, "{name}: {l}")?;
    }
    Ok(())
}

/// The table lines of an LV's own segments: `linear MAJ:MIN OFFSET`, or
/// `striped N STRIPE_SECTORS MAJ:MIN OFFSET...`, offsets in sectors on the
/// PV (`pe_start + pe * extent_size`). An area on a missing PV names the
/// error device `missing` gives for (segment, area) at offset 0, or `-`.
fn segment_table(
    vg: &Vg,
    inst: &VgInstance,
    lv: usize,
    devno: &dyn Fn(usize) -> String,
    missing: &dyn Fn(usize, usize) -> Option<String>,
) -> Vec<String> {
    let es = vg.extent_size.0;
    let area = |s: usize, k: usize, a: &lvm_meta::model::Area| match a {
        lvm_meta::model::Area::Pv { pv, pe } => match (inst.pv_devices[*pv], missing(s, k)) {
            (None, Some(err)) => format!("{err} 0"),
            (d, _) => format!(
                "{} {}",
                d.map_or("-".to_owned(), devno),
                vg.pvs[*pv].pe_start.0 + u64::from(*pe) * es
            ),
        },
        lvm_meta::model::Area::Lv { lv, le } => format!("{}:{le}", vg.lvs[*lv].name),
    };
    vg.lvs[lv]
        .segments
        .iter()
        .enumerate()
        .map(|(s, sg)| {
            let start = u64::from(sg.start_extent) * es;
            let len = u64::from(sg.extent_count) * es;
            match &sg.kind {
                SegmentKind::Striped {
                    stripes,
                    stripe_size,
                } if stripes.len() > 1 => format!(
                    "{start} {len} striped {} {} {}",
                    stripes.len(),
                    stripe_size.map_or(0, |s| s.0),
                    stripes
                        .iter()
                        .enumerate()
                        .map(|(k, a)| area(s, k, a))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                SegmentKind::Striped { stripes, .. } => {
                    format!("{start} {len} linear {}", area(s, 0, &stripes[0]))
                }
                SegmentKind::Zero => format!("{start} {len} zero "),
                SegmentKind::Error => format!("{start} {len} error "),
                _ => format!("{start} {len} {} ", sg.type_name),
            }
        })
        .collect()
}

/// Writes `dmsetup table` for every VG as one `vgchange -ay` per VG would
/// load it on a machine with no other device-mapper devices, sorted by
/// name. `devno` maps a device index to `MAJ:MIN`; `minors` gives the
/// devices an earlier activation numbered their own minors (as the tables
/// stacked on them name them), the others are numbered fresh.
///
/// Device numbers `253:N` follow the order lvm2 creates the devices in
/// (`_add_new_lv_to_dtree` in lib/activate/dev_manager.c, the tree then
/// created children first): LVs in metadata order; an origin makes its
/// `-real` device, then (if merging) the merging snapshot's `-cow`, then
/// itself, then for each snapshot in `snapshot_segs` order its `-cow` and
/// its own device (the `error` target for the merging one). The COW LVs
/// are activated with their origin, not on their own.
///
/// A thin pool is its `_tmeta` and `_tdata` devices, `POOL-tpool` (the
/// `thin-pool` target) and the pool's own device, a linear mapping of all
/// of `-tpool`; each thin LV is a `thin` target on `-tpool`. The numbers
/// of `_tmeta`, `_tdata` and `-tpool`, which the tables name, must come
/// from `minors`: no kernel record shows the order a fresh activation
/// creates them in, so the call is refused without them.
pub fn table(
    sys: &System,
    devno: &dyn Fn(usize) -> String,
    minors: &[(String, u32)],
    out: &mut dyn Write,
) -> Result<()> {
    let (mut lines, _) = table_lines(sys, devno, minors)?;
    lines.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, l) in lines {
        writeln!(out, "{name}: {l}")?;
    }
    Ok(())
}

/// The table lines of [`table`], unsorted, and the number (`MAJ:MIN`)
/// each device took, by name.
#[allow(clippy::type_complexity)]
fn table_lines(
    sys: &System,
    devno: &dyn Fn(usize) -> String,
    minors: &[(String, u32)],
) -> Result<(Vec<(String, String)>, Vec<(String, String)>)> {
    let mut lines: Vec<(String, String)> = Vec::new();
    let mut nums = Numbers {
        minor: 0,
        minors,
        given: Vec::new(),
    };
    // The devices of a thin pool that tables name: their numbers come
    // from `minors` only, as no kernel record shows the order a fresh
    // activation creates them in.
    let pinned = |dm: &str| -> Result<String> {
        match minors.iter().find(|(n, _)| n == dm) {
            Some((_, m)) => Ok(format!("253:{m}")),
            None => Err(crate::error::Error::Refused(format!(
                "{dm}: the number of a thin pool's device depends on the order lvm2 activated it in, \
                 which lvmsim does not know: give it with --minor {dm}=MINOR"
            ))),
        }
    };
    for inst in &sys.vgs {
        let vg = &inst.vg;
        refuse_cache(vg)?;
        let own = |lv: usize, name: String, lines: &mut Vec<(String, String)>| {
            for l in segment_table(vg, inst, lv, devno, &|_, _| None) {
                lines.push((name.clone(), l));
            }
        };
        // A device over LV `lv`'s own segments, numbered after the error
        // devices lvm2 puts under its areas on missing PVs (a partial or
        // degraded activation); returns its number.
        let own_dev = |lv: usize,
                       name: String,
                       nums: &mut Numbers,
                       lines: &mut Vec<(String, String)>|
         -> String {
            let errs = missing_areas(vg, inst, lv, nums, lines);
            let me = nums.next(&name);
            let missing = |s: usize, a: usize| {
                errs.iter()
                    .find(|e| e.0 == s && e.1 == a)
                    .map(|e| e.2.clone())
            };
            for l in segment_table(vg, inst, lv, devno, &missing) {
                lines.push((name.clone(), l));
            }
            me
        };
        let size = |i: usize| vg.lv_extents(&vg.lvs[i]) * vg.extent_size.0;
        for (i, lv) in vg.lvs.iter().enumerate() {
            let role = &vg.roles[i];
            if lv.is_snapshot_glue() || role.cow_of.is_some() {
                continue;
            }
            let name = |l: usize, layer: Option<&str>| dm_name(&vg.name, &vg.lvs[l].name, layer);
            match thin_kind(vg, i) {
                Some(ThinKind::Pool) => {
                    let seg = crate::thin::dm_pool(vg, i)?;
                    let mut parts = Vec::new();
                    for part in [seg.metadata, seg.data] {
                        own_dev(part, name(part, None), &mut nums, &mut lines);
                        parts.push(pinned(&name(part, None))?);
                    }
                    // A new pool (no thin LV ever made) is the
                    // `thin-pool` target under its own name, with no
                    // `-tpool` device (thin-resize's p1 and p2).
                    let layer = (!seg.is_new()).then_some(TPOOL);
                    nums.next(&name(i, layer));
                    // Data block size, low-water mark 0 (lvm2 leaves the
                    // threshold to dmeventd), the feature words.
                    lines.push((
                        name(i, layer),
                        format!(
                            "0 {} thin-pool {} {} {} 0 {}",
                            size(i),
                            parts[0],
                            parts[1],
                            seg.chunk_size,
                            seg.feature_words()
                        ),
                    ));
                    if seg.is_new() {
                        continue;
                    }
                    let tpool = pinned(&name(i, Some(TPOOL)))?;
                    nums.next(&name(i, None));
                    lines.push((name(i, None), format!("0 {} linear {tpool} 0", size(i))));
                    continue;
                }
                Some(ThinKind::Thin) => {
                    let t = crate::thin::dm_thin(vg, i)?;
                    nums.next(&name(i, None));
                    let tpool = pinned(&name(t.pool, Some(TPOOL)))?;
                    lines.push((
                        name(i, None),
                        format!("0 {} thin {tpool} {}", size(i), t.device_id),
                    ));
                    continue;
                }
                None => {}
            }
            if let Some(kind) = cached(vg, i) {
                if kind == Cached::Pool {
                    continue;
                }
                let mut nums_of = Vec::new();
                for part in cache_parts(vg, i, kind)? {
                    nums_of.push(own_dev(part, name(part, None), &mut nums, &mut lines));
                }
                nums.next(&name(i, None));
                let line = match (kind, nums_of.as_slice()) {
                    (Cached::Cache, [data, meta, origin]) => format!(
                        "cache {}",
                        crate::cache::dm_table(vg, i, meta, data, origin)?
                    ),
                    (_, [cache, origin]) => format!(
                        "writecache {}",
                        crate::writecache::dm_table(vg, i, origin, cache)?
                    ),
                    _ => continue,
                };
                lines.push((name(i, None), format!("0 {} {line}", size(i))));
                continue;
            }
            if role.origin_of.is_empty() {
                // A RAID or mirror LV: its sub-LVs' devices first.
                let raid = crate::raid::seg(vg, i).filter(|_| lv.visible_flag());
                if let Some(seg) = raid {
                    let mut subs = Vec::new();
                    for sub in crate::rmeta::dm_sub_lvs(&seg) {
                        let n = own_dev(sub, name(sub, None), &mut nums, &mut lines);
                        subs.push((sub, n));
                    }
                    nums.next(&name(i, None));
                    let dev = |l: usize| {
                        subs.iter()
                            .find(|(s, _)| *s == l)
                            .map_or("-".to_owned(), |(_, d)| d.clone())
                    };
                    match crate::rmeta::dm_table_target(vg, &seg, &dev) {
                        Some(t) => lines.push((name(i, None), format!("0 {} {t}", size(i)))),
                        None => own(i, name(i, None), &mut lines),
                    }
                    continue;
                }
                if lv.visible_flag() {
                    own_dev(i, name(i, None), &mut nums, &mut lines);
                }
                continue;
            }
            // The snapshots: (COW LV, glue) in snapshot_segs order.
            let snaps: Vec<(usize, usize)> = role
                .origin_of
                .iter()
                .filter_map(|&g| match vg.lvs[g].segments.first().map(|s| &s.kind) {
                    Some(SegmentKind::Snapshot { cow, .. }) => Some((*cow, g)),
                    _ => None,
                })
                .collect();
            let real = own_dev(i, name(i, Some("real")), &mut nums, &mut lines);
            let merging = snaps
                .iter()
                .find_map(|&(c, _)| vg.roles[c].cow_of.filter(|r| r.merging).map(|r| (c, r)));
            let mut merge_cow = None;
            if let Some((c, r)) = merging {
                let cow = own_dev(c, name(c, Some("cow")), &mut nums, &mut lines);
                lines.push((
                    name(i, None),
                    format!(
                        "0 {} snapshot-merge {real} {cow} P {}",
                        size(i),
                        r.chunk_size.0
                    ),
                ));
                merge_cow = Some(c);
            } else {
                lines.push((
                    name(i, None),
                    format!("0 {} snapshot-origin {real}", size(i)),
                ));
            }
            nums.next(&name(i, None));
            for (c, _) in snaps {
                let Some(r) = vg.roles[c].cow_of else {
                    continue;
                };
                let len = u64::from(r.glue_extents) * vg.extent_size.0;
                if merge_cow == Some(c) {
                    nums.next(&name(c, None));
                    lines.push((name(c, None), format!("0 {len} error ")));
                    continue;
                }
                let cow = own_dev(c, name(c, Some("cow")), &mut nums, &mut lines);
                nums.next(&name(c, None));
                lines.push((
                    name(c, None),
                    format!("0 {len} snapshot {real} {cow} P {}", r.chunk_size.0),
                ));
            }
        }
    }
    Ok((lines, nums.given))
}

/// Device numbers in creation order: a device takes the next fresh minor
/// unless `minors` names its own.
struct Numbers<'a> {
    minor: u32,
    minors: &'a [(String, u32)],
    /// Each device's `MAJ:MIN`, by name.
    given: Vec<(String, String)>,
}

impl Numbers<'_> {
    fn next(&mut self, dm: &str) -> String {
        let fresh = self.minor;
        self.minor += 1;
        let m = self
            .minors
            .iter()
            .find(|(n, _)| n == dm)
            .map_or(fresh, |(_, v)| *v);
        let number = format!("{DM_MAJOR}:{m}");
        self.given.push((dm.to_owned(), number.clone()));
        number
    }
}

/// Numbers and lists the error devices of [`missing_devices`] under LV
/// `lv`, as lvm2 makes them before the LV's own device; returns
/// (segment, area, number) for each.
fn missing_areas(
    vg: &Vg,
    inst: &VgInstance,
    lv: usize,
    nums: &mut Numbers,
    lines: &mut Vec<(String, String)>,
) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    for (s, a, name, line) in missing_devices(vg, inst, lv) {
        let n = nums.next(&name);
        lines.push((name, line));
        out.push((s, a, n));
    }
    out
}

/// What `dmsetup` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Show {
    /// `dmsetup status`.
    Status,
    /// `dmsetup table`.
    Table,
}

/// The device-mapper name a `dmsetup` argument names: a name, or a path
/// to it (`/dev/mapper/NAME`, or the LV's `/dev/VG/LV` or `VG/LV`, which
/// dmsetup follows to the same device).
pub fn device_arg(sys: &System, arg: &str) -> Option<String> {
    if !arg.contains('/') {
        return Some(arg.to_owned());
    }
    let mapper = format!("{}{}/", crate::names::DEV_DIR, crate::names::DM_SUBDIR);
    if let Some(name) = arg.strip_prefix(&mapper) {
        return (!name.contains('/')).then(|| name.to_owned());
    }
    // A relative name with one slash is looked for under /dev.
    let full = if arg.starts_with('/') {
        arg.to_owned()
    } else if arg.matches('/').count() == 1 {
        format!("{}{arg}", crate::names::DEV_DIR)
    } else {
        return None;
    };
    let (vg, lv) = full.strip_prefix(crate::names::DEV_DIR)?.split_once('/')?;
    let inst = sys.vg(vg)?;
    inst.vg.lv_index(lv)?;
    Some(dm_name(vg, lv, None))
}

/// `dmsetup status|table [NAME...]` of the VGs as lvm2 would activate
/// them. `devno` gives the device number (`MAJ:MIN`) of images by their
/// name; others get `7:N` in scan order. With no name every device is
/// listed, each line after `NAME: `; one name prints its lines alone,
/// several each with its name, as dmsetup does. A name that is no device
/// stops the command there with dmsetup's `Device does not exist.` and
/// `Command failed.` on `err`: the result is then false (dmsetup exits 1).
pub fn run(
    sys: &System,
    show: Show,
    devno: &[(String, String)],
    minors: &[(String, u32)],
    names: &[String],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<bool> {
    run_only(sys, show, devno, minors, names, None, out, err)
}

/// [`run`] over the devices named in `only` (all the images' devices if
/// `None`): a running kernel's loaded devices.
#[allow(clippy::too_many_arguments)]
pub fn run_only(
    sys: &System,
    show: Show,
    devno: &[(String, String)],
    minors: &[(String, u32)],
    names: &[String],
    only: Option<&[String]>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<bool> {
    let number = |i: usize| {
        devno
            .iter()
            .find(|(n, _)| *n == sys.devices[i].image.path)
            .map_or_else(|| format!("7:{i}"), |(_, v)| v.clone())
    };
    let mut buf = Vec::new();
    match show {
        Show::Status => {
            // The numbers of a fresh activation (those `table` gives);
            // without them a mirror's status is left out as unknown.
            let numbers = table_lines(sys, &number, minors).map_or_else(|_| Vec::new(), |t| t.1);
            let minor_of = |n: &str| numbers.iter().find(|(d, _)| d == n).map(|(_, m)| m.clone());
            status(sys, &[], &number, &minor_of, &mut buf)?
        }
        Show::Table => table(sys, &number, minors, &mut buf)?,
    }
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|l| l.split_once(": "))
        .filter(|(n, _)| only.is_none_or(|o| o.iter().any(|x| x == n)))
        .collect();
    if names.is_empty() {
        for (name, rest) in &lines {
            writeln!(out, "{name}: {rest}")?;
        }
        if lines.is_empty() {
            // dmsetup's line when there is nothing to list.
            writeln!(out, "No devices found")?;
        }
        return Ok(true);
    }
    let several = names.len() > 1;
    for arg in names {
        let name = device_arg(sys, arg);
        let mine: Vec<&str> = lines
            .iter()
            .filter(|(n, _)| Some(*n) == name.as_deref())
            .map(|(_, r)| *r)
            .collect();
        if mine.is_empty() {
            if arg.contains('/') {
                writeln!(err, "Device {arg} not found")?;
            } else {
                writeln!(err, "Device does not exist.")?;
            }
            writeln!(err, "Command failed.")?;
            return Ok(false);
        }
        for rest in mine {
            if several {
                writeln!(out, "{arg}: {rest}")?;
            } else {
                writeln!(out, "{rest}")?;
            }
        }
    }
    Ok(true)
}

// ------------------------------------------------------------------------
// The device list: `dmsetup info`, `info -c`, `ls`, `ls --tree`, `deps`.

/// The targets the corpus kernel (Debian 6.1.0-56-amd64 with dm-mod and
/// dm-snapshot loaded) listed in `dmsetup targets`, in its order.
pub const TARGETS: &[(&str, &str)] = &[
    ("snapshot-merge", "v1.5.0"),
    ("snapshot-origin", "v1.9.0"),
    ("snapshot", "v1.16.0"),
    ("striped", "v1.6.0"),
    ("linear", "v1.4.0"),
    ("error", "v1.5.0"),
];

/// libdevmapper's version line of the corpus's dmsetup (Debian 2.03.16-2).
pub const LIBRARY_VERSION: &str = "1.02.185 (2022-05-18)";

/// The device-mapper driver version of the corpus kernel.
pub const DRIVER_VERSION: &str = "4.47.0";

/// `dmsetup targets`.
pub fn targets(out: &mut dyn Write) -> Result<()> {
    for (name, version) in TARGETS {
        writeln!(out, "{name:<16} {version}")?;
    }
    Ok(())
}

/// `dmsetup version`.
pub fn version(out: &mut dyn Write) -> Result<()> {
    writeln!(out, "Library version:   {LIBRARY_VERSION}")?;
    writeln!(out, "Driver version:    {DRIVER_VERSION}")?;
    Ok(())
}

/// What a device-mapper device's table refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dep {
    /// Another device of the list (its index).
    Dm(usize),
    /// A disk (a PV's image), `MAJ:MIN` as `--devno` gives it.
    Disk(u32, u32),
}

/// One device-mapper device as lvm2 activates an LV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmDevice {
    /// `VG-LV[-layer]`.
    pub name: String,
    /// `LVM-<vg uuid><lv uuid>[-layer]`, hyphens of the UUIDs dropped.
    pub uuid: String,
    /// Device-mapper major number (253 on the corpus kernel).
    pub major: u32,
    /// Minor number: creation order of a fresh activation unless given.
    pub minor: u32,
    /// Number of table lines (targets).
    pub targets: u32,
    /// Event counter: 1 for a snapshot whose store is invalid (the kernel
    /// raised one event when it invalidated it), else 0.
    pub event: u32,
    /// Read-ahead in sectors.
    pub read_ahead: u64,
    /// The devices its table opens, in the kernel's `deps` order (the
    /// reverse of the order the table names them in).
    pub deps: Vec<Dep>,
    /// How many devices of the list open this one.
    pub open: u32,
    /// Suspended (a running kernel's device, `dmsetup suspend`).
    pub suspended: bool,
    /// Loaded read-only: a thin pool's own device (lvm2's `read_only_lv`).
    pub read_only: bool,
}

/// Options of the device list.
#[derive(Debug, Clone, Default)]
pub struct DmOpts {
    /// Image path -> `MAJ:MIN` of the disk (default `7:N`, N its index).
    pub devno: Vec<(String, String)>,
    /// Device-mapper name -> minor number, for devices whose number came
    /// from an earlier activation rather than a fresh one (an origin that
    /// was active when its snapshot was made keeps its number).
    pub minors: Vec<(String, u32)>,
}

/// The device-mapper major number of the corpus kernel.
const DM_MAJOR: u32 = 253;

/// Read-ahead lvm2's `auto` gave every LV of the corpus: the virtio
/// disks' 128 KiB.
const READ_AHEAD: u64 = 256;

fn parse_devno(s: &str) -> (u32, u32) {
    let (a, b) = s.split_once(':').unwrap_or((s, "0"));
    (a.parse().unwrap_or(0), b.parse().unwrap_or(0))
}

/// The device list of every VG of `sys`, as one `vgchange -ay` per VG
/// creates it (the order and numbering of [`table`]), sorted by name.
pub fn devices(sys: &System, opts: &DmOpts) -> Result<Vec<DmDevice>> {
    device_list(sys, opts, false)
}

/// [`devices`] with thin pools and thin LVs, for the simulated kernel
/// (which numbers its devices itself). A pool is its `_tmeta`, its
/// `_tdata`, `POOL-tpool` over both and the pool's own device over
/// `-tpool` (lvm2's children-first order, which the kernel records show
/// for the first three: 253:0, 253:1, 253:2); a thin LV is its device
/// over the pool's `-tpool`, made after the pool's devices. Which order
/// a fresh `vgchange -ay` creates the pool's own device and the thin LVs
/// in is lvm2's metadata order here, read from its code, not recorded.
pub fn devices_with_thin(sys: &System, opts: &DmOpts) -> Result<Vec<DmDevice>> {
    device_list(sys, opts, true)
}

fn device_list(sys: &System, opts: &DmOpts, with_thin: bool) -> Result<Vec<DmDevice>> {
    let disk = |i: usize| {
        let s = opts
            .devno
            .iter()
            .find(|(n, _)| *n == sys.devices[i].image.path)
            .map_or_else(|| format!("7:{i}"), |(_, v)| v.clone());
        let (a, b) = parse_devno(&s);
        Dep::Disk(a, b)
    };
    let mut devs: Vec<DmDevice> = Vec::new();
    for inst in &sys.vgs {
        let vg = &inst.vg;
        refuse_cache(vg)?;
        let pvs = sys.pv_images(inst);
        let vgid = vg.id.replace('-', "");
        // A device for LV `lv` (layer `layer`) with `targets` table lines
        // naming `named` in table order.
        let mut add = |lv: usize, layer: Option<&str>, targets: usize, named: Vec<Dep>| {
            let l = &vg.lvs[lv];
            let mut uuid = format!("LVM-{vgid}{}", l.id.replace('-', ""));
            if let Some(s) = layer {
                uuid.push('-');
                uuid.push_str(s);
            }
            let mut deps: Vec<Dep> = Vec::new();
            for d in named {
                if !deps.contains(&d) {
                    deps.push(d);
                }
            }
            deps.reverse();
            let minor = u32::try_from(devs.len()).unwrap_or(u32::MAX);
            devs.push(DmDevice {
                name: dm_name(&vg.name, &l.name, layer),
                uuid,
                major: DM_MAJOR,
                minor,
                targets: u32::try_from(targets).unwrap_or(u32::MAX),
                event: 0,
                read_ahead: READ_AHEAD,
                deps,
                open: 0,
                suspended: false,
                read_only: false,
            });
            devs.len() - 1
        };
        // The device over LV `lv`'s own segments (layer `layer`), made
        // after the error devices lvm2 loads under its areas on missing
        // PVs; it depends on the disks and those, in table order.
        type Add<'x> = dyn FnMut(usize, Option<&str>, usize, Vec<Dep>) -> usize + 'x;
        let own_dev = |add: &mut Add, lv: usize, layer: Option<&str>| -> usize {
            let mut named = Vec::new();
            for (s, sg) in vg.lvs[lv].segments.iter().enumerate() {
                let SegmentKind::Striped { stripes, .. } = &sg.kind else {
                    continue;
                };
                for (k, area) in stripes.iter().enumerate() {
                    if let lvm_meta::model::Area::Pv { pv, .. } = area {
                        match inst.pv_devices[*pv] {
                            Some(d) => named.push(disk(d)),
                            None => {
                                let e = add(lv, Some(&format!("missing_{s}_{k}")), 1, Vec::new());
                                named.push(Dep::Dm(e));
                            }
                        }
                    }
                }
            }
            add(lv, layer, vg.lvs[lv].segments.len(), named)
        };
        let thin_at = (0..vg.lvs.len()).find(|&i| thin_kind(vg, i).is_some());
        if let Some(i) = thin_at.filter(|_| !with_thin) {
            return Err(crate::error::Error::Refused(format!(
                "{}/{}: lvmsim's dmsetup info, ls and deps do not list thin pools and thin LVs",
                vg.name, vg.lvs[i].name
            )));
        }
        let mut invalid = Vec::new();
        let mut read_only = Vec::new();
        // Each pool's `-tpool` device, once made: (pool, index).
        let mut tpools: Vec<(usize, usize)> = Vec::new();
        for (i, lv) in vg.lvs.iter().enumerate() {
            let role = &vg.roles[i];
            if lv.is_snapshot_glue() || role.cow_of.is_some() {
                continue;
            }
            if let Some(kind) = thin_kind(vg, i) {
                let pool = match kind {
                    ThinKind::Pool => i,
                    ThinKind::Thin => crate::thin::dm_thin(vg, i)?.pool,
                };
                let tpool = match tpools.iter().find(|(p, _)| *p == pool) {
                    Some(&(_, t)) => t,
                    None => {
                        let seg = crate::thin::dm_pool(vg, pool)?;
                        let meta = own_dev(&mut add, seg.metadata, None);
                        let data = own_dev(&mut add, seg.data, None);
                        // A new pool's own device is its `thin-pool`
                        // target (no `-tpool`, not read-only).
                        let layer = (!seg.is_new()).then_some(TPOOL);
                        let t = add(pool, layer, 1, vec![Dep::Dm(meta), Dep::Dm(data)]);
                        tpools.push((pool, t));
                        if seg.is_new() {
                            continue;
                        }
                        t
                    }
                };
                // The pool's own device (read-only, over `-tpool`) or the
                // thin LV's.
                let me = add(i, None, 1, vec![Dep::Dm(tpool)]);
                if kind == ThinKind::Pool {
                    read_only.push(me);
                }
                continue;
            }
            if let Some(kind) = cached(vg, i) {
                // The table names the sub-devices as the target line does:
                // metadata, data, origin (cache); origin, cache
                // (writecache).
                let parts: Vec<usize> = cache_parts(vg, i, kind)?
                    .into_iter()
                    .map(|p| own_dev(&mut add, p, None))
                    .collect();
                let named = match parts.as_slice() {
                    [data, meta, origin] => vec![*meta, *data, *origin],
                    [cache, origin] => vec![*origin, *cache],
                    _ => continue,
                };
                add(i, None, 1, named.into_iter().map(Dep::Dm).collect());
                continue;
            }
            if role.origin_of.is_empty() {
                if let Some(seg) = crate::raid::seg(vg, i).filter(|_| lv.visible_flag()) {
                    // A RAID or mirror LV over its sub-LVs' devices.
                    let subs: Vec<Dep> = crate::rmeta::dm_sub_lvs(&seg)
                        .into_iter()
                        .map(|sub| Dep::Dm(own_dev(&mut add, sub, None)))
                        .collect();
                    add(i, None, 1, subs);
                } else if lv.visible_flag() {
                    own_dev(&mut add, i, None);
                }
                continue;
            }
            let snaps: Vec<usize> = role
                .origin_of
                .iter()
                .filter_map(|&g| match vg.lvs[g].segments.first().map(|s| &s.kind) {
                    Some(SegmentKind::Snapshot { cow, .. }) => Some(*cow),
                    _ => None,
                })
                .collect();
            let real = own_dev(&mut add, i, Some("real"));
            let merging = snaps
                .iter()
                .copied()
                .find(|&c| vg.roles[c].cow_of.is_some_and(|r| r.merging));
            match merging {
                Some(c) => {
                    let cow = own_dev(&mut add, c, Some("cow"));
                    add(i, None, 1, vec![Dep::Dm(real), Dep::Dm(cow)]);
                }
                None => {
                    add(i, None, 1, vec![Dep::Dm(real)]);
                }
            }
            for c in snaps {
                let Some(r) = vg.roles[c].cow_of else {
                    continue;
                };
                if merging == Some(c) {
                    // The merging snapshot's own device is the error target.
                    add(c, None, 1, Vec::new());
                    continue;
                }
                let cow = own_dev(&mut add, c, Some("cow"));
                let snap = add(c, None, 1, vec![Dep::Dm(real), Dep::Dm(cow)]);
                if store_status(vg, c, r.chunk_size.0, &pvs)? == "Invalid" {
                    invalid.push(snap);
                }
            }
        }
        for s in invalid {
            devs[s].event = 1;
        }
        for r in read_only {
            devs[r].read_only = true;
        }
    }
    for (name, minor) in &opts.minors {
        if let Some(d) = devs.iter_mut().find(|d| d.name == *name) {
            d.minor = *minor;
        }
    }
    for i in 0..devs.len() {
        let n = devs.iter().filter(|d| d.deps.contains(&Dep::Dm(i))).count();
        devs[i].open = u32::try_from(n).unwrap_or(u32::MAX);
    }
    // Sorted by name, dependencies renumbered.
    let mut order: Vec<usize> = (0..devs.len()).collect();
    order.sort_by(|&a, &b| devs[a].name.cmp(&devs[b].name));
    let mut at = vec![0; devs.len()];
    for (new, &old) in order.iter().enumerate() {
        at[old] = new;
    }
    let mut sorted: Vec<DmDevice> = order.iter().map(|&i| devs[i].clone()).collect();
    for d in &mut sorted {
        for dep in &mut d.deps {
            if let Dep::Dm(i) = dep {
                *i = at[*i];
            }
        }
    }
    Ok(sorted)
}

/// dmsetup's line when a listing finds no device.
const NO_DEVICES: &str = "No devices found";

/// The devices named (all if `name` is `None`); `Err(())` if the named
/// one does not exist.
fn select<'a>(
    devs: &'a [DmDevice],
    name: Option<&str>,
) -> std::result::Result<Vec<&'a DmDevice>, ()> {
    match name {
        None => Ok(devs.iter().collect()),
        Some(n) => devs.iter().find(|d| d.name == n).map(|d| vec![d]).ok_or(()),
    }
}

/// A device's `MAJ:MIN` in the list, for dependencies.
fn dep_number(devs: &[DmDevice], d: &Dep) -> (u32, u32) {
    match *d {
        Dep::Dm(i) => (devs[i].major, devs[i].minor),
        Dep::Disk(a, b) => (a, b),
    }
}

/// `dmsetup info [NAME]`: one block per device, each followed by a blank
/// line. Returns the exit status (1 if NAME does not exist).
pub fn info(
    devs: &[DmDevice],
    name: Option<&str>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32> {
    let Ok(list) = select(devs, name) else {
        write!(err, "Device does not exist.\nCommand failed.\n")?;
        return Ok(1);
    };
    if list.is_empty() {
        writeln!(out, "{NO_DEVICES}")?;
    }
    for d in list {
        writeln!(out, "Name:              {}", d.name)?;
        let state = if d.suspended { "SUSPENDED" } else { "ACTIVE" };
        let ro = if d.read_only { " (READ-ONLY)" } else { "" };
        writeln!(out, "State:             {state}{ro}")?;
        writeln!(out, "Read Ahead:        {}", d.read_ahead)?;
        writeln!(out, "Tables present:    LIVE")?;
        writeln!(out, "Open count:        {}", d.open)?;
        writeln!(out, "Event number:      {}", d.event)?;
        writeln!(out, "Major, minor:      {}, {}", d.major, d.minor)?;
        writeln!(out, "Number of targets: {}", d.targets)?;
        writeln!(out, "UUID: {}", d.uuid)?;
        writeln!(out)?;
    }
    Ok(0)
}

/// A column of `dmsetup info -c`: field name, heading, minimum width,
/// right-aligned.
const INFO_FIELDS: &[(&str, &str, usize, bool)] = &[
    ("name", "Name", 16, false),
    ("major", "Maj", 3, true),
    ("minor", "Min", 3, true),
    ("attr", "Stat", 4, false),
    ("open", "Open", 4, true),
    ("segments", "Targ", 4, true),
    ("events", "Event", 6, true),
    ("uuid", "UUID", 32, false),
];

/// `dmsetup info -c`'s default fields.
pub const INFO_DEFAULT_FIELDS: &str = "name,major,minor,attr,open,segments,events,uuid";

fn info_value(d: &DmDevice, field: &str) -> String {
    match field {
        "name" => d.name.clone(),
        "major" => d.major.to_string(),
        "minor" => d.minor.to_string(),
        // Live table, no inactive table, suspended or not, writable.
        "attr" => format!(
            "L-{}{}",
            if d.suspended { 's' } else { '-' },
            if d.read_only { 'r' } else { 'w' }
        ),
        "open" => d.open.to_string(),
        "segments" => d.targets.to_string(),
        "events" => d.event.to_string(),
        _ => d.uuid.clone(),
    }
}

/// `dmsetup info -c [-o FIELDS] [--noheadings] [NAME]`: aligned columns
/// under headings, or with `--noheadings` the values joined by `:`.
/// Returns the exit status.
pub fn info_columns(
    devs: &[DmDevice],
    fields: &str,
    noheadings: bool,
    name: Option<&str>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32> {
    let mut cols = Vec::new();
    for f in fields.split(',') {
        match INFO_FIELDS.iter().find(|c| c.0 == f) {
            Some(c) => cols.push(*c),
            None => {
                write!(err, "Unrecognised field: {f}\nCommand failed.\n")?;
                return Ok(1);
            }
        }
    }
    let Ok(list) = select(devs, name) else {
        write!(err, "Device does not exist.\nCommand failed.\n")?;
        return Ok(1);
    };
    if list.is_empty() {
        writeln!(out, "{NO_DEVICES}")?;
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|d| cols.iter().map(|c| info_value(d, c.0)).collect())
        .collect();
    if noheadings {
        for r in rows {
            writeln!(out, "{}", r.join(":"))?;
        }
        return Ok(0);
    }
    let widths: Vec<usize> = cols
        .iter()
        .enumerate()
        .map(|(k, c)| {
            rows.iter()
                .map(|r| r[k].len())
                .chain([c.1.len(), c.2])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let heads: Vec<String> = cols
        .iter()
        .zip(&widths)
        .map(|(c, w)| format!("{:<w$}", c.1))
        .collect();
    writeln!(out, "{}", heads.join(" "))?;
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .zip(cols.iter().zip(&widths))
            .map(|(v, (c, w))| {
                if c.3 {
                    format!("{v:>w$}")
                } else {
                    format!("{v:<w$}")
                }
            })
            .collect();
        writeln!(out, "{}", cells.join(" "))?;
    }
    Ok(0)
}

/// `dmsetup ls`: `NAME<TAB>(MAJ:MIN)` per device; with `tree`, each
/// device no other one opens, with what it opens below it.
pub fn ls(devs: &[DmDevice], tree: bool, out: &mut dyn Write) -> Result<()> {
    if devs.is_empty() {
        writeln!(out, "{NO_DEVICES}")?;
        return Ok(());
    }
    if !tree {
        for d in devs {
            writeln!(out, "{}\t({}:{})", d.name, d.major, d.minor)?;
        }
        return Ok(());
    }
    fn children(devs: &[DmDevice], deps: &[Dep], lead: &str, out: &mut dyn Write) -> Result<()> {
        for (k, dep) in deps.iter().enumerate() {
            let last = k + 1 == deps.len();
            let (a, b) = dep_number(devs, dep);
            let label = match dep {
                Dep::Dm(i) => devs[*i].name.as_str(),
                Dep::Disk(..) => "",
            };
            writeln!(
                out,
                "{lead}{}{label} ({a}:{b})",
                if last { "`-" } else { "|-" }
            )?;
            if let Dep::Dm(i) = dep {
                let sub = format!("{lead}{}", if last { "   " } else { "|  " });
                children(devs, &devs[*i].deps, &sub, out)?;
            }
        }
        Ok(())
    }
    for d in devs.iter().filter(|d| d.open == 0) {
        writeln!(out, "{} ({}:{})", d.name, d.major, d.minor)?;
        children(devs, &d.deps, " ", out)?;
    }
    Ok(())
}

/// `dmsetup deps [NAME]`: the device numbers each device's table opens.
/// Returns the exit status (1 if NAME does not exist).
pub fn deps(
    devs: &[DmDevice],
    name: Option<&str>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32> {
    let Ok(list) = select(devs, name) else {
        let n = name.unwrap_or_default();
        write!(
            err,
            "device-mapper: deps ioctl on {n}  failed: No such device or address\nCommand failed.\n"
        )?;
        return Ok(1);
    };
    if list.is_empty() {
        writeln!(out, "{NO_DEVICES}")?;
    }
    for d in list {
        let mut line = String::new();
        if name.is_none() {
            line.push_str(&d.name);
            line.push_str(": ");
        }
        line.push_str(&format!("{} dependencies\t:", d.deps.len()));
        for dep in &d.deps {
            let (a, b) = dep_number(devs, dep);
            line.push_str(&format!(" ({a}, {b})"));
        }
        writeln!(out, "{line}")?;
    }
    Ok(0)
}
