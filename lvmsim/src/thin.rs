//! Thin provisioning, read side: thin-pool and thin segments of the VG
//! metadata, the pool's metadata LV read through [`dm_pdata`], and thin
//! LVs read as the kernel's `thin` target reads them (unmapped blocks are
//! zeros, mapped ones come from the pool's data LV).
//!
//! lvm2 stores a pool as a `thin-pool` segment naming its metadata LV
//! (`metadata`, normally `POOL_tmeta`) and data LV (`pool`, `POOL_tdata`),
//! and each thin LV as a `thin` segment naming its pool and its device id
//! in the pool's metadata (`lib/thin/thin.c`). Both are kept verbatim by
//! lvm-meta as segments of an unknown type; this module gives them types.

use crate::error::{Error, Result};
use crate::seg_keys::{any_unknown_seg, int, string, unknown_seg};
use cow_engine::lv_io::LvReader;
use dm_pdata::pdata::block::MetadataDev;
use dm_pdata::thin::metadata::{Mapping, ThinMetadata};
use lvm_meta::io::{Image, ReadAt};
use lvm_meta::model::Vg;

/// A `thin-pool` segment's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSeg {
    /// `metadata`: index of the metadata LV.
    pub metadata: usize,
    /// `pool`: index of the data LV.
    pub data: usize,
    /// `transaction_id`.
    pub transaction_id: u64,
    /// `chunk_size` in sectors (the pool's data block size).
    pub chunk_size: u64,
    /// `discards` (lvm2 defaults to `passdown` when absent).
    pub discards: String,
    /// `zero_new_blocks`.
    pub zero_new_blocks: bool,
    /// The LV flag `ERROR_WHEN_FULL`: fail writes at once when the pool
    /// is full instead of queueing them.
    pub error_when_full: bool,
}

impl PoolSeg {
    /// Whether lvm2 activates the pool as a new one: its VG metadata is
    /// at transaction 0 (no thin LV was ever made in it,
    /// `lv_is_new_thin_pool`). Such a pool has no `-tpool` device: its
    /// own device is the `thin-pool` target (thin-resize's p1 and p2).
    pub fn is_new(&self) -> bool {
        self.transaction_id == 0
    }

    /// The `thin-pool` table's feature words as the kernel prints them
    /// (`emit_flags` in dm-thin.c): their count, then each one followed by
    /// a space, in the kernel's order. lvm2 asks for `skip_block_zeroing`
    /// when zeroing is off and `error_if_no_space` for `ERROR_WHEN_FULL`
    /// (thin-merge's epool: `1 error_if_no_space `); [`dm_pool`] refuses
    /// the discards modes that would add `ignore_discard` or
    /// `no_discard_passdown`.
    pub fn feature_words(&self) -> String {
        let words: Vec<&str> = [
            (!self.zero_new_blocks, "skip_block_zeroing"),
            (self.error_when_full, "error_if_no_space"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, w)| *w)
        .collect();
        let mut out = format!("{} ", words.len());
        for w in words {
            out.push_str(w);
            out.push(' ');
        }
        out
    }

    /// The status word for what the pool does when its data space runs
    /// out: `error_if_no_space` or `queue_if_no_space`.
    pub fn no_space_word(&self) -> &'static str {
        if self.error_when_full {
            "error_if_no_space"
        } else {
            "queue_if_no_space"
        }
    }
}

/// A `thin` segment's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThinSeg {
    /// `thin_pool`: index of the pool LV.
    pub pool: usize,
    /// `transaction_id`.
    pub transaction_id: u64,
    /// `device_id` in the pool's metadata.
    pub device_id: u64,
    /// `origin`: index of the thin origin of a thin snapshot.
    pub origin: Option<usize>,
    /// `external_origin`, if any (not read by lvmsim).
    pub external_origin: Option<String>,
}

/// lvm2's segment type of a thin pool.
const POOL_TYPE: &str = "thin-pool";
/// lvm2's segment type of a thin LV.
const THIN_TYPE: &str = "thin";

/// LV `lv` as a thin pool, if it is one with valid keys.
pub fn pool_seg(vg: &Vg, lv: usize) -> Option<PoolSeg> {
    let s = unknown_seg(vg, lv, |t| t == POOL_TYPE)?;
    Some(PoolSeg {
        metadata: vg.lv_index(string(&s, "metadata")?)?,
        data: vg.lv_index(string(&s, "pool")?)?,
        transaction_id: int(&s, "transaction_id")?,
        chunk_size: int(&s, "chunk_size")?,
        discards: string(&s, "discards").unwrap_or("passdown").to_owned(),
        zero_new_blocks: int(&s, "zero_new_blocks").is_some_and(|z| z != 0),
        // lvm2 keeps it as an LV flag, not a segment key (`lvcreate
        // --errorwhenfull y`, recorded in thin-merge).
        error_when_full: vg.lvs[lv].flags.iter().any(|f| f == "ERROR_WHEN_FULL"),
    })
}

/// LV `lv` as a thin LV, if it is one with valid keys.
pub fn thin_seg(vg: &Vg, lv: usize) -> Option<ThinSeg> {
    let s = unknown_seg(vg, lv, |t| t == THIN_TYPE)?;
    let origin = match string(&s, "origin") {
        Some(o) => Some(vg.lv_index(o)?),
        None => None,
    };
    Some(ThinSeg {
        pool: vg.lv_index(string(&s, "thin_pool")?)?,
        transaction_id: int(&s, "transaction_id")?,
        device_id: int(&s, "device_id")?,
        origin,
        external_origin: string(&s, "external_origin").map(str::to_owned),
    })
}

