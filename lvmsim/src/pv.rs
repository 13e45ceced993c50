//! Commands on physical volumes: `pvcreate`, and the PV side of
//! `vgcreate`/`vgextend` (images made PVs first, labels rewritten).

use crate::context::WriteHooks;
use crate::error::{bail, refused, Error, Result};
use crate::{ids::*, write::*};
use lvm_meta::commit::PlannedWrite;
use lvm_meta::model::Pv;
use lvm_meta::pv_layout::{self, PvCreateArgs};
use lvm_meta::scan::{System, VgInstance};
use lvm_meta::units::Sectors;
use std::io::Write;
use std::path::PathBuf;

/// The device a command names: by the name it was given with `--dev`.
pub(crate) fn device(sys: &System, name: &str) -> Result<usize> {
    match crate::names::device_index(sys, name) {
        Some(i) => Ok(i),
        None => Ok(sys.device_index_or_err(name)?),
    }
}

/// The VG (name) a device's PV belongs to, if any.
pub(crate) fn vg_of(sys: &System, dev: usize) -> Option<&VgInstance> {
    sys.vgs.iter().find(|v| v.pv_devices.contains(&Some(dev)))
}

/// `pvcreate` options.
#[derive(Debug, Clone, Default)]
pub struct PvcreateOpts {
    /// `--metadatacopies`.
    pub metadatacopies: Option<u32>,
    /// `--metadatasize` (sectors).
    pub metadatasize: Option<u64>,
    /// `--dataalignment` (sectors).
    pub data_alignment: Option<u64>,
    /// `--uuid`.
    pub uuid: Option<[u8; 32]>,
}

/// The writes that make `dev` a fresh PV.
pub(crate) fn pvcreate_plan(
    sys: &System,
    dev: usize,
    o: &PvcreateOpts,
    ids: &mut Ids,
) -> Result<Vec<PlannedWrite>> {
    let d = &sys.devices[dev];
    let name = &d.image.path;
    if let Some(v) = vg_of(sys, dev) {
        bail!(
            "Cannot use {name}: physical volume is already in volume group \"{}\"",
            v.vg.name
        );
    }
    let layout = pv_layout::layout(&PvCreateArgs {
        size: d.image.size,
        metadatacopies: o.metadatacopies.unwrap_or(1),
        metadatasize: o.metadatasize,
        data_alignment: o.data_alignment,
    })
    .map_err(|e| refused!("Cannot use {name}: {e}"))?;
    let uuid = match o.uuid {
        Some(u) => {
            if sys
                .devices
                .iter()
                .enumerate()
                .any(|(i, x)| i != dev && x.pv_uuid() == Some(u))
            {
                bail!(
                    "uuid {} already in use on another device.",
                    lvm_meta::uuid::format_uuid(&u)
                );
            }
            u
        }
        None => ids.next_id()?,
    };
    Ok(layout
        .pvcreate_writes(uuid)
        .into_iter()
        .map(|(offset, data, what)| PlannedWrite {
            device: dev,
            offset,
            data,
            what,
        })
        .collect())
}

/// `pvcreate DEV...`.
pub fn pvcreate(
    sys: &System,
    devs: &[String],
    o: &PvcreateOpts,
    ids: &mut Ids,
    hooks: &WriteHooks,
    out: &mut dyn Write,
) -> Result<()> {
    if o.uuid.is_some() && devs.len() > 1 {
        bail!("Can only set uuid on one volume at once");
    }
    let mut plans = Vec::new();
    let mut seen = Vec::new();
    for name in devs {
        let dev = device(sys, name)?;
        // One device named twice (two spellings of one file) is made a PV
        // once.
        if seen.contains(&dev) {
            continue;
        }
        seen.push(dev);
        plans.push((name, pvcreate_plan(sys, dev, o, ids)?));
    }
    for (name, p) in plans {
        apply(sys, &p, hooks)?;
        writeln!(out, "  Physical volume \"{name}\" successfully created.")?;
    }
    Ok(())
}

/// The label sector of PV `dev` with the "in a VG" flag set or cleared.
pub(crate) fn relabel(sys: &System, dev: usize, in_vg: bool) -> Result<PlannedWrite> {
    let d = &sys.devices[dev];
    let mut label = d
        .label
        .clone()
        .ok_or_else(|| refused!("{}: no PV label", d.image.path))?;
    let ext = label
        .pv_header
        .extension
        .get_or_insert(lvm_meta::pv_header::PvHeaderExtension {
            version: lvm_meta::pv_header::PV_HEADER_EXTENSION_VSN,
            flags: 0,
            bootloader_areas: Vec::new(),
        });
    if in_vg {
        ext.flags |= lvm_meta::pv_header::PV_EXT_USED;
    } else {
        ext.flags &= !lvm_meta::pv_header::PV_EXT_USED;
    }
    Ok(PlannedWrite {
        device: dev,
        offset: label.sector * 512,
        data: label.to_sector().to_vec(),
        what: "label",
    })
}

