//! Commands on logical volumes: `lvcreate` (linear, striped, and the
//! first steps of a snapshot), `lvextend`/`lvreduce`, `lvrename`,
//! `lvremove` and `lvchange`, with lvm2's name, size and allocation rules.

use crate::context::WriteHooks;
use crate::error::{bail, refused, Error, Result, ResultExt};
use crate::{ids::*, pv::*, size::*, snapshot::*, write::*};
use lvm_meta::model::{Area, Lv, Segment, SegmentKind, Vg};
use lvm_meta::scan::{System, VgInstance};
use lvm_meta::units::Sectors;
use std::io::Write;

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

/// Segments for allocated pieces, numbered from `start_extent`.
pub(crate) fn segments_for(
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
pub(crate) fn merge_segments(segs: &mut Vec<Segment>) {
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

/// Free extents of the listed PVs (all PVs if none listed).
pub(crate) fn listed_free(vg: &Vg, choice: &[lvm_meta::alloc::PvChoice]) -> u64 {
    lvm_meta::alloc::free_extents(vg, choice)
}

/// The stripe size in sectors for `stripes` > 1: `-I`, or lvm2's default
/// (announced), capped at the extent size (announced).
pub(crate) fn stripe_size_for(
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
    let name = new_lv_name(&vg, vgname, o.name.as_deref())?;
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
    let ext = vg.mappable_extent_size()?.0;
    let extent_count = vg.total_extents();
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
                    // lvm2 adds its estimate of the store's header and
                    // metadata chunks (the most the COW can use, less the
                    // origin's size) and rounds the percentage up.
                    Pct::Origin => match (origin, chunk) {
                        (Some(oi), Some(cs)) => {
                            let ole = vg.lv_extents(&vg.lvs[oi]);
                            cow_max_extents(ole * ext, cs, ext).saturating_sub(ole)
                                + percent_of(p, ole, true)
                        }
                        _ => bail!("Internal error: Couldn't find origin volume."),
                    },
                    Pct::Lv => bail!(
                        "Please express size as %FREE{}, %PVS or %VG.",
                        if origin.is_some() { ", %ORIGIN" } else { "" }
                    ),
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
    // lvm2 (`_lv_create_an_lv`): the snapshot's minimum, then the space.
    if let Some(cs) = chunk {
        if n * ext < 3 * cs {
            bail!(
                "Snapshot volume cannot be smaller than 3 chunks ({} extents, {}).",
                (3 * cs).div_ceil(ext),
                display_size(3 * cs)
            );
        }
    }
    if !approx && n > vg_free {
        bail!("Volume group \"{vgname}\" has insufficient free space ({vg_free} extents): {n} required.");
    }
    let pieces = allocate_for(&vg, &choice, stripes, n, None, approx, &name)?;
    let mut segments = segments_for(&pieces, 0, stripe_size);
    merge_segments(&mut segments);
    vg.lvs.push(new_lv(&name, ids, w, segments)?);
    vg.derive_roles();
    // A commit cut part-way (one metadata area written) may show the new
    // LV: it is removed again as after a failed wipe.
    commit_vg(sys, inst, &mut vg, w, 1).or_else(|e| {
        revert_new_lv(
            sys,
            vgname,
            &name,
            w,
            e,
            &format!("Failed to write VG {vgname}"),
        )
    })?;
    if let (Some(oi), Some(cs)) = (origin, chunk) {
        // A snapshot's COW is always wiped, then becomes a snapshot in a
        // second commit, then the kernel writes the new store on activation.
        zero_start(sys, inst, &vg, vg.lvs.len() - 1, 4096, w.hooks).or_else(|e| {
            revert_new_lv(
                sys,
                vgname,
                &name,
                w,
                e,
                "Aborting. Failed to wipe snapshot exception store",
            )
        })?;
        snapshot_phase(sys, vgname, &name, oi, cs, w, ids).or_else(|e| {
            revert_new_lv(
                sys,
                vgname,
                &name,
                w,
                e,
                "Aborting. Failed to wipe snapshot exception store",
            )
        })?;
    } else if o.no_zero || o.inactive {
        writeln!(err, "  WARNING: Logical volume {vgname}/{name} not zeroed.")?;
    } else {
        zero_start(sys, inst, &vg, vg.lvs.len() - 1, 4096, w.hooks).or_else(|e| {
            revert_new_lv(
                sys,
                vgname,
                &name,
                w,
                e,
                "Aborting. Failed to wipe start of new LV",
            )
        })?;
    }
    writeln!(out, "  Logical volume \"{name}\" created.")?;
    Ok(())
}

/// The name a new LV of `vg` gets: `name` once lvm2's name rules pass and
/// no LV has it, or without one lvm2's `lvolN`, one more than the highest
/// `lvolN` in use.
pub(crate) fn new_lv_name(vg: &Vg, vgname: &str, name: Option<&str>) -> Result<String> {
    match name {
        Some(n) => {
            check_lv_name(vgname, n)?;
            if vg.lv_index(n).is_some() {
                bail!("Logical Volume \"{n}\" already exists in volume group \"{vgname}\"");
            }
            Ok(n.to_owned())
        }
        None => {
            let next = vg
                .lvs
                .iter()
                .filter_map(|l| leading_int(l.name.strip_prefix("lvol")?))
                .max()
                .map_or(0, |m| m + 1);
            Ok(format!("lvol{next}"))
        }
    }
}

/// The number `sscanf("%d")` reads at the start of `s`.
pub(crate) fn leading_int(s: &str) -> Option<i64> {
    let end = s
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && (c == '-' || c == '+'))))
        .map_or(s.len(), |(i, _)| i);
    s[..end].parse().ok()
}

