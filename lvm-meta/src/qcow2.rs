//! qcow2 disk images (QEMU's copy-on-write format, versions 2 and 3), read
//! only: the header, the L1 table (read once) and the L2 entries (read per
//! cluster) map each guest cluster to a host cluster, a compressed one
//! (raw deflate), all zeros, or nothing (zeros: an image with a backing
//! file is refused). Refcounts and internal snapshots are not needed to
//! read the active disk and are not looked at.
//!
//! Every header field is checked before it is used, and every count is
//! capped, so a corrupt image is an error naming the field and its byte
//! offset in the file.

use crate::error::{Corruption, Error, Result, Structure};
use crate::io::ReadAt;
use byteorder::{BigEndian as BE, ByteOrder};
use std::io;
use std::sync::Mutex;

/// `magic`: "QFI\xfb".
pub const MAGIC: [u8; 4] = *b"QFI\xfb";
/// Header field: `version` (2 or 3).
pub const OFF_VERSION: usize = 4;
/// Header field: `backing_file_offset` (0: none).
pub const OFF_BACKING_FILE_OFFSET: usize = 8;
/// Header field: `backing_file_size`.
pub const OFF_BACKING_FILE_SIZE: usize = 16;
/// Header field: `cluster_bits`.
pub const OFF_CLUSTER_BITS: usize = 20;
/// Header field: `size` (the guest disk's size in bytes).
pub const OFF_SIZE: usize = 24;
/// Header field: `crypt_method` (0: none).
pub const OFF_CRYPT_METHOD: usize = 32;
/// Header field: `l1_size` (entries).
pub const OFF_L1_SIZE: usize = 36;
/// Header field: `l1_table_offset`.
pub const OFF_L1_TABLE_OFFSET: usize = 40;
/// Header field (version 3): `incompatible_features`.
pub const OFF_INCOMPATIBLE_FEATURES: usize = 72;
/// Header field (version 3): `header_length`.
pub const OFF_HEADER_LENGTH: usize = 100;
/// Header field (version 3, if the header is long enough):
/// `compression_type` (0: deflate).
pub const OFF_COMPRESSION_TYPE: usize = 104;
/// The version 2 header's length.
pub const V2_HEADER_LENGTH: usize = 72;
/// The version 3 header's least length.
pub const V3_HEADER_LENGTH: usize = 104;

/// Incompatible feature bit: the image was not closed cleanly (refcounts
/// may be wrong; the mapping is still right, so it is read).
pub const INCOMPAT_DIRTY: u64 = 1 << 0;
/// Incompatible feature bit: QEMU found the image corrupt (read anyway,
/// with a note).
pub const INCOMPAT_CORRUPT: u64 = 1 << 1;
/// Incompatible feature bit: the data is in an external file.
pub const INCOMPAT_EXTERNAL_DATA: u64 = 1 << 2;
/// Incompatible feature bit: `compression_type` is set.
pub const INCOMPAT_COMPRESSION_TYPE: u64 = 1 << 3;
/// Incompatible feature bit: L2 entries with subclusters.
pub const INCOMPAT_EXTENDED_L2: u64 = 1 << 4;

/// The smallest and largest `cluster_bits` QEMU makes (512 bytes to
/// 2 MiB); a larger value would make every read allocate that much.
pub const CLUSTER_BITS: std::ops::RangeInclusive<u32> = 9..=21;
/// The largest L1 table read: QEMU's own limit (32 MiB).
pub const MAX_L1_BYTES: u64 = 32 << 20;
/// Bits 9-55 of an L1 or standard L2 entry: a host offset.
pub const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
/// L2 entry bit: the cluster is compressed.
pub const L2_COMPRESSED: u64 = 1 << 62;
/// L2 entry bit (standard cluster, version 3): the cluster reads as zeros.
pub const L2_ZERO: u64 = 1;

fn corrupt(path: &str, what: &'static str, offset: u64, c: Corruption) -> Error {
    Error::corrupt(Some(path), Structure::Container(what), offset, c)
}

fn bad_header(path: &str, field: usize, name: &str, found: String, reason: String) -> Error {
    corrupt(
        path,
        "qcow2 header",
        0,
        Corruption::BadValue {
            field: format!("{name} (byte {field})"),
            found,
            reason,
        },
    )
}

/// True if `head` (the first bytes of a file) starts a qcow2 image.
pub fn is_qcow2(head: &[u8]) -> bool {
    head.starts_with(&MAGIC)
}

