//! Choosing physical extents for a new or growing linear or striped LV
//! exactly as lvm2 2.03 does with its default `normal` policy
//! (`_allocate`, `_find_max_parallel_space_for_one_policy`,
//! `_find_some_parallel_space`, `_check_pva`, `_calc_required_extents` and
//! `_alloc_parallel_area` in `lib/metadata/lv_manip.c`; the free-area lists
//! of `lib/metadata/pv_map.c`), so that the same commands give the same
//! segments and PE ranges as lvm2.
//!
//! The model, in short:
//! - Each usable PV has a list of free areas (runs of free extents within
//!   the allowed PE ranges), kept ordered by size, largest first; an area
//!   whose size changes is moved to its new place. Walking a PV's list
//!   continues after an area's *new* place, so an area that is only partly
//!   reserved (it moves behind every area at least as large as what is left
//!   of it) usually ends the walk.
//! - The policies `contiguous`, `cling` and `normal` are tried in turn,
//!   each with the flags lvm2 derives (continue the previous segment, stay
//!   on PVs the LV or this allocation already uses, or anything). Each try
//!   reserves at most one area per PV per stripe slot, orders the candidates
//!   by how many extents they give (largest first, ties in PV order) and
//!   allocates, from the start of the chosen areas, the smallest of their
//!   offers.
//! - Positional reservations (`contiguous` and `cling`) claim a whole area
//!   for a given stripe slot.

use crate::model::{Area, SegmentKind, Vg};

/// The extents of one PV that a command may use: `(first PE, count)` runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PvChoice {
    /// Index into [`Vg::pvs`].
    pub pv: usize,
    /// Runs of allowed PEs (empty: the whole PV).
    pub ranges: Vec<(u32, u32)>,
}

/// A run of extents allocated in parallel: one `(pv, first PE)` per stripe,
/// each `len` extents long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// Per stripe: PV index and first PE.
    pub areas: Vec<(usize, u32)>,
    /// Extents per stripe.
    pub len: u32,
}

/// Why extents cannot be found (lvm2's messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllocError {
    /// Fewer free extents than needed on the usable PVs.
    Insufficient {
        /// Extents needed.
        needed: u64,
        /// Extents free.
        free: u64,
    },
    /// Free extents exist but the policy cannot use them.
    Unsuitable {
        /// Extents still missing.
        more: u64,
    },
}

impl std::fmt::Display for AllocError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AllocError::Insufficient { needed, free } => write!(
                f,
                "Insufficient free space: {needed} extents needed, but only {free} available"
            ),
            AllocError::Unsuitable { more } => write!(
                f,
                "Insufficient suitable allocatable extents for logical volume: {more} more required"
            ),
        }
    }
}

impl std::error::Error for AllocError {}

/// The cap on rounds of one policy: each round allocates at least one
/// extent, so more rounds than extents means a bug, not a big LV.
const MAX_ROUNDS_SLACK: u64 = 16;

/// Free runs of PV `pv` inside `range` (start, count), in PE order (lvm2's
/// `_create_alloc_areas_for_pv`).
fn free_runs_in(vg: &Vg, used: &[(u32, u32)], pv: usize, range: (u32, u32)) -> Vec<(u32, u32)> {
    let count = vg.pvs[pv].pe_count;
    if count == 0 || range.1 == 0 {
        return Vec::new();
    }
    let end = range.0.saturating_add(range.1 - 1).min(count - 1);
    let mut runs = Vec::new();
    let mut pe = range.0;
    // Walk used runs in order; gaps are free.
    let mut cursor = 0u32; // first extent not known to be used
    let mut segs: Vec<(u32, u32, bool)> = Vec::new();
    for &(s, n) in used {
        if s > cursor {
            segs.push((cursor, s - cursor, false));
        }
        segs.push((s, n, true));
        cursor = cursor.max(s.saturating_add(n));
    }
    if cursor < count {
        segs.push((cursor, count - cursor, false));
    }
    for (s, n, taken) in segs {
        if pe > end {
            break;
        }
        let last = s.saturating_add(n).saturating_sub(1);
        if pe > last {
            continue;
        }
        if !taken {
            let len = if end >= last {
                n - (pe - s)
            } else {
                end - pe + 1
            };
            runs.push((pe, len));
        }
        pe = s.saturating_add(n);
    }
    runs
}

