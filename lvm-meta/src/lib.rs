//! lvm-meta: LVM2's on-disk metadata, read and written byte-compatibly with
//! lvm2 2.03.
//!
//! The layers, bottom up:
//! - [`label`] and [`pv_header`]: the label sector of a PV;
//! - [`mda_header`] and [`metadata_area`]: metadata areas and their ring of
//!   text copies (the committed one and every older one still present);
//! - [`text`]: the metadata text grammar; [`model`]: the typed VG on top;
//! - [`scan`]: a set of images assembled into PVs and VGs like lvm2 does,
//!   and [`lv_map`]: logical extents mapped to image byte offsets.
//!
//! Beside them, [`export`] writes the metadata text as lvm2 does, [`alloc`]
//! allocates extents like lvm2's allocator and [`timefmt`] renders time
//! stamps in lvm2's two forms.
//!
//! Parsers take bytes; I/O goes through [`io::ReadAt`] (and
//! [`io::WriteAt`] where the images are written).
//!
//! ```
//! use lvm_meta::crc::lvm_crc;
//! assert_eq!(lvm_crc(b"123456789"), 0x4991_CF02);
//! ```
//!
//! # Errors
//! Every failure is an [`Error`] whose [`Error::class`] is stable; corrupt
//! structures name the image, the [`Structure`] and its byte offset; a VG,
//! LV or device that does not exist is an [`Error::NotFound`] whose message
//! is lvm2's.
#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod alloc;
pub mod commit;
pub mod crc;
pub mod error;
pub mod export;
pub mod history;
pub mod io;
pub mod label;
pub mod lv_map;
pub mod mda_header;
pub mod metadata_area;
pub mod model;
pub mod pv_header;
pub mod pv_layout;
pub mod raid;
pub mod scan;
pub mod text;
pub mod timefmt;
pub mod units;
pub mod uuid;
// Whole disks and containers around the PVs.
pub mod disk;
pub mod ewf;
pub mod partition;
pub mod qcow2;
pub mod rmeta;

pub use error::{Corruption, Error, ErrorClass, NotFound, Result, Structure};
