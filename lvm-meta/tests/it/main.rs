//! lvm-meta's integration tests: one binary, one module per subject.
//!
//! Run one subject with `cargo test -p lvm-meta --test it MODULE::`.

mod bad_input;
mod commit_ring;
mod common;
mod export_corpus;
mod model_facts;
mod model_roundtrip;
mod raw_headers;
mod scan_windows;
