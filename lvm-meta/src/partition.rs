//! Partition tables on a whole-disk image: the MBR (primary, extended and
//! logical partitions) and the GUID partition table, read as the kernel
//! reads them to make `/dev/sda1`, `/dev/sda5`..., so that PVs inside
//! partitions are found where lvm2 finds them.
//!
//! Sectors are 512 bytes (a GPT made for 4096-byte sectors is found at
//! byte 4096 as well). Every count read from the disk is capped and every
//! offset is checked, so a corrupt table gives an error naming the
//! structure, its byte offset and the value, never a panic or a loop.

use crate::error::{Corruption, Error, Result, Structure};
use crate::io::ReadAt;
use byteorder::{ByteOrder, LittleEndian as LE};

/// The sector size the MBR counts in.
pub const SECTOR: u64 = 512;

/// Bytes 510-511 of an MBR or EBR.
pub const MBR_SIGNATURE: [u8; 2] = [0x55, 0xaa];
/// Offset of the four 16-byte entries in an MBR or EBR.
pub const MBR_OFF_ENTRIES: usize = 0x1be;
/// Size of one MBR entry.
pub const MBR_ENTRY_SIZE: usize = 16;
/// Entry field: boot indicator (0x00 or 0x80).
pub const MBR_OFF_BOOT_IND: usize = 0;
/// Entry field: partition type (`sys_ind`).
pub const MBR_OFF_SYS_IND: usize = 4;
/// Entry field: first sector, relative (`start_sect`).
pub const MBR_OFF_START_SECT: usize = 8;
/// Entry field: number of sectors (`nr_sects`).
pub const MBR_OFF_NR_SECTS: usize = 12;
/// The type of a protective MBR entry (the disk holds a GPT).
pub const MBR_TYPE_GPT_PROTECTIVE: u8 = 0xee;
/// The types of an extended partition (DOS, Windows LBA, Linux).
pub const MBR_TYPES_EXTENDED: [u8; 3] = [0x05, 0x0f, 0x85];
/// The Linux LVM partition type.
pub const MBR_TYPE_LVM: u8 = 0x8e;
/// Most logical partitions followed in an extended partition's chain: the
/// kernel gives a disk at most 256 partitions, and the cap also ends a
/// chain that loops.
pub const MAX_LOGICAL: usize = 252;

/// `signature` of a GPT header.
pub const GPT_SIGNATURE: &[u8; 8] = b"EFI PART";
/// Header field: `signature`.
pub const GPT_OFF_SIGNATURE: usize = 0x00;
/// Header field: `header_size`.
pub const GPT_OFF_HEADER_SIZE: usize = 0x0c;
/// Header field: `header_crc32` (over `header_size` bytes with it zeroed).
pub const GPT_OFF_HEADER_CRC32: usize = 0x10;
/// Header field: `my_lba`.
pub const GPT_OFF_MY_LBA: usize = 0x18;
/// Header field: `alternate_lba` (where the other header is).
pub const GPT_OFF_ALTERNATE_LBA: usize = 0x20;
/// Header field: `partition_entry_lba`.
pub const GPT_OFF_ENTRY_LBA: usize = 0x48;
/// Header field: `num_partition_entries`.
pub const GPT_OFF_NUM_ENTRIES: usize = 0x50;
/// Header field: `sizeof_partition_entry`.
pub const GPT_OFF_SIZEOF_ENTRY: usize = 0x54;
/// Header field: `partition_entry_array_crc32`.
pub const GPT_OFF_ENTRY_ARRAY_CRC32: usize = 0x58;
/// The smallest header (the fields above).
pub const GPT_MIN_HEADER_SIZE: u32 = 92;
/// Entry field: `partition_type_guid` (all zero: unused entry).
pub const GPT_ENTRY_OFF_TYPE: usize = 0x00;
/// Entry field: `starting_lba`.
pub const GPT_ENTRY_OFF_START: usize = 0x20;
/// Entry field: `ending_lba` (inclusive).
pub const GPT_ENTRY_OFF_END: usize = 0x28;
/// The smallest entry (the specification's 128 bytes).
pub const GPT_MIN_ENTRY_SIZE: u32 = 128;
/// Most bytes of partition entries read: the usual array is 16 KiB, this
/// allows 64 times more and keeps a corrupt count from asking for
/// gigabytes.
pub const GPT_MAX_ENTRY_BYTES: u64 = 1 << 20;
/// The Linux LVM partition type GUID (E6D6D379-F507-44C2-A23C-238F2A3DF928)
/// as stored (mixed endian).
pub const GPT_TYPE_LVM: [u8; 16] = [
    0x79, 0xd3, 0xd6, 0xe6, 0x07, 0xf5, 0xc2, 0x44, 0xa2, 0x3c, 0x23, 0x8f, 0x2a, 0x3d, 0xf9, 0x28,
];

