//! Commands that create and grow: `pvcreate`, `vgcreate`, `vgextend`,
//! `vgreduce`, `vgremove`, `lvcreate`, `lvextend`. Each builds the new
//! state as lvm2 would, then writes it in lvm2's order: data before
//! metadata, new metadata text before the precommit header, precommit before
//! commit. Only the images that change are opened for writing.

use crate::context::{Context, WriteHooks};
use crate::error::{bail, refused, Error, Result};
use crate::write::{apply, commit_vg, rescan, writable, Writer};
use lvm_meta::commit::PlannedWrite;
use lvm_meta::model::{Area, Lv, Pv, Segment, SegmentKind, TextHeader, Vg};
use lvm_meta::pv_layout::{self, PvCreateArgs};
use lvm_meta::scan::{System, VgInstance};
use lvm_meta::units::Sectors;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

/// A size argument as lvm2 reads it (`_size_arg`): a number with an
/// optional unit (`bBsSkKmMgGtTpPeE`, all powers of 1024), a sign, or a
/// percentage of something (`%FREE`, `%VG`, `%PVS`, `%ORIGIN`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SizeArg {
    /// Sectors.
    Sectors(u64),
    /// A percentage and of what.
    Percent(u32, Pct),
}

/// What a percentage is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pct {
    /// `%FREE`: free extents of the VG (or of the named PVs).
    Free,
    /// `%VG`: all extents of the VG.
    Vg,
    /// `%PVS`: extents of the named PVs.
    Pvs,
    /// `%ORIGIN`: extents of a snapshot's origin.
    Origin,
}

/// The sign in front of a size (`lvextend -L +1G`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sign {
    /// No sign.
    #[default]
    None,
    /// `+`.
    Plus,
    /// `-`.
    Minus,
}

/// How big an LV is to be, or how much it changes by, as `-L` and `-l`
/// give it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Amount {
    /// `-L`: a size in sectors (rounded to whole extents, with lvm2's
    /// notice).
    Size(u64),
    /// `-l N`: a number of extents.
    Extents(u64),
    /// `-l N%FREE|%VG|%PVS|%ORIGIN`.
    Percent(u32, Pct),
}

impl Amount {
    /// Parses `-L SIZE` (default unit MiB, an optional sign).
    pub fn parse_size(arg: &str) -> Result<(Sign, Amount)> {
        match parse_size(arg, 'm', false)? {
            (sign, SizeArg::Sectors(n)) => Ok((sign, Amount::Size(n))),
            _ => bail!("Can't parse size argument."),
        }
    }

    /// Parses `-l EXTENTS` (a count or a percentage, an optional sign).
    pub fn parse_extents(arg: &str) -> Result<(Sign, Amount)> {
        Ok(match parse_size(arg, 's', true)? {
            (sign, SizeArg::Sectors(n)) => (sign, Amount::Extents(n)),
            (sign, SizeArg::Percent(p, of)) => (sign, Amount::Percent(p, of)),
        })
    }
}

/// Parses a size with lvm2's rules; `default_unit` is `k` or `m`.
pub fn parse_size(arg: &str, default_unit: char, percent_ok: bool) -> Result<(Sign, SizeArg)> {
    let (sign, rest) = match arg.as_bytes().first() {
        Some(b'+') => (Sign::Plus, &arg[1..]),
        Some(b'-') => (Sign::Minus, &arg[1..]),
        _ => (Sign::None, arg),
    };
    if rest.starts_with(['+', '-']) {
        bail!("Multiple sign symbols detected.");
    }
    let num_end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    if num_end == 0 {
        bail!("Size requires number argument.");
    }
    let v: f64 = rest[..num_end]
        .parse()
        .map_err(|_| refused!("Can't parse size argument at '{}'.", &rest[..num_end]))?;
    let unit = &rest[num_end..];
    if let Some(p) = unit.strip_prefix('%') {
        if !percent_ok {
            bail!("Can't parse size argument.");
        }
        let of = match p.to_ascii_uppercase().as_str() {
            "FREE" => Pct::Free,
            "VG" => Pct::Vg,
            "PVS" => Pct::Pvs,
            "ORIGIN" => Pct::Origin,
            _ => bail!("Specified %{p} is unknown."),
        };
        if v >= f64::from(u32::MAX) {
            bail!("Percentage is too big (>=4294967295%).");
        }
        return Ok((sign, SizeArg::Percent(v as u32, of)));
    }
    let u = match unit.len() {
        0 => default_unit,
        1 => unit
            .chars()
            .next()
            .unwrap_or(default_unit)
            .to_ascii_lowercase(),
        _ => bail!("Can't parse size argument."),
    };
    let sectors = match u {
        's' => v,
        'b' => {
            let b = v as u64;
            if !b.is_multiple_of(512) {
                let up = b + 512 - b % 512;
                bail!(
                    "Size is not a multiple of 512. Try using {} or {up}.",
                    up - 512
                );
            }
            v / 512.0
        }
        other => {
            let Some(i) = "kmgtpe".find(other) else {
                bail!("Can't parse size argument.");
            };
            v * 1024f64.powi(i as i32) * 2.0
        }
    };
    if !sectors.is_finite() || sectors >= 1.8e19 {
        bail!("Size is too big.");
    }
    Ok((sign, SizeArg::Sectors(sectors as u64)))
}

/// lvm2's identifiers: 32 characters from `[A-Za-z0-9]` (`id_create`),
/// from the system's random source, or (`LVMSIM_DETERMINISTIC=1`) from a
/// generator seeded by the command line, so runs are reproducible.
pub struct Ids {
    state: Option<u64>,
}

const ID_CHARS: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

impl Ids {
    /// Random identifiers, or reproducible ones seeded by `seed`.
    pub fn new(deterministic: bool, seed: &str) -> Ids {
        let state = deterministic.then(|| {
            seed.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            })
        });
        Ids { state }
    }

    /// The next identifier.
    pub fn next_id(&mut self) -> Result<[u8; 32]> {
        let mut raw = [0u8; 32];
        match &mut self.state {
            Some(s) => {
                for b in raw.iter_mut() {
                    // splitmix64
                    *s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
                    let mut z = *s;
                    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                    *b = (z ^ (z >> 31)) as u8;
                }
            }
            None => {
                use std::io::Read;
                std::fs::File::open("/dev/urandom")
                    .and_then(|mut f| f.read_exact(&mut raw))
                    .map_err(|e| refused!("/dev/urandom: {e}"))?;
            }
        }
        for b in raw.iter_mut() {
            *b = ID_CHARS[usize::from(*b) % ID_CHARS.len()];
        }
        Ok(raw)
    }
}

/// The device a command names: by the name it was given with `--dev`.
fn device(sys: &System, name: &str) -> Result<usize> {
    sys.devices
        .iter()
        .position(|d| d.image.path == name)
        .ok_or_else(|| refused!("No device found for {name}."))
}

/// The VG (name) a device's PV belongs to, if any.
fn vg_of(sys: &System, dev: usize) -> Option<&VgInstance> {
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
fn pvcreate_plan(
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
    for name in devs {
        let dev = device(sys, name)?;
        plans.push((name, pvcreate_plan(sys, dev, o, ids)?));
    }
    for (name, p) in plans {
        apply(sys, &p, hooks)?;
        writeln!(out, "  Physical volume \"{name}\" successfully created.")?;
    }
    Ok(())
}

/// lvm2's rules for a new VG name (`validate_new_vg_name`).
fn check_vg_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() < 128
        && name != "."
        && name != ".."
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'+' | b'-'));
    if !ok {
        bail!("New volume group name \"{name}\" is invalid.");
    }
    Ok(())
}

