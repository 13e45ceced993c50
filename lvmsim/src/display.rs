//! `pvdisplay`, `vgdisplay` and `lvdisplay`: lvm2's labelled, one line per
//! property views of PVs, VGs and LVs, with their `-m` (segment maps),
//! `-c` (colon-separated), `-s` (short) and `-v` forms; `-C` hands over to
//! the `pvs`/`vgs`/`lvs` reports of [`crate::report`].
//!
//! The images are never active here: every LV is `LV Status NOT available`
//! (no `# open` or `Block device` line), every snapshot `INACTIVE`; with
//! `--driverloaded n` ([`report::Options::driver_unknown`]) the output is
//! lvm2's with activation off, which has no `LV Status` line. Times are
//! printed as on a host running in UTC ([`lvm_meta::timefmt`]).
//!
//! Order of the objects, as lvm2 2.03.16 lists them: VGs in the reverse
//! order of the images they were found on first (lvm2 keeps the VGs it
//! scans in a list it adds to at the front), then PVs in no VG in image
//! order; PVs and LVs of a VG in their metadata order.

use crate::error::{Error, Result};
use crate::report::{self, Kind};
use crate::units::{display_size, Units};
use lvm_meta::model::{Area, Lv, SegmentKind, Vg};
use lvm_meta::scan::{System, VgInstance};
use std::io::Write;

/// Which display command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `pvdisplay`
    Pv,
    /// `vgdisplay`
    Vg,
    /// `lvdisplay`
    Lv,
}

impl Command {
    /// The lvm2 command's name.
    pub fn name(self) -> &'static str {
        match self {
            Command::Pv => "pvdisplay",
            Command::Vg => "vgdisplay",
            Command::Lv => "lvdisplay",
        }
    }
}

/// The options of a display command, as lvm2's command line gives them.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `-C`/`--columns`: report as `pvs`/`vgs`/`lvs` with [`Options::report`].
    pub columns: bool,
    /// `-c`/`--colon`
    pub colon: bool,
    /// `-m`/`--maps` (pvdisplay, lvdisplay)
    pub maps: bool,
    /// `-s`/`--short` (pvdisplay, vgdisplay)
    pub short: bool,
    /// `-A`/`--activevolumegroups` (vgdisplay): only VGs with active LVs,
    /// which on images are none.
    pub active_vgs: bool,
    /// `-v`: vgdisplay adds each VG's LVs and PVs; vgdisplay and lvdisplay
    /// say when there is no VG at all.
    pub verbose: bool,
    /// The report options: `--units` and the names (VG, VG/LV or PV
    /// paths) for every form, `-a` (lvdisplay: hidden LVs too), and
    /// everything else for `-C`.
    pub report: report::Options,
}

/// lvm2's bits of a VG's `status` (`lib/metadata/metadata-exported.h`),
/// as `vgdisplay -c` prints their sum.
const VG_STATUS_BITS: [(&str, u64); 6] = [
    ("EXPORTED", 0x2),
    ("RESIZEABLE", 0x4),
    ("READ", 0x100),
    ("WRITE", 0x200),
    ("CLUSTERED", 0x400),
    ("SHARED", 0x800),
];
/// A PV's bits as `pvdisplay -c` prints them.
const PV_ALLOCATABLE: u64 = 0x8;
const PV_EXPORTED: u64 = 0x2;
/// A PV of the VG whose device was not found (`MISSING_PV`).
const PV_MISSING: u64 = 0x80_0000;

/// What lvm2 calls a PV whose device it did not find.
const UNKNOWN_DEVICE: &str = "[unknown]";

/// Where lvm2 says the LVs' device nodes are.
const DEV_DIR: &str = "/dev/";

