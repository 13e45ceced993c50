//! Thin pools created and grown as lvm2 2.03 does it
//! (`lib/metadata/thin_manip.c` `update_thin_pool_params`,
//! `pool_manip.c` `create_pool`, `handle_pool_metadata_spare`,
//! `lv_manip.c` `_lv_create_an_lv`, `wipe_lv`), and the pool metadata as
//! dm-thin leaves it.
//!
//! `lvcreate --type thin-pool -L SIZE -n POOL VG` (or `-T VG/POOL -L
//! SIZE`) writes the VG metadata three times:
//!
//! 1. without a metadata spare in the VG: the spare as a plain visible LV
//!    `lvolN` of the metadata's size, which lvm2 activates and zeroes
//!    whole (`allocation/zero_metadata`), then renames `lvolN_pmspare`
//!    and hides in the next write;
//! 2. the pool's metadata extents as a plain visible LV under the pool's
//!    name (`Write[2]`), zeroed whole;
//! 3. the pool: a `thin-pool` segment over `POOL_tmeta` (the LV of step
//!    2, a new id) and `POOL_tdata` (the data extents, allocated together
//!    with the metadata ones, data first).
//!
//! lvm2 then activates the pool and the kernel formats the all-zero
//! metadata device (`__format_metadata`, the first time the pool is
//! opened). lvmsim formats it at that point of the command, so the pool
//! metadata `thin_check` reads right after `lvcreate` is already the
//! empty pool the kernel would have written (see
//! [`dm_pdata::thin::format`]).
//!
//! `lvextend -L+SIZE VG/POOL` extends `POOL_tdata` and the pool segment;
//! `lvextend --poolmetadatasize +SIZE VG/POOL` extends `POOL_tmeta` (and
//! the spare to match). dm-thin grows its space maps when the pool is
//! next resumed with the larger devices (`pool_preresume`:
//! `dm_pool_resize_data_dev`, `dm_pool_resize_metadata_dev`); lvmsim grows
//! them in the same command, after the VG write.

use crate::error::{bail, refused, Error, Result};
use crate::ids::Ids;
use crate::lv::{allocate_for, merge_segments, new_lv, new_lv_name, segments_for};
use crate::size::{display_size, Amount, Sign};
use crate::thin::{is_pmspare, pool_seg, LvSource};
use crate::write::{commit_vg, rescan, Writer};
use cow_engine::lv_io::LvReader;
use dm_pdata::pdata::block::MetadataDev;
use lvm_meta::io::WriteAt;
use lvm_meta::model::{Segment, SegmentKind};
use lvm_meta::scan::System;
use lvm_meta::text::{Node, Value};
use std::io::Write;

/// `DEFAULT_THIN_POOL_CHUNK_SIZE` (64 KiB), in sectors: the first chunk
/// size of the `generic` policy.
pub const DEFAULT_CHUNK: u64 = 128;
/// `DM_THIN_MIN_DATA_BLOCK_SIZE` / `DM_THIN_MAX_DATA_BLOCK_SIZE`, sectors.
pub const MIN_CHUNK: u64 = 128;
/// See [`MIN_CHUNK`].
pub const MAX_CHUNK: u64 = 2 * 1024 * 1024;
/// `DEFAULT_THIN_POOL_OPTIMAL_METADATA_SIZE` (128 MiB), sectors: the
/// default chunk size doubles until the estimate fits.
const OPTIMAL_METADATA: u64 = 128 * 1024 * 2;
/// `DEFAULT_THIN_POOL_MIN_METADATA_SIZE` (2 MiB), sectors.
const MIN_METADATA: u64 = 2048 * 2;
/// `DEFAULT_THIN_POOL_MAX_METADATA_SIZE_V1_KB` (255 bitmaps of 16320
/// 4 KiB blocks), sectors: the largest usable metadata without
/// `allocation/thin_pool_crop_metadata`.
const MAX_METADATA: u64 = 255 * ((1 << 14) - 64) * 4 * 2;
/// Largest spare (`handle_pool_metadata_spare`: 16 GiB), sectors.
const MAX_SPARE: u64 = 2 * 16 * 1024 * 1024;

/// lvm2's `display_size` with its default `r` units: `<` marks a size
/// rounded up to the shown value.
fn display_rounded(sectors: u64) -> String {
    let exact = display_size(sectors);
    let r = crate::units::format_size(
        sectors,
        crate::units::Units {
            letter: 'r',
            factor: 0,
        },
        true,
    );
    if r.starts_with('<') {
        format!("<{exact}")
    } else {
        exact
    }
}

