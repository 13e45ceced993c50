//! `lvmsim plan`: how big a snapshot must be to survive a workload.
//!
//! The workload (a list of origin writes) is replayed in memory through
//! cow-engine's origin write, the same code `lvmsim write` runs, against a
//! snapshot store on a device that keeps no data (only sizes matter for
//! what the kernel allocates). For each chunk size, the smallest number of
//! COW chunks with which the store stays valid is found by bisection (a
//! larger COW never fails where a smaller one survives): it includes the
//! header chunk, every metadata area the records fill, and the next area
//! the kernel zeroes when one fills (`persistent_commit_exception`).
//!
//! lvm2 allocates whole extents, so the answer is also given in extents of
//! the VG's size, with the `Data%` lvm2 would show at the end. With `-L`,
//! the workload is replayed against that size: the write that invalidates
//! it, if any; lvm2's snapshot autoextend (`snapshot_autoextend_threshold`
//! and `snapshot_autoextend_percent` in lvm.conf) is modelled as dmeventd
//! acting between two writes: each time `Data%` is at or above the
//! threshold, the COW grows by the percentage of its size, in whole extents.
//!
//! # Trace files
//! One write per line: `OFFSET LENGTH`, decimal bytes from the origin's
//! start (`0x` for hexadecimal); blank lines and `#` comments are ignored.
//! Writes are issued in file order, each cut at 1 MiB pieces as the
//! kernel's block layer and `dd bs=1M` issue them; a write past the
//! origin's end is an error.
//!
//! # blkparse output
//! `--blkparse FILE` reads `blkparse`'s default text output of a trace of
//! the origin device: `MAJ,MIN CPU SEQ TIME PID ACTION RWBS SECTOR + COUNT
//! [PROC]`, sector and count in 512-byte sectors of the traced device.
//! A request appears there once per action it goes through (queued `Q`,
//! split, merged, issued `D`, completed `C`...); each write (RWBS holding
//! `W`, count above 0) is taken once, at its `Q` action: that is where the
//! bio enters the device, in the order the snapshot target maps it and
//! copies chunks, before the block layer merges or splits it (the
//! completion `C` order may differ, and a failed request completes too).
//! A trace holding no `Q` line (filtered with `-a complete`) is read from
//! its `C` lines instead. Other lines (summaries, messages) are skipped.

use crate::active::{snapshot_percent, SnapStatus};
use crate::error::{refused, Error, Result, ResultExt};
use crate::size::{parse_size, SizeArg};
use cow_engine::engine::{origin_write, DevSet, PStore, Snap};
use serde_json::json;
use std::io::{Read, Write};
use std::path::PathBuf;

/// Options of `lvmsim plan` (the sizes as lvm2 size arguments).
#[derive(Debug, Clone, Default)]
pub struct PlanOpts {
    /// `--origin-size`.
    pub origin_size: String,
    /// `--chunk`: comma-separated chunk sizes.
    pub chunks: String,
    /// `--trace FILE`.
    pub trace: Option<PathBuf>,
    /// `--diff OLD NEW`.
    pub diff: Option<Vec<PathBuf>>,
    /// `--blkparse FILE`.
    pub blkparse: Option<PathBuf>,
    /// `-s`: the VG's extent size.
    pub extent_size: String,
    /// `-L`: a COW size to replay against.
    pub size: Option<String>,
    /// `snapshot_autoextend_threshold` (100 = off).
    pub autoextend_threshold: u32,
    /// `snapshot_autoextend_percent`.
    pub autoextend_percent: u32,
    /// JSON output.
    pub json: bool,
}

/// One origin write of a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Write1 {
    /// Byte offset in the origin.
    pub offset: u64,
    /// Bytes.
    pub len: u64,
}

/// Largest piece of one write handed to the engine (a 1 MiB bio).
const PIECE: u64 = 1 << 20;

