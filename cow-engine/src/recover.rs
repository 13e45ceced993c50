//! Forensic recovery of snapshots: every snapshot any metadata copy knew,
//! what became of it, and what of its view can still be rebuilt.
//!
//! A snapshot's view is its origin overlaid with the chunks its exception
//! store saved. After `lvremove` the store stays on the freed extents until
//! a later LV reuses them; after an overflow the kernel marks the store
//! invalid (`valid = 0` in the header) but leaves the records. So:
//!
//! - chunks the store saved are trustworthy while the extents holding them
//!   (and the metadata areas listing them) were not given to a later LV;
//! - chunks the store did not save come from the origin as it is now. For
//!   a valid store removed from the metadata, the origin had not changed
//!   them while the snapshot lived, but it may have after the removal:
//!   that cannot be told from the disk. For an invalid store, the write
//!   that overflowed it (and any after) reached the origin unsaved, so no
//!   unsaved chunk can be trusted.
//!
//! The mapping is computed as data ([`ExportPlan`]) before any byte moves.

use crate::error::StoreStep;
use crate::exception_store::Store;
use crate::lv_io::LvReader;
use crate::{Error, Result};
use lvm_meta::history::{lv_extents, Extents, History};
use lvm_meta::io::Image;
use lvm_meta::lv_map::{self, Piece};
use lvm_meta::model::Vg;
use lvm_meta::scan::System;

/// What became of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Still in the current metadata with a valid store.
    Present,
    /// Still in the metadata, but its store is invalid (overflowed).
    Invalid,
    /// Removed from the metadata while it was not merging.
    Dropped,
    /// Removed after a merge into its origin: its data is in the origin.
    Merged,
}

/// How much of a snapshot's view can be rebuilt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every chunk the store saved is intact and nothing it used was
    /// reused; unsaved chunks come from the origin now (see the module
    /// note for what that cannot promise).
    Recoverable,
    /// Some byte ranges are trustworthy, others are not ([`ExportPlan`]).
    Partly,
    /// No store header, records that cannot be trusted (on reused extents
    /// or implausible), or an invalid store with no saved chunk left:
    /// nothing beyond the origin, which may not be the snapshot's.
    Lost,
}

/// Another LV that was given some of a snapshot's extents later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reuse {
    /// The LV.
    pub lv: String,
    /// First seqno in which it held the extents.
    pub seqno: u32,
    /// The shared extents.
    pub extents: Vec<Extents>,
}

/// What was found in a snapshot's COW extents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreFacts {
    /// The header magic is there.
    pub header: bool,
    /// The header's `valid` flag.
    pub valid: bool,
    /// Chunk size in bytes (from the header).
    pub chunk_bytes: u64,
    /// Exception records read.
    pub exceptions: usize,
    /// Of those, records whose data chunk lies on reused extents.
    pub exceptions_reused: usize,
    /// Records the kernel could not have written: a data chunk past the
    /// COW's end, on the header or a metadata area, or used twice; or an
    /// origin chunk past the snapshot's end. Any such record means the
    /// area holding it was overwritten, so none of the records is trusted.
    pub implausible: usize,
    /// True if a metadata area of the store lies on reused extents.
    pub metadata_reused: bool,
    /// True if the header was gone and the records were found by scanning
    /// the COW for its metadata areas ([`Store::find_headerless`]): a
    /// guess, and whether the store had overflowed is not known.
    pub header_guessed: bool,
    /// True if every metadata area the store uses is well formed
    /// ([`crate::exception_store::well_formed_area`]). Areas on reused
    /// extents are judged by it, chunk by chunk, instead of being given up
    /// with their extent.
    pub metadata_intact: bool,
    /// Why the store could not be read, if it could not.
    pub error: Option<String>,
}

/// One snapshot that existed in some copy.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// VG name (in the last copy that had the snapshot).
    pub vg: String,
    /// The snapshot's (COW LV's) name.
    pub name: String,
    /// The COW LV's UUID.
    pub id: String,
    /// Origin name.
    pub origin: String,
    /// Chunk size from the metadata, bytes.
    pub chunk_bytes: u64,
    /// First and last seqno that had it.
    pub seqnos: (u32, u32),
    /// Index into [`History::copies`] of the last copy that had it.
    pub last_copy: usize,
    /// COW extents in that copy.
    pub cow_extents: Vec<Extents>,
    /// Its state now.
    pub state: State,
    /// LVs of later copies that were given its extents.
    pub reused_by: Vec<Reuse>,
    /// The store, for dropped and invalid snapshots.
    pub store: Option<StoreFacts>,
    /// The verdict, for dropped and invalid snapshots.
    pub verdict: Option<Verdict>,
    /// What the history says about the origin since, in words.
    pub notes: Vec<String>,
}

