//! `pvs`, `vgs` and `lvs`: lvm2's report fields, computed from the scanned
//! images, and two writers (lvm2's `basic` columns and its `json`).

use crate::error::{bail, Error, Result};
use crate::thin;
use crate::units::{format_size, Units};
use lvm_meta::model::{Area, Lv, SegmentKind, Vg};
use lvm_meta::scan::{System, VgInstance};
use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write;

/// Which command's report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// `pvs`
    Pv,
    /// `vgs`
    Vg,
    /// `lvs`
    Lv,
    /// `lvs --segments`, or `lvs` with a segment field
    Seg,
    /// `pvs --segments`: PV segments, used and free
    PvSeg,
}

/// Report options, as lvm2's command line gives them.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `-a`
    pub all: bool,
    /// `--segments`
    pub segments: bool,
    /// `-o` values, in order.
    pub fields: Vec<String>,
    /// `-O` sort keys.
    pub sort: Option<String>,
    /// `--reportformat json`
    pub json: bool,
    /// `--units`
    pub units: Units,
    /// `--nosuffix`
    pub nosuffix: bool,
    /// `--noheadings`
    pub noheadings: bool,
    /// `--separator`
    pub separator: Option<String>,
    /// `--aligned`
    pub aligned: bool,
    /// `--driverloaded n`: print 'X' where the kernel's state is unknown,
    /// as lvm2 does without device-mapper.
    pub driver_unknown: bool,
    /// `--active`: report LVs as after `vgchange -ay` of the images (state
    /// 'a' or 'I', snapshot percentages from the stores).
    pub active: bool,
    /// Names given on the command line (VG, VG/LV, or PV paths).
    pub names: Vec<String>,
    /// `-S`/`--select`: lvm2's selection (see [`crate::select`]).
    pub select: Option<String>,
    /// Under `--active`: the LVs (VG, LV) whose device is open, as a
    /// running [`crate::kernel`] reports them (`o` in lv_attr,
    /// `lv_device_open`).
    pub open: Vec<(String, String)>,
    /// Under a running [`crate::kernel`]: the LVs (VG, LV) whose device it
    /// has loaded. Only these are active, whatever `active` says; `None`
    /// without a running kernel.
    pub loaded: Option<Vec<(String, String)>>,
    /// Under a running [`crate::kernel`]: the LVs whose device is
    /// suspended (`s` in lv_attr, `lv_suspended`).
    pub suspended: Vec<(String, String)>,
    /// The local zone lvm2 shows times in and reads selection dates in
    /// (its `TZ`).
    pub zone: crate::localtime::Zone,
    /// `-H`/`--history`: also the historical LVs (removed LVs lvm2 keeps a
    /// record of), named `-NAME`, and their names in the chains of
    /// `lv_full_ancestors` and `lv_full_descendants`.
    pub history: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Obj {
    Pv,
    PvSeg,
    Vg,
    Lv,
    Seg,
    /// The implicit `selected` field.
    Special,
}

/// One row's context: indices into the scanned system.
#[derive(Debug, Clone, Copy, Default)]
struct Row {
    dev: Option<usize>,
    vg: Option<usize>,
    pv: Option<usize>,
    lv: Option<usize>,
    seg: Option<usize>,
    /// A PV segment: first PE and length in extents.
    pvseg: Option<(u64, u64)>,
    /// A historical LV of the VG (see [`crate::lineage`]).
    hist: Option<usize>,
}

/// A value as a field computes it; [`Field`]'s type decides how it prints
/// and how selections compare it. A text borrows from the scanned system
/// where it can (names, UUIDs), so most cells cost no allocation.
enum Cell<'b> {
    Str(Cow<'b, str>),
    /// Words, printed sorted and joined by `,`.
    List(Vec<String>),
    Num(u64),
    /// A signed number (`-1`: not set).
    Signed(i64),
    /// A size in sectors.
    Size(u64),
    /// A binary field: set (its word), unset (nothing) or unknown.
    Bin(Option<bool>, &'static str),
    /// A percentage in millionths of a percent, or undefined (blank).
    Pct(Option<u64>),
    /// A time, or none (blank).
    Time(Option<i64>),
    /// Nothing known: blank, "undefined" to selections.
    Blank,
    /// Blank, and zero to selections (lvm2's `origin_size`).
    BlankZero,
    /// The read-ahead `auto`.
    Auto,
    /// `lv_attr`'s ten letters, ASCII.
    Attr([u8; 10]),
    /// A size field lvm2 prints as `-1` (kernel values when inactive).
    MinusOne,
}

type Getter = for<'b> fn(&'b Ctx<'b>, &Row) -> Cell<'b>;

#[derive(Debug)]
struct Field {
    name: &'static str,
    heading: &'static str,
    width: usize,
    obj: Obj,
    align: Align,
    ty: crate::fields::FieldType,
    get: Getter,
}

struct Ctx<'a> {
    sys: &'a System,
    opts: &'a Options,
    kernel: crate::active::Kernel,
    /// Each VG's role tables, computed on first use.
    roles: Vec<std::cell::OnceCell<Roles>>,
    /// Each VG's historical LVs and chains, computed on first use.
    lineages: Vec<std::cell::OnceCell<crate::lineage::Lineage>>,
    /// Each VG's LVs' visibility ([`Vg::lv_visible`]), computed on first
    /// use: it follows snapshot links, and names ask it twice a row.
    visible: Vec<std::cell::OnceCell<Vec<bool>>>,
}

/// One VG's role tables, by LV index, as the modules build them (thin,
/// RAID and mirror, cache, writecache, integrity, VDO). A table may be
/// shorter than the VG's LV list, and is empty for a VG without a segment
/// of its kind: an LV past the end has no role.
struct Roles {
    thin: Vec<Option<thin::ThinRole>>,
    raid: Vec<Option<crate::raid::RaidRole>>,
    cache: Vec<Option<crate::cache::CacheRole>>,
    writecache: Vec<Option<crate::writecache::WritecacheRole>>,
    integrity: Vec<Option<crate::integrity::IntegrityRole>>,
    vdo: Vec<Option<crate::vdo::VdoRole>>,
}

impl Roles {
    fn of(vg: &Vg) -> Roles {
        Roles {
            thin: thin::roles(vg),
            raid: crate::raid::roles(vg),
            cache: crate::cache::roles(vg),
            writecache: crate::writecache::roles(vg),
            integrity: crate::integrity::roles(vg),
            vdo: crate::vdo::roles(vg),
        }
    }
}

/// LV `lv`'s entry in a role table: none past its end.
#[inline(always)]
fn entry<T>(table: &[Option<T>], lv: usize) -> Option<&T> {
    table.get(lv)?.as_ref()
}

const fn g(name: &'static str, get: Getter) -> (&'static str, Getter) {
    (name, get)
}

fn s<'b>(v: impl Into<Cow<'b, str>>) -> Cell<'b> {
    Cell::Str(v.into())
}

/// Every field of lvm2's catalogue with its getter, in catalogue order.
static ALL_FIELDS: std::sync::LazyLock<Vec<Field>> = std::sync::LazyLock::new(|| {
    use crate::fields::{Section, CATALOGUE, SELECTED};
    // The getters by name, looked up once each rather than searched.
    let getters: std::collections::HashMap<&str, Getter> = GETTERS.iter().copied().collect();
    let mut v: Vec<Field> = CATALOGUE
        .iter()
        .map(|d| Field {
            name: d.name,
            heading: d.heading,
            width: d.min_width(),
            obj: match d.section {
                Section::Lv | Section::LvInfo | Section::LvStatus | Section::LvInfoStatus => {
                    Obj::Lv
                }
                Section::Label | Section::Pv => Obj::Pv,
                Section::Vg => Obj::Vg,
                Section::Seg => Obj::Seg,
                Section::PvSeg => Obj::PvSeg,
            },
            align: if d.ty.right_aligned() {
                Align::Right
            } else {
                Align::Left
            },
            ty: d.ty,
            get: getters
                .get(d.name)
                .copied()
                .unwrap_or_else(|| constant_getter(d.name)),
        })
        .collect();
    v.push(Field {
        name: SELECTED.name,
        heading: SELECTED.heading,
        width: SELECTED.min_width(),
        obj: Obj::Special,
        align: Align::Right,
        ty: SELECTED.ty,
        get: |_, _| Cell::Num(1),
    });
    v
});