/// Most writes a trace may hold (each is replayed once per bisection
/// step; a bigger workload should be merged into ranges first).
pub const MAX_WRITES: usize = 10_000_000;

/// Reads a trace (see the module's format). `origin` bounds the writes.
///
/// # Errors
/// A line that is not two numbers, a write past `origin` bytes.
pub fn parse_trace(text: &str, origin: u64) -> Result<Vec<Write1>> {
    let num = |w: &str| -> Option<u64> {
        match w.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16).ok(),
            None => w.parse().ok(),
        }
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let (Some(offset), Some(len), 2) = (
            words.first().and_then(|w| num(w)),
            words.get(1).and_then(|w| num(w)),
            words.len(),
        ) else {
            return Err(Error::Usage(format!(
                "trace line {}: expected OFFSET LENGTH in bytes, found {line:?}",
                i + 1
            )));
        };
        if offset.checked_add(len).is_none_or(|e| e > origin) {
            return Err(Error::Usage(format!(
                "trace line {}: write of {len} bytes at {offset} runs past the origin's end ({origin} bytes)",
                i + 1
            )));
        }
        if len > 0 {
            out.push(Write1 { offset, len });
        }
        if out.len() > MAX_WRITES {
            return Err(Error::Usage(format!(
                "trace: more than {MAX_WRITES} writes"
            )));
        }
    }
    Ok(out)
}

/// Reads `blkparse` text output (see the module's format): each write
/// once, at its `Q` action (at its `C` action if the text has no `Q`
/// line). `origin` bounds the writes.
///
/// # Errors
/// A write line whose sector or count is not a number, a write past
/// `origin` bytes, too many writes.
pub fn parse_blkparse(text: &str, origin: u64) -> Result<Vec<Write1>> {
    // (line number, action, sector, count) of every write line.
    let mut found = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let w: Vec<&str> = line.split_whitespace().collect();
        // MAJ,MIN CPU SEQ TIME PID ACTION RWBS SECTOR + COUNT [PROC]
        let is_event = w.len() >= 10
            && w[0].split_once(',').is_some_and(|(a, b)| {
                a.bytes().all(|c| c.is_ascii_digit()) && b.bytes().all(|c| c.is_ascii_digit())
            })
            && w[8] == "+";
        if !is_event || !matches!(w[5], "Q" | "C") || !w[6].contains('W') {
            continue;
        }
        let (Ok(sector), Ok(count)) = (w[7].parse::<u64>(), w[9].parse::<u64>()) else {
            return Err(Error::Usage(format!(
                "blkparse line {}: expected SECTOR + COUNT, found {line:?}",
                i + 1
            )));
        };
        found.push((i + 1, w[5] == "Q", sector, count));
    }
    let queued = found.iter().any(|f| f.1);
    let mut out = Vec::new();
    for (line, q, sector, count) in found {
        if q != queued || count == 0 {
            continue;
        }
        let past = || {
            Error::Usage(format!(
                "blkparse line {line}: write of {count} sectors at sector {sector} runs past the origin's end ({origin} bytes)"
            ))
        };
        let offset = sector.checked_mul(512).ok_or_else(past)?;
        let len = count.checked_mul(512).ok_or_else(past)?;
        if offset.checked_add(len).is_none_or(|e| e > origin) {
            return Err(past());
        }
        out.push(Write1 { offset, len });
        if out.len() > MAX_WRITES {
            return Err(Error::Usage(format!(
                "blkparse: more than {MAX_WRITES} writes"
            )));
        }
    }
    Ok(out)
}

