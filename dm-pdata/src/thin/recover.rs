//! Finding a removed thin device's mappings again.
//!
//! Deleting a thin device removes its entries from the device-details tree
//! and the top-level mapping tree and drops one reference from its
//! bottom-level mapping tree; the tree's nodes and data blocks go back to
//! the space maps, but their bytes stay where they were until the pool
//! allocates those blocks again. Two places can still hold the mappings:
//!
//! * the held root (a metadata snapshot, `reserve_metadata_snap`): a copy of
//!   the superblock whose trees keep their references, so nothing of a
//!   device deleted after it was taken is freed (nodes or data blocks);
//! * btree nodes still intact on the metadata device: older versions of the
//!   top-level mapping tree (nodes the kernel shadowed in later commits)
//!   name the device's bottom-level roots of those times. They are found by
//!   reading every block and keeping the ones that check as btree nodes.
//!
//! A scanned root is a guess: the walk refuses any node whose block the
//! current metadata space map counts as in use (it may have been given to
//! another tree and rewritten), and every data block the current data space
//! map counts as in use is reported as possibly reallocated.

use crate::error::{BlockKind, Error, Result};
use crate::pdata::block::MetadataDev;
use crate::pdata::btree::{self, NodeHeader, LEAF_NODE};
use crate::pdata::checksum::BTREE_CSUM_XOR;
use crate::pdata::space_map::SmKind;
use crate::pdata::transaction::SpaceMap;
use crate::thin::block_time::BlockTime;
use crate::thin::device_details::{DeviceDetails, DEVICE_DETAILS_SIZE};
use crate::thin::metadata::{Mapping, ThinMetadata, MAX_DEV_ID};
use crate::thin::superblock::Superblock;
use byteorder::{ByteOrder, LittleEndian};
use lvm_meta::io::ReadAt;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// Where a candidate bottom-level root was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootSource {
    /// The held root (metadata snapshot) at this metadata block: its trees
    /// keep their nodes and data blocks allocated.
    Held {
        /// The block of the superblock copy.
        superblock: u64,
    },
    /// A top-level mapping tree leaf found by scanning, at this block; the
    /// live trees no longer reach it.
    Scanned {
        /// The leaf's block.
        leaf: u64,
    },
}

impl RootSource {
    /// True for a root found by scanning (a guess).
    pub fn is_guess(self) -> bool {
        matches!(self, RootSource::Scanned { .. })
    }
}

/// A bottom-level mapping root of a device, and where it was named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Where the root was found.
    pub source: RootSource,
    /// The root node's block.
    pub root: u64,
    /// The device's details as the same source knew them (the held root's
    /// details tree; for a scanned root, `None`).
    pub details: Option<DeviceDetails>,
}

/// What the scan of a metadata device found for the thin devices that are
/// not in the live metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// Blocks that check as btree nodes (checksum, self-location, flags).
    pub nodes: u64,
    /// Bottom-level roots named by top-level leaves the live trees do not
    /// reach, by device id (block of the leaf, root).
    pub roots: BTreeMap<u64, Vec<(u64, u64)>>,
    /// Device details found in details leaves the live trees do not reach,
    /// by device id, distinct values only.
    pub details: BTreeMap<u64, Vec<DeviceDetails>>,
}

/// Blocks of every node the tree rooted at `root` reaches (errors stop the
/// walk of that subtree only: the live trees are read elsewhere).
fn reachable<R: ReadAt>(dev: &MetadataDev<R>, root: u64, vs: usize, out: &mut HashSet<u64>) {
    let mut stack = vec![(root, 0usize)];
    while let Some((b, depth)) = stack.pop() {
        if depth >= btree::MAX_DEPTH || !out.insert(b) {
            continue;
        }
        if let Ok(n) = btree::read_node(dev, b, vs) {
            for c in n.children() {
                stack.push((c, depth.saturating_add(1)));
            }
        }
    }
}

