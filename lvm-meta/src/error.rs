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

/// The structure a [`Error::Corrupt`] is about; its `Display` is the name
/// the message starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Structure {
    /// The label sector (`label_header` and the PV header in it).
    Label,
    /// The PV header inside the label sector.
    PvHeader,
    /// A metadata area, at its `mda_header`.
    MetadataArea,
    /// A copy of the metadata text in a metadata area.
    MetadataText,
    /// The data of physical extents (what an LV maps to).
    ExtentData,
    /// The exception store (COW data) of snapshot `vg`/`lv`.
    ExceptionStore {
        /// The VG name.
        vg: String,
        /// The snapshot (or COW) LV name.
        lv: String,
    },
    /// A COW device of a device set, by index.
    CowDevice(usize),
    /// A part of a disk's partition table ("GPT header", "extended boot
    /// record"...).
    PartitionTable(&'static str),
    /// A part of a disk-image container ("qcow2 header", "E01 file"...).
    Container(&'static str),
}

impl fmt::Display for Structure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Structure::Label => f.write_str("label"),
            Structure::PvHeader => f.write_str("PV header"),
            Structure::MetadataArea => f.write_str("metadata area"),
            Structure::MetadataText => f.write_str("metadata text"),
            Structure::ExtentData => f.write_str("physical extent data"),
            Structure::ExceptionStore { vg, lv } => write!(f, "exception store of {vg}/{lv}"),
            Structure::CowDevice(i) => write!(f, "COW device {i}"),
            Structure::PartitionTable(what) | Structure::Container(what) => f.write_str(what),
        }
    }
}

/// A named object that does not exist; `Display` is lvm2's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotFound {
    /// No VG of that name on the images.
    #[error("Volume group \"{name}\" not found")]
    Vg {
        /// The name asked for.
        name: String,
    },
    /// No LV of that name in the VG.
    #[error("Failed to find logical volume \"{vg}/{name}\"")]
    Lv {
        /// The VG searched.
        vg: String,
        /// The LV name asked for.
        name: String,
    },
    /// No image of that name among the devices given.
    #[error("No device found for {name}.")]
    Pv {
        /// The device (image path) asked for.
        name: String,
    },
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
        /// The structure.
        structure: Structure,
        /// The structure's absolute byte offset.
        offset: u64,
        /// What is wrong.
        corruption: Box<Corruption>,
    },
    /// Valid lvm2 data that lvmsim does not handle.
    #[error("{0}")]
    Unsupported(String),
    /// A VG, LV or device named by the request does not exist.
    #[error(transparent)]
    NotFound(#[from] NotFound),
    /// The request cannot be met (bad argument, not allowed).
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
            Error::NotFound(_) | Error::Usage(_) => ErrorClass::Usage,
        }
    }

    /// A corruption of `structure` at absolute `offset` of image `path`.
    pub fn corrupt(
        path: Option<&str>,
        structure: Structure,
        offset: u64,
        corruption: Corruption,
    ) -> Self {
        Error::Corrupt {
            path: path.map(str::to_owned),
            structure,
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
            Structure::MetadataArea,
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

    /// lvm2's `vgchange -ay vg` with the VG gone printed this line in the
    /// damaged-label kernel scenario.
    #[test]
    fn vg_not_found_is_lvm2s_line() {
        const LVM2_STDERR: &str = include_str!("../../testdata/kernel/damaged-label/018.stderr");
        let e = Error::from(NotFound::Vg { name: "vg".into() });
        let line = format!("  {e}");
        assert!(LVM2_STDERR.lines().any(|l| l == line), "{line:?}");
        assert_eq!(e.class(), ErrorClass::Usage);
        // The message is not repeated as a source in an error chain.
        assert!(std::error::Error::source(&e).is_none());
    }

    /// The wording of lvm2's `process_each_lv_in_vg` and `pvcreate` (log_error
    /// formats `Failed to find logical volume "%s/%s"` and
    /// `No device found for %s.`).
    #[test]
    fn lv_and_device_messages() {
        let e = Error::from(NotFound::Lv {
            vg: "vg0".into(),
            name: "lv9".into(),
        });
        assert_eq!(e.to_string(), "Failed to find logical volume \"vg0/lv9\"");
        assert_eq!(e.class(), ErrorClass::Usage);
        let e = Error::from(NotFound::Pv {
            name: "c.img".into(),
        });
        assert_eq!(e.to_string(), "No device found for c.img.");
    }

    /// Each structure prints the name the messages used before it was typed.
    #[test]
    fn structure_names() {
        let names = [
            (Structure::Label, "label"),
            (Structure::PvHeader, "PV header"),
            (Structure::MetadataArea, "metadata area"),
            (Structure::MetadataText, "metadata text"),
            (Structure::ExtentData, "physical extent data"),
            (
                Structure::ExceptionStore {
                    vg: "vg".into(),
                    lv: "snap".into(),
                },
                "exception store of vg/snap",
            ),
            (Structure::CowDevice(2), "COW device 2"),
        ];
        for (s, name) in names {
            assert_eq!(s.to_string(), name);
        }
        let e = Error::corrupt(None, Structure::Label, 512, Corruption::Model("x".into()));
        assert_eq!(e.to_string(), "label at 512: x");
    }
}
