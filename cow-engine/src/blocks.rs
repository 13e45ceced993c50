//! Writable byte stores (PV images) and LV addressing on top of them.
//!
//! A [`Blocks`] is one PV image: a file opened read-write, or memory in
//! tests. [`Images`] holds one per PV of a VG and reads or writes an LV's
//! bytes through its linear and striped segments.

use crate::{Error, Result};
use lvm_meta::lv_map::{self, Piece};
use lvm_meta::model::Vg;
use std::io;

/// A writable image.
pub trait Blocks {
    /// Size in bytes.
    fn size(&self) -> u64;
    /// Fills `buf` from `offset`.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    /// Writes `data` at `offset`; never grows the image.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()>;
}

fn past_end() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "access past the end of the image",
    )
}

impl Blocks for Vec<u8> {
    fn size(&self) -> u64 {
        self.len() as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let s = usize::try_from(offset).map_err(|_| past_end())?;
        let src = self
            .get(s..s.checked_add(buf.len()).ok_or_else(past_end)?)
            .ok_or_else(past_end)?;
        buf.copy_from_slice(src);
        Ok(())
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        let s = usize::try_from(offset).map_err(|_| past_end())?;
        let dst = self
            .get_mut(s..s.checked_add(data.len()).ok_or_else(past_end)?)
            .ok_or_else(past_end)?;
        dst.copy_from_slice(data);
        Ok(())
    }
}

impl Blocks for std::fs::File {
    fn size(&self) -> u64 {
        self.metadata().map(|m| m.len()).unwrap_or(0)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(self, buf, offset)
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        if offset
            .checked_add(data.len() as u64)
            .is_none_or(|e| e > Blocks::size(self))
        {
            return Err(past_end());
        }
        std::os::unix::fs::FileExt::write_all_at(self, data, offset)
    }
}

/// The PV images of one VG, indexed like [`Vg::pvs`].
pub struct Images<B> {
    /// One image per PV; `None` for a missing PV.
    pub pvs: Vec<Option<B>>,
}

impl<B: Blocks> Images<B> {
    fn io(
        &mut self,
        vg: &Vg,
        lv: usize,
        mut offset: u64,
        len: usize,
        mut f: impl FnMut(&mut B, u64, std::ops::Range<usize>) -> io::Result<()>,
    ) -> Result<()> {
        let mut done = 0usize;
        while done < len {
            let piece = lv_map::map(vg, lv, offset)?;
            let Piece::Pv {
                pv,
                offset: at,
                len: run,
            } = piece
            else {
                return Err(Error::ZeroSegmentWrite {
                    lv: vg.lvs[lv].name.clone(),
                });
            };
            let n = usize::try_from(run).unwrap_or(usize::MAX).min(len - done);
            let img = self
                .pvs
                .get_mut(pv)
                .and_then(Option::as_mut)
                .ok_or_else(|| Error::PvMissing {
                    lv: vg.lvs[lv].name.clone(),
                    pv: vg.pvs[pv].key.clone(),
                })?;
            f(img, at, done..done + n).map_err(|source| Error::Io {
                path: vg.pvs[pv].key.clone(),
                offset: Some(at),
                what: format!("{n} bytes at {at}"),
                source,
            })?;
            done += n;
            offset += n as u64;
        }
        Ok(())
    }

    /// Reads LV bytes.
    pub fn read(&mut self, vg: &Vg, lv: usize, offset: u64, buf: &mut [u8]) -> Result<()> {
        let len = buf.len();
        self.io(vg, lv, offset, len, |img, at, r| {
            img.read_at(at, &mut buf[r])
        })
    }

    /// Writes LV bytes.
    pub fn write(&mut self, vg: &Vg, lv: usize, offset: u64, data: &[u8]) -> Result<()> {
        self.io(vg, lv, offset, data.len(), |img, at, r| {
            img.write_at(at, &data[r])
        })
    }
}

impl Images<std::fs::File> {
    /// Opens the images holding the PVs of a scanned VG (the files they
    /// were scanned from), read-write if `writable`; a missing PV stays
    /// `None`.
    pub fn open_vg(
        sys: &lvm_meta::scan::System,
        inst: &lvm_meta::scan::VgInstance,
        writable: bool,
    ) -> Result<Self> {
        let mut pvs = Vec::new();
        for d in &inst.pv_devices {
            pvs.push(match d {
                Some(d) => {
                    let path = &sys.devices[*d].image.source;
                    let f = std::fs::OpenOptions::new()
                        .read(true)
                        .write(writable)
                        .open(path)
                        .map_err(|source| Error::Io {
                            path: path.clone(),
                            offset: None,
                            what: if writable {
                                "open for writing".into()
                            } else {
                                "open".into()
                            },
                            source,
                        })?;
                    Some(f)
                }
                None => None,
            });
        }
        Ok(Images { pvs })
    }
}

/// The LVs of one VG as a [`crate::engine::DevSet`]: device `d` is LV
/// index `d` of [`Vg::lvs`].
pub struct LvSet<'a, B> {
    /// The VG.
    pub vg: &'a Vg,
    /// Its PV images.
    pub images: Images<B>,
}

impl<B: Blocks> crate::engine::DevSet for LvSet<'_, B> {
    fn size(&self, d: usize) -> u64 {
        self.vg.lvs.get(d).map_or(0, |l| {
            self.vg.lv_extents(l).saturating_mul(self.vg.extent_bytes())
        })
    }
    fn read(&mut self, d: usize, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.bounds(d, offset, buf.len())?;
        self.images.read(self.vg, d, offset, buf)
    }
    fn write(&mut self, d: usize, offset: u64, data: &[u8]) -> Result<()> {
        self.bounds(d, offset, data.len())?;
        self.images.write(self.vg, d, offset, data)
    }
}

impl<B: Blocks> LvSet<'_, B> {
    fn bounds(&self, d: usize, offset: u64, len: usize) -> Result<()> {
        use crate::engine::DevSet;
        let size = self.size(d);
        if offset.checked_add(len as u64).is_none_or(|e| e > size) {
            return Err(Error::PastLvEnd {
                lv: self
                    .vg
                    .lvs
                    .get(d)
                    .map_or("?", |l| l.name.as_str())
                    .to_owned(),
                offset,
                len: len as u64,
                size,
            });
        }
        Ok(())
    }
}
