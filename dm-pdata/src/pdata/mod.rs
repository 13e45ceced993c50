//! The persistent-data library's on-disk structures, shared by dm-thin,
//! dm-cache and dm-era metadata: checksums, blocks, btrees, space maps.

pub mod array;
pub mod bitset;
pub mod block;
pub mod btree;
pub mod checksum;
pub mod space_map;
pub mod transaction;
