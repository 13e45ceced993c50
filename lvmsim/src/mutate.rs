//! `lvmsim mutate`: one structure-aware piece of damage to a directory made
//! by [`crate::gen`], written to a new directory. Every checksum the
//! damage would break is computed again (the label's CRC, the metadata-area
//! header's CRC, the `raw_locn` checksum of a metadata text), so a parser
//! gets past its CRC checks and meets the damage itself:
//!
//! - `text`: the VG's metadata text with a number at its type's limit, a key
//!   missing or given twice, a segment past its PV's end, a reference to a
//!   PV or LV that does not exist, a snapshot that is its own origin;
//!   committed to every metadata area as lvm2 would commit it;
//! - `header`: a metadata-area header with a slot outside the ring, an
//!   empty slot size, another version or start, garbage in the
//!   precommitted slot;
//! - `label`: the label moved to another of the four sectors lvm2 scans,
//!   its PV header at another offset, another device size;
//! - `ring`: the committed text moved so that it wraps around the ring's
//!   end at an odd place, or ends exactly at it;
//! - `cow`: a snapshot's exception store with a record past the COW's end,
//!   two records for one chunk, or an all-zero record before valid ones;
//! - `data`: bytes of an LV changed on its PV (the manifest gives the LVs'
//!   new hashes).
//!
//! The manifest ([`MutantManifest`], `manifest.json`) says what changed,
//! where, and what lvm2 (`vgck` and `lvs` without activation) does with the
//! result: it accepts it, warns, or refuses the VG. That verdict is a
//! prediction ([`Lvm2Verdict::basis`] says so); `testdata/lvm2/gen-check.sh`
//! compares it with real lvm2 on a sample.

use crate::error::{Error, Result, ResultExt};
use crate::gen::{file_sha256, read_manifest, ImageEntry, LvEntry, Manifest, Rng, MANIFEST};
use byteorder::{ByteOrder, LE};
use lvm_meta::io::{Image, ReadAt};
use lvm_meta::label::Label;
use lvm_meta::mda_header::{MdaHeader, MDA_HEADER_SIZE};
use lvm_meta::model::{Area, SegmentKind};
use lvm_meta::scan::System;
use serde::{Deserialize, Serialize};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// What a mutation damages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The metadata text.
    Text,
    /// A metadata-area header.
    Header,
    /// A PV label.
    Label,
    /// Where the text sits in its ring.
    Ring,
    /// A snapshot's exception store.
    Cow,
    /// LV data.
    Data,
}

/// Every kind, in the order `--seed` picks from.
pub const KINDS: [Kind; 6] = [
    Kind::Text,
    Kind::Header,
    Kind::Label,
    Kind::Ring,
    Kind::Cow,
    Kind::Data,
];

impl Kind {
    /// The kind's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Header => "header",
            Kind::Label => "label",
            Kind::Ring => "ring",
            Kind::Cow => "cow",
            Kind::Data => "data",
        }
    }

    /// The kind called `name`.
    pub fn parse(name: &str) -> Option<Kind> {
        KINDS.into_iter().find(|k| k.name() == name)
    }
}

/// What lvm2 does with a VG.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// `vgck` and `lvs` succeed without a warning.
    Accepts,
    /// They succeed, with a warning on stderr.
    Warns,
    /// `vgck` or `lvs` fails for the VG.
    Refuses,
}

/// lvm2's verdict on the mutant and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lvm2Verdict {
    /// The VG lvm2 is asked about.
    pub vg: String,
    /// What lvm2 does.
    pub verdict: Verdict,
    /// `prediction`: what lvmsim expects from lvm2's rules, not observed;
    /// `testdata/lvm2/gen-check.sh` observes it on a sample.
    pub basis: String,
}

/// One changed byte range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Image file name.
    pub file: String,
    /// Byte offset.
    pub offset: u64,
    /// Bytes written.
    pub length: u64,
}

/// The damage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mutation {
    /// Its kind.
    pub kind: Kind,
    /// A short name of the variant (`extent_count_max`, `label_sector_3`).
    pub variant: String,
    /// What was changed, in words.
    pub what: String,
    /// The bytes written.
    pub changes: Vec<Change>,
    /// lvm2's verdict.
    pub lvm2: Lvm2Verdict,
}