/// The device of each PV of `vg`, as [`LvReader`] wants: the device the
/// assembled VG of the same UUID uses for that PV (which may be a
/// `--scan-all` guess), else the device whose label has the PV's UUID.
pub fn pv_images<'a>(sys: &'a System, vg: &Vg) -> Vec<Option<&'a Image>> {
    let inst = sys.vgs.iter().find(|v| v.vg.id == vg.id);
    vg.pvs
        .iter()
        .map(|p| {
            let assembled = inst.and_then(|v| {
                let i = v.vg.pvs.iter().position(|q| q.uuid == p.uuid)?;
                v.pv_devices.get(i).copied().flatten()
            });
            assembled
                .or_else(|| sys.devices.iter().position(|d| d.pv_uuid() == Some(p.uuid)))
                .map(|d| &sys.devices[d].image)
        })
        .collect()
}

fn overlap(a: &[Extents], b: &[Extents]) -> Vec<Extents> {
    let mut out = Vec::new();
    for x in a {
        for y in b {
            if x.pv != y.pv {
                continue;
            }
            let s = x.first.max(y.first);
            let e = x
                .first
                .saturating_add(x.count)
                .min(y.first.saturating_add(y.count));
            if s < e {
                out.push(Extents {
                    pv: x.pv.clone(),
                    first: s,
                    count: e - s,
                });
            }
        }
    }
    out
}

/// Loads the store of COW LV `cow` of `vg`, reading records even when the
/// header says invalid.
///
/// # Errors
/// [`Error::Store`] (step [`StoreStep::Recover`]) when the records cannot
/// be read; an LV that cannot be read at all.
pub fn load_store_forensic(
    vg: &Vg,
    cow: usize,
    table_chunk: u64,
    pvs: &[Option<&Image>],
) -> Result<Store> {
    let r = LvReader::new(vg, cow, pvs.to_vec())?;
    Store::load_forensic(&r, table_chunk).map_err(|error| Error::Store {
        lv: format!("{}/{}", vg.name, vg.lvs[cow].name),
        offset: error.offset(),
        step: StoreStep::Recover,
        error,
    })
}

/// Loads a store for recovery: as [`load_store_forensic`], and when chunk
/// 0 holds no store header (zeroed, or overwritten by a later LV), by
/// scanning the COW for its metadata areas ([`Store::find_headerless`]).
/// Also says whether every area the store uses is well formed.
///
/// # Errors
/// As [`load_store_forensic`] when no store can be found either way.
pub fn load_store_recovering(
    vg: &Vg,
    cow: usize,
    table_chunk: u64,
    pvs: &[Option<&Image>],
) -> Result<(Store, bool)> {
    let r = LvReader::new(vg, cow, pvs.to_vec())?;
    let wrap = |error: crate::exception_store::StoreError| Error::Store {
        lv: format!("{}/{}", vg.name, vg.lvs[cow].name),
        offset: error.offset(),
        step: StoreStep::Recover,
        error,
    };
    let st = match Store::load_forensic(&r, table_chunk) {
        Ok(st) if !st.new => st,
        first => match Store::find_headerless(&r, table_chunk).map_err(wrap)? {
            Some(found) => found,
            None => first.map_err(wrap)?,
        },
    };
    let intact = st.areas_well_formed(&r).unwrap_or(false);
    Ok((st, intact))
}

/// What [`StoreFacts::error`] says: the store's own error without the
/// LV's name (the report shows it already).
fn store_fault(e: &Error) -> String {
    match e {
        Error::Store { error, .. } => error.to_string(),
        other => other.to_string(),
    }
}

