//! The history of a VG: every copy of its metadata text still present in
//! the metadata areas of the images (lvm2 writes each new copy after the
//! previous one in the ring, so older copies stay until overwritten), put
//! in order, and what changed from one copy to the next.
//!
//! The ring scan is pvck's `metadata_search` ([`scan_copies`]). A copy
//! found in several areas (one per PV, or two per PV) is listed once with
//! every place it was found. Only the committed copy has a stored checksum
//! (`raw_locn[0]` of its area); an older copy is checked by parsing it.
//!
//! Checkers collect: an area that cannot be read or a copy that does not
//! parse is a [`Problem`] and the walk goes on.

use crate::error::Corruption;
use crate::io::Image;
use crate::mda_header::MDA_HEADER_SIZE;
use crate::metadata_area::{read_area_bytes, scan_copies, scan_run, FoundCopy, MAX_TEXT_SIZE};
use crate::model::{Area, SegmentKind, Vg};
use crate::scan::{Problem, System, VgInstance};
use crate::text;
use std::sync::Arc;

/// Where one copy was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// Index of the device in [`System::devices`].
    pub device: usize,
    /// The image's name.
    pub path: String,
    /// Index of the metadata area in the PV header (0 or 1); `None` when
    /// the copy was found by scanning the whole image.
    pub mda: Option<usize>,
    /// Absolute byte offset of the area (0 for a whole-image scan).
    pub area_offset: u64,
    /// Absolute byte offset of the copy's first byte.
    pub offset: u64,
    /// True if the copy runs past the area's end and continues at 512.
    pub wrapped: bool,
    /// True if the area's `raw_locn[0]` points at this copy.
    pub committed: bool,
}

/// What the stored checksum says about a copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrcStatus {
    /// The copy is committed in some area and its checksum matches.
    Committed,
    /// An area's `raw_locn[0]` points here but holds another checksum:
    /// the text at the slot was overwritten or damaged.
    Mismatch {
        /// `raw_locn[0].checksum`.
        stored: u32,
    },
    /// An older copy: lvm2 keeps no checksum for it.
    Unrecorded,
}

/// One distinct copy of the metadata text.
#[derive(Debug, Clone)]
pub struct Copy {
    /// VG name from the first line.
    pub vg_name: String,
    /// VG UUID from the second line.
    pub vg_id: String,
    /// `seqno`.
    pub seqno: u32,
    /// LVM CRC over the text (NUL included), as pvck prints it.
    pub crc: u32,
    /// The text including its NUL.
    pub text: Vec<u8>,
    /// `description` from the text (lvm2 writes `Write from <command>.`).
    pub description: Option<String>,
    /// `creation_time` from the text.
    pub creation_time: Option<i64>,
    /// `creation_host` from the text: the machine whose lvm2 wrote it.
    pub creation_host: Option<String>,
    /// Checksum status.
    pub crc_status: CrcStatus,
    /// True unless the text ends with `"\n\n\0"` as lvm2 writes it.
    pub bad_end: bool,
    /// Every place the same bytes were found, in scan order.
    pub found: Vec<Location>,
    /// The parsed VG, or why it did not parse.
    pub vg: std::result::Result<Vg, Corruption>,
}

impl Copy {
    /// The text's length with its NUL, as pvck prints `length`.
    pub fn len(&self) -> usize {
        self.text.len()
    }

    /// True if the text is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Every copy of every VG, and the problems met.
#[derive(Debug, Default)]
pub struct History {
    /// Copies ordered by VG (first seen), then seqno, then creation time,
    /// then where they were first found.
    pub copies: Vec<Copy>,
    /// Areas that could not be read.
    pub problems: Vec<Problem>,
}

impl History {
    /// The copies of one VG (by name; any UUID that used this name).
    pub fn of_vg<'a>(&'a self, name: &'a str) -> impl Iterator<Item = (usize, &'a Copy)> + 'a {
        self.copies
            .iter()
            .enumerate()
            .filter(move |(_, c)| c.vg_name == name)
    }

    /// The index of the copy just before `i` of the same VG (by UUID).
    pub fn previous(&self, i: usize) -> Option<usize> {
        let id = &self.copies.get(i)?.vg_id;
        (0..i).rev().find(|&j| self.copies[j].vg_id == *id)
    }
}

/// Collects the history from the metadata areas of every labelled device.
pub fn collect(sys: &System) -> History {
    let mut h = History::default();
    let mut raw: Vec<(FoundCopy, Location, Option<u32>)> = Vec::new();
    for (di, d) in sys.devices.iter().enumerate() {
        for (mi, m) in d.mdas.iter().enumerate() {
            // The header's size when it could be read, else the PV header's.
            let size = m.header.as_ref().map_or(m.locn.size, |x| x.size);
            let size = if size < MDA_HEADER_SIZE {
                m.locn.size
            } else {
                size
            };
            let buf = match read_area_bytes(&d.image, m.locn.offset, size) {
                Ok(b) => b,
                Err(e) => {
                    h.problems.push(Problem {
                        fatal: false,
                        error: e,
                    });
                    continue;
                }
            };
            let slot = m
                .header
                .as_ref()
                .map(|x| x.raw_locns[0])
                .filter(|r| !r.is_empty() && !r.ignored());
            for c in scan_copies(&buf, m.locn.offset) {
                let committed = slot.is_some_and(|r| r.offset == c.rel_offset);
                let stored = slot.filter(|_| committed).map(|r| r.checksum);
                let loc = Location {
                    device: di,
                    path: d.image.path.clone(),
                    mda: Some(mi),
                    area_offset: m.locn.offset,
                    offset: c.offset,
                    wrapped: c.wrapped,
                    committed,
                };
                raw.push((c, loc, stored));
            }
        }
    }
    h.copies = merge(raw);
    h
}