/// Where a guest cluster's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cluster {
    /// Not allocated, or allocated as zeros.
    Zero,
    /// At this host offset.
    Host(u64),
    /// Deflated: `len` bytes from host offset `at` (the end may include
    /// padding to the sector).
    Compressed { at: u64, len: u64 },
}

/// A qcow2 image read as the disk it holds.
pub struct Qcow2<R> {
    file: R,
    path: String,
    cluster_bits: u32,
    size: u64,
    l1: Vec<u64>,
    /// The last compressed cluster inflated (host offset, bytes): reads
    /// are usually smaller than a cluster and in order.
    last: Mutex<Option<(u64, Vec<u8>)>>,
    /// What was odd but readable.
    pub notes: Vec<String>,
}

impl<R: ReadAt> Qcow2<R> {
    /// Reads and checks the header and the L1 table of `file` (named
    /// `path` in messages).
    ///
    /// # Errors
    /// A header field out of range, a backing file, encryption, an
    /// external data file, subclusters or a compression other than deflate
    /// ([`Error::Unsupported`]), an L1 table past the end of the file.
    pub fn open(file: R, path: &str) -> Result<Qcow2<R>> {
        let io_err = |what: String, source: io::Error| Error::Io {
            path: path.to_owned(),
            what,
            source,
        };
        let file_size = file.size().map_err(|e| io_err("read size".into(), e))?;
        let mut h = [0u8; V3_HEADER_LENGTH + 8];
        let n = usize::try_from(file_size.min(h.len() as u64)).unwrap_or(0);
        if n < V2_HEADER_LENGTH {
            return Err(corrupt(
                path,
                "qcow2 header",
                0,
                Corruption::Truncated {
                    needed: V2_HEADER_LENGTH as u64,
                    available: file_size,
                },
            ));
        }
        file.read_exact_at(&mut h[..n], 0)
            .map_err(|e| io_err(format!("read {n} bytes at 0"), e))?;
        if h[..4] != MAGIC {
            return Err(corrupt(
                path,
                "qcow2 header",
                0,
                Corruption::BadMagic {
                    field: "magic",
                    found: format!("{:02x?}", &h[..4]),
                    expected: "QFI\\xfb".into(),
                },
            ));
        }
        let version = BE::read_u32(&h[OFF_VERSION..]);
        if version != 2 && version != 3 {
            return Err(bad_header(
                path,
                OFF_VERSION,
                "version",
                version.to_string(),
                "lvmsim reads versions 2 and 3".into(),
            ));
        }
        let mut notes = Vec::new();
        if version == 3 {
            if n < V3_HEADER_LENGTH {
                return Err(corrupt(
                    path,
                    "qcow2 header",
                    0,
                    Corruption::Truncated {
                        needed: V3_HEADER_LENGTH as u64,
                        available: file_size,
                    },
                ));
            }
            let incompat = BE::read_u64(&h[OFF_INCOMPATIBLE_FEATURES..]);
            let header_length = BE::read_u32(&h[OFF_HEADER_LENGTH..]) as usize;
            let compression = if header_length > OFF_COMPRESSION_TYPE {
                h[OFF_COMPRESSION_TYPE]
            } else {
                0
            };
            let refuse = |what: &str| {
                Err(Error::Unsupported(format!(
                    "{path}: a qcow2 image with {what}, which lvmsim does not read: convert it first, e.g. qemu-img convert -O raw {path} disk.img"
                )))
            };
            if incompat & INCOMPAT_EXTERNAL_DATA != 0 {
                return refuse("an external data file");
            }
            if incompat & INCOMPAT_EXTENDED_L2 != 0 {
                return refuse("subclusters (extended L2 entries)");
            }
            if incompat & INCOMPAT_COMPRESSION_TYPE != 0 && compression != 0 {
                return refuse(&format!("compression type {compression} (zstd)"));
            }
            let known = INCOMPAT_DIRTY
                | INCOMPAT_CORRUPT
                | INCOMPAT_EXTERNAL_DATA
                | INCOMPAT_COMPRESSION_TYPE
                | INCOMPAT_EXTENDED_L2;
            if incompat & !known != 0 {
                return refuse(&format!("unknown incompatible features {incompat:#x}"));
            }
            if incompat & INCOMPAT_CORRUPT != 0 {
                notes.push(format!(
                    "{path}: QEMU marked this qcow2 image corrupt; reading it anyway"
                ));
            }
        }
        let backing = BE::read_u64(&h[OFF_BACKING_FILE_OFFSET..]);
        if backing != 0 {
            let len = BE::read_u32(&h[OFF_BACKING_FILE_SIZE..]).min(1024);
            let mut name = vec![0u8; len as usize];
            let name = match file.read_exact_at(&mut name, backing) {
                Ok(()) => String::from_utf8_lossy(&name).into_owned(),
                Err(_) => "unreadable".into(),
            };
            return Err(Error::Unsupported(format!(
                "{path}: a qcow2 image over a backing file ({name}): lvmsim reads self-contained images only; make one with qemu-img convert -O qcow2 {path} whole.qcow2 (or -O raw)"
            )));
        }
        let crypt = BE::read_u32(&h[OFF_CRYPT_METHOD..]);
        if crypt != 0 {
            return Err(Error::Unsupported(format!(
                "{path}: an encrypted qcow2 image (crypt_method {crypt}): lvmsim does not decrypt; qemu-img convert with the key makes a raw image"
            )));
        }
        let cluster_bits = BE::read_u32(&h[OFF_CLUSTER_BITS..]);
        if !CLUSTER_BITS.contains(&cluster_bits) {
            return Err(bad_header(
                path,
                OFF_CLUSTER_BITS,
                "cluster_bits",
                cluster_bits.to_string(),
                format!("must be {} to {}", CLUSTER_BITS.start(), CLUSTER_BITS.end()),
            ));
        }
        let size = BE::read_u64(&h[OFF_SIZE..]);
        let l1_size = BE::read_u32(&h[OFF_L1_SIZE..]);
        let l1_offset = BE::read_u64(&h[OFF_L1_TABLE_OFFSET..]);
        // Each L2 table (one cluster) maps cluster_size / 8 clusters.
        let per_l1 = 1u64 << (cluster_bits + cluster_bits - 3);
        let needed = size.div_ceil(per_l1);
        if u64::from(l1_size) < needed {
            return Err(bad_header(
                path,
                OFF_L1_SIZE,
                "l1_size",
                l1_size.to_string(),
                format!("{needed} entries are needed to map {size} bytes"),
            ));
        }
        let l1_bytes = needed * 8;
        if l1_bytes > MAX_L1_BYTES {
            return Err(bad_header(
                path,
                OFF_SIZE,
                "size",
                size.to_string(),
                format!("its L1 table would be {l1_bytes} bytes, more than {MAX_L1_BYTES}"),
            ));
        }
        if l1_offset
            .checked_add(l1_bytes)
            .is_none_or(|e| e > file_size)
        {
            return Err(corrupt(
                path,
                "qcow2 L1 table",
                l1_offset,
                Corruption::Truncated {
                    needed: l1_bytes,
                    available: file_size.saturating_sub(l1_offset),
                },
            ));
        }
        // Bounded by MAX_L1_BYTES above.
        let mut raw = vec![0u8; l1_bytes as usize];
        file.read_exact_at(&mut raw, l1_offset)
            .map_err(|e| io_err(format!("read the L1 table at {l1_offset}"), e))?;
        let l1 = raw.chunks_exact(8).map(BE::read_u64).collect();
        Ok(Qcow2 {
            file,
            path: path.to_owned(),
            cluster_bits,
            size,
            l1,
            last: Mutex::new(None),
            notes,
        })
    }

