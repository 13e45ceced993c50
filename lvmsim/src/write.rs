//! Commands that change images, starting with `lvrename`: the VG's model is
//! changed, exported as lvm2 writes it, and committed to every metadata
//! area of the VG in lvm2's order. Only the images that hold those areas
//! are opened for writing.

use crate::context::{Context, WriteHooks};
use crate::error::{bail, refused, Result, ResultExt};
use lvm_meta::commit;
use lvm_meta::export::{export, ExportHeader};
use lvm_meta::model::{SegmentKind, Vg};
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

/// Who writes and when: the values of every header block a command writes,
/// and the hooks its writes go through, from the command's [`Context`].
#[derive(Debug, Clone)]
pub struct Writer<'a> {
    /// The command line as lvm2 records it (`lvrename vg a b`).
    pub cmd_line: String,
    /// `creation_host`.
    pub host: String,
    /// The uname comment.
    pub uname: String,
    /// Seconds since the epoch.
    pub time: u64,
    /// Every write goes through these.
    pub hooks: &'a WriteHooks,
}

impl<'a> Writer<'a> {
    /// The writer of `cmd_line` in the surroundings `ctx`.
    pub fn new(cmd_line: &str, ctx: &'a Context) -> Writer<'a> {
        let h = &ctx.host;
        Writer {
            cmd_line: cmd_line.to_owned(),
            uname: ctx.uname.clone().unwrap_or_else(|| {
                format!(
                    "{} {} {} {} {}",
                    h.sysname, h.nodename, h.release, h.version, h.machine
                )
            }),
            host: ctx.hostname.clone().unwrap_or_else(|| h.nodename.clone()),
            time: ctx
                .header_time
                .unwrap_or(u64::try_from(ctx.now).unwrap_or(0)),
            hooks: &ctx.hooks,
        }
    }

    /// The header of the command's `n`-th write (1-based): lvm2 describes
    /// the first as `Write from CMD.` and later ones as `Write[n] from CMD.`.
    pub fn header(&self, n: u32) -> ExportHeader {
        let d = if n <= 1 {
            format!("Write from {}.", self.cmd_line)
        } else {
            format!("Write[{n}] from {}.", self.cmd_line)
        };
        ExportHeader::new(&d, &self.host, &self.uname, self.time)
    }
}

/// Commits `vg` (its seqno bumped) as the command's `n`-th write.
pub(crate) fn commit_vg(
    sys: &System,
    inst: &lvm_meta::scan::VgInstance,
    vg: &mut Vg,
    w: &Writer,
    n: u32,
) -> Result<()> {
    vg.seqno = vg
        .seqno
        .checked_add(1)
        .ok_or_else(|| refused!("VG {}: seqno would overflow", vg.name))?;
    let text = export(vg, &w.header(n));
    let writes = commit::plan(sys, inst, &text)?;
    apply(sys, &writes, w.hooks)
}

/// Refuses VGs lvm2 would not change.
pub(crate) fn writable<'a>(
    sys: &'a System,
    vgname: &str,
) -> Result<&'a lvm_meta::scan::VgInstance> {
    let inst = sys
        .vg(vgname)
        .ok_or_else(|| refused!("Volume group \"{vgname}\" not found"))?;
    if inst.partial() {
        bail!("Cannot change VG {vgname} while PVs are missing.");
    }
    if inst
        .vg
        .lvs
        .iter()
        .flat_map(|l| &l.segments)
        .any(|s| matches!(s.kind, SegmentKind::Unknown { .. }))
    {
        bail!("Cannot change VG {vgname} with unknown segments in it!");
    }
    Ok(inst)
}

