//! The devices as files, served through FUSE: the mount point (`DIR/dev`)
//! holds `mapper/NAME` for every loaded device and `VG/LV` symbolic links
//! to the visible LVs' devices (`../mapper/NAME`), as udev lays out
//! `/dev`. Files are opened in direct-I/O mode, so every read and write
//! reaches the table (no page cache stands between a snapshot's
//! invalidation and its readers); each open handle counts in the device's
//! open count. The tree follows the table as devices are loaded and
//! removed; a handle names the device it opened, so once that device is
//! removed its requests fail with EIO. A request to a device suspended on
//! its own (`dmsetup suspend`) is kept, unanswered, until the device is
//! resumed: its caller waits as for a suspended block device, while the
//! other devices go on serving.

use super::table::{Shared, Table};
use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, LockOwner,
    OpenFlags, ReplyAttr, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyWrite,
    Request, WriteFlags,
};
use std::ffi::OsStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

/// How long the kernel may cache names and attributes: not at all, since
/// devices come and go (and change size) while the kernel runs.
const TTL: Duration = Duration::ZERO;

/// What an inode is. Numbers are given out as names are first seen and
/// stay with their name: a device made again under its old name gets its
/// old inode (an open file is tied to the device it opened by its handle,
/// not by the inode).
#[derive(Clone, PartialEq, Eq)]
enum Node {
    /// The root.
    Root,
    /// `mapper`.
    Mapper,
    /// `mapper/NAME`.
    Dev(String),
    /// `VG`.
    VgDir(String),
    /// `VG/LV`, a link to its device.
    Link(String, String),
}

/// The filesystem: a tree computed from the shared table at each request.
pub(crate) struct DevFs {
    nodes: Mutex<Vec<Node>>,
    table: Arc<Shared>,
    born: SystemTime,
    /// The buffer reads are served from, kept from one request to the
    /// next so that a read neither allocates nor zeroes its buffer. It
    /// grows to the longest read asked for, which FUSE bounds (the
    /// `max_pages` of its init, at most 16 MiB here).
    read_buf: Mutex<Vec<u8>>,
}

/// The root's inode number (FUSE's).
const ROOT: u64 = 1;

impl DevFs {
    /// The tree of `table`'s devices.
    pub fn new(table: Arc<Shared>) -> DevFs {
        DevFs {
            nodes: Mutex::new(vec![Node::Root, Node::Mapper]),
            table,
            born: SystemTime::now(),
            read_buf: Mutex::new(Vec::new()),
        }
    }

    fn nodes(&self) -> MutexGuard<'_, Vec<Node>> {
        self.nodes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The inode of `n`, given out now if it had none.
    fn ino(&self, n: Node) -> u64 {
        let mut nodes = self.nodes();
        match nodes.iter().position(|x| *x == n) {
            Some(i) => i as u64 + 1,
            None => {
                nodes.push(n);
                nodes.len() as u64
            }
        }
    }

    /// The node of inode `ino`, if it still names something.
    fn node(&self, t: &Table, ino: INodeNo) -> Result<Node, Errno> {
        let n = usize::try_from(ino.0)
            .ok()
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| self.nodes().get(i).cloned())
            .ok_or(Errno::ENOENT)?;
        let exists = match &n {
            Node::Root | Node::Mapper => true,
            Node::Dev(name) => t.by_name(name).is_some(),
            Node::VgDir(vg) => t
                .devs
                .iter()
                .any(|d| d.link.as_ref().is_some_and(|l| l.0 == *vg)),
            Node::Link(vg, lv) => link_target(t, vg, lv).is_some(),
        };
        if exists {
            Ok(n)
        } else {
            Err(Errno::ENOENT)
        }
    }

    /// The children of a directory node (name, node).
    fn children(&self, t: &Table, n: &Node) -> Vec<(String, Node)> {
        match n {
            Node::Root => {
                let mut out = vec![(crate::names::DM_SUBDIR.to_owned(), Node::Mapper)];
                for d in &t.devs {
                    if let Some((vg, _)) = &d.link {
                        if !out.iter().any(|(n, _)| n == vg) {
                            out.push((vg.clone(), Node::VgDir(vg.clone())));
                        }
                    }
                }
                out
            }
            Node::Mapper => t
                .devs
                .iter()
                .map(|d| (d.name.clone(), Node::Dev(d.name.clone())))
                .collect(),
            Node::VgDir(vg) => t
                .devs
                .iter()
                .filter_map(|d| d.link.as_ref())
                .filter(|l| l.0 == *vg)
                .map(|l| (l.1.clone(), Node::Link(l.0.clone(), l.1.clone())))
                .collect(),
            Node::Dev(_) | Node::Link(..) => Vec::new(),
        }
    }

    fn attr(&self, t: &Table, ino: u64, n: &Node) -> FileAttr {
        let (kind, perm, size, nlink) = match n {
            Node::Root | Node::Mapper | Node::VgDir(_) => (FileType::Directory, 0o755, 0, 2),
            Node::Dev(name) => (
                FileType::RegularFile,
                0o660,
                t.by_name(name).map_or(0, |d| d.size),
                1,
            ),
            Node::Link(vg, lv) => (
                FileType::Symlink,
                0o777,
                link_target(t, vg, lv).map_or(0, |s| s.len() as u64),
                1,
            ),
        };
        FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: size.div_ceil(512),
            atime: self.born,
            mtime: self.born,
            ctime: self.born,
            crtime: self.born,
            kind,
            perm,
            nlink,
            uid: 0,
            gid: 0,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        }
    }
}