/// What LV `lv` is to a thin pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolPart {
    /// The pool's data LV (`_tdata`) of pool index `.0`.
    Data(usize),
    /// The pool's metadata LV (`_tmeta`) of pool index `.0`.
    Metadata(usize),
}

/// Whether LV `lv` is a pool's data or metadata LV.
pub fn pool_part(vg: &Vg, lv: usize) -> Option<PoolPart> {
    (0..vg.lvs.len()).find_map(|p| {
        let s = pool_seg(vg, p)?;
        if s.data == lv {
            Some(PoolPart::Data(p))
        } else if s.metadata == lv {
            Some(PoolPart::Metadata(p))
        } else {
            None
        }
    })
}

/// True for the pool metadata spare LV (`lvol0_pmspare`): lvm2 marks it
/// by name (`_pmspare` suffix) and it is never visible.
pub fn is_pmspare(vg: &Vg, lv: usize) -> bool {
    vg.lvs
        .get(lv)
        .is_some_and(|l| l.name.ends_with("_pmspare") && !vg.lv_visible(lv))
}

/// The thin LVs of pool `pool`, in metadata order.
pub fn thins_of(vg: &Vg, pool: usize) -> Vec<usize> {
    (0..vg.lvs.len())
        .filter(|&i| thin_seg(vg, i).is_some_and(|t| t.pool == pool))
        .collect()
}

/// An LV read through its segments, as a byte source for [`dm_pdata`].
pub(crate) struct LvSource<'a>(LvReader<'a>);

impl<'a> LvSource<'a> {
    /// Wraps an LV's reader.
    pub(crate) fn new(lv: LvReader<'a>) -> LvSource<'a> {
        LvSource(lv)
    }
}

impl ReadAt for LvSource<'_> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        self.0
            .read_at(offset, buf)
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
    fn size(&self) -> std::io::Result<u64> {
        Ok(self.0.size())
    }
}

/// A pool's metadata read from its metadata LV.
pub struct Pool<'a> {
    /// The pool's keys.
    pub seg: PoolSeg,
    /// The metadata device (the `_tmeta` LV).
    dev: MetadataDev<LvSource<'a>>,
    /// The committed metadata.
    pub meta: ThinMetadata,
    /// The data LV (`_tdata`).
    data: LvReader<'a>,
    name: String,
}

fn pdata_err(pool: &str, source: dm_pdata::Error) -> Error {
    Error::ThinMetadata {
        pool: pool.to_owned(),
        source,
    }
}

impl<'a> Pool<'a> {
    /// Opens pool `pool` of `vg` on `pvs` and reads its metadata.
    pub fn open(vg: &'a Vg, pool: usize, pvs: &[Option<&'a Image>]) -> Result<Pool<'a>> {
        let name = format!("{}/{}", vg.name, vg.lvs[pool].name);
        let seg = pool_seg(vg, pool)
            .ok_or_else(|| Error::Refused(format!("{name} is not a thin pool lvmsim can read")))?;
        let meta_lv = LvReader::new(vg, seg.metadata, pvs.to_vec())?;
        let dev = MetadataDev::new(LvSource(meta_lv)).map_err(|e| pdata_err(&name, e))?;
        let meta = ThinMetadata::read(&dev).map_err(|e| pdata_err(&name, e))?;
        let sb_block = u64::from(meta.superblock.data_block_size);
        if sb_block != seg.chunk_size {
            return Err(Error::Refused(format!(
                "{name}: the pool metadata's data block size is {sb_block} sectors, the VG metadata says {}",
                seg.chunk_size
            )));
        }
        let data = LvReader::new(vg, seg.data, pvs.to_vec())?;
        Ok(Pool {
            seg,
            dev,
            meta,
            data,
            name,
        })
    }

    /// The metadata device.
    pub(crate) fn dev(&self) -> &MetadataDev<LvSource<'a>> {
        &self.dev
    }

    /// Every mapping of thin device `id`.
    pub fn mappings(&self, id: u64) -> Result<Vec<Mapping>> {
        self.meta
            .mappings(&self.dev, id)
            .map_err(|e| pdata_err(&self.name, e))
    }

    /// Writes `thin_dump`'s XML of the pool's metadata.
    pub fn dump(&self, out: &mut dyn std::io::Write) -> Result<()> {
        dm_pdata::thin::dump::write_xml(&self.dev, &self.meta, out).map_err(|e| match e {
            dm_pdata::Error::Output(source) => Error::Output(source),
            e => pdata_err(&self.name, e),
        })
    }

    /// The data block size in bytes.
    pub fn block_bytes(&self) -> u64 {
        self.seg.chunk_size.saturating_mul(512)
    }
}

/// A thin LV's contents: its mappings resolved once, then reads served
/// from the pool's data LV or as zeros.
pub struct ThinView<'a> {
    pool: Pool<'a>,
    /// (virtual block, data block), in virtual block order.
    map: Vec<(u64, u64)>,
    size: u64,
}

