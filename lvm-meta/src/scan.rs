//! A set of images assembled into PVs and VGs the way lvm2's device scan
//! does (lvm2 `lib/metadata/metadata.c` `_vg_read`, `lib/cache/lvmcache.c`).
//!
//! Every image is scanned for a label; every metadata area's committed copy
//! is read and checked; per VG (by UUID) the copy with the highest seqno
//! wins. Problems are collected, not fatal: a damaged mda is set aside and
//! the others are used, as in lvm2.

use crate::error::{Corruption, Error, NotFound, Result};
use crate::io::Image;
use crate::label::{self, Label};
use crate::mda_header::MdaHeader;
use crate::metadata_area::{read_header, read_slot_text};
use crate::model::Vg;
use crate::pv_header::DiskLocn;
use crate::text;
use crate::uuid::parse_uuid;
use std::sync::Arc;

/// The committed copy read from one metadata area.
#[derive(Debug, Clone)]
pub struct Committed {
    /// The text including the NUL.
    pub text: Arc<Vec<u8>>,
    /// `raw_locn[0]` checksum.
    pub checksum: u32,
    /// The VG built from it (shared with the [`VgInstance`] it wins for).
    pub vg: Arc<Vg>,
    /// The keys lvm2 warns about as duplicates in the text
    /// (see [`Vg::from_text`]), found when it was parsed.
    pub duplicate_keys: Arc<[String]>,
}

impl Committed {
    /// The parsed text, every node in order (unknown keys included),
    /// parsed again from [`Committed::text`] (which parsed once already).
    pub fn tree(&self) -> Result<text::Tree, crate::error::Corruption> {
        text::parse(&self.text)
    }
}

/// One metadata area of a device.
#[derive(Debug)]
pub struct MdaState {
    /// Where the PV header says it is.
    pub locn: DiskLocn,
    /// The decoded header, if it could be read.
    pub header: Option<MdaHeader>,
    /// The committed copy, if there is one and it is valid.
    pub committed: Option<Committed>,
    /// True if the area is ignored (`RAW_LOCN_IGNORED`).
    pub ignored: bool,
}

/// One scanned image.
#[derive(Debug)]
pub struct Device {
    /// The image.
    pub image: Image,
    /// The valid label, if any.
    pub label: Option<Label>,
    /// Its metadata areas.
    pub mdas: Vec<MdaState>,
}

impl Device {
    /// The PV UUID from the label.
    pub fn pv_uuid(&self) -> Option<[u8; 32]> {
        self.label.as_ref().map(|l| l.pv_header.uuid)
    }
}

/// A VG assembled from the devices.
#[derive(Debug)]
pub struct VgInstance {
    /// The authoritative metadata.
    pub vg: Arc<Vg>,
    /// Its text (including the NUL).
    pub text: Arc<Vec<u8>>,
    /// Device and mda index the copy was taken from.
    pub source: (usize, usize),
    /// For each PV of `vg.pvs`, the device that holds it (None = missing).
    pub pv_devices: Vec<Option<usize>>,
}

impl VgInstance {
    /// True if a PV of the VG is missing.
    pub fn partial(&self) -> bool {
        self.pv_devices.iter().any(Option::is_none)
    }
}

/// A problem found while scanning: a non-fatal error or a warning.
#[derive(Debug)]
pub struct Problem {
    /// True if lvm2 would refuse to use the structure.
    pub fatal: bool,
    /// What and where.
    pub error: Error,
}

/// Every device, every VG, and every problem met on the way.
#[derive(Debug, Default)]
pub struct System {
    /// The images, in the order given.
    pub devices: Vec<Device>,
    /// The VGs, in order of their first device.
    pub vgs: Vec<VgInstance>,
    /// Problems, in the order found.
    pub problems: Vec<Problem>,
}

impl System {
    /// Scans `images` and assembles VGs.
    pub fn scan(images: Vec<Image>) -> Result<System> {
        let mut sys = System::default();
        let mut parsed: Vec<Committed> = Vec::new();
        for image in images {
            let dev = scan_device(image, &mut sys.problems, &mut parsed)?;
            sys.devices.push(dev);
        }
        sys.check_duplicate_pvs();
        sys.assemble();
        Ok(sys)
    }

    /// The image of each PV of `inst` (a VG of this system), in the VG's
    /// PV order; `None` for a PV whose device was not found.
    pub fn pv_images(&self, inst: &VgInstance) -> Vec<Option<&Image>> {
        inst.pv_devices
            .iter()
            .map(|d| d.map(|d| &self.devices[d].image))
            .collect()
    }

