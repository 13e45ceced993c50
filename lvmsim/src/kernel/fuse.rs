//! The devices as files, served through FUSE: the mount point (`DIR/dev`)
//! holds `mapper/NAME` for every loaded device and `VG/LV` symbolic links
//! to the visible LVs' devices (`../mapper/NAME`), as udev lays out
//! `/dev`. Files are opened in direct-I/O mode, so every read and write
//! reaches the table (no page cache stands between a snapshot's
//! invalidation and its readers); each open handle counts in the device's
//! open count.

use super::table::Table;
use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, LockOwner,
    OpenFlags, ReplyAttr, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyWrite,
    Request, WriteFlags,
};
use std::ffi::OsStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

/// How long the kernel may cache names and attributes (they never change
/// while the kernel runs).
const TTL: Duration = Duration::from_secs(1);

/// What a node of the tree is.
enum Kind {
    /// A directory and its children (inode numbers).
    Dir(Vec<u64>),
    /// Device `usize` of the table.
    Dev(usize),
    /// A symbolic link and its target.
    Link(String),
}

struct Node {
    name: String,
    parent: u64,
    kind: Kind,
}

/// The filesystem: a fixed tree over the shared table.
pub(crate) struct DevFs {
    nodes: Vec<Node>,
    table: Arc<Mutex<Table>>,
    born: SystemTime,
}

/// The root's inode number (FUSE's).
const ROOT: u64 = 1;

impl DevFs {
    /// The tree of `table`'s devices.
    pub fn new(table: Arc<Mutex<Table>>) -> DevFs {
        const MAPPER: u64 = 2;
        let mut nodes = vec![
            Node {
                name: String::new(),
                parent: ROOT,
                kind: Kind::Dir(vec![MAPPER]),
            },
            Node {
                name: crate::names::DM_SUBDIR.to_owned(),
                parent: ROOT,
                kind: Kind::Dir(Vec::new()),
            },
        ];
        // (device name, `VG/LV` link if any), in table order.
        let devs: Vec<(String, Option<(String, String)>)> = lock(&table)
            .devs
            .iter()
            .map(|d| (d.name.clone(), d.link.clone()))
            .collect();
        // Adds a node under `parent`; returns its inode number.
        let add = |nodes: &mut Vec<Node>, parent: u64, name: String, kind: Kind| -> u64 {
            nodes.push(Node { name, parent, kind });
            let ino = nodes.len() as u64;
            if let Kind::Dir(c) = &mut nodes[(parent - 1) as usize].kind {
                c.push(ino);
            }
            ino
        };
        for (i, (name, _)) in devs.iter().enumerate() {
            add(&mut nodes, MAPPER, name.clone(), Kind::Dev(i));
        }
        for (name, link) in devs {
            let Some((vg, lv)) = link else {
                continue;
            };
            // The VG's directory: a root entry other than `mapper`.
            let dir =
                match nodes.iter().skip(2).position(|n| {
                    n.parent == ROOT && n.name == vg && matches!(n.kind, Kind::Dir(_))
                }) {
                    Some(p) => p as u64 + 3,
                    None => add(&mut nodes, ROOT, vg, Kind::Dir(Vec::new())),
                };
            let target = format!("../{}/{name}", crate::names::DM_SUBDIR);
            add(&mut nodes, dir, lv, Kind::Link(target));
        }
        DevFs {
            nodes,
            table,
            born: SystemTime::now(),
        }
    }

