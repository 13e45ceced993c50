//! Positioned I/O: the one interface between the code and the images.
//!
//! [`ReadAt`] fetches bytes at an offset (the parsers take byte slices read
//! through it); [`WriteAt`] adds writes that never grow the target. Both
//! are implemented for files, for memory (tests and fuzzing), and through
//! references and boxes, so the same trait serves a PV image, a COW LV read
//! through its segments, or a test double that fails on purpose.

use std::fs::File;
use std::io;

/// A random-access byte source (an image file, memory, an LV).
pub trait ReadAt {
    /// Fills `buf` from `offset`. Reading past the end is an
    /// [`io::ErrorKind::UnexpectedEof`] error.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// The size in bytes.
    fn size(&self) -> io::Result<u64>;
    /// `len` bytes from `offset` in a new vector. The default zeroes the
    /// vector and fills it; a file reads into the vector's fresh memory.
    fn read_vec_at(&self, len: usize, offset: u64) -> io::Result<Vec<u8>> {
        let mut v = vec![0u8; len];
        self.read_exact_at(&mut v, offset)?;
        Ok(v)
    }
    /// Fills `bufs` one after the other from `offset`, as one read of
    /// their total length would (a file does it in one `preadv` call per
    /// [`MAX_IOVECS`] buffers). The default reads them in turn.
    fn read_vectored_exact_at(&self, bufs: &mut [&mut [u8]], offset: u64) -> io::Result<()> {
        let mut at = offset;
        for b in bufs.iter_mut() {
            self.read_exact_at(b, at)?;
            at = at.checked_add(b.len() as u64).ok_or_else(past_end)?;
        }
        Ok(())
    }
}

/// Most buffers handed to one `preadv` call (Linux's `IOV_MAX`).
pub const MAX_IOVECS: usize = 1024;

/// A random-access byte store that can also be written in place.
pub trait WriteAt: ReadAt {
    /// Writes all of `data` at `offset`. A write reaching past the end is
    /// an [`io::ErrorKind::UnexpectedEof`] error and writes nothing: an
    /// image never grows.
    fn write_all_at(&mut self, data: &[u8], offset: u64) -> io::Result<()>;
    /// Makes the writes so far durable (nothing to do for memory).
    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }
    /// Copies `len` bytes at `src_offset` of `src` to `offset` of this
    /// target, as reads of `src` and writes here would (a file asks the
    /// kernel to copy, with `copy_file_range`, so that the bytes do not
    /// pass through memory twice).
    fn copy_from_at(&mut self, src: &Self, src_offset: u64, offset: u64, len: u64) -> io::Result<()>
    where
        Self: Sized,
    {
        copy_in_pieces(len, |buf, done| {
            src.read_exact_at(buf, src_offset + done)?;
            self.write_all_at(buf, offset + done)
        })
    }
    /// Copies `len` bytes at `src_offset` of this target to `offset`, as
    /// reads and writes would; the two ranges must not overlap.
    fn copy_within_at(&mut self, src_offset: u64, offset: u64, len: u64) -> io::Result<()> {
        copy_in_pieces(len, |buf, done| {
            self.read_exact_at(buf, src_offset + done)?;
            self.write_all_at(buf, offset + done)
        })
    }
    /// Discards `len` bytes at `offset`: afterwards they read as zeros,
    /// as a loop device over a file makes of a discard (it punches a hole
    /// in the file). The default writes zeros; a file punches the hole.
    fn discard_at(&mut self, offset: u64, len: u64) -> io::Result<()> {
        copy_in_pieces(len, |buf, done| {
            buf.fill(0);
            self.write_all_at(buf, offset + done)
        })
    }
}

/// Largest piece a buffered copy moves at once: small enough to stay in
/// the CPU's cache between the read and the write.
const COPY_PIECE: u64 = 128 << 10;

