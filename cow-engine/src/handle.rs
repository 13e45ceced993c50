//! An activated LV as a file: [`LvHandle`] implements [`Read`], [`Write`]
//! and [`Seek`] with the kernel's semantics, the way `/dev/VG/LV` behaves
//! after `vgchange -ay`.
//!
//! Opening a handle is the activation: every snapshot store of the LV's
//! origin is loaded (a never-activated store gets its header and first
//! area written, as the kernel's table load does). Then:
//!
//! - a plain LV reads and writes its segments;
//! - an origin with snapshots copies each old chunk into every valid
//!   snapshot lacking it before the write lands (a full snapshot is
//!   invalidated and the write still happens);
//! - a snapshot reads through its exceptions and writes into its COW (a
//!   full store invalidates the snapshot and fails the write with EIO);
//! - an origin whose snapshot is merging (`snapshot-merge`, merge not yet
//!   advanced) shows the merging snapshot's data; a write to a chunk still
//!   held by the merging store goes to that COW chunk, any other write goes
//!   to the origin with copy-on-write into the other snapshots
//!   (`snapshot_merge_map` in `drivers/md/dm-snap.c`);
//! - a merging snapshot's own device is the `error` target lvm2 loads:
//!   every read and write fails with EIO, as does every I/O of an invalid
//!   snapshot.
//!
//! A write that starts at or past the end fails with ENOSPC and one that
//! crosses the end is cut short there, as `blkdev_write_iter` does for a
//! block device; a read at the end returns 0 bytes.
//!
//! Dropping the handle is the deactivation: nothing is kept in memory that
//! is not already on the images.
//!
//! ```no_run
//! use cow_engine::blocks::Images;
//! use cow_engine::handle::LvHandle;
//! use lvm_meta::{io::Image, scan::System};
//! use std::io::{Read, Seek, SeekFrom, Write};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sys = System::scan(vec![Image::open("pv1.img")?])?;
//! let inst = sys.vg("vg").ok_or("no VG named vg")?;
//! let origin = inst.vg.lv_index("origin").ok_or("no LV named origin")?;
//! let images = Images::open_vg(&sys, inst, true)?;
//! let mut lv = LvHandle::open(&inst.vg, images, origin)?;
//! lv.seek(SeekFrom::Start(4096))?;
//! lv.write_all(b"new data")?; // the old chunk is copied to each snapshot first
//! let mut back = [0u8; 8];
//! lv.seek(SeekFrom::Start(4096))?;
//! lv.read_exact(&mut back)?;
//! # Ok(()) }
//! ```
//!
//! # Errors
//! [`LvHandle::open`] fails like activation: an unknown LV, a missing PV,
//! a store the kernel would refuse. I/O through the handle fails with the
//! errno the kernel gives (EIO, ENOSPC) or the image's I/O error.

use crate::blocks::{Images, LvSet};
use crate::engine::{origin_write, read_runs, snapshot_read, snapshot_write, DevSet, PStore, Snap};
use crate::{Error, Result};
use lvm_meta::io::WriteAt;
use lvm_meta::model::Vg;
use std::io::{self, Read, Seek, SeekFrom, Write};

/// `EIO`: the kernel's answer to I/O on an invalid or merging snapshot.
const EIO: i32 = 5;
/// `ENOSPC`: a write at or past the end of a block device.
const ENOSPC: i32 = 28;
/// `EOPNOTSUPP`: a discard on a device whose table does not take them.
const EOPNOTSUPP: i32 = 95;

/// `dmsetup status` numbers of a store: sectors allocated, total, metadata.
pub type Usage = (u64, u64, u64);

/// What the opened LV is, with the activated stores it needs.
enum Role {
    /// A linear or striped LV (or an origin without snapshots).
    Plain,
    /// An origin with its snapshots (invalid ones kept, and skipped).
    Origin { snaps: Vec<Snap> },
    /// A snapshot: its own store (`snaps[me]`) among all of its origin's.
    Snapshot {
        origin: usize,
        snaps: Vec<Snap>,
        me: usize,
    },
    /// An origin with a merging snapshot, and the origin's other snapshots.
    MergingOrigin { merging: PStore, others: Vec<Snap> },
    /// A merging snapshot: lvm2 loads the error target for it.
    Error,
}

