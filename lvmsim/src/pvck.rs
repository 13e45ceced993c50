//! `pvck --dump headers|metadata|metadata_all|metadata_search` and plain
//! `pvck`, printing the lines lvm2's pvck prints, from the image alone.
//!
//! Like pvck, this reads the label at `--labelsector` (default 1) without
//! trusting anything else, and reports each problem as a `CHECK:` line.

use crate::error::{refused, Result};
use lvm_meta::crc::lvm_crc;
use lvm_meta::io::Image;
use lvm_meta::label::{RawLabelHeader, LABEL_HEADER_SIZE, LABEL_ID, LVM2_LABEL, SECTOR_SIZE};
use lvm_meta::mda_header::{
    MdaHeader, FMTT_MAGIC, FMTT_VERSION, MDA_HEADER_SIZE, OFF_MAGIC, OFF_RAW_LOCNS,
    RAW_LOCN_IGNORED, RAW_LOCN_SIZE,
};
use lvm_meta::metadata_area::{
    read_area_bytes, scan_copies, FoundCopy, MAX_AREA_SCAN, MAX_TEXT_SIZE,
};
use lvm_meta::pv_header::{DiskLocn, RawPvHeader, DISK_LOCN_SIZE};
use lvm_meta::text;
use lvm_meta::uuid::parse_uuid;
use std::io::Write;

/// What to dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dump {
    /// `--dump headers`
    Headers,
    /// `--dump metadata`
    Metadata,
    /// `--dump metadata_all`
    MetadataAll,
    /// `--dump metadata_search`
    MetadataSearch,
}

/// pvck options.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The dump, or None for plain `pvck`.
    pub dump: Option<Dump>,
    /// `--labelsector`
    pub labelsector: u64,
    /// `--pvmetadatacopies` / `--settings mda_num=N`: which mda (1 or 2).
    pub mda_num: Option<u32>,
    /// `--settings mda_offset=B`
    pub mda_offset: Option<u64>,
    /// `--settings mda_size=B`
    pub mda_size: Option<u64>,
    /// `-f FILE`
    pub file: Option<String>,
    /// `-v`
    pub verbose: bool,
}

/// Lines go to `out`; returns false where pvck would exit with failure.
pub fn run(img: &Image, opts: &Options, out: &mut dyn Write, err: &mut dyn Write) -> Result<bool> {
    let mut p = Printer {
        out,
        err,
        file: None,
    };
    if let Some(f) = &opts.file {
        let fh = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(f)
            .map_err(|e| refused!("Failed to create file {f}: {e}"))?;
        p.file = Some(fh);
    }
    let ok = match opts.dump {
        Some(Dump::Headers) => dump_headers(img, opts, &mut p)?,
        Some(Dump::Metadata) => dump_metadata(img, opts, &mut p, false)?,
        Some(Dump::MetadataAll) => dump_metadata(img, opts, &mut p, true)?,
        Some(Dump::MetadataSearch) => dump_search(img, opts, &mut p)?,
        None => dump_found(img, opts, &mut p)?,
    };
    Ok(ok)
}

struct Printer<'a> {
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
    file: Option<std::fs::File>,
}

impl Printer<'_> {
    /// lvm2's `log_print`: two spaces of indentation on every line.
    fn p(&mut self, s: impl AsRef<str>) -> std::io::Result<()> {
        for line in s.as_ref().split('\n') {
            if line.is_empty() {
                writeln!(self.out)?;
            } else {
                writeln!(self.out, "  {line}")?;
            }
        }
        Ok(())
    }
    fn e(&mut self, s: impl AsRef<str>) -> std::io::Result<()> {
        writeln!(self.err, "  {}", s.as_ref())
    }
}

fn chars(b: &[u8]) -> String {
    b.iter()
        .map(|&c| {
            if (0x20..0x7f).contains(&c) {
                char::from(c)
            } else {
                '?'
            }
        })
        .collect()
}

fn read_at(img: &Image, off: u64, len: usize) -> Option<Vec<u8>> {
    if off.checked_add(len as u64)? > img.size {
        return None;
    }
    img.read(off, len).ok()
}

#[derive(Default)]
struct PvInfo {
    found_label: bool,
    mdas: Vec<(u64, u64)>,
}

