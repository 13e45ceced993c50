//! Changing a thin pool's metadata as the kernel's `dm-thin-metadata.c`
//! does: provisioning and remapping blocks of thin devices, and the pool
//! messages `create_thin`, `create_snap`, `delete` and
//! `set_transaction_id`, all in one [`Transaction`] committed with the
//! superblock written last.

use crate::error::{Error, Result};
use crate::pdata::block::{MetadataDev, BLOCK_SIZE};
use crate::pdata::transaction::{Transaction, Values};
use crate::thin::block_time::BlockTime;
use crate::thin::device_details::{DeviceDetails, DEVICE_DETAILS_SIZE};
use crate::thin::metadata::{ThinMetadata, MAX_DEV_ID};
use crate::thin::superblock::{Superblock, SUPERBLOCK_LOCATION};
use byteorder::{ByteOrder, LittleEndian};
use lvm_meta::io::ReadAt;
use std::collections::{BTreeMap, BTreeSet};

const DETAILS: Values = Values::Plain(DEVICE_DETAILS_SIZE);

/// Where a write to a virtual block goes, and what the caller must do to
/// the data device before the commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provision {
    /// Mapped and not shared: write in place.
    Mapped(u64),
    /// Newly allocated: a write not covering the whole block zeroes the
    /// rest first when the pool zeroes new blocks.
    New(u64),
    /// Shared with a snapshot: copy the old block to the new one (unless
    /// the write covers it all), then write (`break_sharing`).
    Copy {
        /// The shared block.
        from: u64,
        /// The device's own new block.
        to: u64,
    },
}

/// A pool's metadata opened for change.
pub struct ThinTx<'d, R> {
    tx: Transaction<'d, R>,
    sb: Superblock,
    block0: Box<[u8; BLOCK_SIZE]>,
    top: u64,
    details_root: u64,
    details: BTreeMap<u64, DeviceDetails>,
    changed: BTreeSet<u64>,
}

impl<'d, R: ReadAt> ThinTx<'d, R> {
    /// Opens the live metadata of `dev`. Refused when the pool asks for a
    /// check (the kernel opens it read-only).
    pub fn open(dev: &'d MetadataDev<R>) -> Result<ThinTx<'d, R>> {
        let meta = ThinMetadata::read(dev)?;
        let sb = meta.superblock;
        if sb.needs_check() {
            return Err(Error::Unsupported(
                "the pool metadata asks for a check; the kernel would not change it".into(),
            ));
        }
        // A held metadata snapshot needs nothing more: reserving it
        // counted one more reference to the trees it shares with the live
        // metadata (the device details and the top mapping tree), so
        // shadowing copies them as it copies any shared node, and
        // `held_root` is kept in the superblock written at the commit.
        let block0 = dev.read_raw(SUPERBLOCK_LOCATION)?;
        let tx = Transaction::open(dev, sb.data_sm_root, sb.metadata_sm_root)?;
        Ok(ThinTx {
            tx,
            top: sb.data_mapping_root,
            details_root: sb.device_details_root,
            details: meta.details,
            changed: BTreeSet::new(),
            sb,
            block0,
        })
    }

    /// The superblock as it will be committed (time, transaction id).
    pub fn superblock(&self) -> &Superblock {
        &self.sb
    }

    /// The details of device `id`, as they will be committed.
    pub fn details(&self, id: u64) -> Option<&DeviceDetails> {
        self.details.get(&id)
    }

    /// Every device id.
    pub fn devices(&self) -> Vec<u64> {
        self.details.keys().copied().collect()
    }

    /// Free data blocks now.
    pub fn free_data_blocks(&self) -> u64 {
        self.tx.data.nr_free()
    }

    /// Data blocks freed in this transaction (usable after a commit).
    pub fn freed_data_blocks(&self) -> u64 {
        self.tx.data.nr_freed()
    }

    /// The underlying transaction (space-map counts, for checks).
    pub fn transaction(&self) -> &Transaction<'d, R> {
        &self.tx
    }

