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
//! - [`error`]: the typed error and its exit-code table.
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
pub mod data;
pub mod display;
pub mod dmsetup;
pub mod error;
pub mod fields;
pub mod history;
pub mod ids;
pub mod kernel;
pub mod lock;
pub mod lv;
pub mod names;
pub mod pv;
pub mod pvck;
pub mod recover;
pub mod report;
pub mod select;
pub mod size;
pub mod snapshot;
pub mod units;
pub mod vg;
pub mod write;
pub mod write_log;

use crate::error::{bail, Error, Result, ResultExt};
use lvm_meta::io::Image;
use lvm_meta::scan::System;
use std::io::Write;
use std::path::PathBuf;

/// Devices to scan: (name to report, path to read). Each of `given` is an
/// image file, a directory (its regular files, sorted), or `NAME=PATH`.
pub fn device_paths(given: &[PathBuf]) -> Result<Vec<(String, String)>> {
    if given.is_empty() {
        return Err(Error::Usage(
            "no devices: name image files with --dev PATH (repeatable) or set LVMSIM_DEVICES"
                .into(),
        ));
    }
    let mut out = Vec::new();
    for p in given {
        // NAME=PATH, unless the whole argument names an existing file.
        let text = p.display().to_string();
        if !p.exists() {
            if let Some((name, path)) = text.split_once('=') {
                let md =
                    std::fs::metadata(path).with_context(|| format!("{path}: cannot access"))?;
                if md.is_dir() {
                    bail!("{path}: NAME=PATH needs a file, not a directory");
                }
                out.push((name.to_owned(), path.to_owned()));
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
            out.extend(
                files
                    .into_iter()
                    .map(|f| (f.display().to_string(), f.display().to_string())),
            );
        } else {
            out.push((text.clone(), text));
        }
    }
    // One file under two spellings (`./d.img` and its absolute path, a
    // symlink) is one device, known by the first name it was given.
    let mut unique: Vec<(String, String)> = Vec::with_capacity(out.len());
    for (name, path) in out {
        let seen = unique.iter().any(|(_, p)| {
            *p == path || names::same_file(std::path::Path::new(p), std::path::Path::new(&path))
        });
        if !seen {
            unique.push((name, path));
        }
    }
    Ok(unique)
}

/// Scans the devices as lvm2 does, printing lvm2's warnings to `err`; with
/// `scan_all`, VGs whose label or metadata-area header is damaged are also
/// rebuilt from metadata text found anywhere on the images (every guess is
/// printed).
pub fn scan(devs: &[PathBuf], scan_all: bool, err: &mut dyn Write) -> Result<System> {
    let mut images = Vec::new();
    for (name, path) in device_paths(devs)? {
        let mut img = Image::open(&path)?;
        img.path = name;
        images.push(img);
    }
    let mut sys = System::scan(images)?;
    for p in &sys.problems {
        writeln!(err, "  WARNING: {}", p.error)?;
    }
    if scan_all {
        let refs: Vec<&Image> = sys.devices.iter().map(|d| &d.image).collect();
        let hist = lvm_meta::history::collect_scan_all(&refs);
        for g in lvm_meta::history::rebuild(&mut sys, &hist) {
            writeln!(err, "  {g}")?;
        }
        for g in lvm_meta::history::check_data_areas(&sys) {
            writeln!(err, "  {g}")?;
        }
    }
    Ok(sys)
}