impl<'a> ThinView<'a> {
    /// Opens thin LV `lv` of `vg`, or `None` if it is not a thin LV.
    pub fn open(vg: &'a Vg, lv: usize, pvs: &[Option<&'a Image>]) -> Result<Option<ThinView<'a>>> {
        let Some(t) = thin_seg(vg, lv) else {
            return Ok(None);
        };
        let name = format!("{}/{}", vg.name, vg.lvs[lv].name);
        if t.external_origin.is_some() {
            return Err(Error::Refused(format!(
                "{name}: thin LVs with an external origin are not read by lvmsim"
            )));
        }
        let pool = Pool::open(vg, t.pool, pvs)?;
        // An origin with a thin snapshot merging into it is activated
        // with the snapshot's device (`_thin_add_target_line`).
        let device_id = crate::thin_lv::pending_merge(vg, lv)
            .and_then(|s| thin_seg(vg, s))
            .map_or(t.device_id, |s| s.device_id);
        if !pool.meta.details.contains_key(&device_id) {
            return Err(Error::Refused(format!(
                "{name}: thin device {device_id} is not in the metadata of pool {}",
                pool.name
            )));
        }
        let map = pool
            .mappings(device_id)?
            .into_iter()
            .map(|m| (m.virt, m.value.block))
            .collect();
        let size = vg.lv_extents(&vg.lvs[lv]).saturating_mul(vg.extent_bytes());
        Ok(Some(ThinView { pool, map, size }))
    }

    /// Where virtual block `vb` is: its data block, if mapped.
    pub fn lookup(&self, vb: u64) -> Option<u64> {
        self.map
            .binary_search_by_key(&vb, |m| m.0)
            .ok()
            .map(|i| self.map[i].1)
    }
}

impl cow_engine::view::View for ThinView<'_> {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, mut offset: u64, mut buf: &mut [u8]) -> cow_engine::Result<()> {
        let bs = self.pool.block_bytes();
        while !buf.is_empty() {
            let vb = offset / bs;
            let within = offset % bs;
            let first = self.lookup(vb);
            // One read for a run of blocks that lie one after the other on
            // the data device (or a run of unmapped ones), not one per block.
            let mut run = bs - within;
            let mut k = 1u64;
            while run < buf.len() as u64 {
                let next = vb.checked_add(k).and_then(|b| self.lookup(b));
                let follows = match (first, next) {
                    (Some(d), Some(e)) => d.checked_add(k) == Some(e),
                    (None, None) => vb.checked_add(k).is_some(),
                    _ => false,
                };
                if !follows {
                    break;
                }
                run = run.saturating_add(bs);
                k += 1;
            }
            let n = usize::try_from(run).unwrap_or(usize::MAX).min(buf.len());
            let (head, rest) = buf.split_at_mut(n);
            match first {
                Some(db) => {
                    let at = db
                        .checked_mul(bs)
                        .and_then(|b| b.checked_add(within))
                        .ok_or(cow_engine::Error::ReadPastEnd {
                            offset,
                            len: n as u64,
                            size: self.pool.data.size(),
                            view: false,
                        })?;
                    self.pool.data.read_at(at, head)?
                }
                None => head.fill(0),
            }
            buf = rest;
            offset += n as u64;
        }
        Ok(())
    }
}

/// What an LV is in thin provisioning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThinRole {
    /// A thin pool.
    Pool(PoolSeg),
    /// A thin LV (or thin snapshot).
    Thin(ThinSeg),
    /// The data LV of pool `.0`.
    Data(usize),
    /// The metadata LV of pool `.0`.
    Metadata(usize),
    /// The pool metadata spare.
    Spare,
}

/// LV `lv`'s thin role, if it has one.
pub fn role(vg: &Vg, lv: usize) -> Option<ThinRole> {
    if let Some(p) = pool_seg(vg, lv) {
        return Some(ThinRole::Pool(p));
    }
    if let Some(t) = thin_seg(vg, lv) {
        return Some(ThinRole::Thin(t));
    }
    if is_pmspare(vg, lv) {
        return Some(ThinRole::Spare);
    }
    match pool_part(vg, lv)? {
        PoolPart::Data(p) => Some(ThinRole::Data(p)),
        PoolPart::Metadata(p) => Some(ThinRole::Metadata(p)),
    }
}

/// Every LV's thin role, indexed like `vg.lvs`: what [`role`] gives for
/// each LV, computed in one pass over the VG (calling [`role`] for every
/// LV looks at every pool for each one, quadratic in the LV count).
///
/// The table may be shorter than `vg.lvs`, and an LV past its end has no
/// role: read it with `get`. A VG without a thin or thin-pool segment
/// gets only its pool metadata spares, the one role found by name (lvm2
/// keeps the spare of a cache pool too), and no allocation at all when it
/// has none.
pub fn roles(vg: &Vg) -> Vec<Option<ThinRole>> {
    if !any_unknown_seg(vg, |t| t == POOL_TYPE || t == THIN_TYPE) {
        return spare_roles(vg);
    }
    let n = vg.lvs.len();
    let pools: Vec<Option<PoolSeg>> = (0..n).map(|p| pool_seg(vg, p)).collect();
    // The first pool (in metadata order) naming an LV as its data or
    // metadata LV, data first, as `pool_part` finds it.
    let mut parts: Vec<Option<PoolPart>> = vec![None; n];
    for (p, s) in pools.iter().enumerate() {
        let Some(s) = s else { continue };
        if let Some(slot @ None) = parts.get_mut(s.data) {
            *slot = Some(PoolPart::Data(p));
        }
        if let Some(slot @ None) = parts.get_mut(s.metadata) {
            *slot = Some(PoolPart::Metadata(p));
        }
    }
    pools
        .into_iter()
        .zip(parts)
        .enumerate()
        .map(|(lv, (pool, part))| {
            if let Some(p) = pool {
                return Some(ThinRole::Pool(p));
            }
            if let Some(t) = thin_seg(vg, lv) {
                return Some(ThinRole::Thin(t));
            }
            if is_pmspare(vg, lv) {
                return Some(ThinRole::Spare);
            }
            match part? {
                PoolPart::Data(p) => Some(ThinRole::Data(p)),
                PoolPart::Metadata(p) => Some(ThinRole::Metadata(p)),
            }
        })
        .collect()
}