/// Bytes of an image [`collect_scan_all`] scans at once. A window is read
/// with [`SCAN_OVERLAP`] more bytes after it, so that a copy starting in
/// it is read whole; memory stays bounded whatever the image's size.
pub const SCAN_WINDOW: u64 = 16 << 20;

/// Bytes read past a window: a copy starting in the window and longer than
/// this makes the window be read again with [`MAX_TEXT_SIZE`] bytes after
/// it.
pub const SCAN_OVERLAP: u64 = 1 << 20;

/// Collects copies by scanning every image whole for metadata text, at
/// every 512-byte boundary, whether or not a label or area header points
/// there (for images whose label or area header is damaged). The images
/// are streamed window by window ([`SCAN_WINDOW`]), so an image of any
/// size is scanned whole in bounded memory.
pub fn collect_scan_all(images: &[&Image]) -> History {
    collect_scan_all_with(images, SCAN_WINDOW, SCAN_OVERLAP, &mut |_, _, _| {})
}

/// [`collect_scan_all`] with the window and overlap sizes given (multiples
/// of 512), calling `progress(image, bytes scanned, image size)` after
/// each window. The copies found are the same as one scan of the whole
/// image would find (`pvck`'s `metadata_search` walk over the image as if
/// it were one area): a window's scan resumes where a copy found in the
/// one before ended, and only copies starting in the window itself are
/// kept.
pub fn collect_scan_all_with(
    images: &[&Image],
    window: u64,
    overlap: u64,
    progress: &mut dyn FnMut(usize, u64, u64),
) -> History {
    let mut h = History::default();
    let mut raw = Vec::new();
    let window = window.max(512) / 512 * 512;
    for (di, img) in images.iter().enumerate() {
        // The scan treats the image's first sector as an area header (as
        // pvck does), so text is looked for from byte 512 on.
        let mut pos = MDA_HEADER_SIZE;
        let mut failed = false;
        while pos < img.size && !failed {
            let mut extra = overlap;
            let (found, next) = loop {
                let end = pos
                    .saturating_add(window)
                    .saturating_add(extra)
                    .min(img.size);
                let last = end == img.size;
                // A zero header sector in front, then the bytes pos..end.
                let mut buf = vec![0u8; MDA_HEADER_SIZE as usize];
                // OK to cast: at most SCAN_WINDOW + MAX_TEXT_SIZE.
                match img.read(pos, (end - pos) as usize) {
                    Ok(b) => buf.extend_from_slice(&b),
                    Err(e) => {
                        h.problems.push(Problem {
                            fatal: false,
                            error: e,
                        });
                        failed = true;
                        break (Vec::new(), end);
                    }
                }
                let body_end = pos.saturating_add(window);
                let mut kept = Vec::new();
                let mut next = body_end.min(end);
                let (copies, open) = scan_run(&buf, pos - MDA_HEADER_SIZE);
                // A copy starting in the window ran off the bytes read:
                // inside the image, read more.
                let cut = !last && open.is_some_and(|o| o < body_end);
                for c in copies {
                    if !last && c.offset >= body_end {
                        continue;
                    }
                    if c.wrapped {
                        // The whole image has no ring: no copy.
                        continue;
                    }
                    next = next.max(c.offset + (c.text.len() as u64).div_ceil(512).max(1) * 512);
                    kept.push(c);
                }
                if cut && extra < MAX_TEXT_SIZE {
                    extra = MAX_TEXT_SIZE;
                    continue;
                }
                break (kept, if last { img.size } else { next });
            };
            for c in found {
                let loc = Location {
                    device: di,
                    path: img.path.clone(),
                    mda: None,
                    area_offset: 0,
                    offset: c.offset,
                    wrapped: false,
                    committed: false,
                };
                raw.push((c, loc, None));
            }
            pos = next;
            progress(di, pos.min(img.size), img.size);
        }
    }
    h.copies = merge(raw);
    h
}