/// The writes that turn image `old` into `new`: each run of differing
/// 512-byte sectors is one write.
///
/// # Errors
/// The files cannot be read.
pub fn diff_workload(old: &mut dyn Read, new: &mut dyn Read) -> Result<Vec<Write1>> {
    let mut out: Vec<Write1> = Vec::new();
    let (mut a, mut b) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    let mut at = 0u64;
    loop {
        let n = fill(new, &mut b)?;
        if n == 0 {
            break;
        }
        let m = fill(old, &mut a[..n])?;
        a[m..n].iter_mut().for_each(|x| *x = 0);
        for s in (0..n).step_by(512) {
            let e = (s + 512).min(n);
            if a[s..e] != b[s..e] {
                let off = at + s as u64;
                let runs = out.len();
                match out.last_mut() {
                    Some(w) if w.offset + w.len == off => w.len += (e - s) as u64,
                    _ if runs >= MAX_WRITES => {
                        return Err(Error::Usage(format!(
                            "--diff: more than {MAX_WRITES} runs of changed sectors"
                        )))
                    }
                    _ => out.push(Write1 {
                        offset: off,
                        len: (e - s) as u64,
                    }),
                }
            }
        }
        at += n as u64;
    }
    Ok(out)
}

fn fill(r: &mut dyn Read, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("reading an image"),
        }
    }
    Ok(n)
}

/// An origin and a COW that hold no data: reads give zeros, writes are
/// only checked against the device's end (as the kernel's I/O would fail).
struct Sizes {
    sizes: [u64; 2],
}

impl DevSet for Sizes {
    fn size(&self, d: usize) -> u64 {
        self.sizes[d]
    }
    fn read(&self, _d: usize, _offset: u64, buf: &mut [u8]) -> cow_engine::Result<()> {
        buf.fill(0);
        Ok(())
    }
    fn write(&mut self, d: usize, offset: u64, data: &[u8]) -> cow_engine::Result<()> {
        if offset.saturating_add(data.len() as u64) > self.sizes[d] {
            return Err(cow_engine::Error::Io {
                path: format!("device {d}"),
                offset: Some(offset),
                what: format!("write at {offset}"),
                source: std::io::Error::from_raw_os_error(28),
            });
        }
        Ok(())
    }
}

/// How a replay ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replay {
    /// The 1-based write that invalidated the store, if one did.
    pub invalidated_at: Option<usize>,
    /// The final `dmsetup status` of the snapshot.
    pub status: SnapStatus,
    /// Exceptions the store holds (or held when it was invalidated).
    pub exceptions: u64,
    /// Autoextends done (each grows the COW).
    pub extends: u32,
    /// The COW's final size in bytes.
    pub cow_bytes: u64,
}

/// lvm2's autoextend policy for a replay: (threshold percent, percent,
/// extent bytes); `None` for none.
type Autoextend = Option<(u32, u32, u64)>;

/// Replays `writes` against a fresh store of chunk `chunk_bytes` on a COW
/// of `cow_bytes`, through cow-engine's origin write.
///
/// # Errors
/// The engine's own failures (none expected on this in-memory device).
pub fn replay(
    origin: u64,
    chunk_bytes: u64,
    cow_bytes: u64,
    writes: &[Write1],
    autoextend: Autoextend,
) -> Result<Replay> {
    replay_steps(
        origin,
        chunk_bytes,
        cow_bytes,
        writes,
        autoextend,
        &mut |_, _| {},
    )
}

