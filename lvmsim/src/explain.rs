//! `--explain`: what the kernel does in the snapshot stores during a
//! write, one line per step in the kernel's order, from the events
//! cow-engine reports ([`cow_engine::engine::Event`]):
//!
//! ```text
//! origin chunk 12 -> snap4k COW chunk 2 (area 0, record 0)
//! snap4k: commit area 0 (1 records)
//! snap4k: area 0 full: next area at chunk 258
//! snap4k invalid: no room for origin chunk 300 (needs 259 chunks, has 258)
//! ```
//!
//! and, through an [`Explain`] carried by the command's
//! [`crate::write::Writer`], what `lvcreate -s` and a merge do
//! (`lvconvert --merge`, activation, `lvpoll`), lvm2's steps among the
//! kernel's:
//!
//! ```text
//! snap: lvm2 zeroes the COW's first 4096 bytes
//! snap: new store: header at chunk 0 (magic SnAp, valid 1, version 1, chunk size 8 sectors), area 0 at chunk 1 written empty
//! snap: merge batch: COW 4 -> origin 9, clear record 2 (area 0)
//! snap: merge batch: COW 2..3 -> origin 5..6, clear records 0..1 (area 0)
//! snap: merge done: snapshot removed
//! ```

use cow_engine::engine::{Event, EventLog, Invalidation};
use lvm_meta::model::Vg;
use serde_json::json;
use std::sync::{Arc, Mutex};

/// A fresh, empty event log.
pub fn log() -> EventLog {
    EventLog::default()
}

/// The events in `log`, taken out of it.
pub fn take(log: &EventLog) -> Vec<Event> {
    log.lock()
        .map(|mut v| std::mem::take(&mut *v))
        .unwrap_or_default()
}

fn name(vg: &Vg, cow: usize) -> String {
    vg.lvs
        .get(cow)
        .map_or_else(|| format!("LV {cow}"), |l| l.name.clone())
}

fn cow_of(e: &Event) -> usize {
    match *e {
        Event::Exception { cow, .. }
        | Event::AreaFull { cow, .. }
        | Event::Commit { cow, .. }
        | Event::NoRoom { cow, .. }
        | Event::Invalidated { cow, .. }
        | Event::NewStore { cow, .. }
        | Event::MergeBatch { cow, .. } => cow,
    }
}

/// `a..b`, or `a` alone for one chunk or record.
fn span(first: u64, n: u64) -> String {
    if n == 1 {
        first.to_string()
    } else {
        format!("{first}..{}", first + n.saturating_sub(1))
    }
}

/// The line of event `e` of the store of snapshot `name`.
fn text(name: &str, e: &Event) -> String {
    match *e {
        Event::Exception {
            old,
            new,
            area,
            index,
            ..
        } => format!("origin chunk {old} -> {name} COW chunk {new} (area {area}, record {index})"),
        Event::AreaFull { area, next, .. } => {
            format!("{name}: area {area} full: next area at chunk {next}")
        }
        Event::Commit { area, records, .. } => {
            format!("{name}: commit area {area} ({records} records)")
        }
        Event::NoRoom {
            chunk, needs, has, ..
        } => format!(
            "{name} invalid: no room for origin chunk {chunk} (needs {needs} chunks, has {has})"
        ),
        Event::Invalidated { why, .. } => match why {
            Invalidation::Full => format!("{name} invalid: no free chunk"),
            Invalidation::Io => format!(
                "{name} invalid: writing the store failed (the next metadata area lies past the COW's end)"
            ),
        },
        Event::NewStore {
            chunk_size,
            version,
            ..
        } => format!(
            "{name}: new store: header at chunk 0 (magic SnAp, valid 1, version {version}, chunk size {chunk_size} sectors), area 0 at chunk 1 written empty"
        ),
        Event::MergeBatch {
            old,
            new,
            n,
            area,
            first,
            ..
        } => format!(
            "{name}: merge batch: COW {} -> origin {}, clear record{} {} (area {area})",
            span(new, n),
            span(old, n),
            if n == 1 { "" } else { "s" },
            span(first, n)
        ),
    }
}

