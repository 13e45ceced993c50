//! `pv_header` and `pv_header_extension` (lvm2 `lib/format_text/layout.h`):
//! the PV UUID, the device size, the data-area and metadata-area lists and
//! the bootloader-area list, all inside the label sector.

use crate::error::Corruption;
use byteorder::{ByteOrder, LittleEndian as LE};

/// Offset of `pv_uuid` (32 ASCII characters, no hyphens, no NUL).
pub const OFF_PV_UUID: usize = 0x00;
/// Offset of `device_size_xl` (u64, bytes).
pub const OFF_DEVICE_SIZE: usize = 0x20;
/// Offset of `disk_areas_xl[]`: data areas, a zero entry, metadata areas, a zero entry.
pub const OFF_DISK_AREAS: usize = 0x28;
/// Size of one `disk_locn` (u64 offset, u64 size).
pub const DISK_LOCN_SIZE: usize = 16;
/// `PV_HEADER_EXTENSION_VSN`: the extension version lvm2 2.03 writes.
pub const PV_HEADER_EXTENSION_VSN: u32 = 2;
/// `PV_EXT_USED`: the PV belongs to a VG.
pub const PV_EXT_USED: u32 = 0x1;

/// `disk_locn`: an area of the device, in bytes. A size of 0 on a data area
/// means "to the end of the device".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskLocn {
    /// Byte offset from the start of the device (`offset`).
    pub offset: u64,
    /// Size in bytes (`size`).
    pub size: u64,
}

/// `pv_header_extension`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PvHeaderExtension {
    /// `version` (2 in lvm2 2.03).
    pub version: u32,
    /// `flags`: bit 0 is `PV_EXT_USED`.
    pub flags: u32,
    /// `bootloader_areas_xl[]`, without the terminator.
    pub bootloader_areas: Vec<DiskLocn>,
}

/// `pv_header`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PvHeader {
    /// `pv_uuid`: 32 raw characters.
    pub uuid: [u8; 32],
    /// `device_size_xl`: device size in bytes when the header was written.
    pub device_size: u64,
    /// Data areas (lvm2 writes exactly one: `{pe_start bytes, 0}`).
    pub data_areas: Vec<DiskLocn>,
    /// Metadata areas (0, 1 or 2); the first is pvck's `mda1`.
    pub metadata_areas: Vec<DiskLocn>,
    /// The extension, absent when its version is 0 or it does not fit.
    pub extension: Option<PvHeaderExtension>,
}

/// A `disk_locn` list as stored: the entries up to the terminator (the
/// first entry whose offset is 0), each at a known place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLocnList {
    /// Offset of the first entry, relative to the PV header's start.
    pub at: usize,
    /// The entries before the terminator.
    pub entries: Vec<DiskLocn>,
    /// The terminator as stored (its size need not be 0), or `None` if the
    /// bytes end before one.
    pub terminator: Option<DiskLocn>,
}

impl RawLocnList {
    /// Reads entries from `at` until a terminator or the end of `b`.
    fn read(b: &[u8], at: usize) -> RawLocnList {
        let mut list = RawLocnList {
            at,
            entries: Vec::new(),
            terminator: None,
        };
        while let Some(l) = read_locn(b, list.entry_at(list.entries.len())) {
            if l.offset == 0 {
                list.terminator = Some(l);
                break;
            }
            list.entries.push(l);
        }
        list
    }

    /// Offset of entry `i` (the terminator is entry `entries.len()`),
    /// relative to the PV header's start.
    pub fn entry_at(&self, i: usize) -> usize {
        self.at.saturating_add(i.saturating_mul(DISK_LOCN_SIZE))
    }

    /// Offset just past the terminator (where the next part starts).
    pub fn end(&self) -> usize {
        self.entry_at(self.entries.len().saturating_add(1))
    }
}

/// `pv_header_extension` as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawPvHeaderExtension {
    /// Offset of the extension, relative to the PV header's start.
    pub at: usize,
    /// `version` (0: no extension).
    pub version: u32,
    /// `flags`.
    pub flags: u32,
    /// `bootloader_areas_xl[]`, read whatever the version.
    pub bootloader_areas: RawLocnList,
}

/// `pv_header` as stored: every field decoded, nothing checked (for
/// `pvck`, which prints the fields and then judges them itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawPvHeader {
    /// `pv_uuid`: 32 raw bytes.
    pub pv_uuid: [u8; 32],
    /// `device_size_xl`.
    pub device_size_xl: u64,
    /// The data-area list.
    pub data_areas: RawLocnList,
    /// The metadata-area list; `None` if the data-area list has no
    /// terminator.
    pub metadata_areas: Option<RawLocnList>,
    /// The extension; `None` if a list has no terminator or fewer than its
    /// 8 fixed bytes remain.
    pub extension: Option<RawPvHeaderExtension>,
}

