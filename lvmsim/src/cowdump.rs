//! `lvmsim cow dump VG/SNAP`: a snapshot's exception store as the kernel
//! reads it (`read_exceptions` in `dm-snap-persistent.c`): the header in
//! chunk 0, every metadata area with its place, every exception record
//! (origin chunk -> COW chunk, area, record), the next chunk the kernel
//! would hand out, and the `dmsetup status` numbers and `Data%` lvm2 shows
//! for it (the same functions as `dmsetup status` and `lvs`).
//!
//! An invalidated store is dumped too: the kernel reads none of its
//! records (`valid = 0`), but they are still on disk, so they are listed
//! from a forensic walk and the dump says the kernel ignores them. With a
//! metadata copy's `seqno`, a snapshot that copy described (one since
//! removed, say) is dumped from where that copy put its COW.
//!
//! The images are only read.

use crate::active::{snapshot_percent, SnapStatus};
use crate::error::{refused, Result};
use cow_engine::exception_store::{Store, DISK_EXCEPTION_SIZE};
use cow_engine::lv_io::LvReader;
use cow_engine::recover::pv_images;
use lvm_meta::lv_map::{self, Piece};
use lvm_meta::model::Vg;
use lvm_meta::scan::System;
use serde_json::json;
use std::io::Write;

/// Options of `lvmsim cow dump`.
#[derive(Debug, Clone, Default)]
pub struct CowDumpOpts {
    /// Print JSON instead of text.
    pub json: bool,
    /// Dump the snapshot as the metadata copy with this seqno describes it
    /// (for a removed snapshot).
    pub seqno: Option<u32>,
}

/// The four fields of chunk 0 as they are on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawHeader {
    /// `magic` (0x70416e53, "SnAp"; 0 for a store never activated).
    pub magic: u32,
    /// `valid`.
    pub valid: u32,
    /// `version`.
    pub version: u32,
    /// `chunk_size`, in sectors.
    pub chunk_size: u32,
}

/// One metadata area of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Area {
    /// Area index `k`.
    pub index: u64,
    /// Its chunk, `1 + (E + 1) * k`.
    pub chunk: u64,
    /// Its byte offset in the COW.
    pub offset: u64,
    /// Records it holds.
    pub records: u64,
    /// False when the area lies past the COW's end (only in a forensic
    /// walk of an invalidated store).
    pub inside: bool,
}

/// One exception record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// `old_chunk`: the origin chunk.
    pub old: u64,
    /// `new_chunk`: the COW chunk holding its data.
    pub new: u64,
    /// The area holding the record.
    pub area: u64,
    /// The record's index in its area.
    pub index: u64,
}

/// Where a run of the COW lies on a PV image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// Byte offset in the COW.
    pub cow_offset: u64,
    /// The PV image (as named on the command line).
    pub image: String,
    /// Byte offset on that image.
    pub image_offset: u64,
    /// Length in bytes.
    pub len: u64,
}

/// A store, dumped.
#[derive(Debug, Clone)]
pub struct CowDump {
    /// VG name.
    pub vg: String,
    /// The snapshot (COW LV) name.
    pub snapshot: String,
    /// Its origin's name.
    pub origin: String,
    /// The metadata copy read, when one was asked for.
    pub seqno: Option<u32>,
    /// The snapshot's size (the origin's size when it was taken), bytes.
    pub snapshot_bytes: u64,
    /// The COW LV's size in bytes.
    pub cow_bytes: u64,
    /// The chunk size in the metadata (the table's), sectors.
    pub table_chunk_sectors: u64,
    /// Where the COW lies on the PVs.
    pub places: Vec<Place>,
    /// Chunk 0 as it is on disk.
    pub header: RawHeader,
    /// The chunk size in use (the header's, or the table's for a new store),
    /// sectors.
    pub chunk_sectors: u64,
    /// Whole chunks in the COW.
    pub cow_chunks: u64,
    /// Records per metadata area, `E`.
    pub exceptions_per_area: u64,
    /// True if the kernel reads the records (a valid store); false for an
    /// invalidated one, whose records are listed from the disk anyway.
    pub kernel_reads: bool,
    /// Every metadata area the walk read, in order.
    pub areas: Vec<Area>,
    /// Every record, in disk order.
    pub records: Vec<Record>,
    /// The next COW chunk the kernel would allocate.
    pub next_free: u64,
    /// What `dmsetup status` shows for the snapshot target.
    pub status: SnapStatus,
    /// Caveats: for a snapshot of an older metadata copy, the LVs later
    /// given some of its extents (what they wrote there is not the
    /// store's).
    pub notes: Vec<String>,
}