/// Calls `step(buf, done)` for `len` bytes in pieces of at most
/// [`COPY_PIECE`], `done` being the bytes before the piece.
fn copy_in_pieces(
    len: u64,
    mut step: impl FnMut(&mut [u8], u64) -> io::Result<()>,
) -> io::Result<()> {
    let mut buf = vec![0u8; usize::try_from(len.min(COPY_PIECE)).unwrap_or(0)];
    let mut done = 0u64;
    while done < len {
        let n = usize::try_from((len - done).min(COPY_PIECE)).unwrap_or(0);
        step(&mut buf[..n], done)?;
        done += n as u64;
    }
    Ok(())
}

/// The error of an access outside `0..size`.
fn past_end() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "access past the end of the image",
    )
}

/// The range `offset..offset + len` as indices into `size` bytes, or the
/// past-the-end error.
fn span(offset: u64, len: usize, size: usize) -> io::Result<std::ops::Range<usize>> {
    let start = usize::try_from(offset).map_err(|_| past_end())?;
    let end = start.checked_add(len).ok_or_else(past_end)?;
    if end > size {
        return Err(past_end());
    }
    Ok(start..end)
}

impl ReadAt for File {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(self, buf, offset)
    }
    fn read_vec_at(&self, len: usize, offset: u64) -> io::Result<Vec<u8>> {
        // Read into the spare capacity: zeroing it first would write every
        // byte once more (half a MiB for a large VG's metadata).
        let mut v = Vec::with_capacity(len);
        while v.len() < len {
            let at = offset.checked_add(v.len() as u64).ok_or_else(past_end)?;
            match rustix::io::pread(self, rustix::buffer::spare_capacity(&mut v), at) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "failed to fill whole buffer",
                    ))
                }
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        // The capacity may exceed `len`, and a read may have filled it.
        v.truncate(len);
        Ok(v)
    }
    fn read_vectored_exact_at(&self, bufs: &mut [&mut [u8]], offset: u64) -> io::Result<()> {
        let mut slices: Vec<io::IoSliceMut<'_>> =
            bufs.iter_mut().map(|b| io::IoSliceMut::new(b)).collect();
        let mut rest = &mut slices[..];
        // Leading empty buffers are done already.
        io::IoSliceMut::advance_slices(&mut rest, 0);
        let mut at = offset;
        while !rest.is_empty() {
            let k = rest.len().min(MAX_IOVECS);
            match rustix::io::preadv(self, &mut rest[..k], at) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "failed to fill whole buffer",
                    ))
                }
                Ok(n) => {
                    at = at.checked_add(n as u64).ok_or_else(past_end)?;
                    io::IoSliceMut::advance_slices(&mut rest, n);
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
    fn size(&self) -> io::Result<u64> {
        // A block device reports 0 as its metadata length; seek to its end.
        let len = self.metadata()?.len();
        if len == 0 {
            use std::io::Seek;
            let mut f = self;
            let end = f.seek(io::SeekFrom::End(0))?;
            f.seek(io::SeekFrom::Start(0))?;
            return Ok(end);
        }
        Ok(len)
    }
}

