//! cow-engine's integration tests: one binary, one module per subject.
//!
//! Run one subject with `cargo test -p cow-engine --test it MODULE::`.

mod common;
mod crash;
mod handle;
mod kernel_history;
mod kernel_merge;
mod model;