/// [`roles`] of a VG without thin segments: no pool, so no thin LV, data
/// or metadata LV either, only the spares; the table ends at the last one.
fn spare_roles(vg: &Vg) -> Vec<Option<ThinRole>> {
    // One walk; the table grows (with no role for the LVs between) only at
    // a spare, so a VG without one allocates nothing.
    let mut out = Vec::new();
    for i in (0..vg.lvs.len()).filter(|&i| is_pmspare(vg, i)) {
        out.resize(i, None);
        out.push(Some(ThinRole::Spare));
    }
    out
}

/// Deepest chain of thin snapshots followed (each step is one LV of the
/// VG, so the VG's LV count bounds it too).
const MAX_SNAPSHOT_CHAIN: usize = 1 << 16;

/// The thin origins of thin LV `lv`, nearest first.
pub fn ancestors(vg: &Vg, lv: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut at = lv;
    while let Some(o) = thin_seg(vg, at).and_then(|t| t.origin) {
        if out.contains(&o) || out.len() >= MAX_SNAPSHOT_CHAIN.min(vg.lvs.len()) {
            break;
        }
        out.push(o);
        at = o;
    }
    out
}

/// The thin snapshots taken of thin LV `lv` (direct ones).
pub fn snapshots_of(vg: &Vg, lv: usize) -> Vec<usize> {
    (0..vg.lvs.len())
        .filter(|&i| thin_seg(vg, i).is_some_and(|t| t.origin == Some(lv)))
        .collect()
}

/// Every thin LV whose chain of origins reaches `lv`.
pub fn descendants(vg: &Vg, lv: usize) -> Vec<usize> {
    (0..vg.lvs.len())
        .filter(|&i| ancestors(vg, i).contains(&lv))
        .collect()
}

/// Data% and Meta% of pool `pool` as an activation would show them (in
/// millionths of a percent, `dm_make_percent`), from the committed space
/// maps; `None` if the metadata cannot be read.
pub fn pool_percents(vg: &Vg, pool: usize, pvs: &[Option<&Image>]) -> Option<(i32, i32)> {
    let p = Pool::open(vg, pool, pvs).ok()?;
    let u = dm_pdata::thin::metadata::PoolUsage::of(&p.meta.superblock);
    Some((
        crate::active::make_percent(u.used_data, u.total_data),
        crate::active::make_percent(u.used_metadata, u.total_metadata),
    ))
}

/// Whether pool `pool`'s metadata asks for a check (the superblock's
/// `needs_check` flag); `None` if the metadata cannot be read.
pub fn pool_needs_check(vg: &Vg, pool: usize, pvs: &[Option<&Image>]) -> Option<bool> {
    let p = Pool::open(vg, pool, pvs).ok()?;
    Some(p.meta.superblock.needs_check())
}

/// Data% of thin LV `lv`: its mapped blocks over its size rounded up to a
/// whole data block (`dev_manager_thin_percent`), capped at 100%.
pub fn thin_percent(vg: &Vg, lv: usize, pvs: &[Option<&Image>]) -> Option<i32> {
    let t = thin_seg(vg, lv)?;
    let p = Pool::open(vg, t.pool, pvs).ok()?;
    let d = p.meta.details.get(&t.device_id)?;
    let chunk = p.seg.chunk_size.max(1);
    let size = vg.lv_extents(&vg.lvs[lv]).saturating_mul(vg.extent_size.0);
    let rounded = size.div_ceil(chunk).saturating_mul(chunk);
    let mapped = d.mapped_blocks.saturating_mul(chunk).min(rounded);
    Some(crate::active::make_percent(mapped, rounded))
}

/// The thin pool a `VG/POOL` argument names, opened over the scanned
/// images (refused when the LV is not a thin pool).
fn pool_arg<'a>(sys: &'a lvm_meta::scan::System, arg: &str) -> Result<Pool<'a>> {
    let (vgn, lvn) = crate::names::vg_lv(arg)?;
    let vi = sys.vg_or_err(&vgn)?;
    let li = vi.vg.lv_index_or_err(&lvn)?;
    if pool_seg(&vi.vg, li).is_none() {
        return Err(Error::Refused(format!("{vgn}/{lvn} is not a thin pool.")));
    }
    let pvs = sys.pv_images(vi);
    Pool::open(&vi.vg, li, &pvs)
}

/// `lvmsim thin_dump VG/POOL`: the pool's metadata, as its metadata LV
/// holds it on the images, in `thin_dump`'s XML (thin-provisioning-tools
/// 0.9.0's form).
pub fn thin_dump(
    sys: &lvm_meta::scan::System,
    arg: &str,
    out: &mut dyn std::io::Write,
) -> Result<()> {
    let pool = pool_arg(sys, arg)?;
    let mut buf = Vec::new();
    pool.dump(&mut buf)?;
    out.write_all(&buf)?;
    Ok(())
}