impl WriteAt for File {
    fn write_all_at(&mut self, data: &[u8], offset: u64) -> io::Result<()> {
        let size = ReadAt::size(self)?;
        if offset
            .checked_add(data.len() as u64)
            .is_none_or(|e| e > size)
        {
            return Err(past_end());
        }
        std::os::unix::fs::FileExt::write_all_at(self, data, offset)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.sync_data()
    }
    fn copy_from_at(
        &mut self,
        src: &Self,
        src_offset: u64,
        offset: u64,
        len: u64,
    ) -> io::Result<()> {
        let done = kernel_copy(src, src_offset, self, offset, len)?;
        copy_in_pieces(len - done, |buf, d| {
            ReadAt::read_exact_at(src, buf, src_offset + done + d)?;
            self.write_all_at(buf, offset + done + d)
        })
    }
    fn copy_within_at(&mut self, src_offset: u64, offset: u64, len: u64) -> io::Result<()> {
        let done = kernel_copy(self, src_offset, self, offset, len)?;
        copy_in_pieces(len - done, |buf, d| {
            ReadAt::read_exact_at(self, buf, src_offset + done + d)?;
            self.write_all_at(buf, offset + done + d)
        })
    }
    /// `fallocate(PUNCH_HOLE | KEEP_SIZE)`, what the loop driver does with
    /// a discard (`lo_fallocate`); zeros are written where the file
    /// system cannot punch holes.
    fn discard_at(&mut self, offset: u64, len: u64) -> io::Result<()> {
        let size = ReadAt::size(self)?;
        if offset.checked_add(len).is_none_or(|e| e > size) {
            return Err(past_end());
        }
        if len == 0 {
            return Ok(());
        }
        let punch = rustix::fs::FallocateFlags::PUNCH_HOLE | rustix::fs::FallocateFlags::KEEP_SIZE;
        match rustix::fs::fallocate(&*self, punch, offset, len) {
            Ok(()) => Ok(()),
            Err(rustix::io::Errno::OPNOTSUPP | rustix::io::Errno::NOSYS) => {
                copy_in_pieces(len, |buf, done| {
                    buf.fill(0);
                    self.write_all_at(buf, offset + done)
                })
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Copies what the kernel will of `len` bytes from `src` at `src_offset`
/// to `dst` at `offset` with `copy_file_range`; returns the bytes copied,
/// fewer than `len` when the kernel declines (overlapping ranges of one
/// file, different file systems, an old kernel): the caller copies the
/// rest through memory. Like `write_all_at`, never writes past `dst`'s end.
fn kernel_copy(src: &File, src_offset: u64, dst: &File, offset: u64, len: u64) -> io::Result<u64> {
    let dst_size = ReadAt::size(dst)?;
    let src_size = ReadAt::size(src)?;
    if offset.checked_add(len).is_none_or(|e| e > dst_size)
        || src_offset.checked_add(len).is_none_or(|e| e > src_size)
    {
        return Err(past_end());
    }
    let (mut from, mut to) = (src_offset, offset);
    let mut done = 0u64;
    while done < len {
        let want = usize::try_from(len - done).unwrap_or(usize::MAX);
        match rustix::fs::copy_file_range(src, Some(&mut from), dst, Some(&mut to), want) {
            Ok(0) => break,
            Ok(n) => done += n as u64,
            Err(rustix::io::Errno::INTR) => {}
            Err(
                rustix::io::Errno::INVAL
                | rustix::io::Errno::XDEV
                | rustix::io::Errno::NOSYS
                | rustix::io::Errno::OPNOTSUPP,
            ) => break,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(done)
}

impl ReadAt for [u8] {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let r = span(offset, buf.len(), self.len())?;
        buf.copy_from_slice(&self[r]);
        Ok(())
    }
    fn size(&self) -> io::Result<u64> {
        Ok(self.len() as u64)
    }
}

impl WriteAt for [u8] {
    fn write_all_at(&mut self, data: &[u8], offset: u64) -> io::Result<()> {
        let r = span(offset, data.len(), self.len())?;
        self[r].copy_from_slice(data);
        Ok(())
    }
}

impl ReadAt for Vec<u8> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.as_slice().read_exact_at(buf, offset)
    }
    fn size(&self) -> io::Result<u64> {
        Ok(self.len() as u64)
    }
}

impl WriteAt for Vec<u8> {
    fn write_all_at(&mut self, data: &[u8], offset: u64) -> io::Result<()> {
        self.as_mut_slice().write_all_at(data, offset)
    }
}

impl<T: ReadAt + ?Sized> ReadAt for &T {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        (**self).read_exact_at(buf, offset)
    }
    fn read_vec_at(&self, len: usize, offset: u64) -> io::Result<Vec<u8>> {
        (**self).read_vec_at(len, offset)
    }
    fn read_vectored_exact_at(&self, bufs: &mut [&mut [u8]], offset: u64) -> io::Result<()> {
        (**self).read_vectored_exact_at(bufs, offset)
    }
    fn size(&self) -> io::Result<u64> {
        (**self).size()
    }
}

impl<T: ReadAt + ?Sized> ReadAt for &mut T {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        (**self).read_exact_at(buf, offset)
    }
    fn read_vec_at(&self, len: usize, offset: u64) -> io::Result<Vec<u8>> {
        (**self).read_vec_at(len, offset)
    }
    fn read_vectored_exact_at(&self, bufs: &mut [&mut [u8]], offset: u64) -> io::Result<()> {
        (**self).read_vectored_exact_at(bufs, offset)
    }
    fn size(&self) -> io::Result<u64> {
        (**self).size()
    }
}

impl<T: WriteAt + ?Sized> WriteAt for &mut T {
    fn write_all_at(&mut self, data: &[u8], offset: u64) -> io::Result<()> {
        (**self).write_all_at(data, offset)
    }
    fn sync(&mut self) -> io::Result<()> {
        (**self).sync()
    }
    fn copy_within_at(&mut self, src_offset: u64, offset: u64, len: u64) -> io::Result<()> {
        (**self).copy_within_at(src_offset, offset, len)
    }
    fn discard_at(&mut self, offset: u64, len: u64) -> io::Result<()> {
        (**self).discard_at(offset, len)
    }
}

impl<T: ReadAt + ?Sized> ReadAt for Box<T> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        (**self).read_exact_at(buf, offset)
    }
    fn read_vec_at(&self, len: usize, offset: u64) -> io::Result<Vec<u8>> {
        (**self).read_vec_at(len, offset)
    }
    fn read_vectored_exact_at(&self, bufs: &mut [&mut [u8]], offset: u64) -> io::Result<()> {
        (**self).read_vectored_exact_at(bufs, offset)
    }
    fn size(&self) -> io::Result<u64> {
        (**self).size()
    }
}

