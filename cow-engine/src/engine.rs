//! The kernel's snapshot semantics on devices lvmsim can write: the
//! persistent store as `dm-snap-persistent.c` keeps it in memory and on
//! disk, origin writes with copy-on-write into every snapshot, snapshot
//! writes, invalidation on overflow, and merge batch by batch.
//!
//! Write order per request, as in the kernel: the old chunks' data is
//! copied to the COW, then the exceptions commit as one batch (when an
//! area fills, the next area is zeroed and the full one written; the area
//! is written again once the last exception of the request is recorded),
//! and only then the origin changes.

use crate::chunk_map::{ChunkMap, RunSource};
use crate::disk_header::{DiskHeader, Header, SNAPSHOT_DISK_VERSION};
use crate::error::{SnapshotIo, StoreStep};
use crate::exception_store::{
    area_location, Store, StoreError, DISK_EXCEPTION_SIZE, MAX_CHUNK_SECTORS,
};
use crate::{Error, Result};
use byteorder::{ByteOrder, LittleEndian as LE};
use lvm_meta::io::{ReadAt, WriteAt};
use lvm_meta::Corruption;

/// A set of devices addressed by number (an LV index, or a test's
/// vector), each read and written in place like a [`WriteAt`]; errors
/// name the device.
///
/// A vector of [`WriteAt`] devices is one (device `d` is element `d`);
/// [`crate::blocks::LvSet`] is the LVs of a VG.
pub trait DevSet {
    /// Size of device `d` in bytes.
    fn size(&self, d: usize) -> u64;
    /// Fills `buf` from device `d` at `offset`.
    fn read(&self, d: usize, offset: u64, buf: &mut [u8]) -> Result<()>;
    /// Writes `data` to device `d` at `offset` (an error past the end).
    fn write(&mut self, d: usize, offset: u64, data: &[u8]) -> Result<()>;
    /// Copies `len` bytes at `from_offset` of device `from` to `to_offset`
    /// of device `to` (the two ranges do not overlap), as reads and writes
    /// in pieces would; a set of files lets the kernel copy.
    fn copy(
        &mut self,
        from: usize,
        from_offset: u64,
        to: usize,
        to_offset: u64,
        len: u64,
    ) -> Result<()> {
        let mut buf = Vec::new();
        for (at, n) in split_at(0, len, MERGE_COPY_PIECE) {
            buf.resize(n as usize, 0);
            self.read(from, from_offset + at, &mut buf)?;
            self.write(to, to_offset + at, &buf)?;
        }
        Ok(())
    }
}

impl<D: WriteAt> DevSet for Vec<D> {
    fn size(&self, d: usize) -> u64 {
        self[d].size().unwrap_or(0)
    }
    fn read(&self, d: usize, offset: u64, buf: &mut [u8]) -> Result<()> {
        self[d]
            .read_exact_at(buf, offset)
            .map_err(|source| io_err(d, offset, source))
    }
    fn write(&mut self, d: usize, offset: u64, data: &[u8]) -> Result<()> {
        self[d]
            .write_all_at(data, offset)
            .map_err(|source| io_err(d, offset, source))
    }
    fn copy(
        &mut self,
        from: usize,
        from_offset: u64,
        to: usize,
        to_offset: u64,
        len: u64,
    ) -> Result<()> {
        let done = if from == to {
            self[to].copy_within_at(from_offset, to_offset, len)
        } else {
            let (src, dst) = two(self, from, to);
            dst.copy_from_at(src, from_offset, to_offset, len)
        };
        done.map_err(|source| io_err(to, to_offset, source))
    }
}

/// Elements `a` and `b` (different) of `v`, the first to read, the second
/// to write.
pub(crate) fn two<T>(v: &mut [T], a: usize, b: usize) -> (&T, &mut T) {
    if a < b {
        let (lo, hi) = v.split_at_mut(b);
        (&lo[a], &mut hi[0])
    } else {
        let (lo, hi) = v.split_at_mut(a);
        (&hi[0], &mut lo[b])
    }
}

/// Device `d` of a [`DevSet`] as a [`ReadAt`] (what the store loader
/// reads): the set's errors become [`std::io::Error`]s that keep them
/// (see [`Error::into_io`]).
pub struct Device<'a> {
    set: &'a dyn DevSet,
    d: usize,
}

impl<'a> Device<'a> {
    /// Device `d` of `set`.
    pub fn new(set: &'a dyn DevSet, d: usize) -> Self {
        Device { set, d }
    }
}

impl ReadAt for Device<'_> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        self.set.read(self.d, offset, buf).map_err(Error::into_io)
    }
    fn size(&self) -> std::io::Result<u64> {
        Ok(self.set.size(self.d))
    }
}

fn io_err(d: usize, offset: u64, source: std::io::Error) -> Error {
    Error::Io {
        path: format!("device {d}"),
        offset: Some(offset),
        what: format!("access at {offset}"),
        source,
    }
}

