//! lvmsim as a library: the commands of the `lvmsim` binary (lvm2's command
//! language on disk-image files) and [`api`], a small interface for Rust
//! programs that open a VG from image files, read and write its LVs through
//! the kernel's snapshot semantics, create snapshots and merge them.
//!
//! ```no_run
//! use std::io::{Read, Seek, SeekFrom, Write};
//! let mut s = lvmsim::api::Session::open(&[("/dev/sda", "disk.img")])?;
//! s.create_snapshot("vg", "origin", "snap", 8 << 20, 4096)?;
//! {
//!     let mut origin = s.lv("vg", "origin", true)?;
//!     origin.seek(SeekFrom::Start(0))?;
//!     origin.write_all(b"new data")?; // the old chunk goes to the snapshot first
//! }
//! let mut old = Vec::new();
//! s.lv("vg", "snap", false)?.read_to_end(&mut old)?;
//! s.merge("vg", "snap", &mut |p| eprintln!("{:.1}%", p.percent()))?;
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod active;
pub mod api;
pub mod backup;
pub mod create;
pub mod data;
pub mod dmsetup;
pub mod history;
pub mod pvck;
pub mod recover;
pub mod report;
pub mod units;
pub mod write;
pub mod write_log;

use anyhow::{bail, Context, Result};
use lvm_meta::io::Image;
use lvm_meta::scan::System;
use std::io::Write;
use std::path::PathBuf;

/// Devices to scan: (name to report, path to read).
pub fn device_paths(cli_devs: &[PathBuf]) -> Result<Vec<(String, String)>> {
    let mut given: Vec<PathBuf> = cli_devs.to_vec();
    if given.is_empty() {
        if let Ok(v) = std::env::var("LVMSIM_DEVICES") {
            given = v
                .split(':')
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
                .collect();
        }
    }
    if given.is_empty() {
        bail!("no devices: name image files with --dev PATH (repeatable) or set LVMSIM_DEVICES");
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
        let md = std::fs::metadata(&p).with_context(|| format!("{text}: cannot access"))?;
        if md.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&p)
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
    Ok(out)
}

/// Set from `--scan-all` before any command runs.
pub static SCAN_ALL: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn scan(cli_devs: &[PathBuf], err: &mut dyn Write) -> Result<System> {
    let mut images = Vec::new();
    for (name, path) in device_paths(cli_devs)? {
        let mut img = Image::open(&path)?;
        img.path = name;
        images.push(img);
    }
    let mut sys = System::scan(images)?;
    for p in &sys.problems {
        writeln!(err, "  WARNING: {}", p.error)?;
    }
    if SCAN_ALL.load(std::sync::atomic::Ordering::Relaxed) {
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
