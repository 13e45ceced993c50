//! `lvmsim history`: the timeline of every metadata copy on the images, and
//! `--show` / `--diff` of single copies. Reads only.

use crate::error::{bail, refused, Result};
use lvm_meta::history::{self, Copy, CrcStatus, History};
use lvm_meta::io::Image;
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;

/// Options of `lvmsim history`.
#[derive(Debug, Clone, Default)]
pub struct HistoryOpts {
    /// Print JSON instead of text.
    pub json: bool,
    /// Print the text of this copy exactly (`SEQNO`, or `SEQNO#K` for the
    /// K-th distinct copy with that seqno).
    pub show: Option<String>,
    /// A structural diff of two copies (`A B`, each `SEQNO` or `SEQNO#K`).
    pub diff: Vec<String>,
    /// Only this VG.
    pub vg: Option<String>,
}

/// Collects the history: from the metadata areas, or with `scan_all` by
/// scanning the whole images (every copy found that way is a guess).
pub fn gather(devs: &[PathBuf], scan_all: bool, err: &mut dyn Write) -> Result<History> {
    let h = if scan_all {
        let images = crate::open_devices(devs, err)?;
        let refs: Vec<&Image> = images.iter().collect();
        history::collect_scan_all(&refs)
    } else {
        let sys = crate::scan(devs, false, err)?;
        history::collect(&sys)
    };
    for p in &h.problems {
        writeln!(err, "  WARNING: {}", p.error)?;
    }
    Ok(h)
}

/// The history of a scanned system: from its metadata areas, or with
/// `scan_all` from whole-image scans of the same images (so device
/// indices agree with `sys.devices`).
pub fn of_system(sys: &lvm_meta::scan::System, scan_all: bool) -> History {
    if scan_all {
        let refs: Vec<&Image> = sys.devices.iter().map(|d| &d.image).collect();
        history::collect_scan_all(&refs)
    } else {
        history::collect(sys)
    }
}

/// Runs `lvmsim history`.
pub fn run(
    devs: &[PathBuf],
    a: &HistoryOpts,
    ctx: &crate::context::Context,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    let scan_all = ctx.scan_all;
    let h = gather(devs, scan_all, err)?;
    let vg = match &a.vg {
        Some(v) => crate::names::vg_arg(v)?,
        None => {
            // One VG under several names (renamed) is one VG: named by
            // its latest copy's name.
            let mut ids: Vec<&str> = Vec::new();
            let mut names: Vec<&str> = Vec::new();
            for c in &h.copies {
                if !ids.contains(&c.vg_id.as_str()) {
                    ids.push(&c.vg_id);
                    names.push(&c.vg_name);
                }
            }
            let latest = |id: &str| {
                h.copies
                    .iter()
                    .filter(|c| c.vg_id == id)
                    .max_by_key(|c| c.seqno)
                    .map_or(String::new(), |c| c.vg_name.clone())
            };
            match ids.as_slice() {
                [] => bail!("No metadata copies found"),
                [one] => latest(one),
                _ if a.show.is_none() && a.diff.is_empty() => String::new(),
                _ => bail!("Several VGs on the images ({}): name one", names.join(", ")),
            }
        }
    };
    let ids = vg_ids(&h, &vg);
    if let Some(s) = &a.show {
        let i = pick(&h, &vg, &ids, s)?;
        out.write_all(
            h.copies[i]
                .text
                .strip_suffix(b"\0")
                .unwrap_or(&h.copies[i].text),
        )?;
        return Ok(());
    }
    if let [x, y] = a.diff.as_slice() {
        let (i, j) = (pick(&h, &vg, &ids, x)?, pick(&h, &vg, &ids, y)?);
        let (ci, cj) = (&h.copies[i], &h.copies[j]);
        let (Ok(va), Ok(vb)) = (&ci.vg, &cj.vg) else {
            bail!("a copy does not parse; --show prints its text");
        };
        let changes = history::diff(va, vb);
        if a.json {
            let v = json!({
                "from": label(ci), "to": label(cj),
                "changes": changes.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        } else {
            writeln!(out, "--- {}\n+++ {}", label(ci), label(cj))?;
            if changes.is_empty() {
                writeln!(out, "  (no structural change)")?;
            }
            for c in changes {
                writeln!(out, "  {c}")?;
            }
        }
        return Ok(());
    }
    let copies: Vec<usize> = (0..h.copies.len())
        .filter(|&i| selected(&h.copies[i], &vg, &ids))
        .collect();
    if copies.is_empty() {
        bail!("Volume group \"{vg}\" not found in any metadata copy");
    }
    if a.json {
        let rows: Vec<_> = copies.iter().map(|&i| row_json(&h, i)).collect();
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&json!({ "history": rows }))?
        )?;
    } else {
        for &i in &copies {
            row_text(&h, i, out)?;
        }
    }
    Ok(())
}

/// The UUIDs of every VG that was ever named `name` in a copy: a VG is
/// followed by its UUID, so its copies from before a `vgrename` count as
/// its own.
pub(crate) fn vg_ids(h: &History, name: &str) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for c in h.copies.iter().filter(|c| c.vg_name == name) {
        if !ids.contains(&c.vg_id) {
            ids.push(c.vg_id.clone());
        }
    }
    ids
}