/// How the engine names a device in its errors.
fn device(d: usize) -> String {
    format!("device {d}")
}

/// A fault of COW device `cow` found by the engine itself (a table chunk
/// size it cannot use, a record it cannot merge).
fn cow_fault(cow: usize, m: String) -> Error {
    lvm_meta::Error::corrupt(
        None,
        lvm_meta::Structure::CowDevice(cow),
        0,
        Corruption::Model(m),
    )
    .into()
}

/// Why the kernel invalidated a loaded snapshot (the error it passes to
/// `__invalidate_snapshot`, which logs it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalidation {
    /// No free chunk for a new exception (`-ENOMEM`): the store is full.
    Full,
    /// A write of the store failed (`-EIO`), e.g. zeroing the next
    /// metadata area past the COW's end.
    Io,
}

impl Invalidation {
    /// The line the kernel logs (dmesg), as in the corpus's boot records.
    pub fn kernel_message(self) -> &'static str {
        match self {
            Invalidation::Full => {
                "device-mapper: snapshots: Invalidating snapshot: Unable to allocate exception."
            }
            Invalidation::Io => {
                "device-mapper: snapshots: Invalidating snapshot: Error reading/writing."
            }
        }
    }
}

/// One step the kernel takes in a store, as `--explain` tells it. `cow`
/// is the COW device of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Origin chunk `old` is saved in COW chunk `new`, record `index` of
    /// area `area` (the data is copied, or written by the snapshot write).
    Exception {
        /// COW device.
        cow: usize,
        /// Origin chunk.
        old: u64,
        /// COW chunk.
        new: u64,
        /// Area.
        area: u64,
        /// Record index in the area.
        index: u64,
    },
    /// Area `area` is full: the area after it, at chunk `next`, is zeroed.
    AreaFull {
        /// COW device.
        cow: usize,
        /// The full area.
        area: u64,
        /// Chunk of the next area.
        next: u64,
    },
    /// Area `area` is written with `records` records.
    Commit {
        /// COW device.
        cow: usize,
        /// Area.
        area: u64,
        /// Records it holds.
        records: u64,
    },
    /// No free chunk for origin chunk `chunk`: the next exception needs
    /// `needs` chunks, the COW has `has`.
    NoRoom {
        /// COW device.
        cow: usize,
        /// The origin chunk.
        chunk: u64,
        /// Chunks needed.
        needs: u64,
        /// Whole chunks in the COW.
        has: u64,
    },
    /// The store is invalidated (the header's valid field is cleared).
    Invalidated {
        /// COW device.
        cow: usize,
        /// Why.
        why: Invalidation,
    },
    /// A new store is made on a COW with a zero magic: the header (magic,
    /// valid 1, version, chunk size) is written to chunk 0 and area 0, at
    /// chunk 1, is written empty.
    NewStore {
        /// COW device.
        cow: usize,
        /// The header's chunk size in sectors.
        chunk_size: u64,
        /// The header's version.
        version: u32,
    },
    /// One merge batch: COW chunks `new..new+n` are copied to origin
    /// chunks `old..old+n`, then records `first..first+n` of area `area`
    /// are cleared and the area is written.
    MergeBatch {
        /// COW device.
        cow: usize,
        /// First origin chunk of the run.
        old: u64,
        /// First COW chunk of the run.
        new: u64,
        /// Chunks in the run.
        n: u64,
        /// The area holding the records.
        area: u64,
        /// First record cleared.
        first: u64,
    },
}

/// Where a store's [`Event`]s go, in the order they happen (shared by the
/// stores of one origin, so their events interleave as the kernel's do).
pub type EventLog = std::sync::Arc<std::sync::Mutex<Vec<Event>>>;

/// One persistent exception store, with the kernel's in-memory state.
#[derive(Debug, Clone)]
pub struct PStore {
    /// The COW device.
    pub cow: usize,
    /// Chunk size in sectors.
    pub cs: u64,
    /// False once invalidated.
    pub valid: bool,
    /// Why the store was invalidated since it was activated (`None` if it
    /// was not, or was loaded invalid).
    pub invalidated: Option<Invalidation>,
    /// Next COW chunk to allocate.
    pub next_free: u64,
    /// The area being filled.
    pub current_area: u64,
    /// Records in the current area.
    pub current_committed: u64,
    area: Vec<u8>,
    /// Exceptions prepared and not yet committed (the kernel's
    /// `pending_count`): the area is written when the last of them
    /// commits, or when it fills.
    pending: u64,
    /// Origin chunk → COW chunk.
    pub map: ChunkMap,
    /// Where events go (`None`: nowhere).
    pub events: Option<EventLog>,
}

impl PStore {
    fn cb(&self) -> u64 {
        self.cs * 512
    }
    fn e(&self) -> u64 {
        self.cb() / DISK_EXCEPTION_SIZE
    }