/// Which kind of table a disk holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// An MBR (DOS) table.
    Mbr,
    /// A GUID partition table.
    Gpt,
}

/// The type a partition table gives a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionType {
    /// An MBR `sys_ind` byte.
    Mbr(u8),
    /// A GPT `partition_type_guid`, as stored.
    Gpt([u8; 16]),
}

impl PartitionType {
    /// True for the types tools give LVM PVs (lvm2 itself does not look).
    pub fn is_lvm(&self) -> bool {
        match self {
            PartitionType::Mbr(t) => *t == MBR_TYPE_LVM,
            PartitionType::Gpt(g) => *g == GPT_TYPE_LVM,
        }
    }
}

/// One partition, as the kernel would make a device of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// Its number: 1-4 for primary MBR slots, 5 on for logical
    /// partitions, the entry's index + 1 in a GPT.
    pub number: u32,
    /// Its first byte on the disk.
    pub start: u64,
    /// Its length in bytes (cut at the end of the disk when the table says
    /// more, as the kernel does).
    pub len: u64,
    /// Its type.
    pub kind: PartitionType,
}

/// A disk's partition table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// MBR or GPT.
    pub scheme: Scheme,
    /// The partitions that hold data, by number (an extended partition's
    /// container is not one of them).
    pub partitions: Vec<Partition>,
    /// What was odd but usable (a partition cut at the end of the disk, a
    /// GPT read from its backup copy), one line each.
    pub notes: Vec<String>,
}

fn table_err(path: &str, what: &'static str, offset: u64, c: Corruption) -> Error {
    Error::corrupt(Some(path), Structure::PartitionTable(what), offset, c)
}

fn read_bytes(dev: &dyn ReadAt, path: &str, offset: u64, len: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    dev.read_exact_at(&mut buf, offset)
        .map_err(|source| Error::Io {
            path: path.to_owned(),
            what: format!("read {len} bytes at {offset}"),
            source,
        })?;
    Ok(buf)
}

/// One MBR entry, as stored.
#[derive(Debug, Clone, Copy)]
struct MbrEntry {
    boot_ind: u8,
    sys_ind: u8,
    start_sect: u32,
    nr_sects: u32,
}

fn mbr_entries(sector: &[u8]) -> [MbrEntry; 4] {
    std::array::from_fn(|i| {
        let at = MBR_OFF_ENTRIES + i * MBR_ENTRY_SIZE;
        let e = &sector[at..at + MBR_ENTRY_SIZE];
        MbrEntry {
            boot_ind: e[MBR_OFF_BOOT_IND],
            sys_ind: e[MBR_OFF_SYS_IND],
            start_sect: LE::read_u32(&e[MBR_OFF_START_SECT..]),
            nr_sects: LE::read_u32(&e[MBR_OFF_NR_SECTS..]),
        }
    })
}

/// True if sector 0 is an MBR: the signature, and boot indicators of 0x00
/// or 0x80 only (a FAT or NTFS boot sector has the signature too, and its
/// code in those bytes).
fn is_mbr(sector: &[u8]) -> bool {
    sector[510..512] == MBR_SIGNATURE
        && mbr_entries(sector)
            .iter()
            .all(|e| e.boot_ind == 0 || e.boot_ind == 0x80)
}

