//! `dmsetup status`: the device-mapper devices lvm2 would load for each VG
//! on activation, with the status line the kernel would report for each,
//! computed from the images (snapshot fill levels from the exception
//! stores, exactly as `persistent_usage` counts them).

use crate::error::Result;
use cow_engine::view::load_store;
use lvm_meta::io::Image;
use lvm_meta::model::{SegmentKind, Vg};
use lvm_meta::scan::{System, VgInstance};
use std::io::Write;

use crate::names::dm_name;

/// The per-segment status lines of an LV's own segments (`linear` or
/// `striped` with its PV device numbers and health).
fn segment_lines(
    vg: &Vg,
    inst: &VgInstance,
    lv: usize,
    devno: &dyn Fn(usize) -> String,
) -> Vec<String> {
    let es = vg.extent_size.0;
    vg.lvs[lv]
        .segments
        .iter()
        .map(|sg| {
            let start = u64::from(sg.start_extent) * es;
            let len = u64::from(sg.extent_count) * es;
            match &sg.kind {
                SegmentKind::Striped { stripes, .. } if stripes.len() > 1 => {
                    let devs: Vec<String> = stripes
                        .iter()
                        .map(|a| match a {
                            lvm_meta::model::Area::Pv { pv, .. } => {
                                inst.pv_devices[*pv].map_or("-".to_owned(), devno)
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

/// A snapshot target's status: `allocated/total metadata` as
/// `persistent_usage` counts them, or `Invalid`.
fn store_status(vg: &Vg, cow: usize, chunk: u64, pvs: &[Option<&Image>]) -> Result<String> {
    let store = load_store(vg, cow, chunk, pvs)?;
    Ok(if store.header.is_valid() {
        let (a, t, m) = store.usage();
        format!("{a}/{t} {m}")
    } else {
        "Invalid".to_owned()
    })
}

/// Writes `dmsetup status` for every VG (or the named ones), sorted by
/// device name as dmsetup lists them. `devno` maps a device index to
/// `MAJ:MIN`.
pub fn status(
    sys: &System,
    vgs: &[String],
    devno: &dyn Fn(usize) -> String,
    out: &mut dyn Write,
) -> Result<()> {
    let mut lines: Vec<(String, String)> = Vec::new();
    for inst in &sys.vgs {
        let vg = &inst.vg;
        if !vgs.is_empty() && !vgs.contains(&vg.name) {
            continue;
        }
        let pvs: Vec<Option<&Image>> = inst
            .pv_devices
            .iter()
            .map(|d| d.map(|d| &sys.devices[d].image))
            .collect();
        let size = |i: usize| vg.lv_extents(&vg.lvs[i]) * vg.extent_size.0;
        for (i, lv) in vg.lvs.iter().enumerate() {
            if lv.is_snapshot_glue() {
                continue;
            }
            let role = &vg.roles[i];
            let own = |layer: Option<&str>, lines: &mut Vec<(String, String)>| {
                for l in segment_lines(vg, inst, i, devno) {
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
/// PV (`pe_start + pe * extent_size`).
fn segment_table(
    vg: &Vg,
    inst: &VgInstance,
    lv: usize,
    devno: &dyn Fn(usize) -> String,
) -> Vec<String> {
    let es = vg.extent_size.0;
    let area = |a: &lvm_meta::model::Area| match a {
        lvm_meta::model::Area::Pv { pv, pe } => format!(
            "{} {}",
            inst.pv_devices[*pv].map_or("-".to_owned(), devno),
            vg.pvs[*pv].pe_start.0 + u64::from(*pe) * es
        ),
        lvm_meta::model::Area::Lv { lv, le } => format!("{}:{le}", vg.lvs[*lv].name),
    };
    vg.lvs[lv]
        .segments
        .iter()
        .map(|sg| {
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
                    stripes.iter().map(area).collect::<Vec<_>>().join(" ")
                ),
                SegmentKind::Striped { stripes, .. } => {
                    format!("{start} {len} linear {}", area(&stripes[0]))
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
/// name. `devno` maps a device index to `MAJ:MIN`.
///
/// Device numbers `253:N` follow the order lvm2 creates the devices in
/// (`_add_new_lv_to_dtree` in lib/activate/dev_manager.c, the tree then
/// created children first): LVs in metadata order; an origin makes its
/// `-real` device, then (if merging) the merging snapshot's `-cow`, then
/// itself, then for each snapshot in `snapshot_segs` order its `-cow` and
/// its own device (the `error` target for the merging one). The COW LVs
/// are activated with their origin, not on their own.
pub fn table(sys: &System, devno: &dyn Fn(usize) -> String, out: &mut dyn Write) -> Result<()> {
    let mut lines: Vec<(String, String)> = Vec::new();
    let mut minor = 0u32;
    let mut next = || {
        let m = minor;
        minor += 1;
        format!("253:{m}")
    };
    for inst in &sys.vgs {
        let vg = &inst.vg;
        let own = |lv: usize, name: String, lines: &mut Vec<(String, String)>| {
            for l in segment_table(vg, inst, lv, devno) {
                lines.push((name.clone(), l));
            }
        };
        let size = |i: usize| vg.lv_extents(&vg.lvs[i]) * vg.extent_size.0;
        for (i, lv) in vg.lvs.iter().enumerate() {
            let role = &vg.roles[i];
            if lv.is_snapshot_glue() || role.cow_of.is_some() {
                continue;
            }
            let name = |l: usize, layer: Option<&str>| dm_name(&vg.name, &vg.lvs[l].name, layer);
            if role.origin_of.is_empty() {
                if lv.visible_flag() {
                    next();
                    own(i, name(i, None), &mut lines);
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
            let real = next();
            own(i, name(i, Some("real")), &mut lines);
            let merging = snaps
                .iter()
                .find_map(|&(c, _)| vg.roles[c].cow_of.filter(|r| r.merging).map(|r| (c, r)));
            let mut merge_cow = None;
            if let Some((c, r)) = merging {
                let cow = next();
                own(c, name(c, Some("cow")), &mut lines);
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
            next();
            for (c, _) in snaps {
                let Some(r) = vg.roles[c].cow_of else {
                    continue;
                };
                let len = u64::from(r.glue_extents) * vg.extent_size.0;
                if merge_cow == Some(c) {
                    next();
                    lines.push((name(c, None), format!("0 {len} error ")));
                    continue;
                }
                let cow = next();
                own(c, name(c, Some("cow")), &mut lines);
                next();
                lines.push((
                    name(c, None),
                    format!("0 {len} snapshot {real} {cow} P {}", r.chunk_size.0),
                ));
            }
        }
    }
    lines.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, l) in lines {
        writeln!(out, "{name}: {l}")?;
    }
    Ok(())
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
    names: &[String],
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
        Show::Status => status(sys, &[], &number, &mut buf)?,
        Show::Table => table(sys, &number, &mut buf)?,
    }
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<(&str, &str)> = text.lines().filter_map(|l| l.split_once(": ")).collect();
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
