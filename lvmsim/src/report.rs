//! `pvs`, `vgs` and `lvs`: lvm2's report fields, computed from the scanned
//! images, and two writers (lvm2's `basic` columns and its `json`).

use crate::error::{bail, refused, Error, Result};
use crate::units::{format_size, Units};
use lvm_meta::model::{Area, Lv, SegmentKind, Vg};
use lvm_meta::scan::{System, VgInstance};
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
}

enum Cell {
    Str(String),
    Num(u64),
    Size(u64),
}

#[derive(Debug)]
struct Field {
    name: &'static str,
    heading: &'static str,
    width: usize,
    obj: Obj,
    align: Align,
    get: fn(&Ctx, Row) -> Cell,
}

struct Ctx<'a> {
    sys: &'a System,
    opts: &'a Options,
    kernel: crate::active::Kernel,
}

const fn f(
    name: &'static str,
    heading: &'static str,
    width: usize,
    obj: Obj,
    align: Align,
    get: fn(&Ctx, Row) -> Cell,
) -> Field {
    Field {
        name,
        heading,
        width,
        obj,
        align,
        get,
    }
}

use Align::{Left as L, Right as R};

fn s(v: impl Into<String>) -> Cell {
    Cell::Str(v.into())
}

static FIELDS: &[Field] = &[
    f("pv_name", "PV", 10, Obj::Pv, L, |c, r| s(c.pv_name(r))),
    f("pv_uuid", "PV UUID", 38, Obj::Pv, L, |c, r| s(c.pv_uuid(r))),
    f("pv_fmt", "Fmt", 0, Obj::Pv, L, |c, r| {
        s(if c.is_pv(r) { "lvm2" } else { "" })
    }),
    f("pv_attr", "Attr", 0, Obj::Pv, L, |c, r| s(c.pv_attr(r))),
    f("pv_size", "PSize", 0, Obj::Pv, R, |c, r| {
        Cell::Size(c.pv_size(r))
    }),
    f("pv_free", "PFree", 0, Obj::Pv, R, |c, r| {
        Cell::Size(c.pv_free(r))
    }),
    f("pv_used", "Used", 0, Obj::Pv, R, |c, r| {
        Cell::Size(c.pv_size(r) - c.pv_free(r).min(c.pv_size(r)))
    }),
    f("dev_size", "DevSize", 0, Obj::Pv, R, |c, r| {
        Cell::Size(c.dev(r).map_or(0, |d| d.image.size / 512))
    }),
    f("pe_start", "1st PE", 7, Obj::Pv, R, |c, r| {
        Cell::Size(c.pe_start(r))
    }),
    f("pv_pe_count", "PE", 3, Obj::Pv, R, |c, r| {
        Cell::Num(c.vg_pv(r).map_or(0, |(_, p)| u64::from(p.pe_count)))
    }),
    f("pv_pe_alloc_count", "Alloc", 0, Obj::Pv, R, |c, r| {
        Cell::Num(c.pv_alloc(r))
    }),
    f("pv_mda_count", "#PMda", 0, Obj::Pv, R, |c, r| {
        Cell::Num(c.dev(r).map_or(0, |d| d.mdas.len() as u64))
    }),
    f("pv_mda_used_count", "#PMdaUse", 0, Obj::Pv, R, |c, r| {
        Cell::Num(
            c.dev(r)
                .map_or(0, |d| d.mdas.iter().filter(|m| !m.ignored).count() as u64),
        )
    }),
    f("pv_mda_size", "PMdaSize", 9, Obj::Pv, R, |c, r| {
        Cell::Size(c.pv_mda_size(r))
    }),
    f("pv_mda_free", "PMdaFree", 9, Obj::Pv, R, |c, r| {
        Cell::Size(c.pv_mda_free(r))
    }),
    f("pv_tags", "PV Tags", 0, Obj::Pv, L, |c, r| {
        s(c.vg_pv(r).map_or(String::new(), |(_, p)| tag_list(&p.tags)))
    }),
    f("pvseg_start", "Start", 0, Obj::PvSeg, R, |_, r| {
        Cell::Num(r.pvseg.map_or(0, |p| p.0))
    }),
    f("pvseg_size", "SSize", 0, Obj::PvSeg, R, |_, r| {
        Cell::Num(r.pvseg.map_or(0, |p| p.1))
    }),
    f("vg_fmt", "Fmt", 0, Obj::Vg, L, |c, r| {
        s(if c.vg(r).is_some() { "lvm2" } else { "" })
    }),
    f("vg_uuid", "VG UUID", 38, Obj::Vg, L, |c, r| {
        s(c.vg(r).map_or(String::new(), |v| v.vg.id.clone()))
    }),
    f("vg_name", "VG", 0, Obj::Vg, L, |c, r| {
        s(c.vg(r).map_or_else(
            || {
                if c.used_orphan(r) {
                    "[unknown]".to_owned()
                } else {
                    String::new()
                }
            },
            |v| v.vg.name.clone(),
        ))
    }),
    f("vg_attr", "Attr", 5, Obj::Vg, L, |c, r| {
        s(c.vg(r).map_or(String::new(), vg_attr))
    }),
    f("vg_size", "VSize", 0, Obj::Vg, R, |c, r| {
        Cell::Size(
            c.vg(r)
                .map_or(0, |v| v.vg.total_extents() * v.vg.extent_size.0),
        )
    }),
    f("vg_free", "VFree", 0, Obj::Vg, R, |c, r| {
        Cell::Size(
            c.vg(r)
                .map_or(0, |v| v.vg.free_extents() * v.vg.extent_size.0),
        )
    }),
    f("vg_extent_size", "Ext", 0, Obj::Vg, R, |c, r| {
        Cell::Size(c.vg(r).map_or(0, |v| v.vg.extent_size.0))
    }),
    f("vg_extent_count", "#Ext", 0, Obj::Vg, R, |c, r| {
        Cell::Num(c.vg(r).map_or(0, |v| v.vg.total_extents()))
    }),
    f("vg_free_count", "Free", 0, Obj::Vg, R, |c, r| {
        Cell::Num(c.vg(r).map_or(0, |v| v.vg.free_extents()))
    }),
    f("max_lv", "MaxLV", 0, Obj::Vg, R, |c, r| {
        Cell::Num(c.vg(r).map_or(0, |v| u64::from(v.vg.max_lv)))
    }),
    f("max_pv", "MaxPV", 0, Obj::Vg, R, |c, r| {
        Cell::Num(c.vg(r).map_or(0, |v| u64::from(v.vg.max_pv)))
    }),
    f("pv_count", "#PV", 0, Obj::Vg, R, |c, r| {
        Cell::Num(c.vg(r).map_or(0, |v| v.vg.pvs.len() as u64))
    }),
    f("lv_count", "#LV", 0, Obj::Vg, R, |c, r| {
        Cell::Num(c.vg(r).map_or(0, |v| {
            (0..v.vg.lvs.len()).filter(|&i| v.vg.lv_visible(i)).count() as u64
        }))
    }),
    f("snap_count", "#SN", 0, Obj::Vg, R, |c, r| {
        Cell::Num(c.vg(r).map_or(0, |v| {
            (0..v.vg.lvs.len())
                .filter(|&i| cow_of(&v.vg, i).is_some())
                .count() as u64
        }))
    }),
    f("vg_seqno", "Seq", 0, Obj::Vg, R, |c, r| {
        Cell::Num(c.vg(r).map_or(0, |v| u64::from(v.vg.seqno)))
    }),
    f("vg_tags", "VG Tags", 0, Obj::Vg, L, |c, r| {
        s(c.vg(r).map_or(String::new(), |v| tag_list(&v.vg.tags)))
    }),
    f("vg_mda_count", "#VMda", 0, Obj::Vg, R, |c, r| {
        Cell::Num(c.vg_mdas(r).len() as u64)
    }),
    f("vg_mda_used_count", "#VMdaUse", 0, Obj::Vg, R, |c, r| {
        Cell::Num(c.vg_mdas(r).iter().filter(|m| !m.ignored).count() as u64)
    }),
    f("vg_mda_size", "VMdaSize", 9, Obj::Vg, R, |c, r| {
        Cell::Size(
            c.vg_mdas(r)
                .iter()
                .map(|m| m.locn.size / 512)
                .min()
                .unwrap_or(0),
        )
    }),
    f("vg_mda_free", "VMdaFree", 9, Obj::Vg, R, |c, r| {
        Cell::Size(c.vg_mdas(r).iter().map(|m| mda_free(m)).min().unwrap_or(0))
    }),
    f("vg_mda_copies", "#VMdaCps", 0, Obj::Vg, L, |c, r| {
        s(c.vg(r)
            .map_or(String::new(), |v| match v.vg.metadata_copies {
                0 => "unmanaged".to_owned(),
                n => n.to_string(),
            }))
    }),
    f("lv_uuid", "LV UUID", 38, Obj::Lv, L, |c, r| {
        s(c.lv(r).map_or(String::new(), |(_, l)| l.id.clone()))
    }),
    f("lv_name", "LV", 4, Obj::Lv, L, |c, r| s(c.lv_name(r))),
    f("lv_full_name", "LV", 4, Obj::Lv, L, |c, r| {
        s(c.lv(r)
            .map_or(String::new(), |(v, l)| format!("{}/{}", v.name, l.name)))
    }),
    f("lv_path", "Path", 0, Obj::Lv, L, |c, r| {
        s(match (c.lv(r), r.lv) {
            (Some((v, l)), Some(i)) if v.lv_visible(i) => format!("/dev/{}/{}", v.name, l.name),
            _ => String::new(),
        })
    }),
    f("lv_attr", "Attr", 0, Obj::Lv, L, |c, r| s(c.lv_attr(r))),
    f("lv_size", "LSize", 0, Obj::Lv, R, |c, r| {
        Cell::Size(c.lv_size(r))
    }),
    f("seg_count", "#Seg", 0, Obj::Lv, R, |c, r| {
        Cell::Num(c.lv(r).map_or(0, |(_, l)| l.segments.len() as u64))
    }),
    f("origin", "Origin", 0, Obj::Lv, L, |c, r| s(c.origin(r))),
    f("origin_size", "OSize", 0, Obj::Lv, R, |c, r| {
        match c.origin_size(r) {
            0 => s(""),
            n => Cell::Size(n),
        }
    }),
    f("pool_lv", "Pool", 0, Obj::Lv, L, |_, _| s("")),
    f("data_percent", "Data%", 6, Obj::Lv, L, |c, r| {
        s(c.snap_percent(r))
    }),
    f("snap_percent", "Snap%", 6, Obj::Lv, L, |c, r| {
        s(c.snap_percent(r))
    }),
    f("metadata_percent", "Meta%", 6, Obj::Lv, R, |_, _| s("")),
    f("copy_percent", "Cpy%Sync", 0, Obj::Lv, R, |_, _| s("")),
    f("move_pv", "Move", 0, Obj::Lv, L, |_, _| s("")),
    f("mirror_log", "Log", 0, Obj::Lv, L, |_, _| s("")),
    f("convert_lv", "Convert", 0, Obj::Lv, L, |_, _| s("")),
    f("lv_tags", "LV Tags", 0, Obj::Lv, L, |c, r| {
        s(c.lv(r).map_or(String::new(), |(_, l)| tag_list(&l.tags)))
    }),
    f("lv_layout", "Layout", 10, Obj::Lv, L, |c, r| {
        s(c.lv_layout(r))
    }),
    f("lv_role", "Role", 10, Obj::Lv, L, |c, r| s(c.lv_role(r))),
    f("segtype", "Type", 0, Obj::Seg, L, |c, r| s(c.segtype(r))),
    f("stripes", "#Str", 0, Obj::Seg, R, |c, r| {
        Cell::Num(c.seg(r).map_or(0, |(_, _, sg)| seg_area_count(sg)))
    }),
    f("stripe_size", "Stripe", 0, Obj::Seg, R, |c, r| {
        Cell::Size(c.seg(r).map_or(0, |(_, _, sg)| match &sg.kind {
            SegmentKind::Striped {
                stripe_size: Some(z),
                stripes,
            } if stripes.len() > 1 => z.0,
            _ => 0,
        }))
    }),
    f("chunk_size", "Chunk", 0, Obj::Seg, R, |c, r| {
        Cell::Size(c.chunk_size(r))
    }),
    f("seg_start", "Start", 0, Obj::Seg, R, |c, r| {
        Cell::Size(
            c.seg(r)
                .map_or(0, |(v, _, sg)| u64::from(sg.start_extent) * v.extent_size.0),
        )
    }),
    f("seg_start_pe", "Start", 0, Obj::Seg, R, |c, r| {
        Cell::Num(c.seg(r).map_or(0, |(_, _, sg)| u64::from(sg.start_extent)))
    }),
    f("seg_size", "SSize", 0, Obj::Seg, R, |c, r| {
        Cell::Size(
            c.seg(r)
                .map_or(0, |(v, _, sg)| u64::from(sg.extent_count) * v.extent_size.0),
        )
    }),
    f("seg_size_pe", "SSize", 0, Obj::Seg, R, |c, r| {
        Cell::Num(c.seg(r).map_or(0, |(_, _, sg)| u64::from(sg.extent_count)))
    }),
    f("seg_pe_ranges", "PE Ranges", 0, Obj::Seg, L, |c, r| {
        s(c.seg_areas(r, true))
    }),
    f("devices", "Devices", 0, Obj::Seg, L, |c, r| {
        s(c.seg_areas(r, false))
    }),
    f("seg_tags", "Seg Tags", 0, Obj::Seg, L, |c, r| {
        s(c.seg(r)
            .map_or(String::new(), |(_, _, sg)| tag_list(&sg.tags)))
    }),
];

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

