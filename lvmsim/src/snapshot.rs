//! Old-style snapshots: the COW and glue of `lvcreate -s`, and merging
//! (`lvconvert --merge`, activation that runs a pending merge, `lvpoll`),
//! with the kernel's merge semantics and lvm2's writes around it.

use crate::error::{bail, refused, Error, Result};
use crate::names::vg_lv;
use crate::{ids::*, lv::*, write::*};
use lvm_meta::model::{Segment, SegmentKind, Vg};
use lvm_meta::scan::System;
use lvm_meta::units::Sectors;
use std::io::Write;

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

/// The second half of `lvcreate -s`: the COW LV `cow_name` loses its
/// visibility and a glue LV `snapshotN` joins it to origin `oi` (second
/// commit); then, as the kernel does when it loads the snapshot, the
/// store's header and first metadata area are written.
pub(crate) fn snapshot_phase(
    sys: &System,
    vgname: &str,
    cow_name: &str,
    oi: usize,
    chunk: u64,
    w: &Writer,
    ids: &mut Ids,
) -> Result<()> {
    if let Some(x) = &w.explain {
        // The wipe of `lvcreate`, just before.
        x.lvm2(crate::explain::Lvm2Step::Wipe {
            snapshot: cow_name.to_owned(),
            bytes: 4096,
        });
    }
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
    vg.lvs.push(new_lv(
        &glue_name,
        ids,
        w,
        vec![Segment {
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
    )?);
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
    let log = w.explain.as_ref().map(|x| x.log());
    cow_engine::engine::PStore::activate_logged(&mut set, cow, chunk, log)?;
    if let Some(x) = &w.explain {
        x.drain(&inst.vg);
    }
    for f in set.images.pvs.iter().flatten() {
        f.file.sync_data()?;
    }
    Ok(())
}

/// When `lvconvert --merge` merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeStart {
    /// As lvm2 with an inactive origin, which lvmsim's images always are:
    /// the snapshot is only marked as merging (one write) and the merge
    /// runs at the origin's next activation (`vgchange -ay`, `lvchange -ay`).
    NextActivation,
    /// As lvm2 with an active origin: the kernel starts the merge at once
    /// and lvm2 polls it to its end (two more writes record it).
    /// `stop_after: Some(n)` stops after `n` merge runs, leaving what the
    /// kernel leaves on a power loss there.
    Now {
        /// Merge runs after which to stop; `None` runs to the end.
        stop_after: Option<usize>,
    },
    /// As lvm2 with an active origin under a running [`crate::kernel`]:
    /// the snapshot is marked as merging and the kernel, reloading the
    /// origin, runs the merge; lvm2's poller (or `lvpoll`) ends it.
    Kernel,
}

/// `lvconvert --merge VG/SNAP`: marks the snapshot as merging (first
/// write); then, with [`MergeStart::Now`], merges it into the origin as
/// the kernel does and records the end as lvm2's poller does. `progress`
/// (with `Now`) is called after each merge run; by default a terminal's
/// stderr shows lvm2's progress line.
pub fn lvconvert_merge(
    sys: &System,
    arg: &str,
    start: MergeStart,
    progress: Option<&mut dyn FnMut(MergeProgress)>,
    w: &Writer,
    out: &mut dyn Write,
) -> Result<()> {
    let (vgname, snap) = vg_lv(arg)?;
    let inst = writable(sys, &vgname)?;
    let li = inst.vg.lv_index_or_err(&snap)?;
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
    let pvs = sys.pv_images(inst);
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
    let interrupt_after = match start {
        MergeStart::NextActivation => {
            if let Some(x) = &w.explain {
                x.lvm2(crate::explain::Lvm2Step::MergePending {
                    snapshot: snap.clone(),
                    origin: format!("{vgname}/{origin_name}"),
                });
            }
            writeln!(
                out,
                "  Merging of snapshot {vgname}/{snap} will occur on next activation of {vgname}/{origin_name}."
            )?;
            return Ok(());
        }
        MergeStart::Now { stop_after } => stop_after,
        MergeStart::Kernel => {
            writeln!(out, "  Merging of volume {vgname}/{snap} started.")?;
            return Ok(());
        }
    };
    writeln!(out, "  Merging of volume {vgname}/{snap} started.")?;
    out.flush()?;
    let sys_now = rescan(sys)?;
    let inst_now = sys_now
        .vg(&vgname)
        .ok_or_else(|| refused!("VG {vgname} vanished"))?;
    let origin = c.origin;
    let mut tty = tty_progress(&vgname, &origin_name, w.progress);
    let runs = match progress {
        Some(p) => merge_runs(&sys_now, inst_now, origin, interrupt_after, w, p)?,
        None => {
            let r = merge_runs(&sys_now, inst_now, origin, interrupt_after, w, &mut tty)?;
            if r > 0 && w.progress {
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

/// A progress line on stderr, drawn only if `on` ([`Writer::progress`]:
/// the caller's stderr is a terminal).
pub fn tty_progress(vg: &str, origin: &str, on: bool) -> impl FnMut(MergeProgress) {
    let vg = vg.to_owned();
    let origin = origin.to_owned();
    move |p: MergeProgress| {
        if on {
            eprint!("\r  {vg}/{origin}: Merged: {:6.2}%", p.percent());
        }
    }
}

/// Runs the merge into `origin` for at most `limit` merge runs (all if
/// None), reporting after each run; returns the runs done.
pub(crate) fn merge_runs(
    sys: &System,
    inst: &lvm_meta::scan::VgInstance,
    origin: usize,
    limit: Option<usize>,
    w: &Writer,
    progress: &mut dyn FnMut(MergeProgress),
) -> Result<usize> {
    use cow_engine::engine::{merge_step, PStore, Snap};
    let hooks = w.hooks;
    let log = w.explain.as_ref().map(|x| x.log());
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
    let mut m = PStore::activate_logged(&mut set, cow, c.chunk_size.0, log)?;
    if !m.valid {
        return Ok(0);
    }
    let mut others = Vec::new();
    for (j, r) in vg.roles.iter().enumerate() {
        if let Some(o) = r.cow_of {
            if j != cow && o.origin == origin && !o.merging {
                let store = PStore::activate_logged(&mut set, j, o.chunk_size.0, log)?;
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
    let mut stopped = false;
    while limit.is_none_or(|l| done < l) {
        if hooks.stop.requested() {
            stopped = true;
            break;
        }
        if !merge_step(&mut set, origin, &mut m, &mut others)? {
            break;
        }
        done += 1;
        progress(MergeProgress {
            runs: done,
            sectors_left: data_left(&m, &set),
            sectors_total: total,
        });
    }
    if let Some(x) = &w.explain {
        x.drain(vg);
    }
    for f in set.images.pvs.iter().flatten() {
        f.file.sync_data()?;
    }
    if stopped {
        return Err(merge_stopped(vg, origin, done));
    }
    Ok(done)
}

/// Runs every pending merge of the VG to its end, as the kernel does once
/// the origin is activated. Returns the origins merged.
pub(crate) fn run_merges(
    sys: &System,
    inst: &lvm_meta::scan::VgInstance,
    only: Option<usize>,
    w: &Writer,
) -> Result<Vec<usize>> {
    run_merges_limited(sys, inst, only, None, w)
}

/// [`run_merges`] with at most `limit` merge runs per origin; an origin
/// whose merge stopped early is not returned (it has not finished).
pub(crate) fn run_merges_limited(
    sys: &System,
    inst: &lvm_meta::scan::VgInstance,
    only: Option<usize>,
    limit: Option<usize>,
    w: &Writer,
) -> Result<Vec<usize>> {
    use cow_engine::engine::{merge_step, PStore, Snap};
    let hooks = w.hooks;
    let log = w.explain.as_ref().map(|x| x.log());
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
        let mut m = PStore::activate_logged(&mut set, cow, c.chunk_size.0, log)?;
        if !m.valid {
            // The kernel refuses to merge an invalid snapshot.
            continue;
        }
        // The origin's other snapshots keep their data while it changes.
        let mut others = Vec::new();
        for (j, r) in vg.roles.iter().enumerate() {
            if let Some(o) = r.cow_of {
                if j != cow && o.origin == c.origin && !o.merging {
                    let store = PStore::activate_logged(&mut set, j, o.chunk_size.0, log)?;
                    others.push(Snap {
                        store,
                        len: u64::from(o.glue_extents) * vg.extent_bytes(),
                    });
                }
            }
        }
        let mut runs = 0;
        let mut stopped = false;
        while limit.is_none_or(|l| runs < l) {
            if hooks.stop.requested() {
                stopped = true;
                break;
            }
            if !merge_step(&mut set, c.origin, &mut m, &mut others)? {
                break;
            }
            runs += 1;
        }
        if let Some(x) = &w.explain {
            x.drain(vg);
        }
        for f in set.images.pvs.iter().flatten() {
            f.file.sync_data()?;
        }
        if stopped {
            return Err(merge_stopped(vg, c.origin, runs));
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
pub(crate) fn finish_merge(
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
    if let Some(x) = &w.explain {
        x.lvm2(crate::explain::Lvm2Step::MergeDone {
            snapshot: cow_name.clone(),
        });
    }
    Ok(Some(cow_name))
}

/// `lvchange -ay VG/LV`: an origin with a merging snapshot merges it (and
/// the end is recorded, as lvm2's poller does); nothing else changes.
/// Nothing is printed: lvm2 polls the merge from a background process
/// whose output goes to /dev/null (`lv_spawn_background_polling`,
/// `become_daemon`), as with `vgchange -ay`.
pub(crate) fn activate_lv(sys: &System, vgname: &str, lvname: &str, w: &Writer) -> Result<()> {
    let inst = crate::write::activatable(sys, vgname)?;
    let li = inst.vg.lv_index_or_err(lvname)?;
    if !inst.vg.roles[li].merging_origin {
        return Ok(());
    }
    crate::write::openable_rw(sys, inst.pv_devices.iter().flatten().copied())?;
    if merge_runs(
        sys,
        inst,
        li,
        None,
        w,
        &mut tty_progress(vgname, lvname, w.progress),
    )? > 0
        && w.progress
    {
        eprintln!();
    }
    let sys_now = rescan(sys)?;
    let inst_now = sys_now
        .vg(vgname)
        .ok_or_else(|| refused!("VG {vgname} vanished"))?;
    let mut n = 1;
    finish_merge(&sys_now, inst_now, li, w, &mut n)?;
    Ok(())
}

/// `lvpoll --polloperation merge [-i N] VG/ORIGIN`: finishes a merge (runs
/// what is left of it, then writes the result to the metadata).
pub fn lvpoll_merge(sys: &System, arg: &str, w: &Writer, out: &mut dyn Write) -> Result<()> {
    let (vgname, lv) = vg_lv(arg)?;
    let inst = writable(sys, &vgname)?;
    let origin = inst.vg.lv_index_or_err(&lv)?;
    run_merges(sys, inst, Some(origin), w)?;
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

/// The error of a merge into `origin` stopped on request after `runs` merge
/// runs: every run done is on the images, and the rest runs at the next
/// activation.
fn merge_stopped(vg: &Vg, origin: usize, runs: usize) -> Error {
    Error::Interrupted(format!(
        "lvmsim: merge into {}/{} stopped after {runs} merge run(s); it resumes at the next activation (vgchange -ay {})",
        vg.name, vg.lvs[origin].name, vg.name
    ))
}

/// `lvchange -ay --poll n VG/LV...`: activates the LVs as
/// [`crate::lv::lvchange`] does, but a pending merge into one of them is
/// only started (its runs made on the images), not finished: the
/// snapshot stays in the metadata, merging, until `lvpoll` (as
/// `vgchange -ay --poll n` leaves it).
pub fn lvchange_activate_nopoll(sys: &System, targets: &[String], w: &Writer) -> Result<()> {
    let named = crate::lv::lvs_named(sys, targets, true)?;
    let mut cur = rescan(sys)?;
    for (vgname, _, lvname) in named {
        let inst = crate::write::activatable(&cur, &vgname)?;
        let li = inst.vg.lv_index_or_err(&lvname)?;
        if !inst.vg.roles[li].merging_origin {
            continue;
        }
        crate::write::openable_rw(&cur, inst.pv_devices.iter().flatten().copied())?;
        run_merges(&cur, inst, Some(li), w)?;
        cur = rescan(&cur)?;
    }
    Ok(())
}