/// `_dump_label_and_pv_header`.
fn label_and_pv_header(
    img: &Image,
    opts: &Options,
    p: &mut Printer,
    print: bool,
) -> Result<(bool, PvInfo)> {
    let mut info = PvInfo::default();
    let ls = opts.labelsector;
    let lh_off = ls.saturating_mul(SECTOR_SIZE);
    let Some(sector) = read_at(img, lh_off, 512).and_then(|b| <[u8; 512]>::try_from(b).ok()) else {
        p.p(format!("CHECK: failed to read label_header at {lh_off}"))?;
        return Ok((false, info));
    };
    let lh = RawLabelHeader::decode(&sector);
    let mut bad = 0;
    if print {
        p.p(format!("label_header at {lh_off}"))?;
        p.p(format!("label_header.id {}", chars(&lh.id)))?;
        p.p(format!("label_header.sector {}", lh.sector_xl))?;
        p.p(format!("label_header.crc 0x{:x}", lh.crc_xl))?;
        p.p(format!("label_header.offset {}", lh.offset_xl))?;
        p.p(format!("label_header.type {}", chars(&lh.label_type)))?;
    }
    let good_id = &lh.id == LABEL_ID;
    if !good_id {
        p.p("CHECK: label_header.id expected LABELONE")?;
        bad += 1;
    }
    if lh.sector_xl != ls {
        p.p(format!("CHECK: label_header.sector expected {ls}"))?;
        bad += 1;
    }
    if lh.computed_crc != lh.crc_xl {
        p.p(format!(
            "CHECK: label_header.crc expected 0x{:x}",
            lh.computed_crc
        ))?;
        bad += 1;
    }
    if lh.offset_xl != LABEL_HEADER_SIZE as u32 {
        p.p("CHECK: label_header.offset expected 32")?;
        bad += 1;
    }
    let good_type = &lh.label_type == LVM2_LABEL;
    if !good_type {
        p.p("CHECK: label_header.type expected LVM2 001")?;
        bad += 1;
    }
    info.found_label = good_id && good_type;
    // pvck reads the PV header where lvm2 writes it, whatever offset_xl says.
    let pvh_off = lh_off + LABEL_HEADER_SIZE as u64;
    let ph = RawPvHeader::decode(&sector[LABEL_HEADER_SIZE..]).map_err(|c| {
        lvm_meta::Error::corrupt(Some(&img.path), lvm_meta::Structure::PvHeader, pvh_off, c)
    })?;
    if print {
        p.p(format!("pv_header at {pvh_off}"))?;
        p.p(format!("pv_header.pv_uuid {}", chars(&ph.pv_uuid)))?;
        p.p(format!("pv_header.device_size {}", ph.device_size_xl))?;
    }
    if parse_uuid(std::str::from_utf8(&ph.pv_uuid).unwrap_or("")).is_none() {
        p.p("CHECK: pv_header.pv_uuid invalid format")?;
        bad += 1;
    }
    // The lists; pvck walks them unbounded, lvmsim stops at the sector end.
    let at = |rel: usize| pvh_off + rel as u64;
    let mut di = 0usize;
    let lists = [
        ("data area", false, Some(&ph.data_areas)),
        ("metadata area", true, ph.metadata_areas.as_ref()),
    ];
    for (what, is_mda, list) in lists {
        // The metadata list is missing only when the data list ran past
        // the sector, which returned below.
        let Some(list) = list else { break };
        for (i, l) in list.entries.iter().enumerate() {
            if print {
                p.p(format!(
                    "pv_header.disk_locn[{di}] at {} # location of {what}",
                    at(list.entry_at(i))
                ))?;
                p.p(format!("pv_header.disk_locn[{di}].offset {}", l.offset))?;
                p.p(format!("pv_header.disk_locn[{di}].size {}", l.size))?;
            }
            if is_mda {
                if info.mdas.is_empty() && ![4096, 8192, 65536].contains(&l.offset) {
                    p.p(format!("WARNING: pv_header.disk_locn[{di}].offset {} is unexpected # for first mda", l.offset))?;
                }
                info.mdas.push((l.offset, l.size));
            }
            di += 1;
        }
        let Some(end) = list.terminator else {
            p.p(format!(
                "CHECK: pv_header.disk_locn[{di}] runs past the label sector"
            ))?;
            return Ok((false, info));
        };
        if print {
            p.p(format!(
                "pv_header.disk_locn[{di}] at {} # location list end",
                at(list.entry_at(list.entries.len()))
            ))?;
            p.p(format!("pv_header.disk_locn[{di}].offset {}", end.offset))?;
            p.p(format!("pv_header.disk_locn[{di}].size {}", end.size))?;
        }
        di += 1;
    }
    if print {
        let after_lists = ph.metadata_areas.as_ref().map_or(0, |m| m.end());
        let (ext_at, ver, flags) = ph
            .extension
            .as_ref()
            .map_or((after_lists, 0, 0), |e| (e.at, e.version, e.flags));
        p.p(format!("pv_header_extension at {}", at(ext_at)))?;
        p.p(format!("pv_header_extension.version {ver}"))?;
        p.p(format!("pv_header_extension.flags {flags}"))?;
        let (entries, end, first_at) = match &ph.extension {
            Some(e) => {
                let b = &e.bootloader_areas;
                (b.entries.as_slice(), b.terminator, b.at)
            }
            None => (&[][..], None, ext_at + 8),
        };
        let entry_at = |i: usize| at(first_at + i * DISK_LOCN_SIZE);
        for (bi, l) in entries.iter().enumerate() {
            p.p(format!(
                "pv_header_extension.disk_locn[{bi}] at {} # bootloader area",
                entry_at(bi)
            ))?;
            p.p(format!(
                "pv_header_extension.disk_locn[{bi}].offset {}",
                l.offset
            ))?;
            p.p(format!(
                "pv_header_extension.disk_locn[{bi}].size {}",
                l.size
            ))?;
        }
        // A list that runs off the sector prints as ended with zeros.
        let bi = entries.len();
        let end = end.unwrap_or(DiskLocn { offset: 0, size: 0 });
        p.p(format!(
            "pv_header_extension.disk_locn[{bi}] at {} # location list end",
            entry_at(bi)
        ))?;
        p.p(format!(
            "pv_header_extension.disk_locn[{bi}].offset {}",
            end.offset
        ))?;
        p.p(format!(
            "pv_header_extension.disk_locn[{bi}].size {}",
            end.size
        ))?;
    }
    Ok((bad == 0, info))
}

