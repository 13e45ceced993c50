//! Thin LVs created and removed as lvm2 and the kernel do it together
//! (`lib/metadata/thin_manip.c`, `lv_manip.c`, `pool_manip.c`; the pool
//! messages of `dm-thin.c`):
//!
//! 1. lvm2 writes the VG metadata with the change made, the pool's
//!    `transaction_id` one higher and the pool message queued in the pool
//!    segment (`message1 { create = "LV" }` or `message1 { delete = ID }`);
//! 2. activating the pool sends the message (`create_thin ID`,
//!    `create_snap ID ORIGIN_ID` or `delete ID`) and `set_transaction_id
//!    OLD NEW`; the kernel commits the pool metadata;
//! 3. lvm2 writes the VG metadata again without the message
//!    (`Write[2] from ...`).
//!
//! A crash between the steps leaves what lvm2 itself would find: a queued
//! message with a pool one transaction behind (lvm2 sends it at the next
//! activation), or a pool already at the new transaction (lvm2 then skips
//! the message).

use crate::error::{bail, refused, Error, Result};
use crate::ids::Ids;
use crate::size::display_size;
use crate::thin::{pool_seg, thin_seg, thins_of, Pool};
use crate::write::{commit_vg, openable_rw, rescan, Writer};
use dm_pdata::thin::write::ThinTx;
use lvm_meta::model::{Segment, SegmentKind, Vg};
use lvm_meta::scan::System;
use lvm_meta::text::{Node, Value};
use std::io::Write;

/// The segment types this module changes; any other unknown type makes
/// the VG one lvmsim does not change.
const THIN_TYPES: [&str; 2] = ["thin", "thin-pool"];

/// The VG `vgname`, if lvm2 would change it and its images can be opened
/// for writing; thin and thin-pool segments are allowed.
pub(crate) fn thin_writable<'a>(
    sys: &'a System,
    vgname: &str,
) -> Result<&'a lvm_meta::scan::VgInstance> {
    let inst = crate::write::changeable_with(sys, vgname, |t| THIN_TYPES.contains(&t))?;
    openable_rw(sys, inst.pv_devices.iter().flatten().copied())?;
    Ok(inst)
}

fn pool_nodes(vg: &mut Vg, pool: usize) -> Result<&mut Vec<Node>> {
    let name = vg.lvs[pool].name.clone();
    match vg.lvs[pool].segments.first_mut().map(|s| &mut s.kind) {
        Some(SegmentKind::Unknown { nodes }) => Ok(nodes),
        _ => bail!("{name} is not a thin pool."),
    }
}

fn set_int(nodes: &mut [Node], key: &str, v: u64) {
    for n in nodes.iter_mut() {
        if let Node::Setting { key: k, value } = n {
            if k == key {
                *value = Value::Int(i64::try_from(v).unwrap_or(i64::MAX));
            }
        }
    }
}

/// Queues `message` in the pool segment (as `messageN`, after any
/// already queued) and bumps its `transaction_id`; returns the old one.
fn queue_message(vg: &mut Vg, pool: usize, message: Node) -> Result<u64> {
    let seg = pool_seg(vg, pool).ok_or_else(|| refused!("not a thin pool"))?;
    let nodes = pool_nodes(vg, pool)?;
    // Messages still queued were sent by `settle` before this change.
    nodes.retain(|n| !n.key().starts_with("message"));
    set_int(
        nodes,
        "transaction_id",
        seg.transaction_id.saturating_add(1),
    );
    nodes.push(Node::Section {
        key: "message1".into(),
        children: vec![message],
    });
    Ok(seg.transaction_id)
}

fn clear_messages(vg: &mut Vg, pool: usize) -> Result<()> {
    pool_nodes(vg, pool)?.retain(|n| !n.key().starts_with("message"));
    Ok(())
}

/// What the pool is asked to do.
enum Message {
    Create(u64),
    Snap(u64, u64),
    Delete(u64),
}

