//! `lvmsim history`: the timeline of every metadata copy on the images, and
//! `--show` / `--diff` of single copies. Reads only.

use crate::error::{bail, refused, Result};
use lvm_meta::history::{self, Copy, CrcStatus, History};
use lvm_meta::io::Image;
use serde::{Deserialize, Serialize};
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
/// scanning the whole images (every copy found that way is a guess), with
/// a progress line on stderr during that scan if `progress`.
pub fn gather(
    devs: &[PathBuf],
    scan_all: bool,
    progress: bool,
    err: &mut dyn Write,
) -> Result<History> {
    let h = if scan_all {
        let images = crate::open_devices(devs, err)?;
        let refs: Vec<&Image> = images.iter().collect();
        scan_whole(&refs, progress)
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
/// indices agree with `sys.devices`), with a progress line on stderr
/// during that scan if `progress` (callers that own no terminal, such as a
/// Python program, pass `false`).
pub fn of_system(sys: &lvm_meta::scan::System, scan_all: bool, progress: bool) -> History {
    if scan_all {
        let refs: Vec<&Image> = sys.devices.iter().map(|d| &d.image).collect();
        scan_whole(&refs, progress)
    } else {
        history::collect(sys)
    }
}

/// `--scan-all`'s whole-image scan ([`history::collect_scan_all`]: the
/// images streamed in windows, memory bounded), with a progress line on
/// stderr if `progress` (the caller's stderr is a terminal; never in
/// captured output, so reports and their goldens do not change).
pub fn scan_whole(images: &[&Image], progress: bool) -> History {
    let mut shown = false;
    let h = history::collect_scan_all_with(
        images,
        history::SCAN_WINDOW,
        history::SCAN_OVERLAP,
        &mut |i, done, size| {
            if progress {
                let pct = done.saturating_mul(100) / size.max(1);
                eprint!(
                    "\r  scanning {} for metadata: {pct:3}% ({} of {} MiB)\x1b[K",
                    images[i].path,
                    done >> 20,
                    size >> 20
                );
                shown = true;
            }
        },
    );
    if shown {
        eprint!("\r\x1b[K");
    }
    h
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
    let h = gather(devs, scan_all, ctx.progress, err)?;
    let vg = select_vg(&h, a.vg.as_deref(), a.show.is_none() && a.diff.is_empty())?;
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
                "schema": HISTORY_SCHEMA,
                "from": label(ci), "to": label(cj),
                "from_seqno": ci.seqno, "to_seqno": cj.seqno,
                "changes": changes.iter().map(change_json).collect::<Vec<_>>(),
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
    let copies = copies_of(&h, &vg, &ids)?;
    if a.json {
        let doc = HistoryJson {
            schema: HISTORY_SCHEMA.to_owned(),
            history: copies.iter().map(|&i| copy_json(&h, i)).collect(),
        };
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
    } else {
        for &i in &copies {
            row_text(&h, i, out)?;
        }
    }
    Ok(())
}

/// What `history --json [VG]` prints for the history `h`: the copies of
/// VG `vg` (of every VG when `None`), with the same refusals (no copies;
/// no copy of that VG; an invalid VG name).
pub fn history_json(h: &History, vg: Option<&str>) -> Result<HistoryJson> {
    let vg = select_vg(h, vg, true)?;
    let ids = vg_ids(h, &vg);
    let copies = copies_of(h, &vg, &ids)?;
    Ok(HistoryJson {
        schema: HISTORY_SCHEMA.to_owned(),
        history: copies.iter().map(|&i| copy_json(h, i)).collect(),
    })
}

/// The VG a command is about: the one named (checked as lvm2 checks VG
/// names), else the only VG of the copies (one VG under several names,
/// renamed, is one VG: named by its latest copy's name), else every VG
/// (`""`) where `all` allows it.
fn select_vg(h: &History, named: Option<&str>, all: bool) -> Result<String> {
    if let Some(v) = named {
        return crate::names::vg_arg(v);
    }
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
        [one] => Ok(latest(one)),
        _ if all => Ok(String::new()),
        _ => bail!("Several VGs on the images ({}): name one", names.join(", ")),
    }
}

/// The indices of the copies of VG `vg` (its UUIDs `ids`; `""`: every
/// copy); none is refused.
fn copies_of(h: &History, vg: &str, ids: &[String]) -> Result<Vec<usize>> {
    let copies: Vec<usize> = (0..h.copies.len())
        .filter(|&i| selected(&h.copies[i], vg, ids))
        .collect();
    if copies.is_empty() {
        bail!("Volume group \"{vg}\" not found in any metadata copy");
    }
    Ok(copies)
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
fn changes(h: &History, i: usize) -> (Option<u32>, Result<Vec<history::Change>, &'static str>) {
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
        Ok(pv) => (Some(prev.seqno), Ok(history::diff(pv, v))),
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

/// The version of the `history --json` schema below; it changes only when
/// a field is removed, renamed or changes meaning (new fields and new
/// change types may appear without it).
pub const HISTORY_SCHEMA: &str = "lvmsim-history/1";

/// `lvmsim history --json`: every metadata copy of the selected VGs, oldest
/// first within each VG. docs/history-json.md describes every field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryJson {
    /// Always [`HISTORY_SCHEMA`].
    pub schema: String,
    /// The copies.
    pub history: Vec<CopyJson>,
}

/// One distinct copy of a VG's metadata text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CopyJson {
    /// The VG's name in this copy.
    pub vg: String,
    /// The VG's UUID (the same across renames).
    pub vg_id: String,
    /// `seqno`.
    pub seqno: u32,
    /// `creation_time`: seconds since the epoch, when the copy was written.
    pub creation_time: Option<i64>,
    /// The same instant in UTC, `YYYY-MM-DD hh:mm:ss +0000`.
    pub creation_time_utc: Option<String>,
    /// `creation_host`: the host name of the machine that wrote it.
    pub creation_host: Option<String>,
    /// `description` (lvm2: `Write from COMMAND LINE.`).
    pub description: Option<String>,
    /// Length of the text with its NUL, as pvck prints it.
    pub length: usize,
    /// LVM CRC of the text, 8 hex digits.
    pub crc: String,
    /// What the stored checksum says.
    pub crc_status: CrcJson,
    /// For [`CrcJson::Mismatch`]: the checksum the area's slot holds.
    pub stored_crc: Option<String>,
    /// Why the text does not parse (`None`: it parses).
    pub parse_error: Option<String>,
    /// True if the text does not end as lvm2 ends it (cut short?).
    pub bad_end: bool,
    /// Every place the same bytes were found.
    pub found: Vec<PlaceJson>,
    /// The seqno of the copy compared with (the previous copy of the same
    /// VG UUID).
    pub previous_seqno: Option<u32>,
    /// What changed since that copy.
    pub changes: Vec<ChangeJson>,
    /// Why there are no changes to list (oldest copy, a copy that does not
    /// parse...); `None` when they were computed.
    pub changes_note: Option<String>,
}

/// The checksum status of a copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrcJson {
    /// A metadata area's committed slot points at it and its checksum
    /// matches.
    Committed,
    /// A committed slot points at it with another checksum: overwritten or
    /// damaged.
    Mismatch,
    /// An older copy: lvm2 keeps no checksum for it.
    Unrecorded,
}

