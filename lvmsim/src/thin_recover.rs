//! `lvmsim recover` for thin LVs: every thin LV a metadata copy knew whose
//! device the pool no longer has (its id gone from the device-details tree,
//! or given to another LV since), and what of its mappings survives on the
//! pool's metadata LV ([`dm_pdata::thin::recover`]): in the held root, or in
//! btree nodes still intact (a guess, said so). `--export` writes the
//! device as an image: mapped blocks from the pool's data LV as it is now,
//! unmapped ones as zeros, with a report of which byte ranges can be
//! trusted.

use crate::error::{refused, Error, Result};
use crate::thin::{pool_seg, thin_seg, Pool};
use dm_pdata::thin::recover::{self as trec, Recovered, RootSource};
use lvm_meta::history::History;
use lvm_meta::scan::System;
use serde_json::json;
use std::collections::BTreeSet;
use std::io::Write;

/// A thin LV of some metadata copy that the pool no longer has.
#[derive(Debug, Clone)]
pub struct RemovedThin {
    /// VG name in the last copy that held the LV.
    pub vg: String,
    /// The LV's name.
    pub name: String,
    /// The LV's UUID.
    pub id: String,
    /// The pool's name.
    pub pool: String,
    /// Thin device id in the pool.
    pub device_id: u64,
    /// Size in bytes.
    pub size: u64,
    /// Thin origin, for a thin snapshot.
    pub origin: Option<String>,
    /// First and last seqno of the copies that held it.
    pub seqnos: (u32, u32),
    /// Device-id sets of the pool in the copies that held it.
    eras: Vec<BTreeSet<u64>>,
    /// The LV that has the same device id now, if any.
    pub id_now_used_by: Option<String>,
    /// Every candidate root, best first.
    pub found: Vec<Recovered>,
    /// Why nothing could be looked for (pool unreadable...).
    pub error: Option<String>,
}

impl RemovedThin {
    /// `recoverable` (the best root is complete), `partly` (some trustworthy
    /// mappings), `lost` (none).
    pub fn verdict(&self) -> &'static str {
        match self.found.first() {
            Some(r) if r.complete() && !r.mappings.is_empty() => "recoverable",
            Some(r) if r.mappings.iter().any(|m| m.trustworthy) => "partly",
            _ => "lost",
        }
    }
}

/// The device-id set of pool `pool` (by name) in `vg`.
fn pool_ids(vg: &lvm_meta::model::Vg, pool: &str) -> BTreeSet<u64> {
    (0..vg.lvs.len())
        .filter_map(|i| thin_seg(vg, i).filter(|t| vg.lvs[t.pool].name == pool))
        .map(|t| t.device_id)
        .collect()
}

/// Every removed thin LV of the history, with what survives of it.
pub fn survey(sys: &System, h: &History) -> Vec<RemovedThin> {
    let mut out: Vec<RemovedThin> = Vec::new();
    for c in &h.copies {
        let Ok(vg) = &c.vg else { continue };
        for (li, l) in vg.lvs.iter().enumerate() {
            let Some(t) = thin_seg(vg, li) else { continue };
            let pool = vg.lvs[t.pool].name.clone();
            let era = pool_ids(vg, &pool);
            let origin = t.origin.map(|o| vg.lvs[o].name.clone());
            let size = vg.lv_extents(l).saturating_mul(vg.extent_bytes());
            match out.iter_mut().find(|r| r.id == l.id) {
                Some(r) => {
                    r.seqnos.0 = r.seqnos.0.min(c.seqno);
                    if c.seqno >= r.seqnos.1 {
                        r.seqnos.1 = c.seqno;
                        (r.vg, r.name, r.pool, r.device_id, r.size, r.origin) = (
                            vg.name.clone(),
                            l.name.clone(),
                            pool,
                            t.device_id,
                            size,
                            origin,
                        );
                    }
                    if !r.eras.contains(&era) {
                        r.eras.push(era);
                    }
                }
                None => out.push(RemovedThin {
                    vg: vg.name.clone(),
                    name: l.name.clone(),
                    id: l.id.clone(),
                    pool,
                    device_id: t.device_id,
                    size,
                    origin,
                    seqnos: (c.seqno, c.seqno),
                    eras: vec![era],
                    id_now_used_by: None,
                    found: Vec::new(),
                    error: None,
                }),
            }
        }
    }
    // Keep the ones whose pool is on the images and no longer has them.
    out.retain_mut(|r| {
        let Some(vi) = sys.vgs.iter().find(|v| v.vg.name == r.vg) else {
            return false;
        };
        let vg = &vi.vg;
        let Some(pi) = vg.lv_index(&r.pool).filter(|&p| pool_seg(vg, p).is_some()) else {
            return false;
        };
        let pvs = sys.pv_images(vi);
        let pool = match Pool::open(vg, pi, &pvs) {
            Ok(p) => p,
            Err(e) => {
                r.error = Some(e.to_string());
                return !vg.lvs.iter().any(|l| l.id == r.id);
            }
        };
        let holder = (0..vg.lvs.len())
            .find(|&i| thin_seg(vg, i).is_some_and(|t| t.pool == pi && t.device_id == r.device_id));
        let still = holder.is_some_and(|i| vg.lvs[i].id == r.id)
            && pool.meta.details.contains_key(&r.device_id);
        if still {
            return false;
        }
        r.id_now_used_by = holder.map(|i| vg.lvs[i].name.clone());
        look(&pool, r);
        true
    });
    out
}

