//! Cached LVs (dm-cache), read side: the `cache` and `cache-pool`
//! segments of the VG metadata, the pool's metadata LV read through
//! [`dm_pdata::cache`], and cached LVs read as the kernel's `cache` target
//! reads them.
//!
//! lvm2 stores a cached LV as a `cache` segment naming its cache pool
//! (`cache_pool`) and the hidden origin (`origin`, `LV_corig`), and the
//! pool as a `cache-pool` segment naming its data LV (`data`,
//! `POOL_cdata`) and metadata LV (`metadata`, `POOL_cmeta`) with the block
//! size (`chunk_size`), the mode and the policy. Version-2 metadata makes
//! the segment type `cache-pool+METADATA_FORMAT`.
//!
//! A read of a block the cache holds is served from the cache data LV,
//! whether the block is dirty or not (a clean block equals the origin's);
//! every other block comes from the origin. `lvmsim cat --uncached`
//! ([`crate::data::open_view_uncached`]) reads the origin alone: what lies
//! on the slow device whatever the cache holds.

use crate::error::{Error, Result};
use crate::seg_keys::{any_unknown_seg, int, string, unknown_seg};
use crate::thin::LvSource;
use cow_engine::lv_io::LvReader;
use dm_pdata::cache::metadata::CacheMetadata;
use dm_pdata::pdata::block::MetadataDev;
use lvm_meta::io::Image;
use lvm_meta::model::Vg;

/// A `cache` segment's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSeg {
    /// `cache_pool`: index of the cache pool LV.
    pub pool: usize,
    /// `origin`: index of the origin LV (`_corig`).
    pub origin: usize,
}

/// A `cache-pool` segment's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachePoolSeg {
    /// `data`: index of the data LV (`_cdata`).
    pub data: usize,
    /// `metadata`: index of the metadata LV (`_cmeta`).
    pub metadata: usize,
    /// `chunk_size` in sectors: the cache block size.
    pub chunk_size: u64,
    /// `metadata_format` (1 or 2; absent before lvm2 knew format 2).
    pub metadata_format: Option<u64>,
    /// `cache_mode` (`writethrough`, `writeback`, `passthrough`).
    pub cache_mode: Option<String>,
    /// `policy` (`smq`, `mq`, `cleaner`).
    pub policy: Option<String>,
}

/// The segment type without lvm2's `+FLAG` suffixes.
fn base_type(type_name: &str) -> &str {
    type_name.split('+').next().unwrap_or(type_name)
}

/// lvm2's segment type of a cached LV.
const CACHE_TYPE: &str = "cache";
/// lvm2's segment type of a cache pool.
const POOL_TYPE: &str = "cache-pool";

/// LV `lv` as a cached LV, if it is one with valid keys.
pub fn cache_seg(vg: &Vg, lv: usize) -> Option<CacheSeg> {
    let s = unknown_seg(vg, lv, |t| base_type(t) == CACHE_TYPE)?;
    Some(CacheSeg {
        pool: vg.lv_index(string(&s, "cache_pool")?)?,
        origin: vg.lv_index(string(&s, "origin")?)?,
    })
}

/// LV `lv` as a cache pool, if it is one with valid keys.
pub fn pool_seg(vg: &Vg, lv: usize) -> Option<CachePoolSeg> {
    let s = unknown_seg(vg, lv, |t| base_type(t) == POOL_TYPE)?;
    Some(CachePoolSeg {
        data: vg.lv_index(string(&s, "data")?)?,
        metadata: vg.lv_index(string(&s, "metadata")?)?,
        chunk_size: int(&s, "chunk_size")?,
        metadata_format: int(&s, "metadata_format"),
        cache_mode: string(&s, "cache_mode").map(str::to_owned),
        policy: string(&s, "policy").map(str::to_owned),
    })
}

/// The pool keys of cached LV `lv`.
pub fn pool_seg_of(vg: &Vg, lv: usize) -> Option<CachePoolSeg> {
    pool_seg(vg, cache_seg(vg, lv)?.pool)
}

/// What an LV is to a cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheRole {
    /// A cached LV.
    Cached(CacheSeg),
    /// A cache pool.
    Pool(CachePoolSeg),
    /// The data LV (`_cdata`) of cache pool `.0`.
    Data(usize),
    /// The metadata LV (`_cmeta`) of cache pool `.0`.
    Metadata(usize),
    /// The origin (`_corig`) of cached LV `.0`.
    Origin(usize),
}