/// `_dump_mda_header`; returns (ok, checksum of slot 0).
fn mda_header(
    img: &Image,
    p: &mut Printer,
    print: bool,
    what: Option<bool>,
    verbose: bool,
    mda_offset: u64,
    mda_size: u64,
) -> Result<(bool, u32)> {
    let mn = if mda_offset == 4096 { 1 } else { 2 };
    let Some(buf) = read_at(img, mda_offset, MDA_HEADER_SIZE as usize)
        .and_then(|b| <[u8; MDA_HEADER_SIZE as usize]>::try_from(b).ok())
    else {
        p.p(format!("CHECK: failed to read mda_header at {mda_offset}"))?;
        return Ok((false, 0));
    };
    let h = MdaHeader::decode(&buf);
    let mut bad = 0;
    if print {
        p.p(format!("mda_header_{mn} at {mda_offset} # metadata area"))?;
        p.p(format!("mda_header_{mn}.checksum 0x{:x}", h.checksum))?;
        let hex: String = h.magic.iter().map(|c| format!("{c:x}")).collect();
        p.p(format!("mda_header_{mn}.magic 0x{hex}"))?;
        p.p(format!("mda_header_{mn}.version {}", h.version))?;
        p.p(format!("mda_header_{mn}.start {}", h.start))?;
        p.p(format!("mda_header_{mn}.size {}", h.size))?;
    }
    if h.computed_checksum != h.checksum {
        p.p(format!(
            "CHECK: mda_header_{mn}.checksum expected 0x{:x}",
            h.computed_checksum
        ))?;
        bad += 1;
    }
    if &h.magic != FMTT_MAGIC {
        let hex: String = FMTT_MAGIC.iter().map(|c| format!("{c:x}")).collect();
        p.p(format!("CHECK: mda_header_{mn}.magic expected 0x{hex}"))?;
        bad += 1;
    }
    if h.version != FMTT_VERSION {
        p.p(format!(
            "CHECK: mda_header_{mn}.version expected {FMTT_VERSION}"
        ))?;
        bad += 1;
    }
    if h.start != mda_offset {
        p.p(format!(
            "CHECK: mda_header_{mn}.start does not match pv_header.disk_locn.offset {mda_offset}"
        ))?;
        bad += 1;
    }
    if h.size != mda_size {
        p.p(format!(
            "CHECK: mda_header_{mn}.size does not match pv_header.disk_locn.size {mda_size}"
        ))?;
        bad += 1;
    }
    let mut slot0 = (0u64, 0u64, 0u32);
    for ri in 0..2 {
        let r = h.raw_locns[ri];
        let rl_off = mda_offset + (OFF_RAW_LOCNS + RAW_LOCN_SIZE * ri) as u64;
        let wrapped = r.offset.saturating_add(r.size) > mda_size;
        if print {
            let role = if ri == 0 { "commit" } else { "precommit" };
            let w = if wrapped { " wrapped" } else { "" };
            p.p(format!(
                "mda_header_{mn}.raw_locn[{ri}] at {rl_off} # {role}{w}"
            ))?;
            p.p(format!(
                "mda_header_{mn}.raw_locn[{ri}].offset {}",
                r.offset
            ))?;
            p.p(format!("mda_header_{mn}.raw_locn[{ri}].size {}", r.size))?;
            p.p(format!(
                "mda_header_{mn}.raw_locn[{ri}].checksum 0x{:x}",
                r.checksum
            ))?;
            if r.flags & RAW_LOCN_IGNORED != 0 {
                p.p(format!(
                    "mda_header_{mn}.raw_locn[{ri}].flags 0x{:x} # RAW_LOCN_IGNORED",
                    r.flags
                ))?;
            } else {
                p.p(format!(
                    "mda_header_{mn}.raw_locn[{ri}].flags 0x{:x}",
                    r.flags
                ))?;
            }
        }
        if ri == 1 && r.offset != 0 {
            p.p(format!(
                "CHECK: mda_header_{mn}.raw_locn[{ri}] for precommit not empty"
            ))?;
        }
        if r.flags & RAW_LOCN_IGNORED != 0 {
            continue;
        }
        let mut size = r.size;
        if size > mda_size.saturating_sub(MDA_HEADER_SIZE) {
            p.p(format!(
                "CHECK: mda_header_{mn}.raw_locn[{ri}].size larger than metadata area size"
            ))?;
            size = mda_size.saturating_sub(MDA_HEADER_SIZE);
        }
        if ri == 0 {
            slot0 = (r.offset, size, r.checksum);
        }
    }
    let (meta_offset, meta_size, meta_checksum) = slot0;
    if meta_offset != 0 {
        match what {
            Some(false) | None => {
                if !current_text(
                    img,
                    p,
                    print,
                    what.is_some(),
                    mn,
                    mda_offset,
                    mda_size,
                    slot0,
                )? {
                    bad += 1;
                }
            }
            Some(true) => {
                if mda_size > MAX_AREA_SCAN {
                    p.p(format!("CHECK: failed to read metadata area at offset {mda_offset} size {mda_size}"))?;
                    bad += 1;
                } else {
                    match read_area_bytes(img, mda_offset, mda_size) {
                        Ok(area) => all_text(p, verbose, mda_offset, &area)?,
                        Err(_) => {
                            p.p(format!("CHECK: failed to read metadata area at offset {mda_offset} size {mda_size}"))?;
                            bad += 1;
                        }
                    }
                }
            }
        }
        let _ = (meta_size, meta_checksum);
    }
    Ok((bad == 0, meta_checksum))
}