/// `manifest.json` of a mutant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MutantManifest {
    /// [`crate::gen::FORMAT`].
    pub format: u32,
    /// The mutation's seed.
    pub seed: u64,
    /// The manifest of the directory it was made from.
    pub source: Manifest,
    /// The damage.
    pub mutation: Mutation,
    /// The images after it.
    pub images: Vec<ImageEntry>,
    /// With `data`: each LV of the damaged VG as a reader now sees it.
    pub lvs_after: Option<Vec<LvEntry>>,
}

/// The options of [`mutate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MutateOptions {
    /// Seeds the choice of the damage.
    pub seed: u64,
    /// The kind of damage; `None`: picked by the seed among those the
    /// images allow.
    pub kind: Option<Kind>,
}

/// The images of a gen directory copied to the output, scanned.
struct Target<'a> {
    out: &'a Path,
    src: &'a Manifest,
    sys: System,
    rng: Rng,
    changes: Vec<Change>,
}

impl Target<'_> {
    fn file(&self, dev: usize) -> String {
        self.src.images[dev].file.clone()
    }

    /// Writes `data` at `offset` of image `dev`.
    fn put(&mut self, dev: usize, offset: u64, data: &[u8]) -> Result<()> {
        let file = self.file(dev);
        let path = self.out.join(&file);
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .with_context(|| format!("{}: cannot open for writing", path.display()))?;
        f.write_all_at(data, offset)
            .with_context(|| format!("{}: cannot write at {offset}", path.display()))?;
        self.changes.push(Change {
            file,
            offset,
            length: data.len() as u64,
        });
        Ok(())
    }

    fn get(&self, dev: usize, offset: u64, len: usize) -> Result<Vec<u8>> {
        let mut b = vec![0u8; len];
        self.sys.devices[dev]
            .image
            .read_exact_at(&mut b, offset)
            .with_context(|| format!("{}: cannot read at {offset}", self.file(dev)))?;
        Ok(b)
    }

    /// A VG (by index) chosen by the seed.
    fn vg(&mut self) -> Result<usize> {
        if self.sys.vgs.is_empty() {
            return Err(Error::Refused("mutate: the images hold no VG".into()));
        }
        Ok(self.rng.below(self.sys.vgs.len()))
    }

    /// Devices of VG `v` with a metadata area holding its text: (device,
    /// area index).
    fn mdas(&self, v: usize) -> Vec<(usize, usize)> {
        let inst = &self.sys.vgs[v];
        let mut out = Vec::new();
        for d in inst.pv_devices.iter().flatten() {
            for (i, m) in self.sys.devices[*d].mdas.iter().enumerate() {
                if m.committed.is_some() && !m.ignored && m.header.is_some() {
                    out.push((*d, i));
                }
            }
        }
        out
    }

    /// One of the areas of [`Target::mdas`], chosen by the seed.
    fn pick_mda(&mut self, v: usize) -> Result<(usize, usize)> {
        let areas = self.mdas(v);
        if areas.is_empty() {
            return Err(Error::Refused(
                "mutate: no metadata area holds the VG's text".into(),
            ));
        }
        Ok(self.rng.pick(&areas))
    }

    /// How many metadata areas of VG `v` hold its text.
    fn mda_count(&self, v: usize) -> usize {
        self.mdas(v).len()
    }
}

/// The verdict a damage to one metadata area of a VG gets: lvm2 reads the
/// VG from its other areas and warns about the bad one; with no other, it
/// cannot read the VG.
fn one_area_verdict(areas: usize) -> Verdict {
    if areas > 1 {
        Verdict::Warns
    } else {
        Verdict::Refuses
    }
}

/// Line `i` of `lines` split into (indent, key, value) when it is
/// `key = value`.
fn key_value(line: &str) -> Option<(&str, &str)> {
    let (k, v) = line.split_once(" = ")?;
    (!k.contains(char::is_whitespace)).then_some((k, v))
}

/// Indices of the lines whose key is `key`.
fn lines_with(lines: &[String], key: &str) -> Vec<usize> {
    (0..lines.len())
        .filter(|&i| key_value(&lines[i]).is_some_and(|(k, _)| k == key))
        .collect()
}

