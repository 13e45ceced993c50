//! The label sector: `label_header` (lvm2 `lib/label/label.h`) followed by
//! the PV header (see [`crate::pv_header`]). lvm2 looks for it in sectors
//! 0..3 of a device and writes it to sector 1 by default.

use crate::crc::lvm_crc;
use crate::error::{Corruption, Error, Result, Structure};
use crate::io::Image;
use crate::pv_header::PvHeader;
use byteorder::{ByteOrder, LittleEndian as LE};

/// Size of a sector; lvm2 fixes it at 512 bytes whatever the device says.
pub const SECTOR_SIZE: u64 = 512;
/// The label may sit in any of the first `LABEL_SCAN_SECTORS` sectors.
pub const LABEL_SCAN_SECTORS: u64 = 4;
/// `id`: the label's magic.
pub const LABEL_ID: &[u8; 8] = b"LABELONE";
/// `type`: the only label type lvm2 2.03 writes.
pub const LVM2_LABEL: &[u8; 8] = b"LVM2 001";
/// Offset of `id` (8 bytes).
pub const OFF_ID: usize = 0x00;
/// Offset of `sector_xl` (u64): the sector this label claims to be in.
pub const OFF_SECTOR: usize = 0x08;
/// Offset of `crc_xl` (u32): LVM CRC of bytes 0x14..0x200.
pub const OFF_CRC: usize = 0x10;
/// Offset of `offset_xl` (u32): where the PV header starts (always 32).
pub const OFF_OFFSET: usize = 0x14;
/// Offset of `type` (8 bytes).
pub const OFF_TYPE: usize = 0x18;
/// Size of `label_header`.
pub const LABEL_HEADER_SIZE: usize = 32;

/// `label_header` as stored: every field decoded, nothing checked (for
/// `pvck`, which prints the fields and then judges them itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawLabelHeader {
    /// `id`: [`LABEL_ID`] on a label.
    pub id: [u8; 8],
    /// `sector_xl`: the sector the label claims to be in.
    pub sector_xl: u64,
    /// `crc_xl`: the stored checksum of bytes `OFF_OFFSET..512`.
    pub crc_xl: u32,
    /// `offset_xl`: where the PV header starts in the sector.
    pub offset_xl: u32,
    /// `type`: [`LVM2_LABEL`] on an lvm2 label.
    pub label_type: [u8; 8],
    /// The LVM CRC computed over bytes `OFF_OFFSET..512` of the sector.
    pub computed_crc: u32,
}

impl RawLabelHeader {
    /// Decodes the header at the start of a 512-byte sector.
    pub fn decode(sector_bytes: &[u8; 512]) -> RawLabelHeader {
        let mut id = [0u8; 8];
        id.copy_from_slice(&sector_bytes[OFF_ID..OFF_ID + 8]);
        let mut label_type = [0u8; 8];
        label_type.copy_from_slice(&sector_bytes[OFF_TYPE..OFF_TYPE + 8]);
        RawLabelHeader {
            id,
            sector_xl: LE::read_u64(&sector_bytes[OFF_SECTOR..]),
            crc_xl: LE::read_u32(&sector_bytes[OFF_CRC..]),
            offset_xl: LE::read_u32(&sector_bytes[OFF_OFFSET..]),
            label_type,
            computed_crc: lvm_crc(&sector_bytes[OFF_OFFSET..]),
        }
    }
}

/// A parsed label sector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// Sector index (0..3) where the label was found (`sector_xl`).
    pub sector: u64,
    /// Stored checksum (`crc_xl`).
    pub crc: u32,
    /// Offset of the PV header within the sector (`offset_xl`).
    pub offset: u32,
    /// The label type (`type`), normally `LVM2 001`.
    pub label_type: [u8; 8],
    /// The PV header that follows.
    pub pv_header: PvHeader,
}

