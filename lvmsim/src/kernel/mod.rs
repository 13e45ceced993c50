//! A simulated kernel: the device-mapper devices of the active LVs, kept
//! loaded by a long-running process and served as files through FUSE, so
//! that the real kernel's tools (`mkfs`, `mount -o loop`, `dd`) use them
//! as they use `/dev/VG/LV`.
//!
//! A kernel lives in a directory `DIR`:
//! - `DIR/dev`: the FUSE mount, with `mapper/VG-LV` for every loaded
//!   device (at start, every device lvm2 would load on `vgchange -ay`: the
//!   hidden `-real` and `-cow` layers of origins and snapshots too) and
//!   `VG/LV` links beside them;
//! - `DIR/control`: the control socket ([`control`]), through which
//!   [`status`] and [`stop`] reach it;
//! - `DIR/pid`: its process id.
//!
//! While it runs the kernel holds exclusive [`crate::lock`] locks on its
//! images, so other lvmsim commands that write them wait (or fail with
//! `--lock-opt nowait`) instead of changing what the kernel has loaded.
//!
//! I/O follows the kernel's snapshot semantics through
//! [`cow_engine::handle::LvHandle`] (the same path as `lvmsim write`): a
//! top-level device (`VG-LV`) shows the LV as users open it (origin writes
//! copy chunks into every valid snapshot first, snapshot writes fill their
//! COW, a full COW invalidates the snapshot and its I/O then fails with
//! EIO); the hidden `-real` and `-cow` layers are the LVs' own segments.
//! A device's open count is the number of devices stacked on it plus the
//! open handles of its file.
//!
//! Commands that change the VGs while the kernel runs (`lvmsim --kernel
//! DIR lvcreate ...`) go through [`Transaction`]: the kernel suspends its
//! devices (I/O waits), the command changes the images, and at its commit
//! the kernel scans them again and loads, reloads, resumes and removes
//! devices as lvm2 does on a running system (the table module's `reload`):
//! devices keep their numbers while they exist, new ones take the lowest
//! free minors in lvm2's creation order, activation is per LV (a
//! snapshot's devices follow its origin), and the steps come back as
//! `lvm2 -v` prints them. A file open on a device that is removed fails
//! with EIO. Deactivating or removing an open LV is refused first, with
//! lvm2's words ([`refuse_open`]).
//!
//! A loaded `snapshot-merge` table merges as the kernel does: batch after
//! batch the snapshot's chunks go back into the origin and leave the
//! store (its Data% falls), the origin's view never changing; with
//! `--merge-rate N` in the background at N batches a second, without it
//! at once, before the command that started it returns. Unless the
//! activation said `--poll n`, the kernel then ends the merge as lvm2's
//! poller does (the snapshot leaves the metadata, the origin is reloaded
//! and the snapshot's devices removed); `lvconvert --merge` of an active
//! origin polls the kernel and prints lvm2's `Merged:` lines.
//!
//! A merge asked for while the origin or the snapshot is open is
//! postponed as lvm2 does: the tables (and the origin's copy-on-write)
//! stay until a reload finds both closed or the origin is activated again.
//!
//! `dmsetup suspend|resume|remove` act on one device ([`dm`]): I/O to a
//! device suspended on its own is kept unanswered until its resume (a
//! FUSE request is answered later, so the other devices go on serving;
//! an NBD client waits), and a removal is refused with the kernel's EBUSY
//! while the device is open or another device stacks on it (the LV stays
//! active for lvm2, whose next reload makes the device again).
//!
//! A device stays itself while its LV and layer do: `lvrename` of an
//! active LV renames its devices as the kernel renames them (number and
//! open files kept, the files under the new names).
//!
//! Thin pools and thin LVs follow dm-thin (the `thin` module): a thin LV reads
//! through its pool's mappings and writes provision blocks in one open
//! pool transaction, committed on a flush, at the last close of a thin
//! device, once a second when it changed (dm-thin's `COMMIT_PERIOD`),
//! before a status, at a suspend and at the stop.
//!
//! Cached LVs (`cache`, `writecache`) are loaded over their hidden
//! devices (`_cdata`, `_cmeta`, `_corig`; `_cvol`, `_wcorig`), their
//! mappings read once at the load as the kernel reads them into memory:
//! reads serve cached blocks from the cache device and the others from
//! the origin. A writeback or writethrough cache takes writes block by
//! block (a cached block in the cache data LV, and in writethrough the
//! origin too; any other block in the origin, no promotion), clearing the
//! superblock's clean-shutdown flag before the first write into a
//! writeback cache, as the kernel's next commit does. A writecache and a
//! passthrough cache refuse writes with EROFS (the writecache's new
//! entries are not written yet); every cached LV refuses discards with
//! EOPNOTSUPP (its discard handling is not simulated).
//!
//! The exceptions of one request commit as one batch, as the kernel
//! commits the exceptions in flight together: an overflow in the middle
//! of a request leaves that request's records off the disk. Discards
//! (FUSE `fallocate(PUNCH_HOLE)`, NBD TRIM) follow each target: a linear
//! or striped LV zeroes the range on its PVs (a loop device over an image
//! punches a hole), the snapshot targets refuse them with EOPNOTSUPP, a
//! merging snapshot's error target fails them with EIO, a thin LV unmaps
//! the whole blocks they cover, as dm-thin does.
//! A provisioning failure other than a full data space (out of metadata
//! space) drops the pool's open transaction, as the kernel aborts it.
//!
//! Not simulated yet: the kernel's timing (its copies can finish while a
//! request is still being mapped, committing part of it early), events
//! beyond invalidation. The steps of a reload (`lvcreate -s`,
//! `lvremove` of a snapshot, `lvextend`, `lvrename`) follow lvm2's code,
//! not a recorded run: the corpus records `-v` only for `lvchange
//! -ay`/`-an`.
//!
//! The library starts nothing by itself: [`Kernel::start`] loads and
//! mounts in the calling process and [`Kernel::serve`] answers the control
//! socket until a stop; the `lvmsim` binary runs them in a background
//! process (`lvmsim kernel start DIR`).