/// The label sector of PV `dev` with the "in a VG" flag set or cleared.
fn relabel(sys: &System, dev: usize, in_vg: bool) -> Result<PlannedWrite> {
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
fn clear_mdas(sys: &System, dev: usize) -> Vec<PlannedWrite> {
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
fn new_pv(sys: &System, dev: usize, key: String, extent: u64) -> Result<Pv> {
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
fn implicit_pvcreate(
    sys: &System,
    devs: &[usize],
    o: &PvcreateOpts,
    ids: &mut Ids,
    hooks: &WriteHooks,
    out: &mut dyn Write,
) -> Result<Option<System>> {
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
fn free_pvs(sys: &System, names: &[String], adding: Option<&str>) -> Result<Vec<usize>> {
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

/// A VG instance over `devs` (for planning the first commit of a VG).
fn instance(vg: &Vg, devs: &[usize]) -> VgInstance {
    VgInstance {
        vg: Arc::new(vg.clone()),
        text: Arc::new(Vec::new()),
        source: (devs[0], 0),
        pv_devices: devs.iter().map(|d| Some(*d)).collect(),
    }
}

/// `vgcreate [-s SIZE] VG DEV...`.
#[allow(clippy::too_many_arguments)]
pub fn vgcreate(
    sys: &System,
    name: &str,
    pv_names: &[String],
    extent: Option<u64>,
    pv_opts: &PvcreateOpts,
    w: &Writer,
    ids: &mut Ids,
    out: &mut dyn Write,
) -> Result<()> {
    check_vg_name(name)?;
    if sys.vgs.iter().any(|v| v.vg.name == name) {
        bail!("A volume group called {name} already exists.");
    }
    let extent = extent.unwrap_or(8192);
    if extent == 0 || !extent.is_power_of_two() || extent < 8 {
        bail!("Physical extent size must be a power of 2 of at least 4.00 KiB.");
    }
    let devs = free_pvs(sys, pv_names, None)?;
    let fresh = implicit_pvcreate(sys, &devs, pv_opts, ids, w.hooks, out)?;
    let sys = fresh.as_ref().unwrap_or(sys);
    let mut pvs = Vec::new();
    for (i, &d) in devs.iter().enumerate() {
        pvs.push(new_pv(sys, d, format!("pv{i}"), extent)?);
    }
    let vg = Vg {
        name: name.to_owned(),
        id: lvm_meta::uuid::format_uuid(&ids.next_id()?),
        seqno: 0,
        format: Some("lvm2".into()),
        status: vec!["RESIZEABLE".into(), "READ".into(), "WRITE".into()],
        flags: Vec::new(),
        tags: Vec::new(),
        system_id: None,
        lock_type: None,
        lock_args: None,
        extent_size: Sectors(extent),
        max_lv: 0,
        max_pv: 0,
        allocation_policy: None,
        profile: None,
        metadata_copies: 0,
        pvs,
        lvs: Vec::new(),
        historical_lvs: Vec::new(),
        header: TextHeader::default(),
        roles: Vec::new(),
    };
    let mut writes = Vec::new();
    for &d in &devs {
        writes.push(relabel(sys, d, true)?);
    }
    apply(sys, &writes, w.hooks)?;
    let mut vg = vg;
    commit_vg(sys, &instance(&vg, &devs), &mut vg, w, 1)?;
    writeln!(out, "  Volume group \"{name}\" successfully created")?;
    Ok(())
}

/// `vgextend VG DEV...`.
pub fn vgextend(
    sys: &System,
    name: &str,
    pv_names: &[String],
    pv_opts: &PvcreateOpts,
    w: &Writer,
    ids: &mut Ids,
    out: &mut dyn Write,
) -> Result<()> {
    let inst = writable(sys, name)?;
    let devs = free_pvs(sys, pv_names, Some(name))?;
    let fresh = implicit_pvcreate(sys, &devs, pv_opts, ids, w.hooks, out)?;
    let sys = fresh.as_ref().unwrap_or(sys);
    let inst = match fresh.as_ref() {
        Some(s) => s.vg(name).ok_or_else(|| refused!("VG {name} vanished"))?,
        None => inst,
    };
    let mut vg = (*inst.vg).clone();
    let mut all: Vec<usize> = inst.pv_devices.iter().flatten().copied().collect();
    let extent = vg.extent_size.0;
    for &d in &devs {
        let key = next_key(
            &vg.pvs.iter().map(|p| p.key.as_str()).collect::<Vec<_>>(),
            "pv",
        );
        vg.pvs.push(new_pv(sys, d, key, extent)?);
        all.push(d);
    }
    let writes: Vec<PlannedWrite> = devs
        .iter()
        .map(|&d| relabel(sys, d, true))
        .collect::<Result<_>>()?;
    apply(sys, &writes, w.hooks)?;
    let mut plan_inst = instance(&vg, &all);
    plan_inst.pv_devices = inst
        .pv_devices
        .iter()
        .copied()
        .chain(devs.iter().map(|d| Some(*d)))
        .collect();
    commit_vg(sys, &plan_inst, &mut vg, w, 1)?;
    writeln!(out, "  Volume group \"{name}\" successfully extended")?;
    Ok(())
}

/// The first `prefixN` not in `taken`.
fn next_key(taken: &[&str], prefix: &str) -> String {
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .find(|k| !taken.contains(&k.as_str()))
        .unwrap_or_default()
}

/// `vgreduce VG DEV...`: removes unused PVs from a VG.
pub fn vgreduce(
    sys: &System,
    name: &str,
    pv_names: &[String],
    w: &Writer,
    out: &mut dyn Write,
) -> Result<()> {
    let inst = writable(sys, name)?;
    let mut vg = (*inst.vg).clone();
    let mut removed = Vec::new();
    for n in pv_names {
        let d = device(sys, n)?;
        let Some(pi) = inst.pv_devices.iter().position(|x| *x == Some(d)) else {
            bail!("Physical volume \"{n}\" not found in volume group \"{name}\".");
        };
        if vg.pvs.len() - removed.len() <= 1 {
            bail!("Can't remove final physical volume \"{n}\" from volume group \"{name}\"");
        }
        if pv_used(&vg, pi) {
            bail!("Physical volume \"{n}\" still in use");
        }
        removed.push((pi, d, n));
    }
    let mut keep: Vec<Option<usize>> = inst.pv_devices.clone();
    let mut order: Vec<usize> = removed.iter().map(|r| r.0).collect();
    order.sort_unstable_by(|a, b| b.cmp(a));
    for pi in order {
        vg.pvs.remove(pi);
        keep.remove(pi);
        renumber_pv_refs(&mut vg, pi);
    }
    let mut plan_inst = instance(&vg, &keep.iter().flatten().copied().collect::<Vec<_>>());
    plan_inst.pv_devices = keep;
    commit_vg(sys, &plan_inst, &mut vg, w, 1)?;
    for (_, d, n) in removed {
        let mut writes = clear_mdas(sys, d);
        writes.push(relabel(sys, d, false)?);
        apply(sys, &writes, w.hooks)?;
        writeln!(out, "  Removed \"{n}\" from volume group \"{name}\"")?;
    }
    Ok(())
}

fn pv_used(vg: &Vg, pi: usize) -> bool {
    vg.lvs
        .iter()
        .flat_map(|l| &l.segments)
        .any(|s| match &s.kind {
            SegmentKind::Striped { stripes, .. } => stripes
                .iter()
                .any(|a| matches!(a, Area::Pv { pv, .. } if *pv == pi)),
            _ => false,
        })
}

/// After PV `gone` is removed, PV indices above it move down by one.
fn renumber_pv_refs(vg: &mut Vg, gone: usize) {
    for l in &mut vg.lvs {
        for s in &mut l.segments {
            if let SegmentKind::Striped { stripes, .. } = &mut s.kind {
                for a in stripes {
                    if let Area::Pv { pv, .. } = a {
                        if *pv > gone {
                            *pv -= 1;
                        }
                    }
                }
            }
        }
    }
}

/// `vgremove [-f] VG`: every metadata area of the VG's PVs is reset to
/// hold no VG, then every label loses its "in a VG" flag.
pub fn vgremove(
    sys: &System,
    name: &str,
    force: bool,
    w: &Writer,
    out: &mut dyn Write,
) -> Result<()> {
    let inst = writable(sys, name)?;
    let fresh;
    let (sys, inst) = if inst.vg.lvs.is_empty() {
        (sys, inst)
    } else {
        let visible: Vec<&str> = inst
            .vg
            .lvs
            .iter()
            .filter(|l| l.visible_flag())
            .map(|l| l.name.as_str())
            .collect();
        if !force {
            bail!(
                "Volume group \"{name}\" still contains {} logical volume(s); use -f to remove them",
                visible.len()
            );
        }
        // The LVs go first, all in one commit (as lvm2 does).
        let mut vg = (*inst.vg).clone();
        for l in &visible {
            writeln!(out, "  Logical volume \"{l}\" successfully removed.")?;
        }
        vg.lvs.clear();
        vg.roles.clear();
        commit_vg(sys, inst, &mut vg, w, 1)?;
        fresh = rescan(sys)?;
        let inst = fresh
            .vg(name)
            .ok_or_else(|| refused!("VG {name} vanished"))?;
        (&fresh, inst)
    };
    let devs: Vec<usize> = inst.pv_devices.iter().flatten().copied().collect();
    let mut writes = Vec::new();
    for &d in &devs {
        writes.extend(clear_mdas(sys, d));
    }
    for &d in &devs {
        writes.push(relabel(sys, d, false)?);
    }
    apply(sys, &writes, w.hooks)?;
    writeln!(out, "  Volume group \"{name}\" successfully removed")?;
    Ok(())
}

/// `lvcreate` options.
#[derive(Debug, Clone, Default)]
pub struct LvcreateOpts {
    /// `-n`.
    pub name: Option<String>,
    /// `-L` or `-l`.
    pub amount: Option<Amount>,
    /// `-i`.
    pub stripes: Option<u32>,
    /// `-I` (sectors).
    pub stripe_size: Option<u64>,
    /// `-Z n`.
    pub no_zero: bool,
    /// `-a n`.
    pub inactive: bool,
    /// `-s`: the origin's name (the COW's VG is the origin's).
    pub origin: Option<String>,
    /// `-c` (sectors).
    pub chunk: Option<u64>,
}

/// `cow_max_extents`: the most extents a COW of `chunk` sectors can use
/// for an origin of `origin_sectors` (one header chunk, one chunk per
/// origin chunk, the metadata chunks with a terminating one); the kernel's
/// snapshot target has the fixed-leak feature, so nothing extra.
pub fn cow_max_extents(origin_sectors: u64, chunk: u64, extent: u64) -> u64 {
    let origin_chunks = origin_sectors.div_ceil(chunk);
    let per_area = chunk << 5;
    let metadata_chunks = (origin_chunks + per_area) / per_area;
    let size = (1 + origin_chunks + metadata_chunks) * chunk;
    size.div_ceil(extent)
}

/// Which PV extents a command may use: `DEV` or `DEV:A-B:C...`.
pub fn pv_selection(
    sys: &System,
    inst: &VgInstance,
    args: &[String],
) -> Result<Vec<lvm_meta::alloc::PvChoice>> {
    let mut out: Vec<lvm_meta::alloc::PvChoice> = Vec::new();
    for a in args {
        let mut parts = a.split(':');
        let name = parts.next().unwrap_or_default();
        let d = device(sys, name)?;
        let pi = inst
            .pv_devices
            .iter()
            .position(|x| *x == Some(d))
            .ok_or_else(|| {
                refused!(
                    "Physical Volume \"{name}\" not found in Volume Group \"{}\".",
                    inst.vg.name
                )
            })?;
        let count = inst.vg.pvs[pi].pe_count;
        let mut ranges = Vec::new();
        for r in parts {
            let (a, b) = match r.split_once('-') {
                Some((a, b)) => (a, Some(b)),
                None => (r, None),
            };
            let a: u32 = a
                .parse()
                .map_err(|_| refused!("Failed to parse extent range \"{r}\""))?;
            let b: u32 = match b {
                Some("") | None if r.ends_with('-') => count.saturating_sub(1),
                None => a,
                Some(b) => b
                    .parse()
                    .map_err(|_| refused!("Failed to parse extent range \"{r}\""))?,
            };
            if a > b || b >= count {
                bail!("PE range error: start extent {a} to end extent {b}.");
            }
            ranges.push((a, b - a + 1));
        }
        if ranges.is_empty() {
            ranges.push((0, count));
        }
        match out.iter_mut().find(|c| c.pv == pi) {
            Some(c) => c.ranges.extend(ranges),
            None => out.push(lvm_meta::alloc::PvChoice { pv: pi, ranges }),
        }
    }
    Ok(out)
}

/// lvm2's `display_size` in messages: `8.00 MiB`, `512 B`.
pub fn display_size(sectors: u64) -> String {
    let s = crate::units::format_size(
        sectors,
        crate::units::Units {
            letter: 'h',
            factor: 0,
        },
        true,
    );
    let (num, unit) = s.split_at(s.len() - 1);
    let unit = match unit {
        "k" => "KiB",
        "m" => "MiB",
        "g" => "GiB",
        "t" => "TiB",
        "p" => "PiB",
        "e" => "EiB",
        _ => "B",
    };
    format!("{num} {unit}")
}

/// Segments for allocated pieces, numbered from `start_extent`.
fn segments_for(
    pieces: &[lvm_meta::alloc::Piece],
    start: u32,
    stripe_size: Option<u64>,
) -> Vec<Segment> {
    let mut at = start;
    pieces
        .iter()
        .map(|p| {
            let n = p.areas.len() as u32;
            let s = Segment {
                key: String::new(),
                start_extent: at,
                extent_count: p.len * n,
                reshape_count: None,
                type_name: "striped".into(),
                tags: Vec::new(),
                kind: SegmentKind::Striped {
                    stripe_size: if n > 1 {
                        stripe_size.map(Sectors)
                    } else {
                        None
                    },
                    stripes: p
                        .areas
                        .iter()
                        .map(|&(pv, pe)| Area::Pv { pv, pe })
                        .collect(),
                },
            };
            at += p.len * n;
            s
        })
        .collect()
}

/// Joins segments that continue each other on the same PVs (lvm2's
/// `lv_merge_segments`) and numbers them `segment1`...
fn merge_segments(segs: &mut Vec<Segment>) {
    let mut out: Vec<Segment> = Vec::new();
    for s in segs.drain(..) {
        if let Some(prev) = out.last_mut() {
            if let (
                SegmentKind::Striped {
                    stripe_size: ps,
                    stripes: pa,
                },
                SegmentKind::Striped {
                    stripe_size: ss,
                    stripes: sa,
                },
            ) = (&prev.kind, &s.kind)
            {
                let n = pa.len() as u32;
                let per = prev.extent_count / n.max(1);
                let continues = ps == ss
                    && pa.len() == sa.len()
                    && prev.start_extent + prev.extent_count == s.start_extent
                    && pa.iter().zip(sa).all(|(a, b)| match (a, b) {
                        (Area::Pv { pv: p1, pe: e1 }, Area::Pv { pv: p2, pe: e2 }) => {
                            p1 == p2 && e1 + per == *e2
                        }
                        _ => false,
                    });
                if continues {
                    prev.extent_count += s.extent_count;
                    continue;
                }
            }
        }
        out.push(s);
    }
    for (i, s) in out.iter_mut().enumerate() {
        s.key = format!("segment{}", i + 1);
    }
    *segs = out;
}

/// `percent_of_extents`: `P` percent of `base`, rounded down or up.
fn percent_of(p: u32, base: u64, round_up: bool) -> u64 {
    (u64::from(p) * base + if round_up { 99 } else { 0 }) / 100
}

/// Free extents of the listed PVs (all PVs if none listed).
fn listed_free(vg: &Vg, choice: &[lvm_meta::alloc::PvChoice]) -> u64 {
    lvm_meta::alloc::free_extents(vg, choice)
}

/// The stripe size in sectors for `stripes` > 1: `-I`, or lvm2's default
/// (announced), capped at the extent size (announced).
fn stripe_size_for(
    stripes: u32,
    given: Option<u64>,
    inherited: Option<u64>,
    out: &mut dyn Write,
) -> Result<Option<u64>> {
    if stripes <= 1 {
        return Ok(None);
    }
    let ss = match (given, inherited) {
        (Some(s), _) => s,
        (None, Some(s)) => {
            writeln!(
                out,
                "  Using stripesize of last segment {}",
                display_size(s)
            )?;
            s
        }
        (None, None) => {
            writeln!(out, "  Using default stripesize 64.00 KiB.")?;
            128
        }
    };
    if !ss.is_power_of_two() || ss < 8 {
        bail!("Invalid stripe size {}.", display_size(ss));
    }
    Ok(Some(ss))
}

/// `lvcreate -n NAME -L SIZE|-l N VG [PV...]` (linear and striped), with
/// lvm2's size rules (`_update_extents_params`, `_lv_create_an_lv`).
#[allow(clippy::too_many_arguments)]
pub fn lvcreate(
    sys: &System,
    vgname: &str,
    pv_args: &[String],
    o: &LvcreateOpts,
    w: &Writer,
    ids: &mut Ids,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    let inst = writable(sys, vgname)?;
    let mut vg = (*inst.vg).clone();
    let name = match &o.name {
        Some(n) => {
            crate::write::check_lv_name(vgname, n)?;
            if vg.lv_index(n).is_some() {
                bail!("Logical Volume \"{n}\" already exists in volume group \"{vgname}\"");
            }
            n.clone()
        }
        // lvm2 takes one more than the highest lvolN in use.
        None => {
            let next = vg
                .lvs
                .iter()
                .filter_map(|l| leading_int(l.name.strip_prefix("lvol")?))
                .max()
                .map_or(0, |m| m + 1);
            format!("lvol{next}")
        }
    };
    let chunk = match &o.origin {
        Some(_) => {
            let c = o.chunk.unwrap_or(8);
            if !(8..=1024).contains(&c) || !c.is_power_of_two() {
                bail!("Chunk size must be a power of 2 in the range 4K to 512K.");
            }
            Some(c)
        }
        None => None,
    };
    let origin = match &o.origin {
        Some(on) => {
            let oi = vg
                .lv_index(on)
                .ok_or_else(|| refused!("Couldn't find origin volume '{on}'."))?;
            let role = vg.roles.get(oi).cloned().unwrap_or_default();
            if role.cow_of.is_some() || vg.lvs[oi].is_snapshot_glue() {
                bail!("Snapshots of snapshots are not supported.");
            }
            if role.merging_origin {
                bail!("Snapshots of an origin that has a merging snapshot is not supported");
            }
            Some(oi)
        }
        None => None,
    };
    let stripes = o.stripes.unwrap_or(1);
    if stripes == 0 {
        bail!("Number of stripes must be at least 1.");
    }
    let mut stripe_size = stripe_size_for(stripes, o.stripe_size, None, out)?;
    let choice = pv_selection(sys, inst, pv_args)?;
    let ext = vg.extent_size.0;
    let extent_count: u64 = vg.pvs.iter().map(|p| u64::from(p.pe_count)).sum();
    let vg_free = lvm_meta::alloc::free_extents(&vg, &[]);
    let mut approx = false;
    let amount = o
        .amount
        .ok_or_else(|| Error::Usage("Please specify either size or extents".into()))?;
    let mut n = if let Amount::Size(sectors) = amount {
        let n = sectors.div_ceil(ext);
        if sectors % ext != 0 {
            writeln!(
                out,
                "  Rounding up size to full physical extent {}",
                display_size(n * ext)
            )?;
        }
        n
    } else {
        match amount {
            Amount::Size(n) | Amount::Extents(n) => n,
            Amount::Percent(p, of) => {
                approx = true;
                match of {
                    Pct::Vg => {
                        let n = percent_of(p, extent_count, false);
                        if n > vg_free {
                            writeln!(
                                out,
                                "  Reducing {p}%VG to remaining free space {} in VG.",
                                display_size(vg_free * ext)
                            )?;
                            vg_free
                        } else {
                            n
                        }
                    }
                    Pct::Free => percent_of(p, vg_free, false),
                    Pct::Pvs => {
                        if choice.is_empty() {
                            percent_of(p, extent_count, false)
                        } else {
                            percent_of(p, listed_free(&vg, &choice), false)
                        }
                    }
                    Pct::Origin => match origin {
                        Some(oi) => percent_of(p, vg.lv_extents(&vg.lvs[oi]), false),
                        None => bail!("Please specify a snapshot origin for %ORIGIN."),
                    },
                }
            }
        }
    };
    if approx && n == 0 {
        bail!("Calculated size of logical volume is 0 extents. Needs to be larger.");
    }
    if let (Some(oi), Some(cs)) = (origin, chunk) {
        let max = cow_max_extents(vg.lv_extents(&vg.lvs[oi]) * ext, cs, ext);
        if max < n {
            writeln!(
                out,
                "  Reducing COW size {} down to maximum usable size {}.",
                display_size(n * ext),
                display_size(max * ext)
            )?;
            n = max;
        }
    }
    let s64 = u64::from(stripes);
    if let Some(ss) = stripe_size {
        let sse = (ss / ext).max(1);
        let rest = n % (s64 * sse);
        if approx && rest != 0 && vg_free < n - rest + s64 * sse {
            writeln!(
                out,
                "  Rounding size ({n} extents) down to stripe boundary size ({} extents)",
                n - rest
            )?;
            n -= rest;
        }
        if ss > ext {
            writeln!(
                out,
                "  Reducing requested stripe size {} to maximum, physical extent size {}.",
                display_size(ss),
                display_size(ext)
            )?;
            stripe_size = Some(ext);
        }
    }
    if n % s64 != 0 {
        let up = n.div_ceil(s64) * s64;
        writeln!(
            out,
            "  Rounding size {} ({n} extents) up to stripe boundary size {} ({up} extents).",
            display_size(n * ext),
            display_size(up * ext)
        )?;
        n = up;
    }
    if n == 0 {
        bail!("Calculated size of logical volume is 0 extents. Needs to be larger.");
    }
    let npvs = if pv_args.is_empty() {
        vg.pvs.len()
    } else {
        choice.len()
    };
    if stripes as usize > npvs {
        bail!("Number of stripes ({stripes}) must not exceed number of physical volumes ({npvs})");
    }
    if !approx && n > vg_free {
        bail!("Volume group \"{vgname}\" has insufficient free space ({vg_free} extents): {n} required.");
    }
    if let Some(cs) = chunk {
        if n * ext < 3 * cs {
            bail!(
                "Snapshot volume cannot be smaller than 3 chunks ({} extents, {}).",
                (3 * cs).div_ceil(ext),
                display_size(3 * cs)
            );
        }
    }
    let pieces = allocate_for(&vg, &choice, stripes, n, None, approx, &name)?;
    let mut segments = segments_for(&pieces, 0, stripe_size);
    merge_segments(&mut segments);
    let lv = Lv {
        name: name.clone(),
        id: lvm_meta::uuid::format_uuid(&ids.next_id()?),
        status: vec!["READ".into(), "WRITE".into(), "VISIBLE".into()],
        flags: Vec::new(),
        tags: Vec::new(),
        creation_time: Some(w.time as i64),
        creation_host: Some(w.host.clone()),
        read_ahead: None,
        lock_args: None,
        allocation_policy: None,
        profile: None,
        major: None,
        minor: None,
        segments,
    };
    vg.lvs.push(lv);
    vg.derive_roles();
    commit_vg(sys, inst, &mut vg, w, 1)?;
    if let (Some(oi), Some(cs)) = (origin, chunk) {
        // A snapshot's COW is always wiped, then becomes a snapshot in a
        // second commit, then the kernel writes the new store on activation.
        zero_start(sys, inst, &vg, vg.lvs.len() - 1, 4096, w.hooks)?;
        snapshot_phase(sys, vgname, &name, oi, cs, w, ids)?;
    } else if o.no_zero || o.inactive {
        writeln!(err, "  WARNING: Logical volume {vgname}/{name} not zeroed.")?;
    } else {
        zero_start(sys, inst, &vg, vg.lvs.len() - 1, 4096, w.hooks)?;
    }
    writeln!(out, "  Logical volume \"{name}\" created.")?;
    Ok(())
}

/// The second half of `lvcreate -s`: the COW LV `cow_name` loses its
/// visibility and a glue LV `snapshotN` joins it to origin `oi` (second
/// commit); then, as the kernel does when it loads the snapshot, the
/// store's header and first metadata area are written.
fn snapshot_phase(
    sys: &System,
    vgname: &str,
    cow_name: &str,
    oi: usize,
    chunk: u64,
    w: &Writer,
    ids: &mut Ids,
) -> Result<()> {
    let sys2 = rescan(sys)?;
    let inst = sys2
        .vg(vgname)
        .ok_or_else(|| refused!("VG {vgname} vanished"))?;
    let mut vg = (*inst.vg).clone();
    let cow = vg
        .lv_index(cow_name)
        .ok_or_else(|| refused!("LV {cow_name} vanished"))?;
    vg.lvs[cow].set_visible(false);
    let high = vg
        .lvs
        .iter()
        .filter_map(|l| leading_int(l.name.strip_prefix("snapshot")?))
        .max();
    let glue_name = format!("snapshot{}", high.map_or(0, |h| h + 1));
    let origin_extents = vg.lvs[oi].segments.iter().map(|s| s.extent_count).sum();
    vg.lvs.push(Lv {
        name: glue_name,
        id: lvm_meta::uuid::format_uuid(&ids.next_id()?),
        status: vec!["READ".into(), "WRITE".into(), "VISIBLE".into()],
        flags: Vec::new(),
        tags: Vec::new(),
        creation_time: Some(w.time as i64),
        creation_host: Some(w.host.clone()),
        read_ahead: None,
        lock_args: None,
        allocation_policy: None,
        profile: None,
        major: None,
        minor: None,
        segments: vec![Segment {
            key: "segment1".into(),
            start_extent: 0,
            extent_count: origin_extents,
            reshape_count: None,
            type_name: "snapshot".into(),
            tags: Vec::new(),
            kind: SegmentKind::Snapshot {
                chunk_size: Sectors(chunk),
                origin: oi,
                cow,
                merging: false,
            },
        }],
    });
    vg.derive_roles();
    commit_vg(&sys2, inst, &mut vg, w, 2)?;
    let sys3 = rescan(&sys2)?;
    let inst = sys3
        .vg(vgname)
        .ok_or_else(|| refused!("VG {vgname} vanished"))?;
    let cow = inst
        .vg
        .lv_index(cow_name)
        .ok_or_else(|| refused!("LV {cow_name} vanished"))?;
    let mut set = cow_engine::blocks::LvSet {
        vg: &inst.vg,
        images: crate::write::open_rw(&sys3, inst, w.hooks)?,
    };
    cow_engine::engine::PStore::activate(&mut set, cow, chunk)?;
    for f in set.images.pvs.iter().flatten() {
        f.file.sync_data()?;
    }
    Ok(())
}

/// The number `sscanf("%d")` reads at the start of `s`.
fn leading_int(s: &str) -> Option<i64> {
    let end = s
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && (c == '-' || c == '+'))))
        .map_or(s.len(), |(i, _)| i);
    s[..end].parse().ok()
}

/// Runs the allocator and words its failures as lvm2 does.
fn allocate_for(
    vg: &Vg,
    choice: &[lvm_meta::alloc::PvChoice],
    stripes: u32,
    n: u64,
    extend: Option<usize>,
    approx: bool,
    name: &str,
) -> Result<Vec<lvm_meta::alloc::Piece>> {
    use lvm_meta::alloc::AllocError;
    match lvm_meta::alloc::allocate(vg, choice, stripes, n, extend, approx) {
        Ok(p) if p.is_empty() => {
            bail!("Insufficient suitable allocatable extents found for logical volume {name}.")
        }
        Ok(p) => Ok(p),
        Err(AllocError::Unsuitable { more }) => bail!(
            "Insufficient suitable allocatable extents for logical volume {name}: {more} more required"
        ),
        Err(e) => bail!("{e}"),
    }
}

/// Zeroes the first `len` bytes of LV `li` (lvm2 wipes the start of a new
/// LV so that old signatures do not show through).
fn zero_start(
    sys: &System,
    inst: &VgInstance,
    vg: &Vg,
    li: usize,
    len: u64,
    hooks: &WriteHooks,
) -> Result<()> {
    let size = vg.lv_extents(&vg.lvs[li]) * vg.extent_bytes();
    let len = len.min(size);
    let mut at = 0;
    while at < len {
        let (pv, off, n) = match lvm_meta::lv_map::map(vg, li, at)? {
            lvm_meta::lv_map::Piece::Pv { pv, offset, len: l } => (pv, offset, l.min(len - at)),
            lvm_meta::lv_map::Piece::Zero { len: l } => {
                at += l.min(len - at);
                continue;
            }
        };
        let dev = inst.pv_devices[pv].ok_or_else(|| refused!("PV {pv} is missing"))?;
        let path = &sys.devices[dev].image.source;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| refused!("{path}: cannot open for writing: {e}"))?;
        let zeros = vec![0u8; n as usize];
        hooks.write_at(&f, path, &zeros, off, "zeroing the new LV")?;
        f.sync_data()?;
        at += n;
    }
    Ok(())
}

/// `lvextend`/`lvreduce` options.
#[derive(Debug, Clone, Default)]
pub struct LvresizeOpts {
    /// The sign in front of `-L`/`-l` (`+` grows by, `-` shrinks by).
    pub sign: Sign,
    /// `-L` or `-l`.
    pub amount: Option<Amount>,
    /// `-i`.
    pub stripes: Option<u32>,
    /// `-I` (sectors).
    pub stripe_size: Option<u64>,
}

/// `lvextend` (`grow`) or `lvreduce` of a linear or striped LV, with lvm2's
/// size rules (`_lvresize_adjust_size`, `_lvresize_extents_from_percent`).
#[allow(clippy::too_many_arguments)]
pub fn lvresize(
    sys: &System,
    target: &str,
    pv_args: &[String],
    o: &LvresizeOpts,
    grow: bool,
    w: &Writer,
    out: &mut dyn Write,
) -> Result<()> {
    let (vgname, lvname) = crate::write::vg_lv(target)?;
    let inst = writable(sys, &vgname)?;
    let mut vg = (*inst.vg).clone();
    let li = vg
        .lv_index(&lvname)
        .ok_or_else(|| refused!("Logical volume {lvname} not found in volume group {vgname}."))?;
    // lvm2 (`_lvresize_check`): the origin's snapshots would read past
    // its new end.
    if !grow && !vg.roles[li].origin_of.is_empty() {
        bail!("Snapshot origin volumes cannot be reduced in size yet.");
    }
    let cur = vg.lv_extents(&vg.lvs[li]);
    let ext = vg.extent_size.0;
    let choice = pv_selection(sys, inst, pv_args)?;
    let extent_count: u64 = vg.pvs.iter().map(|p| u64::from(p.pe_count)).sum();
    let vg_free = lvm_meta::alloc::free_extents(&vg, &[]);
    let Some(last) = vg.lvs[li].segments.last() else {
        bail!("Logical volume {vgname}/{lvname} has no segments.");
    };
    let (lv_stripes, lv_ss) = match &last.kind {
        SegmentKind::Striped {
            stripes,
            stripe_size,
        } => (stripes.len() as u32, stripe_size.map(|s| s.0)),
        _ => bail!("Cannot resize {vgname}/{lvname}: only linear and striped LVs are supported."),
    };
    let mut approx = false;
    let sign = o.sign;
    let amount = o
        .amount
        .ok_or_else(|| Error::Usage("Please specify either size or extents".into()))?;
    let (sign, n) = if let Amount::Size(sectors) = amount {
        let reducing = sign == Sign::Minus || !grow;
        let n = if sectors % ext != 0 {
            let n = if reducing && sign == Sign::Minus {
                sectors / ext
            } else {
                sectors.div_ceil(ext)
            };
            writeln!(
                out,
                "  Rounding size to boundary between physical extents: {}.",
                display_size(n * ext)
            )?;
            n
        } else {
            sectors / ext
        };
        (sign, n)
    } else {
        match amount {
            Amount::Size(n) | Amount::Extents(n) => (sign, n),
            Amount::Percent(p, of) => {
                let up = sign != Sign::Minus;
                approx = matches!((sign, of), (Sign::None, _) | (Sign::Plus, Pct::Free));
                let n = match of {
                    Pct::Vg => {
                        let n = percent_of(p, extent_count, up);
                        if sign == Sign::None {
                            n.min(cur + vg_free)
                        } else {
                            n
                        }
                    }
                    Pct::Free => percent_of(p, vg_free, up),
                    Pct::Pvs => percent_of(p, listed_free(&vg, &choice), up),
                    Pct::Origin => {
                        let role = vg.roles.get(li).cloned().unwrap_or_default();
                        match role.cow_of {
                            Some(c) => percent_of(p, vg.lv_extents(&vg.lvs[c.origin]), up),
                            None => bail!(
                                "%ORIGIN is only for snapshots: {vgname}/{lvname} is not one."
                            ),
                        }
                    }
                };
                (sign, n)
            }
        }
    };
    let mut new = match sign {
        Sign::None => n,
        Sign::Plus => cur + n,
        Sign::Minus => cur.saturating_sub(n),
    };
    if new == cur {
        bail!("New size ({new} extents) matches existing size ({cur} extents).");
    }
    if grow {
        // lvm2 (`_lvresize_adjust_extents`): a snapshot's COW grows no
        // further than it can be used, and a request past that which
        // changes nothing succeeds without writing.
        if let Some(c) = vg.roles[li].cow_of {
            let origin = vg.lv_extents(&vg.lvs[c.origin]) * ext;
            let max = cow_max_extents(origin, c.chunk_size.0, ext);
            if new > max {
                writeln!(
                    out,
                    "  Reached maximum COW size {} ({max} extents).",
                    display_size(max * ext)
                )?;
                new = max;
                if new == cur {
                    writeln!(
                        out,
                        "  Size of logical volume {vgname}/{lvname} unchanged from {} ({cur} extents).",
                        display_size(cur * ext)
                    )?;
                    writeln!(
                        out,
                        "  Logical volume {vgname}/{lvname} successfully resized."
                    )?;
                    return Ok(());
                }
            }
        }
        if new < cur {
            bail!("New size given ({new} extents) not larger than existing size ({cur} extents)");
        }
        let stripes = o.stripes.unwrap_or(lv_stripes).max(1);
        let inherited = if o.stripes.is_none() || o.stripes == Some(lv_stripes) {
            lv_ss
        } else {
            None
        };
        let stripe_size = stripe_size_for(stripes, o.stripe_size, inherited, out)?;
        let s64 = u64::from(stripes);
        let mut add = new - cur;
        if let Some(ss) = stripe_size {
            let unit = s64 * (ss / ext).max(1);
            let rest = add % unit;
            if rest != 0 {
                if approx && vg_free < add - rest + unit {
                    add -= rest;
                } else {
                    let up = add - rest + unit;
                    writeln!(
                        out,
                        "  Rounding size ({add} extents) up to stripe boundary size for segment ({up} extents)."
                    )?;
                    add = up;
                }
            }
        }
        new = cur + add;
        let pieces = allocate_for(&vg, &choice, stripes, add, Some(li), approx, &lvname)?;
        let got: u64 = pieces
            .iter()
            .map(|p| u64::from(p.len) * p.areas.len() as u64)
            .sum();
        new = new.min(cur + got);
        let more = segments_for(&pieces, cur as u32, stripe_size);
        let lv = &mut vg.lvs[li];
        lv.segments.extend(more);
        merge_segments(&mut lv.segments);
    } else {
        if new > cur {
            bail!("New size given ({new} extents) not less than existing size ({cur} extents)");
        }
        if new == 0 {
            bail!("Cannot reduce {vgname}/{lvname} to 0 extents.");
        }
        let lv = &mut vg.lvs[li];
        let new32 = new as u32;
        lv.segments.retain(|s| s.start_extent < new32);
        if let Some(s) = lv.segments.last_mut() {
            if s.start_extent + s.extent_count > new32 {
                let n = match &s.kind {
                    SegmentKind::Striped { stripes, .. } => stripes.len() as u32,
                    _ => 1,
                };
                if !(s.start_extent + s.extent_count - new32).is_multiple_of(n.max(1)) {
                    bail!("Reducing {vgname}/{lvname} by a part of a stripe is not possible.");
                }
                s.extent_count = new32 - s.start_extent;
            }
        }
        merge_segments(&mut lv.segments);
    }
    writeln!(
        out,
        "  Size of logical volume {vgname}/{lvname} changed from {} ({cur} extents) to {} ({new} extents).",
        display_size(cur * ext),
        display_size(new * ext)
    )?;
    commit_vg(sys, inst, &mut vg, w, 1)?;
    writeln!(
        out,
        "  Logical volume {vgname}/{lvname} successfully resized."
    )?;
    Ok(())
}

/// `vgrename OLD NEW`: the VG's text is written again under the new name.
pub fn vgrename(sys: &System, old: &str, new: &str, w: &Writer, out: &mut dyn Write) -> Result<()> {
    let inst = writable(sys, old)?;
    if old == new {
        bail!("Old and new volume group names need to differ.");
    }
    check_vg_name(new)?;
    if sys.vgs.iter().any(|v| v.vg.name == new) {
        bail!("New VG name \"{new}\" already exists");
    }
    let mut vg = (*inst.vg).clone();
    vg.name = new.to_owned();
    commit_vg(sys, inst, &mut vg, w, 1)?;
    writeln!(
        out,
        "  Volume group \"{old}\" successfully renamed to \"{new}\""
    )?;
    Ok(())
}

/// `vgcfgrestore -f FILE VG`: the VG described by a backup file is written
/// to the PVs it names (found by UUID), with the seqno after the backup's.
/// PVs not yet in a VG are marked as used first, as lvm2 does.
pub fn vgcfgrestore(
    sys: &System,
    file: &str,
    vgname: &str,
    w: &Writer,
    out: &mut dyn Write,
) -> Result<()> {
    let bytes =
        std::fs::read(file).map_err(|e| refused!("Couldn't read backup file {file}: {e}"))?;
    let tree = lvm_meta::text::parse(&bytes)
        .map_err(|e| refused!("Couldn't read volume group metadata from file {file}: {e}"))?;
    let mut vg = Vg::from_tree(&tree)
        .map_err(|e| refused!("Couldn't read volume group metadata from file {file}: {e}"))?;
    if vg.name != vgname {
        bail!(
            "Couldn't read volume group metadata from file {file}: it holds VG {}, not {vgname}.",
            vg.name
        );
    }
    vg.derive_roles();
    let mut devs = Vec::new();
    let mut missing = 0;
    for pv in &mut vg.pvs {
        match sys
            .devices
            .iter()
            .position(|d| d.pv_uuid() == Some(pv.uuid))
        {
            Some(d) => {
                if let Some(other) = vg_of(sys, d) {
                    if other.vg.name != vgname {
                        bail!(
                            "PV {} is in volume group {}, cannot restore {vgname} onto it.",
                            sys.devices[d].image.path,
                            other.vg.name
                        );
                    }
                }
                pv.device = Some(sys.devices[d].image.path.clone());
                devs.push(d);
            }
            None => {
                writeln!(out, "  Couldn't find device with uuid {}.", pv.id)?;
                missing += 1;
            }
        }
    }
    if missing > 0 {
        bail!("Cannot restore Volume Group {vgname} with {missing} PVs marked as missing.\n  Restore failed.");
    }
    let mut writes = Vec::new();
    for &d in &devs {
        let flagged = sys.devices[d]
            .label
            .as_ref()
            .and_then(|l| l.pv_header.extension.as_ref())
            .is_some_and(|e| e.flags & lvm_meta::pv_header::PV_EXT_USED != 0);
        if !flagged {
            writes.push(relabel(sys, d, true)?);
        }
    }
    apply(sys, &writes, w.hooks)?;
    let fresh = if writes.is_empty() {
        None
    } else {
        Some(rescan(sys)?)
    };
    let sys = fresh.as_ref().unwrap_or(sys);
    commit_vg(sys, &instance(&vg, &devs), &mut vg, w, 1)?;
    writeln!(out, "  Restored volume group {vgname}.")?;
    Ok(())
}

/// `lvchange` options.
#[derive(Debug, Clone, Default)]
pub struct LvchangeOpts {
    /// `-a y|n`.
    pub activate: Option<bool>,
    /// `--addtag`.
    pub addtag: Vec<String>,
    /// `--deltag`.
    pub deltag: Vec<String>,
}

/// lvm2's tag rules (`validate_tag`): `[A-Za-z0-9_+.-/=!:&#]`, not
/// starting with `-`, at most 1024 characters.
fn check_tag(t: &str) -> Result<()> {
    let ok = !t.is_empty()
        && t.len() <= 1024
        && !t.starts_with('-')
        && t.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"_+.-/=!:&#".contains(&c));
    if !ok {
        bail!("Tag \"{t}\" is invalid.");
    }
    Ok(())
}

