//! `lvmsim recover`: every snapshot any metadata copy knew and what can be
//! rebuilt of it; `--export` writes one rebuilt view and a JSON report.
//! The images are only read; the report proves it with their sha256
//! before and after.

use crate::error::{bail, refused, Error, Result, ResultExt};
use cow_engine::recover::{self, Snapshot, State, Verdict};
use lvm_meta::history;
use lvm_meta::scan::System;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Digest;
use std::io::Write;
use std::path::PathBuf;

/// Options of `lvmsim recover`.
#[derive(Debug, Clone, Default)]
pub struct RecoverOpts {
    /// Print JSON instead of text.
    pub json: bool,
    /// Export this snapshot's rebuilt view (`VG/SNAP`).
    pub export: Option<String>,
    /// The metadata copy that describes the snapshot (`None`: the last
    /// copy that held it, when one snapshot of that name is in the
    /// history).
    pub seqno: Option<u32>,
    /// The new file to write (never overwritten); the report goes to
    /// `OUT.json`.
    pub output: Option<PathBuf>,
    /// Only this VG.
    pub vg: Option<String>,
}

fn state_name(s: State) -> &'static str {
    match s {
        State::Present => "present",
        State::Invalid => "invalid",
        State::Dropped => "dropped",
        State::Merged => "merged",
    }
}

fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Recoverable => "recoverable",
        Verdict::Partly => "partly",
        Verdict::Lost => "lost",
    }
}

fn extents(e: &[history::Extents]) -> String {
    e.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn caveat(s: &Snapshot) -> Option<&'static str> {
    match (s.state, s.verdict) {
        (State::Dropped, Some(Verdict::Recoverable | Verdict::Partly)) => Some(
            "chunks the store did not save are read from the origin as it is now: \
             they may have been written after the snapshot was removed",
        ),
        (State::Invalid, Some(_)) => Some(
            "the store overflowed: only the chunks it saved are the snapshot's; \
             the rest of the origin may have been written since",
        ),
        _ => None,
    }
}

/// `lvmsim recover --json`: every snapshot any metadata copy knew and
/// what can be rebuilt of it. Fields are declared in the order the JSON
/// prints them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoverJson {
    /// The snapshots, in the order the text lists them.
    pub snapshots: Vec<RecoveredJson>,
    /// The removed thin LVs ([`crate::thin_recover::to_json`]); the key is
    /// left out when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thin: Vec<serde_json::Value>,
}

/// One snapshot of the history and its state now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveredJson {
    /// What to keep in mind about the bytes a rebuilt view reads from the
    /// origin, if anything (the text's `note:`).
    pub caveat: Option<String>,
    /// Chunk size from the metadata, in bytes.
    pub chunk_bytes: u64,
    /// The COW LV's extents in the last copy that had it (`pv0:10-19,...`).
    pub cow_extents: String,
    /// The first seqno that had it.
    pub first_seqno: u32,
    /// The COW LV's UUID.
    pub id: String,
    /// The last seqno that had it.
    pub last_seqno: u32,
    /// When that copy was written (seconds since the epoch).
    pub last_seqno_time: Option<i64>,
    /// What the history says about the origin since, in words.
    pub notes: Vec<String>,
    /// The origin's name.
    pub origin: String,
    /// LVs of later copies that were given its extents.
    pub reused_by: Vec<ReuseJson>,
    /// The snapshot's name.
    pub snapshot: String,
    /// Its state now.
    pub state: StateJson,
    /// What its COW extents hold, for dropped and invalid snapshots.
    pub store: Option<StoreJson>,
    /// What can be rebuilt, for dropped and invalid snapshots.
    pub verdict: Option<VerdictJson>,
    /// The VG's name in the last copy that had it.
    pub vg: String,
}

/// A snapshot's state now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateJson {
    /// In the current metadata, readable.
    Present,
    /// In the current metadata, invalid (overflowed).
    Invalid,
    /// Gone from the metadata without merging.
    Dropped,
    /// Gone by merging into its origin.
    Merged,
}