impl<T: ReadAt + ?Sized> ReadAt for std::sync::Arc<T> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        (**self).read_exact_at(buf, offset)
    }
    fn read_vec_at(&self, len: usize, offset: u64) -> io::Result<Vec<u8>> {
        (**self).read_vec_at(len, offset)
    }
    fn read_vectored_exact_at(&self, bufs: &mut [&mut [u8]], offset: u64) -> io::Result<()> {
        (**self).read_vectored_exact_at(bufs, offset)
    }
    fn size(&self) -> io::Result<u64> {
        (**self).size()
    }
}

/// `len` bytes of a byte source from byte `start` on, read as a device of
/// its own (a partition of a whole disk, a PV at a known offset).
#[derive(Debug, Clone)]
pub struct Window<R> {
    inner: R,
    start: u64,
    len: u64,
}

impl<R: ReadAt> Window<R> {
    /// The bytes `start..start + len` of `inner`; they must lie inside it.
    pub fn new(inner: R, start: u64, len: u64) -> io::Result<Window<R>> {
        let size = inner.size()?;
        if start.checked_add(len).is_none_or(|e| e > size) {
            return Err(past_end());
        }
        Ok(Window { inner, start, len })
    }
}

impl<R> Window<R> {
    /// Refuses `len` bytes at `offset` unless they lie inside the window.
    fn check(&self, offset: u64, len: u64) -> io::Result<()> {
        let end = offset.checked_add(len).ok_or_else(past_end)?;
        if end > self.len {
            return Err(past_end());
        }
        Ok(())
    }
}

impl<R: ReadAt> ReadAt for Window<R> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.check(offset, buf.len() as u64)?;
        // Cannot overflow: start + len was checked at construction.
        self.inner.read_exact_at(buf, self.start + offset)
    }
    fn read_vec_at(&self, len: usize, offset: u64) -> io::Result<Vec<u8>> {
        self.check(offset, len as u64)?;
        self.inner.read_vec_at(len, self.start + offset)
    }
    fn read_vectored_exact_at(&self, bufs: &mut [&mut [u8]], offset: u64) -> io::Result<()> {
        let total = bufs.iter().map(|b| b.len() as u64).sum();
        self.check(offset, total)?;
        self.inner.read_vectored_exact_at(bufs, self.start + offset)
    }
    fn size(&self) -> io::Result<u64> {
        Ok(self.len)
    }
}