    fn cluster_size(&self) -> u64 {
        1 << self.cluster_bits
    }

    /// Where guest cluster `index` is.
    fn locate(&self, index: u64) -> io::Result<Cluster> {
        let per_l2 = self.cluster_size() / 8;
        let l1e = usize::try_from(index / per_l2)
            .ok()
            .and_then(|i| self.l1.get(i))
            .copied()
            .unwrap_or(0);
        let l2_table = l1e & OFFSET_MASK;
        if l2_table == 0 {
            return Ok(Cluster::Zero);
        }
        let mut e = [0u8; 8];
        let at = l2_table
            .checked_add((index % per_l2) * 8)
            .ok_or_else(|| self.bad(format!("L2 table offset {l2_table:#x}")))?;
        self.file.read_exact_at(&mut e, at)?;
        let e = u64::from_be_bytes(e);
        if e & L2_COMPRESSED != 0 {
            // The offset takes the low 62 - (cluster_bits - 8) bits, the
            // count of further 512-byte sectors the rest up to bit 61.
            let x = 62 - (self.cluster_bits - 8);
            let host = e & ((1u64 << x) - 1);
            let sectors = (e & ((1u64 << 62) - 1)) >> x;
            let len = (sectors + 1) * 512 - (host & 511);
            return Ok(Cluster::Compressed { at: host, len });
        }
        let host = e & OFFSET_MASK;
        if e & L2_ZERO != 0 || host == 0 {
            return Ok(Cluster::Zero);
        }
        if host & (self.cluster_size() - 1) != 0 {
            return Err(self.bad(format!(
                "guest cluster {index}: host offset {host:#x} is not cluster-aligned (L2 entry at {at})"
            )));
        }
        Ok(Cluster::Host(host))
    }

