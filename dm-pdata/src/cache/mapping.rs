//! One entry of the dm-cache mapping array: a little-endian u64 per cache
//! block, the origin block in the high 48 bits and flags in the low 16
//! (`pack_value`/`unpack_value` of `dm-cache-metadata.c`).

/// Bits of the flags field.
pub const FLAGS_BITS: u32 = 16;
/// The flags field's mask (`FLAGS_MASK`).
pub const FLAGS_MASK: u64 = (1 << FLAGS_BITS) - 1;
/// The cache block holds an origin block (`M_VALID`).
pub const M_VALID: u16 = 1;
/// The cache block differs from the origin (`M_DIRTY`): written by version 1
/// metadata at a clean shutdown; version 2 keeps a dirty bitset instead.
pub const M_DIRTY: u16 = 2;
/// Bytes of an entry.
pub const MAPPING_SIZE: usize = 8;

/// An entry of the mapping array as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MappingValue {
    /// The origin block (`oblock`).
    pub oblock: u64,
    /// The flags ([`M_VALID`], [`M_DIRTY`]).
    pub flags: u16,
}

impl MappingValue {
    /// Splits a stored value.
    pub fn unpack(v: u64) -> MappingValue {
        MappingValue {
            oblock: v >> FLAGS_BITS,
            // OK: masked to 16 bits.
            flags: u16::try_from(v & FLAGS_MASK).unwrap_or(0),
        }
    }

    /// The stored value.
    pub fn pack(&self) -> u64 {
        (self.oblock << FLAGS_BITS) | u64::from(self.flags)
    }

    /// True if the cache block holds an origin block.
    pub fn valid(&self) -> bool {
        self.flags & M_VALID != 0
    }

    /// The stored dirty flag (meaningful in version 1 metadata only).
    pub fn dirty(&self) -> bool {
        self.flags & M_DIRTY != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_block_above_the_flags() {
        let m = MappingValue::unpack(0x0000_0000_0012_0003);
        assert_eq!(m.oblock, 0x12);
        assert!(m.valid() && m.dirty());
        assert_eq!(m.pack(), 0x12_0003);
        assert!(!MappingValue::unpack(0x12_0002).valid());
    }
}