/// Runs the allocator and words its failures as lvm2 does.
pub(crate) fn allocate_for(
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

/// After the wipe of new LV `name` failed with `e` (a full or failing
/// disk): removes the LV again in a second commit, as lvm2 does, so that
/// the VG is left as it was; returns `e` under `what` (lvm2's "Aborting"
/// line), with a call for manual intervention when the removal fails too.
/// A failure that left the LV unwritten, or already a snapshot, is returned
/// as it is.
fn revert_new_lv(
    sys: &System,
    vgname: &str,
    name: &str,
    w: &Writer,
    e: crate::error::Error,
    what: &str,
) -> Result<()> {
    let removed = (|| {
        let sys2 = rescan(sys)?;
        let inst = writable(&sys2, vgname)?;
        let mut vg = (*inst.vg).clone();
        // Only while it is still the plain LV of the first commit (the last
        // one; no segment refers to it): once a snapshot, it is kept.
        let last = vg.lvs.len().checked_sub(1);
        if last.is_none_or(|l| vg.lvs[l].name != name || vg.roles[l].cow_of.is_some()) {
            return Ok(false);
        }
        vg.lvs.pop();
        vg.derive_roles();
        commit_vg(&sys2, inst, &mut vg, w, 2).map(|()| true)
    })();
    if matches!(removed, Ok(false)) {
        return Err(e);
    }
    let e = Err::<(), _>(e).context(what);
    match removed {
        Ok(_) => e,
        Err(r) => e.context(format!(
            "{r}; manual intervention may be required to remove abandoned LV {vgname}/{name}"
        )),
    }
}

/// Zeroes the first `len` bytes of LV `li` (lvm2 wipes the start of a new
/// LV so that old signatures do not show through).
pub(crate) fn zero_start(
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
        let img = &sys.devices[dev].image;
        img.check_writable()?;
        let path = &img.source;
        // A PV inside a partition: the write stays inside it.
        let file_at = img
            .file_offset(off, n)
            .map_err(|e| refused!("{}: cannot zero {n} bytes at {off}: {e}", img.path))?;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| refused!("{path}: cannot open for writing: {e}"))?;
        let zeros = vec![0u8; n as usize];
        hooks.write_at(
            &f,
            path,
            &zeros,
            file_at,
            &format!("{}: zeroing the new LV", sys.devices[dev].image.path),
        )?;
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
    let (vgname, lvname) = crate::names::vg_lv(target)?;
    let inst = writable(sys, &vgname)?;
    let mut vg = (*inst.vg).clone();
    let li = vg
        .lv_index(&lvname)
        .ok_or_else(|| refused!("Logical volume {lvname} not found in volume group {vgname}."))?;
    // lvm2 (`_lvresize_check`): a snapshot's glue and a merging COW are
    // internal LVs.
    if !vg.lv_visible(li) {
        bail!("Can't resize internal logical volume {vgname}/{lvname}.");
    }
    // lvm2 (`_lvresize_check_type`): the origin's snapshots would read past
    // its new end.
    if !grow && !vg.roles[li].origin_of.is_empty() {
        bail!("Snapshot origin volumes cannot be reduced in size yet.");
    }
    let cur = vg.lv_extents(&vg.lvs[li]);
    let ext = vg.mappable_extent_size()?.0;
    let choice = pv_selection(sys, inst, pv_args)?;
    let extent_count = vg.total_extents();
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
                // lvm2 (`_lvresize_extents_from_percent`).
                let up = sign != Sign::Minus;
                let of_pes = matches!(of, Pct::Vg | Pct::Free | Pct::Pvs);
                approx = (sign == Sign::None && of_pes) || (sign == Sign::Plus && of == Pct::Free);
                let n = match of {
                    Pct::Vg => {
                        let n = percent_of(p, extent_count, up);
                        if sign == Sign::None && n > cur + vg_free {
                            writeln!(
                                out,
                                "  Reducing {p}%VG to remaining free space {} in VG.",
                                display_size((cur + vg_free) * ext)
                            )?;
                            cur + vg_free
                        } else {
                            n
                        }
                    }
                    Pct::Free => percent_of(p, vg_free, up),
                    Pct::Lv => percent_of(p, cur, up),
                    Pct::Pvs if pv_args.is_empty() => percent_of(p, extent_count, up),
                    Pct::Pvs => percent_of(p, listed_free(&vg, &choice), up),
                    Pct::Origin => {
                        let role = vg.roles.get(li).cloned().unwrap_or_default();
                        match role.cow_of.filter(|_| role.origin_of.is_empty()) {
                            Some(c) => percent_of(p, vg.lv_extents(&vg.lvs[c.origin]), up),
                            None => bail!("Specified LV does not have an origin LV."),
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
        if vg.roles[li].cow_of.is_some() {
            check_cow_reduce(sys, inst, li, new * ext, &vgname, &lvname)?;
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

/// lvm2's check before a snapshot's COW (LV `li`) is cut to `new_sectors`
/// (`_lv_resize_check_cow_reduce`, lvm2 2.03.39; 2.03.16 cut it without
/// looking, and the kernel then fails to load the store): the store must
/// be valid and keep every chunk it has allocated, the `used` sectors of
/// the snapshot's status (its header, metadata areas and data chunks up to
/// the next free one).
fn check_cow_reduce(
    sys: &System,
    inst: &VgInstance,
    li: usize,
    new_sectors: u64,
    vgname: &str,
    lvname: &str,
) -> Result<()> {
    let Some(c) = inst.vg.roles[li].cow_of else {
        return Ok(());
    };
    let pvs = sys.pv_images(inst);
    let store = cow_engine::view::load_store(&inst.vg, li, c.chunk_size.0, &pvs)?;
    if !store.header.is_valid() {
        bail!("Invalid snapshot {vgname}/{lvname} cannot be reduced, only removed.");
    }
    let (used, total, metadata) = store.usage();
    if new_sectors < used {
        let percent = crate::active::snapshot_percent(crate::active::SnapStatus::Usage {
            used,
            total,
            metadata,
        });
        bail!(
            "Cannot reduce snapshot {vgname}/{lvname} to below {} ({percent}% full, would lose exception data).",
            display_size(used)
        );
    }
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
pub(crate) fn check_tag(t: &str) -> Result<()> {
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
    let named = lvs_named(&cur, targets, o.activate.is_some())?;
    let mut writes = WriteCounts::default();
    for (vgname, _, lvname) in named {
        if o.activate == Some(true) {
            activate_lv(&cur, &vgname, &lvname, w)?;
            cur = rescan(&cur)?;
        }
        if o.addtag.is_empty() && o.deltag.is_empty() {
            continue;
        }
        let inst = writable(&cur, &vgname)?;
        let mut vg = (*inst.vg).clone();
        let li = vg.lv_index_or_err(&lvname)?;
        let lv = &mut vg.lvs[li];
        for t in &o.addtag {
            if !lv.tags.contains(t) {
                lv.tags.push(t.clone());
            }
        }
        lv.tags.retain(|t| !o.deltag.contains(t));
        commit_vg(&cur, inst, &mut vg, w, writes.next(&vgname))?;
        writeln!(out, "  Logical volume {vgname}/{lvname} changed.")?;
        cur = rescan(&cur)?;
    }
    Ok(())
}

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

/// `lvrename VG OLD NEW` or `lvrename VG/OLD NEW`. As in lvm2, the VG may
/// come in any of its forms (`/dev/VG`...) and each LV name may carry its
/// VG (which must be the same); the LV names themselves are what follows
/// their last slash, so `/dev/mapper/VG-LV` names an LV `VG-LV`, as lvm2
/// reads it.
pub fn lvrename(sys: &System, args: &[String], w: &Writer, out: &mut dyn Write) -> Result<()> {
    let usage = |m: String| Error::Usage(m);
    let (vgname, old, new) = match args {
        [v, a, b] => {
            let v = crate::names::skip_dev_dir(v).name;
            if let Ok(Some(va)) = crate::names::vg_of_lv(a) {
                if va != v {
                    return Err(usage(format!(
                        "Please use a single volume group name (\"{v}\" or \"{va}\")"
                    )));
                }
            }
            (v, a, b)
        }
        [a, b] => match crate::names::vg_of_lv(a)? {
            Some(v) => (v, a, b),
            None => {
                return Err(usage(format!(
                    "Path required for Logical Volume \"{a}\".\n  Please provide a valid volume group name"
                )))
            }
        },
        _ => return Err(usage("Old and new logical volume names required".into())),
    };
    if let Ok(Some(vn)) = crate::names::vg_of_lv(new) {
        if vn != vgname {
            return Err(usage(format!(
                "Logical volume names must have the same volume group (\"{vgname}\" or \"{vn}\")"
            )));
        }
    }
    let last = |x: &str| x.rsplit('/').next().unwrap_or(x).to_owned();
    let (old, new) = (last(old), last(new));
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

/// Why lvm2 would not remove LV `li` of `vg`. A merging snapshot is
/// refused by lvm2 only while its merge runs in the kernel
/// (`lv_remove_single` asks the live table); inactive, it goes.
fn refuse_removal(vg: &Vg, li: usize, vgname: &str, lv: &str) -> Result<()> {
    if vg.lvs[li].is_snapshot_glue() {
        bail!("Can't remove logical volume {vgname}/{lv} used as snapshot glue.");
    }
    Ok(())
}

/// The number of the next write to each VG in one command: lvm2 counts
/// them per VG it holds (`vg->write_count`), from 1.
#[derive(Default)]
pub(crate) struct WriteCounts(Vec<(String, u32)>);

impl WriteCounts {
    /// Counts a write to `vg` and returns its number.
    pub(crate) fn next(&mut self, vg: &str) -> u32 {
        match self.0.iter_mut().find(|(v, _)| v == vg) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                self.0.push((vg.to_owned(), 1));
                1
            }
        }
    }
}

/// The LVs that LV arguments name, in the order lvm2's `process_each_lv`
/// takes them (seen with lvm2 2.03.16 on loop devices): VGs in the order
/// the arguments first name them, or, once a tag is given, every VG in the
/// order lvm2's device scan lists them (the reverse of the devices' order);
/// each VG's LVs in metadata order, each LV once.
///
/// - `VG/LV` (in any of the forms of [`crate::names::lv_arg`]): that LV,
///   hidden or not;
/// - `VG`: every visible LV of the VG;
/// - `@TAG`: every visible LV carrying the tag, and every visible LV of a
///   VG carrying it; a tag that names nothing names nothing (no error).
///
/// A snapshot's glue LV is only ever named by its name. With `activation`, the
/// whole-VG forms leave out COW LVs (lvm2 activates a snapshot through its
/// origin). Every VG with an LV named must be one lvm2 would change (the
/// images are not opened here: each command checks that it may write them
/// before it does, and an activation with nothing to merge writes nothing).
pub(crate) fn lvs_named(
    sys: &System,
    args: &[String],
    activation: bool,
) -> Result<Vec<(String, usize, String)>> {
    let mut tags: Vec<&str> = Vec::new();
    let mut whole: Vec<String> = Vec::new();
    let mut by_name: Vec<(String, usize)> = Vec::new();
    let mut vg_order: Vec<String> = Vec::new();
    for arg in args {
        if let Some(t) = arg.strip_prefix('@') {
            check_tag(t)?;
            tags.push(t);
            continue;
        }
        let n = crate::names::lv_arg(arg)?;
        let inst = if activation {
            crate::write::activatable(sys, &n.vg)?
        } else {
            changeable(sys, &n.vg)?
        };
        match n.lv {
            Some(lv) => by_name.push((n.vg.clone(), inst.vg.lv_index_or_err(&lv)?)),
            None => whole.push(n.vg.clone()),
        }
        if !vg_order.contains(&n.vg) {
            vg_order.push(n.vg);
        }
    }
    if !tags.is_empty() {
        let first_device = |i: usize| sys.vgs[i].pv_devices.iter().flatten().min().copied();
        let mut all: Vec<usize> = (0..sys.vgs.len()).collect();
        all.sort_by_key(|&i| std::cmp::Reverse(first_device(i)));
        vg_order = all
            .into_iter()
            .map(|i| sys.vgs[i].vg.name.clone())
            .collect();
    }
    let mut named = Vec::new();
    for vgname in vg_order {
        let Some(inst) = sys.vg(&vgname) else {
            continue;
        };
        let vg = &inst.vg;
        let all = whole.contains(&vgname) || vg.tags.iter().any(|t| tags.contains(&t.as_str()));
        let mut any = false;
        for (li, lv) in vg.lvs.iter().enumerate() {
            let picked = by_name.iter().any(|(v, i)| *v == vgname && *i == li)
                || ((all || lv.tags.iter().any(|t| tags.contains(&t.as_str())))
                    && vg.lv_visible(li)
                    && !(activation && vg.roles[li].cow_of.is_some()));
            if picked {
                any = true;
                named.push((vgname.clone(), li, lv.name.clone()));
            }
        }
        if any && activation {
            crate::write::activatable(sys, &vgname)?;
        } else if any {
            changeable(sys, &vgname)?;
        }
    }
    Ok(named)
}

/// `lvremove [-y] VG/LV...`: plain LVs, snapshots and origins of inactive
/// VGs (no prompt: lvm2 asks only for active LVs, or to discard). A
/// snapshot is first detached (its glue removed, the COW made a plain LV:
/// one write, which also carries the removals made before it in the
/// command), and every removal is then committed once at the end, as lvm2
/// postpones it. An origin takes its snapshots with it, each removed first
/// in the order of their glue LVs (`lv_remove_with_dependencies`); a
/// snapshot named too is removed only once. A merging snapshot goes too,
/// alone or with its origin: lvm2 checks its merge only while it is active.
pub fn lvremove(sys: &System, args: &[String], w: &Writer, out: &mut dyn Write) -> Result<()> {
    // lvm2 numbers the writes of each VG it holds (`Write[n] from`).
    if let Some(thins) = crate::thin_lv::thin_args(sys, args) {
        return crate::thin_lv::lvremove(sys, &thins, w, out);
    }
    let mut writes = WriteCounts::default();
    let mut sys_now = rescan(sys)?;
    let mut pending: Vec<(String, Vg)> = Vec::new();
    let named = lvs_named(&sys_now, args, false)?;
    // Every refusal comes before the first write: a snapshot is detached at
    // once, so a refusal after it would leave it a plain LV holding its COW
    // (and its glue, if named too, gone with it).
    for (vgname, li, lv) in &named {
        refuse_removal(&writable(&sys_now, vgname)?.vg, *li, vgname, lv)?;
    }
    // An origin's snapshots go just before it.
    let mut order: Vec<(String, String)> = Vec::new();
    for (vgname, li, lv) in named {
        let vg = &writable(&sys_now, &vgname)?.vg;
        for &g in &vg.roles[li].origin_of {
            if let Some(SegmentKind::Snapshot { cow, .. }) =
                vg.lvs[g].segments.first().map(|s| &s.kind)
            {
                let cow = (vgname.clone(), vg.lvs[*cow].name.clone());
                if !order.contains(&cow) {
                    order.push(cow);
                }
            }
        }
        let this = (vgname, lv);
        if !order.contains(&this) {
            order.push(this);
        }
    }
    for (vgname, lv) in order {
        // A VG changed earlier in this command continues from its new state.
        let mut vg = match pending.iter().position(|(v, _)| *v == vgname) {
            Some(i) => pending.remove(i).1,
            None => (*writable(&sys_now, &vgname)?.vg).clone(),
        };
        let li = vg.lv_index_or_err(&lv)?;
        if let Some(c) = vg.roles[li].cow_of {
            // vg_remove_snapshot: written at once.
            vg.lvs[li].set_visible(true);
            vg.remove_lv(c.glue).map_err(|e| refused!("{e}"))?;
            let inst = writable(&sys_now, &vgname)?;
            commit_vg(&sys_now, inst, &mut vg, w, writes.next(&vgname))?;
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
        commit_vg(&sys_now, inst, &mut vg, w, writes.next(&vgname))?;
        sys_now = rescan(&sys_now)?;
    }
    Ok(())
}

/// A new visible LV as lvcreate writes it: a fresh UUID, the writer's
/// host and time, `segments`.
pub(crate) fn new_lv(name: &str, ids: &mut Ids, w: &Writer, segments: Vec<Segment>) -> Result<Lv> {
    Ok(Lv {
        name: name.to_owned(),
        id: lvm_meta::uuid::format_uuid(&ids.next_id()?),
        status: vec!["READ".into(), "WRITE".into(), "VISIBLE".into()],
        flags: Vec::new(),
        tags: Vec::new(),
        creation_time: Some(i64::try_from(w.time).unwrap_or(i64::MAX)),
        creation_host: Some(w.host.clone()),
        read_ahead: None,
        lock_args: None,
        allocation_policy: None,
        profile: None,
        major: None,
        minor: None,
        segments,
    })
}

#[cfg(test)]
mod tests {
    use super::lvremove;
    use crate::context::Context;
    use crate::lv::{lvcreate, LvcreateOpts};
    use crate::pv::PvcreateOpts;
    use crate::size::Amount;
    use crate::vg::vgcreate;
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
        vgcreate(
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
            lvcreate(
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

#[cfg(test)]
mod resize_tests {
    use super::*;
    use crate::context::Context;
    use crate::pv::PvcreateOpts;
    use crate::vg::vgcreate;
    use std::path::PathBuf;

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

    /// Writes `kib` KiB of 0x5a to the start of `target`.
    fn fill(devs: &[PathBuf], target: &str, kib: usize) {
        let sys = crate::scan(devs, false, &mut std::io::sink()).unwrap();
        let data = vec![0x5au8; kib << 10];
        let hooks = crate::context::WriteHooks::default();
        crate::data::write(
            &sys,
            target,
            0,
            &mut &data[..],
            &hooks,
            &mut std::io::sink(),
        )
        .unwrap();
    }

    fn cat(devs: &[PathBuf], target: &str) -> Result<Vec<u8>> {
        let sys = crate::scan(devs, false, &mut std::io::sink()).unwrap();
        let mut out = Vec::new();
        crate::data::cat(&sys, target, 0, None, false, &mut out)?;
        Ok(out)
    }

    #[test]
    fn lvreduce_keeps_the_chunks_a_snapshot_store_uses() {
        // lvreduce cut a COW below the chunks its store had allocated, and
        // the snapshot could not be loaded any more. A 4 MiB origin, a COW
        // of 3 MiB with 4 KiB chunks (256 exceptions per metadata area).
        let dir = tempfile::tempdir().unwrap();
        let devs = vg_with_origin(dir.path(), true);
        resize(&devs, "vg/s", true, 2).unwrap();
        let view = cat(&devs, "vg/s").unwrap();
        // 512 KiB: the header, one metadata chunk and 128 data chunks (520
        // KiB used) fit in 1 MiB, so the COW may lose 2 MiB.
        fill(&devs, "vg/o", 512);
        resize(&devs, "vg/s", false, 2).unwrap();
        assert_eq!(extents(&devs, "s"), 1);
        assert_eq!(cat(&devs, "vg/s").unwrap(), view, "the snapshot lost data");
        // Back to 3 MiB, then 2 MiB written: 512 data chunks, the header,
        // two full metadata areas and the next one's chunk make 516 chunks,
        // 2064 KiB of 3 MiB (lvm2's status percent 4128/6144 sectors).
        resize(&devs, "vg/s", true, 2).unwrap();
        fill(&devs, "vg/o", 2048);
        let before = seqno(&devs);
        let e = resize(&devs, "vg/s", false, 1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Cannot reduce snapshot vg/s to below 2.02 MiB (67.19% full, would lose exception data)."
        );
        assert_eq!(e.exit_code(), 5);
        assert_eq!(seqno(&devs), before, "nothing was written");
        assert_eq!(cat(&devs, "vg/s").unwrap(), view, "the snapshot lost data");
    }

    /// `lvcreate -s` of `amount` (with the default 4 KiB chunks) of a
    /// 39-extent origin `o` in a VG of 1 MiB extents with room to spare;
    /// returns what it printed and the COW's extents.
    fn snapshot_of_39(amount: Amount) -> (String, u64) {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("d.img");
        std::fs::File::create(&img)
            .and_then(|f| f.set_len(160 << 20))
            .unwrap();
        let devs = vec![img];
        let ctx = Context::deterministic();
        let scan = || crate::scan(&devs, false, &mut std::io::sink()).unwrap();
        let name = devs[0].display().to_string();
        let sys = scan();
        let line = format!("vgcreate -s 1m vg {name}");
        let mut sink = Vec::new();
        vgcreate(
            &sys,
            "vg",
            std::slice::from_ref(&name),
            Some(2048),
            &PvcreateOpts::default(),
            &ctx.writer(&line),
            &mut ids_for(&ctx, &sys, &line),
            &mut sink,
        )
        .unwrap();
        let lv = |o: LvcreateOpts, line: &str| -> Vec<u8> {
            let sys = scan();
            let mut ids = ids_for(&ctx, &sys, line);
            let mut out = Vec::new();
            lvcreate(
                &sys,
                "vg",
                &[],
                &o,
                &ctx.writer(line),
                &mut ids,
                &mut out,
                &mut std::io::sink(),
            )
            .unwrap();
            out
        };
        lv(
            LvcreateOpts {
                name: Some("o".into()),
                amount: Some(Amount::Extents(39)),
                ..LvcreateOpts::default()
            },
            "lvcreate -n o -l 39 vg",
        );
        let out = lv(
            LvcreateOpts {
                name: Some("s".into()),
                amount: Some(amount),
                origin: Some("o".into()),
                ..LvcreateOpts::default()
            },
            "lvcreate -s -n s vg/o",
        );
        (String::from_utf8(out).unwrap(), extents(&devs, "s"))
    }

    #[test]
    fn lvcreate_snapshot_percent_of_origin_adds_the_store_metadata() {
        // lvm2 2.03.16 (`lvcreate -v -s -l P%ORIGIN vg/x` of a 39-extent
        // origin, 1 MiB extents, 4 KiB chunks) said "Converted 50% of ORIGIN
        // (39) extents into 21", "1% ... into 2", and for 200% "into 79"
        // then the line below; -L 100m gave that line with 100.00 MiB.
        assert_eq!(
            snapshot_of_39(Amount::Percent(50, Pct::Origin)),
            ("  Logical volume \"s\" created.\n".into(), 21)
        );
        assert_eq!(snapshot_of_39(Amount::Percent(1, Pct::Origin)).1, 2);
        assert_eq!(
            snapshot_of_39(Amount::Percent(200, Pct::Origin)),
            (
                "  Reducing COW size 79.00 MiB down to maximum usable size 40.00 MiB.\n  \
                 Logical volume \"s\" created.\n"
                    .into(),
                40
            )
        );
        assert_eq!(
            snapshot_of_39(Amount::Size(100 * 2048)).0,
            "  Reducing COW size 100.00 MiB down to maximum usable size 40.00 MiB.\n  \
             Logical volume \"s\" created.\n"
        );
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