/// The fields that compute their value, by name (no name twice); the
/// others print a constant ([`constant_getter`]).
static GETTERS: &[(&str, Getter)] =
    &[
        g("pv_name", |c, r| {
            s(c.dev(r).map_or("[unknown]", |d| d.image.path.as_str()))
        }),
        g("pv_uuid", |c, r| s(c.pv_uuid(r))),
        g("pv_fmt", |c, r| s(if c.is_pv(r) { "lvm2" } else { "" })),
        g("pv_attr", |c, r| s(c.pv_attr(r))),
        g("pv_size", |c, r| Cell::Size(c.pv_size(r))),
        g("pv_free", |c, r| Cell::Size(c.pv_free(r))),
        g("pv_used", |c, r| {
            Cell::Size(c.pv_size(r) - c.pv_free(r).min(c.pv_size(r)))
        }),
        g("dev_size", |c, r| {
            Cell::Size(c.dev(r).map_or(0, |d| d.image.size / 512))
        }),
        g("pe_start", |c, r| Cell::Size(c.pe_start(r))),
        g("pv_pe_count", |c, r| {
            Cell::Num(c.vg_pv(r).map_or(0, |(_, p)| u64::from(p.pe_count)))
        }),
        g("pv_pe_alloc_count", |c, r| Cell::Num(c.pv_alloc(r))),
        g("pv_mda_count", |c, r| {
            Cell::Num(c.dev(r).map_or(0, |d| d.mdas.len() as u64))
        }),
        g("pv_mda_used_count", |c, r| {
            Cell::Num(
                c.dev(r)
                    .map_or(0, |d| d.mdas.iter().filter(|m| !m.ignored).count() as u64),
            )
        }),
        g("pv_mda_size", |c, r| Cell::Size(c.pv_mda_size(r))),
        g("pv_mda_free", |c, r| Cell::Size(c.pv_mda_free(r))),
        g("pv_tags", |c, r| {
            Cell::List(c.vg_pv(r).map_or(Vec::new(), |(_, p)| sorted(&p.tags)))
        }),
        g("pvseg_start", |_, r| Cell::Num(r.pvseg.map_or(0, |p| p.0))),
        g("pvseg_size", |_, r| Cell::Num(r.pvseg.map_or(0, |p| p.1))),
        g("vg_fmt", |_, _| s("lvm2")),
        g("vg_uuid", |c, r| {
            s(c.vg(r).map_or("", |v| v.vg.id.as_str()))
        }),
        g("vg_name", |c, r| {
            s(match c.vg(r) {
                Some(v) => v.vg.name.as_str(),
                None if c.used_orphan(r) => "[unknown]",
                None => "",
            })
        }),
        g("vg_attr", |c, r| {
            s(c.vg(r).map_or("r-----".to_owned(), vg_attr))
        }),
        g("vg_size", |c, r| {
            Cell::Size(
                c.vg(r)
                    .map_or(0, |v| v.vg.total_extents() * v.vg.extent_size.0),
            )
        }),
        g("vg_free", |c, r| {
            Cell::Size(
                c.vg(r)
                    .map_or(0, |v| v.vg.free_extents() * v.vg.extent_size.0),
            )
        }),
        g("vg_extent_size", |c, r| {
            Cell::Size(c.vg(r).map_or(0, |v| v.vg.extent_size.0))
        }),
        g("vg_extent_count", |c, r| {
            Cell::Num(c.vg(r).map_or(0, |v| v.vg.total_extents()))
        }),
        g("vg_free_count", |c, r| {
            Cell::Num(c.vg(r).map_or(0, |v| v.vg.free_extents()))
        }),
        g("max_lv", |c, r| {
            Cell::Num(c.vg(r).map_or(0, |v| u64::from(v.vg.max_lv)))
        }),
        g("max_pv", |c, r| {
            Cell::Num(c.vg(r).map_or(0, |v| u64::from(v.vg.max_pv)))
        }),
        g("pv_count", |c, r| {
            Cell::Num(c.vg(r).map_or(0, |v| v.vg.pvs.len() as u64))
        }),
        g("lv_count", |c, r| {
            Cell::Num(c.vg(r).map_or(0, |v| {
                (0..v.vg.lvs.len()).filter(|&i| v.vg.lv_visible(i)).count() as u64
            }))
        }),
        g("snap_count", |c, r| {
            Cell::Num(c.vg(r).map_or(0, |v| {
                (0..v.vg.lvs.len())
                    .filter(|&i| cow_of(&v.vg, i).is_some())
                    .count() as u64
            }))
        }),
        g("vg_seqno", |c, r| {
            Cell::Num(c.vg(r).map_or(0, |v| u64::from(v.vg.seqno)))
        }),
        g("vg_tags", |c, r| {
            Cell::List(c.vg(r).map_or(Vec::new(), |v| sorted(&v.vg.tags)))
        }),
        g("vg_mda_count", |c, r| Cell::Num(c.vg_mdas(r).len() as u64)),
        g("vg_mda_used_count", |c, r| {
            Cell::Num(c.vg_mdas(r).iter().filter(|m| !m.ignored).count() as u64)
        }),
        g("vg_mda_size", |c, r| {
            Cell::Size(
                c.vg_mdas(r)
                    .iter()
                    .map(|m| m.locn.size / 512)
                    .min()
                    .unwrap_or(0),
            )
        }),
        g("vg_mda_free", |c, r| {
            Cell::Size(c.vg_mdas(r).iter().map(|m| mda_free(m)).min().unwrap_or(0))
        }),
        g("vg_mda_copies", |c, r| {
            s(c.vg(r)
                .map_or("unmanaged".to_owned(), |v| match v.vg.metadata_copies {
                    0 => "unmanaged".to_owned(),
                    n => n.to_string(),
                }))
        }),
        g("lv_uuid", |c, r| {
            s(c.lv(r).map_or("", |(_, l)| l.id.as_str()))
        }),
        g("lv_name", |c, r| s(c.lv_name(r))),
        g("lv_full_name", |c, r| {
            s(c.lv(r)
                .map_or(String::new(), |(v, l)| format!("{}/{}", v.name, l.name)))
        }),
        g("lv_path", |c, r| {
            s(match (c.lv(r), r.lv) {
                // A thin pool has no device node of its own.
                (Some((v, _)), Some(i)) if thin::pool_seg(v, i).is_some() => String::new(),
                (Some((v, l)), Some(i)) if v.lv_visible(i) => format!("/dev/{}/{}", v.name, l.name),
                _ => String::new(),
            })
        }),
        g("lv_attr", |c, r| match c.lv_attr_letters(r) {
            // The letters as they are, no string made.
            Some(l) if l.iter().all(char::is_ascii) => Cell::Attr(l.map(|ch| ch as u8)),
            Some(l) => s(l.iter().collect::<String>()),
            None => s(""),
        }),
        g("lv_size", |c, r| Cell::Size(c.lv_size(r))),
        g("seg_count", |c, r| {
            Cell::Num(c.lv(r).map_or(0, |(_, l)| l.segments.len() as u64))
        }),
        g("origin", |c, r| s(c.origin(r))),
        g("origin_size", |c, r| match c.origin_size(r) {
            0 => Cell::BlankZero,
            n => Cell::Size(n),
        }),
        g("pool_lv", |c, r| {
            if let Some(l) = c.cachevol_link(r, false) {
                return s(l);
            }
            if let Some(crate::vdo::VdoRole::Volume(v)) = c.vdo_role(r) {
                return s(c.shown_name(r, v.pool, false));
            }
            s(c.thin_link(r, ThinLink::Pool, false))
        }),
        g("data_percent", |c, r| match c.thin_percents(r) {
            Some((d, _)) => s(d.map_or(String::new(), crate::active::percent_text)),
            None => s(c.snap_percent(r)),
        }),
        // lvm2 gives a thin LV or pool its data percentage here too.
        g("snap_percent", |c, r| match c.thin_percents(r) {
            Some((d, _)) => s(d.map_or(String::new(), crate::active::percent_text)),
            None => s(c.snap_percent(r)),
        }),
        g("metadata_percent", |c, r| match c.thin_percents(r) {
            Some((_, Some(m))) => s(crate::active::percent_text(m)),
            _ => Cell::Pct(None),
        }),
        g("copy_percent", |c, r| c.sync_percent(r)),
        g("move_pv", |_, _| s("")),
        g("mirror_log", |c, r| s(c.mirror_log(r))),
        g("convert_lv", |_, _| s("")),
        g("lv_tags", |c, r| {
            Cell::List(c.lv(r).map_or(Vec::new(), |(_, l)| sorted(&l.tags)))
        }),
        g("lv_layout", |c, r| list_of(&c.lv_layout(r))),
        g("lv_role", |c, r| list_of(&c.lv_role(r))),
        g("segtype", |c, r| s(c.segtype(r))),
        g("stripes", |c, r| {
            if let Some(rs) = c.raid_seg(r) {
                return Cell::Num(rs.images.len() as u64);
            }
            if matches!(
                c.cache_role(r),
                Some(crate::cache::CacheRole::Cached(_) | crate::cache::CacheRole::Pool(_))
            ) {
                return Cell::Num(1);
            }
            if c.area_lv(r).is_some() {
                return Cell::Num(1);
            }
            Cell::Num(c.seg(r).map_or(0, |(_, _, sg)| seg_area_count(sg)))
        }),
        g("stripe_size", |c, r| {
            if let Some(rs) = c.raid_seg(r) {
                return Cell::Size(rs.stripe_size.map_or(0, |z| z.0));
            }
            Cell::Size(c.seg(r).map_or(0, |(_, _, sg)| match &sg.kind {
                SegmentKind::Striped {
                    stripe_size: Some(z),
                    stripes,
                } if stripes.len() > 1 => z.0,
                _ => 0,
            }))
        }),
        g("chunk_size", |c, r| Cell::Size(c.chunk_size(r))),
        g("seg_start", |c, r| {
            Cell::Size(
                c.seg(r)
                    .map_or(0, |(v, _, sg)| u64::from(sg.start_extent) * v.extent_size.0),
            )
        }),
        g("seg_start_pe", |c, r| {
            Cell::Num(c.seg(r).map_or(0, |(_, _, sg)| u64::from(sg.start_extent)))
        }),
        g("seg_size", |c, r| {
            Cell::Size(
                c.seg(r)
                    .map_or(0, |(v, _, sg)| u64::from(sg.extent_count) * v.extent_size.0),
            )
        }),
        g("seg_size_pe", |c, r| {
            Cell::Num(c.seg(r).map_or(0, |(_, _, sg)| u64::from(sg.extent_count)))
        }),
        g("seg_pe_ranges", |c, r| s(c.seg_areas(r, true))),
        g("devices", |c, r| s(c.seg_areas(r, false))),
        g("seg_tags", |c, r| {
            Cell::List(c.seg(r).map_or(Vec::new(), |(_, _, sg)| sorted(&sg.tags)))
        }),
        // Fields an image answers beyond the ones above.
        g("lv_dm_path", |c, r| {
            s(c.lv(r).map_or(String::new(), |(v, l)| {
                format!(
                    "/dev/mapper/{}-{}",
                    v.name.replace('-', "--"),
                    l.name.replace('-', "--")
                )
            }))
        }),
        g("lv_allocation_policy", |c, r| {
            s(c.lv(r).map_or(String::new(), |(_, l)| {
                l.allocation_policy
                    .clone()
                    .unwrap_or_else(|| "inherit".into())
            }))
        }),
        g("lv_allocation_locked", |c, r| {
            Cell::Bin(Some(c.lv_status(r, "LOCKED")), "allocation locked")
        }),
        g("lv_fixed_minor", |c, r| {
            Cell::Bin(Some(c.lv_status(r, "FIXED_MINOR")), "fixed minor")
        }),
        g("lv_skip_activation", |c, r| {
            Cell::Bin(Some(c.lv_flag(r, "ACTIVATION_SKIP")), "skip activation")
        }),
        g("lv_autoactivation", |c, r| {
            Cell::Bin(Some(!c.lv_flag(r, "NOAUTOACTIVATE")), "enabled")
        }),
        g("lv_merging", |c, r| {
            Cell::Bin(Some(c.lv_merging(r)), "merging")
        }),
        g("lv_active", |c, r| {
            // With device-mapper present and the LV inactive lvm2 prints
            // nothing (the kernel scenario thin-pool's inactive report).
            s(match c.active_state(r) {
                Some(true) => "active",
                Some(false) => "",
                None => "unknown",
            })
        }),
        g("lv_active_locally", |c, r| {
            Cell::Bin(c.active_state(r), "active locally")
        }),
        g("lv_active_remotely", |c, r| {
            Cell::Bin(c.active_state(r).map(|_| false), "active remotely")
        }),
        // The device's state: unknown without a device (no device-mapper,
        // or the LV inactive: lvm2 has no info to report); under `--active`
        // every LV has a live table, nothing suspended or open.
        g("lv_suspended", |c, r| {
            Cell::Bin(c.device_state(r).map(|_| c.lv_suspended(r)), "suspended")
        }),
        g("lv_live_table", |c, r| {
            Cell::Bin(c.device_state(r), "live table present")
        }),
        g("lv_inactive_table", |c, r| {
            Cell::Bin(c.device_state(r).map(|_| false), "inactive table present")
        }),
        g("lv_device_open", |c, r| {
            Cell::Bin(c.device_state(r).and(c.lv_open(r)), "open")
        }),
        // Snapshot status: known for snapshots and merging origins (their
        // device-mapper targets report it), unknown for other LVs.
        g("lv_merge_failed", |c, r| {
            Cell::Bin(c.snapshot_state(r).map(|_| false), "merge failed")
        }),
        g("lv_snapshot_invalid", |c, r| {
            Cell::Bin(c.snapshot_state(r), "snapshot invalid")
        }),
        g("lv_active_exclusively", |c, r| {
            Cell::Bin(c.active_state(r), "active exclusively")
        }),
        g("lv_major", |c, r| {
            Cell::Signed(c.lv(r).and_then(|(_, l)| l.major).unwrap_or(-1))
        }),
        g("lv_minor", |c, r| {
            Cell::Signed(c.lv(r).and_then(|(_, l)| l.minor).unwrap_or(-1))
        }),
        g("lv_read_ahead", |c, r| {
            // lvm2 reads 0 as auto and -1 as none, which it prints as 0.
            match c.lv(r).and_then(|(_, l)| l.read_ahead) {
                Some(-1) => Cell::Size(0),
                Some(n) if n > 0 => Cell::Size(n.unsigned_abs()),
                _ => Cell::Auto,
            }
        }),
        g("origin_uuid", |c, r| {
            if let Some(o) = c.layer_origin(r) {
                return s(c.shown_name(r, o, true));
            }
            if let Some(o) = c.cache_link(r, ThinLink::Pool, true, true) {
                return s(o);
            }
            s(match (c.vg(r), r.lv) {
                (Some(v), Some(_)) if c.thin_role(r).is_some() => c
                    .thin_origin(r)
                    .map_or(String::new(), |o| v.vg.lvs[o].id.clone()),
                (Some(v), Some(i)) => {
                    cow_of(&v.vg, i).map_or(String::new(), |(o, _, _)| v.vg.lvs[o].id.clone())
                }
                _ => String::new(),
            })
        }),
        g("lv_ancestors", |c, r| {
            Cell::List(c.lineage_names(r, true, false))
        }),
        g("lv_full_ancestors", |c, r| {
            Cell::List(c.lineage_names(r, true, true))
        }),
        g("lv_descendants", |c, r| {
            Cell::List(c.lineage_names(r, false, false))
        }),
        g("lv_full_descendants", |c, r| {
            Cell::List(c.lineage_names(r, false, true))
        }),
        g("lv_profile", |c, r| {
            s(c.lv(r)
                .and_then(|(_, l)| l.profile.clone())
                .unwrap_or_default())
        }),
        g("lv_lockargs", |c, r| {
            s(c.lv(r)
                .and_then(|(_, l)| l.lock_args.clone())
                .unwrap_or_default())
        }),
        g("lv_time", |c, r| {
            Cell::Time(c.lv(r).and_then(|(_, l)| l.creation_time))
        }),
        g("lv_host", |c, r| {
            s(c.lv(r)
                .and_then(|(_, l)| l.creation_host.clone())
                .unwrap_or_default())
        }),
        g("writecache_block_size", |c, r| {
            Cell::Signed(match c.wc_role(r) {
                Some(crate::writecache::WritecacheRole::Cached(w)) => w
                    .block_size
                    .map_or(4096, |b| i64::try_from(b).unwrap_or(-1)),
                _ => -1,
            })
        }),
        g("raidintegrityblocksize", |c, r| {
            Cell::Signed(match c.integrity_of(r) {
                Some(i) => i.block_size.map_or(-1, |b| i64::try_from(b).unwrap_or(-1)),
                None => -1,
            })
        }),
        g("raidintegritymode", |c, r| {
            s(match c.integrity_of(r) {
                Some(i) => i
                    .mode
                    .as_deref()
                    .map_or(String::new(), |m| crate::integrity::mode_name(m).to_owned()),
                None => String::new(),
            })
        }),
        g("lv_modules", |c, r| {
            if matches!(
                c.vdo_role(r),
                Some(crate::vdo::VdoRole::Volume(_) | crate::vdo::VdoRole::Pool(_))
            ) {
                return Cell::List(vec!["kvdo".into()]);
            }
            if matches!(
                c.wc_role(r),
                Some(crate::writecache::WritecacheRole::Cached(_))
            ) {
                return Cell::List(vec!["writecache".into()]);
            }
            if matches!(
                c.integ_role(r),
                Some(crate::integrity::IntegrityRole::Image(_))
            ) {
                return Cell::List(vec!["integrity".into()]);
            }
            if let Some(rs) = c.raid_top(r) {
                // A RAID LV's target (`mirror` for the old mirror target),
                // after `integrity` when its images have it.
                let mut m = Vec::new();
                if c.raid_integrity(r).is_some() {
                    m.push("integrity".to_owned());
                }
                m.push(if rs.level == lvm_meta::raid::RaidLevel::Mirror {
                    "mirror".to_owned()
                } else {
                    "raid".to_owned()
                });
                return Cell::List(m);
            }
            if matches!(
                c.cache_role(r),
                Some(crate::cache::CacheRole::Cached(_) | crate::cache::CacheRole::Pool(_))
            ) {
                return Cell::List(vec!["cache".into()]);
            }
            match c.thin_role(r) {
                Some(thin::ThinRole::Pool(_)) => return Cell::List(vec!["thin-pool".into()]),
                Some(thin::ThinRole::Thin(_)) => {
                    return Cell::List(vec!["thin".into(), "thin-pool".into()])
                }
                _ => {}
            }
            let snap = match (c.vg(r), r.lv) {
                (Some(v), Some(i)) => cow_of(&v.vg, i).is_some() || is_origin(&v.vg, i).0,
                _ => false,
            };
            Cell::List(if snap {
                vec!["snapshot".into()]
            } else {
                Vec::new()
            })
        }),
        // A VDO pool's settings, on the pool's segment and its volume's.
        g("vdo_compression", |c, r| vdo_flag(c, r, |p| p.compression)),
        g("vdo_deduplication", |c, r| {
            vdo_flag(c, r, |p| p.deduplication)
        }),
        g("vdo_use_metadata_hints", |c, r| {
            vdo_flag(c, r, |p| p.metadata_hints)
        }),
        g("vdo_use_sparse_index", |c, r| {
            vdo_flag(c, r, |p| p.sparse_index)
        }),
        g("vdo_minimum_io_size", |c, r| {
            vdo_num(c, r, |p| p.minimum_io_size)
        }),
        g("vdo_block_map_era_length", |c, r| {
            vdo_num(c, r, |p| p.block_map_era_length)
        }),
        g("vdo_max_discard", |c, r| vdo_num(c, r, |p| p.max_discard)),
        g("vdo_ack_threads", |c, r| vdo_num(c, r, |p| p.threads.ack)),
        g("vdo_bio_threads", |c, r| vdo_num(c, r, |p| p.threads.bio)),
        g("vdo_bio_rotation", |c, r| {
            vdo_num(c, r, |p| p.threads.bio_rotation)
        }),
        g("vdo_cpu_threads", |c, r| vdo_num(c, r, |p| p.threads.cpu)),
        g("vdo_hash_zone_threads", |c, r| {
            vdo_num(c, r, |p| p.threads.hash_zone)
        }),
        g("vdo_logical_threads", |c, r| {
            vdo_num(c, r, |p| p.threads.logical)
        }),
        g("vdo_physical_threads", |c, r| {
            vdo_num(c, r, |p| p.threads.physical)
        }),
        // Sizes in sectors: the header as written, the others from MiB.
        g("vdo_header_size", |c, r| vdo_size(c, r, |p| p.header_size)),
        g("vdo_block_map_cache_size", |c, r| {
            vdo_size(c, r, |p| p.block_map_cache_size_mb.saturating_mul(2048))
        }),
        g("vdo_index_memory_size", |c, r| {
            vdo_size(c, r, |p| p.index_memory_size_mb.saturating_mul(2048))
        }),
        g("vdo_slab_size", |c, r| {
            vdo_size(c, r, |p| p.slab_size_mb.saturating_mul(2048))
        }),
        g("vdo_write_policy", |c, r| {
            s(c.vdo_pool(r)
                .map_or(String::new(), |p| p.write_policy_name().to_owned()))
        }),
        g("lv_historical", |_, _| Cell::Bin(Some(false), "historical")),
        g("lv_permissions", |c, r| {
            s(match c.lv(r) {
                None => "",
                Some(_) if !c.lv_status(r, "WRITE") => "read-only",
                Some(_) if c.lv_active(r) => "writeable",
                Some(_) => "unknown",
            })
        }),
        g("vg_permissions", |c, r| {
            s(match c.vg(r) {
                Some(v) if v.vg.status.iter().any(|x| x == "WRITE") => "writeable",
                _ => "read-only",
            })
        }),
        g("vg_extendable", |c, r| {
            Cell::Bin(Some(c.vg_status(r, "RESIZEABLE")), "extendable")
        }),
        g("vg_exported", |c, r| {
            Cell::Bin(Some(c.vg_status(r, "EXPORTED")), "exported")
        }),
        g("vg_autoactivation", |c, r| {
            Cell::Bin(
                Some(
                    !c.vg(r)
                        .is_some_and(|v| v.vg.flags.iter().any(|f| f == "NOAUTOACTIVATE")),
                ),
                "enabled",
            )
        }),
        g("vg_partial", |c, r| {
            Cell::Bin(Some(c.vg(r).is_some_and(|v| v.partial())), "partial")
        }),
        g("vg_allocation_policy", |c, r| {
            s(c.vg(r).map_or("unknown".to_owned(), |v| {
                v.vg.allocation_policy
                    .clone()
                    .unwrap_or_else(|| "normal".into())
            }))
        }),
        g("vg_clustered", |c, r| {
            Cell::Bin(Some(c.vg_status(r, "CLUSTERED")), "clustered")
        }),
        g("vg_shared", |c, r| {
            Cell::Bin(
                Some(c.vg(r).is_some_and(|v| v.vg.lock_type.is_some())),
                "shared",
            )
        }),
        g("vg_sysid", |c, r| {
            s(c.vg(r)
                .and_then(|v| v.vg.system_id.clone())
                .unwrap_or_default())
        }),
        g("vg_systemid", |c, r| {
            s(c.vg(r)
                .and_then(|v| v.vg.system_id.clone())
                .unwrap_or_default())
        }),
        g("vg_lock_type", |c, r| {
            s(c.vg(r)
                .and_then(|v| v.vg.lock_type.clone())
                .unwrap_or_default())
        }),
        g("vg_lock_args", |c, r| {
            s(c.vg(r)
                .and_then(|v| v.vg.lock_args.clone())
                .unwrap_or_default())
        }),
        g("vg_profile", |c, r| {
            s(c.vg(r)
                .and_then(|v| v.vg.profile.clone())
                .unwrap_or_default())
        }),
        g("vg_missing_pv_count", |c, r| {
            Cell::Num(c.vg(r).map_or(0, |v| {
                v.pv_devices.iter().filter(|d| d.is_none()).count() as u64
            }))
        }),
        g("pv_major", |_, _| Cell::Signed(-1)),
        g("pv_minor", |_, _| Cell::Signed(-1)),
        g("pv_ext_vsn", |c, r| {
            Cell::Num(
                c.dev(r)
                    .and_then(|d| d.label.as_ref())
                    .and_then(|l| l.pv_header.extension.as_ref())
                    .map_or(0, |e| u64::from(e.version)),
            )
        }),
        g("pv_allocatable", |c, r| {
            Cell::Bin(
                Some(
                    c.vg_pv(r)
                        .is_some_and(|(_, p)| p.status.iter().any(|x| x == "ALLOCATABLE")),
                ),
                "allocatable",
            )
        }),
        g("pv_exported", |c, r| {
            Cell::Bin(Some(c.vg_status(r, "EXPORTED")), "exported")
        }),
        g("pv_missing", |c, r| {
            Cell::Bin(
                Some(c.vg_pv(r).is_some_and(|(_, p)| {
                    r.dev.is_none() || p.flags.iter().any(|f| f == "MISSING")
                })),
                "missing",
            )
        }),
        g("pv_ba_start", |c, r| Cell::Size(c.bootloader_area(r).0)),
        g("pv_ba_size", |c, r| Cell::Size(c.bootloader_area(r).1)),
        g("pv_in_use", |c, r| {
            Cell::Bin(Some(c.vg_pv(r).is_some() || c.used_orphan(r)), "used")
        }),
        g("pv_duplicate", |_, _| Cell::Bin(Some(false), "duplicate")),
        g("pv_device_id", |c, r| {
            s(c.vg_pv(r)
                .and_then(|(_, p)| p.device_id.clone())
                .unwrap_or_default())
        }),
        g("pv_device_id_type", |c, r| {
            s(c.vg_pv(r)
                .and_then(|(_, p)| p.device_id_type.clone())
                .unwrap_or_default())
        }),
        g("data_stripes", |c, r| {
            if let Some(rs) = c.raid_seg(r) {
                return Cell::Num(crate::raid::data_stripes(&rs));
            }
            if matches!(
                c.cache_role(r),
                Some(crate::cache::CacheRole::Cached(_) | crate::cache::CacheRole::Pool(_))
            ) {
                return Cell::Num(1);
            }
            if c.area_lv(r).is_some() {
                return Cell::Num(1);
            }
            Cell::Num(c.seg(r).map_or(0, |(_, _, sg)| seg_area_count(sg)))
        }),
        g("data_copies", |c, r| {
            if let Some(rs) = c.raid_seg(r) {
                return Cell::Num(crate::raid::data_copies(&rs));
            }
            Cell::Num(u64::from(c.seg(r).is_some()))
        }),
        g("parity_chunks", |c, r| {
            match c.raid_seg(r).map(|rs| crate::raid::parity_chunks(&rs)) {
                Some(n) if n > 0 => Cell::Num(n),
                _ => Cell::Blank,
            }
        }),
        g("metadata_devices", |c, r| {
            s(c.raid_meta_areas(r, false).join(","))
        }),
        g("seg_metadata_le_ranges", |c, r| {
            s(c.raid_meta_areas(r, true).join(","))
        }),
        g("region_size", |c, r| {
            Cell::Size(c.raid_seg(r).and_then(|s| s.region_size).map_or(0, |z| z.0))
        }),
        g("seg_le_ranges", |c, r| {
            if let Some(ranges) = c.raid_le_ranges(r) {
                return s(ranges);
            }
            if let Some(ranges) = c.pool_le_ranges(r) {
                return s(ranges);
            }
            if let Some(ranges) = c.cache_le_ranges(r) {
                return s(ranges);
            }
            if let (Some(o), Some(v)) = (c.area_lv(r), c.vg(r)) {
                let last = v.vg.lv_extents(&v.vg.lvs[o]).saturating_sub(1);
                return s(format!("{}:0-{last}", c.shown_name(r, o, false)));
            }
            s(c.seg_areas(r, true).replace(' ', ","))
        }),
        // Thin pools and thin LVs.
        g("data_lv", |c, r| {
            if let Some(crate::vdo::VdoRole::Pool(p)) = c.vdo_role(r) {
                return s(c.shown_name(r, p.data, false));
            }
            s(c.thin_link(r, ThinLink::Data, false))
        }),
        g("data_lv_uuid", |c, r| {
            if let Some(crate::vdo::VdoRole::Pool(p)) = c.vdo_role(r) {
                return s(c.shown_name(r, p.data, true));
            }
            s(c.thin_link(r, ThinLink::Data, true))
        }),
        g("metadata_lv", |c, r| {
            s(c.thin_link(r, ThinLink::Metadata, false))
        }),
        g("metadata_lv_uuid", |c, r| {
            s(c.thin_link(r, ThinLink::Metadata, true))
        }),
        g("pool_lv_uuid", |c, r| {
            if let Some(crate::vdo::VdoRole::Volume(v)) = c.vdo_role(r) {
                return s(c.shown_name(r, v.pool, true));
            }
            if let Some(l) = c.cachevol_link(r, true) {
                return s(l);
            }
            s(c.thin_link(r, ThinLink::Pool, true))
        }),
        g("lv_parent", |c, r| {
            // A RAID or mirror sub-LV's parent is the RAID LV (by name,
            // bracketed or not).
            if let (Some(v), Some(role)) = (c.vg(r), c.raid_role(r)) {
                use crate::raid::RaidRole as R;
                if let R::Image { top, .. } | R::Meta(top) | R::Log(top) = *role {
                    return s(v.vg.lvs[top].name.clone());
                }
            }
            s(c.thin_link(r, ThinLink::Parent, false))
        }),
        // An active pool's status line: the discard mode the kernel took
        // from the table, and whether the metadata asks for a check.
        g("kernel_discards", |c, r| match c.thin_role(r) {
            Some(thin::ThinRole::Pool(p)) if c.lv_active(r) => s(p.discards.as_str()),
            _ => s(""),
        }),
        g("lv_check_needed", |c, r| match c.thin_role(r) {
            Some(thin::ThinRole::Pool(_)) if c.lv_active(r) => {
                Cell::Bin(c.pool_needs_check(r), "check needed")
            }
            _ => Cell::Bin(None, ""),
        }),
        g("lv_when_full", |c, r| {
            s(match c.thin_role(r) {
                Some(thin::ThinRole::Pool(p)) if p.error_when_full => "error",
                Some(thin::ThinRole::Pool(_)) => "queue",
                _ => "",
            })
        }),
        g("lv_metadata_size", |c, r| match (c.vg(r), c.thin_role(r)) {
            (Some(v), None) if c.cache_metadata_lv(r).is_some() => {
                let m = c.cache_metadata_lv(r).unwrap_or(0);
                Cell::Size(v.vg.lv_extents(&v.vg.lvs[m]) * v.vg.extent_size.0)
            }
            (Some(v), Some(thin::ThinRole::Pool(p))) => {
                Cell::Size(v.vg.lv_extents(&v.vg.lvs[p.metadata]) * v.vg.extent_size.0)
            }
            _ => Cell::Blank,
        }),
        g("thin_id", |c, r| match c.thin_role(r) {
            Some(thin::ThinRole::Thin(t)) => Cell::Num(t.device_id),
            _ => Cell::Blank,
        }),
        g("transaction_id", |c, r| match c.thin_role(r) {
            Some(thin::ThinRole::Thin(t)) => Cell::Num(t.transaction_id),
            Some(thin::ThinRole::Pool(p)) => Cell::Num(p.transaction_id),
            _ => Cell::Blank,
        }),
        g("thin_count", |c, r| match (c.vg(r), r.lv, c.thin_role(r)) {
            (Some(v), Some(i), Some(thin::ThinRole::Pool(_))) => {
                Cell::Num(thin::thins_of(&v.vg, i).len() as u64)
            }
            _ => Cell::Blank,
        }),
        g("discards", |c, r| {
            s(c.thin_pool_seg(r).map_or(String::new(), |p| p.discards))
        }),
        g("zero", |c, r| match c.thin_pool_seg(r) {
            Some(p) => Cell::Bin(Some(p.zero_new_blocks), "zero"),
            None => Cell::Bin(None, ""),
        }),
        g("sync_percent", |c, r| c.sync_percent(r)),
        // lvm2 names an LV with an extent on a missing PV partial, active
        // or not; its other words need the kernel's status.
        g("lv_health_status", |c, r| {
            s(
                if r.lv.is_some() && c.lv_attr(r).chars().nth(8) == Some('p') {
                    "partial"
                } else {
                    ""
                },
            )
        }),
        // Cached LVs and cache pools: the pool's keys.
        g("cache_settings", |c, r| {
            Cell::List(match c.wc_role(r) {
                Some(crate::writecache::WritecacheRole::Cached(w)) => w.settings.clone(),
                _ => Vec::new(),
            })
        }),
        g("cache_mode", |c, r| {
            s(c.cache_pool_seg(r)
                .and_then(|p| p.cache_mode)
                .unwrap_or_default())
        }),
        g("cache_policy", |c, r| {
            s(c.cache_pool_seg(r)
                .and_then(|p| p.policy)
                .unwrap_or_default())
        }),
        g("cache_metadata_format", |c, r| match c.cache_pool_seg(r) {
            Some(p) => Cell::Num(p.metadata_format.unwrap_or(0)),
            None => Cell::Blank,
        }),
    ];

