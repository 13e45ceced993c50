//! dm-writecache's cache device in SSD mode (`dm-writecache.c`): a
//! superblock, one entry per cache block, then the cache blocks.
//!
//! Layout, in bytes from the start of the cache device (lvm2's cachevol,
//! `LV_cvol`; the table's `start_sector` is 0 as lvm2 writes it):
//!
//! | bytes | what |
//! |---|---|
//! | 0..64 | superblock: `magic` u32 (0x23489321), `version` u32 (1), `block_size` u32 (bytes), `pad` u32, `n_blocks` u64, `seq_count` u64, zeros |
//! | 64..64+16·n_blocks | entry `i`: `original_sector` u64 (origin sector of the block), `seq_count` u64 |
//! | M..M+n_blocks·block_size | cache block `i` at `M + i·block_size`, where `M` = 64 + 16·n_blocks rounded up to `block_size` |
//!
//! All little-endian. The kernel commits by writing the entries, flushing,
//! then bumping the superblock's `seq_count` (written with FUA). When it
//! loads the device (`writecache_resume`), an entry whose `seq_count` is
//! not below the superblock's is free (never committed, or `u64::MAX`:
//! written back or never used); of committed entries for the same origin
//! sector the one with the highest `seq_count` holds the data and the
//! others are free; two with the same `seq_count` put the device in error.
//! A block stays in the cache until it is written back, so every block
//! this module returns is one the origin may lack (dirty).
//!
//! A superblock whose `magic` and `version` are both 0 is a device the
//! kernel has not formatted yet: it formats it at the next table load and
//! the cache holds nothing ([`Writecache::read`] gives `None`).

use lvm_meta::io::ReadAt;
use std::io;

/// `MEMORY_SUPERBLOCK_MAGIC`.
pub const MAGIC: u32 = 0x2348_9321;
/// `MEMORY_SUPERBLOCK_VERSION`.
pub const VERSION: u32 = 1;
/// Bytes of the superblock (`padding[8]`, 8 × u64).
pub const SUPERBLOCK_BYTES: u64 = 64;
/// Bytes of one entry (`struct wc_memory_entry`).
pub const ENTRY_BYTES: u64 = 16;
/// Smallest block size the kernel takes.
pub const MIN_BLOCK_SIZE: u32 = 512;
/// Largest block size the kernel takes (`PAGE_SIZE` on x86-64).
pub const MAX_BLOCK_SIZE: u32 = 4096;

/// Offsets of the superblock's fields.
pub mod offset {
    /// `magic`.
    pub const MAGIC: u64 = 0;
    /// `version`.
    pub const VERSION: u64 = 4;
    /// `block_size`.
    pub const BLOCK_SIZE: u64 = 8;
    /// `n_blocks`.
    pub const N_BLOCKS: u64 = 16;
    /// `seq_count`.
    pub const SEQ_COUNT: u64 = 24;
}

/// What is wrong with a writecache device, at which byte.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading failed.
    #[error("writecache device, byte {offset}: read of {len} bytes failed: {source}")]
    Io {
        /// First byte of the read.
        offset: u64,
        /// Bytes asked for.
        len: u64,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// A superblock field holds a value the kernel refuses.
    #[error("writecache superblock, byte {offset}: {field} is {found}: {reason}")]
    BadValue {
        /// Byte offset of the field.
        offset: u64,
        /// The field (the kernel's C name).
        field: &'static str,
        /// The value found.
        found: u64,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The superblock's blocks and entries do not fit the device.
    #[error("writecache superblock, byte 16: n_blocks {n_blocks} of {block_size} bytes need {needed} bytes with their entries, the device has {device}")]
    TooSmall {
        /// `n_blocks`.
        n_blocks: u64,
        /// `block_size`.
        block_size: u32,
        /// Bytes the layout needs (`u64::MAX`: overflows).
        needed: u64,
        /// Bytes of the device.
        device: u64,
    },
    /// Two committed entries hold the same origin sector with the same
    /// `seq_count`: the kernel puts the device in error.
    #[error("writecache entries at bytes {first} and {second}: both hold origin sector {sector} with seq_count {seq_count}")]
    DuplicateEntry {
        /// Byte offset of the first entry.
        first: u64,
        /// Byte offset of the second.
        second: u64,
        /// `original_sector`.
        sector: u64,
        /// `seq_count`.
        seq_count: u64,
    },
}

/// The result of this module's functions.
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn le32(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at.saturating_add(4)]);
    u32::from_le_bytes(w)
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at.saturating_add(8)]);
    u64::from_le_bytes(w)
}

