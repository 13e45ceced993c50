//! `mda_header` and `raw_locn` (lvm2 `lib/format_text/layout.h`): the
//! 512-byte sector at the start of every metadata area, which points at the
//! committed and the precommitted copy of the metadata text in the ring.

use crate::crc::lvm_crc;
use crate::error::Corruption;
use crate::label::printable;
use byteorder::{ByteOrder, LittleEndian as LE};

/// `MDA_HEADER_SIZE`.
pub const MDA_HEADER_SIZE: u64 = 512;
/// `FMTT_MAGIC`: `" LVM2 x[5A%r0N*>"`.
pub const FMTT_MAGIC: &[u8; 16] = b" LVM2 x[5A%r0N*>";
/// `FMTT_VERSION`.
pub const FMTT_VERSION: u32 = 1;
/// Offset of `checksum_xl` (u32): LVM CRC of bytes 4..512.
pub const OFF_CHECKSUM: usize = 0x00;
/// Offset of `magic` (16 bytes).
pub const OFF_MAGIC: usize = 0x04;
/// Offset of `version` (u32).
pub const OFF_VERSION: usize = 0x14;
/// Offset of `start` (u64): absolute byte offset of this header.
pub const OFF_START: usize = 0x18;
/// Offset of `size` (u64): area size in bytes, header included.
pub const OFF_SIZE: usize = 0x20;
/// Offset of `raw_locns[0]`, the committed copy.
pub const OFF_RAW_LOCNS: usize = 0x28;
/// Size of one `raw_locn`.
pub const RAW_LOCN_SIZE: usize = 24;
/// `RAW_LOCN_IGNORED`: this area is not used for the VG's metadata.
pub const RAW_LOCN_IGNORED: u32 = 0x1;

/// `raw_locn`: where one copy of the text sits in the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RawLocn {
    /// Byte offset relative to the area start (0 = empty slot).
    pub offset: u64,
    /// Length in bytes including the trailing NUL.
    pub size: u64,
    /// LVM CRC of the text.
    pub checksum: u32,
    /// Flags; bit 0 is `RAW_LOCN_IGNORED`.
    pub flags: u32,
}

impl RawLocn {
    /// True if the slot holds no text.
    pub fn is_empty(&self) -> bool {
        self.offset == 0
    }
    /// True if `RAW_LOCN_IGNORED` is set.
    pub fn ignored(&self) -> bool {
        self.flags & RAW_LOCN_IGNORED != 0
    }
    fn read(b: &[u8]) -> RawLocn {
        RawLocn {
            offset: LE::read_u64(&b[0..]),
            size: LE::read_u64(&b[8..]),
            checksum: LE::read_u32(&b[16..]),
            flags: LE::read_u32(&b[20..]),
        }
    }
    fn write(&self, b: &mut [u8]) {
        LE::write_u64(&mut b[0..], self.offset);
        LE::write_u64(&mut b[8..], self.size);
        LE::write_u32(&mut b[16..], self.checksum);
        LE::write_u32(&mut b[20..], self.flags);
    }
}

/// `mda_header`, decoded without validation (see [`MdaHeader::validate`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdaHeader {
    /// `checksum_xl` as stored.
    pub checksum: u32,
    /// `magic` as stored.
    pub magic: [u8; 16],
    /// `version`.
    pub version: u32,
    /// `start`: the header's own absolute byte offset.
    pub start: u64,
    /// `size`: area size in bytes including the header.
    pub size: u64,
    /// `raw_locns[0]` (committed) and `raw_locns[1]` (precommitted).
    pub raw_locns: [RawLocn; 2],
    /// The checksum computed over bytes 4..512 as read.
    pub computed_checksum: u32,
}

