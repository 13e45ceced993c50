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
/// power there, or with `torn` after the first 512 bytes of that write) and
/// a record of every write (for the crash tests, which replay any prefix of
/// it onto copies of the images). Writes are counted across the whole
/// command, data and metadata alike.
#[derive(Debug, Default)]
pub struct WriteHooks {
    /// Stop before this many writes have been made.
    pub crash_after: Option<u64>,
    /// The write at the crash point is cut after its first 512 bytes.
    pub torn: bool,
    /// Append every write to this file (see [`crate::write_log`]).
    pub log: Option<PathBuf>,
    /// Asked to stop: long work (merges, LV writes, exports) stops at its
    /// next safe point.
    pub stop: Stop,
    done: AtomicU64,
}

impl WriteHooks {
    /// Called before each write of `len` bytes: how many bytes to write
    /// (all, or the torn part) and whether to stop after them.
    pub fn before_write(&self, len: usize) -> (usize, bool) {
        let n = self.done.fetch_add(1, Ordering::SeqCst);
        match self.crash_after {
            Some(a) if n == a => (if self.torn { len.min(512) } else { 0 }, true),
            Some(a) if n > a => (0, true),
            _ => (len, false),
        }
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
        let (n, crash) = self.before_write(data.len());
        f.write_all_at(&data[..n], offset)
            .with_context(|| format!("{what} at {offset}"))?;
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