/// Reads every block of `dev` and collects the top-level mapping leaves
/// and device-details leaves that `live` (and its held root, if any) no
/// longer reaches.
pub fn scan<R: ReadAt>(dev: &MetadataDev<R>, live: &ThinMetadata) -> Scan {
    let mut live_top = HashSet::new();
    let mut live_details = HashSet::new();
    let mut sbs = vec![live.superblock];
    if let Ok(Some(h)) = held_superblock(dev, &live.superblock) {
        sbs.push(h);
    }
    for sb in &sbs {
        reachable(dev, sb.data_mapping_root, 8, &mut live_top);
        reachable(
            dev,
            sb.device_details_root,
            DEVICE_DETAILS_SIZE,
            &mut live_details,
        );
    }
    let nr = dev.nr_blocks();
    let mut s = Scan::default();
    for b in 1..nr {
        let Ok(raw) = dev.read_raw(b) else { continue };
        if crate::pdata::block::check_block(&raw[..], b, BlockKind::BtreeNode, BTREE_CSUM_XOR)
            .is_err()
        {
            continue;
        }
        let h = NodeHeader::parse(&raw);
        s.nodes = s.nodes.saturating_add(1);
        if h.flags != LEAF_NODE {
            continue;
        }
        match usize::try_from(h.value_size) {
            Ok(8) if !live_top.contains(&b) => {
                let Ok(n) = btree::parse_node(b, &raw, 8) else {
                    continue;
                };
                // A top-level leaf: device ids as keys, each value a block
                // of this device holding a btree node of 8-byte values.
                if n.keys.iter().any(|&k| k > MAX_DEV_ID) {
                    continue;
                }
                let vals: Vec<u64> = (0..n.keys.len())
                    .filter_map(|i| n.value(i).map(LittleEndian::read_u64))
                    .collect();
                // Every value a block of the device; the ones that still
                // hold such a node are kept (the others were reused).
                if vals.is_empty() || !vals.iter().all(|&v| v > 0 && v < nr) {
                    continue;
                }
                for (k, v) in n.keys.iter().zip(vals) {
                    if btree::read_node(dev, v, 8).is_err() {
                        continue;
                    }
                    let e = s.roots.entry(*k).or_default();
                    if !e.iter().any(|&(_, r)| r == v) {
                        e.push((b, v));
                    }
                }
            }
            Ok(DEVICE_DETAILS_SIZE) if !live_details.contains(&b) => {
                let Ok(n) = btree::parse_node(b, &raw, DEVICE_DETAILS_SIZE) else {
                    continue;
                };
                for (i, &k) in n.keys.iter().enumerate() {
                    let Some(v) = n
                        .value(i)
                        .and_then(|v| <&[u8; DEVICE_DETAILS_SIZE]>::try_from(v).ok())
                    else {
                        continue;
                    };
                    let d = DeviceDetails::parse(v);
                    let e = s.details.entry(k).or_default();
                    if k <= MAX_DEV_ID && !e.contains(&d) {
                        e.push(d);
                    }
                }
            }
            _ => {}
        }
    }
    s
}

/// The held root's superblock copy, if the live superblock names one.
pub fn held_superblock<R: ReadAt>(
    dev: &MetadataDev<R>,
    live: &Superblock,
) -> Result<Option<Superblock>> {
    if live.held_root == 0 {
        return Ok(None);
    }
    let b = dev.read_raw(live.held_root)?;
    Superblock::parse(live.held_root, &b).map(Some)
}

/// Every candidate root of device `id`: the held root's first (exact),
/// then the scanned ones (guesses) in block order of their leaves.
pub fn candidates<R: ReadAt>(
    dev: &MetadataDev<R>,
    live: &ThinMetadata,
    scan: &Scan,
    id: u64,
) -> Vec<Candidate> {
    let mut out = Vec::new();
    if let Ok(Some(h)) = held_superblock(dev, &live.superblock) {
        if let Ok(m) = ThinMetadata::read_from(dev, h) {
            if let Some(&root) = m.roots.get(&id) {
                out.push(Candidate {
                    source: RootSource::Held {
                        superblock: live.superblock.held_root,
                    },
                    root,
                    details: m.details.get(&id).copied(),
                });
            }
        }
    }
    for &(leaf, root) in scan.roots.get(&id).map_or(&[][..], |v| v.as_slice()) {
        if out.iter().any(|c| c.root == root) {
            continue;
        }
        out.push(Candidate {
            source: RootSource::Scanned { leaf },
            root,
            details: None,
        });
    }
    out
}