/// Which LV a thin link field names.
#[derive(Clone, Copy)]
enum ThinLink {
    /// A thin LV's pool.
    Pool,
    /// A pool's data LV.
    Data,
    /// A pool's metadata LV.
    Metadata,
    /// A pool component's pool.
    Parent,
}

/// Tags as lvm2 reports them: sorted (byte order), whatever their order in
/// the metadata, which keeps the order they were added in.
fn sorted(tags: &[String]) -> Vec<String> {
    let mut v = tags.to_vec();
    v.sort_unstable();
    v
}

/// A list field's value from lvm2's comma-joined form.
fn list_of<'b>(text: &str) -> Cell<'b> {
    Cell::List(
        text.split(',')
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect(),
    )
}

/// A VDO pool's switch: blank on segments that are not VDO.
fn vdo_flag<'b>(c: &Ctx, r: &Row, f: fn(&crate::vdo::VdoPoolSeg) -> bool) -> Cell<'b> {
    match c.vdo_pool(r) {
        Some(p) => Cell::Bin(Some(f(&p)), "enabled"),
        None => Cell::Blank,
    }
}

/// A VDO pool's number: blank on segments that are not VDO.
fn vdo_num<'b>(c: &Ctx, r: &Row, f: fn(&crate::vdo::VdoPoolSeg) -> u64) -> Cell<'b> {
    c.vdo_pool(r).map_or(Cell::Blank, |p| Cell::Num(f(&p)))
}

/// A VDO pool's size in sectors: blank on segments that are not VDO.
fn vdo_size<'b>(c: &Ctx, r: &Row, f: fn(&crate::vdo::VdoPoolSeg) -> u64) -> Cell<'b> {
    c.vdo_pool(r).map_or(Cell::Blank, |p| Cell::Size(f(&p)))
}

/// What lvm2 prints, with activation off, for the fields an image cannot
/// answer (kernel state, and features lvmsim's images do not have: RAID,
/// cache, thin, VDO, writecache, integrity).
fn constant_getter(name: &str) -> Getter {
    use crate::fields::FieldType as T;
    let ty = crate::fields::by_name(name).map_or(T::Str, |d| d.ty);
    match name {
        // Kernel state lvm2 reports as unknown without device-mapper.
        "lv_check_needed" | "zero" => |_, _| Cell::Bin(None, ""),
        "raidintegrityblocksize"
        | "writecache_block_size"
        | "lv_kernel_major"
        | "lv_kernel_minor" => |_, _| Cell::Signed(-1),
        "lv_kernel_read_ahead" => |_, _| Cell::MinusOne,
        _ => match ty {
            T::Bin if name.starts_with("lv_") => |_, _| Cell::Bin(Some(false), ""),
            T::Str => |_, _| s(""),
            T::StrList => |_, _| Cell::List(Vec::new()),
            T::Pct => |_, _| Cell::Pct(None),
            T::Time => |_, _| Cell::Time(None),
            _ => |_, _| Cell::Blank,
        },
    }
}

fn vg_attr(v: &VgInstance) -> String {
    let g = &v.vg;
    let has = |f: &str| g.status.iter().any(|s| s == f);
    let mut a = String::new();
    a.push(if has("WRITE") { 'w' } else { 'r' });
    a.push(if has("RESIZEABLE") { 'z' } else { '-' });
    a.push(if has("EXPORTED") { 'x' } else { '-' });
    a.push(if v.partial() { 'p' } else { '-' });
    a.push(alloc_char(
        g.allocation_policy.as_deref().unwrap_or("normal"),
    ));
    a.push(if has("CLUSTERED") {
        'c'
    } else if has("SHARED") {
        's'
    } else {
        '-'
    });
    a
}

/// `lv_role` of an LV with a thin role.
fn thin_roles(vg: &Vg, i: usize, role: &thin::ThinRole) -> String {
    match role {
        thin::ThinRole::Pool(_) => "private".into(),
        thin::ThinRole::Data(_) => "private,thin,pool,data".into(),
        thin::ThinRole::Metadata(_) => "private,thin,pool,metadata".into(),
        thin::ThinRole::Spare => "private,pool,spare".into(),
        thin::ThinRole::Thin(t) => {
            let mut roles = vec![if vg.lv_visible(i) {
                "public"
            } else {
                "private"
            }];
            let snaps = thin::snapshots_of(vg, i).len();
            if snaps > 0 {
                roles.push("origin");
                roles.push("thinorigin");
                if snaps > 1 {
                    roles.push("multithinorigin");
                }
            }
            if t.origin.is_some() {
                roles.push("snapshot");
                roles.push("thinsnapshot");
            }
            roles.join(",")
        }
    }
}

fn alloc_char(p: &str) -> char {
    match p {
        "contiguous" => 'c',
        "cling" => 'l',
        "cling_by_tags" => 't',
        "normal" => 'n',
        "anywhere" => 'a',
        "inherit" => 'i',
        _ => '-',
    }
}

/// The snapshot whose COW is LV `i`: (origin index, chunk, merging).
fn cow_of(vg: &Vg, i: usize) -> Option<(usize, u64, bool)> {
    vg.roles
        .get(i)?
        .cow_of
        .map(|c| (c.origin, c.chunk_size.0, c.merging))
}

/// Whether LV `i` is an origin, and whether a snapshot merges into it.
fn is_origin(vg: &Vg, i: usize) -> (bool, bool) {
    vg.roles.get(i).map_or((false, false), |r| {
        (!r.origin_of.is_empty(), r.merging_origin)
    })
}

/// The extents each data image of RAID or mirror segment `sg` gives it:
/// (image LV, first LE, last LE). A mirror leg spans the segment; a RAID
/// image is taken whole. `seg_le_ranges`, `seg_pe_ranges` and `devices`
/// all name these.
fn image_le_ranges<'a>(
    v: &'a Vg,
    sg: &'a lvm_meta::model::Segment,
    rs: &'a lvm_meta::raid::RaidSeg,
) -> impl Iterator<Item = (usize, u64, u64)> + 'a {
    rs.images.iter().map(move |im| {
        let len = if rs.level == lvm_meta::raid::RaidLevel::Mirror {
            u64::from(sg.extent_count)
        } else {
            v.lv_extents(&v.lvs[im.data])
        };
        let first = u64::from(im.le);
        (im.data, first, (first + len).saturating_sub(1))
    })
}

fn seg_area_count(sg: &lvm_meta::model::Segment) -> u64 {
    match &sg.kind {
        SegmentKind::Striped { stripes, .. } => stripes.len() as u64,
        // A thin pool's one area is its data LV.
        SegmentKind::Unknown { .. } if sg.type_name == "thin-pool" => 1,
        _ => 0,
    }
}

fn mda_free(m: &lvm_meta::scan::MdaState) -> u64 {
    let Some(h) = &m.header else { return 0 };
    let max = ((h.size.saturating_sub(512)) / 2).saturating_sub(512);
    let used = if m.committed.is_some() {
        h.raw_locns[0].size
    } else {
        0
    };
    if used >= max {
        0
    } else {
        (max - used) / 512
    }
}

