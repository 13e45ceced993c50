//! `lvmsim map`: pictures (SVG) for teaching.
//!
//! - `map VG`: each PV as a bar of its physical extents, every run of an
//!   LV's extents coloured by LV (a snapshot in a lighter shade of its
//!   origin's colour, listed beside it in the legend), free extents grey;
//! - `map VG/SNAP`: the snapshot's COW as a grid of chunks, from
//!   [`crate::cowdump`]: the header, the metadata areas, the chunks holding
//!   an origin chunk's old data (the tooltip names it), chunks allocated but
//!   listed by no record, and free chunks. The store cannot tell a chunk
//!   copied by an origin write from one a snapshot write filled: both are
//!   one record (`old -> new`), so both are drawn as "holds origin chunk".
//!
//! Every shape carries a `class` (its kind) and a `data-count` (extents
//! or chunks it stands for), so a program can read the picture back.

use crate::cowdump::{dump, CowDump};
use crate::error::Result;
use lvm_meta::model::{Area as PvArea, SegmentKind, Vg};
use lvm_meta::scan::System;
use std::fmt::Write as _;

/// Most chunks drawn one by one; past it the free tail is one band and a
/// larger store is refused (a picture of a million cells helps nobody).
pub const MAX_CELLS: u64 = 65_536;

/// Stores of at most this many chunks are drawn chunk by chunk, free
/// ones included.
const WHOLE_GRID: u64 = 4096;
/// Cells per row of a COW grid.
const ROW: u64 = 64;
/// Cell side, pixels.
const CELL: u64 = 12;
/// Width of a PV bar, pixels.
const BAR: f64 = 900.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Draws `VG` or `VG/SNAP` (the latter from metadata copy `seqno` if
/// given).
///
/// # Errors
/// No such VG or LV; a store that cannot be read, or is too large to draw.
pub fn draw(
    sys: &System,
    target: &str,
    seqno: Option<u32>,
    scan_all: bool,
    progress: bool,
) -> Result<String> {
    if target.contains('/') {
        let d = dump(sys, target, seqno, scan_all, progress)?;
        return cow_svg(&d);
    }
    let vgn = crate::names::vg_arg(target)?;
    let inst = sys.vg_or_err(&vgn)?;
    Ok(vg_svg(&inst.vg))
}

/// The kind of one COW chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkKind {
    /// Chunk 0.
    Header,
    /// A metadata area.
    Area,
    /// Holds an origin chunk's data (a record points at it).
    Exception,
    /// Below the next free chunk, but no record points at it (a merged
    /// or never-committed chunk).
    Unlisted,
    /// Not yet allocated.
    Free,
}

impl ChunkKind {
    /// The `class` in the SVG.
    pub fn class(self) -> &'static str {
        match self {
            ChunkKind::Header => "header",
            ChunkKind::Area => "area",
            ChunkKind::Exception => "exception",
            ChunkKind::Unlisted => "unlisted",
            ChunkKind::Free => "free",
        }
    }
    fn colour(self) -> &'static str {
        match self {
            ChunkKind::Header => "#444444",
            ChunkKind::Area => "#d98c1f",
            ChunkKind::Exception => "#3a7bd5",
            ChunkKind::Unlisted => "#b8c7dd",
            ChunkKind::Free => "#eeeeee",
        }
    }
    fn label(self) -> &'static str {
        match self {
            ChunkKind::Header => "header (chunk 0)",
            ChunkKind::Area => "metadata area (exception records)",
            ChunkKind::Exception => "holds an origin chunk's old data (or a snapshot write)",
            ChunkKind::Unlisted => "allocated, listed by no record",
            ChunkKind::Free => "free",
        }
    }
}