/// `lvrename VG OLD NEW` or `lvrename VG/OLD NEW`.
pub fn lvrename(sys: &System, args: &[String], w: &Writer, out: &mut dyn Write) -> Result<()> {
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
            let v = v.ok_or_else(|| refused!("Old and new logical volume names required"))?;
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
    let inst = writable(sys, &vgname)?;
    let vg = &inst.vg;
    if old == new {
        bail!("Old and new logical volume names must differ");
    }
    check_lv_name(&vgname, &new)?;
    let li = vg.lv_index(&old).ok_or_else(|| {
        refused!("Existing logical volume \"{old}\" not found in volume group \"{vgname}\"")
    })?;
    if vg.lv_index(&new).is_some() {
        bail!("Logical Volume \"{new}\" already exists in volume group \"{vgname}\"");
    }
    if vg.lvs[li].is_snapshot_glue() {
        bail!("Cannot rename internal LV \"{old}\".");
    }
    let mut changed = (**vg).clone();
    changed.lvs[li].name = new.clone();
    commit_vg(sys, inst, &mut changed, w, 1)?;
    writeln!(
        out,
        "  Renamed \"{old}\" to \"{new}\" in volume group \"{vgname}\""
    )?;
    Ok(())
}

/// Opens each image that a write touches read-write (no other) and applies
/// the writes in order through `hooks`, syncing after each group so the
/// order holds on disk.
pub fn apply(sys: &System, writes: &[commit::PlannedWrite], hooks: &WriteHooks) -> Result<()> {
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
        hooks.write_at(
            f,
            &sys.devices[w.device].image.source,
            &w.data,
            w.offset,
            &format!("{}: {}", sys.devices[w.device].image.path, w.what),
        )?;
        last = Some(w.what);
    }
    for f in files.values() {
        f.sync_data()?;
    }
    Ok(())
}

/// `VG/LV` split, with lvm2's message when the form is wrong.
pub(crate) fn vg_lv(arg: &str) -> Result<(String, String)> {
    let (v, l) = arg
        .split_once('/')
        .ok_or_else(|| refused!("\"{arg}\": Invalid path for Logical Volume."))?;
    Ok((v.to_owned(), l.to_owned()))
}

