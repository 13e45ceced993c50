//! dm-pdata: the metadata devices of device-mapper's persistent-data
//! targets, read from bytes.
//!
//! The layers, bottom up:
//! - [`pdata::checksum`] and [`pdata::block`]: 4 KiB blocks, each with a
//!   CRC-32C checksum salted by its kind and its own block number;
//! - [`pdata::btree`]: btree nodes and a bounded walk (every node once, a
//!   depth limit, keys within their parent's range);
//! - [`pdata::space_map`]: space-map roots, index entries, bitmaps of
//!   2-bit reference counts and the overflow tree;
//! - [`thin`]: the thin-pool superblock, device details, the two-level
//!   mapping tree and `thin_dump`'s XML;
//! - [`cache`]: the dm-cache superblock, the mapping array and the dirty
//!   bitset, over [`pdata::array`] and [`pdata::bitset`];
//! - [`writecache`]: dm-writecache's cache device (superblock, entries,
//!   blocks), not persistent-data but read the same way.
//!
//! I/O goes through [`lvm_meta::io::ReadAt`], so the metadata device may
//! be a file, memory, or an LV read through its segments.
//!
//! ```
//! use dm_pdata::thin::block_time::BlockTime;
//! // Data block 3 mapped at pool time 1.
//! assert_eq!(BlockTime::unpack(0x0300_0001), BlockTime { block: 3, time: 1 });
//! ```
//!
//! # Errors
//! Every failure is an [`Error`] naming the metadata block and the field;
//! [`Error::class`] is stable. Hostile metadata (loops, blocks past the
//! device, wrong checksums, absurd sizes) gives such an error, never a
//! panic, a hang or an allocation beyond what the device's size bounds.
#![warn(missing_docs)]
#![deny(unsafe_code)]
#![deny(clippy::arithmetic_side_effects, clippy::as_conversions)]

pub mod cache;
pub mod error;
pub mod pdata;
pub mod thin;
pub mod writecache;

pub use error::{BlockKind, Error, ErrorClass, Result};