/// [`replay`], calling `step(n, status)` with the snapshot's status
/// before any write (`n` = 0) and after each write `n` (before any
/// autoextend), up to the write that invalidates it.
///
/// # Errors
/// The engine's own failures (none expected on this in-memory device).
pub fn replay_steps(
    origin: u64,
    chunk_bytes: u64,
    cow_bytes: u64,
    writes: &[Write1],
    autoextend: Autoextend,
    step: &mut dyn FnMut(usize, SnapStatus),
) -> Result<Replay> {
    let mut devs = Sizes {
        sizes: [origin, cow_bytes],
    };
    let store = PStore::activate(&mut devs, 1, chunk_bytes / 512)?;
    let mut snaps = [Snap { store, len: origin }];
    step(0, status(&snaps[0].store, &devs));
    let mut invalidated_at = None;
    let mut extends = 0;
    let buf = vec![0u8; PIECE as usize];
    for (i, w) in writes.iter().enumerate() {
        let mut at = w.offset;
        let end = w.offset + w.len;
        while at < end {
            let n = (end - at).min(PIECE - at % PIECE);
            origin_write(&mut devs, 0, &mut snaps, at, &buf[..n as usize])?;
            at += n;
        }
        step(i + 1, status(&snaps[0].store, &devs));
        if !snaps[0].store.valid {
            invalidated_at = Some(i + 1);
            break;
        }
        if let Some((threshold, percent, extent)) = autoextend {
            // dmeventd's check between writes: grow while at or over.
            loop {
                let st = status(&snaps[0].store, &devs);
                let full = match st {
                    SnapStatus::Usage {
                        used,
                        total,
                        metadata,
                    } if used != metadata => {
                        used.saturating_mul(100) >= total * u64::from(threshold)
                    }
                    _ => false,
                };
                if !full || percent == 0 {
                    break;
                }
                let grow = (devs.sizes[1].saturating_mul(u64::from(percent)))
                    .div_ceil(100)
                    .div_ceil(extent)
                    .max(1)
                    * extent;
                devs.sizes[1] += grow;
                extends += 1;
            }
        }
    }
    let s = &snaps[0].store;
    Ok(Replay {
        invalidated_at,
        status: status(s, &devs),
        exceptions: s.map.len() as u64,
        extends,
        cow_bytes: devs.sizes[1],
    })
}

fn status(s: &PStore, devs: &Sizes) -> SnapStatus {
    SnapStatus::of(s.valid, s.usage(devs))
}

/// The answer for one chunk size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkPlan {
    /// Chunk size in bytes.
    pub chunk_bytes: u64,
    /// Exceptions the workload makes.
    pub exceptions: u64,
    /// The smallest COW, in chunks, that stays valid.
    pub min_chunks: u64,
    /// The same in bytes.
    pub min_bytes: u64,
    /// lvm2's size for it: whole extents.
    pub extents: u64,
    /// The extents in bytes.
    pub lvm2_bytes: u64,
    /// The `dmsetup status` at the end, on the lvm2-sized COW.
    pub status: SnapStatus,
    /// lvm2's `Data%` then.
    pub data_percent: String,
    /// The most extents lvm2 gives a COW for this origin and chunk
    /// (`cow_max_extents`: room for every origin chunk).
    pub max_extents: u64,
}