pub mod control;
mod fuse;
mod handles;
mod nbd;
mod table;
mod thin;

pub use control::Transaction;
pub use table::{Change, DmErrno, Layer};

/// How long a status waits for the releases of files already closed:
/// FUSE sends a release after `close(2)` has returned, where a block
/// device's open count drops before. Only the closes that end a file
/// are waited for, not those of a copy of its descriptor (a spawned
/// child's; see the `handles` module).
pub const RELEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

use crate::error::{Error, Result, ResultExt};
use crate::lock;
use std::io::Write;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use table::{Shared, Table};

/// What to start.
#[derive(Debug, Clone)]
pub struct Options {
    /// The kernel's directory (created if missing).
    pub dir: PathBuf,
    /// The images, as `--dev` names them (see [`crate::device_paths`]).
    pub devices: Vec<PathBuf>,
    /// How the images are locked.
    pub policy: lock::Policy,
    /// Also serve the devices over NBD there.
    pub nbd: Option<NbdAddr>,
    /// Log what the kernel does for each write request (the steps of
    /// `lvmsim write --explain`) to the kernel's log.
    pub explain: bool,
    /// Merge batches per second of a running merge (`snapshot-merge`);
    /// `None`: each merge runs to its end as soon as it starts, before
    /// the command that started it returns.
    pub merge_rate: Option<u32>,
}

/// Where the NBD exports are served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NbdAddr {
    /// A Unix socket (`unix:PATH`).
    Unix(PathBuf),
    /// A TCP address (`tcp:HOST:PORT`).
    Tcp(String),
}

impl NbdAddr {
    /// Parses `unix:PATH` or `tcp:HOST:PORT`.
    ///
    /// # Errors
    /// [`Error::Usage`] for any other form.
    pub fn parse(s: &str) -> Result<NbdAddr> {
        if let Some(p) = s.strip_prefix("unix:").filter(|p| !p.is_empty()) {
            return Ok(NbdAddr::Unix(PathBuf::from(p)));
        }
        if let Some(a) = s.strip_prefix("tcp:").filter(|a| a.contains(':')) {
            return Ok(NbdAddr::Tcp(a.to_owned()));
        }
        Err(Error::Usage(format!(
            "--nbd {s}: give unix:PATH or tcp:HOST:PORT"
        )))
    }
}

impl std::fmt::Display for NbdAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NbdAddr::Unix(p) => write!(f, "unix:{}", p.display()),
            NbdAddr::Tcp(a) => write!(f, "tcp:{a}"),
        }
    }
}

/// One loaded device as [`status`] reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeviceStatus {
    /// Device-mapper name (`vg-lv`, `vg-lv-real`).
    pub name: String,
    /// Its VG.
    pub vg: String,
    /// Its LV.
    pub lv: String,
    /// Which of the LV's devices.
    pub layer: Layer,
    /// The LV whose activation loaded it: the LV itself, or a snapshot's
    /// origin.
    #[serde(default)]
    pub group: String,
    /// Its minor number (major 253): the lowest free one when it was made.
    #[serde(default)]
    pub minor: u32,
    /// Size in bytes.
    pub size: u64,
    /// Its loaded table, as `dmsetup table` prints it (one line per
    /// target, each ending in a newline).
    #[serde(default)]
    pub table: String,
    /// The open count (`dmsetup info`'s): devices stacked on it plus open
    /// handles of its file.
    pub open: u32,
    /// Open handles of its file.
    pub handles: u32,
    /// Events raised while loaded, or at load for a snapshot found invalid.
    pub event: u32,
    /// A snapshot whose store is invalid (its I/O fails with EIO).
    pub invalid: bool,
    /// Suspended on its own (`dmsetup suspend`): its I/O waits.
    #[serde(default)]
    pub suspended: bool,
    /// Its file.
    pub path: String,
    /// `DIR/dev/VG/LV`, for the devices lvm2 links there.
    pub link: Option<String>,
}

/// A merge the kernel runs, as [`status`] reports it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MergeStatus {
    /// `VG/ORIGIN`.
    pub origin: String,
    /// `VG/SNAP`, the merging snapshot.
    pub snapshot: String,
    /// Percent merged (lvm2's `Merged:` figure).
    pub percent: f64,
    /// Every chunk is back in the origin (the snapshot stays in the
    /// metadata until lvm2's poller, or `lvpoll`, ends the merge).
    pub done: bool,
}

/// A running kernel's state.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Status {
    /// The kernel's process.
    pub pid: u32,
    /// Its directory.
    pub dir: String,
    /// The images it holds, as named to it.
    pub images: Vec<String>,
    /// Where it serves NBD exports (`VG/LV`), if it does.
    pub nbd: Option<String>,
    /// The loaded devices, by name.
    pub devices: Vec<DeviceStatus>,
    /// The merges running or done but not yet ended.
    #[serde(default)]
    pub merges: Vec<MergeStatus>,
}

/// `DIR/control`.
pub fn control_path(dir: &Path) -> PathBuf {
    dir.join("control")
}

/// `DIR/pid`.
pub fn pid_path(dir: &Path) -> PathBuf {
    dir.join("pid")
}

/// `DIR/dev`: where the devices are mounted.
pub fn dev_path(dir: &Path) -> PathBuf {
    dir.join("dev")
}

/// `ENOTCONN`: what a FUSE mount whose server died answers.
const ENOTCONN: i32 = 107;

/// A kernel that serves its devices.
pub struct Kernel {
    dir: PathBuf,
    table: Arc<Shared>,
    /// The images as named at start, scanned again after each change.
    devices: Vec<PathBuf>,
    /// See [`Options::merge_rate`].
    merge_rate: Option<u32>,
    session: Option<fuser::BackgroundSession>,
    listener: UnixListener,
    images: Vec<String>,
    nbd: Option<NbdAddr>,
    _locks: lock::Guard,
}