/// Bytes of the superblock and entry array rounded up to `block_size`
/// (where cache block 0 starts), or `None` on overflow.
pub fn metadata_bytes(n_blocks: u64, block_size: u32) -> Option<u64> {
    let bs = u64::from(block_size);
    let raw = n_blocks
        .checked_mul(ENTRY_BYTES)?
        .checked_add(SUPERBLOCK_BYTES)?;
    raw.checked_next_multiple_of(bs)
}

/// The number of cache blocks the kernel gives a device of `device_bytes`
/// when it formats it (`calculate_memory_size`): the most blocks whose
/// entries and data fit, or `None` if not even one does or `block_size`
/// is not one the kernel takes.
pub fn blocks_for(device_bytes: u64, block_size: u32) -> Option<u64> {
    if !valid_block_size(block_size) {
        return None;
    }
    let bs = u64::from(block_size);
    let mut n = device_bytes.checked_div(bs.checked_add(ENTRY_BYTES)?)?;
    while n > 0 {
        let fits = metadata_bytes(n, block_size)
            .and_then(|m| m.checked_add(n.checked_mul(bs)?))
            .is_some_and(|end| end <= device_bytes);
        if fits {
            return Some(n);
        }
        n = n.checked_sub(1)?;
    }
    None
}

fn valid_block_size(bs: u32) -> bool {
    (MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&bs) && bs.is_power_of_two()
}

/// The superblock (`struct wc_memory_superblock` without the entries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Superblock {
    /// `block_size` in bytes.
    pub block_size: u32,
    /// `n_blocks`: cache blocks (and entries).
    pub n_blocks: u64,
    /// `seq_count`: entries below it are committed.
    pub seq_count: u64,
}

impl Superblock {
    /// Parses the first 64 bytes of the device; `None` for a device the
    /// kernel has not formatted (`magic` and `version` 0). The block
    /// size must be one the kernel takes; its fit on the device is
    /// checked by [`Writecache::read`].
    pub fn parse(b: &[u8; 64]) -> Result<Option<Superblock>> {
        let magic = le32(b, 0);
        let version = le32(b, 4);
        if magic == 0 && version == 0 {
            return Ok(None);
        }
        if magic != MAGIC {
            return Err(Error::BadValue {
                offset: offset::MAGIC,
                field: "magic",
                found: u64::from(magic),
                reason: "not MEMORY_SUPERBLOCK_MAGIC (0x23489321)",
            });
        }
        if version != VERSION {
            return Err(Error::BadValue {
                offset: offset::VERSION,
                field: "version",
                found: u64::from(version),
                reason: "the kernel reads version 1 only",
            });
        }
        let block_size = le32(b, 8);
        if !valid_block_size(block_size) {
            return Err(Error::BadValue {
                offset: offset::BLOCK_SIZE,
                field: "block_size",
                found: u64::from(block_size),
                reason: "not a power of two from 512 to 4096",
            });
        }
        Ok(Some(Superblock {
            block_size,
            n_blocks: le64(b, 16),
            seq_count: le64(b, 24),
        }))
    }

    /// The 64 bytes of this superblock as the kernel writes them.
    pub fn to_bytes(&self) -> [u8; 64] {
        let mut b = [0u8; 64];
        b[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        b[4..8].copy_from_slice(&VERSION.to_le_bytes());
        b[8..12].copy_from_slice(&self.block_size.to_le_bytes());
        b[16..24].copy_from_slice(&self.n_blocks.to_le_bytes());
        b[24..32].copy_from_slice(&self.seq_count.to_le_bytes());
        b
    }
}

/// One entry (`struct wc_memory_entry`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// `original_sector`: the origin sector the block holds.
    pub original_sector: u64,
    /// `seq_count`: the commit it belongs to (`u64::MAX`: free).
    pub seq_count: u64,
}

impl Entry {
    /// A free entry, as the kernel formats and frees them.
    pub const FREE: Entry = Entry {
        original_sector: u64::MAX,
        seq_count: u64::MAX,
    };

    /// Parses 16 bytes.
    pub fn parse(b: &[u8; 16]) -> Entry {
        Entry {
            original_sector: le64(b, 0),
            seq_count: le64(b, 8),
        }
    }

    /// The 16 bytes of this entry.
    pub fn to_bytes(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0..8].copy_from_slice(&self.original_sector.to_le_bytes());
        b[8..16].copy_from_slice(&self.seq_count.to_le_bytes());
        b
    }
}

