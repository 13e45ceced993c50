//! Thin pools and thin LVs as the kernel's `thin-pool` and `thin` targets
//! serve them (`drivers/md/dm-thin.c`):
//!
//! - a thin LV's read goes through its mappings: a mapped block is read
//!   from the pool's data LV, an unmapped one reads as zeros;
//! - a write provisions the block first ([`ThinTx::provision`]): in
//!   place when mapped and not shared, a new block (zeroed around a
//!   partial write when the pool zeroes new blocks), or a copy of a block
//!   shared with a thin snapshot (`break_sharing`);
//! - the metadata changes stay in one open transaction and reach the
//!   metadata LV only at a commit, as dm-thin commits them: on a flush
//!   (fsync, NBD `FLUSH`), when the last handle of a thin device closes,
//!   once a second when something changed (`COMMIT_PERIOD`), when the
//!   devices are suspended for a command and when the kernel stops. A commit
//!   syncs the data written first, then the new metadata blocks, then the
//!   superblock; a process killed between commits leaves the last
//!   committed metadata, which `thin_check` accepts;
//! - the pool's own device and `-tpool` map every sector to the data LV
//!   (`pool_map`); lvm2 loads the pool's own device read-only
//!   (`read_only_lv` in lib/activate/dev_manager.c), so writes to it fail
//!   with EROFS. A new pool (VG metadata at transaction 0, no thin LV
//!   ever made) has no `-tpool`: its own device is the `thin-pool` target
//!   and takes writes.

use crate::thin::{LvSource, PoolSeg};
use cow_engine::blocks::Images;
use cow_engine::lv_io::LvReader;
use dm_pdata::pdata::block::MetadataDev;
use dm_pdata::thin::write::ThinTx;
use lvm_meta::model::Vg;
use lvm_meta::scan::System;
use std::fs::File;
use std::io;

/// `EIO`, `ENOSPC`, `EROFS`.
const EIO: i32 = 5;
const ENOSPC: i32 = 28;
const EROFS: i32 = 30;

/// The metadata block size of thin pools.
const META_BLOCK: u64 = 4096;

/// What a thin-related device's I/O goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ThinIo {
    /// The pool's own device or `-tpool` of pool LV `.0`: the data LV;
    /// `writable` for `-tpool`.
    Pool { pool: usize, writable: bool },
    /// Thin device `id` of pool LV `pool`.
    Thin { pool: usize, id: u64 },
}

/// What device `lv` (layer `tpool` or none) of `vg` is to thin
/// provisioning, if anything.
pub(crate) fn io_of(vg: &Vg, lv: usize, tpool: bool) -> Option<ThinIo> {
    match crate::thin::role(vg, lv)? {
        // A new pool's own device is its `thin-pool` target, which
        // maps writes to the data LV as `-tpool` does (no record shows
        // whether lvm2 loads it read-only; lvmsim takes the writes).
        crate::thin::ThinRole::Pool(p) => Some(ThinIo::Pool {
            pool: lv,
            writable: tpool || p.is_new(),
        }),
        crate::thin::ThinRole::Thin(t) => Some(ThinIo::Thin {
            pool: t.pool,
            id: t.device_id,
        }),
        _ => None,
    }
}

/// The LV whose activation loads LV `lv`'s devices when it is part of a
/// thin pool (its data and metadata LVs belong to the pool).
pub(crate) fn root_of(vg: &Vg, lv: usize) -> Option<usize> {
    match crate::thin::pool_part(vg, lv)? {
        crate::thin::PoolPart::Data(p) | crate::thin::PoolPart::Metadata(p) => Some(p),
    }
}

/// An active pool: its metadata device and the open transaction.
pub(crate) struct LivePool {
    /// Index of the VG in the table's system, and of the pool LV.
    pub vg: usize,
    pub pool: usize,
    seg: PoolSeg,
    dev: &'static MetadataDev<LvSource<'static>>,
    tx: Option<ThinTx<'static, LvSource<'static>>>,
}

fn io_err(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("{what}: {e}"))
}

impl LivePool {
    /// Opens pool `pool` of VG `vg` of `sys` (nothing read beyond what
    /// the first request needs).
    pub fn open(sys: &'static System, vg: usize, pool: usize) -> crate::error::Result<LivePool> {
        let inst = &sys.vgs[vg];
        let v: &'static Vg = &inst.vg;
        let seg = crate::thin::dm_pool(v, pool)?;
        let pvs = sys.pv_images(inst);
        let reader = LvReader::new(v, seg.metadata, pvs)?;
        let dev = MetadataDev::new(LvSource::new(reader)).map_err(|e| {
            crate::error::Error::ThinMetadata {
                pool: format!("{}/{}", v.name, v.lvs[pool].name),
                source: e,
            }
        })?;
        // Lives as long as the kernel's process, as the scanned images do.
        let dev: &'static MetadataDev<LvSource<'static>> = Box::leak(Box::new(dev));
        Ok(LivePool {
            vg,
            pool,
            seg,
            dev,
            tx: None,
        })
    }

