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
//! A cached LV's device (`cache`, `writecache`) reads through its cache
//! view and writes as [`CacheWrite`] describes; its hidden devices
//! (`_corig`, `_cdata`, `_cmeta`, `_wcorig`, `_cvol`) are plain LVs.
//!
//! The devices change while the kernel runs: [`Table::reload`] makes
//! them those of the active LVs of freshly scanned images, keeping each
//! device's number and identity while it exists.
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
use lvm_meta::model::Vg;
use lvm_meta::scan::System;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::sync::{Condvar, Mutex, MutexGuard};

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
    /// `VG-POOL-tpool`: a thin pool's `thin-pool` target.
    Tpool,
}

/// One loaded device.
pub(crate) struct Dev {
    /// Names this device for the kernel's whole life (never reused): an
    /// open file or export keeps it, so a device removed and made again
    /// under the same name does not serve the old one's handles.
    pub id: u64,
    /// The device-mapper name (`vg-lv`, `vg-lv-real`).
    pub name: String,
    /// Its minor number (major 253).
    pub minor: u32,
    /// Index into [`System::vgs`].
    pub vg: usize,
    /// Index of the LV in its VG.
    pub lv: usize,
    /// The LV whose activation loaded it (VG id, LV id): a snapshot's
    /// devices belong to its origin.
    pub root: (String, String),
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
    /// Suspended on its own (`dmsetup suspend`): its I/O waits for the
    /// resume.
    pub suspended: bool,
    /// Its table as `dmsetup table` prints it (a reload is a change of it).
    pub table: String,
    /// A thin pool's device or a thin LV: its I/O goes through the pool.
    pub thin: Option<super::thin::ThinIo>,
    /// The activated LV (top devices), dropped when another device of
    /// the VG writes.
    handle: Option<LvHandle<'static, File>>,
    /// A cached LV (`cache` or `writecache` target): its view, the
    /// cache's mappings read once at the load as the kernel reads them
    /// into memory, and how it takes writes ([`CacheWrite`]).
    view: Option<CachedDev>,
}

/// A cached LV's view over the kernel's images.
type CachedView = Box<dyn cow_engine::view::View + Send + Sync + 'static>;

/// A cached LV's device: reads through its view; writes as its target
/// takes them, or EROFS where lvmsim does not write what the kernel
/// would (a writecache's new entries, a passthrough cache's
/// invalidations: `write` is `None`).
pub(crate) struct CachedDev {
    view: CachedView,
    write: Option<CacheWrite>,
}

/// How a `cache` target in writeback or writethrough mode takes a write,
/// block by block, with the mappings it loaded: a block the cache holds
/// is written in the cache data LV (writethrough: in the origin too); any
/// other block goes to the origin. The policy's promotions are not
/// simulated (the kernel's smq may take a whole-block write of an
/// uncached block into the cache; the LV reads the same either way).
/// Before the first write into the cache in writeback mode, the
/// superblock's clean-shutdown flag is cleared on the metadata LV, as
/// the kernel's next commit does: the dirty bits the kernel keeps in
/// memory are not written (its clean shutdown would), so a later load
/// takes every cached block as dirty, which keeps the data safe.
struct CacheWrite {
    /// (origin block, cache block), in origin block order.
    map: Vec<(u64, u64)>,
    /// The cache block size in bytes.
    block: u64,
    /// LV indexes: the origin, the cache data LV, the metadata LV.
    origin: usize,
    data: usize,
    metadata: usize,
    /// Writeback (else writethrough).
    writeback: bool,
    /// The clean-shutdown flag is known clear on disk.
    unclean: bool,
}

/// Opens LV `lv` of VG `vgi` as a cached device if it is a cached LV.
fn cached_dev(sys: &'static System, vgi: usize, lv: usize) -> Result<Option<CachedDev>> {
    let vg = &sys.vgs[vgi].vg;
    let cache = crate::cache::cache_seg(vg, lv);
    if cache.is_none() && crate::writecache::writecache_seg(vg, lv).is_none() {
        return Ok(None);
    }
    let view = crate::data::open_view(sys, &vg.name, &vg.lvs[lv].name, false)?;
    let write = match (cache, crate::cache::pool_seg_of(vg, lv)) {
        (Some(c), Some(p))
            if matches!(p.cache_mode.as_deref(), Some("writeback" | "writethrough")) =>
        {
            let pvs = sys.pv_images(&sys.vgs[vgi]);
            // The same mappings the view loaded (the images do not change
            // between the two reads: the kernel holds their locks).
            let v = crate::cache::CacheView::open(vg, lv, &pvs)?;
            Some(CacheWrite {
                map: v.map_or_else(Vec::new, |v| v.mappings().to_vec()),
                block: p.chunk_size.saturating_mul(512),
                origin: c.origin,
                data: p.data,
                metadata: p.metadata,
                writeback: p.cache_mode.as_deref() == Some("writeback"),
                unclean: false,
            })
        }
        _ => None,
    };
    Ok(Some(CachedDev { view, write }))
}

/// A change of activation a command asks for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Change {
    /// Activate (`-ay`) or deactivate (`-an`).
    pub activate: bool,
    /// The VG, by name.
    pub vg: String,
    /// The LV (a snapshot stands for its origin, as in lvm2); every LV of
    /// the VG when `None`.
    pub lv: Option<String>,
}

impl Change {
    /// The change a command-line argument names: `VG`, `VG/LV`, `/dev/VG/LV`
    /// or `/dev/mapper/VG-LV` (read as lvm2's `skip_dev_dir` reads them).
    pub fn of_arg(arg: &str, activate: bool) -> Change {
        let name = crate::names::skip_dev_dir(arg).name;
        let (vg, lv) = match name.split_once('/') {
            Some((vg, lv)) => (vg.to_owned(), Some(lv.to_owned())),
            None => (name, None),
        };
        Change { activate, vg, lv }
    }
}

/// The loaded devices over the scanned images.
pub(crate) struct Table {
    sys: &'static System,
    /// The devices, sorted by name.
    pub devs: Vec<Dev>,
    /// Per VG (index into [`System::vgs`]): its images opened read-write,
    /// for the hidden layers and for flushes; `None` for a VG not loaded.
    images: Vec<Option<Images<File>>>,
    /// The active LVs (VG id, LV id): origins and plain LVs, whose
    /// activation loads their snapshots' devices too.
    active: BTreeSet<(String, String)>,
    /// The next device's [`Dev::id`].
    next_id: u64,
    /// While a command changes the VGs: I/O waits (see [`Shared::io`]).
    pub suspended: bool,
    /// The merges the loaded `snapshot-merge` tables run.
    pub merges: Vec<Merge>,
    /// The images, as named at start (scanned again when a merge ends).
    pub devices: Vec<std::path::PathBuf>,
    /// Invalidations already logged: (VG id, COW LV id).
    told: Vec<(String, String)>,
    /// The devices' open files (FUSE's handles).
    pub files: super::handles::Handles,
    /// I/O requests to devices suspended on their own, by device id, in
    /// the order they came: served at the resume.
    deferred: Vec<(u64, Deferred)>,
    /// Where the kernel's log lines go.
    log: Box<dyn Write + Send>,
    /// With `kernel start --explain`: the engine's events, logged after
    /// each write request as `lvmsim write --explain` prints them.
    explain: Option<cow_engine::engine::EventLog>,
    /// The thin pools the loaded devices use, with their open
    /// transactions.
    pools: Vec<super::thin::LivePool>,
}

/// An I/O request to a suspended device, served (and answered) at its
/// resume.
pub(crate) type Deferred = Box<dyn FnOnce(&mut Table) + Send>;

/// Why the kernel refuses a device-mapper ioctl, as its errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmErrno {
    /// `ENXIO`: no device of that name.
    NoDevice,
    /// `EBUSY`: the device is open (a file, or a device stacked on it).
    Busy,
}

