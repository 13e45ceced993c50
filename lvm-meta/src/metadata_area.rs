//! A metadata area: its header and the circular text buffer behind it
//! (lvm2 `lib/format_text/format-text.c`, `tools/pvck.c`).
//!
//! Offsets inside the ring are relative to the area start; the ring is
//! `[512, size)` and text that runs past its end continues at 512.

use crate::crc::{lvm_crc, lvm_crc_continue};
use crate::error::{Corruption, Error, Result};
use crate::io::Image;
use crate::mda_header::{MdaHeader, RawLocn, MDA_HEADER_SIZE};

/// Largest metadata area lvmsim reads whole (for the ring scan). lvm2 sets no
/// limit, but its default area is 1 MiB and real ones stay far below this.
pub const MAX_AREA_SCAN: u64 = 256 << 20;

/// Largest text copy lvmsim reads (lvm2 refuses copies of 4 GiB and more; a
/// real VG's text is a few hundred KiB at most).
pub const MAX_TEXT_SIZE: u64 = 64 << 20;

/// Reads and decodes the header of the area at absolute `start`.
pub fn read_header(img: &Image, start: u64) -> Result<MdaHeader> {
    if start
        .checked_add(MDA_HEADER_SIZE)
        .is_none_or(|e| e > img.size)
    {
        return Err(Error::corrupt(
            Some(&img.path),
            crate::error::Structure::MetadataArea,
            start,
            Corruption::Truncated {
                needed: MDA_HEADER_SIZE,
                available: img.size.saturating_sub(start),
            },
        ));
    }
    let mut b = [0u8; 512];
    img.read_into(start, &mut b)?;
    Ok(MdaHeader::decode(&b))
}

/// Where a text copy lies in the ring: one part, or two when it wraps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextSpan {
    /// Relative offset of the first part.
    pub offset: u64,
    /// Bytes in the first part.
    pub len_a: u64,
    /// Bytes continuing at relative offset 512 (0 if no wrap).
    pub len_b: u64,
}

impl TextSpan {
    /// The span of `size` bytes at relative `offset` in a ring of `area_size`.
    pub fn new(offset: u64, size: u64, area_size: u64) -> TextSpan {
        if offset.saturating_add(size) > area_size {
            let len_a = area_size.saturating_sub(offset);
            TextSpan {
                offset,
                len_a,
                len_b: size - len_a,
            }
        } else {
            TextSpan {
                offset,
                len_a: size,
                len_b: 0,
            }
        }
    }
    /// Relative offset of the copy's last byte.
    pub fn last_byte(&self) -> u64 {
        if self.len_b > 0 {
            MDA_HEADER_SIZE + self.len_b - 1
        } else {
            self.offset + self.len_a - 1
        }
    }
}

/// Reads the text a slot points at (both parts if it wraps) and checks its
/// checksum against the slot. `start` is the area's absolute offset.
pub fn read_slot_text(img: &Image, start: u64, h: &MdaHeader, slot: usize) -> Result<Vec<u8>> {
    let here = |c| {
        Error::corrupt(
            Some(&img.path),
            crate::error::Structure::MetadataArea,
            start,
            c,
        )
    };
    h.check_slot(slot).map_err(here)?;
    let r: RawLocn = h.raw_locns[slot];
    if r.size > MAX_TEXT_SIZE {
        return Err(here(Corruption::BadValue {
            field: "raw_locn.size".into(),
            found: r.size.to_string(),
            reason: format!("larger than lvmsim's cap of {MAX_TEXT_SIZE} bytes for one copy"),
        }));
    }
    let span = TextSpan::new(r.offset, r.size, h.size);
    let end = start.checked_add(h.size).ok_or_else(|| {
        here(Corruption::BadValue {
            field: "mda_header.size".into(),
            found: h.size.to_string(),
            reason: "overflows".into(),
        })
    })?;
    if end > img.size {
        return Err(here(Corruption::Truncated {
            needed: end,
            available: img.size,
        }));
    }
    // OK to cast: both parts are bounded by MAX_TEXT_SIZE above.
    let mut text = img.read(start + span.offset, span.len_a as usize)?;
    if span.len_b > 0 {
        let b = img.read(start + MDA_HEADER_SIZE, span.len_b as usize)?;
        text.extend_from_slice(&b);
    }
    let computed = lvm_crc(&text);
    if computed != r.checksum {
        let text_start = start + span.offset;
        return Err(Error::corrupt(
            Some(&img.path),
            crate::error::Structure::MetadataText,
            text_start,
            Corruption::Checksum {
                what: "text",
                stored: r.checksum,
                computed,
                start: text_start,
                end: start + span.last_byte(),
            },
        ));
    }
    Ok(text)
}