/// Where a copy was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaceJson {
    /// The image (as given with `--dev`, or `NAME` of `NAME=PATH`).
    pub device: String,
    /// Metadata area 1 or 2 of the PV header; `None` for a whole-image
    /// scan (`--scan-all`).
    pub mda: Option<usize>,
    /// Byte offset of the area in the image (0 for a whole-image scan).
    pub area_offset: u64,
    /// Byte offset of the copy's first byte in the image.
    pub offset: u64,
    /// True if the copy runs past the area's end and continues at its
    /// start.
    pub wrapped: bool,
    /// True if the area's committed slot points here.
    pub committed: bool,
    /// True if no label or area header points here (found by scanning).
    pub guess: bool,
}

/// A run of physical extents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtentsJson {
    /// The PV's key in the metadata (`pv0`).
    pub pv: String,
    /// First physical extent.
    pub first: u32,
    /// Number of extents.
    pub count: u32,
}

/// A snapshot's relation to its origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotJson {
    /// The origin LV.
    pub origin: String,
    /// Chunk size in bytes.
    pub chunk_bytes: u64,
    /// True if the snapshot was merging into its origin.
    pub merging: bool,
}

/// A thin LV's device in its pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThinJson {
    /// The thin pool LV.
    pub pool: String,
    /// The thin id in the pool's metadata (`device_id`).
    pub thin_id: u64,
    /// The pool transaction that created it.
    pub transaction_id: u64,
    /// The thin LV it is a snapshot of.
    pub origin: Option<String>,
}

fn thin_json(t: &history::ThinInfo) -> ThinJson {
    ThinJson {
        pool: t.pool.clone(),
        thin_id: t.device_id,
        transaction_id: t.transaction_id,
        origin: t.origin.clone(),
    }
}

/// One change, typed, with the line the text output prints for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeJson {
    /// What changed.
    #[serde(flatten)]
    pub change: ChangeKind,
    /// The same in words, as `history` prints it.
    pub text: String,
}