/// Free extents on the usable PVs (all of the VG's if `pvs` is empty).
pub fn free_extents(vg: &Vg, pvs: &[PvChoice]) -> u64 {
    let used = vg.pv_used_runs();
    choices(vg, pvs)
        .iter()
        .filter(|c| allocatable(vg, c.pv))
        .flat_map(|c| {
            ranges_of(vg, c)
                .into_iter()
                .flat_map(|r| free_runs_in(vg, &used[c.pv], c.pv, r))
                .collect::<Vec<_>>()
        })
        .map(|r| u64::from(r.1))
        .sum()
}

fn allocatable(vg: &Vg, pv: usize) -> bool {
    vg.pvs[pv].status.iter().any(|s| s == "ALLOCATABLE")
}

fn ranges_of(vg: &Vg, c: &PvChoice) -> Vec<(u32, u32)> {
    if c.ranges.is_empty() {
        vec![(0, vg.pvs[c.pv].pe_count)]
    } else {
        c.ranges.clone()
    }
}

fn choices(vg: &Vg, pvs: &[PvChoice]) -> Vec<PvChoice> {
    if pvs.is_empty() {
        (0..vg.pvs.len())
            .map(|pv| PvChoice {
                pv,
                ranges: Vec::new(),
            })
            .collect()
    } else {
        pvs.to_vec()
    }
}

/// One free area of a PV map.
#[derive(Debug, Clone)]
struct FreeArea {
    map: usize,
    start: u32,
    count: u32,
    unreserved: u32,
}

/// One PV's areas in lvm2's list order.
#[derive(Debug, Clone)]
struct PvMap {
    pv: usize,
    list: Vec<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Policy {
    Contiguous,
    Cling,
    Normal,
}

#[derive(Debug, Clone, Copy, Default)]
struct Flags {
    area_count_matches: bool,
    contiguous_to_lvseg: bool,
    cling_to_lvseg: bool,
    cling_to_alloced: bool,
    positional: bool,
    can_split: bool,
}

/// The previous segment an extension continues: per stripe `(pv, pe, len)`,
/// plus the areas of the LV's first segment `(stripe index, pv)`.
#[derive(Debug, Clone)]
struct PrevSeg {
    areas: Vec<(usize, u32, u32)>,
    lv_areas: Vec<(usize, usize)>,
}

enum Use {
    Preferred,
    NextPv,
    NextArea,
    Take,
}

struct Alloc<'a> {
    areas: Vec<FreeArea>,
    maps: Vec<PvMap>,
    /// Stripe slots: area id and extents it would give.
    slots: Vec<Option<(usize, u32)>>,
    num_positional: usize,
    /// Per stripe: `(pv, pe, len)` allocated so far by this command.
    alloced: Vec<Vec<(usize, u32, u32)>>,
    allocated: u64,
    stripes: u32,
    prev: Option<&'a PrevSeg>,
}