/// Every snapshot of VG `vg_id` (all VGs if `None`) in the history.
pub fn survey(sys: &System, hist: &History) -> Vec<Snapshot> {
    let mut out: Vec<Snapshot> = Vec::new();
    for (ci, c) in hist.copies.iter().enumerate() {
        let Ok(vg) = &c.vg else { continue };
        for (li, l) in vg.lvs.iter().enumerate() {
            let Some(cow) = vg.roles.get(li).and_then(|r| r.cow_of) else {
                continue;
            };
            let rec = Snapshot {
                vg: vg.name.clone(),
                name: l.name.clone(),
                id: l.id.clone(),
                origin: vg
                    .lvs
                    .get(cow.origin)
                    .map_or(String::new(), |o| o.name.clone()),
                chunk_bytes: cow.chunk_size.0.saturating_mul(512),
                seqnos: (c.seqno, c.seqno),
                last_copy: ci,
                cow_extents: lv_extents(vg, li),
                state: if cow.merging {
                    State::Merged
                } else {
                    State::Dropped
                },
                reused_by: Vec::new(),
                store: None,
                verdict: None,
                notes: Vec::new(),
            };
            match out.iter_mut().find(|s| s.id == l.id) {
                Some(s) => {
                    let first = s.seqnos.0;
                    *s = rec;
                    s.seqnos.0 = first;
                }
                None => out.push(rec),
            }
        }
    }
    for s in &mut out {
        judge(sys, hist, s);
    }
    out
}

fn judge(sys: &System, hist: &History, s: &mut Snapshot) {
    let Some(Ok(last)) = hist.copies.get(s.last_copy).map(|c| &c.vg) else {
        return;
    };
    // Present in the current metadata? When the VG was not assembled and
    // the scan met problems (a damaged label or area header read without
    // --scan-all, while the ring still gave its copies), its newest copy
    // stands for the current metadata: a snapshot still in it was not
    // removed. (With no problem, a VG that is gone was removed.)
    let assembled = sys.vgs.iter().find(|v| v.vg.id == last.id).map(|c| &*c.vg);
    let stand_in = match assembled {
        None if !sys.problems.is_empty() => newest_copy(hist, &last.id),
        _ => None,
    };
    let current = assembled.or(stand_in.map(|(_, v)| v));
    if let Some(cur) = current {
        if let Some(li) = cur.lvs.iter().position(|l| l.id == s.id) {
            if let Some(cow) = cur.roles.get(li).and_then(|r| r.cow_of) {
                let pvs = pv_images(sys, cur);
                let valid = load_store_forensic(cur, li, cow.chunk_size.0, &pvs)
                    .map(|st| st.header.is_valid())
                    .unwrap_or(false);
                s.state = if valid {
                    State::Present
                } else {
                    State::Invalid
                };
            }
        }
    }
    if let Some((i, _)) = stand_in {
        s.notes.push(format!(
            "VG {} could not be assembled from the images (damaged label or metadata area?): \
             its newest copy, seqno {}, stands for the current metadata; try --scan-all",
            s.vg, hist.copies[i].seqno
        ));
    }
    if s.state == State::Present || s.state == State::Merged {
        return;
    }
    origin_notes(last, current, s);
    // Later copies of the same VG that gave the extents to other LVs.
    for c in hist.copies.iter().skip(s.last_copy + 1) {
        let Ok(vg) = &c.vg else { continue };
        if vg.id != last.id {
            continue;
        }
        for (li, l) in vg.lvs.iter().enumerate() {
            if l.id == s.id {
                continue;
            }
            let o = overlap(&s.cow_extents, &lv_extents(vg, li));
            if !o.is_empty() && !s.reused_by.iter().any(|r| r.lv == l.name) {
                s.reused_by.push(Reuse {
                    lv: l.name.clone(),
                    seqno: c.seqno,
                    extents: o,
                });
            }
        }
    }
    let Some(li) = last.lvs.iter().position(|l| l.id == s.id) else {
        return;
    };
    let pvs = pv_images(sys, last);
    let facts = match load_store_recovering(last, li, s.chunk_bytes / 512, &pvs) {
        Err(e) => StoreFacts {
            header: false,
            valid: false,
            chunk_bytes: 0,
            exceptions: 0,
            exceptions_reused: 0,
            implausible: 0,
            metadata_reused: false,
            header_guessed: false,
            metadata_intact: false,
            error: Some(store_fault(&e)),
        },
        Ok((st, intact)) => {
            let bad = reused_chunks(last, li, &st, s);
            let exceptions_reused = st.records().iter().filter(|r| bad(r.new)).count();
            let metadata_reused = metadata_on(&st, &bad);
            let glue_bytes = last
                .roles
                .get(li)
                .and_then(|r| r.cow_of)
                .map_or(0, |c| u64::from(c.glue_extents) * last.extent_bytes());
            StoreFacts {
                header: !st.new && !st.header_guessed,
                valid: st.header.is_valid(),
                chunk_bytes: st.chunk_sectors * 512,
                exceptions: st.record_count as usize,
                exceptions_reused,
                implausible: implausible(&st, glue_bytes),
                metadata_reused,
                header_guessed: st.header_guessed,
                metadata_intact: intact,
                error: None,
            }
        }
    };
    // A guessed header or metadata on reused extents: the records are
    // taken, but no chunk they do not list can be trusted.
    let guess = facts.header_guessed || facts.metadata_reused;
    let invalid = !facts.valid || s.state == State::Invalid || guess;
    s.verdict = Some(
        if !(facts.header || facts.header_guessed)
            || (facts.metadata_reused && !facts.metadata_intact)
            || facts.implausible > 0
        {
            Verdict::Lost
        } else if invalid && facts.exceptions == facts.exceptions_reused {
            // Nothing saved survives, and no unsaved chunk can be trusted.
            Verdict::Lost
        } else if invalid || facts.exceptions_reused > 0 {
            Verdict::Partly
        } else {
            Verdict::Recoverable
        },
    );
    if facts.header_guessed {
        s.notes.push(format!(
            "the store's header is gone (zeroed or overwritten); {} exception records were found by \
             scanning its COW for metadata areas, with {} KiB chunks (a guess): whether the store \
             had overflowed is not known, so only the chunks they list are trusted",
            facts.exceptions,
            facts.chunk_bytes / 1024
        ));
    }
    if facts.metadata_reused && facts.metadata_intact && facts.error.is_none() {
        s.notes.push(
            "the store's metadata lies on extents a later LV was given, but every metadata \
             area is still well formed: its records are taken (a guess), chunk by chunk"
                .to_owned(),
        );
    }
    s.store = Some(facts);
}

