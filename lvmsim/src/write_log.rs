//! A record of every write a command issues, for the crash-consistency
//! tests: with [`crate::context::WriteHooks::log`] set (the binary's
//! `LVMSIM_WRITE_LOG=FILE`), each write is appended to FILE
//! (before it is made) as
//! `u32 path length, path, u64 offset, u32 data length, data`, all
//! little-endian, the path being the image's file as opened. The tests
//! replay any prefix of the record onto copies of the original images to
//! simulate a crash after that write.

use lvm_meta::io::{ReadAt, WriteAt};
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Appends one write to the record `log`.
pub fn record(log: &Path, path: &str, offset: u64, data: &[u8]) -> io::Result<()> {
    let too_long = || io::Error::new(io::ErrorKind::InvalidInput, "write too large to record");
    let mut entry = Vec::with_capacity(data.len() + path.len() + 16);
    entry.extend_from_slice(
        &u32::try_from(path.len())
            .map_err(|_| too_long())?
            .to_le_bytes(),
    );
    entry.extend_from_slice(path.as_bytes());
    entry.extend_from_slice(&offset.to_le_bytes());
    entry.extend_from_slice(
        &u32::try_from(data.len())
            .map_err(|_| too_long())?
            .to_le_bytes(),
    );
    entry.extend_from_slice(data);
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?
        .write_all(&entry)
}

/// An image file whose writes are recorded (see [`record`]).
pub struct Logged {
    /// The file, opened read-write.
    pub file: File,
    /// Its path, as written to the record.
    pub path: String,
    /// Where the PV's bytes start in the file (a partition's first byte;
    /// 0 for a bare PV image). Offsets here are the PV's, and the record
    /// holds the file's.
    pub base: u64,
    /// The PV's size: no read or write reaches past it (out of a
    /// partition).
    pub len: u64,
    /// The record, if one is kept.
    pub log: Option<PathBuf>,
    /// The command's write hooks (a simulated crash or disk failure).
    pub hooks: crate::context::DataHooks,
}

impl Logged {
    /// The file's byte for `len` bytes at the PV's `offset`, if they lie
    /// inside the PV.
    fn place(&self, offset: u64, len: usize) -> io::Result<u64> {
        match offset.checked_add(len as u64) {
            Some(end) if end <= self.len => Ok(self.base + offset),
            _ => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{}: {len} bytes at {offset} reach past the PV's {} bytes",
                    self.path, self.len
                ),
            )),
        }
    }
}

impl ReadAt for Logged {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.file.read_exact_at(buf, self.place(offset, buf.len())?)
    }
    fn size(&self) -> io::Result<u64> {
        Ok(self.len)
    }
}

impl WriteAt for Logged {
    fn write_all_at(&mut self, data: &[u8], offset: u64) -> io::Result<()> {
        let offset = self.place(offset, data.len())?;
        if let Some(log) = &self.log {
            record(log, &self.path, offset, data)?;
        }
        // The error names the image and the offset: the engine's callers
        // add only what they were doing.
        let named =
            |e: io::Error| io::Error::new(e.kind(), format!("{} at byte {offset}: {e}", self.path));
        match self.hooks.gate(data.len()) {
            crate::context::Gate::Write => self.file.write_all_at(data, offset).map_err(named),
            crate::context::Gate::Fail(k) => Err(named(k.error())),
            crate::context::Gate::Crash(n) => {
                self.file.write_all_at(&data[..n], offset).map_err(named)?;
                self.file.sync_data()?;
                Err(io::Error::other(format!(
                    "simulated crash before the end of a write to {} at {offset}",
                    self.path
                )))
            }
        }
    }
    fn sync(&mut self) -> io::Result<()> {
        self.file.sync()
    }
}