/// A text mutation: (variant, description, new lines, verdict).
type TextChange = (String, String, Vec<String>, Verdict);

fn text_change(t: &mut Target, v: usize) -> Result<TextChange> {
    let inst = &t.sys.vgs[v];
    let text = String::from_utf8_lossy(inst.text.strip_suffix(&[0]).unwrap_or(&inst.text));
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    // The seqno goes up, so the damaged text is the VG's latest commit.
    if let Some(&i) = lines_with(&lines, "seqno").first() {
        lines[i] = format!("seqno = {}", inst.vg.seqno.saturating_add(1));
    }
    let has_snap = !lines_with(&lines, "cow_store").is_empty();
    // Stripe lines: `"pvN", PE` (with a comma between stripes).
    let stripe_lines: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with("\"pv") && lines[i].contains("\", "))
        .collect();
    let variants: &[&str] = if has_snap {
        &[
            "extent_count_max",
            "pe_count_zero",
            "extent_size_zero",
            "start_extent_max",
            "seqno_max",
            "missing_extent_size",
            "missing_vg_id",
            "missing_stripe_count",
            "duplicate_extent_count",
            "segment_past_pv",
            "dangling_pv",
            "dangling_cow_store",
            "self_origin",
            "glue_extent_count_max",
        ]
    } else {
        &[
            "extent_count_max",
            "pe_count_zero",
            "extent_size_zero",
            "start_extent_max",
            "seqno_max",
            "missing_extent_size",
            "missing_vg_id",
            "missing_stripe_count",
            "duplicate_extent_count",
            "segment_past_pv",
            "dangling_pv",
        ]
    };
    let variant = t.rng.pick(variants);
    let pick = |key: &str, rng: &mut Rng| {
        let at = lines_with(&lines, key);
        (!at.is_empty()).then(|| at[rng.below(at.len())])
    };
    let set = |lines: &mut Vec<String>, i: usize, value: &str| {
        let key = key_value(&lines[i]).map_or("", |(k, _)| k).to_owned();
        lines[i] = format!("{key} = {value}");
    };
    // Lines of `key` in segments whose type is (or is not) `snapshot`.
    let in_glue = |lines: &[String], i: usize| {
        (i..lines.len())
            .find_map(|j| key_value(&lines[j]).filter(|(k, _)| *k == "type"))
            .is_some_and(|(_, v)| v == "\"snapshot\"")
    };
    let pick_seg = |key: &str, glue: bool, lines: &[String], rng: &mut Rng| {
        let at: Vec<usize> = lines_with(lines, key)
            .into_iter()
            .filter(|&i| in_glue(lines, i) == glue)
            .collect();
        (!at.is_empty()).then(|| at[rng.below(at.len())])
    };
    let missing = || Error::Refused(format!("mutate: no line for {variant}"));
    let (what, verdict) = match variant {
        "extent_count_max" => {
            let i = pick_seg("extent_count", false, &lines, &mut t.rng).ok_or_else(missing)?;
            set(&mut lines, i, "4294967295");
            (
                format!("a segment's extent_count set to 2^32-1 (line {})", i + 1),
                Verdict::Refuses,
            )
        }
        "pe_count_zero" => {
            let i = pick("pe_count", &mut t.rng).ok_or_else(missing)?;
            set(&mut lines, i, "0");
            (
                format!("a PV's pe_count set to 0 (line {})", i + 1),
                Verdict::Refuses,
            )
        }
        "extent_size_zero" => {
            let i = pick("extent_size", &mut t.rng).ok_or_else(missing)?;
            set(&mut lines, i, "0");
            (
                "the VG's extent_size set to 0 (lvm2 takes it: every size reads 0)".into(),
                Verdict::Accepts,
            )
        }
        "glue_extent_count_max" => {
            let i = pick_seg("extent_count", true, &lines, &mut t.rng).ok_or_else(missing)?;
            set(&mut lines, i, "4294967295");
            (
                format!(
                    "a snapshot glue segment's extent_count set to 2^32-1 (line {}); \
                     lvm2 sizes the snapshot by its COW LV and takes it",
                    i + 1
                ),
                Verdict::Accepts,
            )
        }
        "start_extent_max" => {
            let i = pick_seg("start_extent", false, &lines, &mut t.rng).ok_or_else(missing)?;
            set(&mut lines, i, "4294967295");
            (
                format!("a segment's start_extent set to 2^32-1 (line {})", i + 1),
                Verdict::Refuses,
            )
        }
        "seqno_max" => {
            let i = pick("seqno", &mut t.rng).ok_or_else(missing)?;
            set(&mut lines, i, "4294967295");
            (
                "the VG's seqno set to 2^32-1 (valid)".into(),
                Verdict::Accepts,
            )
        }
        "missing_extent_size" => {
            let i = pick("extent_size", &mut t.rng).ok_or_else(missing)?;
            lines.remove(i);
            ("the VG's extent_size line removed".into(), Verdict::Refuses)
        }
        "missing_vg_id" => {
            let i = *lines_with(&lines, "id").first().ok_or_else(missing)?;
            lines.remove(i);
            ("the VG's id line removed".into(), Verdict::Refuses)
        }
        "missing_stripe_count" => {
            let i = pick("stripe_count", &mut t.rng).ok_or_else(missing)?;
            lines.remove(i);
            (
                format!("a segment's stripe_count line removed (line {})", i + 1),
                Verdict::Refuses,
            )
        }
        "duplicate_extent_count" => {
            let i = pick("extent_count", &mut t.rng).ok_or_else(missing)?;
            let v: u64 = key_value(&lines[i])
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(1);
            let dup = format!("extent_count = {}", v + 1);
            lines.insert(i + 1, dup);
            (
                format!(
                    "a segment's extent_count given twice, {v} then {} (line {}); \
                     lvm2 warns and keeps the first",
                    v + 1,
                    i + 1
                ),
                Verdict::Warns,
            )
        }
        "segment_past_pv" => {
            if stripe_lines.is_empty() {
                return Err(missing());
            }
            let i = t.rng.pick(&stripe_lines);
            let key = lines[i].split('"').nth(1).ok_or_else(missing)?.to_owned();
            let pe_count = inst
                .vg
                .pvs
                .iter()
                .find(|p| p.key == key)
                .map_or(0, |p| p.pe_count);
            let comma = if lines[i].ends_with(',') { "," } else { "" };
            lines[i] = format!("\"{key}\", {pe_count}{comma}");
            (
                format!(
                    "a stripe starts at PE {pe_count} of {key}, its end (line {})",
                    i + 1
                ),
                Verdict::Refuses,
            )
        }
        "dangling_pv" => {
            if stripe_lines.is_empty() {
                return Err(missing());
            }
            let i = t.rng.pick(&stripe_lines);
            let rest = lines[i]
                .split_once("\", ")
                .map_or("0", |(_, r)| r)
                .to_owned();
            lines[i] = format!("\"pv97\", {rest}");
            (
                format!(
                    "a stripe on PV pv97, which the VG does not have (line {})",
                    i + 1
                ),
                Verdict::Refuses,
            )
        }
        "dangling_cow_store" => {
            let i = pick("cow_store", &mut t.rng).ok_or_else(missing)?;
            set(&mut lines, i, "\"no_such_lv\"");
            (
                format!("a snapshot's cow_store names no LV (line {})", i + 1),
                Verdict::Refuses,
            )
        }
        _ => {
            // self_origin: the origin of a snapshot is its own COW store.
            let i = pick("cow_store", &mut t.rng).ok_or_else(missing)?;
            let cow = key_value(&lines[i]).map_or("", |(_, v)| v).to_owned();
            let o = (0..i)
                .rev()
                .find(|&j| key_value(&lines[j]).is_some_and(|(k, _)| k == "origin"))
                .or_else(|| {
                    (i..lines.len())
                        .find(|&j| key_value(&lines[j]).is_some_and(|(k, _)| k == "origin"))
                })
                .ok_or_else(missing)?;
            set(&mut lines, o, &cow);
            (
                format!(
                    "a snapshot's origin is its own cow_store {cow} (line {})",
                    o + 1
                ),
                Verdict::Refuses,
            )
        }
    };
    Ok((variant.to_owned(), what, lines, verdict))
}