/// True if the store's header chunk or a metadata area it uses is a
/// chunk `bad` calls reused.
fn metadata_on(st: &Store, bad: &impl Fn(u64) -> bool) -> bool {
    bad(0) || (0..=st.current_area).any(|k| bad(st.area_location(k)))
}

/// The newest copy of VG `id` that parses (copies are ordered by seqno,
/// then time) and its index.
fn newest_copy<'a>(hist: &'a History, id: &str) -> Option<(usize, &'a Vg)> {
    hist.copies
        .iter()
        .enumerate()
        .rev()
        .find_map(|(i, c)| match &c.vg {
            Ok(v) if v.id == id => Some((i, v)),
            _ => None,
        })
}

/// Counts the records the kernel could not have written (see
/// [`StoreFacts::implausible`]); `view_bytes` is the snapshot's size.
pub fn implausible(st: &Store, view_bytes: u64) -> usize {
    let e = st.exceptions_per_area();
    let cb = st.chunk_sectors * 512;
    let mut seen = std::collections::HashSet::new();
    st.records()
        .iter()
        .filter(|r| {
            r.new >= st.cow_chunks
                || r.new % (e + 1) == 1
                || r.new == 0
                || r.old.checked_mul(cb).is_none_or(|b| b >= view_bytes)
                || !seen.insert(r.new)
        })
        .count()
}

/// Notes on the origin between the snapshot's last copy and now.
fn origin_notes(last: &Vg, current: Option<&Vg>, s: &mut Snapshot) {
    let Some(oi) = last.lvs.iter().position(|l| l.name == s.origin) else {
        return;
    };
    let id = &last.lvs[oi].id;
    match current.and_then(|c| c.lvs.iter().position(|l| l.id == *id).map(|i| (c, i))) {
        None => s.notes.push(format!(
            "origin {} is gone from the current metadata: an export reads its extents as seqno {} placed them, and they may have been reused",
            s.origin, s.seqnos.1
        )),
        Some((c, ci)) => {
            if lv_extents(c, ci) != lv_extents(last, oi) {
                s.notes.push(format!(
                    "origin {} was resized or moved after seqno {}: compare with `history`",
                    s.origin, s.seqnos.1
                ));
            }
            if c.lvs[ci].name != s.origin {
                s.notes.push(format!("origin {} is now named {}", s.origin, c.lvs[ci].name));
            }
        }
    }
}

