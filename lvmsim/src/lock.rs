//! Locks that serialise lvmsim processes working on the same image files.
//!
//! Two commands that write the same VG at once would interleave their
//! metadata-ring writes and commit a pointer to text the other overwrote.
//! lvm2 prevents this with flock(2) on per-VG files under `/run/lock/lvm`;
//! lvmsim has no such directory to share, so it takes flock(2) locks on the
//! image files themselves: shared for commands that only read, exclusive for
//! commands that write. Each lock sits on a read-only file descriptor of its
//! own that lives as long as the [`Guard`]; the command's other descriptors
//! on the same files may be opened and closed freely (flock locks belong to
//! the open file, unlike POSIX record locks, which the first close of any
//! descriptor would drop).
//!
//! Deadlocks: the images are locked one after the other in the order of
//! their (device, inode) numbers, so two commands that need overlapping sets
//! always meet first on the lowest image they share. One file named twice
//! (by two paths, links or `NAME=PATH` forms) is locked once: a second flock
//! on another descriptor of the same file would wait for the first.
//!
//! This module reads no environment variable and keeps no global state: the
//! caller passes a [`Policy`].
//!
//! # Errors
//!
//! [`LockError`] names the image file: it cannot be opened or locked, or it
//! is held by another process and the policy said not to wait.

use std::fs::{File, TryLockError};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What a command does with the images it locks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only reads: any number of readers at once, no writer.
    Shared,
    /// Writes: no other lvmsim command on the same images.
    Exclusive,
}

impl Mode {
    /// `Exclusive` for a command that may write, `Shared` otherwise.
    pub fn for_command(writes: bool) -> Mode {
        if writes {
            Mode::Exclusive
        } else {
            Mode::Shared
        }
    }
}

/// What to do when another process holds a conflicting lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Wait {
    /// Wait until it is released (lvm2's behaviour).
    #[default]
    Block,
    /// Fail at once with [`LockError::Busy`].
    NoWait,
}

/// How a command locks its images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// `false`: take no lock at all (lvm2's `--nolocking`).
    pub locking: bool,
    /// Whether to wait for a lock held elsewhere.
    pub wait: Wait,
}

impl Policy {
    /// From lvm2's options: `--nolocking`, `--lockopt nowait`.
    pub fn from_flags(nolocking: bool, nowait: bool) -> Policy {
        Policy {
            locking: !nolocking,
            wait: if nowait { Wait::NoWait } else { Wait::Block },
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            locking: true,
            wait: Wait::Block,
        }
    }
}

/// Why the images could not be locked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// The image could not be opened or examined for locking.
    #[error("{}: cannot open for locking: {source}", path.display())]
    Open {
        /// The image file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// flock(2) failed for a reason other than another holder.
    #[error("{}: cannot lock: {source}", path.display())]
    Lock {
        /// The image file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// Another process holds a conflicting lock and the policy said not to
    /// wait.
    #[error("{}: locked by {}; not waiting for it (nowait)", path.display(), holder_text(*holder))]
    Busy {
        /// The image file.
        path: PathBuf,
        /// The process holding the lock, when `/proc/locks` names it.
        holder: Option<u32>,
    },
}

fn holder_text(holder: Option<u32>) -> String {
    match holder {
        Some(pid) => format!("pid {pid}"),
        None => "another process".to_owned(),
    }
}

/// The locks of one command; dropping it releases them.
#[derive(Debug, Default)]
pub struct Guard {
    held: Vec<(PathBuf, File)>,
}

impl Guard {
    /// The files locked, in the order they were locked.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.held.iter().map(|(p, _)| p.as_path())
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Closing the descriptors would release the locks too; unlocking
        // first, in reverse order, keeps the release explicit.
        for (_, f) in self.held.iter().rev() {
            let _ = f.unlock();
        }
    }
}

/// One image to lock: its file and identity.
struct Target {
    key: (u64, u64),
    path: PathBuf,
    file: File,
}

/// The order in which images are locked: by (device, inode), each file once.
/// Returns indices into `keys`.
fn lock_order(keys: &[(u64, u64)]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..keys.len()).collect();
    // A stable sort keeps the first name given for a file.
    idx.sort_by_key(|&i| keys[i]);
    idx.dedup_by_key(|i| keys[*i]);
    idx
}

