//! VDO volumes (dm-vdo, lvm2's `--type vdo`), reported from the VG
//! metadata. lvm2 writes a VDO volume as one `vdo` segment naming its pool
//! (`vdo_pool`, with `vdo_offset`), and the pool as one `vdo-pool` segment
//! naming its data LV (`data`, `POOL_vdata`, hidden) with the settings it
//! gives the kernel's target: the header size and virtual size, the
//! compression, deduplication and index switches, the sizes of the block
//! map cache, index and slabs, and the thread counts.
//!
//! The data LV holds the VDO format (its block map, slab journals and
//! compressed fragments); lvmsim does not read it, so a VDO volume's bytes
//! are not available (`cat` refuses it), only its reports.

use crate::seg_keys::{any_unknown_seg, int, string, unknown_seg, Seg};
use lvm_meta::model::Vg;

/// A `vdo-pool` segment's keys. Sizes are as lvm2 keeps them: the header
/// in sectors, `minimum_io_size` in bytes, the cache, index and slab sizes
/// in MiB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VdoPoolSeg {
    /// `data`: index of the data LV (`_vdata`).
    pub data: usize,
    /// `header_size` in sectors.
    pub header_size: u64,
    /// `virtual_extents`: the VDO volume's size in extents.
    pub virtual_extents: u64,
    /// `use_compression`.
    pub compression: bool,
    /// `use_deduplication`.
    pub deduplication: bool,
    /// `use_metadata_hints`.
    pub metadata_hints: bool,
    /// `minimum_io_size` in bytes.
    pub minimum_io_size: u64,
    /// `block_map_cache_size_mb`.
    pub block_map_cache_size_mb: u64,
    /// `block_map_era_length`.
    pub block_map_era_length: u64,
    /// `use_sparse_index`.
    pub sparse_index: bool,
    /// `index_memory_size_mb`.
    pub index_memory_size_mb: u64,
    /// `max_discard`.
    pub max_discard: u64,
    /// `slab_size_mb`.
    pub slab_size_mb: u64,
    /// `ack_threads`, `bio_threads`, `bio_rotation`, `cpu_threads`,
    /// `hash_zone_threads`, `logical_threads`, `physical_threads`.
    pub threads: VdoThreads,
    /// `write_policy` (absent in metadata older than lvm2 2.03.12; lvm2
    /// then reports `auto`).
    pub write_policy: Option<String>,
}

/// The thread settings of a VDO pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VdoThreads {
    /// `ack_threads`.
    pub ack: u64,
    /// `bio_threads`.
    pub bio: u64,
    /// `bio_rotation`.
    pub bio_rotation: u64,
    /// `cpu_threads`.
    pub cpu: u64,
    /// `hash_zone_threads`.
    pub hash_zone: u64,
    /// `logical_threads`.
    pub logical: u64,
    /// `physical_threads`.
    pub physical: u64,
}

/// A `vdo` segment's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VdoSeg {
    /// `vdo_pool`: index of the pool LV.
    pub pool: usize,
    /// `vdo_offset`.
    pub offset: u64,
}

/// lvm2's segment type of a VDO pool.
const POOL_TYPE: &str = "vdo-pool";
/// lvm2's segment type of a VDO volume.
const VDO_TYPE: &str = "vdo";

/// A boolean key as lvm2 imports it: absent is off.
fn flag(s: &Seg<'_>, key: &str) -> bool {
    int(s, key).is_some_and(|v| v != 0)
}

/// LV `lv` as a VDO pool, if it is one whose keys lvm2 would accept (every
/// number it requires present).
pub fn pool_seg(vg: &Vg, lv: usize) -> Option<VdoPoolSeg> {
    let s = unknown_seg(vg, lv, |t| t == POOL_TYPE)?;
    Some(VdoPoolSeg {
        data: vg.lv_index(string(&s, "data")?)?,
        header_size: int(&s, "header_size")?,
        virtual_extents: int(&s, "virtual_extents")?,
        compression: flag(&s, "use_compression"),
        deduplication: flag(&s, "use_deduplication"),
        metadata_hints: flag(&s, "use_metadata_hints"),
        minimum_io_size: int(&s, "minimum_io_size")?,
        block_map_cache_size_mb: int(&s, "block_map_cache_size_mb")?,
        block_map_era_length: int(&s, "block_map_era_length")?,
        sparse_index: flag(&s, "use_sparse_index"),
        index_memory_size_mb: int(&s, "index_memory_size_mb")?,
        max_discard: int(&s, "max_discard")?,
        slab_size_mb: int(&s, "slab_size_mb")?,
        threads: VdoThreads {
            ack: int(&s, "ack_threads")?,
            bio: int(&s, "bio_threads")?,
            bio_rotation: int(&s, "bio_rotation")?,
            cpu: int(&s, "cpu_threads")?,
            hash_zone: int(&s, "hash_zone_threads")?,
            logical: int(&s, "logical_threads")?,
            physical: int(&s, "physical_threads")?,
        },
        write_policy: string(&s, "write_policy").map(str::to_owned),
    })
}

/// LV `lv` as a VDO volume, if it is one.
pub fn vdo_seg(vg: &Vg, lv: usize) -> Option<VdoSeg> {
    let s = unknown_seg(vg, lv, |t| t == VDO_TYPE)?;
    Some(VdoSeg {
        pool: vg.lv_index(string(&s, "vdo_pool")?)?,
        offset: int(&s, "vdo_offset")?,
    })
}

/// What an LV is to VDO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VdoRole {
    /// A VDO volume.
    Volume(VdoSeg),
    /// A VDO pool.
    Pool(VdoPoolSeg),
    /// The data LV (`_vdata`) of pool `.0`.
    Data(usize),
}

/// Every LV's part in VDO, by LV index (one pass over the VG).
///
/// Empty (no allocation, no walk beyond a look at the segment types) when
/// no LV has a vdo or vdo-pool segment: read it with `get`, a missing
/// entry is no role.
pub fn roles(vg: &Vg) -> Vec<Option<VdoRole>> {
    if !any_unknown_seg(vg, |t| t == POOL_TYPE || t == VDO_TYPE) {
        return Vec::new();
    }
    let mut out = vec![None; vg.lvs.len()];
    for i in 0..vg.lvs.len() {
        if let Some(p) = pool_seg(vg, i) {
            if let Some(d) = out.get_mut(p.data) {
                *d = Some(VdoRole::Data(i));
            }
            out[i] = Some(VdoRole::Pool(p));
        } else if let Some(v) = vdo_seg(vg, i) {
            out[i] = Some(VdoRole::Volume(v));
        }
    }
    out
}

impl VdoPoolSeg {
    /// `vdo_write_policy` as lvm2 reports it.
    pub fn write_policy_name(&self) -> &str {
        self.write_policy.as_deref().unwrap_or("auto")
    }
}
