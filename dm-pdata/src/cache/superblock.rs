//! The dm-cache superblock (`struct cache_disk_superblock`,
//! `dm-cache-metadata.c`), block 0 of the cache metadata device.

use crate::error::{BlockKind, Error, Result};
use crate::pdata::block::{check_block, MetadataDev, BLOCK_SIZE};
use crate::pdata::checksum::CACHE_SUPERBLOCK_CSUM_XOR;
use crate::pdata::space_map::{SmRoot, SM_ROOT_SIZE};
use byteorder::{ByteOrder, LittleEndian};
use lvm_meta::io::ReadAt;

/// Where the superblock is.
pub const SUPERBLOCK_LOCATION: u64 = 0;
/// `CACHE_SUPERBLOCK_MAGIC` (06142003 in C, an octal literal).
pub const CACHE_SUPERBLOCK_MAGIC: u64 = 0o6_142_003;
/// Oldest metadata version (`MIN_CACHE_VERSION`): dirty flags in the mapping.
pub const MIN_CACHE_VERSION: u32 = 1;
/// Newest metadata version (`MAX_CACHE_VERSION`): a separate dirty bitset.
pub const MAX_CACHE_VERSION: u32 = 2;
/// `flags` bit: the cache was shut down cleanly (`CLEAN_SHUTDOWN`), so the
/// dirty flags, hints and discard bitset on disk are current.
pub const CLEAN_SHUTDOWN_FLAG: u32 = 1;
/// `flags` bit: the metadata wants a `cache_check` (`NEEDS_CHECK`).
pub const NEEDS_CHECK_FLAG: u32 = 2;
/// Bytes of `policy_name` (`CACHE_POLICY_NAME_SIZE`).
pub const POLICY_NAME_SIZE: usize = 16;
/// Words of `policy_version` (`CACHE_POLICY_VERSION_SIZE`).
pub const POLICY_VERSION_SIZE: usize = 3;
/// Smallest cache block in sectors (`DATA_DEV_BLOCK_SIZE_MIN_SECTORS`, 32 KiB);
/// every block size is a multiple of it.
pub const DATA_BLOCK_SIZE_MIN: u32 = 64;
/// Largest cache block in sectors (`DATA_DEV_BLOCK_SIZE_MAX_SECTORS`, 1 GiB).
pub const DATA_BLOCK_SIZE_MAX: u32 = 2_097_152;
/// The metadata block size in sectors.
pub const METADATA_BLOCK_SECTORS: u32 = 8;

/// Offsets of the fields.
pub mod offset {
    /// `csum`.
    pub const CSUM: usize = 0;
    /// `flags`.
    pub const FLAGS: usize = 4;
    /// `blocknr`.
    pub const BLOCKNR: usize = 8;
    /// `uuid` (16 bytes).
    pub const UUID: usize = 16;
    /// `magic`.
    pub const MAGIC: usize = 32;
    /// `version`.
    pub const VERSION: usize = 40;
    /// `policy_name` (16 bytes, NUL-padded).
    pub const POLICY_NAME: usize = 44;
    /// `policy_hint_size`.
    pub const POLICY_HINT_SIZE: usize = 60;
    /// `metadata_space_map_root` (128 bytes).
    pub const METADATA_SPACE_MAP_ROOT: usize = 64;
    /// `mapping_root`.
    pub const MAPPING_ROOT: usize = 192;
    /// `hint_root`.
    pub const HINT_ROOT: usize = 200;
    /// `discard_root`.
    pub const DISCARD_ROOT: usize = 208;
    /// `discard_block_size` (sectors).
    pub const DISCARD_BLOCK_SIZE: usize = 216;
    /// `discard_nr_blocks`.
    pub const DISCARD_NR_BLOCKS: usize = 224;
    /// `data_block_size` (sectors).
    pub const DATA_BLOCK_SIZE: usize = 232;
    /// `metadata_block_size` (sectors).
    pub const METADATA_BLOCK_SIZE: usize = 236;
    /// `cache_blocks`.
    pub const CACHE_BLOCKS: usize = 240;
    /// `compat_flags`.
    pub const COMPAT_FLAGS: usize = 244;
    /// `compat_ro_flags`.
    pub const COMPAT_RO_FLAGS: usize = 248;
    /// `incompat_flags`.
    pub const INCOMPAT_FLAGS: usize = 252;
    /// `read_hits`.
    pub const READ_HITS: usize = 256;
    /// `read_misses`.
    pub const READ_MISSES: usize = 260;
    /// `write_hits`.
    pub const WRITE_HITS: usize = 264;
    /// `write_misses`.
    pub const WRITE_MISSES: usize = 268;
    /// `policy_version` (3 × u32).
    pub const POLICY_VERSION: usize = 272;
    /// `dirty_root` (version 2 only).
    pub const DIRTY_ROOT: usize = 284;
    /// End of the structure.
    pub const END: usize = 292;
}