fn mutate_text(t: &mut Target) -> Result<(String, String, Lvm2Verdict)> {
    let v = t.vg()?;
    let (variant, what, lines, verdict) = text_change(t, v)?;
    let mut text = lines.join("\n");
    text.push('\n');
    let inst = &t.sys.vgs[v];
    let name = inst.vg.name.clone();
    let writes = lvm_meta::commit::plan(&t.sys, inst, &text)?;
    for w in &writes {
        t.put(w.device, w.offset, &w.data)?;
    }
    Ok((
        variant,
        format!("VG {name}: {what}; committed to every metadata area, checksums computed"),
        Lvm2Verdict {
            vg: name,
            verdict,
            basis: "prediction".into(),
        },
    ))
}

fn header_of(t: &Target, d: usize, m: usize) -> Result<(u64, MdaHeader)> {
    let st = &t.sys.devices[d].mdas[m];
    let h = st
        .header
        .clone()
        .ok_or_else(|| Error::Refused("mutate: no metadata-area header".into()))?;
    Ok((st.locn.offset, h))
}

fn mutate_header(t: &mut Target) -> Result<(String, String, Lvm2Verdict)> {
    let v = t.vg()?;
    let (d, m) = t.pick_mda(v)?;
    let (at, mut h) = header_of(t, d, m)?;
    let variant = t.rng.pick(&[
        "slot_past_area",
        "slot_size_zero",
        "slot_size_ring",
        "version_2",
        "start_moved",
        "precommit_garbage",
    ]);
    let one = one_area_verdict(t.mda_count(v));
    let (what, verdict) = match variant {
        "slot_past_area" => {
            h.raw_locns[0].offset = h.size + 512;
            ("raw_locn[0].offset past the area's end".to_owned(), one)
        }
        "slot_size_zero" => {
            h.raw_locns[0].size = 0;
            ("raw_locn[0].size set to 0".to_owned(), one)
        }
        "slot_size_ring" => {
            h.raw_locns[0].size = h.size;
            ("raw_locn[0].size larger than the ring".to_owned(), one)
        }
        "version_2" => {
            h.version = 2;
            ("mda_header.version set to 2".to_owned(), one)
        }
        "start_moved" => {
            h.start += 512;
            ("mda_header.start 512 bytes off".to_owned(), one)
        }
        _ => {
            h.raw_locns[1].offset = t.rng.next_u64();
            h.raw_locns[1].size = t.rng.next_u64();
            h.raw_locns[1].checksum = 0xdead_beef;
            (
                "raw_locn[1] (precommitted slot) filled with garbage".to_owned(),
                Verdict::Accepts,
            )
        }
    };
    let bytes = h.encode();
    t.put(d, at, &bytes)?;
    let file = t.file(d);
    let name = t.sys.vgs[v].vg.name.clone();
    Ok((
        variant.to_owned(),
        format!("{file}: metadata-area header at {at}: {what}; header checksum computed"),
        Lvm2Verdict {
            vg: name,
            verdict,
            basis: "prediction".into(),
        },
    ))
}