/// The partition table of `dev` (a whole disk named `path` in messages),
/// or `None` if its first sector holds no MBR.
///
/// # Errors
/// A corrupt table ([`Error::Corrupt`] on
/// [`Structure::PartitionTable`]: a GPT whose both copies fail their
/// checks, an extended partition whose boot record is missing) or a failed
/// read.
pub fn read(dev: &dyn ReadAt, path: &str) -> Result<Option<Table>> {
    let size = dev.size().map_err(|source| Error::Io {
        path: path.to_owned(),
        what: "read size".into(),
        source,
    })?;
    if size < SECTOR {
        return Ok(None);
    }
    let mbr = read_bytes(dev, path, 0, 512)?;
    if !is_mbr(&mbr) {
        return Ok(None);
    }
    let entries = mbr_entries(&mbr);
    if entries.iter().any(|e| e.sys_ind == MBR_TYPE_GPT_PROTECTIVE) {
        return read_gpt(dev, path, size).map(Some);
    }
    read_mbr(dev, path, size, &entries).map(Some)
}

/// Adds a partition of `nr_sects` sectors at sector `start_sect`, cut at
/// the end of the disk or left out (with a note) if it starts past it.
fn push_part(
    t: &mut Table,
    path: &str,
    size: u64,
    number: u32,
    start_sect: u64,
    nr_sects: u64,
    kind: PartitionType,
) {
    let start = start_sect.saturating_mul(SECTOR);
    let len = nr_sects.saturating_mul(SECTOR);
    if start >= size {
        t.notes.push(format!(
            "{path}: partition {number} starts at byte {start}, past the end of the disk ({size} bytes): left out"
        ));
        return;
    }
    let avail = size - start;
    if len > avail {
        t.notes.push(format!(
            "{path}: partition {number} at byte {start} is {len} bytes long but the disk ends {avail} bytes after its start: cut there"
        ));
    }
    t.partitions.push(Partition {
        number,
        start,
        len: len.min(avail),
        kind,
    });
}

fn read_mbr(dev: &dyn ReadAt, path: &str, size: u64, entries: &[MbrEntry; 4]) -> Result<Table> {
    let mut t = Table {
        scheme: Scheme::Mbr,
        partitions: Vec::new(),
        notes: Vec::new(),
    };
    let mut extended = None;
    for (slot, e) in (1u32..).zip(entries.iter()) {
        if e.sys_ind == 0 || e.nr_sects == 0 {
            continue;
        }
        if MBR_TYPES_EXTENDED.contains(&e.sys_ind) {
            // The kernel follows the first extended partition only.
            if extended.is_none() {
                extended = Some(u64::from(e.start_sect));
            }
            continue;
        }
        push_part(
            &mut t,
            path,
            size,
            slot,
            e.start_sect.into(),
            e.nr_sects.into(),
            PartitionType::Mbr(e.sys_ind),
        );
    }
    if let Some(ext) = extended {
        read_logical(dev, path, size, ext, &mut t)?;
    }
    t.partitions.sort_by_key(|p| p.number);
    Ok(t)
}

/// Follows the chain of extended boot records that starts at sector
/// `ext`: each holds one logical partition (relative to itself) and the
/// next record (relative to `ext`).
fn read_logical(dev: &dyn ReadAt, path: &str, size: u64, ext: u64, t: &mut Table) -> Result<()> {
    let mut ebr = ext;
    let mut number = 5u32;
    for _ in 0..MAX_LOGICAL {
        let at = ebr.saturating_mul(SECTOR);
        if at.checked_add(SECTOR).is_none_or(|e| e > size) {
            return Err(table_err(
                path,
                "extended boot record",
                at,
                Corruption::Truncated {
                    needed: SECTOR,
                    available: size.saturating_sub(at),
                },
            ));
        }
        let sector = read_bytes(dev, path, at, 512)?;
        if sector[510..512] != MBR_SIGNATURE {
            return Err(table_err(
                path,
                "extended boot record",
                at,
                Corruption::BadMagic {
                    field: "signature",
                    found: format!("{:#04x} {:#04x}", sector[510], sector[511]),
                    expected: "0x55 0xaa".into(),
                },
            ));
        }
        let e = mbr_entries(&sector);
        if e[0].sys_ind != 0 && e[0].nr_sects != 0 {
            push_part(
                t,
                path,
                size,
                number,
                ebr.saturating_add(e[0].start_sect.into()),
                e[0].nr_sects.into(),
                PartitionType::Mbr(e[0].sys_ind),
            );
            number += 1;
        }
        if e[1].sys_ind == 0 || e[1].start_sect == 0 {
            return Ok(());
        }
        ebr = ext.saturating_add(e[1].start_sect.into());
    }
    t.notes.push(format!(
        "{path}: more than {MAX_LOGICAL} logical partitions in the extended partition at byte {}: the rest left out",
        ext.saturating_mul(SECTOR)
    ));
    Ok(())
}