#[allow(clippy::too_many_arguments)]
fn current_text(
    img: &Image,
    p: &mut Printer,
    print_fields: bool,
    print_metadata: bool,
    mn: u32,
    mda_offset: u64,
    mda_size: u64,
    (meta_offset, meta_size, meta_checksum): (u64, u64, u32),
) -> Result<bool> {
    let mut bad = 0;
    if meta_size > MAX_TEXT_SIZE {
        p.p(format!(
            "CHECK: mda_header_{mn}.raw_locn[0] no mem for metadata text size {meta_size}"
        ))?;
        return Ok(false);
    }
    let text = if meta_offset.saturating_add(meta_size) > mda_size {
        let wrap = meta_offset + meta_size - mda_size;
        let size_a = meta_size - wrap;
        let a = read_at(img, mda_offset + meta_offset, size_a as usize);
        let b = read_at(img, mda_offset + MDA_HEADER_SIZE, wrap as usize);
        match (a, b) {
            (Some(mut a), Some(b)) => {
                a.extend_from_slice(&b);
                a
            }
            _ => {
                p.p(format!("CHECK: failed to read metadata text at mda_header_{mn}.raw_locn[0].offset {meta_offset} size {meta_size}"))?;
                return Ok(false);
            }
        }
    } else {
        match read_at(img, mda_offset + meta_offset, meta_size as usize) {
            Some(t) => t,
            None => {
                p.p(format!("CHECK: failed to read metadata text at mda_header_{mn}.raw_locn[0].offset {meta_offset} size {meta_size}"))?;
                return Ok(false);
            }
        }
    };
    let crc = lvm_crc(&text);
    if crc != meta_checksum {
        p.p(format!(
            "CHECK: metadata text at {} crc does not match mda_header_{mn}.raw_locn[0].checksum",
            mda_offset + meta_offset
        ))?;
        bad += 1;
    }
    let (vgname, seqno) = match text::parse(&text) {
        Ok(t) => {
            let first = t.nodes.first();
            let name = first.map(|n| n.key().to_owned());
            let seqno = match first {
                Some(text::Node::Section { children, .. }) => {
                    match text::Lookup::value(children.as_slice(), "seqno") {
                        Some(text::Value::Int(v)) => *v as u32,
                        _ => 0,
                    }
                }
                _ => 0,
            };
            (name, seqno)
        }
        Err(_) => {
            p.p(format!(
                "CHECK: failed to parse metadata text at {} size {meta_size}",
                mda_offset + meta_offset
            ))?;
            bad += 1;
            (None, 0)
        }
    };
    if print_fields || print_metadata {
        p.p(format!(
            "metadata text at {} crc 0x{crc:x} # vgname {} seqno {seqno}",
            mda_offset + meta_offset,
            vgname.as_deref().unwrap_or("?")
        ))?;
    }
    if print_metadata {
        let end = text.iter().position(|&c| c == 0).unwrap_or(text.len());
        match p.file.as_mut() {
            Some(f) => f.write_all(&text[..end])?,
            None => {
                p.p("---")?;
                p.out.write_all(&text[..end])?;
                p.out.write_all(b"\n")?;
                p.p("---")?;
            }
        }
    }
    Ok(bad == 0)
}

