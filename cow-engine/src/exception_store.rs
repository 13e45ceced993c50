//! The persistent exception store, loaded the way the kernel loads it
//! (`read_exceptions`, `insert_exceptions`, `skip_metadata` in
//! `drivers/md/dm-snap-persistent.c`).
//!
//! Layout, in chunks of `cs` sectors: chunk 0 is the header; metadata area
//! `k` is chunk `1 + (E + 1) * k`, followed by `E` data chunks, where
//! `E = chunk bytes / 16`. An area holds 16-byte records
//! `(old_chunk, new_chunk)`, little-endian, ending at the first record whose
//! `new_chunk` is 0. Loading stops at the first area that is not full.

use crate::chunk_map::{Builder, ChunkMap};
use crate::disk_header::{DiskHeader, Header, HeaderError, OFF_CHUNK_SIZE};
use byteorder::{ByteOrder, LittleEndian as LE};
use lvm_meta::io::ReadAt;
use std::io;

/// Size of one `struct disk_exception`.
pub const DISK_EXCEPTION_SIZE: u64 = 16;

/// Largest chunk accepted, in sectors: lvm2's maximum (512 KiB; lvcreate
/// refuses larger). The kernel takes up to 2^21 sectors, but the loader and
/// the engine hold one chunk-sized area in memory, so a hostile header
/// could otherwise make them allocate 1 GiB.
pub const MAX_CHUNK_SECTORS: u64 = 1024;

/// Why a store cannot be loaded (the kernel refuses the table).
/// [`StoreError::offset`] says where in the COW device.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Chunk 0 is not a store header.
    #[error("{0}")]
    Header(#[from] HeaderError),
    /// An area the loader must read lies outside the COW device.
    #[error("COW metadata area {area} at chunk {chunk} lies past the COW's end ({chunks} whole chunks): the kernel fails to load it")]
    AreaPastEnd {
        /// Area index.
        area: u64,
        /// Its chunk.
        chunk: u64,
        /// Whole chunks in the COW.
        chunks: u64,
        /// Byte offset the area would have in the COW.
        offset: u64,
    },
    /// A record's `new_chunk` lies outside the COW device. The kernel loads
    /// such a record and fails every read through it; lvmsim refuses the
    /// store, as the engine would otherwise allocate past the COW's end
    /// (`next_free` follows the largest `new_chunk`).
    #[error("COW metadata area {area}, record {index}: new_chunk {new_chunk} lies past the COW's end ({chunks} whole chunks)")]
    ExceptionPastEnd {
        /// Area index.
        area: u64,
        /// Record index in the area.
        index: u64,
        /// The record's `new_chunk`.
        new_chunk: u64,
        /// Whole chunks in the COW.
        chunks: u64,
        /// Byte offset of the record in the COW.
        offset: u64,
    },
    /// The chunk size is over [`MAX_CHUNK_SECTORS`].
    #[error("COW chunk size {0} sectors is over lvmsim's limit of {MAX_CHUNK_SECTORS} (lvm2's largest, 512 KiB)")]
    ChunkTooLarge(u64),
    /// Reading the COW failed.
    #[error("reading the COW: {source}")]
    Io {
        /// Byte offset of the read in the COW.
        offset: u64,
        /// The reader's error.
        source: io::Error,
    },
}

impl StoreError {
    /// Byte offset in the COW device of what is wrong: the header field,
    /// the metadata area, the record, or the failed read.
    pub fn offset(&self) -> u64 {
        match self {
            StoreError::Header(h) => h.offset(),
            StoreError::ChunkTooLarge(_) => OFF_CHUNK_SIZE as u64,
            StoreError::AreaPastEnd { offset, .. }
            | StoreError::ExceptionPastEnd { offset, .. }
            | StoreError::Io { offset, .. } => *offset,
        }
    }
}

/// One exception: origin chunk `old` is saved in COW chunk `new`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Exception {
    /// `old_chunk`: the origin chunk index.
    pub old: u64,
    /// `new_chunk`: the COW chunk index holding the data.
    pub new: u64,
}