    fn check_duplicate_pvs(&mut self) {
        for i in 0..self.devices.len() {
            let Some(u) = self.devices[i].pv_uuid() else {
                continue;
            };
            for j in 0..i {
                if self.devices[j].pv_uuid() == Some(u) {
                    let first = self.devices[j].image.path.clone();
                    let again = &self.devices[i];
                    self.problems.push(Problem {
                        fatal: true,
                        error: Error::corrupt(
                            Some(&again.image.path),
                            crate::error::Structure::Label,
                            again.label.as_ref().map_or(512, |l| l.sector * 512),
                            Corruption::BadValue {
                                field: "pv_header.pv_uuid".into(),
                                found: crate::uuid::format_uuid(&u),
                                reason: format!("{first} has the same PV UUID; using {first}"),
                            },
                        ),
                    });
                    self.devices[i].label = None;
                    self.devices[i].mdas.clear();
                    break;
                }
            }
        }
    }

    fn assemble(&mut self) {
        // Group committed copies by VG UUID, keeping device order.
        let mut order: Vec<[u8; 32]> = Vec::new();
        for d in &self.devices {
            for m in &d.mdas {
                if let Some(c) = &m.committed {
                    if let Some(u) = parse_uuid(&c.vg.id) {
                        if !order.contains(&u) {
                            order.push(u);
                        }
                    }
                }
            }
        }
        for vg_uuid in order {
            let mut best: Option<(usize, usize)> = None;
            for (di, d) in self.devices.iter().enumerate() {
                for (mi, m) in d.mdas.iter().enumerate() {
                    let Some(c) = &m.committed else { continue };
                    if parse_uuid(&c.vg.id) != Some(vg_uuid) {
                        continue;
                    }
                    match best {
                        None => best = Some((di, mi)),
                        Some((bd, bm)) => {
                            let b = self.devices[bd].mdas[bm]
                                .committed
                                .as_ref()
                                .map(|c| (c.vg.seqno, c.checksum, c.text.len()));
                            let Some((bs, bc, bl)) = b else { continue };
                            if c.vg.seqno > bs {
                                self.problems.push(Problem {
                                    fatal: false,
                                    error: Error::Usage(format!(
                                        "WARNING: ignoring metadata seqno {bs} on {} for seqno {} on {} for VG {}",
                                        self.devices[bd].image.path, c.vg.seqno, d.image.path, c.vg.name
                                    )),
                                });
                                best = Some((di, mi));
                            } else if c.vg.seqno == bs && (c.checksum != bc || c.text.len() != bl) {
                                self.problems.push(Problem {
                                    fatal: true,
                                    error: Error::Usage(format!(
                                        "WARNING: inconsistent metadata for VG {}: seqno {} on {} and {} has different checksums {:#010x} and {:#010x}",
                                        c.vg.name, bs, self.devices[bd].image.path, d.image.path, bc, c.checksum
                                    )),
                                });
                            } else if c.vg.seqno < bs {
                                self.problems.push(Problem {
                                    fatal: false,
                                    error: Error::Usage(format!(
                                        "WARNING: ignoring metadata seqno {} on {} for seqno {bs} on {} for VG {}",
                                        c.vg.seqno, d.image.path, self.devices[bd].image.path, c.vg.name
                                    )),
                                });
                            }
                        }
                    }
                }
            }
            let Some((bd, bm)) = best else { continue };
            let Some(c) = self.devices[bd].mdas[bm].committed.clone() else {
                continue;
            };
            let pv_devices =
                c.vg.pvs
                    .iter()
                    .map(|p| {
                        self.devices
                            .iter()
                            .position(|d| d.pv_uuid() == Some(p.uuid))
                    })
                    .collect();
            self.vgs.push(VgInstance {
                vg: c.vg,
                text: c.text,
                source: (bd, bm),
                pv_devices,
            });
        }
    }

    /// The VG named `name`.
    pub fn vg(&self, name: &str) -> Option<&VgInstance> {
        self.vgs.iter().find(|v| v.vg.name == name)
    }

    /// The VG named `name`, or [`NotFound::Vg`].
    pub fn vg_or_err(&self, name: &str) -> Result<&VgInstance> {
        self.vg(name).ok_or_else(|| {
            NotFound::Vg {
                name: name.to_owned(),
            }
            .into()
        })
    }

    /// The index in [`System::devices`] of the image whose path is `name`,
    /// or [`NotFound::Pv`].
    pub fn device_index_or_err(&self, name: &str) -> Result<usize> {
        self.devices
            .iter()
            .position(|d| d.image.path == name)
            .ok_or_else(|| {
                NotFound::Pv {
                    name: name.to_owned(),
                }
                .into()
            })
    }