impl MdaHeader {
    /// Decodes a 512-byte header sector.
    pub fn decode(b: &[u8; 512]) -> MdaHeader {
        let mut magic = [0u8; 16];
        magic.copy_from_slice(&b[OFF_MAGIC..OFF_MAGIC + 16]);
        MdaHeader {
            checksum: LE::read_u32(&b[OFF_CHECKSUM..]),
            magic,
            version: LE::read_u32(&b[OFF_VERSION..]),
            start: LE::read_u64(&b[OFF_START..]),
            size: LE::read_u64(&b[OFF_SIZE..]),
            raw_locns: [
                RawLocn::read(&b[OFF_RAW_LOCNS..]),
                RawLocn::read(&b[OFF_RAW_LOCNS + RAW_LOCN_SIZE..]),
            ],
            computed_checksum: lvm_crc(&b[OFF_MAGIC..]),
        }
    }

    /// Checks the header like lvm2's `raw_parse_mda_header`: checksum, magic,
    /// version, `start` equal to where it was read (`at`), `size` at least
    /// 512; plus the ring bounds of both slots.
    pub fn validate(&self, at: u64) -> Result<(), Corruption> {
        if self.checksum != self.computed_checksum {
            return Err(Corruption::Checksum {
                what: "header",
                stored: self.checksum,
                computed: self.computed_checksum,
                start: at.saturating_add(OFF_MAGIC as u64),
                end: at.saturating_add(511),
            });
        }
        if &self.magic != FMTT_MAGIC {
            return Err(Corruption::BadMagic {
                field: "mda_header.magic",
                found: printable(&self.magic),
                expected: printable(FMTT_MAGIC),
            });
        }
        if self.version != FMTT_VERSION {
            return Err(Corruption::BadValue {
                field: "mda_header.version".into(),
                found: self.version.to_string(),
                reason: "lvm2 writes version 1".into(),
            });
        }
        if self.start != at {
            return Err(Corruption::BadValue {
                field: "mda_header.start".into(),
                found: self.start.to_string(),
                reason: format!("the header was read at {at}"),
            });
        }
        if self.size < MDA_HEADER_SIZE {
            return Err(Corruption::BadValue {
                field: "mda_header.size".into(),
                found: self.size.to_string(),
                reason: "smaller than the 512-byte header".into(),
            });
        }
        Ok(())
    }

    /// Checks that slot `i` lies inside the ring, like lvm2 before it reads
    /// text: `offset` within the area, `size` at most the ring size.
    pub fn check_slot(&self, i: usize) -> Result<(), Corruption> {
        let r = &self.raw_locns[i];
        if r.is_empty() {
            return Ok(());
        }
        let name = if i == 0 { "raw_locn[0]" } else { "raw_locn[1]" };
        if r.offset < MDA_HEADER_SIZE || r.offset >= self.size {
            return Err(Corruption::BadValue {
                field: format!("mda_header.{name}.offset"),
                found: r.offset.to_string(),
                reason: format!("outside the ring [512, {})", self.size),
            });
        }
        if r.size == 0 || r.size > self.size - MDA_HEADER_SIZE || r.size > u64::from(u32::MAX) {
            return Err(Corruption::BadValue {
                field: format!("mda_header.{name}.size"),
                found: r.size.to_string(),
                reason: format!("the ring holds {} bytes", self.size - MDA_HEADER_SIZE),
            });
        }
        Ok(())
    }

    /// Encodes the header as lvm2 writes it (`_raw_write_mda_header`): zero
    /// padding, the two slots, a zero terminator, and the checksum last.
    pub fn encode(&self) -> [u8; 512] {
        let mut b = [0u8; 512];
        b[OFF_MAGIC..OFF_MAGIC + 16].copy_from_slice(&self.magic);
        LE::write_u32(&mut b[OFF_VERSION..], self.version);
        LE::write_u64(&mut b[OFF_START..], self.start);
        LE::write_u64(&mut b[OFF_SIZE..], self.size);
        self.raw_locns[0].write(&mut b[OFF_RAW_LOCNS..]);
        self.raw_locns[1].write(&mut b[OFF_RAW_LOCNS + RAW_LOCN_SIZE..]);
        let c = lvm_crc(&b[OFF_MAGIC..]);
        LE::write_u32(&mut b[OFF_CHECKSUM..], c);
        b
    }