/// Adds to `sys` every VG that the label scan could not assemble (a wiped
/// label or area header) from the newest copy that parses in `hist` (a
/// [`collect_scan_all`] of the same images). A PV whose label is gone is
/// matched to an unlabelled image on which a copy of the VG was found and
/// which is large enough for the PV's extents. Returns every guess made,
/// in words; the caller must report them as guesses.
pub fn rebuild(sys: &mut System, hist: &History) -> Vec<String> {
    let mut guesses = Vec::new();
    let mut ids: Vec<&str> = Vec::new();
    for c in &hist.copies {
        if !ids.contains(&c.vg_id.as_str()) {
            ids.push(&c.vg_id);
        }
    }
    for id in ids {
        // Newest parseable copy; copies are in seqno order already.
        let Some(best) = hist.copies.iter().rfind(|c| c.vg_id == id && c.vg.is_ok()) else {
            continue;
        };
        let Ok(vg) = &best.vg else { continue };
        // A VG the label scan assembled keeps its metadata; only its
        // missing PVs are looked for.
        let existing = sys.vgs.iter().position(|v| v.vg.id == vg.id);
        if existing.is_some_and(|i| !sys.vgs[i].partial()) {
            continue;
        }
        let vg: &Vg = match existing {
            Some(i) => &sys.vgs[i].vg.clone(),
            None => vg,
        };
        let mut pv_devices = Vec::new();
        for (pi, p) in vg.pvs.iter().enumerate() {
            if let Some(d) = existing.and_then(|i| sys.vgs[i].pv_devices.get(pi).copied().flatten())
            {
                pv_devices.push(Some(d));
                continue;
            }
            if let Some(d) = sys.devices.iter().position(|d| d.pv_uuid() == Some(p.uuid)) {
                pv_devices.push(Some(d));
                continue;
            }
            let need = u64::from(p.pe_count)
                .checked_mul(vg.extent_size.0)
                .and_then(|x| x.checked_add(p.pe_start.0))
                .and_then(|x| x.checked_mul(512));
            let holds_copy = |d: usize| {
                hist.copies
                    .iter()
                    .any(|c| c.vg_id == id && c.found.iter().any(|l| l.device == d))
            };
            let taken = |d: usize, v: &Vec<Option<usize>>| v.contains(&Some(d));
            let fits = |d: usize| {
                sys.devices[d].label.is_none()
                    && holds_copy(d)
                    && !taken(d, &pv_devices)
                    && need.is_some_and(|n| n <= sys.devices[d].image.size)
            };
            // Prefer the image named like the metadata's device hint.
            let cand = (0..sys.devices.len())
                .find(|&d| {
                    fits(d) && p.device.as_deref() == Some(sys.devices[d].image.path.as_str())
                })
                .or_else(|| (0..sys.devices.len()).find(|&d| fits(d)));
            match cand {
                Some(d) => {
                    guesses.push(format!(
                        "GUESS: PV {} ({}) of VG {} is {}: its label is unreadable; a copy of the VG's metadata is on it and it is large enough",
                        p.key, p.id, vg.name, sys.devices[d].image.path
                    ));
                    pv_devices.push(Some(d));
                }
                None => {
                    guesses.push(format!(
                        "GUESS: PV {} ({}) of VG {} is missing: no labelled or unlabelled image fits",
                        p.key, p.id, vg.name
                    ));
                    pv_devices.push(None);
                }
            }
        }
        if let Some(i) = existing {
            sys.vgs[i].pv_devices = pv_devices;
            continue;
        }
        let at = best.found.first().map_or(0, |l| l.offset);
        guesses.push(format!(
            "GUESS: VG {} rebuilt from seqno {} found by scanning at {} offset {at} (no label or area header points there); data extents start at pe_start from the metadata",
            vg.name,
            best.seqno,
            best.found.first().map_or("?", |l| l.path.as_str())
        ));
        sys.vgs.push(VgInstance {
            vg: Arc::new(vg.clone()),
            text: Arc::new(best.text.clone()),
            source: (best.found.first().map_or(0, |l| l.device), 0),
            pv_devices,
        });
    }
    guesses
}

/// Compares each PV header's first data area with the `pe_start` of the
/// metadata in use: lvmsim (like lvm2's activation) places LV data by
/// `pe_start`, so a disagreeing pointer is reported, not followed. Returns
/// one line per disagreement.
pub fn check_data_areas(sys: &System) -> Vec<String> {
    let mut out = Vec::new();
    for v in &sys.vgs {
        for (pi, p) in v.vg.pvs.iter().enumerate() {
            let Some(d) = v.pv_devices.get(pi).copied().flatten() else {
                continue;
            };
            let dev = &sys.devices[d];
            let Some(l) = &dev.label else { continue };
            let Some(da) = l.pv_header.data_areas.first() else {
                continue;
            };
            if Some(da.offset) != p.pe_start.bytes() {
                out.push(format!(
                    "GUESS: {}: the PV header's data area starts at byte {} but VG {} says pe_start {} sectors; LV data is read at pe_start from the metadata",
                    dev.image.path, da.offset, v.vg.name, p.pe_start.0
                ));
            }
        }
    }
    out
}

/// Dedupes identical copies and orders them.
fn merge(raw: Vec<(FoundCopy, Location, Option<u32>)>) -> Vec<Copy> {
    let mut out: Vec<Copy> = Vec::new();
    let mut vg_order: Vec<String> = Vec::new();
    for (c, loc, stored) in raw {
        if !vg_order.contains(&c.id) {
            vg_order.push(c.id.clone());
        }
        if let Some(same) = out
            .iter_mut()
            .find(|x| x.vg_id == c.id && x.crc == c.crc && x.text == c.text)
        {
            if let Some(s) = stored {
                same.crc_status = status(s, c.crc, same.crc_status);
            }
            same.found.push(loc);
            continue;
        }
        let tree = text::parse(&c.text);
        let (description, creation_time, creation_host) = match &tree {
            Ok(t) => header_values(t),
            Err(_) => (None, None, None),
        };
        let vg = tree.and_then(|t| Vg::from_tree(&t));
        out.push(Copy {
            vg_name: c.vg_name,
            vg_id: c.id,
            seqno: c.seqno,
            crc: c.crc,
            description,
            creation_time,
            creation_host,
            crc_status: stored.map_or(CrcStatus::Unrecorded, |s| {
                status(s, c.crc, CrcStatus::Unrecorded)
            }),
            bad_end: c.bad_end,
            text: c.text,
            found: vec![loc],
            vg,
        });
    }
    // Stable: equal keys keep scan order.
    out.sort_by_key(|c| {
        (
            vg_order.iter().position(|v| *v == c.vg_id),
            c.seqno,
            c.creation_time,
        )
    });
    out
}