impl CowDump {
    /// Bytes per chunk.
    pub fn chunk_bytes(&self) -> u64 {
        self.chunk_sectors * 512
    }

    /// The `Data%` lvm2's `lvs` shows.
    pub fn data_percent(&self) -> String {
        snapshot_percent(self.status)
    }

    /// The `dmsetup status` target text (`used/total metadata` or
    /// `Invalid`).
    pub fn status_text(&self) -> String {
        self.status.to_string()
    }
}

/// Reads the store of COW LV `li` of `vg` (chunk size `table_chunk`
/// sectors from the metadata).
///
/// # Errors
/// The store cannot be read, or the kernel would refuse it (a bad header,
/// a record past the COW's end).
pub fn dump_lv(
    sys: &System,
    vg: &Vg,
    li: usize,
    table_chunk: u64,
    seqno: Option<u32>,
) -> Result<CowDump> {
    let role = vg.roles[li]
        .cow_of
        .ok_or_else(|| refused!("{}/{} is not a snapshot", vg.name, vg.lvs[li].name))?;
    let pvs = pv_images(sys, vg);
    let reader = LvReader::new(vg, li, pvs.clone())?;
    let mut first = [0u8; 16];
    reader.read_at(0, &mut first)?;
    let word = |i: usize| u32::from_le_bytes([first[i], first[i + 1], first[i + 2], first[i + 3]]);
    let header = RawHeader {
        magic: word(0),
        valid: word(4),
        version: word(8),
        chunk_size: word(12),
    };
    // The kernel's walk; an invalid store's records come from the
    // forensic walk (the kernel reads none), and so do those of a store
    // the kernel refuses past its header (an area or record past the
    // COW's end), with the reason.
    let forensic = || cow_engine::recover::load_store_forensic(vg, li, table_chunk, &pvs);
    let mut notes = Vec::new();
    let (store, kernel_reads) = match cow_engine::view::load_store(vg, li, table_chunk, &pvs) {
        Ok(k) if k.header.is_valid() => (k, true),
        Ok(_) => (forensic()?, false),
        Err(e) => match forensic() {
            Ok(f) => {
                notes.push(format!("the kernel refuses to load this store: {e}"));
                (f, false)
            }
            Err(_) => return Err(e.into()),
        },
    };
    let e = store.exceptions_per_area();
    let records: Vec<Record> = store
        .records()
        .iter()
        .enumerate()
        .map(|(i, r)| Record {
            old: r.old,
            new: r.new,
            area: i as u64 / e,
            index: i as u64 % e,
        })
        .collect();
    let areas = areas(&store);
    let status = SnapStatus::of(kernel_reads, store.usage());
    let mut places = Vec::new();
    let mut at = 0u64;
    while at < reader.size() {
        let piece = lv_map::map(vg, li, at)?;
        let len = match piece {
            Piece::Pv { pv, offset, len } => {
                places.push(Place {
                    cow_offset: at,
                    image: pvs
                        .get(pv)
                        .copied()
                        .flatten()
                        .map_or_else(|| "(missing)".to_owned(), |i| i.path.clone()),
                    image_offset: offset,
                    len,
                });
                len
            }
            Piece::Zero { len } => len,
        };
        at = at.saturating_add(len.max(1));
    }
    Ok(CowDump {
        vg: vg.name.clone(),
        snapshot: vg.lvs[li].name.clone(),
        origin: vg.lvs[role.origin].name.clone(),
        seqno,
        snapshot_bytes: u64::from(role.glue_extents) * vg.extent_bytes(),
        cow_bytes: reader.size(),
        table_chunk_sectors: table_chunk,
        places,
        header,
        chunk_sectors: store.chunk_sectors,
        cow_chunks: store.cow_chunks,
        exceptions_per_area: e,
        kernel_reads,
        areas,
        records,
        next_free: store.next_free,
        status,
        notes,
    })
}

