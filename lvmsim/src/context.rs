//! What a command needs from its surroundings, given to it explicitly: who
//! writes and when (the header of every metadata copy), whether identifiers
//! are reproducible, whether damaged images are searched, and the hooks
//! every write to an image goes through (a simulated crash point and a
//! write log). The library reads no environment variable and keeps no
//! global: the `lvmsim` binary builds a [`Context`] from its environment
//! (see its `--help`), a Rust program builds one with [`Context::new`].

use crate::backup::Host;
use crate::error::{Error, Result, ResultExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// The surroundings of one command.
#[derive(Debug)]
pub struct Context {
    /// The machine lvm2 would name in `creation_host` and the uname comment.
    pub host: Host,
    /// Overrides the recorded host name (`creation_host`).
    pub hostname: Option<String>,
    /// Overrides the recorded uname comment.
    pub uname: Option<String>,
    /// Seconds since the epoch: "now" for every header and backup.
    pub now: i64,
    /// Overrides the time recorded in metadata headers (not in backups).
    pub header_time: Option<u64>,
    /// Identifiers come from a generator seeded by the command and the state
    /// it starts from instead of the system's random source.
    pub deterministic: bool,
    /// Also find VGs on damaged images by searching them for metadata text
    /// (read-only commands only).
    pub scan_all: bool,
    /// Every write to an image goes through these.
    pub hooks: WriteHooks,
    /// The local zone lvm2 would write times in (a backup file's header
    /// and comments); UTC unless the caller says otherwise.
    pub zone: crate::localtime::Zone,
    /// Long work (a merge, a whole-image scan) draws a progress line on
    /// stderr. The caller sets it when stderr is a terminal; off by
    /// default, so output captured by a program or a test never holds one.
    pub progress: bool,
}

impl Context {
    /// This machine, now, random identifiers, no hooks.
    pub fn new() -> Context {
        Context {
            host: Host::current(),
            hostname: None,
            uname: None,
            now: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
            header_time: None,
            deterministic: false,
            scan_all: false,
            hooks: WriteHooks::default(),
            zone: crate::localtime::Zone::utc(),
            progress: false,
        }
    }

    /// Fixed host, time and identifiers, so that the same commands on the
    /// same images write the same bytes on any machine.
    pub fn deterministic() -> Context {
        Context {
            host: Host::fixed(),
            now: 1_700_000_000,
            deterministic: true,
            ..Context::new()
        }
    }

    /// The writer of the command line `cmd_line` in these surroundings.
    pub fn writer(&self, cmd_line: &str) -> crate::write::Writer<'_> {
        crate::write::Writer::new(cmd_line, self)
    }

    /// The identifier source of a command: random, or (deterministic) seeded
    /// by `seed`.
    pub fn ids(&self, seed: &str) -> crate::ids::Ids {
        crate::ids::Ids::new(self.deterministic, seed)
    }
}

impl Default for Context {
    fn default() -> Context {
        Context::new()
    }
}

/// The hooks every write of a command to an image goes through: a
/// simulated power loss (for teaching and for the crash tests: the command
/// stops before its write number `crash_after + 1`, as if the machine lost
/// power there, or with `torn` after the first 512 bytes of that write), a
/// simulated failure of the host's disk (`fail_after`: write number
/// `fail_after.0 + 1` fails with ENOSPC or EIO instead of being made, as on
/// a full or failing filesystem) and a record of every write (for the crash
/// tests, which replay any prefix of it onto copies of the images). Writes
/// are counted across the whole command, data and metadata alike.
#[derive(Debug, Default)]
pub struct WriteHooks {
    /// Stop before this many writes have been made.
    pub crash_after: Option<u64>,
    /// The write at the crash point is cut after its first 512 bytes.
    pub torn: bool,
    /// Fail the write after this many with this error (it is not made).
    pub fail_after: Option<(u64, FailKind)>,
    /// Append every write to this file (see [`crate::write_log`]).
    pub log: Option<PathBuf>,
    /// lvm2's `--readonly`: every write fails with `EROFS` before it is
    /// made (the command line refuses writing commands before this; this
    /// holds for any caller of the library).
    pub readonly: bool,
    /// Asked to stop: long work (merges, LV writes, exports) stops at its
    /// next safe point.
    pub stop: Stop,
    done: Arc<AtomicU64>,
}

/// The operating-system error of a simulated disk failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailKind {
    /// The filesystem holding the image is full (`ENOSPC`).
    NoSpace,
    /// The disk under the image failed (`EIO`).
    Io,
    /// Writing is not allowed (`EROFS`): `--readonly`.
    ReadOnly,
}

impl FailKind {
    /// The errno name (`ENOSPC`, `EIO`) as a kind, if it is one.
    pub fn parse(name: &str) -> Option<FailKind> {
        match name {
            "ENOSPC" => Some(FailKind::NoSpace),
            "EIO" => Some(FailKind::Io),
            "EROFS" => Some(FailKind::ReadOnly),
            _ => None,
        }
    }

    /// The error the operating system would give.
    pub fn error(self) -> std::io::Error {
        std::io::Error::from_raw_os_error(match self {
            FailKind::NoSpace => libc_errno::ENOSPC,
            FailKind::Io => libc_errno::EIO,
            FailKind::ReadOnly => libc_errno::EROFS,
        })
    }
}