/// Byte offset of entry `index`.
pub fn entry_offset(index: u64) -> Option<u64> {
    index
        .checked_mul(ENTRY_BYTES)?
        .checked_add(SUPERBLOCK_BYTES)
}

/// A block the cache holds: origin sector `original_sector` onwards
/// (`block_size` bytes) is cache block `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    /// `original_sector`.
    pub original_sector: u64,
    /// The cache block (and entry) number.
    pub index: u64,
    /// The entry's `seq_count`.
    pub seq_count: u64,
}

/// A writecache device as the kernel loads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Writecache {
    /// The superblock.
    pub superblock: Superblock,
    /// Where cache block 0 starts, in bytes.
    pub data_offset: u64,
    /// The blocks the cache holds, one per origin sector, in
    /// `original_sector` order.
    pub blocks: Vec<Block>,
    /// Committed entries a newer entry for the same sector replaces.
    pub superseded: u64,
    /// Entries with a `seq_count` at or past the superblock's other than
    /// `u64::MAX`: written after the last commit, ignored.
    pub uncommitted: u64,
}

/// Entries read per request.
const ENTRIES_PER_READ: u64 = 4096;

fn read(dev: &impl ReadAt, buf: &mut [u8], offset: u64) -> Result<()> {
    dev.read_exact_at(buf, offset).map_err(|source| Error::Io {
        offset,
        len: u64::try_from(buf.len()).unwrap_or(u64::MAX),
        source,
    })
}

impl Writecache {
    /// Reads the superblock and every entry of `dev` (the cache device)
    /// and resolves them as the kernel does on load; `None` if the
    /// device is not formatted yet. The entry array is read in pieces
    /// and `n_blocks` is checked against the device's size first, so
    /// memory stays bounded by the device.
    pub fn read(dev: &impl ReadAt) -> Result<Option<Writecache>> {
        let device = dev.size().map_err(|source| Error::Io {
            offset: 0,
            len: 0,
            source,
        })?;
        let mut sb = [0u8; 64];
        read(dev, &mut sb, 0)?;
        let Some(superblock) = Superblock::parse(&sb)? else {
            return Ok(None);
        };
        let Superblock {
            block_size,
            n_blocks,
            seq_count,
        } = superblock;
        let data_offset = metadata_bytes(n_blocks, block_size);
        let needed = data_offset
            .and_then(|m| m.checked_add(n_blocks.checked_mul(u64::from(block_size))?))
            .unwrap_or(u64::MAX);
        if needed > device {
            return Err(Error::TooSmall {
                n_blocks,
                block_size,
                needed,
                device,
            });
        }
        // OK: needed (which includes it) did not overflow.
        let data_offset = data_offset.unwrap_or(u64::MAX);
        let mut live: Vec<Block> = Vec::new();
        let mut uncommitted = 0u64;
        let mut chunk = Vec::new();
        let mut first = 0u64;
        // OK (the arithmetic below): first < n_blocks, whose entries fit
        // the device (checked above), so no index or offset overflows.
        while first < n_blocks {
            let n = n_blocks.saturating_sub(first).min(ENTRIES_PER_READ);
            let at = entry_offset(first).unwrap_or(u64::MAX);
            // n <= ENTRIES_PER_READ: at most 64 KiB.
            chunk.resize(
                usize::try_from(n.saturating_mul(ENTRY_BYTES)).unwrap_or(usize::MAX),
                0,
            );
            read(dev, &mut chunk, at)?;
            let mut index = first;
            for raw in chunk.chunks_exact(16) {
                let mut b = [0u8; 16];
                b.copy_from_slice(raw);
                let e = Entry::parse(&b);
                let this = index;
                index = index.saturating_add(1);
                if e.seq_count >= seq_count {
                    if e.seq_count != u64::MAX {
                        uncommitted = uncommitted.saturating_add(1);
                    }
                    continue;
                }
                live.push(Block {
                    original_sector: e.original_sector,
                    index: this,
                    seq_count: e.seq_count,
                });
            }
            first = first.saturating_add(n);
        }
        // Newest per sector: sort by sector, then newest first.
        live.sort_unstable_by(|a, b| {
            a.original_sector
                .cmp(&b.original_sector)
                .then(b.seq_count.cmp(&a.seq_count))
                .then(a.index.cmp(&b.index))
        });
        let mut blocks: Vec<Block> = Vec::with_capacity(live.len());
        let mut superseded = 0u64;
        for b in live {
            match blocks.last() {
                Some(prev) if prev.original_sector == b.original_sector => {
                    if prev.seq_count == b.seq_count {
                        let (x, y) = (prev.index.min(b.index), prev.index.max(b.index));
                        return Err(Error::DuplicateEntry {
                            first: entry_offset(x).unwrap_or(u64::MAX),
                            second: entry_offset(y).unwrap_or(u64::MAX),
                            sector: b.original_sector,
                            seq_count: b.seq_count,
                        });
                    }
                    superseded = superseded.saturating_add(1);
                }
                _ => blocks.push(b),
            }
        }
        Ok(Some(Writecache {
            superblock,
            data_offset,
            blocks,
            superseded,
            uncommitted,
        }))
    }