/// The kind of every chunk below `limit`, with the origin chunk each
/// exception holds.
pub fn chunk_kinds(d: &CowDump, limit: u64) -> Vec<(ChunkKind, Option<u64>)> {
    let mut v = vec![(ChunkKind::Free, None); limit as usize];
    for (c, slot) in v.iter_mut().enumerate() {
        if (c as u64) < d.next_free {
            *slot = (ChunkKind::Unlisted, None);
        }
    }
    let e1 = d.exceptions_per_area + 1;
    for (c, slot) in v.iter_mut().enumerate() {
        let c = c as u64;
        if c == 0 {
            *slot = (ChunkKind::Header, None);
        } else if c % e1 == 1 && (c / e1) <= d.areas.last().map_or(0, |a| a.index) {
            *slot = (ChunkKind::Area, None);
        }
    }
    for r in &d.records {
        if let Some(slot) = v.get_mut(r.new as usize) {
            *slot = (ChunkKind::Exception, Some(r.old));
        }
    }
    v
}

fn cow_svg(d: &CowDump) -> Result<String> {
    let chunks = d.cow_chunks;
    // The cells drawn one by one: everything allocated, every record's
    // chunk, every area; the free tail after that is one band.
    let last_used = d
        .records
        .iter()
        .map(|r| r.new + 1)
        .chain(d.areas.iter().filter(|a| a.inside).map(|a| a.chunk + 1))
        .chain([d.next_free.min(chunks), 1])
        .max()
        .unwrap_or(1)
        .min(chunks);
    // A small store is drawn whole; a large one up to the row holding
    // its last used chunk.
    let cells = if chunks <= WHOLE_GRID {
        chunks
    } else {
        (last_used.div_ceil(ROW) * ROW).min(chunks)
    };
    if cells > MAX_CELLS {
        return Err(crate::error::refused!(
            "{}/{}: {cells} chunks in use is more than the {MAX_CELLS} a picture draws",
            d.vg,
            d.snapshot
        ));
    }
    let kinds = chunk_kinds(d, cells);
    let rows = cells.div_ceil(ROW);
    let tail = chunks - cells;
    let top = 60u64;
    let grid_h = rows * CELL;
    let band_h = if tail > 0 { 3 * CELL } else { 0 };
    let legend_y = top + grid_h + band_h + 30;
    let width = (ROW * CELL + 40).max(560);
    let height = legend_y + 5 * 20 + 20;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        s,
        "<title>{}/{}: COW of {} chunks of {} bytes</title>",
        esc(&d.vg),
        esc(&d.snapshot),
        chunks,
        d.chunk_bytes()
    );
    let _ = writeln!(
        s,
        r#"<text x="20" y="22" font-size="15">{}/{} (snapshot of {}): {} chunks of {} KiB, {} records, next free chunk {}</text>"#,
        esc(&d.vg),
        esc(&d.snapshot),
        esc(&d.origin),
        chunks,
        d.chunk_bytes() / 1024,
        d.records.len(),
        d.next_free
    );
    let _ = writeln!(
        s,
        r#"<text x="20" y="42">dmsetup status {}; Data% {}{}</text>"#,
        d.status_text(),
        d.data_percent(),
        if d.kernel_reads {
            ""
        } else {
            " (invalid store: the kernel ignores these records)"
        }
    );
    for (c, (k, old)) in kinds.iter().enumerate() {
        let c = c as u64;
        let x = 20 + (c % ROW) * CELL;
        let y = top + (c / ROW) * CELL;
        let tip = match (k, old) {
            (ChunkKind::Exception, Some(o)) => format!("COW chunk {c}: origin chunk {o}"),
            (ChunkKind::Area, _) => {
                let a = (c - 1) / (d.exceptions_per_area + 1);
                let n = d
                    .areas
                    .iter()
                    .find(|x| x.index == a)
                    .map_or(0, |x| x.records);
                format!("COW chunk {c}: metadata area {a}, {n} records")
            }
            (k, _) => format!("COW chunk {c}: {}", k.label()),
        };
        let _ = writeln!(
            s,
            r##"<rect class="{}" data-count="1" x="{x}" y="{y}" width="{}" height="{}" fill="{}" stroke="#ffffff" stroke-width="1"><title>{}</title></rect>"##,
            k.class(),
            CELL,
            CELL,
            k.colour(),
            esc(&tip)
        );
    }
    if tail > 0 {
        let y = top + grid_h + 6;
        let _ = writeln!(
            s,
            r##"<rect class="free" data-count="{tail}" x="20" y="{y}" width="{}" height="{}" fill="{}" stroke="#cccccc"><title>COW chunks {cells}..{}: free</title></rect>"##,
            ROW * CELL,
            2 * CELL,
            ChunkKind::Free.colour(),
            chunks - 1
        );
        let _ = writeln!(
            s,
            r#"<text x="26" y="{}">{tail} more free chunks ({cells}..{})</text>"#,
            y + CELL + 4,
            chunks - 1
        );
    }
    for (i, k) in [
        ChunkKind::Header,
        ChunkKind::Area,
        ChunkKind::Exception,
        ChunkKind::Unlisted,
        ChunkKind::Free,
    ]
    .iter()
    .enumerate()
    {
        let y = legend_y + i as u64 * 20;
        let _ = writeln!(
            s,
            r##"<rect class="legend" x="20" y="{y}" width="12" height="12" fill="{}" stroke="#999999"/><text x="40" y="{}">{}</text>"##,
            k.colour(),
            y + 11,
            esc(k.label())
        );
    }
    s.push_str("</svg>\n");
    Ok(s)
}