    fn root_of(&self, id: u64) -> Result<u64> {
        let v = self.tx.lookup(self.top, Values::SubtreeRoots, id)?;
        v.map(|v| LittleEndian::read_u64(&v)).ok_or_else(|| {
            Error::Inconsistent(format!("thin device {id} has details but no mapping tree"))
        })
    }

    fn known(&self, id: u64) -> Result<DeviceDetails> {
        self.details.get(&id).copied().ok_or_else(|| no_device(id))
    }

    /// Device `id`'s details, to change.
    fn details_mut(&mut self, id: u64) -> Result<&mut DeviceDetails> {
        self.details.get_mut(&id).ok_or_else(|| no_device(id))
    }

    /// Puts `root` as device `id`'s mapping tree in the top-level tree
    /// `top` (no reference changes), returning the top tree's new root.
    fn put_root(&mut self, top: u64, id: u64, root: u64) -> Result<u64> {
        let (top, _) = self
            .tx
            .insert(top, Values::SubtreeRoots, id, &root.to_le_bytes(), false)?;
        Ok(top)
    }

    /// The mapping of `vblock` of device `id`, if any.
    pub fn lookup(&self, id: u64, vblock: u64) -> Result<Option<BlockTime>> {
        let root = self.root_of(id)?;
        let v = self.tx.lookup(root, Values::DataBlocks, vblock)?;
        Ok(v.map(|v| BlockTime::unpack(LittleEndian::read_u64(&v))))
    }

    /// Maps `vblock` of device `id` to `value` (`__insert`): the
    /// top-level path is shadowed first, then the device's tree; an
    /// overwritten mapping drops its data block's reference; a new key
    /// counts in `mapped_blocks`.
    fn insert(&mut self, id: u64, vblock: u64, value: BlockTime) -> Result<()> {
        let root = self.root_of(id)?;
        let top = self.put_root(self.top, id, root)?;
        let (new_root, new_key) = self.tx.insert(
            root,
            Values::DataBlocks,
            vblock,
            &value.pack().to_le_bytes(),
            true,
        )?;
        // The path is this transaction's now: the root's new place is
        // written in without reference changes (the shadow moved it).
        let top = self.put_root(top, id, new_root)?;
        self.top = top;
        if new_key {
            let d = self.details_mut(id)?;
            d.mapped_blocks = d.mapped_blocks.saturating_add(1);
        }
        self.changed.insert(id);
        Ok(())
    }

    /// Prepares a write to `vblock` of device `id` (`process_cell`,
    /// `provision_block`, `process_shared_bio`): a mapped block not shared
    /// since its mapping (its time not below the device's snapshot time)
    /// is written in place; an unmapped one gets a new data block; a shared
    /// one a new block to copy into. The new mapping is made at once (time
    /// = the pool's time), so the caller must write the data before
    /// [`ThinTx::commit`].
    pub fn provision(&mut self, id: u64, vblock: u64) -> Result<Provision> {
        let d = self.known(id)?;
        let time = self.sb.time;
        match self.lookup(id, vblock)? {
            Some(m) if d.snapshotted_time <= m.time => Ok(Provision::Mapped(m.block)),
            found => {
                let nr_blocks = self.sb.data_sm_root.nr_blocks;
                let to = self
                    .tx
                    .data
                    .allocate()?
                    .ok_or(Error::NoDataSpace { nr_blocks })?;
                self.insert(id, vblock, BlockTime { block: to, time })?;
                Ok(match found {
                    Some(m) => Provision::Copy { from: m.block, to },
                    None => Provision::New(to),
                })
            }
        }
    }