    fn bad(&self, what: String) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: corrupt qcow2 image: {what}", self.path),
        )
    }

    /// Fills `buf` from offset `within` of the compressed cluster at
    /// `at`.
    fn read_compressed(&self, at: u64, len: u64, within: usize, buf: &mut [u8]) -> io::Result<()> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.as_ref().is_none_or(|(a, _)| *a != at) {
            let file_size = self.file.size()?;
            // The last compressed cluster may end before its last sector.
            let len = len.min(file_size.saturating_sub(at));
            // At most one cluster plus a sector: cluster_bits <= 21.
            let mut z = vec![0u8; usize::try_from(len).unwrap_or(0)];
            self.file.read_exact_at(&mut z, at)?;
            let cs = usize::try_from(self.cluster_size()).unwrap_or(usize::MAX);
            let mut out = vec![0u8; cs];
            let st = miniz_oxide::inflate::decompress_slice_iter_to_slice(
                &mut out,
                std::iter::once(z.as_slice()),
                false,
                true,
            );
            match st {
                Ok(n) if n == cs => {}
                Ok(n) => {
                    return Err(self.bad(format!(
                        "compressed cluster at {at} inflates to {n} bytes, not {cs}"
                    )))
                }
                Err(e) => {
                    return Err(self.bad(format!(
                        "compressed cluster at {at} does not inflate: {e:?}"
                    )))
                }
            }
            *last = Some((at, out));
        }
        // OK to unwrap: filled just above.
        let (_, data) = last.as_ref().unwrap();
        buf.copy_from_slice(&data[within..within + buf.len()]);
        Ok(())
    }
}