impl DmErrno {
    /// `strerror`'s text.
    pub fn text(self) -> &'static str {
        match self {
            DmErrno::NoDevice => "No such device or address",
            DmErrno::Busy => "Device or resource busy",
        }
    }
}

/// The table and the condition its suspended I/O waits on.
pub(crate) struct Shared {
    table: Mutex<Table>,
    resumed: Condvar,
}

impl Shared {
    pub fn new(t: Table) -> Shared {
        Shared {
            table: Mutex::new(t),
            resumed: Condvar::new(),
        }
    }

    /// The table, even if a request panicked while holding it (its state
    /// is on the images after every request).
    pub fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The table for an I/O request: waits while the devices are
    /// suspended, as the kernel queues I/O to a suspended device.
    pub fn io(&self) -> MutexGuard<'_, Table> {
        let mut t = self.lock();
        while t.suspended {
            t = self.resumed.wait(t).unwrap_or_else(|p| p.into_inner());
        }
        t
    }

    /// Suspends every device: what was written is synced, the handles
    /// (and the exception tables they hold) are dropped, later I/O waits
    /// for [`Shared::resume`].
    pub fn suspend(&self) -> io::Result<()> {
        let mut t = self.io();
        t.suspended = true;
        for d in &mut t.devs {
            d.handle = None;
        }
        t.flush_all()
    }

    /// Lets the waiting I/O go on.
    pub fn resume(&self) {
        self.lock().suspended = false;
        self.resumed.notify_all();
    }

    /// The table for an I/O request to device `id`: waits while the
    /// devices are suspended or that device is suspended on its own
    /// (a thread of its own, as an NBD client's, can wait).
    pub fn io_dev(&self, id: u64) -> MutexGuard<'_, Table> {
        let mut t = self.lock();
        while t.suspended || t.dev_suspended(id) {
            t = self.resumed.wait(t).unwrap_or_else(|p| p.into_inner());
        }
        t
    }

    /// `dmsetup resume`: see [`Table::dm_resume`]; threads waiting on the
    /// device go on.
    pub fn dm_resume(&self, name: &str) -> std::result::Result<(), DmErrno> {
        let r = self.lock().dm_resume(name);
        self.resumed.notify_all();
        r
    }
}

/// A merge the kernel runs: an origin whose `snapshot-merge` table is
/// loaded copies its snapshot's chunks back, batch after batch.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Merge {
    /// The origin (VG id, LV id).
    pub origin: (String, String),
    /// `VG/ORIGIN`, `VG/SNAP` when it started.
    pub names: (String, String),
    /// lvm2 polls it: its end is recorded (the snapshot removed from the
    /// metadata, the origin reloaded) as soon as the last chunk is back;
    /// without (`--poll n`) the tables stay until `lvpoll`.
    pub poll: bool,
    /// Sectors of data in the store when it started, and still there.
    pub total: Option<u64>,
    pub left: u64,
    /// The last chunk is back.
    pub done: bool,
}

impl Merge {
    /// Percent merged, as lvm2's poller prints it.
    pub fn percent(&self) -> f64 {
        match self.total {
            _ if self.done => 100.0,
            Some(t) if t > 0 => 100.0 * (1.0 - self.left as f64 / t as f64),
            _ => 0.0,
        }
    }
}

/// A device the active LVs need, before it is made.
struct Want {
    name: String,
    uuid: String,
    /// Its place in lvm2's creation order.
    rank: u32,
    vg: usize,
    lv: usize,
    root: (String, String),
    layer: Layer,
    holders: u32,
    event: u32,
}

/// `EIO`, `ENOSPC` as the handle reports them.
const EIO: i32 = 5;
const ENOSPC: i32 = 28;
/// The answer to a discard on a device whose table takes none.
pub(crate) const EOPNOTSUPP: i32 = 95;

/// The device-mapper major number.
const MAJOR: u32 = 253;

/// A request of `len` bytes at byte `offset` of a device mapped in
/// blocks of `bs` bytes, split where blocks end: for each piece, its start
/// in the request, its length, its block and its offset in that block
/// (as dm-thin and dm-cache split a bio at block boundaries).
pub(crate) fn block_pieces(
    offset: u64,
    len: usize,
    bs: u64,
) -> impl Iterator<Item = (usize, usize, u64, u64)> {
    let bs = bs.max(1);
    let mut done = 0usize;
    std::iter::from_fn(move || {
        if done >= len {
            return None;
        }
        let at = offset + done as u64;
        let within = at % bs;
        let n = usize::try_from(bs - within)
            .unwrap_or(usize::MAX)
            .min(len - done);
        let piece = (done, n, at / bs, within);
        done += n;
        Some(piece)
    })
}

/// How many of `len` bytes a write at `offset` puts on a device of `size`
/// bytes, as a block device answers: all of an empty write (0), the part
/// before the end, ENOSPC for a write that starts at or past the end.
pub(crate) fn write_span(size: u64, offset: u64, len: usize) -> io::Result<usize> {
    if len == 0 {
        return Ok(0);
    }
    if offset >= size {
        return Err(io::Error::from_raw_os_error(ENOSPC));
    }
    Ok(usize::try_from(size - offset)
        .unwrap_or(usize::MAX)
        .min(len))
}

/// The errno a device's I/O error stands for: the system's own, ENOSPC
/// for a write past the end, EIO for anything else (an invalid snapshot,
/// a store the engine cannot use, a device removed under an open file).
pub(crate) fn errno_of(e: &io::Error) -> i32 {
    match e.raw_os_error() {
        Some(n) => n,
        None if e.kind() == io::ErrorKind::StorageFull => ENOSPC,
        None if e.kind() == io::ErrorKind::Unsupported => EOPNOTSUPP,
        None => EIO,
    }
}

/// The LVs of `vg` an activation starts from: plain LVs that get a device
/// and origins (not snapshots, COWs or glue, nor LVs flagged to be
/// skipped, as a thin snapshot made without `-kn` is: lvm2 activates them
/// only when named with `-K`).
fn roots(vg: &Vg) -> impl Iterator<Item = usize> + '_ {
    (0..vg.lvs.len()).filter(|&i| {
        !vg.lvs[i].is_snapshot_glue()
            && !vg.lvs[i].flags.iter().any(|f| f == "ACTIVATION_SKIP")
            && vg.roles[i].cow_of.is_none()
            && (vg.lvs[i].visible_flag() || !vg.roles[i].origin_of.is_empty())
    })
}

/// The LV whose activation loads LV `lv`'s devices: a snapshot's origin,
/// a thin pool's data or metadata LV's pool.
fn root_of(vg: &Vg, lv: usize) -> usize {
    match vg.roles[lv].cow_of {
        Some(c) => c.origin,
        None => super::thin::root_of(vg, lv)
            .or_else(|| cache_root_of(vg, lv))
            .unwrap_or(lv),
    }
}

/// The cached LV whose activation loads LV `lv`'s device: the LV over a
/// `_corig`, `_wcorig` or `_cvol`, the LV using the pool of a `_cdata`
/// or `_cmeta`.
fn cache_root_of(vg: &Vg, lv: usize) -> Option<usize> {
    use crate::cache::CacheRole;
    use crate::writecache::WritecacheRole;
    match crate::cache::role(vg, lv) {
        Some(CacheRole::Origin(c)) => return Some(c),
        Some(CacheRole::Data(p) | CacheRole::Metadata(p)) => {
            return (0..vg.lvs.len())
                .find(|&i| crate::cache::cache_seg(vg, i).is_some_and(|c| c.pool == p))
        }
        _ => {}
    }
    match crate::writecache::roles(vg).get(lv).cloned().flatten() {
        Some(WritecacheRole::Origin(w) | WritecacheRole::Cachevol(w)) => Some(w),
        _ => None,
    }
}

/// `EROFS`: a write or discard to a cached LV's device (see [`Dev::view`]).
const EROFS: i32 = 30;

fn key(vg: &Vg, lv: usize) -> (String, String) {
    (vg.id.clone(), vg.lvs[lv].id.clone())
}