    /// A fresh header for an area at `start` of `size` bytes (no text yet).
    pub fn new_empty(start: u64, size: u64) -> MdaHeader {
        let mut h = MdaHeader {
            checksum: 0,
            magic: *FMTT_MAGIC,
            version: FMTT_VERSION,
            start,
            size,
            raw_locns: [RawLocn::default(); 2],
            computed_checksum: 0,
        };
        let b = h.encode();
        h.checksum = LE::read_u32(&b);
        h.computed_checksum = h.checksum;
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_header_vectors_from_the_spec() {
        // A fresh 1044480-byte area at 4096 has checksum 0xDB8ED616; the older
        // real image's area at 0x1000 of 0x2F000 bytes has 0x6035C71B.
        assert_eq!(MdaHeader::new_empty(4096, 1_044_480).checksum, 0xDB8E_D616);
        assert_eq!(MdaHeader::new_empty(0x1000, 0x2F000).checksum, 0x6035_C71B);
    }

    #[test]
    fn decode_encode_round_trip_and_validation() {
        let mut h = MdaHeader::new_empty(4096, 1_044_480);
        h.raw_locns[0] = RawLocn {
            offset: 512,
            size: 1617,
            checksum: 0x8AF4_D8E1,
            flags: 0,
        };
        let b = h.encode();
        // Spec 9.4: this header's checksum is 0x26142FF5.
        assert_eq!(LE::read_u32(&b), 0x2614_2FF5);
        let d = MdaHeader::decode(&b);
        assert_eq!(d.encode(), b);
        d.validate(4096).unwrap();
        assert!(matches!(d.validate(8192), Err(Corruption::BadValue { .. })));
    }

    #[test]
    fn each_rule_is_checked() {
        let base = MdaHeader::new_empty(4096, 1_044_480).encode();
        let refix = |b: &mut [u8; 512]| {
            let c = lvm_crc(&b[4..]);
            LE::write_u32(&mut b[0..], c);
        };
        let mut b = base;
        b[100] = 1;
        assert!(matches!(
            MdaHeader::decode(&b).validate(4096),
            Err(Corruption::Checksum {
                start: 4100,
                end: 4607,
                ..
            })
        ));
        let mut b = base;
        b[OFF_MAGIC] = b'X';
        refix(&mut b);
        assert!(matches!(
            MdaHeader::decode(&b).validate(4096),
            Err(Corruption::BadMagic { .. })
        ));
        let mut b = base;
        LE::write_u32(&mut b[OFF_VERSION..], 2);
        refix(&mut b);
        assert!(matches!(
            MdaHeader::decode(&b).validate(4096),
            Err(Corruption::BadValue { .. })
        ));
        let mut b = base;
        LE::write_u64(&mut b[OFF_SIZE..], 100);
        refix(&mut b);
        assert!(matches!(
            MdaHeader::decode(&b).validate(4096),
            Err(Corruption::BadValue { .. })
        ));
    }

    #[test]
    fn slot_bounds() {
        let mut h = MdaHeader::new_empty(4096, 65536);
        h.raw_locns[0] = RawLocn {
            offset: 70000,
            size: 10,
            checksum: 0,
            flags: 0,
        };
        assert!(h.check_slot(0).is_err());
        h.raw_locns[0] = RawLocn {
            offset: 512,
            size: 65536,
            checksum: 0,
            flags: 0,
        };
        assert!(h.check_slot(0).is_err());
        h.raw_locns[0] = RawLocn {
            offset: 60000,
            size: 10000,
            checksum: 0,
            flags: 0,
        };
        h.check_slot(0).unwrap();
    }
}

#[cfg(test)]
mod fuzz_regressions {
    use super::*;

    /// Found by the mda_header fuzz target: a bad checksum on a header that
    /// claims to sit near the end of the 64-bit range overflowed the
    /// message's byte range.
    #[test]
    fn checksum_error_at_the_top_of_the_range() {
        let mut h = MdaHeader::new_empty(u64::MAX - 2, 4096);
        h.checksum ^= 1;
        assert!(matches!(
            h.validate(u64::MAX - 2),
            Err(Corruption::Checksum { end: u64::MAX, .. })
        ));
    }
}