    /// Discards virtual blocks `begin..end` of device `id` as dm-thin does
    /// for the whole blocks a discard covers (`dm_thin_remove_range`):
    /// their mappings leave the device's tree and each data block loses
    /// the device's reference, so a block a snapshot shares stays
    /// allocated for the snapshot. Returns the data blocks no longer
    /// referenced at all (the ones a `discard_passdown` pool passes the
    /// discard down to), in order.
    ///
    /// The device's tree is written anew without the range (every entry
    /// kept takes a reference of the new leaves, the old tree then drops
    /// its own), which costs a walk of its mappings.
    pub fn unmap_range(&mut self, id: u64, begin: u64, end: u64) -> Result<Vec<u64>> {
        self.known(id)?;
        let root = self.root_of(id)?;
        let all = self.tx.entries(root, Values::DataBlocks)?;
        let (gone, kept): (Vec<_>, Vec<_>) =
            all.into_iter().partition(|(k, _)| (begin..end).contains(k));
        if gone.is_empty() {
            return Ok(Vec::new());
        }
        // The top-level path is made this transaction's first, as for an
        // insert: shadowing a shared top node counts the subtree roots
        // it holds once more, before the old root is dropped.
        let top = self.put_root(self.top, id, root)?;
        for (_, v) in &kept {
            let bt = BlockTime::unpack(LittleEndian::read_u64(v));
            self.tx.data.inc(bt.block)?;
        }
        let new_root = self.tx.build(&kept, Values::DataBlocks.size())?;
        self.tx.del(root, Values::DataBlocks)?;
        let top = self.put_root(top, id, new_root)?;
        self.top = top;
        let mut freed = Vec::new();
        for (_, v) in &gone {
            let b = BlockTime::unpack(LittleEndian::read_u64(v)).block;
            if self.tx.data.count(b)? == 0 {
                freed.push(b);
            }
        }
        freed.sort_unstable();
        freed.dedup();
        let d = self.details_mut(id)?;
        let n = u64::try_from(gone.len()).unwrap_or(u64::MAX);
        d.mapped_blocks = d.mapped_blocks.saturating_sub(n);
        self.changed.insert(id);
        Ok(freed)
    }

    fn put_details(&mut self, id: u64, d: DeviceDetails) {
        self.details.insert(id, d);
        self.changed.insert(id);
    }

    /// `create_thin ID`: an empty device.
    pub fn create_thin(&mut self, id: u64) -> Result<()> {
        self.check_new(id)?;
        let root = self.tx.new_leaf(8)?;
        let top = self.put_root(self.top, id, root)?;
        self.top = top;
        let (trans, time) = (self.sb.trans_id, self.sb.time);
        self.put_details(
            id,
            DeviceDetails {
                mapped_blocks: 0,
                transaction_id: trans,
                creation_time: time,
                snapshotted_time: time,
            },
        );
        Ok(())
    }

    fn check_new(&self, id: u64) -> Result<()> {
        if id > MAX_DEV_ID {
            return Err(Error::Inconsistent(format!(
                "thin device id {id} is above the largest, {MAX_DEV_ID}"
            )));
        }
        if self.details.contains_key(&id) {
            return Err(Error::Inconsistent(format!(
                "thin device {id} already exists"
            )));
        }
        Ok(())
    }

    /// `create_snap ID ORIGIN`: a device sharing the origin's mapping tree
    /// (its root gains a reference), the pool's time one higher, both
    /// devices snapshotted at that time.
    pub fn create_snap(&mut self, id: u64, origin: u64) -> Result<()> {
        self.check_new(id)?;
        let o = self.known(origin)?;
        let root = self.root_of(origin)?;
        self.tx.meta.inc(root)?;
        let top = self.put_root(self.top, id, root)?;
        self.top = top;
        self.sb.time = self.sb.time.wrapping_add(1);
        let time = self.sb.time;
        self.put_details(
            id,
            DeviceDetails {
                mapped_blocks: o.mapped_blocks,
                transaction_id: self.sb.trans_id,
                creation_time: time,
                snapshotted_time: time,
            },
        );
        self.put_details(
            origin,
            DeviceDetails {
                snapshotted_time: time,
                ..o
            },
        );
        Ok(())
    }