/// What can be rebuilt of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictJson {
    /// All of it.
    Recoverable,
    /// Some of it.
    Partly,
    /// Nothing.
    Lost,
}

/// A later LV that was given some of a snapshot's COW extents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReuseJson {
    /// The shared extents.
    pub extents: String,
    /// The LV.
    pub lv: String,
    /// The first seqno in which it held them.
    pub seqno: u32,
}

/// What was found in a snapshot's COW extents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreJson {
    /// Chunk size in bytes, from the store's header.
    pub chunk_bytes: u64,
    /// Why the store could not be read, if it could not.
    pub error: Option<String>,
    /// Exception records read.
    pub exceptions: usize,
    /// Of those, records whose data chunk lies on reused extents.
    pub exceptions_on_reused_extents: usize,
    /// The header's magic is there.
    pub header: bool,
    /// The header was gone and the records were found by scanning.
    pub header_guessed: bool,
    /// Records the kernel could not have written.
    pub implausible_records: usize,
    /// Every metadata area the store uses is well formed.
    pub metadata_intact: bool,
    /// A metadata area of the store lies on reused extents.
    pub metadata_on_reused_extents: bool,
    /// The header's `valid` flag.
    pub valid: bool,
}

fn state_json(s: State) -> StateJson {
    match s {
        State::Present => StateJson::Present,
        State::Invalid => StateJson::Invalid,
        State::Dropped => StateJson::Dropped,
        State::Merged => StateJson::Merged,
    }
}

fn verdict_json(v: Verdict) -> VerdictJson {
    match v {
        Verdict::Recoverable => VerdictJson::Recoverable,
        Verdict::Partly => VerdictJson::Partly,
        Verdict::Lost => VerdictJson::Lost,
    }
}

fn snap_json(h: &history::History, s: &Snapshot) -> RecoveredJson {
    RecoveredJson {
        caveat: caveat(s).map(str::to_owned),
        chunk_bytes: s.chunk_bytes,
        cow_extents: extents(&s.cow_extents),
        first_seqno: s.seqnos.0,
        id: s.id.clone(),
        last_seqno: s.seqnos.1,
        last_seqno_time: h.copies[s.last_copy].creation_time,
        notes: s.notes.clone(),
        origin: s.origin.clone(),
        reused_by: s
            .reused_by
            .iter()
            .map(|r| ReuseJson {
                extents: extents(&r.extents),
                lv: r.lv.clone(),
                seqno: r.seqno,
            })
            .collect(),
        snapshot: s.name.clone(),
        state: state_json(s.state),
        store: s.store.as_ref().map(|f| StoreJson {
            chunk_bytes: f.chunk_bytes,
            error: f.error.clone(),
            exceptions: f.exceptions,
            exceptions_on_reused_extents: f.exceptions_reused,
            header: f.header,
            header_guessed: f.header_guessed,
            implausible_records: f.implausible,
            metadata_intact: f.metadata_intact,
            metadata_on_reused_extents: f.metadata_reused,
            valid: f.valid,
        }),
        verdict: s.verdict.map(verdict_json),
        vg: s.vg.clone(),
    }
}

/// The snapshots of the survey of `sys` and its history `h` that belong
/// to VG `vg` (followed by its UUID: snapshots from before a vgrename
/// count), or every snapshot when `None`.
fn surveyed(sys: &System, h: &history::History, vg: Option<&str>) -> Result<Vec<Snapshot>> {
    let only = vg.map(crate::names::vg_arg).transpose()?;
    let ids = only
        .as_deref()
        .map(|v| crate::history::vg_ids(h, v))
        .unwrap_or_default();
    Ok(recover::survey(sys, h)
        .into_iter()
        .filter(|s| only.is_none() || ids.contains(&h.copies[s.last_copy].vg_id))
        .collect())
}

