//! The thin-pool superblock (`struct thin_disk_superblock`,
//! `dm-thin-metadata.c`), block 0 of the metadata device.

use crate::error::{BlockKind, Error, Result};
use crate::pdata::block::{check_block, MetadataDev, BLOCK_SIZE};
use crate::pdata::checksum::SUPERBLOCK_CSUM_XOR;
use crate::pdata::space_map::{SmRoot, SM_ROOT_SIZE};
use byteorder::{ByteOrder, LittleEndian};
use lvm_meta::io::ReadAt;

/// Where the live superblock is.
pub const SUPERBLOCK_LOCATION: u64 = 0;
/// `THIN_SUPERBLOCK_MAGIC`.
pub const THIN_SUPERBLOCK_MAGIC: u64 = 27_022_010;
/// `flags` bit: the pool wants a `thin_check` (`THIN_METADATA_NEEDS_CHECK_FLAG`).
pub const NEEDS_CHECK_FLAG: u32 = 1;
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
    /// `time`.
    pub const TIME: usize = 44;
    /// `trans_id`.
    pub const TRANS_ID: usize = 48;
    /// `held_root`.
    pub const HELD_ROOT: usize = 56;
    /// `data_space_map_root` (128 bytes).
    pub const DATA_SPACE_MAP_ROOT: usize = 64;
    /// `metadata_space_map_root` (128 bytes).
    pub const METADATA_SPACE_MAP_ROOT: usize = 192;
    /// `data_mapping_root`.
    pub const DATA_MAPPING_ROOT: usize = 320;
    /// `device_details_root`.
    pub const DEVICE_DETAILS_ROOT: usize = 328;
    /// `data_block_size` (sectors).
    pub const DATA_BLOCK_SIZE: usize = 336;
    /// `metadata_block_size` (sectors).
    pub const METADATA_BLOCK_SIZE: usize = 340;
    /// `metadata_nr_blocks`.
    pub const METADATA_NR_BLOCKS: usize = 344;
    /// `compat_flags`.
    pub const COMPAT_FLAGS: usize = 352;
    /// `compat_ro_flags`.
    pub const COMPAT_RO_FLAGS: usize = 356;
    /// `incompat_flags`.
    pub const INCOMPAT_FLAGS: usize = 360;
    /// End of the structure.
    pub const END: usize = 364;
}
/// Smallest data block size in sectors (`DATA_DEV_BLOCK_SIZE_MIN_SECTORS`).
pub const DATA_BLOCK_SIZE_MIN: u32 = 128;
/// Largest data block size in sectors (`DATA_DEV_BLOCK_SIZE_MAX_SECTORS`).
pub const DATA_BLOCK_SIZE_MAX: u32 = 2_097_152;
/// The metadata block size in sectors (`THIN_METADATA_BLOCK_SIZE` / 512).
pub const METADATA_BLOCK_SECTORS: u32 = 8;

/// The superblock as stored (every field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Superblock {
    /// `csum`.
    pub csum: u32,
    /// `flags` ([`NEEDS_CHECK_FLAG`]).
    pub flags: u32,
    /// `blocknr`.
    pub blocknr: u64,
    /// `uuid` (always zero as the kernel writes it).
    pub uuid: [u8; 16],
    /// `magic`.
    pub magic: u64,
    /// `version`.
    pub version: u32,
    /// `time`: the pool's snapshot time counter.
    pub time: u32,
    /// `trans_id`: userspace's transaction id.
    pub trans_id: u64,
    /// `held_root`: the metadata snapshot's superblock copy, 0 = none.
    pub held_root: u64,
    /// `data_space_map_root` (first 32 bytes).
    pub data_sm_root: SmRoot,
    /// `metadata_space_map_root` (first 32 bytes).
    pub metadata_sm_root: SmRoot,
    /// `data_mapping_root`: the top-level mapping tree.
    pub data_mapping_root: u64,
    /// `device_details_root`.
    pub device_details_root: u64,
    /// `data_block_size` in sectors.
    pub data_block_size: u32,
    /// `metadata_block_size` in sectors.
    pub metadata_block_size: u32,
    /// `metadata_nr_blocks` (as at format time).
    pub metadata_nr_blocks: u64,
    /// `compat_flags`.
    pub compat_flags: u32,
    /// `compat_ro_flags`.
    pub compat_ro_flags: u32,
    /// `incompat_flags`.
    pub incompat_flags: u32,
}

fn bad(block: u64, field: &'static str, found: u64, reason: &'static str) -> Error {
    Error::BadValue {
        block,
        kind: BlockKind::ThinSuperblock,
        field,
        found,
        reason,
    }
}

fn sm_root(b: &[u8; BLOCK_SIZE], at: usize) -> SmRoot {
    let mut r = [0u8; SM_ROOT_SIZE];
    r.copy_from_slice(&b[at..at.saturating_add(SM_ROOT_SIZE)]);
    SmRoot::parse(&r)
}