/// Walks every candidate root of `r`'s device on `pool`'s metadata and
/// ranks them: the held root first, then scanned roots whose top-level
/// leaf holds exactly the device ids of a copy where the LV lived (so not
/// a root of a later LV given the same id), then the rest.
fn look(pool: &Pool<'_>, r: &mut RemovedThin) {
    let dev = pool.dev();
    let maps = match trec::LiveMaps::load(dev, &pool.meta.superblock) {
        Ok(m) => m,
        Err(e) => {
            r.error = Some(e.to_string());
            return;
        }
    };
    let scan = trec::scan(dev, &pool.meta);
    let mut found = trec::recover(dev, &pool.meta, &maps, &scan, r.device_id);
    let era_of = |rec: &Recovered| -> u8 {
        match rec.candidate.source {
            RootSource::Held { .. } => 0,
            RootSource::Scanned { leaf } => {
                let keys = leaf_keys(dev, leaf);
                if r.eras.contains(&keys) {
                    1
                } else {
                    2
                }
            }
        }
    };
    // A stable sort keeps recover's order within each rank.
    found.sort_by_key(|x| era_of(x));
    r.found = found;
}

fn leaf_keys<R: lvm_meta::io::ReadAt>(
    dev: &dm_pdata::pdata::block::MetadataDev<R>,
    leaf: u64,
) -> BTreeSet<u64> {
    dm_pdata::pdata::btree::read_node(dev, leaf, 8)
        .map(|n| n.keys.into_iter().collect())
        .unwrap_or_default()
}

fn source_words(s: RootSource) -> String {
    match s {
        RootSource::Held { superblock } => {
            format!("the held root (metadata snapshot at block {superblock})")
        }
        RootSource::Scanned { leaf } => {
            format!("an old top-level mapping leaf at block {leaf}, found by scanning (a guess)")
        }
    }
}

fn counts(r: &Recovered) -> (usize, usize) {
    let good = r.mappings.iter().filter(|m| m.trustworthy).count();
    (good, r.mappings.len() - good)
}

/// The text `recover` prints for `r`.
pub fn write_text(r: &RemovedThin, out: &mut dyn Write) -> Result<()> {
    write!(
        out,
        "{}/{}  removed  thin device {} of pool {}, {}k, seqno {}-{}",
        r.vg,
        r.name,
        r.device_id,
        r.pool,
        r.size / 1024,
        r.seqnos.0,
        r.seqnos.1
    )?;
    if let Some(o) = &r.origin {
        write!(out, ", thin snapshot of {o}")?;
    }
    writeln!(out)?;
    if let Some(u) = &r.id_now_used_by {
        writeln!(out, "  device id {} is now {u}'s", r.device_id)?;
    }
    if let Some(e) = &r.error {
        writeln!(out, "  pool metadata unreadable: {e}")?;
    }
    if r.found.is_empty() && r.error.is_none() {
        writeln!(
            out,
            "  no root: neither the held root nor any intact btree node names its mappings"
        )?;
    }
    for (i, f) in r.found.iter().enumerate() {
        let (good, bad) = counts(f);
        writeln!(
            out,
            "  {} root at block {} from {}: {} mappings ({good} trustworthy, {bad} on data blocks in use now: reallocated since), {} nodes read, {} refused",
            if i == 0 { "best" } else { "other" },
            f.candidate.root,
            source_words(f.candidate.source),
            f.mappings.len(),
            f.nodes.len(),
            f.refused.len()
        )?;
        if i == 0 {
            for x in &f.refused {
                writeln!(
                    out,
                    "    refused node {} (virtual blocks {}..{}): {}",
                    x.block,
                    x.from_virt,
                    if x.to_virt == u64::MAX {
                        "end".to_owned()
                    } else {
                        x.to_virt.to_string()
                    },
                    x.reason
                )?;
            }
        }
    }
    writeln!(out, "  verdict: {}", r.verdict())?;
    Ok(())
}