fn mutate_label(t: &mut Target) -> Result<(String, String, Lvm2Verdict)> {
    let v = t.vg()?;
    let devs: Vec<usize> = t.sys.vgs[v].pv_devices.iter().flatten().copied().collect();
    let d = t.rng.pick(&devs);
    let mut label: Label = t.sys.devices[d]
        .label
        .clone()
        .ok_or_else(|| Error::Refused("mutate: no label".into()))?;
    let old = label.sector;
    let variant = t.rng.pick(&["move_sector", "header_offset", "device_size"]);
    let what = match variant {
        "move_sector" => {
            let to = t.rng.pick(
                &[0u64, 2, 3]
                    .into_iter()
                    .filter(|s| *s != old)
                    .collect::<Vec<_>>(),
            );
            label.sector = to;
            t.put(d, old * 512, &[0u8; 512])?;
            format!("label moved from sector {old} to sector {to} (sector_xl and CRC set)")
        }
        "header_offset" => {
            label.offset = 64;
            "label's PV header moved to byte 64 of the sector (offset_xl 64, CRC set)".into()
        }
        _ => {
            label.pv_header.device_size = label.pv_header.device_size.saturating_mul(2);
            "PV header's device_size doubled (CRC set)".into()
        }
    };
    let sector = label.to_sector();
    t.put(d, label.sector * 512, &sector)?;
    let file = t.file(d);
    let name = t.sys.vgs[v].vg.name.clone();
    Ok((
        variant.to_owned(),
        format!("{file}: {what}"),
        Lvm2Verdict {
            vg: name,
            verdict: Verdict::Accepts,
            basis: "prediction".into(),
        },
    ))
}