impl Kernel {
    /// Locks and scans the images, loads the devices `vgchange -ay` would
    /// create, mounts them on `DIR/dev` and opens `DIR/control`; returns
    /// once they serve. The kernel's log lines (scan warnings, snapshot
    /// invalidations) go to `log`.
    ///
    /// # Errors
    /// [`Error::Refused`] when a kernel already runs in `DIR`, when FUSE
    /// is unavailable or `DIR/dev` is left mounted by a kernel that died;
    /// lock, scan and activation errors of the images.
    pub fn start(opts: &Options, mut log: Box<dyn Write + Send>) -> Result<Kernel> {
        let dir = &opts.dir;
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create", dir.display()))?;
        let dir = dir
            .canonicalize()
            .with_context(|| format!("{}: cannot resolve", dir.display()))?;
        let control = control_path(&dir);
        if control.exists() {
            if let Ok(Some(pid)) = running_pid(&dir) {
                return Err(Error::Refused(format!(
                    "an lvmsim kernel already runs in {} (pid {pid})",
                    dir.display()
                )));
            }
            std::fs::remove_file(&control)
                .with_context(|| format!("{}: cannot remove", control.display()))?;
        }
        let mnt = dev_path(&dir);
        match std::fs::metadata(&mnt) {
            Err(e) if e.raw_os_error() == Some(ENOTCONN) => {
                return Err(Error::Refused(format!(
                    "{}: still mounted by a kernel that ended; unmount it (umount {})",
                    mnt.display(),
                    mnt.display()
                )))
            }
            _ => std::fs::create_dir_all(&mnt)
                .with_context(|| format!("{}: cannot create", mnt.display()))?,
        }
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/fuse")
            .map_err(|e| {
                Error::Refused(format!(
                    "FUSE is unavailable: /dev/fuse: {e} (load the fuse module, or give \
                     the container /dev/fuse)"
                ))
            })?;
        let paths = crate::device_paths(&opts.devices)?;
        let files: Vec<PathBuf> = paths.iter().map(|(_, p)| PathBuf::from(p)).collect();
        let locks = lock::acquire(&files, lock::Mode::Exclusive, opts.policy, &mut |m| {
            let _ = writeln!(log, "{m}");
        })?;
        let sys = crate::scan(&opts.devices, false, &mut log)?;
        // The table lives as long as the kernel's process.
        let sys: &'static lvm_meta::scan::System = Box::leak(Box::new(sys));
        let mut t = Table::load(sys, log, opts.explain)?;
        t.devices = opts.devices.clone();
        let table = Arc::new(Shared::new(t));
        match opts.merge_rate {
            None => run_merges(&table)?,
            Some(rate) => merge_worker(&table, rate),
        }
        thin_committer(&table);
        let fs = fuse::DevFs::new(Arc::clone(&table));
        let mut config = fuser::Config::default();
        config.mount_options = vec![
            fuser::MountOption::FSName("lvmsim".into()),
            fuser::MountOption::Subtype("lvmsim".into()),
            fuser::MountOption::RW,
            fuser::MountOption::NoExec,
        ];
        let session = fuser::spawn_mount(fs, &mnt, &config).map_err(|e| {
            Error::Refused(format!(
                "FUSE is unavailable: cannot mount {}: {e}",
                mnt.display()
            ))
        })?;
        if let Some(addr) = &opts.nbd {
            serve_nbd(addr, &table)?;
        }
        let listener = UnixListener::bind(&control)
            .with_context(|| format!("{}: cannot listen", control.display()))?;
        std::fs::write(pid_path(&dir), format!("{}\n", std::process::id()))
            .with_context(|| format!("{}: cannot write", pid_path(&dir).display()))?;
        Ok(Kernel {
            dir,
            table,
            devices: opts.devices.clone(),
            merge_rate: opts.merge_rate,
            session: Some(session),
            listener,
            images: paths.into_iter().map(|(n, _)| n).collect(),
            nbd: opts.nbd.clone(),
            _locks: locks,
        })
    }