fn status(stored: u32, crc: u32, before: CrcStatus) -> CrcStatus {
    if stored == crc {
        CrcStatus::Committed
    } else if before == CrcStatus::Committed {
        before
    } else {
        CrcStatus::Mismatch { stored }
    }
}

fn header_values(t: &text::Tree) -> (Option<String>, Option<i64>, Option<String>) {
    let mut d = None;
    let mut time = None;
    let mut host = None;
    for n in &t.nodes {
        if let text::Node::Setting { key, value } = n {
            match (key.as_str(), value) {
                ("description", text::Value::Str(s)) => d = Some(s.clone()),
                ("creation_time", text::Value::Int(i)) => time = Some(*i),
                ("creation_host", text::Value::Str(s)) => host = Some(s.clone()),
                _ => {}
            }
        }
    }
    (d, time, host)
}

/// Physical extents of one stripe run: PV key, first PE, count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extents {
    /// The PV's key in the metadata (`pv0`).
    pub pv: String,
    /// First physical extent.
    pub first: u32,
    /// Number of extents.
    pub count: u32,
}

impl std::fmt::Display for Extents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let last = self.first.saturating_add(self.count.saturating_sub(1));
        if self.count == 1 {
            write!(f, "{}:{}", self.pv, self.first)
        } else {
            write!(f, "{}:{}-{last}", self.pv, self.first)
        }
    }
}

/// A snapshot's relation to its origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapInfo {
    /// The origin's name.
    pub origin: String,
    /// Chunk size in bytes.
    pub chunk_bytes: u64,
    /// True if the glue says `merging_store`.
    pub merging: bool,
}

/// One structural change between two copies of a VG.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// The VG was renamed.
    VgRenamed {
        /// Old name.
        from: String,
        /// New name.
        to: String,
    },
    /// A VG setting changed (status, flags, tags, extent_size, max_lv ...).
    VgAttr {
        /// The key.
        key: &'static str,
        /// Old value, printable.
        from: String,
        /// New value, printable.
        to: String,
    },
    /// A PV joined the VG.
    PvAdded {
        /// Its key.
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
    /// An LV appeared (a snapshot's hidden glue LV is folded into its COW LV).
    LvCreated {
        /// Name.
        name: String,
        /// Total extents.
        extents: u64,
        /// Where its extents lie.
        at: Vec<Extents>,
        /// Set if it is a snapshot (COW LV).
        snapshot: Option<SnapInfo>,
    },
    /// An LV disappeared.
    LvRemoved {
        /// Name.
        name: String,
        /// Set if it was a snapshot.
        snapshot: Option<SnapInfo>,
        /// Where its extents were (now free unless reused).
        at: Vec<Extents>,
    },
    /// An LV got another name.
    LvRenamed {
        /// Old name.
        from: String,
        /// New name.
        to: String,
    },
    /// An LV grew or shrank.
    LvResized {
        /// Name (the new one if it was renamed too).
        name: String,
        /// Extents before.
        from: u64,
        /// Extents after.
        to: u64,
        /// Extents added (empty when it shrank).
        added: Vec<Extents>,
    },
    /// The LV kept its size but its extents moved (pvmove, lvconvert ...).
    LvMoved {
        /// Name.
        name: String,
        /// Where the extents were.
        from: Vec<Extents>,
        /// Where they are.
        to: Vec<Extents>,
    },
    /// An LV's status, flags or tags changed.
    LvAttr {
        /// Name.
        name: String,
        /// The key.
        key: &'static str,
        /// Old value.
        from: String,
        /// New value.
        to: String,
    },
    /// An existing LV became the COW store of a snapshot (lvm2 creates a
    /// snapshot in two commits: the COW LV, then the glue that hides it).
    SnapshotAttached {
        /// The COW LV (the snapshot's name).
        name: String,
        /// Origin and chunk size.
        snapshot: SnapInfo,
        /// The COW's extents.
        at: Vec<Extents>,
    },
    /// A snapshot's glue was removed and its COW LV became a plain LV
    /// (lvm2 removes a snapshot in two commits).
    SnapshotDetached {
        /// The COW LV.
        name: String,
        /// What it was a snapshot of.
        snapshot: SnapInfo,
    },
    /// A snapshot started merging into its origin.
    MergeStarted {
        /// The snapshot.
        snapshot: String,
        /// The origin.
        origin: String,
    },
    /// A thin LV appeared (reported instead of [`Change::LvCreated`]).
    ThinCreated {
        /// Name.
        name: String,
        /// Its thin device.
        thin: ThinInfo,
        /// Virtual size in extents.
        extents: u64,
    },
    /// A thin LV disappeared (reported instead of [`Change::LvRemoved`]).
    ThinRemoved {
        /// Name.
        name: String,
        /// Its thin device.
        thin: ThinInfo,
    },
    /// A thin pool's `transaction_id` changed: every change of its thin
    /// devices (create, snapshot, delete) is one kernel transaction.
    PoolTransaction {
        /// The pool.
        pool: String,
        /// Old value.
        from: u64,
        /// New value.
        to: u64,
    },
}