/// What `recover --json [VG]` prints for the scanned `sys` and its
/// history `h` ([`crate::history::of_system`]).
///
/// # Errors
/// `vg` is not a valid VG name.
pub fn recover_json(sys: &System, h: &history::History, vg: Option<&str>) -> Result<RecoverJson> {
    Ok(RecoverJson {
        snapshots: surveyed(sys, h, vg)?
            .iter()
            .map(|s| snap_json(h, s))
            .collect(),
        thin: surveyed_thin(sys, h, vg)?
            .iter()
            .map(crate::thin_recover::to_json)
            .collect(),
    })
}

/// The removed thin LVs of the history `h`, of VG `vg` only if given.
fn surveyed_thin(
    sys: &System,
    h: &history::History,
    vg: Option<&str>,
) -> Result<Vec<crate::thin_recover::RemovedThin>> {
    let only = vg.map(crate::names::vg_arg).transpose()?;
    Ok(crate::thin_recover::survey(sys, h)
        .into_iter()
        .filter(|t| only.is_none() || only.as_deref() == Some(t.vg.as_str()))
        .collect())
}

/// The caveat that applies to an export range of `kind` of snapshot
/// `rec`: the one the text prints, for the ranges it is about (bytes read
/// from the origin as it is now, when the origin may have been written
/// since).
pub fn range_caveat(kind: recover::Kind, rec: Option<&Snapshot>) -> Option<&'static str> {
    match kind {
        recover::Kind::OriginUnsaved => rec.and_then(caveat),
        _ => None,
    }
}

/// Whether an export range can be trusted, as the text says it: the
/// kind's own answer, and not a range a caveat is about (a snapshot that
/// is not in the images' metadata any more may have had its origin
/// written since; so may one whose survey is unknown).
pub fn range_trustworthy(kind: recover::Kind, rec: Option<&Snapshot>) -> bool {
    kind.trustworthy()
        && !(kind == recover::Kind::OriginUnsaved
            && (rec.is_none() || range_caveat(kind, rec).is_some()))
}

/// `--seqno` left out: the last copy that held the snapshot, when exactly
/// one snapshot of that name is in the history of the VG; several (a name
/// used again) are listed, for the user to pick one.
fn default_seqno(
    h: &history::History,
    survey: &[Snapshot],
    ids: &[String],
    vgn: &str,
    snap: &str,
) -> Result<u32> {
    let found: Vec<&Snapshot> = survey
        .iter()
        .filter(|s| s.name == snap && ids.contains(&h.copies[s.last_copy].vg_id))
        .collect();
    match found.as_slice() {
        [] => bail!("no metadata copy of {vgn} has a snapshot {snap}"),
        [one] => Ok(h.copies[one.last_copy].seqno),
        several => {
            let list: Vec<String> = several
                .iter()
                .map(|s| {
                    format!(
                        "seqno {}-{} ({}, {})",
                        s.seqnos.0,
                        s.seqnos.1,
                        state_name(s.state),
                        s.id
                    )
                })
                .collect();
            bail!(
                "{} snapshots named {vgn}/{snap} in the history: {}; name one with --seqno",
                several.len(),
                list.join(", ")
            )
        }
    }
}