impl Alloc<'_> {
    fn insert(&mut self, id: usize, reduced: bool) {
        let a = &self.areas[id];
        let c = if reduced { a.unreserved } else { a.count };
        let m = a.map;
        let pos = self.maps[m]
            .list
            .iter()
            .position(|&o| c > self.areas[o].count)
            .unwrap_or(self.maps[m].list.len());
        self.maps[m].list.insert(pos, id);
    }

    fn remove(&mut self, id: usize) {
        let m = self.areas[id].map;
        self.maps[m].list.retain(|&o| o != id);
    }

    fn consume(&mut self, id: usize, n: u32) {
        self.remove(id);
        let a = &mut self.areas[id];
        if n < a.count {
            a.start += n;
            a.count -= n;
            a.unreserved = a.count;
            self.insert(id, false);
        } else {
            a.count = 0;
            a.unreserved = 0;
        }
    }

    fn pv_of(&self, id: usize) -> usize {
        self.maps[self.areas[id].map].pv
    }

    fn total_free(&self) -> u64 {
        self.maps
            .iter()
            .flat_map(|m| &m.list)
            .map(|&i| u64::from(self.areas[i].count))
            .sum()
    }

    /// `_is_condition` over a set of `(slot, matches)` candidates: the first
    /// matching free slot; with positional filling the area is reserved whole.
    fn condition(&mut self, id: usize, cands: &[(usize, bool)], f: Flags) -> bool {
        for &(s, ok) in cands {
            if f.positional && self.slots.get(s).is_some_and(|x| x.is_some()) {
                continue;
            }
            if !ok {
                continue;
            }
            if f.positional && s >= self.num_positional {
                continue;
            }
            if f.positional {
                if s >= self.slots.len() {
                    continue;
                }
                self.slots[s] = Some((id, self.areas[id].count));
            }
            return true;
        }
        false
    }

    fn check_contiguous(&mut self, id: usize, f: Flags) -> bool {
        let Some(prev) = self.prev else { return false };
        let (pv, start) = (self.pv_of(id), self.areas[id].start);
        let cands: Vec<(usize, bool)> = prev
            .areas
            .iter()
            .enumerate()
            .map(|(s, &(p, pe, len))| (s, p == pv && pe + len == start))
            .collect();
        self.condition(id, &cands, f)
    }

    fn check_cling(&mut self, id: usize, f: Flags) -> bool {
        let Some(prev) = self.prev else { return false };
        let pv = self.pv_of(id);
        let cands: Vec<(usize, bool)> = prev.lv_areas.iter().map(|&(s, p)| (s, p == pv)).collect();
        self.condition(id, &cands, f)
    }

    fn check_cling_to_alloced(&mut self, id: usize, f: Flags) -> bool {
        let pv = self.pv_of(id);
        for s in 0..self.stripes as usize {
            if f.positional && self.slots.get(s).is_some_and(|x| x.is_some()) {
                continue;
            }
            if self.alloced[s].iter().any(|a| a.0 == pv) {
                if f.positional && s < self.slots.len() {
                    self.slots[s] = Some((id, self.areas[id].count));
                }
                return true;
            }
        }
        false
    }

    /// `_check_pva` for the maximise-cling default.
    fn check_pva(&mut self, id: usize, still_needed: u64, found_one: bool, f: Flags) -> Use {
        if self.areas[id].unreserved == 0 {
            return Use::NextArea;
        }
        let mut found = false;
        if f.contiguous_to_lvseg || f.cling_to_lvseg || f.cling_to_alloced {
            // Continue the previous segment, else (looking for contiguous
            // space only) try the next area; else stay on the LV's PVs or
            // on PVs this allocation already uses; else the next PV.
            let contiguous =
                (f.contiguous_to_lvseg || f.area_count_matches) && self.check_contiguous(id, f);
            if !contiguous && f.contiguous_to_lvseg {
                return Use::NextArea;
            }
            found = contiguous
                || ((f.cling_to_lvseg || f.area_count_matches) && self.check_cling(id, f))
                || (f.cling_to_alloced && self.check_cling_to_alloced(id, f));
            if !found {
                return Use::NextPv;
            }
        }
        if !found
            && u64::from(self.areas[id].unreserved) * u64::from(self.stripes) < still_needed
            && (!f.can_split || found_one)
        {
            return Use::NextPv;
        }
        if f.positional {
            Use::Preferred
        } else {
            Use::Take
        }
    }

    /// `_find_some_parallel_space`; returns nothing, `allocated` grows.
    fn find_some(&mut self, f: Flags, max_to_allocate: u64) {
        let stripes = self.stripes as usize;
        for s in self.slots.iter_mut() {
            *s = None;
        }
        self.num_positional = if !f.positional {
            0
        } else if f.contiguous_to_lvseg || f.cling_to_lvseg {
            self.prev.map_or(0, |p| p.areas.len())
        } else if f.cling_to_alloced {
            stripes
        } else {
            0
        };
        // `_reset_unreserved`: areas moved by an earlier reservation go back
        // to the place their full size gives them.
        for m in 0..self.maps.len() {
            let mut k = 0usize;
            while k < self.maps[m].list.len() {
                let id = self.maps[m].list[k];
                if self.areas[id].unreserved != self.areas[id].count {
                    self.areas[id].unreserved = self.areas[id].count;
                    self.remove(id);
                    self.insert(id, true);
                }
                k = self.maps[m]
                    .list
                    .iter()
                    .position(|&o| o == id)
                    .map_or(k + 1, |p| p + 1);
            }
        }
        let mut ix = 0usize;
        let mut preferred = 0usize;
        for m in 0..self.maps.len() {
            if self.maps[m].list.is_empty() {
                continue;
            }
            let mut found_one = false;
            let mut k = 0usize;
            while k < self.maps[m].list.len() {
                let id = self.maps[m].list[k];
                match self.check_pva(id, max_to_allocate, found_one, f) {
                    Use::Preferred => {
                        preferred += 1;
                        break;
                    }
                    Use::NextPv => break,
                    Use::NextArea => {}
                    Use::Take => {
                        if !found_one {
                            ix += 1;
                            found_one = true;
                        }
                        let slot = ix + self.num_positional - 1;
                        let required = self.required(id, max_to_allocate);
                        if slot >= self.slots.len() {
                            self.slots.resize(slot + 1, None);
                        }
                        self.slots[slot] = Some((id, required));
                    }
                }
                // Continue after the area's (possibly new) place.
                k = match self.maps[m].list.iter().position(|&o| o == id) {
                    Some(p) => p + 1,
                    None => k + 1,
                };
            }
            if preferred == self.num_positional && self.num_positional == stripes {
                break;
            }
        }
        if preferred < self.num_positional && !f.cling_to_alloced && ix == 0 {
            return;
        }
        if ix + preferred < stripes {
            return;
        }
        // Largest offers first; equal ones keep their order.
        let np = self.num_positional;
        if ix > 1 {
            let mut part: Vec<Option<(usize, u32)>> = self.slots[np..np + ix].to_vec();
            part.sort_by_key(|x| std::cmp::Reverse(x.map_or(0, |v| v.1)));
            self.slots[np..np + ix].copy_from_slice(&part);
        }
        if preferred > 0 && preferred != self.num_positional {
            for s in 0..stripes {
                if self.slots[s].is_none() {
                    self.slots[s] = self.slots[self.num_positional].take();
                    self.num_positional += 1;
                }
            }
        }
        if ix + self.num_positional < stripes {
            return;
        }
        self.alloc_parallel(max_to_allocate);
    }

    /// `_calc_required_extents`.
    fn required(&mut self, id: usize, max_to_allocate: u64) -> u32 {
        let want = max_to_allocate / u64::from(self.stripes);
        let a = &mut self.areas[id];
        if want >= u64::from(a.unreserved) {
            let r = a.unreserved;
            a.unreserved = 0;
            r
        } else {
            a.unreserved -= want as u32;
            self.remove(id);
            self.insert(id, true);
            want as u32
        }
    }

    /// `_alloc_parallel_area`.
    fn alloc_parallel(&mut self, max_to_allocate: u64) {
        let stripes = self.stripes as usize;
        let mut len = max_to_allocate / u64::from(self.stripes);
        for s in 0..stripes {
            let used = self.slots[s].map_or(0, |x| x.1);
            len = len.min(u64::from(used));
        }
        let len = len as u32;
        if len == 0 {
            return;
        }
        for s in 0..stripes {
            let Some((id, _)) = self.slots[s] else { return };
            let pv = self.pv_of(id);
            let pe = self.areas[id].start;
            self.consume(id, len);
            self.alloced[s].push((pv, pe, len));
        }
        self.allocated += u64::from(len) * u64::from(self.stripes);
    }
}