/// One copy of the metadata text found by scanning a ring like
/// `pvck --dump metadata_search`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundCopy {
    /// Absolute byte offset where the copy starts.
    pub offset: u64,
    /// Relative offset in the area.
    pub rel_offset: u64,
    /// The text including its terminating NUL.
    pub text: Vec<u8>,
    /// LVM CRC over `text`.
    pub crc: u32,
    /// VG name from the first line.
    pub vg_name: String,
    /// `seqno` from the third line.
    pub seqno: u32,
    /// VG UUID as written on the second line (38 characters).
    pub id: String,
    /// True if the copy wraps past the area end.
    pub wrapped: bool,
    /// True unless the text ends with `"\n\n\0"`.
    pub bad_end: bool,
}

/// pvck's test for the first line of a copy: `<name> {` with exactly one
/// space, the name from `[A-Za-z0-9._+-]`. Returns the name's length.
fn vgname_start(line: &[u8]) -> Option<usize> {
    let mut chars = 0usize;
    let mut space = false;
    for &c in line.iter().take(131) {
        if c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b'+') {
            if space {
                return None;
            }
            chars += 1;
        } else if c == b' ' {
            if chars == 0 || space {
                return None;
            }
            space = true;
        } else if c == b'{' {
            return (chars > 0 && space).then_some(chars);
        } else {
            return None;
        }
    }
    None
}

/// The line at `at` the way pvck copies it: up to 127 bytes, ending after a
/// newline or NUL. Returns the line and its length (with the terminator).
fn copy_line(buf: &[u8], at: usize) -> (&[u8], usize) {
    let rest = buf.get(at..).unwrap_or(&[]);
    let max = rest.len().min(127);
    for (i, &c) in rest[..max].iter().enumerate() {
        if c == b'\n' || c == 0 {
            return (&rest[..=i], i + 1);
        }
    }
    (&rest[..max], max + 1)
}

/// Extracts the copy starting at relative `start` (pvck's
/// `_copy_out_metadata`): up to the first NUL, wrapping to 512 and stopping
/// at `stop`. `None` if no NUL is found or the text is shorter than 256 bytes.
fn copy_out(buf: &[u8], start: usize, stop: usize) -> Option<(Vec<u8>, bool)> {
    let hdr = MDA_HEADER_SIZE as usize;
    let tail = buf.get(start..)?;
    if let Some(n) = tail.iter().position(|&c| c == 0) {
        if n < 256 {
            return None;
        }
        return Some((tail[..=n].to_vec(), false));
    }
    let part_b = buf.get(hdr..stop.max(hdr))?;
    let n = part_b.iter().position(|&c| c == 0)?;
    if tail.len() + n < 256 {
        return None;
    }
    let mut v = Vec::with_capacity(tail.len() + n + 1);
    v.extend_from_slice(tail);
    v.extend_from_slice(&part_b[..=n]);
    Some((v, true))
}

/// Scans a whole area (`buf` starts with the area header; `area_offset` is
/// its absolute offset) for every copy of the text, at 512-byte boundaries,
/// in ring order, exactly as `pvck --dump metadata_search` does.
pub fn scan_copies(buf: &[u8], area_offset: u64) -> Vec<FoundCopy> {
    scan_run(buf, area_offset).0
}

