//! The lvmsim binary's integration tests: one binary, one module per subject.
//!
//! Run one subject with `cargo test -p sim-cli --test it MODULE::`.

mod alloc_vectors;
mod api;
mod cli;
mod common;
mod containers;
mod crash;
mod crash_points;
mod damaged;
mod explain_merge;
mod forensic_mutations;
mod forensic_read_only;
mod full_mda;
mod gen;
mod history;
mod host_disk;
mod kernel_blank_replay;
mod kernel_cache;
mod kernel_corpus;
mod kernel_dmsetup;
mod kernel_dmtable;
mod kernel_forensics;
mod kernel_live;
mod kernel_metadata_replay;
mod kernel_raid;
mod kernel_replay;
mod kernel_thin;
mod kernel_walkthrough;
mod kernel_write;
mod locking;
mod lvm2_corpus;
mod lvm2_rules;
mod lvm2_text_quirks;
mod lvremove;
mod lvrename;
mod names;
mod partitions;
mod provenance;
mod readonly;
mod recover;
mod signals;
mod teach;
mod thin_write;
mod tutorial;
mod write_cli;
