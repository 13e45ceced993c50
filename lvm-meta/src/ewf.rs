//! E01 (Expert Witness Format, EWF) evidence images, read only through the
//! `ewf` crate: the segment files (`disk.E01`, `disk.E02`...) are found
//! beside the first; the media hashes the acquisition stored (MD5, SHA-1)
//! are checked against the data on request ([`Ewf::verify`]).

use crate::error::{Error, Result};
use crate::io::ReadAt;
use std::io;

/// The signature of an EWF version 1 segment file (`EVF\x09\x0d\x0a\xff\x00`).
pub const EVF_SIGNATURE: [u8; 8] = *b"EVF\x09\x0d\x0a\xff\x00";
/// The signature of an EWF version 2 segment file (`EVF2\x0d\x0a\x81\x00`).
pub const EVF2_SIGNATURE: [u8; 8] = *b"EVF2\x0d\x0a\x81\x00";

/// True if `head` (the first bytes of a file) starts an EWF segment file.
pub fn is_ewf(head: &[u8]) -> bool {
    head.starts_with(&EVF_SIGNATURE) || head.starts_with(&EVF2_SIGNATURE)
}

/// An E01 image read as the media it holds.
pub struct Ewf {
    reader: ewf::EwfReader,
    path: String,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The media hashes of an E01 image: what the acquisition stored and what
/// the media read now gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashCheck {
    /// The stored MD5 and the MD5 of the media, hex.
    pub md5: Option<(String, String)>,
    /// The stored SHA-1 and the SHA-1 of the media, hex.
    pub sha1: Option<(String, String)>,
}

impl HashCheck {
    /// Every stored hash equals the media's (and one at least is stored).
    pub fn matches(&self) -> bool {
        (self.md5.is_some() || self.sha1.is_some())
            && self.md5.iter().chain(&self.sha1).all(|(s, c)| s == c)
    }
}

impl Ewf {
    /// Opens the image whose first segment is `path`. The stored media
    /// hashes are not checked here (that reads every byte of the media,
    /// as long as a full read of the evidence): see [`Ewf::verify`].
    ///
    /// # Errors
    /// A segment that does not parse or is missing (the `ewf` crate's
    /// message, as an I/O error naming the file).
    pub fn open(path: &str) -> Result<Ewf> {
        let reader = ewf::EwfReader::open(path).map_err(|e| ewf_error(path, "open", e))?;
        Ok(Ewf {
            reader,
            path: path.to_owned(),
        })
    }

    /// Opens the single-segment image `data` holds (a byte source that is
    /// not a file of its own: a file object of another library); `path`
    /// names it in messages. Only EWF version 1 (E01) is read this way.
    ///
    /// # Errors
    /// The segment does not parse, or is a version 2 (Ex01) one.
    pub fn from_source(data: Box<dyn ReadAt + Send + Sync>, path: &str) -> Result<Ewf> {
        let size = data.size().map_err(|source| Error::Io {
            path: path.to_owned(),
            what: "read size".into(),
            source,
        })?;
        let backing = Segment { data, size };
        let source = ewf::SegmentSource::from_backing(std::sync::Arc::new(backing));
        let reader = ewf::EwfReader::open_from_sources(vec![source])
            .map_err(|e| ewf_error(path, "open", e))?;
        Ok(Ewf {
            reader,
            path: path.to_owned(),
        })
    }

    /// Reads the whole media and compares it with the MD5 and SHA-1 the
    /// acquisition stored.
    ///
    /// # Errors
    /// A chunk that does not read or inflate.
    pub fn verify(&self) -> Result<HashCheck> {
        let stored = self.reader.stored_hashes();
        if stored.md5.is_none() && stored.sha1.is_none() {
            return Ok(HashCheck {
                md5: None,
                sha1: None,
            });
        }
        let v = self
            .reader
            .verify()
            .map_err(|e| ewf_error(&self.path, "verify", e))?;
        Ok(HashCheck {
            md5: stored.md5.map(|s| (hex(&s), hex(&v.computed_md5))),
            sha1: stored
                .sha1
                .and_then(|s| v.computed_sha1.map(|c| (hex(&s), hex(&c)))),
        })
    }
}

/// A byte source read as one segment file.
struct Segment {
    data: Box<dyn ReadAt + Send + Sync>,
    size: u64,
}

impl ewf::SegmentBacking for Segment {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        // Short only at the end, as a file's positioned read.
        let n = usize::try_from(self.size.saturating_sub(offset))
            .unwrap_or(usize::MAX)
            .min(buf.len());
        self.data.read_exact_at(&mut buf[..n], offset)?;
        Ok(n)
    }
    fn len(&self) -> u64 {
        self.size
    }
}

fn ewf_error(path: &str, what: &str, e: ewf::EwfError) -> Error {
    Error::Io {
        path: path.to_owned(),
        what: format!("{what} (E01)"),
        source: io::Error::new(io::ErrorKind::InvalidData, e.to_string()),
    }
}

impl ReadAt for Ewf {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let end = offset.checked_add(buf.len() as u64);
        if end.is_none_or(|e| e > self.reader.total_size()) {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "access past the end of the image",
            ));
        }
        let n = self
            .reader
            .read_at(buf, offset)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        if n != buf.len() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("E01 image gave {n} of {} bytes at {offset}", buf.len()),
            ));
        }
        Ok(())
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.reader.total_size())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures() {
        assert!(is_ewf(b"EVF\x09\x0d\x0a\xff\x00rest"));
        assert!(is_ewf(b"EVF2\x0d\x0a\x81\x00"));
        assert!(!is_ewf(b"EVF\x09"));
    }

    #[test]
    fn a_file_that_is_no_e01_is_an_error_not_a_panic() {
        let dir = std::env::temp_dir().join(format!("lvm-meta-ewf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("bad.E01");
        let mut bytes = EVF_SIGNATURE.to_vec();
        bytes.extend_from_slice(&[0xffu8; 600]);
        std::fs::write(&p, bytes).unwrap();
        let r = Ewf::open(&p.display().to_string());
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(r.is_err());
    }
}