/// [`scan_copies`], and the absolute offset of the first place where a
/// copy starts whose text runs to the end of `buf` (its NUL is not in
/// `buf`, so a ring scan wraps it, or drops it when no NUL is found after
/// the wrap either): for a scan of a window of a larger image, where
/// reading further would finish it.
pub fn scan_run(buf: &[u8], area_offset: u64) -> (Vec<FoundCopy>, Option<u64>) {
    let hdr = MDA_HEADER_SIZE as usize;
    let mut out = Vec::new();
    let mut cut = None;
    let Some(ring) = buf.len().checked_sub(hdr) else {
        return (out, cut);
    };
    let sectors = ring / 512;
    let mut count = 0usize;
    let mut first_start = 0usize;
    while count < sectors {
        let off = hdr + count * 512;
        let (l1, n1) = copy_line(buf, off);
        let Some(namelen) = vgname_start(l1) else {
            count += 1;
            continue;
        };
        let (l2, n2) = copy_line(buf, off + n1);
        if !l2.starts_with(b"id = ") {
            count += 1;
            continue;
        }
        let id_bytes = l2.get(6..44).unwrap_or(l2.get(6..).unwrap_or(&[]));
        let (l3, _) = copy_line(buf, off + n1 + n2);
        let Some(seqno) = parse_seqno_line(l3) else {
            count += 1;
            continue;
        };
        let stop = if first_start == 0 { off } else { first_start };
        let open = !buf[off..].contains(&0);
        if open && cut.is_none() {
            cut = Some(area_offset + off as u64);
        }
        let Some((text, wrapped)) = copy_out(buf, off, stop) else {
            count += 1;
            continue;
        };
        let len = text.len();
        let bad_end = !text.ends_with(b"\n\n\0");
        out.push(FoundCopy {
            offset: area_offset + off as u64,
            rel_offset: off as u64,
            crc: lvm_crc(&text),
            vg_name: String::from_utf8_lossy(&l1[..namelen]).into_owned(),
            seqno,
            id: String::from_utf8_lossy(id_bytes).into_owned(),
            text,
            wrapped,
            bad_end,
        });
        if first_start == 0 {
            first_start = off;
        }
        count += len.div_ceil(512).max(1);
    }
    (out, cut)
}

/// `seqno = N` as pvck reads it (`sscanf("seqno = %u")`).
fn parse_seqno_line(l: &[u8]) -> Option<u32> {
    let rest = l.strip_prefix(b"seqno = ")?;
    let digits: &[u8] = {
        let n = rest.iter().take_while(|c| c.is_ascii_digit()).count();
        &rest[..n]
    };
    if digits.is_empty() {
        return None;
    }
    // %u wraps modulo 2^32 like strtoul for in-range values; keep it simple
    // and refuse what does not fit.
    std::str::from_utf8(digits).ok()?.parse::<u32>().ok()
}

/// Reads a whole area (header included) for scanning; bounded by
/// [`MAX_AREA_SCAN`] and by the image's end.
pub fn read_area_bytes(img: &Image, start: u64, size: u64) -> Result<Vec<u8>> {
    let here = |c| {
        Error::corrupt(
            Some(&img.path),
            crate::error::Structure::MetadataArea,
            start,
            c,
        )
    };
    if size > MAX_AREA_SCAN {
        return Err(here(Corruption::BadValue {
            field: "mda size".into(),
            found: size.to_string(),
            reason: format!("larger than lvmsim's scan cap of {MAX_AREA_SCAN} bytes"),
        }));
    }
    let end = start.saturating_add(size);
    if end > img.size {
        return Err(here(Corruption::Truncated {
            needed: end,
            available: img.size,
        }));
    }
    // OK to cast: bounded by MAX_AREA_SCAN.
    img.read(start, size as usize)
}