    /// Waits until the releases of files already closed have arrived (for
    /// at most [`RELEASE_WAIT`]), so that open counts are read as a block
    /// device's would be.
    fn settle_releases(&self) {
        let waited = std::time::Instant::now();
        while self.table.lock().releases_pending() && waited.elapsed() < RELEASE_WAIT {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }

    /// The kernel's state now, once the releases of closed files have
    /// arrived.
    pub fn status(&self) -> Status {
        self.settle_releases();
        let mut t = self.table.lock();
        // The kernel commits a pool before it reports its status (the
        // status lines are read from the committed metadata).
        if let Err(e) = t.commit_pools() {
            t.log_line(&format!("committing the thin pools: {e}"));
        }
        let sys = t.system();
        let mnt = dev_path(&self.dir);
        let mut devices = Vec::new();
        for i in 0..t.devs.len() {
            let invalid = t.invalid(i);
            let d = &t.devs[i];
            let vg = &sys.vgs[d.vg].vg;
            devices.push(DeviceStatus {
                name: d.name.clone(),
                vg: vg.name.clone(),
                lv: vg.lvs[d.lv].name.clone(),
                layer: d.layer,
                group: vg
                    .lvs
                    .iter()
                    .find(|l| l.id == d.root.1)
                    .map(|l| l.name.clone())
                    .unwrap_or_default(),
                minor: d.minor,
                size: d.size,
                table: d.table.clone(),
                open: d.holders.saturating_add(d.opens),
                handles: d.opens,
                event: d.events,
                invalid,
                suspended: d.suspended,
                path: mnt
                    .join(crate::names::DM_SUBDIR)
                    .join(&d.name)
                    .display()
                    .to_string(),
                link: d
                    .link
                    .as_ref()
                    .map(|(v, l)| mnt.join(v).join(l).display().to_string()),
            });
        }
        let merges = t
            .merges
            .iter()
            .map(|m| MergeStatus {
                origin: m.names.0.clone(),
                snapshot: m.names.1.clone(),
                percent: m.percent(),
                done: m.done,
            })
            .collect();
        Status {
            pid: std::process::id(),
            dir: self.dir.display().to_string(),
            images: self.images.clone(),
            nbd: self.nbd.as_ref().map(NbdAddr::to_string),
            devices,
            merges,
        }
    }

    /// Answers the control socket until a stop is accepted; then flushes
    /// the images, unmounts the devices and releases the locks.
    ///
    /// # Errors
    /// A failed flush or unmount (the process should end all the same).
    pub fn serve(mut self) -> Result<()> {
        loop {
            let Ok((s, _)) = self.listener.accept() else {
                continue;
            };
            match control::read_request(&s) {
                Some(control::Request::Status) => {
                    control::answer(&s, &control::Reply::Status(self.status()))
                }
                Some(control::Request::Stop) => {
                    let busy: Vec<String> = self
                        .status()
                        .devices
                        .iter()
                        .filter(|d| d.handles > 0)
                        .map(|d| format!("{} (open count {})", d.name, d.open))
                        .collect();
                    if !busy.is_empty() {
                        control::answer(
                            &s,
                            &control::Reply::Refused(format!(
                                "cannot stop the kernel in {}: devices in use: {}",
                                self.dir.display(),
                                busy.join(", ")
                            )),
                        );
                        continue;
                    }
                    let ended = self.end();
                    match &ended {
                        Ok(()) => control::answer(&s, &control::Reply::Stopped),
                        Err(e) => control::answer(&s, &control::Reply::Refused(e.to_string())),
                    }
                    return ended;
                }
                Some(control::Request::Begin) => self.transaction(&s),
                Some(control::Request::Dm { dm, name }) => {
                    // A removal reads the open count as a block device's.
                    if dm == DmOp::Remove {
                        self.settle_releases();
                    }
                    let done = match dm {
                        DmOp::Suspend => self.table.lock().dm_suspend(&name),
                        DmOp::Resume => self.table.dm_resume(&name),
                        DmOp::Remove => self.table.lock().dm_remove(&name),
                    };
                    let reply = match done {
                        Ok(()) => control::Reply::Changed(Vec::new()),
                        Err(e) => control::Reply::Refused(dm_failure(dm, &name, e)),
                    };
                    control::answer(&s, &reply);
                }
                Some(control::Request::Commit { .. }) => {
                    control::answer(&s, &control::Reply::Refused("commit without begin".into()))
                }
                None => {}
            }
        }
    }

    /// A command changes the VGs: the devices stay suspended until its
    /// commit (or until it goes away), then the images are scanned again
    /// and the devices loaded as the new metadata and activation say.
    /// Other control requests wait meanwhile: changes are one at a time.
    fn transaction(&mut self, s: &std::os::unix::net::UnixStream) {
        self.settle_releases();
        if let Err(e) = self.table.suspend() {
            self.table.resume();
            control::answer(s, &control::Reply::Refused(format!("suspending: {e}")));
            return;
        }
        control::answer(s, &control::Reply::Ready);
        let (changes, activate_new, poll, asked) = match control::read_request_within(s, None) {
            Some(control::Request::Commit {
                changes,
                activate_new,
                poll,
            }) => (changes, activate_new, poll, true),
            _ => (Vec::new(), false, true, false),
        };
        let mut reloaded = self.reload(&changes, activate_new, poll);
        if reloaded.is_ok() && self.merge_rate.is_none() {
            if let Err(e) = run_merges(&self.table) {
                reloaded = Err(e);
            }
        }
        self.table.resume();
        if asked {
            match reloaded {
                Ok(lines) => control::answer(s, &control::Reply::Changed(lines)),
                Err(e) => control::answer(s, &control::Reply::Refused(e.to_string())),
            }
        }
    }

    /// Scans the images again and reloads the devices (see
    /// [`Table::reload`]).
    fn reload(
        &mut self,
        changes: &[Change],
        activate_new: bool,
        poll: bool,
    ) -> Result<Vec<String>> {
        let mut log = Vec::new();
        let mut sys = crate::scan(&self.devices, false, &mut log)?;
        let mut t = self.table.lock();
        t.postpone_merges(&mut sys);
        // Devices and their handles live as long as the kernel's process.
        let sys: &'static lvm_meta::scan::System = Box::leak(Box::new(sys));
        t.reload(sys, changes, activate_new, poll)
    }

    /// Flushes, unmounts, removes the control socket and pid file.
    fn end(&mut self) -> Result<()> {
        self.table
            .lock()
            .flush_all()
            .context("flushing the images")?;
        if let Some(s) = self.session.take() {
            s.umount_and_join()
                .with_context(|| format!("{}: cannot unmount", dev_path(&self.dir).display()))?;
        }
        let _ = std::fs::remove_file(control_path(&self.dir));
        let _ = std::fs::remove_file(pid_path(&self.dir));
        if let Some(NbdAddr::Unix(p)) = &self.nbd {
            let _ = std::fs::remove_file(p);
        }
        Ok(())
    }
}

/// Runs every started merge to its end now (the kernel with no merge
/// rate: a merge is over before the command that started it returns).
fn run_merges(table: &Shared) -> Result<()> {
    let mut t = table.lock();
    while t.merge_batch()? {}
    Ok(())
}

/// Runs the started merges in the background, `rate` batches a second,
/// as `snapshot-merge` does while the origin stays in use; I/O waits only
/// for the batch in progress.
fn merge_worker(table: &Arc<Shared>, rate: u32) {
    let t = Arc::clone(table);
    let pause = Duration::from_secs(1) / rate.max(1);
    std::thread::spawn(move || loop {
        std::thread::sleep(pause);
        let mut g = t.io();
        if let Err(e) = g.merge_batch() {
            g.log_line(&format!("merge failed: {e}"));
        }
    });
}

/// dm-thin's periodic commit (`COMMIT_PERIOD`, `do_waker`): once a
/// second, the pools that changed are committed (not while a command has
/// the devices suspended: they were committed at the suspend).
fn thin_committer(table: &Arc<Shared>) {
    let t = Arc::clone(table);
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_secs(1));
        let mut g = t.io();
        if let Err(e) = g.commit_pools() {
            g.log_line(&format!("committing the thin pools: {e}"));
        }
    });
}