/// `../mapper/NAME` for the link `VG/LV`, if the LV's device is loaded.
fn link_target(t: &Table, vg: &str, lv: &str) -> Option<String> {
    t.devs
        .iter()
        .find(|d| d.link.as_ref().is_some_and(|l| l.0 == vg && l.1 == lv))
        .map(|d| format!("../{}/{}", crate::names::DM_SUBDIR, d.name))
}

/// The process (thread group) of thread `pid`, as FUSE names the thread
/// that made a request; `pid` itself when `/proc` does not tell (a thread
/// that has ended).
fn process_of(pid: u32) -> u32 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Tgid:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(pid)
}

/// `fallocate(2)`'s mode bits.
const FALLOC_FL_KEEP_SIZE: i32 = 0x01;
const FALLOC_FL_PUNCH_HOLE: i32 = 0x02;
const FALLOC_FL_ZERO_RANGE: i32 = 0x10;

/// What a `fallocate` asks of a device.
#[derive(Clone, Copy)]
enum Fallocate {
    /// `PUNCH_HOLE | KEEP_SIZE`: a discard.
    Discard,
    /// `ZERO_RANGE`: zeros written.
    Zero,
}

/// Largest piece of zeros written at once for a `ZERO_RANGE`.
const ZERO_PIECE: u64 = 1 << 20;

/// Writes zeros over `len` bytes of device `id` at `offset`, cut at its
/// end, through the device's write path (copy-on-write included).
fn write_zeros(t: &mut Table, id: u64, offset: u64, len: u64) -> std::io::Result<()> {
    let size = t.devs[t.index(id)?].size;
    let end = offset.saturating_add(len).min(size);
    let zeros = vec![0u8; usize::try_from(ZERO_PIECE.min(end.saturating_sub(offset))).unwrap_or(0)];
    let mut at = offset;
    while at < end {
        let n = usize::try_from((end - at).min(ZERO_PIECE)).unwrap_or(0);
        t.write(id, at, &zeros[..n])?;
        at += n as u64;
    }
    Ok(())
}

fn errno(e: &std::io::Error) -> Errno {
    Errno::from_i32(super::table::errno_of(e))
}

