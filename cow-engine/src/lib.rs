//! cow-engine: LV data over PV images, and dm-snapshot's persistent
//! exception store with the kernel's snapshot semantics.
//!
//! - [`lv_io`]: read an LV's bytes through its linear/striped segments;
//! - [`disk_header`], [`exception_store`]: the COW store as the kernel
//!   reads it;
//! - [`view`]: what a snapshot, or an origin under merge, shows;
//! - [`handle`]: an activated LV as `Read + Write + Seek`.
//!
//! # Errors
//! Every fallible function returns [`Error`]: a variant per state a caller
//! acts on ([`Error::SnapshotInvalid`], [`Error::SnapshotFull`],
//! [`Error::Store`] with the offset of what is wrong, [`Error::Io`] with
//! the operating system's error kept), lvm-meta's errors as
//! [`Error::Meta`], and [`Error::class`] for the stable class.
#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod blocks;
pub mod chunk_map;
pub mod disk_header;
pub mod engine;
pub mod error;
pub mod exception_store;
pub mod handle;
pub mod lv_io;
pub mod recover;
pub mod view;

pub use error::{Error, Result};