/// One run of a PV's extents.
struct Run {
    pv: usize,
    first: u64,
    count: u64,
    lv: Option<usize>,
    lv_first: u64,
}

fn runs(vg: &Vg) -> Vec<Run> {
    let mut out = Vec::new();
    for (li, l) in vg.lvs.iter().enumerate() {
        for sg in &l.segments {
            let SegmentKind::Striped { stripes, .. } = &sg.kind else {
                continue;
            };
            let n = stripes.len().max(1) as u64;
            let per = u64::from(sg.extent_count) / n;
            for (k, a) in stripes.iter().enumerate() {
                if let PvArea::Pv { pv, pe } = a {
                    out.push(Run {
                        pv: *pv,
                        first: u64::from(*pe),
                        count: per,
                        lv: Some(li),
                        lv_first: u64::from(sg.start_extent) + if n == 1 { 0 } else { k as u64 },
                    });
                }
            }
        }
    }
    // Free runs: what no LV holds.
    for (pi, p) in vg.pvs.iter().enumerate() {
        let mut used: Vec<(u64, u64)> = out
            .iter()
            .filter(|r| r.pv == pi)
            .map(|r| (r.first, r.first + r.count))
            .collect();
        used.sort();
        let mut at = 0u64;
        let total = u64::from(p.pe_count);
        for (s, e) in used.into_iter().chain([(total, total)]) {
            if s > at {
                out.push(Run {
                    pv: pi,
                    first: at,
                    count: s - at,
                    lv: None,
                    lv_first: 0,
                });
            }
            at = at.max(e);
        }
    }
    out
}

/// The LVs in legend order (each origin followed by its snapshots; glue
/// LVs left out) and each one's colour.
fn lv_colours(vg: &Vg) -> Vec<(usize, String)> {
    let mut order = Vec::new();
    let mut hue = 0u32;
    for (li, l) in vg.lvs.iter().enumerate() {
        if l.is_snapshot_glue() || vg.roles[li].cow_of.is_some() {
            continue;
        }
        order.push((li, format!("hsl({hue},65%,45%)")));
        let mut shade = 0;
        for (sj, r) in vg.roles.iter().enumerate() {
            if r.cow_of.is_some_and(|c| c.origin == li) {
                shade += 1;
                let light = (62 + 8 * shade).min(88);
                order.push((sj, format!("hsl({hue},65%,{light}%)")));
            }
        }
        hue = (hue + 137) % 360;
    }
    // Snapshots whose origin is not in the VG's LV list (none expected).
    for (li, l) in vg.lvs.iter().enumerate() {
        if !l.is_snapshot_glue() && !order.iter().any(|(i, _)| *i == li) {
            order.push((li, "hsl(0,0%,30%)".to_owned()));
        }
    }
    order
}