/// The first minor not in `used`.
fn lowest_free(used: &[u32]) -> u32 {
    (0..).find(|m| !used.contains(m)).unwrap_or(u32::MAX)
}

/// What one table change does, as `lvm2 -v` reports the steps.
enum Step {
    Create(String),
    Load(String, u32),
    Suspend(String, u32),
    Resume(String, u32),
    Remove(String, u32),
    /// A device renamed with its LV (old name, minor, new name).
    Rename(String, u32, String),
    /// lvm2's verbose note when an origin with a pending merge is
    /// activated: it looks for the merging snapshot's device first.
    NoMergingSnapshot(String),
}

impl Step {
    fn line(&self) -> String {
        match self {
            Step::Create(n) => format!("Creating {n}"),
            Step::Load(n, m) => format!("Loading table for {n} ({MAJOR}:{m})."),
            Step::Suspend(n, m) => {
                format!("Suspending {n} ({MAJOR}:{m}) with filesystem sync with device flush")
            }
            Step::Resume(n, m) => format!("Resuming {n} ({MAJOR}:{m})."),
            Step::Remove(n, m) => format!("Removing {n} ({MAJOR}:{m})"),
            Step::Rename(o, m, n) => format!("Renaming {o} ({MAJOR}:{m}) to {n}"),
            Step::NoMergingSnapshot(u) => format!("Couldn't find merging snapshot uuid {u}."),
        }
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
        let mut active = BTreeSet::new();
        for inst in &sys.vgs {
            if inst.partial() {
                writeln!(log, "VG {}: PVs are missing; not activated", inst.vg.name)?;
                continue;
            }
            active.extend(roots(&inst.vg).map(|i| key(&inst.vg, i)));
        }
        let mut t = Table {
            sys,
            devs: Vec::new(),
            images: Vec::new(),
            active,
            next_id: 1,
            suspended: false,
            merges: Vec::new(),
            devices: Vec::new(),
            told: Vec::new(),
            files: Default::default(),
            deferred: Vec::new(),
            log,
            explain,
            pools: Vec::new(),
        };
        t.reload(sys, &[], false, true)?;
        // Stores found invalid at load were told by the kernel that
        // invalidated them, not by this one.
        t.note_invalidations_told();
        Ok(t)
    }

    /// Marks the invalidations the loaded handles found as told.
    fn note_invalidations_told(&mut self) {
        for i in 0..self.devs.len() {
            if let Some(h) = &self.devs[i].handle {
                let vg = &self.sys.vgs[self.devs[i].vg].vg;
                for (cow, _) in h.invalidations() {
                    let k = key(vg, cow);
                    if !self.told.contains(&k) {
                        self.told.push(k);
                    }
                }
            }
        }
    }

    /// The devices the active LVs of `sys` need, in lvm2's creation order.
    fn wanted(&self, sys: &System) -> Result<Vec<Want>> {
        let list = crate::dmsetup::devices_with_thin(sys, &crate::dmsetup::DmOpts::default())?;
        let mut out = Vec::new();
        for d in &list {
            let parts = crate::names::split_dm_name(&d.name);
            let Some(vgi) = sys.vgs.iter().position(|v| v.vg.name == parts.vg) else {
                continue;
            };
            if sys.vgs[vgi].partial() {
                continue;
            }
            let vg = &sys.vgs[vgi].vg;
            let lv = vg.lv_index_or_err(&parts.lv)?;
            let root = key(vg, root_of(vg, lv));
            if !self.active.contains(&root) {
                continue;
            }
            let layer = match parts.layer.as_str() {
                "" => Layer::Top,
                "real" => Layer::Real,
                "cow" => Layer::Cow,
                "tpool" => Layer::Tpool,
                other => {
                    return Err(crate::error::Error::Refused(format!(
                        "{}: layer {other} is not simulated",
                        d.name
                    )))
                }
            };
            out.push(Want {
                name: d.name.clone(),
                uuid: d.uuid.clone(),
                rank: d.minor,
                vg: vgi,
                lv,
                root,
                layer,
                holders: d.open,
                event: d.event,
            });
        }
        out.sort_by_key(|w| w.rank);
        Ok(out)
    }

    /// Makes the loaded devices those of the active LVs of `sys` (the
    /// images as a command left them), after applying `changes` and, with
    /// `activate_new`, activating the LVs `sys` has and the current one
    /// has not (a new LV is active, as `lvcreate` leaves it). Devices keep
    /// their numbers while they exist; new ones take the lowest free
    /// minors in lvm2's creation order. Returns the steps as `lvm2 -v`
    /// prints them.
    ///
    /// # Errors
    /// The images cannot be opened or an LV not activated; the table is
    /// then unchanged.
    ///
    /// A merge whose `snapshot-merge` table is loaded starts (`poll`: lvm2
    /// polls it to its end, see [`Merge::poll`]).
    pub fn reload(
        &mut self,
        sys: &'static System,
        changes: &[Change],
        activate_new: bool,
        poll: bool,
    ) -> Result<Vec<String>> {
        let mut active = self.active.clone();
        for c in changes {
            let inst = sys.vg_or_err(&c.vg)?;
            let vg = &inst.vg;
            let lvs: Vec<usize> = match &c.lv {
                Some(l) => vec![root_of(vg, vg.lv_index_or_err(l)?)],
                None => roots(vg).collect(),
            };
            for lv in lvs {
                if c.activate {
                    active.insert(key(vg, lv));
                } else {
                    active.remove(&key(vg, lv));
                }
            }
        }
        let known: BTreeSet<(String, String)> = self
            .sys
            .vgs
            .iter()
            .flat_map(|i| (0..i.vg.lvs.len()).map(|l| key(&i.vg, l)))
            .collect();
        let mut exist = BTreeSet::new();
        for inst in sys.vgs.iter().filter(|i| !i.partial()) {
            for r in roots(&inst.vg) {
                let k = key(&inst.vg, r);
                if activate_new && !known.contains(&k) && !std::ptr::eq(self.sys, sys) {
                    active.insert(k.clone());
                }
                exist.insert(k);
            }
        }
        active.retain(|k| exist.contains(k));
        let saved = std::mem::replace(&mut self.active, active);
        let wants = match self.wanted(sys) {
            Ok(w) => w,
            Err(e) => {
                self.active = saved;
                return Err(e);
            }
        };
        match self.apply(sys, wants) {
            Ok(lines) => {
                self.note_merges(poll);
                Ok(lines)
            }
            Err(e) => {
                self.active = saved;
                Err(e)
            }
        }
    }