    /// The VG and PV index a device belongs to, if any.
    pub fn owner_of(&self, dev: usize) -> Option<(usize, usize)> {
        for (vi, v) in self.vgs.iter().enumerate() {
            if let Some(pi) = v.pv_devices.iter().position(|d| *d == Some(dev)) {
                return Some((vi, pi));
            }
        }
        None
    }
}

/// `parsed` holds the copies parsed so far: a copy whose bytes equal one of
/// them is CRC-checked but not parsed again (as lvm2 does).
fn scan_device(
    image: Image,
    problems: &mut Vec<Problem>,
    parsed: &mut Vec<Committed>,
) -> Result<Device> {
    let ls = label::scan(&image)?;
    for e in ls.rejected {
        problems.push(Problem {
            fatal: true,
            error: e,
        });
    }
    let mut dev = Device {
        image,
        label: ls.label,
        mdas: Vec::new(),
    };
    let Some(label) = dev.label.clone() else {
        return Ok(dev);
    };
    for locn in &label.pv_header.metadata_areas {
        let mut st = MdaState {
            locn: *locn,
            header: None,
            committed: None,
            ignored: false,
        };
        let known = parsed.len();
        match read_mda(&dev.image, locn, parsed) {
            Ok((h, committed)) => {
                // lvm2 warns of duplicate keys each time it parses a text;
                // a copy equal to one parsed before is not parsed again.
                if parsed.len() > known {
                    for k in committed.iter().flat_map(|c| c.duplicate_keys.iter()) {
                        problems.push(Problem {
                            fatal: false,
                            error: Error::Usage(format!(
                                "Ignoring duplicate config node: {k} (seeking {k})"
                            )),
                        });
                    }
                }
                st.ignored = h.raw_locns[0].ignored();
                st.header = Some(h);
                st.committed = committed;
            }
            Err(b) => {
                let (h, e) = *b;
                st.header = h;
                problems.push(Problem {
                    fatal: true,
                    error: e,
                });
            }
        }
        dev.mdas.push(st);
    }
    Ok(dev)
}

type MdaRead = std::result::Result<(MdaHeader, Option<Committed>), Box<(Option<MdaHeader>, Error)>>;

fn read_mda(img: &Image, locn: &DiskLocn, parsed: &mut Vec<Committed>) -> MdaRead {
    let h = read_header(img, locn.offset).map_err(|e| Box::new((None, e)))?;
    let here = |c| {
        Error::corrupt(
            Some(&img.path),
            crate::error::Structure::MetadataArea,
            locn.offset,
            c,
        )
    };
    if let Err(c) = h.validate(locn.offset) {
        return Err(Box::new((Some(h), here(c))));
    }
    let slot = h.raw_locns[0];
    if slot.is_empty() || slot.ignored() {
        return Ok((h, None));
    }
    let text_bytes = match read_slot_text(img, locn.offset, &h, 0) {
        Ok(t) => t,
        Err(e) => return Err(Box::new((Some(h), e))),
    };
    if let Some(same) = parsed
        .iter()
        .find(|c| c.checksum == slot.checksum && *c.text == text_bytes)
    {
        return Ok((h, Some(same.clone())));
    }
    let text_at = locn.offset + slot.offset;
    // Read into flat form when it can be: no tree to build and free.
    let (vg, duplicate_keys) = Vg::from_text(&text_bytes).map_err(|c| {
        (
            Some(h.clone()),
            Error::corrupt(
                Some(&img.path),
                crate::error::Structure::MetadataText,
                text_at,
                c,
            ),
        )
    })?;
    let c = Committed {
        text: Arc::new(text_bytes),
        checksum: slot.checksum,
        vg: Arc::new(vg),
        duplicate_keys: duplicate_keys.into(),
    };
    parsed.push(c.clone());
    Ok((h, Some(c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_fail_with_not_found() {
        let sys = System::scan(vec![Image::from_bytes("a.img", vec![0u8; 4096])]).unwrap();
        assert_eq!(sys.device_index_or_err("a.img").unwrap(), 0);
        let e = sys.device_index_or_err("b.img").unwrap_err();
        assert!(matches!(&e, Error::NotFound(NotFound::Pv { name }) if name == "b.img"));
        let e = sys.vg_or_err("vg").unwrap_err();
        assert!(matches!(&e, Error::NotFound(NotFound::Vg { name }) if name == "vg"));
        assert_eq!(e.to_string(), "Volume group \"vg\" not found");
    }
}
