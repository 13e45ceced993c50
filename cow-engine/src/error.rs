//! cow-engine's errors: one variant per state a caller must act on (an
//! invalid or full snapshot, a bad exception store, an I/O failure), each
//! with the LV, the byte offset and the operating system's error kept as
//! values, and [`Error::class`] mapping them to lvm-meta's stable
//! [`ErrorClass`].
//!
//! The messages are the ones lvmsim has always printed. A variant that
//! prints an inner error's text keeps that error in a field not named
//! `source`, so that a report printing the whole chain (anyhow's `{:#}`)
//! does not print it twice; [`Error::Io`] keeps its `io::Error` as the
//! source, as [`lvm_meta::Error::Io`] does.

use crate::exception_store::StoreError;
use lvm_meta::{Corruption, ErrorClass};
use std::io;

/// Which I/O an invalid snapshot refused; it picks the message's wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SnapshotIo {
    /// Opening the snapshot's view (`cat`): every read would fail.
    View,
    /// A read through the engine.
    Read,
    /// A write through the engine.
    Write,
}

/// Which step met a bad exception store; it picks the message's wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreStep {
    /// Loading the store to read a snapshot or a merging origin
    /// ([`crate::view`]); `lv` is `VG/LV`.
    Load,
    /// Activating the store in the engine ([`crate::engine::PStore::activate`]);
    /// `lv` is `device N` (the engine knows devices by number).
    Activate,
    /// Loading the store for forensic export ([`crate::recover::plan`]);
    /// `lv` is `VG/LV`.
    Recover,
}

