//! `lvmsim plot`: `Data%` of a snapshot over the writes of a workload.
//!
//! The workload (a `plan` trace or the difference of two images) is
//! replayed through [`crate::plan::replay_steps`], the replay `plan` runs,
//! against a COW of `-L` bytes for each chunk size. After each write the
//! snapshot's status gives the `Data%` lvm2's `lvs` would print then
//! ([`crate::active::snapshot_percent`]: used chunks, metadata included,
//! over the COW's chunks; `100.00` once the snapshot is invalid).
//!
//! The result is an SVG line chart (x: write number, 0 for the moment the
//! snapshot is taken; y: `Data%`), one polyline per chunk size, a marker
//! where a snapshot is invalidated, a tooltip on every point; or the same
//! numbers as CSV: `write,chunk,data_percent,valid` with the chunk size in
//! bytes and `valid` as `true`/`false`.
//!
//! Shapes carry a `class` (`series`, `point`, `invalid`) and a
//! `data-chunk` (chunk size in bytes), so a program can read the chart
//! back; an `invalid` marker also has `data-write`.

use crate::active::{snapshot_percent, SnapStatus};
use crate::error::{Error, Result};
use crate::plan::{bytes, replay_steps, Workload, Write1};
use std::fmt::Write as _;
use std::path::PathBuf;

/// Most writes a chart shows (each is one point with a tooltip per chunk
/// size; a longer workload makes an SVG no browser draws in time).
pub const MAX_WRITES: usize = 100_000;

/// Options of `lvmsim plot` (sizes as lvm2 size arguments).
#[derive(Debug, Clone, Default)]
pub struct PlotOpts {
    /// `--origin-size`.
    pub origin_size: String,
    /// `--chunk`: comma-separated chunk sizes.
    pub chunks: String,
    /// `--trace FILE`.
    pub trace: Option<PathBuf>,
    /// `--diff OLD NEW`.
    pub diff: Option<Vec<PathBuf>>,
    /// `-s`: the VG's extent size (`-L` is rounded up to whole extents).
    pub extent_size: String,
    /// `-L`: the snapshot's COW size.
    pub size: String,
    /// CSV instead of SVG.
    pub csv: bool,
}

/// `Data%` of one snapshot, write by write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    /// Chunk size in bytes.
    pub chunk_bytes: u64,
    /// The status before any write (index 0) and after each write; after
    /// the invalidating write every entry is `Invalid`, as the kernel
    /// keeps it.
    pub status: Vec<SnapStatus>,
    /// The 1-based write that invalidated the snapshot, if one did.
    pub invalidated_at: Option<usize>,
}

impl Series {
    /// `Data%` as `lvs` prints it after write `n` (0: before any).
    ///
    /// # Panics
    /// `n` past the last write.
    pub fn data_percent(&self, n: usize) -> String {
        snapshot_percent(self.status[n])
    }
}

/// Replays `writes` against a COW of `cow_bytes` with chunk
/// `chunk_bytes`.
///
/// # Errors
/// The engine's failures.
pub fn series(origin: u64, chunk_bytes: u64, cow_bytes: u64, writes: &[Write1]) -> Result<Series> {
    let mut status = Vec::with_capacity(writes.len() + 1);
    let r = replay_steps(
        origin,
        chunk_bytes,
        cow_bytes,
        writes,
        None,
        &mut |_, st| {
            status.push(st);
        },
    )?;
    status.resize(writes.len() + 1, SnapStatus::Invalid);
    Ok(Series {
        chunk_bytes,
        status,
        invalidated_at: r.invalidated_at,
    })
}

/// The series as CSV (`write,chunk,data_percent,valid`), chunk sizes in
/// turn.
pub fn csv(series: &[Series]) -> String {
    let mut out = String::from("write,chunk,data_percent,valid\n");
    for s in series {
        for (n, st) in s.status.iter().enumerate() {
            let _ = writeln!(
                out,
                "{n},{},{},{}",
                s.chunk_bytes,
                snapshot_percent(*st),
                *st != SnapStatus::Invalid
            );
        }
    }
    out
}

fn chunk_name(b: u64) -> String {
    format!("{}k", b / 1024)
}

/// Colours of the series, in turn.
const COLOURS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf",
];