fn mutate_ring(t: &mut Target) -> Result<(String, String, Lvm2Verdict)> {
    let v = t.vg()?;
    let (d, m) = t.pick_mda(v)?;
    let (at, mut h) = header_of(t, d, m)?;
    let r = h.raw_locns[0];
    let text = {
        // The text as committed (it may wrap already).
        let ring = h.size - MDA_HEADER_SIZE;
        let first = (h.size - r.offset).min(r.size);
        let mut b = t.get(d, at + r.offset, usize::try_from(first).unwrap_or(0))?;
        if first < r.size {
            b.extend(t.get(
                d,
                at + MDA_HEADER_SIZE,
                usize::try_from(r.size - first).unwrap_or(0),
            )?);
        }
        let _ = ring;
        b
    };
    let len = text.len() as u64;
    // How many bytes sit before the ring's end.
    let variant = t.rng.pick(&[
        "wrap_1",
        "wrap_511",
        "wrap_half",
        "wrap_len_less_1",
        "end_exact",
    ]);
    let k = match variant {
        "wrap_1" => 1,
        "wrap_511" => 511.min(len - 1),
        "wrap_half" => len / 2,
        "wrap_len_less_1" => len - 1,
        _ => len,
    };
    let off = h.size - k;
    let ku = usize::try_from(k).unwrap_or(0);
    t.put(d, at + off, &text[..ku])?;
    if ku < text.len() {
        t.put(d, at + MDA_HEADER_SIZE, &text[ku..])?;
    }
    h.raw_locns[0].offset = off;
    let bytes = h.encode();
    t.put(d, at, &bytes)?;
    let file = t.file(d);
    let name = t.sys.vgs[v].vg.name.clone();
    Ok((
        variant.to_owned(),
        format!(
            "{file}: metadata area at {at}: the committed text ({len} bytes) moved to ring offset {off}, \
             {k} bytes before the ring's end and {} after its start; header checksum computed",
            len - k
        ),
        Lvm2Verdict {
            vg: name,
            verdict: Verdict::Accepts,
            basis: "prediction".into(),
        },
    ))
}

/// The PV device and byte offset of byte `off` of LV `li` of VG `v`, when
/// the extent holding it is on a one-stripe segment.
fn lv_byte(sys: &System, v: usize, li: usize, off: u64) -> Option<(usize, u64)> {
    let inst = &sys.vgs[v];
    let vg = &inst.vg;
    let eb = vg.extent_bytes();
    let le = off.checked_div(eb)?;
    for s in &vg.lvs[li].segments {
        let (start, count) = (u64::from(s.start_extent), u64::from(s.extent_count));
        if le < start || le >= start + count {
            continue;
        }
        let SegmentKind::Striped { stripes, .. } = &s.kind else {
            return None;
        };
        let [Area::Pv { pv, pe }] = stripes.as_slice() else {
            return None;
        };
        let d = inst.pv_devices.get(*pv).copied().flatten()?;
        let base = vg.pvs[*pv].pe_start.0 * 512;
        return Some((d, base + (u64::from(*pe) + le - start) * eb + off % eb));
    }
    None
}