/// `lvconvert --merge VG/SNAP`: marks the snapshot as merging. As the
/// origin is not active, the merge runs at its next activation (lvm2's
/// behaviour for an inactive origin).
/// `lvconvert --merge VG/SNAP`: the snapshot is marked as merging (first
/// write), then, as lvm2 does with an active origin, the kernel merges it
/// into the origin and lvm2's poller records the end (two more writes).
/// `interrupt_after`: `Some(0)` only marks it (lvm2 with an inactive or open
/// origin: the merge starts at the next activation); `Some(n)` stops after
/// `n` merge runs, leaving what the kernel leaves on a power loss there.
pub fn lvconvert_merge(
    sys: &System,
    arg: &str,
    interrupt_after: Option<usize>,
    progress: Option<&mut dyn FnMut(MergeProgress)>,
    w: &Writer,
    out: &mut dyn Write,
) -> Result<()> {
    let (vgname, snap) = vg_lv(arg)?;
    let inst = writable(sys, &vgname)?;
    let li = inst
        .vg
        .lv_index(&snap)
        .ok_or_else(|| refused!("Failed to find logical volume \"{vgname}/{snap}\""))?;
    let c = inst.vg.roles[li]
        .cow_of
        .ok_or_else(|| refused!("\"{vgname}/{snap}\" is not a mergeable logical volume."))?;
    if c.merging {
        bail!("Snapshot {vgname}/{snap} is already merging.");
    }
    if inst.vg.roles[c.origin].merging_origin {
        bail!(
            "Snapshot {vgname}/{} is already merging into the origin.",
            inst.vg.lvs[c.origin].name
        );
    }
    let pvs: Vec<Option<&lvm_meta::io::Image>> = inst
        .pv_devices
        .iter()
        .map(|d| d.map(|d| &sys.devices[d].image))
        .collect();
    let store = cow_engine::view::load_store(&inst.vg, li, c.chunk_size.0, &pvs)?;
    if !store.header.is_valid() {
        bail!("Unable to merge invalidated snapshot LV \"{snap}\".");
    }
    let mut vg = (*inst.vg).clone();
    if let SegmentKind::Snapshot { merging, .. } = &mut vg.lvs[c.glue].segments[0].kind {
        *merging = true;
    }
    vg.lvs[c.glue].set_visible(false);
    vg.derive_roles();
    commit_vg(sys, inst, &mut vg, w, 1)?;
    let origin_name = inst.vg.lvs[c.origin].name.clone();
    if interrupt_after == Some(0) {
        writeln!(
            out,
            "  Merging of snapshot {vgname}/{snap} will occur on next activation of {vgname}/{origin_name}."
        )?;
        return Ok(());
    }
    writeln!(out, "  Merging of volume {vgname}/{snap} started.")?;
    out.flush()?;
    let sys_now = rescan(sys)?;
    let inst_now = sys_now
        .vg(&vgname)
        .ok_or_else(|| refused!("VG {vgname} vanished"))?;
    let origin = c.origin;
    let mut tty = tty_progress(&vgname, &origin_name);
    let runs = match progress {
        Some(p) => merge_runs(&sys_now, inst_now, origin, interrupt_after, w.hooks, p)?,
        None => {
            let r = merge_runs(
                &sys_now,
                inst_now,
                origin,
                interrupt_after,
                w.hooks,
                &mut tty,
            )?;
            if r > 0 && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                eprintln!();
            }
            r
        }
    };
    if let Some(n) = interrupt_after {
        if runs >= n {
            eprintln!(
                "  lvmsim: merge of {vgname}/{snap} interrupted after {runs} merge run(s); it resumes at the next activation (vgchange -ay {vgname})."
            );
            return Ok(());
        }
    }
    let sys_done = rescan(&sys_now)?;
    let inst_done = sys_done
        .vg(&vgname)
        .ok_or_else(|| refused!("VG {vgname} vanished"))?;
    let mut n = 1;
    if let Some(cow) = finish_merge(&sys_done, inst_done, origin, w, &mut n)? {
        writeln!(out, "  {vgname}/{origin_name}: Merged: 100.00%")?;
        writeln!(
            out,
            "  Merge of snapshot into logical volume {vgname}/{origin_name} has finished."
        )?;
        writeln!(out, "  Logical volume \"{cow}\" successfully removed.")?;
    }
    Ok(())
}

/// How far a merge has got, after each merge run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergeProgress {
    /// Merge runs done so far.
    pub runs: usize,
    /// Sectors of data chunks still in the store.
    pub sectors_left: u64,
    /// Sectors of data chunks in the store when the merge started.
    pub sectors_total: u64,
}

impl MergeProgress {
    /// Percent merged, as lvm2's poller shows it.
    pub fn percent(&self) -> f64 {
        100.0 * (1.0 - self.sectors_left as f64 / self.sectors_total.max(1) as f64)
    }
}

/// A progress line on stderr when it is a terminal.
pub fn tty_progress(vg: &str, origin: &str) -> impl FnMut(MergeProgress) {
    use std::io::IsTerminal;
    let tty = std::io::stderr().is_terminal();
    let vg = vg.to_owned();
    let origin = origin.to_owned();
    move |p: MergeProgress| {
        if tty {
            eprint!("\r  {vg}/{origin}: Merged: {:6.2}%", p.percent());
        }
    }
}

