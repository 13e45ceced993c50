//! LVs with a writecache (dm-writecache), read side: the `writecache`
//! segment of the VG metadata, the cachevol read through
//! [`dm_pdata::writecache`], and the LV read as the kernel's `writecache`
//! target reads it.
//!
//! lvm2 stores such an LV as a `writecache` segment naming the cachevol
//! (`writecache`, `CACHEVOL_cvol`, a hidden linear LV that is the whole
//! cache device) and the hidden origin (`origin`, `LV_wcorig`), with the
//! block size (`writecache_block_size`, bytes) and the settings given to
//! `--cachesettings`.
//!
//! A read of a block the cache holds is served from the cachevol (every
//! block in a writecache is dirty until written back, and written-back
//! blocks leave the cache); every other block comes from the origin.
//! `lvmsim cat --uncached` ([`crate::data::open_view_uncached`]) reads the
//! origin alone.

use crate::error::{Error, Result};
use crate::seg_keys::{any_unknown_seg, int, string, unknown_seg};
use crate::thin::LvSource;
use cow_engine::lv_io::LvReader;
use dm_pdata::writecache::Writecache;
use lvm_meta::io::Image;
use lvm_meta::model::Vg;
use lvm_meta::text::{Lookup, Node, Value};

/// A `writecache` segment's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WritecacheSeg {
    /// `writecache`: index of the cachevol LV (`_cvol`).
    pub cachevol: usize,
    /// `origin`: index of the origin LV (`_wcorig`).
    pub origin: usize,
    /// `writecache_block_size` in bytes (absent: lvm2's 4096).
    pub block_size: Option<u64>,
    /// The other keys (`--cachesettings`: `high_watermark`, ...) as
    /// `KEY=VALUE`, in the metadata's order (`cache_settings`).
    pub settings: Vec<String>,
}

/// The segment keys that are not settings.
const KEYS: &[&str] = &[
    "start_extent",
    "extent_count",
    "type",
    "writecache",
    "origin",
    "writecache_block_size",
];

/// lvm2's segment type of an LV with a writecache.
const WRITECACHE_TYPE: &str = "writecache";

/// LV `lv` as an LV with a writecache, if it is one with valid keys.
pub fn writecache_seg(vg: &Vg, lv: usize) -> Option<WritecacheSeg> {
    let s = unknown_seg(vg, lv, |t| t == WRITECACHE_TYPE)?;
    let settings = s
        .nodes()
        .iter()
        .filter_map(|n| match n {
            Node::Setting { key, value } if !KEYS.contains(&key.as_str()) => match value {
                Value::Int(v) => Some(format!("{key}={v}")),
                Value::Str(v) => Some(format!("{key}={v}")),
                _ => None,
            },
            _ => None,
        })
        .collect();
    Some(WritecacheSeg {
        cachevol: vg.lv_index(string(&s, "writecache")?)?,
        origin: vg.lv_index(string(&s, "origin")?)?,
        block_size: int(&s, "writecache_block_size"),
        settings,
    })
}

/// What an LV is to a writecache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WritecacheRole {
    /// An LV with a writecache.
    Cached(WritecacheSeg),
    /// The cachevol (`_cvol`) of LV `.0`.
    Cachevol(usize),
    /// The origin (`_wcorig`) of LV `.0`.
    Origin(usize),
}

/// Every LV's part in a writecache, by LV index (one pass over the VG).
///
/// Empty (no allocation, no walk beyond a look at the segment types) when
/// no LV has a writecache segment: read it with `get`, a missing entry is
/// no role.
pub fn roles(vg: &Vg) -> Vec<Option<WritecacheRole>> {
    if !any_unknown_seg(vg, |t| t == WRITECACHE_TYPE) {
        return Vec::new();
    }
    let mut out = vec![None; vg.lvs.len()];
    for i in 0..vg.lvs.len() {
        if let Some(w) = writecache_seg(vg, i) {
            if let Some(o) = out.get_mut(w.origin) {
                *o = Some(WritecacheRole::Origin(i));
            }
            if let Some(c) = out.get_mut(w.cachevol) {
                *c = Some(WritecacheRole::Cachevol(i));
            }
            out[i] = Some(WritecacheRole::Cached(w));
        }
    }
    out
}

