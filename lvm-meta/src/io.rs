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
}

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
    fn size(&self) -> io::Result<u64> {
        (**self).size()
    }
}

impl<T: ReadAt + ?Sized> ReadAt for &mut T {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        (**self).read_exact_at(buf, offset)
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
}

impl<T: ReadAt + ?Sized> ReadAt for Box<T> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        (**self).read_exact_at(buf, offset)
    }
    fn size(&self) -> io::Result<u64> {
        (**self).size()
    }
}

impl<T: ReadAt + ?Sized> ReadAt for std::sync::Arc<T> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        (**self).read_exact_at(buf, offset)
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

impl<R: ReadAt> ReadAt for Window<R> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let end = offset.checked_add(buf.len() as u64).ok_or_else(past_end)?;
        if end > self.len {
            return Err(past_end());
        }
        // Cannot overflow: start + len was checked at construction.
        self.inner.read_exact_at(buf, self.start + offset)
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
    /// Refuses (before anything is opened for writing) an image whose
    /// bytes are not its file byte for byte: writers reopen the file and
    /// write at the image's own offsets, which inside a partition or a
    /// container would land elsewhere.
    pub fn check_writable(&self) -> crate::Result<()> {
        match &self.placement {
            Placement::Whole => Ok(()),
            Placement::Range { offset } => Err(crate::Error::Unsupported(format!(
                "{}: a device at byte {offset} of {} is read-only here: writes go to bare PV images only (copy it out, e.g. with dd skip={offset} iflag=skip_bytes, to change it)",
                self.path, self.source
            ))),
            Placement::Container { format, .. } => Err(crate::Error::Unsupported(format!(
                "{}: {} is a read-only {format} container: refusing to write (convert it to a raw image, e.g. with qemu-img convert -O raw, to change it)",
                self.path, self.source
            ))),
        }
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
        let mut buf = vec![0u8; len];
        self.read_into(offset, &mut buf)?;
        Ok(buf)
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
}
