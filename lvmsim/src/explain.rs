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

use cow_engine::engine::{Event, EventLog, Invalidation};
use lvm_meta::model::Vg;
use serde_json::json;

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

/// One line per event (an invalidation for lack of room is said once).
pub fn lines(vg: &Vg, events: &[Event]) -> Vec<String> {
    let mut out = Vec::new();
    let mut no_room = Vec::new();
    for e in events {
        out.push(match *e {
            Event::Exception {
                cow,
                old,
                new,
                area,
                index,
            } => format!(
                "origin chunk {old} -> {} COW chunk {new} (area {area}, record {index})",
                name(vg, cow)
            ),
            Event::AreaFull { cow, area, next } => format!(
                "{}: area {area} full: next area at chunk {next}",
                name(vg, cow)
            ),
            Event::Commit { cow, area, records } => {
                format!("{}: commit area {area} ({records} records)", name(vg, cow))
            }
            Event::NoRoom {
                cow,
                chunk,
                needs,
                has,
            } => {
                no_room.push(cow);
                format!(
                    "{} invalid: no room for origin chunk {chunk} (needs {needs} chunks, has {has})",
                    name(vg, cow)
                )
            }
            Event::Invalidated { cow, why } => match why {
                Invalidation::Full if no_room.contains(&cow) => continue,
                Invalidation::Full => format!("{} invalid: no free chunk", name(vg, cow)),
                Invalidation::Io => format!(
                    "{} invalid: writing the store failed (the next metadata area lies past the COW's end)",
                    name(vg, cow)
                ),
            },
        });
    }
    out
}

/// The events as JSON objects.
pub fn json(vg: &Vg, events: &[Event]) -> serde_json::Value {
    events
        .iter()
        .map(|e| match *e {
            Event::Exception {
                cow,
                old,
                new,
                area,
                index,
            } => json!({"event": "exception", "snapshot": name(vg, cow), "old": old,
                        "new": new, "area": area, "record": index}),
            Event::AreaFull { cow, area, next } => json!({"event": "area_full",
                "snapshot": name(vg, cow), "area": area, "next_area_chunk": next}),
            Event::Commit { cow, area, records } => json!({"event": "commit",
                "snapshot": name(vg, cow), "area": area, "records": records}),
            Event::NoRoom {
                cow,
                chunk,
                needs,
                has,
            } => json!({"event": "no_room", "snapshot": name(vg, cow), "chunk": chunk,
                        "needs_chunks": needs, "has_chunks": has}),
            Event::Invalidated { cow, why } => json!({"event": "invalidated",
                "snapshot": name(vg, cow),
                "why": match why { Invalidation::Full => "full", Invalidation::Io => "io" }}),
        })
        .collect()
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