fn mutate_cow(t: &mut Target) -> Result<(String, String, Lvm2Verdict)> {
    // Snapshots whose store holds at least two records.
    let mut cands = Vec::new();
    for (v, inst) in t.sys.vgs.iter().enumerate() {
        for (li, r) in inst.vg.roles.iter().enumerate() {
            let Some(c) = r.cow_of else { continue };
            let cb = c.chunk_size.0 * 512;
            let Some((d, at)) = lv_byte(&t.sys, v, li, cb) else {
                continue;
            };
            let area = t.get(d, at, usize::try_from(cb).unwrap_or(0))?;
            let n = area
                .chunks_exact(16)
                .take_while(|e| LE::read_u64(&e[8..]) != 0)
                .count();
            if n >= 2 {
                cands.push((v, li, d, at, cb, n));
            }
        }
    }
    if cands.is_empty() {
        return Err(Error::Refused(
            "mutate: no snapshot with two exceptions (use a gen profile with snapshots)".into(),
        ));
    }
    let (v, li, d, at, cb, n) = t.rng.pick(&cands);
    let inst = &t.sys.vgs[v];
    let name = format!("{}/{}", inst.vg.name, inst.vg.lvs[li].name);
    let vg_name = inst.vg.name.clone();
    let cow_chunks = inst.vg.lv_extents(&inst.vg.lvs[li]) * inst.vg.extent_bytes() / cb;
    let i = t.rng.below(n - 1);
    let rec = at + 16 * i as u64;
    let variant = t
        .rng
        .pick(&["new_chunk_past_cow", "duplicate_old_chunk", "zero_record"]);
    let what = match variant {
        "new_chunk_past_cow" => {
            let mut b = [0u8; 8];
            LE::write_u64(&mut b, cow_chunks + 7);
            t.put(d, rec + 8, &b)?;
            format!(
                "exception {i} points to COW chunk {} of {cow_chunks}",
                cow_chunks + 7
            )
        }
        "duplicate_old_chunk" => {
            let j = i + 1;
            let old = t.get(d, rec, 8)?;
            t.put(d, at + 16 * j as u64, &old)?;
            format!(
                "exceptions {i} and {j} both map origin chunk {}",
                LE::read_u64(&old)
            )
        }
        _ => {
            t.put(d, rec, &[0u8; 16])?;
            format!("exception {i} of {n} zeroed (a terminator before valid records)")
        }
    };
    let file = t.file(d);
    Ok((
        variant.to_owned(),
        format!("{file}: snapshot {name}, first exception area at {at}: {what}"),
        // lvm2 reads no exception store without activation.
        Lvm2Verdict {
            vg: vg_name,
            verdict: Verdict::Accepts,
            basis: "prediction".into(),
        },
    ))
}

fn mutate_data(t: &mut Target) -> Result<(String, String, Lvm2Verdict, usize)> {
    let mut cands = Vec::new();
    for (v, inst) in t.sys.vgs.iter().enumerate() {
        for li in 0..inst.vg.lvs.len() {
            if inst.vg.lv_visible(li) && inst.vg.roles[li].cow_of.is_none() {
                cands.push((v, li));
            }
        }
    }
    if cands.is_empty() {
        return Err(Error::Refused("mutate: no LV".into()));
    }
    let (v, li) = t.rng.pick(&cands);
    let inst = &t.sys.vgs[v];
    let size = inst.vg.lv_extents(&inst.vg.lvs[li]) * inst.vg.extent_bytes();
    let off = t.rng.range(0, size / 512 - 1) * 512;
    let lvname = format!("{}/{}", inst.vg.name, inst.vg.lvs[li].name);
    let vgname = inst.vg.name.clone();
    let (d, at) = lv_byte(&t.sys, v, li, off).map_or_else(
        || {
            // A striped LV: damage the start of its first stripe instead.
            let s = &inst.vg.lvs[li].segments[0];
            match &s.kind {
                SegmentKind::Striped { stripes, .. } => match stripes.first() {
                    Some(Area::Pv { pv, pe }) => inst.pv_devices[*pv].map(|d| {
                        (
                            d,
                            inst.vg.pvs[*pv].pe_start.0 * 512
                                + u64::from(*pe) * inst.vg.extent_bytes(),
                        )
                    }),
                    _ => None,
                },
                _ => None,
            }
            .ok_or_else(|| Error::Refused("mutate: LV not on a PV".into()))
        },
        Ok,
    )?;
    let mut b = t.get(d, at, 512)?;
    let noise = t.rng.bytes(512);
    for (x, y) in b.iter_mut().zip(noise) {
        *x ^= y | 1;
    }
    t.put(d, at, &b)?;
    let file = t.file(d);
    Ok((
        "sector_flipped".into(),
        format!("{file}: 512 bytes at {at} (data of {lvname}) changed"),
        Lvm2Verdict {
            vg: vgname,
            verdict: Verdict::Accepts,
            basis: "prediction".into(),
        },
        v,
    ))
}

