//! The contents of a RAID metadata sub-LV (`_rmeta_N`): the dm-raid
//! superblock device-mapper's `raid` target keeps in its first 4 KiB (array
//! shape, event counter, failed devices, resync and recovery progress,
//! reshape state), and the md write-intent bitmap that follows it at byte
//! 4096 (a 256-byte bitmap superblock, then one bit per region: set while
//! the region's copies or parity may disagree).
//!
//! All fields are little-endian. Offsets in the errors are bytes from the
//! start of the metadata LV.

use std::fmt;

/// The dm-raid superblock's magic, `"DmRd"` as a little-endian u32.
pub const DM_RAID_MAGIC: u32 = 0x6452_6D44;
/// The md bitmap superblock's magic, `"bitm"` as a little-endian u32.
pub const BITMAP_MAGIC: u32 = 0x6D74_6962;
/// The sector value meaning "done" (md's `MaxSector`) in the resync,
/// recovery and reshape offsets.
pub const MAX_SECTOR: u64 = u64::MAX;
/// `compat_features` bit: the fields after `stripe_sectors` are valid.
pub const FEATURE_V190: u32 = 0x1;
/// Where the bitmap starts in the metadata LV.
pub const BITMAP_OFFSET: u64 = 4096;
/// Size of the bitmap superblock; the bits follow it.
pub const BITMAP_SB_BYTES: u64 = 256;
/// Bytes of the dm-raid superblock with the 1.9.0 fields.
pub const SB_BYTES: usize = 148;
/// Bytes of the superblock without them.
pub const SB_BYTES_OLD: usize = 60;
/// Bitmap superblock state bit: the bits are not to be trusted (all
/// regions count as out of sync).
pub const BITMAP_STALE: u32 = 1 << 1;

/// A structure of a metadata LV that failed to decode, where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RmetaError {
    /// `"dm-raid superblock"`, `"bitmap superblock"` or `"bitmap"`.
    pub structure: &'static str,
    /// Byte offset in the metadata LV of the field at fault.
    pub offset: u64,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for RmetaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at byte {}: {}",
            self.structure, self.offset, self.problem
        )
    }
}

impl std::error::Error for RmetaError {}

fn err(structure: &'static str, offset: u64, problem: impl Into<String>) -> RmetaError {
    RmetaError {
        structure,
        offset,
        problem: problem.into(),
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// The fields dm-raid added in its 1.9.0 on-disk format (reshaping, data
/// offsets, up to 256 devices).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaidSuperV190 {
    /// Reshape flags: bit 0 reshape active, bit 1 backwards.
    pub flags: u32,
    /// Progress of an interrupted reshape (sector), [`MAX_SECTOR`] if none.
    pub reshape_position: u64,
    /// md level after the reshape.
    pub new_level: u32,
    /// md layout after the reshape.
    pub new_layout: u32,
    /// Chunk size after the reshape, in sectors.
    pub new_stripe_sectors: u32,
    /// Devices added (positive) or removed by the reshape.
    pub delta_disks: i32,
    /// The array's size in sectors.
    pub array_sectors: u64,
    /// Where the data starts on each data image, in sectors.
    pub data_offset: u64,
    /// Where it starts after an out-of-place reshape.
    pub new_data_offset: u64,
    /// Sectors of each image in use.
    pub sectors: u64,
    /// Incompatible feature bits (none defined).
    pub incompat_features: u32,
}

/// A decoded dm-raid superblock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaidSuper {
    /// Compatible feature bits ([`FEATURE_V190`]).
    pub compat_features: u32,
    /// Number of devices in the array.
    pub num_devices: u32,
    /// This metadata device's position in the array.
    pub array_position: u32,
    /// md's event counter when the superblock was written.
    pub events: u64,
    /// One bit per device position that had failed (256 positions; only the
    /// first 64 without the 1.9.0 fields).
    pub failed_devices: [u64; 4],
    /// How far this device was rebuilt (sector), [`MAX_SECTOR`] when whole.
    pub disk_recovery_offset: u64,
    /// How far the array's initial sync got (sector), [`MAX_SECTOR`] when
    /// done.
    pub array_resync_offset: u64,
    /// md level (0, 1, 4, 5, 6, 10).
    pub level: u32,
    /// md layout number (parity algorithm, raid10 copies).
    pub layout: u32,
    /// Chunk size in sectors.
    pub stripe_sectors: u32,
    /// The 1.9.0 fields, if `compat_features` says they are there.
    pub v190: Option<RaidSuperV190>,
}