impl<T: WriteAt + ?Sized> WriteAt for Box<T> {
    fn write_all_at(&mut self, data: &[u8], offset: u64) -> io::Result<()> {
        (**self).write_all_at(data, offset)
    }
    fn sync(&mut self) -> io::Result<()> {
        (**self).sync()
    }
    fn copy_within_at(&mut self, src_offset: u64, offset: u64, len: u64) -> io::Result<()> {
        (**self).copy_within_at(src_offset, offset, len)
    }
    fn discard_at(&mut self, offset: u64, len: u64) -> io::Result<()> {
        (**self).discard_at(offset, len)
    }
}

/// An image: a name for messages and a byte source.
pub struct Image {
    /// The name reported for it: the path as the user gave it, or the name
    /// given with it (used in reports and messages).
    pub path: String,
    /// The file it was opened from (what a writing command reopens).
    pub source: String,
    /// The bytes.
    pub data: Box<dyn ReadAt + Send + Sync>,
    /// The size in bytes, read once at open.
    pub size: u64,
    /// Where the bytes are in `source`.
    pub placement: Placement,
}

/// Where an image's bytes are in the file it was opened from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// The whole file, byte for byte.
    Whole,
    /// From byte `offset` of the file: a partition of a whole-disk image,
    /// or a PV at an offset given with `--dev PATH@OFFSET`.
    Range {
        /// The first byte in the file.
        offset: u64,
    },
    /// Decoded from a disk-image container, from byte `offset` of the disk
    /// it holds.
    Container {
        /// The container format ("qcow2", "E01").
        format: &'static str,
        /// The first byte in the disk the container holds.
        offset: u64,
    },
}

impl Image {
    /// Refuses (before anything is opened for writing) an image writes
    /// cannot reach: one decoded from a container. A raw file, whole or a
    /// range of it (a partition of a whole-disk image, a PV at an offset),
    /// is writable; writes to a range go through [`Image::file_offset`],
    /// which keeps them inside it.
    pub fn check_writable(&self) -> crate::Result<()> {
        match &self.placement {
            Placement::Whole | Placement::Range { .. } => Ok(()),
            Placement::Container { format, .. } => Err(crate::Error::Unsupported(format!(
                "{}: {} is a read-only {format} container: refusing to write (convert it to a raw image, e.g. with qemu-img convert -O raw, to change it)",
                self.path, self.source
            ))),
        }
    }

    /// Refuses, as [`Image::check_writable`] did before ranges could be
    /// written, an image that is not its file byte for byte: for writers
    /// that address the file from byte 0 (the kernel, LV handles).
    pub fn check_bare(&self) -> crate::Result<()> {
        match &self.placement {
            Placement::Whole => Ok(()),
            Placement::Range { offset } => Err(crate::Error::Unsupported(format!(
                "{}: a device at byte {offset} of {} is read-only here: writes go to bare PV images only (copy it out, e.g. with dd skip={offset} iflag=skip_bytes, to change it)",
                self.path, self.source
            ))),
            Placement::Container { .. } => self.check_writable(),
        }
    }

    /// The byte of the file (`source`) that byte `offset` of this image
    /// is, for a write of `len` bytes there: the write must lie inside the
    /// image (for a range, inside the partition; nothing outside it is
    /// ever written). Containers have no such byte.
    pub fn file_offset(&self, offset: u64, len: u64) -> io::Result<u64> {
        let base = match &self.placement {
            Placement::Whole => return Ok(offset),
            Placement::Range { offset } => *offset,
            Placement::Container { format, .. } => {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!("{}: a {format} container is read-only", self.source),
                ))
            }
        };
        if offset.checked_add(len).is_none_or(|e| e > self.size) {
            return Err(past_end());
        }
        base.checked_add(offset).ok_or_else(past_end)
    }

    /// The same image opened again from its file (after a commit): a range
    /// stays the same range; a container is opened by the caller's
    /// container code, not here.
    pub fn reopen(&self) -> crate::Result<Image> {
        let mut img = Image::open(&self.source)?;
        img.path = self.path.clone();
        if let Placement::Range { offset } = self.placement {
            let file = File::open(&self.source).map_err(|source| crate::Error::Io {
                path: self.source.clone(),
                what: "open read-only".into(),
                source,
            })?;
            let w = Window::new(file, offset, self.size).map_err(|source| crate::Error::Io {
                path: self.source.clone(),
                what: format!("read {} bytes at {offset}", self.size),
                source,
            })?;
            img.data = Box::new(w);
            img.size = self.size;
            img.placement = self.placement.clone();
        }
        Ok(img)
    }
}