/// A thin LV's device in its pool, as a `thin` segment names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThinInfo {
    /// The pool LV.
    pub pool: String,
    /// `device_id`: the thin id in the pool's metadata.
    pub device_id: u64,
    /// `transaction_id`: the pool's transaction that created it.
    pub transaction_id: u64,
    /// `origin`: the thin LV it is a snapshot of.
    pub origin: Option<String>,
}

struct SegNodes<'a>(&'a [crate::text::Node]);

impl crate::text::Lookup for SegNodes<'_> {
    fn nodes(&self) -> &[crate::text::Node] {
        self.0
    }
}

fn unknown_keys<'a>(vg: &'a Vg, lv: usize, type_name: &str) -> Option<SegNodes<'a>> {
    let [s] = vg.lvs.get(lv)?.segments.as_slice() else {
        return None;
    };
    match &s.kind {
        SegmentKind::Unknown { nodes } if s.type_name == type_name => Some(SegNodes(nodes)),
        _ => None,
    }
}

fn seg_int(s: &SegNodes<'_>, key: &str) -> Option<u64> {
    use crate::text::Lookup;
    match s.value(key) {
        Some(crate::text::Value::Int(v)) => u64::try_from(*v).ok(),
        _ => None,
    }
}

fn seg_str(s: &SegNodes<'_>, key: &str) -> Option<String> {
    use crate::text::Lookup;
    match s.value(key) {
        Some(crate::text::Value::Str(v)) => Some(v.clone()),
        _ => None,
    }
}

/// LV `lv` of `vg` as a thin LV (a `thin` segment with its keys).
pub fn thin_info(vg: &Vg, lv: usize) -> Option<ThinInfo> {
    let s = unknown_keys(vg, lv, "thin")?;
    Some(ThinInfo {
        pool: seg_str(&s, "thin_pool")?,
        device_id: seg_int(&s, "device_id")?,
        transaction_id: seg_int(&s, "transaction_id")?,
        origin: seg_str(&s, "origin"),
    })
}

/// The `transaction_id` of LV `lv` of `vg`, if it is a thin pool.
pub fn pool_transaction_id(vg: &Vg, lv: usize) -> Option<u64> {
    seg_int(&unknown_keys(vg, lv, "thin-pool")?, "transaction_id")
}

fn kib(bytes: u64) -> String {
    if bytes.trailing_zeros() >= 20 {
        format!("{}m", bytes >> 20)
    } else if bytes.trailing_zeros() >= 10 {
        format!("{}k", bytes >> 10)
    } else {
        format!("{bytes}b")
    }
}

fn plural(n: u64) -> String {
    if n == 1 {
        "1 extent".into()
    } else {
        format!("{n} extents")
    }
}

fn extents_list(e: &[Extents]) -> String {
    e.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::VgRenamed { from, to } => write!(f, "vgrename {from} -> {to}"),
            Change::VgAttr { key, from, to } => write!(f, "vg {key}: {from} -> {to}"),
            Change::PvAdded { pv, id } => write!(f, "pv {pv} added ({id})"),
            Change::PvRemoved { pv, id } => write!(f, "pv {pv} removed ({id})"),
            Change::PvChanged { pv, what } => write!(f, "pv {pv}: {what}"),
            Change::LvCreated {
                name,
                extents,
                at,
                snapshot,
            } => {
                let at = extents_list(at);
                match snapshot {
                    Some(s) => write!(
                        f,
                        "lvcreate {name} (snapshot of {}, chunk {}, {} at {at})",
                        s.origin,
                        kib(s.chunk_bytes),
                        plural(*extents)
                    ),
                    None => write!(f, "lvcreate {name} ({} at {at})", plural(*extents)),
                }
            }
            Change::LvRemoved { name, snapshot, at } => {
                let at = extents_list(at);
                match snapshot {
                    Some(s) if s.merging => {
                        write!(f, "lvremove {name} (merged into {}; frees {at})", s.origin)
                    }
                    Some(s) => write!(f, "lvremove {name} (snapshot of {}; frees {at})", s.origin),
                    None => write!(f, "lvremove {name} (frees {at})"),
                }
            }
            Change::LvRenamed { from, to } => write!(f, "lvrename {from} -> {to}"),
            Change::LvResized {
                name,
                from,
                to,
                added,
            } => {
                if to > from {
                    write!(
                        f,
                        "lvextend {name} +{} at {}",
                        plural(to - from),
                        extents_list(added)
                    )
                } else {
                    write!(f, "lvreduce {name} -{}", plural(from - to))
                }
            }
            Change::LvMoved { name, from, to } => write!(
                f,
                "{name} moved from {} to {}",
                extents_list(from),
                extents_list(to)
            ),
            Change::LvAttr {
                name,
                key,
                from,
                to,
            } => write!(f, "{name} {key}: {from} -> {to}"),
            Change::SnapshotAttached { name, snapshot, at } => write!(
                f,
                "{name} becomes a snapshot of {} (chunk {}, COW at {})",
                snapshot.origin,
                kib(snapshot.chunk_bytes),
                extents_list(at)
            ),
            Change::SnapshotDetached { name, snapshot } => {
                write!(f, "{name} is no longer a snapshot of {}", snapshot.origin)
            }
            Change::MergeStarted { snapshot, origin } => {
                write!(f, "lvconvert --merge {snapshot} (into {origin})")
            }
            Change::ThinCreated {
                name,
                thin,
                extents,
            } => {
                write!(f, "lvcreate {name} (")?;
                if let Some(o) = &thin.origin {
                    write!(f, "thin snapshot of {o}, ")?;
                }
                write!(
                    f,
                    "thin id {} in pool {}, transaction_id {}, {} virtual)",
                    thin.device_id,
                    thin.pool,
                    thin.transaction_id,
                    plural(*extents)
                )
            }
            Change::ThinRemoved { name, thin } => {
                write!(
                    f,
                    "lvremove {name} (thin id {} in pool {}",
                    thin.device_id, thin.pool
                )?;
                if let Some(o) = &thin.origin {
                    write!(f, ", thin snapshot of {o}")?;
                }
                write!(f, ")")
            }
            Change::PoolTransaction { pool, from, to } => {
                write!(f, "{pool} transaction_id: {from} -> {to}")
            }
        }
    }
}