    /// Activates the store on COW device `cow` like the kernel's table load:
    /// a zero magic makes a new store (header and a zeroed first area are
    /// written); otherwise the store is loaded and the on-disk chunk size wins.
    ///
    /// # Errors
    /// [`Error::Store`] for a store the kernel would refuse, with the byte
    /// offset of what is wrong; I/O errors of the device.
    pub fn activate(devs: &mut dyn DevSet, cow: usize, table_cs: u64) -> Result<PStore> {
        Self::activate_logged(devs, cow, table_cs, None)
    }

    /// [`PStore::activate`] whose events (a new store's making, and every
    /// later one) go to `events`.
    ///
    /// # Errors
    /// As [`PStore::activate`].
    pub fn activate_logged(
        devs: &mut dyn DevSet,
        cow: usize,
        table_cs: u64,
        events: Option<&EventLog>,
    ) -> Result<PStore> {
        let bad = |m: String| cow_fault(cow, m);
        let store_err = |error: StoreError| Error::Store {
            lv: device(cow),
            offset: error.offset(),
            step: StoreStep::Activate,
            error,
        };
        let mut first = [0u8; 16];
        devs.read(cow, 0, &mut first)?;
        let header = Header::parse(&first).map_err(|e| store_err(e.into()))?;
        let mut s = PStore {
            cow,
            cs: table_cs,
            valid: true,
            invalidated: None,
            next_free: 2,
            current_area: 0,
            current_committed: 0,
            area: Vec::new(),
            pending: 0,
            map: ChunkMap::default(),
            events: events.cloned(),
        };
        match header {
            Header::New => {
                if !table_cs.is_power_of_two() {
                    return Err(bad(format!("chunk size {table_cs} is not a power of two")));
                }
                if table_cs > MAX_CHUNK_SECTORS {
                    return Err(bad(format!(
                        "chunk size {table_cs} sectors is over lvmsim's limit of {MAX_CHUNK_SECTORS}"
                    )));
                }
                let hdr = DiskHeader {
                    valid: 1,
                    version: SNAPSHOT_DISK_VERSION,
                    chunk_size: table_cs as u32,
                };
                s.area = vec![0u8; s.cb() as usize];
                devs.write(cow, 0, &hdr.to_chunk(s.cb() as usize))?;
                devs.write(cow, s.cb(), &s.area)?;
                s.emit(Event::NewStore {
                    cow,
                    chunk_size: table_cs,
                    version: SNAPSHOT_DISK_VERSION,
                });
            }
            Header::Store(h) => {
                // The same loader as the read side; then the kernel keeps the
                // current area's raw bytes as its in-memory buffer.
                let loaded = Store::load(&Device::new(&*devs, cow), table_cs).map_err(store_err)?;
                s.cs = u64::from(h.chunk_size);
                s.area = vec![0u8; s.cb() as usize];
                s.valid = loaded.header.is_valid();
                if s.valid {
                    s.next_free = loaded.next_free;
                    s.current_area = loaded.current_area;
                    s.current_committed = loaded.current_committed;
                    s.map = loaded.map;
                    let loc = area_location(s.cs, s.current_area) * s.cb();
                    devs.read(cow, loc, &mut s.area)?;
                }
            }
        }
        Ok(s)
    }

    /// `dmsetup status` numbers: allocated, total and metadata sectors.
    pub fn usage(&self, devs: &dyn DevSet) -> (u64, u64, u64) {
        (
            self.next_free * self.cs,
            devs.size(self.cow) / 512,
            (self.current_area + 2) * self.cs,
        )
    }

    fn emit(&self, e: Event) {
        if let Some(log) = &self.events {
            // A poisoned log only loses explanations.
            if let Ok(mut v) = log.lock() {
                v.push(e);
            }
        }
    }

    /// `persistent_prepare_exception` for origin chunk `chunk`: the next
    /// COW chunk, or None when full.
    fn prepare(&mut self, devs: &dyn DevSet, chunk: u64) -> Option<u64> {
        let cow_sectors = devs.size(self.cow) / 512;
        if cow_sectors < (self.next_free + 1) * self.cs {
            self.emit(Event::NoRoom {
                cow: self.cow,
                chunk,
                needs: self.next_free + 1,
                has: cow_sectors / self.cs,
            });
            return None;
        }
        let new = self.next_free;
        self.next_free += 1;
        self.pending += 1;
        if self.next_free % (self.e() + 1) == 1 {
            self.next_free += 1;
        }
        Some(new)
    }