/// A GPT header that passed its checks.
struct GptHeader {
    entry_lba: u64,
    num_entries: u32,
    entry_size: u32,
    entry_crc: u32,
    alternate_lba: u64,
}

/// Reads and checks the GPT header at sector `lba` of `sector` bytes.
fn gpt_header(dev: &dyn ReadAt, path: &str, lba: u64, sector: u64) -> Result<GptHeader> {
    let at = lba.saturating_mul(sector);
    let what = "GPT header";
    let len = usize::try_from(sector).unwrap_or(512);
    let h = read_bytes(dev, path, at, len)?;
    if &h[..8] != GPT_SIGNATURE {
        return Err(table_err(
            path,
            what,
            at,
            Corruption::BadMagic {
                field: "signature",
                found: format!("{:02x?}", &h[..8]),
                expected: "\"EFI PART\"".into(),
            },
        ));
    }
    let header_size = LE::read_u32(&h[GPT_OFF_HEADER_SIZE..]);
    if header_size < GPT_MIN_HEADER_SIZE || u64::from(header_size) > sector {
        return Err(table_err(
            path,
            what,
            at,
            Corruption::BadValue {
                field: "header_size".into(),
                found: header_size.to_string(),
                reason: format!("must be {GPT_MIN_HEADER_SIZE} to {sector}"),
            },
        ));
    }
    let hs = header_size as usize;
    let stored = LE::read_u32(&h[GPT_OFF_HEADER_CRC32..]);
    let mut copy = h[..hs].to_vec();
    copy[GPT_OFF_HEADER_CRC32..GPT_OFF_HEADER_CRC32 + 4].fill(0);
    let computed = crc32fast::hash(&copy);
    if stored != computed {
        return Err(table_err(
            path,
            what,
            at,
            Corruption::Checksum {
                what: "header",
                stored,
                computed,
                start: at,
                end: at + u64::from(header_size) - 1,
            },
        ));
    }
    let my_lba = LE::read_u64(&h[GPT_OFF_MY_LBA..]);
    if my_lba != lba {
        return Err(table_err(
            path,
            what,
            at,
            Corruption::BadValue {
                field: "my_lba".into(),
                found: my_lba.to_string(),
                reason: format!("the header is at sector {lba}"),
            },
        ));
    }
    let num_entries = LE::read_u32(&h[GPT_OFF_NUM_ENTRIES..]);
    let entry_size = LE::read_u32(&h[GPT_OFF_SIZEOF_ENTRY..]);
    if entry_size < GPT_MIN_ENTRY_SIZE || !entry_size.is_power_of_two() {
        return Err(table_err(
            path,
            what,
            at,
            Corruption::BadValue {
                field: "sizeof_partition_entry".into(),
                found: entry_size.to_string(),
                reason: format!("must be {GPT_MIN_ENTRY_SIZE} times a power of two"),
            },
        ));
    }
    let bytes = u64::from(num_entries) * u64::from(entry_size);
    if bytes > GPT_MAX_ENTRY_BYTES {
        return Err(table_err(
            path,
            what,
            at,
            Corruption::BadValue {
                field: "num_partition_entries".into(),
                found: num_entries.to_string(),
                reason: format!(
                    "{bytes} bytes of entries of {entry_size} bytes, more than the {GPT_MAX_ENTRY_BYTES} read"
                ),
            },
        ));
    }
    Ok(GptHeader {
        entry_lba: LE::read_u64(&h[GPT_OFF_ENTRY_LBA..]),
        num_entries,
        entry_size,
        entry_crc: LE::read_u32(&h[GPT_OFF_ENTRY_ARRAY_CRC32..]),
        alternate_lba: LE::read_u64(&h[GPT_OFF_ALTERNATE_LBA..]),
    })
}

