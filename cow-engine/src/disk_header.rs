//! The persistent exception store's header, `struct disk_header` in chunk 0
//! of the COW device (kernel `drivers/md/dm-snap-persistent.c`).

use byteorder::{ByteOrder, LittleEndian as LE};

/// `SNAP_MAGIC`: bytes `53 6E 41 70`, ASCII "SnAp".
pub const SNAP_MAGIC: u32 = 0x7041_6e53;
/// `SNAPSHOT_DISK_VERSION`.
pub const SNAPSHOT_DISK_VERSION: u32 = 1;
/// Offset of `magic` (u32).
pub const OFF_MAGIC: usize = 0;
/// Offset of `valid` (u32): non-zero while usable, 0 once invalidated.
pub const OFF_VALID: usize = 4;
/// Offset of `version` (u32).
pub const OFF_VERSION: usize = 8;
/// Offset of `chunk_size` (u32, sectors).
pub const OFF_CHUNK_SIZE: usize = 12;
/// Bytes of the header proper; the rest of chunk 0 is zero when written.
pub const DISK_HEADER_SIZE: usize = 16;

/// What chunk 0 of a COW device holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// `magic == 0`: the kernel treats the store as new and writes a header
    /// on activation.
    New,
    /// A store header.
    Store(DiskHeader),
}

/// `struct disk_header`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskHeader {
    /// `valid`: any non-zero value counts as valid.
    pub valid: u32,
    /// `version`.
    pub version: u32,
    /// `chunk_size` in sectors.
    pub chunk_size: u32,
}

/// Why chunk 0 is not a usable store header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Fewer than 16 bytes.
    #[error("COW header: truncated ({0} bytes)")]
    Truncated(usize),
    /// Neither 0 nor `SnAp` (the kernel: "Invalid or corrupt snapshot").
    #[error("COW header: magic is {0:#010x}, expected 0x70416e53 (\"SnAp\") or 0 (new store)")]
    BadMagic(u32),
    /// A version other than 1.
    #[error("COW header: version is {0}, expected 1")]
    BadVersion(u32),
    /// Not a power of two, or 0, or over the kernel's 2^21 sectors.
    #[error("COW header: chunk_size {0} sectors is not a power of two between 1 and 2097152")]
    BadChunkSize(u32),
}

impl HeaderError {
    /// Byte offset in chunk 0 of the field found wrong.
    pub fn offset(&self) -> u64 {
        let at = match self {
            HeaderError::Truncated(_) | HeaderError::BadMagic(_) => OFF_MAGIC,
            HeaderError::BadVersion(_) => OFF_VERSION,
            HeaderError::BadChunkSize(_) => OFF_CHUNK_SIZE,
        };
        at as u64
    }
}

impl Header {
    /// Parses the first 16 bytes of chunk 0 like the kernel's `read_header`.
    pub fn parse(b: &[u8]) -> Result<Header, HeaderError> {
        if b.len() < DISK_HEADER_SIZE {
            return Err(HeaderError::Truncated(b.len()));
        }
        let magic = LE::read_u32(&b[OFF_MAGIC..]);
        if magic == 0 {
            return Ok(Header::New);
        }
        if magic != SNAP_MAGIC {
            return Err(HeaderError::BadMagic(magic));
        }
        let h = DiskHeader {
            valid: LE::read_u32(&b[OFF_VALID..]),
            version: LE::read_u32(&b[OFF_VERSION..]),
            chunk_size: LE::read_u32(&b[OFF_CHUNK_SIZE..]),
        };
        if h.version != SNAPSHOT_DISK_VERSION {
            return Err(HeaderError::BadVersion(h.version));
        }
        if !h.chunk_size.is_power_of_two() || h.chunk_size > (i32::MAX as u32 >> 9) {
            return Err(HeaderError::BadChunkSize(h.chunk_size));
        }
        Ok(Header::Store(h))
    }
}

impl DiskHeader {
    /// True unless the snapshot was invalidated.
    pub fn is_valid(&self) -> bool {
        self.valid != 0
    }

    /// The whole chunk 0 as the kernel's `write_header` writes it: the 16
    /// header bytes, then zeros to the chunk's end.
    pub fn to_chunk(&self, chunk_bytes: usize) -> Vec<u8> {
        let mut c = vec![0u8; chunk_bytes.max(DISK_HEADER_SIZE)];
        LE::write_u32(&mut c[OFF_MAGIC..], SNAP_MAGIC);
        LE::write_u32(&mut c[OFF_VALID..], self.valid);
        LE::write_u32(&mut c[OFF_VERSION..], self.version);
        LE::write_u32(&mut c[OFF_CHUNK_SIZE..], self.chunk_size);
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_example_bytes() {
        let h = DiskHeader {
            valid: 1,
            version: 1,
            chunk_size: 8,
        };
        let c = h.to_chunk(4096);
        assert_eq!(
            &c[..16],
            &[0x53, 0x6E, 0x41, 0x70, 1, 0, 0, 0, 1, 0, 0, 0, 8, 0, 0, 0]
        );
        assert!(c[16..].iter().all(|&b| b == 0));
        assert_eq!(Header::parse(&c), Ok(Header::Store(h)));
    }

    #[test]
    fn each_rule() {
        assert_eq!(Header::parse(&[0u8; 16]), Ok(Header::New));
        assert_eq!(Header::parse(&[0u8; 3]), Err(HeaderError::Truncated(3)));
        let mut c = DiskHeader {
            valid: 1,
            version: 1,
            chunk_size: 8,
        }
        .to_chunk(512);
        c[0] = b'X';
        assert!(matches!(Header::parse(&c), Err(HeaderError::BadMagic(_))));
        let mut c = DiskHeader {
            valid: 1,
            version: 2,
            chunk_size: 8,
        }
        .to_chunk(512);
        assert_eq!(Header::parse(&c), Err(HeaderError::BadVersion(2)));
        c = DiskHeader {
            valid: 1,
            version: 1,
            chunk_size: 12,
        }
        .to_chunk(512);
        assert_eq!(Header::parse(&c), Err(HeaderError::BadChunkSize(12)));
        c = DiskHeader {
            valid: 0,
            version: 1,
            chunk_size: 8,
        }
        .to_chunk(512);
        assert!(matches!(Header::parse(&c), Ok(Header::Store(h)) if !h.is_valid()));
    }
}