    /// `persistent_commit_exception` for one exception: record it; then,
    /// if it was the last exception in flight or the area is full, zero
    /// the next area (when full) and write the area, which holds the
    /// records of every exception committed since the last write (one
    /// batch). A failed write invalidates the store; a store invalidated
    /// while the batch was in flight writes no area, so the batch's
    /// records never reach the disk (`ps->valid` is 0 by then).
    fn commit(&mut self, devs: &mut dyn DevSet, old: u64, new: u64) -> Result<()> {
        self.pending = self.pending.saturating_sub(1);
        let at = (self.current_committed * DISK_EXCEPTION_SIZE) as usize;
        LE::write_u64(&mut self.area[at..], old);
        LE::write_u64(&mut self.area[at + 8..], new);
        self.current_committed += 1;
        self.emit(Event::Exception {
            cow: self.cow,
            old,
            new,
            area: self.current_area,
            index: self.current_committed - 1,
        });
        let full = self.current_committed == self.e();
        if full {
            self.emit(Event::AreaFull {
                cow: self.cow,
                area: self.current_area,
                next: area_location(self.cs, self.current_area + 1),
            });
            let next = area_location(self.cs, self.current_area + 1) * self.cb();
            let zero = vec![0u8; self.cb() as usize];
            if devs.write(self.cow, next, &zero).is_err() {
                self.invalidate(devs, Invalidation::Io)?;
            }
        }
        if self.valid && (full || self.pending == 0) {
            self.emit(Event::Commit {
                cow: self.cow,
                area: self.current_area,
                records: self.current_committed,
            });
            let loc = area_location(self.cs, self.current_area) * self.cb();
            let area = self.area.clone();
            if devs.write(self.cow, loc, &area).is_err() {
                self.invalidate(devs, Invalidation::Io)?;
            }
        }
        if full {
            self.current_committed = 0;
            self.current_area += 1;
            self.area.iter_mut().for_each(|b| *b = 0);
        }
        if self.valid {
            self.map.insert(old, new);
        }
        Ok(())
    }

    /// Rewrites the header with valid = 0 (`persistent_drop_snapshot`),
    /// noting `why`.
    pub fn invalidate(&mut self, devs: &mut dyn DevSet, why: Invalidation) -> Result<()> {
        self.valid = false;
        self.invalidated = Some(why);
        self.emit(Event::Invalidated { cow: self.cow, why });
        let hdr = DiskHeader {
            valid: 0,
            version: SNAPSHOT_DISK_VERSION,
            chunk_size: self.cs as u32,
        };
        devs.write(self.cow, 0, &hdr.to_chunk(self.cb() as usize))
    }
}

/// A snapshot registered on an origin.
#[derive(Debug, Clone)]
pub struct Snap {
    /// Its store.
    pub store: PStore,
    /// The snapshot's length in bytes (the origin's size at creation).
    pub len: u64,
}

/// Copies origin chunk `chunk` (cut at the origin's end) to COW chunk `new`.
fn copy_chunk(
    devs: &mut dyn DevSet,
    origin: usize,
    s: &PStore,
    chunk: u64,
    new: u64,
) -> Result<()> {
    let cb = s.cb();
    let start = chunk * cb;
    let n = cb.min(devs.size(origin).saturating_sub(start));
    let mut buf = vec![0u8; n as usize];
    devs.read(origin, start, &mut buf)?;
    devs.write(s.cow, new * cb, &buf)
}

/// Copy-on-write into every snapshot for the origin byte at `offset` (the
/// part of an origin write that precedes the data write).
fn cow_for(devs: &mut dyn DevSet, origin: usize, snaps: &mut [Snap], offset: u64) -> Result<()> {
    for s in snaps.iter_mut() {
        if !s.store.valid || offset >= s.len {
            continue;
        }
        let chunk = offset / s.store.cb();
        if s.store.map.contains_key(&chunk) {
            continue;
        }
        match s.store.prepare(devs, chunk) {
            None => s.store.invalidate(devs, Invalidation::Full)?,
            Some(new) => {
                copy_chunk(devs, origin, &s.store, chunk, new)?;
                s.store.commit(devs, chunk, new)?;
            }
        }
    }
    Ok(())
}

/// The pieces of `offset..offset + len` cut at multiples of `unit`, lazily
/// (a merge run can span gigabytes).
fn split_at(offset: u64, len: u64, unit: u64) -> impl Iterator<Item = (u64, u64)> {
    let end = offset.saturating_add(len);
    let mut at = offset;
    std::iter::from_fn(move || {
        if at >= end {
            return None;
        }
        let next = (at / unit).saturating_add(1).saturating_mul(unit);
        let n = next.min(end) - at;
        let piece = (at, n);
        at += n;
        Some(piece)
    })
}

/// Largest piece of a merge run copied at once through memory: a run of
/// consecutive exceptions can cover a whole area (with 512 KiB chunks,
/// 32768 chunks or 16 GiB), so it is streamed, as the kernel's kcopyd
/// does, in pieces that stay in the CPU's cache.
const MERGE_COPY_PIECE: u64 = 128 << 10;