/// Linux's numbers for the simulated errors.
mod libc_errno {
    pub const EIO: i32 = 5;
    pub const ENOSPC: i32 = 28;
    pub const EROFS: i32 = 30;
}

/// What to do with one write, as the hooks decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Make all of it.
    Write,
    /// Make this many bytes of it (0 or a torn part), then stop as if the
    /// power had failed.
    Crash(usize),
    /// Do not make it: fail with this error.
    Fail(FailKind),
}

impl WriteHooks {
    /// Called before each write of `len` bytes: how many bytes to write
    /// (all, or the torn part) and whether to stop after them. A simulated
    /// disk failure is reported as a crash before the write; use
    /// [`WriteHooks::gate`] to tell them apart.
    pub fn before_write(&self, len: usize) -> (usize, bool) {
        match self.gate(len) {
            Gate::Write => (len, false),
            Gate::Crash(n) => (n, true),
            Gate::Fail(_) => (0, true),
        }
    }

    /// Called before each write of `len` bytes: whether to make it.
    pub fn gate(&self, len: usize) -> Gate {
        DataHooks::of(self).gate(len)
    }

    /// The part of the hooks a data path (an image opened for the
    /// snapshot engine) keeps, sharing the count of writes.
    pub fn data_hooks(&self) -> DataHooks {
        DataHooks::of(self)
    }

    /// Writes `data` at `offset` of `f` (recording it first), or the part a
    /// simulated crash allows; `what` names the image and structure.
    pub fn write_at(
        &self,
        f: &std::fs::File,
        path: &str,
        data: &[u8],
        offset: u64,
        what: &str,
    ) -> Result<()> {
        use std::os::unix::fs::FileExt;
        if let Some(log) = &self.log {
            crate::write_log::record(log, path, offset, data)
                .with_context(|| format!("{}: cannot record a write", log.display()))?;
        }
        // The image's file is named when `what` does not already name it.
        let at = || {
            if what.starts_with(path) {
                format!("{what} at {offset}")
            } else {
                format!("{what} at {offset} of {path}")
            }
        };
        let (n, crash) = match self.gate(data.len()) {
            Gate::Write => (data.len(), false),
            Gate::Crash(n) => (n, true),
            Gate::Fail(k) => return Err(k.error()).with_context(at),
        };
        f.write_all_at(&data[..n], offset).with_context(at)?;
        if crash {
            f.sync_data().with_context(|| format!("{what}: sync"))?;
            return Err(Error::SimulatedCrash {
                what: what.to_owned(),
                offset,
            });
        }
        Ok(())
    }
}

/// A request to stop long work at its next safe point, shared with whoever
/// may ask for it (the binary sets it on SIGINT and SIGTERM). A merge stops
/// between merge runs (it resumes at the next activation), an LV write
/// between pieces (what was written stays written), an export removes its
/// unfinished file.
#[derive(Debug, Clone, Default)]
pub struct Stop(Option<Arc<AtomicBool>>);

impl Stop {
    /// A request set through `flag`.
    pub fn new(flag: Arc<AtomicBool>) -> Stop {
        Stop(Some(flag))
    }

    /// True once a stop was asked for.
    pub fn requested(&self) -> bool {
        self.0.as_ref().is_some_and(|f| f.load(Ordering::SeqCst))
    }
}

/// The hooks of the data writes (see [`WriteHooks::data_hooks`]): they
/// share the command's count of writes.
#[derive(Debug, Clone, Default)]
pub struct DataHooks {
    readonly: bool,
    crash_after: Option<u64>,
    torn: bool,
    fail_after: Option<(u64, FailKind)>,
    done: Arc<AtomicU64>,
}

impl DataHooks {
    fn of(h: &WriteHooks) -> DataHooks {
        DataHooks {
            readonly: h.readonly,
            crash_after: h.crash_after,
            torn: h.torn,
            fail_after: h.fail_after,
            done: Arc::clone(&h.done),
        }
    }

    /// Counts one write of `len` bytes and says whether to make it.
    pub fn gate(&self, len: usize) -> Gate {
        if self.readonly {
            return Gate::Fail(FailKind::ReadOnly);
        }
        let n = self.done.fetch_add(1, Ordering::SeqCst);
        if let Some((k, kind)) = self.fail_after {
            if n == k {
                return Gate::Fail(kind);
            }
        }
        match self.crash_after {
            Some(a) if n == a => Gate::Crash(if self.torn { len.min(512) } else { 0 }),
            Some(a) if n > a => Gate::Crash(0),
            _ => Gate::Write,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readonly_hooks_fail_every_write_with_erofs_and_write_nothing() {
        let dir = std::env::temp_dir().join(format!("lvmsim-ro-{}", std::process::id()));
        std::fs::write(&dir, [0u8; 1024]).unwrap();
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&dir)
            .unwrap();
        let hooks = WriteHooks {
            readonly: true,
            ..WriteHooks::default()
        };
        let e = hooks.write_at(&f, "x.img", &[7u8; 16], 0, "x.img: a test write");
        let data_gate = hooks.data_hooks().gate(512);
        let bytes = std::fs::read(&dir).unwrap();
        std::fs::remove_file(&dir).unwrap();
        let e = e.unwrap_err().to_string();
        assert!(e.contains("Read-only file system"), "{e}");
        assert_eq!(data_gate, Gate::Fail(FailKind::ReadOnly));
        assert_eq!(bytes, [0u8; 1024]);
    }
}