/// The superblock as stored (every field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superblock {
    /// `csum`.
    pub csum: u32,
    /// `flags` ([`CLEAN_SHUTDOWN_FLAG`], [`NEEDS_CHECK_FLAG`]).
    pub flags: u32,
    /// `blocknr`.
    pub blocknr: u64,
    /// `uuid` (zero as the kernel writes it).
    pub uuid: [u8; 16],
    /// `magic`.
    pub magic: u64,
    /// `version`: 1 or 2.
    pub version: u32,
    /// `policy_name`, NUL-padded.
    pub policy_name: [u8; POLICY_NAME_SIZE],
    /// `policy_hint_size`: bytes per hint.
    pub policy_hint_size: u32,
    /// `metadata_space_map_root` (first 32 bytes).
    pub metadata_sm_root: SmRoot,
    /// `mapping_root`: the mapping array (one u64 per cache block).
    pub mapping_root: u64,
    /// `hint_root`: the policy's hint array.
    pub hint_root: u64,
    /// `discard_root`: the discard bitset.
    pub discard_root: u64,
    /// `discard_block_size` in sectors.
    pub discard_block_size: u64,
    /// `discard_nr_blocks`.
    pub discard_nr_blocks: u64,
    /// `data_block_size`: the cache block size in sectors.
    pub data_block_size: u32,
    /// `metadata_block_size` in sectors.
    pub metadata_block_size: u32,
    /// `cache_blocks`: blocks on the cache data device.
    pub cache_blocks: u32,
    /// `compat_flags`.
    pub compat_flags: u32,
    /// `compat_ro_flags`.
    pub compat_ro_flags: u32,
    /// `incompat_flags`.
    pub incompat_flags: u32,
    /// `read_hits` (saved at each commit).
    pub read_hits: u32,
    /// `read_misses`.
    pub read_misses: u32,
    /// `write_hits`.
    pub write_hits: u32,
    /// `write_misses`.
    pub write_misses: u32,
    /// `policy_version`: major, minor, patch.
    pub policy_version: [u32; POLICY_VERSION_SIZE],
    /// `dirty_root`: the dirty bitset (version 2; version 1 leaves it 0).
    pub dirty_root: u64,
}

fn bad(block: u64, field: &'static str, found: u64, reason: &'static str) -> Error {
    Error::BadValue {
        block,
        kind: BlockKind::CacheSuperblock,
        field,
        found,
        reason,
    }
}