/// An LV opened like `/dev/VG/LV` after activation.
pub struct LvHandle<'a, B: WriteAt> {
    set: LvSet<'a, B>,
    lv: usize,
    role: Role,
    size: u64,
    pos: u64,
}

fn errno(code: i32, what: String) -> io::Error {
    let e = io::Error::from_raw_os_error(code);
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// An engine error as the handle's I/O error: an image's own I/O error as
/// it is, anything else with the engine's message (and the [`Error`] kept
/// as the payload).
fn to_io(e: Error) -> io::Error {
    match e {
        Error::Io { source, .. } | Error::Meta(lvm_meta::Error::Io { source, .. }) => source,
        other => io::Error::other(other),
    }
}

impl<'a, B: WriteAt> LvHandle<'a, B> {
    /// Activates LV index `lv` of `vg` on `images` (one per [`Vg::pvs`]).
    pub fn open(vg: &'a Vg, images: Images<B>, lv: usize) -> Result<Self> {
        let role = vg.roles.get(lv).ok_or(Error::NoSuchLv { index: lv })?;
        let mut set = LvSet { vg, images };
        let snap_len = |glue_extents: u32| u64::from(glue_extents) * vg.extent_bytes();
        // The origin this LV belongs to, if any.
        let origin = match role.cow_of {
            Some(c) => Some(c.origin),
            None if !role.origin_of.is_empty() => Some(lv),
            None => None,
        };
        let mut snaps = Vec::new();
        let mut merging = None;
        let mut me = None;
        if let Some(o) = origin {
            for (j, r) in vg.roles.iter().enumerate() {
                let Some(c) = r.cow_of.filter(|c| c.origin == o) else {
                    continue;
                };
                let store = PStore::activate(&mut set, j, c.chunk_size.0)?;
                if c.merging {
                    merging = Some(store);
                } else {
                    if j == lv {
                        me = Some(snaps.len());
                    }
                    snaps.push(Snap {
                        store,
                        len: snap_len(c.glue_extents),
                    });
                }
            }
        }
        let (role, size) = match (role.cow_of, origin) {
            (Some(c), _) if c.merging => (Role::Error, snap_len(c.glue_extents)),
            (Some(c), Some(o)) => {
                let me = me.ok_or_else(|| Error::NoStore {
                    lv: vg.lvs[lv].name.clone(),
                })?;
                (
                    Role::Snapshot {
                        origin: o,
                        snaps,
                        me,
                    },
                    snap_len(c.glue_extents),
                )
            }
            (None, Some(_)) => {
                let size = set.size(lv);
                match merging {
                    Some(m) => (
                        Role::MergingOrigin {
                            merging: m,
                            others: snaps,
                        },
                        size,
                    ),
                    None => (Role::Origin { snaps }, size),
                }
            }
            _ => (Role::Plain, set.size(lv)),
        };
        Ok(LvHandle {
            set,
            lv,
            role,
            size,
            pos: 0,
        })
    }

    /// The LV's size in bytes (a snapshot's is its origin's size when it
    /// was taken).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// True if this is a snapshot whose store is invalid (every I/O fails).
    pub fn is_invalid_snapshot(&self) -> bool {
        matches!(&self.role, Role::Snapshot { snaps, me, .. } if !snaps[*me].store.valid)
    }

    /// `dmsetup status` numbers of every snapshot store the handle holds
    /// (COW LV index, allocated/total/metadata sectors; `None` if invalid).
    pub fn store_usage(&self) -> Vec<(usize, Option<Usage>)> {
        let one = |s: &PStore| (s.cow, s.valid.then(|| s.usage(&self.set)));
        match &self.role {
            Role::Origin { snaps } | Role::Snapshot { snaps, .. } => {
                snaps.iter().map(|s| one(&s.store)).collect()
            }
            Role::MergingOrigin { merging, others } => std::iter::once(one(merging))
                .chain(others.iter().map(|s| one(&s.store)))
                .collect(),
            Role::Plain | Role::Error => Vec::new(),
        }
    }

    /// The stores the handle's I/O invalidated, with the kernel's reason
    /// (COW LV index, why), in the order the handle holds them.
    pub fn invalidations(&self) -> Vec<(usize, crate::engine::Invalidation)> {
        let one = |s: &PStore| s.invalidated.map(|why| (s.cow, why));
        match &self.role {
            Role::Origin { snaps } | Role::Snapshot { snaps, .. } => {
                snaps.iter().filter_map(|s| one(&s.store)).collect()
            }
            Role::MergingOrigin { merging, others } => one(merging)
                .into_iter()
                .chain(others.iter().filter_map(|s| one(&s.store)))
                .collect(),
            Role::Plain | Role::Error => Vec::new(),
        }
    }

    /// Sends the events of every store the handle holds to `log` (for
    /// `--explain`).
    pub fn set_event_log(&mut self, log: &crate::engine::EventLog) {
        let stores: Vec<&mut PStore> = match &mut self.role {
            Role::Origin { snaps } | Role::Snapshot { snaps, .. } => {
                snaps.iter_mut().map(|s| &mut s.store).collect()
            }
            Role::MergingOrigin { merging, others } => std::iter::once(merging)
                .chain(others.iter_mut().map(|s| &mut s.store))
                .collect(),
            Role::Plain | Role::Error => Vec::new(),
        };
        for s in stores {
            s.events = Some(log.clone());
        }
    }

    /// Deactivates: gives the images back.
    pub fn into_images(self) -> Images<B> {
        self.set.images
    }

    /// The images, for syncing them to disk.
    pub fn images(&self) -> &Images<B> {
        &self.set.images
    }

    fn name(&self) -> String {
        format!("{}/{}", self.set.vg.name, self.set.vg.lvs[self.lv].name)
    }

    /// Reads `buf.len()` bytes at `offset`, which must lie inside the LV.
    pub fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        if offset
            .checked_add(buf.len() as u64)
            .is_none_or(|e| e > self.size)
        {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{}: {} bytes at {offset} run past the end ({} bytes)",
                    self.name(),
                    buf.len(),
                    self.size
                ),
            ));
        }
        let name = self.name();
        let lv = self.lv;
        match &mut self.role {
            Role::Plain | Role::Origin { .. } => self.set.read(lv, offset, buf).map_err(to_io),
            Role::Snapshot { origin, snaps, me } => {
                let s = &snaps[*me];
                if !s.store.valid {
                    return Err(errno(EIO, format!("{name}: invalid snapshot")));
                }
                snapshot_read(&mut self.set, *origin, s, offset, buf).map_err(to_io)
            }
            Role::MergingOrigin { merging, .. } => {
                merging_read(&mut self.set, lv, merging, offset, buf).map_err(to_io)
            }
            Role::Error => Err(errno(
                EIO,
                format!("{name}: merging snapshot (error target)"),
            )),
        }
    }

    /// Writes all of `data` at `offset` with the kernel's semantics. A
    /// write crossing the end writes what fits and then fails with ENOSPC.
    pub fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        let n = self.write_some(offset, data)?;
        if n < data.len() {
            return Err(errno(
                ENOSPC,
                format!(
                    "{}: write of {} bytes at {offset} stopped at the end ({} bytes)",
                    self.name(),
                    data.len(),
                    self.size
                ),
            ));
        }
        Ok(())
    }

    /// True for a linear or striped LV, or an origin without snapshots
    /// (lvm2 loads `linear` or `striped` for it, no snapshot target).
    pub fn is_plain(&self) -> bool {
        matches!(self.role, Role::Plain)
    }

    /// Discards `len` bytes at `offset` (cut at the end), with the
    /// kernel's answer for the table lvm2 loads for the LV:
    ///
    /// - a linear or striped LV (`linear_ctr`, `stripe_ctr` set
    ///   `num_discard_bios`) passes the discard to its PVs, whose range
    ///   then reads as zeros ([`Images::discard`]);
    /// - an origin with snapshots (`snapshot-origin`: `origin_ctr` sets no
    ///   `num_discard_bios`), a snapshot and a merging origin (`snapshot`,
    ///   `snapshot-merge`: `snapshot_ctr` sets it only with the
    ///   `discard_zeroes_cow` feature, which lvm2 never asks for) take no
    ///   discards: `dm_table_supports_discards` is false, the device has
    ///   no discard limits and the discard fails with EOPNOTSUPP, nothing
    ///   changed;
    /// - a merging snapshot (the `error` target: `io_err_ctr` takes
    ///   discards so as to fail them) fails it with EIO.
    ///
    /// All in drivers/md (dm-snap.c, dm-target.c, dm-table.c).
    pub fn discard_at(&mut self, offset: u64, len: u64) -> io::Result<()> {
        let name = self.name();
        let lv = self.lv;
        let len = len.min(self.size.saturating_sub(offset));
        match &self.role {
            Role::Plain => {
                if len == 0 {
                    return Ok(());
                }
                let n = usize::try_from(len).map_err(|_| errno(EOPNOTSUPP, name))?;
                self.set
                    .images
                    .discard(self.set.vg, lv, offset, n)
                    .map_err(to_io)
            }
            Role::Origin { .. } | Role::Snapshot { .. } | Role::MergingOrigin { .. } => Err(errno(
                EOPNOTSUPP,
                format!("{name}: the snapshot targets take no discards"),
            )),
            Role::Error => Err(errno(
                EIO,
                format!("{name}: merging snapshot (error target)"),
            )),
        }
    }

    /// One `write(2)`: the part of `data` that fits before the end.
    fn write_some(&mut self, offset: u64, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        if offset >= self.size {
            return Err(errno(
                ENOSPC,
                format!("{}: write at {offset}, at or past the end", self.name()),
            ));
        }
        let fits = usize::try_from(self.size - offset)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let data = &data[..fits];
        let name = self.name();
        let lv = self.lv;
        match &mut self.role {
            Role::Plain => self.set.write(lv, offset, data).map_err(to_io)?,
            Role::Origin { snaps } => {
                origin_write(&mut self.set, lv, snaps, offset, data).map_err(to_io)?
            }
            Role::Snapshot { origin, snaps, me } => {
                let s = &mut snaps[*me];
                if !s.store.valid {
                    return Err(errno(EIO, format!("{name}: invalid snapshot")));
                }
                snapshot_write(&mut self.set, *origin, s, offset, data).map_err(|e| {
                    if s.store.valid {
                        to_io(e)
                    } else {
                        errno(EIO, format!("{name}: snapshot full, invalidated"))
                    }
                })?
            }
            Role::MergingOrigin { merging, others } => {
                merging_write(&mut self.set, lv, merging, others, offset, data).map_err(to_io)?
            }
            Role::Error => {
                return Err(errno(
                    EIO,
                    format!("{name}: merging snapshot (error target)"),
                ))
            }
        }
        Ok(fits)
    }
}