/// The physical extents of LV `lv`, in logical order, adjacent runs joined.
pub fn lv_extents(vg: &Vg, lv: usize) -> Vec<Extents> {
    let mut out: Vec<Extents> = Vec::new();
    let Some(l) = vg.lvs.get(lv) else {
        return out;
    };
    for s in &l.segments {
        let SegmentKind::Striped { stripes, .. } = &s.kind else {
            continue;
        };
        let n = u32::try_from(stripes.len().max(1)).unwrap_or(u32::MAX);
        let per = s.extent_count / n;
        for a in stripes {
            if let Area::Pv { pv, pe } = a {
                let key = vg.pvs.get(*pv).map_or("?".into(), |p| p.key.clone());
                if let Some(last) = out.last_mut() {
                    if last.pv == key && last.first.checked_add(last.count) == Some(*pe) {
                        last.count = last.count.saturating_add(per);
                        continue;
                    }
                }
                out.push(Extents {
                    pv: key,
                    first: *pe,
                    count: per,
                });
            }
        }
    }
    out
}

fn snap_info(vg: &Vg, lv: usize) -> Option<SnapInfo> {
    let c = vg.roles.get(lv)?.cow_of?;
    Some(SnapInfo {
        origin: vg.lvs.get(c.origin)?.name.clone(),
        chunk_bytes: c.chunk_size.0.saturating_mul(512),
        merging: c.merging,
    })
}

fn list(v: &[String]) -> String {
    format!("[{}]", v.join(", "))
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map_or("(none)".into(), |x| x.to_string())
}