impl Label {
    /// Parses a 512-byte sector read from sector index `sector`. `base` is
    /// the sector's absolute byte offset (for messages). Returns `Ok(None)`
    /// when the sector does not start with `LABELONE`.
    pub fn parse(
        sector_bytes: &[u8; 512],
        sector: u64,
        base: u64,
    ) -> Result<Option<Label>, Corruption> {
        if &sector_bytes[OFF_ID..OFF_ID + 8] != LABEL_ID {
            return Ok(None);
        }
        let raw = RawLabelHeader::decode(sector_bytes);
        if raw.sector_xl != sector {
            return Err(Corruption::BadValue {
                field: "label_header.sector_xl".into(),
                found: raw.sector_xl.to_string(),
                reason: format!("the label was found in sector {sector}"),
            });
        }
        if raw.crc_xl != raw.computed_crc {
            return Err(Corruption::Checksum {
                what: "label",
                stored: raw.crc_xl,
                computed: raw.computed_crc,
                start: base.saturating_add(OFF_OFFSET as u64),
                end: base.saturating_add(511),
            });
        }
        let RawLabelHeader {
            crc_xl: crc,
            offset_xl: offset,
            label_type,
            ..
        } = raw;
        if &label_type != LVM2_LABEL {
            return Err(Corruption::BadMagic {
                field: "label_header.type",
                found: printable(&label_type),
                expected: "\"LVM2 001\"".into(),
            });
        }
        // lvm2 accepts offset_xl up to 512 - 40; anything else leaves no room
        // for the PV header.
        if offset < LABEL_HEADER_SIZE as u32 || offset > 512 - 40 {
            return Err(Corruption::BadValue {
                field: "label_header.offset_xl".into(),
                found: offset.to_string(),
                reason: "the PV header must start between bytes 32 and 472".into(),
            });
        }
        let pv_header = PvHeader::parse(
            &sector_bytes[offset as usize..],
            base.saturating_add(u64::from(offset)),
        )?;
        Ok(Some(Label {
            sector,
            crc,
            offset,
            label_type,
            pv_header,
        }))
    }

    /// Renders the label as the 512-byte sector lvm2 writes: zero-filled,
    /// header fields, PV header, and the CRC computed last.
    pub fn to_sector(&self) -> [u8; 512] {
        let mut s = [0u8; 512];
        s[OFF_ID..OFF_ID + 8].copy_from_slice(LABEL_ID);
        LE::write_u64(&mut s[OFF_SECTOR..], self.sector);
        LE::write_u32(&mut s[OFF_OFFSET..], self.offset);
        s[OFF_TYPE..OFF_TYPE + 8].copy_from_slice(&self.label_type);
        let off = usize::try_from(self.offset)
            .unwrap_or(LABEL_HEADER_SIZE)
            .min(512 - 40);
        self.pv_header.write(&mut s[off..]);
        let crc = lvm_crc(&s[OFF_OFFSET..]);
        LE::write_u32(&mut s[OFF_CRC..], crc);
        s
    }
}

/// The outcome of scanning sectors 0..3 of an image.
#[derive(Debug)]
pub struct LabelScan {
    /// The first valid label.
    pub label: Option<Label>,
    /// Sectors that start with `LABELONE` but are not valid, with why.
    pub rejected: Vec<Error>,
}

/// Scans the first four sectors of `img` like lvm2: the first valid label wins.
pub fn scan(img: &Image) -> Result<LabelScan> {
    let mut out = LabelScan {
        label: None,
        rejected: Vec::new(),
    };
    let avail = img.size.min(LABEL_SCAN_SECTORS * SECTOR_SIZE);
    let whole = avail / SECTOR_SIZE;
    for sector in 0..whole {
        let base = sector * SECTOR_SIZE;
        let mut buf = [0u8; 512];
        img.read_into(base, &mut buf)?;
        match Label::parse(&buf, sector, base) {
            Ok(Some(l)) => {
                if out.label.is_none() {
                    out.label = Some(l);
                }
            }
            Ok(None) => {}
            Err(c) => out
                .rejected
                .push(Error::corrupt(Some(&img.path), Structure::Label, base, c)),
        }
    }
    Ok(out)
}

