//! Where `pvcreate` puts things on a new PV: the first data extent
//! (`pe_start`) and one or two metadata areas, computed as lvm2 2.03 does
//! (`pv_create`, `_text_pv_initialise`, `set_pe_align` and
//! `_text_pv_add_metadata_area` in `lib/metadata/metadata.c` and
//! `lib/format_text/format-text.c`), and the bytes `pvcreate` writes.
//!
//! On an image there is no device topology, so the data alignment is the
//! requested one or lvm2's default of 1 MiB. The default metadata area size
//! is 2040 sectors (1 MiB less one 4 KiB page), which puts `pe_start` at
//! 1 MiB. The first area starts at 4096 (the label scan size rounded up to
//! the page size) and grows to reach the next alignment boundary; the data
//! area starts where it ends. A second area sits at the end of the device,
//! its start moved down to an alignment boundary.

use crate::label::{Label, LVM2_LABEL, SECTOR_SIZE};
use crate::mda_header::MdaHeader;
use crate::pv_header::{DiskLocn, PvHeader, PvHeaderExtension, PV_HEADER_EXTENSION_VSN};

/// The page size lvm2 assumes on x86_64.
pub const PAGE_SIZE: u64 = 4096;
/// Where lvm2 starts looking for a label: the first 4 sectors.
pub const LABEL_SCAN_SIZE: u64 = 2048;
/// lvm2's default metadata area size in sectors for a 4 KiB page.
pub const DEFAULT_MDA_SECTORS: u64 = 2040;
/// lvm2's default data alignment in sectors (1 MiB).
pub const DEFAULT_ALIGN_SECTORS: u64 = 2048;
/// The smallest metadata area lvm2 creates (8 pages).
pub const MDA_SIZE_MIN: u64 = 8 * PAGE_SIZE;
/// `devices/pv_min_size` default: 2 MiB.
pub const PV_MIN_SIZE: u64 = 2048 * 1024;
/// How much of a new metadata area lvm2 zeroes (8 sectors).
pub const MDA_WIPE_SIZE: u64 = 8 * SECTOR_SIZE;

/// What `pvcreate` was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PvCreateArgs {
    /// Device size in bytes.
    pub size: u64,
    /// `--metadatacopies` (0, 1 or 2).
    pub metadatacopies: u32,
    /// `--metadatasize` in sectors; `None` for lvm2's default.
    pub metadatasize: Option<u64>,
    /// `--dataalignment` in sectors; `None` for lvm2's default.
    pub data_alignment: Option<u64>,
}

/// The computed layout, in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PvLayout {
    /// Device size.
    pub size: u64,
    /// First byte of the data area.
    pub pe_start: u64,
    /// Metadata areas: start and size.
    pub mdas: Vec<(u64, u64)>,
}

/// Why a layout cannot be made; the messages are lvm2's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutError {
    /// The device is smaller than `pv_min_size`.
    TooSmall,
    /// The data alignment is larger than the device.
    AlignmentTooLarge,
    /// No room for metadata area `index`.
    NoRoomForMda(u32),
    /// The metadata area would be smaller than [`MDA_SIZE_MIN`].
    MdaTooSmall(u64),
    /// More than two metadata copies.
    TooManyCopies(u32),
}

impl std::fmt::Display for LayoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LayoutError::TooSmall => write!(f, "device is too small (pv_min_size)"),
            LayoutError::AlignmentTooLarge => {
                write!(f, "Data alignment must not exceed device size.")
            }
            LayoutError::NoRoomForMda(i) => {
                write!(
                    f,
                    "Not enough space available for metadata area with index {i}"
                )
            }
            LayoutError::MdaTooSmall(s) => write!(
                f,
                "Metadata area size too small: {s} bytes. It must be at least {MDA_SIZE_MIN} bytes."
            ),
            LayoutError::TooManyCopies(n) => {
                write!(f, "Metadatacopies may only be 0, 1 or 2 (not {n})")
            }
        }
    }
}