/// `lvmsim thin_ls VG/POOL`: the pool's thin devices as `thin_ls`
/// (thin-provisioning-tools 0.9.0) lists them from the metadata LV as it
/// is on the images; `fields` as `-o` takes them (`None`: the default
/// columns), without the header row when `headers` is false.
pub fn thin_ls(
    sys: &lvm_meta::scan::System,
    arg: &str,
    fields: Option<&str>,
    headers: bool,
    out: &mut dyn std::io::Write,
) -> Result<()> {
    use dm_pdata::thin::ls;
    let fields = match fields {
        Some(f) => ls::parse_fields(f).ok_or_else(|| Error::Usage("unknown field".into()))?,
        None => ls::DEFAULT_FIELDS.to_vec(),
    };
    let pool = pool_arg(sys, arg)?;
    let mut buf = Vec::new();
    ls::write_ls(&pool.dev, &pool.meta, &fields, headers, &mut buf)
        .map_err(|e| pdata_err(&pool.name, e))?;
    out.write_all(&buf)?;
    Ok(())
}

/// Sectors in a pool metadata block (4 KiB).
const METADATA_BLOCK_SECTORS: u64 = 8;

/// Largest metadata LV, in sectors, whose metadata low-water mark the
/// kernel records pin down: up to 16 MiB the mark is a quarter of the
/// metadata blocks (4 MiB gave 256); above it the kernel caps the mark,
/// which no record shows.
const MAX_PINNED_TMETA_SECTORS: u64 = 16 * 1024 * 2;

/// LV `pool` of `vg` as a thin pool whose device-mapper tables lvm2's
/// activation is known for: refuses, naming the reason, the pool
/// settings and shapes the kernel records do not show (so a table or
/// status line for them would be a guess).
pub fn dm_pool(vg: &Vg, pool: usize) -> Result<PoolSeg> {
    let name = format!("{}/{}", vg.name, vg.lvs[pool].name);
    let Some(seg) = pool_seg(vg, pool) else {
        return Err(Error::Refused(format!(
            "{name}: a thin pool whose segment lvmsim cannot read has no device-mapper table in lvmsim"
        )));
    };
    let not_shown = |what: &str| {
        Err(Error::Refused(format!(
            "{name}: lvmsim has no kernel record of a thin pool with {what}: it prints no table or status for it"
        )))
    };
    if seg.discards != "passdown" {
        return not_shown(&format!("discards {}", seg.discards));
    }
    if seg.is_new() && !thins_of(vg, pool).is_empty() {
        return not_shown("transaction 0 and thin LVs (lvm2 never leaves a pool so)");
    }
    let tmeta = vg
        .lv_extents(&vg.lvs[seg.metadata])
        .saturating_mul(vg.extent_size.0);
    if tmeta > MAX_PINNED_TMETA_SECTORS {
        return not_shown("a metadata LV above 16 MiB (its metadata low-water mark)");
    }
    Ok(seg)
}

/// LV `lv` of `vg` as a thin LV whose `thin` table is known: its pool
/// passes [`dm_pool`] and it has no external origin.
pub fn dm_thin(vg: &Vg, lv: usize) -> Result<ThinSeg> {
    let name = format!("{}/{}", vg.name, vg.lvs[lv].name);
    let Some(t) = thin_seg(vg, lv) else {
        return Err(Error::Refused(format!(
            "{name}: a thin LV whose segment lvmsim cannot read has no device-mapper table in lvmsim"
        )));
    };
    if t.external_origin.is_some() {
        return Err(Error::Refused(format!(
            "{name}: lvmsim has no kernel record of a thin LV with an external origin: it prints no table or status for it"
        )));
    }
    dm_pool(vg, t.pool)?;
    Ok(t)
}

/// The `thin-pool` target's status words (after `thin-pool `) for pool
/// `pool` as the kernel reports it once lvm2 activated it on the images:
/// `TRANSACTION USED_META/TOTAL_META USED_DATA/TOTAL_DATA HELD_ROOT MODE
/// DISCARDS NO_SPACE NEEDS_CHECK META_LOW_WATER `, the block counts from
/// the committed space maps (the kernel commits before it reports), the
/// metadata low-water mark a quarter of the metadata LV's blocks.
///
/// Refused where the records do not show the kernel's words: a pool
/// [`dm_pool`] refuses, a pool asking for a
/// check (the kernel would run it read-only), a transaction id the VG
/// metadata does not agree with (lvm2 would not activate it as is).
pub fn dm_pool_status(vg: &Vg, pool: usize, pvs: &[Option<&Image>]) -> Result<String> {
    let seg = dm_pool(vg, pool)?;
    let p = Pool::open(vg, pool, pvs)?;
    let sb = &p.meta.superblock;
    let refuse = |why: String| Err(Error::Refused(format!("{}: {why}", p.name)));
    if sb.needs_check() {
        return refuse("the pool metadata asks for a check; lvmsim prints no status for it".into());
    }
    if sb.trans_id != seg.transaction_id {
        return refuse(format!(
            "the pool metadata is at transaction {}, the VG metadata says {}; lvm2 would not activate it as is",
            sb.trans_id, seg.transaction_id
        ));
    }
    let u = dm_pdata::thin::metadata::PoolUsage::of(sb);
    let tmeta = vg
        .lv_extents(&vg.lvs[seg.metadata])
        .saturating_mul(vg.extent_size.0);
    let low_water = tmeta / METADATA_BLOCK_SECTORS / 4;
    // A held metadata snapshot shows as its superblock's block
    // (thin-recover step 022: `59`).
    let held = match sb.held_root {
        0 => "-".to_owned(),
        b => b.to_string(),
    };
    Ok(format!(
        "{} {}/{} {}/{} {held} rw discard_passdown {} - {low_water} ",
        sb.trans_id,
        u.used_metadata,
        u.total_metadata,
        u.used_data,
        u.total_data,
        seg.no_space_word()
    ))
}