    /// `delete ID`: the details entry and the top-level entry go; the
    /// device's tree loses a reference, and what only it referenced is
    /// freed, data blocks included.
    pub fn delete(&mut self, id: u64) -> Result<()> {
        self.known(id)?;
        let (details_root, _) = self.tx.remove(self.details_root, DETAILS, id)?;
        self.details_root = details_root;
        let (top, _) = self.tx.remove(self.top, Values::SubtreeRoots, id)?;
        self.top = top;
        self.details.remove(&id);
        self.changed.remove(&id);
        Ok(())
    }

    /// `set_transaction_id CUR NEW`.
    pub fn set_transaction_id(&mut self, current: u64, new: u64) -> Result<()> {
        if self.sb.trans_id != current {
            return Err(Error::Inconsistent(format!(
                "mismatched transaction id: the pool is at {}, not {current}",
                self.sb.trans_id
            )));
        }
        self.sb.trans_id = new;
        Ok(())
    }

    /// Grows the data space map to `nr_blocks` data blocks, as the kernel
    /// does when the pool is resumed on a larger data device
    /// (`dm_pool_resize_data_dev`). Smaller is refused.
    pub fn resize_data(&mut self, nr_blocks: u64) -> Result<()> {
        self.tx.data.extend(nr_blocks)
    }

    /// Grows the metadata space map to `nr_blocks` blocks of the metadata
    /// device (capped at the most a pool uses), as the kernel does when
    /// the pool is resumed on a larger metadata device
    /// (`dm_pool_resize_metadata_dev`).
    pub fn resize_metadata(&mut self, nr_blocks: u64) -> Result<()> {
        let n = nr_blocks.min(crate::thin::format::MAX_METADATA_BLOCKS);
        if n > self.tx.dev_blocks() {
            return Err(Error::Inconsistent(format!(
                "the metadata device has {} blocks, not {n}",
                self.tx.dev_blocks()
            )));
        }
        self.tx.meta.extend(n)
    }

    /// True when nothing would be written.
    pub fn is_clean(&self) -> bool {
        self.tx.is_clean() && self.changed.is_empty() && {
            let c = Superblock::decode(&self.block0);
            c.trans_id == self.sb.trans_id && c.time == self.sb.time
        }
    }

    /// Commits (`__commit_transaction`): the changed details go into the
    /// details tree, the space maps are written, and the blocks to write
    /// come back in order, the superblock (block 0) last. Nothing
    /// returned overwrites a block the committed superblock reaches.
    pub fn commit(mut self) -> Result<Vec<(u64, Box<[u8; BLOCK_SIZE]>)>> {
        for id in std::mem::take(&mut self.changed) {
            let Some(d) = self.details.get(&id) else {
                continue;
            };
            let mut v = [0u8; DEVICE_DETAILS_SIZE];
            d.write(&mut v);
            let (root, _) = self.tx.insert(self.details_root, DETAILS, id, &v, false)?;
            self.details_root = root;
        }
        let committed = self.tx.commit()?;
        let mut sb = self.sb;
        sb.data_mapping_root = self.top;
        sb.device_details_root = self.details_root;
        sb.data_sm_root = committed.data_sm_root;
        sb.metadata_sm_root = committed.metadata_sm_root;
        sb.blocknr = SUPERBLOCK_LOCATION;
        let mut block0 = self.block0;
        sb.write_commit(&mut block0);
        let mut out = committed.blocks;
        if out.iter().any(|(b, _)| *b == SUPERBLOCK_LOCATION) {
            return Err(Error::Inconsistent(
                "a transaction allocated the superblock's block".into(),
            ));
        }
        out.push((SUPERBLOCK_LOCATION, block0));
        Ok(out)
    }
}

/// The error for a thin device the pool does not have.
fn no_device(id: u64) -> Error {
    Error::Inconsistent(format!("thin device {id} does not exist"))
}