/// Every LV's part in a cache, by LV index (one pass over the VG).
///
/// Empty (no allocation, no walk beyond a look at the segment types) when
/// no LV has a cache or cache-pool segment: read it with `get`, a missing
/// entry is no role.
pub fn roles(vg: &Vg) -> Vec<Option<CacheRole>> {
    if !any_unknown_seg(vg, |t| matches!(base_type(t), CACHE_TYPE | POOL_TYPE)) {
        return Vec::new();
    }
    let mut out = vec![None; vg.lvs.len()];
    for i in 0..vg.lvs.len() {
        if let Some(c) = cache_seg(vg, i) {
            if let Some(o) = out.get_mut(c.origin) {
                *o = Some(CacheRole::Origin(i));
            }
            out[i] = Some(CacheRole::Cached(c));
        } else if let Some(p) = pool_seg(vg, i) {
            if let Some(d) = out.get_mut(p.data) {
                *d = Some(CacheRole::Data(i));
            }
            if let Some(m) = out.get_mut(p.metadata) {
                *m = Some(CacheRole::Metadata(i));
            }
            out[i] = Some(CacheRole::Pool(p));
        }
    }
    out
}

/// LV `lv`'s part in a cache.
pub fn role(vg: &Vg, lv: usize) -> Option<CacheRole> {
    roles(vg).get(lv).cloned().flatten()
}

fn meta_err(pool: &str, source: dm_pdata::Error) -> Error {
    Error::CacheMetadata {
        pool: pool.to_owned(),
        source,
    }
}

/// A cache pool's metadata, read from its metadata LV.
pub struct CachePool<'a> {
    /// The pool's keys.
    pub seg: CachePoolSeg,
    /// The metadata (`None`: never formatted, the cache holds nothing).
    pub meta: Option<CacheMetadata>,
    /// The data LV (`_cdata`).
    data: LvReader<'a>,
    /// The metadata LV's size in bytes.
    pub metadata_bytes: u64,
    name: String,
}

impl<'a> CachePool<'a> {
    /// Opens cache pool `pool` of `vg` on `pvs` and reads its metadata;
    /// the metadata's block size must be the pool's `chunk_size`.
    pub fn open(vg: &'a Vg, pool: usize, pvs: &[Option<&'a Image>]) -> Result<CachePool<'a>> {
        let name = format!("{}/{}", vg.name, vg.lvs[pool].name);
        let seg = pool_seg(vg, pool)
            .ok_or_else(|| Error::Refused(format!("{name} is not a cache pool lvmsim can read")))?;
        let meta_lv = LvReader::new(vg, seg.metadata, pvs.to_vec())?;
        let metadata_bytes = meta_lv.size();
        let dev = MetadataDev::new(LvSource::new(meta_lv)).map_err(|e| meta_err(&name, e))?;
        let meta = CacheMetadata::read(&dev).map_err(|e| meta_err(&name, e))?;
        if let Some(m) = &meta {
            let bs = u64::from(m.superblock.data_block_size);
            if bs != seg.chunk_size {
                return Err(Error::Refused(format!(
                    "{name}: the cache metadata's block size is {bs} sectors, the VG metadata says {}",
                    seg.chunk_size
                )));
            }
        }
        let data = LvReader::new(vg, seg.data, pvs.to_vec())?;
        Ok(CachePool {
            seg,
            meta,
            data,
            metadata_bytes,
            name,
        })
    }

    /// The cache block size in bytes.
    pub fn block_bytes(&self) -> u64 {
        self.seg.chunk_size.saturating_mul(512)
    }

    /// The pool as VG/LV.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// A cached LV's contents: the mapping resolved once (origin block →
/// cache block), then reads served from the cache data LV or the origin.
pub struct CacheView<'a> {
    /// The cache pool, its metadata read.
    pub pool: CachePool<'a>,
    origin: LvReader<'a>,
    /// (origin block, cache block), in origin block order.
    map: Vec<(u64, u64)>,
    size: u64,
}

