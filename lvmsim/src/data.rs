//! `lvmsim write VG/LV --offset BYTES [--input FILE]`: what
//! `dd of=/dev/VG/LV bs=1M seek=… oflag=seek_bytes conv=notrunc` does after
//! `vgchange -ay`, on the images. The command activates the LV (loading
//! every snapshot store of its origin as the kernel's table load does),
//! writes through [`cow_engine::handle::LvHandle`] and deactivates; the
//! images are the whole state.
//!
//! Errors as the kernel gives them: EIO for an invalid snapshot, for a
//! snapshot that fills up during the write (it is invalidated, the bytes
//! before stay written) and for a merging snapshot (lvm2 loads the error
//! target for it); ENOSPC once the write reaches the LV's end (the bytes
//! before the end are written, as `blkdev_write_iter` cuts a write short).
//! A pending merge is not advanced: the write lands on the `snapshot-merge`
//! origin before the merge's first batch (run `vgchange -ay` to merge).

use crate::error::{bail, refused, Error, Result, ResultExt};
use cow_engine::handle::LvHandle;
use lvm_meta::scan::System;
use std::io::{Read, Write};

/// Size of one write issued to the LV (dd's `bs=1M`; kgen-pattern's piece).
const PIECE: usize = 1 << 20;

/// Size of one read of `cat`: 128 KiB moves page-cache bytes faster than
/// `dd bs=1M` does on a machine with 1-2 MiB of L2 cache per core, since
/// the buffer stays in cache between the read and the write.
const CAT_PIECE: usize = 128 << 10;

/// Fills `buf` from `input` as far as it goes; returns the bytes read.
fn fill(input: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Writes `input` to LV `arg` (`VG/LV`) from byte `offset` through `hooks`;
/// returns the bytes written. A stop request (`hooks.stop`) ends the write
/// between two pieces: what was written stays written and the error says
/// how much. The line the kernel logs when the write invalidates a
/// snapshot (`device-mapper: snapshots: Invalidating snapshot: ...`) goes
/// to `notices` as it happens, before any error.
pub fn write(
    sys: &System,
    arg: &str,
    offset: u64,
    input: &mut dyn Read,
    hooks: &crate::context::WriteHooks,
    notices: &mut dyn Write,
) -> Result<u64> {
    write_with_events(sys, arg, offset, input, hooks, notices, None)
}

/// [`write()`], with every step the kernel takes in the snapshot stores
/// sent to `events` (see [`crate::explain`]).
pub fn write_with_events(
    sys: &System,
    arg: &str,
    offset: u64,
    input: &mut dyn Read,
    hooks: &crate::context::WriteHooks,
    notices: &mut dyn Write,
    events: Option<&cow_engine::engine::EventLog>,
) -> Result<u64> {
    let (vgn, lvn) = crate::names::vg_lv(arg)?;
    let (vgn, lvn) = (vgn.as_str(), lvn.as_str());
    let inst = sys.vg_or_err(vgn)?;
    let vg = &inst.vg;
    // A snapshot's glue is not an LV one can open.
    let li = vg.lv_index_or_err(lvn)?;
    vg.mappable_extent_size()?;
    if vg.lvs[li].is_snapshot_glue() {
        return Err(lvm_meta::Error::from(lvm_meta::NotFound::Lv {
            vg: vgn.to_owned(),
            name: lvn.to_owned(),
        })
        .into());
    }
    if crate::thin::thin_seg(vg, li).is_some() {
        return crate::thin::write(sys, inst, li, offset, input, hooks);
    }
    let mut lv = LvHandle::open(vg, crate::write::open_rw(sys, inst, hooks)?, li)?;
    if let Some(log) = events {
        lv.set_event_log(log);
    }
    let mut buf = vec![0u8; PIECE];
    let mut at = offset;
    // Stores already invalidated by this write, whose line is out.
    let mut told = Vec::new();
    let stopped = |at: u64| {
        Error::Interrupted(format!(
            "lvmsim: write to {vgn}/{lvn} stopped at byte {at} ({} bytes written)",
            at - offset
        ))
    };
    let result = loop {
        if hooks.stop.requested() {
            break Err(stopped(at));
        }
        let n = match fill(input, &mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => n,
            Err(e) => break Err(e).context("reading the input"),
        };
        // A stop asked for while the input was read: this piece is not written.
        if hooks.stop.requested() {
            break Err(stopped(at));
        }
        let written = lv.write_at(at, &buf[..n]);
        for inv in lv.invalidations() {
            if !told.contains(&inv) {
                writeln!(notices, "{}", inv.1.kernel_message())?;
                told.push(inv);
            }
        }
        if let Err(e) = written {
            break Err(e).context(format!(
                "error writing {vgn}/{lvn} at byte {at} ({} bytes written)",
                at - offset
            ));
        }
        at += n as u64;
    };
    // The kgen writer and dd with conv=fsync end with fsync(): whatever
    // reached the images is made durable, even when the write failed.
    for f in lv.images().pvs.iter().flatten() {
        f.file
            .sync_data()
            .with_context(|| format!("{}: sync", f.path))?;
    }
    result.map(|()| at - offset)
}

/// `lvmsim cat VG/LV`: writes the LV's bytes from `offset` (`length` of
/// them, or to the end) to `out`, as `dd if=/dev/VG/LV` after activation
/// would read them (a snapshot's view, a merging origin's data). With
/// `force`, an invalid or merging snapshot is read from the records its
/// store still holds (the kernel fails such reads).
pub fn cat(
    sys: &System,
    arg: &str,
    offset: u64,
    length: Option<u64>,
    force: bool,
    out: &mut dyn Write,
) -> Result<()> {
    cat_uncached(sys, arg, offset, length, force, false, out)
}

/// [`cat`], and with `uncached` a cached LV is read from its origin alone
/// (`lvmsim cat --uncached`).
pub fn cat_uncached(
    sys: &System,
    arg: &str,
    offset: u64,
    length: Option<u64>,
    force: bool,
    uncached: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let (vgn, lvn) = crate::names::vg_lv(arg)?;
    let (vgn, lvn) = (vgn.as_str(), lvn.as_str());
    let reader = open_view_uncached(sys, vgn, lvn, force, uncached)?;
    let size = reader.size();
    if offset > size {
        bail!("--offset {offset} is past the end of {vgn}/{lvn} ({size} bytes)");
    }
    let end = match length {
        Some(l) => offset
            .checked_add(l)
            .filter(|e| *e <= size)
            .ok_or_else(|| {
                refused!(
                    "--offset {offset} --length {l} runs past the end of {vgn}/{lvn} ({size} bytes)"
                )
            })?,
        None => size,
    };
    // Pieces small enough to stay in the CPU's cache between the read and
    // the write, and no larger than the request.
    let piece = usize::try_from(end - offset)
        .unwrap_or(CAT_PIECE)
        .min(CAT_PIECE);
    let mut buf = vec![0u8; piece];
    let mut at = offset;
    while at < end {
        let n = usize::try_from(end - at).unwrap_or(piece).min(piece);
        reader.read_at(at, &mut buf[..n])?;
        out.write_all(&buf[..n])?;
        at += n as u64;
    }
    out.flush()?;
    Ok(())
}

/// LV `lv` of VG `vg` as [`cat`] reads it (`dd if=/dev/VG/LV` after
/// activation: a snapshot's view, a merging origin's data, a thin LV
/// through its pool), for programs that read it piece by piece (the
/// Python binding). `force` as for [`cat`]. The view only reads, so
/// several threads may share it.
pub fn open_view<'a>(
    sys: &'a System,
    vg: &str,
    lv: &str,
    force: bool,
) -> Result<Box<dyn cow_engine::view::View + Send + Sync + 'a>> {
    open_view_uncached(sys, vg, lv, force, false)
}