/// Any failure of cow-engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// I/O on a snapshot whose store is invalid (it overflowed or failed):
    /// the kernel fails every read and write of it.
    #[error("{}", invalid_message(lv, *io))]
    SnapshotInvalid {
        /// The snapshot (`VG/LV`, or `device N` in the engine).
        lv: String,
        /// What was refused.
        io: SnapshotIo,
    },
    /// A snapshot write found no room in the COW for the next chunk: the
    /// write fails and the snapshot is now invalid.
    #[error("the snapshot is full: the write fails and the snapshot is invalidated")]
    SnapshotFull {
        /// The snapshot's COW device (`device N`).
        lv: String,
        /// The origin chunk the write needed a COW chunk for.
        chunk: u64,
    },
    /// The exception store of `lv` is corrupt or unreadable; the kernel
    /// would refuse to load it.
    #[error("{}", store_message(lv, error, *step))]
    Store {
        /// The COW LV (`VG/LV`, or `device N` in the engine).
        lv: String,
        /// Byte offset in the COW LV of what is wrong (the header field,
        /// the metadata area, the record, or the chunk whose read failed).
        offset: u64,
        /// Which step loaded the store.
        step: StoreStep,
        /// What is wrong.
        error: StoreError,
    },
    /// The operating system failed an I/O on an image, a device or the
    /// output.
    #[error("{path}: {what}: {source}")]
    Io {
        /// The image (a PV's path), `device N`, or the output.
        path: String,
        /// The absolute byte offset on `path`, for a positioned I/O.
        offset: Option<u64>,
        /// What was being done ("4096 bytes at 1048576", "open for writing").
        what: String,
        /// The operating system's error.
        source: io::Error,
    },
    /// A read or write through an LV's segments runs past the LV's end.
    #[error("{len} bytes at {offset} run past the end of LV {lv} ({size} bytes)")]
    PastLvEnd {
        /// The LV's name.
        lv: String,
        /// First byte of the I/O.
        offset: u64,
        /// Bytes asked for.
        len: u64,
        /// The LV's size in bytes.
        size: u64,
    },
    /// A read runs past the end of an LV reader or of a snapshot's view.
    #[error("read of {len} bytes at {offset} runs past the {}'s end ({size})", if *view { "view" } else { "LV" })]
    ReadPastEnd {
        /// First byte of the read.
        offset: u64,
        /// Bytes asked for.
        len: u64,
        /// Size in bytes of what was read.
        size: u64,
        /// True for a snapshot's view, false for an LV's raw segments.
        view: bool,
    },
    /// An LV index outside the VG.
    #[error("no LV with index {index}")]
    NoSuchLv {
        /// The index.
        index: usize,
    },
    /// A metadata copy has no LV of this name.
    #[error("seqno {seqno} has no LV {lv}")]
    NoSuchLvInCopy {
        /// The LV's name.
        lv: String,
        /// The copy's seqno.
        seqno: u32,
    },
    /// The LV is not a snapshot in this metadata copy.
    #[error("{lv} is not a snapshot in seqno {seqno}")]
    NotSnapshot {
        /// The LV's name.
        lv: String,
        /// The copy's seqno.
        seqno: u32,
    },
    /// A snapshot whose store was not activated with its origin's.
    #[error("snapshot {lv} has no store")]
    NoStore {
        /// The snapshot's name.
        lv: String,
    },
    /// A metadata history has no copy of this index.
    #[error("no copy {copy}")]
    NoCopy {
        /// The index into the history's copies.
        copy: usize,
    },
    /// A metadata copy's text does not parse.
    #[error("seqno {seqno} does not parse: {corruption}")]
    CopyUnparsed {
        /// The copy's seqno.
        seqno: u32,
        /// What is wrong with its text.
        corruption: Corruption,
    },
    /// Reading a merging snapshot: its data is in the origin's view.
    #[error("{lv} is merging into its origin: read the origin, which shows the snapshot's data")]
    Merging {
        /// The snapshot (`VG/LV`).
        lv: String,
    },
    /// A write reaches a PV whose image is missing.
    #[error("LV {lv}: PV {pv} is missing")]
    PvMissing {
        /// The LV's name.
        lv: String,
        /// The PV's name in the metadata (`pv0`).
        pv: String,
    },
    /// A read reaches a PV whose image is missing.
    #[error("LV {lv}: byte {offset} lies on PV {pv} ({pv_id}), which is missing")]
    PvMissingAt {
        /// The LV's name.
        lv: String,
        /// The LV byte read.
        offset: u64,
        /// The PV's name in the metadata (`pv0`).
        pv: String,
        /// The PV's UUID.
        pv_id: String,
    },
    /// A write to an LV with zero segments (the `zero` target keeps no
    /// data).
    #[error("LV {lv}: zero segments cannot be written")]
    ZeroSegmentWrite {
        /// The LV's name.
        lv: String,
    },
    /// An LV whose size in bytes overflows 64 bits.
    #[error("LV {lv}: size overflows")]
    LvTooLarge {
        /// The LV's name.
        lv: String,
    },
    /// An error of lvm-meta: metadata, mapping, or an image read through
    /// lvm-meta's reader.
    #[error(transparent)]
    Meta(#[from] lvm_meta::Error),
}

fn invalid_message(lv: &str, io: SnapshotIo) -> String {
    match io {
        SnapshotIo::View => format!(
            "snapshot {lv} is invalid (it overflowed or failed): the kernel fails every read of it"
        ),
        SnapshotIo::Read => "the snapshot is invalid: reads fail".into(),
        SnapshotIo::Write => "the snapshot is invalid: writes fail".into(),
    }
}

fn store_message(lv: &str, error: &StoreError, step: StoreStep) -> String {
    match (step, error) {
        (StoreStep::Load, StoreError::Io { source, .. }) => format!("COW {lv}: {source}"),
        (StoreStep::Load, e) => format!("exception store of {lv} at 0: {e}"),
        (StoreStep::Activate, e) => format!("COW {lv} at 0: {e}"),
        (StoreStep::Recover, e) => format!("{lv}: exception store: {e}"),
    }
}