/// Runs the merge into `origin` for at most `limit` merge runs (all if
/// None), reporting after each run; returns the runs done.
fn merge_runs(
    sys: &System,
    inst: &lvm_meta::scan::VgInstance,
    origin: usize,
    limit: Option<usize>,
    hooks: &WriteHooks,
    progress: &mut dyn FnMut(MergeProgress),
) -> Result<usize> {
    use cow_engine::engine::{merge_step, PStore, Snap};
    let vg = &inst.vg;
    let Some((cow, c)) = vg.roles.iter().enumerate().find_map(|(i, r)| {
        r.cow_of
            .filter(|c| c.merging && c.origin == origin)
            .map(|c| (i, c))
    }) else {
        return Ok(0);
    };
    let mut set = cow_engine::blocks::LvSet {
        vg,
        images: open_rw(sys, inst, hooks)?,
    };
    let mut m = PStore::activate(&mut set, cow, c.chunk_size.0)?;
    if !m.valid {
        return Ok(0);
    }
    let mut others = Vec::new();
    for (j, r) in vg.roles.iter().enumerate() {
        if let Some(o) = r.cow_of {
            if j != cow && o.origin == origin && !o.merging {
                let store = PStore::activate(&mut set, j, o.chunk_size.0)?;
                others.push(Snap {
                    store,
                    len: u64::from(o.glue_extents) * vg.extent_bytes(),
                });
            }
        }
    }
    // Data chunks still to merge: allocated sectors less the metadata's,
    // as lvm2 counts them (an empty store is 100% merged).
    let data_left = |m: &PStore, set: &cow_engine::blocks::LvSet<'_, crate::write_log::Logged>| {
        let (alloc, _, meta) = m.usage(set);
        alloc.saturating_sub(meta)
    };
    let total = data_left(&m, &set).max(1);
    let mut done = 0;
    while limit.is_none_or(|l| done < l) && merge_step(&mut set, origin, &mut m, &mut others)? {
        done += 1;
        progress(MergeProgress {
            runs: done,
            sectors_left: data_left(&m, &set),
            sectors_total: total,
        });
    }
    for f in set.images.pvs.iter().flatten() {
        f.file.sync_data()?;
    }
    Ok(done)
}

/// The images of a VG opened read-write (for data changes).
pub(crate) fn open_rw(
    sys: &System,
    inst: &lvm_meta::scan::VgInstance,
    hooks: &WriteHooks,
) -> Result<cow_engine::blocks::Images<crate::write_log::Logged>> {
    let mut pvs = Vec::new();
    for d in &inst.pv_devices {
        pvs.push(match d {
            Some(d) => {
                let path = &sys.devices[*d].image.source;
                Some(crate::write_log::Logged {
                    file: std::fs::OpenOptions::new()
                        .read(true)
                        .write(true)
                        .open(path)
                        .with_context(|| format!("{path}: cannot open for writing"))?,
                    path: path.clone(),
                    log: hooks.log.clone(),
                })
            }
            None => None,
        });
    }
    Ok(cow_engine::blocks::Images { pvs })
}

/// Runs every pending merge of the VG to its end, as the kernel does once
/// the origin is activated. Returns the origins merged.
fn run_merges(
    sys: &System,
    inst: &lvm_meta::scan::VgInstance,
    only: Option<usize>,
    hooks: &WriteHooks,
) -> Result<Vec<usize>> {
    run_merges_limited(sys, inst, only, None, hooks)
}

/// [`run_merges`] with at most `limit` merge runs per origin; an origin
/// whose merge stopped early is not returned (it has not finished).
fn run_merges_limited(
    sys: &System,
    inst: &lvm_meta::scan::VgInstance,
    only: Option<usize>,
    limit: Option<usize>,
    hooks: &WriteHooks,
) -> Result<Vec<usize>> {
    use cow_engine::engine::{merge, PStore, Snap};
    let vg = &inst.vg;
    let mut merged = Vec::new();
    for (cow, role) in vg.roles.iter().enumerate() {
        let Some(c) = role.cow_of else { continue };
        if !c.merging || only.is_some_and(|o| o != c.origin) {
            continue;
        }
        let mut set = cow_engine::blocks::LvSet {
            vg,
            images: open_rw(sys, inst, hooks)?,
        };
        let mut m = PStore::activate(&mut set, cow, c.chunk_size.0)?;
        if !m.valid {
            // The kernel refuses to merge an invalid snapshot.
            continue;
        }
        // The origin's other snapshots keep their data while it changes.
        let mut others = Vec::new();
        for (j, r) in vg.roles.iter().enumerate() {
            if let Some(o) = r.cow_of {
                if j != cow && o.origin == c.origin && !o.merging {
                    let store = PStore::activate(&mut set, j, o.chunk_size.0)?;
                    others.push(Snap {
                        store,
                        len: u64::from(o.glue_extents) * vg.extent_bytes(),
                    });
                }
            }
        }
        let runs = merge(&mut set, c.origin, &mut m, &mut others, limit)?;
        for f in set.images.pvs.iter().flatten() {
            f.file.sync_data()?;
        }
        if limit.is_none_or(|l| runs < l) {
            merged.push(c.origin);
        }
    }
    Ok(merged)
}