/// A write to the origin, as one request: each piece first copies the
/// old chunk into every valid snapshot lacking it (invalidating a full
/// one); the exceptions of the whole request are in flight together, so
/// each store commits them as one batch (`persistent_commit_exception`
/// writes the area once none is left in flight, or when it fills), and
/// only then is the data written. A store that overflows in the middle of
/// the request is invalidated before its batch commits: the chunks
/// already copied stay on its COW, their records never reach the disk.
pub fn origin_write(
    devs: &mut dyn DevSet,
    origin: usize,
    snaps: &mut [Snap],
    offset: u64,
    data: &[u8],
) -> Result<()> {
    let unit = snaps
        .iter()
        .filter(|s| s.store.valid)
        .map(|s| s.store.cb())
        .min()
        .unwrap_or(u64::MAX / 2);
    // Per snapshot, the exceptions in flight: (origin chunk, COW chunk).
    let mut batches: Vec<Vec<(u64, u64)>> = vec![Vec::new(); snaps.len()];
    for (at, _) in split_at(offset, data.len() as u64, unit) {
        for (s, batch) in snaps.iter_mut().zip(&mut batches) {
            if !s.store.valid || at >= s.len {
                continue;
            }
            let chunk = at / s.store.cb();
            // Pieces come in order: a chunk met again is the last one.
            if s.store.map.contains_key(&chunk) || batch.last().is_some_and(|(c, _)| *c == chunk) {
                continue;
            }
            match s.store.prepare(devs, chunk) {
                None => s.store.invalidate(devs, Invalidation::Full)?,
                Some(new) => {
                    copy_chunk(devs, origin, &s.store, chunk, new)?;
                    batch.push((chunk, new));
                }
            }
        }
    }
    for (s, batch) in snaps.iter_mut().zip(batches) {
        for (chunk, new) in batch {
            s.store.commit(devs, chunk, new)?;
        }
    }
    devs.write(origin, offset, data)
}

/// A write to a snapshot, as one request: every chunk it needs is
/// prepared before any commits (the kernel's exceptions in flight), so
/// their records reach the disk as one batch. A whole-chunk piece becomes
/// the chunk's copy at once (`start_full_bio`); a partial one copies the
/// origin chunk, and its data follows the commit (`pending_complete`).
/// Fails (and invalidates) when the store is full, as the kernel fails
/// the bio; the pieces already in flight then commit into an invalid
/// store, which writes no area: their data copies are on the COW, their
/// records are not, and their partial pieces are not written.
pub fn snapshot_write(
    devs: &mut dyn DevSet,
    origin: usize,
    s: &mut Snap,
    offset: u64,
    data: &[u8],
) -> Result<()> {
    if !s.store.valid {
        return Err(Error::SnapshotInvalid {
            lv: device(s.store.cow),
            io: SnapshotIo::Write,
        });
    }
    let cb = s.store.cb();
    let mut done = 0usize;
    let mut batch: Vec<InFlight<'_>> = Vec::new();
    let mut full = None;
    for (at, n) in split_at(offset, data.len() as u64, cb) {
        let piece = &data[done..done + n as usize];
        done += n as usize;
        let chunk = at / cb;
        let within = at % cb;
        if let Some(new) = s.store.map.get(&chunk) {
            devs.write(s.store.cow, new * cb + within, piece)?;
            continue;
        }
        let Some(new) = s.store.prepare(devs, chunk) else {
            s.store.invalidate(devs, Invalidation::Full)?;
            full = Some(chunk);
            break;
        };
        if n == cb {
            devs.write(s.store.cow, new * cb, piece)?;
            batch.push((chunk, new, None));
        } else {
            copy_chunk(devs, origin, &s.store, chunk, new)?;
            batch.push((chunk, new, Some((within, piece))));
        }
    }
    for (chunk, new, _) in &batch {
        s.store.commit(devs, *chunk, *new)?;
    }
    if let Some(chunk) = full {
        return Err(Error::SnapshotFull {
            lv: device(s.store.cow),
            chunk,
        });
    }
    if !s.store.valid {
        // The batch's commit failed (an I/O error): its bios fail.
        return Err(Error::SnapshotInvalid {
            lv: device(s.store.cow),
            io: SnapshotIo::Write,
        });
    }
    for (_, new, partial) in batch {
        if let Some((within, piece)) = partial {
            devs.write(s.store.cow, new * cb + within, piece)?;
        }
    }
    Ok(())
}

/// An exception of a snapshot write in flight: origin chunk, COW chunk,
/// and the partial piece (offset in the chunk, data) written after the
/// commit.
type InFlight<'a> = (u64, u64, Option<(u64, &'a [u8])>);

/// Reads a snapshot's view.
pub fn snapshot_read(
    devs: &mut dyn DevSet,
    origin: usize,
    s: &Snap,
    offset: u64,
    buf: &mut [u8],
) -> Result<()> {
    if !s.store.valid {
        return Err(Error::SnapshotInvalid {
            lv: device(s.store.cow),
            io: SnapshotIo::Read,
        });
    }
    read_runs(devs, origin, &s.store, offset, buf)
}

