//! The kernel's device table: every device-mapper device lvm2 loads for
//! the active LVs ([`crate::dmsetup::devices`] decides which, with their
//! names and the devices each one opens), how each one's I/O is served,
//! and its open count.
//!
//! A top-level device (`VG-LV`) is an LV opened through
//! [`cow_engine::handle::LvHandle`], the home of the kernel's snapshot
//! semantics that `lvmsim write` uses too: origin writes copy chunks into
//! every valid snapshot first, snapshot writes fill their COW, a full COW
//! invalidates the snapshot and every later I/O to it fails with EIO. The
//! hidden layers lvm2 stacks under a snapshot or an origin (`VG-LV-real`,
//! `VG-SNAP-cow`) are the LV's own segments, read and written without any
//! copy-on-write, as the kernel's `linear` targets do.
//!
//! Every change reaches the images before the request is answered; a
//! handle keeps the exception tables of its origin's stores in memory, so
//! a write through one device drops the handles of the other devices of
//! the same VG, which load the stores again from the images on their next
//! request.

use crate::error::{Result, ResultExt};
use cow_engine::blocks::Images;
use cow_engine::engine::Invalidation;
use cow_engine::handle::LvHandle;
use lvm_meta::scan::System;
use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};

/// Which of an LV's device-mapper devices a device is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    /// `VG-LV`: the LV as users open it (a snapshot's view, an origin with
    /// copy-on-write, a plain LV).
    Top,
    /// `VG-LV-real`: an origin's own segments.
    Real,
    /// `VG-SNAP-cow`: a snapshot's exception store.
    Cow,
}

/// One loaded device.
pub(crate) struct Dev {
    /// The device-mapper name (`vg-lv`, `vg-lv-real`).
    pub name: String,
    /// Index into [`System::vgs`].
    pub vg: usize,
    /// Index of the LV in its VG.
    pub lv: usize,
    /// Which layer.
    pub layer: Layer,
    /// Size in bytes.
    pub size: u64,
    /// `VG/LV` when the device is the one lvm2 links as `/dev/VG/LV`.
    pub link: Option<(String, String)>,
    /// How many other devices of the table open this one.
    pub holders: u32,
    /// Open handles of the device's file.
    pub opens: u32,
    /// Events raised (a snapshot invalidated while loaded).
    pub events: u32,
    /// The activated LV (top devices), dropped when another device of
    /// the VG writes.
    handle: Option<LvHandle<'static, File>>,
}

/// The loaded devices over the scanned images.
pub(crate) struct Table {
    sys: &'static System,
    /// The devices, sorted by name.
    pub devs: Vec<Dev>,
    /// Per VG (index into [`System::vgs`]): its images opened read-write,
    /// for the hidden layers and for flushes; `None` for a VG not loaded.
    images: Vec<Option<Images<File>>>,
    /// Invalidations already logged: (VG, COW LV).
    told: Vec<(usize, usize)>,
    /// Where the kernel's log lines go.
    log: Box<dyn Write + Send>,
    /// With `kernel start --explain`: the engine's events, logged after
    /// each write request as `lvmsim write --explain` prints them.
    explain: Option<cow_engine::engine::EventLog>,
}

/// `EIO`, `ENOSPC` as the handle reports them.
const EIO: i32 = 5;
const ENOSPC: i32 = 28;

/// The errno a device's I/O error stands for: the system's own, ENOSPC
/// for a write past the end, EIO for anything else (an invalid snapshot,
/// a store the engine cannot use).
pub(crate) fn errno_of(e: &io::Error) -> i32 {
    match e.raw_os_error() {
        Some(n) => n,
        None if e.kind() == io::ErrorKind::StorageFull => ENOSPC,
        None => EIO,
    }
}