/// `_dump_all_text`: one line per copy found in the area.
fn all_text(p: &mut Printer, verbose: bool, mda_offset: u64, area: &[u8]) -> Result<()> {
    let copies: Vec<FoundCopy> = scan_copies(area, mda_offset);
    let mut first_id: Option<&str> = None;
    let mut multiple = false;
    for (i, c) in copies.iter().enumerate() {
        p.p(format!(
            "metadata at {} length {} crc {:08x} vg {} seqno {} id {}",
            c.offset,
            c.text.len(),
            c.crc,
            c.vg_name,
            c.seqno,
            c.id
        ))?;
        match first_id {
            None => first_id = Some(&c.id),
            Some(f) if f != c.id => multiple = true,
            _ => {}
        }
        if text::parse(&c.text).is_err() {
            p.e(format!("WARNING: parse error for metadata at {}", c.offset))?;
        }
        if c.bad_end {
            p.e(format!(
                "WARNING: unexpected terminating bytes for metadata at {}",
                c.offset
            ))?;
        }
        if verbose {
            let t = String::from_utf8_lossy(&c.text[..c.text.len().saturating_sub(1)]).into_owned();
            if let Some(d) = t.find("description = ") {
                let line = t[d..].lines().next().unwrap_or("");
                p.p(line)?;
                if let Some(ct) = t[d..].find("creation_time = ") {
                    let line = t[d + ct..].lines().next().unwrap_or("");
                    p.p(format!("{line}\n"))?;
                }
            }
        }
        if let Some(f) = p.file.as_mut() {
            if i > 0 {
                f.write_all(b"\n--\n")?;
            }
            let end = c.text.iter().position(|&x| x == 0).unwrap_or(c.text.len());
            f.write_all(&c.text[..end])?;
        }
    }
    if multiple {
        p.e("WARNING: metadata from multiple VGs was found.")?;
    }
    Ok(())
}

fn dump_headers(img: &Image, opts: &Options, p: &mut Printer) -> Result<bool> {
    let (mut ok, info) = label_and_pv_header(img, opts, p, true)?;
    if info.mdas.is_empty() {
        p.p("zero metadata copies")?;
        return Ok(true);
    }
    let (o1, c1) = mda_header(img, p, true, None, false, info.mdas[0].0, info.mdas[0].1)?;
    ok &= o1;
    if let Some(&(off2, size2)) = info.mdas.get(1) {
        let (o2, c2) = mda_header(img, p, true, None, false, off2, size2)?;
        ok &= o2;
        if c1 != 0 && c2 != 0 && c1 != c2 {
            p.p("CHECK: mdas have different raw_locn[0].checksum values")?;
        }
    }
    if !ok {
        p.e("Found bad header or metadata values.")?;
    }
    Ok(ok)
}