impl std::fmt::Debug for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Image")
            .field("path", &self.path)
            .field("size", &self.size)
            .finish()
    }
}

/// An image reads as its byte source (the size read at open).
impl ReadAt for Image {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.data.read_exact_at(buf, offset)
    }
    fn read_vec_at(&self, len: usize, offset: u64) -> io::Result<Vec<u8>> {
        self.data.read_vec_at(len, offset)
    }
    fn read_vectored_exact_at(&self, bufs: &mut [&mut [u8]], offset: u64) -> io::Result<()> {
        self.data.read_vectored_exact_at(bufs, offset)
    }
    fn size(&self) -> io::Result<u64> {
        Ok(self.size)
    }
}

impl Image {
    /// Opens `path` read-only.
    pub fn open(path: &str) -> crate::Result<Image> {
        let file = File::open(path).map_err(|source| crate::Error::Io {
            path: path.to_owned(),
            what: "open read-only".into(),
            source,
        })?;
        let is_dir = file.metadata().map(|m| m.is_dir()).unwrap_or(false);
        if is_dir {
            return Err(crate::Error::Usage(format!(
                "{path}: is a directory, not an image"
            )));
        }
        let size = file.size().map_err(|source| crate::Error::Io {
            path: path.to_owned(),
            what: "read size".into(),
            source,
        })?;
        Ok(Image {
            path: path.to_owned(),
            source: path.to_owned(),
            data: Box::new(file),
            size,
            placement: Placement::Whole,
        })
    }

    /// An in-memory image (tests, fuzzing).
    pub fn from_bytes(path: &str, bytes: Vec<u8>) -> Image {
        let size = bytes.len() as u64;
        Image {
            path: path.to_owned(),
            source: path.to_owned(),
            data: Box::new(bytes),
            size,
            placement: Placement::Whole,
        }
    }

    /// Reads `len` bytes at `offset`; `len` must already be bounded by the
    /// caller (callers check it against the image size and a named cap).
    pub fn read(&self, offset: u64, len: usize) -> crate::Result<Vec<u8>> {
        self.data
            .read_vec_at(len, offset)
            .map_err(|source| crate::Error::Io {
                path: self.path.clone(),
                what: format!("read {len} bytes at {offset}"),
                source,
            })
    }