/// Chart geometry, pixels.
const WIDTH: f64 = 820.0;
const HEIGHT: f64 = 440.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 200.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;

/// A tick step of 1, 2 or 5 times a power of ten giving at most 10 ticks
/// over `0..=max`.
fn tick_step(max: usize) -> usize {
    let mut step = 1;
    loop {
        for m in [1, 2, 5] {
            if max / (step * m) <= 10 {
                return step * m;
            }
        }
        step *= 10;
    }
}

/// The chart of `series` for a COW of `cow_bytes` on an origin of
/// `origin` bytes; the x axis runs to the longest series.
pub fn svg(series: &[Series], origin: u64, cow_bytes: u64) -> String {
    let writes = series
        .iter()
        .map(|s| s.status.len().saturating_sub(1))
        .max()
        .unwrap_or(0);
    let pw = WIDTH - LEFT - RIGHT;
    let ph = HEIGHT - TOP - BOTTOM;
    let x = |n: usize| LEFT + pw * n as f64 / writes.max(1) as f64;
    let y = |p: f64| TOP + ph * (1.0 - p / 100.0);
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        o,
        r#"<text x="{LEFT}" y="24" font-size="15">Data% of a {cow_bytes}-byte snapshot over {writes} writes (origin {origin} bytes)</text>"#
    );
    // Axes, grid and ticks.
    for p in (0..=100).step_by(20) {
        let yy = y(f64::from(p));
        let _ = writeln!(
            o,
            r##"<line class="grid" x1="{LEFT}" y1="{yy}" x2="{}" y2="{yy}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{p}</text>"##,
            LEFT + pw,
            LEFT - 6.0,
            yy + 4.0
        );
    }
    let step = tick_step(writes);
    for n in (0..=writes).step_by(step) {
        let xx = x(n);
        let _ = writeln!(
            o,
            r#"<line class="tick" x1="{xx}" y1="{}" x2="{xx}" y2="{}" stroke="black"/><text x="{xx}" y="{}" text-anchor="middle">{n}</text>"#,
            TOP + ph,
            TOP + ph + 5.0,
            TOP + ph + 18.0
        );
    }
    let _ = writeln!(
        o,
        r#"<path class="axis" d="M{LEFT},{TOP} V{} H{}" fill="none" stroke="black"/>"#,
        TOP + ph,
        LEFT + pw
    );
    let _ = writeln!(
        o,
        r#"<text x="{}" y="{}" text-anchor="middle">write number</text>"#,
        LEFT + pw / 2.0,
        HEIGHT - 14.0
    );
    let _ = writeln!(
        o,
        r#"<text transform="translate(18,{}) rotate(-90)" text-anchor="middle">Data% (as lvs prints it)</text>"#,
        TOP + ph / 2.0
    );
    // Dots are drawn when they can be told apart; else only hovered.
    let dot_opacity = if writes <= 120 { "0.8" } else { "0" };
    for (k, s) in series.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let c = s.chunk_bytes;
        let pct: Vec<f64> = (0..s.status.len())
            .map(|n| s.data_percent(n).parse().unwrap_or(100.0))
            .collect();
        let points: Vec<String> = pct
            .iter()
            .enumerate()
            .map(|(n, p)| format!("{:.2},{:.2}", x(n), y(*p)))
            .collect();
        let _ = writeln!(
            o,
            r#"<polyline class="series" data-chunk="{c}" points="{}" fill="none" stroke="{colour}" stroke-width="1.5"/>"#,
            points.join(" ")
        );
        let _ = writeln!(
            o,
            r#"<g class="points" data-chunk="{c}" fill="{colour}" fill-opacity="{dot_opacity}">"#
        );
        for (n, p) in pct.iter().enumerate() {
            let state = if s.status[n] == SnapStatus::Invalid {
                " (invalid)"
            } else {
                ""
            };
            let _ = writeln!(
                o,
                r#"<circle class="point" data-chunk="{c}" cx="{:.2}" cy="{:.2}" r="2.5"><title>chunk {}: write {n}: Data% {}{state}</title></circle>"#,
                x(n),
                y(*p),
                chunk_name(c),
                s.data_percent(n)
            );
        }
        let _ = writeln!(o, "</g>");
        if let Some(n) = s.invalidated_at {
            // A cross on the 100% line; its label below it, on the side
            // with room, one line down per series.
            let (xx, yy) = (x(n), y(100.0));
            let (lx, anchor) = if xx < LEFT + pw / 2.0 {
                (xx + 8.0, "start")
            } else {
                (xx - 8.0, "end")
            };
            let _ = writeln!(
                o,
                r#"<g class="invalid" data-chunk="{c}" data-write="{n}"><path d="M{},{} l10,10 m0,-10 l-10,10" stroke="{colour}" stroke-width="2.5"/><text x="{lx}" y="{}" text-anchor="{anchor}" fill="{colour}" stroke="white" stroke-width="3" paint-order="stroke">{}: invalid at write {n}</text><title>chunk {}: invalid at write {n}</title></g>"#,
                xx - 5.0,
                yy - 5.0,
                yy + 20.0 + 15.0 * k as f64,
                chunk_name(c),
                chunk_name(c)
            );
        }
        // Legend.
        let ly = TOP + 10.0 + 36.0 * k as f64;
        let lx = LEFT + pw + 20.0;
        let fate = match s.invalidated_at {
            Some(n) => format!("invalid at write {n}"),
            None => format!(
                "survives, Data% {}",
                snapshot_percent(s.status.last().copied().unwrap_or(SnapStatus::Invalid))
            ),
        };
        let _ = writeln!(
            o,
            r#"<g class="legend" data-chunk="{c}"><line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{colour}" stroke-width="3"/><text x="{}" y="{}">chunk {}</text><text x="{}" y="{}" font-size="11">{fate}</text></g>"#,
            lx + 24.0,
            lx + 30.0,
            ly + 4.0,
            chunk_name(c),
            lx + 30.0,
            ly + 18.0
        );
    }
    o.push_str("</svg>\n");
    o
}

