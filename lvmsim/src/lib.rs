//! lvmsim as a library: lvm2's semantics and commands on disk-image files,
//! called by the `lvmsim` binary, the fuzzers and Rust programs alike.
//!
//! - [`api`]: a [`api::Session`] over image files with typed calls
//!   (`lvs`, `lvcreate -s`, `lvconvert --merge`, LV handles with the
//!   kernel's snapshot semantics), typed outcomes and errors;
//! - the commands, one module per kind of object they change: [`pv`],
//!   [`vg`], [`lv`], [`snapshot`] (creation and merging), [`data`] (`cat`
//!   and `write` of LV bytes); the reading ones: [`report`]
//!   (`pvs`/`vgs`/`lvs`, with lvm2's field catalogue in [`fields`] and its
//!   `-S` selections in [`select`]), [`display`]
//!   (`pvdisplay`/`vgdisplay`/`lvdisplay`), [`dmsetup`], [`pvck`], [`backup`]
//!   (`vgcfgbackup`), [`history`] and [`recover`] (forensics);
//! - their common ground: [`size`] (lvm2's size arguments), [`names`]
//!   (VG, LV and device names on the command line, in all their forms), [`ids`]
//!   (UUIDs), [`write`](mod@write) (who writes, commits in lvm2's order), [`lock`]
//!   (flock on the images);
//! - [`context`]: host, time, identifiers and write hooks, given
//!   explicitly (the library reads no environment variable);
//! - [`error`]: the typed error and its exit-code table;
//! - for teaching and planning: [`cowdump`] (a snapshot store as the kernel
//!   reads it), [`map`] (SVG pictures of extents and COW chunks), [`plan`]
//!   (the smallest snapshot that survives a workload), [`explain`] (the
//!   kernel's steps during a write).
//!
//! ```no_run
//! use std::io::{Read, Seek, SeekFrom, Write};
//! use lvmsim::api::{Session, SnapshotSpec};
//! use lvmsim::context::Context;
//!
//! let mut s = Session::open(&[("/dev/sda", "disk.img")], Context::new())?;
//! s.lvcreate_snapshot(&SnapshotSpec::new("vg", "origin", "snap", 8 << 20))?;
//! {
//!     let mut origin = s.lv("vg", "origin", true)?;
//!     origin.seek(SeekFrom::Start(0))?;
//!     origin.write_all(b"new data")?; // the old chunk goes to the snapshot first
//! }
//! let mut old = Vec::new();
//! s.lv("vg", "snap", false)?.read_to_end(&mut old)?;
//! s.lvconvert_merge("vg", "snap", &mut |p| eprintln!("{:.1}%", p.percent()))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

pub mod active;
pub mod api;
pub mod backup;
pub mod context;
pub mod cowdump;
pub mod data;
pub mod display;
pub mod dmsetup;
pub mod error;
pub mod explain;
pub mod fields;
pub mod gen;
pub mod history;
pub mod ids;
pub mod kernel;
pub mod lock;
pub mod lv;
pub mod map;
pub mod mutate;
pub mod names;
pub mod plan;
pub mod plot;
pub mod pv;
pub mod pvck;
pub mod raid;
pub mod recover;
pub mod report;
pub mod rmeta;
mod seg_keys;
pub mod select;
pub mod size;
pub mod snapshot;
pub mod thin;
pub mod thin_lv;
pub mod thin_pool;
pub mod thin_recover;
pub mod units;
pub mod verify;
pub mod vg;
pub mod write;
pub mod write_log;
pub mod writecache;
// Integrity images under RAID images.
pub mod integrity;
// Cached LVs (dm-cache).
pub mod cache;
// VDO volumes and pools (reports only).
pub mod vdo;
// Forensic time fields in the local zone.
pub mod localtime;
// Historical LVs (lvs -H) and the chains through them.
pub mod lineage;