impl RaidSuper {
    /// Decodes the superblock at the start of `b` (a metadata LV's first
    /// bytes).
    pub fn decode(b: &[u8]) -> Result<RaidSuper, RmetaError> {
        const S: &str = "dm-raid superblock";
        if b.len() < SB_BYTES_OLD {
            return Err(err(
                S,
                0,
                format!("{} bytes, the superblock needs {SB_BYTES_OLD}", b.len()),
            ));
        }
        let magic = u32_at(b, 0);
        if magic != DM_RAID_MAGIC {
            return Err(err(
                S,
                0,
                format!("magic {magic:#010x}, expected {DM_RAID_MAGIC:#010x} (\"DmRd\")"),
            ));
        }
        let compat_features = u32_at(b, 4);
        let num_devices = u32_at(b, 8);
        if num_devices == 0 || num_devices > 253 {
            return Err(err(
                S,
                8,
                format!("{num_devices} devices (dm-raid takes 1 to 253)"),
            ));
        }
        let array_position = u32_at(b, 12);
        if array_position >= num_devices {
            return Err(err(
                S,
                12,
                format!("position {array_position} in an array of {num_devices} devices"),
            ));
        }
        let mut failed_devices = [u64_at(b, 24), 0, 0, 0];
        let v190 = if compat_features & FEATURE_V190 != 0 {
            if b.len() < SB_BYTES {
                return Err(err(
                    S,
                    SB_BYTES_OLD as u64,
                    format!("{} bytes, the 1.9.0 superblock needs {SB_BYTES}", b.len()),
                ));
            }
            for (i, f) in failed_devices[1..].iter_mut().enumerate() {
                *f = u64_at(b, 120 + 8 * i);
            }
            Some(RaidSuperV190 {
                flags: u32_at(b, 60),
                reshape_position: u64_at(b, 64),
                new_level: u32_at(b, 72),
                new_layout: u32_at(b, 76),
                new_stripe_sectors: u32_at(b, 80),
                delta_disks: u32_at(b, 84) as i32,
                array_sectors: u64_at(b, 88),
                data_offset: u64_at(b, 96),
                new_data_offset: u64_at(b, 104),
                sectors: u64_at(b, 112),
                incompat_features: u32_at(b, 144),
            })
        } else {
            None
        };
        Ok(RaidSuper {
            compat_features,
            num_devices,
            array_position,
            events: u64_at(b, 16),
            failed_devices,
            disk_recovery_offset: u64_at(b, 32),
            array_resync_offset: u64_at(b, 40),
            level: u32_at(b, 48),
            layout: u32_at(b, 52),
            stripe_sectors: u32_at(b, 56),
            v190,
        })
    }

    /// Whether the device at position `i` is marked failed.
    pub fn failed(&self, i: u32) -> bool {
        let (w, bit) = ((i / 64) as usize, i % 64);
        self.failed_devices
            .get(w)
            .is_some_and(|x| x & (1u64 << bit) != 0)
    }

    /// The positions marked failed, in order.
    pub fn failed_list(&self) -> Vec<u32> {
        (0..self.num_devices).filter(|&i| self.failed(i)).collect()
    }

    /// Whether the array's initial sync had finished.
    pub fn resync_done(&self) -> bool {
        self.array_resync_offset == MAX_SECTOR
    }

    /// Whether this device had been rebuilt completely.
    pub fn recovery_done(&self) -> bool {
        self.disk_recovery_offset == MAX_SECTOR
    }
}

