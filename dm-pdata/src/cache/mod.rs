//! dm-cache metadata (`dm-cache-metadata.c`): the superblock, the mapping
//! array (cache block → origin block and flags) and the dirty bitset of
//! version 2, all read from the metadata device's bytes.

pub mod dump;
pub mod mapping;
pub mod metadata;
pub mod superblock;
