//! From a file given on the command line to the devices lvm2 would scan:
//! a bare PV image is one device; a whole disk with a partition table is
//! one device per partition, named as the kernel names them; a disk-image
//! container (qcow2, E01) is first decoded; `PATH@OFFSET` is one device
//! from that byte on. Formats lvmsim does not read (VMDK, VHD, VHDX, VDI)
//! are refused with the command that converts them.

use crate::error::{Error, Result};
use crate::io::{Image, Placement, ReadAt, Window};
use crate::label::{LABEL_ID, LABEL_SCAN_SECTORS, SECTOR_SIZE};
use crate::{ewf, partition, qcow2};
use std::sync::Arc;

/// What a file given as a device turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// A device of its own (a PV, or anything without a partition table).
    Bare,
    /// A whole disk with a partition table.
    Partitioned(partition::Scheme),
    /// A device from a byte offset given by the user.
    AtOffset(u64),
}

/// The devices one file holds.
#[derive(Debug)]
pub struct Opened {
    /// The devices, in partition order.
    pub images: Vec<Image>,
    /// What the file is.
    pub layout: Layout,
    /// The container format it was decoded from, if any.
    pub container: Option<&'static str>,
    /// What was odd but usable, one line each (for warnings).
    pub notes: Vec<String>,
}

/// How a file was named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSpec {
    /// The name to report (the argument, or NAME of `NAME=PATH`).
    pub name: String,
    /// The file.
    pub path: String,
    /// `@OFFSET`: the device starts at this byte.
    pub offset: Option<u64>,
    /// True if the name was given (`NAME=PATH`): partitions are then named
    /// as the kernel names them (`/dev/sda1`, `/dev/nvme0n1p1`), else
    /// `PATH:p1`.
    pub named: bool,
}

/// The name of partition `number` of the disk named `disk`.
pub fn partition_name(disk: &str, number: u32, named: bool) -> String {
    if !named {
        return format!("{disk}:p{number}");
    }
    // The kernel puts a `p` between a name ending in a digit and the
    // number (`nvme0n1p1`, `loop0p1`, `md0p1`).
    if disk.ends_with(|c: char| c.is_ascii_digit()) {
        format!("{disk}p{number}")
    } else {
        format!("{disk}{number}")
    }
}

/// Formats recognised by their first bytes that lvmsim does not read.
const UNREAD: &[(&[u8], &str)] = &[
    (b"KDMV", "VMDK"),
    (b"# Disk DescriptorFile", "VMDK"),
    (b"vhdxfile", "VHDX"),
    (b"conectix", "VHD"),
    (b"<<< Oracle VM VirtualBox Disk Image >>>", "VDI"),
];

/// True if one of the sectors lvm2 searches for a label holds its id
/// (valid or not: a damaged PV is still a PV, not a disk to partition).
fn has_label_id(dev: &dyn ReadAt, size: u64) -> bool {
    (0..LABEL_SCAN_SECTORS).any(|s| {
        let mut id = [0u8; 8];
        let at = s * SECTOR_SIZE;
        at + 8 <= size && dev.read_exact_at(&mut id, at).is_ok() && &id == LABEL_ID
    })
}

fn io_err(path: &str, what: &str, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_owned(),
        what: what.to_owned(),
        source,
    }
}

/// Opens the file of `spec` and finds the devices in it.
///
/// # Errors
/// The file cannot be read; it is a container lvmsim does not read, or a
/// corrupt one; its partition table is corrupt; `@OFFSET` is past its end.
pub fn open(spec: &DeviceSpec) -> Result<Opened> {
    let file = Image::open(&spec.path)?;
    find(spec, file, true)
}

/// As [`open`], for a byte source that is not a file of its own (a file
/// object of another library, an image in memory) named `spec.name`: an
/// E01 container is read from this one source (one segment, version 1).
///
/// # Errors
/// As [`open`].
pub fn open_source(
    spec: &DeviceSpec,
    data: Box<dyn ReadAt + Send + Sync>,
    size: u64,
) -> Result<Opened> {
    let file = Image {
        path: spec.name.clone(),
        source: spec.path.clone(),
        data,
        size,
        placement: Placement::Whole,
    };
    find(spec, file, false)
}