use crate::error::{bail, refused, Error, Result, ResultExt};
use lvm_meta::io::Image;
use lvm_meta::scan::System;
use std::io::Write;
use std::path::PathBuf;

/// Devices to scan: (name to report, path to read). Each of `given` is an
/// image file, a directory (its regular files, sorted), or `NAME=PATH`;
/// a `@OFFSET` after the file is left out here (see [`device_specs`]).
pub fn device_paths(given: &[PathBuf]) -> Result<Vec<(String, String)>> {
    Ok(device_specs(given)?
        .into_iter()
        .map(|s| (s.name, s.path))
        .collect())
}

/// `PATH@OFFSET` as (path, offset), when PATH is a file and OFFSET a
/// number of bytes (decimal, or hex after `0x`).
fn split_offset(text: &str) -> Option<(&str, u64)> {
    let (path, off) = text.rsplit_once('@')?;
    let off = match off.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok()?,
        None => off.parse().ok()?,
    };
    std::path::Path::new(path).is_file().then_some((path, off))
}

/// The devices `given` names, as [`device_paths`] reads them, with the
/// `@OFFSET` a device starts at and whether its name was given.
pub fn device_specs(given: &[PathBuf]) -> Result<Vec<lvm_meta::disk::DeviceSpec>> {
    use lvm_meta::disk::DeviceSpec;
    if given.is_empty() {
        return Err(Error::Usage(
            "no devices: name image files with --dev PATH (repeatable) or set LVMSIM_DEVICES"
                .into(),
        ));
    }
    let spec = |name: &str, path: &str, offset, named| DeviceSpec {
        name: name.to_owned(),
        path: path.to_owned(),
        offset,
        named,
    };
    let mut out = Vec::new();
    for p in given {
        // NAME=PATH, unless the whole argument names an existing file.
        let text = p.display().to_string();
        if !p.exists() {
            if let Some((path, off)) = split_offset(&text) {
                out.push(spec(&text, path, Some(off), false));
                continue;
            }
            if let Some((name, path)) = text.split_once('=') {
                if let Some((path, off)) = split_offset(path) {
                    out.push(spec(name, path, Some(off), true));
                    continue;
                }
                let md =
                    std::fs::metadata(path).with_context(|| format!("{path}: cannot access"))?;
                if md.is_dir() {
                    bail!("{path}: NAME=PATH needs a file, not a directory");
                }
                out.push(spec(name, path, None, true));
                continue;
            }
        }
        let md = std::fs::metadata(p).with_context(|| format!("{text}: cannot access"))?;
        if md.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("{}: cannot list", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| std::fs::metadata(f).map(|m| m.is_file()).unwrap_or(false))
                .collect();
            files.sort();
            out.extend(files.into_iter().map(|f| {
                let f = f.display().to_string();
                spec(&f, &f, None, false)
            }));
        } else {
            out.push(spec(&text, &text, None, false));
        }
    }
    // One file under two spellings (`./d.img` and its absolute path, a
    // symlink) is one device, known by the first name it was given; the
    // same file at two offsets is two.
    let mut unique: Vec<DeviceSpec> = Vec::with_capacity(out.len());
    for s in out {
        let seen = unique.iter().any(|u| {
            u.offset == s.offset
                && (u.path == s.path
                    || names::same_file(
                        std::path::Path::new(&u.path),
                        std::path::Path::new(&s.path),
                    ))
        });
        if !seen {
            unique.push(s);
        }
    }
    Ok(unique)
}

/// Opens the devices `given` names: bare images, the partitions of whole
/// disks, decoded containers. What was odd but usable (a partition cut at
/// the end of its disk) is printed to `err` as a warning.
pub fn open_devices(given: &[PathBuf], err: &mut dyn Write) -> Result<Vec<Image>> {
    let mut images = Vec::new();
    for spec in device_specs(given)? {
        let o = lvm_meta::disk::open(&spec)?;
        for n in &o.notes {
            writeln!(err, "  WARNING: {n}")?;
        }
        images.extend(o.images);
    }
    Ok(images)
}