/// Reads `buf.len()` bytes at `offset` of an origin overlaid with store
/// `m`'s exceptions, run by run straight into `buf`
/// ([`ChunkMap::runs`]): a snapshot's view, or an origin under merge.
pub(crate) fn read_runs(
    devs: &dyn DevSet,
    origin: usize,
    m: &PStore,
    offset: u64,
    buf: &mut [u8],
) -> Result<()> {
    for (start, n, source) in m.map.runs(offset, buf.len() as u64, m.cb()) {
        // OK to unwrap: start + n <= buf.len(), a usize.
        let from = usize::try_from(start).unwrap();
        let out = &mut buf[from..from + usize::try_from(n).unwrap()];
        match source {
            RunSource::Origin => devs.read(origin, offset + start, out)?,
            RunSource::Cow(at) => devs.read(m.cow, at, out)?,
        }
    }
    Ok(())
}

/// One merge batch (`persistent_prepare_merge`, the copy, and
/// `persistent_commit_merge`): the trailing run of consecutive records of
/// the current area is copied back to the origin, after copy-on-write into
/// the `others`; then the records are cleared and the area rewritten.
/// Returns false when nothing was left to merge.
pub fn merge_step(
    devs: &mut dyn DevSet,
    origin: usize,
    m: &mut PStore,
    others: &mut [Snap],
) -> Result<bool> {
    if !m.valid {
        return Ok(false);
    }
    let e = m.e();
    let cb = m.cb();
    if m.current_committed == 0 {
        if m.current_area == 0 {
            return Ok(false);
        }
        m.current_area -= 1;
        let loc = area_location(m.cs, m.current_area) * cb;
        let mut area = vec![0u8; cb as usize];
        devs.read(m.cow, loc, &mut area)?;
        m.area = area;
        m.current_committed = e;
    }
    let rec = |a: &[u8], j: u64| {
        let at = (j * DISK_EXCEPTION_SIZE) as usize;
        (LE::read_u64(&a[at..]), LE::read_u64(&a[at + 8..]))
    };
    let (last_old, last_new) = rec(&m.area, m.current_committed - 1);
    let mut n = 1u64;
    while n < m.current_committed {
        let (o, w) = rec(&m.area, m.current_committed - 1 - n);
        if last_old.checked_sub(n) != Some(o) || last_new.checked_sub(n) != Some(w) {
            break;
        }
        n += 1;
    }
    // The run is last_old-(n-1) ..= last_old (checked above); a hostile
    // old_chunk can still put it past any device's end.
    let past = || {
        cow_fault(
            m.cow,
            format!("merge of exception {last_old} -> {last_new}: chunk offset overflows"),
        )
    };
    let dest = (last_old - (n - 1)).checked_mul(cb).ok_or_else(past)?;
    let src = (last_new - (n - 1)).checked_mul(cb).ok_or_else(past)?;
    let len = (n * cb).min(devs.size(origin).saturating_sub(dest));
    // The other snapshots keep the origin's old data first.
    let unit = others
        .iter()
        .filter(|s| s.store.valid)
        .map(|s| s.store.cb())
        .min();
    if let Some(unit) = unit {
        for (at, _) in split_at(dest, len, unit) {
            cow_for(devs, origin, others, at)?;
        }
    }
    devs.copy(m.cow, src, origin, dest, len)?;
    let from = ((m.current_committed - n) * DISK_EXCEPTION_SIZE) as usize;
    let to = (m.current_committed * DISK_EXCEPTION_SIZE) as usize;
    m.area[from..to].iter_mut().for_each(|b| *b = 0);
    let loc = area_location(m.cs, m.current_area) * cb;
    let area = m.area.clone();
    devs.write(m.cow, loc, &area)?;
    m.current_committed -= n;
    m.next_free = area_location(m.cs, m.current_area) + m.current_committed + 1;
    m.emit(Event::MergeBatch {
        cow: m.cow,
        old: last_old - (n - 1),
        new: last_new - (n - 1),
        n,
        area: m.current_area,
        first: m.current_committed,
    });
    for k in 0..n {
        m.map.remove(&(last_old - k));
    }
    Ok(true)
}

