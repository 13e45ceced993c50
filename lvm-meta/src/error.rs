//! Errors: a small stable class ([`ErrorClass`]) over a detail that names the
//! structure, the byte offset and the values found.
//!
//! Parsers of one structure return a [`Corruption`] (what is wrong with the
//! bytes); the caller that knows the image and the structure's absolute
//! offset wraps it into an [`Error::Corrupt`].

use std::fmt;

/// The stable classes of failure; `lvmsim` maps them to exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The operating system failed a read or an open.
    Io,
    /// The bytes on the image do not form a valid structure.
    Corrupt,
    /// Valid lvm2 data that lvmsim does not handle (yet).
    Unsupported,
    /// The request names something that does not exist or is not allowed.
    Usage,
}

/// What is wrong with a structure's bytes. Offsets here are absolute byte
/// offsets on the image unless the variant says otherwise.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Corruption {
    /// Fewer bytes than the structure needs.
    #[error("truncated: {needed} bytes needed, {available} available")]
    Truncated {
        /// Bytes the structure needs.
        needed: u64,
        /// Bytes that were there.
        available: u64,
    },
    /// A magic number or identifier does not match.
    #[error("{field} is {found}, expected {expected}")]
    BadMagic {
        /// The field (lvm2's C name).
        field: &'static str,
        /// What the bytes hold, printable.
        found: String,
        /// What lvm2 writes there.
        expected: String,
    },
    /// A stored checksum does not match the bytes.
    #[error(
        "{what} checksum {stored:#010x} does not match {computed:#010x} over bytes {start}-{end}"
    )]
    Checksum {
        /// Which checksum ("header", "label", "metadata text").
        what: &'static str,
        /// The value stored on disk.
        stored: u32,
        /// The value computed over the bytes.
        computed: u32,
        /// First byte covered (absolute).
        start: u64,
        /// Last byte covered (absolute, inclusive).
        end: u64,
    },
    /// A field holds a value lvm2 would refuse.
    #[error("{field} is {found}: {reason}")]
    BadValue {
        /// The field (lvm2's C name or metadata key).
        field: String,
        /// The value found.
        found: String,
        /// Why it is refused.
        reason: String,
    },
    /// The metadata text does not parse.
    #[error("line {line}, byte {offset}: {message}")]
    Text {
        /// 1-based line number in the text.
        line: u64,
        /// Byte offset in the text (relative to the text's start).
        offset: u64,
        /// What was expected.
        message: String,
    },
    /// The metadata parses but is inconsistent (a dangling reference, a
    /// missing required key, segments that do not tile the LV ...).
    #[error("{0}")]
    Model(String),
}

/// Any failure of lvm-meta.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error on an image.
    #[error("{path}: {what}: {source}")]
    Io {
        /// The image.
        path: String,
        /// What was being done ("read 512 bytes at 4096").
        what: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A structure on an image (or in a file) is corrupt.
    #[error("{}{structure} at {offset}: {corruption}", Prefix(path))]
    Corrupt {
        /// The image or file, if known.
        path: Option<String>,
        /// The structure ("label", "metadata area", "metadata text").
        structure: String,
        /// The structure's absolute byte offset.
        offset: u64,
        /// What is wrong.
        corruption: Box<Corruption>,
    },
    /// Valid lvm2 data that lvmsim does not handle.
    #[error("{0}")]
    Unsupported(String),
    /// The request cannot be met (no such VG or LV, bad argument).
    #[error("{0}")]
    Usage(String),
}

struct Prefix<'a>(&'a Option<String>);

impl fmt::Display for Prefix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(p) => write!(f, "{p}: "),
            None => Ok(()),
        }
    }
}

impl Error {
    /// The stable class of this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Io { .. } => ErrorClass::Io,
            Error::Corrupt { .. } => ErrorClass::Corrupt,
            Error::Unsupported(_) => ErrorClass::Unsupported,
            Error::Usage(_) => ErrorClass::Usage,
        }
    }

    /// A corruption of `structure` at absolute `offset` of image `path`.
    pub fn corrupt(
        path: Option<&str>,
        structure: impl Into<String>,
        offset: u64,
        corruption: Corruption,
    ) -> Self {
        Error::Corrupt {
            path: path.map(str::to_owned),
            structure: structure.into(),
            offset,
            corruption: Box::new(corruption),
        }
    }

    /// The corruption detail, if this is a corruption error.
    pub fn corruption(&self) -> Option<&Corruption> {
        match self {
            Error::Corrupt { corruption, .. } => Some(corruption.as_ref()),
            _ => None,
        }
    }
}

/// lvm-meta's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_file_structure_offset_and_values() {
        let e = Error::corrupt(
            Some("b.img"),
            "metadata area",
            4096,
            Corruption::Checksum {
                what: "header",
                stored: 0x1c2f_1fe6,
                computed: 0xdead_beef,
                start: 4100,
                end: 4607,
            },
        );
        assert_eq!(
            e.to_string(),
            "b.img: metadata area at 4096: header checksum 0x1c2f1fe6 does not match 0xdeadbeef over bytes 4100-4607"
        );
        assert_eq!(e.class(), ErrorClass::Corrupt);
    }
}