/// A decoded md bitmap superblock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BitmapSuper {
    /// Format version (3: host-endian bits, 4: little-endian, 5: clustered).
    pub version: u32,
    /// The array's UUID (all zero under dm-raid).
    pub uuid: [u8; 16],
    /// Event counter when the bitmap was written.
    pub events: u64,
    /// Event counter when a bit was last cleared.
    pub events_cleared: u64,
    /// Sectors covered (of each device for raid1/4/5/6).
    pub sync_size: u64,
    /// State bits ([`BITMAP_STALE`]...).
    pub state: u32,
    /// Bytes per region (bit).
    pub chunksize: u32,
    /// Seconds between bitmap flushes.
    pub daemon_sleep: u32,
    /// Write-behind limit (raid1).
    pub write_behind: u32,
    /// Sectors reserved for the bitmap.
    pub sectors_reserved: u32,
    /// Cluster nodes (0 unless clustered).
    pub nodes: u32,
}

/// The write-intent bitmap: its superblock and which regions are set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bitmap {
    /// The superblock.
    pub sb: BitmapSuper,
    /// Number of regions (bits in use).
    pub regions: u64,
    /// The regions whose bit is set (all of them if the bitmap is stale).
    pub dirty: Vec<u64>,
}

impl Bitmap {
    /// Decodes the bitmap starting at `b[0]` (the metadata LV's byte
    /// [`BITMAP_OFFSET`]); `None` if no bitmap is there (zeroes, as
    /// raid0_meta leaves).
    pub fn decode(b: &[u8]) -> Result<Option<Bitmap>, RmetaError> {
        const S: &str = "bitmap superblock";
        let base = BITMAP_OFFSET;
        if b.len() < BITMAP_SB_BYTES as usize {
            return Err(err(
                S,
                base,
                format!("{} bytes, the superblock needs {BITMAP_SB_BYTES}", b.len()),
            ));
        }
        let magic = u32_at(b, 0);
        if magic == 0 && b[..BITMAP_SB_BYTES as usize].iter().all(|&x| x == 0) {
            return Ok(None);
        }
        if magic != BITMAP_MAGIC {
            return Err(err(
                S,
                base,
                format!("magic {magic:#010x}, expected {BITMAP_MAGIC:#010x} (\"bitm\")"),
            ));
        }
        let version = u32_at(b, 4);
        if !(3..=5).contains(&version) {
            return Err(err(
                S,
                base + 4,
                format!("version {version} (3 to 5 known)"),
            ));
        }
        let chunksize = u32_at(b, 52);
        if chunksize < 512 || !chunksize.is_power_of_two() {
            return Err(err(
                S,
                base + 52,
                format!("region size {chunksize} bytes is not a power of two of 512 or more"),
            ));
        }
        let sb = BitmapSuper {
            version,
            uuid: b[8..24].try_into().expect("16 bytes"),
            events: u64_at(b, 24),
            events_cleared: u64_at(b, 32),
            sync_size: u64_at(b, 40),
            state: u32_at(b, 48),
            chunksize,
            daemon_sleep: u32_at(b, 56),
            write_behind: u32_at(b, 60),
            sectors_reserved: u32_at(b, 64),
            nodes: u32_at(b, 68),
        };
        let per = u64::from(chunksize / 512);
        let regions = sb.sync_size.div_ceil(per);
        let need = BITMAP_SB_BYTES + regions.div_ceil(8);
        if need > b.len() as u64 {
            return Err(err(
                "bitmap",
                base + BITMAP_SB_BYTES,
                format!(
                    "{regions} regions need {} bytes of bits, {} there",
                    regions.div_ceil(8),
                    (b.len() as u64).saturating_sub(BITMAP_SB_BYTES)
                ),
            ));
        }
        let bits = &b[BITMAP_SB_BYTES as usize..need as usize];
        let dirty = if sb.state & BITMAP_STALE != 0 {
            (0..regions).collect()
        } else {
            (0..regions)
                .filter(|&r| bits[(r / 8) as usize] & (1 << (r % 8)) != 0)
                .collect()
        };
        Ok(Some(Bitmap { sb, regions, dirty }))
    }

    /// Sectors per region.
    pub fn region_sectors(&self) -> u64 {
        u64::from(self.sb.chunksize / 512)
    }
}

/// What a metadata LV holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rmeta {
    /// The dm-raid superblock.
    pub sb: RaidSuper,
    /// The write-intent bitmap, if there is one.
    pub bitmap: Option<Bitmap>,
}