impl Superblock {
    /// Decodes every field of a superblock block (no checks).
    pub fn decode(b: &[u8; BLOCK_SIZE]) -> Superblock {
        use offset::*;
        let u32_at = |o: usize| LittleEndian::read_u32(&b[o..o.saturating_add(4)]);
        let u64_at = |o: usize| LittleEndian::read_u64(&b[o..o.saturating_add(8)]);
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(&b[UUID..MAGIC]);
        Superblock {
            csum: u32_at(CSUM),
            flags: u32_at(FLAGS),
            blocknr: u64_at(BLOCKNR),
            uuid,
            magic: u64_at(MAGIC),
            version: u32_at(VERSION),
            time: u32_at(TIME),
            trans_id: u64_at(TRANS_ID),
            held_root: u64_at(HELD_ROOT),
            data_sm_root: sm_root(b, DATA_SPACE_MAP_ROOT),
            metadata_sm_root: sm_root(b, METADATA_SPACE_MAP_ROOT),
            data_mapping_root: u64_at(DATA_MAPPING_ROOT),
            device_details_root: u64_at(DEVICE_DETAILS_ROOT),
            data_block_size: u32_at(DATA_BLOCK_SIZE),
            metadata_block_size: u32_at(METADATA_BLOCK_SIZE),
            metadata_nr_blocks: u64_at(METADATA_NR_BLOCKS),
            compat_flags: u32_at(COMPAT_FLAGS),
            compat_ro_flags: u32_at(COMPAT_RO_FLAGS),
            incompat_flags: u32_at(INCOMPAT_FLAGS),
        }
    }

    /// Checks a superblock read from `block` (0 for the live one, the held
    /// root for a metadata snapshot): checksum, self-location, magic, the
    /// data block size (128..=2097152 sectors, a multiple of 128), the
    /// metadata block size (8) and no incompatible feature.
    pub fn parse(block: u64, b: &[u8; BLOCK_SIZE]) -> Result<Superblock> {
        check_block(
            &b[..],
            block,
            BlockKind::ThinSuperblock,
            SUPERBLOCK_CSUM_XOR,
        )?;
        let sb = Superblock::decode(b);
        if sb.magic != THIN_SUPERBLOCK_MAGIC {
            return Err(bad(
                block,
                "magic",
                sb.magic,
                "a thin superblock has 27022010",
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
                "a multiple of 128 sectors from 128 to 2097152",
            ));
        }
        if sb.metadata_block_size != METADATA_BLOCK_SECTORS {
            return Err(bad(
                block,
                "metadata_block_size",
                u64::from(sb.metadata_block_size),
                "metadata blocks are 8 sectors",
            ));
        }
        if sb.incompat_flags != 0 {
            return Err(Error::Unsupported(format!(
                "metadata block {block}: thin superblock has incompat_flags {:#x}, which no kernel supports yet",
                sb.incompat_flags
            )));
        }
        Ok(sb)
    }

    /// Reads and checks the live superblock (block 0).
    pub fn read<R: ReadAt>(dev: &MetadataDev<R>) -> Result<Superblock> {
        let b = dev.read_raw(SUPERBLOCK_LOCATION)?;
        Superblock::parse(SUPERBLOCK_LOCATION, &b)
    }

    /// Writes the fields a commit changes (`__commit_transaction`: flags,
    /// time, trans_id, both space-map roots, both tree roots) into `b`, a
    /// copy of the committed superblock block, and stamps its checksum;
    /// every other byte stays as it was.
    pub fn write_commit(&self, b: &mut [u8; BLOCK_SIZE]) {
        use offset::*;
        LittleEndian::write_u32(&mut b[FLAGS..BLOCKNR], self.flags);
        LittleEndian::write_u64(&mut b[BLOCKNR..UUID], self.blocknr);
        LittleEndian::write_u32(&mut b[TIME..TRANS_ID], self.time);
        LittleEndian::write_u64(&mut b[TRANS_ID..HELD_ROOT], self.trans_id);
        LittleEndian::write_u64(&mut b[HELD_ROOT..DATA_SPACE_MAP_ROOT], self.held_root);
        for (at, root) in [
            (DATA_SPACE_MAP_ROOT, self.data_sm_root),
            (METADATA_SPACE_MAP_ROOT, self.metadata_sm_root),
        ] {
            let mut r = [0u8; SM_ROOT_SIZE];
            root.write(&mut r);
            b[at..at.saturating_add(SM_ROOT_SIZE)].copy_from_slice(&r);
        }
        LittleEndian::write_u64(
            &mut b[DATA_MAPPING_ROOT..DEVICE_DETAILS_ROOT],
            self.data_mapping_root,
        );
        LittleEndian::write_u64(
            &mut b[DEVICE_DETAILS_ROOT..DATA_BLOCK_SIZE],
            self.device_details_root,
        );
        let c = crate::pdata::checksum::block_checksum(&b[..], SUPERBLOCK_CSUM_XOR);
        LittleEndian::write_u32(&mut b[CSUM..FLAGS], c);
    }

    /// True when the pool asked for a `thin_check`.
    pub fn needs_check(&self) -> bool {
        self.flags & NEEDS_CHECK_FLAG != 0
    }
}