/// The smallest COW for `writes` with chunk `chunk_bytes`, found by
/// bisection over replays.
///
/// # Errors
/// The engine's failures.
pub fn plan_chunk(
    origin: u64,
    chunk_bytes: u64,
    extent: u64,
    writes: &[Write1],
) -> Result<ChunkPlan> {
    let survives = |chunks: u64| -> Result<bool> {
        Ok(
            replay(origin, chunk_bytes, chunks * chunk_bytes, writes, None)?
                .invalidated_at
                .is_none(),
        )
    };
    let max_extents =
        crate::snapshot::cow_max_extents(origin / 512, chunk_bytes / 512, extent / 512);
    // Room for every origin chunk and its areas always suffices.
    let mut hi = (max_extents * extent).div_ceil(chunk_bytes).max(2);
    if !survives(hi)? {
        return Err(refused!(
            "no COW of {hi} chunks of {chunk_bytes} bytes survives the workload"
        ));
    }
    let mut lo = 1; // fails: a store needs its header and an area
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if survives(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    let min_bytes = hi * chunk_bytes;
    let extents = min_bytes.div_ceil(extent);
    let end = replay(origin, chunk_bytes, extents * extent, writes, None)?;
    Ok(ChunkPlan {
        chunk_bytes,
        exceptions: end.exceptions,
        min_chunks: hi,
        min_bytes,
        extents,
        lvm2_bytes: extents * extent,
        status: end.status,
        data_percent: snapshot_percent(end.status),
        max_extents,
    })
}

/// A size argument in bytes (`default` unit when none is given).
/// A size argument of `plan` or `plot` in bytes (`what` names the option
/// in the error).
pub(crate) fn bytes(arg: &str, default: char, what: &str) -> Result<u64> {
    match parse_size(arg, default, false) {
        Ok((_, SizeArg::Sectors(s))) if s > 0 => Ok(s * 512),
        _ => Err(Error::Usage(format!("{what}: cannot read size {arg:?}"))),
    }
}

/// The workload options `plan` and `plot` share, read and checked.
pub(crate) struct Workload {
    /// `--origin-size` in bytes.
    pub origin: u64,
    /// `-s` in bytes, a power of 2.
    pub extent: u64,
    /// `--chunk` sizes in bytes, each a power of 2 from 4 KiB to 512 KiB.
    pub chunks: Vec<u64>,
    /// The writes of `--trace`, `--diff` or `--blkparse`.
    pub writes: Vec<Write1>,
}

impl Workload {
    /// Reads the options; `none_given` is the usage error when no
    /// workload option was given.
    pub(crate) fn read(
        origin_size: &str,
        extent_size: &str,
        chunks: &str,
        (trace, diff, blkparse): (&Option<PathBuf>, &Option<Vec<PathBuf>>, &Option<PathBuf>),
        none_given: &str,
    ) -> Result<Workload> {
        let origin = bytes(origin_size, 'm', "--origin-size")?;
        let extent = bytes(extent_size, 'm', "--physicalextentsize")?;
        if !extent.is_power_of_two() {
            return Err(Error::Usage(format!(
                "--physicalextentsize {extent_size}: must be a power of 2"
            )));
        }
        let mut sizes = Vec::new();
        for c in chunks.split(',') {
            let b = bytes(c.trim(), 'k', "--chunk")?;
            if !b.is_power_of_two() || !(4096..=512 * 1024).contains(&b) {
                return Err(Error::Usage(format!(
                    "--chunk {c}: a power of 2 between 4k and 512k"
                )));
            }
            sizes.push(b);
        }
        let read = |p: &PathBuf| {
            std::fs::read_to_string(p).with_context(|| format!("{}: cannot read", p.display()))
        };
        let writes = match (trace, diff, blkparse) {
            (Some(t), _, _) => parse_trace(&read(t)?, origin)?,
            (None, Some(d), _) if d.len() == 2 => {
                let open = |p: &PathBuf| {
                    std::fs::File::open(p).with_context(|| format!("{}: cannot open", p.display()))
                };
                let w = diff_workload(&mut open(&d[0])?, &mut open(&d[1])?)?;
                if let Some(last) = w.last() {
                    if last.offset + last.len > origin {
                        return Err(Error::Usage(format!(
                            "--diff: the images differ at byte {}, past the origin's end ({origin} bytes)",
                            last.offset + last.len - 1
                        )));
                    }
                }
                w
            }
            (None, None, Some(b)) => parse_blkparse(&read(b)?, origin)?,
            _ => return Err(Error::Usage(none_given.into())),
        };
        Ok(Workload {
            origin,
            extent,
            chunks: sizes,
            writes,
        })
    }
}

/// Runs `lvmsim plan`.
///
/// # Errors
/// Bad sizes or trace, unreadable files.
pub fn run(o: &PlanOpts, out: &mut dyn Write) -> Result<()> {
    let Workload {
        origin,
        extent,
        chunks,
        writes,
    } = Workload::read(
        &o.origin_size,
        &o.extent_size,
        &o.chunks,
        (&o.trace, &o.diff, &o.blkparse),
        "plan: give --trace FILE, --diff OLD NEW or --blkparse FILE",
    )?;
    let size = o
        .size
        .as_deref()
        .map(|s| bytes(s, 'm', "-L"))
        .transpose()?
        .map(|b| b.div_ceil(extent) * extent);
    let autoextend = (o.autoextend_threshold < 100).then_some((
        o.autoextend_threshold.max(50),
        o.autoextend_percent,
        extent,
    ));
    let written: u64 = writes.iter().map(|w| w.len).sum();
    let mut rows = Vec::new();
    for &c in &chunks {
        let p = plan_chunk(origin, c, extent, &writes)?;
        let at = size
            .map(|s| replay(origin, c, s, &writes, autoextend))
            .transpose()?;
        rows.push((p, at));
    }
    if o.json {
        let v = json!({
            "origin_bytes": origin,
            "extent_bytes": extent,
            "writes": writes.len(),
            "bytes_written": written,
            "size_bytes": size,
            "autoextend": autoextend.map(|(t, p, _)| json!({"threshold": t, "percent": p})),
            "chunks": rows.iter().map(|(p, at)| json!({
                "chunk_bytes": p.chunk_bytes,
                "exceptions": p.exceptions,
                "min_chunks": p.min_chunks,
                "min_bytes": p.min_bytes,
                "extents": p.extents,
                "lvm2_bytes": p.lvm2_bytes,
                "max_extents": p.max_extents,
                "dmsetup_status": status_text(p.status),
                "data_percent": p.data_percent,
                "at_size": at.map(|r| json!({
                    "survives": r.invalidated_at.is_none(),
                    "invalidated_at_write": r.invalidated_at,
                    "invalidated_at_offset": r.invalidated_at.map(|i| writes[i - 1].offset),
                    "exceptions": r.exceptions,
                    "dmsetup_status": status_text(r.status),
                    "data_percent": snapshot_percent(r.status),
                    "autoextends": r.extends,
                    "final_cow_bytes": r.cow_bytes,
                })),
            })).collect::<Vec<_>>(),
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "origin {origin} bytes, {} writes ({written} bytes), extents of {extent} bytes",
        writes.len()
    )?;
    for (p, at) in &rows {
        writeln!(
            out,
            "chunk {:>6}: {} exceptions; smallest COW {} chunks = {} bytes; lvm2: {} extents = {} bytes, Data% {} ({})",
            p.chunk_bytes,
            p.exceptions,
            p.min_chunks,
            p.min_bytes,
            p.extents,
            p.lvm2_bytes,
            p.data_percent,
            status_text(p.status)
        )?;
        if let (Some(r), Some(s)) = (at, size) {
            let ext = if r.extends > 0 {
                format!(" after {} autoextends to {} bytes", r.extends, r.cow_bytes)
            } else {
                String::new()
            };
            match r.invalidated_at {
                None => writeln!(
                    out,
                    "  -L {s} bytes: survives{ext}, Data% {} ({})",
                    snapshot_percent(r.status),
                    status_text(r.status)
                )?,
                Some(i) => writeln!(
                    out,
                    "  -L {s} bytes: invalidated by write {i} (offset {}, {} bytes){ext}",
                    writes[i - 1].offset,
                    writes[i - 1].len
                )?,
            }
        }
    }
    Ok(())
}

fn status_text(s: SnapStatus) -> String {
    s.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blkparse_writes_are_taken_once_at_their_queue_action() {
        // One 4 KiB write at sector 2048 goes through Q, G, I, D, C; a
        // read and a flush with no data are skipped, as is the summary.
        let text = "\
  253,3    1        1     0.000000000  4242  Q   W 2048 + 8 [dd]
  253,3    1        2     0.000001000  4242  G   W 2048 + 8 [dd]
  253,3    1        3     0.000002000  4242  D   W 2048 + 8 [dd]
  253,3    0        4     0.000100000     0  C   W 2048 + 8 [0]
  253,3    1        5     0.000200000  4242  Q   R 0 + 8 [dd]
  253,3    1        6     0.000300000  4242  Q FWS 0 + 0 [dd]
  253,3    1        7     0.000400000  4242  Q  WS 16 + 1 [dd]
CPU1 (253,3):
 Reads Queued:           1,        4KiB  Writes Queued:           2,        4KiB
";
        let w = parse_blkparse(text, 4 << 20).unwrap();
        assert_eq!(
            w,
            [
                Write1 {
                    offset: 2048 * 512,
                    len: 4096
                },
                Write1 {
                    offset: 16 * 512,
                    len: 512
                }
            ]
        );
        // Completions only: the C lines are the writes.
        let c = "  8,0 0 1 0.1 0 C W 8 + 8 [0]\n";
        assert_eq!(
            parse_blkparse(c, 1 << 20).unwrap(),
            [Write1 {
                offset: 4096,
                len: 4096
            }]
        );
        assert!(parse_blkparse("  8,0 0 1 0.1 1 Q W 2048 + 8 [dd]\n", 1 << 20).is_err());
        assert!(parse_blkparse("  8,0 0 1 0.1 1 Q W x + 8 [dd]\n", 1 << 20).is_err());
    }

    #[test]
    fn traces_are_offset_length_lines() {
        let w = parse_trace("# c\n0 4096\n\n0x2000 512 # x\n", 1 << 20).unwrap();
        assert_eq!(
            w,
            vec![
                Write1 {
                    offset: 0,
                    len: 4096
                },
                Write1 {
                    offset: 8192,
                    len: 512
                }
            ]
        );
        assert!(parse_trace("1 2 3\n", 100).is_err());
        assert!(parse_trace("4096 1\n", 4096).is_err());
    }

    #[test]
    fn a_diff_is_the_runs_of_changed_sectors() {
        let old = vec![0u8; 8192];
        let mut new = old.clone();
        new[600] = 1;
        new[1100] = 1;
        new[4000] = 1;
        let w = diff_workload(&mut &old[..], &mut &new[..]).unwrap();
        assert_eq!(
            w,
            vec![
                Write1 {
                    offset: 512,
                    len: 1024
                },
                Write1 {
                    offset: 3584,
                    len: 512
                }
            ]
        );
    }

    #[test]
    fn one_write_needs_header_area_and_a_data_chunk() {
        let w = [Write1 { offset: 0, len: 1 }];
        let p = plan_chunk(1 << 20, 4096, 4096, &w).unwrap();
        assert_eq!((p.exceptions, p.min_chunks, p.extents), (1, 3, 3));
        assert_eq!(p.data_percent, "100.00");
    }

    #[test]
    fn filling_an_area_needs_the_next_one_inside_the_cow() {
        // 256 4k chunks fill area 0; the kernel then zeroes area 1 at
        // chunk 258, so 259 chunks are needed (kernel corpus:
        // snap-full-edges, c258 invalid, c259 valid).
        let w: Vec<Write1> = (0..256)
            .map(|i| Write1 {
                offset: i * 4096,
                len: 512,
            })
            .collect();
        let p = plan_chunk(4 << 20, 4096, 4096, &w).unwrap();
        assert_eq!(p.min_chunks, 259);
        assert_eq!(status_text(p.status), "2072/2072 24");
    }

    #[test]
    fn autoextend_grows_the_cow_between_writes() {
        let w: Vec<Write1> = (0..64)
            .map(|i| Write1 {
                offset: i * 4096,
                len: 4096,
            })
            .collect();
        let small = replay(1 << 20, 4096, 16 * 4096, &w, None).unwrap();
        assert_eq!(small.invalidated_at, Some(15));
        let grown = replay(1 << 20, 4096, 16 * 4096, &w, Some((70, 20, 4096))).unwrap();
        assert_eq!(grown.invalidated_at, None);
        assert!(grown.extends > 0 && grown.cow_bytes >= 66 * 4096);
    }
}
