//! What the `_rmeta_` sub-LVs of a RAID LV say about its array (the
//! dm-raid superblocks and write-intent bitmaps, decoded by
//! [`lvm_meta::rmeta`]): `lvmsim raid dump VG/LV` prints them, reports take
//! the sync percentage and health from them, and `cat` warns about the
//! byte ranges they mark out of sync.

use crate::error::{bail, Result};
use cow_engine::lv_io::LvReader;
use lvm_meta::io::Image;
use lvm_meta::model::Vg;
use lvm_meta::raid::{RaidLevel, RaidSeg};
use lvm_meta::rmeta::{MirrorLog, Rmeta, RmetaError, MAX_SECTOR};
use lvm_meta::scan::System;
use serde_json::{json, Value};
use std::io::Write;

/// Most bytes read of a metadata LV (the superblock, the bitmap superblock
/// and bits for up to 8 million regions).
const READ_MAX: u64 = 1 << 20;

/// What one image's metadata LV gave.
#[derive(Debug, Clone)]
pub enum MemberState {
    /// The image has no metadata LV (`raid0`, mirrors).
    NoMeta,
    /// A PV under the metadata LV is missing.
    Missing,
    /// The bytes did not decode.
    Bad(RmetaError),
    /// Decoded.
    Read(Box<Rmeta>),
}

/// One image of the array and its metadata.
#[derive(Debug, Clone)]
pub struct Member {
    /// The metadata LV's name, if the image has one.
    pub meta_lv: Option<String>,
    /// What it holds.
    pub state: MemberState,
}

/// The metadata of every image of a RAID LV.
#[derive(Debug, Clone)]
pub struct ArrayMeta {
    /// The RAID LV's segment keys.
    pub seg: RaidSeg,
    /// The LV's size in bytes.
    pub lv_bytes: u64,
    /// Each image's metadata, in image order.
    pub members: Vec<Member>,
    /// A mirror's disk log: its name and what it holds.
    pub log: Option<(String, LogState)>,
}

/// What a mirror's disk log gave.
#[derive(Debug, Clone)]
pub enum LogState {
    /// A PV under it is missing.
    Missing,
    /// The bytes did not decode.
    Bad(RmetaError),
    /// Decoded.
    Read(MirrorLog),
}

/// A byte range of the LV its metadata marks as possibly inconsistent
/// between copies or against parity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutOfSync {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
    /// Why: a bitmap region, or the initial sync not finished.
    pub why: String,
}

