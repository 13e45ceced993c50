//! cow-engine: LV data over PV images, and (to come) dm-snapshot's
//! persistent exception store and its copy-on-write semantics.
#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod lv_io;
