//! Historical LVs and the chains of snapshots they keep, as lvm2 2.03
//! reads and reports them.
//!
//! With `metadata/record_lvs_history = 1`, lvm2 remembers a removed thin
//! LV that had thin snapshots (or was one) in the VG's
//! `historical_logical_volumes` section: its id, creation and removal
//! times, its `origin` (a live LV, or a historical one written `-NAME`)
//! and its `descendants` (live LVs). lvm2 reports such an LV as `-NAME`
//! under `lvs -H`, and follows the chains through it in
//! `lv_full_ancestors` and `lv_full_descendants`.
//!
//! The links are built in lvm2's order, which decides the order of the
//! names reported: for each historical LV in text order, first the link
//! to its origin (appended to the origin's successors), then one link to
//! each descendant (appended to its own successors). Live thin snapshots
//! link to their origin through the segment's `origin`, found in text
//! order of the LVs.

use crate::thin;
use lvm_meta::model::Vg;
use lvm_meta::text::{Node, Value};

/// One LV of a chain: live (an index into the VG's LVs) or historical
/// (an index into [`Lineage::historical`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Glv {
    /// A live LV.
    Live(usize),
    /// A historical LV.
    Historical(usize),
}

/// A removed LV lvm2 keeps a record of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoricalLv {
    /// Its name (the section's key, or its `name` value), without the `-`.
    pub name: String,
    /// `id`.
    pub id: String,
    /// `creation_time` (seconds since the epoch), if recorded and not 0.
    pub creation_time: Option<i64>,
    /// `removal_time`, if recorded and not 0.
    pub removal_time: Option<i64>,
    /// The LV it was a snapshot of, when known.
    pub origin: Option<Glv>,
    /// The LVs that were snapshots of it, in lvm2's order.
    pub successors: Vec<Glv>,
}

/// The historical LVs of a VG and the links between them and live LVs.
#[derive(Debug, Clone, Default)]
pub struct Lineage {
    /// The historical LVs, in text order.
    pub historical: Vec<HistoricalLv>,
    /// Per live LV: the historical links lvm2 gives it as an origin.
    live_successors: Vec<Vec<Glv>>,
    /// Per live LV: the historical LV it descends from, if recorded.
    live_origin: Vec<Option<Glv>>,
}

fn setting<'a>(children: &'a [Node], key: &str) -> Option<&'a Value> {
    children.iter().find_map(|n| match n {
        Node::Setting { key: k, value } if k == key => Some(value),
        _ => None,
    })
}

fn time_of(children: &[Node], key: &str) -> Option<i64> {
    match setting(children, key) {
        Some(Value::Int(t)) if *t != 0 => Some(*t),
        _ => None,
    }
}