/// What changed between two copies; `type` names the variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChangeKind {
    /// The VG was renamed.
    VgRenamed {
        /// Old name.
        from: String,
        /// New name.
        to: String,
    },
    /// A VG setting changed (status, flags, tags, extent_size...).
    VgChanged {
        /// The metadata key.
        key: String,
        /// Old value, printable.
        from: String,
        /// New value, printable.
        to: String,
    },
    /// A PV joined the VG.
    PvAdded {
        /// Its key (`pv1`).
        pv: String,
        /// Its UUID.
        id: String,
    },
    /// A PV left the VG.
    PvRemoved {
        /// Its key.
        pv: String,
        /// Its UUID.
        id: String,
    },
    /// A PV's size, extent count or flags changed.
    PvChanged {
        /// Its key.
        pv: String,
        /// What, in words.
        what: String,
    },
    /// An LV was created (a snapshot with its COW store).
    LvCreated {
        /// Its name.
        lv: String,
        /// Its size in extents.
        extents: u64,
        /// Where its extents lie.
        at: Vec<ExtentsJson>,
        /// Set for a snapshot.
        snapshot: Option<SnapshotJson>,
        /// Set for a thin LV (`at` is then empty: its blocks are in the
        /// pool).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thin: Option<ThinJson>,
    },
    /// An LV was removed (a snapshot that was not merging included).
    LvRemoved {
        /// Its name.
        lv: String,
        /// The extents it freed.
        at: Vec<ExtentsJson>,
        /// Set if it was a snapshot.
        snapshot: Option<SnapshotJson>,
        /// Set for a thin LV: the thin id that left the pool (`recover`
        /// looks for its mappings by it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thin: Option<ThinJson>,
    },
    /// A merging snapshot finished merging and is gone.
    SnapshotMerged {
        /// The snapshot.
        lv: String,
        /// The origin it merged into.
        origin: String,
        /// The extents its store freed.
        at: Vec<ExtentsJson>,
    },
    /// An LV was renamed.
    LvRenamed {
        /// Old name.
        from: String,
        /// New name.
        to: String,
    },
    /// An LV grew or shrank.
    LvResized {
        /// Its (new) name.
        lv: String,
        /// Extents before.
        from_extents: u64,
        /// Extents after.
        to_extents: u64,
        /// Extents added (empty when it shrank).
        added: Vec<ExtentsJson>,
    },
    /// An LV's extents moved, its size unchanged.
    LvMoved {
        /// Its name.
        lv: String,
        /// Where the extents were.
        from: Vec<ExtentsJson>,
        /// Where they are.
        to: Vec<ExtentsJson>,
    },
    /// An LV's status, flags or tags changed.
    LvChanged {
        /// Its name.
        lv: String,
        /// The metadata key.
        key: String,
        /// Old value.
        from: String,
        /// New value.
        to: String,
    },
    /// An existing LV became a snapshot's COW store (lvm2's second commit
    /// of `lvcreate -s`).
    SnapshotAttached {
        /// The snapshot.
        lv: String,
        /// Origin and chunk size.
        snapshot: SnapshotJson,
        /// The store's extents.
        at: Vec<ExtentsJson>,
    },
    /// A snapshot's store became a plain LV (lvm2's first commit of
    /// removing a snapshot).
    SnapshotDetached {
        /// The former snapshot.
        lv: String,
        /// What it was a snapshot of.
        snapshot: SnapshotJson,
    },
    /// A snapshot started merging into its origin.
    MergeStarted {
        /// The snapshot.
        lv: String,
        /// The origin.
        origin: String,
    },
    /// A thin pool's transaction id changed.
    PoolTransaction {
        /// The pool.
        pool: String,
        /// Old transaction id.
        from: u64,
        /// New transaction id.
        to: u64,
    },
    /// A change of a kind this schema version does not type; `text` says
    /// what it is.
    Other,
}

fn extents_json(e: &[history::Extents]) -> Vec<ExtentsJson> {
    e.iter()
        .map(|x| ExtentsJson {
            pv: x.pv.clone(),
            first: x.first,
            count: x.count,
        })
        .collect()
}

fn snapshot_json(s: &history::SnapInfo) -> SnapshotJson {
    SnapshotJson {
        origin: s.origin.clone(),
        chunk_bytes: s.chunk_bytes,
        merging: s.merging,
    }
}