/// Runs `cmd`; returns `Ok(false)` when a named object was not found (its
/// message is on `err`; lvm2 exits with 5 after showing the others).
pub fn run(
    sys: &System,
    cmd: Command,
    opts: &Options,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<bool> {
    check_options(cmd, opts, err)?;
    if opts.columns {
        let kind = match cmd {
            Command::Pv => Kind::Pv,
            Command::Vg => Kind::Vg,
            Command::Lv => Kind::Lv,
        };
        report::report(sys, kind, &opts.report)?.write(out)?;
        return Ok(true);
    }
    match cmd {
        Command::Pv => pvdisplay(sys, opts, out, err),
        Command::Vg => vgdisplay(sys, opts, out, err),
        Command::Lv => lvdisplay(sys, opts, out, err),
    }
}

/// lvm2's refusals of options, before any device is read: an option the
/// command does not have (its parser's message, on `err`), then
/// combinations.
fn check_options(cmd: Command, opts: &Options, err: &mut dyn Write) -> Result<()> {
    let r = &opts.report;
    let foreign = match cmd {
        Command::Pv if opts.active_vgs => Some("invalid option -- 'A'"),
        Command::Pv | Command::Vg if r.segments => Some("unrecognized option '--segments'"),
        Command::Vg if opts.maps => Some("invalid option -- 'm'"),
        Command::Vg if r.all => Some("invalid option -- 'a'"),
        Command::Lv if opts.short => Some("invalid option -- 's'"),
        Command::Lv if opts.active_vgs => Some("invalid option -- 'A'"),
        _ => None,
    };
    if let Some(what) = foreign {
        writeln!(err, "{}: {what}", cmd.name())?;
        return Err(Error::Usage("Error during parsing of command line.".into()));
    }
    let bad = |msg: &str| Err(Error::Usage(msg.to_owned()));
    // The state after activation is simulated for the reports only.
    if r.active && !opts.columns {
        return Err(Error::Usage(format!(
            "{} --active: only the -C report simulates active LVs",
            cmd.name()
        )));
    }
    if opts.columns {
        let clash = opts.colon
            || match cmd {
                Command::Pv => opts.maps || opts.short,
                Command::Vg => opts.active_vgs || opts.short,
                Command::Lv => opts.maps,
            };
        return if clash {
            bad("Incompatible options selected")
        } else {
            Ok(())
        };
    }
    // (--segments and --reportformat are accepted, and mean nothing here.)
    let report_only = r.aligned
        || r.noheadings
        || !r.fields.is_empty()
        || r.separator.is_some()
        || r.sort.is_some();
    match cmd {
        Command::Pv if report_only || r.all => bad("Incompatible options selected"),
        Command::Vg | Command::Lv if report_only => bad("Incompatible options selected."),
        Command::Pv if opts.colon && opts.maps => bad("Option -c not allowed with option -m"),
        Command::Pv | Command::Vg if opts.colon && opts.short => {
            bad("Option -c is not allowed with option -s")
        }
        Command::Vg if opts.active_vgs && !r.names.is_empty() => {
            bad("Option -A is not allowed with volume group names")
        }
        Command::Lv if opts.colon && opts.maps => bad("Options -c and -m are incompatible."),
        _ => Ok(()),
    }
}

/// The VGs in lvm2's display order (see the module's notes).
fn vg_order(sys: &System) -> Vec<usize> {
    let first_dev = |v: &VgInstance| v.pv_devices.iter().flatten().min().copied();
    let mut order: Vec<usize> = (0..sys.vgs.len()).collect();
    // Later first; a VG with no image found comes last.
    order.sort_by_key(|&i| std::cmp::Reverse(first_dev(&sys.vgs[i]).map(|d| d + 1)));
    order
}

/// With `-v` and no VG on the images, vgdisplay and lvdisplay say so.
fn no_vgs(sys: &System, opts: &Options, err: &mut dyn Write) -> Result<()> {
    if opts.verbose && sys.vgs.is_empty() && opts.report.names.is_empty() {
        writeln!(err, "  No volume groups found.")?;
    }
    Ok(())
}

/// Prints lvm2's two lines for a VG named but not found.
fn vg_not_found(err: &mut dyn Write, name: &str) -> Result<()> {
    writeln!(err, "  Volume group \"{name}\" not found")?;
    writeln!(err, "  Cannot process volume group {name}")?;
    Ok(())
}

/// How sizes are printed: `--units` and whether `--nosuffix` was given.
#[derive(Debug, Clone, Copy)]
struct Sz {
    units: Units,
    suffix: bool,
}

impl Sz {
    fn of(opts: &Options) -> Sz {
        Sz {
            units: opts.report.units,
            suffix: !opts.report.nosuffix,
        }
    }
}

fn size(s: u64, u: Sz) -> String {
    display_size(s, u.units, u.suffix)
}

fn has(flags: &[String], f: &str) -> bool {
    flags.iter().any(|s| s == f)
}

// --------------------------------------------------------------------------
// pvdisplay

/// One PV as the display commands see it.
struct PvView<'a> {
    name: &'a str,
    /// VG and PV index, unless the PV is in no VG.
    member: Option<(&'a VgInstance, usize)>,
    /// Device size in sectors (lvm2 `pv->size`).
    dev_size: u64,
    uuid: String,
    /// A PV of the VG whose image was not given.
    missing: bool,
}

impl PvView<'_> {
    fn vg(&self) -> Option<(&Vg, &lvm_meta::model::Pv)> {
        self.member.map(|(v, p)| (&*v.vg, &v.vg.pvs[p]))
    }
    fn extent_size(&self) -> u64 {
        self.vg().map_or(0, |(v, _)| v.extent_size.0)
    }
    fn pe_count(&self) -> u64 {
        self.vg().map_or(0, |(_, p)| u64::from(p.pe_count))
    }
    fn alloc_count(&self) -> u64 {
        self.member.map_or(0, |(v, p)| v.vg.pv_used_extents(p))
    }
    fn status(&self) -> u64 {
        let Some((vg, p)) = self.vg() else { return 0 };
        let mut s = 0;
        if has(&p.status, "ALLOCATABLE") {
            s |= PV_ALLOCATABLE;
        }
        if has(&p.status, "EXPORTED") || has(&vg.status, "EXPORTED") {
            s |= PV_EXPORTED;
        }
        if self.missing || has(&p.status, "MISSING") || has(&p.flags, "MISSING") {
            s |= PV_MISSING;
        }
        s
    }
    fn exported(&self) -> bool {
        self.status() & PV_EXPORTED != 0
    }
}

/// Every PV with a label in display order: those of each VG, then those
/// in no VG.
fn pv_views(sys: &System) -> Vec<PvView<'_>> {
    let mut out = Vec::new();
    let dev_size = |d: usize| sys.devices[d].image.size / 512;
    for vi in vg_order(sys) {
        let v = &sys.vgs[vi];
        for (pi, p) in v.vg.pvs.iter().enumerate() {
            let d = v.pv_devices[pi];
            out.push(PvView {
                name: d.map_or(UNKNOWN_DEVICE, |d| sys.devices[d].image.path.as_str()),
                member: Some((v, pi)),
                dev_size: p.dev_size.map_or(d.map_or(0, dev_size), |s| s.0),
                uuid: p.id.clone(),
                missing: d.is_none(),
            });
        }
    }
    for (di, d) in sys.devices.iter().enumerate() {
        let Some(label) = &d.label else { continue };
        if sys.owner_of(di).is_some() {
            continue;
        }
        out.push(PvView {
            name: &d.image.path,
            member: None,
            dev_size: dev_size(di),
            uuid: label.pv_header.uuid_string(),
            missing: false,
        });
    }
    out
}