/// The `thin` target's status words for thin LV `lv`: the sectors its
/// mapped blocks cover, and the last sector of its highest mapped block
/// (`-` when nothing is mapped).
pub fn dm_thin_status(vg: &Vg, lv: usize, pvs: &[Option<&Image>]) -> Result<String> {
    let t = dm_thin(vg, lv)?;
    let p = Pool::open(vg, t.pool, pvs)?;
    let Some(d) = p.meta.details.get(&t.device_id) else {
        return Err(Error::Refused(format!(
            "{}/{}: thin device {} is not in the metadata of pool {}",
            vg.name, vg.lvs[lv].name, t.device_id, p.name
        )));
    };
    let chunk = p.seg.chunk_size;
    let mapped = d.mapped_blocks.saturating_mul(chunk);
    let highest = p.mappings(t.device_id)?.iter().map(|m| m.virt).max();
    Ok(match highest {
        Some(h) => format!(
            "{mapped} {}",
            h.saturating_add(1).saturating_mul(chunk).saturating_sub(1)
        ),
        None => format!("{mapped} -"),
    })
}

/// Writes `input` into thin LV `lv` of `inst` from byte `offset`, as
/// `dd of=/dev/VG/THIN conv=notrunc,fsync` after activation would: each
/// data block is written where the kernel's `thin` target puts it (in
/// place when mapped and not shared since, a new block zeroed first when
/// the write covers part of it and the pool zeroes new blocks, a copy of
/// the shared block when a snapshot shares it), then the pool's metadata
/// is committed: the data LV synced first, then the new metadata blocks,
/// the superblock last. Returns the bytes written.
///
/// Errors: ENOSPC once the write reaches the LV's end (bytes before it
/// are written), and ENOSPC when a block needs a new data block and the
/// pool has none left, as the kernel fails that bio (`thin-merge`: with
/// `error_if_no_space` at once; in the default queue mode after the
/// module's `no_space_timeout`, 60 s, which lvmsim does not wait, and the
/// kernel then switches the running pool to `error_if_no_space` until it
/// is reactivated). The blocks provisioned before are written and
/// committed, the pool metadata stays consistent. Within the failing
/// write the kernel still writes blocks that are already mapped and not
/// shared after the first one that found no space; lvmsim stops at that
/// block, as `dd` and kgen's writer stop at the failed write.
pub fn write(
    sys: &lvm_meta::scan::System,
    inst: &lvm_meta::scan::VgInstance,
    lv: usize,
    offset: u64,
    input: &mut dyn std::io::Read,
    hooks: &crate::context::WriteHooks,
) -> Result<u64> {
    let vg = &inst.vg;
    let name = format!("{}/{}", vg.name, vg.lvs[lv].name);
    let t = thin_seg(vg, lv)
        .ok_or_else(|| Error::Refused(format!("{name} is not a thin LV lvmsim can write")))?;
    if t.external_origin.is_some() {
        return Err(Error::Refused(format!(
            "{name}: thin LVs with an external origin are not written by lvmsim"
        )));
    }
    // Pool messages a cut command left queued are sent first, as the
    // activation before the write would.
    if crate::thin_lv::has_queued(vg, t.pool) {
        crate::thin_lv::settle(sys, &vg.name, t.pool, hooks)?;
        let again = crate::write::rescan(sys)?;
        let inst = again.vg_or_err(&vg.name)?;
        return write_settled(&again, inst, lv, offset, input, hooks);
    }
    write_settled(sys, inst, lv, offset, input, hooks)
}