impl Superblock {
    /// Decodes every field of a superblock block (no checks).
    pub fn decode(b: &[u8; BLOCK_SIZE]) -> Superblock {
        use offset::*;
        let u32_at = |o: usize| LittleEndian::read_u32(&b[o..o.saturating_add(4)]);
        let u64_at = |o: usize| LittleEndian::read_u64(&b[o..o.saturating_add(8)]);
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(&b[UUID..MAGIC]);
        let mut policy_name = [0u8; POLICY_NAME_SIZE];
        policy_name.copy_from_slice(&b[POLICY_NAME..POLICY_HINT_SIZE]);
        let mut r = [0u8; SM_ROOT_SIZE];
        r.copy_from_slice(
            &b[METADATA_SPACE_MAP_ROOT..METADATA_SPACE_MAP_ROOT.saturating_add(SM_ROOT_SIZE)],
        );
        Superblock {
            csum: u32_at(CSUM),
            flags: u32_at(FLAGS),
            blocknr: u64_at(BLOCKNR),
            uuid,
            magic: u64_at(MAGIC),
            version: u32_at(VERSION),
            policy_name,
            policy_hint_size: u32_at(POLICY_HINT_SIZE),
            metadata_sm_root: SmRoot::parse(&r),
            mapping_root: u64_at(MAPPING_ROOT),
            hint_root: u64_at(HINT_ROOT),
            discard_root: u64_at(DISCARD_ROOT),
            discard_block_size: u64_at(DISCARD_BLOCK_SIZE),
            discard_nr_blocks: u64_at(DISCARD_NR_BLOCKS),
            data_block_size: u32_at(DATA_BLOCK_SIZE),
            metadata_block_size: u32_at(METADATA_BLOCK_SIZE),
            cache_blocks: u32_at(CACHE_BLOCKS),
            compat_flags: u32_at(COMPAT_FLAGS),
            compat_ro_flags: u32_at(COMPAT_RO_FLAGS),
            incompat_flags: u32_at(INCOMPAT_FLAGS),
            read_hits: u32_at(READ_HITS),
            read_misses: u32_at(READ_MISSES),
            write_hits: u32_at(WRITE_HITS),
            write_misses: u32_at(WRITE_MISSES),
            policy_version: [
                u32_at(POLICY_VERSION),
                u32_at(POLICY_VERSION.saturating_add(4)),
                u32_at(POLICY_VERSION.saturating_add(8)),
            ],
            dirty_root: u64_at(DIRTY_ROOT),
        }
    }

    /// Checks a superblock read from `block`: checksum, self-location,
    /// magic, version (1 or 2), the metadata block size (8), the cache
    /// block size (a multiple of 64 sectors from 64 to 2097152) and no
    /// incompatible feature.
    pub fn parse(block: u64, b: &[u8; BLOCK_SIZE]) -> Result<Superblock> {
        check_block(
            &b[..],
            block,
            BlockKind::CacheSuperblock,
            CACHE_SUPERBLOCK_CSUM_XOR,
        )?;
        let sb = Superblock::decode(b);
        if sb.magic != CACHE_SUPERBLOCK_MAGIC {
            return Err(bad(
                block,
                "magic",
                sb.magic,
                "a cache superblock has 1623043 (06142003 octal)",
            ));
        }
        if !(MIN_CACHE_VERSION..=MAX_CACHE_VERSION).contains(&sb.version) {
            return Err(Error::Unsupported(format!(
                "metadata block {block}: cache superblock version {} (versions 1 and 2 are read)",
                sb.version
            )));
        }
        if sb.metadata_block_size != METADATA_BLOCK_SECTORS {
            return Err(bad(
                block,
                "metadata_block_size",
                u64::from(sb.metadata_block_size),
                "metadata blocks are 8 sectors",
            ));
        }
        let dbs = sb.data_block_size;
        if !(DATA_BLOCK_SIZE_MIN..=DATA_BLOCK_SIZE_MAX).contains(&dbs)
            || !dbs.is_multiple_of(DATA_BLOCK_SIZE_MIN)
        {
            return Err(bad(
                block,
                "data_block_size",
                u64::from(dbs),
                "a multiple of 64 sectors from 64 to 2097152",
            ));
        }
        if sb.incompat_flags != 0 {
            return Err(Error::Unsupported(format!(
                "metadata block {block}: cache superblock has incompat_flags {:#x}, which no kernel supports yet",
                sb.incompat_flags
            )));
        }
        Ok(sb)
    }

