//! Persistent-data btree nodes (`struct btree_node`, `dm-btree-internal.h`)
//! and a bounded walk over one tree.
//!
//! A node is a 32-byte header, `max_entries` u64 keys, then `max_entries`
//! values of `value_size` bytes. Internal nodes hold child block numbers
//! (8-byte values); leaves hold the tree's values.

use crate::error::{BlockKind, Error, Result};
use crate::pdata::block::{MetadataDev, BLOCK_SIZE};
use crate::pdata::checksum::BTREE_CSUM_XOR;
use byteorder::{ByteOrder, LittleEndian};
use lvm_meta::io::ReadAt;
use std::collections::HashSet;

/// Offset of `csum`.
pub const CSUM: usize = 0;
/// Offset of `flags`.
pub const FLAGS: usize = 4;
/// Offset of `blocknr`.
pub const BLOCKNR: usize = 8;
/// Offset of `nr_entries`.
pub const NR_ENTRIES: usize = 16;
/// Offset of `max_entries`.
pub const MAX_ENTRIES: usize = 20;
/// Offset of `value_size`.
pub const VALUE_SIZE: usize = 24;
/// Offset of `padding`.
pub const PADDING: usize = 28;
/// Size of the node header; the keys start here.
pub const HEADER_SIZE: usize = 32;
/// `flags` bit of an internal node (`INTERNAL_NODE`).
pub const INTERNAL_NODE: u32 = 1;
/// `flags` bit of a leaf (`LEAF_NODE`).
pub const LEAF_NODE: u32 = 2;
/// Bytes of a key.
pub const KEY_SIZE: usize = 8;

/// Deepest tree walked. With at least a third of 252 entries per non-root
/// node, 8 levels already address more blocks than a metadata device
/// (at most 2^22 blocks) can hold nodes for; 16 leaves room and still
/// stops a loop at once.
pub const MAX_DEPTH: usize = 16;

/// The node header as stored, every field kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeHeader {
    /// `csum`.
    pub csum: u32,
    /// `flags`: [`INTERNAL_NODE`] or [`LEAF_NODE`].
    pub flags: u32,
    /// `blocknr`: the node's own location.
    pub blocknr: u64,
    /// `nr_entries`: entries in use.
    pub nr_entries: u32,
    /// `max_entries`: capacity.
    pub max_entries: u32,
    /// `value_size`: bytes per value.
    pub value_size: u32,
    /// `padding`.
    pub padding: u32,
}

impl NodeHeader {
    /// Decodes the first 32 bytes of `b` (which must hold them).
    pub fn parse(b: &[u8; BLOCK_SIZE]) -> NodeHeader {
        NodeHeader {
            csum: LittleEndian::read_u32(&b[CSUM..FLAGS]),
            flags: LittleEndian::read_u32(&b[FLAGS..BLOCKNR]),
            blocknr: LittleEndian::read_u64(&b[BLOCKNR..NR_ENTRIES]),
            nr_entries: LittleEndian::read_u32(&b[NR_ENTRIES..MAX_ENTRIES]),
            max_entries: LittleEndian::read_u32(&b[MAX_ENTRIES..VALUE_SIZE]),
            value_size: LittleEndian::read_u32(&b[VALUE_SIZE..PADDING]),
            padding: LittleEndian::read_u32(&b[PADDING..HEADER_SIZE]),
        }
    }
}

/// A validated node: its keys and the bytes of its values in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Where the node is.
    pub block: u64,
    /// The header as stored.
    pub header: NodeHeader,
    /// True for a leaf, false for an internal node.
    pub is_leaf: bool,
    /// The `nr_entries` keys in use.
    pub keys: Vec<u64>,
    values: Vec<u8>,
    value_size: usize,
}

impl Node {
    /// Value `i` (`value_size` bytes), if `i < nr_entries`.
    pub fn value(&self, i: usize) -> Option<&[u8]> {
        let start = i.checked_mul(self.value_size)?;
        self.values.get(start..start.checked_add(self.value_size)?)
    }

    /// The child block numbers of an internal node (empty for a leaf).
    pub fn children(&self) -> Vec<u64> {
        if self.is_leaf {
            return Vec::new();
        }
        self.values
            .chunks_exact(8)
            .map(LittleEndian::read_u64)
            .collect()
    }
}