/// `pvdisplay [-c|-s|-m] [PV...]`.
fn pvdisplay(
    sys: &System,
    opts: &Options,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<bool> {
    let u = Sz::of(opts);
    let names = &opts.report.names;
    // lvm2 looks the devices up first, and says which held no PV after
    // showing the others.
    let mut ok = true;
    for n in names {
        if !sys.devices.iter().any(|d| d.image.path == *n) {
            writeln!(err, "  Cannot use {n}: device not found")?;
            ok = false;
        }
    }
    let no_pv: Vec<&String> = names
        .iter()
        .filter(|n| {
            sys.devices
                .iter()
                .any(|d| d.image.path == **n && d.label.is_none())
        })
        .collect();
    for pv in pv_views(sys) {
        if !names.is_empty() && !names.iter().any(|n| n == pv.name) {
            continue;
        }
        let orphan = pv.member.is_none();
        let ext = pv.extent_size();
        let free = pv.pe_count() - pv.alloc_count().min(pv.pe_count());
        if opts.short {
            let cap = if orphan {
                pv.dev_size
            } else {
                free.saturating_mul(ext)
            };
            writeln!(
                out,
                "  Device \"{}\" has a capacity of {}",
                pv.name,
                size(cap, u)
            )?;
            continue;
        }
        if pv.exported() {
            let vg = pv.vg().map_or("", |(v, _)| v.name.as_str());
            writeln!(
                out,
                "  Physical volume \"{}\" of volume group \"{vg}\" is exported",
                pv.name
            )?;
        }
        if orphan {
            writeln!(
                out,
                "  \"{}\" is a new physical volume of \"{}\"",
                pv.name,
                size(pv.dev_size, u)
            )?;
        }
        if opts.colon {
            pv_colons(&pv, out)?;
            continue;
        }
        pv_full(&pv, u, out)?;
        if opts.maps {
            pv_segments(&pv, out)?;
        }
    }
    for n in no_pv {
        writeln!(err, "  Failed to find physical volume \"{n}\".")?;
        ok = false;
    }
    Ok(ok)
}

fn pv_colons(pv: &PvView<'_>, out: &mut dyn Write) -> Result<()> {
    let pe = pv.pe_count();
    let alloc = pv.alloc_count();
    let status = pv.status();
    writeln!(
        out,
        "  {}:{}:{}:-1:{}:{}:-1:{}:{}:{}:{}:{}",
        pv.name,
        pv.vg().map_or("", |(v, _)| v.name.as_str()),
        pv.dev_size,
        status,
        status & PV_ALLOCATABLE,
        pv.extent_size() / 2,
        pe,
        pe.saturating_sub(alloc),
        alloc,
        pv.uuid
    )?;
    Ok(())
}

fn pv_full(pv: &PvView<'_>, u: Sz, out: &mut dyn Write) -> Result<()> {
    let ext = pv.extent_size();
    let pe = pv.pe_count();
    let alloc = pv.alloc_count();
    let pe_start = pv.vg().map_or(0, |(_, p)| p.pe_start.0);
    let new = if ext == 0 { "NEW " } else { "" };
    writeln!(out, "  --- {new}Physical volume ---")?;
    writeln!(out, "  PV Name               {}", pv.name)?;
    writeln!(
        out,
        "  VG Name               {}{}",
        pv.vg().map_or("", |(v, _)| v.name.as_str()),
        if pv.exported() { " (exported)" } else { "" }
    )?;
    let data = pe.saturating_mul(ext);
    let (total, unusable) = if pv.dev_size > data.saturating_add(pe_start) {
        (pv.dev_size, pv.dev_size - data)
    } else {
        let t = data.saturating_add(pe_start);
        (t, t - pv.dev_size)
    };
    if data > 0 {
        writeln!(
            out,
            "  PV Size               {} / not usable {}",
            size(total, u),
            size(unusable, u)
        )?;
    } else {
        writeln!(out, "  PV Size               {}", size(total, u))?;
    }
    let free = pe.saturating_sub(alloc);
    if pe > 0 && pv.status() & PV_ALLOCATABLE != 0 {
        let full = if free == 0 { "(but full)" } else { "" };
        writeln!(out, "  Allocatable           yes {full}")?;
    } else {
        writeln!(out, "  Allocatable           NO")?;
    }
    writeln!(out, "  PE Size               {}", size(ext, u))?;
    writeln!(out, "  Total PE              {pe}")?;
    writeln!(out, "  Free PE               {free}")?;
    writeln!(out, "  Allocated PE          {alloc}")?;
    writeln!(out, "  PV UUID               {}", pv.uuid)?;
    writeln!(out, "   ")?;
    Ok(())
}

/// One piece of a PV: its first PE, length, and the LV segment using it
/// (LV index, segment index), if any.
type PvSeg = (u64, u64, Option<(usize, usize)>);

/// The PV's extents in PE order, used and free (lvm2's PV segments).
fn pv_map(vg: &Vg, pv: usize) -> Vec<PvSeg> {
    let mut used: Vec<PvSeg> = Vec::new();
    for (li, l) in vg.lvs.iter().enumerate() {
        for (si, sg) in l.segments.iter().enumerate() {
            let SegmentKind::Striped { stripes, .. } = &sg.kind else {
                continue;
            };
            let per = u64::from(sg.extent_count) / (stripes.len() as u64).max(1);
            for a in stripes {
                if let Area::Pv { pv: p, pe } = a {
                    if *p == pv && per > 0 {
                        used.push((u64::from(*pe), per, Some((li, si))));
                    }
                }
            }
        }
    }
    used.sort_by_key(|s| s.0);
    let pe_count = vg.pvs.get(pv).map_or(0, |p| u64::from(p.pe_count));
    let mut out = Vec::new();
    let mut at = 0;
    for s in used {
        if s.0 > at {
            out.push((at, s.0 - at, None));
        }
        at = at.max(s.0.saturating_add(s.1));
        out.push(s);
    }
    if at < pe_count {
        out.push((at, pe_count - at, None));
    }
    out
}

fn pv_segments(pv: &PvView<'_>, out: &mut dyn Write) -> Result<()> {
    if let Some((v, p)) = pv.member {
        // lvm2 leaves out the heading when the PE size is 0 (a VG whose
        // extent_size is 0), and lists the segments all the same.
        if v.vg.extent_size.0 != 0 {
            writeln!(out, "  --- Physical Segments ---")?;
        }
        for (pe, len, user) in pv_map(&v.vg, p) {
            writeln!(
                out,
                "  Physical extent {pe} to {}:",
                (pe + len).saturating_sub(1)
            )?;
            match user {
                Some((li, si)) => {
                    let l = &v.vg.lvs[li];
                    let sg = &l.segments[si];
                    writeln!(out, "    Logical volume\t{DEV_DIR}{}/{}", v.vg.name, l.name)?;
                    let le = u64::from(sg.start_extent);
                    writeln!(
                        out,
                        "    Logical extents\t{le} to {}",
                        (le + u64::from(sg.extent_count)).saturating_sub(1)
                    )?;
                }
                None => writeln!(out, "    FREE")?,
            }
        }
    }
    writeln!(out, "   ")?;
    Ok(())
}

// --------------------------------------------------------------------------
// vgdisplay

/// A VG to show, in the order lvm2 processes them: a VG found, or a name
/// that is none (its error is printed when its turn comes).
enum Target<'a> {
    Found(&'a VgInstance),
    Missing(&'a str),
}

/// A name argument of vgdisplay or lvdisplay: a VG, or an LV (any of
/// lvm2's name forms, read by [`crate::names::lv_arg`]).
type Name = (String, Option<String>);

fn parse_names(names: &[String]) -> Vec<Name> {
    names
        .iter()
        .map(|n| match crate::names::lv_arg(n) {
            Ok(named) => (named.vg, named.lv),
            Err(_) => (n.clone(), None),
        })
        .collect()
}

/// The VGs of the names given (the VG part of `VG/LV`), in the order first
/// named; all VGs in display order without names. With `-v`, lvm2 first
/// says which names it did not find.
fn targets<'a>(
    sys: &'a System,
    names: &'a [Name],
    verbose: bool,
    err: &mut dyn Write,
) -> Result<Vec<Target<'a>>> {
    if names.is_empty() {
        return Ok(vg_order(sys)
            .into_iter()
            .map(|i| Target::Found(&sys.vgs[i]))
            .collect());
    }
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for (vg, _) in names {
        let vg = vg.as_str();
        if seen.contains(&vg) {
            continue;
        }
        seen.push(vg);
        match sys.vg(vg) {
            Some(v) => out.push(Target::Found(v)),
            None => {
                if verbose {
                    writeln!(
                        err,
                        "  VG name on command line not found in list of VGs: {vg}"
                    )?;
                }
                out.push(Target::Missing(vg));
            }
        }
    }
    Ok(out)
}