/// True if copy `c` belongs to the VG selected by `vg` (its UUIDs `ids`;
/// an empty `vg` selects every copy).
fn selected(c: &history::Copy, vg: &str, ids: &[String]) -> bool {
    vg.is_empty() || ids.contains(&c.vg_id)
}

/// `SEQNO` or `SEQNO#K` to a copy index; an ambiguous `SEQNO` is refused.
fn pick(h: &History, vg: &str, ids: &[String], s: &str) -> Result<usize> {
    let (seq, k) = match s.split_once('#') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    let seq: u32 = seq
        .parse()
        .map_err(|_| refused!("\"{s}\": expected SEQNO or SEQNO#K"))?;
    let same: Vec<usize> = h
        .copies
        .iter()
        .enumerate()
        .filter(|(_, c)| c.seqno == seq && selected(c, vg, ids))
        .map(|(i, _)| i)
        .collect();
    match (k, same.len()) {
        (_, 0) => bail!("no copy with seqno {seq}"),
        (None, 1) => Ok(same[0]),
        (None, n) => {
            bail!("{n} different copies have seqno {seq}: name one as {seq}#1 .. {seq}#{n}")
        }
        (Some(k), n) => {
            let k: usize = k.parse().map_err(|_| refused!("\"{s}\": K is a number"))?;
            if k == 0 || k > n {
                bail!("seqno {seq} has {n} copies; #{k} does not exist");
            }
            Ok(same[k - 1])
        }
    }
}

fn label(c: &Copy) -> String {
    format!("{} seqno {} crc {:08x}", c.vg_name, c.seqno, c.crc)
}

fn crc_words(s: CrcStatus) -> String {
    match s {
        CrcStatus::Committed => "committed, checksum ok".into(),
        CrcStatus::Mismatch { stored } => format!("slot checksum {stored:08x} does not match"),
        CrcStatus::Unrecorded => "older copy, no stored checksum".into(),
    }
}

fn where_words(l: &history::Location) -> String {
    let mda = match l.mda {
        Some(m) => format!("mda{}", m + 1),
        None => "whole-image scan (a guess: no label or area header points here)".into(),
    };
    let wrap = if l.wrapped { ", wrapped" } else { "" };
    format!("{} {mda} at {}{wrap}", l.path, l.offset)
}

/// What changed from the previous copy of the same VG: the previous
/// seqno and the changes, or why there is nothing to compare.
fn changes(h: &History, i: usize) -> (Option<u32>, Result<Vec<String>, &'static str>) {
    let c = &h.copies[i];
    let Ok(v) = &c.vg else {
        return (None, Err("this copy does not parse"));
    };
    let Some(p) = h.previous(i) else {
        return (None, Err("oldest copy on the images"));
    };
    let prev = &h.copies[p];
    match &prev.vg {
        Err(_) => (Some(prev.seqno), Err("previous copy does not parse")),
        Ok(pv) => (
            Some(prev.seqno),
            Ok(history::diff(pv, v).iter().map(|x| x.to_string()).collect()),
        ),
    }
}

fn row_text(h: &History, i: usize, out: &mut dyn Write) -> Result<()> {
    let c = &h.copies[i];
    let time = c
        .creation_time
        .map_or("(no time)".into(), lvm_meta::timefmt::ctime);
    writeln!(
        out,
        "{} seqno {}  {time}  length {} crc {:08x} ({})",
        c.vg_name,
        c.seqno,
        c.len(),
        c.crc,
        crc_words(c.crc_status)
    )?;
    if let Some(d) = &c.description {
        writeln!(out, "  description: {d}")?;
    }
    for l in &c.found {
        writeln!(out, "  found: {}", where_words(l))?;
    }
    if let Err(e) = &c.vg {
        writeln!(out, "  does not parse: {e}")?;
    }
    if c.bad_end {
        writeln!(out, "  text does not end as lvm2 ends it (truncated?)")?;
    }
    match changes(h, i).1 {
        Err(why) => writeln!(out, "  ({why})")?,
        Ok(v) if v.is_empty() => writeln!(out, "  (no structural change)")?,
        Ok(v) => {
            for ch in v {
                writeln!(out, "  {ch}")?;
            }
        }
    }
    Ok(())
}

fn row_json(h: &History, i: usize) -> serde_json::Value {
    let c = &h.copies[i];
    let found: Vec<_> = c
        .found
        .iter()
        .map(|l| {
            json!({
                "device": l.path,
                "mda": l.mda.map(|m| m + 1),
                "area_offset": l.area_offset,
                "offset": l.offset,
                "wrapped": l.wrapped,
                "committed": l.committed,
                "guess": l.mda.is_none(),
            })
        })
        .collect();
    let (prev, list) = changes(h, i);
    let crc_status = match c.crc_status {
        CrcStatus::Committed => "committed",
        CrcStatus::Mismatch { .. } => "mismatch",
        CrcStatus::Unrecorded => "unrecorded",
    };
    json!({
        "vg": c.vg_name,
        "vg_id": c.vg_id,
        "seqno": c.seqno,
        "creation_time": c.creation_time,
        "description": c.description,
        "length": c.len(),
        "crc": format!("{:08x}", c.crc),
        "crc_status": crc_status,
        "parse_error": c.vg.as_ref().err().map(|e| e.to_string()),
        "found": found,
        "previous_seqno": prev,
        "changes": list.as_ref().map_or(Vec::new(), Clone::clone),
        "changes_note": list.err(),
    })
}