fn bad(block: u64, field: &'static str, found: u64, reason: &'static str) -> Error {
    Error::BadValue {
        block,
        kind: BlockKind::BtreeNode,
        field,
        found,
        reason,
    }
}

/// Validates a node read from `block` whose leaves hold `leaf_value_size`
/// bytes per value (the checksum and self-location are checked by the
/// caller, see [`MetadataDev::read_checked`]): the flags, the capacity
/// (`node_check`'s rule: header + entries × (8 + value_size) ≤ 4096),
/// `nr_entries` ≤ `max_entries`, and the value size (8 in internal nodes).
pub fn parse_node(block: u64, b: &[u8; BLOCK_SIZE], leaf_value_size: usize) -> Result<Node> {
    let header = NodeHeader::parse(b);
    let is_leaf = match header.flags {
        INTERNAL_NODE => false,
        LEAF_NODE => true,
        f => {
            return Err(bad(
                block,
                "flags",
                u64::from(f),
                "a node is either internal (1) or a leaf (2)",
            ))
        }
    };
    let value_size = usize::try_from(header.value_size).unwrap_or(usize::MAX);
    let want = if is_leaf { leaf_value_size } else { 8 };
    if value_size != want {
        return Err(bad(
            block,
            "value_size",
            u64::from(header.value_size),
            if is_leaf {
                "not the value size of this tree"
            } else {
                "internal nodes hold 8-byte block numbers"
            },
        ));
    }
    let max = usize::try_from(header.max_entries).unwrap_or(usize::MAX);
    let values_at = max
        .checked_mul(KEY_SIZE)
        .and_then(|k| k.checked_add(HEADER_SIZE));
    let end = max
        .checked_mul(KEY_SIZE.saturating_add(value_size))
        .and_then(|e| e.checked_add(HEADER_SIZE));
    let (Some(values_at), Some(_)) = (values_at, end.filter(|e| *e <= BLOCK_SIZE)) else {
        return Err(bad(
            block,
            "max_entries",
            u64::from(header.max_entries),
            "the entries do not fit in a 4096-byte block",
        ));
    };
    let nr = usize::try_from(header.nr_entries).unwrap_or(usize::MAX);
    if nr > max {
        return Err(bad(
            block,
            "nr_entries",
            u64::from(header.nr_entries),
            "more than max_entries",
        ));
    }
    // OK: nr <= max and the whole layout fits in the block, checked above.
    let key_bytes = &b[HEADER_SIZE..HEADER_SIZE.saturating_add(nr.saturating_mul(KEY_SIZE))];
    let keys: Vec<u64> = key_bytes
        .chunks_exact(KEY_SIZE)
        .map(LittleEndian::read_u64)
        .collect();
    let values = b[values_at..values_at.saturating_add(nr.saturating_mul(value_size))].to_vec();
    Ok(Node {
        block,
        header,
        is_leaf,
        keys,
        values,
        value_size,
    })
}

/// Reads and validates the node at `block`.
pub fn read_node<R: ReadAt>(
    dev: &MetadataDev<R>,
    block: u64,
    leaf_value_size: usize,
) -> Result<Node> {
    let b = dev.read_checked(block, BlockKind::BtreeNode, BTREE_CSUM_XOR)?;
    parse_node(block, &b, leaf_value_size)
}

/// Calls `leaf(key, value)` for every entry of the tree rooted at `root`,
/// in key order. Every node is read once: a node reached twice is a
/// [`Error::Loop`], a path longer than [`MAX_DEPTH`] a [`Error::TooDeep`],
/// and every key must lie in the range its parent gives it
/// ([`Error::KeyOrder`]). `tree` names the tree in errors.
pub fn walk<R: ReadAt>(
    dev: &MetadataDev<R>,
    root: u64,
    leaf_value_size: usize,
    tree: &'static str,
    leaf: &mut dyn FnMut(u64, &[u8]) -> Result<()>,
) -> Result<()> {
    let mut seen = HashSet::new();
    walk_node(
        dev,
        root,
        leaf_value_size,
        tree,
        leaf,
        &mut seen,
        0,
        0,
        u64::MAX,
    )
}

