//! LV addressing on top of PV images.
//!
//! Each PV image is a [`WriteAt`] (lvm-meta's positioned I/O): a file
//! opened read-write, or memory in tests. [`Images`] holds one per PV of a
//! VG and reads or writes an LV's bytes through its linear and striped
//! segments; [`LvSet`] is the LVs of a VG as the engine's
//! [`crate::engine::DevSet`].

use crate::{Error, Result};
use lvm_meta::io::WriteAt;
use lvm_meta::lv_map::{self, Piece};
use lvm_meta::model::Vg;
use std::io;
use std::ops::Range;

/// The PV images of one VG, indexed like [`Vg::pvs`].
pub struct Images<B> {
    /// One image per PV; `None` for a missing PV.
    pub pvs: Vec<Option<B>>,
}

/// Calls `f(pv, at, range)` for each run of LV `lv`'s bytes
/// `offset..offset + len`: PV index `pv` holds bytes `range` (counted from
/// `offset`) at byte `at` of its image; with `write`, RAID and mirror
/// LVs are refused (see [`lv_map::map_write`]).
fn each_run(
    vg: &Vg,
    lv: usize,
    mut offset: u64,
    len: usize,
    write: bool,
    mut f: impl FnMut(usize, u64, Range<usize>) -> Result<()>,
) -> Result<()> {
    let mut done = 0usize;
    while done < len {
        let piece = if write {
            lv_map::map_write(vg, lv, offset)?
        } else {
            lv_map::map(vg, lv, offset)?
        };
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
        f(pv, at, done..done + n)?;
        done += n;
        offset += n as u64;
    }
    Ok(())
}

/// The error of an access to PV `pv` of `vg` for `len` bytes at `at`.
fn pv_io(vg: &Vg, pv: usize, at: u64, len: usize, source: io::Error) -> Error {
    Error::Io {
        path: vg.pvs[pv].key.clone(),
        offset: Some(at),
        what: format!("{len} bytes at {at}"),
        source,
    }
}

/// The error of LV `lv` needing missing PV `pv`.
fn pv_missing(vg: &Vg, lv: usize, pv: usize) -> Error {
    Error::PvMissing {
        lv: vg.lvs[lv].name.clone(),
        pv: vg.pvs[pv].key.clone(),
    }
}

impl<B: WriteAt> Images<B> {
    /// Reads LV bytes.
    pub fn read(&self, vg: &Vg, lv: usize, offset: u64, buf: &mut [u8]) -> Result<()> {
        each_run(vg, lv, offset, buf.len(), false, |pv, at, r| {
            let img = self
                .pvs
                .get(pv)
                .and_then(Option::as_ref)
                .ok_or_else(|| pv_missing(vg, lv, pv))?;
            let n = r.len();
            img.read_exact_at(&mut buf[r], at)
                .map_err(|source| pv_io(vg, pv, at, n, source))
        })
    }

    /// The image of PV `pv`, which LV `lv` has an area on, to write.
    fn pv_mut(&mut self, vg: &Vg, lv: usize, pv: usize) -> Result<&mut B> {
        self.pvs
            .get_mut(pv)
            .and_then(Option::as_mut)
            .ok_or_else(|| pv_missing(vg, lv, pv))
    }

    /// Writes LV bytes.
    pub fn write(&mut self, vg: &Vg, lv: usize, offset: u64, data: &[u8]) -> Result<()> {
        each_run(vg, lv, offset, data.len(), true, |pv, at, r| {
            let img = self.pv_mut(vg, lv, pv)?;
            let n = r.len();
            img.write_all_at(&data[r], at)
                .map_err(|source| pv_io(vg, pv, at, n, source))
        })
    }

    /// Discards `len` LV bytes at `offset`, as `linear_map` and
    /// `stripe_map_range` (drivers/md/dm-linear.c, dm-stripe.c) pass a
    /// discard down to each PV's part of the range; an image then reads
    /// zeros there ([`WriteAt::discard_at`]: the PVs are loop devices
    /// over files, which punch holes).
    pub fn discard(&mut self, vg: &Vg, lv: usize, offset: u64, len: usize) -> Result<()> {
        each_run(vg, lv, offset, len, true, |pv, at, r| {
            let img = self.pv_mut(vg, lv, pv)?;
            let n = r.len();
            img.discard_at(at, n as u64)
                .map_err(|source| pv_io(vg, pv, at, n, source))
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
                    // These handles address the file from byte 0: a PV
                    // inside a partition or a container is refused.
                    if writable {
                        sys.devices[*d].image.check_bare()?;
                    }
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

impl<B: WriteAt> crate::engine::DevSet for LvSet<'_, B> {
    fn size(&self, d: usize) -> u64 {
        self.vg.lvs.get(d).map_or(0, |l| {
            self.vg.lv_extents(l).saturating_mul(self.vg.extent_bytes())
        })
    }
    fn read(&self, d: usize, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.bounds(d, offset, buf.len())?;
        self.images.read(self.vg, d, offset, buf)
    }
    fn write(&mut self, d: usize, offset: u64, data: &[u8]) -> Result<()> {
        self.bounds(d, offset, data.len())?;
        self.images.write(self.vg, d, offset, data)
    }
    /// Copies PV run by PV run (where both LVs map to one run each),
    /// letting the images copy (a file: in the kernel).
    fn copy(
        &mut self,
        from: usize,
        from_offset: u64,
        to: usize,
        to_offset: u64,
        len: u64,
    ) -> Result<()> {
        let n = usize::try_from(len).map_err(|_| Error::PastLvEnd {
            lv: self
                .vg
                .lvs
                .get(to)
                .map_or("?", |l| l.name.as_str())
                .to_owned(),
            offset: to_offset,
            len,
            size: self.size(to),
        })?;
        self.bounds(from, from_offset, n)?;
        self.bounds(to, to_offset, n)?;
        let vg = self.vg;
        let mut done = 0u64;
        while done < len {
            let src = lv_map::map(vg, from, from_offset + done)?;
            let dst = lv_map::map_write(vg, to, to_offset + done)?;
            let (
                Piece::Pv {
                    pv: ps,
                    offset: at_s,
                    len: run_s,
                },
                Piece::Pv {
                    pv: pd,
                    offset: at_d,
                    len: run_d,
                },
            ) = (src, dst)
            else {
                // A zero segment on either side: through memory.
                let mut buf = vec![0u8; usize::try_from((len - done).min(1 << 20)).unwrap_or(0)];
                self.read(from, from_offset + done, &mut buf)?;
                self.write(to, to_offset + done, &buf)?;
                done += buf.len() as u64;
                continue;
            };
            let k = run_s.min(run_d).min(len - done);
            let pvs = &mut self.images.pvs;
            if pvs.get(ps).is_none_or(Option::is_none) {
                return Err(pv_missing(vg, from, ps));
            }
            if pvs.get(pd).is_none_or(Option::is_none) {
                return Err(pv_missing(vg, to, pd));
            }
            let copied = if ps == pd {
                // OK to unwrap: checked above.
                pvs[pd].as_mut().unwrap().copy_within_at(at_s, at_d, k)
            } else {
                let (s, d) = crate::engine::two(pvs, ps, pd);
                // OK to unwrap: checked above.
                d.as_mut()
                    .unwrap()
                    .copy_from_at(s.as_ref().unwrap(), at_s, at_d, k)
            };
            copied
                .map_err(|source| pv_io(vg, pd, at_d, usize::try_from(k).unwrap_or(0), source))?;
            done += k;
        }
        Ok(())
    }
}

impl<B: WriteAt> LvSet<'_, B> {
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