/// Bytes shown as a quoted string with non-printables escaped.
pub(crate) fn printable(b: &[u8]) -> String {
    let mut s = String::from("\"");
    for &c in b {
        if (0x20..0x7f).contains(&c) && c != b'"' && c != b'\\' {
            s.push(char::from(c));
        } else {
            s.push_str(&format!("\\x{c:02x}"));
        }
    }
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pv_header::{DiskLocn, PvHeaderExtension};

    fn sample() -> Label {
        Label {
            sector: 1,
            crc: 0,
            offset: 32,
            label_type: *LVM2_LABEL,
            pv_header: PvHeader {
                uuid: *b"x3dF8kQwPz7LmNb2VcRt9YhG4sUe6WjK",
                device_size: 0x4000_0000,
                data_areas: vec![DiskLocn {
                    offset: 0x10_0000,
                    size: 0,
                }],
                metadata_areas: vec![DiskLocn {
                    offset: 0x1000,
                    size: 0xF_F000,
                }],
                extension: Some(PvHeaderExtension {
                    version: 2,
                    flags: 1,
                    bootloader_areas: vec![],
                }),
            },
        }
    }

    #[test]
    fn synthetic_label_crc_matches_the_spec_vector() {
        // Spec example 2.6: a 1 GiB PV in a VG; its label CRC is 0x01C1ABCF.
        let s = sample().to_sector();
        assert_eq!(LE::read_u32(&s[OFF_CRC..]), 0x01C1_ABCF);
    }

    #[test]
    fn round_trip_is_byte_identical() {
        let s = sample().to_sector();
        let l = Label::parse(&s, 1, 512).unwrap().unwrap();
        assert_eq!(l.to_sector(), s);
    }

    fn fix_crc(s: &mut [u8; 512]) {
        let c = lvm_crc(&s[OFF_OFFSET..]);
        LE::write_u32(&mut s[OFF_CRC..], c);
    }

    #[test]
    fn wrong_sector_number_is_refused() {
        let mut s = sample().to_sector();
        LE::write_u64(&mut s[OFF_SECTOR..], 2);
        fix_crc(&mut s);
        let e = Label::parse(&s, 1, 512).unwrap_err();
        assert!(
            matches!(e, Corruption::BadValue { ref field, .. } if field == "label_header.sector_xl")
        );
    }

    #[test]
    fn bad_crc_names_the_range() {
        let mut s = sample().to_sector();
        s[0x30] ^= 1;
        let e = Label::parse(&s, 1, 512).unwrap_err();
        assert!(
            matches!(
                e,
                Corruption::Checksum {
                    start: 532,
                    end: 1023,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn bad_type_is_refused() {
        let mut s = sample().to_sector();
        s[OFF_TYPE + 3] = b'9';
        fix_crc(&mut s);
        assert!(matches!(
            Label::parse(&s, 1, 512).unwrap_err(),
            Corruption::BadMagic { .. }
        ));
    }

    #[test]
    fn bad_offset_is_refused() {
        let mut s = sample().to_sector();
        LE::write_u32(&mut s[OFF_OFFSET..], 500);
        fix_crc(&mut s);
        assert!(matches!(
            Label::parse(&s, 1, 512).unwrap_err(),
            Corruption::BadValue { .. }
        ));
    }

    #[test]
    fn no_magic_is_not_a_label() {
        assert_eq!(Label::parse(&[0u8; 512], 0, 0).unwrap(), None);
    }

    #[test]
    fn scan_finds_the_label_in_any_of_the_four_sectors_and_tolerates_short_images() {
        for sector in 0..4u64 {
            let mut l = sample();
            l.sector = sector;
            let mut img = vec![0u8; 4096];
            let at = (sector * 512) as usize;
            img[at..at + 512].copy_from_slice(&l.to_sector());
            let r = scan(&Image::from_bytes("t", img)).unwrap();
            assert_eq!(r.label.unwrap().sector, sector);
        }
        let r = scan(&Image::from_bytes("t", vec![0u8; 700])).unwrap();
        assert!(r.label.is_none());
    }

    /// The raw decoder reads a sector lvm2 would refuse, field by field.
    #[test]
    fn raw_decode_does_not_judge() {
        let mut s = sample().to_sector();
        s[OFF_ID] = b'X';
        LE::write_u64(&mut s[OFF_SECTOR..], 9);
        LE::write_u32(&mut s[OFF_OFFSET..], 500);
        let raw = RawLabelHeader::decode(&s);
        assert_eq!(&raw.id, b"XABELONE");
        assert_eq!(raw.sector_xl, 9);
        assert_eq!(raw.offset_xl, 500);
        assert_eq!(&raw.label_type, LVM2_LABEL);
        // The CRC was computed before offset_xl changed; the stored one is
        // kept and the computed one covers the bytes as they are now.
        assert_eq!(raw.crc_xl, LE::read_u32(&s[OFF_CRC..]));
        assert_eq!(raw.computed_crc, lvm_crc(&s[OFF_OFFSET..]));
        assert_ne!(raw.computed_crc, raw.crc_xl);
    }
}