    /// The block size in 512-byte sectors.
    pub fn block_sectors(&self) -> u64 {
        u64::from(self.superblock.block_size / 512)
    }

    /// Byte offset of cache block `index` on the device.
    pub fn block_offset(&self, index: u64) -> u64 {
        // OK: index < n_blocks, whose data fit the device (checked in read).
        self.data_offset
            .saturating_add(index.saturating_mul(u64::from(self.superblock.block_size)))
    }

    /// The block holding origin sector `sector` exactly, if the cache
    /// holds one.
    pub fn lookup(&self, sector: u64) -> Option<&Block> {
        self.blocks
            .binary_search_by_key(&sector, |b| b.original_sector)
            .ok()
            .map(|i| &self.blocks[i])
    }

    /// The first block at or after origin sector `sector`.
    pub fn next_from(&self, sector: u64) -> Option<&Block> {
        let i = self.blocks.partition_point(|b| b.original_sector < sector);
        self.blocks.get(i)
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::as_conversions)]
mod tests {
    use super::*;

    /// A device of `bytes` formatted like the kernel's `init_memory`, with
    /// `entries` set and superblock `seq_count`.
    fn device(bytes: u64, bs: u32, seq: u64, entries: &[(u64, Entry)]) -> Vec<u8> {
        let n = blocks_for(bytes, bs).unwrap();
        let mut d = vec![0u8; bytes as usize];
        let sb = Superblock {
            block_size: bs,
            n_blocks: n,
            seq_count: seq,
        };
        d[..64].copy_from_slice(&sb.to_bytes());
        for i in 0..n {
            let at = entry_offset(i).unwrap() as usize;
            d[at..at + 16].copy_from_slice(&Entry::FREE.to_bytes());
        }
        for (i, e) in entries {
            let at = entry_offset(*i).unwrap() as usize;
            d[at..at + 16].copy_from_slice(&e.to_bytes());
        }
        d
    }

    fn e(sector: u64, seq: u64) -> Entry {
        Entry {
            original_sector: sector,
            seq_count: seq,
        }
    }

    #[test]
    fn layout_matches_the_kernel_sizing() {
        // 4 MiB, 4 KiB blocks: 4194304 / 4112 = 1020 blocks; their
        // entries end at 64 + 16*1020 = 16384 (4 blocks of metadata), and
        // 16384 + 1020*4096 = 4194304: the device exactly.
        assert_eq!(blocks_for(4 << 20, 4096), Some(1020));
        assert_eq!(metadata_bytes(1020, 4096), Some(16384));
        // 2 MiB, 512-byte blocks: the most blocks that fit, and one more
        // does not.
        let n = blocks_for(2 << 20, 512).unwrap();
        let m = metadata_bytes(n, 512).unwrap();
        assert!(m + n * 512 <= 2 << 20);
        assert!(metadata_bytes(n + 1, 512).unwrap() + (n + 1) * 512 > 2 << 20);
        assert_eq!(blocks_for(100, 4096), None);
        assert_eq!(blocks_for(1 << 20, 1000), None);
    }

    #[test]
    fn unformatted_device_holds_nothing() {
        assert_eq!(Writecache::read(&vec![0u8; 8192]).unwrap(), None);
    }