impl Error {
    /// The stable class of this error (lvmsim maps classes to exit codes).
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Io { .. } => ErrorClass::Io,
            Error::Store {
                error: StoreError::Io { .. },
                ..
            } => ErrorClass::Io,
            Error::Store { .. } => ErrorClass::Corrupt,
            Error::ZeroSegmentWrite { .. } | Error::LvTooLarge { .. } => ErrorClass::Unsupported,
            Error::CopyUnparsed { .. } => ErrorClass::Corrupt,
            Error::Meta(e) => e.class(),
            Error::SnapshotInvalid { .. }
            | Error::SnapshotFull { .. }
            | Error::PastLvEnd { .. }
            | Error::ReadPastEnd { .. }
            | Error::NoSuchLv { .. }
            | Error::NoSuchLvInCopy { .. }
            | Error::NotSnapshot { .. }
            | Error::NoStore { .. }
            | Error::NoCopy { .. }
            | Error::Merging { .. }
            | Error::PvMissing { .. }
            | Error::PvMissingAt { .. } => ErrorClass::Usage,
        }
    }

    /// The operating system's error behind this one, if any (also when
    /// lvm-meta's reader or an exception store read met it).
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            Error::Io { source, .. }
            | Error::Meta(lvm_meta::Error::Io { source, .. })
            | Error::Store {
                error: StoreError::Io { source, .. },
                ..
            } => Some(source),
            _ => None,
        }
    }

    /// This error as an `io::Error` of the same kind (the operating
    /// system's kind for an I/O failure, `Other` else) whose message is
    /// this error's whole message; the error itself is kept as the
    /// payload, so `get_ref` and `downcast` find it.
    pub fn into_io(self) -> io::Error {
        let kind = self
            .io_error()
            .map_or(io::ErrorKind::Other, io::Error::kind);
        io::Error::new(kind, self)
    }
}

/// cow-engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_lvmsims_and_classes_are_stable() {
        let e = Error::SnapshotInvalid {
            lv: "vg/s".into(),
            io: SnapshotIo::View,
        };
        assert_eq!(
            e.to_string(),
            "snapshot vg/s is invalid (it overflowed or failed): the kernel fails every read of it"
        );
        assert_eq!(e.class(), ErrorClass::Usage);
        let e = Error::Store {
            lv: "vg/s".into(),
            offset: 12,
            step: StoreStep::Load,
            error: StoreError::ChunkTooLarge(2048),
        };
        assert_eq!(
            e.to_string(),
            "exception store of vg/s at 0: COW chunk size 2048 sectors is over lvmsim's limit \
             of 1024 (lvm2's largest, 512 KiB)"
        );
        assert_eq!(e.class(), ErrorClass::Corrupt);
        let e = Error::ReadPastEnd {
            offset: 4096,
            len: 512,
            size: 4096,
            view: true,
        };
        assert_eq!(
            e.to_string(),
            "read of 512 bytes at 4096 runs past the view's end (4096)"
        );
    }

    #[test]
    fn a_printed_inner_error_is_not_a_source_too() {
        // anyhow's `{:#}` prints each source after the message: a store
        // error's text must appear once.
        let e = Error::Store {
            lv: "device 1".into(),
            offset: 4096,
            step: StoreStep::Activate,
            error: StoreError::Io {
                offset: 4096,
                source: io::Error::new(io::ErrorKind::UnexpectedEof, "short"),
            },
        };
        assert!(std::error::Error::source(&e).is_none());
        assert_eq!(e.to_string(), "COW device 1 at 0: reading the COW: short");
        assert_eq!(e.class(), ErrorClass::Io);
        assert_eq!(
            e.io_error().map(io::Error::kind),
            Some(io::ErrorKind::UnexpectedEof)
        );
        let io = e.into_io();
        assert_eq!(io.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(io.to_string(), "COW device 1 at 0: reading the COW: short");
        assert!(io.get_ref().is_some_and(|p| p.is::<Error>()));
    }
}
