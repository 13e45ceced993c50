//! cow-engine: LV data over PV images, and dm-snapshot's persistent
//! exception store with the kernel's snapshot semantics.
//!
//! - [`lv_io`]: read an LV's bytes through its linear/striped segments;
//! - [`disk_header`], [`exception_store`]: the COW store as the kernel
//!   reads it;
//! - [`view`]: what a snapshot, or an origin under merge, shows;
//! - [`handle`]: an activated LV as `Read + Write + Seek`.
#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod blocks;
pub mod chunk_map;
pub mod disk_header;
pub mod engine;
pub mod exception_store;
pub mod handle;
pub mod lv_io;
pub mod recover;
pub mod view;