impl std::error::Error for LayoutError {}

/// Computes where `pvcreate` puts the data area and the metadata areas.
pub fn layout(a: &PvCreateArgs) -> Result<PvLayout, LayoutError> {
    if a.metadatacopies > 2 {
        return Err(LayoutError::TooManyCopies(a.metadatacopies));
    }
    let disk = a.size / SECTOR_SIZE * SECTOR_SIZE;
    if disk < PV_MIN_SIZE {
        return Err(LayoutError::TooSmall);
    }
    let align = a.data_alignment.unwrap_or(DEFAULT_ALIGN_SECTORS).max(1) * SECTOR_SIZE;
    let align = if a.data_alignment.is_none() {
        align.max(PAGE_SIZE)
    } else {
        align
    };
    if disk < align {
        return Err(LayoutError::AlignmentTooLarge);
    }
    let requested = a.metadatasize.unwrap_or(DEFAULT_MDA_SECTORS) * SECTOR_SIZE;
    let mut pe_start = align;
    let mut mdas = Vec::new();
    if a.metadatacopies >= 1 {
        // The first area: pe_start is not locked, so the limit is the disk.
        let limit = disk;
        let mut start = LABEL_SCAN_SIZE;
        if limit - start >= MDA_SIZE_MIN {
            start = start.div_ceil(PAGE_SIZE) * PAGE_SIZE;
        }
        let mut size = requested;
        let adj = (start + size) % align;
        if adj != 0 && start + size + align - adj <= limit {
            size += align - adj;
        }
        if start + size > limit {
            if limit - start > align * 2 {
                size = limit - start - align * 2;
                let adj = (start + size) % align;
                if adj != 0 {
                    size += align - adj;
                }
                if start + size > limit {
                    return Err(LayoutError::NoRoomForMda(0));
                }
            } else {
                size = limit - start;
            }
        }
        check_mda_size(size)?;
        pe_start = start + size;
        mdas.push((start, size));
    }
    if a.metadatacopies >= 2 {
        // The second area: limited by pe_start (no extents allocated yet).
        let limit = pe_start;
        if limit >= disk {
            return Err(LayoutError::NoRoomForMda(1));
        }
        let mut size = requested;
        if size > disk {
            size = disk - limit;
        }
        let mut start = disk - size;
        if disk - size < limit {
            size = disk - limit;
            start = disk - size;
        } else {
            let adj = start % align;
            if adj != 0 && size + adj < disk && disk - (size + adj) >= limit {
                size += adj;
                start = disk - size;
            }
        }
        check_mda_size(size)?;
        mdas.push((start, size));
    }
    Ok(PvLayout {
        size: a.size,
        pe_start,
        mdas,
    })
}

fn check_mda_size(size: u64) -> Result<(), LayoutError> {
    if size != 0 && size < MDA_SIZE_MIN {
        return Err(LayoutError::MdaTooSmall(size));
    }
    Ok(())
}

impl PvLayout {
    /// The label sector (sector 1) of this PV: label header, PV header
    /// with the data area, the metadata areas and the version 2 extension
    /// (`in_vg` sets the "used" flag lvm2 sets while the PV is in a VG).
    pub fn label_sector(&self, uuid: [u8; 32], in_vg: bool) -> [u8; 512] {
        let label = Label {
            sector: 1,
            crc: 0,
            offset: 32,
            label_type: *LVM2_LABEL,
            pv_header: PvHeader {
                uuid,
                device_size: self.size,
                data_areas: vec![DiskLocn {
                    offset: self.pe_start,
                    size: 0,
                }],
                metadata_areas: self
                    .mdas
                    .iter()
                    .map(|&(offset, size)| DiskLocn { offset, size })
                    .collect(),
                extension: Some(PvHeaderExtension {
                    version: PV_HEADER_EXTENSION_VSN,
                    flags: u32::from(in_vg),
                    bootloader_areas: Vec::new(),
                }),
            },
        };
        label.to_sector()
    }