/// A test for "COW chunk `c` lies on an extent a later LV was given". The
/// chunk's first byte is mapped through the COW's segments (striped ones
/// too) to a PV and a physical extent; a chunk that cannot be mapped
/// counts as reused.
fn reused_chunks<'a>(
    vg: &'a Vg,
    cow: usize,
    st: &Store,
    s: &Snapshot,
) -> impl Fn(u64) -> bool + 'a {
    let cb = st.chunk_sectors * 512;
    let eb = vg.extent_bytes().max(1);
    let reused: Vec<Extents> = s.reused_by.iter().flat_map(|r| r.extents.clone()).collect();
    move |chunk: u64| {
        let Some(at) = chunk.checked_mul(cb) else {
            return true;
        };
        let Ok(Piece::Pv { pv, offset, .. }) = lv_map::map(vg, cow, at) else {
            return true;
        };
        let Some(p) = vg.pvs.get(pv) else {
            return true;
        };
        let Some(pe) = p
            .pe_start
            .bytes()
            .and_then(|start| offset.checked_sub(start))
            .and_then(|rel| u32::try_from(rel / eb).ok())
        else {
            return true;
        };
        reused
            .iter()
            .any(|r| r.pv == p.key && r.first <= pe && pe - r.first < r.count)
    }
}

/// What a range of the exported view holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Saved by the store: the snapshot's data, trustworthy.
    Store,
    /// Not saved by a valid store: the origin now; the origin had not
    /// changed it while the snapshot lived, but may have after it was
    /// removed.
    OriginUnsaved,
    /// Not saved by an invalid store: the origin now, possibly written
    /// after the overflow; untrustworthy.
    Unknown,
    /// Saved by the store, but its COW extent was given to a later LV:
    /// the origin now is written instead; untrustworthy.
    Reused,
    /// Past the origin's current end: zeros; untrustworthy.
    PastOrigin,
}

impl Kind {
    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Store => "store",
            Kind::OriginUnsaved => "origin-unsaved",
            Kind::Unknown => "unknown",
            Kind::Reused => "reused",
            Kind::PastOrigin => "past-origin",
        }
    }
    /// True if the bytes are the snapshot's (with the caveat of
    /// [`Kind::OriginUnsaved`]).
    pub fn trustworthy(self) -> bool {
        matches!(self, Kind::Store | Kind::OriginUnsaved)
    }
}

/// One run of the export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// First byte in the view.
    pub start: u64,
    /// Length in bytes.
    pub len: u64,
    /// What it holds.
    pub kind: Kind,
    /// For [`Kind::Store`]: the byte offset in the COW LV.
    pub cow_offset: Option<u64>,
}

/// The export of one snapshot as data: runs of the view and where each
/// comes from.
pub struct ExportPlan<'a> {
    /// The copy's VG (the COW LV's extents).
    pub vg: &'a Vg,
    /// The COW LV index in `vg`.
    pub cow: usize,
    /// The origin now: the current VG and LV index, or the copy's.
    pub origin: (&'a Vg, usize),
    /// The view's size.
    pub size: u64,
    /// Runs, in order, adjacent runs of one kind joined.
    pub runs: Vec<Run>,
    /// True if the origin no longer exists and the copy's extents were used.
    pub origin_from_copy: bool,
    /// The store as loaded.
    pub store: Store,
}