/// The end of a finished merge, as lvm2's poller writes it: the glue LV
/// goes and the COW becomes a plain visible LV (first write), then the COW
/// LV goes (second write).
fn finish_merge(
    sys: &System,
    inst: &lvm_meta::scan::VgInstance,
    origin: usize,
    w: &Writer,
    n: &mut u32,
) -> Result<Option<String>> {
    let Some((cow, c)) = inst.vg.roles.iter().enumerate().find_map(|(i, r)| {
        r.cow_of
            .filter(|c| c.merging && c.origin == origin)
            .map(|c| (i, c))
    }) else {
        return Ok(None);
    };
    let cow_name = inst.vg.lvs[cow].name.clone();
    let mut vg = (*inst.vg).clone();
    vg.lvs[cow].set_visible(true);
    vg.remove_lv(c.glue).map_err(|e| refused!("{e}"))?;
    commit_vg(sys, inst, &mut vg, w, *n)?;
    *n += 1;
    let sys2 = rescan(sys)?;
    let inst2 = sys2
        .vg(&inst.vg.name)
        .ok_or_else(|| refused!("VG {} vanished", inst.vg.name))?;
    let mut vg = (*inst2.vg).clone();
    let i = vg
        .lv_index(&cow_name)
        .ok_or_else(|| refused!("LV {cow_name} vanished"))?;
    vg.remove_lv(i).map_err(|e| refused!("{e}"))?;
    commit_vg(&sys2, inst2, &mut vg, w, *n)?;
    *n += 1;
    Ok(Some(cow_name))
}

/// The same images scanned again (after a commit).
pub(crate) fn rescan(sys: &System) -> Result<System> {
    let mut images = Vec::new();
    for d in &sys.devices {
        let mut img = lvm_meta::io::Image::open(&d.image.source)?;
        img.path = d.image.path.clone();
        images.push(img);
    }
    Ok(System::scan(images)?)
}