/// lvm2's estimate of the metadata a pool needs (`_estimate_size`): 64
/// bytes per data chunk, in sectors.
fn estimate_metadata(data_sectors: u64, chunk: u64) -> u64 {
    data_sectors / chunk.saturating_mul(512 / 64).max(1)
}

/// lvm2's chunk size from data and metadata sizes (`_estimate_chunk_size`
/// without the block-size feature rounding: the next power of two).
fn estimate_chunk(data_sectors: u64, metadata_sectors: u64) -> u64 {
    let c = data_sectors / metadata_sectors.saturating_mul(512 / 64).max(1);
    c.max(1).next_power_of_two().clamp(MIN_CHUNK, MAX_CHUNK)
}

/// The pool's chunk size and metadata extents (`update_thin_pool_params`
/// with lvm2's default configuration).
pub fn pool_params(
    data_extents: u64,
    extent: u64,
    chunk: Option<u64>,
    metadata_sectors: Option<u64>,
    out: &mut dyn Write,
) -> Result<(u64, u64)> {
    let data = data_extents.saturating_mul(extent);
    let (chunk, mut meta) = match metadata_sectors {
        None => {
            let (c, m) = match chunk {
                None => {
                    let mut c = DEFAULT_CHUNK;
                    let mut m = estimate_metadata(data, c);
                    while m > OPTIMAL_METADATA && c < MAX_CHUNK {
                        c <<= 1;
                        m >>= 1;
                    }
                    (c, m)
                }
                Some(c) => (c, estimate_metadata(data, c)),
            };
            (c, m.div_ceil(extent).saturating_mul(extent))
        }
        Some(m) => {
            let est = estimate_chunk(data, m);
            (chunk.unwrap_or(est), m)
        }
    };
    let max = MAX_METADATA.div_ceil(extent).saturating_mul(extent);
    let min = MIN_METADATA.div_ceil(extent).saturating_mul(extent);
    if meta > max {
        if metadata_sectors.is_some() {
            writeln!(
                out,
                "  Reducing pool metadata size {} to maximum usable size {}.",
                display_size(meta),
                display_size(max)
            )?;
        }
        meta = max;
    } else if meta < min {
        if metadata_sectors.is_some() {
            writeln!(
                out,
                "  Extending pool metadata size {} to required minimal size {}.",
                display_size(meta),
                display_size(min)
            )?;
        }
        meta = min;
    }
    let meta_extents = meta.div_ceil(extent);
    if !(MIN_CHUNK..=MAX_CHUNK).contains(&chunk) || chunk % MIN_CHUNK != 0 {
        bail!(
            "Thin pool chunk size {} is not a multiple of 64.00 KiB between 64.00 KiB and 1.00 GiB.",
            display_size(chunk)
        );
    }
    // `_estimate_max_data_size`: the largest data the metadata can map.
    let max_data = MAX_METADATA.saturating_mul(chunk).saturating_mul(512 / 64);
    if max_data / extent < data_extents {
        bail!(
            "Selected chunk size {} cannot address more then {} of thin pool data space.",
            display_size(chunk),
            display_size(max_data)
        );
    }
    writeln!(
        out,
        "  Thin pool volume with chunk size {} can address at most {} of data.",
        display_size(chunk),
        display_rounded(max_data)
    )?;
    if chunk > data {
        bail!(
            "Size of thin-pool data volume cannot be smaller than chunk size {}.",
            display_size(chunk)
        );
    }
    Ok((chunk, meta_extents))
}

/// `lvcreate` of a thin pool.
#[derive(Debug, Clone)]
pub struct PoolCreate {
    /// The pool's name (`lvolN` when none is given).
    pub name: Option<String>,
    /// `-L` or `-l` of the pool's data.
    pub amount: Amount,
    /// `-c` (sectors).
    pub chunk: Option<u64>,
    /// `--poolmetadatasize` (sectors).
    pub metadata: Option<u64>,
    /// `-Z`: zero new blocks (lvm2's default: yes).
    pub zero: bool,
    /// `--discards` (lvm2's default: `passdown`).
    pub discards: String,
    /// `-V SIZE -n NAME`: a thin LV made in the new pool by the same
    /// command (its name, its virtual size in sectors).
    pub thin: Option<(Option<String>, u64)>,
}

fn setting(key: &str, v: Value) -> Node {
    Node::Setting {
        key: key.into(),
        value: v,
    }
}

fn int(v: u64) -> Value {
    Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
}