/// Sends `msgs` and `set_transaction_id OLD OLD+1` to pool `pool` of VG
/// `vgname` as it is on the images of `sys`, and commits the pool
/// metadata. A pool already at OLD+1 took them before: nothing is sent.
fn send(
    sys: &System,
    vgname: &str,
    pool: usize,
    msgs: &[Message],
    old: u64,
    hooks: &crate::context::WriteHooks,
) -> Result<()> {
    let inst = sys.vg_or_err(vgname)?;
    let vg = &inst.vg;
    let pvs = sys.pv_images(inst);
    let p = Pool::open(vg, pool, &pvs)?;
    let name = format!("{vgname}/{}", vg.lvs[pool].name);
    let perr = |e| Error::ThinMetadata {
        pool: name.clone(),
        source: e,
    };
    let mut tx = ThinTx::open(p.dev()).map_err(perr)?;
    let now = tx.superblock().trans_id;
    let new = old.saturating_add(1);
    if now == new {
        return Ok(());
    }
    if now != old {
        bail!(
            "Thin pool {vgname}-{}-tpool transaction_id is {now}, while expected {new}.",
            vg.lvs[pool].name
        );
    }
    for msg in msgs {
        match *msg {
            Message::Create(id) => tx.create_thin(id),
            Message::Snap(id, origin) => tx.create_snap(id, origin),
            Message::Delete(id) => tx.delete(id),
        }
        .map_err(perr)?;
    }
    tx.set_transaction_id(old, new).map_err(perr)?;
    let mut images = crate::write::open_rw(sys, inst, hooks)?;
    crate::thin::commit_pool(vg, &p, tx, &mut images)
}

/// The messages queued in pool `pool`'s segment, in order, as the pool
/// messages lvm2 sends for them (`_thin_pool_add_target_line`): a created
/// thin LV with a thin origin is a `create_snap`.
fn queued(vg: &Vg, pool: usize) -> Result<Vec<Message>> {
    let Some(SegmentKind::Unknown { nodes }) = vg.lvs[pool].segments.first().map(|s| &s.kind)
    else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for n in nodes {
        let Node::Section { key, children } = n else {
            continue;
        };
        if !key.starts_with("message") {
            continue;
        }
        for c in children {
            match c {
                Node::Setting {
                    key,
                    value: Value::Str(lv),
                } if key == "create" => {
                    let li = vg
                        .lv_index(lv)
                        .ok_or_else(|| refused!("queued pool message: no LV {lv}"))?;
                    let t = thin_seg(vg, li)
                        .ok_or_else(|| refused!("queued pool message: {lv} is not a thin LV"))?;
                    let origin = t.origin.and_then(|o| thin_seg(vg, o)).map(|o| o.device_id);
                    out.push(match origin {
                        Some(o) => Message::Snap(t.device_id, o),
                        None => Message::Create(t.device_id),
                    });
                }
                Node::Setting {
                    key,
                    value: Value::Int(id),
                } if key == "delete" => out.push(Message::Delete(
                    u64::try_from(*id).map_err(|_| refused!("queued pool message: delete {id}"))?,
                )),
                other => bail!("lvmsim does not send the queued pool message {other:?}"),
            }
        }
    }
    Ok(out)
}

/// Sends the messages still queued in pool `pool`'s segment (a command
/// cut between its two VG writes left them), as lvm2's next activation of
/// the pool does; a pool that already took them is left as it is. The VG
/// metadata keeps them until lvm2 (or lvmsim) next writes the pool.
pub fn settle(
    sys: &System,
    vgname: &str,
    pool: usize,
    hooks: &crate::context::WriteHooks,
) -> Result<()> {
    let vg = &sys.vg_or_err(vgname)?.vg;
    let msgs = queued(vg, pool)?;
    if msgs.is_empty() {
        return Ok(());
    }
    let seg = pool_seg(vg, pool).ok_or_else(|| refused!("not a thin pool"))?;
    send(
        sys,
        vgname,
        pool,
        &msgs,
        seg.transaction_id.saturating_sub(1),
        hooks,
    )
}