/// Every metadata area of `dev` reset to hold no VG (the text stays in the
/// ring, as lvm2 leaves it).
pub(crate) fn clear_mdas(sys: &System, dev: usize) -> Vec<PlannedWrite> {
    let d = &sys.devices[dev];
    d.mdas
        .iter()
        .filter_map(|m| m.header.as_ref())
        .map(|h| {
            let mut e = lvm_meta::mda_header::MdaHeader::new_empty(h.start, h.size);
            // An ignored area stays ignored.
            e.raw_locns[0].flags = h.raw_locns[0].flags & lvm_meta::mda_header::RAW_LOCN_IGNORED;
            PlannedWrite {
                device: dev,
                offset: h.start,
                data: e.encode().to_vec(),
                what: "mda header",
            }
        })
        .collect()
}

/// The model of a PV joining a VG with extents of `extent` sectors.
pub(crate) fn new_pv(sys: &System, dev: usize, key: String, extent: u64) -> Result<Pv> {
    let d = &sys.devices[dev];
    let l = d
        .label
        .as_ref()
        .ok_or_else(|| refused!("{}: no PV label", d.image.path))?;
    let h = &l.pv_header;
    let pe_start = h.pe_start_bytes().unwrap_or(0);
    let mdas: Vec<(u64, u64)> = h
        .metadata_areas
        .iter()
        .map(|m| (m.offset, m.size))
        .collect();
    let count = pv_layout::pe_count(h.device_size, pe_start, &mdas, extent);
    if count == 0 {
        bail!(
            "Physical volume {} is too small for the extent size.",
            d.image.path
        );
    }
    let count = u32::try_from(count)
        .map_err(|_| refused!("PV {} too large for extent size.", d.image.path))?;
    Ok(Pv {
        key,
        id: h.uuid_string(),
        uuid: h.uuid,
        device: Some(d.image.path.clone()),
        device_id_type: None,
        device_id: None,
        status: vec!["ALLOCATABLE".into()],
        flags: Vec::new(),
        tags: Vec::new(),
        dev_size: Some(Sectors(h.device_size / 512)),
        pe_start: Sectors(pe_start / 512),
        pe_count: count,
        ba_start: None,
        ba_size: None,
    })
}

/// Makes every non-PV among `devs` a PV (as vgcreate and vgextend do),
/// printing lvm2's line for each; returns the rescanned system.
pub(crate) fn implicit_pvcreate(
    sys: &System,
    devs: &[usize],
    o: &PvcreateOpts,
    ids: &mut Ids,
    hooks: &WriteHooks,
    out: &mut dyn Write,
) -> Result<Option<System>> {
    crate::write::openable_rw(sys, devs.iter().copied())?;
    let mut any = false;
    for &d in devs {
        if sys.devices[d].label.is_none() {
            let p = pvcreate_plan(sys, d, o, ids)?;
            apply(sys, &p, hooks)?;
            writeln!(
                out,
                "  Physical volume \"{}\" successfully created.",
                sys.devices[d].image.path
            )?;
            any = true;
        }
    }
    Ok(if any { Some(rescan(sys)?) } else { None })
}

/// Resolves PV names for vgcreate/vgextend and refuses devices in use
/// (`adding` names the VG a vgextend adds to, for lvm2's extra lines).
pub(crate) fn free_pvs(sys: &System, names: &[String], adding: Option<&str>) -> Result<Vec<usize>> {
    let mut out = Vec::new();
    for n in names {
        let d = device(sys, n)?;
        if let Some(v) = vg_of(sys, d) {
            let mut msg = format!(
                "Physical volume '{n}' is already in volume group '{}'",
                v.vg.name
            );
            if let Some(to) = adding {
                msg.push_str(&format!(
                    "\n  Unable to add physical volume '{n}' to volume group '{to}'\n  {n}: physical volume not initialized."
                ));
            }
            return Err(Error::Refused(msg));
        }
        if out.contains(&d) {
            continue;
        }
        out.push(d);
    }
    Ok(out)
}

/// The images a command that creates PVs scans: `devs`, and the images
/// among `named` (its PV arguments) that exist and are not among them.
pub fn with_named_images(devs: &[PathBuf], named: &[String]) -> Result<Vec<PathBuf>> {
    let mut all = devs.to_vec();
    let mut known: Vec<(String, String)> = if devs.is_empty() {
        Vec::new()
    } else {
        crate::device_paths(devs)?
    };
    for n in named {
        let path = std::path::Path::new(n);
        // A name already scanned, or another spelling of a scanned file.
        let seen = known
            .iter()
            .any(|(name, p)| name == n || crate::names::same_file(path, std::path::Path::new(p)));
        if !seen && path.is_file() {
            all.push(PathBuf::from(n));
            known.push((n.clone(), n.clone()));
        }
    }
    Ok(all)
}