/// A node the walk of a candidate did not use, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The node's block.
    pub block: u64,
    /// Keys (virtual blocks) from here on may be missing: the lowest key
    /// the node's parent gives it.
    pub from_virt: u64,
    /// Up to this virtual block (exclusive; `u64::MAX`: the end).
    pub to_virt: u64,
    /// Why it was refused.
    pub reason: String,
}

/// A recovered mapping and what the current data space map says of its
/// data block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveredMapping {
    /// The mapping as the tree holds it.
    pub mapping: Mapping,
    /// The data block's reference count now.
    pub data_refs: u32,
    /// True if the bytes of the data block are the device's: kept by the
    /// held root, or free now (never reallocated since, as far as the
    /// committed state shows).
    pub trustworthy: bool,
}

/// The walk of one candidate root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The root walked.
    pub candidate: Candidate,
    /// The mappings, in virtual block order.
    pub mappings: Vec<RecoveredMapping>,
    /// Nodes read and used.
    pub nodes: Vec<u64>,
    /// Nodes not used; the ranges they covered are unknown.
    pub refused: Vec<Refused>,
}

impl Recovered {
    /// True if every node was used and every data block is trustworthy.
    pub fn complete(&self) -> bool {
        self.refused.is_empty() && self.mappings.iter().all(|m| m.trustworthy)
    }
}

/// The live space maps, loaded once for [`walk`].
pub struct LiveMaps {
    metadata: SpaceMap,
    data: SpaceMap,
}

impl LiveMaps {
    /// Loads both space maps of `sb`.
    pub fn load<R: ReadAt>(dev: &MetadataDev<R>, sb: &Superblock) -> Result<LiveMaps> {
        Ok(LiveMaps {
            metadata: SpaceMap::load(dev, sb.metadata_sm_root, SmKind::Metadata)?,
            data: SpaceMap::load(dev, sb.data_sm_root, SmKind::Data)?,
        })
    }

    /// The current reference count of data block `b` (0 past the end).
    pub fn data_refs(&self, b: u64) -> u32 {
        self.data.count(b).unwrap_or(0)
    }

    /// The current reference count of metadata block `b` (0 past the end).
    pub fn metadata_refs(&self, b: u64) -> u32 {
        self.metadata.count(b).unwrap_or(0)
    }
}