/// lvm2's over-provisioning warnings (`pool_check_overprovisioning`,
/// with the default `thin_pool_autoextend_threshold` of 100): nothing
/// while the pool's thin LVs fit in it, or the thin LVs of all pools fit
/// in all pools; else the sum compared with the whole VG, its free space,
/// or the pools.
fn overprovision_warnings(
    vg: &Vg,
    pool: usize,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    let ext = vg.extent_size.0;
    let size_of = |l: usize| vg.lv_extents(&vg.lvs[l]).saturating_mul(ext);
    let thins = |p: usize| -> u64 { thins_of(vg, p).iter().map(|&t| size_of(t)).sum() };
    let mut thinsum = thins(pool);
    let mut poolsum = size_of(pool);
    if thinsum <= poolsum {
        return Ok(());
    }
    let mut more_pools = false;
    for p in (0..vg.lvs.len()).filter(|&p| p != pool && pool_seg(vg, p).is_some()) {
        more_pools = true;
        poolsum += size_of(p);
        thinsum += thins(p);
    }
    if thinsum <= poolsum {
        return Ok(());
    }
    let vg_size = vg.total_extents().saturating_mul(ext);
    let vg_free = lvm_meta::alloc::free_extents(vg, &[]).saturating_mul(ext);
    let (sz, txt) = if vg_size < thinsum {
        (vg_size, " and the size of whole volume group")
    } else if vg_free < thinsum {
        (
            vg_free,
            if vg_free == 0 {
                ""
            } else {
                " and the amount of free space in volume group"
            },
        )
    } else {
        (poolsum, "")
    };
    let what = if more_pools {
        "s".to_owned()
    } else {
        format!(" {}/{}", vg.name, vg.lvs[pool].name)
    };
    writeln!(
        err,
        "  WARNING: Sum of all thin volume sizes ({}) exceeds the size of thin pool{what}{txt} ({}).",
        display_size(thinsum),
        if sz > 0 {
            display_size(sz)
        } else {
            "no free space in volume group".into()
        }
    )?;
    writeln!(
        out,
        "  WARNING: You have not turned on protection against thin pools running out of space."
    )?;
    writeln!(out, "  WARNING: Set activation/thin_pool_autoextend_threshold below 100 to trigger automatic extension of thin pools before they get full.")?;
    Ok(())
}

/// What `lvcreate` makes in a pool.
pub enum ThinCreate {
    /// `lvcreate -V SECTORS -T VG/POOL`: a new thin LV of this size.
    Thin {
        /// The pool's name.
        pool: String,
        /// The virtual size in sectors.
        sectors: u64,
    },
    /// `lvcreate -s VG/THIN` (no size): a thin snapshot of this thin LV.
    Snapshot {
        /// The origin's name.
        origin: String,
    },
}

/// True when `lvcreate -s VG/LV` without a size names a thin LV (a thin
/// snapshot, not a COW snapshot).
pub fn is_thin(sys: &System, vgname: &str, lv: &str) -> bool {
    sys.vg(vgname)
        .and_then(|i| Some(thin_seg(&i.vg, i.vg.lv_index(lv)?).is_some()))
        .unwrap_or(false)
}

/// `lvcreate -V SIZE -T VG/POOL [-n NAME]` and `lvcreate -s VG/THIN [-n
/// NAME]`: the new thin LV (device id one above the pool's highest) in
/// two VG writes around the pool message, as lvm2 does.
#[allow(clippy::too_many_arguments)]
pub fn lvcreate(
    sys: &System,
    vgname: &str,
    what: &ThinCreate,
    name: Option<&str>,
    w: &Writer,
    ids: &mut Ids,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    lvcreate_from_write(sys, vgname, what, name, w, ids, 0, out, err)
}