impl Ctx<'_> {
    #[inline]
    fn lv_status(&self, r: &Row, flag: &str) -> bool {
        self.lv(r)
            .is_some_and(|(_, l)| l.status.iter().any(|x| x == flag))
    }
    #[inline]
    fn lv_flag(&self, r: &Row, flag: &str) -> bool {
        self.lv(r)
            .is_some_and(|(_, l)| l.flags.iter().any(|x| x == flag))
    }
    #[inline]
    fn vg_status(&self, r: &Row, flag: &str) -> bool {
        self.vg(r)
            .is_some_and(|v| v.vg.status.iter().any(|x| x == flag))
    }
    /// Whether the row's LV is active: every LV under `--active`, the LVs
    /// whose device a running kernel has loaded under `--kernel`. A
    /// merging snapshot has no device of its own: it is active with its
    /// origin, as lvm2 asks the origin's device about it.
    #[inline]
    fn lv_active(&self, r: &Row) -> bool {
        // Neither `--active` nor a running kernel: nothing is active (the
        // usual case, answered before any role is looked up).
        if self.opts.loaded.is_none() && !self.opts.active {
            return false;
        }
        // lvm2 never activates the pool metadata spare.
        if matches!(self.thin_role(r), Some(thin::ThinRole::Spare)) {
            return false;
        }
        let Some(loaded) = &self.opts.loaded else {
            return self.opts.active;
        };
        let (Some(v), Some(i)) = (self.vg(r), r.lv) else {
            return false;
        };
        let i = match cow_of(&v.vg, i) {
            Some((o, _, true)) => o,
            _ => i,
        };
        let lv = &v.vg.lvs[i].name;
        loaded.iter().any(|(g, l)| *g == v.vg.name && l == lv)
    }
    /// Whether a running kernel holds the row's LV's device suspended.
    fn lv_suspended(&self, r: &Row) -> bool {
        let (Some(v), Some(i)) = (self.vg(r), r.lv) else {
            return false;
        };
        let lv = &v.vg.lvs[i].name;
        self.opts
            .suspended
            .iter()
            .any(|(g, l)| *g == v.vg.name && l == lv)
    }
    /// Whether the row's LV is active: unknown without device-mapper,
    /// otherwise as [`Self::lv_active`] says.
    fn active_state(&self, r: &Row) -> Option<bool> {
        if self.lv_active(r) {
            Some(true)
        } else if self.opts.driver_unknown {
            None
        } else {
            Some(false)
        }
    }
    /// Whether the LV's device exists: `Some(true)` when it is active,
    /// unknown otherwise (lvm2 has no device to ask).
    fn device_state(&self, r: &Row) -> Option<bool> {
        self.active_state(r).filter(|a| *a)
    }
    /// Whether a snapshot (or the snapshot merging into an origin) is
    /// invalid, where lvm2 knows: under `--active`, for snapshots and
    /// merging origins; `None` otherwise ("unknown").
    fn snapshot_state(&self, r: &Row) -> Option<bool> {
        let (Some(g), Some(i), Some(v)) = (r.vg, r.lv, self.vg(r)) else {
            return None;
        };
        let cow = cow_of(&v.vg, i).is_some();
        if !self.lv_active(r) || !(cow || is_origin(&v.vg, i).1) {
            return None;
        }
        Some(cow && self.kernel.status(self.sys, g, i) == Some(crate::active::SnapStatus::Invalid))
    }
    fn lv_merging(&self, r: &Row) -> bool {
        match (self.vg(r), r.lv) {
            (Some(v), Some(i)) => {
                is_origin(&v.vg, i).1 || cow_of(&v.vg, i).is_some_and(|(_, _, m)| m)
            }
            _ => false,
        }
    }
    /// A snapshot's origin (its only ancestor without thin volumes).
    /// The VG's historical LVs and chains.
    fn lineage(&self, vi: usize) -> &crate::lineage::Lineage {
        self.lineages[vi].get_or_init(|| crate::lineage::Lineage::of(&self.sys.vgs[vi].vg))
    }
    /// lv_ancestors (`up`) or lv_descendants, `full`: through historical
    /// LVs (named only under `-H`), as lvm2 walks the chains.
    fn lineage_names(&self, r: &Row, up: bool, full: bool) -> Vec<String> {
        use crate::lineage::Glv;
        let Some(vi) = r.vg else {
            return Vec::new();
        };
        let g = match (r.lv, r.hist) {
            (Some(li), _) => Glv::Live(li),
            (None, Some(h)) => Glv::Historical(h),
            _ => return Vec::new(),
        };
        let vg = &self.sys.vgs[vi].vg;
        let l = self.lineage(vi);
        if up {
            l.ancestors(vg, g, full, self.opts.history)
        } else {
            l.descendants(vg, g, full, self.opts.history)
        }
    }
    /// The bootloader area from the PV header's extension: (start, size)
    /// in sectors.
    fn bootloader_area(&self, r: &Row) -> (u64, u64) {
        self.dev(r)
            .and_then(|d| d.label.as_ref())
            .and_then(|l| l.pv_header.extension.as_ref())
            .and_then(|e| e.bootloader_areas.first())
            .map_or((0, 0), |a| (a.offset / 512, a.size / 512))
    }
    #[inline]
    fn dev(&self, r: &Row) -> Option<&lvm_meta::scan::Device> {
        r.dev.map(|d| &self.sys.devices[d])
    }
    #[inline]
    fn vg(&self, r: &Row) -> Option<&VgInstance> {
        r.vg.map(|v| &self.sys.vgs[v])
    }
    #[inline]
    fn vg_pv(&self, r: &Row) -> Option<(&Vg, &lvm_meta::model::Pv)> {
        let v = self.vg(r)?;
        Some((&v.vg, &v.vg.pvs[r.pv?]))
    }
    fn is_pv(&self, r: &Row) -> bool {
        r.pv.is_some() || self.dev(r).is_some_and(|d| d.label.is_some())
    }
    fn pv_uuid(&self, r: &Row) -> String {
        if let Some((_, p)) = self.vg_pv(r) {
            return p.id.clone();
        }
        self.dev(r)
            .and_then(|d| d.label.as_ref())
            .map_or(String::new(), |l| l.pv_header.uuid_string())
    }
    fn pv_attr(&self, r: &Row) -> String {
        let mut a = String::new();
        match self.vg_pv(r) {
            Some((vg, p)) => {
                a.push(if p.status.iter().any(|s| s == "ALLOCATABLE") {
                    'a'
                } else {
                    'u'
                });
                a.push(if vg.status.iter().any(|s| s == "EXPORTED") {
                    'x'
                } else {
                    '-'
                });
                a.push(
                    if r.dev.is_none() || p.flags.iter().any(|f| f == "MISSING") {
                        'm'
                    } else {
                        '-'
                    },
                );
            }
            // Marked as used by a VG whose metadata was not found (lvm2
            // shows it as used, in VG "[unknown]", with nothing free).
            None if self.used_orphan(r) => a.push_str("u--"),
            None => {
                // An orphan: in use by no VG.
                a.push_str("---");
            }
        }
        a
    }
    fn pe_start(&self, r: &Row) -> u64 {
        if let Some((_, p)) = self.vg_pv(r) {
            return p.pe_start.0;
        }
        self.dev(r)
            .and_then(|d| d.label.as_ref())
            .and_then(|l| l.pv_header.pe_start_bytes())
            .map_or(0, |b| b / 512)
    }
    fn pv_size(&self, r: &Row) -> u64 {
        if let Some((vg, p)) = self.vg_pv(r) {
            if p.pe_count > 0 {
                return u64::from(p.pe_count) * vg.extent_size.0;
            }
            return p.dev_size.map_or(0, |s| s.0).saturating_sub(p.pe_start.0);
        }
        // An orphan PV reports the whole device (lvm2 `pv_size_field`
        // with no PEs gives `pv->size`, the device size).
        self.dev(r).map_or(0, |d| d.image.size / 512)
    }
    fn pv_alloc(&self, r: &Row) -> u64 {
        match (self.vg(r), r.pv) {
            (Some(v), Some(p)) => v.vg.pv_used_extents(p),
            _ => 0,
        }
    }
    fn pv_free(&self, r: &Row) -> u64 {
        match (self.vg(r), r.pv) {
            (Some(v), Some(p)) => v.vg.pv_free_extents(p) * v.vg.extent_size.0,
            _ if self.used_orphan(r) => 0,
            _ => self.pv_size(r),
        }
    }
    /// A PV in no VG whose label says a VG uses it (`PV_EXT_USED`): the VG's
    /// metadata is missing or damaged.
    fn used_orphan(&self, r: &Row) -> bool {
        self.vg_pv(r).is_none()
            && self
                .dev(r)
                .and_then(|d| d.label.as_ref())
                .and_then(|l| l.pv_header.extension.as_ref())
                .is_some_and(|e| e.flags & lvm_meta::pv_header::PV_EXT_USED != 0)
    }
    fn pv_mda_size(&self, r: &Row) -> u64 {
        self.dev(r)
            .and_then(|d| d.mdas.iter().map(|m| m.locn.size / 512).min())
            .unwrap_or(0)
    }
    fn pv_mda_free(&self, r: &Row) -> u64 {
        self.dev(r)
            .and_then(|d| d.mdas.iter().map(mda_free).min())
            .unwrap_or(0)
    }
    fn vg_mdas(&self, r: &Row) -> Vec<&lvm_meta::scan::MdaState> {
        let Some(v) = self.vg(r) else {
            return Vec::new();
        };
        v.pv_devices
            .iter()
            .flatten()
            .flat_map(|&d| self.sys.devices[d].mdas.iter())
            .collect()
    }
    /// The LV's thin role, if any.
    #[inline(always)]
    fn thin_role(&self, r: &Row) -> Option<&thin::ThinRole> {
        let (t, i) = self.roles(r)?;
        entry(&t.thin, i)
    }
    /// The LV's part in a RAID or mirror LV, if any.
    #[inline(always)]
    fn raid_role(&self, r: &Row) -> Option<&crate::raid::RaidRole> {
        let (t, i) = self.roles(r)?;
        entry(&t.raid, i)
    }
    /// The RAID or mirror segment of the row's LV, if it is a RAID or
    /// mirror LV.
    #[inline]
    fn raid_top(&self, r: &Row) -> Option<&lvm_meta::raid::RaidSeg> {
        match self.raid_role(r)? {
            crate::raid::RaidRole::Top(s) => Some(s),
            _ => None,
        }
    }
    /// The LV's cache role, if any.
    #[inline(always)]
    fn cache_role(&self, r: &Row) -> Option<&crate::cache::CacheRole> {
        let (t, i) = self.roles(r)?;
        entry(&t.cache, i)
    }
    /// The row's VG's role tables ([`Roles`]) and its LV, for an LV row.
    /// Asked several times a row, so inlined, the tables built out of line.
    #[inline(always)]
    fn roles(&self, r: &Row) -> Option<(&Roles, usize)> {
        let (v, i) = (r.vg?, r.lv?);
        let t = match self.roles.get(v)?.get() {
            Some(t) => t,
            None => self.build_roles(v),
        };
        Some((t, i))
    }
    #[cold]
    #[inline(never)]
    fn build_roles(&self, v: usize) -> &Roles {
        self.roles[v].get_or_init(|| Roles::of(&self.sys.vgs[v].vg))
    }
    /// The integrity settings a row reports: an integrity image's own, or
    /// a RAID LV's first image's (lvm2 shows them on the RAID LV too).
    fn integrity_of(&self, r: &Row) -> Option<crate::integrity::IntegritySeg> {
        match self.integ_role(r) {
            Some(crate::integrity::IntegrityRole::Image(i)) => Some(i.clone()),
            Some(_) => None,
            None => self.raid_integrity(r),
        }
    }
    /// A RAID LV's first image's integrity segment, if its images have
    /// integrity.
    fn raid_integrity(&self, r: &Row) -> Option<crate::integrity::IntegritySeg> {
        let first = self.raid_top(r)?.images.first()?.data;
        crate::integrity::integrity_seg(&self.vg(r)?.vg, first)
    }
    /// `seg_le_ranges` of a RAID or mirror LV: each data image named as
    /// `lvs` shows it, over the extents the segment uses.
    fn raid_le_ranges(&self, r: &Row) -> Option<String> {
        let rs = self.raid_seg(r)?;
        let (v, _, sg) = self.seg(r)?;
        let mut out = String::new();
        for (k, (lv, first, last)) in image_le_ranges(v, sg, &rs).enumerate() {
            if k > 0 {
                out.push(',');
            }
            out.push_str(&self.shown_name(r, lv, false));
            let _ = write!(out, ":{first}-{last}");
        }
        Some(out)
    }
    /// A RAID LV's metadata images (`_rmeta_N`): `NAME(0)` each
    /// (`metadata_devices`), or with `ranges` `[NAME]:0-LAST` named as
    /// `lvs` shows them (`seg_metadata_le_ranges`); empty for other
    /// segments.
    fn raid_meta_areas(&self, r: &Row, ranges: bool) -> Vec<String> {
        let (Some(rs), Some((v, _, _))) = (self.raid_seg(r), self.seg(r)) else {
            return Vec::new();
        };
        rs.images
            .iter()
            .filter_map(|im| im.meta)
            .map(|m| {
                if ranges {
                    let last = v.lv_extents(&v.lvs[m]).saturating_sub(1);
                    format!("{}:0-{last}", self.shown_name(r, m, false))
                } else {
                    format!("{}(0)", v.lvs[m].name)
                }
            })
            .collect()
    }
    /// The LV's VDO role, if any.
    #[inline(always)]
    fn vdo_role(&self, r: &Row) -> Option<&crate::vdo::VdoRole> {
        let (t, i) = self.roles(r)?;
        entry(&t.vdo, i)
    }
    /// The VDO pool whose settings the row's segment reports: a pool's
    /// own, or a VDO volume's pool's (lvm2 shows them on both).
    fn vdo_pool(&self, r: &Row) -> Option<crate::vdo::VdoPoolSeg> {
        r.seg?;
        match self.vdo_role(r)? {
            crate::vdo::VdoRole::Pool(p) => Some(p.clone()),
            crate::vdo::VdoRole::Volume(v) => crate::vdo::pool_seg(&self.vg(r)?.vg, v.pool),
            crate::vdo::VdoRole::Data(_) => None,
        }
    }
    /// The one LV a segment maps, from its first extent: the origin under
    /// a writecache or integrity image ([`Self::layer_origin`]), a VDO
    /// pool's data LV, a VDO volume's pool.
    fn area_lv(&self, r: &Row) -> Option<usize> {
        if let Some(o) = self.layer_origin(r) {
            return Some(o);
        }
        match self.vdo_role(r)? {
            crate::vdo::VdoRole::Pool(p) => Some(p.data),
            crate::vdo::VdoRole::Volume(v) => Some(v.pool),
            crate::vdo::VdoRole::Data(_) => None,
        }
    }
    /// The LV's writecache role, if any.
    #[inline(always)]
    fn wc_role(&self, r: &Row) -> Option<&crate::writecache::WritecacheRole> {
        let (t, i) = self.roles(r)?;
        entry(&t.writecache, i)
    }
    /// The LV's integrity role, if any.
    #[inline(always)]
    fn integ_role(&self, r: &Row) -> Option<&crate::integrity::IntegrityRole> {
        let (t, i) = self.roles(r)?;
        entry(&t.integrity, i)
    }
    /// The LV under a writecache or integrity image (`_wcorig`,
    /// `_iorig`): the origin it reports and the one area of its segment.
    #[inline(always)]
    fn layer_origin(&self, r: &Row) -> Option<usize> {
        if let Some(crate::writecache::WritecacheRole::Cached(w)) = self.wc_role(r) {
            return Some(w.origin);
        }
        match self.integ_role(r)? {
            crate::integrity::IntegrityRole::Image(i) => Some(i.origin),
            _ => None,
        }
    }
    /// LV `lv` named as `lvs` shows it (bracketed when hidden), or its UUID.
    fn shown_name(&self, r: &Row, lv: usize, uuid: bool) -> String {
        let Some(v) = self.vg(r) else {
            return String::new();
        };
        if uuid {
            v.vg.lvs[lv].id.clone()
        } else if v.vg.lv_visible(lv) {
            v.vg.lvs[lv].name.clone()
        } else {
            format!("[{}]", v.vg.lvs[lv].name)
        }
    }
    /// A writecache LV's cachevol, as `pool_lv` (or `pool_lv_uuid`) shows it.
    #[inline(always)]
    fn cachevol_link(&self, r: &Row, uuid: bool) -> Option<String> {
        match self.wc_role(r)? {
            crate::writecache::WritecacheRole::Cached(w) => {
                Some(self.shown_name(r, w.cachevol, uuid))
            }
            _ => None,
        }
    }
    /// The LV a cache link field names: a cached LV's pool or origin, a
    /// pool's data or metadata LV, a pool component's pool; bracketed when
    /// hidden, or its UUID.
    #[inline(always)]
    fn cache_link(&self, r: &Row, link: ThinLink, origin: bool, uuid: bool) -> Option<String> {
        let role = self.cache_role(r)?;
        self.cache_role_link(r, role, link, origin, uuid)
    }
    /// [`Self::cache_link`] of an LV with cache role `role`.
    fn cache_role_link(
        &self,
        r: &Row,
        role: &crate::cache::CacheRole,
        link: ThinLink,
        origin: bool,
        uuid: bool,
    ) -> Option<String> {
        use crate::cache::CacheRole as C;
        let vg = &self.vg(r)?.vg;
        let target = match (link, role) {
            (ThinLink::Pool, C::Cached(c)) if origin => c.origin,
            (ThinLink::Pool, C::Cached(c)) => c.pool,
            (ThinLink::Data, C::Pool(p)) if !origin => p.data,
            (ThinLink::Metadata, C::Pool(p)) if !origin => p.metadata,
            (ThinLink::Parent, C::Data(p) | C::Metadata(p)) if !origin => *p,
            _ => return Some(String::new()),
        };
        Some(if uuid {
            vg.lvs[target].id.clone()
        } else if vg.lv_visible(target) {
            vg.lvs[target].name.clone()
        } else {
            format!("[{}]", vg.lvs[target].name)
        })
    }
    /// A thin LV's thin origin.
    #[inline]
    fn thin_origin(&self, r: &Row) -> Option<usize> {
        match self.thin_role(r)? {
            thin::ThinRole::Thin(t) => t.origin,
            _ => None,
        }
    }
    /// The pool keys that apply to the LV: a pool's own, a thin LV's pool's.
    fn thin_pool_seg(&self, r: &Row) -> Option<thin::PoolSeg> {
        let vg = &self.vg(r)?.vg;
        match self.thin_role(r)? {
            thin::ThinRole::Pool(p) => Some(p.clone()),
            thin::ThinRole::Thin(t) => thin::pool_seg(vg, t.pool),
            _ => None,
        }
    }
    /// The name (bracketed when hidden, as `lvs` shows it; bare for a
    /// component's parent) or the UUID of the LV a link field names;
    /// empty where the field does not apply.
    #[inline(always)]
    fn thin_link(&self, r: &Row, link: ThinLink, uuid: bool) -> String {
        if let Some(l) = self.cache_link(r, link, false, uuid) {
            return l;
        }
        match self.thin_role(r) {
            Some(role) => self.thin_role_link(r, role, link, uuid),
            None => String::new(),
        }
    }
    /// [`Self::thin_link`] of an LV with thin role `role` and no cache role.
    fn thin_role_link(&self, r: &Row, role: &thin::ThinRole, link: ThinLink, uuid: bool) -> String {
        let Some(v) = self.vg(r) else {
            return String::new();
        };
        let vg = &v.vg;
        let target = match (link, role) {
            (ThinLink::Pool, thin::ThinRole::Thin(t)) => t.pool,
            (ThinLink::Data, thin::ThinRole::Pool(p)) => p.data,
            (ThinLink::Metadata, thin::ThinRole::Pool(p)) => p.metadata,
            (ThinLink::Parent, thin::ThinRole::Data(p) | thin::ThinRole::Metadata(p)) => *p,
            _ => return String::new(),
        };
        if uuid {
            vg.lvs[target].id.clone()
        } else if vg.lv_visible(target) || matches!(link, ThinLink::Parent) {
            vg.lvs[target].name.clone()
        } else {
            format!("[{}]", vg.lvs[target].name)
        }
    }
    /// `seg_le_ranges` of a thin pool: its data LV named as `lvs` shows it.
    fn pool_le_ranges(&self, r: &Row) -> Option<String> {
        let v = self.vg(r)?;
        let thin::ThinRole::Pool(p) = self.thin_role(r)? else {
            return None;
        };
        let last = v.vg.lv_extents(&v.vg.lvs[p.data]).saturating_sub(1);
        Some(format!(
            "{}:0-{last}",
            self.thin_link(r, ThinLink::Data, false)
        ))
    }
    /// Data% and Meta% of a pool or thin LV under `--active` (what a fresh
    /// activation reports from the committed metadata); `Some((None,
    /// None))` for a thin LV or pool without `--active` (lvm2 shows no
    /// percentage for an inactive LV), `None` for other LVs.
    #[inline(always)]
    fn thin_percents(&self, r: &Row) -> Option<(Option<i32>, Option<i32>)> {
        match self.thin_role(r)? {
            role @ (thin::ThinRole::Pool(_) | thin::ThinRole::Thin(_)) => {
                self.thin_role_percents(r, role)
            }
            _ => None,
        }
    }
    /// [`Self::thin_percents`] of a pool or thin LV, its role `role`.
    fn thin_role_percents(
        &self,
        r: &Row,
        role: &thin::ThinRole,
    ) -> Option<(Option<i32>, Option<i32>)> {
        let v = self.vg(r)?;
        let i = r.lv?;
        if !self.lv_active(r) {
            return Some((None, None));
        }
        let pvs = self.sys.pv_images(v);
        Some(match role {
            thin::ThinRole::Pool(_) => match thin::pool_percents(&v.vg, i, &pvs) {
                Some((d, m)) => (Some(d), Some(m)),
                None => (None, None),
            },
            _ => (thin::thin_percent(&v.vg, i, &pvs), None),
        })
    }
    /// Whether an active pool's metadata asks for a check (its superblock
    /// flag, which the kernel's status line reports); unknown if the
    /// metadata cannot be read.
    fn pool_needs_check(&self, r: &Row) -> Option<bool> {
        let v = self.vg(r)?;
        let pvs = self.sys.pv_images(v);
        thin::pool_needs_check(&v.vg, r.lv?, &pvs)
    }
    #[inline]
    fn lv(&self, r: &Row) -> Option<(&Vg, &Lv)> {
        let v = self.vg(r)?;
        Some((&v.vg, &v.vg.lvs[r.lv?]))
    }
    /// Whether LV `lv` of VG `vi` is visible ([`Vg::lv_visible`]).
    #[inline]
    fn visible(&self, vi: usize, lv: usize) -> bool {
        let vg = &self.sys.vgs[vi].vg;
        self.visible[vi]
            .get_or_init(|| (0..vg.lvs.len()).map(|i| vg.lv_visible(i)).collect())
            .get(lv)
            .copied()
            .unwrap_or(false)
    }
    fn lv_name(&self, r: &Row) -> Cow<'_, str> {
        match (self.lv(r), r.vg, r.lv) {
            (Some((_, l)), Some(vi), Some(i)) => {
                if self.visible(vi, i) {
                    Cow::Borrowed(&l.name)
                } else {
                    Cow::Owned(format!("[{}]", l.name))
                }
            }
            _ => Cow::Borrowed(""),
        }
    }
    fn lv_size(&self, r: &Row) -> u64 {
        self.lv(r)
            .map_or(0, |(v, l)| v.lv_extents(l) * v.extent_size.0)
    }
    fn origin(&self, r: &Row) -> String {
        if let Some(o) = self.layer_origin(r) {
            return self.shown_name(r, o, false);
        }
        if let Some(o) = self.cache_link(r, ThinLink::Pool, true, false) {
            return o;
        }
        if let (Some(v), Some(_)) = (self.vg(r), self.thin_role(r)) {
            return self
                .thin_origin(r)
                .map_or(String::new(), |o| v.vg.lvs[o].name.clone());
        }
        match (self.vg(r), r.lv) {
            (Some(v), Some(i)) => {
                cow_of(&v.vg, i).map_or(String::new(), |(o, _, _)| v.vg.lvs[o].name.clone())
            }
            _ => String::new(),
        }
    }
    /// lvm2 `lv_origin_size`: a COW's origin size, an origin's own size.
    fn origin_size(&self, r: &Row) -> u64 {
        let (Some(v), Some(i)) = (self.vg(r), r.lv) else {
            return 0;
        };
        let size = |l: usize| v.vg.lv_extents(&v.vg.lvs[l]) * v.vg.extent_size.0;
        match cow_of(&v.vg, i) {
            Some((o, _, _)) => size(o),
            None if is_origin(&v.vg, i).0 => size(i),
            None => 0,
        }
    }
    /// `data_percent` / `snap_percent` of a snapshot or a merging origin
    /// under `--active`; blank otherwise, as for an inactive LV.
    fn snap_percent(&self, r: &Row) -> String {
        match (self.lv_active(r), r.vg, r.lv) {
            (true, Some(g), Some(i)) => self
                .kernel
                .status(self.sys, g, i)
                .map_or(String::new(), crate::active::snapshot_percent),
            _ => String::new(),
        }
    }
    /// Whether the LV's device is open: unknown unless `--active`, then
    /// as [`Options::open`] says.
    fn lv_open(&self, r: &Row) -> Option<bool> {
        let (Some(v), Some(i)) = (self.vg(r), r.lv) else {
            return None;
        };
        let name = (v.vg.name.clone(), v.vg.lvs[i].name.clone());
        // An active pool's data and metadata LVs are held by its -tpool
        // device, and the pool by its active thin LVs (thin-merge).
        let held = match self.thin_role(r) {
            Some(thin::ThinRole::Data(_) | thin::ThinRole::Metadata(_)) => true,
            Some(thin::ThinRole::Pool(_)) => !thin::thins_of(&v.vg, i).is_empty(),
            _ => false,
        };
        self.active_state(r)
            .map(|_| held || self.opts.open.contains(&name))
    }

    fn lv_attr(&self, r: &Row) -> String {
        self.lv_attr_letters(r)
            .map_or(String::new(), |c| c.iter().collect())
    }
    /// `lv_attr`'s ten letters, if the row has an LV.
    fn lv_attr_letters(&self, r: &Row) -> Option<[char; 10]> {
        let (Some(v), Some(i)) = (self.vg(r), r.lv) else {
            return None;
        };
        let vg = &v.vg;
        let lv = &vg.lvs[i];
        // The status flags the letters read, in one pass.
        let (mut write, mut read, mut locked, mut fixed_minor) = (false, false, false, false);
        for s in &lv.status {
            match s.as_str() {
                "WRITE" => write = true,
                "READ" => read = true,
                "LOCKED" => locked = true,
                "FIXED_MINOR" => fixed_minor = true,
                _ => {}
            }
        }
        let has = |f: &str| match f {
            "WRITE" => write,
            "READ" => read,
            "LOCKED" => locked,
            _ => fixed_minor,
        };
        // Asked once: it reads the thin roles and the kernel's list.
        let active = self.lv_active(r);
        let (origin, merging_origin) = is_origin(vg, i);
        let cow = cow_of(vg, i);
        let virt = lv
            .segments
            .iter()
            .any(|s| matches!(s.kind, SegmentKind::Error | SegmentKind::Zero));
        let unknown = lv
            .segments
            .iter()
            .any(|s| matches!(s.kind, SegmentKind::Unknown { .. }));
        // Every role table is read below: looked up once.
        let (roles, _) = self.roles(r)?;
        let thin_role = entry(&roles.thin, i);
        // The ten attribute characters, in place: the roles below
        // change single letters.
        let mut c = ['-'; 10];
        c[0] = match &thin_role {
            Some(thin::ThinRole::Pool(_)) => 't',
            Some(thin::ThinRole::Thin(_)) => 'V',
            Some(thin::ThinRole::Data(_)) => 'T',
            Some(thin::ThinRole::Metadata(_) | thin::ThinRole::Spare) => 'e',
            None if origin => {
                if merging_origin {
                    'O'
                } else {
                    'o'
                }
            }
            None if virt => 'v',
            None => match cow {
                Some((_, _, true)) => 'S',
                Some((_, _, false)) => 's',
                None => '-',
            },
        };
        c[1] = if has("WRITE") {
            'w'
        } else if has("READ") {
            'r'
        } else {
            '-'
        };
        let alloc = alloc_char(lv.allocation_policy_str());
        c[2] = if has("LOCKED") {
            alloc.to_ascii_uppercase()
        } else {
            alloc
        };
        c[3] = if has("FIXED_MINOR") { 'm' } else { '-' };
        if self.opts.driver_unknown {
            (c[4], c[5]) = ('X', 'X');
        } else if active && thin_role == Some(&thin::ThinRole::Spare) {
            // The metadata spare is never activated.
        } else if active {
            // Every LV of an activated VG is active; open if a running
            // kernel says so, and a thin pool's own devices always (its thin
            // LVs use the pool, the pool its data and metadata LVs).
            let invalid = r.vg.and_then(|g| self.kernel.status(self.sys, g, i))
                == Some(crate::active::SnapStatus::Invalid)
                && cow.is_some();
            // lvm2's state letter: suspended `s` (`S` if also invalid).
            c[4] = match (invalid, self.lv_suspended(r)) {
                (true, true) => 'S',
                (true, false) => 'I',
                (false, true) => 's',
                (false, false) => 'a',
            };
            let pool_part = matches!(
                thin_role,
                Some(
                    thin::ThinRole::Pool(_) | thin::ThinRole::Data(_) | thin::ThinRole::Metadata(_)
                )
            );
            if pool_part || self.lv_open(r) == Some(true) {
                c[5] = 'o';
            }
        }
        let thin_target = matches!(
            thin_role,
            Some(thin::ThinRole::Pool(_) | thin::ThinRole::Thin(_))
        );
        c[6] = if thin_target {
            't'
        } else if cow.is_some() || origin {
            's'
        } else if unknown {
            'u'
        } else if virt {
            'v'
        } else {
            '-'
        };
        let zero = match &thin_role {
            Some(thin::ThinRole::Pool(p)) => p.zero_new_blocks,
            Some(thin::ThinRole::Thin(t)) => {
                thin::pool_seg(vg, t.pool).is_some_and(|p| p.zero_new_blocks)
            }
            _ => false,
        };
        c[7] = if zero { 'z' } else { '-' };
        let partial = lv.segments.iter().any(|s| match &s.kind {
            SegmentKind::Striped { stripes, .. } => stripes
                .iter()
                .any(|a| matches!(a, Area::Pv { pv, .. } if v.pv_devices[*pv].is_none())),
            _ => false,
        });
        c[8] = if partial { 'p' } else { '-' };
        if lv.flags.iter().any(|f| f == "ACTIVATION_SKIP") {
            c[9] = 'k';
        }
        if let Some(role) = entry(&roles.cache, i) {
            // Cached LVs, cache pools and their sub-LVs: lvm2's volume
            // type letter, and `C` as target type of the LVs the cache
            // target uses whole (the cached LV, its pool and its origin).
            use crate::cache::CacheRole as C;
            c[0] = match role {
                C::Cached(_) | C::Pool(_) | C::Data(_) => 'C',
                C::Metadata(_) => 'e',
                C::Origin(_) => 'o',
            };
            c[6] = match role {
                C::Cached(_) | C::Pool(_) | C::Origin(_) => 'C',
                C::Data(_) | C::Metadata(_) => '-',
            };
        }
        if let Some(role) = entry(&roles.raid, i) {
            // RAID and mirror LVs: their own volume and target letters;
            // the sub-LVs are open (by the RAID or mirror device) when
            // active; an LV with an image on a missing PV is partial.
            let (kind, target) = crate::raid::attr_letters(vg, i, role);
            c[0] = kind;
            c[6] = target;
            if active && !self.opts.driver_unknown && !matches!(role, crate::raid::RaidRole::Top(_))
            {
                c[5] = 'o';
            }
            if crate::raid::uses_missing(vg, i, &|pv| v.pv_devices[pv].is_none()) {
                c[8] = 'p';
                // The kernel fails a RAID image it cannot reach, and lvm2
                // shows it out of sync (mirror legs' sync is the log's and
                // the kernel's business).
                if active && matches!(role, crate::raid::RaidRole::Image { mirror: false, .. }) {
                    c[0] = 'I';
                }
            }
        }
        if let Some(role) = entry(&roles.writecache, i) {
            // An LV with a writecache and its cachevol: volume type `C`;
            // the origin `o`; all three `C` as target type.
            use crate::writecache::WritecacheRole as W;
            c[0] = match role {
                W::Cached(_) | W::Cachevol(_) => 'C',
                W::Origin(_) => 'o',
            };
            c[6] = 'C';
        }
        match entry(&roles.integrity, i) {
            // An integrity image `g` (its RAID target letter stays), its
            // metadata LV `e`.
            Some(crate::integrity::IntegrityRole::Image(_)) if c[0] != 'I' => c[0] = 'g',
            Some(crate::integrity::IntegrityRole::Meta(_)) => c[0] = 'e',
            _ => {}
        }
        match entry(&roles.vdo, i) {
            // A VDO volume `v` with target type `v`, its pool `d`, the
            // pool's data LV `D`.
            Some(crate::vdo::VdoRole::Volume(_)) => (c[0], c[6]) = ('v', 'v'),
            Some(crate::vdo::VdoRole::Pool(_)) => (c[0], c[6]) = ('d', '-'),
            Some(crate::vdo::VdoRole::Data(_)) => c[0] = 'D',
            None => {}
        }
        Some(c)
    }
    fn lv_layout(&self, r: &Row) -> String {
        let Some((_, l)) = self.lv(r) else {
            return String::new();
        };
        match self.thin_role(r) {
            Some(thin::ThinRole::Pool(_)) => return "thin,pool".into(),
            Some(thin::ThinRole::Thin(_)) => return "thin,sparse".into(),
            _ => {}
        }
        if let Some(s) = self.raid_top(r) {
            return crate::raid::layout(s);
        }
        match self.cache_role(r) {
            Some(crate::cache::CacheRole::Cached(_)) => return "cache".into(),
            Some(crate::cache::CacheRole::Pool(_)) => return "cache,pool".into(),
            _ => {}
        }
        match self.wc_role(r) {
            Some(crate::writecache::WritecacheRole::Cached(_)) => return "writecache".into(),
            Some(crate::writecache::WritecacheRole::Cachevol(_)) => {
                return "writecache,cachevol".into()
            }
            _ => {}
        }
        if let Some(crate::integrity::IntegrityRole::Image(_)) = self.integ_role(r) {
            return "integrity".into();
        }
        match self.vdo_role(r) {
            Some(crate::vdo::VdoRole::Volume(_)) => return "vdo,sparse".into(),
            Some(crate::vdo::VdoRole::Pool(_)) => return "vdo,pool".into(),
            _ => {}
        }
        let first = l.segments.first();
        match first.map(|s| &s.kind) {
            Some(SegmentKind::Striped { stripes, .. }) if stripes.len() > 1 => "striped".into(),
            Some(SegmentKind::Striped { .. }) => "linear".into(),
            Some(SegmentKind::Error) => "error".into(),
            Some(SegmentKind::Zero) => "zero".into(),
            _ => "unknown".into(),
        }
    }
    fn lv_role(&self, r: &Row) -> String {
        let (Some(v), Some(i)) = (self.vg(r), r.lv) else {
            return String::new();
        };
        let vg = &v.vg;
        if let Some(role) = self.thin_role(r) {
            return thin_roles(vg, i, role);
        }
        match self.cache_role(r) {
            Some(crate::cache::CacheRole::Pool(_)) => return "private".into(),
            Some(crate::cache::CacheRole::Data(_)) => return "private,cache,pool,data".into(),
            Some(crate::cache::CacheRole::Metadata(_)) => {
                return "private,cache,pool,metadata".into()
            }
            Some(crate::cache::CacheRole::Origin(_)) => {
                return "private,cache,origin,cacheorigin".into()
            }
            _ => {}
        }
        match self.wc_role(r) {
            Some(crate::writecache::WritecacheRole::Origin(_)) => {
                return "private,writecache,origin,writecacheorigin".into()
            }
            Some(crate::writecache::WritecacheRole::Cachevol(_)) => return "private".into(),
            _ => {}
        }
        match self.integ_role(r) {
            Some(crate::integrity::IntegrityRole::Meta(_)) => {
                return "private,integrity,metadata".into()
            }
            Some(crate::integrity::IntegrityRole::Origin(_)) => {
                return "private,integrity,origin,integrityorigin".into()
            }
            _ => {}
        }
        match self.vdo_role(r) {
            Some(crate::vdo::VdoRole::Pool(_)) => return "private".into(),
            Some(crate::vdo::VdoRole::Data(_)) => return "private,vdo,pool,data".into(),
            _ => {}
        }
        if let Some(sub) = self.raid_role(r).and_then(crate::raid::sub_role) {
            return sub.into();
        }
        // A COW counts as public when its origin is, even while merging
        // hides it from `lvs`.
        let public = match cow_of(vg, i) {
            Some((origin, _, _)) => vg.lv_visible(origin),
            None => vg.lv_visible(i),
        };
        let mut roles = vec![if public { "public" } else { "private" }];
        if is_origin(vg, i).0 {
            roles.push("origin");
            roles.push("thickorigin");
            if vg.roles[i].origin_of.len() > 1 {
                roles.push("multithickorigin");
            }
        }
        if cow_of(vg, i).is_some() {
            roles.push("snapshot");
            roles.push("thicksnapshot");
        }
        roles.join(",")
    }
    /// `seg_le_ranges` of a cached LV or cache pool: its origin or data LV
    /// named as `lvs` shows it.
    fn cache_le_ranges(&self, r: &Row) -> Option<String> {
        let vg = &self.vg(r)?.vg;
        let area = match self.cache_role(r)? {
            crate::cache::CacheRole::Cached(c) => c.origin,
            crate::cache::CacheRole::Pool(p) => p.data,
            _ => return None,
        };
        let last = vg.lv_extents(&vg.lvs[area]).saturating_sub(1);
        let name = if vg.lv_visible(area) {
            vg.lvs[area].name.clone()
        } else {
            format!("[{}]", vg.lvs[area].name)
        };
        Some(format!("{name}:0-{last}"))
    }
    /// A cache pool's metadata LV (`_cmeta`).
    fn cache_metadata_lv(&self, r: &Row) -> Option<usize> {
        match self.cache_role(r)? {
            crate::cache::CacheRole::Pool(p) => Some(p.metadata),
            _ => None,
        }
    }
    /// The cache pool keys that apply to the LV: a pool's own, a cached
    /// LV's pool's.
    fn cache_pool_seg(&self, r: &Row) -> Option<crate::cache::CachePoolSeg> {
        match self.cache_role(r)? {
            crate::cache::CacheRole::Pool(p) => Some(p.clone()),
            crate::cache::CacheRole::Cached(c) => crate::cache::pool_seg(&self.vg(r)?.vg, c.pool),
            _ => None,
        }
    }
    /// The typed keys of the row's segment, if it is a RAID or mirror one.
    fn raid_seg(&self, r: &Row) -> Option<lvm_meta::raid::RaidSeg> {
        let (v, l, sg) = self.seg(r)?;
        lvm_meta::raid::RaidSeg::of(&l.name, sg, |n| v.lv_index(n))
            .ok()
            .flatten()
    }
    /// `sync_percent` (`copy_percent`) of an active RAID or mirror LV, as
    /// its metadata LVs or disk log on the images give it; blank when
    /// inactive, for other LVs, and where the images keep no sync state
    /// (raid0, core-log mirrors).
    fn sync_percent(&self, r: &Row) -> Cell<'static> {
        let (true, Some(v), Some(i)) = (self.lv_active(r), self.vg(r), r.lv) else {
            return Cell::Pct(None);
        };
        let pvs = self.sys.pv_images(v);
        match crate::rmeta::ArrayMeta::read(&v.vg, i, &pvs) {
            Ok(Some(a)) => match a.sync_percent() {
                Some(p) => s(crate::active::percent_text(p)),
                None => Cell::Pct(None),
            },
            _ => Cell::Pct(None),
        }
    }
    /// `mirror_log`: a mirror's disk log LV, bracketed when hidden.
    fn mirror_log(&self, r: &Row) -> String {
        let Some(v) = self.vg(r) else {
            return String::new();
        };
        let Some(log) = self.raid_top(r).and_then(|s| s.mirror_log) else {
            return String::new();
        };
        if v.vg.lv_visible(log) {
            v.vg.lvs[log].name.clone()
        } else {
            format!("[{}]", v.vg.lvs[log].name)
        }
    }
    #[inline]
    fn seg(&self, r: &Row) -> Option<(&Vg, &Lv, &lvm_meta::model::Segment)> {
        let (v, l) = self.lv(r)?;
        Some((v, l, l.segments.get(r.seg?)?))
    }
    fn segtype(&self, r: &Row) -> &str {
        self.seg(r).map_or("", |(_, _, sg)| match &sg.kind {
            SegmentKind::Striped { stripes, .. } if stripes.len() == 1 => "linear",
            // lvm2 writes flags after the type (`cache-pool+METADATA_FORMAT`)
            // and reports the type alone.
            _ if sg.type_name.starts_with("cache") => {
                sg.type_name.split('+').next().unwrap_or_default()
            }
            _ => &sg.type_name,
        })
    }
    fn chunk_size(&self, r: &Row) -> u64 {
        if let Some(thin::ThinRole::Pool(p)) = self.thin_role(r) {
            return p.chunk_size;
        }
        if let Some(p) = self.cache_pool_seg(r) {
            return p.chunk_size;
        }
        match (self.vg(r), r.lv) {
            (Some(v), Some(i)) => cow_of(&v.vg, i).map_or(0, |(_, c, _)| c),
            _ => 0,
        }
    }
    fn seg_areas(&self, r: &Row, ranges: bool) -> String {
        let Some((v, _, sg)) = self.seg(r) else {
            return String::new();
        };
        let inst = self.vg(r);
        if let Some(thin::ThinRole::Pool(p)) = self.thin_role(r) {
            // The pool's one area: its data LV from LE 0.
            let name = &v.lvs[p.data].name;
            let last = v.lv_extents(&v.lvs[p.data]).saturating_sub(1);
            return if ranges {
                format!("{name}:0-{last}")
            } else {
                format!("{name}(0)")
            };
        }
        let cache_area = match self.cache_role(r) {
            Some(crate::cache::CacheRole::Cached(c)) => Some(c.origin),
            Some(crate::cache::CacheRole::Pool(p)) => Some(p.data),
            _ => self.area_lv(r),
        };
        if let Some(area) = cache_area {
            // The one area: the origin or data LV from LE 0.
            let name = &v.lvs[area].name;
            let last = v.lv_extents(&v.lvs[area]).saturating_sub(1);
            return if ranges {
                format!("{name}:0-{last}")
            } else {
                format!("{name}(0)")
            };
        }
        if let Some(rs) = self.raid_seg(r) {
            // The data images, each from its first extent, by their bare
            // names.
            let mut out = String::new();
            for (k, (lv, first, last)) in image_le_ranges(v, sg, &rs).enumerate() {
                if k > 0 {
                    out.push(if ranges { ' ' } else { ',' });
                }
                out.push_str(&v.lvs[lv].name);
                let _ = if ranges {
                    write!(out, ":{first}-{last}")
                } else {
                    write!(out, "({first})")
                };
            }
            return out;
        }
        let SegmentKind::Striped { stripes, .. } = &sg.kind else {
            return String::new();
        };
        let per = u64::from(sg.extent_count) / stripes.len() as u64;
        // Each area written straight into one string.
        let mut out = String::new();
        for (k, a) in stripes.iter().enumerate() {
            if k > 0 {
                out.push(if ranges { ' ' } else { ',' });
            }
            let start = match a {
                Area::Pv { pv, pe } => {
                    let dev = inst.and_then(|i| i.pv_devices[*pv]);
                    out.push_str(dev.map_or("[unknown]", |d| &self.sys.devices[d].image.path));
                    u64::from(*pe)
                }
                Area::Lv { lv, le } => {
                    out.push_str(&v.lvs[*lv].name);
                    u64::from(*le)
                }
            };
            let _ = if ranges {
                write!(out, ":{start}-{}", start + per - 1)
            } else {
                write!(out, "({start})")
            };
        }
        out
    }
}