/// The zeroing of a whole LV (`wipe_lv` of a metadata LV with
/// `allocation/zero_metadata = 1`), 1 MiB at a time.
fn zero_lv(sys: &System, vgname: &str, lv: &str, w: &Writer) -> Result<()> {
    let inst = sys.vg_or_err(vgname)?;
    let vg = &inst.vg;
    let li = vg.lv_index_or_err(lv)?;
    let size = vg.lv_extents(&vg.lvs[li]).saturating_mul(vg.extent_bytes());
    let mut images = crate::write::open_rw(sys, inst, w.hooks)?;
    let zeros = vec![0u8; 1 << 20];
    let mut at = 0u64;
    while at < size {
        let n = (size - at).min(1 << 20);
        images.write(vg, li, at, &zeros[..usize::try_from(n).unwrap_or(0)])?;
        at += n;
    }
    for f in images.pvs.iter_mut().flatten() {
        f.sync()
            .map_err(|e| refused!("{}: sync: {e}", f.path.clone()))?;
    }
    Ok(())
}

/// Writes empty pool metadata on pool `pool`'s zeroed metadata LV, as the
/// kernel's first activation of the pool does.
fn format_pool(sys: &System, vgname: &str, pool: &str, w: &Writer) -> Result<()> {
    let inst = sys.vg_or_err(vgname)?;
    let vg = &inst.vg;
    let pi = vg.lv_index_or_err(pool)?;
    let seg = pool_seg(vg, pi).ok_or_else(|| refused!("{vgname}/{pool} is not a thin pool."))?;
    let ext = vg.extent_size.0;
    let meta_blocks = vg.lv_extents(&vg.lvs[seg.metadata]).saturating_mul(ext) / 8;
    let data_blocks = vg.lv_extents(&vg.lvs[seg.data]).saturating_mul(ext) / seg.chunk_size;
    let chunk = u32::try_from(seg.chunk_size).map_err(|_| refused!("chunk size too big"))?;
    let blocks = dm_pdata::thin::format::format(meta_blocks, data_blocks, chunk).map_err(|e| {
        Error::ThinMetadata {
            pool: format!("{vgname}/{pool}"),
            source: e,
        }
    })?;
    let mut images = crate::write::open_rw(sys, inst, w.hooks)?;
    // The superblock comes last, after everything it points to.
    for (n, b) in &blocks {
        images.write(vg, seg.metadata, n * 4096, &b[..])?;
    }
    for f in images.pvs.iter_mut().flatten() {
        f.sync()
            .map_err(|e| refused!("{}: sync: {e}", f.path.clone()))?;
    }
    Ok(())
}

/// The write counter of one command (`Write from`, `Write[2] from`, ...).
struct Writes(u32);

impl Writes {
    fn next(&mut self) -> u32 {
        self.0 += 1;
        self.0
    }
}