    fn name(&self, vg: &Vg) -> String {
        format!("{}/{}", vg.name, vg.lvs[self.pool].name)
    }

    /// The open transaction, opened on the committed metadata if none is.
    fn tx(&mut self, vg: &Vg) -> io::Result<&mut ThinTx<'static, LvSource<'static>>> {
        let tx = match self.tx.take() {
            Some(tx) => tx,
            None => ThinTx::open(self.dev).map_err(|e| io_err(&self.name(vg), e))?,
        };
        Ok(self.tx.insert(tx))
    }

    /// Drops the open transaction after `e` (out of metadata space, a
    /// metadata block unreadable), which may have left it half done: the
    /// pool keeps its last commit, as the kernel aborts the transaction
    /// (`metadata_operation_failed`); the request fails with EIO. (The
    /// kernel also turns the pool read-only; lvmsim lets the next request
    /// try again from the last commit.)
    fn abort(&mut self, vg: &Vg, e: dm_pdata::Error) -> io::Error {
        self.tx = None;
        io_err(&format!("{}: transaction aborted", self.name(vg)), e)
    }

    /// Whether the pool's thin LVs take discards (its `discards` is not
    /// `ignore`: dm-thin then gives them no discard support).
    pub fn takes_discards(&self) -> bool {
        self.seg.discards != "ignore"
    }

    fn block_bytes(&self) -> u64 {
        self.seg.chunk_size.saturating_mul(512)
    }

    /// Reads `buf.len()` bytes of thin device `id` at `offset`.
    pub fn read_thin(
        &mut self,
        images: &Images<File>,
        vg: &Vg,
        id: u64,
        offset: u64,
        buf: &mut [u8],
    ) -> io::Result<()> {
        let bs = self.block_bytes();
        let data = self.seg.data;
        let name = self.name(vg);
        let tx = self.tx(vg)?;
        for (done, len, vblock, within) in super::table::block_pieces(offset, buf.len(), bs) {
            let part = &mut buf[done..done + len];
            match tx.lookup(id, vblock).map_err(|e| io_err(&name, e))? {
                Some(bt) => images
                    .read(vg, data, bt.block * bs + within, part)
                    .map_err(|e| e.into_io())?,
                None => part.fill(0),
            }
        }
        Ok(())
    }

    /// Writes `data` to thin device `id` (of `size` bytes) at `offset`;
    /// the metadata changes wait for the next commit. Returns the bytes
    /// written (fewer at the end; ENOSPC at or past it).
    pub fn write_thin(
        &mut self,
        images: &mut Images<File>,
        vg: &Vg,
        id: u64,
        size: u64,
        offset: u64,
        data: &[u8],
    ) -> io::Result<usize> {
        let n = super::table::write_span(size, offset, data.len())?;
        if n == 0 {
            return Ok(0);
        }
        let bs = self.block_bytes();
        let bs_len = usize::try_from(bs).map_err(|_| io::Error::from_raw_os_error(EIO))?;
        let (data_lv, zero) = (self.seg.data, self.seg.zero_new_blocks);
        let mut block = Vec::new();
        for (done, len, vblock, within) in super::table::block_pieces(offset, n, bs) {
            let bytes = &data[done..done + len];
            let target = match self.tx(vg)?.provision(id, vblock) {
                Ok(p) => p,
                // Blocks freed in this transaction are free after a
                // commit: the kernel commits and allocates again
                // (`alloc_data_block`).
                Err(dm_pdata::Error::NoDataSpace { .. })
                    if self.tx(vg)?.freed_data_blocks() > 0 =>
                {
                    self.commit(images, vg)?;
                    match self.tx(vg)?.provision(id, vblock) {
                        Ok(p) => p,
                        Err(dm_pdata::Error::NoDataSpace { .. }) => {
                            return Err(io::Error::from_raw_os_error(ENOSPC))
                        }
                        Err(e) => return Err(self.abort(vg, e)),
                    }
                }
                // Out of data space: the I/O fails (the kernel queues
                // it for `no_space_timeout` first).
                Err(dm_pdata::Error::NoDataSpace { .. }) => {
                    return Err(io::Error::from_raw_os_error(ENOSPC))
                }
                Err(e) => return Err(self.abort(vg, e)),
            };
            crate::thin::write_provisioned(
                images, vg, data_lv, bs_len, target, zero, within, bytes, &mut block,
            )
            .map_err(|e| e.into_io())?;
        }
        Ok(n)
    }