/// Runs `lvmsim recover`.
pub fn run(
    devs: &[PathBuf],
    a: &RecoverOpts,
    ctx: &crate::context::Context,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    if let Some(target) = &a.export {
        return export(devs, a, ctx, target, out, err);
    }
    let sys = crate::scan_with(devs, ctx.scan_all, ctx.progress, err)?;
    let h = crate::history::of_system(&sys, ctx.scan_all, ctx.progress);
    for p in &h.problems {
        writeln!(err, "  WARNING: {}", p.error)?;
    }
    let snaps = surveyed(&sys, &h, a.vg.as_deref())?;
    let thins = surveyed_thin(&sys, &h, a.vg.as_deref())?;
    if a.json {
        let doc = RecoverJson {
            snapshots: snaps.iter().map(|s| snap_json(&h, s)).collect(),
            thin: thins.iter().map(crate::thin_recover::to_json).collect(),
        };
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        return Ok(());
    }
    if snaps.is_empty() {
        writeln!(out, "No snapshot in any metadata copy.")?;
    }
    for t in &thins {
        crate::thin_recover::write_text(t, out)?;
    }
    for s in &snaps {
        writeln!(
            out,
            "{}/{}  {}  snapshot of {}, chunk {}k, seqno {}-{}, COW at {}",
            s.vg,
            s.name,
            state_name(s.state),
            s.origin,
            s.chunk_bytes / 1024,
            s.seqnos.0,
            s.seqnos.1,
            extents(&s.cow_extents)
        )?;
        if let Some(f) = &s.store {
            match &f.error {
                Some(e) => writeln!(out, "  store: unreadable: {e}")?,
                None => writeln!(
                    out,
                    "  store: header {}, {}, {} exception records ({} on reused extents, {} implausible{})",
                    if f.header {
                        "present"
                    } else if f.header_guessed {
                        "absent (store found by scanning)"
                    } else {
                        "absent (new)"
                    },
                    if f.valid { "valid" } else { "invalid" },
                    f.exceptions,
                    f.exceptions_reused,
                    f.implausible,
                    if f.metadata_reused {
                        "; its metadata area was reused"
                    } else {
                        ""
                    }
                )?,
            }
        }
        for r in &s.reused_by {
            writeln!(
                out,
                "  extents {} given to {} in seqno {}",
                extents(&r.extents),
                r.lv,
                r.seqno
            )?;
        }
        if let Some(v) = s.verdict {
            writeln!(out, "  verdict: {}", verdict_name(v))?;
        }
        if let Some(c) = caveat(s) {
            writeln!(out, "  note: {c}")?;
        }
        for n in &s.notes {
            writeln!(out, "  note: {n}")?;
        }
    }
    Ok(())
}