/// [`write`] into a thin LV whose pool took its queued messages.
fn write_settled(
    sys: &lvm_meta::scan::System,
    inst: &lvm_meta::scan::VgInstance,
    lv: usize,
    offset: u64,
    input: &mut dyn std::io::Read,
    hooks: &crate::context::WriteHooks,
) -> Result<u64> {
    use crate::error::ResultExt;
    use dm_pdata::thin::write::ThinTx;
    let vg = &inst.vg;
    let name = format!("{}/{}", vg.name, vg.lvs[lv].name);
    let t = thin_seg(vg, lv)
        .ok_or_else(|| Error::Refused(format!("{name} is not a thin LV lvmsim can write")))?;
    let pvs = sys.pv_images(inst);
    let pool = Pool::open(vg, t.pool, &pvs)?;
    let perr = |e| pdata_err(&pool.name, e);
    let mut tx = ThinTx::open(&pool.dev).map_err(perr)?;
    if tx.details(t.device_id).is_none() {
        return Err(Error::Refused(format!(
            "{name}: thin device {} is not in the metadata of pool {}",
            t.device_id, pool.name
        )));
    }
    let mut images = crate::write::open_rw(sys, inst, hooks)?;
    let bs = pool.block_bytes();
    let bs_len =
        usize::try_from(bs).map_err(|_| Error::Refused(format!("{name}: data block too large")))?;
    let size = vg.lv_extents(&vg.lvs[lv]).saturating_mul(vg.extent_bytes());
    let zero = pool.seg.zero_new_blocks;
    let data_lv = pool.seg.data;
    let mut buf = vec![0u8; 1 << 20];
    let mut block = vec![0u8; bs_len];
    let mut at = offset;
    let mut abort = false;
    let result: Result<()> = 'outer: loop {
        if hooks.stop.requested() {
            break Err(Error::Interrupted(format!(
                "lvmsim: write to {name} stopped at byte {at} ({} bytes written)",
                at - offset
            )));
        }
        let mut n = 0;
        while n < buf.len() {
            match input.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => break 'outer Err(e).context("reading the input"),
            }
        }
        if n == 0 {
            break Ok(());
        }
        let mut done = 0usize;
        while done < n {
            if at >= size {
                let e = std::io::Error::from_raw_os_error(28);
                break 'outer Err(e).context(format!(
                    "error writing {name} at byte {at} ({} bytes written)",
                    at - offset
                ));
            }
            let vb = at / bs;
            let within = at % bs;
            let len = usize::try_from((bs - within).min(size - at))
                .unwrap_or(usize::MAX)
                .min(n - done);
            let bytes = &buf[done..done + len];
            let target = match tx.provision(t.device_id, vb) {
                Ok(p) => p,
                // Blocks freed in this transaction become free at a commit:
                // the kernel commits when it finds no free block and
                // tries again (`alloc_data_block`).
                Err(_) if tx.freed_data_blocks() > 0 => {
                    commit_pool(vg, &pool, tx, &mut images)?;
                    drop(pool);
                    let again = crate::write::rescan(sys)?;
                    let inst = again.vg_or_err(&vg.name)?;
                    let mut rest = std::io::Read::chain(&buf[done..n], &mut *input);
                    let more = write_settled(&again, inst, lv, at, &mut rest, hooks)?;
                    return Ok(at - offset + more);
                }
                // A full pool: the kernel fails the bio with ENOSPC, at
                // once with error_if_no_space, after no_space_timeout
                // (60 s) in queue mode; lvmsim does not wait.
                Err(e @ dm_pdata::Error::NoDataSpace { .. }) => {
                    let os = std::io::Error::from_raw_os_error(28);
                    break 'outer Err(os).context(format!(
                        "error writing {name} at byte {at} ({} bytes written): pool {}: {e}",
                        at - offset,
                        pool.name
                    ));
                }
                // Any other failure (out of metadata space, a metadata
                // block unreadable) may have left the transaction half
                // done: it is dropped, and the pool keeps its last commit,
                // as the kernel aborts the transaction
                // (`metadata_operation_failed`).
                Err(e) => {
                    abort = true;
                    break 'outer Err(perr(e));
                }
            };
            write_provisioned(
                &mut images,
                vg,
                data_lv,
                bs_len,
                target,
                zero,
                within,
                bytes,
                &mut block,
            )?;
            done += len;
            at += len as u64;
        }
    };
    if abort {
        return result.map(|()| at - offset);
    }
    commit_pool(vg, &pool, tx, &mut images)?;
    result.map(|()| at - offset)
}

/// Writes `bytes` at byte `within` of the data block that
/// [`ThinTx::provision`](dm_pdata::thin::write::ThinTx::provision) gave a
/// write (`target`), as dm-thin fills it: a block already mapped, or a new
/// one the write covers whole or with zeroing off (`zero`), takes the
/// bytes alone; a new block with zeroing on is written whole, zeros around
/// the bytes (`schedule_zero`); a block broken away from a snapshot's
/// sharing is written whole, the shared block's bytes around the new ones
/// (`schedule_copy`). Data blocks are `bs_len` bytes on LV `data_lv`;
/// `block` is scratch space.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_provisioned<B: lvm_meta::io::WriteAt>(
    images: &mut cow_engine::blocks::Images<B>,
    vg: &Vg,
    data_lv: usize,
    bs_len: usize,
    target: dm_pdata::thin::write::Provision,
    zero: bool,
    within: u64,
    bytes: &[u8],
    block: &mut Vec<u8>,
) -> cow_engine::Result<()> {
    use dm_pdata::thin::write::Provision;
    let bs = bs_len as u64;
    let whole = bytes.len() == bs_len;
    let (db, fill) = match target {
        Provision::Mapped(db) => (db, None),
        Provision::New(db) if whole || !zero => (db, None),
        Provision::New(db) => (db, Some(None)),
        Provision::Copy { to, .. } if whole => (to, None),
        Provision::Copy { from, to } => (to, Some(Some(from))),
    };
    let start = db * bs;
    match fill {
        None => images.write(vg, data_lv, start + within, bytes),
        Some(from) => {
            block.resize(bs_len, 0);
            match from {
                Some(f) => images.read(vg, data_lv, f * bs, block)?,
                None => block.fill(0),
            }
            let w = usize::try_from(within).unwrap_or(0);
            block[w..w + bytes.len()].copy_from_slice(bytes);
            images.write(vg, data_lv, start, block)
        }
    }
}