/// Listens on `addr` and serves each NBD client in a thread of its own.
fn serve_nbd(addr: &NbdAddr, table: &Arc<Shared>) -> Result<()> {
    let t = Arc::clone(table);
    match addr {
        NbdAddr::Unix(p) => {
            if std::os::unix::net::UnixStream::connect(p).is_err() {
                let _ = std::fs::remove_file(p);
            }
            let l =
                UnixListener::bind(p).with_context(|| format!("--nbd {addr}: cannot listen"))?;
            std::thread::spawn(move || {
                for s in l.incoming().flatten() {
                    let t = Arc::clone(&t);
                    std::thread::spawn(move || nbd::serve(s, &t));
                }
            });
        }
        NbdAddr::Tcp(a) => {
            let l = std::net::TcpListener::bind(a)
                .with_context(|| format!("--nbd {addr}: cannot listen"))?;
            std::thread::spawn(move || {
                for s in l.incoming().flatten() {
                    let _ = s.set_nodelay(true);
                    let t = Arc::clone(&t);
                    std::thread::spawn(move || nbd::serve(s, &t));
                }
            });
        }
    }
    Ok(())
}

/// The pid of the kernel serving `dir`, if one answers.
fn running_pid(dir: &Path) -> Result<Option<u32>> {
    match control::ask(dir, &control::Request::Status) {
        Ok(control::Reply::Status(s)) => Ok(Some(s.pid)),
        Ok(_) => Ok(None),
        Err(Error::Refused(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Follows the merge into `origin` (`VG/ORIGIN`) in the kernel serving
/// `dir` until it ends, as lvm2's poller does: `progress` gets the merged
/// percent every `interval` seconds (at least one), and the call returns
/// once the kernel no longer lists the merge.
///
/// # Errors
/// [`Error::Refused`] when no kernel runs there; what `progress` returns.
pub fn poll_merge(
    dir: &Path,
    origin: &str,
    interval: u64,
    progress: &mut dyn FnMut(f64) -> std::io::Result<()>,
) -> Result<()> {
    loop {
        let s = status(dir)?;
        let Some(m) = s.merges.iter().find(|m| m.origin == origin) else {
            return Ok(());
        };
        progress(m.percent)?;
        std::thread::sleep(std::time::Duration::from_secs(interval.max(1)));
    }
}

/// The state of the kernel serving `dir`.
///
/// # Errors
/// [`Error::Refused`] when no kernel runs there.
pub fn status(dir: &Path) -> Result<Status> {
    match control::ask(dir, &control::Request::Status)? {
        control::Reply::Status(s) => Ok(s),
        control::Reply::Refused(m) => Err(Error::Refused(m)),
        control::Reply::Stopped => Err(Error::Refused(format!(
            "the kernel in {} is stopping",
            dir.display()
        ))),
        other => Err(Error::Refused(format!(
            "the kernel in {} answered a status request with {other:?}",
            dir.display()
        ))),
    }
}

/// The LVs (VG, LV) whose device is open in `s` (for `lvs`' `o`).
pub fn open_lvs(s: &Status) -> Vec<(String, String)> {
    s.devices
        .iter()
        .filter(|d| d.layer == Layer::Top && d.open > 0)
        .map(|d| (d.vg.clone(), d.lv.clone()))
        .collect()
}

/// Gives each device of `devs` (as `dmsetup` lists them for the images)
/// the open count the running kernel `s` reports for it.
pub fn live_open_counts(s: &Status, devs: &mut [crate::dmsetup::DmDevice]) {
    for d in devs {
        if let Some(l) = s.devices.iter().find(|l| l.name == d.name) {
            d.open = l.open;
        }
    }
}

/// The device list `devs` (as `dmsetup` lists them for the images) as
/// the running kernel `s` has it: only the devices it has loaded, with
/// its device numbers and open counts.
pub fn live_devices(
    s: &Status,
    devs: Vec<crate::dmsetup::DmDevice>,
) -> Vec<crate::dmsetup::DmDevice> {
    use crate::dmsetup::Dep;
    let keep: Vec<bool> = devs
        .iter()
        .map(|d| s.devices.iter().any(|l| l.name == d.name))
        .collect();
    // New index of each kept device.
    let mut at = vec![usize::MAX; devs.len()];
    let mut n = 0;
    for (i, k) in keep.iter().enumerate() {
        if *k {
            at[i] = n;
            n += 1;
        }
    }
    let mut out: Vec<crate::dmsetup::DmDevice> = devs
        .into_iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|(d, _)| d)
        .collect();
    for d in &mut out {
        for dep in &mut d.deps {
            if let Dep::Dm(i) = dep {
                *i = at[*i];
            }
        }
        if let Some(l) = s.devices.iter().find(|l| l.name == d.name) {
            d.minor = l.minor;
            d.open = l.open;
            d.suspended = l.suspended;
        }
    }
    out
}

/// What a command would take away from the running kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taking {
    /// `lvchange -an` (of an LV) or `vgchange -an` (of a VG).
    Deactivate,
    /// `lvremove`.
    Remove,
}

/// lvm2's refusal to deactivate or remove an LV whose device is open in
/// the running kernel `s` (`lv` `None`: every LV of `vg`, as `vgchange
/// -an` does): an open LV is `in use`; an origin whose snapshots are open
/// names them first; a VG with open LVs is refused whole.
///
/// # Errors
/// [`Error::Refused`] with lvm2's lines (exit status 5).
pub fn refuse_open(s: &Status, vg: &str, lv: Option<&str>, taking: Taking) -> Result<()> {
    let open_top = |lv: &str| {
        s.devices
            .iter()
            .any(|d| d.vg == vg && d.lv == lv && d.layer == Layer::Top && d.open > 0)
    };
    let Some(lv) = lv else {
        let n = s
            .devices
            .iter()
            .filter(|d| d.vg == vg && d.layer == Layer::Top && d.link.is_some() && d.open > 0)
            .count();
        if n > 0 {
            return Err(Error::Refused(format!(
                "Can't deactivate volume group \"{vg}\" with {n} open logical volume(s)"
            )));
        }
        return Ok(());
    };
    if open_top(lv) {
        return Err(Error::Refused(format!("Logical volume {vg}/{lv} in use.")));
    }
    if taking == Taking::Remove {
        return Ok(());
    }
    // A snapshot stands for its origin.
    let group = s
        .devices
        .iter()
        .find(|d| d.vg == vg && d.lv == lv && d.layer == Layer::Top)
        .map_or(lv, |d| d.group.as_str());
    if group != lv && open_top(group) {
        return Err(Error::Refused(format!(
            "Logical volume {vg}/{group} in use."
        )));
    }
    let snaps: Vec<&str> = s
        .devices
        .iter()
        .filter(|d| d.vg == vg && d.group == group && d.lv != group && d.layer == Layer::Top)
        // Opened by a user, not by the group's own devices stacked on it
        // (a cached LV's `_corig`, `_cdata`, `_cmeta`); a snapshot has
        // nothing stacked on it.
        .filter(|d| d.handles > 0)
        .map(|d| d.lv.as_str())
        .collect();
    if !snaps.is_empty() {
        let mut m: String = snaps
            .iter()
            .map(|l| format!("Logical volume {vg}/{l} in use.\n  "))
            .collect();
        m.push_str(&format!(
            "LV {vg}/{group} has open {} snapshot(s), not deactivating.",
            snaps.len()
        ));
        return Err(Error::Refused(m));
    }
    Ok(())
}

/// Checks the LVs an activation names (`lvchange -ay VG/LV...`) as
/// lvm2 looks them up; under a running kernel the activation itself, and
/// the merges it starts, are the kernel's.
///
/// # Errors
/// lvm2's errors for LVs that are not there or not changeable.
pub fn activation_targets(sys: &lvm_meta::scan::System, targets: &[String]) -> Result<()> {
    crate::lv::lvs_named(sys, targets, true).map(|_| ())
}

/// The origin of snapshot `VG/SNAP` (its name), if `arg` names one.
pub fn origin_of(sys: &lvm_meta::scan::System, arg: &str) -> Option<(String, String)> {
    let (vg, lv) = crate::names::vg_lv(arg).ok()?;
    let inst = sys.vg(&vg)?;
    let li = inst.vg.lv_index(&lv)?;
    let c = inst.vg.roles[li].cow_of?;
    Some((vg, inst.vg.lvs[c.origin].name.clone()))
}

/// A `dmsetup` command that changes one device of the running kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DmOp {
    /// `dmsetup suspend`: the device's I/O waits until its resume.
    Suspend,
    /// `dmsetup resume`.
    Resume,
    /// `dmsetup remove`: refused while the device is open.
    Remove,
}

impl DmOp {
    /// The ioctl's name, as libdevmapper logs it.
    pub fn ioctl(self) -> &'static str {
        match self {
            DmOp::Suspend => "suspend",
            DmOp::Resume => "resume",
            DmOp::Remove => "remove",
        }
    }
}