    /// Reads the superblock at block 0: `None` if the block is all zeros
    /// (metadata never formatted: the kernel formats it at the first
    /// activation, and every block then comes from the origin).
    pub fn read<R: ReadAt>(dev: &MetadataDev<R>) -> Result<Option<Superblock>> {
        let b = dev.read_raw(SUPERBLOCK_LOCATION)?;
        if b.iter().all(|&x| x == 0) {
            return Ok(None);
        }
        Superblock::parse(SUPERBLOCK_LOCATION, &b).map(Some)
    }

    /// The policy's name (`policy_name` up to its first NUL).
    pub fn policy(&self) -> String {
        let end = self
            .policy_name
            .iter()
            .position(|&c| c == 0)
            .unwrap_or(POLICY_NAME_SIZE);
        self.policy_name[..end]
            .iter()
            .map(|&c| char::from(c))
            .collect()
    }

    /// True when the last shutdown was clean, so the dirty flags (version 1)
    /// or the dirty bitset (version 2) on disk are current.
    pub fn clean_shutdown(&self) -> bool {
        self.flags & CLEAN_SHUTDOWN_FLAG != 0
    }

    /// True when the metadata asked for a `cache_check`.
    pub fn needs_check(&self) -> bool {
        self.flags & NEEDS_CHECK_FLAG != 0
    }
}

/// Clears the clean-shutdown flag of the superblock block `b` read from
/// block 0 and stamps its checksum again, as the kernel's next commit
/// after a change does (a commit other than the clean shutdown's clears
/// the flag): a loader then takes every mapped block as dirty. Returns
/// false, leaving `b` as it was, if the flag was not set.
///
/// # Errors
/// The block is not a valid superblock ([`Superblock::parse`]).
pub fn clear_clean_shutdown(b: &mut [u8; BLOCK_SIZE]) -> Result<bool> {
    let sb = Superblock::parse(SUPERBLOCK_LOCATION, b)?;
    if !sb.clean_shutdown() {
        return Ok(false);
    }
    let flags = sb.flags & !CLEAN_SHUTDOWN_FLAG;
    LittleEndian::write_u32(&mut b[offset::FLAGS..], flags);
    let c = crate::pdata::checksum::block_checksum(&b[..], CACHE_SUPERBLOCK_CSUM_XOR);
    LittleEndian::write_u32(&mut b[offset::CSUM..], c);
    Ok(true)
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::as_conversions)]
pub(crate) mod tests {
    use super::*;
    use crate::pdata::checksum::block_checksum;

    /// A version-`version` superblock with 64 blocks of 128 sectors.
    pub(crate) fn superblock_bytes(version: u32, flags: u32, mapping: u64, dirty: u64) -> Vec<u8> {
        use offset::*;
        let mut b = vec![0u8; BLOCK_SIZE];
        LittleEndian::write_u32(&mut b[FLAGS..], flags);
        LittleEndian::write_u64(&mut b[MAGIC..], CACHE_SUPERBLOCK_MAGIC);
        LittleEndian::write_u32(&mut b[VERSION..], version);
        b[POLICY_NAME..POLICY_NAME + 3].copy_from_slice(b"smq");
        LittleEndian::write_u32(&mut b[POLICY_HINT_SIZE..], 4);
        LittleEndian::write_u64(&mut b[MAPPING_ROOT..], mapping);
        LittleEndian::write_u32(&mut b[DATA_BLOCK_SIZE..], 128);
        LittleEndian::write_u32(&mut b[METADATA_BLOCK_SIZE..], 8);
        LittleEndian::write_u32(&mut b[CACHE_BLOCKS..], 64);
        LittleEndian::write_u32(&mut b[POLICY_VERSION..], 2);
        LittleEndian::write_u64(&mut b[DIRTY_ROOT..], dirty);
        let c = block_checksum(&b, CACHE_SUPERBLOCK_CSUM_XOR);
        LittleEndian::write_u32(&mut b[CSUM..], c);
        b
    }