/// Plans the export of snapshot `snap` as copy `copy` (an index into
/// `hist.copies`) describes it.
pub fn plan<'a>(
    sys: &'a System,
    hist: &'a History,
    copy: usize,
    snap: &str,
    reused: &[Reuse],
) -> Result<ExportPlan<'a>> {
    let c = hist.copies.get(copy).ok_or(Error::NoCopy { copy })?;
    let vg = c.vg.as_ref().map_err(|e| Error::CopyUnparsed {
        seqno: c.seqno,
        corruption: e.clone(),
    })?;
    let li = vg.lv_index(snap).ok_or_else(|| Error::NoSuchLvInCopy {
        lv: snap.to_owned(),
        seqno: c.seqno,
    })?;
    let cow = vg
        .roles
        .get(li)
        .and_then(|r| r.cow_of)
        .ok_or_else(|| Error::NotSnapshot {
            lv: snap.to_owned(),
            seqno: c.seqno,
        })?;
    let pvs = pv_images(sys, vg);
    let (store, _) = load_store_recovering(vg, li, cow.chunk_size.0, &pvs)?;
    let origin_id = &vg.lvs[cow.origin].id;
    let (origin, origin_from_copy) = sys
        .vgs
        .iter()
        .find(|v| v.vg.id == vg.id)
        .and_then(|v| {
            v.vg.lvs
                .iter()
                .position(|l| l.id == *origin_id)
                .map(|i| ((&*v.vg, i), false))
        })
        .unwrap_or(((vg, cow.origin), true));
    let origin_size = origin
        .0
        .lv_extents(&origin.0.lvs[origin.1])
        .saturating_mul(origin.0.extent_bytes());
    let size = u64::from(cow.glue_extents).saturating_mul(vg.extent_bytes());
    let snap_rec = Snapshot {
        vg: vg.name.clone(),
        name: snap.to_owned(),
        id: vg.lvs[li].id.clone(),
        origin: String::new(),
        chunk_bytes: 0,
        seqnos: (0, 0),
        last_copy: copy,
        cow_extents: Vec::new(),
        state: State::Dropped,
        reused_by: reused.to_vec(),
        store: None,
        verdict: None,
        notes: Vec::new(),
    };
    let bad = reused_chunks(vg, li, &store, &snap_rec);
    let cb = store.chunk_sectors * 512;
    // As judge: a guessed header or metadata on reused extents trusts
    // only the chunks the records list.
    let untrusted_gaps =
        !store.header.is_valid() || store.header_guessed || metadata_on(&store, &bad);
    let runs = runs(
        &store.map.range(0, u64::MAX),
        cb,
        size,
        origin_size,
        untrusted_gaps,
        bad,
    );
    Ok(ExportPlan {
        vg,
        cow: li,
        origin,
        size,
        runs,
        origin_from_copy,
        store,
    })
}

/// The runs of a view of `size` bytes over a store whose exceptions are
/// `map` (origin chunk to COW chunk, chunks of `cb` bytes), an origin of
/// `origin_size` bytes now, and `bad(cow_chunk)` telling reused chunks.
/// Work is per exception, not per chunk, so a huge view costs nothing.
fn runs(
    map: &[(u64, u64)],
    cb: u64,
    size: u64,
    origin_size: u64,
    invalid: bool,
    bad: impl Fn(u64) -> bool,
) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::new();
    let mut push = |start: u64, len: u64, kind: Kind, cow_offset: Option<u64>| {
        if len == 0 {
            return;
        }
        if let Some(r) = out.last_mut() {
            let joins = match (r.cow_offset, cow_offset) {
                (Some(a), Some(b)) => a.checked_add(r.len) == Some(b),
                (None, None) => true,
                _ => false,
            };
            if r.kind == kind && r.start + r.len == start && joins {
                r.len += len;
                return;
            }
        }
        out.push(Run {
            start,
            len,
            kind,
            cow_offset,
        });
    };
    let gap_kind = if invalid {
        Kind::Unknown
    } else {
        Kind::OriginUnsaved
    };
    let gap = |push: &mut dyn FnMut(u64, u64, Kind, Option<u64>), a: u64, b: u64| {
        let mid = origin_size.clamp(a, b);
        push(a, mid - a, gap_kind, None);
        push(mid, b - mid, Kind::PastOrigin, None);
    };
    let mut saved: Vec<(u64, u64)> = map
        .iter()
        .filter_map(|&(o, n)| Some((o.checked_mul(cb).filter(|b| *b < size)?, n)))
        .collect();
    saved.sort_unstable();
    let mut at = 0u64;
    for (start, new) in saved {
        gap(&mut push, at, start);
        let len = cb.min(size - start);
        match new.checked_mul(cb) {
            Some(c) if !bad(new) => push(start, len, Kind::Store, Some(c)),
            _ if start >= origin_size => push(start, len, Kind::PastOrigin, None),
            _ => push(start, len, Kind::Reused, None),
        }
        at = start + len;
    }
    gap(&mut push, at, size);
    out
}