impl Rmeta {
    /// Decodes a metadata LV's bytes (at least its first 4 KiB and the
    /// bitmap's bits; a whole `_rmeta_` LV is fine).
    pub fn decode(b: &[u8]) -> Result<Rmeta, RmetaError> {
        let sb = RaidSuper::decode(b)?;
        let bitmap = if sb.level == 0 {
            None
        } else {
            let at = BITMAP_OFFSET as usize;
            if b.len() <= at {
                return Err(err(
                    "bitmap superblock",
                    BITMAP_OFFSET,
                    format!("the metadata ends at byte {}", b.len()),
                ));
            }
            Bitmap::decode(&b[at..])?
        };
        Ok(Rmeta { sb, bitmap })
    }
}

/// The disk log's magic (`dm-log`), `"MiRr"` as a little-endian u32.
pub const MIRROR_LOG_MAGIC: u32 = 0x4D69_5272;
/// Where a mirror log's bits start: its third sector.
pub const MIRROR_LOG_BITS: u64 = 1024;

/// A mirror's disk log (`_mlog`): a 16-byte header (magic, version,
/// region count) and, from byte 1024, one bit per region, set when the
/// region is in sync on every leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorLog {
    /// Format version (2: little-endian bits).
    pub version: u32,
    /// Number of regions.
    pub regions: u64,
    /// The regions whose bit is clear (not known in sync).
    pub out_of_sync: Vec<u64>,
}