/// A size argument in bytes (`default` unit when none is given).
/// Runs `lvmsim plot`: the SVG chart, or the CSV with `csv`.
///
/// # Errors
/// Bad sizes or workload, unreadable files, a workload over
/// [`MAX_WRITES`].
pub fn render(o: &PlotOpts) -> Result<String> {
    let Workload {
        origin,
        extent,
        chunks,
        writes,
    } = Workload::read(
        &o.origin_size,
        &o.extent_size,
        &o.chunks,
        (&o.trace, &o.diff, &None),
        "plot: give --trace FILE or --diff OLD NEW",
    )?;
    let cow = bytes(&o.size, 'm', "-L")?.div_ceil(extent) * extent;
    if writes.len() > MAX_WRITES {
        return Err(Error::Usage(format!(
            "plot: {} writes, more than the {MAX_WRITES} a chart shows",
            writes.len()
        )));
    }
    let all = chunks
        .iter()
        .map(|&c| series(origin, c, cow, &writes))
        .collect::<Result<Vec<_>>>()?;
    Ok(if o.csv {
        csv(&all)
    } else {
        svg(&all, origin, cow)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_has_a_point_per_write_and_stays_invalid() {
        // 16 chunks: header, area 0, 14 data chunks; the 15th write needs
        // a 15th (plan's autoextend test has the same numbers).
        let w: Vec<Write1> = (0..20)
            .map(|i| Write1 {
                offset: i * 4096,
                len: 4096,
            })
            .collect();
        let s = series(1 << 20, 4096, 16 * 4096, &w).unwrap();
        assert_eq!(s.status.len(), 21);
        assert_eq!(s.invalidated_at, Some(15));
        assert_eq!(s.data_percent(0), "0.00");
        // After 1 write: header, area and one data chunk of 16.
        assert_eq!(s.data_percent(1), "18.75");
        assert_eq!(s.data_percent(14), "100.00");
        assert!(s.status[14] != SnapStatus::Invalid);
        assert!(s.status[15..].iter().all(|st| *st == SnapStatus::Invalid));
        let text = csv(&[s]);
        assert!(text.starts_with("write,chunk,data_percent,valid\n0,4096,0.00,true\n"));
        assert!(text.ends_with("\n20,4096,100.00,false\n"));
    }

    #[test]
    fn ticks_are_few_and_round() {
        assert_eq!(tick_step(0), 1);
        assert_eq!(tick_step(10), 1);
        assert_eq!(tick_step(20), 2);
        assert_eq!(tick_step(300), 50);
        assert_eq!(tick_step(64), 10);
    }
}