/// An LV with a writecache: the cachevol's entries resolved once, then
/// reads served from the cachevol or the origin.
pub struct WritecacheView<'a> {
    /// The segment's keys.
    pub seg: WritecacheSeg,
    /// The cache device as the kernel loads it (`None`: never formatted,
    /// the cache holds nothing).
    pub cache: Option<Writecache>,
    cachevol: LvReader<'a>,
    origin: LvReader<'a>,
    size: u64,
}

impl<'a> WritecacheView<'a> {
    /// Opens LV `lv` of `vg`, or `None` if it has no writecache. The
    /// cache device's block size must be the segment's; a committed block
    /// that does not start on a block boundary is refused (the kernel
    /// fails reads that reach it).
    pub fn open(
        vg: &'a Vg,
        lv: usize,
        pvs: &[Option<&'a Image>],
    ) -> Result<Option<WritecacheView<'a>>> {
        let Some(seg) = writecache_seg(vg, lv) else {
            return Ok(None);
        };
        let name = format!("{}/{}", vg.name, vg.lvs[lv].name);
        let cachevol = LvReader::new(vg, seg.cachevol, pvs.to_vec())?;
        let src = LvSource::new(LvReader::new(vg, seg.cachevol, pvs.to_vec())?);
        let cache = Writecache::read(&src).map_err(|source| Error::Writecache {
            lv: name.clone(),
            source,
        })?;
        if let Some(c) = &cache {
            let bs = u64::from(c.superblock.block_size);
            if bs != seg.block_size.unwrap_or(4096) {
                return Err(Error::Refused(format!(
                    "{name}: the writecache superblock's block size is {bs} bytes, the VG metadata says {}",
                    seg.block_size.unwrap_or(4096)
                )));
            }
            if let Some(b) = c
                .blocks
                .iter()
                .find(|b| b.original_sector % c.block_sectors() != 0)
            {
                return Err(Error::Refused(format!(
                    "{name}: writecache entry {} holds origin sector {}, not a multiple of the {}-sector block",
                    b.index,
                    b.original_sector,
                    c.block_sectors()
                )));
            }
        }
        let origin = LvReader::new(vg, seg.origin, pvs.to_vec())?;
        let size = vg.lv_extents(&vg.lvs[lv]).saturating_mul(vg.extent_bytes());
        Ok(Some(WritecacheView {
            seg,
            cache,
            cachevol,
            origin,
            size,
        }))
    }
}

impl cow_engine::view::View for WritecacheView<'_> {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, mut offset: u64, mut buf: &mut [u8]) -> cow_engine::Result<()> {
        let len = buf.len() as u64;
        if offset.checked_add(len).is_none_or(|e| e > self.size) {
            return Err(cow_engine::Error::ReadPastEnd {
                offset,
                len,
                size: self.size,
                view: true,
            });
        }
        let Some(c) = &self.cache else {
            return self.origin.read_at(offset, buf);
        };
        let bs = u64::from(c.superblock.block_size);
        while !buf.is_empty() {
            let within = offset % bs;
            let sector = (offset - within) / 512;
            let (n, from) = match c.lookup(sector) {
                Some(b) => (bs - within, Some(c.block_offset(b.index) + within)),
                None => {
                    // Up to the next cached block: one origin read.
                    let next = c.next_from(sector).map_or(u64::MAX, |b| b.original_sector);
                    (next.saturating_mul(512).saturating_sub(offset), None)
                }
            };
            let n = usize::try_from(n).unwrap_or(usize::MAX).min(buf.len());
            let (head, rest) = buf.split_at_mut(n);
            match from {
                Some(at) => self.cachevol.read_at(at, head)?,
                None => self.origin.read_at(offset, head)?,
            }
            buf = rest;
            offset += n as u64;
        }
        Ok(())
    }
}

// ------------------------------------------------------------------------
// The `writecache` target as lvm2 loads it and the kernel reports it.