/// libdevmapper's line for an ioctl `op` on device `name` that the kernel
/// refused with `e` (the device's UUID, empty here, follows the name).
pub fn dm_failure(op: DmOp, name: &str, e: DmErrno) -> String {
    format!(
        "device-mapper: {} ioctl on {name}  failed: {}",
        op.ioctl(),
        e.text()
    )
}

/// `dmsetup suspend|resume|remove NAME` (or `/dev/mapper/NAME`) on the
/// kernel serving `dir`: `Ok(Err(line))` carries libdevmapper's error line
/// when the kernel refuses (no such device; a removal of an open one).
///
/// # Errors
/// [`Error::Refused`] when no kernel runs there.
pub fn dm(dir: &Path, op: DmOp, name: &str) -> Result<std::result::Result<(), String>> {
    let name = name
        .strip_prefix(crate::names::DEV_DIR)
        .and_then(|p| p.strip_prefix(crate::names::DM_SUBDIR))
        .and_then(|p| p.strip_prefix('/'))
        .unwrap_or(name);
    let req = control::Request::Dm {
        dm: op,
        name: name.to_owned(),
    };
    match control::ask(dir, &req)? {
        control::Reply::Changed(_) => Ok(Ok(())),
        control::Reply::Refused(m) => Ok(Err(m)),
        other => Err(Error::Refused(format!(
            "the kernel in {} answered dmsetup {} with {other:?}",
            dir.display(),
            op.ioctl()
        ))),
    }
}

/// What lvm2 makes of `lvconvert --merge` of a snapshot on a running
/// system ([`merge_outcome`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeOutcome {
    /// The argument names no snapshot, or the kernel has no device of
    /// its origin loaded: the merge is the images' (it starts on the
    /// origin's next activation).
    NotLoaded,
    /// The origin's device is open: lvm2 marks the snapshot merging and
    /// leaves the loaded tables alone until the origin is closed and
    /// reloaded, or activated again.
    DelayedOriginOpen,
    /// The snapshot's device is open (the origin's is not): delayed as
    /// above.
    DelayedSnapshotOpen,
    /// Neither is open: the kernel loads `snapshot-merge` and merges now;
    /// lvm2 then polls it.
    Kernel {
        /// `VG/ORIGIN`.
        origin: String,
        /// The snapshot's LV name.
        snapshot: String,
    },
}

impl MergeOutcome {
    /// lvm2's line for a delayed merge (printed on stdout, indented by
    /// two spaces as lvm2's messages are), `None` otherwise.
    pub fn message(&self) -> Option<&'static str> {
        match self {
            MergeOutcome::DelayedOriginOpen => Some("Delaying merge since origin is open."),
            MergeOutcome::DelayedSnapshotOpen => Some("Delaying merge since snapshot is open."),
            MergeOutcome::NotLoaded | MergeOutcome::Kernel { .. } => None,
        }
    }
}