/// Most lookup entries reserved before the walk: the reservation is
/// address space, not memory, until records fill it (8 bytes an entry),
/// so it spares the copies of a growing table up to 64M records (a
/// 256 GiB COW with 4 KiB chunks); a larger store grows past it.
const RESERVE_RECORDS: u64 = 1 << 26;

/// A loaded store.
#[derive(Debug, Clone)]
pub struct Store {
    /// The header as read (a new store reads as valid with the table's chunk size).
    pub header: DiskHeader,
    /// True if chunk 0 was all-zero magic (never activated).
    pub new: bool,
    /// True if chunk 0 held no store header and the records were found by
    /// [`Store::find_headerless`]: `header` is then a guess, with
    /// `valid = 0` (whether the store had overflowed is not known).
    pub header_guessed: bool,
    /// Chunk size in sectors (the header's value).
    pub chunk_sectors: u64,
    /// Whole chunks in the COW device.
    pub cow_chunks: u64,
    /// COW size in sectors.
    pub cow_sectors: u64,
    /// Number of records read (area by area, duplicates included).
    pub record_count: u64,
    /// Every record in disk order when `map` cannot give it back (see
    /// [`Store::records`]).
    pub(crate) disk_order: Option<Vec<Exception>>,
    /// Lookup: the first record for each origin chunk wins, as in the kernel.
    pub map: ChunkMap,
    /// Next COW chunk the kernel would allocate.
    pub next_free: u64,
    /// Index of the first area that is not full.
    pub current_area: u64,
    /// Records in the current area.
    pub current_committed: u64,
}

impl Store {
    /// Exceptions per metadata area, `E`.
    pub fn exceptions_per_area(&self) -> u64 {
        self.chunk_sectors * 512 / DISK_EXCEPTION_SIZE
    }

    /// Chunk index of metadata area `k`.
    pub fn area_location(&self, k: u64) -> u64 {
        area_location(self.chunk_sectors, k)
    }

    /// Every record in disk order (area by area). The loader keeps them
    /// only when the lookup cannot give them back: for a store the kernel
    /// wrote (COW chunks ascending, one record per origin chunk) they are
    /// [`Store::map`]'s entries ordered by COW chunk, so this reads the map
    /// and must be called before the map is changed.
    pub fn records(&self) -> Vec<Exception> {
        if let Some(v) = &self.disk_order {
            return v.clone();
        }
        let mut v: Vec<Exception> = self
            .map
            .iter_range(0, u64::MAX)
            .map(|(old, new)| Exception { old, new })
            .collect();
        v.sort_unstable_by_key(|e| e.new);
        v
    }

    /// `dmsetup status` numbers: (sectors allocated, total sectors, metadata
    /// sectors), as `persistent_usage` computes them.
    pub fn usage(&self) -> (u64, u64, u64) {
        (
            self.next_free * self.chunk_sectors,
            self.cow_sectors,
            (self.current_area + 2) * self.chunk_sectors,
        )
    }

    /// Loads a store from the COW device `cow` (its bytes, e.g. the COW LV
    /// read through its segments; its size bounds the store).
    /// `table_chunk` is the chunk size lvm2's table gives (the on-disk
    /// value wins when present).
    pub fn load(cow: &(impl ReadAt + ?Sized), table_chunk: u64) -> Result<Store, StoreError> {
        Store::load_with(cow, table_chunk, false, None)
    }

    /// Loads the records an invalidated store still holds, for forensics
    /// (the kernel reads none of them): the same walk as [`Store::load`]
    /// whatever the header's valid field says, ending quietly at an area
    /// that lies past the COW's end.
    pub fn load_forensic(
        cow: &(impl ReadAt + ?Sized),
        table_chunk: u64,
    ) -> Result<Store, StoreError> {
        Store::load_with(cow, table_chunk, true, None)
    }