/// The areas a walk of `store` read: the full ones, then the one that
/// ended the walk (it may lie past the end in a forensic walk).
fn areas(store: &Store) -> Vec<Area> {
    let e = store.exceptions_per_area();
    let cb = store.chunk_sectors * 512;
    let n = store.record_count;
    let full = n / e;
    (0..=full)
        .map(|k| {
            let chunk = store.area_location(k);
            Area {
                index: k,
                chunk,
                offset: chunk.saturating_mul(cb),
                records: (n - k * e).min(e),
                inside: chunk < store.cow_chunks,
            }
        })
        .collect()
}

/// Finds `VG/SNAP` in the current metadata, or in the copy with `seqno`.
///
/// # Errors
/// No such VG, LV or copy; the LV is not a snapshot; its store cannot be
/// read.
pub fn dump(
    sys: &System,
    target: &str,
    seqno: Option<u32>,
    scan_all: bool,
    progress: bool,
) -> Result<CowDump> {
    let (vgn, lvn) = crate::names::vg_lv(target)?;
    match seqno {
        None => {
            let inst = sys.vg_or_err(&vgn)?;
            let vg = &inst.vg;
            let li = vg.lv_index_or_err(&lvn)?;
            let c = vg.roles[li]
                .cow_of
                .ok_or_else(|| refused!("{vgn}/{lvn} is not a snapshot"))?;
            dump_lv(sys, vg, li, c.chunk_size.0, None)
        }
        Some(n) => {
            let h = crate::history::of_system(sys, scan_all, progress);
            let vg = h
                .copies
                .iter()
                .filter(|c| c.seqno == n && c.vg_name == vgn)
                .find_map(|c| c.vg.as_ref().ok().filter(|v| v.lv_index(&lvn).is_some()))
                .ok_or_else(|| refused!("no copy of {vgn} with seqno {n} has an LV {lvn}"))?;
            let li = vg.lv_index(&lvn).unwrap_or(0);
            let c = vg.roles[li]
                .cow_of
                .ok_or_else(|| refused!("{vgn}/{lvn} is not a snapshot in seqno {n}"))?;
            let mut d = dump_lv(sys, vg, li, c.chunk_size.0, Some(n))?;
            let id = &vg.lvs[li].id;
            for s in cow_engine::recover::survey(sys, &h) {
                if s.id != *id {
                    continue;
                }
                for r in &s.reused_by {
                    let ext: Vec<String> = r.extents.iter().map(|e| e.to_string()).collect();
                    d.notes.push(format!(
                        "extents {} were given to {} in seqno {}: the store's chunks there may be its data",
                        ext.join(","),
                        r.lv,
                        r.seqno
                    ));
                }
            }
            Ok(d)
        }
    }
}