/// Locks `paths` in `mode` under `policy` and returns the guard that holds
/// the locks. When a lock is held elsewhere and the policy waits, `notify`
/// is called once for that image with a line saying whom it waits for
/// (without leading blanks or newline).
pub fn acquire(
    paths: &[PathBuf],
    mode: Mode,
    policy: Policy,
    notify: &mut dyn FnMut(&str),
) -> Result<Guard, LockError> {
    let mut guard = Guard::default();
    if !policy.locking {
        return Ok(guard);
    }
    let mut targets = Vec::with_capacity(paths.len());
    for p in paths {
        let open_err = |source| LockError::Open {
            path: p.clone(),
            source,
        };
        let file = File::open(p).map_err(open_err)?;
        let md = file.metadata().map_err(open_err)?;
        targets.push(Target {
            key: (md.dev(), md.ino()),
            path: p.clone(),
            file,
        });
    }
    let keys: Vec<(u64, u64)> = targets.iter().map(|t| t.key).collect();
    let order = lock_order(&keys);
    let mut slots: Vec<Option<Target>> = targets.into_iter().map(Some).collect();
    for i in order {
        // OK to unwrap: lock_order yields each index at most once.
        let t = slots[i].take().unwrap();
        lock_one(&t, mode, policy.wait, notify)?;
        guard.held.push((t.path, t.file));
    }
    Ok(guard)
}

fn lock_one(
    t: &Target,
    mode: Mode,
    wait: Wait,
    notify: &mut dyn FnMut(&str),
) -> Result<(), LockError> {
    let lock_err = |source| LockError::Lock {
        path: t.path.clone(),
        source,
    };
    let tried = match mode {
        Mode::Shared => t.file.try_lock_shared(),
        Mode::Exclusive => t.file.try_lock(),
    };
    match tried {
        Ok(()) => return Ok(()),
        Err(TryLockError::Error(e)) => return Err(lock_err(e)),
        Err(TryLockError::WouldBlock) => {}
    }
    let holder = holder_of(t.key);
    if wait == Wait::NoWait {
        return Err(LockError::Busy {
            path: t.path.clone(),
            holder,
        });
    }
    let by = holder
        .map(|p| format!(" held by pid {p}"))
        .unwrap_or_default();
    notify(&format!(
        "lvmsim: waiting for the lock on {}{by}",
        t.path.display()
    ));
    loop {
        let r = match mode {
            Mode::Shared => t.file.lock_shared(),
            Mode::Exclusive => t.file.lock(),
        };
        match r {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(lock_err(e)),
        }
    }
}

/// The process that holds a flock on the file with this (device, inode),
/// from `/proc/locks`; `None` when it cannot be told.
fn holder_of(key: (u64, u64)) -> Option<u32> {
    let text = std::fs::read_to_string("/proc/locks").ok()?;
    let (dev, ino) = key;
    holder_in(&text, dev_major(dev), dev_minor(dev), ino)
}

/// glibc's `major()` of a `st_dev`.
fn dev_major(dev: u64) -> u64 {
    ((dev & 0x0000_0000_000f_ff00) >> 8) | ((dev & 0xffff_f000_0000_0000) >> 32)
}

/// glibc's `minor()` of a `st_dev`.
fn dev_minor(dev: u64) -> u64 {
    (dev & 0xff) | ((dev & 0x0000_0fff_fff0_0000) >> 12)
}

/// The pid of the first flock holder of (major, minor, inode) in the text of
/// `/proc/locks`. Lines look like
/// `3: FLOCK  ADVISORY  WRITE 32419 fe:00:10010706 0 EOF` (device numbers in
/// hex); lines with `->` after the number are processes still waiting.
/// When no line has the device numbers (some file systems report another
/// device there than stat does) a single holder of the inode is taken.
fn holder_in(locks: &str, major: u64, minor: u64, ino: u64) -> Option<u32> {
    let mut same_ino = Vec::new();
    for line in locks.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 6 || f[1] == "->" || f[1] != "FLOCK" {
            continue;
        }
        let Ok(pid) = f[4].parse::<u32>() else {
            continue;
        };
        let mut id = f[5].split(':');
        let (Some(ma), Some(mi), Some(i)) = (id.next(), id.next(), id.next()) else {
            continue;
        };
        if i.parse::<u64>().ok() != Some(ino) {
            continue;
        }
        let ma = u64::from_str_radix(ma, 16).ok();
        let mi = u64::from_str_radix(mi, 16).ok();
        if ma == Some(major) && mi == Some(minor) {
            return Some(pid);
        }
        same_ino.push(pid);
    }
    same_ino.dedup();
    match same_ino.as_slice() {
        [pid] => Some(*pid),
        _ => None,
    }
}