impl Table {
    /// Loads the devices `vgchange -ay` creates for every complete VG of
    /// `sys` (a VG with a missing PV is not activated, as lvm2 refuses
    /// it without `--activationmode partial`), activating every snapshot
    /// store as the table load does (a never-used store gets its header).
    pub fn load(
        sys: &'static System,
        mut log: Box<dyn Write + Send>,
        explain: bool,
    ) -> Result<Table> {
        let explain = explain.then(crate::explain::log);
        let list = crate::dmsetup::devices(sys, &crate::dmsetup::DmOpts::default())?;
        let mut images: Vec<Option<Images<File>>> = Vec::new();
        for inst in &sys.vgs {
            if inst.partial() {
                writeln!(log, "VG {}: PVs are missing; not activated", inst.vg.name)?;
                images.push(None);
            } else {
                images.push(Some(Images::open_vg(sys, inst, true)?));
            }
        }
        let mut devs = Vec::new();
        for d in &list {
            let parts = crate::names::split_dm_name(&d.name);
            let Some(vgi) = sys.vgs.iter().position(|v| v.vg.name == parts.vg) else {
                continue;
            };
            if images[vgi].is_none() {
                continue;
            }
            let vg = &sys.vgs[vgi].vg;
            let lv = vg.lv_index_or_err(&parts.lv)?;
            let layer = match parts.layer.as_str() {
                "" => Layer::Top,
                "real" => Layer::Real,
                "cow" => Layer::Cow,
                other => {
                    return Err(crate::error::Error::Refused(format!(
                        "{}: layer {other} is not simulated",
                        d.name
                    )))
                }
            };
            let (size, handle) = match layer {
                Layer::Top => {
                    let mut h = LvHandle::open(vg, Images::open_vg(sys, &sys.vgs[vgi], true)?, lv)
                        .map_err(crate::error::Error::from)
                        .with_context(|| format!("activating {}", d.name))?;
                    if let Some(e) = &explain {
                        h.set_event_log(e);
                    }
                    (h.size(), Some(h))
                }
                Layer::Real | Layer::Cow => (
                    vg.lv_extents(&vg.lvs[lv]).saturating_mul(vg.extent_bytes()),
                    None,
                ),
            };
            let link = (layer == Layer::Top && vg.lv_visible(lv))
                .then(|| (vg.name.clone(), vg.lvs[lv].name.clone()));
            devs.push(Dev {
                name: d.name.clone(),
                vg: vgi,
                lv,
                layer,
                size,
                link,
                holders: d.open,
                opens: 0,
                events: d.event,
                handle,
            });
        }
        let mut t = Table {
            sys,
            devs,
            images,
            told: Vec::new(),
            log,
            explain,
        };
        // Stores found invalid at load were told by the kernel that
        // invalidated them, not by this one.
        for i in 0..t.devs.len() {
            if let Some(h) = &t.devs[i].handle {
                for (cow, _) in h.invalidations() {
                    t.told.push((t.devs[i].vg, cow));
                }
            }
        }
        Ok(t)
    }