/// Walks candidate `c` with every check of the live walk (checksum,
/// self-location, node type and value size, key order within the parent's
/// range, depth, loops), keeping what can be used when a node fails:
/// a failing node is refused with the virtual range it covered, and the
/// walk goes on with its siblings. For a scanned root, a node whose block
/// the live metadata space map counts as in use is refused too (the block
/// may hold another tree's node now). Data blocks: trustworthy when the
/// root is held, or when the live data space map counts them free.
pub fn walk<R: ReadAt>(
    dev: &MetadataDev<R>,
    maps: &LiveMaps,
    c: Candidate,
    nr_data_blocks: u64,
) -> Recovered {
    let guess = c.source.is_guess();
    let mut r = Recovered {
        candidate: c,
        mappings: Vec::new(),
        nodes: Vec::new(),
        refused: Vec::new(),
    };
    let mut seen = HashSet::new();
    // (block, depth, low, high)
    let mut stack = vec![(c.root, 0usize, 0u64, u64::MAX)];
    let mut found: BTreeMap<u64, BlockTime> = BTreeMap::new();
    while let Some((b, depth, low, high)) = stack.pop() {
        let refuse = |reason: String| Refused {
            block: b,
            from_virt: low,
            to_virt: high,
            reason,
        };
        if depth >= btree::MAX_DEPTH {
            r.refused
                .push(refuse(format!("deeper than {} levels", btree::MAX_DEPTH)));
            continue;
        }
        if !seen.insert(b) {
            r.refused.push(refuse("reached twice (a loop)".to_owned()));
            continue;
        }
        if guess && maps.metadata_refs(b) > 0 {
            r.refused.push(refuse(
                "its block is in use in the live metadata (it may hold another tree's node now)"
                    .to_owned(),
            ));
            continue;
        }
        let node = match btree::read_node(dev, b, 8) {
            Ok(n) => n,
            Err(e) => {
                r.refused.push(refuse(e.to_string()));
                continue;
            }
        };
        let mut prev: Option<u64> = None;
        let ordered = node.keys.iter().all(|&k| {
            let ok = k >= low && (high == u64::MAX || k < high) && prev.is_none_or(|p| k > p);
            prev = Some(k);
            ok
        });
        if !ordered {
            r.refused.push(refuse(
                "keys out of order or outside the range its parent gives".to_owned(),
            ));
            continue;
        }
        r.nodes.push(b);
        if node.is_leaf {
            for (i, &k) in node.keys.iter().enumerate() {
                let Some(v) = node.value(i) else { continue };
                let bt = BlockTime::unpack(LittleEndian::read_u64(v));
                if bt.block >= nr_data_blocks {
                    r.refused.push(Refused {
                        block: b,
                        from_virt: k,
                        to_virt: k.saturating_add(1),
                        reason: format!(
                            "virtual block {k} maps to data block {}, past the pool's {nr_data_blocks}",
                            bt.block
                        ),
                    });
                    continue;
                }
                found.insert(k, bt);
            }
            continue;
        }
        let children = node.children();
        // Pushed in reverse so that the stack pops them in key order.
        for (i, (&k, &child)) in node.keys.iter().zip(children.iter()).enumerate().rev() {
            let child_high = node.keys.get(i.saturating_add(1)).copied().unwrap_or(high);
            stack.push((child, depth.saturating_add(1), k, child_high));
        }
    }
    r.refused.sort_by_key(|x| x.from_virt);
    r.mappings = found
        .into_iter()
        .map(|(virt, value)| {
            let data_refs = maps.data_refs(value.block);
            RecoveredMapping {
                mapping: Mapping { virt, value },
                data_refs,
                trustworthy: !guess || data_refs == 0,
            }
        })
        .collect();
    r
}

/// Walks every candidate of device `id` and returns them best first: the
/// held root if any, then the scanned roots with the most trustworthy
/// mappings (fewest refused nodes on a tie, then the most mappings).
pub fn recover<R: ReadAt>(
    dev: &MetadataDev<R>,
    live: &ThinMetadata,
    maps: &LiveMaps,
    scan: &Scan,
    id: u64,
) -> Vec<Recovered> {
    let mut all: Vec<Recovered> = candidates(dev, live, scan, id)
        .into_iter()
        .map(|c| walk(dev, maps, c, live.nr_data_blocks()))
        .collect();
    all.sort_by_key(|r| {
        let good = r.mappings.iter().filter(|m| m.trustworthy).count();
        (
            r.candidate.source.is_guess(),
            std::cmp::Reverse(good),
            r.refused.len(),
            std::cmp::Reverse(r.mappings.len()),
        )
    });
    all
}

/// Device ids that some source names and the live details tree does not
/// have: the held root's devices, and those of scanned leaves.
pub fn removed_ids<R: ReadAt>(
    dev: &MetadataDev<R>,
    live: &ThinMetadata,
    scan: &Scan,
) -> BTreeSet<u64> {
    let mut ids: BTreeSet<u64> = scan.roots.keys().copied().collect();
    ids.extend(scan.details.keys().copied());
    if let Ok(Some(h)) = held_superblock(dev, &live.superblock) {
        if let Ok(m) = ThinMetadata::read_from(dev, h) {
            ids.extend(m.details.keys().copied());
        }
    }
    ids.retain(|id| !live.details.contains_key(id));
    ids
}

/// An error of this module's callers' kind, for a device id that no source
/// names.
pub fn not_found(id: u64) -> Error {
    Error::Inconsistent(format!(
        "thin device {id}: neither the held root nor any btree node on the metadata device names its mappings"
    ))
}
