//! A small API for Rust programs: a [`Session`] over image files, LV
//! handles with `Read + Write + Seek`, snapshot creation and merging with a
//! progress callback. Every call behaves like the `lvmsim` command of the
//! same name: it reads the images, acts as lvm2 and the kernel would, and
//! leaves the whole state on the images (nothing is kept beside them).

use crate::create::{self, Ids, LvcreateOpts};
use crate::write::{self, MergeProgress, Writer};
use anyhow::{anyhow, Result};
use cow_engine::blocks::Images;
use cow_engine::handle::LvHandle;
use lvm_meta::io::Image;
use lvm_meta::scan::System;
use std::path::{Path, PathBuf};

/// The images of one or more VGs, scanned as lvm2 scans devices.
pub struct Session {
    devs: Vec<(String, PathBuf)>,
    sys: System,
    writer: Writer,
}

impl Session {
    /// Scans `images`: each is a device name (as lvm2 would see it, and as
    /// the metadata names it) and the image file that holds it.
    pub fn open<P: AsRef<Path>>(images: &[(&str, P)]) -> Result<Session> {
        let devs: Vec<(String, PathBuf)> = images
            .iter()
            .map(|(n, p)| (n.to_string(), p.as_ref().to_path_buf()))
            .collect();
        let sys = scan(&devs)?;
        Ok(Session {
            devs,
            sys,
            writer: Writer::new("lvmsim api", now(), false),
        })
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

    /// A handle on LV `vg/lv` as `/dev/vg/lv` would be after activation:
    /// reads show a snapshot's view or a merging origin's data; writes copy
    /// old chunks into snapshots first (or fill a snapshot's COW). With
    /// `writable` false the images are opened read-only.
    pub fn lv(&self, vg: &str, lv: &str, writable: bool) -> Result<LvHandle<'_, std::fs::File>> {
        let inst = self
            .sys
            .vg(vg)
            .ok_or_else(|| anyhow!("Volume group \"{vg}\" not found"))?;
        let li = inst
            .vg
            .lv_index(lv)
            .ok_or_else(|| anyhow!("Failed to find logical volume \"{vg}/{lv}\""))?;
        let images = Images::open_vg(&self.sys, inst, writable)?;
        Ok(LvHandle::open(&inst.vg, images, li)?)
    }

    /// `lvcreate -s -n NAME -L SIZE -c CHUNK VG/ORIGIN`: a snapshot of
    /// `origin` with a COW of `cow_bytes` (rounded up to whole extents) and
    /// chunks of `chunk_bytes` (4 KiB to 512 KiB, a power of two).
    pub fn create_snapshot(
        &mut self,
        vg: &str,
        origin: &str,
        name: &str,
        cow_bytes: u64,
        chunk_bytes: u64,
    ) -> Result<()> {
        let o = LvcreateOpts {
            name: Some(name.to_owned()),
            size: Some(format!("{}b", cow_bytes.div_ceil(512) * 512)),
            origin: Some(origin.to_owned()),
            chunk: Some(chunk_bytes / 512),
            ..LvcreateOpts::default()
        };
        let line = format!(
            "lvcreate -s -n {name} -L {cow_bytes}b -c {}k {vg}/{origin}",
            chunk_bytes / 1024
        );
        let w = Writer {
            cmd_line: line.clone(),
            ..self.writer.clone()
        };
        let mut ids = Ids::new(false, &line);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        create::lvcreate(&self.sys, vg, &[], &o, &w, &mut ids, &mut out, &mut err)?;
        self.rescan()
    }

    /// `lvconvert --merge VG/SNAP` run to its end: `progress` is called
    /// after every merge run; then the snapshot is gone from the metadata.
    pub fn merge(
        &mut self,
        vg: &str,
        snap: &str,
        progress: &mut dyn FnMut(MergeProgress),
    ) -> Result<()> {
        let w = Writer {
            cmd_line: format!("lvconvert --merge {vg}/{snap}"),
            ..self.writer.clone()
        };
        let mut out = Vec::new();
        write::lvconvert_merge(
            &self.sys,
            &format!("{vg}/{snap}"),
            None,
            Some(progress),
            &w,
            &mut out,
        )?;
        self.rescan()
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

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