/// The image files of VGs `vgs` among `devs` (regular files only), sorted,
/// from a scan made without locks; `None` when a VG is not there or the
/// images cannot be scanned (the caller then locks every image).
fn vg_images(devs: &[PathBuf], vgs: &[String]) -> Option<Vec<PathBuf>> {
    let sys = crate::scan(devs, false, &mut std::io::sink()).ok()?;
    let mut out = Vec::new();
    for name in vgs {
        let inst = sys.vg(name)?;
        for d in inst.pv_devices.iter().flatten() {
            out.push(PathBuf::from(&sys.devices[*d].image.source));
        }
    }
    out.retain(|p| p.is_file());
    out.sort();
    out.dedup();
    Some(out)
}

/// Exclusive locks for a command that changes VGs `vgs` (lvm2's per-VG
/// lock, taken on the VGs' images) and the images `named` (new PVs: lvm2's
/// global lock for orphans, taken on those images), so that commands on
/// other VGs of the same images run beside it. The VGs' images come from a
/// scan without locks; after locking they are found again, and if the VG
/// gained or lost PVs in between the locks are taken anew. With `vgs`
/// `None`, or when a VG cannot be found that way, every image of `all` is
/// locked instead.
pub fn acquire_for_vgs(
    all: &[PathBuf],
    vgs: Option<&[String]>,
    named: &[PathBuf],
    policy: Policy,
    notify: &mut dyn FnMut(&str),
) -> Result<Guard, LockError> {
    const TRIES: usize = 5;
    let files = |v: &[PathBuf]| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = v.iter().filter(|p| p.is_file()).cloned().collect();
        v.extend(named.iter().filter(|p| p.is_file()).cloned());
        v
    };
    let everything = |notify: &mut dyn FnMut(&str)| {
        let every = crate::device_paths(all)
            .map(|d| {
                d.into_iter()
                    .map(|(_, p)| PathBuf::from(p))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        acquire(&files(&every), Mode::Exclusive, policy, notify)
    };
    let Some(vgs) = vgs.filter(|_| policy.locking) else {
        return everything(notify);
    };
    for _ in 0..TRIES {
        let Some(before) = vg_images(all, vgs) else {
            return everything(notify);
        };
        let guard = acquire(&files(&before), Mode::Exclusive, policy, notify)?;
        if vg_images(all, vgs).as_ref() == Some(&before) {
            return Ok(guard);
        }
    }
    everything(notify)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_by_device_then_inode_and_each_file_once() {
        let keys = [(2, 5), (1, 9), (2, 1), (1, 9), (2, 5)];
        let order = lock_order(&keys);
        assert_eq!(order, vec![1, 2, 0]);
        // Any permutation of the same files is locked in the same order.
        let rev: Vec<(u64, u64)> = keys.iter().rev().copied().collect();
        let o2: Vec<(u64, u64)> = lock_order(&rev).iter().map(|&i| rev[i]).collect();
        let o1: Vec<(u64, u64)> = order.iter().map(|&i| keys[i]).collect();
        assert_eq!(o1, o2);
    }

    #[test]
    fn proc_locks_holder() {
        let text = "1: POSIX  ADVISORY  WRITE 77 fe:00:42 0 EOF\n\
                    2: FLOCK  ADVISORY  WRITE 123 fe:00:41 0 EOF\n\
                    3: -> FLOCK  ADVISORY  WRITE 555 fe:00:42 0 EOF\n\
                    4: FLOCK  ADVISORY  READ 456 fe:00:42 0 EOF\n\
                    5: FLOCK  ADVISORY  READ 789 103:02:42 0 EOF\n";
        assert_eq!(holder_in(text, 0xfe, 0, 42), Some(456));
        assert_eq!(holder_in(text, 0x103, 2, 42), Some(789));
        assert_eq!(holder_in(text, 0xfe, 0, 41), Some(123));
        // Another device: only a single holder of the inode is a guess.
        assert_eq!(holder_in(text, 8, 1, 41), Some(123));
        assert_eq!(holder_in(text, 8, 1, 42), None);
        assert_eq!(holder_in(text, 0xfe, 0, 40), None);
        assert_eq!(holder_in("", 0xfe, 0, 42), None);
    }

    #[test]
    fn device_numbers_as_glibc() {
        // makedev(0x103, 0x2) and makedev(0x12345, 0x6789a).
        assert_eq!((dev_major(0x10302), dev_minor(0x10302)), (0x103, 2));
        let big = (0x12345u64 & 0xfffff000) << 32
            | (0x12345 & 0xfff) << 8
            | (0x6789a & 0xffffff00) << 12
            | (0x6789a & 0xff);
        assert_eq!((dev_major(big), dev_minor(big)), (0x12345, 0x6789a));
    }

    fn files(dir: &Path, n: usize) -> Vec<PathBuf> {
        (0..n)
            .map(|i| {
                let p = dir.join(format!("img{i}"));
                std::fs::write(&p, b"x").unwrap();
                p
            })
            .collect()
    }

    fn quiet() -> impl FnMut(&str) {
        |m: &str| panic!("unexpected wait: {m}")
    }

    #[test]
    fn nowait_names_the_image_and_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let p = files(dir.path(), 2);
        // A lock held through another open file: flock conflicts between
        // open files even within one process. /proc/locks names this
        // process as the holder.
        let other = File::open(&p[1]).unwrap();
        other.lock().unwrap();
        let nowait = Policy {
            locking: true,
            wait: Wait::NoWait,
        };
        let e = acquire(&p, Mode::Shared, nowait, &mut quiet()).unwrap_err();
        match &e {
            LockError::Busy { path, holder } => {
                assert_eq!(path, &p[1]);
                assert_eq!(*holder, Some(std::process::id()));
            }
            other => panic!("expected Busy, got {other:?}"),
        }
        let msg = e.to_string();
        assert!(msg.contains(&p[1].display().to_string()), "{msg}");
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        // The image locked before the busy one was released on failure.
        let first = File::open(&p[0]).unwrap();
        first.try_lock().unwrap();
        first.unlock().unwrap();
        // Shared holders let readers in, not writers.
        other.unlock().unwrap();
        other.lock_shared().unwrap();
        let g = acquire(&p, Mode::Shared, nowait, &mut quiet()).unwrap();
        drop(g);
        assert!(matches!(
            acquire(&p, Mode::Exclusive, nowait, &mut quiet()),
            Err(LockError::Busy { .. })
        ));
        // Without locking nothing is taken and nothing waits.
        let off = Policy {
            locking: false,
            wait: Wait::Block,
        };
        let g = acquire(&p, Mode::Exclusive, off, &mut quiet()).unwrap();
        assert_eq!(g.paths().count(), 0);
    }

    #[test]
    fn one_file_by_two_names_is_locked_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = files(dir.path(), 2);
        let link = dir.path().join("link");
        std::fs::hard_link(&p[0], &link).unwrap();
        let names = vec![link.clone(), p[1].clone(), p[0].clone(), p[1].clone()];
        let g = acquire(&names, Mode::Exclusive, Policy::default(), &mut quiet()).unwrap();
        assert_eq!(g.paths().count(), 2);
        let f = File::open(&p[0]).unwrap();
        assert!(matches!(f.try_lock_shared(), Err(TryLockError::WouldBlock)));
        drop(g);
        f.try_lock().unwrap();
    }

    #[test]
    fn a_missing_image_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let e = acquire(
            std::slice::from_ref(&missing),
            Mode::Shared,
            Policy::default(),
            &mut quiet(),
        )
        .unwrap_err();
        assert!(matches!(e, LockError::Open { .. }));
        assert!(e.to_string().starts_with(&missing.display().to_string()));
    }

    /// Two threads lock the same files named in opposite orders, many times
    /// over; locking in the order given, they would soon each hold what the
    /// other waits for. With the (device, inode) order they cannot.
    #[test]
    fn opposite_orders_do_not_deadlock() {
        let dir = tempfile::tempdir().unwrap();
        let p = files(dir.path(), 40);
        let mut rev = p.clone();
        rev.reverse();
        let (tx, rx) = std::sync::mpsc::channel();
        let mut threads = Vec::new();
        for names in [p.clone(), rev] {
            let tx = tx.clone();
            threads.push(std::thread::spawn(move || {
                for _ in 0..200 {
                    let g =
                        acquire(&names, Mode::Exclusive, Policy::default(), &mut |_| {}).unwrap();
                    std::thread::yield_now();
                    drop(g);
                }
                tx.send(()).unwrap();
            }));
        }
        for _ in 0..2 {
            rx.recv_timeout(std::time::Duration::from_secs(30))
                .expect("the lockers deadlocked");
        }
        for t in threads {
            t.join().unwrap();
        }
    }
}