/// Allocates `extents` (a multiple of `stripes`) for a new LV, or for the
/// extension of LV `extend`. With `approx` (sizes given in percent) a
/// shortfall is not an error: what was found is returned (possibly
/// nothing).
pub fn allocate(
    vg: &Vg,
    pvs: &[PvChoice],
    stripes: u32,
    extents: u64,
    extend: Option<usize>,
    approx: bool,
) -> Result<Vec<Piece>, AllocError> {
    let stripes = stripes.max(1);
    let used = vg.pv_used_runs();
    let mut areas = Vec::new();
    let mut maps: Vec<PvMap> = Vec::new();
    let mut st_maps_of_pv: Vec<Option<usize>> = vec![None; vg.pvs.len()];
    for c in choices(vg, pvs) {
        if c.pv >= vg.pvs.len() || !allocatable(vg, c.pv) {
            continue;
        }
        let m = match st_maps_of_pv[c.pv] {
            Some(m) => m,
            None => {
                maps.push(PvMap {
                    pv: c.pv,
                    list: Vec::new(),
                });
                st_maps_of_pv[c.pv] = Some(maps.len() - 1);
                maps.len() - 1
            }
        };
        for r in ranges_of(vg, &c) {
            for (start, count) in free_runs_in(vg, &used[c.pv], c.pv, r) {
                areas.push(FreeArea {
                    map: m,
                    start,
                    count,
                    unreserved: count,
                });
            }
        }
    }
    let prev = extend.and_then(|li| {
        let lv = &vg.lvs[li];
        let last = lv.segments.last()?;
        let SegmentKind::Striped { stripes: st, .. } = &last.kind else {
            return None;
        };
        let per = last.extent_count / (st.len().max(1) as u32);
        let mut a = Vec::new();
        for x in st {
            if let Area::Pv { pv, pe } = x {
                a.push((*pv, *pe, per));
            }
        }
        // Cling looks at the segment holding LE 0 only (`_for_each_pv`
        // stops after the first segment of the range).
        let mut lv_areas = Vec::new();
        if let Some(SegmentKind::Striped { stripes: st, .. }) = lv.segments.first().map(|s| &s.kind)
        {
            for (i, x) in st.iter().enumerate() {
                if let Area::Pv { pv, .. } = x {
                    lv_areas.push((i, *pv));
                }
            }
        }
        Some(PrevSeg { areas: a, lv_areas })
    });
    let cur: u64 = extend.map_or(0, |li| vg.lv_extents(&vg.lvs[li]));
    let needed_total = cur + extents;
    let mut st = Alloc {
        areas,
        maps,
        slots: Vec::new(),
        num_positional: 0,
        alloced: vec![Vec::new(); stripes as usize],
        allocated: cur,
        stripes,
        prev: prev.as_ref(),
    };
    // Build each PV's list in PE order, each area inserted by size.
    for id in 0..st.areas.len() {
        st.insert(id, false);
    }
    let size = st.maps.len().max(stripes as usize) + prev.as_ref().map_or(0, |p| p.areas.len());
    st.slots = vec![None; size];
    for policy in [Policy::Contiguous, Policy::Cling, Policy::Normal] {
        let old = st.allocated;
        let free = st.total_free();
        if !approx && needed_total - st.allocated > free {
            return Err(AllocError::Insufficient {
                needed: needed_total - st.allocated,
                free,
            });
        }
        let mut f = Flags {
            can_split: true,
            ..Flags::default()
        };
        let count_matches = prev
            .as_ref()
            .is_some_and(|p| p.areas.len() == stripes as usize);
        if count_matches {
            f.area_count_matches = true;
            match policy {
                Policy::Contiguous => {
                    f.contiguous_to_lvseg = true;
                    f.positional = true;
                }
                Policy::Cling => {
                    f.cling_to_lvseg = true;
                    f.positional = true;
                }
                Policy::Normal => {}
            }
        } else if policy == Policy::Cling {
            f.cling_to_alloced = true;
            f.positional = true;
        }
        if policy == Policy::Normal && st.allocated != needed_total {
            f.cling_to_alloced = true;
        }
        // `_find_max_parallel_space_for_one_policy`.
        let mut rounds = 0u64;
        loop {
            rounds += 1;
            if rounds > needed_total + MAX_ROUNDS_SLACK {
                break;
            }
            let before = st.allocated;
            st.find_some(f, needed_total - st.allocated);
            if before == st.allocated {
                if policy == Policy::Cling && f.cling_to_lvseg && f.positional {
                    f.positional = false;
                } else if policy == Policy::Normal && f.cling_to_alloced {
                    f.cling_to_alloced = false;
                } else {
                    break;
                }
            } else if policy == Policy::Normal && !f.cling_to_alloced {
                f.cling_to_alloced = true;
            }
            if policy == Policy::Contiguous
                || st.allocated == needed_total
                || (approx && st.total_free() == 0)
            {
                break;
            }
        }
        let _ = old;
        if st.allocated == needed_total {
            break;
        }
    }
    if st.allocated != needed_total && !approx {
        return Err(AllocError::Unsuitable {
            more: needed_total - st.allocated,
        });
    }
    let rounds = st.alloced.first().map_or(0, Vec::len);
    let mut out = Vec::with_capacity(rounds);
    for r in 0..rounds {
        out.push(Piece {
            areas: (0..stripes as usize)
                .map(|s| (st.alloced[s][r].0, st.alloced[s][r].1))
                .collect(),
            len: st.alloced[0][r].2,
        });
    }
    Ok(out)
}