/// [`open_view`], and with `uncached` a cached LV reads its origin alone
/// (what lies on the slow device, whatever the cache holds; other LVs
/// read as [`open_view`] reads them).
pub fn open_view_uncached<'a>(
    sys: &'a System,
    vg: &str,
    lv: &str,
    force: bool,
    uncached: bool,
) -> Result<Box<dyn cow_engine::view::View + Send + Sync + 'a>> {
    let vi = sys.vg_or_err(vg)?;
    let li = vi.vg.lv_index_or_err(lv)?;
    vi.vg.mappable_extent_size()?;
    let pvs = sys.pv_images(vi);
    if let Some(c) = crate::cache::cache_seg(&vi.vg, li) {
        if uncached {
            // The origin alone: the cache pool need not be there.
            return Ok(cow_engine::view::open_with(&vi.vg, c.origin, &pvs, force)?);
        }
    }
    if let Some(w) = crate::writecache::writecache_seg(&vi.vg, li) {
        if uncached {
            // The origin alone: the cachevol need not be there.
            return Ok(cow_engine::view::open_with(&vi.vg, w.origin, &pvs, force)?);
        }
    }
    if let Some(wc) = crate::writecache::WritecacheView::open(&vi.vg, li, &pvs)? {
        return Ok(Box::new(wc));
    }
    if let Some(cached) = crate::cache::CacheView::open(&vi.vg, li, &pvs)? {
        return Ok(Box::new(cached));
    }
    Ok(match crate::thin::ThinView::open(&vi.vg, li, &pvs)? {
        Some(thin) => Box::new(thin),
        None => cow_engine::view::open_with(&vi.vg, li, &pvs, force)?,
    })
}

#[cfg(test)]
mod tests {
    use super::fill;

    #[test]
    fn fill_reads_across_short_reads() {
        // A reader returning 3 bytes at a time still fills the buffer.
        struct Trickle(Vec<u8>);
        impl std::io::Read for Trickle {
            fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
                let n = self.0.len().min(3).min(b.len());
                b[..n].copy_from_slice(&self.0[..n]);
                self.0.drain(..n);
                Ok(n)
            }
        }
        let mut t = Trickle((0u8..10).collect());
        let mut b = [0u8; 8];
        assert_eq!(fill(&mut t, &mut b).unwrap(), 8);
        assert_eq!(b, [0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(fill(&mut t, &mut b).unwrap(), 2);
    }
}