fn sha_file(p: &str) -> Result<String> {
    let mut f = std::fs::File::open(p).with_context(|| format!("{p}: cannot open"))?;
    let mut h = sha2::Sha256::new();
    std::io::copy(&mut f, &mut h).with_context(|| format!("{p}: cannot read"))?;
    Ok(hex(&h.finalize()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A writer that hashes what passes through it.
struct Tee<'a, W: Write> {
    inner: W,
    hash: sha2::Sha256,
    stop: &'a crate::context::Stop,
}

impl<W: Write> Write for Tee<'_, W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.stop.requested() {
            return Err(std::io::Error::from(std::io::ErrorKind::Interrupted));
        }
        let n = self.inner.write(b)?;
        self.hash.update(&b[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The metadata copy that describes snapshot `vgn/snap` for an export:
/// its seqno and index in `h`, with the snapshot's record in `survey`, if
/// any. `seqno` left out: the last copy that held it, when one snapshot
/// of that name is in the history.
fn locate<'s>(
    h: &history::History,
    survey: &'s [Snapshot],
    vgn: &str,
    snap: &str,
    seqno: Option<u32>,
) -> Result<(u32, usize, Option<&'s Snapshot>)> {
    // The VG by its UUIDs: `--export NEW/snap` finds the copies from
    // before a vgrename.
    let ids = crate::history::vg_ids(h, vgn);
    let seqno = match seqno {
        Some(n) => n,
        None => default_seqno(h, survey, &ids, vgn, snap)?,
    };
    let copy = h
        .copies
        .iter()
        .position(|c| {
            c.seqno == seqno
                && ids.contains(&c.vg_id)
                && c.vg.as_ref().is_ok_and(|v| v.lv_index(snap).is_some())
        })
        .ok_or_else(|| refused!("no copy of {vgn} with seqno {seqno} has an LV {snap}"))?;
    let rec = survey
        .iter()
        .find(|s| ids.contains(&h.copies[s.last_copy].vg_id) && s.name == snap)
        .or_else(|| {
            let id = h.copies[copy]
                .vg
                .as_ref()
                .ok()?
                .lvs
                .iter()
                .find(|l| l.name == snap)?
                .id
                .clone();
            survey.iter().find(|s| s.id == id)
        });
    Ok((seqno, copy, rec))
}

/// A snapshot's rebuilt view, read at offsets: the bytes `recover
/// --export` writes, run by run.
pub struct RecoveredView<'a> {
    /// The seqno of the metadata copy that describes the snapshot.
    pub seqno: u32,
    /// The export's plan: its size and runs.
    pub plan: recover::ExportPlan<'a>,
    cow: cow_engine::lv_io::LvReader<'a>,
    origin: cow_engine::lv_io::LvReader<'a>,
}

/// The rebuilt view of snapshot `snap` of VG `vgn` (in the copy with
/// `seqno`, or as `recover --export` picks it) on the scanned `sys` and
/// its history `h`.
///
/// # Errors
/// As `recover --export`: no such snapshot in the history, several of
/// that name and no `seqno`, an unreadable copy or store.
pub fn recovered_view<'a>(
    sys: &'a System,
    h: &'a history::History,
    vgn: &str,
    snap: &str,
    seqno: Option<u32>,
) -> Result<RecoveredView<'a>> {
    let vgn = crate::names::vg_arg(vgn)?;
    let survey = recover::survey(sys, h);
    let (seqno, copy, rec) = locate(h, &survey, &vgn, snap, seqno)?;
    let reused = rec.map(|r| r.reused_by.clone()).unwrap_or_default();
    let plan = recover::plan(sys, h, copy, snap, &reused)?;
    let cow =
        cow_engine::lv_io::LvReader::new(plan.vg, plan.cow, recover::pv_images(sys, plan.vg))?;
    let (ovg, oli) = plan.origin;
    let origin = cow_engine::lv_io::LvReader::new(ovg, oli, recover::pv_images(sys, ovg))?;
    Ok(RecoveredView {
        seqno,
        plan,
        cow,
        origin,
    })
}

impl cow_engine::view::View for RecoveredView<'_> {
    fn size(&self) -> u64 {
        self.plan.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> cow_engine::Result<()> {
        let len = buf.len() as u64;
        let past = || cow_engine::Error::ReadPastEnd {
            offset,
            len,
            size: self.plan.size,
            view: true,
        };
        let end = offset.checked_add(len).ok_or_else(past)?;
        if end > self.plan.size {
            return Err(past());
        }
        let runs = &self.plan.runs;
        // The first run ending after `offset`.
        let mut i = runs.partition_point(|r| r.start + r.len <= offset);
        let mut at = offset;
        let mut rest = buf;
        while !rest.is_empty() {
            let r = runs.get(i).ok_or_else(past)?;
            let within = at - r.start;
            // OK to cast: at most the buffer's length.
            let n = (r.len - within).min(rest.len() as u64) as usize;
            let (piece, tail) = rest.split_at_mut(n);
            match (r.kind, r.cow_offset) {
                (recover::Kind::Store, Some(c)) => self.cow.read_at(c + within, piece)?,
                (recover::Kind::PastOrigin, _) => piece.fill(0),
                _ => self.origin.read_at(at, piece)?,
            }
            at += n as u64;
            rest = tail;
            i += 1;
        }
        Ok(())
    }
}

/// The error of an export that did not finish: its file is removed, and
/// a stop the user asked for is said as such (`what` names the LV).
fn abandon(e: Error, path: &std::path::Path, ctx: &crate::context::Context, what: &str) -> Error {
    let _ = std::fs::remove_file(path);
    if ctx.hooks.stop.requested() {
        return Error::Interrupted(format!(
            "lvmsim: export of {what} stopped; the unfinished {} was removed",
            path.display()
        ));
    }
    e
}

