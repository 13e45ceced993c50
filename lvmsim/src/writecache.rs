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
use crate::seg_keys::{int, string, unknown_seg};
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

/// LV `lv` as an LV with a writecache, if it is one with valid keys.
pub fn writecache_seg(vg: &Vg, lv: usize) -> Option<WritecacheSeg> {
    let s = unknown_seg(vg, lv, |t| t == "writecache")?;
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
pub fn roles(vg: &Vg) -> Vec<Option<WritecacheRole>> {
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
