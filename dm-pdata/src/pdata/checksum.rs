//! Block checksums of device-mapper persistent data.
//!
//! Every metadata block starts with a little-endian u32 checksum over bytes
//! 4..4096 of the block: CRC-32C (Castagnoli, reflected polynomial
//! 0x82F63B78) started at 0xFFFFFFFF and *not* inverted at the end, then
//! XORed with a salt that names the block kind (`dm_bm_checksum` and the
//! `*_CSUM_XOR` constants of the kernel's persistent-data library).

/// Salt of the thin-pool superblock (`SUPERBLOCK_CSUM_XOR`).
pub const SUPERBLOCK_CSUM_XOR: u32 = 160_774;
/// Salt of btree nodes (`BTREE_CSUM_XOR`).
pub const BTREE_CSUM_XOR: u32 = 121_107;
/// Salt of space-map bitmap blocks (`BITMAP_CSUM_XOR`).
pub const BITMAP_CSUM_XOR: u32 = 240_779;
/// Salt of the metadata space map's index block (`INDEX_CSUM_XOR`).
pub const INDEX_CSUM_XOR: u32 = 160_478;

/// Salt of persistent-data array blocks (`CSUM_XOR` of `dm-array.c`).
pub const ARRAY_CSUM_XOR: u32 = 595_846_735;
/// Salt of the dm-cache superblock (`SUPERBLOCK_CSUM_XOR` of
/// `dm-cache-metadata.c`).
pub const CACHE_SUPERBLOCK_CSUM_XOR: u32 = 9_031_977;

/// Byte offset where the checksummed part of a block starts.
pub const CSUM_COVERS_FROM: usize = 4;

/// The CRC-32C table, one entry per byte value, built at compile time.
const TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0usize;
    while i < 256 {
        // OK: i < 256 fits in u32.
        #[allow(clippy::as_conversions)]
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// CRC-32C register after `bytes`, from `init`, without the final
/// inversion (the kernel's `crc32c(seed, ...)`).
pub fn crc32c_raw(init: u32, bytes: &[u8]) -> u32 {
    bytes.iter().fold(init, |c, b| {
        TABLE[usize::from(c.to_le_bytes()[0] ^ b)] ^ (c >> 8)
    })
}

/// The checksum the kernel stores at offset 0 of a block of kind `salt`.
/// `block` is the whole block; bytes before [`CSUM_COVERS_FROM`] are not
/// covered.
pub fn block_checksum(block: &[u8], salt: u32) -> u32 {
    let covered = block.get(CSUM_COVERS_FROM..).unwrap_or(&[]);
    crc32c_raw(0xFFFF_FFFF, covered) ^ salt
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::as_conversions)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_check_value() {
        // The standard CRC-32C check value of "123456789" is 0xE3069283,
        // which is the raw register inverted.
        assert_eq!(!crc32c_raw(0xFFFF_FFFF, b"123456789"), 0xE306_9283);
    }

    #[test]
    fn salt_is_xored_last() {
        let block = [0u8; 4096];
        let a = block_checksum(&block, 0);
        assert_eq!(block_checksum(&block, BTREE_CSUM_XOR), a ^ BTREE_CSUM_XOR);
    }
}
