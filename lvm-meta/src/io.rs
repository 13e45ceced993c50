//! Positioned reads: the one interface between the parsers and the images.
//!
//! Parsers take byte slices; this trait fetches those slices from a file, or
//! from memory in tests and fuzzing.

use std::fs::File;
use std::io;

/// A read-only random-access byte source (an image file).
pub trait ReadAt {
    /// Fills `buf` from `offset`. Reading past the end is an
    /// [`io::ErrorKind::UnexpectedEof`] error.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// The size in bytes.
    fn size(&self) -> io::Result<u64>;
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

impl ReadAt for [u8] {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| eof())?;
        let end = start.checked_add(buf.len()).ok_or_else(eof)?;
        let src = self.get(start..end).ok_or_else(eof)?;
        buf.copy_from_slice(src);
        Ok(())
    }
    fn size(&self) -> io::Result<u64> {
        Ok(self.len() as u64)
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

fn eof() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "read past the end of the image",
    )
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
}

impl std::fmt::Debug for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Image")
            .field("path", &self.path)
            .field("size", &self.size)
            .finish()
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
