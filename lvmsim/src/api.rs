//! The commands for Rust programs: a [`Session`] over image files whose
//! calls take typed options and return typed outcomes and errors. Every
//! call behaves like the lvm2 command of the same name: it reads the
//! images, acts as lvm2 and the kernel would, and leaves the whole state on
//! the images (nothing is kept beside them). LV handles read and write
//! with the kernel's snapshot semantics.
//!
//! ```no_run
//! use lvmsim::api::{MergeOutcome, Session, SnapshotSpec};
//! use lvmsim::context::Context;
//! use lvmsim::error::Error;
//!
//! let mut s = Session::open(&[("/dev/sda", "disk.img")], Context::new())?;
//! let snap = SnapshotSpec::new("vg", "origin", "snap", 8 << 20);
//! match s.lvcreate_snapshot(&snap) {
//!     Ok(done) => println!("COW of {} sectors", done.value.cow_sectors),
//!     Err(Error::Refused(msg)) => eprintln!("lvm2 would refuse: {msg}"),
//!     Err(e) => return Err(e),
//! }
//! let lvs = s.lvs(&lvmsim::report::Options::default())?;
//! for row in 0..lvs.len() {
//!     println!("{} {}", lvs.text(row, "lv_name").unwrap(), lvs.text(row, "lv_attr").unwrap());
//! }
//! let merged = s.lvconvert_merge("vg", "snap", &mut |p| eprintln!("{:.1}%", p.percent()))?;
//! assert!(matches!(merged.value, MergeOutcome::Finished { .. }));
//! # Ok::<(), lvmsim::error::Error>(())
//! ```

use crate::context::Context;
use crate::error::{Error, Result};
use crate::lv::{self, LvcreateOpts};
use crate::report::{self, Report};
use crate::size::Amount;
use crate::snapshot::{self, MergeProgress};
use cow_engine::blocks::Images;
use cow_engine::handle::LvHandle;
use lvm_meta::io::Image;
use lvm_meta::scan::System;
use std::path::{Path, PathBuf};

/// Where lvm2 prints a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output (lvm2's `log_print`).
    Out,
    /// Standard error (warnings).
    Err,
}

/// A line lvm2 prints while the command runs, as it prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Where lvm2 prints it.
    pub stream: Stream,
    /// The line, without its newline.
    pub text: String,
}

/// What a command did: its typed result and lvm2's lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome<T> {
    /// What changed.
    pub value: T,
    /// What lvm2 would have printed, in order within each stream.
    pub notices: Vec<Notice>,
}

fn notices(out: &[u8], err: &[u8]) -> Vec<Notice> {
    let lines = |b: &[u8], stream| {
        String::from_utf8_lossy(b)
            .lines()
            .map(|l| Notice {
                stream,
                text: l.to_owned(),
            })
            .collect::<Vec<_>>()
    };
    let mut v = lines(out, Stream::Out);
    v.extend(lines(err, Stream::Err));
    v
}

/// An old-style snapshot to create (`lvcreate -s -n NAME -L SIZE -c CHUNK
/// VG/ORIGIN`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotSpec {
    /// The VG of the origin.
    pub vg: String,
    /// The origin LV.
    pub origin: String,
    /// The snapshot's name.
    pub name: String,
    /// The COW's size in bytes (rounded up to whole extents, as lvm2 does).
    pub cow_bytes: u64,
    /// The chunk size in bytes (4 KiB to 512 KiB, a power of two), or
    /// lvm2's default (4 KiB).
    pub chunk_bytes: Option<u64>,
}

impl SnapshotSpec {
    /// A snapshot `name` of `vg/origin` with `cow_bytes` of COW and lvm2's
    /// default chunk size.
    pub fn new(vg: &str, origin: &str, name: &str, cow_bytes: u64) -> SnapshotSpec {
        SnapshotSpec {
            vg: vg.to_owned(),
            origin: origin.to_owned(),
            name: name.to_owned(),
            cow_bytes,
            chunk_bytes: None,
        }
    }
}