    /// For a store whose header is gone (chunk 0 zeroed or overwritten, as
    /// when lvm2 wipes the start of a later LV given the same extents):
    /// scans the COW for its first metadata area, trying the chunk size of
    /// the table (`table_chunk` sectors) and then every other chunk size
    /// the kernel accepts. Area 0 lies in chunk 1 whatever the size, and it
    /// is taken only if it is well formed ([`well_formed_area`]) and holds
    /// at least one record. The store is then read as
    /// [`Store::load_forensic`] reads one, with a guessed header
    /// ([`Store::header_guessed`], `valid = 0`). `None`: chunk 0 holds a
    /// store header, or no chunk size gives a well-formed first area.
    pub fn find_headerless(
        cow: &(impl ReadAt + ?Sized),
        table_chunk: u64,
    ) -> Result<Option<Store>, StoreError> {
        let cow_sectors = cow
            .size()
            .map_err(|source| StoreError::Io { offset: 0, source })?
            / 512;
        let mut first = vec![0u8; 512];
        if cow_sectors == 0 {
            return Ok(None);
        }
        read_sectors(cow, 0, &mut first)?;
        if let Ok(Header::Store(_)) = Header::parse(&first) {
            return Ok(None);
        }
        let mut sizes = vec![table_chunk];
        sizes.extend(
            (3..=MAX_CHUNK_SECTORS.trailing_zeros())
                .map(|b| 1u64 << b)
                .filter(|&c| c != table_chunk),
        );
        for cs in sizes {
            if cs == 0 || !cs.is_power_of_two() || cs > MAX_CHUNK_SECTORS {
                continue;
            }
            let chunks = cow_sectors / cs;
            // The header, area 0 and one data chunk at least.
            if chunks < 3 {
                continue;
            }
            let mut buf = vec![0u8; (cs * 512) as usize];
            read_sectors(cow, cs * 512, &mut buf)?;
            if well_formed_area(&buf, 0, cs, chunks).is_some_and(|n| n > 0) {
                let assumed = DiskHeader {
                    valid: 0,
                    version: 1,
                    // OK to unwrap_or: cs is at most MAX_CHUNK_SECTORS.
                    chunk_size: u32::try_from(cs).unwrap_or(0),
                };
                return Store::load_with(cow, cs, true, Some(assumed)).map(Some);
            }
        }
        Ok(None)
    }