impl RawPvHeader {
    /// Decodes a PV header from `b` (the label sector from the header's
    /// start to the sector's end). Fails only if `b` is shorter than the
    /// fixed fields.
    pub fn decode(b: &[u8]) -> Result<RawPvHeader, Corruption> {
        if b.len() < OFF_DISK_AREAS {
            return Err(Corruption::Truncated {
                needed: OFF_DISK_AREAS as u64,
                available: b.len() as u64,
            });
        }
        let mut pv_uuid = [0u8; 32];
        pv_uuid.copy_from_slice(&b[OFF_PV_UUID..OFF_PV_UUID + 32]);
        let data_areas = RawLocnList::read(b, OFF_DISK_AREAS);
        let metadata_areas = data_areas
            .terminator
            .map(|_| RawLocnList::read(b, data_areas.end()));
        let extension = metadata_areas
            .as_ref()
            .filter(|m| m.terminator.is_some())
            .and_then(|m| {
                let at = m.end();
                let fixed = b.get(at..at.checked_add(8)?)?;
                Some(RawPvHeaderExtension {
                    at,
                    version: LE::read_u32(&fixed[0..4]),
                    flags: LE::read_u32(&fixed[4..8]),
                    bootloader_areas: RawLocnList::read(b, at.checked_add(8)?),
                })
            });
        Ok(RawPvHeader {
            pv_uuid,
            device_size_xl: LE::read_u64(&b[OFF_DEVICE_SIZE..]),
            data_areas,
            metadata_areas,
            extension,
        })
    }
}

fn read_locn(b: &[u8], at: usize) -> Option<DiskLocn> {
    let e = b.get(at..at.checked_add(DISK_LOCN_SIZE)?)?;
    Some(DiskLocn {
        offset: LE::read_u64(&e[0..8]),
        size: LE::read_u64(&e[8..16]),
    })
}

/// The entries of a list that must have its terminator.
fn terminated(
    list: Option<RawLocnList>,
    b: &[u8],
    base: u64,
    name: &str,
) -> Result<Vec<DiskLocn>, Corruption> {
    match list {
        Some(l) if l.terminator.is_some() => Ok(l.entries),
        _ => Err(Corruption::BadValue {
            field: format!("pv_header.{name}"),
            found: format!(
                "no terminating entry before byte {}",
                base.saturating_add(b.len() as u64)
            ),
            reason: "the list runs past the end of the label sector".into(),
        }),
    }
}

impl PvHeader {
    /// Parses a PV header from `b` (the label sector from the header's start
    /// to the sector's end). `base` is `b`'s absolute offset.
    pub fn parse(b: &[u8], base: u64) -> Result<PvHeader, Corruption> {
        let raw = RawPvHeader::decode(b)?;
        let data_areas = terminated(Some(raw.data_areas), b, base, "data areas")?;
        let metadata_areas = terminated(raw.metadata_areas, b, base, "metadata areas")?;
        // lvm2 reads the bootloader list only if it fits; a list that runs
        // off the sector is treated as empty past what fits.
        let extension = raw
            .extension
            .filter(|e| e.version != 0)
            .map(|e| PvHeaderExtension {
                version: e.version,
                flags: e.flags,
                bootloader_areas: e.bootloader_areas.entries,
            });
        if metadata_areas.len() > 2 {
            return Err(Corruption::BadValue {
                field: "pv_header.metadata areas".into(),
                found: metadata_areas.len().to_string(),
                reason: "lvm2 allows at most 2 metadata areas per PV".into(),
            });
        }
        Ok(PvHeader {
            uuid: raw.pv_uuid,
            device_size: raw.device_size_xl,
            data_areas,
            metadata_areas,
            extension,
        })
    }

    /// Writes the header into `out` (the label sector from the header start),
    /// which must be zero-filled. Lists that do not fit are cut.
    pub fn write(&self, out: &mut [u8]) {
        let mut put = |at: usize, l: DiskLocn| -> bool {
            match out.get_mut(at..at + DISK_LOCN_SIZE) {
                Some(e) => {
                    LE::write_u64(&mut e[0..8], l.offset);
                    LE::write_u64(&mut e[8..16], l.size);
                    true
                }
                None => false,
            }
        };
        let zero = DiskLocn { offset: 0, size: 0 };
        let mut at = OFF_DISK_AREAS;
        for list in [&self.data_areas, &self.metadata_areas] {
            for l in list.iter() {
                put(at, *l);
                at += DISK_LOCN_SIZE;
            }
            put(at, zero);
            at += DISK_LOCN_SIZE;
        }
        if let Some(ext) = &self.extension {
            if let Some(fixed) = out.get_mut(at..at + 8) {
                LE::write_u32(&mut fixed[0..4], ext.version);
                LE::write_u32(&mut fixed[4..8], ext.flags);
            }
            let mut b = at + 8;
            let mut put2 = |b: usize, l: DiskLocn| {
                if let Some(e) = out.get_mut(b..b + DISK_LOCN_SIZE) {
                    LE::write_u64(&mut e[0..8], l.offset);
                    LE::write_u64(&mut e[8..16], l.size);
                }
            };
            for l in &ext.bootloader_areas {
                put2(b, *l);
                b += DISK_LOCN_SIZE;
            }
        }
        if let Some(u) = out.get_mut(OFF_PV_UUID..OFF_PV_UUID + 32) {
            u.copy_from_slice(&self.uuid);
        }
        if let Some(d) = out.get_mut(OFF_DEVICE_SIZE..OFF_DEVICE_SIZE + 8) {
            LE::write_u64(d, self.device_size);
        }
    }

