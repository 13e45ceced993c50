//! A thin pool's metadata as a whole: the superblock, the device details
//! and the two-level mapping tree (thin device id → virtual block →
//! [`BlockTime`]).

use crate::error::{Error, Result};
use crate::pdata::block::MetadataDev;
use crate::pdata::btree;
use crate::thin::block_time::BlockTime;
use crate::thin::device_details::{DeviceDetails, DEVICE_DETAILS_SIZE};
use crate::thin::superblock::Superblock;
use byteorder::{ByteOrder, LittleEndian};
use lvm_meta::io::ReadAt;
use std::collections::BTreeMap;

/// Highest thin device id (`MAX_DEV_ID`, 24 bits).
pub const MAX_DEV_ID: u64 = (1 << 24) - 1;

/// The superblock, the details of every device and the root of every
/// device's mapping tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThinMetadata {
    /// The superblock the trees were read from.
    pub superblock: Superblock,
    /// Device details by thin device id.
    pub details: BTreeMap<u64, DeviceDetails>,
    /// Root of each device's bottom-level mapping tree, by thin device id
    /// (the top-level mapping tree).
    pub roots: BTreeMap<u64, u64>,
}

/// One mapping of a thin device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    /// Virtual block of the thin device.
    pub virt: u64,
    /// Where its data is, and when it was mapped.
    pub value: BlockTime,
}

fn dev_id(key: u64, tree: &str) -> Result<u64> {
    if key > MAX_DEV_ID {
        return Err(Error::Inconsistent(format!(
            "{tree}: thin device id {key} is above the largest, {MAX_DEV_ID}"
        )));
    }
    Ok(key)
}

impl ThinMetadata {
    /// Reads the live metadata (superblock at block 0).
    pub fn read<R: ReadAt>(dev: &MetadataDev<R>) -> Result<ThinMetadata> {
        let sb = Superblock::read(dev)?;
        ThinMetadata::read_from(dev, sb)
    }

    /// Reads the details and the top-level mapping tree that `sb` names
    /// (the live superblock, or a metadata snapshot's copy).
    pub fn read_from<R: ReadAt>(dev: &MetadataDev<R>, sb: Superblock) -> Result<ThinMetadata> {
        let mut details = BTreeMap::new();
        btree::walk(
            dev,
            sb.device_details_root,
            DEVICE_DETAILS_SIZE,
            "device details tree",
            &mut |k, v| {
                let id = dev_id(k, "device details tree")?;
                // OK: the walk hands out values of DEVICE_DETAILS_SIZE bytes.
                let v: &[u8; DEVICE_DETAILS_SIZE] = v
                    .try_into()
                    .map_err(|_| Error::Inconsistent("device details of the wrong size".into()))?;
                details.insert(id, DeviceDetails::parse(v));
                Ok(())
            },
        )?;
        let mut roots = BTreeMap::new();
        btree::walk(
            dev,
            sb.data_mapping_root,
            8,
            "top-level mapping tree",
            &mut |k, v| {
                let id = dev_id(k, "top-level mapping tree")?;
                roots.insert(id, LittleEndian::read_u64(v));
                Ok(())
            },
        )?;
        Ok(ThinMetadata {
            superblock: sb,
            details,
            roots,
        })
    }

    /// Data blocks in the pool (`nr_blocks` of the data space map).
    pub fn nr_data_blocks(&self) -> u64 {
        self.superblock.data_sm_root.nr_blocks
    }

    /// Every mapping of thin device `thin_id`, in virtual block order
    /// (empty for a device without a mapping tree). A data block past the
    /// pool's data blocks is an error.
    pub fn mappings<R: ReadAt>(&self, dev: &MetadataDev<R>, thin_id: u64) -> Result<Vec<Mapping>> {
        let Some(&root) = self.roots.get(&thin_id) else {
            return Ok(Vec::new());
        };
        let nr_data = self.nr_data_blocks();
        let mut out = Vec::new();
        btree::walk(dev, root, 8, "bottom-level mapping tree", &mut |virt, v| {
            let value = BlockTime::unpack(LittleEndian::read_u64(v));
            if value.block >= nr_data {
                return Err(Error::Inconsistent(format!(
                    "thin device {thin_id}: virtual block {virt} maps to data block {}, past the pool's {nr_data} data blocks",
                    value.block
                )));
            }
            out.push(Mapping { virt, value });
            Ok(())
        })?;
        Ok(out)
    }
}

/// Metadata blocks the kernel keeps in reserve for a device of
/// `nr_blocks` (`__set_metadata_reserve`): a tenth, at most 4096.
pub fn metadata_reserve(nr_blocks: u64) -> u64 {
    (nr_blocks / 10).min(4096)
}

/// The block counts of the pool's status line (`pool_status`): used and
/// total metadata blocks, used and total data blocks, from the committed
/// space-map roots. The metadata reserve counts as used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    /// `<used meta>` (including the reserve).
    pub used_metadata: u64,
    /// `<total meta>`.
    pub total_metadata: u64,
    /// `<used data>`.
    pub used_data: u64,
    /// `<total data>`.
    pub total_data: u64,
}

impl PoolUsage {
    /// The counts as a freshly loaded pool reports them for `sb`.
    pub fn of(sb: &Superblock) -> PoolUsage {
        let m = sb.metadata_sm_root;
        let free = m.nr_blocks.saturating_sub(m.nr_allocated);
        let reported_free = free.saturating_sub(metadata_reserve(m.nr_blocks));
        PoolUsage {
            used_metadata: m.nr_blocks.saturating_sub(reported_free),
            total_metadata: m.nr_blocks,
            used_data: sb.data_sm_root.nr_allocated.min(sb.data_sm_root.nr_blocks),
            total_data: sb.data_sm_root.nr_blocks,
        }
    }
}
