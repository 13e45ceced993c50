//! Commands on volume groups: `vgcreate`, `vgextend`, `vgreduce`,
//! `vgremove`, `vgrename`, `vgcfgrestore` and `vgchange`.

use crate::error::{bail, refused, Result};
use crate::{ids::*, pv::*, snapshot::*, write::*};
use lvm_meta::commit::PlannedWrite;
use lvm_meta::model::{Area, SegmentKind, TextHeader, Vg};
use lvm_meta::scan::{System, VgInstance};
use lvm_meta::units::Sectors;
use std::io::Write;
use std::sync::Arc;

/// lvm2's rules for a new VG name (`validate_new_vg_name`).
pub(crate) fn check_vg_name(name: &str) -> Result<()> {
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

/// A VG instance over `devs` (for planning the first commit of a VG).
pub(crate) fn instance(vg: &Vg, devs: &[usize]) -> VgInstance {
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
    let name = crate::names::skip_dev_dir(name).name;
    let name = name.as_str();
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
    let name = crate::names::vg_arg(name)?;
    let name = name.as_str();
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
pub(crate) fn next_key(taken: &[&str], prefix: &str) -> String {
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
    let name = crate::names::vg_arg(name)?;
    let name = name.as_str();
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
        if vg.pv_used_extents(pi) > 0 {
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

/// After PV `gone` is removed, PV indices above it move down by one.
pub(crate) fn renumber_pv_refs(vg: &mut Vg, gone: usize) {
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
    let name = crate::names::vg_arg(name)?;
    let name = name.as_str();
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

/// `vgrename OLD NEW`: the VG's text is written again under the new name.
pub fn vgrename(sys: &System, old: &str, new: &str, w: &Writer, out: &mut dyn Write) -> Result<()> {
    let (old, new) = (
        crate::names::vg_arg(old)?,
        crate::names::skip_dev_dir(new).name,
    );
    let (old, new) = (old.as_str(), new.as_str());
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
    let vgname = crate::names::skip_dev_dir(vgname).name;
    let vgname = vgname.as_str();
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

/// `vgchange -ay|-an [--poll y|n] VG`. Nothing is kept active between
/// commands: activation runs what the kernel would start (pending merges)
/// to its end; with polling (the default) the finished merge is also
/// written to the metadata, as lvm2's poller would.
pub fn vgchange(
    sys: &System,
    vgname: &str,
    activate: bool,
    poll: bool,
    interrupt_after: Option<usize>,
    w: &Writer,
    out: &mut dyn Write,
) -> Result<()> {
    let vgname = crate::names::vg_arg(vgname)?;
    let vgname = vgname.as_str();
    let inst = crate::write::activatable(sys, vgname)?;
    if activate
        && inst
            .vg
            .roles
            .iter()
            .any(|r| r.cow_of.is_some_and(|c| c.merging))
    {
        crate::write::openable_rw(sys, inst.pv_devices.iter().flatten().copied())?;
    }
    if activate {
        let merged = run_merges_limited(sys, inst, None, interrupt_after, w)?;
        if poll {
            let mut n = 1;
            let mut sys_now = rescan(sys)?;
            for o in merged {
                let inst_now = sys_now
                    .vg(vgname)
                    .ok_or_else(|| refused!("VG {vgname} vanished"))?;
                finish_merge(&sys_now, inst_now, o, w, &mut n)?;
                sys_now = rescan(&sys_now)?;
            }
        }
        // lvm2 (`lvs_in_vg_activated`) counts the visible LVs, now all
        // active: a snapshot's COW counts as its origin does, a merging one
        // and a glue LV do not.
        let active = (0..inst.vg.lvs.len())
            .filter(|&i| inst.vg.lv_visible(i))
            .count();
        writeln!(
            out,
            "  {active} logical volume(s) in volume group \"{vgname}\" now active"
        )?;
    } else {
        writeln!(
            out,
            "  0 logical volume(s) in volume group \"{vgname}\" now active"
        )?;
    }
    Ok(())
}