    /// The scanned images.
    pub fn system(&self) -> &'static System {
        self.sys
    }

    /// The top device's handle, activated again if a write elsewhere in
    /// its VG dropped it.
    fn handle(&mut self, d: usize) -> io::Result<&mut LvHandle<'static, File>> {
        let dev = &mut self.devs[d];
        if dev.handle.is_none() {
            let inst = &self.sys.vgs[dev.vg];
            let images = Images::open_vg(self.sys, inst, true).map_err(|e| e.into_io())?;
            let mut h = LvHandle::open(&inst.vg, images, dev.lv).map_err(|e| e.into_io())?;
            if let Some(e) = &self.explain {
                h.set_event_log(e);
            }
            dev.handle = Some(h);
        }
        // OK to unwrap: set just above when it was missing.
        Ok(dev.handle.as_mut().unwrap())
    }

    fn images(&mut self, vg: usize) -> io::Result<&mut Images<File>> {
        self.images[vg]
            .as_mut()
            .ok_or_else(|| io::Error::from_raw_os_error(EIO))
    }

    /// Reads up to `len` bytes of device `d` at `offset` (fewer at the
    /// end, none past it).
    pub fn read(&mut self, d: usize, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let size = self.devs[d].size;
        let n = usize::try_from(size.saturating_sub(offset))
            .unwrap_or(usize::MAX)
            .min(len);
        let mut buf = vec![0u8; n];
        if n == 0 {
            return Ok(buf);
        }
        let (vgi, lv) = (self.devs[d].vg, self.devs[d].lv);
        match self.devs[d].layer {
            Layer::Top => self.handle(d)?.read_at(offset, &mut buf)?,
            Layer::Real | Layer::Cow => {
                let vg = &self.sys.vgs[vgi].vg;
                self.images(vgi)?
                    .read(vg, lv, offset, &mut buf)
                    .map_err(|e| e.into_io())?;
            }
        }
        Ok(buf)
    }

    /// Writes `data` to device `d` at `offset`: the part before the end
    /// (a write at or past the end fails with ENOSPC). Returns the bytes
    /// written.
    pub fn write(&mut self, d: usize, offset: u64, data: &[u8]) -> io::Result<usize> {
        let (vgi, lv) = (self.devs[d].vg, self.devs[d].lv);
        // The other devices of the VG see the change on their next request.
        for (i, other) in self.devs.iter_mut().enumerate() {
            if i != d && other.vg == vgi {
                other.handle = None;
            }
        }
        let result = match self.devs[d].layer {
            Layer::Top => {
                let h = self.handle(d)?;
                h.seek(SeekFrom::Start(offset))?;
                h.write(data)
            }
            Layer::Real | Layer::Cow => {
                let size = self.devs[d].size;
                if data.is_empty() {
                    return Ok(0);
                }
                if offset >= size {
                    return Err(io::Error::from_raw_os_error(ENOSPC));
                }
                let n = usize::try_from(size - offset)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                let vg = &self.sys.vgs[vgi].vg;
                self.images(vgi)?
                    .write(vg, lv, offset, &data[..n])
                    .map_err(|e| e.into_io())?;
                Ok(n)
            }
        };
        self.note_invalidations(d);
        self.note_explained(d, offset, data.len());
        result
    }

    /// With `--explain`: logs what the kernel did for the write request
    /// just served, one line per step, as `lvmsim write --explain` prints
    /// them, after the request (`vg-origin: write 8192+4096:`).
    fn note_explained(&mut self, d: usize, offset: u64, len: usize) {
        let Some(e) = &self.explain else { return };
        let events = crate::explain::take(e);
        if events.is_empty() {
            return;
        }
        let vg = &self.sys.vgs[self.devs[d].vg].vg;
        let _ = writeln!(self.log, "{}: write {offset}+{len}:", self.devs[d].name);
        for l in crate::explain::lines(vg, &events) {
            let _ = writeln!(self.log, "  {l}");
        }
    }

    /// Logs the snapshots device `d`'s last write invalidated, once each,
    /// and raises an event on their devices, as the kernel does.
    fn note_invalidations(&mut self, d: usize) {
        let vgi = self.devs[d].vg;
        let found: Vec<(usize, Invalidation)> = self.devs[d]
            .handle
            .as_ref()
            .map(|h| h.invalidations())
            .unwrap_or_default();
        for (cow, why) in found {
            if self.told.contains(&(vgi, cow)) {
                continue;
            }
            self.told.push((vgi, cow));
            let _ = writeln!(self.log, "{}", why.kernel_message());
            if let Some(s) = self
                .devs
                .iter_mut()
                .find(|s| s.vg == vgi && s.lv == cow && s.layer == Layer::Top)
            {
                s.events += 1;
            }
        }
    }

    /// Makes what device `d` wrote durable (the block device's cache
    /// flush): the images of its VG are synced.
    pub fn flush(&mut self, d: usize) -> io::Result<()> {
        let vgi = self.devs[d].vg;
        for f in self.images(vgi)?.pvs.iter().flatten() {
            f.sync_data()?;
        }
        Ok(())
    }

    /// Syncs every image (before the kernel ends).
    pub fn flush_all(&mut self) -> io::Result<()> {
        for f in self
            .images
            .iter()
            .flatten()
            .flat_map(|i| i.pvs.iter().flatten())
        {
            f.sync_data()?;
        }
        Ok(())
    }

    /// True if device `d` is a snapshot whose store is invalid.
    pub fn invalid(&mut self, d: usize) -> bool {
        self.devs[d].layer == Layer::Top && self.handle(d).is_ok_and(|h| h.is_invalid_snapshot())
    }
}