/// What lvm2 does with `lvconvert --merge ARG` while the kernel `s` runs:
/// a snapshot whose origin is loaded merges in the kernel at once unless
/// the origin or the snapshot is open, when lvm2 delays the merge (the
/// origin is checked first, as lvm2 does).
pub fn merge_outcome(s: &Status, sys: &lvm_meta::scan::System, arg: &str) -> MergeOutcome {
    let Some((vg, origin)) = origin_of(sys, arg) else {
        return MergeOutcome::NotLoaded;
    };
    let Some(open) = top_device(s, &vg, &origin) else {
        return MergeOutcome::NotLoaded;
    };
    let snap = crate::names::vg_lv(arg).map_or_else(|_| arg.to_owned(), |(_, lv)| lv);
    if open > 0 {
        MergeOutcome::DelayedOriginOpen
    } else if top_device(s, &vg, &snap).unwrap_or(0) > 0 {
        MergeOutcome::DelayedSnapshotOpen
    } else {
        MergeOutcome::Kernel {
            origin: format!("{vg}/{origin}"),
            snapshot: snap,
        }
    }
}

/// True if the running kernel `s` has the top device of `VG/LV` loaded,
/// and that device's open count.
pub fn top_device(s: &Status, vg: &str, lv: &str) -> Option<u32> {
    s.devices
        .iter()
        .find(|d| d.vg == vg && d.lv == lv && d.layer == Layer::Top)
        .map(|d| d.open)
}

