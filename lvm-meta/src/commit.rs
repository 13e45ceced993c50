//! Writing a new metadata version the way lvm2's `vg_write` and
//! `vg_commit` do (`_vg_write_raw`, `_next_rlocn_offset`,
//! `_vg_commit_raw_rlocn` in `lib/format_text/format-text.c`).
//!
//! The plan is computed as data ([`PlannedWrite`]s, in order); applying it
//! is the caller's job. The order is lvm2's, so that a crash between any two
//! writes leaves either the old or the new version committed:
//! 1. the new text into the ring of every in-use metadata area (each area
//!    places it after its own committed copy; the last sector is padded
//!    with zeros);
//! 2. every area's header with the new copy in the precommit slot;
//! 3. every area's header with the new copy committed and slot 1 cleared.

use crate::crc::lvm_crc;
use crate::error::{Error, Result};
use crate::mda_header::{MdaHeader, RawLocn, MDA_HEADER_SIZE};
use crate::metadata_area::TextSpan;
use crate::scan::{System, VgInstance};

/// One write to an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedWrite {
    /// Index into [`System::devices`].
    pub device: usize,
    /// Absolute byte offset.
    pub offset: u64,
    /// The bytes.
    pub data: Vec<u8>,
    /// What it is: `metadata text`, `precommit` or `commit`.
    pub what: &'static str,
}

/// Where lvm2 puts the next copy in a ring of `area_size` bytes whose
/// committed copy is `old` (None: no copy, or an ignored area).
pub fn next_offset(old: Option<(u64, u64)>, area_size: u64) -> u64 {
    let Some((start, size)) = old else {
        return MDA_HEADER_SIZE;
    };
    let old_last = TextSpan::new(start, size, area_size).last_byte();
    if area_size.saturating_sub(old_last) < 512 {
        return MDA_HEADER_SIZE;
    }
    let new_start = (old_last + 1).div_ceil(512) * 512;
    if new_start > area_size.saturating_sub(512) {
        return MDA_HEADER_SIZE;
    }
    new_start
}

/// The largest copy an area of `area_size` bytes takes (two must fit).
pub fn max_text_size(area_size: u64) -> u64 {
    (area_size.saturating_sub(MDA_HEADER_SIZE) / 2).saturating_sub(512)
}

/// Plans committing `text` (the on-disk text without its NUL) as the new
/// version of VG `vg` to every in-use metadata area of its PVs.
pub fn plan(sys: &System, vg: &VgInstance, text: &str) -> Result<Vec<PlannedWrite>> {
    let mut bytes = text.as_bytes().to_vec();
    bytes.push(0);
    let checksum = lvm_crc(&bytes);
    let size = bytes.len() as u64;
    let mut texts = Vec::new();
    let mut pre = Vec::new();
    let mut commits = Vec::new();
    for dev in vg.pv_devices.iter().flatten().copied() {
        let d = &sys.devices[dev];
        for m in &d.mdas {
            let Some(h) = &m.header else {
                return Err(Error::Usage(format!(
                    "{}: metadata area at {} is damaged; lvmsim does not write a VG with a bad metadata area",
                    d.image.path, m.locn.offset
                )));
            };
            if m.ignored {
                continue;
            }
            if size > max_text_size(h.size) {
                return Err(Error::Usage(format!(
                    "VG {} metadata on {} ({size} bytes) too large for circular buffer ({} bytes)",
                    vg.vg.name, d.image.path, h.size
                )));
            }
            let r0 = h.raw_locns[0];
            let old = (!r0.is_empty()).then_some((r0.offset, r0.size));
            let start = next_offset(old, h.size);
            // The final part is padded with zeros to the next sector.
            let span = TextSpan::new(start, size, h.size);
            let mut ring = Vec::new();
            let (a_len, b_len) = (span.len_a, span.len_b);
            let pad = |n: u64| n.div_ceil(512) * 512;
            if b_len == 0 {
                ring.resize(pad(a_len) as usize, 0);
                ring[..a_len as usize].copy_from_slice(&bytes);
                texts.push(PlannedWrite {
                    device: dev,
                    offset: h.start + start,
                    data: ring,
                    what: "metadata text",
                });
            } else {
                texts.push(PlannedWrite {
                    device: dev,
                    offset: h.start + start,
                    data: bytes[..a_len as usize].to_vec(),
                    what: "metadata text",
                });
                let mut b = vec![0u8; pad(b_len) as usize];
                b[..b_len as usize].copy_from_slice(&bytes[a_len as usize..]);
                texts.push(PlannedWrite {
                    device: dev,
                    offset: h.start + MDA_HEADER_SIZE,
                    data: b,
                    what: "metadata text",
                });
            }
            let new = RawLocn {
                offset: start,
                size,
                checksum,
                flags: 0,
            };
            let mut hp = h.clone();
            hp.raw_locns[1] = new;
            pre.push(PlannedWrite {
                device: dev,
                offset: h.start,
                data: hp.encode().to_vec(),
                what: "precommit",
            });
            let mut hc = h.clone();
            hc.raw_locns[0] = new;
            hc.raw_locns[1] = RawLocn::default();
            commits.push(PlannedWrite {
                device: dev,
                offset: h.start,
                data: hc.encode().to_vec(),
                what: "commit",
            });
        }
    }
    if commits.is_empty() {
        return Err(Error::Usage(format!(
            "VG {} has no metadata area to write to",
            vg.vg.name
        )));
    }
    texts.extend(pre);
    texts.extend(commits);
    Ok(texts)
}

/// Applies planned writes to in-memory images (tests, fuzzing, the crash
/// harness): `images[device]`.
pub fn apply_in_memory(images: &mut [Vec<u8>], writes: &[PlannedWrite]) -> Result<()> {
    for w in writes {
        let img = images
            .get_mut(w.device)
            .ok_or_else(|| Error::Usage(format!("no device {}", w.device)))?;
        let at = usize::try_from(w.offset).map_err(|_| Error::Usage("offset too large".into()))?;
        let dst = img.get_mut(at..at + w.data.len()).ok_or_else(|| {
            Error::Usage(format!(
                "write of {} bytes at {} past the image end",
                w.data.len(),
                w.offset
            ))
        })?;
        dst.copy_from_slice(&w.data);
    }
    Ok(())
}

/// The header a planned header write leaves (for checks).
pub fn header_of(w: &PlannedWrite) -> Option<MdaHeader> {
    let b: &[u8; 512] = w.data.as_slice().try_into().ok()?;
    Some(MdaHeader::decode(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_rules() {
        assert_eq!(next_offset(None, 1_044_480), 512);
        assert_eq!(
            next_offset(Some((512, 1617)), 1_044_480),
            2560,
            "spec 9.4: next copy at 2560"
        );
        // Within 512 bytes of the end: back to the start.
        assert_eq!(next_offset(Some((512, 8192 - 512 - 100)), 8192), 512);
        // A wrapped copy: the next one follows its tail.
        assert_eq!(next_offset(Some((7680, 1000)), 8192), 1024);
        assert_eq!(max_text_size(1_044_480), 521_472);
    }
}