impl ExportPlan<'_> {
    /// Writes the view to `out`, streamed in pieces of at most 1 MiB.
    pub fn write(&self, sys: &System, out: &mut dyn std::io::Write) -> Result<()> {
        let cow = LvReader::new(self.vg, self.cow, pv_images(sys, self.vg))?;
        let origin = LvReader::new(self.origin.0, self.origin.1, pv_images(sys, self.origin.0))?;
        let io = |e: std::io::Error| Error::Io {
            path: "export".into(),
            offset: None,
            what: "write".into(),
            source: e,
        };
        let mut buf = vec![0u8; 1 << 20];
        for r in &self.runs {
            let mut done = 0u64;
            while done < r.len {
                // OK to cast: at most the buffer's length.
                let n = (r.len - done).min(buf.len() as u64) as usize;
                let b = &mut buf[..n];
                match (r.kind, r.cow_offset) {
                    (Kind::Store, Some(c)) => cow.read_at(c + done, b)?,
                    (Kind::PastOrigin, _) => b.fill(0),
                    _ => origin.read_at(r.start + done, b)?,
                }
                out.write_all(b).map_err(io)?;
                done += n as u64;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk_header::DiskHeader;
    use crate::exception_store::Exception;

    fn store(records: &[(u64, u64)]) -> Store {
        // 8-sector (4 KiB) chunks: 256 records per area, areas at chunks
        // 1, 258, 515 ...; a 1 MiB COW has 256 chunks.
        Store {
            header: DiskHeader {
                valid: 1,
                version: 1,
                chunk_size: 8,
            },
            new: false,
            header_guessed: false,
            chunk_sectors: 8,
            cow_chunks: 256,
            cow_sectors: 2048,
            record_count: records.len() as u64,
            disk_order: Some(
                records
                    .iter()
                    .map(|&(old, new)| Exception { old, new })
                    .collect(),
            ),
            map: Default::default(),
            next_free: 2,
            current_area: 0,
            current_committed: 0,
        }
    }

    #[test]
    fn records_the_kernel_writes_are_plausible() {
        assert_eq!(
            implausible(&store(&[(0, 2), (5, 3), (2047, 4)]), 8 << 20),
            0
        );
    }

    #[test]
    fn each_impossible_record_is_counted() {
        let view = 8 << 20; // 2048 chunks of 4 KiB
        assert_eq!(implausible(&store(&[(0, 256)]), view), 1, "past the COW");
        assert_eq!(
            implausible(&store(&[(0, 1)]), view),
            1,
            "on a metadata area"
        );
        assert_eq!(implausible(&store(&[(2048, 2)]), view), 1, "past the view");
        assert_eq!(
            implausible(&store(&[(0, 2), (1, 2)]), view),
            1,
            "chunk used twice"
        );
        assert_eq!(
            implausible(&store(&[(u64::MAX, 2)]), view),
            1,
            "offset overflows"
        );
    }

    #[test]
    fn runs_cover_the_view_once_and_cost_per_exception() {
        let cb = 4096;
        let map = [(0, 2), (1, 3), (5, 4), (9, 7)];
        // 12 chunks of view, origin now 8 chunks long, COW chunk 7 reused.
        let r = runs(&map, cb, 12 * cb, 8 * cb, false, |c| c == 7);
        let got: Vec<(u64, u64, &str)> = r
            .iter()
            .map(|r| (r.start / cb, r.len / cb, r.kind.name()))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, 2, "store"),
                (2, 3, "origin-unsaved"),
                (5, 1, "store"),
                (6, 2, "origin-unsaved"),
                // Past the origin's end: unsaved, or saved on a reused chunk (9).
                (8, 4, "past-origin"),
            ]
        );
        assert_eq!(r[0].cow_offset, Some(2 * cb));
        // An invalid store: unsaved chunks are unknown, a reused one too.
        let r = runs(&map, cb, 12 * cb, 12 * cb, true, |c| c == 7);
        assert_eq!(
            r.iter().find(|x| x.start == 9 * cb).unwrap().kind,
            Kind::Reused
        );
        assert_eq!(r[1].kind, Kind::Unknown);
        // A hostile view size does not loop per chunk.
        let r = runs(&map, cb, u64::MAX / 2, 8 * cb, false, |_| false);
        assert_eq!(
            r.last().unwrap().start + r.last().unwrap().len,
            u64::MAX / 2
        );
    }

    #[test]
    fn overlap_of_extent_runs() {
        let e = |pv: &str, first, count| Extents {
            pv: pv.into(),
            first,
            count,
        };
        assert_eq!(
            overlap(&[e("pv0", 8, 4)], &[e("pv0", 10, 5), e("pv1", 8, 4)]),
            vec![e("pv0", 10, 2)]
        );
        assert!(overlap(&[e("pv0", 8, 4)], &[e("pv0", 12, 1)]).is_empty());
    }
}