    /// Fills `buf` from `offset`.
    pub fn read_into(&self, offset: u64, buf: &mut [u8]) -> crate::Result<()> {
        self.data
            .read_exact_at(buf, offset)
            .map_err(|source| crate::Error::Io {
                path: self.path.clone(),
                what: format!("read {} bytes at {}", buf.len(), offset),
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A write through a range lands at the range's byte of the file and
    /// only inside it; a container has no file byte; a reopened range is
    /// the same range.
    #[test]
    fn file_offsets_stay_inside_the_range() {
        let mut img = Image::from_bytes("d", vec![0u8; 100]);
        assert_eq!(
            img.file_offset(90, 20).unwrap(),
            90,
            "a whole file: as given"
        );
        img.placement = Placement::Range { offset: 1000 };
        img.size = 100;
        assert_eq!(img.file_offset(0, 100).unwrap(), 1000);
        assert_eq!(img.file_offset(99, 1).unwrap(), 1099);
        for (o, n) in [(99, 2), (100, 1), (0, 101), (u64::MAX, 1)] {
            let e = img.file_offset(o, n).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{o}+{n}");
        }
        assert!(img.check_writable().is_ok());
        assert!(img.check_bare().is_err());
        img.placement = Placement::Container {
            format: "qcow2",
            offset: 0,
        };
        assert!(img.file_offset(0, 1).is_err());
        assert!(img.check_writable().is_err());

        let path = std::env::temp_dir().join(format!("lvmsim-range-{}", std::process::id()));
        let bytes: Vec<u8> = (0..=255u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let mut r = Image::open(&path.display().to_string()).unwrap();
        r.path = "p1".into();
        r.placement = Placement::Range { offset: 16 };
        r.size = 32;
        let again = r.reopen().unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!((again.path.as_str(), again.size), ("p1", 32));
        assert_eq!(again.placement, Placement::Range { offset: 16 });
        assert_eq!(again.read(0, 32).unwrap(), bytes[16..48].to_vec());
        assert!(again.read(31, 2).is_err());
    }

    #[test]
    fn memory_reads_and_writes_in_place_and_never_grows() {
        let mut v = vec![0u8; 8];
        v.write_all_at(&[1, 2, 3], 5).unwrap();
        assert_eq!(v, [0, 0, 0, 0, 0, 1, 2, 3]);
        let e = v.write_all_at(&[9, 9], 7).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(e.to_string(), "access past the end of the image");
        assert_eq!(
            v,
            [0, 0, 0, 0, 0, 1, 2, 3],
            "a refused write writes nothing"
        );
        assert!(v.write_all_at(&[1], u64::MAX).is_err());
        let mut buf = [0u8; 2];
        v.read_exact_at(&mut buf, 6).unwrap();
        assert_eq!(buf, [2, 3]);
        let e = v.read_exact_at(&mut buf, 7).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        assert!(v.as_slice().read_exact_at(&mut buf, u64::MAX).is_err());
        assert_eq!(ReadAt::size(&v).unwrap(), 8);
    }

    #[test]
    fn references_and_boxes_forward() {
        fn fill(w: &mut dyn WriteAt) {
            w.write_all_at(&[7], 1).unwrap();
            w.sync().unwrap();
        }
        let mut v = vec![0u8; 2];
        fill(&mut &mut v);
        let mut b: Box<dyn WriteAt> = Box::new(v);
        fill(&mut b);
        let r: &dyn ReadAt = &b;
        let mut one = [0u8; 1];
        r.read_exact_at(&mut one, 1).unwrap();
        assert_eq!((one, r.size().unwrap()), ([7], 2));
    }

    #[test]
    fn a_file_is_written_in_place_and_never_grows() {
        let path = std::env::temp_dir().join(format!("lvm-meta-io-{}.img", std::process::id()));
        std::fs::write(&path, [0u8; 1024]).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        f.write_all_at(&[5u8; 24], 1000).unwrap();
        let e = f.write_all_at(&[5u8; 25], 1000).unwrap_err();
        f.sync().unwrap();
        let (size, bytes) = (ReadAt::size(&f).unwrap(), std::fs::read(&path).unwrap());
        std::fs::remove_file(&path).unwrap();
        assert_eq!(e.to_string(), "access past the end of the image");
        assert_eq!(size, 1024);
        assert_eq!(&bytes[999..], &[[0u8].as_slice(), &[5u8; 24]].concat()[..]);
    }

    #[test]
    fn vectored_reads_fill_each_buffer_in_turn_and_stop_at_the_end() {
        let path = std::env::temp_dir().join(format!("lvm-meta-iov-{}.img", std::process::id()));
        let data: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let f = File::open(&path).unwrap();
        let img: Box<dyn ReadAt> = Box::new(f);
        // More buffers than one preadv call takes, some of them empty.
        let mut bufs: Vec<Vec<u8>> = (0..MAX_IOVECS + 5).map(|i| vec![0u8; i % 3]).collect();
        let total: usize = bufs.iter().map(Vec::len).sum();
        let mut views: Vec<&mut [u8]> = bufs.iter_mut().map(|b| b.as_mut_slice()).collect();
        img.read_vectored_exact_at(&mut views, 7).unwrap();
        assert_eq!(bufs.concat(), data[7..7 + total]);
        // The memory impl (the default method) reads the same.
        let mut again: Vec<Vec<u8>> = (0..MAX_IOVECS + 5).map(|i| vec![0u8; i % 3]).collect();
        let mut views: Vec<&mut [u8]> = again.iter_mut().map(|b| b.as_mut_slice()).collect();
        data.read_vectored_exact_at(&mut views, 7).unwrap();
        assert_eq!(again, bufs);
        // Past the end: an UnexpectedEof error, as read_exact_at gives.
        let (mut a, mut b) = ([0u8; 10], [0u8; 10]);
        let e = img
            .read_vectored_exact_at(&mut [&mut a[..], &mut b[..]], 2985)
            .unwrap_err();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    }

    /// A file reads a vector into fresh memory: the same bytes as the
    /// default (zeroed, then filled) and as the bytes written, and a read
    /// past the end is an UnexpectedEof error, not a short vector; a
    /// window passes vector and vectored reads on inside its bounds only.
    #[test]
    fn a_file_reads_a_vector_as_the_default_does() {
        let path = std::env::temp_dir().join(format!("lvm-meta-vec-{}.img", std::process::id()));
        let data: Vec<u8> = (0..70_000u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let f = File::open(&path).unwrap();
        for (len, at) in [
            (0, 0),
            (1, 0),
            (4096, 1),
            (69_999, 1),
            (70_000, 0),
            (10, 69_990),
        ] {
            let v = f.read_vec_at(len, at).unwrap();
            assert_eq!(v, data[at as usize..at as usize + len], "{len} at {at}");
            assert_eq!(v, data.read_vec_at(len, at).unwrap());
        }
        for (len, at) in [(11, 69_990), (1, 70_000)] {
            let e = f.read_vec_at(len, at).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{len} at {at}");
        }
        // An offset the kernel refuses (past i64::MAX), as read_exact_at.
        assert!(f.read_vec_at(1, u64::MAX).is_err());
        assert!(f.read_exact_at(&mut [0u8], u64::MAX).is_err());
        // Through a window (a partition), by each way of reading: the
        // window's bytes, and nothing past its end although the file has
        // more.
        let w = Window::new(std::sync::Arc::new(f), 1000, 5000).unwrap();
        assert_eq!(w.read_vec_at(5000, 0).unwrap(), data[1000..6000]);
        let (mut a, mut b) = ([0u8; 7], [0u8; 9]);
        w.read_vectored_exact_at(&mut [&mut a[..], &mut b[..]], 4984)
            .unwrap();
        assert_eq!([a.as_slice(), &b].concat(), data[5984..6000]);
        assert_eq!(
            w.read_vec_at(1, 5000).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        let e = w
            .read_vectored_exact_at(&mut [&mut a[..], &mut b[..]], 4985)
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn copies_match_reads_and_writes_and_never_grow() {
        let dir = std::env::temp_dir();
        let pid = std::process::id();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        let open = |name: &str, bytes: &[u8]| {
            let path = dir.join(format!("lvm-meta-copy-{pid}-{name}.img"));
            std::fs::write(&path, bytes).unwrap();
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .unwrap();
            (path, f)
        };
        let (pa, mut a) = open("a", &data);
        let (pb, mut b) = open("b", &[0u8; 300_000]);
        // Within one file (the kernel copies), and the same in memory.
        a.copy_within_at(1000, 150_000, 140_000).unwrap();
        let mut want = data.clone();
        want.copy_within(1000..141_000, 150_000);
        let mut mem = data.clone();
        mem.copy_within_at(1000, 150_000, 140_000).unwrap();
        assert!(mem == want);
        // From one file to another.
        b.copy_from_at(&a, 7, 3, 200_001).unwrap();
        let e = b.copy_from_at(&a, 0, 299_999, 2).unwrap_err();
        let e2 = a.copy_within_at(0, 299_999, 2).unwrap_err();
        let (got_a, got_b) = (std::fs::read(&pa).unwrap(), std::fs::read(&pb).unwrap());
        std::fs::remove_file(&pa).unwrap();
        std::fs::remove_file(&pb).unwrap();
        assert!(got_a == want);
        assert!(got_b[3..200_004] == want[7..200_008]);
        assert_eq!(
            (e.kind(), e2.kind()),
            (io::ErrorKind::UnexpectedEof, io::ErrorKind::UnexpectedEof)
        );
        assert_eq!(got_b.len(), 300_000);
    }
}