    #[test]
    fn newest_committed_entry_wins_and_uncommitted_are_free() {
        let d = device(
            1 << 20,
            4096,
            10,
            &[
                (0, e(64, 3)),
                (1, e(64, 7)),  // newer copy of sector 64: wins
                (2, e(8, 9)),   // committed
                (3, e(16, 10)), // seq_count == superblock's: uncommitted
                (4, e(24, 11)), // past it: uncommitted
            ],
        );
        let wc = Writecache::read(&d).unwrap().unwrap();
        assert_eq!(wc.superblock.seq_count, 10);
        assert_eq!(wc.block_sectors(), 8);
        let secs: Vec<(u64, u64)> = wc
            .blocks
            .iter()
            .map(|b| (b.original_sector, b.index))
            .collect();
        assert_eq!(secs, vec![(8, 2), (64, 1)]);
        assert_eq!(wc.superseded, 1);
        assert_eq!(wc.uncommitted, 2);
        assert_eq!(wc.lookup(64).unwrap().index, 1);
        assert!(wc.lookup(16).is_none());
        assert_eq!(wc.next_from(9).unwrap().original_sector, 64);
        assert_eq!(wc.block_offset(1), wc.data_offset + 4096);
    }

    #[test]
    fn two_entries_with_one_sector_and_seq_count_are_an_error_naming_both() {
        let d = device(1 << 20, 4096, 10, &[(5, e(64, 3)), (2, e(64, 3))]);
        match Writecache::read(&d) {
            Err(Error::DuplicateEntry {
                first,
                second,
                sector: 64,
                seq_count: 3,
            }) => {
                assert_eq!((first, second), (64 + 2 * 16, 64 + 5 * 16));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_superblock_fields_name_their_offsets() {
        let mut d = device(1 << 20, 4096, 1, &[]);
        d[0] ^= 1;
        assert!(matches!(
            Writecache::read(&d),
            Err(Error::BadValue {
                offset: 0,
                field: "magic",
                ..
            })
        ));
        let mut d = device(1 << 20, 4096, 1, &[]);
        d[4] = 2;
        assert!(matches!(
            Writecache::read(&d),
            Err(Error::BadValue {
                offset: 4,
                field: "version",
                ..
            })
        ));
        let mut d = device(1 << 20, 4096, 1, &[]);
        d[8..12].copy_from_slice(&8192u32.to_le_bytes());
        assert!(matches!(
            Writecache::read(&d),
            Err(Error::BadValue {
                offset: 8,
                field: "block_size",
                ..
            })
        ));
    }

    #[test]
    fn n_blocks_past_the_device_is_refused_before_reading_entries() {
        let mut d = device(1 << 20, 4096, 1, &[]);
        d[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            Writecache::read(&d),
            Err(Error::TooSmall {
                needed: u64::MAX,
                ..
            })
        ));
        let mut d = device(1 << 20, 4096, 1, &[]);
        let n = blocks_for(1 << 20, 4096).unwrap();
        d[16..24].copy_from_slice(&(n + 1).to_le_bytes());
        assert!(matches!(Writecache::read(&d), Err(Error::TooSmall { .. })));
    }

    /// The cachevols of testdata/kernel/writecache as the kernel (6.1,
    /// writecache v1.6.0) left them; tests/data/README.md says how they
    /// were cut.
    fn kernel_cvol(name: &str) -> Vec<u8> {
        let z: &[u8] = match name {
            "f1" => include_bytes!("../tests/data/writecache.f1_cvol.zst"),
            _ => include_bytes!("../tests/data/writecache.f2_cvol.zst"),
        };
        zstd::decode_all(z).unwrap()
    }

    #[test]
    fn the_kernels_cachevols_hold_the_blocks_its_status_counted() {
        // dmsetup status at the end of both boots: `1020 844` (n_blocks,
        // free) for w1 (4 KiB blocks, 4 MiB cachevol) and `3971 3668` for
        // w2 (512-byte blocks, 2 MiB): 176 and 303 blocks in the cache.
        for (name, bs, n, free) in [("f1", 4096, 1020, 844), ("f2", 512, 3971, 3668)] {
            let d = kernel_cvol(name);
            let wc = Writecache::read(&d).unwrap().unwrap();
            assert_eq!(wc.superblock.block_size, bs, "{name}");
            assert_eq!(wc.superblock.n_blocks, n, "{name}");
            // The kernel sized the device as blocks_for does.
            assert_eq!(blocks_for(d.len() as u64, bs), Some(n), "{name}");
            assert_eq!(wc.blocks.len() as u64, n - free, "{name}");
            assert_eq!(wc.uncommitted, 0, "{name}");
            assert!(wc
                .blocks
                .iter()
                .all(|b| b.original_sector % u64::from(bs / 512) == 0));
        }
    }

    #[test]
    fn a_short_device_is_an_io_error_with_the_offset() {
        assert!(matches!(
            Writecache::read(&vec![0u8; 10]),
            Err(Error::Io {
                offset: 0,
                len: 64,
                ..
            })
        ));
    }
}