/// [`lvcreate`] as part of a command that already wrote the VG metadata
/// `before` times (a pool made by the same `lvcreate`): its writes are
/// numbered from `before + 1`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn lvcreate_from_write(
    sys: &System,
    vgname: &str,
    what: &ThinCreate,
    name: Option<&str>,
    w: &Writer,
    ids: &mut Ids,
    before: u32,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    thin_writable(sys, vgname)?;
    let pool_of = match what {
        ThinCreate::Thin { pool, .. } => sys.vg_or_err(vgname)?.vg.lv_index(pool),
        ThinCreate::Snapshot { origin } => {
            let vg = &sys.vg_or_err(vgname)?.vg;
            vg.lv_index(origin)
                .and_then(|o| thin_seg(vg, o))
                .map(|t| t.pool)
        }
    };
    let settled;
    let is_pool = |p: usize| sys.vg(vgname).is_some_and(|i| pool_seg(&i.vg, p).is_some());
    let sys = match pool_of.filter(|&p| is_pool(p)) {
        Some(p) => {
            settle(sys, vgname, p, w.hooks)?;
            settled = rescan(sys)?;
            &settled
        }
        None => sys,
    };
    let inst = thin_writable(sys, vgname)?;
    let mut vg = (*inst.vg).clone();
    let name = crate::lv::new_lv_name(&vg, vgname, name)?;
    let ext = vg.mappable_extent_size()?.0;
    let (pool, extents, origin) = match what {
        ThinCreate::Thin { pool, sectors } => {
            let pi = vg
                .lv_index(pool)
                .filter(|&p| pool_seg(&vg, p).is_some())
                .ok_or_else(|| refused!("Thin pool {vgname}/{pool} not found."))?;
            let n = sectors.div_ceil(ext);
            if sectors % ext != 0 {
                writeln!(
                    out,
                    "  Rounding up size to full physical extent {}",
                    display_size(n * ext)
                )?;
            }
            if n == 0 {
                bail!("Calculated size of logical volume is 0 extents. Needs to be larger.");
            }
            (pi, n, None)
        }
        ThinCreate::Snapshot { origin } => {
            let oi = vg
                .lv_index(origin)
                .ok_or_else(|| refused!("Couldn't find origin volume '{origin}'."))?;
            let t =
                thin_seg(&vg, oi).ok_or_else(|| refused!("{vgname}/{origin} is not a thin LV."))?;
            if t.external_origin.is_some() {
                bail!("lvmsim does not snapshot thin LVs with an external origin.");
            }
            (t.pool, vg.lv_extents(&vg.lvs[oi]), Some((oi, t.device_id)))
        }
    };
    let pool_name = vg.lvs[pool].name.clone();
    let id = thins_of(&vg, pool)
        .iter()
        .filter_map(|&t| thin_seg(&vg, t).map(|s| s.device_id))
        .max()
        .unwrap_or(0)
        .saturating_add(1);
    if id > dm_pdata::thin::metadata::MAX_DEV_ID {
        bail!("Cannot find free device_id.");
    }
    let old = queue_message(
        &mut vg,
        pool,
        Node::Setting {
            key: "create".into(),
            value: Value::Str(name.clone()),
        },
    )?;
    let mut nodes = vec![
        Node::Setting {
            key: "thin_pool".into(),
            value: Value::Str(pool_name.clone()),
        },
        Node::Setting {
            key: "transaction_id".into(),
            value: Value::Int(i64::try_from(old).unwrap_or(i64::MAX)),
        },
        Node::Setting {
            key: "device_id".into(),
            value: Value::Int(i64::try_from(id).unwrap_or(i64::MAX)),
        },
    ];
    if let Some((oi, _)) = origin {
        nodes.push(Node::Setting {
            key: "origin".into(),
            value: Value::Str(vg.lvs[oi].name.clone()),
        });
    }
    let seg = Segment {
        key: "segment1".into(),
        start_extent: 0,
        extent_count: u32::try_from(extents).map_err(|_| refused!("Size is too big."))?,
        reshape_count: None,
        type_name: "thin".into(),
        tags: Vec::new(),
        kind: SegmentKind::Unknown { nodes },
    };
    vg.lvs.push(crate::lv::new_lv(&name, ids, w, vec![seg])?);
    vg.derive_roles();
    commit_vg(sys, inst, &mut vg, w, before + 1)?;
    let sys2 = rescan(sys)?;
    let msg = match origin {
        Some((_, o)) => Message::Snap(id, o),
        None => Message::Create(id),
    };
    send(&sys2, vgname, pool, &[msg], old, w.hooks)?;
    let inst2 = thin_writable(&sys2, vgname)?;
    let mut vg2 = (*inst2.vg).clone();
    clear_messages(&mut vg2, pool)?;
    commit_vg(&sys2, inst2, &mut vg2, w, before + 2)?;
    overprovision_warnings(&vg2, pool, out, err)?;
    writeln!(out, "  Logical volume \"{name}\" created.")?;
    Ok(())
}