fn seg_area_count(sg: &lvm_meta::model::Segment) -> u64 {
    match &sg.kind {
        SegmentKind::Striped { stripes, .. } => stripes.len() as u64,
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
    fn dev(&self, r: Row) -> Option<&lvm_meta::scan::Device> {
        r.dev.map(|d| &self.sys.devices[d])
    }
    fn vg(&self, r: Row) -> Option<&VgInstance> {
        r.vg.map(|v| &self.sys.vgs[v])
    }
    fn vg_pv(&self, r: Row) -> Option<(&Vg, &lvm_meta::model::Pv)> {
        let v = self.vg(r)?;
        Some((&v.vg, &v.vg.pvs[r.pv?]))
    }
    fn is_pv(&self, r: Row) -> bool {
        r.pv.is_some() || self.dev(r).is_some_and(|d| d.label.is_some())
    }
    fn pv_name(&self, r: Row) -> String {
        match self.dev(r) {
            Some(d) => d.image.path.clone(),
            None => "[unknown]".into(),
        }
    }
    fn pv_uuid(&self, r: Row) -> String {
        if let Some((_, p)) = self.vg_pv(r) {
            return p.id.clone();
        }
        self.dev(r)
            .and_then(|d| d.label.as_ref())
            .map_or(String::new(), |l| l.pv_header.uuid_string())
    }
    fn pv_attr(&self, r: Row) -> String {
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
    fn pe_start(&self, r: Row) -> u64 {
        if let Some((_, p)) = self.vg_pv(r) {
            return p.pe_start.0;
        }
        self.dev(r)
            .and_then(|d| d.label.as_ref())
            .and_then(|l| l.pv_header.pe_start_bytes())
            .map_or(0, |b| b / 512)
    }
    fn pv_size(&self, r: Row) -> u64 {
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
    fn pv_alloc(&self, r: Row) -> u64 {
        match (self.vg(r), r.pv) {
            (Some(v), Some(p)) => v.vg.pv_used_extents(p),
            _ => 0,
        }
    }
    fn pv_free(&self, r: Row) -> u64 {
        match (self.vg(r), r.pv) {
            (Some(v), Some(p)) => v.vg.pv_free_extents(p) * v.vg.extent_size.0,
            _ if self.used_orphan(r) => 0,
            _ => self.pv_size(r),
        }
    }
    /// A PV in no VG whose label says a VG uses it (`PV_EXT_USED`): the VG's
    /// metadata is missing or damaged.
    fn used_orphan(&self, r: Row) -> bool {
        self.vg_pv(r).is_none()
            && self
                .dev(r)
                .and_then(|d| d.label.as_ref())
                .and_then(|l| l.pv_header.extension.as_ref())
                .is_some_and(|e| e.flags & lvm_meta::pv_header::PV_EXT_USED != 0)
    }
    fn pv_mda_size(&self, r: Row) -> u64 {
        self.dev(r)
            .and_then(|d| d.mdas.iter().map(|m| m.locn.size / 512).min())
            .unwrap_or(0)
    }
    fn pv_mda_free(&self, r: Row) -> u64 {
        self.dev(r)
            .and_then(|d| d.mdas.iter().map(mda_free).min())
            .unwrap_or(0)
    }
    fn vg_mdas(&self, r: Row) -> Vec<&lvm_meta::scan::MdaState> {
        let Some(v) = self.vg(r) else {
            return Vec::new();
        };
        v.pv_devices
            .iter()
            .flatten()
            .flat_map(|&d| self.sys.devices[d].mdas.iter())
            .collect()
    }
    fn lv(&self, r: Row) -> Option<(&Vg, &Lv)> {
        let v = self.vg(r)?;
        Some((&v.vg, &v.vg.lvs[r.lv?]))
    }
    fn lv_name(&self, r: Row) -> String {
        match (self.lv(r), r.lv) {
            (Some((v, l)), Some(i)) => {
                if v.lv_visible(i) {
                    l.name.clone()
                } else {
                    format!("[{}]", l.name)
                }
            }
            _ => String::new(),
        }
    }
    fn lv_size(&self, r: Row) -> u64 {
        self.lv(r)
            .map_or(0, |(v, l)| v.lv_extents(l) * v.extent_size.0)
    }
    fn origin(&self, r: Row) -> String {
        match (self.vg(r), r.lv) {
            (Some(v), Some(i)) => {
                cow_of(&v.vg, i).map_or(String::new(), |(o, _, _)| v.vg.lvs[o].name.clone())
            }
            _ => String::new(),
        }
    }
    /// lvm2 `lv_origin_size`: a COW's origin size, an origin's own size.
    fn origin_size(&self, r: Row) -> u64 {
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
    fn snap_percent(&self, r: Row) -> String {
        match (self.opts.active, r.vg, r.lv) {
            (true, Some(g), Some(i)) => self
                .kernel
                .status(self.sys, g, i)
                .map_or(String::new(), crate::active::snapshot_percent),
            _ => String::new(),
        }
    }
    fn lv_attr(&self, r: Row) -> String {
        let (Some(v), Some(i)) = (self.vg(r), r.lv) else {
            return String::new();
        };
        let vg = &v.vg;
        let lv = &vg.lvs[i];
        let has = |f: &str| lv.status.iter().any(|s| s == f);
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
        let mut a = String::new();
        a.push(if origin {
            if merging_origin {
                'O'
            } else {
                'o'
            }
        } else if virt {
            'v'
        } else if let Some((_, _, m)) = cow {
            if m {
                'S'
            } else {
                's'
            }
        } else {
            '-'
        });
        a.push(if has("WRITE") {
            'w'
        } else if has("READ") {
            'r'
        } else {
            '-'
        });
        let alloc = alloc_char(lv.allocation_policy_str());
        a.push(if has("LOCKED") {
            alloc.to_ascii_uppercase()
        } else {
            alloc
        });
        a.push(if has("FIXED_MINOR") { 'm' } else { '-' });
        if self.opts.driver_unknown {
            a.push_str("XX");
        } else if self.opts.active {
            // Every LV of an activated VG is active; nothing holds it open.
            let invalid = r.vg.and_then(|g| self.kernel.status(self.sys, g, i))
                == Some(crate::active::SnapStatus::Invalid)
                && cow.is_some();
            a.push(if invalid { 'I' } else { 'a' });
            a.push('-');
        } else {
            a.push_str("--");
        }
        a.push(if cow.is_some() || origin {
            's'
        } else if unknown {
            'u'
        } else if virt {
            'v'
        } else {
            '-'
        });
        a.push('-');
        let partial = lv.segments.iter().any(|s| match &s.kind {
            SegmentKind::Striped { stripes, .. } => stripes
                .iter()
                .any(|a| matches!(a, Area::Pv { pv, .. } if v.pv_devices[*pv].is_none())),
            _ => false,
        });
        a.push(if partial { 'p' } else { '-' });
        a.push(if lv.flags.iter().any(|f| f == "ACTIVATION_SKIP") {
            'k'
        } else {
            '-'
        });
        a
    }
    fn lv_layout(&self, r: Row) -> String {
        let Some((_, l)) = self.lv(r) else {
            return String::new();
        };
        let first = l.segments.first();
        match first.map(|s| &s.kind) {
            Some(SegmentKind::Striped { stripes, .. }) if stripes.len() > 1 => "striped".into(),
            Some(SegmentKind::Striped { .. }) => "linear".into(),
            Some(SegmentKind::Error) => "error".into(),
            Some(SegmentKind::Zero) => "zero".into(),
            _ => "unknown".into(),
        }
    }
    fn lv_role(&self, r: Row) -> String {
        let (Some(v), Some(i)) = (self.vg(r), r.lv) else {
            return String::new();
        };
        let vg = &v.vg;
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
    fn seg(&self, r: Row) -> Option<(&Vg, &Lv, &lvm_meta::model::Segment)> {
        let (v, l) = self.lv(r)?;
        Some((v, l, l.segments.get(r.seg?)?))
    }
    fn segtype(&self, r: Row) -> String {
        self.seg(r)
            .map_or(String::new(), |(_, _, sg)| match &sg.kind {
                SegmentKind::Striped { stripes, .. } if stripes.len() == 1 => "linear".into(),
                _ => sg.type_name.clone(),
            })
    }
    fn chunk_size(&self, r: Row) -> u64 {
        match (self.vg(r), r.lv) {
            (Some(v), Some(i)) => cow_of(&v.vg, i).map_or(0, |(_, c, _)| c),
            _ => 0,
        }
    }
    fn seg_areas(&self, r: Row, ranges: bool) -> String {
        let Some((v, _, sg)) = self.seg(r) else {
            return String::new();
        };
        let inst = self.vg(r);
        let SegmentKind::Striped { stripes, .. } = &sg.kind else {
            return String::new();
        };
        let per = u64::from(sg.extent_count) / stripes.len() as u64;
        let parts: Vec<String> = stripes
            .iter()
            .map(|a| {
                let (name, start) = match a {
                    Area::Pv { pv, pe } => {
                        let dev = inst.and_then(|i| i.pv_devices[*pv]);
                        let name = dev.map_or("[unknown]".to_owned(), |d| {
                            self.sys.devices[d].image.path.clone()
                        });
                        (name, u64::from(*pe))
                    }
                    Area::Lv { lv, le } => (v.lvs[*lv].name.clone(), u64::from(*le)),
                };
                if ranges {
                    format!("{name}:{start}-{}", start + per - 1)
                } else {
                    format!("{name}({start})")
                }
            })
            .collect();
        parts.join(if ranges { " " } else { "," })
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
    FIELDS
        .iter()
        .find(|f| same_field(f.name, name))
        .or_else(|| {
            prefixes.iter().find_map(|p| {
                FIELDS
                    .iter()
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

fn resolve_fields(kind: Kind, opts: &Options) -> Result<Vec<&'static Field>, String> {
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
    names
        .iter()
        .filter(|n| !n.is_empty())
        .map(|n| find_field(n, kind).ok_or_else(|| format!("Unrecognised field: {n}")))
        .collect()
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
    values: Vec<Vec<Value>>,
    text: Vec<Vec<String>>,
    opts: Options,
    messages: Vec<String>,
    failed: bool,
}

impl Report {
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
        self.values.len()
    }

    /// True when no object matched (lvm2 then prints nothing).
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    fn column(&self, field: &str) -> Option<usize> {
        self.fields.iter().position(|f| same_field(f.name, field))
    }

    /// Row `row`'s value of `field` (lvm2's name, with or without its
    /// `lv_`/`vg_`/`pv_` prefix), if the report has that field.
    pub fn value(&self, row: usize, field: &str) -> Option<&Value> {
        self.values.get(row)?.get(self.column(field)?)
    }

    /// Row `row`'s `field` as lvm2 prints it.
    pub fn text(&self, row: usize, field: &str) -> Option<&str> {
        Some(self.text.get(row)?.get(self.column(field)?)?.as_str())
    }

    /// Writes the report in lvm2's `basic` or `json` layout, as the options
    /// it was made with ask.
    pub fn write(&self, out: &mut dyn Write) -> Result<()> {
        if self.opts.json {
            // The JSON list is named after the command (`seg` with --segments).
            write_json(out, self.kind, &self.fields, &self.text)?;
        } else {
            write_basic(out, &self.opts, &self.fields, &self.text)?;
        }
        Ok(())
    }
}

/// Runs a report and writes it to `out`.
pub fn run(sys: &System, cmd: Kind, opts: &Options, out: &mut dyn Write) -> Result<()> {
    report(sys, cmd, opts)?.write(out)
}

/// Computes report `cmd` (`pvs`, `vgs`, `lvs`) with lvm2's rules for the
/// fields, rows and sort order.
pub fn report(sys: &System, cmd: Kind, opts: &Options) -> Result<Report> {
    let base = match cmd {
        Kind::Lv if opts.segments => Kind::Seg,
        Kind::Pv if opts.segments => Kind::PvSeg,
        other => other,
    };
    let fields = resolve_fields(base, opts).map_err(Error::Refused)?;
    // A segment field turns an LV report into a segment report, as in lvm2.
    let kind = if base == Kind::Lv && fields.iter().any(|f| f.obj == Obj::Seg) {
        Kind::Seg
    } else {
        base
    };
    for f in &fields {
        let ok = match kind {
            Kind::Pv => matches!(f.obj, Obj::Pv | Obj::Vg),
            Kind::Vg => f.obj == Obj::Vg,
            Kind::Lv | Kind::Seg => matches!(f.obj, Obj::Vg | Obj::Lv | Obj::Seg),
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
    };
    let sel = crate::names::select(
        sys,
        matches!(cmd, Kind::Pv | Kind::PvSeg),
        cmd == Kind::Vg,
        &opts.names,
    )?;
    let mut rows = rows(sys, kind, opts, &sel)?;
    let sort = opts
        .sort
        .clone()
        .unwrap_or_else(|| default_sort(kind).to_owned());
    sort_rows(&ctx, &mut rows, &sort, kind)?;
    let values: Vec<Vec<Value>> = rows
        .iter()
        .map(|&r| {
            fields
                .iter()
                .map(|f| match (f.get)(&ctx, r) {
                    Cell::Str(s) => Value::Str(s),
                    Cell::Num(n) => Value::Num(n),
                    Cell::Size(n) => Value::Size(n),
                })
                .collect()
        })
        .collect();
    let text = values
        .iter()
        .map(|r| r.iter().map(|v| render(opts, v)).collect())
        .collect();
    Ok(Report {
        kind: base,
        fields,
        values,
        text,
        opts: opts.clone(),
        messages: sel.messages,
        failed: sel.failed,
    })
}

fn render(opts: &Options, v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        Value::Num(n) => n.to_string(),
        Value::Size(sz) => format_size(*sz, opts.units, !opts.nosuffix),
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
                if sel.has_vg(&v.vg.name) {
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
                if !sel.has_vg(&v.vg.name) || v.vg.status.iter().any(|f| f == "EXPORTED") {
                    continue;
                }
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
                    if !sel.has_lv(&v.vg.name, &l.name) {
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

fn sort_rows(ctx: &Ctx, rows: &mut [Row], spec: &str, kind: Kind) -> Result<()> {
    let mut keys: Vec<(&'static Field, bool)> = Vec::new();
    for k in spec.split(',').map(str::trim).filter(|k| !k.is_empty()) {
        let (name, desc) = match k.strip_prefix('-') {
            Some(n) => (n, true),
            None => (k.strip_prefix('+').unwrap_or(k), false),
        };
        let f = find_field(name, kind).ok_or_else(|| refused!("Unrecognised field: {name}"))?;
        keys.push((f, desc));
    }
    // Each row's sort key is computed once, not inside the comparator.
    let strip = |x: String| x.trim_start_matches('[').trim_end_matches(']').to_owned();
    let mut keyed: Vec<(Vec<Cell>, Row)> = rows
        .iter()
        .map(|&r| {
            let key = keys
                .iter()
                .map(|(f, _)| match (f.get)(ctx, r) {
                    Cell::Str(x) => Cell::Str(strip(x)),
                    other => other,
                })
                .collect();
            (key, r)
        })
        .collect();
    keyed.sort_by(|(a, _), (b, _)| {
        for ((x, y), (_, desc)) in a.iter().zip(b).zip(&keys) {
            let o = match (x, y) {
                (Cell::Num(x), Cell::Num(y)) | (Cell::Size(x), Cell::Size(y)) => x.cmp(y),
                (Cell::Str(x), Cell::Str(y)) => x.cmp(y),
                _ => std::cmp::Ordering::Equal,
            };
            let o = if *desc { o.reverse() } else { o };
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        }
        std::cmp::Ordering::Equal
    });
    for (slot, (_, r)) in rows.iter_mut().zip(keyed) {
        *slot = r;
    }
    Ok(())
}

fn write_basic(
    out: &mut dyn Write,
    opts: &Options,
    fields: &[&Field],
    table: &[Vec<String>],
) -> std::io::Result<()> {
    let aligned = opts.separator.is_none() || opts.aligned;
    let sep = opts.separator.clone().unwrap_or_else(|| " ".into());
    let widths: Vec<usize> = fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let w = table
                .iter()
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0);
            let h = if opts.noheadings { 0 } else { f.heading.len() };
            w.max(h).max(f.width)
        })
        .collect();
    let line = |cells: Vec<(String, Align)>| -> String {
        let mut s = String::from("  ");
        for (i, (c, a)) in cells.into_iter().enumerate() {
            if i > 0 {
                s.push_str(&sep);
            }
            if aligned {
                let pad = widths[i].saturating_sub(c.chars().count());
                match a {
                    Align::Left => {
                        s.push_str(&c);
                        s.push_str(&" ".repeat(pad));
                    }
                    Align::Right => {
                        s.push_str(&" ".repeat(pad));
                        s.push_str(&c);
                    }
                }
            } else {
                s.push_str(&c);
            }
        }
        s
    };
    // lvm2 prints nothing at all, not even headings, for an empty report.
    if table.is_empty() {
        return Ok(());
    }
    if !opts.noheadings {
        let h = line(
            fields
                .iter()
                .map(|f| (f.heading.to_owned(), Align::Left))
                .collect(),
        );
        writeln!(out, "{h}")?;
    }
    for r in table {
        let l = line(
            r.iter()
                .zip(fields)
                .map(|(c, f)| (c.clone(), f.align))
                .collect(),
        );
        writeln!(out, "{l}")?;
    }
    Ok(())
}

/// Appends a JSON string: quotes, with `"`, `\\` and control characters
/// escaped.
fn json_str(out: &mut String, s: &str) {
    out.push('"');
    // Fast path: nothing to escape (the usual case).
    if !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.push_str(s);
        out.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// lvm2's JSON layout, built in memory and written at once.
fn write_json(
    out: &mut dyn Write,
    kind: Kind,
    fields: &[&Field],
    table: &[Vec<String>],
) -> std::io::Result<()> {
    let name = match kind {
        Kind::Pv => "pv",
        Kind::Vg => "vg",
        Kind::Lv => "lv",
        Kind::Seg => "seg",
        Kind::PvSeg => "pvseg",
    };
    let mut o = String::with_capacity(256 + table.len() * fields.len() * 32);
    o.push_str("  {\n      \"report\": [\n          {\n              \"");
    o.push_str(name);
    o.push_str("\": [\n");
    for (i, r) in table.iter().enumerate() {
        o.push_str("                  {");
        for (k, (c, f)) in r.iter().zip(fields).enumerate() {
            if k > 0 {
                o.push_str(", ");
            }
            json_str(&mut o, f.name);
            o.push(':');
            json_str(&mut o, c);
        }
        o.push('}');
        if i + 1 < table.len() {
            o.push(',');
        }
        o.push('\n');
    }
    o.push_str("              ]\n          }\n      ]\n  }\n");
    out.write_all(o.as_bytes())
}

/// A tags field: lvm2 reports tags sorted (byte order), whatever their order
/// in the metadata, which keeps the order they were added in.
fn tag_list(tags: &[String]) -> String {
    let mut v: Vec<&str> = tags.iter().map(String::as_str).collect();
    v.sort_unstable();
    v.join(",")
}

#[cfg(test)]
mod tests {
    #[test]
    fn tags_are_reported_sorted() {
        // Found by the soak test. lvm2 2.03.16 on an LV whose metadata holds
        // tags = ["t3", "t0", "t2", "t1"] (added in that order) reports
        // `t0,t1,t2,t3`.
        let tags: Vec<String> = ["t3", "t0", "t2", "t1"].map(String::from).into();
        assert_eq!(super::tag_list(&tags), "t0,t1,t2,t3");
        assert_eq!(super::tag_list(&[]), "");
    }
}