    /// Replaces the devices by `wants`; returns lvm2's verbose lines.
    fn apply(&mut self, sys: &'static System, wants: Vec<Want>) -> Result<Vec<String>> {
        // The open pool transactions are committed before the devices
        // change (the kernel commits at the suspend before a reload).
        self.commit_pools().context("committing the thin pools")?;
        // A device stays while its LV has it: a renamed LV's devices are
        // renamed, as the kernel renames them (number, identity and open
        // files kept).
        let old_sys = self.sys;
        let same = |d: &Dev, w: &Want| {
            let (a, b) = (&old_sys.vgs[d.vg].vg, &sys.vgs[w.vg].vg);
            d.layer == w.layer && a.id == b.id && a.lvs[d.lv].id == b.lvs[w.lv].id
        };
        let old_of = |w: &Want| self.devs.iter().find(|d| same(d, w));
        // Numbers: kept while a device exists, the lowest free for a new
        // one in creation order.
        let mut used: Vec<u32> = self
            .devs
            .iter()
            .filter(|d| wants.iter().any(|w| same(d, w)))
            .map(|d| d.minor)
            .collect();
        let mut minor_of: Vec<u32> = Vec::new();
        for w in &wants {
            let m = match old_of(w) {
                Some(d) => d.minor,
                None => {
                    let m = lowest_free(&used);
                    used.push(m);
                    m
                }
            };
            minor_of.push(m);
        }
        let minors: Vec<(String, u32)> = wants
            .iter()
            .zip(&minor_of)
            .map(|(w, m)| (w.name.clone(), *m))
            .collect();
        let tables = table_texts(sys, &minors)?;
        // The images of every complete VG, and a handle on every top
        // device (the table load activates the snapshot stores).
        let mut images = Vec::new();
        for inst in &sys.vgs {
            images.push(if inst.partial() {
                None
            } else {
                Some(Images::open_vg(sys, inst, true)?)
            });
        }
        let mut devs = Vec::new();
        for (w, &minor) in wants.iter().zip(&minor_of) {
            let vg = &sys.vgs[w.vg].vg;
            let thin = match w.layer {
                Layer::Top | Layer::Tpool => super::thin::io_of(vg, w.lv, w.layer == Layer::Tpool),
                Layer::Real | Layer::Cow => None,
            };
            let view = match w.layer {
                Layer::Top => {
                    cached_dev(sys, w.vg, w.lv).with_context(|| format!("activating {}", w.name))?
                }
                _ => None,
            };
            let (size, handle) = match w.layer {
                _ if view.is_some() => (
                    vg.lv_extents(&vg.lvs[w.lv])
                        .saturating_mul(vg.extent_bytes()),
                    None,
                ),
                _ if thin.is_some() => (
                    vg.lv_extents(&vg.lvs[w.lv])
                        .saturating_mul(vg.extent_bytes()),
                    None,
                ),
                Layer::Top => {
                    let mut h =
                        LvHandle::open(vg, Images::open_vg(sys, &sys.vgs[w.vg], true)?, w.lv)
                            .map_err(crate::error::Error::from)
                            .with_context(|| format!("activating {}", w.name))?;
                    if let Some(e) = &self.explain {
                        h.set_event_log(e);
                    }
                    (h.size(), Some(h))
                }
                Layer::Real | Layer::Cow | Layer::Tpool => (
                    vg.lv_extents(&vg.lvs[w.lv])
                        .saturating_mul(vg.extent_bytes()),
                    None,
                ),
            };
            let link = (w.layer == Layer::Top && vg.lv_visible(w.lv))
                .then(|| (vg.name.clone(), vg.lvs[w.lv].name.clone()));
            let old = old_of(w);
            let table = tables.get(&w.name).cloned().unwrap_or_default();
            devs.push(Dev {
                id: old.map_or(0, |d| d.id),
                name: w.name.clone(),
                minor,
                vg: w.vg,
                lv: w.lv,
                root: w.root.clone(),
                layer: w.layer,
                size,
                link,
                holders: w.holders,
                opens: old.map_or(0, |d| d.opens),
                suspended: old.is_some_and(|d| d.suspended),
                events: old.map_or(w.event, |d| d.events),
                table,
                thin,
                handle,
                view,
            });
        }
        // The pools the thin devices use, opened on the new images.
        let mut pools: Vec<super::thin::LivePool> = Vec::new();
        for d in &devs {
            let pool = match d.thin {
                Some(
                    super::thin::ThinIo::Pool { pool, .. } | super::thin::ThinIo::Thin { pool, .. },
                ) => pool,
                None => continue,
            };
            if !pools.iter().any(|p| p.vg == d.vg && p.pool == pool) {
                pools.push(super::thin::LivePool::open(sys, d.vg, pool)?);
            }
        }
        let lines = self.steps(sys, &wants, &devs);
        for d in &mut devs {
            if d.id == 0 {
                d.id = self.next_id;
                self.next_id += 1;
            }
        }
        devs.sort_by(|a, b| a.name.cmp(&b.name));
        self.sys = sys;
        self.devs = devs;
        self.images = images;
        self.pools = pools;
        // Requests kept for a device that is gone fail now (EIO).
        let gone: Vec<u64> = self
            .deferred
            .iter()
            .map(|(id, _)| *id)
            .filter(|id| self.index(*id).is_err())
            .collect();
        for id in gone {
            self.serve_deferred(id);
        }
        Ok(lines.iter().map(Step::line).collect())
    }

    /// The steps lvm2 takes from the current devices to `new` (made from
    /// `wants`, same order; a new device has id 0), one LV's device tree
    /// after another: activation (children created and loaded first, the
    /// layers under a snapshot resumed at once, the tops last),
    /// deactivation (the top, each snapshot and its store, the origin's
    /// `-real`), and reloads of a tree that stays (new devices created and
    /// loaded, changed tables loaded, the changed tops suspended, all
    /// resumed, devices no longer needed removed; an `lvcreate -s` first
    /// zeroes the new store through a temporary device).
    fn steps(&self, sys: &System, wants: &[Want], new: &[Dev]) -> Vec<Step> {
        let mut roots: Vec<(String, String)> = Vec::new();
        // Trees that go away first (in the order of their numbers), then
        // the others in creation order.
        let mut old_sorted: Vec<&Dev> = self.devs.iter().collect();
        old_sorted.sort_by_key(|d| d.minor);
        for d in old_sorted {
            if !new.iter().any(|n| n.root == d.root) && !roots.contains(&d.root) {
                roots.push(d.root.clone());
            }
        }
        for n in new {
            if !roots.contains(&n.root) {
                roots.push(n.root.clone());
            }
        }
        // Minors in use as the steps go (for the temporary device).
        let mut live: Vec<u32> = self.devs.iter().map(|d| d.minor).collect();
        let mut steps = Vec::new();
        for root in roots {
            let old: Vec<&Dev> = self.devs.iter().filter(|d| d.root == root).collect();
            let now: Vec<(usize, &Dev)> = new
                .iter()
                .enumerate()
                .filter(|(_, d)| d.root == root)
                .collect();
            if now.is_empty() {
                // Deactivation: the top, each snapshot with its store,
                // the origin's own segments.
                let mut order: Vec<&Dev> = Vec::new();
                let top = old
                    .iter()
                    .find(|d| d.layer == Layer::Top && (d.vg, d.lv) == self.top_of(&root));
                order.extend(top);
                let mut snaps: Vec<&&Dev> = old
                    .iter()
                    .filter(|d| d.layer == Layer::Top && !order.iter().any(|o| o.id == d.id))
                    .collect();
                snaps.sort_by_key(|d| d.minor);
                for s in snaps {
                    order.push(s);
                    if let Some(c) = old
                        .iter()
                        .find(|c| c.layer == Layer::Cow && (c.vg, c.lv) == (s.vg, s.lv))
                    {
                        order.push(c);
                    }
                }
                for d in &old {
                    if !order.iter().any(|o| o.id == d.id) {
                        order.push(d);
                    }
                }
                for d in order {
                    steps.push(Step::Remove(d.name.clone(), d.minor));
                    live.retain(|&m| m != d.minor);
                }
                continue;
            }
            let origin = now
                .iter()
                .find(|(i, d)| {
                    d.layer == Layer::Top
                        && wants[*i].lv == root_of(&sys.vgs[wants[*i].vg].vg, wants[*i].lv)
                })
                .map(|(_, d)| d.name.clone());
            if old.is_empty() {
                // Activation of the tree.
                let merging = now.iter().find_map(|(i, d)| {
                    let w = &wants[*i];
                    let vg = &sys.vgs[w.vg].vg;
                    (d.layer == Layer::Top && vg.roles[w.lv].cow_of.is_some_and(|c| c.merging))
                        .then(|| w.uuid.clone())
                });
                if let Some(u) = &merging {
                    steps.push(Step::NoMergingSnapshot(u.clone()));
                }
                let mut later = Vec::new();
                for (_, d) in &now {
                    steps.push(Step::Create(d.name.clone()));
                    steps.push(Step::Load(d.name.clone(), d.minor));
                    let is_origin = origin.as_deref() == Some(d.name.as_str());
                    let at_once = if now.len() == 1 {
                        true
                    } else if merging.is_some() {
                        !is_origin
                    } else {
                        // A device with parents is resumed as soon as it
                        // is loaded: a snapshot's store, a thin pool's
                        // data, metadata and `-tpool`.
                        d.layer == Layer::Cow
                            || d.layer == Layer::Tpool
                            || super::thin::root_of(&sys.vgs[d.vg].vg, d.lv).is_some()
                    };
                    if at_once {
                        steps.push(Step::Resume(d.name.clone(), d.minor));
                    } else if !is_origin {
                        later.push(*d);
                    }
                }
                // The origin's layer, the snapshots, then the origin.
                later.sort_by_key(|d| d.layer != Layer::Real);
                for d in later {
                    steps.push(Step::Resume(d.name.clone(), d.minor));
                }
                if let Some((_, d)) = now
                    .iter()
                    .find(|(_, d)| origin.as_deref() == Some(d.name.as_str()) && now.len() > 1)
                {
                    steps.push(Step::Resume(d.name.clone(), d.minor));
                }
                for (_, d) in &now {
                    live.push(d.minor);
                }
                continue;
            }
            // A tree that stays: reload, after renaming the devices of a
            // renamed LV.
            for (_, d) in &now {
                if let Some(o) = old.iter().find(|o| o.id == d.id && o.name != d.name) {
                    steps.push(Step::Rename(o.name.clone(), d.minor, d.name.clone()));
                }
            }
            let added: Vec<&Dev> = now.iter().map(|(_, d)| *d).filter(|d| d.id == 0).collect();
            let changed: Vec<&Dev> = now
                .iter()
                .map(|(_, d)| *d)
                .filter(|d| {
                    d.id != 0
                        && old
                            .iter()
                            .any(|o| o.id == d.id && (o.table != d.table || o.size != d.size))
                })
                .collect();
            let removed: Vec<&Dev> = old
                .iter()
                .copied()
                .filter(|o| !now.iter().any(|(_, d)| d.id == o.id))
                .collect();
            // A new snapshot's store is zeroed through a temporary device.
            for d in added.iter().filter(|d| d.layer == Layer::Cow) {
                let vg = &sys.vgs[d.vg].vg;
                let tmp = crate::names::dm_name(&vg.name, &vg.lvs[d.lv].name, None);
                let m = lowest_free(&live);
                steps.push(Step::Create(tmp.clone()));
                steps.push(Step::Load(tmp.clone(), m));
                steps.push(Step::Resume(tmp.clone(), m));
                steps.push(Step::Remove(tmp, m));
            }
            let mut resume_later = Vec::new();
            for (_, d) in &now {
                if added.iter().any(|a| std::ptr::eq(*a, *d)) {
                    steps.push(Step::Create(d.name.clone()));
                    steps.push(Step::Load(d.name.clone(), d.minor));
                    live.push(d.minor);
                    if d.layer == Layer::Top {
                        resume_later.push(*d);
                    } else {
                        steps.push(Step::Resume(d.name.clone(), d.minor));
                    }
                } else if changed.iter().any(|c| std::ptr::eq(*c, *d)) {
                    steps.push(Step::Load(d.name.clone(), d.minor));
                }
            }
            // Suspended top-down, resumed children first.
            let mut susp = changed.clone();
            susp.sort_by_key(|d| d.layer != Layer::Top);
            for d in &susp {
                steps.push(Step::Suspend(d.name.clone(), d.minor));
            }
            // Layers first, then the tops in creation order (a merging
            // origin before its snapshot's error device, as lvm2's
            // activation priorities order them).
            let mut resume: Vec<&&Dev> = changed.iter().filter(|d| d.layer != Layer::Top).collect();
            resume.extend(changed.iter().filter(|d| d.layer == Layer::Top));
            for d in resume {
                steps.push(Step::Resume(d.name.clone(), d.minor));
            }
            for d in resume_later {
                steps.push(Step::Resume(d.name.clone(), d.minor));
            }
            let mut gone = removed.clone();
            gone.sort_by_key(|d| match d.layer {
                Layer::Top => 0,
                Layer::Cow => 1,
                Layer::Real | Layer::Tpool => 2,
            });
            for d in gone {
                steps.push(Step::Remove(d.name.clone(), d.minor));
                live.retain(|&m| m != d.minor);
            }
        }
        steps
    }