/// The JSON object of event `e` of the store of snapshot `name`.
fn value(name: &str, e: &Event) -> serde_json::Value {
    match *e {
        Event::Exception {
            old,
            new,
            area,
            index,
            ..
        } => json!({"event": "exception", "snapshot": name, "old": old,
                    "new": new, "area": area, "record": index}),
        Event::AreaFull { area, next, .. } => json!({"event": "area_full",
            "snapshot": name, "area": area, "next_area_chunk": next}),
        Event::Commit { area, records, .. } => json!({"event": "commit",
            "snapshot": name, "area": area, "records": records}),
        Event::NoRoom {
            chunk, needs, has, ..
        } => json!({"event": "no_room", "snapshot": name, "chunk": chunk,
                    "needs_chunks": needs, "has_chunks": has}),
        Event::Invalidated { why, .. } => json!({"event": "invalidated",
            "snapshot": name,
            "why": match why { Invalidation::Full => "full", Invalidation::Io => "io" }}),
        Event::NewStore {
            chunk_size,
            version,
            ..
        } => json!({"event": "new_store", "snapshot": name, "magic": "SnAp",
                    "valid": 1, "version": version, "chunk_size": chunk_size,
                    "area": 0, "area_chunk": 1, "records": 0}),
        Event::MergeBatch {
            old,
            new,
            n,
            area,
            first,
            ..
        } => json!({"event": "merge_batch", "snapshot": name, "cow_first": new,
                    "origin_first": old, "chunks": n, "area": area,
                    "first_record": first}),
    }
}

/// Lines of named events; an invalidation for lack of room is said once.
fn named_lines<'a>(events: impl Iterator<Item = (String, &'a Event)>) -> Vec<String> {
    let mut out = Vec::new();
    let mut no_room = Vec::new();
    for (n, e) in events {
        match *e {
            Event::NoRoom { cow, .. } => no_room.push(cow),
            Event::Invalidated {
                cow,
                why: Invalidation::Full,
            } if no_room.contains(&cow) => continue,
            _ => {}
        }
        out.push(text(&n, e));
    }
    out
}

/// One line per event (an invalidation for lack of room is said once).
pub fn lines(vg: &Vg, events: &[Event]) -> Vec<String> {
    named_lines(events.iter().map(|e| (name(vg, cow_of(e)), e)))
}

/// The events as JSON objects.
pub fn json(vg: &Vg, events: &[Event]) -> serde_json::Value {
    events
        .iter()
        .map(|e| value(&name(vg, cow_of(e)), e))
        .collect()
}

/// A step lvm2 takes around the kernel's (it has no event of its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lvm2Step {
    /// `lvcreate -s` zeroes the first `bytes` bytes of the new COW LV.
    Wipe {
        /// The snapshot (COW LV).
        snapshot: String,
        /// Bytes zeroed.
        bytes: u64,
    },
    /// `lvconvert --merge` of an inactive origin only marks the snapshot
    /// as merging: the kernel merges at the origin's next activation.
    MergePending {
        /// The snapshot.
        snapshot: String,
        /// Its origin.
        origin: String,
    },
    /// The merge has finished: lvm2's poller removes the glue and the
    /// COW LV.
    MergeDone {
        /// The snapshot.
        snapshot: String,
    },
}

/// One step of an explained command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The kernel's, in the store of `snapshot`.
    Kernel {
        /// The COW LV's name.
        snapshot: String,
        /// What happened.
        event: Event,
    },
    /// lvm2's.
    Lvm2(Lvm2Step),
}

/// What a command does in the snapshot stores, collected while it runs:
/// cow-engine's events go to [`Explain::log`]; the command names them
/// with [`Explain::drain`] while it holds the VG their device numbers
/// index, and adds lvm2's steps with [`Explain::lvm2`], so the order is
/// kept.
#[derive(Debug, Clone, Default)]
pub struct Explain {
    log: EventLog,
    steps: Arc<Mutex<Vec<Step>>>,
}