impl Lineage {
    /// The historical LVs of `vg` and their links. Links that name nothing
    /// (which lvm2 refuses to read) are left out.
    pub fn of(vg: &Vg) -> Lineage {
        let mut l = Lineage {
            historical: Vec::new(),
            live_successors: vec![Vec::new(); vg.lvs.len()],
            live_origin: vec![None; vg.lvs.len()],
        };
        let sections: Vec<(&str, &[Node])> = vg
            .historical_lvs
            .iter()
            .filter_map(|n| match n {
                Node::Section { key, children } => Some((key.as_str(), children.as_slice())),
                Node::Setting { .. } => None,
            })
            .collect();
        for (key, c) in &sections {
            l.historical.push(HistoricalLv {
                name: setting(c, "name")
                    .and_then(Value::as_str)
                    .unwrap_or(key)
                    .to_owned(),
                id: setting(c, "id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                creation_time: time_of(c, "creation_time"),
                removal_time: time_of(c, "removal_time"),
                origin: None,
                successors: Vec::new(),
            });
        }
        for (h, (key, c)) in sections.iter().enumerate() {
            // lvm2 looks the section up by its key among the names.
            let h = l.find(key).unwrap_or(h);
            if let Some(o) = setting(c, "origin").and_then(Value::as_str) {
                let origin = match o.strip_prefix('-') {
                    Some(n) => l.find(n).map(Glv::Historical),
                    None => vg.lv_index(o).map(Glv::Live),
                };
                if let Some(origin) = origin {
                    l.historical[h].origin = Some(origin);
                    l.successors_mut(origin).push(Glv::Historical(h));
                }
            }
            let descendants = match setting(c, "descendants") {
                Some(Value::Array(a)) => a.as_slice(),
                _ => &[],
            };
            for d in descendants.iter().filter_map(Value::as_str) {
                if let Some(li) = vg.lv_index(d) {
                    l.live_origin[li] = Some(Glv::Historical(h));
                    l.historical[h].successors.push(Glv::Live(li));
                }
            }
        }
        l
    }

    /// The historical LV named `name` (without the `-`).
    pub fn find(&self, name: &str) -> Option<usize> {
        self.historical.iter().position(|h| h.name == name)
    }

    fn successors_mut(&mut self, g: Glv) -> &mut Vec<Glv> {
        match g {
            Glv::Live(i) => &mut self.live_successors[i],
            Glv::Historical(h) => &mut self.historical[h].successors,
        }
    }

    /// The name lvm2 reports for `g`: a historical LV's with `-` before it.
    pub fn name(&self, vg: &Vg, g: Glv) -> String {
        match g {
            Glv::Live(i) => vg.lvs[i].name.clone(),
            Glv::Historical(h) => format!("-{}", self.historical[h].name),
        }
    }

    /// `lv_ancestors` (`full`: `lv_full_ancestors`) of `g`, nearest first:
    /// a snapshot's origin, then its origin's... `full` follows the
    /// records of removed LVs too; their names are listed only
    /// `with_historical` (`lvs -H`).
    pub fn ancestors(&self, vg: &Vg, g: Glv, full: bool, with_historical: bool) -> Vec<String> {
        let mut out = Vec::new();
        let mut seen = vec![g];
        let mut at = g;
        while let Some(next) = self.origin_of(vg, at, full) {
            if seen.contains(&next) {
                break;
            }
            seen.push(next);
            if matches!(next, Glv::Live(_)) || with_historical {
                out.push(self.name(vg, next));
            }
            at = next;
        }
        out
    }

    fn origin_of(&self, vg: &Vg, g: Glv, full: bool) -> Option<Glv> {
        match g {
            Glv::Historical(h) => self.historical[h].origin.filter(|_| full),
            Glv::Live(i) => {
                if let Some(c) = vg.roles.get(i).and_then(|r| r.cow_of) {
                    return Some(Glv::Live(c.origin));
                }
                let t = thin::thin_seg(vg, i)?;
                if let Some(o) = t.origin {
                    return Some(Glv::Live(o));
                }
                if let Some(e) = t.external_origin.as_deref().and_then(|e| vg.lv_index(e)) {
                    return Some(Glv::Live(e));
                }
                self.live_origin[i].filter(|_| full)
            }
        }
    }

    /// `lv_descendants` (`full`: `lv_full_descendants`) of `g`, depth
    /// first: each snapshot, then its own snapshots, in lvm2's order.
    pub fn descendants(&self, vg: &Vg, g: Glv, full: bool, with_historical: bool) -> Vec<String> {
        let mut out = Vec::new();
        let mut seen = vec![g];
        self.walk_down(vg, g, full, with_historical, &mut seen, &mut out);
        out
    }

    fn walk_down(
        &self,
        vg: &Vg,
        g: Glv,
        full: bool,
        with_historical: bool,
        seen: &mut Vec<Glv>,
        out: &mut Vec<String>,
    ) {
        for next in self.successors(vg, g, full) {
            if seen.contains(&next) {
                continue;
            }
            seen.push(next);
            if matches!(next, Glv::Live(_)) || with_historical {
                out.push(self.name(vg, next));
            }
            self.walk_down(vg, next, full, with_historical, seen, out);
        }
    }

    fn successors(&self, vg: &Vg, g: Glv, full: bool) -> Vec<Glv> {
        match g {
            Glv::Historical(h) if full => self.historical[h].successors.clone(),
            Glv::Historical(_) => Vec::new(),
            Glv::Live(i) => {
                let origin_of = vg.roles.get(i).map_or(&[][..], |r| &r.origin_of[..]);
                if !origin_of.is_empty() {
                    // An old-style origin: its snapshots' COW LVs.
                    return (0..vg.lvs.len())
                        .filter(|&c| {
                            vg.roles
                                .get(c)
                                .and_then(|r| r.cow_of)
                                .is_some_and(|o| o.origin == i)
                        })
                        .map(Glv::Live)
                        .collect();
                }
                let mut v: Vec<Glv> = (0..vg.lvs.len())
                    .filter(|&c| {
                        thin::thin_seg(vg, c).is_some_and(|t| {
                            t.origin == Some(i)
                                || t.external_origin.as_deref() == Some(vg.lvs[i].name.as_str())
                        })
                    })
                    .map(Glv::Live)
                    .collect();
                if full {
                    v.extend(&self.live_successors[i]);
                }
                v
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The VG of the evid2-hist scenario as lvm2 wrote it: the chain
    /// base <- s1 <- s2 with base and s1 removed, sb a snapshot of base.
    /// The names expected are those of lvm2's lvs-hist-rel.txt there.
    #[test]
    fn chains_through_removed_lvs() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../testdata/lvm2/corpus/evid2-hist/vgcfgbackup.txt"
        );
        let text = std::fs::read(path).unwrap();
        let vg = Vg::from_tree(&lvm_meta::text::parse(&text).unwrap()).unwrap();
        let l = Lineage::of(&vg);
        let names: Vec<&str> = l.historical.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["s1", "base"]);
        assert_eq!(l.historical[0].removal_time, Some(1_719_900_000));
        let base = Glv::Historical(l.find("base").unwrap());
        let s1 = Glv::Historical(l.find("s1").unwrap());
        let s2 = Glv::Live(vg.lv_index("s2").unwrap());
        let sb = Glv::Live(vg.lv_index("sb").unwrap());
        assert_eq!(l.descendants(&vg, base, true, true), ["-s1", "s2", "sb"]);
        assert_eq!(l.descendants(&vg, base, true, false), ["s2", "sb"]);
        assert!(l.descendants(&vg, base, false, true).is_empty());
        assert_eq!(l.descendants(&vg, s1, true, true), ["s2"]);
        assert_eq!(l.ancestors(&vg, s2, true, true), ["-s1", "-base"]);
        assert!(l.ancestors(&vg, s2, true, false).is_empty());
        assert!(l.ancestors(&vg, s2, false, true).is_empty());
        assert_eq!(l.ancestors(&vg, s1, true, true), ["-base"]);
        assert_eq!(l.ancestors(&vg, sb, true, true), ["-base"]);
    }
}