impl<'a> CacheView<'a> {
    /// Opens cached LV `lv` of `vg`, or `None` if it is not a cached LV.
    pub fn open(vg: &'a Vg, lv: usize, pvs: &[Option<&'a Image>]) -> Result<Option<CacheView<'a>>> {
        let Some(c) = cache_seg(vg, lv) else {
            return Ok(None);
        };
        let pool = CachePool::open(vg, c.pool, pvs)?;
        let origin = LvReader::new(vg, c.origin, pvs.to_vec())?;
        let size = vg.lv_extents(&vg.lvs[lv]).saturating_mul(vg.extent_bytes());
        let bs = pool.block_bytes();
        let name = format!("{}/{}", vg.name, vg.lvs[lv].name);
        let data_blocks = pool.data.size().checked_div(bs).unwrap_or(0);
        let origin_blocks = size.div_ceil(bs.max(1));
        let mut map = Vec::new();
        for m in pool.meta.iter().flat_map(|m| m.mappings.iter()) {
            if m.cblock >= data_blocks || m.oblock >= origin_blocks {
                return Err(Error::Refused(format!(
                    "{name}: cache block {} holding origin block {} lies outside the cache ({data_blocks} blocks) or the origin ({origin_blocks} blocks)",
                    m.cblock, m.oblock
                )));
            }
            map.push((m.oblock, m.cblock));
        }
        map.sort_unstable();
        Ok(Some(CacheView {
            pool,
            origin,
            map,
            size,
        }))
    }

    /// Where origin block `ob` is cached, if it is.
    pub fn lookup(&self, ob: u64) -> Option<u64> {
        self.map
            .binary_search_by_key(&ob, |m| m.0)
            .ok()
            .map(|i| self.map[i].1)
    }

    /// (origin block, cache block) of every block the cache holds, in
    /// origin block order.
    pub fn mappings(&self) -> &[(u64, u64)] {
        &self.map
    }
}

impl cow_engine::view::View for CacheView<'_> {
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
        let bs = self.pool.block_bytes();
        while !buf.is_empty() {
            let ob = offset / bs;
            let within = offset % bs;
            // Neighbouring uncached blocks are one origin read.
            let mut n = bs - within;
            let cached = self.lookup(ob);
            if cached.is_none() {
                let next = match self.map.binary_search_by_key(&ob, |m| m.0) {
                    Ok(i) | Err(i) => self.map.get(i).map_or(u64::MAX, |m| m.0),
                };
                n = next
                    .saturating_sub(ob)
                    .saturating_mul(bs)
                    .saturating_sub(within);
            }
            let n = usize::try_from(n).unwrap_or(usize::MAX).min(buf.len());
            let (head, rest) = buf.split_at_mut(n);
            match cached {
                // OK: cb < data blocks, checked at open.
                Some(cb) => self.pool.data.read_at(cb * bs + within, head)?,
                None => self.origin.read_at(offset, head)?,
            }
            buf = rest;
            offset += n as u64;
        }
        Ok(())
    }
}

// ------------------------------------------------------------------------
// The `cache` target as lvm2 loads it and the kernel reports it.

/// The core arguments of a freshly loaded `cache` target:
/// `migration_threshold` at the kernel's default (2048 sectors, which the
/// writethrough LV of the corpus shows; lvm2 passes none when the pool
/// has no policy settings, and a `dmsetup message` changes it in memory
/// only).
const CORE_ARGS: &str = "2 migration_threshold 2048";

/// The pool of cached LV `lv`, its keys checked for what the table and
/// status lines need.
fn dm_pool(vg: &Vg, lv: usize) -> Result<(CacheSeg, CachePoolSeg)> {
    let name = format!("{}/{}", vg.name, vg.lvs[lv].name);
    let c = cache_seg(vg, lv)
        .ok_or_else(|| Error::Refused(format!("{name} is not a cached LV lvmsim can read")))?;
    let p = pool_seg(vg, c.pool).ok_or_else(|| {
        Error::Refused(format!(
            "{name}: {} is not a cache pool lvmsim can read",
            vg.lvs[c.pool].name
        ))
    })?;
    let refuse = |what: String| Err(Error::Refused(format!("{name}: {what}")));
    // Policy settings become policy arguments of the table line, which
    // no kernel record shows.
    if let Some(s) = unknown_seg(vg, c.pool, |t| base_type(t) == POOL_TYPE) {
        use lvm_meta::text::Lookup;
        if s.nodes().iter().any(
            |n| matches!(n, lvm_meta::text::Node::Section { key, .. } if key == "policy_settings"),
        ) {
            return refuse("lvmsim's dmsetup does not print cache policy settings yet".into());
        }
    }
    match p.cache_mode.as_deref() {
        Some("writethrough" | "writeback" | "passthrough") => {}
        other => return refuse(format!("cache mode {other:?} is not one lvmsim prints")),
    }
    if p.policy.is_none() {
        return refuse("the cache pool names no policy".into());
    }
    if !matches!(p.metadata_format, None | Some(1 | 2)) {
        return refuse(format!("metadata format {:?}", p.metadata_format));
    }
    Ok((c, p))
}