    fn arr(v: &[u8]) -> [u8; BLOCK_SIZE] {
        v.try_into().unwrap()
    }

    fn restamp(b: &mut [u8]) {
        let c = block_checksum(b, CACHE_SUPERBLOCK_CSUM_XOR);
        LittleEndian::write_u32(&mut b[offset::CSUM..], c);
    }

    #[test]
    fn clearing_the_clean_shutdown_flag_keeps_the_rest() {
        let mut b = arr(&superblock_bytes(
            2,
            CLEAN_SHUTDOWN_FLAG | NEEDS_CHECK_FLAG,
            5,
            6,
        ));
        let before = Superblock::parse(0, &b).unwrap();
        assert!(clear_clean_shutdown(&mut b).unwrap());
        let after = Superblock::parse(0, &b).unwrap();
        assert!(!after.clean_shutdown() && after.needs_check());
        assert_eq!(
            Superblock {
                csum: before.csum,
                flags: before.flags,
                ..after.clone()
            },
            before
        );
        // Already clear: nothing changes.
        let kept = b;
        assert!(!clear_clean_shutdown(&mut b).unwrap());
        assert_eq!(b, kept);
        // A bad checksum is refused, the block untouched.
        b[100] ^= 1;
        let bad = b;
        assert!(clear_clean_shutdown(&mut b).is_err());
        assert_eq!(b, bad);
    }

    #[test]
    fn magic_is_the_octal_literal() {
        assert_eq!(CACHE_SUPERBLOCK_MAGIC, 1_623_043);
    }

    #[test]
    fn fields_and_rules() {
        let good = superblock_bytes(2, CLEAN_SHUTDOWN_FLAG, 5, 6);
        let sb = Superblock::parse(0, &arr(&good)).unwrap();
        assert_eq!(sb.policy(), "smq");
        assert_eq!(
            (sb.mapping_root, sb.dirty_root, sb.cache_blocks),
            (5, 6, 64)
        );
        assert!(sb.clean_shutdown() && !sb.needs_check());
        let field_of = |at: usize, v: u32| {
            let mut b = good.clone();
            LittleEndian::write_u32(&mut b[at..], v);
            restamp(&mut b);
            Superblock::parse(0, &arr(&b))
        };
        assert!(matches!(
            field_of(offset::VERSION, 3),
            Err(Error::Unsupported(_))
        ));
        assert!(matches!(
            field_of(offset::DATA_BLOCK_SIZE, 96),
            Err(Error::BadValue {
                field: "data_block_size",
                found: 96,
                ..
            })
        ));
        assert!(matches!(
            field_of(offset::METADATA_BLOCK_SIZE, 16),
            Err(Error::BadValue {
                field: "metadata_block_size",
                ..
            })
        ));
        assert!(matches!(
            field_of(offset::INCOMPAT_FLAGS, 1),
            Err(Error::Unsupported(_))
        ));
        assert!(matches!(
            field_of(offset::MAGIC, 27_022_010),
            Err(Error::BadValue { field: "magic", .. })
        ));
        let mut b = good.clone();
        b[offset::CACHE_BLOCKS] ^= 1;
        assert!(matches!(
            Superblock::parse(0, &arr(&b)),
            Err(Error::Checksum {
                block: 0,
                kind: BlockKind::CacheSuperblock,
                ..
            })
        ));
    }

    #[test]
    fn an_unformatted_device_has_no_superblock() {
        let dev = MetadataDev::new(vec![0u8; BLOCK_SIZE * 2]).unwrap();
        assert_eq!(Superblock::read(&dev).unwrap(), None);
    }
}