/// `lvcreate --type thin-pool` / `lvcreate -T VG/POOL -L SIZE` (and with
/// `-V`, a thin LV in the new pool): see the module's documentation.
#[allow(clippy::too_many_arguments)]
pub fn lvcreate(
    sys: &System,
    vgname: &str,
    o: &PoolCreate,
    w: &Writer,
    ids: &mut Ids,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    let inst = crate::thin_lv::thin_writable(sys, vgname)?;
    let vg0 = (*inst.vg).clone();
    let name = new_lv_name(&vg0, vgname, o.name.as_deref())?;
    if let Some((Some(t), _)) = &o.thin {
        new_lv_name(&vg0, vgname, Some(t))?;
    }
    let ext = vg0.mappable_extent_size()?.0;
    let data_extents = match o.amount {
        Amount::Size(s) => {
            let n = s.div_ceil(ext);
            if s % ext != 0 {
                writeln!(
                    out,
                    "  Rounding up size to full physical extent {}",
                    display_size(n * ext)
                )?;
            }
            n
        }
        Amount::Extents(n) => n,
        Amount::Percent(..) => bail!("lvmsim sizes thin pools with -L or -l N only."),
    };
    if data_extents == 0 {
        bail!("Calculated size of logical volume is 0 extents. Needs to be larger.");
    }
    let (chunk, meta_extents) = pool_params(data_extents, ext, o.chunk, o.metadata, out)?;
    if o.zero && chunk >= 1024 {
        writeln!(
            err,
            "  WARNING: Pool zeroing and {} large chunk size slows down thin provisioning.",
            display_size(chunk)
        )?;
        writeln!(
            err,
            "  WARNING: Consider disabling zeroing (-Zn) or using smaller chunk size (<512.00 KiB)."
        )?;
    }
    let spare = (0..vg0.lvs.len()).find(|&l| is_pmspare(&vg0, l));
    let spare_extents = meta_extents.min(MAX_SPARE.div_ceil(ext));
    let spare_more = match spare {
        Some(s) => spare_extents.saturating_sub(vg0.lv_extents(&vg0.lvs[s])),
        None => spare_extents,
    };
    let free = lvm_meta::alloc::free_extents(&vg0, &[]);
    let need = data_extents + meta_extents + spare_more;
    if need > free {
        bail!(
            "Volume group \"{vgname}\" has insufficient free space ({free} extents): {need} required."
        );
    }
    let mut writes = Writes(0);
    let mut sys_now = rescan(sys)?;
    // 1. The spare, written and zeroed as a plain LV first.
    let mut spare_name = None;
    if spare.is_none() {
        let inst = crate::thin_lv::thin_writable(&sys_now, vgname)?;
        let mut vg = (*inst.vg).clone();
        let sname = new_lv_name(&vg, vgname, None)?;
        let pieces = allocate_for(&vg, &[], 1, spare_extents, None, false, &sname)?;
        let mut segs = segments_for(&pieces, 0, None);
        merge_segments(&mut segs);
        vg.lvs.push(new_lv(&sname, ids, w, segs)?);
        vg.derive_roles();
        commit_vg(&sys_now, inst, &mut vg, w, writes.next())?;
        sys_now = rescan(&sys_now)?;
        zero_lv(&sys_now, vgname, &sname, w)?;
        spare_name = Some(sname);
    }
    // 2. Data and metadata extents together (data first); the metadata
    // ones as a plain LV under the pool's name.
    let inst = crate::thin_lv::thin_writable(&sys_now, vgname)?;
    let mut vg = (*inst.vg).clone();
    if let Some(sname) = &spare_name {
        let si = vg.lv_index_or_err(sname)?;
        let l = &mut vg.lvs[si];
        l.name = format!("{sname}_pmspare");
        l.status.retain(|s| s != "VISIBLE");
    } else if let Some(s) = spare {
        if spare_more > 0 {
            let sname = vg.lvs[s].name.clone();
            let pieces = allocate_for(&vg, &[], 1, spare_more, Some(s), false, &sname)?;
            let have =
                u32::try_from(vg.lv_extents(&vg.lvs[s])).map_err(|_| refused!("spare too big"))?;
            let segs = segments_for(&pieces, have, None);
            vg.lvs[s].segments.extend(segs);
            merge_segments(&mut vg.lvs[s].segments);
        }
    }
    let data_pieces = allocate_for(&vg, &[], 1, data_extents, None, false, &name)?;
    let data_segs = segments_for(&data_pieces, 0, None);
    // The data extents are taken before the metadata ones are looked for.
    let mut probe = vg.clone();
    probe.lvs.push(new_lv(
        &name,
        &mut Ids::new(true, "probe"),
        w,
        data_segs.clone(),
    )?);
    let meta_pieces = allocate_for(&probe, &[], 1, meta_extents, None, false, &name)?;
    let mut meta_segs = segments_for(&meta_pieces, 0, None);
    merge_segments(&mut meta_segs);
    vg.lvs.push(new_lv(&name, ids, w, meta_segs)?);
    vg.derive_roles();
    commit_vg(&sys_now, inst, &mut vg, w, writes.next())?;
    sys_now = rescan(&sys_now)?;
    zero_lv(&sys_now, vgname, &name, w)?;
    // 3. The pool.
    let inst = crate::thin_lv::thin_writable(&sys_now, vgname)?;
    let mut vg = (*inst.vg).clone();
    let pi = vg.lv_index_or_err(&name)?;
    let meta_name = format!("{name}_tmeta");
    let data_name = format!("{name}_tdata");
    let mut meta_lv = new_lv(&meta_name, ids, w, std::mem::take(&mut vg.lvs[pi].segments))?;
    meta_lv.status.retain(|s| s != "VISIBLE");
    let mut data_segs = data_segs;
    merge_segments(&mut data_segs);
    let mut data_lv = new_lv(&data_name, ids, w, data_segs)?;
    data_lv.status.retain(|s| s != "VISIBLE");
    vg.lvs[pi].segments = vec![Segment {
        key: "segment1".into(),
        start_extent: 0,
        extent_count: u32::try_from(data_extents).map_err(|_| refused!("Size is too big."))?,
        reshape_count: None,
        type_name: "thin-pool".into(),
        tags: Vec::new(),
        kind: SegmentKind::Unknown {
            nodes: vec![
                setting("metadata", Value::Str(meta_name)),
                setting("pool", Value::Str(data_name)),
                setting("transaction_id", int(0)),
                setting("chunk_size", int(chunk)),
                setting("discards", Value::Str(o.discards.clone())),
            ],
        },
    }];
    // lvm2 writes the key only when set (`_thin_pool_text_export`).
    if o.zero {
        if let Some(SegmentKind::Unknown { nodes }) =
            vg.lvs[pi].segments.first_mut().map(|s| &mut s.kind)
        {
            nodes.push(setting("zero_new_blocks", int(1)));
        }
    }
    vg.lvs.push(meta_lv);
    vg.lvs.push(data_lv);
    vg.derive_roles();
    commit_vg(&sys_now, inst, &mut vg, w, writes.next())?;
    sys_now = rescan(&sys_now)?;
    // The pool's activation: the kernel formats its metadata.
    format_pool(&sys_now, vgname, &name, w)?;
    if let Some((tname, sectors)) = &o.thin {
        let what = crate::thin_lv::ThinCreate::Thin {
            pool: name.clone(),
            sectors: *sectors,
        };
        sys_now = rescan(&sys_now)?;
        return crate::thin_lv::lvcreate_from_write(
            &sys_now,
            vgname,
            &what,
            tname.as_deref(),
            w,
            ids,
            writes.0,
            out,
            err,
        );
    }
    writeln!(out, "  Logical volume \"{name}\" created.")?;
    Ok(())
}