    /// Leaves in `sys` (freshly scanned, not yet loaded) the merges lvm2
    /// postpones: a pending merge into an origin that is loaded without
    /// `snapshot-merge` and whose device or merging snapshot's device is
    /// open keeps the origin's tables and semantics (`snapshot-origin`,
    /// copy-on-write into the snapshot) until a reload finds both closed,
    /// or the origin's next activation. Their snapshots are shown to the
    /// table as not merging.
    pub fn postpone_merges(&self, sys: &mut System) {
        for inst in &mut sys.vgs {
            let vg = &inst.vg;
            let mut postponed = Vec::new();
            for (cow, r) in vg.roles.iter().enumerate() {
                let Some(c) = r.cow_of.filter(|c| c.merging) else {
                    continue;
                };
                let root = key(vg, c.origin);
                let top = |lv: usize| {
                    self.devs.iter().find(|d| {
                        d.layer == Layer::Top
                            && d.root == root
                            && self.sys.vgs[d.vg].vg.lvs.get(d.lv).map(|l| &l.id)
                                == Some(&vg.lvs[lv].id)
                    })
                };
                let Some(origin) = top(c.origin) else {
                    continue;
                };
                if origin.table.contains(" snapshot-merge ") {
                    continue;
                }
                if origin.opens > 0 || top(cow).is_some_and(|d| d.opens > 0) {
                    postponed.push(c.glue);
                }
            }
            if postponed.is_empty() {
                continue;
            }
            let mut patched = (*inst.vg).clone();
            for g in postponed {
                for seg in &mut patched.lvs[g].segments {
                    if let lvm_meta::model::SegmentKind::Snapshot { merging, .. } = &mut seg.kind {
                        *merging = false;
                    }
                }
            }
            patched.derive_roles();
            inst.vg = std::sync::Arc::new(patched);
        }
    }

    /// Starts the merges of the loaded `snapshot-merge` tables; forgets
    /// those no longer loaded.
    fn note_merges(&mut self, poll: bool) {
        let sys = self.sys;
        let mut now = Vec::new();
        for d in &self.devs {
            if d.layer != Layer::Top || !d.table.contains(" snapshot-merge ") {
                continue;
            }
            let vg = &sys.vgs[d.vg].vg;
            let Some(cow) = vg
                .roles
                .iter()
                .position(|r| r.cow_of.is_some_and(|c| c.merging && c.origin == d.lv))
            else {
                continue;
            };
            let origin = key(vg, d.lv);
            let m = match self.merges.iter().find(|m| m.origin == origin) {
                Some(m) => m.clone(),
                None => Merge {
                    origin,
                    names: (
                        format!("{}/{}", vg.name, vg.lvs[d.lv].name),
                        format!("{}/{}", vg.name, vg.lvs[cow].name),
                    ),
                    poll,
                    total: None,
                    left: 0,
                    done: false,
                },
            };
            now.push(m);
        }
        self.merges = now;
    }