trait AllocPolicy {
    fn allocation_policy_str(&self) -> &str;
}

impl AllocPolicy for Lv {
    fn allocation_policy_str(&self) -> &str {
        self.allocation_policy.as_deref().unwrap_or("inherit")
    }
}

fn same_field(a: &str, b: &str) -> bool {
    a.chars()
        .filter(|c| *c != '_')
        .eq(b.chars().filter(|c| *c != '_'))
}

fn find_field(name: &str, kind: Kind) -> Option<&'static Field> {
    let prefixes: &[&str] = match kind {
        Kind::Pv => &["pv_"],
        Kind::Vg => &["vg_"],
        Kind::Lv => &["lv_"],
        Kind::Seg => &["seg_", "lv_"],
        Kind::PvSeg => &["pvseg_", "pv_"],
    };
    let all = &*ALL_FIELDS;
    // No two fields' names differ only in underscores (a test checks), so
    // an exact name is the field `same_field` would find first.
    if let Some(f) = all.iter().find(|f| f.name == name) {
        return Some(f);
    }
    all.iter().find(|f| same_field(f.name, name)).or_else(|| {
        prefixes.iter().find_map(|p| {
            all.iter()
                .find(|f| same_field(f.name, &format!("{p}{name}")))
        })
    })
}

fn default_fields(kind: Kind) -> &'static str {
    match kind {
        Kind::Pv => "pv_name,vg_name,pv_fmt,pv_attr,pv_size,pv_free",
        Kind::Vg => "vg_name,pv_count,lv_count,snap_count,vg_attr,vg_size,vg_free",
        Kind::Lv => "lv_name,vg_name,lv_attr,lv_size,pool_lv,origin,data_percent,metadata_percent,move_pv,mirror_log,copy_percent,convert_lv",
        Kind::Seg => "lv_name,vg_name,lv_attr,stripes,segtype,seg_size",
        Kind::PvSeg => "pv_name,vg_name,pv_fmt,pv_attr,pv_size,pv_free,pvseg_start,pvseg_size",
    }
}