fn vg_status(v: &VgInstance) -> u64 {
    // (A missing PV does not show here: lvm2 keeps PARTIAL_VG elsewhere.)
    VG_STATUS_BITS
        .iter()
        .filter(|(f, _)| has(&v.vg.status, f))
        .map(|(_, b)| b)
        .sum()
}

/// LVs lvm2 counts in `Cur LV` (`vg_visible_lvs`).
fn visible_lvs(vg: &Vg) -> usize {
    (0..vg.lvs.len()).filter(|&i| vg.lv_visible(i)).count()
}

/// `vgdisplay [-c|-s|-v|-A] [VG...]`.
fn vgdisplay(
    sys: &System,
    opts: &Options,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<bool> {
    let u = Sz::of(opts);
    no_vgs(sys, opts, err)?;
    let mut ok = true;
    let names = parse_names(&opts.report.names);
    for t in targets(sys, &names, opts.verbose, err)? {
        let v = match t {
            Target::Found(v) => v,
            Target::Missing(name) => {
                vg_not_found(err, name)?;
                ok = false;
                continue;
            }
        };
        // -A: no LV on an image is active.
        if opts.active_vgs {
            continue;
        }
        let vg = &v.vg;
        let ext = vg.extent_size.0;
        let total = vg.total_extents();
        let free = vg.free_extents();
        let alloc = total - free.min(total);
        let pvs = vg.pvs.len();
        let active = v.pv_devices.iter().flatten().count();
        if opts.colon {
            let access = match (has(&vg.status, "READ"), has(&vg.status, "WRITE")) {
                (true, true) => "r/w",
                (true, false) => "r",
                (false, true) => "w",
                (false, false) => "",
            };
            writeln!(
                out,
                "  {}:{access}:{}:-1:{}:{}:0:-1:{}:{pvs}:{active}:{}:{}:{total}:{alloc}:{free}:{}",
                vg.name,
                vg_status(v),
                vg.max_lv,
                visible_lvs(vg),
                vg.max_pv,
                total.saturating_mul(ext / 2),
                ext / 2,
                vg.id
            )?;
            continue;
        }
        if opts.short {
            writeln!(
                out,
                "  \"{}\" {:<9} [{:<9} used / {} free]",
                vg.name,
                size(total.saturating_mul(ext), u),
                size(alloc.saturating_mul(ext), u),
                size(free.saturating_mul(ext), u)
            )?;
            continue;
        }
        vg_full(sys, v, u, out)?;
        if opts.verbose {
            for (li, _) in vg.lvs.iter().enumerate() {
                if vg.lv_visible(li) {
                    lv_full(v, li, u, &opts.report, out)?;
                }
            }
            writeln!(out, "  --- Physical volumes ---")?;
            for (pi, p) in vg.pvs.iter().enumerate() {
                let name =
                    v.pv_devices[pi].map_or(UNKNOWN_DEVICE, |d| sys.devices[d].image.path.as_str());
                writeln!(out, "  PV Name               {name}     ")?;
                writeln!(out, "  PV UUID               {}", p.id)?;
                let not = if has(&p.status, "ALLOCATABLE") {
                    ""
                } else {
                    "NOT "
                };
                writeln!(out, "  PV Status             {not}allocatable")?;
                let pe = u64::from(p.pe_count);
                writeln!(
                    out,
                    "  Total PE / Free PE    {pe} / {}",
                    pe.saturating_sub(vg.pv_used_extents(pi))
                )?;
                writeln!(out, "   ")?;
            }
        }
    }
    Ok(ok)
}

fn vg_full(sys: &System, v: &VgInstance, u: Sz, out: &mut dyn Write) -> Result<()> {
    let vg = &v.vg;
    let ext = vg.extent_size.0;
    let total = vg.total_extents();
    let free = vg.free_extents();
    let alloc = total - free.min(total);
    let mdas: usize = v
        .pv_devices
        .iter()
        .flatten()
        .map(|&d| sys.devices[d].mdas.len())
        .sum();
    let access = match (has(&vg.status, "READ"), has(&vg.status, "WRITE")) {
        (true, true) => "read/write",
        (true, false) => "read",
        (false, true) => "write",
        (false, false) => "error",
    };
    let exported = if has(&vg.status, "EXPORTED") {
        "exported/"
    } else {
        ""
    };
    let resizable = if has(&vg.status, "RESIZEABLE") {
        ""
    } else {
        "NOT "
    };
    writeln!(out, "  --- Volume group ---")?;
    writeln!(out, "  VG Name               {}", vg.name)?;
    writeln!(
        out,
        "  System ID             {}",
        vg.system_id.as_deref().unwrap_or("")
    )?;
    writeln!(out, "  Format                lvm2")?;
    writeln!(out, "  Metadata Areas        {mdas}")?;
    writeln!(out, "  Metadata Sequence No  {}", vg.seqno)?;
    writeln!(out, "  VG Access             {access}")?;
    writeln!(
        out,
        "  VG Status             {exported}{resizable}resizable"
    )?;
    if has(&vg.status, "CLUSTERED") {
        writeln!(out, "  Clustered             yes")?;
        let shared = if has(&vg.status, "SHARED") {
            "yes"
        } else {
            "no"
        };
        writeln!(out, "  Shared                {shared}")?;
    }
    writeln!(out, "  MAX LV                {}", vg.max_lv)?;
    writeln!(out, "  Cur LV                {}", visible_lvs(vg))?;
    writeln!(out, "  Open LV               0")?;
    writeln!(out, "  Max PV                {}", vg.max_pv)?;
    writeln!(out, "  Cur PV                {}", vg.pvs.len())?;
    writeln!(
        out,
        "  Act PV                {}",
        v.pv_devices.iter().flatten().count()
    )?;
    writeln!(
        out,
        "  VG Size               {}",
        size(total.saturating_mul(ext), u)
    )?;
    writeln!(out, "  PE Size               {}", size(ext, u))?;
    writeln!(out, "  Total PE              {total}")?;
    writeln!(
        out,
        "  Alloc PE / Size       {alloc} / {}",
        size(alloc.saturating_mul(ext), u)
    )?;
    writeln!(
        out,
        "  Free  PE / Size       {free} / {}",
        size(free.saturating_mul(ext), u)
    )?;
    writeln!(out, "  VG UUID               {}", vg.id)?;
    writeln!(out, "   ")?;
    Ok(())
}

// --------------------------------------------------------------------------
// lvdisplay

/// `lvdisplay [-c|-m|-a] [VG|VG/LV...]`.
fn lvdisplay(
    sys: &System,
    opts: &Options,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<bool> {
    let u = Sz::of(opts);
    let names = &parse_names(&opts.report.names);
    no_vgs(sys, opts, err)?;
    let mut ok = true;
    for t in targets(sys, names, opts.verbose, err)? {
        let v = match t {
            Target::Found(v) => v,
            Target::Missing(name) => {
                vg_not_found(err, name)?;
                ok = false;
                continue;
            }
        };
        let vg = &v.vg;
        // lvm2 shows no LV of an exported VG, and refuses one named.
        if has(&vg.status, "EXPORTED") {
            if !names.is_empty() {
                writeln!(err, "  Volume group {} is exported", vg.name)?;
                ok = false;
            }
            continue;
        }
        // A VG named alone shows all its LVs; otherwise only those named.
        let whole = names.is_empty() || names.iter().any(|(g, l)| *g == vg.name && l.is_none());
        let named_lvs: Vec<&str> = names
            .iter()
            .filter(|(g, _)| *g == vg.name)
            .filter_map(|(_, l)| l.as_deref())
            .collect();
        for (li, l) in vg.lvs.iter().enumerate() {
            if l.is_snapshot_glue() {
                continue;
            }
            if !whole && !named_lvs.contains(&l.name.as_str()) {
                continue;
            }
            if !opts.report.all && !vg.lv_visible(li) {
                continue;
            }
            if opts.colon {
                lv_colons(vg, l, out)?;
            } else {
                lv_full(v, li, u, &opts.report, out)?;
                if opts.maps {
                    lv_segments(sys, v, l, u, out)?;
                }
            }
        }
        // `-H`: then the historical LVs, in text order, named `-NAME`.
        let lineage = if opts.report.history && !vg.historical_lvs.is_empty() {
            crate::lineage::Lineage::of(vg)
        } else {
            crate::lineage::Lineage::default()
        };
        for h in &lineage.historical {
            let name = format!("-{}", h.name);
            if !whole && !named_lvs.contains(&name.as_str()) {
                continue;
            }
            if opts.colon {
                writeln!(
                    out,
                    "  {DEV_DIR}{vg}/{lv}:{vg}:0:0:-1:0:0:0:-1:0:0:-1:-1",
                    vg = vg.name,
                    lv = h.name
                )?;
            } else {
                historical_full(vg, h, &opts.report.zone, out)?;
            }
        }
        // Then the LVs named that the VG does not hold, in the order named.
        let mut missing: Vec<&str> = Vec::new();
        for lv in named_lvs {
            let held = vg
                .lv_index(lv)
                .is_some_and(|i| !vg.lvs[i].is_snapshot_glue())
                || lv
                    .strip_prefix('-')
                    .is_some_and(|n| lineage.find(n).is_some());
            if !held && !missing.contains(&lv) {
                writeln!(err, "  Failed to find logical volume \"{}/{lv}\"", vg.name)?;
                missing.push(lv);
                ok = false;
            }
        }
    }
    Ok(ok)
}

/// lvdisplay's form of a historical LV (`-H`).
fn historical_full(
    vg: &Vg,
    h: &crate::lineage::HistoricalLv,
    zone: &crate::localtime::Zone,
    out: &mut dyn Write,
) -> Result<()> {
    let time = |t: Option<i64>| t.map_or(String::new(), |t| zone.iso(t));
    writeln!(out, "  --- Historical Logical volume ---")?;
    writeln!(out, "  LV Name                -{}", h.name)?;
    writeln!(out, "  VG Name                {}", vg.name)?;
    writeln!(out, "  LV UUID                {}", h.id)?;
    writeln!(out, "  LV Creation time       {}", time(h.creation_time))?;
    writeln!(out, "  LV Removal time        {}", time(h.removal_time))?;
    writeln!(out, "   ")?;
    Ok(())
}

fn lv_size(vg: &Vg, l: &Lv) -> u64 {
    vg.lv_extents(l).saturating_mul(vg.extent_size.0)
}

/// `read_ahead` as lvm2 prints it in `-c` (auto is -1).
fn read_ahead(l: &Lv) -> i64 {
    l.read_ahead.unwrap_or(-1)
}

fn lv_colons(vg: &Vg, l: &Lv, out: &mut dyn Write) -> Result<()> {
    let access = u8::from(has(&l.status, "READ")) | (u8::from(has(&l.status, "WRITE")) << 1);
    let contiguous = if l.allocation_policy.as_deref() == Some("contiguous") {
        2
    } else {
        0
    };
    writeln!(
        out,
        "  {DEV_DIR}{vg}/{lv}:{vg}:{access}:0:-1:0:{}:{}:-1:{contiguous}:{}:-1:-1",
        lv_size(vg, l),
        vg.lv_extents(l),
        read_ahead(l),
        vg = vg.name,
        lv = l.name,
    )?;
    Ok(())
}

fn lv_full(
    v: &VgInstance,
    li: usize,
    u: Sz,
    report: &report::Options,
    out: &mut dyn Write,
) -> Result<()> {
    let driver_unknown = report.driver_unknown;
    let vg = &v.vg;
    let l = &vg.lvs[li];
    let role = vg.roles.get(li);
    writeln!(out, "  --- Logical volume ---")?;
    let pool = crate::thin::pool_seg(vg, li);
    let thin = crate::thin::thin_seg(vg, li);
    if vg.lv_visible(li) && pool.is_some() {
        // A thin pool has no device of its own.
        writeln!(out, "  LV Name                {}", l.name)?;
    } else if vg.lv_visible(li) {
        writeln!(
            out,
            "  LV Path                {DEV_DIR}{}/{}",
            vg.name, l.name
        )?;
        writeln!(out, "  LV Name                {}", l.name)?;
    } else {
        writeln!(out, "  Internal LV Name       {}", l.name)?;
    }
    writeln!(out, "  VG Name                {}", vg.name)?;
    writeln!(out, "  LV UUID                {}", l.id)?;
    let access = if has(&l.status, "WRITE") {
        "read/write"
    } else {
        "read only"
    };
    writeln!(out, "  LV Write Access        {access}")?;
    writeln!(
        out,
        "  LV Creation host, time {}, {}",
        l.creation_host.as_deref().unwrap_or(""),
        l.creation_time
            .filter(|&t| t != 0)
            .map_or(String::new(), |t| report.zone.iso(t))
    )?;
    let origin_of = role.map_or(&[][..], |r| &r.origin_of[..]);
    // lvm2 takes an LV that is an origin for an origin, never for a COW.
    let cow = role.filter(|_| origin_of.is_empty()).and_then(|r| r.cow_of);
    if !origin_of.is_empty() {
        writeln!(out, "  LV snapshot status     source of")?;
        // Each glue LV names its COW.
        for &g in origin_of {
            for sg in &vg.lvs[g].segments {
                if let SegmentKind::Snapshot { cow, .. } = sg.kind {
                    writeln!(
                        out,
                        "                         {} [INACTIVE]",
                        vg.lvs[cow].name
                    )?;
                }
            }
        }
    } else if let Some(c) = cow {
        writeln!(
            out,
            "  LV snapshot status     INACTIVE destination for {}",
            vg.lvs[c.origin].name
        )?;
    }
    if let Some(t) = &thin {
        writeln!(out, "  LV Pool name           {}", vg.lvs[t.pool].name)?;
        if let Some(o) = t.origin {
            writeln!(out, "  LV Thin origin name    {}", vg.lvs[o].name)?;
        } else if let Some(e) = &t.external_origin {
            writeln!(out, "  LV External origin name {e}")?;
        }
    } else if let Some(p) = &pool {
        writeln!(out, "  LV Pool metadata       {}", vg.lvs[p.metadata].name)?;
        writeln!(out, "  LV Pool data           {}", vg.lvs[p.data].name)?;
    } else if let Some(v) = crate::vdo::vdo_seg(vg, li) {
        writeln!(out, "  LV VDO Pool name       {}", vg.lvs[v.pool].name)?;
    } else if let Some(p) = crate::vdo::pool_seg(vg, li) {
        writeln!(out, "  LV VDO Pool data       {}", vg.lvs[p.data].name)?;
    }
    // With a device-mapper driver lvm2 says that the LV is not active;
    // without one (`--driverloaded n`, or activation off) it says nothing.
    if !driver_unknown {
        let partial = l.segments.iter().any(|sg| match &sg.kind {
            SegmentKind::Striped { stripes, .. } => stripes.iter().any(
                |a| matches!(a, Area::Pv { pv, .. } if v.pv_devices.get(*pv).copied().flatten().is_none()),
            ),
            _ => false,
        });
        let partial = if partial { " (partial)" } else { "" };
        writeln!(out, "  LV Status              NOT available{partial}")?;
    }
    let (shown_size, shown_le) = match cow {
        Some(c) => {
            let o = &vg.lvs[c.origin];
            (lv_size(vg, o), vg.lv_extents(o))
        }
        None => (lv_size(vg, l), vg.lv_extents(l)),
    };
    writeln!(out, "  LV Size                {}", size(shown_size, u))?;
    writeln!(out, "  Current LE             {shown_le}")?;
    if let Some(c) = cow {
        writeln!(out, "  COW-table size         {}", size(lv_size(vg, l), u))?;
        writeln!(out, "  COW-table LE           {}", vg.lv_extents(l))?;
        writeln!(out, "  Snapshot chunk size    {}", size(c.chunk_size.0, u))?;
    }
    writeln!(out, "  Segments               {}", l.segments.len())?;
    writeln!(
        out,
        "  Allocation             {}",
        l.allocation_policy.as_deref().unwrap_or("inherit")
    )?;
    match l.read_ahead {
        None => writeln!(out, "  Read ahead sectors     auto")?,
        Some(n) => writeln!(out, "  Read ahead sectors     {n}")?,
    }
    if has(&l.status, "FIXED_MINOR") {
        if let Some(m) = l.major.filter(|&m| m >= 0) {
            writeln!(out, "  Persistent major       {m}")?;
        }
        writeln!(out, "  Persistent minor       {}", l.minor.unwrap_or(-1))?;
    }
    writeln!(out, "   ")?;
    Ok(())
}

/// One stripe (area) of a segment, as lvm2's `display_stripe`.
fn stripe(
    sys: &System,
    v: &VgInstance,
    a: &Area,
    per: u64,
    pre: &str,
    out: &mut dyn Write,
) -> Result<()> {
    match a {
        Area::Pv { pv, pe } => match v.pv_devices.get(*pv).copied().flatten() {
            Some(d) => {
                writeln!(out, "  {pre}Physical volume\t{}", sys.devices[d].image.path)?;
                let pe = u64::from(*pe);
                writeln!(
                    out,
                    "  {pre}Physical extents\t{pe} to {}",
                    (pe + per).saturating_sub(1)
                )?;
            }
            None => {
                writeln!(out, "  {pre}Physical volume\t{UNKNOWN_DEVICE}")?;
                let pe = u64::from(*pe);
                writeln!(
                    out,
                    "  {pre}Physical extents\t{pe} to {}",
                    (pe + per).saturating_sub(1)
                )?;
            }
        },
        Area::Lv { lv, le } => {
            writeln!(out, "  {pre}Logical volume\t{}", v.vg.lvs[*lv].name)?;
            let le = u64::from(*le);
            writeln!(
                out,
                "  {pre}Logical extents\t{le} to {}",
                (le + per).saturating_sub(1)
            )?;
        }
    }
    Ok(())
}

fn lv_segments(sys: &System, v: &VgInstance, l: &Lv, u: Sz, out: &mut dyn Write) -> Result<()> {
    writeln!(out, "  --- Segments ---")?;
    // lvm2 counts a VDO volume's extents as virtual, like error and zero.
    let virt = l
        .segments
        .iter()
        .any(|s| matches!(s.kind, SegmentKind::Error | SegmentKind::Zero) || s.type_name == "vdo");
    for sg in &l.segments {
        let le = u64::from(sg.start_extent);
        writeln!(
            out,
            "  {} extents {le} to {}:",
            if virt { "Virtual" } else { "Logical" },
            (le + u64::from(sg.extent_count)).saturating_sub(1)
        )?;
        match &sg.kind {
            SegmentKind::Striped {
                stripes,
                stripe_size,
            } => {
                let per = u64::from(sg.extent_count) / (stripes.len() as u64).max(1);
                if let [one] = &stripes[..] {
                    writeln!(out, "    Type\t\tlinear")?;
                    stripe(sys, v, one, per, "  ", out)?;
                } else {
                    writeln!(out, "    Type\t\t{}", sg.type_name)?;
                    writeln!(out, "    Stripes\t\t{}", stripes.len())?;
                    writeln!(
                        out,
                        "    Stripe size\t\t{}",
                        size(stripe_size.map_or(0, |s| s.0), u)
                    )?;
                    for (i, a) in stripes.iter().enumerate() {
                        writeln!(out, "    Stripe {i}:")?;
                        stripe(sys, v, a, per, "    ", out)?;
                    }
                }
                writeln!(out, "   ")?;
            }
            _ => {
                writeln!(out, "    Type\t\t{}", sg.type_name)?;
                let li = v.vg.lv_index(&l.name);
                if let Some(d) = li.and_then(|i| crate::vdo::vdo_seg(&v.vg, i)) {
                    // The pool from the volume's offset, over the segment.
                    let area = Area::Lv {
                        lv: d.pool,
                        le: u32::try_from(d.offset).unwrap_or(u32::MAX),
                    };
                    stripe(sys, v, &area, u64::from(sg.extent_count), "    ", out)?;
                } else if let Some(p) = li.and_then(|i| crate::vdo::pool_seg(&v.vg, i)) {
                    vdo_pool_lines(&v.vg, &p, u, out)?;
                }
            }
        }
    }
    writeln!(out, "   ")?;
    Ok(())
}

/// A VDO pool's settings under its segment in `lvdisplay -m`, as lvm2
/// 2.03.16 prints them (the monitoring state is blank without dmeventd).
fn vdo_pool_lines(vg: &Vg, p: &crate::vdo::VdoPoolSeg, u: Sz, out: &mut dyn Write) -> Result<()> {
    let yes = |b: bool| if b { "yes" } else { "no" };
    let mib = |n: u64| size(n.saturating_mul(2048), u);
    // The volume's size plus the header at each end.
    let virt = p
        .virtual_extents
        .saturating_mul(vg.extent_size.0)
        .saturating_add(p.header_size.saturating_mul(2));
    let t = &p.threads;
    writeln!(out, "    Monitoring\t\t")?;
    writeln!(out, "    Virtual size\t{}", size(virt, u))?;
    writeln!(out, "    Header size\t\t{}", size(p.header_size, u))?;
    writeln!(out, "    Compression\t\t{}", yes(p.compression))?;
    writeln!(out, "    Deduplication\t{}", yes(p.deduplication))?;
    writeln!(out, "    Metadata hints\t{}", yes(p.metadata_hints))?;
    writeln!(
        out,
        "    Minimum IO size\t{}",
        size(p.minimum_io_size / 512, u)
    )?;
    writeln!(
        out,
        "    Block map cache sz\t{}",
        mib(p.block_map_cache_size_mb)
    )?;
    writeln!(out, "    Block map era length\t{}", p.block_map_era_length)?;
    writeln!(out, "    Sparse index\t{}", yes(p.sparse_index))?;
    writeln!(
        out,
        "    Index memory size\t{}",
        mib(p.index_memory_size_mb)
    )?;
    writeln!(out, "    Slab size\t\t{}", mib(p.slab_size_mb))?;
    writeln!(out, "    # Ack threads\t{}", t.ack)?;
    writeln!(out, "    # Bio threads\t{}", t.bio)?;
    writeln!(out, "    Bio rotation\t{}", t.bio_rotation)?;
    writeln!(out, "    # CPU threads\t{}", t.cpu)?;
    writeln!(out, "    # Hash zone threads\t{}", t.hash_zone)?;
    writeln!(out, "    # Logical threads\t{}", t.logical)?;
    writeln!(out, "    # Physical threads\t{}", t.physical)?;
    writeln!(out, "    Max discard\t{}", p.max_discard)?;
    writeln!(out, "    Write policy\t{}", p.write_policy_name())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A VG of one 10-extent PV: `a` on PEs 0-2, `b` on 5-6 (LEs 2-3 of a
    /// 2-segment LV whose first segment is on PEs 8-9).
    const VG: &str = r#"vg {
id = "TcZ5Vb-iTq1-vPcS-pqFl-2yRr-Yz1c-9mQxqa"
seqno = 1
format = "lvm2"
status = ["RESIZEABLE", "READ", "WRITE"]
flags = []
extent_size = 8192
max_lv = 0
max_pv = 0
metadata_copies = 0
physical_volumes {
pv0 {
id = "x3dF8k-QwPz-7LmN-b2Vc-Rt9Y-hG4s-Ue6WjK"
status = ["ALLOCATABLE"]
flags = []
dev_size = 90112
pe_start = 2048
pe_count = 10
}
}
logical_volumes {
a {
id = "Jn7cP1-aBcD-eFgH-iJkL-mNoP-qRsT-uVwXyz"
status = ["READ", "WRITE", "VISIBLE"]
flags = []
segment_count = 1
segment1 {
start_extent = 0
extent_count = 3
type = "striped"
stripe_count = 1
stripes = ["pv0", 0]
}
}
b {
id = "s9TQpA-3kLm-Nb2v-Cx8Z-Wq4e-Rt6y-Ui0oPa"
status = ["READ", "WRITE", "VISIBLE"]
flags = []
segment_count = 2
segment1 {
start_extent = 0
extent_count = 2
type = "striped"
stripe_count = 1
stripes = ["pv0", 8]
}
segment2 {
start_extent = 2
extent_count = 2
type = "striped"
stripe_count = 1
stripes = ["pv0", 5]
}
}
}
}
contents = "Text Format Volume Group"
version = 1
"#;

    fn vg() -> Vg {
        let t = lvm_meta::text::parse(VG.as_bytes()).unwrap();
        Vg::from_tree(&t).unwrap()
    }

    #[test]
    fn pv_map_lists_used_and_free_pieces_in_pe_order() {
        let m = pv_map(&vg(), 0);
        assert_eq!(
            m,
            vec![
                (0, 3, Some((0, 0))),
                (3, 2, None),
                (5, 2, Some((1, 1))),
                (7, 1, None),
                (8, 2, Some((1, 0))),
            ]
        );
    }

    fn refusal(cmd: Command, opts: &Options) -> (String, String) {
        let mut err = Vec::new();
        let e = check_options(cmd, opts, &mut err).unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{e:?}");
        (e.to_string(), String::from_utf8(err).unwrap())
    }

    #[test]
    fn option_refusals_are_lvm2s() {
        let mut o = Options {
            colon: true,
            maps: true,
            ..Options::default()
        };
        assert_eq!(
            refusal(Command::Lv, &o).0,
            "Options -c and -m are incompatible."
        );
        assert_eq!(
            refusal(Command::Pv, &o).0,
            "Option -c not allowed with option -m"
        );
        // vgdisplay has no -m: its parser refuses it first.
        assert_eq!(
            refusal(Command::Vg, &o),
            (
                "Error during parsing of command line.".to_owned(),
                "vgdisplay: invalid option -- 'm'\n".to_owned()
            )
        );
        o = Options::default();
        o.report.all = true;
        assert_eq!(refusal(Command::Pv, &o).0, "Incompatible options selected");
        assert!(check_options(Command::Lv, &o, &mut Vec::new()).is_ok());
        o.columns = true;
        assert!(check_options(Command::Pv, &o, &mut Vec::new()).is_ok());
        o = Options::default();
        o.report.active = true;
        assert!(refusal(Command::Lv, &o).0.contains("--active"));
    }
}