/// `snapshot_merge_map` for a read: a chunk the merging store still holds
/// comes from its COW, any other from the origin.
fn merging_read(
    devs: &mut dyn DevSet,
    origin: usize,
    m: &PStore,
    offset: u64,
    buf: &mut [u8],
) -> Result<()> {
    if !m.valid {
        return devs.read(origin, offset, buf);
    }
    read_runs(devs, origin, m, offset, buf)
}

/// `snapshot_merge_map` for a write: to the COW chunk if the merging store
/// still holds the chunk; otherwise `do_origin` (copy-on-write into the
/// other snapshots, never into the merging one) and the origin.
fn merging_write(
    devs: &mut dyn DevSet,
    origin: usize,
    m: &PStore,
    others: &mut [Snap],
    offset: u64,
    data: &[u8],
) -> Result<()> {
    if !m.valid {
        // A merging snapshot that is invalid sends everything to the origin.
        return origin_write(devs, origin, others, offset, data);
    }
    let cb = m.cs * 512;
    let mut done = 0usize;
    while done < data.len() {
        let at = offset + done as u64;
        let n = usize::try_from(cb - at % cb)
            .unwrap_or(usize::MAX)
            .min(data.len() - done);
        let piece = &data[done..done + n];
        match m.map.get(&(at / cb)) {
            Some(new) => devs.write(m.cow, new * cb + at % cb, piece)?,
            None => origin_write(devs, origin, others, at, piece)?,
        }
        done += n;
    }
    Ok(())
}

impl<B: WriteAt> Read for LvHandle<'_, B> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.size.saturating_sub(self.pos);
        let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        if n == 0 {
            return Ok(0);
        }
        self.read_at(self.pos, &mut buf[..n])?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<B: WriteAt> Write for LvHandle<'_, B> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.write_some(self.pos, buf)?;
        self.pos += n as u64;
        Ok(n)
    }
    /// Every write is already on the images when `write` returns.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<B: WriteAt> Seek for LvHandle<'_, B> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.size.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let p = target.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek to a negative or overflowing position",
            )
        })?;
        self.pos = p;
        Ok(p)
    }
}