    /// One batch of the first unfinished merge, as `snapshot-merge` copies
    /// chunks back (the origin's view does not change: a chunk leaves the
    /// store only once it is in the origin). A merge whose last chunk is
    /// back and that lvm2 polls is then ended: the snapshot leaves the
    /// metadata and the devices are reloaded (steps to the log). Returns
    /// false when no merge has work left.
    ///
    /// # Errors
    /// The images cannot be read or written; the merge is dropped.
    pub fn merge_batch(&mut self) -> Result<bool> {
        let Some(i) = self.merges.iter().position(|m| !m.done) else {
            return Ok(false);
        };
        let origin = self.merges[i].origin.clone();
        let sys = self.sys;
        let Some((vgi, lv)) = Some(self.top_of(&origin)).filter(|p| p.0 != usize::MAX) else {
            self.merges.remove(i);
            return Ok(true);
        };
        let inst = &sys.vgs[vgi];
        // The handles hold the stores' tables: they load them again.
        for d in &mut self.devs {
            if d.vg == vgi {
                d.handle = None;
            }
        }
        let ctx = crate::context::Context::new();
        let w = ctx.writer(&format!(
            "lvpoll --polloperation merge {}",
            self.merges[i].names.0
        ));
        let mut seen = None;
        let runs = crate::snapshot::merge_runs(sys, inst, lv, Some(1), &w, &mut |p| seen = Some(p));
        let runs = match runs {
            Ok(r) => r,
            Err(e) => {
                self.merges.remove(i);
                return Err(e);
            }
        };
        let m = &mut self.merges[i];
        if let Some(p) = seen {
            m.total.get_or_insert(p.sectors_total);
            m.left = p.sectors_left;
        }
        if runs > 0 {
            return Ok(true);
        }
        m.done = true;
        let poll = m.poll;
        let (origin_name, _) = m.names.clone();
        let _ = writeln!(self.log, "{origin_name}: merge finished");
        if poll {
            let mut n = 1;
            crate::snapshot::finish_merge(sys, inst, lv, &w, &mut n)?;
            let mut log = Vec::new();
            let mut now = crate::scan(&self.devices, false, &mut log)?;
            self.postpone_merges(&mut now);
            let now: &'static System = Box::leak(Box::new(now));
            let lines = self.reload(now, &[], false, true)?;
            for l in lines {
                let _ = writeln!(self.log, "{l}");
            }
        }
        Ok(true)
    }

    /// The (VG index, LV index) of an active root in the current images.
    fn top_of(&self, root: &(String, String)) -> (usize, usize) {
        for (vi, inst) in self.sys.vgs.iter().enumerate() {
            if inst.vg.id != root.0 {
                continue;
            }
            if let Some(l) = inst.vg.lvs.iter().position(|l| l.id == root.1) {
                return (vi, l);
            }
        }
        (usize::MAX, usize::MAX)
    }

    /// The index of device `id`, or EIO if it was removed (an open file of
    /// a removed device fails every request, as its block device does).
    pub fn index(&self, id: u64) -> io::Result<usize> {
        self.devs
            .iter()
            .position(|d| d.id == id)
            .ok_or_else(|| io::Error::from_raw_os_error(EIO))
    }

    /// The device named `name`.
    pub fn by_name(&self, name: &str) -> Option<&Dev> {
        self.devs.iter().find(|d| d.name == name)
    }

    /// One more open handle of device `id`.
    pub fn open(&mut self, id: u64) {
        if let Ok(i) = self.index(id) {
            self.devs[i].opens += 1;
        }
    }

    /// One open handle of device `id` fewer.
    pub fn close(&mut self, id: u64) {
        if let Ok(i) = self.index(id) {
            let d = &mut self.devs[i];
            d.opens = d.opens.saturating_sub(1);
            // The last close of a thin device commits its pool (the
            // kernel's commit at the close's flush).
            if d.opens == 0 && d.thin.is_some() {
                let _ = self.commit_pool_of(i);
            }
        }
    }

    /// Whether the end of a file handle was announced (at most
    /// [`super::RELEASE_WAIT`] ago) whose release has not arrived.
    pub fn releases_pending(&self) -> bool {
        self.files
            .pending(std::time::Instant::now(), super::RELEASE_WAIT)
    }

    /// Whether device `id` is suspended on its own.
    pub fn dev_suspended(&self, id: u64) -> bool {
        self.index(id).is_ok_and(|i| self.devs[i].suspended)
    }

    /// Keeps an I/O request to suspended device `id` until its resume.
    pub fn defer(&mut self, id: u64, request: Deferred) {
        self.deferred.push((id, request));
    }