/// The LVs `args` name when every one is `VG/LV` naming a thin LV (the
/// arguments `lvremove` hands to [`lvremove`]).
pub fn thin_args(sys: &System, args: &[String]) -> Option<Vec<(String, usize, String)>> {
    let mut out = Vec::new();
    for a in args {
        let (v, l) = crate::names::vg_lv(a).ok()?;
        let inst = sys.vg(&v)?;
        let li = inst.vg.lv_index(&l)?;
        thin_seg(&inst.vg, li)?;
        out.push((v, li, l));
    }
    (!out.is_empty()).then_some(out)
}

/// `lvremove` of thin LVs: each removed in two VG writes around the
/// pool's `delete` message. A thin LV that thin snapshots name as their
/// origin is refused (lvm2 would rewrite them).
pub fn lvremove(
    sys: &System,
    named: &[(String, usize, String)],
    w: &Writer,
    out: &mut dyn Write,
) -> Result<()> {
    let mut sys_now = rescan(sys)?;
    let mut writes = crate::lv::WriteCounts::default();
    for (vgname, _, lv) in named {
        let vg = &thin_writable(&sys_now, vgname)?.vg;
        let li = vg.lv_index_or_err(lv)?;
        let t = thin_seg(vg, li).ok_or_else(|| refused!("{vgname}/{lv} is not a thin LV."))?;
        if let Some(&s) = crate::thin::snapshots_of(vg, li).first() {
            bail!(
                "lvmsim does not remove thin LV {vgname}/{lv}: thin snapshot {} names it as its origin.",
                vg.lvs[s].name
            );
        }
        settle(&sys_now, vgname, t.pool, w.hooks)?;
        sys_now = rescan(&sys_now)?;
        let inst = thin_writable(&sys_now, vgname)?;
        let mut vg = (*inst.vg).clone();
        let pool = t.pool;
        let old = queue_message(
            &mut vg,
            pool,
            Node::Setting {
                key: "delete".into(),
                value: Value::Int(i64::try_from(t.device_id).unwrap_or(i64::MAX)),
            },
        )?;
        vg.remove_lv(li).map_err(|e| refused!("{e}"))?;
        // The pool's index did not move if it comes before the LV.
        let pool = vg
            .lv_index(&inst.vg.lvs[pool].name)
            .ok_or_else(|| refused!("pool vanished"))?;
        commit_vg(&sys_now, inst, &mut vg, w, writes.next(vgname))?;
        sys_now = rescan(&sys_now)?;
        let nth = writes.next(vgname);
        sys_now = delete_device(&sys_now, vgname, pool, t.device_id, old, w, nth)?;
        writeln!(out, "  Logical volume \"{lv}\" successfully removed.")?;
    }
    Ok(())
}

/// True when pool `pool`'s segment still holds queued messages.
pub fn has_queued(vg: &Vg, pool: usize) -> bool {
    match vg
        .lvs
        .get(pool)
        .and_then(|l| l.segments.first())
        .map(|s| &s.kind)
    {
        Some(SegmentKind::Unknown { nodes }) => {
            nodes.iter().any(|n| n.key().starts_with("message"))
        }
        _ => false,
    }
}

/// The thin LV whose segment names `origin` as the LV it merges into
/// (`merge = "ORIGIN"`, left by an `lvconvert --merge` that found the
/// origin open), if any.
pub fn pending_merge(vg: &Vg, origin: usize) -> Option<usize> {
    let name = &vg.lvs.get(origin)?.name;
    (0..vg.lvs.len()).find(|&i| {
        thin_seg(vg, i).is_some()
            && matches!(
                vg.lvs[i].segments.first().map(|s| &s.kind),
                Some(SegmentKind::Unknown { nodes }) if nodes.iter().any(|n| matches!(
                    n,
                    Node::Setting { key, value: Value::Str(v) } if key == "merge" && v == name
                ))
            )
    })
}