fn vg_svg(vg: &Vg) -> String {
    let colours = lv_colours(vg);
    let colour = |li: usize| {
        colours
            .iter()
            .find(|(i, _)| *i == li)
            .map_or("#000000".to_owned(), |(_, c)| c.clone())
    };
    let runs = runs(vg);
    let ext_kib = vg.extent_bytes() / 1024;
    let top = 50.0;
    let row_h = 60.0;
    let legend_y = top + row_h * vg.pvs.len() as f64 + 10.0;
    let height = legend_y + 20.0 * (colours.len() + 1) as f64 + 20.0;
    let width = BAR + 200.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, "<title>VG {}: extents by LV</title>", esc(&vg.name));
    let _ = writeln!(
        s,
        r#"<text x="20" y="24" font-size="15">VG {}: {} PVs, extents of {} KiB</text>"#,
        esc(&vg.name),
        vg.pvs.len(),
        ext_kib
    );
    for (pi, p) in vg.pvs.iter().enumerate() {
        let y = top + pi as f64 * row_h;
        let total = u64::from(p.pe_count).max(1);
        let scale = BAR / total as f64;
        let name = p.device.clone().unwrap_or_else(|| p.key.clone());
        let _ = writeln!(
            s,
            r#"<text x="20" y="{:.1}">{} ({}): {} extents</text>"#,
            y + 12.0,
            esc(&p.key),
            esc(&name),
            p.pe_count
        );
        for r in runs.iter().filter(|r| r.pv == pi) {
            let x = 20.0 + r.first as f64 * scale;
            let w = (r.count as f64 * scale).max(0.5);
            let last = r.first + r.count - 1;
            let (class, fill, tip) = match r.lv {
                Some(li) => {
                    let l = &vg.lvs[li];
                    let role = match vg.roles[li].cow_of {
                        Some(c) => format!(" (snapshot of {})", vg.lvs[c.origin].name),
                        None if !vg.roles[li].origin_of.is_empty() => " (origin)".to_owned(),
                        None => String::new(),
                    };
                    (
                        format!("lv lv-{}", esc(&l.name)),
                        colour(li),
                        format!(
                            "{}/{}{role}: PV extents {}..{} = LV extents {}..{}",
                            vg.name,
                            l.name,
                            r.first,
                            last,
                            r.lv_first,
                            r.lv_first + r.count - 1
                        ),
                    )
                }
                None => (
                    "free".to_owned(),
                    "#eeeeee".to_owned(),
                    format!("free: PV extents {}..{}", r.first, last),
                ),
            };
            let _ = writeln!(
                s,
                r##"<rect class="{class}" data-count="{}" x="{x:.2}" y="{:.1}" width="{w:.2}" height="28" fill="{fill}" stroke="#ffffff" stroke-width="0.5"><title>{}</title></rect>"##,
                r.count,
                y + 18.0,
                esc(&tip)
            );
        }
    }
    for (i, (li, c)) in colours.iter().enumerate() {
        let y = legend_y + i as f64 * 20.0;
        let l = &vg.lvs[*li];
        let (indent, what) = match vg.roles[*li].cow_of {
            Some(cw) => (
                20.0,
                format!(
                    " (snapshot of {}, chunk {} KiB)",
                    vg.lvs[cw.origin].name,
                    cw.chunk_size.0 / 2
                ),
            ),
            None if !vg.roles[*li].origin_of.is_empty() => (0.0, " (origin)".to_owned()),
            None => (0.0, String::new()),
        };
        let _ = writeln!(
            s,
            r##"<rect class="legend" x="{:.1}" y="{y:.1}" width="12" height="12" fill="{c}" stroke="#999999"/><text x="{:.1}" y="{:.1}">{}{}: {} extents</text>"##,
            20.0 + indent,
            40.0 + indent,
            y + 11.0,
            esc(&l.name),
            esc(&what),
            vg.lv_extents(l)
        );
    }
    let y = legend_y + colours.len() as f64 * 20.0;
    let _ = writeln!(
        s,
        r##"<rect class="legend" x="20" y="{y:.1}" width="12" height="12" fill="#eeeeee" stroke="#999999"/><text x="40" y="{:.1}">free</text>"##,
        y + 11.0
    );
    s.push_str("</svg>\n");
    s
}