impl Filesystem for DevFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let t = self.table.lock();
        let found = self.node(&t, parent).ok().and_then(|p| {
            self.children(&t, &p)
                .into_iter()
                .find(|(n, _)| OsStr::new(n) == name)
        });
        match found {
            Some((_, n)) => {
                let ino = self.ino(n.clone());
                reply.entry(&TTL, &self.attr(&t, ino, &n), Generation(0));
            }
            None => reply.error(Errno::ENOENT),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let t = self.table.lock();
        match self.node(&t, ino) {
            Ok(n) => reply.attr(&TTL, &self.attr(&t, ino.0, &n)),
            Err(e) => reply.error(e),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        let t = self.table.lock();
        match self.node(&t, ino) {
            Ok(Node::Link(vg, lv)) => match link_target(&t, &vg, &lv) {
                Some(s) => reply.data(s.as_bytes()),
                None => reply.error(Errno::ENOENT),
            },
            Ok(_) => reply.error(Errno::EINVAL),
            Err(e) => reply.error(e),
        }
    }

    /// The handle names the device it opened (through the table's
    /// files): the file keeps that device, and fails with EIO once it is
    /// removed.
    fn open(&self, req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let mut t = self.table.lock();
        match self.node(&t, ino) {
            Ok(Node::Dev(name)) => {
                let Some(id) = t.by_name(&name).map(|d| d.id) else {
                    return reply.error(Errno::ENOENT);
                };
                t.open(id);
                let fh = t.files.open(id, process_of(req.pid()));
                reply.opened(FileHandle(fh), FopenFlags::FOPEN_DIRECT_IO);
            }
            Ok(Node::Link(..)) => reply.error(Errno::EINVAL),
            Ok(_) => reply.error(Errno::EISDIR),
            Err(e) => reply.error(e),
        }
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        let mut t = self.table.lock();
        if let Some(id) = t.files.release(fh.0) {
            t.close(id);
        }
        reply.ok();
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let mut t = self.table.io();
        let Some(id) = t.files.used(fh.0) else {
            return reply.error(Errno::EBADF);
        };
        if t.dev_suspended(id) {
            let serve = move |t: &mut Table| match t.read(id, offset, size as usize) {
                Ok(buf) => reply.data(&buf),
                Err(e) => reply.error(errno(&e)),
            };
            return t.defer(id, Box::new(serve));
        }
        // Into the kept buffer, and answered once the table is let go:
        // the bytes are copied into the reader's memory while other
        // requests (NBD's threads, the merge worker) can take the table.
        let mut buf = self.read_buf.lock().unwrap_or_else(|p| p.into_inner());
        let done = t.read_into(id, offset, size as usize, &mut buf);
        drop(t);
        match done {
            Ok(n) => reply.data(&buf[..n]),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let mut t = self.table.io();
        let Some(id) = t.files.used(fh.0) else {
            return reply.error(Errno::EBADF);
        };
        let serve = move |t: &mut Table, data: &[u8]| match t.write(id, offset, data) {
            Ok(n) => reply.written(u32::try_from(n).unwrap_or(u32::MAX)),
            Err(e) => reply.error(errno(&e)),
        };
        if t.dev_suspended(id) {
            let data = data.to_vec();
            t.defer(id, Box::new(move |t: &mut Table| serve(t, &data)));
        } else {
            serve(&mut t, data);
        }
    }

    /// A close of a descriptor: every write is already on the images (a
    /// block device's close does not flush the disk's cache either). If
    /// the handle is going away (see [`super::handles`]) it is noted as
    /// closing, so that open counts are read once its release has arrived
    /// (a block device's close drops its open count before `close(2)`
    /// returns; FUSE's release comes after).
    fn flush(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        let closer = process_of(req.pid());
        self.table
            .lock()
            .files
            .flush(fh.0, closer, std::time::Instant::now());
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let mut t = self.table.io();
        let Some(id) = t.files.used(fh.0) else {
            return reply.error(Errno::EBADF);
        };
        let serve = move |t: &mut Table| match t.flush(id) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(&e)),
        };
        t.serve_or_defer(id, serve);
    }

    /// How a discard reaches the file: the loop driver turns a discard
    /// of a loop device over it into `fallocate(PUNCH_HOLE | KEEP_SIZE)`
    /// (`lo_fallocate`; so does a write-zeroes that may unmap), answered
    /// as the device-mapper device answers a discard ([`Table::discard`]:
    /// zeros on a linear LV, EOPNOTSUPP from the snapshot targets, after
    /// which the block layer writes zeros itself where it was zeroing).
    /// `ZERO_RANGE` (a write-zeroes that must not unmap) is a write of
    /// zeros. Any other mode is refused with EOPNOTSUPP, as
    /// `blkdev_fallocate` refuses it on a block device; never ENOSYS,
    /// which FUSE would remember for the whole mount.
    fn fallocate(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        let mut t = self.table.io();
        let Some(id) = t.files.used(fh.0) else {
            return reply.error(Errno::EBADF);
        };
        let op = match mode & !FALLOC_FL_KEEP_SIZE {
            FALLOC_FL_PUNCH_HOLE if mode & FALLOC_FL_KEEP_SIZE != 0 => Fallocate::Discard,
            FALLOC_FL_ZERO_RANGE => Fallocate::Zero,
            _ => return reply.error(Errno::from_i32(super::table::EOPNOTSUPP)),
        };
        let serve = move |t: &mut Table| {
            let done = match op {
                Fallocate::Discard => t.discard(id, offset, length),
                Fallocate::Zero => write_zeros(t, id, offset, length),
            };
            match done {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(errno(&e)),
            }
        };
        t.serve_or_defer(id, serve);
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let t = self.table.lock();
        let node = match self.node(&t, ino) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        if matches!(node, Node::Dev(_) | Node::Link(..)) {
            return reply.error(Errno::ENOTDIR);
        }
        let mut entries: Vec<(u64, FileType, String)> = vec![
            (ino.0, FileType::Directory, ".".into()),
            (ROOT, FileType::Directory, "..".into()),
        ];
        for (name, n) in self.children(&t, &node) {
            let kind = match n {
                Node::Dev(_) => FileType::RegularFile,
                Node::Link(..) => FileType::Symlink,
                _ => FileType::Directory,
            };
            entries.push((self.ino(n), kind, name));
        }
        let skip = usize::try_from(offset).unwrap_or(usize::MAX);
        for (i, (ino, kind, name)) in entries.into_iter().enumerate().skip(skip) {
            if reply.add(INodeNo(ino), i as u64 + 1, kind, &name) {
                break;
            }
        }
        reply.ok();
    }
}