/// `lvchange -ay VG/LV`: an origin with a merging snapshot merges it (and
/// the end is recorded, as lvm2's poller does); nothing else changes.
pub(crate) fn activate_lv(
    sys: &System,
    vgname: &str,
    lvname: &str,
    w: &Writer,
    out: &mut dyn Write,
) -> Result<()> {
    let inst = writable(sys, vgname)?;
    let li = inst
        .vg
        .lv_index(lvname)
        .ok_or_else(|| refused!("Failed to find logical volume \"{vgname}/{lvname}\""))?;
    if !inst.vg.roles[li].merging_origin {
        return Ok(());
    }
    if merge_runs(
        sys,
        inst,
        li,
        None,
        w.hooks,
        &mut tty_progress(vgname, lvname),
    )? > 0
        && std::io::IsTerminal::is_terminal(&std::io::stderr())
    {
        eprintln!();
    }
    let sys_now = rescan(sys)?;
    let inst_now = sys_now
        .vg(vgname)
        .ok_or_else(|| refused!("VG {vgname} vanished"))?;
    let mut n = 1;
    if let Some(cow) = finish_merge(&sys_now, inst_now, li, w, &mut n)? {
        writeln!(out, "  {vgname}/{lvname}: Merged: 100.00%")?;
        writeln!(
            out,
            "  Merge of snapshot into logical volume {vgname}/{lvname} has finished."
        )?;
        writeln!(out, "  Logical volume \"{cow}\" successfully removed.")?;
    }
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
    let inst = writable(sys, vgname)?;
    if activate {
        let merged = run_merges_limited(sys, inst, None, interrupt_after, w.hooks)?;
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
        let active = inst
            .vg
            .lvs
            .iter()
            .enumerate()
            .filter(|(i, l)| {
                !l.is_snapshot_glue()
                    && inst.vg.roles[*i].cow_of.is_none_or(|c| !c.merging)
                    && l.visible_flag()
            })
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

/// `lvpoll --polloperation merge [-i N] VG/ORIGIN`: finishes a merge (runs
/// what is left of it, then writes the result to the metadata).
pub fn lvpoll_merge(sys: &System, arg: &str, w: &Writer, out: &mut dyn Write) -> Result<()> {
    let (vgname, lv) = vg_lv(arg)?;
    let inst = writable(sys, &vgname)?;
    let origin = inst
        .vg
        .lv_index(&lv)
        .ok_or_else(|| refused!("Failed to find logical volume \"{vgname}/{lv}\""))?;
    run_merges(sys, inst, Some(origin), w.hooks)?;
    let sys_now = rescan(sys)?;
    let inst_now = sys_now
        .vg(&vgname)
        .ok_or_else(|| refused!("VG {vgname} vanished"))?;
    let mut n = 1;
    if let Some(cow) = finish_merge(&sys_now, inst_now, origin, w, &mut n)? {
        writeln!(out, "  {vgname}/{lv}: Merged: 100.00%")?;
        writeln!(
            out,
            "  Merge of snapshot into logical volume {vgname}/{lv} has finished."
        )?;
        writeln!(out, "  Logical volume \"{cow}\" successfully removed.")?;
    }
    Ok(())
}

/// Why lvm2 (or this simulation) would not remove LV `li` of `vg`.
fn refuse_removal(vg: &Vg, li: usize, vgname: &str, lv: &str) -> Result<()> {
    if vg.lvs[li].is_snapshot_glue() {
        bail!("Can't remove logical volume {vgname}/{lv} used as snapshot glue.");
    }
    if !vg.roles[li].origin_of.is_empty() {
        bail!("Removing origin {vgname}/{lv} with its snapshots is not simulated yet; remove the snapshots first.");
    }
    if vg.roles[li].cow_of.is_some_and(|c| c.merging) {
        bail!("Can't remove merging snapshot logical volume {vgname}/{lv}.");
    }
    Ok(())
}

/// `lvremove [-y] VG/LV...`: plain LVs and snapshots of inactive VGs (no
/// prompt: lvm2 asks only for active LVs). A snapshot is first detached
/// (its glue removed, the COW made a plain LV: one write), and every
/// removal is then committed once at the end, as lvm2 postpones it.
pub fn lvremove(sys: &System, args: &[String], w: &Writer, out: &mut dyn Write) -> Result<()> {
    let mut n = 1u32;
    let mut sys_now = rescan(sys)?;
    let mut pending: Vec<(String, Vg)> = Vec::new();
    // lvm2 walks VGs by name and each VG's LVs in metadata order, whatever
    // the order on the command line.
    let mut named: Vec<(String, usize, String)> = Vec::new();
    for arg in args {
        let (vgname, lv) = vg_lv(arg)?;
        let inst = writable(&sys_now, &vgname)?;
        let li = inst
            .vg
            .lv_index(&lv)
            .ok_or_else(|| refused!("Failed to find logical volume \"{vgname}/{lv}\""))?;
        if !named.iter().any(|(v, i, _)| *v == vgname && *i == li) {
            named.push((vgname, li, lv));
        }
    }
    named.sort();
    // Every refusal comes before the first write: a snapshot is detached at
    // once, so a refusal after it would leave it a plain LV holding its COW
    // (and its glue, if named too, gone with it).
    for (vgname, li, lv) in &named {
        refuse_removal(&writable(&sys_now, vgname)?.vg, *li, vgname, lv)?;
    }
    for (vgname, _, lv) in named {
        // A VG changed earlier in this command continues from its new state.
        let mut vg = match pending.iter().position(|(v, _)| *v == vgname) {
            Some(i) => pending.remove(i).1,
            None => (*writable(&sys_now, &vgname)?.vg).clone(),
        };
        let li = vg
            .lv_index(&lv)
            .ok_or_else(|| refused!("Failed to find logical volume \"{vgname}/{lv}\""))?;
        if let Some(c) = vg.roles[li].cow_of {
            // vg_remove_snapshot: written at once.
            vg.lvs[li].set_visible(true);
            vg.remove_lv(c.glue).map_err(|e| refused!("{e}"))?;
            let inst = writable(&sys_now, &vgname)?;
            commit_vg(&sys_now, inst, &mut vg, w, n)?;
            n += 1;
            sys_now = rescan(&sys_now)?;
            vg = (*writable(&sys_now, &vgname)?.vg).clone();
        }
        let li = vg
            .lv_index(&lv)
            .ok_or_else(|| refused!("LV {lv} vanished"))?;
        let visible = vg.lvs[li].visible_flag();
        vg.remove_lv(li).map_err(|e| refused!("{e}"))?;
        if visible {
            writeln!(out, "  Logical volume \"{lv}\" successfully removed.")?;
        }
        pending.push((vgname, vg));
    }
    for (vgname, mut vg) in pending {
        let inst = writable(&sys_now, &vgname)?;
        commit_vg(&sys_now, inst, &mut vg, w, n)?;
        n += 1;
        sys_now = rescan(&sys_now)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::lvremove;
    use crate::context::Context;
    use crate::create::{self, Amount, LvcreateOpts, PvcreateOpts};
    use lvm_meta::io::Image;
    use lvm_meta::scan::System;
    use std::path::Path;

    fn scan(path: &Path) -> System {
        let mut img = Image::open(&path.display().to_string()).unwrap();
        img.path = "/dev/vda".into();
        System::scan(vec![img]).unwrap()
    }

    /// `lvremove vg/sn0 vg/snapshot0` (a snapshot and its glue): the glue is
    /// refused before anything is written. Found by the commands fuzzer:
    /// the snapshot used to be detached first (its own commit), then the
    /// glue was gone and the command failed, leaving sn0 a plain LV.
    #[test]
    fn lvremove_refuses_before_detaching_a_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.img");
        std::fs::File::create(&path)
            .unwrap()
            .set_len(8 << 20)
            .unwrap();
        let ctx = Context::deterministic();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        create::vgcreate(
            &scan(&path),
            "vg",
            &["/dev/vda".into()],
            Some(1024),
            &PvcreateOpts::default(),
            &ctx.writer("vgcreate vg /dev/vda"),
            &mut ctx.ids("vgcreate"),
            &mut out,
        )
        .unwrap();
        for (name, origin) in [("lv0", None), ("sn0", Some("lv0"))] {
            let o = LvcreateOpts {
                name: Some(name.into()),
                amount: Some(Amount::Extents(2)),
                origin: origin.map(Into::into),
                ..LvcreateOpts::default()
            };
            let w = ctx.writer("lvcreate");
            create::lvcreate(
                &scan(&path),
                "vg",
                &[],
                &o,
                &w,
                &mut ctx.ids(name),
                &mut out,
                &mut err,
            )
            .unwrap();
        }
        let before = scan(&path);
        let seqno = before.vg("vg").unwrap().vg.seqno;
        let args = ["vg/sn0".to_owned(), "vg/snapshot0".to_owned()];
        let e = lvremove(&before, &args, &ctx.writer("lvremove"), &mut out).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Can't remove logical volume vg/snapshot0 used as snapshot glue."
        );
        let after = scan(&path);
        let vg = &after.vg("vg").unwrap().vg;
        assert_eq!(vg.seqno, seqno, "the refused command wrote metadata");
        let sn0 = vg.lv_index("sn0").unwrap();
        assert!(
            vg.roles[sn0].cow_of.is_some(),
            "sn0 is no longer a snapshot"
        );
    }
}
