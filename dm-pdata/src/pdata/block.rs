//! The metadata device as 4 KiB blocks: bounds-checked reads and the
//! checks every block kind shares (checksum with its salt, self-location).

use crate::error::{BlockKind, Error, Result};
use crate::pdata::checksum::block_checksum;
use byteorder::{ByteOrder, LittleEndian};
use lvm_meta::io::ReadAt;

/// Bytes per metadata block (`DM_SM_METADATA_BLOCK_SIZE` × 512).
pub const BLOCK_SIZE: usize = 4096;
/// [`BLOCK_SIZE`] as a u64.
pub const BLOCK_BYTES: u64 = 4096;
/// Offset of `csum` in every block kind.
pub const CSUM_OFFSET: usize = 0;
/// Offset of `blocknr` (the self-location) in every block kind read here.
pub const BLOCKNR_OFFSET: usize = 8;

/// One metadata block's bytes.
pub type Block = Box<[u8; BLOCK_SIZE]>;

/// A metadata device: a byte source read in whole blocks.
pub struct MetadataDev<R> {
    source: R,
    nr_blocks: u64,
}

impl<R: ReadAt> MetadataDev<R> {
    /// Wraps `source`; its size, rounded down to whole blocks, bounds every
    /// read.
    pub fn new(source: R) -> Result<Self> {
        let size = source
            .size()
            .map_err(|source| Error::Io { block: 0, source })?;
        Ok(MetadataDev {
            source,
            nr_blocks: size / BLOCK_BYTES,
        })
    }

    /// Whole blocks on the device.
    pub fn nr_blocks(&self) -> u64 {
        self.nr_blocks
    }

    /// Reads block `block` without checking its contents.
    pub fn read_raw(&self, block: u64) -> Result<Block> {
        if block >= self.nr_blocks {
            return Err(Error::PastEnd {
                block,
                nr_blocks: self.nr_blocks,
            });
        }
        let mut buf: Block = Box::new([0u8; BLOCK_SIZE]);
        // OK: block < nr_blocks = size / 4096, so the product fits.
        let offset = block.saturating_mul(BLOCK_BYTES);
        self.source
            .read_exact_at(&mut buf[..], offset)
            .map_err(|source| Error::Io { block, source })?;
        Ok(buf)
    }

    /// Reads block `block` as a block of `kind` whose checksum uses `salt`:
    /// the checksum and the self-location must match.
    pub fn read_checked(&self, block: u64, kind: BlockKind, salt: u32) -> Result<Block> {
        let buf = self.read_raw(block)?;
        check_block(&buf[..], block, kind, salt)?;
        Ok(buf)
    }
}

/// The checks shared by every block kind: the checksum at offset 0 over
/// bytes 4.. with `salt`, then `blocknr` at offset 8 equal to `block`.
pub fn check_block(buf: &[u8], block: u64, kind: BlockKind, salt: u32) -> Result<()> {
    let Some(head) = buf.get(..16).filter(|_| buf.len() == BLOCK_SIZE) else {
        return Err(Error::BadValue {
            block,
            kind,
            field: "block size",
            found: u64::try_from(buf.len()).unwrap_or(u64::MAX),
            reason: "a metadata block is 4096 bytes",
        });
    };
    let stored = LittleEndian::read_u32(&head[CSUM_OFFSET..4]);
    let computed = block_checksum(buf, salt);
    if stored != computed {
        return Err(Error::Checksum {
            block,
            kind,
            stored,
            computed,
        });
    }
    let found = LittleEndian::read_u64(&head[BLOCKNR_OFFSET..16]);
    if found != block {
        return Err(Error::WrongLocation { block, kind, found });
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::as_conversions)]
mod tests {
    use super::*;
    use crate::pdata::checksum::BTREE_CSUM_XOR;

    fn stamped(block: u64) -> Vec<u8> {
        let mut b = vec![0u8; BLOCK_SIZE];
        LittleEndian::write_u64(&mut b[8..16], block);
        let c = block_checksum(&b, BTREE_CSUM_XOR);
        LittleEndian::write_u32(&mut b[0..4], c);
        b
    }

    #[test]
    fn reads_checked_blocks_and_refuses_others() {
        let mut img = stamped(0);
        img.extend(stamped(7));
        let dev = MetadataDev::new(img).unwrap();
        assert_eq!(dev.nr_blocks(), 2);
        dev.read_checked(0, BlockKind::BtreeNode, BTREE_CSUM_XOR)
            .unwrap();
        assert!(matches!(
            dev.read_checked(1, BlockKind::BtreeNode, BTREE_CSUM_XOR),
            Err(Error::WrongLocation {
                block: 1,
                found: 7,
                ..
            })
        ));
        assert!(matches!(
            dev.read_checked(0, BlockKind::Bitmap, 1),
            Err(Error::Checksum { block: 0, .. })
        ));
        assert!(matches!(
            dev.read_raw(2),
            Err(Error::PastEnd {
                block: 2,
                nr_blocks: 2
            })
        ));
    }
}
