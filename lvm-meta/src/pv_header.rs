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

/// Where each part of a PV header was found, relative to the header start
/// (for `pvck --dump headers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PvHeaderLayout {
    /// Offset of each data-area entry and of its terminator.
    pub data_area_offsets: Vec<usize>,
    /// Offset of each metadata-area entry and of its terminator.
    pub metadata_area_offsets: Vec<usize>,
    /// Offset of the extension, if it fit.
    pub extension_offset: Option<usize>,
}

fn read_locn(b: &[u8], at: usize) -> Option<DiskLocn> {
    let e = b.get(at..at.checked_add(DISK_LOCN_SIZE)?)?;
    Some(DiskLocn {
        offset: LE::read_u64(&e[0..8]),
        size: LE::read_u64(&e[8..16]),
    })
}

/// Reads a list of `disk_locn` starting at `at`, ending at the first entry
/// whose offset is 0. Returns the entries and the offset after the terminator.
fn read_list(
    b: &[u8],
    mut at: usize,
    base: u64,
    name: &str,
) -> Result<(Vec<DiskLocn>, Vec<usize>, usize), Corruption> {
    let mut v = Vec::new();
    let mut offs = Vec::new();
    loop {
        let Some(l) = read_locn(b, at) else {
            return Err(Corruption::BadValue {
                field: format!("pv_header.{name}"),
                found: format!(
                    "no terminating entry before byte {}",
                    base.saturating_add(b.len() as u64)
                ),
                reason: "the list runs past the end of the label sector".into(),
            });
        };
        offs.push(at);
        at += DISK_LOCN_SIZE;
        if l.offset == 0 {
            return Ok((v, offs, at));
        }
        v.push(l);
    }
}

impl PvHeader {
    /// Parses a PV header from `b` (the label sector from the header's start
    /// to the sector's end). `base` is `b`'s absolute offset.
    pub fn parse(b: &[u8], base: u64) -> Result<PvHeader, Corruption> {
        Self::parse_with_layout(b, base).map(|(h, _)| h)
    }

    /// Like [`PvHeader::parse`], also returning where each part sits.
    pub fn parse_with_layout(
        b: &[u8],
        base: u64,
    ) -> Result<(PvHeader, PvHeaderLayout), Corruption> {
        if b.len() < OFF_DISK_AREAS {
            return Err(Corruption::Truncated {
                needed: OFF_DISK_AREAS as u64,
                available: b.len() as u64,
            });
        }
        let mut uuid = [0u8; 32];
        uuid.copy_from_slice(&b[OFF_PV_UUID..OFF_PV_UUID + 32]);
        let device_size = LE::read_u64(&b[OFF_DEVICE_SIZE..]);
        let (data_areas, data_area_offsets, after) =
            read_list(b, OFF_DISK_AREAS, base, "data areas")?;
        let (metadata_areas, metadata_area_offsets, after) =
            read_list(b, after, base, "metadata areas")?;
        let mut extension = None;
        let mut extension_offset = None;
        if let Some(fixed) = b.get(after..after + 8) {
            extension_offset = Some(after);
            let version = LE::read_u32(&fixed[0..4]);
            let flags = LE::read_u32(&fixed[4..8]);
            if version != 0 {
                // lvm2 reads the bootloader list only if it fits; a list that
                // runs off the sector is treated as empty past what fits.
                let mut bootloader_areas = Vec::new();
                let mut at = after + 8;
                while let Some(l) = read_locn(b, at) {
                    if l.offset == 0 {
                        break;
                    }
                    bootloader_areas.push(l);
                    at += DISK_LOCN_SIZE;
                }
                extension = Some(PvHeaderExtension {
                    version,
                    flags,
                    bootloader_areas,
                });
            }
        }
        if metadata_areas.len() > 2 {
            return Err(Corruption::BadValue {
                field: "pv_header.metadata areas".into(),
                found: metadata_areas.len().to_string(),
                reason: "lvm2 allows at most 2 metadata areas per PV".into(),
            });
        }
        Ok((
            PvHeader {
                uuid,
                device_size,
                data_areas,
                metadata_areas,
                extension,
            },
            PvHeaderLayout {
                data_area_offsets,
                metadata_area_offsets,
                extension_offset,
            },
        ))
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
}