/// Commits `tx` onto the pool's metadata LV: the images synced (the data
/// written so far made durable), every new metadata block written and
/// synced, then the superblock written and synced.
pub(crate) fn commit_pool<R: ReadAt>(
    vg: &Vg,
    pool: &Pool<'_>,
    tx: dm_pdata::thin::write::ThinTx<'_, R>,
    images: &mut cow_engine::blocks::Images<crate::write_log::Logged>,
) -> Result<()> {
    use crate::error::ResultExt;
    use lvm_meta::io::WriteAt;
    if tx.is_clean() {
        return Ok(());
    }
    let blocks = tx.commit().map_err(|e| pdata_err(&pool.name, e))?;
    let sync = |images: &mut cow_engine::blocks::Images<crate::write_log::Logged>| -> Result<()> {
        for f in images.pvs.iter_mut().flatten() {
            let path = f.path.clone();
            f.sync().with_context(|| format!("{path}: sync"))?;
        }
        Ok(())
    };
    sync(images)?;
    let (sb, rest) = blocks
        .split_last()
        .ok_or_else(|| Error::Refused(format!("{}: an empty commit", pool.name)))?;
    for (n, b) in rest {
        images.write(vg, pool.seg.metadata, n * 4096, &b[..])?;
    }
    sync(images)?;
    images.write(vg, pool.seg.metadata, sb.0 * 4096, &sb.1[..])?;
    sync(images)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The VG metadata of testdata/kernel/thin-pool (its `vgcfgbackup`).
    const VG: &str = include_str!("../../testdata/kernel/thin-pool/032.vgcfg.vg");

    fn vg(text: &str) -> Vg {
        let t = lvm_meta::text::parse(text.as_bytes()).unwrap();
        Vg::from_tree(&t).unwrap()
    }

    #[test]
    fn roles_of_a_pool_vg_are_each_lvs_role() {
        let v = vg(VG);
        let all = roles(&v);
        assert_eq!(all.len(), v.lvs.len());
        for (i, r) in all.iter().enumerate() {
            assert_eq!(*r, role(&v, i), "{}", v.lvs[i].name);
        }
        assert!(all.iter().flatten().any(|r| matches!(r, ThinRole::Pool(_))));
        assert!(all.iter().flatten().any(|r| matches!(r, ThinRole::Spare)));
    }

    #[test]
    fn roles_without_thin_segments_are_the_spares_alone() {
        // testdata/kernel/cache-writeback's VG: cache pools and the pool
        // metadata spare lvm2 made for them, no thin segment; lvm2's `lvs
        // -a` there shows `[lvol0_pmspare]` as `ewi-------`.
        let v = vg(include_str!(
            "../../testdata/kernel/cache-writeback/037.vgcfg.vg"
        ));
        let spare = v.lv_index("lvol0_pmspare").unwrap();
        let all = roles(&v);
        // The table ends at the spare; an LV past it has no role.
        assert_eq!(all.len(), spare + 1);
        assert!(spare + 1 < v.lvs.len());
        for i in 0..v.lvs.len() {
            let want = (i == spare).then_some(ThinRole::Spare);
            assert_eq!(all.get(i).cloned().flatten(), want, "{}", v.lvs[i].name);
            assert_eq!(role(&v, i), want, "{}", v.lvs[i].name);
        }
        // Without a spare either, the table is empty.
        let v = vg(include_str!(
            "../../testdata/kernel/writecache/041.vgcfg.vg"
        ));
        assert!(!v.lvs.is_empty());
        assert!(roles(&v).is_empty());
        assert!((0..v.lvs.len()).all(|i| role(&v, i).is_none()));
    }

    fn refusal(text: &str) -> String {
        let v = vg(text);
        let pool = v.lv_index("pool").unwrap();
        let thin = v.lv_index("thin1").unwrap();
        let e = dm_pool(&v, pool).unwrap_err().to_string();
        // The pool's thin LVs are refused with it.
        assert_eq!(dm_thin(&v, thin).unwrap_err().to_string(), e);
        e
    }

    #[test]
    fn the_recorded_pool_has_tables() {
        let v = vg(VG);
        let pool = dm_pool(&v, v.lv_index("pool").unwrap()).unwrap();
        assert_eq!((pool.chunk_size, pool.transaction_id), (128, 5));
        let snap = dm_thin(&v, v.lv_index("snap").unwrap()).unwrap();
        assert_eq!(snap.device_id, 4);
    }

    #[test]
    fn settings_no_record_shows_are_refused() {
        assert!(VG.contains("discards = \"passdown\""));
        let e = refusal(&VG.replace("discards = \"passdown\"", "discards = \"nopassdown\""));
        assert!(e.contains("with discards nopassdown"), "{e}");
    }

    /// The VG with the pool's LV flags set to `flags`.
    fn pool_flagged(flags: &str) -> String {
        let v = vg(VG);
        let pool_id = &v.lvs[v.lv_index("pool").unwrap()].id;
        let at = VG.find(&format!("id = \"{pool_id}\"")).unwrap();
        let f = at + VG[at..].find("flags = []").unwrap();
        format!(
            "{}flags = [{flags}]{}",
            &VG[..f],
            &VG[f + "flags = []".len()..]
        )
    }

    #[test]
    fn zeroing_and_error_when_full_are_feature_words() {
        let pool = |text: &str| {
            let v = vg(text);
            dm_pool(&v, v.lv_index("pool").unwrap()).unwrap()
        };
        assert!(VG.contains("zero_new_blocks = 1"));
        let p = pool(VG);
        assert_eq!(
            (p.feature_words().as_str(), p.no_space_word()),
            ("0 ", "queue_if_no_space")
        );
        // lvm2 marks the pool LV itself (thin-merge's epool): the table
        // line the kernel printed for it ends `0 1 error_if_no_space `.
        let flagged = pool_flagged("\"ERROR_WHEN_FULL\"");
        assert_ne!(flagged, VG);
        let p = pool(&flagged);
        assert_eq!(p.feature_words(), "1 error_if_no_space ");
        assert_eq!(p.no_space_word(), "error_if_no_space");
        let p = pool(&flagged.replace("zero_new_blocks = 1", "zero_new_blocks = 0"));
        assert_eq!(p.feature_words(), "2 skip_block_zeroing error_if_no_space ");
        assert!(!p.is_new());
    }
}