impl MirrorLog {
    /// Decodes a disk log from its first bytes.
    pub fn decode(b: &[u8]) -> Result<MirrorLog, RmetaError> {
        const S: &str = "mirror log header";
        if b.len() < 16 {
            return Err(err(S, 0, format!("{} bytes, the header needs 16", b.len())));
        }
        let magic = u32_at(b, 0);
        if magic != MIRROR_LOG_MAGIC {
            return Err(err(
                S,
                0,
                format!("magic {magic:#010x}, expected {MIRROR_LOG_MAGIC:#010x} (\"MiRr\")"),
            ));
        }
        let version = u32_at(b, 4);
        if !(1..=2).contains(&version) {
            return Err(err(S, 4, format!("version {version} (1 or 2 known)")));
        }
        let regions = u64_at(b, 8);
        let have = (b.len() as u64).saturating_sub(MIRROR_LOG_BITS);
        if regions.div_ceil(8) > have {
            return Err(err(
                "mirror log bits",
                MIRROR_LOG_BITS,
                format!(
                    "{regions} regions need {} bytes of bits, {have} there",
                    regions.div_ceil(8)
                ),
            ));
        }
        // No regions need no bits: the log may end before them.
        let bits = b.get(MIRROR_LOG_BITS as usize..).unwrap_or(&[]);
        let out_of_sync = (0..regions)
            .filter(|&r| bits[(r / 8) as usize] & (1 << (r % 8)) == 0)
            .collect();
        Ok(MirrorLog {
            version,
            regions,
            out_of_sync,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A superblock and bitmap as dm-raid lays them out, written field by
    /// field here from the layout the module documents.
    fn image(level: u32, resync: u64, bits: &[u8], state: u32) -> Vec<u8> {
        let mut b = vec![0u8; 8192];
        let put32 =
            |b: &mut Vec<u8>, at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
        let put64 =
            |b: &mut Vec<u8>, at: usize, v: u64| b[at..at + 8].copy_from_slice(&v.to_le_bytes());
        b[0..4].copy_from_slice(b"DmRd");
        put32(&mut b, 4, 1);
        put32(&mut b, 8, 3);
        put32(&mut b, 12, 2);
        put64(&mut b, 16, 9);
        put64(&mut b, 24, 0b10);
        put64(&mut b, 32, MAX_SECTOR);
        put64(&mut b, 40, resync);
        put32(&mut b, 48, level);
        put32(&mut b, 52, 2);
        put32(&mut b, 56, 128);
        put64(&mut b, 64, MAX_SECTOR);
        put32(&mut b, 84, (-1i32) as u32);
        put64(&mut b, 88, 4096);
        put64(&mut b, 112, 2048);
        put64(&mut b, 136, 1 << 7);
        b[4096..4100].copy_from_slice(b"bitm");
        put32(&mut b, 4100, 4);
        put64(&mut b, 4096 + 40, 2048 * 5);
        put32(&mut b, 4096 + 48, state);
        put32(&mut b, 4096 + 52, 1 << 20);
        b[4096 + 256..4096 + 256 + bits.len()].copy_from_slice(bits);
        b
    }

    #[test]
    fn fields_decode_at_their_offsets() {
        let m = Rmeta::decode(&image(5, MAX_SECTOR, &[0b0001_0010], 0)).unwrap();
        assert_eq!(m.sb.num_devices, 3);
        assert_eq!(m.sb.array_position, 2);
        assert_eq!(m.sb.events, 9);
        assert_eq!(m.sb.failed_list(), vec![1]);
        assert!(m.sb.failed(192 + 7));
        assert!(m.sb.resync_done() && m.sb.recovery_done());
        assert_eq!((m.sb.level, m.sb.layout, m.sb.stripe_sectors), (5, 2, 128));
        let v = m.sb.v190.as_ref().unwrap();
        assert_eq!(
            (v.delta_disks, v.array_sectors, v.sectors),
            (-1, 4096, 2048)
        );
        let bm = m.bitmap.unwrap();
        // 10240 sectors in 2048-sector regions: 5 regions, bits 1 and 4.
        assert_eq!((bm.regions, bm.region_sectors()), (5, 2048));
        assert_eq!(bm.dirty, vec![1, 4]);
    }

    #[test]
    fn bits_past_the_last_region_and_stale_bitmaps() {
        let m = Rmeta::decode(&image(1, 100, &[0b1110_0000], 0)).unwrap();
        assert!(!m.sb.resync_done());
        assert!(m.bitmap.unwrap().dirty.is_empty());
        let m = Rmeta::decode(&image(1, 100, &[0], BITMAP_STALE)).unwrap();
        assert_eq!(m.bitmap.unwrap().dirty, vec![0, 1, 2, 3, 4]);
        // raid0_meta keeps no bitmap.
        assert_eq!(Rmeta::decode(&image(0, 0, &[], 0)).unwrap().bitmap, None);
    }

    #[test]
    fn errors_name_the_structure_and_offset() {
        let mut b = image(5, 0, &[], 0);
        b[0] = b'X';
        let e = Rmeta::decode(&b).unwrap_err();
        assert_eq!((e.structure, e.offset), ("dm-raid superblock", 0));
        let mut b = image(5, 0, &[], 0);
        b[12] = 3;
        assert_eq!(Rmeta::decode(&b).unwrap_err().offset, 12);
        let mut b = image(5, 0, &[], 0);
        b[4096 + 52..4096 + 56].copy_from_slice(&1000u32.to_le_bytes());
        let e = Rmeta::decode(&b).unwrap_err();
        assert_eq!((e.structure, e.offset), ("bitmap superblock", 4148));
        let mut b = image(5, 0, &[], 0);
        b[4096 + 40..4096 + 48].copy_from_slice(&u64::MAX.to_le_bytes());
        let e = Rmeta::decode(&b).unwrap_err();
        assert_eq!((e.structure, e.offset), ("bitmap", 4352));
        assert_eq!(
            e.to_string().split(':').next().unwrap(),
            "bitmap at byte 4352"
        );
        let e = Rmeta::decode(&b[..100]).unwrap_err();
        assert_eq!(e.structure, "dm-raid superblock");
    }

    #[test]
    fn mirror_logs_mark_unsynced_regions_by_clear_bits() {
        let mut b = vec![0u8; 2048];
        b[0..4].copy_from_slice(b"rRiM");
        b[4] = 2;
        b[8] = 10;
        b[1024] = 0b1111_0111;
        b[1025] = 0b01;
        let l = MirrorLog::decode(&b).unwrap();
        assert_eq!((l.version, l.regions), (2, 10));
        assert_eq!(l.out_of_sync, vec![3, 9]);
        // A log of no regions that ends before the bits (found by fuzzing).
        b[8] = 0;
        assert_eq!(MirrorLog::decode(&b[..773]).unwrap().regions, 0);
        b[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        let e = MirrorLog::decode(&b).unwrap_err();
        assert_eq!((e.structure, e.offset), ("mirror log bits", 1024));
    }
}