/// `lvchange --addtag/--deltag VG/LV`: one commit per LV, as lvm2 does.
/// `-a y` of an origin with a merging snapshot runs the merge (see
/// `vgchange`); `-a n` changes nothing on the images.
pub fn lvchange(
    sys: &System,
    targets: &[String],
    o: &LvchangeOpts,
    w: &Writer,
    out: &mut dyn Write,
) -> Result<()> {
    for t in o.addtag.iter().chain(&o.deltag) {
        check_tag(t)?;
    }
    let mut cur = rescan(sys)?;
    for target in targets {
        let (vgname, lvname) = crate::write::vg_lv(target)?;
        if o.activate == Some(true) {
            crate::write::activate_lv(&cur, &vgname, &lvname, w, out)?;
            cur = rescan(&cur)?;
        }
        if o.addtag.is_empty() && o.deltag.is_empty() {
            continue;
        }
        let inst = writable(&cur, &vgname)?;
        let mut vg = (*inst.vg).clone();
        let li = vg
            .lv_index(&lvname)
            .ok_or_else(|| refused!("Failed to find logical volume \"{vgname}/{lvname}\""))?;
        let lv = &mut vg.lvs[li];
        for t in &o.addtag {
            if !lv.tags.contains(t) {
                lv.tags.push(t.clone());
            }
        }
        lv.tags.retain(|t| !o.deltag.contains(t));
        commit_vg(&cur, inst, &mut vg, w, 1)?;
        writeln!(out, "  Logical volume {vgname}/{lvname} changed.")?;
        cur = rescan(&cur)?;
    }
    Ok(())
}