/// The JSON `recover --json` gives for `r` (under `thin`).
pub fn to_json(r: &RemovedThin) -> serde_json::Value {
    json!({
        "vg": r.vg,
        "lv": r.name,
        "id": r.id,
        "pool": r.pool,
        "device_id": r.device_id,
        "size": r.size,
        "origin": r.origin,
        "first_seqno": r.seqnos.0,
        "last_seqno": r.seqnos.1,
        "device_id_now_used_by": r.id_now_used_by,
        "error": r.error,
        "verdict": r.verdict(),
        "roots": r.found.iter().map(|f| {
            let (good, bad) = counts(f);
            json!({
                "root": f.candidate.root,
                "source": match f.candidate.source {
                    RootSource::Held { .. } => "held",
                    RootSource::Scanned { .. } => "scanned",
                },
                "guess": f.candidate.source.is_guess(),
                "found_at": match f.candidate.source {
                    RootSource::Held { superblock } => superblock,
                    RootSource::Scanned { leaf } => leaf,
                },
                "mapped_blocks": f.candidate.details.map(|d| d.mapped_blocks),
                "mappings": f.mappings.len(),
                "trustworthy_mappings": good,
                "reallocated_mappings": bad,
                "nodes": f.nodes,
                "refused": f.refused.iter().map(|x| json!({
                    "block": x.block, "from_virt": x.from_virt,
                    "to_virt": if x.to_virt == u64::MAX { None } else { Some(x.to_virt) },
                    "reason": x.reason,
                })).collect::<Vec<_>>(),
            })
        }).collect::<Vec<_>>(),
    })
}

/// One run of a thin export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThinRun {
    /// First byte.
    pub start: u64,
    /// Length in bytes.
    pub len: u64,
    /// `mapped`, `unmapped`, `reallocated` or `unknown`.
    pub kind: &'static str,
}

impl ThinRun {
    /// True if the bytes are the device's: mapped blocks kept, and
    /// unmapped ones (zeros, as the kernel reads them).
    pub fn trustworthy(&self) -> bool {
        matches!(self.kind, "mapped" | "unmapped")
    }
}

/// Writes the best root of `r` as an image to `w`: mapped blocks from the
/// pool's data LV, unmapped blocks as zeros; blocks under a refused node
/// as zeros (`unknown`), blocks on data in use now as they are now
/// (`reallocated`). Returns the runs.
pub fn export(sys: &System, r: &RemovedThin, w: &mut dyn Write) -> Result<Vec<ThinRun>> {
    let best = r
        .found
        .first()
        .ok_or_else(|| refused!("{}/{}: no root of its mappings survives", r.vg, r.name))?;
    let vi = sys.vg_or_err(&r.vg)?;
    let vg = &vi.vg;
    let pi = vg.lv_index_or_err(&r.pool)?;
    let seg = pool_seg(vg, pi).ok_or_else(|| refused!("{}/{} is not a thin pool", r.vg, r.pool))?;
    let pvs = sys.pv_images(vi);
    let data = cow_engine::lv_io::LvReader::new(vg, seg.data, pvs)?;
    let bs = seg.chunk_size.saturating_mul(512);
    if bs == 0 {
        return Err(Error::Refused("a pool of 0-sector blocks".into()));
    }
    let mut runs: Vec<ThinRun> = Vec::new();
    let mut push = |start: u64, len: u64, kind: &'static str| match runs.last_mut() {
        Some(l) if l.kind == kind && l.start + l.len == start => l.len += len,
        _ => runs.push(ThinRun { start, len, kind }),
    };
    let nblocks = r.size.div_ceil(bs);
    let mut buf = vec![0u8; usize::try_from(bs).unwrap_or(usize::MAX)];
    let mut mi = 0;
    for vb in 0..nblocks {
        let start = vb * bs;
        let len = bs.min(r.size - start);
        let n = usize::try_from(len).unwrap_or(usize::MAX);
        while mi < best.mappings.len() && best.mappings[mi].mapping.virt < vb {
            mi += 1;
        }
        let m = best.mappings.get(mi).filter(|m| m.mapping.virt == vb);
        let kind = match m {
            Some(m) => {
                data.read_at(m.mapping.value.block * bs, &mut buf[..n])?;
                if m.trustworthy {
                    "mapped"
                } else {
                    "reallocated"
                }
            }
            None => {
                buf[..n].fill(0);
                if best
                    .refused
                    .iter()
                    .any(|x| vb >= x.from_virt && vb < x.to_virt)
                {
                    "unknown"
                } else {
                    "unmapped"
                }
            }
        };
        w.write_all(&buf[..n])?;
        push(start, len, kind);
    }
    Ok(runs)
}

/// Finds removed thin LV `VG/NAME` in `list`.
pub fn find<'a>(list: &'a [RemovedThin], vg: &str, name: &str) -> Option<&'a RemovedThin> {
    list.iter().find(|r| r.vg == vg && r.name == name)
}