fn default_sort(kind: Kind) -> &'static str {
    match kind {
        Kind::Pv => "pv_name",
        Kind::Vg => "vg_name",
        Kind::Lv => "vg_name,lv_name",
        Kind::Seg => "vg_name,lv_name,seg_start",
        Kind::PvSeg => "pv_name,pvseg_start",
    }
}

/// The sections `-o all` lists for a report, in order.
fn all_sections(kind: Kind) -> &'static [crate::fields::Section] {
    use crate::fields::Section as S;
    match kind {
        Kind::Pv => &[S::Label, S::Pv],
        Kind::Vg => &[S::Vg],
        Kind::Lv => &[S::Lv, S::LvInfo, S::LvStatus, S::LvInfoStatus, S::Vg],
        Kind::Seg => &[S::Lv, S::Vg, S::Seg],
        Kind::PvSeg => &[S::Label, S::PvSeg],
    }
}

/// The sections of a `<prefix>all` name (`lv_all`, `pv_all`, ...).
fn prefix_sections(name: &str) -> Option<&'static [crate::fields::Section]> {
    use crate::fields::Section as S;
    Some(match name {
        "lv_all" => &[S::Lv, S::LvInfo, S::LvStatus, S::LvInfoStatus],
        "pv_all" => &[S::Label, S::Pv],
        "vg_all" => &[S::Vg],
        "seg_all" => &[S::Seg],
        "pvseg_all" => &[S::PvSeg],
        _ => return None,
    })
}

fn section_fields(secs: &[crate::fields::Section]) -> Vec<&'static Field> {
    secs.iter()
        .flat_map(|&sec| {
            crate::fields::of_section(sec)
                .filter_map(|d| ALL_FIELDS.iter().find(|f| f.name == d.name))
        })
        .collect()
}

/// The `-o` names in effect, before `all` lists are expanded.
fn field_names(kind: Kind, opts: &Options) -> Vec<String> {
    let mut names: Vec<String> = default_fields(kind).split(',').map(str::to_owned).collect();
    let mut replaced = false;
    for o in &opts.fields {
        if let Some(add) = o.strip_prefix('+') {
            names.extend(add.split(',').map(|x| x.trim().to_owned()));
        } else if let Some(rm) = o.strip_prefix('-') {
            let rm: Vec<&str> = rm.split(',').map(str::trim).collect();
            names.retain(|n| !rm.iter().any(|r| same_field(n, r)));
        } else {
            if !replaced {
                names.clear();
                replaced = true;
            }
            names.extend(o.split(',').map(|x| x.trim().to_owned()));
        }
    }
    names.retain(|n| !n.is_empty());
    names
}

/// lvm2's refusal of an unknown field name: its list of every field, then
/// the message (`prefix` is `dm_report: ` for a sort key).
fn unknown_field(prefix: &str, name: &str) -> String {
    let text = format!(
        "{}  {prefix}Unrecognised field: {name}\n",
        crate::fields::help_text(true, false)
    );
    stderr_message(&text)
}

fn resolve_fields(kind: Kind, names: &[String]) -> Result<Vec<&'static Field>, String> {
    let mut out = Vec::new();
    for n in names {
        if n.eq_ignore_ascii_case("all") {
            out.extend(section_fields(all_sections(kind)));
        } else if let Some(secs) = prefix_sections(n) {
            out.extend(section_fields(secs));
        } else {
            out.push(find_field(n, kind).ok_or_else(|| unknown_field("", n))?);
        }
    }
    Ok(out)
}

/// One cell of a report, typed: what lvm2 computed before formatting it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A text field (names, UUIDs, attributes, percentages as lvm2 prints
    /// them).
    Str(String),
    /// A count.
    Num(u64),
    /// A size in 512-byte sectors.
    Size(u64),
}

/// A report as lvm2 computes it: the fields asked for and one row per
/// object, each cell both typed ([`Value`]) and as lvm2 prints it with the
/// report's units. [`Report::write`] renders it in lvm2's layout.
#[derive(Debug, Clone)]
pub struct Report {
    kind: Kind,
    fields: Vec<&'static Field>,
    /// The number of rows.
    rows: usize,
    /// Every cell's printed text, back to back, row by row.
    text: String,
    /// One slot a cell, row by row: where its text ends in `text` (it
    /// starts where the cell before it ends) and its number, if it has one.
    slots: Vec<Slot>,
    opts: Options,
    messages: Vec<String>,
    failed: bool,
    /// What lvm2 prints on stderr instead of a report (`-o help`).
    help: Option<String>,
}

/// A cell of a [`Report`]: the end of its text and what it counts.
#[derive(Debug, Clone, Copy)]
struct Slot {
    end: usize,
    num: Num,
}

/// The number behind a cell's text, if it has one (see [`Value`]).
#[derive(Debug, Clone, Copy)]
enum Num {
    Text,
    Count(u64),
    Size(u64),
}

impl Report {
    /// What the command prints on stderr besides its report: lvm2's field
    /// list for `-o help`.
    pub fn stderr_text(&self) -> Option<&str> {
        self.help.as_deref()
    }

    /// The fields' names (lvm2's, e.g. `lv_name`, `lv_attr`), in order.
    pub fn fields(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.fields.iter().map(|f| f.name)
    }

    /// What lvm2 prints on stderr for the names given to the report that
    /// name nothing (`Volume group "X" not found`...), one line each
    /// without lvm2's two-space indent, in lvm2's order.
    pub fn messages(&self) -> &[String] {
        &self.messages
    }