/// The sha256 of each input image, to show an export left them as they
/// were.
fn input_hashes(inputs: &[(String, String)]) -> Result<Vec<String>> {
    inputs.iter().map(|(_, p)| sha_file(p)).collect()
}

/// The report's `images`: each input image with its sha256 before and
/// after the export.
fn images_json(
    inputs: &[(String, String)],
    before: &[String],
    after: &[String],
) -> Vec<serde_json::Value> {
    inputs
        .iter()
        .zip(before.iter().zip(after))
        .map(|((n, p), (b, a))| {
            json!({
                "name": n, "path": p, "sha256_before": b, "sha256_after": a, "unchanged": a == b,
            })
        })
        .collect()
}

/// Writes an export's report to the new file `rpath`, then fails if an
/// input image changed while it was read (the report says which).
fn write_report(
    rpath: &std::path::Path,
    report: &serde_json::Value,
    before: &[String],
    after: &[String],
) -> Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(rpath)
        .and_then(|mut f| f.write_all((serde_json::to_string_pretty(report)? + "\n").as_bytes()))
        .with_context(|| format!("{}: cannot write", rpath.display()))?;
    if before != after {
        bail!(
            "an input image changed while it was read: see {}",
            rpath.display()
        );
    }
    Ok(())
}

fn export(
    devs: &[PathBuf],
    a: &RecoverOpts,
    ctx: &crate::context::Context,
    target: &str,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    let (vgn, snap) = crate::names::vg_lv(target)?;
    let (vgn, snap) = (vgn.as_str(), snap.as_str());
    // The binary requires -o with --export.
    let path = a.output.clone().unwrap_or_default();
    let inputs = crate::device_paths(devs)?;
    for (_, p) in &inputs {
        if std::fs::canonicalize(p).ok() == std::fs::canonicalize(&path).ok()
            && std::fs::canonicalize(&path).is_ok()
        {
            bail!(
                "{}: is an input image; refusing to write it",
                path.display()
            );
        }
    }
    let rpath = PathBuf::from(format!("{}.json", path.display()));
    if rpath.exists() {
        bail!(
            "{}: the report file exists; refusing to overwrite it",
            rpath.display()
        );
    }
    let before = input_hashes(&inputs)?;
    let sys = crate::scan_with(devs, ctx.scan_all, ctx.progress, err)?;
    let h = crate::history::of_system(&sys, ctx.scan_all, ctx.progress);
    let survey = recover::survey(&sys, &h);
    let ids = crate::history::vg_ids(&h, vgn);
    let is_snap = survey
        .iter()
        .any(|s| s.name == snap && ids.contains(&h.copies[s.last_copy].vg_id));
    if !is_snap {
        let thins = crate::thin_recover::survey(&sys, &h);
        if let Some(t) = crate::thin_recover::find(&thins, vgn, snap) {
            return export_thin(&sys, t, ctx, &path, &rpath, &inputs, &before, out);
        }
    }
    let (seqno, copy, rec) = locate(&h, &survey, vgn, snap, a.seqno)?;
    let reused = rec.map(|r| r.reused_by.clone()).unwrap_or_default();
    let plan = recover::plan(&sys, &h, copy, snap, &reused)?;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("{}: cannot create (it must not exist)", path.display()))?;
    let mut tee = Tee {
        inner: std::io::BufWriter::new(file),
        hash: sha2::Sha256::new(),
        stop: &ctx.hooks.stop,
    };
    // An unfinished export is removed, whatever stopped it.
    let written: Result<()> = plan
        .write(&sys, &mut tee)
        .map_err(Error::from)
        .and_then(|()| Ok(tee.flush()?));
    if let Err(e) = written {
        drop(tee);
        return Err(abandon(e, &path, ctx, &format!("{vgn}/{snap}")));
    }
    let export_sha = hex(&tee.hash.finalize());
    let after = input_hashes(&inputs)?;
    let mut totals = std::collections::BTreeMap::<&str, u64>::new();
    for r in &plan.runs {
        *totals.entry(r.kind.name()).or_default() += r.len;
    }
    let report = json!({
        "vg": vgn,
        "snapshot": snap,
        "seqno": seqno,
        "seqno_defaulted": a.seqno.is_none(),
        "export": path.display().to_string(),
        "size": plan.size,
        "export_sha256": export_sha,
        "state": rec.map(|r| state_name(r.state)),
        "verdict": rec.and_then(|r| r.verdict.map(verdict_name)),
        "caveat": rec.and_then(caveat),
        "notes": rec.map(|r| r.notes.clone()).unwrap_or_default(),
        "origin_from_copy": plan.origin_from_copy,
        "store_valid": plan.store.header.is_valid(),
        "exceptions": plan.store.record_count,
        "bytes_by_kind": totals,
        "ranges": plan.runs.iter().map(|r| json!({
            "start": r.start, "end": r.start + r.len, "kind": r.kind.name(),
            "trustworthy": range_trustworthy(r.kind, rec),
            "caveat": range_caveat(r.kind, rec),
        })).collect::<Vec<_>>(),
        "images": images_json(&inputs, &before, &after),
    });
    write_report(&rpath, &report, &before, &after)?;
    writeln!(
        out,
        "  Exported {vgn}/{snap} (seqno {seqno}) to {}: sha256 {export_sha}; report {}",
        path.display(),
        rpath.display()
    )?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn export_thin(
    sys: &lvm_meta::scan::System,
    t: &crate::thin_recover::RemovedThin,
    ctx: &crate::context::Context,
    path: &std::path::Path,
    rpath: &std::path::Path,
    inputs: &[(String, String)],
    before: &[String],
    out: &mut dyn Write,
) -> Result<()> {
    let (vgn, lvn) = (t.vg.as_str(), t.name.as_str());
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("{}: cannot create (it must not exist)", path.display()))?;
    let mut tee = Tee {
        inner: std::io::BufWriter::new(file),
        hash: sha2::Sha256::new(),
        stop: &ctx.hooks.stop,
    };
    let written = crate::thin_recover::export(sys, t, &mut tee)
        .and_then(|runs| Ok(tee.flush().map(|()| runs)?));
    let runs = match written {
        Ok(r) => r,
        Err(e) => {
            drop(tee);
            return Err(abandon(e, path, ctx, &format!("{vgn}/{lvn}")));
        }
    };
    let export_sha = hex(&tee.hash.finalize());
    let after = input_hashes(inputs)?;
    let mut totals = std::collections::BTreeMap::<&str, u64>::new();
    for r in &runs {
        *totals.entry(r.kind).or_default() += r.len;
    }
    let best = t.found.first();
    let report = json!({
        "vg": vgn,
        "thin": lvn,
        "pool": t.pool,
        "device_id": t.device_id,
        "first_seqno": t.seqnos.0,
        "last_seqno": t.seqnos.1,
        "export": path.display().to_string(),
        "size": t.size,
        "export_sha256": export_sha,
        "verdict": t.verdict(),
        "root": best.map(|b| b.candidate.root),
        "root_source": best.map(|b| match b.candidate.source {
            dm_pdata::thin::recover::RootSource::Held { .. } => "held",
            dm_pdata::thin::recover::RootSource::Scanned { .. } => "scanned",
        }),
        "root_guessed": best.map(|b| b.candidate.source.is_guess()),
        "bytes_by_kind": totals,
        "ranges": runs.iter().map(|r| json!({
            "start": r.start, "end": r.start + r.len, "kind": r.kind,
            "trustworthy": r.trustworthy(),
        })).collect::<Vec<_>>(),
        "images": images_json(inputs, before, &after),
    });
    write_report(rpath, &report, before, &after)?;
    writeln!(
        out,
        "  Exported {vgn}/{lvn} (thin device {}, {}) to {}: sha256 {export_sha}; report {}",
        t.device_id,
        t.verdict(),
        path.display(),
        rpath.display()
    )?;
    Ok(())
}
