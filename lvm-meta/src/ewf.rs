//! E01 (Expert Witness Format, EWF) evidence images, read only through the
//! `ewf` crate: the segment files (`disk.E01`, `disk.E02`...) are found
//! beside the first, and the media hashes the acquisition stored (MD5,
//! SHA-1) are checked against the data when the image is opened.

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
    /// What the hash check found, for warnings (empty when the stored
    /// hashes match).
    pub notes: Vec<String>,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Ewf {
    /// Opens the image whose first segment is `path` and checks its stored
    /// hashes (every byte is read once for that).
    ///
    /// # Errors
    /// A segment that does not parse or is missing, a chunk that does not
    /// inflate (as [`Error::Corrupt`]-like messages from the `ewf` crate,
    /// wrapped as I/O errors naming the file).
    pub fn open(path: &str) -> Result<Ewf> {
        let wrap = |what: &str, e: ewf::EwfError| Error::Io {
            path: path.to_owned(),
            what: format!("{what} (E01)"),
            source: io::Error::new(io::ErrorKind::InvalidData, e.to_string()),
        };
        let reader = ewf::EwfReader::open(path).map_err(|e| wrap("open", e))?;
        let stored = reader.stored_hashes();
        let mut notes = Vec::new();
        if stored.md5.is_none() && stored.sha1.is_none() {
            notes.push(format!(
                "{path}: the E01 image stores no MD5 or SHA-1 of the media: its integrity is not checked"
            ));
        } else {
            let v = reader.verify().map_err(|e| wrap("verify", e))?;
            if let (Some(false), Some(s)) = (v.md5_match, stored.md5) {
                notes.push(format!(
                    "{path}: the media's MD5 is {} but the E01 image stores {}: the image is damaged or altered",
                    hex(&v.computed_md5),
                    hex(&s)
                ));
            }
            if let (Some(false), Some(s), Some(c)) = (v.sha1_match, stored.sha1, v.computed_sha1) {
                notes.push(format!(
                    "{path}: the media's SHA-1 is {} but the E01 image stores {}: the image is damaged or altered",
                    hex(&c),
                    hex(&s)
                ));
            }
        }
        Ok(Ewf { reader, notes })
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