/// `dmsetup table [NAME...]` of the running kernel `s`: the tables it
/// has loaded (which differ from the images' metadata while a merge is
/// postponed). Same form and errors as [`crate::dmsetup::run`]; false
/// when a name is no device. The kernel names the disks `7:N` (N their
/// scan order); `disks` gives other numbers (`7:N` -> `MAJ:MIN`).
pub fn write_tables(
    s: &Status,
    names: &[String],
    disks: &[(String, String)],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<bool> {
    let renumber = |l: &str| -> String {
        l.split(' ')
            .map(|w| {
                disks
                    .iter()
                    .find(|(k, _)| k == w)
                    .map_or(w, |(_, v)| v.as_str())
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    if names.is_empty() {
        for d in &s.devices {
            for l in d.table.lines() {
                writeln!(out, "{}: {}", d.name, renumber(l))?;
            }
        }
        if s.devices.is_empty() {
            writeln!(out, "No devices found")?;
        }
        return Ok(true);
    }
    for arg in names {
        let name = match arg.strip_prefix(crate::names::DEV_DIR) {
            Some(p) => match p.split_once('/') {
                Some((crate::names::DM_SUBDIR, n)) => Some(n.to_owned()),
                Some((vg, lv)) => Some(crate::names::dm_name(vg, lv, None)),
                None => None,
            },
            None => Some(arg.clone()),
        };
        let Some(d) = s.devices.iter().find(|d| Some(&d.name) == name.as_ref()) else {
            if arg.contains('/') {
                writeln!(err, "Device {arg} not found")?;
            } else {
                writeln!(err, "Device does not exist.")?;
            }
            writeln!(err, "Command failed.")?;
            return Ok(false);
        };
        for l in d.table.lines() {
            if names.len() > 1 {
                writeln!(out, "{arg}: {}", renumber(l))?;
            } else {
                writeln!(out, "{}", renumber(l))?;
            }
        }
    }
    Ok(true)
}

/// The `NAME=MINOR` numbers of the running kernel's devices.
pub fn live_minors(s: &Status) -> Vec<(String, u32)> {
    s.devices
        .iter()
        .map(|d| (d.name.clone(), d.minor))
        .collect()
}

/// The LVs (VG, LV) whose own device the running kernel `s` has loaded:
/// the LVs a report shows active (an LV's hidden `-real` and `-cow` layers
/// do not make another LV active).
pub fn loaded_lvs(s: &Status) -> Vec<(String, String)> {
    s.devices
        .iter()
        .filter(|d| d.layer == Layer::Top)
        .map(|d| (d.vg.clone(), d.lv.clone()))
        .collect()
}

/// The LVs (VG, LV) whose own device the running kernel `s` holds
/// suspended.
pub fn suspended_lvs(s: &Status) -> Vec<(String, String)> {
    s.devices
        .iter()
        .filter(|d| d.layer == Layer::Top && d.suspended)
        .map(|d| (d.vg.clone(), d.lv.clone()))
        .collect()
}

/// How long [`stop`] waits for the process to end after it answered.
const EXIT_WAIT: Duration = Duration::from_secs(30);

/// Stops the kernel serving `dir` (flush, unmount, end) and waits until
/// its process has ended.
///
/// # Errors
/// [`Error::Refused`] when no kernel runs there, or a device is open (as
/// the kernel refuses to remove a device in use), or the process did not
/// end.
pub fn stop(dir: &Path) -> Result<()> {
    let pid = status(dir)?.pid;
    match control::ask(dir, &control::Request::Stop)? {
        control::Reply::Stopped => {}
        control::Reply::Refused(m) => return Err(Error::Refused(m)),
        other => {
            return Err(Error::Refused(format!(
                "the kernel answered a stop with {other:?}"
            )))
        }
    }
    let began = Instant::now();
    while process_alive(pid) {
        if began.elapsed() > EXIT_WAIT {
            return Err(Error::Refused(format!(
                "the kernel in {} (pid {pid}) stopped serving but did not end",
                dir.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// True while process `pid` exists and has not ended (a zombie has).
fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses.
        Ok(s) => s
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Writes `s` as `lvmsim kernel status` prints it: JSON, or a header and
/// one line per device (name, layer, size in bytes, open count, handles,
/// events, state, path).
pub fn write_status(s: &Status, json: bool, out: &mut dyn Write) -> Result<()> {
    if json {
        serde_json::to_writer_pretty(&mut *out, s)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(out, "pid {}", s.pid)?;
    writeln!(out, "dir {}", s.dir)?;
    if let Some(n) = &s.nbd {
        writeln!(out, "nbd {n}")?;
    }
    for i in &s.images {
        writeln!(out, "image {i}")?;
    }
    let w = s
        .devices
        .iter()
        .map(|d| d.name.len())
        .max()
        .unwrap_or(0)
        .max(4);
    writeln!(
        out,
        "{:<w$} {:<5} {:>12} {:>4} {:>7} {:>5} {:<7} Path",
        "Name", "Layer", "Size", "Open", "Handles", "Event", "State"
    )?;
    for d in &s.devices {
        let layer = match d.layer {
            Layer::Top => "top",
            Layer::Real => "real",
            Layer::Cow => "cow",
            Layer::Tpool => "tpool",
        };
        writeln!(
            out,
            "{:<w$} {:<5} {:>12} {:>4} {:>7} {:>5} {:<7} {}",
            d.name,
            layer,
            d.size,
            d.open,
            d.handles,
            d.event,
            if d.invalid {
                "Invalid"
            } else if d.suspended {
                "Suspended"
            } else {
                "Active"
            },
            d.link.as_deref().unwrap_or(&d.path)
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{merge_outcome, DeviceStatus, Layer, MergeOutcome, NbdAddr, Status};

    /// A system of the VG of testdata/kernel/merge-complete (`vg/origin`
    /// and its snapshot `vg/snap`), with no images behind it.
    fn merge_system() -> lvm_meta::scan::System {
        let text = include_str!("../../../testdata/kernel/merge-complete/013.vgcfg.vg");
        let t = lvm_meta::text::parse(text.as_bytes()).unwrap();
        let vg = lvm_meta::model::Vg::from_tree(&t).unwrap();
        lvm_meta::scan::System {
            vgs: vec![lvm_meta::scan::VgInstance {
                pv_devices: vec![None; vg.pvs.len()],
                vg: std::sync::Arc::new(vg),
                text: std::sync::Arc::new(Vec::new()),
                source: (0, 0),
            }],
            ..Default::default()
        }
    }

    /// A kernel with the top devices `(LV, open count)` of VG `vg` loaded.
    fn kernel(tops: &[(&str, u32)]) -> Status {
        let dev = |lv: &str, open: u32| DeviceStatus {
            name: format!("vg-{lv}"),
            vg: "vg".into(),
            lv: lv.into(),
            layer: Layer::Top,
            group: "origin".into(),
            minor: 0,
            size: 0,
            table: String::new(),
            open,
            handles: open,
            event: 0,
            invalid: false,
            suspended: false,
            path: String::new(),
            link: None,
        };
        Status {
            pid: 1,
            dir: String::new(),
            images: Vec::new(),
            nbd: None,
            devices: tops.iter().map(|(l, o)| dev(l, *o)).collect(),
            merges: Vec::new(),
        }
    }

    #[test]
    fn a_merge_is_delayed_while_the_origin_or_the_snapshot_is_open() {
        let sys = merge_system();
        let outcome = |tops: &[(&str, u32)], arg: &str| merge_outcome(&kernel(tops), &sys, arg);
        let now = MergeOutcome::Kernel {
            origin: "vg/origin".into(),
            snapshot: "snap".into(),
        };
        assert_eq!(outcome(&[("origin", 0), ("snap", 0)], "vg/snap"), now);
        assert_eq!(outcome(&[("origin", 0), ("snap", 0)], "/dev/vg/snap"), now);
        // The origin is asked first.
        assert_eq!(
            outcome(&[("origin", 1), ("snap", 2)], "vg/snap"),
            MergeOutcome::DelayedOriginOpen
        );
        assert_eq!(
            outcome(&[("origin", 0), ("snap", 1)], "vg/snap"),
            MergeOutcome::DelayedSnapshotOpen
        );
        // No device of the origin, or no snapshot named: the images merge.
        assert_eq!(outcome(&[], "vg/snap"), MergeOutcome::NotLoaded);
        assert_eq!(
            outcome(&[("origin", 1)], "vg/origin"),
            MergeOutcome::NotLoaded
        );
        assert_eq!(
            MergeOutcome::DelayedOriginOpen.message(),
            Some("Delaying merge since origin is open.")
        );
        assert_eq!(
            MergeOutcome::DelayedSnapshotOpen.message(),
            Some("Delaying merge since snapshot is open.")
        );
        assert_eq!(now.message(), None);
    }

    /// The devices a cached LV stacks on are open by it, not by a user:
    /// they do not keep its group from deactivating; a file open on one
    /// does.
    #[test]
    fn sub_devices_held_by_their_lv_do_not_refuse_its_deactivation() {
        let mut s = kernel(&[("c1", 0), ("c1_corig", 0), ("p1_cpool_cdata", 0)]);
        for d in &mut s.devices {
            d.group = "c1".into();
            if d.lv != "c1" {
                d.open = 1;
            }
        }
        assert!(super::refuse_open(&s, "vg", Some("c1"), super::Taking::Deactivate).is_ok());
        s.devices[1].handles = 1;
        s.devices[1].open = 2;
        assert!(super::refuse_open(&s, "vg", Some("c1"), super::Taking::Deactivate).is_err());
    }

    #[test]
    fn nbd_addresses() {
        assert_eq!(
            NbdAddr::parse("unix:/run/k.sock").unwrap(),
            NbdAddr::Unix("/run/k.sock".into())
        );
        assert_eq!(
            NbdAddr::parse("tcp:127.0.0.1:10809").unwrap(),
            NbdAddr::Tcp("127.0.0.1:10809".into())
        );
        for bad in ["unix:", "tcp:10809", "nbd://x", ""] {
            assert!(NbdAddr::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(NbdAddr::Unix("/a".into()).to_string(), "unix:/a");
    }
}