impl<R: ReadAt> ReadAt for Qcow2<R> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|e| *e <= self.size)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "access past the end of the image",
                )
            })?;
        let cs = self.cluster_size();
        let mut at = offset;
        let mut done = 0usize;
        while at < end {
            let within = at % cs;
            let n = (cs - within).min(end - at) as usize;
            let part = &mut buf[done..done + n];
            match self.locate(at / cs)? {
                Cluster::Zero => part.fill(0),
                Cluster::Host(h) => self.file.read_exact_at(part, h + within)?,
                Cluster::Compressed { at: z, len } => {
                    self.read_compressed(z, len, within as usize, part)?
                }
            }
            done += n;
            at += n as u64;
        }
        Ok(())
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version 3 image of a 1 MiB disk with 64 KiB clusters: header, L1
    /// at 0x10000, one L2 at 0x20000, data clusters from 0x30000 on as
    /// `clusters` says (guest cluster, L2 entry flags, data).
    fn image(clusters: &[(u64, u64, Vec<u8>)]) -> Vec<u8> {
        let mut f = vec![0u8; 0x30000];
        f[..4].copy_from_slice(&MAGIC);
        BE::write_u32(&mut f[OFF_VERSION..], 3);
        BE::write_u32(&mut f[OFF_CLUSTER_BITS..], 16);
        BE::write_u64(&mut f[OFF_SIZE..], 1 << 20);
        BE::write_u32(&mut f[OFF_L1_SIZE..], 1);
        BE::write_u64(&mut f[OFF_L1_TABLE_OFFSET..], 0x10000);
        BE::write_u32(&mut f[OFF_HEADER_LENGTH..], 104);
        BE::write_u64(&mut f[0x10000..], 0x20000 | 1 << 63);
        for (g, flags, data) in clusters {
            let host = f.len() as u64;
            f.extend_from_slice(data);
            f.resize(f.len().next_multiple_of(0x10000), 0);
            BE::write_u64(&mut f[0x20000 + *g as usize * 8..], host | flags);
        }
        f
    }

    #[test]
    fn clusters_map_to_host_clusters_and_the_rest_reads_as_zeros() {
        let a = vec![0xa5u8; 0x10000];
        let f = image(&[(3, 0, a.clone()), (4, L2_ZERO, a.clone())]);
        let q = Qcow2::open(f, "q").unwrap();
        assert_eq!(q.size().unwrap(), 1 << 20);
        let mut buf = vec![0u8; 0x20000];
        q.read_exact_at(&mut buf, 0x28000).unwrap();
        assert!(buf[..0x8000].iter().all(|b| *b == 0));
        assert!(buf[0x8000..0x18000].iter().all(|b| *b == 0xa5));
        assert!(buf[0x18000..].iter().all(|b| *b == 0), "zero flag");
        assert!(q.read_exact_at(&mut [0u8; 2], (1 << 20) - 1).is_err());
    }

    #[test]
    fn a_compressed_cluster_is_inflated() {
        let data: Vec<u8> = (0..0x10000u32).map(|i| (i % 251) as u8).collect();
        let z = miniz_oxide::deflate::compress_to_vec(&data, 6);
        let mut f = image(&[]);
        let host = f.len() as u64;
        f.extend_from_slice(&z);
        let sectors = ((host & 511) + z.len() as u64).div_ceil(512) - 1;
        let x = 62 - (16 - 8);
        BE::write_u64(&mut f[0x20000 + 8..], L2_COMPRESSED | sectors << x | host);
        let q = Qcow2::open(f, "q").unwrap();
        let mut buf = vec![0u8; 100];
        q.read_exact_at(&mut buf, 0x10000 + 1000).unwrap();
        assert_eq!(buf, data[1000..1100]);
    }

    #[test]
    fn bad_headers_are_refused_with_the_field() {
        let mut f = image(&[]);
        BE::write_u32(&mut f[OFF_CLUSTER_BITS..], 40);
        let e = Qcow2::open(f, "q").err().unwrap().to_string();
        assert_eq!(
            e,
            "q: qcow2 header at 0: cluster_bits (byte 20) is 40: must be 9 to 21"
        );
        let mut f = image(&[]);
        BE::write_u64(&mut f[OFF_SIZE..], u64::MAX);
        assert!(Qcow2::open(f, "q").is_err());
        let mut f = image(&[]);
        BE::write_u64(&mut f[OFF_L1_TABLE_OFFSET..], u64::MAX - 3);
        let e = Qcow2::open(f, "q").err().unwrap().to_string();
        assert!(e.starts_with("q: qcow2 L1 table at "), "{e}");
        let mut f = image(&[]);
        BE::write_u64(&mut f[OFF_BACKING_FILE_OFFSET..], 200);
        BE::write_u32(&mut f[OFF_BACKING_FILE_SIZE..], 4);
        f[200..204].copy_from_slice(b"base");
        let e = Qcow2::open(f, "q").err().unwrap().to_string();
        assert!(e.contains("over a backing file (base)"), "{e}");
        // zstd clusters (compression_type 1, as qemu-img -o
        // compression_type=zstd writes them).
        let mut f = image(&[]);
        BE::write_u64(
            &mut f[OFF_INCOMPATIBLE_FEATURES..],
            INCOMPAT_COMPRESSION_TYPE,
        );
        BE::write_u32(&mut f[OFF_HEADER_LENGTH..], 112);
        f[OFF_COMPRESSION_TYPE] = 1;
        let e = Qcow2::open(f, "q").err().unwrap().to_string();
        assert_eq!(
            e,
            "q: a qcow2 image with compression type 1 (zstd), which lvmsim does not read: convert it first, e.g. qemu-img convert -O raw q disk.img"
        );
        let mut f = image(&[]);
        BE::write_u32(&mut f[OFF_CRYPT_METHOD..], 2);
        let e = Qcow2::open(f, "q").err().unwrap().to_string();
        assert!(
            e.contains("an encrypted qcow2 image (crypt_method 2)"),
            "{e}"
        );
    }

    #[test]
    fn a_misaligned_host_offset_is_an_error_not_a_panic() {
        let mut f = image(&[(0, 0, vec![1u8; 16])]);
        let e = BE::read_u64(&f[0x20000..]);
        BE::write_u64(&mut f[0x20000..], e + 0x200);
        let q = Qcow2::open(f, "q").unwrap();
        let e = q.read_exact_at(&mut [0u8; 4], 0).unwrap_err().to_string();
        assert!(e.contains("is not cluster-aligned"), "{e}");
    }
}