    /// Serves an I/O request to device `id` now, or keeps it until the
    /// device's resume while it is suspended (boxed only then).
    pub fn serve_or_defer<F: FnOnce(&mut Table) + Send + 'static>(&mut self, id: u64, serve: F) {
        if self.dev_suspended(id) {
            self.defer(id, Box::new(serve));
        } else {
            serve(self);
        }
    }

    /// Serves the requests kept for device `id`, in order.
    fn serve_deferred(&mut self, id: u64) {
        let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.deferred)
            .into_iter()
            .partition(|(d, _)| *d == id);
        self.deferred = later;
        for (_, request) in now {
            request(self);
        }
    }

    /// `dmsetup suspend NAME`: the device's I/O waits until its resume
    /// (what it wrote is already on the images). Suspending a suspended
    /// device does nothing, as in the kernel.
    ///
    /// # Errors
    /// [`DmErrno::NoDevice`] when no device has that name.
    pub fn dm_suspend(&mut self, name: &str) -> std::result::Result<(), DmErrno> {
        let i = self.dm_index(name)?;
        self.devs[i].suspended = true;
        self.devs[i].handle = None;
        Ok(())
    }

    /// `dmsetup resume NAME`: the I/O that waited is served.
    ///
    /// # Errors
    /// [`DmErrno::NoDevice`] when no device has that name.
    pub fn dm_resume(&mut self, name: &str) -> std::result::Result<(), DmErrno> {
        let i = self.dm_index(name)?;
        self.devs[i].suspended = false;
        let id = self.devs[i].id;
        self.serve_deferred(id);
        Ok(())
    }

    /// `dmsetup remove NAME`: refused while the device is open (by a
    /// file or by a device stacked on it), as the kernel refuses it;
    /// otherwise the device goes (a suspended one too: the I/O that
    /// waited on it fails with EIO) and the devices its table opened
    /// have one holder fewer. The LV stays active for lvm2: its next
    /// reload makes the device again.
    ///
    /// # Errors
    /// [`DmErrno::NoDevice`], [`DmErrno::Busy`].
    pub fn dm_remove(&mut self, name: &str) -> std::result::Result<(), DmErrno> {
        let i = self.dm_index(name)?;
        if self.devs[i].opens > 0 || self.devs[i].holders > 0 {
            return Err(DmErrno::Busy);
        }
        // The devices its table opens, as the device list stacks them.
        let below: Vec<String> =
            crate::dmsetup::devices_with_thin(self.sys, &crate::dmsetup::DmOpts::default())
                .map(|list| {
                    list.iter()
                        .find(|d| d.name == name)
                        .map(|d| {
                            d.deps
                                .iter()
                                .filter_map(|dep| match dep {
                                    crate::dmsetup::Dep::Dm(k) => {
                                        list.get(*k).map(|x| x.name.clone())
                                    }
                                    crate::dmsetup::Dep::Disk(..) => None,
                                })
                                .collect()
                        })
                        .unwrap_or_default()
                })
                .unwrap_or_default();
        let gone = self.devs.remove(i);
        for d in &mut self.devs {
            if below.contains(&d.name) {
                d.holders = d.holders.saturating_sub(1);
            }
        }
        self.serve_deferred(gone.id);
        Ok(())
    }

    /// The index of the device named `name`.
    fn dm_index(&self, name: &str) -> std::result::Result<usize, DmErrno> {
        self.devs
            .iter()
            .position(|d| d.name == name)
            .ok_or(DmErrno::NoDevice)
    }

    /// Writes `l` to the kernel's log.
    pub fn log_line(&mut self, l: &str) {
        let _ = writeln!(self.log, "{l}");
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

    /// Reads up to `len` bytes of device `id` at `offset` (fewer at the
    /// end, none past it).
    pub fn read(&mut self, id: u64, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut buf = Vec::new();
        let n = self.read_into(id, offset, len, &mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }

    /// [`Table::read`] into `buf`, which is grown to `len` bytes if it is
    /// shorter and never shrunk (so a buffer kept by the caller is zeroed
    /// once, not at every request): the bytes read are `buf[..n]`, `n`
    /// returned.
    pub fn read_into(
        &mut self,
        id: u64,
        offset: u64,
        len: usize,
        buf: &mut Vec<u8>,
    ) -> io::Result<usize> {
        let d = self.index(id)?;
        let size = self.devs[d].size;
        let n = usize::try_from(size.saturating_sub(offset))
            .unwrap_or(usize::MAX)
            .min(len);
        if n == 0 {
            return Ok(0);
        }
        if buf.len() < n {
            buf.resize(n, 0);
        }
        let out = &mut buf[..n];
        let (vgi, lv) = (self.devs[d].vg, self.devs[d].lv);
        if let Some(io) = self.devs[d].thin {
            self.thin_read(vgi, io, offset, out)?;
            return Ok(n);
        }
        if let Some(v) = &self.devs[d].view {
            v.view
                .read_at(offset, out)
                .map_err(cow_engine::Error::into_io)?;
            return Ok(n);
        }
        match self.devs[d].layer {
            Layer::Top => self.handle(d)?.read_at(offset, out)?,
            Layer::Real | Layer::Cow | Layer::Tpool => {
                let vg = &self.sys.vgs[vgi].vg;
                self.images(vgi)?
                    .read(vg, lv, offset, out)
                    .map_err(|e| e.into_io())?;
            }
        }
        Ok(n)
    }

    /// Writes `data` to device `id` at `offset`: the part before the end
    /// (a write at or past the end fails with ENOSPC). Returns the bytes
    /// written.
    pub fn write(&mut self, id: u64, offset: u64, data: &[u8]) -> io::Result<usize> {
        let d = self.index(id)?;
        let (vgi, lv) = (self.devs[d].vg, self.devs[d].lv);
        if let Some(c) = self.devs[d].view.as_mut() {
            let Some(mut w) = c.write.take() else {
                return Err(io::Error::from_raw_os_error(EROFS));
            };
            let n = write_span(self.devs[d].size, offset, data.len())?;
            let r = self.cache_write(vgi, &mut w, offset, &data[..n]);
            if let Some(c) = self.devs[d].view.as_mut() {
                c.write = Some(w);
            }
            for (i, other) in self.devs.iter_mut().enumerate() {
                if i != d && other.vg == vgi {
                    other.handle = None;
                }
            }
            return r.map(|()| n);
        }
        // The other devices of the VG see the change on their next request.
        for (i, other) in self.devs.iter_mut().enumerate() {
            if i != d && other.vg == vgi {
                other.handle = None;
            }
        }
        if let Some(io) = self.devs[d].thin {
            let size = self.devs[d].size;
            return self.thin_write(vgi, io, size, offset, data);
        }
        let result = match self.devs[d].layer {
            Layer::Top => {
                let h = self.handle(d)?;
                h.seek(SeekFrom::Start(offset))?;
                h.write(data)
            }
            Layer::Real | Layer::Cow | Layer::Tpool => {
                let n = write_span(self.devs[d].size, offset, data.len())?;
                if n == 0 {
                    return Ok(0);
                }
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

    /// Discards `len` bytes of device `id` at `offset` (cut at its end),
    /// with the kernel's answer for the device's table
    /// ([`LvHandle::discard_at`]): a linear LV and the hidden `-real` and
    /// `-cow` layers (linear targets) pass it to the PVs, whose range
    /// then reads as zeros; a thin LV unmaps the whole blocks it covers
    /// ([`super::thin::LivePool::discard_thin`]); the snapshot targets and
    /// a thin pool's own devices refuse it with
    /// EOPNOTSUPP; a merging snapshot's error target fails it with EIO.
    pub fn discard(&mut self, id: u64, offset: u64, len: u64) -> io::Result<()> {
        let d = self.index(id)?;
        // dm-cache and dm-writecache take discards (a discard bitset, a
        // writecache's entries freed): not simulated yet, so a cached
        // LV refuses them rather than answer as if they were done.
        if self.devs[d].view.is_some() {
            return Err(io::Error::from_raw_os_error(EOPNOTSUPP));
        }
        let (vgi, lv) = (self.devs[d].vg, self.devs[d].lv);
        // A thin LV unmaps the whole blocks discarded (dm-thin); a pool's
        // own device and `-tpool` are not simulated taking discards.
        match self.devs[d].thin {
            Some(super::thin::ThinIo::Thin { pool, id }) => {
                let size = self.devs[d].size;
                let p = self.pool_index(vgi, pool)?;
                let vg = &self.sys.vgs[vgi].vg;
                let images = self.images[vgi]
                    .as_mut()
                    .ok_or_else(|| io::Error::from_raw_os_error(EIO))?;
                return self.pools[p].discard_thin(images, vg, id, size, offset, len);
            }
            Some(super::thin::ThinIo::Pool { .. }) => {
                return Err(io::Error::from_raw_os_error(EOPNOTSUPP))
            }
            None => {}
        }
        match self.devs[d].layer {
            Layer::Tpool => return Err(io::Error::from_raw_os_error(EOPNOTSUPP)),
            Layer::Top => self.handle(d)?.discard_at(offset, len)?,
            Layer::Real | Layer::Cow => {
                let n = len.min(self.devs[d].size.saturating_sub(offset));
                if n == 0 {
                    return Ok(());
                }
                let n = usize::try_from(n).map_err(|_| io::Error::from_raw_os_error(EIO))?;
                let vg = &self.sys.vgs[vgi].vg;
                self.images(vgi)?
                    .discard(vg, lv, offset, n)
                    .map_err(|e| e.into_io())?;
            }
        }
        // The other devices of the VG read the stores again (a discard of
        // a `-cow` layer can wipe one).
        for (i, other) in self.devs.iter_mut().enumerate() {
            if i != d && other.vg == vgi {
                other.handle = None;
            }
        }
        Ok(())
    }

    /// Writes `data` at `offset` of a cached LV as [`CacheWrite`] says.
    fn cache_write(
        &mut self,
        vgi: usize,
        w: &mut CacheWrite,
        offset: u64,
        data: &[u8],
    ) -> io::Result<()> {
        let vg = &self.sys.vgs[vgi].vg;
        let bs = w.block.max(1);
        for (at, k, block, within) in block_pieces(offset, data.len(), bs) {
            let off = offset + at as u64;
            let piece = &data[at..at + k];
            let cached = w
                .map
                .binary_search_by_key(&block, |m| m.0)
                .ok()
                .map(|i| w.map[i].1);
            let images = self.images(vgi)?;
            match cached {
                Some(cb) => {
                    if w.writeback && !w.unclean {
                        let mut sb = [0u8; dm_pdata::pdata::block::BLOCK_SIZE];
                        images
                            .read(vg, w.metadata, 0, &mut sb)
                            .map_err(|e| e.into_io())?;
                        let changed = dm_pdata::cache::superblock::clear_clean_shutdown(&mut sb)
                            .map_err(|e| io::Error::other(e.to_string()))?;
                        if changed {
                            images
                                .write(vg, w.metadata, 0, &sb)
                                .map_err(|e| e.into_io())?;
                            for f in images.pvs.iter().flatten() {
                                f.sync_data()?;
                            }
                        }
                        w.unclean = true;
                    }
                    images
                        .write(vg, w.data, cb * bs + within, piece)
                        .map_err(|e| e.into_io())?;
                    if !w.writeback {
                        images
                            .write(vg, w.origin, off, piece)
                            .map_err(|e| e.into_io())?;
                    }
                }
                None => images
                    .write(vg, w.origin, off, piece)
                    .map_err(|e| e.into_io())?,
            }
        }
        Ok(())
    }

    /// True if device `id` takes discards (NBD's `NBD_FLAG_SEND_TRIM`):
    /// its table is linear or striped, or it is a thin LV of a pool not
    /// ignoring discards ([`Table::discard`]).
    pub fn takes_discards(&mut self, id: u64) -> bool {
        let Ok(d) = self.index(id) else { return false };
        if self.devs[d].view.is_some() {
            // Cached LVs: dm-cache's discard bitset is not simulated.
            return false;
        }
        match self.devs[d].thin {
            Some(super::thin::ThinIo::Thin { pool, .. }) => {
                let vgi = self.devs[d].vg;
                return self
                    .pool_index(vgi, pool)
                    .is_ok_and(|p| self.pools[p].takes_discards());
            }
            Some(super::thin::ThinIo::Pool { .. }) => return false,
            None => {}
        }
        match self.devs[d].layer {
            Layer::Real | Layer::Cow => true,
            Layer::Tpool => false,
            Layer::Top => self.handle(d).is_ok_and(|h| h.is_plain()),
        }
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
            let k = key(&self.sys.vgs[vgi].vg, cow);
            if self.told.contains(&k) {
                continue;
            }
            self.told.push(k);
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

    /// Makes what device `id` wrote durable (the block device's cache
    /// flush): the images of its VG are synced.
    pub fn flush(&mut self, id: u64) -> io::Result<()> {
        let d = self.index(id)?;
        // A flush to a thin device commits its pool (dm-thin commits
        // before completing a REQ_PREFLUSH bio).
        if self.devs[d].thin.is_some() {
            return self.commit_pool_of(d);
        }
        let vgi = self.devs[d].vg;
        for f in self.images(vgi)?.pvs.iter().flatten() {
            f.sync_data()?;
        }
        Ok(())
    }

    /// Commits every pool and syncs every image (before the kernel ends,
    /// or a command changes the images).
    pub fn flush_all(&mut self) -> io::Result<()> {
        self.commit_pools()?;
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

    /// The live pool `pool` of VG `vgi`.
    fn pool_index(&self, vgi: usize, pool: usize) -> io::Result<usize> {
        self.pools
            .iter()
            .position(|p| p.vg == vgi && p.pool == pool)
            .ok_or_else(|| io::Error::from_raw_os_error(EIO))
    }

    /// Reads a thin pool's device or a thin LV.
    fn thin_read(
        &mut self,
        vgi: usize,
        io: super::thin::ThinIo,
        offset: u64,
        buf: &mut [u8],
    ) -> io::Result<()> {
        use super::thin::ThinIo;
        let sys = self.sys;
        let vg = &sys.vgs[vgi].vg;
        let (ThinIo::Pool { pool, .. } | ThinIo::Thin { pool, .. }) = io;
        let p = self.pool_index(vgi, pool)?;
        let images = self.images[vgi]
            .as_ref()
            .ok_or_else(|| io::Error::from_raw_os_error(EIO))?;
        match io {
            ThinIo::Pool { .. } => self.pools[p].read_pool(images, vg, offset, buf),
            ThinIo::Thin { id, .. } => self.pools[p].read_thin(images, vg, id, offset, buf),
        }
    }

    /// Writes a thin pool's device or a thin LV of `size` bytes.
    fn thin_write(
        &mut self,
        vgi: usize,
        io: super::thin::ThinIo,
        size: u64,
        offset: u64,
        data: &[u8],
    ) -> io::Result<usize> {
        use super::thin::ThinIo;
        let sys = self.sys;
        let vg = &sys.vgs[vgi].vg;
        let (ThinIo::Pool { pool, .. } | ThinIo::Thin { pool, .. }) = io;
        let p = self.pool_index(vgi, pool)?;
        let images = self.images[vgi]
            .as_mut()
            .ok_or_else(|| io::Error::from_raw_os_error(EIO))?;
        match io {
            ThinIo::Pool { writable, .. } => {
                self.pools[p].write_pool(images, vg, writable, size, offset, data)
            }
            ThinIo::Thin { id, .. } => self.pools[p].write_thin(images, vg, id, size, offset, data),
        }
    }

    /// Commits the pool device `d` (an index) goes through.
    fn commit_pool_of(&mut self, d: usize) -> io::Result<()> {
        use super::thin::ThinIo;
        let Some(ThinIo::Pool { pool, .. } | ThinIo::Thin { pool, .. }) = self.devs[d].thin else {
            return Ok(());
        };
        let vgi = self.devs[d].vg;
        let p = self.pool_index(vgi, pool)?;
        let vg = &self.sys.vgs[vgi].vg;
        let images = self.images[vgi]
            .as_mut()
            .ok_or_else(|| io::Error::from_raw_os_error(EIO))?;
        self.pools[p].commit(images, vg)
    }

    /// Commits every pool's open transaction.
    pub fn commit_pools(&mut self) -> io::Result<()> {
        let sys = self.sys;
        for p in &mut self.pools {
            let vg = &sys.vgs[p.vg].vg;
            let Some(images) = self.images.get_mut(p.vg).and_then(Option::as_mut) else {
                continue;
            };
            p.commit(images, vg)?;
        }
        Ok(())
    }

    /// True if device `d` (an index) is a snapshot whose store is invalid.
    pub fn invalid(&mut self, d: usize) -> bool {
        self.devs[d].layer == Layer::Top
            && self.devs[d].thin.is_none()
            && self.handle(d).is_ok_and(|h| h.is_invalid_snapshot())
    }
}

/// `dmsetup table`'s lines of the devices named in `minors` (with those
/// numbers), by device name.
fn table_texts(sys: &System, minors: &[(String, u32)]) -> Result<BTreeMap<String, String>> {
    let mut buf = Vec::new();
    crate::dmsetup::run(
        sys,
        crate::dmsetup::Show::Table,
        &[],
        minors,
        &[],
        &mut buf,
        &mut io::sink(),
    )?;
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for l in String::from_utf8_lossy(&buf).lines() {
        if let Some((name, rest)) = l.split_once(": ") {
            let t = out.entry(name.to_owned()).or_default();
            t.push_str(rest);
            t.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {

    #[test]
    fn block_pieces_split_a_request_where_blocks_end() {
        let got: Vec<_> = super::block_pieces(1000, 9000, 4096).collect();
        assert_eq!(
            got,
            vec![(0, 3096, 0, 1000), (3096, 4096, 1, 0), (7192, 1808, 2, 0)]
        );
        assert_eq!(super::block_pieces(8192, 0, 4096).count(), 0);
        // Within one block, and a block size of 0 taken as 1.
        assert_eq!(
            super::block_pieces(10, 5, 4096).collect::<Vec<_>>(),
            vec![(0, 5, 0, 10)]
        );
        assert_eq!(super::block_pieces(3, 2, 0).count(), 2);
    }

    use super::Change;

    /// The VG metadata of testdata/kernel/thin-pool (its `vgcfgbackup`).
    const THIN_VG: &str = include_str!("../../../testdata/kernel/thin-pool/032.vgcfg.vg");

    fn roots_of(text: &str) -> Vec<String> {
        let t = lvm_meta::text::parse(text.as_bytes()).unwrap();
        let vg = lvm_meta::model::Vg::from_tree(&t).unwrap();
        super::roots(&vg).map(|i| vg.lvs[i].name.clone()).collect()
    }

    #[test]
    fn an_lv_flagged_to_skip_activation_is_no_root() {
        assert_eq!(roots_of(THIN_VG), ["pool", "thin1", "thin2", "snap"]);
        // The snapshot as `lvcreate -s VG/THIN` without -kn flags it.
        let skip = THIN_VG.replacen(
            "\t\t\tflags = []\n\t\t\tcreation_time = 1796244527",
            "\t\t\tflags = [\"ACTIVATION_SKIP\"]\n\t\t\tcreation_time = 1796244527",
            1,
        );
        assert_ne!(skip, THIN_VG);
        assert_eq!(roots_of(&skip), ["pool", "thin1", "thin2"]);
    }

    #[test]
    fn arguments_name_the_vg_and_lv_as_lvm2_reads_them() {
        let c = |a: &str| {
            let c = Change::of_arg(a, true);
            (c.vg, c.lv)
        };
        let vl = |v: &str, l: &str| (v.to_owned(), Some(l.to_owned()));
        assert_eq!(c("vg/lv"), vl("vg", "lv"));
        assert_eq!(c("/dev/vg/lv"), vl("vg", "lv"));
        assert_eq!(c("//dev//vg/lv"), vl("vg", "lv"));
        assert_eq!(c("/dev/mapper/my--vg-lv"), vl("my-vg", "lv"));
        assert_eq!(c("vg"), ("vg".to_owned(), None));
    }
}