/// Lays `text` into a ring buffer (`buf` is the whole area, header
/// included) at relative `offset`, wrapping at the end; the final part is
/// padded with zeros to the next 512-byte boundary, as lvm2 writes it.
pub fn place_text(buf: &mut [u8], offset: u64, text: &[u8]) -> TextSpan {
    let span = TextSpan::new(offset, text.len() as u64, buf.len() as u64);
    let (a, b) = text.split_at(span.len_a as usize);
    let o = offset as usize;
    buf[o..o + a.len()].copy_from_slice(a);
    let hdr = MDA_HEADER_SIZE as usize;
    let (pad_from, pad_to_base) = if b.is_empty() {
        (o + a.len(), o)
    } else {
        (hdr + b.len(), hdr)
    };
    if !b.is_empty() {
        buf[hdr..hdr + b.len()].copy_from_slice(b);
    }
    let written = pad_from - pad_to_base;
    let pad_end = (pad_to_base + written.div_ceil(512) * 512).min(buf.len());
    for x in &mut buf[pad_from..pad_end] {
        *x = 0;
    }
    span
}

/// The checksum of a copy laid out as `span` in `buf`, chained over both parts.
pub fn span_crc(buf: &[u8], span: &TextSpan) -> u32 {
    let o = span.offset as usize;
    let a = lvm_crc(&buf[o..o + span.len_a as usize]);
    let hdr = MDA_HEADER_SIZE as usize;
    lvm_crc_continue(a, &buf[hdr..hdr + span.len_b as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(name: &str, seqno: u32, pad: usize) -> Vec<u8> {
        let mut t = format!(
            "{name} {{\nid = \"TcZ5Vb-iTq1-vPcS-pqFl-2yRr-Yz1c-9mQxqa\"\nseqno = {seqno}\n"
        )
        .into_bytes();
        t.extend(std::iter::repeat_n(b'x', pad));
        t.extend_from_slice(b"\n}\n\n\0");
        t
    }

    #[test]
    fn scan_finds_consecutive_and_wrapped_copies() {
        let size = 8192usize;
        let mut area = vec![0u8; size];
        let t1 = text("vg0", 1, 700);
        let s1 = place_text(&mut area, 512, &t1);
        let t2 = text("vg0", 2, 1500);
        let next = (s1.last_byte() + 1).div_ceil(512) * 512;
        let s2 = place_text(&mut area, next, &t2);
        let t3 = text("vg0", 3, 5300);
        let next = (s2.last_byte() + 1).div_ceil(512) * 512;
        let s3 = place_text(&mut area, next, &t3);
        assert!(s3.len_b > 0, "third copy wraps");
        let found = scan_copies(&area, 4096);
        // The wrapped copy overwrote the first one; the second survives.
        let seqnos: Vec<u32> = found.iter().map(|c| c.seqno).collect();
        assert_eq!(seqnos, vec![2, 3]);
        assert_eq!(found[1].text, t3);
        assert!(found[1].wrapped);
        assert_eq!(found[1].crc, span_crc(&area, &s3));
        assert_eq!(found[1].crc, lvm_crc(&t3));
        assert_eq!(found[0].offset, 4096 + s2.offset);
    }

    #[test]
    fn vgname_rule() {
        assert_eq!(vgname_start(b"vg0 {\n"), Some(3));
        assert_eq!(vgname_start(b"vg0  {\n"), None);
        assert_eq!(vgname_start(b" vg0 {\n"), None);
        assert_eq!(vgname_start(b"vg0{\n"), None);
        assert_eq!(vgname_start(b"a/b {\n"), None);
    }

    #[test]
    fn short_or_unterminated_copies_are_skipped() {
        let mut area = vec![b'x'; 4096];
        area[..512].fill(0);
        let t = text("vg0", 1, 0);
        area[512..512 + t.len()].copy_from_slice(&t);
        assert!(
            scan_copies(&area, 0).is_empty(),
            "a copy under 256 bytes is ignored"
        );
    }

    #[test]
    fn span_geometry() {
        let s = TextSpan::new(1000, 100, 1024);
        assert_eq!((s.len_a, s.len_b), (24, 76));
        assert_eq!(s.last_byte(), 512 + 76 - 1);
    }
}