/// The one device `arg` names for a command that takes an image path
/// (`pvck`): a bare image, a container holding one, `PATH@OFFSET`, or
/// `PATH:pN`, partition N of a whole disk. A whole disk with a partition
/// table is refused with the names of its partitions.
pub fn open_one_device(arg: &str) -> Result<Image> {
    use lvm_meta::disk::{open, DeviceSpec};
    let spec = |path: &str, offset| DeviceSpec {
        name: arg.to_owned(),
        path: path.to_owned(),
        offset,
        named: false,
    };
    if !std::path::Path::new(arg).exists() {
        if let Some((path, off)) = split_offset(arg) {
            return Ok(open(&spec(path, Some(off)))?.images.remove(0));
        }
        if let Some((path, n)) = arg.rsplit_once(":p") {
            if n.parse::<u32>().is_ok() && std::path::Path::new(path).is_file() {
                let o = open(&DeviceSpec {
                    name: path.to_owned(),
                    ..spec(path, None)
                })?;
                let names: Vec<String> = o.images.iter().map(|i| i.path.clone()).collect();
                return o.images.into_iter().find(|i| i.path == arg).ok_or_else(|| {
                    refused!(
                        "{arg}: {path} has no such partition (it has: {})",
                        names.join(" ")
                    )
                });
            }
        }
    }
    let o = open(&spec(arg, None))?;
    if let lvm_meta::disk::Layout::Partitioned(_) = o.layout {
        let names: Vec<String> = o.images.iter().map(|i| i.path.clone()).collect();
        bail!(
            "{arg}: a whole disk with a partition table: name one of its partitions ({})",
            names.join(" ")
        );
    }
    o.images
        .into_iter()
        .next()
        .ok_or_else(|| refused!("{arg}: no device"))
}

/// Refuses, before anything is opened for writing, devices that writes
/// cannot reach: containers (partitions of raw disks and PVs at an offset
/// are written in place, inside their bounds).
pub fn check_writable(given: &[PathBuf]) -> Result<()> {
    for img in open_devices(given, &mut std::io::sink())? {
        img.check_writable()?;
    }
    Ok(())
}

/// The merges activating VG `vg` would run, as `VG/SNAPSHOT into
/// VG/ORIGIN` (none if the VG is not there).
pub fn pending_merges(sys: &System, vg: &str) -> Vec<String> {
    let Some(inst) = sys.vg(vg) else {
        return Vec::new();
    };
    let v = &inst.vg;
    // A role with `cow_of` is the snapshot's COW LV: the snapshot's name.
    v.roles
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.cow_of.as_ref().filter(|c| c.merging).map(|c| (i, c)))
        .map(|(i, c)| format!("{vg}/{} into {vg}/{}", v.lvs[i].name, v.lvs[c.origin].name))
        .collect()
}

/// lvm2's warnings about the PVs of the VGs a command reads (all VGs, or
/// those named in `only`), in its order: each missing PV (`Couldn't find
/// device with uuid`, then `VG ... is missing PV`), then each image shorter
/// than the PV size its metadata records.
pub fn pv_warnings(sys: &System, only: Option<&[String]>) -> Vec<String> {
    let mut out = Vec::new();
    for inst in &sys.vgs {
        let vg = &inst.vg;
        if only.is_some_and(|o| !o.iter().any(|n| *n == vg.name)) {
            continue;
        }
        let missing: Vec<&lvm_meta::model::Pv> = vg
            .pvs
            .iter()
            .zip(&inst.pv_devices)
            .filter(|(_, d)| d.is_none())
            .map(|(p, _)| p)
            .collect();
        for p in &missing {
            out.push(format!("WARNING: Couldn't find device with uuid {}.", p.id));
        }
        for p in &missing {
            out.push(format!(
                "WARNING: VG {} is missing PV {} (last written to {}).",
                vg.name,
                p.id,
                p.device.as_deref().unwrap_or("[unknown]")
            ));
        }
        let mut resized = false;
        for (p, d) in vg.pvs.iter().zip(&inst.pv_devices) {
            let (Some(d), Some(size)) = (d, p.dev_size) else {
                continue;
            };
            let dev = &sys.devices[*d].image;
            let have = dev.size / 512;
            if have < size.0 {
                out.push(format!(
                    "WARNING: Device {} has size of {have} sectors which is smaller than corresponding PV size of {} sectors. Was device resized?",
                    dev.path, size.0
                ));
                resized = true;
            }
        }
        if resized {
            out.push(format!(
                "WARNING: One or more devices used as PVs in VG {} have changed sizes.",
                vg.name
            ));
        }
    }
    out
}