/// Reads the partitions a checked header points to.
fn gpt_entries(
    dev: &dyn ReadAt,
    path: &str,
    size: u64,
    h: &GptHeader,
    sector: u64,
) -> Result<Table> {
    let at = h.entry_lba.saturating_mul(sector);
    // Bounded by GPT_MAX_ENTRY_BYTES in `gpt_header`.
    let len = u64::from(h.num_entries) * u64::from(h.entry_size);
    if at.checked_add(len).is_none_or(|e| e > size) {
        return Err(table_err(
            path,
            "GPT partition entries",
            at,
            Corruption::Truncated {
                needed: len,
                available: size.saturating_sub(at),
            },
        ));
    }
    let array = read_bytes(dev, path, at, len as usize)?;
    let computed = crc32fast::hash(&array);
    if computed != h.entry_crc {
        return Err(table_err(
            path,
            "GPT partition entries",
            at,
            Corruption::Checksum {
                what: "partition entry array",
                stored: h.entry_crc,
                computed,
                start: at,
                end: at + len.saturating_sub(1),
            },
        ));
    }
    let mut t = Table {
        scheme: Scheme::Gpt,
        partitions: Vec::new(),
        notes: Vec::new(),
    };
    let per_sector = sector / SECTOR;
    for (number, e) in (1u32..).zip(array.chunks_exact(h.entry_size as usize)) {
        let mut kind = [0u8; 16];
        kind.copy_from_slice(&e[GPT_ENTRY_OFF_TYPE..GPT_ENTRY_OFF_TYPE + 16]);
        if kind == [0u8; 16] {
            continue;
        }
        let first = LE::read_u64(&e[GPT_ENTRY_OFF_START..]);
        let last = LE::read_u64(&e[GPT_ENTRY_OFF_END..]);
        if last < first {
            return Err(table_err(
                path,
                "GPT partition entries",
                at + u64::from(number - 1) * u64::from(h.entry_size),
                Corruption::BadValue {
                    field: "ending_lba".into(),
                    found: last.to_string(),
                    reason: format!("before starting_lba {first}"),
                },
            ));
        }
        push_part(
            &mut t,
            path,
            size,
            number,
            first.saturating_mul(per_sector),
            (last - first + 1).saturating_mul(per_sector),
            PartitionType::Gpt(kind),
        );
    }
    Ok(t)
}