/// Reads the first bytes of LV `lv` and decodes them with `decode`: 8 KiB,
/// then up to [`READ_MAX`] if the bits run past them. `Ok(None)` if a PV
/// under the LV is missing.
fn read_decoded<T>(
    vg: &Vg,
    lv: usize,
    pvs: &[Option<&Image>],
    decode: fn(&[u8]) -> std::result::Result<T, RmetaError>,
) -> Result<Option<std::result::Result<T, RmetaError>>> {
    let r = LvReader::new(vg, lv, pvs.to_vec())?;
    let mut got = None;
    for want in [8192, READ_MAX] {
        let mut buf = vec![0u8; r.size().min(want) as usize];
        match r.read_at(0, &mut buf) {
            Ok(()) => {}
            Err(cow_engine::Error::PvMissingAt { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        let d = decode(&buf);
        let short =
            matches!(&d, Err(e) if e.structure == "bitmap" || e.structure == "mirror log bits");
        got = Some(d);
        if !short || buf.len() as u64 == r.size() {
            break;
        }
    }
    Ok(got)
}

impl ArrayMeta {
    /// Reads the metadata LVs of RAID LV `lv` (first segment), or a
    /// mirror's disk log; `None` if the LV is not RAID or mirror at all.
    pub fn read(vg: &Vg, lv: usize, pvs: &[Option<&Image>]) -> Result<Option<ArrayMeta>> {
        let Some(seg) = crate::raid::seg(vg, lv) else {
            return Ok(None);
        };
        let lv_bytes = vg.lv_extents(&vg.lvs[lv]) * vg.extent_bytes();
        let mut members = Vec::new();
        for im in &seg.images {
            let Some(m) = im.meta else {
                members.push(Member {
                    meta_lv: None,
                    state: MemberState::NoMeta,
                });
                continue;
            };
            let state = match read_decoded(vg, m, pvs, Rmeta::decode)? {
                None => MemberState::Missing,
                Some(Ok(x)) => MemberState::Read(Box::new(x)),
                Some(Err(e)) => MemberState::Bad(e),
            };
            members.push(Member {
                meta_lv: Some(vg.lvs[m].name.clone()),
                state,
            });
        }
        let log = match seg.mirror_log {
            None => None,
            Some(l) => Some((
                vg.lvs[l].name.clone(),
                match read_decoded(vg, l, pvs, MirrorLog::decode)? {
                    None => LogState::Missing,
                    Some(Ok(x)) => LogState::Read(x),
                    Some(Err(e)) => LogState::Bad(e),
                },
            )),
        };
        Ok(Some(ArrayMeta {
            seg,
            lv_bytes,
            members,
            log,
        }))
    }

    /// The decoded superblocks, with their image numbers.
    pub fn decoded(&self) -> impl Iterator<Item = (usize, &Rmeta)> {
        self.members
            .iter()
            .enumerate()
            .filter_map(|(i, m)| match &m.state {
                MemberState::Read(r) => Some((i, &**r)),
                _ => None,
            })
    }

    /// The superblock the kernel trusts (dm-raid's freshest): the first
    /// with the highest event count.
    pub fn newest(&self) -> Option<&Rmeta> {
        self.decoded()
            .map(|(_, r)| r)
            .fold(None, |best, r| match best {
                Some(b) if b.sb.events >= r.sb.events => Some(b),
                _ => Some(r),
            })
    }

    /// Data images (not parity, not copies) per stripe row: how far one
    /// sector of an image reaches into the LV.
    fn data_width(&self) -> u64 {
        let n = self.seg.images.len() as u64;
        match self.seg.level {
            RaidLevel::Parity(p) => n - u64::from(p.parity_images()),
            _ => 1,
        }
    }

    /// Maps a range of image sectors (md's resync and bitmap unit; array
    /// sectors for raid10) to LV bytes.
    fn lv_range(&self, start: u64, end: u64) -> (u64, u64) {
        let k = if self.seg.level == RaidLevel::Raid10 {
            1
        } else {
            self.data_width()
        };
        let b = |s: u64| s.saturating_mul(512).saturating_mul(k).min(self.lv_bytes);
        (b(start), b(end))
    }

    /// The LV byte ranges the metadata marks out of sync: regions set in
    /// any image's bitmap, and the part past an unfinished initial sync.
    pub fn out_of_sync(&self) -> Vec<OutOfSync> {
        let mut regions = std::collections::BTreeSet::new();
        let mut per = 0;
        for (_, r) in self.decoded() {
            if let Some(bm) = &r.bitmap {
                per = bm.region_sectors();
                regions.extend(bm.dirty.iter().copied());
            }
        }
        let mut out = Vec::new();
        for r in regions {
            let (start, end) = self.lv_range(r * per, (r + 1) * per);
            if start < end {
                out.push(OutOfSync {
                    start,
                    end,
                    why: format!("write-intent bitmap region {r}"),
                });
            }
        }
        if let Some((name, LogState::Read(l))) = &self.log {
            let per = self.seg.region_size.map_or(0, |z| z.0);
            for &r in &l.out_of_sync {
                let b = |x: u64| x.saturating_mul(per).saturating_mul(512).min(self.lv_bytes);
                let (start, end) = (b(r), b(r + 1));
                if start < end {
                    out.push(OutOfSync {
                        start,
                        end,
                        why: format!("region {r} not in sync in mirror log {name}"),
                    });
                }
            }
        }
        if let Some(n) = self.newest() {
            if !n.sb.resync_done() {
                let (start, end) = self.lv_range(n.sb.array_resync_offset, MAX_SECTOR);
                if start < end {
                    out.push(OutOfSync {
                        start,
                        end,
                        why: format!(
                            "initial sync stopped at sector {}",
                            n.sb.array_resync_offset
                        ),
                    });
                }
            }
        }
        out
    }

    /// The sync percentage lvm2 would show (`dm_make_percent` of the
    /// kernel's ratio): from the newest superblock's resync offset; `None`
    /// without a readable superblock.
    pub fn sync_percent(&self) -> Option<i32> {
        if self.seg.level == RaidLevel::Raid0 {
            return None;
        }
        if let Some((_, LogState::Read(l))) = &self.log {
            let synced = l.regions - l.out_of_sync.len() as u64;
            return Some(crate::active::make_percent(synced, l.regions));
        }
        let n = self.newest()?;
        if n.sb.resync_done() {
            return Some(crate::active::make_percent(1, 1));
        }
        let total = self.lv_bytes / 512 / self.data_width().max(1);
        Some(crate::active::make_percent(
            n.sb.array_resync_offset.min(total),
            total,
        ))
    }
}

fn hex_or_done(v: u64) -> Value {
    if v == MAX_SECTOR {
        json!("max")
    } else {
        json!(v)
    }
}

fn member_json(m: &Member) -> Value {
    let state = match &m.state {
        MemberState::NoMeta => json!({ "state": "no metadata LV" }),
        MemberState::Missing => json!({ "state": "missing" }),
        MemberState::Bad(e) => json!({
            "state": "bad",
            "structure": e.structure,
            "offset": e.offset,
            "problem": e.problem,
        }),
        MemberState::Read(r) => {
            let sb = &r.sb;
            let mut o = json!({
                "state": "read",
                "superblock": {
                    "compat_features": sb.compat_features,
                    "num_devices": sb.num_devices,
                    "array_position": sb.array_position,
                    "events": sb.events,
                    "failed_devices": sb.failed_list(),
                    "disk_recovery_offset": hex_or_done(sb.disk_recovery_offset),
                    "array_resync_offset": hex_or_done(sb.array_resync_offset),
                    "level": sb.level,
                    "layout": sb.layout,
                    "stripe_sectors": sb.stripe_sectors,
                },
            });
            if let Some(v) = &sb.v190 {
                let s = o["superblock"].as_object_mut().expect("an object");
                s.insert("flags".into(), json!(v.flags));
                s.insert("reshape_position".into(), hex_or_done(v.reshape_position));
                s.insert("new_level".into(), json!(v.new_level));
                s.insert("new_layout".into(), json!(v.new_layout));
                s.insert("new_stripe_sectors".into(), json!(v.new_stripe_sectors));
                s.insert("delta_disks".into(), json!(v.delta_disks));
                s.insert("array_sectors".into(), json!(v.array_sectors));
                s.insert("data_offset".into(), json!(v.data_offset));
                s.insert("new_data_offset".into(), json!(v.new_data_offset));
                s.insert("sectors".into(), json!(v.sectors));
                s.insert("incompat_features".into(), json!(v.incompat_features));
            }
            if let Some(bm) = &r.bitmap {
                o["bitmap"] = json!({
                    "version": bm.sb.version,
                    "events": bm.sb.events,
                    "events_cleared": bm.sb.events_cleared,
                    "sync_size": bm.sb.sync_size,
                    "state": bm.sb.state,
                    "chunksize": bm.sb.chunksize,
                    "daemon_sleep": bm.sb.daemon_sleep,
                    "write_behind": bm.sb.write_behind,
                    "sectors_reserved": bm.sb.sectors_reserved,
                    "nodes": bm.sb.nodes,
                    "regions": bm.regions,
                    "dirty_regions": bm.dirty,
                });
            }
            o
        }
    };
    let mut o = state;
    o["meta_lv"] = json!(m.meta_lv);
    o
}

/// `lvmsim raid dump VG/LV [--json]`: the dm-raid superblock and bitmap
/// of each image's metadata LV, field by field, and the ranges out of
/// sync.
pub fn dump(sys: &System, arg: &str, as_json: bool, out: &mut dyn Write) -> Result<()> {
    let (vgn, lvn) = crate::names::vg_lv(arg)?;
    let vi = sys.vg_or_err(&vgn)?;
    let li = vi.vg.lv_index_or_err(&lvn)?;
    let pvs = sys.pv_images(vi);
    let Some(a) = ArrayMeta::read(&vi.vg, li, &pvs)? else {
        bail!("{vgn}/{lvn} is not a RAID or mirror LV");
    };
    let oos = a.out_of_sync();
    if as_json {
        let v = json!({
            "lv": format!("{vgn}/{lvn}"),
            "segtype": a.seg.type_name,
            "images": a.members.iter().map(member_json).collect::<Vec<_>>(),
            "mirror_log": a.log.as_ref().map(|(name, l)| match l {
                LogState::Missing => json!({ "lv": name, "state": "missing" }),
                LogState::Bad(e) => json!({
                    "lv": name,
                    "state": "bad",
                    "structure": e.structure,
                    "offset": e.offset,
                    "problem": e.problem,
                }),
                LogState::Read(l) => json!({
                    "lv": name,
                    "state": "read",
                    "version": l.version,
                    "regions": l.regions,
                    "out_of_sync_regions": l.out_of_sync,
                }),
            }),
            "out_of_sync": oos.iter().map(|o| json!({
                "start": o.start, "end": o.end, "why": o.why,
            })).collect::<Vec<_>>(),
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(());
    }
    writeln!(out, "{vgn}/{lvn}: {}", a.seg.type_name)?;
    let sec = |v: u64| {
        if v == MAX_SECTOR {
            "max (done)".to_owned()
        } else {
            v.to_string()
        }
    };
    for (i, m) in a.members.iter().enumerate() {
        let name = m.meta_lv.as_deref().unwrap_or("-");
        match &m.state {
            MemberState::NoMeta => writeln!(out, "image {i}: no metadata LV")?,
            MemberState::Missing => writeln!(out, "image {i}: {name}: missing")?,
            MemberState::Bad(e) => writeln!(out, "image {i}: {name}: {e}")?,
            MemberState::Read(r) => {
                let sb = &r.sb;
                writeln!(out, "image {i}: {name}")?;
                writeln!(out, "  dm-raid superblock at 0")?;
                writeln!(
                    out,
                    "    magic DmRd, compat_features {:#x}",
                    sb.compat_features
                )?;
                writeln!(
                    out,
                    "    num_devices {}, array_position {}, events {}",
                    sb.num_devices, sb.array_position, sb.events
                )?;
                let failed = sb.failed_list();
                writeln!(
                    out,
                    "    failed_devices {}",
                    if failed.is_empty() {
                        "none".to_owned()
                    } else {
                        failed
                            .iter()
                            .map(u32::to_string)
                            .collect::<Vec<_>>()
                            .join(",")
                    }
                )?;
                writeln!(
                    out,
                    "    disk_recovery_offset {}, array_resync_offset {}",
                    sec(sb.disk_recovery_offset),
                    sec(sb.array_resync_offset)
                )?;
                writeln!(
                    out,
                    "    level {}, layout {:#x}, stripe_sectors {}",
                    sb.level, sb.layout, sb.stripe_sectors
                )?;
                if let Some(v) = &sb.v190 {
                    writeln!(
                        out,
                        "    flags {:#x}, reshape_position {}",
                        v.flags,
                        sec(v.reshape_position)
                    )?;
                    writeln!(
                        out,
                        "    new_level {}, new_layout {:#x}, new_stripe_sectors {}, delta_disks {}",
                        v.new_level, v.new_layout, v.new_stripe_sectors, v.delta_disks
                    )?;
                    writeln!(
                        out,
                        "    array_sectors {}, sectors {}, data_offset {}, new_data_offset {}",
                        v.array_sectors, v.sectors, v.data_offset, v.new_data_offset
                    )?;
                    writeln!(out, "    incompat_features {:#x}", v.incompat_features)?;
                }
                match &r.bitmap {
                    None => writeln!(out, "  no bitmap")?,
                    Some(bm) => {
                        writeln!(
                            out,
                            "  bitmap superblock at {}",
                            lvm_meta::rmeta::BITMAP_OFFSET
                        )?;
                        writeln!(
                            out,
                            "    version {}, events {}, events_cleared {}, state {:#x}",
                            bm.sb.version, bm.sb.events, bm.sb.events_cleared, bm.sb.state
                        )?;
                        writeln!(
                            out,
                            "    sync_size {}, chunksize {}, daemon_sleep {}, write_behind {}",
                            bm.sb.sync_size,
                            bm.sb.chunksize,
                            bm.sb.daemon_sleep,
                            bm.sb.write_behind
                        )?;
                        writeln!(
                            out,
                            "    regions {}, dirty {}",
                            bm.regions,
                            if bm.dirty.is_empty() {
                                "none".to_owned()
                            } else {
                                bm.dirty
                                    .iter()
                                    .map(u64::to_string)
                                    .collect::<Vec<_>>()
                                    .join(",")
                            }
                        )?;
                    }
                }
            }
        }
    }
    match &a.log {
        None => {}
        Some((name, LogState::Missing)) => writeln!(out, "mirror log {name}: missing")?,
        Some((name, LogState::Bad(e))) => writeln!(out, "mirror log {name}: {e}")?,
        Some((name, LogState::Read(l))) => writeln!(
            out,
            "mirror log {name}: version {}, regions {}, out of sync {}",
            l.version,
            l.regions,
            l.out_of_sync.len()
        )?,
    }
    if a.seg.level == RaidLevel::Raid0 {
        writeln!(out, "no redundancy: nothing to keep in sync")?;
    } else if a.seg.level == RaidLevel::Mirror && a.log.is_none() {
        writeln!(out, "core log: the images keep no sync state")?;
    } else if oos.is_empty() {
        writeln!(out, "in sync")?;
    }
    for o in &oos {
        writeln!(
            out,
            "out of sync: bytes {}-{} ({})",
            o.start,
            o.end - 1,
            o.why
        )?;
    }
    Ok(())
}

/// The warnings `cat VG/LV` prints for bytes `offset..end` of a RAID or
/// mirror LV: one per range its metadata marks out of sync that the read
/// overlaps (the bytes read there may differ from what another copy or the
/// parity holds). Nothing for other LVs, or a name `cat` will refuse.
pub fn cat_warnings(sys: &System, arg: &str, offset: u64, length: Option<u64>) -> Vec<String> {
    let Ok((vgn, lvn)) = crate::names::vg_lv(arg) else {
        return Vec::new();
    };
    let Some(vi) = sys.vg(&vgn) else {
        return Vec::new();
    };
    let Some(li) = vi.vg.lv_index(&lvn) else {
        return Vec::new();
    };
    let pvs = sys.pv_images(vi);
    let Ok(Some(a)) = ArrayMeta::read(&vi.vg, li, &pvs) else {
        return Vec::new();
    };
    let end = length.map_or(u64::MAX, |l| offset.saturating_add(l));
    a.out_of_sync()
        .iter()
        .filter(|o| o.start < end && o.end > offset)
        .map(|o| {
            format!(
                "WARNING: {vgn}/{lvn}: bytes {}-{} may be out of sync ({}): the copies or parity there may disagree.",
                o.start,
                o.end - 1,
                o.why
            )
        })
        .collect()
}

/// The sub-LVs lvm2 activates under RAID or mirror segment `seg`, in the
/// order it creates their devices (so their minor numbers): a mirror's
/// disk log first, then each image's metadata LV and data LV.
pub fn dm_sub_lvs(seg: &RaidSeg) -> Vec<usize> {
    let mut out: Vec<usize> = seg.mirror_log.into_iter().collect();
    for im in &seg.images {
        out.extend(im.meta);
        out.push(im.data);
    }
    out
}

/// The target and its arguments in the table line of a RAID or mirror LV
/// (what follows `START LEN `), `dev` naming a sub-LV's `MAJ:MIN`:
/// `raid TYPE #PARAMS CHUNK [region_size R] [raid10_copies N] #DEVS META
/// DATA...` (`-` for no metadata LV; raid0_meta loads as `raid0`), or
/// `mirror core 1 R` / `mirror disk 2 LOG R`, `#LEGS DEV OFFSET...`, `1
/// handle_errors`. `None` for keys this line does not carry (write-behind,
/// recovery rates, reshape space), which lvmsim does not print.
pub fn dm_table_target(vg: &Vg, seg: &RaidSeg, dev: &dyn Fn(usize) -> String) -> Option<String> {
    if seg.writebehind.is_some()
        || seg.min_recovery_rate.is_some()
        || seg.max_recovery_rate.is_some()
        || seg.data_offset.is_some_and(|d| d.0 != 0)
        || !seg.flags.is_empty()
    {
        return None;
    }
    let region = seg.region_size.map(|r| r.0);
    if seg.level == RaidLevel::Mirror {
        let log = match seg.mirror_log {
            Some(l) => format!("disk 2 {} {}", dev(l), region?),
            None => format!("core 1 {}", region?),
        };
        let legs: Vec<String> = seg
            .images
            .iter()
            .map(|im| format!("{} {}", dev(im.data), u64::from(im.le) * vg.extent_size.0))
            .collect();
        return Some(format!(
            "mirror {log} {} {} 1 handle_errors",
            legs.len(),
            legs.join(" ")
        ));
    }
    let ty = if seg.type_name == "raid0_meta" {
        "raid0"
    } else {
        seg.type_name.as_str()
    };
    let mut params = vec![seg.stripe_size.map_or(0, |s| s.0).to_string()];
    if seg.level != RaidLevel::Raid0 {
        params.push("region_size".into());
        params.push(region?.to_string());
    }
    if seg.level == RaidLevel::Raid10 {
        params.push("raid10_copies".into());
        params.push(seg.data_copies.unwrap_or(2).to_string());
    }
    let devs: Vec<String> = seg
        .images
        .iter()
        .map(|im| format!("{} {}", im.meta.map_or("-".to_owned(), dev), dev(im.data)))
        .collect();
    Some(format!(
        "raid {ty} {} {} {} {}",
        params.len(),
        params.join(" "),
        devs.len(),
        devs.join(" ")
    ))
}

/// The status of RAID or mirror LV `lv` (what follows `START LEN `) as
/// the kernel reports it once activated from the images, `dev` naming a
/// sub-LV's device (`MAJ:MIN`).
///
/// RAID: `raid TYPE #DEVS HEALTH SYNCED/TOTAL ACTION 0 DATA_OFFSET -`, an
/// image `D` if its PV is missing or the superblock says it failed, else
/// `A`; the sync ratio and action (`idle`, or `resync` from where the
/// initial sync stopped) from the freshest superblock.
///
/// Mirror: `mirror #LEGS LEG... IN_SYNC/REGIONS 1 HEALTH LOG` (see
/// `mirror_status`). `None` when no superblock can be read
/// or a device number is unknown.
pub fn dm_status_target(
    vg: &Vg,
    lv: usize,
    pvs: &[Option<&Image>],
    missing: &dyn Fn(usize) -> bool,
    dev: &dyn Fn(usize) -> Option<String>,
) -> Option<String> {
    let a = ArrayMeta::read(vg, lv, pvs).ok()??;
    if a.seg.level == RaidLevel::Mirror {
        return mirror_status(vg, &a, missing, dev);
    }
    let ty = if a.seg.type_name == "raid0_meta" {
        "raid0"
    } else {
        a.seg.type_name.as_str()
    };
    let newest = a.newest();
    let health: String = a
        .seg
        .images
        .iter()
        .enumerate()
        .map(|(k, im)| {
            let gone = crate::raid::uses_missing(vg, im.data, missing)
                || im
                    .meta
                    .is_some_and(|m| crate::raid::uses_missing(vg, m, missing))
                || newest.is_some_and(|n| n.sb.failed(k as u32));
            if gone {
                'D'
            } else {
                'A'
            }
        })
        .collect();
    // md's resync range: the array for raid10, an image otherwise.
    let es = vg.extent_size.0;
    let total = if a.seg.level == RaidLevel::Raid10 {
        a.lv_bytes / 512
    } else {
        vg.lv_extents(&vg.lvs[a.seg.images[0].data]) * es
    };
    let (synced, action) = match newest {
        Some(n) if !n.sb.resync_done() => (n.sb.array_resync_offset.min(total), "resync"),
        Some(_) => (total, "idle"),
        // raid0 without metadata LVs: nothing to sync.
        None if a.seg.level == RaidLevel::Raid0 => (total, "idle"),
        None => return None,
    };
    let data_offset = newest
        .and_then(|n| n.sb.v190.as_ref())
        .map_or(0, |v| v.data_offset);
    Some(format!(
        "raid {ty} {} {health} {synced}/{total} {action} 0 {data_offset} -",
        a.seg.images.len()
    ))
}

/// The status of a mirror LV as a fresh activation of the images leaves
/// it: `mirror #LEGS LEG... IN_SYNC/REGIONS 1 HEALTH LOG`, `LOG` being
/// `1 core` or `3 disk LOGDEV A|D`.
///
/// - Regions: the LV's sectors over the region size, rounded up.
/// - A disk log's regions in sync are the bits it holds set. A core log
///   keeps nothing: the kernel resyncs every region at activation, which
///   ends with all of them in sync; with a leg missing that resync fails
///   at once, leaving none in sync and the leg marked `S` (sync error).
/// - A leg is otherwise `A`: the kernel marks a read (`R`) or write (`D`)
///   error only when I/O reaches the leg, which a fresh activation has
///   not done.
/// - A disk log is `D` when it cannot be read (the kernel reads it at
///   activation), else `A`.
fn mirror_status(
    vg: &Vg,
    a: &ArrayMeta,
    missing: &dyn Fn(usize) -> bool,
    dev: &dyn Fn(usize) -> Option<String>,
) -> Option<String> {
    let region = a.seg.region_size?.0;
    if region == 0 {
        return None;
    }
    let regions = (a.lv_bytes / 512).div_ceil(region);
    let gone: Vec<bool> = a
        .seg
        .images
        .iter()
        .map(|im| crate::raid::uses_missing(vg, im.data, missing))
        .collect();
    let legs = a
        .seg
        .images
        .iter()
        .map(|im| dev(im.data))
        .collect::<Option<Vec<String>>>()?;
    let (in_sync, health, log) = match (&a.log, a.seg.mirror_log) {
        (None, _) | (_, None) => {
            let failed = gone.iter().any(|g| *g);
            let health: String = gone.iter().map(|g| if *g { 'S' } else { 'A' }).collect();
            (
                if failed { 0 } else { regions },
                health,
                "1 core".to_owned(),
            )
        }
        (Some((_, state)), Some(l)) => {
            let (in_sync, log_ok) = match state {
                LogState::Read(m) => (
                    regions.saturating_sub(
                        m.out_of_sync.iter().filter(|r| **r < regions).count() as u64
                    ),
                    true,
                ),
                LogState::Missing | LogState::Bad(_) => (0, false),
            };
            let health: String = gone.iter().map(|_| 'A').collect();
            let log = format!("3 disk {} {}", dev(l)?, if log_ok { 'A' } else { 'D' });
            (in_sync, health, log)
        }
    };
    Some(format!(
        "mirror {} {} {in_sync}/{regions} 1 {health} {log}",
        legs.len(),
        legs.join(" ")
    ))
}