fn dump_metadata(img: &Image, opts: &Options, p: &mut Printer, all: bool) -> Result<bool> {
    let (mut ok, info) = label_and_pv_header(img, opts, p, false)?;
    if info.mdas.is_empty() {
        p.p("zero metadata copies")?;
        return Ok(true);
    }
    let n = opts.mda_num.unwrap_or(1);
    match info.mdas.get(n.saturating_sub(1) as usize) {
        Some(&(o, s)) if n == 1 || n == 2 => {
            ok &= mda_header(img, p, false, Some(all), opts.verbose, o, s)?.0;
        }
        _ => {
            p.p("CHECK: second mda not found")?;
            ok = false;
        }
    }
    if !ok {
        p.e("Found bad header or metadata values.")?;
    }
    Ok(ok)
}

fn dump_search(img: &Image, opts: &Options, p: &mut Printer) -> Result<bool> {
    let (_, info) = label_and_pv_header(img, opts, p, false)?;
    let found = info.found_label;
    let mda_num = opts.mda_num.unwrap_or(1);
    let one_mb = 1u64 << 20;
    let (mda_offset, mda_size) = match (opts.mda_offset, opts.mda_size) {
        (Some(o), Some(s)) => (o, s),
        (Some(o), None) => (
            o,
            if mda_num == 1 {
                one_mb - 4096
            } else {
                img.size.saturating_sub(o)
            },
        ),
        (None, Some(s)) => (
            if mda_num == 1 {
                4096
            } else {
                img.size.saturating_sub(s)
            },
            s,
        ),
        (None, None) => {
            let hdr = info.mdas.get(mda_num.saturating_sub(1) as usize).copied();
            match (mda_num, found, hdr) {
                (1 | 2, true, Some(h)) => h,
                (1, _, _) => {
                    p.p(format!(
                        "Using common defaults for first mda: offset 4096 size {}.",
                        one_mb - 4096
                    ))?;
                    p.p(
                        "Override defaults with --settings \"mda_offset=<bytes> mda_size=<bytes>\"",
                    )?;
                    (4096, one_mb - 4096)
                }
                (2, _, _) => {
                    let dev = img.size / 512 * 512;
                    if dev < 2 * one_mb {
                        return Ok(false);
                    }
                    let o = dev - dev % one_mb - one_mb;
                    p.p(format!(
                        "Using defaults for second mda: offset {o} size {}.",
                        dev - o
                    ))?;
                    p.p(
                        "Override defaults with --settings \"mda_offset=<bytes> mda_size=<bytes>\"",
                    )?;
                    (o, dev - o)
                }
                _ => {
                    p.e("No mda location.")?;
                    return Ok(false);
                }
            }
        }
    };
    if let Some(&(ho, hs)) = info.mdas.get(mda_num.saturating_sub(1) as usize) {
        if (ho != mda_offset) || (hs != mda_size) {
            p.p(format!(
                "Ignoring mda{mda_num}_offset {ho} mda{mda_num}_size {hs} from pv_header."
            ))?;
        }
    }
    p.p(format!(
        "Searching for metadata at offset {mda_offset} size {mda_size}"
    ))?;
    match read_area_bytes(img, mda_offset, mda_size) {
        Ok(area) => {
            all_text(p, opts.verbose, mda_offset, &area)?;
            Ok(true)
        }
        Err(_) => {
            p.p(format!(
                "CHECK: failed to read metadata area at offset {mda_offset} size {mda_size}"
            ))?;
            Ok(false)
        }
    }
}

fn dump_found(img: &Image, opts: &Options, p: &mut Printer) -> Result<bool> {
    let (mut ok, info) = label_and_pv_header(img, opts, p, false)?;
    let mut found_headers = Vec::new();
    if info.found_label {
        for &(o, s) in &info.mdas {
            let (good, _) = mda_header(img, p, false, None, false, o, s)?;
            ok &= good;
            let magic_ok = read_at(img, o + OFF_MAGIC as u64, FMTT_MAGIC.len())
                .is_some_and(|m| m == FMTT_MAGIC);
            if magic_ok {
                found_headers.push((o, s));
            }
        }
        p.p(format!(
            "Found label on {}, sector {}, type=LVM2 001",
            img.path, opts.labelsector
        ))?;
    } else {
        p.e(format!("Could not find LVM label on {}", img.path))?;
        return Ok(false);
    }
    for (o, s) in found_headers {
        p.p(format!("Found text metadata area: offset={o}, size={s}"))?;
    }
    Ok(ok)
}
