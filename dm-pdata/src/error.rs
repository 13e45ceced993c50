//! Errors of the persistent-data readers: a stable [`ErrorClass`] over a
//! detail that names the metadata block, the structure and the values.

use std::fmt;
use std::io;

/// The stable classes of failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The operating system failed a read.
    Io,
    /// The metadata bytes do not form valid structures.
    Corrupt,
    /// Valid metadata using a feature this crate does not read.
    Unsupported,
}

/// The kind of a metadata block, as its checksum salt names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// The thin-pool superblock (`thin_disk_superblock`).
    ThinSuperblock,
    /// A btree node (`btree_node`).
    BtreeNode,
    /// A space-map bitmap block (`disk_bitmap_header` + entries).
    Bitmap,
    /// The metadata space map's index block (`disk_metadata_index`).
    MetadataIndex,
    /// The dm-cache superblock (`cache_disk_superblock`).
    CacheSuperblock,
    /// A block of a persistent-data array (`array_block`).
    ArrayBlock,
}

impl fmt::Display for BlockKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BlockKind::ThinSuperblock => "thin superblock",
            BlockKind::BtreeNode => "btree node",
            BlockKind::Bitmap => "space map bitmap",
            BlockKind::MetadataIndex => "metadata space map index",
            BlockKind::CacheSuperblock => "cache superblock",
            BlockKind::ArrayBlock => "array block",
        })
    }
}

/// What went wrong, and at which metadata block (4 KiB units from the start
/// of the metadata device).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading a block failed.
    #[error("metadata block {block}: read failed: {source}")]
    Io {
        /// The block.
        block: u64,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// A block number points past the end of the metadata device.
    #[error("metadata block {block}: past the end of the metadata device ({nr_blocks} blocks)")]
    PastEnd {
        /// The block asked for.
        block: u64,
        /// Blocks on the device.
        nr_blocks: u64,
    },
    /// The stored checksum does not match the block's bytes.
    #[error(
        "metadata block {block}: {kind} checksum {stored:#010x} does not match {computed:#010x}"
    )]
    Checksum {
        /// The block.
        block: u64,
        /// What the block was read as.
        kind: BlockKind,
        /// The value at offset 0.
        stored: u32,
        /// The value computed over bytes 4..4096 with the kind's salt.
        computed: u32,
    },
    /// The block's self-location (`blocknr`, offset 8) is another block.
    #[error("metadata block {block}: {kind} says it is block {found}")]
    WrongLocation {
        /// The block.
        block: u64,
        /// What the block was read as.
        kind: BlockKind,
        /// The `blocknr` stored in it.
        found: u64,
    },
    /// A field holds a value the kernel would refuse.
    #[error("metadata block {block}: {kind}: {field} is {found}: {reason}")]
    BadValue {
        /// The block.
        block: u64,
        /// What the block was read as.
        kind: BlockKind,
        /// The field (the kernel's C name).
        field: &'static str,
        /// The value found.
        found: u64,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A node was reached a second time while walking one tree.
    #[error("metadata block {block}: reached twice while walking the {tree} (a loop)")]
    Loop {
        /// The block reached again.
        block: u64,
        /// The tree being walked.
        tree: &'static str,
    },
    /// A tree is deeper than any valid tree can be.
    #[error("metadata block {block}: the {tree} is deeper than {max} levels")]
    TooDeep {
        /// The node at which the limit was passed.
        block: u64,
        /// The tree being walked.
        tree: &'static str,
        /// The limit.
        max: usize,
    },
    /// A key lies outside the range its parent gives it, or keys are not
    /// strictly increasing.
    #[error("metadata block {block}: {tree}: key {key} at index {index} is outside {low}..{high} or not increasing")]
    KeyOrder {
        /// The node.
        block: u64,
        /// The tree being walked.
        tree: &'static str,
        /// Index of the key in the node.
        index: usize,
        /// The key.
        key: u64,
        /// Lowest key allowed.
        low: u64,
        /// First key not allowed (u64::MAX = none).
        high: u64,
    },
    /// A structure that refers to others is inconsistent with them.
    #[error("{0}")]
    Inconsistent(String),
    /// Valid metadata this crate does not read.
    #[error("{0}")]
    Unsupported(String),
    /// Writing a dump to its output failed.
    #[error("writing the dump: {0}")]
    Output(#[source] io::Error),
    /// A write needs a new data block and every one of the pool's data
    /// blocks is in use (the kernel fails the bio with `BLK_STS_NOSPC`,
    /// ENOSPC).
    #[error("the pool is out of data space: all {nr_blocks} data blocks are in use")]
    NoDataSpace {
        /// The pool's data blocks.
        nr_blocks: u64,
    },
    /// A change needs a new metadata block and every block of the metadata
    /// device is in use. The open transaction is left half done and must be
    /// dropped, not committed: the kernel aborts it, keeps the last commit
    /// and sets the pool read-only (`metadata_operation_failed`).
    #[error("the pool is out of metadata space: all {nr_blocks} metadata blocks are in use")]
    NoMetadataSpace {
        /// The metadata device's blocks.
        nr_blocks: u64,
    },
}

impl Error {
    /// The stable class of this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            // A full pool fails the write as the kernel's I/O does.
            Error::Io { .. }
            | Error::Output(_)
            | Error::NoDataSpace { .. }
            | Error::NoMetadataSpace { .. } => ErrorClass::Io,
            Error::Unsupported(_) => ErrorClass::Unsupported,
            _ => ErrorClass::Corrupt,
        }
    }
}

/// The result of this crate's functions.
pub type Result<T, E = Error> = std::result::Result<T, E>;
