//! A cache's metadata as a whole: the superblock, the mapping array and,
//! in version 2, the dirty bitset; what the kernel would load from them.
//!
//! Dirtiness on disk is current only after a clean shutdown: the kernel
//! writes the dirty flags (version 1) or the dirty bitset (version 2) when
//! the cache is suspended, and a commit while running clears the
//! clean-shutdown flag. Loading metadata without that flag, the kernel
//! takes every valid block as dirty (`respect_dirty_flags`), which
//! [`CacheMetadata::dirty`] follows.

use crate::cache::mapping::{MappingValue, MAPPING_SIZE};
use crate::cache::superblock::Superblock;
use crate::error::{Error, Result};
use crate::pdata::array;
use crate::pdata::bitset::Bitset;
use crate::pdata::block::MetadataDev;
use byteorder::{ByteOrder, LittleEndian};
use lvm_meta::io::ReadAt;
use std::collections::HashMap;

/// A valid entry of the mapping array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheMapping {
    /// The cache block (index in the mapping array).
    pub cblock: u64,
    /// The origin block it holds.
    pub oblock: u64,
    /// Dirty as stored: the `M_DIRTY` flag (version 1) or the dirty bit
    /// (version 2); current only after a clean shutdown.
    pub dirty_on_disk: bool,
}

/// The metadata of one cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheMetadata {
    /// The superblock.
    pub superblock: Superblock,
    /// The valid mappings, in cache block order.
    pub mappings: Vec<CacheMapping>,
}

impl CacheMetadata {
    /// Reads the metadata at `dev`: `None` if it was never formatted
    /// (block 0 all zeros). Invalid entries are skipped; two valid entries
    /// holding one origin block are an error (the kernel would serve one
    /// of them at random).
    pub fn read<R: ReadAt>(dev: &MetadataDev<R>) -> Result<Option<CacheMetadata>> {
        let Some(sb) = Superblock::read(dev)? else {
            return Ok(None);
        };
        let nr = u64::from(sb.cache_blocks);
        let dirty = if sb.version >= 2 {
            Some(Bitset::read(dev, sb.dirty_root, nr, "dirty bitset")?)
        } else {
            None
        };
        let mut mappings = Vec::new();
        let mut seen: HashMap<u64, u64> = HashMap::new();
        array::walk(
            dev,
            sb.mapping_root,
            MAPPING_SIZE,
            nr,
            "mapping array",
            &mut |cblock, v| {
                let m = MappingValue::unpack(LittleEndian::read_u64(v));
                if !m.valid() {
                    return Ok(());
                }
                if let Some(first) = seen.insert(m.oblock, cblock) {
                    return Err(Error::Inconsistent(format!(
                        "mapping array: origin block {} is in cache blocks {first} and {cblock}",
                        m.oblock
                    )));
                }
                let dirty_on_disk = match &dirty {
                    Some(bits) => bits.get(cblock),
                    None => m.dirty(),
                };
                mappings.push(CacheMapping {
                    cblock,
                    oblock: m.oblock,
                    dirty_on_disk,
                });
                Ok(())
            },
        )?;
        Ok(Some(CacheMetadata {
            superblock: sb,
            mappings,
        }))
    }

    /// Whether the kernel, loading this metadata, takes `m` as dirty: the
    /// stored flag after a clean shutdown, otherwise always.
    pub fn dirty(&self, m: &CacheMapping) -> bool {
        !self.superblock.clean_shutdown() || m.dirty_on_disk
    }

    /// Blocks the kernel would load as dirty.
    pub fn nr_dirty(&self) -> u64 {
        u64::try_from(self.mappings.iter().filter(|m| self.dirty(m)).count()).unwrap_or(u64::MAX)
    }

    /// Blocks dirty as stored.
    pub fn nr_dirty_on_disk(&self) -> u64 {
        u64::try_from(self.mappings.iter().filter(|m| m.dirty_on_disk).count()).unwrap_or(u64::MAX)
    }
}