/// The dump as JSON.
pub fn to_json(d: &CowDump) -> serde_json::Value {
    json!({
        "vg": d.vg,
        "snapshot": d.snapshot,
        "origin": d.origin,
        "seqno": d.seqno,
        "snapshot_bytes": d.snapshot_bytes,
        "cow_bytes": d.cow_bytes,
        "places": d.places.iter().map(|p| json!({
            "cow_offset": p.cow_offset, "image": p.image,
            "image_offset": p.image_offset, "len": p.len,
        })).collect::<Vec<_>>(),
        "header": {
            "magic": d.header.magic,
            "valid": d.header.valid,
            "version": d.header.version,
            "chunk_size": d.header.chunk_size,
            "new": d.header.magic == 0,
        },
        "chunk_bytes": d.chunk_bytes(),
        "cow_chunks": d.cow_chunks,
        "exceptions_per_area": d.exceptions_per_area,
        "kernel_reads_records": d.kernel_reads,
        "areas": d.areas.iter().map(|a| json!({
            "area": a.index, "chunk": a.chunk, "offset": a.offset,
            "records": a.records, "inside_cow": a.inside,
        })).collect::<Vec<_>>(),
        "exceptions": d.records.iter().map(|r| json!({
            "old": r.old, "new": r.new, "area": r.area, "record": r.index,
        })).collect::<Vec<_>>(),
        "next_free": d.next_free,
        "dmsetup_status": d.status_text(),
        "data_percent": d.data_percent(),
        "notes": d.notes,
    })
}

/// Writes the dump as text.
pub fn write_text(d: &CowDump, out: &mut dyn Write) -> std::io::Result<()> {
    let seq = d
        .seqno
        .map(|n| format!(" (metadata seqno {n})"))
        .unwrap_or_default();
    writeln!(
        out,
        "{}/{}{seq}: snapshot of {}, {} bytes; COW {} bytes",
        d.vg, d.snapshot, d.origin, d.snapshot_bytes, d.cow_bytes
    )?;
    for p in &d.places {
        writeln!(
            out,
            "  COW bytes {}..{} at {} byte {}",
            p.cow_offset,
            p.cow_offset + p.len,
            p.image,
            p.image_offset
        )?;
    }
    let h = &d.header;
    writeln!(
        out,
        "header: magic {:#010x}{}, valid {}, version {}, chunk_size {} sectors",
        h.magic,
        match h.magic {
            0 => " (new store: the kernel writes a header at activation)",
            cow_engine::disk_header::SNAP_MAGIC => " (SnAp)",
            _ => " (not a store)",
        },
        h.valid,
        h.version,
        h.chunk_size
    )?;
    writeln!(
        out,
        "chunk {} bytes, {} whole chunks, {} records per area ({} bytes each)",
        d.chunk_bytes(),
        d.cow_chunks,
        d.exceptions_per_area,
        DISK_EXCEPTION_SIZE
    )?;
    if !d.kernel_reads {
        writeln!(
            out,
            "the kernel reads none of these records: the store is {}",
            if d.header.valid == 0 {
                "invalid"
            } else {
                "refused (see the note)"
            }
        )?;
    }
    for a in &d.areas {
        if !a.inside {
            writeln!(
                out,
                "area {} at chunk {} (byte {}): past the COW's end",
                a.index, a.chunk, a.offset
            )?;
            continue;
        }
        writeln!(
            out,
            "area {} at chunk {} (byte {}): {} records",
            a.index, a.chunk, a.offset, a.records
        )?;
        for r in d.records.iter().filter(|r| r.area == a.index) {
            writeln!(
                out,
                "  origin chunk {} -> COW chunk {} (area {}, record {})",
                r.old, r.new, r.area, r.index
            )?;
        }
    }
    writeln!(out, "next free chunk: {}", d.next_free)?;
    writeln!(
        out,
        "dmsetup status: {}; Data%: {}",
        d.status_text(),
        d.data_percent()
    )?;
    for n in &d.notes {
        writeln!(out, "note: {n}")?;
    }
    Ok(())
}

/// Runs `lvmsim cow dump`.
///
/// # Errors
/// See [`dump`]; writing the output.
pub fn run(
    sys: &System,
    target: &str,
    o: &CowDumpOpts,
    scan_all: bool,
    progress: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let d = dump(sys, target, o.seqno, scan_all, progress)?;
    if o.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&to_json(&d))?)?;
    } else {
        write_text(&d, out)?;
    }
    Ok(())
}
