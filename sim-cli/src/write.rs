//! Commands that change images, starting with `lvrename`: the VG's model is
//! changed, exported as lvm2 writes it, and committed to every metadata
//! area of the VG in lvm2's order. Only the images that hold those areas
//! are opened for writing.

use crate::backup::Host;
use anyhow::{anyhow, bail, Context, Result};
use lvm_meta::commit;
use lvm_meta::export::{export, ExportHeader};
use lvm_meta::scan::System;
use std::io::Write;

/// lvm2's name rules for a new LV (`validate_name`,
/// `apply_lvname_restrictions`).
pub fn check_lv_name(vg: &str, name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 127 {
        bail!("New logical volume name \"{name}\" is invalid");
    }
    if name == "." || name == ".." || name.starts_with('-') {
        bail!("New logical volume name \"{name}\" is invalid");
    }
    if !name
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'+' | b'-'))
    {
        bail!("New logical volume name \"{name}\" is invalid");
    }
    for p in ["snapshot", "pvmove"] {
        if name.starts_with(p) {
            bail!("Names starting \"{p}\" are reserved. Please choose a different LV name.");
        }
    }
    const RESERVED: [&str; 17] = [
        "_cdata", "_cmeta", "_corig", "_cpool", "_cvol", "_wcorig", "_mimage", "_mlog", "_rimage",
        "_rmeta", "_tdata", "_tmeta", "_vdata", "_imeta", "_iorig", "_pmspare", "_vorigin",
    ];
    if let Some(at) = name.find('_') {
        if let Some(r) = RESERVED.iter().find(|r| name[at..].contains(*r)) {
            bail!("Names including \"{r}\" are reserved. Please choose a different LV name.");
        }
    }
    if vg.len() + name.len() + 3 >= 128 {
        bail!("Logical volume name \"{name}\" is too long for volume group \"{vg}\"");
    }
    Ok(())
}

/// The header block of a write made now by `cmd_line`.
pub fn header(cmd_line: &str, now: i64, deterministic: bool) -> ExportHeader {
    let host = if deterministic {
        Host {
            nodename: "lvmsim".into(),
            sysname: "Linux".into(),
            release: "0".into(),
            version: "#1".into(),
            machine: "x86_64".into(),
        }
    } else {
        Host::current()
    };
    let uname = format!(
        "{} {} {} {} {}",
        host.sysname, host.nodename, host.release, host.version, host.machine
    );
    ExportHeader::new(
        &format!("Write from {cmd_line}."),
        &host.nodename,
        &uname,
        now.max(0) as u64,
    )
}

/// `lvrename VG OLD NEW` or `lvrename VG/OLD NEW`.
pub fn lvrename(
    sys: &System,
    args: &[String],
    hdr: &ExportHeader,
    out: &mut dyn Write,
) -> Result<()> {
    // lvm2 accepts VG/LV in either name; the VG parts must agree.
    let split = |x: &str| -> (Option<String>, String) {
        match x.split_once('/') {
            Some((v, l)) => (Some(v.to_owned()), l.to_owned()),
            None => (None, x.to_owned()),
        }
    };
    let (vgname, old, new) = match args {
        [a, b] => {
            let (v, old) = split(a);
            let v = v.ok_or_else(|| anyhow!("Old and new logical volume names required"))?;
            (v, old, b.clone())
        }
        [v, a, b] => {
            let (va, old) = split(a);
            if va.as_ref().is_some_and(|x| x != v) {
                bail!(
                    "Logical volume names must have the same volume group (\"{v}\" or \"{}\")",
                    va.unwrap_or_default()
                );
            }
            (v.clone(), old, b.clone())
        }
        _ => bail!("Old and new logical volume names required"),
    };
    let (vnew, new) = split(&new);
    if let Some(vn) = vnew {
        if vn != vgname {
            bail!(
                "Logical volume names must have the same volume group (\"{vgname}\" or \"{vn}\")"
            );
        }
    }
    let inst = sys
        .vg(&vgname)
        .ok_or_else(|| anyhow!("Volume group \"{vgname}\" not found"))?;
    if inst.partial() {
        bail!("Cannot change VG {vgname} while PVs are missing.");
    }
    let vg = &inst.vg;
    if vg
        .lvs
        .iter()
        .flat_map(|l| &l.segments)
        .any(|s| matches!(s.kind, lvm_meta::model::SegmentKind::Unknown { .. }))
    {
        bail!("Cannot change VG {vgname} with unknown segments in it!");
    }
    if old == new {
        bail!("Old and new logical volume names must differ");
    }
    check_lv_name(&vgname, &new)?;
    let li = vg.lv_index(&old).ok_or_else(|| {
        anyhow!("Existing logical volume \"{old}\" not found in volume group \"{vgname}\"")
    })?;
    if vg.lv_index(&new).is_some() {
        bail!("Logical Volume \"{new}\" already exists in volume group \"{vgname}\"");
    }
    if vg.lvs[li].is_snapshot_glue() {
        bail!("Cannot rename internal LV \"{old}\".");
    }
    let mut changed = (**vg).clone();
    changed.lvs[li].name = new.clone();
    changed.seqno = changed
        .seqno
        .checked_add(1)
        .ok_or_else(|| anyhow!("VG {vgname}: seqno would overflow"))?;
    let text = export(&changed, hdr);
    let writes = commit::plan(sys, inst, &text)?;
    apply(sys, &writes)?;
    writeln!(
        out,
        "  Renamed \"{old}\" to \"{new}\" in volume group \"{vgname}\""
    )?;
    Ok(())
}

/// Opens each image that a write touches read-write (no other) and applies
/// the writes in order, syncing after each group so the order holds on disk.
pub fn apply(sys: &System, writes: &[commit::PlannedWrite]) -> Result<()> {
    use std::os::unix::fs::FileExt;
    let mut files: std::collections::BTreeMap<usize, std::fs::File> =
        std::collections::BTreeMap::new();
    for w in writes {
        if let std::collections::btree_map::Entry::Vacant(slot) = files.entry(w.device) {
            let path = &sys.devices[w.device].image.source;
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .with_context(|| format!("{path}: cannot open for writing"))?;
            slot.insert(f);
        }
    }
    let mut last: Option<&str> = None;
    for w in writes {
        if last.is_some_and(|l| l != w.what) {
            for f in files.values() {
                f.sync_data()?;
            }
        }
        let f = &files[&w.device];
        f.write_all_at(&w.data, w.offset).with_context(|| {
            format!(
                "{}: {} at {}",
                sys.devices[w.device].image.path, w.what, w.offset
            )
        })?;
        last = Some(w.what);
    }
    for f in files.values() {
        f.sync_data()?;
    }
    Ok(())
}