/// True when `VG/LV` names a thin LV: the `lvconvert --merge` argument
/// [`lvconvert_merge`] takes (it refuses one without a thin origin).
pub fn is_thin_arg(sys: &System, arg: &str) -> bool {
    crate::names::vg_lv(arg).is_ok_and(|(v, l)| is_thin(sys, &v, &l))
}

/// The thin segment nodes of LV `lv` (a thin LV).
fn thin_nodes(vg: &mut Vg, lv: usize) -> Option<&mut Vec<Node>> {
    match vg
        .lvs
        .get_mut(lv)?
        .segments
        .first_mut()
        .map(|s| &mut s.kind)
    {
        Some(SegmentKind::Unknown { nodes }) => Some(nodes),
        _ => None,
    }
}

/// `lvconvert --merge VG/SNAP` of a thin snapshot whose origin is
/// inactive (lvmsim's images are): lvm2 merges at once
/// (`_lvconvert_merge_thin_snapshot`, `thin_merge_finish`). The snapshot
/// takes the origin's name, id, status and flags, creation time and
/// host, tags and settings, and keeps its own thin device; the origin
/// (under the snapshot's name) is removed as `lvremove` removes a thin LV:
/// one VG write with the pool's `delete ORIGIN_ID` queued, the message,
/// a second write without it. Thin snapshots of the origin other than
/// the merged one lose their origin (lvm2's `detach_pool_lv`).
pub fn lvconvert_merge(sys: &System, arg: &str, w: &Writer, out: &mut dyn Write) -> Result<()> {
    let (vgname, snap) = crate::names::vg_lv(arg)?;
    let inst = thin_writable(sys, &vgname)?;
    let li = inst.vg.lv_index_or_err(&snap)?;
    let t = thin_seg(&inst.vg, li)
        .ok_or_else(|| refused!("{vgname}/{snap} is not a mergeable logical volume."))?;
    let Some(oi) = t.origin else {
        bail!("{vgname}/{snap} is not a mergeable logical volume.");
    };
    let origin = inst.vg.lvs[oi].name.clone();
    if let Some(m) = pending_merge(&inst.vg, oi) {
        bail!(
            "Cannot merge snapshot {vgname}/{snap} into the origin {vgname}/{origin} with merging snapshot {vgname}/{}.",
            inst.vg.lvs[m].name
        );
    }
    if !inst.vg.roles[oi].origin_of.is_empty() {
        bail!("Merging into the old snapshot origin {vgname}/{origin} is not supported.");
    }
    replace_origin(sys, &vgname, &snap, &origin, w)?;
    writeln!(
        out,
        "  Volume {vgname}/{snap} replaced origin {vgname}/{origin}."
    )?;
    Ok(())
}