/// A snapshot as created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotCreated {
    /// The snapshot's name.
    pub name: String,
    /// The COW's size in sectors, as allocated (whole extents, capped at
    /// what the origin can use).
    pub cow_sectors: u64,
    /// The chunk size in sectors.
    pub chunk_sectors: u64,
}

/// How far `lvconvert --merge` got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeOutcome {
    /// The merge ran to its end: the snapshot is gone and the origin holds
    /// its data.
    Finished {
        /// The origin.
        origin: String,
    },
    /// The snapshot is marked as merging; the merge runs at the origin's
    /// next activation (lvm2 with an inactive or open origin), or resumes
    /// there after an interruption.
    Pending {
        /// The origin.
        origin: String,
    },
}

/// The images of one or more VGs, scanned as lvm2 scans devices, and the
/// surroundings commands run in.
pub struct Session {
    devs: Vec<(String, PathBuf)>,
    sys: System,
    ctx: Context,
}

impl Session {
    /// Scans `images`: each is a device name (as lvm2 would see it, and as
    /// the metadata names it) and the image file that holds it.
    pub fn open<P: AsRef<Path>>(images: &[(&str, P)], ctx: Context) -> Result<Session> {
        let devs: Vec<(String, PathBuf)> = images
            .iter()
            .map(|(n, p)| (n.to_string(), p.as_ref().to_path_buf()))
            .collect();
        let sys = scan(&devs)?;
        Ok(Session { devs, sys, ctx })
    }

    /// The scanned devices and VGs.
    pub fn system(&self) -> &System {
        &self.sys
    }

    /// Reads the images again (after changes made outside this session).
    pub fn rescan(&mut self) -> Result<()> {
        self.sys = scan(&self.devs)?;
        Ok(())
    }

    /// `lvs` with `opts` (fields, sort, units, `-a`, `--active`...).
    pub fn lvs(&self, opts: &report::Options) -> Result<Report> {
        report::report(&self.sys, report::Kind::Lv, opts)
    }

    /// `vgs` with `opts`.
    pub fn vgs(&self, opts: &report::Options) -> Result<Report> {
        report::report(&self.sys, report::Kind::Vg, opts)
    }

    /// `pvs` with `opts`.
    pub fn pvs(&self, opts: &report::Options) -> Result<Report> {
        report::report(&self.sys, report::Kind::Pv, opts)
    }

    /// `pvdisplay`, `vgdisplay` or `lvdisplay` with `opts`: lvm2's text on
    /// `out`, its messages on `err`; false if a named object was not found.
    pub fn display(
        &self,
        cmd: crate::display::Command,
        opts: &crate::display::Options,
        out: &mut dyn std::io::Write,
        err: &mut dyn std::io::Write,
    ) -> Result<bool> {
        crate::display::run(&self.sys, cmd, opts, out, err)
    }

