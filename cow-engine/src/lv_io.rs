//! Reading an LV's bytes from its PV images, streamed in bounded pieces.
//! An [`LvReader`] is also a [`ReadAt`] (what the exception store loads
//! a COW LV through).

use crate::{Error, Result};
use lvm_meta::io::{Image, ReadAt};
use lvm_meta::lv_map::{self, Piece};
use lvm_meta::model::Vg;
use lvm_meta::raid::{self, Source};

/// Largest single read issued to an image.
pub const MAX_IO: u64 = 1 << 20;

/// Reads LV `lv` of `vg`, whose PVs are `pvs` (one image per
/// [`Vg::pvs`] entry; `None` for a missing PV).
pub struct LvReader<'a> {
    vg: &'a Vg,
    lv: usize,
    pvs: Vec<Option<&'a Image>>,
    size: u64,
}

impl<'a> LvReader<'a> {
    /// A reader for LV index `lv`.
    pub fn new(vg: &'a Vg, lv: usize, pvs: Vec<Option<&'a Image>>) -> Result<Self> {
        let l = vg.lvs.get(lv).ok_or(Error::NoSuchLv { index: lv })?;
        let size = vg
            .lv_extents(l)
            .checked_mul(vg.extent_bytes())
            .ok_or_else(|| Error::LvTooLarge { lv: l.name.clone() })?;
        Ok(LvReader { vg, lv, pvs, size })
    }

    /// The LV's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Fills `buf` from LV byte `offset`; `buf` must lie inside the LV.
    pub fn read_at(&self, mut offset: u64, mut buf: &mut [u8]) -> Result<()> {
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|e| *e <= self.size)
            .ok_or(Error::ReadPastEnd {
                offset,
                len: buf.len() as u64,
                size: self.size,
                view: false,
            })?;
        let _ = end;
        while !buf.is_empty() {
            let piece = lv_map::map(self.vg, self.lv, offset)?;
            let (n, src) = match piece {
                Piece::Pv {
                    pv,
                    offset: at,
                    len,
                } => (
                    (len.min(buf.len() as u64).min(MAX_IO)) as usize,
                    Some((pv, at)),
                ),
                Piece::Zero { len } => ((len.min(buf.len() as u64).min(MAX_IO)) as usize, None),
            };
            let (head, tail) = buf.split_at_mut(n);
            match src {
                Some((pv, at)) => {
                    let Some(img) = self.pvs.get(pv).copied().flatten() else {
                        let missing = Error::PvMissingAt {
                            lv: self.vg.lvs[self.lv].name.clone(),
                            offset,
                            pv: self.vg.pvs[pv].key.clone(),
                            pv_id: self.vg.pvs[pv].id.clone(),
                        };
                        // A RAID or mirror LV reads what the other images
                        // hold instead, as the kernel does degraded.
                        if !self.read_redundant(offset, head)? {
                            return Err(missing);
                        }
                        offset += n as u64;
                        buf = tail;
                        continue;
                    };
                    if at.checked_add(n as u64).is_none_or(|e| e > img.size) {
                        return Err(lvm_meta::Error::corrupt(
                            Some(&img.path),
                            lvm_meta::Structure::ExtentData,
                            at,
                            lvm_meta::Corruption::Truncated {
                                needed: at + n as u64,
                                available: img.size,
                            },
                        )
                        .into());
                    }
                    img.read_into(at, head)?;
                }
                None => head.fill(0),
            }
            offset += n as u64;
            buf = tail;
        }
        Ok(())
    }
}

impl LvReader<'_> {
    /// Fills `buf` (inside one run of a RAID or mirror segment) from the
    /// images that are there: another copy, or a rebuild from parity.
    /// `Ok(false)` when the LV at `offset` is not RAID or mirror, or when
    /// too many images are missing for its redundancy.
    fn read_redundant(&self, offset: u64, buf: &mut [u8]) -> Result<bool> {
        let Some(run) = lv_map::raid_run(self.vg, self.lv, offset)? else {
            return Ok(false);
        };
        let len = buf.len();
        // One image's bytes, or None if a PV under them is missing.
        let read_image = |image: usize, at: u64, out: &mut [u8]| -> Result<bool> {
            let (lv, base) = run.images[image];
            let r = LvReader::new(self.vg, lv, self.pvs.clone())?;
            match r.read_at(base + at, out) {
                Ok(()) => Ok(true),
                Err(Error::PvMissingAt { .. }) => Ok(false),
                Err(e) => Err(e),
            }
        };
        match &run.source {
            Source::Copies(copies) => {
                for &(image, at) in copies {
                    if read_image(image, at, buf)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Source::Parity { row, k, offset: at } => {
                let n = run.images.len();
                let mut store = vec![0u8; len * n];
                let mut there = vec![false; n];
                for (i, (chunk, ok)) in store.chunks_mut(len).zip(there.iter_mut()).enumerate() {
                    *ok = read_image(i, *at, chunk)?;
                }
                let chunks: Vec<Option<&[u8]>> = store
                    .chunks(len)
                    .zip(&there)
                    .map(|(c, ok)| ok.then_some(c))
                    .collect();
                Ok(raid::rebuild(row, &chunks, *k, buf).is_ok())
            }
        }
    }

    /// Fills `bufs` one after the other from LV byte `offset`: one
    /// vectored read when their bytes lie in one run of one PV, else
    /// buffer by buffer through [`LvReader::read_at`].
    pub fn read_vectored_at(&self, offset: u64, bufs: &mut [&mut [u8]]) -> Result<()> {
        let total = bufs.iter().map(|b| b.len() as u64).sum::<u64>();
        if offset.checked_add(total).is_none_or(|e| e > self.size) {
            return Err(Error::ReadPastEnd {
                offset,
                len: total,
                size: self.size,
                view: false,
            });
        }
        if total == 0 {
            return Ok(());
        }
        if let Piece::Pv {
            pv,
            offset: at,
            len,
        } = lv_map::map(self.vg, self.lv, offset)?
        {
            let img = self.pvs.get(pv).copied().flatten();
            if let Some(img) =
                img.filter(|i| total <= len && at.checked_add(total).is_some_and(|e| e <= i.size))
            {
                return img.data.read_vectored_exact_at(bufs, at).map_err(|source| {
                    lvm_meta::Error::Io {
                        path: img.path.clone(),
                        what: format!("read {total} bytes at {at}"),
                        source,
                    }
                    .into()
                });
            }
        }
        let mut at = offset;
        for b in bufs.iter_mut() {
            self.read_at(at, b)?;
            at += b.len() as u64;
        }
        Ok(())
    }
}

/// The LV's bytes through its segments; errors keep the engine's
/// [`Error`] inside the [`std::io::Error`] (see [`Error::into_io`]).
impl ReadAt for LvReader<'_> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        self.read_at(offset, buf).map_err(Error::into_io)
    }
    fn size(&self) -> std::io::Result<u64> {
        Ok(self.size)
    }
}