    /// Every write `pvcreate` makes, in lvm2's order: the label sectors
    /// cleared, each metadata area's first 4 KiB zeroed and its empty
    /// header written, then the label.
    pub fn pvcreate_writes(&self, uuid: [u8; 32]) -> Vec<(u64, Vec<u8>, &'static str)> {
        let mut w = vec![(0, vec![0u8; LABEL_SCAN_SIZE as usize], "label wipe")];
        for &(start, size) in &self.mdas {
            w.push((
                start,
                vec![0u8; size.min(MDA_WIPE_SIZE) as usize],
                "mda wipe",
            ));
        }
        for &(start, size) in &self.mdas {
            let h = MdaHeader::new_empty(start, size);
            w.push((start, h.encode().to_vec(), "mda header"));
        }
        w.push((
            SECTOR_SIZE,
            self.label_sector(uuid, false).to_vec(),
            "label",
        ));
        w
    }

    /// Extents of `extent` sectors that fit between `pe_start` and the end
    /// (or the second metadata area), as `vgcreate` counts them.
    pub fn pe_count(&self, extent: u64) -> u64 {
        pe_count(self.size, self.pe_start, &self.mdas, extent)
    }
}

/// `_text_pv_setup`: extents of `extent_sectors` between `pe_start` and the
/// device end, less the size of a second metadata area.
pub fn pe_count(size: u64, pe_start: u64, mdas: &[(u64, u64)], extent_sectors: u64) -> u64 {
    let reduction = mdas.get(1).map_or(0, |m| m.1);
    let usable = (size / SECTOR_SIZE)
        .saturating_sub(pe_start / SECTOR_SIZE)
        .saturating_sub(reduction / SECTOR_SIZE);
    usable.checked_div(extent_sectors).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lay(size: u64, copies: u32, mda: Option<u64>, align: Option<u64>) -> PvLayout {
        layout(&PvCreateArgs {
            size,
            metadatacopies: copies,
            metadatasize: mda,
            data_alignment: align,
        })
        .unwrap()
    }

    // Every expected value below is what lvm2 2.03.16's pvcreate wrote on a
    // loop device of that size (pvck --dump headers).
    #[test]
    fn lvm2_layouts() {
        let m = 1 << 20;
        let l = lay(64 * m, 1, None, None);
        assert_eq!((l.pe_start, l.mdas.clone()), (m, vec![(4096, 1_044_480)]));
        let l = lay(64 * m, 2, None, None);
        assert_eq!(
            (l.pe_start, l.mdas.clone()),
            (m, vec![(4096, 1_044_480), (66_060_288, m)])
        );
        let l = lay(64 * m, 0, None, None);
        assert_eq!((l.pe_start, l.mdas.len()), (m, 0));
        let l = lay(64 * m, 1, Some(1024), None);
        assert_eq!((l.pe_start, l.mdas.clone()), (m, vec![(4096, 1_044_480)]));
        let l = lay(64 * m, 1, Some(4096), None);
        assert_eq!(
            (l.pe_start, l.mdas.clone()),
            (3 * m, vec![(4096, 3_141_632)])
        );
        let l = lay(64 * m, 1, None, Some(128));
        assert_eq!((l.pe_start, l.mdas.clone()), (m, vec![(4096, 1_044_480)]));
        let l = lay(64 * m, 1, Some(128), Some(128));
        assert_eq!(
            (l.pe_start, l.mdas.clone()),
            (131_072, vec![(4096, 126_976)])
        );
        let l = lay(64 * m, 2, Some(600), None);
        assert_eq!(
            (l.pe_start, l.mdas.clone()),
            (m, vec![(4096, 1_044_480), (66_060_288, m)])
        );
        assert_eq!(l.pe_count(8192), 15);
        assert_eq!(
            layout(&PvCreateArgs {
                size: m,
                metadatacopies: 1,
                metadatasize: None,
                data_alignment: None
            }),
            Err(LayoutError::TooSmall)
        );
    }
}
