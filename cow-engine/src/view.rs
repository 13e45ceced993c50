//! What an LV shows: its raw segments, a snapshot (origin overlaid with the
//! exceptions of its COW store), or an origin under merge (the kernel
//! redirects chunks not yet merged to the merging snapshot's COW).
//!
//! The mapping from a byte to its source ([`Source`]) is computed from the
//! store alone; reading moves the bytes.

use crate::chunk_map::RunSource;
use crate::error::{SnapshotIo, StoreStep};
use crate::exception_store::Store;
use crate::lv_io::LvReader;
use crate::{Error, Result};
use lvm_meta::io::Image;
use lvm_meta::model::Vg;

/// Where a run of a view's bytes comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The origin's raw bytes at this offset.
    Origin(u64),
    /// The COW LV's bytes at this offset.
    Cow(u64),
}

/// A byte-addressable view of an LV.
pub trait View {
    /// Size in bytes.
    fn size(&self) -> u64;
    /// Fills `buf` from `offset` (inside the view).
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()>;
}

impl View for LvReader<'_> {
    fn size(&self) -> u64 {
        LvReader::size(self)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        LvReader::read_at(self, offset, buf)
    }
}

/// An origin overlaid with a COW store's exceptions.
pub struct Overlay<'a> {
    origin: LvReader<'a>,
    cow: LvReader<'a>,
    /// The loaded store.
    pub store: Store,
    size: u64,
}

impl Overlay<'_> {
    /// Where the byte at `offset` comes from, and how many bytes follow
    /// from the same source.
    pub fn map(&self, offset: u64) -> (Source, u64) {
        let cb = self.store.chunk_sectors * 512;
        let chunk = offset / cb;
        let within = offset % cb;
        let run = cb - within;
        match self.store.map.get(&chunk) {
            Some(new) => (Source::Cow(new * cb + within), run),
            None => (Source::Origin(offset), run),
        }
    }
}

impl View for Overlay<'_> {
    fn size(&self) -> u64 {
        self.size
    }
    /// Reads by runs, each straight into its place in `buf`: neighbouring
    /// chunks without an exception are one origin read, and exceptions
    /// whose COW chunks follow each other on the COW are one vectored COW
    /// read (whether or not their origin chunks are neighbours), see
    /// [`crate::chunk_map::ChunkMap::runs`]. Only the bytes shown are
    /// read, once.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let len = buf.len() as u64;
        if offset.checked_add(len).is_none_or(|e| e > self.size) {
            return Err(Error::ReadPastEnd {
                offset,
                len,
                size: self.size,
                view: true,
            });
        }
        let cb = self.store.chunk_sectors * 512;
        // COW pieces waiting to be read together: their first COW byte,
        // the COW byte after the last, and the parts of `buf`.
        let mut group: Vec<&mut [u8]> = Vec::new();
        let (mut group_at, mut group_end) = (0u64, 0u64);
        let mut rest = buf;
        for (start, n, source) in self.store.map.runs(offset, len, cb) {
            // OK to unwrap: n <= len = buf.len(), a usize.
            let (out, tail) = std::mem::take(&mut rest).split_at_mut(usize::try_from(n).unwrap());
            rest = tail;
            match source {
                // A snapshot can be longer than its origin is now; the
                // origin's reader fails past its end, as the kernel maps
                // those chunks to an error.
                RunSource::Origin => self.origin.read_at(offset + start, out)?,
                RunSource::Cow(at) => {
                    if !group.is_empty() && at != group_end {
                        self.cow.read_vectored_at(group_at, &mut group)?;
                        group.clear();
                    }
                    if group.is_empty() {
                        group_at = at;
                    }
                    group_end = at.saturating_add(n);
                    group.push(out);
                }
            }
        }
        if !group.is_empty() {
            self.cow.read_vectored_at(group_at, &mut group)?;
        }
        Ok(())
    }
}

fn raw<'a>(vg: &'a Vg, lv: usize, pvs: &[Option<&'a Image>]) -> Result<LvReader<'a>> {
    LvReader::new(vg, lv, pvs.to_vec())
}

/// Loads the COW store of LV `cow` (chunk size from the glue segment).
pub fn load_store(vg: &Vg, cow: usize, table_chunk: u64, pvs: &[Option<&Image>]) -> Result<Store> {
    load_store_with(vg, cow, table_chunk, pvs, false)
}

fn load_store_with(
    vg: &Vg,
    cow: usize,
    table_chunk: u64,
    pvs: &[Option<&Image>],
    forensic: bool,
) -> Result<Store> {
    let r = raw(vg, cow, pvs)?;
    let loaded = if forensic {
        Store::load_forensic(&r, table_chunk)
    } else {
        Store::load(&r, table_chunk)
    };
    loaded.map_err(|error| Error::Store {
        lv: format!("{}/{}", vg.name, vg.lvs[cow].name),
        offset: error.offset(),
        step: StoreStep::Load,
        error,
    })
}

/// Opens LV `lv` as `dd if=/dev/VG/LV` would read it after activation.
/// The view can be shared between threads (it only reads).
pub fn open<'a>(
    vg: &'a Vg,
    lv: usize,
    pvs: &[Option<&'a Image>],
) -> Result<Box<dyn View + Send + Sync + 'a>> {
    open_with(vg, lv, pvs, false)
}

/// [`open`], or with `force` a snapshot's view from whatever records its
/// store still holds even if it is invalid or merging (forensics: the
/// kernel would fail every read of an invalid snapshot).
pub fn open_with<'a>(
    vg: &'a Vg,
    lv: usize,
    pvs: &[Option<&'a Image>],
    force: bool,
) -> Result<Box<dyn View + Send + Sync + 'a>> {
    let name = |i: usize| format!("{}/{}", vg.name, vg.lvs[i].name);
    let role = vg.roles.get(lv).ok_or(Error::NoSuchLv { index: lv })?;
    if let Some(c) = role.cow_of {
        if c.merging && !force {
            return Err(Error::Merging { lv: name(lv) });
        }
        let store = load_store_with(vg, lv, c.chunk_size.0, pvs, force)?;
        if !store.header.is_valid() && !force {
            return Err(Error::SnapshotInvalid {
                lv: name(lv),
                io: SnapshotIo::View,
            });
        }
        let size = u64::from(c.glue_extents) * vg.extent_bytes();
        return Ok(Box::new(Overlay {
            origin: raw(vg, c.origin, pvs)?,
            cow: raw(vg, lv, pvs)?,
            store,
            size,
        }));
    }
    let merging = vg
        .roles
        .iter()
        .enumerate()
        .find_map(|(i, r)| match r.cow_of {
            Some(c) if c.origin == lv && c.merging => Some((i, c.chunk_size.0)),
            _ => None,
        });
    if let Some((cow, chunk)) = merging {
        let store = load_store(vg, cow, chunk, pvs)?;
        let origin = raw(vg, lv, pvs)?;
        if !store.header.is_valid() {
            // The kernel refuses to merge an invalid snapshot; the origin
            // keeps its own data.
            return Ok(Box::new(origin));
        }
        let size = origin.size();
        return Ok(Box::new(Overlay {
            origin,
            cow: raw(vg, cow, pvs)?,
            store,
            size,
        }));
    }
    Ok(Box::new(raw(vg, lv, pvs)?))
}