#[allow(clippy::too_many_arguments)]
fn walk_node<R: ReadAt>(
    dev: &MetadataDev<R>,
    block: u64,
    leaf_value_size: usize,
    tree: &'static str,
    leaf: &mut dyn FnMut(u64, &[u8]) -> Result<()>,
    seen: &mut HashSet<u64>,
    depth: usize,
    low: u64,
    high: u64,
) -> Result<()> {
    if depth >= MAX_DEPTH {
        return Err(Error::TooDeep {
            block,
            tree,
            max: MAX_DEPTH,
        });
    }
    if !seen.insert(block) {
        return Err(Error::Loop { block, tree });
    }
    let node = read_node(dev, block, leaf_value_size)?;
    // Keys strictly increasing, all in low..high (high = u64::MAX: none).
    let mut prev: Option<u64> = None;
    for (index, &key) in node.keys.iter().enumerate() {
        let in_range = key >= low && (high == u64::MAX || key < high);
        if !in_range || prev.is_some_and(|p| key <= p) {
            return Err(Error::KeyOrder {
                block,
                tree,
                index,
                key,
                low,
                high,
            });
        }
        prev = Some(key);
    }
    if node.is_leaf {
        for (i, &key) in node.keys.iter().enumerate() {
            // OK to unwrap: i < nr_entries, and parse_node kept nr_entries values.
            leaf(key, node.value(i).unwrap_or(&[]))?;
        }
        return Ok(());
    }
    let children = node.children();
    let next = depth.saturating_add(1);
    for (i, (&key, &child)) in node.keys.iter().zip(children.iter()).enumerate() {
        let child_high = node.keys.get(i.saturating_add(1)).copied().unwrap_or(high);
        // The first key of an internal node may be lower than its child's
        // keys (an insert lowers it), never higher: the child is bounded
        // below by its key and above by the next one.
        walk_node(
            dev,
            child,
            leaf_value_size,
            tree,
            leaf,
            seen,
            next,
            key,
            child_high,
        )?;
    }
    Ok(())
}

/// The value under `key` in the tree rooted at `root`, descending through
/// the greatest key not above `key` in each internal node.
pub fn lookup<R: ReadAt>(
    dev: &MetadataDev<R>,
    root: u64,
    leaf_value_size: usize,
    tree: &'static str,
    key: u64,
) -> Result<Option<Vec<u8>>> {
    let mut block = root;
    for _ in 0..MAX_DEPTH {
        let node = read_node(dev, block, leaf_value_size)?;
        let i = match node.keys.binary_search(&key) {
            Ok(i) => i,
            Err(0) => return Ok(None),
            // OK: i > 0 here.
            Err(i) => i.saturating_sub(1),
        };
        if node.is_leaf {
            return Ok(if node.keys.get(i) == Some(&key) {
                node.value(i).map(<[u8]>::to_vec)
            } else {
                None
            });
        }
        // OK to unwrap: i < nr_entries.
        block = node.children().get(i).copied().unwrap_or(u64::MAX);
    }
    Err(Error::TooDeep {
        block,
        tree,
        max: MAX_DEPTH,
    })
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::as_conversions)]
pub(crate) mod tests {
    use super::*;
    use crate::pdata::checksum::block_checksum;

    /// A node at `block` with `entries` (key, value) and the given flags;
    /// capacity as the kernel computes it for the value size.
    pub(crate) fn node_bytes(
        block: u64,
        flags: u32,
        value_size: usize,
        entries: &[(u64, Vec<u8>)],
    ) -> Vec<u8> {
        let mut b = vec![0u8; BLOCK_SIZE];
        let max = (BLOCK_SIZE - HEADER_SIZE) / (8 + value_size) / 3 * 3;
        LittleEndian::write_u32(&mut b[FLAGS..], flags);
        LittleEndian::write_u64(&mut b[BLOCKNR..], block);
        LittleEndian::write_u32(&mut b[NR_ENTRIES..], entries.len() as u32);
        LittleEndian::write_u32(&mut b[MAX_ENTRIES..], max as u32);
        LittleEndian::write_u32(&mut b[VALUE_SIZE..], value_size as u32);
        let values_at = HEADER_SIZE + 8 * max;
        for (i, (k, v)) in entries.iter().enumerate() {
            LittleEndian::write_u64(&mut b[HEADER_SIZE + 8 * i..], *k);
            b[values_at + value_size * i..values_at + value_size * (i + 1)].copy_from_slice(v);
        }
        let c = block_checksum(&b, BTREE_CSUM_XOR);
        LittleEndian::write_u32(&mut b[CSUM..], c);
        b
    }