/// What changed from `old` to `new`. LVs and PVs are matched by UUID, so
/// a rename is a rename, not a removal and a creation.
pub fn diff(old: &Vg, new: &Vg) -> Vec<Change> {
    let mut out = Vec::new();
    if old.name != new.name {
        out.push(Change::VgRenamed {
            from: old.name.clone(),
            to: new.name.clone(),
        });
    }
    let mut attr = |key: &'static str, a: String, b: String| {
        if a != b {
            out.push(Change::VgAttr {
                key,
                from: a,
                to: b,
            });
        }
    };
    attr("status", list(&old.status), list(&new.status));
    attr("flags", list(&old.flags), list(&new.flags));
    attr("tags", list(&old.tags), list(&new.tags));
    attr(
        "extent_size",
        old.extent_size.0.to_string(),
        new.extent_size.0.to_string(),
    );
    attr("max_lv", old.max_lv.to_string(), new.max_lv.to_string());
    attr("max_pv", old.max_pv.to_string(), new.max_pv.to_string());
    attr("system_id", opt(&old.system_id), opt(&new.system_id));
    attr("lock_type", opt(&old.lock_type), opt(&new.lock_type));
    attr(
        "allocation_policy",
        opt(&old.allocation_policy),
        opt(&new.allocation_policy),
    );
    attr(
        "metadata_copies",
        old.metadata_copies.to_string(),
        new.metadata_copies.to_string(),
    );

    for p in &old.pvs {
        if !new.pvs.iter().any(|q| q.id == p.id) {
            out.push(Change::PvRemoved {
                pv: p.key.clone(),
                id: p.id.clone(),
            });
        }
    }
    for q in &new.pvs {
        match old.pvs.iter().find(|p| p.id == q.id) {
            None => out.push(Change::PvAdded {
                pv: q.key.clone(),
                id: q.id.clone(),
            }),
            Some(p) => {
                let mut what = Vec::new();
                if p.pe_count != q.pe_count {
                    what.push(format!("pe_count {} -> {}", p.pe_count, q.pe_count));
                }
                if p.dev_size != q.dev_size {
                    what.push(format!(
                        "dev_size {} -> {}",
                        opt(&p.dev_size.map(|s| s.0)),
                        opt(&q.dev_size.map(|s| s.0))
                    ));
                }
                if p.pe_start != q.pe_start {
                    what.push(format!("pe_start {} -> {}", p.pe_start.0, q.pe_start.0));
                }
                if p.status != q.status {
                    what.push(format!("status {} -> {}", list(&p.status), list(&q.status)));
                }
                if p.key != q.key {
                    what.push(format!("key {} -> {}", p.key, q.key));
                }
                if !what.is_empty() {
                    out.push(Change::PvChanged {
                        pv: q.key.clone(),
                        what: what.join(", "),
                    });
                }
            }
        }
    }

    // Snapshot glue LVs are folded into their COW LVs.
    let glue = |vg: &Vg, i: usize| vg.lvs[i].is_snapshot_glue();
    for (i, l) in old.lvs.iter().enumerate() {
        if glue(old, i) || new.lvs.iter().any(|m| m.id == l.id) {
            continue;
        }
        if let Some(thin) = thin_info(old, i) {
            out.push(Change::ThinRemoved {
                name: l.name.clone(),
                thin,
            });
            continue;
        }
        out.push(Change::LvRemoved {
            name: l.name.clone(),
            snapshot: snap_info(old, i),
            at: lv_extents(old, i),
        });
    }
    for (j, m) in new.lvs.iter().enumerate() {
        if glue(new, j) {
            continue;
        }
        let Some(i) = old.lvs.iter().position(|l| l.id == m.id) else {
            if let Some(thin) = thin_info(new, j) {
                out.push(Change::ThinCreated {
                    name: m.name.clone(),
                    thin,
                    extents: new.lv_extents(m),
                });
                continue;
            }
            out.push(Change::LvCreated {
                name: m.name.clone(),
                extents: new.lv_extents(m),
                at: lv_extents(new, j),
                snapshot: snap_info(new, j),
            });
            continue;
        };
        let l = &old.lvs[i];
        if l.name != m.name {
            out.push(Change::LvRenamed {
                from: l.name.clone(),
                to: m.name.clone(),
            });
        }
        let (a, b) = (old.lv_extents(l), new.lv_extents(m));
        let (ea, eb) = (lv_extents(old, i), lv_extents(new, j));
        if a != b {
            let added = if b > a {
                // The extents past the old end, in logical order.
                let mut skip = a;
                let mut v = Vec::new();
                for e in &eb {
                    let c = u64::from(e.count);
                    if skip >= c {
                        skip -= c;
                        continue;
                    }
                    // OK to cast: skip < c <= u32::MAX.
                    let s = skip as u32;
                    v.push(Extents {
                        pv: e.pv.clone(),
                        first: e.first.saturating_add(s),
                        count: e.count - s,
                    });
                    skip = 0;
                }
                v
            } else {
                Vec::new()
            };
            out.push(Change::LvResized {
                name: m.name.clone(),
                from: a,
                to: b,
                added,
            });
        } else if ea != eb {
            out.push(Change::LvMoved {
                name: m.name.clone(),
                from: ea,
                to: eb,
            });
        }
        let mut lv_attr = |key: &'static str, x: String, y: String| {
            if x != y {
                out.push(Change::LvAttr {
                    name: m.name.clone(),
                    key,
                    from: x,
                    to: y,
                });
            }
        };
        let (sa, sb) = (snap_info(old, i), snap_info(new, j));
        // Attaching or detaching a snapshot toggles VISIBLE on the COW LV;
        // that is part of the change, not a change of its own.
        let strip = |v: &[String]| -> Vec<String> {
            v.iter().filter(|f| *f != "VISIBLE").cloned().collect()
        };
        let (st_a, st_b) = if sa.is_some() != sb.is_some() {
            (strip(&l.status), strip(&m.status))
        } else {
            (l.status.clone(), m.status.clone())
        };
        lv_attr("status", list(&st_a), list(&st_b));
        lv_attr("flags", list(&l.flags), list(&m.flags));
        lv_attr("tags", list(&l.tags), list(&m.tags));
        match (sa, sb) {
            (None, Some(sb)) => out.push(Change::SnapshotAttached {
                name: m.name.clone(),
                snapshot: sb,
                at: lv_extents(new, j),
            }),
            (Some(sa), None) => out.push(Change::SnapshotDetached {
                name: m.name.clone(),
                snapshot: sa,
            }),
            (Some(sa), Some(sb)) if !sa.merging && sb.merging => out.push(Change::MergeStarted {
                snapshot: m.name.clone(),
                origin: sb.origin.clone(),
            }),
            _ => {}
        }
        if let (Some(a), Some(b)) = (pool_transaction_id(old, i), pool_transaction_id(new, j)) {
            if a != b {
                out.push(Change::PoolTransaction {
                    pool: m.name.clone(),
                    from: a,
                    to: b,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vg(lvs: &str, seqno: u32) -> Vg {
        let t = format!(
            "vg {{\nid = \"QUb60V-stOf-pS0a-x2jW-FOpc-RUfN-RRAlCg\"\nseqno = {seqno}\n\
             format = \"lvm2\"\nstatus = [\"RESIZEABLE\", \"READ\", \"WRITE\"]\nflags = []\n\
             extent_size = 2048\nmax_lv = 0\nmax_pv = 0\nmetadata_copies = 0\n\
             physical_volumes {{\npv0 {{\nid = \"14o6Tb-uqsd-063e-DxMY-81nX-UMzV-xLxZdv\"\n\
             device = \"/dev/vda\"\nstatus = [\"ALLOCATABLE\"]\nflags = []\ndev_size = 65536\n\
             pe_start = 2048\npe_count = 31\n}}\n}}\n{lvs}}}\n\
             contents = \"Text Format Volume Group\"\nversion = 1\ndescription = \"\"\n"
        );
        Vg::from_tree(&text::parse(t.as_bytes()).unwrap()).unwrap()
    }

    fn linear(name: &str, id: &str, pe: u32, n: u32, vis: bool) -> String {
        let st = if vis {
            "\"READ\", \"WRITE\", \"VISIBLE\""
        } else {
            "\"READ\", \"WRITE\""
        };
        format!(
            "{name} {{\nid = \"{id}\"\nstatus = [{st}]\nflags = []\nsegment_count = 1\n\
             segment1 {{\nstart_extent = 0\nextent_count = {n}\ntype = \"striped\"\n\
             stripe_count = 1\nstripes = [\"pv0\", {pe}]\n}}\n}}\n"
        )
    }

    const O: &str = "B6WyeM-yKQ9-26M7-klpz-sp3s-UQC1-nF0TnP";
    const S: &str = "eyh0G5-cANp-keyD-wA18-MNJ2-86HF-fhfR9l";
    const G: &str = "jaeVRm-plCe-zcD7-PdJg-tPb3-aMG4-221p5P";

    fn with_snap() -> Vg {
        let glue = format!(
            "snapshot0 {{\nid = \"{G}\"\nstatus = [\"READ\", \"WRITE\", \"VISIBLE\"]\nflags = []\n\
             segment_count = 1\nsegment1 {{\nstart_extent = 0\nextent_count = 8\n\
             type = \"snapshot\"\nchunk_size = 16\norigin = \"origin\"\ncow_store = \"snap\"\n}}\n}}\n"
        );
        vg(
            &format!(
                "logical_volumes {{\n{}{}{glue}}}\n",
                linear("origin", O, 0, 8, true),
                linear("snap", S, 8, 4, false)
            ),
            4,
        )
    }

    #[test]
    fn snapshot_created_and_removed() {
        let before = vg(
            &format!(
                "logical_volumes {{\n{}}}\n",
                linear("origin", O, 0, 8, true)
            ),
            3,
        );
        let after = with_snap();
        let d = diff(&before, &after);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(
            d[0].to_string(),
            "lvcreate snap (snapshot of origin, chunk 8k, 4 extents at pv0:8-11)"
        );
        let d = diff(&after, &before);
        assert_eq!(
            d[0].to_string(),
            "lvremove snap (snapshot of origin; frees pv0:8-11)"
        );
    }

    #[test]
    fn rename_and_extend_are_matched_by_uuid() {
        let a = vg(
            &format!("logical_volumes {{\n{}}}\n", linear("data", O, 0, 8, true)),
            1,
        );
        let b = vg(
            &format!("logical_volumes {{\n{}}}\n", linear("d2", O, 0, 12, true)),
            2,
        );
        let d: Vec<String> = diff(&a, &b).iter().map(|c| c.to_string()).collect();
        assert_eq!(
            d,
            vec!["lvrename data -> d2", "lvextend d2 +4 extents at pv0:8-11"]
        );
    }

    fn found(
        seqno: u32,
        time: i64,
        extra: &str,
        offset: u64,
    ) -> (FoundCopy, Location, Option<u32>) {
        let mut t = format!(
            "vg {{\nid = \"QUb60V-stOf-pS0a-x2jW-FOpc-RUfN-RRAlCg\"\nseqno = {seqno}\n{extra}\n}}\n\
             description = \"\"\ncreation_time = {time}\n\n"
        )
        .into_bytes();
        t.push(0);
        let c = FoundCopy {
            offset,
            rel_offset: offset,
            crc: crate::crc::lvm_crc(&t),
            vg_name: "vg".into(),
            seqno,
            id: "QUb60V-stOf-pS0a-x2jW-FOpc-RUfN-RRAlCg".into(),
            text: t,
            wrapped: false,
            bad_end: false,
        };
        let l = Location {
            device: 0,
            path: "a.img".into(),
            mda: Some(0),
            area_offset: 0,
            offset,
            wrapped: false,
            committed: false,
        };
        (c, l, None)
    }

    #[test]
    fn same_seqno_twice_is_ordered_by_time_and_same_bytes_merged() {
        // A vgcfgrestore can write seqno 5 again with other contents; the
        // ring order (offset) says nothing once it wrapped.
        let raw = vec![
            found(5, 300, "x = 2", 512),
            found(4, 100, "x = 0", 1024),
            found(5, 200, "x = 1", 2048),
            found(4, 100, "x = 0", 9999),
        ];
        let m = merge(raw);
        let order: Vec<(u32, Option<i64>)> = m.iter().map(|c| (c.seqno, c.creation_time)).collect();
        assert_eq!(order, vec![(4, Some(100)), (5, Some(200)), (5, Some(300))]);
        assert_eq!(m[0].found.len(), 2, "identical copies are one entry");
    }

    #[test]
    fn identical_copies_have_no_changes() {
        assert!(diff(&with_snap(), &with_snap()).is_empty());
    }
}
