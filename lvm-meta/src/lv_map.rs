//! Logical extents mapped to bytes on PV images, for linear and striped
//! segments (as the kernel's `dm-linear` and `dm-stripe` targets map them)
//! and for RAID and mirror segments with every image there (`dm-raid`,
//! `dm-mirror`: the first copy, or the data chunk of a parity stripe; see
//! [`crate::raid`]), and for integrity segments with a separate metadata
//! LV (the data LV's sectors as they are). [`raid_run`] describes what rebuilds a run when an
//! image is missing.
//!
//! The mapping is computed from metadata alone; moving bytes is the
//! caller's job.

use crate::error::{Error, Result};
use crate::model::{Area, SegmentKind, Vg};
use crate::raid::{RaidSeg, Source};

/// Deepest chain of LVs stacked on LVs that is followed.
pub const MAX_LV_STACK: usize = 16;

/// Where a run of an LV's bytes comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece {
    /// `len` bytes at `offset` on the PV with index `pv` in [`Vg::pvs`].
    Pv {
        /// Index into [`Vg::pvs`].
        pv: usize,
        /// Absolute byte offset on that PV's device.
        offset: u64,
        /// Contiguous bytes.
        len: u64,
    },
    /// `len` bytes that read as zeros (`zero` segment).
    Zero {
        /// Bytes.
        len: u64,
    },
}

/// Maps the byte at `offset` of LV `lv` to a contiguous run. Runs never
/// cross a segment or a stripe boundary.
pub fn map(vg: &Vg, lv: usize, offset: u64) -> Result<Piece> {
    map_depth(vg, lv, offset, 0, false)
}

/// [`map`] for a write: the one place the byte goes. RAID and mirror
/// segments are refused, since a write there must reach every copy and
/// the parity, which one run cannot say.
pub fn map_write(vg: &Vg, lv: usize, offset: u64) -> Result<Piece> {
    map_depth(vg, lv, offset, 0, true)
}

fn unsupported(msg: String) -> Error {
    Error::Unsupported(msg)
}