    /// A name given to the report named nothing: lvm2 reports the rest and
    /// exits 5.
    pub fn failed(&self) -> bool {
        self.failed
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when no object matched (lvm2 then prints nothing).
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    fn column(&self, field: &str) -> Option<usize> {
        self.fields.iter().position(|f| same_field(f.name, field))
    }

    /// Cell `i` (row by row) as printed.
    fn cell_text(&self, i: usize) -> &str {
        let start = match i {
            0 => 0,
            _ => self.slots[i - 1].end,
        };
        &self.text[start..self.slots[i].end]
    }

    /// The cell index of row `row`'s `field`, if both exist.
    fn slot_of(&self, row: usize, field: &str) -> Option<usize> {
        if row >= self.rows {
            return None;
        }
        Some(row * self.fields.len() + self.column(field)?)
    }

    /// Row `row`'s value of `field` (lvm2's name, with or without its
    /// `lv_`/`vg_`/`pv_` prefix), if the report has that field.
    pub fn value(&self, row: usize, field: &str) -> Option<Value> {
        let i = self.slot_of(row, field)?;
        Some(match self.slots[i].num {
            Num::Count(n) => Value::Num(n),
            Num::Size(n) => Value::Size(n),
            Num::Text => Value::Str(self.cell_text(i).to_owned()),
        })
    }

    /// Row `row`'s `field` as lvm2 prints it.
    pub fn text(&self, row: usize, field: &str) -> Option<&str> {
        Some(self.cell_text(self.slot_of(row, field)?))
    }

    /// Writes the report in lvm2's `basic` or `json` layout, as the options
    /// it was made with ask.
    pub fn write(&self, out: &mut dyn Write) -> Result<()> {
        if self.opts.json {
            // The JSON list is named after the command (`seg` with --segments).
            write_json(out, self)?;
        } else {
            write_basic(out, self)?;
        }
        Ok(())
    }
}

/// Runs a report and writes it to `out` (what lvm2 prints on stderr, such
/// as `-o help`, goes to `err`).
pub fn run(
    sys: &System,
    cmd: Kind,
    opts: &Options,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<()> {
    let r = report(sys, cmd, opts)?;
    if let Some(h) = r.stderr_text() {
        err.write_all(h.as_bytes())?;
    }
    r.write(out)
}

/// Computes report `cmd` (`pvs`, `vgs`, `lvs`) with lvm2's rules for the
/// fields, rows, selection and sort order.
pub fn report(sys: &System, cmd: Kind, opts: &Options) -> Result<Report> {
    let base = match cmd {
        Kind::Lv if opts.segments => Kind::Seg,
        Kind::Pv if opts.segments => Kind::PvSeg,
        other => other,
    };
    let names = field_names(base, opts);
    if names.iter().any(|n| n == "help" || n == "?") {
        // lvm2 lists every field on stderr and reports nothing.
        return Ok(Report {
            kind: base,
            fields: Vec::new(),
            rows: 0,
            text: String::new(),
            slots: Vec::new(),
            opts: opts.clone(),
            messages: Vec::new(),
            failed: false,
            help: Some(crate::fields::help_text(true, false)),
        });
    }
    let fields = resolve_fields(base, &names).map_err(Error::Refused)?;
    let selection = match &opts.select {
        Some(text) => {
            let resolve = |name: &str| {
                find_field(name, base).map(|f| crate::select::FieldRef {
                    id: ALL_FIELDS
                        .iter()
                        .position(|x| std::ptr::eq(x, f))
                        .unwrap_or(0),
                    name: f.name,
                    ty: f.ty,
                })
            };
            crate::select::parse_in(text, &resolve, &opts.zone)
                .map_err(|e| Error::Refused(stderr_message(&e.stderr)))?
        }
        None => None,
    };
    let sel_fields: Vec<&'static Field> = selection
        .as_ref()
        .map(|sl| sl.fields().into_iter().map(|i| &ALL_FIELDS[i]).collect())
        .unwrap_or_default();
    // A segment field turns an LV report into a segment report, as in lvm2,
    // whether it is shown or only selected on.
    let kind = if base == Kind::Lv && fields.iter().chain(&sel_fields).any(|f| f.obj == Obj::Seg) {
        Kind::Seg
    } else {
        base
    };
    if matches!(kind, Kind::Lv | Kind::Seg)
        && fields
            .iter()
            .chain(&sel_fields)
            .any(|f| matches!(f.obj, Obj::Pv | Obj::PvSeg))
    {
        bail!("Can't report LV and PV fields at the same time in report type \"lv\".");
    }
    // Fields of objects inside the reported ones make one row per inner
    // object, as lvm2 joins them: `pvs -o lv_name` lists PV segments, `vgs
    // -o lv_name` (or `pv_name`) the VGs' LVs (or PVs), in metadata order
    // within each VG.
    let shows = |objs: &[Obj]| fields.iter().any(|f| objs.contains(&f.obj));
    let (kind, row_kind, sort_default) = match kind {
        Kind::Pv if shows(&[Obj::Lv, Obj::Seg]) => (Kind::PvSeg, Kind::PvSeg, "pv_name"),
        Kind::Vg if shows(&[Obj::Seg]) => (Kind::Vg, Kind::Seg, "vg_name"),
        Kind::Vg if shows(&[Obj::Lv]) => (Kind::Vg, Kind::Lv, "vg_name"),
        Kind::Vg if shows(&[Obj::Pv, Obj::PvSeg]) => (Kind::Vg, Kind::Pv, "vg_name"),
        k => (k, k, default_sort(k)),
    };
    for f in &fields {
        let ok = match row_kind {
            Kind::Pv => matches!(f.obj, Obj::Pv | Obj::Vg | Obj::Special),
            Kind::Vg => matches!(f.obj, Obj::Vg | Obj::Special),
            Kind::Lv | Kind::Seg => {
                matches!(f.obj, Obj::Vg | Obj::Lv | Obj::Seg | Obj::Special)
            }
            Kind::PvSeg => true,
        };
        if !ok {
            bail!("Field {} cannot be used in this report", f.name);
        }
    }
    let ctx = Ctx {
        sys,
        opts,
        kernel: crate::active::Kernel::default(),
        roles: (0..sys.vgs.len())
            .map(|_| std::cell::OnceCell::new())
            .collect(),
        lineages: (0..sys.vgs.len())
            .map(|_| std::cell::OnceCell::new())
            .collect(),
        visible: (0..sys.vgs.len())
            .map(|_| std::cell::OnceCell::new())
            .collect(),
    };
    let sel = crate::names::select_with_history(
        sys,
        matches!(cmd, Kind::Pv | Kind::PvSeg),
        cmd == Kind::Vg,
        &opts.names,
        opts.history,
    )?;
    let mut rows = if kind == Kind::Vg && row_kind == Kind::Pv {
        // The VGs' PVs (names on the command line are VG names here).
        let all = crate::names::Selection {
            everything: true,
            ..crate::names::Selection::default()
        };
        rows(sys, Kind::Pv, opts, &all)?
            .into_iter()
            .filter(|r| {
                r.vg.is_some_and(|v| sel.has_vg_tagged(&sys.vgs[v].vg.name, &sys.vgs[v].vg.tags))
            })
            .collect()
    } else {
        rows(sys, row_kind, opts, &sel)?
    };
    let mut selected: Vec<bool> = Vec::with_capacity(rows.len());
    if let Some(sl) = &selection {
        for &r in &rows {
            let subs = sub_rows(sys, row_kind, r, &sel_fields);
            let ok = subs.iter().any(|&sr| {
                sl.matches(&mut |id| {
                    let f = &ALL_FIELDS[id];
                    sel_value(f, cell(&ctx, f, &sr))
                })
            });
            selected.push(ok);
        }
        let show_all = fields.iter().any(|f| f.obj == Obj::Special);
        if !show_all {
            let mut i = 0;
            rows.retain(|_| {
                i += 1;
                selected[i - 1]
            });
            selected.retain(|&b| b);
        }
    } else {
        selected.resize(rows.len(), true);
    }
    let sort = opts.sort.clone().unwrap_or_else(|| sort_default.to_owned());
    let order = sort_rows(&ctx, &rows, &sort, row_kind)?;
    // Every cell's text goes into one string; a cell keeps where its text
    // ends and its number.
    let mut text = String::with_capacity(order.len() * fields.len() * 8);
    let mut slots: Vec<Slot> = Vec::with_capacity(order.len() * fields.len());
    // Sizes as printed, by size: LVs of a VG share few sizes, and printing
    // one with its decimals costs more than the rest of its row. A short
    // list searched in order beats hashing here.
    let mut sizes: Vec<(u64, String)> = Vec::new();
    for &i in &order {
        let (r, sel) = (rows[i], selected[i]);
        for f in &fields {
            let cell = if f.obj == Obj::Special {
                Cell::Num(u64::from(sel))
            } else {
                cell(&ctx, f, &r)
            };
            let num = match cell {
                Cell::Num(n) => {
                    let _ = write!(text, "{n}");
                    Num::Count(n)
                }
                Cell::Size(n) => {
                    match sizes.iter().find(|(z, _)| *z == n) {
                        Some((_, t)) => text.push_str(t),
                        None => {
                            let t = render(opts, &cell);
                            text.push_str(&t);
                            if sizes.len() < 64 {
                                sizes.push((n, t));
                            }
                        }
                    }
                    Num::Size(n)
                }
                Cell::Str(s) => {
                    if !s.is_empty() {
                        text.push_str(&s);
                    }
                    Num::Text
                }
                other => {
                    render_into(opts, &other, &mut text);
                    Num::Text
                }
            };
            slots.push(Slot {
                end: text.len(),
                num,
            });
        }
    }
    Ok(Report {
        kind: base,
        fields,
        rows: order.len(),
        text,
        slots,
        opts: opts.clone(),
        messages: sel.messages,
        failed: sel.failed,
        help: None,
    })
}

/// A multi-line stderr text as an error message: `main` prints a message
/// indented by two spaces and followed by a newline.
fn stderr_message(stderr: &str) -> String {
    let t = stderr.strip_prefix("  ").unwrap_or(stderr);
    t.strip_suffix('\n').unwrap_or(t).to_owned()
}

/// The rows a selection is tried on for one report row: the row itself,
/// or, when the selection reads fields of objects inside it (a VG's LVs or
/// PVs, a PV's LVs), one row per such object; lvm2 keeps the row when any
/// of them passes.
fn sub_rows(sys: &System, kind: Kind, r: Row, sel_fields: &[&Field]) -> Vec<Row> {
    let wants = |o: Obj| sel_fields.iter().any(|f| f.obj == o);
    match kind {
        Kind::Vg if wants(Obj::Lv) || wants(Obj::Seg) => {
            let Some(vi) = r.vg else { return vec![r] };
            let vg = &sys.vgs[vi].vg;
            let mut out = Vec::new();
            for (li, l) in vg.lvs.iter().enumerate() {
                if l.is_snapshot_glue() {
                    continue;
                }
                for si in 0..l.segments.len().max(1) {
                    out.push(Row {
                        lv: Some(li),
                        seg: Some(si),
                        ..r
                    });
                }
            }
            out
        }
        Kind::Vg if wants(Obj::Pv) => {
            let Some(vi) = r.vg else { return vec![r] };
            let v = &sys.vgs[vi];
            (0..v.vg.pvs.len())
                .map(|pi| Row {
                    pv: Some(pi),
                    dev: v.pv_devices[pi],
                    ..r
                })
                .collect()
        }
        Kind::Pv if wants(Obj::Lv) || wants(Obj::Seg) => {
            let (Some(vi), Some(pi)) = (r.vg, r.pv) else {
                return vec![r];
            };
            let vg = &sys.vgs[vi].vg;
            let mut out = Vec::new();
            for (li, l) in vg.lvs.iter().enumerate() {
                for (si, sg) in l.segments.iter().enumerate() {
                    if let SegmentKind::Striped { stripes, .. } = &sg.kind {
                        if stripes
                            .iter()
                            .any(|a| matches!(a, Area::Pv { pv, .. } if *pv == pi))
                        {
                            out.push(Row {
                                lv: Some(li),
                                seg: Some(si),
                                ..r
                            });
                        }
                    }
                }
            }
            out
        }
        _ => vec![r],
    }
}

/// Field `f` of row `r`: a historical LV's own values where lvm2 gives it
/// some, the field's getter otherwise.
fn cell<'b>(c: &'b Ctx<'b>, f: &Field, r: &Row) -> Cell<'b> {
    if let (Some(vi), Some(h)) = (r.vg, r.hist) {
        if let Some(x) = hist_cell(c, f.name, vi, h, r) {
            return x;
        }
    }
    (f.get)(c, r)
}

/// What lvm2 2.03.16 reports of historical LV `h` of VG `vi` (a stand-in
/// LV with no status flags and one empty segment of type `historical`),
/// for the fields where that differs from an LV that is not there.
fn hist_cell<'b>(c: &Ctx, name: &str, vi: usize, h: usize, r: &Row) -> Option<Cell<'b>> {
    let vg = &c.sys.vgs[vi].vg;
    let hl = &c.lineage(vi).historical[h];
    Some(match name {
        "lv_name" => s(format!("-{}", hl.name)),
        "lv_uuid" => s(hl.id.clone()),
        "lv_full_name" => s(format!("{}/{}", vg.name, hl.name)),
        "lv_path" => s(format!("/dev/{}/{}", vg.name, hl.name)),
        "lv_dm_path" => s(format!(
            "/dev/mapper/{}-{}",
            vg.name.replace('-', "--"),
            hl.name.replace('-', "--")
        )),
        "lv_attr" => s("----h-----"),
        "lv_size" | "lv_read_ahead" => Cell::Size(0),
        "seg_count" => Cell::Num(1),
        "lv_layout" => list_of("none"),
        "lv_role" => list_of("public,history"),
        "lv_allocation_policy" | "lv_permissions" => s("unknown"),
        "lv_merge_failed" | "lv_snapshot_invalid" => Cell::Bin(None, ""),
        "lv_historical" => Cell::Bin(Some(true), "historical"),
        "lv_time" => Cell::Time(hl.creation_time),
        "lv_time_removed" => Cell::Time(hl.removal_time),
        // lvm2 dies of SIGSEGV here; an empty list is the nearest answer.
        "lv_modules" => Cell::List(Vec::new()),
        _ if r.seg.is_some() => match name {
            "segtype" => s("historical"),
            "parity_chunks" => Cell::Num(u64::from(u32::MAX)),
            "zero" => Cell::Bin(None, ""),
            "data_copies" => Cell::Blank,
            _ => return None,
        },
        _ => return None,
    })
}

/// A cell as selections compare it, by its field's type.
fn sel_value(f: &Field, c: Cell) -> crate::select::SelValue {
    use crate::fields::FieldType as T;
    use crate::select::{SelValue as V, UNDEF};
    let blank = |ty| match ty {
        T::Num | T::Bin | T::SNum => V::Num(UNDEF),
        T::Size => V::Size(f64::NAN),
        T::Pct => V::Pct(UNDEF),
        T::StrList => V::List(Vec::new()),
        T::Time => V::Time(0),
        T::Str => V::Str(String::new()),
    };
    match c {
        Cell::Str(x) => match f.ty {
            T::Num | T::Bin | T::SNum => V::Num(x.parse().unwrap_or(UNDEF)),
            T::Pct => x.parse::<f64>().map_or(V::Pct(UNDEF), |p| {
                V::Pct((p * crate::select::PERCENT_1 as f64) as u64)
            }),
            _ => V::Str(x.into_owned()),
        },
        Cell::List(mut v) => {
            v.sort();
            V::List(v)
        }
        // lvm2 keeps a count's bits where a size field's value is read as a
        // double (`seg_size_pe` is typed as a size): a tiny number.
        Cell::Num(n) if f.ty == T::Size => V::Size(f64::from_bits(n)),
        Cell::Num(n) => V::Num(n),
        Cell::Signed(n) => V::Num(n as u64),
        Cell::Size(n) => V::Size(n as f64),
        Cell::Bin(b, _) => V::Num(match b {
            Some(true) => 1,
            Some(false) => 0,
            None => UNDEF,
        }),
        Cell::Pct(p) => V::Pct(p.unwrap_or(UNDEF)),
        Cell::Time(t) => V::Time(t.unwrap_or(0)),
        Cell::Blank => blank(f.ty),
        Cell::BlankZero => match f.ty {
            T::Size => V::Size(0.0),
            _ => V::Num(0),
        },
        Cell::Auto => V::Size(crate::select::SIZE_AUTO),
        Cell::MinusOne => V::Size(f64::NAN),
        // `lv_attr`'s letters compare as the text they print as.
        Cell::Attr(a) => V::Str(String::from_utf8_lossy(&a).into_owned()),
    }
}

fn render(opts: &Options, c: &Cell) -> String {
    let mut t = String::new();
    render_into(opts, c, &mut t);
    t
}

/// Appends cell `c` as lvm2 prints it.
fn render_into(opts: &Options, c: &Cell, out: &mut String) {
    match c {
        Cell::Str(s) => out.push_str(s),
        Cell::List(v) => {
            for (k, w) in v.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                out.push_str(w);
            }
        }
        Cell::Num(n) => {
            let _ = write!(out, "{n}");
        }
        Cell::Signed(n) => {
            let _ = write!(out, "{n}");
        }
        Cell::Size(sz) => out.push_str(&format_size(*sz, opts.units, !opts.nosuffix)),
        Cell::Bin(Some(true), w) => out.push_str(w),
        Cell::Bin(Some(false), _) => {}
        Cell::Bin(None, _) => out.push_str("unknown"),
        Cell::Pct(Some(p)) => {
            let _ = write!(out, "{:.2}", *p as f64 / crate::select::PERCENT_1 as f64);
        }
        Cell::Pct(None) | Cell::Blank | Cell::BlankZero | Cell::Time(None) => {}
        Cell::Time(Some(t)) => out.push_str(&opts.zone.iso(*t)),
        Cell::Auto => out.push_str("auto"),
        Cell::MinusOne => out.push_str("-1"),
        Cell::Attr(a) => {
            // ASCII: one byte a letter, no UTF-8 check needed.
            for &b in a {
                out.push(char::from(b));
            }
        }
    }
}

fn rows(
    sys: &System,
    kind: Kind,
    opts: &Options,
    sel: &crate::names::Selection,
) -> Result<Vec<Row>> {
    let mut out = Vec::new();
    match kind {
        Kind::Pv => {
            for (di, d) in sys.devices.iter().enumerate() {
                if d.label.is_none() {
                    continue;
                }
                if !sel.has_device(di) {
                    continue;
                }
                let owner = sys.owner_of(di);
                out.push(Row {
                    dev: Some(di),
                    vg: owner.map(|o| o.0),
                    pv: owner.map(|o| o.1),
                    ..Row::default()
                });
            }
            for (vi, v) in sys.vgs.iter().enumerate() {
                for (pi, d) in v.pv_devices.iter().enumerate() {
                    if d.is_none() && sel.everything {
                        out.push(Row {
                            vg: Some(vi),
                            pv: Some(pi),
                            ..Row::default()
                        });
                    }
                }
            }
        }
        Kind::PvSeg => {
            for r in rows(sys, Kind::Pv, opts, sel)? {
                out.extend(pv_segments(sys, r));
            }
        }
        Kind::Vg => {
            for (vi, v) in sys.vgs.iter().enumerate() {
                if sel.has_vg_tagged(&v.vg.name, &v.vg.tags) {
                    out.push(Row {
                        vg: Some(vi),
                        ..Row::default()
                    });
                }
            }
        }
        Kind::Lv | Kind::Seg => {
            for (vi, v) in sys.vgs.iter().enumerate() {
                // lvm2 lists no LV of an exported VG.
                if !sel.may_have_lvs(&v.vg.name) || v.vg.status.iter().any(|f| f == "EXPORTED") {
                    continue;
                }
                out.reserve(v.vg.lvs.len());
                for (li, l) in v.vg.lvs.iter().enumerate() {
                    // The snapshot glue is never listed; hidden LVs need -a.
                    if l.is_snapshot_glue() {
                        continue;
                    }
                    // A hidden LV named on the command line is listed, as
                    // in lvm2.
                    if !opts.all && !v.vg.lv_visible(li) && !sel.named_lv(&v.vg.name, &l.name) {
                        continue;
                    }
                    if !sel.has_lv_tagged(&v.vg.name, &l.name, &v.vg.tags, &l.tags) {
                        continue;
                    }
                    if kind == Kind::Lv {
                        out.push(Row {
                            vg: Some(vi),
                            lv: Some(li),
                            ..Row::default()
                        });
                    } else {
                        for si in 0..l.segments.len() {
                            out.push(Row {
                                vg: Some(vi),
                                lv: Some(li),
                                seg: Some(si),
                                ..Row::default()
                            });
                        }
                    }
                }
                // lvm2 lists the historical LVs after the live ones, in
                // text order, unless tags were named; each has one segment.
                if opts.history && sel.tags.is_empty() && !v.vg.historical_lvs.is_empty() {
                    let lineage = crate::lineage::Lineage::of(&v.vg);
                    for (h, hl) in lineage.historical.iter().enumerate() {
                        if sel.has_lv(&v.vg.name, &format!("-{}", hl.name)) {
                            out.push(Row {
                                vg: Some(vi),
                                hist: Some(h),
                                seg: (kind == Kind::Seg).then_some(0),
                                ..Row::default()
                            });
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

/// A PV's segments in PE order: each used range (with its LV and LV
/// segment) and each free gap, as lvm2's `pvs --segments` lists them.
fn pv_segments(sys: &System, r: Row) -> Vec<Row> {
    let (Some(vi), Some(pi)) = (r.vg, r.pv) else {
        // An orphan PV has no extents: lvm2 shows one empty segment.
        return vec![Row {
            pvseg: Some((0, 0)),
            ..r
        }];
    };
    let vg = &sys.vgs[vi].vg;
    let mut used: Vec<(u64, u64, usize, usize)> = Vec::new();
    for (li, lv) in vg.lvs.iter().enumerate() {
        for (si, sg) in lv.segments.iter().enumerate() {
            if let SegmentKind::Striped { stripes, .. } = &sg.kind {
                let per = u64::from(sg.extent_count) / stripes.len() as u64;
                for a in stripes {
                    if let Area::Pv { pv, pe } = a {
                        if *pv == pi {
                            used.push((u64::from(*pe), per, li, si));
                        }
                    }
                }
            }
        }
    }
    used.sort();
    let mut out = Vec::new();
    let mut at = 0u64;
    for (pe, len, li, si) in used {
        if pe > at {
            out.push(Row {
                pvseg: Some((at, pe - at)),
                ..r
            });
        }
        out.push(Row {
            pvseg: Some((pe, len)),
            lv: Some(li),
            seg: Some(si),
            ..r
        });
        at = at.max(pe + len);
    }
    let count = u64::from(vg.pvs[pi].pe_count);
    if at < count || out.is_empty() {
        out.push(Row {
            pvseg: Some((at, count.saturating_sub(at))),
            ..r
        });
    }
    out
}

/// The order of `rows` under sort keys `spec` (lvm2's `-O`: names, `-`
/// for descending), stable.
fn sort_rows<'b>(ctx: &'b Ctx<'b>, rows: &[Row], spec: &str, kind: Kind) -> Result<Vec<usize>> {
    let mut keys: Vec<(&'static Field, bool)> = Vec::new();
    for k in spec.split(',').map(str::trim).filter(|k| !k.is_empty()) {
        let (name, desc) = match k.strip_prefix('-') {
            Some(n) => (n, true),
            None => (k.strip_prefix('+').unwrap_or(k), false),
        };
        let f = find_field(name, kind)
            .ok_or_else(|| Error::Refused(unknown_field("dm_report: ", name)))?;
        keys.push((f, desc));
    }
    enum Key<'k> {
        Num(f64),
        Text(Cow<'k, str>),
    }
    // Numbers before texts; numbers that do not compare (NaN) are equal.
    let compare = |x: &Key, y: &Key| match (x, y) {
        (Key::Num(a), Key::Num(b)) => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
        (Key::Text(a), Key::Text(b)) => a.as_bytes().cmp(b.as_bytes()),
        (Key::Num(_), Key::Text(_)) => std::cmp::Ordering::Less,
        (Key::Text(_), Key::Num(_)) => std::cmp::Ordering::Greater,
    };
    // Hidden LVs sort by their name without brackets; other names are
    // kept as they are (no copy).
    let strip = |x: Cow<'b, str>| -> Cow<'b, str> {
        if !(x.starts_with('[') || x.ends_with(']')) {
            return x;
        }
        match x {
            Cow::Borrowed(b) => Cow::Borrowed(b.trim_start_matches('[').trim_end_matches(']')),
            Cow::Owned(o) => Cow::Owned(o.trim_start_matches('[').trim_end_matches(']').to_owned()),
        }
    };
    // A historical LV's name sorts without its `-`.
    let strip_hist = |x: Cow<'b, str>, r: &Row| -> Cow<'b, str> {
        match (r.hist, x.strip_prefix('-')) {
            (Some(_), Some(rest)) => Cow::Owned(rest.to_owned()),
            _ => x,
        }
    };
    // Each row's sort key is computed once, not inside the comparator, all
    // in one vector sized at once: row `i`'s are at `i * keys.len()`.
    let mut keyed: Vec<Key> = Vec::with_capacity(rows.len().saturating_mul(keys.len()));
    keyed.extend(rows.iter().flat_map(|&r| {
        keys.iter().map(move |(f, _)| {
            // A live LV's name without brackets is its name, whether
            // it is shown with them or not: no need to ask if it is
            // hidden.
            if let (true, None, Some((_, l))) = (f.name == "lv_name", r.hist, ctx.lv(&r)) {
                return Key::Text(strip(Cow::Borrowed(&l.name)));
            }
            match cell(ctx, f, &r) {
                // Times sort by their instant, unset ones first.
                Cell::Time(t) => Key::Num(t.unwrap_or(0) as f64),
                Cell::Num(n) => Key::Num(n as f64),
                Cell::Size(n) => Key::Num(n as f64),
                Cell::Signed(n) => Key::Num(n as f64),
                Cell::Str(x) if f.name == "lv_name" => Key::Text(strip(strip_hist(x, &r))),
                Cell::Str(x) => Key::Text(strip(x)),
                other => Key::Text(Cow::Owned(render(ctx.opts, &other))),
            }
        })
    }));
    let n = keys.len();
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&a, &b| {
        let (ka, kb) = (&keyed[a * n..a * n + n], &keyed[b * n..b * n + n]);
        for ((x, y), (_, desc)) in ka.iter().zip(kb).zip(&keys) {
            let o = compare(x, y);
            let o = if *desc { o.reverse() } else { o };
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        }
        std::cmp::Ordering::Equal
    });
    Ok(order)
}

fn write_basic(out: &mut dyn Write, rep: &Report) -> std::io::Result<()> {
    let opts = &rep.opts;
    let fields = &rep.fields;
    let n = fields.len();
    let aligned = opts.separator.is_none() || opts.aligned;
    let sep = opts.separator.as_deref().unwrap_or(" ");
    // Each cell's text and its width in characters (its length when all
    // the text is ASCII, the usual case), in order.
    let ascii = rep.text.is_ascii();
    let mut start = 0;
    let cells: Vec<(&str, usize)> = rep
        .slots
        .iter()
        .map(|s| {
            let c = rep.text.get(start..s.end).unwrap_or_default();
            start = s.end;
            (c, if ascii { c.len() } else { c.chars().count() })
        })
        .collect();
    // lvm2 starts from the field's width (its heading's length when the
    // catalogue gives none) and cuts a longer heading to it.
    let mut widths: Vec<usize> = fields.iter().map(|f| f.width).collect();
    for row in cells.chunks(n.max(1)) {
        for (w, &(_, cw)) in widths.iter_mut().zip(row) {
            *w = (*w).max(cw);
        }
    }
    // lvm2 prints nothing at all, not even headings, for an empty report.
    if rep.rows == 0 {
        return Ok(());
    }
    let line = widths.iter().sum::<usize>() + n * sep.len() + 3;
    let mut o: Vec<u8> = Vec::with_capacity(((rep.rows + 1) * line).min(CHUNK + line));
    let cell = |o: &mut Vec<u8>, i: usize, c: &str, cw: usize, a: Align| {
        if i > 0 {
            o.extend_from_slice(sep.as_bytes());
        }
        if aligned {
            let pad = widths[i].saturating_sub(cw);
            match a {
                Align::Left => {
                    o.extend_from_slice(c.as_bytes());
                    o.resize(o.len() + pad, b' ');
                }
                Align::Right => {
                    o.resize(o.len() + pad, b' ');
                    o.extend_from_slice(c.as_bytes());
                }
            }
        } else {
            o.extend_from_slice(c.as_bytes());
        }
    };
    if !opts.noheadings {
        o.extend_from_slice(b"  ");
        for (i, (f, &w)) in fields.iter().zip(&widths).enumerate() {
            let h = if aligned {
                // The heading cut to the column's width, in characters.
                let end = f
                    .heading
                    .char_indices()
                    .nth(w)
                    .map_or(f.heading.len(), |(b, _)| b);
                &f.heading[..end]
            } else {
                f.heading
            };
            cell(&mut o, i, h, h.chars().count(), Align::Left);
        }
        o.push(b'\n');
    }
    for r in 0..rep.rows {
        let row = cells.get(r * n..r * n + n).unwrap_or_default();
        o.extend_from_slice(b"  ");
        for (i, (f, &(c, cw))) in fields.iter().zip(row).enumerate() {
            cell(&mut o, i, c, cw, f.align);
        }
        o.push(b'\n');
        flush_chunk(out, &mut o)?;
    }
    out.write_all(&o)
}

/// How much of a report is built before it is written: a large report is
/// written in pieces of about this size, not built whole in memory (fresh
/// memory costs a small command more than the writes do).
const CHUNK: usize = 64 << 10;

/// Writes `o` out and empties it once it holds [`CHUNK`] bytes.
fn flush_chunk(out: &mut dyn Write, o: &mut Vec<u8>) -> std::io::Result<()> {
    if o.len() >= CHUNK {
        out.write_all(o)?;
        o.clear();
    }
    Ok(())
}

/// Appends a JSON string: quotes, with `"`, `\\` and control characters
/// escaped.
fn json_str(out: &mut String, s: &str) {
    out.push('"');
    json_escaped(out, s);
    out.push('"');
}

/// Appends `s` escaped for a JSON string (`"`, `\\`, control characters),
/// without quotes.
fn json_escaped(out: &mut String, s: &str) {
    // Fast path: nothing to escape (the usual case).
    if !needs_json_escape(s.as_bytes()) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// Whether `b` holds a byte JSON escapes: a control character, `"` or
/// `\\`. Eight bytes at a time: a word has a byte below `n` exactly when
/// `(x - n*0x01..01) & !x & 0x80..80` is not zero (n <= 128), and a byte
/// equal to `c` when `x ^ c*0x01..01` has a byte below 1.
fn needs_json_escape(b: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = |x: u64, n: u64| x.wrapping_sub(ONES * n) & !x & HIGH;
    let mut words = b.chunks_exact(8);
    for w in &mut words {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        let x = u64::from_le_bytes(a);
        let hit = below(x, 0x20)
            | below(x ^ (ONES * u64::from(b'"')), 1)
            | below(x ^ (ONES * u64::from(b'\\')), 1);
        if hit != 0 {
            return true;
        }
    }
    words
        .remainder()
        .iter()
        .any(|&c| c < 0x20 || c == b'"' || c == b'\\')
}

/// lvm2's JSON layout, written in pieces of about [`CHUNK`] bytes.
fn write_json(out: &mut dyn Write, rep: &Report) -> std::io::Result<()> {
    let name = match rep.kind {
        Kind::Pv => "pv",
        Kind::Vg => "vg",
        Kind::Lv => "lv",
        Kind::Seg => "seg",
        Kind::PvSeg => "pvseg",
    };
    // What comes before each field's value, made once rather than once a
    // row: the row's `{` or the previous value's closing quote and `, `,
    // then `"name":` and the value's opening quote.
    let keys: Vec<String> = rep
        .fields
        .iter()
        .enumerate()
        .map(|(k, f)| {
            let mut key = String::from(if k > 0 { "\", " } else { "{" });
            json_str(&mut key, f.name);
            key.push_str(":\"");
            key
        })
        .collect();
    // Most reports have nothing to escape: one look at all their text
    // spares a look at each cell.
    let plain = !needs_json_escape(rep.text.as_bytes());
    let row_len = keys.iter().map(String::len).sum::<usize>() + 22;
    let mut o: Vec<u8> =
        Vec::with_capacity((256 + rep.text.len() + rep.rows * row_len).min(CHUNK + 4 * row_len));
    o.extend_from_slice(b"  {\n      \"report\": [\n          {\n              \"");
    o.extend_from_slice(name.as_bytes());
    o.extend_from_slice(b"\": [\n");
    // The cells in order, each from where the one before it ends: bytes,
    // as the output is (a cell's text is whole characters).
    let text = rep.text.as_bytes();
    let mut start = 0;
    let mut slots = rep.slots.iter();
    let mut escaped = String::new();
    for row in 0..rep.rows {
        o.extend_from_slice(b"                  ");
        for key in &keys {
            o.extend_from_slice(key.as_bytes());
            let end = slots.next().map_or(start, |s| s.end);
            let cell = &text[start..end];
            start = end;
            if cell.is_empty() {
                continue;
            }
            if plain {
                o.extend_from_slice(cell);
            } else {
                escaped.clear();
                json_escaped(&mut escaped, std::str::from_utf8(cell).unwrap_or_default());
                o.extend_from_slice(escaped.as_bytes());
            }
        }
        o.extend_from_slice(if keys.is_empty() { b"{}" } else { b"\"}" });
        if row + 1 < rep.rows {
            o.push(b',');
        }
        o.push(b'\n');
        flush_chunk(out, &mut o)?;
    }
    o.extend_from_slice(b"              ]\n          }\n      ]\n  }\n");
    out.write_all(&o)
}

#[cfg(test)]
mod tests {
    #[test]
    fn no_field_has_two_getters() {
        // ALL_FIELDS takes each getter from a map by name: a second one
        // would replace the first silently.
        let mut names: Vec<&str> = super::GETTERS.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before);
    }

    #[test]
    fn no_two_field_names_differ_only_in_underscores() {
        // `find_field` takes an exact name first; that is only the field
        // lvm2's underscore-blind match finds if no other name matches.
        let all = &*super::ALL_FIELDS;
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert!(!super::same_field(a.name, b.name), "{} {}", a.name, b.name);
            }
        }
    }

    #[test]
    fn json_escapes_quotes_backslashes_and_control_characters() {
        let esc = |s: &str| {
            let mut o = String::new();
            super::json_str(&mut o, s);
            o
        };
        assert_eq!(esc("lv0001"), "\"lv0001\"");
        // Every position in an eight-byte word and in the tail.
        for at in 0..19 {
            for (c, e) in [
                ('"', "\\\""),
                ('\\', "\\\\"),
                ('\n', "\\u000a"),
                ('\x1f', "\\u001f"),
            ] {
                let mut s = "a".repeat(19);
                s.replace_range(at..=at, &c.to_string());
                assert!(super::needs_json_escape(s.as_bytes()), "{at} {c:?}");
                let want = format!("\"{}{e}{}\"", &s[..at], &s[at + 1..]);
                assert_eq!(esc(&s), want);
            }
        }
        // Bytes at or above 0x20, UTF-8 included, pass as they are.
        let clean = "é ~ \u{7f} ü vg_big/lv0001 [x] ÿ";
        assert!(!super::needs_json_escape(clean.as_bytes()));
        assert_eq!(esc(clean), format!("\"{clean}\""));
    }

    #[test]
    fn tags_are_reported_sorted() {
        // Found by the soak test. lvm2 2.03.16 on an LV whose metadata holds
        // tags = ["t3", "t0", "t2", "t1"] (added in that order) reports
        // `t0,t1,t2,t3`.
        let tags: Vec<String> = ["t3", "t0", "t2", "t1"].map(String::from).into();
        assert_eq!(super::sorted(&tags).join(","), "t0,t1,t2,t3");
        assert!(super::sorted(&[]).is_empty());
    }
}
