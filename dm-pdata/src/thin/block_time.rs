//! The bottom-level mapping value: a data block and the pool time it was
//! mapped at, packed in a u64 (`pack_block_time` / `unpack_block_time`).

/// Bits of the time part.
pub const TIME_BITS: u32 = 24;
/// Mask of the time part.
pub const TIME_MASK: u64 = (1 << TIME_BITS) - 1;

/// A mapping's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct BlockTime {
    /// The data block (top 40 bits).
    pub block: u64,
    /// The pool time of the write that mapped it (low 24 bits).
    pub time: u32,
}

impl BlockTime {
    /// Splits a stored value.
    pub fn unpack(v: u64) -> BlockTime {
        BlockTime {
            block: v >> TIME_BITS,
            // OK: masked to 24 bits.
            time: u32::try_from(v & TIME_MASK).unwrap_or(0),
        }
    }

    /// Packs into the stored form (the time is masked to 24 bits).
    pub fn pack(self) -> u64 {
        (self.block << TIME_BITS) | (u64::from(self.time) & TIME_MASK)
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::as_conversions)]
mod tests {
    use super::*;

    #[test]
    fn kernel_example() {
        // Data block 3 written at time 1.
        assert_eq!(
            BlockTime::unpack(0x0000_0000_0300_0001),
            BlockTime { block: 3, time: 1 }
        );
        assert_eq!(BlockTime { block: 3, time: 1 }.pack(), 0x0300_0001);
    }
}