/// Bytes at the start of an unlabelled image looked at for metadata text
/// (lvm2's first metadata area starts at 4 KiB and is 1 MiB by default).
const DAMAGE_PROBE: u64 = 1 << 20;

/// The images whose label or metadata area looks damaged: a metadata area
/// the scan could not use (its header unreadable or failing its
/// checksum), or no label but metadata text (or a metadata-area header)
/// in the first MiB, where lvm2 puts its first area. Only read, never
/// guessed from: `--scan-all` does that.
pub fn looks_damaged(sys: &System) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for d in &sys.devices {
        let bad_mda = d.label.is_some() && d.mdas.iter().any(|m| m.header.is_none())
            || sys.problems.iter().any(|p| {
                p.error
                    .to_string()
                    .starts_with(&format!("{}: ", d.image.path))
            });
        let orphaned_text = d.label.is_none() && {
            let n = d.image.size.min(DAMAGE_PROBE);
            // OK to cast: at most DAMAGE_PROBE.
            d.image.read(0, n as usize).is_ok_and(|b| {
                let mda_magic = b.get(4100..4116) == Some(&lvm_meta::mda_header::FMTT_MAGIC[..]);
                mda_magic || !lvm_meta::metadata_area::scan_copies(&b, 0).is_empty()
            })
        };
        if bad_mda || orphaned_text {
            out.push(d.image.path.clone());
        }
    }
    out
}

/// Scans the devices as lvm2 does, printing lvm2's warnings to `err`; with
/// `scan_all`, VGs whose label or metadata-area header is damaged are also
/// rebuilt from metadata text found anywhere on the images (every guess is
/// printed).
pub fn scan(devs: &[PathBuf], scan_all: bool, err: &mut dyn Write) -> Result<System> {
    scan_with(devs, scan_all, false, err)
}

/// [`scan`], with a progress line on stderr during `scan_all`'s
/// whole-image scan if `progress` ([`context::Context::progress`]).
pub fn scan_with(
    devs: &[PathBuf],
    scan_all: bool,
    progress: bool,
    err: &mut dyn Write,
) -> Result<System> {
    let images = open_devices(devs, err)?;
    let mut sys = System::scan(images)?;
    for p in &sys.problems {
        writeln!(err, "  WARNING: {}", p.error)?;
    }
    if !scan_all {
        let damaged = looks_damaged(&sys);
        if !damaged.is_empty() {
            writeln!(
                err,
                "  {}: a label or metadata area looks damaged; --scan-all (before the command) looks for metadata anywhere on the images.",
                damaged.join(", ")
            )?;
        }
    }
    if scan_all {
        let refs: Vec<&Image> = sys.devices.iter().map(|d| &d.image).collect();
        let hist = crate::history::scan_whole(&refs, progress);
        for g in lvm_meta::history::rebuild(&mut sys, &hist) {
            writeln!(err, "  {g}")?;
        }
        for g in lvm_meta::history::check_data_areas(&sys) {
            writeln!(err, "  {g}")?;
        }
    }
    Ok(sys)
}
