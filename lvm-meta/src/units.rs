//! Units as types: the classic bug in this field is a sector count used as
//! a byte count. Metadata text counts in 512-byte sectors; binary headers
//! count in bytes.

/// Bytes per sector, fixed by lvm2 (`SECTOR_SHIFT = 9`).
pub const SECTOR_BYTES: u64 = 512;

/// A count of 512-byte sectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Sectors(pub u64);

impl Sectors {
    /// The same amount in bytes, `None` on overflow.
    pub fn bytes(self) -> Option<u64> {
        self.0.checked_mul(SECTOR_BYTES)
    }
}