/// Merges until the store is empty, or `limit` batches (an interruption).
/// Returns the number of batches done.
pub fn merge(
    devs: &mut dyn DevSet,
    origin: usize,
    m: &mut PStore,
    others: &mut [Snap],
    limit: Option<usize>,
) -> Result<usize> {
    let mut done = 0;
    while limit.is_none_or(|l| done < l) && merge_step(devs, origin, m, others)? {
        done += 1;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CB: usize = 4096;

    fn devs(origin_chunks: usize, cow_chunks: usize) -> Vec<Vec<u8>> {
        let mut o = vec![0u8; origin_chunks * CB];
        for (i, b) in o.iter_mut().enumerate() {
            *b = (i / 512) as u8 ^ 0x5a;
        }
        vec![o, vec![0u8; cow_chunks * CB]]
    }

    #[test]
    fn spec_worked_example_origin_write() {
        // Spec 2.10: write to origin sector 100 (chunk 12) of a fresh store.
        let mut d = devs(64, 64);
        let log = EventLog::default();
        let mut s = Snap {
            store: PStore::activate_logged(&mut d, 1, 8, Some(&log)).unwrap(),
            len: 64 * CB as u64,
        };
        assert_eq!(
            *log.lock().unwrap(),
            [Event::NewStore {
                cow: 1,
                chunk_size: 8,
                version: 1
            }]
        );
        assert_eq!(s.store.usage(&d), (16, 512, 16));
        let before: Vec<u8> = d[0][12 * CB..13 * CB].to_vec();
        origin_write(
            &mut d,
            0,
            std::slice::from_mut(&mut s),
            100 * 512,
            &[7u8; 512],
        )
        .unwrap();
        assert_eq!(
            &d[1][2 * CB..3 * CB],
            &before[..],
            "old chunk copied to COW chunk 2"
        );
        assert_eq!(
            &d[1][CB..CB + 16],
            &[12, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]
        );
        assert!(d[1][CB + 16..2 * CB].iter().all(|&b| b == 0));
        assert_eq!(s.store.usage(&d), (24, 512, 16));
        // Reloading gives the same state.
        let again = PStore::activate(&mut d, 1, 8).unwrap();
        assert_eq!((again.next_free, again.map.get(&12)), (3, Some(2)));
    }

    #[test]
    fn spec_worked_example_merge() {
        // Spec 4.6: records (5,2), (6,3), (9,4) merge in two batches.
        let mut d = devs(16, 16);
        let mut s = Snap {
            store: PStore::activate(&mut d, 1, 8).unwrap(),
            len: 16 * CB as u64,
        };
        for c in [5u64, 6, 9] {
            origin_write(
                &mut d,
                0,
                std::slice::from_mut(&mut s),
                c * CB as u64,
                &[c as u8; 8],
            )
            .unwrap();
        }
        let view: Vec<u8> = {
            let mut v = vec![0u8; 16 * CB];
            snapshot_read(&mut d, 0, &s, 0, &mut v).unwrap();
            v
        };
        let log = EventLog::default();
        let mut m = PStore::activate_logged(&mut d, 1, 8, Some(&log)).unwrap();
        assert!(merge_step(&mut d, 0, &mut m, &mut []).unwrap());
        assert_eq!(m.next_free, 4);
        assert!(merge_step(&mut d, 0, &mut m, &mut []).unwrap());
        assert_eq!(m.next_free, 2);
        assert!(!merge_step(&mut d, 0, &mut m, &mut []).unwrap());
        let batch = |old, new, n, first| Event::MergeBatch {
            cow: 1,
            old,
            new,
            n,
            area: 0,
            first,
        };
        assert_eq!(
            *log.lock().unwrap(),
            [batch(9, 4, 1, 2), batch(5, 2, 2, 0)],
            "spec 4.6: chunk 9 alone, then 5..6"
        );
        assert_eq!(m.usage(&d), (16, 128, 16));
        assert_eq!(d[0], view, "the origin now holds the snapshot's data");
        assert!(d[1][CB..2 * CB].iter().all(|&b| b == 0), "area 0 cleared");
    }

    #[test]
    fn merging_an_exception_of_a_huge_chunk_is_an_error() {
        // Found reviewing the merge for the exception_store fuzz target: a
        // record for origin chunk u64::MAX made the merge's destination
        // offset overflow.
        let mut d = devs(8, 8);
        let mut s = PStore::activate(&mut d, 1, 8).unwrap();
        origin_write(
            &mut d,
            0,
            std::slice::from_mut(&mut Snap {
                store: s.clone(),
                len: 8 * CB as u64,
            }),
            0,
            &[1u8; 512],
        )
        .unwrap();
        LE::write_u64(&mut d[1][CB..], u64::MAX);
        s = PStore::activate(&mut d, 1, 8).unwrap();
        let err = merge_step(&mut d, 0, &mut s, &mut []).unwrap_err();
        assert!(err.to_string().contains("overflows"), "{err}");
    }

    #[test]
    fn a_new_store_with_a_huge_table_chunk_is_an_error() {
        let mut d = devs(8, 8);
        let err = PStore::activate(&mut d, 1, 1 << 40).unwrap_err();
        assert!(err.to_string().contains("over lvmsim's limit"), "{err}");
        assert!(d[1].iter().all(|&b| b == 0), "nothing written");
    }

    #[test]
    fn a_full_snapshot_is_snapshot_full_then_invalid_for_reads_and_writes() {
        // Header, area, one data chunk: the first snapshot write takes the
        // data chunk, the second finds no room.
        let mut d = devs(8, 3);
        let mut s = Snap {
            store: PStore::activate(&mut d, 1, 8).unwrap(),
            len: 8 * CB as u64,
        };
        snapshot_write(&mut d, 0, &mut s, 0, &[1u8; 512]).unwrap();
        let e = snapshot_write(&mut d, 0, &mut s, 3 * CB as u64, &[2u8; 512]).unwrap_err();
        assert!(
            matches!(&e, Error::SnapshotFull { lv, chunk: 3 } if lv == "device 1"),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "the snapshot is full: the write fails and the snapshot is invalidated"
        );
        assert!(!s.store.valid);
        let e = snapshot_read(&mut d, 0, &s, 0, &mut [0u8; 512]).unwrap_err();
        assert!(
            matches!(
                &e,
                Error::SnapshotInvalid {
                    io: SnapshotIo::Read,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(e.to_string(), "the snapshot is invalid: reads fail");
        let e = snapshot_write(&mut d, 0, &mut s, 0, &[3u8; 512]).unwrap_err();
        assert!(
            matches!(
                &e,
                Error::SnapshotInvalid {
                    io: SnapshotIo::Write,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(e.to_string(), "the snapshot is invalid: writes fail");
        assert_eq!(e.class(), lvm_meta::ErrorClass::Usage);
    }

    #[test]
    fn a_corrupt_store_is_a_store_error_at_the_bad_field_or_record() {
        let mut d = devs(8, 8);
        PStore::activate(&mut d, 1, 8).unwrap();
        // version (byte 8) is 2.
        let mut bad = d.clone();
        bad[1][8] = 2;
        let e = PStore::activate(&mut bad, 1, 8).unwrap_err();
        assert!(
            matches!(
                &e,
                Error::Store {
                    lv,
                    offset: 8,
                    step: StoreStep::Activate,
                    error: StoreError::Header(crate::disk_header::HeaderError::BadVersion(2)),
                } if lv == "device 1"
            ),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "COW device 1 at 0: COW header: version is 2, expected 1"
        );
        assert_eq!(e.class(), lvm_meta::ErrorClass::Corrupt);
        // Record 1 of area 0 (chunk 1) points past the 8-chunk COW.
        let mut bad = d.clone();
        let rec = CB + 16;
        LE::write_u64(&mut bad[1][CB..], 5);
        LE::write_u64(&mut bad[1][CB + 8..], 2);
        LE::write_u64(&mut bad[1][rec..], 6);
        LE::write_u64(&mut bad[1][rec + 8..], 8);
        let e = PStore::activate(&mut bad, 1, 8).unwrap_err();
        assert!(
            matches!(
                &e,
                Error::Store {
                    offset,
                    error: StoreError::ExceptionPastEnd { index: 1, new_chunk: 8, .. },
                    ..
                } if *offset == rec as u64
            ),
            "{e:?}"
        );
    }

    #[test]
    fn a_failed_area_read_keeps_the_io_error_kind() {
        // A device that fails reads of the area chunk, as a bad sector
        // would (if its flag is set: the COW, not the origin).
        struct BadArea(Vec<u8>, bool);
        impl ReadAt for BadArea {
            fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
                if self.1 && offset == CB as u64 {
                    return Err(std::io::Error::from_raw_os_error(5));
                }
                self.0.read_exact_at(buf, offset)
            }
            fn size(&self) -> std::io::Result<u64> {
                ReadAt::size(&self.0)
            }
        }
        impl WriteAt for BadArea {
            fn write_all_at(&mut self, data: &[u8], offset: u64) -> std::io::Result<()> {
                self.0.write_all_at(data, offset)
            }
        }
        let mut d = devs(8, 8);
        PStore::activate(&mut d, 1, 8).unwrap();
        let mut bad: Vec<BadArea> = d
            .into_iter()
            .enumerate()
            .map(|(i, v)| BadArea(v, i == 1))
            .collect();
        let e = PStore::activate(&mut bad, 1, 8).unwrap_err();
        let Error::Store {
            offset,
            error: StoreError::Io { source, .. },
            ..
        } = &e
        else {
            panic!("{e:?}");
        };
        assert_eq!((*offset, source.raw_os_error()), (CB as u64, None));
        assert_eq!(source.kind(), std::io::Error::from_raw_os_error(5).kind());
        assert_eq!(e.io_error().map(|e| e.kind()), Some(source.kind()));
        assert_eq!(e.class(), lvm_meta::ErrorClass::Io);
        assert_eq!(
            e.to_string(),
            "COW device 1 at 0: reading the COW: device 1: access at 4096: \
             Input/output error (os error 5)"
        );
    }

    #[test]
    fn exact_full_condition() {
        // Three chunks: header, area, one data chunk; the second exception
        // finds the store full and invalidates it; the origin write proceeds.
        let mut d = devs(8, 3);
        let mut s = Snap {
            store: PStore::activate(&mut d, 1, 8).unwrap(),
            len: 8 * CB as u64,
        };
        origin_write(&mut d, 0, std::slice::from_mut(&mut s), 0, &[1u8; 512]).unwrap();
        assert!(s.store.valid);
        origin_write(
            &mut d,
            0,
            std::slice::from_mut(&mut s),
            CB as u64,
            &[2u8; 512],
        )
        .unwrap();
        assert!(!s.store.valid);
        assert_eq!(
            &d[1][4..8],
            &[0, 0, 0, 0],
            "header rewritten with valid = 0"
        );
        assert_eq!(&d[0][CB..CB + 512], &[2u8; 512][..]);
    }
}