    /// A handle on LV `vg/lv` as `/dev/vg/lv` would be after activation:
    /// reads show a snapshot's view or a merging origin's data; writes copy
    /// old chunks into snapshots first (or fill a snapshot's COW). With
    /// `writable` false the images are opened read-only.
    pub fn lv(&self, vg: &str, lv: &str, writable: bool) -> Result<LvHandle<'_, std::fs::File>> {
        let inst = self.sys.vg_or_err(vg)?;
        let li = inst.vg.lv_index_or_err(lv)?;
        // The handle reopens the image files and addresses them from byte
        // 0: a PV inside a partition or a container is not reachable so.
        for d in inst.pv_devices.iter().flatten() {
            let img = &self.sys.devices[*d].image;
            if img.placement != lvm_meta::io::Placement::Whole {
                return Err(crate::error::Error::Refused(format!(
                    "{}: a PV inside a partition or container of {}: LV handles need bare PV images (read it with `cat`)",
                    img.path, img.source
                )));
            }
        }
        let images = Images::open_vg(&self.sys, inst, writable)?;
        Ok(LvHandle::open(&inst.vg, images, li)?)
    }

    /// `lvcreate -s`: a snapshot as [`SnapshotSpec`] says, with lvm2's
    /// rules (sizes rounded to extents and capped, names checked) and the
    /// kernel's store initialisation.
    pub fn lvcreate_snapshot(&mut self, spec: &SnapshotSpec) -> Result<Outcome<SnapshotCreated>> {
        let chunk = spec.chunk_bytes.map(|c| c / 512);
        let o = LvcreateOpts {
            name: Some(spec.name.clone()),
            amount: Some(Amount::Size(spec.cow_bytes.div_ceil(512))),
            origin: Some(spec.origin.clone()),
            chunk,
            ..LvcreateOpts::default()
        };
        let line = format!(
            "lvcreate -s -n {} -L {}b{} {}/{}",
            spec.name,
            spec.cow_bytes.div_ceil(512) * 512,
            chunk.map(|c| format!(" -c {}k", c / 2)).unwrap_or_default(),
            spec.vg,
            spec.origin
        );
        let w = self.ctx.writer(&line);
        let mut ids = self.ctx.ids(&line);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        lv::lvcreate(
            &self.sys,
            &spec.vg,
            &[],
            &o,
            &w,
            &mut ids,
            &mut out,
            &mut err,
        )?;
        self.rescan()?;
        let vg = self.sys.vg_or_err(&spec.vg)?;
        let li = vg
            .vg
            .lv_index(&spec.name)
            .ok_or_else(|| Error::Refused(format!("snapshot {} was not created", spec.name)))?;
        let c = vg.vg.roles[li]
            .cow_of
            .ok_or_else(|| Error::Refused(format!("{} is not a snapshot", spec.name)))?;
        Ok(Outcome {
            value: SnapshotCreated {
                name: spec.name.clone(),
                cow_sectors: vg.vg.lv_extents(&vg.vg.lvs[li]) * vg.vg.extent_size.0,
                chunk_sectors: c.chunk_size.0,
            },
            notices: notices(&out, &err),
        })
    }

    /// `lvconvert --merge VG/SNAP` run to its end (as lvm2 with an active
    /// origin): `progress` is called after every merge run; then the
    /// snapshot is gone from the metadata.
    pub fn lvconvert_merge(
        &mut self,
        vg: &str,
        snap: &str,
        progress: &mut dyn FnMut(MergeProgress),
    ) -> Result<Outcome<MergeOutcome>> {
        let origin = self
            .sys
            .vg(vg)
            .and_then(|v| {
                let c = v.vg.roles.get(v.vg.lv_index(snap)?)?.cow_of?;
                Some(v.vg.lvs[c.origin].name.clone())
            })
            .unwrap_or_default();
        let w = self.ctx.writer(&format!("lvconvert --merge {vg}/{snap}"));
        let mut out = Vec::new();
        snapshot::lvconvert_merge(
            &self.sys,
            &format!("{vg}/{snap}"),
            snapshot::MergeStart::Now { stop_after: None },
            Some(progress),
            &w,
            &mut out,
        )?;
        self.rescan()?;
        let still = self
            .sys
            .vg(vg)
            .is_some_and(|v| v.vg.lv_index(snap).is_some());
        Ok(Outcome {
            value: if still {
                MergeOutcome::Pending { origin }
            } else {
                MergeOutcome::Finished { origin }
            },
            notices: notices(&out, &[]),
        })
    }
}

fn scan(devs: &[(String, PathBuf)]) -> Result<System> {
    let mut images = Vec::new();
    for (name, path) in devs {
        let mut img = Image::open(&path.display().to_string())?;
        img.path = name.clone();
        images.push(img);
    }
    Ok(System::scan(images)?)
}