/// The images of manifest `m` in `dir`, scanned under their device names.
pub fn scan_dir(m: &Manifest, dir: &Path) -> Result<System> {
    let mut images = Vec::new();
    for e in &m.images {
        let p = dir.join(&e.file);
        let mut img = Image::open(&p.display().to_string())?;
        img.path = e.device.clone();
        images.push(img);
    }
    Ok(System::scan(images)?)
}

fn possible(sys: &System, k: Kind) -> bool {
    match k {
        Kind::Cow => sys
            .vgs
            .iter()
            .any(|v| v.vg.roles.iter().any(|r| r.cow_of.is_some())),
        _ => !sys.vgs.is_empty(),
    }
}

/// Copies the gen directory `input` to `output` and damages the copy as
/// `o` says; writes and returns the mutant's manifest.
///
/// # Errors
/// I/O; `input` is not a gen directory; the kind asked for has nothing to
/// damage (no snapshot for `cow`).
pub fn mutate(o: &MutateOptions, input: &Path, output: &Path) -> Result<MutantManifest> {
    let src = read_manifest(input)?;
    std::fs::create_dir_all(output)
        .with_context(|| format!("{}: cannot create", output.display()))?;
    if crate::names::same_file(input, output) {
        return Err(Error::Usage(format!(
            "{}: mutate writes a new directory, not its input",
            output.display()
        )));
    }
    for e in &src.images {
        let from = input.join(&e.file);
        let to = output.join(&e.file);
        std::fs::copy(&from, &to)
            .with_context(|| format!("{}: cannot copy to {}", from.display(), to.display()))?;
    }
    let sys = scan_dir(&src, output)?;
    let mut rng = Rng::new(o.seed ^ 0x6d75_7461_7465);
    let kind = match o.kind {
        Some(k) => k,
        None => {
            let ks: Vec<Kind> = KINDS.into_iter().filter(|k| possible(&sys, *k)).collect();
            if ks.is_empty() {
                return Err(Error::Refused("mutate: the images hold no VG".into()));
            }
            rng.pick(&ks)
        }
    };
    let mut t = Target {
        out: output,
        src: &src,
        sys,
        rng,
        changes: Vec::new(),
    };
    let mut data_vg = None;
    let (variant, what, lvm2) = match kind {
        Kind::Text => mutate_text(&mut t)?,
        Kind::Header => mutate_header(&mut t)?,
        Kind::Label => mutate_label(&mut t)?,
        Kind::Ring => mutate_ring(&mut t)?,
        Kind::Cow => mutate_cow(&mut t)?,
        Kind::Data => {
            let (a, b, c, v) = mutate_data(&mut t)?;
            data_vg = Some(v);
            (a, b, c)
        }
    };
    let lvs_after = match data_vg {
        Some(v) => {
            let mut lvs = Vec::new();
            let vg_name = t.sys.vgs[v].vg.name.clone();
            let sys = scan_dir(&src, output)?;
            let before = src.vgs.iter().find(|g| g.name == vg_name);
            for lv in before.map(|g| g.lvs.clone()).unwrap_or_default() {
                let (size, sha256, blocks) = crate::gen::lv_hashes(&sys, &vg_name, &lv.name)?;
                lvs.push(LvEntry {
                    size,
                    sha256,
                    blocks,
                    ..lv
                });
            }
            Some(lvs)
        }
        None => None,
    };
    let mut out_images = Vec::new();
    for e in &src.images {
        let p = output.join(&e.file);
        out_images.push(ImageEntry {
            sha256: file_sha256(&p)?,
            ..e.clone()
        });
    }
    let m = MutantManifest {
        format: crate::gen::FORMAT,
        seed: o.seed,
        source: src.clone(),
        mutation: Mutation {
            kind,
            variant,
            what,
            changes: t.changes,
            lvm2,
        },
        images: out_images,
        lvs_after,
    };
    let json = serde_json::to_string_pretty(&m).map_err(|e| Error::Refused(e.to_string()))?;
    let path = output.join(MANIFEST);
    std::fs::write(&path, json + "\n")
        .with_context(|| format!("{}: cannot write", path.display()))?;
    Ok(m)
}