    /// True if every metadata area the store uses (0 to
    /// [`Store::current_area`]) is well formed ([`well_formed_area`]):
    /// what a later LV wrote over an area would show (records outside
    /// their area's data chunks, repeated, or bytes after the last
    /// record), so areas that pass are taken to be the kernel's.
    pub fn areas_well_formed(&self, cow: &(impl ReadAt + ?Sized)) -> Result<bool, StoreError> {
        let cs = self.chunk_sectors;
        let mut buf =
            vec![0u8; usize::try_from(cs * 512).map_err(|_| StoreError::ChunkTooLarge(cs))?];
        for k in 0..=self.current_area {
            let chunk = self.area_location(k);
            if chunk >= self.cow_chunks {
                break;
            }
            read_sectors(cow, chunk * cs * 512, &mut buf)?;
            if well_formed_area(&buf, k, cs, self.cow_chunks).is_none() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn load_with(
        cow: &(impl ReadAt + ?Sized),
        table_chunk: u64,
        forensic: bool,
        assume: Option<DiskHeader>,
    ) -> Result<Store, StoreError> {
        let cow_sectors = cow
            .size()
            .map_err(|source| StoreError::Io { offset: 0, source })?
            / 512;
        let mut first = vec![0u8; 512];
        read_sectors(cow, 0, &mut first)?;
        let header = match assume {
            Some(h) => Header::Store(h),
            None => Header::parse(&first)?,
        };
        let (header, new) = match header {
            Header::New => (
                DiskHeader {
                    valid: 1,
                    version: 1,
                    chunk_size: u32::try_from(table_chunk).unwrap_or(0),
                },
                true,
            ),
            Header::Store(h) => (h, false),
        };
        let cs = u64::from(header.chunk_size);
        if cs == 0 || !cs.is_power_of_two() {
            return Err(HeaderError::BadChunkSize(header.chunk_size).into());
        }
        if cs > MAX_CHUNK_SECTORS {
            return Err(StoreError::ChunkTooLarge(cs));
        }
        let cow_chunks = cow_sectors / cs;
        let mut s = Store {
            header,
            new,
            header_guessed: assume.is_some(),
            chunk_sectors: cs,
            cow_chunks,
            cow_sectors,
            record_count: 0,
            disk_order: None,
            map: ChunkMap::default(),
            next_free: 2,
            current_area: 0,
            current_committed: 0,
        };
        if new || (!header.is_valid() && !forensic) {
            // An invalid store's exceptions are not read; a new one has none.
            return Ok(s);
        }
        let e = s.exceptions_per_area();
        let chunk_bytes = usize::try_from(cs * 512).map_err(|_| StoreError::ChunkTooLarge(cs))?;
        let mut buf = vec![0u8; chunk_bytes];
        // At most E records per area, one area every E + 1 chunks.
        let most = (cow_chunks / (e + 1) + 1).saturating_mul(e);
        let mut table =
            Builder::with_capacity(usize::try_from(most.min(RESERVE_RECORDS)).unwrap_or(0));
        let mut area = 0u64;
        loop {
            let chunk = s.area_location(area);
            if chunk >= cow_chunks {
                if forensic {
                    break;
                }
                return Err(StoreError::AreaPastEnd {
                    area,
                    chunk,
                    chunks: cow_chunks,
                    offset: chunk.saturating_mul(cs * 512),
                });
            }
            read_sectors(cow, chunk * cs * 512, &mut buf)?;
            let mut full = true;
            for j in 0..e {
                let at = (j * DISK_EXCEPTION_SIZE) as usize;
                let old = LE::read_u64(&buf[at..]);
                let new_chunk = LE::read_u64(&buf[at + 8..]);
                if new_chunk == 0 {
                    s.current_committed = j;
                    full = false;
                    break;
                }
                if new_chunk >= cow_chunks {
                    return Err(StoreError::ExceptionPastEnd {
                        area,
                        index: j,
                        new_chunk,
                        chunks: cow_chunks,
                        offset: chunk * cs * 512 + at as u64,
                    });
                }
                s.next_free = s.next_free.max(new_chunk.saturating_add(1));
                s.record_count += 1;
                table.push(old, new_chunk);
            }
            if !full {
                break;
            }
            area += 1;
        }
        s.current_area = area;
        let built = table.finish();
        s.map = built.map;
        s.disk_order = built.disk_order;
        // skip_metadata: never hand out a metadata chunk.
        if s.next_free % (e + 1) == 1 {
            s.next_free += 1;
        }
        Ok(s)
    }
}

/// Fills `buf` from byte `offset` of the COW.
fn read_sectors(
    cow: &(impl ReadAt + ?Sized),
    offset: u64,
    buf: &mut [u8],
) -> Result<(), StoreError> {
    cow.read_exact_at(buf, offset)
        .map_err(|source| StoreError::Io { offset, source })
}

/// The number of records in `buf`, metadata area `area` of a store of
/// `cs`-sector chunks and `cow_chunks` chunks, if the area is well formed
/// as the kernel writes one: each record's COW chunk lies among the data
/// chunks that follow this area (`area_location(area) + 1` to
/// `area_location(area) + E`) and inside the COW, no COW chunk is given
/// twice, and every byte after the last record is zero (the kernel zeroes
/// an area before its first record). `None`: not an area the kernel wrote.
pub fn well_formed_area(buf: &[u8], area: u64, cs: u64, cow_chunks: u64) -> Option<u64> {
    let e = cs * 512 / DISK_EXCEPTION_SIZE;
    let loc = area_location(cs, area);
    let mut seen = std::collections::HashSet::new();
    let mut count = 0u64;
    for j in 0..e {
        let at = usize::try_from(j * DISK_EXCEPTION_SIZE).ok()?;
        let rec = buf.get(at..at + DISK_EXCEPTION_SIZE as usize)?;
        let new_chunk = LE::read_u64(&rec[8..]);
        if new_chunk == 0 {
            return buf[at..].iter().all(|&b| b == 0).then_some(count);
        }
        if new_chunk <= loc || new_chunk > loc + e || new_chunk >= cow_chunks {
            return None;
        }
        if !seen.insert(new_chunk) {
            return None;
        }
        count += 1;
    }
    Some(count)
}

/// `area_location(k) = 1 + (E + 1) * k` for chunk size `cs` sectors.
pub fn area_location(cs: u64, k: u64) -> u64 {
    let e = cs * 512 / DISK_EXCEPTION_SIZE;
    1 + (e + 1) * k
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store whose header chunk was zeroed is found again by its first
    /// area, with every record, whatever chunk size the table names; one
    /// whose area holds anything else is not.
    #[test]
    fn headerless_store_is_found_by_its_areas() {
        let recs = [(5, 2), (0, 3), (9, 4)];
        let mut img = cow(16, 40, &recs, 1);
        assert!(
            Store::find_headerless(&img, 16).unwrap().is_none(),
            "header intact"
        );
        img[..16 * 512].fill(0);
        for table in [16, 8, 64] {
            let s = Store::find_headerless(&img, table).unwrap().unwrap();
            assert!(s.header_guessed && !s.header.is_valid() && !s.new);
            assert_eq!(s.chunk_sectors, 16);
            assert_eq!(s.record_count, 3);
            let mut got: Vec<(u64, u64)> = s.records().iter().map(|r| (r.old, r.new)).collect();
            got.sort_unstable();
            assert_eq!(got, vec![(0, 3), (5, 2), (9, 4)]);
            assert!(s.areas_well_formed(&img).unwrap());
        }
        // A stray byte after the last record: not the kernel's area.
        let mut bad = img.clone();
        bad[16 * 512 + 3 * 16 + 5] = 1;
        assert!(Store::find_headerless(&bad, 16).unwrap().is_none());
        // A record naming the area itself as its data chunk.
        let mut bad = img.clone();
        bad[16 * 512 + 8] = 1;
        assert!(Store::find_headerless(&bad, 16).unwrap().is_none());
        // An all-zero COW holds no store.
        assert!(Store::find_headerless(&vec![0u8; 40 * 16 * 512], 16)
            .unwrap()
            .is_none());
    }

    /// A COW image built by hand from the spec's layout rules.
    fn cow(cs: u64, chunks: u64, records: &[(u64, u64)], valid: u32) -> Vec<u8> {
        let b = (cs * 512) as usize;
        let mut img = vec![0u8; b * chunks as usize];
        img[..b].copy_from_slice(
            &DiskHeader {
                valid,
                version: 1,
                chunk_size: cs as u32,
            }
            .to_chunk(b),
        );
        let e = (b / 16) as u64;
        for (i, &(o, n)) in records.iter().enumerate() {
            let area = i as u64 / e;
            let at = area_location(cs, area) as usize * b + (i as u64 % e) as usize * 16;
            LE::write_u64(&mut img[at..], o);
            LE::write_u64(&mut img[at + 8..], n);
        }
        img
    }

    fn load(img: &[u8], cs: u64) -> Result<Store, StoreError> {
        Store::load(img, cs)
    }

    #[test]
    fn fresh_store_status() {
        let s = load(&cow(8, 100, &[], 1), 8).unwrap();
        assert_eq!(s.usage(), (16, 800, 16));
    }

    #[test]
    fn full_area_moves_on_and_skips_metadata() {
        // 256 exceptions fill area 0 (data chunks 2..257); the spec's example
        // gives status 2072/total 24.
        let recs: Vec<(u64, u64)> = (0..256).map(|i| (i * 3, 2 + i)).collect();
        let s = load(&cow(8, 600, &recs, 1), 8).unwrap();
        assert_eq!((s.record_count, s.records().len()), (256, 256));
        assert_eq!(s.current_area, 1);
        assert_eq!(s.next_free, 259);
        assert_eq!(s.usage(), (2072, 4800, 24));
        assert_eq!(s.map.get(&(5 * 3)), Some(7));
    }

    #[test]
    fn first_record_wins_and_invalid_stores_load_no_exceptions() {
        let s = load(&cow(8, 50, &[(4, 2), (4, 3)], 1), 8).unwrap();
        assert_eq!(s.map.get(&4), Some(2));
        let s = load(&cow(8, 50, &[(4, 2)], 0), 8).unwrap();
        assert!(s.records().is_empty() && !s.header.is_valid());
    }

    #[test]
    fn forensic_load_reads_an_invalid_store_to_the_cow_end() {
        // Area 0 full and no room for area 1: the kernel refuses it; the
        // forensic load keeps the 256 records and ends at the COW's end.
        let recs: Vec<(u64, u64)> = (0..256).map(|i| (i, 2 + i)).collect();
        let img = cow(8, 258, &recs, 0);
        let s = Store::load_forensic(img.as_slice(), 8).unwrap();
        assert!(!s.header.is_valid());
        assert_eq!((s.records().len(), s.map.get(&7)), (256, Some(9)));
    }

    #[test]
    fn chunks_over_512k_are_refused_before_anything_is_allocated() {
        // A header claiming 2^21-sector (1 GiB) chunks on a tiny COW.
        let mut img = cow(8, 4, &[], 1);
        img[12..16].copy_from_slice(&(1u32 << 21).to_le_bytes());
        assert!(matches!(
            load(&img, 8),
            Err(StoreError::ChunkTooLarge(c)) if c == 1 << 21
        ));
        img[12..16].copy_from_slice(&(MAX_CHUNK_SECTORS as u32).to_le_bytes());
        assert!(matches!(load(&img, 8), Err(StoreError::AreaPastEnd { .. })));
        // A new store takes the table's chunk size, which is capped too.
        let fresh = vec![0u8; 4096];
        assert!(matches!(
            load(&fresh, 2048),
            Err(StoreError::ChunkTooLarge(2048))
        ));
    }

    #[test]
    fn a_record_past_the_cow_end_is_refused() {
        // Fuzz (exception_store, crash-8fdb0115…): a record (0, u64::MAX)
        // made next_free u64::MAX and the engine's allocation overflowed;
        // the same input had records pointing at chunk 1000 of a 21-chunk
        // COW.
        for new in [u64::MAX, 1000, 21] {
            let err = load(&cow(8, 21, &[(0, new), (2, 3)], 1), 8).unwrap_err();
            assert!(
                matches!(
                    err,
                    StoreError::ExceptionPastEnd {
                        area: 0,
                        index: 0,
                        chunks: 21,
                        new_chunk,
                        offset: 4096,
                    } if new_chunk == new
                ),
                "{err}"
            );
        }
        // The last chunk is still inside.
        assert!(load(&cow(8, 21, &[(0, 20)], 1), 8).is_ok());
    }

    #[test]
    fn the_readers_size_bounds_the_store_and_its_errors_are_kept() {
        // The same bytes seen as a shorter device: area 1 no longer fits.
        struct Short<'a>(&'a [u8], Option<u64>);
        impl ReadAt for Short<'_> {
            fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
                self.0.read_exact_at(buf, offset)
            }
            fn size(&self) -> io::Result<u64> {
                self.1.ok_or_else(|| io::Error::from_raw_os_error(5))
            }
        }
        let recs: Vec<(u64, u64)> = (0..256).map(|i| (i, 2 + i)).collect();
        let img = cow(8, 259, &recs, 1);
        assert_eq!(load(&img, 8).unwrap().record_count, 256);
        let short = Short(&img, Some(258 * 4096));
        assert!(matches!(
            Store::load(&short, 8),
            Err(StoreError::AreaPastEnd { chunks: 258, .. })
        ));
        let e = Store::load(&Short(&img, None), 8).unwrap_err();
        assert!(
            matches!(&e, StoreError::Io { offset: 0, source } if source.raw_os_error() == Some(5)),
            "{e}"
        );
    }

    #[test]
    fn a_full_last_area_needs_the_next_area_inside_the_cow() {
        let recs: Vec<(u64, u64)> = (0..256).map(|i| (i, 2 + i)).collect();
        assert!(matches!(
            load(&cow(8, 258, &recs, 1), 8),
            Err(StoreError::AreaPastEnd { .. })
        ));
    }
}