/// The images a command that creates PVs scans: `devs`, and the images
/// among `named` (its PV arguments) that exist and are not among them.
pub fn with_named_images(devs: &[PathBuf], named: &[String]) -> Result<Vec<PathBuf>> {
    let mut all = devs.to_vec();
    let known: Vec<String> = if devs.is_empty() {
        Vec::new()
    } else {
        crate::device_paths(devs)?
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    };
    for n in named {
        if !known.contains(n) && std::path::Path::new(n).is_file() {
            all.push(PathBuf::from(n));
        }
    }
    Ok(all)
}

/// The identifiers of command line `line` run on `sys`: random, or
/// (deterministic) seeded by the command and by the state it starts from,
/// so that repeating a command line gives new ones.
pub fn ids_for(ctx: &Context, sys: &System, line: &str) -> Ids {
    let state: Vec<String> = sys
        .vgs
        .iter()
        .map(|v| format!("{}:{}", v.vg.name, v.vg.seqno))
        .chain(
            sys.devices
                .iter()
                .map(|d| format!("{}:{}", d.image.path, d.label.is_some())),
        )
        .collect();
    ctx.ids(&format!("{line}|{}", state.join(",")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh VG `vg` (1 MiB extents) on a 32 MiB image, with LV `o`
    /// (4 MiB) and, if `snap`, its snapshot `s` (1 MiB).
    fn vg_with_origin(dir: &std::path::Path, snap: bool) -> Vec<PathBuf> {
        let img = dir.join("d.img");
        std::fs::File::create(&img)
            .and_then(|f| f.set_len(32 << 20))
            .unwrap();
        let devs = vec![img];
        let ctx = Context::deterministic();
        let scan = || crate::scan(&devs, false, &mut std::io::sink()).unwrap();
        let name = devs[0].display().to_string();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let sys = scan();
        let line = format!("vgcreate -s 1m vg {name}");
        vgcreate(
            &sys,
            "vg",
            std::slice::from_ref(&name),
            Some(2048),
            &PvcreateOpts::default(),
            &ctx.writer(&line),
            &mut ids_for(&ctx, &sys, &line),
            &mut out,
        )
        .unwrap();
        let mut lv = |o: LvcreateOpts, line: &str| {
            let sys = scan();
            let mut ids = ids_for(&ctx, &sys, line);
            lvcreate(
                &sys,
                "vg",
                &[],
                &o,
                &ctx.writer(line),
                &mut ids,
                &mut out,
                &mut err,
            )
            .unwrap();
        };
        let size = |mib: u64| Some(Amount::Size(mib * 2048));
        lv(
            LvcreateOpts {
                name: Some("o".into()),
                amount: size(4),
                ..LvcreateOpts::default()
            },
            "lvcreate -n o -L 4m vg",
        );
        if snap {
            lv(
                LvcreateOpts {
                    name: Some("s".into()),
                    amount: size(1),
                    origin: Some("o".into()),
                    ..LvcreateOpts::default()
                },
                "lvcreate -s -n s -L 1m vg/o",
            );
        }
        devs
    }

    /// `lvextend -L +Nm` (`grow`) or `lvreduce -L -Nm` of `target`;
    /// returns what it printed.
    fn resize(devs: &[PathBuf], target: &str, grow: bool, mib: u64) -> Result<String> {
        let sys = crate::scan(devs, false, &mut std::io::sink()).unwrap();
        let ctx = Context::deterministic();
        let o = LvresizeOpts {
            sign: if grow { Sign::Plus } else { Sign::Minus },
            amount: Some(Amount::Size(mib * 2048)),
            stripes: None,
            stripe_size: None,
        };
        let line = format!("lvresize {target}");
        let mut out = Vec::new();
        lvresize(&sys, target, &[], &o, grow, &ctx.writer(&line), &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    fn reduce(devs: &[PathBuf], target: &str) -> Result<()> {
        resize(devs, target, false, 1).map(drop)
    }

    fn extents(devs: &[PathBuf], lv: &str) -> u64 {
        let sys = crate::scan(devs, false, &mut std::io::sink()).unwrap();
        let vg = &sys.vg("vg").unwrap().vg;
        vg.lv_extents(&vg.lvs[vg.lv_index(lv).unwrap()])
    }

    fn seqno(devs: &[PathBuf]) -> u64 {
        let sys = crate::scan(devs, false, &mut std::io::sink()).unwrap();
        sys.vg("vg").unwrap().vg.seqno.into()
    }

    #[test]
    fn lvreduce_refuses_an_origin_with_snapshots() {
        // Found by the soak test (sim-cli/examples/soak.rs): lvreduce of an
        // origin succeeded, and its snapshot then read past the origin's
        // end. lvm2 refuses with this message and exit 5.
        let dir = tempfile::tempdir().unwrap();
        let devs = vg_with_origin(dir.path(), true);
        let before = seqno(&devs);
        let e = reduce(&devs, "vg/o").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Snapshot origin volumes cannot be reduced in size yet."
        );
        assert_eq!(e.exit_code(), 5);
        assert_eq!(seqno(&devs), before, "nothing was written");
    }

    #[test]
    fn lvreduce_still_cuts_an_lv_without_snapshots() {
        let dir = tempfile::tempdir().unwrap();
        let devs = vg_with_origin(dir.path(), false);
        reduce(&devs, "vg/o").unwrap();
        assert_eq!(extents(&devs, "o"), 3);
    }

    #[test]
    fn lvextend_caps_a_cow_at_its_maximum_usable_size() {
        // Found by the soak test: lvextend grew a COW past what its origin
        // can ever use. lvm2 2.03.16 printed these lines on the same VG (a
        // 4 MiB origin, 4 KiB chunks: the header, 1024 data chunks and 5
        // metadata chunks make 1030 chunks, 5 extents of 1 MiB), and wrote
        // nothing the third time (its seqno stayed).
        let dir = tempfile::tempdir().unwrap();
        let devs = vg_with_origin(dir.path(), true);
        assert_eq!(cow_max_extents(4 * 2048, 8, 2048), 5);
        assert_eq!(
            resize(&devs, "vg/s", true, 2).unwrap(),
            "  Size of logical volume vg/s changed from 1.00 MiB (1 extents) to 3.00 MiB (3 extents).\n  \
             Logical volume vg/s successfully resized.\n"
        );
        assert_eq!(
            resize(&devs, "vg/s", true, 8).unwrap(),
            "  Reached maximum COW size 5.00 MiB (5 extents).\n  \
             Size of logical volume vg/s changed from 3.00 MiB (3 extents) to 5.00 MiB (5 extents).\n  \
             Logical volume vg/s successfully resized.\n"
        );
        assert_eq!(extents(&devs, "s"), 5);
        let before = seqno(&devs);
        assert_eq!(
            resize(&devs, "vg/s", true, 1).unwrap(),
            "  Reached maximum COW size 5.00 MiB (5 extents).\n  \
             Size of logical volume vg/s unchanged from 5.00 MiB (5 extents).\n  \
             Logical volume vg/s successfully resized.\n"
        );
        assert_eq!(seqno(&devs), before, "nothing was written");
        // The origin is not capped.
        resize(&devs, "vg/o", true, 8).unwrap();
        assert_eq!(extents(&devs, "o"), 12);
    }
}