/// What `lvextend` grows of a pool.
#[derive(Debug, Clone, Copy)]
pub enum PoolGrow {
    /// `-L+SIZE` / `-L SIZE` / `-l`: the data (`_tdata`).
    Data(Sign, Amount),
    /// `--poolmetadatasize [+]SIZE` (sectors): the metadata (`_tmeta`).
    Metadata(Sign, u64),
}

/// Whether `VG/LV` names a thin pool.
pub fn is_pool(sys: &System, vgname: &str, lv: &str) -> bool {
    sys.vg(vgname)
        .and_then(|i| Some(pool_seg(&i.vg, i.vg.lv_index(lv)?).is_some()))
        .unwrap_or(false)
}

/// `lvextend` of thin pool `VG/POOL`: the VG write, then the space map of
/// the grown device grown as dm-thin grows it when the pool is resumed.
pub fn lvextend(
    sys: &System,
    vgname: &str,
    pool: &str,
    grow: PoolGrow,
    w: &Writer,
    out: &mut dyn Write,
) -> Result<()> {
    let inst = crate::thin_lv::thin_writable(sys, vgname)?;
    let mut vg = (*inst.vg).clone();
    let pi = vg.lv_index_or_err(pool)?;
    let seg = pool_seg(&vg, pi).ok_or_else(|| refused!("{vgname}/{pool} is not a thin pool."))?;
    let ext = vg.extent_size.0;
    let (target, now, what) = match grow {
        PoolGrow::Data(..) => (seg.data, vg.lv_extents(&vg.lvs[seg.data]), "data"),
        PoolGrow::Metadata(..) => (
            seg.metadata,
            vg.lv_extents(&vg.lvs[seg.metadata]),
            "metadata",
        ),
    };
    let new = match grow {
        PoolGrow::Data(sign, amount) => {
            let n = match amount {
                Amount::Size(s) => {
                    let n = s.div_ceil(ext);
                    if s % ext != 0 {
                        writeln!(
                            out,
                            "  Rounding size to boundary between physical extents: {}.",
                            display_size(n * ext)
                        )?;
                    }
                    n
                }
                Amount::Extents(n) => n,
                Amount::Percent(..) => bail!("lvmsim grows thin pools by -L or -l N only."),
            };
            match sign {
                Sign::Plus => now.saturating_add(n),
                Sign::Minus => {
                    bail!("Thin pool volumes {vgname}/{pool}_tdata cannot be reduced in size yet.")
                }
                Sign::None => n,
            }
        }
        PoolGrow::Metadata(sign, s) => {
            let n = s.div_ceil(ext);
            let n = match sign {
                Sign::Plus => now.saturating_add(n),
                Sign::Minus => bail!("Thin pool metadata volumes cannot be reduced."),
                Sign::None => n,
            };
            let max = MAX_METADATA.div_ceil(ext);
            if n > max {
                bail!(
                    "Thin pool metadata size {} exceeds the maximum usable size {}.",
                    display_size(n * ext),
                    display_size(max * ext)
                );
            }
            n
        }
    };
    let lv_name = vg.lvs[pi].name.clone();
    if new <= now {
        bail!("New size ({new} extents) matches existing size ({now} extents).");
    }
    let more = new - now;
    let shown = if matches!(grow, PoolGrow::Data(..)) {
        format!("{vgname}/{lv_name}_tdata")
    } else {
        format!("{vgname}/{lv_name}_tmeta")
    };
    let old_size = display_size(now * ext);
    let tname = vg.lvs[target].name.clone();
    let pieces = allocate_for(&vg, &[], 1, more, Some(target), false, &tname)?;
    let have = u32::try_from(now).map_err(|_| refused!("Size is too big."))?;
    let segs = segments_for(&pieces, have, None);
    vg.lvs[target].segments.extend(segs);
    merge_segments(&mut vg.lvs[target].segments);
    if matches!(grow, PoolGrow::Data(..)) {
        let count = u32::try_from(new).map_err(|_| refused!("Size is too big."))?;
        if let Some(s) = vg.lvs[pi].segments.first_mut() {
            s.extent_count = count;
        }
    } else if let Some(s) = (0..vg.lvs.len()).find(|&l| is_pmspare(&vg, l)) {
        // `handle_pool_metadata_spare`: the spare follows the largest
        // metadata LV.
        let want = new.min(MAX_SPARE.div_ceil(ext));
        let have = vg.lv_extents(&vg.lvs[s]);
        if want > have {
            let sname = vg.lvs[s].name.clone();
            let pieces = allocate_for(&vg, &[], 1, want - have, Some(s), false, &sname)?;
            let at = u32::try_from(have).map_err(|_| refused!("Size is too big."))?;
            let segs = segments_for(&pieces, at, None);
            vg.lvs[s].segments.extend(segs);
            merge_segments(&mut vg.lvs[s].segments);
        }
    }
    vg.derive_roles();
    commit_vg(sys, inst, &mut vg, w, 1)?;
    writeln!(
        out,
        "  Size of logical volume {shown} changed from {old_size} ({now} extents) to {} ({new} extents).",
        display_size(new * ext)
    )?;
    let sys2 = rescan(sys)?;
    grow_space_map(&sys2, vgname, pool, what, w)?;
    // lvm2 names the LV it resized: the pool for its data, the metadata
    // LV for the metadata.
    let resized = match grow {
        PoolGrow::Data(..) => format!("{vgname}/{lv_name}"),
        PoolGrow::Metadata(..) => shown,
    };
    writeln!(out, "  Logical volume {resized} successfully resized.")?;
    Ok(())
}