fn map_depth(vg: &Vg, lv_i: usize, offset: u64, depth: usize, write: bool) -> Result<Piece> {
    let lv = vg
        .lvs
        .get(lv_i)
        .ok_or_else(|| Error::Usage(format!("no LV with index {lv_i}")))?;
    if depth > MAX_LV_STACK {
        return Err(unsupported(format!(
            "LV {}: LVs stacked deeper than {MAX_LV_STACK}",
            lv.name
        )));
    }
    // No mapping exists when extent_size is 0 (lvm2 reads such a VG).
    let ss = vg.mappable_extent_size()?.0;
    let eb = vg.extent_bytes();
    let le = offset / eb;
    let seg = lv
        .segments
        .iter()
        .find(|s| {
            le >= u64::from(s.start_extent)
                && le < u64::from(s.start_extent) + u64::from(s.extent_count)
        })
        .ok_or_else(|| Error::Usage(format!("LV {}: offset {offset} is past its end", lv.name)))?;
    let seg_off = offset - u64::from(seg.start_extent) * eb;
    let seg_len = u64::from(seg.extent_count) * eb;
    match &seg.kind {
        SegmentKind::Striped {
            stripe_size,
            stripes,
        } => {
            let n = stripes.len() as u64;
            let (stripe, area_off, run) = if n == 1 {
                (0usize, seg_off, seg_len - seg_off)
            } else {
                // OK: a striped segment with more than one stripe always has
                // a non-zero stripe_size (checked by the model).
                let chunk = stripe_size.map_or(ss, |s| s.0).saturating_mul(512);
                let c = seg_off / chunk;
                let within = seg_off % chunk;
                let stripe = (c % n) as usize;
                let row = c / n;
                (stripe, row * chunk + within, chunk - within)
            };
            match stripes[stripe] {
                Area::Pv { pv, pe } => {
                    let p = &vg.pvs[pv];
                    let base = p
                        .pe_start
                        .0
                        .checked_add(u64::from(pe) * ss)
                        .and_then(|s| s.checked_mul(512))
                        .and_then(|b| b.checked_add(area_off))
                        .ok_or_else(|| unsupported(format!("LV {}: offset overflows", lv.name)))?;
                    Ok(Piece::Pv {
                        pv,
                        offset: base,
                        len: run,
                    })
                }
                Area::Lv {
                    lv: inner,
                    le: inner_le,
                } => {
                    let inner_off = u64::from(inner_le) * eb + area_off;
                    let p = map_depth(vg, inner, inner_off, depth + 1, write)?;
                    Ok(match p {
                        Piece::Pv { pv, offset, len } => Piece::Pv {
                            pv,
                            offset,
                            len: len.min(run),
                        },
                        Piece::Zero { len } => Piece::Zero { len: len.min(run) },
                    })
                }
            }
        }
        SegmentKind::Zero => Ok(Piece::Zero {
            len: seg_len - seg_off,
        }),
        SegmentKind::Error => Err(Error::Usage(format!(
            "LV {}: offset {offset} is in an error segment",
            lv.name
        ))),
        SegmentKind::Snapshot { .. } => Err(unsupported(format!(
            "LV {}: a snapshot's view is read through the COW engine",
            lv.name
        ))),
        SegmentKind::Unknown { nodes } if seg.type_name == "integrity" => {
            let Some(origin) = integrity_origin(vg, nodes) else {
                return Err(unsupported(format!(
                    "LV {}: an integrity segment without a separate metadata LV (meta_dev) is not supported",
                    lv.name
                )));
            };
            if write {
                return Err(unsupported(format!(
                    "LV {}: writing to segment type \"integrity\" is not supported",
                    lv.name
                )));
            }
            let p = map_depth(vg, origin, offset, depth + 1, write)?;
            let run = seg_len - seg_off;
            Ok(match p {
                Piece::Pv { pv, offset, len } => Piece::Pv {
                    pv,
                    offset,
                    len: len.min(run),
                },
                Piece::Zero { len } => Piece::Zero { len: len.min(run) },
            })
        }
        SegmentKind::Unknown { .. } => {
            let Some(run) = raid_run_in(vg, lv_i, seg, seg_off, seg_len)? else {
                if matches!(seg.type_name.as_str(), "vdo" | "vdo-pool") {
                    // Reported, not read: say where the bytes are.
                    return Err(unsupported(format!(
                        "LV {}: segment type {:?} is not supported: a VDO volume's blocks are stored in the VDO format on its pool's _vdata LV, which is not decoded (that LV reads as its raw bytes)",
                        lv.name, seg.type_name
                    )));
                }
                return Err(unsupported(format!(
                    "LV {}: segment type {:?} is not supported",
                    lv.name, seg.type_name
                )));
            };
            if write {
                return Err(unsupported(format!(
                    "LV {}: writing to segment type {:?} is not supported",
                    lv.name, seg.type_name
                )));
            }
            // With every image there, the kernel reads the first copy or
            // the data chunk itself.
            let (image, at) = match &run.source {
                Source::Copies(c) => c[0],
                Source::Parity { row, k, offset } => (row.data[*k], *offset),
            };
            let (inner, base) = run.images[image];
            let p = map_depth(vg, inner, base + at, depth + 1, write)?;
            Ok(match p {
                Piece::Pv { pv, offset, len } => Piece::Pv {
                    pv,
                    offset,
                    len: len.min(run.len),
                },
                Piece::Zero { len } => Piece::Zero {
                    len: len.min(run.len),
                },
            })
        }
    }
}

/// The data LV (`origin`, `LV_iorig`) of an `integrity` segment whose
/// tags and journal are on a separate metadata LV (`meta_dev`, `LV_imeta`,
/// as lvm2's `--raidintegrity` makes them): dm-integrity then keeps the
/// data device's sectors as they are, sector `s` of the LV at sector `s`
/// of the origin. Writes the kernel acknowledged but still holds in the
/// journal (mode `J`) are not in the origin until it replays the journal
/// at the next activation; this mapping does not replay it.
fn integrity_origin(vg: &Vg, nodes: &[crate::text::Node]) -> Option<usize> {
    use crate::text::{Lookup, Value};
    struct Keys<'a>(&'a [crate::text::Node]);
    impl Lookup for Keys<'_> {
        fn nodes(&self) -> &[crate::text::Node] {
            self.0
        }
    }
    let k = Keys(nodes);
    let name = |key: &str| match k.value(key) {
        Some(Value::Str(v)) => vg.lv_index(v),
        _ => None,
    };
    name("meta_dev")?;
    name("origin")
}

/// A run of a RAID or mirror LV (at most one chunk) and the sub-LVs
/// behind it, for readers that rebuild what a missing image held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaidRun {
    /// Bytes of the LV the run covers from the mapped offset.
    pub len: u64,
    /// The images that hold or rebuild the run (image numbers index
    /// [`RaidRun::images`]; offsets are bytes from each image's base).
    pub source: Source,
    /// Each image's data sub-LV (index into [`Vg::lvs`]) and the byte
    /// offset in it where the image's data starts.
    pub images: Vec<(usize, u64)>,
}