/// The GPT of a disk with a protective MBR: the primary copy, else the
/// backup at the disk's last sector (with a note).
fn read_gpt(dev: &dyn ReadAt, path: &str, size: u64) -> Result<Table> {
    // 512-byte sectors first; a GPT made for 4096-byte sectors has its
    // header at byte 4096.
    let mut first_err = None;
    for sector in [SECTOR, 4096] {
        if size < 2 * sector {
            continue;
        }
        let primary = gpt_header(dev, path, 1, sector)
            .and_then(|h| gpt_entries(dev, path, size, &h, sector).map(|t| (h, t)));
        match primary {
            Ok((_, t)) => return Ok(t),
            Err(e) => {
                let last = size / sector - 1;
                let backup = gpt_header(dev, path, last, sector)
                    .and_then(|h| gpt_entries(dev, path, size, &h, sector).map(|t| (h, t)));
                if let Ok((h, mut t)) = backup {
                    if h.alternate_lba == 1 {
                        t.notes.push(format!(
                            "{path}: primary GPT unusable ({e}); using the backup at byte {}",
                            last * sector
                        ));
                        return Ok(t);
                    }
                }
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or_else(|| {
        table_err(
            path,
            "GPT header",
            SECTOR,
            Corruption::Truncated {
                needed: 2 * SECTOR,
                available: size,
            },
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1 MiB disk with an MBR whose slots are `entries` (type, start,
    /// sectors), other sectors zero.
    fn mbr_disk(entries: &[(u8, u32, u32)]) -> Vec<u8> {
        let mut d = vec![0u8; 1 << 20];
        put_entries(&mut d, 0, entries);
        d
    }

    fn put_entries(d: &mut [u8], sector: usize, entries: &[(u8, u32, u32)]) {
        let base = sector * 512;
        for (i, (t, s, n)) in entries.iter().enumerate() {
            let at = base + MBR_OFF_ENTRIES + i * MBR_ENTRY_SIZE;
            d[at + MBR_OFF_SYS_IND] = *t;
            LE::write_u32(&mut d[at + MBR_OFF_START_SECT..], *s);
            LE::write_u32(&mut d[at + MBR_OFF_NR_SECTS..], *n);
        }
        d[base + 510..base + 512].copy_from_slice(&MBR_SIGNATURE);
    }

    #[test]
    fn no_signature_is_no_table() {
        assert_eq!(read(&vec![0u8; 4096], "d").unwrap(), None);
        assert_eq!(read(&vec![0u8; 100], "d").unwrap(), None);
    }

    #[test]
    fn a_boot_sector_is_not_an_mbr() {
        let mut d = mbr_disk(&[(0x83, 2048, 100)]);
        d[MBR_OFF_ENTRIES] = 0x4d;
        assert_eq!(read(&d, "d").unwrap(), None);
    }

    #[test]
    fn primary_and_logical_partitions_are_numbered_as_the_kernel_does() {
        // p1 primary; p3 extended at 1000 holding two logical ones.
        let mut d = mbr_disk(&[(0x8e, 100, 50), (0, 0, 0), (0x05, 1000, 1000)]);
        put_entries(&mut d, 1000, &[(0x83, 10, 20), (0x05, 100, 200)]);
        put_entries(&mut d, 1100, &[(0x8e, 10, 30)]);
        let t = read(&d, "d").unwrap().unwrap();
        assert_eq!(t.scheme, Scheme::Mbr);
        let got: Vec<(u32, u64, u64)> = t
            .partitions
            .iter()
            .map(|p| (p.number, p.start / 512, p.len / 512))
            .collect();
        assert_eq!(got, [(1, 100, 50), (5, 1010, 20), (6, 1110, 30)]);
        assert!(t.partitions[0].kind.is_lvm());
        assert!(t.notes.is_empty());
    }

    #[test]
    fn a_looping_chain_ends_at_the_cap() {
        let mut d = mbr_disk(&[(0x05, 1000, 1000)]);
        // The record points at itself.
        put_entries(&mut d, 1000, &[(0x83, 10, 20), (0x05, 0, 200)]);
        // start_sect 0 ends the chain; make it point one on and back.
        put_entries(&mut d, 1000, &[(0x83, 10, 20), (0x05, 1, 200)]);
        put_entries(&mut d, 1001, &[(0x83, 10, 20), (0x05, 1, 200)]);
        let t = read(&d, "d").unwrap().unwrap();
        assert_eq!(t.partitions.len(), MAX_LOGICAL);
        assert!(
            t.notes[0].contains("more than 252 logical"),
            "{:?}",
            t.notes
        );
    }

    #[test]
    fn a_missing_extended_boot_record_is_an_error_naming_its_offset() {
        let d = mbr_disk(&[(0x05, 1000, 1000)]);
        let e = read(&d, "d").unwrap_err();
        assert_eq!(
            e.to_string(),
            "d: extended boot record at 512000: signature is 0x00 0x00, expected 0x55 0xaa"
        );
        let d = mbr_disk(&[(0x0f, 5000, 1000)]);
        let e = read(&d, "d").unwrap_err();
        assert_eq!(
            e.to_string(),
            "d: extended boot record at 2560000: truncated: 512 bytes needed, 0 available"
        );
    }

    #[test]
    fn a_partition_past_the_end_is_cut_and_noted() {
        let d = mbr_disk(&[(0x83, 2000, 100), (0x83, 3000, 10)]);
        let t = read(&d, "d").unwrap().unwrap();
        assert_eq!(t.partitions.len(), 1);
        assert_eq!(
            (t.partitions[0].start, t.partitions[0].len),
            (1024000, 24576)
        );
        assert_eq!(t.notes.len(), 2, "{:?}", t.notes);
    }

    /// A 1 MiB disk with a protective MBR and a GPT (both copies) holding
    /// `parts` (type, first, last).
    fn gpt_disk(parts: &[([u8; 16], u64, u64)]) -> Vec<u8> {
        let mut d = mbr_disk(&[(MBR_TYPE_GPT_PROTECTIVE, 1, 2047)]);
        let last = (d.len() / 512 - 1) as u64;
        let mut array = vec![0u8; 128 * 128];
        for (i, (t, f, l)) in parts.iter().enumerate() {
            let e = &mut array[i * 128..];
            e[..16].copy_from_slice(t);
            LE::write_u64(&mut e[GPT_ENTRY_OFF_START..], *f);
            LE::write_u64(&mut e[GPT_ENTRY_OFF_END..], *l);
        }
        let array_crc = crc32fast::hash(&array);
        for (my, alt, entries) in [(1u64, last, 2u64), (last, 1, last - 32)] {
            let at = (entries * 512) as usize;
            d[at..at + array.len()].copy_from_slice(&array);
            let mut h = [0u8; 92];
            h[..8].copy_from_slice(GPT_SIGNATURE);
            LE::write_u32(&mut h[GPT_OFF_HEADER_SIZE..], 92);
            LE::write_u64(&mut h[GPT_OFF_MY_LBA..], my);
            LE::write_u64(&mut h[GPT_OFF_ALTERNATE_LBA..], alt);
            LE::write_u64(&mut h[GPT_OFF_ENTRY_LBA..], entries);
            LE::write_u32(&mut h[GPT_OFF_NUM_ENTRIES..], 128);
            LE::write_u32(&mut h[GPT_OFF_SIZEOF_ENTRY..], 128);
            LE::write_u32(&mut h[GPT_OFF_ENTRY_ARRAY_CRC32..], array_crc);
            let c = crc32fast::hash(&h);
            LE::write_u32(&mut h[GPT_OFF_HEADER_CRC32..], c);
            let at = (my * 512) as usize;
            d[at..at + 92].copy_from_slice(&h);
        }
        d
    }

    #[test]
    fn gpt_partitions_are_numbered_by_entry() {
        let other = [1u8; 16];
        let d = gpt_disk(&[(GPT_TYPE_LVM, 34, 99), ([0; 16], 0, 0), (other, 100, 199)]);
        let t = read(&d, "d").unwrap().unwrap();
        assert_eq!(t.scheme, Scheme::Gpt);
        let got: Vec<(u32, u64, u64, bool)> = t
            .partitions
            .iter()
            .map(|p| (p.number, p.start, p.len, p.kind.is_lvm()))
            .collect();
        assert_eq!(
            got,
            [(1, 34 * 512, 66 * 512, true), (3, 51200, 51200, false)]
        );
        assert!(t.notes.is_empty());
    }

    #[test]
    fn a_damaged_primary_gpt_falls_back_to_the_backup() {
        let mut d = gpt_disk(&[(GPT_TYPE_LVM, 34, 99)]);
        d[512 + 0x30] ^= 1;
        let t = read(&d, "d").unwrap().unwrap();
        assert_eq!(t.partitions.len(), 1);
        assert!(
            t.notes[0]
                .starts_with("d: primary GPT unusable (d: GPT header at 512: header checksum"),
            "{:?}",
            t.notes
        );
        // Both copies damaged: the primary's error.
        let last = d.len() - 512;
        d[last + 0x30] ^= 1;
        let e = read(&d, "d").unwrap_err().to_string();
        assert!(
            e.starts_with("d: GPT header at 512: header checksum"),
            "{e}"
        );
    }

    #[test]
    fn a_damaged_entry_array_is_an_error_with_its_offset() {
        let mut d = gpt_disk(&[(GPT_TYPE_LVM, 34, 99)]);
        d[1024 + 40] ^= 1;
        let last = d.len() - 33 * 512;
        d[last + 40] ^= 1;
        let e = read(&d, "d").unwrap_err().to_string();
        assert!(
            e.starts_with("d: GPT partition entries at 1024: partition entry array checksum"),
            "{e}"
        );
    }

    #[test]
    fn hostile_counts_are_refused_not_read() {
        let mut d = gpt_disk(&[]);
        for at in [512usize, d.len() - 512] {
            LE::write_u32(&mut d[at + GPT_OFF_NUM_ENTRIES..], u32::MAX);
            d[at + GPT_OFF_HEADER_CRC32..at + GPT_OFF_HEADER_CRC32 + 4].fill(0);
            let c = crc32fast::hash(&d[at..at + 92]);
            LE::write_u32(&mut d[at + GPT_OFF_HEADER_CRC32..], c);
        }
        let e = read(&d, "d").unwrap_err().to_string();
        assert!(e.contains("num_partition_entries is 4294967295"), "{e}");
    }
}