/// dm-thin's resize at the pool's next resume: the data space map grows
/// to the data LV's chunks, the metadata space map to the metadata LV's
/// blocks; committed as a new transaction.
fn grow_space_map(sys: &System, vgname: &str, pool: &str, what: &str, w: &Writer) -> Result<()> {
    let inst = sys.vg_or_err(vgname)?;
    let vg = &inst.vg;
    let pi = vg.lv_index_or_err(pool)?;
    let seg = pool_seg(vg, pi).ok_or_else(|| refused!("{vgname}/{pool} is not a thin pool."))?;
    let pvs = sys.pv_images(inst);
    let name = format!("{vgname}/{pool}");
    let perr = |e| Error::ThinMetadata {
        pool: name.clone(),
        source: e,
    };
    let meta_lv = LvReader::new(vg, seg.metadata, pvs.clone())?;
    let dev = MetadataDev::new(LvSource::new(meta_lv)).map_err(perr)?;
    let mut tx = dm_pdata::thin::write::ThinTx::open(&dev).map_err(perr)?;
    let ext = vg.extent_size.0;
    if what == "data" {
        let blocks = vg.lv_extents(&vg.lvs[seg.data]).saturating_mul(ext) / seg.chunk_size;
        tx.resize_data(blocks).map_err(perr)?;
    } else {
        let blocks = vg.lv_extents(&vg.lvs[seg.metadata]).saturating_mul(ext) / 8;
        tx.resize_metadata(blocks).map_err(perr)?;
    }
    let p = crate::thin::Pool::open(vg, pi, &pvs)?;
    let mut images = crate::write::open_rw(sys, inst, w.hooks)?;
    crate::thin::commit_pool(vg, &p, tx, &mut images)
}
