//! `lvs --active`: the report fields lvm2 fills from the kernel, as they
//! would read after `vgchange -ay` of the images: lv_attr's state column
//! ('a', or 'I' for an invalid snapshot) and the snapshot fill levels
//! (`data_percent`, `snap_percent`), computed from the same status numbers
//! `dmsetup status` gives.
//!
//! The percentages follow lvm2 2.03: `lvseg_percent_with_info_and_seg_status`
//! (lib/metadata/lv.c) on the snapshot status — Invalid shows 100 %, a
//! store holding only metadata 0 % — then `dm_make_percent` and
//! `dm_percent_to_round_float(p, 2)` (libdm/libdm-report.c), printed `%.2f`.

use cow_engine::view::load_store;
use lvm_meta::scan::{System, VgInstance};
use std::cell::RefCell;
use std::collections::HashMap;

/// `DM_PERCENT_0`, `DM_PERCENT_1`, `DM_PERCENT_100` (libdevmapper.h).
const PERCENT_0: i32 = 0;
const PERCENT_1: i32 = 1_000_000;
const PERCENT_100: i32 = 100 * PERCENT_1;

/// A `snapshot` / `snapshot-merge` target's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapStatus {
    /// `Invalid`.
    Invalid,
    /// `used/total metadata`, in sectors.
    Usage {
        /// Sectors allocated.
        used: u64,
        /// COW size in sectors.
        total: u64,
        /// Metadata sectors.
        metadata: u64,
    },
}

impl SnapStatus {
    /// The status of a store: its `persistent_usage` numbers
    /// (allocated, total, metadata sectors) if it is valid.
    pub fn of(valid: bool, usage: (u64, u64, u64)) -> SnapStatus {
        if !valid {
            return SnapStatus::Invalid;
        }
        let (used, total, metadata) = usage;
        SnapStatus::Usage {
            used,
            total,
            metadata,
        }
    }

    /// The status of a loaded store.
    pub fn of_store(store: &cow_engine::exception_store::Store) -> SnapStatus {
        SnapStatus::of(store.header.is_valid(), store.usage())
    }
}

/// The target's words in `dmsetup status`: `used/total metadata` or
/// `Invalid`.
impl std::fmt::Display for SnapStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SnapStatus::Invalid => f.write_str("Invalid"),
            SnapStatus::Usage {
                used,
                total,
                metadata,
            } => write!(f, "{used}/{total} {metadata}"),
        }
    }
}

/// `dm_make_percent`: `numerator / denominator` in millionths of a
/// percent, truncated, never exactly 0 or 100 unless it is.
pub fn make_percent(numerator: u64, denominator: u64) -> i32 {
    if denominator == 0 || numerator == denominator {
        return PERCENT_100;
    }
    if numerator == 0 {
        return PERCENT_0;
    }
    // C's conversion of the double to dm_percent_t (int32) truncates.
    let p = (f64::from(PERCENT_100) * (numerator as f64 / denominator as f64)) as i32;
    match p {
        PERCENT_100 => PERCENT_100 - 1,
        PERCENT_0 => PERCENT_0 + 1,
        other => other,
    }
}

/// `%.2f` of `dm_percent_to_round_float(percent, 2)`: in single-precision
/// float as libdm computes it; values just above 0 show 0.01 and just
/// below 100 show 99.99.
pub fn percent_text(percent: i32) -> String {
    let mut f = percent as f32 / PERCENT_1 as f32 + 0.0;
    let r = PERCENT_1 as f32 * 0.01f32;
    if (percent as f32) < r && percent > PERCENT_0 {
        f = 0.01f32;
    } else if (percent as f32) > (PERCENT_100 as f32 - r) && percent < PERCENT_100 {
        f = (PERCENT_100 as f32 - r) / PERCENT_1 as f32;
    }
    format!("{:.2}", f64::from(f))
}

/// The percentage lvm2 shows for a snapshot status.
pub fn snapshot_percent(st: SnapStatus) -> String {
    let p = match st {
        SnapStatus::Invalid => PERCENT_100,
        SnapStatus::Usage { used, metadata, .. } if used == metadata => PERCENT_0,
        SnapStatus::Usage { used, total, .. } => make_percent(used, total),
    };
    percent_text(p)
}

/// Status of the snapshot stores of the scanned VGs, each loaded once.
#[derive(Default)]
pub struct Kernel {
    cache: RefCell<HashMap<(usize, usize), Option<SnapStatus>>>,
}

impl Kernel {
    /// The status of the snapshot target that LV `lv` of VG `vgi` (index
    /// into [`System::vgs`]) reports: its own store for a snapshot (COW
    /// LV), the merging store for an origin under merge; `None` for any
    /// other LV or a store that cannot be read.
    pub fn status(&self, sys: &System, vgi: usize, lv: usize) -> Option<SnapStatus> {
        if let Some(st) = self.cache.borrow().get(&(vgi, lv)) {
            return *st;
        }
        let st = compute(sys, &sys.vgs[vgi], lv);
        self.cache.borrow_mut().insert((vgi, lv), st);
        st
    }
}

fn compute(sys: &System, inst: &VgInstance, lv: usize) -> Option<SnapStatus> {
    let vg = &inst.vg;
    let role = vg.roles.get(lv)?;
    let (cow, chunk) = match role.cow_of {
        Some(c) => (lv, c.chunk_size.0),
        None if role.merging_origin => vg.roles.iter().enumerate().find_map(|(j, r)| {
            r.cow_of
                .filter(|c| c.merging && c.origin == lv)
                .map(|c| (j, c.chunk_size.0))
        })?,
        None => return None,
    };
    let pvs = sys.pv_images(inst);
    let store = load_store(vg, cow, chunk, &pvs).ok()?;
    Some(SnapStatus::of_store(&store))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(used: u64, total: u64, metadata: u64) -> String {
        snapshot_percent(SnapStatus::Usage {
            used,
            total,
            metadata,
        })
    }

    #[test]
    fn kernel_statuses_give_lvm2s_percentages() {
        // Status lines and Data% the kernel scenarios recorded together.
        assert_eq!(usage(1384, 12288, 16), "11.26"); // snap-chunks s4k
        assert_eq!(usage(2304, 16384, 256), "14.06"); // s64k
        assert_eq!(usage(8192, 24576, 2048), "33.33"); // s512k
        assert_eq!(usage(2072, 2072, 24), "100.00"); // snap-full-edges c259
        assert_eq!(usage(16, 32768, 16), "0.00"); // merge finished
        assert_eq!(snapshot_percent(SnapStatus::Invalid), "100.00");
    }

    #[test]
    fn the_edges_round_as_libdm_does() {
        // Just above 0 and just below 100 never print as 0.00 / 100.00.
        assert_eq!(usage(1, 10_000_000, 0), "0.01");
        assert_eq!(usage(9_999_999, 10_000_000, 0), "99.99");
        assert_eq!(make_percent(0, 5), 0);
        assert_eq!(make_percent(1, 3), 33_333_333);
        // The kernel doc's example: 397896/2097152 is 18.97 %.
        assert_eq!(usage(397_896, 2_097_152, 1560), "18.97");
    }
}