/// The run of LV `lv` at byte `offset` if the segment there is a RAID or
/// mirror segment (`None` for any other segment type).
pub fn raid_run(vg: &Vg, lv: usize, offset: u64) -> Result<Option<RaidRun>> {
    let l = vg
        .lvs
        .get(lv)
        .ok_or_else(|| Error::Usage(format!("no LV with index {lv}")))?;
    vg.mappable_extent_size()?;
    let eb = vg.extent_bytes();
    let le = offset / eb;
    let Some(seg) = l.segments.iter().find(|s| {
        le >= u64::from(s.start_extent)
            && le < u64::from(s.start_extent) + u64::from(s.extent_count)
    }) else {
        return Err(Error::Usage(format!(
            "LV {}: offset {offset} is past its end",
            l.name
        )));
    };
    let seg_off = offset - u64::from(seg.start_extent) * eb;
    raid_run_in(vg, lv, seg, seg_off, u64::from(seg.extent_count) * eb)
}

fn raid_run_in(
    vg: &Vg,
    lv: usize,
    seg: &crate::model::Segment,
    seg_off: u64,
    seg_len: u64,
) -> Result<Option<RaidRun>> {
    let name = &vg.lvs[lv].name;
    let Some(r) = RaidSeg::of(name, seg, |n| vg.lv_index(n))
        .map_err(|c| Error::corrupt(None, crate::error::Structure::MetadataText, 0, c))?
    else {
        return Ok(None);
    };
    if !r.flags.is_empty() {
        return Err(unsupported(format!(
            "LV {name}: segment type {:?} marks a reshape, which is not supported",
            seg.type_name
        )));
    }
    let eb = vg.extent_bytes();
    let data_offset = r.data_offset.map_or(0, |s| s.0.saturating_mul(512));
    let images = r
        .images
        .iter()
        .map(|i| (i.data, u64::from(i.le) * eb + data_offset))
        .collect();
    let at = r.locate(seg_off, seg_len);
    Ok(Some(RaidRun {
        len: at.len,
        source: at.source,
        images,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::parse;

    fn vg(text: &str) -> Vg {
        Vg::from_tree(&parse(text.as_bytes()).unwrap()).unwrap()
    }

    const STRIPED: &str = r#"vg {
id = "TcZ5Vb-iTq1-vPcS-pqFl-2yRr-Yz1c-9mQxqa"
seqno = 1
status = ["READ"]
extent_size = 8
max_lv = 0
max_pv = 0
physical_volumes {
pv0 {
id = "x3dF8k-QwPz-7LmN-b2Vc-Rt9Y-hG4s-Ue6WjK"
status = ["ALLOCATABLE"]
pe_start = 2048
pe_count = 10
}
pv1 {
id = "y3dF8k-QwPz-7LmN-b2Vc-Rt9Y-hG4s-Ue6WjK"
status = ["ALLOCATABLE"]
pe_start = 128
pe_count = 10
}
}
logical_volumes {
s {
id = "Jn7cP1-aBcD-eFgH-iJkL-mNoP-qRsT-uVwXyz"
status = ["READ"]
segment_count = 2
segment1 {
start_extent = 0
extent_count = 4
type = "striped"
stripe_count = 2
stripe_size = 2
stripes = ["pv0", 1, "pv1", 3]
}
segment2 {
start_extent = 4
extent_count = 1
type = "striped"
stripe_count = 1
stripes = ["pv1", 0]
}
}
}
}
contents = "Text Format Volume Group"
version = 1
"#;

    #[test]
    fn striped_then_linear() {
        let v = vg(STRIPED);
        // Extent = 4 KiB, stripe = 1 KiB. Byte 0: stripe 0 (pv0, PE 1).
        assert_eq!(
            map(&v, 0, 0).unwrap(),
            Piece::Pv {
                pv: 0,
                offset: (2048 + 8) * 512,
                len: 1024
            }
        );
        // Byte 1024: stripe 1 (pv1, PE 3), row 0.
        assert_eq!(
            map(&v, 0, 1024).unwrap(),
            Piece::Pv {
                pv: 1,
                offset: (128 + 24) * 512,
                len: 1024
            }
        );
        // Byte 2048+100: stripe 0, row 1.
        assert_eq!(
            map(&v, 0, 2148).unwrap(),
            Piece::Pv {
                pv: 0,
                offset: (2048 + 8) * 512 + 1024 + 100,
                len: 924
            }
        );
        // Extent 4 is linear on pv1 PE 0.
        assert_eq!(
            map(&v, 0, 4 * 4096 + 5).unwrap(),
            Piece::Pv {
                pv: 1,
                offset: 128 * 512 + 5,
                len: 4091
            }
        );
        assert!(map(&v, 0, 5 * 4096).is_err());
    }
}