/// A change between two copies, typed.
pub fn change_json(c: &history::Change) -> ChangeJson {
    use history::Change as C;
    let change = match c {
        C::VgRenamed { from, to } => ChangeKind::VgRenamed {
            from: from.clone(),
            to: to.clone(),
        },
        C::VgAttr { key, from, to } => ChangeKind::VgChanged {
            key: (*key).to_owned(),
            from: from.clone(),
            to: to.clone(),
        },
        C::PvAdded { pv, id } => ChangeKind::PvAdded {
            pv: pv.clone(),
            id: id.clone(),
        },
        C::PvRemoved { pv, id } => ChangeKind::PvRemoved {
            pv: pv.clone(),
            id: id.clone(),
        },
        C::PvChanged { pv, what } => ChangeKind::PvChanged {
            pv: pv.clone(),
            what: what.clone(),
        },
        C::LvCreated {
            name,
            extents,
            at,
            snapshot,
        } => ChangeKind::LvCreated {
            lv: name.clone(),
            extents: *extents,
            at: extents_json(at),
            snapshot: snapshot.as_ref().map(snapshot_json),
            thin: None,
        },
        C::LvRemoved {
            name,
            snapshot: Some(s),
            at,
        } if s.merging => ChangeKind::SnapshotMerged {
            lv: name.clone(),
            origin: s.origin.clone(),
            at: extents_json(at),
        },
        C::LvRemoved { name, snapshot, at } => ChangeKind::LvRemoved {
            lv: name.clone(),
            at: extents_json(at),
            snapshot: snapshot.as_ref().map(snapshot_json),
            thin: None,
        },
        C::LvRenamed { from, to } => ChangeKind::LvRenamed {
            from: from.clone(),
            to: to.clone(),
        },
        C::LvResized {
            name,
            from,
            to,
            added,
        } => ChangeKind::LvResized {
            lv: name.clone(),
            from_extents: *from,
            to_extents: *to,
            added: extents_json(added),
        },
        C::LvMoved { name, from, to } => ChangeKind::LvMoved {
            lv: name.clone(),
            from: extents_json(from),
            to: extents_json(to),
        },
        C::LvAttr {
            name,
            key,
            from,
            to,
        } => ChangeKind::LvChanged {
            lv: name.clone(),
            key: (*key).to_owned(),
            from: from.clone(),
            to: to.clone(),
        },
        C::SnapshotAttached { name, snapshot, at } => ChangeKind::SnapshotAttached {
            lv: name.clone(),
            snapshot: snapshot_json(snapshot),
            at: extents_json(at),
        },
        C::SnapshotDetached { name, snapshot } => ChangeKind::SnapshotDetached {
            lv: name.clone(),
            snapshot: snapshot_json(snapshot),
        },
        C::MergeStarted { snapshot, origin } => ChangeKind::MergeStarted {
            lv: snapshot.clone(),
            origin: origin.clone(),
        },
        C::ThinCreated {
            name,
            thin,
            extents,
        } => ChangeKind::LvCreated {
            lv: name.clone(),
            extents: *extents,
            at: Vec::new(),
            snapshot: None,
            thin: Some(thin_json(thin)),
        },
        C::ThinRemoved { name, thin } => ChangeKind::LvRemoved {
            lv: name.clone(),
            at: Vec::new(),
            snapshot: None,
            thin: Some(thin_json(thin)),
        },
        C::PoolTransaction { pool, from, to } => ChangeKind::PoolTransaction {
            pool: pool.clone(),
            from: *from,
            to: *to,
        },
        _ => ChangeKind::Other,
    };
    ChangeJson {
        change,
        text: c.to_string(),
    }
}

/// Copy `i` of `h` as `history --json` prints it.
pub fn copy_json(h: &History, i: usize) -> CopyJson {
    let c = &h.copies[i];
    let found = c
        .found
        .iter()
        .map(|l| PlaceJson {
            device: l.path.clone(),
            mda: l.mda.map(|m| m + 1),
            area_offset: l.area_offset,
            offset: l.offset,
            wrapped: l.wrapped,
            committed: l.committed,
            guess: l.mda.is_none(),
        })
        .collect();
    let (prev, list) = changes(h, i);
    let (crc_status, stored_crc) = match c.crc_status {
        CrcStatus::Committed => (CrcJson::Committed, None),
        CrcStatus::Mismatch { stored } => (CrcJson::Mismatch, Some(format!("{stored:08x}"))),
        CrcStatus::Unrecorded => (CrcJson::Unrecorded, None),
    };
    CopyJson {
        vg: c.vg_name.clone(),
        vg_id: c.vg_id.clone(),
        seqno: c.seqno,
        creation_time: c.creation_time,
        creation_time_utc: c.creation_time.map(lvm_meta::timefmt::iso_local),
        creation_host: c.creation_host.clone(),
        description: c.description.clone(),
        length: c.len(),
        crc: format!("{:08x}", c.crc),
        crc_status,
        stored_crc,
        parse_error: c.vg.as_ref().err().map(|e| e.to_string()),
        bad_end: c.bad_end,
        found,
        previous_seqno: prev,
        changes: list
            .as_ref()
            .map_or(Vec::new(), |v| v.iter().map(change_json).collect()),
        changes_note: list.err().map(str::to_owned),
    }
}
