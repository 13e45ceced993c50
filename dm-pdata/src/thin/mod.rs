//! dm-thin pool metadata (`dm-thin-metadata.c`): the superblock, the
//! device details, the two-level mapping tree and `thin_dump`'s XML.

pub mod block_time;
pub mod device_details;
pub mod dump;
pub mod format;
pub mod ls;
pub mod metadata;
pub mod recover;
pub mod superblock;
pub mod write;