/// The settings lvm2 passes as optional arguments with a value, in the
/// order it writes them to the table line.
const TABLE_SETTINGS: &[&str] = &[
    "high_watermark",
    "low_watermark",
    "writeback_jobs",
    "autocommit_blocks",
    "autocommit_time",
];

fn dm_seg(vg: &Vg, lv: usize) -> Result<WritecacheSeg> {
    writecache_seg(vg, lv).ok_or_else(|| {
        Error::Refused(format!(
            "{}/{} is not an LV with a writecache lvmsim can read",
            vg.name, vg.lvs[lv].name
        ))
    })
}

/// The devices under LV `lv` in lvm2's creation order (the cachevol,
/// then the origin: the numbers a fresh `vgchange -ay` gave them in the
/// corpus's writecache record), each an LV index.
///
/// # Errors
/// [`Error::Refused`] if `lv` has no writecache lvmsim can read.
pub fn dm_parts(vg: &Vg, lv: usize) -> Result<[usize; 2]> {
    let w = dm_seg(vg, lv)?;
    Ok([w.cachevol, w.origin])
}

/// The `writecache` table line of LV `lv` after `writecache`, given the
/// numbers of its origin and cachevol devices: `s ORIGIN CACHE
/// BLOCK_BYTES N ARGS...` (`s`: the cache is an SSD, not persistent
/// memory; the settings with their values in lvm2's order).
///
/// # Errors
/// [`Error::Refused`] for a setting lvmsim does not print yet (the
/// flags `fua`, `nofua`, `cleaner`, `metadata_only`, `pause_writeback`,
/// `max_age`, whose lines no kernel record shows).
pub fn dm_table(vg: &Vg, lv: usize, origin: &str, cache: &str) -> Result<String> {
    let w = dm_seg(vg, lv)?;
    let mut args: Vec<String> = Vec::new();
    for s in &w.settings {
        let key = s.split('=').next().unwrap_or_default();
        if !TABLE_SETTINGS.contains(&key) {
            return Err(Error::Refused(format!(
                "{}/{}: lvmsim's dmsetup does not print the writecache setting {key} yet",
                vg.name, vg.lvs[lv].name
            )));
        }
    }
    for key in TABLE_SETTINGS {
        let prefix = format!("{key}=");
        if let Some(v) = w.settings.iter().find_map(|s| s.strip_prefix(&prefix)) {
            args.push((*key).to_owned());
            args.push(v.to_owned());
        }
    }
    let mut line = format!(
        "s {origin} {cache} {} {}",
        w.block_size.unwrap_or(4096),
        args.len()
    );
    for a in args {
        line.push(' ');
        line.push_str(&a);
    }
    Ok(line)
}

/// The `writecache` status line of LV `lv` (after `writecache`) right
/// after a fresh activation, as the corpus's boot-2 record shows it: no
/// error, the cache blocks, the free ones (those no committed entry
/// holds), no block under writeback, and the ten statistics counters
/// (kept in memory only) at zero. A cache device never formatted is
/// formatted by the load: all its blocks free.
///
/// # Errors
/// The cachevol cannot be read or holds a bad superblock.
pub fn dm_status(vg: &Vg, lv: usize, pvs: &[Option<&Image>]) -> Result<String> {
    let w = dm_seg(vg, lv)?;
    let name = format!("{}/{}", vg.name, vg.lvs[lv].name);
    let view = WritecacheView::open(vg, lv, pvs)?
        .ok_or_else(|| Error::Refused(format!("{name} has no writecache")))?;
    let (blocks, free) = match &view.cache {
        Some(c) => (
            c.superblock.n_blocks,
            c.superblock.n_blocks.saturating_sub(c.blocks.len() as u64),
        ),
        None => {
            let bs = u32::try_from(w.block_size.unwrap_or(4096)).unwrap_or(0);
            let n =
                dm_pdata::writecache::blocks_for(view.cachevol.size(), bs).ok_or_else(|| {
                    Error::Refused(format!(
                        "{name}: no {bs}-byte writecache block fits on the cachevol"
                    ))
                })?;
            (n, n)
        }
    };
    Ok(format!("0 {blocks} {free} 0 0 0 0 0 0 0 0 0 0 0"))
}