    fn u64v(v: u64) -> Vec<u8> {
        v.to_le_bytes().to_vec()
    }

    fn collect(dev: &MetadataDev<Vec<u8>>, root: u64) -> Result<Vec<(u64, u64)>> {
        let mut out = Vec::new();
        walk(dev, root, 8, "test tree", &mut |k, v| {
            out.push((k, LittleEndian::read_u64(v)));
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn two_level_tree_walks_in_order_and_looks_up() {
        let mut img = node_bytes(0, INTERNAL_NODE, 8, &[(0, u64v(1)), (10, u64v(2))]);
        img.extend(node_bytes(
            1,
            LEAF_NODE,
            8,
            &[(1, u64v(100)), (5, u64v(500))],
        ));
        img.extend(node_bytes(2, LEAF_NODE, 8, &[(10, u64v(1000))]));
        let dev = MetadataDev::new(img).unwrap();
        assert_eq!(
            collect(&dev, 0).unwrap(),
            vec![(1, 100), (5, 500), (10, 1000)]
        );
        assert_eq!(lookup(&dev, 0, 8, "t", 5).unwrap(), Some(u64v(500)));
        assert_eq!(lookup(&dev, 0, 8, "t", 6).unwrap(), None);
        assert_eq!(lookup(&dev, 0, 8, "t", 11).unwrap(), None);
    }

    #[test]
    fn a_loop_is_named() {
        // Block 0 points at itself.
        let img = node_bytes(0, INTERNAL_NODE, 8, &[(0, u64v(0))]);
        let dev = MetadataDev::new(img).unwrap();
        assert!(matches!(
            collect(&dev, 0),
            Err(Error::Loop { block: 0, .. })
        ));
        // lookup has no visit set: the depth limit stops it.
        assert!(matches!(
            lookup(&dev, 0, 8, "t", 3),
            Err(Error::TooDeep { .. })
        ));
    }

    #[test]
    fn a_child_past_the_device_is_named() {
        let img = node_bytes(0, INTERNAL_NODE, 8, &[(0, u64v(99))]);
        let dev = MetadataDev::new(img).unwrap();
        assert!(matches!(
            collect(&dev, 0),
            Err(Error::PastEnd {
                block: 99,
                nr_blocks: 1
            })
        ));
    }

    #[test]
    fn keys_outside_the_parents_range_are_named() {
        let mut img = node_bytes(0, INTERNAL_NODE, 8, &[(0, u64v(1)), (10, u64v(2))]);
        img.extend(node_bytes(1, LEAF_NODE, 8, &[(12, u64v(1))]));
        img.extend(node_bytes(2, LEAF_NODE, 8, &[(13, u64v(1))]));
        let dev = MetadataDev::new(img).unwrap();
        assert!(matches!(
            collect(&dev, 0),
            Err(Error::KeyOrder {
                block: 1,
                key: 12,
                low: 0,
                high: 10,
                ..
            })
        ));
    }

    #[test]
    fn header_rules() {
        let good = node_bytes(0, LEAF_NODE, 8, &[(1, u64v(1))]);
        let arr = |v: &Vec<u8>| -> [u8; BLOCK_SIZE] { v.as_slice().try_into().unwrap() };
        assert!(parse_node(0, &arr(&good), 8).is_ok());
        assert!(matches!(
            parse_node(0, &arr(&good), 16),
            Err(Error::BadValue {
                field: "value_size",
                ..
            })
        ));
        let mut b = good.clone();
        LittleEndian::write_u32(&mut b[FLAGS..], 3);
        assert!(matches!(
            parse_node(0, &arr(&b), 8),
            Err(Error::BadValue { field: "flags", .. })
        ));
        let mut b = good.clone();
        LittleEndian::write_u32(&mut b[MAX_ENTRIES..], 255); // 32 + 16 × 255 > 4096
        assert!(matches!(
            parse_node(0, &arr(&b), 8),
            Err(Error::BadValue {
                field: "max_entries",
                ..
            })
        ));
        let mut b = good.clone();
        LittleEndian::write_u32(&mut b[NR_ENTRIES..], 253);
        assert!(matches!(
            parse_node(0, &arr(&b), 8),
            Err(Error::BadValue {
                field: "nr_entries",
                ..
            })
        ));
    }
}