/// The feature arguments of the `cache` target: `metadata2` for format
/// 2, then the mode (`2 metadata2 writeback`, `1 writeback`).
fn dm_features(p: &CachePoolSeg) -> String {
    let mode = p.cache_mode.as_deref().unwrap_or("writethrough");
    match p.metadata_format {
        Some(2) => format!("2 metadata2 {mode}"),
        _ => format!("1 {mode}"),
    }
}

/// The devices under cached LV `lv` in lvm2's creation order (the
/// order `lvconvert --type cache` numbered them in the corpus's
/// cache-writeback record: the pool's data LV, its metadata LV, then
/// the origin), each an LV index.
///
/// # Errors
/// [`Error::Refused`] for a cached LV whose keys lvmsim cannot print.
pub fn dm_parts(vg: &Vg, lv: usize) -> Result<[usize; 3]> {
    let (c, p) = dm_pool(vg, lv)?;
    Ok([p.data, p.metadata, c.origin])
}

/// The `cache` table line of cached LV `lv` after `cache`, given the
/// numbers of its metadata, data and origin devices: `META DATA ORIGIN
/// BLOCK_SECTORS FEATURES POLICY 0`.
///
/// # Errors
/// [`Error::Refused`] for keys lvmsim cannot print.
pub fn dm_table(vg: &Vg, lv: usize, meta: &str, data: &str, origin: &str) -> Result<String> {
    let (_, p) = dm_pool(vg, lv)?;
    Ok(format!(
        "{meta} {data} {origin} {} {} {} 0",
        p.chunk_size,
        dm_features(&p),
        p.policy.as_deref().unwrap_or_default()
    ))
}

/// The `cache` status line of cached LV `lv` (after `cache`) right after
/// a fresh activation of the images: metadata block size, used/total
/// metadata blocks (the metadata space map's allocated and total
/// blocks), cache block size, used/total cache blocks (valid mappings,
/// and the data LV's size in blocks), the read and write hit and miss
/// counters the kernel loads from the superblock (`load_stats`), zero
/// demotions and promotions (counted in memory only), the blocks the
/// kernel loads as dirty, the features, the core arguments, the policy
/// with no arguments, `rw` and the needs-check flag.
///
/// # Errors
/// [`Error::Refused`] for keys lvmsim cannot print or metadata never
/// formatted (the kernel formats it at its first load; no record shows
/// that state); metadata errors.
pub fn dm_status(vg: &Vg, lv: usize, pvs: &[Option<&Image>]) -> Result<String> {
    let (c, p) = dm_pool(vg, lv)?;
    let pool = CachePool::open(vg, c.pool, pvs)?;
    let Some(m) = &pool.meta else {
        return Err(Error::Refused(format!(
            "{}: the cache metadata was never formatted; lvmsim has no record of the kernel's first load",
            pool.name()
        )));
    };
    let sb = &m.superblock;
    let sm = &sb.metadata_sm_root;
    let total = pool
        .data
        .size()
        .checked_div(pool.block_bytes())
        .unwrap_or(0);
    Ok(format!(
        "{} {}/{} {} {}/{total} {} {} {} {} 0 0 {} {} {CORE_ARGS} {} 0 rw {} ",
        sb.metadata_block_size,
        sm.nr_allocated,
        sm.nr_blocks,
        p.chunk_size,
        m.mappings.len(),
        sb.read_hits,
        sb.read_misses,
        sb.write_hits,
        sb.write_misses,
        m.nr_dirty(),
        dm_features(&p),
        p.policy.as_deref().unwrap_or_default(),
        if sb.needs_check() { "needs_check" } else { "-" },
    ))
}