/// The devices in `file`, opened for `spec` (`is_file`: `spec.path` is a
/// file, where an E01's further segments are looked for).
fn find(spec: &DeviceSpec, file: Image, is_file: bool) -> Result<Opened> {
    let mut head = vec![0u8; usize::try_from(file.size.min(4096)).unwrap_or(4096)];
    file.read_into(0, &mut head)?;
    let tail_magic = if file.size >= 512 {
        let mut t = [0u8; 8];
        file.read_into(file.size - 512, &mut t)?;
        Some(t)
    } else {
        None
    };
    for (magic, format) in UNREAD {
        if head.starts_with(magic) || (*format == "VHD" && tail_magic.as_ref() == Some(b"conectix"))
        {
            return Err(Error::Unsupported(format!(
                "{}: a {format} disk image, which lvmsim does not read: convert it first, e.g. qemu-img convert -O raw {} disk.img",
                spec.path, spec.path
            )));
        }
    }
    let mut notes = Vec::new();
    let (base, container): (Arc<dyn ReadAt + Send + Sync>, Option<&'static str>) =
        if ewf::is_ewf(&head) {
            let e = if is_file {
                ewf::Ewf::open(&spec.path)?
            } else {
                ewf::Ewf::from_source(file.data, &spec.path)?
            };
            (Arc::new(e), Some("E01"))
        } else if qcow2::is_qcow2(&head) {
            let q = qcow2::Qcow2::open(file.data, &spec.path)?;
            notes.extend(q.notes.iter().cloned());
            (Arc::new(q), Some("qcow2"))
        } else {
            (Arc::new(file.data), None)
        };
    let size = base
        .size()
        .map_err(|e| io_err(&spec.path, "read size", e))?;
    let image = |name: String, start: u64, len: u64| -> Result<Image> {
        let placement = match container {
            Some(format) => Placement::Container {
                format,
                offset: start,
            },
            None if start == 0 && len == size => Placement::Whole,
            None => Placement::Range { offset: start },
        };
        let data: Box<dyn ReadAt + Send + Sync> = if placement == Placement::Whole {
            Box::new(Arc::clone(&base))
        } else {
            Box::new(
                Window::new(Arc::clone(&base), start, len)
                    .map_err(|e| io_err(&spec.path, &format!("bytes {start}+{len}"), e))?,
            )
        };
        Ok(Image {
            path: name,
            source: spec.path.clone(),
            data,
            size: len,
            placement,
        })
    };
    if let Some(offset) = spec.offset {
        if offset >= size {
            return Err(Error::Usage(format!(
                "{}@{offset}: the offset is past the end of {} ({size} bytes)",
                spec.path, spec.path
            )));
        }
        return Ok(Opened {
            images: vec![image(spec.name.clone(), offset, size - offset)?],
            layout: Layout::AtOffset(offset),
            container,
            notes,
        });
    }
    if !has_label_id(base.as_ref(), size) {
        if let Some(t) = partition::read(base.as_ref(), &spec.name)? {
            let mut images = Vec::with_capacity(t.partitions.len());
            for p in &t.partitions {
                images.push(image(
                    partition_name(&spec.name, p.number, spec.named),
                    p.start,
                    p.len,
                )?);
            }
            notes.extend(t.notes);
            return Ok(Opened {
                images,
                layout: Layout::Partitioned(t.scheme),
                container,
                notes,
            });
        }
    }
    Ok(Opened {
        images: vec![image(spec.name.clone(), 0, size)?],
        layout: Layout::Bare,
        container,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_named_as_the_kernel_names_them() {
        assert_eq!(partition_name("disk.img", 1, false), "disk.img:p1");
        assert_eq!(partition_name("/dev/sda", 5, true), "/dev/sda5");
        assert_eq!(partition_name("/dev/nvme0n1", 2, true), "/dev/nvme0n1p2");
        assert_eq!(partition_name("/dev/loop0", 1, true), "/dev/loop0p1");
    }

    /// An E01 given as bytes, not as a file, holds the same partitions
    /// with the same bytes as when opened by its path.
    #[test]
    fn an_e01_from_a_byte_source_reads_as_from_its_file() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../testdata/containers/disk.E01"
        );
        let spec = |name: &str| DeviceSpec {
            name: name.to_owned(),
            path: path.to_owned(),
            offset: None,
            named: false,
        };
        let by_path = open(&spec("disk")).unwrap();
        let bytes = std::fs::read(path).unwrap();
        let size = bytes.len() as u64;
        let by_source = open_source(&spec("obj"), Box::new(bytes), size).unwrap();
        assert_eq!(by_source.container, Some("E01"));
        assert_eq!(by_source.layout, by_path.layout);
        let names: Vec<&str> = by_source.images.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(names, ["obj:p1", "obj:p2", "obj:p3"]);
        for (a, b) in by_path.images.iter().zip(&by_source.images) {
            assert_eq!(a.size, b.size);
            assert_eq!(a.read(0, 8192).unwrap(), b.read(0, 8192).unwrap());
        }
        // The PVs' labels are where the kernel scenario's images have them.
        assert_eq!(&by_source.images[0].read(512, 8).unwrap(), b"LABELONE");
    }
}