impl Explain {
    /// The log to give cow-engine's stores.
    pub fn log(&self) -> &EventLog {
        &self.log
    }

    /// Names the events logged so far by the LVs of `vg` (whose indices
    /// are their COW devices) and keeps them as steps.
    pub fn drain(&self, vg: &Vg) {
        let events = take(&self.log);
        if let Ok(mut steps) = self.steps.lock() {
            steps.extend(events.into_iter().map(|event| Step::Kernel {
                snapshot: name(vg, cow_of(&event)),
                event,
            }));
        }
    }

    /// Adds an lvm2 step (after the kernel's steps already drained).
    pub fn lvm2(&self, step: Lvm2Step) {
        if let Ok(mut steps) = self.steps.lock() {
            steps.push(Step::Lvm2(step));
        }
    }

    /// The steps so far.
    pub fn steps(&self) -> Vec<Step> {
        self.steps.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The steps as text lines.
    pub fn lines(&self) -> Vec<String> {
        let steps = self.steps();
        let mut out = Vec::new();
        let mut kernel: Vec<(String, &Event)> = Vec::new();
        let flush = |k: &mut Vec<(String, &Event)>, out: &mut Vec<String>| {
            out.extend(named_lines(k.drain(..)));
        };
        for s in &steps {
            match s {
                Step::Kernel { snapshot, event } => kernel.push((snapshot.clone(), event)),
                Step::Lvm2(l) => {
                    flush(&mut kernel, &mut out);
                    out.push(match l {
                        Lvm2Step::Wipe { snapshot, bytes } => {
                            format!("{snapshot}: lvm2 zeroes the COW's first {bytes} bytes")
                        }
                        Lvm2Step::MergePending { snapshot, origin } => format!(
                            "{snapshot}: merge pending: the kernel starts it at the next activation of {origin}"
                        ),
                        Lvm2Step::MergeDone { snapshot } => {
                            format!("{snapshot}: merge done: snapshot removed")
                        }
                    });
                }
            }
        }
        flush(&mut kernel, &mut out);
        out
    }

    /// The steps as JSON objects.
    pub fn json(&self) -> serde_json::Value {
        self.steps()
            .iter()
            .map(|s| match s {
                Step::Kernel { snapshot, event } => value(snapshot, event),
                Step::Lvm2(Lvm2Step::Wipe { snapshot, bytes }) => {
                    json!({"event": "lvm2_wipe", "snapshot": snapshot, "bytes": bytes})
                }
                Step::Lvm2(Lvm2Step::MergePending { snapshot, origin }) => {
                    json!({"event": "merge_pending", "snapshot": snapshot, "origin": origin})
                }
                Step::Lvm2(Lvm2Step::MergeDone { snapshot }) => {
                    json!({"event": "merge_done", "snapshot": snapshot})
                }
            })
            .collect()
    }

    /// Writes the steps as text lines or JSON.
    ///
    /// # Errors
    /// Writing the output.
    pub fn print(&self, as_json: bool, out: &mut dyn std::io::Write) -> crate::error::Result<()> {
        if as_json {
            writeln!(out, "{}", serde_json::to_string_pretty(&self.json())?)?;
        } else {
            for l in self.lines() {
                writeln!(out, "{l}")?;
            }
        }
        Ok(())
    }
}

/// Writes the events of a write to `lv` (`VG/LV`) as text lines or JSON.
///
/// # Errors
/// The VG is not in `sys`; writing the output.
pub fn print(
    sys: &lvm_meta::scan::System,
    lv: &str,
    log: &EventLog,
    as_json: bool,
    out: &mut dyn std::io::Write,
) -> crate::error::Result<()> {
    let (vgn, _) = crate::names::vg_lv(lv)?;
    let vg = &sys.vg_or_err(&vgn)?.vg;
    let events = take(log);
    if as_json {
        writeln!(out, "{}", serde_json::to_string_pretty(&json(vg, &events))?)?;
    } else {
        for l in lines(vg, &events) {
            writeln!(out, "{l}")?;
        }
    }
    Ok(())
}