/// lvm2's `thin_merge_finish`: thin snapshot `snap` of VG `vgname` takes
/// the place of its origin `origin` (the origin's name, id, status and
/// flags, creation time and host, tags and settings; its own thin device
/// and data), and the origin, under the snapshot's name, is removed as
/// `lvremove` removes a thin LV: one VG write with the pool's `delete
/// ORIGIN_ID` queued, the message, a second write without it. Thin
/// snapshots of the origin other than the merged one lose their origin
/// (lvm2's `detach_pool_lv`); a pending merge's `merge` key goes with the
/// snapshot's `origin`.
fn replace_origin(sys: &System, vgname: &str, snap: &str, origin: &str, w: &Writer) -> Result<()> {
    let inst = thin_writable(sys, vgname)?;
    let li = inst.vg.lv_index_or_err(snap)?;
    let oi = inst.vg.lv_index_or_err(origin)?;
    let t = thin_seg(&inst.vg, li).ok_or_else(|| refused!("{vgname}/{snap} is not a thin LV."))?;
    let ot =
        thin_seg(&inst.vg, oi).ok_or_else(|| refused!("{vgname}/{origin} is not a thin LV."))?;
    settle(sys, vgname, t.pool, w.hooks)?;
    let sys_now = rescan(sys)?;
    let inst = thin_writable(&sys_now, vgname)?;
    let mut vg = (*inst.vg).clone();
    let li = vg.lv_index_or_err(snap)?;
    let oi = vg.lv_index_or_err(origin)?;
    let pool_name = vg.lvs[t.pool].name.clone();
    let old = queue_message(
        &mut vg,
        t.pool,
        Node::Setting {
            key: "delete".into(),
            value: Value::Int(i64::try_from(ot.device_id).unwrap_or(i64::MAX)),
        },
    )?;
    // The origin's identity and attributes go to the snapshot
    // (`swap_lv_identifiers`, `_move_lv_attributes`).
    let o = vg.lvs[oi].clone();
    {
        let s = &mut vg.lvs[li];
        s.name = o.name;
        s.id = o.id;
        s.status = o.status;
        s.flags = o.flags;
        s.tags = o.tags;
        s.creation_time = o.creation_time;
        s.creation_host = o.creation_host;
        s.read_ahead = o.read_ahead;
        s.allocation_policy = o.allocation_policy;
        s.profile = o.profile;
        s.major = o.major;
        s.minor = o.minor;
    }
    // Every thin LV that had the origin as its origin (the merged one
    // included) is a plain thin LV now.
    for i in 0..vg.lvs.len() {
        if i == oi || thin_seg(&inst.vg, i).and_then(|s| s.origin) != Some(oi) {
            continue;
        }
        if let Some(nodes) = thin_nodes(&mut vg, i) {
            nodes.retain(|n| n.key() != "origin" && n.key() != "merge");
        }
    }
    vg.remove_lv(oi).map_err(|e| refused!("{e}"))?;
    let pool = vg
        .lv_index(&pool_name)
        .ok_or_else(|| refused!("pool vanished"))?;
    vg.derive_roles();
    commit_vg(&sys_now, inst, &mut vg, w, 1)?;
    let sys_now = rescan(&sys_now)?;
    delete_device(&sys_now, vgname, pool, ot.device_id, old, w, 2)?;
    Ok(())
}

/// The second half of lvm2's deletion of thin device `device_id` of pool
/// `pool` (`lvremove`, and the origin's device after a thin merge), once
/// the VG holding the queued `delete` message is committed: the message
/// sent to the pool (its transaction id `old` before it), then the VG
/// written again without the message (write `nth` of the command).
/// Returns the system as it is then.
fn delete_device(
    sys: &System,
    vgname: &str,
    pool: usize,
    device_id: u64,
    old: u64,
    w: &Writer,
    nth: u32,
) -> Result<System> {
    send(
        sys,
        vgname,
        pool,
        &[Message::Delete(device_id)],
        old,
        w.hooks,
    )?;
    let inst = thin_writable(sys, vgname)?;
    let mut vg = (*inst.vg).clone();
    clear_messages(&mut vg, pool)?;
    commit_vg(sys, inst, &mut vg, w, nth)?;
    rescan(sys)
}

/// `lvpoll --polloperation merge_thin VG/ORIGIN`: ends a thin snapshot
/// merge that an `lvconvert --merge` left for the origin's next
/// activation (`merge = "ORIGIN"` in the snapshot's segment). The
/// activation has the origin read the snapshot's thin device; the poll
/// (`lvconvert_merge_finish`) then puts the snapshot in the origin's
/// place as [`lvconvert_merge`] does, in the same two VG writes. Nothing
/// pending: lvm2's words for it, nothing written.
pub fn lvpoll_merge_thin(sys: &System, arg: &str, w: &Writer, out: &mut dyn Write) -> Result<()> {
    let (vgname, origin) = crate::names::vg_lv(arg)?;
    let inst = thin_writable(sys, &vgname)?;
    let oi = inst.vg.lv_index_or_err(&origin)?;
    let Some(si) = pending_merge(&inst.vg, oi) else {
        writeln!(
            out,
            "  Logical volume {vgname}/{origin} is no longer merging origin, polling has finished."
        )?;
        return Ok(());
    };
    let snap = inst.vg.lvs[si].name.clone();
    writeln!(
        out,
        "  Merge of snapshot into logical volume {vgname}/{origin} has finished."
    )?;
    replace_origin(sys, &vgname, &snap, &origin, w)
}