    fn node(&self, ino: INodeNo) -> Result<&Node, Errno> {
        usize::try_from(ino.0)
            .ok()
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| self.nodes.get(i))
            .ok_or(Errno::ENOENT)
    }

    fn attr(&self, ino: u64) -> FileAttr {
        let n = &self.nodes[(ino - 1) as usize];
        let (kind, perm, size, nlink) = match &n.kind {
            Kind::Dir(_) => (FileType::Directory, 0o755, 0, 2),
            Kind::Dev(d) => (
                FileType::RegularFile,
                0o660,
                lock(&self.table).devs[*d].size,
                1,
            ),
            Kind::Link(t) => (FileType::Symlink, 0o777, t.len() as u64, 1),
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

    fn dev(&self, ino: INodeNo) -> Result<usize, Errno> {
        match self.node(ino)?.kind {
            Kind::Dev(d) => Ok(d),
            Kind::Dir(_) => Err(Errno::EISDIR),
            Kind::Link(_) => Err(Errno::EINVAL),
        }
    }
}

/// The table, even if a request panicked while holding it (its state is
/// on the images after every request).
fn lock(t: &Mutex<Table>) -> MutexGuard<'_, Table> {
    t.lock().unwrap_or_else(|p| p.into_inner())
}

fn errno(e: &std::io::Error) -> Errno {
    Errno::from_i32(super::table::errno_of(e))
}

impl Filesystem for DevFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let found = match self.node(parent) {
            Ok(Node {
                kind: Kind::Dir(c), ..
            }) => c
                .iter()
                .copied()
                .find(|&i| OsStr::new(&self.nodes[(i - 1) as usize].name) == name),
            _ => None,
        };
        match found {
            Some(ino) => reply.entry(&TTL, &self.attr(ino), Generation(0)),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.node(ino) {
            Ok(_) => reply.attr(&TTL, &self.attr(ino.0)),
            Err(e) => reply.error(e),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.node(ino) {
            Ok(Node {
                kind: Kind::Link(t),
                ..
            }) => reply.data(t.as_bytes()),
            Ok(_) => reply.error(Errno::EINVAL),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.dev(ino) {
            Ok(d) => {
                lock(&self.table).devs[d].opens += 1;
                reply.opened(FileHandle(0), FopenFlags::FOPEN_DIRECT_IO);
            }
            Err(e) => reply.error(e),
        }
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        if let Ok(d) = self.dev(ino) {
            let mut t = lock(&self.table);
            t.devs[d].opens = t.devs[d].opens.saturating_sub(1);
        }
        reply.ok();
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let d = match self.dev(ino) {
            Ok(d) => d,
            Err(e) => return reply.error(e),
        };
        match lock(&self.table).read(d, offset, size as usize) {
            Ok(buf) => reply.data(&buf),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let d = match self.dev(ino) {
            Ok(d) => d,
            Err(e) => return reply.error(e),
        };
        match lock(&self.table).write(d, offset, data) {
            Ok(n) => reply.written(u32::try_from(n).unwrap_or(u32::MAX)),
            Err(e) => reply.error(errno(&e)),
        }
    }

    /// A close: every write is already on the images (a block device's
    /// close does not flush the disk's cache either).
    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let d = match self.dev(ino) {
            Ok(d) => d,
            Err(e) => return reply.error(e),
        };
        match lock(&self.table).flush(d) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let node = match self.node(ino) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        let Kind::Dir(children) = &node.kind else {
            return reply.error(Errno::ENOTDIR);
        };
        let mut entries: Vec<(u64, FileType, &str)> = vec![
            (ino.0, FileType::Directory, "."),
            (node.parent, FileType::Directory, ".."),
        ];
        for &c in children {
            let n = &self.nodes[(c - 1) as usize];
            let kind = match n.kind {
                Kind::Dir(_) => FileType::Directory,
                Kind::Dev(_) => FileType::RegularFile,
                Kind::Link(_) => FileType::Symlink,
            };
            entries.push((c, kind, &n.name));
        }
        let skip = usize::try_from(offset).unwrap_or(usize::MAX);
        for (i, (ino, kind, name)) in entries.into_iter().enumerate().skip(skip) {
            if reply.add(INodeNo(ino), i as u64 + 1, kind, name) {
                break;
            }
        }
        reply.ok();
    }
}