    /// The UUID in lvm2's hyphenated 6-4-4-4-4-4-6 form.
    pub fn uuid_string(&self) -> String {
        crate::uuid::format_uuid(&self.uuid)
    }

    /// `pe_start` in bytes from the first data area, if any.
    pub fn pe_start_bytes(&self) -> Option<u64> {
        self.data_areas.first().map(|d| d.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_without_terminator_is_refused() {
        let mut b = vec![0u8; 480];
        for at in (OFF_DISK_AREAS..480 - 15).step_by(16) {
            LE::write_u64(&mut b[at..], 4096);
        }
        assert!(matches!(
            PvHeader::parse(&b, 544),
            Err(Corruption::BadValue { .. })
        ));
    }

    #[test]
    fn no_extension_when_version_is_zero() {
        let mut b = vec![0u8; 480];
        LE::write_u64(&mut b[OFF_DISK_AREAS..], 0x30000);
        LE::write_u64(&mut b[OFF_DISK_AREAS + 32..], 0x1000);
        LE::write_u64(&mut b[OFF_DISK_AREAS + 40..], 0x2F000);
        let h = PvHeader::parse(&b, 544).unwrap();
        assert_eq!(
            h.data_areas,
            vec![DiskLocn {
                offset: 0x30000,
                size: 0
            }]
        );
        assert_eq!(
            h.metadata_areas,
            vec![DiskLocn {
                offset: 0x1000,
                size: 0x2F000
            }]
        );
        assert_eq!(h.extension, None);
    }

    /// The raw decoder keeps what the validating parser refuses: a list
    /// with no terminator, a terminator with a size, a bootloader list
    /// behind a zero version.
    #[test]
    fn raw_decode_keeps_everything() {
        let mut b = vec![0u8; 480];
        for at in (OFF_DISK_AREAS..480 - 15).step_by(16) {
            LE::write_u64(&mut b[at..], 4096);
        }
        let raw = RawPvHeader::decode(&b).unwrap();
        assert_eq!(raw.data_areas.entries.len(), (480 - OFF_DISK_AREAS) / 16);
        assert_eq!(raw.data_areas.terminator, None);
        assert_eq!(raw.metadata_areas, None);
        assert_eq!(raw.extension, None);

        let mut b = vec![0u8; 480];
        b[..32].copy_from_slice(b"not-a-uuid-at-all-but-32-bytes!!");
        LE::write_u64(&mut b[OFF_DEVICE_SIZE..], 7);
        LE::write_u64(&mut b[0x28..], 0x10_0000); // data area
        LE::write_u64(&mut b[0x40..], 9); // size of the data terminator
        LE::write_u64(&mut b[0x48..], 0x1000); // mda 1
        LE::write_u64(&mut b[0x50..], 0xF_F000);
        // mda terminator at 0x58; extension at 0x68, version 0, one
        // bootloader area at 0x70, its terminator at 0x80.
        LE::write_u64(&mut b[0x70..], 0x20_0000);
        LE::write_u64(&mut b[0x78..], 0x1000);
        let raw = RawPvHeader::decode(&b).unwrap();
        assert_eq!(&raw.pv_uuid, b"not-a-uuid-at-all-but-32-bytes!!");
        assert_eq!(raw.device_size_xl, 7);
        assert_eq!(raw.data_areas.at, 0x28);
        assert_eq!(
            raw.data_areas.terminator,
            Some(DiskLocn { offset: 0, size: 9 })
        );
        let m = raw.metadata_areas.as_ref().unwrap();
        assert_eq!(
            (m.at, m.entries.len(), m.entry_at(1), m.end()),
            (0x48, 1, 0x58, 0x68)
        );
        let e = raw.extension.as_ref().unwrap();
        assert_eq!((e.at, e.version, e.flags), (0x68, 0, 0));
        assert_eq!(e.bootloader_areas.at, 0x70);
        assert_eq!(
            e.bootloader_areas.entries,
            vec![DiskLocn {
                offset: 0x20_0000,
                size: 0x1000
            }]
        );
        // The validating parser drops a version-0 extension.
        assert_eq!(PvHeader::parse(&b, 544).unwrap().extension, None);
        assert!(matches!(
            RawPvHeader::decode(&b[..0x20]),
            Err(Corruption::Truncated {
                needed: 0x28,
                available: 0x20
            })
        ));
    }
}