    /// Discards `len` bytes of thin device `id` (of `size` bytes) at
    /// `offset` as dm-thin does (`process_discard_bio`,
    /// `break_up_discard_bio`): only the whole data blocks the range
    /// covers count, a discard of less than a block completes with nothing
    /// done; those blocks are unmapped in the open transaction
    /// ([`ThinTx::unmap_range`]), and with `discards = passdown` the data
    /// blocks no device maps any more are discarded on the data LV too.
    /// Blocks a snapshot shares stay for it. A pool ignoring discards
    /// refuses them (EOPNOTSUPP: the thin device takes none).
    pub fn discard_thin(
        &mut self,
        images: &mut Images<File>,
        vg: &Vg,
        id: u64,
        size: u64,
        offset: u64,
        len: u64,
    ) -> io::Result<()> {
        if self.seg.discards == "ignore" {
            return Err(io::Error::from_raw_os_error(super::table::EOPNOTSUPP));
        }
        let bs = self.block_bytes();
        if bs == 0 {
            return Err(io::Error::from_raw_os_error(EIO));
        }
        let end = offset.saturating_add(len).min(size);
        let (first, last) = (offset.div_ceil(bs), end / bs);
        if first >= last {
            return Ok(());
        }
        let name = self.name(vg);
        let freed = self
            .tx(vg)?
            .unmap_range(id, first, last)
            .map_err(|e| io_err(&name, e))?;
        if self.seg.discards != "passdown" {
            return Ok(());
        }
        // Runs of adjacent freed blocks, each one discard of the data LV.
        let bs_len = usize::try_from(bs).map_err(|_| io::Error::from_raw_os_error(EIO))?;
        let mut i = 0;
        while i < freed.len() {
            let mut n = 1;
            while i + n < freed.len() && freed[i + n] == freed[i] + n as u64 {
                n += 1;
            }
            images
                .discard(vg, self.seg.data, freed[i] * bs, n * bs_len)
                .map_err(|e| e.into_io())?;
            i += n;
        }
        Ok(())
    }

    /// Reads the pool's own device or `-tpool`: the data LV.
    pub fn read_pool(
        &self,
        images: &Images<File>,
        vg: &Vg,
        offset: u64,
        buf: &mut [u8],
    ) -> io::Result<()> {
        images
            .read(vg, self.seg.data, offset, buf)
            .map_err(|e| e.into_io())
    }

    /// Writes `-tpool` (the data LV); the pool's own device is read-only.
    pub fn write_pool(
        &self,
        images: &mut Images<File>,
        vg: &Vg,
        writable: bool,
        size: u64,
        offset: u64,
        data: &[u8],
    ) -> io::Result<usize> {
        if !writable {
            return Err(io::Error::from_raw_os_error(EROFS));
        }
        let n = super::table::write_span(size, offset, data.len())?;
        if n == 0 {
            return Ok(0);
        }
        images
            .write(vg, self.seg.data, offset, &data[..n])
            .map_err(|e| e.into_io())?;
        Ok(n)
    }

    /// Commits the open transaction, if it changed anything: the images
    /// synced (the data written so far made durable), the new metadata
    /// blocks written and synced, the superblock written and synced last.
    pub fn commit(&mut self, images: &mut Images<File>, vg: &Vg) -> io::Result<()> {
        let Some(tx) = self.tx.take() else {
            return Ok(());
        };
        if tx.is_clean() {
            return Ok(());
        }
        let name = self.name(vg);
        let blocks = tx.commit().map_err(|e| io_err(&name, e))?;
        let sync = |images: &Images<File>| -> io::Result<()> {
            for f in images.pvs.iter().flatten() {
                f.sync_data()?;
            }
            Ok(())
        };
        sync(images)?;
        let Some((sb, rest)) = blocks.split_last() else {
            return Ok(());
        };
        for (b, bytes) in rest {
            images
                .write(vg, self.seg.metadata, b * META_BLOCK, &bytes[..])
                .map_err(|e| e.into_io())?;
        }
        sync(images)?;
        images
            .write(vg, self.seg.metadata, sb.0 * META_BLOCK, &sb.1[..])
            .map_err(|e| e.into_io())?;
        sync(images)
    }
}
